// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_procinfo.c - the /proc parsers of procinfo.c on any bytes: stat
 * lines, environ blocks and OTEL_RESOURCE_ATTRIBUTES values.  Checks:
 * names and attributes come out NUL-terminated, valid UTF-8 and within
 * their bounds, members are skipped or discarded as documented.
 */
#include <string.h>

#include "fuzz.h"
#include "procinfo.h"
#include "utf8.h"

static int calls;

static void check_attr(void *ctx, const char *key, const char *value)
{
	size_t k = strlen(key), v = strlen(value);

	CHECK(k > 0 && k < PROCINFO_ATTR_KEY_MAX && v > 0 && v < PROCINFO_ATTR_VALUE_MAX);
	CHECK(utf8_valid(key, k) && utf8_valid(value, v));
	calls++;
}

static void check_str(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);

	CHECK(n < cap && utf8_valid(s, n));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct proc_facts f;
	const char *buf = (const char *)data;
	char comm[64];
	uint64_t start = 0;
	int r;

	if (procinfo_parse_stat(buf, size, comm, sizeof(comm), &start) == 0)
		check_str(comm, sizeof(comm));
	memset(&f, 0, sizeof(f));
	procinfo_parse_environ(buf, size, &f);
	check_str(f.env_service_name, sizeof(f.env_service_name));
	check_str(f.env_res_service_name, sizeof(f.env_res_service_name));
	CHECK(memchr(f.env_res_attrs, '\0', sizeof(f.env_res_attrs)));
	calls = 0;
	r = procinfo_resource_attrs(buf, size, check_attr, NULL);
	CHECK(r == -1 ? calls == 0 : r == calls);
	return 0;
}
