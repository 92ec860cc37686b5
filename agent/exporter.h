/* SPDX-License-Identifier: Apache-2.0 */
/*
 * exporter.h - the export thread: a bounded span queue fed by the reader
 * thread, batched into OTLP/HTTP protobuf POSTs with libcurl.
 *
 * Delivery: a batch answered 2xx is done (never sent again); 429, 502, 503,
 * 504, connection failures and timeouts are retried with exponential
 * backoff and jitter for up to retry_max_elapsed_ns, Retry-After honoured
 * up to retry_max_ns; any other answer drops the batch.  All network I/O
 * happens on the exporter's own thread in this process; that thread
 * blocks all signals.
 *
 * libcurl: exporter_start() calls curl_global_init() once per process
 * (pthread_once; libcurl counts calls, so main may have called it first).
 * curl_global_cleanup() is the caller's business, after exporter_stop().
 */
#ifndef SPANBPF_EXPORTER_H
#define SPANBPF_EXPORTER_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "span.h"

#define EXPORTER_DEFAULT_BATCH_MAX_SPANS 512
#define EXPORTER_DEFAULT_BATCH_TIMEOUT_NS (5ull * 1000000000)
#define EXPORTER_DEFAULT_QUEUE_MAX_SPANS 65536
#define EXPORTER_DEFAULT_TIMEOUT_NS (10ull * 1000000000)
#define EXPORTER_DEFAULT_RETRY_INITIAL_NS (500ull * 1000000)
#define EXPORTER_DEFAULT_RETRY_MAX_NS (30ull * 1000000000)
#define EXPORTER_DEFAULT_RETRY_MAX_ELAPSED_NS (300ull * 1000000000)

/* Settings; a zero number means its default. */
struct exporter_opts {
	const char *endpoint;		/* full URL, e.g. http://collector:4318/v1/traces; copied */
	int compression;		/* enum config_compression: COMPRESSION_NONE or _GZIP */
	uint32_t batch_max_spans;	/* spans per request (capped at OTLP_MAX_SPANS); 512 */
	uint64_t batch_timeout_ns;	/* longest wait for a batch to fill; 5 s */
	uint32_t queue_max_spans;	/* queued spans before submit drops; 65536 */
	uint64_t timeout_ns;		/* per HTTP request; 10 s */
	const char *user_agent;		/* copied; NULL: "spanbpf/<version>" */
	uint64_t retry_initial_ns;	/* first backoff, doubled per retry; 500 ms */
	uint64_t retry_max_ns;		/* backoff and Retry-After cap; 30 s */
	uint64_t retry_max_elapsed_ns;	/* give a batch up this long after its first try; 5 min */
};

/* Counters since start; a span ends in exactly one of the four outcomes. */
struct exporter_stats {
	uint64_t queued;		/* spans in the queue now (not the batch in flight) */
	uint64_t exported;		/* spans the collector accepted (2xx, minus rejected) */
	uint64_t dropped_queue_full;	/* spans refused by submit: queue full or stopping */
	uint64_t dropped_rejected;	/* spans the collector refused in a 2xx partial_success */
	uint64_t failed;		/* spans dropped: other answer, retries exhausted, stop */
	uint64_t requests;		/* HTTP requests attempted */
	uint64_t retries;		/* requests that were retries of a batch */
	uint64_t bytes_sent;		/* request body bytes (after compression) */
};

struct exporter;

/*
 * Validate opts, set up libcurl and start the export thread.  Returns NULL
 * with errno set (EINVAL: no endpoint or bad compression; ENOMEM; or the
 * pthread_create error); the reason is logged.
 */
struct exporter *exporter_start(const struct exporter_opts *o);

/*
 * Queue a span for export; takes ownership of s in every case.  Never
 * blocks on the network: O(1) under a short lock.  Returns false when the
 * span was dropped (queue full or exporter stopping; counted in
 * dropped_queue_full).
 */
bool exporter_submit(struct exporter *e, struct span *s);

/*
 * Stop accepting spans, send what is queued (in batches, retrying as usual)
 * until timeout_ns from now, then abandon the rest, join the thread and free
 * everything.  A request in flight is cut short at the deadline.  Returns
 * the number of spans queued or in flight at the call that did not reach the
 * collector (capped at INT_MAX).  NULL is fine (returns 0).
 */
int exporter_stop(struct exporter *e, uint64_t timeout_ns);
/* exporter_stop() in two steps, so the final counters can be read in between. */
int exporter_shutdown(struct exporter *e, uint64_t timeout_ns);
void exporter_free(struct exporter *e);

/* A consistent snapshot of the counters; safe from any thread. */
void exporter_stats(struct exporter *e, struct exporter_stats *st);

/*
 * Parse a Retry-After value (delta-seconds or an HTTP-date, relative to
 * now) into nanoseconds from now; a date in the past gives 0.  Returns 0,
 * or -1 when the value is neither.  Exposed for tests.
 */
int exporter_parse_retry_after(const char *value, time_t now, uint64_t *delay_ns);

#endif /* SPANBPF_EXPORTER_H */
