/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * maps.h - the kernel side's maps and private types (not shared with the
 * agent, except by name through the skeleton).  Sizes live here, in one place.
 */
#ifndef SPANBPF_MAPS_H
#define SPANBPF_MAPS_H

#define SB_MAX_CONNS 65536	/* followed sockets, all processes */
#define SB_MAX_TGIDS 16384	/* processes selected by filters */
#define SB_MAX_SELF 1024	/* the agent's own connections */
#define SB_IOV_MAX 8		/* iovec entries looked at */

/* sb_conn_state.flags */
#define ST_IGNORE	0x01	/* not TCP, an excluded port, or the agent's own connection */
#define ST_FROM_START	0x02	/* accept/connect seen: first bytes are a message start */
#define ST_DATA_SEEN	0x04	/* a data record was sent */
#define ST_EMITTED	0x08	/* the agent knows this connection: tell it about close */
#define ST_TLS		0x10	/* a TLS library hands us its plaintext: raw bytes are ciphertext */

/*
 * The value of the conns map is struct sb_conn_state (events.h: the agent
 * reads and writes it too), keyed by the struct sock.  Created at accept and
 * connect (replacing whatever an earlier socket at that address left), or
 * at first sight for connections older than the agent; its portpair guards
 * against state left behind by a socket whose close was not seen.
 */

/* A record being built for iovec transfers: header, then payload. */
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wgnu-variable-sized-type-not-at-end"
struct scratch {
	struct sb_event ev;
	__u8 payload[SB_PAYLOAD_MAX * 3];	/* room past the cap: lets the verifier prove bounds */
};
#pragma clang diagnostic pop

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);	/* the agent may resize before load */
} events SEC(".maps");


struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SB_MAX_CONNS);
	__type(key, __u64);	/* struct sock * */
	__type(value, struct sb_conn_state);
} conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SB_MAX_TGIDS);
	__type(key, __u32);
	__type(value, __u8);
} traced_tgids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SB_MAX_PORTS);
	__type(key, __u16);
	__type(value, __u8);
} filter_ports SEC(".maps");

/* Ports from filters.exclude_ports: connections to or from them are ignored. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SB_MAX_PORTS);
	__type(key, __u16);
	__type(value, __u8);
} exclude_ports SEC(".maps");

/* Processes filters.processes selects (the ports selector still applies). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SB_MAX_TGIDS);
	__type(key, __u32);
	__type(value, __u8);
} proc_ok SEC(".maps");

/* Exact executable names from filters.processes / exclude_processes, by task name. */
struct comm_key {
	char comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SB_MAX_COMM_RULES);
	__type(key, struct comm_key);
	__type(value, __u8);
} comm_rules SEC(".maps");

/* Processes filters.exclude_processes excludes. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SB_MAX_TGIDS);
	__type(key, __u32);
	__type(value, __u8);
} ignored_tgids SEC(".maps");

/* The agent's own connections, by their local endpoint. */
struct endpoint_key {
	__u8 addr[16];		/* IPv4-mapped for IPv4 */
	__u16 port;
	__u16 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SB_MAX_SELF);
	__type(key, struct endpoint_key);
	__type(value, __u8);
} self_conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_buf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} conn_ids SEC(".maps");

#endif /* SPANBPF_MAPS_H */
