// SPDX-License-Identifier: Apache-2.0
/*
 * config.c - the option table (every setting: name, type, bounds, default, field,
 * doc), value parsing and checks shared by the loaders, defaults, and the
 * questions the agent asks of a config (process filters, service rules).
 * The YAML walk is config_yaml.c, ${VAR} expansion config_expand.c, the
 * OTEL_* overrides config_env.c, the printers config_print.c.
 */
#include "config_internal.h"
#include "../bpf/events.h"
#include "http.h"

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
const struct option cfg_options[CFG_NOPTIONS] = {
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
	OPT_BOOL("tls.enabled", tls_enabled, true,
		 "HTTPS plaintext from uprobes on OpenSSL and Go's crypto/tls (at start)"),
	OPT_BOOL("runtimes.go", runtime_go, true,
		 "uprobes on Go binaries: which request a call serves (at start)"),
	OPT_BOOL("runtimes.node", runtime_node, true,
		 "uprobes on libuv (Node.js): which request a call serves (at start)"),
	OPT_STRING("metrics.listen", metrics_listen, "",
		   "HOST:PORT, :PORT or [IPV6]:PORT (\"\": off)", check_listen,
		   "address of the Prometheus /metrics endpoint; \"\": none"),
	OPT_ENUM("log.level", log_level, log_level_names, LOG_LEVEL_INFO, "agent log verbosity"),
};

/* ---- messages ------------------------------------------------------------ */

void cfg_errs_reset(struct config_errors *errs)
{
	if (errs)
		errs->count = 0;
}

static __attribute__((format(printf, 2, 0))) void errs_vadd(struct config_errors *errs,
							     const char *fmt, va_list ap)
{
	if (!errs)
		return;
	if (errs->count < CONFIG_MAX_ERRORS)
		vsnprintf(errs->msg[errs->count], CONFIG_ERROR_LEN, fmt, ap);
	errs->count++;
}

__attribute__((format(printf, 2, 3))) void cfg_errs_add(struct config_errors *errs,
							    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	errs_vadd(errs, fmt, ap);
	va_end(ap);
}

/* s in double quotes for a message: escapes control bytes, cuts after QUOTE_MAX bytes. */
const char *cfg_quote(const char *s, char *buf, size_t size)
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
int cfg_parse_u64(const char *s, uint64_t *out)
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
		if (cfg_parse_u64(digits, &port) || port < 1 || port > 65535)
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
char *cfg_format_double(double d, char *buf, size_t size)
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
		snprintf(why, n, "cannot read %s: %s", cfg_quote(s, q, sizeof(q)), strerror(err));
		return false;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, n, "%s is not a regular file", cfg_quote(s, q, sizeof(q)));
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
	cfg_quote(s, q, sizeof(q));
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
	if (cfg_parse_u64(colon + 1, &port) || port < 1 || port > 65535) {
		snprintf(why, n, "%s has a bad port (1..65535)", q);
		return false;
	}
	return true;
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
		if (!http_is_tchar((unsigned char)*p)) {
			snprintf(why, n, "%s is not a valid header name (use letters, digits and "
					 "!#$%%&'*+-.^_`|~)", cfg_quote(s, q, sizeof(q)));
			return false;
		}
	for (size_t i = 0; i < ARRAY_SIZE(reserved_headers); i++)
		if (!strcasecmp(s, reserved_headers[i])) {
			snprintf(why, n, "%s is set by the exporter itself",
				 cfg_quote(s, q, sizeof(q)));
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
				 cfg_quote(s, q, sizeof(q)));
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
				 cfg_quote(s, q, sizeof(q)));
			return false;
		}
	return true;
}

/* A glob matched against executable file names: not empty, no '/'. */
bool cfg_check_glob(const char *s, char *why, size_t n)
{
	char q[QUOTE_BUF];

	if (!*s) {
		snprintf(why, n, "an empty pattern matches nothing");
		return false;
	}
	if (strchr(s, '/')) {
		snprintf(why, n, "%s contains /: patterns match executable file names, not paths",
			 cfg_quote(s, q, sizeof(q)));
		return false;
	}
	return true;
}

bool cfg_check_service_name(const char *s, char *why, size_t n)
{
	char q[QUOTE_BUF];

	if (!*s) {
		snprintf(why, n, "a service name is empty");
		return false;
	}
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			snprintf(why, n, "%s contains a control character",
				 cfg_quote(s, q, sizeof(q)));
			return false;
		}
	return true;
}

/* text fits in size bytes (with its NUL) and passes check (NULL: anything). */
bool cfg_string_ok(const char *text, size_t size, check_fn *check, char *why, size_t n)
{
	char q[QUOTE_BUF];

	if (strlen(text) >= size) {
		snprintf(why, n, "%s is longer than %zu bytes", cfg_quote(text, q, sizeof(q)),
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
		snprintf(buf, size, "%s..%s", cfg_format_double(o->dmin, lo, sizeof(lo)),
			 cfg_format_double(o->dmax, hi, sizeof(hi)));
	else if (o->type == OPT_DURATION)
		snprintf(buf, size, "%s..%s", config_format_duration(o->min, lo, sizeof(lo)),
			 config_format_duration(o->max, hi, sizeof(hi)));
	else
		snprintf(buf, size, "%llu..%llu", (unsigned long long)o->min,
			 (unsigned long long)o->max);
}

/* What an option takes, for messages: "an integer in 1..65536". */
void cfg_type_text(const struct option *o, char *buf, size_t size)
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

bool cfg_parse_uint_in(const struct option *o, const char *text, uint64_t *out, char *why,
			  size_t n)
{
	char q[QUOTE_BUF], b[128];
	int err = cfg_parse_u64(text, out);

	bounds_text(o, b, sizeof(b));
	if (err == -EINVAL) {
		snprintf(why, n, "expected an integer in %s, got %s", b,
			 cfg_quote(text, q, sizeof(q)));
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
bool cfg_parse_scalar(const struct option *o, const char *text, struct value *v, char *why,
			 size_t n)
{
	char q[QUOTE_BUF], b[128];
	const char *problem, *unit = NULL;
	size_t unit_len = 0;

	cfg_quote(text, q, sizeof(q));
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
		return cfg_parse_uint_in(o, text, &v->num, why, n);
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
		if (!cfg_string_ok(text, o->size, o->check, why, n))
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

void *cfg_field(const struct option *o, struct config *cfg)
{
	return (char *)cfg + o->off;
}

const void *cfg_cfield(const struct option *o, const struct config *cfg)
{
	return (const char *)cfg + o->off;
}

/* Lists and maps: the element count. */
size_t *cfg_count_field(const struct option *o, struct config *cfg)
{
	return (size_t *)((char *)cfg + o->count_off);
}

size_t cfg_ccount(const struct option *o, const struct config *cfg)
{
	size_t n = *(const size_t *)((const char *)cfg + o->count_off);

	return n < o->size ? n : o->size;
}

void cfg_store_scalar(const struct option *o, struct config *cfg, const struct value *v)
{
	void *p = cfg_field(o, cfg);

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
		*cfg_count_field(o, cfg) = 0;
		break;
	}
}

uint64_t cfg_load_num(const struct option *o, const struct config *cfg)
{
	const void *p = cfg_cfield(o, cfg);

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

const struct option *cfg_find_option(const char *name)
{
	for (size_t i = 0; i < CFG_NOPTIONS; i++)
		if (!strcmp(cfg_options[i].name, name))
			return &cfg_options[i];
	return NULL;
}

void config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < CFG_NOPTIONS; i++) {
		const struct option *o = &cfg_options[i];
		struct value v = { .num = o->def, .dbl = o->ddef, .str = o->def_str };

		/* Lists and maps start empty. */
		cfg_store_scalar(o, cfg, &v);
		cfg->sources[i].env = -1;
	}
}

uint64_t config_default_num(const char *name)
{
	const struct option *o = cfg_find_option(name);

	if (!o || o->type == OPT_URL || o->type == OPT_STRING || o->type == OPT_DOUBLE ||
	    o->type == OPT_PORTS || o->type == OPT_GLOBS || o->type == OPT_MAP ||
	    o->type == OPT_SERVICES)
		return 0;
	return o->def;
}

bool cfg_same_name(const struct option *o, const char *a, const char *b)
{
	return o->fold_case ? !strcasecmp(a, b) : !strcmp(a, b);
}

_Static_assert(ARRAY_SIZE(cfg_options) == CFG_NOPTIONS, "CFG_NOPTIONS is the table's size");
/* filters.ports and exclude_ports go into kernel maps of SB_MAX_PORTS entries (bpf/events.h). */
_Static_assert(SB_MAX_PORTS == CONFIG_MAX_PORTS, "CONFIG_MAX_PORTS is SB_MAX_PORTS");

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

