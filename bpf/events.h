/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * events.h - the records the kernel programs hand to the agent.
 *
 * Included by the BPF programs and by the agent.  Fixed-width types,
 * explicit padding, no pointers: the layout is the same on both sides.
 *
 * One record format serves every source of bytes: syscall tracepoints
 * (plain TCP), and uprobes on TLS libraries (the plaintext of a TLS
 * connection, tied to its socket).  A connection is one kernel socket; its
 * state lives in the kernel, keyed by the socket, and every record names it
 * by conn_id.
 *
 * Records per connection: the first transfer of each message (the bytes one
 * side sends before the other answers) with a copy of its first bytes, and
 * further transfers of that message only while they may still hold a
 * message head.  Transfers that surely carry body bytes are only counted in
 * the kernel; the totals reach the agent with the connection's next record
 * (sb_event.prev), with its close, or when the agent asks (the conns map,
 * struct sb_conn_state).  So a keep-alive exchange costs two records, not one
 * per syscall.
 */
#ifndef SPANBPF_EVENTS_H
#define SPANBPF_EVENTS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Bytes of payload one record may carry (a power of two, masked in BPF). */
#define SB_PAYLOAD_MAX 8192
/*
 * Payload is copied while the current message has moved fewer than this
 * many bytes and its head may not be over: enough for request and response
 * heads, not for bodies.
 */
#define SB_CAPTURE_WINDOW 16384
/* Last bytes of a transfer, sent when the payload does not reach them. */
#define SB_TAIL_MAX 16

/* Limits the kernel side and the agent share (sizes of maps the agent fills). */
#define SB_MAX_PORTS 64		/* filters.ports and filters.exclude_ports, each */
#define SB_MAX_COMM_RULES 128	/* exact names from filters.processes / exclude_processes */

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

/* Where the bytes of a record were seen. */
enum sb_source {
	SB_SRC_SYSCALL = 0,	/* read/write family on the socket: plain TCP */
	SB_SRC_TLS = 1,		/* plaintext at a TLS library's read/write (OpenSSL, Go crypto/tls) */
	SB_SRC_MAX,
};

/* Flags on SB_EV_DATA records. */
#define SB_F_MSG_START	0x01	/* first bytes after a change of direction */
#define SB_F_CONN_START 0x02	/* first data record of this connection */
#define SB_F_SENDFILE	0x04	/* bytes came from a file (sendfile): no payload */
#define SB_F_EOF	0x08	/* a read returned 0: the peer finished sending (len 0) */

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
 * How far a message got, as the kernel counted it: what the agent needs to
 * finish a message whose last transfers were only counted.
 */
struct sb_msg_end {
	__u64 total;		/* bytes of the message */
	__u64 last_ts;		/* CLOCK_MONOTONIC at its last transfer */
	__u32 last_tid;		/* thread of its last transfer */
	__u32 seq;		/* the message's number on the connection (1, 2, ...); 0: none */
	__u8 dir;		/* enum sb_dir */
	__u8 tail_len;		/* bytes of tail[] present */
	__u8 _pad[6];
	__u8 tail[SB_TAIL_MAX];	/* last bytes of its last transfer if that one was only counted */
};

/*
 * The request a call is made for, as a runtime's own hooks saw it (Go: the
 * server request the calling goroutine, or the goroutine that started it,
 * was serving): the server connection and its request message number.
 */
struct sb_parent {
	__u64 conn_id;		/* the server request's connection */
	__u32 seq;		/* the message number of the request on it */
	__u8 how;		/* enum sb_parent_how */
	__u8 _pad[3];
};

enum sb_parent_how {
	SB_PARENT_UNKNOWN = 0,	/* no runtime hook spoke */
	SB_PARENT_SET = 1,	/* conn_id/seq name the request */
	SB_PARENT_NONE = 2,	/* a hook saw the call: it serves no request */
};

/*
 * One record on the ring buffer.  cap_len bytes of payload follow the
 * header; the record is exactly sizeof(struct sb_event) + cap_len long.
 *
 * msg_seq numbers the messages of a connection (1 = its first message seen;
 * it grows at every change of direction); msg_off is how many bytes of the
 * message came before this transfer.  The agent compares both with what it
 * has seen to know the size of what was only counted.
 *
 * prev (SB_F_MSG_START records: the message before this one; SB_EV_CLOSE:
 * the message in progress) says how that message ended.
 */
struct sb_event {
	__u8 type;		/* enum sb_event_type */
	__u8 dir;		/* enum sb_dir */
	__u8 role;		/* enum sb_role */
	__u8 flags;		/* SB_F_* */
	__u32 tgid;		/* process */
	__u32 tid;		/* thread that made the call */
	__s32 fd;
	__u64 ts_ns;		/* CLOCK_MONOTONIC at the end of the call */
	__u64 conn_id;		/* unique per connection, stable across its records */
	__u64 sock;		/* key of the connection's kernel state (struct sb_conn_state) */
	struct sb_tuple tuple;
	__u32 len;		/* bytes transferred; connect(): its return value */
	__u32 cap_len;		/* bytes of payload[] present */
	__u64 msg_off;		/* bytes of this message before this transfer */
	__u32 msg_seq;		/* this transfer's message (see above); 0: not numbered */
	__u8 tail_len;		/* bytes of tail[] present */
	__u8 src;		/* enum sb_source */
	__u8 _pad[2];
	__u8 tail[SB_TAIL_MAX];	/* last tail_len bytes of the transfer */
	struct sb_msg_end prev;
	struct sb_parent parent;	/* SB_F_MSG_START of a client's request: who it serves */
	char comm[16];		/* task name (DATA: only with SB_F_CONN_START), fallback for /proc */
	__u8 payload[];		/* first cap_len bytes of the transfer */
};

/* Is a connection HTTP/1.x, as far as one source of its bytes tells? */
enum sb_http_class {
	SB_HTTP_UNKNOWN = 0,
	SB_HTTP_YES = 1,
	SB_HTTP_NO = 2,		/* ignored from now on */
};

/* The message in progress, one per source (raw bytes, TLS plaintext). */
struct sb_msg_state {
	struct sb_msg_end cur;	/* cur.total: bytes so far; cur.seq: 0 before the first */
	__u8 http;		/* enum sb_http_class, for this source */
	__u8 head_done;		/* the current message's head is surely over: body bytes follow */
	__u8 _pad[6];
};

/*
 * One followed socket: the value of the conns map, keyed by sb_event.sock.
 * The agent reads it to learn what was only counted of a quiet connection
 * (m[src].cur), and writes m[*].http = SB_HTTP_NO when its parser finds
 * that a connection is not HTTP after all.
 */
struct sb_conn_state {
	__u64 conn_id;
	struct sb_tuple tuple;
	__u32 portpair;		/* skc_portpair when created */
	__u8 role;		/* enum sb_role */
	__u8 flags;		/* kernel side's own (maps.h) */
	__u8 _pad[2];
	struct sb_msg_state m[SB_SRC_MAX];
	/* Set by a runtime hook for the next request this client writes (Go's Transport). */
	struct sb_parent next_parent;
};

/* ---- Go binaries (bpf/golang.h) ------------------------------------------ */

#define SB_GO_MAX_BINARIES 64	/* Go executables probed at once */

/* Functions of a Go binary the agent probes (the low byte of a cookie). */
enum sb_go_fn {
	SB_GO_FN_SERVE = 0,
	SB_GO_FN_NEWPROC1,
	SB_GO_FN_NEWPROC1_RET,
	SB_GO_FN_GOEXIT1,
	SB_GO_FN_ROUNDTRIP,
	SB_GO_FN_TLS_WRITE,
	SB_GO_FN_TLS_READ,
	SB_GO_FN_TLS_READ_RET,
	SB_GO_FN_MAX,
};

/*
 * One Go binary's layout, from its DWARF and symbols (written by the agent).
 * Addresses are link-time; the probe computes the load bias from the
 * address it fires at (PIE binaries).
 */
struct sb_go_binary {
	__u64 fn_addr[SB_GO_FN_MAX];	/* link-time address of each probed function's entry */
	__u64 itab_tcpconn;		/* go.itab.*net.TCPConn,net.Conn */
	__u64 itab_tlsconn;		/* go.itab.*crypto/tls.Conn,net.Conn (0: no crypto/tls) */
	__u64 itab_response;		/* go.itab.*net/http.response,net/http.ResponseWriter */
	__u32 g_goid;			/* runtime.g.goid */
	__u32 response_conn;		/* net/http.response.conn (*conn) */
	__u32 conn_rwc;			/* net/http.conn.rwc (net.Conn) */
	__u32 pconn_conn;		/* net/http.persistConn.conn (net.Conn) */
	__u32 tls_conn;			/* crypto/tls.Conn.conn (net.Conn) */
	__u32 tcpconn_fd;		/* net.TCPConn conn.fd (*netFD) */
	__u32 netfd_sysfd;		/* net.netFD pfd.Sysfd (int) */
	__u32 _pad;
};

/* CPUs whose counters are kept apart (a power of two; more share rows, still summed right). */
#define SB_MAX_CPUS 512

/* Counters by CPU (the cpu_counters array in the BPF object's .bss), by index. */
enum sb_counter {
	SB_CNT_EVENTS = 0,	/* records submitted */
	SB_CNT_RB_FULL,		/* records lost: ring buffer full */
	SB_CNT_NOT_HTTP,	/* connections classified as not HTTP */
	SB_CNT_COUNTED,		/* transfers only counted (no record) */
	SB_CNT_MAP_FULL,	/* connection states that could not be stored */
	SB_CNT_TLS_UNTIED,	/* TLS library reads/writes whose socket is unknown: no record */
	SB_CNT_MAX,
};

/* One CPU's counters (.bss cpu_counters[SB_MAX_CPUS]): a 64-byte row, no false sharing. */
struct sb_cpu_counters {
	__u64 v[8];
} __attribute__((aligned(64)));
_Static_assert(SB_CNT_MAX <= 8, "a counter row holds 8");

/* Values of the comm_rules map (exact executable names, by task name). */
#define SB_RULE_INCLUDE 0x01	/* named in filters.processes */
#define SB_RULE_EXCLUDE 0x02	/* named in filters.exclude_processes */

#endif /* SPANBPF_EVENTS_H */
