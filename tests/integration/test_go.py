#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Go services: exact links from the goroutine uprobes, and HTTPS through crypto/tls.

servers/go/main.go is built here with Debian's golang-go.  GET /r/<id> calls
the next service from the handler (/direct/<id>) and from a goroutine it
starts (/goroutine/<id>).  Under concurrency every call must be linked to the
request whose id its path carries, never to another one; a stripped build
must give no links at all, and say why.
"""
import concurrent.futures
import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spanbpf_test as T  # noqa: E402
from spanbpf_test import attr  # noqa: E402

GO_SRC = T.HERE / "servers" / "go" / "main.go"
N_SEQ = 20
N_CONC = 200
CLIENTS = 8


def ensure_go():
    if shutil.which("go"):
        return "go"
    if T.in_ci():
        subprocess.run(["apt-get", "install", "-y", "-q", "golang-go"], check=True, timeout=900,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        return "go"
    return None


def build(go, out, strip=False):
    d = out.parent
    (d / "main.go").write_text(GO_SRC.read_text())
    if not (d / "go.mod").exists():
        (d / "go.mod").write_text("module gosvc\n\ngo 1.19\n")
    argv = [go, "build", "-o", str(out)]
    if strip:
        argv += ["-ldflags=-s -w"]
    env = T.clean_env({"GOCACHE": str(d / "cache"), "GOPATH": str(d / "gopath"),
                       "GOFLAGS": "-mod=mod", "CGO_ENABLED": "0"})
    r = subprocess.run(argv + ["."], cwd=d, capture_output=True, text=True, timeout=600, env=env)
    if r.returncode != 0:
        raise AssertionError("go build failed:\n" + r.stderr)


class GoService:
    def __init__(self, binary, name, next_url=None, tls=None, insecure=False):
        self.argv = [binary]
        if tls:
            self.argv += ["-tls", "%s,%s" % tls]
        if next_url:
            self.argv += ["-next", next_url]
        if insecure:
            self.argv.append("-insecure")
        self.name = name
        self.scheme = "https" if tls else "http"

    def start(self):
        self.proc = T.spawn(self.argv, self.name, stdout=subprocess.PIPE)
        self.port = T.read_json_line(self.proc, 20, self.name)["port"]
        self.pid = self.proc.pid
        return self

    def base(self):
        return "%s://127.0.0.1:%d" % (self.scheme, self.port)

    def stop(self):
        T.stop_process(self.proc)


def rid_of(path):
    return (path or "").rstrip("/").rsplit("/", 1)[-1]


class GoLinks(T.SpanTestCase):
    @classmethod
    def setUpClass(cls):
        go = ensure_go()
        if not go:
            raise unittest.SkipTest("go not installed (apt-get install golang-go)")
        d = T.workdir("gobuild")
        cls.bin = d / "gosvc"
        build(go, cls.bin)
        sd = T.workdir("gostrip")
        cls.stripped = sd / "gosvc-stripped"
        build(go, cls.stripped, strip=True)
        cls.collector = T.Collector("collector-links").start()
        cls.leaf = T.PyServer(name="py-leaf").start()
        cls.svc = GoService(cls.bin, "gosvc", next_url=cls.leaf.url("/p")).start()
        cls.agent = T.Agent(T.agent_config(cls.collector, ports=[cls.svc.port] + list(
            cls.leaf.ports)), name="agent-links").start()
        if not T.wait_until(lambda: "Go probes attached" in cls.agent.stderr(), 60):
            raise AssertionError("no Go probes\n" + cls.agent.tail())

    @classmethod
    def tearDownClass(cls):
        code = cls.agent.stop()
        cls.svc.stop()
        cls.leaf.stop()
        cls.collector.stop()
        assert code == 0, cls.agent.tail()

    def drive(self, tag, n, clients):
        urls = ["%s/r/%s-%d" % (self.svc.base(), tag, i) for i in range(n)]
        if clients == 1:
            for u in urls:
                T.curl(u)
        else:
            with concurrent.futures.ThreadPoolExecutor(clients) as ex:
                list(ex.map(lambda u: T.curl(u), urls))
        return ["%s-%d" % (tag, i) for i in range(n)]

    def check(self, rids, pid):
        want = set(rids)
        servers = self.collector.wait_spans(
            lambda s: s["kind"] == T.SPAN_KIND_SERVER and s["resource"].get("process.pid") == pid and
            rid_of(attr(s, "url.path")) in want, count=len(rids), what="Go server spans")
        by_id = {s["span_id"]: s for s in self.collector.spans()}
        leaf = self.collector.wait_spans(
            lambda s: s["kind"] == T.SPAN_KIND_SERVER and rid_of(attr(s, "url.path")) in want and
            (attr(s, "url.path") or "").startswith(("/p/direct/", "/p/goroutine/")),
            count=2 * len(rids), what="leaf spans of the Go service's calls")
        by_id = {s["span_id"]: s for s in self.collector.spans()}
        wrong, unlinked = [], []
        for s in leaf:
            call = by_id.get(s["parent_span_id"])
            self.assertIsNotNone(call, "a leaf span's parent (the Go client span) is missing\n" +
                                 self.dump([s]))
            up = by_id.get(call["parent_span_id"]) if call["parent_span_id"] else None
            if up is None:
                unlinked.append(call)
            elif up["kind"] != T.SPAN_KIND_SERVER or rid_of(attr(up, "url.path")) != rid_of(
                    attr(s, "url.path")):
                wrong.append((s, call, up))
        self.assertEqual(wrong, [], "wrong parents:\n" + "\n".join(
            "%s <- %s" % (attr(s, "url.path"), attr(up, "url.path")) for s, c, up in wrong))
        self.assertEqual(len(unlinked), 0, "Go calls without a parent:\n" + self.dump(unlinked))
        for s in servers:
            self.assertEqual(attr(s, "http.response.status_code"), 200)

    def test_sequential(self):
        self.check(self.drive("seq", N_SEQ, 1), self.svc.pid)

    def test_concurrent(self):
        self.check(self.drive("conc", N_CONC, CLIENTS), self.svc.pid)

    def test_stripped_binary_gets_no_links(self):
        svc = GoService(self.stripped, "gosvc-stripped",
                        next_url=self.leaf.url("/p")).start()
        try:
            T.wait_until(lambda: "gosvc-stripped" in self.agent.stderr() and
                         "stripped" in self.agent.stderr(), 30)
            self.assertIn("stripped", self.agent.stderr(), self.agent.tail())
            # Its process is not selected by filters.ports: a new agent would be needed to see
            # its spans; what matters here is the log line and that nothing else breaks.
        finally:
            svc.stop()


class GoTLS(T.SpanTestCase):
    @classmethod
    def setUpClass(cls):
        go = ensure_go()
        if not go:
            raise unittest.SkipTest("go not installed (apt-get install golang-go)")
        d = T.workdir("gotls")
        cls.bin = d / "gosvc"
        build(go, cls.bin)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                        str(d / "key.pem"), "-out", str(d / "cert.pem"), "-days", "2", "-subj",
                        "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True, timeout=60)
        tls = (str(d / "cert.pem"), str(d / "key.pem"))
        cls.collector = T.Collector("collector-tls").start()
        cls.leaf = GoService(cls.bin, "go-tls-leaf", tls=tls).start()
        cls.front = GoService(cls.bin, "go-tls-front", tls=tls, next_url=cls.leaf.base(),
                              insecure=True).start()
        cls.agent = T.Agent(T.agent_config(cls.collector, ports=[cls.leaf.port, cls.front.port]),
                            name="agent-tls").start()
        if not T.wait_until(lambda: "crypto/tls" in cls.agent.stderr(), 60):
            raise AssertionError("no crypto/tls probes\n" + cls.agent.tail())

    @classmethod
    def tearDownClass(cls):
        code = cls.agent.stop()
        cls.front.stop()
        cls.leaf.stop()
        cls.collector.stop()
        assert code == 0, cls.agent.tail()

    def test_https_chain(self):
        for i in range(5):
            T.curl("%s/r/tls-%d" % (self.front.base(), i), "-k")
        front = self.collector.wait_spans(
            lambda s: s["kind"] == T.SPAN_KIND_SERVER and s["resource"].get("process.pid") ==
            self.front.pid and (attr(s, "url.path") or "").startswith("/r/tls-"), count=5,
            what="the Go front's HTTPS server spans")
        for s in front:
            self.assertEqual(attr(s, "url.scheme"), "https", self.dump([s]))
        leaf = self.collector.wait_spans(
            lambda s: s["kind"] == T.SPAN_KIND_SERVER and s["resource"].get("process.pid") ==
            self.leaf.pid and "/tls-" in (attr(s, "url.path") or ""), count=10,
            what="the Go leaf's HTTPS server spans")
        by_id = {s["span_id"]: s for s in self.collector.spans()}
        for s in leaf:
            self.assertEqual(attr(s, "url.scheme"), "https")
            call = by_id.get(s["parent_span_id"])
            self.assertIsNotNone(call, self.dump([s]))
            self.assertTrue(attr(call, "url.full").startswith("https://"), self.dump([call]))
            up = by_id.get(call["parent_span_id"])
            self.assertIsNotNone(up, "the Go front's HTTPS call has no parent\n" + self.dump([call]))
            self.assertEqual(rid_of(attr(up, "url.path")), rid_of(attr(s, "url.path")))


if __name__ == "__main__":
    T.main([GoLinks, GoTLS])
