// SPDX-License-Identifier: Apache-2.0
/*
 * exporter.c - span queue and OTLP/HTTP export thread.
 *
 * The reader thread encodes each span (otlp_span_encode) and appends it to a
 * singly linked queue under e->lock, waking the exporter thread only when
 * the queue becomes non-empty or a batch fills.  The exporter thread takes
 * up to batch_max spans, frames them into one request body (otlp_frame),
 * frees them, and POSTs the body with one libcurl easy handle driven by a
 * private multi handle: the multi handle keeps the connection alive between
 * requests and lets exporter_stop() interrupt a request in flight
 * (curl_multi_wakeup).
 *
 * Settings live in one struct settings.  exporter_reconfigure() validates a
 * new one and parks it in e->pending; the exporter thread adopts it between
 * requests (curl_easy_reset keeps the connection and TLS session caches), so
 * the queue and a batch being retried survive a reload.
 */
#include "exporter.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "log.h"
#include "otlp.h"

#define NSEC_PER_SEC 1000000000ull
#define NSEC_PER_MSEC 1000000ull

/* Response bodies are kept up to this size (partial_success, error messages). */
#define RESP_BODY_MAX 65536
/* Collector messages are logged up to this many bytes. */
#define LOG_BODY_MAX 200
/* Each kind of repeated log line: at most LOG_BURST lines per LOG_INTERVAL_NS. */
#define LOG_INTERVAL_NS (10 * NSEC_PER_SEC)
#define LOG_BURST 5

/* Everything exporter_opts sets, validated and owned. */
struct settings {
	char *endpoint;
	char *user_agent;
	bool gzip;
	uint32_t batch_max;
	uint32_t queue_max;
	uint64_t batch_timeout_ns;
	uint64_t timeout_ns;
	uint64_t retry_initial_ns;
	uint64_t retry_max_ns;
	uint64_t retry_max_elapsed_ns;
	char *ca_file;			/* NULL: unset */
	char *cert_file;
	char *key_file;
	bool insecure;
	struct curl_slist *headers;	/* request headers for an identity body */
	struct curl_slist *headers_gz;	/* the same plus Content-Encoding: gzip */
};

/* A log line that may repeat: LOG_BURST per LOG_INTERVAL_NS, the rest counted. */
struct ratelimit {
	uint64_t window_ns;
	uint32_t used;
	uint64_t suppressed;
};

struct exporter {
	/* Shared with submitters, exporter_reconfigure() and exporter_stop(), under lock. */
	pthread_mutex_t lock;
	pthread_cond_t wake;		/* on CLOCK_MONOTONIC */
	struct otlp_span *head, *tail;
	uint32_t qlen;
	uint32_t queue_max;		/* for submit: changes at reconfigure */
	uint32_t batch_max;		/* for submit's wake-up: the applied settings' */
	uint64_t oldest_ns;		/* queue time of the oldest queued span, or earlier */
	struct settings *pending;	/* to be adopted by the exporter thread */
	bool stopping;
	uint64_t stop_deadline_ns;
	uint64_t failed_at_stop;
	struct exporter_stats st;
	atomic_bool encode_warned;

	/* Exporter thread only (and start/free, when it does not run). */
	struct settings *cur;
	pthread_t thread;
	bool thread_started;
	CURLM *multi;
	CURL *curl;
	struct otlp_span **vec;		/* [vec_cap]: the batch being framed */
	uint32_t vec_cap;
	uint64_t rng;
	uint64_t drops_reported;
	struct ratelimit rl_drops, rl_retry, rl_tls, rl_status, rl_partial, rl_gave_up;
	bool retry_after_set;
	uint64_t retry_after_ns;
	size_t resp_len;
	bool resp_truncated;
	char errbuf[CURL_ERROR_SIZE];
	uint8_t resp[RESP_BODY_MAX];
};

enum verdict {
	DELIVERED,
	RETRY,
	DROP,
};

/* How a batch ended: which outcome counter its spans go to. */
enum outcome {
	OUT_FAILED_STATUS,
	OUT_RETRIES_EXHAUSTED,
	OUT_UNDELIVERED,
};

static const char *const failure_names[EXPORTER_FAIL_MAX] = {
	[EXPORTER_FAIL_CONNECT] = "connect",
	[EXPORTER_FAIL_TIMEOUT] = "timeout",
	[EXPORTER_FAIL_TLS] = "tls",
	[EXPORTER_FAIL_HTTP_429] = "http_429",
	[EXPORTER_FAIL_HTTP_502] = "http_502",
	[EXPORTER_FAIL_HTTP_503] = "http_503",
	[EXPORTER_FAIL_HTTP_504] = "http_504",
	[EXPORTER_FAIL_HTTP_4XX] = "http_4xx",
	[EXPORTER_FAIL_HTTP_5XX] = "http_5xx",
	[EXPORTER_FAIL_HTTP_OTHER] = "http_other",
	[EXPORTER_FAIL_OTHER] = "other",
};

const char *exporter_failure_name(int failure)
{
	return failure >= 0 && failure < EXPORTER_FAIL_MAX ? failure_names[failure] : NULL;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void curl_init_once(void)
{
	curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* Wait on e->wake until the monotonic time until_ns; lock held. */
static void wait_until(struct exporter *e, uint64_t until_ns)
{
	struct timespec ts;

	if (until_ns == UINT64_MAX) {
		pthread_cond_wait(&e->wake, &e->lock);
		return;
	}
	ts.tv_sec = (time_t)(until_ns / NSEC_PER_SEC);
	ts.tv_nsec = (long)(until_ns % NSEC_PER_SEC);
	pthread_cond_timedwait(&e->wake, &e->lock, &ts);
}

/* xorshift64*: jitter only, no need for quality. */
static uint64_t rng_next(struct exporter *e)
{
	e->rng ^= e->rng >> 12;
	e->rng ^= e->rng << 25;
	e->rng ^= e->rng >> 27;
	return e->rng * 0x2545f4914f6cdd1dull;
}

/* A uniformly random delay in [backoff / 2, backoff * 3 / 2). */
static uint64_t jitter(struct exporter *e, uint64_t backoff_ns)
{
	return backoff_ns / 2 + (backoff_ns ? rng_next(e) % backoff_ns : 0);
}

/* Printable ASCII copy of at most LOG_BODY_MAX bytes of p for a log line. */
static void sanitize(char *dst, size_t dstlen, const uint8_t *p, size_t len)
{
	size_t n = 0;

	if (len > LOG_BODY_MAX)
		len = LOG_BODY_MAX;
	for (size_t i = 0; i < len && n + 1 < dstlen; i++) {
		uint8_t c = p[i];

		if (c == '\r' || c == '\n' || c == '\t')
			c = ' ';
		else if (c < 0x20 || c > 0x7e)
			c = '?';
		dst[n++] = (char)c;
	}
	while (n && dst[n - 1] == ' ')
		n--;
	dst[n] = '\0';
}

static bool varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; shift < 64 && *p < end; shift += 7) {
		uint8_t b = *(*p)++;

		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return true;
	}
	return false;
}

/* The message (field 2) of a google.rpc.Status body, the OTLP error answer. */
static bool rpc_status_message(const uint8_t *p, size_t len, const uint8_t **msg, size_t *mlen)
{
	const uint8_t *end = p + len;
	bool found = false;
	uint64_t key, v;

	while (p < end) {
		if (!varint(&p, end, &key))
			return false;
		switch (key & 7) {
		case 0:
			if (!varint(&p, end, &v))
				return false;
			break;
		case 1:
			if (end - p < 8)
				return false;
			p += 8;
			break;
		case 5:
			if (end - p < 4)
				return false;
			p += 4;
			break;
		case 2:
			if (!varint(&p, end, &v) || v > (uint64_t)(end - p))
				return false;
			if (key >> 3 == 2) {
				*msg = p;
				*mlen = (size_t)v;
				found = true;
			}
			p += v;
			break;
		default:
			return false;
		}
	}
	return found;
}

int exporter_parse_retry_after(const char *value, time_t now, uint64_t *delay_ns)
{
	unsigned long long secs;
	const char *p = value;
	char *end;
	time_t t;

	while (*p == ' ' || *p == '\t')
		p++;
	if (isdigit((unsigned char)*p)) {
		errno = 0;
		secs = strtoull(p, &end, 10);
		while (*end == ' ' || *end == '\t')
			end++;
		if (*end)
			return -1;
		if (errno == ERANGE || secs > UINT64_MAX / NSEC_PER_SEC)
			secs = UINT64_MAX / NSEC_PER_SEC;
		*delay_ns = secs * NSEC_PER_SEC;
		return 0;
	}
	t = curl_getdate(p, NULL);
	if (t == -1)
		return -1;
	*delay_ns = t > now ? (uint64_t)(t - now) * NSEC_PER_SEC : 0;
	return 0;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct exporter *e = arg;
	size_t len = size * nmemb, room = sizeof(e->resp) - e->resp_len;

	if (len > room) {
		e->resp_truncated = true;
		memcpy(e->resp + e->resp_len, data, room);
		e->resp_len += room;
	} else {
		memcpy(e->resp + e->resp_len, data, len);
		e->resp_len += len;
	}
	return len;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	static const char name[] = "retry-after:";
	struct exporter *e = arg;
	size_t len = size * nmemb;
	char value[128];
	uint64_t ns;

	if (len <= sizeof(name) - 1 || strncasecmp(data, name, sizeof(name) - 1) != 0)
		return len;
	len -= sizeof(name) - 1;
	if (len >= sizeof(value))
		return size * nmemb;
	memcpy(value, data + sizeof(name) - 1, len);
	while (len && (value[len - 1] == '\r' || value[len - 1] == '\n' || value[len - 1] == ' '))
		len--;
	value[len] = '\0';
	if (exporter_parse_retry_after(value, time(NULL), &ns) == 0) {
		e->retry_after_set = true;
		e->retry_after_ns = ns;
	}
	return size * nmemb;
}

/* ---- logging ------------------------------------------------------------ */

/*
 * Log a line of a kind that may repeat: LOG_BURST lines per LOG_INTERVAL_NS
 * (exporter thread only); the next line logged says how many were left out.
 */
static void __attribute__((format(printf, 3, 4)))
log_limited(struct ratelimit *rl, int level, const char *fmt, ...)
{
	uint64_t now = now_ns();
	char line[1024];
	va_list ap;

	if (level > log_level_active)
		return;
	if (now - rl->window_ns >= LOG_INTERVAL_NS) {
		rl->window_ns = now;
		rl->used = 0;
	}
	if (rl->used >= LOG_BURST) {
		rl->suppressed++;
		return;
	}
	rl->used++;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (rl->suppressed)
		log_write(level, "%s (%llu similar lines suppressed)", line,
			  (unsigned long long)rl->suppressed);
	else
		log_write(level, "%s", line);
	rl->suppressed = 0;
}

/* Rate-limited warning about spans dropped by submit. */
static void report_drops(struct exporter *e)
{
	uint64_t dropped;

	pthread_mutex_lock(&e->lock);
	dropped = e->st.dropped_queue_full;
	pthread_mutex_unlock(&e->lock);
	if (dropped == e->drops_reported)
		return;
	if (now_ns() - e->rl_drops.window_ns < LOG_INTERVAL_NS)
		return;
	e->rl_drops.window_ns = now_ns();
	log_warn("export: queue full, %llu spans dropped (%llu in all)",
		 (unsigned long long)(dropped - e->drops_reported), (unsigned long long)dropped);
	e->drops_reported = dropped;
}

/* ---- settings ----------------------------------------------------------- */

static void settings_free(struct settings *s)
{
	if (!s)
		return;
	curl_slist_free_all(s->headers);
	curl_slist_free_all(s->headers_gz);
	free(s->endpoint);
	free(s->user_agent);
	free(s->ca_file);
	free(s->cert_file);
	free(s->key_file);
	free(s);
}

/* Only http and https URLs with a host. */
static bool endpoint_ok(const char *url)
{
	CURLU *u = curl_url();
	char *scheme = NULL;
	bool ok = false;

	if (!u)
		return false;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK)
		ok = strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0;
	curl_free(scheme);
	curl_url_cleanup(u);
	return ok;
}

/* A copy of s, NULL when s is unset; *oom on failure. */
static char *dup_opt(const char *s, bool *oom)
{
	char *d;

	if (!s || !*s)
		return NULL;
	d = strdup(s);
	if (!d)
		*oom = true;
	return d;
}

static bool append(struct curl_slist **list, const char *line)
{
	struct curl_slist *l = curl_slist_append(*list, line);

	if (!l)
		return false;
	*list = l;
	return true;
}

/* Headers the exporter writes itself: never taken from the configuration. */
static const char *const reserved_headers[] = {
	"content-type", "content-encoding", "content-length", "transfer-encoding",
};

static bool header_usable(const struct config_kv *h)
{
	if (!h->value[0])
		return false;	/* an empty value means "do not send" */
	for (size_t i = 0; i < sizeof(reserved_headers) / sizeof(reserved_headers[0]); i++)
		if (strcasecmp(h->name, reserved_headers[i]) == 0) {
			log_warn("export: header %s is set by the exporter itself: ignored",
				 h->name);
			return false;
		}
	if (!h->name[0] || strpbrk(h->name, "\r\n: ") || strpbrk(h->value, "\r\n")) {
		log_warn("export: header %.64s has a bad name or value: ignored", h->name);
		return false;
	}
	return true;
}

/* Both header lists: fixed ones, then the configured ones; false on ENOMEM. */
static bool build_headers(struct settings *s, const struct exporter_opts *o)
{
	char line[CONFIG_KV_NAME_MAX + CONFIG_KV_VALUE_MAX + 4];

	/* "Expect:" keeps curl from waiting for 100-continue before large bodies. */
	if (!append(&s->headers, "Content-Type: application/x-protobuf") ||
	    !append(&s->headers, "Expect:") ||
	    !append(&s->headers_gz, "Content-Type: application/x-protobuf") ||
	    !append(&s->headers_gz, "Expect:") ||
	    !append(&s->headers_gz, "Content-Encoding: gzip"))
		return false;
	for (size_t i = 0; o->headers && i < o->nheaders; i++) {
		const struct config_kv *h = &o->headers[i];

		if (!header_usable(h))
			continue;
		snprintf(line, sizeof(line), "%.*s: %.*s", CONFIG_KV_NAME_MAX - 1, h->name,
			 CONFIG_KV_VALUE_MAX - 1, h->value);
		if (!append(&s->headers, line) || !append(&s->headers_gz, line))
			return false;
	}
	return true;
}

/*
 * Every option of the easy handle from s (after curl_easy_reset, which keeps
 * the connection, DNS and TLS session caches).  Returns curl's first error.
 */
static CURLcode apply_curl(CURL *curl, struct exporter *e, const struct settings *s)
{
	CURLcode res = CURLE_OK;

	curl_easy_reset(curl);
#define SET(opt, val) (res = res ? res : curl_easy_setopt(curl, opt, val))
	SET(CURLOPT_URL, s->endpoint);
	SET(CURLOPT_POST, 1L);
	SET(CURLOPT_HTTPHEADER, s->headers);
	SET(CURLOPT_USERAGENT, s->user_agent);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
	SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, e);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, e);
	if (e)
		SET(CURLOPT_ERRORBUFFER, e->errbuf);
	if (s->ca_file) {
		/* The file is the whole trust: not added to the system's CAs. */
		SET(CURLOPT_CAINFO, s->ca_file);
		SET(CURLOPT_CAPATH, NULL);
	}
	if (s->cert_file) {
		SET(CURLOPT_SSLCERT, s->cert_file);
		SET(CURLOPT_SSLCERTTYPE, "PEM");
	}
	if (s->key_file) {
		SET(CURLOPT_SSLKEY, s->key_file);
		SET(CURLOPT_SSLKEYTYPE, "PEM");
	}
	SET(CURLOPT_SSL_VERIFYPEER, s->insecure ? 0L : 1L);
	SET(CURLOPT_SSL_VERIFYHOST, s->insecure ? 0L : 2L);
#undef SET
	return res;
}

/*
 * Validate and copy opts.  Returns 0 with *out set, or -EINVAL / -ENOMEM
 * (logged).
 */
static int settings_new(const struct exporter_opts *o, struct settings **out)
{
	struct settings *s;
	bool oom = false;
	CURLcode res;
	CURL *probe;

	if (!o || !o->endpoint || !endpoint_ok(o->endpoint)) {
		log_error("export: endpoint '%s' is not an http:// or https:// URL",
			  o && o->endpoint ? o->endpoint : "");
		return -EINVAL;
	}
	if (o->compression != COMPRESSION_NONE && o->compression != COMPRESSION_GZIP) {
		log_error("export: unknown compression %d", o->compression);
		return -EINVAL;
	}
	if ((o->tls_cert_file && *o->tls_cert_file) != (o->tls_key_file && *o->tls_key_file)) {
		log_error("export: exporter.tls.cert_file and key_file go together");
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		goto nomem;
	s->gzip = o->compression == COMPRESSION_GZIP;
	s->batch_max = o->batch_max_spans ? o->batch_max_spans :
					    (uint32_t)config_default_num("batch.max_spans");
	if (s->batch_max > OTLP_MAX_SPANS)
		s->batch_max = OTLP_MAX_SPANS;
	s->queue_max = o->queue_max_spans ? o->queue_max_spans :
					    (uint32_t)config_default_num("queue.max_spans");
	s->batch_timeout_ns = o->batch_timeout_ns ? o->batch_timeout_ns :
						    config_default_num("batch.timeout");
	s->timeout_ns = o->timeout_ns ? o->timeout_ns : config_default_num("exporter.timeout");
	s->retry_initial_ns = o->retry_initial_ns ? o->retry_initial_ns :
						    config_default_num("retry.initial_interval");
	s->retry_max_ns = o->retry_max_ns ? o->retry_max_ns :
					    config_default_num("retry.max_interval");
	s->retry_max_elapsed_ns = o->retry_max_elapsed_ns ?
					  o->retry_max_elapsed_ns :
					  config_default_num("retry.max_elapsed_time");
	s->insecure = o->tls_insecure_skip_verify;
	s->endpoint = strdup(o->endpoint);
	s->user_agent = strdup(o->user_agent ? o->user_agent : "spanbpf/" SPANBPF_VERSION);
	s->ca_file = dup_opt(o->tls_ca_file, &oom);
	s->cert_file = dup_opt(o->tls_cert_file, &oom);
	s->key_file = dup_opt(o->tls_key_file, &oom);
	if (oom || !s->endpoint || !s->user_agent || !build_headers(s, o))
		goto nomem;

	/* Let libcurl judge every option now, not at the first export. */
	probe = curl_easy_init();
	if (!probe)
		goto nomem;
	res = apply_curl(probe, NULL, s);
	curl_easy_cleanup(probe);
	if (res != CURLE_OK) {
		log_error("export: libcurl refuses the exporter settings: %s",
			  curl_easy_strerror(res));
		settings_free(s);
		return -EINVAL;
	}
	if (s->insecure)
		log_warn("export: exporter.tls.insecure_skip_verify is set: the collector's "
			 "certificate and host name are NOT verified");
	if ((s->ca_file || s->cert_file || s->insecure) && strncasecmp(s->endpoint, "https:", 6))
		log_warn("export: exporter.tls settings have no effect: the endpoint is not "
			 "https://");
	*out = s;
	return 0;
nomem:
	log_error("export: out of memory");
	settings_free(s);
	return -ENOMEM;
}

/*
 * Adopt the settings exporter_reconfigure() left in e->pending, if any
 * (exporter thread, no request in flight).  On failure the old ones stay.
 */
static void apply_pending(struct exporter *e)
{
	struct otlp_span **vec;
	struct settings *s;
	CURLcode res;

	pthread_mutex_lock(&e->lock);
	s = e->pending;
	e->pending = NULL;
	pthread_mutex_unlock(&e->lock);
	if (!s)
		return;
	if (s->batch_max > e->vec_cap) {
		vec = realloc(e->vec, s->batch_max * sizeof(*vec));
		if (!vec) {
			log_error("export: new settings not applied: out of memory");
			goto revert;
		}
		e->vec = vec;
		e->vec_cap = s->batch_max;
	}
	res = apply_curl(e->curl, e, s);
	if (res != CURLE_OK) {
		log_error("export: new settings not applied: %s", curl_easy_strerror(res));
		apply_curl(e->curl, e, e->cur);
		goto revert;
	}
	settings_free(e->cur);
	e->cur = s;
	pthread_mutex_lock(&e->lock);
	e->batch_max = s->batch_max;
	pthread_mutex_unlock(&e->lock);
	log_info("export: new settings applied");
	return;
revert:
	pthread_mutex_lock(&e->lock);
	if (!e->pending)
		e->queue_max = e->cur->queue_max;
	pthread_mutex_unlock(&e->lock);
	settings_free(s);
}

/* ---- one request -------------------------------------------------------- */

/* Stop deadline, or UINT64_MAX when not stopping. */
static uint64_t stop_deadline(struct exporter *e)
{
	uint64_t d;

	pthread_mutex_lock(&e->lock);
	d = e->stopping ? e->stop_deadline_ns : UINT64_MAX;
	pthread_mutex_unlock(&e->lock);
	return d;
}

/*
 * One POST of body (gzip'ed when gz), cut short at deadline_ns or at the
 * stop deadline.  Returns curl's result; *status gets the HTTP status (0
 * without one).
 */
static CURLcode post(struct exporter *e, const uint8_t *body, size_t len, bool gz,
		     uint64_t deadline_ns, long *status)
{
	CURLcode res = CURLE_OPERATION_TIMEDOUT;
	uint64_t now = now_ns(), end, ms;
	CURLMcode mc;
	CURLMsg *msg;
	int running = 1, left;

	e->resp_len = 0;
	e->resp_truncated = false;
	e->retry_after_set = false;
	e->errbuf[0] = '\0';
	*status = 0;
	curl_easy_setopt(e->curl, CURLOPT_HTTPHEADER, gz ? e->cur->headers_gz : e->cur->headers);
	curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, (const char *)body);
	curl_easy_setopt(e->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	ms = (deadline_ns - min_u64(now, deadline_ns)) / NSEC_PER_MSEC + 1;
	curl_easy_setopt(e->curl, CURLOPT_TIMEOUT_MS, (long)min_u64(ms, LONG_MAX));
	mc = curl_multi_add_handle(e->multi, e->curl);
	if (mc != CURLM_OK) {
		snprintf(e->errbuf, sizeof(e->errbuf), "%s", curl_multi_strerror(mc));
		return CURLE_FAILED_INIT;
	}
	for (;;) {
		mc = curl_multi_perform(e->multi, &running);
		if (mc != CURLM_OK) {
			snprintf(e->errbuf, sizeof(e->errbuf), "%s", curl_multi_strerror(mc));
			res = CURLE_FAILED_INIT;
			running = 0;
			break;
		}
		if (!running)
			break;
		end = min_u64(deadline_ns, stop_deadline(e));
		now = now_ns();
		if (now >= end) {
			snprintf(e->errbuf, sizeof(e->errbuf), "deadline reached");
			break;
		}
		ms = min_u64((end - now) / NSEC_PER_MSEC + 1, 1000);
		curl_multi_poll(e->multi, NULL, 0, (int)ms, NULL);
	}
	if (!running) {
		while ((msg = curl_multi_info_read(e->multi, &left)))
			if (msg->msg == CURLMSG_DONE && msg->easy_handle == e->curl)
				res = msg->data.result;
	}
	curl_multi_remove_handle(e->multi, e->curl);
	if (res == CURLE_OK)
		curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, status);
	return res;
}

/* TLS alerts after the handshake (a refused client certificate, TLS 1.3) come as I/O errors. */
static bool tls_words(const char *msg)
{
	return strstr(msg, "SSL") || strstr(msg, "TLS") || strstr(msg, "tlsv1");
}

/* The class of a libcurl failure.  Every one is retried. */
static enum exporter_failure curl_failure(struct exporter *e, CURLcode res)
{
	switch (res) {
	case CURLE_OPERATION_TIMEDOUT:
		return EXPORTER_FAIL_TIMEOUT;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
		if (tls_words(e->errbuf))
			return EXPORTER_FAIL_TLS;
		return EXPORTER_FAIL_CONNECT;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_WEIRD_SERVER_REPLY:
		return EXPORTER_FAIL_CONNECT;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_SHUTDOWN_FAILED:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_USE_SSL_FAILED:
#if LIBCURL_VERSION_NUM >= 0x074d00
	case CURLE_SSL_CLIENTCERT:
#endif
		return EXPORTER_FAIL_TLS;
	default:
		return EXPORTER_FAIL_OTHER;
	}
}

/* What an operator can do about a TLS failure. */
static const char *tls_hint(CURLcode res)
{
	switch (res) {
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
		return "the collector's certificate is not trusted: exporter.tls.ca_file names the "
		       "CA that signed it";
	case CURLE_SSL_CERTPROBLEM:
#if LIBCURL_VERSION_NUM >= 0x074d00
	case CURLE_SSL_CLIENTCERT:
#endif
		return "check exporter.tls.cert_file and key_file";
	default:
		return "the collector may require a client certificate "
		       "(exporter.tls.cert_file and key_file)";
	}
}

/* The collector's own words on a failed request, for the log. */
static void collector_message(struct exporter *e, char *dst, size_t dstlen)
{
	const uint8_t *p = e->resp;
	size_t len = e->resp_len;
	char *ctype = NULL;

	curl_easy_getinfo(e->curl, CURLINFO_CONTENT_TYPE, &ctype);
	if (ctype && strstr(ctype, "protobuf"))
		rpc_status_message(e->resp, e->resp_len, &p, &len);
	sanitize(dst, dstlen, p, len);
}

/* Account a 2xx answer to a batch of n spans. */
static void delivered(struct exporter *e, uint32_t n, unsigned int retries)
{
	char msg[LOG_BODY_MAX + 1], text[LOG_BODY_MAX + 1];
	int64_t rejected = 0;
	char *ctype = NULL;

	msg[0] = '\0';
	if (e->resp_truncated ||
	    otlp_decode_response(e->resp, e->resp_len, &rejected, msg, sizeof(msg)) != 0) {
		curl_easy_getinfo(e->curl, CURLINFO_CONTENT_TYPE, &ctype);
		log_at(ctype && strstr(ctype, "protobuf") ? LOG_LEVEL_WARN : LOG_LEVEL_DEBUG,
		       "export: unreadable %zu-byte response body, batch counted as delivered",
		       e->resp_len);
		rejected = 0;
		msg[0] = '\0';
	}
	if (rejected > (int64_t)n)
		rejected = n;
	sanitize(text, sizeof(text), (const uint8_t *)msg, strlen(msg));
	if (rejected)
		log_limited(&e->rl_partial, LOG_LEVEL_WARN,
			    "export: collector rejected %lld of %u spans (partial success, not "
			    "retried): %s", (long long)rejected, n,
			    text[0] ? text : "(no message)");
	else if (text[0])
		log_limited(&e->rl_partial, LOG_LEVEL_WARN, "export: collector warning: %s", text);
	if (retries)
		log_info("export: %u spans delivered after %u retries", n, retries);
	pthread_mutex_lock(&e->lock);
	e->st.exported += n - (uint64_t)rejected;
	e->st.dropped_rejected += (uint64_t)rejected;
	e->st.in_flight = 0;
	pthread_mutex_unlock(&e->lock);
}

/* Count the n spans of a batch that ended badly. */
static void finish(struct exporter *e, uint32_t n, enum outcome out)
{
	pthread_mutex_lock(&e->lock);
	switch (out) {
	case OUT_FAILED_STATUS:
		e->st.failed_status += n;
		break;
	case OUT_RETRIES_EXHAUSTED:
		e->st.failed_retries_exhausted += n;
		break;
	case OUT_UNDELIVERED:
		e->st.undelivered_at_shutdown += n;
		break;
	}
	e->st.in_flight = 0;
	pthread_mutex_unlock(&e->lock);
}

/* The verdict on one request; *fail gets its failure class unless DELIVERED. */
static enum verdict judge(struct exporter *e, CURLcode res, long status, uint32_t n, int *fail)
{
	char text[LOG_BODY_MAX + 1];

	if (res != CURLE_OK) {
		*fail = curl_failure(e, res);
		return RETRY;
	}
	if (status >= 200 && status < 300)
		return DELIVERED;
	switch (status) {
	case 429:
		*fail = EXPORTER_FAIL_HTTP_429;
		return RETRY;
	case 502:
		*fail = EXPORTER_FAIL_HTTP_502;
		return RETRY;
	case 503:
		*fail = EXPORTER_FAIL_HTTP_503;
		return RETRY;
	case 504:
		*fail = EXPORTER_FAIL_HTTP_504;
		return RETRY;
	}
	if (status >= 400 && status < 500)
		*fail = EXPORTER_FAIL_HTTP_4XX;
	else if (status >= 500 && status < 600)
		*fail = EXPORTER_FAIL_HTTP_5XX;
	else
		*fail = EXPORTER_FAIL_HTTP_OTHER;
	collector_message(e, text, sizeof(text));
	log_limited(&e->rl_status, LOG_LEVEL_ERROR,
		    "export: %u spans dropped, not retried: HTTP %ld: %s", n, status,
		    text[0] ? text : "(empty body)");
	return DROP;
}

enum wait_result {
	WAIT_DONE,		/* the time came */
	WAIT_STOP,		/* stop's deadline comes first: give up */
	WAIT_SETTINGS,		/* new settings are waiting to be applied */
};

/* Sleep until until_ns unless stop's deadline comes first or new settings arrive. */
static enum wait_result backoff_wait(struct exporter *e, uint64_t until_ns)
{
	enum wait_result r = WAIT_DONE;

	pthread_mutex_lock(&e->lock);
	for (;;) {
		if (e->stopping && until_ns >= e->stop_deadline_ns) {
			r = WAIT_STOP;
			break;
		}
		if (e->pending) {
			r = WAIT_SETTINGS;
			break;
		}
		if (now_ns() >= until_ns)
			break;
		wait_until(e, until_ns);
	}
	pthread_mutex_unlock(&e->lock);
	return r;
}

/* Frame e->vec[0..n) into one body, gzip'ed per the settings; frees the spans on success. */
static int build_body(struct exporter *e, uint32_t n, uint8_t **body, size_t *len, bool *gz)
{
	uint8_t *pb, *z;
	size_t zlen;
	int err;

	err = otlp_frame(e->vec, n, &pb, len);
	if (err)
		return err;
	*gz = e->cur->gzip;
	if (*gz) {
		err = otlp_gzip(pb, *len, &z, &zlen);
		free(pb);
		if (err)
			return err;
		pb = z;
		*len = zlen;
	}
	*body = pb;
	for (uint32_t i = 0; i < n; i++) {
		otlp_span_free(e->vec[i]);
		e->vec[i] = NULL;
	}
	return 0;
}

/*
 * Send e->vec[0..n) until it is delivered, dropped or given up, and count
 * its outcome; the spans are freed.  Returns false when the batch was
 * abandoned at the stop deadline.
 */
static bool export_batch(struct exporter *e, uint32_t n)
{
	char reason[CURL_ERROR_SIZE + 64];
	uint64_t first = now_ns(), backoff = e->cur->retry_initial_ns, delay, now, deadline;
	unsigned int sent = 0;
	uint8_t *body = NULL;
	size_t len = 0;
	long status;
	CURLcode res = CURLE_OK;
	enum verdict verdict;
	bool gz = false, ok = true;
	int err, fail = EXPORTER_FAIL_OTHER;

	for (;;) {
		err = body ? 0 : build_body(e, n, &body, &len, &gz);
		if (err) {
			snprintf(reason, sizeof(reason), "cannot encode the request: %s",
				 strerror(-err));
		} else {
			now = now_ns();
			deadline = min_u64(add_sat(now, e->cur->timeout_ns), stop_deadline(e));
			if (deadline <= now) {
				finish(e, n, OUT_UNDELIVERED);
				ok = false;
				break;
			}
			pthread_mutex_lock(&e->lock);
			e->st.requests++;
			e->st.retries += sent > 0;
			e->st.bytes_sent += len;
			pthread_mutex_unlock(&e->lock);
			res = post(e, body, len, gz, deadline, &status);
			sent++;

			verdict = judge(e, res, status, n, &fail);
			if (verdict == DELIVERED) {
				delivered(e, n, sent - 1);
				goto out;
			}
			pthread_mutex_lock(&e->lock);
			e->st.failures[fail]++;
			pthread_mutex_unlock(&e->lock);
			if (verdict == DROP) {
				finish(e, n, OUT_FAILED_STATUS);
				goto out;
			}
			if (res != CURLE_OK)
				snprintf(reason, sizeof(reason), "%s (%s)", curl_easy_strerror(res),
					 e->errbuf[0] ? e->errbuf : "no details");
			else
				snprintf(reason, sizeof(reason), "HTTP %ld", status);
		}
		report_drops(e);
		delay = jitter(e, backoff);
		if (!err && e->retry_after_set && e->retry_after_ns > delay)
			delay = e->retry_after_ns;
		delay = min_u64(delay, e->cur->retry_max_ns);
		backoff = min_u64(backoff * 2, e->cur->retry_max_ns);
		now = now_ns();
		if (now + delay - first > e->cur->retry_max_elapsed_ns) {
			log_limited(&e->rl_gave_up, LOG_LEVEL_ERROR,
				    "export: %u spans dropped: not delivered in %llums (%s)", n,
				    (unsigned long long)((now - first) / NSEC_PER_MSEC), reason);
			finish(e, n, OUT_RETRIES_EXHAUSTED);
			break;
		}
		if (!err && fail == EXPORTER_FAIL_TLS)
			/* Rarely transient: every time (rate-limited), as an error, with a hint. */
			log_limited(&e->rl_tls, LOG_LEVEL_ERROR,
				    "export: TLS failure, retry in %llums: %s; %s",
				    (unsigned long long)(delay / NSEC_PER_MSEC), reason,
				    tls_hint(res));
		else if (sent <= 1)
			log_limited(&e->rl_retry, LOG_LEVEL_WARN, "export: %s, retry in %llums",
				    reason, (unsigned long long)(delay / NSEC_PER_MSEC));
		else
			log_debug("export: %s, retry %u in %llums", reason, sent,
				  (unsigned long long)(delay / NSEC_PER_MSEC));
		switch (backoff_wait(e, now + delay)) {
		case WAIT_DONE:
			break;
		case WAIT_STOP:
			finish(e, n, OUT_UNDELIVERED);
			ok = false;
			goto out;
		case WAIT_SETTINGS:
			/* A new endpoint or TLS setup deserves a try at once. */
			apply_pending(e);
			backoff = e->cur->retry_initial_ns;
			break;
		}
	}
out:
	if (!body)
		for (uint32_t i = 0; i < n; i++)
			otlp_span_free(e->vec[i]);
	free(body);
	return ok;
}

/* ---- the thread --------------------------------------------------------- */

static void free_list(struct otlp_span *s)
{
	struct otlp_span *next;

	for (; s; s = next) {
		next = s->next;
		otlp_span_free(s);
	}
}

static void *exporter_main(void *arg)
{
	struct exporter *e = arg;
	struct otlp_span *left;
	uint64_t now;
	uint32_t n;
	bool ok = true;

	pthread_mutex_lock(&e->lock);
	for (;;) {
		if (e->pending) {
			pthread_mutex_unlock(&e->lock);
			apply_pending(e);
			pthread_mutex_lock(&e->lock);
			continue;
		}
		now = now_ns();
		if (e->stopping && (!ok || !e->qlen || now >= e->stop_deadline_ns))
			break;
		if (!e->qlen) {
			wait_until(e, UINT64_MAX);
			continue;
		}
		if (!e->stopping && e->qlen < e->cur->batch_max &&
		    now < add_sat(e->oldest_ns, e->cur->batch_timeout_ns)) {
			wait_until(e, add_sat(e->oldest_ns, e->cur->batch_timeout_ns));
			continue;
		}
		/* Spans left behind were queued after oldest_ns: they leave early, never late. */
		for (n = 0; n < e->cur->batch_max && e->head; n++) {
			e->vec[n] = e->head;
			e->head = e->head->next;
			e->vec[n]->next = NULL;
		}
		if (!e->head)
			e->tail = NULL;
		e->qlen -= n;
		e->st.in_flight = n;
		pthread_mutex_unlock(&e->lock);

		report_drops(e);
		ok = export_batch(e, n);

		pthread_mutex_lock(&e->lock);
	}
	left = e->head;
	e->st.undelivered_at_shutdown += e->qlen;
	e->head = e->tail = NULL;
	e->qlen = 0;
	pthread_mutex_unlock(&e->lock);
	free_list(left);
	return NULL;
}

/* ---- API ---------------------------------------------------------------- */

bool exporter_submit(struct exporter *e, struct span *s)
{
	struct otlp_span *os = NULL;
	bool wake = false, full;
	int err;

	if (!s)
		return false;
	if (!e) {
		span_free(s);
		return false;
	}
	/* No encoding work for a span that cannot be queued anyway. */
	pthread_mutex_lock(&e->lock);
	full = e->stopping || e->qlen >= e->queue_max;
	if (full) {
		e->st.submitted++;
		e->st.dropped_queue_full++;
	}
	pthread_mutex_unlock(&e->lock);
	if (full) {
		span_free(s);
		return false;
	}

	err = otlp_span_encode(s, &os);
	span_free(s);
	if (err && !atomic_exchange(&e->encode_warned, true))
		log_error("export: cannot queue a span: %s (counted as dropped)", strerror(-err));

	pthread_mutex_lock(&e->lock);
	e->st.submitted++;
	if (err || e->stopping || e->qlen >= e->queue_max) {
		e->st.dropped_queue_full++;
		pthread_mutex_unlock(&e->lock);
		otlp_span_free(os);
		return false;
	}
	if (e->tail)
		e->tail->next = os;
	else
		e->head = os;
	e->tail = os;
	if (++e->qlen == 1) {
		e->oldest_ns = now_ns();
		wake = true;
	} else if (e->qlen == e->batch_max) {
		wake = true;
	}
	if (wake)
		pthread_cond_signal(&e->wake);
	pthread_mutex_unlock(&e->lock);
	return true;
}

void exporter_stats(struct exporter *e, struct exporter_stats *st)
{
	if (!e) {
		memset(st, 0, sizeof(*st));
		return;
	}
	pthread_mutex_lock(&e->lock);
	*st = e->st;
	st->queued = e->qlen;
	st->queue_max = e->queue_max;
	pthread_mutex_unlock(&e->lock);
	st->failed = st->failed_status + st->failed_retries_exhausted + st->undelivered_at_shutdown;
}

int exporter_reconfigure(struct exporter *e, const struct exporter_opts *o)
{
	struct settings *s, *old;
	int err;

	if (!e)
		return -EINVAL;
	err = settings_new(o, &s);
	if (err)
		return err;
	pthread_mutex_lock(&e->lock);
	if (e->stopping) {
		pthread_mutex_unlock(&e->lock);
		settings_free(s);
		return -EINVAL;
	}
	old = e->pending;
	e->pending = s;
	e->queue_max = s->queue_max;
	pthread_cond_broadcast(&e->wake);
	pthread_mutex_unlock(&e->lock);
	settings_free(old);
	return 0;
}

void exporter_free(struct exporter *e)
{
	if (!e)
		return;
	if (e->curl)
		curl_easy_cleanup(e->curl);
	if (e->multi)
		curl_multi_cleanup(e->multi);
	free_list(e->head);
	settings_free(e->pending);
	settings_free(e->cur);
	pthread_cond_destroy(&e->wake);
	pthread_mutex_destroy(&e->lock);
	free(e->vec);
	free(e);
}

int exporter_stop(struct exporter *e, uint64_t timeout_ns)
{
	int undelivered = exporter_shutdown(e, timeout_ns);

	exporter_free(e);
	return undelivered;
}

static uint64_t lost(const struct exporter_stats *st)
{
	return st->failed_status + st->failed_retries_exhausted + st->undelivered_at_shutdown;
}

int exporter_shutdown(struct exporter *e, uint64_t timeout_ns)
{
	uint64_t undelivered;

	if (!e)
		return 0;
	pthread_mutex_lock(&e->lock);
	if (!e->stopping) {
		e->stopping = true;
		e->stop_deadline_ns = add_sat(now_ns(), timeout_ns);
		e->failed_at_stop = lost(&e->st);
	}
	pthread_cond_broadcast(&e->wake);
	pthread_mutex_unlock(&e->lock);
	if (e->thread_started) {
		curl_multi_wakeup(e->multi);
		pthread_join(e->thread, NULL);
		e->thread_started = false;
	}
	undelivered = lost(&e->st) - e->failed_at_stop;
	log_debug("export: stopped: %llu exported, %llu undelivered at stop",
		  (unsigned long long)e->st.exported, (unsigned long long)undelivered);
	return undelivered > INT_MAX ? INT_MAX : (int)undelivered;
}

struct exporter *exporter_start(const struct exporter_opts *o)
{
	pthread_condattr_t ca;
	struct settings *s;
	sigset_t all, old;
	struct exporter *e;
	CURLcode res;
	int err;

	pthread_once(&curl_once, curl_init_once);
	if (curl_init_result != CURLE_OK) {
		log_error("export: curl_global_init: %s", curl_easy_strerror(curl_init_result));
		errno = ENOMEM;
		return NULL;
	}
	err = settings_new(o, &s);
	if (err) {
		errno = -err;
		return NULL;
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		log_error("export: out of memory");
		settings_free(s);
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&e->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&e->wake, &ca);
	pthread_condattr_destroy(&ca);
	atomic_init(&e->encode_warned, false);

	e->cur = s;
	e->queue_max = s->queue_max;
	e->batch_max = s->batch_max;
	e->rng = now_ns() ^ (uintptr_t)e ^ 0x9e3779b97f4a7c15ull;
	e->vec_cap = s->batch_max;
	e->vec = calloc(e->vec_cap, sizeof(*e->vec));
	e->multi = curl_multi_init();
	e->curl = curl_easy_init();
	if (!e->vec || !e->multi || !e->curl) {
		err = ENOMEM;
		goto fail;
	}
	res = apply_curl(e->curl, e, s);
	if (res != CURLE_OK) {
		log_error("export: curl setup: %s", curl_easy_strerror(res));
		err = EINVAL;
		goto fail;
	}
	/* The thread starts with every signal blocked: they belong to the main thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&e->thread, NULL, exporter_main, e);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		log_error("export: cannot start the export thread: %s", strerror(err));
		goto fail;
	}
	e->thread_started = true;
	return e;
fail:
	if (err == ENOMEM)
		log_error("export: out of memory");
	exporter_free(e);
	errno = err;
	return NULL;
}
