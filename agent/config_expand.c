// SPDX-License-Identifier: Apache-2.0
/*
 * config_expand.c - ${VAR}, ${VAR:-default} and $$ in config values (see config.h).
 */
#include "config_internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- ${VAR} expansion ---------------------------------------------------- */

static bool is_name_start(char c)
{
	return isalpha((unsigned char)c) || c == '_';
}

static bool is_name_char(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

static bool put(char *out, size_t size, size_t *o, const char *s, size_t len)
{
	if (*o + len >= size)
		return false;
	memcpy(out + *o, s, len);
	*o += len;
	out[*o] = '\0';
	return true;
}

bool config_expand(const char *s, const char *(*getenv_fn)(const char *name), char *out,
		   size_t size, char *why, size_t n)
{
	size_t o = 0;

	out[0] = '\0';
	while (*s) {
		const char *name, *end, *val, *def = NULL;
		char var[128];
		size_t len, def_len = 0;

		if (s[0] != '$' || (s[1] != '$' && s[1] != '{')) {
			len = strcspn(s + 1, "$") + 1;
			if (!put(out, size, &o, s, len))
				goto too_long;
			s += len;
			continue;
		}
		if (s[1] == '$') {
			if (!put(out, size, &o, "$", 1))
				goto too_long;
			s += 2;
			continue;
		}
		name = s + 2;
		for (end = name; is_name_char(*end); end++)
			;
		if (end[0] == ':' && end[1] == '-') {
			def = end + 2;
			def_len = strcspn(def, "}");
			if (!def[def_len]) {
				snprintf(why, n, "unterminated ${ (no closing })");
				return false;
			}
		} else if (*end != '}') {
			snprintf(why, n, "%s", *end ? "bad variable reference: use ${NAME} or "
						      "${NAME:-default}"
						    : "unterminated ${ (no closing })");
			return false;
		}
		len = (size_t)(end - name);
		if (!len || !is_name_start(*name) || len >= sizeof(var)) {
			snprintf(why, n, "bad variable name in ${...}: use letters, digits and _");
			return false;
		}
		memcpy(var, name, len);
		var[len] = '\0';
		val = getenv_fn ? getenv_fn(var) : getenv(var);
		if (def && (!val || !*val)) {
			if (!put(out, size, &o, def, def_len))
				goto too_long;
		} else if (!val) {
			snprintf(why, n, "environment variable %s is not set "
					 "(write ${%s:-default} to make it optional)", var, var);
			return false;
		} else if (!utf8_valid(val, strlen(val))) {
			snprintf(why, n, "environment variable %s is not valid UTF-8", var);
			return false;
		} else if (!put(out, size, &o, val, strlen(val))) {
			goto too_long;
		}
		s = def ? def + def_len + 1 : end + 1;
	}
	return true;
too_long:
	snprintf(why, n, "value is longer than %zu bytes", size - 1);
	return false;
}

