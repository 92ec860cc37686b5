/* SPDX-License-Identifier: Apache-2.0 */
/*
 * txn.h - one HTTP/1.x exchange (request + response) as the connection
 * tracker reports it to the span builder.  Pure data, no pointers that
 * outlive the callback.
 */
#ifndef SPANBPF_TXN_H
#define SPANBPF_TXN_H

#include <stdbool.h>
#include <stdint.h>

#include "../bpf/events.h"

#define TXN_METHOD_MAX 24
#define TXN_TARGET_MAX 2048
#define TXN_HOST_MAX 256
#define TXN_UA_MAX 512
#define TXN_TRACEPARENT_MAX 64

/* Why and how a transaction ended (bit flags in http_txn.flags). */
#define TXN_F_NO_RESPONSE	0x01 /* connection closed before any response */
#define TXN_F_RESP_TRUNCATED	0x02 /* connection closed inside the response */
#define TXN_F_LOST_SYNC		0x04 /* end found by fallback (next request, close, idle) */
#define TXN_F_TARGET_TRUNCATED	0x08 /* request target longer than TXN_TARGET_MAX-1 */
#define TXN_F_CONN_REFUSED	0x10 /* client: connect() failed (issue 3) */
#define TXN_F_RESP_MALFORMED	0x20 /* a response head came and did not parse: no status */
#define TXN_F_TLS		0x40 /* over TLS: the plaintext came from a TLS library's hooks */
#define TXN_F_MIDSTREAM		0x80 /* on a connection the agent joined midway (older than it) */

struct http_txn {
	uint64_t txn_id;	/* unique per exchange, the same in on_request and on_txn */
	uint32_t tgid;
	uint32_t req_tid;	/* thread that read (server) / wrote (client) the request head */
	uint32_t resp_tid;	/* thread that wrote (server) / read (client) the response head */
	uint32_t msg_seq;	/* the kernel's message number of the request head (0: none) */
	struct sb_parent parent;	/* client: the request it serves, as a runtime hook said */
	int32_t fd;
	uint64_t conn_id;
	uint8_t role;		/* enum sb_role: SERVER or CLIENT, never UNKNOWN */
	uint8_t version_minor;	/* HTTP/1.<version_minor> of the request */
	uint16_t flags;		/* TXN_F_* */
	int status;		/* response status code, 0 when there was none */
	struct sb_tuple tuple;	/* as seen by the process (local/remote) */
	uint64_t start_ns;	/* CLOCK_MONOTONIC: first request byte read (server) / written (client) */
	uint64_t end_ns;	/* CLOCK_MONOTONIC: last response byte written (server) / read (client) */
	uint64_t req_body_len;	/* request body bytes */
	uint64_t resp_body_len; /* response body bytes */
	char method[TXN_METHOD_MAX];		/* as on the wire, NUL-terminated */
	char target[TXN_TARGET_MAX];		/* request target as on the wire (path?query) */
	char host[TXN_HOST_MAX];		/* Host header, "" if absent */
	char user_agent[TXN_UA_MAX];		/* User-Agent header, "" if absent */
	char traceparent[TXN_TRACEPARENT_MAX];	/* traceparent header, "" if absent or too long */
	char comm[16];		/* process name from the kernel: fallback when /proc is gone */
	int conn_errno;		/* TXN_F_CONN_REFUSED: connect()'s error (ECONNREFUSED, ...) */
};

#endif /* SPANBPF_TXN_H */
