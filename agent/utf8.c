// SPDX-License-Identifier: Apache-2.0
/* utf8.c - UTF-8 checks and repair for strings that come from traffic and /proc. */
#include "utf8.h"

#include <stdint.h>
#include <string.h>

static bool is_cont(unsigned char c)
{
	return (c & 0xc0) == 0x80;
}

size_t utf8_char_len(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	unsigned char c;

	if (!n)
		return 0;
	c = s[0];
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return n >= 2 && is_cont(s[1]) ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if (n < 3 || !is_cont(s[1]) || !is_cont(s[2]))
			return 0;
		if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0))
			return 0; /* overlong, or a UTF-16 surrogate */
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (n < 4 || !is_cont(s[1]) || !is_cont(s[2]) || !is_cont(s[3]))
			return 0;
		if ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] >= 0x90))
			return 0; /* overlong, or beyond U+10FFFF */
		return 4;
	}
	return 0;
}

/* How many of the first n bytes of s are ASCII (8 at a time: almost every string is). */
static size_t ascii_prefix(const char *s, size_t n)
{
	size_t i = 0;
	uint64_t w;

	while (i + 8 <= n) {
		memcpy(&w, s + i, 8);
		if (w & 0x8080808080808080ull)
			break;
		i += 8;
	}
	while (i < n && (unsigned char)s[i] < 0x80)
		i++;
	return i;
}

bool utf8_valid(const char *s, size_t n)
{
	size_t i = ascii_prefix(s, n);

	while (i < n) {
		size_t k;

		if ((unsigned char)s[i] < 0x80) {
			i++;
			continue;
		}
		k = utf8_char_len(s + i, n - i);
		if (!k)
			return false;
		i += k;
	}
	return true;
}

static const char repl[] = "\xef\xbf\xbd"; /* U+FFFD */

size_t utf8_repaired_len(const char *s, size_t n, bool *bad)
{
	size_t i = ascii_prefix(s, n), len = i;
	bool any = false;

	while (i < n) {
		size_t k;

		/* Almost every string is ASCII: settle those bytes without the decoder. */
		if ((unsigned char)s[i] < 0x80) {
			i++;
			len++;
			continue;
		}
		k = utf8_char_len(s + i, n - i);
		if (k) {
			len += k;
			i += k;
		} else {
			len += sizeof(repl) - 1;
			i++;
			any = true;
		}
	}
	if (bad)
		*bad = any;
	return len;
}

char *utf8_repair_copy(char *dst, const char *src, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t k = utf8_char_len(src + i, n - i);

		if (k) {
			memcpy(dst, src + i, k);
			dst += k;
			i += k;
		} else {
			memcpy(dst, repl, sizeof(repl) - 1);
			dst += sizeof(repl) - 1;
			i++;
		}
	}
	return dst;
}

size_t utf8_sanitize(char *dst, size_t dstlen, const char *src, size_t n)
{
	size_t i = 0, o = 0;

	if (!dstlen)
		return 0;
	while (i < n) {
		size_t k = utf8_char_len(src + i, n - i);
		const char *from = src + i;
		size_t len = k;

		if (!k) {
			from = repl;
			len = 3;
			k = 1;
		}
		if (o + len > dstlen - 1)
			break;
		memcpy(dst + o, from, len);
		o += len;
		i += k;
	}
	dst[o] = '\0';
	return o;
}
