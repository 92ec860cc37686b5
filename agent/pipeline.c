// SPDX-License-Identifier: Apache-2.0
/*
 * pipeline.c - records → exchanges → links → spans → queue (see pipeline.h).
 */
#include "pipeline.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder.h"
#include "config.h"
#include "console.h"
#include "correlate.h"
#include "exporter.h"
#include "hash.h"
#include "log.h"
#include "metrics.h"
#include "runtime.h"
#include "tracker.h"
#include "uprobes.h"

#define RUNTIME_SLOTS 4096	/* processes whose runtime is remembered (direct-mapped) */
#define HOLD_BUCKETS 1024	/* traces whose spans wait for their root's client (power of 2) */
#define HOLD_MAX 16384		/* spans held at most; beyond, they go as they are */

/* The finished spans of a trace whose root still waits for its client's record. */
struct hold {
	struct hold *next;
	uint64_t root_id;
	struct span *spans;	/* linked through span->next */
};

struct runtime_slot {
	uint32_t tgid;		/* 0: free */
	struct runtime_info info;
};

struct pipeline {
	struct pipeline_opts o;
	struct tracker *tracker;
	struct correlator *correlator;
	struct builder *builder;
	struct metrics *metrics;
	int (*query)(void *kctx, uint64_t sock, uint8_t src, struct sb_msg_end *out);
	void (*not_http)(void *kctx, uint64_t sock);
	void *kctx;
	uint64_t records;
	uint64_t bad_records;
	uint64_t spans_built;
	uint64_t spans_self;		/* scrapes of our own /metrics: never spans */
	uint64_t spans_unsampled_late;	/* held spans whose settled trace was not sampled */
	uint64_t runtimes[RUNTIME_MAX];	/* processes seen, by runtime */
	struct runtime_slot rt[RUNTIME_SLOTS];
	struct hold *holds[HOLD_BUCKETS];
	size_t nheld;
	uint64_t hold_overflow;		/* spans that could not wait: sent as they were */
	bool dump;			/* SPANBPF_DUMP_RECORDS */
};

/* ---- runtimes ----------------------------------------------------------- */

static struct runtime_slot *runtime_slot(struct pipeline *p, uint32_t tgid)
{
	return &p->rt[mix64(tgid) & (RUNTIME_SLOTS - 1)];
}

/* What process tgid runs on, looked up in /proc at its first sight. */
static const struct runtime_info *runtime_of(struct pipeline *p, uint32_t tgid)
{
	struct runtime_slot *s = runtime_slot(p, tgid);

	if (s->tgid != tgid) {
		s->tgid = tgid;
		runtime_detect(p->o.proc_root ? p->o.proc_root : "/proc", tgid, &s->info);
		p->runtimes[s->info.kind]++;
		log_debug("pid %u runs on %s%s: in-process rules%s%s", tgid,
			  runtime_name(s->info.kind), s->info.async ? " (event loop)" : "",
			  s->info.rules & RUNTIME_RULE_THREAD ? " thread" : "",
			  s->info.rules & RUNTIME_RULE_CONNECT ? " connect" : "");
	}
	return &s->info;
}

static void runtime_forget(struct pipeline *p, uint32_t tgid)
{
	struct runtime_slot *s = runtime_slot(p, tgid);

	if (s->tgid == tgid)
		s->tgid = 0;
}

/* The correlator's question: which in-process rules hold for tgid? */
static uint8_t rules_of(void *ctx, uint32_t tgid)
{
	return runtime_of(ctx, tgid)->rules;
}

/* ---- the kernel side, for the tracker ------------------------------------ */

static int kernel_query(void *ctx, uint64_t sock, uint8_t src, struct sb_msg_end *out)
{
	struct pipeline *p = ctx;

	return p->query ? p->query(p->kctx, sock, src, out) : -1;
}

static void kernel_not_http(void *ctx, uint64_t sock)
{
	struct pipeline *p = ctx;

	if (p->not_http)
		p->not_http(p->kctx, sock);
}

/* ---- exchanges ----------------------------------------------------------- */

/* A request head was seen: decide its trace and parent now, while in flight. */
static void on_request(const struct http_txn *txn, void *ctx)
{
	struct pipeline *p = ctx;

	correlator_on_request(p->correlator, txn);
}

/* Print it if asked, queue it. */
static void emit(struct pipeline *p, struct span *span)
{
	if (p->o.console) {
		char line[2048];

		console_format(span, line, sizeof(line));
		fputs(line, stdout);
		fputc('\n', stdout);
		fflush(stdout);
	}
	if (p->o.submit)
		p->o.submit(p->o.submit_ctx, span);	/* a refusal (queue full) is counted there */
	else
		span_free(span);
}

static struct hold **hold_slot(struct pipeline *p, uint64_t root_id)
{
	struct hold **hp = &p->holds[mix64(root_id) & (HOLD_BUCKETS - 1)];

	while (*hp && (*hp)->root_id != root_id)
		hp = &(*hp)->next;
	return hp;
}

/* Keep span until its root's trace is settled; false when it cannot wait. */
static bool hold_span(struct pipeline *p, uint64_t root_id, struct span *span)
{
	struct hold **hp = hold_slot(p, root_id);

	if (p->nheld >= HOLD_MAX)
		return false;
	if (!*hp) {
		*hp = calloc(1, sizeof(**hp));
		if (!*hp)
			return false;
		(*hp)->root_id = root_id;
	}
	span->next = (*hp)->spans;
	(*hp)->spans = span;
	p->nheld++;
	return true;
}

/*
 * The correlator settled root_id's trace: its held spans take that trace
 * (the root span also its parent) and go, or are dropped when unsampled.
 */
static void release(void *ctx, uint64_t root_id, const struct span_context *self,
		    const struct span_context *parent, bool sampled)
{
	struct pipeline *p = ctx;
	struct hold **hp = hold_slot(p, root_id), *h = *hp;
	struct span *sp, *next;

	if (!h)
		return;
	*hp = h->next;
	for (sp = h->spans; sp; sp = next) {
		next = sp->next;
		sp->next = NULL;
		p->nheld--;
		if (!sampled) {
			span_free(sp);
			p->spans_unsampled_late++;
			continue;
		}
		memcpy(sp->trace_id, self->trace_id, sizeof(sp->trace_id));
		if (memcmp(sp->span_id, self->span_id, sizeof(sp->span_id)) == 0 && parent &&
		    parent->valid) {
			memcpy(sp->parent_span_id, parent->span_id, sizeof(sp->parent_span_id));
			sp->has_parent = true;
		}
		emit(p, sp);
	}
	free(h);
}

static void on_response(uint64_t txn_id, void *ctx)
{
	struct pipeline *p = ctx;

	correlator_on_response(p->correlator, txn_id);
}

/* A finished exchange: build its span with the correlator's decision, then emit or hold it. */
static void on_txn(const struct http_txn *txn, void *ctx)
{
	struct pipeline *p = ctx;
	struct corr_result link;
	struct span *span;

	correlator_on_txn(p->correlator, txn, &link);
	/* A held span is decided with its trace, when that is settled. */
	if (!link.sampled && !link.held_by)
		return;
	/* A scrape of the agent's own /metrics by a traced client: never a span. */
	if (txn->role == SB_ROLE_CLIENT &&
	    metrics_is_self_peer(p->metrics, txn->tuple.laddr, txn->tuple.raddr, txn->tuple.rport)) {
		p->spans_self++;
		return;
	}
	span = builder_build_ex(p->builder, txn, link.parent.valid ? &link.parent : NULL, &link.self);
	if (!span)
		return;
	p->spans_built++;
	if (link.held_by && hold_span(p, link.held_by, span))
		return;
	if (link.held_by)
		p->hold_overflow++;
	if (!link.sampled) {
		span_free(span);
		return;
	}
	emit(p, span);
}

/* ---- records ------------------------------------------------------------- */

/* SPANBPF_DUMP_RECORDS=1: each record's header on stderr (a development aid). */
static void dump_record(const struct sb_event *ev)
{
	fprintf(stderr,
		"record type=%u dir=%u role=%u flags=%#x src=%u tgid=%u tid=%u conn=%llu "
		"seq=%u off=%llu len=%u cap=%u ts=%llu prev={seq=%u dir=%u total=%llu ts=%llu} "
		"parent={%u %llu %u} '%.*s'\n",
		ev->type, ev->dir, ev->role, ev->flags, ev->src, ev->tgid, ev->tid,
		(unsigned long long)ev->conn_id, ev->msg_seq, (unsigned long long)ev->msg_off, ev->len,
		ev->cap_len, (unsigned long long)ev->ts_ns, ev->prev.seq, ev->prev.dir,
		(unsigned long long)ev->prev.total, (unsigned long long)ev->prev.last_ts,
		ev->parent.how, (unsigned long long)ev->parent.conn_id, ev->parent.seq,
		(int)(ev->cap_len < 40 ? ev->cap_len : 40), (const char *)ev->payload);
}

/* The first record of a connection: its process's facts, read while it is surely alive. */
static void first_sight(struct pipeline *p, const struct sb_event *ev)
{
	char comm[sizeof(ev->comm) + 1];

	memcpy(comm, ev->comm, sizeof(ev->comm));
	comm[sizeof(ev->comm)] = '\0';
	builder_note_process(p->builder, ev->tgid, comm);
	runtime_of(p, ev->tgid);
}

int pipeline_record(void *ctx, void *data, size_t size)
{
	struct pipeline *p = ctx;
	const struct sb_event *ev = data;

	p->records++;
	if (size < sizeof(*ev)) {
		p->bad_records++;
		return 0;
	}
	if (p->dump)
		dump_record(ev);

	switch (ev->type) {
	case SB_EV_DATA:
		if (ev->flags & SB_F_CONN_START)
			first_sight(p, ev);
		if (ev->role == SB_ROLE_SERVER && ev->dir == SB_DIR_READ && ev->len)
			correlator_on_server_read(p->correlator, ev->tgid, ev->tid, ev->conn_id);
		tracker_on_event(p->tracker, ev, size);
		break;
	case SB_EV_CONNECT:
		if ((int32_t)ev->len == 0 || (int32_t)ev->len == -115 /* EINPROGRESS */)
			correlator_on_connect(p->correlator, ev->tgid, ev->tid, ev->conn_id,
					      &ev->tuple);
		else
			first_sight(p, ev);
		tracker_on_event(p->tracker, ev, size);
		break;
	case SB_EV_CLOSE:
		tracker_on_event(p->tracker, ev, size);
		if (ev->role == SB_ROLE_CLIENT)
			correlator_on_close(p->correlator, ev->conn_id, &ev->tuple);
		break;
	case SB_EV_EXEC:
		runtime_forget(p, ev->tgid);
		if (p->o.on_exec)
			p->o.on_exec(p->o.exec_ctx, ev->tgid);
		break;
	case SB_EV_PROC_EXIT:
		/* The tracker first: it finishes that process's exchanges at the exit time. */
		tracker_on_event(p->tracker, ev, size);
		builder_proc_exit(p->builder, ev->tgid);
		correlator_proc_exit(p->correlator, ev->tgid);
		runtime_forget(p, ev->tgid);
		break;
	default:
		p->bad_records++;
	}
	return 0;
}

void pipeline_tick(struct pipeline *p, uint64_t now)
{
	tracker_sweep(p->tracker, now);
	correlator_sweep(p->correlator, now);
}

void pipeline_reconfigure(struct pipeline *p)
{
	builder_reset_resources(p->builder);
	correlator_set_ratio(p->correlator, p->o.cfg->sampling_ratio);
	builder_set_record_query(p->builder, p->o.cfg->record_query);
}

void pipeline_set_kernel(struct pipeline *p,
			 int (*query)(void *kctx, uint64_t sock, uint8_t src, struct sb_msg_end *out),
			 void (*not_http)(void *kctx, uint64_t sock), void *kctx)
{
	p->query = query;
	p->not_http = not_http;
	p->kctx = kctx;
}

void pipeline_set_metrics(struct pipeline *p, struct metrics *m)
{
	p->metrics = m;
}

/* ---- reports ------------------------------------------------------------- */

void pipeline_log_summary(struct pipeline *p, const char *when, const uint64_t kc[SB_CNT_MAX],
			  const struct exporter_stats *es)
{
	uint64_t failures = 0, unlinked = 0;
	struct correlator_stats cs;
	struct tracker_stats ts;
	char reasons[256];
	size_t off = 0;

	tracker_stats(p->tracker, &ts);
	correlator_stats(p->correlator, &cs);
	for (int i = 0; i < EXPORTER_FAIL_MAX; i++)
		failures += es->failures[i];
	reasons[0] = '\0';
	for (int i = 0; i < CORR_UNLINKED_MAX; i++) {
		unlinked += cs.unlinked[i];
		if (off < sizeof(reasons))
			off += (size_t)snprintf(reasons + off, sizeof(reasons) - off, " unlinked_%s=%" PRIu64,
						correlator_unlinked_name(i), cs.unlinked[i]);
	}
	log_info("%s: events_read=%" PRIu64 " events_lost=%" PRIu64 " txns=%" PRIu64
		 " spans_built=%" PRIu64 " spans_exported=%" PRIu64
		 " spans_dropped_queue_full=%" PRIu64 " spans_dropped_rejected=%" PRIu64
		 " spans_failed_status=%" PRIu64 " spans_failed_retries_exhausted=%" PRIu64
		 " spans_undelivered_at_shutdown=%" PRIu64 " spans_failed=%" PRIu64
		 " export_requests=%" PRIu64 " export_retries=%" PRIu64 " export_failures=%" PRIu64
		 " queue=%" PRIu64 " parse_errors=%" PRIu64 " requests_dropped=%" PRIu64
		 " links_wire=%" PRIu64 " links_tuple=%" PRIu64 " links_thread=%" PRIu64
		 " links_runtime=%" PRIu64
		 " client_spans_unlinked=%" PRIu64 "%s",
		 when, p->records, kc[SB_CNT_RB_FULL], ts.txns, p->spans_built, es->exported,
		 es->dropped_queue_full, es->dropped_rejected, es->failed_status,
		 es->failed_retries_exhausted, es->undelivered_at_shutdown, es->failed, es->requests,
		 es->retries, failures, es->queued + es->in_flight, ts.parse_errors,
		 ts.requests_dropped, cs.linked_wire, cs.linked_tuple, cs.linked_thread,
		 cs.linked_runtime, unlinked,
		 reasons);
}

static const char *const unlinked_labels[CORR_UNLINKED_MAX] = {
	[CORR_UNLINKED_NO_REQUEST] = "reason=\"no_request\"",
	[CORR_UNLINKED_AMBIGUOUS] = "reason=\"ambiguous\"",
	[CORR_UNLINKED_RUNTIME] = "reason=\"runtime\"",
	[CORR_UNLINKED_EVENT_LOOP] = "reason=\"event_loop\"",
	[CORR_UNLINKED_PARENT_ENDED] = "reason=\"parent_ended\"",
};

static const char *const runtime_labels[RUNTIME_MAX] = {
	[RUNTIME_UNKNOWN] = "runtime=\"unknown\"", [RUNTIME_NATIVE] = "runtime=\"native\"",
	[RUNTIME_GO] = "runtime=\"go\"",		 [RUNTIME_NODE] = "runtime=\"node\"",
	[RUNTIME_JAVA] = "runtime=\"java\"",	 [RUNTIME_PYTHON] = "runtime=\"python\"",
};

void pipeline_publish_metrics(struct pipeline *p, struct metrics *m, const uint64_t kc[SB_CNT_MAX],
			      const struct uprobes_stats *us)
{
	static const char links_help[] = "Spans given a parent, by how.";
	static const char unlinked_help[] = "Client spans left without a parent, by reason.";
	static const char runtime_help[] = "Traced processes seen, by runtime.";
	struct metrics_snapshot *s = calloc(1, sizeof(*s));
	struct correlator_stats cs;
	struct tracker_stats ts;
	struct builder_stats bs;

	if (!s)
		return;
	tracker_stats(p->tracker, &ts);
	correlator_stats(p->correlator, &cs);
	builder_get_stats(p->builder, &bs);
	metrics_add(s, "spanbpf_events_read_total", "Records read from the kernel ring buffer.",
		    METRIC_COUNTER, NULL, (double)p->records);
	metrics_add(s, "spanbpf_events_lost_total",
		    "Records the kernel could not queue: ring buffer full.", METRIC_COUNTER, NULL,
		    (double)kc[SB_CNT_RB_FULL]);
	metrics_add(s, "spanbpf_events_bad_total", "Records refused as malformed.",
		    METRIC_COUNTER, NULL, (double)(p->bad_records + ts.bad_events));
	metrics_add(s, "spanbpf_transfers_counted_total",
		    "Transfers the kernel only counted (body bytes: no record).", METRIC_COUNTER,
		    NULL, (double)kc[SB_CNT_COUNTED]);
	metrics_add(s, "spanbpf_connections_untracked_total",
		    "Connections the kernel could not store (its table refused).", METRIC_COUNTER,
		    NULL, (double)kc[SB_CNT_MAP_FULL]);
	metrics_add(s, "spanbpf_tls_untied_total",
		    "TLS library reads and writes whose socket is unknown (memory BIOs): no record.",
		    METRIC_COUNTER, NULL, (double)kc[SB_CNT_TLS_UNTIED]);
	if (us) {
		metrics_add(s, "spanbpf_uprobe_binaries", "Binaries and libraries given uprobes, by kind.",
			    METRIC_GAUGE, "kind=\"go\"", (double)us->go_binaries);
		metrics_add(s, "spanbpf_uprobe_binaries", "Binaries and libraries given uprobes, by kind.",
			    METRIC_GAUGE, "kind=\"openssl\"", (double)us->tls_libraries);
		metrics_add(s, "spanbpf_uprobe_binaries", "Binaries and libraries given uprobes, by kind.",
			    METRIC_GAUGE, "kind=\"libuv\"", (double)us->uv_binaries);
		metrics_add(s, "spanbpf_uprobe_unprobed_total",
			    "Binaries that needed uprobes and could not get them (stripped, layout).",
			    METRIC_COUNTER, NULL, (double)(us->go_unprobed + us->tls_unprobed));
		metrics_add(s, "spanbpf_uprobe_attach_failures_total",
			    "Single uprobes the kernel refused.", METRIC_COUNTER, NULL,
			    (double)us->attach_failures);
	}
	metrics_add(s, "spanbpf_connections_not_http_total",
		    "Connections classified as not HTTP/1.x.", METRIC_COUNTER, NULL,
		    (double)(kc[SB_CNT_NOT_HTTP] + ts.not_http_conns));
	metrics_add(s, "spanbpf_connections_active", "Connections followed by the tracker.",
		    METRIC_GAUGE, NULL, (double)ts.conns_active);
	metrics_add(s, "spanbpf_connections_evicted_total",
		    "Connections forgotten to make room (their waiting requests are dropped).",
		    METRIC_COUNTER, NULL, (double)ts.conns_evicted);
	metrics_add(s, "spanbpf_records_lost_connections_total",
		    "Connections where numbered messages never reached the agent.", METRIC_COUNTER,
		    NULL, (double)ts.records_lost_conns);
	metrics_add(s, "spanbpf_http_requests_total", "HTTP request heads parsed.",
		    METRIC_COUNTER, NULL, (double)ts.requests);
	metrics_add(s, "spanbpf_http_exchanges_total", "HTTP exchanges finished.", METRIC_COUNTER,
		    NULL, (double)ts.txns);
	metrics_add(s, "spanbpf_http_parse_errors_total",
		    "HTTP heads or chunked framing that did not parse.", METRIC_COUNTER, NULL,
		    (double)ts.parse_errors);
	metrics_add(s, "spanbpf_http_lost_sync_total",
		    "Times a direction of a connection lost sync (bytes not captured).",
		    METRIC_COUNTER, NULL, (double)ts.lost_sync);
	metrics_add(s, "spanbpf_http_requests_dropped_total",
		    "Requests never reported (tables full, evictions).", METRIC_COUNTER, NULL,
		    (double)ts.requests_dropped);
	metrics_add(s, "spanbpf_alloc_failures_total", "Allocations that failed (something dropped).",
		    METRIC_COUNTER, NULL, (double)ts.alloc_failures);
	metrics_add(s, "spanbpf_spans_unsampled_total", "Exchanges not exported by sampling.",
		    METRIC_COUNTER, NULL, (double)cs.unsampled);
	metrics_add(s, "spanbpf_spans_built_total", "Spans built.", METRIC_COUNTER, NULL,
		    (double)p->spans_built);
	metrics_add(s, "spanbpf_spans_skipped_total", "Exchanges the builder could not turn into spans.",
		    METRIC_COUNTER, NULL, (double)bs.skipped);
	metrics_add(s, "spanbpf_correlator_untracked_total",
		    "Exchanges whose request the correlator was not following (table full).",
		    METRIC_COUNTER, NULL, (double)cs.untracked);
	metrics_add(s, "spanbpf_correlator_expired_total",
		    "Requests the correlator forgot after waiting too long for their end.",
		    METRIC_COUNTER, NULL, (double)cs.expired);
	metrics_add(s, "spanbpf_span_links_total", links_help, METRIC_COUNTER, "link=\"wire\"",
		    (double)cs.linked_wire);
	metrics_add(s, "spanbpf_span_links_total", links_help, METRIC_COUNTER, "link=\"tuple\"",
		    (double)cs.linked_tuple);
	metrics_add(s, "spanbpf_span_links_total", links_help, METRIC_COUNTER, "link=\"thread\"",
		    (double)cs.linked_thread);
	metrics_add(s, "spanbpf_span_links_total", links_help, METRIC_COUNTER, "link=\"runtime\"",
		    (double)cs.linked_runtime);
	/* Labels are kept by pointer (the metrics thread reads them): constants. */
	for (int i = 0; i < CORR_UNLINKED_MAX; i++)
		metrics_add(s, "spanbpf_client_spans_unlinked_total", unlinked_help, METRIC_COUNTER,
			    unlinked_labels[i], (double)cs.unlinked[i]);
	for (int i = RUNTIME_NATIVE; i < RUNTIME_MAX; i++)
		metrics_add(s, "spanbpf_processes_seen_total", runtime_help, METRIC_COUNTER,
			    runtime_labels[i], (double)p->runtimes[i]);
	metrics_publish(m, s);
	free(s);
}

/* ---- lifecycle ----------------------------------------------------------- */

struct pipeline *pipeline_new(const struct pipeline_opts *o)
{
	struct pipeline *p = calloc(1, sizeof(*p));
	struct builder_opts bopts = { 0 };
	struct correlator_opts copts = { 0 };
	struct tracker_opts topts = { 0 };

	if (!p)
		return NULL;
	p->o = *o;
	p->dump = getenv("SPANBPF_DUMP_RECORDS") && strcmp(getenv("SPANBPF_DUMP_RECORDS"), "1") == 0;
	bopts.record_query = o->cfg->record_query;
	bopts.host_name = o->host_name;
	bopts.proc_root = o->proc_root ? o->proc_root : "/proc";
	bopts.cfg = o->cfg;
	bopts.node_name = o->node_name;
	p->builder = builder_new(&bopts);
	copts.sampling_ratio = o->cfg->sampling_ratio;
	copts.rules = rules_of;
	copts.rules_ctx = p;
	copts.release = release;
	copts.release_ctx = p;
	p->correlator = p->builder ? correlator_new(&copts, p->builder) : NULL;
	topts.query = kernel_query;
	topts.not_http = kernel_not_http;
	topts.kctx = p;
	topts.on_response = on_response;
	p->tracker = tracker_new(&topts, on_request, on_txn, p);
	if (!p->builder || !p->correlator || !p->tracker) {
		pipeline_free(p);
		return NULL;
	}
	return p;
}

void pipeline_flush(struct pipeline *p)
{
	correlator_settle_all(p->correlator);
}

void pipeline_free(struct pipeline *p)
{
	if (!p)
		return;
	/* The exporter may be gone: what is still held is freed, not sent. */
	p->o.submit = NULL;
	tracker_free(p->tracker);
	correlator_free(p->correlator);
	builder_free(p->builder);
	free(p);
}
