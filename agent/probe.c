// SPDX-License-Identifier: Apache-2.0
/*
 * probe.c - open → configure → load → attach the BPF skeleton, and drain
 * its ring buffer.  Every way the kernel can refuse us is turned into a
 * message that says what to do.
 */
#include "probe.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "log.h"
#include "spanbpf.skel.h"

#define DEFAULT_RINGBUF_BYTES (4u << 20)	/* mapped twice: counts 8 MiB in the RSS */

struct probe {
	struct spanbpf_bpf *skel;
	struct ring_buffer *rb;
	pthread_mutex_t ulock;		/* uprobe links, attached from the attacher's thread */
	struct bpf_link **ulinks;
	size_t nulinks, culinks;
};

/* libbpf's own messages go to our log at debug level (warnings at warn). */
static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char buf[1024];
	int lvl = level == LIBBPF_WARN ? LOG_LEVEL_WARN : LOG_LEVEL_DEBUG;

	if (lvl > log_level_active)
		return 0;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	log_write(lvl, "libbpf: %s", buf);
	return 0;
}

/* Effective capability bit from /proc/self/status. */
static bool has_cap(int cap)
{
	char line[256];
	unsigned long long eff = 0;
	bool found = false;
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &eff) == 1) {
			found = true;
			break;
		}
	fclose(f);
	return found && (eff >> cap) & 1;
}

#define CAP_SYS_ADMIN 21
#define CAP_PERFMON 38
#define CAP_BPF 39

static int check_privileges(void)
{
	if (has_cap(CAP_SYS_ADMIN) || (has_cap(CAP_BPF) && has_cap(CAP_PERFMON)))
		return 0;
	log_error("spanbpf must run as root (or with CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE and "
		  "CAP_SYS_RESOURCE, plus CAP_SYS_ADMIN on kernels before 5.8): "
		  "run it with sudo, or see README.md, \"Privileges\"");
	return -EPERM;
}

static int check_btf(void)
{
	if (access("/sys/kernel/btf/vmlinux", R_OK) == 0)
		return 0;
	log_error("this kernel exposes no BTF (/sys/kernel/btf/vmlinux is missing): spanbpf needs a "
		  "kernel built with CONFIG_DEBUG_INFO_BTF=y (Debian 11+, Ubuntu 20.10+, RHEL 8.2+ have it)");
	return -ENOTSUP;
}

static bool dir_has(const char *dir, const char *sub)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	return stat(path, &st) == 0;
}

/*
 * libbpf resolves tracepoints through tracefs: /sys/kernel/debug/tracing when
 * that path exists, else /sys/kernel/tracing.  A fresh host may have neither
 * mounted; mount tracefs where libbpf will look.
 */
static int ensure_tracefs(void)
{
	const char *dir = access("/sys/kernel/debug/tracing", F_OK) == 0 ? "/sys/kernel/debug/tracing"
									   : "/sys/kernel/tracing";

	if (dir_has(dir, "events/syscalls"))
		return 0;
	if (mount("tracefs", dir, "tracefs", 0, NULL) != 0 && errno != EBUSY) {
		log_error("tracefs is not mounted at %s and mounting it failed (%s): run "
			  "\"mount -t tracefs tracefs %s\" as root, or give the agent that mount "
			  "(in a container: bind-mount the host's /sys/kernel/tracing)",
			  dir, strerror(errno), dir);
		return -errno;
	}
	if (!dir_has(dir, "events/syscalls")) {
		log_error("%s has no events/syscalls: this kernel was built without "
			  "CONFIG_FTRACE_SYSCALLS, which spanbpf needs", dir);
		return -ENOTSUP;
	}
	log_info("mounted tracefs at %s", dir);
	return 0;
}

static void explain_load_error(int err)
{
	if (err == -EPERM || err == -EACCES)
		log_error("the kernel refused to load the BPF programs (%s): run as root; in a "
			  "container add CAP_BPF, CAP_PERFMON, CAP_SYS_RESOURCE (or --privileged), "
			  "and check kernel.unprivileged_bpf_disabled / lockdown mode",
			  strerror(-err));
	else
		log_error("loading the BPF programs failed: %s (run with log.level: debug for the "
			  "verifier's log)", strerror(-err));
}

int probe_open(struct probe **out, const struct probe_opts *opts)
{
	struct probe *p;
	size_t rb_bytes = opts->ringbuf_bytes ? opts->ringbuf_bytes : DEFAULT_RINGBUF_BYTES;
	int err;

	*out = NULL;
	libbpf_set_print(libbpf_log);
	err = check_privileges();
	if (!err)
		err = check_btf();
	if (!err)
		err = ensure_tracefs();
	if (err)
		return err;

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	pthread_mutex_init(&p->ulock, NULL);

	/* Open: settings reach the programs as read-only globals. */
	p->skel = spanbpf_bpf__open();
	if (!p->skel) {
		err = -errno;
		log_error("opening the BPF object failed: %s", strerror(errno));
		goto fail;
	}
	p->skel->rodata->self_tgid = opts->self_tgid;
	/* Wake the reader early: it may be short of CPU on a busy host. */
	p->skel->rodata->wakeup_bytes = rb_bytes / 8;
	err = bpf_map__set_max_entries(p->skel->maps.events, rb_bytes);
	if (err) {
		log_error("ring buffer size %zu rejected: %s", rb_bytes, strerror(-err));
		goto fail;
	}

	/* Load: the verifier runs here. */
	err = spanbpf_bpf__load(p->skel);
	if (err) {
		explain_load_error(err);
		goto fail;
	}

	if (opts->filters) {
		err = probe_set_filters(p, opts->filters);
		if (err) {
			log_error("setting up the filters failed: %s", strerror(-err));
			goto fail;
		}
	}

	/* Attach: every tracepoint, or nothing. */
	err = spanbpf_bpf__attach(p->skel);
	if (err) {
		log_error("attaching the syscall tracepoints failed: %s (is tracefs mounted and "
			  "CONFIG_FTRACE_SYSCALLS enabled?)", strerror(-err));
		goto fail;
	}

	p->rb = ring_buffer__new(bpf_map__fd(p->skel->maps.events), opts->on_event, opts->ctx,
				 NULL);
	if (!p->rb) {
		err = -errno;
		log_error("setting up the ring buffer reader failed: %s", strerror(errno));
		goto fail;
	}
	*out = p;
	return 0;

fail:
	probe_close(p);
	return err ? err : -EINVAL;
}

int probe_poll(struct probe *p, int timeout_ms)
{
	int n = ring_buffer__poll(p->rb, timeout_ms);

	if (n < 0 && n != -EINTR)
		return n;
	/* Records are submitted without wake-ups: consume whatever is there. */
	return ring_buffer__consume(p->rb);
}

void probe_counters(struct probe *p, uint64_t out[SB_CNT_MAX])
{
	const volatile struct sb_cpu_counters *rows = p->skel->bss->cpu_counters;

	for (int i = 0; i < SB_CNT_MAX; i++) {
		out[i] = 0;
		for (int c = 0; c < SB_MAX_CPUS; c++)
			out[i] += rows[c].v[i];
	}
}

int probe_attach_uprobe(void *probe, const char *prog_name, const char *path, uint64_t offset,
			uint64_t cookie, bool retprobe)
{
	struct probe *p = probe;
	LIBBPF_OPTS(bpf_uprobe_opts, opts, .bpf_cookie = cookie, .retprobe = retprobe);
	struct bpf_program *prog = bpf_object__find_program_by_name(p->skel->obj, prog_name);
	struct bpf_link *link;
	int err = 0;

	if (!prog)
		return -ENOENT;
	/* pid -1: every process that maps this file, now or later. */
	link = bpf_program__attach_uprobe_opts(prog, -1, path, (size_t)offset, &opts);
	if (!link)
		return -errno;
	pthread_mutex_lock(&p->ulock);
	if (p->nulinks == p->culinks) {
		size_t n = p->culinks ? p->culinks * 2 : 64;
		struct bpf_link **v = realloc(p->ulinks, n * sizeof(*v));

		if (v) {
			p->ulinks = v;
			p->culinks = n;
		}
	}
	if (p->nulinks < p->culinks)
		p->ulinks[p->nulinks++] = link;
	else
		err = -ENOMEM;
	pthread_mutex_unlock(&p->ulock);
	if (err)
		bpf_link__destroy(link);
	return err;
}

void probe_ssl_enable(void *probe)
{
	struct probe *p = probe;

	p->skel->bss->ssl_active = true;
}

int probe_uv_binary_set(void *probe, uint32_t slot, uint32_t stream_fd_offset)
{
	struct probe *p = probe;
	__u32 v[2] = { stream_fd_offset, 0 };
	int err = bpf_map__update_elem(p->skel->maps.uv_binaries, &slot, sizeof(slot), v, sizeof(v),
				       BPF_ANY);

	if (!err)
		p->skel->bss->uv_active = true;
	return err;
}

int probe_go_binary_set(void *probe, uint32_t slot, const struct sb_go_binary *b)
{
	struct probe *p = probe;

	if (slot >= SB_GO_MAX_BINARIES)
		return -E2BIG;
	return bpf_map__update_elem(p->skel->maps.go_binaries, &slot, sizeof(slot), b, sizeof(*b),
				    BPF_ANY);
}

int probe_conn_query(void *ctx, uint64_t sock, uint8_t src, struct sb_msg_end *out)
{
	struct probe *p = ctx;
	struct sb_conn_state a, b;
	int fd = bpf_map__fd(p->skel->maps.conns);

	if (src >= SB_SRC_MAX)
		return -EINVAL;
	/* The kernel updates the entry in place: two equal reads make a consistent one. */
	for (int tries = 0; tries < 3; tries++) {
		if (bpf_map_lookup_elem(fd, &sock, &a) || bpf_map_lookup_elem(fd, &sock, &b))
			return -errno;
		if (memcmp(&a.m[src].cur, &b.m[src].cur, sizeof(a.m[src].cur)) == 0) {
			*out = a.m[src].cur;
			return 0;
		}
	}
	return -EAGAIN;
}

void probe_conn_not_http(void *ctx, uint64_t sock)
{
	struct probe *p = ctx;
	struct sb_conn_state st;
	int fd = bpf_map__fd(p->skel->maps.conns);

	/* Racing the kernel's own updates costs at most a few counts on a connection we drop. */
	if (bpf_map_lookup_elem(fd, &sock, &st))
		return;
	for (int i = 0; i < SB_SRC_MAX; i++)
		st.m[i].http = SB_HTTP_NO;
	bpf_map_update_elem(fd, &sock, &st, BPF_EXIST);
}

/* Delete every key of a hash map (keys of key_size bytes, at most 64). */
static int map_clear(struct bpf_map *map, size_t key_size)
{
	__u8 key[64], next[64];
	int fd = bpf_map__fd(map), err = 0;

	/* Always restart from the first key: deleting breaks get_next_key's walk. */
	while (bpf_map_get_next_key(fd, NULL, next) == 0) {
		memcpy(key, next, key_size);
		err = bpf_map_delete_elem(fd, key);
		if (err && errno != ENOENT)
			return -errno;
	}
	return 0;
}

static int map_fill_ports(struct bpf_map *map, const uint16_t *ports, size_t n)
{
	__u8 one = 1;
	int err = map_clear(map, sizeof(__u16));

	for (size_t i = 0; !err && i < n; i++) {
		__u16 port = ports[i];

		err = bpf_map__update_elem(map, &port, sizeof(port), &one, sizeof(one), BPF_ANY);
	}
	return err;
}

/* Exact names as the kernel sees them: the task name, at most 15 bytes. */
static int map_fill_names(struct bpf_map *map, const struct probe_filters *f)
{
	int err = map_clear(map, 16);

	for (int pass = 0; !err && pass < 2; pass++) {
		const char *const *names = pass ? f->exclude_names : f->include_names;
		size_t n = pass ? f->nexclude_names : f->ninclude_names;
		__u8 bit = pass ? SB_RULE_EXCLUDE : SB_RULE_INCLUDE;

		for (size_t i = 0; !err && i < n; i++) {
			char key[16] = { 0 };
			__u8 val = 0;

			strncpy(key, names[i], sizeof(key) - 1);
			bpf_map__lookup_elem(map, key, sizeof(key), &val, sizeof(val), 0);
			val |= bit;
			err = bpf_map__update_elem(map, key, sizeof(key), &val, sizeof(val), BPF_ANY);
		}
	}
	return err;
}

int probe_set_filters(struct probe *p, const struct probe_filters *f)
{
	struct spanbpf_bpf__bss *bss = p->skel->bss;
	int err;

	/* Narrow first, widen last: never trace more than either config says. */
	bss->filter_by_tgid = true;
	err = map_clear(p->skel->maps.traced_tgids, sizeof(__u32));
	if (!err)
		err = map_clear(p->skel->maps.proc_ok, sizeof(__u32));
	if (!err)
		err = map_clear(p->skel->maps.ignored_tgids, sizeof(__u32));
	if (!err)
		err = map_fill_ports(p->skel->maps.filter_ports, f->ports, f->nports);
	if (!err)
		err = map_fill_ports(p->skel->maps.exclude_ports, f->exclude_ports, f->nexclude_ports);
	if (!err)
		err = map_fill_names(p->skel->maps.comm_rules, f);
	if (err)
		return err;
	bss->procs_alone = f->procs_alone;
	bss->has_exclude_ports = f->nexclude_ports > 0;
	bss->need_proc_ok = f->need_proc_ok;
	bss->has_ignored = f->has_ignored;
	bss->want_exec = f->want_exec;
	bss->filter_by_tgid = f->filter_by_tgid;
	return 0;
}

int probe_set_tgid(struct probe *p, enum probe_set set, uint32_t tgid, bool on)
{
	struct bpf_map *map = set == PROBE_SET_TRACED	 ? p->skel->maps.traced_tgids
			      : set == PROBE_SET_PROC_OK ? p->skel->maps.proc_ok
							 : p->skel->maps.ignored_tgids;
	__u8 one = 1;
	int err;

	if (!on) {
		err = bpf_map__delete_elem(map, &tgid, sizeof(tgid), 0);
		return err == -ENOENT ? 0 : err;
	}
	return bpf_map__update_elem(map, &tgid, sizeof(tgid), &one, sizeof(one), BPF_ANY);
}

#define DETACH_THREADS 8

struct detach_job {
	struct bpf_link **links[64];
	int n;
};

static void *detach_links(void *arg)
{
	struct detach_job *job = arg;

	for (int i = 0; i < job->n; i++) {
		bpf_link__destroy(*job->links[i]);
		*job->links[i] = NULL;
	}
	return NULL;
}

/*
 * Each tracepoint detach waits for a grace period (~70 ms here): one after
 * the other, 27 links make a 2 s exit.  From several threads at once the
 * waits partly overlap (about 1 s; the kernel serialises the rest).
 */
static void detach_all(struct probe *p)
{
	struct bpf_object_skeleton *s = p->skel->skeleton;
	struct detach_job jobs[DETACH_THREADS] = { 0 };
	pthread_t tids[DETACH_THREADS];
	bool started[DETACH_THREADS] = { 0 };

	if (!s)
		return;
	for (int i = 0; i < s->prog_cnt; i++) {
		struct detach_job *job = &jobs[i % DETACH_THREADS];

		if (s->progs[i].link && *s->progs[i].link && job->n < 64)
			job->links[job->n++] = s->progs[i].link;
	}
	for (int t = 0; t < DETACH_THREADS; t++)
		if (jobs[t].n)
			started[t] = pthread_create(&tids[t], NULL, detach_links, &jobs[t]) == 0;
	for (int t = 0; t < DETACH_THREADS; t++) {
		if (started[t])
			pthread_join(tids[t], NULL);
		else if (jobs[t].n)
			detach_links(&jobs[t]);
	}
}

void probe_close(struct probe *p)
{
	if (!p)
		return;
	ring_buffer__free(p->rb);
	pthread_mutex_lock(&p->ulock);
	for (size_t i = 0; i < p->nulinks; i++)
		bpf_link__destroy(p->ulinks[i]);
	free(p->ulinks);
	p->ulinks = NULL;
	p->nulinks = 0;
	pthread_mutex_unlock(&p->ulock);
	pthread_mutex_destroy(&p->ulock);
	if (p->skel)
		detach_all(p);
	spanbpf_bpf__destroy(p->skel);
	free(p);
}
