// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * spanbpf.bpf.c - syscall tracepoints that follow the TCP connections of
 * traced processes and hand their HTTP bytes to the agent.
 *
 * Hot path, in order of cost: drop the agent's own calls and untraced
 * processes; resolve the fd to its file; look the connection up; park the
 * arguments for the exit.  The exit copies a bounded prefix of the bytes
 * (only at the start of a message, see SB_CAPTURE_WINDOW) and submits one
 * record without waking the reader: the agent drains the ring on a timer.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "events.h"
#include "maps.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define IPPROTO_TCP 6
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define EINPROGRESS 115
#define ECONNREFUSED_ERR 111
#define TCP_CLOSE_STATE 7

/* Set by the agent between open and load. */
const volatile __u32 self_tgid = 0;
const volatile __u64 wakeup_bytes = 1 << 20;	/* wake the reader past this backlog */

/*
 * Filters: written by the agent at start-up and on SIGHUP (.bss is mapped
 * into the agent), so they are plain globals rather than read-only ones.
 */
volatile bool filter_by_tgid;	/* a selector is set: trace only traced_tgids */
volatile bool need_proc_ok;	/* filters.processes set: ports select only proc_ok tgids */
volatile bool has_ignored;	/* filters.exclude_processes matched something */
volatile bool has_exclude_ports; /* filters.exclude_ports set */
volatile bool want_exec;	/* the agent classifies processes at exec */
volatile bool procs_alone;	/* filters.processes without filters.ports: proc_ok = traced */

/*
 * Mask v where the verifier sees it: clang otherwise keeps an unmasked copy
 * of the register for the helper call ("R2 min value is negative").
 */
#define BOUND(v, mask) asm volatile("%[x] &= " #mask : [x] "+r"(v))
_Static_assert(SB_PAYLOAD_MAX == 8192, "the BOUND() masks below assume 8 KiB payloads");
_Static_assert(SB_TAIL_MAX == 16, "the BOUND() masks below assume 16-byte tails");

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);

	if (v)
		*v += 1;
}

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
 * The open file behind fd in the current task, or NULL.  On every traced
 * syscall, so cheap: with bpf_get_current_task_btf() (5.11+, kernel commit
 * 3ca1032ab7ab) the walk to the fd array is plain loads; older kernels take
 * one probe read per step.
 */
static __always_inline struct file *fd_to_file(int fd)
{
	struct file **fds;
	struct file *f = NULL;
	unsigned int max;

	if (fd < 0)
		return NULL;
	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_get_current_task_btf)) {
		struct task_struct *task = bpf_get_current_task_btf();
		struct fdtable *fdt = task->files->fdt;

		if (!fdt)
			return NULL;
		max = fdt->max_fds;
		fds = fdt->fd;
	} else {
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();
		struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);

		if (!fdt)
			return NULL;
		max = BPF_CORE_READ(fdt, max_fds);
		fds = BPF_CORE_READ(fdt, fd);
	}
	if ((unsigned int)fd >= max)
		return NULL;
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]))
		return NULL;
	return f;
}

static __always_inline void map_v4(__u8 out[16], __u32 addr)
{
	__builtin_memset(out, 0, 10);
	out[10] = 0xff;
	out[11] = 0xff;
	__builtin_memcpy(out + 12, &addr, 4);
}

/* Fill t from the socket; false when it is not a TCP/IP stream socket. */
static __always_inline bool sock_tuple(struct sock *sk, struct sb_tuple *t)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	__u16 type = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_type);
	__u16 proto = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);

	if (type != SOCK_STREAM || proto != IPPROTO_TCP)
		return false;
	if (family == AF_INET) {
		map_v4(t->laddr, BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr));
		map_v4(t->raddr, BPF_CORE_READ(sk, __sk_common.skc_daddr));
	} else if (family == AF_INET6) {
		/* bpf_core_read, not BPF_CORE_READ_INTO: that copies sizeof(*dst), one byte here. */
		bpf_core_read(t->laddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(t->raddr, 16, &sk->__sk_common.skc_v6_daddr);
	} else {
		return false;
	}
	t->family = family;
	t->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	t->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	return true;
}

/* The socket behind a file, or NULL when the file is not a socket. */
static __always_inline struct sock *file_sock(struct file *f)
{
	umode_t mode = BPF_CORE_READ(f, f_inode, i_mode);
	struct socket *sock;

	if ((mode & S_IFMT) != S_IFSOCK)
		return NULL;
	sock = BPF_CORE_READ(f, private_data);
	if (!sock)
		return NULL;
	return BPF_CORE_READ(sock, sk);
}

/*
 * Is this connection the agent's own export connection, seen from the peer?
 * The agent's local endpoint (address, ephemeral port) identifies it: the
 * peer sees it as its remote end even through DNAT (a Kubernetes Service),
 * and whatever the socket family (a dual-stack collector sees IPv4-mapped).
 */
static __always_inline bool is_self_peer(const struct sb_tuple *t)
{
	struct endpoint_key k = {};

	if (!self_tgid)
		return false;
	__builtin_memcpy(k.addr, t->raddr, 16);
	k.port = t->rport;
	return bpf_map_lookup_elem(&self_conns, &k) != NULL;
}

static __always_inline __u64 new_conn_id(void)
{
	__u32 zero = 0;
	__u64 *ctr = bpf_map_lookup_elem(&conn_ids, &zero);
	__u64 n;

	if (!ctr)
		return 0;
	n = ++*ctr;
	return (n << 12) | (bpf_get_smp_processor_id() & 0xfff);
}

/*
 * Start following fd as a new connection (a new state replaces any stale
 * one).  Returns the state, or NULL when fd is not a socket at all.
 */
static __always_inline struct conn_state *conn_create(struct sb_fd_key *key, struct file *f,
						      __u8 role)
{
	struct conn_state st = {};
	struct sock *sk = file_sock(f);

	if (!sk)
		return NULL;
	st.file = (__u64)f;
	st.role = role;
	if (!sock_tuple(sk, &st.tuple))
		st.flags |= ST_IGNORE;
	else if (has_exclude_ports && (bpf_map_lookup_elem(&exclude_ports, &st.tuple.lport) ||
				       bpf_map_lookup_elem(&exclude_ports, &st.tuple.rport)))
		st.flags |= ST_IGNORE;
	if (role != SB_ROLE_UNKNOWN)
		st.flags |= ST_FROM_START;
	st.conn_id = new_conn_id();
	bpf_map_update_elem(&conns, key, &st, BPF_ANY);
	return bpf_map_lookup_elem(&conns, key);
}

/* The state of a traced TCP connection behind fd, created on first sight. */
static __always_inline struct conn_state *conn_lookup(__u32 tgid, int fd)
{
	struct sb_fd_key key = { .tgid = tgid, .fd = fd };
	struct conn_state *st;
	struct file *f = fd_to_file(fd);

	if (!f)
		return NULL;
	st = bpf_map_lookup_elem(&conns, &key);
	if (!st || st->file != (__u64)f)
		st = conn_create(&key, f, SB_ROLE_UNKNOWN);
	if (!st || (st->flags & ST_IGNORE) || st->http == HTTP_NO)
		return NULL;
	return st;
}

/* ---- data syscalls: enter parks the arguments, exit emits ---------------- */

static __always_inline int data_enter(int fd, __u64 buf, __u32 iovcnt, __u8 op)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct data_args a = {};

	if (!tgid_traced(tgid))
		return 0;
	if (!conn_lookup(tgid, fd))
		return 0;
	a.fd = fd;
	a.buf = buf;
	a.iovcnt = iovcnt;
	a.op = op;
	bpf_map_update_elem(&args, &id, &a, BPF_ANY);
	return 0;
}

/*
 * Copy up to SB_PAYLOAD_MAX of the first n bytes of an iovec array into
 * dst.  Returns the bytes copied.
 */
static __always_inline __u32 copy_iov(__u8 *dst, __u64 iov_ptr, __u32 iovcnt, __u32 n)
{
	struct iovec iov;
	__u32 off = 0;

	for (int i = 0; i < SB_IOV_MAX; i++) {
		__u32 chunk;

		if (i >= iovcnt || off >= n || off >= SB_PAYLOAD_MAX)
			break;
		if (bpf_probe_read_user(&iov, sizeof(iov), (void *)(iov_ptr + i * sizeof(iov))))
			break;
		chunk = iov.iov_len;
		if (chunk > n - off)
			chunk = n - off;
		if (chunk > SB_PAYLOAD_MAX - off)
			chunk = SB_PAYLOAD_MAX - off;
		BOUND(off, 8191);		/* SB_PAYLOAD_MAX - 1 */
		BOUND(chunk, 16383);		/* SB_PAYLOAD_MAX * 2 - 1 */
		if (bpf_probe_read_user(dst + off, chunk, iov.iov_base))
			break;
		off += chunk;
	}
	return off;
}

/* Copy the last bytes of an iovec transfer of n bytes into dst. */
static __always_inline __u32 tail_iov(__u8 *dst, __u64 iov_ptr, __u32 iovcnt, __u32 n)
{
	struct iovec iov;
	__u32 seen = 0;

	for (int i = 0; i < SB_IOV_MAX; i++) {
		if (i >= iovcnt)
			break;
		if (bpf_probe_read_user(&iov, sizeof(iov), (void *)(iov_ptr + i * sizeof(iov))))
			break;
		if (seen + iov.iov_len >= n) {
			__u32 end = n - seen; /* bytes of this iov that were moved */
			__u32 len = end < SB_TAIL_MAX ? end : SB_TAIL_MAX;

			BOUND(len, 31);	/* SB_TAIL_MAX * 2 - 1 */
			if (bpf_probe_read_user(dst, len, iov.iov_base + end - len))
				return 0;
			return len;
		}
		seen += iov.iov_len;
	}
	return 0;
}

/* Does a message start look like HTTP/1.x?  Short prefixes count as yes. */
static __always_inline bool looks_http(const __u8 *p, __u32 n)
{
	static const char methods[][4] = { "GET ", "POST", "PUT ", "HEAD", "DELE", "PATC",
					   "OPTI", "TRAC", "CONN", "HTTP" };
	__u32 m = n < 4 ? n : 4;

	if (m == 0)
		return false;
#pragma unroll
	for (int i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		bool eq = true;

#pragma unroll
		for (int j = 0; j < 4; j++)
			if (j < m && p[j] != methods[i][j])
				eq = false;
		if (eq)
			return true;
	}
	return false;
}

static __always_inline int data_exit(long ret, __u8 dir)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 zero = 0, n, cap = 0, tail = 0;
	struct data_args *ap, a;
	struct conn_state *st;
	struct sb_fd_key key;
	struct scratch *sc;
	struct sb_event *e;
	bool start;
	__u64 before, wake;

	ap = bpf_map_lookup_elem(&args, &id);
	if (!ap)
		return 0; /* not traced at entry */
	a = *ap;
	bpf_map_delete_elem(&args, &id);
	if (ret <= 0)
		return 0;
	n = ret;
	key.tgid = id >> 32;
	key.fd = a.fd;
	st = bpf_map_lookup_elem(&conns, &key);
	if (!st || (st->flags & ST_IGNORE) || st->http == HTTP_NO)
		return 0;
	sc = bpf_map_lookup_elem(&scratch_buf, &zero);
	if (!sc)
		return 0;
	e = &sc->ev;

	start = st->last_dir != dir;
	before = start ? 0 : st->msg_bytes;
	st->last_dir = dir;
	st->msg_bytes = before + n;

	if (before < SB_CAPTURE_WINDOW && a.op != OP_SENDFILE) {
		if (a.op == OP_IOV || a.op == OP_MSG) {
			cap = copy_iov(sc->payload, a.buf, a.iovcnt, n);
		} else {
			cap = n < SB_PAYLOAD_MAX ? n : SB_PAYLOAD_MAX;
			BOUND(cap, 16383);
			if (bpf_probe_read_user(sc->payload, cap, (void *)a.buf))
				cap = 0;
		}
	}

	if (st->http == HTTP_UNKNOWN) {
		/* Classify at message starts; mid-message bytes of an unknown conn are skipped. */
		if (!start || a.op == OP_SENDFILE)
			return 0;
		if (!looks_http(sc->payload, cap)) {
			if (st->flags & ST_FROM_START) {
				st->http = HTTP_NO;
				count(SB_CNT_NOT_HTTP);
			}
			return 0;
		}
		st->http = HTTP_YES;
	}

	if (!(st->flags & ST_DATA_SEEN)) {
		/* The peer may be the agent's own export connection (checked here, race-free). */
		if (is_self_peer(&st->tuple)) {
			st->flags |= ST_IGNORE;
			return 0;
		}
	}

	e->tail_len = 0;
	if (n > cap && a.op != OP_SENDFILE) {
		if (a.op == OP_IOV || a.op == OP_MSG) {
			tail = tail_iov(e->tail, a.buf, a.iovcnt, n);
		} else {
			tail = n < SB_TAIL_MAX ? n : SB_TAIL_MAX;
			BOUND(tail, 31);
			if (bpf_probe_read_user(e->tail, tail, (void *)(a.buf + n - tail)))
				tail = 0;
		}
		e->tail_len = tail;
	}

	e->type = SB_EV_DATA;
	e->dir = dir;
	e->role = st->role;
	e->flags = 0;
	if (start)
		e->flags |= SB_F_MSG_START;
	if (!(st->flags & ST_DATA_SEEN))
		e->flags |= SB_F_CONN_START;
	if (a.op == OP_SENDFILE)
		e->flags |= SB_F_SENDFILE;
	st->flags |= ST_DATA_SEEN | ST_EMITTED;
	e->tgid = key.tgid;
	e->tid = (__u32)id;
	e->fd = a.fd;
	e->ts_ns = bpf_ktime_get_ns();
	e->conn_id = st->conn_id;
	e->tuple = st->tuple;
	e->len = n;
	e->cap_len = cap;
	e->_pad = 0;
	/* The agent takes the process name from a connection's first record. */
	if (e->flags & SB_F_CONN_START)
		bpf_get_current_comm(e->comm, sizeof(e->comm));
	else
		e->comm[0] = '\0';

	wake = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > wakeup_bytes ? BPF_RB_FORCE_WAKEUP
									     : BPF_RB_NO_WAKEUP;
	BOUND(cap, 16383);
	if (bpf_ringbuf_output(&events, e, sizeof(*e) + cap, wake))
		count(SB_CNT_RB_FULL);
	else
		count(SB_CNT_EVENTS);
	return 0;
}

/* Small records (close, connect, exit) go through the same ring. */
static __always_inline void emit_small(__u8 type, __u32 tgid, __u32 tid, int fd,
				       struct conn_state *st, __u32 len)
{
	struct sb_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		count(SB_CNT_RB_FULL);
		return;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->type = type;
	e->tgid = tgid;
	e->tid = tid;
	e->fd = fd;
	e->ts_ns = bpf_ktime_get_ns();
	e->len = len;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	if (st) {
		e->role = st->role;
		e->conn_id = st->conn_id;
		e->tuple = st->tuple;
	}
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	count(SB_CNT_EVENTS);
}

#define ARG(ctx, i) ((ctx)->args[i])

SEC("tracepoint/syscalls/sys_enter_read")
int enter_read(struct trace_event_raw_sys_enter *ctx)
{
	return data_enter(ARG(ctx, 0), ARG(ctx, 1), 0, OP_BUF);
}

SEC("tracepoint/syscalls/sys_exit_read")
int exit_read(struct trace_event_raw_sys_exit *ctx)
{
	return data_exit(ctx->ret, SB_DIR_READ);
}

SEC("tracepoint/syscalls/sys_enter_recvfrom")
int enter_recvfrom(struct trace_event_raw_sys_enter *ctx)
{
	return data_enter(ARG(ctx, 0), ARG(ctx, 1), 0, OP_BUF);
}

SEC("tracepoint/syscalls/sys_exit_recvfrom")
int exit_recvfrom(struct trace_event_raw_sys_exit *ctx)
{
	return data_exit(ctx->ret, SB_DIR_READ);
}

SEC("tracepoint/syscalls/sys_enter_readv")
int enter_readv(struct trace_event_raw_sys_enter *ctx)
{
	return data_enter(ARG(ctx, 0), ARG(ctx, 1), ARG(ctx, 2), OP_IOV);
}

SEC("tracepoint/syscalls/sys_exit_readv")
int exit_readv(struct trace_event_raw_sys_exit *ctx)
{
	return data_exit(ctx->ret, SB_DIR_READ);
}

/* For msghdr calls the iovec array is resolved at entry: the buffer pointers are what matters. */
static __always_inline int msg_enter(int fd, __u64 msg_ptr)
{
	struct user_msghdr msg;

	if (bpf_probe_read_user(&msg, sizeof(msg), (void *)msg_ptr))
		return 0;
	return data_enter(fd, (__u64)msg.msg_iov, msg.msg_iovlen, OP_MSG);
}

SEC("tracepoint/syscalls/sys_enter_recvmsg")
int enter_recvmsg(struct trace_event_raw_sys_enter *ctx)
{
	return msg_enter(ARG(ctx, 0), ARG(ctx, 1));
}

SEC("tracepoint/syscalls/sys_exit_recvmsg")
int exit_recvmsg(struct trace_event_raw_sys_exit *ctx)
{
	return data_exit(ctx->ret, SB_DIR_READ);
}

SEC("tracepoint/syscalls/sys_enter_write")
int enter_write(struct trace_event_raw_sys_enter *ctx)
{
	return data_enter(ARG(ctx, 0), ARG(ctx, 1), 0, OP_BUF);
}

SEC("tracepoint/syscalls/sys_exit_write")
int exit_write(struct trace_event_raw_sys_exit *ctx)
{
	return data_exit(ctx->ret, SB_DIR_WRITE);
}

SEC("tracepoint/syscalls/sys_enter_sendto")
int enter_sendto(struct trace_event_raw_sys_enter *ctx)
{
	return data_enter(ARG(ctx, 0), ARG(ctx, 1), 0, OP_BUF);
}

SEC("tracepoint/syscalls/sys_exit_sendto")
int exit_sendto(struct trace_event_raw_sys_exit *ctx)
{
	return data_exit(ctx->ret, SB_DIR_WRITE);
}

SEC("tracepoint/syscalls/sys_enter_writev")
int enter_writev(struct trace_event_raw_sys_enter *ctx)
{
	return data_enter(ARG(ctx, 0), ARG(ctx, 1), ARG(ctx, 2), OP_IOV);
}

SEC("tracepoint/syscalls/sys_exit_writev")
int exit_writev(struct trace_event_raw_sys_exit *ctx)
{
	return data_exit(ctx->ret, SB_DIR_WRITE);
}

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int enter_sendmsg(struct trace_event_raw_sys_enter *ctx)
{
	return msg_enter(ARG(ctx, 0), ARG(ctx, 1));
}

SEC("tracepoint/syscalls/sys_exit_sendmsg")
int exit_sendmsg(struct trace_event_raw_sys_exit *ctx)
{
	return data_exit(ctx->ret, SB_DIR_WRITE);
}

SEC("tracepoint/syscalls/sys_enter_sendfile64")
int enter_sendfile(struct trace_event_raw_sys_enter *ctx)
{
	return data_enter(ARG(ctx, 0), 0, 0, OP_SENDFILE);
}

SEC("tracepoint/syscalls/sys_exit_sendfile64")
int exit_sendfile(struct trace_event_raw_sys_exit *ctx)
{
	return data_exit(ctx->ret, SB_DIR_WRITE);
}

/* ---- connection lifecycle ---------------------------------------------------- */

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

static __always_inline int accept_exit(long ret)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct sb_fd_key key = { .tgid = tgid, .fd = ret };
	struct conn_state *st;
	struct file *f;

	if (ret < 0 || tgid == self_tgid)
		return 0;
	f = fd_to_file(ret);
	if (!f)
		return 0;
	if (filter_by_tgid && !bpf_map_lookup_elem(&traced_tgids, &tgid)) {
		struct sock *sk = file_sock(f);

		if (!sk)
			return 0;
		select_by_port(tgid, BPF_CORE_READ(sk, __sk_common.skc_num));
		if (!bpf_map_lookup_elem(&traced_tgids, &tgid))
			return 0;
	}
	st = conn_create(&key, f, SB_ROLE_SERVER);
	if (st && !(st->flags & ST_IGNORE) && is_self_peer(&st->tuple))
		st->flags |= ST_IGNORE;
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept")
int exit_accept(struct trace_event_raw_sys_exit *ctx)
{
	return accept_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int exit_accept4(struct trace_event_raw_sys_exit *ctx)
{
	return accept_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_connect")
int enter_connect(struct trace_event_raw_sys_enter *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct data_args a = {};

	if (tgid != self_tgid && !tgid_traced(tgid))
		return 0;
	a.fd = ARG(ctx, 0);
	a.op = OP_CONNECT;
	bpf_map_update_elem(&args, &id, &a, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_connect")
int exit_connect(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct sb_fd_key key = { .tgid = tgid };
	struct data_args *ap;
	struct conn_state *st;
	struct file *f;
	long ret = ctx->ret;
	__u8 one = 1;

	ap = bpf_map_lookup_elem(&args, &id);
	if (!ap)
		return 0;
	key.fd = ap->fd;
	bpf_map_delete_elem(&args, &id);
	if (ap->op != OP_CONNECT)
		return 0;
	f = fd_to_file(key.fd);
	if (!f)
		return 0;
	if (tgid == self_tgid) {
		/* Remember the agent's own connections so their peer never traces them. */
		struct endpoint_key k = {};
		struct sb_tuple t = {};
		struct sock *sk = file_sock(f);

		if (sk && (ret == 0 || ret == -EINPROGRESS) && sock_tuple(sk, &t)) {
			__builtin_memcpy(k.addr, t.laddr, 16);
			k.port = t.lport;
			bpf_map_update_elem(&self_conns, &k, &one, BPF_ANY);
		}
		return 0;
	}
	if (ret != 0 && ret != -EINPROGRESS) {
		/* A failed call becomes an error span: the peer's address is still on the socket. */
		st = conn_create(&key, f, SB_ROLE_CLIENT);
		if (st && !(st->flags & ST_IGNORE) && st->tuple.rport)
			emit_small(SB_EV_CONNECT, tgid, (__u32)id, key.fd, st, (__u32)ret);
		return 0;
	}
	/* The agent hears of every outbound connection: it ties event loops' calls to requests. */
	st = conn_create(&key, f, SB_ROLE_CLIENT);
	if (st && !(st->flags & ST_IGNORE))
		emit_small(SB_EV_CONNECT, tgid, (__u32)id, key.fd, st, (__u32)ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_close")
int enter_close(struct trace_event_raw_sys_enter *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct sb_fd_key key = { .tgid = id >> 32, .fd = ARG(ctx, 0) };
	struct conn_state *st;

	if (key.tgid == self_tgid)
		return 0;
	st = bpf_map_lookup_elem(&conns, &key);
	if (!st)
		return 0;
	if (st->flags & ST_EMITTED) {
		emit_small(SB_EV_CLOSE, key.tgid, (__u32)id, key.fd, st, 0);
	} else if (st->role == SB_ROLE_CLIENT && !(st->flags & (ST_IGNORE | ST_DATA_SEEN))) {
		/*
		 * A non-blocking connect() learns its failure through getsockopt(),
		 * which is not traced; a client socket closed unused and in TCP_CLOSE
		 * was refused or reset (SYN_SENT would be a connect given up).
		 */
		struct file *f = fd_to_file(key.fd);
		struct sock *sk = f ? file_sock(f) : NULL;

		if (sk && BPF_CORE_READ(sk, __sk_common.skc_state) == TCP_CLOSE_STATE && st->tuple.rport)
			emit_small(SB_EV_CONNECT, key.tgid, (__u32)id, key.fd, st,
				   (__u32)-ECONNREFUSED_ERR);
	}
	bpf_map_delete_elem(&conns, &key);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_listen")
int enter_listen(struct trace_event_raw_sys_enter *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct file *f;
	struct sock *sk;

	if (!filter_by_tgid || tgid == self_tgid)
		return 0;
	f = fd_to_file(ARG(ctx, 0));
	if (!f)
		return 0;
	sk = file_sock(f);
	if (sk)
		select_by_port(tgid, BPF_CORE_READ(sk, __sk_common.skc_num));
	return 0;
}

/* A child inherits its parent's selection (nginx workers, forking servers) until it execs. */
SEC("tracepoint/sched/sched_process_fork")
int on_fork(struct trace_event_raw_sched_process_fork *ctx)
{
	__u32 parent = bpf_get_current_pid_tgid() >> 32;
	__u32 child = ctx->child_pid;
	__u8 one = 1;

	if (filter_by_tgid && bpf_map_lookup_elem(&traced_tgids, &parent))
		bpf_map_update_elem(&traced_tgids, &child, &one, BPF_ANY);
	if (need_proc_ok && bpf_map_lookup_elem(&proc_ok, &parent))
		bpf_map_update_elem(&proc_ok, &child, &one, BPF_ANY);
	if (has_ignored && bpf_map_lookup_elem(&ignored_tgids, &parent))
		bpf_map_update_elem(&ignored_tgids, &child, &one, BPF_ANY);
	return 0;
}

/*
 * A new program.  What it inherited at fork no longer holds: rules naming an
 * executable exactly (comm_rules, by task name) decide here, before its first
 * syscall; glob rules are decided by the agent on the SB_EV_EXEC record.
 */
SEC("tracepoint/sched/sched_process_exec")
int on_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct comm_key key = {};
	__u8 one = 1, *rule;

	if (!want_exec || tgid == self_tgid)
		return 0;
	bpf_get_current_comm(key.comm, sizeof(key.comm));
	rule = bpf_map_lookup_elem(&comm_rules, &key);
	if (need_proc_ok) {
		bpf_map_delete_elem(&proc_ok, &tgid);
		if (procs_alone)
			bpf_map_delete_elem(&traced_tgids, &tgid);
		if (rule && (*rule & SB_RULE_INCLUDE) && !(*rule & SB_RULE_EXCLUDE)) {
			bpf_map_update_elem(&proc_ok, &tgid, &one, BPF_ANY);
			if (procs_alone)
				bpf_map_update_elem(&traced_tgids, &tgid, &one, BPF_ANY);
		}
	}
	if (has_ignored) {
		if (rule && (*rule & SB_RULE_EXCLUDE))
			bpf_map_update_elem(&ignored_tgids, &tgid, &one, BPF_ANY);
		else
			bpf_map_delete_elem(&ignored_tgids, &tgid);
	}
	emit_small(SB_EV_EXEC, tgid, (__u32)id, -1, NULL, 0);
	return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int on_exit(struct trace_event_raw_sched_process_template *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, tid = (__u32)id;
	bool traced = tgid_traced(tgid);

	if (filter_by_tgid)
		bpf_map_delete_elem(&traced_tgids, &tid);
	if (need_proc_ok)
		bpf_map_delete_elem(&proc_ok, &tid);
	if (has_ignored)
		bpf_map_delete_elem(&ignored_tgids, &tid);
	if (tid == tgid && traced)
		emit_small(SB_EV_PROC_EXIT, tgid, tid, -1, NULL, 0);
	return 0;
}
