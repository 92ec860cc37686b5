// SPDX-License-Identifier: Apache-2.0
/*
 * cgroup.c - container ids and Kubernetes pod uids from /proc/PID/cgroup
 * lines (see cgroup.h).
 */
#include "cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hex.h"

/* Hex digit c in lowercase, or -1. */
static int hex_lower(char c)
{
	int v = hex_value((unsigned char)c);

	return v < 0 ? -1 : "0123456789abcdef"[v];
}

static bool ends_with(const char *s, size_t n, const char *suffix, size_t slen)
{
	return n >= slen && memcmp(s + n - slen, suffix, slen) == 0;
}

/* Copy n hex digits of s lowercased into out (NUL-terminated); false when one is not hex. */
static bool copy_hex(const char *s, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		int c = hex_lower(s[i]);

		if (c < 0)
			return false;
		out[i] = (char)c;
	}
	out[n] = '\0';
	return true;
}

/* The container id a path component names ("<id>", "...-<id>", "...-<id>.scope"), into out. */
static bool component_container_id(const char *c, size_t n, char *out)
{
	static const char scope[] = ".scope";
	static const char conmon[] = "conmon-";
	const size_t idlen = CGROUP_CONTAINER_ID_LEN;
	char id[CGROUP_CONTAINER_ID_LEN + 1];

	if (ends_with(c, n, scope, sizeof(scope) - 1))
		n -= sizeof(scope) - 1;
	if (n < idlen || (n > idlen && c[n - idlen - 1] != '-'))
		return false;
	/* The runtime's monitor (crio-conmon-<id>, libpod-conmon-<id>) lives on the host. */
	if (ends_with(c, n - idlen, conmon, sizeof(conmon) - 1))
		return false;
	if (!copy_hex(c + n - idlen, idlen, id))
		return false;
	memcpy(out, id, sizeof(id));
	return true;
}

/*
 * A pod UID in the 8-4-4-4-12 form with '-' or '_' separators (the same one
 * throughout), into out with '-' separators, lowercase.
 */
static bool copy_uid(const char *s, char *out)
{
	char sep = s[8];

	if (sep != '-' && sep != '_')
		return false;
	for (size_t i = 0; i < CGROUP_POD_UID_LEN; i++) {
		int c;

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != sep)
				return false;
			out[i] = '-';
			continue;
		}
		c = hex_lower(s[i]);
		if (c < 0)
			return false;
		out[i] = (char)c;
	}
	out[CGROUP_POD_UID_LEN] = '\0';
	return true;
}

/* The pod UID a path component names ("pod<uid>", "...-pod<uid>[.slice]"), into out. */
static bool component_pod_uid(const char *c, size_t n, char *out)
{
	static const char slice[] = ".slice";
	static const char pod[] = "pod";
	const size_t len = sizeof(pod) - 1 + CGROUP_POD_UID_LEN;
	char uid[CGROUP_POD_UID_LEN + 1];
	const char *p;

	if (ends_with(c, n, slice, sizeof(slice) - 1))
		n -= sizeof(slice) - 1;
	if (n < len)
		return false;
	p = c + n - len;
	if (memcmp(p, pod, sizeof(pod) - 1) != 0 || (p > c && p[-1] != '-'))
		return false;
	if (!copy_uid(p + sizeof(pod) - 1, uid))
		return false;
	memcpy(out, uid, sizeof(uid));
	return true;
}

bool cgroup_parse_path(const char *path, size_t n, struct cgroup_ids *ids)
{
	const char *p = path, *end = path + n;

	ids->container_id[0] = '\0';
	ids->pod_uid[0] = '\0';
	while (p < end) {
		const char *slash = memchr(p, '/', (size_t)(end - p));
		const char *ce = slash ? slash : end;
		size_t len = (size_t)(ce - p);

		if (component_pod_uid(p, len, ids->pod_uid))
			/* A container id must come after its pod. */
			ids->container_id[0] = '\0';
		else
			component_container_id(p, len, ids->container_id);
		p = ce + 1;
	}
	return ids->container_id[0] != '\0';
}

bool cgroup_parse(const char *buf, size_t n, bool complete, struct cgroup_ids *ids)
{
	const char *p = buf, *end = buf + n;
	char first_pod[CGROUP_POD_UID_LEN + 1] = "";
	struct cgroup_ids line;

	ids->container_id[0] = '\0';
	ids->pod_uid[0] = '\0';
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		const char *c1, *c2;

		if (!nl && !complete)
			break;
		/* "HIERARCHY:CONTROLLERS:PATH"; the path may hold ':' itself. */
		c1 = memchr(p, ':', (size_t)(le - p));
		c2 = c1 ? memchr(c1 + 1, ':', (size_t)(le - c1 - 1)) : NULL;
		if (c2) {
			c2++;
			if (cgroup_parse_path(c2, (size_t)(le - c2), &line)) {
				*ids = line;
				return true;
			}
			if (!first_pod[0] && line.pod_uid[0])
				memcpy(first_pod, line.pod_uid, sizeof(first_pod));
		}
		p = le + 1;
	}
	memcpy(ids->pod_uid, first_pod, sizeof(first_pod));
	return false;
}

int cgroup_read(const char *proc_root, uint32_t tgid, struct cgroup_ids *ids)
{
	char path[PATH_MAX];
	size_t got = 0;
	int fd, err = 0;
	char *buf;

	ids->container_id[0] = '\0';
	ids->pod_uid[0] = '\0';
	snprintf(path, sizeof(path), "%s/%u/cgroup", proc_root, tgid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	buf = malloc(CGROUP_FILE_MAX);
	if (!buf) {
		close(fd);
		return -1;
	}
	for (;;) {
		ssize_t r = got < CGROUP_FILE_MAX ? read(fd, buf + got, CGROUP_FILE_MAX - got) : 0;

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			/* The process went away while we read: nothing trustworthy. */
			got = 0;
			err = -1;
		}
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	cgroup_parse(buf, got, got < CGROUP_FILE_MAX, ids);
	free(buf);
	return err;
}
