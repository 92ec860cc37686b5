// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_otlp.c - OTLP span encoding (agent/otlp.c) of a span and resource
 * built from fuzz bytes, decoded back with protobuf-c's generated decoder.
 * Checks: the request decodes, every string is valid UTF-8 and equals its
 * input after repair (utf8_sanitize()), other values and ids are equal.
 *
 * Input: records of [type][length][bytes]; the first two are the span name
 * and status message, then attributes (type selects string, int, bool,
 * double; span or resource), each record's bytes split into key and value
 * at the first '='.
 */
#include <string.h>

#include "fuzz.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "otlp.h"
#include "span.h"
#include "utf8.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest pb_request;
typedef Opentelemetry__Proto__Common__V1__KeyValue pb_kv;

#define ANY(which) OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_##which
#define MAX_RECORDS (SPAN_MAX_ATTRS + RESOURCE_MAX_ATTRS + 2)

static char *keys[MAX_RECORDS];		/* attribute keys must outlive the span */
static size_t nkeys;

/* The repaired copy of s, as the encoder must write it. */
static char *repaired(const char *s)
{
	size_t n = strlen(s);
	char *out = malloc(3 * n + 1);

	if (!out)
		abort();
	utf8_sanitize(out, 3 * n + 1, s, n);
	return out;
}

static void check_str(const char *got, const char *want)
{
	char *r = repaired(want);

	CHECK(got && utf8_valid(got, strlen(got)));
	CHECK(strcmp(got, r) == 0);
	free(r);
}

static void check_kv(const pb_kv *kv, const struct attr *a)
{
	check_str(kv->key, a->key);
	CHECK(kv->value);
	switch (a->type) {
	case ATTR_STRING:
		CHECK(kv->value->value_case == ANY(STRING_VALUE));
		check_str(kv->value->string_value, a->s);
		break;
	case ATTR_INT:
		CHECK(kv->value->value_case == ANY(INT_VALUE) && kv->value->int_value == a->i);
		break;
	case ATTR_BOOL:
		CHECK(kv->value->value_case == ANY(BOOL_VALUE) && !kv->value->bool_value == !a->b);
		break;
	case ATTR_DOUBLE:
		CHECK(kv->value->value_case == ANY(DOUBLE_VALUE));
		CHECK(memcmp(&kv->value->double_value, &a->d, sizeof(double)) == 0);
		break;
	}
}

/* Next record: its type byte and its bytes as a new NUL-terminated string. */
static bool next_record(const uint8_t **p, const uint8_t *end, uint8_t *type, char **text)
{
	size_t n;

	if (end - *p < 2)
		return false;
	*type = (*p)[0];
	n = (*p)[1];
	*p += 2;
	if (n > (size_t)(end - *p))
		n = (size_t)(end - *p);
	*text = fuzz_strndup(*p, n);
	*p += n;
	return true;
}

static void add_attr(struct span *s, struct resource *res, uint8_t type, char *text)
{
	char *eq = strchr(text, '='), *val = eq ? eq + 1 : text;
	int64_t i = 0;
	double d = 0;

	if (eq)
		*eq = '\0';
	memcpy(&i, val, strlen(val) < sizeof(i) ? strlen(val) : sizeof(i));
	memcpy(&d, &i, sizeof(d));
	keys[nkeys++] = text;
	if (type & 0x80) {
		if (type & 1)
			resource_add_int(res, text, i);
		else
			resource_add_str(res, text, val);
		return;
	}
	switch (type & 3) {
	case 0:
		span_add_str(s, text, val);
		break;
	case 1:
		span_add_int(s, text, i);
		break;
	case 2:
		span_add_bool(s, text, i & 1);
		break;
	default:
		if (s->nattrs < SPAN_MAX_ATTRS) {
			struct attr *a = &s->attrs[s->nattrs++];

			a->key = text;
			a->type = ATTR_DOUBLE;
			a->d = d;
		}
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;
	struct resource *res = resource_new(7);
	struct span *s = span_new(64 * 1024);
	uint8_t *buf = NULL, type;
	size_t len = 0;
	char *text;
	pb_request *req;

	if (!res || !s)
		abort();
	s->resource = res;
	nkeys = 0;
	for (size_t i = 0; i < 16; i++)
		s->trace_id[i] = (uint8_t)(size + i);
	s->span_id[0] = 1;
	s->kind = SPAN_KIND_SERVER;
	s->start_unix_ns = size;
	s->end_unix_ns = size * 2;
	if (next_record(&p, end, &type, &text)) {
		span_set_name(s, text);
		s->trace_flags = type;
		free(text);
	} else {
		span_set_name(s, "");
	}
	if (next_record(&p, end, &type, &text)) {
		if (type & 1) {
			s->status = SPAN_STATUS_ERROR;
			s->status_message = arena_strndup(&s->arena, text, strlen(text));
		}
		free(text);
	}
	while (nkeys < MAX_RECORDS && next_record(&p, end, &type, &text))
		add_attr(s, res, type, text);

	CHECK(otlp_encode(&s, 1, &buf, &len) == 0);
	req = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
		NULL, len, buf);
	CHECK(req && req->n_resource_spans == 1);
	{
		Opentelemetry__Proto__Trace__V1__ResourceSpans *rs = req->resource_spans[0];
		Opentelemetry__Proto__Trace__V1__Span *ps;

		CHECK(rs->resource && rs->resource->n_attributes == res->nattrs);
		for (size_t i = 0; i < res->nattrs; i++)
			check_kv(rs->resource->attributes[i], &res->attrs[i]);
		CHECK(rs->n_scope_spans == 1 && rs->scope_spans[0]->n_spans == 1);
		ps = rs->scope_spans[0]->spans[0];
		check_str(ps->name, s->name);
		CHECK(ps->trace_id.len == 16 && memcmp(ps->trace_id.data, s->trace_id, 16) == 0);
		CHECK(ps->span_id.len == 8 && memcmp(ps->span_id.data, s->span_id, 8) == 0);
		CHECK(ps->flags == (s->trace_flags & 0xff));
		CHECK(ps->start_time_unix_nano == s->start_unix_ns);
		CHECK(ps->n_attributes == s->nattrs);
		for (size_t i = 0; i < s->nattrs; i++)
			check_kv(ps->attributes[i], &s->attrs[i]);
		if (s->status_message)
			check_str(ps->status->message, s->status_message);
	}
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(
		req, NULL);
	free(buf);
	span_free(s);
	for (size_t i = 0; i < nkeys; i++)
		free(keys[i]);
	return 0;
}
