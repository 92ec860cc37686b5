// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * floor.bpf.c - the least a tracepoint design can cost: programs that do
 * nothing (floor_empty) or one hash lookup keyed by the process
 * (floor_lookup: what any per-process filter costs at the very least).
 *
 * Both are bare SEC("tracepoint") programs: user space (floor.c) attaches
 * the loaded one to every tracepoint the agent's own object names, so one
 * program runs on all of them and its run_cnt/run_time_ns (with
 * kernel.bpf_stats_enabled) add up the floor's cost.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Sized like the agent's traced_tgids; the tool fills it only with --pid. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} floor_tgids SEC(".maps");

SEC("tracepoint")
int floor_empty(void *ctx)
{
	return 0;
}

SEC("tracepoint")
int floor_lookup(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	/* The result decides the return value so the lookup cannot be dropped. */
	return bpf_map_lookup_elem(&floor_tgids, &tgid) ? 1 : 0;
}
