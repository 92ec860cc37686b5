/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * libuv.h - uprobes on libuv's uv__read (Node.js, and any libuv program):
 * which server request an event loop's client call is made for.
 *
 * An event loop runs the callback of the data it read inside uv__read():
 * Node.js's HTTP parser, the 'request' handler, and the nextTicks and
 * microtasks it queued (http.request() writes its head from one) all run
 * before uv__read() returns.  So a client request whose head is written by
 * a thread inside uv__read() of a server connection is made for that
 * connection's request; written anywhere else (a timer, setImmediate, the
 * continuation of an await resumed by a client socket's data), nothing is
 * claimed: the call gets no parent rather than a wrong one.
 *
 * The stream's fd is at uv_stream_s.io_watcher.fd, an offset the agent
 * reads from the binary's DWARF (libuv's is there in node's).  uv__read is
 * a C function: a uretprobe is safe.
 */
#ifndef SPANBPF_LIBUV_H
#define SPANBPF_LIBUV_H

#define UV_MAX_BINARIES 16

/* Set by the agent once libuv probes are attached. */
volatile bool uv_active;

struct uv_binary {
	__u32 stream_fd;	/* offset of io_watcher.fd in uv_stream_s */
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, UV_MAX_BINARIES);
	__type(key, __u32);
	__type(value, struct uv_binary);
} uv_binaries SEC(".maps");

/* The socket whose data a thread's event loop is handling (inside uv__read). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);		/* pid_tgid */
	__type(value, __u64);		/* struct sock * */
} uv_reading SEC(".maps");

/*
 * The request a client call written now by thread id serves: the server
 * connection being read's request (the message read, or, once its response
 * started, the one before).  false: not inside a server connection's read.
 */
static __always_inline bool uv_parent(__u64 id, struct sb_parent *out)
{
	struct sb_conn_state *srv;
	const struct sb_msg_state *m;
	__u64 *skp;

	if (!uv_active)
		return false;
	skp = bpf_map_lookup_elem(&uv_reading, &id);
	if (!skp)
		return false;
	srv = bpf_map_lookup_elem(&conns, skp);
	if (!srv || srv->role != SB_ROLE_SERVER)
		return false;
	m = &srv->m[srv->flags & ST_TLS ? SB_SRC_TLS : SB_SRC_SYSCALL];
	if (!m->cur.seq)
		return false;
	out->conn_id = srv->conn_id;
	out->seq = m->cur.dir == SB_DIR_READ ? m->cur.seq : m->cur.seq - 1;
	out->how = out->seq ? SB_PARENT_SET : SB_PARENT_UNKNOWN;
	return out->seq != 0;
}

/* uv__read(uv_stream_t *stream): the stream's socket is read, its callbacks run. */
SEC("uprobe")
int uv_read_enter(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid(), skey;
	__u32 slot = bpf_get_attach_cookie(ctx);
	const struct uv_binary *b;
	__u64 stream = PT_REGS_PARM1(ctx);
	struct sock *sk;
	int fd = -1;

	if (!tgid_traced(id >> 32))
		return 0;
	b = bpf_map_lookup_elem(&uv_binaries, &slot);
	if (!b || !stream || bpf_probe_read_user(&fd, sizeof(fd), (void *)(stream + b->stream_fd)))
		return 0;
	sk = fd_sock(fd);
	if (!sk)
		return 0;
	skey = (__u64)sk;
	bpf_map_update_elem(&uv_reading, &id, &skey, BPF_ANY);
	return 0;
}

SEC("uretprobe")
int uv_read_return(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();

	bpf_map_delete_elem(&uv_reading, &id);
	return 0;
}

#endif /* SPANBPF_LIBUV_H */
