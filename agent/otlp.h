/* SPDX-License-Identifier: Apache-2.0 */
/*
 * otlp.h - spans to an OTLP ExportTraceServiceRequest (protobuf), the
 * collector's ExportTraceServiceResponse back, and gzip for the request body.
 *
 * Pure functions: no I/O, no global state, safe from any thread.  Spans are
 * encoded one by one when they are queued (otlp_span_encode()); a request is
 * the framing written around them (otlp_frame()).
 */
#ifndef SPANBPF_OTLP_H
#define SPANBPF_OTLP_H

#include <stddef.h>
#include <stdint.h>

#include "span.h"

/* Most spans one request may carry (the largest batch the config allows). */
#define OTLP_MAX_SPANS 65536

/* Instrumentation scope written on every ScopeSpans. */
#define OTLP_SCOPE_NAME "spanbpf"

/*
 * One span encoded as an OTLP Span message, as the exporter queues it: one
 * allocation of a 24-byte header plus the message (typically 250-500 bytes),
 * instead of the builder's struct span (about 1.5 KiB).  Requests are then
 * framed around these bytes (otlp_frame()), so a span is encoded once however
 * often its batch is retried.
 */
struct otlp_span {
	struct otlp_span *next;		/* linkage for whoever holds it (queue, batch) */
	struct resource *resource;	/* counted reference; NULL: no resource attributes */
	uint32_t len;			/* bytes in pb */
	uint8_t pb[];			/* the Span message: no tag, no length prefix */
};

/*
 * Encode s into a new otlp_span (*out; otlp_span_free() it), which takes its
 * own reference to s->resource.  Encoding rules as for otlp_encode().
 * Returns 0, -EINVAL (NULL argument, nattrs over SPAN_MAX_ATTRS), -E2BIG (a
 * message over 16 MiB) or -ENOMEM.  s is not modified.
 */
int otlp_span_encode(const struct span *s, struct otlp_span **out);

/* Free os and drop its resource reference.  NULL is fine. */
void otlp_span_free(struct otlp_span *os);

/*
 * Frame spans[0..n) into one ExportTraceServiceRequest in a new malloc'ed
 * buffer (*out, *out_len; free() it): one ResourceSpans per distinct resource
 * pointer, in first-seen order (each Resource encoded once), with one
 * ScopeSpans named OTLP_SCOPE_NAME holding that resource's spans in their
 * order.  The bytes are exactly what protobuf-c packs for the same message.
 * n == 0 gives an empty request (*out_len == 0, *out still to be freed).
 * Returns 0, -EINVAL (NULL argument, resource with nattrs over
 * RESOURCE_MAX_ATTRS), -E2BIG (n > OTLP_MAX_SPANS) or -ENOMEM.
 */
int otlp_frame(struct otlp_span *const *spans, size_t n, uint8_t **out, size_t *out_len);

/*
 * Encode spans[0..n) as one ExportTraceServiceRequest into a new malloc'ed
 * buffer (*out, *out_len; free() it): otlp_span_encode() of each span, then
 * otlp_frame().  Spans are grouped by resource pointer (one ResourceSpans
 * each, in first-seen order, a NULL resource being a resource without
 * attributes), with one ScopeSpans named "spanbpf".  Span flags carry the W3C
 * trace flags only (low 8 bits).  Strings that are not valid UTF-8 are
 * encoded with U+FFFD in place of each bad byte, since collectors reject a
 * whole request over one bad string; attributes of an unknown type are left
 * out and counted in dropped_attributes_count.  n == 0 gives an empty request
 * (*out_len == 0, *out still to be freed).  Returns 0, -EINVAL (NULL
 * argument, span with nattrs over SPAN_MAX_ATTRS), -E2BIG (n >
 * OTLP_MAX_SPANS) or -ENOMEM.  The spans are not modified.
 */
int otlp_encode(struct span *const *spans, size_t n, uint8_t **out, size_t *out_len);

/*
 * Decode an ExportTraceServiceResponse body.  *rejected gets
 * partial_success.rejected_spans (0 when absent, never negative) and msg its
 * error_message, NUL-terminated and truncated to msglen - 1 bytes ("" when
 * absent; msg may be NULL when msglen is 0).  An empty body is a valid
 * response.  Returns 0, or -EBADMSG when buf is not such a message.
 */
int otlp_decode_response(const uint8_t *buf, size_t len, int64_t *rejected, char *msg,
			 size_t msglen);

/*
 * Compress in[0..len) into a new malloc'ed gzip stream (*out, *out_len),
 * with the calling thread's compressor (libdeflate, level 1).  Returns 0,
 * -ENOMEM or -EIO (the compressor failed).
 */
int otlp_gzip(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len);

#endif /* SPANBPF_OTLP_H */
