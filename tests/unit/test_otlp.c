// SPDX-License-Identifier: Apache-2.0
/* Unit tests for otlp.c: encode, frame, decode back with protobuf-c, gzip, responses. */
#include <errno.h>
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
