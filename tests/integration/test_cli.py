#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The command line: --version, --help, --check-config, --print-config, and refusing to run
unprivileged."""
import os
import re
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spanbpf_test as T  # noqa: E402

VALID = """\
# every key, with non-default values
exporter:
  endpoint: http://127.0.0.1:4318/v1/traces
  compression: none
batch:
  max_spans: 100
  timeout: 200ms
filters:
  ports: [8080, 9090]
http:
  record_query: true
log:
  level: debug
"""

# (name, text, line of the problem, key named in the message or None)
BROKEN = [
    ("bad-int", "exporter:\n  endpoint: http://127.0.0.1:4318/v1/traces\nbatch:\n  max_spans: lots\n",
     4, "max_spans"),
    ("bad-duration", "batch:\n  max_spans: 10\n  timeout: soon\n", 3, "timeout"),
    ("bad-compression", "log:\n  level: info\nexporter:\n  compression: brotli\n", 4, "compression"),
    ("bad-port", "filters:\n  ports: [8080, 70000]\n", 2, "ports"),
    ("unknown-key", "exporter:\n  endpiont: http://127.0.0.1:4318/v1/traces\n", 2, "endpiont"),
    ("yaml-syntax", "exporter:\n  endpoint: [http://127.0.0.1:4318\nbatch:\n  max_spans: 3\n", None, None),
]


def run(argv, timeout=30, **kw):
    """Run argv to completion (bounded); a hang is a test failure, not an error."""
    try:
        return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout,
                              env=T.clean_env(), **kw)
    except subprocess.TimeoutExpired as e:
        raise AssertionError("%s did not exit within %ds (output so far: %r)" % (
            " ".join(str(a) for a in argv), timeout, (e.stderr or b"")[-500:]))


def project_version():
    m = re.search(r"project\(spanbpf\s+VERSION\s+([0-9.]+)", (T.REPO / "CMakeLists.txt").read_text())
    return m.group(1) if m else None


class Cli(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        cls.dir = T.workdir("cli")

    def write(self, name, text):
        p = self.dir / ("%s.yaml" % name)
        p.write_text(text)
        os.chmod(p, 0o644)
        return p

    def test_version(self):
        r = run([T.OPTS.agent, "--version"])
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout + r.stderr
        self.assertRegex(out, r"\d+\.\d+\.\d+")
        want = project_version()
        if want:
            self.assertIn(want, out, "--version should print the project version %s" % want)

    def test_help(self):
        r = run([T.OPTS.agent, "--help"])
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout + r.stderr
        for opt in ("--config", "--console", "--check-config", "--print-config", "--version"):
            self.assertIn(opt, out, "--help does not mention %s" % opt)

    def test_unknown_option_fails(self):
        r = run([T.OPTS.agent, "--no-such-option"])
        self.assertNotEqual(r.returncode, 0)
        self.assertTrue((r.stderr + r.stdout).strip(), "no message for an unknown option")

    def test_check_config_valid(self):
        p = self.write("valid", VALID)
        for flag in ("--config", "-c"):
            r = run([T.OPTS.agent, flag, p, "--check-config"])
            self.assertEqual(r.returncode, 0, "valid config rejected (%s):\n%s%s" % (flag, r.stdout, r.stderr))

    def test_check_config_shipped_example(self):
        p = T.REPO / "config" / "spanbpf.yaml"
        self.assertTrue(p.exists(), "config/spanbpf.yaml missing")
        r = run([T.OPTS.agent, "--config", p, "--check-config"])
        self.assertEqual(r.returncode, 0, "config/spanbpf.yaml rejected:\n%s%s" % (r.stdout, r.stderr))

    def test_print_config(self):
        """The effective config with each value's source; what it prints loads back the same."""
        p = self.write("print", VALID + "resource:\n  attributes:\n    team: ${SPANBPF_T_TEAM:-core}\n")
        env = T.clean_env({"OTEL_EXPORTER_OTLP_TIMEOUT": "2500", "OTEL_RESOURCE_ATTRIBUTES": "tier=web"})
        r = subprocess.run([str(T.OPTS.agent), "--config", str(p), "--print-config"], capture_output=True,
                           text=True, timeout=30, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout
        self.assertIn("\nbatch.timeout: 200ms  # %s:7\n" % p, out)
        self.assertIn("\nexporter.timeout: 2500ms  # env OTEL_EXPORTER_OTLP_TIMEOUT\n", out)
        self.assertIn("\nresource.attributes:  # %s:15, env OTEL_RESOURCE_ATTRIBUTES\n"
                      "  team: core\n  tier: web\n" % p, out)
        self.assertIn("\nqueue.max_spans: 65536  # default\n", out)
        printed = self.write("printed", out)
        r2 = subprocess.run([str(T.OPTS.agent), "--config", str(printed), "--print-config"],
                            capture_output=True, text=True, timeout=30, env=env)
        self.assertEqual(r2.returncode, 0, r2.stderr)
        strip = lambda text: [l.split("  # ")[0] for l in text.splitlines() if not l.startswith("#")]
        self.assertEqual(strip(r2.stdout), strip(out))
        bad = subprocess.run([str(T.OPTS.agent), "--config", str(p), "--print-config"],
                             capture_output=True, timeout=30,
                             env=T.clean_env({"OTEL_RESOURCE_ATTRIBUTES": os.fsdecode(b"a=\xff")}))
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn(b"OTEL_RESOURCE_ATTRIBUTES: not valid UTF-8", bad.stderr)

    def test_check_config_missing_file(self):
        p = self.dir / "does-not-exist.yaml"
        r = run([T.OPTS.agent, "--config", p, "--check-config"])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(str(p), r.stderr + r.stdout)

    def check_broken(self, name):
        for n, text, line, key in BROKEN:
            if n == name:
                break
        p = self.write(n, text)
        r = run([T.OPTS.agent, "--config", p, "--check-config"])
        msg = r.stderr + r.stdout
        self.assertNotEqual(r.returncode, 0, "broken config (%s) accepted:\n%s\n%s" % (n, text, msg))
        self.assertIn(str(p), msg, "the message does not name the file")
        if line is not None:
            self.assertRegex(msg, r"(:%d(:\d+)?\b|line %d\b)" % (line, line),
                             "the message does not name line %d" % line)
        else:
            self.assertRegex(msg, r"(:\d+(:\d+)?\b|line \d+)", "the message does not name a line")
        if key:
            self.assertIn(key, msg, "the message does not name the key %s" % key)

    def test_check_config_bad_int(self):
        self.check_broken("bad-int")

    def test_check_config_bad_duration(self):
        self.check_broken("bad-duration")

    def test_check_config_bad_compression(self):
        self.check_broken("bad-compression")

    def test_check_config_bad_port(self):
        self.check_broken("bad-port")

    def test_check_config_unknown_key(self):
        self.check_broken("unknown-key")

    def test_check_config_yaml_syntax_error(self):
        self.check_broken("yaml-syntax")

    def test_not_root_says_what_is_needed(self):
        cfg = self.write("nonroot", "exporter:\n  endpoint: http://127.0.0.1:9/v1/traces\n")
        if os.geteuid() == 0:
            setpriv = shutil.which("setpriv")
            self.assertIsNotNone(setpriv, "setpriv (util-linux) not found")
            argv = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                    "--", T.OPTS.agent, "--config", cfg]
        else:
            argv = [T.OPTS.agent, "--config", cfg]
        r = run(argv, timeout=60, cwd="/")
        msg = r.stderr + r.stdout
        self.assertNotEqual(r.returncode, 0, "the agent ran without privileges:\n" + msg)
        self.assertRegex(msg, r"(?i)(root|CAP_BPF|CAP_SYS_ADMIN|privilege)",
                         "the message does not say root/CAP_BPF is needed:\n" + msg)


if __name__ == "__main__":
    T.main([Cli], needs_root=False)
