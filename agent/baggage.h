/* SPDX-License-Identifier: Apache-2.0 */
/*
 * baggage.h - "key1=value1,key2=value2" lists as OTEL_RESOURCE_ATTRIBUTES and
 * OTEL_EXPORTER_OTLP_HEADERS carry them: the W3C Baggage format without
 * properties, as the OpenTelemetry specification has it.  The one decoder
 * for the agent's own environment (config_env.c) and for the traced
 * processes' (procinfo.c).
 *
 * Rules: members are separated by ','; a member of blanks only is skipped
 * ("a=1,,b=2", a trailing comma); otherwise it is KEY=VALUE split at its
 * first '=', blanks (SP, HTAB) around the key and the value are trimmed,
 * and %XX (two hex digits, either case) is decoded in both.  A '%' not
 * followed by two hex digits, and a NUL byte (raw, possible in a buffer,
 * or %00), are errors.
 * Decoded bytes that are not UTF-8 become U+FFFD (W3C Baggage §3.2.1.1).
 * What an error means is the caller's: the OpenTelemetry SDKs discard the
 * whole variable.
 */
#ifndef SPANBPF_BAGGAGE_H
#define SPANBPF_BAGGAGE_H

#include <stddef.h>

/* Results of baggage_next(). */
#define BAGGAGE_END 0		/* no more members */
#define BAGGAGE_MEMBER 1	/* key and value set */
#define BAGGAGE_NO_EQUALS (-1)	/* a member without '=' */
#define BAGGAGE_EMPTY_KEY (-2)	/* "=value" */
#define BAGGAGE_BAD_ESCAPE (-3)	/* '%' not followed by two hex digits, or a NUL */
#define BAGGAGE_TOO_LONG (-4)	/* the key or the value does not fit its buffer */

struct baggage_iter {
	const char *p, *end;
	const char *member;	/* the member last returned, raw, for messages */
	size_t member_len;
};

/* Iterate over s[0..n). */
void baggage_init(struct baggage_iter *it, const char *s, size_t n);

/*
 * The next member: BAGGAGE_MEMBER with key[keycap] and value[valcap] set
 * (NUL-terminated, valid UTF-8; the value may be ""), BAGGAGE_END, or an
 * error for this member (it->member says which); iteration goes on after
 * an error.  With key and value NULL the member is only checked (no
 * BAGGAGE_TOO_LONG then).
 */
int baggage_next(struct baggage_iter *it, char *key, size_t keycap, char *value, size_t valcap);

/* Does s[0..n) parse without any format error (length limits aside)? */
int baggage_valid(const char *s, size_t n);

#endif /* SPANBPF_BAGGAGE_H */
