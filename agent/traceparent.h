/* SPDX-License-Identifier: Apache-2.0 */
/*
 * traceparent.h - the W3C trace context "traceparent" header: its one
 * parser, used by the correlator (the span builder only consumes the
 * correlator's decision).
 */
#ifndef SPANBPF_TRACEPARENT_H
#define SPANBPF_TRACEPARENT_H

#include <stdint.h>

/*
 * Parse a W3C traceparent header value (no surrounding blanks).  Version 00:
 * exactly "00-<32 hex>-<16 hex>-<2 hex>", lowercase hex.  Higher versions
 * (not ff): the same four fields, then the end or a '-'; only the sampled
 * flag is taken from them.  All-zero trace or parent ids are invalid.
 * Returns 0 with the outputs set, or -1 (outputs untouched).
 */
int traceparent_parse(const char *s, uint8_t trace_id[16], uint8_t span_id[8], uint8_t *flags);

#endif /* SPANBPF_TRACEPARENT_H */
