// SPDX-License-Identifier: Apache-2.0
/*
 * console.c - the --console line: one span, one line on stdout (see console.h).
 */
#include "console.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "utf8.h"

/* A bounded writer that keeps counting after the buffer is full. */
struct out {
	char *buf;
	size_t len;
	size_t pos;	/* length of the whole line so far */
	bool full;	/* a chunk did not fit: nothing more is written */
};

/* Append n bytes as one piece: all of them or, once one piece failed, none. */
static void put(struct out *o, const char *s, size_t n)
{
	if (!o->full && o->len && o->pos + n < o->len) {
		memcpy(o->buf + o->pos, s, n);
		o->buf[o->pos + n] = '\0';
	} else {
		o->full = true;
	}
	o->pos += n;
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static void __attribute__((format(printf, 2, 3))) putf(struct out *o, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	put(o, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

static uint32_t utf8_decode(const unsigned char *s, size_t k)
{
	switch (k) {
	case 2:
		return (uint32_t)(s[0] & 0x1f) << 6 | (s[1] & 0x3f);
	case 3:
		return (uint32_t)(s[0] & 0x0f) << 12 | (uint32_t)(s[1] & 0x3f) << 6 | (s[2] & 0x3f);
	default:
		return (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3f) << 12 |
		       (uint32_t)(s[2] & 0x3f) << 6 | (s[3] & 0x3f);
	}
}

/* Code points a terminal may act on: C1 controls, line separators, bidi controls. */
static bool cp_unsafe(uint32_t cp)
{
	return cp < 0xa0 || cp == 0x2028 || cp == 0x2029 || (cp >= 0x200e && cp <= 0x200f) ||
	       (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) ||
	       cp == 0xfeff;
}

/* Append s escaped (see console.h); quote also escapes '"'. */
static void put_escaped(struct out *o, const char *str, bool quote)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n = strlen(str);

	for (size_t i = 0; i < n;) {
		unsigned char c = s[i];
		size_t k;

		if (c >= 0x20 && c < 0x7f) {
			if (c == '\\' || (quote && c == '"')) {
				char e[2] = { '\\', (char)c };

				put(o, e, 2);
			} else {
				put(o, (const char *)&s[i], 1);
			}
			i++;
			continue;
		}
		if (c == '\n' || c == '\r' || c == '\t') {
			put(o, c == '\n' ? "\\n" : c == '\r' ? "\\r" : "\\t", 2);
			i++;
			continue;
		}
		k = c >= 0x80 ? utf8_char_len(str + i, n - i) : 0;
		if (!k) {
			putf(o, "\\x%02x", c);
			i++;
			continue;
		}
		if (cp_unsafe(utf8_decode(s + i, k)))
			putf(o, "\\u%04" PRIx32, utf8_decode(s + i, k));
		else
			put(o, str + i, k);
		i += k;
	}
}

static void put_hex(struct out *o, const uint8_t *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	char tmp[64];

	for (size_t i = 0; i < n && i < sizeof(tmp) / 2; i++) {
		tmp[2 * i] = digits[p[i] >> 4];
		tmp[2 * i + 1] = digits[p[i] & 0xf];
	}
	put(o, tmp, 2 * n);
}

static const char *kind_name(uint8_t kind)
{
	switch (kind) {
	case SPAN_KIND_SERVER:
		return "SERVER";
	case SPAN_KIND_CLIENT:
		return "CLIENT";
	case SPAN_KIND_INTERNAL:
		return "INTERNAL";
	default:
		return "UNSPECIFIED";
	}
}

size_t console_format(const struct span *s, char *buf, size_t len)
{
	struct out o = { .buf = buf, .len = len };
	time_t secs = (time_t)(s->start_unix_ns / 1000000000ull);
	uint64_t dur = s->end_unix_ns > s->start_unix_ns ? s->end_unix_ns - s->start_unix_ns : 0;
	const struct attr *a;
	struct tm tm;

	if (len)
		buf[0] = '\0';
	if (!gmtime_r(&secs, &tm))
		memset(&tm, 0, sizeof(tm));
	putf(&o, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ ", tm.tm_year + 1900, tm.tm_mon + 1,
	     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	     (unsigned)(s->start_unix_ns % 1000000000ull / 1000000));
	a = s->resource ? resource_find_attr(s->resource, "service.name") : NULL;
	if (a && a->type == ATTR_STRING && a->s[0])
		put_escaped(&o, a->s, false);
	else
		puts_(&o, "-");
	putf(&o, " %s \"", kind_name(s->kind));
	put_escaped(&o, s->name ? s->name : "", true);
	puts_(&o, "\" ");
	a = span_find_attr(s, "http.response.status_code");
	if (a && a->type == ATTR_INT)
		putf(&o, "%" PRId64, a->i);
	else
		puts_(&o, "-");
	putf(&o, " %" PRIu64 ".%03" PRIu64 "ms trace=", dur / 1000000, dur / 1000 % 1000);
	put_hex(&o, s->trace_id, sizeof(s->trace_id));
	puts_(&o, " span=");
	put_hex(&o, s->span_id, sizeof(s->span_id));
	puts_(&o, " parent=");
	if (s->has_parent)
		put_hex(&o, s->parent_span_id, sizeof(s->parent_span_id));
	else
		puts_(&o, "-");
	if (s->status == SPAN_STATUS_ERROR) {
		a = span_find_attr(s, "error.type");
		puts_(&o, " error=");
		put_escaped(&o, a && a->type == ATTR_STRING ? a->s : "-", false);
	}
	return o.pos;
}

int console_write(FILE *f, const struct span *s)
{
	char stack[2048];
	char *line = stack;
	size_t n = console_format(s, stack, sizeof(stack) - 1);
	int ret = 0;

	if (n >= sizeof(stack) - 1) {
		line = malloc(n + 2);
		if (!line)
			return -1;
		console_format(s, line, n + 1);
	}
	line[n] = '\n';
	if (fwrite(line, 1, n + 1, f) != n + 1)
		ret = -1;
	if (line != stack)
		free(line);
	return ret;
}
