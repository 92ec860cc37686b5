/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * events.h - the records the kernel programs hand to the agent.
 *
 * Included by bpf/spanbpf.bpf.c and by the agent.  Fixed-width types,
 * explicit padding, no pointers: the layout is the same on both sides.
 */
#ifndef SPANBPF_EVENTS_H
#define SPANBPF_EVENTS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Bytes of payload one record may carry (a power of two, masked in BPF). */
#define SB_PAYLOAD_MAX 8192
/*
 * Payload is copied while the current message (the run of bytes in one
 * direction) has moved fewer than this many bytes: enough for request and
 * response heads, not for bodies.  Later records carry only counts and a tail.
 */
#define SB_CAPTURE_WINDOW 16384
/* Last bytes of a transfer, sent when the payload does not reach them. */
#define SB_TAIL_MAX 16

enum sb_event_type {
	SB_EV_DATA = 1,		/* bytes read or written on a traced connection */
	SB_EV_CLOSE = 2,	/* a traced connection was closed by its process */
	SB_EV_CONNECT = 3,	/* a connect() returned; len holds its return value (0, -EINPROGRESS, error) */
	SB_EV_PROC_EXIT = 4,	/* a traced process exited (tgid only) */
	SB_EV_EXEC = 5,		/* a process called exec (sent when process filters are set) */
};

enum sb_dir {
	SB_DIR_NONE = 0,
	SB_DIR_READ = 1,	/* bytes that arrived from the peer */
	SB_DIR_WRITE = 2,	/* bytes sent to the peer */
};

enum sb_role {
	SB_ROLE_UNKNOWN = 0,	/* connection predates the agent: infer from data */
	SB_ROLE_SERVER = 1,	/* obtained with accept()/accept4() */
	SB_ROLE_CLIENT = 2,	/* obtained with connect() */
};

/* Flags on SB_EV_DATA records. */
#define SB_F_MSG_START	0x01	/* first bytes after a change of direction */
#define SB_F_CONN_START 0x02	/* first data record of this connection */
#define SB_F_SENDFILE	0x04	/* bytes came from a file (sendfile): no payload */

/*
 * A TCP connection seen from the traced process.  IPv4 addresses are
 * stored IPv4-mapped (::ffff:a.b.c.d) so both families share one layout.
 */
struct sb_tuple {
	__u8 laddr[16];		/* local address */
	__u8 raddr[16];		/* remote (peer) address */
	__u16 lport;		/* local port, host byte order */
	__u16 rport;		/* remote port, host byte order */
	__u16 family;		/* AF_INET or AF_INET6, as the socket has it */
	__u16 _pad;
};

/*
 * One record on the ring buffer.  cap_len bytes of payload follow the
 * header; the record is exactly sizeof(struct sb_event) + cap_len long.
 */
struct sb_event {
	__u8 type;		/* enum sb_event_type */
	__u8 dir;		/* enum sb_dir */
	__u8 role;		/* enum sb_role */
	__u8 flags;		/* SB_F_* */
	__u32 tgid;		/* process */
	__u32 tid;		/* thread that made the syscall */
	__s32 fd;
	__u64 ts_ns;		/* CLOCK_MONOTONIC at syscall exit */
	__u64 conn_id;		/* unique per connection, stable across its records */
	struct sb_tuple tuple;
	__u32 len;		/* bytes transferred; connect(): its return value */
	__u32 cap_len;		/* bytes of payload[] present */
	__u32 tail_len;		/* bytes of tail[] present */
	__u32 _pad;
	__u8 tail[SB_TAIL_MAX];	/* last tail_len bytes of the transfer */
	char comm[16];		/* task name (DATA: only with SB_F_CONN_START), fallback for /proc */
	__u8 payload[];		/* first cap_len bytes of the transfer */
};

/* Per-CPU counters, indexes into the "counters" map. */
enum sb_counter {
	SB_CNT_EVENTS = 0,	/* records submitted */
	SB_CNT_RB_FULL,		/* records lost: ring buffer full */
	SB_CNT_ARGS_MISSED,	/* syscall exits whose entry was not seen */
	SB_CNT_NOT_HTTP,	/* connections classified as not HTTP */
	SB_CNT_MAX,
};

/* Values of the comm_rules map (exact executable names, by task name). */
#define SB_RULE_INCLUDE 0x01	/* named in filters.processes */
#define SB_RULE_EXCLUDE 0x02	/* named in filters.exclude_processes */

/* Key of the per-(process, fd) connection state. */
struct sb_fd_key {
	__u32 tgid;
	__s32 fd;
};

#endif /* SPANBPF_EVENTS_H */
