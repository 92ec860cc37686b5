/* SPDX-License-Identifier: Apache-2.0 */
/*
 * probe.h - the kernel side seen from the agent: open, configure, load and
 * attach the BPF programs, then drain their ring buffer.
 */
#ifndef SPANBPF_PROBE_H
#define SPANBPF_PROBE_H

#include <stddef.h>
#include <stdint.h>

#include "../bpf/events.h"

struct probe;

/* Called for each record; data is only valid during the call. */
typedef int (*probe_event_fn)(void *ctx, void *data, size_t size);

struct probe_opts {
	uint32_t self_tgid;		/* never traced: the agent itself */
	const uint16_t *ports;		/* filters.ports; NULL/0 = trace every process */
	size_t nports;
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

/* Trace tgid from now on (filters.ports mode); 0 or a negative errno. */
int probe_trace_tgid(struct probe *p, uint32_t tgid);

/* Detach and free.  NULL is fine. */
void probe_close(struct probe *p);

#endif /* SPANBPF_PROBE_H */
