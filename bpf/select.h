/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * select.h - which processes are traced.  The agent writes the filters
 * (.bss is mapped into the agent) and the per-process selection maps; the
 * kernel side applies them on every call and keeps them through listen,
 * accept, fork and exec.
 */
#ifndef SPANBPF_SELECT_H
#define SPANBPF_SELECT_H

/*
 * Filters: written by the agent at start-up and on SIGHUP, so they are
 * plain globals rather than read-only ones.
 */
volatile bool filter_by_tgid;	/* a selector is set: trace only traced_tgids */
volatile bool need_proc_ok;	/* filters.processes set: ports select only proc_ok tgids */
volatile bool has_ignored;	/* filters.exclude_processes matched something */
volatile bool want_exec;	/* the agent classifies processes at exec */
volatile bool procs_alone;	/* filters.processes without filters.ports: proc_ok = traced */

/* Is this process one we trace?  The agent itself never is. */
static __always_inline bool tgid_traced(__u32 tgid)
{
	if (tgid == self_tgid)
		return false;
	if (has_ignored && bpf_map_lookup_elem(&ignored_tgids, &tgid))
		return false;
	if (filter_by_tgid && !bpf_map_lookup_elem(&traced_tgids, &tgid))
		return false;
	return true;
}

/*
 * With filters.ports: a process that accepts on or listens on a selected
 * port is traced (if filters.processes is set too, only a process it selects).
 */
static __always_inline void select_by_port(__u32 tgid, __u16 lport)
{
	__u8 one = 1;

	if (!filter_by_tgid || !bpf_map_lookup_elem(&filter_ports, &lport))
		return;
	if (need_proc_ok && !bpf_map_lookup_elem(&proc_ok, &tgid))
		return;
	if (has_ignored && bpf_map_lookup_elem(&ignored_tgids, &tgid))
		return;
	bpf_map_update_elem(&traced_tgids, &tgid, &one, BPF_ANY);
}

#endif /* SPANBPF_SELECT_H */
