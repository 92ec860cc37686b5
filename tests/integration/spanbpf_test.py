# SPDX-License-Identifier: Apache-2.0
"""Harness for spanbpf's integration tests (python3 stdlib only).

A test script is a standalone program:

    python3 tests/integration/test_X.py [--agent build/spanbpf] [--build-dir build]
                                        [--keep] [-k PATTERN] [-v]

that defines unittest.TestCase classes and ends with
``spanbpf_test.main([ClassA, ClassB], needs_root=True)``.  Exit status: 0 all
passed, 1 something failed, 77 skipped (not root, unless CI=true: then a
missing requirement is a failure).  The last line printed is
``N passed, M failed, K skipped``.

What the harness gives a test:
  * Collector   the node test collector (tests/collector/collector.js), which decodes
                with the upstream OpenTelemetry JS code; spans come back as dicts
                (trace_id, span_id, name, kind, start, end, status, attributes,
                resource, scope).
  * Agent       spanbpf run as root with a generated config and --console; waits for
                "ready" on stderr; stop() sends SIGTERM and returns the exit code.
  * PyServer    tests/integration/servers/http_server.py (threaded http.server).
  * Nginx       nginx with its own config, pid file and logs in a temp dir,
                "daemon off" so the test owns its PID.
  * curl(), RawConn (raw sockets: pipelining, split heads, HTTP/1.0), read_responses().
Every process started here is registered and stopped by PID at exit, also on
failure (and gets SIGKILL from the kernel if this script dies: PDEATHSIG).
"""
import argparse
import atexit
import ctypes
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
COLLECTOR_DIR = REPO / "tests" / "collector"
COLLECTOR_JS = COLLECTOR_DIR / "collector.js"
SERVER_PY = HERE / "servers" / "http_server.py"
ROOT_JS = COLLECTOR_DIR / "node_modules/@opentelemetry/otlp-transformer/build/src/generated/root.js"

READY_TIMEOUT = 60.0      # agent start to "ready"
SPAN_TIMEOUT = float(os.environ.get("SPANBPF_TEST_SPAN_TIMEOUT", "20"))  # request to span at the collector
QUIET_PERIOD = 1.5        # wait this long for spans that must NOT arrive (batch.timeout is 200ms)
CLOCK_SLACK_NS = 10_000_000  # allowed skew between span times and the test's wall clock
SPAN_KIND_SERVER = 2
SPAN_KIND_CLIENT = 3
STATUS_ERROR = 2

SKIP = 77


class Options:
    agent = None
    build_dir = None
    keep = False
    verbose = False
    pattern = None
    workdir = None


OPTS = Options()


def in_ci():
    return os.environ.get("CI", "").lower() == "true"


def log(msg):
    print("# " + msg, flush=True)


# ---------------------------------------------------------------- processes

_PROCS = []   # (Popen, name, stop signal)
_libc = None


def _pdeathsig():
    """In the child: get SIGKILL when the test process dies (even by SIGKILL)."""
    global _libc
    try:
        if _libc is None:
            _libc = ctypes.CDLL(None, use_errno=True)
        _libc.prctl(1, signal.SIGKILL, 0, 0, 0)   # PR_SET_PDEATHSIG
    except Exception:
        pass


def spawn(argv, name, stdout=None, stderr=None, env=None, stop_signal=signal.SIGTERM, cwd=None):
    """Start a process we own; it is stopped by PID at exit if still running."""
    p = subprocess.Popen([str(a) for a in argv], stdin=subprocess.DEVNULL, stdout=stdout,
                         stderr=stderr, env=env, cwd=cwd, preexec_fn=_pdeathsig)
    _PROCS.append((p, name, stop_signal))
    if OPTS.verbose:
        log("started %s pid %d: %s" % (name, p.pid, " ".join(str(a) for a in argv)))
    return p


def stop_process(p, sig=signal.SIGTERM, timeout=10.0):
    """Signal p (by PID), wait up to timeout, then SIGKILL.  Returns the exit code."""
    if p.poll() is None:
        try:
            p.send_signal(sig)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)
    return p.returncode


def _cleanup_all():
    for p, name, sig in reversed(_PROCS):
        if p.poll() is None:
            log("cleanup: stopping %s (pid %d)" % (name, p.pid))
            stop_process(p, sig, timeout=5.0)


atexit.register(_cleanup_all)


def _on_signal(signum, frame):
    # ctest's timeout and ^C: run the atexit cleanup.
    sys.exit(128 + signum)


def wait_until(fn, timeout, interval=0.05, what="condition"):
    """Poll fn() until it returns a truthy value (returned) or timeout seconds pass (None)."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def read_json_line(p, timeout, what):
    """The first stdout line of p parsed as JSON, bounded in time."""
    deadline = time.monotonic() + timeout
    buf = b""
    fd = p.stdout.fileno()
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise RuntimeError("%s did not report in %.0fs" % (what, timeout))
        r, _, _ = select.select([fd], [], [], min(left, 0.5))
        if r:
            chunk = os.read(fd, 4096)
            if not chunk:
                raise RuntimeError("%s exited (status %s) before reporting" % (what, p.wait(timeout=5)))
            buf += chunk
    return json.loads(buf.split(b"\n", 1)[0])


def free_port(families=(socket.AF_INET, socket.AF_INET6)):
    """A TCP port free on 127.0.0.1 and ::1 right now (racy but good enough; callers retry)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        ok = True
        for fam in families:
            host = "::1" if fam == socket.AF_INET6 else "127.0.0.1"
            try:
                with socket.socket(fam, socket.SOCK_STREAM) as s:
                    s.bind((host, port))
            except OSError:
                ok = False
        if ok:
            return port
    raise RuntimeError("no free port found")


def workdir(name):
    d = Path(OPTS.workdir) / name
    d.mkdir(parents=True, exist_ok=True)
    os.chmod(d, 0o755)
    return d


def clean_env(extra=None):
    """The environment for processes we start: no OTEL_* or proxy variables leak in."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("OTEL_") and k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}
    if extra:
        env.update(extra)
    return env


# ---------------------------------------------------------------- collector

def ensure_collector_installed():
    if ROOT_JS.exists():
        return
    log("installing the test collector's npm package (tests/collector/install.sh)")
    r = subprocess.run(["bash", str(COLLECTOR_DIR / "install.sh")], timeout=400)
    if r.returncode != 0 or not ROOT_JS.exists():
        raise RuntimeError("cannot install the collector's npm package (tests/collector/install.sh)")


class Collector:
    """The node test collector on 127.0.0.1, an ephemeral port."""

    def __init__(self, name="collector"):
        self.dir = workdir(name)
        self.out = self.dir / "spans.jsonl"
        self.req_file = self.dir / "requests.jsonl"
        self.stats_file = self.dir / "stats.json"
        self.behavior = self.dir / "behavior.json"
        self.proc = None
        self.port = None
        self.pid = None

    def start(self):
        ensure_collector_installed()
        node = shutil.which("node") or shutil.which("nodejs")
        if not node:
            raise RuntimeError("node not found (apt-get install nodejs)")
        self.stderr = open(self.dir / "collector.stderr", "wb")
        self.proc = spawn([node, COLLECTOR_JS, "--port", "0", "--out", self.out,
                           "--requests", self.req_file, "--stats", self.stats_file,
                           "--behavior", self.behavior],
                          "collector", stdout=subprocess.PIPE, stderr=self.stderr, env=clean_env())
        info = read_json_line(self.proc, 20, "collector")
        self.port = info["port"]
        self.pid = self.proc.pid
        return self

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d/v1/traces" % self.port

    def stop(self):
        if self.proc:
            stop_process(self.proc)

    def _lines(self, path):
        """Every JSON line of an append-only file, reading only what is new since last time
        (a busy host can put hundreds of MB of spans there)."""
        cache = self.__dict__.setdefault("_cache", {})
        st = cache.setdefault(path, {"offset": 0, "partial": b"", "items": []})
        try:
            with open(path, "rb") as f:
                f.seek(st["offset"])
                data = f.read()
        except FileNotFoundError:
            return []
        st["offset"] += len(data)
        data = st["partial"] + data
        lines = data.split(b"\n")
        st["partial"] = lines.pop()   # an unfinished last line waits for the rest
        for line in lines:
            if line.strip():
                try:
                    st["items"].append(json.loads(line))
                except ValueError:
                    log("collector output: unparsable line in %s: %r" % (path, line[:200]))
        if len(st["items"]) > 200000 and not st.get("warned"):
            st["warned"] = True
            log("warning: %d spans at the collector: this host has much other HTTP traffic; "
                "tests may be slow" % len(st["items"]))
        return list(st["items"])

    def spans(self):
        return self._lines(self.out)

    def requests(self):
        return self._lines(self.req_file)

    def wait_spans(self, pred=lambda s: True, count=1, timeout=SPAN_TIMEOUT, what="spans", related=None):
        """At least count spans matching pred, waiting up to timeout; fails with a dump
        of the spans matching related (default: all spans)."""
        got = wait_until(lambda: (lambda m: m if len(m) >= count else None)(
            [s for s in self.spans() if pred(s)]), timeout, interval=0.1)
        if got is None:
            spans = self.spans()
            matching = [s for s in spans if pred(s)]
            shown = [s for s in spans if related(s)] if related else None
            raise AssertionError("waited %.0fs for %d %s, got %d\n%s%s" % (
                timeout, count, what, len(matching),
                "" if related is None else "(showing the %d related spans)\n" % len(shown),
                self.describe(shown)))
        return got

    def settle(self, pred=lambda s: True, quiet=QUIET_PERIOD):
        """Spans matching pred once no new one has arrived for `quiet` seconds (bounded: 30s)."""
        deadline = time.monotonic() + 30
        last = [s for s in self.spans() if pred(s)]
        while time.monotonic() < deadline:
            time.sleep(quiet)
            now = [s for s in self.spans() if pred(s)]
            if len(now) == len(last):
                return now
            last = now
        return last

    def decode_errors(self):
        return [r for r in self.requests() if r.get("error")]

    def describe(self, spans=None, limit=60):
        spans = self.spans() if spans is None else spans
        reqs = self.requests()
        head = "collector on port %s: %d export requests (%d with errors), %d spans" % (
            self.port, len(reqs), len([r for r in reqs if r.get("error")]), len(self.spans()))
        return head + "\n" + dump_spans(spans, limit)


def dump_spans(spans, limit=60):
    lines = []
    for s in spans[:limit]:
        lines.append("  " + json.dumps({
            "name": s.get("name"), "kind": s.get("kind"), "status": s.get("status"),
            "start": s.get("start"), "end": s.get("end"), "trace_id": s.get("trace_id"),
            "span_id": s.get("span_id"), "parent": s.get("parent_span_id"),
            "attributes": s.get("attributes"), "resource": s.get("resource"),
            "scope": s.get("scope")}, sort_keys=True))
    if len(spans) > limit:
        lines.append("  ... %d more" % (len(spans) - limit))
    if not spans:
        lines.append("  (no spans)")
    return "\n".join(lines)


# ---------------------------------------------------------------- agent config

def _yaml_scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    s = str(v)
    if re.fullmatch(r"[A-Za-z0-9_./:@+-]+", s) and not s[0] in "-:@" and s.lower() not in (
            "true", "false", "yes", "no", "on", "off", "null", "~"):
        return s
    return json.dumps(s)


def to_yaml(d, indent=0):
    out = []
    pad = "  " * indent
    for k, v in d.items():
        if isinstance(v, dict):
            out.append("%s%s:" % (pad, k))
            out.append(to_yaml(v, indent + 1))
        elif isinstance(v, (list, tuple)):
            out.append("%s%s: [%s]" % (pad, k, ", ".join(_yaml_scalar(x) for x in v)))
        else:
            out.append("%s%s: %s" % (pad, k, _yaml_scalar(v)))
    return "\n".join(x for x in out if x != "")


def agent_config(collector=None, endpoint=None, ports=None, record_query=None, max_spans=512,
                 timeout="200ms", compression="gzip", level="info"):
    cfg = {
        "exporter": {"endpoint": endpoint or collector.endpoint, "compression": compression},
        "batch": {"max_spans": max_spans, "timeout": timeout},
        "log": {"level": level},
    }
    if ports is not None:
        cfg["filters"] = {"ports": list(ports)}
    if record_query is not None:
        cfg["http"] = {"record_query": record_query}
    return cfg


# ---------------------------------------------------------------- agent

READY_RE = re.compile(r"\bready\b", re.IGNORECASE)


class AgentError(AssertionError):
    pass


class Agent:
    """spanbpf run as root with a generated config (dict or YAML text) and --console."""

    def __init__(self, config, name="agent", console=True, extra_args=(), env=None):
        self.dir = workdir(name)
        self.name = name
        self.config_path = self.dir / "spanbpf.yaml"
        text = config if isinstance(config, str) else to_yaml(config) + "\n"
        self.config_path.write_text(text)
        self.console = console
        self.extra_args = list(extra_args)
        self.env = clean_env(env)
        self.stdout_path = self.dir / "stdout"
        self.stderr_path = self.dir / "stderr"
        self.proc = None
        self.pid = None
        self.exit_code = None

    def start(self, wait=True, timeout=READY_TIMEOUT):
        argv = [OPTS.agent, "--config", self.config_path]
        if self.console:
            argv.append("--console")
        argv += self.extra_args
        self._out = open(self.stdout_path, "wb")
        self._err = open(self.stderr_path, "wb")
        self.t_start = time.monotonic()
        self.proc = spawn(argv, self.name, stdout=self._out, stderr=self._err, env=self.env)
        self.pid = self.proc.pid
        if wait:
            self.wait_ready(timeout)
        return self

    def stderr(self):
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stdout(self):
        try:
            return self.stdout_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stdout_lines(self):
        return [l for l in self.stdout().split("\n") if l.strip()]

    def tail(self, n=60):
        lines = self.stderr().rstrip("\n").split("\n")
        return "agent stderr (last %d of %d lines, %s):\n  %s" % (
            min(n, len(lines)), len(lines), self.stderr_path, "\n  ".join(lines[-n:]))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout=READY_TIMEOUT):
        def ready():
            if any(READY_RE.search(l) for l in self.stderr().split("\n")):
                return True
            if self.proc.poll() is not None:
                raise AgentError("agent exited with status %s before logging 'ready'\n%s" % (
                    self.proc.returncode, self.tail()))
            return False
        if not wait_until(ready, timeout, interval=0.05):
            raise AgentError("agent did not log 'ready' within %.0fs\n%s" % (timeout, self.tail()))
        self.ready_after = time.monotonic() - self.t_start
        if OPTS.verbose:
            log("%s ready after %.2fs" % (self.name, self.ready_after))

    def stop(self, timeout=30.0):
        """SIGTERM and wait; returns the exit code (SIGKILL after timeout => negative)."""
        if self.proc is None:
            return None
        if self.exit_code is None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    log("%s did not exit %.0fs after SIGTERM: SIGKILL" % (self.name, timeout))
                    self.proc.kill()
                    self.proc.wait(timeout=10)
                    self.exit_code = "no exit %.0fs after SIGTERM (killed)" % timeout
                    return self.exit_code
            self.exit_code = self.proc.returncode
        return self.exit_code

    def error_lines(self):
        return [l for l in self.stderr().split("\n") if re.search(r"level=(error|fatal|crit)", l)]


def agent_version():
    r = subprocess.run([OPTS.agent, "--version"], capture_output=True, text=True, timeout=30)
    m = re.search(r"\d+\.\d+\.\d+[^\s]*", r.stdout + r.stderr)
    return m.group(0) if m else None


# ---------------------------------------------------------------- servers

class PyServer:
    """tests/integration/servers/http_server.py on host, one or more ports."""

    def __init__(self, host="127.0.0.1", ports=(0,), env=None, name="pyserver"):
        self.host = host
        self.want_ports = list(ports)
        self.env = clean_env(env)
        self.name = name
        self.dir = workdir(name)

    def start(self):
        argv = [sys.executable, "-u", SERVER_PY, "--host", self.host]
        for p in self.want_ports:
            argv += ["--port", str(p)]
        self._err = open(self.dir / "stderr", "wb")
        self.proc = spawn(argv, self.name, stdout=subprocess.PIPE, stderr=self._err, env=self.env)
        info = read_json_line(self.proc, 20, self.name)
        self.ports = info["ports"]
        self.port = self.ports[0]
        self.pid = self.proc.pid
        assert info["pid"] == self.pid, "server pid %s != Popen pid %s" % (info["pid"], self.pid)
        return self

    def url(self, path, port=None):
        host = "[%s]" % self.host if ":" in self.host else self.host
        return "http://%s:%d%s" % (host, port or self.port, path)

    def stop(self):
        stop_process(self.proc)

    def exe_names(self):
        """Names a correct agent may report as the executable: exe basename and comm."""
        names = set()
        try:
            names.add(os.path.basename(os.readlink("/proc/%d/exe" % self.pid)))
        except OSError:
            pass
        try:
            names.add(Path("/proc/%d/comm" % self.pid).read_text().strip())
        except OSError:
            pass
        return names


NGINX_HEAD = """\
daemon off;
master_process on;
worker_processes {workers};
user nobody nogroup;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log {access_log};
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
"""


def nginx_conf(dir, http_body, workers=1, access_log="off", tmp=None):
    """An nginx.conf for a foreground nginx under dir: the common head, then http_body (the rest
    of the http block: its directives and server blocks, already formatted)."""
    return NGINX_HEAD.format(dir=dir, workers=workers, access_log=access_log,
                             tmp=tmp or dir) + http_body + "}\n"


NGINX_SERVER = """\
    types {{ text/html html; text/plain txt; application/octet-stream bin; }}
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    keepalive_requests 100000;
    server {{
        listen 127.0.0.1:{port} reuseport;
{listen6}        server_name localhost;
        root {dir}/www;
        location / {{ }}
    }}
"""


class Nginx:
    """nginx in the foreground (daemon off) with everything under its own temp dir."""

    def __init__(self, name="nginx", ipv6=True, workers=1, files=None, access_log=False):
        self.dir = workdir(name)
        self.name = name
        self.ipv6 = ipv6
        self.workers = workers
        self.files = files if files is not None else {
            "small.txt": b"hello from nginx\n" * 4,
            "large.bin": os.urandom(1024) * (8 * 1024),   # 8 MiB
        }
        self.access_log = access_log

    def start(self):
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        if not os.path.exists(binary):
            raise RuntimeError("nginx not found (apt-get install nginx)")
        www = self.dir / "www"
        www.mkdir(exist_ok=True)
        (self.dir / "tmp").mkdir(exist_ok=True)
        for name, data in self.files.items():
            (www / name).write_bytes(data)
            os.chmod(www / name, 0o644)
        os.chmod(www, 0o755)
        last_err = ""
        for attempt in range(5):
            self.port = free_port()
            conf = nginx_conf(
                self.dir, NGINX_SERVER.format(
                    dir=self.dir, port=self.port,
                    listen6=("        listen [::1]:%d;\n" % self.port) if self.ipv6 else ""),
                workers=self.workers, tmp="%s/tmp" % self.dir,
                access_log=("%s/access.log" % self.dir) if self.access_log else "off")
            (self.dir / "nginx.conf").write_text(conf)
            self._err = open(self.dir / "stderr", "ab")
            self.proc = spawn([binary, "-p", self.dir, "-c", self.dir / "nginx.conf",
                               "-e", self.dir / "error.log"],
                              self.name, stdout=self._err, stderr=self._err, env=clean_env(),
                              stop_signal=signal.SIGQUIT)
            # Ready when the port accepts a TCP connection (no bytes sent: not HTTP, not a span).
            if wait_until(lambda: self.proc.poll() is not None or tcp_accepts("127.0.0.1", self.port),
                          15) and self.proc.poll() is None:
                self.pid = self.proc.pid
                return self
            stop_process(self.proc, signal.SIGQUIT)
            last_err = (self.dir / "error.log").read_text(errors="replace") if (
                self.dir / "error.log").exists() else ""
        raise RuntimeError("nginx did not start:\n" + last_err)

    def url(self, path, v6=False):
        return "http://%s:%d%s" % ("[::1]" if v6 else "127.0.0.1", self.port, path)

    def worker_pids(self):
        pids = []
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    stat = Path("/proc/%s/stat" % d).read_text()
                except OSError:
                    continue
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                if ppid == self.pid:
                    pids.append(int(d))
        return pids

    def stop(self):
        stop_process(self.proc, signal.SIGQUIT, timeout=10)


def tcp_accepts(host, port):
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


# ---------------------------------------------------------------- clients

def curl(urls, *args, timeout=60, check=True, out=None):
    """Run curl on one or more URLs (one connection, reused when possible).

    Returns one dict per transfer from curl's -w %{json} (http_code, local_port,
    size_download, ...).  out: a path per URL for the bodies (default /dev/null).  Raises AssertionError when curl fails and check is set.
    """
    if isinstance(urls, str):
        urls = [urls]
    argv = ["curl", "-sS", "--noproxy", "*", "--max-time", str(timeout)]
    argv += list(args)
    for i, u in enumerate(urls):
        argv += ["-o", str(out[i]) if out else "/dev/null", u]
    argv += ["-w", "%{json}\\n"]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 10, env=clean_env())
    res = []
    for line in r.stdout.split("\n"):
        line = line.strip()
        if line.startswith("{"):
            res.append(json.loads(line))
    if check and (r.returncode != 0 or len(res) != len(urls)):
        raise AssertionError("curl failed (status %d): %s\nstderr: %s" % (
            r.returncode, " ".join(argv), r.stderr))
    return res


def curl_user_agent():
    """The User-Agent curl sends by default: "curl/<version>"."""
    r = subprocess.run(["curl", "--version"], capture_output=True, text=True, timeout=10)
    return "curl/" + r.stdout.split()[1]


def host_names():
    """Values a correct agent may report as host.name."""
    return {socket.gethostname(), socket.getfqdn(), os.uname().nodename}


class RawConn:
    """A raw TCP connection for what curl cannot do (pipelining, split heads, HTTP/1.0)."""

    def __init__(self, host, port, timeout=20):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.local_port = self.sock.getsockname()[1]
        self.buf = b""
        self.timeout = timeout

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def read_responses(self, n, timeout=None):
        """Read n complete HTTP/1.x responses; returns [(status, headers dict, body bytes)]."""
        out = []
        deadline = time.monotonic() + (timeout or self.timeout)
        while len(out) < n:
            r = parse_response(self.buf)
            if r is not None:
                resp, used = r
                self.buf = self.buf[used:]
                out.append(resp)
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("read %d of %d responses before timeout; have %r" % (
                    len(out), n, self.buf[:200]))
            self.sock.settimeout(left)
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                r = parse_response(self.buf, eof=True)
                if r is None:
                    raise AssertionError("connection closed after %d of %d responses; have %r" % (
                        len(out), n, self.buf[:200]))
                self.buf = self.buf[r[1]:]
                out.append(r[0])
                continue
            self.buf += chunk
        return out

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def parse_response(buf, eof=False):
    """One HTTP/1.x response at the start of buf: ((status, headers, body), bytes used) or None."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = buf[:end].decode("latin-1").split("\r\n")
    status = int(head[0].split()[1])
    headers = {}
    for h in head[1:]:
        k, _, v = h.partition(":")
        headers[k.strip().lower()] = v.strip()
    pos = end + 4
    if status in (204, 304) or 100 <= status < 200:
        return (status, headers, b""), pos
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = b""
        while True:
            nl = buf.find(b"\r\n", pos)
            if nl < 0:
                return None
            size = int(buf[pos:nl].split(b";")[0], 16)
            if size == 0:
                tend = buf.find(b"\r\n\r\n", nl)
                if buf[nl:nl + 4] == b"\r\n\r\n":
                    return (status, headers, body), nl + 4
                if tend < 0:
                    return None
                return (status, headers, body), tend + 4
            if len(buf) < nl + 2 + size + 2:
                return None
            body += buf[nl + 2:nl + 2 + size]
            pos = nl + 2 + size + 2
    if "content-length" in headers:
        n = int(headers["content-length"])
        if len(buf) < pos + n:
            return None
        return (status, headers, buf[pos:pos + n]), pos + n
    if eof:
        return (status, headers, buf[pos:]), len(buf)
    return None


def http_request(method, path, host, extra_headers=(), body=b"", version="1.1"):
    lines = ["%s %s HTTP/%s" % (method, path, version), "Host: %s" % host]
    lines += list(extra_headers)
    if body and not any(h.lower().startswith(("content-length", "transfer-encoding")) for h in extra_headers):
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# ---------------------------------------------------------------- span helpers

def now_ns():
    return time.time_ns()


def server_spans(spans, pid=None, port=None):
    """SERVER spans, optionally of one process (resource process.pid) and/or server.port."""
    out = []
    for s in spans:
        if s.get("kind") != SPAN_KIND_SERVER:
            continue
        if pid is not None and s.get("resource", {}).get("process.pid") != pid:
            continue
        if port is not None and s.get("attributes", {}).get("server.port") != port:
            continue
        out.append(s)
    return out


def server_of(pid, path=None):
    """Predicate: a SERVER span of process pid (resource process.pid), optionally with url.path."""
    return lambda s: (s.get("kind") == SPAN_KIND_SERVER and s.get("resource", {}).get("process.pid") == pid
                      and (path is None or s.get("attributes", {}).get("url.path") == path))


def by_path(path):
    return lambda s: s.get("attributes", {}).get("url.path") == path


def attr(s, key):
    return s.get("attributes", {}).get(key)


class SpanTestCase(unittest.TestCase):
    """TestCase with span assertions that dump what was received on failure."""

    maxDiff = None
    collector = None

    def dump(self, spans=None):
        if self.collector is None:
            return dump_spans(spans or [])
        return self.collector.describe(spans)

    def assertSpanCount(self, spans, n, what):
        if len(spans) != n:
            self.fail("expected %d %s, got %d\n%s" % (n, what, len(spans), self.dump()))

    def assertAttrs(self, span, expected):
        """Every key in expected present in span's attributes with that value."""
        problems = []
        attrs = span.get("attributes", {})
        for k, v in expected.items():
            if k not in attrs:
                problems.append("missing %s (want %r)" % (k, v))
            elif attrs[k] != v:
                problems.append("%s = %r, want %r" % (k, attrs[k], v))
        if problems:
            self.fail("span attributes wrong: %s\nspan:\n%s" % ("; ".join(problems), dump_spans([span])))

    def assertWithin(self, span, t0, t1):
        start, end = int(span["start"]), int(span["end"])
        msg = "span times [%d, %d] (duration %.3f ms) vs test window [%d, %d] (%.3f ms), slack %d ns\n%s" % (
            start, end, (end - start) / 1e6, t0, t1, (t1 - t0) / 1e6, CLOCK_SLACK_NS, dump_spans([span]))
        self.assertGreater(start, 0, msg)
        self.assertLessEqual(start, end, msg)
        self.assertGreaterEqual(start, t0 - CLOCK_SLACK_NS, "span starts before the request was sent: " + msg)
        self.assertLessEqual(end, t1 + CLOCK_SLACK_NS, "span ends after the response was received: " + msg)

    def assertIds(self, span):
        tid, sid = span.get("trace_id", ""), span.get("span_id", "")
        self.assertRegex(tid, r"^[0-9a-f]{32}$", "trace id not 32 lowercase hex\n" + dump_spans([span]))
        self.assertNotEqual(tid, "0" * 32, "trace id all zero")
        self.assertRegex(sid, r"^[0-9a-f]{16}$", "span id not 16 lowercase hex\n" + dump_spans([span]))
        self.assertNotEqual(sid, "0" * 16, "span id all zero")

    def assertNotError(self, span):
        self.assertNotEqual(span["status"]["code"], STATUS_ERROR,
                            "status ERROR on a non-5xx response\n" + dump_spans([span]))


# ---------------------------------------------------------------- runner

def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--agent", default=str(REPO / "build" / "spanbpf"))
    ap.add_argument("--build-dir", default=str(REPO / "build"))
    ap.add_argument("--keep", action="store_true", help="keep the temp dir even on success")
    ap.add_argument("-k", dest="pattern", help="run only tests whose id contains this")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args(argv)
    OPTS.agent = os.path.abspath(a.agent)
    OPTS.build_dir = os.path.abspath(a.build_dir)
    OPTS.keep = a.keep
    OPTS.pattern = a.pattern
    OPTS.verbose = a.verbose
    return a


def requirement_missing(msg):
    """Skip (77) outside CI; fail in CI, where every requirement must hold."""
    if in_ci():
        print("FAIL: %s (CI=true: integration tests never skip)" % msg, flush=True)
        print("0 passed, 1 failed", flush=True)
        sys.exit(1)
    print("SKIP: %s" % msg, flush=True)
    print("0 passed, 0 failed, 1 skipped", flush=True)
    sys.exit(SKIP)


def need_tool(test, tool, package):
    """The path of tool for test (a unittest.TestCase).  Missing: under CI=true, install
    Debian package `package` with apt-get and fail if that does not bring it; elsewhere
    skip the test with a message (a file whose tests all skip exits 77)."""
    path = shutil.which(tool)
    if path:
        return path
    if not in_ci():
        test.skipTest("%s not installed (Debian package %s): not checked" % (tool, package))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    r = subprocess.run(["apt-get", "install", "-y", "-q", package], capture_output=True,
                       text=True, timeout=600, env=env)
    path = shutil.which(tool)
    if not path:
        test.fail("CI=true: %s is needed and apt-get install %s did not bring it (status %d):\n%s"
                  % (tool, package, r.returncode, (r.stdout + r.stderr)[-2000:]))
    return path


def main(classes, needs_root=True, needs_agent=True, name=None):
    parse_args()
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    script = name or Path(sys.argv[0]).stem
    if needs_root and os.geteuid() != 0:
        requirement_missing("%s needs root (run as root, e.g. sudo tests/run.sh)" % script)
    if needs_agent and not os.access(OPTS.agent, os.X_OK):
        requirement_missing("agent binary %s not found or not executable (build first)" % OPTS.agent)
    OPTS.workdir = tempfile.mkdtemp(prefix="spanbpf-%s-" % script)
    os.chmod(OPTS.workdir, 0o755)

    loader = unittest.TestLoader()
    suite = unittest.TestSuite()
    for c in classes:
        for t in loader.loadTestsFromTestCase(c):
            if OPTS.pattern and OPTS.pattern not in t.id():
                continue
            suite.addTest(t)
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=2)
    t0 = time.monotonic()
    result = runner.run(suite)
    _cleanup_all()
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    passed = max(0, result.testsRun - failed - skipped)
    if failed or OPTS.keep:
        print("# logs, configs and collector output kept in %s" % OPTS.workdir)
    else:
        shutil.rmtree(OPTS.workdir, ignore_errors=True)
    print("# %s took %.1fs" % (script, time.monotonic() - t0))
    if skipped and in_ci():
        # A skip in CI hides a missing requirement: count it as a failure.
        print("# CI=true: %d skipped test(s) count as failed" % skipped)
        failed += skipped
        skipped = 0
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped), flush=True)
    if failed:
        sys.exit(1)
    if passed == 0 and skipped:
        sys.exit(SKIP)
    sys.exit(0)
