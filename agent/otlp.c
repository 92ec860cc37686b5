// SPDX-License-Identifier: Apache-2.0
/*
 * otlp.c - OTLP/protobuf encoding with protobuf-c.
 *
 * Each span is packed by protobuf-c on its own when it is queued; its
 * message structs live in a stack arena (a heap one when the span is
 * unusually large), strings and ids referenced in place, only strings that
 * need UTF-8 repair copied.  A request is then written by hand around those
 * bytes: the three length-delimited wrappers (ResourceSpans, ScopeSpans, the
 * span field) in the order protobuf-c itself would write them, with each
 * Resource packed by protobuf-c once per request.
 */
#include "otlp.h"

#include <errno.h>
#include <limits.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse pb_response;
typedef Opentelemetry__Proto__Resource__V1__Resource pb_resource;
typedef Opentelemetry__Proto__Common__V1__InstrumentationScope pb_scope;
typedef Opentelemetry__Proto__Trace__V1__Span pb_span;
typedef Opentelemetry__Proto__Trace__V1__Status pb_status;
typedef Opentelemetry__Proto__Common__V1__KeyValue pb_kv;
typedef Opentelemetry__Proto__Common__V1__AnyValue pb_any;

static const pb_resource resource_init =
	OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
static const pb_scope scope_init =
	OPENTELEMETRY__PROTO__COMMON__V1__INSTRUMENTATION_SCOPE__INIT;
static const pb_span span_init =
	OPENTELEMETRY__PROTO__TRACE__V1__SPAN__INIT;
static const pb_status status_init =
	OPENTELEMETRY__PROTO__TRACE__V1__STATUS__INIT;
static const pb_kv kv_init =
	OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT;
static const pb_any any_init =
	OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;

#define ANY_VALUE(which) OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_##which
#define response_descriptor \
	opentelemetry__proto__collector__trace__v1__export_trace_service_response__descriptor

/* Bits 0-7 of Span.flags are the W3C trace flags (SPAN_FLAGS_TRACE_FLAGS_MASK). */
#define SPAN_FLAGS_TRACE_FLAGS_MASK 0xffu

/* ---- UTF-8 ---------------------------------------------------------------- */

/* Length of the well-formed UTF-8 sequence at p (RFC 3629), 0 if there is none. */
static size_t utf8_seq(const unsigned char *p)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return (p[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if (c == 0xe0)
			lo = 0xa0;	/* no overlong forms */
		else if (c == 0xed)
			hi = 0x9f;	/* no surrogates */
		return p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 ? 3 : 0;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;	/* nothing above U+10FFFF */
		return p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 &&
		       (p[3] & 0xc0) == 0x80 ? 4 : 0;
	}
	return 0;
}

/*
 * Bytes (with the NUL) that s needs once each byte of a bad sequence is
 * replaced by U+FFFD; 0 when s is valid UTF-8 and can be used as it is.
 */
static size_t utf8_repair_len(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = 0, k;
	bool bad = false;

	/* Almost every string is ASCII: settle those without the full decoder. */
	while (*p && *p < 0x80)
		p++;
	if (!*p)
		return 0;
	len = (size_t)(p - (const unsigned char *)s);
	while (*p) {
		k = utf8_seq(p);
		if (k) {
			len += k;
			p += k;
		} else {
			len += 3;
			p++;
			bad = true;
		}
	}
	return bad ? len + 1 : 0;
}

/* Copy s to dst replacing bad bytes by U+FFFD; dst has utf8_repair_len(s) bytes. */
static void utf8_repair(char *dst, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t k;

	while (*p) {
		k = utf8_seq(p);
		if (k) {
			memcpy(dst, p, k);
			dst += k;
			p += k;
		} else {
			memcpy(dst, "\xef\xbf\xbd", 3);
			dst += 3;
			p++;
		}
	}
	*dst = '\0';
}

/* ---- grouping by resource ------------------------------------------------- */

struct group_slot {
	const struct resource *res;
	uint32_t group_plus1;	/* 0: free slot */
};

/*
 * Spans grouped by resource: per group its resource, span count and first
 * index in order[], which lists the spans group after group, each group's in
 * their original order.
 */
struct grouping {
	uint32_t *order;		/* [n] */
	uint32_t *count;		/* [n] */
	uint32_t *start;		/* [n] */
	const struct resource **res;	/* [n] */
	uint32_t ngroups;
	void *mem;
};

static int group_spans(struct otlp_span *const *spans, size_t n, struct grouping *g)
{
	size_t cap = 8, mask;
	struct group_slot *slots;
	uint32_t *group_of, *fill;
	char *mem;

	while (cap < 2 * n)
		cap <<= 1;
	mask = cap - 1;
	mem = calloc(1, cap * sizeof(*slots) + n * (5 * sizeof(uint32_t) + sizeof(*g->res)));
	if (!mem)
		return -ENOMEM;
	slots = (struct group_slot *)mem;
	g->res = (const struct resource **)(slots + cap);
	g->order = (uint32_t *)(g->res + n);
	g->count = g->order + n;
	g->start = g->count + n;
	group_of = g->start + n;
	fill = group_of + n;
	g->ngroups = 0;
	g->mem = mem;

	for (size_t i = 0; i < n; i++) {
		const struct resource *res = spans[i]->resource;
		size_t h = (size_t)(((uintptr_t)res >> 4) * 0x9e3779b97f4a7c15ull) & mask;

		while (slots[h].group_plus1 && slots[h].res != res)
			h = (h + 1) & mask;
		if (!slots[h].group_plus1) {
			slots[h].res = res;
			slots[h].group_plus1 = ++g->ngroups;
			g->res[g->ngroups - 1] = res;
		}
		group_of[i] = slots[h].group_plus1 - 1;
		g->count[group_of[i]]++;
	}
	for (uint32_t k = 1; k < g->ngroups; k++)
		g->start[k] = g->start[k - 1] + g->count[k - 1];
	for (size_t i = 0; i < n; i++)
		g->order[g->start[group_of[i]] + fill[group_of[i]]++] = (uint32_t)i;
	return 0;
}

/* ---- the message arena ---------------------------------------------------- */

/* Bump allocator over one block; with base == NULL it only measures. */
struct carve {
	char *base;
	size_t off;
	bool overflow;
};

static void *carve(struct carve *c, size_t n, size_t size, size_t align)
{
	size_t off = (c->off + align - 1) & ~(align - 1), bytes;

	if (off < c->off || __builtin_mul_overflow(n, size, &bytes) ||
	    __builtin_add_overflow(off, bytes, &c->off)) {
		c->overflow = true;
		return NULL;
	}
	return c->base ? c->base + off : NULL;
}

#define CARVE(c, n, type) ((type *)carve((c), (n), sizeof(type), alignof(type)))

/* protobuf-c structs for nres resources or one span, and their repaired text. */
struct msgs {
	pb_resource *res;
	size_t *res_len;
	pb_kv *kv, **kv_ptr;
	pb_any *any;
	char *text;
	size_t kv_used, text_used;
};

static void layout(struct carve *c, struct msgs *m, size_t nres, size_t nkv, size_t ntext)
{
	m->res = CARVE(c, nres, pb_resource);
	m->res_len = CARVE(c, nres, size_t);
	m->kv = CARVE(c, nkv, pb_kv);
	m->kv_ptr = CARVE(c, nkv, pb_kv *);
	m->any = CARVE(c, nkv, pb_any);
	m->text = CARVE(c, ntext, char);
}

/*
 * Carve the arena for layout(nres, nkv, ntext) in stack (size bytes) when it
 * fits, else in a new allocation; *heap gets what to free().  -ENOMEM.
 */
static int arena_alloc(struct carve *c, struct msgs *m, size_t nres, size_t nkv, size_t ntext,
		       char *stack, size_t size, void **heap)
{
	*heap = NULL;
	*c = (struct carve){ 0 };
	layout(c, m, nres, nkv, ntext);
	if (c->overflow)
		return -ENOMEM;
	if (c->off > size) {
		*heap = calloc(1, c->off);
		if (!*heap)
			return -ENOMEM;
		c->base = *heap;
	} else {
		c->base = stack;
	}
	c->off = 0;
	layout(c, m, nres, nkv, ntext);
	return 0;
}

static size_t attrs_text_len(const struct attr *attrs, size_t n)
{
	size_t len = 0;

	for (size_t i = 0; i < n; i++) {
		if (attrs[i].key)
			len += utf8_repair_len(attrs[i].key);
		if (attrs[i].type == ATTR_STRING && attrs[i].s)
			len += utf8_repair_len(attrs[i].s);
	}
	return len;
}

/* s as protobuf-c wants it: never NULL, valid UTF-8 (repaired into m->text). */
static char *pb_str(struct msgs *m, const char *s)
{
	size_t len;
	char *p;

	if (!s)
		return "";
	len = utf8_repair_len(s);
	if (!len)
		return (char *)s;
	p = m->text + m->text_used;
	m->text_used += len;
	utf8_repair(p, s);
	return p;
}

/* Encode attrs into the next key/values; returns how many were left out (unknown type). */
static uint32_t fill_attrs(struct msgs *m, const struct attr *attrs, size_t n, size_t *n_out,
			   pb_kv ***out)
{
	uint32_t dropped = 0;

	*out = m->kv_ptr + m->kv_used;
	*n_out = 0;
	for (size_t i = 0; i < n; i++) {
		const struct attr *a = &attrs[i];
		pb_kv *kv = &m->kv[m->kv_used];
		pb_any *v = &m->any[m->kv_used];

		*v = any_init;
		switch (a->type) {
		case ATTR_STRING:
			v->value_case = ANY_VALUE(STRING_VALUE);
			v->string_value = pb_str(m, a->s);
			break;
		case ATTR_INT:
			v->value_case = ANY_VALUE(INT_VALUE);
			v->int_value = a->i;
			break;
		case ATTR_BOOL:
			v->value_case = ANY_VALUE(BOOL_VALUE);
			v->bool_value = a->b;
			break;
		case ATTR_DOUBLE:
			v->value_case = ANY_VALUE(DOUBLE_VALUE);
			v->double_value = a->d;
			break;
		default:
			dropped++;
			continue;
		}
		*kv = kv_init;
		kv->key = pb_str(m, a->key);
		kv->value = v;
		m->kv_ptr[m->kv_used++] = kv;
		(*n_out)++;
	}
	return dropped;
}

static void fill_span(struct msgs *m, pb_span *ps, pb_status *st, const struct span *s)
{
	*ps = span_init;
	ps->trace_id.data = (uint8_t *)s->trace_id;
	ps->trace_id.len = sizeof(s->trace_id);
	ps->span_id.data = (uint8_t *)s->span_id;
	ps->span_id.len = sizeof(s->span_id);
	if (s->has_parent) {
		ps->parent_span_id.data = (uint8_t *)s->parent_span_id;
		ps->parent_span_id.len = sizeof(s->parent_span_id);
	}
	ps->flags = s->trace_flags & SPAN_FLAGS_TRACE_FLAGS_MASK;
	ps->name = pb_str(m, s->name);
	ps->kind = (Opentelemetry__Proto__Trace__V1__Span__SpanKind)s->kind;
	ps->start_time_unix_nano = s->start_unix_ns;
	ps->end_time_unix_nano = s->end_unix_ns;
	ps->dropped_attributes_count = fill_attrs(m, s->attrs, s->nattrs, &ps->n_attributes,
						  &ps->attributes);
	if (s->status != SPAN_STATUS_UNSET || (s->status_message && *s->status_message)) {
		*st = status_init;
		st->code = (Opentelemetry__Proto__Trace__V1__Status__StatusCode)s->status;
		st->message = pb_str(m, s->status_message);
		ps->status = st;
	}
}

/* ---- one span ------------------------------------------------------------- */

/* Largest encoded span accepted (a span holds a few KiB at most). */
#define OTLP_SPAN_MAX (16u << 20)

/* Stack room for one span's protobuf-c structs: SPAN_MAX_ATTRS attributes fit. */
#define SPAN_STACK_ARENA 8192

int otlp_span_encode(const struct span *s, struct otlp_span **out)
{
	alignas(max_align_t) char stack[SPAN_STACK_ARENA];
	struct otlp_span *os;
	struct carve c;
	struct msgs m = { 0 };
	pb_span ps;
	pb_status st;
	size_t ntext, len;
	void *heap;
	int err;

	if (!s || !out || s->nattrs > SPAN_MAX_ATTRS)
		return -EINVAL;
	ntext = attrs_text_len(s->attrs, s->nattrs);
	if (s->name)
		ntext += utf8_repair_len(s->name);
	if (s->status_message)
		ntext += utf8_repair_len(s->status_message);
	err = arena_alloc(&c, &m, 0, s->nattrs, ntext, stack, sizeof(stack), &heap);
	if (err)
		return err;
	fill_span(&m, &ps, &st, s);
	len = protobuf_c_message_get_packed_size(&ps.base);
	if (len > OTLP_SPAN_MAX) {
		free(heap);
		return -E2BIG;
	}
	os = malloc(sizeof(*os) + len);
	if (!os) {
		free(heap);
		return -ENOMEM;
	}
	os->next = NULL;
	os->len = (uint32_t)protobuf_c_message_pack(&ps.base, os->pb);
	os->resource = resource_ref(s->resource);
	free(heap);
	*out = os;
	return 0;
}

void otlp_span_free(struct otlp_span *os)
{
	if (!os)
		return;
	resource_unref(os->resource);
	free(os);
}

/* ---- framing -------------------------------------------------------------- */

/* Tags of the length-delimited fields written around the spans. */
#define TAG_FIELD1_LEN 0x0a	/* request.resource_spans, .resource, .scope */
#define TAG_FIELD2_LEN 0x12	/* resource_spans.scope_spans, scope_spans.spans */

static size_t varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* A length-delimited field holding len bytes: its size with tag and length. */
static size_t field_len(size_t len)
{
	return 1 + varint_len(len) + len;
}

static uint8_t *put_head(uint8_t *p, uint8_t tag, uint64_t len)
{
	*p++ = tag;
	while (len >= 0x80) {
		*p++ = (uint8_t)(len | 0x80);
		len >>= 7;
	}
	*p++ = (uint8_t)len;
	return p;
}

/* The InstrumentationScope every ScopeSpans carries, packed into buf. */
static size_t pack_scope(uint8_t *buf, size_t size)
{
	pb_scope scope = scope_init;

	scope.name = OTLP_SCOPE_NAME;
	scope.version = SPANBPF_VERSION;
	if (protobuf_c_message_get_packed_size(&scope.base) > size)
		return 0;
	return protobuf_c_message_pack(&scope.base, buf);
}

int otlp_frame(struct otlp_span *const *spans, size_t n, uint8_t **out, size_t *out_len)
{
	alignas(max_align_t) char stack[4096];
	struct grouping g = { 0 };
	struct carve c;
	struct msgs m = { 0 };
	uint8_t scope[256], *buf, *p;
	size_t nkv = 0, ntext = 0, scope_len, total = 0, ss, rs;
	void *heap = NULL;
	int err;

	if (!out || !out_len || (n && !spans))
		return -EINVAL;
	if (n > OTLP_MAX_SPANS)
		return -E2BIG;
	for (size_t i = 0; i < n; i++) {
		if (!spans[i])
			return -EINVAL;
		if (spans[i]->resource && spans[i]->resource->nattrs > RESOURCE_MAX_ATTRS)
			return -EINVAL;
	}
	scope_len = pack_scope(scope, sizeof(scope));
	err = group_spans(spans, n, &g);
	if (err)
		return err;
	for (uint32_t i = 0; i < g.ngroups; i++) {
		if (!g.res[i])
			continue;
		nkv += g.res[i]->nattrs;
		ntext += attrs_text_len(g.res[i]->attrs, g.res[i]->nattrs);
	}
	err = arena_alloc(&c, &m, g.ngroups, nkv, ntext, stack, sizeof(stack), &heap);
	if (err)
		goto out;

	/* Sizes first: every length prefix is known before a byte is written. */
	for (uint32_t k = 0; k < g.ngroups; k++) {
		m.res[k] = resource_init;
		if (g.res[k])
			m.res[k].dropped_attributes_count =
				fill_attrs(&m, g.res[k]->attrs, g.res[k]->nattrs,
					   &m.res[k].n_attributes, &m.res[k].attributes);
		m.res_len[k] = protobuf_c_message_get_packed_size(&m.res[k].base);
		ss = field_len(scope_len);
		for (uint32_t j = 0; j < g.count[k]; j++)
			ss += field_len(spans[g.order[g.start[k] + j]]->len);
		rs = field_len(m.res_len[k]) + field_len(ss);
		total += field_len(rs);
	}
	buf = malloc(total ? total : 1);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	p = buf;
	for (uint32_t k = 0; k < g.ngroups; k++) {
		ss = field_len(scope_len);
		for (uint32_t j = 0; j < g.count[k]; j++)
			ss += field_len(spans[g.order[g.start[k] + j]]->len);
		rs = field_len(m.res_len[k]) + field_len(ss);
		p = put_head(p, TAG_FIELD1_LEN, rs);
		p = put_head(p, TAG_FIELD1_LEN, m.res_len[k]);
		p += protobuf_c_message_pack(&m.res[k].base, p);
		p = put_head(p, TAG_FIELD2_LEN, ss);
		p = put_head(p, TAG_FIELD1_LEN, scope_len);
		memcpy(p, scope, scope_len);
		p += scope_len;
		for (uint32_t j = 0; j < g.count[k]; j++) {
			const struct otlp_span *os = spans[g.order[g.start[k] + j]];

			p = put_head(p, TAG_FIELD2_LEN, os->len);
			memcpy(p, os->pb, os->len);
			p += os->len;
		}
	}
	*out = buf;
	*out_len = (size_t)(p - buf);
	err = 0;
out:
	free(heap);
	free(g.mem);
	return err;
}

int otlp_encode(struct span *const *spans, size_t n, uint8_t **out, size_t *out_len)
{
	struct otlp_span **enc;
	size_t done = 0;
	int err = 0;

	if (!out || !out_len || (n && !spans))
		return -EINVAL;
	if (n > OTLP_MAX_SPANS)
		return -E2BIG;
	enc = calloc(n ? n : 1, sizeof(*enc));
	if (!enc)
		return -ENOMEM;
	for (; done < n && !err; done++) {
		err = spans[done] ? otlp_span_encode(spans[done], &enc[done]) : -EINVAL;
		if (!err && spans[done]->resource &&
		    spans[done]->resource->nattrs > RESOURCE_MAX_ATTRS)
			err = -EINVAL;
	}
	if (!err)
		err = otlp_frame(enc, n, out, out_len);
	for (size_t i = 0; i < done; i++)
		otlp_span_free(enc[i]);
	free(enc);
	return err;
}

int otlp_decode_response(const uint8_t *buf, size_t len, int64_t *rejected, char *msg,
			 size_t msglen)
{
	static const uint8_t empty[1];
	pb_response *resp;
	const char *text = "";
	size_t tl;

	*rejected = 0;
	if (msglen)
		msg[0] = '\0';
	resp = (pb_response *)protobuf_c_message_unpack(&response_descriptor, NULL, len,
							buf ? buf : empty);
	if (!resp)
		return -EBADMSG;
	if (resp->partial_success) {
		if (resp->partial_success->rejected_spans > 0)
			*rejected = resp->partial_success->rejected_spans;
		if (resp->partial_success->error_message)
			text = resp->partial_success->error_message;
	}
	if (msglen) {
		tl = strnlen(text, msglen - 1);
		memcpy(msg, text, tl);
		msg[tl] = '\0';
	}
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return 0;
}

int otlp_gzip(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len)
{
	static const uint8_t empty[1];
	z_stream zs = { 0 };
	uint8_t *buf;
	uLong bound;
	int zr;

	if (len > UINT_MAX)
		return -E2BIG;
	/* windowBits 15 + 16: a gzip wrapper rather than zlib's. */
	/*
	 * Level 1: OTLP batches are repetitive (keys, ids, names) and shrink
	 * about as well as at the default level, for a third of the CPU.
	 */
	zr = deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
	if (zr == Z_MEM_ERROR)
		return -ENOMEM;
	if (zr != Z_OK)
		return -EIO;
	bound = deflateBound(&zs, (uLong)len);
	if (bound > UINT_MAX) {
		deflateEnd(&zs);
		return -E2BIG;
	}
	buf = malloc(bound);
	if (!buf) {
		deflateEnd(&zs);
		return -ENOMEM;
	}
	zs.next_in = (Bytef *)(len ? in : empty);
	zs.avail_in = (uInt)len;
	zs.next_out = buf;
	zs.avail_out = (uInt)bound;
	zr = deflate(&zs, Z_FINISH);
	if (zr != Z_STREAM_END) {
		deflateEnd(&zs);
		free(buf);
		return zr == Z_MEM_ERROR ? -ENOMEM : -EIO;
	}
	*out_len = zs.total_out;
	*out = buf;
	deflateEnd(&zs);
	return 0;
}
