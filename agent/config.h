/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config.h - the agent's settings: defaults, the YAML file, OTEL_* variables.
 *
 * Precedence: OTEL_* environment variables over the file over defaults.
 *
 * Every setting is one row of the option table in config.c (name, type,
 * bounds, default, target field, doc): adding a setting is a field here and
 * a row there.  The file format is documented in config/spanbpf.yaml:
 *  - nested sections ("batch:\n  timeout: 1s") or dotted keys
 *    ("batch.timeout: 1s"), not both for the same key;
 *  - unknown keys, duplicate keys, wrong types and out-of-range values are
 *    errors, all of them reported in one pass;
 *  - durations are a number and a unit: ns, us, ms, s, m, h ("1.5s", "1m30s");
 *  - booleans are true/false, yes/no or on/off in any case;
 *  - enums are matched without regard to case;
 *  - in scalar values ${VAR} is the variable's value (an error when VAR is
 *    unset; set and empty gives ""), ${VAR:-text} gives text when VAR is
 *    unset or empty, and $$ is a literal $.  Quoting never changes meaning.
 */
#ifndef SPANBPF_CONFIG_H
#define SPANBPF_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CONFIG_DEFAULT_PATH "/etc/spanbpf/spanbpf.yaml"
#define CONFIG_MAX_PORTS 64
#define CONFIG_URL_MAX 1024
#define CONFIG_FILE_MAX (1 << 20)	/* larger files are refused */

enum config_compression {
	COMPRESSION_NONE = 0,
	COMPRESSION_GZIP = 1,
};

struct config {
	char exporter_endpoint[CONFIG_URL_MAX];	/* exporter.endpoint, http(s) URL */
	int compression;			/* exporter.compression, enum config_compression */
	uint32_t batch_max_spans;		/* batch.max_spans, 1..65536 */
	uint64_t batch_timeout_ns;		/* batch.timeout, 1ms..1h */
	uint16_t ports[CONFIG_MAX_PORTS];	/* filters.ports, distinct, in file order */
	size_t nports;				/* 0: trace every process */
	bool record_query;			/* http.record_query */
	int log_level;				/* log.level, log.h's enum log_level */
};

/*
 * Problems found by one call; messages read "FILE:LINE:COL: KEY: what"
 * (lines and columns from 1), "FILE: what" when there is no position and
 * "VARIABLE: what" for the environment.
 */
#define CONFIG_MAX_ERRORS 64
#define CONFIG_ERROR_LEN 512
struct config_errors {
	size_t count;			/* problems found (may exceed CONFIG_MAX_ERRORS) */
	char msg[CONFIG_MAX_ERRORS][CONFIG_ERROR_LEN];
};

/* Fill cfg with the built-in defaults. */
void config_defaults(struct config *cfg);

/*
 * Read a YAML file over cfg (which holds defaults or an earlier config):
 * only the keys present change.  Returns 0 when valid; otherwise the number
 * of problems, each described in errs (all of them, not just the first), and
 * cfg is left unchanged.  errs is reset first and may be NULL.
 */
int config_load_file(struct config *cfg, const char *path, struct config_errors *errs);

/* Same as config_load_file() for YAML text in memory; name is used in messages. */
int config_load_string(struct config *cfg, const char *yaml, size_t len, const char *name,
		       struct config_errors *errs);

/*
 * Apply the OTEL_* environment overrides to cfg:
 *  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (used as is), else
 *  OTEL_EXPORTER_OTLP_ENDPOINT (a base URL: "/v1/traces" is appended);
 *  OTEL_EXPORTER_OTLP_TRACES_COMPRESSION, else OTEL_EXPORTER_OTLP_COMPRESSION.
 * Empty variables count as unset.  getenv_fn is NULL for the process
 * environment, a fake in tests.  Returns 0, or the number of problems (each
 * naming its variable) with errs filled and cfg unchanged.  errs is reset
 * first and may be NULL.
 */
int config_apply_env(struct config *cfg, const char *(*getenv_fn)(const char *name),
		     struct config_errors *errs);

/*
 * Parse a duration into nanoseconds: one or more number+unit terms, units
 * ns, us, ms, s, m, h, fractions allowed ("200ms", "1.5s", "1h30m").
 * Returns 0, -EINVAL when malformed (a bare number has no unit) or -ERANGE
 * when it does not fit in 64 bits.
 */
int config_parse_duration(const char *s, uint64_t *out_ns);

/* Write ns in the largest unit that is exact ("1500us", "2m"); returns buf. */
char *config_format_duration(uint64_t ns, char *buf, size_t size);

/* The effective config, one "key: value" a line; the output loads back as a config file. */
void config_print(const struct config *cfg, FILE *f);

/* Every key with its type, bounds, default and description (for --help-config). */
void config_print_reference(FILE *f);

/* Each message of errs on its own line, and how many were left out. */
void config_errors_print(const struct config_errors *errs, FILE *f);

#endif /* SPANBPF_CONFIG_H */
