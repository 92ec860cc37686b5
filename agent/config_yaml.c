// SPDX-License-Identifier: Apache-2.0
/*
 * config_yaml.c - the YAML loader: libyaml's document API, one walk over the tree
 * that checks every key against the option table and collects every problem,
 * then the checks across keys.  Values go into a scratch copy (on the heap:
 * lists and maps make struct config large) that replaces the caller's config
 * only when there was no problem.
 */
#include "config_internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

/* ---- key names ----------------------------------------------------------- */

/* True when some option lives under path ("batch" for "batch.timeout"). */
static bool is_section(const char *path)
{
	size_t len = strlen(path);

	for (size_t i = 0; i < CFG_NOPTIONS; i++)
		if (!strncmp(cfg_options[i].name, path, len) && cfg_options[i].name[len] == '.')
			return true;
	return false;
}

/* The distinct keys right under prefix (NULL: the top level), comma separated. */
static void children(const char *prefix, char *buf, size_t size)
{
	size_t plen = prefix ? strlen(prefix) + 1 : 0, used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < CFG_NOPTIONS && used < size; i++) {
		const char *name = cfg_options[i].name, *c;
		size_t clen;
		bool dup = false;

		if (prefix && (strncmp(name, prefix, plen - 1) || name[plen - 1] != '.'))
			continue;
		c = name + plen;
		clen = strcspn(c, ".");
		for (size_t j = 0; j < i && !dup; j++) {
			const char *other = cfg_options[j].name;

			dup = !strncmp(other, name, plen + clen) &&
			      (other[plen + clen] == '.' || !other[plen + clen]);
		}
		if (!dup)
			used += (size_t)snprintf(buf + used, size - used, "%s%.*s",
						 used ? ", " : "", (int)clen, c);
	}
}

static size_t edit_distance(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t row[PATH_MAX_LEN + 1];

	if (alen > PATH_MAX_LEN || blen > PATH_MAX_LEN)
		return SIZE_MAX;
	for (size_t j = 0; j <= blen; j++)
		row[j] = j;
	for (size_t i = 1; i <= alen; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= blen; j++) {
			size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			diag = up;
			row[j] = best;
		}
	}
	return row[blen];
}

/*
 * The known key or section closest to an unknown path (a third of its
 * length in edits at most; never a section the path is already under),
 * else an option with the same last component; false when none.
 */
static bool suggest(const char *path, char *buf, size_t size)
{
	size_t plen = strlen(path), limit = plen / 3 ? plen / 3 : 1, best = SIZE_MAX;
	const char *leaf = strrchr(path, '.');

	leaf = leaf ? leaf + 1 : path;
	for (size_t i = 0; i < CFG_NOPTIONS; i++) {
		const char *name = cfg_options[i].name;

		/* The full name and each of its sections. */
		for (const char *end = name;; end++) {
			if (*end == '.' || !*end) {
				size_t len = (size_t)(end - name);
				size_t d = edit_distance(path, plen, name, len);
				bool above = len < plen && path[len] == '.' &&
					     !strncmp(path, name, len);

				if (d < best && d <= limit && !above) {
					best = d;
					snprintf(buf, size, "%.*s", (int)len, name);
				}
			}
			if (!*end)
				break;
		}
	}
	if (best != SIZE_MAX)
		return true;
	for (size_t i = 0; i < CFG_NOPTIONS; i++) {
		const char *l = strrchr(cfg_options[i].name, '.');

		if (!strcmp(l ? l + 1 : cfg_options[i].name, leaf)) {
			snprintf(buf, size, "%s", cfg_options[i].name);
			return true;
		}
	}
	return false;
}

/* ---- the YAML walk ------------------------------------------------------- */

struct loader {
	const char *name;		/* file name for messages */
	struct config *cfg;		/* the scratch copy */
	struct config_errors *errs;
	yaml_document_t *doc;
	int count;
	bool seen[CFG_NOPTIONS];
	bool bad[CFG_NOPTIONS];	/* its value was refused */
	yaml_mark_t seen_at[CFG_NOPTIONS];	/* the key */
	yaml_mark_t value_at[CFG_NOPTIONS];	/* its value */
};

/* One problem at m: "FILE:LINE:COL: KEY: what", or without "KEY: " when key is NULL. */
static __attribute__((format(printf, 4, 5))) void at_error(struct loader *ld, yaml_mark_t m,
							    const char *key, const char *fmt, ...)
{
	char what[CONFIG_ERROR_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	ld->count++;
	cfg_errs_add(ld->errs, "%s:%zu:%zu: %s%s%.*s", ld->name, m.line + 1, m.column + 1,
		     key ? key : "", key ? ": " : "", CONFIG_ERROR_LEN, what);
}

static yaml_node_t *node(struct loader *ld, int index)
{
	return yaml_document_get_node(ld->doc, index);
}

static const char *scalar(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

/* A scalar holding a NUL byte cannot be a C string: treat it as malformed. */
static bool has_nul(const yaml_node_t *n)
{
	return strlen(scalar(n)) != n->data.scalar.length;
}

/* Plain "", "~" or "null": a key given without a value. */
static bool is_null(const yaml_node_t *n)
{
	const char *s;

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	s = scalar(n);
	return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
	       !strcmp(s, "NULL");
}

/* "a mapping", "a list" or the quoted scalar, for "got ..." in messages. */
static const char *describe(const yaml_node_t *n, char *buf, size_t size)
{
	switch (n->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a list";
	default:
		return cfg_quote(scalar(n), buf, size);
	}
}

/*
 * The text of a scalar value after ${VAR} expansion, in out; false after
 * reporting why there is none.  expected says what the value should be.
 */
static bool value_text(struct loader *ld, const yaml_node_t *n, const char *key,
		       const char *expected, char *out, size_t size)
{
	char why[CONFIG_ERROR_LEN], d[QUOTE_BUF];

	if (n->type != YAML_SCALAR_NODE) {
		at_error(ld, n->start_mark, key, "expected %s, got %s", expected,
			 describe(n, d, sizeof(d)));
		return false;
	}
	if (is_null(n)) {
		at_error(ld, n->start_mark, key, "missing value (expected %s)", expected);
		return false;
	}
	if (has_nul(n)) {
		at_error(ld, n->start_mark, key, "value contains a NUL byte");
		return false;
	}
	if (!config_expand(scalar(n), NULL, out, size, why, sizeof(why))) {
		at_error(ld, n->start_mark, key, "%s", why);
		return false;
	}
	return true;
}

/* Report why, and where the value came from when ${VAR} changed it. */
static void value_error(struct loader *ld, const yaml_node_t *n, const char *key,
			const char *text, const char *why)
{
	char q[QUOTE_BUF];

	if (strcmp(text, scalar(n)))
		at_error(ld, n->start_mark, key, "%s (expanded from %s)", why,
			 cfg_quote(scalar(n), q, sizeof(q)));
	else
		at_error(ld, n->start_mark, key, "%s", why);
}

/*
 * A list or mapping value of o: true when val has the wanted node type,
 * false when it is null (o is emptied) or after reporting that it is not.
 */
static bool collection(struct loader *ld, const struct option *o, const yaml_node_t *val,
		       yaml_node_type_t want)
{
	char t[256], d[QUOTE_BUF];

	if (is_null(val)) {
		*cfg_count_field(o, ld->cfg) = 0;
		return false;
	}
	if (val->type != want) {
		cfg_type_text(o, t, sizeof(t));
		at_error(ld, val->start_mark, o->name, "expected %s, got %s", t,
			 describe(val, d, sizeof(d)));
		return false;
	}
	return true;
}

static void load_ports(struct loader *ld, const struct option *o, const yaml_node_t *val)
{
	uint16_t ports[CONFIG_MAX_PORTS];
	char text[VALUE_MAX], why[CONFIG_ERROR_LEN], t[256];
	size_t n = 0, cap = o->size < CONFIG_MAX_PORTS ? o->size : CONFIG_MAX_PORTS;
	bool ok = true;
	struct option port = *o;

	if (!collection(ld, o, val, YAML_SEQUENCE_NODE))
		return;
	port.type = OPT_UINT;
	cfg_type_text(&port, t, sizeof(t));
	for (yaml_node_item_t *it = val->data.sequence.items.start;
	     it < val->data.sequence.items.top; it++) {
		size_t index = (size_t)(it - val->data.sequence.items.start);
		yaml_node_t *item = node(ld, *it);
		char key[PATH_MAX_LEN + 32];
		uint64_t v;
		size_t j;

		if (!item)
			continue;
		snprintf(key, sizeof(key), "%s[%zu]", o->name, index);
		if (!value_text(ld, item, key, t, text, sizeof(text))) {
			ok = false;
			continue;
		}
		if (!cfg_parse_uint_in(o, text, &v, why, sizeof(why))) {
			value_error(ld, item, key, text, why);
			ok = false;
			continue;
		}
		for (j = 0; j < n && ports[j] != v; j++)
			;
		if (j < n) {
			at_error(ld, item->start_mark, key, "port %llu is listed twice",
				 (unsigned long long)v);
			ok = false;
			continue;
		}
		if (n == cap) {
			at_error(ld, item->start_mark, o->name, "more than %zu ports", cap);
			return;
		}
		ports[n++] = (uint16_t)v;
	}
	if (!ok)
		return;
	memcpy(cfg_field(o, ld->cfg), ports, n * sizeof(ports[0]));
	*cfg_count_field(o, ld->cfg) = n;
}

#define GLOB_TEXT "an executable name pattern such as nginx or \"python3*\""

/*
 * A glob or a service name at n (key names it in messages) into out, which
 * holds size bytes; false after reporting why not.
 */
static bool load_string(struct loader *ld, const yaml_node_t *n, const char *key,
			const char *expected, check_fn *check, char *out, size_t size)
{
	char text[VALUE_MAX], why[CONFIG_ERROR_LEN];

	if (!value_text(ld, n, key, expected, text, sizeof(text)))
		return false;
	if (!cfg_string_ok(text, size, check, why, sizeof(why))) {
		value_error(ld, n, key, text, why);
		return false;
	}
	memcpy(out, text, strlen(text) + 1);
	return true;
}

/* Patterns are written straight into the scratch config: a bad one fails the load anyway. */
static void load_globs(struct loader *ld, const struct option *o, const yaml_node_t *val)
{
	char(*globs)[CONFIG_GLOB_MAX] = cfg_field(o, ld->cfg);
	size_t n = 0;

	if (!collection(ld, o, val, YAML_SEQUENCE_NODE))
		return;
	for (yaml_node_item_t *it = val->data.sequence.items.start;
	     it < val->data.sequence.items.top; it++) {
		size_t index = (size_t)(it - val->data.sequence.items.start), j;
		yaml_node_t *item = node(ld, *it);
		char key[PATH_MAX_LEN + 32], q[QUOTE_BUF];

		if (!item)
			continue;
		if (n == o->size) {
			at_error(ld, item->start_mark, o->name, "more than %zu patterns", o->size);
			break;
		}
		snprintf(key, sizeof(key), "%s[%zu]", o->name, index);
		if (!load_string(ld, item, key, GLOB_TEXT, cfg_check_glob, globs[n],
				 CONFIG_GLOB_MAX))
			continue;
		for (j = 0; j < n && strcmp(globs[j], globs[n]); j++)
			;
		if (j < n) {
			at_error(ld, item->start_mark, key, "%s is listed twice",
				 cfg_quote(globs[n], q, sizeof(q)));
			continue;
		}
		n++;
	}
	*cfg_count_field(o, ld->cfg) = n;
}

/* A mapping of names to strings, into the scratch config like load_globs(). */
static void load_map(struct loader *ld, const struct option *o, const yaml_node_t *val)
{
	struct config_kv *kv = cfg_field(o, ld->cfg);
	yaml_node_pair_t *start;
	size_t n = 0;

	if (!collection(ld, o, val, YAML_MAPPING_NODE))
		return;
	start = val->data.mapping.pairs.start;
	for (yaml_node_pair_t *pair = start; pair < val->data.mapping.pairs.top; pair++) {
		yaml_node_t *key = node(ld, pair->key), *value = node(ld, pair->value), *pk = NULL;
		char path[PATH_MAX_LEN + CONFIG_KV_NAME_MAX], why[CONFIG_ERROR_LEN], d[QUOTE_BUF];
		const yaml_node_pair_t *prev;
		const char *name;

		if (!key || !value)
			continue;
		if (key->type != YAML_SCALAR_NODE || has_nul(key)) {
			at_error(ld, key->start_mark, o->name, "%s names must be strings, got %s",
				 o->noun, describe(key, d, sizeof(d)));
			continue;
		}
		name = scalar(key);
		if (!cfg_string_ok(name, CONFIG_KV_NAME_MAX, o->check_name, why, sizeof(why))) {
			at_error(ld, key->start_mark, o->name, "%s", why);
			continue;
		}
		snprintf(path, sizeof(path), "%s.%s", o->name, name);
		for (prev = start; prev < pair; prev++) {
			pk = node(ld, prev->key);
			if (pk && pk->type == YAML_SCALAR_NODE &&
			    cfg_same_name(o, scalar(pk), name))
				break;
		}
		if (prev < pair) {
			yaml_mark_t m = pk->start_mark;

			if (strcmp(scalar(pk), name))
				at_error(ld, key->start_mark, path,
					 "duplicate key (first at %zu:%zu as %s; %s names ignore "
					 "case)", m.line + 1, m.column + 1,
					 cfg_quote(scalar(pk), d, sizeof(d)), o->noun);
			else
				at_error(ld, key->start_mark, path,
					 "duplicate key (first at %zu:%zu)", m.line + 1,
					 m.column + 1);
			continue;
		}
		if (n == o->size) {
			at_error(ld, key->start_mark, o->name, "more than %zu %ss", o->size,
				 o->noun);
			break;
		}
		if (!load_string(ld, value, path, "a string", o->check, kv[n].value,
				 sizeof(kv[n].value)))
			continue;
		snprintf(kv[n].name, sizeof(kv[n].name), "%s", name);
		n++;
	}
	*cfg_count_field(o, ld->cfg) = n;
}

enum { SVC_NAME, SVC_EXECUTABLE, SVC_PORT, SVC_KEYS };
static const char *const service_keys[SVC_KEYS] = { "name", "executable", "port" };

/* One services rule at item, the index-th; false after reporting its problems. */
static bool load_service(struct loader *ld, const yaml_node_t *item, size_t index,
			 struct config_service *svc)
{
	static const struct option port_opt = { .name = "port", .type = OPT_UINT, .min = 1,
						 .max = 65535 };
	char prefix[32], key[64], text[VALUE_MAX], why[CONFIG_ERROR_LEN], d[QUOTE_BUF];
	yaml_mark_t at[SVC_KEYS];
	bool have[SVC_KEYS] = { false };
	int before = ld->count;
	uint64_t port;

	snprintf(prefix, sizeof(prefix), "services[%zu]", index);
	if (item->type != YAML_MAPPING_NODE) {
		at_error(ld, item->start_mark, prefix,
			 "expected a mapping with keys name, executable, port, got %s",
			 describe(item, d, sizeof(d)));
		return false;
	}
	memset(svc, 0, sizeof(*svc));
	for (yaml_node_pair_t *pair = item->data.mapping.pairs.start;
	     pair < item->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = node(ld, pair->key), *v = node(ld, pair->value);
		size_t f;

		if (!k || !v)
			continue;
		if (k->type != YAML_SCALAR_NODE) {
			at_error(ld, k->start_mark, prefix, "keys must be strings, got %s",
				 describe(k, d, sizeof(d)));
			continue;
		}
		for (f = 0; f < SVC_KEYS && strcmp(scalar(k), service_keys[f]); f++)
			;
		snprintf(key, sizeof(key), "%s.%.24s", prefix, scalar(k));
		if (f == SVC_KEYS || has_nul(k)) {
			at_error(ld, k->start_mark, key,
				 "unknown key (valid here: name, executable, port)");
			continue;
		}
		if (have[f]) {
			at_error(ld, k->start_mark, key, "duplicate key (first at %zu:%zu)",
				 at[f].line + 1, at[f].column + 1);
			continue;
		}
		have[f] = true;
		at[f] = k->start_mark;
		switch (f) {
		case SVC_NAME:
			load_string(ld, v, key, "a service name", cfg_check_service_name, svc->name,
				    sizeof(svc->name));
			break;
		case SVC_EXECUTABLE:
			load_string(ld, v, key, GLOB_TEXT, cfg_check_glob, svc->executable,
				    sizeof(svc->executable));
			break;
		case SVC_PORT:
			if (!value_text(ld, v, key, "an integer in 1..65535", text, sizeof(text)))
				break;
			if (!cfg_parse_uint_in(&port_opt, text, &port, why, sizeof(why)))
				value_error(ld, v, key, text, why);
			else
				svc->port = (uint16_t)port;
			break;
		}
	}
	if (!have[SVC_NAME]) {
		snprintf(key, sizeof(key), "%s.name", prefix);
		at_error(ld, item->start_mark, key, "missing");
	}
	if (!have[SVC_EXECUTABLE] && !have[SVC_PORT])
		at_error(ld, item->start_mark, prefix, "needs executable, port or both");
	return ld->count == before;
}

static void load_services(struct loader *ld, const struct option *o, const yaml_node_t *val)
{
	struct config_service *svc = cfg_field(o, ld->cfg);
	size_t n = 0;

	if (!collection(ld, o, val, YAML_SEQUENCE_NODE))
		return;
	for (yaml_node_item_t *it = val->data.sequence.items.start;
	     it < val->data.sequence.items.top; it++) {
		yaml_node_t *item = node(ld, *it);

		if (!item)
			continue;
		if (n == o->size) {
			at_error(ld, item->start_mark, o->name, "more than %zu rules", o->size);
			break;
		}
		if (load_service(ld, item, (size_t)(it - val->data.sequence.items.start), &svc[n]))
			n++;
	}
	*cfg_count_field(o, ld->cfg) = n;
}

static void load_option(struct loader *ld, const struct option *o, const yaml_node_t *key,
			const yaml_node_t *val)
{
	size_t i = (size_t)(o - cfg_options);
	char text[VALUE_MAX], why[CONFIG_ERROR_LEN], t[256];
	struct value v = { 0 };

	if (ld->seen[i]) {
		at_error(ld, key->start_mark, o->name, "duplicate key (first at %zu:%zu)",
			 ld->seen_at[i].line + 1, ld->seen_at[i].column + 1);
		return;
	}
	ld->seen[i] = true;
	ld->seen_at[i] = key->start_mark;
	ld->value_at[i] = val->start_mark;
	switch (o->type) {
	case OPT_PORTS:
		load_ports(ld, o, val);
		return;
	case OPT_GLOBS:
		load_globs(ld, o, val);
		return;
	case OPT_MAP:
		load_map(ld, o, val);
		return;
	case OPT_SERVICES:
		load_services(ld, o, val);
		return;
	case OPT_STRING:
		if (is_null(val)) {
			*(char *)cfg_field(o, ld->cfg) = '\0';
			return;
		}
		break;
	default:
		break;
	}
	cfg_type_text(o, t, sizeof(t));
	if (!value_text(ld, val, o->name, t, text, sizeof(text)))
		return;
	if (!cfg_parse_scalar(o, text, &v, why, sizeof(why))) {
		value_error(ld, val, o->name, text, why);
		return;
	}
	cfg_store_scalar(o, ld->cfg, &v);
}

/* A problem with o's value: at its position when this file set it, else without one. */
static __attribute__((format(printf, 3, 4))) void opt_error(struct loader *ld,
							     const struct option *o,
							     const char *fmt, ...)
{
	char what[CONFIG_ERROR_LEN];
	size_t i = (size_t)(o - cfg_options);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (ld->seen[i]) {
		at_error(ld, ld->value_at[i], o->name, "%s", what);
	} else {
		ld->count++;
		cfg_errs_add(ld->errs, "%s: %s: %.*s", ld->name, o->name, CONFIG_ERROR_LEN, what);
	}
}

/* Whether o was set by this file with a value that was refused. */
static bool refused(const struct loader *ld, const struct option *o)
{
	return ld->bad[o - cfg_options];
}

/* Checks between keys, on the values the file leaves in effect. */
static void check_across(struct loader *ld)
{
	const struct option *ini = cfg_find_option("retry.initial_interval");
	const struct option *max = cfg_find_option("retry.max_interval");
	const struct option *cert = cfg_find_option("exporter.tls.cert_file");
	const struct option *key = cfg_find_option("exporter.tls.key_file");
	const struct config *c = ld->cfg;
	char a[32], b[32];

	if (!refused(ld, ini) && !refused(ld, max) &&
	    c->retry_initial_interval_ns > c->retry_max_interval_ns) {
		config_format_duration(c->retry_initial_interval_ns, a, sizeof(a));
		config_format_duration(c->retry_max_interval_ns, b, sizeof(b));
		if (ld->seen[ini - cfg_options] || !ld->seen[max - cfg_options])
			opt_error(ld, ini, "%s is more than retry.max_interval (%s)", a, b);
		else
			opt_error(ld, max, "%s is less than retry.initial_interval (%s)", b, a);
	}
	if (!refused(ld, cert) && !refused(ld, key) &&
	    !*c->exporter_tls_cert_file != !*c->exporter_tls_key_file) {
		const struct option *set = *c->exporter_tls_cert_file ? cert : key;
		const struct option *unset = set == cert ? key : cert;

		if (ld->seen[set - cfg_options] || !ld->seen[unset - cfg_options])
			opt_error(ld, set, "set without %s (mutual TLS takes both)", unset->name);
		else
			opt_error(ld, unset, "empty while %s is set (mutual TLS takes both)",
				  set->name);
	}
}

static void unknown_key(struct loader *ld, const yaml_node_t *key, const char *prefix,
			const char *path)
{
	char near[PATH_MAX_LEN], keys[256];

	/* Below a setting ("exporter.headers.x"): say what that setting takes. */
	for (size_t i = 0; i < CFG_NOPTIONS; i++) {
		const char *name = cfg_options[i].name;
		size_t len = strlen(name);

		if (strncmp(path, name, len) || path[len] != '.')
			continue;
		if (cfg_options[i].type == OPT_MAP)
			at_error(ld, key->start_mark, path,
				 "unknown key (write it inside the %s mapping)", name);
		else
			at_error(ld, key->start_mark, path,
				 "unknown key (%s is a setting, not a section)", name);
		return;
	}
	if (suggest(path, near, sizeof(near))) {
		at_error(ld, key->start_mark, path, "unknown key (did you mean %s?)", near);
		return;
	}
	children(prefix, keys, sizeof(keys));
	at_error(ld, key->start_mark, path, "unknown key (valid here: %s)", keys);
}

/* Check and apply every pair of a mapping whose keys sit under prefix (NULL: top level). */
static void walk_mapping(struct loader *ld, const yaml_node_t *map, const char *prefix)
{
	yaml_node_pair_t *start = map->data.mapping.pairs.start;

	for (yaml_node_pair_t *pair = start; pair < map->data.mapping.pairs.top; pair++) {
		yaml_node_t *key = node(ld, pair->key), *val = node(ld, pair->value);
		char path[PATH_MAX_LEN], d[QUOTE_BUF], keys[256];
		const struct option *o;
		const char *k;
		bool dup = false;

		if (!key || !val)
			continue;
		if (key->type != YAML_SCALAR_NODE) {
			at_error(ld, key->start_mark, prefix, "keys must be strings, got %s",
				 describe(key, d, sizeof(d)));
			continue;
		}
		k = scalar(key);
		for (yaml_node_pair_t *prev = start; prev < pair && !dup; prev++) {
			yaml_node_t *pk = node(ld, prev->key);

			if (pk && pk->type == YAML_SCALAR_NODE &&
			    pk->data.scalar.length == key->data.scalar.length &&
			    !memcmp(scalar(pk), k, key->data.scalar.length)) {
				dup = true;
				snprintf(path, sizeof(path), "%s%s%s", prefix ? prefix : "",
					 prefix ? "." : "", k);
				at_error(ld, key->start_mark, path,
					 "duplicate key (first at %zu:%zu)",
					 pk->start_mark.line + 1, pk->start_mark.column + 1);
			}
		}
		if (dup)
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s%s%s", prefix ? prefix : "",
				     prefix ? "." : "", k) >= sizeof(path) ||
		    has_nul(key)) {
			at_error(ld, key->start_mark, NULL, "unknown key %s",
				 cfg_quote(path, d, sizeof(d)));
			continue;
		}
		o = cfg_find_option(path);
		if (o) {
			int before = ld->count;

			load_option(ld, o, key, val);
			if (ld->count != before)
				ld->bad[o - cfg_options] = true;
		} else if (is_section(path)) {
			if (val->type == YAML_MAPPING_NODE) {
				walk_mapping(ld, val, path);
			} else if (!is_null(val)) {
				children(path, keys, sizeof(keys));
				at_error(ld, val->start_mark, path,
					 "expected a mapping with keys %s, got %s", keys,
					 describe(val, d, sizeof(d)));
			}
		} else {
			unknown_key(ld, key, prefix, path);
		}
	}
}

/* Report the parser's error; text/len is the input, for the line of a reader error. */
static void syntax_error(struct loader *ld, const yaml_parser_t *p, const char *text, size_t len)
{
	const char *problem = p->problem ? p->problem : "unknown error";
	size_t line = 1, col = 1;

	ld->count++;
	switch (p->error) {
	case YAML_MEMORY_ERROR:
		cfg_errs_add(ld->errs, "%s: out of memory", ld->name);
		break;
	case YAML_READER_ERROR:
		/* Only a byte offset: count lines, and columns in bytes. */
		for (size_t i = 0; i < p->problem_offset && i < len; i++, col++)
			if (text[i] == '\n') {
				line++;
				col = 0;
			}
		if (p->problem_value != -1)
			cfg_errs_add(ld->errs, "%s:%zu:%zu: invalid YAML: %s (byte 0x%02x)",
				     ld->name, line, col, problem, (unsigned)p->problem_value);
		else
			cfg_errs_add(ld->errs, "%s:%zu:%zu: invalid YAML: %s", ld->name, line, col,
				     problem);
		break;
	default:
		if (p->context)
			cfg_errs_add(ld->errs, "%s:%zu:%zu: YAML syntax error: %s (%s at %zu:%zu)",
				     ld->name, p->problem_mark.line + 1, p->problem_mark.column + 1,
				     problem, p->context, p->context_mark.line + 1,
				     p->context_mark.column + 1);
		else
			cfg_errs_add(ld->errs, "%s:%zu:%zu: YAML syntax error: %s", ld->name,
				     p->problem_mark.line + 1, p->problem_mark.column + 1, problem);
		break;
	}
}

int config_load_string(struct config *cfg, const char *yaml, size_t len, const char *name,
		       struct config_errors *errs)
{
	/* The scratch copy is large (lists and maps): off the stack. */
	struct config *scratch = malloc(sizeof(*scratch));
	struct loader ld = { .name = name ? name : "(config)", .cfg = scratch, .errs = errs };
	yaml_parser_t parser;
	yaml_document_t doc, extra;
	yaml_node_t *root;
	char d[QUOTE_BUF];

	cfg_errs_reset(errs);
	if (!yaml)
		len = 0;
	if (!scratch || !yaml_parser_initialize(&parser)) {
		free(scratch);
		cfg_errs_add(errs, "%s: out of memory", ld.name);
		return 1;
	}
	*scratch = *cfg;
	yaml_parser_set_input_string(&parser, (const unsigned char *)(yaml ? yaml : ""), len);
	if (!yaml_parser_load(&parser, &doc)) {
		syntax_error(&ld, &parser, yaml, len);
		goto out;
	}
	ld.doc = &doc;
	root = yaml_document_get_root_node(&doc);
	if (root && root->type == YAML_MAPPING_NODE) {
		walk_mapping(&ld, root, NULL);
		check_across(&ld);
	} else if (root && !is_null(root))
		at_error(&ld, root->start_mark, NULL,
			 "the top level must be a mapping of settings, got %s",
			 describe(root, d, sizeof(d)));
	if (root) {
		if (!yaml_parser_load(&parser, &extra)) {
			syntax_error(&ld, &parser, yaml, len);
		} else {
			if (yaml_document_get_root_node(&extra))
				at_error(&ld, extra.start_mark, NULL,
					 "only one YAML document is allowed");
			yaml_document_delete(&extra);
		}
	}
	yaml_document_delete(&doc);
out:
	yaml_parser_delete(&parser);
	if (!ld.count) {
		bool any = false;

		/* Every key present was stored: its line is now where its value comes from. */
		for (size_t i = 0; i < CFG_NOPTIONS; i++) {
			if (!ld.seen[i])
				continue;
			scratch->sources[i].line = (uint32_t)ld.seen_at[i].line + 1;
			scratch->sources[i].env = -1;
			any = true;
		}
		if (any)
			snprintf(scratch->source_file, sizeof(scratch->source_file), "%s", ld.name);
		*cfg = *scratch;
	}
	free(scratch);
	return ld.count;
}

int config_load_file(struct config *cfg, const char *path, struct config_errors *errs)
{
	FILE *f;
	char *buf;
	size_t len;
	int ret;

	cfg_errs_reset(errs);
	f = fopen(path, "rb");
	if (!f) {
		cfg_errs_add(errs, "%s: cannot open: %s", path, strerror(errno));
		return 1;
	}
	buf = malloc(CONFIG_FILE_MAX + 1);
	if (!buf) {
		fclose(f);
		cfg_errs_add(errs, "%s: out of memory", path);
		return 1;
	}
	len = fread(buf, 1, CONFIG_FILE_MAX + 1, f);
	if (ferror(f)) {
		cfg_errs_add(errs, "%s: cannot read: %s", path, strerror(errno));
		ret = 1;
	} else if (len > CONFIG_FILE_MAX) {
		cfg_errs_add(errs, "%s: larger than %d bytes", path, CONFIG_FILE_MAX);
		ret = 1;
	} else {
		ret = config_load_string(cfg, buf, len, path, errs);
	}
	free(buf);
	fclose(f);
	return ret;
}

