// SPDX-License-Identifier: Apache-2.0
/*
 * config_env.c - the OTEL_* environment overrides (config_apply_env(), see
 * config.h).
 */
#include "config_internal.h"
#include "baggage.h"

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

/* ---- environment --------------------------------------------------------- */

/* Checked in order: the first variable set for a key wins. */
const struct cfg_env_override cfg_env_overrides[CFG_NENV_OVERRIDES] = {
	{ "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "exporter.endpoint", ENV_VALUE },
	{ "OTEL_EXPORTER_OTLP_ENDPOINT", "exporter.endpoint", ENV_BASE_URL },
	{ "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "exporter.compression", ENV_VALUE },
	{ "OTEL_EXPORTER_OTLP_COMPRESSION", "exporter.compression", ENV_VALUE },
	{ "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "exporter.timeout", ENV_MILLIS },
	{ "OTEL_EXPORTER_OTLP_TIMEOUT", "exporter.timeout", ENV_MILLIS },
	{ "OTEL_EXPORTER_OTLP_TRACES_HEADERS", "exporter.headers", ENV_PAIRS },
	{ "OTEL_EXPORTER_OTLP_HEADERS", "exporter.headers", ENV_PAIRS },
	{ "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "exporter.tls.ca_file", ENV_VALUE },
	{ "OTEL_EXPORTER_OTLP_CERTIFICATE", "exporter.tls.ca_file", ENV_VALUE },
	{ "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE", "exporter.tls.cert_file", ENV_VALUE },
	{ "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "exporter.tls.cert_file", ENV_VALUE },
	{ "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", "exporter.tls.key_file", ENV_VALUE },
	{ "OTEL_EXPORTER_OTLP_CLIENT_KEY", "exporter.tls.key_file", ENV_VALUE },
	{ "OTEL_RESOURCE_ATTRIBUTES", "resource.attributes", ENV_PAIRS },
};

_Static_assert(CFG_NENV_OVERRIDES <= INT8_MAX, "config_source.env holds an index");

const char *config_env_name(int index)
{
	return index >= 0 && index < CFG_NENV_OVERRIDES ? cfg_env_overrides[index].var : NULL;
}

/*
 * Settings are text, and what --print-config writes must load back: a value
 * that is not UTF-8 is refused with the offset of its first bad byte.
 */
static bool env_utf8(const char *var, const char *env, struct config_errors *errs)
{
	size_t len = strlen(env), i = 0;

	while (i < len) {
		size_t k = utf8_char_len(env + i, len - i);

		if (!k) {
			cfg_errs_add(errs, "%s: not valid UTF-8 (byte 0x%02x at offset %zu)", var,
				     (unsigned char)env[i], i);
			return false;
		}
		i += k;
	}
	return true;
}

static const char *process_getenv(const char *name)
{
	return getenv(name);
}

/*
 * Merge "k1=v1,k2=v2" (baggage.h) from variable var over o's mapping in cfg:
 * a name already there gets the new value.  Returns the number of problems.
 */
static int env_pairs(struct config *cfg, const struct option *o, const char *var,
		     const char *env, struct config_errors *errs)
{
	struct config_kv *kv = cfg_field(o, cfg);
	size_t *count = cfg_count_field(o, cfg);
	/* One byte more than a setting holds: cfg_string_ok() then says "longer than". */
	char name[CONFIG_KV_NAME_MAX + 1], value[CONFIG_KV_VALUE_MAX + 1];
	struct baggage_iter it;
	int problems = 0, r;

	baggage_init(&it, env, strlen(env));
	while ((r = baggage_next(&it, name, sizeof(name), value, sizeof(value))) != BAGGAGE_END) {
		char why[CONFIG_ERROR_LEN], q[QUOTE_BUF], member[QUOTE_MAX + 2];
		size_t i, len = it.member_len;

		/* Cut one byte past what cfg_quote() shows, so that it marks the cut. */
		snprintf(member, sizeof(member), "%.*s",
			 (int)(len < QUOTE_MAX + 1 ? len : QUOTE_MAX + 1), it.member);
		if (r == BAGGAGE_EMPTY_KEY)
			name[0] = '\0';	/* the name check says what is wrong */
		if (r == BAGGAGE_NO_EQUALS) {
			cfg_errs_add(errs, "%s: %s is not NAME=VALUE", var,
				     cfg_quote(member, q, sizeof(q)));
		} else if (r == BAGGAGE_BAD_ESCAPE) {
			cfg_errs_add(errs, "%s: bad percent-encoding in %s", var,
				     cfg_quote(member, q, sizeof(q)));
		} else if (r == BAGGAGE_TOO_LONG) {
			cfg_errs_add(errs, "%s: %s is too long (names up to %d bytes, values up to %d)",
				     var, cfg_quote(member, q, sizeof(q)), CONFIG_KV_NAME_MAX - 1,
				     CONFIG_KV_VALUE_MAX - 1);
		} else if (!cfg_string_ok(name, CONFIG_KV_NAME_MAX, o->check_name, why,
					  sizeof(why))) {
			cfg_errs_add(errs, "%s: %s", var, why);
		} else if (!cfg_string_ok(value, CONFIG_KV_VALUE_MAX, o->check, why, sizeof(why))) {
			cfg_errs_add(errs, "%s: %s: %s", var, name, why);
		} else {
			for (i = 0; i < *count && !cfg_same_name(o, kv[i].name, name); i++)
				;
			if (i == o->size) {
				cfg_errs_add(errs, "%s: more than %zu %ss with %s", var, o->size,
					     o->noun, o->name);
			} else {
				if (i == *count) {
					memcpy(kv[i].name, name, strlen(name) + 1);
					(*count)++;
				}
				memcpy(kv[i].value, value, strlen(value) + 1);
				continue;
			}
		}
		problems++;
	}
	return problems;
}

/* One variable over the option it overrides; returns the number of problems. */
static int env_apply(struct config *cfg, const struct option *o, const char *var,
		     enum env_kind kind, const char *env, struct config_errors *errs)
{
	char text[VALUE_MAX + 16], why[CONFIG_ERROR_LEN], q[QUOTE_BUF];
	struct value v = { 0 };
	size_t len = strlen(env);
	uint64_t ms, lo = o->min / NS_PER_MS, hi = o->max / NS_PER_MS;
	int err;

	switch (kind) {
	case ENV_PAIRS:
		return env_pairs(cfg, o, var, env, errs);
	case ENV_MILLIS:
		err = cfg_parse_u64(env, &ms);
		if (err == -EINVAL) {
			cfg_errs_add(errs, "%s: expected milliseconds, an integer in %llu..%llu, "
				       "got %s", var, (unsigned long long)lo,
				 (unsigned long long)hi, cfg_quote(env, q, sizeof(q)));
			return 1;
		}
		if (err || ms < lo || ms > hi) {
			cfg_errs_add(errs, "%s: %s is out of range %llu..%llu (milliseconds)", var,
				     cfg_quote(env, q, sizeof(q)), (unsigned long long)lo,
				     (unsigned long long)hi);
			return 1;
		}
		v.num = ms * NS_PER_MS;
		cfg_store_scalar(o, cfg, &v);
		return 0;
	case ENV_BASE_URL:
		while (len && env[len - 1] == '/')
			len--;
		if (len >= CONFIG_URL_MAX)
			len = CONFIG_URL_MAX;
		snprintf(text, sizeof(text), "%.*s/v1/traces", (int)len, env);
		break;
	case ENV_VALUE:
		if (len >= VALUE_MAX) {
			cfg_errs_add(errs, "%s: value is longer than %d bytes", var, VALUE_MAX - 1);
			return 1;
		}
		snprintf(text, sizeof(text), "%s", env);
		break;
	}
	if (!cfg_parse_scalar(o, text, &v, why, sizeof(why))) {
		cfg_errs_add(errs, "%s: %s", var, why);
		return 1;
	}
	cfg_store_scalar(o, cfg, &v);
	return 0;
}

/*
 * mTLS takes a certificate and a key: when the environment left one without
 * the other, blame the variable that set it.
 */
static int env_check_tls(const struct config *cfg, const char *const *used,
			 struct config_errors *errs)
{
	bool cert = *cfg->exporter_tls_cert_file, key = *cfg->exporter_tls_key_file;
	const char *var, *other;
	bool traces;

	if (cert == key)
		return 0;
	var = used[cert ? 0 : 1];
	if (!var) {
		cfg_errs_add(errs, "%s: set without %s (mutual TLS takes both)",
			     cert ? "exporter.tls.cert_file" : "exporter.tls.key_file",
			     cert ? "exporter.tls.key_file" : "exporter.tls.cert_file");
		return 1;
	}
	traces = strstr(var, "_TRACES_") != NULL;
	if (cert)
		other = traces ? "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY" :
				 "OTEL_EXPORTER_OTLP_CLIENT_KEY";
	else
		other = traces ? "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE" :
				 "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE";
	cfg_errs_add(errs, "%s: set without %s or %s (mutual TLS takes both)", var, other,
		     cert ? "exporter.tls.key_file" : "exporter.tls.cert_file");
	return 1;
}

int config_apply_env(struct config *cfg, const char *(*getenv_fn)(const char *name),
		     struct config_errors *errs)
{
	struct config *scratch = malloc(sizeof(*scratch));
	bool done[CFG_NOPTIONS] = { false };
	const char *tls_used[2] = { NULL, NULL };	/* the variables for cert_file, key_file */
	int count = 0, n;

	cfg_errs_reset(errs);
	if (!scratch) {
		cfg_errs_add(errs, "environment: out of memory");
		return 1;
	}
	*scratch = *cfg;
	if (!getenv_fn)
		getenv_fn = process_getenv;
	for (size_t i = 0; i < CFG_NENV_OVERRIDES; i++) {
		const struct option *o = cfg_find_option(cfg_env_overrides[i].key);
		const char *env = getenv_fn(cfg_env_overrides[i].var);

		if (!o || done[o - cfg_options] || !env || !*env)
			continue;
		done[o - cfg_options] = true;
		if (!env_utf8(cfg_env_overrides[i].var, env, errs)) {
			count++;
			continue;
		}
		n = env_apply(scratch, o, cfg_env_overrides[i].var, cfg_env_overrides[i].kind,
			      env, errs);
		count += n;
		if (!n) {
			struct config_source *src = &scratch->sources[o - cfg_options];

			/* A variable replaces a scalar or a list, and merges into a mapping. */
			if (o->type != OPT_MAP)
				src->line = 0;
			src->env = (int8_t)i;
		}
		if (!strcmp(o->name, "exporter.tls.cert_file"))
			tls_used[0] = cfg_env_overrides[i].var;
		else if (!strcmp(o->name, "exporter.tls.key_file"))
			tls_used[1] = cfg_env_overrides[i].var;
	}
	if (!count)
		count = env_check_tls(scratch, tls_used, errs);
	if (!count)
		*cfg = *scratch;
	free(scratch);
	return count;
}

