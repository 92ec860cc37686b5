#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
//
// selftest.js - checks collector.js on its own: requests encoded with the
// upstream root.js (fromObject/encode) are posted plain and gzipped, bad
// bodies are rejected with 400 and recorded, scripted answers work, and the
// span and request files hold what was sent.
//
// Usage: node selftest.js    (exit 0 pass, 1 fail; last line "N passed, M failed")
'use strict';

const assert = require('assert');
const { spawn } = require('child_process');
const fs = require('fs');
const http = require('http');
const os = require('os');
const path = require('path');
const zlib = require('zlib');

const root = require('@opentelemetry/otlp-transformer/build/src/generated/root.js');
const pb = root.opentelemetry.proto.collector.trace.v1;

const TRACE_ID = Buffer.from('0af7651916cd43dd8448eb211c80319c', 'hex');
const SPAN_ID = Buffer.from('b7ad6b7169203331', 'hex');
const PARENT_ID = Buffer.from('00f067aa0ba902b7', 'hex');

function kv(key, value) {
	if (typeof value === 'string')
		return { key, value: { stringValue: value } };
	if (typeof value === 'boolean')
		return { key, value: { boolValue: value } };
	if (Number.isInteger(value))
		return { key, value: { intValue: value } };
	return { key, value: { doubleValue: value } };
}

function sampleRequest(name, nspans) {
	const spans = [];
	for (let i = 0; i < nspans; i++) {
		spans.push({
			traceId: TRACE_ID,
			spanId: SPAN_ID,
			parentSpanId: i === 0 ? undefined : PARENT_ID,
			name,
			kind: 2,
			startTimeUnixNano: '1795000000123456789',
			endTimeUnixNano: '1795000000223456789',
			attributes: [
				kv('http.request.method', 'GET'),
				kv('url.path', '/users/42'),
				kv('http.response.status_code', 500),
				kv('server.port', 8080),
				kv('flag', true),
				kv('ratio', 0.5),
			],
			status: { code: 2, message: 'boom' },
		});
	}
	return pb.ExportTraceServiceRequest.encode(pb.ExportTraceServiceRequest.fromObject({
		resourceSpans: [{
			resource: {
				attributes: [kv('service.name', 'orders'), kv('process.pid', 4242),
					kv('host.name', 'h1')],
			},
			scopeSpans: [{ scope: { name: 'spanbpf', version: '0.1.0' }, spans }],
		}],
	})).finish();
}

function post(port, body, headers, pathName) {
	return new Promise((resolve, reject) => {
		const req = http.request({
			host: '127.0.0.1', port, method: 'POST', path: pathName || '/v1/traces',
			headers: Object.assign({ 'Content-Length': body.length }, headers),
			agent: false,
		}, (res) => {
			const chunks = [];
			res.on('data', (c) => chunks.push(c));
			res.on('end', () => resolve({ status: res.statusCode, headers: res.headers,
				body: Buffer.concat(chunks) }));
		});
		req.setTimeout(10000, () => req.destroy(new Error('timeout')));
		req.on('error', reject);
		req.end(body);
	});
}

function readLines(file) {
	if (!fs.existsSync(file))
		return [];
	return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l).map((l) => JSON.parse(l));
}

function startCollector(dir, extra) {
	return new Promise((resolve, reject) => {
		const child = spawn(process.execPath, [path.join(__dirname, 'collector.js'), '--port', '0',
			'--out', path.join(dir, 'spans.jsonl'), '--requests', path.join(dir, 'requests.jsonl'),
			'--stats', path.join(dir, 'stats.json')].concat(extra || []),
		{ stdio: ['ignore', 'pipe', 'inherit'] });
		let buf = '';
		const timer = setTimeout(() => { child.kill(); reject(new Error('collector did not start in 10s')); }, 10000);
		child.stdout.on('data', (d) => {
			buf += d;
			const nl = buf.indexOf('\n');
			if (nl >= 0) {
				clearTimeout(timer);
				resolve({ child, info: JSON.parse(buf.slice(0, nl)) });
			}
		});
		child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`collector exited ${code}`)); });
	});
}

// SIGTERM, then wait (at most 5 s, then SIGKILL) until the child has exited:
// it writes its stats file on the way out.
function stopChild(child) {
	return new Promise((resolve) => {
		if (child.exitCode !== null || child.signalCode !== null)
			return resolve();
		const t = setTimeout(() => { child.kill('SIGKILL'); }, 5000);
		child.on('exit', () => { clearTimeout(t); resolve(); });
		child.kill('SIGTERM');
	});
}

async function main() {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'collector-selftest-'));
	const behavior = path.join(dir, 'behavior.json');
	fs.writeFileSync(behavior, JSON.stringify({ responses: [] }));
	const { child, info } = await startCollector(dir, ['--behavior', behavior]);
	const results = [];
	const check = async (name, fn) => {
		try {
			await fn();
			results.push([name, null]);
			console.log(`ok   ${name}`);
		} catch (e) {
			results.push([name, e]);
			console.log(`FAIL ${name}: ${e.stack || e}`);
		}
	};
	const spansFile = path.join(dir, 'spans.jsonl');
	const reqFile = path.join(dir, 'requests.jsonl');
	try {
		assert.strictEqual(info.event, 'listening');
		assert.ok(info.port > 0);
		const port = info.port;

		await check('plain protobuf is decoded and answered with an empty response', async () => {
			const r = await post(port, sampleRequest('GET /users/{id}', 1),
				{ 'Content-Type': 'application/x-protobuf', 'User-Agent': 'selftest/1' });
			assert.strictEqual(r.status, 200);
			assert.strictEqual(r.headers['content-type'], 'application/x-protobuf');
			const resp = pb.ExportTraceServiceResponse.decode(r.body);
			assert.ok(!resp.partialSuccess, 'no partial success by default');
			const spans = readLines(spansFile);
			assert.strictEqual(spans.length, 1);
			const s = spans[0];
			assert.strictEqual(s.trace_id, '0af7651916cd43dd8448eb211c80319c');
			assert.strictEqual(s.span_id, 'b7ad6b7169203331');
			assert.strictEqual(s.parent_span_id, '');
			assert.strictEqual(s.name, 'GET /users/{id}');
			assert.strictEqual(s.kind, 2);
			assert.strictEqual(s.start, '1795000000123456789');
			assert.strictEqual(s.end, '1795000000223456789');
			assert.deepStrictEqual(s.status, { code: 2, message: 'boom' });
			assert.deepStrictEqual(s.attributes, {
				'http.request.method': 'GET', 'url.path': '/users/42',
				'http.response.status_code': 500, 'server.port': 8080, flag: true, ratio: 0.5,
			});
			assert.deepStrictEqual(s.resource, { 'service.name': 'orders', 'process.pid': 4242, 'host.name': 'h1' });
			assert.deepStrictEqual(s.scope, { name: 'spanbpf', version: '0.1.0' });
			const reqs = readLines(reqFile);
			assert.strictEqual(reqs.length, 1);
			assert.strictEqual(reqs[0].headers['content-type'], 'application/x-protobuf');
			assert.strictEqual(reqs[0].headers['content-encoding'], null);
			assert.strictEqual(reqs[0].headers['user-agent'], 'selftest/1');
			assert.strictEqual(reqs[0].error, null);
			assert.strictEqual(reqs[0].spans, 1);
		});

		await check('gzip protobuf is gunzipped and decoded', async () => {
			const raw = sampleRequest('GET', 3);
			const gz = zlib.gzipSync(raw);
			const r = await post(port, gz, { 'Content-Type': 'application/x-protobuf', 'Content-Encoding': 'gzip' });
			assert.strictEqual(r.status, 200);
			const spans = readLines(spansFile);
			assert.strictEqual(spans.length, 4);
			assert.strictEqual(spans[3].parent_span_id, '00f067aa0ba902b7');
			const reqs = readLines(reqFile);
			assert.strictEqual(reqs[1].headers['content-encoding'], 'gzip');
			assert.strictEqual(reqs[1].body_bytes, gz.length);
			assert.strictEqual(reqs[1].decoded_bytes, raw.length);
			assert.strictEqual(reqs[1].error, null);
		});

		await check('garbage body is rejected with 400 and recorded', async () => {
			const r = await post(port, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02]),
				{ 'Content-Type': 'application/x-protobuf' });
			assert.strictEqual(r.status, 400);
			const reqs = readLines(reqFile);
			assert.match(reqs[2].error, /^decode: /);
			assert.strictEqual(reqs[2].status, 400);
			assert.strictEqual(readLines(spansFile).length, 4, 'no spans from a bad body');
		});

		await check('truncated protobuf is rejected with 400', async () => {
			const raw = sampleRequest('GET', 1);
			const r = await post(port, raw.subarray(0, raw.length - 7), { 'Content-Type': 'application/x-protobuf' });
			assert.strictEqual(r.status, 400);
		});

		await check('bad gzip is rejected with 400', async () => {
			const r = await post(port, sampleRequest('GET', 1),
				{ 'Content-Type': 'application/x-protobuf', 'Content-Encoding': 'gzip' });
			assert.strictEqual(r.status, 400);
			assert.match(readLines(reqFile).pop().error, /^gunzip: /);
		});

		await check('wrong content type is rejected with 415', async () => {
			const r = await post(port, Buffer.from('{}'), { 'Content-Type': 'application/json' });
			assert.strictEqual(r.status, 415);
		});

		await check('wrong path is rejected with 404', async () => {
			const r = await post(port, sampleRequest('GET', 1), { 'Content-Type': 'application/x-protobuf' }, '/v1/logs');
			assert.strictEqual(r.status, 404);
		});

		await check('scripted 503 + Retry-After, then partial success, then default 200', async () => {
			// A distinct size makes the mtime/size change visible even within one clock tick.
			fs.writeFileSync(behavior, JSON.stringify({
				responses: [
					{ status: 503, headers: { 'Retry-After': '2' } },
					{ partial_success: { rejected_spans: 1, error_message: 'too old' } },
				],
			}));
			const body = sampleRequest('GET', 1);
			const hdr = { 'Content-Type': 'application/x-protobuf' };
			const r1 = await post(port, body, hdr);
			assert.strictEqual(r1.status, 503);
			assert.strictEqual(r1.headers['retry-after'], '2');
			assert.strictEqual(readLines(spansFile).length, 4, 'rejected request records no spans');
			const r2 = await post(port, body, hdr);
			assert.strictEqual(r2.status, 200);
			const resp = pb.ExportTraceServiceResponse.decode(r2.body);
			assert.strictEqual(Number(resp.partialSuccess.rejectedSpans), 1);
			assert.strictEqual(resp.partialSuccess.errorMessage, 'too old');
			const r3 = await post(port, body, hdr);
			assert.strictEqual(r3.status, 200);
			assert.strictEqual(readLines(spansFile).length, 6);
		});

		await check('stats file holds running totals', async () => {
			const st = JSON.parse(fs.readFileSync(path.join(dir, 'stats.json'), 'utf8'));
			assert.strictEqual(st.spans, 6);
			assert.strictEqual(st.requests, 10);
			assert.strictEqual(st.decode_errors, 5);
		});
	} finally {
		await stopChild(child);
	}
	// --discard: counts only (the benchmark's mode), no span file.
	const dir2 = fs.mkdtempSync(path.join(os.tmpdir(), 'collector-selftest-discard-'));
	let second = null;
	try {
		second = await new Promise((resolve, reject) => {
			const child2 = spawn(process.execPath, [path.join(__dirname, 'collector.js'), '--port', '0',
				'--discard', '--stats', path.join(dir2, 'stats.json')], { stdio: ['ignore', 'pipe', 'inherit'] });
			let buf = '';
			const timer = setTimeout(() => { child2.kill(); reject(new Error('no start')); }, 10000);
			child2.stdout.on('data', (d) => {
				buf += d;
				if (buf.includes('\n')) {
					clearTimeout(timer);
					resolve({ child: child2, port: JSON.parse(buf.split('\n')[0]).port });
				}
			});
		});
		await check('--discard counts spans by kind and SERVER spans by server.port', async () => {
			const r = await post(second.port, zlib.gzipSync(sampleRequest('GET', 3)),
				{ 'Content-Type': 'application/x-protobuf', 'Content-Encoding': 'gzip' });
			assert.strictEqual(r.status, 200);
			const st = JSON.parse(fs.readFileSync(path.join(dir2, 'stats.json'), 'utf8'));
			assert.strictEqual(st.spans, 3);
			assert.deepStrictEqual(st.spans_by_kind, { 2: 3 });
			assert.deepStrictEqual(st.server_spans_by_port, { 8080: 3 });
			assert.deepStrictEqual(fs.readdirSync(dir2).sort(), ['stats.json']);
		});
	} catch (e) {
		results.push(['--discard collector', e]);
		console.log(`FAIL --discard collector: ${e.stack || e}`);
	} finally {
		if (second)
			await stopChild(second.child);
		fs.rmSync(dir2, { recursive: true, force: true });
	}

	const failed = results.filter((r) => r[1]).length;
	if (!failed)
		fs.rmSync(dir, { recursive: true, force: true });
	else
		console.log(`collector output kept in ${dir}`);
	console.log(`${results.length - failed} passed, ${failed} failed`);
	process.exit(failed ? 1 : 0);
}

main().catch((e) => {
	console.log(`FAIL selftest: ${e.stack || e}`);
	console.log('0 passed, 1 failed');
	process.exit(1);
});
