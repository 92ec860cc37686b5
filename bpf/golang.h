/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * golang.h - uprobes on Go binaries (amd64, register ABI: Go 1.17 and later).
 *
 * What they give the agent: which server request a Go client call is made
 * for, exactly, where the OS-thread rule would guess wrong (goroutines move
 * between threads, and the HTTP client writes from its Transport's own
 * goroutine); and, for crypto/tls, the plaintext of HTTPS.
 *
 *   net/http.serverHandler.ServeHTTP    the serving goroutine takes the
 *                                       request: its connection and message
 *   runtime.newproc1 (entry + returns)  a goroutine started by one that has a
 *                                       request inherits it
 *   runtime.goexit1                     a goroutine ends: forgotten
 *   net/http.(*persistConn).roundTrip   a call: the connection it will be
 *                                       written on learns whom it serves
 *   crypto/tls.(*Conn).Write (entry)    plaintext out
 *   crypto/tls.(*Conn).Read (entry + returns)  plaintext in
 *
 * Every address and offset comes from the binary itself (symbols, DWARF),
 * read by the agent at attach time and handed over in go_binaries; the
 * uprobe's cookie says which binary and which function.  Return "probes"
 * are uprobes on each RET instruction: a uretprobe would rewrite a return
 * address on a goroutine stack, which the Go runtime moves and unwinds.
 * A binary the agent cannot read (stripped, unknown layout) gets none of
 * these: its calls get no parent, never a wrong one.
 */
#ifndef SPANBPF_GOLANG_H
#define SPANBPF_GOLANG_H

#define GO_MAX_GOROUTINES 65536

_Static_assert(SB_GO_FN_MAX == 8, "go_bias() masks function indexes with SB_GO_FN_MAX - 1");

struct go_key {
	__u32 tgid;
	__u32 _pad;
	__u64 goid;
};

/* A pending crypto/tls Read: where the plaintext lands. */
struct go_tls_read {
	__u64 conn;			/* *crypto/tls.Conn */
	__u64 buf;
	__u64 bias;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SB_GO_MAX_BINARIES);
	__type(key, __u32);
	__type(value, struct sb_go_binary);
} go_binaries SEC(".maps");

/* The server request each goroutine serves (its own, or the one of the goroutine that started it). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, GO_MAX_GOROUTINES);
	__type(key, struct go_key);
	__type(value, struct sb_parent);
} go_ctx SEC(".maps");

/* newproc1 in progress on a thread: the goroutine that asked for a new one. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);		/* pid_tgid */
	__type(value, __u64);		/* the caller's goid */
} go_newproc SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct go_key);
	__type(value, struct go_tls_read);
} go_tls_reads SEC(".maps");

/* The binary and function a probe is attached for. */
static __always_inline const struct sb_go_binary *go_bin(void *ctx, __u32 *fn)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	__u32 slot = cookie >> 8;

	*fn = cookie & 0xff;
	if (*fn >= SB_GO_FN_MAX)
		return NULL;
	return bpf_map_lookup_elem(&go_binaries, &slot);
}

/* Load bias of a PIE binary: where the probed function is against where it was linked. */
static __always_inline __u64 go_bias(struct pt_regs *ctx, const struct sb_go_binary *b, __u32 fn)
{
	return PT_REGS_IP(ctx) - b->fn_addr[fn & (SB_GO_FN_MAX - 1)];
}

static __always_inline __u64 go_read_u64(__u64 addr)
{
	__u64 v = 0;

	bpf_probe_read_user(&v, sizeof(v), (void *)addr);
	return v;
}

/* The current goroutine's id: the g register (R14) of the register ABI. */
static __always_inline __u64 go_goid(struct pt_regs *ctx, const struct sb_go_binary *b)
{
	__u64 g = ctx->r14;

	return g ? go_read_u64(g + b->g_goid) : 0;
}

/*
 * The probed binary and the current goroutine (key->goid), or NULL when
 * either is unknown; `traced`: the process must be one the agent follows.
 */
static __always_inline const struct sb_go_binary *go_here(struct pt_regs *ctx, struct go_key *key,
							   __u32 *fn, bool traced)
{
	const struct sb_go_binary *b;

	if (traced && !tgid_traced(key->tgid))
		return NULL;
	b = go_bin(ctx, fn);
	if (!b)
		return NULL;
	key->goid = go_goid(ctx, b);
	return key->goid ? b : NULL;
}

/*
 * The socket behind a net.Conn interface value (tab, data): a *net.TCPConn,
 * or a *crypto/tls.Conn over one.  Any other type: NULL (no guess).
 */
static __always_inline struct sock *go_conn_sock(const struct sb_go_binary *b, __u64 bias, __u64 tab,
						  __u64 data, bool *tls)
{
	__u64 netfd;
	__s64 sysfd = -1;

	*tls = false;
	if (b->itab_tlsconn && tab == b->itab_tlsconn + bias) {
		*tls = true;
		tab = go_read_u64(data + b->tls_conn);
		data = go_read_u64(data + b->tls_conn + 8);
	}
	if (tab != b->itab_tcpconn + bias || !data)
		return NULL;
	netfd = go_read_u64(data + b->tcpconn_fd);
	if (!netfd || bpf_probe_read_user(&sysfd, sizeof(sysfd), (void *)(netfd + b->netfd_sysfd)))
		return NULL;
	if (sysfd < 0 || sysfd > 0x7fffffff)
		return NULL;
	return fd_sock((int)sysfd);
}

/* net/http.serverHandler.ServeHTTP(sh, rw ResponseWriter, req *Request): rw = (RBX, RCX). */
SEC("uprobe")
int go_serve(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct go_key key = { .tgid = id >> 32 };
	struct sb_parent req = { .how = SB_PARENT_NONE };
	const struct sb_go_binary *b;
	struct sb_conn_state *st;
	struct sock *sk = NULL;
	__u64 bias, resp, conn;
	bool tls = false;
	__u32 fn;

	b = go_here(ctx, &key, &fn, true);
	if (!b)
		return 0;
	bias = go_bias(ctx, b, fn);
	resp = ctx->cx;
	if (ctx->bx == b->itab_response + bias && resp) {
		conn = go_read_u64(resp + b->response_conn);
		if (conn)
			sk = go_conn_sock(b, bias, go_read_u64(conn + b->conn_rwc),
					  go_read_u64(conn + b->conn_rwc + 8), &tls);
	}
	if (sk) {
		__u64 skey = (__u64)sk;

		st = bpf_map_lookup_elem(&conns, &skey);
		if (st) {
			const struct sb_msg_state *m = &st->m[tls ? SB_SRC_TLS : SB_SRC_SYSCALL];

			/* The request head was read: it is the message in progress. */
			if (m->cur.seq && m->cur.dir == SB_DIR_READ) {
				req.conn_id = st->conn_id;
				req.seq = m->cur.seq;
				req.how = SB_PARENT_SET;
			}
		}
	}
	/* Always written: the goroutine served an earlier request on this connection. */
	bpf_map_update_elem(&go_ctx, &key, &req, BPF_ANY);
	return 0;
}

/* runtime.newproc1(fn *funcval, callergp *g, callerpc uintptr, ...) *g: caller in RBX. */
SEC("uprobe")
int go_newproc1(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct go_key key = { .tgid = id >> 32 };
	const struct sb_go_binary *b;
	__u64 callergp = ctx->bx;
	__u32 fn;

	if (!tgid_traced(key.tgid))
		return 0;
	b = go_bin(ctx, &fn);
	if (!b || !callergp)
		return 0;
	key.goid = go_read_u64(callergp + b->g_goid);
	/* Only a goroutine with a request passes one on. */
	if (!key.goid || !bpf_map_lookup_elem(&go_ctx, &key))
		return 0;
	bpf_map_update_elem(&go_newproc, &id, &key.goid, BPF_ANY);
	return 0;
}

/* At each return of newproc1 (on the system stack, same thread): the new g in RAX. */
SEC("uprobe")
int go_newproc1_ret(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct go_key parent = { .tgid = id >> 32 }, child = { .tgid = id >> 32 };
	const struct sb_go_binary *b;
	struct sb_parent *req;
	__u64 *pgoid, newg = ctx->ax;
	__u32 fn;

	pgoid = bpf_map_lookup_elem(&go_newproc, &id);
	if (!pgoid)
		return 0;
	parent.goid = *pgoid;
	bpf_map_delete_elem(&go_newproc, &id);
	b = go_bin(ctx, &fn);
	if (!b || !newg)
		return 0;
	child.goid = go_read_u64(newg + b->g_goid);
	req = bpf_map_lookup_elem(&go_ctx, &parent);
	if (child.goid && req) {
		struct sb_parent copy = *req;

		bpf_map_update_elem(&go_ctx, &child, &copy, BPF_ANY);
	}
	return 0;
}

/* runtime.goexit1(): the goroutine in R14 is done. */
SEC("uprobe")
int go_goexit1(struct pt_regs *ctx)
{
	struct go_key key = { .tgid = bpf_get_current_pid_tgid() >> 32 };
	__u32 fn;

	if (go_here(ctx, &key, &fn, false))
		bpf_map_delete_elem(&go_ctx, &key);
	return 0;
}

/*
 * net/http.(*persistConn).roundTrip(pc *persistConn, req *transportRequest):
 * on the calling goroutine, before its request is written (by the
 * connection's writeLoop goroutine).  The connection learns whom its next
 * request serves; a caller without a request says so, so that nothing
 * stale is used.
 */
SEC("uprobe")
int go_roundtrip(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct go_key key = { .tgid = id >> 32 };
	struct sb_parent none = { .how = SB_PARENT_NONE }, *req;
	const struct sb_go_binary *b;
	struct sb_conn_state *st;
	__u64 pc = ctx->ax, bias, skey;
	struct sock *sk;
	bool tls;
	__u32 fn;

	if (!tgid_traced(key.tgid))
		return 0;
	b = go_bin(ctx, &fn);
	if (!b || !pc)
		return 0;
	bias = go_bias(ctx, b, fn);
	sk = go_conn_sock(b, bias, go_read_u64(pc + b->pconn_conn), go_read_u64(pc + b->pconn_conn + 8),
			  &tls);
	if (!sk)
		return 0;
	skey = (__u64)sk;
	st = bpf_map_lookup_elem(&conns, &skey);
	if (!st)
		return 0;
	key.goid = go_goid(ctx, b);
	req = key.goid ? bpf_map_lookup_elem(&go_ctx, &key) : NULL;
	st->next_parent = req ? *req : none;
	return 0;
}

/* The followed state of a crypto/tls.Conn's socket, marked as carrying TLS plaintext. */
static __always_inline struct sb_conn_state *go_tls_state(const struct sb_go_binary *b, __u64 bias,
							   __u64 conn, struct sock **skp)
{
	struct sb_conn_state *st;
	struct sock *sk;
	bool tls;

	sk = go_conn_sock(b, bias, go_read_u64(conn + b->tls_conn), go_read_u64(conn + b->tls_conn + 8),
			  &tls);
	if (!sk)
		return NULL;
	st = conn_get(sk);
	if (!st || (st->flags & ST_IGNORE))
		return NULL;
	st->flags |= ST_TLS;
	*skp = sk;
	return st;
}

/* crypto/tls.(*Conn).Write(c, b []byte): c in RAX, b in RBX (ptr), RCX (len). Sent whole or failed. */
SEC("uprobe")
int go_tls_write(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct xfer x = {};
	const struct sb_go_binary *b;
	struct sb_conn_state *st;
	struct sock *sk = NULL;
	__u64 n = ctx->cx;
	__u32 fn;

	if (!tgid_traced(id >> 32) || !n || n > 0x7fffffff)
		return 0;
	b = go_bin(ctx, &fn);
	if (!b || !ctx->ax)
		return 0;
	st = go_tls_state(b, go_bias(ctx, b, fn), ctx->ax, &sk);
	if (!st)
		return 0;
	x.buf = ctx->bx;
	capture(st, (__u64)sk, -1, SB_DIR_WRITE, &x, (__u32)n, SB_SRC_TLS, id, 0);
	return 0;
}

/* crypto/tls.(*Conn).Read(c, b []byte) entry: remember where the plaintext goes. */
SEC("uprobe")
int go_tls_read(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct go_key key = { .tgid = id >> 32 };
	struct go_tls_read r = {};
	const struct sb_go_binary *b;
	__u32 fn;

	b = go_here(ctx, &key, &fn, true);
	if (!b)
		return 0;
	r.conn = ctx->ax;
	r.buf = ctx->bx;
	r.bias = go_bias(ctx, b, fn);
	bpf_map_update_elem(&go_tls_reads, &key, &r, BPF_ANY);
	return 0;
}

/* At each return of Read (same goroutine, maybe another thread): n in RAX. */
SEC("uprobe")
int go_tls_read_ret(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct go_key key = { .tgid = id >> 32 };
	struct go_tls_read *rp, r;
	const struct sb_go_binary *b;
	struct sb_conn_state *st;
	struct sock *sk = NULL;
	struct xfer x = {};
	__s64 n = ctx->ax;
	__u32 fn;

	b = go_here(ctx, &key, &fn, false);
	rp = b ? bpf_map_lookup_elem(&go_tls_reads, &key) : NULL;
	if (!rp)
		return 0;
	r = *rp;
	bpf_map_delete_elem(&go_tls_reads, &key);
	if (n <= 0 || n > 0x7fffffff || !r.conn)
		return 0;
	st = go_tls_state(b, r.bias, r.conn, &sk);
	if (!st)
		return 0;
	x.buf = r.buf;
	capture(st, (__u64)sk, -1, SB_DIR_READ, &x, (__u32)n, SB_SRC_TLS, id, 0);
	return 0;
}

#endif /* SPANBPF_GOLANG_H */
