/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tracker.h - per-connection reassembly: the kernel's records (bpf/events.h)
 * in, one struct http_txn per HTTP/1.x exchange out.
 *
 * One tracker belongs to one thread (the ring buffer reader); only the
 * counters read by tracker_stats() are meant to be looked at elsewhere, and
 * then only as a snapshot taken by that thread.  Callbacks run inside
 * tracker_on_event(), tracker_sweep() and tracker_proc_exit(); they must not
 * call back into the tracker, and the txn they get is valid for the call only.
 *
 * Contract of the callbacks:
 *  - on_request(txn) (optional) when a request head has been parsed: request
 *    fields set, status 0, end_ns 0, resp_tid 0, body lengths 0;
 *  - on_txn(txn) exactly once per request that had an on_request, with the
 *    same txn_id, when its exchange ends (response complete, connection
 *    closed, process exited, or lost sync; see TXN_F_*).  A failed
 *    connect() (SB_EV_CONNECT with an error) is an exchange too, with no
 *    request: TXN_F_CONN_REFUSED, method "", both callbacks at once.  The only requests
 *    that get an on_request and no on_txn are those of connections freed
 *    without a close (idle for conn_idle_ns, evicted at max_conns) or still
 *    open at tracker_free(); they are counted in requests_dropped.
 */
#ifndef SPANBPF_TRACKER_H
#define SPANBPF_TRACKER_H

#include <stddef.h>
#include <stdint.h>

#include "../bpf/events.h"
#include "txn.h"

/* Zero in any field means its default. */
struct tracker_opts {
	size_t max_conns;		/* connections tracked at once (LRU beyond); 65536 */
	uint64_t lost_sync_idle_ns;	/* lost response ended after this silence; 2 s */
	uint64_t conn_idle_ns;		/* connection forgotten after this silence; 10 min */
	uint32_t max_pipeline;		/* requests awaiting a response, per connection; 64 */
	size_t max_pending;		/* requests awaiting a response, in all; 262144 */
	uint64_t query_idle_ns;		/* quiet time before asking the kernel; 50 ms */
	/*
	 * The kernel side, optional: query() fills *out with what the kernel
	 * counted of the message in progress on connection sock (source src),
	 * returning 0, or a negative errno when it knows none; not_http() tells
	 * it to stop following a connection the parser found is not HTTP/1.x.
	 */
	int (*query)(void *kctx, uint64_t sock, uint8_t src, struct sb_msg_end *out);
	void (*not_http)(void *kctx, uint64_t sock);
	void *kctx;
	/*
	 * Optional: the final response head of exchange txn_id was seen (its
	 * server has answered; the exchange ends when the body does).  Called
	 * with the tracker's ctx.
	 */
	void (*on_response)(uint64_t txn_id, void *ctx);
};

struct tracker_stats {
	uint64_t events;		/* records given to tracker_on_event() */
	uint64_t bad_events;		/* records refused: short, bad type, lengths or dir */
	uint64_t requests;		/* request heads parsed (on_request calls) */
	uint64_t txns;			/* exchanges reported (on_txn calls) */
	uint64_t txns_lost_sync;	/* ... of which ended by fallback (TXN_F_LOST_SYNC) */
	uint64_t parse_errors;		/* heads or chunked framing that did not parse */
	uint64_t lost_sync;		/* times a direction of a connection lost sync */
	uint64_t unmatched_responses;	/* response bytes with no request to answer */
	uint64_t not_http_conns;	/* connections seen from their start, not HTTP/1.x */
	uint64_t upgraded_conns;	/* 101 or CONNECT tunnels, ignored afterwards */
	uint64_t conns_opened;		/* connections entered in the table */
	uint64_t conns_closed;		/* ... left by close or process exit */
	uint64_t conns_expired;		/* ... freed after conn_idle_ns */
	uint64_t conns_evicted;		/* ... evicted (least recently used) at max_conns */
	uint64_t requests_dropped;	/* requests never reported (see above, and full queues) */
	uint64_t alloc_failures;
	uint64_t connects_failed;	/* failed connect()s reported as exchanges */
	uint64_t bytes_after_last_request; /* request bytes after Connection: close / HTTP/1.0 */
	uint64_t counted_bytes;		/* bytes only counted by the kernel, fed as gaps */
	uint64_t records_lost_conns;	/* connections where numbered messages never arrived */
	uint64_t queries;		/* questions to the kernel about quiet connections */
	uint64_t queries_answered;	/* ... that brought counted bytes */
	uint64_t conns_active;		/* gauge: connections in the table */
	uint64_t pending_active;	/* gauge: requests awaiting their response */
};

typedef void (*tracker_txn_fn)(const struct http_txn *txn, void *ctx);

struct tracker;

/* opts may be NULL (all defaults); on_request may be NULL.  NULL on ENOMEM. */
struct tracker *tracker_new(const struct tracker_opts *opts, tracker_txn_fn on_request,
			    tracker_txn_fn on_txn, void *ctx);

/* Free everything; requests still awaiting a response are dropped (counted). NULL is fine. */
void tracker_free(struct tracker *t);

/*
 * One ring buffer record of size bytes (header + payload).  Records whose
 * lengths disagree with size, or with unknown type, dir or role, are
 * counted in bad_events and otherwise ignored.  SB_EV_PROC_EXIT is handled
 * like tracker_proc_exit() with the record's timestamp.
 */
void tracker_on_event(struct tracker *t, const struct sb_event *ev, size_t size);

/*
 * Time-based work, about every 100 ms (now_mono_ns: CLOCK_MONOTONIC):
 * responses that lost sync and saw nothing for lost_sync_idle_ns are ended
 * (TXN_F_LOST_SYNC); connections silent for conn_idle_ns are freed.
 */
void tracker_sweep(struct tracker *t, uint64_t now_mono_ns);

/* Process tgid exited: each of its connections is closed as by SB_EV_CLOSE. */
void tracker_proc_exit(struct tracker *t, uint32_t tgid);

void tracker_stats(const struct tracker *t, struct tracker_stats *out);

#endif /* SPANBPF_TRACKER_H */
