// SPDX-License-Identifier: Apache-2.0
/*
 * main.c - spanbpf: HTTP/1.x spans of unmodified programs, from syscall
 * tracepoints to an OTLP/HTTP collector.
 *
 * main.c is the command line, the configuration, signals and the loop:
 * this thread reads the ring buffer into the pipeline (pipeline.h: records →
 * exchanges → links → spans → queue); the exporter's thread batches and
 * sends them.  Signal handlers only set flags.
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

#include "config.h"
#include "exporter.h"
#include "log.h"
#include "metrics.h"
#include "pipeline.h"
#include "portscan.h"
#include "probe.h"
#include "procinfo.h"
#include "selector.h"
#include "uprobes.h"

#define POLL_MS 10			/* ring buffer drain period */
#define SWEEP_NS 100000000ull		/* pipeline_tick: idle checks, questions to the kernel */
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
	struct pipeline *pipeline;
	struct exporter *exporter;
	struct metrics *metrics;
	struct probe *probe;
	struct uprobes *uprobes;
	uint64_t kc_last[SB_CNT_MAX];	/* kernel counters, kept when the probe is closed */
};

static uint64_t now_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void on_exec_event(void *ctx, uint32_t tgid);

static bool submit_span(void *exporter, struct span *s)
{
	return exporter_submit(exporter, s);
}

/* --record FILE: every ring record, as a 4-byte length then its bytes (tests/bench/replay). */
static FILE *record_file;

static int on_record(void *ctx, void *data, size_t size)
{
	uint32_t n = (uint32_t)size;

	if (record_file && (fwrite(&n, sizeof(n), 1, record_file) != 1 ||
			    fwrite(data, 1, size, record_file) != size)) {
		log_error("--record: writing failed: %s; recording stopped", strerror(errno));
		fclose(record_file);
		record_file = NULL;
	}
	return pipeline_record(ctx, data, size);
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
	uint64_t kc[SB_CNT_MAX] = { 0 };
	struct exporter_stats es;

	kernel_counters(a, kc);
	exporter_stats(a->exporter, &es);
	pipeline_log_summary(a->pipeline, when, kc, &es);
}

/* The reader thread's counters for /metrics (only this thread may read them). */
static void publish_metrics(struct agent *a)
{
	uint64_t kc[SB_CNT_MAX] = { 0 };
	struct uprobes_stats us;

	kernel_counters(a, kc);
	uprobes_stats(a->uprobes, &us);
	pipeline_publish_metrics(a->pipeline, a->metrics, kc, a->uprobes ? &us : NULL);
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
		"      --record FILE   also write every kernel record to FILE (for\n"
		"                      tests/bench/replay: the agent's own cost, replayed)\n"
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
static void on_exec_event(void *ctx, uint32_t tgid)
{
	struct agent *a = ctx;
	uint16_t port;
	size_t nport = 0;

	uprobes_look(a->uprobes, tgid);
	if (!a->cfg.nprocesses && !a->cfg.nexclude_processes)
		return;		/* the kernel keeps what fork passed on */

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
	pipeline_set_metrics(a->pipeline, a->metrics);
	pipeline_reconfigure(a->pipeline);
	log_set_level(a->cfg.log_level);
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
		{ "record", required_argument, NULL, 'R' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct agent a = { 0 };
	const char *config_path = CONFIG_DEFAULT_PATH;
	bool explicit_path = false, check_only = false, print_only = false;
	struct pipeline_opts plopts = { 0 };
	struct uprobes_opts uopts = { 0 };
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

	/* The agent's own helper: read one binary for the uprobe attacher (uprobes.h). */
	if (argc == 4 && strcmp(argv[1], "--inspect-binary") == 0)
		return uprobes_inspect_main(argv[2], argv[3]);
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
			plopts.console = true;
			break;
		case 'R':
			record_file = fopen(optarg, "we");
			if (!record_file) {
				fprintf(stderr, "spanbpf: --record %s: %s\n", optarg, strerror(errno));
				return 2;
			}
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
	plopts.cfg = &a.cfg;
	plopts.host_name = host;
	plopts.node_name = getenv("K8S_NODE_NAME");
	plopts.submit = submit_span;
	plopts.submit_ctx = a.exporter;
	plopts.on_exec = on_exec_event;
	plopts.exec_ctx = &a;
	a.pipeline = pipeline_new(&plopts);
	if (!a.pipeline) {
		log_error("out of memory");
		goto out;
	}
	if (a.cfg.metrics_listen[0]) {
		a.metrics = metrics_start(a.cfg.metrics_listen, live_metrics, &a);
		if (!a.metrics)
			goto out;
		pipeline_set_metrics(a.pipeline, a.metrics);
	}

	popts.self_tgid = (uint32_t)getpid();
	filters_from_config(&a.cfg, &filters, inc_names, exc_names);
	popts.filters = &filters;
	popts.on_event = on_record;
	popts.ctx = a.pipeline;
	err = probe_open(&a.probe, &popts);
	if (err)
		goto out;
	/* The tracker asks the kernel about quiet connections and tells it of non-HTTP ones. */
	pipeline_set_kernel(a.pipeline, probe_conn_query, probe_conn_not_http, a.probe);
	/* Binaries that need uprobes (Go), looked at on their own thread. */
	uopts.attach = probe_attach_uprobe;
	uopts.go_binary_set = probe_go_binary_set;
	uopts.ssl_enable = probe_ssl_enable;
	uopts.uv_binary_set = probe_uv_binary_set;
	uopts.tls = a.cfg.tls_enabled;
	uopts.go = a.cfg.runtime_go;
	uopts.node = a.cfg.runtime_node;
	uopts.ctx = a.probe;
	uopts.self_tgid = popts.self_tgid;
	uopts.inspector = "/proc/self/exe";
	a.uprobes = uprobes_start(&uopts);
	if (a.uprobes)
		uprobes_look_all(a.uprobes);
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
			pipeline_tick(a.pipeline, now);
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
	/* Take what the kernel already handed over, then stop reading; nothing waits any more. */
	probe_poll(a.probe, 0);
	pipeline_flush(a.pipeline);
	rc = err < 0 && err != -EINTR ? 1 : 0;

out:
	uprobes_stop(a.uprobes);
	a.uprobes = NULL;
	if (a.probe) {
		kernel_counters(&a, a.kc_last);
		if (a.pipeline)
			pipeline_set_kernel(a.pipeline, NULL, NULL, NULL);
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
		if (a.pipeline)
			log_summary(&a, "final");
	}
	/* Before the exporter goes: a scrape reads its counters. */
	metrics_stop(a.metrics);
	exporter_free(a.exporter);
	if (closing)
		pthread_join(closer, NULL);
	pipeline_free(a.pipeline);
	if (record_file)
		fclose(record_file);
	curl_global_cleanup();
	return rc;
}
