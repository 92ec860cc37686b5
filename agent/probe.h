/* SPDX-License-Identifier: Apache-2.0 */
/*
 * probe.h - the kernel side seen from the agent: open, configure, load and
 * attach the BPF programs, then drain their ring buffer.
 */
#ifndef SPANBPF_PROBE_H
#define SPANBPF_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../bpf/events.h"

struct probe;

/* Called for each record; data is only valid during the call. */
typedef int (*probe_event_fn)(void *ctx, void *data, size_t size);

/* The filters as the kernel applies them (see selector.h for the rules). */
struct probe_filters {
	bool filter_by_tgid;		/* a selector is set: trace only selected tgids */
	bool need_proc_ok;		/* filters.processes set */
	bool has_ignored;		/* filters.exclude_processes set */
	bool want_exec;			/* send SB_EV_EXEC so the agent can classify */
	const uint16_t *ports;		/* filters.ports */
	size_t nports;
	const uint16_t *exclude_ports;	/* filters.exclude_ports */
	size_t nexclude_ports;
	bool procs_alone;		/* filters.processes without filters.ports */
	/* Patterns without glob characters, matched by the kernel at exec (task name). */
	const char *const *include_names;
	size_t ninclude_names;
	const char *const *exclude_names;
	size_t nexclude_names;
};

/* The per-process selection maps. */
enum probe_set {
	PROBE_SET_TRACED = 0,		/* selected: traced (with filter_by_tgid) */
	PROBE_SET_PROC_OK = 1,		/* filters.processes matched */
	PROBE_SET_IGNORED = 2,		/* filters.exclude_processes matched */
};

struct probe_opts {
	uint32_t self_tgid;		/* never traced: the agent itself */
	const struct probe_filters *filters;
	size_t ringbuf_bytes;		/* power of two; 0 = default */
	probe_event_fn on_event;
	void *ctx;
};

/*
 * Check privileges and kernel features, mount tracefs if needed, then load
 * and attach everything.  On failure logs why and what to do, returns a
 * negative errno and leaves *out NULL.
 */
int probe_open(struct probe **out, const struct probe_opts *opts);

/* Wait up to timeout_ms for records, then hand every pending one to on_event. */
int probe_poll(struct probe *p, int timeout_ms);

/* Sum of the per-CPU counters (enum sb_counter). */
void probe_counters(struct probe *p, uint64_t out[SB_CNT_MAX]);

/*
 * Replace the filters: flags, port maps, and an empty selection (the caller
 * then selects processes again).  0 or a negative errno.
 */
int probe_set_filters(struct probe *p, const struct probe_filters *f);

/* Put tgid in (on) or take it out of one selection map; 0 or a negative errno. */
int probe_set_tgid(struct probe *p, enum probe_set set, uint32_t tgid, bool on);

/*
 * The kernel's count of the message in progress on connection sock (source
 * src): 0, or a negative errno (-ENOENT: no longer followed).  ctx is the
 * probe (the signature is struct tracker_opts.query's).
 */
int probe_conn_query(void *ctx, uint64_t sock, uint8_t src, struct sb_msg_end *out);

/* Stop following connection sock: the agent's parser found it is not HTTP/1.x. */
void probe_conn_not_http(void *ctx, uint64_t sock);

/*
 * Attach the uprobe program prog_name (bpf/golang.h, bpf/openssl.h) at
 * offset of the file at path (a uretprobe when retprobe), for every process that maps it, with cookie (what the
 * program reads with bpf_get_attach_cookie()).  Thread-safe; detached at
 * probe_close().  0 or a negative errno.  (probe is a struct probe *: the
 * signature is struct uprobes_opts.attach's.)
 */
int probe_attach_uprobe(void *probe, const char *prog_name, const char *path, uint64_t offset,
			uint64_t cookie, bool retprobe);

/* OpenSSL probes are attached: syscalls look for the SSL call they are inside of. */
void probe_ssl_enable(void *probe);

/* A libuv binary's uv_stream_s.io_watcher.fd offset, in slot (its probes' cookie). */
int probe_uv_binary_set(void *probe, uint32_t slot, uint32_t stream_fd_offset);

/* A Go binary's layout for the Go uprobes, in slot (the cookie's upper bits). */
int probe_go_binary_set(void *probe, uint32_t slot, const struct sb_go_binary *b);

/* Detach and free.  NULL is fine. */
void probe_close(struct probe *p);

#endif /* SPANBPF_PROBE_H */
