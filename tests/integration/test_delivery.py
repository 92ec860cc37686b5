#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Delivery (issue 4): the exporter against a collector that is down, sheds load, refuses,
hangs, answers partial success, speaks TLS (verified, mutual, skipped), wants headers; SIGTERM
flushes; memory stays bounded with the collector down; the /metrics endpoint.

Every test counts exactly: spans delivered (at the collector, from accepted requests only),
duplicated (a span_id delivered twice) and dropped (the agent's last log line).  The agent
traces only the test's own server (filters.ports), so batches hold nothing else, except in the
metrics test, which needs the whole host traced to prove /metrics never becomes a span.
"""
import datetime
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import unittest
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spanbpf_test as T  # noqa: E402

FINAL_RE = re.compile(r"level=info final: (.*)$")


class Coll(T.Collector):
    """The test collector with the options T.Collector does not pass: a fixed port (started
    after the agent), TLS (--tls-cert/--tls-key/--tls-client-ca)."""

    def __init__(self, name, port=0, tls=None, host_name="127.0.0.1"):
        super().__init__(name)
        self.want_port = port
        self.tls = tls or {}
        self.host_name = host_name

    def start(self):
        T.ensure_collector_installed()
        node = T.shutil.which("node") or T.shutil.which("nodejs")
        if not node:
            raise RuntimeError("node not found (apt-get install nodejs)")
        argv = [node, T.COLLECTOR_JS, "--port", self.want_port, "--out", self.out,
                "--requests", self.req_file, "--stats", self.stats_file,
                "--behavior", self.behavior]
        for opt in ("cert", "key", "client-ca"):
            if opt in self.tls:
                argv += ["--tls-" + opt, self.tls[opt]]
        self.stderr = open(self.dir / "collector.stderr", "ab")
        self.proc = T.spawn(argv, "collector", stdout=subprocess.PIPE, stderr=self.stderr,
                            env=T.clean_env())
        info = T.read_json_line(self.proc, 20, "collector")
        self.port = info["port"]
        self.pid = self.proc.pid
        return self

    @property
    def endpoint(self):
        scheme = "https" if self.tls else "http"
        return "%s://%s:%d/v1/traces" % (scheme, self.host_name, self.port or self.want_port)

    def script(self, responses, default=None):
        """Answers for the next requests, in order (see collector.js)."""
        tmp = self.behavior.with_suffix(".tmp")
        tmp.write_text(json.dumps({"responses": responses, "default": default or {"status": 200}}))
        os.replace(tmp, self.behavior)

    def stats(self):
        try:
            return json.loads(self.stats_file.read_text())
        except (FileNotFoundError, ValueError):
            return {}


def final_counts(agent):
    """The key=value pairs of the agent's last log line (the final summary), as ints."""
    lines = [l for l in agent.stderr().split("\n") if l.strip()]
    if not lines:
        raise AssertionError("agent logged nothing\n" + agent.tail())
    m = FINAL_RE.search(lines[-1])
    if not m:
        raise AssertionError("the last log line is not the final summary: %r\n%s" % (
            lines[-1], agent.tail()))
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(1))}


def log_time(agent, text):
    """Unix time of the agent's first log line containing text."""
    for line in agent.stderr().split("\n"):
        if text in line:
            stamp = datetime.datetime.strptime(line.split(" ")[0], "%Y-%m-%dT%H:%M:%S.%fZ")
            return stamp.replace(tzinfo=datetime.timezone.utc).timestamp()
    raise AssertionError("no log line with %r\n%s" % (text, agent.tail()))


def delivery_config(endpoint, port, **over):
    """A config tracing only the server on port, with quick retries."""
    cfg = {
        "exporter": {"endpoint": endpoint, "compression": "gzip"},
        "batch": {"max_spans": 512, "timeout": "200ms"},
        "retry": {"initial_interval": "100ms", "max_interval": "1s", "max_elapsed_time": "1m"},
        "filters": {"ports": [port]},
        "log": {"level": "info"},
    }
    for key, value in over.items():
        section, _, name = key.partition("__")
        if name:
            cfg.setdefault(section, {})[name] = value
        else:
            cfg[section] = value
    return cfg


class Base(T.SpanTestCase):
    """One agent per test; the server is shared by the class."""

    @classmethod
    def setUpClass(cls):
        cls.server = T.PyServer(name="delivery-server").start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def setUp(self):
        self.agents = []
        self.collectors = []

    def tearDown(self):
        for a in self.agents:
            a.stop()
        for c in self.collectors:
            c.stop()

    # ---- helpers

    def new_collector(self, name, **kw):
        c = Coll(name, **kw)
        self.collectors.append(c)
        type(self).collector = c
        return c

    def agent(self, name, cfg, env=None, start=True):
        a = T.Agent(cfg, name=name, env=env)
        self.agents.append(a)
        return a.start() if start else a

    def hit(self, prefix, n):
        """n requests to the server, one curl process (one kept-alive connection)."""
        T.curl([self.server.url("%s/%d" % (prefix, i)) for i in range(n)])

    def mine(self, prefix):
        pid = self.server.pid
        return lambda s: T.server_of(pid)(s) and T.attr(s, "url.path").startswith(prefix + "/")

    def wait_built(self, agent, prefix, n, timeout=T.SPAN_TIMEOUT):
        """The agent built (printed with --console) n spans under prefix."""
        ok = T.wait_until(lambda: sum(1 for l in agent.stdout_lines() if prefix + "/" in l) >= n,
                          timeout, interval=0.05)
        if not ok:
            raise AssertionError("agent built %d of %d spans under %s\n%s" % (
                sum(1 for l in agent.stdout_lines() if prefix + "/" in l), n, prefix, agent.tail()))

    def assertDelivered(self, c, prefix, n, quiet=T.QUIET_PERIOD):
        """Exactly n spans under prefix at the collector, each once; returns them."""
        c.wait_spans(self.mine(prefix), n, what="spans under " + prefix)
        got = c.settle(self.mine(prefix), quiet=quiet)
        ids = [s["span_id"] for s in got]
        dups = len(ids) - len(set(ids))
        self.assertEqual(dups, 0, "%d spans delivered twice\n%s" % (dups, c.describe(got)))
        self.assertEqual(len(got), n, "delivered %d spans, want %d\n%s" % (len(got), n, c.describe(got)))
        return got

    def stop_ok(self, agent, timeout=30):
        t0 = time.monotonic()
        rc = agent.stop(timeout=timeout)
        took = time.monotonic() - t0
        self.assertEqual(rc, 0, "exit status %r\n%s" % (rc, agent.tail()))
        return took



class Delivery(Base):
    """Down, 503, 429, 400, hang, partial success, headers, SIGTERM."""

    def test_collector_absent_then_started(self):
        port = T.free_port(families=(T.socket.AF_INET,))
        c = self.new_collector("absent-collector", port=port)
        a = self.agent("absent-agent", delivery_config(c.endpoint, self.server.port))
        self.hit("/absent", 20)
        self.wait_built(a, "/absent", 20)
        time.sleep(2.0)     # several refused attempts
        self.assertTrue(re.search(r"export: .*(refused|Couldn't connect).*retry in", a.stderr()),
                        "no retry warning\n" + a.tail())
        c.start()
        self.assertDelivered(c, "/absent", 20)
        self.stop_ok(a)
        f = final_counts(a)
        self.assertEqual(f["spans_exported"], 20, f)
        self.assertEqual(f["spans_failed"], 0, f)
        self.assertGreaterEqual(f["export_failures"], 2, f)

    def test_503_retry_after_then_ok(self):
        c = self.new_collector("503-collector").start()
        c.script([{"status": 503, "headers": {"Retry-After": "1"}}])
        a = self.agent("503-agent", delivery_config(c.endpoint, self.server.port,
                                                    retry__max_interval="5s"))
        self.hit("/r503", 5)
        self.assertDelivered(c, "/r503", 5)
        reqs = c.requests()
        self.assertEqual([r["status"] for r in reqs], [503, 200], reqs)
        gap = reqs[1]["time_ms"] - reqs[0]["time_ms"]
        self.assertGreaterEqual(gap, 950, "Retry-After: 1 not honoured (retried after %d ms)" % gap)
        self.assertEqual(reqs[0]["spans"], reqs[1]["spans"])
        self.stop_ok(a)
        f = final_counts(a)
        self.assertEqual((f["spans_exported"], f["export_requests"], f["export_retries"]), (5, 2, 1), f)

    def test_429_then_ok(self):
        c = self.new_collector("429-collector").start()
        c.script([{"status": 429}, {"status": 429}])
        a = self.agent("429-agent", delivery_config(c.endpoint, self.server.port))
        self.hit("/r429", 4)
        self.assertDelivered(c, "/r429", 4)
        self.assertEqual([r["status"] for r in c.requests()], [429, 429, 200])
        self.stop_ok(a)
        f = final_counts(a)
        self.assertEqual((f["spans_exported"], f["export_retries"], f["spans_failed"]), (4, 2, 0), f)

    def test_400_drops_batch_without_retry(self):
        c = self.new_collector("400-collector").start()
        c.script([{"status": 400, "message": "bad batch\nfrom the test \x01"}])
        a = self.agent("400-agent", delivery_config(c.endpoint, self.server.port))
        self.hit("/r400", 3)
        T.wait_until(lambda: c.requests(), T.SPAN_TIMEOUT)
        time.sleep(T.QUIET_PERIOD)
        reqs = c.requests()
        self.assertEqual([r["status"] for r in reqs], [400], "a 400 was retried: %s" % reqs)
        self.assertEqual(reqs[0]["spans"], 3)
        self.assertIn("3 spans dropped, not retried: HTTP 400: bad batch from the test ?", a.stderr())
        # The exporter goes on: later spans are delivered.
        self.hit("/r400after", 2)
        self.assertDelivered(c, "/r400after", 2)
        self.assertEqual([s for s in c.spans() if self.mine("/r400")(s)], [])
        self.stop_ok(a)
        f = final_counts(a)
        self.assertEqual((f["spans_failed_status"], f["spans_exported"], f["export_retries"]),
                         (3, 2, 0), f)

    def test_hang_past_timeout_then_ok(self):
        c = self.new_collector("hang-collector").start()
        c.script([{"hang_ms": 3000}])
        a = self.agent("hang-agent", delivery_config(c.endpoint, self.server.port,
                                                     exporter={"endpoint": c.endpoint,
                                                               "timeout": "1s"}))
        self.hit("/hang", 4)
        self.assertDelivered(c, "/hang", 4, quiet=3.0)   # the hung answer comes at 3 s: no dup
        T.wait_until(lambda: len(c.requests()) >= 2, 10)
        reqs = sorted(c.requests(), key=lambda r: r["seq"])
        self.assertEqual(len(reqs), 2, reqs)
        self.assertFalse(reqs[0]["accepted"])
        self.assertEqual(reqs[0]["error"], "client closed the connection before the answer")
        self.assertTrue(reqs[1]["accepted"])
        self.assertIn("Timeout was reached", a.stderr())
        self.stop_ok(a)
        f = final_counts(a)
        self.assertEqual((f["spans_exported"], f["export_retries"], f["export_failures"]), (4, 1, 1), f)

    def test_partial_success(self):
        c = self.new_collector("partial-collector").start()
        c.script([{"partial_success": {"rejected_spans": 2, "error_message": "2 spans had\tno name"}}])
        a = self.agent("partial-agent", delivery_config(c.endpoint, self.server.port,
                                                        batch={"max_spans": 5, "timeout": "1m"}))
        self.hit("/partial", 5)
        T.wait_until(lambda: c.requests(), T.SPAN_TIMEOUT)
        time.sleep(T.QUIET_PERIOD)
        self.assertEqual(len(c.requests()), 1, "partial success was retried")
        self.assertIn("collector rejected 2 of 5 spans (partial success, not retried): "
                      "2 spans had no name", a.stderr())
        self.stop_ok(a)
        f = final_counts(a)
        self.assertEqual((f["spans_exported"], f["spans_dropped_rejected"], f["export_requests"]),
                         (3, 2, 1), f)

    def test_headers_from_file_env_and_otel_variable(self):
        c = self.new_collector("hdr-collector").start()
        cfg = delivery_config(c.endpoint, self.server.port)
        cfg["exporter"]["headers"] = {"Authorization": "Bearer ${SPANBPF_TEST_TOKEN}",
                                      "X-Tenant": "from-file", "X-Dropped": "file"}
        env = {"SPANBPF_TEST_TOKEN": "t0k3n",
               "OTEL_EXPORTER_OTLP_HEADERS": "x-env-header=env%20value, X-Tenant=from-env,x-dropped="}
        a = self.agent("hdr-agent", cfg, env=env)
        self.hit("/hdr", 2)
        self.assertDelivered(c, "/hdr", 2)
        h = c.requests()[0]["all_headers"]
        self.assertEqual(h.get("authorization"), "Bearer t0k3n", h)
        self.assertEqual(h.get("x-env-header"), "env value", h)
        self.assertEqual(h.get("x-tenant"), "from-env", h)
        self.assertNotIn("x-dropped", h)
        self.assertEqual(h.get("content-type"), "application/x-protobuf")
        self.stop_ok(a)

    def test_sigterm_flushes_long_batch(self):
        c = self.new_collector("flush-collector").start()
        a = self.agent("flush-agent", delivery_config(c.endpoint, self.server.port,
                                                      batch={"max_spans": 512, "timeout": "1h"}))
        self.hit("/flush", 7)
        self.wait_built(a, "/flush", 7)
        time.sleep(0.5)
        self.assertEqual(c.requests(), [], "sent before the batch timeout or SIGTERM")
        took = self.stop_ok(a)
        self.assertLess(took, 5.0)
        self.assertDelivered(c, "/flush", 7, quiet=0.5)
        f = final_counts(a)
        self.assertEqual((f["spans_exported"], f["spans_undelivered_at_shutdown"], f["queue"]),
                         (7, 0, 0), f)

    def test_sigterm_collector_down_gives_up_at_shutdown_timeout(self):
        dead = "http://127.0.0.1:%d/v1/traces" % T.free_port(families=(T.socket.AF_INET,))
        a = self.agent("down-agent", delivery_config(dead, self.server.port,
                                                     shutdown_timeout="1s"))
        self.hit("/down", 6)
        self.wait_built(a, "/down", 6)
        time.sleep(0.5)
        took = self.stop_ok(a)
        flush = log_time(a, "final: ") - log_time(a, "received SIGTERM")
        T.log("collector down, shutdown_timeout 1s: SIGTERM to the final line %.2fs, to exit "
              "%.2fs" % (flush, took))
        self.assertLess(flush, 1.0 + 0.5, "the flush took %.2fs with shutdown_timeout 1s" % flush)
        # Then the BPF programs are detached and freed, which takes about 2 s here.
        self.assertLess(took, 1.0 + 4.0, "exit took %.2fs with shutdown_timeout 1s" % took)
        f = final_counts(a)
        self.assertEqual((f["spans_exported"], f["spans_undelivered_at_shutdown"], f["spans_failed"]),
                         (0, 6, 6), f)
        self.assertIn("exit: 6 span(s) could not be delivered", a.stderr())

    def test_sigterm_collector_hanging_cut_at_shutdown_timeout(self):
        c = self.new_collector("cut-collector").start()
        c.script([], default={"hang_ms": 60000})
        a = self.agent("cut-agent", delivery_config(c.endpoint, self.server.port,
                                                    shutdown_timeout="1s"))
        self.hit("/cut", 5)
        T.wait_until(lambda: c.requests() or c.stats().get("requests"), 2)
        self.wait_built(a, "/cut", 5)
        time.sleep(0.5)                 # the request is in flight, hanging
        took = self.stop_ok(a)
        flush = log_time(a, "final: ") - log_time(a, "received SIGTERM")
        T.log("collector hanging, shutdown_timeout 1s: SIGTERM to the final line %.2fs, to "
              "exit %.2fs" % (flush, took))
        self.assertGreaterEqual(flush, 0.95, "the request in flight was not given its time")
        self.assertLess(flush, 1.0 + 0.5, "the flush took %.2fs with shutdown_timeout 1s" % flush)
        f = final_counts(a)
        self.assertEqual((f["spans_exported"], f["spans_undelivered_at_shutdown"]), (0, 5), f)

    def test_sighup_new_endpoint_keeps_the_queue(self):
        dead = "http://127.0.0.1:%d/v1/traces" % T.free_port(families=(T.socket.AF_INET,))
        cfg = delivery_config(dead, self.server.port,
                              retry={"initial_interval": "3s", "max_interval": "5s",
                                     "max_elapsed_time": "1m"})
        a = self.agent("hup-agent", cfg)
        self.hit("/hup", 6)
        self.wait_built(a, "/hup", 6)
        time.sleep(0.5)                 # refused once, now waiting seconds for a retry
        c = self.new_collector("hup-collector").start()
        cfg["exporter"]["endpoint"] = c.endpoint
        cfg["exporter"]["headers"] = {"X-Reloaded": "yes"}
        a.config_path.write_text(T.to_yaml(cfg) + "\n")
        t0 = time.monotonic()
        a.proc.send_signal(signal.SIGHUP)
        c.wait_spans(self.mine("/hup"), 6, timeout=10)
        self.assertLess(time.monotonic() - t0, 2.0, "the retry did not follow the new settings")
        self.assertDelivered(c, "/hup", 6)
        self.assertEqual(c.requests()[0]["all_headers"].get("x-reloaded"), "yes")
        self.stop_ok(a)
        f = final_counts(a)
        self.assertEqual((f["spans_exported"], f["spans_failed"]), (6, 0), f)


# ---------------------------------------------------------------- TLS

def openssl(*args, cwd):
    r = subprocess.run(["openssl"] + [str(a) for a in args], cwd=cwd, capture_output=True,
                       text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("openssl %s: %s" % (" ".join(map(str, args)), r.stderr))


def make_pki(d):
    """A CA, a server certificate for localhost/127.0.0.1 and a client certificate."""
    d.mkdir(parents=True, exist_ok=True)
    ext = d / "server.ext"
    ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    cext = d / "client.ext"
    cext.write_text("extendedKeyUsage=clientAuth\n")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
            "/CN=spanbpf test CA", "-keyout", "ca.key", "-out", "ca.pem", cwd=d)
    for who, cn, extfile in (("server", "localhost", ext), ("client", "spanbpf agent", cext)):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + cn,
                "-keyout", who + ".key", "-out", who + ".csr", cwd=d)
        openssl("x509", "-req", "-in", who + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", extfile, "-out", who + ".pem", cwd=d)
    for f in d.iterdir():
        os.chmod(f, 0o644)
    return {k: d / (k + ".pem") for k in ("ca", "server", "client")} | {
        "server_key": d / "server.key", "client_key": d / "client.key"}


class Tls(Base):
    """https endpoints: verified by default, a private CA, mutual TLS, verification off."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not T.shutil.which("openssl"):
            raise unittest.SkipTest("openssl CLI not found")
        cls.pki = make_pki(T.workdir("pki"))

    def tls_collector(self, name, client_ca=False):
        tls = {"cert": self.pki["server"], "key": self.pki["server_key"]}
        if client_ca:
            tls["client-ca"] = self.pki["ca"]
        return self.new_collector(name, tls=tls, host_name="localhost").start()

    def tls_config(self, c, **tls):
        return delivery_config(c.endpoint, self.server.port,
                               exporter={"endpoint": c.endpoint, "compression": "gzip", "tls": tls},
                               retry={"initial_interval": "100ms", "max_interval": "200ms",
                                      "max_elapsed_time": "1s"})

    def assertRefused(self, a, c, prefix, n, hint):
        """n spans never delivered: retried as TLS failures, then counted and logged."""
        self.wait_built(a, prefix, n)
        ok = T.wait_until(lambda: "spans dropped: not delivered in" in a.stderr(), 10)
        self.assertTrue(ok, "no give-up line\n" + a.tail())
        self.assertEqual([s for s in c.spans() if self.mine(prefix)(s)], [])
        self.assertEqual(c.requests(), [])
        self.assertRegex(a.stderr(), r"level=error export: TLS failure, retry in \d+ms: .*" + re.escape(hint))
        self.stop_ok(a)
        f = final_counts(a)
        self.assertEqual((f["spans_exported"], f["spans_failed_retries_exhausted"]), (0, n), f)
        self.assertEqual(f["export_failures"], f["export_requests"], f)

    def test_ca_file(self):
        c = self.tls_collector("tls-ca-collector")
        a = self.agent("tls-ca-agent", self.tls_config(c, ca_file=str(self.pki["ca"])))
        self.hit("/tlsca", 3)
        self.assertDelivered(c, "/tlsca", 3)
        self.stop_ok(a)
        self.assertNotIn("insecure", a.stderr())

    def test_untrusted_without_ca_file(self):
        c = self.tls_collector("tls-noca-collector")
        a = self.agent("tls-noca-agent", self.tls_config(c))
        self.hit("/tlsnoca", 3)
        self.assertRefused(a, c, "/tlsnoca", 3, "exporter.tls.ca_file names the CA that signed it")
        self.assertIn("certificate", a.stderr())

    def test_mutual_tls(self):
        c = self.tls_collector("mtls-collector", client_ca=True)
        a = self.agent("mtls-agent", self.tls_config(c, ca_file=str(self.pki["ca"]),
                                                     cert_file=str(self.pki["client"]),
                                                     key_file=str(self.pki["client_key"])))
        self.hit("/mtls", 3)
        self.assertDelivered(c, "/mtls", 3)
        self.stop_ok(a)
        self.assertEqual(c.stats().get("tls_client_errors"), 0)

    def test_mutual_tls_without_client_certificate(self):
        c = self.tls_collector("mtls-nocert-collector", client_ca=True)
        a = self.agent("mtls-nocert-agent", self.tls_config(c, ca_file=str(self.pki["ca"])))
        self.hit("/mtlsno", 2)
        self.assertRefused(a, c, "/mtlsno", 2, "client certificate")
        self.assertGreaterEqual(c.stats().get("tls_client_errors", 0), 1)

    def test_insecure_skip_verify(self):
        c = self.tls_collector("insecure-collector")
        a = self.agent("insecure-agent", self.tls_config(c, insecure_skip_verify=True))
        self.assertRegex(a.stderr(), r"level=warn export: exporter.tls.insecure_skip_verify is set")
        self.hit("/insecure", 3)
        self.assertDelivered(c, "/insecure", 3)
        self.stop_ok(a)


# ---------------------------------------------------------------- memory

def rss_kib(pid):
    for line in Path("/proc/%d/status" % pid).read_text().split("\n"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


class Memory(Base):
    """The collector down under sustained load (nginx, ab -k): the queue holds
    queue.max_spans, the rest is dropped and counted, and the agent's memory stays bounded."""

    @classmethod
    def setUpClass(cls):
        if not T.shutil.which("ab"):
            raise unittest.SkipTest("ab not found (apt-get install apache2-utils)")
        cls.nginx = T.Nginx(name="memory-nginx", ipv6=False).start()

    @classmethod
    def tearDownClass(cls):
        cls.nginx.stop()

    def load(self, n):
        """n keep-alive requests from 8 connections; returns the completed count."""
        r = subprocess.run(["ab", "-q", "-k", "-n", str(n), "-c", "8", "-s", "30",
                            self.nginx.url("/small.txt")],
                           capture_output=True, text=True, timeout=300, env=T.clean_env())
        m = re.search(r"Complete requests:\s+(\d+)", r.stdout)
        self.assertTrue(m and r.returncode == 0, "ab failed: %s %s" % (r.stdout[-500:], r.stderr))
        return int(m.group(1))

    def sample(self, a, mport):
        """(agent RSS in KiB, spans held: queued + in flight), once the reader published."""
        time.sleep(1.5)
        m = scrape_metrics(mport)
        held = m[("spanbpf_export_queue_length", "")] + m[("spanbpf_export_in_flight_spans", "")]
        return rss_kib(a.pid), int(held)

    def run_down(self, name, queue, warm, load):
        """An agent exporting nowhere, retrying for ever, with this queue: warm requests, a
        sample, load more requests, a sample.  Returns the agent and both samples."""
        dead = "http://127.0.0.1:%d/v1/traces" % T.free_port(families=(T.socket.AF_INET,))
        mport = T.free_port(families=(T.socket.AF_INET,))
        cfg = delivery_config(dead, self.nginx.port, queue={"max_spans": queue},
                              shutdown_timeout="0s", metrics={"listen": "127.0.0.1:%d" % mport},
                              retry={"initial_interval": "100ms", "max_interval": "1s",
                                     "max_elapsed_time": "0s"})
        a = T.Agent(cfg, name=name, console=False)
        self.agents.append(a)
        a.start()
        self.load(warm)
        s0 = self.sample(a, mport)
        self.load(load)
        s1 = self.sample(a, mport)
        T.log("%s: after %d requests RSS %d KiB holding %d spans; after %d more RSS %d KiB "
              "holding %d spans" % (name, warm, s0[0], s0[1], load, s1[0], s1[1]))
        return a, s0, s1

    def test_bounded_with_small_queue(self):
        a, (rss0, held0), (rss1, held1) = self.run_down("memsmall", 2000, 3000, 20000)
        # Full before and after: 2000 queued plus at most one batch (512) in flight.
        self.assertGreaterEqual(held0, 2000)
        self.assertLessEqual(held1, 2000 + 512)
        # With the queue full, 20000 more requests add nothing that grows: 4 MiB of slack
        # for the allocator's arenas and the tracker's tables settling at their size.
        self.assertLess(rss1 - rss0, 4096, "RSS grew %d KiB under load with a full queue" % (
            rss1 - rss0))
        self.stop_ok(a, timeout=10)
        f = final_counts(a)
        self.assertGreater(f["spans_built"], 15000, f)
        self.assertEqual(f["spans_dropped_queue_full"] + f["spans_undelivered_at_shutdown"],
                         f["spans_built"], f)
        self.assertLessEqual(f["spans_undelivered_at_shutdown"], 2000 + 512, f)
        self.assertGreaterEqual(f["spans_dropped_queue_full"], f["spans_built"] - 2512, f)
        self.assertEqual((f["spans_exported"], f["spans_failed_retries_exhausted"]), (0, 0), f)
        self.assertRegex(a.stderr(), r"level=warn export: queue full, \d+ spans dropped")

    def test_memory_per_queued_span(self):
        a, (rss0, held0), (rss1, held1) = self.run_down("memper", 40000, 2000, 20000)
        self.stop_ok(a, timeout=10)
        f = final_counts(a)
        self.assertEqual(f["spans_dropped_queue_full"], 0, f)
        self.assertEqual(f["spans_undelivered_at_shutdown"], f["spans_built"], f)
        self.assertGreater(held1 - held0, 15000)
        per10k = (rss1 - rss0) / 1024 / (held1 - held0) * 10000
        T.log("memory: %d more spans held, RSS +%d KiB: %.2f MiB per 10k queued spans" % (
            held1 - held0, rss1 - rss0, per10k))
        self.assertLess(per10k, 10.0)


# ---------------------------------------------------------------- metrics

SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*"'
                       r'(,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*")*)?\})? (\S+)$')


def parse_prometheus(text):
    """Prometheus text 0.0.4 -> {(name, labels): value}; raises on anything malformed."""
    samples, typed, helped = {}, {}, set()
    for line in text.split("\n"):
        if not line:
            continue
        if line.startswith("# HELP "):
            name = line.split(" ")[2]
            if name in helped:
                raise AssertionError("two HELP lines for %s" % name)
            helped.add(name)
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            if kind not in ("counter", "gauge") or name in typed:
                raise AssertionError("bad TYPE line %r" % line)
            typed[name] = kind
            continue
        m = SAMPLE_RE.match(line)
        if not m:
            raise AssertionError("bad sample line %r" % line)
        name, labels, value = m.group(1), m.group(3) or "", float(m.group(5))
        if name not in typed or name not in helped:
            raise AssertionError("sample %s before its HELP/TYPE" % name)
        if typed[name] == "counter" and not name.endswith("_total"):
            raise AssertionError("counter %s does not end in _total" % name)
        if (name, labels) in samples:
            raise AssertionError("duplicate sample %s{%s}" % (name, labels))
        samples[(name, labels)] = value
    return samples


def scrape_metrics(port):
    r = subprocess.run(["curl", "-sS", "--noproxy", "*", "--max-time", "10",
                        "http://127.0.0.1:%d/metrics" % port],
                       capture_output=True, text=True, timeout=20)
    if r.returncode != 0:
        raise AssertionError("scraping /metrics: " + r.stderr)
    return parse_prometheus(r.stdout)


class Metrics(Base):

    def scrape(self, port, path="/metrics"):
        r = subprocess.run(["curl", "-sS", "--noproxy", "*", "--max-time", "10", "-D", "-",
                            "http://127.0.0.1:%d%s" % (port, path)],
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 0, r.stderr)
        head, _, body = r.stdout.partition("\n\n")     # text mode: CRLF reads as LF
        return int(head.split()[1]), head, body

    def test_metrics_endpoint(self):
        c = self.new_collector("metrics-collector").start()
        mport = T.free_port(families=(T.socket.AF_INET,))
        cfg = delivery_config(c.endpoint, self.server.port, metrics={"listen": "127.0.0.1:%d" % mport})
        del cfg["filters"]      # the whole host: /metrics must still never become a span
        a = self.agent("metrics-agent", cfg)
        status, head, body = self.scrape(mport)
        self.assertEqual(status, 200)
        self.assertIn("Content-Type: text/plain; version=0.0.4", head)
        before = parse_prometheus(body)
        for name in ("spanbpf_events_read_total", "spanbpf_events_lost_total",
                     "spanbpf_spans_built_total", "spanbpf_spans_exported_total",
                     "spanbpf_export_requests_total", "spanbpf_export_retries_total",
                     "spanbpf_export_queue_length", "process_resident_memory_bytes"):
            self.assertIn((name, ""), before, "missing %s" % name)
        for reason in ("queue_full", "rejected", "failed_status", "retries_exhausted",
                       "undelivered_at_shutdown"):
            self.assertIn(("spanbpf_spans_dropped_total", 'reason="%s"' % reason), before)
        for cls in ("connect", "timeout", "tls", "http_503", "http_4xx"):
            self.assertIn(("spanbpf_export_failures_total", 'class="%s"' % cls), before)

        self.hit("/metrics-load", 10)
        self.assertDelivered(c, "/metrics-load", 10)
        time.sleep(1.2)     # the reader thread publishes once a second
        after = parse_prometheus(self.scrape(mport)[2])
        self.assertGreater(after[("spanbpf_events_read_total", "")],
                           before[("spanbpf_events_read_total", "")])
        self.assertGreaterEqual(after[("spanbpf_spans_built_total", "")] -
                                before[("spanbpf_spans_built_total", "")], 10)
        self.assertGreaterEqual(after[("spanbpf_spans_exported_total", "")] -
                                before[("spanbpf_spans_exported_total", "")], 10)
        self.assertGreater(after[("spanbpf_export_requests_total", "")], 0)
        self.assertEqual(self.scrape(mport, "/other")[0], 404)

        # Scrapes, then a quiet period: nothing at the collector touches the metrics port.
        for _ in range(5):
            self.scrape(mport)
        time.sleep(T.QUIET_PERIOD + 0.5)
        self.hit("/metrics-flush", 1)       # a batch after the scrapes surely went out
        self.assertDelivered(c, "/metrics-flush", 1)
        leaked = [s for s in c.spans() if T.attr(s, "server.port") == mport or
                  T.attr(s, "url.path") in ("/metrics", "/other")]
        self.assertEqual(leaked, [], "the metrics endpoint became spans\n" + T.dump_spans(leaked))
        self.stop_ok(a)


if __name__ == "__main__":
    T.main([Delivery, Tls, Memory, Metrics])
