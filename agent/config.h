/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config.h - the agent's settings: defaults, the YAML file, OTEL_* variables.
 *
 * Precedence: OTEL_* environment variables over the file over defaults.
 */
#ifndef SPANBPF_CONFIG_H
#define SPANBPF_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_DEFAULT_PATH "/etc/spanbpf/spanbpf.yaml"
#define CONFIG_MAX_PORTS 64
#define CONFIG_URL_MAX 1024

enum config_compression {
	COMPRESSION_NONE = 0,
	COMPRESSION_GZIP = 1,
};

/* Same values as log.h's enum log_level. */
struct config {
	char exporter_endpoint[CONFIG_URL_MAX];	/* exporter.endpoint */
	int compression;			/* exporter.compression */
	uint32_t batch_max_spans;		/* batch.max_spans, 1..65536 */
	uint64_t batch_timeout_ns;		/* batch.timeout */
	uint16_t ports[CONFIG_MAX_PORTS];	/* filters.ports */
	size_t nports;
	bool record_query;			/* http.record_query */
	int log_level;				/* log.level */
};

/* One problem found while loading; messages read "FILE:LINE:COL: KEY: what". */
#define CONFIG_MAX_ERRORS 64
#define CONFIG_ERROR_LEN 512
struct config_errors {
	size_t count;				/* problems found (may exceed CONFIG_MAX_ERRORS) */
	char msg[CONFIG_MAX_ERRORS][CONFIG_ERROR_LEN];
};

/* Fill cfg with the built-in defaults. */
void config_defaults(struct config *cfg);

/*
 * Read a YAML file over cfg (which holds defaults or an earlier config).
 * Returns 0 when valid; otherwise the number of problems, each described in
 * errs (all of them, not just the first).  cfg is unspecified on failure:
 * load into a scratch copy when the old one must survive.
 */
int config_load_file(struct config *cfg, const char *path, struct config_errors *errs);

/* Same as config_load_file() for YAML text in memory; name is used in messages. */
int config_load_string(struct config *cfg, const char *yaml, size_t len, const char *name,
		       struct config_errors *errs);

/*
 * Apply the OTEL_* environment overrides (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
 * or OTEL_EXPORTER_OTLP_ENDPOINT + "/v1/traces"; OTEL_EXPORTER_OTLP_COMPRESSION...).
 * getenv_fn is getenv in the agent, a fake in tests.  Returns 0, or -1 with
 * errs filled when a variable holds a bad value.
 */
int config_apply_env(struct config *cfg, const char *(*getenv_fn)(const char *name),
		     struct config_errors *errs);

/* Parse "200ms", "1s", "5m", "1h", "1500us", "10ns" into nanoseconds; 0 on success. */
int config_parse_duration(const char *s, uint64_t *out_ns);

#endif /* SPANBPF_CONFIG_H */
