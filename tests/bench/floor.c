// SPDX-License-Identifier: Apache-2.0
/*
 * floor.c - spanbpf_floor: the cost of the agent's kernel hooks with nothing
 * in them, for tests/bench/overhead.sh.
 *
 *   spanbpf_floor [--lookup] [--pid PID]... [--object FILE] [--list]
 *
 * Attaches one empty BPF program (with --lookup: one that does a single hash
 * lookup keyed by tgid, the least any per-process filter costs) to every
 * tracepoint the agent attaches.  The list comes from the agent's own BPF
 * object: the one embedded in its skeleton at build time, or --object FILE
 * (build/gen/spanbpf.bpf.o), by each program's section name
 * ("tracepoint/syscalls/sys_exit_read"), so the floor follows the agent's
 * hook set without a copy of it.  Sections that are not tracepoints (uprobes,
 * ...) are named on stderr and not mirrored.
 *
 * --pid PID puts PID in the lookup map (hits cost like misses, near enough);
 * --list prints the tracepoints and exits.  Prints "ready: ..." on stderr once
 * every tracepoint is attached, then waits for SIGINT/SIGTERM.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "floor.skel.h"
#include "events.h"
#include "spanbpf.skel.h"

#define MAX_TPS 128
#define MAX_PIDS 64

struct tp {
	char category[64];
	char name[128];
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/*
 * The tracepoints of the agent's object (embedded, or the file at path):
 * fills tps (up to max) and returns how many, or a negative errno.
 */
static int agent_tracepoints(const char *path, struct tp *tps, int max)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = "spanbpf_bpf");
	struct bpf_program *prog;
	struct bpf_object *obj;
	const void *elf;
	size_t elf_sz;
	int n = 0, err = 0;

	if (path) {
		obj = bpf_object__open_file(path, NULL);
	} else {
		elf = spanbpf_bpf__elf_bytes(&elf_sz);
		obj = bpf_object__open_mem(elf, elf_sz, &opts);
	}
	if (!obj) {
		err = -errno;
		fprintf(stderr, "spanbpf_floor: opening the agent's BPF object%s%s failed: %s\n",
			path ? " " : "", path ? path : "", strerror(-err));
		return err;
	}
	bpf_object__for_each_program(prog, obj) {
		const char *sec = bpf_program__section_name(prog);
		const char *rest = NULL, *slash;

		if (!strncmp(sec, "tracepoint/", 11))
			rest = sec + 11;
		else if (!strncmp(sec, "tp/", 3))
			rest = sec + 3;
		slash = rest ? strchr(rest, '/') : NULL;
		if (!slash || slash == rest || !slash[1]) {
			fprintf(stderr, "spanbpf_floor: not mirrored (not a tracepoint): %s (%s)\n",
				sec, bpf_program__name(prog));
			continue;
		}
		if (n >= max) {
			fprintf(stderr, "spanbpf_floor: more than %d tracepoints\n", max);
			err = -E2BIG;
			break;
		}
		if ((size_t)(slash - rest) >= sizeof(tps[n].category) ||
		    strlen(slash + 1) >= sizeof(tps[n].name)) {
			fprintf(stderr, "spanbpf_floor: tracepoint name too long: %s\n", sec);
			err = -ENAMETOOLONG;
			break;
		}
		memcpy(tps[n].category, rest, (size_t)(slash - rest));
		tps[n].category[slash - rest] = '\0';
		strcpy(tps[n].name, slash + 1);
		n++;
	}
	bpf_object__close(obj);
	return err ? err : n;
}

/* The kernel's id of a loaded program (what bpftool prog show lists), or 0. */
static __u32 prog_id(const struct bpf_program *prog)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len))
		return 0;
	return info.id;
}

static int parse_pid(const char *s, __u32 *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v <= 0 || v > INT_MAX)
		return -EINVAL;
	*out = (__u32)v;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: spanbpf_floor [--lookup] [--pid PID]... [--object FILE] [--list]\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "lookup", no_argument, NULL, 'l' },
		{ "pid", required_argument, NULL, 'p' },
		{ "object", required_argument, NULL, 'o' },
		{ "list", no_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static struct tp tps[MAX_TPS];
	struct bpf_link *links[MAX_TPS] = { 0 };
	struct floor_bpf *skel = NULL;
	struct bpf_program *prog;
	bool lookup = false, list = false;
	const char *object = NULL;
	sigset_t stop_sigs, wait_mask;
	__u32 pids[MAX_PIDS];
	int npids = 0, ntps, nlinks = 0, err = 0, c;

	while ((c = getopt_long(argc, argv, "lp:o:Lh", longopts, NULL)) != -1) {
		switch (c) {
		case 'l':
			lookup = true;
			break;
		case 'p':
			if (npids >= MAX_PIDS || parse_pid(optarg, &pids[npids])) {
				fprintf(stderr, "spanbpf_floor: bad or too many --pid: %s\n", optarg);
				return 2;
			}
			npids++;
			break;
		case 'o':
			object = optarg;
			break;
		case 'L':
			list = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	libbpf_set_print(libbpf_quiet);

	/* The hook set: whatever the agent's object attaches. */
	ntps = agent_tracepoints(object, tps, MAX_TPS);
	if (ntps < 0)
		return 1;
	if (ntps == 0) {
		fprintf(stderr, "spanbpf_floor: the agent's object names no tracepoint\n");
		return 1;
	}
	if (list) {
		for (int i = 0; i < ntps; i++)
			printf("%s/%s\n", tps[i].category, tps[i].name);
		return 0;
	}

	/* Open, configure (load only the flavour asked for), load. */
	skel = floor_bpf__open();
	if (!skel) {
		err = -errno;
		fprintf(stderr, "spanbpf_floor: opening the floor's BPF object failed: %s\n",
			strerror(-err));
		goto cleanup;
	}
	bpf_program__set_autoload(lookup ? skel->progs.floor_empty : skel->progs.floor_lookup,
				  false);
	prog = lookup ? skel->progs.floor_lookup : skel->progs.floor_empty;
	err = floor_bpf__load(skel);
	if (err) {
		fprintf(stderr, "spanbpf_floor: loading failed: %s (run as root)\n", strerror(-err));
		goto cleanup;
	}
	for (int i = 0; i < npids; i++) {
		__u8 one = 1;

		err = bpf_map__update_elem(skel->maps.floor_tgids, &pids[i], sizeof(pids[i]), &one,
					   sizeof(one), BPF_ANY);
		if (err) {
			fprintf(stderr, "spanbpf_floor: adding pid %u failed: %s\n", pids[i],
				strerror(-err));
			goto cleanup;
		}
	}

	/* Attach the one program to every tracepoint, or to none. */
	for (int i = 0; i < ntps; i++) {
		links[i] = bpf_program__attach_tracepoint(prog, tps[i].category, tps[i].name);
		if (!links[i]) {
			err = -errno;
			fprintf(stderr, "spanbpf_floor: attaching to %s/%s failed: %s (is tracefs "
				"mounted?)\n", tps[i].category, tps[i].name, strerror(-err));
			goto cleanup;
		}
		nlinks++;
	}

	/* Wait for SIGINT/SIGTERM; blocked outside sigsuspend() so none is missed. */
	sigemptyset(&stop_sigs);
	sigaddset(&stop_sigs, SIGINT);
	sigaddset(&stop_sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &stop_sigs, &wait_mask);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	fprintf(stderr, "spanbpf_floor: ready: %s program %s (id %u) on %d tracepoints\n",
		lookup ? "lookup" : "empty", bpf_program__name(prog),
		prog_id(prog), nlinks);
	while (!stop)
		sigsuspend(&wait_mask);

cleanup:
	for (int i = 0; i < nlinks; i++)
		bpf_link__destroy(links[i]);
	floor_bpf__destroy(skel);
	return err != 0;
}
