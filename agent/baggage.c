// SPDX-License-Identifier: Apache-2.0
/* baggage.c - KEY=VALUE lists of OTEL_* variables (see baggage.h). */
#include "baggage.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "utf8.h"

void baggage_init(struct baggage_iter *it, const char *s, size_t n)
{
	it->p = s;
	it->end = s + n;
	it->member = NULL;
	it->member_len = 0;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * [s, e) trimmed and percent-decoded into out[cap] as UTF-8.  Returns
 * BAGGAGE_MEMBER, BAGGAGE_BAD_ESCAPE or BAGGAGE_TOO_LONG.
 */
static int decode(const char *s, const char *e, char *out, size_t cap)
{
	char *dec;
	size_t m = 0;
	int r = BAGGAGE_MEMBER;

	while (s < e && is_blank(*s))
		s++;
	while (e > s && is_blank(e[-1]))
		e--;
	dec = malloc((size_t)(e - s) + 1);
	if (!dec)
		return BAGGAGE_TOO_LONG;
	for (; s < e; s++) {
		if (*s == '%') {
			int hi = e - s >= 3 ? hex_value((unsigned char)s[1]) : -1;
			int lo = hi >= 0 ? hex_value((unsigned char)s[2]) : -1;

			if (lo < 0 || (hi | lo) == 0) {
				r = BAGGAGE_BAD_ESCAPE;
				break;
			}
			dec[m++] = (char)(hi << 4 | lo);
			s += 2;
		} else {
			dec[m++] = *s;
		}
	}
	if (r == BAGGAGE_MEMBER && utf8_repaired_len(dec, m, NULL) >= cap)
		r = BAGGAGE_TOO_LONG;
	if (r == BAGGAGE_MEMBER)
		utf8_sanitize(out, cap, dec, m);
	free(dec);
	return r;
}

int baggage_next(struct baggage_iter *it, char *key, size_t keycap, char *value, size_t valcap)
{
	while (it->p < it->end) {
		const char *s = it->p, *comma = memchr(s, ',', (size_t)(it->end - s));
		const char *e = comma ? comma : it->end, *eq, *k;
		int r;

		it->p = comma ? comma + 1 : it->end;
		it->member = s;
		it->member_len = (size_t)(e - s);
		for (k = s; k < e && is_blank(*k); k++)
			;
		if (k == e)
			continue;	/* an empty member */
		eq = memchr(s, '=', (size_t)(e - s));
		if (!eq)
			return BAGGAGE_NO_EQUALS;
		r = decode(s, eq, key, keycap);
		if (r == BAGGAGE_MEMBER && !key[0])
			r = BAGGAGE_EMPTY_KEY;
		if (r == BAGGAGE_MEMBER)
			r = decode(eq + 1, e, value, valcap);
		return r;
	}
	return BAGGAGE_END;
}

int baggage_valid(const char *s, size_t n)
{
	struct baggage_iter it;
	char *key = malloc(n + 1), *value = malloc(3 * n + 1);
	int r, ok = 1;

	if (!key || !value) {
		free(key);
		free(value);
		return 0;
	}
	baggage_init(&it, s, n);
	while ((r = baggage_next(&it, key, n + 1, value, 3 * n + 1)) != BAGGAGE_END)
		if (r < 0 && r != BAGGAGE_TOO_LONG)
			ok = 0;
	free(key);
	free(value);
	return ok;
}
