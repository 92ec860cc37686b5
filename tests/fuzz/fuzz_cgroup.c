// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_cgroup.c - container ids and pod uids from /proc/PID/cgroup content
 * and single paths (agent/cgroup.c).  Checks: ids are "" or well formed
 * (64 lowercase hex digits; 8-4-4-4-12 lowercase with '-'), the result
 * matches the container id, and a file of one "0::PATH" line says what the
 * path alone says.
 */
#include <string.h>

#include "cgroup.h"
#include "fuzz.h"

static bool is_lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static void check_ids(const struct cgroup_ids *ids, bool found)
{
	size_t n = strnlen(ids->container_id, sizeof(ids->container_id));

	CHECK(n < sizeof(ids->container_id));
	CHECK(n == 0 || n == CGROUP_CONTAINER_ID_LEN);
	CHECK(found == (n != 0));
	for (size_t i = 0; i < n; i++)
		CHECK(is_lower_hex(ids->container_id[i]));
	n = strnlen(ids->pod_uid, sizeof(ids->pod_uid));
	CHECK(n == 0 || n == CGROUP_POD_UID_LEN);
	for (size_t i = 0; i < n; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		CHECK(dash ? ids->pod_uid[i] == '-' : is_lower_hex(ids->pod_uid[i]));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cgroup_ids a, b;
	char *line;
	bool fa, fb;

	if (!size)
		return 0;
	/* Byte 0: whether the content is complete; the rest: the file or the path. */
	fa = cgroup_parse((const char *)data + 1, size - 1, data[0] & 1, &a);
	check_ids(&a, fa);
	fa = cgroup_parse_path((const char *)data + 1, size - 1, &a);
	check_ids(&a, fa);
	if (!memchr(data + 1, '\n', size - 1)) {
		line = malloc(size + 4);
		if (!line)
			return 0;
		memcpy(line, "0::", 3);
		memcpy(line + 3, data + 1, size - 1);
		line[size + 2] = '\n';
		fb = cgroup_parse(line, size + 3, true, &b);
		check_ids(&b, fb);
		CHECK(fa == fb && strcmp(a.container_id, b.container_id) == 0 &&
		      strcmp(a.pod_uid, b.pod_uid) == 0);
		free(line);
	}
	return 0;
}
