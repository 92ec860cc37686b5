// SPDX-License-Identifier: Apache-2.0
/*
 * main.c - spanbpf: HTTP/1.x spans of unmodified programs, from syscall
 * tracepoints to an OTLP/HTTP collector.
 *
 * Threads: this one reads the ring buffer and builds spans (tracker →
 * builder); the exporter's thread batches and sends them.  Signal handlers
 * only set flags.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "builder.h"
#include "config.h"
#include "console.h"
#include "correlate.h"
#include "exporter.h"
#include "log.h"
#include "metrics.h"
#include "portscan.h"
#include "probe.h"
#include "procinfo.h"
#include "selector.h"
#include "tracker.h"

#define POLL_MS 10			/* ring buffer drain period */
#define SWEEP_NS 100000000ull		/* tracker idle checks */
#define SUMMARY_NS 60000000000ull	/* self-metrics summary line */
#define METRICS_NS 1000000000ull	/* snapshot for the /metrics endpoint */

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t reload_requested;

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		reload_requested = 1;
	else
		stop_requested = sig;
}

struct agent {
	struct config cfg;
	const char *config_path;
	bool explicit_path;
	struct tracker *tracker;
	struct builder *builder;
	struct correlator *correlator;
	struct exporter *exporter;
	struct metrics *metrics;
	struct probe *probe;
	bool console;
	uint64_t kc_last[SB_CNT_MAX];	/* kernel counters, kept when the probe is closed */
	uint64_t events;
	uint64_t bad_records;
	uint64_t spans_built;
};

static uint64_t now_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A request head was seen: decide its trace and parent now, while in flight. */
static void on_request(const struct http_txn *txn, void *ctx)
{
	struct agent *a = ctx;

	correlator_on_request(a->correlator, txn);
}

/* A finished exchange: build its span, print it if asked, queue it. */
static void on_txn(const struct http_txn *txn, void *ctx)
{
	struct agent *a = ctx;
	struct corr_result link;
	struct span *span;

	correlator_on_txn(a->correlator, txn, &link);
	if (!link.sampled)
		return;
	/* A scrape of the agent's own /metrics by a traced client: never a span. */
	if (txn->role == SB_ROLE_CLIENT &&
	    metrics_is_self_peer(a->metrics, txn->tuple.laddr, txn->tuple.raddr, txn->tuple.rport))
		return;
	span = builder_build_ex(a->builder, txn, link.parent.valid ? &link.parent : NULL, &link.self);
	if (!span)
		return;
	a->spans_built++;
	if (a->console) {
		char line[2048];

		console_format(span, line, sizeof(line));
		fputs(line, stdout);
		fputc('\n', stdout);
		fflush(stdout);
	}
	/* A refusal (queue full) is counted by the exporter. */
	exporter_submit(a->exporter, span);
}

static void on_exec_event(struct agent *a, uint32_t tgid);

/*
 * A connect() that failed (refused, timed out, unreachable): the call the
 * process was about to make becomes an ERROR client span, a child of the
 * request that thread serves.  The kernel side reports blocking connects'
 * errors, and non-blocking sockets closed unused in TCP_CLOSE as refused.
 */
static void on_connect_failed(struct agent *a, const struct sb_event *ev)
{
	static uint64_t next_id = 1ull << 63; /* apart from the tracker's ids */
	int err = -(int32_t)ev->len;
	struct http_txn *txn;

	if (err != ECONNREFUSED && err != ETIMEDOUT && err != EHOSTUNREACH && err != ENETUNREACH)
		return;
	txn = calloc(1, sizeof(*txn));
	if (!txn)
		return;
	txn->txn_id = next_id++;
	txn->tgid = ev->tgid;
	txn->req_tid = txn->resp_tid = ev->tid;
	txn->fd = ev->fd;
	txn->conn_id = ev->conn_id;
	txn->role = SB_ROLE_CLIENT;
	txn->version_minor = 1;
	txn->flags = TXN_F_CONN_REFUSED;
	txn->conn_errno = err;
	txn->tuple = ev->tuple;
	txn->start_ns = txn->end_ns = ev->ts_ns;
	memcpy(txn->comm, ev->comm, sizeof(txn->comm) - 1);
	on_request(txn, a);
	on_txn(txn, a);
	free(txn);
}

/* One ring buffer record; it is only valid during this call. */
static int on_event(void *ctx, void *data, size_t size)
{
	struct agent *a = ctx;
	const struct sb_event *ev = data;

	a->events++;
	if (size < sizeof(*ev)) {
		a->bad_records++;
		return 0;
	}
	switch (ev->type) {
	case SB_EV_DATA:
		/* Read /proc while the process is surely alive: clients may exit fast. */
		if (ev->flags & SB_F_CONN_START) {
			char comm[sizeof(ev->comm) + 1];

			memcpy(comm, ev->comm, sizeof(ev->comm));
			comm[sizeof(ev->comm)] = '\0';
			builder_note_process(a->builder, ev->tgid, comm);
		}
		if (ev->role == SB_ROLE_SERVER && ev->dir == SB_DIR_READ)
			correlator_on_server_read(a->correlator, ev->tgid, ev->tid, ev->conn_id);
		tracker_on_event(a->tracker, ev, size);
		break;
	case SB_EV_CONNECT:
		if ((int32_t)ev->len == 0 || (int32_t)ev->len == -EINPROGRESS)
			correlator_on_connect(a->correlator, ev->tgid, ev->tid, ev->conn_id);
		else
			on_connect_failed(a, ev);
		tracker_on_event(a->tracker, ev, size);
		break;
	case SB_EV_CLOSE:
		tracker_on_event(a->tracker, ev, size);
		break;
	case SB_EV_EXEC:
		on_exec_event(a, ev->tgid);
		break;
	case SB_EV_PROC_EXIT:
		/* The tracker first: it finishes that process's exchanges at the exit time. */
		tracker_on_event(a->tracker, ev, size);
		builder_proc_exit(a->builder, ev->tgid);
		break;
	default:
		a->bad_records++;
	}
	return 0;
}

/* The kernel's counters: read live while the probe is open, else the last reading. */
static void kernel_counters(struct agent *a, uint64_t kc[SB_CNT_MAX])
{
	if (a->probe)
		probe_counters(a->probe, a->kc_last);
	memcpy(kc, a->kc_last, sizeof(a->kc_last));
}

/* Detaching the tracepoints takes about a second (see probe_close): done beside the final flush. */
static void *close_probe(void *arg)
{
	probe_close(arg);
	return NULL;
}

static void log_summary(struct agent *a, const char *when)
{
	uint64_t kc[SB_CNT_MAX] = { 0 }, failures = 0;
	struct exporter_stats es;
	struct tracker_stats ts;

	kernel_counters(a, kc);
	exporter_stats(a->exporter, &es);
	tracker_stats(a->tracker, &ts);
	for (int i = 0; i < EXPORTER_FAIL_MAX; i++)
		failures += es.failures[i];
	log_info("%s: events_read=%" PRIu64 " events_lost=%" PRIu64 " txns=%" PRIu64
		 " spans_built=%" PRIu64 " spans_exported=%" PRIu64
		 " spans_dropped_queue_full=%" PRIu64 " spans_dropped_rejected=%" PRIu64
		 " spans_failed_status=%" PRIu64 " spans_failed_retries_exhausted=%" PRIu64
		 " spans_undelivered_at_shutdown=%" PRIu64 " spans_failed=%" PRIu64
		 " export_requests=%" PRIu64 " export_retries=%" PRIu64 " export_failures=%" PRIu64
		 " queue=%" PRIu64 " parse_errors=%" PRIu64,
		 when, a->events, kc[SB_CNT_RB_FULL], ts.txns, a->spans_built, es.exported,
		 es.dropped_queue_full, es.dropped_rejected, es.failed_status,
		 es.failed_retries_exhausted, es.undelivered_at_shutdown, es.failed, es.requests,
		 es.retries, failures, es.queued + es.in_flight, ts.parse_errors);
}

/* The reader thread's counters for /metrics (only this thread may read them). */
static void publish_metrics(struct agent *a)
{
	static const char links_help[] = "Spans given a parent, by how.";
	struct metrics_snapshot *s = calloc(1, sizeof(*s));
	uint64_t kc[SB_CNT_MAX] = { 0 };
	struct correlator_stats cs;
	struct tracker_stats ts;

	if (!s)
		return;
	kernel_counters(a, kc);
	tracker_stats(a->tracker, &ts);
	correlator_stats(a->correlator, &cs);
	metrics_add(s, "spanbpf_events_read_total", "Records read from the kernel ring buffer.",
		    METRIC_COUNTER, NULL, (double)a->events);
	metrics_add(s, "spanbpf_events_lost_total",
		    "Records the kernel could not queue: ring buffer full.", METRIC_COUNTER, NULL,
		    (double)kc[SB_CNT_RB_FULL]);
	metrics_add(s, "spanbpf_events_bad_total", "Records refused as malformed.",
		    METRIC_COUNTER, NULL, (double)(a->bad_records + ts.bad_events));
	metrics_add(s, "spanbpf_syscalls_unpaired_total",
		    "Syscall exits whose entry the kernel side did not see.", METRIC_COUNTER, NULL,
		    (double)kc[SB_CNT_ARGS_MISSED]);
	metrics_add(s, "spanbpf_connections_not_http_total",
		    "Connections classified as not HTTP/1.x.", METRIC_COUNTER, NULL,
		    (double)kc[SB_CNT_NOT_HTTP]);
	metrics_add(s, "spanbpf_connections_active", "Connections followed by the tracker.",
		    METRIC_GAUGE, NULL, (double)ts.conns_active);
	metrics_add(s, "spanbpf_http_requests_total", "HTTP request heads parsed.",
		    METRIC_COUNTER, NULL, (double)ts.requests);
	metrics_add(s, "spanbpf_http_exchanges_total", "HTTP exchanges finished.", METRIC_COUNTER,
		    NULL, (double)ts.txns);
	metrics_add(s, "spanbpf_http_parse_errors_total",
		    "HTTP heads or chunked framing that did not parse.", METRIC_COUNTER, NULL,
		    (double)ts.parse_errors);
	metrics_add(s, "spanbpf_http_lost_sync_total",
		    "Times a direction of a connection lost sync (bytes not captured).",
		    METRIC_COUNTER, NULL, (double)ts.lost_sync);
	metrics_add(s, "spanbpf_http_requests_dropped_total",
		    "Requests never reported (tables full, evictions).", METRIC_COUNTER, NULL,
		    (double)ts.requests_dropped);
	metrics_add(s, "spanbpf_spans_unsampled_total", "Exchanges not exported by sampling.",
		    METRIC_COUNTER, NULL, (double)cs.unsampled);
	metrics_add(s, "spanbpf_spans_built_total", "Spans built.", METRIC_COUNTER, NULL,
		    (double)a->spans_built);
	metrics_add(s, "spanbpf_span_links_total", links_help, METRIC_COUNTER, "link=\"wire\"",
		    (double)cs.linked_wire);
	metrics_add(s, "spanbpf_span_links_total", links_help, METRIC_COUNTER, "link=\"tuple\"",
		    (double)cs.linked_tuple);
	metrics_add(s, "spanbpf_span_links_total", links_help, METRIC_COUNTER, "link=\"thread\"",
		    (double)cs.linked_thread);
	metrics_publish(a->metrics, s);
	free(s);
}

/* Per scrape, on the metrics thread: exporter_stats() is safe from there. */
static void live_metrics(void *ctx, struct metrics_snapshot *s)
{
	struct agent *a = ctx;
	struct exporter_stats es;

	exporter_stats(a->exporter, &es);
	metrics_add_exporter(s, &es);
}

/* The exporter's settings from a config (at start, and for a reload). */
static void exporter_opts_from_config(const struct config *c, struct exporter_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->endpoint = c->exporter_endpoint;
	o->compression = c->compression;
	o->headers = c->exporter_headers;
	o->nheaders = c->nexporter_headers;
	o->tls_ca_file = c->exporter_tls_ca_file;
	o->tls_cert_file = c->exporter_tls_cert_file;
	o->tls_key_file = c->exporter_tls_key_file;
	o->tls_insecure_skip_verify = c->exporter_tls_insecure_skip_verify;
	o->batch_max_spans = c->batch_max_spans;
	o->batch_timeout_ns = c->batch_timeout_ns;
	o->queue_max_spans = c->queue_max_spans;
	o->timeout_ns = c->exporter_timeout_ns;
	o->retry_initial_ns = c->retry_initial_interval_ns;
	o->retry_max_ns = c->retry_max_interval_ns;
	/* 0 in the file means "no limit"; 0 here would mean the default. */
	o->retry_max_elapsed_ns = c->retry_max_elapsed_time_ns ? c->retry_max_elapsed_time_ns :
								 UINT64_MAX;
	o->user_agent = "spanbpf/" SPANBPF_VERSION;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: spanbpf [OPTIONS]\n"
		"Trace the HTTP/1.x traffic of the programs on this host with eBPF and export it\n"
		"as OpenTelemetry spans over OTLP/HTTP.\n"
		"\n"
		"  -c, --config FILE   configuration file (default " CONFIG_DEFAULT_PATH
		" if present,\n"
		"                      else built-in defaults)\n"
		"      --check-config  validate the configuration and exit (0 = valid)\n"
		"      --print-config  print the effective configuration (file, ${VAR}, OTEL_*)\n"
		"                      as YAML, each value's source in a comment, and exit\n"
		"      --console       also print each finished span as one line on stdout\n"
		"  -V, --version       print the version and exit\n"
		"  -h, --help          print this help and exit\n"
		"\n"
		"Needs root (see README.md, \"Privileges\").  The OTEL_EXPORTER_OTLP_* variables\n"
		"(ENDPOINT, COMPRESSION, HEADERS, TIMEOUT, CERTIFICATE, and their TRACES_ forms)\n"
		"and OTEL_RESOURCE_ATTRIBUTES override the file; config/spanbpf.yaml documents\n"
		"every setting.\n");
}

static const char *env_get(const char *name)
{
	return getenv(name);
}

/* Load defaults, the file and the environment; print every problem. */
static int load_config(struct config *cfg, const char *path, bool explicit_path)
{
	struct config_errors *errs = calloc(1, sizeof(*errs));
	int n = 0;

	if (!errs) {
		fprintf(stderr, "spanbpf: out of memory\n");
		return -1;
	}
	config_defaults(cfg);
	if (path && (explicit_path || access(path, F_OK) == 0)) {
		n = config_load_file(cfg, path, errs);
		if (n) {
			config_errors_print(errs, stderr);
			fprintf(stderr, "spanbpf: invalid configuration in %s (%d problem%s)\n", path, n,
				n == 1 ? "" : "s");
		}
	}
	if (!n) {
		n = config_apply_env(cfg, env_get, errs);
		if (n) {
			config_errors_print(errs, stderr);
			fprintf(stderr, "spanbpf: invalid OTEL_* environment variable%s\n",
				n == 1 ? "" : "s");
		}
	}
	free(errs);
	return n ? -1 : 0;
}

static bool is_exact(const char *pat)
{
	return !strpbrk(pat, "*?[\\");
}

/* names[] points into c; it must hold CONFIG_MAX_GLOBS entries. */
static size_t exact_names(const char (*pats)[CONFIG_GLOB_MAX], size_t n, const char **names)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		if (is_exact(pats[i]))
			names[k++] = pats[i];
	return k;
}

static void filters_from_config(const struct config *c, struct probe_filters *f,
				const char **inc, const char **exc)
{
	memset(f, 0, sizeof(*f));
	f->procs_alone = c->nprocesses > 0 && c->nports == 0;
	f->ninclude_names = exact_names(c->processes, c->nprocesses, inc);
	f->include_names = inc;
	f->nexclude_names = exact_names(c->exclude_processes, c->nexclude_processes, exc);
	f->exclude_names = exc;
	f->filter_by_tgid = selector_active(c);
	f->need_proc_ok = c->nprocesses > 0;
	f->has_ignored = c->nexclude_processes > 0;
	f->want_exec = c->nprocesses > 0 || c->nexclude_processes > 0;
	f->ports = c->ports;
	f->nports = c->nports;
	f->exclude_ports = c->exclude_ports;
	f->nexclude_ports = c->nexclude_ports;
}

static bool tgid_in(const uint32_t *set, int n, uint32_t tgid)
{
	for (int i = 0; i < n; i++)
		if (set[i] == tgid)
			return true;
	return false;
}

/* Tell the kernel what the filters say of one process. */
static void select_process(struct agent *a, uint32_t tgid, bool listens)
{
	struct selection sel;
	char exe[256];

	if (tgid == (uint32_t)getpid() || procinfo_exe_name("/proc", tgid, exe, sizeof(exe)))
		return;
	sel = selector_decide(&a->cfg, exe, listens);
	if (a->cfg.nexclude_processes)
		probe_set_tgid(a->probe, PROBE_SET_IGNORED, tgid, sel.excluded);
	if (a->cfg.nprocesses)
		probe_set_tgid(a->probe, PROBE_SET_PROC_OK, tgid, sel.proc_ok);
	if (selector_active(&a->cfg))
		probe_set_tgid(a->probe, PROBE_SET_TRACED, tgid, sel.traced);
	log_debug("pid %u (%s):%s%s%s", tgid, exe, sel.traced ? " traced" : "",
		  sel.proc_ok ? " selected" : "", sel.excluded ? " excluded" : "");
}

/*
 * Select the processes that already run: listeners on filters.ports from
 * /proc/net/tcp*, executables from /proc/PID/exe.  Later ones are selected
 * by the kernel (listen, accept, fork) and at exec (SB_EV_EXEC).
 */
static void select_existing(struct agent *a)
{
	uint32_t listeners[4096];
	int nl = 0, n = 0;

	if (a->cfg.nports)
		nl = portscan_listeners("/proc", a->cfg.ports, a->cfg.nports, listeners, 4096);
	if (nl < 0)
		nl = 0;
	if (a->cfg.nprocesses || a->cfg.nexclude_processes) {
		struct dirent *de;
		DIR *d = opendir("/proc");

		while (d && (de = readdir(d))) {
			char *end;
			unsigned long pid = strtoul(de->d_name, &end, 10);

			if (*end || pid == 0 || pid > UINT32_MAX)
				continue;
			select_process(a, (uint32_t)pid, tgid_in(listeners, nl, (uint32_t)pid));
			n++;
		}
		if (d)
			closedir(d);
	} else {
		for (int i = 0; i < nl; i++)
			select_process(a, listeners[i], true);
	}
	if (selector_active(&a->cfg))
		log_info("filters: %d process(es) listening on filters.ports, %d examined", nl, n);
}

/*
 * A process called exec: its executable changed, so may its selection.
 * Only its own sockets are looked at (in its own network namespace).
 */
static void on_exec_event(struct agent *a, uint32_t tgid)
{
	uint16_t port;
	size_t nport = 0;

	if (a->cfg.nports)
		portscan_process_ports("/proc", tgid, a->cfg.ports, a->cfg.nports, &port, 1, &nport);
	select_process(a, tgid, nport > 0);
}

/*
 * SIGHUP: read the file again.  A valid file takes effect at once (filters,
 * sampling, resources, logging, export settings) and nothing queued is lost;
 * an invalid one is reported with the same messages and changes nothing.
 */
static void reload_config(struct agent *a)
{
	struct config *next = malloc(sizeof(*next));
	struct probe_filters filters;
	const char *inc[CONFIG_MAX_GLOBS], *exc[CONFIG_MAX_GLOBS];
	struct exporter_opts eopts;
	int err;

	if (!next) {
		log_error("SIGHUP: out of memory; keeping the running configuration");
		return;
	}
	log_info("SIGHUP: reloading %s", a->config_path);
	if (load_config(next, a->config_path, a->explicit_path)) {
		log_error("SIGHUP: %s is invalid (problems above); keeping the running configuration",
			  a->config_path);
		free(next);
		return;
	}
	/* Export settings first: the one step that can still refuse the new file. */
	exporter_opts_from_config(next, &eopts);
	if (exporter_reconfigure(a->exporter, &eopts)) {
		log_error("SIGHUP: the export settings were refused (above); keeping the running "
			  "configuration");
		free(next);
		return;
	}
	if (strcmp(next->metrics_listen, a->cfg.metrics_listen) != 0) {
		metrics_stop(a->metrics);
		a->metrics = next->metrics_listen[0] ?
				     metrics_start(next->metrics_listen, live_metrics, a) : NULL;
		if (next->metrics_listen[0] && !a->metrics)
			log_error("SIGHUP: no /metrics endpoint until the next reload");
	}
	a->cfg = *next;
	free(next);
	builder_reset_resources(a->builder);
	log_set_level(a->cfg.log_level);
	correlator_set_ratio(a->correlator, a->cfg.sampling_ratio);
	builder_set_record_query(a->builder, a->cfg.record_query);
	filters_from_config(&a->cfg, &filters, inc, exc);
	err = probe_set_filters(a->probe, &filters);
	if (err)
		log_error("SIGHUP: applying the filters failed: %s", strerror(-err));
	select_existing(a);
	log_info("SIGHUP: configuration reloaded");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "print-config", no_argument, NULL, 'P' },
		{ "console", no_argument, NULL, 'o' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct agent a = { 0 };
	const char *config_path = CONFIG_DEFAULT_PATH;
	bool explicit_path = false, check_only = false, print_only = false;
	struct tracker_opts topts = { 0 };
	struct builder_opts bopts = { 0 };
	struct correlator_opts copts = { 0 };
	struct exporter_opts eopts = { 0 };
	struct probe_opts popts = { 0 };
	struct probe_filters filters;
	pthread_t closer;
	bool closing = false;
	const char *inc_names[CONFIG_MAX_GLOBS], *exc_names[CONFIG_MAX_GLOBS];
	struct sigaction sa = { 0 };
	uint64_t next_sweep, next_summary, next_metrics;
	char host[256];
	int opt, err, undelivered, rc = 1;

	while ((opt = getopt_long(argc, argv, "c:Vh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config_path = optarg;
			explicit_path = true;
			break;
		case 'C':
			check_only = true;
			break;
		case 'P':
			print_only = true;
			break;
		case 'o':
			a.console = true;
			break;
		case 'V':
			printf("spanbpf %s\n", SPANBPF_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "spanbpf: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}

	a.config_path = config_path;
	a.explicit_path = explicit_path;
	if (load_config(&a.cfg, config_path, explicit_path))
		return 2;
	if (print_only) {
		config_print_sources(&a.cfg, stdout);
		return fflush(stdout) ? 1 : 0;
	}
	if (check_only) {
		printf("%s: configuration is valid\n",
		       explicit_path || access(config_path, F_OK) == 0 ? config_path : "defaults");
		return 0;
	}
	log_set_level(a.cfg.log_level);

	/* Signals only set a flag; the loop below notices within POLL_MS. */
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_error("libcurl initialisation failed");
		return 1;
	}
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "unknown");
	host[sizeof(host) - 1] = '\0';

	exporter_opts_from_config(&a.cfg, &eopts);
	a.exporter = exporter_start(&eopts);
	if (!a.exporter) {
		log_error("starting the exporter failed");
		goto out;
	}
	bopts.record_query = a.cfg.record_query;
	bopts.host_name = host;
	bopts.proc_root = "/proc";
	bopts.cfg = &a.cfg;
	bopts.node_name = getenv("K8S_NODE_NAME");
	a.builder = builder_new(&bopts);
	copts.sampling_ratio = a.cfg.sampling_ratio;
	a.correlator = a.builder ? correlator_new(&copts, a.builder) : NULL;
	a.tracker = tracker_new(&topts, on_request, on_txn, &a);
	if (!a.builder || !a.correlator || !a.tracker) {
		log_error("out of memory");
		goto out;
	}
	if (a.cfg.metrics_listen[0]) {
		a.metrics = metrics_start(a.cfg.metrics_listen, live_metrics, &a);
		if (!a.metrics)
			goto out;
	}

	popts.self_tgid = (uint32_t)getpid();
	filters_from_config(&a.cfg, &filters, inc_names, exc_names);
	popts.filters = &filters;
	popts.on_event = on_event;
	popts.ctx = &a;
	err = probe_open(&a.probe, &popts);
	if (err)
		goto out;
	select_existing(&a);

	log_info("spanbpf %s ready: tracing %s, exporting to %s (%s)", SPANBPF_VERSION,
		 selector_active(&a.cfg) ? "the processes the filters select" : "every process",
		 a.cfg.exporter_endpoint, a.cfg.compression == COMPRESSION_GZIP ? "gzip" : "uncompressed");

	next_sweep = now_mono_ns() + SWEEP_NS;
	next_summary = now_mono_ns() + SUMMARY_NS;
	next_metrics = now_mono_ns();
	while (!stop_requested) {
		uint64_t now;

		if (reload_requested) {
			reload_requested = 0;
			reload_config(&a);
		}
		err = probe_poll(a.probe, POLL_MS);
		if (err < 0 && err != -EINTR) {
			log_error("reading the ring buffer failed: %s", strerror(-err));
			break;
		}
		now = now_mono_ns();
		if (now >= next_sweep) {
			tracker_sweep(a.tracker, now);
			correlator_sweep(a.correlator, now);
			next_sweep = now + SWEEP_NS;
		}
		if (now >= next_summary) {
			log_summary(&a, "summary");
			next_summary = now + SUMMARY_NS;
		}
		if (a.metrics && now >= next_metrics) {
			publish_metrics(&a);
			next_metrics = now + METRICS_NS;
		}
	}
	if (stop_requested)
		log_info("received %s: draining and flushing (up to %.1fs)",
			 stop_requested == SIGTERM ? "SIGTERM" : "SIGINT",
			 (double)a.cfg.shutdown_timeout_ns / 1e9);
	/* Take what the kernel already handed over, then stop reading. */
	probe_poll(a.probe, 0);
	rc = err < 0 && err != -EINTR ? 1 : 0;

out:
	if (a.probe) {
		kernel_counters(&a, a.kc_last);
		if (pthread_create(&closer, NULL, close_probe, a.probe) == 0)
			closing = true;
		else
			probe_close(a.probe);
		a.probe = NULL;
	}
	if (a.exporter) {
		undelivered = exporter_shutdown(a.exporter, a.cfg.shutdown_timeout_ns);
		log_info("exit: %d span(s) could not be delivered", undelivered);
		/* The last line: every outcome counted. */
		if (a.tracker)
			log_summary(&a, "final");
	}
	/* Before the exporter goes: a scrape reads its counters. */
	metrics_stop(a.metrics);
	exporter_free(a.exporter);
	if (closing)
		pthread_join(closer, NULL);
	tracker_free(a.tracker);
	correlator_free(a.correlator);
	builder_free(a.builder);
	curl_global_cleanup();
	return rc;
}
