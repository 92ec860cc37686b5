/* SPDX-License-Identifier: Apache-2.0 */
/*
 * span.h - the span and resource model shared by the span builder, the
 * console printer and the OTLP exporter.
 *
 * A span is one allocation: fixed fields, an attribute array and an arena
 * holding every string the span owns.  Resources (one per traced process)
 * are shared by many spans and reference counted, so the exporter can group
 * spans by resource pointer.
 */
#ifndef SPANBPF_SPAN_H
#define SPANBPF_SPAN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPAN_MAX_ATTRS 32
/*
 * A process's resource: 8 built-in attributes (procinfo.h), up to 32 from
 * the config (CONFIG_MAX_ATTRIBUTES) and up to 32 from the process's own
 * OTEL_RESOURCE_ATTRIBUTES (PROCINFO_ENV_ATTRS_MAX).
 */
#define RESOURCE_MAX_ATTRS 72
/* Arena of resource_new(); procinfo sizes each resource's arena to what it holds. */
#define RESOURCE_ARENA_DEFAULT 2048

/* Values as in OTLP's Span.SpanKind and Status.StatusCode. */
enum span_kind {
	SPAN_KIND_INTERNAL = 1,
	SPAN_KIND_SERVER = 2,
	SPAN_KIND_CLIENT = 3,
};

enum span_status {
	SPAN_STATUS_UNSET = 0,
	SPAN_STATUS_OK = 1,
	SPAN_STATUS_ERROR = 2,
};

enum attr_type {
	ATTR_STRING = 0,
	ATTR_INT = 1,
	ATTR_BOOL = 2,
	ATTR_DOUBLE = 3,
};

/* One key/value.  key and s point at static strings or into the owner's arena. */
struct attr {
	const char *key;
	uint8_t type;	/* enum attr_type */
	union {
		const char *s;
		int64_t i;
		bool b;
		double d;
	};
};

/* A string arena: strings are copied in and live as long as the owner. */
struct arena {
	size_t len;	/* capacity of buf */
	size_t used;
	char *buf;
};

/* One traced process as an OTLP Resource.  Shared by its spans. */
struct resource {
	atomic_int refs;
	uint32_t tgid;
	uint64_t start_ticks;	/* process start time (/proc/PID/stat field 22): identity */
	size_t nattrs;
	struct attr attrs[RESOURCE_MAX_ATTRS];
	struct arena arena;
	char arena_buf[];	/* arena.len bytes: keys and string values */
};

struct span {
	struct span *next;		/* linkage for whoever holds the span (queue, batch) */
	struct resource *resource;	/* counted reference, released by span_free() */
	uint8_t trace_id[16];
	uint8_t span_id[8];
	uint8_t parent_span_id[8];
	bool has_parent;
	/* Every string is valid UTF-8 already (the builder's spans): the encoder need not check. */
	bool utf8_checked;
	uint8_t kind;			/* enum span_kind */
	uint8_t status;			/* enum span_status */
	uint32_t trace_flags;		/* W3C trace flags (0x01 = sampled) */
	uint64_t start_unix_ns;
	uint64_t end_unix_ns;
	const char *name;		/* in the arena */
	const char *status_message;	/* in the arena, or NULL */
	size_t nattrs;
	struct attr attrs[SPAN_MAX_ATTRS];
	struct arena arena;
	char arena_buf[];		/* arena.len bytes */
};

/* A new zeroed span with room for arena_len bytes of strings; NULL on ENOMEM. */
struct span *span_new(size_t arena_len);
/* Free a span and drop its resource reference.  NULL is fine. */
void span_free(struct span *span);

/* Copy n bytes of s (plus a NUL) into the arena; NULL when it does not fit. */
const char *arena_strndup(struct arena *a, const char *s, size_t n);

/*
 * Add attributes.  key must be a static string.  Return 0, or -1 when the
 * attribute array or the arena is full (the attribute is then left out).
 */
int span_set_name(struct span *span, const char *name);
int span_add_str(struct span *span, const char *key, const char *val);
int span_add_strn(struct span *span, const char *key, const char *val, size_t n);
int span_add_int(struct span *span, const char *key, int64_t val);
int span_add_bool(struct span *span, const char *key, bool val);
/* The attribute with this key, or NULL. */
const struct attr *span_find_attr(const struct span *span, const char *key);

/* A new resource for tgid with one reference; NULL on ENOMEM. */
struct resource *resource_new(uint32_t tgid);
/*
 * The same with room for arena_len bytes of keys and string values (each
 * takes its length plus a NUL).
 */
struct resource *resource_new_sized(uint32_t tgid, size_t arena_len);
int resource_add_str(struct resource *res, const char *key, const char *val);
int resource_add_int(struct resource *res, const char *key, int64_t val);
const struct attr *resource_find_attr(const struct resource *res, const char *key);
struct resource *resource_ref(struct resource *res);
void resource_unref(struct resource *res);

#endif /* SPANBPF_SPAN_H */
