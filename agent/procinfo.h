/* SPDX-License-Identifier: Apache-2.0 */
/*
 * procinfo.h - one OTLP resource per traced process, read from /proc.
 *
 * Resources are cached by tgid (bounded, least recently used out first).
 * A cached entry is trusted while its process keeps the same start time
 * (/proc/PID/stat field 22) and comm; a pid reused by a new process, or a
 * process that called exec(), gets a fresh resource.  Not thread-safe: one
 * thread (the span builder's) owns a procinfo; the resources it hands out
 * are reference counted and may travel to other threads.
 *
 * Resource attributes, in this order:
 *   service.name             see procinfo_service_name()
 *   process.pid
 *   process.executable.name  basename of /proc/PID/exe (else comm)
 *   host.name                opts.host_name, else gethostname()
 *   process.executable.path  when readable
 *   container.id             from /proc/PID/cgroup (cgroup.h); host processes have none
 *   k8s.pod.uid              from the same cgroup path
 *   k8s.node.name            opts.node_name, when set
 *   then cfg->resource_attributes (resource.attributes with the agent's
 *   OTEL_RESOURCE_ATTRIBUTES merged in), then the process's own
 *   OTEL_RESOURCE_ATTRIBUTES entries (an OTel SDK in the process would apply
 *   them; at most PROCINFO_ENV_ATTRS_MAX, values cut at
 *   PROCINFO_ATTR_VALUE_MAX - 1 bytes, keys longer than
 *   PROCINFO_ATTR_KEY_MAX - 1 bytes and empty values left out).
 *
 * When two sources give the same key, the first of these wins:
 *   1. service.name and process.pid are the agent's: nothing overrides them;
 *   2. the config (an empty configured value leaves the attribute out, also
 *      a detected one: `host.name: ""` removes host.name);
 *   3. the process's own OTEL_RESOURCE_ATTRIBUTES;
 *   4. what the agent detects (executable, host, cgroup, node).
 * A replaced built-in keeps its place in the order above.
 *
 * The command line is left out on purpose: it often carries secrets.
 */
#ifndef SPANBPF_PROCINFO_H
#define SPANBPF_PROCINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cgroup.h"
#include "config.h"
#include "span.h"

#define PROCINFO_DEFAULT_ROOT "/proc"
#define PROCINFO_DEFAULT_ENTRIES 4096
#define PROCINFO_DEFAULT_REVALIDATE_MS 1000
/* Bytes of /proc/PID/environ looked at; entries beyond are ignored. */
#define PROCINFO_ENVIRON_MAX (256 * 1024)
/* Longest service.name / executable name kept (bytes, UTF-8 safe cut). */
#define PROCINFO_NAME_MAX 256
#define PROCINFO_PATH_MAX 4096
#define PROCINFO_UNKNOWN_SERVICE "unknown_service"
/* Bytes of the process's OTEL_RESOURCE_ATTRIBUTES kept (cut after a whole member). */
#define PROCINFO_RES_ATTRS_MAX 8192
/* Entries taken from the process's OTEL_RESOURCE_ATTRIBUTES (other than service.name). */
#define PROCINFO_ENV_ATTRS_MAX 32
#define PROCINFO_ATTR_KEY_MAX CONFIG_KV_NAME_MAX	/* a key, with its NUL */
#define PROCINFO_ATTR_VALUE_MAX CONFIG_KV_VALUE_MAX	/* a value, with its NUL */
/* service.name ... k8s.node.name above. */
#define PROCINFO_BUILTIN_ATTRS 8
/* Longest wait between two looks at the ports of a process not listening yet. */
#define PROCINFO_PORT_RECHECK_MAX_MS 60000

struct procinfo_opts {
	const char *proc_root;	/* NULL = PROCINFO_DEFAULT_ROOT (a host /proc mounted elsewhere) */
	const char *host_name;	/* host.name; NULL or "" = gethostname() */
	uint32_t max_entries;	/* cache size; 0 = PROCINFO_DEFAULT_ENTRIES */
	/*
	 * How often a cached entry's start time is re-read: 0 = the default
	 * (PROCINFO_DEFAULT_REVALIDATE_MS), < 0 = on every lookup.  Exit events
	 * (procinfo_forget) are the main defence against pid reuse; this is the
	 * backstop when one is lost.
	 */
	int revalidate_ms;
	/*
	 * services rules and resource attributes, read whenever a resource is
	 * made; NULL = none.  Not copied: it must outlive the procinfo.  To
	 * change it, update the struct in place (from the procinfo's thread,
	 * between calls) and call procinfo_reset().
	 */
	const struct config *cfg;
	const char *node_name;	/* k8s.node.name; NULL or "" = left out */
};

/* What /proc says about one process; input of the service-name rules. */
struct proc_facts {
	uint32_t tgid;
	bool alive;				/* /proc/PID/stat was readable */
	uint64_t start_ticks;			/* stat field 22, 0 when !alive */
	char comm[48];				/* stat field 2 (task comm, as /proc/PID/comm) */
	char exe_name[PROCINFO_NAME_MAX];	/* basename of /proc/PID/exe, else comm, else "" */
	char exe_path[PROCINFO_PATH_MAX];	/* /proc/PID/exe without " (deleted)", or "" */
	char env_service_name[PROCINFO_NAME_MAX];	/* OTEL_SERVICE_NAME, or "" */
	/* service.name in OTEL_RESOURCE_ATTRIBUTES, or "" */
	char env_res_service_name[PROCINFO_NAME_MAX];
	/* OTEL_RESOURCE_ATTRIBUTES as the process has it (not decoded), or "" */
	char env_res_attrs[PROCINFO_RES_ATTRS_MAX];
	struct cgroup_ids cgroup;		/* container.id and k8s.pod.uid, or "" */
	/*
	 * Listening TCP sockets of the process (its fds), in its network
	 * namespace; -1 when not looked up.  Looked up only for the services
	 * rules that name a port, and only the ports of those rules are kept.
	 */
	int listening;
	uint16_t listen_ports[CONFIG_MAX_SERVICES];
	size_t nlisten_ports;
};

struct procinfo_stats {
	uint64_t hits;		/* lookups answered from the cache */
	uint64_t misses;	/* lookups that read /proc and made a resource */
	uint64_t replaced;	/* cached entries dropped: pid reused or exec() seen */
	uint64_t evicted;	/* cached entries dropped to make room */
	/* cached entries dropped because the process started listening (services ports) */
	uint64_t started_listening;
	uint32_t entries;	/* entries now cached */
};

struct procinfo;

/* A new cache; opts may be NULL (all defaults).  NULL on ENOMEM. */
struct procinfo *procinfo_new(const struct procinfo_opts *opts);
/* Free the cache and drop its resource references.  NULL is fine. */
void procinfo_free(struct procinfo *pi);

/*
 * The resource of process tgid, as a NEW reference (release with
 * resource_unref()).  A process already gone gets a resource too
 * (service.name "unknown_service", process.pid, host.name), so only ENOMEM
 * returns NULL.  A cached process that has exited keeps its resource until
 * procinfo_forget(): its last spans often complete after the exit.
 */
struct resource *procinfo_resource(struct procinfo *pi, uint32_t tgid);
/*
 * The same, with the kernel's task name for the process (the comm of its
 * records) used as executable name when /proc no longer has it.
 */
struct resource *procinfo_resource_hint(struct procinfo *pi, uint32_t tgid, const char *comm);
/*
 * The executable name of tgid as the name filters and rules see it: the
 * file name of /proc/PID/exe (without " (deleted)"), else the task name.
 * 0, or -1 when the process is gone.  Uncached.
 */
int procinfo_exe_name(const char *proc_root, uint32_t tgid, char *buf, size_t len);
/* Drop the cached entry of an exited process (after its last spans). */
void procinfo_forget(struct procinfo *pi, uint32_t tgid);
/*
 * Drop every cached entry (after opts.cfg changed): the next lookups make
 * new resources.  Resources already handed out stay valid.
 */
void procinfo_reset(struct procinfo *pi);
void procinfo_get_stats(const struct procinfo *pi, struct procinfo_stats *st);

/*
 * Read the facts of process tgid under proc_root (listening ports excepted:
 * f->listening is -1).  Returns 0, or -1 when the process is gone (f->alive
 * false; tgid and empty strings are still set).
 */
int procinfo_read_facts(const char *proc_root, uint32_t tgid, struct proc_facts *f);

/*
 * Choose service.name for a process, first match wins:
 *   1. the first services rule of cfg (NULL: none) that matches: its
 *      executable glob matches f->exe_name and the process listens on its
 *      port (f->listen_ports).  A process not listening yet when its
 *      resource is made is looked at again (after opts.revalidate_ms, then
 *      twice as long each time up to PROCINFO_PORT_RECHECK_MAX_MS) as long
 *      as a port rule could still name it; once it listens, its resource is
 *      made again;
 *   2. OTEL_SERVICE_NAME from the process's environment, when non-empty;
 *   3. service.name from its OTEL_RESOURCE_ATTRIBUTES, when non-empty;
 *   4. its executable name (interpreters give "python3.11", "node": expected);
 *   5. "unknown_service" when the process was gone before we looked.
 * The environment is the one the process started with (/proc/PID/environ
 * does not see setenv()).  Writes a NUL-terminated UTF-8 name into buf.
 */
void procinfo_service_name(const struct proc_facts *f, const struct config *cfg, char *buf,
			   size_t len);

/* ---- the parsers of /proc content, pure (no I/O), for tests and fuzzers */

/*
 * Parse /proc/PID/stat content "pid (comm) state ppid ... starttime ..."
 * (n bytes, any content; comm may hold spaces and parentheses: it ends at
 * the last ')').  comm gets the name made UTF-8, *start field 22.  Returns
 * 0, or -1 when malformed.
 */
int procinfo_parse_stat(const char *buf, size_t n, char *comm, size_t commlen, uint64_t *start);

/*
 * The OTEL_* variables of a NUL-separated /proc/PID/environ block (n bytes,
 * any content) into f (env_service_name, env_res_service_name,
 * env_res_attrs; other fields untouched).  An entry cut by the read limit
 * (no NUL after it) is ignored; for a variable present twice the first
 * wins, as with getenv().
 */
void procinfo_parse_environ(const char *buf, size_t n, struct proc_facts *f);

typedef void procinfo_attr_fn(void *ctx, const char *key, const char *value);

/*
 * Call fn for each member of a process's OTEL_RESOURCE_ATTRIBUTES value
 * (s, n bytes), in order, decoded by the rules of baggage.h (the same as
 * for the agent's own variable): key and value UTF-8, NUL-terminated.
 * Members with an empty value, a key of PROCINFO_ATTR_KEY_MAX bytes or more
 * or a value of PROCINFO_ATTR_VALUE_MAX or more are skipped.  A value with
 * any format error (a member without '=', an empty key, a bad %-escape) is
 * discarded whole, as the process's own OpenTelemetry SDK would: returns -1
 * and calls fn for none.  Else returns the number of calls.
 */
int procinfo_resource_attrs(const char *s, size_t n, procinfo_attr_fn *fn, void *ctx);

#endif /* SPANBPF_PROCINFO_H */
