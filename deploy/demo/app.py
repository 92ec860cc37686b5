#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The demo services of deploy/docker-compose.yml (python3 stdlib only).

    python3 app.py backend  [--port 8081]
    python3 app.py frontend [--port 8080] [--backend http://backend:8081]
    python3 app.py loadgen  [--target http://frontend:8080] [--interval 2]

backend   GET /api/items/<id>  answers a small JSON item (404 for id 0, 500 for id 13);
frontend  GET /shop/<id>       fetches /api/items/<id> from the backend (a new
                               connection each time) and wraps the answer;
loadgen   requests /shop/<n> from the frontend every --interval seconds.

None of them knows about tracing: spanbpf sees their HTTP traffic in the
kernel and links the frontend's outgoing call to the request it serves and
to the backend's span.  Each service is named by its OTEL_SERVICE_NAME.
"""
import argparse
import http.client
import json
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    backend = None

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

    def reply(self, status, obj):
        body = json.dumps(obj).encode() + b"\n"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def item_id(self, prefix):
        rest = self.path.split("?", 1)[0][len(prefix):]
        return int(rest) if rest.isdigit() else None

    def do_GET(self):
        if self.path == "/healthz":
            self.reply(200, {"ok": True})
        elif self.backend is None and self.path.startswith("/api/items/"):
            self.serve_item()
        elif self.backend is not None and self.path.startswith("/shop/"):
            self.serve_shop()
        else:
            self.reply(404, {"error": "not found"})

    def serve_item(self):
        i = self.item_id("/api/items/")
        if i is None or i == 0:
            self.reply(404, {"error": "no such item"})
        elif i == 13:
            self.reply(500, {"error": "unlucky"})
        else:
            time.sleep(0.01)
            self.reply(200, {"id": i, "name": "item-%d" % i, "price": round(i * 1.25, 2)})

    def serve_shop(self):
        i = self.item_id("/shop/")
        if i is None:
            self.reply(404, {"error": "not found"})
            return
        u = urllib.parse.urlsplit(self.backend)
        conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=5)
        try:
            conn.request("GET", "/api/items/%d" % i)
            r = conn.getresponse()
            item = json.loads(r.read() or b"null")
            status = 200 if r.status == 200 else 502
        except (OSError, ValueError) as e:
            item, status = {"error": str(e)}, 502
        finally:
            conn.close()
        self.reply(status, {"shop": "demo", "item": item})


def serve(port, backend=None):
    Handler.backend = backend
    srv = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    srv.daemon_threads = True
    print("listening on :%d" % port, flush=True)
    srv.serve_forever()


def loadgen(target, interval):
    u = urllib.parse.urlsplit(target)
    n = 0
    while True:
        n += 1
        # Mostly good items, now and then a missing (404) and a failing (500) one.
        i = 13 if n % 10 == 0 else (0 if n % 7 == 0 else n % 100 + 1)
        conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=10)
        try:
            conn.request("GET", "/shop/%d" % i)
            r = conn.getresponse()
            r.read()
            print("GET /shop/%d -> %d" % (i, r.status), flush=True)
        except OSError as e:
            print("GET /shop/%d failed: %s" % (i, e), flush=True)
        finally:
            conn.close()
        time.sleep(interval)


def main():
    ap = argparse.ArgumentParser(description="spanbpf demo services")
    ap.add_argument("role", choices=["backend", "frontend", "loadgen"])
    ap.add_argument("--port", type=int)
    ap.add_argument("--backend", default="http://backend:8081")
    ap.add_argument("--target", default="http://frontend:8080")
    ap.add_argument("--interval", type=float, default=2.0)
    a = ap.parse_args()
    if a.role == "backend":
        serve(a.port or 8081)
    elif a.role == "frontend":
        serve(a.port or 8080, a.backend)
    else:
        loadgen(a.target, a.interval)


if __name__ == "__main__":
    main()
