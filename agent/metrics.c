// SPDX-License-Identifier: Apache-2.0
/*
 * metrics.c - the Prometheus text endpoint, on libmicrohttpd.
 *
 * The listening socket is made here (so a busy port or a bad address is
 * reported with its errno) and handed to libmicrohttpd, which serves it from
 * its internal polling thread.  Each scrape copies the published snapshot
 * under m->lock, runs the live callback, and renders both into a buffer
 * that libmicrohttpd frees after sending.
 */
#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "log.h"

#if MHD_VERSION >= 0x00097002
typedef enum MHD_Result mhd_result;
#else
typedef int mhd_result;
#endif

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define CONNECTION_LIMIT 32
#define CONNECTION_TIMEOUT_S 10

struct metrics {
	struct MHD_Daemon *daemon;
	int fd;
	uint16_t port;
	bool any;		/* listening on every address */
	uint8_t addr[16];	/* else this one, IPv4 mapped */
	metrics_live_fn live;
	void *ctx;
	pthread_mutex_t lock;
	struct metrics_snapshot published;	/* under lock */
};

bool metrics_add(struct metrics_snapshot *s, const char *name, const char *help, int type,
		 const char *labels, double value)
{
	if (s->n >= METRICS_MAX)
		return false;
	s->m[s->n++] = (struct metric){
		.name = name, .help = help, .labels = labels, .type = type, .value = value,
	};
	return true;
}

#define DROPPED_HELP "Spans the exporter did not deliver, by reason."
#define FAILURES_HELP "Export requests that failed, by class (connection, timeout, TLS, " \
		      "HTTP status)."

void metrics_add_exporter(struct metrics_snapshot *s, const struct exporter_stats *st)
{
	static const char *const class_labels[EXPORTER_FAIL_MAX] = {
		[EXPORTER_FAIL_CONNECT] = "class=\"connect\"",
		[EXPORTER_FAIL_TIMEOUT] = "class=\"timeout\"",
		[EXPORTER_FAIL_TLS] = "class=\"tls\"",
		[EXPORTER_FAIL_HTTP_429] = "class=\"http_429\"",
		[EXPORTER_FAIL_HTTP_502] = "class=\"http_502\"",
		[EXPORTER_FAIL_HTTP_503] = "class=\"http_503\"",
		[EXPORTER_FAIL_HTTP_504] = "class=\"http_504\"",
		[EXPORTER_FAIL_HTTP_4XX] = "class=\"http_4xx\"",
		[EXPORTER_FAIL_HTTP_5XX] = "class=\"http_5xx\"",
		[EXPORTER_FAIL_HTTP_OTHER] = "class=\"http_other\"",
		[EXPORTER_FAIL_OTHER] = "class=\"other\"",
	};

	metrics_add(s, "spanbpf_spans_submitted_total", "Spans handed to the exporter.",
		    METRIC_COUNTER, NULL, (double)st->submitted);
	metrics_add(s, "spanbpf_spans_exported_total", "Spans the collector accepted.",
		    METRIC_COUNTER, NULL, (double)st->exported);
	metrics_add(s, "spanbpf_spans_dropped_total", DROPPED_HELP, METRIC_COUNTER,
		    "reason=\"queue_full\"", (double)st->dropped_queue_full);
	metrics_add(s, "spanbpf_spans_dropped_total", DROPPED_HELP, METRIC_COUNTER,
		    "reason=\"rejected\"", (double)st->dropped_rejected);
	metrics_add(s, "spanbpf_spans_dropped_total", DROPPED_HELP, METRIC_COUNTER,
		    "reason=\"failed_status\"", (double)st->failed_status);
	metrics_add(s, "spanbpf_spans_dropped_total", DROPPED_HELP, METRIC_COUNTER,
		    "reason=\"retries_exhausted\"", (double)st->failed_retries_exhausted);
	metrics_add(s, "spanbpf_spans_dropped_total", DROPPED_HELP, METRIC_COUNTER,
		    "reason=\"undelivered_at_shutdown\"", (double)st->undelivered_at_shutdown);
	metrics_add(s, "spanbpf_export_requests_total", "OTLP export requests sent.",
		    METRIC_COUNTER, NULL, (double)st->requests);
	metrics_add(s, "spanbpf_export_retries_total",
		    "Export requests that were retries of a batch.", METRIC_COUNTER, NULL,
		    (double)st->retries);
	for (int i = 0; i < EXPORTER_FAIL_MAX; i++)
		metrics_add(s, "spanbpf_export_failures_total", FAILURES_HELP, METRIC_COUNTER,
			    class_labels[i], (double)st->failures[i]);
	metrics_add(s, "spanbpf_export_sent_bytes_total",
		    "Request body bytes sent to the collector (after compression).",
		    METRIC_COUNTER, NULL, (double)st->bytes_sent);
	metrics_add(s, "spanbpf_export_queue_length", "Spans waiting in the export queue.",
		    METRIC_GAUGE, NULL, (double)st->queued);
	metrics_add(s, "spanbpf_export_queue_capacity",
		    "Spans the export queue holds before dropping (queue.max_spans).",
		    METRIC_GAUGE, NULL, (double)st->queue_max);
	metrics_add(s, "spanbpf_export_in_flight_spans",
		    "Spans of the batch being sent or retried.", METRIC_GAUGE, NULL,
		    (double)st->in_flight);
}

/* ---- rendering ---------------------------------------------------------- */

struct buf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void __attribute__((format(printf, 2, 3))) put(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	size_t cap;
	char *p;
	int n;

	if (b->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		cap = b->cap * 2 + (size_t)n;
		p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
}

/* HELP text: backslash and newline escaped. */
static void put_help(struct buf *b, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '\\')
			put(b, "\\\\");
		else if (*s == '\n')
			put(b, "\\n");
		else
			put(b, "%c", *s);
	}
}

static void put_value(struct buf *b, double v)
{
	if (isnan(v))
		put(b, "NaN");
	else if (isinf(v))
		put(b, v > 0 ? "+Inf" : "-Inf");
	else if (v == floor(v) && fabs(v) < 9007199254740992.0)
		put(b, "%.0f", v);
	else
		put(b, "%.17g", v);
}

char *metrics_render(const struct metrics_snapshot *const *parts, size_t nparts, size_t *len)
{
	struct buf b = { .cap = 4096 };
	const struct metric **all;
	size_t n = 0, total = 0;
	bool *done;

	for (size_t p = 0; p < nparts; p++)
		total += parts[p] ? parts[p]->n : 0;
	all = calloc(total ? total : 1, sizeof(*all));
	done = calloc(total ? total : 1, sizeof(*done));
	b.p = malloc(b.cap);
	if (!all || !done || !b.p)
		goto fail;
	for (size_t p = 0; p < nparts; p++)
		for (size_t i = 0; parts[p] && i < parts[p]->n; i++)
			all[n++] = &parts[p]->m[i];
	b.p[0] = '\0';
	/* One family per name, in first-seen order: HELP, TYPE, then its samples. */
	for (size_t i = 0; i < n; i++) {
		if (done[i] || !all[i]->name)
			continue;
		put(&b, "# HELP %s ", all[i]->name);
		put_help(&b, all[i]->help);
		put(&b, "\n# TYPE %s %s\n", all[i]->name,
		    all[i]->type == METRIC_COUNTER ? "counter" : "gauge");
		for (size_t k = i; k < n; k++) {
			if (done[k] || !all[k]->name || strcmp(all[k]->name, all[i]->name) != 0)
				continue;
			done[k] = true;
			if (all[k]->labels && *all[k]->labels)
				put(&b, "%s{%s} ", all[k]->name, all[k]->labels);
			else
				put(&b, "%s ", all[k]->name);
			put_value(&b, all[k]->value);
			put(&b, "\n");
		}
	}
	if (b.oom)
		goto fail;
	free(all);
	free(done);
	*len = b.len;
	return b.p;
fail:
	free(all);
	free(done);
	free(b.p);
	return NULL;
}

/* ---- the server --------------------------------------------------------- */

/* This process's own resource usage, the Prometheus client libraries' names. */
static void add_process(struct metrics_snapshot *s)
{
	unsigned long pages_total, pages_rss;
	struct rusage ru;
	FILE *f;

	f = fopen("/proc/self/statm", "re");
	if (f) {
		if (fscanf(f, "%lu %lu", &pages_total, &pages_rss) == 2)
			metrics_add(s, "process_resident_memory_bytes",
				    "Resident memory size in bytes.", METRIC_GAUGE, NULL,
				    (double)pages_rss * (double)sysconf(_SC_PAGESIZE));
		fclose(f);
	}
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		metrics_add(s, "process_cpu_seconds_total",
			    "Total user and system CPU time spent in seconds.", METRIC_COUNTER,
			    NULL,
			    (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
				    (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
}

static mhd_result reply(struct MHD_Connection *c, unsigned int status, const char *text)
{
	struct MHD_Response *r;
	mhd_result ret;

	r = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static mhd_result on_request(void *cls, struct MHD_Connection *c, const char *url,
			     const char *method, const char *version, const char *upload_data,
			     size_t *upload_data_size, void **con_cls)
{
	struct metrics *m = cls;
	struct metrics_snapshot *snap;
	const struct metrics_snapshot *parts[2];
	struct MHD_Response *r;
	mhd_result ret;
	char *page;
	size_t len;

	if (strcmp(url, "/metrics") != 0)
		return reply(c, MHD_HTTP_NOT_FOUND, "not found: try /metrics\n");
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");

	snap = calloc(2, sizeof(*snap));
	if (!snap)
		return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory\n");
	pthread_mutex_lock(&m->lock);
	snap[0] = m->published;
	pthread_mutex_unlock(&m->lock);
	if (m->live)
		m->live(m->ctx, &snap[1]);
	add_process(&snap[1]);
	parts[0] = &snap[0];
	parts[1] = &snap[1];
	page = metrics_render(parts, 2, &len);
	free(snap);
	if (!page)
		return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory\n");
	r = MHD_create_response_from_buffer(len, page, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(page);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_TYPE);
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	size_t n;

	if (LOG_LEVEL_DEBUG > log_level_active)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n && line[n - 1] == '\n')
		line[--n] = '\0';
	log_debug("metrics: libmicrohttpd: %s", line);
}

int metrics_parse_listen(const char *listen, struct sockaddr_storage *addr, socklen_t *addrlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV }, *ai = NULL;
	char host[256];
	const char *colon, *port;
	unsigned long p;
	size_t hlen;
	char *end;

	if (!listen || !*listen)
		return -EINVAL;
	if (*listen == '[') {
		colon = strchr(listen, ']');
		if (!colon || colon[1] != ':')
			return -EINVAL;
		hlen = (size_t)(colon - listen - 1);
		if (hlen >= sizeof(host))
			return -EINVAL;
		memcpy(host, listen + 1, hlen);
		host[hlen] = '\0';
		port = colon + 2;
		hints.ai_family = AF_INET6;
		hints.ai_flags |= AI_NUMERICHOST;
	} else {
		colon = strrchr(listen, ':');
		if (!colon || memchr(listen, ':', (size_t)(colon - listen)))
			return -EINVAL;
		hlen = (size_t)(colon - listen);
		if (hlen >= sizeof(host))
			return -EINVAL;
		memcpy(host, listen, hlen);
		host[hlen] = '\0';
		port = colon + 1;
	}
	errno = 0;
	p = strtoul(port, &end, 10);
	if (!*port || *end || errno || p > 65535 || *port == '-' || *port == '+')
		return -EINVAL;
	memset(addr, 0, sizeof(*addr));
	if (!*host) {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)addr;

		/* Every address: [::] with IPV6_V6ONLY off (metrics_start falls back to IPv4). */
		a6->sin6_family = AF_INET6;
		a6->sin6_addr = in6addr_any;
		a6->sin6_port = htons((uint16_t)p);
		*addrlen = sizeof(*a6);
		return 0;
	}
	if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai)
		return -EINVAL;
	memcpy(addr, ai->ai_addr, ai->ai_addrlen);
	*addrlen = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

/* A listening socket on addr; -errno on failure. */
static int listen_on(struct sockaddr_storage *addr, socklen_t len, bool any)
{
	int fd, one = 1, zero = 0, err;

	fd = socket(addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 && any && (errno == EAFNOSUPPORT || errno == EPROTONOSUPPORT)) {
		struct sockaddr_in *a4 = (struct sockaddr_in *)addr;
		uint16_t port = ((struct sockaddr_in6 *)addr)->sin6_port;

		/* No IPv6 on this host: every IPv4 address. */
		memset(addr, 0, sizeof(*addr));
		a4->sin_family = AF_INET;
		a4->sin_addr.s_addr = htonl(INADDR_ANY);
		a4->sin_port = port;
		len = sizeof(*a4);
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	}
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (addr->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, any ? &zero : &one, sizeof(int));
	if (bind(fd, (struct sockaddr *)addr, len) || listen(fd, 64)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* Remember the address and port listened on, IPv4 mapped as the kernel side has them. */
static void note_bound(struct metrics *m, const struct sockaddr_storage *a)
{
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)a;

		m->port = ntohs(a6->sin6_port);
		memcpy(m->addr, &a6->sin6_addr, 16);
		m->any = IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr);
	} else {
		const struct sockaddr_in *a4 = (const struct sockaddr_in *)a;

		m->port = ntohs(a4->sin_port);
		memset(m->addr, 0, 10);
		m->addr[10] = m->addr[11] = 0xff;
		memcpy(m->addr + 12, &a4->sin_addr, 4);
		m->any = a4->sin_addr.s_addr == htonl(INADDR_ANY);
	}
}

bool metrics_is_self_peer(const struct metrics *m, const uint8_t laddr[16],
			  const uint8_t raddr[16], uint16_t rport)
{
	if (!m || rport != m->port)
		return false;
	if (m->any)
		return memcmp(raddr, laddr, 16) == 0;
	return memcmp(raddr, m->addr, 16) == 0;
}

struct metrics *metrics_start(const char *listen, metrics_live_fn live, void *ctx)
{
	struct sockaddr_storage addr, bound;
	socklen_t len, blen = sizeof(bound);
	sigset_t all, old;
	struct metrics *m;
	int fd, err;

	err = metrics_parse_listen(listen, &addr, &len);
	if (err) {
		log_error("metrics: cannot listen on '%s': not HOST:PORT, :PORT or [IPV6]:PORT",
			  listen ? listen : "");
		errno = -err;
		return NULL;
	}
	fd = listen_on(&addr, len, listen[0] == ':');
	if (fd < 0) {
		log_error("metrics: cannot listen on %s: %s", listen, strerror(-fd));
		errno = -fd;
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	m->fd = fd;
	m->live = live;
	m->ctx = ctx;
	pthread_mutex_init(&m->lock, NULL);
	if (getsockname(fd, (struct sockaddr *)&bound, &blen) == 0)
		note_bound(m, &bound);

	/* libmicrohttpd's thread inherits this mask: signals belong to the main thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	m->daemon = MHD_start_daemon(MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD |
					     MHD_USE_ERROR_LOG,
				     0, NULL, NULL, on_request, m,
				     MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
				     MHD_OPTION_LISTEN_SOCKET, fd,
				     MHD_OPTION_CONNECTION_LIMIT, (unsigned int)CONNECTION_LIMIT,
				     MHD_OPTION_CONNECTION_TIMEOUT,
				     (unsigned int)CONNECTION_TIMEOUT_S,
				     MHD_OPTION_END);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!m->daemon) {
		log_error("metrics: cannot start the HTTP server on %s", listen);
		close(fd);
		pthread_mutex_destroy(&m->lock);
		free(m);
		errno = EIO;
		return NULL;
	}
	log_info("metrics: serving http://%s/metrics", listen);
	return m;
}

uint16_t metrics_port(const struct metrics *m)
{
	return m ? m->port : 0;
}

void metrics_publish(struct metrics *m, const struct metrics_snapshot *s)
{
	if (!m || !s)
		return;
	pthread_mutex_lock(&m->lock);
	m->published.n = s->n > METRICS_MAX ? METRICS_MAX : s->n;
	memcpy(m->published.m, s->m, m->published.n * sizeof(s->m[0]));
	pthread_mutex_unlock(&m->lock);
}

void metrics_stop(struct metrics *m)
{
	if (!m)
		return;
	/* This closes the listening socket too (MHD owns it once started). */
	MHD_stop_daemon(m->daemon);
	pthread_mutex_destroy(&m->lock);
	free(m);
}
