// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_url.c - the builder's URL splitting (http_target_split(),
 * http_authority_split()) on any target.  Checks: every part lies inside
 * the target, the path holds no '?' or '#', the query no '#', the form
 * matches the first bytes, and a host found is non-empty and inside the
 * authority.
 */
#include <string.h>

#include "builder.h"
#include "fuzz.h"

static bool inside(const char *p, size_t n, const char *s, size_t len)
{
	return p >= s && n <= len && p + n <= s + len;
}

static void check_authority(const char *a, size_t n)
{
	const char *host = NULL;
	size_t hlen = 0;
	int port = 0;

	if (!http_authority_split(a, n, &host, &hlen, &port))
		return;
	CHECK(hlen > 0 && inside(host, hlen, a, n));
	CHECK(port == -1 || port == -2 || (port >= 1 && port <= 65535));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size ? size : 1);
	struct http_target t;

	if (!s)
		return 0;
	memcpy(s, data, size);
	http_target_split(s, size, &t);
	switch (t.form) {
	case TF_NONE:
		CHECK(size == 0);
		break;
	case TF_ORIGIN:
		CHECK(s[0] == '/');
		break;
	case TF_ASTERISK:
		CHECK(size == 1 && s[0] == '*');
		break;
	case TF_ABSOLUTE:
		CHECK(inside(t.scheme, t.scheme_len, s, size) && t.scheme_len > 0);
		CHECK(inside(t.authority, t.authority_len, s, size));
		CHECK(!memchr(t.authority, '@', t.authority_len));
		check_authority(t.authority, t.authority_len);
		break;
	case TF_OTHER:
		CHECK(size && s[0] != '/' && t.authority == s && t.authority_len == size);
		check_authority(t.authority, t.authority_len);
		break;
	default:
		CHECK(!"unknown form");
	}
	if (t.form != TF_NONE && !(t.form == TF_ABSOLUTE && t.path_len == 1 && t.path[0] == '/' &&
				   !inside(t.path, 1, s, size))) {
		CHECK(inside(t.path, t.path_len, s, size));
		if (t.form != TF_ASTERISK)
			CHECK(!memchr(t.path, '?', t.path_len) && !memchr(t.path, '#', t.path_len));
	}
	if (t.query) {
		CHECK(inside(t.query, t.query_len, s, size) && t.query[-1] == '?');
		CHECK(!memchr(t.query, '#', t.query_len));
	}
	free(s);
	return 0;
}
