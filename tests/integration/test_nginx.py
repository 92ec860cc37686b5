#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""SERVER spans of nginx (event-driven, recv/writev/sendfile) on 127.0.0.1 and [::1].

nginx runs in the foreground with its own generated config (one worker),
serving a small and a large static file.  Spans are matched by server.port
(nginx's port, which nothing else uses) and must belong to an nginx worker.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spanbpf_test as T  # noqa: E402
from spanbpf_test import attr  # noqa: E402


class NginxServer(T.SpanTestCase):

    @classmethod
    def setUpClass(cls):
        cls.collector = T.Collector("nginx-collector").start()
        cls.nginx = T.Nginx(name="nginx").start()
        cls.agent = T.Agent(T.agent_config(cls.collector), name="nginx-agent").start()
        cls.sizes = {"/" + k: len(v) for k, v in cls.nginx.files.items()}

    @classmethod
    def tearDownClass(cls):
        cls.agent.stop()
        cls.nginx.stop()
        cls.collector.stop()

    def nginx_span(self, path, client_port, count=1):
        """The SERVER spans on nginx's port for path from client_port (waits for count)."""
        def pred(s):
            return (s["kind"] == T.SPAN_KIND_SERVER and attr(s, "server.port") == self.nginx.port
                    and attr(s, "url.path") == path and attr(s, "client.port") == client_port)
        try:
            self.collector.wait_spans(pred, count, what="nginx SERVER spans for %s from client port %d" % (
                path, client_port), related=lambda s: attr(s, "server.port") == self.nginx.port)
        except AssertionError as e:
            near = [s for s in self.collector.spans() if attr(s, "server.port") == self.nginx.port
                    and attr(s, "url.path") == path and attr(s, "client.port") != client_port]
            raise AssertionError("%s\n%d span(s) for %s on nginx's port with another or no client.port:\n%s" % (
                e, len(near), path, T.dump_spans(near, 10))) from None
        return self.collector.settle(pred)

    def check_span(self, s, status, size=None, v6=False):
        addr = "::1" if v6 else "127.0.0.1"
        self.assertAttrs(s, {"http.request.method": "GET", "http.response.status_code": status,
                             "url.scheme": "http", "network.protocol.version": "1.1",
                             "server.port": self.nginx.port, "client.address": addr,
                             "network.peer.address": addr, "server.address": addr})
        self.assertIn(s["resource"].get("process.pid"), self.nginx.worker_pids(),
                      "process.pid is not an nginx worker\n" + T.dump_spans([s]))
        self.assertEqual(s["resource"].get("service.name"), "nginx")
        self.assertEqual(s["resource"].get("process.executable.name"), "nginx")
        self.assertIds(s)
        if status >= 500:
            self.assertEqual(s["status"]["code"], T.STATUS_ERROR)
        else:
            self.assertNotError(s)
        if size is not None and "http.response.body.size" in s["attributes"]:
            self.assertEqual(attr(s, "http.response.body.size"), size)

    def get(self, path, v6=False):
        t0 = T.now_ns()
        r = T.curl(self.nginx.url(path, v6=v6))[0]
        t1 = T.now_ns()
        spans = self.nginx_span(path, r["local_port"])
        self.assertSpanCount(spans, 1, "nginx span for %s" % path)
        self.assertWithin(spans[0], t0, t1)
        return r, spans[0]

    def test_small_file(self):
        r, s = self.get("/small.txt")
        self.assertEqual((r["http_code"], r["size_download"]), (200, self.sizes["/small.txt"]))
        self.check_span(s, 200, self.sizes["/small.txt"])

    def test_large_file(self):
        r, s = self.get("/large.bin")
        self.assertEqual((r["http_code"], r["size_download"]), (200, self.sizes["/large.bin"]))
        self.check_span(s, 200, self.sizes["/large.bin"])

    def test_not_found(self):
        r, s = self.get("/missing.txt")
        self.assertEqual(r["http_code"], 404)
        self.check_span(s, 404)

    def test_ipv6_small_and_large(self):
        for path in ("/small.txt", "/large.bin"):
            r, s = self.get(path, v6=True)
            self.assertEqual((r["http_code"], r["size_download"]), (200, self.sizes[path]))
            self.check_span(s, 200, self.sizes[path], v6=True)

    def test_keepalive_many_requests(self):
        paths = ["/small.txt", "/large.bin", "/missing.txt", "/small.txt", "/large.bin"]
        rs = T.curl([self.nginx.url(p) for p in paths])
        ports = {r["local_port"] for r in rs}
        self.assertEqual(len(ports), 1, "curl did not reuse its connection (test setup problem)")
        port = ports.pop()
        for p, r in zip(paths, rs):
            want = 404 if p == "/missing.txt" else 200
            self.assertEqual(r["http_code"], want)
            if want == 200:
                self.assertEqual(r["size_download"], self.sizes[p])
        for p in set(paths):
            n = paths.count(p)
            spans = self.nginx_span(p, port, n)
            self.assertSpanCount(spans, n, "nginx spans for %s on the keep-alive connection" % p)
            for s in spans:
                self.check_span(s, 404 if p == "/missing.txt" else 200, self.sizes.get(p))

    def test_pipelined(self):
        paths = ["/small.txt", "/missing.txt", "/small.txt"]
        host = "127.0.0.1:%d" % self.nginx.port
        with T.RawConn("127.0.0.1", self.nginx.port) as c:
            c.send(b"".join(T.http_request("GET", p, host) for p in paths))
            resps = c.read_responses(3)
            local = c.local_port
        self.assertEqual([r[0] for r in resps], [200, 404, 200])
        self.assertEqual(len(self.nginx_span("/small.txt", local, 2)), 2)
        self.assertEqual(len(self.nginx_span("/missing.txt", local, 1)), 1)

    def test_zz_sigterm_exits_0(self):
        self.assertEqual(self.collector.decode_errors(), [])
        code = self.agent.stop()
        self.assertEqual(code, 0, "exit status after SIGTERM\n" + self.agent.tail())


if __name__ == "__main__":
    T.main([NginxServer])
