// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_traceparent.c - W3C traceparent values (traceparent_parse()).
 * Checks: an accepted value has non-zero ids, outputs are untouched when
 * refused, and the version-00 text of what was accepted parses back to the
 * same ids and sampled flag.
 */
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "traceparent.h"

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t tid[16], sid[8], fl = 0x5a, tid2[16], sid2[8], fl2;
	char *s = fuzz_strndup(data, size), text[64];
	size_t o = 0;

	memset(tid, 0x5a, sizeof(tid));
	memset(sid, 0x5a, sizeof(sid));
	if (traceparent_parse(s, tid, sid, &fl) != 0) {
		CHECK(fl == 0x5a && tid[0] == 0x5a && tid[15] == 0x5a && sid[7] == 0x5a);
		free(s);
		return 0;
	}
	CHECK(strlen(s) >= 55);
	CHECK(!all_zero(tid, sizeof(tid)) && !all_zero(sid, sizeof(sid)));
	o += (size_t)snprintf(text + o, sizeof(text) - o, "00-");
	for (size_t i = 0; i < 16; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o, "%02x", tid[i]);
	o += (size_t)snprintf(text + o, sizeof(text) - o, "-");
	for (size_t i = 0; i < 8; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o, "%02x", sid[i]);
	snprintf(text + o, sizeof(text) - o, "-%02x", fl);
	CHECK(traceparent_parse(text, tid2, sid2, &fl2) == 0);
	CHECK(memcmp(tid, tid2, 16) == 0 && memcmp(sid, sid2, 8) == 0 && fl == fl2);
	free(s);
	return 0;
}
