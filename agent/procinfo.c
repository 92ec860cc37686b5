// SPDX-License-Identifier: Apache-2.0
#include "procinfo.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "builder.h"
#include "log.h"

struct pi_entry {
	uint32_t tgid;
	uint64_t start_ticks;
	char comm[48];
	uint64_t checked_ns;		/* when start_ticks was last confirmed */
	struct resource *res;		/* the cache's reference */
	struct pi_entry *hnext;		/* hash chain */
	struct pi_entry *prev, *next;	/* LRU list (head = most recent) or free list (next) */
};

struct procinfo {
	char *proc_root;
	char host_name[PROCINFO_NAME_MAX];
	uint64_t revalidate_ns;		/* 0 = re-read stat on every lookup */
	uint32_t max_entries;
	uint32_t nbuckets;		/* a power of two */
	struct pi_entry **buckets;
	struct pi_entry *entries;
	struct pi_entry *free_list;
	struct pi_entry *lru_head, *lru_tail;
	char *envbuf;			/* PROCINFO_ENVIRON_MAX bytes, reused */
	struct procinfo_stats stats;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Read up to len bytes of a file (stopping at EOF).  Returns the byte count,
 * or -1 (errno set) when the file cannot be opened or read.
 */
static ssize_t read_file(const char *path, char *buf, size_t len)
{
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	while (got < len) {
		ssize_t r = read(fd, buf + got, len - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int err = errno;

			close(fd);
			errno = err;
			return -1;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	return (ssize_t)got;
}

/*
 * Parse "pid (comm) state ppid ... starttime ..." (comm may hold spaces and
 * parentheses: it ends at the last ')').  Returns 0 or -1 when malformed.
 */
static int parse_stat(const char *buf, size_t n, char *comm, size_t commlen, uint64_t *start)
{
	const char *lp = memchr(buf, '(', n);
	const char *rp = memrchr(buf, ')', n);
	const char *p, *end = buf + n;
	int field = 2;

	if (!lp || !rp || rp < lp)
		return -1;
	utf8_sanitize(comm, commlen, lp + 1, (size_t)(rp - lp - 1));
	p = rp + 1;
	while (p < end) {
		const char *tok;

		while (p < end && *p == ' ')
			p++;
		if (p >= end)
			break;
		tok = p;
		while (p < end && *p != ' ' && *p != '\n')
			p++;
		if (++field == 22) {
			uint64_t v = 0;

			if (tok == p)
				return -1;
			for (const char *q = tok; q < p; q++) {
				if (*q < '0' || *q > '9' || v > (UINT64_MAX - 9) / 10)
					return -1;
				v = v * 10 + (uint64_t)(*q - '0');
			}
			*start = v;
			return 0;
		}
		if (p < end && *p == '\n')
			break;
	}
	return -1;
}

/* Read stat: comm and start time.  0, or -1 when the process is gone. */
static int read_stat(const char *root, uint32_t tgid, char *comm, size_t commlen, uint64_t *start)
{
	char path[PATH_MAX];
	char buf[1024];
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%u/stat", root, tgid);
	n = read_file(path, buf, sizeof(buf));
	if (n <= 0)
		return -1;
	return parse_stat(buf, (size_t)n, comm, commlen, start);
}

static bool starts_with(const char *s, size_t n, const char *prefix, size_t plen)
{
	return n >= plen && memcmp(s, prefix, plen) == 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Narrow [*s, *e) past blanks on both sides. */
static void trim_blanks(const char **s, const char **e)
{
	while (*s < *e && (**s == ' ' || **s == '\t'))
		(*s)++;
	while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
		(*e)--;
}

/* Percent-decode [s, e) into out as UTF-8 (a "%" not followed by two hex digits stays). */
static void percent_decode(const char *s, const char *e, char *out, size_t outlen)
{
	char dec[PROCINFO_NAME_MAX];
	size_t m = 0;

	for (; s < e && m < sizeof(dec); s++) {
		int hi = e - s >= 3 && *s == '%' ? hexval(s[1]) : -1;
		int lo = hi >= 0 ? hexval(s[2]) : -1;

		if (lo >= 0) {
			dec[m++] = (char)(hi << 4 | lo);
			s += 2;
		} else {
			dec[m++] = *s;
		}
	}
	/* A decoded NUL ends the value. */
	m = strnlen(dec, m);
	if (m)
		utf8_sanitize(out, outlen, dec, m);
}

/*
 * service.name in an OTEL_RESOURCE_ATTRIBUTES value ("k=v,k=v", values
 * percent-encoded, blanks around keys and values ignored; the last one
 * wins) into out as UTF-8; out is left alone when there is none.
 */
static void parse_resource_attrs(const char *s, size_t n, char *out, size_t outlen)
{
	static const char key[] = "service.name";
	const char *end = s + n;

	while (s < end) {
		const char *comma = memchr(s, ',', (size_t)(end - s));
		const char *item_end = comma ? comma : end;
		const char *eq = memchr(s, '=', (size_t)(item_end - s));

		if (eq) {
			const char *k = s, *ke = eq, *v = eq + 1, *ve = item_end;

			trim_blanks(&k, &ke);
			trim_blanks(&v, &ve);
			if ((size_t)(ke - k) == sizeof(key) - 1 &&
			    memcmp(k, key, sizeof(key) - 1) == 0 && ve > v)
				percent_decode(v, ve, out, outlen);
		}
		s = comma ? comma + 1 : end;
	}
}

/*
 * The OTEL_* variables of a NUL-separated environment block.  An entry cut
 * by the read limit (no NUL after it) is ignored; for a variable present
 * twice the first wins, as with getenv().
 */
static void parse_environ(const char *buf, size_t n, struct proc_facts *f)
{
	static const char svc[] = "OTEL_SERVICE_NAME=";
	static const char ra[] = "OTEL_RESOURCE_ATTRIBUTES=";
	const char *p = buf, *end = buf + n;
	bool seen_svc = false, seen_ra = false;

	while (p < end) {
		const char *z = memchr(p, '\0', (size_t)(end - p));
		size_t len;

		if (!z)
			break;
		len = (size_t)(z - p);
		if (!seen_svc && starts_with(p, len, svc, sizeof(svc) - 1)) {
			seen_svc = true;
			utf8_sanitize(f->env_service_name, sizeof(f->env_service_name),
				      p + sizeof(svc) - 1, len - (sizeof(svc) - 1));
		} else if (!seen_ra && starts_with(p, len, ra, sizeof(ra) - 1)) {
			seen_ra = true;
			parse_resource_attrs(p + sizeof(ra) - 1, len - (sizeof(ra) - 1),
					     f->env_res_service_name,
					     sizeof(f->env_res_service_name));
		}
		p = z + 1;
	}
}

static void read_environ(const char *root, uint32_t tgid, char *buf, size_t len,
			 struct proc_facts *f)
{
	char path[PATH_MAX];
	ssize_t n;

	if (!buf)
		return;
	snprintf(path, sizeof(path), "%s/%u/environ", root, tgid);
	n = read_file(path, buf, len);
	if (n > 0)
		parse_environ(buf, (size_t)n, f);
}

static void read_exe(const char *root, uint32_t tgid, struct proc_facts *f)
{
	static const char deleted[] = " (deleted)";
	char path[PATH_MAX];
	char link[PROCINFO_PATH_MAX];
	const char *base;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%u/exe", root, tgid);
	n = readlink(path, link, sizeof(link));
	if (n <= 0 || (size_t)n >= sizeof(link))
		return;
	link[n] = '\0';
	if ((size_t)n > sizeof(deleted) - 1 &&
	    strcmp(link + n - (sizeof(deleted) - 1), deleted) == 0) {
		n -= sizeof(deleted) - 1;
		link[n] = '\0';
	}
	base = strrchr(link, '/');
	base = base ? base + 1 : link;
	if (!*base)
		return;
	utf8_sanitize(f->exe_path, sizeof(f->exe_path), link, (size_t)n);
	utf8_sanitize(f->exe_name, sizeof(f->exe_name), base, strlen(base));
}

/* Everything but stat, which the caller has read into f already. */
static void read_facts_rest(const char *root, uint32_t tgid, char *envbuf, size_t envlen,
			    struct proc_facts *f)
{
	read_exe(root, tgid, f);
	if (!f->exe_name[0])
		snprintf(f->exe_name, sizeof(f->exe_name), "%s", f->comm);
	read_environ(root, tgid, envbuf, envlen, f);
}

static void facts_init(struct proc_facts *f, uint32_t tgid)
{
	f->tgid = tgid;
	f->alive = false;
	f->start_ticks = 0;
	f->comm[0] = '\0';
	f->exe_name[0] = '\0';
	f->exe_path[0] = '\0';
	f->env_service_name[0] = '\0';
	f->env_res_service_name[0] = '\0';
}

int procinfo_read_facts(const char *proc_root, uint32_t tgid, struct proc_facts *f)
{
	char *envbuf;

	if (!proc_root)
		proc_root = PROCINFO_DEFAULT_ROOT;
	facts_init(f, tgid);
	if (read_stat(proc_root, tgid, f->comm, sizeof(f->comm), &f->start_ticks) < 0) {
		f->comm[0] = '\0';
		f->start_ticks = 0;
		return -1;
	}
	f->alive = true;
	envbuf = malloc(PROCINFO_ENVIRON_MAX);
	read_facts_rest(proc_root, tgid, envbuf, PROCINFO_ENVIRON_MAX, f);
	free(envbuf);
	return 0;
}

void procinfo_service_name(const struct proc_facts *f, char *buf, size_t len)
{
	const char *name = PROCINFO_UNKNOWN_SERVICE;

	if (!len)
		return;
	/* Issue 5: configured rules (by executable, port, container...) go first. */
	if (f->env_service_name[0])
		name = f->env_service_name;
	else if (f->env_res_service_name[0])
		name = f->env_res_service_name;
	else if (f->exe_name[0])
		name = f->exe_name;
	utf8_sanitize(buf, len, name, strlen(name));
}

static struct resource *resource_from_facts(const struct procinfo *pi, const struct proc_facts *f)
{
	char name[PROCINFO_NAME_MAX];
	struct resource *res = resource_new(f->tgid);

	if (!res)
		return NULL;
	res->start_ticks = f->start_ticks;
	procinfo_service_name(f, name, sizeof(name));
	/* Most important first: what does not fit the resource's arena is left out. */
	resource_add_str(res, "service.name", name);
	resource_add_int(res, "process.pid", f->tgid);
	if (f->exe_name[0])
		resource_add_str(res, "process.executable.name", f->exe_name);
	if (pi->host_name[0])
		resource_add_str(res, "host.name", pi->host_name);
	if (f->exe_path[0])
		resource_add_str(res, "process.executable.path", f->exe_path);
	return res;
}

/* ---- the cache ------------------------------------------------------------ */

static uint32_t bucket_of(const struct procinfo *pi, uint32_t tgid)
{
	return (uint32_t)((tgid * 2654435761u) & (pi->nbuckets - 1));
}

static void lru_unlink(struct procinfo *pi, struct pi_entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		pi->lru_head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		pi->lru_tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_push_front(struct procinfo *pi, struct pi_entry *e)
{
	e->prev = NULL;
	e->next = pi->lru_head;
	if (pi->lru_head)
		pi->lru_head->prev = e;
	pi->lru_head = e;
	if (!pi->lru_tail)
		pi->lru_tail = e;
}

static struct pi_entry *cache_find(const struct procinfo *pi, uint32_t tgid)
{
	struct pi_entry *e = pi->buckets[bucket_of(pi, tgid)];

	while (e && e->tgid != tgid)
		e = e->hnext;
	return e;
}

/* Take e out of the hash and the LRU list, drop its resource, free the slot. */
static void cache_remove(struct procinfo *pi, struct pi_entry *e)
{
	struct pi_entry **pp = &pi->buckets[bucket_of(pi, e->tgid)];

	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
	lru_unlink(pi, e);
	resource_unref(e->res);
	e->res = NULL;
	e->hnext = NULL;
	e->next = pi->free_list;
	pi->free_list = e;
	pi->stats.entries--;
}

/* Cache res (taking a reference of its own) for the facts' process. */
static void cache_insert(struct procinfo *pi, const struct proc_facts *f, struct resource *res,
			 uint64_t now)
{
	struct pi_entry *e;
	uint32_t b;

	if (!pi->free_list) {
		cache_remove(pi, pi->lru_tail);
		pi->stats.evicted++;
	}
	e = pi->free_list;
	pi->free_list = e->next;
	e->tgid = f->tgid;
	e->start_ticks = f->start_ticks;
	memcpy(e->comm, f->comm, sizeof(e->comm));
	e->checked_ns = now;
	e->res = resource_ref(res);
	b = bucket_of(pi, f->tgid);
	e->hnext = pi->buckets[b];
	pi->buckets[b] = e;
	lru_push_front(pi, e);
	pi->stats.entries++;
}

struct procinfo *procinfo_new(const struct procinfo_opts *opts)
{
	struct procinfo_opts def = { 0 };
	struct procinfo *pi;

	if (!opts)
		opts = &def;
	pi = calloc(1, sizeof(*pi));
	if (!pi)
		return NULL;
	pi->proc_root = strdup(opts->proc_root ? opts->proc_root : PROCINFO_DEFAULT_ROOT);
	pi->max_entries = opts->max_entries ? opts->max_entries : PROCINFO_DEFAULT_ENTRIES;
	if (pi->max_entries > (1u << 24))
		pi->max_entries = 1u << 24;
	pi->nbuckets = 1;
	while (pi->nbuckets < 2 * pi->max_entries)
		pi->nbuckets <<= 1;
	pi->buckets = calloc(pi->nbuckets, sizeof(*pi->buckets));
	pi->entries = calloc(pi->max_entries, sizeof(*pi->entries));
	pi->envbuf = malloc(PROCINFO_ENVIRON_MAX);
	if (!pi->proc_root || !pi->buckets || !pi->entries || !pi->envbuf) {
		procinfo_free(pi);
		return NULL;
	}
	for (uint32_t i = pi->max_entries; i-- > 0;) {
		pi->entries[i].next = pi->free_list;
		pi->free_list = &pi->entries[i];
	}
	if (opts->revalidate_ms < 0)
		pi->revalidate_ns = 0;
	else
		pi->revalidate_ns = (uint64_t)(opts->revalidate_ms ? opts->revalidate_ms :
						PROCINFO_DEFAULT_REVALIDATE_MS) * 1000000ull;
	if (opts->host_name && opts->host_name[0]) {
		utf8_sanitize(pi->host_name, sizeof(pi->host_name), opts->host_name,
			      strlen(opts->host_name));
	} else {
		char h[PROCINFO_NAME_MAX] = "";

		if (gethostname(h, sizeof(h) - 1) < 0)
			log_warn("procinfo: gethostname: %s", strerror(errno));
		h[sizeof(h) - 1] = '\0';
		utf8_sanitize(pi->host_name, sizeof(pi->host_name), h, strlen(h));
	}
	return pi;
}

void procinfo_free(struct procinfo *pi)
{
	if (!pi)
		return;
	if (pi->entries)
		for (uint32_t i = 0; i < pi->max_entries; i++)
			resource_unref(pi->entries[i].res);
	free(pi->entries);
	free(pi->buckets);
	free(pi->envbuf);
	free(pi->proc_root);
	free(pi);
}

struct resource *procinfo_resource(struct procinfo *pi, uint32_t tgid)
{
	return procinfo_resource_hint(pi, tgid, NULL);
}

struct resource *procinfo_resource_hint(struct procinfo *pi, uint32_t tgid, const char *comm)
{
	struct pi_entry *e = cache_find(pi, tgid);
	struct proc_facts f;
	struct resource *res;
	uint64_t now = now_ns();
	int alive;

	facts_init(&f, tgid);
	if (e && e->checked_ns <= now && now - e->checked_ns < pi->revalidate_ns)
		goto hit;
	alive = read_stat(pi->proc_root, tgid, f.comm, sizeof(f.comm), &f.start_ticks) == 0;
	if (e) {
		/* Gone: keep what we knew, its last spans are still coming. */
		if (!alive || (f.start_ticks == e->start_ticks && strcmp(f.comm, e->comm) == 0)) {
			e->checked_ns = now;
			goto hit;
		}
		cache_remove(pi, e);
		pi->stats.replaced++;
	}
	if (alive) {
		f.alive = true;
		read_facts_rest(pi->proc_root, tgid, pi->envbuf, PROCINFO_ENVIRON_MAX, &f);
	} else {
		f.comm[0] = '\0';
		f.start_ticks = 0;
		/* Gone before we looked (short-lived clients): the kernel's name for it. */
		if (comm && comm[0])
			utf8_sanitize(f.exe_name, sizeof(f.exe_name), comm, strnlen(comm, 15));
	}
	res = resource_from_facts(pi, &f);
	if (!res)
		return NULL;
	cache_insert(pi, &f, res, now);
	pi->stats.misses++;
	return res;
hit:
	pi->stats.hits++;
	if (pi->lru_head != e) {
		lru_unlink(pi, e);
		lru_push_front(pi, e);
	}
	return resource_ref(e->res);
}

void procinfo_forget(struct procinfo *pi, uint32_t tgid)
{
	struct pi_entry *e = cache_find(pi, tgid);

	if (e)
		cache_remove(pi, e);
}

void procinfo_get_stats(const struct procinfo *pi, struct procinfo_stats *st)
{
	*st = pi->stats;
}
