// SPDX-License-Identifier: Apache-2.0
// The chain's front tier (see README.md): a Node.js stdlib http server that
// calls the next tier with http.get on the default global agent (keep-alive,
// pooled), or with global fetch when the path has a segment "n=fetch".
//   node front.js --port P --next http://127.0.0.1:Q
'use strict';
const http = require('http');

function args(argv) {
	const o = { port: 0, next: null };
	for (let i = 0; i < argv.length; i += 2) {
		if (argv[i] === '--port')
			o.port = Number(argv[i + 1]);
		else if (argv[i] === '--next')
			o.next = argv[i + 1];
		else
			usage();
	}
	if (!Number.isInteger(o.port) || o.port <= 0 || o.port > 65535 || !o.next)
		usage();
	return o;
}

function usage() {
	process.stderr.write('usage: node front.js --port P --next http://127.0.0.1:Q\n');
	process.exit(2);
}

const opts = args(process.argv.slice(2));
const ROUTE = /^\/r\/([A-Za-z0-9_-]{1,64})(\/|$)/;

// GET url with http.get (global agent): resolves to the body, rejects on error or non-2xx.
function viaHttpGet(url) {
	return new Promise((resolve, reject) => {
		const req = http.get(url, (res) => {
			const chunks = [];
			res.on('data', (c) => chunks.push(c));
			res.on('end', () => {
				const body = Buffer.concat(chunks).toString();
				if (res.statusCode >= 200 && res.statusCode < 300)
					resolve(body);
				else
					reject(new Error(`status ${res.statusCode}: ${body}`));
			});
			res.on('error', reject);
		});
		req.setTimeout(10000, () => req.destroy(new Error('timeout')));
		req.on('error', reject);
	});
}

async function viaFetch(url) {
	const res = await fetch(url, { signal: AbortSignal.timeout(10000) });
	const body = await res.text();
	if (!res.ok)
		throw new Error(`status ${res.status}: ${body}`);
	return body;
}

const server = http.createServer((req, res) => {
	const m = ROUTE.exec(req.url);
	if (req.method !== 'GET' || !m) {
		res.writeHead(404, { 'Content-Type': 'text/plain' });
		res.end('not found\n');
		return;
	}
	const id = m[1];
	const call = req.url.split('/').includes('n=fetch') ? viaFetch : viaHttpGet;
	call(opts.next + req.url).then((body) => {
		const out = `front:${id};${body}`;
		res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(out) });
		res.end(out);
	}, (err) => {
		const out = `front:${id}: upstream: ${err.message}\n`;
		res.writeHead(502, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(out) });
		res.end(out);
	});
});
server.keepAliveTimeout = 30000;
server.listen(opts.port, '127.0.0.1', () => {
	process.stdout.write(JSON.stringify({ event: 'listening', tier: 'front', port: opts.port,
		pid: process.pid }) + '\n');
});
process.on('SIGTERM', () => process.exit(0));
