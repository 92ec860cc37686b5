/* SPDX-License-Identifier: Apache-2.0 */
/*
 * correlate.h - which span is whose parent, and whether a trace is sampled.
 *
 * Decided when a request head is seen (correlator_on_request), used when
 * the exchange ends (correlator_on_txn).  Three links, most trusted first:
 *
 *   wire    a valid W3C traceparent in the request (inbound for a server
 *           span, outbound for a client span: the app's own trace wins);
 *   tuple   a server request arriving on a connection whose other end is a
 *           traced client on this node: same 5-tuple, mirrored;
 *   runtime a client request whose runtime hooks (Go uprobes) named the
 *           server request it serves: that request while in flight, or none;
 *   thread  a client request written by a thread that is serving exactly
 *           one inbound request at that moment;
 *   connect otherwise, the first request on an outbound connection that the
 *           thread opened right after reading from an inbound connection
 *           whose request is in flight (event loops such as nginx open the
 *           upstream connection in the handler that read the request).
 *           Anything else with two or more requests in flight on the thread
 *           is ambiguous: no parent rather than a wrong one.
 *
 * Sampling is TraceIdRatioBased over the trace id for new traces and
 * parent-based for joined ones, so a trace is kept or dropped whole.
 */
#ifndef SPANBPF_CORRELATE_H
#define SPANBPF_CORRELATE_H

#include <stdbool.h>
#include <stdint.h>

#include "builder.h"
#include "txn.h"

enum corr_link {
	CORR_LINK_NONE = 0,
	CORR_LINK_WIRE = 1,
	CORR_LINK_TUPLE = 2,
	CORR_LINK_THREAD = 3,
	CORR_LINK_RUNTIME = 4,		/* named by the runtime's own hooks (Go's goroutines) */
};

/* Why a client span got no parent (correlator_stats.unlinked[]). */
enum corr_unlinked {
	CORR_UNLINKED_NO_REQUEST = 0,	/* its thread served no request: a root (curl, cron) */
	CORR_UNLINKED_AMBIGUOUS,	/* its thread served two or more at once */
	CORR_UNLINKED_RUNTIME,		/* no in-process rule is sound for its runtime (Go, Node) */
	CORR_UNLINKED_EVENT_LOOP,	/* its process multiplexes requests on a thread */
	CORR_UNLINKED_PARENT_ENDED,	/* the request it was started for had ended (Go goroutines) */
	CORR_UNLINKED_MAX,
};

struct correlator_opts {
	double sampling_ratio;		/* 0..1 */
	/*
	 * The in-process rules sound for process tgid (RUNTIME_RULE_* of
	 * runtime.h); NULL: all of them.
	 */
	uint8_t (*rules)(void *ctx, uint32_t tgid);
	void *rules_ctx;
	/*
	 * The spans held for root root_id (corr_result.held_by) may go: their
	 * trace is self's trace, the root span's parent is parent (NULL: none),
	 * and sampled decides for all of them.  Called from correlator_on_request()
	 * (the late client came), correlator_sweep() (it did not) and
	 * correlator_settle_all().  NULL: spans are never held.
	 */
	void (*release)(void *ctx, uint64_t root_id, const struct span_context *self,
			const struct span_context *parent, bool sampled);
	void *release_ctx;
	uint32_t max_requests;		/* requests followed at once; 0 = 65536 */
	uint64_t max_age_ns;		/* forget requests older than this; 0 = 15 min */
};

struct correlator_stats {
	uint64_t requests;		/* on_request calls */
	uint64_t linked_wire;
	uint64_t linked_tuple;		/* includes late links (client seen after server) */
	uint64_t linked_thread;
	uint64_t linked_runtime;	/* Go: the goroutine's request, from uprobes */
	uint64_t linked_connect;	/* part of linked_thread: found through the connect binding */
	uint64_t linked_late;		/* part of linked_tuple: the server side was seen first */
	uint64_t unlinked[CORR_UNLINKED_MAX];	/* client requests without a parent, by reason */
	uint64_t event_loops;		/* processes found multiplexing requests on a thread */
	uint64_t awaited;		/* server roots that waited for a traced client's record */
	uint64_t await_timeouts;	/* ... whose client never came within the wait */
	uint64_t held;			/* spans held until their root's trace was settled */
	uint64_t unsampled;		/* exchanges not exported by sampling */
	uint64_t untracked;		/* on_txn without a matching on_request (table full, ...) */
	uint64_t expired;		/* requests forgotten by max_age_ns */
	uint64_t bad_traceparent;	/* malformed traceparent headers ignored */
};

/* What to build an exchange's span with. */
struct corr_result {
	struct span_context self;	/* the span's own ids (always valid) */
	struct span_context parent;	/* valid when it has a parent */
	uint8_t link;			/* enum corr_link */
	bool sampled;
	/*
	 * Not 0: the trace may still change (its root, this txn_id, waits for a
	 * late client record): hold the span until release() names this root,
	 * and take trace and sampling from there.
	 */
	uint64_t held_by;
};

struct correlator;

/* ids come from b (builder_new_context); b must outlive the correlator. */
struct correlator *correlator_new(const struct correlator_opts *o, struct builder *b);
void correlator_free(struct correlator *c);

/* A request head was seen (tracker on_request). */
void correlator_on_request(struct correlator *c, const struct http_txn *txn);

/* The exchange ended (tracker on_txn): fills out and forgets the request. */
void correlator_on_txn(struct correlator *c, const struct http_txn *txn, struct corr_result *out);

/* A server-side read record (role SERVER, READ) by this thread on conn_id. */
void correlator_on_server_read(struct correlator *c, uint32_t tgid, uint32_t tid, uint64_t conn_id);

/*
 * A traced process's connect() by this thread created outbound connection
 * conn_id (t: as the client sees it; NULL: unknown).  A server request on
 * this node on that connection then expects the client's record.
 */
void correlator_on_connect(struct correlator *c, uint32_t tgid, uint32_t tid, uint64_t conn_id,
			   const struct sb_tuple *t);

/* A client connection was closed. */
void correlator_on_close(struct correlator *c, uint64_t conn_id, const struct sb_tuple *t);

/* Every held trace goes now (shutdown). */
void correlator_settle_all(struct correlator *c);

/*
 * Exchange txn_id's response has started: a server's thread that answered
 * is no longer serving it (the thread rule and the event-loop test ignore it;
 * its end may come much later when its body is only counted).
 */
void correlator_on_response(struct correlator *c, uint64_t txn_id);

/* Process tgid exited: what was learnt about it is forgotten. */
void correlator_proc_exit(struct correlator *c, uint32_t tgid);

/* "no_request", "ambiguous", ...: the label of a reason in logs and metrics. */
const char *correlator_unlinked_name(int reason);

/* Forget requests older than max_age_ns (their on_txn never came). */
void correlator_sweep(struct correlator *c, uint64_t now_mono_ns);

/* Is a trace with this id kept at this ratio?  Pure, for tests. */
bool correlator_ratio_sampled(const uint8_t trace_id[16], double ratio);

/* A new sampling.ratio (SIGHUP): applies to traces that start from now on. */
void correlator_set_ratio(struct correlator *c, double ratio);

void correlator_stats(const struct correlator *c, struct correlator_stats *st);

#endif /* SPANBPF_CORRELATE_H */
