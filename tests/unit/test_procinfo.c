// SPDX-License-Identifier: Apache-2.0
/*
 * test_procinfo.c - resources from a fake /proc tree in a temp dir, and from
 * the real /proc for this process and a child.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "procinfo.h"

static char root[64];

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int setup(void **state)
{
	snprintf(root, sizeof(root), "/tmp/spanbpf-proc-XXXXXX");
	return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
	return nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void write_file(uint32_t pid, const char *name, const char *data, size_t n)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%u", root, pid);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%u/%s", root, pid, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, n, f), n);
	fclose(f);
}

static void write_stat(uint32_t pid, const char *comm, unsigned long long start)
{
	char buf[512];
	int n = snprintf(buf, sizeof(buf),
			 "%u (%s) S 1 %u %u 0 -1 4194304 100 0 0 0 1 2 0 0 20 0 1 0 %llu 1000000 "
			 "100 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n",
			 pid, comm, pid, pid, start);

	write_file(pid, "stat", buf, (size_t)n);
}

static void write_exe(uint32_t pid, const char *target)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%u", root, pid);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%u/exe", root, pid);
	unlink(path);
	assert_int_equal(symlink(target, path), 0);
}

/* A process: stat, comm, exe (when given) and environ (n bytes). */
static void fake_proc(uint32_t pid, const char *comm, unsigned long long start, const char *exe,
		      const char *env, size_t envlen)
{
	char c[64];
	int n = snprintf(c, sizeof(c), "%s\n", comm);

	write_stat(pid, comm, start);
	write_file(pid, "comm", c, (size_t)n);
	if (exe)
		write_exe(pid, exe);
	write_file(pid, "environ", env, envlen);
}

#define ENV(s) s, sizeof(s) - 1

static struct procinfo *new_pi(int revalidate_ms, uint32_t max)
{
	struct procinfo_opts o = {
		.proc_root = root,
		.host_name = "testhost",
		.revalidate_ms = revalidate_ms,
		.max_entries = max,
	};
	struct procinfo *pi = procinfo_new(&o);

	assert_non_null(pi);
	return pi;
}

static void assert_res_str(const struct resource *r, const char *key, const char *want)
{
	const struct attr *a = resource_find_attr(r, key);

	if (!a)
		fail_msg("resource attribute %s missing (want \"%s\")", key, want);
	assert_int_equal(a->type, ATTR_STRING);
	assert_string_equal(a->s, want);
}

static void assert_res_none(const struct resource *r, const char *key)
{
	if (resource_find_attr(r, key))
		fail_msg("resource attribute %s present", key);
}

/* service.name of pid through a fresh cache, checked and released. */
static void assert_service(uint32_t pid, const char *want)
{
	struct procinfo *pi = new_pi(0, 0);
	struct resource *r = procinfo_resource(pi, pid);

	assert_non_null(r);
	assert_res_str(r, "service.name", want);
	resource_unref(r);
	procinfo_free(pi);
}

static void test_fake_full(void **state)
{
	struct procinfo *pi = new_pi(0, 0);
	struct resource *r;
	const struct attr *a;

	fake_proc(100, "python3", 12345, "/usr/bin/python3.11",
		  ENV("HOME=/root\0OTEL_SERVICE_NAME=checkout\0PATH=/bin\0"));
	r = procinfo_resource(pi, 100);
	assert_non_null(r);
	assert_int_equal(r->tgid, 100);
	assert_int_equal(r->start_ticks, 12345);
	assert_res_str(r, "service.name", "checkout");
	assert_res_str(r, "process.executable.name", "python3.11");
	assert_res_str(r, "process.executable.path", "/usr/bin/python3.11");
	assert_res_str(r, "host.name", "testhost");
	a = resource_find_attr(r, "process.pid");
	assert_non_null(a);
	assert_int_equal(a->type, ATTR_INT);
	assert_int_equal(a->i, 100);
	assert_res_none(r, "process.command_line");
	resource_unref(r);
	procinfo_free(pi);
}

static void test_fake_service_name_sources(void **state)
{
	/* No OTEL_SERVICE_NAME: the executable name (interpreters included). */
	fake_proc(101, "node", 1, "/usr/local/bin/node", ENV("A=1\0B=2\0"));
	assert_service(101, "node");
	/* Empty OTEL_SERVICE_NAME counts as unset; a longer name is another variable. */
	fake_proc(102, "app", 1, "/srv/app", ENV("OTEL_SERVICE_NAME=\0OTEL_SERVICE_NAMEX=no\0"));
	assert_service(102, "app");
	/* The first of two entries wins, as with getenv(). */
	fake_proc(103, "app", 1, "/srv/app", ENV("OTEL_SERVICE_NAME=one\0OTEL_SERVICE_NAME=two\0"));
	assert_service(103, "one");
	/* OTEL_RESOURCE_ATTRIBUTES: percent-decoded, blanks trimmed, last wins. */
	fake_proc(104, "app", 1, "/srv/app",
		  ENV("OTEL_RESOURCE_ATTRIBUTES=service.name=x, deployment.environment=prod ,"
		      " service.name = cart%20svc \0"));
	assert_service(104, "cart svc");
	fake_proc(105, "app", 1, "/srv/app",
		  ENV("OTEL_RESOURCE_ATTRIBUTES=service.name=cart\0OTEL_SERVICE_NAME=billing\0"));
	assert_service(105, "billing");
	fake_proc(106, "app", 1, "/srv/app", ENV("OTEL_RESOURCE_ATTRIBUTES=service.name=\0"));
	assert_service(106, "app");
	/* Empty environ (kernel threads, zombies). */
	fake_proc(107, "app", 1, "/srv/app", "", 0);
	assert_service(107, "app");
}

static void test_fake_exe(void **state)
{
	struct procinfo *pi = new_pi(0, 0);
	struct resource *r;

	/* A replaced binary: " (deleted)" is not part of the name. */
	fake_proc(110, "server", 1, "/opt/app/server (deleted)", "", 0);
	r = procinfo_resource(pi, 110);
	assert_res_str(r, "service.name", "server");
	assert_res_str(r, "process.executable.name", "server");
	assert_res_str(r, "process.executable.path", "/opt/app/server");
	resource_unref(r);

	/* No exe link (permissions, kernel thread): comm. */
	fake_proc(111, "worker", 1, NULL, "", 0);
	r = procinfo_resource(pi, 111);
	assert_res_str(r, "service.name", "worker");
	assert_res_str(r, "process.executable.name", "worker");
	assert_res_none(r, "process.executable.path");
	resource_unref(r);

	/* Names from the kernel are bytes: made valid UTF-8. */
	fake_proc(112, "w\xff", 1, "/bin/caf\xc3\xa9\xfe", "", 0);
	r = procinfo_resource(pi, 112);
	assert_res_str(r, "process.executable.name", "caf\xc3\xa9\xef\xbf\xbd");
	resource_unref(r);
	procinfo_free(pi);
}

static void test_stat_parsing(void **state)
{
	struct proc_facts *f = malloc(sizeof(*f));

	assert_non_null(f);
	/* comm may hold spaces and parentheses: it ends at the last ')'. */
	write_stat(120, "a) (b c) S 9", 777);
	assert_int_equal(procinfo_read_facts(root, 120, f), 0);
	assert_true(f->alive);
	assert_string_equal(f->comm, "a) (b c) S 9");
	assert_int_equal(f->start_ticks, 777);

	/* Truncated or garbled stat: treated as gone. */
	write_file(121, "stat", "121 (x) S 1 2 3", 15);
	assert_int_equal(procinfo_read_facts(root, 121, f), -1);
	assert_false(f->alive);
	write_file(122, "stat", "garbage", 7);
	assert_int_equal(procinfo_read_facts(root, 122, f), -1);
	write_stat(123, "x", 0);
	assert_int_equal(procinfo_read_facts(root, 123, f), 0);
	assert_int_equal(procinfo_read_facts(root, 99999, f), -1);
	assert_int_equal(f->tgid, 99999);
	assert_string_equal(f->exe_name, "");
	free(f);
}

static void test_gone_process(void **state)
{
	struct procinfo *pi = new_pi(0, 0);
	struct resource *r = procinfo_resource(pi, 99999);
	const struct attr *a;

	assert_non_null(r);
	assert_res_str(r, "service.name", "unknown_service");
	assert_res_str(r, "host.name", "testhost");
	assert_res_none(r, "process.executable.name");
	a = resource_find_attr(r, "process.pid");
	assert_non_null(a);
	assert_int_equal(a->i, 99999);
	resource_unref(r);
	procinfo_free(pi);
}

static void test_cache(void **state)
{
	struct procinfo *pi = new_pi(-1, 0);
	struct resource *r1, *r2, *r3;
	struct procinfo_stats st;

	fake_proc(130, "srv", 500, "/bin/srv", ENV("OTEL_SERVICE_NAME=first\0"));
	r1 = procinfo_resource(pi, 130);
	r2 = procinfo_resource(pi, 130);
	assert_ptr_equal(r1, r2);
	resource_unref(r2);

	/* Same pid, new start time: a new process, a new resource. */
	fake_proc(130, "srv", 900, "/bin/srv", ENV("OTEL_SERVICE_NAME=second\0"));
	r2 = procinfo_resource(pi, 130);
	assert_ptr_not_equal(r1, r2);
	assert_res_str(r2, "service.name", "second");
	/* The old resource lives on for spans that still hold it. */
	assert_res_str(r1, "service.name", "first");
	resource_unref(r1);

	/* exec(): same start time, new comm. */
	fake_proc(130, "other", 900, "/bin/other", "", 0);
	r3 = procinfo_resource(pi, 130);
	assert_ptr_not_equal(r2, r3);
	assert_res_str(r3, "service.name", "other");
	resource_unref(r2);
	resource_unref(r3);

	/* Gone while cached: its last spans keep its resource. */
	write_file(130, "stat", "", 0);
	r1 = procinfo_resource(pi, 130);
	assert_ptr_equal(r1, r3);
	resource_unref(r1);

	/* ...until the exit is reported. */
	procinfo_forget(pi, 130);
	procinfo_forget(pi, 130);
	r1 = procinfo_resource(pi, 130);
	assert_res_str(r1, "service.name", "unknown_service");
	resource_unref(r1);

	procinfo_get_stats(pi, &st);
	assert_int_equal(st.misses, 4);
	assert_int_equal(st.hits, 2);
	assert_int_equal(st.replaced, 2);
	assert_int_equal(st.evicted, 0);
	assert_int_equal(st.entries, 1);
	procinfo_free(pi);
}

static void test_revalidate_interval(void **state)
{
	struct procinfo *pi = new_pi(0, 0); /* default: re-read at most once a second */
	struct resource *r1, *r2;

	fake_proc(140, "srv", 500, "/bin/srv", ENV("OTEL_SERVICE_NAME=first\0"));
	r1 = procinfo_resource(pi, 140);
	fake_proc(140, "srv", 900, "/bin/srv", ENV("OTEL_SERVICE_NAME=second\0"));
	r2 = procinfo_resource(pi, 140);
	assert_ptr_equal(r1, r2);
	resource_unref(r1);
	resource_unref(r2);
	procinfo_free(pi);
}

static void test_eviction(void **state)
{
	struct procinfo *pi = new_pi(-1, 2);
	struct resource *r[4];
	struct procinfo_stats st;

	for (uint32_t i = 0; i < 3; i++)
		fake_proc(150 + i, "p", 1, "/bin/p", "", 0);
	r[0] = procinfo_resource(pi, 150);
	r[1] = procinfo_resource(pi, 151);
	r[2] = procinfo_resource(pi, 150);	/* 150 is now the most recent */
	r[3] = procinfo_resource(pi, 152);	/* evicts 151 */
	procinfo_get_stats(pi, &st);
	assert_int_equal(st.evicted, 1);
	assert_int_equal(st.entries, 2);
	for (int i = 0; i < 4; i++)
		resource_unref(r[i]);
	r[0] = procinfo_resource(pi, 150);
	procinfo_get_stats(pi, &st);
	assert_int_equal(st.hits, 2);
	resource_unref(r[0]);
	r[0] = procinfo_resource(pi, 151);
	procinfo_get_stats(pi, &st);
	assert_int_equal(st.misses, 4);
	assert_int_equal(st.evicted, 2);
	resource_unref(r[0]);
	procinfo_free(pi);
}

static void test_environ_cap(void **state)
{
	static const char var[] = "OTEL_SERVICE_NAME=late";
	size_t n = PROCINFO_ENVIRON_MAX + 4096;
	char *env = malloc(n);

	assert_non_null(env);
	/* Filler entries "F=xxx...\0" of 1000 bytes. */
	for (size_t i = 0; i < n; i++)
		env[i] = i % 1000 == 999 ? '\0' : i % 1000 == 0 ? 'F' : i % 1000 == 1 ? '=' : 'x';

	/* Inside the cap: found. */
	memcpy(env + 2000, var, sizeof(var));
	fake_proc(160, "big", 1, "/bin/big", env, n);
	assert_service(160, "late");

	/* Beyond the cap: not looked at. */
	memset(env + 2000, 'x', sizeof(var));
	memcpy(env + PROCINFO_ENVIRON_MAX + 100, var, sizeof(var));
	fake_proc(161, "big", 1, "/bin/big", env, n);
	assert_service(161, "big");

	/* Cut by the cap: a partial value is not used. */
	memcpy(env + PROCINFO_ENVIRON_MAX - 10, var, sizeof(var));
	env[PROCINFO_ENVIRON_MAX - 11] = '\0';
	fake_proc(162, "big", 1, "/bin/big", env, n);
	assert_service(162, "big");

	/* A huge value is cut at PROCINFO_NAME_MAX - 1 bytes. */
	memset(env, 'y', n);
	memcpy(env, "OTEL_SERVICE_NAME=", 18);
	env[5000] = '\0';
	fake_proc(163, "big", 1, "/bin/big", env, 5001);
	{
		struct procinfo *pi = new_pi(0, 0);
		struct resource *r = procinfo_resource(pi, 163);
		const struct attr *a = resource_find_attr(r, "service.name");

		assert_non_null(a);
		assert_int_equal(strlen(a->s), PROCINFO_NAME_MAX - 1);
		resource_unref(r);
		procinfo_free(pi);
	}
	free(env);
}

static void test_service_name_rules(void **state)
{
	struct proc_facts *f = calloc(1, sizeof(*f));
	char name[PROCINFO_NAME_MAX];

	assert_non_null(f);
	procinfo_service_name(f, NULL, name, sizeof(name));
	assert_string_equal(name, "unknown_service");
	strcpy(f->exe_name, "nginx");
	procinfo_service_name(f, NULL, name, sizeof(name));
	assert_string_equal(name, "nginx");
	strcpy(f->env_res_service_name, "web");
	procinfo_service_name(f, NULL, name, sizeof(name));
	assert_string_equal(name, "web");
	strcpy(f->env_service_name, "frontend");
	procinfo_service_name(f, NULL, name, sizeof(name));
	assert_string_equal(name, "frontend");
	procinfo_service_name(f, NULL, name, 5);
	assert_string_equal(name, "fron");
	free(f);
}

/* ---- configuration: services rules, resource attributes, cgroup, node --- */

#define CID "3f4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6071829"
#define PODUID "1b2c3d4e-5f60-4718-9a3b-4c5d6e7f8091"

static struct config *new_cfg(void)
{
	struct config *cfg = calloc(1, sizeof(*cfg));

	assert_non_null(cfg);
	config_defaults(cfg);
	return cfg;
}

static void add_rule(struct config *cfg, const char *name, const char *exe, uint16_t port)
{
	struct config_service *svc = &cfg->services[cfg->nservices++];

	snprintf(svc->name, sizeof(svc->name), "%s", name);
	snprintf(svc->executable, sizeof(svc->executable), "%s", exe ? exe : "");
	svc->port = port;
}

static void add_attr(struct config *cfg, const char *name, const char *value)
{
	struct config_kv *kv = &cfg->resource_attributes[cfg->nresource_attributes++];

	snprintf(kv->name, sizeof(kv->name), "%s", name);
	snprintf(kv->value, sizeof(kv->value), "%s", value);
}

static struct procinfo *new_pi_cfg(const struct config *cfg, const char *node, int revalidate_ms)
{
	struct procinfo_opts o = {
		.proc_root = root,
		.host_name = "testhost",
		.revalidate_ms = revalidate_ms,
		.cfg = cfg,
		.node_name = node,
	};
	struct procinfo *pi = procinfo_new(&o);

	assert_non_null(pi);
	return pi;
}

static void make_dir(uint32_t pid, const char *sub)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%u", root, pid);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%u/%s", root, pid, sub);
	mkdir(path, 0755);
}

/*
 * The process's network namespace has a listener on each of ports (inode
 * pid * 100 + i), held by fd 10 + i, and one on port 1 held by nobody.
 */
static void fake_listen(uint32_t pid, const uint16_t *ports, size_t n)
{
	char tcp[4096], path[256], target[64];
	int len = snprintf(tcp, sizeof(tcp), "  sl  local_address rem_address   st tx_queue "
				 "rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
				 "   0: 00000000:0001 00000000:0000 0A 00000000:00000000 "
				 "00:00000000 00000000     0        0 99 1 0 100 0 0 10 0\n");

	make_dir(pid, "net");
	make_dir(pid, "fd");
	for (size_t i = 0; i < n; i++) {
		len += snprintf(tcp + len, sizeof(tcp) - (size_t)len,
				"   %zu: 0100007F:%04X 00000000:0000 0A 00000000:00000000 "
				"00:00000000 00000000     0        0 %zu 1 0 100 0 0 10 0\n",
				i + 1, ports[i], pid * 100 + i);
		snprintf(path, sizeof(path), "%s/%u/fd/%zu", root, pid, 10 + i);
		snprintf(target, sizeof(target), "socket:[%zu]", pid * 100 + i);
		unlink(path);
		assert_int_equal(symlink(target, path), 0);
	}
	write_file(pid, "net/tcp", tcp, (size_t)len);
}

static void assert_pi_service(struct procinfo *pi, uint32_t pid, const char *comm,
			      const char *want)
{
	struct resource *r = procinfo_resource_hint(pi, pid, comm);

	assert_non_null(r);
	assert_res_str(r, "service.name", want);
	resource_unref(r);
}

/* services rules first, in file order; exe and port rules; then the process's own names. */
static void test_services_rule_order(void **state)
{
	struct config *cfg = new_cfg();
	struct procinfo *pi;
	uint16_t p8080[] = { 8080 }, p9090[] = { 9090 }, p7000[] = { 7000 };

	add_rule(cfg, "orders", "python*", 8080);
	add_rule(cfg, "py-any", "python*", 0);
	add_rule(cfg, "nine", NULL, 9090);
	add_rule(cfg, "nodeapp", "node", 0);
	pi = new_pi_cfg(cfg, NULL, -1);

	/* Rule 1 (exe and port) wins over the process's OTEL_SERVICE_NAME. */
	fake_proc(200, "python3", 1, "/usr/bin/python3.11", ENV("OTEL_SERVICE_NAME=envname\0"));
	fake_listen(200, p8080, 1);
	assert_pi_service(pi, 200, NULL, "orders");
	/* Port 9090 would match rule 3, but rule 2 (any python) comes first. */
	fake_proc(201, "python3", 1, "/usr/bin/python3.11", "", 0);
	fake_listen(201, p9090, 1);
	assert_pi_service(pi, 201, NULL, "py-any");
	/* A port rule alone. */
	fake_proc(202, "ruby", 1, "/usr/bin/ruby", ENV("OTEL_SERVICE_NAME=envname\0"));
	fake_listen(202, p9090, 1);
	assert_pi_service(pi, 202, NULL, "nine");
	/* No rule: OTEL_SERVICE_NAME, then OTEL_RESOURCE_ATTRIBUTES, then the executable. */
	fake_proc(203, "ruby", 1, "/usr/bin/ruby",
		  ENV("OTEL_SERVICE_NAME=svc\0OTEL_RESOURCE_ATTRIBUTES=service.name=ra\0"));
	fake_listen(203, p7000, 1);
	assert_pi_service(pi, 203, NULL, "svc");
	fake_proc(204, "ruby", 1, "/usr/bin/ruby",
		  ENV("OTEL_RESOURCE_ATTRIBUTES=service.name=ra\0"));
	assert_pi_service(pi, 204, NULL, "ra");
	fake_proc(205, "ruby", 1, "/usr/bin/ruby", "", 0);
	assert_pi_service(pi, 205, NULL, "ruby");
	/* A port held by nobody in the process (port 1 in fake_listen) does not count. */
	add_rule(cfg, "one", NULL, 1);
	procinfo_reset(pi);
	assert_pi_service(pi, 205, NULL, "ruby");
	/* Gone before we looked: rules see the kernel's name for it. */
	assert_pi_service(pi, 99990, "node", "nodeapp");
	assert_pi_service(pi, 99991, NULL, "unknown_service");
	procinfo_free(pi);
	free(cfg);
}

/* A process not listening yet is looked at again, and renamed once it listens. */
static void test_port_rule_later_listen(void **state)
{
	struct config *cfg = new_cfg();
	struct procinfo *pi;
	struct procinfo_stats st;
	struct resource *r1, *r2;
	uint16_t p8080[] = { 8080 }, p7000[] = { 7000 };

	add_rule(cfg, "early", "early*", 0);
	add_rule(cfg, "orders", "python*", 8080);
	add_rule(cfg, "late", "early*", 0);
	pi = new_pi_cfg(cfg, NULL, -1);

	fake_proc(210, "python3", 1, "/usr/bin/python3.11", "", 0);
	fake_listen(210, NULL, 0);
	r1 = procinfo_resource(pi, 210);
	assert_res_str(r1, "service.name", "python3.11");
	fake_listen(210, p8080, 1);
	r2 = procinfo_resource(pi, 210);
	assert_ptr_not_equal(r1, r2);
	assert_res_str(r2, "service.name", "orders");
	resource_unref(r1);
	resource_unref(r2);
	procinfo_get_stats(pi, &st);
	assert_int_equal(st.started_listening, 1);
	assert_int_equal(st.misses, 2);

	/* Listening on another port already: final (not looked at again). */
	fake_proc(211, "python3", 1, "/usr/bin/python3.11", "", 0);
	fake_listen(211, p7000, 1);
	assert_pi_service(pi, 211, NULL, "python3.11");
	fake_listen(211, p8080, 1);
	assert_pi_service(pi, 211, NULL, "python3.11");

	/* Named by a rule ahead of every port rule: nothing to wait for. */
	fake_proc(212, "early1", 1, "/usr/bin/early1", "", 0);
	fake_listen(212, NULL, 0);
	assert_pi_service(pi, 212, NULL, "early");
	fake_listen(212, p8080, 1);
	assert_pi_service(pi, 212, NULL, "early");
	procinfo_get_stats(pi, &st);
	assert_int_equal(st.started_listening, 1);
	procinfo_free(pi);

	/* With an interval: looked at again only once it has passed. */
	pi = new_pi_cfg(cfg, NULL, 50);
	fake_proc(213, "python3", 1, "/usr/bin/python3.11", "", 0);
	fake_listen(213, NULL, 0);
	assert_pi_service(pi, 213, NULL, "python3.11");
	fake_listen(213, p8080, 1);
	assert_pi_service(pi, 213, NULL, "python3.11");
	usleep(120 * 1000);
	assert_pi_service(pi, 213, NULL, "orders");
	procinfo_free(pi);
	free(cfg);
}

static void assert_res_int(const struct resource *r, const char *key, int64_t want)
{
	const struct attr *a = resource_find_attr(r, key);

	if (!a)
		fail_msg("resource attribute %s missing", key);
	assert_int_equal(a->type, ATTR_INT);
	assert_int_equal(a->i, want);
}

/* Built-in order, then config, then the process's own; who wins on a shared key. */
static void test_resource_attr_precedence(void **state)
{
	static const char *const order[] = {
		"service.name", "process.pid", "process.executable.name", "host.name",
		"process.executable.path", "k8s.pod.uid", "k8s.node.name",
		"deployment.environment", "team", "k8s.cluster.name", "app.tier", "a,b",
	};
	struct config *cfg = new_cfg();
	struct procinfo *pi;
	struct resource *r;

	add_attr(cfg, "deployment.environment", "test");
	add_attr(cfg, "host.name", "cfg-host");
	add_attr(cfg, "team", "core");
	add_attr(cfg, "container.id", "");	/* "": leave it out */
	add_attr(cfg, "k8s.cluster.name", "c1");
	add_attr(cfg, "dropped", "");
	pi = new_pi_cfg(cfg, "node-7", -1);
	fake_proc(220, "app", 1, "/srv/app",
		  ENV("OTEL_RESOURCE_ATTRIBUTES=team=proc, app.tier = web ,service.name=x,"
		      "process.pid=1,k8s.pod.uid=envuid,a%2Cb=c%3Dd,empty=,,"
		      "container.id=envcid,dropped=proc\0"));
	write_file(220, "cgroup", ENV("0::/kubepods/pod" PODUID "/" CID "\n"));
	r = procinfo_resource(pi, 220);
	assert_res_str(r, "service.name", "x");
	assert_res_int(r, "process.pid", 220);
	assert_res_str(r, "process.executable.name", "app");
	assert_res_str(r, "host.name", "cfg-host");		/* config over detected */
	assert_res_none(r, "container.id");			/* config "" over all */
	assert_res_str(r, "k8s.pod.uid", "envuid");		/* process over detected */
	assert_res_str(r, "k8s.node.name", "node-7");
	assert_res_str(r, "deployment.environment", "test");
	assert_res_str(r, "team", "core");			/* config over process */
	assert_res_str(r, "app.tier", "web");
	assert_res_str(r, "a,b", "c=d");
	assert_res_str(r, "k8s.cluster.name", "c1");
	assert_res_none(r, "dropped");				/* config "" over process */
	assert_res_none(r, "empty");
	assert_res_none(r, "");
	assert_int_equal(r->nattrs, sizeof(order) / sizeof(order[0]));
	for (size_t i = 0; i < r->nattrs; i++)
		assert_string_equal(r->attrs[i].key, order[i]);
	resource_unref(r);
	procinfo_free(pi);
	free(cfg);
}

struct first_attr {
	char key[64], value[64];
	int n;
};

/* procinfo_attr_fn: keep the first member seen. */
static void record_attr(void *ctx, const char *key, const char *value)
{
	struct first_attr *got = ctx;

	if (got->n++ == 0) {
		snprintf(got->key, sizeof(got->key), "%s", key);
		snprintf(got->value, sizeof(got->value), "%s", value);
	}
}

/*
 * A process's OTEL_RESOURCE_ATTRIBUTES is decoded by the same rules as the
 * agent's own (baggage.h): %XX in keys and values, bad UTF-8 after decoding
 * made U+FFFD; any format error discards the whole value, as the process's
 * own SDK would.
 */
static void test_resource_attrs_decoding(void **state)
{
	static const struct {
		const char *value;
		int calls;		/* -1: discarded */
		const char *first_key, *first_value;
	} cases[] = {
		{ "a=1", 1, "a", "1" },
		{ " a%20b = c%2Cd ,", 1, "a b", "c,d" },
		{ "k=%E2%82%AC", 1, "k", "\xe2\x82\xac" },
		{ "k=%C3%28", 1, "k", "\xef\xbf\xbd(" },	/* not UTF-8: U+FFFD */
		{ "k=%c3%a9", 1, "k", "\xc3\xa9" },		/* hex in either case */
		{ "k=v=w", 1, "k", "v=w" },
		{ "empty=,k=v", 1, "k", "v" },
		{ ",,k=v,,", 1, "k", "v" },
		{ "", 0, NULL, NULL },
		{ "a=1,noeq", -1, NULL, NULL },
		{ "a=1,=v", -1, NULL, NULL },
		{ "a=%zz", -1, NULL, NULL },
		{ "a=%4", -1, NULL, NULL },
		{ "a=x%00y", -1, NULL, NULL },
		{ "service.name=x,bad", -1, NULL, NULL },
	};

	struct first_attr none = { .n = 0 };

	/* A raw NUL inside the value (the fuzzer's "\0\xf0=\xf4") once gave an empty key. */
	assert_int_equal(procinfo_resource_attrs("\0\xf0=\xf4", 4, record_attr, &none), -1);
	assert_int_equal(procinfo_resource_attrs("a=x\0y", 5, record_attr, &none), -1);
	assert_int_equal(none.n, 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct first_attr got = { .n = 0 };
		int r = procinfo_resource_attrs(cases[i].value, strlen(cases[i].value),
						record_attr, &got);

		if (r != cases[i].calls)
			fail_msg("\"%s\": %d, want %d", cases[i].value, r, cases[i].calls);
		if (cases[i].first_key) {
			assert_string_equal(got.key, cases[i].first_key);
			assert_string_equal(got.value, cases[i].first_value);
		}
	}
}

/* Every attribute fits, however long: the arena is sized to the resource. */
static void test_resource_attr_limits(void **state)
{
	struct config *cfg = new_cfg();
	size_t envlen = 64 * 1024, n = 0;
	char *env = malloc(envlen), key[64], *big = malloc(CONFIG_KV_VALUE_MAX);
	struct procinfo *pi;
	struct resource *r;
	const struct attr *a;

	assert_non_null(env);
	assert_non_null(big);
	memset(big, 'v', CONFIG_KV_VALUE_MAX - 1);
	big[CONFIG_KV_VALUE_MAX - 1] = '\0';
	for (int i = 0; i < CONFIG_MAX_ATTRIBUTES; i++) {
		snprintf(key, sizeof(key), "cfg.%d", i);
		add_attr(cfg, key, big);
	}
	/* Config values are not promised UTF-8 (${VAR} expansion): made so. */
	snprintf(cfg->resource_attributes[0].value, CONFIG_KV_VALUE_MAX, "a\xff");
	/* 40 process entries (32 kept), duplicates, a key too long, a value too long. */
	n += (size_t)snprintf(env + n, envlen - n, "OTEL_RESOURCE_ATTRIBUTES=");
	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(env + n, envlen - n, "env.%d=value-%d,", i, i);
	n += (size_t)snprintf(env + n, envlen - n, "env.0=again,env.1=%s%s,", big, big);
	memset(env + n, 'k', PROCINFO_ATTR_KEY_MAX);
	n += PROCINFO_ATTR_KEY_MAX;
	n += (size_t)snprintf(env + n, envlen - n, "=toolong");
	env[n++] = '\0';
	pi = new_pi_cfg(cfg, NULL, -1);
	fake_proc(230, "app", 1, "/srv/app", env, n);
	r = procinfo_resource(pi, 230);
	assert_non_null(r);
	/* 5 built-ins (no cgroup, no node), 32 from the config, 32 from the process. */
	assert_int_equal(r->nattrs, 5 + CONFIG_MAX_ATTRIBUTES + PROCINFO_ENV_ATTRS_MAX);
	assert_res_str(r, "cfg.0", "a\xef\xbf\xbd");
	assert_res_str(r, "cfg.31", big);
	a = resource_find_attr(r, "env.0");
	assert_non_null(a);
	assert_string_equal(a->s, "again");
	assert_string_equal(r->attrs[5 + CONFIG_MAX_ATTRIBUTES].key, "env.0");
	/* A member over the limits is left out (env.1 keeps its first value). */
	assert_res_str(r, "env.1", "value-1");
	assert_res_str(r, "env.31", "value-31");
	assert_res_none(r, "env.32");
	assert_res_str(r, "process.executable.path", "/srv/app");
	assert_int_equal(r->arena.used, r->arena.len);
	resource_unref(r);

	/* Only PROCINFO_RES_ATTRS_MAX bytes of the variable, cut after a whole member. */
	n = (size_t)snprintf(env, envlen, "OTEL_RESOURCE_ATTRIBUTES=early=1,");
	while (n < 25 + PROCINFO_RES_ATTRS_MAX - 100)
		n += (size_t)snprintf(env + n, envlen - n, "f=%s,", "0123456789");
	n += (size_t)snprintf(env + n, envlen - n, "late=%s,after=1", big);
	env[n++] = '\0';
	fake_proc(231, "app", 1, "/srv/app", env, n);
	r = procinfo_resource(pi, 231);
	assert_res_str(r, "early", "1");
	assert_res_str(r, "f", "0123456789");
	assert_res_none(r, "late");
	assert_res_none(r, "after");
	resource_unref(r);
	procinfo_free(pi);
	free(cfg);
	free(env);
	free(big);
}

/* container.id and k8s.pod.uid from the cgroup; k8s.node.name when given. */
static void test_container_attrs(void **state)
{
	struct procinfo *pi = new_pi_cfg(NULL, "node-7", -1);
	struct resource *r;

	fake_proc(240, "srv", 1, "/bin/srv", "", 0);
	write_file(240, "cgroup",
		   ENV("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
		       "1b2c3d4e_5f60_4718_9a3b_4c5d6e7f8091.slice/"
		       "cri-containerd-" CID ".scope\n"));
	r = procinfo_resource(pi, 240);
	assert_res_str(r, "container.id", CID);
	assert_res_str(r, "k8s.pod.uid", PODUID);
	assert_res_str(r, "k8s.node.name", "node-7");
	resource_unref(r);

	/* A host process: neither; no cgroup file at all: neither. */
	fake_proc(241, "srv", 1, "/bin/srv", "", 0);
	write_file(241, "cgroup", ENV("0::/user.slice/user-0.slice/session-1.scope\n"));
	r = procinfo_resource(pi, 241);
	assert_res_none(r, "container.id");
	assert_res_none(r, "k8s.pod.uid");
	resource_unref(r);
	fake_proc(242, "srv", 1, "/bin/srv", "", 0);
	r = procinfo_resource(pi, 242);
	assert_res_none(r, "container.id");
	resource_unref(r);
	procinfo_free(pi);

	/* No node name (NULL or ""): no k8s.node.name. */
	pi = new_pi_cfg(NULL, "", -1);
	r = procinfo_resource(pi, 240);
	assert_res_str(r, "container.id", CID);
	assert_res_none(r, "k8s.node.name");
	resource_unref(r);
	procinfo_free(pi);
}

/* After the config changes in place, procinfo_reset() makes resources anew. */
static void test_reset(void **state)
{
	struct config *cfg = new_cfg();
	struct procinfo *pi;
	struct procinfo_stats st;
	struct resource *r1, *r2;

	add_rule(cfg, "first", "python*", 0);
	add_attr(cfg, "deployment.environment", "one");
	pi = new_pi_cfg(cfg, NULL, 0);
	fake_proc(250, "python3", 1, "/usr/bin/python3.11", "", 0);
	fake_proc(251, "other", 1, "/usr/bin/other", "", 0);
	r1 = procinfo_resource(pi, 250);
	resource_unref(procinfo_resource(pi, 251));
	assert_res_str(r1, "service.name", "first");

	snprintf(cfg->services[0].name, sizeof(cfg->services[0].name), "second");
	snprintf(cfg->resource_attributes[0].value, CONFIG_KV_VALUE_MAX, "two");
	r2 = procinfo_resource(pi, 250);
	assert_ptr_equal(r1, r2);		/* cached until reset */
	resource_unref(r2);

	procinfo_reset(pi);
	procinfo_get_stats(pi, &st);
	assert_int_equal(st.entries, 0);
	r2 = procinfo_resource(pi, 250);
	assert_ptr_not_equal(r1, r2);
	assert_res_str(r2, "service.name", "second");
	assert_res_str(r2, "deployment.environment", "two");
	/* What was handed out before stays valid. */
	assert_res_str(r1, "service.name", "first");
	assert_res_str(r1, "deployment.environment", "one");
	resource_unref(r1);
	resource_unref(r2);
	procinfo_reset(pi);
	procinfo_reset(pi);
	procinfo_get_stats(pi, &st);
	assert_int_equal(st.entries, 0);
	procinfo_free(pi);
	free(cfg);
}

static void test_default_host_name(void **state)
{
	struct procinfo_opts o = { .proc_root = root };
	struct procinfo *pi = procinfo_new(&o);
	struct resource *r;
	char host[256] = "";

	assert_non_null(pi);
	gethostname(host, sizeof(host) - 1);
	r = procinfo_resource(pi, 99998);
	if (host[0])
		assert_res_str(r, "host.name", host);
	resource_unref(r);
	procinfo_free(pi);
}

static void test_real_self(void **state)
{
	struct procinfo *pi = procinfo_new(NULL);
	struct resource *r;
	char exe[4096], want[256];
	const char *env = getenv("OTEL_SERVICE_NAME");
	const struct attr *a;
	ssize_t n;

	assert_non_null(pi);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(n > 0);
	exe[n] = '\0';
	snprintf(want, sizeof(want), "%s", env && env[0] ? env : strrchr(exe, '/') + 1);
	r = procinfo_resource(pi, (uint32_t)getpid());
	assert_non_null(r);
	assert_res_str(r, "service.name", want);
	assert_res_str(r, "process.executable.name", strrchr(exe, '/') + 1);
	assert_res_str(r, "process.executable.path", exe);
	assert_true(r->start_ticks > 0);
	a = resource_find_attr(r, "process.pid");
	assert_non_null(a);
	assert_int_equal(a->i, getpid());
	resource_unref(r);
	procinfo_free(pi);
}

/* A real child with its own environment, then its exit. */
static void test_real_child(void **state)
{
	char *const argv[] = { "sleep", "30", NULL };
	char *const envp[] = { "PATH=/bin:/usr/bin", "OTEL_SERVICE_NAME=sleeper", NULL };
	struct procinfo *pi = procinfo_new(&(struct procinfo_opts){ .revalidate_ms = -1 });
	struct proc_facts *f = malloc(sizeof(*f));
	struct resource *r, *r2;
	pid_t pid;
	int status;

	assert_non_null(pi);
	assert_non_null(f);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execve("/bin/sleep", argv, envp);
		_exit(127);
	}
	/* Wait for the exec to finish (comm changes before the new environment is set up). */
	for (int i = 0; i < 500; i++) {
		if (procinfo_read_facts(NULL, (uint32_t)pid, f) == 0 &&
		    strcmp(f->comm, "sleep") == 0 && f->env_service_name[0])
			break;
		usleep(10000);
	}
	assert_string_equal(f->comm, "sleep");
	r = procinfo_resource(pi, (uint32_t)pid);
	assert_res_str(r, "service.name", "sleeper");
	assert_res_str(r, "process.executable.name", "sleep");

	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	/* Gone but cached: the same resource until forgotten. */
	r2 = procinfo_resource(pi, (uint32_t)pid);
	assert_ptr_equal(r, r2);
	resource_unref(r2);
	procinfo_forget(pi, (uint32_t)pid);
	r2 = procinfo_resource(pi, (uint32_t)pid);
	assert_res_str(r2, "service.name", "unknown_service");
	resource_unref(r2);
	resource_unref(r);
	procinfo_free(pi);
	free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fake_full),
		cmocka_unit_test(test_fake_service_name_sources),
		cmocka_unit_test(test_fake_exe),
		cmocka_unit_test(test_stat_parsing),
		cmocka_unit_test(test_gone_process),
		cmocka_unit_test(test_cache),
		cmocka_unit_test(test_revalidate_interval),
		cmocka_unit_test(test_eviction),
		cmocka_unit_test(test_environ_cap),
		cmocka_unit_test(test_service_name_rules),
		cmocka_unit_test(test_services_rule_order),
		cmocka_unit_test(test_port_rule_later_listen),
		cmocka_unit_test(test_resource_attr_precedence),
		cmocka_unit_test(test_resource_attrs_decoding),
		cmocka_unit_test(test_resource_attr_limits),
		cmocka_unit_test(test_container_attrs),
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_default_host_name),
		cmocka_unit_test(test_real_self),
		cmocka_unit_test(test_real_child),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
