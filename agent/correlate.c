// SPDX-License-Identifier: Apache-2.0
/*
 * correlate.c - parent/child links between exchanges (see correlate.h).
 *
 * Every request in flight is one entry, reachable three ways: by txn_id
 * (to finish it), by connection (the 5-tuple as the client sees it, so a
 * client and the server it talks to on this node meet in one bucket), and
 * by thread (server requests only, for the in-process link).
 */
#include "correlate.h"

#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "runtime.h"

#define NBUCKETS 16384 /* power of two */
/* How much earlier than its client's write a server's read may be stamped. */
#define LATE_LINK_NS 2000000ull
/*
 * How long the spans of a server request wait for its traced client's
 * record (the two race to the ring: TLS libraries' returns make the client
 * late by 100 us and more), after the request started.
 */
#define HOLD_NS 50000000ull

struct entry {
	uint64_t txn_id;
	uint64_t conn_id;
	uint64_t start_ns;
	uint32_t tgid;
	uint32_t tid;
	uint32_t msg_seq;	/* server: the kernel's message number of its head */
	uint8_t role;
	uint8_t link;
	bool matched;		/* client: a server request already took it as parent */
	bool answered;		/* server: its response has started (the thread is done with it) */
	bool awaiting;		/* server root: its traced client's record is still to come */
	bool ended;		/* awaiting: its exchange is over, kept for the late link */
	uint32_t children;	/* server: client spans that took it as parent */
	struct entry *up;	/* the entry it took as parent, while both are followed */
	struct entry *pending_up;	/* on_request: parent found, joined once registered */
	struct entry *kids;	/* entries that took it as parent (linked through sib) */
	struct entry *sib;
	struct sb_tuple key;	/* the connection as its client sees it */
	struct span_context self;
	struct span_context parent;
	/* Hash chains (by id, connection, thread, connection id); pprev NULL: not in it. */
	struct chain { struct entry *next, **pprev; } id_l, conn_l, thread_l, cid_l;
	struct entry *older, *newer; /* age list, oldest first */
	struct entry *next_await;	/* c->awaiting, while awaiting */
};

/* Direct-mapped caches: a collision forgets, which only costs a link. */
#define NSLOTS 16384

struct thread_slot {		/* the connection a thread last read a request from */
	uint32_t tgid, tid;
	uint64_t conn_id;
};

struct client_slot {		/* an outbound connection of a traced process, by its 5-tuple */
	struct sb_tuple key;	/* as the client sees it */
	uint64_t conn_id;
};

struct connect_slot {		/* an outbound connection and the inbound one it serves */
	uint64_t client_conn_id;
	uint64_t server_conn_id;
	uint32_t tgid, tid;
};

/* Processes seen serving two connections at once on one thread: event loops. */
#define NLOOP_SLOTS 1024

#define FREE_MAX 4096	/* entries kept for reuse */

struct correlator {
	struct builder *b;
	struct entry *free_list;	/* linked through id_l.next */
	uint32_t nfree;
	uint8_t (*rules)(void *ctx, uint32_t tgid);
	void *rules_ctx;
	uint32_t event_loops[NLOOP_SLOTS];	/* tgids, direct-mapped (0: free) */
	struct thread_slot threads[NSLOTS];
	struct connect_slot connects[NSLOTS];
	struct client_slot clients[NSLOTS];
	struct entry *awaiting;		/* roots waiting for their client, oldest first */
	struct entry **awaiting_tail;
	void (*release)(void *ctx, uint64_t root_id, const struct span_context *self,
			const struct span_context *parent, bool sampled);
	void *release_ctx;
	double ratio;
	uint32_t max;
	uint64_t max_age_ns;
	uint32_t count;
	struct entry *by_id[NBUCKETS];
	struct entry *by_conn[NBUCKETS];
	struct entry *by_thread[NBUCKETS];
	struct entry *by_cid[NBUCKETS];		/* server requests by connection id */
	struct entry *oldest, *newest;
	struct correlator_stats st;
};

static uint32_t bucket_id(uint64_t id)
{
	return (uint32_t)mix64(id) & (NBUCKETS - 1);
}

static uint32_t bucket_thread(uint32_t tgid, uint32_t tid)
{
	return (uint32_t)mix64(((uint64_t)tgid << 32) | tid) & (NBUCKETS - 1);
}

static uint32_t bucket_conn(const struct sb_tuple *t)
{
	uint64_t w[4], h;

	memcpy(w, t->laddr, 16);
	memcpy(w + 2, t->raddr, 16);
	h = mix64(w[0] ^ mix64(w[1] ^ mix64(w[2] ^ mix64(w[3] ^ ((uint64_t)t->lport << 16 | t->rport)))));
	return (uint32_t)h & (NBUCKETS - 1);
}

static bool tuple_eq(const struct sb_tuple *a, const struct sb_tuple *b)
{
	return memcmp(a->laddr, b->laddr, 16) == 0 && memcmp(a->raddr, b->raddr, 16) == 0 &&
	       a->lport == b->lport && a->rport == b->rport;
}

/* The connection as its client sees it: a server's view is mirrored. */
static void client_view(const struct http_txn *txn, struct sb_tuple *out)
{
	memset(out, 0, sizeof(*out));
	if (txn->role == SB_ROLE_CLIENT) {
		memcpy(out->laddr, txn->tuple.laddr, 16);
		memcpy(out->raddr, txn->tuple.raddr, 16);
		out->lport = txn->tuple.lport;
		out->rport = txn->tuple.rport;
	} else {
		memcpy(out->laddr, txn->tuple.raddr, 16);
		memcpy(out->raddr, txn->tuple.laddr, 16);
		out->lport = txn->tuple.rport;
		out->rport = txn->tuple.lport;
	}
}

bool correlator_ratio_sampled(const uint8_t trace_id[16], double ratio)
{
	uint64_t v = 0;

	if (ratio >= 1.0)
		return true;
	if (ratio <= 0.0)
		return false;
	/* The low 8 bytes, big-endian, against ratio * 2^64 (as the OTel SDKs do). */
	for (int i = 8; i < 16; i++)
		v = (v << 8) | trace_id[i];
	return (double)v < ratio * 18446744073709551616.0;
}

struct correlator *correlator_new(const struct correlator_opts *o, struct builder *b)
{
	struct correlator *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->b = b;
	c->awaiting_tail = &c->awaiting;
	c->release = o ? o->release : NULL;
	c->release_ctx = o ? o->release_ctx : NULL;
	c->rules = o ? o->rules : NULL;
	c->rules_ctx = o ? o->rules_ctx : NULL;
	c->ratio = o ? o->sampling_ratio : 1.0;
	c->max = o && o->max_requests ? o->max_requests : 65536;
	c->max_age_ns = o && o->max_age_ns ? o->max_age_ns : 15ull * 60 * 1000000000ull;
	return c;
}

/* In and out of a hash chain in O(1). */
#define CHAIN_ADD(head, e, f)							\
	do {									\
		(e)->f.next = *(head);						\
		if ((e)->f.next)						\
			(e)->f.next->f.pprev = &(e)->f.next;			\
		*(head) = (e);							\
		(e)->f.pprev = (head);						\
	} while (0)

#define CHAIN_DEL(e, f)								\
	do {									\
		if ((e)->f.pprev) {						\
			*(e)->f.pprev = (e)->f.next;				\
			if ((e)->f.next)					\
				(e)->f.next->f.pprev = (e)->f.pprev;		\
			(e)->f.pprev = NULL;					\
			(e)->f.next = NULL;					\
		}								\
	} while (0)

/* e takes p as parent (both followed): p's subtree, for a late change of trace. */
static void tree_add(struct entry *p, struct entry *e)
{
	e->up = p;
	e->sib = p->kids;
	p->kids = e;
}

/* Take e out of the tree: its parent forgets it, its children lose their link up. */
static void tree_remove(struct entry *e)
{
	if (e->up) {
		struct entry **pp = &e->up->kids;

		while (*pp && *pp != e)
			pp = &(*pp)->sib;
		if (*pp)
			*pp = e->sib;
	}
	for (struct entry *k = e->kids, *next; k; k = next) {
		next = k->sib;
		k->up = NULL;
		k->sib = NULL;
	}
	e->up = NULL;
	e->kids = NULL;
}

/*
 * The trace of e changed (a late link): every followed descendant moves to
 * the same trace and sampling decision.  Descendants already exported keep
 * the old trace (they lose their parent, they never get a wrong one).
 */
static void retrace(struct entry *e, int depth)
{
	if (depth > 64)
		return;
	for (struct entry *k = e->kids; k; k = k->sib) {
		memcpy(k->parent.trace_id, e->self.trace_id, sizeof(k->parent.trace_id));
		k->parent.trace_flags = e->self.trace_flags;
		memcpy(k->self.trace_id, e->self.trace_id, sizeof(k->self.trace_id));
		k->self.trace_flags = (k->self.trace_flags & ~0x01) | (e->self.trace_flags & 0x01);
		retrace(k, depth + 1);
	}
}

static void entry_free(struct correlator *c, struct entry *e);

/* Unlink e from the list of awaiting roots. */
static void await_unlink(struct correlator *c, struct entry *e)
{
	struct entry **pp = &c->awaiting;

	while (*pp && *pp != e)
		pp = &(*pp)->next_await;
	if (*pp)
		*pp = e->next_await;
	if (c->awaiting_tail == &e->next_await)
		c->awaiting_tail = pp;
	e->next_await = NULL;
}

/*
 * A root stops waiting for its client (adopted, or the wait is over): the
 * spans of its trace held so far go, with its trace as it stands now.
 */
static void settle(struct correlator *c, struct entry *e)
{
	if (!e->awaiting)
		return;
	e->awaiting = false;
	await_unlink(c, e);
	if (c->release)
		c->release(c->release_ctx, e->txn_id, &e->self, e->link ? &e->parent : NULL,
			   e->self.trace_flags & 0x01);
	if (e->ended)
		entry_free(c, e);
}

static void entry_remove(struct correlator *c, struct entry *e)
{
	if (e->awaiting) {
		e->ended = true;
		settle(c, e);	/* frees e */
		return;
	}
	entry_free(c, e);
}

/* Take e out of every index (an ended awaiting root is in by_conn and the age list only). */
static void entry_free(struct correlator *c, struct entry *e)
{
	tree_remove(e);
	CHAIN_DEL(e, id_l);
	CHAIN_DEL(e, conn_l);
	CHAIN_DEL(e, thread_l);
	CHAIN_DEL(e, cid_l);
	if (e->older)
		e->older->newer = e->newer;
	else
		c->oldest = e->newer;
	if (e->newer)
		e->newer->older = e->older;
	else
		c->newest = e->older;
	c->count--;
	if (c->nfree < FREE_MAX) {
		e->id_l.next = c->free_list;
		c->free_list = e;
		c->nfree++;
	} else {
		free(e);
	}
}

void correlator_free(struct correlator *c)
{
	if (!c)
		return;
	correlator_settle_all(c);
	while (c->oldest)
		entry_remove(c, c->oldest);
	for (struct entry *e = c->free_list, *next; e; e = next) {
		next = e->id_l.next;
		free(e);
	}
	free(c);
}

static struct entry *find_id(struct correlator *c, uint64_t txn_id)
{
	for (struct entry *e = c->by_id[bucket_id(txn_id)]; e; e = e->id_l.next)
		if (e->txn_id == txn_id)
			return e;
	return NULL;
}

/* A valid traceparent header as a parent context. */
static bool wire_parent(struct correlator *c, const struct http_txn *txn, struct span_context *p)
{
	if (!txn->traceparent[0])
		return false;
	if (traceparent_parse(txn->traceparent, p->trace_id, p->span_id, &p->trace_flags) != 0) {
		c->st.bad_traceparent++;
		return false;
	}
	p->valid = true;
	return true;
}

/* The oldest client request on this connection no server request took yet. */
static struct entry *find_client(struct correlator *c, const struct sb_tuple *key)
{
	struct entry *best = NULL;

	for (struct entry *e = c->by_conn[bucket_conn(key)]; e; e = e->conn_l.next)
		if (e->role == SB_ROLE_CLIENT && !e->matched && tuple_eq(&e->key, key) &&
		    (!best || e->start_ns < best->start_ns))
			best = e;
	return best;
}

/*
 * A server request on this connection that was seen before its client's
 * record (the two syscalls race to the ring) and can still join its trace:
 * it has no parent yet (its own children follow it into the new trace).
 */
static struct entry *find_orphan_server(struct correlator *c, const struct sb_tuple *key,
					uint64_t client_start)
{
	struct entry *best = NULL;

	for (struct entry *e = c->by_conn[bucket_conn(key)]; e; e = e->conn_l.next)
		if (e->role == SB_ROLE_SERVER && e->link == CORR_LINK_NONE &&
		    e->start_ns + LATE_LINK_NS >= client_start && tuple_eq(&e->key, key) &&
		    (!best || e->start_ns < best->start_ns))
			best = e;
	return best;
}

static uint32_t loop_slot(uint32_t tgid)
{
	return (uint32_t)mix64(tgid) & (NLOOP_SLOTS - 1);
}

static bool is_event_loop(const struct correlator *c, uint32_t tgid)
{
	return c->event_loops[loop_slot(tgid)] == tgid;
}

void correlator_on_response(struct correlator *c, uint64_t txn_id)
{
	struct entry *e = find_id(c, txn_id);

	if (e && e->role == SB_ROLE_SERVER)
		e->answered = true;
}

/* The process forgot (exited): a new one with its pid starts afresh. */
void correlator_proc_exit(struct correlator *c, uint32_t tgid)
{
	if (is_event_loop(c, tgid))
		c->event_loops[loop_slot(tgid)] = 0;
}

/*
 * A server request e is being registered: if its thread already serves a
 * request from another connection, the thread multiplexes connections (an
 * event loop), and the thread rule is off for its process from now on.
 */
static void detect_event_loop(struct correlator *c, const struct entry *e)
{
	if (is_event_loop(c, e->tgid))
		return;
	for (struct entry *o = c->by_thread[bucket_thread(e->tgid, e->tid)]; o; o = o->thread_l.next)
		if (o->tgid == e->tgid && o->tid == e->tid && o->conn_id != e->conn_id &&
		    !o->answered) {
			c->event_loops[loop_slot(e->tgid)] = e->tgid;
			c->st.event_loops++;
			return;
		}
}

/*
 * The server request a runtime hook named (connection, message number) in
 * process tgid, while it is in flight; NULL when it has ended or never was
 * seen, or when two requests share the message (pipelined: no guess).
 */
static struct entry *named_server(struct correlator *c, uint32_t tgid, const struct sb_parent *p,
				  bool *ambiguous)
{
	struct entry *found = NULL;

	*ambiguous = false;
	for (struct entry *e = c->by_cid[bucket_id(p->conn_id)]; e; e = e->cid_l.next) {
		if (e->conn_id != p->conn_id || e->msg_seq != p->seq || e->tgid != tgid)
			continue;
		if (found) {
			*ambiguous = true;
			return NULL;
		}
		found = e;
	}
	return found;
}

/* The one server request this thread is serving, or NULL (none, or ambiguous). */
static struct entry *thread_server(struct correlator *c, uint32_t tgid, uint32_t tid,
				   bool *ambiguous)
{
	struct entry *found = NULL;

	*ambiguous = false;
	for (struct entry *e = c->by_thread[bucket_thread(tgid, tid)]; e; e = e->thread_l.next) {
		if (e->tgid != tgid || e->tid != tid || e->answered)
			continue;
		if (found) {
			*ambiguous = true;
			return NULL;
		}
		found = e;
	}
	return found;
}

void correlator_on_server_read(struct correlator *c, uint32_t tgid, uint32_t tid, uint64_t conn_id)
{
	struct thread_slot *s = &c->threads[bucket_thread(tgid, tid) & (NSLOTS - 1)];

	s->tgid = tgid;
	s->tid = tid;
	s->conn_id = conn_id;
}

static void client_key(const struct sb_tuple *t, struct sb_tuple *out)
{
	memset(out, 0, sizeof(*out));
	memcpy(out->laddr, t->laddr, 16);
	memcpy(out->raddr, t->raddr, 16);
	out->lport = t->lport;
	out->rport = t->rport;
}

void correlator_on_connect(struct correlator *c, uint32_t tgid, uint32_t tid, uint64_t conn_id,
			   const struct sb_tuple *t)
{
	struct thread_slot *s = &c->threads[bucket_thread(tgid, tid) & (NSLOTS - 1)];
	struct connect_slot *k = &c->connects[bucket_id(conn_id) & (NSLOTS - 1)];

	if (t) {
		struct client_slot *cs;
		struct sb_tuple key;

		client_key(t, &key);
		cs = &c->clients[bucket_conn(&key) & (NSLOTS - 1)];
		cs->key = key;
		cs->conn_id = conn_id;
	}

	if (s->tgid != tgid || s->tid != tid || !s->conn_id)
		return;
	k->client_conn_id = conn_id;
	k->server_conn_id = s->conn_id;
	k->tgid = tgid;
	k->tid = tid;
}

void correlator_on_close(struct correlator *c, uint64_t conn_id, const struct sb_tuple *t)
{
	struct client_slot *cs;
	struct sb_tuple key;

	client_key(t, &key);
	cs = &c->clients[bucket_conn(&key) & (NSLOTS - 1)];
	if (cs->conn_id == conn_id)
		memset(cs, 0, sizeof(*cs));
}

/* Is the other end of this connection on this host (loopback, or our own address)? */
static bool peer_local(const struct sb_tuple *key)
{
	static const uint8_t v4loop[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	static const uint8_t v6loop[16] = { [15] = 1 };

	if (memcmp(key->laddr, key->raddr, 16) == 0)
		return true;
	if (memcmp(key->laddr, v4loop, 12) == 0 && key->laddr[12] == 127)
		return true;
	return memcmp(key->laddr, v6loop, 16) == 0;
}

/* Is the client end of this connection (key: as the client sees it) a traced process? */
static bool client_traced(const struct correlator *c, const struct sb_tuple *key)
{
	const struct client_slot *cs = &c->clients[bucket_conn(key) & (NSLOTS - 1)];

	return cs->conn_id && tuple_eq(&cs->key, key);
}

/*
 * The first request on an outbound connection opened right after this
 * thread read from an inbound connection serves that connection's request
 * in flight: event loops (nginx) open the upstream connection in the same
 * handler that read the request.  The binding is used once.
 */
static struct entry *connect_server(struct correlator *c, const struct http_txn *txn)
{
	struct connect_slot *k = &c->connects[bucket_id(txn->conn_id) & (NSLOTS - 1)];
	struct entry *best = NULL;

	if (k->client_conn_id != txn->conn_id || k->tgid != txn->tgid)
		return NULL;
	for (struct entry *e = c->by_thread[bucket_thread(k->tgid, k->tid)]; e; e = e->thread_l.next)
		if (e->tgid == k->tgid && e->tid == k->tid && e->conn_id == k->server_conn_id &&
		    (!best || e->start_ns > best->start_ns))
			best = e;
	k->client_conn_id = 0;
	if (best)
		c->st.linked_connect++;
	return best;
}

static void decide_sampling(struct correlator *c, struct entry *e)
{
	bool sampled;

	if (e->link == CORR_LINK_NONE)
		sampled = correlator_ratio_sampled(e->self.trace_id, c->ratio);
	else
		sampled = e->parent.trace_flags & 0x01;
	e->self.trace_flags = (e->self.trace_flags & ~0x01) | (sampled ? 0x01 : 0);
}

void correlator_on_request(struct correlator *c, const struct http_txn *txn)
{
	struct entry *e, *other;
	bool ambiguous;

	c->st.requests++;
	if (c->count >= c->max || find_id(c, txn->txn_id))
		return;
	e = c->free_list;
	if (e) {
		c->free_list = e->id_l.next;
		c->nfree--;
		memset(e, 0, sizeof(*e));
	} else {
		e = calloc(1, sizeof(*e));
		if (!e)
			return;
	}
	e->txn_id = txn->txn_id;
	e->conn_id = txn->conn_id;
	e->start_ns = txn->start_ns;
	e->tgid = txn->tgid;
	e->tid = txn->req_tid;
	e->msg_seq = txn->msg_seq;
	e->role = txn->role;
	client_view(txn, &e->key);

	if (wire_parent(c, txn, &e->parent)) {
		e->link = CORR_LINK_WIRE;
		c->st.linked_wire++;
	} else if (txn->role == SB_ROLE_SERVER) {
		other = find_client(c, &e->key);
		if (other) {
			other->matched = true;
			e->parent = other->self;
			e->link = CORR_LINK_TUPLE;
			e->pending_up = other;
			c->st.linked_tuple++;
		}
	} else if (txn->parent.how == SB_PARENT_SET) {
		/* The runtime's own hooks named the request (Go): that, or nothing. */
		other = named_server(c, txn->tgid, &txn->parent, &ambiguous);
		if (other) {
			other->children++;
			e->parent = other->self;
			e->link = CORR_LINK_RUNTIME;
			e->pending_up = other;
			c->st.linked_runtime++;
		} else {
			c->st.unlinked[ambiguous ? CORR_UNLINKED_AMBIGUOUS
						 : CORR_UNLINKED_PARENT_ENDED]++;
		}
	} else if (txn->parent.how == SB_PARENT_NONE) {
		/* The hooks saw the call made outside any request. */
		c->st.unlinked[CORR_UNLINKED_NO_REQUEST]++;
	} else {
		uint8_t rules = c->rules ? c->rules(c->rules_ctx, txn->tgid)
					 : RUNTIME_RULE_THREAD | RUNTIME_RULE_CONNECT;
		bool loop = is_event_loop(c, txn->tgid);

		other = NULL;
		ambiguous = false;
		if ((rules & RUNTIME_RULE_THREAD) && !loop)
			other = thread_server(c, txn->tgid, txn->req_tid, &ambiguous);
		if (!other && (rules & RUNTIME_RULE_CONNECT))
			other = connect_server(c, txn);
		if (other) {
			other->children++;
			e->parent = other->self;
			e->link = CORR_LINK_THREAD;
			e->pending_up = other;
			c->st.linked_thread++;
		} else if (ambiguous) {
			c->st.unlinked[CORR_UNLINKED_AMBIGUOUS]++;
		} else if (!(rules & (RUNTIME_RULE_THREAD | RUNTIME_RULE_CONNECT))) {
			c->st.unlinked[CORR_UNLINKED_RUNTIME]++;
		} else if (loop) {
			c->st.unlinked[CORR_UNLINKED_EVENT_LOOP]++;
		} else {
			c->st.unlinked[CORR_UNLINKED_NO_REQUEST]++;
		}
	}
	builder_new_context(c->b, e->link ? &e->parent : NULL, &e->self);
	decide_sampling(c, e);

	/* Late link: the server side of this connection got here first. */
	if (txn->role == SB_ROLE_CLIENT) {
		other = find_orphan_server(c, &e->key, e->start_ns);
		if (other) {
			e->matched = true;
			other->parent = e->self;
			memcpy(other->self.trace_id, e->self.trace_id, sizeof(other->self.trace_id));
			other->link = CORR_LINK_TUPLE;
			decide_sampling(c, other);
			retrace(other, 0);
			if (!other->ended)
				tree_add(e, other);
			c->st.linked_tuple++;
			c->st.linked_late++;
			settle(c, other);	/* its held spans go, in the client's trace */
		}
	}
	if (e->role == SB_ROLE_SERVER)
		detect_event_loop(c, e);
	/*
	 * A root whose client is a traced process on this node, or may be (a
	 * local peer on a connection older than the agent): that client's record
	 * may be late (it races this one to the ring); its spans wait for it.
	 */
	if (e->role == SB_ROLE_SERVER && e->link == CORR_LINK_NONE &&
	    (client_traced(c, &e->key) ||
	     ((txn->flags & TXN_F_MIDSTREAM) && peer_local(&e->key)))) {
		e->awaiting = true;
		*c->awaiting_tail = e;
		c->awaiting_tail = &e->next_await;
		c->st.awaited++;
	}
	if (e->pending_up) {
		tree_add(e->pending_up, e);
		e->pending_up = NULL;
	}

	CHAIN_ADD(&c->by_id[bucket_id(e->txn_id)], e, id_l);
	CHAIN_ADD(&c->by_conn[bucket_conn(&e->key)], e, conn_l);
	if (e->role == SB_ROLE_SERVER) {
		uint32_t bt = bucket_thread(e->tgid, e->tid);

		CHAIN_ADD(&c->by_thread[bt], e, thread_l);
		CHAIN_ADD(&c->by_cid[bucket_id(e->conn_id)], e, cid_l);
	}
	e->older = c->newest;
	if (c->newest)
		c->newest->newer = e;
	else
		c->oldest = e;
	c->newest = e;
	c->count++;
}

void correlator_on_txn(struct correlator *c, const struct http_txn *txn, struct corr_result *out)
{
	struct entry *e = find_id(c, txn->txn_id);

	memset(out, 0, sizeof(*out));
	if (!e) {
		/* Never seen starting: its own trace, or the one its header names. */
		c->st.untracked++;
		if (wire_parent(c, txn, &out->parent))
			out->link = CORR_LINK_WIRE;
		builder_new_context(c->b, out->link ? &out->parent : NULL, &out->self);
		out->sampled = out->link ? (out->parent.trace_flags & 0x01)
					 : correlator_ratio_sampled(out->self.trace_id, c->ratio);
	} else {
		struct entry *root = e;
		int depth = 0;

		out->self = e->self;
		out->parent = e->parent;
		out->link = e->link;
		out->sampled = e->self.trace_flags & 0x01;
		while (root->up && depth++ < 64)
			root = root->up;
		if (root->awaiting) {
			/* Its trace may still change: the span waits with its root's. */
			out->held_by = root->txn_id;
			c->st.held++;
		}
		if (e->awaiting) {
			/* Kept (by_conn, age list) for the late link; gone from the rest. */
			CHAIN_DEL(e, id_l);
			CHAIN_DEL(e, thread_l);
			CHAIN_DEL(e, cid_l);
			e->ended = true;
		} else {
			entry_remove(c, e);
		}
	}
	out->self.valid = true;
	out->self.trace_flags |= 0x01; /* exported spans are sampled ones */
	if (!out->sampled)
		c->st.unsampled++;
}

void correlator_sweep(struct correlator *c, uint64_t now_mono_ns)
{
	/* Roots whose client never came (oldest first): their spans go as they are. */
	while (c->awaiting && c->awaiting->start_ns + HOLD_NS < now_mono_ns) {
		c->st.await_timeouts++;
		settle(c, c->awaiting);
	}
	while (c->oldest && c->oldest->start_ns + c->max_age_ns < now_mono_ns) {
		if (!c->oldest->ended)
			c->st.expired++;
		entry_remove(c, c->oldest);
	}
}

void correlator_settle_all(struct correlator *c)
{
	while (c->awaiting)
		settle(c, c->awaiting);
}

void correlator_stats(const struct correlator *c, struct correlator_stats *st)
{
	*st = c->st;
}

void correlator_set_ratio(struct correlator *c, double ratio)
{
	c->ratio = ratio;
}

const char *correlator_unlinked_name(int reason)
{
	static const char *const names[CORR_UNLINKED_MAX] = {
		[CORR_UNLINKED_NO_REQUEST] = "no_request",
		[CORR_UNLINKED_AMBIGUOUS] = "ambiguous",
		[CORR_UNLINKED_RUNTIME] = "runtime",
		[CORR_UNLINKED_EVENT_LOOP] = "event_loop",
		[CORR_UNLINKED_PARENT_ENDED] = "parent_ended",
	};

	return reason >= 0 && reason < CORR_UNLINKED_MAX ? names[reason] : "unknown";
}
