// SPDX-License-Identifier: Apache-2.0
/*
 * runtime.c - which runtime a traced process runs on (see runtime.h).
 */
#include "runtime.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "elfbin.h"
#include "procinfo.h"

#define MAPS_READ_MAX (1u << 20)	/* /proc/PID/maps read at most (a JVM maps a lot) */

const char *runtime_name(uint8_t kind)
{
	static const char *const names[RUNTIME_MAX] = {
		[RUNTIME_UNKNOWN] = "unknown", [RUNTIME_NATIVE] = "native", [RUNTIME_GO] = "go",
		[RUNTIME_NODE] = "node",       [RUNTIME_JAVA] = "java",	    [RUNTIME_PYTHON] = "python",
	};

	return kind < RUNTIME_MAX ? names[kind] : "unknown";
}

bool runtime_elf_is_go(int fd)
{
	struct elfbin *eb;
	struct elfbin_go go;
	bool yes;

	if (elfbin_open_fd(fd, &eb) != 0)
		return false;
	yes = elfbin_go_info(eb, &go) == 0;
	elfbin_close(eb);
	return yes;
}

/* Is one of the mapped files' names containing needle in maps[0..n)? */
static bool maps_has(const char *maps, size_t n, const char *needle)
{
	return maps && memmem(maps, n, needle, strlen(needle)) != NULL;
}

static bool name_starts(const char *name, const char *prefix)
{
	return strncmp(name, prefix, strlen(prefix)) == 0;
}

void runtime_classify(const char *exe_name, bool go_elf, const char *maps, size_t maps_len,
		      struct runtime_info *out)
{
	memset(out, 0, sizeof(*out));
	if (go_elf) {
		out->kind = RUNTIME_GO;
	} else if (name_starts(exe_name, "node")) {
		out->kind = RUNTIME_NODE;
	} else if (strcmp(exe_name, "java") == 0 || maps_has(maps, maps_len, "/libjvm.so")) {
		out->kind = RUNTIME_JAVA;
		out->async = maps_has(maps, maps_len, "netty_transport_native");
	} else if (name_starts(exe_name, "python") || maps_has(maps, maps_len, "/libpython3")) {
		out->kind = RUNTIME_PYTHON;
		out->async = maps_has(maps, maps_len, "/_asyncio.") ||
			     maps_has(maps, maps_len, "greenlet") || maps_has(maps, maps_len, "gevent");
	} else {
		out->kind = RUNTIME_NATIVE;
	}
	switch (out->kind) {
	case RUNTIME_NATIVE:
		out->rules = RUNTIME_RULE_THREAD | RUNTIME_RULE_CONNECT;
		break;
	case RUNTIME_JAVA:
	case RUNTIME_PYTHON:
		out->rules = out->async ? 0 : RUNTIME_RULE_THREAD;
		break;
	default:
		/* Go and Node.js: only runtime-aware tracking may link inside them. */
		out->rules = 0;
		break;
	}
}

/* The start of /proc/PID/maps (NUL-terminated, malloc'd), or NULL. */
static char *read_maps(const char *proc_root, uint32_t tgid, size_t *len)
{
	char path[256];
	char *buf;
	size_t n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%u/maps", proc_root, tgid);
	f = fopen(path, "re");
	if (!f)
		return NULL;
	buf = malloc(MAPS_READ_MAX + 1);
	if (buf)
		n = fread(buf, 1, MAPS_READ_MAX, f);
	fclose(f);
	if (!buf)
		return NULL;
	buf[n] = '\0';
	*len = n;
	return buf;
}

int runtime_detect(const char *proc_root, uint32_t tgid, struct runtime_info *out)
{
	char path[256], exe[PROCINFO_NAME_MAX];
	size_t maps_len = 0;
	char *maps;
	bool go = false;
	int fd;

	memset(out, 0, sizeof(*out));
	if (procinfo_exe_name(proc_root, tgid, exe, sizeof(exe)) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/%u/exe", proc_root, tgid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		go = runtime_elf_is_go(fd);
		close(fd);
	}
	maps = go ? NULL : read_maps(proc_root, tgid, &maps_len);
	runtime_classify(exe, go, maps, maps_len, out);
	free(maps);
	return 0;
}
