// SPDX-License-Identifier: Apache-2.0
/*
 * Table-driven HTTP/1.x conformance: every sample under tests/data/http/
 * (format: tests/data/http/README.md) through the head parsers, the body
 * framing and the chunked decoder, plus split-point invariants.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hex.h"
#include "http.h"

#define SAMPLE_MAX 8192

static unsigned failures;

/* Report one mismatch and leave the sample: every sample runs, then the test fails. */
#define BAD(...)                                                                         \
	do {                                                                             \
		print_error(__VA_ARGS__);                                                 \
		print_error("\n");                                                        \
		failures++;                                                               \
		return;                                                                   \
	} while (0)

struct sample {
	char name[256];
	char kind[16];
	char expect[16];
	char req_method[TXN_METHOD_MAX];	/* "for:" */
	char method[TXN_METHOD_MAX];
	char target[TXN_TARGET_MAX];
	char framing[32];
	int status;
	char data[SAMPLE_MAX];
	size_t len;
};

/* Unescape the text line into out[cap]; returns the length, -1 on a bad escape or overflow. */
static long unescape(const char *line, char *out, size_t cap)
{
	size_t n = 0;

	for (const char *p = line; *p && *p != '\n'; p++) {
		int c = (unsigned char)*p;

		if (c == '\\') {
			p++;
			switch (*p) {
			case 'r': c = '\r'; break;
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case '0': c = '\0'; break;
			case '\\': c = '\\'; break;
			case 'x': {
				int hi = hex_value(p[1]), lo = hi >= 0 ? hex_value(p[2]) : -1;

				if (lo < 0)
					return -1;
				c = hi * 16 + lo;
				p += 2;
				break;
			}
			default:
				return -1;
			}
		}
		if (n == cap)
			return -1;
		out[n++] = (char)c;
	}
	return (long)n;
}

/* An expected value, escaped like the message, NUL-terminated into dst[cap]. */
static void set_field(char *dst, size_t cap, const char *v)
{
	long n = unescape(v, dst, cap - 1);

	if (n < 0)
		fail_msg("bad escape or too long: %s", v);
	dst[n] = '\0';
}

static void load_sample(const char *path, struct sample *s)
{
	char line[4096];
	bool body = false;
	FILE *f = fopen(path, "r");

	if (!f)
		fail_msg("%s: %s", path, strerror(errno));
	strcpy(s->req_method, "GET");
	while (fgets(line, sizeof(line), f)) {
		if (body) {
			long n = unescape(line, s->data + s->len, sizeof(s->data) - s->len);

			if (n < 0)
				fail_msg("%s: bad escape or too long: %s", path, line);
			s->len += (size_t)n;
			continue;
		}
		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (strcmp(line, "%%\n") == 0)
			body = true;
		else if (strncmp(line, "kind: ", 6) == 0)
			set_field(s->kind, sizeof(s->kind), line + 6);
		else if (strncmp(line, "expect: ", 8) == 0)
			set_field(s->expect, sizeof(s->expect), line + 8);
		else if (strncmp(line, "for: ", 5) == 0)
			set_field(s->req_method, sizeof(s->req_method), line + 5);
		else if (strncmp(line, "method: ", 8) == 0)
			set_field(s->method, sizeof(s->method), line + 8);
		else if (strncmp(line, "target: ", 8) == 0)
			set_field(s->target, sizeof(s->target), line + 8);
		else if (strncmp(line, "framing: ", 9) == 0)
			set_field(s->framing, sizeof(s->framing), line + 9);
		else if (strncmp(line, "status: ", 8) == 0)
			s->status = atoi(line + 8);
		else
			fail_msg("%s: unknown line: %s", path, line);
	}
	fclose(f);
	if (!body)
		fail_msg("%s: no %%%% line", path);
}

static const char *body_name(enum http_body b)
{
	switch (b) {
	case HTTP_BODY_NONE: return "none";
	case HTTP_BODY_LENGTH: return "length";
	case HTTP_BODY_CHUNKED: return "chunked";
	case HTTP_BODY_CLOSE: return "close";
	case HTTP_BODY_TUNNEL: return "tunnel";
	case HTTP_BODY_INVALID: return "invalid";
	}
	return "?";
}

/* The framing found for the head, and what the bytes after it must be. */
static void check_framing(const struct sample *s, enum http_body b, uint64_t blen, size_t head)
{
	const char *rest = s->data + head;
	size_t nrest = s->len - head;
	char got[48];

	if (b == HTTP_BODY_LENGTH)
		snprintf(got, sizeof(got), "length %llu", (unsigned long long)blen);
	else
		snprintf(got, sizeof(got), "%s", body_name(b));
	if (strcmp(got, s->framing) != 0)
		BAD("%s: framing %s, expected %s", s->name, got, s->framing);
	if (b == HTTP_BODY_LENGTH && blen != nrest)
		BAD("%s: %zu body bytes after a head of %zu, framing says %llu", s->name,
			 nrest, head, (unsigned long long)blen);
	if ((b == HTTP_BODY_NONE || b == HTTP_BODY_TUNNEL) && nrest)
		BAD("%s: %zu bytes after a head of %zu with no body", s->name, nrest, head);
	if (b == HTTP_BODY_CHUNKED) {
		struct http_chunked ch;
		size_t used = 0;

		http_chunked_init(&ch);
		if (http_chunked_feed(&ch, rest, nrest, &used) != HTTP_CHUNKED_DONE ||
		    used != nrest)
			BAD("%s: the chunked body does not end at the sample's end", s->name);
	}
}

static int parse(const struct sample *s, size_t n, struct http_request *rq,
		 struct http_response *rs)
{
	if (strcmp(s->kind, "request") == 0)
		return http_parse_request(s->data, n, rq);
	return http_parse_response(s->data, n, rs);
}

static int prefix(const struct sample *s, size_t n)
{
	if (strcmp(s->kind, "request") == 0)
		return http_request_prefix(s->data, n);
	return http_response_prefix(s->data, n);
}

static void run_sample(struct sample *s)
{
	static struct http_request rq;
	struct http_response rs;
	bool request = strcmp(s->kind, "request") == 0;
	uint64_t blen = 0;
	enum http_body b;
	int r;

	if (!request && strcmp(s->kind, "response") != 0)
		BAD("%s: kind must be request or response", s->name);
	r = parse(s, s->len, &rq, &rs);
	if (strcmp(s->expect, "error") == 0) {
		if (r != HTTP_ERROR)
			BAD("%s: parsed (%d), expected an error", s->name, r);
		/* No prefix of a malformed message is ever a complete head. */
		for (size_t k = 0; k < s->len; k++)
			if (parse(s, k, &rq, &rs) > 0)
				BAD("%s: a prefix of %zu bytes parsed", s->name, k);
		return;
	}
	if (strcmp(s->expect, "more") == 0) {
		if (r != HTTP_NEED_MORE)
			BAD("%s: %d, expected need more", s->name, r);
		if (prefix(s, s->len) == HTTP_PREFIX_NO)
			BAD("%s: the prefix check says no", s->name);
		return;
	}
	if (strcmp(s->expect, "ok") != 0)
		BAD("%s: expect must be ok, error or more", s->name);
	if (r <= 0)
		BAD("%s: %d, expected a head", s->name, r);
	/* Every shorter prefix needs more, and the start-line check agrees. */
	for (size_t k = 0; k < (size_t)r; k++) {
		int p = parse(s, k, &rq, &rs);

		if (p != HTTP_NEED_MORE)
			BAD("%s: a prefix of %zu bytes gave %d", s->name, k, p);
		if (prefix(s, k) == HTTP_PREFIX_NO)
			BAD("%s: the prefix check refuses %zu bytes", s->name, k);
	}
	r = parse(s, s->len, &rq, &rs);
	if (request) {
		if (strcmp(rq.method, s->method) != 0 || strcmp(rq.target, s->target) != 0)
			BAD("%s: method \"%s\" target \"%s\"", s->name, rq.method, rq.target);
		b = http_request_body(&rq, &blen);
	} else {
		if (rs.status != s->status)
			BAD("%s: status %d, expected %d", s->name, rs.status, s->status);
		b = http_status_interim(rs.status) ? HTTP_BODY_NONE
						   : http_response_body(&rs, s->req_method, &blen);
	}
	check_framing(s, b, blen, (size_t)r);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_conformance_samples(void **state)
{
	const char *dir = TEST_DATA_DIR "/http";
	char *names[1024];
	size_t n = 0, ok = 0, err = 0, more = 0;
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		fail_msg("%s: %s", dir, strerror(errno));
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);

		if (l > 5 && strcmp(de->d_name + l - 5, ".http") == 0) {
			assert_true(n < sizeof(names) / sizeof(names[0]));
			names[n++] = strdup(de->d_name);
		}
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), by_name);
	assert_true(n >= 50);
	for (size_t i = 0; i < n; i++) {
		struct sample *s = calloc(1, sizeof(*s));
		char path[1024];

		assert_non_null(s);
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		snprintf(s->name, sizeof(s->name), "%s", names[i]);
		load_sample(path, s);
		run_sample(s);
		ok += strcmp(s->expect, "ok") == 0;
		err += strcmp(s->expect, "error") == 0;
		more += strcmp(s->expect, "more") == 0;
		free(s);
		free(names[i]);
	}
	assert_int_equal(failures, 0);
	printf("conformance: %zu samples (%zu ok, %zu malformed, %zu need more)\n", n, ok, err,
	       more);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conformance_samples),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
