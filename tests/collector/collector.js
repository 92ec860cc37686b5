#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
//
// collector.js - a test OTLP/HTTP trace collector for spanbpf.
//
// It decodes with the upstream OpenTelemetry JS generated code
// (@opentelemetry/otlp-transformer/build/src/generated/root.js, built from the
// official opentelemetry-proto files), never with this project's own .proto
// files, so the tests prove the agent's wire format against upstream.
//
// Usage:
//   node collector.js [--host 127.0.0.1] [--port 0] [--out spans.jsonl]
//                     [--requests requests.jsonl] [--stats stats.json]
//                     [--discard] [--behavior behavior.json]
//                     [--tls-cert cert.pem --tls-key key.pem [--tls-client-ca ca.pem]]
//
// When listening it prints one JSON line on stdout:
//   {"event":"listening","host":"127.0.0.1","port":40123,"pid":...}
//
// Output (all appended, one JSON object a line):
//   --out       one line per span (see spanRecord() for the fields)
//   --requests  one line per HTTP request received (headers, sizes, answer, error)
//   --stats     rewritten (atomically) after every request: running totals
// --discard counts spans without writing span lines (for the benchmark).
// --tls-client-ca makes the TLS server require a client certificate signed by
// that CA (mutual TLS); a handshake without one fails and is not a request.
// Each --requests line also has "all_headers": every request header, names
// in lower case.
//
// Control is out of band on purpose: every HTTP request to the collector's
// port would otherwise be a candidate span for the agent under test, and the
// tests assert that nothing on this port is ever traced.  --behavior names a
// JSON file, re-read whenever it changes, that scripts the answers:
//   {
//     "responses": [                      // consumed in order, one per request
//       {"status": 503, "headers": {"Retry-After": "1"}},
//       {"status": 429},
//       {"status": 400, "message": "bad"},
//       {"hang_ms": 5000},                // wait this long before answering; a client
//                                         // gone by then gets nothing and its spans do
//                                         // not count ("accepted": false, "error" says so)
//       {"partial_success": {"rejected_spans": 2, "error_message": "x"}}
//     ],
//     "default": {"status": 200}          // after the list runs out
//   }
// A scripted non-2xx answer still decodes and records the request (with
// "accepted": false) but does not record its spans.  SIGHUP reopens nothing
// and is ignored; SIGTERM/SIGINT close the server and exit 0.
'use strict';

const fs = require('fs');
const http = require('http');
const https = require('https');
const path = require('path');
const zlib = require('zlib');

const ROOT_MODULE = '@opentelemetry/otlp-transformer/build/src/generated/root.js';
const MAX_BODY = 64 * 1024 * 1024;

function usage(msg) {
	if (msg)
		process.stderr.write(`collector: ${msg}\n`);
	process.stderr.write('usage: collector.js [--host H] [--port N] [--out FILE] [--requests FILE] ' +
		'[--stats FILE] [--discard] [--behavior FILE] [--tls-cert F --tls-key F ' +
		'[--tls-client-ca F]]\n');
	process.exit(2);
}

function parseArgs(argv) {
	const opts = {
		host: '127.0.0.1', port: 0, out: null, requests: null, stats: null,
		discard: false, behavior: null, tlsCert: null, tlsKey: null, tlsClientCa: null,
	};
	const valued = {
		'--host': 'host', '--port': 'port', '--out': 'out', '--requests': 'requests',
		'--stats': 'stats', '--behavior': 'behavior', '--tls-cert': 'tlsCert',
		'--tls-key': 'tlsKey', '--tls-client-ca': 'tlsClientCa',
	};
	for (let i = 0; i < argv.length; i++) {
		const a = argv[i];
		if (a === '--discard') {
			opts.discard = true;
		} else if (a === '-h' || a === '--help') {
			usage();
		} else if (valued[a]) {
			if (i + 1 >= argv.length)
				usage(`${a} needs a value`);
			opts[valued[a]] = argv[++i];
		} else if (/^\d+$/.test(a)) {
			opts.port = a;	// bare port number, as in "collector.js 4318"
		} else {
			usage(`unknown argument ${a}`);
		}
	}
	const port = Number(opts.port);
	if (!Number.isInteger(port) || port < 0 || port > 65535)
		usage(`bad port ${opts.port}`);
	opts.port = port;
	if (!opts.out && !opts.discard)
		usage('--out FILE is required unless --discard is given');
	if (!opts.requests && opts.out)
		opts.requests = opts.out.replace(/(\.jsonl)?$/, '.requests.jsonl');
	if (!!opts.tlsCert !== !!opts.tlsKey)
		usage('--tls-cert and --tls-key go together');
	if (opts.tlsClientCa && !opts.tlsCert)
		usage('--tls-client-ca needs --tls-cert and --tls-key');
	return opts;
}

function loadRoot() {
	try {
		return require(ROOT_MODULE);
	} catch (e) {
		process.stderr.write(`collector: cannot load ${ROOT_MODULE}: ${e.message}\n` +
			`collector: run tests/collector/install.sh (npm install in ${__dirname})\n`);
		process.exit(3);
	}
}

const root = loadRoot();
const pbCollector = root.opentelemetry.proto.collector.trace.v1;
const Request = pbCollector.ExportTraceServiceRequest;
const Response = pbCollector.ExportTraceServiceResponse;

function hex(bytes) {
	if (!bytes)
		return '';
	return Buffer.from(bytes).toString('hex');
}

// Long (from the long package) or number -> number when exact, else decimal string.
function intValue(v) {
	if (v === null || v === undefined)
		return 0;
	if (typeof v === 'number')
		return v;
	if (typeof v === 'string')
		return Number.isSafeInteger(Number(v)) ? Number(v) : v;
	const s = v.toString();
	const n = Number(s);
	return Number.isSafeInteger(n) ? n : s;
}

// Unsigned 64-bit nanoseconds as a decimal string, never a lossy number.
function nanos(v) {
	if (v === null || v === undefined)
		return '0';
	if (typeof v === 'object' && typeof v.toUnsigned === 'function')
		return v.toUnsigned().toString();
	return String(v);
}

// AnyValue -> plain JSON.  Which oneof field is set is tracked by protobufjs
// as the "value" virtual oneof; fall back to probing the fields.
function anyValue(v) {
	if (!v)
		return null;
	const which = v.value || ['stringValue', 'boolValue', 'intValue', 'doubleValue',
		'arrayValue', 'kvlistValue', 'bytesValue'].find((k) => v[k] !== null && v[k] !== undefined &&
		Object.prototype.hasOwnProperty.call(v, k));
	switch (which) {
	case 'stringValue': return v.stringValue;
	case 'boolValue': return v.boolValue;
	case 'intValue': return intValue(v.intValue);
	case 'doubleValue': return v.doubleValue;
	case 'arrayValue': return (v.arrayValue.values || []).map(anyValue);
	case 'kvlistValue': return flatten(v.kvlistValue.values).attrs;
	case 'bytesValue': return hex(v.bytesValue);
	default: return null;
	}
}

// [KeyValue] -> {attrs: {key: value}, dups: [keys seen more than once]}
function flatten(kvs) {
	const attrs = {};
	const dups = [];
	for (const kv of kvs || []) {
		if (Object.prototype.hasOwnProperty.call(attrs, kv.key))
			dups.push(kv.key);
		attrs[kv.key] = anyValue(kv.value);
	}
	return { attrs, dups };
}

function spanRecord(reqSeq, resource, scope, s) {
	const a = flatten(s.attributes);
	const r = flatten(resource ? resource.attributes : []);
	const rec = {
		trace_id: hex(s.traceId),
		span_id: hex(s.spanId),
		parent_span_id: hex(s.parentSpanId),
		trace_state: s.traceState || '',
		flags: s.flags || 0,
		name: s.name,
		kind: s.kind || 0,
		start: nanos(s.startTimeUnixNano),
		end: nanos(s.endTimeUnixNano),
		status: {
			code: s.status ? (s.status.code || 0) : 0,
			message: s.status ? (s.status.message || '') : '',
		},
		attributes: a.attrs,
		resource: r.attrs,
		scope: {
			name: scope && scope.name ? scope.name : '',
			version: scope && scope.version ? scope.version : '',
		},
		events: (s.events || []).length,
		links: (s.links || []).length,
		dropped_attributes_count: s.droppedAttributesCount || 0,
		request: reqSeq,
	};
	if (a.dups.length)
		rec.duplicate_attribute_keys = a.dups;
	if (r.dups.length)
		rec.duplicate_resource_keys = r.dups;
	return rec;
}

// What --discard keeps of a span: its kind and server.port, for the counters.
// --discard for the benchmark: count spans by walking the protobuf wire format,
// without building objects (decoding 40k spans/s with root.js would make this
// collector, not the agent, the bottleneck).  Correctness is the decoding
// collector's job; this only reads kind and server.port of each span.
function varint(buf, p) {
	let v = 0, mul = 1, b;
	do {
		if (p >= buf.length)
			throw new Error('truncated varint');
		b = buf[p++];
		v += (b & 0x7f) * mul;
		mul *= 128;
	} while (b & 0x80);
	return [v, p];
}

function walk(buf, start, end, fn) {
	let p = start;
	while (p < end) {
		let tag, v;
		[tag, p] = varint(buf, p);
		const field = Math.floor(tag / 8), wt = tag & 7;
		if (wt === 0) {
			[v, p] = varint(buf, p);
			fn(field, v, -1, -1);
		} else if (wt === 2) {
			[v, p] = varint(buf, p);
			if (p + v > end)
				throw new Error('truncated field');
			fn(field, null, p, p + v);
			p += v;
		} else if (wt === 1) {
			p += 8;
		} else if (wt === 5) {
			p += 4;
		} else {
			throw new Error(`wire type ${wt}`);
		}
	}
	if (p !== end)
		throw new Error('field past its message');
}

function countSpans(buf) {
	const spans = [];
	let resourceSpans = 0;
	walk(buf, 0, buf.length, (f, v, a, b) => {
		if (f !== 1 || a < 0)
			return;
		resourceSpans++;
		walk(buf, a, b, (f2, v2, a2, b2) => {
			if (f2 !== 2 || a2 < 0)
				return;
			walk(buf, a2, b2, (f3, v3, a3, b3) => {
				if (f3 !== 2 || a3 < 0)
					return;
				const rec = { kind: 0, attributes: {} };
				walk(buf, a3, b3, (f4, v4, a4, b4) => {
					if (f4 === 6 && v4 !== null)
						rec.kind = v4;
					if (f4 !== 9 || a4 < 0)
						return;
					let key = null, port = null;
					walk(buf, a4, b4, (f5, v5, a5, b5) => {
						if (f5 === 1 && a5 >= 0)
							key = buf.toString('utf8', a5, b5);
						else if (f5 === 2 && a5 >= 0)
							walk(buf, a5, b5, (f6, v6) => {
								if (f6 === 3 && v6 !== null)
									port = v6;
							});
					});
					if (key === 'server.port' && port !== null)
						rec.attributes['server.port'] = port;
				});
				spans.push(rec);
			});
		});
	});
	return { spans, resourceSpans };
}

function countRecord(s) {
	const attributes = {};
	for (const kv of s.attributes || []) {
		if (kv.key === 'server.port' && kv.value)
			attributes['server.port'] = anyValue(kv.value);
	}
	return { kind: s.kind || 0, attributes };
}

// The scripted answer for the next request (see the header comment).
class Behavior {
	constructor(file) {
		this.file = file;
		this.mtime = 0;
		this.size = -1;
		this.responses = [];
		this.dflt = { status: 200 };
	}

	next() {
		if (this.file)
			this.reload();
		return this.responses.length ? this.responses.shift() : this.dflt;
	}

	reload() {
		let st;
		try {
			st = fs.statSync(this.file);
		} catch (e) {
			return;
		}
		if (st.mtimeMs === this.mtime && st.size === this.size)
			return;
		this.mtime = st.mtimeMs;
		this.size = st.size;
		try {
			const b = JSON.parse(fs.readFileSync(this.file, 'utf8'));
			this.responses = Array.isArray(b.responses) ? b.responses.slice() : [];
			this.dflt = b.default || { status: 200 };
		} catch (e) {
			process.stderr.write(`collector: ignoring bad behavior file ${this.file}: ${e.message}\n`);
		}
	}
}

class Collector {
	constructor(opts) {
		this.opts = opts;
		this.behavior = new Behavior(opts.behavior);
		this.seq = 0;
		this.stats = {
			requests: 0, accepted_requests: 0, rejected_requests: 0, decode_errors: 0,
			spans: 0, resource_spans: 0, body_bytes: 0, decoded_bytes: 0,
			spans_by_kind: {},	// span kind number -> count
			server_spans_by_port: {},	// SERVER spans: server.port attribute -> count
			tls_client_errors: 0,	// TLS handshakes that failed (no or bad client certificate)
		};
		this.spanFd = !opts.discard && opts.out ? fs.openSync(opts.out, 'a') : null;
		this.reqFd = opts.requests ? fs.openSync(opts.requests, 'a') : null;
	}

	writeStats() {
		if (!this.opts.stats)
			return;
		const tmp = `${this.opts.stats}.tmp`;
		fs.writeFileSync(tmp, JSON.stringify(this.stats) + '\n');
		fs.renameSync(tmp, this.opts.stats);
	}

	record(rec) {
		if (this.reqFd !== null)
			fs.writeSync(this.reqFd, JSON.stringify(rec) + '\n');
		this.writeStats();
	}

	// Decode body into spans; returns {spans, resourceSpans} or throws with a message.
	decode(seq, body) {
		if (this.opts.discard)
			return countSpans(body);
		const msg = Request.decode(body);
		const err = Request.verify(msg);
		if (err)
			throw new Error(`verify: ${err}`);
		const spans = [];
		let resourceSpans = 0;
		// --discard (the benchmark) only counts: a span is {kind}, not a full record.
		const discard = this.opts.discard;
		for (const rs of msg.resourceSpans || []) {
			resourceSpans++;
			for (const ss of rs.scopeSpans || [])
				for (const s of ss.spans || [])
					spans.push(discard ? countRecord(s) : spanRecord(seq, rs.resource, ss.scope, s));
		}
		return { spans, resourceSpans };
	}

	handle(req, res) {
		const seq = ++this.seq;
		const started = Date.now();
		const rec = {
			seq,
			time_ms: started,
			method: req.method,
			url: req.url,
			http_version: req.httpVersion,
			headers: {
				'content-type': req.headers['content-type'] || null,
				'content-encoding': req.headers['content-encoding'] || null,
				'user-agent': req.headers['user-agent'] || null,
				'content-length': req.headers['content-length'] || null,
			},
			all_headers: Object.assign({}, req.headers),
			remote_port: req.socket.remotePort,
			body_bytes: 0,
			decoded_bytes: 0,
			status: 0,
			accepted: false,
			spans: 0,
			resource_spans: 0,
			error: null,
		};
		const chunks = [];
		let size = 0;
		let tooBig = false;
		req.on('data', (c) => {
			size += c.length;
			if (size > MAX_BODY)
				tooBig = true;
			else
				chunks.push(c);
		});
		req.on('error', (e) => {
			rec.error = `request stream: ${e.message}`;
		});
		req.on('end', () => {
			rec.body_bytes = size;
			this.stats.requests++;
			this.stats.body_bytes += size;
			const fail = (status, error) => {
				rec.status = status;
				rec.error = error;
				this.stats.decode_errors++;
				this.stats.rejected_requests++;
				this.record(rec);
				this.reply(res, status, { 'Content-Type': 'text/plain' }, `${error}\n`);
			};
			if (req.method !== 'POST' || req.url.split('?')[0] !== '/v1/traces')
				return fail(404, `unexpected ${req.method} ${req.url}`);
			if (tooBig)
				return fail(413, `body over ${MAX_BODY} bytes`);
			const ctype = (req.headers['content-type'] || '').split(';')[0].trim().toLowerCase();
			if (ctype !== 'application/x-protobuf')
				return fail(415, `unsupported content-type ${JSON.stringify(req.headers['content-type'] || '')}`);
			let body = Buffer.concat(chunks);
			const enc = (req.headers['content-encoding'] || 'identity').trim().toLowerCase();
			if (enc === 'gzip') {
				try {
					body = zlib.gunzipSync(body, { maxOutputLength: MAX_BODY });
				} catch (e) {
					return fail(400, `gunzip: ${e.message}`);
				}
			} else if (enc !== 'identity') {
				return fail(415, `unsupported content-encoding ${JSON.stringify(enc)}`);
			}
			rec.decoded_bytes = body.length;
			this.stats.decoded_bytes += body.length;
			let decoded;
			try {
				decoded = this.decode(seq, body);
			} catch (e) {
				return fail(400, `decode: ${e.message}`);
			}
			rec.spans = decoded.spans.length;
			rec.resource_spans = decoded.resourceSpans;
			this.answer(req, res, rec, decoded);
		});
	}

	// Answer a well-formed request as the behavior script says.
	answer(req, res, rec, decoded) {
		const b = this.behavior.next();
		const status = b.status || 200;
		let gone = false;
		res.on('close', () => {
			if (!res.writableFinished)
				gone = true;
		});
		const go = () => {
			if (gone || res.destroyed || req.socket.destroyed) {
				// Nobody to answer: the client gave up (its timeout), its spans are not delivered.
				rec.status = status;
				rec.accepted = false;
				rec.error = 'client closed the connection before the answer';
				this.stats.rejected_requests++;
				this.record(rec);
				return;
			}
			rec.status = status;
			rec.accepted = status >= 200 && status < 300;
			if (rec.accepted) {
				const rejected = b.partial_success ? (b.partial_success.rejected_spans || 0) : 0;
				rec.rejected_spans = rejected;
				this.stats.accepted_requests++;
				this.stats.spans += decoded.spans.length;
				const st = this.stats;
				for (const sp of decoded.spans) {
					st.spans_by_kind[sp.kind] = (st.spans_by_kind[sp.kind] || 0) + 1;
					const port = sp.attributes['server.port'];
					if (sp.kind === 2 && port !== undefined)
						st.server_spans_by_port[port] = (st.server_spans_by_port[port] || 0) + 1;
				}
				this.stats.resource_spans += decoded.resourceSpans;
				if (this.spanFd !== null) {
					const lines = decoded.spans.map((s) => JSON.stringify(s) + '\n').join('');
					if (lines)
						fs.writeSync(this.spanFd, lines);
				}
			} else {
				this.stats.rejected_requests++;
			}
			this.record(rec);
			const headers = Object.assign({}, b.headers || {});
			if (rec.accepted) {
				const body = Response.encode(Response.fromObject(b.partial_success ? {
					partialSuccess: {
						rejectedSpans: b.partial_success.rejected_spans || 0,
						errorMessage: b.partial_success.error_message || '',
					},
				} : {})).finish();
				headers['Content-Type'] = 'application/x-protobuf';
				this.reply(res, status, headers, Buffer.from(body));
			} else {
				headers['Content-Type'] = headers['Content-Type'] || 'text/plain';
				this.reply(res, status, headers, `${b.message || 'scripted failure'}\n`);
			}
		};
		if (b.hang_ms)
			setTimeout(go, Math.min(Number(b.hang_ms), 600000));
		else
			go();
	}

	reply(res, status, headers, body) {
		if (res.destroyed)
			return;
		const buf = Buffer.isBuffer(body) ? body : Buffer.from(body);
		headers['Content-Length'] = String(buf.length);
		res.writeHead(status, headers);
		res.end(buf);
	}
}

function main() {
	const opts = parseArgs(process.argv.slice(2));
	const collector = new Collector(opts);
	collector.writeStats();
	const handler = (req, res) => collector.handle(req, res);
	const tls = opts.tlsCert ? { cert: fs.readFileSync(opts.tlsCert), key: fs.readFileSync(opts.tlsKey) } : null;
	if (tls && opts.tlsClientCa)
		Object.assign(tls, { ca: fs.readFileSync(opts.tlsClientCa), requestCert: true, rejectUnauthorized: true });
	const server = tls ? https.createServer(tls, handler) : http.createServer(handler);
	server.keepAliveTimeout = 30000;
	server.on('tlsClientError', (e) => {
		collector.stats.tls_client_errors++;
		collector.writeStats();
		process.stderr.write(`collector: TLS handshake failed: ${e.message}\n`);
	});
	server.on('error', (e) => {
		process.stderr.write(`collector: ${e.message}\n`);
		process.exit(1);
	});
	server.listen(opts.port, opts.host, () => {
		const addr = server.address();
		process.stdout.write(JSON.stringify({
			event: 'listening', host: addr.address, port: addr.port, pid: process.pid,
			tls: !!opts.tlsCert, mtls: !!opts.tlsClientCa, out: opts.out ? path.resolve(opts.out) : null,
			requests: opts.requests ? path.resolve(opts.requests) : null,
		}) + '\n');
	});
	const stop = () => {
		collector.writeStats();
		server.close();
		// Keep-alive connections would hold close() open; do not wait for them.
		setTimeout(() => process.exit(0), 200).unref();
		if (typeof server.closeAllConnections === 'function')
			server.closeAllConnections();
	};
	process.on('SIGTERM', stop);
	process.on('SIGINT', stop);
	process.on('SIGHUP', () => {});
}

if (require.main === module)
	main();

module.exports = { parseArgs, spanRecord, flatten, hex };
