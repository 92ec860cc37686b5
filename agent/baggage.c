// SPDX-License-Identifier: Apache-2.0
/* baggage.c - KEY=VALUE lists of OTEL_* variables (see baggage.h). */
#include "baggage.h"

#include <stdbool.h>
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

/* Longest decoded key or value looked at; longer ones are BAGGAGE_TOO_LONG. */
#define DECODED_MAX 4096

/*
 * [s, e) trimmed and percent-decoded into out[cap] as UTF-8; with out NULL,
 * only checked.  Returns BAGGAGE_MEMBER, BAGGAGE_BAD_ESCAPE or
 * BAGGAGE_TOO_LONG.
 */
static int decode(const char *s, const char *e, char *out, size_t cap)
{
	char dec[DECODED_MAX];
	size_t m = 0;
	bool fits = true;

	while (s < e && is_blank(*s))
		s++;
	while (e > s && is_blank(e[-1]))
		e--;
	for (; s < e; s++) {
		char c = *s;

		if (c == '%') {
			int hi = e - s >= 3 ? hex_value((unsigned char)s[1]) : -1;
			int lo = hi >= 0 ? hex_value((unsigned char)s[2]) : -1;

			if (lo < 0)
				return BAGGAGE_BAD_ESCAPE;
			c = (char)(hi << 4 | lo);
			s += 2;
		}
		/* A NUL, raw or %00, would cut the text short: the key "\0x" is not "". */
		if (c == '\0')
			return BAGGAGE_BAD_ESCAPE;
		if (m == sizeof(dec))
			fits = false;
		else
			dec[m++] = c;
	}
	if (!out)
		return BAGGAGE_MEMBER;
	if (!fits || utf8_repaired_len(dec, m, NULL) >= cap)
		return BAGGAGE_TOO_LONG;
	utf8_sanitize(out, cap, dec, m);
	return BAGGAGE_MEMBER;
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
		if (k == eq)
			return BAGGAGE_EMPTY_KEY;	/* blanks only before '=' (%00 is refused) */
		r = decode(s, eq, key, keycap);
		if (r == BAGGAGE_MEMBER)
			r = decode(eq + 1, e, value, valcap);
		return r;
	}
	return BAGGAGE_END;
}

int baggage_valid(const char *s, size_t n)
{
	struct baggage_iter it;
	int r;

	baggage_init(&it, s, n);
	while ((r = baggage_next(&it, NULL, 0, NULL, 0)) != BAGGAGE_END)
		if (r != BAGGAGE_MEMBER)
			return 0;
	return 1;
}
