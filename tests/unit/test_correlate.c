// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests for the correlator, fed with recorded exchange sequences
 * (on_request / on_txn as the tracker reports them), in both arrival orders
 * where the kernel can deliver either.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "builder.h"
#include "correlate.h"
#include "runtime.h"

static struct builder *b;
static uint64_t next_id = 1;

/* A connection between two local processes: the client's view of it. */
struct link {
	uint16_t cport;	/* client's ephemeral port */
	uint16_t sport;	/* server's listening port */
};

static void addr_v4(uint8_t a[16], uint8_t last)
{
	memset(a, 0, 16);
	a[10] = a[11] = 0xff;
	a[12] = 127;
	a[15] = last;
}

static struct http_txn mk(uint8_t role, uint32_t tgid, uint32_t tid, uint64_t conn_id,
			  struct link l, uint64_t start)
{
	struct http_txn t;

	memset(&t, 0, sizeof(t));
	t.txn_id = next_id++;
	t.tgid = tgid;
	t.req_tid = t.resp_tid = tid;
	t.conn_id = conn_id;
	t.role = role;
	t.version_minor = 1;
	addr_v4(t.tuple.laddr, 1);
	addr_v4(t.tuple.raddr, 1);
	if (role == SB_ROLE_CLIENT) {
		t.tuple.lport = l.cport;
		t.tuple.rport = l.sport;
	} else {
		t.tuple.lport = l.sport;
		t.tuple.rport = l.cport;
	}
	t.start_ns = start;
	t.end_ns = start + 1000;
	strcpy(t.method, "GET");
	strcpy(t.target, "/");
	return t;
}

static struct correlator *new_corr(double ratio)
{
	struct correlator_opts o = { .sampling_ratio = ratio };
	struct correlator *c = correlator_new(&o, b);

	assert_non_null(c);
	return c;
}

static void assert_child(const struct corr_result *child, const struct corr_result *parent)
{
	assert_true(child->parent.valid);
	assert_memory_equal(child->parent.span_id, parent->self.span_id, 8);
	assert_memory_equal(child->self.trace_id, parent->self.trace_id, 16);
}

/* curl (client) -> A (server); both orders of the two request records. */
static void check_tuple_link(bool server_first)
{
	struct correlator *c = new_corr(1.0);
	struct link l = { 40000, 8080 };
	struct http_txn cli = mk(SB_ROLE_CLIENT, 100, 100, 1, l, 1000);
	struct http_txn srv = mk(SB_ROLE_SERVER, 200, 201, 2, l, server_first ? 999 : 1001);
	struct corr_result rc, rs;
	struct correlator_stats st;

	if (server_first) {
		correlator_on_request(c, &srv);
		correlator_on_request(c, &cli);
	} else {
		correlator_on_request(c, &cli);
		correlator_on_request(c, &srv);
	}
	correlator_on_txn(c, &srv, &rs);
	correlator_on_txn(c, &cli, &rc);
	assert_false(rc.parent.valid);
	assert_int_equal(rs.link, CORR_LINK_TUPLE);
	assert_child(&rs, &rc);
	assert_true(rs.sampled && rc.sampled);
	correlator_stats(c, &st);
	assert_int_equal(st.linked_tuple, 1);
	correlator_free(c);
}

static void test_tuple_link_client_first(void **state)
{
	check_tuple_link(false);
}

static void test_tuple_link_server_first(void **state)
{
	check_tuple_link(true);
}

/* A server request that started long before the client's is not adopted. */
static void test_late_link_needs_recent_server(void **state)
{
	struct correlator *c = new_corr(1.0);
	struct link l = { 40001, 8080 };
	struct http_txn srv = mk(SB_ROLE_SERVER, 200, 201, 2, l, 1000);
	struct http_txn cli = mk(SB_ROLE_CLIENT, 100, 100, 1, l, 1000 + 50000000);
	struct corr_result rs, rc;

	correlator_on_request(c, &srv);
	correlator_on_request(c, &cli);
	correlator_on_txn(c, &srv, &rs);
	correlator_on_txn(c, &cli, &rc);
	assert_false(rs.parent.valid);
	correlator_free(c);
}

/*
 * curl -> A -> B -> C, a thread per request in each service, fed in order and
 * with every server record ahead of its client's: one trace, right parents.
 */
static void check_chain(bool servers_first)
{
	struct correlator *c = new_corr(1.0);
	struct link ca = { 41000, 8001 }, ab = { 41001, 8002 }, bc = { 41002, 8003 };
	struct http_txn t_curl = mk(SB_ROLE_CLIENT, 10, 10, 1, ca, 100);
	struct http_txn t_as = mk(SB_ROLE_SERVER, 20, 21, 2, ca, 101);
	struct http_txn t_ac = mk(SB_ROLE_CLIENT, 20, 21, 3, ab, 102);
	struct http_txn t_bs = mk(SB_ROLE_SERVER, 30, 31, 4, ab, 103);
	struct http_txn t_bc = mk(SB_ROLE_CLIENT, 30, 31, 5, bc, 104);
	struct http_txn t_cs = mk(SB_ROLE_SERVER, 40, 41, 6, bc, 105);
	struct corr_result r_curl, r_as, r_ac, r_bs, r_bc, r_cs;

	if (servers_first) {
		correlator_on_request(c, &t_as);
		correlator_on_request(c, &t_curl);
		correlator_on_request(c, &t_bs);
		correlator_on_request(c, &t_ac);
		correlator_on_request(c, &t_cs);
		correlator_on_request(c, &t_bc);
	} else {
		correlator_on_request(c, &t_curl);
		correlator_on_request(c, &t_as);
		correlator_on_request(c, &t_ac);
		correlator_on_request(c, &t_bs);
		correlator_on_request(c, &t_bc);
		correlator_on_request(c, &t_cs);
	}
	/* Exchanges end innermost first. */
	correlator_on_txn(c, &t_cs, &r_cs);
	correlator_on_txn(c, &t_bc, &r_bc);
	correlator_on_txn(c, &t_bs, &r_bs);
	correlator_on_txn(c, &t_ac, &r_ac);
	correlator_on_txn(c, &t_as, &r_as);
	correlator_on_txn(c, &t_curl, &r_curl);
	assert_false(r_curl.parent.valid);
	assert_child(&r_as, &r_curl);
	assert_child(&r_ac, &r_as);
	assert_child(&r_bs, &r_ac);
	assert_child(&r_bc, &r_bs);
	assert_child(&r_cs, &r_bc);
	assert_int_equal(r_ac.link, CORR_LINK_THREAD);
	assert_int_equal(r_bs.link, CORR_LINK_TUPLE);
	correlator_free(c);
}

static void test_chain_in_order(void **state)
{
	check_chain(false);
}

static void test_chain_servers_first(void **state)
{
	/*
	 * Servers first breaks the in-process link unless the late link has
	 * adopted A's trace before A's own call starts: it has, because the
	 * curl record arrives before A writes its call.
	 */
	check_chain(true);
}

/* Two requests in flight on one thread from two connections (an event loop): no guess. */
static void test_thread_ambiguous_gives_no_parent(void **state)
{
	struct correlator *c = new_corr(1.0);
	struct link l1 = { 42000, 80 }, l2 = { 42001, 80 }, up = { 42002, 9000 };
	struct http_txn s1 = mk(SB_ROLE_SERVER, 50, 50, 1, l1, 100);
	struct http_txn s2 = mk(SB_ROLE_SERVER, 50, 50, 2, l2, 101);
	struct http_txn out = mk(SB_ROLE_CLIENT, 50, 50, 3, up, 102);
	struct corr_result r;
	struct correlator_stats st;

	correlator_on_request(c, &s1);
	correlator_on_request(c, &s2);
	correlator_on_request(c, &out);
	correlator_on_txn(c, &out, &r);
	assert_false(r.parent.valid);
	correlator_stats(c, &st);
	assert_int_equal(st.unlinked[CORR_UNLINKED_EVENT_LOOP], 1);
	assert_int_equal(st.event_loops, 1);
	correlator_free(c);
}

/* nginx under load: the upstream connect follows the read of the request it serves. */
static void test_connect_binding_under_concurrency(void **state)
{
	struct correlator *c = new_corr(1.0);
	struct link l1 = { 43000, 80 }, l2 = { 43001, 80 }, up = { 43002, 9000 };
	struct http_txn s1 = mk(SB_ROLE_SERVER, 60, 60, 11, l1, 100);
	struct http_txn s2 = mk(SB_ROLE_SERVER, 60, 60, 12, l2, 101);
	struct http_txn out = mk(SB_ROLE_CLIENT, 60, 60, 13, up, 103);
	struct corr_result r1, r2, ro;

	correlator_on_server_read(c, 60, 60, 11);
	correlator_on_request(c, &s1);
	correlator_on_connect(c, 60, 60, 13, NULL);	/* opened in s1's handler */
	correlator_on_server_read(c, 60, 60, 12);
	correlator_on_request(c, &s2);
	correlator_on_request(c, &out);		/* written later: two requests in flight */
	correlator_on_txn(c, &out, &ro);
	correlator_on_txn(c, &s2, &r2);
	correlator_on_txn(c, &s1, &r1);
	assert_child(&ro, &r1);
	correlator_free(c);
}

static void test_traceparent_wire(void **state)
{
	struct correlator *c = new_corr(1.0);
	struct link l = { 44000, 8080 };
	struct http_txn s = mk(SB_ROLE_SERVER, 70, 70, 1, l, 100);
	struct http_txn bad = mk(SB_ROLE_SERVER, 70, 71, 2, (struct link){ 44001, 8080 }, 100);
	struct http_txn off = mk(SB_ROLE_SERVER, 70, 72, 3, (struct link){ 44002, 8080 }, 100);
	struct corr_result r;
	struct correlator_stats st;
	static const uint8_t tid[16] = { 0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
					 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36 };
	static const uint8_t pid[8] = { 0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7 };

	strcpy(s.traceparent, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
	correlator_on_request(c, &s);
	correlator_on_txn(c, &s, &r);
	assert_int_equal(r.link, CORR_LINK_WIRE);
	assert_memory_equal(r.self.trace_id, tid, 16);
	assert_memory_equal(r.parent.span_id, pid, 8);
	assert_true(r.sampled);

	strcpy(bad.traceparent, "00-00000000000000000000000000000000-00f067aa0ba902b7-01");
	correlator_on_request(c, &bad);
	correlator_on_txn(c, &bad, &r);
	assert_int_equal(r.link, CORR_LINK_NONE);
	assert_false(r.parent.valid);

	/* Parent-based: the caller decided not to sample. */
	strcpy(off.traceparent, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
	correlator_on_request(c, &off);
	correlator_on_txn(c, &off, &r);
	assert_false(r.sampled);
	correlator_stats(c, &st);
	assert_int_equal(st.bad_traceparent, 1);
	assert_int_equal(st.unsampled, 1);
	correlator_free(c);
}

/* A whole trace shares one decision: children follow the root. */
static void test_sampling_whole_traces(void **state)
{
	struct correlator *c = new_corr(0.5);
	int kept = 0;

	for (int i = 0; i < 2000; i++) {
		struct link l = { (uint16_t)(45000 + i % 10000), 8080 };
		struct http_txn cli = mk(SB_ROLE_CLIENT, 80, 80, 1000 + 2 * i, l, 100 + i);
		struct http_txn srv = mk(SB_ROLE_SERVER, 81, 81, 1001 + 2 * i, l, 100 + i);
		struct corr_result rc, rs;

		correlator_on_request(c, &cli);
		correlator_on_request(c, &srv);
		correlator_on_txn(c, &srv, &rs);
		correlator_on_txn(c, &cli, &rc);
		assert_int_equal(rs.sampled, rc.sampled);
		assert_int_equal(rc.sampled, correlator_ratio_sampled(rc.self.trace_id, 0.5));
		kept += rc.sampled;
	}
	/* Binomial(2000, 0.5): 1000 +- 22.4; six standard deviations. */
	assert_in_range(kept, 866, 1134);
	correlator_free(c);
}

static void test_ratio_bounds(void **state)
{
	uint8_t id[16] = { 0 };

	assert_true(correlator_ratio_sampled(id, 1.0));
	assert_false(correlator_ratio_sampled(id, 0.0));
	assert_true(correlator_ratio_sampled(id, 0.001)); /* low bytes 0: kept at any ratio > 0 */
	memset(id + 8, 0xff, 8);
	assert_false(correlator_ratio_sampled(id, 0.999));
	assert_true(correlator_ratio_sampled(id, 1.0));
}

/* Requests whose exchange never ends are forgotten after max_age. */
static void test_sweep_expires(void **state)
{
	struct correlator_opts o = { .sampling_ratio = 1.0, .max_age_ns = 1000 };
	struct correlator *c = correlator_new(&o, b);
	struct http_txn s = mk(SB_ROLE_SERVER, 90, 90, 1, (struct link){ 46000, 80 }, 100);
	struct correlator_stats st;
	struct corr_result r;

	correlator_on_request(c, &s);
	correlator_sweep(c, 100 + 999);
	correlator_stats(c, &st);
	assert_int_equal(st.expired, 0);
	correlator_sweep(c, 100 + 1001);
	correlator_stats(c, &st);
	assert_int_equal(st.expired, 1);
	correlator_on_txn(c, &s, &r);	/* late end: still a span, its own trace */
	assert_true(r.self.valid);
	correlator_stats(c, &st);
	assert_int_equal(st.untracked, 1);
	correlator_free(c);
}

static int setup(void **state)
{
	b = builder_new(NULL);
	return b ? 0 : -1;
}

static int teardown(void **state)
{
	builder_free(b);
	return 0;
}

/* The rules a test's processes run under: tgid 77 is a Go process. */
static uint8_t rules_go77(void *ctx, uint32_t tgid)
{
	return tgid == 77 ? 0 : RUNTIME_RULE_THREAD | RUNTIME_RULE_CONNECT;
}

/* Go: a thread serving one request proves nothing about the goroutine that writes. */
static void test_runtime_rules_go_no_thread_link(void **state)
{
	struct correlator_opts o = { .sampling_ratio = 1.0, .rules = rules_go77 };
	struct correlator *c = correlator_new(&o, b);
	struct link in = { 43000, 80 }, up = { 43001, 9000 };
	struct http_txn s1 = mk(SB_ROLE_SERVER, 77, 7, 1, in, 100);
	struct http_txn out = mk(SB_ROLE_CLIENT, 77, 7, 2, up, 101);
	struct corr_result r;
	struct correlator_stats st;

	correlator_on_server_read(c, 77, 7, 1);
	correlator_on_connect(c, 77, 7, 2, NULL);
	correlator_on_request(c, &s1);
	correlator_on_request(c, &out);
	correlator_on_txn(c, &out, &r);
	assert_false(r.parent.valid);
	correlator_stats(c, &st);
	assert_int_equal(st.unlinked[CORR_UNLINKED_RUNTIME], 1);
	assert_int_equal(st.linked_thread, 0);
	correlator_free(c);
}

/* Once a thread served two connections at once, even a lone request on it is not linked. */
static void test_event_loop_stays(void **state)
{
	struct correlator *c = new_corr(1.0);
	struct link l1 = { 44000, 80 }, l2 = { 44001, 80 }, l3 = { 44002, 80 }, up = { 44003, 9000 };
	struct http_txn a = mk(SB_ROLE_SERVER, 60, 60, 1, l1, 100);
	struct http_txn bb = mk(SB_ROLE_SERVER, 60, 60, 2, l2, 101);
	struct http_txn later = mk(SB_ROLE_SERVER, 60, 60, 3, l3, 200);
	struct http_txn out = mk(SB_ROLE_CLIENT, 60, 60, 4, up, 201);
	struct corr_result r;
	struct correlator_stats st;

	correlator_on_request(c, &a);
	correlator_on_request(c, &bb);
	correlator_on_txn(c, &a, &r);
	correlator_on_txn(c, &bb, &r);
	correlator_on_request(c, &later);
	correlator_on_request(c, &out);
	correlator_on_txn(c, &out, &r);
	assert_false(r.parent.valid);
	correlator_stats(c, &st);
	assert_int_equal(st.event_loops, 1);
	/* A new process with that pid starts afresh. */
	correlator_proc_exit(c, 60);
	out.txn_id = next_id++;
	correlator_on_request(c, &out);
	correlator_on_txn(c, &out, &r);
	assert_true(r.parent.valid);
	correlator_free(c);
}

/*
 * curl -> A -> B, where A's request record and A's own call to B arrive
 * before curl's record: the late link moves A and its call (still in
 * flight) into curl's trace.
 */
static void test_late_link_moves_children(void **state)
{
	struct correlator *c = new_corr(1.0);
	struct link ca = { 45000, 80 }, ab = { 45001, 9000 };
	struct http_txn curl = mk(SB_ROLE_CLIENT, 10, 10, 1, ca, 100);
	struct http_txn a_in = mk(SB_ROLE_SERVER, 20, 21, 2, ca, 100);
	struct http_txn a_out = mk(SB_ROLE_CLIENT, 20, 21, 3, ab, 150);
	struct http_txn b_in = mk(SB_ROLE_SERVER, 30, 31, 4, ab, 160);
	struct corr_result r_curl, r_ain, r_aout, r_bin;

	correlator_on_request(c, &a_in);
	correlator_on_request(c, &a_out);
	correlator_on_request(c, &b_in);
	correlator_on_request(c, &curl);
	correlator_on_txn(c, &b_in, &r_bin);
	correlator_on_txn(c, &a_out, &r_aout);
	correlator_on_txn(c, &a_in, &r_ain);
	correlator_on_txn(c, &curl, &r_curl);
	assert_child(&r_ain, &r_curl);
	assert_child(&r_aout, &r_ain);
	assert_child(&r_bin, &r_aout);
	correlator_free(c);
}

/* What release() said (the held spans' fate). */
static struct {
	int n;
	uint64_t root_id;
	struct span_context self, parent;
	bool has_parent, sampled;
} rel;

static void on_release(void *ctx, uint64_t root_id, const struct span_context *self,
		       const struct span_context *parent, bool sampled)
{
	rel.n++;
	rel.root_id = root_id;
	rel.self = *self;
	rel.has_parent = parent != NULL;
	if (parent)
		rel.parent = *parent;
	rel.sampled = sampled;
}

static struct correlator *new_corr_hold(void)
{
	struct correlator_opts o = { .sampling_ratio = 1.0, .release = on_release };
	struct correlator *c = correlator_new(&o, b);

	assert_non_null(c);
	memset(&rel, 0, sizeof(rel));
	return c;
}

/*
 * curl -> A over TLS: A's whole exchange, and A's own call, end before
 * curl's record arrives.  curl's connect was seen, so A's spans wait; the
 * late client record releases them into curl's trace.
 */
static void test_hold_until_late_client(void **state)
{
	struct correlator *c = new_corr_hold();
	struct link ca = { 46000, 443 }, ab = { 46001, 9000 };
	struct http_txn curl = mk(SB_ROLE_CLIENT, 10, 10, 1, ca, 100);
	struct http_txn a_in = mk(SB_ROLE_SERVER, 20, 21, 2, ca, 200);
	struct http_txn a_out = mk(SB_ROLE_CLIENT, 20, 21, 3, ab, 250);
	struct corr_result r_curl, r_ain, r_aout;

	correlator_on_connect(c, 10, 10, 1, &curl.tuple);
	correlator_on_request(c, &a_in);
	correlator_on_request(c, &a_out);
	correlator_on_txn(c, &a_out, &r_aout);
	correlator_on_txn(c, &a_in, &r_ain);
	/* Both wait for A's request's trace to be settled. */
	assert_true(r_aout.held_by == a_in.txn_id);
	assert_true(r_ain.held_by == a_in.txn_id);
	assert_int_equal(rel.n, 0);
	correlator_on_request(c, &curl);
	assert_int_equal(rel.n, 1);
	assert_true(rel.root_id == a_in.txn_id);
	correlator_on_txn(c, &curl, &r_curl);
	assert_int_equal(r_curl.held_by, 0);
	/* The released trace is curl's, and A's request is curl's child. */
	assert_memory_equal(rel.self.trace_id, r_curl.self.trace_id, 16);
	assert_memory_equal(rel.self.span_id, r_ain.self.span_id, 8);
	assert_true(rel.has_parent);
	assert_memory_equal(rel.parent.span_id, r_curl.self.span_id, 8);
	correlator_free(c);
}

/* The client's record never comes: after the wait the spans go in their own trace. */
static void test_hold_times_out(void **state)
{
	struct correlator *c = new_corr_hold();
	struct link ca = { 46100, 443 };
	struct http_txn a_in = mk(SB_ROLE_SERVER, 20, 21, 2, ca, 1000);
	struct http_txn other = mk(SB_ROLE_CLIENT, 10, 10, 1, ca, 900);
	struct corr_result r;
	struct correlator_stats st;

	correlator_on_connect(c, 10, 10, 1, &other.tuple);
	correlator_on_request(c, &a_in);
	correlator_on_txn(c, &a_in, &r);
	assert_true(r.held_by == a_in.txn_id);
	correlator_sweep(c, 1000 + 10000000);	/* 10 ms */
	assert_int_equal(rel.n, 0);
	correlator_sweep(c, 1000 + 60000000);	/* 60 ms */
	assert_int_equal(rel.n, 1);
	assert_false(rel.has_parent);
	assert_memory_equal(rel.self.trace_id, r.self.trace_id, 16);
	correlator_stats(c, &st);
	assert_int_equal(st.await_timeouts, 1);
	correlator_free(c);
}

/* A server whose client is not a traced connection on this node never waits. */
static void test_no_hold_for_remote_clients(void **state)
{
	struct correlator *c = new_corr_hold();
	struct link ca = { 46200, 80 };
	struct http_txn a_in = mk(SB_ROLE_SERVER, 20, 21, 2, ca, 1000);
	struct corr_result r;

	correlator_on_request(c, &a_in);
	correlator_on_txn(c, &a_in, &r);
	assert_int_equal(r.held_by, 0);
	correlator_free(c);
	assert_int_equal(rel.n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tuple_link_client_first),
		cmocka_unit_test(test_tuple_link_server_first),
		cmocka_unit_test(test_late_link_needs_recent_server),
		cmocka_unit_test(test_chain_in_order),
		cmocka_unit_test(test_chain_servers_first),
		cmocka_unit_test(test_thread_ambiguous_gives_no_parent),
		cmocka_unit_test(test_connect_binding_under_concurrency),
		cmocka_unit_test(test_traceparent_wire),
		cmocka_unit_test(test_sampling_whole_traces),
		cmocka_unit_test(test_ratio_bounds),
		cmocka_unit_test(test_sweep_expires),
		cmocka_unit_test(test_runtime_rules_go_no_thread_link),
		cmocka_unit_test(test_event_loop_stays),
		cmocka_unit_test(test_late_link_moves_children),
		cmocka_unit_test(test_hold_until_late_client),
		cmocka_unit_test(test_hold_times_out),
		cmocka_unit_test(test_no_hold_for_remote_clients),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
