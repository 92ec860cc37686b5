// SPDX-License-Identifier: Apache-2.0
/*
 * http.c - HTTP/1.x heads, body framing and chunked decoding (see http.h).
 *
 * Every byte comes from traffic and may be hostile: each index is checked
 * against the buffer length before use, numbers are checked for overflow,
 * and copies into fixed fields are bounded by the field size.
 */
#include "http.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "hex.h"

/* RFC 9110 tchar: ALPHA / DIGIT and "!#$%&'*+-.^_`|~". */
const unsigned char http_tchar[256] = {
	['0' ... '9'] = 1, ['a' ... 'z'] = 1, ['A' ... 'Z'] = 1,
	['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,
	['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1, ['~'] = 1,
};

bool http_is_tchar(unsigned char c)
{
	return http_tchar[c];
}

/* Bytes that end (or break) a field line: LF, CR, NUL. */
static const unsigned char line_stop[256] = { ['\n'] = 1, ['\r'] = 1, ['\0'] = 1 };

/* Does the word w hold a zero byte (the classic bit trick)? */
static inline uint64_t has_zero(uint64_t w)
{
	return (w - 0x0101010101010101ull) & ~w & 0x8080808080808080ull;
}

/*
 * The first LF, CR or NUL in buf[i..len), or len: eight bytes at a time,
 * then byte by byte within the word that holds one.
 */
static inline size_t line_end(const char *buf, size_t i, size_t len)
{
	while (i + 8 <= len) {
		uint64_t w;

		memcpy(&w, buf + i, 8);
		if (has_zero(w) || has_zero(w ^ 0x0a0a0a0a0a0a0a0aull) ||
		    has_zero(w ^ 0x0d0d0d0d0d0d0d0dull))
			break;
		i += 8;
	}
	while (i < len && !line_stop[(unsigned char)buf[i]])
		i++;
	return i;
}

/* A request-target byte: anything visible, no space, no control character. */
static bool is_target_char(unsigned char c)
{
	return c > 0x20 && c != 0x7f;
}

static bool is_ows(unsigned char c)
{
	return c == ' ' || c == '\t';
}

static unsigned char lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* s[0..n) equals the NUL-terminated lowercase word w, ignoring ASCII case. */
static inline bool eq_nocase(const char *s, size_t n, const char *w)
{
	size_t i;

	if (n != strlen(w))	/* folded for the literals every caller passes */
		return false;
	for (i = 0; i < n; i++)
		if (w[i] == '\0' || lower((unsigned char)s[i]) != (unsigned char)w[i])
			return false;
	return w[i] == '\0';
}

/* Copy s[0..n) into dst[cap] NUL-terminated; true when it had to be cut. */
static bool copy_field(char *dst, size_t cap, const char *s, size_t n)
{
	bool cut = n > cap - 1;

	if (cut)
		n = cap - 1;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return cut;
}

/*
 * Bytes of empty lines (CRLF or LF) at the start of buf.  *partial is set
 * when the buffer ends in a CR that may begin one more.
 */
static size_t skip_empty_lines(const char *buf, size_t len, bool *partial)
{
	size_t i = 0;

	*partial = false;
	while (i < len) {
		if (buf[i] == '\n') {
			i++;
		} else if (buf[i] == '\r') {
			if (i + 1 == len) {
				*partial = true;
				break;
			}
			if (buf[i + 1] != '\n')
				break;
			i += 2;
		} else {
			break;
		}
	}
	return i;
}

size_t http_head_end(const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len;

	while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		p++;
		if (p < end && p[0] == '\n')
			return (size_t)(p + 1 - buf);
		if (end - p >= 2 && p[0] == '\r' && p[1] == '\n')
			return (size_t)(p + 2 - buf);
	}
	return 0;
}

/* Check "HTTP/1.0" or "HTTP/1.1" at s (n bytes available); -1 no, 0 short, 1 yes. */
static int match_version(const char *s, size_t n, uint8_t *minor)
{
	static const char v[] = "HTTP/1.";
	size_t i;

	for (i = 0; i < 7; i++) {
		if (i == n)
			return 0;
		if (s[i] != v[i])
			return -1;
	}
	if (n == 7)
		return 0;
	if (s[7] != '0' && s[7] != '1')
		return -1;
	*minor = (uint8_t)(s[7] - '0');
	return 1;
}

/* After the start line's last field at s[0..n): CRLF, LF, or not yet known. */
static int match_eol(const char *s, size_t n)
{
	if (n == 0)
		return HTTP_PREFIX_YES;
	if (s[0] == '\n')
		return HTTP_PREFIX_YES;
	if (s[0] == '\r' && (n == 1 || s[1] == '\n'))
		return HTTP_PREFIX_YES;
	return HTTP_PREFIX_NO;
}

int http_request_prefix(const char *buf, size_t len)
{
	size_t i, start, mark;
	bool partial;
	uint8_t minor;
	int v;

	start = skip_empty_lines(buf, len, &partial);
	i = start;
	if (i == len || partial)
		return HTTP_PREFIX_MAYBE;
	while (i < len && http_tchar[(unsigned char)buf[i]] && i - start < TXN_METHOD_MAX)
		i++;
	if (i - start >= TXN_METHOD_MAX)
		return HTTP_PREFIX_NO;
	if (i == len)
		return HTTP_PREFIX_MAYBE;
	if (i == start || buf[i] != ' ')
		return HTTP_PREFIX_NO;
	mark = ++i;
	while (i < len && is_target_char((unsigned char)buf[i]) && i - mark < HTTP_HEAD_MAX)
		i++;
	if (i - mark >= HTTP_HEAD_MAX)
		return HTTP_PREFIX_NO;
	if (i == len)
		return HTTP_PREFIX_MAYBE;
	if (i == mark || buf[i] != ' ')
		return HTTP_PREFIX_NO;
	i++;
	v = match_version(buf + i, len - i, &minor);
	if (v <= 0)
		return v < 0 ? HTTP_PREFIX_NO : HTTP_PREFIX_MAYBE;
	i += 8;
	return match_eol(buf + i, len - i);
}

int http_response_prefix(const char *buf, size_t len)
{
	size_t i;
	bool partial;
	uint8_t minor;
	int v, k;

	i = skip_empty_lines(buf, len, &partial);
	if (partial)
		return HTTP_PREFIX_MAYBE;
	v = match_version(buf + i, len - i, &minor);
	if (v <= 0)
		return v < 0 ? HTTP_PREFIX_NO : HTTP_PREFIX_MAYBE;
	i += 8;
	if (i == len)
		return HTTP_PREFIX_MAYBE;
	if (buf[i++] != ' ')
		return HTTP_PREFIX_NO;
	for (k = 0; k < 3; k++, i++) {
		if (i == len)
			return HTTP_PREFIX_MAYBE;
		if (buf[i] < '0' || buf[i] > '9' || (k == 0 && (buf[i] == '0' || buf[i] > '5')))
			return HTTP_PREFIX_NO;
	}
	if (i == len || buf[i] == ' ')
		return HTTP_PREFIX_YES;
	return match_eol(buf + i, len - i);
}

/* Fields both heads share (framing and connection options). */
struct fields {
	uint64_t content_length;
	bool has_content_length;
	bool has_transfer_encoding;
	bool chunked;
	bool chunked_twice;	/* "chunked" applied more than once (RFC 9112 §6.1: MUST NOT) */
	bool conn_close;
	bool conn_keep_alive;
	bool last_framing;	/* the previous field was Content-Length or Transfer-Encoding */
	unsigned elems;		/* elements of the field being parsed */
};

/* Trim optional whitespace around v[0..*n). */
static const char *trim(const char *v, size_t *n)
{
	while (*n && is_ows((unsigned char)v[0])) {
		v++;
		(*n)--;
	}
	while (*n && is_ows((unsigned char)v[*n - 1]))
		(*n)--;
	return v;
}

/*
 * Call fn for each non-empty element of the comma-separated list v[0..n),
 * trimmed.  Stops and returns false when fn does.
 */
static bool for_each_element(const char *v, size_t n, bool (*fn)(const char *, size_t, void *),
			     void *arg)
{
	size_t i = 0;

	while (i <= n) {
		size_t j = i, m;
		const char *e;

		while (j < n && v[j] != ',')
			j++;
		m = j - i;
		e = trim(v + i, &m);
		if (m && !fn(e, m, arg))
			return false;
		i = j + 1;
	}
	return true;
}

/* One Content-Length list element: strict digits, no overflow, equal to earlier ones. */
static bool cl_element(const char *e, size_t n, void *arg)
{
	struct fields *f = arg;
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned d = (unsigned char)e[i] - '0';

		if (d > 9)
			return false;
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	if (n == 0 || (f->has_content_length && f->content_length != v))
		return false;
	f->elems++;
	f->has_content_length = true;
	f->content_length = v;
	return true;
}

static bool te_element(const char *e, size_t n, void *arg)
{
	struct fields *f = arg;
	size_t m = 0;

	/* Parameters ("chunked;x=y") do not belong on chunked, but do not change the coding. */
	while (m < n && e[m] != ';')
		m++;
	e = trim(e, &m);
	if (f->chunked && eq_nocase(e, m, "chunked"))
		f->chunked_twice = true;
	f->chunked = eq_nocase(e, m, "chunked");
	return true;
}

static bool conn_element(const char *e, size_t n, void *arg)
{
	struct fields *f = arg;

	if (eq_nocase(e, n, "close"))
		f->conn_close = true;
	else if (eq_nocase(e, n, "keep-alive"))
		f->conn_keep_alive = true;
	return true;
}

/* Apply one framing or connection field; false on an invalid value. */
static bool common_field(struct fields *f, const char *name, size_t nlen, const char *v, size_t n)
{
	f->last_framing = false;
	if (eq_nocase(name, nlen, "content-length")) {
		f->last_framing = true;
		f->elems = 0;
		return for_each_element(v, n, cl_element, f) && f->elems > 0;
	}
	if (eq_nocase(name, nlen, "transfer-encoding")) {
		f->last_framing = true;
		f->has_transfer_encoding = true;
		return for_each_element(v, n, te_element, f);
	}
	if (eq_nocase(name, nlen, "connection"))
		return for_each_element(v, n, conn_element, f);
	return true;
}

/*
 * Framing that strict parsers refuse (RFC 9112 §6.1, §6.3, §11.2): both
 * Content-Length and Transfer-Encoding, a transfer coding in an HTTP/1.0
 * message, chunked applied twice.  Any of these lets two parsers disagree
 * on where the message ends, which is how requests are smuggled.
 */
static bool framing_ok(const struct fields *f, uint8_t version_minor)
{
	if (f->has_transfer_encoding && (f->has_content_length || version_minor == 0))
		return false;
	return !f->chunked_twice;
}

/* Per-head callback for a field other than the framing ones. */
typedef void (*field_fn)(void *msg, const char *name, size_t nlen, const char *v, size_t n);

/* What a head's field lines may contain beyond the RFC 9112 §5 grammar. */
enum fold_rule {
	FOLD_REJECT,		/* requests: obs-fold is an error (§5.2 lets a server reject) */
	FOLD_UNLESS_FRAMING,	/* responses: obs-fold is one SP (§5.2), except after framing */
};

/*
 * Parse the field lines of a head: buf[0..len) starts after the start line
 * and ends with the blank line.  Every line ends the way the start line did:
 * with crlf, a bare LF is an error (a strict parser would read the bytes
 * after it as the same field's value, we would read a new field).  Returns
 * false on bad syntax.
 */
static bool parse_fields(const char *buf, size_t len, bool crlf, enum fold_rule fold,
			 struct fields *f, field_fn fn, void *msg)
{
	size_t i = 0;
	bool first = true;

	while (i < len) {
		const char *line = buf + i, *v;
		size_t n, k, vlen, j = i;

		/* One pass to the line's end: a CR only right before its LF, no NUL. */
		j = line_end(buf, j, len);
		if (j == len || buf[j] == '\0')
			return false;
		n = j - i;
		if (buf[j] == '\r') {
			if (!crlf || j + 1 == len || buf[j + 1] != '\n')
				return false;
			i = j + 2;
		} else {
			if (crlf)
				return false;
			i = j + 1;
		}
		if (n == 0)
			return i == len;
		if (is_ows((unsigned char)line[0])) {
			/* obs-fold continues the previous value: ignored unless framing. */
			if (fold == FOLD_REJECT || first || f->last_framing)
				return false;
			continue;
		}
		first = false;
		for (k = 0; k < n && http_tchar[(unsigned char)line[k]]; k++)
			;
		if (k == 0 || k == n || line[k] != ':')
			return false;
		vlen = n - k - 1;
		v = trim(line + k + 1, &vlen);
		if (!common_field(f, line, k, v, vlen))
			return false;
		if (fn)
			fn(msg, line, k, v, vlen);
	}
	return false;
}

struct req_ctx {
	struct http_request *req;
	bool have_host;
	bool have_ua;
	bool have_traceparent;
};

static void request_field(void *msg, const char *name, size_t nlen, const char *v, size_t n)
{
	struct req_ctx *rc = msg;
	struct http_request *req = rc->req;

	if (eq_nocase(name, nlen, "host")) {
		if (!rc->have_host && n < TXN_HOST_MAX)
			copy_field(req->host, sizeof(req->host), v, n);
		rc->have_host = true;
	} else if (eq_nocase(name, nlen, "user-agent")) {
		if (!rc->have_ua)
			copy_field(req->user_agent, sizeof(req->user_agent), v, n);
		rc->have_ua = true;
	} else if (eq_nocase(name, nlen, "traceparent")) {
		/* W3C: more than one traceparent makes it invalid. */
		if (!rc->have_traceparent && n < TXN_TRACEPARENT_MAX)
			copy_field(req->traceparent, sizeof(req->traceparent), v, n);
		else
			req->traceparent[0] = '\0';
		rc->have_traceparent = true;
	} else if (eq_nocase(name, nlen, "expect")) {
		if (eq_nocase(v, n, "100-continue"))
			req->expect_continue = true;
	}
}

/*
 * Common outer layer of both head parsers: skip leading empty lines, find
 * the end of the head, enforce HTTP_HEAD_MAX.  Returns the head end (> 0)
 * with *start set, or HTTP_NEED_MORE / HTTP_ERROR.
 */
static int locate_head(const char *buf, size_t len, size_t *start,
		       int (*prefix)(const char *, size_t))
{
	size_t s, end;
	bool partial;

	s = skip_empty_lines(buf, len, &partial);
	if (s > HTTP_HEAD_MAX)
		return HTTP_ERROR;
	end = http_head_end(buf + s, len - s);
	if (end) {
		if (s + end > HTTP_HEAD_MAX)
			return HTTP_ERROR;
		*start = s;
		return (int)(s + end);
	}
	if (len >= HTTP_HEAD_MAX)
		return HTTP_ERROR;
	if (prefix(buf + s, len - s) == HTTP_PREFIX_NO)
		return HTTP_ERROR;
	return HTTP_NEED_MORE;
}

int http_parse_request(const char *buf, size_t len, struct http_request *req)
{
	struct req_ctx rc = { .req = req };
	struct fields f = { 0 };
	size_t start, i, mark, eol;
	const char *nl;
	bool crlf;
	int end;

	end = locate_head(buf, len, &start, http_request_prefix);
	if (end <= 0)
		return end;
	/*
	 * Straight into *req, which is left unspecified on error: the strings
	 * (3 KiB) are NUL-terminated as they are filled, so only the fixed
	 * fields and the first byte of each string need clearing.
	 */
	memset(&req->content_length, 0,
	       sizeof(*req) - offsetof(struct http_request, content_length));
	req->method[0] = req->target[0] = req->host[0] = req->user_agent[0] = '\0';
	req->traceparent[0] = '\0';
	nl = memchr(buf + start, '\n', (size_t)end - start);
	if (!nl)
		return HTTP_ERROR;
	eol = (size_t)(nl - buf);
	crlf = eol > start && buf[eol - 1] == '\r';
	if (crlf)
		eol--;

	/* method SP request-target SP HTTP-version */
	i = start;
	while (i < eol && http_tchar[(unsigned char)buf[i]])
		i++;
	if (i == start || i - start >= TXN_METHOD_MAX || i == eol || buf[i] != ' ')
		return HTTP_ERROR;
	memcpy(req->method, buf + start, i - start);
	req->method[i - start] = '\0';
	mark = ++i;
	while (i < eol && is_target_char((unsigned char)buf[i]))
		i++;
	if (i == mark || i == eol || buf[i] != ' ')
		return HTTP_ERROR;
	req->target_truncated = copy_field(req->target, sizeof(req->target), buf + mark, i - mark);
	i++;
	if (eol - i != 8 || match_version(buf + i, 8, &req->version_minor) != 1)
		return HTTP_ERROR;

	if (!parse_fields(nl + 1, (size_t)(buf + end - (nl + 1)), crlf, FOLD_REJECT, &f,
			  request_field, &rc) ||
	    !framing_ok(&f, req->version_minor))
		return HTTP_ERROR;
	req->content_length = f.content_length;
	req->has_content_length = f.has_content_length;
	req->has_transfer_encoding = f.has_transfer_encoding;
	req->chunked = f.chunked;
	req->conn_close = f.conn_close;
	req->conn_keep_alive = f.conn_keep_alive;
	return end;
}

int http_parse_response(const char *buf, size_t len, struct http_response *resp)
{
	struct http_response r = { 0 };
	struct fields f = { 0 };
	size_t start, i, eol, k;
	const char *nl;
	bool crlf;
	int end;

	end = locate_head(buf, len, &start, http_response_prefix);
	if (end <= 0)
		return end;
	nl = memchr(buf + start, '\n', (size_t)end - start);
	if (!nl)
		return HTTP_ERROR;
	eol = (size_t)(nl - buf);
	crlf = eol > start && buf[eol - 1] == '\r';
	if (crlf)
		eol--;

	/* HTTP-version SP 3DIGIT [SP reason-phrase], status 100..599 (RFC 9110 §15) */
	i = start;
	if (eol - i < 12 || match_version(buf + i, 8, &r.version_minor) != 1 || buf[i + 8] != ' ')
		return HTTP_ERROR;
	i += 9;
	for (k = 0; k < 3; k++) {
		unsigned d = (unsigned char)buf[i + k] - '0';

		if (d > 9)
			return HTTP_ERROR;
		r.status = r.status * 10 + (int)d;
	}
	if (r.status < 100 || r.status > 599)
		return HTTP_ERROR;
	i += 3;
	if (i < eol && buf[i] != ' ')
		return HTTP_ERROR;
	for (; i < eol; i++) {
		unsigned char c = (unsigned char)buf[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return HTTP_ERROR;
	}

	if (!parse_fields(nl + 1, (size_t)(buf + end - (nl + 1)), crlf, FOLD_UNLESS_FRAMING, &f,
			  NULL, NULL) ||
	    !framing_ok(&f, r.version_minor))
		return HTTP_ERROR;
	r.content_length = f.content_length;
	r.has_content_length = f.has_content_length;
	r.has_transfer_encoding = f.has_transfer_encoding;
	r.chunked = f.chunked;
	r.conn_close = f.conn_close;
	r.conn_keep_alive = f.conn_keep_alive;
	*resp = r;
	return end;
}

enum http_body http_request_body(const struct http_request *req, uint64_t *len)
{
	*len = 0;
	if (req->has_transfer_encoding)
		return req->chunked ? HTTP_BODY_CHUNKED : HTTP_BODY_INVALID;
	if (req->has_content_length && req->content_length > 0) {
		*len = req->content_length;
		return HTTP_BODY_LENGTH;
	}
	return HTTP_BODY_NONE;
}

enum http_body http_response_body(const struct http_response *resp, const char *req_method,
				  uint64_t *len)
{
	int st = resp->status;

	*len = 0;
	if (st == 101)
		return HTTP_BODY_TUNNEL;
	if (req_method && strcmp(req_method, "CONNECT") == 0 && st >= 200 && st < 300)
		return HTTP_BODY_TUNNEL;
	if ((req_method && strcmp(req_method, "HEAD") == 0) || st < 200 || st == 204 ||
	    st == 304)
		return HTTP_BODY_NONE;
	if (resp->has_transfer_encoding)
		return resp->chunked ? HTTP_BODY_CHUNKED : HTTP_BODY_CLOSE;
	if (resp->has_content_length) {
		*len = resp->content_length;
		return resp->content_length ? HTTP_BODY_LENGTH : HTTP_BODY_NONE;
	}
	return HTTP_BODY_CLOSE;
}

/* Chunked decoder states. */
enum {
	CH_SIZE = 0,		/* first hex digit of a chunk size */
	CH_SIZE_MORE,		/* more hex digits, BWS, ';' or end of line */
	CH_SIZE_BWS,		/* blanks after the size: ';' or end of line */
	CH_EXT,			/* chunk extension, up to the end of line */
	CH_SIZE_LF,		/* CR seen at the end of the size line */
	CH_DATA,		/* chunk data */
	CH_DATA_END,		/* CRLF after chunk data */
	CH_DATA_LF,		/* CR after data seen, LF expected */
	CH_TRAILER,		/* start of a trailer line, or the final blank line */
	CH_TRAILER_LINE,	/* inside a trailer field line */
	CH_TRAILER_LINE_LF,	/* CR inside a trailer line seen, LF expected */
	CH_END_LF,		/* CR of the final blank line seen, LF expected */
	CH_DONE,
	CH_ERROR,
};

#define CHUNK_LINE_MAX 4096		/* size line with extensions */
#define CHUNK_DIGITS_MAX 15		/* < 2^60 bytes */

void http_chunked_init(struct http_chunked *c)
{
	memset(c, 0, sizeof(*c));
	c->state = CH_SIZE;
}

bool http_chunked_done(const struct http_chunked *c)
{
	return c->state == CH_DONE;
}

/* The size line has ended: go to data or to the trailer section. */
static void chunk_size_done(struct http_chunked *c)
{
	c->state = c->remaining ? CH_DATA : CH_TRAILER;
	c->line_len = 0;
}

int http_chunked_feed(struct http_chunked *c, const char *buf, size_t len, size_t *used)
{
	size_t i = 0;

	while (i < len) {
		unsigned char ch = (unsigned char)buf[i];
		int h;

		switch (c->state) {
		case CH_SIZE:
			h = hex_value(ch);
			if (h < 0)
				goto error;
			c->remaining = (uint64_t)h;
			c->ndigits = h ? 1 : 0;
			c->line_len = 1;
			c->state = CH_SIZE_MORE;
			i++;
			continue;
		case CH_DATA: {
			uint64_t k = len - i;

			if (k > c->remaining)
				k = c->remaining;
			c->remaining -= k;
			c->body_len += k;
			i += (size_t)k;
			if (c->remaining == 0)
				c->state = CH_DATA_END;
			continue;
		}
		case CH_DONE:
			*used = i;
			return HTTP_CHUNKED_DONE;
		case CH_ERROR:
			goto error;
		default:
			break;
		}

		/* Every other state looks at one byte of a line. */
		i++;
		if (c->state == CH_SIZE_MORE || c->state == CH_SIZE_BWS || c->state == CH_EXT) {
			if (++c->line_len > CHUNK_LINE_MAX)
				goto error_prev;
		}
		switch (c->state) {
		case CH_SIZE_MORE:
			h = hex_value(ch);
			if (h >= 0) {
				/* Leading zeros are free (the line length bounds them). */
				if (c->remaining && c->ndigits >= CHUNK_DIGITS_MAX)
					goto error_prev;
				if (c->remaining || h)
					c->ndigits++;
				c->remaining = c->remaining * 16 + (uint64_t)h;
			} else if (is_ows(ch)) {
				c->state = CH_SIZE_BWS;
			} else if (ch == ';') {
				c->state = CH_EXT;
			} else if (ch == '\r') {
				c->state = CH_SIZE_LF;
			} else if (ch == '\n') {
				chunk_size_done(c);
			} else {
				goto error_prev;
			}
			break;
		case CH_SIZE_BWS:
			if (ch == ';')
				c->state = CH_EXT;
			else if (ch == '\r')
				c->state = CH_SIZE_LF;
			else if (ch == '\n')
				chunk_size_done(c);
			else if (!is_ows(ch))
				goto error_prev;
			break;
		case CH_EXT:
			if (ch == '\r')
				c->state = CH_SIZE_LF;
			else if (ch == '\n')
				chunk_size_done(c);
			else if (ch == '\0')
				goto error_prev;
			break;
		case CH_SIZE_LF:
			if (ch != '\n')
				goto error_prev;
			chunk_size_done(c);
			break;
		case CH_DATA_END:
			if (ch == '\r')
				c->state = CH_DATA_LF;
			else if (ch == '\n')
				c->state = CH_SIZE;
			else
				goto error_prev;
			break;
		case CH_DATA_LF:
			if (ch != '\n')
				goto error_prev;
			c->state = CH_SIZE;
			break;
		case CH_TRAILER:
			if (ch == '\r') {
				c->state = CH_END_LF;
			} else if (ch == '\n') {
				c->state = CH_DONE;
			} else if (ch == '\0' || ++c->trailer_len > HTTP_HEAD_MAX) {
				goto error_prev;
			} else {
				c->state = CH_TRAILER_LINE;
			}
			break;
		case CH_END_LF:
			if (ch != '\n')
				goto error_prev;
			c->state = CH_DONE;
			break;
		case CH_TRAILER_LINE:
			if (++c->trailer_len > HTTP_HEAD_MAX)
				goto error_prev;
			if (ch == '\r')
				c->state = CH_TRAILER_LINE_LF;
			else if (ch == '\n')
				c->state = CH_TRAILER;
			else if (ch == '\0')
				goto error_prev;
			break;
		case CH_TRAILER_LINE_LF:
			if (ch != '\n')
				goto error_prev;
			c->state = CH_TRAILER;
			break;
		default:
			goto error_prev;
		}
		if (c->state == CH_DONE) {
			*used = i;
			return HTTP_CHUNKED_DONE;
		}
	}
	*used = i;
	return c->state == CH_DONE ? HTTP_CHUNKED_DONE : HTTP_CHUNKED_MORE;

error_prev:
	i--;
error:
	c->state = CH_ERROR;
	*used = i;
	return HTTP_CHUNKED_ERROR;
}

uint64_t http_chunked_skip(struct http_chunked *c, uint64_t n)
{
	uint64_t k;

	if (c->state != CH_DATA)
		return 0;
	k = n < c->remaining ? n : c->remaining;
	c->remaining -= k;
	c->body_len += k;
	if (c->remaining == 0)
		c->state = CH_DATA_END;
	return k;
}
