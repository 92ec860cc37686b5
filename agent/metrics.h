/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics.h - self-metrics: a Prometheus text endpoint (GET /metrics) served
 * by libmicrohttpd on its own thread, when metrics.listen is set.
 *
 * Two sources make one page:
 *  - a snapshot the reader thread publishes (about once a second) of the
 *    counters only it may read (events, spans built, tracker, correlator):
 *    metrics_publish() copies it under a mutex;
 *  - a live callback run on the server thread for each scrape, for state
 *    that is safe to read from any thread (exporter_stats()).
 * Plus process_resident_memory_bytes and process_cpu_seconds_total.
 *
 * A snapshot is a flat array of samples, each carrying its family's name,
 * help and type: same-named samples (differing by labels) become one family
 * with one HELP and one TYPE line, in first-seen order.
 */
#ifndef SPANBPF_METRICS_H
#define SPANBPF_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "exporter.h"

enum metric_type {
	METRIC_COUNTER = 0,
	METRIC_GAUGE = 1,
};

/*
 * One sample.  The strings are not copied: they must live until
 * metrics_stop() (string literals in practice).
 */
struct metric {
	const char *name;	/* [a-zA-Z_:][a-zA-Z0-9_:]*; counters end in _total */
	const char *help;	/* one line; \ and newlines are escaped */
	const char *labels;	/* as written between the braces: reason="queue_full"; NULL */
	int type;		/* enum metric_type */
	double value;
};

#define METRICS_MAX 96

struct metrics_snapshot {
	size_t n;
	struct metric m[METRICS_MAX];
};

/* Append one sample; false (and nothing added) when s is full. */
bool metrics_add(struct metrics_snapshot *s, const char *name, const char *help, int type,
		 const char *labels, double value);

/*
 * Append the exporter's counters: spanbpf_spans_submitted_total,
 * spanbpf_spans_exported_total, spanbpf_spans_dropped_total{reason=...},
 * spanbpf_export_requests_total, spanbpf_export_retries_total,
 * spanbpf_export_failures_total{class=...}, spanbpf_export_sent_bytes_total
 * and the gauges spanbpf_export_queue_length, spanbpf_export_queue_capacity,
 * spanbpf_export_in_flight_spans.
 */
void metrics_add_exporter(struct metrics_snapshot *s, const struct exporter_stats *st);

/*
 * The page for the given snapshots (NULL entries skipped), in the
 * Prometheus text format 0.0.4: a new NUL-terminated malloc'ed string
 * (*len without the NUL), or NULL on ENOMEM.
 */
char *metrics_render(const struct metrics_snapshot *const *parts, size_t nparts, size_t *len);

/*
 * Parse metrics.listen: "HOST:PORT" (an address or a name, resolved now),
 * ":PORT" (every address: [::] dual stack, or 0.0.0.0 without IPv6) or
 * "[IPV6]:PORT".  Port 0 picks a free port.  Returns 0 or -EINVAL.
 */
int metrics_parse_listen(const char *listen, struct sockaddr_storage *addr, socklen_t *addrlen);

/* Called on the server thread for each scrape: append live samples to s. */
typedef void (*metrics_live_fn)(void *ctx, struct metrics_snapshot *s);

struct metrics;

/*
 * Listen on listen (see metrics_parse_listen) and serve GET and HEAD
 * /metrics (404 for other paths, 405 for other methods) from a thread with
 * every signal blocked.  live may be NULL.  Returns NULL with errno set
 * (EINVAL, EADDRINUSE, EACCES, ENOMEM, ...), the reason logged.
 */
struct metrics *metrics_start(const char *listen, metrics_live_fn live, void *ctx);

/* The port actually listened on (useful with port 0). */
uint16_t metrics_port(const struct metrics *m);

/*
 * Whether a traced connection with these ends (16-byte addresses, IPv4
 * mapped into IPv6 as in struct sb_tuple) is a client of this endpoint: its
 * remote port is ours and its remote address is the one listened on or,
 * when listening on every address, its own local address (a connection to
 * an address of this host has it on both ends).  The kernel side skips the
 * agent's own syscalls but not its scrapers': drop those exchanges with
 * this, so /metrics never becomes spans.  NULL m: false.
 */
bool metrics_is_self_peer(const struct metrics *m, const uint8_t laddr[16],
			  const uint8_t raddr[16], uint16_t rport);

/* Replace the published snapshot (copied); any thread.  NULL m is fine. */
void metrics_publish(struct metrics *m, const struct metrics_snapshot *s);

/* Stop serving (waits for a scrape in progress), close the socket, free.  NULL is fine. */
void metrics_stop(struct metrics *m);

#endif /* SPANBPF_METRICS_H */
