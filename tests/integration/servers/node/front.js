// SPDX-License-Identifier: Apache-2.0
// A Node.js http server for test_node.py.  GET /get/<id> calls the next
// service with http.get on the global agent (keep-alive, pooled); /fetch/<id>
// with global fetch; /then/<id> calls with http.get, then again from the
// first call's response callback.  Every call carries <id> in its path.
// Prints {"port": N} when listening.
//   node front.js NEXT_URL
'use strict';
const http = require('http');
const next = process.argv[2];

function get(url) {
	return new Promise((resolve, reject) => {
		http.get(url, (res) => {
			res.resume();
			res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error('status ' + res.statusCode))));
		}).on('error', reject);
	});
}

const server = http.createServer((req, res) => {
	const m = /^\/(get|fetch|then)\/([A-Za-z0-9_-]+)$/.exec(req.url);
	if (!m) {
		res.writeHead(404);
		res.end('no\n');
		return;
	}
	const [, how, id] = m;
	let call;
	if (how === 'get')
		call = get(`${next}/p/get/${id}`);
	else if (how === 'fetch')
		call = fetch(`${next}/p/fetch/${id}`).then((r) => r.text());
	else
		call = get(`${next}/p/then1/${id}`).then(() => get(`${next}/p/then2/${id}`));
	call.then(() => res.end(`node ${id}\n`), (e) => {
		res.writeHead(502);
		res.end(String(e) + '\n');
	});
});
server.listen(0, '127.0.0.1', () => {
	process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
});
