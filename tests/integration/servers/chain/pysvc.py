#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The chain's Python tier and its leaf (see README.md).

    python3 pysvc.py --port P [--next http://127.0.0.1:Q] [--name python]

A ThreadingHTTPServer (a thread per connection).  With --next, GET /r/<id>/...
calls <next>/r/<id>/... with urllib.request (a new connection per call) and
answers "<name>:<id>;" + its body; without --next it is a leaf and answers
"<name>:<id>".  Prints {"event": "listening", ...} once listening.
"""
import argparse
import json
import os
import re
import signal
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROUTE = re.compile(r"^/r/([A-Za-z0-9_-]{1,64})(/|$)")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    next_url = None
    name = "python"

    def log_message(self, fmt, *args):
        pass

    def answer(self, code, body):
        body = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        m = ROUTE.match(self.path)
        if not m:
            self.answer(404, "not found\n")
            return
        rid = m.group(1)
        if not self.next_url:
            self.answer(200, "%s:%s" % (self.name, rid))
            return
        try:
            with urllib.request.urlopen(self.next_url + self.path, timeout=10) as r:
                body = r.read().decode()
        except Exception as e:  # the client sees 502 and the error
            self.answer(502, "%s:%s: upstream: %s\n" % (self.name, rid, e))
            return
        self.answer(200, "%s:%s;%s" % (self.name, rid, body))


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--next")
    ap.add_argument("--name", default="python")
    a = ap.parse_args()
    Handler.next_url = a.next
    Handler.name = a.name
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    # urllib must not go through a proxy: calls stay on 127.0.0.1.
    urllib.request.install_opener(urllib.request.build_opener(urllib.request.ProxyHandler({})))
    srv = Server(("127.0.0.1", a.port), Handler)
    print(json.dumps({"event": "listening", "tier": a.name, "port": srv.server_address[1],
                      "pid": os.getpid()}), flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
