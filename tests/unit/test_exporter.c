// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests for exporter.c against a scripted HTTP/1.1 collector running
 * in a thread of the test (plain sockets on 127.0.0.1, ephemeral port).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <malloc.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h>

#include "config.h"
#include "exporter.h"
#include "log.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "otlp.h"
#include "span.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest pb_request;
typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse pb_response;
typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTracePartialSuccess pb_partial;
typedef Opentelemetry__Proto__Trace__V1__ScopeSpans pb_scope_spans;

#define MS 1000000ull
#define MAX_REQS 64
#define MAX_IDS 64
#define MAX_CONNS 8
#define CONN_BUF (256 * 1024)

/* ---- the scripted collector --------------------------------------------- */

enum action {
	A_OK,		/* 200, empty body */
	A_PARTIAL,	/* 200 with partial_success (srv.rejected spans) */
	A_GARBAGE,	/* 200 with a body that is not protobuf */
	A_503_RA,	/* 503 + Retry-After: 1 */
	A_503,		/* 503 without Retry-After */
	A_429,		/* 429 */
	A_400,		/* 400 with a text message */
	A_400_PB,	/* 400 with a google.rpc.Status protobuf body */
	A_500,		/* 500 */
	A_CLOSE,	/* close without an answer */
	A_HANG,		/* never answer */
};

struct request {
	char head[2048];
	uint8_t *body;		/* decompressed when Content-Encoding: gzip */
	size_t body_len;
	enum action action;
	int conn;		/* connection number, from 1 */
	uint64_t at_ns;
	size_t nids;		/* spans in the request */
	uint64_t ids[MAX_IDS];	/* their span ids */
};

struct conn {
	int fd;
	int no;
	bool hung;
	size_t len;
	uint8_t *buf;
};

static struct server {
	int lfd;
	uint16_t port;
	pthread_t thread;
	pthread_mutex_t lock;
	bool quit;
	enum action script[32];
	size_t nscript, next;
	int64_t rejected;
	int nconns;
	size_t nreqs;
	struct request reqs[MAX_REQS];
	struct conn conns[MAX_CONNS];
} srv;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static void send_all(int fd, const void *p, size_t len)
{
	ssize_t w;

	while (len) {
		w = send(fd, p, len, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		p = (const char *)p + w;
		len -= (size_t)w;
	}
}

static const char *find_header(const char *head, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = strstr(head, "\r\n"); p; p = strstr(p + 2, "\r\n"))
		if (strncasecmp(p + 2, name, n) == 0 && p[2 + n] == ':')
			return p + 3 + n + strspn(p + 3 + n, " ");
	return NULL;
}

static uint8_t *gunzip(const uint8_t *in, size_t len, size_t *out_len)
{
	size_t cap = 1 << 20;
	uint8_t *out = malloc(cap);
	z_stream zs = { 0 };

	if (!out || inflateInit2(&zs, 15 + 16) != Z_OK)
		return NULL;
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)len;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	if (inflate(&zs, Z_FINISH) != Z_STREAM_END) {
		inflateEnd(&zs);
		free(out);
		return NULL;
	}
	*out_len = zs.total_out;
	inflateEnd(&zs);
	return out;
}

/* Whether head has header name with exactly this value. */
static bool header_is(const char *head, const char *name, const char *value)
{
	const char *v = find_header(head, name);
	size_t n = strlen(value);

	return v && strncmp(v, value, n) == 0 && v[n] == '\r';
}

/* Record one request: decompress and decode its spans' ids. */
static void record(struct request *r, const char *head, size_t head_len, const uint8_t *body,
		   size_t len)
{
	const char *enc;
	pb_request *req;

	memcpy(r->head, head, head_len < sizeof(r->head) ? head_len : sizeof(r->head) - 1);
	r->at_ns = now_ns();
	enc = find_header(r->head, "Content-Encoding");
	if (enc && strncmp(enc, "gzip", 4) == 0) {
		r->body = gunzip(body, len, &r->body_len);
	} else {
		r->body = malloc(len + 1);
		memcpy(r->body, body, len);
		r->body_len = len;
	}
	if (!r->body)
		return;
	req = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
		NULL, r->body_len, r->body);
	if (!req)
		return;
	for (size_t i = 0; i < req->n_resource_spans; i++) {
		pb_scope_spans *ss = req->resource_spans[i]->scope_spans[0];

		for (size_t k = 0; k < ss->n_spans; k++) {
			uint64_t id = 0;

			memcpy(&id, ss->spans[k]->span_id.data, 8);
			if (r->nids < MAX_IDS)
				r->ids[r->nids] = id;
			r->nids++;
		}
	}
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(
		req, NULL);
}

static void answer(struct conn *c, enum action a, int64_t rejected)
{
	static const char rpc_status[] = "\x08\x03\x12\x0fspans malformed";
	char buf[512];
	uint8_t pb[256];
	pb_response resp =
		OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_RESPONSE__INIT;
	pb_partial ps =
		OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_PARTIAL_SUCCESS__INIT;
	size_t len;
	int n = 0;

	switch (a) {
	case A_OK:
		n = snprintf(buf, sizeof(buf), "HTTP/1.1 200 OK\r\nContent-Type: "
			     "application/x-protobuf\r\nContent-Length: 0\r\n\r\n");
		break;
	case A_PARTIAL:
		ps.rejected_spans = rejected;
		ps.error_message = "bad\nspans \x01 here";
		resp.partial_success = &ps;
		len = protobuf_c_message_pack(&resp.base, pb);
		n = snprintf(buf, sizeof(buf), "HTTP/1.1 200 OK\r\nContent-Type: "
			     "application/x-protobuf\r\nContent-Length: %zu\r\n\r\n", len);
		memcpy(buf + n, pb, len);
		n += (int)len;
		break;
	case A_GARBAGE:
		n = snprintf(buf, sizeof(buf), "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"
			     "\xff\xff\xff\xff\xff\xff\xff\xff\xff");
		break;
	case A_503_RA:
		n = snprintf(buf, sizeof(buf), "HTTP/1.1 503 Service Unavailable\r\n"
			     "Retry-After: 1\r\nContent-Length: 0\r\n\r\n");
		break;
	case A_503:
		n = snprintf(buf, sizeof(buf), "HTTP/1.1 503 Service Unavailable\r\n"
			     "Content-Length: 4\r\n\r\nbusy");
		break;
	case A_429:
		n = snprintf(buf, sizeof(buf), "HTTP/1.1 429 Too Many Requests\r\n"
			     "Content-Length: 0\r\n\r\n");
		break;
	case A_400:
		n = snprintf(buf, sizeof(buf), "HTTP/1.1 400 Bad Request\r\nContent-Type: "
			     "text/plain\r\nContent-Length: 26\r\n\r\n"
			     "bad request:\x01\x02 field\r\nnope");
		break;
	case A_400_PB:
		n = snprintf(buf, sizeof(buf), "HTTP/1.1 400 Bad Request\r\nContent-Type: "
			     "application/x-protobuf\r\nContent-Length: %zu\r\n\r\n",
			     sizeof(rpc_status) - 1);
		memcpy(buf + n, rpc_status, sizeof(rpc_status) - 1);
		n += (int)sizeof(rpc_status) - 1;
		break;
	case A_500:
		n = snprintf(buf, sizeof(buf), "HTTP/1.1 500 Internal Server Error\r\n"
			     "Content-Length: 5\r\n\r\noops!");
		break;
	case A_CLOSE:
		close(c->fd);
		c->fd = -1;
		return;
	case A_HANG:
		c->hung = true;
		return;
	}
	send_all(c->fd, buf, (size_t)n);
}

/* Serve every complete request in c's buffer. */
static void serve(struct conn *c)
{
	const char *cl;
	uint8_t *end;
	size_t head_len, body_len;
	enum action a;
	struct request *r;
	int64_t rejected;

	while (c->fd >= 0 && !c->hung) {
		c->buf[c->len] = '\0';
		end = (uint8_t *)strstr((char *)c->buf, "\r\n\r\n");
		if (!end)
			return;
		head_len = (size_t)(end - c->buf) + 4;
		end[2] = '\0';
		cl = find_header((char *)c->buf, "Content-Length");
		body_len = cl ? strtoul(cl, NULL, 10) : 0;
		end[2] = '\r';
		if (c->len < head_len + body_len)
			return;

		pthread_mutex_lock(&srv.lock);
		a = srv.next < srv.nscript ? srv.script[srv.next++] : A_OK;
		rejected = srv.rejected;
		if (srv.nreqs < MAX_REQS) {
			r = &srv.reqs[srv.nreqs];
			record(r, (char *)c->buf, head_len, c->buf + head_len, body_len);
			r->action = a;
			r->conn = c->no;
			srv.nreqs++;
		}
		pthread_mutex_unlock(&srv.lock);

		c->len -= head_len + body_len;
		memmove(c->buf, c->buf + head_len + body_len, c->len);
		answer(c, a, rejected);
	}
}

static void *server_main(void *arg)
{
	struct pollfd pfd[MAX_CONNS + 1];
	ssize_t r;
	int fd;

	for (;;) {
		pthread_mutex_lock(&srv.lock);
		if (srv.quit) {
			pthread_mutex_unlock(&srv.lock);
			break;
		}
		pthread_mutex_unlock(&srv.lock);

		pfd[0].fd = srv.lfd;
		pfd[0].events = POLLIN;
		for (int i = 0; i < MAX_CONNS; i++) {
			pfd[i + 1].fd = srv.conns[i].fd;
			pfd[i + 1].events = POLLIN;
		}
		if (poll(pfd, MAX_CONNS + 1, 10) <= 0)
			continue;
		if (pfd[0].revents & POLLIN) {
			fd = accept(srv.lfd, NULL, NULL);
			for (int i = 0; fd >= 0 && i < MAX_CONNS; i++) {
				if (srv.conns[i].fd >= 0)
					continue;
				pthread_mutex_lock(&srv.lock);
				srv.conns[i].no = ++srv.nconns;
				pthread_mutex_unlock(&srv.lock);
				srv.conns[i].fd = fd;
				srv.conns[i].len = 0;
				srv.conns[i].hung = false;
				fd = -1;
			}
			if (fd >= 0)
				close(fd);
		}
		for (int i = 0; i < MAX_CONNS; i++) {
			struct conn *c = &srv.conns[i];

			if (c->fd < 0 || !(pfd[i + 1].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			r = recv(c->fd, c->buf + c->len, CONN_BUF - 1 - c->len, 0);
			if (r <= 0) {
				close(c->fd);
				c->fd = -1;
				continue;
			}
			c->len += (size_t)r;
			serve(c);
		}
	}
	return NULL;
}

static void server_free_records(void)
{
	for (size_t i = 0; i < srv.nreqs && i < MAX_REQS; i++)
		free(srv.reqs[i].body);
	srv.nreqs = 0;
}

/* Start the collector with a script of answers (then 200 for ever). */
static void server_start(const enum action *script, size_t n)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);

	server_free_records();
	memset(&srv, 0, sizeof(srv));
	pthread_mutex_init(&srv.lock, NULL);
	if (n)
		memcpy(srv.script, script, n * sizeof(*script));
	srv.nscript = n;
	for (int i = 0; i < MAX_CONNS; i++) {
		srv.conns[i].fd = -1;
		srv.conns[i].buf = malloc(CONN_BUF);
		assert_non_null(srv.conns[i].buf);
	}
	srv.lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(srv.lfd >= 0);
	assert_int_equal(bind(srv.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(srv.lfd, 16), 0);
	assert_int_equal(getsockname(srv.lfd, (struct sockaddr *)&sa, &sl), 0);
	srv.port = ntohs(sa.sin_port);
	assert_int_equal(pthread_create(&srv.thread, NULL, server_main, NULL), 0);
}

/* Stop the collector; its records stay readable until the next start. */
static void server_stop(void)
{
	pthread_mutex_lock(&srv.lock);
	srv.quit = true;
	pthread_mutex_unlock(&srv.lock);
	pthread_join(srv.thread, NULL);
	close(srv.lfd);
	for (int i = 0; i < MAX_CONNS; i++) {
		if (srv.conns[i].fd >= 0)
			close(srv.conns[i].fd);
		free(srv.conns[i].buf);
	}
	pthread_mutex_destroy(&srv.lock);
}

static size_t server_nreqs(void)
{
	size_t n;

	pthread_mutex_lock(&srv.lock);
	n = srv.nreqs;
	pthread_mutex_unlock(&srv.lock);
	return n;
}

/* Wait up to ms for the collector to have seen n requests. */
static bool wait_reqs(size_t n, unsigned int ms)
{
	uint64_t end = now_ns() + ms * MS;

	while (server_nreqs() < n) {
		if (now_ns() > end)
			return false;
		sleep_ms(2);
	}
	return true;
}

/* ---- helpers ------------------------------------------------------------ */

static uint64_t next_id = 1;

static struct span *mk_span(struct resource *res)
{
	struct span *s = span_new(256);
	uint64_t id = next_id++;
	char name[32];

	assert_non_null(s);
	s->resource = resource_ref(res);
	memset(s->trace_id, 0x5a, sizeof(s->trace_id));
	memcpy(s->span_id, &id, sizeof(id));
	s->kind = SPAN_KIND_SERVER;
	s->trace_flags = 1;
	s->start_unix_ns = 1000 * id;
	s->end_unix_ns = 1000 * id + 500;
	snprintf(name, sizeof(name), "GET /%llu", (unsigned long long)id);
	assert_int_equal(span_set_name(s, name), 0);
	assert_int_equal(span_add_str(s, "http.request.method", "GET"), 0);
	assert_int_equal(span_add_int(s, "http.response.status_code", 200), 0);
	return s;
}

static struct exporter_opts base_opts(char *url, size_t len, uint16_t port)
{
	struct exporter_opts o = {
		.endpoint = url,
		.compression = COMPRESSION_NONE,
		.batch_max_spans = 10,
		.batch_timeout_ns = 30000 * MS,	/* batches leave when full: in step */
		.timeout_ns = 2000 * MS,
		.retry_initial_ns = 20 * MS,
		.retry_max_ns = 200 * MS,
		.retry_max_elapsed_ns = 5000 * MS,
	};

	snprintf(url, len, "http://127.0.0.1:%u/v1/traces", port);
	return o;
}

static struct exporter_stats stats(struct exporter *e)
{
	struct exporter_stats st;

	exporter_stats(e, &st);
	return st;
}

/* Wait up to ms until exported + rejected + failed reaches n. */
static bool wait_settled(struct exporter *e, uint64_t n, unsigned int ms)
{
	uint64_t end = now_ns() + ms * MS;
	struct exporter_stats st;

	for (;;) {
		st = stats(e);
		if (st.exported + st.dropped_rejected + st.failed >= n)
			return true;
		if (now_ns() > end)
			return false;
		sleep_ms(2);
	}
}

/* Every span offered is in exactly one outcome, or still queued or in flight. */
static void assert_accounted(const struct exporter_stats *st)
{
	uint64_t sum = st->dropped_queue_full + st->exported + st->dropped_rejected +
		       st->failed_status + st->failed_retries_exhausted +
		       st->undelivered_at_shutdown + st->queued + st->in_flight;
	uint64_t fails = 0;

	assert_int_equal(st->submitted, sum);
	assert_int_equal(st->failed, st->failed_status + st->failed_retries_exhausted +
					     st->undelivered_at_shutdown);
	for (int i = 0; i < EXPORTER_FAIL_MAX; i++)
		fails += st->failures[i];
	assert_true(fails <= st->requests);
}

static struct resource *res;

static int setup(void **state)
{
	res = resource_new(42);
	resource_add_str(res, "service.name", "test");
	return 0;
}

static int teardown(void **state)
{
	server_free_records();
	resource_unref(res);
	return 0;
}

/* Times a span id was delivered (in a request answered 2xx). */
static int delivered_count(uint64_t id)
{
	int n = 0;

	for (size_t i = 0; i < srv.nreqs; i++) {
		enum action a = srv.reqs[i].action;

		if (a != A_OK && a != A_PARTIAL && a != A_GARBAGE)
			continue;
		for (size_t k = 0; k < srv.reqs[i].nids; k++)
			n += srv.reqs[i].ids[k] == id;
	}
	return n;
}

/* ---- tests -------------------------------------------------------------- */

/* Full batches go at once over one kept-alive connection; the rest on stop. */
static void test_batch_size(void **state)
{
	char url[64];
	struct exporter_opts o;
	struct exporter *e;

	server_start(NULL, 0);
	o = base_opts(url, sizeof(url), srv.port);
	o.batch_max_spans = 5;
	o.batch_timeout_ns = 30000 * MS;
	e = exporter_start(&o);
	assert_non_null(e);
	for (int i = 0; i < 12; i++)
		assert_true(exporter_submit(e, mk_span(res)));
	assert_true(wait_reqs(2, 3000));
	sleep_ms(100);
	assert_int_equal(server_nreqs(), 2);
	assert_int_equal(stats(e).queued, 2);
	assert_int_equal(exporter_stop(e, 2000 * MS), 0);
	server_stop();

	assert_int_equal(srv.nreqs, 3);
	assert_int_equal(srv.reqs[0].nids, 5);
	assert_int_equal(srv.reqs[1].nids, 5);
	assert_int_equal(srv.reqs[2].nids, 2);
	assert_int_equal(srv.nconns, 1);	/* one connection, reused */
	for (size_t i = 0; i < 3; i++) {
		assert_non_null(strstr(srv.reqs[i].head, "POST /v1/traces HTTP/1.1\r\n"));
		assert_true(header_is(srv.reqs[i].head, "Content-Type", "application/x-protobuf"));
		assert_null(find_header(srv.reqs[i].head, "Content-Encoding"));
		assert_null(find_header(srv.reqs[i].head, "Expect"));
		assert_true(header_is(srv.reqs[i].head, "User-Agent", "spanbpf/" SPANBPF_VERSION));
	}
}

/* A partial batch leaves batch_timeout after its oldest span, not before. */
static void test_batch_timeout(void **state)
{
	char url[64];
	struct exporter_opts o;
	struct exporter *e;
	uint64_t t0;

	server_start(NULL, 0);
	o = base_opts(url, sizeof(url), srv.port);
	o.batch_max_spans = 100;
	o.batch_timeout_ns = 150 * MS;
	e = exporter_start(&o);
	assert_non_null(e);

	for (int round = 0; round < 2; round++) {
		t0 = now_ns();
		for (int i = 0; i < 3; i++)
			assert_true(exporter_submit(e, mk_span(res)));
		assert_true(wait_reqs((size_t)round + 1, 3000));
		assert_true(srv.reqs[round].at_ns - t0 >= 140 * MS);
		assert_true(srv.reqs[round].at_ns - t0 < 2000 * MS);
		assert_int_equal(srv.reqs[round].nids, 3);
	}
	assert_true(wait_settled(e, 6, 2000));
	assert_int_equal(stats(e).exported, 6);
	assert_int_equal(exporter_stop(e, 1000 * MS), 0);
	server_stop();
}

/* gzip: the header is set and the body inflates to exactly the spans sent. */
static void test_gzip_body(void **state)
{
	char url[64];
	struct exporter_opts o;
	struct exporter *e;
	struct span *sent[3];
	pb_request *req;
	pb_scope_spans *ss;
	uint64_t first = next_id;

	server_start(NULL, 0);
	o = base_opts(url, sizeof(url), srv.port);
	o.compression = COMPRESSION_GZIP;
	o.batch_max_spans = 3;
	o.user_agent = "custom-agent/1";
	e = exporter_start(&o);
	assert_non_null(e);
	for (int i = 0; i < 3; i++) {
		sent[i] = mk_span(res);
		assert_true(exporter_submit(e, sent[i]));
	}
	assert_true(wait_settled(e, 3, 3000));
	assert_int_equal(exporter_stop(e, 1000 * MS), 0);
	server_stop();

	assert_int_equal(srv.nreqs, 1);
	assert_true(header_is(srv.reqs[0].head, "Content-Encoding", "gzip"));
	assert_true(header_is(srv.reqs[0].head, "User-Agent", "custom-agent/1"));
	assert_non_null(srv.reqs[0].body);
	req = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
		NULL, srv.reqs[0].body_len, srv.reqs[0].body);
	assert_non_null(req);
	assert_int_equal(req->n_resource_spans, 1);
	assert_string_equal(req->resource_spans[0]->resource->attributes[0]->value->string_value,
			    "test");
	ss = req->resource_spans[0]->scope_spans[0];
	assert_int_equal(ss->n_spans, 3);
	for (size_t i = 0; i < 3; i++) {
		uint64_t id = first + i;
		char name[32];

		snprintf(name, sizeof(name), "GET /%llu", (unsigned long long)id);
		assert_memory_equal(ss->spans[i]->span_id.data, &id, 8);
		assert_string_equal(ss->spans[i]->name, name);
		assert_int_equal(ss->spans[i]->n_attributes, 2);
		assert_true(ss->spans[i]->start_time_unix_nano == 1000 * id);
	}
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(
		req, NULL);
}

/*
 * A connection closed without an answer, 503 + Retry-After, 429, then 200:
 * each span delivered once.  (The close comes first: on a reused connection
 * curl itself resends once on a fresh one, which the exporter never sees.)
 */
static void test_retry_then_success(void **state)
{
	static const enum action script[] = { A_CLOSE, A_503_RA, A_429, A_OK };
	char url[64];
	struct exporter_opts o;
	struct exporter *e;
	struct exporter_stats st;
	uint64_t first = next_id, t0;

	server_start(script, 4);
	o = base_opts(url, sizeof(url), srv.port);
	o.batch_max_spans = 4;
	o.retry_max_ns = 2000 * MS;	/* Retry-After is capped by retry_max_ns */
	e = exporter_start(&o);
	assert_non_null(e);
	t0 = now_ns();
	for (int i = 0; i < 4; i++)
		assert_true(exporter_submit(e, mk_span(res)));
	assert_true(wait_settled(e, 4, 6000));
	st = stats(e);
	assert_int_equal(st.exported, 4);
	assert_int_equal(st.failed, 0);
	assert_int_equal(st.requests, 4);
	assert_int_equal(st.retries, 3);
	assert_int_equal(st.failures[EXPORTER_FAIL_CONNECT], 1);
	assert_int_equal(st.failures[EXPORTER_FAIL_HTTP_503], 1);
	assert_int_equal(st.failures[EXPORTER_FAIL_HTTP_429], 1);
	assert_accounted(&st);
	assert_true(st.bytes_sent > 0);
	assert_true(now_ns() - t0 < 5000 * MS);

	/* A later batch carries only new spans: nothing delivered is sent again. */
	for (int i = 0; i < 4; i++)
		assert_true(exporter_submit(e, mk_span(res)));
	assert_true(wait_settled(e, 8, 3000));
	assert_int_equal(exporter_stop(e, 1000 * MS), 0);
	server_stop();

	assert_int_equal(srv.nreqs, 5);
	/* Retry-After: 1 was honoured before the third attempt. */
	assert_true(srv.reqs[2].at_ns - srv.reqs[1].at_ns >= 950 * MS);
	for (uint64_t id = first; id < first + 8; id++)
		assert_int_equal(delivered_count(id), 1);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(srv.reqs[i].nids, 4);
	assert_true(srv.nconns >= 2);	/* reconnected after the close */
}

/* Redirect stderr into a file while fn runs; returns what was logged. */
static char *capture_stderr_begin(int *saved)
{
	char *path = strdup("/tmp/test_exporter_XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	fflush(stderr);
	*saved = dup(2);
	dup2(fd, 2);
	close(fd);
	return path;
}

static char *capture_stderr_end(int saved, char *path)
{
	char *text = calloc(1, 65536);
	FILE *f;

	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	f = fopen(path, "r");
	assert_non_null(f);
	if (fread(text, 1, 65535, f) == 0)
		text[0] = '\0';
	fclose(f);
	unlink(path);
	free(path);
	return text;
}

/* 400 and 500 drop the batch without retry, log the collector's words, go on. */
static void test_non_retryable(void **state)
{
	static const enum action script[] = { A_400, A_400_PB, A_500, A_OK };
	char url[64], *path, *log;
	struct exporter_opts o;
	struct exporter *e;
	struct exporter_stats st;
	int saved;

	server_start(script, 4);
	o = base_opts(url, sizeof(url), srv.port);
	o.batch_max_spans = 3;
	path = capture_stderr_begin(&saved);
	e = exporter_start(&o);
	assert_non_null(e);
	for (int round = 0; round < 4; round++) {
		for (int i = 0; i < 3; i++)
			assert_true(exporter_submit(e, mk_span(res)));
		assert_true(wait_settled(e, 3 * ((uint64_t)round + 1), 3000));
	}
	st = stats(e);
	assert_int_equal(exporter_stop(e, 1000 * MS), 0);
	server_stop();
	log = capture_stderr_end(saved, path);

	assert_int_equal(st.failed, 9);
	assert_int_equal(st.failed_status, 9);
	assert_int_equal(st.exported, 3);
	assert_int_equal(st.requests, 4);
	assert_int_equal(st.retries, 0);
	assert_int_equal(st.failures[EXPORTER_FAIL_HTTP_4XX], 2);
	assert_int_equal(st.failures[EXPORTER_FAIL_HTTP_5XX], 1);
	assert_accounted(&st);
	assert_int_equal(srv.nreqs, 4);
	assert_non_null(strstr(log, "HTTP 400: bad request:?? field  nope"));
	assert_non_null(strstr(log, "HTTP 400: spans malformed"));
	assert_non_null(strstr(log, "HTTP 500: oops!"));
	free(log);
}

/* partial_success: rejected spans are counted, not retried; garbage 2xx is fine. */
static void test_partial_success(void **state)
{
	static const enum action script[] = { A_PARTIAL, A_GARBAGE, A_PARTIAL };
	char url[64];
	struct exporter_opts o;
	struct exporter *e;
	struct exporter_stats st;

	server_start(script, 3);
	pthread_mutex_lock(&srv.lock);
	srv.rejected = 2;
	pthread_mutex_unlock(&srv.lock);
	o = base_opts(url, sizeof(url), srv.port);
	o.batch_max_spans = 5;
	e = exporter_start(&o);
	assert_non_null(e);
	for (int i = 0; i < 10; i++)
		assert_true(exporter_submit(e, mk_span(res)));
	assert_true(wait_settled(e, 10, 3000));
	st = stats(e);
	assert_int_equal(st.dropped_rejected, 2);
	assert_int_equal(st.exported, 8);
	assert_int_equal(st.requests, 2);

	/* A collector claiming more rejections than spans sent is capped. */
	pthread_mutex_lock(&srv.lock);
	srv.rejected = 1000;
	pthread_mutex_unlock(&srv.lock);
	for (int i = 0; i < 5; i++)
		assert_true(exporter_submit(e, mk_span(res)));
	assert_true(wait_settled(e, 15, 3000));
	st = stats(e);
	assert_int_equal(st.dropped_rejected, 7);
	assert_int_equal(st.exported, 8);
	assert_int_equal(st.failed, 0);
	assert_accounted(&st);
	assert_int_equal(exporter_stop(e, 1000 * MS), 0);
	server_stop();
}

/*
 * While a request hangs, the queue fills: submit drops and counts without
 * blocking, and stop cuts the request short and reports what was lost.
 */
static void test_queue_full_and_stop_in_flight(void **state)
{
	static const enum action script[] = { A_HANG };
	char url[64];
	struct exporter_opts o;
	struct exporter *e;
	struct exporter_stats st;
	uint64_t t0, worst = 0, d;
	int accepted = 0;

	server_start(script, 1);
	o = base_opts(url, sizeof(url), srv.port);
	o.batch_max_spans = 2;
	o.queue_max_spans = 4;
	o.timeout_ns = 30000 * MS;
	e = exporter_start(&o);
	assert_non_null(e);
	assert_true(exporter_submit(e, mk_span(res)));
	assert_true(exporter_submit(e, mk_span(res)));
	assert_true(wait_reqs(1, 3000));

	for (int i = 0; i < 10; i++) {
		t0 = now_ns();
		accepted += exporter_submit(e, mk_span(res));
		d = now_ns() - t0;
		worst = d > worst ? d : worst;
	}
	assert_int_equal(accepted, 4);
	assert_true(worst < 100 * MS);
	st = stats(e);
	assert_int_equal(st.dropped_queue_full, 6);
	assert_int_equal(st.queued, 4);

	assert_int_equal(st.in_flight, 2);
	assert_accounted(&st);
	t0 = now_ns();
	assert_int_equal(exporter_shutdown(e, 300 * MS), 6);
	d = now_ns() - t0;
	assert_true(d >= 250 * MS);
	assert_true(d < 1000 * MS);
	st = stats(e);
	assert_int_equal(st.undelivered_at_shutdown, 6);
	assert_int_equal(st.queued + st.in_flight, 0);
	assert_int_equal(st.failures[EXPORTER_FAIL_TIMEOUT], 1);	/* cut at the deadline */
	assert_accounted(&st);
	exporter_free(e);
	server_stop();
}

/* Stop sends everything queued, in batches, well within its deadline. */
static void test_stop_flushes(void **state)
{
	char url[64];
	struct exporter_opts o;
	struct exporter *e;
	uint64_t t0;
	size_t total = 0;

	server_start(NULL, 0);
	o = base_opts(url, sizeof(url), srv.port);
	o.compression = COMPRESSION_GZIP;
	o.batch_max_spans = 10;
	o.batch_timeout_ns = 30000 * MS;
	e = exporter_start(&o);
	assert_non_null(e);
	for (int i = 0; i < 35; i++)
		assert_true(exporter_submit(e, mk_span(res)));
	t0 = now_ns();
	assert_int_equal(exporter_stop(e, 3000 * MS), 0);
	assert_true(now_ns() - t0 < 2000 * MS);
	server_stop();
	for (size_t i = 0; i < srv.nreqs; i++) {
		assert_true(srv.reqs[i].nids <= 10);
		total += srv.reqs[i].nids;
	}
	assert_int_equal(total, 35);
	assert_int_equal(srv.nreqs, 4);
}

/* No collector at all: stop gives up at its deadline and counts every span. */
static void test_stop_server_gone(void **state)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	char url[64];
	struct exporter_opts o;
	struct exporter *e;
	struct exporter_stats st;
	uint64_t t0, d;
	int fd;

	/* A port bound but not listening: refused, and nobody else can take it. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);

	o = base_opts(url, sizeof(url), ntohs(sa.sin_port));
	o.batch_max_spans = 4;
	o.batch_timeout_ns = 20 * MS;
	o.retry_initial_ns = 50 * MS;
	e = exporter_start(&o);
	assert_non_null(e);
	for (int i = 0; i < 10; i++)
		assert_true(exporter_submit(e, mk_span(res)));
	sleep_ms(150);
	st = stats(e);
	assert_true(st.requests >= 2);
	assert_int_equal(st.exported, 0);

	assert_true(st.failures[EXPORTER_FAIL_CONNECT] >= 2);
	assert_int_equal(st.failures[EXPORTER_FAIL_CONNECT], st.requests);
	t0 = now_ns();
	assert_int_equal(exporter_shutdown(e, 300 * MS), 10);
	d = now_ns() - t0;
	assert_true(d < 800 * MS);
	st = stats(e);
	assert_int_equal(st.undelivered_at_shutdown, 10);
	assert_accounted(&st);
	exporter_free(e);
	close(fd);
}

/* A collector that keeps answering 503 makes the batch fail after the budget. */
static void test_retry_budget(void **state)
{
	static const enum action script[] = { A_503, A_503, A_503, A_503, A_503, A_503, A_503,
					      A_503, A_503, A_503, A_503, A_503, A_503, A_503 };
	char url[64];
	struct exporter_opts o;
	struct exporter *e;
	struct exporter_stats st;

	server_start(script, sizeof(script) / sizeof(script[0]));
	o = base_opts(url, sizeof(url), srv.port);
	o.batch_max_spans = 2;
	o.retry_initial_ns = 20 * MS;
	o.retry_max_ns = 40 * MS;
	o.retry_max_elapsed_ns = 250 * MS;
	e = exporter_start(&o);
	assert_non_null(e);
	assert_true(exporter_submit(e, mk_span(res)));
	assert_true(exporter_submit(e, mk_span(res)));
	assert_true(wait_settled(e, 2, 3000));
	st = stats(e);
	assert_int_equal(st.failed, 2);
	assert_int_equal(st.failed_retries_exhausted, 2);
	assert_int_equal(st.exported, 0);
	assert_true(st.requests >= 3);
	assert_int_equal(st.retries, st.requests - 1);
	assert_int_equal(st.failures[EXPORTER_FAIL_HTTP_503], st.requests);
	assert_accounted(&st);
	assert_int_equal(exporter_stop(e, 1000 * MS), 0);
	server_stop();
}

static void test_bad_opts(void **state)
{
	struct exporter_opts o = { .endpoint = NULL };

	errno = 0;
	assert_null(exporter_start(&o));
	assert_int_equal(errno, EINVAL);
	o.endpoint = "ftp://127.0.0.1/v1/traces";
	assert_null(exporter_start(&o));
	o.endpoint = "not a url";
	assert_null(exporter_start(&o));
	o.endpoint = "http://127.0.0.1:4318/v1/traces";
	o.compression = 9;
	assert_null(exporter_start(&o));
	assert_int_equal(exporter_stop(NULL, 0), 0);
	assert_false(exporter_submit(NULL, mk_span(res)));
}

static void test_parse_retry_after(void **state)
{
	const char *http_date = "Wed, 21 Oct 2015 07:28:00 GMT";
	const time_t date = 1445412480;
	uint64_t ns = 0;

	assert_int_equal(exporter_parse_retry_after("3", date, &ns), 0);
	assert_true(ns == 3000000000ull);
	assert_int_equal(exporter_parse_retry_after(" 120 ", date, &ns), 0);
	assert_true(ns == 120000000000ull);
	assert_int_equal(exporter_parse_retry_after(http_date, date - 5, &ns), 0);
	assert_true(ns == 5000000000ull);
	assert_int_equal(exporter_parse_retry_after(http_date, date + 60, &ns), 0);
	assert_true(ns == 0);
	assert_int_equal(exporter_parse_retry_after("99999999999999999999999", date, &ns), 0);
	assert_true(ns > 0);
	assert_int_equal(exporter_parse_retry_after("12abc", date, &ns), -1);
	assert_int_equal(exporter_parse_retry_after("soon", date, &ns), -1);
	assert_int_equal(exporter_parse_retry_after("", date, &ns), -1);
}

/* Configured headers are sent; empty values and the exporter's own names are not. */
static void test_headers(void **state)
{
	static const struct config_kv hdrs[] = {
		{ "Authorization", "Bearer s3cret" },
		{ "X-Empty", "" },
		{ "x-tenant", "t1" },
		{ "Content-Type", "text/plain" },
		{ "X-Bad", "a\r\nInjected: yes" },
	};
	char url[64];
	struct exporter_opts o;
	struct exporter *e;
	const char *p;
	int n = 0;

	server_start(NULL, 0);
	o = base_opts(url, sizeof(url), srv.port);
	o.batch_max_spans = 2;
	o.headers = hdrs;
	o.nheaders = sizeof(hdrs) / sizeof(hdrs[0]);
	e = exporter_start(&o);
	assert_non_null(e);
	assert_true(exporter_submit(e, mk_span(res)));
	assert_true(exporter_submit(e, mk_span(res)));
	assert_true(wait_settled(e, 2, 3000));
	assert_int_equal(exporter_stop(e, 1000 * MS), 0);
	server_stop();

	assert_int_equal(srv.nreqs, 1);
	assert_true(header_is(srv.reqs[0].head, "Authorization", "Bearer s3cret"));
	assert_true(header_is(srv.reqs[0].head, "x-tenant", "t1"));
	assert_null(find_header(srv.reqs[0].head, "X-Empty"));
	assert_null(find_header(srv.reqs[0].head, "X-Bad"));
	assert_null(find_header(srv.reqs[0].head, "Injected"));
	assert_true(header_is(srv.reqs[0].head, "Content-Type", "application/x-protobuf"));
	for (p = strcasestr(srv.reqs[0].head, "\r\ncontent-type:"); p;
	     p = strcasestr(p + 1, "\r\ncontent-type:"))
		n++;
	assert_int_equal(n, 1);
}

/* A collector that hangs past the timeout: a timeout failure, retried, delivered once. */
static void test_timeout_then_ok(void **state)
{
	static const enum action script[] = { A_HANG, A_OK };
	char url[64];
	struct exporter_opts o;
	struct exporter *e;
	struct exporter_stats st;
	uint64_t first = next_id;

	server_start(script, 2);
	o = base_opts(url, sizeof(url), srv.port);
	o.batch_max_spans = 3;
	o.timeout_ns = 300 * MS;
	e = exporter_start(&o);
	assert_non_null(e);
	for (int i = 0; i < 3; i++)
		assert_true(exporter_submit(e, mk_span(res)));
	assert_true(wait_settled(e, 3, 5000));
	st = stats(e);
	assert_int_equal(st.exported, 3);
	assert_int_equal(st.requests, 2);
	assert_int_equal(st.retries, 1);
	assert_int_equal(st.failures[EXPORTER_FAIL_TIMEOUT], 1);
	assert_accounted(&st);
	assert_int_equal(exporter_stop(e, 1000 * MS), 0);
	server_stop();

	assert_int_equal(srv.nreqs, 2);
	assert_true(srv.reqs[1].at_ns - srv.reqs[0].at_ns >= 290 * MS);
	for (uint64_t id = first; id < first + 3; id++)
		assert_int_equal(delivered_count(id), 1);
}

/*
 * Collector down, then the endpoint is changed to a live one: the batch being
 * retried goes there at once (with the encoding it was made with), the queue
 * follows with the new headers and compression, nothing is lost or doubled.
 */
static void test_reconfigure_endpoint(void **state)
{
	static const struct config_kv hdrs[] = { { "X-Reloaded", "yes" } };
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	char dead[64], live[64];
	struct exporter_opts o;
	struct exporter *e;
	struct exporter_stats st;
	uint64_t first = next_id, t0;
	int fd;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	o = base_opts(dead, sizeof(dead), ntohs(sa.sin_port));
	o.batch_max_spans = 4;
	o.retry_initial_ns = 2000 * MS;	/* only the new settings can end this wait early */
	o.retry_max_ns = 5000 * MS;
	e = exporter_start(&o);
	assert_non_null(e);
	for (int i = 0; i < 10; i++)
		assert_true(exporter_submit(e, mk_span(res)));
	sleep_ms(200);
	st = stats(e);
	assert_int_equal(st.requests, 1);
	assert_int_equal(st.failures[EXPORTER_FAIL_CONNECT], 1);
	assert_int_equal(st.in_flight, 4);
	assert_int_equal(st.queued, 6);
	assert_accounted(&st);

	server_start(NULL, 0);
	o = base_opts(live, sizeof(live), srv.port);
	o.batch_max_spans = 4;
	o.compression = COMPRESSION_GZIP;
	o.headers = hdrs;
	o.nheaders = 1;
	t0 = now_ns();
	assert_int_equal(exporter_reconfigure(e, &o), 0);
	assert_true(wait_reqs(1, 1000));
	assert_true(now_ns() - t0 < 1000 * MS);
	/* The 2 left over are a partial batch: they leave at stop. */
	assert_true(wait_settled(e, 8, 5000));
	st = stats(e);
	assert_int_equal(st.exported, 8);
	assert_int_equal(st.queued, 2);
	assert_int_equal(exporter_shutdown(e, 1000 * MS), 0);
	st = stats(e);
	assert_int_equal(st.exported, 10);
	assert_int_equal(st.failed, 0);
	assert_accounted(&st);
	exporter_free(e);
	server_stop();
	close(fd);

	assert_int_equal(srv.nreqs, 3);
	/* The retried batch keeps the identity body it was encoded with. */
	assert_null(find_header(srv.reqs[0].head, "Content-Encoding"));
	assert_true(header_is(srv.reqs[1].head, "Content-Encoding", "gzip"));
	assert_true(header_is(srv.reqs[2].head, "Content-Encoding", "gzip"));
	for (size_t i = 0; i < 3; i++)
		assert_true(header_is(srv.reqs[i].head, "X-Reloaded", "yes"));
	assert_int_equal(srv.reqs[0].nids + srv.reqs[1].nids + srv.reqs[2].nids, 10);
	for (uint64_t id = first; id < first + 10; id++)
		assert_int_equal(delivered_count(id), 1);
}

/* A smaller queue applies to new spans only; a bad reconfigure changes nothing. */
static void test_reconfigure_queue(void **state)
{
	static const enum action script[] = { A_HANG };
	char url[64];
	struct exporter_opts o;
	struct exporter *e;
	struct exporter_stats st;

	server_start(script, 1);
	o = base_opts(url, sizeof(url), srv.port);
	o.batch_max_spans = 2;
	o.queue_max_spans = 8;
	o.timeout_ns = 30000 * MS;
	e = exporter_start(&o);
	assert_non_null(e);
	assert_true(exporter_submit(e, mk_span(res)));
	assert_true(exporter_submit(e, mk_span(res)));
	assert_true(wait_reqs(1, 3000));
	for (int i = 0; i < 8; i++)
		assert_true(exporter_submit(e, mk_span(res)));
	assert_false(exporter_submit(e, mk_span(res)));

	o.queue_max_spans = 3;
	assert_int_equal(exporter_reconfigure(e, &o), 0);
	assert_false(exporter_submit(e, mk_span(res)));
	st = stats(e);
	assert_int_equal(st.queued, 8);	/* nothing queued was lost */
	assert_int_equal(st.queue_max, 3);
	assert_int_equal(st.dropped_queue_full, 2);

	o.endpoint = "gopher://nowhere";
	assert_int_equal(exporter_reconfigure(e, &o), -EINVAL);
	o.endpoint = url;
	o.compression = 7;
	assert_int_equal(exporter_reconfigure(e, &o), -EINVAL);
	o.compression = COMPRESSION_NONE;
	o.tls_cert_file = "/etc/hostname";
	assert_int_equal(exporter_reconfigure(e, &o), -EINVAL);	/* cert without key */
	o.tls_cert_file = NULL;
	o.tls_key_file = "/etc/hostname";
	assert_int_equal(exporter_reconfigure(e, &o), -EINVAL);	/* key without cert */
	o.tls_key_file = "";
	assert_int_equal(stats(e).queue_max, 3);

	o.queue_max_spans = 20;
	assert_int_equal(exporter_reconfigure(e, &o), 0);
	assert_true(exporter_submit(e, mk_span(res)));
	st = stats(e);
	assert_int_equal(st.queued, 9);
	assert_int_equal(st.in_flight, 2);
	assert_accounted(&st);

	assert_int_equal(exporter_shutdown(e, 200 * MS), 11);
	st = stats(e);
	assert_int_equal(st.undelivered_at_shutdown, 11);
	assert_int_equal(st.submitted, 13);
	assert_accounted(&st);
	assert_int_equal(exporter_reconfigure(e, &o), -EINVAL);	/* stopped */
	exporter_free(e);
	server_stop();
}

/* Every outcome in one run, each counted once, and the sum always holds. */
static void test_outcomes(void **state)
{
	static const enum action script[] = { A_OK, A_PARTIAL, A_400, A_503, A_503, A_503,
					      A_503, A_503, A_503, A_503, A_503, A_503 };
	char url[64];
	struct exporter_opts o;
	struct exporter *e;
	struct exporter_stats st;
	int dropped = 0;

	server_start(script, sizeof(script) / sizeof(script[0]));
	pthread_mutex_lock(&srv.lock);
	srv.rejected = 1;
	pthread_mutex_unlock(&srv.lock);
	o = base_opts(url, sizeof(url), srv.port);
	o.batch_max_spans = 3;
	o.queue_max_spans = 3;
	o.retry_initial_ns = 10 * MS;
	o.retry_max_ns = 20 * MS;
	o.retry_max_elapsed_ns = 100 * MS;
	e = exporter_start(&o);
	assert_non_null(e);
	for (int round = 0; round < 4; round++) {
		for (int i = 0; i < 3; i++)
			assert_true(exporter_submit(e, mk_span(res)));
		assert_true(wait_settled(e, 3 * ((uint64_t)round + 1), 3000));
		assert_accounted((st = stats(e), &st));
	}
	/* Queue full: 3 fit, the rest is refused. */
	o.timeout_ns = 30000 * MS;
	for (int i = 0; i < 3; i++)
		assert_true(exporter_submit(e, mk_span(res)));
	for (int i = 0; i < 4; i++)
		dropped += !exporter_submit(e, mk_span(res));
	st = stats(e);
	assert_true(dropped >= 1);
	assert_accounted(&st);
	assert_int_equal(exporter_shutdown(e, 0), (int)(st.queued + st.in_flight));
	st = stats(e);
	exporter_free(e);
	server_stop();

	assert_int_equal(st.submitted, 19);
	assert_int_equal(st.exported, 3 + 2);
	assert_int_equal(st.dropped_rejected, 1);
	assert_int_equal(st.failed_status, 3);
	assert_int_equal(st.failed_retries_exhausted, 3);
	assert_int_equal(st.dropped_queue_full, (uint64_t)dropped);
	assert_int_equal(st.undelivered_at_shutdown, 7 - (uint64_t)dropped);
	assert_int_equal(st.failures[EXPORTER_FAIL_HTTP_4XX], 1);
	assert_true(st.failures[EXPORTER_FAIL_HTTP_503] >= 2);
	assert_accounted(&st);
}

/* A span as the builder makes one: about a dozen attributes. */
static struct span *mk_real_span(struct resource *r, int i)
{
	struct span *s = mk_span(r);
	char path[64];

	snprintf(path, sizeof(path), "/api/v1/users/%d/orders", 100000 + i);
	s->has_parent = true;
	memset(s->parent_span_id, 0x11, 8);
	span_add_str(s, "url.path", path);
	span_add_str(s, "url.scheme", "http");
	span_add_str(s, "http.route", "/api/v1/users/{id}/orders");
	span_add_str(s, "server.address", "127.0.0.1");
	span_add_int(s, "server.port", 8080);
	span_add_str(s, "client.address", "127.0.0.1");
	span_add_str(s, "network.peer.address", "127.0.0.1");
	span_add_int(s, "network.peer.port", 40000 + i % 20000);
	span_add_str(s, "network.protocol.version", "1.1");
	span_add_str(s, "user_agent.original", "curl/7.88.1");
	span_add_int(s, "http.response.body.size", 1234);
	return s;
}

/*
 * What a queued span costs on the heap: a span as the builder makes one,
 * queued while nothing can be sent (a struct span would be about 1.5 KiB).
 */
static void test_queue_memory(void **state)
{
	enum { N = 10000 };
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	char url[64];
	struct exporter_opts o;
	struct exporter *e;
	struct mallinfo2 m0, m1;
	size_t per_span;
	int fd;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	o = base_opts(url, sizeof(url), ntohs(sa.sin_port));
	o.batch_max_spans = 65536;	/* nothing leaves: the timer is far away */
	o.batch_timeout_ns = 3600000 * MS;
	o.queue_max_spans = N;
	e = exporter_start(&o);
	assert_non_null(e);
	m0 = mallinfo2();
	for (int i = 0; i < N; i++)
		assert_true(exporter_submit(e, mk_real_span(res, i)));
	m1 = mallinfo2();
	per_span = (m1.uordblks - m0.uordblks) / N;
	print_message("queued span: %zu bytes on the heap (%.1f MiB per 10k)\n", per_span,
		      (double)(m1.uordblks - m0.uordblks) / N * 10000 / (1 << 20));
	assert_true(per_span < 640);
	assert_int_equal(stats(e).queued, N);
	assert_int_equal(exporter_stop(e, 0), N);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_retry_after),
		cmocka_unit_test(test_bad_opts),
		cmocka_unit_test(test_batch_size),
		cmocka_unit_test(test_batch_timeout),
		cmocka_unit_test(test_gzip_body),
		cmocka_unit_test(test_retry_then_success),
		cmocka_unit_test(test_non_retryable),
		cmocka_unit_test(test_partial_success),
		cmocka_unit_test(test_queue_full_and_stop_in_flight),
		cmocka_unit_test(test_stop_flushes),
		cmocka_unit_test(test_stop_server_gone),
		cmocka_unit_test(test_retry_budget),
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_timeout_then_ok),
		cmocka_unit_test(test_reconfigure_endpoint),
		cmocka_unit_test(test_reconfigure_queue),
		cmocka_unit_test(test_outcomes),
		cmocka_unit_test(test_queue_memory),
	};

	log_set_level(LOG_LEVEL_ERROR);
	return cmocka_run_group_tests(tests, setup, teardown);
}
