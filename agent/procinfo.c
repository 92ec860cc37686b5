// SPDX-License-Identifier: Apache-2.0
/*
 * procinfo.c - one resource per traced process from /proc (executable,
 * environ, cgroup) and the config's services rules, cached (see procinfo.h).
 */
#include "procinfo.h"
#include "baggage.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "utf8.h"
#include "log.h"
#include "portscan.h"

_Static_assert(RESOURCE_MAX_ATTRS >=
	       PROCINFO_BUILTIN_ATTRS + CONFIG_MAX_ATTRIBUTES + PROCINFO_ENV_ATTRS_MAX,
	       "a resource holds every attribute procinfo may give it");

/* One decoded key/value (the config's, made UTF-8, or one of the process's own). */
struct pi_kv {
	char key[PROCINFO_ATTR_KEY_MAX];
	char value[PROCINFO_ATTR_VALUE_MAX];
};

struct pi_kvs {
	size_t n;
	struct pi_kv kv[];
};

struct pi_entry {
	uint32_t tgid;
	uint64_t start_ticks;
	char comm[48];
	uint64_t checked_ns;		/* when start_ticks was last confirmed */
	/* Not listening yet and a services port rule could name it: look again at ports_next_ns. */
	bool ports_pending;
	uint64_t ports_next_ns;
	uint64_t ports_wait_ns;		/* the wait before ports_next_ns, doubled each look */
	struct resource *res;		/* the cache's reference */
	struct pi_entry *hnext;		/* hash chain */
	struct pi_entry *prev, *next;	/* LRU list (head = most recent) or free list (next) */
};

struct procinfo {
	char *proc_root;
	char host_name[PROCINFO_NAME_MAX];
	char node_name[PROCINFO_NAME_MAX];
	const struct config *cfg;	/* may be NULL */
	uint64_t revalidate_ns;		/* 0 = re-read stat on every lookup */
	uint32_t max_entries;
	uint32_t nbuckets;		/* a power of two */
	struct pi_entry **buckets;
	struct pi_entry *entries;
	struct pi_entry *free_list;
	struct pi_entry *lru_head, *lru_tail;
	char *envbuf;			/* PROCINFO_ENVIRON_MAX bytes, reused */
	/* Scratch for making a resource (too large for a stack). */
	struct proc_facts *facts;
	struct pi_kvs *cfg_attrs;	/* CONFIG_MAX_ATTRIBUTES entries */
	struct pi_kvs *env_attrs;	/* PROCINFO_ENV_ATTRS_MAX entries */
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

int procinfo_parse_stat(const char *buf, size_t n, char *comm, size_t commlen, uint64_t *start)
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
	return procinfo_parse_stat(buf, (size_t)n, comm, commlen, start);
}

static bool starts_with(const char *s, size_t n, const char *prefix, size_t plen)
{
	return n >= plen && memcmp(s, prefix, plen) == 0;
}

int procinfo_resource_attrs(const char *s, size_t n, procinfo_attr_fn *fn, void *ctx)
{
	char key[PROCINFO_ATTR_KEY_MAX], value[PROCINFO_ATTR_VALUE_MAX];
	struct baggage_iter it;
	int r, count = 0;

	/* A value its own SDK would discard gives nothing here either. */
	if (!baggage_valid(s, n))
		return -1;
	baggage_init(&it, s, n);
	while ((r = baggage_next(&it, key, sizeof(key), value, sizeof(value))) != BAGGAGE_END) {
		if (r != BAGGAGE_MEMBER || !value[0])
			continue;	/* over our limits, or empty */
		fn(ctx, key, value);
		count++;
	}
	return count;
}

/* service.name of OTEL_RESOURCE_ATTRIBUTES: the last one wins. */
static void take_service_name(void *ctx, const char *key, const char *value)
{
	struct proc_facts *f = ctx;

	if (strcmp(key, "service.name") == 0)
		utf8_sanitize(f->env_res_service_name, sizeof(f->env_res_service_name), value,
			      strlen(value));
}

static bool reserved_key(const char *key)
{
	return strcmp(key, "service.name") == 0 || strcmp(key, "process.pid") == 0;
}

/*
 * Any other member into the list (PROCINFO_ENV_ATTRS_MAX entries at most):
 * a key seen before keeps its place and takes the later value.
 */
static void take_env_attr(void *ctx, const char *key, const char *value)
{
	struct pi_kvs *l = ctx;
	size_t klen = strlen(key), i;

	if (reserved_key(key) || klen >= PROCINFO_ATTR_KEY_MAX)
		return;
	for (i = 0; i < l->n && strcmp(l->kv[i].key, key) != 0; i++)
		;
	if (i == l->n) {
		if (l->n == PROCINFO_ENV_ATTRS_MAX)
			return;
		memcpy(l->kv[i].key, key, klen + 1);
		l->n++;
	}
	snprintf(l->kv[i].value, sizeof(l->kv[i].value), "%s", value);
}

/*
 * Keep an OTEL_RESOURCE_ATTRIBUTES value (not decoded) in out; one longer
 * than out is cut after its last whole member that fits.
 */
static void keep_res_attrs(const char *s, size_t n, char *out, size_t outlen)
{
	if (n >= outlen) {
		const char *comma = memrchr(s, ',', outlen - 1);

		n = comma ? (size_t)(comma - s) : 0;
	}
	memcpy(out, s, n);
	out[n] = '\0';
}

void procinfo_parse_environ(const char *buf, size_t n, struct proc_facts *f)
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
			procinfo_resource_attrs(p + sizeof(ra) - 1, len - (sizeof(ra) - 1),
					      take_service_name, f);
			keep_res_attrs(p + sizeof(ra) - 1, len - (sizeof(ra) - 1),
				       f->env_res_attrs, sizeof(f->env_res_attrs));
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
		procinfo_parse_environ(buf, (size_t)n, f);
}

/* /proc/PID/exe into link, without " (deleted)": its length, or -1. */
static ssize_t exe_link(const char *root, uint32_t tgid, char *link, size_t size)
{
	static const char deleted[] = " (deleted)";
	char path[PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%u/exe", root, tgid);
	n = readlink(path, link, size);
	if (n <= 0 || (size_t)n >= size)
		return -1;
	link[n] = '\0';
	if ((size_t)n > sizeof(deleted) - 1 &&
	    strcmp(link + n - (sizeof(deleted) - 1), deleted) == 0) {
		n -= sizeof(deleted) - 1;
		link[n] = '\0';
	}
	return n;
}

/* The file name part of a path; "" for a path ending in '/'. */
static const char *base_name(const char *path)
{
	const char *base = strrchr(path, '/');

	return base ? base + 1 : path;
}

static void read_exe(const char *root, uint32_t tgid, struct proc_facts *f)
{
	char link[PROCINFO_PATH_MAX];
	const char *base;
	ssize_t n = exe_link(root, tgid, link, sizeof(link));

	if (n <= 0)
		return;
	base = base_name(link);
	if (!*base)
		return;
	utf8_sanitize(f->exe_path, sizeof(f->exe_path), link, (size_t)n);
	utf8_sanitize(f->exe_name, sizeof(f->exe_name), base, strlen(base));
}

int procinfo_exe_name(const char *proc_root, uint32_t tgid, char *buf, size_t len)
{
	char link[PROCINFO_PATH_MAX];
	uint64_t start;

	if (!len)
		return -1;
	if (!proc_root)
		proc_root = PROCINFO_DEFAULT_ROOT;
	if (exe_link(proc_root, tgid, link, sizeof(link)) > 0 && *base_name(link)) {
		snprintf(buf, len, "%s", base_name(link));
		return 0;
	}
	/* Kernel threads and processes we may not read: the task name. */
	return read_stat(proc_root, tgid, buf, len, &start);
}

/* Everything but stat, which the caller has read into f already. */
static void read_facts_rest(const char *root, uint32_t tgid, char *envbuf, size_t envlen,
			    struct proc_facts *f)
{
	read_exe(root, tgid, f);
	if (!f->exe_name[0])
		snprintf(f->exe_name, sizeof(f->exe_name), "%s", f->comm);
	read_environ(root, tgid, envbuf, envlen, f);
	cgroup_read(root, tgid, &f->cgroup);
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
	f->env_res_attrs[0] = '\0';
	f->cgroup.container_id[0] = '\0';
	f->cgroup.pod_uid[0] = '\0';
	f->listening = -1;
	f->nlisten_ports = 0;
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

void procinfo_service_name(const struct proc_facts *f, const struct config *cfg, char *buf,
			   size_t len)
{
	const char *name = NULL;

	if (!len)
		return;
	if (cfg)
		name = config_service_name(cfg, f->exe_name, f->listen_ports, f->nlisten_ports);
	if (!name && f->env_service_name[0])
		name = f->env_service_name;
	if (!name && f->env_res_service_name[0])
		name = f->env_res_service_name;
	if (!name && f->exe_name[0])
		name = f->exe_name;
	if (!name)
		name = PROCINFO_UNKNOWN_SERVICE;
	utf8_sanitize(buf, len, name, strlen(name));
}

/* ---- services rules with a port ------------------------------------------ */

/* Does the rule's executable glob match (an empty glob matches any name)? */
static bool rule_exe_matches(const struct config_service *svc, const char *exe_name)
{
	return !svc->executable[0] || fnmatch(svc->executable, exe_name, 0) == 0;
}

/*
 * The distinct ports of the rules that could match a process with this
 * executable name, into ports (CONFIG_MAX_SERVICES entries); their count.
 */
static size_t rule_ports(const struct config *cfg, const char *exe_name, uint16_t *ports)
{
	size_t n = 0;

	for (size_t i = 0; cfg && i < cfg->nservices && i < CONFIG_MAX_SERVICES; i++) {
		const struct config_service *svc = &cfg->services[i];
		size_t j;

		if (!svc->port || !rule_exe_matches(svc, exe_name))
			continue;
		for (j = 0; j < n && ports[j] != svc->port; j++)
			;
		if (j == n)
			ports[n++] = svc->port;
	}
	return n;
}

/* Fill f's listening ports when a services rule with a port could match it. */
static void read_ports(const struct procinfo *pi, struct proc_facts *f)
{
	uint16_t wanted[CONFIG_MAX_SERVICES];
	size_t nwanted = rule_ports(pi->cfg, f->exe_name, wanted);

	f->listening = -1;
	f->nlisten_ports = 0;
	if (!f->alive || !nwanted)
		return;
	f->listening = portscan_process_ports(pi->proc_root, f->tgid, wanted, nwanted,
					      f->listen_ports, CONFIG_MAX_SERVICES,
					      &f->nlisten_ports);
}

/*
 * Could the process be named by a port rule once it listens?  True when it
 * listens on nothing yet and a rule with a port that its executable matches
 * comes before the rule that named it (any, when none did).
 */
static bool ports_pending(const struct config *cfg, const struct proc_facts *f)
{
	const char *named;

	if (!cfg || f->listening != 0)
		return false;
	named = config_service_name(cfg, f->exe_name, NULL, 0);
	for (size_t i = 0; i < cfg->nservices && i < CONFIG_MAX_SERVICES; i++) {
		const struct config_service *svc = &cfg->services[i];

		if (svc->name == named)
			return false;
		if (svc->port && rule_exe_matches(svc, f->exe_name))
			return true;
	}
	return false;
}

/* ---- building a resource --------------------------------------------------- */

/* One attribute to be: a string (s) or an integer (s NULL). */
struct res_item {
	const char *key;
	const char *s;
	int64_t i;
};

struct res_items {
	size_t n;
	size_t arena;		/* bytes the strings need, NULs included */
	struct res_item v[RESOURCE_MAX_ATTRS];
};

static bool items_have(const struct res_items *it, const char *key)
{
	for (size_t i = 0; i < it->n; i++)
		if (strcmp(it->v[i].key, key) == 0)
			return true;
	return false;
}

static void items_add(struct res_items *it, const char *key, const char *s, int64_t i)
{
	if (it->n == RESOURCE_MAX_ATTRS || items_have(it, key))
		return;
	it->v[it->n].key = key;
	it->v[it->n].s = s;
	it->v[it->n].i = i;
	it->arena += strlen(key) + 1 + (s ? strlen(s) + 1 : 0);
	it->n++;
}

static const struct pi_kv *kvs_find(const struct pi_kvs *l, const char *key)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->kv[i].key, key) == 0)
			return &l->kv[i];
	return NULL;
}

/* cfg's resource attributes into l, made UTF-8 (the config does not promise it). */
static void load_cfg_attrs(const struct config *cfg, struct pi_kvs *l)
{
	l->n = 0;
	for (size_t i = 0; cfg && i < cfg->nresource_attributes && i < CONFIG_MAX_ATTRIBUTES; i++) {
		const struct config_kv *kv = &cfg->resource_attributes[i];
		struct pi_kv *o = &l->kv[l->n];

		utf8_sanitize(o->key, sizeof(o->key), kv->name,
			      strnlen(kv->name, sizeof(kv->name)));
		utf8_sanitize(o->value, sizeof(o->value), kv->value,
			      strnlen(kv->value, sizeof(kv->value)));
		if (o->key[0] && !reserved_key(o->key))
			l->n++;
	}
}

/*
 * A detected attribute (value "" when not detected), unless the config or
 * the process's OTEL_RESOURCE_ATTRIBUTES give the key: their value then
 * (an empty configured value leaves the attribute out).
 */
static void add_detected(struct procinfo *pi, struct res_items *it, const char *key,
			 const char *value)
{
	const struct pi_kv *kv = kvs_find(pi->cfg_attrs, key);

	if (!kv)
		kv = kvs_find(pi->env_attrs, key);
	if (kv)
		value = kv->value;
	if (value[0])
		items_add(it, key, value, 0);
}

static struct resource *resource_from_facts(struct procinfo *pi, const struct proc_facts *f)
{
	const struct pi_kvs *cl = pi->cfg_attrs, *el = pi->env_attrs;
	char name[PROCINFO_NAME_MAX];
	struct res_items items, *it = &items;
	struct resource *res;

	it->n = 0;
	it->arena = 0;
	load_cfg_attrs(pi->cfg, pi->cfg_attrs);
	pi->env_attrs->n = 0;
	procinfo_resource_attrs(f->env_res_attrs, strlen(f->env_res_attrs), take_env_attr,
			      pi->env_attrs);
	procinfo_service_name(f, pi->cfg, name, sizeof(name));

	items_add(it, "service.name", name, 0);
	items_add(it, "process.pid", NULL, f->tgid);
	add_detected(pi, it, "process.executable.name", f->exe_name);
	add_detected(pi, it, "host.name", pi->host_name);
	add_detected(pi, it, "process.executable.path", f->exe_path);
	add_detected(pi, it, "container.id", f->cgroup.container_id);
	add_detected(pi, it, "k8s.pod.uid", f->cgroup.pod_uid);
	add_detected(pi, it, "k8s.node.name", pi->node_name);
	for (size_t i = 0; i < cl->n; i++)
		if (cl->kv[i].value[0])
			items_add(it, cl->kv[i].key, cl->kv[i].value, 0);
	/* The process's own, except keys the config sets (also to ""). */
	for (size_t i = 0; i < el->n; i++)
		if (!kvs_find(cl, el->kv[i].key))
			items_add(it, el->kv[i].key, el->kv[i].value, 0);

	res = resource_new_sized(f->tgid, it->arena);
	if (res) {
		res->start_ticks = f->start_ticks;
		for (size_t i = 0; i < it->n; i++) {
			const struct res_item *x = &it->v[i];

			if (x->s)
				resource_add_str(res, x->key, x->s);
			else
				resource_add_int(res, x->key, x->i);
		}
	}
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
	e->ports_pending = ports_pending(pi->cfg, f);
	e->ports_wait_ns = pi->revalidate_ns;
	e->ports_next_ns = now + e->ports_wait_ns;
	e->res = resource_ref(res);
	b = bucket_of(pi, f->tgid);
	e->hnext = pi->buckets[b];
	pi->buckets[b] = e;
	lru_push_front(pi, e);
	pi->stats.entries++;
}

/* A NUL-terminated UTF-8 copy of s (NULL: "") in buf. */
static void copy_name(char *buf, size_t len, const char *s)
{
	utf8_sanitize(buf, len, s ? s : "", s ? strlen(s) : 0);
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
	pi->facts = malloc(sizeof(*pi->facts));
	pi->cfg_attrs = calloc(1, sizeof(*pi->cfg_attrs) +
				  CONFIG_MAX_ATTRIBUTES * sizeof(pi->cfg_attrs->kv[0]));
	pi->env_attrs = calloc(1, sizeof(*pi->env_attrs) +
				  PROCINFO_ENV_ATTRS_MAX * sizeof(pi->env_attrs->kv[0]));
	if (!pi->proc_root || !pi->buckets || !pi->entries || !pi->envbuf || !pi->facts ||
	    !pi->cfg_attrs || !pi->env_attrs) {
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
	pi->cfg = opts->cfg;
	copy_name(pi->node_name, sizeof(pi->node_name), opts->node_name);
	if (opts->host_name && opts->host_name[0]) {
		copy_name(pi->host_name, sizeof(pi->host_name), opts->host_name);
	} else {
		char h[PROCINFO_NAME_MAX] = "";

		if (gethostname(h, sizeof(h) - 1) < 0)
			log_warn("procinfo: gethostname: %s", strerror(errno));
		h[sizeof(h) - 1] = '\0';
		copy_name(pi->host_name, sizeof(pi->host_name), h);
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
	free(pi->facts);
	free(pi->cfg_attrs);
	free(pi->env_attrs);
	free(pi->proc_root);
	free(pi);
}

void procinfo_reset(struct procinfo *pi)
{
	while (pi->lru_head)
		cache_remove(pi, pi->lru_head);
}

/*
 * A pending entry's process: listening now (on any port)?  When not, the
 * next look is twice as far away (at most PROCINFO_PORT_RECHECK_MAX_MS).
 */
static bool started_listening(struct procinfo *pi, struct pi_entry *e, uint64_t now)
{
	const uint64_t max_wait = PROCINFO_PORT_RECHECK_MAX_MS * 1000000ull;
	size_t nports;

	if (portscan_process_ports(pi->proc_root, e->tgid, NULL, 0, NULL, 0, &nports) > 0)
		return true;
	e->ports_wait_ns = e->ports_wait_ns * 2 < max_wait ? e->ports_wait_ns * 2 : max_wait;
	e->ports_next_ns = now + e->ports_wait_ns;
	return false;
}

/*
 * Does cached entry e still hold the resource of process tgid?  Not when
 * the pid now belongs to another process or an exec() (stat re-read once
 * per revalidation interval), nor when a pending process started listening.
 * A process that is gone keeps its entry: its last spans are still coming.
 */
static bool entry_current(struct procinfo *pi, struct pi_entry *e, uint64_t now)
{
	char comm[sizeof(e->comm)];
	uint64_t start = 0;

	if (e->checked_ns > now || now - e->checked_ns >= pi->revalidate_ns) {
		if (read_stat(pi->proc_root, e->tgid, comm, sizeof(comm), &start) == 0) {
			if (start != e->start_ticks || strcmp(comm, e->comm) != 0) {
				pi->stats.replaced++;
				return false;
			}
		} else {
			e->ports_pending = false;
		}
		e->checked_ns = now;
	}
	if (e->ports_pending && now >= e->ports_next_ns && started_listening(pi, e, now)) {
		pi->stats.started_listening++;
		return false;
	}
	return true;
}

struct resource *procinfo_resource(struct procinfo *pi, uint32_t tgid)
{
	return procinfo_resource_hint(pi, tgid, NULL);
}

struct resource *procinfo_resource_hint(struct procinfo *pi, uint32_t tgid, const char *comm)
{
	struct pi_entry *e = cache_find(pi, tgid);
	struct proc_facts *f = pi->facts;
	struct resource *res;
	uint64_t now = now_ns();

	if (e && entry_current(pi, e, now)) {
		pi->stats.hits++;
		if (pi->lru_head != e) {
			lru_unlink(pi, e);
			lru_push_front(pi, e);
		}
		return resource_ref(e->res);
	}
	if (e)
		cache_remove(pi, e);
	facts_init(f, tgid);
	if (read_stat(pi->proc_root, tgid, f->comm, sizeof(f->comm), &f->start_ticks) == 0) {
		f->alive = true;
		read_facts_rest(pi->proc_root, tgid, pi->envbuf, PROCINFO_ENVIRON_MAX, f);
		read_ports(pi, f);
	} else {
		f->comm[0] = '\0';
		f->start_ticks = 0;
		/* Gone before we looked (short-lived clients): the kernel's name for it. */
		if (comm && comm[0])
			utf8_sanitize(f->exe_name, sizeof(f->exe_name), comm, strnlen(comm, 15));
	}
	res = resource_from_facts(pi, f);
	if (!res)
		return NULL;
	cache_insert(pi, f, res, now);
	pi->stats.misses++;
	return res;
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
