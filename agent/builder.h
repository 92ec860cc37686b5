/* SPDX-License-Identifier: Apache-2.0 */
/*
 * builder.h - turn one HTTP/1.x exchange (struct http_txn) into a span named
 * and attributed per the stable OpenTelemetry HTTP semantic conventions.
 *
 * SERVER spans: name "{method} {template}" (template: http_target_template()),
 * or "{method}" when the target gives none; http.request.method (unknown
 * methods: "_OTHER" + http.request.method_original, and "HTTP" in the name),
 * url.path, url.scheme, url.query (record_query only), server.address/port
 * (absolute-form authority, else Host, else the local socket address),
 * client.address/port and network.peer.address/port (the remote socket
 * address), http.response.status_code (when there was one),
 * network.protocol.version, user_agent.original.  Status ERROR for 5xx
 * (error.type "500"...); 4xx stays UNSET.
 *
 * CLIENT spans: name "{method}"; url.full (scheme://Host + path, the query
 * only with record_query, credentials never); server.address/port from the
 * absolute-form authority or Host, else the remote socket address;
 * network.peer.*, status code, protocol version, user agent.  Status ERROR
 * for 4xx and up (error.type "404"...).
 *
 * Both: an exchange cut short or unreadable is ERROR with error.type
 * "no_response" (TXN_F_NO_RESPONSE), "response_truncated"
 * (TXN_F_RESP_TRUNCATED), "malformed_response" (TXN_F_RESP_MALFORMED) or
 * "connection_refused" (TXN_F_CONN_REFUSED) and a status message, unless the
 * status code already gives an error.type.  Addresses: IPv4-mapped ones as
 * plain IPv4, IPv6 as RFC 5952 text; unknown (all-zero) ones are left out.
 *
 * A builder belongs to one thread (it owns a procinfo cache and an id
 * generator); only builder_get_stats() may be called from another one.
 * Every string that comes from traffic or /proc is made valid UTF-8 (OTLP
 * string fields must be) before it lands in a span or resource.
 */
#ifndef SPANBPF_BUILDER_H
#define SPANBPF_BUILDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "span.h"
#include "traceparent.h"	/* for the correlator, which includes this header */
#include "txn.h"
#include "utf8.h"

struct config;

/* Instrumentation scope of every span (version: SPANBPF_VERSION). */
#define SPANBPF_SCOPE_NAME "spanbpf"

/* Longest span-name target made from a path (bytes), see http_target_template(). */
#define BUILDER_TEMPLATE_MAX 128
/* Path segments kept in a template before "/..." replaces the rest. */
#define BUILDER_TEMPLATE_SEGS 8

struct builder_opts {
	bool record_query;		/* url.query, and the query in url.full */
	const char *host_name;		/* host.name; NULL = gethostname() */
	const char *proc_root;		/* NULL = "/proc" */
	uint64_t mono_to_unix_ns;	/* 0 = measured once by builder_new() */
	int proc_revalidate_ms;		/* procinfo_opts.revalidate_ms */
	/*
	 * procinfo_opts.cfg: services rules and resource attributes; NULL =
	 * none.  Must outlive the builder; after changing it in place, call
	 * builder_reset_resources().
	 */
	const struct config *cfg;
	const char *node_name;		/* k8s.node.name; NULL or "" = left out */
};

/* W3C trace context of one span. */
struct span_context {
	uint8_t trace_id[16];
	uint8_t span_id[8];
	uint8_t trace_flags;
	bool valid;
};

struct builder_stats {
	uint64_t built;			/* spans returned */
	uint64_t skipped;		/* transactions that gave no span (bad input, ENOMEM) */
};

struct builder;

/* NULL on ENOMEM. */
struct builder *builder_new(const struct builder_opts *o);
void builder_free(struct builder *b);

/* The span for txn, or NULL when skipped (counted).  The span owns a resource reference. */
struct span *builder_build(struct builder *b, const struct http_txn *txn);

/*
 * builder_build() with trace linkage decided by the caller (the correlator,
 * which alone reads traceparent headers): the span is a child of parent
 * when it is valid, else the root of a new trace.  self may be NULL; when
 * self->valid on entry the span takes its ids (made earlier by
 * builder_new_context(), e.g. when the request was seen); on return self
 * holds the span's ids.  The agent records every exchange, so spans always
 * carry the sampled flag (0x01); other flag bits of the parent are kept.
 */
struct span *builder_build_ex(struct builder *b, const struct http_txn *txn,
			      const struct span_context *parent, struct span_context *self);

/* Fresh ids: a child in parent's trace when parent is valid, else a new trace. */
void builder_new_context(struct builder *b, const struct span_context *parent,
			 struct span_context *out);

/* http.record_query changed (SIGHUP). */
void builder_set_record_query(struct builder *b, bool on);
/* Look tgid up in /proc now (cached), while it is surely alive. */
void builder_note_process(struct builder *b, uint32_t tgid, const char *comm);
/* A traced process exited: forget its cached resource. */
void builder_proc_exit(struct builder *b, uint32_t tgid);
/*
 * opts.cfg changed in place (SIGHUP): forget every cached resource, so that
 * spans built from now on carry resources made with the new services rules
 * and resource attributes.
 */
void builder_reset_resources(struct builder *b);

void builder_get_stats(const struct builder *b, struct builder_stats *st);
/* Nanoseconds to add to a CLOCK_MONOTONIC time to get Unix time. */
uint64_t builder_mono_to_unix_ns(const struct builder *b);

/* The forms of a request target (RFC 9112 §3.2). */
enum target_form {
	TF_NONE,	/* empty */
	TF_ORIGIN,	/* "/path?query" */
	TF_ABSOLUTE,	/* "http://host/path?query" (requests to a proxy) */
	TF_ASTERISK,	/* "*" (OPTIONS *) */
	TF_OTHER,	/* anything else, e.g. authority-form "host:443" of CONNECT */
};

/* A request target's parts, pointing into the target. */
struct http_target {
	enum target_form form;
	const char *scheme;	/* TF_ABSOLUTE */
	size_t scheme_len;
	const char *authority;	/* TF_ABSOLUTE, without userinfo; TF_OTHER: the whole target */
	size_t authority_len;
	const char *path;	/* without query and fragment; "/" for "http://host" */
	size_t path_len;
	const char *query;	/* after '?', without fragment; NULL when there is no '?' */
	size_t query_len;
};

/*
 * Split the request target s[0..n) (any bytes) into t; every pointer is
 * into s (or the literal "/" for an absolute-form target without a path).
 * Pure: the URL splitting of url.path, url.query, url.full and server.*.
 */
void http_target_split(const char *s, size_t n, struct http_target *t);

/*
 * Split an authority ("host", "host:port", "[v6]", "[v6]:port") of n bytes.
 * *port is -1 when absent or empty, -2 when not a number in 1..65535.
 * Returns false when no host can be found (empty, unclosed '[').
 */
bool http_authority_split(const char *s, size_t n, const char **host, size_t *hlen, int *port);

/*
 * The low-cardinality target of a span name for a request target, written
 * NUL-terminated into out (outlen > BUILDER_TEMPLATE_MAX + 8 guarantees no
 * cut).  Returns its length, or 0 when the target gives none (empty,
 * authority-form "host:port", anything not starting with '/', "*" or
 * "scheme://"); the name is then the method alone.  See builder.c for rules.
 */
size_t http_target_template(const char *target, char *out, size_t outlen);

#endif /* SPANBPF_BUILDER_H */
