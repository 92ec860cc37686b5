/* SPDX-License-Identifier: Apache-2.0 */
/*
 * exporter.h - the export thread: a bounded span queue fed by the reader
 * thread, batched into OTLP/HTTP protobuf POSTs with libcurl.
 *
 * Delivery: a batch answered 2xx is done (never sent again); 429, 502, 503,
 * 504, connection failures, TLS failures and timeouts are retried with
 * exponential backoff and jitter for up to retry_max_elapsed_ns, Retry-After
 * honoured up to retry_max_ns; any other answer drops the batch.  A request
 * cut off by the timeout may still have reached the collector: delivery is
 * at least once, as with any OTLP exporter.  All network I/O happens on the
 * exporter's own thread in this process; that thread blocks all signals.
 *
 * Memory: a queued span is its encoded OTLP Span message plus a 24-byte
 * header (struct otlp_span), encoded by exporter_submit(); a batch in flight
 * is one request body.  Nothing else grows with what the collector does.
 *
 * libcurl: exporter_start() calls curl_global_init() once per process
 * (pthread_once; libcurl counts calls, so main may have called it first).
 * curl_global_cleanup() is the caller's business, after exporter_stop().
 */
#ifndef SPANBPF_EXPORTER_H
#define SPANBPF_EXPORTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "span.h"

/*
 * Settings; a zero number means the config table's default for the setting
 * named beside it (config_default_num()).  Everything is copied.
 */
struct exporter_opts {
	const char *endpoint;		/* full URL, e.g. http://collector:4318/v1/traces */
	int compression;		/* enum config_compression: COMPRESSION_NONE or _GZIP */
	/*
	 * Extra request headers (exporter.headers merged with
	 * OTEL_EXPORTER_OTLP_HEADERS by config.c).  An entry with an empty
	 * value is not sent; names the exporter writes itself (Content-Type,
	 * Content-Encoding, Content-Length, Transfer-Encoding) and values with
	 * CR or LF are left out with a warning.
	 */
	const struct config_kv *headers;
	size_t nheaders;
	/*
	 * TLS for https:// endpoints, which are verified (certificate chain and
	 * host name) unless tls_insecure_skip_verify, logged as a warning.
	 * NULL or "" is unset: the system's CAs, no client certificate.  PEM
	 * files; cert and key together give mutual TLS.
	 */
	const char *tls_ca_file;
	const char *tls_cert_file;
	const char *tls_key_file;
	bool tls_insecure_skip_verify;
	uint32_t batch_max_spans;	/* batch.max_spans: per request, capped at OTLP_MAX_SPANS */
	uint64_t batch_timeout_ns;	/* batch.timeout: longest wait for a batch to fill */
	uint32_t queue_max_spans;	/* queue.max_spans: queued before submit drops */
	uint64_t timeout_ns;		/* exporter.timeout: per request, connection included */
	const char *user_agent;		/* NULL: "spanbpf/<version>" */
	uint64_t retry_initial_ns;	/* retry.initial_interval: first backoff, then doubled */
	uint64_t retry_max_ns;		/* retry.max_interval: backoff and Retry-After cap */
	uint64_t retry_max_elapsed_ns;	/* retry.max_elapsed_time: give up after the 1st try */
};

/* Why a request did not deliver its batch (one per failed request). */
enum exporter_failure {
	EXPORTER_FAIL_CONNECT,		/* no connection, or it broke (refused, reset, DNS) */
	EXPORTER_FAIL_TIMEOUT,		/* no answer within timeout_ns or the stop deadline */
	EXPORTER_FAIL_TLS,		/* handshake, certificate or verification failure */
	EXPORTER_FAIL_HTTP_429,		/* retried */
	EXPORTER_FAIL_HTTP_502,		/* retried */
	EXPORTER_FAIL_HTTP_503,		/* retried */
	EXPORTER_FAIL_HTTP_504,		/* retried */
	EXPORTER_FAIL_HTTP_4XX,		/* any other 4xx: batch dropped */
	EXPORTER_FAIL_HTTP_5XX,		/* any other 5xx: batch dropped */
	EXPORTER_FAIL_HTTP_OTHER,	/* 1xx or 3xx (redirects are not followed): dropped */
	EXPORTER_FAIL_OTHER,		/* any other libcurl error: retried */
	EXPORTER_FAIL_MAX,
};

/*
 * Counters since start.  Every span offered to exporter_submit() ends in
 * exactly one outcome, so at any moment
 *   submitted == dropped_queue_full + exported + dropped_rejected +
 *                failed_status + failed_retries_exhausted +
 *                undelivered_at_shutdown + queued + in_flight.
 */
struct exporter_stats {
	uint64_t submitted;		/* spans offered to exporter_submit() */
	uint64_t queued;		/* gauge: spans in the queue (not the batch in flight) */
	uint64_t in_flight;		/* gauge: spans of the batch being sent or retried */
	uint64_t queue_max;		/* gauge: queue capacity now */
	/* outcomes */
	uint64_t exported;		/* accepted by the collector (2xx, minus rejected) */
	uint64_t dropped_queue_full;	/* refused by submit: full, stopping or no memory */
	uint64_t dropped_rejected;	/* refused by the collector in a 2xx partial_success */
	uint64_t failed_status;		/* dropped on a non-retryable answer (4xx, 5xx...) */
	uint64_t failed_retries_exhausted; /* failing retry_max_elapsed_ns after the 1st try */
	uint64_t undelivered_at_shutdown; /* queued or in flight when the stop deadline came */
	uint64_t failed;		/* failed_status + failed_retries_exhausted + undelivered */
	/* requests */
	uint64_t requests;		/* HTTP requests attempted */
	uint64_t retries;		/* requests that were retries of a batch */
	uint64_t failures[EXPORTER_FAIL_MAX];	/* failed requests by class */
	uint64_t bytes_sent;		/* request body bytes (after compression) */
};

struct exporter;

/*
 * Validate opts, set up libcurl and start the export thread.  Returns NULL
 * with errno set (EINVAL: no endpoint, bad compression, or a TLS setting
 * libcurl refuses; ENOMEM; or the pthread_create error); the reason is
 * logged.  tls_insecure_skip_verify is logged as a warning.
 */
struct exporter *exporter_start(const struct exporter_opts *o);

/*
 * Apply new settings to a running exporter without losing a span: every
 * setting may change.  queue_max_spans applies to the next submit (a
 * smaller queue keeps what it holds); the rest is applied by the export
 * thread before its next request (a request in flight finishes under the
 * old settings; a batch waiting to be retried is retried at once under the
 * new ones, with the body and Content-Encoding it was encoded with).
 * Returns 0, or -EINVAL / -ENOMEM with the settings unchanged (logged).
 * Not after exporter_shutdown().
 */
int exporter_reconfigure(struct exporter *e, const struct exporter_opts *o);

/*
 * Queue a span for export; takes ownership of s in every case.  Never
 * blocks on the network: the span is encoded (struct otlp_span) outside the
 * lock, then appended in O(1) under it.  Returns false when the span was
 * dropped (queue full, exporter stopping, or no memory; counted in
 * dropped_queue_full).
 */
bool exporter_submit(struct exporter *e, struct span *s);

/*
 * Stop accepting spans, send what is queued (in batches, retrying as usual)
 * until timeout_ns from now, then abandon the rest, join the thread and free
 * everything.  A request in flight is cut short at the deadline.  Returns
 * the number of spans queued or in flight at the call that did not reach the
 * collector (failed in any way or undelivered; capped at INT_MAX).  NULL is
 * fine (returns 0).
 */
int exporter_stop(struct exporter *e, uint64_t timeout_ns);
/* exporter_stop() in two steps, so the final counters can be read in between. */
int exporter_shutdown(struct exporter *e, uint64_t timeout_ns);
void exporter_free(struct exporter *e);

/* A consistent snapshot of the counters; safe from any thread.  NULL gives zeros. */
void exporter_stats(struct exporter *e, struct exporter_stats *st);

/* "connect", "timeout", "tls", "http_429", ... for an enum exporter_failure; NULL if none. */
const char *exporter_failure_name(int failure);

/*
 * Parse a Retry-After value (delta-seconds or an HTTP-date, relative to
 * now) into nanoseconds from now; a date in the past gives 0.  Returns 0,
 * or -1 when the value is neither.  Exposed for tests.
 */
int exporter_parse_retry_after(const char *value, time_t now, uint64_t *delay_ns);

#endif /* SPANBPF_EXPORTER_H */
