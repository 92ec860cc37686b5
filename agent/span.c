// SPDX-License-Identifier: Apache-2.0
/*
 * span.c - the span and resource model with its arena (see span.h).
 */
#include "span.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct span *span_new(size_t arena_len)
{
	struct span *span = calloc(1, sizeof(*span) + arena_len);

	if (!span)
		return NULL;
	span->arena.len = arena_len;
	span->arena.buf = span->arena_buf;
	return span;
}

void span_free(struct span *span)
{
	if (!span)
		return;
	resource_unref(span->resource);
	free(span);
}

const char *arena_strndup(struct arena *a, const char *s, size_t n)
{
	char *p;

	if (n + 1 > a->len - a->used)
		return NULL;
	p = a->buf + a->used;
	memcpy(p, s, n);
	p[n] = '\0';
	a->used += n + 1;
	return p;
}

int span_set_name(struct span *span, const char *name)
{
	const char *p = arena_strndup(&span->arena, name, strlen(name));

	if (!p)
		return -1;
	span->name = p;
	return 0;
}

static struct attr *span_next_attr(struct span *span)
{
	if (span->nattrs >= SPAN_MAX_ATTRS)
		return NULL;
	return &span->attrs[span->nattrs];
}

int span_add_strn(struct span *span, const char *key, const char *val, size_t n)
{
	struct attr *a = span_next_attr(span);
	const char *p;

	if (!a)
		return -1;
	p = arena_strndup(&span->arena, val, n);
	if (!p)
		return -1;
	a->key = key;
	a->type = ATTR_STRING;
	a->s = p;
	span->nattrs++;
	return 0;
}

int span_add_str(struct span *span, const char *key, const char *val)
{
	return span_add_strn(span, key, val, strlen(val));
}

int span_add_int(struct span *span, const char *key, int64_t val)
{
	struct attr *a = span_next_attr(span);

	if (!a)
		return -1;
	a->key = key;
	a->type = ATTR_INT;
	a->i = val;
	span->nattrs++;
	return 0;
}

int span_add_bool(struct span *span, const char *key, bool val)
{
	struct attr *a = span_next_attr(span);

	if (!a)
		return -1;
	a->key = key;
	a->type = ATTR_BOOL;
	a->b = val;
	span->nattrs++;
	return 0;
}

static const struct attr *attrs_find(const struct attr *attrs, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(attrs[i].key, key) == 0)
			return &attrs[i];
	return NULL;
}

const struct attr *span_find_attr(const struct span *span, const char *key)
{
	return attrs_find(span->attrs, span->nattrs, key);
}

struct resource *resource_new_sized(uint32_t tgid, size_t arena_len)
{
	struct resource *res;

	if (arena_len > SIZE_MAX - sizeof(*res))
		return NULL;
	res = calloc(1, sizeof(*res) + arena_len);
	if (!res)
		return NULL;
	atomic_init(&res->refs, 1);
	res->tgid = tgid;
	res->arena.len = arena_len;
	res->arena.buf = res->arena_buf;
	return res;
}

struct resource *resource_new(uint32_t tgid)
{
	return resource_new_sized(tgid, RESOURCE_ARENA_DEFAULT);
}

/* Keys are copied too: resource keys may come from configuration. */
int resource_add_str(struct resource *res, const char *key, const char *val)
{
	struct attr *a;
	const char *k, *v;

	if (res->nattrs >= RESOURCE_MAX_ATTRS)
		return -1;
	k = arena_strndup(&res->arena, key, strlen(key));
	v = k ? arena_strndup(&res->arena, val, strlen(val)) : NULL;
	if (!v)
		return -1;
	a = &res->attrs[res->nattrs++];
	a->key = k;
	a->type = ATTR_STRING;
	a->s = v;
	return 0;
}

int resource_add_int(struct resource *res, const char *key, int64_t val)
{
	struct attr *a;
	const char *k;

	if (res->nattrs >= RESOURCE_MAX_ATTRS)
		return -1;
	k = arena_strndup(&res->arena, key, strlen(key));
	if (!k)
		return -1;
	a = &res->attrs[res->nattrs++];
	a->key = k;
	a->type = ATTR_INT;
	a->i = val;
	return 0;
}

const struct attr *resource_find_attr(const struct resource *res, const char *key)
{
	return attrs_find(res->attrs, res->nattrs, key);
}

struct resource *resource_ref(struct resource *res)
{
	if (res)
		atomic_fetch_add(&res->refs, 1);
	return res;
}

void resource_unref(struct resource *res)
{
	if (res && atomic_fetch_sub(&res->refs, 1) == 1)
		free(res);
}
