#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""One trace per request: client spans, in-process and cross-process parents, traceparent.

Services (tests/integration/servers/chain_server.py): A -> B -> C on 127.0.0.1,
A6 -> C6 on [::1], and nginx reverse-proxying to C.  The agent traces every
process (no port filter), so curl and this script show up as clients too.
"""
import os
import sys
import threading
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spanbpf_test as T  # noqa: E402
from spanbpf_test import attr  # noqa: E402

CHAIN_PY = T.HERE / "servers" / "chain_server.py"
CROSS_SLACK = 1_000_000  # ns


class ChainServer:
    def __init__(self, name, host="127.0.0.1", next_url=None, propagate=False):
        self.name, self.host, self.next_url, self.propagate = name, host, next_url, propagate

    def start(self):
        argv = [sys.executable, "-u", CHAIN_PY, "--host", self.host]
        if self.next_url:
            argv += ["--next", self.next_url]
        if self.propagate:
            argv.append("--propagate")
        self.proc = T.spawn(argv, self.name, stdout=T.subprocess.PIPE)
        info = T.read_json_line(self.proc, 20, self.name)
        self.port, self.pid = info["port"], self.proc.pid
        return self

    def base(self):
        host = "[%s]" % self.host if ":" in self.host else self.host
        return "http://%s:%d" % (host, self.port)

    def url(self, tag):
        return "%s/chain/%s" % (self.base(), tag)

    def stop(self):
        T.stop_process(self.proc)


NGINX_PROXY_SERVER = """\
    server {{
        listen 127.0.0.1:{port};
        location / {{ proxy_pass {upstream}; }}
    }}
"""


class NginxProxy:
    def __init__(self, upstream):
        self.upstream = upstream
        self.dir = T.workdir("nginx-proxy")

    def start(self):
        self.port = T.free_port((T.socket.AF_INET,))
        conf = self.dir / "nginx.conf"
        conf.write_text(T.nginx_conf(self.dir, NGINX_PROXY_SERVER.format(port=self.port,
                                                                      upstream=self.upstream)))
        os.chmod(self.dir, 0o777)
        self.proc = T.spawn(["nginx", "-p", str(self.dir), "-c", str(conf), "-e",
                             str(self.dir / "error.log")], "nginx-proxy")
        if not T.wait_until(lambda: T.tcp_accepts("127.0.0.1", self.port), 20):
            raise AssertionError("nginx proxy did not listen on %d: %s" % (
                self.port, (self.dir / "error.log").read_text(errors="replace")))
        return self

    def url(self, tag):
        return "http://127.0.0.1:%d/chain/%s" % (self.port, tag)

    def worker_pids(self):
        out = T.subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True)
        return {int(p) for p in out.stdout.split()} | {self.proc.pid}

    def stop(self):
        T.stop_process(self.proc)


def pid_of(s):
    return s["resource"].get("process.pid")


def kind_pid(kind, pid):
    return lambda s: s["kind"] == kind and pid_of(s) == pid


def fetch(url, headers=None):
    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=20) as r:
        return r.read()


class Linking(T.SpanTestCase):

    @classmethod
    def setUpClass(cls):
        cls.collector = T.Collector("linking-collector").start()
        cls.c = ChainServer("svc-c").start()
        cls.b = ChainServer("svc-b", next_url=cls.c.base()).start()
        cls.a = ChainServer("svc-a", next_url=cls.b.base()).start()
        cls.c6 = ChainServer("svc-c6", host="::1").start()
        cls.a6 = ChainServer("svc-a6", host="::1", next_url=cls.c6.base()).start()
        cls.proxy = NginxProxy(cls.c.base()).start()
        cls.agent = T.Agent(T.agent_config(cls.collector), name="linking-agent").start()

    @classmethod
    def tearDownClass(cls):
        code = cls.agent.stop()
        for s in (cls.proxy, cls.a6, cls.c6, cls.a, cls.b, cls.c):
            s.stop()
        cls.collector.stop()
        assert code == 0, "agent exit code %r\n%s" % (code, cls.agent.tail())

    # -- helpers -------------------------------------------------------------

    def span_where(self, pred, what):
        return self.collector.wait_spans(pred, 1, what=what)[0]

    def leaf(self, server, tag):
        return self.span_where(T.server_of(server.pid, "/chain/" + tag),
                               "SERVER span of %s for /chain/%s" % (server.name, tag))

    def trace(self, trace_id):
        return [s for s in self.collector.spans() if s["trace_id"] == trace_id]

    def parent(self, span, spans):
        for s in spans:
            if s["span_id"] == span["parent_span_id"]:
                return s
        return None

    def assertChild(self, child, parent, what):
        self.assertIsNotNone(parent, "%s: parent missing\n%s" % (what, T.dump_spans([child])))
        self.assertEqual(child["trace_id"], parent["trace_id"],
                         "%s: not in its parent's trace\n%s" % (what, T.dump_spans([child, parent])))
        self.assertEqual(child["parent_span_id"], parent["span_id"],
                         "%s: wrong parent\n%s" % (what, T.dump_spans([child, parent])))

    def check_chain(self, tag):
        """C's server span for tag, then walk up: B client, B server, A client, A server."""
        c_srv = self.leaf(self.c, tag)
        tid = c_srv["trace_id"]
        # The whole trace is exported by now or within a batch timeout.
        T.wait_until(lambda: len(self.trace(tid)) >= 5, T.SPAN_TIMEOUT)
        spans = self.trace(tid)
        b_cli = self.parent(c_srv, spans)
        self.assertIsNotNone(b_cli, "C's server span has no parent in its trace\n" + T.dump_spans(spans))
        self.assertEqual((b_cli["kind"], pid_of(b_cli)), (T.SPAN_KIND_CLIENT, self.b.pid),
                         "C's parent is not B's client span\n" + T.dump_spans(spans))
        self.assertEqual(attr(b_cli, "server.port"), self.c.port)
        b_srv = self.parent(b_cli, spans)
        self.assertIsNotNone(b_srv, "B's client span has no parent\n" + T.dump_spans(spans))
        self.assertEqual((b_srv["kind"], pid_of(b_srv), attr(b_srv, "url.path")),
                         (T.SPAN_KIND_SERVER, self.b.pid, "/chain/" + tag), T.dump_spans(spans))
        a_cli = self.parent(b_srv, spans)
        self.assertIsNotNone(a_cli, "B's server span has no parent\n" + T.dump_spans(spans))
        self.assertEqual((a_cli["kind"], pid_of(a_cli)), (T.SPAN_KIND_CLIENT, self.a.pid))
        a_srv = self.parent(a_cli, spans)
        self.assertIsNotNone(a_srv, "A's client span has no parent\n" + T.dump_spans(spans))
        self.assertEqual((a_srv["kind"], pid_of(a_srv), attr(a_srv, "url.path")),
                         (T.SPAN_KIND_SERVER, self.a.pid, "/chain/" + tag), T.dump_spans(spans))
        for s in (c_srv, b_cli, b_srv, a_cli, a_srv):
            self.assertEqual(s["trace_id"], tid)
            self.assertIds(s)
        # Children start after and end before their parents (one clock: kernel monotonic).
        # Across processes the two ends of one write/read race by a few microseconds
        # (the reader can return before the writer's syscall exits): allow 1 ms there.
        for child, par, slack in ((c_srv, b_cli, CROSS_SLACK), (b_cli, b_srv, 0),
                                  (b_srv, a_cli, CROSS_SLACK), (a_cli, a_srv, 0)):
            self.assertLessEqual(int(par["start"]), int(child["start"]) + slack,
                                 T.dump_spans([par, child]))
            self.assertGreaterEqual(int(par["end"]) + slack, int(child["end"]),
                                    T.dump_spans([par, child]))
        return a_srv, spans

    # -- tests -------------------------------------------------------------------

    def test_client_span_attributes(self):
        body = fetch(self.a.url("attrs"))
        self.assertEqual(body, b"attrs")
        a_srv, spans = self.check_chain("attrs")
        a_cli = [s for s in spans if s["kind"] == T.SPAN_KIND_CLIENT and pid_of(s) == self.a.pid][0]
        self.assertEqual(a_cli["name"], "GET")
        self.assertAttrs(a_cli, {
            "http.request.method": "GET",
            "url.full": "%s/chain/attrs" % self.b.base(),
            "server.address": "127.0.0.1",
            "server.port": self.b.port,
            "network.peer.address": "127.0.0.1",
            "network.peer.port": self.b.port,
            "http.response.status_code": 200,
        })
        self.assertNotEqual(a_cli["status"]["code"], T.STATUS_ERROR)

    def test_three_service_chain_sequential(self):
        for i in range(5):
            T.curl(self.a.url("seq%d" % i))
        for i in range(5):
            a_srv, spans = self.check_chain("seq%d" % i)
            # curl is traced too: the root is its client span.
            root = self.parent(a_srv, spans)
            self.assertIsNotNone(root, "A's server span has no parent (curl's client span)\n" +
                                 T.dump_spans(spans))
            self.assertEqual(root["kind"], T.SPAN_KIND_CLIENT)
            self.assertEqual(root["parent_span_id"], "", "curl's span should be the root")

    def test_three_service_chain_concurrent(self):
        tags = ["par%d" % i for i in range(12)]
        errors = []

        def call(tag):
            try:
                if fetch(self.a.url(tag)) != tag.encode():
                    errors.append("%s: wrong body" % tag)
            except Exception as e:  # reported below
                errors.append("%s: %s" % (tag, e))
        threads = [threading.Thread(target=call, args=(t,)) for t in tags]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(errors, [])
        for tag in tags:
            self.check_chain(tag)

    def test_ipv6_pair(self):
        T.curl(self.a6.url("v6"))
        c_srv = self.leaf(self.c6, "v6")
        self.assertEqual(attr(c_srv, "client.address"), "::1")
        T.wait_until(lambda: len(self.trace(c_srv["trace_id"])) >= 3, T.SPAN_TIMEOUT)
        spans = self.trace(c_srv["trace_id"])
        a_cli = self.parent(c_srv, spans)
        self.assertIsNotNone(a_cli, "no parent over IPv6\n" + T.dump_spans(spans))
        self.assertEqual((a_cli["kind"], pid_of(a_cli)), (T.SPAN_KIND_CLIENT, self.a6.pid))
        self.assertEqual(attr(a_cli, "network.peer.address"), "::1")
        a_srv = self.parent(a_cli, spans)
        self.assertIsNotNone(a_srv, T.dump_spans(spans))
        self.assertEqual((a_srv["kind"], pid_of(a_srv)), (T.SPAN_KIND_SERVER, self.a6.pid))

    def nginx_chain(self, tag, require_link):
        """C's span for tag: its parent must be nginx's client span under nginx's server span
        for the same path; unlinked is tolerated only when require_link is False."""
        c_srv = self.leaf(self.c, tag)
        T.wait_until(lambda: len(self.trace(c_srv["trace_id"])) >= 3, T.SPAN_TIMEOUT)
        spans = self.trace(c_srv["trace_id"])
        n_cli = self.parent(c_srv, spans)
        self.assertIsNotNone(n_cli, "C's span has no parent\n" + T.dump_spans(spans))
        self.assertEqual(n_cli["kind"], T.SPAN_KIND_CLIENT, T.dump_spans(spans))
        self.assertIn(pid_of(n_cli), self.proxy.worker_pids(), T.dump_spans(spans))
        n_srv = self.parent(n_cli, spans)
        if n_srv is None:
            self.assertFalse(require_link, "nginx's upstream call has no parent\n" + T.dump_spans(spans))
            self.assertEqual(n_cli["parent_span_id"], "", "parent id names no exported span\n" +
                             T.dump_spans(spans))
            return False
        self.assertEqual((n_srv["kind"], attr(n_srv, "url.path")), (T.SPAN_KIND_SERVER, "/chain/" + tag),
                         "nginx's upstream call is linked to the wrong request\n" + T.dump_spans(spans))
        return True

    def test_nginx_reverse_proxy_sequential(self):
        for i in range(5):
            T.curl(self.proxy.url("ngx%d" % i))
        for i in range(5):
            self.nginx_chain("ngx%d" % i, require_link=True)

    def test_nginx_reverse_proxy_concurrent_never_wrong(self):
        tags = ["ngxc%d" % i for i in range(24)]
        threads = [threading.Thread(target=fetch, args=(self.proxy.url(t),)) for t in tags]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        linked = sum(self.nginx_chain(t, require_link=False) for t in tags)
        T.log("nginx under concurrency: %d of %d upstream calls linked" % (linked, len(tags)))

    def test_inbound_traceparent_joins_trace(self):
        tid, pid = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
        T.curl(self.c.url("tp-valid"), "-H", "traceparent: 00-%s-%s-01" % (tid, pid))
        s = self.leaf(self.c, "tp-valid")
        self.assertEqual(s["trace_id"], tid, T.dump_spans([s]))
        self.assertEqual(s["parent_span_id"], pid, T.dump_spans([s]))
        # curl wrote the header itself: its client span joins the same trace, never breaks it.
        cli = self.span_where(lambda x: x["kind"] == T.SPAN_KIND_CLIENT and x["trace_id"] == tid,
                              "curl's client span in the header's trace")
        self.assertEqual(cli["parent_span_id"], pid, T.dump_spans([cli]))

    def test_malformed_traceparent_ignored(self):
        bad = [
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",  # uppercase
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # zero trace id
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # zero parent id
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # version ff
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",   # short trace id
            "garbage",
        ]
        for i, h in enumerate(bad):
            T.curl(self.c.url("tp-bad%d" % i), "-H", "traceparent: " + h)
        for i, h in enumerate(bad):
            s = self.leaf(self.c, "tp-bad%d" % i)
            self.assertNotIn(s["trace_id"], ("4bf92f3577b34da6a3ce929d0e0e4736", "0" * 32),
                             "malformed header %r was used\n%s" % (h, T.dump_spans([s])))
            self.assertNotEqual(s["parent_span_id"], "00f067aa0ba902b7", T.dump_spans([s]))
            self.assertIds(s)

    def test_connection_refused_is_an_error_client_span(self):
        dead = T.free_port((T.socket.AF_INET,))
        svc = ChainServer("svc-refused", next_url="http://127.0.0.1:%d" % dead).start()
        try:
            r = T.curl(svc.url("refused"))
            self.assertEqual(r[0]["http_code"], 502)
            srv = self.span_where(T.server_of(svc.pid, "/chain/refused"), "svc-refused's server span")
            cli = self.span_where(lambda s: kind_pid(T.SPAN_KIND_CLIENT, svc.pid)(s)
                                  and s["trace_id"] == srv["trace_id"], "the refused call's span")
            self.assertEqual(cli["parent_span_id"], srv["span_id"], T.dump_spans([srv, cli]))
            self.assertEqual(cli["status"]["code"], T.STATUS_ERROR, T.dump_spans([cli]))
            self.assertAttrs(cli, {"error.type": "connection_refused", "server.port": dead,
                                   "network.peer.address": "127.0.0.1"})
            self.assertEqual(srv["status"]["code"], T.STATUS_ERROR, "502 is a server error")
        finally:
            svc.stop()

    def test_instrumented_app_trace_kept(self):
        """A service that propagates traceparent itself: every span stays in the app's trace."""
        prop = ChainServer("svc-prop", next_url=self.c.base(), propagate=True).start()
        try:
            tid, pid = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
            fetch(prop.url("tp-prop"), {"traceparent": "00-%s-%s-01" % (tid, pid)})
            c_srv = self.leaf(self.c, "tp-prop")
            self.assertEqual(c_srv["trace_id"], tid, T.dump_spans([c_srv]))
            # The downstream server follows the header on the wire (the app's span id).
            self.assertEqual(c_srv["parent_span_id"], pid, T.dump_spans([c_srv]))
            p_cli = self.span_where(kind_pid(T.SPAN_KIND_CLIENT, prop.pid), "svc-prop's client span")
            self.assertEqual(p_cli["trace_id"], tid)
            self.assertEqual(p_cli["parent_span_id"], pid)
        finally:
            prop.stop()


if __name__ == "__main__":
    T.main([Linking])
