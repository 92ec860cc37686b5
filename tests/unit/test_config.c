// SPDX-License-Identifier: Apache-2.0
/*
 * test_config.c - the YAML config loader, the OTEL_* overrides and the printers.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "log.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define SHIPPED_CONFIG TEST_DATA_DIR "/../../config/spanbpf.yaml"

static struct config_errors errs;

static int load(struct config *cfg, const char *yaml)
{
	return config_load_string(cfg, yaml, strlen(yaml), "t.yaml", &errs);
}

/* Load yaml over defaults, expecting no problem. */
static void load_ok(struct config *cfg, const char *yaml)
{
	config_defaults(cfg);
	if (load(cfg, yaml)) {
		config_errors_print(&errs, stderr);
		fail_msg("unexpected problems loading:\n%s", yaml);
	}
}

/* Load yaml, expecting exactly the given messages in order. */
static void load_fails(const char *yaml, size_t n, const char *const *msgs)
{
	struct config cfg;

	config_defaults(&cfg);
	assert_int_equal(load(&cfg, yaml), n);
	assert_int_equal(errs.count, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(errs.msg[i], msgs[i]);
}

static void load_fails1(const char *yaml, const char *msg)
{
	load_fails(yaml, 1, &msg);
}

static void assert_config_equal(const struct config *a, const struct config *b)
{
	assert_string_equal(a->exporter_endpoint, b->exporter_endpoint);
	assert_int_equal(a->compression, b->compression);
	assert_int_equal(a->batch_max_spans, b->batch_max_spans);
	assert_int_equal(a->batch_timeout_ns, b->batch_timeout_ns);
	assert_int_equal(a->nports, b->nports);
	assert_memory_equal(a->ports, b->ports, a->nports * sizeof(a->ports[0]));
	assert_int_equal(a->record_query, b->record_query);
	assert_int_equal(a->log_level, b->log_level);
}

/* A config where every field differs from its default. */
static void config_odd(struct config *cfg)
{
	memset(cfg, 0xa5, sizeof(*cfg));
	snprintf(cfg->exporter_endpoint, sizeof(cfg->exporter_endpoint), "http://odd:1/$x");
	cfg->compression = COMPRESSION_NONE;
	cfg->batch_max_spans = 7;
	cfg->batch_timeout_ns = 1500000;
	cfg->ports[0] = 9;
	cfg->ports[1] = 65535;
	cfg->nports = 2;
	cfg->record_query = true;
	cfg->log_level = LOG_LEVEL_ERROR;
}

/* ---- defaults and valid input ---------------------------------------------------- */

static void test_defaults(void **state)
{
	struct config cfg;

	config_defaults(&cfg);
	assert_string_equal(cfg.exporter_endpoint, "http://localhost:4318/v1/traces");
	assert_int_equal(cfg.compression, COMPRESSION_GZIP);
	assert_int_equal(cfg.batch_max_spans, 512);
	assert_int_equal(cfg.batch_timeout_ns, 1000000000ULL);
	assert_int_equal(cfg.nports, 0);
	assert_false(cfg.record_query);
	assert_int_equal(cfg.log_level, LOG_LEVEL_INFO);
}

static void test_empty_files(void **state)
{
	static const char *const texts[] = { "", "\n\n", "# only a comment\n", "---\n", "~\n",
					     "{}\n", "--- # c\n...\n" };
	struct config cfg, def;

	config_defaults(&def);
	for (size_t i = 0; i < ARRAY_SIZE(texts); i++) {
		load_ok(&cfg, texts[i]);
		assert_config_equal(&cfg, &def);
	}
	assert_int_equal(config_load_string(&cfg, NULL, 0, "t.yaml", &errs), 0);
	assert_int_equal(config_load_file(&cfg, TEST_DATA_DIR "/config_comments.yaml", &errs), 0);
	assert_config_equal(&cfg, &def);
	/* Sections present without keys. */
	load_ok(&cfg, "exporter:\nbatch: ~\nfilters: {}\nlog: null\n");
	assert_config_equal(&cfg, &def);
}

static void test_valid_file(void **state)
{
	struct config cfg;

	config_defaults(&cfg);
	assert_int_equal(config_load_file(&cfg, TEST_DATA_DIR "/config_valid.yaml", &errs), 0);
	assert_int_equal(errs.count, 0);
	assert_string_equal(cfg.exporter_endpoint,
			    "https://collector.example:4318/otlp/v1/traces");
	assert_int_equal(cfg.compression, COMPRESSION_NONE);
	assert_int_equal(cfg.batch_max_spans, 65536);
	assert_int_equal(cfg.batch_timeout_ns, 1500000);
	assert_int_equal(cfg.nports, 4);
	assert_int_equal(cfg.ports[0], 8080);
	assert_int_equal(cfg.ports[1], 443);
	assert_int_equal(cfg.ports[2], 1);
	assert_int_equal(cfg.ports[3], 65535);
	assert_true(cfg.record_query);
	assert_int_equal(cfg.log_level, LOG_LEVEL_DEBUG);
}

static void test_each_key(void **state)
{
	struct config cfg;

	load_ok(&cfg, "exporter:\n  endpoint: http://127.0.0.1:4318/v1/traces\n");
	assert_string_equal(cfg.exporter_endpoint, "http://127.0.0.1:4318/v1/traces");
	load_ok(&cfg, "exporter: {compression: none}");
	assert_int_equal(cfg.compression, COMPRESSION_NONE);
	load_ok(&cfg, "exporter: {compression: GZip}");
	assert_int_equal(cfg.compression, COMPRESSION_GZIP);
	load_ok(&cfg, "batch:\n  max_spans: 1\n");
	assert_int_equal(cfg.batch_max_spans, 1);
	load_ok(&cfg, "batch:\n  max_spans: \"100\"\n");
	assert_int_equal(cfg.batch_max_spans, 100);
	load_ok(&cfg, "batch:\n  timeout: 200ms\n");
	assert_int_equal(cfg.batch_timeout_ns, 200000000);
	load_ok(&cfg, "batch:\n  timeout: 1h\n");
	assert_int_equal(cfg.batch_timeout_ns, 3600000000000ULL);
	load_ok(&cfg, "batch:\n  timeout: 1ms\n");
	assert_int_equal(cfg.batch_timeout_ns, 1000000);
	load_ok(&cfg, "filters:\n  ports: [8080, 9090]\n");
	assert_int_equal(cfg.nports, 2);
	assert_int_equal(cfg.ports[0], 8080);
	assert_int_equal(cfg.ports[1], 9090);
	load_ok(&cfg, "filters:\n  ports:\n  - 80\n");
	assert_int_equal(cfg.nports, 1);
	assert_int_equal(cfg.ports[0], 80);
	load_ok(&cfg, "http: {record_query: true}");
	assert_true(cfg.record_query);
	load_ok(&cfg, "log: {level: error}");
	assert_int_equal(cfg.log_level, LOG_LEVEL_ERROR);
	load_ok(&cfg, "log: {level: warn}");
	assert_int_equal(cfg.log_level, LOG_LEVEL_WARN);
	load_ok(&cfg, "log: {level: DEBUG}");
	assert_int_equal(cfg.log_level, LOG_LEVEL_DEBUG);
}

static void test_dotted_keys(void **state)
{
	struct config cfg;

	load_ok(&cfg, "batch.timeout: 2s\nbatch:\n  max_spans: 9\nfilters.ports: [1, 2]\n"
		      "log.level: warn\n");
	assert_int_equal(cfg.batch_timeout_ns, 2000000000ULL);
	assert_int_equal(cfg.batch_max_spans, 9);
	assert_int_equal(cfg.nports, 2);
	assert_int_equal(cfg.log_level, LOG_LEVEL_WARN);
}

static void test_port_limit(void **state)
{
	char yaml[1024];
	size_t used = (size_t)snprintf(yaml, sizeof(yaml), "filters.ports: [1");
	struct config cfg;

	for (int p = 2; p <= CONFIG_MAX_PORTS; p++)
		used += (size_t)snprintf(yaml + used, sizeof(yaml) - used, ", %d", p);
	snprintf(yaml + used, sizeof(yaml) - used, "]");
	load_ok(&cfg, yaml);
	assert_int_equal(cfg.nports, CONFIG_MAX_PORTS);
	assert_int_equal(cfg.ports[CONFIG_MAX_PORTS - 1], CONFIG_MAX_PORTS);
	/* One more: the message points at the first port too many. */
	snprintf(yaml + used, sizeof(yaml) - used, ", 9999]");
	load_fails1(yaml, "t.yaml:1:264: filters.ports: more than 64 ports");
}

static void test_booleans(void **state)
{
	static const struct {
		const char *text;
		bool value;
	} cases[] = {
		{ "true", true }, { "True", true }, { "TRUE", true },
		{ "yes", true }, { "on", true }, { "\"true\"", true },
		{ "false", false }, { "False", false }, { "no", false },
		{ "OFF", false }, { "'no'", false },
	};
	struct config cfg;
	char yaml[64];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		snprintf(yaml, sizeof(yaml), "http.record_query: %s", cases[i].text);
		load_ok(&cfg, yaml);
		assert_int_equal(cfg.record_query, cases[i].value);
	}
	load_fails1("http.record_query: 1",
		    "t.yaml:1:20: http.record_query: expected true or false, got \"1\"");
	load_fails1("http.record_query: y",
		    "t.yaml:1:20: http.record_query: expected true or false, got \"y\"");
}

static void test_urls(void **state)
{
	static const char *const good[] = {
		"http://localhost:4318/v1/traces",
		"https://collector.example.com/v1/traces",
		"HTTP://h",
		"http://h:1",
		"http://h:65535/",
		"http://user:pw@h:4318/x?y#z",
		"http://[::1]:4318/v1/traces",
		"https://[fe80::1]",
		"http://10.0.0.1?x",
	};
	static const struct {
		const char *url;
		const char *why;
		const char *shown;	/* in the message, when not the URL itself */
	} bad[] = {
		{ "localhost:4318", "is not an http:// or https:// URL", NULL },
		{ "ftp://h/", "is not an http:// or https:// URL", NULL },
		{ "grpc://h:4317", "is not an http:// or https:// URL", NULL },
		{ "http://", "has no host", NULL },
		{ "http:///v1/traces", "has no host", NULL },
		{ "http://:4318/", "has no host", NULL },
		{ "http://u@/x", "has no host", NULL },
		{ "http://h:/", "has a bad port", NULL },
		{ "http://h:0", "has a bad port", NULL },
		{ "http://h:65536", "has a bad port", NULL },
		{ "http://h:12x", "has a bad port", NULL },
		{ "http://h:1234567", "has a bad port", NULL },
		{ "http://[]:80", "has a bad IPv6 host", NULL },
		{ "http://[::1", "has a bad IPv6 host", NULL },
		{ "http://[::1]x", "has a bad port", NULL },
		{ "'http://a b'", "contains a space or a control character", "http://a b" },
		{ "\"http://a\\tb\"", "contains a space or a control character", "http://a\\x09b" },
	};
	struct config cfg;
	char yaml[128], msg[CONFIG_ERROR_LEN];

	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		snprintf(yaml, sizeof(yaml), "exporter.endpoint: %s", good[i]);
		load_ok(&cfg, yaml);
		assert_string_equal(cfg.exporter_endpoint, good[i]);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		snprintf(yaml, sizeof(yaml), "exporter.endpoint: %s", bad[i].url);
		snprintf(msg, sizeof(msg), "t.yaml:1:20: exporter.endpoint: \"%s\" %s",
			 bad[i].shown ? bad[i].shown : bad[i].url, bad[i].why);
		load_fails1(yaml, msg);
	}
	/* 1023 bytes fit, 1024 do not. */
	char *big = malloc(CONFIG_URL_MAX + 64);

	assert_non_null(big);
	strcpy(big, "exporter.endpoint: http://h/");
	memset(big + strlen(big), 'a', CONFIG_URL_MAX - strlen("http://h/") - 1);
	big[strlen("exporter.endpoint: ") + CONFIG_URL_MAX - 1] = '\0';
	load_ok(&cfg, big);
	assert_int_equal(strlen(cfg.exporter_endpoint), CONFIG_URL_MAX - 1);
	strcat(big, "a");
	config_defaults(&cfg);
	assert_int_equal(load(&cfg, big), 1);
	assert_non_null(strstr(errs.msg[0], "\" is longer than 1023 bytes"));
	assert_non_null(strstr(errs.msg[0], "t.yaml:1:20: exporter.endpoint: \"http://h/aaaa"));
	free(big);
}

/* ---- bad input: one message each ------------------------------------------------------- */

/* One bad input each, and its message. */
static const struct {
	const char *yaml;
	const char *msg;
} bad_cases[] = {
	/* wrong node kinds */
	{ "batch:\n  max_spans: {a: 1}\n",
	  "t.yaml:2:14: batch.max_spans: expected an integer in 1..65536, got a mapping" },
	{ "batch:\n  timeout: [1s]\n",
	  "t.yaml:2:12: batch.timeout: expected a duration in 1ms..1h such as 200ms or 1.5s, "
	  "got a list" },
	{ "log: {level: [a]}",
	  "t.yaml:1:14: log.level: expected one of: error, warn, info, debug, got a list" },
	{ "filters: {ports: 80}",
	  "t.yaml:1:18: filters.ports: expected a list of up to 64 ports in 1..65535 such as "
	  "[8080, 9090], got \"80\"" },
	{ "filters: {ports: {a: 1}}",
	  "t.yaml:1:18: filters.ports: expected a list of up to 64 ports in 1..65535 such as "
	  "[8080, 9090], got a mapping" },
	{ "batch: 5",
	  "t.yaml:1:8: batch: expected a mapping with keys max_spans, timeout, got \"5\"" },
	{ "exporter: [a]",
	  "t.yaml:1:11: exporter: expected a mapping with keys endpoint, compression, got a "
	  "list" },
	{ "exporter.endpoint: {a: b}",
	  "t.yaml:1:20: exporter.endpoint: expected an http:// or https:// URL, got a mapping" },
	/* a string where a number belongs, and numbers out of range */
	{ "batch: {max_spans: abc}",
	  "t.yaml:1:20: batch.max_spans: expected an integer in 1..65536, got \"abc\"" },
	{ "batch: {max_spans: 1.5}",
	  "t.yaml:1:20: batch.max_spans: expected an integer in 1..65536, got \"1.5\"" },
	{ "batch: {max_spans: 0x10}",
	  "t.yaml:1:20: batch.max_spans: expected an integer in 1..65536, got \"0x10\"" },
	{ "batch: {max_spans: 0}", "t.yaml:1:20: batch.max_spans: 0 is out of range 1..65536" },
	{ "batch: {max_spans: 65537}",
	  "t.yaml:1:20: batch.max_spans: 65537 is out of range 1..65536" },
	{ "batch: {max_spans: -1}", "t.yaml:1:20: batch.max_spans: -1 is out of range 1..65536" },
	{ "batch: {max_spans: 18446744073709551616}",
	  "t.yaml:1:20: batch.max_spans: 18446744073709551616 is out of range 1..65536" },
	/* durations */
	{ "batch: {timeout: 5}",
	  "t.yaml:1:18: batch.timeout: \"5\" needs a unit: ns, us, ms, s, m or h (e.g. 5s)" },
	{ "batch: {timeout: 5sec}",
	  "t.yaml:1:18: batch.timeout: \"5sec\" has an unknown unit \"sec\" (use ns, us, ms, s, "
	  "m or h)" },
	{ "batch: {timeout: fast}",
	  "t.yaml:1:18: batch.timeout: expected a duration such as 200ms or 1.5s, got \"fast\"" },
	{ "batch: {timeout: 2h}", "t.yaml:1:18: batch.timeout: 2h is out of range 1ms..1h" },
	{ "batch: {timeout: 999us}",
	  "t.yaml:1:18: batch.timeout: 999us is out of range 1ms..1h" },
	{ "batch: {timeout: 0s}", "t.yaml:1:18: batch.timeout: 0s is out of range 1ms..1h" },
	{ "batch: {timeout: 99999999999999999999h}",
	  "t.yaml:1:18: batch.timeout: 99999999999999999999h is out of range 1ms..1h" },
	/* enums */
	{ "exporter: {compression: zstd}",
	  "t.yaml:1:25: exporter.compression: \"zstd\" is not one of: none, gzip" },
	{ "log: {level: verbose}",
	  "t.yaml:1:14: log.level: \"verbose\" is not one of: error, warn, info, debug" },
	/* missing values */
	{ "log:\n  level:\n",
	  "t.yaml:2:9: log.level: missing value (expected one of: error, warn, info, debug)" },
	{ "batch: {timeout: ~}",
	  "t.yaml:1:18: batch.timeout: missing value (expected a duration in 1ms..1h such as "
	  "200ms or 1.5s)" },
	{ "exporter.endpoint: \"\"",
	  "t.yaml:1:20: exporter.endpoint: \"\" is not an http:// or https:// URL" },
	/* ports */
	{ "filters: {ports: [80, 70000]}",
	  "t.yaml:1:23: filters.ports[1]: 70000 is out of range 1..65535" },
	{ "filters: {ports: [0]}", "t.yaml:1:19: filters.ports[0]: 0 is out of range 1..65535" },
	{ "filters: {ports: [http]}",
	  "t.yaml:1:19: filters.ports[0]: expected an integer in 1..65535, got \"http\"" },
	{ "filters: {ports: [[80]]}",
	  "t.yaml:1:19: filters.ports[0]: expected an integer in 1..65535, got a list" },
	{ "filters: {ports: [80, ~]}",
	  "t.yaml:1:23: filters.ports[1]: missing value (expected an integer in 1..65535)" },
	{ "filters: {ports: [80, 81, 80]}",
	  "t.yaml:1:27: filters.ports[2]: port 80 is listed twice" },
	/* keys */
	{ "batch:\n  timout: 5s\n",
	  "t.yaml:2:3: batch.timout: unknown key (did you mean batch.timeout?)" },
	{ "batch.max_span: 5\n",
	  "t.yaml:1:1: batch.max_span: unknown key (did you mean batch.max_spans?)" },
	{ "exporter:\n  endpiont: http://h\n",
	  "t.yaml:2:3: exporter.endpiont: unknown key (did you mean exporter.endpoint?)" },
	{ "exportr:\n  endpoint: http://h\n",
	  "t.yaml:1:1: exportr: unknown key (did you mean exporter?)" },
	{ "timeout: 1s\n", "t.yaml:1:1: timeout: unknown key (did you mean batch.timeout?)" },
	{ "exporter: {timeout: 1s}",
	  "t.yaml:1:12: exporter.timeout: unknown key (did you mean batch.timeout?)" },
	{ "Log: {level: info}", "t.yaml:1:1: Log: unknown key (did you mean log?)" },
	{ "tracing: on", "t.yaml:1:1: tracing: unknown key (valid here: exporter, batch, "
		       "filters, http, log)" },
	{ "batch: {flush: 1}",
	  "t.yaml:1:9: batch.flush: unknown key (valid here: max_spans, timeout)" },
	{ "batch:\n  timeout: 1s\n  timeout: 2s\n",
	  "t.yaml:3:3: batch.timeout: duplicate key (first at 2:3)" },
	{ "log: {level: info}\nlog: {level: debug}\n",
	  "t.yaml:2:1: log: duplicate key (first at 1:1)" },
	{ "batch.timeout: 1s\nbatch:\n  timeout: 2s\n",
	  "t.yaml:3:3: batch.timeout: duplicate key (first at 1:1)" },
	{ "? [a]\n: 1\n", "t.yaml:1:3: keys must be strings, got a list" },
	{ "batch:\n  ? {a: 1}\n  : 1\n", "t.yaml:2:5: batch: keys must be strings, got a mapping" },
	/* the document */
	{ "- a\n- b\n", "t.yaml:1:1: the top level must be a mapping of settings, got a list" },
	{ "spanbpf\n",
	  "t.yaml:1:1: the top level must be a mapping of settings, got \"spanbpf\"" },
	{ "log: {level: info}\n---\nlog: {level: debug}\n",
	  "t.yaml:2:1: only one YAML document is allowed" },
	{ "exporter.endpoint: \"http://h/\\0\"",
	  "t.yaml:1:20: exporter.endpoint: value contains a NUL byte" },
	/* YAML syntax, with libyaml's position */
	{ "batch:\n  max_spans: 10\n   timeout: 1s\n",
	  "t.yaml:3:11: YAML syntax error: mapping values are not allowed in this context" },
	{ "filters: {ports: [80, 90}\n",
	  "t.yaml:1:25: YAML syntax error: did not find expected ',' or ']' (while parsing a "
	  "flow sequence at 1:18)" },
	{ "log:\n\tlevel: info\n",
	  "t.yaml:2:1: YAML syntax error: found character that cannot start any token (while "
	  "scanning for the next token at 2:1)" },
	{ "log: {level: *x}\n",
	  "t.yaml:1:14: YAML syntax error: found undefined alias" },
	{ "log:\n  level: \xff\n",
	  "t.yaml:2:10: invalid YAML: invalid leading UTF-8 octet (byte 0xff)" },
};

static void test_bad_values(void **state)
{

	for (size_t i = 0; i < ARRAY_SIZE(bad_cases); i++) {
		struct config cfg;

		config_defaults(&cfg);
		if (load(&cfg, bad_cases[i].yaml) != 1 || strcmp(errs.msg[0], bad_cases[i].msg)) {
			config_errors_print(&errs, stderr);
			fail_msg("case %zu:\n%s\nwanted: %s", i, bad_cases[i].yaml,
				 bad_cases[i].msg);
		}
	}
}

/* Every problem of a file in one pass, in file order. */
static void test_all_errors_reported(void **state)
{
	static const char *const msgs[] = {
		TEST_DATA_DIR "/config_errors.yaml:2:13: exporter.endpoint: \"localhost:4318\" is "
			      "not an http:// or https:// URL",
		TEST_DATA_DIR "/config_errors.yaml:3:16: exporter.compression: \"zstd\" is not one "
			      "of: none, gzip",
		TEST_DATA_DIR "/config_errors.yaml:5:14: batch.max_spans: 0 is out of range "
			      "1..65536",
		TEST_DATA_DIR "/config_errors.yaml:6:3: batch.timout: unknown key (did you mean "
			      "batch.timeout?)",
		TEST_DATA_DIR "/config_errors.yaml:8:15: filters.ports[1]: 0 is out of range "
			      "1..65535",
		TEST_DATA_DIR "/config_errors.yaml:8:18: filters.ports[2]: expected an integer in "
			      "1..65535, got \"http\"",
		TEST_DATA_DIR "/config_errors.yaml:10:17: http.record_query: expected true or "
			      "false, got \"maybe\"",
		TEST_DATA_DIR "/config_errors.yaml:12:10: log.level: \"verbose\" is not one of: "
			      "error, warn, info, debug",
		TEST_DATA_DIR "/config_errors.yaml:13:1: batch: duplicate key (first at 4:1)",
	};
	struct config cfg, before;

	config_defaults(&cfg);
	before = cfg;
	assert_int_equal(config_load_file(&cfg, TEST_DATA_DIR "/config_errors.yaml", &errs),
			 ARRAY_SIZE(msgs));
	assert_int_equal(errs.count, ARRAY_SIZE(msgs));
	for (size_t i = 0; i < ARRAY_SIZE(msgs); i++)
		assert_string_equal(errs.msg[i], msgs[i]);
	/* Nothing of a bad file is applied. */
	assert_config_equal(&cfg, &before);
}

static void test_failed_load_keeps_config(void **state)
{
	struct config cfg, odd;

	config_odd(&odd);
	cfg = odd;
	assert_int_equal(load(&cfg, "batch: {max_spans: 3}\nlog: {level: nope}\n"), 1);
	assert_config_equal(&cfg, &odd);
	/* Loading over an earlier config changes only the keys present. */
	assert_int_equal(load(&cfg, "batch: {max_spans: 3}\n"), 0);
	assert_int_equal(cfg.batch_max_spans, 3);
	odd.batch_max_spans = 3;
	assert_config_equal(&cfg, &odd);
}

static void test_too_many_errors(void **state)
{
	char *yaml = malloc(100 * 16);
	size_t used = 0;
	struct config cfg;
	char *out = NULL;
	size_t outlen = 0;
	FILE *f;

	assert_non_null(yaml);
	for (int i = 0; i < 100; i++)
		used += (size_t)sprintf(yaml + used, "bad%d: 1\n", i);
	config_defaults(&cfg);
	assert_int_equal(config_load_string(&cfg, yaml, used, "t.yaml", &errs), 100);
	assert_int_equal(errs.count, 100);
	assert_string_equal(errs.msg[63], "t.yaml:64:1: bad63: unknown key (valid here: exporter, "
					  "batch, filters, http, log)");
	f = open_memstream(&out, &outlen);
	assert_non_null(f);
	config_errors_print(&errs, f);
	fclose(f);
	assert_non_null(strstr(out, "bad63: unknown key"));
	assert_null(strstr(out, "bad64"));
	assert_non_null(strstr(out, "\n... and 36 more problems\n"));
	/* NULL errs: only the count. */
	assert_int_equal(config_load_string(&cfg, yaml, used, "t.yaml", NULL), 100);
	free(out);
	free(yaml);
}

static void test_files(void **state)
{
	struct config cfg;

	config_defaults(&cfg);
	assert_int_equal(config_load_file(&cfg, TEST_DATA_DIR "/no-such-file.yaml", &errs), 1);
	assert_string_equal(errs.msg[0], TEST_DATA_DIR "/no-such-file.yaml: cannot open: No such "
							"file or directory");
	assert_int_equal(config_load_file(&cfg, TEST_DATA_DIR, &errs), 1);
	assert_string_equal(errs.msg[0], TEST_DATA_DIR ": cannot read: Is a directory");
	assert_int_equal(config_load_file(&cfg, TEST_DATA_DIR "/config_syntax.yaml", &errs), 1);
	assert_string_equal(errs.msg[0], TEST_DATA_DIR "/config_syntax.yaml:3:11: YAML syntax "
							"error: mapping values are not allowed in "
							"this context");
}

/* ---- durations ------------------------------------------------------------------------- */

static void test_durations(void **state)
{
	static const struct {
		const char *text;
		uint64_t ns;
	} good[] = {
		{ "10ns", 10 },
		{ "1500us", 1500000 },
		{ "200ms", 200000000 },
		{ "1s", 1000000000 },
		{ "1.5s", 1500000000 },
		{ ".5s", 500000000 },
		{ "5.s", 5000000000 },
		{ "0.001ms", 1000 },
		{ "1.0000000001s", 1000000000 },
		{ "5m", 300000000000 },
		{ "1h", 3600000000000 },
		{ "1h30m", 5400000000000 },
		{ "1m0.5s", 60500000000 },
		{ "0s", 0 },
		{ "007ms", 7000000 },
		{ "18446744073709551615ns", UINT64_MAX },
		{ "18446744073.709551615s", UINT64_MAX },
	};
	static const struct {
		const char *text;
		int err;
	} bad[] = {
		{ "", -EINVAL },	 { "5", -EINVAL },	    { "1m30", -EINVAL },
		{ "s", -EINVAL },	 { ".s", -EINVAL },	    { "-1s", -EINVAL },
		{ "+1s", -EINVAL },	 { "1 s", -EINVAL },	    { "1S", -EINVAL },
		{ "1sec", -EINVAL },	 { "1d", -EINVAL },	    { "1.5.5s", -EINVAL },
		{ "1e3ms", -EINVAL },	 { "1s ", -EINVAL },	    { "0x10s", -EINVAL },
		{ "18446744073709551616ns", -ERANGE },
		{ "5124096h", -ERANGE },
		{ "99999999999999999999999999999999999999999h", -ERANGE },
		{ "18446744073709551615ns1ns", -ERANGE },
	};
	uint64_t ns;
	char buf[32];

	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		ns = 12345;
		if (config_parse_duration(good[i].text, &ns) != 0 || ns != good[i].ns)
			fail_msg("\"%s\": got %llu", good[i].text, (unsigned long long)ns);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		ns = 12345;
		if (config_parse_duration(bad[i].text, &ns) != bad[i].err)
			fail_msg("\"%s\" should fail with %d", bad[i].text, bad[i].err);
		assert_int_equal(ns, 12345);
	}
	assert_int_equal(config_parse_duration(NULL, &ns), -EINVAL);

	assert_string_equal(config_format_duration(0, buf, sizeof(buf)), "0s");
	assert_string_equal(config_format_duration(10, buf, sizeof(buf)), "10ns");
	assert_string_equal(config_format_duration(1500000, buf, sizeof(buf)), "1500us");
	assert_string_equal(config_format_duration(200000000, buf, sizeof(buf)), "200ms");
	assert_string_equal(config_format_duration(90000000000, buf, sizeof(buf)), "90s");
	assert_string_equal(config_format_duration(120000000000, buf, sizeof(buf)), "2m");
	assert_string_equal(config_format_duration(7200000000000, buf, sizeof(buf)), "2h");
	assert_string_equal(config_format_duration(UINT64_MAX, buf, sizeof(buf)),
			    "18446744073709551615ns");
}

/* ---- ${VAR} expansion ------------------------------------------------------------------- */

static void test_env_expansion(void **state)
{
	static const struct {
		const char *yaml;
		const char *endpoint;
	} cases[] = {
		{ "exporter.endpoint: http://${SPANBPF_T_HOST}:4318/v1/traces",
		  "http://collector:4318/v1/traces" },
		{ "exporter.endpoint: \"http://${SPANBPF_T_HOST}${SPANBPF_T_EMPTY}/\"",
		  "http://collector/" },
		{ "exporter.endpoint: http://${SPANBPF_T_UNSET:-localhost}:4318/",
		  "http://localhost:4318/" },
		{ "exporter.endpoint: http://${SPANBPF_T_EMPTY:-fallback}/", "http://fallback/" },
		{ "exporter.endpoint: http://${SPANBPF_T_HOST:-fallback}/", "http://collector/" },
		{ "exporter.endpoint: http://h/${SPANBPF_T_UNSET:-}x", "http://h/x" },
		{ "exporter.endpoint: http://h/a$$b", "http://h/a$b" },
		{ "exporter.endpoint: http://h/a$$$$", "http://h/a$$" },
		{ "exporter.endpoint: http://h/a$b$", "http://h/a$b$" },
		{ "exporter.endpoint: http://h/$${SPANBPF_T_HOST}", "http://h/${SPANBPF_T_HOST}" },
		{ "exporter.endpoint: 'http://${SPANBPF_T_HOST}/'", "http://collector/" },
		{ "exporter.endpoint: ${SPANBPF_T_URL}", "https://otel.example/v1/traces" },
	};
	struct config cfg;

	setenv("SPANBPF_T_HOST", "collector", 1);
	setenv("SPANBPF_T_EMPTY", "", 1);
	setenv("SPANBPF_T_URL", "https://otel.example/v1/traces", 1);
	setenv("SPANBPF_T_SPANS", "42", 1);
	setenv("SPANBPF_T_PORT", "9090", 1);
	unsetenv("SPANBPF_T_UNSET");
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		load_ok(&cfg, cases[i].yaml);
		assert_string_equal(cfg.exporter_endpoint, cases[i].endpoint);
	}
	/* Every scalar value, not only strings. */
	load_ok(&cfg, "batch:\n"
		      "  max_spans: \"${SPANBPF_T_SPANS}\"\n"
		      "  timeout: ${SPANBPF_T_SPANS}ms\n"
		      "filters: {ports: [80, \"${SPANBPF_T_PORT}\"]}\n"
		      "log: {level: \"${SPANBPF_T_UNSET:-debug}\"}\n");
	assert_int_equal(cfg.batch_max_spans, 42);
	assert_int_equal(cfg.batch_timeout_ns, 42000000);
	assert_int_equal(cfg.nports, 2);
	assert_int_equal(cfg.ports[1], 9090);
	assert_int_equal(cfg.log_level, LOG_LEVEL_DEBUG);

	load_fails1("exporter.endpoint: http://${SPANBPF_T_UNSET}/",
		    "t.yaml:1:20: exporter.endpoint: environment variable SPANBPF_T_UNSET is "
		    "not set (write ${SPANBPF_T_UNSET:-default} to make it optional)");
	load_fails1("exporter.endpoint: \"http://${SPANBPF_T_HOST\"",
		    "t.yaml:1:20: exporter.endpoint: unterminated ${ (no closing })");
	load_fails1("exporter.endpoint: \"http://${SPANBPF_T_HOST:-x\"",
		    "t.yaml:1:20: exporter.endpoint: unterminated ${ (no closing })");
	load_fails1("exporter.endpoint: \"${}\"",
		    "t.yaml:1:20: exporter.endpoint: bad variable name in ${...}: use letters, "
		    "digits and _");
	load_fails1("exporter.endpoint: \"${1X}\"",
		    "t.yaml:1:20: exporter.endpoint: bad variable name in ${...}: use letters, "
		    "digits and _");
	load_fails1("exporter.endpoint: \"${A-b}\"",
		    "t.yaml:1:20: exporter.endpoint: bad variable reference: use ${NAME} or "
		    "${NAME:-default}");
	/* A bad expanded value names the text it came from. */
	load_fails1("batch: {max_spans: \"${SPANBPF_T_HOST}\"}",
		    "t.yaml:1:20: batch.max_spans: expected an integer in 1..65536, got "
		    "\"collector\" (expanded from \"${SPANBPF_T_HOST}\")");
	load_fails1("exporter.endpoint: http://${SPANBPF_T_EMPTY}/",
		    "t.yaml:1:20: exporter.endpoint: \"http:///\" has no host (expanded from "
		    "\"http://${SPANBPF_T_EMPTY}/\")");
	load_fails1("filters.ports: [\"${SPANBPF_T_UNSET}\"]",
		    "t.yaml:1:17: filters.ports[0]: environment variable SPANBPF_T_UNSET is "
		    "not set (write ${SPANBPF_T_UNSET:-default} to make it optional)");
	/* Keys are not expanded. */
	load_fails1("${SPANBPF_T_HOST}: 1",
		    "t.yaml:1:1: ${SPANBPF_T_HOST}: unknown key (valid here: exporter, batch, "
		    "filters, http, log)");

	/* An expansion longer than any value can be. */
	char *big = malloc(8192);

	assert_non_null(big);
	memset(big, 'x', 8191);
	big[8191] = '\0';
	setenv("SPANBPF_T_BIG", big, 1);
	load_fails1("exporter.endpoint: ${SPANBPF_T_BIG}",
		    "t.yaml:1:20: exporter.endpoint: value is longer than 4095 bytes");
	unsetenv("SPANBPF_T_BIG");
	free(big);
}

/* ---- OTEL_* overrides ------------------------------------------------------------------ */

static const char *fake_env[8][2];

static void fake_env_set(size_t n, ...)
{
	va_list ap;

	memset(fake_env, 0, sizeof(fake_env));
	va_start(ap, n);
	for (size_t i = 0; i < n && i < ARRAY_SIZE(fake_env); i++) {
		fake_env[i][0] = va_arg(ap, const char *);
		fake_env[i][1] = va_arg(ap, const char *);
	}
	va_end(ap);
}

static const char *fake_getenv(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(fake_env) && fake_env[i][0]; i++)
		if (!strcmp(fake_env[i][0], name))
			return fake_env[i][1];
	return NULL;
}

static void env_endpoint(const char *var, const char *value, const char *want)
{
	struct config cfg;

	config_defaults(&cfg);
	fake_env_set(1, var, value);
	assert_int_equal(config_apply_env(&cfg, fake_getenv, &errs), 0);
	assert_string_equal(cfg.exporter_endpoint, want);
}

static void test_env_overrides(void **state)
{
	struct config cfg, def;

	config_defaults(&def);
	/* Nothing set, or set empty: nothing changes. */
	cfg = def;
	fake_env_set(0);
	assert_int_equal(config_apply_env(&cfg, fake_getenv, &errs), 0);
	assert_config_equal(&cfg, &def);
	fake_env_set(2, "OTEL_EXPORTER_OTLP_ENDPOINT", "", "OTEL_EXPORTER_OTLP_COMPRESSION", "");
	assert_int_equal(config_apply_env(&cfg, fake_getenv, &errs), 0);
	assert_config_equal(&cfg, &def);

	/* The signal URL is used as is; a base URL gets /v1/traces. */
	env_endpoint("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:4318/custom",
		     "http://c:4318/custom");
	env_endpoint("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:4318/", "http://c:4318/");
	env_endpoint("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318", "http://c:4318/v1/traces");
	env_endpoint("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/", "http://c:4318/v1/traces");
	env_endpoint("OTEL_EXPORTER_OTLP_ENDPOINT", "https://c//", "https://c/v1/traces");
	env_endpoint("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c/otlp", "http://c/otlp/v1/traces");

	/* The signal variables win over the general ones. */
	config_defaults(&cfg);
	fake_env_set(4, "OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:4318",
		     "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4318/t",
		     "OTEL_EXPORTER_OTLP_COMPRESSION", "gzip",
		     "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "none");
	assert_int_equal(config_apply_env(&cfg, fake_getenv, &errs), 0);
	assert_string_equal(cfg.exporter_endpoint, "http://traces:4318/t");
	assert_int_equal(cfg.compression, COMPRESSION_NONE);

	config_defaults(&cfg);
	fake_env_set(1, "OTEL_EXPORTER_OTLP_COMPRESSION", "none");
	assert_int_equal(config_apply_env(&cfg, fake_getenv, &errs), 0);
	assert_int_equal(cfg.compression, COMPRESSION_NONE);
	cfg.compression = COMPRESSION_NONE;
	fake_env_set(1, "OTEL_EXPORTER_OTLP_COMPRESSION", "gzip");
	assert_int_equal(config_apply_env(&cfg, fake_getenv, &errs), 0);
	assert_int_equal(cfg.compression, COMPRESSION_GZIP);
}

static void test_env_override_errors(void **state)
{
	struct config cfg, odd;

	config_odd(&odd);
	cfg = odd;
	fake_env_set(2, "OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318",
		     "OTEL_EXPORTER_OTLP_COMPRESSION", "zstd");
	assert_int_equal(config_apply_env(&cfg, fake_getenv, &errs), 2);
	assert_int_equal(errs.count, 2);
	assert_string_equal(errs.msg[0], "OTEL_EXPORTER_OTLP_ENDPOINT: "
					 "\"collector:4318/v1/traces\" is not an http:// or "
					 "https:// URL");
	assert_string_equal(errs.msg[1], "OTEL_EXPORTER_OTLP_COMPRESSION: \"zstd\" is not one of: "
					 "none, gzip");
	assert_config_equal(&cfg, &odd);

	/* A bad signal variable is an error, not a reason to fall back. */
	fake_env_set(2, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://:1/",
		     "OTEL_EXPORTER_OTLP_ENDPOINT", "http://good:4318");
	assert_int_equal(config_apply_env(&cfg, fake_getenv, &errs), 1);
	assert_string_equal(errs.msg[0], "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: \"http://:1/\" "
					 "has no host");
	fake_env_set(1, "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "br");
	assert_int_equal(config_apply_env(&cfg, fake_getenv, NULL), 1);
	assert_config_equal(&cfg, &odd);
}

/* Defaults < file < environment, and the process environment when getenv_fn is NULL. */
static void test_precedence(void **state)
{
	struct config cfg;

	load_ok(&cfg, "exporter: {endpoint: http://file:4318/v1/traces, compression: none}");
	fake_env_set(0);
	assert_int_equal(config_apply_env(&cfg, fake_getenv, &errs), 0);
	assert_string_equal(cfg.exporter_endpoint, "http://file:4318/v1/traces");
	assert_int_equal(cfg.compression, COMPRESSION_NONE);
	assert_int_equal(cfg.batch_max_spans, 512);

	fake_env_set(1, "OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318");
	assert_int_equal(config_apply_env(&cfg, fake_getenv, &errs), 0);
	assert_string_equal(cfg.exporter_endpoint, "http://env:4318/v1/traces");
	assert_int_equal(cfg.compression, COMPRESSION_NONE);

	setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://proc:4318/x", 1);
	setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip", 1);
	assert_int_equal(config_apply_env(&cfg, NULL, &errs), 0);
	assert_string_equal(cfg.exporter_endpoint, "http://proc:4318/x");
	assert_int_equal(cfg.compression, COMPRESSION_GZIP);
	unsetenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
	unsetenv("OTEL_EXPORTER_OTLP_COMPRESSION");
}

/* ---- the shipped file and the printers ------------------------------------------------ */

/* Every key is in config/spanbpf.yaml, with its default: loading it over odd values gives
 * exactly the defaults. */
static void test_shipped_config(void **state)
{
	struct config cfg, def;

	config_defaults(&def);
	config_odd(&cfg);
	if (config_load_file(&cfg, SHIPPED_CONFIG, &errs)) {
		config_errors_print(&errs, stderr);
		fail_msg("%s does not load", SHIPPED_CONFIG);
	}
	assert_config_equal(&cfg, &def);
}

static char *print_to_string(const struct config *cfg)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	assert_non_null(f);
	config_print(cfg, f);
	fclose(f);
	return out;
}

static void test_print(void **state)
{
	struct config cfg, back;
	char *out;

	config_defaults(&cfg);
	out = print_to_string(&cfg);
	assert_string_equal(out, "exporter.endpoint: http://localhost:4318/v1/traces\n"
				 "exporter.compression: gzip\n"
				 "batch.max_spans: 512\n"
				 "batch.timeout: 1s\n"
				 "filters.ports: []\n"
				 "http.record_query: false\n"
				 "log.level: info\n");
	free(out);

	/* The output loads back to the same config, $ included. */
	config_odd(&cfg);
	out = print_to_string(&cfg);
	assert_string_equal(out, "exporter.endpoint: http://odd:1/$$x\n"
				 "exporter.compression: none\n"
				 "batch.max_spans: 7\n"
				 "batch.timeout: 1500us\n"
				 "filters.ports: [9, 65535]\n"
				 "http.record_query: true\n"
				 "log.level: error\n");
	config_defaults(&back);
	assert_int_equal(load(&back, out), 0);
	assert_config_equal(&back, &cfg);
	free(out);

	/* Text that plain YAML cannot hold is double quoted. */
	config_defaults(&cfg);
	snprintf(cfg.exporter_endpoint, sizeof(cfg.exporter_endpoint), "a: b \"$\\\t");
	out = print_to_string(&cfg);
	assert_non_null(strstr(out, "exporter.endpoint: \"a: b \\\"$$\\\\\\x09\"\n"));
	free(out);

	out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	assert_non_null(f);
	config_print_reference(f);
	fclose(f);
	assert_non_null(strstr(out, "batch.max_spans: an integer in 1..65536; default 512\n"));
	assert_non_null(strstr(out, "batch.timeout: a duration in 1ms..1h such as 200ms or 1.5s; "
				    "default 1s\n"));
	assert_non_null(strstr(out, "log.level: one of: error, warn, info, debug; default info\n"));
	free(out);
}

/* ---- robustness ------------------------------------------------------------------------ */

/* Every prefix and many byte mutations of valid files load or fail cleanly. */
static void test_garbage(void **state)
{
	static const char *const files[] = { SHIPPED_CONFIG, TEST_DATA_DIR "/config_valid.yaml",
					     TEST_DATA_DIR "/config_errors.yaml" };
	static const char bytes[] = { ':', '-', '[', ']', '{', '}', '\n', ' ', '\t', '"', '\'', '&',
				      '*', '!', '$', '#', '\0', '\xff', '?', ',', '|', '%' };
	uint32_t seed = 12345;

	for (size_t fi = 0; fi < ARRAY_SIZE(files); fi++) {
		char text[8192];
		FILE *f = fopen(files[fi], "rb");
		size_t len;

		assert_non_null(f);
		len = fread(text, 1, sizeof(text), f);
		fclose(f);
		for (size_t cut = 0; cut <= len; cut++) {
			struct config cfg;

			config_defaults(&cfg);
			config_load_string(&cfg, text, cut, "cut.yaml", &errs);
		}
		for (int round = 0; round < 400; round++) {
			char copy[8192];
			struct config cfg;

			memcpy(copy, text, len);
			for (int k = 0; k < 3; k++) {
				seed = seed * 1103515245 + 12345;
				copy[(seed >> 8) % len] = bytes[(seed >> 20) % sizeof(bytes)];
			}
			config_defaults(&cfg);
			config_load_string(&cfg, copy, len, "mut.yaml", &errs);
			assert_true(errs.count < 1000);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_empty_files),
		cmocka_unit_test(test_valid_file),
		cmocka_unit_test(test_each_key),
		cmocka_unit_test(test_dotted_keys),
		cmocka_unit_test(test_port_limit),
		cmocka_unit_test(test_booleans),
		cmocka_unit_test(test_urls),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_all_errors_reported),
		cmocka_unit_test(test_failed_load_keeps_config),
		cmocka_unit_test(test_too_many_errors),
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_env_expansion),
		cmocka_unit_test(test_env_overrides),
		cmocka_unit_test(test_env_override_errors),
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_shipped_config),
		cmocka_unit_test(test_print),
		cmocka_unit_test(test_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
