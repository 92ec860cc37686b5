// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * spanbpf.bpf.c - syscall tracepoints that follow the TCP connections of
 * traced processes and hand their HTTP bytes to the agent.
 *
 * Data syscalls are caught at their exit only: the arguments are read back
 * from the registers the task entered the kernel with, so nothing depends
 * on having seen the entry (a thread blocked in recvfrom() when the agent
 * starts is traced from that very call).  Early exits, cheapest first: the
 * agent's own calls, errors, unselected processes, fds that are not
 * sockets, connections that are not TCP or not HTTP.  What a transfer
 * becomes (a record or a count) is capture.h's business.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "events.h"
#include "maps.h"
#include "conn.h"
#include "select.h"
#include "libuv.h"
#include "capture.h"
#include "golang.h"
#include "openssl.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define EINPROGRESS 115
#define ECONNREFUSED_ERR 111
#define TCP_CLOSE_STATE 7
/* Kernel stack size where bpf_task_pt_regs() is missing (before 5.15): x86-64 and arm64. */
#define KERNEL_THREAD_SIZE 16384

/*
 * The syscall arguments of the current task, from the registers it entered
 * the kernel with.  With bpf_task_pt_regs() (5.15+) they are plain loads from
 * a BTF pointer; before, the registers sit at the top of the kernel stack and
 * are probe-read.
 */
struct sys_args {
	__u64 a0, a1, a2;
};

static __always_inline void syscall_args(struct sys_args *a)
{
	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_task_pt_regs)) {
		struct pt_regs *r = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());

#if defined(__TARGET_ARCH_x86)
		a->a0 = r->di;
		a->a1 = r->si;
		a->a2 = r->dx;
#else
		a->a0 = PT_REGS_PARM1_CORE_SYSCALL(r);
		a->a1 = PT_REGS_PARM2_CORE_SYSCALL(r);
		a->a2 = PT_REGS_PARM3_CORE_SYSCALL(r);
#endif
		return;
	}
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct pt_regs *r = (struct pt_regs *)((__u64)BPF_CORE_READ(task, stack) +
					       KERNEL_THREAD_SIZE) - 1;

	a->a0 = PT_REGS_PARM1_CORE_SYSCALL(r);
	a->a1 = PT_REGS_PARM2_CORE_SYSCALL(r);
	a->a2 = PT_REGS_PARM3_CORE_SYSCALL(r);
}

enum data_op {
	OP_BUF = 1,		/* read/write/recvfrom/sendto: one buffer */
	OP_IOV = 2,		/* readv/writev: an iovec array */
	OP_MSG = 3,		/* recvmsg/sendmsg: iovec array from the msghdr */
	OP_SENDFILE = 4,	/* bytes from a file: counted, not copied */
};

/* The state of sk if it is followed (no creation), or NULL. */
static __always_inline struct sb_conn_state *conn_find(struct sock *sk)
{
	__u64 key = (__u64)sk;
	struct sb_conn_state *st = bpf_map_lookup_elem(&conns, &key);

	if (!st || st->portpair != BPF_CORE_READ(sk, __sk_common.skc_portpair))
		return NULL;
	return st;
}

/* A read returned 0 on a followed HTTP connection: the peer is done sending. */
static __always_inline void data_eof(struct sock *sk, int fd, __u64 id)
{
	struct sb_conn_state *st = conn_find(sk);
	__u8 src;

	if (!st || (st->flags & ST_IGNORE) || !(st->flags & ST_EMITTED))
		return;
	src = st->flags & ST_TLS ? SB_SRC_TLS : SB_SRC_SYSCALL;
	if (st->m[src].http != SB_HTTP_YES)
		return;
	emit_conn(SB_EV_DATA, SB_F_EOF, SB_DIR_READ, st, (__u64)sk, id, fd, 0);
}

static __always_inline int data_exit(long ret, __u8 dir, __u8 op)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct sb_conn_state *st;
	struct sys_args args;
	struct xfer x = {};
	struct sock *sk;
	int fd;

	if (ret < 0 || (ret == 0 && dir != SB_DIR_READ))
		return 0;
	if (!tgid_traced(id >> 32))
		return 0;
	syscall_args(&args);
	fd = args.a0;
	sk = fd_sock(fd);
	if (!sk)
		return 0;
	if (ret == 0) {
		data_eof(sk, fd, id);
		return 0;
	}
	st = conn_get(sk);
	/* Ciphertext of an SSL call on this thread (never on a connection already plain HTTP). */
	if ((!st || st->m[SB_SRC_SYSCALL].http != SB_HTTP_YES) && ssl_nested(id, sk, st))
		return 0;
	if (!st || (st->flags & (ST_IGNORE | ST_TLS)))
		return 0;
	switch (op) {
	case OP_BUF:
		x.buf = args.a1;
		break;
	case OP_IOV:
		x.buf = args.a1;
		x.iovcnt = args.a2;
		break;
	case OP_MSG: {
		struct user_msghdr msg;

		if (bpf_probe_read_user(&msg, sizeof(msg), (void *)args.a1))
			return 0;
		x.buf = (__u64)msg.msg_iov;
		x.iovcnt = msg.msg_iovlen;
		break;
	}
	default:
		x.no_data = 1;
		break;
	}
	if (op != OP_SENDFILE && x.iovcnt == 0 && op != OP_BUF)
		return 0;	/* an empty iovec array moved nothing we can see */
	if (x.iovcnt == 1) {
		/* One buffer after all (nginx's writev of a head): copied straight into the ring. */
		struct iovec iov;

		if (bpf_probe_read_user(&iov, sizeof(iov), (void *)x.buf))
			return 0;
		x.buf = (__u64)iov.iov_base;
		x.iovcnt = 0;
	}
	capture(st, (__u64)sk, fd, dir, &x, (__u32)ret, SB_SRC_SYSCALL, id, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_read")
int exit_read(struct trace_event_raw_sys_exit *ctx)
{
	return data_exit(ctx->ret, SB_DIR_READ, OP_BUF);
}

SEC("tracepoint/syscalls/sys_exit_recvfrom")
int exit_recvfrom(struct trace_event_raw_sys_exit *ctx)
{
	return data_exit(ctx->ret, SB_DIR_READ, OP_BUF);
}

SEC("tracepoint/syscalls/sys_exit_readv")
int exit_readv(struct trace_event_raw_sys_exit *ctx)
{
	return data_exit(ctx->ret, SB_DIR_READ, OP_IOV);
}

SEC("tracepoint/syscalls/sys_exit_recvmsg")
int exit_recvmsg(struct trace_event_raw_sys_exit *ctx)
{
	return data_exit(ctx->ret, SB_DIR_READ, OP_MSG);
}

SEC("tracepoint/syscalls/sys_exit_write")
int exit_write(struct trace_event_raw_sys_exit *ctx)
{
	return data_exit(ctx->ret, SB_DIR_WRITE, OP_BUF);
}

SEC("tracepoint/syscalls/sys_exit_sendto")
int exit_sendto(struct trace_event_raw_sys_exit *ctx)
{
	return data_exit(ctx->ret, SB_DIR_WRITE, OP_BUF);
}

SEC("tracepoint/syscalls/sys_exit_writev")
int exit_writev(struct trace_event_raw_sys_exit *ctx)
{
	return data_exit(ctx->ret, SB_DIR_WRITE, OP_IOV);
}

SEC("tracepoint/syscalls/sys_exit_sendmsg")
int exit_sendmsg(struct trace_event_raw_sys_exit *ctx)
{
	return data_exit(ctx->ret, SB_DIR_WRITE, OP_MSG);
}

SEC("tracepoint/syscalls/sys_exit_sendfile64")
int exit_sendfile(struct trace_event_raw_sys_exit *ctx)
{
	return data_exit(ctx->ret, SB_DIR_WRITE, OP_SENDFILE);
}

/* ---- connection lifecycle ---------------------------------------------------- */

static __always_inline int accept_exit(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct sb_conn_state *st;
	struct sock *sk;

	if (ret < 0 || tgid == self_tgid)
		return 0;
	sk = fd_sock(ret);
	if (!sk)
		return 0;
	if (filter_by_tgid && !bpf_map_lookup_elem(&traced_tgids, &tgid)) {
		select_by_port(tgid, BPF_CORE_READ(sk, __sk_common.skc_num));
		if (!bpf_map_lookup_elem(&traced_tgids, &tgid))
			return 0;
	}
	if (has_ignored && bpf_map_lookup_elem(&ignored_tgids, &tgid))
		return 0;
	st = conn_new(sk, SB_ROLE_SERVER);
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

SEC("tracepoint/syscalls/sys_exit_connect")
int exit_connect(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	long ret = ctx->ret;
	struct sb_conn_state *st;
	struct sys_args args;
	struct sock *sk;
	int fd;

	if (tgid != self_tgid && !tgid_traced(tgid))
		return 0;
	syscall_args(&args);
	fd = args.a0;
	sk = fd_sock(fd);
	if (!sk)
		return 0;
	if (tgid == self_tgid) {
		/* Remember the agent's own connections so their peer never traces them. */
		struct endpoint_key k = {};
		struct sb_tuple t = {};
		__u8 one = 1;

		if ((ret == 0 || ret == -EINPROGRESS) && sock_tuple(sk, &t)) {
			__builtin_memcpy(k.addr, t.laddr, 16);
			k.port = t.lport;
			bpf_map_update_elem(&self_conns, &k, &one, BPF_ANY);
		}
		return 0;
	}
	/*
	 * The agent hears of every outbound connection (it ties event loops'
	 * calls to requests) and of failed ones (an error span: the peer's
	 * address is still on the socket).
	 */
	st = conn_new(sk, SB_ROLE_CLIENT);
	if (!st || (st->flags & ST_IGNORE))
		return 0;
	/*
	 * An event loop connecting while it handles a server connection's data:
	 * the connection is for that request (Node's http.Agent gives a new
	 * socket to the request that asked for it), its first request too.
	 */
	if (ret == 0 || ret == -EINPROGRESS)
		uv_parent(id, &st->next_parent);
	if ((ret == 0 || ret == -EINPROGRESS) || st->tuple.rport)
		emit_conn(SB_EV_CONNECT, 0, SB_DIR_NONE, st, (__u64)sk, id, fd, (__u32)ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_close")
int enter_close(struct trace_event_raw_sys_enter *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	int fd = ctx->args[0];
	struct sb_conn_state *st;
	struct sock *sk;
	__u64 key;

	/* Only traced processes have followed sockets (their selection is kept until exit). */
	if (!tgid_traced(id >> 32))
		return 0;
	sk = fd_sock(fd);
	if (!sk)
		return 0;
	key = (__u64)sk;
	st = bpf_map_lookup_elem(&conns, &key);
	if (!st)
		return 0;
	if (st->flags & ST_EMITTED) {
		emit_conn(SB_EV_CLOSE, 0, SB_DIR_NONE, st, key, id, fd, 0);
	} else if (st->role == SB_ROLE_CLIENT && !(st->flags & (ST_IGNORE | ST_DATA_SEEN))) {
		/*
		 * A non-blocking connect() learns its failure through getsockopt(),
		 * which is not traced; a client socket closed unused and in TCP_CLOSE
		 * was refused or reset (SYN_SENT would be a connect given up).
		 */
		if (BPF_CORE_READ(sk, __sk_common.skc_state) == TCP_CLOSE_STATE && st->tuple.rport)
			emit_conn(SB_EV_CONNECT, 0, SB_DIR_NONE, st, key, id, fd, (__u32)-ECONNREFUSED_ERR);
	}
	bpf_map_delete_elem(&conns, &key);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_listen")
int enter_listen(struct trace_event_raw_sys_enter *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct sock *sk;

	if (!filter_by_tgid || tgid == self_tgid)
		return 0;
	sk = fd_sock(ctx->args[0]);
	if (sk)
		select_by_port(tgid, BPF_CORE_READ(sk, __sk_common.skc_num));
	return 0;
}

/* ---- processes ----------------------------------------------------------------- */

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
 * syscall; glob rules are decided by the agent on the SB_EV_EXEC record, which
 * is sent for every exec (the agent also looks for binaries to probe).
 */
SEC("tracepoint/sched/sched_process_exec")
int on_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct comm_key key = {};
	__u8 one = 1, *rule;

	if (tgid == self_tgid)
		return 0;
	/* The agent looks at every new program (uprobes for Go, TLS libraries). */
	if (!want_exec)
		goto out;
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
out:
	emit_proc(SB_EV_EXEC, id);
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
		emit_proc(SB_EV_PROC_EXIT, id);
	return 0;
}
