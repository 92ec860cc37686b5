// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_http.c - request and response heads, their framing and the chunked
 * decoder (agent/http.c) on arbitrary bytes.  Checks: results stay within
 * the buffer, fields are NUL-terminated and in range, a head parses the
 * same from its exact bytes, the start-line checks agree with the parsers,
 * and chunked decoding gives the same result whatever the split point.
 */
#include <string.h>

#include "fuzz.h"
#include "http.h"

static void check_request(const char *buf, size_t len)
{
	static struct http_request rq, again;
	uint64_t blen;
	int r = http_parse_request(buf, len, &rq);

	CHECK(r == HTTP_ERROR || r == HTTP_NEED_MORE || (r > 0 && (size_t)r <= len));
	if (r == HTTP_NEED_MORE)
		CHECK(http_request_prefix(buf, len) != HTTP_PREFIX_NO);
	if (r <= 0)
		return;
	CHECK(http_request_prefix(buf, (size_t)r) != HTTP_PREFIX_NO);
	CHECK(memchr(rq.method, '\0', sizeof(rq.method)) && rq.method[0]);
	CHECK(memchr(rq.target, '\0', sizeof(rq.target)) && rq.target[0]);
	CHECK(memchr(rq.host, '\0', sizeof(rq.host)));
	CHECK(memchr(rq.user_agent, '\0', sizeof(rq.user_agent)));
	CHECK(memchr(rq.traceparent, '\0', sizeof(rq.traceparent)));
	CHECK(rq.version_minor <= 1);
	CHECK(!(rq.has_content_length && rq.has_transfer_encoding));
	http_request_body(&rq, &blen);
	CHECK(http_parse_request(buf, (size_t)r, &again) == r);
	CHECK(strcmp(again.method, rq.method) == 0 && strcmp(again.target, rq.target) == 0);
}

static void check_response(const char *buf, size_t len, const char *method)
{
	struct http_response rs, again;
	uint64_t blen;
	int r = http_parse_response(buf, len, &rs);

	CHECK(r == HTTP_ERROR || r == HTTP_NEED_MORE || (r > 0 && (size_t)r <= len));
	if (r == HTTP_NEED_MORE)
		CHECK(http_response_prefix(buf, len) != HTTP_PREFIX_NO);
	if (r <= 0)
		return;
	CHECK(http_response_prefix(buf, (size_t)r) != HTTP_PREFIX_NO);
	CHECK(rs.status >= 100 && rs.status <= 599);
	CHECK(rs.version_minor <= 1);
	CHECK(!(rs.has_content_length && rs.has_transfer_encoding));
	http_response_body(&rs, method, &blen);
	CHECK(http_parse_response(buf, (size_t)r, &again) == r && again.status == rs.status);
}

/* The same bytes in one piece and in two (split at cut), with a skip when at data. */
static void check_chunked(const char *buf, size_t len, size_t cut)
{
	struct http_chunked a, b;
	size_t ua = 0, ub1 = 0, ub2 = 0;
	int ra, rb;

	http_chunked_init(&a);
	http_chunked_init(&b);
	ra = http_chunked_feed(&a, buf, len, &ua);
	CHECK(ua <= len);
	CHECK(ra == HTTP_CHUNKED_MORE ? ua == len : 1);
	if (cut > len)
		cut = len;
	rb = http_chunked_feed(&b, buf, cut, &ub1);
	if (rb == HTTP_CHUNKED_MORE) {
		CHECK(ub1 == cut);
		rb = http_chunked_feed(&b, buf + cut, len - cut, &ub2);
		ub2 += cut;
	} else {
		ub2 = ub1;
	}
	CHECK(ra == rb && ua == ub2);
	CHECK(a.body_len == b.body_len);
	CHECK(http_chunked_done(&a) == (ra == HTTP_CHUNKED_DONE));
	/* Skipping never goes past the current chunk's data. */
	if (ra == HTTP_CHUNKED_MORE) {
		uint64_t rem = a.remaining, k = http_chunked_skip(&a, (uint64_t)len);

		CHECK(k <= rem);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const methods[] = { "GET", "HEAD", "CONNECT", "POST" };
	char *buf;
	size_t cut;

	if (size < 2)
		return 0;
	/* Byte 0: method answered and chunked split point; the rest: the message. */
	cut = data[0] >> 2;
	buf = malloc(size - 1);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, size - 1);
	check_request(buf, size - 1);
	check_response(buf, size - 1, methods[data[0] & 3]);
	check_chunked(buf, size - 1, cut);
	free(buf);
	return 0;
}
