/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pipeline.h - the one owner of the path a kernel record takes:
 *
 *   records ─► tracker (exchanges) ─► correlator (parents, sampling)
 *           ─► builder (spans, resources) ─► console / exporter queue
 *
 * Records go in in ring order (pipeline_record); each stage sees them in
 * that order and nothing else feeds them.  The correlator decides parents
 * and sampling alone; the builder turns its decision into a span.  What a
 * process runs on (runtime.h) decides which in-process rules the
 * correlator may use.  Everything here runs on one thread (the ring
 * reader); only the exporter's queue is crossed to another.
 */
#ifndef SPANBPF_PIPELINE_H
#define SPANBPF_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../bpf/events.h"

struct config;
struct exporter_stats;
struct metrics;
struct span;
struct uprobes_stats;

struct pipeline_opts {
	/* services, resources, http.record_query, sampling; must outlive the pipeline */
	const struct config *cfg;
	const char *host_name;		/* host.name */
	const char *node_name;		/* k8s.node.name; NULL = none */
	const char *proc_root;		/* NULL = "/proc" */
	bool console;			/* print each span on stdout */
	/*
	 * Where finished spans go (the exporter's queue): submit takes the
	 * span whatever it returns.  NULL: spans are built and freed.
	 */
	bool (*submit)(void *ctx, struct span *s);
	void *submit_ctx;
	/* SB_EV_EXEC records: the process's selection may have changed. */
	void (*on_exec)(void *ctx, uint32_t tgid);
	void *exec_ctx;
};

struct pipeline;

/* NULL on ENOMEM. */
struct pipeline *pipeline_new(const struct pipeline_opts *o);
void pipeline_free(struct pipeline *p);

/*
 * The kernel side's answers (probe.h): what it counted of quiet connections,
 * and "stop following this connection".  Optional; set once it is open.
 */
void pipeline_set_kernel(struct pipeline *p,
			 int (*query)(void *kctx, uint64_t sock, uint8_t src, struct sb_msg_end *out),
			 void (*not_http)(void *kctx, uint64_t sock), void *kctx);

/* The /metrics endpoint, whose own scrapes by traced clients never become spans; NULL: none. */
void pipeline_set_metrics(struct pipeline *p, struct metrics *m);

/* One ring buffer record (valid for the call).  Always 0 (a probe_event_fn). */
int pipeline_record(void *p, void *data, size_t size);

/* Time-based work, about every 100 ms (CLOCK_MONOTONIC). */
void pipeline_tick(struct pipeline *p, uint64_t now_mono_ns);

/*
 * Spans that wait for a late client record go now, as they are (before the
 * exporter's final flush).
 */
void pipeline_flush(struct pipeline *p);

/* opts.cfg changed in place (SIGHUP): sampling, record_query, resources follow. */
void pipeline_reconfigure(struct pipeline *p);

/* The summary line ("summary", "final"), with the kernel's counters. */
void pipeline_log_summary(struct pipeline *p, const char *when, const uint64_t kc[SB_CNT_MAX],
			  const struct exporter_stats *es);

/* The reader side's counters for /metrics, with the uprobe attacher's (us may be NULL). */
void pipeline_publish_metrics(struct pipeline *p, struct metrics *m, const uint64_t kc[SB_CNT_MAX],
			      const struct uprobes_stats *us);

#endif /* SPANBPF_PIPELINE_H */
