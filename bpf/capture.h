/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * capture.h - what a transfer on a followed connection becomes: a record
 * with the first bytes of a message, or only a count in the connection's
 * state.  Shared by every source of bytes (syscalls, TLS uprobes).
 *
 * Per message (the bytes one side sends before the other answers):
 *  - its first transfer is always a record, with up to SB_PAYLOAD_MAX bytes
 *    copied straight into the ring buffer (one copy), and the end of the
 *    message before it (prev);
 *  - later transfers are records only while the head may not be over (the
 *    last transfer did not end a head with CRLF CRLF, and the message is
 *    under SB_CAPTURE_WINDOW), or when their first bytes start a new head
 *    (a pipelined request, a final response after a 1xx);
 *  - every other transfer is only counted: size, time, thread, last bytes.
 * The agent learns those counts from the next record, the close, or the
 * conns map (struct sb_conn_state), so it can still frame and time every
 * message.  Records are submitted without waking the reader; the reader
 * drains on a timer and a producer wakes it only past a backlog.
 */
#ifndef SPANBPF_CAPTURE_H
#define SPANBPF_CAPTURE_H

/* Wake the reader past this backlog (set by the agent between open and load). */
const volatile __u64 wakeup_bytes = 1 << 20;

/*
 * Mask v where the verifier sees it: clang otherwise keeps an unmasked copy
 * of the register for the helper call ("R2 min value is negative").
 */
#define BOUND(v, mask) asm volatile("%[x] &= " #mask : [x] "+r"(v))
_Static_assert(SB_PAYLOAD_MAX == 8192, "the BOUND() masks below assume 8 KiB payloads");
_Static_assert(SB_TAIL_MAX == 16, "the BOUND() masks below assume 16-byte tails");

/* Where the bytes of one transfer are. */
struct xfer {
	__u64 buf;		/* one buffer, or an iovec array */
	__u32 iovcnt;		/* iovec entries; 0: buf is one buffer */
	__u8 no_data;		/* sendfile: bytes from a file, nothing to read */
};

/* Bytes looked at to tell a message start (and for the first line's end). */
#define PEEK_MAX 32	/* a power of two: indexes are masked with it */
#define LINE_SCAN 64	/* first-line scan, in 8-byte words */

/* The user address of the transfer's first byte. */
static __always_inline __u64 xfer_first(const struct xfer *x)
{
	struct iovec iov;

	if (!x->iovcnt)
		return x->buf;
	if (bpf_probe_read_user(&iov, sizeof(iov), (void *)x->buf))
		return 0;
	return (__u64)iov.iov_base;
}

/*
 * Copy up to SB_PAYLOAD_MAX of the first n bytes of an iovec array into
 * dst (room for 3 * SB_PAYLOAD_MAX).  Returns the bytes copied.
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

/* The last bytes (up to SB_TAIL_MAX) of the n bytes of x, into dst.  Returns how many. */
static __always_inline __u32 xfer_tail(const struct xfer *x, __u32 n, __u8 *dst)
{
	struct iovec iov;
	__u32 seen = 0, len;

	if (x->no_data || !n)
		return 0;
	if (!x->iovcnt) {
		len = n < SB_TAIL_MAX ? n : SB_TAIL_MAX;
		BOUND(len, 31);	/* SB_TAIL_MAX * 2 - 1 */
		if (bpf_probe_read_user(dst, len, (void *)(x->buf + n - len)))
			return 0;
		return len;
	}
	for (int i = 0; i < SB_IOV_MAX; i++) {
		if (i >= x->iovcnt)
			break;
		if (bpf_probe_read_user(&iov, sizeof(iov), (void *)(x->buf + i * sizeof(iov))))
			break;
		if (seen + iov.iov_len >= n) {
			__u32 end = n - seen; /* bytes of this iov that were moved */

			len = end < SB_TAIL_MAX ? end : SB_TAIL_MAX;
			BOUND(len, 31);
			if (bpf_probe_read_user(dst, len, iov.iov_base + end - len))
				return 0;
			return len;
		}
		seen += iov.iov_len;
	}
	return 0;
}

/*
 * p[i] with i masked where the verifier sees it (and where clang cannot
 * turn the addition into an OR on an aligned stack pointer).
 */
static __always_inline __u8 peek_at(const __u8 *p, __u32 i)
{
	BOUND(i, 31);	/* PEEK_MAX - 1 */
	return p[i];
}

static __always_inline __u8 line_at(const __u8 *p, __u32 i)
{
	BOUND(i, 63);	/* LINE_SCAN - 1 */
	return p[i];
}

static __always_inline __u8 tail_at(const __u8 *p, __u32 i)
{
	BOUND(i, 15);	/* SB_TAIL_MAX - 1 */
	return p[i];
}

static __always_inline bool is_tchar(__u8 c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	switch (c) {
	case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
	case '-': case '.': case '^': case '_': case '`': case '|': case '~':
		return true;
	}
	return false;
}

/* Leading empty lines before a message (RFC 9112 section 2.2 lets a server skip them). */
static __always_inline __u32 skip_empty_lines(const __u8 *p, __u32 n)
{
	__u32 i = 0;

#pragma unroll
	for (int k = 0; k < 2; k++) {
		if (i < n && peek_at(p, i) == '\r')
			i++;
		if (i < n && peek_at(p, i) == '\n')
			i++;
		else if (i > 0 && peek_at(p, i - 1) == '\r')
			return i;	/* a lone CR: leave it to the agent's parser */
	}
	return i;
}

/*
 * Do the first n bytes (of p[PEEK_MAX]) start like an HTTP/1.x message: a
 * status line "HTTP/1.", or a request line's method (a token) and space
 * followed by a target ('/', '*', or a scheme or host)?  Bytes that end
 * before the question is settled count as yes.  After optional empty lines.
 */
static __always_inline bool looks_msg_start(const __u8 *p, __u32 n)
{
	static const char http[] = "HTTP/1.";
	__u32 i = skip_empty_lines(p, n), j;
	bool resp = true;

	if (i >= n)
		return i > 0;	/* only empty lines so far */
#pragma unroll
	for (int k = 0; k < 7; k++) {
		j = i + k;
		if (j < n && peek_at(p, j) != http[k])
			resp = false;
	}
	if (resp)
		return true;
	/* Method: 1 to 16 tchars, then SP. */
#pragma unroll
	for (int k = 0; k < 17; k++) {
		__u8 c;

		j = i + k;
		if (j >= n)
			return true;
		c = peek_at(p, j);
		if (c == ' ') {
			if (k == 0)
				return false;
			j++;
			if (j >= n)
				return true;
			c = peek_at(p, j);
			return c == '/' || c == '*' || (c >= 'a' && c <= 'z') ||
			       (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '[';
		}
		if (!is_tchar(c))
			return false;
	}
	return false;
}

/* The first bytes of x (up to PEEK_MAX) into p.  Returns how many. */
static __always_inline __u32 peek(const struct xfer *x, __u32 n, __u8 p[PEEK_MAX])
{
	__u64 at;
	__u32 len;

	if (x->no_data)
		return 0;
	at = xfer_first(x);
	len = n < PEEK_MAX - 1 ? n : PEEK_MAX - 1;
	if (x->iovcnt) {
		struct iovec iov;

		if (bpf_probe_read_user(&iov, sizeof(iov), (void *)x->buf))
			return 0;
		if (len > iov.iov_len)
			len = iov.iov_len;
	}
	BOUND(len, 31);	/* PEEK_MAX - 1 */
	if (bpf_probe_read_user(p, len, (void *)at))
		return 0;
	return len;
}

/*
 * Does the first line of a request end in " HTTP/1.x"?  Looked for in the
 * first LINE_SCAN bytes of p (cap of them copied) a word at a time; a line
 * longer than that, or cut by the copy, counts as yes (the agent's parser
 * has the last word and tells the kernel to stop following a connection
 * that is not HTTP).  Responses pass.  Keeps protocols whose commands look
 * like "word arg" (Redis inline, memcached, SMTP) out of the records.
 */
static __always_inline bool first_line_http(const __u8 *p, __u32 cap)
{
	const __u64 lf = 0x0a0a0a0a0a0a0a0aull, ones = 0x0101010101010101ull;
	const __u64 highs = 0x8080808080808080ull;
	__u32 i = 0, w;

	if (cap >= 5 && p[0] == 'H' && p[1] == 'T' && p[2] == 'T' && p[3] == 'P' && p[4] == '/')
		return true;
	/* Empty lines before the request line (RFC 9112 section 2.2). */
	if (p[0] == '\r' || p[0] == '\n')
		return true;	/* rare: let the agent decide */
	/* The first LF: a word at a time, then the byte within the word. */
#pragma unroll
	for (w = 0; w < LINE_SCAN / 8; w++) {
		__u64 v, x;

		if (w * 8 >= cap)
			return true;	/* the copy ends inside the first line */
		__builtin_memcpy(&v, p + w * 8, 8);
		x = v ^ lf;
		if ((x - ones) & ~x & highs)
			break;
	}
	if (w == LINE_SCAN / 8)
		return true;		/* a long first line */
#pragma unroll
	for (int b = 0; b < 8; b++) {
		if (line_at(p, w * 8 + b) == '\n') {
			i = w * 8 + b;
			break;
		}
	}
	if (i >= cap)
		return true;
	/* "... HTTP/1.x\r\n" or "... HTTP/1.x\n" */
	if (i >= 1 && line_at(p, i - 1) == '\r')
		i--;
	if (i < 9)
		return false;
	return line_at(p, i - 9) == ' ' && line_at(p, i - 8) == 'H' && line_at(p, i - 7) == 'T' &&
	       line_at(p, i - 6) == 'T' && line_at(p, i - 5) == 'P' && line_at(p, i - 4) == '/' &&
	       line_at(p, i - 3) == '1' && line_at(p, i - 2) == '.';
}

/* Did a transfer whose last bytes are tail[len] end a head (CRLF CRLF, or LF LF)? */
static __always_inline bool ends_head(const __u8 *tail, __u32 len)
{
	if (len >= 4 && tail_at(tail, len - 4) == '\r' && tail_at(tail, len - 3) == '\n' &&
	    tail_at(tail, len - 2) == '\r' && tail_at(tail, len - 1) == '\n')
		return true;
	return len >= 2 && tail_at(tail, len - 2) == '\n' && tail_at(tail, len - 1) == '\n';
}

/* The fixed part of a data record. */
static __always_inline void fill_data(struct sb_event *e, const struct sb_conn_state *st,
				      const struct sb_msg_state *m, __u64 sk, __u64 id, int fd,
				      __u8 dir, __u8 src, __u32 n, __u64 off, __u64 ts)
{
	e->type = SB_EV_DATA;
	e->dir = dir;
	e->role = st->role;
	e->flags = 0;
	e->tgid = id >> 32;
	e->tid = (__u32)id;
	e->fd = fd;
	e->ts_ns = ts;
	e->conn_id = st->conn_id;
	e->sock = sk;
	e->tuple = st->tuple;
	e->len = n;
	e->msg_off = off;
	e->msg_seq = m->cur.seq;
	e->src = src;
	e->_pad[0] = 0;
	e->_pad[1] = 0;
}

/*
 * Reserve a record with room for cap bytes of payload (cap < room, room a
 * power of two) and copy them straight from user memory: one copy, no scratch.
 */
#define RESERVE_COPY(room, mask)						\
	do {									\
		e = bpf_ringbuf_reserve(&events, sizeof(*e) + (room), 0);	\
		if (!e)								\
			goto full;						\
		if (cap) {							\
			__u32 c = cap;						\
			BOUND(c, mask);						\
			if (bpf_probe_read_user(e->payload, c, (void *)at))	\
				cap = 0;					\
		}								\
	} while (0)

/*
 * n bytes moved in direction dir on the connection st (socket sk, fd) by
 * the calling thread (id = pid_tgid), seen by source src (a constant).
 * at_ns, when not 0, is when the transfer began: a message starting with it
 * is stamped then (a TLS library's write: its bytes are on their way before
 * it returns); 0: now.
 */
static __always_inline void capture(struct sb_conn_state *st, __u64 sk, int fd, __u8 dir,
				    const struct xfer *x, __u32 n, __u8 src, __u64 id, __u64 at_ns)
{
	struct sb_msg_state *m = &st->m[src];
	struct sb_msg_end prev;
	struct sb_event *e;
	__u8 head[PEEK_MAX] = {}, tail[SB_TAIL_MAX] = {};
	__u32 cap = 0, tlen, zero = 0;
	__u64 off, ts = bpf_ktime_get_ns(), at = 0, wake;
	bool start = m->cur.dir != dir || m->cur.seq == 0, from_scratch = false;
	struct scratch *sc = NULL;

	if (m->http == SB_HTTP_NO)
		return;
	if (m->http == SB_HTTP_UNKNOWN && !start) {
		/* A connection older than the agent, mid-message: wait for the next message. */
		m->cur.total += n;
		return;
	}
	if (start) {
		prev = m->cur;
		m->cur.seq++;
		m->cur.dir = dir;
		m->cur.total = 0;
		m->head_done = 0;
	} else {
		__builtin_memset(&prev, 0, sizeof(prev));
	}
	off = m->cur.total;
	m->cur.total = off + n;
	m->cur.last_ts = ts;
	m->cur.last_tid = (__u32)id;

	if (!start && (m->head_done || off >= SB_CAPTURE_WINDOW)) {
		/* Body bytes, unless a new head starts here (pipelining, a final response after 1xx). */
		if (!looks_msg_start(head, peek(x, n, head))) {
			m->cur.tail_len = xfer_tail(x, n, m->cur.tail);
			count(SB_CNT_COUNTED);
			return;
		}
		m->head_done = 0;
	}
	m->cur.tail_len = 0;

	if (!x->no_data)
		cap = n < SB_PAYLOAD_MAX ? n : SB_PAYLOAD_MAX;
	if (x->iovcnt || m->http == SB_HTTP_UNKNOWN) {
		/*
		 * iovecs, and a connection's first message (classified here):
		 * gathered in the per-CPU scratch, then copied into the ring.
		 */
		sc = bpf_map_lookup_elem(&scratch_buf, &zero);
		if (!sc)
			return;
		e = &sc->ev;
		if (cap && x->iovcnt) {
			cap = copy_iov(sc->payload, x->buf, x->iovcnt, cap);
		} else if (cap) {
			BOUND(cap, 16383);	/* SB_PAYLOAD_MAX * 2 - 1 */
			if (bpf_probe_read_user(sc->payload, cap, (void *)x->buf))
				cap = 0;
		}
		from_scratch = true;
		if (m->http == SB_HTTP_UNKNOWN) {
			/* A message start of a new connection: a method token or status line. */
			__u32 k = cap < PEEK_MAX ? cap : PEEK_MAX;

			if (!cap || !looks_msg_start(sc->payload, k) ||
			    !first_line_http(sc->payload, cap)) {
				if (st->flags & ST_FROM_START) {
					m->http = SB_HTTP_NO;
					count(SB_CNT_NOT_HTTP);
				}
				return;
			}
			m->http = SB_HTTP_YES;
		}
	} else {
		at = x->buf;
		/* One byte short of SB_PAYLOAD_MAX at most, so that each size is a mask. */
		if (cap >= SB_PAYLOAD_MAX)
			cap = SB_PAYLOAD_MAX - 1;
		if (cap == 0)
			RESERVE_COPY(0, 0);
		else if (cap < 256)
			RESERVE_COPY(256, 255);
		else if (cap < 1024)
			RESERVE_COPY(1024, 1023);
		else if (cap < 4096)
			RESERVE_COPY(4096, 4095);
		else
			RESERVE_COPY(8192, 8191);
	}
	if (!(st->flags & ST_DATA_SEEN) && is_self_peer(&st->tuple)) {
		/* The peer is the agent's own export connection (checked here, race-free). */
		st->flags |= ST_IGNORE;
		if (!from_scratch)
			bpf_ringbuf_discard(e, BPF_RB_NO_WAKEUP);
		return;
	}

	tlen = xfer_tail(x, n, tail);
	if (ends_head(tail, tlen) || off + n >= SB_CAPTURE_WINDOW)
		m->head_done = 1;

	/* A message's start may be stamped earlier (at_ns); its end is when the call returned. */
	fill_data(e, st, m, sk, id, fd, dir, src, n, off, start && at_ns ? at_ns : ts);
	e->cap_len = cap;
	e->tail_len = 0;
	if (n > cap && tlen) {
		__builtin_memcpy(e->tail, tail, SB_TAIL_MAX);
		e->tail_len = tlen;
	}
	e->prev = prev;
	__builtin_memset(&e->parent, 0, sizeof(e->parent));
	if (start && dir == SB_DIR_WRITE && st->role == SB_ROLE_CLIENT) {
		/* A runtime hook names the request this client call serves: it goes with its head. */
		if (st->next_parent.how) {
			e->parent = st->next_parent;	/* Go's Transport */
			st->next_parent.how = SB_PARENT_UNKNOWN;
		} else {
			uv_parent(id, &e->parent);	/* an event loop inside a server read */
		}
	}
	if (start)
		e->flags |= SB_F_MSG_START;
	if (!(st->flags & ST_DATA_SEEN))
		e->flags |= SB_F_CONN_START;
	if (x->no_data)
		e->flags |= SB_F_SENDFILE;
	st->flags |= ST_DATA_SEEN | ST_EMITTED;
	/* The agent takes the process name from a connection's first record. */
	if (e->flags & SB_F_CONN_START)
		bpf_get_current_comm(e->comm, sizeof(e->comm));
	else
		e->comm[0] = '\0';

	wake = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > wakeup_bytes ? BPF_RB_FORCE_WAKEUP
									     : BPF_RB_NO_WAKEUP;
	if (from_scratch) {
		BOUND(cap, 16383);
		if (bpf_ringbuf_output(&events, e, sizeof(*e) + cap, wake))
			goto full;
	} else {
		bpf_ringbuf_submit(e, wake);
	}
	count(SB_CNT_EVENTS);
	return;
full:
	count(SB_CNT_RB_FULL);
}

/*
 * A record without payload about a connection (close, EOF, connect):
 * prev is the message in progress, so the agent can count its last bytes.
 */
static __always_inline void emit_conn(__u8 type, __u8 flags, __u8 dir, const struct sb_conn_state *st,
				      __u64 sk, __u64 id, int fd, __u32 len)
{
	struct sb_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	__u8 src = st->flags & ST_TLS ? SB_SRC_TLS : SB_SRC_SYSCALL;

	if (!e) {
		count(SB_CNT_RB_FULL);
		return;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->type = type;
	e->flags = flags;
	e->dir = dir;
	e->role = st->role;
	e->tgid = id >> 32;
	e->tid = (__u32)id;
	e->fd = fd;
	e->ts_ns = bpf_ktime_get_ns();
	e->conn_id = st->conn_id;
	e->sock = sk;
	e->tuple = st->tuple;
	e->len = len;
	e->src = src;
	if (src == SB_SRC_TLS) {
		e->prev = st->m[SB_SRC_TLS].cur;
		e->msg_seq = st->m[SB_SRC_TLS].cur.seq;
	} else {
		e->prev = st->m[SB_SRC_SYSCALL].cur;
		e->msg_seq = st->m[SB_SRC_SYSCALL].cur.seq;
	}
	if (type != SB_EV_DATA)
		bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	count(SB_CNT_EVENTS);
}

/* A record about a process (exec, exit). */
static __always_inline void emit_proc(__u8 type, __u64 id)
{
	struct sb_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		count(SB_CNT_RB_FULL);
		return;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->type = type;
	e->tgid = id >> 32;
	e->tid = (__u32)id;
	e->fd = -1;
	e->ts_ns = bpf_ktime_get_ns();
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	count(SB_CNT_EVENTS);
}

#endif /* SPANBPF_CAPTURE_H */
