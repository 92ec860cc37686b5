// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_template.c - span-name route templates (http_target_template()) and
 * UTF-8 repair (agent/utf8.c).  Checks: templates fit their buffer and are
 * idempotent on their own output for origin-form targets; repair always
 * gives valid UTF-8, leaves valid text as it is, never cuts a character, and
 * agrees with utf8_valid(), utf8_char_len(), utf8_repaired_len() and the
 * unbounded utf8_repair_copy() the OTLP encoder uses.
 */
#include <string.h>

#include "builder.h"
#include "fuzz.h"
#include "utf8.h"

static void check_template(const char *target, size_t outlen)
{
	char out[BUILDER_TEMPLATE_MAX + 16], again[BUILDER_TEMPLATE_MAX + 16];
	size_t n = http_target_template(target, out, outlen);

	if (!outlen) {
		CHECK(n == 0);
		return;
	}
	CHECK(n < outlen && strlen(out) == n);
	if (outlen == sizeof(out) && n && out[0] == '/' && n <= BUILDER_TEMPLATE_MAX) {
		/* A template is a fixed point: nothing in it looks like an id any more. */
		size_t m = http_target_template(out, again, sizeof(again));

		CHECK(m == n && memcmp(out, again, n) == 0);
	}
}

static void check_utf8(const char *s, size_t n, size_t dstlen)
{
	char *dst = malloc(3 * n + 1);
	size_t m, full, i = 0;
	bool valid = true;

	if (!dst)
		abort();
	while (i < n) {
		size_t k = utf8_char_len(s + i, n - i);

		if (!k) {
			valid = false;
			k = 1;
		}
		i += k;
	}
	CHECK(utf8_valid(s, n) == valid);
	full = utf8_sanitize(dst, 3 * n + 1, s, n);
	CHECK(utf8_valid(dst, full) && dst[full] == '\0');
	{
		char *copy = malloc(3 * n + 1);
		bool bad;

		if (!copy)
			abort();
		CHECK(utf8_repaired_len(s, n, &bad) == full && bad == !valid);
		CHECK(utf8_repair_copy(copy, s, n) == copy + full && memcmp(copy, dst, full) == 0);
		free(copy);
	}
	if (valid)
		CHECK(full == n && memcmp(dst, s, n) == 0);
	else
		CHECK(full > n);
	if (dstlen > 3 * n + 1)
		dstlen = 3 * n + 1;
	m = utf8_sanitize(dst, dstlen, s, n);
	CHECK(dstlen ? m < dstlen && utf8_valid(dst, m) : m == 0);
	free(dst);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;
	size_t outlen;

	if (!size)
		return 0;
	/* Byte 0: the output buffer's size; the rest: the target, also repaired as UTF-8. */
	outlen = data[0] % (BUILDER_TEMPLATE_MAX + 17);
	s = fuzz_strndup(data + 1, size - 1);
	check_template(s, outlen);
	check_template(s, BUILDER_TEMPLATE_MAX + 16);
	check_utf8((const char *)data + 1, size - 1, data[0]);
	free(s);
	return 0;
}
