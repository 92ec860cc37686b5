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
 *    Keys are never expanded;
 *  - a list or mapping replaces the earlier one whole; an empty value (or
 *    [] / {}) empties it; so does an empty value unset a file path or
 *    metrics.listen ("");
 *  - file paths (exporter.tls.*) must name readable regular files when the
 *    config is loaded (also on reload): a missing file is an error then, not
 *    at the first export.  Their content is checked by the TLS library.
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
#define CONFIG_PATH_MAX 4096		/* a file path, with its NUL */
#define CONFIG_LISTEN_MAX 256		/* metrics.listen, with its NUL */
#define CONFIG_MAX_HEADERS 32
#define CONFIG_MAX_ATTRIBUTES 32
#define CONFIG_KV_NAME_MAX 128		/* a header or attribute name, with its NUL */
#define CONFIG_KV_VALUE_MAX 1024	/* its value, with its NUL */
#define CONFIG_MAX_GLOBS 64		/* patterns in filters.processes and exclude_processes */
#define CONFIG_GLOB_MAX 256		/* one pattern, with its NUL */
#define CONFIG_MAX_SERVICES 64
#define CONFIG_SERVICE_NAME_MAX 256	/* a service name, with its NUL */
#define CONFIG_NOPTIONS 28		/* settings in the option table */

enum config_compression {
	COMPRESSION_NONE = 0,
	COMPRESSION_GZIP = 1,
};

/* One entry of a string-to-string mapping, in file order. */
struct config_kv {
	char name[CONFIG_KV_NAME_MAX];
	char value[CONFIG_KV_VALUE_MAX];
};

/*
 * One services rule: it matches a process whose executable name matches the
 * glob (when set) and that listens on the port (when set); at least one is.
 */
struct config_service {
	char name[CONFIG_SERVICE_NAME_MAX];	/* service.name to give, never empty */
	char executable[CONFIG_GLOB_MAX];	/* fnmatch pattern; "": any executable */
	uint16_t port;				/* listening TCP port; 0: any */
};

/*
 * Where one setting's value came from, for --print-config: the default, a
 * line of the file last loaded (config.source_file), an OTEL_* variable, or
 * (a mapping merged by a variable) both.
 */
struct config_source {
	uint32_t line;		/* line of the key in source_file; 0: not from the file */
	int8_t env;		/* index of the OTEL_* variable (config_env_name()); -1: none */
};

/*
 * About 150 KB (the lists and maps are fixed arrays, no pointers: a config
 * copies with = and needs no freeing); keep it off small thread stacks.
 */
struct config {
	char exporter_endpoint[CONFIG_URL_MAX];	/* exporter.endpoint, http(s) URL */
	int compression;			/* exporter.compression, enum config_compression */
	uint64_t exporter_timeout_ns;		/* exporter.timeout, per request, 1ms..10m */
	/*
	 * exporter.headers: names are HTTP tokens, distinct without regard to
	 * case; values hold no control characters but tab.  An empty value
	 * means "do not send this header" (so the environment can remove one).
	 */
	struct config_kv exporter_headers[CONFIG_MAX_HEADERS];
	size_t nexporter_headers;
	/*
	 * exporter.tls.*: "" is unset (ca_file: the system's CAs); cert_file
	 * and key_file (mutual TLS) are both set or both unset.
	 */
	char exporter_tls_ca_file[CONFIG_PATH_MAX];
	char exporter_tls_cert_file[CONFIG_PATH_MAX];
	char exporter_tls_key_file[CONFIG_PATH_MAX];
	bool exporter_tls_insecure_skip_verify;
	uint32_t batch_max_spans;		/* batch.max_spans, 1..65536 */
	uint64_t batch_timeout_ns;		/* batch.timeout, 1ms..1h */
	uint32_t queue_max_spans;		/* queue.max_spans, 1..1048576 */
	uint64_t retry_initial_interval_ns;	/* retry.initial_interval, 1ms..1h, <= max */
	uint64_t retry_max_interval_ns;		/* retry.max_interval, 1ms..1h */
	uint64_t retry_max_elapsed_time_ns;	/* retry.max_elapsed_time, 0..24h; 0: no limit */
	uint64_t shutdown_timeout_ns;		/* shutdown_timeout, 0..10m; 0: do not flush */
	double sampling_ratio;			/* sampling.ratio, 0..1 */
	uint16_t ports[CONFIG_MAX_PORTS];	/* filters.ports, distinct, in file order */
	size_t nports;				/* 0: trace every process */
	uint16_t exclude_ports[CONFIG_MAX_PORTS];	/* filters.exclude_ports, distinct */
	size_t nexclude_ports;
	char processes[CONFIG_MAX_GLOBS][CONFIG_GLOB_MAX];	/* filters.processes */
	size_t nprocesses;					/* 0: any executable */
	char exclude_processes[CONFIG_MAX_GLOBS][CONFIG_GLOB_MAX]; /* filters.exclude_processes */
	size_t nexclude_processes;
	/* resource.attributes: names distinct (case matters), never service.name. */
	struct config_kv resource_attributes[CONFIG_MAX_ATTRIBUTES];
	size_t nresource_attributes;
	struct config_service services[CONFIG_MAX_SERVICES];	/* services, in file order */
	size_t nservices;
	bool record_query;			/* http.record_query */
	bool tls_enabled;			/* tls.enabled */
	bool runtime_go;			/* runtimes.go */
	bool runtime_node;			/* runtimes.node */
	char metrics_listen[CONFIG_LISTEN_MAX];	/* metrics.listen; "": no endpoint */
	int log_level;				/* log.level, log.h's enum log_level */
	/* Provenance, in option table order: not settings, never printed as such. */
	char source_file[CONFIG_PATH_MAX];	/* the file loaded last ("" none) */
	struct config_source sources[CONFIG_NOPTIONS];
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
 * The built-in default of a number, duration (ns), bool or enum setting, by
 * its dotted name ("batch.timeout"): for modules with their own options
 * struct whose zero means "the default".  0 for any other name.
 */
uint64_t config_default_num(const char *name);

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
 * Apply the OTEL_* environment overrides to cfg.  For each setting the
 * signal variable (OTEL_EXPORTER_OTLP_TRACES_*) wins over the general one,
 * which is then ignored:
 *  ..._ENDPOINT: the TRACES one is used as is; the general one is a base URL
 *    that "/v1/traces" is appended to;
 *  ..._COMPRESSION: gzip or none;
 *  ..._TIMEOUT: integer milliseconds (exporter.timeout);
 *  ..._HEADERS: "k1=v1,k2=v2" (baggage.h: names and values
 *    percent-decoded, spaces around them trimmed), merged over
 *    exporter.headers: a variable's header replaces the file's of the same
 *    name (any case), "name=" removes it (an empty value);
 *  ..._CERTIFICATE (exporter.tls.ca_file), ..._CLIENT_CERTIFICATE and
 *    ..._CLIENT_KEY (exporter.tls.cert_file, key_file): readable files;
 *  OTEL_RESOURCE_ATTRIBUTES: "k1=v1,k2=v2" merged over resource.attributes
 *    the same way (names compared exactly).
 * Empty variables count as unset.  getenv_fn is NULL for the process
 * environment, a fake in tests.  Returns 0, or the number of problems (each
 * naming its variable) with errs filled and cfg unchanged.  errs is reset
 * first and may be NULL.
 */
int config_apply_env(struct config *cfg, const char *(*getenv_fn)(const char *name),
		     struct config_errors *errs);

/*
 * Expand ${VAR}, ${VAR:-default} and $$ in s into out[size], looking names
 * up with getenv_fn (NULL: the process environment).  Returns true, or false
 * with why[n] saying what is wrong (an unset variable, bad syntax, too
 * long).  A $ before anything else is kept.
 */
bool config_expand(const char *s, const char *(*getenv_fn)(const char *name), char *out,
		   size_t size, char *why, size_t n);

/*
 * Parse a duration into nanoseconds: one or more number+unit terms, units
 * ns, us, ms, s, m, h, fractions allowed ("200ms", "1.5s", "1h30m").
 * Returns 0, -EINVAL when malformed (a bare number has no unit) or -ERANGE
 * when it does not fit in 64 bits.
 */
int config_parse_duration(const char *s, uint64_t *out_ns);

/* Write ns in the largest unit that is exact ("1500us", "2m"); returns buf. */
char *config_format_duration(uint64_t ns, char *buf, size_t size);

/*
 * The effective config, one "key: value" a line; the output loads back as a
 * config file giving the same settings (strings escaped wherever YAML would
 * read a line break or refuse a character).
 */
void config_print(const struct config *cfg, FILE *f);

/*
 * config_print() with each value's source in a comment ("# default",
 * "# FILE:LINE", "# env OTEL_...", or both for a merged mapping): what
 * --print-config shows.  Loads back like config_print()'s output.
 */
void config_print_sources(const struct config *cfg, FILE *f);

/* The name of the OTEL_* variable of config_source.env, or NULL. */
const char *config_env_name(int index);

/* Every key with its type, bounds, default and description (for --help-config). */
void config_print_reference(FILE *f);

/* Each message of errs on its own line, and how many were left out. */
void config_errors_print(const struct config_errors *errs, FILE *f);

/*
 * Whether a process whose executable file name (the last component of
 * /proc/PID/exe, e.g. "python3.11") is exe_name should be traced by the
 * name filters: it matches one of filters.processes (any name when that is
 * empty) and none of filters.exclude_processes.  Patterns are fnmatch(3)
 * globs, case sensitive.  A NULL exe_name is the empty name.
 */
bool config_process_selected(const struct config *cfg, const char *exe_name);
/* Does exe_name match one of filters.exclude_processes? */
bool config_process_excluded(const struct config *cfg, const char *exe_name);

/*
 * The service name the first matching services rule gives a process with
 * this executable file name listening on these TCP ports (listen_ports may
 * be NULL when n is 0), or NULL when no rule matches.  The string lives in
 * cfg.
 */
const char *config_service_name(const struct config *cfg, const char *exe_name,
				const uint16_t *listen_ports, size_t n);

#endif /* SPANBPF_CONFIG_H */
