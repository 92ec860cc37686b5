#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""HTTPS: spans from the plaintext OpenSSL hands over (uprobes on libssl.so.3).

A certificate made here with openssl; nginx with ssl; curl and Python's ssl
module as clients; a Python HTTPS server calling an HTTPS upstream while
serving.  Every span must say https, link by the 5-tuple across processes
and by the thread inside the Python server, and the ciphertext must never be
read as HTTP.
"""
import http.client
import os
import ssl
import subprocess
import sys
import textwrap
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import spanbpf_test as T  # noqa: E402
from spanbpf_test import attr  # noqa: E402

NGINX_TLS_SERVER = """\
    keepalive_requests 10000;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {dir}/cert.pem;
        ssl_certificate_key {dir}/key.pem;
        root {dir}/www;
    }}
"""

# A Python HTTPS server (ThreadingHTTPServer + ssl) that calls an HTTPS upstream while serving.
PY_TLS_SERVER = textwrap.dedent("""\
    import http.server, json, ssl, sys, urllib.request
    cert, key, upstream = sys.argv[1], sys.argv[2], sys.argv[3]
    client_ctx = ssl.create_default_context()
    client_ctx.check_hostname = False
    client_ctx.verify_mode = ssl.CERT_NONE
    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        def do_GET(self):
            with urllib.request.urlopen(upstream + "/small.txt?from=" + self.path.strip("/"),
                                        context=client_ctx, timeout=20) as r:
                data = r.read()
            body = b"py %d\\n" % len(data)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *a):
            pass
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print(json.dumps({"port": srv.server_address[1]}), flush=True)
    srv.serve_forever()
""")


def make_cert(d):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(d / "key.pem"), "-out", str(d / "cert.pem"), "-days", "2", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    os.chmod(d / "key.pem", 0o644)


class NginxTLS:
    def __init__(self, name="nginx-tls"):
        self.dir = T.workdir(name)

    def start(self):
        make_cert(self.dir)
        www = self.dir / "www"
        www.mkdir(exist_ok=True)
        (www / "small.txt").write_bytes(b"hello over tls\n")
        (www / "large.bin").write_bytes(os.urandom(1024) * 1024)   # 1 MiB
        for f in www.iterdir():
            os.chmod(f, 0o644)
        os.chmod(www, 0o755)
        os.chmod(self.dir, 0o755)
        self.port = T.free_port((T.socket.AF_INET,))
        conf = self.dir / "nginx.conf"
        conf.write_text(T.nginx_conf(self.dir, NGINX_TLS_SERVER.format(dir=self.dir, port=self.port)))
        self.proc = T.spawn(["nginx", "-p", str(self.dir), "-c", str(conf), "-e",
                             str(self.dir / "error.log")], "nginx-tls",
                            stop_signal=T.signal.SIGQUIT)
        if not T.wait_until(lambda: T.tcp_accepts("127.0.0.1", self.port), 20):
            raise AssertionError("nginx (ssl) did not listen: %s" % (
                (self.dir / "error.log").read_text(errors="replace")))
        self.pid = self.proc.pid
        return self

    def url(self, path):
        return "https://127.0.0.1:%d%s" % (self.port, path)

    def stop(self):
        T.stop_process(self.proc, T.signal.SIGQUIT)


def unverified():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class TLS(T.SpanTestCase):
    @classmethod
    def setUpClass(cls):
        cls.collector = T.Collector().start()
        cls.nginx = NginxTLS().start()
        # A TLS connection opened before the agent: one request now, one after it is ready.
        cls.early = http.client.HTTPSConnection("127.0.0.1", cls.nginx.port, context=unverified(),
                                                timeout=20)
        cls.early.request("GET", "/small.txt?early=before")
        cls.early.getresponse().read()
        # Queries carry the markers the tests look for.
        cls.agent = T.Agent(T.agent_config(cls.collector, record_query=True)).start()
        cls.wait_probes()

    @classmethod
    def wait_probes(cls):
        ok = T.wait_until(lambda: "OpenSSL probes attached" in cls.agent.stderr(), 30)
        if not ok:
            raise AssertionError("no OpenSSL probes attached\n" + cls.agent.tail())

    @classmethod
    def tearDownClass(cls):
        cls.early.close()
        code = cls.agent.stop()
        cls.nginx.stop()
        cls.collector.stop()
        assert code == 0, cls.agent.tail()

    def server(self, path, count=1):
        return self.collector.wait_spans(
            lambda s: s["kind"] == T.SPAN_KIND_SERVER and attr(s, "url.path") == path and
            s["resource"].get("process.executable.name") == "nginx",
            count=count, what="nginx SERVER spans for %s" % path)

    def client(self, exe, marker, count=1):
        return self.collector.wait_spans(
            lambda s: s["kind"] == T.SPAN_KIND_CLIENT and marker in (attr(s, "url.full") or "") and
            s["resource"].get("process.executable.name", "").startswith(exe),
            count=count, what="%s CLIENT spans for %s" % (exe, marker))

    def test_curl_to_nginx(self):
        T.curl(self.nginx.url("/small.txt?c=one"), "-k")
        cli = self.client("curl", "c=one")
        self.assertEqual(len(cli), 1, self.dump(cli))
        c = cli[0]
        srv = self.collector.wait_spans(
            lambda s: s["kind"] == T.SPAN_KIND_SERVER and attr(s, "url.query") == "c=one",
            what="nginx's span of curl's request")
        self.assertTrue(attr(c, "url.full").startswith("https://127.0.0.1:%d/" % self.nginx.port),
                        self.dump([c]))
        self.assertEqual(attr(c, "http.response.status_code"), 200)
        linked = [s for s in srv if s["parent_span_id"] == c["span_id"]]
        self.assertEqual(len(linked), 1, "nginx's span is not curl's child\n" + self.dump(srv + [c]))
        s = linked[0]
        self.assertEqual(s["trace_id"], c["trace_id"])
        self.assertEqual(attr(s, "url.scheme"), "https")
        self.assertEqual(attr(s, "http.response.status_code"), 200)
        # The client span encloses the server span.
        self.assertLessEqual(int(c["start"]), int(s["start"]))
        self.assertGreaterEqual(int(c["end"]), int(s["end"]))

    def test_keepalive_many_requests_one_connection(self):
        urls = [self.nginx.url("/small.txt?k=%d" % i) for i in range(30)]
        res = T.curl(urls, "-k")
        self.assertEqual(len({r["local_port"] for r in res}), 1, "curl used several connections")
        cli = self.client("curl", "k=", count=30)
        ids = {c["span_id"] for c in cli}
        srv = self.collector.wait_spans(
            lambda s: s["kind"] == T.SPAN_KIND_SERVER and s["parent_span_id"] in ids,
            count=30, what="nginx SERVER spans linked to curl's 30")
        self.assertEqual(len(srv), 30, self.dump(srv))
        for s in srv:
            self.assertEqual(attr(s, "url.scheme"), "https")

    def test_large_response(self):
        T.curl(self.nginx.url("/large.bin?big=1"), "-k")
        c = self.client("curl", "big=1")[0]
        srv = self.collector.wait_spans(
            lambda s: s["kind"] == T.SPAN_KIND_SERVER and s["parent_span_id"] == c["span_id"],
            what="nginx span of the 1 MiB response")
        self.assertEqual(attr(srv[0], "http.response.status_code"), 200)
        self.assertEqual(attr(c, "http.response.status_code"), 200)
        self.assertGreaterEqual(int(c["end"]), int(srv[0]["end"]))

    def test_connection_opened_before_the_agent(self):
        self.early.request("GET", "/small.txt?early=after")
        self.early.getresponse().read()
        cli = self.client("python", "early=after")
        srv = self.collector.wait_spans(
            lambda s: s["kind"] == T.SPAN_KIND_SERVER and s["parent_span_id"] == cli[0]["span_id"],
            what="nginx span on the pre-existing TLS connection")
        self.assertEqual(attr(srv[0], "url.scheme"), "https")

    def test_python_https_server_calling_https_upstream(self):
        d = T.workdir("pytls")
        make_cert(d)
        (d / "server.py").write_text(PY_TLS_SERVER)
        p = T.spawn([sys.executable, "-u", str(d / "server.py"), str(d / "cert.pem"),
                     str(d / "key.pem"), "https://127.0.0.1:%d" % self.nginx.port], "py-tls",
                    stdout=subprocess.PIPE)
        port = T.read_json_line(p, 20, "python https server")["port"]
        try:
            # libssl.so.3 is probed for every process that maps it, this one too.
            T.curl("https://127.0.0.1:%d/chain-one" % port, "-k")
            cli = self.client("curl", "/chain-one")[0]
            py = self.collector.wait_spans(
                lambda s: s["kind"] == T.SPAN_KIND_SERVER and s["parent_span_id"] == cli["span_id"],
                what="the Python HTTPS server's span")[0]
            self.assertEqual(attr(py, "url.scheme"), "https")
            up = self.collector.wait_spans(
                lambda s: s["kind"] == T.SPAN_KIND_CLIENT and s["parent_span_id"] == py["span_id"],
                what="the Python server's call, child of its request")[0]
            self.assertIn("from=chain-one", attr(up, "url.full"))
            self.assertTrue(attr(up, "url.full").startswith("https://"))
            ng = self.collector.wait_spans(
                lambda s: s["kind"] == T.SPAN_KIND_SERVER and s["parent_span_id"] == up["span_id"],
                what="nginx's span, child of the Python server's call")[0]
            self.assertEqual(len({cli["trace_id"], py["trace_id"], up["trace_id"], ng["trace_id"]}), 1)
        finally:
            T.stop_process(p)

    def test_ciphertext_never_becomes_a_span(self):
        # Every span on nginx's port says https: none was parsed from TLS records.
        spans = [s for s in self.collector.spans()
                 if attr(s, "server.port") == self.nginx.port or attr(s, "network.peer.port") == self.nginx.port]
        for s in spans:
            scheme = attr(s, "url.scheme") or (attr(s, "url.full") or "").split(":", 1)[0]
            self.assertEqual(scheme, "https", self.dump([s]))


if __name__ == "__main__":
    T.main([TLS])
