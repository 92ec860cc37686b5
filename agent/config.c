// SPDX-License-Identifier: Apache-2.0
/*
 * config.c - the option table, the YAML loader (libyaml's document API),
 * the OTEL_* overrides and the printers.
 *
 * Loading walks the YAML tree once, checks every key against the table and
 * collects every problem, then checks the keys that depend on each other;
 * values go into a scratch copy (on the heap: lists and maps make struct
 * config large) that replaces the caller's config only when there was none.
 */
#include "config.h"
#include "log.h"

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
	bool fold_case;			/* OPT_MAP: names are compared without regard to case */
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

static const char *const compression_names[] = {
	[COMPRESSION_NONE] = "none",
	[COMPRESSION_GZIP] = "gzip",
};

static const char *const log_level_names[] = {
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_WARN] = "warn",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

static check_fn check_file, check_listen, check_header_name, check_header_value,
	check_attribute_name;

/* Every setting; the order is the order of config_print() and of config/spanbpf.yaml. */
static const struct option options[] = {
	OPT_URL("exporter.endpoint", exporter_endpoint, "http://localhost:4318/v1/traces",
		"OTLP/HTTP URL the spans are POSTed to"),
	OPT_ENUM("exporter.compression", compression, compression_names, COMPRESSION_GZIP,
		 "compression of the request body"),
	OPT_DURATION("exporter.timeout", exporter_timeout_ns, NS_PER_MS, 10 * NS_PER_MIN,
		     10 * NS_PER_S, "longest wait for the collector's answer to one request"),
	OPT_MAP("exporter.headers", exporter_headers, nexporter_headers,
		"a mapping of up to 32 HTTP header names to values", "header", check_header_name,
		check_header_value, true, "HTTP headers sent with every export request"),
	OPT_STRING("exporter.tls.ca_file", exporter_tls_ca_file, "", "a file path (\"\": none)",
		   check_file, "PEM CA certificates that verify the collector; \"\": the system's"),
	OPT_STRING("exporter.tls.cert_file", exporter_tls_cert_file, "",
		   "a file path (\"\": none)", check_file,
		   "PEM client certificate for mutual TLS (with key_file)"),
	OPT_STRING("exporter.tls.key_file", exporter_tls_key_file, "", "a file path (\"\": none)",
		   check_file, "PEM private key of cert_file"),
	OPT_BOOL("exporter.tls.insecure_skip_verify", exporter_tls_insecure_skip_verify, false,
		 "do not verify the collector's certificate (logged as a warning)"),
	OPT_UINT("batch.max_spans", batch_max_spans, 1, 65536, 512,
		 "most spans in one export request"),
	OPT_DURATION("batch.timeout", batch_timeout_ns, NS_PER_MS, NS_PER_HOUR, NS_PER_S,
		     "longest a span waits before its batch is sent"),
	OPT_UINT("queue.max_spans", queue_max_spans, 1, 1048576, 65536,
		 "spans waiting for export; more are dropped and counted"),
	OPT_DURATION("retry.initial_interval", retry_initial_interval_ns, NS_PER_MS, NS_PER_HOUR,
		     5 * NS_PER_S, "first wait before retrying a batch (at most max_interval)"),
	OPT_DURATION("retry.max_interval", retry_max_interval_ns, NS_PER_MS, NS_PER_HOUR,
		     30 * NS_PER_S, "longest wait between two tries of a batch"),
	OPT_DURATION("retry.max_elapsed_time", retry_max_elapsed_time_ns, 0, 24 * NS_PER_HOUR,
		     5 * NS_PER_MIN, "give a batch up this long after its first try; 0s: never"),
	OPT_DURATION("shutdown_timeout", shutdown_timeout_ns, 0, 10 * NS_PER_MIN, 5 * NS_PER_S,
		     "on SIGTERM/SIGINT, longest flush of the queued spans; 0s: none"),
	OPT_DOUBLE("sampling.ratio", sampling_ratio, 0.0, 1.0, 1.0,
		   "share of traces exported, decided per trace id"),
	OPT_PORTS("filters.ports", ports, nports,
		  "trace only processes listening on one of these TCP ports; [] traces all"),
	OPT_PORTS("filters.exclude_ports", exclude_ports, nexclude_ports,
		  "never trace connections to or from these TCP ports"),
	OPT_GLOBS("filters.processes", processes, nprocesses,
		  "trace only executables whose name matches one of these globs; [] traces all"),
	OPT_GLOBS("filters.exclude_processes", exclude_processes, nexclude_processes,
		  "never trace executables whose name matches one of these globs"),
	OPT_MAP("resource.attributes", resource_attributes, nresource_attributes,
		"a mapping of up to 32 attribute names to values", "attribute",
		check_attribute_name, NULL, false, "attributes added to every span's resource"),
	OPT_SERVICES("services", services, nservices,
		     "service.name by rule: the first rule matching a process names it"),
	OPT_BOOL("http.record_query", record_query, false,
		 "keep the query string in url.query (it may carry secrets)"),
	OPT_STRING("metrics.listen", metrics_listen, "",
		   "HOST:PORT, :PORT or [IPV6]:PORT (\"\": off)", check_listen,
		   "address of the Prometheus /metrics endpoint; \"\": none"),
	OPT_ENUM("log.level", log_level, log_level_names, LOG_LEVEL_INFO, "agent log verbosity"),
};

/* A parsed scalar, before it is stored. */
struct value {
	uint64_t num;		/* numbers, durations, bools, enum values */
	double dbl;		/* OPT_DOUBLE */
	const char *str;	/* OPT_URL, OPT_STRING: the text itself, already checked */
};

/* ---- messages ------------------------------------------------------------ */

static void errs_reset(struct config_errors *errs)
{
	if (errs)
		errs->count = 0;
}

static void errs_vadd(struct config_errors *errs, const char *fmt, va_list ap)
{
	if (!errs)
		return;
	if (errs->count < CONFIG_MAX_ERRORS)
		vsnprintf(errs->msg[errs->count], CONFIG_ERROR_LEN, fmt, ap);
	errs->count++;
}

static __attribute__((format(printf, 2, 3))) void errs_add(struct config_errors *errs,
							    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	errs_vadd(errs, fmt, ap);
	va_end(ap);
}

/* s in double quotes for a message: escapes control bytes, cuts after QUOTE_MAX bytes. */
static const char *quote(const char *s, char *buf, size_t size)
{
	size_t o = 0;

	buf[o++] = '"';
	for (size_t i = 0; s[i] && o + 8 < size; i++) {
		unsigned char c = (unsigned char)s[i];

		if (i == QUOTE_MAX) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
		} else {
			buf[o++] = (char)c;
		}
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

/* ---- values -------------------------------------------------------------- */

enum dur_err { DUR_OK, DUR_SYNTAX, DUR_NO_UNIT, DUR_BAD_UNIT, DUR_RANGE };

static const struct {
	const char *name;
	uint64_t ns;
} duration_units[] = {
	{ "h", NS_PER_HOUR }, { "m", NS_PER_MIN }, { "s", NS_PER_S },
	{ "ms", NS_PER_MS },  { "us", NS_PER_US }, { "ns", 1 },
};

/*
 * As config_parse_duration(), with the reason.  On DUR_BAD_UNIT, *unit and
 * *unit_len give the unit as written.
 */
static enum dur_err duration_parse(const char *s, uint64_t *out, const char **unit,
				   size_t *unit_len)
{
	const unsigned __int128 cap = (unsigned __int128)UINT64_MAX + 1;
	unsigned __int128 total = 0;

	if (!*s)
		return DUR_SYNTAX;
	while (*s) {
		unsigned __int128 whole = 0, frac = 0, scale = 1;
		uint64_t per = 0;
		bool digits = false;
		const char *u;
		size_t len;

		for (; isdigit((unsigned char)*s); s++, digits = true)
			if (whole < cap)
				whole = whole * 10 + (unsigned)(*s - '0');
		if (*s == '.')
			for (s++; isdigit((unsigned char)*s); s++, digits = true)
				if (scale < 1000000000000000000ULL) {
					frac = frac * 10 + (unsigned)(*s - '0');
					scale *= 10;
				}
		if (!digits)
			return DUR_SYNTAX;
		for (u = s; *s && !isdigit((unsigned char)*s) && *s != '.'; s++)
			;
		len = (size_t)(s - u);
		if (!len)
			return *s ? DUR_SYNTAX : DUR_NO_UNIT;
		for (size_t i = 0; i < ARRAY_SIZE(duration_units); i++)
			if (strlen(duration_units[i].name) == len &&
			    !memcmp(duration_units[i].name, u, len))
				per = duration_units[i].ns;
		if (!per) {
			*unit = u;
			*unit_len = len;
			return DUR_BAD_UNIT;
		}
		if (whole >= cap)
			whole = cap;
		total += whole * per + frac * per / scale;
		if (total > cap)
			total = cap;
	}
	if (total >= cap)
		return DUR_RANGE;
	*out = (uint64_t)total;
	return DUR_OK;
}

int config_parse_duration(const char *s, uint64_t *out_ns)
{
	const char *unit;
	size_t unit_len;
	uint64_t ns;

	if (!s || !out_ns)
		return -EINVAL;
	switch (duration_parse(s, &ns, &unit, &unit_len)) {
	case DUR_OK:
		*out_ns = ns;
		return 0;
	case DUR_RANGE:
		return -ERANGE;
	default:
		return -EINVAL;
	}
}

char *config_format_duration(uint64_t ns, char *buf, size_t size)
{
	if (!buf || !size)
		return buf;
	if (!ns) {
		snprintf(buf, size, "0s");
		return buf;
	}
	for (size_t i = 0; i < ARRAY_SIZE(duration_units); i++) {
		uint64_t per = duration_units[i].ns;

		if (ns % per == 0) {
			snprintf(buf, size, "%llu%s", (unsigned long long)(ns / per),
				 duration_units[i].name);
			break;
		}
	}
	return buf;
}

/* Decimal digits only ("-5" is out of range): 0, -EINVAL, or -ERANGE beyond 64 bits. */
static int parse_u64(const char *s, uint64_t *out)
{
	bool negative = *s == '-';
	uint64_t v = 0;
	bool range = false;

	if (negative)
		s++;
	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		unsigned d = (unsigned)(*s - '0');

		if (d > 9)
			return -EINVAL;
		if (v > (UINT64_MAX - d) / 10)
			range = true;
		else
			v = v * 10 + d;
	}
	if (range || (negative && v))
		return -ERANGE;
	*out = v;
	return 0;
}

_Static_assert(CONFIG_URL_MAX == 1024, "url_problem() says 1023 bytes");

/* NULL when s is a usable http(s) URL with a host, else what is wrong with it. */
static const char *url_problem(const char *s)
{
	const char *p, *end, *at, *host_end;

	if (strlen(s) >= CONFIG_URL_MAX)
		return "is longer than 1023 bytes";
	for (p = s; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return "contains a space or a control character";
	if (!strncasecmp(s, "http://", 7))
		p = s + 7;
	else if (!strncasecmp(s, "https://", 8))
		p = s + 8;
	else
		return "is not an http:// or https:// URL";
	end = p + strcspn(p, "/?#");
	at = memrchr(p, '@', (size_t)(end - p));
	if (at)
		p = at + 1;
	if (*p == '[') {
		host_end = memchr(p, ']', (size_t)(end - p));
		if (!host_end || host_end == p + 1)
			return "has a bad IPv6 host";
		host_end++;
	} else {
		host_end = memchr(p, ':', (size_t)(end - p));
		if (!host_end)
			host_end = end;
	}
	if (host_end == p)
		return "has no host";
	if (host_end < end) {
		uint64_t port;
		char digits[8];
		size_t n = (size_t)(end - host_end - 1);

		if (*host_end != ':' || n == 0 || n >= sizeof(digits))
			return "has a bad port";
		memcpy(digits, host_end + 1, n);
		digits[n] = '\0';
		if (parse_u64(digits, &port) || port < 1 || port > 65535)
			return "has a bad port";
	}
	return NULL;
}

/*
 * A decimal number ("0.25", "1", "1e-3", ".5"): 0, or -EINVAL when
 * malformed (also NaN, infinities and hex), -ERANGE when beyond double.
 */
static int parse_double(const char *s, double *out)
{
	char *end;
	double d;

	if (!*s || strspn(s, "0123456789.eE+-") != strlen(s))
		return -EINVAL;
	d = strtod(s, &end);
	if (end == s || *end)
		return -EINVAL;
	if (!isfinite(d))
		return -ERANGE;
	*out = d + 0.0;	/* -0 is 0 */
	return 0;
}

/* The shortest text that parses back to d exactly ("0.25", "1", "1e-05"). */
static char *format_double(double d, char *buf, size_t size)
{
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, size, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	return buf;
}

/* s is a path to a readable regular file, or "" (unset). */
static bool check_file(const char *s, char *why, size_t n)
{
	char q[QUOTE_BUF];
	struct stat st;
	int fd, err = 0;

	if (!*s)
		return true;
	/* O_NONBLOCK: a FIFO must not hang the loader. */
	fd = open(s, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		err = errno;
	else if (fstat(fd, &st))
		err = errno;
	else if (S_ISDIR(st.st_mode))
		err = EISDIR;
	if (fd >= 0)
		close(fd);
	if (err) {
		snprintf(why, n, "cannot read %s: %s", quote(s, q, sizeof(q)), strerror(err));
		return false;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, n, "%s is not a regular file", quote(s, q, sizeof(q)));
		return false;
	}
	return true;
}

/* s is "" (off), HOST:PORT, :PORT or [IPV6]:PORT, with a port in 1..65535. */
static bool check_listen(const char *s, char *why, size_t n)
{
	char q[QUOTE_BUF], addr[INET6_ADDRSTRLEN + 8];
	struct in6_addr a6;
	const char *colon, *bracket;
	uint64_t port;

	if (!*s)
		return true;
	quote(s, q, sizeof(q));
	if (*s == '[') {
		bracket = strchr(s, ']');
		if (!bracket || (size_t)(bracket - s - 1) >= sizeof(addr)) {
			snprintf(why, n, "%s has a bad IPv6 address", q);
			return false;
		}
		memcpy(addr, s + 1, (size_t)(bracket - s - 1));
		addr[bracket - s - 1] = '\0';
		if (inet_pton(AF_INET6, addr, &a6) != 1) {
			snprintf(why, n, "%s has a bad IPv6 address", q);
			return false;
		}
		colon = bracket + 1;
		if (*colon != ':') {
			snprintf(why, n, "%s is not HOST:PORT, :PORT or [IPV6]:PORT", q);
			return false;
		}
	} else {
		colon = strrchr(s, ':');
		if (!colon) {
			snprintf(why, n, "%s is not HOST:PORT, :PORT or [IPV6]:PORT", q);
			return false;
		}
		if (memchr(s, ':', (size_t)(colon - s))) {
			snprintf(why, n, "%s needs brackets around its IPv6 address: "
					 "[ADDRESS]:PORT", q);
			return false;
		}
		for (const char *p = s; p < colon; p++)
			if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.') {
				snprintf(why, n, "%s has a bad host name", q);
				return false;
			}
	}
	if (parse_u64(colon + 1, &port) || port < 1 || port > 65535) {
		snprintf(why, n, "%s has a bad port (1..65535)", q);
		return false;
	}
	return true;
}

/* RFC 9110 token characters. */
static bool is_tchar(unsigned char c)
{
	return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Headers the exporter writes itself. */
static const char *const reserved_headers[] = {
	"content-type", "content-encoding", "content-length", "transfer-encoding",
};

static bool check_header_name(const char *s, char *why, size_t n)
{
	char q[QUOTE_BUF];

	if (!*s) {
		snprintf(why, n, "a header name is empty");
		return false;
	}
	for (const char *p = s; *p; p++)
		if (!is_tchar((unsigned char)*p)) {
			snprintf(why, n, "%s is not a valid header name (use letters, digits and "
					 "!#$%%&'*+-.^_`|~)", quote(s, q, sizeof(q)));
			return false;
		}
	for (size_t i = 0; i < ARRAY_SIZE(reserved_headers); i++)
		if (!strcasecmp(s, reserved_headers[i])) {
			snprintf(why, n, "%s is set by the exporter itself",
				 quote(s, q, sizeof(q)));
			return false;
		}
	return true;
}

/* No control characters but tab: a CR or LF would end the header early. */
static bool check_header_value(const char *s, char *why, size_t n)
{
	char q[QUOTE_BUF];

	for (const char *p = s; *p; p++)
		if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f) {
			snprintf(why, n, "value %s contains a control character",
				 quote(s, q, sizeof(q)));
			return false;
		}
	return true;
}

static bool check_attribute_name(const char *s, char *why, size_t n)
{
	char q[QUOTE_BUF];

	if (!*s) {
		snprintf(why, n, "an attribute name is empty");
		return false;
	}
	if (!strcmp(s, "service.name")) {
		snprintf(why, n, "service.name is chosen per process: use services rules "
				 "(executable: \"*\" names every process)");
		return false;
	}
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			snprintf(why, n, "attribute name %s contains a control character",
				 quote(s, q, sizeof(q)));
			return false;
		}
	return true;
}

/* A glob matched against executable file names: not empty, no '/'. */
static bool check_glob(const char *s, char *why, size_t n)
{
	char q[QUOTE_BUF];

	if (!*s) {
		snprintf(why, n, "an empty pattern matches nothing");
		return false;
	}
	if (strchr(s, '/')) {
		snprintf(why, n, "%s contains /: patterns match executable file names, not paths",
			 quote(s, q, sizeof(q)));
		return false;
	}
	return true;
}

static bool check_service_name(const char *s, char *why, size_t n)
{
	char q[QUOTE_BUF];

	if (!*s) {
		snprintf(why, n, "a service name is empty");
		return false;
	}
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			snprintf(why, n, "%s contains a control character", quote(s, q, sizeof(q)));
			return false;
		}
	return true;
}

/* text fits in size bytes (with its NUL) and passes check (NULL: anything). */
static bool string_ok(const char *text, size_t size, check_fn *check, char *why, size_t n)
{
	char q[QUOTE_BUF];

	if (strlen(text) >= size) {
		snprintf(why, n, "%s is longer than %zu bytes", quote(text, q, sizeof(q)),
			 size - 1);
		return false;
	}
	return !check || check(text, why, n);
}

static void enum_list(const struct option *o, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < o->nnames && used < size; i++)
		if (o->names[i])
			used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? ", " : "",
						 o->names[i]);
}

static void bounds_text(const struct option *o, char *buf, size_t size)
{
	char lo[32], hi[32];

	if (o->type == OPT_DOUBLE)
		snprintf(buf, size, "%s..%s", format_double(o->dmin, lo, sizeof(lo)),
			 format_double(o->dmax, hi, sizeof(hi)));
	else if (o->type == OPT_DURATION)
		snprintf(buf, size, "%s..%s", config_format_duration(o->min, lo, sizeof(lo)),
			 config_format_duration(o->max, hi, sizeof(hi)));
	else
		snprintf(buf, size, "%llu..%llu", (unsigned long long)o->min,
			 (unsigned long long)o->max);
}

/* What an option takes, for messages: "an integer in 1..65536". */
static void type_text(const struct option *o, char *buf, size_t size)
{
	char b[128];

	switch (o->type) {
	case OPT_URL:
		snprintf(buf, size, "an http:// or https:// URL");
		break;
	case OPT_ENUM:
		enum_list(o, b, sizeof(b));
		snprintf(buf, size, "one of: %s", b);
		break;
	case OPT_UINT:
		bounds_text(o, b, sizeof(b));
		snprintf(buf, size, "an integer in %s", b);
		break;
	case OPT_DURATION:
		bounds_text(o, b, sizeof(b));
		snprintf(buf, size, "a duration in %s such as 200ms or 1.5s", b);
		break;
	case OPT_BOOL:
		snprintf(buf, size, "true or false");
		break;
	case OPT_DOUBLE:
		bounds_text(o, b, sizeof(b));
		snprintf(buf, size, "a number in %s", b);
		break;
	case OPT_STRING:
	case OPT_MAP:
		snprintf(buf, size, "%s", o->what);
		break;
	case OPT_PORTS:
		bounds_text(o, b, sizeof(b));
		snprintf(buf, size, "a list of up to %zu ports in %s such as [8080, 9090]", o->size,
			 b);
		break;
	case OPT_GLOBS:
		snprintf(buf, size, "a list of up to %zu executable name patterns such as "
				    "[nginx, \"python3*\"]", o->size);
		break;
	case OPT_SERVICES:
		snprintf(buf, size, "a list of up to %zu rules such as "
				    "[{name: shop, executable: \"java*\", port: 8080}]", o->size);
		break;
	}
}

static bool parse_uint_in(const struct option *o, const char *text, uint64_t *out, char *why,
			  size_t n)
{
	char q[QUOTE_BUF], b[128];
	int err = parse_u64(text, out);

	bounds_text(o, b, sizeof(b));
	if (err == -EINVAL) {
		snprintf(why, n, "expected an integer in %s, got %s", b, quote(text, q, sizeof(q)));
		return false;
	}
	if (err || *out < o->min || *out > o->max) {
		snprintf(why, n, "%s is out of range %s", text, b);
		return false;
	}
	return true;
}

/*
 * Parse text for a scalar option.  Returns true, or false with why holding
 * what is wrong, e.g. "0 is out of range 1..65536".
 */
static bool parse_scalar(const struct option *o, const char *text, struct value *v, char *why,
			 size_t n)
{
	char q[QUOTE_BUF], b[128];
	const char *problem, *unit = NULL;
	size_t unit_len = 0;

	quote(text, q, sizeof(q));
	switch (o->type) {
	case OPT_URL:
		problem = url_problem(text);
		if (problem) {
			snprintf(why, n, "%s %s", q, problem);
			return false;
		}
		v->str = text;
		return true;
	case OPT_ENUM:
		for (size_t i = 0; i < o->nnames; i++) {
			if (o->names[i] && !strcasecmp(text, o->names[i])) {
				v->num = i;
				return true;
			}
		}
		enum_list(o, b, sizeof(b));
		snprintf(why, n, "%s is not one of: %s", q, b);
		return false;
	case OPT_UINT:
		return parse_uint_in(o, text, &v->num, why, n);
	case OPT_DURATION:
		switch (duration_parse(text, &v->num, &unit, &unit_len)) {
		case DUR_OK:
			if (v->num >= o->min && v->num <= o->max)
				return true;
			/* fall through */
		case DUR_RANGE:
			bounds_text(o, b, sizeof(b));
			snprintf(why, n, "%s is out of range %s", text, b);
			return false;
		case DUR_NO_UNIT:
			snprintf(why, n, "%s needs a unit: ns, us, ms, s, m or h (e.g. %.*ss)", q,
				 QUOTE_MAX, text);
			return false;
		case DUR_BAD_UNIT:
			snprintf(why, n,
				 "%s has an unknown unit \"%.*s\" (use ns, us, ms, s, m or h)", q,
				 (int)(unit_len < QUOTE_MAX ? unit_len : QUOTE_MAX), unit);
			return false;
		case DUR_SYNTAX:
			break;
		}
		snprintf(why, n, "expected a duration such as 200ms or 1.5s, got %s", q);
		return false;
	case OPT_BOOL:
		if (!strcasecmp(text, "true") || !strcasecmp(text, "yes") ||
		    !strcasecmp(text, "on")) {
			v->num = 1;
			return true;
		}
		if (!strcasecmp(text, "false") || !strcasecmp(text, "no") ||
		    !strcasecmp(text, "off")) {
			v->num = 0;
			return true;
		}
		snprintf(why, n, "expected true or false, got %s", q);
		return false;
	case OPT_DOUBLE:
		switch (parse_double(text, &v->dbl)) {
		case 0:
			if (v->dbl >= o->dmin && v->dbl <= o->dmax)
				return true;
			/* fall through */
		case -ERANGE:
			bounds_text(o, b, sizeof(b));
			snprintf(why, n, "%s is out of range %s", text, b);
			return false;
		}
		bounds_text(o, b, sizeof(b));
		snprintf(why, n, "expected a number in %s, got %s", b, q);
		return false;
	case OPT_STRING:
		if (!string_ok(text, o->size, o->check, why, n))
			return false;
		v->str = text;
		return true;
	case OPT_PORTS:
	case OPT_GLOBS:
	case OPT_SERVICES:
		break;
	case OPT_MAP:
		snprintf(why, n, "expected a mapping, got %s", q);
		return false;
	}
	snprintf(why, n, "expected a list, got %s", q);
	return false;
}

static void *field(const struct option *o, struct config *cfg)
{
	return (char *)cfg + o->off;
}

static const void *cfield(const struct option *o, const struct config *cfg)
{
	return (const char *)cfg + o->off;
}

/* Lists and maps: the element count. */
static size_t *count_field(const struct option *o, struct config *cfg)
{
	return (size_t *)((char *)cfg + o->count_off);
}

static size_t ccount(const struct option *o, const struct config *cfg)
{
	size_t n = *(const size_t *)((const char *)cfg + o->count_off);

	return n < o->size ? n : o->size;
}

static void store_scalar(const struct option *o, struct config *cfg, const struct value *v)
{
	void *p = field(o, cfg);

	switch (o->type) {
	case OPT_URL:
	case OPT_STRING:
		snprintf(p, o->size, "%s", v->str);
		break;
	case OPT_ENUM:
		*(int *)p = (int)v->num;
		break;
	case OPT_DOUBLE:
		*(double *)p = v->dbl;
		break;
	case OPT_UINT:
		switch (o->size) {
		case 1:
			*(uint8_t *)p = (uint8_t)v->num;
			break;
		case 2:
			*(uint16_t *)p = (uint16_t)v->num;
			break;
		case 4:
			*(uint32_t *)p = (uint32_t)v->num;
			break;
		default:
			*(uint64_t *)p = v->num;
			break;
		}
		break;
	case OPT_DURATION:
		*(uint64_t *)p = v->num;
		break;
	case OPT_BOOL:
		*(bool *)p = v->num != 0;
		break;
	case OPT_PORTS:
	case OPT_GLOBS:
	case OPT_MAP:
	case OPT_SERVICES:
		*count_field(o, cfg) = 0;
		break;
	}
}

static uint64_t load_num(const struct option *o, const struct config *cfg)
{
	const void *p = cfield(o, cfg);

	switch (o->type) {
	case OPT_ENUM:
		return (uint64_t)*(const int *)p;
	case OPT_UINT:
		switch (o->size) {
		case 1:
			return *(const uint8_t *)p;
		case 2:
			return *(const uint16_t *)p;
		case 4:
			return *(const uint32_t *)p;
		default:
			return *(const uint64_t *)p;
		}
	case OPT_DURATION:
		return *(const uint64_t *)p;
	case OPT_BOOL:
		return *(const bool *)p;
	default:
		return 0;
	}
}

static const struct option *find_option(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(options); i++)
		if (!strcmp(options[i].name, name))
			return &options[i];
	return NULL;
}

void config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
		const struct option *o = &options[i];
		struct value v = { .num = o->def, .dbl = o->ddef, .str = o->def_str };

		/* Lists and maps start empty. */
		store_scalar(o, cfg, &v);
	}
}

/* ---- key names ----------------------------------------------------------- */

/* True when some option lives under path ("batch" for "batch.timeout"). */
static bool is_section(const char *path)
{
	size_t len = strlen(path);

	for (size_t i = 0; i < ARRAY_SIZE(options); i++)
		if (!strncmp(options[i].name, path, len) && options[i].name[len] == '.')
			return true;
	return false;
}

/* The distinct keys right under prefix (NULL: the top level), comma separated. */
static void children(const char *prefix, char *buf, size_t size)
{
	size_t plen = prefix ? strlen(prefix) + 1 : 0, used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(options) && used < size; i++) {
		const char *name = options[i].name, *c;
		size_t clen;
		bool dup = false;

		if (prefix && (strncmp(name, prefix, plen - 1) || name[plen - 1] != '.'))
			continue;
		c = name + plen;
		clen = strcspn(c, ".");
		for (size_t j = 0; j < i && !dup; j++) {
			const char *other = options[j].name;

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
	for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
		const char *name = options[i].name;

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
	for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
		const char *l = strrchr(options[i].name, '.');

		if (!strcmp(l ? l + 1 : options[i].name, leaf)) {
			snprintf(buf, size, "%s", options[i].name);
			return true;
		}
	}
	return false;
}

/* ---- ${VAR} expansion ---------------------------------------------------- */

static bool is_name_start(char c)
{
	return isalpha((unsigned char)c) || c == '_';
}

static bool is_name_char(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

static bool put(char *out, size_t size, size_t *o, const char *s, size_t len)
{
	if (*o + len >= size)
		return false;
	memcpy(out + *o, s, len);
	*o += len;
	out[*o] = '\0';
	return true;
}

/*
 * Expand ${VAR}, ${VAR:-default} and $$ in s into out.  Returns true, or
 * false with why saying what is wrong.  A $ before anything else is kept.
 */
static bool expand_env(const char *s, char *out, size_t size, char *why, size_t n)
{
	size_t o = 0;

	out[0] = '\0';
	while (*s) {
		const char *name, *end, *val, *def = NULL;
		char var[128];
		size_t len, def_len = 0;

		if (s[0] != '$' || (s[1] != '$' && s[1] != '{')) {
			len = strcspn(s + 1, "$") + 1;
			if (!put(out, size, &o, s, len))
				goto too_long;
			s += len;
			continue;
		}
		if (s[1] == '$') {
			if (!put(out, size, &o, "$", 1))
				goto too_long;
			s += 2;
			continue;
		}
		name = s + 2;
		for (end = name; is_name_char(*end); end++)
			;
		if (end[0] == ':' && end[1] == '-') {
			def = end + 2;
			def_len = strcspn(def, "}");
			if (!def[def_len]) {
				snprintf(why, n, "unterminated ${ (no closing })");
				return false;
			}
		} else if (*end != '}') {
			snprintf(why, n, "%s", *end ? "bad variable reference: use ${NAME} or "
						      "${NAME:-default}"
						    : "unterminated ${ (no closing })");
			return false;
		}
		len = (size_t)(end - name);
		if (!len || !is_name_start(*name) || len >= sizeof(var)) {
			snprintf(why, n, "bad variable name in ${...}: use letters, digits and _");
			return false;
		}
		memcpy(var, name, len);
		var[len] = '\0';
		val = getenv(var);
		if (def && (!val || !*val)) {
			if (!put(out, size, &o, def, def_len))
				goto too_long;
		} else if (!val) {
			snprintf(why, n, "environment variable %s is not set "
					 "(write ${%s:-default} to make it optional)", var, var);
			return false;
		} else if (!put(out, size, &o, val, strlen(val))) {
			goto too_long;
		}
		s = def ? def + def_len + 1 : end + 1;
	}
	return true;
too_long:
	snprintf(why, n, "value is longer than %zu bytes", size - 1);
	return false;
}

/* ---- the YAML walk ------------------------------------------------------- */

struct loader {
	const char *name;		/* file name for messages */
	struct config *cfg;		/* the scratch copy */
	struct config_errors *errs;
	yaml_document_t *doc;
	int count;
	bool seen[ARRAY_SIZE(options)];
	bool bad[ARRAY_SIZE(options)];	/* its value was refused */
	yaml_mark_t seen_at[ARRAY_SIZE(options)];	/* the key */
	yaml_mark_t value_at[ARRAY_SIZE(options)];	/* its value */
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
	errs_add(ld->errs, "%s:%zu:%zu: %s%s%.*s", ld->name, m.line + 1, m.column + 1,
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
		return quote(scalar(n), buf, size);
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
	if (!expand_env(scalar(n), out, size, why, sizeof(why))) {
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
			 quote(scalar(n), q, sizeof(q)));
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
		*count_field(o, ld->cfg) = 0;
		return false;
	}
	if (val->type != want) {
		type_text(o, t, sizeof(t));
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
	type_text(&port, t, sizeof(t));
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
		if (!parse_uint_in(o, text, &v, why, sizeof(why))) {
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
	memcpy(field(o, ld->cfg), ports, n * sizeof(ports[0]));
	*count_field(o, ld->cfg) = n;
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
	if (!string_ok(text, size, check, why, sizeof(why))) {
		value_error(ld, n, key, text, why);
		return false;
	}
	memcpy(out, text, strlen(text) + 1);
	return true;
}

/* Patterns are written straight into the scratch config: a bad one fails the load anyway. */
static void load_globs(struct loader *ld, const struct option *o, const yaml_node_t *val)
{
	char(*globs)[CONFIG_GLOB_MAX] = field(o, ld->cfg);
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
		if (!load_string(ld, item, key, GLOB_TEXT, check_glob, globs[n], CONFIG_GLOB_MAX))
			continue;
		for (j = 0; j < n && strcmp(globs[j], globs[n]); j++)
			;
		if (j < n) {
			at_error(ld, item->start_mark, key, "%s is listed twice",
				 quote(globs[n], q, sizeof(q)));
			continue;
		}
		n++;
	}
	*count_field(o, ld->cfg) = n;
}

static bool same_name(const struct option *o, const char *a, const char *b)
{
	return o->fold_case ? !strcasecmp(a, b) : !strcmp(a, b);
}

/* A mapping of names to strings, into the scratch config like load_globs(). */
static void load_map(struct loader *ld, const struct option *o, const yaml_node_t *val)
{
	struct config_kv *kv = field(o, ld->cfg);
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
		if (!string_ok(name, CONFIG_KV_NAME_MAX, o->check_name, why, sizeof(why))) {
			at_error(ld, key->start_mark, o->name, "%s", why);
			continue;
		}
		snprintf(path, sizeof(path), "%s.%s", o->name, name);
		for (prev = start; prev < pair; prev++) {
			pk = node(ld, prev->key);
			if (pk && pk->type == YAML_SCALAR_NODE && same_name(o, scalar(pk), name))
				break;
		}
		if (prev < pair) {
			yaml_mark_t m = pk->start_mark;

			if (strcmp(scalar(pk), name))
				at_error(ld, key->start_mark, path,
					 "duplicate key (first at %zu:%zu as %s; %s names ignore "
					 "case)", m.line + 1, m.column + 1,
					 quote(scalar(pk), d, sizeof(d)), o->noun);
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
	*count_field(o, ld->cfg) = n;
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
			load_string(ld, v, key, "a service name", check_service_name, svc->name,
				    sizeof(svc->name));
			break;
		case SVC_EXECUTABLE:
			load_string(ld, v, key, GLOB_TEXT, check_glob, svc->executable,
				    sizeof(svc->executable));
			break;
		case SVC_PORT:
			if (!value_text(ld, v, key, "an integer in 1..65535", text, sizeof(text)))
				break;
			if (!parse_uint_in(&port_opt, text, &port, why, sizeof(why)))
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
	struct config_service *svc = field(o, ld->cfg);
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
	*count_field(o, ld->cfg) = n;
}

static void load_option(struct loader *ld, const struct option *o, const yaml_node_t *key,
			const yaml_node_t *val)
{
	size_t i = (size_t)(o - options);
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
			*(char *)field(o, ld->cfg) = '\0';
			return;
		}
		break;
	default:
		break;
	}
	type_text(o, t, sizeof(t));
	if (!value_text(ld, val, o->name, t, text, sizeof(text)))
		return;
	if (!parse_scalar(o, text, &v, why, sizeof(why))) {
		value_error(ld, val, o->name, text, why);
		return;
	}
	store_scalar(o, ld->cfg, &v);
}

/* A problem with o's value: at its position when this file set it, else without one. */
static __attribute__((format(printf, 3, 4))) void opt_error(struct loader *ld,
							     const struct option *o,
							     const char *fmt, ...)
{
	char what[CONFIG_ERROR_LEN];
	size_t i = (size_t)(o - options);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (ld->seen[i]) {
		at_error(ld, ld->value_at[i], o->name, "%s", what);
	} else {
		ld->count++;
		errs_add(ld->errs, "%s: %s: %.*s", ld->name, o->name, CONFIG_ERROR_LEN, what);
	}
}

/* Whether o was set by this file with a value that was refused. */
static bool refused(const struct loader *ld, const struct option *o)
{
	return ld->bad[o - options];
}

/* Checks between keys, on the values the file leaves in effect. */
static void check_across(struct loader *ld)
{
	const struct option *ini = find_option("retry.initial_interval");
	const struct option *max = find_option("retry.max_interval");
	const struct option *cert = find_option("exporter.tls.cert_file");
	const struct option *key = find_option("exporter.tls.key_file");
	const struct config *c = ld->cfg;
	char a[32], b[32];

	if (!refused(ld, ini) && !refused(ld, max) &&
	    c->retry_initial_interval_ns > c->retry_max_interval_ns) {
		config_format_duration(c->retry_initial_interval_ns, a, sizeof(a));
		config_format_duration(c->retry_max_interval_ns, b, sizeof(b));
		if (ld->seen[ini - options] || !ld->seen[max - options])
			opt_error(ld, ini, "%s is more than retry.max_interval (%s)", a, b);
		else
			opt_error(ld, max, "%s is less than retry.initial_interval (%s)", b, a);
	}
	if (!refused(ld, cert) && !refused(ld, key) &&
	    !*c->exporter_tls_cert_file != !*c->exporter_tls_key_file) {
		const struct option *set = *c->exporter_tls_cert_file ? cert : key;
		const struct option *unset = set == cert ? key : cert;

		if (ld->seen[set - options] || !ld->seen[unset - options])
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
	for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
		const char *name = options[i].name;
		size_t len = strlen(name);

		if (strncmp(path, name, len) || path[len] != '.')
			continue;
		if (options[i].type == OPT_MAP)
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
				 quote(path, d, sizeof(d)));
			continue;
		}
		o = find_option(path);
		if (o) {
			int before = ld->count;

			load_option(ld, o, key, val);
			if (ld->count != before)
				ld->bad[o - options] = true;
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
		errs_add(ld->errs, "%s: out of memory", ld->name);
		break;
	case YAML_READER_ERROR:
		/* Only a byte offset: count lines, and columns in bytes. */
		for (size_t i = 0; i < p->problem_offset && i < len; i++, col++)
			if (text[i] == '\n') {
				line++;
				col = 0;
			}
		if (p->problem_value != -1)
			errs_add(ld->errs, "%s:%zu:%zu: invalid YAML: %s (byte 0x%02x)", ld->name,
				 line, col, problem, (unsigned)p->problem_value);
		else
			errs_add(ld->errs, "%s:%zu:%zu: invalid YAML: %s", ld->name, line, col,
				 problem);
		break;
	default:
		if (p->context)
			errs_add(ld->errs, "%s:%zu:%zu: YAML syntax error: %s (%s at %zu:%zu)",
				 ld->name, p->problem_mark.line + 1, p->problem_mark.column + 1,
				 problem, p->context, p->context_mark.line + 1,
				 p->context_mark.column + 1);
		else
			errs_add(ld->errs, "%s:%zu:%zu: YAML syntax error: %s", ld->name,
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

	errs_reset(errs);
	if (!yaml)
		len = 0;
	if (!scratch || !yaml_parser_initialize(&parser)) {
		free(scratch);
		errs_add(errs, "%s: out of memory", ld.name);
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
	if (!ld.count)
		*cfg = *scratch;
	free(scratch);
	return ld.count;
}

int config_load_file(struct config *cfg, const char *path, struct config_errors *errs)
{
	FILE *f;
	char *buf;
	size_t len;
	int ret;

	errs_reset(errs);
	f = fopen(path, "rb");
	if (!f) {
		errs_add(errs, "%s: cannot open: %s", path, strerror(errno));
		return 1;
	}
	buf = malloc(CONFIG_FILE_MAX + 1);
	if (!buf) {
		fclose(f);
		errs_add(errs, "%s: out of memory", path);
		return 1;
	}
	len = fread(buf, 1, CONFIG_FILE_MAX + 1, f);
	if (ferror(f)) {
		errs_add(errs, "%s: cannot read: %s", path, strerror(errno));
		ret = 1;
	} else if (len > CONFIG_FILE_MAX) {
		errs_add(errs, "%s: larger than %d bytes", path, CONFIG_FILE_MAX);
		ret = 1;
	} else {
		ret = config_load_string(cfg, buf, len, path, errs);
	}
	free(buf);
	fclose(f);
	return ret;
}

/* ---- environment --------------------------------------------------------- */

enum env_kind {
	ENV_VALUE,	/* as in the file */
	ENV_BASE_URL,	/* a base URL: /v1/traces is appended */
	ENV_MILLIS,	/* integer milliseconds, for a duration */
	ENV_PAIRS,	/* k1=v1,k2=v2, merged over a mapping */
};

/* Checked in order: the first variable set for a key wins. */
static const struct {
	const char *var;
	const char *key;
	enum env_kind kind;
} env_overrides[] = {
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

static const char *process_getenv(const char *name)
{
	return getenv(name);
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/*
 * s[0..len) with spaces and tabs around it trimmed and %XX decoded into out
 * (size bytes).  Returns 0, -EINVAL for a bad or NUL escape, -E2BIG when it
 * does not fit.
 */
static int percent_decode(const char *s, size_t len, char *out, size_t size)
{
	size_t o = 0;

	while (len && (*s == ' ' || *s == '\t'))
		s++, len--;
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '%') {
			int hi = i + 2 < len ? hex_digit(s[i + 1]) : -1;
			int lo = i + 2 < len ? hex_digit(s[i + 2]) : -1;

			if (hi < 0 || lo < 0 || (!hi && !lo))
				return -EINVAL;
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		if (o + 1 >= size)
			return -E2BIG;
		out[o++] = c;
	}
	out[o] = '\0';
	return 0;
}

/*
 * Merge "k1=v1,k2=v2" from variable var over o's mapping in cfg: a name
 * already there gets the new value.  Returns the number of problems.
 */
static int env_pairs(struct config *cfg, const struct option *o, const char *var,
		     const char *env, struct config_errors *errs)
{
	struct config_kv *kv = field(o, cfg);
	size_t *count = count_field(o, cfg);
	int problems = 0;

	for (const char *p = env; *p;) {
		size_t len = strcspn(p, ","), nlen;
		const char *eq = memchr(p, '=', len);
		char name[CONFIG_KV_NAME_MAX + 1], value[CONFIG_KV_VALUE_MAX + 1];
		char why[CONFIG_ERROR_LEN], q[QUOTE_BUF], member[QUOTE_MAX + 2];
		size_t i;
		int err;

		/* Cut one byte past what quote() shows, so that it marks the cut. */
		snprintf(member, sizeof(member), "%.*s",
			 (int)(len < QUOTE_MAX + 1 ? len : QUOTE_MAX + 1), p);
		if (strspn(p, " \t") >= len) {
			/* An empty member, as in "a=1,,b=2" or a trailing comma. */
		} else if (!eq) {
			errs_add(errs, "%s: %s is not NAME=VALUE", var,
				 quote(member, q, sizeof(q)));
			problems++;
		} else if ((err = percent_decode(p, (size_t)(eq - p), name, sizeof(name))) ||
			   (err = percent_decode(eq + 1, len - (size_t)(eq + 1 - p), value,
						 sizeof(value)))) {
			if (err == -EINVAL)
				errs_add(errs, "%s: bad percent-encoding in %s", var,
					 quote(member, q, sizeof(q)));
			else
				errs_add(errs, "%s: %s is too long (names up to %d bytes, "
					       "values up to %d)", var,
					 quote(member, q, sizeof(q)), CONFIG_KV_NAME_MAX - 1,
					 CONFIG_KV_VALUE_MAX - 1);
			problems++;
		} else if (!string_ok(name, CONFIG_KV_NAME_MAX, o->check_name, why, sizeof(why))) {
			errs_add(errs, "%s: %s", var, why);
			problems++;
		} else if (!string_ok(value, CONFIG_KV_VALUE_MAX, o->check, why, sizeof(why))) {
			errs_add(errs, "%s: %s: %s", var, name, why);
			problems++;
		} else {
			for (i = 0; i < *count && !same_name(o, kv[i].name, name); i++)
				;
			nlen = strlen(name);
			if (i == o->size) {
				errs_add(errs, "%s: more than %zu %ss with %s", var, o->size,
					 o->noun, o->name);
				problems++;
			} else {
				if (i == *count) {
					memcpy(kv[i].name, name, nlen + 1);
					(*count)++;
				}
				memcpy(kv[i].value, value, strlen(value) + 1);
			}
		}
		p += len;
		if (*p == ',')
			p++;
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
		err = parse_u64(env, &ms);
		if (err == -EINVAL) {
			errs_add(errs, "%s: expected milliseconds, an integer in %llu..%llu, "
				       "got %s", var, (unsigned long long)lo,
				 (unsigned long long)hi, quote(env, q, sizeof(q)));
			return 1;
		}
		if (err || ms < lo || ms > hi) {
			errs_add(errs, "%s: %s is out of range %llu..%llu (milliseconds)", var,
				 quote(env, q, sizeof(q)), (unsigned long long)lo,
				 (unsigned long long)hi);
			return 1;
		}
		v.num = ms * NS_PER_MS;
		store_scalar(o, cfg, &v);
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
			errs_add(errs, "%s: value is longer than %d bytes", var, VALUE_MAX - 1);
			return 1;
		}
		snprintf(text, sizeof(text), "%s", env);
		break;
	}
	if (!parse_scalar(o, text, &v, why, sizeof(why))) {
		errs_add(errs, "%s: %s", var, why);
		return 1;
	}
	store_scalar(o, cfg, &v);
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
		errs_add(errs, "%s: set without %s (mutual TLS takes both)",
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
	errs_add(errs, "%s: set without %s or %s (mutual TLS takes both)", var, other,
		 cert ? "exporter.tls.key_file" : "exporter.tls.cert_file");
	return 1;
}

int config_apply_env(struct config *cfg, const char *(*getenv_fn)(const char *name),
		     struct config_errors *errs)
{
	struct config *scratch = malloc(sizeof(*scratch));
	bool done[ARRAY_SIZE(options)] = { false };
	const char *tls_used[2] = { NULL, NULL };	/* the variables for cert_file, key_file */
	int count = 0;

	errs_reset(errs);
	if (!scratch) {
		errs_add(errs, "environment: out of memory");
		return 1;
	}
	*scratch = *cfg;
	if (!getenv_fn)
		getenv_fn = process_getenv;
	for (size_t i = 0; i < ARRAY_SIZE(env_overrides); i++) {
		const struct option *o = find_option(env_overrides[i].key);
		const char *env = getenv_fn(env_overrides[i].var);

		if (!o || done[o - options] || !env || !*env)
			continue;
		done[o - options] = true;
		count += env_apply(scratch, o, env_overrides[i].var, env_overrides[i].kind, env,
				   errs);
		if (!strcmp(o->name, "exporter.tls.cert_file"))
			tls_used[0] = env_overrides[i].var;
		else if (!strcmp(o->name, "exporter.tls.key_file"))
			tls_used[1] = env_overrides[i].var;
	}
	if (!count)
		count = env_check_tls(scratch, tls_used, errs);
	if (!count)
		*cfg = *scratch;
	free(scratch);
	return count;
}

/* ---- printing ------------------------------------------------------------ */

/*
 * s as a YAML scalar that loads back to s: plain when safe, else double
 * quoted.  Values are ${VAR}-expanded on load, so dollars doubles their $;
 * keys are not.
 */
static void print_string(const char *s, bool dollars, FILE *f)
{
	size_t len = strlen(s);
	bool plain = len && !strchr("-?:,[]{}#&*!|>'\"%@`~ ", *s) && s[len - 1] != ' ' &&
		     s[len - 1] != ':' && !strstr(s, ": ") && !strstr(s, " #") &&
		     strcmp(s, "null") && strcmp(s, "Null") && strcmp(s, "NULL");

	for (const char *p = s; *p && plain; p++)
		plain = (unsigned char)*p >= 0x20 && *p != 0x7f;
	if (!plain)
		fputc('"', f);
	for (const char *p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '$' && dollars)
			fputs("$$", f);
		else if (!plain && (c == '"' || c == '\\'))
			fprintf(f, "\\%c", c);
		else if (!plain && (c < 0x20 || c == 0x7f))
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
	if (!plain)
		fputc('"', f);
}

/* A value on the key's line: scalars, ports, and lists and maps when empty. */
static void print_value(const struct option *o, const struct config *cfg, FILE *f)
{
	char buf[32];
	uint64_t v = load_num(o, cfg);

	switch (o->type) {
	case OPT_URL:
	case OPT_STRING:
		print_string(cfield(o, cfg), true, f);
		break;
	case OPT_ENUM:
		if (v < o->nnames && o->names[v])
			fputs(o->names[v], f);
		else
			fprintf(f, "%llu", (unsigned long long)v);
		break;
	case OPT_UINT:
		fprintf(f, "%llu", (unsigned long long)v);
		break;
	case OPT_DURATION:
		fputs(config_format_duration(v, buf, sizeof(buf)), f);
		break;
	case OPT_BOOL:
		fputs(v ? "true" : "false", f);
		break;
	case OPT_DOUBLE:
		fputs(format_double(*(const double *)cfield(o, cfg), buf, sizeof(buf)), f);
		break;
	case OPT_PORTS: {
		const uint16_t *ports = cfield(o, cfg);
		size_t n = ccount(o, cfg);

		fputc('[', f);
		for (size_t i = 0; i < n; i++)
			fprintf(f, "%s%u", i ? ", " : "", ports[i]);
		fputc(']', f);
		break;
	}
	case OPT_GLOBS:
	case OPT_SERVICES:
		fputs("[]", f);
		break;
	case OPT_MAP:
		fputs("{}", f);
		break;
	}
}

/* A non-empty list or map, one entry a line, under its key. */
static void print_block(const struct option *o, const struct config *cfg, FILE *f)
{
	size_t n = ccount(o, cfg);

	for (size_t i = 0; i < n; i++) {
		switch (o->type) {
		case OPT_GLOBS:
			fputs("  - ", f);
			print_string(((const char(*)[CONFIG_GLOB_MAX])cfield(o, cfg))[i], true, f);
			break;
		case OPT_MAP: {
			const struct config_kv *kv = (const struct config_kv *)cfield(o, cfg) + i;

			fputs("  ", f);
			print_string(kv->name, false, f);
			fputs(": ", f);
			print_string(kv->value, true, f);
			break;
		}
		case OPT_SERVICES: {
			const struct config_service *svc =
				(const struct config_service *)cfield(o, cfg) + i;

			fputs("  - name: ", f);
			print_string(svc->name, true, f);
			if (*svc->executable) {
				fputs("\n    executable: ", f);
				print_string(svc->executable, true, f);
			}
			if (svc->port)
				fprintf(f, "\n    port: %u", svc->port);
			break;
		}
		default:
			break;
		}
		fputc('\n', f);
	}
}

static bool is_block(const struct option *o, const struct config *cfg)
{
	return (o->type == OPT_GLOBS || o->type == OPT_MAP || o->type == OPT_SERVICES) &&
	       ccount(o, cfg);
}

void config_print(const struct config *cfg, FILE *f)
{
	for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
		if (is_block(&options[i], cfg)) {
			fprintf(f, "%s:\n", options[i].name);
			print_block(&options[i], cfg, f);
			continue;
		}
		fprintf(f, "%s: ", options[i].name);
		print_value(&options[i], cfg, f);
		fputc('\n', f);
	}
}

void config_print_reference(FILE *f)
{
	static const char *const kinds[] = {
		[ENV_VALUE] = "",
		[ENV_BASE_URL] = " (a base URL: /v1/traces is appended)",
		[ENV_MILLIS] = " (integer milliseconds)",
		[ENV_PAIRS] = " (merged: k1=v1,k2=v2, percent-decoded)",
	};
	struct config *def = malloc(sizeof(*def));
	char t[256];

	if (!def)
		return;
	config_defaults(def);
	for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
		type_text(&options[i], t, sizeof(t));
		fprintf(f, "%s: %s; default ", options[i].name, t);
		print_value(&options[i], def, f);
		fprintf(f, "\n    %s\n", options[i].doc);
	}
	fprintf(f, "Environment variables, over the file (a TRACES one wins over the "
		   "other):\n");
	for (size_t i = 0; i < ARRAY_SIZE(env_overrides); i++)
		fprintf(f, "  %s: %s%s\n", env_overrides[i].var, env_overrides[i].key,
			kinds[env_overrides[i].kind]);
	free(def);
}

/* ---- questions the agent asks ---------------------------------------------- */

static bool glob_any(const char (*globs)[CONFIG_GLOB_MAX], size_t n, const char *name)
{
	for (size_t i = 0; i < n && i < CONFIG_MAX_GLOBS; i++)
		if (!fnmatch(globs[i], name, 0))
			return true;
	return false;
}

bool config_process_excluded(const struct config *cfg, const char *exe_name)
{
	return glob_any(cfg->exclude_processes, cfg->nexclude_processes, exe_name ? exe_name : "");
}

bool config_process_selected(const struct config *cfg, const char *exe_name)
{
	const char *name = exe_name ? exe_name : "";

	if (cfg->nprocesses && !glob_any(cfg->processes, cfg->nprocesses, name))
		return false;
	return !glob_any(cfg->exclude_processes, cfg->nexclude_processes, name);
}

const char *config_service_name(const struct config *cfg, const char *exe_name,
				const uint16_t *listen_ports, size_t n)
{
	const char *name = exe_name ? exe_name : "";

	for (size_t i = 0; i < cfg->nservices && i < CONFIG_MAX_SERVICES; i++) {
		const struct config_service *svc = &cfg->services[i];
		size_t j;

		if (*svc->executable && fnmatch(svc->executable, name, 0))
			continue;
		for (j = 0; svc->port && j < n && listen_ports[j] != svc->port; j++)
			;
		if (svc->port && j == n)
			continue;
		return svc->name;
	}
	return NULL;
}

void config_errors_print(const struct config_errors *errs, FILE *f)
{
	size_t shown = errs->count < CONFIG_MAX_ERRORS ? errs->count : CONFIG_MAX_ERRORS;

	for (size_t i = 0; i < shown; i++)
		fprintf(f, "%s\n", errs->msg[i]);
	if (errs->count > shown)
		fprintf(f, "... and %zu more problems\n", errs->count - shown);
}
