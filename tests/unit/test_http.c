// SPDX-License-Identifier: Apache-2.0
/* Unit tests for agent/http.c: heads, framing, chunked decoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http.h"

static int req(const char *s, struct http_request *r)
{
	memset(r, 0x5a, sizeof(*r));
	return http_parse_request(s, strlen(s), r);
}

static int resp(const char *s, struct http_response *r)
{
	memset(r, 0x5a, sizeof(*r));
	return http_parse_response(s, strlen(s), r);
}

static void test_request_simple(void **state)
{
	const char *s = "GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n";
	struct http_request r;

	assert_int_equal(req(s, &r), (int)strlen(s));
	assert_string_equal(r.method, "GET");
	assert_string_equal(r.target, "/index.html?q=1");
	assert_int_equal(r.version_minor, 1);
	assert_string_equal(r.host, "example.com");
	assert_string_equal(r.user_agent, "");
	assert_string_equal(r.traceparent, "");
	assert_false(r.has_content_length);
	assert_false(r.has_transfer_encoding);
	assert_false(r.chunked);
	assert_false(r.conn_close);
	assert_false(r.expect_continue);
	assert_false(r.target_truncated);
}

static void test_request_fields(void **state)
{
	const char *s = "POST /api HTTP/1.0\r\n"
			"hOsT:   a.example:8080  \r\n"
			"User-Agent:\tcurl/8.0\t\r\n"
			"TRACEPARENT: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n"
			"content-length: 42\r\n"
			"Connection: Keep-Alive, Upgrade\r\n"
			"Expect: 100-Continue\r\n"
			"X-Empty:\r\n"
			"\r\n"
			"body bytes are not part of the head";
	struct http_request r;
	int n = req(s, &r);

	assert_int_equal(n, (int)(strstr(s, "body") - s));
	assert_string_equal(r.method, "POST");
	assert_int_equal(r.version_minor, 0);
	assert_string_equal(r.host, "a.example:8080");
	assert_string_equal(r.user_agent, "curl/8.0");
	assert_string_equal(r.traceparent,
			    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
	assert_true(r.has_content_length);
	assert_int_equal(r.content_length, 42);
	assert_true(r.conn_keep_alive);
	assert_false(r.conn_close);
	assert_true(r.expect_continue);
}

static void test_request_bare_lf_and_leading_blank_lines(void **state)
{
	const char *s = "\r\n\nDELETE /x HTTP/1.1\nHost: h\nConnection: close\n\n";
	struct http_request r;

	assert_int_equal(req(s, &r), (int)strlen(s));
	assert_string_equal(r.method, "DELETE");
	assert_string_equal(r.host, "h");
	assert_true(r.conn_close);
	/* Mixed endings: a bare LF in a CRLF head (or a CR in an LF one) is malformed. */
	assert_int_equal(req("GET / HTTP/1.1\r\nA: b\n\r\n", &r), HTTP_ERROR);
	assert_int_equal(req("GET / HTTP/1.1\r\nA: b\r\n\n", &r), HTTP_ERROR);
	assert_int_equal(req("GET / HTTP/1.1\nA: b\r\n\r\n", &r), HTTP_ERROR);
}

/* Every proper prefix needs more; the whole head parses; bytes after it are not taken. */
static void test_request_split_every_offset(void **state)
{
	const char *s = "PUT /upload/file.txt HTTP/1.1\r\nHost: up.example\r\n"
			"Transfer-Encoding: chunked\r\nUser-Agent: t\r\n\r\n5\r\nhello\r\n";
	size_t hl = (size_t)(strstr(s, "5\r\nhello") - s), k;
	struct http_request r;

	for (k = 0; k < hl; k++)
		assert_int_equal(http_parse_request(s, k, &r), HTTP_NEED_MORE);
	for (k = hl; k <= strlen(s); k++) {
		assert_int_equal(http_parse_request(s, k, &r), (int)hl);
		assert_true(r.chunked);
		assert_string_equal(r.host, "up.example");
	}
	/* The same with bare LF. */
	s = "GET / HTTP/1.0\nHost: x\n\n";
	for (k = 0; k < strlen(s); k++)
		assert_int_equal(http_parse_request(s, k, &r), HTTP_NEED_MORE);
	assert_int_equal(http_parse_request(s, strlen(s), &r), (int)strlen(s));
}

static void test_request_bad_methods(void **state)
{
	static const char *const bad[] = {
		" GET / HTTP/1.1\r\n\r\n",
		"G(T / HTTP/1.1\r\n\r\n",
		"GE\x01T / HTTP/1.1\r\n\r\n",
		"GET\t/ HTTP/1.1\r\n\r\n",
		"GET  / HTTP/1.1\r\n\r\n",
		"/ HTTP/1.1\r\n\r\n",
		"ABCDEFGHIJKLMNOPQRSTUVWXYZ / HTTP/1.1\r\n\r\n",
		"G\xc3\xa9T / HTTP/1.1\r\n\r\n",
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"SSH-2.0-OpenSSH_9.2\r\n",
	};
	struct http_request r;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(req(bad[i], &r), HTTP_ERROR);
		assert_int_equal(http_request_prefix(bad[i], strlen(bad[i])), HTTP_PREFIX_NO);
	}
	/* Unusual but valid tokens. */
	assert_true(req("M-SEARCH * HTTP/1.1\r\n\r\n", &r) > 0);
	assert_string_equal(r.method, "M-SEARCH");
	assert_string_equal(r.target, "*");
	assert_true(req("get / HTTP/1.1\r\n\r\n", &r) > 0);
}

static void test_request_bad_versions_and_targets(void **state)
{
	static const char *const bad[] = {
		"GET / HTTP/2.0\r\n\r\n",	"GET / HTTP/1.2\r\n\r\n",
		"GET / http/1.1\r\n\r\n",	"GET / HTTP/1.1x\r\n\r\n",
		"GET / HTTP/1.1 \r\n\r\n",	"GET /\r\n\r\n",
		"GET / HTTP/1\r\n\r\n",		"GET /a b HTTP/1.1\r\n\r\n",
		"GET /a\x7f HTTP/1.1\r\n\r\n",	"GET /\x01 HTTP/1.1\r\n\r\n",
		"GET  HTTP/1.1\r\n\r\n",		"GET / HTTP/1.1\r\r\n\r\n",
	};
	struct http_request r;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(req(bad[i], &r), HTTP_ERROR);
	/* A bare CR inside the head is no line end. */
	assert_int_equal(req("GET / HTTP/1.1\rHost: x\r\n\r\n", &r), HTTP_ERROR);
}

static void test_request_long_target(void **state)
{
	size_t n = 3000, k;
	char *s = malloc(n + 64);
	struct http_request r;

	assert_non_null(s);
	strcpy(s, "GET /");
	for (k = 5; k < n; k++)
		s[k] = 'a' + (char)(k % 26);
	strcpy(s + n, " HTTP/1.1\r\n\r\n");
	assert_int_equal(req(s, &r), (int)strlen(s));
	assert_true(r.target_truncated);
	assert_int_equal(strlen(r.target), TXN_TARGET_MAX - 1);
	assert_memory_equal(r.target, s + 4, TXN_TARGET_MAX - 1);
	free(s);
}

static void test_request_huge_head(void **state)
{
	size_t cap = HTTP_HEAD_MAX + 4096, n;
	char *s = malloc(cap);
	struct http_request r;

	assert_non_null(s);
	n = (size_t)sprintf(s, "GET / HTTP/1.1\r\n");
	while (n < HTTP_HEAD_MAX - 40)
		n += (size_t)sprintf(s + n, "X-Fill: %032d\r\n", 7);
	/* Just under the limit: fine. */
	n += (size_t)sprintf(s + n, "\r\n");
	assert_true(n <= HTTP_HEAD_MAX);
	assert_int_equal(http_parse_request(s, n, &r), (int)n);
	/* Over it: an error, complete or not. */
	n -= 2;
	while (n < HTTP_HEAD_MAX + 100)
		n += (size_t)sprintf(s + n, "X-Fill: %032d\r\n", 7);
	assert_int_equal(http_parse_request(s, n, &r), HTTP_ERROR);
	n += (size_t)sprintf(s + n, "\r\n");
	assert_int_equal(http_parse_request(s, n, &r), HTTP_ERROR);
	/* No line end at all within the limit. */
	memset(s, 'A', cap);
	memcpy(s, "GET /", 5);
	assert_int_equal(http_parse_request(s, HTTP_HEAD_MAX, &r), HTTP_ERROR);
	assert_int_equal(http_parse_request(s, HTTP_HEAD_MAX - 1, &r), HTTP_NEED_MORE);
	free(s);
}

static void test_content_length(void **state)
{
	struct http_request r;
	struct http_response rs;
	uint64_t len;

	assert_true(req("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
			&r) > 0);
	assert_int_equal(r.content_length, 5);
	assert_true(req("POST / HTTP/1.1\r\nContent-Length: 7, 7 ,7\r\n\r\n", &r) > 0);
	assert_int_equal(r.content_length, 7);
	assert_true(req("POST / HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\n", &r) > 0);
	assert_true(r.content_length == UINT64_MAX);
	assert_true(req("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", &r) > 0);
	assert_int_equal(http_request_body(&r, &len), HTTP_BODY_NONE);

	static const char *const bad[] = {
		"Content-Length: 5\r\nContent-Length: 6\r\n",
		"Content-Length: 5, 6\r\n",
		"Content-Length: 18446744073709551616\r\n",
		"Content-Length: 99999999999999999999999\r\n",
		"Content-Length: +5\r\n",
		"Content-Length: -1\r\n",
		"Content-Length: 5a\r\n",
		"Content-Length: 0x10\r\n",
		"Content-Length:\r\n",
		"Content-Length: ,\r\n",
		"Content-Length: 5 5\r\n",
		"Content-Length : 5\r\n",
	};
	char buf[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(buf, sizeof(buf), "POST / HTTP/1.1\r\n%s\r\n", bad[i]);
		assert_int_equal(req(buf, &r), HTTP_ERROR);
		snprintf(buf, sizeof(buf), "HTTP/1.1 200 OK\r\n%s\r\n", bad[i]);
		assert_int_equal(resp(buf, &rs), HTTP_ERROR);
	}
}

static void test_transfer_encoding(void **state)
{
	struct http_request r;
	struct http_response rs;
	uint64_t len;

	assert_true(req("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n", &r) > 0);
	assert_true(r.chunked);
	assert_int_equal(http_request_body(&r, &len), HTTP_BODY_CHUNKED);
	/* Transfer-Encoding and Content-Length together: malformed (RFC 9112 §6.1). */
	assert_int_equal(req("POST / HTTP/1.1\r\nContent-Length: 3\r\n"
			     "Transfer-Encoding: chunked\r\n\r\n", &r), HTTP_ERROR);
	assert_int_equal(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
			      "Content-Length: 3\r\n\r\n", &rs), HTTP_ERROR);
	/* A transfer coding in HTTP/1.0, chunked applied twice: malformed. */
	assert_int_equal(req("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", &r),
			 HTTP_ERROR);
	assert_int_equal(req("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
			     &r), HTTP_ERROR);
	/* Several fields make one list: the last coding counts. */
	assert_true(req("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
			"Transfer-Encoding: gzip\r\n\r\n", &r) > 0);
	assert_false(r.chunked);
	assert_int_equal(http_request_body(&r, &len), HTTP_BODY_INVALID);
	assert_true(req("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n"
			"Transfer-Encoding: chunked\r\n\r\n", &r) > 0);
	assert_int_equal(http_request_body(&r, &len), HTTP_BODY_CHUNKED);
	/* A response whose last coding is not chunked is delimited by close. */
	assert_true(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", &rs) > 0);
	assert_int_equal(http_response_body(&rs, "GET", &len), HTTP_BODY_CLOSE);
	assert_true(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding:  chunked \r\n\r\n", &rs) > 0);
	assert_int_equal(http_response_body(&rs, "GET", &len), HTTP_BODY_CHUNKED);
}

static void test_field_syntax(void **state)
{
	struct http_response rs;
	static const char *const bad[] = {
		"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
		"GET / HTTP/1.1\r\nNoColon\r\n\r\n",
		"GET / HTTP/1.1\r\n: empty\r\n\r\n",
		"GET / HTTP/1.1\r\n folded-first: x\r\n\r\n",
		"GET / HTTP/1.1\r\nContent-Length: 1\r\n 2\r\n\r\n",
		"GET / HTTP/1.1\r\nX-A: a\0b\r\n\r\n",
		"GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n",
		"GET / HTTP/1.1\r\nX(A): a\r\n\r\n",
	};
	struct http_request r;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* Lengths by hand: one of them holds a NUL. */
		size_t n = strlen(bad[i]);

		if (i == 5)
			n = sizeof("GET / HTTP/1.1\r\nX-A: a\0b\r\n\r\n") - 1;
		assert_int_equal(http_parse_request(bad[i], n, &r), HTTP_ERROR);
	}
	/* obs-fold: malformed in a request; one SP in a response, unless it continues framing. */
	assert_int_equal(req("GET / HTTP/1.1\r\nX-A: a\r\n  more\r\nHost: h\r\n\r\n", &r),
			 HTTP_ERROR);
	assert_true(resp("HTTP/1.1 200 OK\r\nX-A: a\r\n  more\r\n\r\n", &rs) > 0);
	assert_int_equal(resp("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n 2\r\n\r\n", &rs),
			 HTTP_ERROR);
}

static void test_field_limits(void **state)
{
	char buf[4096], val[1024];
	struct http_request r;

	memset(val, 'h', 300);
	val[300] = '\0';
	snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", val);
	assert_true(req(buf, &r) > 0);
	assert_string_equal(r.host, "");
	/* The first Host wins. */
	assert_true(req("GET / HTTP/1.1\r\nHost: one\r\nHost: two\r\n\r\n", &r) > 0);
	assert_string_equal(r.host, "one");

	memset(val, 'u', 700);
	val[700] = '\0';
	snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nUser-Agent: %s\r\n\r\n", val);
	assert_true(req(buf, &r) > 0);
	assert_int_equal(strlen(r.user_agent), TXN_UA_MAX - 1);

	memset(val, 'f', 64);
	val[64] = '\0';
	snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\ntraceparent: %s\r\n\r\n", val);
	assert_true(req(buf, &r) > 0);
	assert_string_equal(r.traceparent, "");
	val[63] = '\0';
	snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\ntraceparent: %s\r\n\r\n", val);
	assert_true(req(buf, &r) > 0);
	assert_string_equal(r.traceparent, val);
	/* Two traceparent fields make it invalid. */
	snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\ntraceparent: %s\r\ntraceparent: %s\r\n\r\n",
		 val, val);
	assert_true(req(buf, &r) > 0);
	assert_string_equal(r.traceparent, "");
}

static void test_response_heads(void **state)
{
	struct http_response r;
	const char *s;
	size_t k;

	s = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\nConnection: close\r\n\r\nhello world!";
	assert_int_equal(resp(s, &r), (int)(strlen(s) - 12));
	assert_int_equal(r.status, 200);
	assert_int_equal(r.version_minor, 1);
	assert_true(r.has_content_length);
	assert_int_equal(r.content_length, 12);
	assert_true(r.conn_close);
	assert_int_equal(resp("HTTP/1.0 404 Not Found\n\n", &r), 24);
	assert_int_equal(r.status, 404);
	assert_int_equal(r.version_minor, 0);
	assert_true(resp("HTTP/1.1 204\r\n\r\n", &r) > 0);
	assert_int_equal(r.status, 204);
	assert_true(resp("HTTP/1.1 599 \r\n\r\n", &r) > 0);
	assert_true(resp("HTTP/1.1 200 \xc3\xa9t\xc3\xa9 ok\r\n\r\n", &r) > 0);

	static const char *const bad[] = {
		"HTTP/1.1 20\r\n\r\n",	 "HTTP/1.1 abc OK\r\n\r\n", "HTTP/2 200 OK\r\n\r\n",
		"HTTP/1.1 099 X\r\n\r\n", "HTTP/1.1 2000 X\r\n\r\n", "HTTP/1.1  200 OK\r\n\r\n",
		"http/1.1 200 OK\r\n\r\n", "HTTP/1.1 200 O\x01K\r\n\r\n", "ICY 200 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
	};
	for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++)
		assert_int_equal(resp(bad[k], &r), HTTP_ERROR);

	s = "HTTP/1.1 301 Moved Permanently\r\nLocation: /new\r\nContent-Length: 0\r\n\r\n";
	for (k = 0; k < strlen(s); k++)
		assert_int_equal(http_parse_response(s, k, &r), HTTP_NEED_MORE);
	assert_int_equal(http_parse_response(s, k, &r), (int)k);
	assert_int_equal(r.status, 301);
}

static void test_prefix_checks(void **state)
{
	assert_int_equal(http_request_prefix("", 0), HTTP_PREFIX_MAYBE);
	assert_int_equal(http_request_prefix("GE", 2), HTTP_PREFIX_MAYBE);
	assert_int_equal(http_request_prefix("GET ", 4), HTTP_PREFIX_MAYBE);
	assert_int_equal(http_request_prefix("GET /a HTTP/1.", 14), HTTP_PREFIX_MAYBE);
	assert_int_equal(http_request_prefix("GET /a HTTP/1.1", 15), HTTP_PREFIX_YES);
	assert_int_equal(http_request_prefix("GET /a HTTP/1.1\r\nHost", 21), HTTP_PREFIX_YES);
	assert_int_equal(http_request_prefix("\r\nGET /a HTTP/1.0\n", 18), HTTP_PREFIX_YES);
	assert_int_equal(http_request_prefix("GET /a HTTP/1.3", 15), HTTP_PREFIX_NO);
	assert_int_equal(http_request_prefix("HTTP/1.1 200 OK", 15), HTTP_PREFIX_NO);
	assert_int_equal(http_request_prefix("\x00\x00\x00\x08", 4), HTTP_PREFIX_NO);
	assert_int_equal(http_request_prefix("*3\r\n$3\r\nSET", 11), HTTP_PREFIX_NO);

	assert_int_equal(http_response_prefix("HTTP/1.", 7), HTTP_PREFIX_MAYBE);
	assert_int_equal(http_response_prefix("HTTP/1.1 2", 10), HTTP_PREFIX_MAYBE);
	assert_int_equal(http_response_prefix("HTTP/1.1 200", 12), HTTP_PREFIX_YES);
	assert_int_equal(http_response_prefix("HTTP/1.1 200 OK", 15), HTTP_PREFIX_YES);
	assert_int_equal(http_response_prefix("HTTP/1.1 200\r\n", 14), HTTP_PREFIX_YES);
	assert_int_equal(http_response_prefix("HTTP/2 200", 10), HTTP_PREFIX_NO);
	assert_int_equal(http_response_prefix("HTTP/1.1 2x", 11), HTTP_PREFIX_NO);
	assert_int_equal(http_response_prefix("GET / HTTP/1.1", 14), HTTP_PREFIX_NO);
}

static void test_body_framing(void **state)
{
	struct http_request r;
	struct http_response rs;
	uint64_t len;

	assert_true(req("GET / HTTP/1.1\r\n\r\n", &r) > 0);
	assert_int_equal(http_request_body(&r, &len), HTTP_BODY_NONE);
	assert_true(req("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n", &r) > 0);
	assert_int_equal(http_request_body(&r, &len), HTTP_BODY_LENGTH);
	assert_int_equal(len, 10);

	assert_true(resp("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", &rs) > 0);
	assert_int_equal(http_response_body(&rs, "GET", &len), HTTP_BODY_LENGTH);
	assert_int_equal(len, 10);
	assert_int_equal(http_response_body(&rs, "HEAD", &len), HTTP_BODY_NONE);
	assert_true(resp("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", &rs) > 0);
	assert_int_equal(http_response_body(&rs, "GET", &len), HTTP_BODY_NONE);
	assert_true(resp("HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n", &rs) > 0);
	assert_int_equal(http_response_body(&rs, "GET", &len), HTTP_BODY_NONE);
	assert_true(resp("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
			 &rs) > 0);
	assert_int_equal(http_response_body(&rs, "GET", &len), HTTP_BODY_NONE);
	assert_true(resp("HTTP/1.1 100 Continue\r\n\r\n", &rs) > 0);
	assert_true(http_status_interim(rs.status));
	assert_int_equal(http_response_body(&rs, "POST", &len), HTTP_BODY_NONE);
	assert_true(resp("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
			 &rs) > 0);
	assert_false(http_status_interim(rs.status));
	assert_int_equal(http_response_body(&rs, "GET", &len), HTTP_BODY_TUNNEL);
	assert_true(resp("HTTP/1.1 200 Connection established\r\n\r\n", &rs) > 0);
	assert_int_equal(http_response_body(&rs, "CONNECT", &len), HTTP_BODY_TUNNEL);
	assert_int_equal(http_response_body(&rs, "GET", &len), HTTP_BODY_CLOSE);
	assert_true(resp("HTTP/1.1 407 Proxy Auth\r\nContent-Length: 3\r\n\r\n", &rs) > 0);
	assert_int_equal(http_response_body(&rs, "CONNECT", &len), HTTP_BODY_LENGTH);
	assert_true(resp("HTTP/1.0 200 OK\r\n\r\n", &rs) > 0);
	assert_int_equal(http_response_body(&rs, "GET", &len), HTTP_BODY_CLOSE);
}

/* Decode s in pieces cut at the given offsets; returns the DONE offset or -1. */
static long chunked_split(const char *s, size_t n, const size_t *cuts, size_t ncuts,
			  uint64_t *body)
{
	struct http_chunked c;
	size_t from = 0, i, used;
	int r = HTTP_CHUNKED_MORE;

	http_chunked_init(&c);
	for (i = 0; i <= ncuts; i++) {
		size_t to = i < ncuts ? cuts[i] : n;

		r = http_chunked_feed(&c, s + from, to - from, &used);
		if (r == HTTP_CHUNKED_ERROR)
			return -1;
		if (r == HTTP_CHUNKED_DONE) {
			*body = c.body_len;
			assert_true(http_chunked_done(&c));
			return (long)(from + used);
		}
		assert_int_equal(used, to - from);
		from = to;
	}
	return -2;
}

static void test_chunked_split_every_offset(void **state)
{
	static const char s[] = "5;name=val\r\nhello\r\n"
				"1A ; a=b;c=\"d\"\r\nabcdefghijklmnopqrstuvwxyz\r\n"
				"000\r\n"
				"Trailer-One: x\r\nTrailer-Two: y\r\n\r\n"
				"NEXT MESSAGE";
	size_t n = sizeof(s) - 1, end = (size_t)(strstr(s, "NEXT") - s), a, b;
	uint64_t body = 0;
	size_t cuts[2];

	assert_int_equal(chunked_split(s, n, NULL, 0, &body), (long)end);
	assert_int_equal(body, 5 + 26);
	for (a = 0; a <= n; a++) {
		cuts[0] = a;
		assert_int_equal(chunked_split(s, n, cuts, 1, &body), (long)end);
		assert_int_equal(body, 31);
		for (b = a; b <= n; b += 3) {
			cuts[1] = b;
			assert_int_equal(chunked_split(s, n, cuts, 2, &body), (long)end);
		}
	}
}

static void test_chunked_byte_by_byte_bare_lf(void **state)
{
	static const char s[] = "3\nabc\n0\n\n";
	struct http_chunked c;
	size_t i, used;
	int r = 0;

	http_chunked_init(&c);
	for (i = 0; i < sizeof(s) - 1; i++) {
		r = http_chunked_feed(&c, s + i, 1, &used);
		assert_int_equal(used, 1);
		if (i < sizeof(s) - 2)
			assert_int_equal(r, HTTP_CHUNKED_MORE);
	}
	assert_int_equal(r, HTTP_CHUNKED_DONE);
	assert_int_equal(c.body_len, 3);
	/* Nothing more is taken after the end. */
	assert_int_equal(http_chunked_feed(&c, "x", 1, &used), HTTP_CHUNKED_DONE);
	assert_int_equal(used, 0);
}

static void test_chunked_errors(void **state)
{
	static const char *const bad[] = {
		"g\r\n",		/* not hex */
		"\r\n",			/* no size */
		"5\r\nhelloX\r\n",	/* no CRLF after data */
		"5\r\nhello\rX",	/* CR without LF */
		"1234567890abcdef0\r\n", /* too large */
		"5 x\r\n",		/* junk after the size */
		"5\rX",
		"0\r\nTrailer\r\n\rX",
		"-5\r\n",
	};
	struct http_chunked c;
	size_t i, used;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		http_chunked_init(&c);
		assert_int_equal(http_chunked_feed(&c, bad[i], strlen(bad[i]), &used),
				 HTTP_CHUNKED_ERROR);
		assert_true(used < strlen(bad[i]));
		/* Errors stick. */
		assert_int_equal(http_chunked_feed(&c, "0\r\n\r\n", 5, &used), HTTP_CHUNKED_ERROR);
	}
	/* Leading zeros are not digits that overflow. */
	http_chunked_init(&c);
	assert_int_equal(http_chunked_feed(&c, "00000000000000000000001\r\nx\r\n0\r\n\r\n", 34,
					   &used), HTTP_CHUNKED_DONE);
	/* A chunk size of 2^56 is fine (framing only). */
	http_chunked_init(&c);
	assert_int_equal(http_chunked_feed(&c, "100000000000000\r\n", 17, &used),
			 HTTP_CHUNKED_MORE);
	assert_true(c.remaining == (1ull << 56));
}

static void test_chunked_skip(void **state)
{
	struct http_chunked c;
	size_t used;

	http_chunked_init(&c);
	assert_int_equal(http_chunked_skip(&c, 10), 0);	/* size line unknown */
	assert_int_equal(http_chunked_feed(&c, "400\r\nab", 7, &used), HTTP_CHUNKED_MORE);
	assert_int_equal(http_chunked_skip(&c, 1000), 1000);
	assert_int_equal(http_chunked_skip(&c, 1000), 22);	/* only the rest of the chunk */
	assert_int_equal(http_chunked_skip(&c, 1000), 0);	/* CRLF must be seen */
	assert_int_equal(http_chunked_feed(&c, "\r\n0\r\n\r\n", 7, &used), HTTP_CHUNKED_DONE);
	assert_int_equal(c.body_len, 1024);
}

/* Random bytes and mutated heads: no crash, no out-of-bounds read (run under ASan). */
static void test_parsers_garbage(void **state)
{
	static const char seed_req[] = "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
				       "Transfer-Encoding: chunked\r\n\r\n";
	static const char seed_resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n";
	static const char alphabet[] = "\r\n :;,0aA/HTP1.-\t\x00\x80";
	struct http_request r;
	struct http_response rs;
	struct http_chunked c;
	unsigned seed = 12345;
	int it;

	for (it = 0; it < 20000; it++) {
		size_t n = (size_t)(rand_r(&seed) % 160), i, used;
		char *buf = malloc(n ? n : 1);
		const char *base = it & 1 ? seed_req : seed_resp;
		size_t blen = it & 1 ? sizeof(seed_req) - 1 : sizeof(seed_resp) - 1;

		assert_non_null(buf);
		for (i = 0; i < n; i++) {
			int m = rand_r(&seed) % 4;

			if (m == 0)
				buf[i] = (char)(rand_r(&seed) & 0xff);
			else if (m == 1)
				buf[i] = alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)];
			else
				buf[i] = base[i % blen];
		}
		int a = http_parse_request(buf, n, &r);
		int b = http_parse_response(buf, n, &rs);

		assert_true(a >= -1 && a <= (int)n);
		assert_true(b >= -1 && b <= (int)n);
		if (a > 0) {
			assert_true(strlen(r.method) < TXN_METHOD_MAX);
			assert_true(strlen(r.target) < TXN_TARGET_MAX);
		}
		(void)http_request_prefix(buf, n);
		(void)http_response_prefix(buf, n);
		http_chunked_init(&c);
		if (http_chunked_feed(&c, buf, n, &used) != HTTP_CHUNKED_ERROR)
			assert_true(used <= n);
		free(buf);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_simple),
		cmocka_unit_test(test_request_fields),
		cmocka_unit_test(test_request_bare_lf_and_leading_blank_lines),
		cmocka_unit_test(test_request_split_every_offset),
		cmocka_unit_test(test_request_bad_methods),
		cmocka_unit_test(test_request_bad_versions_and_targets),
		cmocka_unit_test(test_request_long_target),
		cmocka_unit_test(test_request_huge_head),
		cmocka_unit_test(test_content_length),
		cmocka_unit_test(test_transfer_encoding),
		cmocka_unit_test(test_field_syntax),
		cmocka_unit_test(test_field_limits),
		cmocka_unit_test(test_response_heads),
		cmocka_unit_test(test_prefix_checks),
		cmocka_unit_test(test_body_framing),
		cmocka_unit_test(test_chunked_split_every_offset),
		cmocka_unit_test(test_chunked_byte_by_byte_bare_lf),
		cmocka_unit_test(test_chunked_errors),
		cmocka_unit_test(test_chunked_skip),
		cmocka_unit_test(test_parsers_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
