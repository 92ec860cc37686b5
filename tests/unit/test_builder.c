// SPDX-License-Identifier: Apache-2.0
/*
 * test_builder.c - http_txn -> span: route templates, methods, attributes,
 * status, ids, timestamps, traceparent.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "builder.h"
#include "procinfo.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define NO_PROC "/nonexistent/spanbpf-test-proc"

static struct http_txn *txn;

static void set_addr(uint8_t a[16], const char *text)
{
	memset(a, 0, 16);
	if (inet_pton(AF_INET6, text, a) == 1)
		return;
	a[10] = a[11] = 0xff;
	assert_int_equal(inet_pton(AF_INET, text, a + 12), 1);
}

/* A GET / server exchange from 127.0.0.1:5555 to 10.0.0.1:8080. */
static void txn_reset(uint8_t role)
{
	memset(txn, 0, sizeof(*txn));
	txn->txn_id = 1;
	txn->tgid = 4242;
	txn->role = role;
	txn->version_minor = 1;
	txn->status = 200;
	txn->start_ns = 1000;
	txn->end_ns = 2000;
	strcpy(txn->method, "GET");
	strcpy(txn->target, "/");
	set_addr(txn->tuple.laddr, "10.0.0.1");
	set_addr(txn->tuple.raddr, "127.0.0.1");
	txn->tuple.lport = 8080;
	txn->tuple.rport = 5555;
	txn->tuple.family = AF_INET;
}

static int setup(void **state)
{
	txn = calloc(1, sizeof(*txn));
	return txn ? 0 : -1;
}

static int teardown(void **state)
{
	free(txn);
	return 0;
}

static struct builder *new_builder(bool record_query)
{
	struct builder_opts o = {
		.record_query = record_query,
		.host_name = "testhost",
		.proc_root = NO_PROC,
		.mono_to_unix_ns = 1000000000000000000ull,
	};
	struct builder *b = builder_new(&o);

	assert_non_null(b);
	return b;
}

static void assert_str_attr(const struct span *s, const char *key, const char *want)
{
	const struct attr *a = span_find_attr(s, key);

	if (!a)
		fail_msg("attribute %s missing (want \"%s\")", key, want);
	assert_int_equal(a->type, ATTR_STRING);
	assert_string_equal(a->s, want);
}

static void assert_int_attr(const struct span *s, const char *key, int64_t want)
{
	const struct attr *a = span_find_attr(s, key);

	if (!a)
		fail_msg("attribute %s missing (want %lld)", key, (long long)want);
	assert_int_equal(a->type, ATTR_INT);
	assert_int_equal(a->i, want);
}

static void assert_no_attr(const struct span *s, const char *key)
{
	if (span_find_attr(s, key))
		fail_msg("attribute %s present", key);
}

static struct span *build(struct builder *b)
{
	struct span *s = builder_build(b, txn);

	assert_non_null(s);
	return s;
}

/* ---- templates ---------------------------------------------------------- */

static void test_template_table(void **state)
{
	static char longseg[200], manysegs[TXN_TARGET_MAX], fortyx4[200], hugepath[TXN_TARGET_MAX];
	static const struct {
		const char *target, *want;
	} simple[] = {
		{ "/", "/" },
		{ "/users", "/users" },
		{ "/users/me", "/users/me" },
		{ "/users/123", "/users/{id}" },
		{ "/users/123/", "/users/{id}/" },
		{ "/users/123/orders/7", "/users/{id}/orders/{id}" },
		{ "/users/123?x=1&y=2", "/users/{id}" },
		{ "/search?q=a/b/c", "/search" },
		{ "/a#frag", "/a" },
		{ "/a?q#frag", "/a" },
		{ "/api//x", "/api//x" },
		{ "/orders/123e4567-e89b-12d3-a456-426614174000", "/orders/{id}" },
		{ "/orders/123E4567-E89B-12D3-A456-426614174000/items", "/orders/{id}/items" },
		/* Not a UUID (one digit short) but still a long letter-digit token. */
		{ "/orders/123e4567-e89b-12d3-a456-42661417400", "/orders/{id}" },
		{ "/users/order-history-summary", "/users/order-history-summary" },
		{ "/blobs/5f2a9c01", "/blobs/{id}" },
		{ "/blobs/deadbeef", "/blobs/deadbeef" },
		{ "/blobs/abc123", "/blobs/abc123" },
		{ "/commits/0123456789abcdef0123456789abcdef01234567", "/commits/{id}" },
		{ "/t/dXNlcjoxMjM0NTY3OA", "/t/{id}" },
		{ "/t/cjld2cjxh0000qzrmn831i7rn", "/t/{id}" },
		{ "/docs/v2-api-documentation", "/docs/v2-api-documentation" },
		{ "/docs/GetUserPreferences", "/docs/GetUserPreferences" },
		{ "/img/12345.png", "/img/{id}.png" },
		{ "/img/logo.png", "/img/logo.png" },
		{ "/v1.2/x", "/v1.2/x" },
		{ "/files/my%20doc.pdf", "/files/my%20doc.pdf" },
		{ "*", "*" },
		{ "http://example.com/users/42?q=1", "/users/{id}" },
		{ "http://user:pw@example.com:8080/a", "/a" },
		{ "http://example.com", "/" },
		{ "http://example.com?x=1", "/" },
		{ "HTTPS://h:8443/a/99", "/a/{id}" },
		{ "example.com:443", "" },
		{ "users/1", "" },
		{ "", "" },
		{ "/a/b/c/d/e/f/g/h", "/a/b/c/d/e/f/g/h" },
		{ "/a/b/c/d/e/f/g/h/i/j", "/a/b/c/d/e/f/g/h/..." },
	};
	char out[BUILDER_TEMPLATE_MAX + 16];
	size_t n;

	for (size_t i = 0; i < ARRAY_SIZE(simple); i++) {
		n = http_target_template(simple[i].target, out, sizeof(out));
		if (strcmp(out, simple[i].want) != 0)
			fail_msg("template of \"%s\": got \"%s\", want \"%s\"", simple[i].target,
				 out, simple[i].want);
		assert_int_equal(n, strlen(simple[i].want));
	}

	/* A segment of 64 bytes or more is an id whatever it holds. */
	longseg[0] = '/';
	memset(longseg + 1, 'a', 100);
	n = http_target_template(longseg, out, sizeof(out));
	assert_string_equal(out, "/{id}");

	/* Four 40-byte segments: the fourth would pass 128 bytes. */
	for (int i = 0; i < 4; i++) {
		fortyx4[41 * i] = '/';
		memset(fortyx4 + 41 * i + 1, 'a' + i, 40);
	}
	n = http_target_template(fortyx4, out, sizeof(out));
	assert_true(n <= BUILDER_TEMPLATE_MAX + 4);
	assert_int_equal(n, 3 * 41 + 4);
	assert_memory_equal(out + 3 * 41, "/...", 5);

	/* The longest target the tracker can hand over. */
	for (size_t i = 0; i + 2 < sizeof(manysegs) - 1; i += 2)
		memcpy(manysegs + i, "/x", 2);
	n = http_target_template(manysegs, out, sizeof(out));
	assert_string_equal(out, "/x/x/x/x/x/x/x/x/...");
	hugepath[0] = '/';
	memset(hugepath + 1, '7', sizeof(hugepath) - 2);
	n = http_target_template(hugepath, out, sizeof(out));
	assert_string_equal(out, "/{id}");

	/* A short output buffer is cut, never overrun. */
	n = http_target_template("/users/123", out, 5);
	assert_int_equal(n, 4);
	assert_string_equal(out, "/use");
}

/* ---- methods and names ---------------------------------------------------- */

static void test_methods(void **state)
{
	static const char *const known[] = { "GET",	"HEAD",	   "POST",  "PUT",  "DELETE",
					     "CONNECT", "OPTIONS", "TRACE", "PATCH" };
	struct builder *b = new_builder(false);
	struct span *s;
	char want[64];

	for (size_t i = 0; i < ARRAY_SIZE(known); i++) {
		txn_reset(SB_ROLE_SERVER);
		strcpy(txn->method, known[i]);
		strcpy(txn->target, "/users/7");
		s = build(b);
		snprintf(want, sizeof(want), "%s /users/{id}", known[i]);
		assert_string_equal(s->name, want);
		assert_str_attr(s, "http.request.method", known[i]);
		assert_no_attr(s, "http.request.method_original");
		span_free(s);
	}

	/* Methods are case-sensitive: "get" is not GET. */
	txn_reset(SB_ROLE_SERVER);
	strcpy(txn->method, "get");
	strcpy(txn->target, "/users/7");
	s = build(b);
	assert_string_equal(s->name, "HTTP /users/{id}");
	assert_str_attr(s, "http.request.method", "_OTHER");
	assert_str_attr(s, "http.request.method_original", "get");
	span_free(s);

	txn_reset(SB_ROLE_CLIENT);
	strcpy(txn->method, "PROPFIND");
	s = build(b);
	assert_string_equal(s->name, "HTTP");
	assert_str_attr(s, "http.request.method", "_OTHER");
	assert_str_attr(s, "http.request.method_original", "PROPFIND");
	span_free(s);

	/* Methods outside the semconv list, valid tokens on the wire: _OTHER. */
	static const char *const others[] = { "REPORT", "M-SEARCH", "PURGE", "SEARCH",
					      "LINK", "UNLINK", "QUERY" };
	for (size_t i = 0; i < ARRAY_SIZE(others); i++) {
		txn_reset(SB_ROLE_SERVER);
		strcpy(txn->method, others[i]);
		strcpy(txn->target, "/x");
		s = build(b);
		assert_string_equal(s->name, "HTTP /x");
		assert_str_attr(s, "http.request.method", "_OTHER");
		assert_str_attr(s, "http.request.method_original", others[i]);
		span_free(s);
	}

	/* OPTIONS * keeps the asterisk; CONNECT host:port has no path. */
	txn_reset(SB_ROLE_SERVER);
	strcpy(txn->method, "OPTIONS");
	strcpy(txn->target, "*");
	s = build(b);
	assert_string_equal(s->name, "OPTIONS *");
	assert_str_attr(s, "url.path", "*");
	span_free(s);

	txn_reset(SB_ROLE_SERVER);
	strcpy(txn->method, "CONNECT");
	strcpy(txn->target, "example.com:443");
	strcpy(txn->host, "example.com:443");
	s = build(b);
	assert_string_equal(s->name, "CONNECT");
	assert_no_attr(s, "url.path");
	assert_str_attr(s, "server.address", "example.com");
	assert_int_attr(s, "server.port", 443);
	span_free(s);

	/* Client names are the method alone. */
	txn_reset(SB_ROLE_CLIENT);
	strcpy(txn->target, "/users/7");
	s = build(b);
	assert_string_equal(s->name, "GET");
	span_free(s);
	builder_free(b);
}

/* ---- attributes ----------------------------------------------------------- */

static void test_server_attrs_ipv4(void **state)
{
	struct builder *b = new_builder(false);
	struct span *s;

	txn_reset(SB_ROLE_SERVER);
	strcpy(txn->target, "/users/42?token=secret");
	strcpy(txn->host, "example.com:8080");
	strcpy(txn->user_agent, "curl/8.0.1");
	s = build(b);
	assert_int_equal(s->kind, SPAN_KIND_SERVER);
	assert_string_equal(s->name, "GET /users/{id}");
	assert_str_attr(s, "http.request.method", "GET");
	assert_str_attr(s, "url.path", "/users/42");
	assert_str_attr(s, "url.scheme", "http");
	assert_no_attr(s, "url.query");
	assert_no_attr(s, "url.full");
	assert_int_attr(s, "http.response.status_code", 200);
	assert_str_attr(s, "network.protocol.version", "1.1");
	assert_str_attr(s, "server.address", "example.com");
	assert_int_attr(s, "server.port", 8080);
	assert_str_attr(s, "client.address", "127.0.0.1");
	assert_int_attr(s, "client.port", 5555);
	assert_str_attr(s, "network.peer.address", "127.0.0.1");
	assert_int_attr(s, "network.peer.port", 5555);
	assert_str_attr(s, "user_agent.original", "curl/8.0.1");
	assert_no_attr(s, "error.type");
	assert_int_equal(s->status, SPAN_STATUS_UNSET);
	for (size_t i = 0; i < s->nattrs; i++)
		if (s->attrs[i].type == ATTR_STRING)
			assert_null(strstr(s->attrs[i].s, "secret"));
	span_free(s);

	/* Host without port: the scheme's default. */
	txn_reset(SB_ROLE_SERVER);
	txn->version_minor = 0;
	strcpy(txn->host, "example.com");
	s = build(b);
	assert_str_attr(s, "server.address", "example.com");
	assert_int_attr(s, "server.port", 80);
	assert_str_attr(s, "network.protocol.version", "1.0");
	assert_no_attr(s, "user_agent.original");
	span_free(s);

	/* No Host (HTTP/1.0): the local end of the connection. */
	txn_reset(SB_ROLE_SERVER);
	s = build(b);
	assert_str_attr(s, "server.address", "10.0.0.1");
	assert_int_attr(s, "server.port", 8080);
	span_free(s);

	/* A bad port is left out; the host stays. */
	txn_reset(SB_ROLE_SERVER);
	strcpy(txn->host, "example.com:http");
	s = build(b);
	assert_str_attr(s, "server.address", "example.com");
	assert_no_attr(s, "server.port");
	span_free(s);

	/* IPv6 literal in Host. */
	txn_reset(SB_ROLE_SERVER);
	strcpy(txn->host, "[::1]:8443");
	s = build(b);
	assert_str_attr(s, "server.address", "::1");
	assert_int_attr(s, "server.port", 8443);
	span_free(s);

	txn_reset(SB_ROLE_SERVER);
	strcpy(txn->host, "[2001:db8::5]");
	s = build(b);
	assert_str_attr(s, "server.address", "2001:db8::5");
	assert_int_attr(s, "server.port", 80);
	span_free(s);

	/* Absolute-form (a proxy): the target's authority wins over Host. */
	txn_reset(SB_ROLE_SERVER);
	strcpy(txn->target, "http://user:pw@origin.example:8081/a/1?x=2");
	strcpy(txn->host, "proxy.local:3128");
	s = build(b);
	assert_string_equal(s->name, "GET /a/{id}");
	assert_str_attr(s, "url.path", "/a/1");
	assert_str_attr(s, "url.scheme", "http");
	assert_str_attr(s, "server.address", "origin.example");
	assert_int_attr(s, "server.port", 8081);
	span_free(s);
	builder_free(b);
}

static void test_attrs_ipv6(void **state)
{
	struct builder *b = new_builder(false);
	struct span *s;

	txn_reset(SB_ROLE_SERVER);
	txn->tuple.family = AF_INET6;
	set_addr(txn->tuple.laddr, "2001:db8:0:0:0:0:0:1");
	set_addr(txn->tuple.raddr, "2001:DB8:0:0:1:0:0:2");
	s = build(b);
	assert_str_attr(s, "client.address", "2001:db8::1:0:0:2");
	assert_str_attr(s, "network.peer.address", "2001:db8::1:0:0:2");
	assert_str_attr(s, "server.address", "2001:db8::1");
	span_free(s);

	/* A dual-stack socket's IPv4 peer prints as plain IPv4. */
	txn_reset(SB_ROLE_SERVER);
	txn->tuple.family = AF_INET6;
	set_addr(txn->tuple.raddr, "::ffff:192.0.2.7");
	s = build(b);
	assert_str_attr(s, "client.address", "192.0.2.7");
	span_free(s);

	/* Unknown (all-zero) addresses are left out. */
	txn_reset(SB_ROLE_SERVER);
	memset(txn->tuple.raddr, 0, 16);
	txn->tuple.rport = 0;
	s = build(b);
	assert_no_attr(s, "client.address");
	assert_no_attr(s, "network.peer.address");
	span_free(s);
	builder_free(b);
}

static void test_client_attrs(void **state)
{
	struct builder *b = new_builder(false);
	struct span *s;

	txn_reset(SB_ROLE_CLIENT);
	set_addr(txn->tuple.raddr, "10.1.2.3");
	txn->tuple.rport = 8080;
	strcpy(txn->target, "/users/42?token=secret");
	strcpy(txn->host, "api.example:8080");
	s = build(b);
	assert_int_equal(s->kind, SPAN_KIND_CLIENT);
	assert_string_equal(s->name, "GET");
	assert_str_attr(s, "url.full", "http://api.example:8080/users/42");
	assert_str_attr(s, "server.address", "api.example");
	assert_int_attr(s, "server.port", 8080);
	assert_str_attr(s, "network.peer.address", "10.1.2.3");
	assert_int_attr(s, "network.peer.port", 8080);
	assert_no_attr(s, "client.address");
	assert_no_attr(s, "url.path");
	span_free(s);

	/* No Host: the peer, port left out when it is 80. */
	txn_reset(SB_ROLE_CLIENT);
	set_addr(txn->tuple.raddr, "10.1.2.3");
	txn->tuple.rport = 8080;
	strcpy(txn->target, "/x");
	s = build(b);
	assert_str_attr(s, "url.full", "http://10.1.2.3:8080/x");
	assert_str_attr(s, "server.address", "10.1.2.3");
	assert_int_attr(s, "server.port", 8080);
	span_free(s);

	txn_reset(SB_ROLE_CLIENT);
	set_addr(txn->tuple.raddr, "2001:db8::1");
	txn->tuple.rport = 80;
	strcpy(txn->target, "/x");
	s = build(b);
	assert_str_attr(s, "url.full", "http://[2001:db8::1]/x");
	span_free(s);

	/* Absolute-form to a proxy: the URL as requested, credentials dropped. */
	txn_reset(SB_ROLE_CLIENT);
	strcpy(txn->target, "http://user:pw@origin.example/a?b=1");
	strcpy(txn->host, "origin.example");
	s = build(b);
	assert_str_attr(s, "url.full", "http://origin.example/a");
	assert_str_attr(s, "server.address", "origin.example");
	assert_int_attr(s, "server.port", 80);
	span_free(s);
	builder_free(b);
}

static void test_record_query(void **state)
{
	struct builder *on = new_builder(true), *off = new_builder(false);
	struct span *s;

	txn_reset(SB_ROLE_SERVER);
	strcpy(txn->target, "/search?q=a%20b&n=1#frag");
	s = builder_build(on, txn);
	assert_str_attr(s, "url.query", "q=a%20b&n=1");
	assert_str_attr(s, "url.path", "/search");
	assert_string_equal(s->name, "GET /search");
	span_free(s);
	s = builder_build(off, txn);
	assert_no_attr(s, "url.query");
	span_free(s);

	/* A bare '?' is no query. */
	strcpy(txn->target, "/search?");
	s = builder_build(on, txn);
	assert_no_attr(s, "url.query");
	span_free(s);

	txn_reset(SB_ROLE_CLIENT);
	strcpy(txn->target, "/search?q=1");
	strcpy(txn->host, "h");
	s = builder_build(on, txn);
	assert_str_attr(s, "url.full", "http://h/search?q=1");
	assert_no_attr(s, "url.query");
	span_free(s);
	s = builder_build(off, txn);
	assert_str_attr(s, "url.full", "http://h/search");
	span_free(s);
	builder_free(on);
	builder_free(off);
}

static void test_status(void **state)
{
	static const struct {
		uint8_t role;
		int status;
		uint16_t flags;
		int want_status;
		const char *want_type;
	} cases[] = {
		{ SB_ROLE_SERVER, 200, 0, SPAN_STATUS_UNSET, NULL },
		{ SB_ROLE_SERVER, 101, 0, SPAN_STATUS_UNSET, NULL },
		{ SB_ROLE_SERVER, 302, 0, SPAN_STATUS_UNSET, NULL },
		{ SB_ROLE_SERVER, 404, 0, SPAN_STATUS_UNSET, NULL },
		{ SB_ROLE_SERVER, 499, 0, SPAN_STATUS_UNSET, NULL },
		{ SB_ROLE_SERVER, 500, 0, SPAN_STATUS_ERROR, "500" },
		{ SB_ROLE_SERVER, 503, 0, SPAN_STATUS_ERROR, "503" },
		{ SB_ROLE_SERVER, 0, TXN_F_NO_RESPONSE, SPAN_STATUS_ERROR, "no_response" },
		{ SB_ROLE_SERVER, 200, TXN_F_RESP_TRUNCATED, SPAN_STATUS_ERROR,
		  "response_truncated" },
		{ SB_ROLE_SERVER, 502, TXN_F_RESP_TRUNCATED, SPAN_STATUS_ERROR, "502" },
		{ SB_ROLE_SERVER, 200, TXN_F_LOST_SYNC, SPAN_STATUS_UNSET, NULL },
		{ SB_ROLE_CLIENT, 200, 0, SPAN_STATUS_UNSET, NULL },
		{ SB_ROLE_CLIENT, 399, 0, SPAN_STATUS_UNSET, NULL },
		{ SB_ROLE_CLIENT, 400, 0, SPAN_STATUS_ERROR, "400" },
		{ SB_ROLE_CLIENT, 404, 0, SPAN_STATUS_ERROR, "404" },
		{ SB_ROLE_CLIENT, 500, 0, SPAN_STATUS_ERROR, "500" },
		{ SB_ROLE_CLIENT, 0, TXN_F_NO_RESPONSE, SPAN_STATUS_ERROR, "no_response" },
		{ SB_ROLE_CLIENT, 0, TXN_F_CONN_REFUSED, SPAN_STATUS_ERROR, "connection_refused" },
		/* A response that came and did not parse is never a silent success. */
		{ SB_ROLE_SERVER, 0, TXN_F_RESP_MALFORMED | TXN_F_LOST_SYNC, SPAN_STATUS_ERROR,
		  "malformed_response" },
		{ SB_ROLE_CLIENT, 0, TXN_F_RESP_MALFORMED, SPAN_STATUS_ERROR,
		  "malformed_response" },
	};
	struct builder *b = new_builder(false);

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct span *s;

		txn_reset(cases[i].role);
		txn->status = cases[i].status;
		txn->flags = cases[i].flags;
		s = build(b);
		if (s->status != cases[i].want_status)
			fail_msg("case %zu: status %u, want %d", i, s->status,
				 cases[i].want_status);
		if (cases[i].want_type)
			assert_str_attr(s, "error.type", cases[i].want_type);
		else
			assert_no_attr(s, "error.type");
		if (cases[i].status)
			assert_int_attr(s, "http.response.status_code", cases[i].status);
		else
			assert_no_attr(s, "http.response.status_code");
		/* A description only where the status code does not say it all. */
		if (cases[i].want_type && cases[i].want_type[0] >= 'a')
			assert_non_null(s->status_message);
		else
			assert_null(s->status_message);
		span_free(s);
	}
	builder_free(b);
}

/*
 * A refused connect with no request: the connect() error names it, whatever
 * status the exchange carries (a 4xx/5xx here once passed NULL to strlen).
 */
static void test_connect_failure_with_status(void **state)
{
	static const int statuses[] = { 0, 200, 404, 503 };
	struct builder *b = new_builder(false);

	for (size_t i = 0; i < ARRAY_SIZE(statuses); i++) {
		struct span *s;

		txn_reset(SB_ROLE_CLIENT);
		txn->method[0] = '\0';
		txn->target[0] = '\0';
		txn->status = statuses[i];
		txn->flags = TXN_F_CONN_REFUSED;
		txn->conn_errno = ETIMEDOUT;
		s = build(b);
		assert_string_equal(s->name, "HTTP");
		assert_int_equal(s->status, SPAN_STATUS_ERROR);
		assert_str_attr(s, "error.type", "timeout");
		assert_string_equal(s->status_message, "connect() failed");
		span_free(s);
	}
	builder_free(b);
}

static void test_invalid_utf8(void **state)
{
	struct builder *b = new_builder(true);
	struct span *s;

	txn_reset(SB_ROLE_SERVER);
	strcpy(txn->target, "/caf\xc3\xa9/\xff\xfe?q=\xc0\xaf");
	strcpy(txn->user_agent, "agent\x80");
	strcpy(txn->method, "G\xe9T");
	s = build(b);
	assert_str_attr(s, "url.path", "/caf\xc3\xa9/\xef\xbf\xbd\xef\xbf\xbd");
	assert_str_attr(s, "url.query", "q=\xef\xbf\xbd\xef\xbf\xbd");
	assert_str_attr(s, "user_agent.original", "agent\xef\xbf\xbd");
	assert_str_attr(s, "http.request.method_original", "G\xef\xbf\xbdT");
	assert_string_equal(s->name, "HTTP /caf\xc3\xa9/\xef\xbf\xbd\xef\xbf\xbd");
	span_free(s);
	builder_free(b);
}

static void test_utf8_sanitize(void **state)
{
	char out[16];

	assert_int_equal(utf8_sanitize(out, sizeof(out), "abc", 3), 3);
	assert_string_equal(out, "abc");
	/* Overlong, surrogate, beyond U+10FFFF, truncated sequence. */
	assert_int_equal(utf8_sanitize(out, sizeof(out), "\xc0\x80", 2), 6);
	assert_int_equal(utf8_char_len("\xed\xa0\x80", 3), 0);
	assert_int_equal(utf8_char_len("\xf4\x90\x80\x80", 4), 0);
	assert_int_equal(utf8_char_len("\xf0\x9f\x98\x80", 4), 4);
	assert_int_equal(utf8_char_len("\xe2\x82", 2), 0);
	/* Never cut a character: 4 bytes fit in 5, the next 4 do not. */
	assert_int_equal(utf8_sanitize(out, 6, "\xf0\x9f\x98\x80\xf0\x9f\x98\x80", 8), 4);
	assert_int_equal(utf8_sanitize(out, 1, "abc", 3), 0);
	assert_string_equal(out, "");
}

/* ---- ids, timestamps, skips ------------------------------------------------- */

static int cmp16(const void *a, const void *b)
{
	return memcmp(a, b, 16);
}

static int cmp8(const void *a, const void *b)
{
	return memcmp(a, b, 8);
}

static void test_ids(void **state)
{
	enum { N = 10000 };
	struct builder *b = new_builder(false);
	uint8_t(*tids)[16] = calloc(N, 16);
	uint8_t(*sids)[8] = calloc(N, 8);
	static const uint8_t zero[16];

	assert_non_null(tids);
	assert_non_null(sids);
	txn_reset(SB_ROLE_SERVER);
	for (int i = 0; i < N; i++) {
		struct span *s = build(b);

		assert_memory_not_equal(s->trace_id, zero, 16);
		assert_memory_not_equal(s->span_id, zero, 8);
		assert_false(s->has_parent);
		assert_int_equal(s->trace_flags, 0x01);
		memcpy(tids[i], s->trace_id, 16);
		memcpy(sids[i], s->span_id, 8);
		span_free(s);
	}
	qsort(tids, N, 16, cmp16);
	qsort(sids, N, 8, cmp8);
	for (int i = 1; i < N; i++) {
		assert_memory_not_equal(tids[i - 1], tids[i], 16);
		assert_memory_not_equal(sids[i - 1], sids[i], 8);
	}
	free(tids);
	free(sids);
	builder_free(b);
}

static void test_timestamps(void **state)
{
	struct builder *b = new_builder(false);
	struct builder_opts o = { .proc_root = NO_PROC, .host_name = "h" };
	struct timespec rt, mono;
	struct span *s;
	uint64_t off, want;

	txn_reset(SB_ROLE_SERVER);
	txn->start_ns = 5;
	txn->end_ns = 1234567;
	s = build(b);
	assert_int_equal(s->start_unix_ns, 1000000000000000005ull);
	assert_int_equal(s->end_unix_ns, 1000000000001234567ull);
	span_free(s);

	/* An end before the start is clamped. */
	txn->end_ns = 1;
	s = build(b);
	assert_int_equal(s->end_unix_ns, s->start_unix_ns);
	span_free(s);
	builder_free(b);

	/* Measured offset: REALTIME - MONOTONIC within a millisecond. */
	b = builder_new(&o);
	assert_non_null(b);
	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	want = ((uint64_t)rt.tv_sec - (uint64_t)mono.tv_sec) * 1000000000ull +
	       (uint64_t)rt.tv_nsec - (uint64_t)mono.tv_nsec;
	off = builder_mono_to_unix_ns(b);
	assert_true(off > want ? off - want < 1000000 : want - off < 1000000);
	builder_free(b);
}

static void test_skips_and_resource(void **state)
{
	struct builder *b = new_builder(false);
	struct builder_stats st;
	const struct attr *a;
	struct span *s;

	txn_reset(SB_ROLE_UNKNOWN);
	assert_null(builder_build(b, txn));
	txn_reset(SB_ROLE_SERVER);
	txn->method[0] = '\0';
	assert_null(builder_build(b, txn));

	/* Gone process: a resource all the same. */
	txn_reset(SB_ROLE_SERVER);
	s = build(b);
	assert_non_null(s->resource);
	assert_int_equal(s->resource->tgid, 4242);
	a = resource_find_attr(s->resource, "service.name");
	assert_non_null(a);
	assert_string_equal(a->s, "unknown_service");
	a = resource_find_attr(s->resource, "host.name");
	assert_non_null(a);
	assert_string_equal(a->s, "testhost");
	span_free(s);
	builder_proc_exit(b, 4242);

	builder_get_stats(b, &st);
	assert_int_equal(st.built, 1);
	assert_int_equal(st.skipped, 2);
	builder_free(b);
}

static void test_resource_real_proc(void **state)
{
	struct builder_opts o = { .host_name = "h" };
	struct builder *b = builder_new(&o);
	char exe[4096], *base;
	const struct attr *a;
	struct span *s;
	ssize_t n;

	assert_non_null(b);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(n > 0);
	exe[n] = '\0';
	base = strrchr(exe, '/') + 1;
	txn_reset(SB_ROLE_SERVER);
	txn->tgid = (uint32_t)getpid();
	s = build(b);
	a = resource_find_attr(s->resource, "process.executable.name");
	assert_non_null(a);
	assert_string_equal(a->s, base);
	a = resource_find_attr(s->resource, "process.pid");
	assert_non_null(a);
	assert_int_equal(a->i, getpid());
	span_free(s);
	builder_free(b);
}

/* ---- traceparent ------------------------------------------------------------ */

#define TID "4bf92f3577b34da6a3ce929d0e0e4736"
#define PID "00f067aa0ba902b7"

static void test_traceparent_table(void **state)
{
	static const struct {
		const char *s;
		int ok;
		uint8_t flags;
	} cases[] = {
		{ "00-" TID "-" PID "-01", 1, 0x01 },
		{ "00-" TID "-" PID "-00", 1, 0x00 },
		{ "00-" TID "-" PID "-03", 1, 0x03 },
		{ "00-4BF92F3577B34DA6A3CE929D0E0E4736-" PID "-01", 0, 0 },
		{ "00-" TID "-00F067AA0BA902B7-01", 0, 0 },
		{ "00-" TID "-" PID "-0A", 0, 0 },
		{ "0A-" TID "-" PID "-01", 0, 0 },
		{ "00-" TID "-" PID "-01-", 0, 0 },
		{ "00-" TID "-" PID "-01x", 0, 0 },
		{ "00-" TID "-" PID "-1", 0, 0 },
		{ "00-" TID "0-" PID "-01", 0, 0 },
		{ "00-" TID "-" PID "0-01", 0, 0 },
		{ "00-4bf92f3577b34da6a3ce929d0e0e473-" PID "-01", 0, 0 },
		{ "00-00000000000000000000000000000000-" PID "-01", 0, 0 },
		{ "00-" TID "-0000000000000000-01", 0, 0 },
		{ "ff-" TID "-" PID "-01", 0, 0 },
		{ "01-" TID "-" PID "-01", 1, 0x01 },
		{ "01-" TID "-" PID "-03", 1, 0x01 },
		{ "cc-" TID "-" PID "-01-what-the-future-holds", 1, 0x01 },
		{ "cc-" TID "-" PID "-01what", 0, 0 },
		{ "cc-" TID "-" PID "-0", 0, 0 },
		{ "00_" TID "-" PID "-01", 0, 0 },
		{ "00-" TID "_" PID "-01", 0, 0 },
		{ "00-" TID "-" PID "_01", 0, 0 },
		{ " 00-" TID "-" PID "-01", 0, 0 },
		{ "00-" TID "-" PID "-g1", 0, 0 },
		{ "", 0, 0 },
		{ "00", 0, 0 },
	};
	static const uint8_t want_tid[16] = { 0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
					      0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36 };
	static const uint8_t want_pid[8] = { 0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7 };

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		uint8_t tid[16] = { 0 }, pid[8] = { 0 }, fl = 0xee;
		int r = traceparent_parse(cases[i].s, tid, pid, &fl);

		if ((r == 0) != cases[i].ok)
			fail_msg("traceparent \"%s\": got %d", cases[i].s, r);
		if (!cases[i].ok) {
			assert_int_equal(fl, 0xee);
			continue;
		}
		assert_memory_equal(tid, want_tid, 16);
		assert_memory_equal(pid, want_pid, 8);
		assert_int_equal(fl, cases[i].flags);
	}
	assert_int_equal(traceparent_parse(NULL, NULL, NULL, NULL), -1);
}

static void test_traceparent_join(void **state)
{
	static const uint8_t want_tid[16] = { 0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
					      0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36 };
	static const uint8_t want_pid[8] = { 0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7 };
	struct builder *b = new_builder(false);
	struct span_context parent = { 0 }, self = { 0 }, pre;
	struct span *s;

	/*
	 * The header is the correlator's to read (correlate.c, the one parser):
	 * the builder takes the parent it is given, and a header alone makes no
	 * link, on server spans as on client spans.
	 */
	txn_reset(SB_ROLE_SERVER);
	strcpy(txn->traceparent, "00-" TID "-" PID "-00");
	s = builder_build_ex(b, txn, NULL, &self);
	assert_false(s->has_parent);
	assert_memory_not_equal(s->trace_id, want_tid, 16);
	assert_true(self.valid);
	assert_memory_equal(self.span_id, s->span_id, 8);
	span_free(s);

	/* The correlator's decision from that header: a child in its trace. */
	assert_int_equal(traceparent_parse(txn->traceparent, parent.trace_id, parent.span_id,
					   &parent.trace_flags), 0);
	parent.valid = true;
	s = builder_build_ex(b, txn, &parent, NULL);
	assert_true(s->has_parent);
	assert_memory_equal(s->trace_id, want_tid, 16);
	assert_memory_equal(s->parent_span_id, want_pid, 8);
	assert_memory_not_equal(s->span_id, want_pid, 8);
	assert_int_equal(s->trace_flags, 0x01);
	span_free(s);
	memset(&parent, 0, sizeof(parent));

	txn_reset(SB_ROLE_CLIENT);
	strcpy(txn->traceparent, "00-" TID "-" PID "-01");
	s = build(b);
	assert_false(s->has_parent);
	span_free(s);

	/* An explicit parent wins over the header. */
	txn_reset(SB_ROLE_SERVER);
	strcpy(txn->traceparent, "00-" TID "-" PID "-01");
	builder_new_context(b, NULL, &parent);
	s = builder_build_ex(b, txn, &parent, NULL);
	assert_true(s->has_parent);
	assert_memory_equal(s->trace_id, parent.trace_id, 16);
	assert_memory_equal(s->parent_span_id, parent.span_id, 8);
	span_free(s);

	/* Ids made in advance are used as they are. */
	builder_new_context(b, &parent, &pre);
	assert_memory_equal(pre.trace_id, parent.trace_id, 16);
	self = pre;
	s = builder_build_ex(b, txn, &parent, &self);
	assert_memory_equal(s->trace_id, pre.trace_id, 16);
	assert_memory_equal(s->span_id, pre.span_id, 8);
	assert_memory_equal(s->parent_span_id, parent.span_id, 8);
	span_free(s);

	/* Ids made in advance without a parent: a header of another trace is not taken. */
	builder_new_context(b, NULL, &self);
	s = builder_build_ex(b, txn, NULL, &self);
	assert_false(s->has_parent);
	span_free(s);
	builder_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_template_table),
		cmocka_unit_test(test_methods),
		cmocka_unit_test(test_server_attrs_ipv4),
		cmocka_unit_test(test_attrs_ipv6),
		cmocka_unit_test(test_client_attrs),
		cmocka_unit_test(test_record_query),
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_connect_failure_with_status),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_utf8_sanitize),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_timestamps),
		cmocka_unit_test(test_skips_and_resource),
		cmocka_unit_test(test_resource_real_proc),
		cmocka_unit_test(test_traceparent_table),
		cmocka_unit_test(test_traceparent_join),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
