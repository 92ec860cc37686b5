// SPDX-License-Identifier: Apache-2.0
/* Unit tests for otlp.c: encode, frame, decode back with protobuf-c, gzip, responses. */
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "otlp.h"
#include "span.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest pb_request;
typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse pb_response;
typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTracePartialSuccess pb_partial;
typedef Opentelemetry__Proto__Trace__V1__ResourceSpans pb_resource_spans;
typedef Opentelemetry__Proto__Trace__V1__Span pb_span;
typedef Opentelemetry__Proto__Common__V1__KeyValue pb_kv;

#define ANY(which) OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_##which
#define KIND(which) OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_##which
#define STATUS(which) OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_##which

static pb_request *unpack(const uint8_t *buf, size_t len)
{
	pb_request *req =
		opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
			NULL, len, buf);

	assert_non_null(req);
	return req;
}

static void unpack_free(pb_request *req)
{
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(
		req, NULL);
}

static struct span *mk_span(struct resource *res, uint8_t id, const char *name)
{
	struct span *s = span_new(512);

	assert_non_null(s);
	s->resource = resource_ref(res);
	for (int i = 0; i < 16; i++)
		s->trace_id[i] = (uint8_t)(0xa0 + i);
	for (int i = 0; i < 8; i++)
		s->span_id[i] = (uint8_t)(id + i);
	assert_int_equal(span_set_name(s, name), 0);
	return s;
}

static const pb_kv *find_kv(pb_kv **kvs, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(kvs[i]->key, key) == 0)
			return kvs[i];
	fail_msg("attribute %s missing", key);
	return NULL;
}

static void assert_str_attr(pb_kv **kvs, size_t n, const char *key, const char *val)
{
	const pb_kv *kv = find_kv(kvs, n, key);

	assert_int_equal(kv->value->value_case, ANY(STRING_VALUE));
	assert_string_equal(kv->value->string_value, val);
}

static void assert_int_attr(pb_kv **kvs, size_t n, const char *key, int64_t val)
{
	const pb_kv *kv = find_kv(kvs, n, key);

	assert_int_equal(kv->value->value_case, ANY(INT_VALUE));
	assert_int_equal(kv->value->int_value, val);
}

static void assert_scope(const pb_resource_spans *rs, size_t nspans)
{
	assert_int_equal(rs->n_scope_spans, 1);
	assert_non_null(rs->scope_spans[0]->scope);
	assert_string_equal(rs->scope_spans[0]->scope->name, "spanbpf");
	assert_string_equal(rs->scope_spans[0]->scope->version, SPANBPF_VERSION);
	assert_int_equal(rs->scope_spans[0]->n_spans, nspans);
}

/* Two resources, spans interleaved, every attribute type and span field. */
static void test_encode_fields(void **state)
{
	struct resource *ra = resource_new(100), *rb = resource_new(200);
	struct span *spans[3];
	pb_request *req;
	pb_resource_spans *rs;
	const pb_span *p;
	const pb_kv *kv;
	uint8_t *buf;
	size_t len;

	assert_non_null(ra);
	assert_non_null(rb);
	assert_int_equal(resource_add_str(ra, "service.name", "alpha"), 0);
	assert_int_equal(resource_add_int(ra, "process.pid", 100), 0);
	assert_int_equal(resource_add_str(rb, "service.name", "beta"), 0);

	spans[0] = mk_span(ra, 0x10, "GET /a");
	spans[0]->kind = SPAN_KIND_SERVER;
	spans[0]->has_parent = true;
	memcpy(spans[0]->parent_span_id, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	spans[0]->trace_flags = 0x301;	/* bits above the W3C byte must not leak */
	spans[0]->start_unix_ns = 1700000000123456789ull;
	spans[0]->end_unix_ns = 1700000000223456789ull;
	spans[0]->status = SPAN_STATUS_ERROR;
	spans[0]->status_message = arena_strndup(&spans[0]->arena, "boom", 4);
	assert_int_equal(span_add_str(spans[0], "http.request.method", "GET"), 0);
	assert_int_equal(span_add_int(spans[0], "http.response.status_code", 500), 0);
	assert_int_equal(span_add_int(spans[0], "neg", -42), 0);
	assert_int_equal(span_add_bool(spans[0], "flag.true", true), 0);
	assert_int_equal(span_add_bool(spans[0], "flag.false", false), 0);
	spans[0]->attrs[spans[0]->nattrs].key = "ratio";
	spans[0]->attrs[spans[0]->nattrs].type = ATTR_DOUBLE;
	spans[0]->attrs[spans[0]->nattrs].d = 0.25;
	spans[0]->nattrs++;

	spans[1] = mk_span(rb, 0x20, "POST");
	spans[1]->kind = SPAN_KIND_CLIENT;
	spans[1]->trace_flags = 0;
	spans[1]->start_unix_ns = 5;
	spans[1]->end_unix_ns = 6;
	spans[1]->status = SPAN_STATUS_OK;

	spans[2] = mk_span(ra, 0x30, "internal");
	spans[2]->kind = SPAN_KIND_INTERNAL;
	spans[2]->trace_flags = 1;

	assert_int_equal(otlp_encode(spans, 3, &buf, &len), 0);
	req = unpack(buf, len);

	/* Grouping: ra first (first seen), with spans 0 and 2 in order; then rb. */
	assert_int_equal(req->n_resource_spans, 2);
	rs = req->resource_spans[0];
	assert_non_null(rs->resource);
	assert_int_equal(rs->resource->n_attributes, 2);
	assert_str_attr(rs->resource->attributes, 2, "service.name", "alpha");
	assert_int_attr(rs->resource->attributes, 2, "process.pid", 100);
	assert_scope(rs, 2);

	p = rs->scope_spans[0]->spans[0];
	assert_int_equal(p->trace_id.len, 16);
	assert_memory_equal(p->trace_id.data, spans[0]->trace_id, 16);
	assert_int_equal(p->span_id.len, 8);
	assert_memory_equal(p->span_id.data, spans[0]->span_id, 8);
	assert_int_equal(p->parent_span_id.len, 8);
	assert_memory_equal(p->parent_span_id.data, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	assert_int_equal(p->flags, 0x01);
	assert_string_equal(p->name, "GET /a");
	assert_int_equal(p->kind, KIND(SERVER));
	assert_true(p->start_time_unix_nano == 1700000000123456789ull);
	assert_true(p->end_time_unix_nano == 1700000000223456789ull);
	assert_int_equal(p->n_attributes, 6);
	assert_int_equal(p->dropped_attributes_count, 0);
	assert_str_attr(p->attributes, p->n_attributes, "http.request.method", "GET");
	assert_int_attr(p->attributes, p->n_attributes, "http.response.status_code", 500);
	assert_int_attr(p->attributes, p->n_attributes, "neg", -42);
	kv = find_kv(p->attributes, p->n_attributes, "flag.true");
	assert_int_equal(kv->value->value_case, ANY(BOOL_VALUE));
	assert_true(kv->value->bool_value);
	kv = find_kv(p->attributes, p->n_attributes, "flag.false");
	assert_int_equal(kv->value->value_case, ANY(BOOL_VALUE));
	assert_false(kv->value->bool_value);
	kv = find_kv(p->attributes, p->n_attributes, "ratio");
	assert_int_equal(kv->value->value_case, ANY(DOUBLE_VALUE));
	assert_true(kv->value->double_value == 0.25);
	assert_non_null(p->status);
	assert_int_equal(p->status->code, STATUS(ERROR));
	assert_string_equal(p->status->message, "boom");
	assert_int_equal(p->n_events, 0);
	assert_int_equal(p->n_links, 0);

	p = rs->scope_spans[0]->spans[1];
	assert_memory_equal(p->span_id.data, spans[2]->span_id, 8);
	assert_string_equal(p->name, "internal");
	assert_int_equal(p->kind, KIND(INTERNAL));
	assert_int_equal(p->parent_span_id.len, 0);
	assert_int_equal(p->flags, 1);
	assert_null(p->status);	/* unset and no message: the field is left out */

	rs = req->resource_spans[1];
	assert_int_equal(rs->resource->n_attributes, 1);
	assert_str_attr(rs->resource->attributes, 1, "service.name", "beta");
	assert_scope(rs, 1);
	p = rs->scope_spans[0]->spans[0];
	assert_memory_equal(p->span_id.data, spans[1]->span_id, 8);
	assert_string_equal(p->name, "POST");
	assert_int_equal(p->kind, KIND(CLIENT));
	assert_int_equal(p->parent_span_id.len, 0);
	assert_int_equal(p->flags, 0);
	assert_true(p->start_time_unix_nano == 5 && p->end_time_unix_nano == 6);
	assert_int_equal(p->n_attributes, 0);
	assert_non_null(p->status);
	assert_int_equal(p->status->code, STATUS(OK));

	unpack_free(req);
	free(buf);
	for (int i = 0; i < 3; i++)
		span_free(spans[i]);
	resource_unref(ra);
	resource_unref(rb);
}

/* Spans without a resource share one ResourceSpans with an empty resource. */
static void test_encode_null_resource(void **state)
{
	struct span *spans[2] = { mk_span(NULL, 1, "a"), mk_span(NULL, 2, "b") };
	pb_request *req;
	uint8_t *buf;
	size_t len;

	assert_int_equal(otlp_encode(spans, 2, &buf, &len), 0);
	req = unpack(buf, len);
	assert_int_equal(req->n_resource_spans, 1);
	assert_int_equal(req->resource_spans[0]->scope_spans[0]->n_spans, 2);
	if (req->resource_spans[0]->resource)
		assert_int_equal(req->resource_spans[0]->resource->n_attributes, 0);
	unpack_free(req);
	free(buf);
	span_free(spans[0]);
	span_free(spans[1]);
}

/* Bad UTF-8 becomes U+FFFD per byte; good multibyte text passes unchanged. */
static void test_encode_utf8(void **state)
{
	struct resource *res = resource_new(1);
	struct span *s;
	pb_request *req;
	const pb_span *p;
	uint8_t *buf;
	size_t len;

	assert_int_equal(resource_add_str(res, "k\xff", "v\xc0\xaf"), 0);
	s = mk_span(res, 1, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	assert_int_equal(span_add_str(s, "bad", "a\x80z\xed\xa0\x80"), 0);
	assert_int_equal(span_add_str(s, "cut", "x\xe2\x82"), 0);
	s->status_message = arena_strndup(&s->arena, "\xfe", 1);
	s->status = SPAN_STATUS_ERROR;

	assert_int_equal(otlp_encode(&s, 1, &buf, &len), 0);
	req = unpack(buf, len);
	p = req->resource_spans[0]->scope_spans[0]->spans[0];
	assert_string_equal(p->name, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	assert_str_attr(p->attributes, 2, "bad",
			"a\xef\xbf\xbdz\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	assert_str_attr(p->attributes, 2, "cut", "x\xef\xbf\xbd\xef\xbf\xbd");
	assert_string_equal(p->status->message, "\xef\xbf\xbd");
	assert_str_attr(req->resource_spans[0]->resource->attributes, 1, "k\xef\xbf\xbd",
			"v\xef\xbf\xbd\xef\xbf\xbd");
	unpack_free(req);
	free(buf);
	span_free(s);
	resource_unref(res);
}

static void test_encode_empty(void **state)
{
	pb_request *req;
	uint8_t *buf = NULL;
	size_t len = 99;

	assert_int_equal(otlp_encode(NULL, 0, &buf, &len), 0);
	assert_non_null(buf);
	assert_int_equal(len, 0);
	req = unpack(buf, len);
	assert_int_equal(req->n_resource_spans, 0);
	unpack_free(req);
	free(buf);
}

/* Full attribute arrays, unknown types, bad arguments, the span limit. */
static void test_encode_limits(void **state)
{
	struct resource *res = resource_new(7);
	struct span **many, *s;
	pb_request *req;
	const pb_span *p;
	uint8_t *buf;
	size_t len;
	char key[32];

	for (int i = 0; i < RESOURCE_MAX_ATTRS; i++) {
		snprintf(key, sizeof(key), "r%d", i);
		assert_int_equal(resource_add_int(res, key, i), 0);
	}
	assert_int_equal(resource_add_int(res, "one.too.many", 1), -1);
	s = mk_span(res, 1, "full");
	for (int i = 0; i < SPAN_MAX_ATTRS; i++)
		assert_int_equal(span_add_int(s, "a", i), 0);
	assert_int_equal(span_add_int(s, "b", 0), -1);
	s->attrs[3].type = 77;	/* unknown: left out and counted */

	assert_int_equal(otlp_encode(&s, 1, &buf, &len), 0);
	req = unpack(buf, len);
	assert_int_equal(req->resource_spans[0]->resource->n_attributes, RESOURCE_MAX_ATTRS);
	p = req->resource_spans[0]->scope_spans[0]->spans[0];
	assert_int_equal(p->n_attributes, SPAN_MAX_ATTRS - 1);
	assert_int_equal(p->dropped_attributes_count, 1);
	assert_int_equal(p->attributes[3]->value->int_value, 4);
	unpack_free(req);
	free(buf);

	s->nattrs = SPAN_MAX_ATTRS + 1;
	assert_int_equal(otlp_encode(&s, 1, &buf, &len), -EINVAL);
	s->nattrs = SPAN_MAX_ATTRS;
	assert_int_equal(otlp_encode(&s, 1, NULL, &len), -EINVAL);
	assert_int_equal(otlp_encode(NULL, 1, &buf, &len), -EINVAL);

	many = calloc(OTLP_MAX_SPANS + 1, sizeof(*many));
	assert_non_null(many);
	many[0] = s;
	assert_int_equal(otlp_encode(many, 1, &buf, &len), 0);
	free(buf);
	assert_int_equal(otlp_encode(many, 2, &buf, &len), -EINVAL);	/* NULL span */
	assert_int_equal(otlp_encode(many, OTLP_MAX_SPANS + 1, &buf, &len), -E2BIG);
	free(many);
	span_free(s);
	resource_unref(res);
}

/* Many resources: grouping keeps first-seen order and every span exactly once. */
static void test_encode_many_resources(void **state)
{
	enum { NRES = 300, NSPANS = 3000 };
	struct resource *res[NRES];
	struct span *spans[NSPANS];
	pb_request *req;
	uint8_t *buf;
	size_t len;

	for (int i = 0; i < NRES; i++) {
		res[i] = resource_new((uint32_t)i);
		assert_non_null(res[i]);
		assert_int_equal(resource_add_int(res[i], "process.pid", i), 0);
	}
	for (int i = 0; i < NSPANS; i++) {
		spans[i] = mk_span(res[(i * 7) % NRES], 0, "s");
		memcpy(spans[i]->span_id, &i, sizeof(i));
	}
	assert_int_equal(otlp_encode(spans, NSPANS, &buf, &len), 0);
	req = unpack(buf, len);
	assert_int_equal(req->n_resource_spans, NRES);
	for (int g = 0; g < NRES; g++) {
		const pb_resource_spans *rs = req->resource_spans[g];
		int pid = (int)rs->resource->attributes[0]->value->int_value;

		/* First seen order: span g has resource (g * 7) % NRES. */
		assert_int_equal(pid, (g * 7) % NRES);
		assert_int_equal(rs->scope_spans[0]->n_spans, NSPANS / NRES);
		for (size_t k = 0; k < rs->scope_spans[0]->n_spans; k++) {
			int idx;

			memcpy(&idx, rs->scope_spans[0]->spans[k]->span_id.data, sizeof(idx));
			assert_int_equal((idx * 7) % NRES, pid);
			assert_int_equal(idx, g + (int)k * NRES);
		}
	}
	unpack_free(req);
	free(buf);
	for (int i = 0; i < NSPANS; i++)
		span_free(spans[i]);
	for (int i = 0; i < NRES; i++)
		resource_unref(res[i]);
}

static void inflate_all(const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
	z_stream zs = { 0 };

	assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK);
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)len;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
	*out_len = zs.total_out;
	inflateEnd(&zs);
}

static void test_gzip_roundtrip(void **state)
{
	struct resource *res = resource_new(1);
	struct span *spans[50];
	uint8_t *pb, *gz, *back;
	size_t len, gzlen, backlen;
	pb_request *req;

	assert_int_equal(resource_add_str(res, "service.name", "gz"), 0);
	for (int i = 0; i < 50; i++) {
		spans[i] = mk_span(res, (uint8_t)i, "GET /same/path/again");
		assert_int_equal(span_add_str(spans[i], "url.path", "/same/path/again"), 0);
	}
	assert_int_equal(otlp_encode(spans, 50, &pb, &len), 0);
	assert_int_equal(otlp_gzip(pb, len, &gz, &gzlen), 0);
	assert_true(gzlen < len);
	assert_int_equal(gz[0], 0x1f);	/* gzip magic */
	assert_int_equal(gz[1], 0x8b);
	back = malloc(len + 1);
	assert_non_null(back);
	inflate_all(gz, gzlen, back, len + 1, &backlen);
	assert_int_equal(backlen, len);
	assert_memory_equal(back, pb, len);
	req = unpack(back, backlen);
	assert_int_equal(req->resource_spans[0]->scope_spans[0]->n_spans, 50);
	unpack_free(req);
	free(back);
	free(gz);

	/* Empty input is a valid (tiny) gzip stream. */
	assert_int_equal(otlp_gzip(NULL, 0, &gz, &gzlen), 0);
	back = malloc(1);
	inflate_all(gz, gzlen, back, 1, &backlen);
	assert_int_equal(backlen, 0);
	free(back);
	free(gz);
	free(pb);
	for (int i = 0; i < 50; i++)
		span_free(spans[i]);
	resource_unref(res);
}

static size_t pack_response(int64_t rejected, const char *msg, bool with_partial, uint8_t *buf)
{
	pb_response resp =
		OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_RESPONSE__INIT;
	pb_partial ps =
		OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_PARTIAL_SUCCESS__INIT;

	ps.rejected_spans = rejected;
	ps.error_message = (char *)msg;
	if (with_partial)
		resp.partial_success = &ps;
	return protobuf_c_message_pack(&resp.base, buf);
}

static void test_decode_response(void **state)
{
	static const uint8_t garbage[] = { 0x0a, 0x7f, 0x01 };	/* length past the end */
	uint8_t buf[256];
	char msg[64], small[5];
	int64_t rejected = -1;
	size_t len;

	len = pack_response(3, "3 spans had no name", true, buf);
	assert_int_equal(otlp_decode_response(buf, len, &rejected, msg, sizeof(msg)), 0);
	assert_int_equal(rejected, 3);
	assert_string_equal(msg, "3 spans had no name");

	assert_int_equal(otlp_decode_response(buf, len, &rejected, small, sizeof(small)), 0);
	assert_string_equal(small, "3 sp");
	assert_int_equal(otlp_decode_response(buf, len, &rejected, NULL, 0), 0);
	assert_int_equal(rejected, 3);

	len = pack_response(0, "just a warning", true, buf);
	assert_int_equal(otlp_decode_response(buf, len, &rejected, msg, sizeof(msg)), 0);
	assert_int_equal(rejected, 0);
	assert_string_equal(msg, "just a warning");

	len = pack_response(-5, "", true, buf);
	assert_int_equal(otlp_decode_response(buf, len, &rejected, msg, sizeof(msg)), 0);
	assert_int_equal(rejected, 0);

	len = pack_response(9, "x", false, buf);
	assert_int_equal(otlp_decode_response(buf, len, &rejected, msg, sizeof(msg)), 0);
	assert_int_equal(rejected, 0);
	assert_string_equal(msg, "");

	assert_int_equal(otlp_decode_response(NULL, 0, &rejected, msg, sizeof(msg)), 0);
	assert_int_equal(rejected, 0);
	assert_int_equal(otlp_decode_response(garbage, sizeof(garbage), &rejected, msg,
					      sizeof(msg)), -EBADMSG);
	assert_int_equal(otlp_decode_response((const uint8_t *)"<html>oops</html>", 17, &rejected,
					      msg, sizeof(msg)), -EBADMSG);
}

/*
 * The hand-written framing is byte for byte what protobuf-c packs for the
 * same message: unpack and pack again, compare.
 */
static void test_frame_is_canonical(void **state)
{
	enum { N = 700 };
	struct resource *res[3] = { resource_new(1), resource_new(2), NULL };
	struct otlp_span *enc[N];
	struct span *s;
	pb_request *req;
	uint8_t *buf, *again;
	size_t len, len2, nspans = 0;
	char name[256];

	assert_int_equal(resource_add_str(res[0], "service.name", "one"), 0);
	assert_int_equal(resource_add_str(res[1], "service.name", "tw\xffo"), 0);
	for (int i = 0; i < N; i++) {
		/* Name lengths cross 127: two-byte length prefixes. */
		snprintf(name, sizeof(name), "GET /%0*d", i % 200, i);
		s = mk_span(res[i % 3], (uint8_t)i, name);
		s->kind = SPAN_KIND_SERVER;
		if (i % 2)
			assert_int_equal(span_add_str(s, "url.path", name + 4), 0);
		assert_int_equal(otlp_span_encode(s, &enc[i]), 0);
		assert_ptr_equal(enc[i]->resource, res[i % 3]);
		span_free(s);
	}
	/* The span holds its own reference: the resource outlives our ones. */
	assert_int_equal(atomic_load(&res[0]->refs), 1 + (N + 2) / 3);

	assert_int_equal(otlp_frame(enc, N, &buf, &len), 0);
	req = unpack(buf, len);
	assert_int_equal(req->n_resource_spans, 3);
	for (size_t i = 0; i < req->n_resource_spans; i++) {
		size_t k = req->resource_spans[i]->scope_spans[0]->n_spans;

		assert_scope(req->resource_spans[i], k);
		nspans += k;
	}
	assert_int_equal(nspans, N);
	assert_string_equal(req->resource_spans[1]->resource->attributes[0]->value->string_value,
			    "tw\xef\xbf\xbdo");
	assert_int_equal(req->resource_spans[2]->resource->n_attributes, 0);
	len2 = protobuf_c_message_get_packed_size(&req->base);
	assert_int_equal(len2, len);
	again = malloc(len2);
	assert_non_null(again);
	protobuf_c_message_pack(&req->base, again);
	assert_memory_equal(again, buf, len);
	free(again);
	unpack_free(req);
	free(buf);

	/* Each span exactly as a one-span request would carry it. */
	for (int i = 0; i < 3; i++) {
		pb_span *p;

		assert_int_equal(otlp_frame(&enc[i], 1, &buf, &len), 0);
		req = unpack(buf, len);
		p = req->resource_spans[0]->scope_spans[0]->spans[0];
		assert_int_equal(protobuf_c_message_get_packed_size(&p->base), enc[i]->len);
		unpack_free(req);
		free(buf);
	}
	for (int i = 0; i < N; i++)
		otlp_span_free(enc[i]);
	otlp_span_free(NULL);
	resource_unref(res[0]);
	resource_unref(res[1]);
}

static void test_frame_errors(void **state)
{
	struct resource *res = resource_new(1);
	struct otlp_span *os, *many[2];
	struct span *s = mk_span(res, 1, "x");
	uint8_t *buf;
	size_t len;

	assert_int_equal(otlp_span_encode(NULL, &os), -EINVAL);
	assert_int_equal(otlp_span_encode(s, NULL), -EINVAL);
	s->nattrs = SPAN_MAX_ATTRS + 1;
	assert_int_equal(otlp_span_encode(s, &os), -EINVAL);
	s->nattrs = 0;
	assert_int_equal(otlp_span_encode(s, &os), 0);
	/* A few dozen bytes: ids, name, times, kind, flags. */
	assert_true(os->len > 30 && os->len < 80);

	many[0] = os;
	many[1] = NULL;
	assert_int_equal(otlp_frame(many, 2, &buf, &len), -EINVAL);
	assert_int_equal(otlp_frame(NULL, 1, &buf, &len), -EINVAL);
	assert_int_equal(otlp_frame(many, 1, NULL, &len), -EINVAL);
	assert_int_equal(otlp_frame(many, OTLP_MAX_SPANS + 1, &buf, &len), -E2BIG);
	res->nattrs = RESOURCE_MAX_ATTRS + 1;
	assert_int_equal(otlp_frame(many, 1, &buf, &len), -EINVAL);
	res->nattrs = 0;
	assert_int_equal(otlp_frame(many, 0, &buf, &len), 0);
	assert_int_equal(len, 0);
	free(buf);
	otlp_span_free(os);
	span_free(s);
	resource_unref(res);
}

/* A span too large for the stack arena is encoded from a heap one, the same way. */
static void test_encode_large_span(void **state)
{
	struct span *s = span_new(200000);
	struct otlp_span *os;
	char *big = malloc(60000);
	pb_request *req;
	const pb_span *p;
	uint8_t *buf;
	size_t len;

	assert_non_null(s);
	assert_non_null(big);
	memset(big, 0xff, 59999);	/* every byte needs U+FFFD: 3x the text */
	big[59999] = '\0';
	assert_int_equal(span_set_name(s, "big"), 0);
	assert_int_equal(span_add_str(s, "bad", big), 0);
	for (int i = 1; i < SPAN_MAX_ATTRS; i++)
		assert_int_equal(span_add_int(s, "n", i), 0);
	assert_int_equal(otlp_span_encode(s, &os), 0);
	assert_int_equal(otlp_frame(&os, 1, &buf, &len), 0);
	req = unpack(buf, len);
	p = req->resource_spans[0]->scope_spans[0]->spans[0];
	assert_int_equal(p->n_attributes, SPAN_MAX_ATTRS);
	assert_int_equal(strlen(p->attributes[0]->value->string_value), 3 * 59999);
	unpack_free(req);
	free(buf);
	otlp_span_free(os);
	span_free(s);
	free(big);
}

/* ---- the hand-written span encoder against protobuf-c -------------------- */

typedef Opentelemetry__Proto__Trace__V1__Status pb_status;
typedef Opentelemetry__Proto__Common__V1__AnyValue pb_any;

/*
 * The reference: a span built into protobuf-c structs and packed the way
 * otlp_span_encode() did before it wrote spans by hand, with that version's
 * UTF-8 repair (one U+FFFD per byte of a bad sequence), frozen here.
 */
static size_t ref_utf8_seq(const unsigned char *p)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return (p[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
		return p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 ? 3 : 0;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
		return p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 &&
		       (p[3] & 0xc0) == 0x80 ? 4 : 0;
	}
	return 0;
}

/* Strings the reference had to repair, freed by ref_pack(). */
struct ref_text {
	char *s[2 + 2 * SPAN_MAX_ATTRS];
	size_t n;
};

/* s as the old builder handed it to protobuf-c: never NULL, repaired when bad. */
static char *ref_str(struct ref_text *t, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t k;
	char *out, *d;

	if (!s)
		return "";
	for (; *p; p += k) {
		k = ref_utf8_seq(p);
		if (!k)
			break;
	}
	if (!*p)
		return (char *)s;
	out = malloc(3 * strlen(s) + 1);
	assert_non_null(out);
	for (p = (const unsigned char *)s, d = out; *p; p += k) {
		k = ref_utf8_seq(p);
		if (k) {
			memcpy(d, p, k);
			d += k;
		} else {
			memcpy(d, "\xef\xbf\xbd", 3);
			d += 3;
			k = 1;
		}
	}
	*d = '\0';
	t->s[t->n++] = out;
	return out;
}

/* protobuf-c's packing of s, built as the old otlp_span_encode() built it; free() it. */
static uint8_t *ref_pack(const struct span *s, size_t *len)
{
	pb_span ps = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__INIT;
	pb_status st = OPENTELEMETRY__PROTO__TRACE__V1__STATUS__INIT;
	pb_kv kv[SPAN_MAX_ATTRS], *kvp[SPAN_MAX_ATTRS];
	pb_any any[SPAN_MAX_ATTRS];
	struct ref_text t = { .n = 0 };
	uint8_t *buf;

	ps.trace_id.data = (uint8_t *)s->trace_id;
	ps.trace_id.len = sizeof(s->trace_id);
	ps.span_id.data = (uint8_t *)s->span_id;
	ps.span_id.len = sizeof(s->span_id);
	if (s->has_parent) {
		ps.parent_span_id.data = (uint8_t *)s->parent_span_id;
		ps.parent_span_id.len = sizeof(s->parent_span_id);
	}
	ps.flags = s->trace_flags & 0xff;
	ps.name = ref_str(&t, s->name);
	ps.kind = (Opentelemetry__Proto__Trace__V1__Span__SpanKind)s->kind;
	ps.start_time_unix_nano = s->start_unix_ns;
	ps.end_time_unix_nano = s->end_unix_ns;
	for (size_t i = 0; i < s->nattrs; i++) {
		const struct attr *a = &s->attrs[i];
		pb_any *v = &any[ps.n_attributes];

		opentelemetry__proto__common__v1__any_value__init(v);
		switch (a->type) {
		case ATTR_STRING:
			v->value_case = ANY(STRING_VALUE);
			v->string_value = ref_str(&t, a->s);
			break;
		case ATTR_INT:
			v->value_case = ANY(INT_VALUE);
			v->int_value = a->i;
			break;
		case ATTR_BOOL:
			v->value_case = ANY(BOOL_VALUE);
			v->bool_value = a->b;
			break;
		case ATTR_DOUBLE:
			v->value_case = ANY(DOUBLE_VALUE);
			v->double_value = a->d;
			break;
		default:
			ps.dropped_attributes_count++;
			continue;
		}
		opentelemetry__proto__common__v1__key_value__init(&kv[ps.n_attributes]);
		kv[ps.n_attributes].key = ref_str(&t, a->key);
		kv[ps.n_attributes].value = v;
		kvp[ps.n_attributes] = &kv[ps.n_attributes];
		ps.n_attributes++;
	}
	ps.attributes = kvp;
	if (s->status != SPAN_STATUS_UNSET || (s->status_message && *s->status_message)) {
		st.code = (Opentelemetry__Proto__Trace__V1__Status__StatusCode)s->status;
		st.message = ref_str(&t, s->status_message);
		ps.status = &st;
	}
	*len = protobuf_c_message_get_packed_size(&ps.base);
	buf = malloc(*len ? *len : 1);
	assert_non_null(buf);
	assert_int_equal(protobuf_c_message_pack(&ps.base, buf), *len);
	for (size_t i = 0; i < t.n; i++)
		free(t.s[i]);
	return buf;
}

/* otlp_span_encode(s) is byte for byte protobuf-c's packing; returns the length. */
static size_t assert_encodes_like_protobuf_c(const struct span *s)
{
	struct otlp_span *os;
	uint8_t *ref;
	size_t len;

	ref = ref_pack(s, &len);
	assert_int_equal(otlp_span_encode(s, &os), 0);
	assert_int_equal(os->len, len);
	assert_memory_equal(os->pb, ref, len);
	otlp_span_free(os);
	free(ref);
	return len;
}

static void add_attr(struct span *s, const char *key, uint8_t type)
{
	assert_true(s->nattrs < SPAN_MAX_ATTRS);
	s->attrs[s->nattrs].key = key;
	s->attrs[s->nattrs].type = type;
	s->attrs[s->nattrs].i = 0;
	s->nattrs++;
}

/* Hand-made spans: every field, type and edge the encoder has a branch for. */
static void test_span_encoder_cases(void **state)
{
	static const int64_t ints[] = { 0, 1, -1, 127, 128, -42, 16383, 16384, INT64_MAX,
					INT64_MIN, (int64_t)1 << 35, -((int64_t)1 << 35) };
	static const double dbls[] = { 0.0, -0.0, 0.25, -1e300, INFINITY, NAN };
	static const char *const strs[] = {
		"", "GET", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "a\x80z\xed\xa0\x80",
		"x\xe2\x82", "\xfe", "\xc0\xaf", "\xf4\x90\x80\x80", "\xe0\x80\x80",
	};
	static const size_t longs[] = { 127, 128, 16383, 16384, 20000, 2097152 };
	static const uint32_t flags[] = { 0, 1, 0xff, 0x100, 0x301, 0xffffffff };
	struct resource *res = resource_new(1);
	struct span *s = span_new(0);
	char *big = malloc(2097153), *bad = malloc(20001);
	struct otlp_span *os;
	size_t n = 0;

	assert_non_null(s);
	assert_non_null(big);
	assert_non_null(bad);
	s->resource = resource_ref(res);
	for (int i = 0; i < 16; i++)
		s->trace_id[i] = (uint8_t)(0xa0 + i);
	for (int i = 0; i < 8; i++)
		s->span_id[i] = (uint8_t)(0x10 + i);

	/* Nothing set at all: ids only. */
	n += assert_encodes_like_protobuf_c(s);
	s->name = "";
	n += assert_encodes_like_protobuf_c(s);

	for (int parent = 0; parent < 2; parent++) {
		s->has_parent = parent;
		memcpy(s->parent_span_id, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
		for (int kind = 0; kind <= 4; kind++) {
			s->kind = (uint8_t)(kind == 4 ? 200 : kind);	/* 200: a two-byte varint */
			for (size_t f = 0; f < sizeof(flags) / sizeof(flags[0]); f++) {
				s->trace_flags = flags[f];
				s->start_unix_ns = f % 2 ? 1700000000123456789ull : 0;
				s->end_unix_ns = f % 3 ? UINT64_MAX : 0;
				s->name = strs[f % (sizeof(strs) / sizeof(strs[0]))];
				n += assert_encodes_like_protobuf_c(s);
			}
		}
	}

	/* Every status with every message. */
	for (int code = 0; code <= 3; code++) {
		s->status = (uint8_t)(code == 3 ? 250 : code);
		s->status_message = NULL;
		n += assert_encodes_like_protobuf_c(s);
		for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
			s->status_message = strs[i];
			n += assert_encodes_like_protobuf_c(s);
		}
	}

	/* Every attribute type and value, one per span and all together. */
	s->status = SPAN_STATUS_ERROR;
	s->status_message = "boom";
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		s->nattrs = 0;
		add_attr(s, "n", ATTR_INT);
		s->attrs[0].i = ints[i];
		n += assert_encodes_like_protobuf_c(s);
	}
	for (size_t i = 0; i < sizeof(dbls) / sizeof(dbls[0]); i++) {
		s->nattrs = 0;
		add_attr(s, "d", ATTR_DOUBLE);
		s->attrs[0].d = dbls[i];
		n += assert_encodes_like_protobuf_c(s);
	}
	for (int b = 0; b < 2; b++) {
		s->nattrs = 0;
		add_attr(s, "b", ATTR_BOOL);
		s->attrs[0].b = b;
		n += assert_encodes_like_protobuf_c(s);
	}
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		for (size_t k = 0; k < sizeof(strs) / sizeof(strs[0]); k++) {
			s->nattrs = 0;
			add_attr(s, strs[k], ATTR_STRING);
			s->attrs[0].s = strs[i];
			n += assert_encodes_like_protobuf_c(s);
		}
	}
	/* NULL key and NULL string value; unknown types, alone and among others. */
	s->nattrs = 0;
	add_attr(s, NULL, ATTR_STRING);
	s->attrs[0].s = NULL;
	n += assert_encodes_like_protobuf_c(s);
	s->nattrs = 0;
	add_attr(s, "u", 4);
	n += assert_encodes_like_protobuf_c(s);
	add_attr(s, "s", ATTR_STRING);
	s->attrs[1].s = "v";
	add_attr(s, "u2", 255);
	n += assert_encodes_like_protobuf_c(s);

	/* Long strings: two-, three- and four-byte length prefixes, nested three deep. */
	memset(bad, 0xff, 20000);	/* 60000 bytes once repaired */
	bad[20000] = '\0';
	for (size_t i = 0; i < sizeof(longs) / sizeof(longs[0]); i++) {
		memset(big, 'x', longs[i]);
		big[longs[i]] = '\0';
		s->nattrs = 0;
		add_attr(s, big, ATTR_STRING);
		s->attrs[0].s = big;
		s->name = big;
		s->status_message = big;
		n += assert_encodes_like_protobuf_c(s);
		s->attrs[0].s = bad;
		s->status_message = bad;
		n += assert_encodes_like_protobuf_c(s);
	}

	/* SPAN_MAX_ATTRS of every type, then with every fourth one unknown. */
	s->name = "full";
	s->nattrs = 0;
	for (int i = 0; i < SPAN_MAX_ATTRS; i++) {
		add_attr(s, strs[i % 4 + 1], (uint8_t)(i % 4));
		if (i % 4 == ATTR_STRING)
			s->attrs[i].s = strs[i % (sizeof(strs) / sizeof(strs[0]))];
		else if (i % 4 == ATTR_INT)
			s->attrs[i].i = -i * 1000003;
		else if (i % 4 == ATTR_BOOL)
			s->attrs[i].b = i & 1;
		else
			s->attrs[i].d = i / 3.0;
	}
	n += assert_encodes_like_protobuf_c(s);
	for (int i = 0; i < SPAN_MAX_ATTRS; i += 4)
		s->attrs[i].type = 9;
	n += assert_encodes_like_protobuf_c(s);
	for (int i = 0; i < SPAN_MAX_ATTRS; i++)
		s->attrs[i].type = 200;	/* all dropped: count only */
	n += assert_encodes_like_protobuf_c(s);
	assert_true(n > 0);

	/* Over 16 MiB once repaired: one string alone, or several together. */
	big = realloc(big, 6000001);
	assert_non_null(big);
	memset(big, 0xff, 6000000);
	big[6000000] = '\0';
	s->nattrs = 0;
	s->name = big;
	s->status_message = NULL;
	assert_int_equal(otlp_span_encode(s, &os), -E2BIG);
	big[2000000] = '\0';
	s->status_message = big;
	assert_int_equal(otlp_span_encode(s, &os), 0);
	otlp_span_free(os);
	add_attr(s, "v", ATTR_STRING);
	s->attrs[0].s = big;
	assert_int_equal(otlp_span_encode(s, &os), -E2BIG);

	span_free(s);
	resource_unref(res);
	free(big);
	free(bad);
}

static uint64_t rnd_state;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

/* A random string in *pool: ASCII, good and bad UTF-8, lengths across varint sizes. */
static const char *rnd_str(char **pool)
{
	static const char *const pieces[] = { "a", "/", "\xc3\xa9", "\xe2\x82\xac",
					      "\xf0\x9f\x98\x80", "\x80", "\xff", "\xe2\x82",
					      "\xed\xa0\x80", "\xf4\x90", " " };
	size_t len, r = rnd() % 100;
	char *s = *pool, *p = s;

	if (r < 3)
		return NULL;
	len = r < 10 ? 0 : r < 80 ? rnd() % 40 : r < 97 ? 100 + rnd() % 200 : 16000 + rnd() % 800;
	while ((size_t)(p - s) < len) {
		const char *piece = pieces[rnd() % (sizeof(pieces) / sizeof(pieces[0]))];

		if (rnd() % 4)
			piece = "abcdefghij";
		memcpy(p, piece, strlen(piece));
		p += strlen(piece);
	}
	*p++ = '\0';
	*pool = p;
	return s;
}

/* Seeded random spans: the encoder against protobuf-c, 20000 of them. */
static void test_span_encoder_random(void **state)
{
	enum { NSPANS = 20000, POOL = (2 + 2 * SPAN_MAX_ATTRS) * 17000 };
	struct span *s = span_new(0);
	char *pool = malloc(POOL), *p;
	size_t total = 0;

	assert_non_null(s);
	assert_non_null(pool);
	rnd_state = 0x9e3779b97f4a7c15ull;
	for (int n = 0; n < NSPANS; n++) {
		p = pool;
		for (int i = 0; i < 16; i++)
			s->trace_id[i] = (uint8_t)rnd();
		for (int i = 0; i < 8; i++) {
			s->span_id[i] = (uint8_t)rnd();
			s->parent_span_id[i] = (uint8_t)rnd();
		}
		s->has_parent = rnd() % 2;
		s->kind = (uint8_t)(rnd() % 8 ? rnd() % 4 : rnd());
		s->status = (uint8_t)(rnd() % 8 ? rnd() % 3 : rnd());
		s->trace_flags = (uint32_t)(rnd() % 3 ? rnd() % 2 : rnd());
		s->start_unix_ns = rnd() % 5 ? rnd() : 0;
		s->end_unix_ns = rnd() % 5 ? rnd() : 0;
		s->name = rnd_str(&p);
		s->status_message = rnd() % 2 ? rnd_str(&p) : NULL;
		s->nattrs = rnd() % 10 ? rnd() % 12 : rnd() % (SPAN_MAX_ATTRS + 1);
		for (size_t i = 0; i < s->nattrs; i++) {
			struct attr *a = &s->attrs[i];

			a->key = rnd_str(&p);
			a->type = (uint8_t)(rnd() % 20 ? rnd() % 4 : rnd());
			switch (a->type) {
			case ATTR_STRING:
				a->s = rnd_str(&p);
				break;
			case ATTR_INT:
				a->i = (int64_t)(rnd() >> (rnd() % 64));
				break;
			case ATTR_BOOL:
				a->b = rnd() % 2;
				break;
			default:
				a->i = (int64_t)rnd();	/* doubles: any bits, NaNs included */
				break;
			}
		}
		assert_true((size_t)(p - pool) <= POOL);
		total += assert_encodes_like_protobuf_c(s);
	}
	assert_true(total > NSPANS * 30);
	span_free(s);
	free(pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_fields),
		cmocka_unit_test(test_encode_null_resource),
		cmocka_unit_test(test_encode_utf8),
		cmocka_unit_test(test_encode_empty),
		cmocka_unit_test(test_encode_limits),
		cmocka_unit_test(test_encode_many_resources),
		cmocka_unit_test(test_gzip_roundtrip),
		cmocka_unit_test(test_decode_response),
		cmocka_unit_test(test_frame_is_canonical),
		cmocka_unit_test(test_frame_errors),
		cmocka_unit_test(test_encode_large_span),
		cmocka_unit_test(test_span_encoder_cases),
		cmocka_unit_test(test_span_encoder_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
