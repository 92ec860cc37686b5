/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config_internal.h - what the config module's files share: the option
 * table (config.c), its row type and accessors, value parsing and checks,
 * error collection, and the OTEL_* variable table (config_env.c).  Not for
 * use outside agent/config*.c.
 */
#ifndef SPANBPF_CONFIG_INTERNAL_H
#define SPANBPF_CONFIG_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "log.h"
#include "utf8.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
/* 0, or a build error when e is true (as in the kernel). */
#define BUILD_BUG_ON_ZERO(e) ((int)sizeof(struct { int : (-!!(e)); }))

#define NS_PER_US 1000ULL
#define NS_PER_MS (1000 * NS_PER_US)
#define NS_PER_S (1000 * NS_PER_MS)
#define NS_PER_MIN (60 * NS_PER_S)
#define NS_PER_HOUR (60 * NS_PER_MIN)

#define VALUE_MAX 4096		/* a scalar after ${VAR} expansion, with its NUL */
#define PATH_MAX_LEN 256	/* a dotted key */
#define QUOTE_MAX 64		/* bytes of a value shown in a message */
#define QUOTE_BUF (QUOTE_MAX * 4 + 8)

enum opt_type {
	OPT_URL,	/* char array: http:// or https:// URL with a host */
	OPT_ENUM,	/* int: value i is names[i] */
	OPT_UINT,	/* any unsigned integer field, min..max */
	OPT_DURATION,	/* uint64_t nanoseconds, min..max */
	OPT_BOOL,	/* bool */
	OPT_DOUBLE,	/* double, dmin..dmax, finite */
	OPT_STRING,	/* char array, checked by check(); a missing value is "" */
	OPT_PORTS,	/* uint16_t array + size_t count; distinct, each min..max */
	OPT_GLOBS,	/* char[][CONFIG_GLOB_MAX] + size_t count; distinct fnmatch patterns */
	OPT_MAP,	/* struct config_kv array + size_t count; names distinct */
	OPT_SERVICES,	/* struct config_service array + size_t count */
};

/*
 * A check of a string value (OPT_STRING, OPT_MAP names and values): true
 * when s is acceptable, else false with why saying what is wrong.
 */
typedef bool check_fn(const char *s, char *why, size_t n);

struct option {
	const char *name;		/* dotted path */
	enum opt_type type;
	size_t off;			/* target field in struct config */
	size_t size;			/* its size in bytes; lists and maps: capacity */
	size_t count_off;		/* lists and maps: the element count */
	uint64_t min, max;
	uint64_t def;			/* numbers, durations, bools, enum values */
	double dmin, dmax, ddef;	/* OPT_DOUBLE */
	const char *def_str;		/* OPT_URL, OPT_STRING */
	const char *const *names;	/* OPT_ENUM */
	size_t nnames;
	const char *what;		/* OPT_STRING, OPT_MAP: what it takes, for messages */
	const char *noun;		/* OPT_MAP: what an entry is ("header") */
	check_fn *check;		/* OPT_STRING: the value; OPT_MAP: each value (NULL: any) */
	check_fn *check_name;		/* OPT_MAP: each name */
	bool fold_case;			/* OPT_MAP: names compared without regard to case */
	const char *doc;
};

/*
 * Row constructors.  Each checks at build time that the target field has
 * the type the option stores and that the default is within bounds.
 */
#define FIELD_TYPE(f) typeof(((struct config *)0)->f)
#define FIELD_OFF(f, type)                                                                         \
	(offsetof(struct config, f) +                                                              \
	 BUILD_BUG_ON_ZERO(!__builtin_types_compatible_p(FIELD_TYPE(f), type)))

#define OPT_URL(n, f, d, doc_)                                                                     \
	{ .name = (n), .type = OPT_URL, .off = FIELD_OFF(f, char[CONFIG_URL_MAX]),                 \
	  .size = sizeof(FIELD_TYPE(f)), .def_str = (d), .doc = (doc_) }
#define OPT_ENUM(n, f, names_, d, doc_)                                                            \
	{ .name = (n), .type = OPT_ENUM,                                                           \
	  .off = FIELD_OFF(f, int) + BUILD_BUG_ON_ZERO((d) >= ARRAY_SIZE(names_)),                 \
	  .size = sizeof(int), .def = (d), .names = (names_), .nnames = ARRAY_SIZE(names_),        \
	  .doc = (doc_) }
#define OPT_UINT(n, f, lo, hi, d, doc_)                                                            \
	{ .name = (n), .type = OPT_UINT,                                                           \
	  .off = offsetof(struct config, f) + BUILD_BUG_ON_ZERO(!((FIELD_TYPE(f))-1 > 0)) +        \
		 BUILD_BUG_ON_ZERO((uint64_t)(FIELD_TYPE(f))(hi) != (uint64_t)(hi)) +              \
		 BUILD_BUG_ON_ZERO((d) < (lo) || (d) > (hi)),                                      \
	  .size = sizeof(FIELD_TYPE(f)), .min = (lo), .max = (hi), .def = (d), .doc = (doc_) }
#define OPT_DURATION(n, f, lo, hi, d, doc_)                                                        \
	{ .name = (n), .type = OPT_DURATION,                                                       \
	  .off = FIELD_OFF(f, uint64_t) + BUILD_BUG_ON_ZERO((d) < (lo) || (d) > (hi)),             \
	  .size = sizeof(uint64_t), .min = (lo), .max = (hi), .def = (d), .doc = (doc_) }
#define OPT_BOOL(n, f, d, doc_)                                                                    \
	{ .name = (n), .type = OPT_BOOL, .off = FIELD_OFF(f, bool), .size = sizeof(bool),          \
	  .def = (d), .doc = (doc_) }
#define OPT_PORTS(n, f, count, doc_)                                                               \
	{ .name = (n), .type = OPT_PORTS,                                                          \
	  .off = offsetof(struct config, f) +                                                      \
		 BUILD_BUG_ON_ZERO(!__builtin_types_compatible_p(FIELD_TYPE(f[0]), uint16_t)),     \
	  .size = sizeof(FIELD_TYPE(f)) / sizeof(uint16_t), .count_off = FIELD_OFF(count, size_t), \
	  .min = 1, .max = 65535, .doc = (doc_) }
#define OPT_DOUBLE(n, f, lo, hi, d, doc_)                                                          \
	{ .name = (n), .type = OPT_DOUBLE,                                                         \
	  .off = FIELD_OFF(f, double) + BUILD_BUG_ON_ZERO((d) < (lo) || (d) > (hi)),               \
	  .size = sizeof(double), .dmin = (lo), .dmax = (hi), .ddef = (d), .doc = (doc_) }
#define OPT_STRING(n, f, d, what_, check_, doc_)                                                   \
	{ .name = (n), .type = OPT_STRING,                                                         \
	  .off = offsetof(struct config, f) +                                                      \
		 BUILD_BUG_ON_ZERO(!__builtin_types_compatible_p(FIELD_TYPE(f[0]), char)) +        \
		 BUILD_BUG_ON_ZERO(sizeof(d) > sizeof(FIELD_TYPE(f))),                             \
	  .size = sizeof(FIELD_TYPE(f)), .def_str = (d), .what = (what_), .check = (check_),       \
	  .doc = (doc_) }
#define OPT_GLOBS(n, f, count, doc_)                                                               \
	{ .name = (n), .type = OPT_GLOBS,                                                          \
	  .off = offsetof(struct config, f) +                                                      \
		 BUILD_BUG_ON_ZERO(!__builtin_types_compatible_p(FIELD_TYPE(f[0]),                 \
								  char[CONFIG_GLOB_MAX])),         \
	  .size = ARRAY_SIZE(((struct config *)0)->f), .count_off = FIELD_OFF(count, size_t),      \
	  .doc = (doc_) }
#define OPT_MAP(n, f, count, what_, noun_, name_check, value_check, fold, doc_)                    \
	{ .name = (n), .type = OPT_MAP,                                                            \
	  .off = offsetof(struct config, f) +                                                      \
		 BUILD_BUG_ON_ZERO(!__builtin_types_compatible_p(FIELD_TYPE(f[0]),                 \
								  struct config_kv)) +             \
		 BUILD_BUG_ON_ZERO(ARRAY_SIZE(((struct config *)0)->f) > MAP_MAX),                 \
	  .size = ARRAY_SIZE(((struct config *)0)->f), .count_off = FIELD_OFF(count, size_t),      \
	  .what = (what_), .noun = (noun_), .check_name = (name_check), .check = (value_check),    \
	  .fold_case = (fold), .doc = (doc_) }
#define OPT_SERVICES(n, f, count, doc_)                                                            \
	{ .name = (n), .type = OPT_SERVICES,                                                       \
	  .off = offsetof(struct config, f) +                                                      \
		 BUILD_BUG_ON_ZERO(!__builtin_types_compatible_p(FIELD_TYPE(f[0]),                 \
								  struct config_service)),         \
	  .size = ARRAY_SIZE(((struct config *)0)->f), .count_off = FIELD_OFF(count, size_t),      \
	  .doc = (doc_) }

#define MAP_MAX 32	/* the largest OPT_MAP */

/* A parsed scalar, before it is stored. */
struct value {
	uint64_t num;		/* numbers, durations, bools, enum values */
	double dbl;		/* OPT_DOUBLE */
	const char *str;	/* OPT_URL, OPT_STRING: the text itself, already checked */
};


/* Rows of the option table (checked against the table by a static assertion). */
#define CFG_NOPTIONS CONFIG_NOPTIONS
extern const struct option cfg_options[CFG_NOPTIONS];

enum env_kind {
	ENV_VALUE,	/* as in the file */
	ENV_BASE_URL,	/* a base URL: /v1/traces is appended */
	ENV_MILLIS,	/* integer milliseconds, for a duration */
	ENV_PAIRS,	/* k1=v1,k2=v2, merged over a mapping */
};

struct cfg_env_override {
	const char *var;
	const char *key;
	enum env_kind kind;
};

/* Checked in order: the first variable set for a key wins. */
#define CFG_NENV_OVERRIDES 15
extern const struct cfg_env_override cfg_env_overrides[CFG_NENV_OVERRIDES];

/* ---- messages (config.c) */
void cfg_errs_reset(struct config_errors *errs);
__attribute__((format(printf, 2, 3))) void cfg_errs_add(struct config_errors *errs,
							 const char *fmt, ...);
/* s in double quotes for a message: escapes control bytes, cuts after QUOTE_MAX bytes. */
const char *cfg_quote(const char *s, char *buf, size_t size);

/* ---- values (config.c) */
int cfg_parse_u64(const char *s, uint64_t *out);
char *cfg_format_double(double d, char *buf, size_t size);
bool cfg_check_glob(const char *s, char *why, size_t n);
bool cfg_check_service_name(const char *s, char *why, size_t n);
/* text fits size bytes and passes check (NULL: any); else why says what is wrong. */
bool cfg_string_ok(const char *text, size_t size, check_fn *check, char *why, size_t n);
/* What o takes, for messages and the reference ("a duration in 1ms..1h"). */
void cfg_type_text(const struct option *o, char *buf, size_t size);
bool cfg_parse_uint_in(const struct option *o, const char *text, uint64_t *out, char *why,
		       size_t n);
/* text (already expanded) as o's value into *v; false with why when it is not one. */
bool cfg_parse_scalar(const struct option *o, const char *text, struct value *v, char *why,
		      size_t n);
/* o's field in cfg, and the element count of a list or map. */
void *cfg_field(const struct option *o, struct config *cfg);
const void *cfg_cfield(const struct option *o, const struct config *cfg);
size_t *cfg_count_field(const struct option *o, struct config *cfg);
size_t cfg_ccount(const struct option *o, const struct config *cfg);
void cfg_store_scalar(const struct option *o, struct config *cfg, const struct value *v);
/* A number, duration, bool or enum field as stored. */
uint64_t cfg_load_num(const struct option *o, const struct config *cfg);
/* The row of a dotted key, or NULL. */
const struct option *cfg_find_option(const char *name);
/* Map names a and b are the same name for o (fold_case: any case). */
bool cfg_same_name(const struct option *o, const char *a, const char *b);

#endif /* SPANBPF_CONFIG_INTERNAL_H */
