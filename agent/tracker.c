// SPDX-License-Identifier: Apache-2.0
/*
 * tracker.c - per-connection HTTP/1.x reassembly (see tracker.h).
 *
 * Each connection has two byte streams: requests (READ for a server, WRITE
 * for a client) and responses.  A record brings the first cap_len bytes of
 * a transfer and a gap for the rest (content unknown, only counted), plus
 * the last tail_len bytes.  Heads must be seen; bodies are framed by byte
 * counts, so Content-Length bodies survive gaps.  Parsed requests wait in a
 * FIFO; responses complete them in order (pipelining).
 *
 * When bytes a parser needs fall in a gap, or a head does not parse, that
 * direction "loses sync":
 *  - requests: nothing is parsed until the next message start in the
 *    request direction, where a fresh head is expected;
 *  - responses: the waiting requests are ended by fallback, flagged
 *    TXN_F_LOST_SYNC, at the first of: the tail shows the last chunk of a
 *    chunked response (only when it answers the one request outstanding on
 *    a connection that never pipelined; the stream is then in sync again),
 *    the next request-direction message start, close, or lost_sync_idle_ns
 *    of silence.  Response parsing then resumes at the next
 *    response-direction message start.
 * A status is only ever reported from a parsed head of the response that
 * FIFO order gives to that request; fallbacks keep it or leave it 0.
 *
 * FIFO order is only trustworthy while the requests outstanding at the peer
 * are exactly those queued here.  Without pipelining (a new request only
 * after the previous response) every resync point above keeps that true.
 * Once a connection has pipelined (a head parsed, or a request lost, while
 * another request was outstanding), a loss of sync may leave responses in
 * flight for requests no longer queued: such a connection becomes
 * "uncertain" for good.  Requests queued from then on are untrusted: their
 * responses are still framed but give no status, and their exchanges are
 * flagged TXN_F_LOST_SYNC.  Requests already queued keep their place: their
 * responses come before those of anything lost after them.
 */
#include "tracker.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

#include "http.h"
#include "log.h"

#define DEFAULT_MAX_CONNS 65536
#define DEFAULT_LOST_SYNC_IDLE_NS 2000000000ull
#define DEFAULT_CONN_IDLE_NS 600000000000ull
#define DEFAULT_MAX_PIPELINE 64
#define DEFAULT_MAX_PENDING 262144
#define DEFAULT_QUERY_IDLE_NS 50000000ull	/* ask the kernel about a connection quiet this long */
#define QUERY_WAIT_MAX_NS 5000000000ull	/* longest wait between two questions */
#define HEAD_BUF_MIN 1024	/* first allocation of a head buffer */
#define PREFIX_CHECK_MAX 512	/* re-check the start line of a buffered head up to this size */
#define STALL_MAX 8		/* handler calls without progress before giving up on a record */

/* Intrusive circular doubly linked list. */
struct list {
	struct list *prev, *next;
};

#define list_entry(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

static void list_init(struct list *l)
{
	l->prev = l;
	l->next = l;
}

static bool list_empty(const struct list *l)
{
	return l->next == l;
}

static void list_add(struct list *n, struct list *head)
{
	n->next = head->next;
	n->prev = head;
	head->next->prev = n;
	head->next = n;
}

static void list_del(struct list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	list_init(n);
}

enum conn_mode {
	MODE_PROBE = 0,		/* role unknown: try a request head at each message start */
	MODE_HTTP,
	MODE_IGNORED,		/* not HTTP/1.x */
	MODE_UPGRADED,		/* 101 or CONNECT tunnel: no longer HTTP/1.x */
};

enum req_state {
	RS_HEAD = 0,		/* next bytes are a request head */
	RS_BODY_LEN,		/* remaining bytes of a Content-Length body */
	RS_BODY_CHUNKED,
	RS_LOST,		/* out of sync until the next request-direction message start */
};

enum resp_state {
	PS_HEAD = 0,		/* next bytes are a response head */
	PS_BODY_LEN,
	PS_BODY_CHUNKED,
	PS_BODY_CLOSE,		/* body ends when the connection closes */
	PS_LOST,		/* the front request's response can no longer be framed */
	PS_SKIP,		/* ignore bytes until the next response-direction message start */
};

/* Parsing state of one direction. */
struct stream {
	uint8_t state;		/* enum req_state or enum resp_state */
	bool head_started;	/* the first byte of the current head was seen */
	bool lost_chunked;	/* response lost inside a chunked body: watch the tails */
	bool lost_before;	/* RS_LOST since an earlier record */
	bool skip_fresh;	/* PS_SKIP: the next bytes start a response */
	uint8_t skip_heads;	/* PS_SKIP: final status lines seen in this episode */
	uint32_t head_tid;	/* record holding the head's first byte */
	uint32_t head_seq;	/* ... its message number */
	uint64_t head_ts;
	struct sb_parent head_parent;	/* ... what a runtime hook said of the call */
	char *buf;		/* a head split across records */
	uint32_t hlen, hcap;
	uint32_t scan;		/* where the search for the head's end resumes */
	uint64_t remaining;	/* Content-Length bytes still to come */
	struct http_chunked ch;
};

/* A request waiting for (the end of) its response. */
struct pending {
	struct pending *next;
	uint64_t txn_id;
	uint64_t start_ns;
	uint64_t req_body_len;
	uint64_t resp_body_len;
	uint32_t req_tid;
	uint32_t resp_tid;
	uint32_t msg_seq;	/* message number of the request's head */
	struct sb_parent parent;
	int status;
	uint16_t flags;
	uint8_t version_minor;
	bool untrusted;		/* queued on an uncertain connection */
	uint16_t method_len, target_len, host_len, ua_len, tp_len;
	char strs[];		/* method, target, host, user agent, traceparent; NUL-ended */
};

struct conn {
	struct conn *hnext;	/* hash chain */
	struct list lru;	/* t->lru, most recent first */
	struct list by_tgid;	/* t->tgid_buckets[] */
	struct list lost;	/* t->lost while resp.state == PS_LOST */
	struct list open;	/* t->open while requests wait for their response */
	uint64_t conn_id;
	uint64_t sock;		/* the kernel's key for the connection (sb_event.sock) */
	uint64_t last_ts;	/* newest record */
	uint64_t next_query;	/* t->open: when to ask the kernel again (0: not yet asked) */
	uint64_t query_wait;	/* backoff between questions */
	uint64_t msg_seen;	/* bytes of message msg_seq fed to the parser */
	uint32_t msg_seq;	/* the kernel's number of the newest message (0: unnumbered) */
	uint8_t msg_dir;	/* its direction */
	uint8_t src;		/* enum sb_source of its records */
	uint64_t resp_last_ts;	/* newest response-direction record */
	uint32_t tgid;
	int32_t fd;
	struct sb_tuple tuple;
	char comm[16];		/* from the first record, NUL-terminated */
	uint8_t role;		/* enum sb_role; UNKNOWN only in MODE_PROBE */
	uint8_t mode;		/* enum conn_mode */
	uint8_t probe_dir;	/* MODE_PROBE: direction being tried */
	bool seen_data;		/* a data record was handled */
	bool strict_first;	/* seen from its start with a known role: first message decides */
	bool classified;	/* a request head parsed on it */
	bool pipelined;		/* seen with two requests outstanding at once */
	bool uncertain;		/* pipelined and lost sync: new requests are untrusted */
	bool req_final;		/* the last request was the connection's last (close, 1.0) */
	bool joined_midway;	/* older than the agent: its start was not seen */
	struct stream req, resp;
	struct pending *head, *tail;	/* FIFO, oldest first */
	uint32_t npending;
	struct pending *req_body;	/* request whose body the request stream is in */
};

struct tracker {
	struct tracker_opts o;
	tracker_txn_fn on_request;
	tracker_txn_fn on_txn;
	void *ctx;
	struct conn **buckets;
	size_t nbuckets;	/* power of two */
	struct list *tgid_buckets;
	size_t ntgid_buckets;	/* power of two */
	struct list lru;
	struct list lost;
	struct list open;	/* connections with requests waiting for a response */
	size_t nconns;
	size_t npending;
	uint64_t next_txn_id;
	struct tracker_stats st;
	struct http_request rq;	/* scratch: too big for comfort on the stack */
	struct http_txn txn;	/* scratch: what the callbacks get */
};

static size_t pow2_at_least(size_t n)
{
	size_t p = 16;

	while (p < n && p < ((size_t)1 << 30))
		p <<= 1;
	return p;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* ---- transactions -------------------------------------------------------- */

/* A pending request holding copies of rq's strings; NULL on ENOMEM. */
static struct pending *pending_new(const struct http_request *rq)
{
	size_t lm = strlen(rq->method), lt = strlen(rq->target), lh = strlen(rq->host);
	size_t lu = strlen(rq->user_agent), lp = strlen(rq->traceparent);
	struct pending *p = calloc(1, sizeof(*p) + lm + lt + lh + lu + lp + 5);
	char *s;

	if (!p)
		return NULL;
	p->method_len = (uint16_t)lm;
	p->target_len = (uint16_t)lt;
	p->host_len = (uint16_t)lh;
	p->ua_len = (uint16_t)lu;
	p->tp_len = (uint16_t)lp;
	s = p->strs;
	memcpy(s, rq->method, lm + 1);
	s += lm + 1;
	memcpy(s, rq->target, lt + 1);
	s += lt + 1;
	memcpy(s, rq->host, lh + 1);
	s += lh + 1;
	memcpy(s, rq->user_agent, lu + 1);
	s += lu + 1;
	memcpy(s, rq->traceparent, lp + 1);
	return p;
}

/* Copy a string of n bytes into a txn field of size cap. */
static void put_str(char *dst, size_t cap, const char *src, size_t n)
{
	if (n > cap - 1)
		n = cap - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* Fill t->txn from c and p; without final, the response side is left empty (end_ns 0). */
static struct http_txn *fill_txn(struct tracker *t, const struct conn *c,
				       const struct pending *p, bool final)
{
	struct http_txn *x = &t->txn;
	const char *s = p->strs;

	/* The fixed fields only: every string below is written with its NUL (3 KiB saved a call). */
	memset(x, 0, offsetof(struct http_txn, method));
	x->txn_id = p->txn_id;
	x->tgid = c->tgid;
	x->req_tid = p->req_tid;
	x->msg_seq = p->msg_seq;
	x->parent = p->parent;
	x->fd = c->fd;
	x->conn_id = c->conn_id;
	x->role = c->role;
	x->version_minor = p->version_minor;
	x->flags = p->flags | (c->src == SB_SRC_TLS ? TXN_F_TLS : 0) |
		   (c->joined_midway ? TXN_F_MIDSTREAM : 0);
	x->tuple = c->tuple;
	memcpy(x->comm, c->comm, sizeof(x->comm));
	x->start_ns = p->start_ns;
	if (final) {
		x->resp_tid = p->resp_tid;
		x->status = p->status;
		x->req_body_len = p->req_body_len;
		x->resp_body_len = p->resp_body_len;
	}
	put_str(x->method, sizeof(x->method), s, p->method_len);
	s += p->method_len + 1;
	put_str(x->target, sizeof(x->target), s, p->target_len);
	s += p->target_len + 1;
	put_str(x->host, sizeof(x->host), s, p->host_len);
	s += p->host_len + 1;
	put_str(x->user_agent, sizeof(x->user_agent), s, p->ua_len);
	s += p->ua_len + 1;
	put_str(x->traceparent, sizeof(x->traceparent), s, p->tp_len);
	return x;
}

/* Unlink the front request of c. */
static struct pending *fifo_pop(struct tracker *t, struct conn *c)
{
	struct pending *p = c->head;

	if (!p)
		return NULL;
	c->head = p->next;
	if (!c->head)
		c->tail = NULL;
	c->npending--;
	t->npending--;
	if (c->req_body == p)
		c->req_body = NULL;
	if (!c->npending)
		list_del(&c->open);
	return p;
}

/* Report the front request of c as ended at end_ns with flags added, and free it. */
static void finish_front(struct tracker *t, struct conn *c, uint64_t end_ns, uint16_t flags)
{
	struct pending *p = fifo_pop(t, c);
	struct http_txn *x;

	if (!p)
		return;
	p->flags |= flags;
	x = fill_txn(t, c, p, true);
	x->end_ns = max_u64(end_ns, p->start_ns);
	t->st.txns++;
	if (p->flags & TXN_F_LOST_SYNC)
		t->st.txns_lost_sync++;
	t->on_txn(x, t->ctx);
	free(p);
}

/* Free every request of c without reporting it (counted as dropped). */
static void drop_pending(struct tracker *t, struct conn *c)
{
	struct pending *p;

	while ((p = fifo_pop(t, c))) {
		t->st.requests_dropped++;
		free(p);
	}
}

/* ---- streams ------------------------------------------------------------- */

/* Forget a partly collected head. */
static void head_reset(struct stream *s)
{
	free(s->buf);
	s->buf = NULL;
	s->hlen = 0;
	s->hcap = 0;
	s->scan = 0;
	s->head_started = false;
}

/* Room for need bytes of head; false on ENOMEM. */
static bool head_reserve(struct stream *s, size_t need)
{
	size_t cap = s->hcap ? s->hcap : HEAD_BUF_MIN;
	char *nb;

	if (need <= s->hcap)
		return true;
	while (cap < need)
		cap *= 2;
	if (cap > HTTP_HEAD_MAX)
		cap = HTTP_HEAD_MAX;
	if (cap < need)
		return false;
	nb = realloc(s->buf, cap);
	if (!nb)
		return false;
	s->buf = nb;
	s->hcap = (uint32_t)cap;
	return true;
}

enum collect {
	COLLECT_MORE,		/* every byte taken, the head goes on */
	COLLECT_DONE,		/* head complete: *head, *hlen */
	COLLECT_ERROR,		/* cannot be a head */
	COLLECT_NOMEM,
};

/*
 * Collect the head that starts (or goes on) at p[0..n) on stream s.  Empty
 * lines before a head are skipped.  *used is the bytes of p consumed; on
 * COLLECT_DONE the head is at *head (in p or in s->buf) for *hlen bytes and
 * stays valid until head_reset(s).  Each byte is scanned for the end once.
 */
static int head_collect(struct stream *s, const struct sb_event *ev, const char *p, size_t n,
			bool request, const char **head, size_t *hlen, size_t *used)
{
	int (*prefix)(const char *, size_t) = request ? http_request_prefix : http_response_prefix;
	size_t i = 0, end, k, old;

	*used = 0;
	if (s->hlen == 0) {
		while (i < n && (p[i] == '\r' || p[i] == '\n'))
			i++;
		*used = i;
		if (i == n)
			return COLLECT_MORE;
		if (!s->head_started) {
			s->head_started = true;
			s->head_ts = ev->ts_ns;
			s->head_tid = ev->tid;
			s->head_seq = ev->msg_seq;
			/* A runtime hook's word on the call goes with its message's first head. */
			s->head_parent = ev->parent;
			if (!(ev->flags & SB_F_MSG_START) || p != (const char *)ev->payload)
				s->head_parent.how = SB_PARENT_UNKNOWN;
		}
		p += i;
		n -= i;
		end = http_head_end(p, n < HTTP_HEAD_MAX ? n : HTTP_HEAD_MAX);
		if (end) {
			*head = p;
			*hlen = end;
			*used += end;
			return COLLECT_DONE;
		}
		if (n >= HTTP_HEAD_MAX || prefix(p, n) == HTTP_PREFIX_NO)
			return COLLECT_ERROR;
		if (!head_reserve(s, n))
			return COLLECT_NOMEM;
		memcpy(s->buf, p, n);
		s->hlen = (uint32_t)n;
		s->scan = n > 2 ? (uint32_t)n - 2 : 0;
		*used += n;
		return COLLECT_MORE;
	}

	old = s->hlen;
	k = HTTP_HEAD_MAX - old;
	if (k > n)
		k = n;
	if (!head_reserve(s, old + k))
		return COLLECT_NOMEM;
	memcpy(s->buf + old, p, k);
	s->hlen = (uint32_t)(old + k);
	end = http_head_end(s->buf + s->scan, s->hlen - s->scan);
	if (end) {
		end += s->scan;
		*head = s->buf;
		*hlen = end;
		*used = end - old;
		return COLLECT_DONE;
	}
	if (s->hlen >= HTTP_HEAD_MAX)
		return COLLECT_ERROR;
	if (s->hlen <= PREFIX_CHECK_MAX && prefix(s->buf, s->hlen) == HTTP_PREFIX_NO)
		return COLLECT_ERROR;
	s->scan = s->hlen > 2 ? s->hlen - 2 : 0;
	*used = k;
	return COLLECT_MORE;
}

/* Evidence that more requests were outstanding than the FIFO holds. */
static void saw_pipelining(struct conn *c)
{
	c->pipelined = true;
	c->uncertain = true;
}

/* Change the response state, keeping c on t->lost exactly while it is PS_LOST. */
static void resp_set_state(struct tracker *t, struct conn *c, uint8_t state)
{
	if (state == PS_LOST && c->resp.state != PS_LOST)
		list_add(&c->lost, &t->lost);
	else if (state != PS_LOST && c->resp.state == PS_LOST)
		list_del(&c->lost);
	if (state == PS_SKIP && c->resp.state != PS_SKIP) {
		c->resp.skip_heads = 0;
		c->resp.skip_fresh = false;
	}
	c->resp.state = state;
	if (state != PS_LOST)
		c->resp.lost_chunked = false;
}

/* The connection is not HTTP/1.x (counted): ignore it from now on. */
static void mark_not_http(struct tracker *t, struct conn *c)
{
	t->st.not_http_conns++;
	if (t->o.not_http && c->sock)
		t->o.not_http(t->o.kctx, c->sock);
	drop_pending(t, c);
	head_reset(&c->req);
	head_reset(&c->resp);
	resp_set_state(t, c, PS_SKIP);
	c->mode = MODE_IGNORED;
}

/* The connection switched protocols at ts: requests still queued never get an HTTP answer. */
static void conn_upgrade(struct tracker *t, struct conn *c, uint64_t ts)
{
	while (c->head)
		finish_front(t, c, ts, TXN_F_NO_RESPONSE);
	head_reset(&c->req);
	head_reset(&c->resp);
	resp_set_state(t, c, PS_SKIP);
	c->mode = MODE_UPGRADED;
	t->st.upgraded_conns++;
}

/*
 * End every waiting request by fallback (TXN_F_LOST_SYNC) at the last
 * response-direction record; response parsing resumes at the next
 * response-direction message start.
 */
static void fallback_all(struct tracker *t, struct conn *c)
{
	if (c->pipelined)
		c->uncertain = true;
	while (c->head)
		finish_front(t, c, c->resp_last_ts, TXN_F_LOST_SYNC);
	head_reset(&c->resp);
	resp_set_state(t, c, PS_SKIP);
}

/* The request stream lost sync; parse_error when a head or chunk did not parse. */
static void req_lost(struct tracker *t, struct conn *c, bool parse_error)
{
	struct stream *s = &c->req;

	uint32_t others = c->npending - (c->req_body && s->state != RS_HEAD ? 1 : 0);

	s->state = RS_LOST;
	head_reset(s);
	if (c->mode == MODE_PROBE)
		return;		/* not HTTP yet: try again at the next message start */
	/* Lost bytes sent while another request was outstanding may hold more requests. */
	if (others || c->pipelined)
		saw_pipelining(c);
	if (!c->classified && c->strict_first) {
		if (parse_error) {
			mark_not_http(t, c);
			return;
		}
		c->strict_first = false;	/* the first message fell in a gap: cannot tell */
	}
	t->st.lost_sync++;
	if (parse_error)
		t->st.parse_errors++;
}

/* The response stream lost sync for the front request. */
static void resp_lost(struct tracker *t, struct conn *c, bool parse_error)
{
	bool chunked = c->resp.state == PS_BODY_CHUNKED;

	head_reset(&c->resp);
	resp_set_state(t, c, PS_LOST);
	c->resp.lost_chunked = chunked;
	t->st.lost_sync++;
	if (parse_error)
		t->st.parse_errors++;
}

/* ---- request direction --------------------------------------------------- */

/* A complete request head: parse it, queue the request, set up its body. */
static void request_head(struct tracker *t, struct conn *c, const struct sb_event *ev,
			 const char *head, size_t hlen)
{
	struct http_request *rq = &t->rq;
	struct stream *s = &c->req;
	enum http_body body = HTTP_BODY_INVALID;
	uint64_t blen = 0, start_ts = s->head_ts;
	uint32_t start_tid = s->head_tid, start_seq = s->head_seq;
	struct sb_parent parent = s->head_parent;
	struct pending *p;

	if (http_parse_request(head, hlen, rq) == (int)hlen)
		body = http_request_body(rq, &blen);
	head_reset(s);
	if (body == HTTP_BODY_INVALID || body == HTTP_BODY_CLOSE || body == HTTP_BODY_TUNNEL) {
		req_lost(t, c, true);
		return;
	}
	if (c->mode == MODE_PROBE) {
		c->role = ev->dir == SB_DIR_READ ? SB_ROLE_SERVER : SB_ROLE_CLIENT;
		c->mode = MODE_HTTP;
		head_reset(&c->resp);
		resp_set_state(t, c, PS_SKIP);
	}
	c->classified = true;
	/* RFC 9112 9.3, 9.6: nothing after this request on the connection is a request. */
	if (rq->conn_close || (rq->version_minor == 0 && !rq->conn_keep_alive))
		c->req_final = true;

	s->state = RS_HEAD;
	if (body == HTTP_BODY_LENGTH) {
		s->state = RS_BODY_LEN;
		s->remaining = blen;
	} else if (body == HTTP_BODY_CHUNKED) {
		s->state = RS_BODY_CHUNKED;
		http_chunked_init(&s->ch);
	}
	c->req_body = NULL;

	if (c->npending)
		c->pipelined = true;
	if (c->npending >= t->o.max_pipeline || t->npending >= t->o.max_pending) {
		t->st.requests_dropped++;
		req_lost(t, c, false);
		return;
	}
	p = pending_new(rq);
	if (!p) {
		t->st.alloc_failures++;
		t->st.requests_dropped++;
		req_lost(t, c, false);
		return;
	}
	p->txn_id = ++t->next_txn_id;
	p->start_ns = start_ts;
	p->req_tid = start_tid;
	p->msg_seq = start_seq;
	p->parent = parent;
	p->version_minor = rq->version_minor;
	p->untrusted = c->uncertain;
	if (rq->target_truncated)
		p->flags |= TXN_F_TARGET_TRUNCATED;
	if (c->tail)
		c->tail->next = p;
	else
		c->head = p;
	c->tail = p;
	if (!c->npending++) {
		list_add(&c->open, &t->open);
		c->next_query = 0;
		c->query_wait = 0;
	}
	t->npending++;
	if (body != HTTP_BODY_NONE)
		c->req_body = p;
	t->st.requests++;
	if (t->on_request)
		t->on_request(fill_txn(t, c, p, false), t->ctx);
}

/* Request body bytes consumed (Content-Length framing). */
static size_t req_body_len(struct conn *c, uint64_t n)
{
	struct stream *s = &c->req;
	uint64_t k = n < s->remaining ? n : s->remaining;

	s->remaining -= k;
	if (c->req_body)
		c->req_body->req_body_len += k;
	if (s->remaining == 0) {
		s->state = RS_HEAD;
		c->req_body = NULL;
	}
	return (size_t)k;
}

/* Known request-direction bytes p[0..n); returns the bytes consumed. */
static size_t req_known(struct tracker *t, struct conn *c, const struct sb_event *ev,
			const char *p, size_t n)
{
	struct stream *s = &c->req;
	const char *head = NULL;
	size_t hlen = 0, used = 0;
	int r;

	switch (s->state) {
	case RS_HEAD:
		if (c->req_final) {
			/* After a connection's last request: bytes, never a (smuggled) request. */
			t->st.bytes_after_last_request += n;
			return n;
		}
		r = head_collect(s, ev, p, n, true, &head, &hlen, &used);
		if (r == COLLECT_DONE)
			request_head(t, c, ev, head, hlen);
		else if (r == COLLECT_ERROR)
			req_lost(t, c, true);
		else if (r == COLLECT_NOMEM) {
			t->st.alloc_failures++;
			req_lost(t, c, false);
		}
		return used;
	case RS_BODY_LEN:
		return req_body_len(c, n);
	case RS_BODY_CHUNKED:
		r = http_chunked_feed(&s->ch, p, n, &used);
		if (c->req_body)
			c->req_body->req_body_len = s->ch.body_len;
		if (r == HTTP_CHUNKED_DONE) {
			s->state = RS_HEAD;
			c->req_body = NULL;
		} else if (r == HTTP_CHUNKED_ERROR) {
			req_lost(t, c, true);
		}
		return used;
	default:
		/*
		 * A request line in a later record of the lost run: the lost bytes
		 * may hold requests the FIFO does not know about.
		 */
		if (s->lost_before && !c->uncertain && memmem(p, n, " HTTP/1.", 8))
			saw_pipelining(c);
		return n;
	}
}

/* n request-direction bytes of unknown content; returns the bytes consumed. */
static size_t req_gap(struct tracker *t, struct conn *c, uint64_t n)
{
	struct stream *s = &c->req;
	uint64_t k;

	switch (s->state) {
	case RS_HEAD:
		if (c->req_final)
			return (size_t)n;
		req_lost(t, c, false);
		return 0;
	case RS_BODY_LEN:
		return req_body_len(c, n);
	case RS_BODY_CHUNKED:
		k = http_chunked_skip(&s->ch, n);
		if (c->req_body)
			c->req_body->req_body_len = s->ch.body_len;
		if (!k)
			req_lost(t, c, false);
		return (size_t)k;
	default:
		return (size_t)n;
	}
}

/* A message starts in the request direction. */
static void req_msg_start(struct tracker *t, struct conn *c)
{
	/* A client sending again means a lost or close-delimited response is over. */
	if (c->resp.state == PS_LOST || c->resp.state == PS_BODY_CLOSE)
		fallback_all(t, c);
	if (c->req.state == RS_LOST) {
		head_reset(&c->req);
		c->req.state = RS_HEAD;
		c->req.lost_before = false;
		c->req_body = NULL;
	}
}

/* ---- response direction -------------------------------------------------- */

/* A complete response head for the front request. */
static void response_head(struct tracker *t, struct conn *c, const struct sb_event *ev,
			  const char *head, size_t hlen)
{
	struct stream *s = &c->resp;
	struct pending *f = c->head;
	struct http_response rs;
	uint32_t head_tid = s->head_tid;
	enum http_body body;
	uint64_t blen;

	if (http_parse_response(head, hlen, &rs) != (int)hlen) {
		/* A response came and did not parse: an error span, never a silent success. */
		f->flags |= TXN_F_RESP_MALFORMED;
		resp_lost(t, c, true);
		return;
	}
	head_reset(s);
	if (http_status_interim(rs.status))
		return;		/* 100 Continue, 103 Early Hints: the final one follows */
	if (f->untrusted)
		f->flags |= TXN_F_LOST_SYNC;	/* this response may answer another request */
	else
		f->status = rs.status;
	f->resp_tid = head_tid;
	if (t->o.on_response)
		t->o.on_response(f->txn_id, t->ctx);
	body = http_response_body(&rs, f->strs, &blen);
	switch (body) {
	case HTTP_BODY_TUNNEL:
		finish_front(t, c, ev->ts_ns, 0);
		conn_upgrade(t, c, ev->ts_ns);
		break;
	case HTTP_BODY_LENGTH:
		s->remaining = blen;
		resp_set_state(t, c, PS_BODY_LEN);
		break;
	case HTTP_BODY_CHUNKED:
		http_chunked_init(&s->ch);
		resp_set_state(t, c, PS_BODY_CHUNKED);
		break;
	case HTTP_BODY_CLOSE:
		resp_set_state(t, c, PS_BODY_CLOSE);
		break;
	default:
		finish_front(t, c, ev->ts_ns, 0);
		resp_set_state(t, c, PS_HEAD);
		break;
	}
}

/* Response body bytes consumed (Content-Length framing). */
static size_t resp_body_len(struct tracker *t, struct conn *c, const struct sb_event *ev,
			    uint64_t n)
{
	struct stream *s = &c->resp;
	uint64_t k = n < s->remaining ? n : s->remaining;

	s->remaining -= k;
	c->head->resp_body_len += k;
	if (s->remaining == 0) {
		finish_front(t, c, ev->ts_ns, 0);
		resp_set_state(t, c, PS_HEAD);
	}
	return (size_t)k;
}

/*
 * Final (not 1xx) status lines "HTTP/1.x SSS" at line starts in p[0..n),
 * counting one at p[0] when at_start; at most 2.
 */
static uint8_t count_final_status_lines(const char *p, size_t n, bool at_start)
{
	const char *q = p, *end = p + n;
	uint8_t found = 0;

	while (q < end && found < 2) {
		if ((q > p || at_start) && end - q >= 12 && (q == p || q[-1] == '\n') &&
		    http_response_prefix(q, 12) == HTTP_PREFIX_YES && q[9] != '1')
			found++;
		q = memchr(q, '\n', (size_t)(end - q));
		if (!q)
			break;
		q++;
	}
	return found;
}

/* Known response-direction bytes p[0..n); returns the bytes consumed. */
static size_t resp_known(struct tracker *t, struct conn *c, const struct sb_event *ev,
			 const char *p, size_t n)
{
	struct stream *s = &c->resp;
	struct pending *f = c->head;
	const char *head = NULL;
	size_t hlen = 0, used = 0, i;
	int r;

	if (!f && s->state != PS_SKIP) {
		/* Blank lines between messages are harmless; anything else answers nothing. */
		for (i = 0; s->state == PS_HEAD && s->hlen == 0 && i < n; i++)
			if (p[i] != '\r' && p[i] != '\n')
				break;
		if (s->state == PS_HEAD && s->hlen == 0 && i == n)
			return n;
		bool fresh = s->state == PS_HEAD && s->hlen == 0;

		t->st.unmatched_responses++;
		head_reset(s);
		resp_set_state(t, c, PS_SKIP);
		s->skip_fresh = fresh;
		return 0;
	}
	switch (s->state) {
	case PS_HEAD:
		r = head_collect(s, ev, p, n, false, &head, &hlen, &used);
		if (r == COLLECT_DONE) {
			response_head(t, c, ev, head, hlen);
		} else if (r == COLLECT_ERROR) {
			f->flags |= TXN_F_RESP_MALFORMED;
			resp_lost(t, c, true);
		}
		else if (r == COLLECT_NOMEM) {
			t->st.alloc_failures++;
			resp_lost(t, c, false);
		}
		return used;
	case PS_BODY_LEN:
		return resp_body_len(t, c, ev, n);
	case PS_BODY_CHUNKED:
		r = http_chunked_feed(&s->ch, p, n, &used);
		f->resp_body_len = s->ch.body_len;
		if (r == HTTP_CHUNKED_DONE) {
			finish_front(t, c, ev->ts_ns, 0);
			resp_set_state(t, c, PS_HEAD);
		} else if (r == HTTP_CHUNKED_ERROR) {
			resp_lost(t, c, true);
		}
		return used;
	case PS_BODY_CLOSE:
		f->resp_body_len += n;
		return n;
	case PS_LOST:
		/* Body size estimate for a chunked response found ended by its tail. */
		if (s->lost_chunked)
			f->resp_body_len += n;
		return n;
	default:
		/* Two final responses no request was seen for: more than one request was lost. */
		if (!c->uncertain) {
			s->skip_heads += count_final_status_lines(p, n, s->skip_fresh);
			if (s->skip_heads >= 2)
				saw_pipelining(c);
		}
		s->skip_fresh = false;
		return n;
	}
}

/* n response-direction bytes of unknown content; returns the bytes consumed. */
static size_t resp_gap(struct tracker *t, struct conn *c, const struct sb_event *ev, uint64_t n)
{
	struct stream *s = &c->resp;
	struct pending *f = c->head;
	uint64_t k;

	if (!f && s->state != PS_SKIP) {
		t->st.unmatched_responses++;
		head_reset(s);
		resp_set_state(t, c, PS_SKIP);
		return (size_t)n;
	}
	switch (s->state) {
	case PS_HEAD:
		resp_lost(t, c, false);
		return 0;
	case PS_BODY_LEN:
		return resp_body_len(t, c, ev, n);
	case PS_BODY_CHUNKED:
		k = http_chunked_skip(&s->ch, n);
		f->resp_body_len = s->ch.body_len;
		if (!k)
			resp_lost(t, c, false);
		return (size_t)k;
	case PS_BODY_CLOSE:
		f->resp_body_len += n;
		return (size_t)n;
	case PS_LOST:
		if (s->lost_chunked)
			f->resp_body_len += n;
		return (size_t)n;
	default:
		return (size_t)n;
	}
}

/*
 * Does the transfer of ev end with the last chunk of a chunked body: "0\r\n\r\n"
 * right after a line end, or as the whole transfer?  Looks at the payload and
 * the tail, whichever holds the last bytes.
 */
static bool ends_with_last_chunk(const struct sb_event *ev, uint32_t cap)
{
	static const char last[] = "0\r\n\r\n";
	uint32_t len = ev->len, tail_from = ev->len - ev->tail_len, i, n = 0;
	uint8_t w[SB_TAIL_MAX];

	for (i = len > SB_TAIL_MAX ? len - SB_TAIL_MAX : 0; i < len; i++) {
		if (i >= tail_from) {
			w[n++] = ev->tail[i - tail_from];
		} else if (i < cap) {
			w[n++] = ev->payload[i];
		} else {
			n = 0;	/* unknown byte: only a known suffix counts */
		}
	}
	if (n < 5 || memcmp(w + n - 5, last, 5) != 0)
		return false;
	return n >= 6 ? w[n - 6] == '\n' : len == 5;
}

/* After a record: a response lost in a chunked body may see that body end in the tail. */
static void check_tail(struct tracker *t, struct conn *c, const struct sb_event *ev, uint32_t cap,
		       bool is_req)
{
	struct pending *f = c->head;

	/*
	 * Responses only: a lost request body resyncs at the next message start
	 * anyway, and with pipelining the last chunk seen may end a later message.
	 */
	if (is_req || c->pipelined)
		return;
	if (c->resp.state == PS_LOST && c->resp.lost_chunked && c->npending == 1 &&
	    ends_with_last_chunk(ev, cap)) {
		f->resp_body_len = f->resp_body_len > 5 ? f->resp_body_len - 5 : 0;
		finish_front(t, c, ev->ts_ns, TXN_F_LOST_SYNC);
		resp_set_state(t, c, PS_HEAD);
	}
}

/* Run the bytes of one data record (payload, then gap) through one direction of c. */
static void feed(struct tracker *t, struct conn *c, const struct sb_event *ev, uint32_t cap,
		 bool is_req)
{
	const char *pl = (const char *)ev->payload;
	uint32_t off = 0, len = ev->len;
	int stall = 0;

	while (off < len && (c->mode == MODE_HTTP || c->mode == MODE_PROBE)) {
		size_t used;

		if (off < cap)
			used = is_req ? req_known(t, c, ev, pl + off, cap - off)
				      : resp_known(t, c, ev, pl + off, cap - off);
		else
			used = is_req ? req_gap(t, c, len - off) : resp_gap(t, c, ev, len - off);
		if (used > len - off)
			used = len - off;
		if (used) {
			off += (uint32_t)used;
			stall = 0;
		} else if (++stall > STALL_MAX) {
			log_debug("tracker: no progress on conn %llu, dropping a record",
				  (unsigned long long)c->conn_id);
			if (is_req && c->req.state != RS_LOST)
				req_lost(t, c, false);
			else if (!is_req && c->resp.state != PS_LOST && c->resp.state != PS_SKIP)
				resp_lost(t, c, false);
			break;
		}
	}
	if (c->mode != MODE_HTTP)
		return;
	check_tail(t, c, ev, cap, is_req);
	if (is_req)
		c->req.lost_before = c->req.state == RS_LOST;
}

/* ---- connection table ---------------------------------------------------- */

static struct conn *conn_find(const struct tracker *t, uint64_t id)
{
	struct conn *c = t->buckets[mix64(id) & (t->nbuckets - 1)];

	while (c && c->conn_id != id)
		c = c->hnext;
	return c;
}

/* Remove c from every index and free it; its waiting requests are dropped (counted). */
static void conn_free(struct tracker *t, struct conn *c)
{
	struct conn **pp = &t->buckets[mix64(c->conn_id) & (t->nbuckets - 1)];

	while (*pp && *pp != c)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = c->hnext;
	list_del(&c->lru);
	list_del(&c->by_tgid);
	list_del(&c->lost);
	drop_pending(t, c);
	list_del(&c->open);
	head_reset(&c->req);
	head_reset(&c->resp);
	t->nconns--;
	free(c);
}

/* A new entry for the connection of ev, evicting the least recently used at max_conns. */
static struct conn *conn_new(struct tracker *t, const struct sb_event *ev)
{
	size_t h = mix64(ev->conn_id) & (t->nbuckets - 1);
	struct conn *c;

	if (t->nconns >= t->o.max_conns && !list_empty(&t->lru)) {
		conn_free(t, list_entry(t->lru.prev, struct conn, lru));
		t->st.conns_evicted++;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		t->st.alloc_failures++;
		return NULL;
	}
	c->conn_id = ev->conn_id;
	c->sock = ev->sock;
	c->src = ev->src;
	c->tgid = ev->tgid;
	c->fd = ev->fd;
	c->tuple = ev->tuple;
	memcpy(c->comm, ev->comm, sizeof(c->comm) - 1);
	c->comm[sizeof(c->comm) - 1] = '\0';
	c->role = ev->role;
	list_init(&c->lost);
	list_init(&c->open);
	c->joined_midway = c->role == SB_ROLE_UNKNOWN || !(ev->flags & SB_F_CONN_START);
	if (c->role == SB_ROLE_UNKNOWN) {
		c->mode = MODE_PROBE;
		c->req.state = RS_LOST;
		c->resp.state = PS_SKIP;
	} else {
		c->mode = MODE_HTTP;
		c->strict_first = ev->flags & SB_F_CONN_START;
		c->req.state = c->strict_first ? RS_HEAD : RS_LOST;
		c->resp.state = c->strict_first ? PS_HEAD : PS_SKIP;
	}
	c->hnext = t->buckets[h];
	t->buckets[h] = c;
	list_add(&c->lru, &t->lru);
	list_add(&c->by_tgid, &t->tgid_buckets[mix64(c->tgid) & (t->ntgid_buckets - 1)]);
	t->nconns++;
	t->st.conns_opened++;
	return c;
}

/*
 * The process closed c at ts: a close-delimited response completes, a partial
 * one is truncated, requests without any response get TXN_F_NO_RESPONSE.
 * Frees c.
 */
static void conn_close(struct tracker *t, struct conn *c, uint64_t ts)
{
	struct stream *s = &c->resp;
	bool front = true;

	while (c->head) {
		struct pending *f = c->head;
		uint16_t flags = TXN_F_NO_RESPONSE;
		uint64_t end = ts;
		bool skipped = s->state == PS_SKIP && c->resp_last_ts > f->start_ns;

		if (front && s->state == PS_BODY_CLOSE) {
			flags = 0;
			end = c->resp_last_ts;
		} else if (front && (s->state == PS_BODY_LEN || s->state == PS_BODY_CHUNKED ||
				     (s->state == PS_HEAD && s->head_started))) {
			flags = TXN_F_RESP_TRUNCATED;
			end = c->resp_last_ts;
		} else if (s->state == PS_LOST || skipped) {
			flags = TXN_F_LOST_SYNC;
			end = c->resp_last_ts;
		}
		finish_front(t, c, end, flags);
		front = false;
	}
	t->st.conns_closed++;
	conn_free(t, c);
}

/* Close every connection of tgid; ts 0: each at its last record. */
static void proc_exit(struct tracker *t, uint32_t tgid, uint64_t ts)
{
	struct list *b = &t->tgid_buckets[mix64(tgid) & (t->ntgid_buckets - 1)];
	struct list *n, *next;

	for (n = b->next; n != b; n = next) {
		struct conn *c = list_entry(n, struct conn, by_tgid);

		next = n->next;
		if (c->tgid == tgid)
			conn_close(t, c, ts ? ts : c->last_ts);
	}
}

/* ---- records ------------------------------------------------------------- */

/* One data record (validated) through c; cap: bytes of its payload to use. */
static void data_feed(struct tracker *t, struct conn *c, const struct sb_event *ev, uint32_t cap)
{
	bool msg_start, is_req;

	c->last_ts = max_u64(c->last_ts, ev->ts_ns);
	if (ev->len == 0) {
		/* A client reading 0 bytes saw the FIN: a close-delimited response ended. */
		if (c->mode == MODE_HTTP && c->role == SB_ROLE_CLIENT && ev->dir == SB_DIR_READ &&
		    c->resp.state == PS_BODY_CLOSE) {
			finish_front(t, c, c->resp_last_ts, 0);
			resp_set_state(t, c, PS_SKIP);
		}
		return;
	}
	if (c->mode == MODE_IGNORED || c->mode == MODE_UPGRADED)
		return;
	/* The first record seen is a message start: parsing is strict enough to tell. */
	msg_start = !c->seen_data || (ev->flags & SB_F_MSG_START);
	c->seen_data = true;

	if (c->mode == MODE_PROBE) {
		if (msg_start) {
			head_reset(&c->req);
			c->req.state = RS_HEAD;
			c->probe_dir = ev->dir;
		}
		if (ev->dir == c->probe_dir)
			feed(t, c, ev, cap, true);
		return;
	}
	is_req = (c->role == SB_ROLE_SERVER) == (ev->dir == SB_DIR_READ);
	if (!is_req) {
		if (!c->classified && c->strict_first) {
			/* The peer that should listen spoke first (or answered a partial head). */
			mark_not_http(t, c);
			return;
		}
		c->resp_last_ts = max_u64(c->resp_last_ts, ev->ts_ns);
		if (msg_start && c->resp.state == PS_SKIP)
			resp_set_state(t, c, PS_HEAD);
	} else if (msg_start) {
		req_msg_start(t, c);
	}
	feed(t, c, ev, cap, is_req);
}

/*
 * n bytes of message (seq, dir) that the kernel only counted, fed as a gap
 * ending at ts by tid, with the last bytes the kernel kept (for a chunked
 * terminator).
 */
static void feed_counted(struct tracker *t, struct conn *c, uint8_t dir, uint64_t n, uint64_t ts,
			 uint32_t tid, const uint8_t *tail, uint32_t tail_len)
{
	struct sb_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = SB_EV_DATA;
	ev.dir = dir;
	ev.role = c->role;
	ev.tgid = c->tgid;
	ev.tid = tid;
	ev.ts_ns = ts;
	ev.conn_id = c->conn_id;
	ev.msg_seq = c->msg_seq;
	while (n > 0 && c->mode != MODE_IGNORED && c->mode != MODE_UPGRADED) {
		uint32_t k = n > (1u << 30) ? (1u << 30) : (uint32_t)n;

		n -= k;
		ev.len = k;
		ev.msg_off = c->msg_seen;
		ev.tail_len = 0;
		if (n == 0 && tail_len && tail_len <= SB_TAIL_MAX && tail_len <= k) {
			memcpy(ev.tail, tail, tail_len);
			ev.tail_len = tail_len;
		}
		c->msg_seen += k;
		data_feed(t, c, &ev, 0);
	}
}

/* What the kernel counted of the newest message, beyond what was fed: fed now. */
static void catch_up(struct tracker *t, struct conn *c, const struct sb_msg_end *m)
{
	if (!m->seq || m->seq != c->msg_seq || m->dir != c->msg_dir || m->total <= c->msg_seen)
		return;
	t->st.counted_bytes += m->total - c->msg_seen;
	feed_counted(t, c, m->dir, m->total - c->msg_seen, m->last_ts, m->last_tid, m->tail,
		     m->tail_len);
}

/*
 * Messages the kernel numbered but no record reached us for (the ring was
 * full): both directions lost sync, and requests may be missing from the
 * FIFO, so statuses of this connection are no longer trusted.
 */
static void records_lost(struct tracker *t, struct conn *c)
{
	t->st.records_lost_conns++;
	if (c->mode != MODE_HTTP)
		return;
	saw_pipelining(c);
	if (c->req.state != RS_LOST)
		req_lost(t, c, false);
	if (c->head && c->resp.state != PS_LOST && c->resp.state != PS_SKIP)
		resp_lost(t, c, false);
}

static void on_data(struct tracker *t, const struct sb_event *ev, size_t size)
{
	uint32_t cap;
	struct conn *c;

	if ((ev->dir != SB_DIR_READ && ev->dir != SB_DIR_WRITE) || ev->role > SB_ROLE_CLIENT ||
	    ev->cap_len > size - sizeof(*ev) || ev->cap_len > ev->len ||
	    ev->cap_len > SB_PAYLOAD_MAX || ev->tail_len > SB_TAIL_MAX || ev->tail_len > ev->len ||
	    ev->src >= SB_SRC_MAX) {
		t->st.bad_events++;
		return;
	}
	cap = ev->flags & SB_F_SENDFILE ? 0 : ev->cap_len;
	c = conn_find(t, ev->conn_id);
	if (!c) {
		c = conn_new(t, ev);
		if (!c)
			return;
	} else {
		list_del(&c->lru);
		list_add(&c->lru, &t->lru);
	}
	c->next_query = 0;
	c->query_wait = 0;
	if (ev->msg_seq && !(ev->flags & SB_F_EOF)) {
		if (ev->msg_seq != c->msg_seq) {
			/* A new message: first what the kernel counted of the one before. */
			if (c->msg_seq && ev->prev.seq == c->msg_seq)
				catch_up(t, c, &ev->prev);
			if (c->msg_seq && ev->msg_seq != c->msg_seq + 1)
				records_lost(t, c);
			c->msg_seq = ev->msg_seq;
			c->msg_dir = ev->dir;
			c->msg_seen = 0;
		}
		if (ev->msg_off > c->msg_seen)
			feed_counted(t, c, ev->dir, ev->msg_off - c->msg_seen, ev->ts_ns, ev->tid,
				     NULL, 0);
		c->msg_seen = ev->msg_off + ev->len;
	} else if (ev->msg_seq && ev->prev.seq == c->msg_seq) {
		/* EOF: the message in progress first. */
		catch_up(t, c, &ev->prev);
	}
	data_feed(t, c, ev, cap);
}

/*
 * A connect() that failed (refused, timed out, unreachable): the call the
 * process was about to make is an exchange of its own, flagged
 * TXN_F_CONN_REFUSED, with no request and no response.  The kernel reports
 * blocking connects' errors, and non-blocking sockets closed unused in
 * TCP_CLOSE as refused.  Successful connects make no exchange.
 */
static void connect_failed(struct tracker *t, const struct sb_event *ev)
{
	int err = -(int32_t)ev->len;
	struct http_txn *x = &t->txn;

	if (err != ECONNREFUSED && err != ETIMEDOUT && err != EHOSTUNREACH && err != ENETUNREACH)
		return;
	memset(x, 0, offsetof(struct http_txn, method));
	x->method[0] = x->target[0] = x->host[0] = x->user_agent[0] = x->traceparent[0] = '\0';
	x->txn_id = ++t->next_txn_id;
	x->tgid = ev->tgid;
	x->req_tid = x->resp_tid = ev->tid;
	x->fd = ev->fd;
	x->conn_id = ev->conn_id;
	x->role = SB_ROLE_CLIENT;
	x->version_minor = 1;
	x->flags = TXN_F_CONN_REFUSED;
	x->conn_errno = err;
	x->tuple = ev->tuple;
	x->start_ns = x->end_ns = ev->ts_ns;
	memcpy(x->comm, ev->comm, sizeof(x->comm) - 1);
	x->comm[sizeof(x->comm) - 1] = '\0';
	t->st.connects_failed++;
	if (t->on_request)
		t->on_request(x, t->ctx);
	t->on_txn(x, t->ctx);
}

void tracker_on_event(struct tracker *t, const struct sb_event *ev, size_t size)
{
	struct conn *c;

	t->st.events++;
	if (!ev || size < sizeof(*ev)) {
		t->st.bad_events++;
		return;
	}
	switch (ev->type) {
	case SB_EV_DATA:
		on_data(t, ev, size);
		break;
	case SB_EV_CLOSE:
		c = conn_find(t, ev->conn_id);
		if (!c)
			break;
		if (ev->prev.seq && ev->prev.seq == c->msg_seq)
			catch_up(t, c, &ev->prev);
		conn_close(t, c, max_u64(ev->ts_ns, c->last_ts));
		break;
	case SB_EV_CONNECT:
		connect_failed(t, ev);
		break;
	case SB_EV_PROC_EXIT:
		proc_exit(t, ev->tgid, ev->ts_ns);
		break;
	default:
		t->st.bad_events++;
		break;
	}
}

void tracker_proc_exit(struct tracker *t, uint32_t tgid)
{
	proc_exit(t, tgid, 0);
}

/*
 * Connections whose requests wait for a response and that sent no record
 * for a while: the kernel may have counted the rest of the response.  Asked
 * again with a growing wait while nothing new turns up.
 */
static void query_quiet(struct tracker *t, uint64_t now)
{
	struct list *n, *next;
	struct sb_msg_end m;

	if (!t->o.query)
		return;
	for (n = t->open.next; n != &t->open; n = next) {
		struct conn *c = list_entry(n, struct conn, open);

		next = n->next;
		if (!c->sock || !c->msg_seq || now < c->last_ts + t->o.query_idle_ns ||
		    now < c->next_query)
			continue;
		c->query_wait = c->query_wait ? c->query_wait * 2 : t->o.query_idle_ns;
		if (c->query_wait > QUERY_WAIT_MAX_NS)
			c->query_wait = QUERY_WAIT_MAX_NS;
		c->next_query = now + c->query_wait;
		t->st.queries++;
		if (t->o.query(t->o.kctx, c->sock, c->src, &m) == 0 && m.seq == c->msg_seq &&
		    m.total > c->msg_seen) {
			t->st.queries_answered++;
			catch_up(t, c, &m);	/* may free nothing: c stays in the table */
		}
	}
}

void tracker_sweep(struct tracker *t, uint64_t now)
{
	struct list *n, *next;

	query_quiet(t, now);

	for (n = t->lost.next; n != &t->lost; n = next) {
		struct conn *c = list_entry(n, struct conn, lost);

		next = n->next;
		if (now > c->last_ts && now - c->last_ts >= t->o.lost_sync_idle_ns)
			fallback_all(t, c);
	}
	/* Least recently used first: stop at the first one still alive. */
	while (!list_empty(&t->lru)) {
		struct conn *c = list_entry(t->lru.prev, struct conn, lru);

		if (now <= c->last_ts || now - c->last_ts < t->o.conn_idle_ns)
			break;
		t->st.conns_expired++;
		conn_free(t, c);
	}
}

void tracker_stats(const struct tracker *t, struct tracker_stats *out)
{
	*out = t->st;
	out->conns_active = t->nconns;
	out->pending_active = t->npending;
}

struct tracker *tracker_new(const struct tracker_opts *opts, tracker_txn_fn on_request,
			    tracker_txn_fn on_txn, void *ctx)
{
	struct tracker *t;
	size_t i;

	if (!on_txn)
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	if (opts)
		t->o = *opts;
	if (!t->o.max_conns)
		t->o.max_conns = DEFAULT_MAX_CONNS;
	if (!t->o.lost_sync_idle_ns)
		t->o.lost_sync_idle_ns = DEFAULT_LOST_SYNC_IDLE_NS;
	if (!t->o.conn_idle_ns)
		t->o.conn_idle_ns = DEFAULT_CONN_IDLE_NS;
	if (!t->o.max_pipeline)
		t->o.max_pipeline = DEFAULT_MAX_PIPELINE;
	if (!t->o.max_pending)
		t->o.max_pending = DEFAULT_MAX_PENDING;
	if (!t->o.query_idle_ns)
		t->o.query_idle_ns = DEFAULT_QUERY_IDLE_NS;
	t->on_request = on_request;
	t->on_txn = on_txn;
	t->ctx = ctx;
	t->nbuckets = pow2_at_least(t->o.max_conns);
	t->ntgid_buckets = pow2_at_least(t->o.max_conns / 4);
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	t->tgid_buckets = calloc(t->ntgid_buckets, sizeof(*t->tgid_buckets));
	if (!t->buckets || !t->tgid_buckets) {
		free(t->buckets);
		free(t->tgid_buckets);
		free(t);
		return NULL;
	}
	for (i = 0; i < t->ntgid_buckets; i++)
		list_init(&t->tgid_buckets[i]);
	list_init(&t->lru);
	list_init(&t->lost);
	list_init(&t->open);
	return t;
}

void tracker_free(struct tracker *t)
{
	if (!t)
		return;
	while (!list_empty(&t->lru))
		conn_free(t, list_entry(t->lru.next, struct conn, lru));
	free(t->buckets);
	free(t->tgid_buckets);
	free(t);
}
