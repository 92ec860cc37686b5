// SPDX-License-Identifier: Apache-2.0
/* procmaps.c - executable mappings of a process from /proc/PID/maps (see procmaps.h). */
#include "procmaps.h"

#include "hex.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hash.h"

static const char deleted_suffix[] = " (deleted)";
#define DELETED_LEN (sizeof(deleted_suffix) - 1)

struct procmaps {
	struct procmaps_entry *e;
	size_t *path_at;	/* where e[i]'s path is in paths (paths moves while it grows) */
	size_t n, cap;
	char *paths;		/* every kept path, NUL-terminated, one after the other */
	size_t paths_len, paths_cap;
	size_t malformed;
};

/* Hex digits at [*p, end) up to a non-hex byte; false when none or more than 16. */
static bool hex(const char **p, const char *end, uint64_t *v)
{
	uint64_t x = 0;
	int digits = 0;

	for (; *p < end; (*p)++, digits++) {
		int d = hex_value((unsigned char)**p);

		if (d < 0)
			break;
		if (digits == 16)
			return false;
		x = x << 4 | (uint64_t)d;
	}
	*v = x;
	return digits > 0;
}

static bool dec(const char **p, const char *end, uint64_t *v)
{
	uint64_t x = 0;
	int digits = 0;

	for (; *p < end && **p >= '0' && **p <= '9'; (*p)++, digits++) {
		uint64_t d = (uint64_t)(**p - '0');

		if (x > (UINT64_MAX - d) / 10)
			return false;
		x = x * 10 + d;
	}
	*v = x;
	return digits > 0;
}

static bool expect(const char **p, const char *end, char c)
{
	if (*p >= end || **p != c)
		return false;
	(*p)++;
	return true;
}

/* Strip " (deleted)" from a path of *len bytes; whether it was there. */
static bool strip_deleted(const char *path, size_t *len)
{
	if (*len > DELETED_LEN &&
	    memcmp(path + *len - DELETED_LEN, deleted_suffix, DELETED_LEN) == 0) {
		*len -= DELETED_LEN;
		return true;
	}
	return false;
}

/*
 * One line [p, end) into e (path pointing into the line, not terminated).
 * Returns 1 when parsed, 0 when malformed.
 */
static int parse_line(const char *p, const char *end, struct procmaps_entry *e)
{
	uint64_t major, minor;
	const char *perms;

	memset(e, 0, sizeof(*e));
	if (!hex(&p, end, &e->start) || !expect(&p, end, '-') || !hex(&p, end, &e->end) ||
	    !expect(&p, end, ' ') || end - p < 5 || e->end < e->start)
		return 0;
	perms = p;
	if ((perms[0] != 'r' && perms[0] != '-') || (perms[1] != 'w' && perms[1] != '-') ||
	    (perms[2] != 'x' && perms[2] != '-') || (perms[3] != 'p' && perms[3] != 's'))
		return 0;
	e->prot = (perms[0] == 'r' ? PROCMAPS_PROT_READ : 0) |
		  (perms[1] == 'w' ? PROCMAPS_PROT_WRITE : 0) |
		  (perms[2] == 'x' ? PROCMAPS_PROT_EXEC : 0);
	e->shared = perms[3] == 's';
	p += 4;
	if (!expect(&p, end, ' ') || !hex(&p, end, &e->offset) || !expect(&p, end, ' ') ||
	    !hex(&p, end, &major) || !expect(&p, end, ':') || !hex(&p, end, &minor) ||
	    !expect(&p, end, ' ') || !dec(&p, end, &e->inode) || major > UINT32_MAX ||
	    minor > UINT32_MAX)
		return 0;
	e->dev_major = (uint32_t)major;
	e->dev_minor = (uint32_t)minor;
	if (p < end && *p != ' ')
		return 0;
	/* Padding, then the path to the end of the line (file paths start with '/'). */
	while (p < end && *p == ' ')
		p++;
	e->path = p;
	e->path_len = (size_t)(end - p);
	return 1;
}

static int keep_path(struct procmaps *pm, const char *path, size_t len, size_t *at)
{
	if (len + 1 > pm->paths_cap - pm->paths_len) {
		size_t cap = pm->paths_cap ? pm->paths_cap : 4096;
		char *p;

		while (len + 1 > cap - pm->paths_len) {
			if (cap > SIZE_MAX / 2)
				return -ENOMEM;
			cap *= 2;
		}
		p = realloc(pm->paths, cap);
		if (!p)
			return -ENOMEM;
		pm->paths = p;
		pm->paths_cap = cap;
	}
	memcpy(pm->paths + pm->paths_len, path, len);
	pm->paths[pm->paths_len + len] = '\0';
	*at = pm->paths_len;
	pm->paths_len += len + 1;
	return 0;
}

static int keep_entry(struct procmaps *pm, const struct procmaps_entry *e, size_t path_at)
{
	if (pm->n == pm->cap) {
		size_t cap = pm->cap ? pm->cap * 2 : 64;
		struct procmaps_entry *n;
		size_t *at;

		if (cap > SIZE_MAX / sizeof(*n))
			return -ENOMEM;
		n = realloc(pm->e, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		pm->e = n;
		at = realloc(pm->path_at, cap * sizeof(*at));
		if (!at)
			return -ENOMEM;
		pm->path_at = at;
		pm->cap = cap;
	}
	pm->path_at[pm->n] = path_at;
	pm->e[pm->n++] = *e;
	return 0;
}

/* Mark the first entry of each (dev, inode), through a hash set of entry indexes. */
static int mark_first(struct procmaps *pm)
{
	size_t cap = 16, mask;
	size_t *slots;

	while (cap < 2 * pm->n)
		cap *= 2;
	mask = cap - 1;
	slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < pm->n; i++) {
		struct procmaps_entry *e = &pm->e[i];
		uint64_t dev = (uint64_t)e->dev_major << 32 | e->dev_minor;
		size_t s = (size_t)mix64(e->inode ^ mix64(dev)) & mask;

		e->first = true;
		for (; slots[s]; s = (s + 1) & mask) {
			const struct procmaps_entry *o = &pm->e[slots[s] - 1];

			if (o->inode == e->inode && o->dev_major == e->dev_major &&
			    o->dev_minor == e->dev_minor) {
				e->first = false;
				break;
			}
		}
		if (e->first)
			slots[s] = i + 1;
	}
	free(slots);
	return 0;
}

int procmaps_parse(const char *buf, size_t n, const char *exe_path, struct procmaps **out)
{
	const char *p = buf, *end = buf ? buf + n : buf;	/* NULL + 0 is undefined in C */
	const char *first_path = NULL;
	size_t first_len = 0, exe_len = 0;
	struct procmaps *pm;
	int err = 0;

	if (!out || (n && !buf))
		return -EINVAL;
	*out = NULL;
	pm = calloc(1, sizeof(*pm));
	if (!pm)
		return -ENOMEM;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		struct procmaps_entry e;
		size_t at;

		if (le == p) {
			p = le + 1;
			continue;
		}
		if (!parse_line(p, le, &e)) {
			pm->malformed++;
		} else if (e.path_len > 0 && e.path[0] == '/') {
			size_t len = e.path_len;

			e.deleted = strip_deleted(e.path, &len);
			if (!first_path)
				first_path = e.path, first_len = len;
			if (e.prot & PROCMAPS_PROT_EXEC) {
				err = keep_path(pm, e.path, len, &at);
				if (!err) {
					e.path = NULL;
					e.path_len = len;
					err = keep_entry(pm, &e, at);
				}
				if (err)
					break;
			}
		}
		p = nl ? nl + 1 : end;
	}
	if (!err)
		err = mark_first(pm);
	if (err) {
		procmaps_free(pm);
		return err;
	}
	if (exe_path) {
		exe_len = strlen(exe_path);
		strip_deleted(exe_path, &exe_len);
	} else if (first_path) {
		exe_path = first_path;
		exe_len = first_len;
	}
	for (size_t i = 0; i < pm->n; i++) {
		struct procmaps_entry *e = &pm->e[i];

		e->path = pm->paths + pm->path_at[i];
		e->exe = exe_path && e->path_len == exe_len &&
			 memcmp(e->path, exe_path, exe_len) == 0;
	}
	*out = pm;
	return 0;
}

int procmaps_read(const char *proc_root, uint32_t pid, struct procmaps **out)
{
	char path[PATH_MAX], exe[PATH_MAX];
	size_t len = 0, cap = 64 * 1024;
	char *buf = NULL;
	ssize_t r;
	int fd, err = 0;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!proc_root)
		proc_root = "/proc";
	snprintf(path, sizeof(path), "%s/%u/maps", proc_root, pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		if (len == cap || !buf) {
			char *n;

			if (buf)
				cap *= 2;
			if (cap > PROCMAPS_FILE_MAX + 1)
				cap = PROCMAPS_FILE_MAX + 1;
			if (buf && len == cap) {
				err = -EFBIG;
				break;
			}
			n = realloc(buf, cap);
			if (!n) {
				err = -ENOMEM;
				break;
			}
			buf = n;
		}
		r = read(fd, buf + len, cap - len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	if (!err && len > PROCMAPS_FILE_MAX)
		err = -EFBIG;
	if (!err) {
		snprintf(path, sizeof(path), "%s/%u/exe", proc_root, pid);
		r = readlink(path, exe, sizeof(exe) - 1);
		if (r > 0)
			exe[r] = '\0';
		err = procmaps_parse(buf, len, r > 0 ? exe : NULL, out);
	}
	free(buf);
	return err;
}

void procmaps_free(struct procmaps *pm)
{
	if (!pm)
		return;
	free(pm->e);
	free(pm->path_at);
	free(pm->paths);
	free(pm);
}

size_t procmaps_count(const struct procmaps *pm)
{
	return pm ? pm->n : 0;
}

const struct procmaps_entry *procmaps_entry(const struct procmaps *pm, size_t i)
{
	return pm && i < pm->n ? &pm->e[i] : NULL;
}

size_t procmaps_malformed(const struct procmaps *pm)
{
	return pm ? pm->malformed : 0;
}

const struct procmaps_entry *procmaps_exe(const struct procmaps *pm)
{
	for (size_t i = 0; pm && i < pm->n; i++)
		if (pm->e[i].exe)
			return &pm->e[i];
	return NULL;
}

const struct procmaps_entry *procmaps_find_lib(const struct procmaps *pm, const char *soname,
					       const struct procmaps_entry *after)
{
	size_t n = soname ? strlen(soname) : 0;
	size_t i = 0;

	if (n == 0 || !pm)
		return NULL;
	if (after) {
		if (after < pm->e || after >= pm->e + pm->n)
			return NULL;
		i = (size_t)(after - pm->e) + 1;
	}
	for (; i < pm->n; i++) {
		const struct procmaps_entry *e = &pm->e[i];
		const char *base = strrchr(e->path, '/');

		if (!e->first)
			continue;
		base = base ? base + 1 : e->path;
		if (strncmp(base, soname, n) == 0 && (base[n] == '\0' || base[n] == '.'))
			return e;
	}
	return NULL;
}

int procmaps_path(const char *proc_root, uint32_t pid, const struct procmaps_entry *e, char *buf,
		  size_t len)
{
	int n;

	if (!e || !buf)
		return -EINVAL;
	if (!proc_root)
		proc_root = "/proc";
	/* A deleted file, or one whose name the kernel escaped, is reached through the mapping. */
	if (e->deleted || strstr(e->path, "\\012"))
		n = snprintf(buf, len, "%s/%u/map_files/%llx-%llx", proc_root, pid,
			     (unsigned long long)e->start, (unsigned long long)e->end);
	else
		n = snprintf(buf, len, "%s/%u/root%s", proc_root, pid, e->path);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return n;
}
