/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http.h - HTTP/1.x message parsing for a passive observer: request and
 * response heads, body framing (RFC 9112 §6.3) and an incremental chunked
 * decoder.  Pure functions over caller buffers: no allocation, no I/O, never
 * reads outside [buf, buf + len) whatever the bytes are.
 */
#ifndef SPANBPF_HTTP_H
#define SPANBPF_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "txn.h"

/* RFC 9110 §5.6.2 tchar: a byte of a token (methods, field names, header names in the config). */
bool http_is_tchar(unsigned char c);
/* The same as a table, for loops: http_tchar[c] is 1 for a tchar. */
extern const unsigned char http_tchar[256];

/* Longest head (start line, fields, blank line) accepted, in bytes. */
#define HTTP_HEAD_MAX 16384

/* Results of the head parsers; a positive result is the head length. */
#define HTTP_ERROR (-1)
#define HTTP_NEED_MORE 0

/* A request head, as far as the agent cares.  Strings are NUL-terminated. */
struct http_request {
	char method[TXN_METHOD_MAX];
	char target[TXN_TARGET_MAX];		/* cut to TXN_TARGET_MAX-1 bytes */
	char host[TXN_HOST_MAX];		/* first Host; "" if absent or too long */
	char user_agent[TXN_UA_MAX];		/* cut to TXN_UA_MAX-1 bytes */
	char traceparent[TXN_TRACEPARENT_MAX];	/* "" if absent, too long or repeated */
	uint64_t content_length;
	uint8_t version_minor;			/* HTTP/1.<version_minor> */
	bool target_truncated;
	bool has_content_length;
	bool has_transfer_encoding;
	bool chunked;				/* "chunked" is the last transfer coding */
	bool conn_close;			/* Connection: close */
	bool conn_keep_alive;			/* Connection: keep-alive */
	bool expect_continue;			/* Expect: 100-continue */
};

/* A response head. */
struct http_response {
	int status;				/* 100..599 */
	uint8_t version_minor;
	uint64_t content_length;
	bool has_content_length;
	bool has_transfer_encoding;
	bool chunked;
	bool conn_close;
	bool conn_keep_alive;
};

/*
 * Parse the request head at the start of buf[0..len).  Empty lines before
 * the request line are skipped (RFC 9112 §2.2); a lone CR at the end may
 * start one, so it needs more.  Lines end in CRLF, or all of them in LF.
 * Returns the head length (through its blank line), HTTP_NEED_MORE when the
 * bytes so far are a valid beginning, HTTP_ERROR when they cannot be one.
 * Malformed, as strict parsers (RFC 9112 §11) have it: bad syntax, a bare
 * LF in a CRLF head, obs-fold, Content-Length with Transfer-Encoding,
 * differing or invalid Content-Length, a transfer coding in HTTP/1.0,
 * chunked applied twice, a head over HTTP_HEAD_MAX.
 * *req is filled when the result is positive, unspecified otherwise.
 */
int http_parse_request(const char *buf, size_t len, struct http_request *req);

/*
 * The same for a response head ("HTTP/1.x SSS reason", SSS in 100..599), with
 * the same rules except that obs-fold is one SP (RFC 9112 §5.2) unless it
 * continues Content-Length or Transfer-Encoding.
 */
int http_parse_response(const char *buf, size_t len, struct http_response *resp);

/*
 * Offset just past the blank line (LF LF or LF CR LF) that ends a head
 * starting at buf, 0 when buf[0..len) holds none.  buf must not start with
 * empty lines.  Lets a caller collecting a head in pieces scan each byte once.
 */
size_t http_head_end(const char *buf, size_t len);

/* Results of the start-of-message checks. */
#define HTTP_PREFIX_NO (-1)	/* cannot be the start of such a message */
#define HTTP_PREFIX_MAYBE 0	/* consistent so far, too short to tell */
#define HTTP_PREFIX_YES 1	/* the start line is valid up to its version */

/*
 * Do the first len bytes look like the start of an HTTP/1.x request
 * ("METHOD target HTTP/1.x") or response ("HTTP/1.x SSS")?  Only the start
 * line is looked at; cost is bounded by its length.
 */
int http_request_prefix(const char *buf, size_t len);
int http_response_prefix(const char *buf, size_t len);

/* How a message body is delimited (RFC 9112 §6.3). */
enum http_body {
	HTTP_BODY_NONE = 0,	/* no body */
	HTTP_BODY_LENGTH,	/* *len bytes (Content-Length) */
	HTTP_BODY_CHUNKED,	/* chunked transfer coding */
	HTTP_BODY_CLOSE,	/* until the connection closes (responses only) */
	HTTP_BODY_TUNNEL,	/* 101 or 2xx to CONNECT: the connection leaves HTTP */
	HTTP_BODY_INVALID,	/* request with a transfer coding other than chunked last */
};

/* Framing of a request body. */
enum http_body http_request_body(const struct http_request *req, uint64_t *len);

/*
 * Framing of the body of a final response (status >= 200, or 101) to a
 * request with method req_method.  Interim 1xx responses carry no body: see
 * http_status_interim().
 */
enum http_body http_response_body(const struct http_response *resp, const char *req_method,
				  uint64_t *len);

/* An interim response (1xx other than 101): the final one is still to come. */
static inline bool http_status_interim(int status)
{
	return status >= 100 && status < 200 && status != 101;
}

/* Incremental chunked-body decoder (RFC 9112 §7.1), any split points. */
struct http_chunked {
	uint8_t state;
	uint8_t ndigits;	/* hex digits of the current chunk size */
	uint32_t line_len;	/* bytes of the current size or trailer line */
	uint32_t trailer_len;	/* bytes of trailer section so far */
	uint64_t remaining;	/* chunk data bytes still to come */
	uint64_t body_len;	/* chunk data bytes consumed (decoded or skipped) */
};

#define HTTP_CHUNKED_ERROR (-1)
#define HTTP_CHUNKED_MORE 0	/* every byte consumed, the body goes on */
#define HTTP_CHUNKED_DONE 1	/* the last chunk and trailers ended */

void http_chunked_init(struct http_chunked *c);

/*
 * Consume buf[0..len) of chunked body.  *used is set to the bytes consumed:
 * all of them for HTTP_CHUNKED_MORE, those through the final CRLF for
 * HTTP_CHUNKED_DONE (the rest belongs to the next message), and the offset
 * of the offending byte for HTTP_CHUNKED_ERROR.  After DONE or ERROR the
 * decoder stays there until re-initialised.
 */
int http_chunked_feed(struct http_chunked *c, const char *buf, size_t len, size_t *used);

/*
 * Skip up to n bytes whose content is unknown.  Only chunk data can be
 * skipped: returns the bytes skipped, 0 when the decoder needs to see the
 * next bytes (a size line, CRLF or trailer).
 */
uint64_t http_chunked_skip(struct http_chunked *c, uint64_t n);

bool http_chunked_done(const struct http_chunked *c);

#endif /* SPANBPF_HTTP_H */
