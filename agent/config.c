// SPDX-License-Identifier: Apache-2.0
/*
 * config.c - the option table, the YAML loader (libyaml's document API),
 * the OTEL_* overrides and the printers.
 *
 * Loading walks the YAML tree once, checks every key against the table and
 * collects every problem; values go into a scratch copy that replaces the
 * caller's config only when there was none.
 */
#include "config.h"
#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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
	OPT_PORTS,	/* uint16_t array + size_t count; distinct, each min..max */
};

struct option {
	const char *name;		/* dotted path */
	enum opt_type type;
	size_t off;			/* target field in struct config */
	size_t size;			/* its size in bytes; OPT_PORTS: capacity in elements */
	size_t count_off;		/* OPT_PORTS: the element count */
	uint64_t min, max;
	uint64_t def;			/* numbers, durations, bools, enum values */
	const char *def_str;		/* OPT_URL */
	const char *const *names;	/* OPT_ENUM */
	size_t nnames;
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

/* Every setting; the order is the order of config_print() and of config/spanbpf.yaml. */
static const struct option options[] = {
	OPT_URL("exporter.endpoint", exporter_endpoint, "http://localhost:4318/v1/traces",
		"OTLP/HTTP URL the spans are POSTed to"),
	OPT_ENUM("exporter.compression", compression, compression_names, COMPRESSION_GZIP,
		 "compression of the request body"),
	OPT_UINT("batch.max_spans", batch_max_spans, 1, 65536, 512,
		 "most spans in one export request"),
	OPT_DURATION("batch.timeout", batch_timeout_ns, NS_PER_MS, NS_PER_HOUR, NS_PER_S,
		     "longest a span waits before its batch is sent"),
	OPT_PORTS("filters.ports", ports, nports,
		  "trace only processes listening on one of these TCP ports; [] traces all"),
	OPT_BOOL("http.record_query", record_query, false,
		 "keep the query string in url.query (it may carry secrets)"),
	OPT_ENUM("log.level", log_level, log_level_names, LOG_LEVEL_INFO, "agent log verbosity"),
};

/* A parsed scalar, before it is stored. */
struct value {
	uint64_t num;		/* numbers, durations, bools, enum values */
	const char *str;	/* OPT_URL: the text itself, already checked */
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

	if (o->type == OPT_DURATION)
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
	case OPT_PORTS:
		bounds_text(o, b, sizeof(b));
		snprintf(buf, size, "a list of up to %zu ports in %s such as [8080, 9090]", o->size,
			 b);
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
	case OPT_PORTS:
		break;
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

static void store_scalar(const struct option *o, struct config *cfg, const struct value *v)
{
	void *p = field(o, cfg);

	switch (o->type) {
	case OPT_URL:
		snprintf(p, o->size, "%s", v->str);
		break;
	case OPT_ENUM:
		*(int *)p = (int)v->num;
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
		struct value v = { .num = o->def, .str = o->def_str };

		if (o->type == OPT_PORTS)
			*(size_t *)((char *)cfg + o->count_off) = 0;
		else
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
 * length in edits at most), else an option with the same last component;
 * false when none.
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

				if (d < best && d <= limit) {
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
	yaml_mark_t seen_at[ARRAY_SIZE(options)];
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
 * reporting why there is none.
 */
static bool value_text(struct loader *ld, const yaml_node_t *n, const char *key,
		       const struct option *o, char *out, size_t size)
{
	char why[CONFIG_ERROR_LEN], t[256], d[QUOTE_BUF];

	if (n->type != YAML_SCALAR_NODE) {
		type_text(o, t, sizeof(t));
		at_error(ld, n->start_mark, key, "expected %s, got %s", t,
			 describe(n, d, sizeof(d)));
		return false;
	}
	if (is_null(n)) {
		type_text(o, t, sizeof(t));
		at_error(ld, n->start_mark, key, "missing value (expected %s)", t);
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

static void load_ports(struct loader *ld, const struct option *o, const yaml_node_t *val)
{
	uint16_t ports[CONFIG_MAX_PORTS];
	char text[VALUE_MAX], why[CONFIG_ERROR_LEN], t[256], d[QUOTE_BUF];
	size_t n = 0, cap = o->size < CONFIG_MAX_PORTS ? o->size : CONFIG_MAX_PORTS;
	bool ok = true;

	if (is_null(val)) {
		*(size_t *)((char *)ld->cfg + o->count_off) = 0;
		return;
	}
	if (val->type != YAML_SEQUENCE_NODE) {
		type_text(o, t, sizeof(t));
		at_error(ld, val->start_mark, o->name, "expected %s, got %s", t,
			 describe(val, d, sizeof(d)));
		return;
	}
	for (yaml_node_item_t *it = val->data.sequence.items.start;
	     it < val->data.sequence.items.top; it++) {
		size_t index = (size_t)(it - val->data.sequence.items.start);
		yaml_node_t *item = node(ld, *it);
		struct option port = *o;
		char key[PATH_MAX_LEN + 32];
		uint64_t v;
		size_t j;

		if (!item)
			continue;
		snprintf(key, sizeof(key), "%s[%zu]", o->name, index);
		port.type = OPT_UINT;
		if (!value_text(ld, item, key, &port, text, sizeof(text))) {
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
	*(size_t *)((char *)ld->cfg + o->count_off) = n;
}

static void load_option(struct loader *ld, const struct option *o, const yaml_node_t *key,
			const yaml_node_t *val)
{
	size_t i = (size_t)(o - options);
	char text[VALUE_MAX], why[CONFIG_ERROR_LEN];
	struct value v = { 0 };

	if (ld->seen[i]) {
		at_error(ld, key->start_mark, o->name, "duplicate key (first at %zu:%zu)",
			 ld->seen_at[i].line + 1, ld->seen_at[i].column + 1);
		return;
	}
	ld->seen[i] = true;
	ld->seen_at[i] = key->start_mark;
	if (o->type == OPT_PORTS) {
		load_ports(ld, o, val);
		return;
	}
	if (!value_text(ld, val, o->name, o, text, sizeof(text)))
		return;
	if (!parse_scalar(o, text, &v, why, sizeof(why))) {
		value_error(ld, val, o->name, text, why);
		return;
	}
	store_scalar(o, ld->cfg, &v);
}

static void unknown_key(struct loader *ld, const yaml_node_t *key, const char *prefix,
			const char *path)
{
	char near[PATH_MAX_LEN], keys[256];

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
			load_option(ld, o, key, val);
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
	struct config scratch = *cfg;
	struct loader ld = { .name = name ? name : "(config)", .cfg = &scratch, .errs = errs };
	yaml_parser_t parser;
	yaml_document_t doc, extra;
	yaml_node_t *root;
	char d[QUOTE_BUF];

	errs_reset(errs);
	if (!yaml)
		len = 0;
	if (!yaml_parser_initialize(&parser)) {
		errs_add(errs, "%s: out of memory", ld.name);
		return 1;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)(yaml ? yaml : ""), len);
	if (!yaml_parser_load(&parser, &doc)) {
		syntax_error(&ld, &parser, yaml, len);
		goto out;
	}
	ld.doc = &doc;
	root = yaml_document_get_root_node(&doc);
	if (root && root->type == YAML_MAPPING_NODE)
		walk_mapping(&ld, root, NULL);
	else if (root && !is_null(root))
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
		*cfg = scratch;
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

/* Checked in order: the first variable set for a key wins. */
static const struct {
	const char *var;
	const char *key;
	const char *suffix;	/* appended to a base URL */
} env_overrides[] = {
	{ "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "exporter.endpoint", NULL },
	{ "OTEL_EXPORTER_OTLP_ENDPOINT", "exporter.endpoint", "/v1/traces" },
	{ "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "exporter.compression", NULL },
	{ "OTEL_EXPORTER_OTLP_COMPRESSION", "exporter.compression", NULL },
};

static const char *process_getenv(const char *name)
{
	return getenv(name);
}

int config_apply_env(struct config *cfg, const char *(*getenv_fn)(const char *name),
		     struct config_errors *errs)
{
	struct config scratch = *cfg;
	bool done[ARRAY_SIZE(options)] = { false };
	int count = 0;

	errs_reset(errs);
	if (!getenv_fn)
		getenv_fn = process_getenv;
	for (size_t i = 0; i < ARRAY_SIZE(env_overrides); i++) {
		const struct option *o = find_option(env_overrides[i].key);
		const char *env = getenv_fn(env_overrides[i].var);
		char text[CONFIG_URL_MAX + 64], why[CONFIG_ERROR_LEN];
		struct value v = { 0 };
		size_t len;

		if (!o || done[o - options] || !env || !*env)
			continue;
		done[o - options] = true;
		len = strlen(env);
		if (env_overrides[i].suffix) {
			while (len && env[len - 1] == '/')
				len--;
			if (len >= CONFIG_URL_MAX)
				len = CONFIG_URL_MAX;
			snprintf(text, sizeof(text), "%.*s%s", (int)len, env,
				 env_overrides[i].suffix);
		} else {
			snprintf(text, sizeof(text), "%.*s", CONFIG_URL_MAX, env);
		}
		if (!parse_scalar(o, text, &v, why, sizeof(why))) {
			errs_add(errs, "%s: %s", env_overrides[i].var, why);
			count++;
			continue;
		}
		store_scalar(o, &scratch, &v);
	}
	if (!count)
		*cfg = scratch;
	return count;
}

/* ---- printing ------------------------------------------------------------ */

/* s as a YAML scalar that loads back to s: plain when safe, else double quoted; $ as $$. */
static void print_string(const char *s, FILE *f)
{
	bool plain = *s && !strchr("-?:,[]{}#&*!|>'\"%@`~ ", *s) && s[strlen(s) - 1] != ' ' &&
		     !strstr(s, ": ") && !strstr(s, " #");

	for (const char *p = s; *p && plain; p++)
		plain = (unsigned char)*p >= 0x20 && *p != 0x7f;
	if (!plain)
		fputc('"', f);
	for (const char *p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '$')
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

static void print_value(const struct option *o, const struct config *cfg, FILE *f)
{
	char buf[32];
	uint64_t v = load_num(o, cfg);

	switch (o->type) {
	case OPT_URL:
		print_string(cfield(o, cfg), f);
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
	case OPT_PORTS: {
		const uint16_t *ports = cfield(o, cfg);
		size_t n = *(const size_t *)((const char *)cfg + o->count_off);

		fputc('[', f);
		for (size_t i = 0; i < n && i < o->size; i++)
			fprintf(f, "%s%u", i ? ", " : "", ports[i]);
		fputc(']', f);
		break;
	}
	}
}

void config_print(const struct config *cfg, FILE *f)
{
	for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
		fprintf(f, "%s: ", options[i].name);
		print_value(&options[i], cfg, f);
		fputc('\n', f);
	}
}

void config_print_reference(FILE *f)
{
	struct config def;
	char t[256];

	config_defaults(&def);
	for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
		type_text(&options[i], t, sizeof(t));
		fprintf(f, "%s: %s; default ", options[i].name, t);
		print_value(&options[i], &def, f);
		fprintf(f, "\n    %s\n", options[i].doc);
	}
	fprintf(f, "Environment: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, or "
		   "OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces, overrides exporter.endpoint;\n"
		   "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION or OTEL_EXPORTER_OTLP_COMPRESSION "
		   "overrides exporter.compression.\n");
}

void config_errors_print(const struct config_errors *errs, FILE *f)
{
	size_t shown = errs->count < CONFIG_MAX_ERRORS ? errs->count : CONFIG_MAX_ERRORS;

	for (size_t i = 0; i < shown; i++)
		fprintf(f, "%s\n", errs->msg[i]);
	if (errs->count > shown)
		fprintf(f, "... and %zu more problems\n", errs->count - shown);
}
