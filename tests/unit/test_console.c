// SPDX-License-Identifier: Apache-2.0
/*
 * test_console.c - the one-line span printer: content, escaping, cuts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "console.h"

#define IDS "trace=0102030405060708090a0b0c0d0e0f10 span=a1a2a3a4a5a6a7a8"

/* 2026-11-22T10:00:00.123456789Z, 1.234567 ms long, GET /users/{id} 200 from python3.11. */
static struct span *make_span(const char *service, const char *name)
{
	struct tm tm = { .tm_year = 2026 - 1900, .tm_mon = 10, .tm_mday = 22, .tm_hour = 10 };
	struct span *s = span_new(1024);
	uint64_t start = (uint64_t)timegm(&tm) * 1000000000ull + 123456789ull;

	assert_non_null(s);
	s->resource = resource_new(7);
	assert_non_null(s->resource);
	if (service)
		assert_int_equal(resource_add_str(s->resource, "service.name", service), 0);
	assert_int_equal(span_set_name(s, name), 0);
	s->kind = SPAN_KIND_SERVER;
	s->start_unix_ns = start;
	s->end_unix_ns = start + 1234567;
	for (int i = 0; i < 16; i++)
		s->trace_id[i] = (uint8_t)(i + 1);
	for (int i = 0; i < 8; i++)
		s->span_id[i] = (uint8_t)(0xa1 + i);
	return s;
}

static void assert_line(const struct span *s, const char *want)
{
	char buf[1024];
	size_t n = console_format(s, buf, sizeof(buf));

	assert_string_equal(buf, want);
	assert_int_equal(n, strlen(want));
}

static void test_basic(void **state)
{
	struct span *s = make_span("python3.11", "GET /users/{id}");

	span_add_int(s, "http.response.status_code", 200);
	assert_line(s, "2026-11-22T10:00:00.123Z python3.11 SERVER \"GET /users/{id}\" 200 1.234ms "
		       IDS " parent=-");

	/* Parent, client kind, no status code, no service name. */
	s->kind = SPAN_KIND_CLIENT;
	s->has_parent = true;
	memcpy(s->parent_span_id, "\x00\x11\x22\x33\x44\x55\x66\xff", 8);
	s->nattrs = 0;
	resource_unref(s->resource);
	s->resource = NULL;
	assert_line(s, "2026-11-22T10:00:00.123Z - CLIENT \"GET /users/{id}\" - 1.234ms " IDS
		       " parent=00112233445566ff");
	span_free(s);
}

static void test_duration_and_error(void **state)
{
	struct span *s = make_span("svc", "GET");

	s->end_unix_ns = s->start_unix_ns + 12345000000ull;
	s->status = SPAN_STATUS_ERROR;
	span_add_int(s, "http.response.status_code", 503);
	span_add_str(s, "error.type", "503");
	assert_line(s, "2026-11-22T10:00:00.123Z svc SERVER \"GET\" 503 12345.000ms " IDS
		       " parent=- error=503");
	/* End before start: zero, not a huge number. */
	s->end_unix_ns = s->start_unix_ns - 1;
	s->status = SPAN_STATUS_UNSET;
	assert_line(s, "2026-11-22T10:00:00.123Z svc SERVER \"GET\" 503 0.000ms " IDS " parent=-");
	span_free(s);
}

static void test_escaping(void **state)
{
	struct span *s = make_span("evil\nsvc\x1b[31m", "GET /a\"b\\c\r\n\t\x01\x7f\xff"
						       "/caf\xc3\xa9/\xe2\x80\xae/\xc2\x85");
	char buf[1024];

	console_format(s, buf, sizeof(buf));
	assert_null(strchr(buf, '\n'));
	assert_null(strchr(buf, '\r'));
	assert_null(strchr(buf, '\x1b'));
	assert_string_equal(buf, "2026-11-22T10:00:00.123Z evil\\nsvc\\x1b[31m SERVER "
				 "\"GET /a\\\"b\\\\c\\r\\n\\t\\x01\\x7f\\xff/caf\xc3\xa9/\\u202e/"
				 "\\u0085\" - 1.234ms " IDS " parent=-");
	span_free(s);
}

static void test_truncation(void **state)
{
	struct span *s = make_span("svc", "GET /\xc3\xa9\xc3\xa9\n");
	char full[512], buf[512];
	size_t n = console_format(s, full, sizeof(full));

	/* Every size: a NUL-terminated prefix, cut only between pieces, same total. */
	for (size_t len = 0; len <= n + 1; len++) {
		size_t m;

		memset(buf, 'Z', sizeof(buf));
		m = console_format(s, buf, len);
		assert_int_equal(m, n);
		if (!len) {
			assert_int_equal(buf[0], 'Z');
			continue;
		}
		assert_true(strlen(buf) < len);
		assert_memory_equal(buf, full, strlen(buf));
		/* Never half a UTF-8 character or half an escape. */
		if (strlen(buf) > 0) {
			char last = buf[strlen(buf) - 1];

			assert_true(last != '\\' && (unsigned char)last != 0xc3);
		}
	}
	assert_string_equal(buf, full);
	span_free(s);
}

static void test_write(void **state)
{
	struct span *s = make_span("svc", "GET /x");
	char *mem = NULL, *big = malloc(5000);
	size_t memlen = 0;
	int lines = 0;
	FILE *f = open_memstream(&mem, &memlen);

	assert_non_null(f);
	assert_non_null(big);
	assert_int_equal(console_write(f, s), 0);
	span_free(s);

	/* Longer than console_write()'s stack buffer. */
	memset(big, 'x', 4999);
	big[0] = '/';
	big[4999] = '\0';
	s = span_new(6000);
	assert_non_null(s);
	assert_int_equal(span_set_name(s, big), 0);
	assert_int_equal(console_write(f, s), 0);
	fclose(f);
	assert_int_equal(memcmp(mem, "2026-11-22T10:00:00.123Z svc SERVER \"GET /x\"", 44), 0);
	assert_non_null(strstr(mem, big));
	assert_int_equal(mem[memlen - 1], '\n');
	for (size_t i = 0; i < memlen; i++)
		lines += mem[i] == '\n';
	assert_int_equal(lines, 2);
	span_free(s);
	free(big);
	free(mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_duration_and_error),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_write),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
