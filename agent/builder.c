// SPDX-License-Identifier: Apache-2.0
/*
 * builder.c - one http_txn into one span: name, attributes, status, ids and
 * linkage, resource from procinfo (contract in builder.h).
 */
#include "builder.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "hex.h"
#include "log.h"
#include "procinfo.h"

#ifndef SPANBPF_VERSION
#define SPANBPF_VERSION "0.0.0"
#endif

/* Longest string composed from traffic: scheme://host + target. */
#define URL_MAX (16 + 3 + TXN_HOST_MAX + TXN_TARGET_MAX)

struct rng {
	uint64_t s[4];	/* xoshiro256** state, never all zero */
};

struct builder {
	bool record_query;
	uint64_t mono_to_unix_ns;
	struct procinfo *pi;
	struct rng rng;
	_Atomic uint64_t built;
	_Atomic uint64_t skipped;
	char text[URL_MAX + 1];		/* a string being composed */
	char clean[3 * URL_MAX + 1];	/* the same made valid UTF-8 */
};

/* ---- ids ------------------------------------------------------------------ */

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

/* Seed from getrandom(); if that fails, from the clock, pid and an address. */
static void rng_seed(struct rng *r)
{
	ssize_t n = getrandom(r->s, sizeof(r->s), GRND_NONBLOCK);

	if (n != (ssize_t)sizeof(r->s)) {
		struct timespec ts;
		uint64_t x;

		log_warn("builder: getrandom: %s; ids seeded from the clock",
			 n < 0 ? strerror(errno) : "short read");
		clock_gettime(CLOCK_REALTIME, &ts);
		x = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
		x ^= (uint64_t)getpid() << 32 ^ (uint64_t)(uintptr_t)r;
		for (int i = 0; i < 4; i++)
			r->s[i] = splitmix64(&x);
	}
	if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3]))
		r->s[0] = 1;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* n random bytes (n a multiple of 8), never all zero. */
static void random_id(struct builder *b, uint8_t *out, size_t n)
{
	do {
		for (size_t i = 0; i < n; i += 8) {
			uint64_t v = rng_next(&b->rng);

			memcpy(out + i, &v, 8);
		}
	} while (all_zero(out, n));
}

void builder_new_context(struct builder *b, const struct span_context *parent,
			 struct span_context *out)
{
	if (parent && parent->valid) {
		memcpy(out->trace_id, parent->trace_id, sizeof(out->trace_id));
		out->trace_flags = parent->trace_flags | 0x01;
	} else {
		random_id(b, out->trace_id, sizeof(out->trace_id));
		out->trace_flags = 0x01;
	}
	random_id(b, out->span_id, sizeof(out->span_id));
	out->valid = true;
}

/* ---- request target ------------------------------------------------------- */

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_hex(char c)
{
	return hex_value((unsigned char)c) >= 0;
}

/* Length of a "scheme" followed by "://" at the start of s, else 0. */
static size_t scheme_prefix(const char *s, size_t n)
{
	size_t i = 0;

	if (!n || !is_alpha(s[0]))
		return 0;
	while (i < n && (is_alpha(s[i]) || is_digit(s[i]) || s[i] == '+' || s[i] == '-' ||
			 s[i] == '.'))
		i++;
	if (n - i >= 3 && memcmp(s + i, "://", 3) == 0)
		return i;
	return 0;
}

void http_target_split(const char *s, size_t n, struct http_target *t)
{
	const char *end = s + n, *p;
	size_t sl;

	memset(t, 0, sizeof(*t));
	if (!n)
		return;
	if (n == 1 && s[0] == '*') {
		t->form = TF_ASTERISK;
		t->path = s;
		t->path_len = 1;
		return;
	}
	sl = s[0] == '/' ? 0 : scheme_prefix(s, n);
	if (sl) {
		const char *a = s + sl + 3, *ae = a, *at;

		while (ae < end && *ae != '/' && *ae != '?' && *ae != '#')
			ae++;
		at = memrchr(a, '@', (size_t)(ae - a));
		if (at)
			a = at + 1;
		t->form = TF_ABSOLUTE;
		t->scheme = s;
		t->scheme_len = sl;
		t->authority = a;
		t->authority_len = (size_t)(ae - a);
		p = ae;
	} else {
		t->form = s[0] == '/' ? TF_ORIGIN : TF_OTHER;
		if (t->form == TF_OTHER) {
			t->authority = s;
			t->authority_len = n;
		}
		p = s;
	}
	t->path = p;
	while (p < end && *p != '?' && *p != '#')
		p++;
	t->path_len = (size_t)(p - t->path);
	if (t->form == TF_ABSOLUTE && !t->path_len) {
		t->path = "/";
		t->path_len = 1;
	}
	if (p < end && *p == '?') {
		const char *q = ++p;

		while (p < end && *p != '#')
			p++;
		t->query = q;
		t->query_len = (size_t)(p - q);
	}
}

static bool is_uuid(const char *s, size_t n)
{
	if (n != 36)
		return false;
	for (size_t i = 0; i < n; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' : !is_hex(s[i]))
			return false;
	}
	return true;
}

/*
 * A path segment (still percent-encoded) that names one item among many
 * rather than a route:
 *  - all digits: "42";
 *  - a UUID: "123e4567-e89b-12d3-a456-426614174000" (any case);
 *  - at least 8 hex digits with at least one decimal digit: "5f2a9c01",
 *    "0123456789abcdef..." (words such as "deadbeef" or "facade" stay);
 *  - a token of at least 16 letters, digits and "-_+=" holding letters and
 *    digits (base64 ids, cuids): "dXNlcjoxMjM0NTY3OA", "cjld2cjxh0000qzrmn831i7rn";
 *    a slug with '-' or '_' needs two digits or more ("v2-api-documentation" stays);
 *  - anything of 64 bytes or more.
 */
static bool seg_is_id(const char *s, size_t n)
{
	size_t digits = 0, letters = 0, hex = 0, seps = 0;
	bool token = true;

	if (!n)
		return false;
	if (n >= 64)
		return true;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (is_digit(c))
			digits++;
		else if (is_alpha(c))
			letters++;
		else if (c == '-' || c == '_')
			seps++;
		else if (c != '+' && c != '=')
			token = false;
		if (is_hex(c))
			hex++;
	}
	if (digits == n || is_uuid(s, n))
		return true;
	if (n >= 8 && hex == n && digits)
		return true;
	return n >= 16 && token && letters && digits && (!seps || digits >= 2);
}

/*
 * The template of one segment into out (at least 64 bytes): "{id}" for an
 * id, "{id}.ext" for an id with a short extension ("12345.png"), else the
 * segment itself (then shorter than 64 bytes).
 */
static size_t seg_template(const char *s, size_t n, char *out)
{
	const char *dot;

	if (seg_is_id(s, n)) {
		memcpy(out, "{id}", 4);
		return 4;
	}
	dot = memrchr(s, '.', n);
	if (dot && dot > s) {
		size_t stem = (size_t)(dot - s), ext = n - stem - 1;
		bool ok = ext >= 1 && ext <= 5 && is_alpha(dot[1]);

		for (size_t i = 1; ok && i < ext; i++)
			ok = is_alpha(dot[1 + i]) || is_digit(dot[1 + i]);
		if (ok && seg_is_id(s, stem)) {
			memcpy(out, "{id}", 4);
			memcpy(out + 4, dot, ext + 1);
			return 4 + ext + 1;
		}
	}
	memcpy(out, s, n);
	return n;
}

/*
 * Template of an origin-form path: each segment through seg_template(); at
 * most BUILDER_TEMPLATE_SEGS segments and BUILDER_TEMPLATE_MAX bytes, the
 * rest becomes "/...".  out must hold BUILDER_TEMPLATE_MAX + 5 bytes.
 */
static size_t path_template(const char *path, size_t n, char *out)
{
	const char *p = path, *end = path + n;
	size_t o = 0;
	int segs = 0;

	while (p < end) {
		const char *s = p + 1;
		const char *e = s < end ? memchr(s, '/', (size_t)(end - s)) : NULL;
		char seg[64];
		size_t sl;

		if (!e)
			e = end;
		sl = seg_template(s, (size_t)(e - s), seg);
		if (segs == BUILDER_TEMPLATE_SEGS || o + 1 + sl > BUILDER_TEMPLATE_MAX) {
			memcpy(out + o, "/...", 4);
			o += 4;
			break;
		}
		out[o++] = '/';
		memcpy(out + o, seg, sl);
		o += sl;
		segs++;
		p = e;
	}
	out[o] = '\0';
	return o;
}

/*
 * Span-name target: the path template of an origin-form or absolute-form
 * target (query and fragment never included), "*" for "OPTIONS *", none for
 * anything else.
 */
static size_t target_template(const struct http_target *t, char *out)
{
	switch (t->form) {
	case TF_ORIGIN:
	case TF_ABSOLUTE:
		return path_template(t->path, t->path_len, out);
	case TF_ASTERISK:
		memcpy(out, "*", 2);
		return 1;
	default:
		out[0] = '\0';
		return 0;
	}
}

size_t http_target_template(const char *target, char *out, size_t outlen)
{
	char buf[BUILDER_TEMPLATE_MAX + 8];
	struct http_target t;
	size_t n;

	http_target_split(target, strlen(target), &t);
	n = target_template(&t, buf);
	if (!outlen)
		return 0;
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, buf, n);
	out[n] = '\0';
	return n;
}

/* ---- attributes ----------------------------------------------------------- */

static const char *const known_methods[] = {
	"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
};

/* The method as semconv knows it (case-sensitive), or NULL for _OTHER. */
static const char *method_known(const char *m)
{
	for (size_t i = 0; i < sizeof(known_methods) / sizeof(known_methods[0]); i++)
		if (strcmp(m, known_methods[i]) == 0)
			return known_methods[i];
	return NULL;
}

/* Add a string from traffic, made valid UTF-8 first when needed. */
static int add_text(struct builder *b, struct span *span, const char *key, const char *v,
		    size_t n)
{
	size_t m;

	if (utf8_valid(v, n))
		return span_add_strn(span, key, v, n);
	m = utf8_sanitize(b->clean, sizeof(b->clean), v, n);
	return span_add_strn(span, key, b->clean, m);
}

static int set_name_text(struct builder *b, struct span *span, const char *v, size_t n)
{
	const char *p;

	if (!utf8_valid(v, n)) {
		n = utf8_sanitize(b->clean, sizeof(b->clean), v, n);
		v = b->clean;
	}
	p = arena_strndup(&span->arena, v, n);
	if (!p)
		return -1;
	span->name = p;
	return 0;
}

static bool addr_is_v4mapped(const uint8_t a[16])
{
	static const uint8_t prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	return memcmp(a, prefix, sizeof(prefix)) == 0;
}

/* IPv4-mapped addresses as plain IPv4, others as RFC 5952 IPv6 text; 0 if unknown. */
static size_t addr_format(const uint8_t a[16], char *buf, size_t len)
{
	const char *r;

	if (all_zero(a, 16))
		return 0;
	if (addr_is_v4mapped(a) && len >= 16) {
		/* Dotted quad by hand: inet_ntop goes through sprintf, on every span. */
		size_t n = 0;

		for (int i = 12; i < 16; i++) {
			unsigned v = a[i];

			if (v >= 100)
				buf[n++] = (char)('0' + v / 100);
			if (v >= 10)
				buf[n++] = (char)('0' + v / 10 % 10);
			buf[n++] = (char)('0' + v % 10);
			buf[n++] = i < 15 ? '.' : '\0';
		}
		return n - 1;
	}
	if (addr_is_v4mapped(a))
		r = inet_ntop(AF_INET, a + 12, buf, (socklen_t)len);
	else
		r = inet_ntop(AF_INET6, a, buf, (socklen_t)len);
	return r ? strlen(buf) : 0;
}

static void add_addr_port(struct span *span, const char *akey, const char *pkey,
			  const uint8_t a[16], uint16_t port)
{
	char buf[INET6_ADDRSTRLEN];
	size_t n = addr_format(a, buf, sizeof(buf));

	if (!n)
		return;
	span_add_strn(span, akey, buf, n);
	if (port)
		span_add_int(span, pkey, port);
}

bool http_authority_split(const char *s, size_t n, const char **host, size_t *hlen, int *port)
{
	const char *rest;
	size_t rlen;

	*port = -1;
	if (n && s[0] == '[') {
		const char *close = memchr(s, ']', n);

		if (!close)
			return false;
		*host = s + 1;
		*hlen = (size_t)(close - s - 1);
		rest = close + 1;
	} else {
		const char *colon = memchr(s, ':', n);

		/* A second ':' means a bare IPv6 address: no port to take. */
		if (colon && memchr(colon + 1, ':', n - (size_t)(colon + 1 - s)))
			colon = NULL;
		*host = s;
		*hlen = colon ? (size_t)(colon - s) : n;
		rest = s + *hlen;
	}
	rlen = n - (size_t)(rest - s);
	if (rlen && rest[0] == ':' && rlen > 1) {
		long v = 0;

		for (size_t i = 1; i < rlen && v <= 65535; i++)
			v = is_digit(rest[i]) ? v * 10 + (rest[i] - '0') : 65536;
		*port = v >= 1 && v <= 65535 && rlen <= 6 ? (int)v : -2;
	} else if (rlen && rest[0] != ':') {
		*port = -2;
	}
	return *hlen > 0;
}

static int default_port(const char *scheme, size_t n)
{
	if (n == 5 && strncasecmp(scheme, "https", 5) == 0)
		return 443;
	if (n == 4 && strncasecmp(scheme, "http", 4) == 0)
		return 80;
	return -1;
}

/*
 * server.address/server.port from an authority; false when it holds no host.
 * A missing port is the scheme's default; an invalid one is left out.
 */
static bool add_server_from_authority(struct builder *b, struct span *span, const char *a,
				      size_t n, const char *scheme, size_t scheme_len)
{
	const char *host;
	size_t hlen;
	int port;

	if (!http_authority_split(a, n, &host, &hlen, &port))
		return false;
	add_text(b, span, "server.address", host, hlen);
	if (port == -1)
		port = default_port(scheme, scheme_len);
	if (port > 0)
		span_add_int(span, "server.port", port);
	return true;
}

/* The error.type of a failed connect() (TXN_F_CONN_REFUSED), with *msg set. */
static const char *connect_error(const struct http_txn *txn, const char **msg)
{
	*msg = "connect() failed";
	switch (txn->conn_errno) {
	case ETIMEDOUT:
		return "timeout";
	case EHOSTUNREACH:
	case ENETUNREACH:
		return "host_unreachable";
	case ECONNREFUSED:
	case 0:
		return "connection_refused";
	default:
		return "connect_error";
	}
}

/* The error.type of a transaction, or NULL; *msg gets a status description or NULL. */
static const char *txn_error(const struct http_txn *txn, bool server, char *code, size_t len,
			     const char **msg)
{
	int limit = server ? 500 : 400;

	*msg = NULL;
	if (txn->status >= limit && txn->status <= 599) {
		snprintf(code, len, "%d", txn->status);
		return code;
	}
	if (txn->flags & TXN_F_CONN_REFUSED)
		return connect_error(txn, msg);
	if (txn->flags & TXN_F_RESP_MALFORMED) {
		*msg = "malformed response head";
		return "malformed_response";
	}
	if (txn->flags & TXN_F_NO_RESPONSE) {
		*msg = "connection closed before the response";
		return "no_response";
	}
	if (txn->flags & TXN_F_RESP_TRUNCATED) {
		*msg = "connection closed inside the response";
		return "response_truncated";
	}
	return NULL;
}

/*
 * The URL scheme of a target, lowercase, into out (17 bytes): "http" or,
 * over TLS, "https", unless absolute-form.
 */
static size_t target_scheme(const struct http_target *t, bool tls, char *out)
{
	size_t n = tls ? 5 : 4;

	memcpy(out, tls ? "https" : "http", n + 1);
	if (t->form == TF_ABSOLUTE) {
		n = t->scheme_len < 16 ? t->scheme_len : 16;
		for (size_t i = 0; i < n; i++) {
			char c = t->scheme[i];

			out[i] = (char)(c >= 'A' && c <= 'Z' ? c + 'a' - 'A' : c);
		}
		out[n] = '\0';
	}
	return n;
}

/* Compose url.full into b->text: scheme://authority path [?query]; 0 when there is none. */
static size_t compose_url(struct builder *b, const struct http_txn *txn,
			  const struct http_target *t, const char *hosthdr, size_t hostlen)
{
	const char *auth = hosthdr;
	size_t alen = hostlen, o;
	char abuf[INET6_ADDRSTRLEN + 8];
	char *out = b->text;

	if (t->form == TF_NONE || t->form == TF_OTHER)
		return 0;
	if (t->form == TF_ABSOLUTE) {
		auth = t->authority;
		alen = t->authority_len;
	}
	if (!alen) {
		char ip[INET6_ADDRSTRLEN];
		size_t n = addr_format(txn->tuple.raddr, ip, sizeof(ip));
		bool v6 = n && !addr_is_v4mapped(txn->tuple.raddr);

		if (!n)
			return 0;
		if (txn->tuple.rport && txn->tuple.rport != (txn->flags & TXN_F_TLS ? 443 : 80))
			snprintf(abuf, sizeof(abuf), v6 ? "[%s]:%u" : "%s:%u", ip,
				 txn->tuple.rport);
		else
			snprintf(abuf, sizeof(abuf), v6 ? "[%s]" : "%s", ip);
		auth = abuf;
		alen = strlen(abuf);
	}
	o = target_scheme(t, txn->flags & TXN_F_TLS, out);
	memcpy(out + o, "://", 3);
	o += 3;
	if (alen > TXN_HOST_MAX)
		alen = TXN_HOST_MAX;
	memcpy(out + o, auth, alen);
	o += alen;
	if (t->form != TF_ASTERISK) {
		size_t pl = t->path_len < TXN_TARGET_MAX ? t->path_len : TXN_TARGET_MAX;

		memcpy(out + o, t->path, pl);
		o += pl;
		if (b->record_query && t->query && o + 1 + t->query_len <= URL_MAX) {
			out[o++] = '?';
			memcpy(out + o, t->query, t->query_len);
			o += t->query_len;
		}
	}
	out[o] = '\0';
	return o;
}

static void build_server(struct builder *b, struct span *span, const struct http_txn *txn,
			 const struct http_target *t, const char *host, size_t hostlen,
			 bool connect)
{
	bool have_server = false;
	char scheme[17];
	size_t sl = target_scheme(t, txn->flags & TXN_F_TLS, scheme);

	/* No path in authority-form ("CONNECT host:443"). */
	if (t->form != TF_NONE && !(t->form == TF_OTHER && connect))
		add_text(b, span, "url.path", t->path, t->path_len);
	span_add_strn(span, "url.scheme", scheme, sl);
	if (b->record_query && t->query && t->query_len)
		add_text(b, span, "url.query", t->query, t->query_len);
	/* RFC 9112 3.2.2: an absolute-form target overrides Host. */
	if (t->form == TF_ABSOLUTE)
		have_server = add_server_from_authority(b, span, t->authority, t->authority_len,
							scheme, sl);
	if (!have_server && hostlen)
		have_server = add_server_from_authority(b, span, host, hostlen, scheme, sl);
	if (!have_server)
		add_addr_port(span, "server.address", "server.port", txn->tuple.laddr,
			      txn->tuple.lport);
	add_addr_port(span, "client.address", "client.port", txn->tuple.raddr, txn->tuple.rport);
}

static void build_client(struct builder *b, struct span *span, const struct http_txn *txn,
			 const struct http_target *t, const char *host, size_t hostlen,
			 bool connect)
{
	size_t n = compose_url(b, txn, t, host, hostlen);
	bool have_server = false;

	if (n)
		add_text(b, span, "url.full", b->text, n);
	if (t->form == TF_ABSOLUTE)
		have_server = add_server_from_authority(b, span, t->authority, t->authority_len,
							t->scheme, t->scheme_len);
	else if (t->form == TF_OTHER && connect)
		have_server = add_server_from_authority(b, span, t->authority, t->authority_len,
							"", 0);
	if (!have_server && hostlen)
		have_server = add_server_from_authority(b, span, host, hostlen,
							txn->flags & TXN_F_TLS ? "https" : "http",
							txn->flags & TXN_F_TLS ? 5 : 4);
	if (!have_server)
		add_addr_port(span, "server.address", "server.port", txn->tuple.raddr,
			      txn->tuple.rport);
}

/* Trace ids and parent of span, in the order builder_build_ex() documents. */
static void link_span(struct builder *b, struct span *span, const struct http_txn *txn,
		      const struct span_context *parent, struct span_context *self)
{
	const struct span_context *up = parent && parent->valid ? parent : NULL;
	struct span_context own;

	if (self && self->valid) {
		own = *self;
		own.trace_flags |= 0x01;
	} else {
		builder_new_context(b, up, &own);
	}
	memcpy(span->trace_id, own.trace_id, sizeof(span->trace_id));
	memcpy(span->span_id, own.span_id, sizeof(span->span_id));
	span->trace_flags = own.trace_flags;
	if (up) {
		memcpy(span->parent_span_id, up->span_id, sizeof(span->parent_span_id));
		span->has_parent = true;
	}
	if (self)
		*self = own;
}

/*
 * A connect() that failed: no request was written, so no method or URL.
 * Named "HTTP" (the semconv name when the method is not known), with the
 * peer as server.* and the reason in error.type.
 */
static struct span *build_connect_failure(struct builder *b, const struct http_txn *txn,
					  const struct span_context *parent,
					  struct span_context *self)
{
	struct span *span = span_new(256);
	const char *etype, *msg;

	if (!span)
		return NULL;
	span->resource = procinfo_resource_hint(b->pi, txn->tgid, txn->comm);
	if (!span->resource) {
		span_free(span);
		return NULL;
	}
	span->kind = SPAN_KIND_CLIENT;
	span->start_unix_ns = txn->start_ns + b->mono_to_unix_ns;
	span->end_unix_ns = (txn->end_ns > txn->start_ns ? txn->end_ns : txn->start_ns) +
			    b->mono_to_unix_ns;
	link_span(b, span, txn, parent, self);
	span_set_name(span, "HTTP");
	add_addr_port(span, "server.address", "server.port", txn->tuple.raddr, txn->tuple.rport);
	add_addr_port(span, "network.peer.address", "network.peer.port", txn->tuple.raddr,
		      txn->tuple.rport);
	/* Whatever status the exchange claims, no request went out: the connect() error wins. */
	etype = connect_error(txn, &msg);
	span_add_str(span, "error.type", etype);
	span->status = SPAN_STATUS_ERROR;
	span->status_message = arena_strndup(&span->arena, msg, strlen(msg));
	span->utf8_checked = true;
	atomic_fetch_add_explicit(&b->built, 1, memory_order_relaxed);
	return span;
}

struct span *builder_build_ex(struct builder *b, const struct http_txn *txn,
			      const struct span_context *parent, struct span_context *self)
{
	bool server = txn->role == SB_ROLE_SERVER;
	size_t mlen = strnlen(txn->method, TXN_METHOD_MAX - 1);
	size_t tlen = strnlen(txn->target, TXN_TARGET_MAX - 1);
	size_t hlen = strnlen(txn->host, TXN_HOST_MAX - 1);
	size_t ulen = strnlen(txn->user_agent, TXN_UA_MAX - 1);
	char method[TXN_METHOD_MAX], code[8], tmpl[BUILDER_TEMPLATE_MAX + 8];
	const char *known, *etype, *msg;
	struct http_target t;
	struct span *span;
	size_t arena, tmpl_len;
	bool connect;

	if (txn->role == SB_ROLE_CLIENT && (txn->flags & TXN_F_CONN_REFUSED) && !mlen)
		return build_connect_failure(b, txn, parent, self);
	if ((txn->role != SB_ROLE_SERVER && txn->role != SB_ROLE_CLIENT) || !mlen)
		goto skip;
	memcpy(method, txn->method, mlen);
	method[mlen] = '\0';

	/* Room for every string the span may hold; 3x when some need U+FFFD. */
	arena = 3 * tlen + 2 * hlen + ulen + 2 * mlen + BUILDER_TEMPLATE_MAX + 320;
	if (!utf8_valid(txn->target, tlen) || !utf8_valid(txn->host, hlen) ||
	    !utf8_valid(txn->user_agent, ulen) || !utf8_valid(method, mlen))
		arena *= 3;
	span = span_new(arena);
	if (!span)
		goto skip;
	span->resource = procinfo_resource_hint(b->pi, txn->tgid, txn->comm);
	if (!span->resource) {
		span_free(span);
		goto skip;
	}
	span->kind = server ? SPAN_KIND_SERVER : SPAN_KIND_CLIENT;
	span->start_unix_ns = txn->start_ns + b->mono_to_unix_ns;
	span->end_unix_ns = (txn->end_ns > txn->start_ns ? txn->end_ns : txn->start_ns) +
			    b->mono_to_unix_ns;
	link_span(b, span, txn, parent, self);

	http_target_split(txn->target, tlen, &t);
	known = method_known(method);

	/*
	 * Name: "{method} {target}" for servers, "{method}" for clients; an
	 * unknown method is "HTTP" there (semconv), the template stays.
	 */
	tmpl_len = server ? target_template(&t, tmpl) : 0;
	{
		const char *m = known ? known : "HTTP";
		size_t ml = strlen(m), nl = ml;

		/* tmpl_len <= BUILDER_TEMPLATE_MAX + 8 and methods are short: it fits. */
		memcpy(b->text, m, ml);
		if (tmpl_len && ml + 1 + tmpl_len < sizeof(b->text)) {
			b->text[ml] = ' ';
			memcpy(b->text + ml + 1, tmpl, tmpl_len);
			nl = ml + 1 + tmpl_len;
		}
		b->text[nl] = '\0';
		set_name_text(b, span, b->text, nl);
	}

	span_add_str(span, "http.request.method", known ? known : "_OTHER");
	if (!known)
		add_text(b, span, "http.request.method_original", method, mlen);
	connect = known && strcmp(known, "CONNECT") == 0;
	if (server)
		build_server(b, span, txn, &t, txn->host, hlen, connect);
	else
		build_client(b, span, txn, &t, txn->host, hlen, connect);
	add_addr_port(span, "network.peer.address", "network.peer.port", txn->tuple.raddr,
		      txn->tuple.rport);
	if (txn->status >= 100 && txn->status <= 599)
		span_add_int(span, "http.response.status_code", txn->status);
	code[0] = '1';
	code[1] = '.';
	code[2] = (char)('0' + txn->version_minor % 10);
	code[3] = '\0';
	span_add_str(span, "network.protocol.version", code);
	if (ulen)
		add_text(b, span, "user_agent.original", txn->user_agent, ulen);

	/* 5xx (servers) or 4xx and up (clients), or an exchange cut short: ERROR. */
	etype = txn_error(txn, server, code, sizeof(code), &msg);
	if (etype) {
		span->status = SPAN_STATUS_ERROR;
		span_add_str(span, "error.type", etype);
		if (msg)
			span->status_message = arena_strndup(&span->arena, msg, strlen(msg));
	}
	span->utf8_checked = true;	/* every string above was repaired or is ASCII */
	atomic_fetch_add_explicit(&b->built, 1, memory_order_relaxed);
	return span;
skip:
	atomic_fetch_add_explicit(&b->skipped, 1, memory_order_relaxed);
	return NULL;
}

struct span *builder_build(struct builder *b, const struct http_txn *txn)
{
	return builder_build_ex(b, txn, NULL, NULL);
}

/* ---- lifecycle ------------------------------------------------------------ */

static uint64_t ts_ns(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000000000ull + (uint64_t)ts->tv_nsec;
}

/*
 * REALTIME - MONOTONIC, from REALTIME read on both sides of MONOTONIC (the
 * middle of the two bounds the error by half the gap); best of a few tries.
 */
static uint64_t measure_mono_to_unix(void)
{
	uint64_t best_gap = UINT64_MAX, offset = 0;

	for (int i = 0; i < 5; i++) {
		struct timespec r1, m, r2;
		uint64_t a, c;

		clock_gettime(CLOCK_REALTIME, &r1);
		clock_gettime(CLOCK_MONOTONIC, &m);
		clock_gettime(CLOCK_REALTIME, &r2);
		a = ts_ns(&r1);
		c = ts_ns(&r2);
		if (c < a)
			continue; /* the wall clock was stepped */
		if (c - a < best_gap) {
			best_gap = c - a;
			offset = a + (c - a) / 2 - ts_ns(&m);
		}
	}
	return offset;
}

struct builder *builder_new(const struct builder_opts *o)
{
	struct builder_opts def = { 0 };
	struct procinfo_opts po = { 0 };
	struct builder *b;

	if (!o)
		o = &def;
	b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->record_query = o->record_query;
	b->mono_to_unix_ns = o->mono_to_unix_ns ? o->mono_to_unix_ns : measure_mono_to_unix();
	po.proc_root = o->proc_root;
	po.host_name = o->host_name;
	po.revalidate_ms = o->proc_revalidate_ms;
	po.cfg = o->cfg;
	po.node_name = o->node_name;
	b->pi = procinfo_new(&po);
	if (!b->pi) {
		builder_free(b);
		return NULL;
	}
	rng_seed(&b->rng);
	return b;
}

void builder_free(struct builder *b)
{
	if (!b)
		return;
	procinfo_free(b->pi);
	free(b);
}

void builder_set_record_query(struct builder *b, bool on)
{
	b->record_query = on;
}

void builder_note_process(struct builder *b, uint32_t tgid, const char *comm)
{
	resource_unref(procinfo_resource_hint(b->pi, tgid, comm));
}

void builder_proc_exit(struct builder *b, uint32_t tgid)
{
	procinfo_forget(b->pi, tgid);
}

void builder_reset_resources(struct builder *b)
{
	procinfo_reset(b->pi);
}

void builder_get_stats(const struct builder *b, struct builder_stats *st)
{
	st->built = atomic_load_explicit(&b->built, memory_order_relaxed);
	st->skipped = atomic_load_explicit(&b->skipped, memory_order_relaxed);
}

uint64_t builder_mono_to_unix_ns(const struct builder *b)
{
	return b->mono_to_unix_ns;
}
