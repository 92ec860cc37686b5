/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * openssl.h - uprobes on OpenSSL (libssl.so.3, or OpenSSL linked into a
 * binary): the plaintext of HTTPS, on the connection state of the socket
 * that carries it.
 *
 *   SSL_read, SSL_read_ex, SSL_write, SSL_write_ex   entry: where; return:
 *                                                    how much (a C library:
 *                                                    uretprobes are safe)
 *   SSL_set_fd                                       the SSL's socket
 *   SSL_free                                         forgotten (addresses
 *                                                    are reused)
 *
 * An SSL is tied to its socket by SSL_set_fd, or by the socket syscall its
 * thread makes inside SSL_read/SSL_write (a socket BIO: nginx, curl,
 * Python).  The bytes of that syscall are ciphertext: never parsed, and
 * the connection is marked so that its raw bytes are skipped from then on.
 * An SSL never tied to a socket (memory BIOs) gives no records: counted.
 */
#ifndef SPANBPF_OPENSSL_H
#define SPANBPF_OPENSSL_H

#define SSL_MAX_CALLS 16384
#define SSL_MAX_OBJECTS 65536

/* Set by the agent once OpenSSL probes are attached: syscalls then look for SSL calls. */
volatile bool ssl_active;

/* An SSL_read/SSL_write in progress on a thread. */
struct ssl_call {
	__u64 ssl;
	__u64 buf;
	__u64 len_out;		/* _ex: where the byte count is written */
	__u64 ts;		/* entry time */
	__u8 dir;		/* SB_DIR_READ or SB_DIR_WRITE */
	__u8 ex;
	__u8 _pad[6];
};

struct ssl_key {
	__u32 tgid;
	__u32 _pad;
	__u64 ssl;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SSL_MAX_CALLS);
	__type(key, __u64);		/* pid_tgid */
	__type(value, struct ssl_call);
} ssl_calls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SSL_MAX_OBJECTS);
	__type(key, struct ssl_key);
	__type(value, __u64);		/* struct sock * */
} ssl_socks SEC(".maps");

/*
 * Called by the syscall programs for a socket transfer: inside an SSL call
 * on this thread, the socket is that SSL's and the bytes are ciphertext.
 * True when the transfer was one (the caller then ignores it).
 */
static __always_inline bool ssl_nested(__u64 id, struct sock *sk, struct sb_conn_state *st)
{
	struct ssl_call *c;
	struct ssl_key k = { .tgid = id >> 32 };
	__u64 skey = (__u64)sk;

	if (!ssl_active)
		return false;
	c = bpf_map_lookup_elem(&ssl_calls, &id);
	if (!c)
		return false;
	k.ssl = c->ssl;
	bpf_map_update_elem(&ssl_socks, &k, &skey, BPF_ANY);
	if (st)
		st->flags |= ST_TLS;
	return true;
}

static __always_inline int ssl_enter(struct pt_regs *ctx, __u8 dir, bool ex)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct ssl_call c = {};

	if (!tgid_traced(id >> 32))
		return 0;
	c.ssl = PT_REGS_PARM1(ctx);
	c.buf = PT_REGS_PARM2(ctx);
	c.len_out = ex ? PT_REGS_PARM4(ctx) : 0;
	c.dir = dir;
	c.ex = ex;
	c.ts = bpf_ktime_get_ns();
	bpf_map_update_elem(&ssl_calls, &id, &c, BPF_ANY);
	return 0;
}

static __always_inline int ssl_return(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct ssl_key k = { .tgid = id >> 32 };
	struct sb_conn_state *st;
	struct ssl_call *cp, c;
	struct xfer x = {};
	struct sock *sk;
	__u64 *skp, n = 0;
	long ret = PT_REGS_RC(ctx);

	cp = bpf_map_lookup_elem(&ssl_calls, &id);
	if (!cp)
		return 0;
	c = *cp;
	bpf_map_delete_elem(&ssl_calls, &id);
	if (c.ex) {
		if (ret != 1 || !c.len_out || bpf_probe_read_user(&n, sizeof(n), (void *)c.len_out))
			return 0;
	} else {
		if (ret <= 0)
			return 0;
		n = ret;
	}
	if (!n || n > 0x7fffffff)
		return 0;
	k.ssl = c.ssl;
	skp = bpf_map_lookup_elem(&ssl_socks, &k);
	if (!skp) {
		count(SB_CNT_TLS_UNTIED);
		return 0;
	}
	sk = (struct sock *)*skp;
	st = conn_get(sk);
	if (!st || (st->flags & ST_IGNORE))
		return 0;
	st->flags |= ST_TLS;
	x.buf = c.buf;
	if (c.dir == SB_DIR_READ)
		capture(st, (__u64)sk, -1, SB_DIR_READ, &x, (__u32)n, SB_SRC_TLS, id, 0);
	else
		capture(st, (__u64)sk, -1, SB_DIR_WRITE, &x, (__u32)n, SB_SRC_TLS, id, c.ts);
	return 0;
}

SEC("uprobe")
int ssl_read_enter(struct pt_regs *ctx)
{
	return ssl_enter(ctx, SB_DIR_READ, false);
}

SEC("uprobe")
int ssl_read_ex_enter(struct pt_regs *ctx)
{
	return ssl_enter(ctx, SB_DIR_READ, true);
}

SEC("uprobe")
int ssl_write_enter(struct pt_regs *ctx)
{
	return ssl_enter(ctx, SB_DIR_WRITE, false);
}

SEC("uprobe")
int ssl_write_ex_enter(struct pt_regs *ctx)
{
	return ssl_enter(ctx, SB_DIR_WRITE, true);
}

/* The return of any of the four (the call parked at entry says which). */
SEC("uretprobe")
int ssl_rw_return(struct pt_regs *ctx)
{
	return ssl_return(ctx);
}

/* SSL_set_fd(ssl, fd): the socket, now. */
SEC("uprobe")
int ssl_set_fd(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct ssl_key k = { .tgid = id >> 32, .ssl = PT_REGS_PARM1(ctx) };
	struct sock *sk;
	__u64 skey;

	if (!tgid_traced(k.tgid))
		return 0;
	sk = fd_sock((int)PT_REGS_PARM2(ctx));
	if (!sk)
		return 0;
	skey = (__u64)sk;
	bpf_map_update_elem(&ssl_socks, &k, &skey, BPF_ANY);
	return 0;
}

/* SSL_free(ssl): its address may be the next SSL's. */
SEC("uprobe")
int ssl_free(struct pt_regs *ctx)
{
	struct ssl_key k = { .tgid = bpf_get_current_pid_tgid() >> 32, .ssl = PT_REGS_PARM1(ctx) };

	bpf_map_delete_elem(&ssl_socks, &k);
	return 0;
}

#endif /* SPANBPF_OPENSSL_H */
