#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A tiny ThreadingHTTPServer for tests/bench/overhead.sh: 200 and 512 bytes, keep-alive.

    python3 bench_server.py PORT

Prints {"event": "listening", "port": N, "pid": P} once listening.
"""
import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BODY = b"x" * 512


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Head and body are two writes: without TCP_NODELAY the second waits for a
    # delayed ACK (40 ms) and the benchmark measures that, not the server.
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def main():
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        sys.exit("usage: bench_server.py PORT")
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    srv = Server(("127.0.0.1", int(sys.argv[1])), Handler)
    print(json.dumps({"event": "listening", "port": srv.server_address[1], "pid": os.getpid()}),
          flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
