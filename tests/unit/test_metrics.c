// SPDX-License-Identifier: Apache-2.0
/* Unit tests for metrics.c: the text format, listen addresses, the HTTP endpoint. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "exporter.h"
#include "log.h"
#include "metrics.h"

static char *render(const struct metrics_snapshot *a, const struct metrics_snapshot *b)
{
	const struct metrics_snapshot *parts[2] = { a, b };
	size_t len;
	char *page = metrics_render(parts, 2, &len);

	assert_non_null(page);
	assert_int_equal(strlen(page), len);
	return page;
}

static int count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* Families: one HELP and TYPE each, samples grouped across parts, values exact. */
static void test_render(void **state)
{
	struct metrics_snapshot *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	char *page;

	assert_true(metrics_add(a, "x_total", "Xs.", METRIC_COUNTER, "k=\"1\"", 3));
	assert_true(metrics_add(a, "g", "A \\ gauge\nwith two lines", METRIC_GAUGE, NULL, 0.25));
	assert_true(metrics_add(b, "x_total", "Xs.", METRIC_COUNTER, "k=\"2\"",
				9007199254740991.0));
	assert_true(metrics_add(b, "big", "Big.", METRIC_GAUGE, "", 1e300));
	assert_true(metrics_add(b, "nan", "NaN.", METRIC_GAUGE, NULL, NAN));
	assert_true(metrics_add(b, "inf", "Inf.", METRIC_GAUGE, NULL, -INFINITY));
	page = render(a, b);
	assert_string_equal(page,
			    "# HELP x_total Xs.\n"
			    "# TYPE x_total counter\n"
			    "x_total{k=\"1\"} 3\n"
			    "x_total{k=\"2\"} 9007199254740991\n"
			    "# HELP g A \\\\ gauge\\nwith two lines\n"
			    "# TYPE g gauge\n"
			    "g 0.25\n"
			    "# HELP big Big.\n"
			    "# TYPE big gauge\n"
			    "big 1.0000000000000001e+300\n"
			    "# HELP nan NaN.\n"
			    "# TYPE nan gauge\n"
			    "nan NaN\n"
			    "# HELP inf Inf.\n"
			    "# TYPE inf gauge\n"
			    "inf -Inf\n");
	free(page);

	/* A full snapshot refuses more; an empty page is "". */
	for (int i = a->n; i < METRICS_MAX; i++)
		assert_true(metrics_add(a, "f", "F.", METRIC_GAUGE, NULL, i));
	assert_false(metrics_add(a, "f", "F.", METRIC_GAUGE, NULL, 0));
	assert_int_equal(a->n, METRICS_MAX);
	a->n = 0;
	b->n = 0;
	page = render(a, NULL);
	assert_string_equal(page, "");
	free(page);
	free(a);
	free(b);
}

/* Every exporter counter, with labels per reason and class. */
static void test_add_exporter(void **state)
{
	struct metrics_snapshot *s = calloc(1, sizeof(*s));
	struct exporter_stats st = { 0 };
	char *page;

	st.submitted = 100;
	st.exported = 90;
	st.dropped_queue_full = 4;
	st.dropped_rejected = 3;
	st.failed_status = 2;
	st.failed_retries_exhausted = 1;
	st.undelivered_at_shutdown = 0;
	st.requests = 12;
	st.retries = 5;
	st.failures[EXPORTER_FAIL_HTTP_503] = 4;
	st.failures[EXPORTER_FAIL_TLS] = 1;
	st.bytes_sent = 123456;
	st.queued = 7;
	st.queue_max = 65536;
	st.in_flight = 0;
	metrics_add_exporter(s, &st);
	page = render(s, NULL);
	assert_non_null(strstr(page, "\nspanbpf_spans_exported_total 90\n"));
	assert_non_null(strstr(page, "counter\nspanbpf_spans_submitted_total 100\n"));
	assert_non_null(strstr(page, "spanbpf_spans_dropped_total{reason=\"queue_full\"} 4\n"));
	assert_non_null(strstr(page, "spanbpf_spans_dropped_total{reason=\"rejected\"} 3\n"));
	assert_non_null(strstr(page, "spanbpf_spans_dropped_total{reason=\"failed_status\"} 2\n"));
	assert_non_null(strstr(page,
			       "spanbpf_spans_dropped_total{reason=\"retries_exhausted\"} 1\n"));
	assert_non_null(strstr(page, "spanbpf_spans_dropped_total{reason=\"undelivered_at_"
				     "shutdown\"} 0\n"));
	assert_non_null(strstr(page, "\nspanbpf_export_requests_total 12\n"));
	assert_non_null(strstr(page, "\nspanbpf_export_retries_total 5\n"));
	assert_non_null(strstr(page, "spanbpf_export_failures_total{class=\"http_503\"} 4\n"));
	assert_non_null(strstr(page, "spanbpf_export_failures_total{class=\"tls\"} 1\n"));
	assert_non_null(strstr(page, "spanbpf_export_failures_total{class=\"connect\"} 0\n"));
	assert_non_null(strstr(page, "\nspanbpf_export_sent_bytes_total 123456\n"));
	assert_non_null(strstr(page, "\nspanbpf_export_queue_length 7\n"));
	assert_non_null(strstr(page, "\nspanbpf_export_queue_capacity 65536\n"));
	assert_non_null(strstr(page, "# TYPE spanbpf_export_queue_length gauge\n"));
	assert_int_equal(count(page, "# TYPE spanbpf_spans_dropped_total counter\n"), 1);
	assert_int_equal(count(page, "# HELP spanbpf_export_failures_total "), 1);
	assert_int_equal(count(page, "spanbpf_export_failures_total{class="), EXPORTER_FAIL_MAX);
	for (int i = 0; i < EXPORTER_FAIL_MAX; i++) {
		char want[96];

		snprintf(want, sizeof(want), "{class=\"%s\"}", exporter_failure_name(i));
		assert_non_null(strstr(page, want));
	}
	assert_null(exporter_failure_name(EXPORTER_FAIL_MAX));
	free(page);
	free(s);
}

static uint16_t port_of(const struct sockaddr_storage *a)
{
	return ntohs(a->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)a)->sin6_port :
						((const struct sockaddr_in *)a)->sin_port);
}

static void test_parse_listen(void **state)
{
	static const char *const bad[] = {
		"", "9464", ":", ":x", ":70000", ":-1", "[::1]9464", "[::1", "[zz]:1", "::1:9464",
		"host:", "1.2.3.4:+5",
	};
	struct sockaddr_storage a;
	char text[INET6_ADDRSTRLEN];
	socklen_t len;

	assert_int_equal(metrics_parse_listen("127.0.0.1:9464", &a, &len), 0);
	assert_int_equal(a.ss_family, AF_INET);
	assert_int_equal(port_of(&a), 9464);
	inet_ntop(AF_INET, &((struct sockaddr_in *)&a)->sin_addr, text, sizeof(text));
	assert_string_equal(text, "127.0.0.1");

	assert_int_equal(metrics_parse_listen(":9464", &a, &len), 0);
	assert_int_equal(a.ss_family, AF_INET6);
	assert_int_equal(port_of(&a), 9464);
	assert_memory_equal(&((struct sockaddr_in6 *)&a)->sin6_addr, &in6addr_any, 16);

	assert_int_equal(metrics_parse_listen("[::1]:1", &a, &len), 0);
	assert_int_equal(a.ss_family, AF_INET6);
	assert_int_equal(port_of(&a), 1);
	assert_memory_equal(&((struct sockaddr_in6 *)&a)->sin6_addr, &in6addr_loopback, 16);

	assert_int_equal(metrics_parse_listen("localhost:0", &a, &len), 0);
	assert_int_equal(port_of(&a), 0);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (metrics_parse_listen(bad[i], &a, &len) != -EINVAL)
			fail_msg("'%s' was accepted", bad[i]);
}

/* ---- the server --------------------------------------------------------- */

struct answer {
	long status;
	char ctype[128];
	char body[65536];
	size_t len;
};

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct answer *a = arg;
	size_t len = size * n, room = sizeof(a->body) - 1 - a->len;

	if (len > room)
		len = room;
	memcpy(a->body + a->len, p, len);
	a->len += len;
	a->body[a->len] = '\0';
	return size * n;
}

/* One request to url; false when it could not connect. */
static bool fetch(const char *url, const char *method, struct answer *a)
{
	CURL *c = curl_easy_init();
	char *ct = NULL;
	CURLcode res;

	assert_non_null(c);
	memset(a, 0, sizeof(*a));
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "GET") != 0)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	res = curl_easy_perform(c);
	if (res == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->status);
		curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
		if (ct)
			snprintf(a->ctype, sizeof(a->ctype), "%s", ct);
	}
	curl_easy_cleanup(c);
	return res == CURLE_OK;
}

static int nfds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* Shared with the server thread. */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static int live_calls;
static double live_value;

static void live(void *ctx, struct metrics_snapshot *s)
{
	pthread_mutex_lock(&live_lock);
	live_calls++;
	metrics_add(s, "live_gauge", "From the callback.", METRIC_GAUGE, NULL, live_value);
	pthread_mutex_unlock(&live_lock);
}

static void set_live_value(double v)
{
	pthread_mutex_lock(&live_lock);
	live_value = v;
	pthread_mutex_unlock(&live_lock);
}

/* GET /metrics: published + live + process samples; 404, 405, HEAD; stop closes all. */
static void test_serve(void **state)
{
	struct metrics_snapshot *s = calloc(1, sizeof(*s));
	struct answer *a = malloc(sizeof(*a));
	struct metrics *m;
	char url[128];
	int fds0 = nfds();

	assert_non_null(a);
	set_live_value(42);
	m = metrics_start("127.0.0.1:0", live, NULL);
	assert_non_null(m);
	assert_true(metrics_port(m) > 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/metrics", metrics_port(m));

	/* Before anything is published: live and process samples only. */
	assert_true(fetch(url, "GET", a));
	assert_int_equal(a->status, 200);
	assert_string_equal(a->ctype, "text/plain; version=0.0.4; charset=utf-8");
	assert_non_null(strstr(a->body, "# TYPE live_gauge gauge\nlive_gauge 42\n"));
	assert_non_null(strstr(a->body, "# TYPE process_resident_memory_bytes gauge\n"));
	assert_non_null(strstr(a->body, "# TYPE process_cpu_seconds_total counter\n"));

	metrics_add(s, "spanbpf_events_read_total", "Events.", METRIC_COUNTER, NULL, 5);
	metrics_publish(m, s);
	s->m[0].value = 6;	/* published means copied */
	set_live_value(43);
	assert_true(fetch(url, "GET", a));
	assert_non_null(strstr(a->body, "# TYPE spanbpf_events_read_total counter\n"
					"spanbpf_events_read_total 5\n"));
	assert_non_null(strstr(a->body, "live_gauge 43\n"));
	assert_true(strstr(a->body, "spanbpf_events_read_total") < strstr(a->body, "live_gauge"));
	metrics_publish(m, s);
	assert_true(fetch(url, "GET", a));
	assert_non_null(strstr(a->body, "spanbpf_events_read_total 6\n"));

	assert_true(fetch(url, "HEAD", a));
	assert_int_equal(a->status, 200);
	assert_int_equal(a->len, 0);
	assert_true(fetch(url, "POST", a));
	assert_int_equal(a->status, 405);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", metrics_port(m));
	assert_true(fetch(url, "GET", a));
	assert_int_equal(a->status, 404);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/metrics/x", metrics_port(m));
	assert_true(fetch(url, "GET", a));
	assert_int_equal(a->status, 404);
	pthread_mutex_lock(&live_lock);
	assert_int_equal(live_calls, 4);
	pthread_mutex_unlock(&live_lock);

	metrics_stop(m);
	metrics_stop(NULL);
	metrics_publish(NULL, s);
	assert_int_equal(nfds(), fds0);
	free(a);
	free(s);
}

/* ":PORT" answers on IPv4 and IPv6 loopback; "[::1]:PORT" on IPv6. */
static void test_serve_any_and_v6(void **state)
{
	struct answer *a = malloc(sizeof(*a));
	struct metrics *m;
	char url[128];

	m = metrics_start(":0", NULL, NULL);
	assert_non_null(m);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/metrics", metrics_port(m));
	assert_true(fetch(url, "GET", a));
	assert_int_equal(a->status, 200);
	assert_non_null(strstr(a->body, "process_resident_memory_bytes "));
	snprintf(url, sizeof(url), "http://[::1]:%u/metrics", metrics_port(m));
	assert_true(fetch(url, "GET", a));
	assert_int_equal(a->status, 200);
	metrics_stop(m);

	m = metrics_start("[::1]:0", NULL, NULL);
	assert_non_null(m);
	snprintf(url, sizeof(url), "http://[::1]:%u/metrics", metrics_port(m));
	assert_true(fetch(url, "GET", a));
	assert_int_equal(a->status, 200);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/metrics", metrics_port(m));
	assert_false(fetch(url, "GET", a));
	metrics_stop(m);
	free(a);
}

/* A port in use and a bad address are refused with a reason. */
static void test_start_errors(void **state)
{
	struct metrics *m, *m2;
	char listen[64];

	m = metrics_start("127.0.0.1:0", NULL, NULL);
	assert_non_null(m);
	snprintf(listen, sizeof(listen), "127.0.0.1:%u", metrics_port(m));
	errno = 0;
	m2 = metrics_start(listen, NULL, NULL);
	assert_null(m2);
	assert_int_equal(errno, EADDRINUSE);
	metrics_stop(m);

	errno = 0;
	assert_null(metrics_start("nonsense", NULL, NULL));
	assert_int_equal(errno, EINVAL);
	assert_null(metrics_start(NULL, NULL, NULL));
	errno = 0;
	assert_null(metrics_start("192.0.2.1:0", NULL, NULL));	/* not this host's address */
	assert_int_equal(errno, EADDRNOTAVAIL);
}

/* IPv4 a.b.c.d mapped into IPv6, as the kernel side stores it. */
static void v4(uint8_t out[16], uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	memset(out, 0, 16);
	out[10] = out[11] = 0xff;
	out[12] = a;
	out[13] = b;
	out[14] = c;
	out[15] = d;
}

/* Which traced client connections are scrapes of this endpoint. */
static void test_is_self_peer(void **state)
{
	uint8_t lo[16], lo2[16], ten[16], other[16], v6lo[16] = { [15] = 1 };
	struct metrics *m;
	uint16_t port;

	v4(lo, 127, 0, 0, 1);
	v4(lo2, 127, 0, 0, 2);
	v4(ten, 10, 1, 2, 3);
	v4(other, 10, 9, 9, 9);

	m = metrics_start("127.0.0.1:0", NULL, NULL);
	assert_non_null(m);
	port = metrics_port(m);
	assert_true(metrics_is_self_peer(m, lo, lo, port));
	assert_true(metrics_is_self_peer(m, ten, lo, port));
	assert_false(metrics_is_self_peer(m, lo, lo, port + 1));
	assert_false(metrics_is_self_peer(m, lo2, lo2, port));	/* not where we listen */
	assert_false(metrics_is_self_peer(m, v6lo, v6lo, port));
	metrics_stop(m);

	m = metrics_start(":0", NULL, NULL);
	assert_non_null(m);
	port = metrics_port(m);
	assert_true(metrics_is_self_peer(m, lo, lo, port));
	assert_true(metrics_is_self_peer(m, ten, ten, port));	/* this host's own address */
	assert_true(metrics_is_self_peer(m, v6lo, v6lo, port));
	assert_false(metrics_is_self_peer(m, ten, other, port));	/* another host's :port */
	assert_false(metrics_is_self_peer(m, ten, ten, port + 1));
	metrics_stop(m);

	m = metrics_start("[::1]:0", NULL, NULL);
	assert_non_null(m);
	port = metrics_port(m);
	assert_true(metrics_is_self_peer(m, v6lo, v6lo, port));
	assert_false(metrics_is_self_peer(m, lo, lo, port));
	metrics_stop(m);
	assert_false(metrics_is_self_peer(NULL, lo, lo, port));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_add_exporter),
		cmocka_unit_test(test_parse_listen),
		cmocka_unit_test(test_serve),
		cmocka_unit_test(test_serve_any_and_v6),
		cmocka_unit_test(test_start_errors),
		cmocka_unit_test(test_is_self_peer),
	};
	int rc;

	log_set_level(LOG_LEVEL_ERROR + (getenv("TEST_VERBOSE") ? 3 : 0));
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
