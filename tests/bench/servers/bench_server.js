// SPDX-License-Identifier: Apache-2.0
// A tiny Node.js http service for tests/bench/overhead.sh: every request gets
// 200 and 512 bytes, keep-alive.
//   node bench_server.js PORT
// Prints {"event":"listening","port":N,"pid":P} once listening.
'use strict';
const http = require('http');

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
	process.stderr.write('usage: node bench_server.js PORT\n');
	process.exit(2);
}
const body = Buffer.alloc(512, 'x');
const server = http.createServer((req, res) => {
	res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': body.length });
	res.end(body);
});
server.keepAliveTimeout = 65000;
server.listen(port, '127.0.0.1', () => {
	process.stdout.write(JSON.stringify({ event: 'listening', port, pid: process.pid }) + '\n');
});
process.on('SIGTERM', () => process.exit(0));
