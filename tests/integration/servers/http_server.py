#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A threaded Python stdlib HTTP/1.1 service for the integration tests.

    python3 http_server.py [--host 127.0.0.1] [--port 0] [--port ...]

Listens on every --port given (0 = ephemeral) on --host, all in this one
process, and prints one JSON line on stdout once listening:
    {"event": "listening", "host": "127.0.0.1", "ports": [40123], "pid": 1234}

Routes (all answer with Content-Length, keep-alive unless the client asks
otherwise or speaks HTTP/1.0):
    GET  /users/<id>          200, a small JSON body
    GET  /status/<code>       that status code, a short text body
    GET  /big/<bytes>         200, a body of that many bytes, written in 64 KiB pieces
    POST /echo  (any path /echo*)  reads the body (Content-Length or chunked), 200,
                              answers {"received": N}
    anything else GET         200 "ok" for / and /p/..., /pre/..., /q..., else 404
SIGTERM exits at once.
"""
import argparse
import json
import os
import signal
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNK = 64 * 1024
MAX_BIG = 256 * 1024 * 1024


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "spanbpf-test/1"

    def log_message(self, fmt, *args):  # keep stderr for real problems
        pass

    def send_body(self, code, body, ctype="text/plain"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def read_body(self):
        """The request body: Content-Length or chunked; b'' when neither."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                line = self.rfile.readline(1024)
                if not line:
                    raise ConnectionError("eof in chunk size")
                size = int(line.split(b";")[0].strip(), 16)
                if size < 0 or size > MAX_BIG:
                    raise ValueError("chunk size %d" % size)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline(16)  # CRLF after the chunk
            return b"".join(parts)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path.startswith("/users/"):
            uid = path[len("/users/"):]
            self.send_body(200, json.dumps({"id": uid, "name": "user" + uid}).encode(),
                           "application/json")
        elif path.startswith("/status/"):
            try:
                code = int(path[len("/status/"):])
            except ValueError:
                code = 400
            if not 200 <= code <= 599:
                code = 400
            self.send_body(code, ("status %d\n" % code).encode())
        elif path.startswith("/big/"):
            try:
                n = min(int(path[len("/big/"):]), MAX_BIG)
            except ValueError:
                return self.send_body(400, b"bad size\n")
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(n))
            self.end_headers()
            block = b"x" * CHUNK
            left = n
            while left > 0:
                k = min(left, CHUNK)
                self.wfile.write(block[:k])
                left -= k
        elif path == "/" or path.startswith(("/p/", "/pre/", "/q", "/ok")):
            self.send_body(200, b"ok\n")
        else:
            self.send_body(404, b"not found\n")

    do_HEAD = do_GET

    def do_POST(self):
        try:
            body = self.read_body()
        except (ValueError, ConnectionError):
            self.close_connection = True
            return self.send_body(400, b"bad body\n")
        if self.path.split("?", 1)[0].startswith("/echo"):
            self.send_body(200, json.dumps({"received": len(body)}).encode(), "application/json")
        else:
            self.send_body(404, b"not found\n")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def make_server(host, port):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET

    class S(Server):
        address_family = family
    return S((host, port), Handler)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, action="append")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    servers = [make_server(args.host, p) for p in (args.port or [0])]
    for s in servers[1:]:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    print(json.dumps({"event": "listening", "host": args.host,
                      "ports": [s.server_address[1] for s in servers],
                      "pid": os.getpid()}), flush=True)
    try:
        servers[0].serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass


if __name__ == "__main__":
    main()
