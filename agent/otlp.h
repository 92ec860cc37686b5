/* SPDX-License-Identifier: Apache-2.0 */
/*
 * otlp.h - spans to an OTLP ExportTraceServiceRequest (protobuf), the
 * collector's ExportTraceServiceResponse back, and gzip for the request body.
 *
 * Pure functions: no I/O, no global state, safe from any thread.
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
 * Encode spans[0..n) as one ExportTraceServiceRequest into a new malloc'ed
 * buffer (*out, *out_len; free() it).  Spans are grouped by resource pointer
 * (one ResourceSpans each, in first-seen order, a NULL resource being a
 * resource without attributes), with one ScopeSpans named "spanbpf".  Span
 * flags carry the W3C trace flags only (low 8 bits).  Strings that are not
 * valid UTF-8 are encoded with U+FFFD in place of each bad byte, since
 * collectors reject a whole request over one bad string; attributes of an
 * unknown type are left out and counted in dropped_attributes_count.
 * n == 0 gives an empty request (*out_len == 0, *out still to be freed).
 * Returns 0, -EINVAL (NULL argument, span with nattrs over SPAN_MAX_ATTRS),
 * -E2BIG (n > OTLP_MAX_SPANS) or -ENOMEM.  The spans are not modified.
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
 * Compress in[0..len) into a new malloc'ed gzip stream (*out, *out_len).
 * Returns 0, -E2BIG (len over 4 GiB - 1), -ENOMEM or -EIO (zlib failure).
 */
int otlp_gzip(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len);

#endif /* SPANBPF_OTLP_H */
