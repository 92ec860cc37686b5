/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * conn.h - from a file descriptor to the followed connection: fd → file →
 * socket, the 5-tuple, and the per-socket state in the conns map.  Used by
 * every source of bytes (syscall tracepoints, TLS uprobes).
 */
#ifndef SPANBPF_CONN_H
#define SPANBPF_CONN_H

#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define IPPROTO_TCP 6
#define S_IFMT 00170000
#define S_IFSOCK 0140000

/* Set by the agent between open and load. */
const volatile __u32 self_tgid = 0;

volatile bool has_exclude_ports;	/* filters.exclude_ports set (written by the agent) */

/*
 * Counters by CPU in .bss (one 64-byte row a CPU: no false sharing), read by
 * the agent through the mapped .bss: no map lookup on the hot path.
 */
struct sb_cpu_counters cpu_counters[SB_MAX_CPUS];

static __always_inline void count(__u32 idx)
{
	__u32 cpu = bpf_get_smp_processor_id() & (SB_MAX_CPUS - 1);

	if (idx < SB_CNT_MAX)
		__sync_fetch_and_add(&cpu_counters[cpu].v[idx], 1);
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

/* The socket behind fd in the current task, or NULL. */
static __always_inline struct sock *fd_sock(int fd)
{
	struct file *f = fd_to_file(fd);

	return f ? file_sock(f) : NULL;
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
 * Start following sk as a new connection, replacing any state an earlier
 * socket at the same address left.  NULL when the map refuses.
 */
static __always_inline struct sb_conn_state *conn_create(struct sock *sk, __u8 role, __u32 portpair)
{
	__u64 key = (__u64)sk;
	struct sb_conn_state st = {};

	st.portpair = portpair;
	st.role = role;
	if (!sock_tuple(sk, &st.tuple))
		st.flags |= ST_IGNORE;
	else if (has_exclude_ports && (bpf_map_lookup_elem(&exclude_ports, &st.tuple.lport) ||
				       bpf_map_lookup_elem(&exclude_ports, &st.tuple.rport)))
		st.flags |= ST_IGNORE;
	if (role != SB_ROLE_UNKNOWN)
		st.flags |= ST_FROM_START;
	st.conn_id = new_conn_id();
	if (bpf_map_update_elem(&conns, &key, &st, BPF_ANY)) {
		count(SB_CNT_MAP_FULL);
		return NULL;
	}
	return bpf_map_lookup_elem(&conns, &key);
}

/*
 * The state of sk, created on first sight (role unknown: the connection
 * predates the agent).  A state whose ports differ belonged to an earlier
 * socket at this address whose close was not seen: replaced.
 */
static __always_inline struct sb_conn_state *conn_get(struct sock *sk)
{
	__u64 key = (__u64)sk;
	__u32 pp = BPF_CORE_READ(sk, __sk_common.skc_portpair);
	struct sb_conn_state *st = bpf_map_lookup_elem(&conns, &key);

	if (st && st->portpair == pp)
		return st;
	return conn_create(sk, SB_ROLE_UNKNOWN, pp);
}

/* A connection seen from its start (accept, connect): a fresh state. */
static __always_inline struct sb_conn_state *conn_new(struct sock *sk, __u8 role)
{
	return conn_create(sk, role, BPF_CORE_READ(sk, __sk_common.skc_portpair));
}

#endif /* SPANBPF_CONN_H */
