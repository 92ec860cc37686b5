// SPDX-License-Identifier: Apache-2.0
/*
 * test_config.c - the YAML config loader, the OTEL_* overrides and the printers.
 */
#include <errno.h>
#include <math.h>
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

static void assert_kv_equal(const struct config_kv *a, size_t na, const struct config_kv *b,
			    size_t nb)
{
	assert_int_equal(na, nb);
	for (size_t i = 0; i < na; i++) {
		assert_string_equal(a[i].name, b[i].name);
		assert_string_equal(a[i].value, b[i].value);
	}
}

static void assert_globs_equal(const char (*a)[CONFIG_GLOB_MAX], size_t na,
			       const char (*b)[CONFIG_GLOB_MAX], size_t nb)
{
	assert_int_equal(na, nb);
	for (size_t i = 0; i < na; i++)
		assert_string_equal(a[i], b[i]);
}

static void assert_config_equal(const struct config *a, const struct config *b)
{
	assert_string_equal(a->exporter_endpoint, b->exporter_endpoint);
	assert_int_equal(a->compression, b->compression);
	assert_int_equal(a->exporter_timeout_ns, b->exporter_timeout_ns);
	assert_kv_equal(a->exporter_headers, a->nexporter_headers, b->exporter_headers,
			b->nexporter_headers);
	assert_string_equal(a->exporter_tls_ca_file, b->exporter_tls_ca_file);
	assert_string_equal(a->exporter_tls_cert_file, b->exporter_tls_cert_file);
	assert_string_equal(a->exporter_tls_key_file, b->exporter_tls_key_file);
	assert_int_equal(a->exporter_tls_insecure_skip_verify,
			 b->exporter_tls_insecure_skip_verify);
	assert_int_equal(a->batch_max_spans, b->batch_max_spans);
	assert_int_equal(a->batch_timeout_ns, b->batch_timeout_ns);
	assert_int_equal(a->queue_max_spans, b->queue_max_spans);
	assert_int_equal(a->retry_initial_interval_ns, b->retry_initial_interval_ns);
	assert_int_equal(a->retry_max_interval_ns, b->retry_max_interval_ns);
	assert_int_equal(a->retry_max_elapsed_time_ns, b->retry_max_elapsed_time_ns);
	assert_int_equal(a->shutdown_timeout_ns, b->shutdown_timeout_ns);
	assert_true(a->sampling_ratio == b->sampling_ratio);
	assert_int_equal(a->nports, b->nports);
	assert_memory_equal(a->ports, b->ports, a->nports * sizeof(a->ports[0]));
	assert_int_equal(a->nexclude_ports, b->nexclude_ports);
	assert_memory_equal(a->exclude_ports, b->exclude_ports,
			    a->nexclude_ports * sizeof(a->exclude_ports[0]));
	assert_globs_equal(a->processes, a->nprocesses, b->processes, b->nprocesses);
	assert_globs_equal(a->exclude_processes, a->nexclude_processes, b->exclude_processes,
			   b->nexclude_processes);
	assert_kv_equal(a->resource_attributes, a->nresource_attributes, b->resource_attributes,
			b->nresource_attributes);
	assert_int_equal(a->nservices, b->nservices);
	for (size_t i = 0; i < a->nservices; i++) {
		assert_string_equal(a->services[i].name, b->services[i].name);
		assert_string_equal(a->services[i].executable, b->services[i].executable);
		assert_int_equal(a->services[i].port, b->services[i].port);
	}
	assert_int_equal(a->record_query, b->record_query);
	assert_int_equal(a->tls_enabled, b->tls_enabled);
	assert_int_equal(a->runtime_go, b->runtime_go);
	assert_int_equal(a->runtime_node, b->runtime_node);
	assert_string_equal(a->metrics_listen, b->metrics_listen);
	assert_int_equal(a->log_level, b->log_level);
}

static void set_kv(struct config_kv *kv, const char *name, const char *value)
{
	snprintf(kv->name, sizeof(kv->name), "%s", name);
	snprintf(kv->value, sizeof(kv->value), "%s", value);
}

static void set_service(struct config_service *svc, const char *name, const char *exe,
			uint16_t port)
{
	snprintf(svc->name, sizeof(svc->name), "%s", name);
	snprintf(svc->executable, sizeof(svc->executable), "%s", exe);
	svc->port = port;
}

/*
 * A config where every field differs from its default, with text that
 * plain YAML cannot hold as is ($, ": ", " #", a leading *, "null", "").
 */
static void config_odd(struct config *cfg)
{
	memset(cfg, 0xa5, sizeof(*cfg));
	snprintf(cfg->exporter_endpoint, sizeof(cfg->exporter_endpoint), "http://odd:1/$x");
	cfg->compression = COMPRESSION_NONE;
	cfg->exporter_timeout_ns = 2500000;
	set_kv(&cfg->exporter_headers[0], "authorization", "Bearer $abc: #x");
	set_kv(&cfg->exporter_headers[1], "x-$dollar", "");
	set_kv(&cfg->exporter_headers[2], "x-tab", "a\tb");
	cfg->nexporter_headers = 3;
	snprintf(cfg->exporter_tls_ca_file, CONFIG_PATH_MAX, "%s", TEST_DATA_DIR "/config_ca.pem");
	snprintf(cfg->exporter_tls_cert_file, CONFIG_PATH_MAX, "%s",
		 TEST_DATA_DIR "/config_client.pem");
	snprintf(cfg->exporter_tls_key_file, CONFIG_PATH_MAX, "%s",
		 TEST_DATA_DIR "/config_client.key");
	cfg->exporter_tls_insecure_skip_verify = true;
	cfg->batch_max_spans = 7;
	cfg->batch_timeout_ns = 1500000;
	cfg->queue_max_spans = 3;
	cfg->retry_initial_interval_ns = 1000000;
	cfg->retry_max_interval_ns = 90000000000;
	cfg->retry_max_elapsed_time_ns = 0;
	cfg->shutdown_timeout_ns = 250000000;
	cfg->sampling_ratio = 0.1;
	cfg->ports[0] = 9;
	cfg->ports[1] = 65535;
	cfg->nports = 2;
	cfg->exclude_ports[0] = 22;
	cfg->nexclude_ports = 1;
	snprintf(cfg->processes[0], CONFIG_GLOB_MAX, "*");
	snprintf(cfg->processes[1], CONFIG_GLOB_MAX, "[jJ]ava");
	cfg->nprocesses = 2;
	snprintf(cfg->exclude_processes[0], CONFIG_GLOB_MAX, "null");
	cfg->nexclude_processes = 1;
	set_kv(&cfg->resource_attributes[0], "k8s.cluster.name", "null");
	set_kv(&cfg->resource_attributes[1], "note", "a: b #c $d");
	set_kv(&cfg->resource_attributes[2], "- odd: key", "v");
	cfg->nresource_attributes = 3;
	set_service(&cfg->services[0], "shop #1", "", 8080);
	set_service(&cfg->services[1], "py", "python3*", 0);
	set_service(&cfg->services[2], "both", "node", 3000);
	cfg->nservices = 3;
	cfg->record_query = true;
	cfg->tls_enabled = false;
	cfg->runtime_go = false;
	cfg->runtime_node = false;
	snprintf(cfg->metrics_listen, sizeof(cfg->metrics_listen), ":9464");
	cfg->log_level = LOG_LEVEL_ERROR;
}

/* ---- defaults and valid input ---------------------------------------------------- */

static void test_defaults(void **state)
{
	struct config cfg;

	config_defaults(&cfg);
	assert_string_equal(cfg.exporter_endpoint, "http://localhost:4318/v1/traces");
	assert_int_equal(cfg.compression, COMPRESSION_GZIP);
	assert_int_equal(cfg.exporter_timeout_ns, 10000000000ULL);
	assert_int_equal(cfg.nexporter_headers, 0);
	assert_string_equal(cfg.exporter_tls_ca_file, "");
	assert_string_equal(cfg.exporter_tls_cert_file, "");
	assert_string_equal(cfg.exporter_tls_key_file, "");
	assert_false(cfg.exporter_tls_insecure_skip_verify);
	assert_int_equal(cfg.batch_max_spans, 512);
	assert_int_equal(cfg.batch_timeout_ns, 1000000000ULL);
	assert_int_equal(cfg.queue_max_spans, 65536);
	assert_int_equal(cfg.retry_initial_interval_ns, 5000000000ULL);
	assert_int_equal(cfg.retry_max_interval_ns, 30000000000ULL);
	assert_int_equal(cfg.retry_max_elapsed_time_ns, 300000000000ULL);
	assert_int_equal(cfg.shutdown_timeout_ns, 5000000000ULL);
	assert_true(cfg.sampling_ratio == 1.0);
	assert_int_equal(cfg.nports, 0);
	assert_int_equal(cfg.nexclude_ports, 0);
	assert_int_equal(cfg.nprocesses, 0);
	assert_int_equal(cfg.nexclude_processes, 0);
	assert_int_equal(cfg.nresource_attributes, 0);
	assert_int_equal(cfg.nservices, 0);
	assert_false(cfg.record_query);
	assert_string_equal(cfg.metrics_listen, "");
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
	load_ok(&cfg, "exporter:\nbatch: ~\nfilters: {}\nlog: null\nexporter.tls:\nretry: {}\n");
	assert_config_equal(&cfg, &def);
}

static void test_valid_file(void **state)
{
	struct config cfg;

	config_defaults(&cfg);
	setenv("SPANBPF_T_DATA", TEST_DATA_DIR, 1);
	unsetenv("SPANBPF_T_TOKEN");
	if (config_load_file(&cfg, TEST_DATA_DIR "/config_valid.yaml", &errs)) {
		config_errors_print(&errs, stderr);
		fail();
	}
	assert_int_equal(errs.count, 0);
	assert_string_equal(cfg.exporter_endpoint,
			    "https://collector.example:4318/otlp/v1/traces");
	assert_int_equal(cfg.compression, COMPRESSION_NONE);
	assert_int_equal(cfg.exporter_timeout_ns, 2500000000ULL);
	assert_int_equal(cfg.nexporter_headers, 2);
	assert_string_equal(cfg.exporter_headers[0].name, "Authorization");
	assert_string_equal(cfg.exporter_headers[0].value, "Bearer t0ken");
	assert_string_equal(cfg.exporter_headers[1].name, "x-scope-orgid");
	assert_string_equal(cfg.exporter_headers[1].value, "tenant-1");
	assert_string_equal(cfg.exporter_tls_ca_file, TEST_DATA_DIR "/config_ca.pem");
	assert_string_equal(cfg.exporter_tls_cert_file, TEST_DATA_DIR "/config_client.pem");
	assert_string_equal(cfg.exporter_tls_key_file, TEST_DATA_DIR "/config_client.key");
	assert_true(cfg.exporter_tls_insecure_skip_verify);
	assert_int_equal(cfg.batch_max_spans, 65536);
	assert_int_equal(cfg.batch_timeout_ns, 1500000);
	assert_int_equal(cfg.queue_max_spans, 1048576);
	assert_int_equal(cfg.retry_initial_interval_ns, 100000000);
	assert_int_equal(cfg.retry_max_interval_ns, 100000000);
	assert_int_equal(cfg.retry_max_elapsed_time_ns, 0);
	assert_int_equal(cfg.shutdown_timeout_ns, 0);
	assert_true(cfg.sampling_ratio == 0.125);
	assert_int_equal(cfg.nports, 4);
	assert_int_equal(cfg.ports[0], 8080);
	assert_int_equal(cfg.ports[1], 443);
	assert_int_equal(cfg.ports[2], 1);
	assert_int_equal(cfg.ports[3], 65535);
	assert_int_equal(cfg.nexclude_ports, 2);
	assert_int_equal(cfg.exclude_ports[0], 9464);
	assert_int_equal(cfg.exclude_ports[1], 4318);
	assert_int_equal(cfg.nprocesses, 3);
	assert_string_equal(cfg.processes[0], "nginx");
	assert_string_equal(cfg.processes[1], "python3*");
	assert_string_equal(cfg.processes[2], "node[0-9]?");
	assert_int_equal(cfg.nexclude_processes, 1);
	assert_string_equal(cfg.exclude_processes[0], "*-debug");
	assert_int_equal(cfg.nresource_attributes, 2);
	assert_string_equal(cfg.resource_attributes[0].name, "deployment.environment.name");
	assert_string_equal(cfg.resource_attributes[0].value, "production");
	assert_string_equal(cfg.resource_attributes[1].name, "k8s.cluster.name");
	assert_string_equal(cfg.resource_attributes[1].value, "eu-1");
	assert_int_equal(cfg.nservices, 3);
	assert_string_equal(cfg.services[0].name, "checkout");
	assert_string_equal(cfg.services[0].executable, "");
	assert_int_equal(cfg.services[0].port, 8080);
	assert_string_equal(cfg.services[1].name, "billing");
	assert_string_equal(cfg.services[1].executable, "billing-*");
	assert_int_equal(cfg.services[1].port, 0);
	assert_string_equal(cfg.services[2].name, "python-app");
	assert_string_equal(cfg.services[2].executable, "python3*");
	assert_int_equal(cfg.services[2].port, 5000);
	assert_true(cfg.record_query);
	assert_string_equal(cfg.metrics_listen, "[::1]:9464");
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

	load_ok(&cfg, "exporter: {timeout: 1ms}");
	assert_int_equal(cfg.exporter_timeout_ns, 1000000);
	load_ok(&cfg, "exporter: {timeout: 10m}");
	assert_int_equal(cfg.exporter_timeout_ns, 600000000000ULL);
	load_ok(&cfg, "exporter:\n  tls:\n    insecure_skip_verify: yes\n");
	assert_true(cfg.exporter_tls_insecure_skip_verify);
	load_ok(&cfg, "exporter.tls.ca_file: " TEST_DATA_DIR "/config_ca.pem");
	assert_string_equal(cfg.exporter_tls_ca_file, TEST_DATA_DIR "/config_ca.pem");
	load_ok(&cfg, "exporter.tls: {ca_file: \"\", cert_file: , key_file: ~}");
	assert_string_equal(cfg.exporter_tls_ca_file, "");
	load_ok(&cfg, "queue: {max_spans: 1}");
	assert_int_equal(cfg.queue_max_spans, 1);
	load_ok(&cfg, "queue: {max_spans: 1048576}");
	assert_int_equal(cfg.queue_max_spans, 1048576);
	load_ok(&cfg, "retry: {initial_interval: 1ms, max_interval: 1h, max_elapsed_time: 24h}");
	assert_int_equal(cfg.retry_initial_interval_ns, 1000000);
	assert_int_equal(cfg.retry_max_interval_ns, 3600000000000ULL);
	assert_int_equal(cfg.retry_max_elapsed_time_ns, 86400000000000ULL);
	load_ok(&cfg, "retry: {max_elapsed_time: 0s}");
	assert_int_equal(cfg.retry_max_elapsed_time_ns, 0);
	/* Equal intervals are fine. */
	load_ok(&cfg, "retry: {initial_interval: 30s}");
	assert_int_equal(cfg.retry_initial_interval_ns, 30000000000ULL);
	load_ok(&cfg, "shutdown_timeout: 10m");
	assert_int_equal(cfg.shutdown_timeout_ns, 600000000000ULL);
	load_ok(&cfg, "shutdown_timeout: 0s");
	assert_int_equal(cfg.shutdown_timeout_ns, 0);
	load_ok(&cfg, "filters: {exclude_ports: [22, 9464]}");
	assert_int_equal(cfg.nexclude_ports, 2);
	assert_int_equal(cfg.exclude_ports[1], 9464);
	/* A port may be both selected and excluded: only its outbound calls are traced. */
	load_ok(&cfg, "filters: {ports: [8080], exclude_ports: [8080]}");
	assert_int_equal(cfg.nports, 1);
	assert_int_equal(cfg.nexclude_ports, 1);
	load_ok(&cfg, "metrics.listen: 127.0.0.1:9464");
	assert_string_equal(cfg.metrics_listen, "127.0.0.1:9464");
	load_ok(&cfg, "metrics:\n  listen:\n");
	assert_string_equal(cfg.metrics_listen, "");
}

static void test_sampling_ratio(void **state)
{
	static const struct {
		const char *text;
		double value;
	} good[] = {
		{ "0", 0 },	     { "1", 1 },	{ "0.25", 0.25 },   { "1e-3", 0.001 },
		{ "1E-3", 0.001 },   { ".5", 0.5 },	{ "1.", 1 },	    { "0.0", 0 },
		{ "-0", 0 },	     { "+0.5", 0.5 },	{ "\"0.75\"", 0.75 }, { "1.000", 1 },
		{ "100e-2", 1 },     { "1e-400", 0 },	{ "0.1", 0.1 },
	};
	static const struct {
		const char *text;
		const char *msg;
	} bad[] = {
		{ "1.5", "1.5 is out of range 0..1" },
		{ "-0.1", "-0.1 is out of range 0..1" },
		{ "2", "2 is out of range 0..1" },
		{ "1e999", "1e999 is out of range 0..1" },
		{ "abc", "expected a number in 0..1, got \"abc\"" },
		{ "nan", "expected a number in 0..1, got \"nan\"" },
		{ "NaN", "expected a number in 0..1, got \"NaN\"" },
		{ ".nan", "expected a number in 0..1, got \".nan\"" },
		{ "inf", "expected a number in 0..1, got \"inf\"" },
		{ "0x1p-2", "expected a number in 0..1, got \"0x1p-2\"" },
		{ "50%", "expected a number in 0..1, got \"50%\"" },
		{ "1e", "expected a number in 0..1, got \"1e\"" },
		{ ".", "expected a number in 0..1, got \".\"" },
		{ "0.5.", "expected a number in 0..1, got \"0.5.\"" },
		{ "\" 0.5\"", "expected a number in 0..1, got \" 0.5\"" },
		{ "\"\"", "expected a number in 0..1, got \"\"" },
		{ "[0.5]", "expected a number in 0..1, got a list" },
		{ "~", "missing value (expected a number in 0..1)" },
	};
	struct config cfg;
	char yaml[64], msg[CONFIG_ERROR_LEN];

	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		snprintf(yaml, sizeof(yaml), "sampling.ratio: %s", good[i].text);
		load_ok(&cfg, yaml);
		if (cfg.sampling_ratio != good[i].value)
			fail_msg("%s: got %g", good[i].text, cfg.sampling_ratio);
		assert_false(signbit(cfg.sampling_ratio));
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		snprintf(yaml, sizeof(yaml), "sampling:\n  ratio: %s", bad[i].text);
		snprintf(msg, sizeof(msg), "t.yaml:2:10: sampling.ratio: %s", bad[i].msg);
		load_fails1(yaml, msg);
	}
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

/* ---- lists and mappings ---------------------------------------------------------------- */

static void test_headers_and_attributes(void **state)
{
	struct config cfg;

	load_ok(&cfg, "exporter:\n"
		      "  headers:\n"
		      "    Authorization: \"Bearer ${SPANBPF_T_UNSET:-abc}\"\n"
		      "    x-scope-orgid: tenant-1\n"
		      "    X-Empty: \"\"\n"
		      "    x-tab: \"a\\tb\"\n"
		      "    \"!#$%&'*+-.^_`|~09az\": ok\n");
	assert_int_equal(cfg.nexporter_headers, 5);
	assert_string_equal(cfg.exporter_headers[0].name, "Authorization");
	assert_string_equal(cfg.exporter_headers[0].value, "Bearer abc");
	assert_string_equal(cfg.exporter_headers[1].name, "x-scope-orgid");
	assert_string_equal(cfg.exporter_headers[2].value, "");
	assert_string_equal(cfg.exporter_headers[3].value, "a\tb");
	assert_string_equal(cfg.exporter_headers[4].name, "!#$%&'*+-.^_`|~09az");

	/* A mapping replaces the earlier one whole; empty forms empty it. */
	assert_int_equal(load(&cfg, "exporter.headers: {a: 1}"), 0);
	assert_int_equal(cfg.nexporter_headers, 1);
	assert_string_equal(cfg.exporter_headers[0].name, "a");
	assert_int_equal(load(&cfg, "exporter.headers: {}"), 0);
	assert_int_equal(cfg.nexporter_headers, 0);
	cfg.nexporter_headers = 1;
	assert_int_equal(load(&cfg, "exporter.headers:\n"), 0);
	assert_int_equal(cfg.nexporter_headers, 0);

	/* Attribute names keep their case and may hold dots, spaces and more. */
	load_ok(&cfg, "resource:\n"
		      "  attributes:\n"
		      "    deployment.environment.name: prod\n"
		      "    Team: a\n"
		      "    team: b\n"
		      "    \"odd key: x\": \"multi\\nline\"\n"
		      "    empty: \"\"\n");
	assert_int_equal(cfg.nresource_attributes, 5);
	assert_string_equal(cfg.resource_attributes[0].name, "deployment.environment.name");
	assert_string_equal(cfg.resource_attributes[1].name, "Team");
	assert_string_equal(cfg.resource_attributes[2].name, "team");
	assert_string_equal(cfg.resource_attributes[3].name, "odd key: x");
	assert_string_equal(cfg.resource_attributes[3].value, "multi\nline");
	assert_string_equal(cfg.resource_attributes[4].value, "");
}

/* open, then n entries "<a>I<b>I<c>" (I = 0..n-1) joined by sep, then close; to be freed. */
static char *many(const char *open, const char *a, const char *b, const char *c,
		  const char *sep, const char *close, size_t n)
{
	size_t size = strlen(open) + strlen(close) +
		      n * (strlen(a) + strlen(b) + strlen(c) + strlen(sep) + 40) + 1, used;
	char *yaml = malloc(size);

	assert_non_null(yaml);
	used = (size_t)snprintf(yaml, size, "%s", open);
	for (size_t i = 0; i < n; i++)
		used += (size_t)snprintf(yaml + used, size - used, "%s%s%zu%s%zu%s", i ? sep : "",
					 a, i, b, i, c);
	snprintf(yaml + used, size - used, "%s", close);
	return yaml;
}

/* The capacity of each list and mapping, and the message one more gets. */
static void test_limits(void **state)
{
	static const struct {
		const char *open, *a, *b, *c, *close;
		size_t cap;
		const char *msg;
		size_t offsetof_count;
	} cases[] = {
		{ "exporter.headers: {", "h", ": v", "", "}", CONFIG_MAX_HEADERS,
		  "exporter.headers: more than 32 headers",
		  offsetof(struct config, nexporter_headers) },
		{ "resource.attributes: {", "a", ": v", "", "}", CONFIG_MAX_ATTRIBUTES,
		  "resource.attributes: more than 32 attributes",
		  offsetof(struct config, nresource_attributes) },
		{ "filters.processes: [", "p", "_", "", "]", CONFIG_MAX_GLOBS,
		  "filters.processes: more than 64 patterns", offsetof(struct config, nprocesses) },
		{ "filters.exclude_processes: [", "p", "_", "", "]", CONFIG_MAX_GLOBS,
		  "filters.exclude_processes: more than 64 patterns",
		  offsetof(struct config, nexclude_processes) },
		{ "services: [", "{name: s", ", port: 1", "}", "]", CONFIG_MAX_SERVICES,
		  "services: more than 64 rules", offsetof(struct config, nservices) },
	};
	struct config cfg;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *yaml = many(cases[i].open, cases[i].a, cases[i].b, cases[i].c, ", ",
				  cases[i].close, cases[i].cap);
		char *more = many(cases[i].open, cases[i].a, cases[i].b, cases[i].c, ", ",
				  cases[i].close, cases[i].cap + 1);
		char msg[CONFIG_ERROR_LEN];

		load_ok(&cfg, yaml);
		assert_int_equal(*(size_t *)((char *)&cfg + cases[i].offsetof_count), cases[i].cap);
		/* The message points at the entry too many: the last one, after ", ". */
		snprintf(msg, sizeof(msg), "t.yaml:1:%zu: %s",
			 strlen(yaml) - strlen(cases[i].close) + 3, cases[i].msg);
		load_fails1(more, msg);
		free(yaml);
		free(more);
	}
}

/* Names and values up to their buffers, and one byte more. */
static void test_lengths(void **state)
{
	char *yaml = malloc(8192), *msg = malloc(8192), name[CONFIG_KV_NAME_MAX + 1];
	char value[CONFIG_KV_VALUE_MAX + 1], glob[CONFIG_GLOB_MAX + 1];
	char svc[CONFIG_SERVICE_NAME_MAX + 1], listen[CONFIG_LISTEN_MAX + 1];
	struct config cfg;

	assert_non_null(yaml);
	assert_non_null(msg);
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 2] = '\0';
	memset(value, 'v', sizeof(value) - 1);
	value[sizeof(value) - 2] = '\0';
	memset(glob, 'g', sizeof(glob) - 1);
	glob[sizeof(glob) - 2] = '\0';
	memset(svc, 's', sizeof(svc) - 1);
	svc[sizeof(svc) - 2] = '\0';
	memset(listen, 'h', sizeof(listen) - 1);
	listen[sizeof(listen) - 2] = '\0';
	memcpy(listen + sizeof(listen) - 4, ":1", 3);

	snprintf(yaml, 8192, "exporter.headers: {%s: %s}", name, value);
	load_ok(&cfg, yaml);
	assert_int_equal(strlen(cfg.exporter_headers[0].name), CONFIG_KV_NAME_MAX - 1);
	assert_int_equal(strlen(cfg.exporter_headers[0].value), CONFIG_KV_VALUE_MAX - 1);
	snprintf(yaml, 8192, "resource.attributes: {%s: %s}", name, value);
	load_ok(&cfg, yaml);
	snprintf(yaml, 8192, "filters.processes: [%s]\nservices: [{name: %s, executable: %s}]",
		 glob, svc, glob);
	load_ok(&cfg, yaml);
	assert_int_equal(strlen(cfg.processes[0]), CONFIG_GLOB_MAX - 1);
	assert_int_equal(strlen(cfg.services[0].name), CONFIG_SERVICE_NAME_MAX - 1);
	snprintf(yaml, 8192, "metrics.listen: %s", listen);
	load_ok(&cfg, yaml);
	assert_int_equal(strlen(cfg.metrics_listen), CONFIG_LISTEN_MAX - 1);

	strcat(name, "n");
	snprintf(yaml, 8192, "exporter.headers: {%s: v}", name);
	config_defaults(&cfg);
	assert_int_equal(load(&cfg, yaml), 1);
	assert_non_null(strstr(errs.msg[0], "t.yaml:1:20: exporter.headers: \"nnnn"));
	assert_non_null(strstr(errs.msg[0], "...\" is longer than 127 bytes"));
	strcat(value, "v");
	snprintf(yaml, 8192, "resource.attributes: {a: %s}", value);
	assert_int_equal(load(&cfg, yaml), 1);
	assert_non_null(strstr(errs.msg[0], "t.yaml:1:26: resource.attributes.a: \"vvvv"));
	assert_non_null(strstr(errs.msg[0], "...\" is longer than 1023 bytes"));
	strcat(glob, "g");
	snprintf(yaml, 8192, "filters.processes: [%s]", glob);
	assert_int_equal(load(&cfg, yaml), 1);
	assert_non_null(strstr(errs.msg[0], "t.yaml:1:21: filters.processes[0]: \"gggg"));
	assert_non_null(strstr(errs.msg[0], "...\" is longer than 255 bytes"));
	strcat(svc, "s");
	snprintf(yaml, 8192, "services: [{port: 1, name: %s}]", svc);
	assert_int_equal(load(&cfg, yaml), 1);
	assert_non_null(strstr(errs.msg[0], "t.yaml:1:28: services[0].name: \"ssss"));
	assert_non_null(strstr(errs.msg[0], "...\" is longer than 255 bytes"));
	memcpy(listen + sizeof(listen) - 4, "h:1", 4);
	snprintf(yaml, 8192, "metrics.listen: %s", listen);
	assert_int_equal(load(&cfg, yaml), 1);
	assert_non_null(strstr(errs.msg[0], "t.yaml:1:17: metrics.listen: \"hhhh"));
	assert_non_null(strstr(errs.msg[0], "...\" is longer than 255 bytes"));
	free(yaml);
	free(msg);
}

/* Block-style rules, every problem of each with its position, in one pass. */
static void test_services(void **state)
{
	static const char *const msgs[] = {
		"t.yaml:6:5: services[2].name: missing",
		"t.yaml:8:11: services[3].port: 99999 is out of range 1..65535",
		"t.yaml:9:5: services[3].exe: unknown key (valid here: name, executable, port)",
		"t.yaml:10:5: services[4]: needs executable, port or both",
		"t.yaml:11:5: services[5]: expected a mapping with keys name, executable, port, "
		"got \"web\"",
	};
	const char *yaml = "services:\n"
			   "  - name: checkout\n"
			   "    port: 8080\n"
			   "  - name: billing\n"
			   "    executable: \"billing-*\"\n"
			   "  - port: 9000\n"
			   "  - name: x\n"
			   "    port: 99999\n"
			   "    exe: x\n"
			   "  - name: y\n"
			   "  - web\n";
	struct config cfg;

	load_fails(yaml, ARRAY_SIZE(msgs), msgs);

	load_ok(&cfg, "services:\n"
		      "  - name: checkout\n"
		      "    port: 8080\n"
		      "  - {name: all, executable: \"*\"}\n"
		      "  - name: \"python app\"\n"
		      "    executable: \"python3*\"\n"
		      "    port: \"5000\"\n");
	assert_int_equal(cfg.nservices, 3);
	assert_string_equal(cfg.services[0].name, "checkout");
	assert_string_equal(cfg.services[0].executable, "");
	assert_int_equal(cfg.services[0].port, 8080);
	assert_string_equal(cfg.services[1].executable, "*");
	assert_int_equal(cfg.services[1].port, 0);
	assert_string_equal(cfg.services[2].name, "python app");
	assert_int_equal(cfg.services[2].port, 5000);
	/* Two rules may give the same name. */
	load_ok(&cfg, "services: [{name: a, port: 1}, {name: a, port: 2}]");
	assert_int_equal(cfg.nservices, 2);
	/* Empty forms empty the list. */
	assert_int_equal(load(&cfg, "services: []"), 0);
	assert_int_equal(cfg.nservices, 0);
}

/* Cross-key checks against a config loaded earlier (a reload). */
static void test_cross_keys(void **state)
{
	struct config cfg, before;

	load_ok(&cfg, "exporter.tls: {cert_file: " TEST_DATA_DIR "/config_client.pem, key_file: "
		      TEST_DATA_DIR "/config_client.key}\n");
	before = cfg;
	/* The file empties one of a pair the earlier config set. */
	assert_int_equal(load(&cfg, "exporter:\n  tls:\n    key_file: \"\"\n"), 1);
	assert_string_equal(errs.msg[0], "t.yaml:3:15: exporter.tls.key_file: empty while "
					 "exporter.tls.cert_file is set (mutual TLS takes both)");
	assert_config_equal(&cfg, &before);
	/* Both emptied: fine. */
	assert_int_equal(load(&cfg, "exporter.tls: {cert_file: \"\", key_file: \"\"}"), 0);
	assert_string_equal(cfg.exporter_tls_cert_file, "");

	/* Intervals: the file lowers max_interval under an earlier initial_interval. */
	load_ok(&cfg, "retry: {initial_interval: 20s}");
	assert_int_equal(load(&cfg, "retry.max_interval: 10s"), 1);
	assert_string_equal(errs.msg[0], "t.yaml:1:21: retry.max_interval: 10s is less than "
					 "retry.initial_interval (20s)");
	/* Both set in one file: reported at initial_interval. */
	assert_int_equal(load(&cfg, "retry.max_interval: 10s\nretry.initial_interval: 11s\n"), 1);
	assert_string_equal(errs.msg[0], "t.yaml:2:25: retry.initial_interval: 11s is more than "
					 "retry.max_interval (10s)");
	/* With other problems: all of them, cross checks last. */
	config_defaults(&cfg);
	assert_int_equal(load(&cfg, "retry: {initial_interval: 40s}\nsampling.ratio: 2\n"
				    "exporter.tls.cert_file: " TEST_DATA_DIR "/config_ca.pem\n"),
			 3);
	assert_string_equal(errs.msg[0], "t.yaml:2:17: sampling.ratio: 2 is out of range 0..1");
	assert_string_equal(errs.msg[1], "t.yaml:1:27: retry.initial_interval: 40s is more than "
					 "retry.max_interval (30s)");
	assert_string_equal(errs.msg[2], "t.yaml:3:25: exporter.tls.cert_file: set without "
					 "exporter.tls.key_file (mutual TLS takes both)");
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
	  "t.yaml:1:11: exporter: expected a mapping with keys endpoint, compression, timeout, "
	  "headers, tls, got a list" },
	{ "exporter: {tls: 1}",
	  "t.yaml:1:17: exporter.tls: expected a mapping with keys ca_file, cert_file, key_file, "
	  "insecure_skip_verify, got \"1\"" },
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
	{ "timeout: 1s\n", "t.yaml:1:1: timeout: unknown key (did you mean exporter.timeout?)" },
	{ "exporter: {timout: 1s}",
	  "t.yaml:1:12: exporter.timout: unknown key (did you mean exporter.timeout?)" },
	{ "shutdown: 1s\n",
	  "t.yaml:1:1: shutdown: unknown key (valid here: exporter, batch, queue, retry, "
	  "shutdown_timeout, sampling, filters, resource, services, http, tls, runtimes, metrics, log)" },
	{ "shutdown_timout: 1s\n",
	  "t.yaml:1:1: shutdown_timout: unknown key (did you mean shutdown_timeout?)" },
	{ "retry: {initial: 1s}",
	  "t.yaml:1:9: retry.initial: unknown key (valid here: initial_interval, max_interval, "
	  "max_elapsed_time)" },
	{ "exporter.tls.ca: /x",
	  "t.yaml:1:1: exporter.tls.ca: unknown key (did you mean exporter.tls.ca_file?)" },
	{ "exporter:\n  tls:\n    ssl: true\n",
	  "t.yaml:3:5: exporter.tls.ssl: unknown key (valid here: ca_file, cert_file, key_file, "
	  "insecure_skip_verify)" },
	{ "exporter.headers.authorization: x",
	  "t.yaml:1:1: exporter.headers.authorization: unknown key (write it inside the "
	  "exporter.headers mapping)" },
	{ "batch.timeout.max: 1s",
	  "t.yaml:1:1: batch.timeout.max: unknown key (batch.timeout is a setting, not a "
	  "section)" },
	{ "sampling: {rate: 0.5}",
	  "t.yaml:1:12: sampling.rate: unknown key (did you mean sampling.ratio?)" },
	{ "Log: {level: info}", "t.yaml:1:1: Log: unknown key (did you mean log?)" },
	{ "tracing: on", "t.yaml:1:1: tracing: unknown key (valid here: exporter, batch, queue, "
		       "retry, shutdown_timeout, sampling, filters, resource, services, http, "
		       "tls, runtimes, metrics, log)" },
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

	/* queue, retry, timeouts */
	{ "queue: {max_spans: 0}", "t.yaml:1:20: queue.max_spans: 0 is out of range 1..1048576" },
	{ "queue: {max_spans: 1048577}",
	  "t.yaml:1:20: queue.max_spans: 1048577 is out of range 1..1048576" },
	{ "queue: {max_spans: lots}",
	  "t.yaml:1:20: queue.max_spans: expected an integer in 1..1048576, got \"lots\"" },
	{ "retry: {initial_interval: 0s}",
	  "t.yaml:1:27: retry.initial_interval: 0s is out of range 1ms..1h" },
	{ "retry: {max_interval: 2h}",
	  "t.yaml:1:23: retry.max_interval: 2h is out of range 1ms..1h" },
	{ "retry: {max_elapsed_time: 25h}",
	  "t.yaml:1:27: retry.max_elapsed_time: 25h is out of range 0s..24h" },
	{ "retry: {max_elapsed_time: 0}",
	  "t.yaml:1:27: retry.max_elapsed_time: \"0\" needs a unit: ns, us, ms, s, m or h "
	  "(e.g. 0s)" },
	{ "retry: {max_elapsed_time: forever}",
	  "t.yaml:1:27: retry.max_elapsed_time: expected a duration such as 200ms or 1.5s, got "
	  "\"forever\"" },
	{ "exporter: {timeout: 11m}",
	  "t.yaml:1:21: exporter.timeout: 11m is out of range 1ms..10m" },
	{ "exporter: {timeout: 500us}",
	  "t.yaml:1:21: exporter.timeout: 500us is out of range 1ms..10m" },
	{ "exporter: {timeout: 10}",
	  "t.yaml:1:21: exporter.timeout: \"10\" needs a unit: ns, us, ms, s, m or h (e.g. 10s)" },
	{ "shutdown_timeout: 1h", "t.yaml:1:19: shutdown_timeout: 1h is out of range 0s..10m" },
	{ "shutdown_timeout: {a: 1}",
	  "t.yaml:1:19: shutdown_timeout: expected a duration in 0s..10m such as 200ms or 1.5s, "
	  "got a mapping" },
	/* exporter.headers */
	{ "exporter.headers: [a]",
	  "t.yaml:1:19: exporter.headers: expected a mapping of up to 32 HTTP header names to "
	  "values, got a list" },
	{ "exporter.headers: Bearer x",
	  "t.yaml:1:19: exporter.headers: expected a mapping of up to 32 HTTP header names to "
	  "values, got \"Bearer x\"" },
	{ "exporter.headers: {\"bad name\": x}",
	  "t.yaml:1:20: exporter.headers: \"bad name\" is not a valid header name (use letters, "
	  "digits and !#$%&'*+-.^_`|~)" },
	{ "exporter.headers: {\"x:y\": x}",
	  "t.yaml:1:20: exporter.headers: \"x:y\" is not a valid header name (use letters, "
	  "digits and !#$%&'*+-.^_`|~)" },
	{ "exporter.headers: {\"\": x}",
	  "t.yaml:1:20: exporter.headers: a header name is empty" },
	{ "exporter.headers: {Content-Type: text/plain}",
	  "t.yaml:1:20: exporter.headers: \"Content-Type\" is set by the exporter itself" },
	{ "exporter.headers: {content-encoding: br}",
	  "t.yaml:1:20: exporter.headers: \"content-encoding\" is set by the exporter itself" },
	{ "exporter.headers: {? [a]\n: 1}",
	  "t.yaml:1:22: exporter.headers: header names must be strings, got a list" },
	{ "exporter.headers: {x-a: \"a\\nb\"}",
	  "t.yaml:1:25: exporter.headers.x-a: value \"a\\x0ab\" contains a control character" },
	{ "exporter.headers: {x-a: \"a\\rb\"}",
	  "t.yaml:1:25: exporter.headers.x-a: value \"a\\x0db\" contains a control character" },
	{ "exporter.headers: {x-a: [1]}",
	  "t.yaml:1:25: exporter.headers.x-a: expected a string, got a list" },
	{ "exporter.headers: {x-a: }",
	  "t.yaml:1:25: exporter.headers.x-a: missing value (expected a string)" },
	{ "exporter.headers: {x-a: \"${SPANBPF_T_UNSET}\"}",
	  "t.yaml:1:25: exporter.headers.x-a: environment variable SPANBPF_T_UNSET is not set "
	  "(write ${SPANBPF_T_UNSET:-default} to make it optional)" },
	{ "exporter.headers: {a: 1, a: 2}",
	  "t.yaml:1:26: exporter.headers.a: duplicate key (first at 1:20)" },
	{ "exporter.headers: {Authorization: 1, authorization: 2}",
	  "t.yaml:1:38: exporter.headers.authorization: duplicate key (first at 1:20 as "
	  "\"Authorization\"; header names ignore case)" },
	/* exporter.tls */
	{ "exporter.tls.ca_file: /nonexistent/ca.pem",
	  "t.yaml:1:23: exporter.tls.ca_file: cannot read \"/nonexistent/ca.pem\": No such file "
	  "or directory" },
	{ "exporter.tls:\n  key_file: " TEST_DATA_DIR "\n",
	  "t.yaml:2:13: exporter.tls.key_file: cannot read \"" TEST_DATA_DIR "\": Is a directory" },
	{ "exporter.tls.cert_file: /dev/null",
	  "t.yaml:1:25: exporter.tls.cert_file: \"/dev/null\" is not a regular file" },
	{ "exporter.tls.ca_file: [a.pem]",
	  "t.yaml:1:23: exporter.tls.ca_file: expected a file path (\"\": none), got a list" },
	{ "exporter.tls.ca_file: ${SPANBPF_T_HOST}.pem",
	  "t.yaml:1:23: exporter.tls.ca_file: cannot read \"collector.pem\": No such file or "
	  "directory (expanded from \"${SPANBPF_T_HOST}.pem\")" },
	{ "exporter.tls.insecure_skip_verify: sure",
	  "t.yaml:1:36: exporter.tls.insecure_skip_verify: expected true or false, got \"sure\"" },
	{ "exporter.tls.cert_file: " TEST_DATA_DIR "/config_client.pem",
	  "t.yaml:1:25: exporter.tls.cert_file: set without exporter.tls.key_file (mutual TLS "
	  "takes both)" },
	{ "exporter:\n  tls:\n    key_file: \"" TEST_DATA_DIR "/config_client.key\"\n",
	  "t.yaml:3:15: exporter.tls.key_file: set without exporter.tls.cert_file (mutual TLS "
	  "takes both)" },
	/* retry intervals across keys, reported where the file set one */
	{ "retry: {initial_interval: 1m}",
	  "t.yaml:1:27: retry.initial_interval: 1m is more than retry.max_interval (30s)" },
	{ "retry: {max_interval: 1s}",
	  "t.yaml:1:23: retry.max_interval: 1s is less than retry.initial_interval (5s)" },
	{ "retry:\n  max_interval: 10s\n  initial_interval: 11s\n",
	  "t.yaml:3:21: retry.initial_interval: 11s is more than retry.max_interval (10s)" },
	/* a refused value is not compared with the other key */
	{ "retry: {initial_interval: 0s, max_interval: 1ms}",
	  "t.yaml:1:27: retry.initial_interval: 0s is out of range 1ms..1h" },
	/* metrics.listen */
	{ "metrics.listen: 9464",
	  "t.yaml:1:17: metrics.listen: \"9464\" is not HOST:PORT, :PORT or [IPV6]:PORT" },
	{ "metrics.listen: localhost",
	  "t.yaml:1:17: metrics.listen: \"localhost\" is not HOST:PORT, :PORT or [IPV6]:PORT" },
	{ "metrics.listen: \"::1:9464\"",
	  "t.yaml:1:17: metrics.listen: \"::1:9464\" needs brackets around its IPv6 address: "
	  "[ADDRESS]:PORT" },
	{ "metrics.listen: \"[::g]:9464\"",
	  "t.yaml:1:17: metrics.listen: \"[::g]:9464\" has a bad IPv6 address" },
	{ "metrics.listen: \"[::1\"",
	  "t.yaml:1:17: metrics.listen: \"[::1\" has a bad IPv6 address" },
	{ "metrics.listen: \"[::1]\"",
	  "t.yaml:1:17: metrics.listen: \"[::1]\" is not HOST:PORT, :PORT or [IPV6]:PORT" },
	{ "metrics.listen: \"[::1]9464\"",
	  "t.yaml:1:17: metrics.listen: \"[::1]9464\" is not HOST:PORT, :PORT or [IPV6]:PORT" },
	{ "metrics.listen: \"h:0\"",
	  "t.yaml:1:17: metrics.listen: \"h:0\" has a bad port (1..65535)" },
	{ "metrics.listen: \"h:65536\"",
	  "t.yaml:1:17: metrics.listen: \"h:65536\" has a bad port (1..65535)" },
	{ "metrics.listen: \"h:\"",
	  "t.yaml:1:17: metrics.listen: \"h:\" has a bad port (1..65535)" },
	{ "metrics.listen: \"h:http\"",
	  "t.yaml:1:17: metrics.listen: \"h:http\" has a bad port (1..65535)" },
	{ "metrics.listen: \"a_b:1\"",
	  "t.yaml:1:17: metrics.listen: \"a_b:1\" has a bad host name" },
	{ "metrics.listen: \"a b:1\"",
	  "t.yaml:1:17: metrics.listen: \"a b:1\" has a bad host name" },
	{ "metrics.listen: {a: 1}",
	  "t.yaml:1:17: metrics.listen: expected HOST:PORT, :PORT or [IPV6]:PORT (\"\": off), got "
	  "a mapping" },
	/* filters */
	{ "filters: {exclude_ports: [0]}",
	  "t.yaml:1:27: filters.exclude_ports[0]: 0 is out of range 1..65535" },
	{ "filters: {exclude_ports: [22, 22]}",
	  "t.yaml:1:31: filters.exclude_ports[1]: port 22 is listed twice" },
	{ "filters: {exclude_ports: 22}",
	  "t.yaml:1:26: filters.exclude_ports: expected a list of up to 64 ports in 1..65535 such "
	  "as [8080, 9090], got \"22\"" },
	{ "filters: {processes: nginx}",
	  "t.yaml:1:22: filters.processes: expected a list of up to 64 executable name patterns "
	  "such as [nginx, \"python3*\"], got \"nginx\"" },
	{ "filters: {processes: [\"\"]}",
	  "t.yaml:1:23: filters.processes[0]: an empty pattern matches nothing" },
	{ "filters: {processes: [/usr/bin/python3]}",
	  "t.yaml:1:23: filters.processes[0]: \"/usr/bin/python3\" contains /: patterns match "
	  "executable file names, not paths" },
	{ "filters: {processes: [a, b, a]}",
	  "t.yaml:1:29: filters.processes[2]: \"a\" is listed twice" },
	{ "filters: {exclude_processes: [[a]]}",
	  "t.yaml:1:31: filters.exclude_processes[0]: expected an executable name pattern such "
	  "as nginx or \"python3*\", got a list" },
	{ "filters: {exclude_processes: [a, ~]}",
	  "t.yaml:1:34: filters.exclude_processes[1]: missing value (expected an executable name "
	  "pattern such as nginx or \"python3*\")" },
	/* resource.attributes */
	{ "resource: {attributes: [a]}",
	  "t.yaml:1:24: resource.attributes: expected a mapping of up to 32 attribute names to "
	  "values, got a list" },
	{ "resource: {attributes: {service.name: shop}}",
	  "t.yaml:1:25: resource.attributes: service.name is chosen per process: use services "
	  "rules (executable: \"*\" names every process)" },
	{ "resource: {attributes: {\"a\\tb\": 1}}",
	  "t.yaml:1:25: resource.attributes: attribute name \"a\\x09b\" contains a control "
	  "character" },
	{ "resource: {attributes: {\"\": 1}}",
	  "t.yaml:1:25: resource.attributes: an attribute name is empty" },
	{ "resource: {attributes: {a: 1, a: 2}}",
	  "t.yaml:1:31: resource.attributes.a: duplicate key (first at 1:25)" },
	{ "resource.attributes: {team: {name: x}}",
	  "t.yaml:1:29: resource.attributes.team: expected a string, got a mapping" },
	/* services */
	{ "services: {name: x}",
	  "t.yaml:1:11: services: expected a list of up to 64 rules such as [{name: shop, "
	  "executable: \"java*\", port: 8080}], got a mapping" },
	{ "services: [x]",
	  "t.yaml:1:12: services[0]: expected a mapping with keys name, executable, port, got "
	  "\"x\"" },
	{ "services: [{port: 80}]", "t.yaml:1:12: services[0].name: missing" },
	{ "services: [{name: a}]", "t.yaml:1:12: services[0]: needs executable, port or both" },
	{ "services: [{name: a, port: 0}]",
	  "t.yaml:1:28: services[0].port: 0 is out of range 1..65535" },
	{ "services: [{name: a, port: http}]",
	  "t.yaml:1:28: services[0].port: expected an integer in 1..65535, got \"http\"" },
	{ "services: [{name: a, port: 1, exe: x}]",
	  "t.yaml:1:31: services[0].exe: unknown key (valid here: name, executable, port)" },
	{ "services: [{name: a, port: 1, port: 2}]",
	  "t.yaml:1:31: services[0].port: duplicate key (first at 1:22)" },
	{ "services: [{name: \"\", port: 1}]",
	  "t.yaml:1:19: services[0].name: a service name is empty" },
	{ "services: [{name: [a], port: 1}]",
	  "t.yaml:1:19: services[0].name: expected a service name, got a list" },
	{ "services: [{name: ~, port: 1}]",
	  "t.yaml:1:19: services[0].name: missing value (expected a service name)" },
	{ "services: [{name: a, executable: /bin/x}]",
	  "t.yaml:1:34: services[0].executable: \"/bin/x\" contains /: patterns match executable "
	  "file names, not paths" },
	{ "services: [{name: a, executable: \"\"}]",
	  "t.yaml:1:34: services[0].executable: an empty pattern matches nothing" },
	{ "services: [{name: a, port: 1, ? [p] : 1}]",
	  "t.yaml:1:33: services[0]: keys must be strings, got a list" },
};

static void test_bad_values(void **state)
{
	setenv("SPANBPF_T_HOST", "collector", 1);
	unsetenv("SPANBPF_T_UNSET");

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
					  "batch, queue, retry, shutdown_timeout, sampling, "
					  "filters, resource, services, http, tls, runtimes, metrics, log)");
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
		    "queue, retry, shutdown_timeout, sampling, filters, resource, services, "
		    "http, tls, runtimes, metrics, log)");
	/* Nor are the names of headers and attributes; their values are. */
	load_ok(&cfg, "exporter.headers: {x-$$a: \"${SPANBPF_T_HOST}:$$1\"}\n"
		      "resource.attributes: {\"${SPANBPF_T_HOST}\": \"${SPANBPF_T_UNSET:-dflt}\"}\n"
		      "services: [{name: \"${SPANBPF_T_HOST}\",\n"
		      "            executable: \"${SPANBPF_T_UNSET:-*}\"}]\n"
		      "filters.processes: [\"${SPANBPF_T_HOST}*\"]\n");
	assert_string_equal(cfg.exporter_headers[0].name, "x-$$a");
	assert_string_equal(cfg.exporter_headers[0].value, "collector:$1");
	assert_string_equal(cfg.resource_attributes[0].name, "${SPANBPF_T_HOST}");
	assert_string_equal(cfg.resource_attributes[0].value, "dflt");
	assert_string_equal(cfg.services[0].name, "collector");
	assert_string_equal(cfg.services[0].executable, "*");
	assert_string_equal(cfg.processes[0], "collector*");

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

static const char *fake_env[16][2];

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

/* Apply n variables (name, value pairs) to cfg, expecting no problem. */
static void env_ok(struct config *cfg, size_t n, ...)
{
	va_list ap;

	memset(fake_env, 0, sizeof(fake_env));
	va_start(ap, n);
	for (size_t i = 0; i < n && i < ARRAY_SIZE(fake_env); i++) {
		fake_env[i][0] = va_arg(ap, const char *);
		fake_env[i][1] = va_arg(ap, const char *);
	}
	va_end(ap);
	if (config_apply_env(cfg, fake_getenv, &errs)) {
		config_errors_print(&errs, stderr);
		fail();
	}
}

/* Apply one variable to an odd config, expecting msg and no change. */
static void env_fails1(const char *var, const char *value, const char *msg)
{
	struct config cfg, odd;

	config_odd(&odd);
	cfg = odd;
	fake_env_set(1, var, value);
	if (config_apply_env(&cfg, fake_getenv, &errs) != 1 || strcmp(errs.msg[0], msg)) {
		config_errors_print(&errs, stderr);
		fail_msg("%s=%s\nwanted: %s", var, value, msg);
	}
	assert_config_equal(&cfg, &odd);
}

static void test_env_timeout_and_tls(void **state)
{
	struct config cfg;

	config_defaults(&cfg);
	env_ok(&cfg, 1, "OTEL_EXPORTER_OTLP_TIMEOUT", "500");
	assert_int_equal(cfg.exporter_timeout_ns, 500000000);
	env_ok(&cfg, 2, "OTEL_EXPORTER_OTLP_TIMEOUT", "500", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
	       "600000");
	assert_int_equal(cfg.exporter_timeout_ns, 600000000000ULL);
	env_ok(&cfg, 1, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "1");
	assert_int_equal(cfg.exporter_timeout_ns, 1000000);
	env_fails1("OTEL_EXPORTER_OTLP_TIMEOUT", "10s",
		   "OTEL_EXPORTER_OTLP_TIMEOUT: expected milliseconds, an integer in 1..600000, "
		   "got \"10s\"");
	env_fails1("OTEL_EXPORTER_OTLP_TIMEOUT", "1.5",
		   "OTEL_EXPORTER_OTLP_TIMEOUT: expected milliseconds, an integer in 1..600000, "
		   "got \"1.5\"");
	env_fails1("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "0",
		   "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: \"0\" is out of range 1..600000 "
		   "(milliseconds)");
	env_fails1("OTEL_EXPORTER_OTLP_TIMEOUT", "600001",
		   "OTEL_EXPORTER_OTLP_TIMEOUT: \"600001\" is out of range 1..600000 "
		   "(milliseconds)");
	env_fails1("OTEL_EXPORTER_OTLP_TIMEOUT", "-1",
		   "OTEL_EXPORTER_OTLP_TIMEOUT: \"-1\" is out of range 1..600000 (milliseconds)");
	env_fails1("OTEL_EXPORTER_OTLP_TIMEOUT", "99999999999999999999999",
		   "OTEL_EXPORTER_OTLP_TIMEOUT: \"99999999999999999999999\" is out of range "
		   "1..600000 (milliseconds)");

	/* Certificates: the TRACES variables win; files must be readable. */
	config_defaults(&cfg);
	env_ok(&cfg, 1, "OTEL_EXPORTER_OTLP_CERTIFICATE", TEST_DATA_DIR "/config_ca.pem");
	assert_string_equal(cfg.exporter_tls_ca_file, TEST_DATA_DIR "/config_ca.pem");
	config_defaults(&cfg);
	env_ok(&cfg, 2, "OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent",
	       "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", TEST_DATA_DIR "/config_client.pem");
	assert_string_equal(cfg.exporter_tls_ca_file, TEST_DATA_DIR "/config_client.pem");
	env_fails1("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem",
		   "OTEL_EXPORTER_OTLP_CERTIFICATE: cannot read \"/nonexistent/ca.pem\": No such "
		   "file or directory");
	env_fails1("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", TEST_DATA_DIR,
		   "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY: cannot read \"" TEST_DATA_DIR "\": Is a "
		   "directory");

	/* Mutual TLS: a pair from the environment, or one variable over the file's pair. */
	config_defaults(&cfg);
	env_ok(&cfg, 2, "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", TEST_DATA_DIR "/config_client.pem",
	       "OTEL_EXPORTER_OTLP_CLIENT_KEY", TEST_DATA_DIR "/config_client.key");
	assert_string_equal(cfg.exporter_tls_cert_file, TEST_DATA_DIR "/config_client.pem");
	assert_string_equal(cfg.exporter_tls_key_file, TEST_DATA_DIR "/config_client.key");
	env_ok(&cfg, 1, "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
	       TEST_DATA_DIR "/config_ca.pem");
	assert_string_equal(cfg.exporter_tls_cert_file, TEST_DATA_DIR "/config_ca.pem");
	assert_string_equal(cfg.exporter_tls_key_file, TEST_DATA_DIR "/config_client.key");

	config_defaults(&cfg);
	fake_env_set(1, "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
		     TEST_DATA_DIR "/config_client.pem");
	assert_int_equal(config_apply_env(&cfg, fake_getenv, &errs), 1);
	assert_string_equal(errs.msg[0], "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: set without "
					 "OTEL_EXPORTER_OTLP_CLIENT_KEY or exporter.tls.key_file "
					 "(mutual TLS takes both)");
	assert_string_equal(cfg.exporter_tls_cert_file, "");
	fake_env_set(1, "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", TEST_DATA_DIR "/config_client.key");
	assert_int_equal(config_apply_env(&cfg, fake_getenv, &errs), 1);
	assert_string_equal(errs.msg[0], "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY: set without "
					 "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE or "
					 "exporter.tls.cert_file (mutual TLS takes both)");
	assert_string_equal(cfg.exporter_tls_key_file, "");
}

static void test_env_pairs(void **state)
{
	struct config cfg;
	char *big;

	/* Merged over the file: the variable wins per name, header names in any case. */
	load_ok(&cfg, "exporter.headers: {authorization: old, x-keep: k}\n"
		      "resource.attributes: {team: a, Region: eu}\n");
	env_ok(&cfg, 2, "OTEL_EXPORTER_OTLP_HEADERS",
	       " Authorization = Bearer%20xyz , x-new=v%2Cw%3D,x-keep=,,",
	       "OTEL_RESOURCE_ATTRIBUTES",
	       "region=us,team=b%20c,k8s.cluster.name=c%2F1,deployment.environment.name=prod");
	assert_int_equal(cfg.nexporter_headers, 3);
	assert_string_equal(cfg.exporter_headers[0].name, "authorization");
	assert_string_equal(cfg.exporter_headers[0].value, "Bearer xyz");
	assert_string_equal(cfg.exporter_headers[1].name, "x-keep");
	assert_string_equal(cfg.exporter_headers[1].value, "");
	assert_string_equal(cfg.exporter_headers[2].name, "x-new");
	assert_string_equal(cfg.exporter_headers[2].value, "v,w=");
	/* Attribute names are compared exactly: Region and region are two. */
	assert_int_equal(cfg.nresource_attributes, 5);
	assert_string_equal(cfg.resource_attributes[0].name, "team");
	assert_string_equal(cfg.resource_attributes[0].value, "b c");
	assert_string_equal(cfg.resource_attributes[1].name, "Region");
	assert_string_equal(cfg.resource_attributes[1].value, "eu");
	assert_string_equal(cfg.resource_attributes[2].name, "region");
	assert_string_equal(cfg.resource_attributes[3].value, "c/1");
	assert_string_equal(cfg.resource_attributes[4].name, "deployment.environment.name");

	/* The TRACES variable replaces the general one, which is not merged in. */
	config_defaults(&cfg);
	env_ok(&cfg, 2, "OTEL_EXPORTER_OTLP_HEADERS", "a=1,b=2",
	       "OTEL_EXPORTER_OTLP_TRACES_HEADERS", "c=3");
	assert_int_equal(cfg.nexporter_headers, 1);
	assert_string_equal(cfg.exporter_headers[0].name, "c");
	/* Within one variable the last of a name wins; a name may be percent-encoded. */
	config_defaults(&cfg);
	env_ok(&cfg, 1, "OTEL_RESOURCE_ATTRIBUTES", "a=1,a=2,%61b=3,x=a=b");
	assert_int_equal(cfg.nresource_attributes, 3);
	assert_string_equal(cfg.resource_attributes[0].value, "2");
	assert_string_equal(cfg.resource_attributes[1].name, "ab");
	assert_string_equal(cfg.resource_attributes[2].value, "a=b");

	env_fails1("OTEL_EXPORTER_OTLP_HEADERS", "a=1,novalue",
		   "OTEL_EXPORTER_OTLP_HEADERS: \"novalue\" is not NAME=VALUE");
	env_fails1("OTEL_EXPORTER_OTLP_HEADERS", "a=%zz",
		   "OTEL_EXPORTER_OTLP_HEADERS: bad percent-encoding in \"a=%zz\"");
	env_fails1("OTEL_EXPORTER_OTLP_HEADERS", "a=%4",
		   "OTEL_EXPORTER_OTLP_HEADERS: bad percent-encoding in \"a=%4\"");
	env_fails1("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "a=x%00y",
		   "OTEL_EXPORTER_OTLP_TRACES_HEADERS: bad percent-encoding in \"a=x%00y\"");
	env_fails1("OTEL_EXPORTER_OTLP_HEADERS", "bad name=1",
		   "OTEL_EXPORTER_OTLP_HEADERS: \"bad name\" is not a valid header name (use "
		   "letters, digits and !#$%&'*+-.^_`|~)");
	env_fails1("OTEL_EXPORTER_OTLP_HEADERS", "=1",
		   "OTEL_EXPORTER_OTLP_HEADERS: a header name is empty");
	env_fails1("OTEL_EXPORTER_OTLP_HEADERS", "content-type=text/plain",
		   "OTEL_EXPORTER_OTLP_HEADERS: \"content-type\" is set by the exporter itself");
	env_fails1("OTEL_EXPORTER_OTLP_HEADERS", "x-a=1%0D%0Ax-b: 2",
		   "OTEL_EXPORTER_OTLP_HEADERS: x-a: value \"1\\x0d\\x0ax-b: 2\" contains a "
		   "control character");
	env_fails1("OTEL_RESOURCE_ATTRIBUTES", "service.name=shop",
		   "OTEL_RESOURCE_ATTRIBUTES: service.name is chosen per process: use services "
		   "rules (executable: \"*\" names every process)");

	/* Several problems in one variable: each of them. */
	config_defaults(&cfg);
	fake_env_set(1, "OTEL_RESOURCE_ATTRIBUTES", "a,b=%,c=1");
	assert_int_equal(config_apply_env(&cfg, fake_getenv, &errs), 2);
	assert_string_equal(errs.msg[0], "OTEL_RESOURCE_ATTRIBUTES: \"a\" is not NAME=VALUE");
	assert_string_equal(errs.msg[1], "OTEL_RESOURCE_ATTRIBUTES: bad percent-encoding in "
					 "\"b=%\"");
	assert_int_equal(cfg.nresource_attributes, 0);

	/* Capacity counts the file's entries too. */
	big = many("", "h", "=", "", ",", "", CONFIG_MAX_HEADERS);
	config_defaults(&cfg);
	env_ok(&cfg, 1, "OTEL_EXPORTER_OTLP_HEADERS", big);
	assert_int_equal(cfg.nexporter_headers, CONFIG_MAX_HEADERS);
	load_ok(&cfg, "exporter.headers: {h0: file, extra: 1}");
	fake_env_set(1, "OTEL_EXPORTER_OTLP_HEADERS", big);
	assert_int_equal(config_apply_env(&cfg, fake_getenv, &errs), 1);
	assert_string_equal(errs.msg[0], "OTEL_EXPORTER_OTLP_HEADERS: more than 32 headers with "
					 "exporter.headers");
	free(big);

	/* Values up to 1023 bytes after decoding. */
	big = malloc(4096);
	assert_non_null(big);
	strcpy(big, "a=");
	memset(big + 2, 'v', CONFIG_KV_VALUE_MAX - 1);
	big[2 + CONFIG_KV_VALUE_MAX - 1] = '\0';
	config_defaults(&cfg);
	env_ok(&cfg, 1, "OTEL_RESOURCE_ATTRIBUTES", big);
	assert_int_equal(strlen(cfg.resource_attributes[0].value), CONFIG_KV_VALUE_MAX - 1);
	strcat(big, "v");
	fake_env_set(1, "OTEL_RESOURCE_ATTRIBUTES", big);
	assert_int_equal(config_apply_env(&cfg, fake_getenv, &errs), 1);
	assert_non_null(strstr(errs.msg[0], "OTEL_RESOURCE_ATTRIBUTES: a: \"vvv"));
	assert_non_null(strstr(errs.msg[0], "...\" is longer than 1023 bytes"));
	memset(big + 2, 'v', 3000);
	big[3002] = '\0';
	assert_int_equal(config_apply_env(&cfg, fake_getenv, &errs), 1);
	assert_non_null(strstr(errs.msg[0], "OTEL_RESOURCE_ATTRIBUTES: \"a=vvv"));
	assert_non_null(strstr(errs.msg[0], "...\" is too long (names up to 127 bytes, values up "
					    "to 1023)"));
	free(big);
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

	/* The new keys: file over defaults, environment over file, the rest untouched. */
	load_ok(&cfg, "exporter: {timeout: 3s, headers: {a: file, b: file}}\n"
		      "resource.attributes: {a: file}\nqueue.max_spans: 10\n");
	setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "250", 1);
	setenv("OTEL_EXPORTER_OTLP_HEADERS", "b=env", 1);
	setenv("OTEL_RESOURCE_ATTRIBUTES", "b=env", 1);
	assert_int_equal(config_apply_env(&cfg, NULL, &errs), 0);
	unsetenv("OTEL_EXPORTER_OTLP_TIMEOUT");
	unsetenv("OTEL_EXPORTER_OTLP_HEADERS");
	unsetenv("OTEL_RESOURCE_ATTRIBUTES");
	assert_int_equal(cfg.exporter_timeout_ns, 250000000);
	assert_int_equal(cfg.nexporter_headers, 2);
	assert_string_equal(cfg.exporter_headers[0].value, "file");
	assert_string_equal(cfg.exporter_headers[1].value, "env");
	assert_int_equal(cfg.nresource_attributes, 2);
	assert_string_equal(cfg.resource_attributes[0].value, "file");
	assert_string_equal(cfg.resource_attributes[1].value, "env");
	assert_int_equal(cfg.queue_max_spans, 10);
	assert_int_equal(cfg.retry_max_interval_ns, 30000000000ULL);
}

/* ---- helpers for the rest of the agent ------------------------------------------------ */

static void test_process_selected(void **state)
{
	struct config cfg;

	/* No name filters: everything, even an unknown name. */
	config_defaults(&cfg);
	assert_true(config_process_selected(&cfg, "nginx"));
	assert_true(config_process_selected(&cfg, ""));
	assert_true(config_process_selected(&cfg, NULL));

	load_ok(&cfg, "filters.processes: [nginx, \"python3*\", \"node[0-9]?\"]");
	assert_true(config_process_selected(&cfg, "nginx"));
	assert_true(config_process_selected(&cfg, "python3"));
	assert_true(config_process_selected(&cfg, "python3.11"));
	assert_true(config_process_selected(&cfg, "node1x"));
	assert_false(config_process_selected(&cfg, "node"));
	assert_false(config_process_selected(&cfg, "nodex1"));
	assert_false(config_process_selected(&cfg, "NGINX"));
	assert_false(config_process_selected(&cfg, "nginx-debug"));
	assert_false(config_process_selected(&cfg, "python"));
	assert_false(config_process_selected(&cfg, NULL));

	/* Exclusions alone, and over the selection. */
	load_ok(&cfg, "filters.exclude_processes: [\"*-debug\", python3.9, \".*\"]");
	assert_true(config_process_selected(&cfg, "nginx"));
	assert_false(config_process_selected(&cfg, "nginx-debug"));
	assert_false(config_process_selected(&cfg, "python3.9"));
	assert_true(config_process_selected(&cfg, "python3.10"));
	assert_false(config_process_selected(&cfg, ".hidden"));
	assert_true(config_process_excluded(&cfg, "nginx-debug"));
	assert_true(config_process_excluded(&cfg, ".hidden"));
	assert_false(config_process_excluded(&cfg, "nginx"));
	assert_false(config_process_excluded(&cfg, NULL));
	load_ok(&cfg, "filters: {processes: [\"python3*\", \"*\"],\n"
		      "          exclude_processes: [python3.9]}");
	assert_true(config_process_selected(&cfg, "python3.11"));
	assert_true(config_process_selected(&cfg, "java"));
	assert_false(config_process_selected(&cfg, "python3.9"));
	load_ok(&cfg, "filters: {processes: [a], exclude_processes: [a]}");
	assert_false(config_process_selected(&cfg, "a"));
	/* fnmatch without flags: * crosses dots, [!x] negates, a backslash escapes. */
	load_ok(&cfg, "filters.processes: [\"[!j]ava\", \"lit\\\\*\"]");
	assert_true(config_process_selected(&cfg, "Java"));
	assert_false(config_process_selected(&cfg, "java"));
	assert_true(config_process_selected(&cfg, "lit*"));
	assert_false(config_process_selected(&cfg, "litx"));
}

static void test_service_name(void **state)
{
	static const uint16_t web[] = { 443, 8080 }, api[] = { 5000 }, none[] = { 0 };
	struct config cfg;

	config_defaults(&cfg);
	assert_null(config_service_name(&cfg, "nginx", web, 2));

	load_ok(&cfg, "services:\n"
		      "  - {name: api, executable: \"python3*\", port: 5000}\n"
		      "  - {name: web, port: 8080}\n"
		      "  - {name: py, executable: \"python3*\"}\n"
		      "  - {name: other, executable: \"*\"}\n");
	/* Both conditions of a rule must hold; the first rule that matches wins. */
	assert_string_equal(config_service_name(&cfg, "python3.11", api, 1), "api");
	assert_string_equal(config_service_name(&cfg, "python3.11", web, 2), "web");
	assert_string_equal(config_service_name(&cfg, "python3.11", NULL, 0), "py");
	assert_string_equal(config_service_name(&cfg, "python3.11", none, 1), "py");
	assert_string_equal(config_service_name(&cfg, "nginx", web, 2), "web");
	assert_string_equal(config_service_name(&cfg, "nginx", api, 1), "other");
	assert_string_equal(config_service_name(&cfg, NULL, NULL, 0), "other");
	/* Rule order decides. */
	load_ok(&cfg, "services: [{name: py, executable: \"python3*\"}, {name: web, port: 8080}]");
	assert_string_equal(config_service_name(&cfg, "python3.11", web, 2), "py");
	assert_string_equal(config_service_name(&cfg, "ruby", web, 2), "web");
	assert_null(config_service_name(&cfg, "ruby", api, 1));
	assert_null(config_service_name(&cfg, NULL, NULL, 0));
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

/* What print (config_print or config_print_sources) writes for cfg, in a new string. */
static char *print_with(void (*print)(const struct config *, FILE *), const struct config *cfg)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	assert_non_null(f);
	print(cfg, f);
	fclose(f);
	return out;
}

static char *print_to_string(const struct config *cfg)
{
	return print_with(config_print, cfg);
}

static char *print_sources_to_string(const struct config *cfg)
{
	return print_with(config_print_sources, cfg);
}

static void test_print(void **state)
{
	struct config cfg, back;
	char *out;

	config_defaults(&cfg);
	out = print_to_string(&cfg);
	assert_string_equal(out, "exporter.endpoint: http://localhost:4318/v1/traces\n"
				 "exporter.compression: gzip\n"
				 "exporter.timeout: 10s\n"
				 "exporter.headers: {}\n"
				 "exporter.tls.ca_file: \"\"\n"
				 "exporter.tls.cert_file: \"\"\n"
				 "exporter.tls.key_file: \"\"\n"
				 "exporter.tls.insecure_skip_verify: false\n"
				 "batch.max_spans: 512\n"
				 "batch.timeout: 1s\n"
				 "queue.max_spans: 65536\n"
				 "retry.initial_interval: 5s\n"
				 "retry.max_interval: 30s\n"
				 "retry.max_elapsed_time: 5m\n"
				 "shutdown_timeout: 5s\n"
				 "sampling.ratio: 1\n"
				 "filters.ports: []\n"
				 "filters.exclude_ports: []\n"
				 "filters.processes: []\n"
				 "filters.exclude_processes: []\n"
				 "resource.attributes: {}\n"
				 "services: []\n"
				 "http.record_query: false\n"
				 "tls.enabled: true\n"
				 "runtimes.go: true\n"
				 "runtimes.node: true\n"
				 "metrics.listen: \"\"\n"
				 "log.level: info\n");
	/* Loaded over odd values, the defaults' output gives the defaults. */
	config_odd(&back);
	assert_int_equal(load(&back, out), 0);
	assert_config_equal(&back, &cfg);
	free(out);

	/* The output loads back to the same config, $ and odd text included. */
	config_odd(&cfg);
	out = print_to_string(&cfg);
	assert_string_equal(out, "exporter.endpoint: http://odd:1/$$x\n"
				 "exporter.compression: none\n"
				 "exporter.timeout: 2500us\n"
				 "exporter.headers:\n"
				 "  authorization: \"Bearer $$abc: #x\"\n"
				 "  x-$dollar: \"\"\n"
				 "  x-tab: \"a\\x09b\"\n"
				 "exporter.tls.ca_file: " TEST_DATA_DIR "/config_ca.pem\n"
				 "exporter.tls.cert_file: " TEST_DATA_DIR "/config_client.pem\n"
				 "exporter.tls.key_file: " TEST_DATA_DIR "/config_client.key\n"
				 "exporter.tls.insecure_skip_verify: true\n"
				 "batch.max_spans: 7\n"
				 "batch.timeout: 1500us\n"
				 "queue.max_spans: 3\n"
				 "retry.initial_interval: 1ms\n"
				 "retry.max_interval: 90s\n"
				 "retry.max_elapsed_time: 0s\n"
				 "shutdown_timeout: 250ms\n"
				 "sampling.ratio: 0.1\n"
				 "filters.ports: [9, 65535]\n"
				 "filters.exclude_ports: [22]\n"
				 "filters.processes:\n"
				 "  - \"*\"\n"
				 "  - \"[jJ]ava\"\n"
				 "filters.exclude_processes:\n"
				 "  - \"null\"\n"
				 "resource.attributes:\n"
				 "  k8s.cluster.name: \"null\"\n"
				 "  note: \"a: b #c $$d\"\n"
				 "  \"- odd: key\": v\n"
				 "services:\n"
				 "  - name: \"shop #1\"\n"
				 "    port: 8080\n"
				 "  - name: py\n"
				 "    executable: python3*\n"
				 "  - name: both\n"
				 "    executable: node\n"
				 "    port: 3000\n"
				 "http.record_query: true\n"
				 "tls.enabled: false\n"
				 "runtimes.go: false\n"
				 "runtimes.node: false\n"
				 "metrics.listen: \":9464\"\n"
				 "log.level: error\n");
	config_defaults(&back);
	assert_int_equal(load(&back, out), 0);
	assert_config_equal(&back, &cfg);
	free(out);

	/* Ratios print in the fewest digits that load back exactly. */
	static const double ratios[] = { 0, 1, 0.25, 0.001, 1e-5, 0.1 + 0.2, 1.0 / 3, 5e-324 };
	static const char *const shown[] = { "0", "1", "0.25", "0.001", "1e-05",
					     "0.30000000000000004", "0.3333333333333333",
					     "5e-324" };

	for (size_t i = 0; i < ARRAY_SIZE(ratios); i++) {
		char line[64];

		config_defaults(&cfg);
		cfg.sampling_ratio = ratios[i];
		out = print_to_string(&cfg);
		snprintf(line, sizeof(line), "\nsampling.ratio: %s\n", shown[i]);
		if (!strstr(out, line))
			fail_msg("%s not in\n%s", line, out);
		config_defaults(&back);
		assert_int_equal(load(&back, out), 0);
		assert_true(back.sampling_ratio == ratios[i]);
		free(out);
	}

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
	assert_non_null(strstr(out, "sampling.ratio: a number in 0..1; default 1\n"));
	assert_non_null(strstr(out, "retry.max_elapsed_time: a duration in 0s..24h such as 200ms "
				    "or 1.5s; default 5m\n"));
	assert_non_null(strstr(out, "exporter.headers: a mapping of up to 32 HTTP header names to "
				    "values; default {}\n"));
	assert_non_null(strstr(out, "services: a list of up to 64 rules such as [{name: shop, "
				    "executable: \"java*\", port: 8080}]; default []\n"));
	assert_non_null(strstr(out, "  OTEL_EXPORTER_OTLP_TIMEOUT: exporter.timeout (integer "
				    "milliseconds)\n"));
	assert_non_null(strstr(out, "  OTEL_RESOURCE_ATTRIBUTES: resource.attributes (merged: "
				    "k1=v1,k2=v2, percent-decoded)\n"));
	free(out);
}

/* ---- robustness ------------------------------------------------------------------------ */

/* Every prefix and many byte mutations of valid files load or fail cleanly. */
/* Modules whose zero option means "the default" read it from the table. */
static void test_default_num(void **state)
{
	struct config def;

	config_defaults(&def);
	assert_int_equal(config_default_num("batch.timeout"), def.batch_timeout_ns);
	assert_int_equal(config_default_num("batch.max_spans"), def.batch_max_spans);
	assert_int_equal(config_default_num("queue.max_spans"), def.queue_max_spans);
	assert_int_equal(config_default_num("exporter.timeout"), def.exporter_timeout_ns);
	assert_int_equal(config_default_num("retry.initial_interval"),
			 def.retry_initial_interval_ns);
	assert_int_equal(config_default_num("retry.max_interval"), def.retry_max_interval_ns);
	assert_int_equal(config_default_num("retry.max_elapsed_time"),
			 def.retry_max_elapsed_time_ns);
	assert_int_equal(config_default_num("exporter.endpoint"), 0);
	assert_int_equal(config_default_num("no.such.key"), 0);
}

/* printed (by config_print_sources) loads into *back over defaults, with cfg's settings. */
static void assert_loads_back(const char *printed, const struct config *cfg, struct config *back)
{
	char *a, *b;

	config_defaults(back);
	if (load(back, printed)) {
		config_errors_print(&errs, stderr);
		fail_msg("printed config does not load:\n%s", printed);
	}
	a = print_to_string(cfg);
	b = print_to_string(back);
	assert_string_equal(a, b);
	free(a);
	free(b);
}

/* --print-config: each value's source in a comment, and the text loads back the same. */
static void test_print_sources(void **state)
{
	struct config cfg, back;
	char *out;

	load_ok(&cfg, "batch:\n  timeout: 2s\nresource:\n  attributes:\n    team: core\n");
	fake_env_set(2, "OTEL_RESOURCE_ATTRIBUTES", "env.x=1",
		     "OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318");
	assert_int_equal(config_apply_env(&cfg, fake_getenv, &errs), 0);
	out = print_sources_to_string(&cfg);
	assert_non_null(strstr(out, "\nbatch.timeout: 2s  # t.yaml:2\n"));
	assert_non_null(strstr(out, "\nresource.attributes:  # t.yaml:4, "
				    "env OTEL_RESOURCE_ATTRIBUTES\n  team: core\n  env.x: 1\n"));
	assert_non_null(strstr(out, "\nexporter.endpoint: http://c:4318/v1/traces  "
				    "# env OTEL_EXPORTER_OTLP_ENDPOINT\n"));
	assert_non_null(strstr(out, "\nlog.level: info  # default\n"));
	assert_null(strstr(out, "\nbatch.max_spans: 512\n"));
	assert_loads_back(out, &cfg, &back);
	free(out);
}

/*
 * Everything YAML reads as a line break or refuses is escaped: C0 and C1
 * controls (U+0085 is NEL), DEL, U+2028/2029, U+FEFF, U+FFFE/FFFF.
 */
static void test_print_escapes(void **state)
{
	static const char *const values[] = {
		"x\xc2\x85y",		/* U+0085 */
		"p\xe2\x80\xa8q",	/* U+2028 */
		"p\xe2\x80\xa9q",	/* U+2029 */
		"\xc2\x81",		/* a C1 control */
		"\xef\xbf\xbe",		/* U+FFFE */
		"\xef\xbf\xbf",		/* U+FFFF */
		"\xef\xbb\xbf" "bom",	/* U+FEFF */
		"tab\there",
		"del\x7f",
		"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",	/* printable: stays as it is */
	};
	struct config cfg, back;
	char *out;

	config_defaults(&cfg);
	for (size_t i = 0; i < ARRAY_SIZE(values); i++) {
		snprintf(cfg.resource_attributes[i].name, CONFIG_KV_NAME_MAX, "k%zu", i);
		snprintf(cfg.resource_attributes[i].value, CONFIG_KV_VALUE_MAX, "%s", values[i]);
	}
	cfg.nresource_attributes = ARRAY_SIZE(values);
	out = print_sources_to_string(&cfg);
	assert_non_null(strstr(out, "  k0: \"x\\x85y\"\n"));
	assert_non_null(strstr(out, "  k1: \"p\\u2028q\"\n"));
	assert_non_null(strstr(out, "  k2: \"p\\u2029q\"\n"));
	assert_non_null(strstr(out, "  k3: \"\\x81\"\n"));
	assert_non_null(strstr(out, "  k4: \"\\ufffe\"\n"));
	assert_non_null(strstr(out, "  k5: \"\\uffff\"\n"));
	assert_non_null(strstr(out, "  k6: \"\\ufeffbom\"\n"));
	assert_non_null(strstr(out, "  k7: \"tab\\x09here\"\n"));
	assert_non_null(strstr(out, "  k8: \"del\\x7f\"\n"));
	assert_non_null(strstr(out, "  k9: caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\n"));
	assert_loads_back(out, &cfg, &back);
	for (size_t i = 0; i < ARRAY_SIZE(values); i++)
		assert_string_equal(back.resource_attributes[i].value, values[i]);
	free(out);
}

/* Environment values are text: not UTF-8 is refused, naming the variable. */
static void test_env_utf8(void **state)
{
	struct config cfg;
	char out[64], why[256];

	config_defaults(&cfg);
	fake_env_set(1, "OTEL_RESOURCE_ATTRIBUTES", "a=caf\xe9");
	assert_int_equal(config_apply_env(&cfg, fake_getenv, &errs), 1);
	assert_string_equal(errs.msg[0], "OTEL_RESOURCE_ATTRIBUTES: not valid UTF-8 "
					 "(byte 0xe9 at offset 5)");
	fake_env_set(1, "OTEL_EXPORTER_OTLP_ENDPOINT", "http://h\xc0\xaf/");
	assert_int_equal(config_apply_env(&cfg, fake_getenv, &errs), 1);
	/* Percent-decoded bytes that are not UTF-8 become U+FFFD (W3C Baggage), as in procinfo. */
	fake_env_set(1, "OTEL_RESOURCE_ATTRIBUTES", "a=%C3%28");
	assert_int_equal(config_apply_env(&cfg, fake_getenv, &errs), 0);
	assert_string_equal(cfg.resource_attributes[0].value, "\xef\xbf\xbd(");
	/* ${VAR} expansion, with its getenv injected. */
	fake_env_set(2, "GOOD", "caf\xc3\xa9", "BAD", "\xff");
	assert_true(config_expand("x${GOOD}y$$", fake_getenv, out, sizeof(out), why,
				  sizeof(why)));
	assert_string_equal(out, "xcaf\xc3\xa9y$");
	assert_false(config_expand("${BAD}", fake_getenv, out, sizeof(out), why, sizeof(why)));
	assert_string_equal(why, "environment variable BAD is not valid UTF-8");
	assert_true(config_expand("${UNSET:-d}", fake_getenv, out, sizeof(out), why,
				  sizeof(why)));
	assert_string_equal(out, "d");
	assert_false(config_expand("${UNSET}", fake_getenv, out, sizeof(out), why, sizeof(why)));
}

static void test_garbage(void **state)
{
	static const char *const files[] = { SHIPPED_CONFIG, TEST_DATA_DIR "/config_valid.yaml",
					     TEST_DATA_DIR "/config_errors.yaml" };
	static const char bytes[] = { ':', '-', '[', ']', '{', '}', '\n', ' ', '\t', '"', '\'', '&',
				      '*', '!', '$', '#', '\0', '\xff', '?', ',', '|', '%' };
	uint32_t seed = 12345;

	for (size_t fi = 0; fi < ARRAY_SIZE(files); fi++) {
		char text[16384];
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
			char copy[16384];
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
		cmocka_unit_test(test_sampling_ratio),
		cmocka_unit_test(test_headers_and_attributes),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_services),
		cmocka_unit_test(test_cross_keys),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_all_errors_reported),
		cmocka_unit_test(test_failed_load_keeps_config),
		cmocka_unit_test(test_too_many_errors),
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_env_expansion),
		cmocka_unit_test(test_env_overrides),
		cmocka_unit_test(test_env_override_errors),
		cmocka_unit_test(test_env_timeout_and_tls),
		cmocka_unit_test(test_env_pairs),
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_default_num),
		cmocka_unit_test(test_print_sources),
		cmocka_unit_test(test_print_escapes),
		cmocka_unit_test(test_env_utf8),
		cmocka_unit_test(test_process_selected),
		cmocka_unit_test(test_service_name),
		cmocka_unit_test(test_shipped_config),
		cmocka_unit_test(test_print),
		cmocka_unit_test(test_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
