#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A service that calls another one: the middle of a traced call chain.

    python3 chain_server.py [--host 127.0.0.1] [--port 0] [--next http://host:port]
                            [--propagate]

Prints one JSON line once listening:
    {"event": "listening", "host": "127.0.0.1", "port": 40123, "pid": 1234}

GET /chain/<tag>: with --next, first calls GET <next>/chain/<tag> (a new
connection per call, like urllib does) and answers with its body; without
--next answers "<tag>".  --propagate copies the inbound traceparent header
onto the outbound call, as an instrumented application would.
SIGTERM exits at once.
"""
import argparse
import json
import os
import signal
import socket
import sys
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "spanbpf-chain/1"
    next_url = None
    propagate = False

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        if not self.path.startswith("/chain/"):
            body, code = b"not found\n", 404
        elif self.next_url:
            req = urllib.request.Request(self.next_url + self.path)
            tp = self.headers.get("traceparent")
            if self.propagate and tp:
                req.add_header("traceparent", tp)
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    body, code = r.read(), 200
            except Exception as e:  # the test sees a 502 and the agent an error span
                body, code = ("upstream: %s\n" % e).encode(), 502
        else:
            body, code = self.path[len("/chain/"):].encode(), 200
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--next")
    ap.add_argument("--propagate", action="store_true")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    Handler.next_url = args.next
    Handler.propagate = args.propagate

    class S(Server):
        address_family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    srv = S((args.host, args.port), Handler)
    print(json.dumps({"event": "listening", "host": args.host, "port": srv.server_address[1],
                      "pid": os.getpid()}), flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
