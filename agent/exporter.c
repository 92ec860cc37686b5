// SPDX-License-Identifier: Apache-2.0
/*
 * exporter.c - span queue and OTLP/HTTP export thread.
 *
 * The reader thread appends to a singly linked queue under e->lock and
 * wakes the exporter thread only when the queue becomes non-empty or a batch
 * fills.  The exporter thread takes up to batch_max spans, encodes them and
 * POSTs them with one libcurl easy handle driven by a private multi handle:
 * the multi handle keeps the connection alive between requests and lets
 * exporter_stop() interrupt a request in flight (curl_multi_wakeup).
 */
#include "exporter.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "config.h"
#include "log.h"
#include "otlp.h"

#define NSEC_PER_SEC 1000000000ull
#define NSEC_PER_MSEC 1000000ull

/* Response bodies are kept up to this size (partial_success, error messages). */
#define RESP_BODY_MAX 65536
/* Collector messages are logged up to this many bytes. */
#define LOG_BODY_MAX 200
/* Dropped-span warnings are rate limited to one per interval. */
#define DROP_REPORT_INTERVAL_NS (10 * NSEC_PER_SEC)

struct exporter {
	/* Settings, fixed after start. */
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

	/* Shared with submitters and exporter_stop(), under lock. */
	pthread_mutex_t lock;
	pthread_cond_t wake;		/* on CLOCK_MONOTONIC */
	struct span *head, *tail;
	uint32_t qlen;
	uint64_t oldest_ns;		/* queue time of the oldest queued span, or earlier */
	bool stopping;
	uint64_t stop_deadline_ns;
	uint64_t failed_at_stop;
	struct exporter_stats st;

	/* Exporter thread only. */
	pthread_t thread;
	CURLM *multi;
	CURL *curl;
	struct curl_slist *headers;
	struct span **vec;		/* [batch_max]: the batch in flight */
	uint64_t rng;
	uint64_t drops_reported;
	uint64_t drops_report_ns;
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
 * One POST of body, cut short at deadline_ns or at the stop deadline.
 * Returns curl's result; *status gets the HTTP status (0 without one).
 */
static CURLcode post(struct exporter *e, const uint8_t *body, size_t len, uint64_t deadline_ns,
		     long *status)
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

static bool curl_retryable(CURLcode res)
{
	switch (res) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
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
static void delivered(struct exporter *e, uint32_t n)
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
		log_warn("export: collector rejected %lld of %u spans: %s", (long long)rejected, n,
			 text[0] ? text : "(no message)");
	else if (text[0])
		log_warn("export: collector warning: %s", text);
	pthread_mutex_lock(&e->lock);
	e->st.exported += n - (uint64_t)rejected;
	e->st.dropped_rejected += (uint64_t)rejected;
	pthread_mutex_unlock(&e->lock);
}

static enum verdict judge(struct exporter *e, CURLcode res, long status, uint32_t n)
{
	char text[LOG_BODY_MAX + 1];

	if (res != CURLE_OK) {
		if (curl_retryable(res))
			return RETRY;
		log_error("export: %u spans dropped: %s: %s", n, curl_easy_strerror(res),
			  e->errbuf[0] ? e->errbuf : "no details");
		return DROP;
	}
	if (status >= 200 && status < 300)
		return DELIVERED;
	if (status == 429 || status == 502 || status == 503 || status == 504)
		return RETRY;
	collector_message(e, text, sizeof(text));
	log_error("export: %u spans dropped: HTTP %ld: %s", n, status,
		  text[0] ? text : "(empty body)");
	return DROP;
}

/* A retryable failure in a few words. */
static const char *why(CURLcode res, long status, char *buf, size_t len)
{
	if (res != CURLE_OK)
		return curl_easy_strerror(res);
	snprintf(buf, len, "HTTP %ld", status);
	return buf;
}

/* Sleep until until_ns unless stop's deadline comes first: false then. */
static bool backoff_wait(struct exporter *e, uint64_t until_ns)
{
	bool ok = true;

	pthread_mutex_lock(&e->lock);
	for (;;) {
		if (e->stopping && until_ns >= e->stop_deadline_ns) {
			ok = false;
			break;
		}
		if (now_ns() >= until_ns)
			break;
		wait_until(e, until_ns);
	}
	pthread_mutex_unlock(&e->lock);
	return ok;
}

static void count_failed(struct exporter *e, uint64_t n)
{
	pthread_mutex_lock(&e->lock);
	e->st.failed += n;
	pthread_mutex_unlock(&e->lock);
}

/*
 * Send e->vec[0..n) until it is delivered, dropped or given up.  Returns
 * false when it was abandoned at the stop deadline.  The spans stay owned by
 * the caller.
 */
static bool export_batch(struct exporter *e, uint32_t n)
{
	uint8_t *pb = NULL, *gz = NULL, *body;
	char reason[64];
	uint64_t first = now_ns(), backoff = e->retry_initial_ns, delay, now, deadline;
	size_t len;
	long status;
	CURLcode res;
	bool ok = true;
	int err;

	err = otlp_encode(e->vec, n, &pb, &len);
	if (!err && e->gzip) {
		err = otlp_gzip(pb, len, &gz, &len);
		free(pb);
		pb = gz;
	}
	if (err) {
		log_error("export: %u spans dropped: encoding failed: %s", n, strerror(-err));
		count_failed(e, n);
		return true;
	}
	body = pb;
	for (unsigned int attempt = 0;; attempt++) {
		now = now_ns();
		deadline = min_u64(add_sat(now, e->timeout_ns), stop_deadline(e));
		if (deadline <= now) {
			/* stop's deadline has passed */
			count_failed(e, n);
			ok = false;
			goto out;
		}
		pthread_mutex_lock(&e->lock);
		e->st.requests++;
		e->st.retries += attempt > 0;
		e->st.bytes_sent += len;
		pthread_mutex_unlock(&e->lock);
		res = post(e, body, len, deadline, &status);

		switch (judge(e, res, status, n)) {
		case DELIVERED:
			if (attempt)
				log_info("export: delivered after %u retries", attempt);
			delivered(e, n);
			goto out;
		case DROP:
			count_failed(e, n);
			goto out;
		case RETRY:
			break;
		}
		delay = jitter(e, backoff);
		if (e->retry_after_set && e->retry_after_ns > delay)
			delay = e->retry_after_ns;
		delay = min_u64(delay, e->retry_max_ns);
		backoff = min_u64(backoff * 2, e->retry_max_ns);
		now = now_ns();
		if (now + delay - first > e->retry_max_elapsed_ns) {
			log_error("export: %u spans dropped: not delivered in %llums (%s)", n,
				  (unsigned long long)((now - first) / NSEC_PER_MSEC),
				  why(res, status, reason, sizeof(reason)));
			count_failed(e, n);
			goto out;
		}
		log_at(attempt ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN, "export: %s, retry %u in %llums",
		       why(res, status, reason, sizeof(reason)), attempt + 1,
		       (unsigned long long)(delay / NSEC_PER_MSEC));
		if (!backoff_wait(e, now + delay)) {
			count_failed(e, n);
			ok = false;
			goto out;
		}
	}
out:
	free(body);
	return ok;
}

/* Rate-limited warning about spans dropped by submit. */
static void report_drops(struct exporter *e, uint64_t dropped)
{
	uint64_t now = now_ns();

	if (dropped == e->drops_reported || now - e->drops_report_ns < DROP_REPORT_INTERVAL_NS)
		return;
	log_warn("export: queue full, %llu spans dropped (%llu in all)",
		 (unsigned long long)(dropped - e->drops_reported), (unsigned long long)dropped);
	e->drops_reported = dropped;
	e->drops_report_ns = now;
}

static void free_list(struct span *s)
{
	struct span *next;

	for (; s; s = next) {
		next = s->next;
		span_free(s);
	}
}

static void *exporter_main(void *arg)
{
	struct exporter *e = arg;
	struct span *left;
	uint64_t now, dropped;
	uint32_t n;
	bool ok = true;

	pthread_mutex_lock(&e->lock);
	for (;;) {
		now = now_ns();
		if (e->stopping && (!ok || !e->qlen || now >= e->stop_deadline_ns))
			break;
		if (!e->qlen) {
			wait_until(e, UINT64_MAX);
			continue;
		}
		if (!e->stopping && e->qlen < e->batch_max &&
		    now < add_sat(e->oldest_ns, e->batch_timeout_ns)) {
			wait_until(e, add_sat(e->oldest_ns, e->batch_timeout_ns));
			continue;
		}
		/* Spans left behind were queued after oldest_ns: they leave early, never late. */
		for (n = 0; n < e->batch_max && e->head; n++) {
			e->vec[n] = e->head;
			e->head = e->head->next;
			e->vec[n]->next = NULL;
		}
		if (!e->head)
			e->tail = NULL;
		e->qlen -= n;
		dropped = e->st.dropped_queue_full;
		pthread_mutex_unlock(&e->lock);

		report_drops(e, dropped);
		ok = export_batch(e, n);
		for (uint32_t i = 0; i < n; i++)
			span_free(e->vec[i]);

		pthread_mutex_lock(&e->lock);
	}
	left = e->head;
	e->st.failed += e->qlen;
	e->head = e->tail = NULL;
	e->qlen = 0;
	pthread_mutex_unlock(&e->lock);
	free_list(left);
	return NULL;
}

bool exporter_submit(struct exporter *e, struct span *s)
{
	bool wake = false;

	if (!s)
		return false;
	if (!e) {
		span_free(s);
		return false;
	}
	s->next = NULL;
	pthread_mutex_lock(&e->lock);
	if (e->stopping || e->qlen >= e->queue_max) {
		e->st.dropped_queue_full++;
		pthread_mutex_unlock(&e->lock);
		span_free(s);
		return false;
	}
	if (e->tail)
		e->tail->next = s;
	else
		e->head = s;
	e->tail = s;
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
	pthread_mutex_unlock(&e->lock);
}

void exporter_free(struct exporter *e)
{
	if (!e)
		return;
	if (e->curl)
		curl_easy_cleanup(e->curl);
	if (e->multi)
		curl_multi_cleanup(e->multi);
	curl_slist_free_all(e->headers);
	pthread_cond_destroy(&e->wake);
	pthread_mutex_destroy(&e->lock);
	free(e->vec);
	free(e->endpoint);
	free(e->user_agent);
	free(e);
}

int exporter_stop(struct exporter *e, uint64_t timeout_ns)
{
	int undelivered = exporter_shutdown(e, timeout_ns);

	exporter_free(e);
	return undelivered;
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
		e->failed_at_stop = e->st.failed;
	}
	pthread_cond_broadcast(&e->wake);
	pthread_mutex_unlock(&e->lock);
	curl_multi_wakeup(e->multi);
	pthread_join(e->thread, NULL);

	undelivered = e->st.failed - e->failed_at_stop;
	log_debug("export: stopped: %llu exported, %llu undelivered at stop",
		  (unsigned long long)e->st.exported, (unsigned long long)undelivered);
	return undelivered > INT_MAX ? INT_MAX : (int)undelivered;
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

static int add_header(struct exporter *e, const char *h)
{
	struct curl_slist *l = curl_slist_append(e->headers, h);

	if (!l)
		return -ENOMEM;
	e->headers = l;
	return 0;
}

static int setup_curl(struct exporter *e)
{
	CURLcode res = CURLE_OK;

	e->multi = curl_multi_init();
	e->curl = curl_easy_init();
	if (!e->multi || !e->curl)
		return -ENOMEM;
	/* "Expect:" keeps curl from waiting for 100-continue before large bodies. */
	if (add_header(e, "Content-Type: application/x-protobuf") || add_header(e, "Expect:") ||
	    (e->gzip && add_header(e, "Content-Encoding: gzip")))
		return -ENOMEM;
#define SET(opt, val) (res = res ? res : curl_easy_setopt(e->curl, opt, val))
	SET(CURLOPT_URL, e->endpoint);
	SET(CURLOPT_POST, 1L);
	SET(CURLOPT_HTTPHEADER, e->headers);
	SET(CURLOPT_USERAGENT, e->user_agent);
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
	SET(CURLOPT_ERRORBUFFER, e->errbuf);
#undef SET
	if (res != CURLE_OK) {
		log_error("export: curl setup: %s", curl_easy_strerror(res));
		return -EINVAL;
	}
	return 0;
}

struct exporter *exporter_start(const struct exporter_opts *o)
{
	pthread_condattr_t ca;
	sigset_t all, old;
	struct exporter *e;
	int err;

	if (!o || !o->endpoint || !endpoint_ok(o->endpoint)) {
		log_error("export: endpoint '%s' is not an http:// or https:// URL",
			  o && o->endpoint ? o->endpoint : "");
		errno = EINVAL;
		return NULL;
	}
	if (o->compression != COMPRESSION_NONE && o->compression != COMPRESSION_GZIP) {
		log_error("export: unknown compression %d", o->compression);
		errno = EINVAL;
		return NULL;
	}
	pthread_once(&curl_once, curl_init_once);
	if (curl_init_result != CURLE_OK) {
		log_error("export: curl_global_init: %s", curl_easy_strerror(curl_init_result));
		errno = ENOMEM;
		return NULL;
	}

	e = calloc(1, sizeof(*e));
	if (!e) {
		errno = ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&e->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&e->wake, &ca);
	pthread_condattr_destroy(&ca);

	e->gzip = o->compression == COMPRESSION_GZIP;
	e->batch_max = o->batch_max_spans ? o->batch_max_spans : EXPORTER_DEFAULT_BATCH_MAX_SPANS;
	if (e->batch_max > OTLP_MAX_SPANS)
		e->batch_max = OTLP_MAX_SPANS;
	e->queue_max = o->queue_max_spans ? o->queue_max_spans : EXPORTER_DEFAULT_QUEUE_MAX_SPANS;
	e->batch_timeout_ns = o->batch_timeout_ns ? o->batch_timeout_ns :
						    EXPORTER_DEFAULT_BATCH_TIMEOUT_NS;
	e->timeout_ns = o->timeout_ns ? o->timeout_ns : EXPORTER_DEFAULT_TIMEOUT_NS;
	e->retry_initial_ns = o->retry_initial_ns ? o->retry_initial_ns :
						    EXPORTER_DEFAULT_RETRY_INITIAL_NS;
	e->retry_max_ns = o->retry_max_ns ? o->retry_max_ns : EXPORTER_DEFAULT_RETRY_MAX_NS;
	e->retry_max_elapsed_ns = o->retry_max_elapsed_ns ? o->retry_max_elapsed_ns :
							    EXPORTER_DEFAULT_RETRY_MAX_ELAPSED_NS;
	e->rng = now_ns() ^ (uintptr_t)e ^ 0x9e3779b97f4a7c15ull;
	e->endpoint = strdup(o->endpoint);
	e->user_agent = strdup(o->user_agent ? o->user_agent : "spanbpf/" SPANBPF_VERSION);
	e->vec = calloc(e->batch_max, sizeof(*e->vec));
	if (!e->endpoint || !e->user_agent || !e->vec) {
		err = ENOMEM;
		goto fail;
	}
	err = -setup_curl(e);
	if (err)
		goto fail;
	/* The thread starts with every signal blocked: they belong to the main thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&e->thread, NULL, exporter_main, e);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		log_error("export: cannot start the export thread: %s", strerror(err));
		goto fail;
	}
	return e;
fail:
	if (err == ENOMEM)
		log_error("export: out of memory");
	exporter_free(e);
	errno = err;
	return NULL;
}
