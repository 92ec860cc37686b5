// SPDX-License-Identifier: Apache-2.0
/* traceparent.c - the W3C traceparent header's one parser (see traceparent.h). */
#include "traceparent.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "hex.h"

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* Decode 2*n lowercase hex digits into n bytes; -1 on any other character. */
static int hex_decode_lower(const char *s, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < 2 * n; i++) {
		int v = hex_value_lower((unsigned char)s[i]);

		if (v < 0)
			return -1;
		if (i % 2 == 0)
			out[i / 2] = (uint8_t)(v << 4);
		else
			out[i / 2] |= (uint8_t)v;
	}
	return 0;
}

int traceparent_parse(const char *s, uint8_t trace_id[16], uint8_t span_id[8], uint8_t *flags)
{
	uint8_t ver, tid[16], sid[8], fl;
	size_t n;

	if (!s)
		return -1;
	n = strlen(s);
	if (n < 55)
		return -1;
	if (hex_decode_lower(s, &ver, 1) || s[2] != '-' || hex_decode_lower(s + 3, tid, 16) ||
	    s[35] != '-' || hex_decode_lower(s + 36, sid, 8) || s[52] != '-' ||
	    hex_decode_lower(s + 53, &fl, 1))
		return -1;
	if (ver == 0xff)
		return -1;
	if (ver == 0 && n != 55)
		return -1;
	if (ver > 0) {
		if (n > 55 && s[55] != '-')
			return -1;
		fl &= 0x01; /* later versions: only the sampled flag is understood */
	}
	if (all_zero(tid, sizeof(tid)) || all_zero(sid, sizeof(sid)))
		return -1;
	memcpy(trace_id, tid, sizeof(tid));
	memcpy(span_id, sid, sizeof(sid));
	*flags = fl;
	return 0;
}

