// SPDX-License-Identifier: Apache-2.0
/*
 * config_print.c - the printers: the effective config as YAML that loads back, and
 * the reference of every key.
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

/* ---- printing ------------------------------------------------------------ */

/* The code point of the n-byte UTF-8 character at s (n from utf8_char_len()). */
static uint32_t code_point(const unsigned char *s, size_t n)
{
	static const unsigned char lead_mask[] = { 0, 0x7f, 0x1f, 0x0f, 0x07 };
	uint32_t cp = s[0] & lead_mask[n];

	for (size_t i = 1; i < n; i++)
		cp = cp << 6 | (s[i] & 0x3f);
	return cp;
}

/*
 * Characters YAML cannot hold as they are: C0 and C1 controls (U+0085 is a
 * line break to YAML), DEL, U+2028/U+2029 (line and paragraph separators),
 * the BOM and the non-characters U+FFFE/U+FFFF (outside YAML's printable
 * set).  Escaped in a double-quoted scalar.
 */
static bool needs_escape(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 ||
	       cp == 0xfeff || cp == 0xfffe || cp == 0xffff;
}

/* Can s (n bytes) be written as a plain scalar that reads back as the same text? */
static bool plain_ok(const char *s, size_t n)
{
	if (!n || strchr("-?:,[]{}#&*!|>'\"%@`~ ", *s) || s[n - 1] == ' ' || s[n - 1] == ':' ||
	    strstr(s, ": ") || strstr(s, " #") || !strcmp(s, "null") || !strcmp(s, "Null") ||
	    !strcmp(s, "NULL"))
		return false;
	for (size_t i = 0; i < n;) {
		size_t k = utf8_char_len(s + i, n - i);

		if (!k || needs_escape(code_point((const unsigned char *)s + i, k)))
			return false;
		i += k;
	}
	return true;
}

/*
 * s as a YAML scalar that loads back to s: plain when safe, else double
 * quoted with escapes (\xHH, \uHHHH) for what YAML cannot hold as it is.
 * Values are ${VAR}-expanded on load, so dollars doubles their $; keys are
 * not.  Settings are valid UTF-8 (the loaders see to it); a stray byte that
 * is not would be written as \xHH, the character U+00HH.
 */
static void print_string(const char *s, bool dollars, FILE *f)
{
	size_t n = strlen(s);
	bool plain = plain_ok(s, n);

	if (!plain)
		fputc('"', f);
	for (size_t i = 0; i < n;) {
		const unsigned char *p = (const unsigned char *)s + i;
		size_t k = utf8_char_len(s + i, n - i);
		uint32_t cp = k ? code_point(p, k) : p[0];

		if (!k)
			k = 1;
		if (cp == '$' && dollars)
			fputs("$$", f);
		else if (!plain && (cp == '"' || cp == '\\'))
			fprintf(f, "\\%c", (char)cp);
		else if (!plain && (needs_escape(cp) || (k == 1 && cp >= 0x80)) && cp <= 0xff)
			fprintf(f, "\\x%02x", (unsigned)cp);
		else if (!plain && needs_escape(cp))
			fprintf(f, "\\u%04x", (unsigned)cp);
		else
			fwrite(p, 1, k, f);
		i += k;
	}
	if (!plain)
		fputc('"', f);
}

/* A value on the key's line: scalars, ports, and lists and maps when empty. */
static void print_value(const struct option *o, const struct config *cfg, FILE *f)
{
	char buf[32];
	uint64_t v = cfg_load_num(o, cfg);

	switch (o->type) {
	case OPT_URL:
	case OPT_STRING:
		print_string(cfg_cfield(o, cfg), true, f);
		break;
	case OPT_ENUM:
		if (v < o->nnames && o->names[v])
			fputs(o->names[v], f);
		else
			fprintf(f, "%llu", (unsigned long long)v);
		break;
	case OPT_UINT:
		fprintf(f, "%llu", (unsigned long long)v);
		break;
	case OPT_DURATION:
		fputs(config_format_duration(v, buf, sizeof(buf)), f);
		break;
	case OPT_BOOL:
		fputs(v ? "true" : "false", f);
		break;
	case OPT_DOUBLE:
		fputs(cfg_format_double(*(const double *)cfg_cfield(o, cfg), buf, sizeof(buf)), f);
		break;
	case OPT_PORTS: {
		const uint16_t *ports = cfg_cfield(o, cfg);
		size_t n = cfg_ccount(o, cfg);

		fputc('[', f);
		for (size_t i = 0; i < n; i++)
			fprintf(f, "%s%u", i ? ", " : "", ports[i]);
		fputc(']', f);
		break;
	}
	case OPT_GLOBS:
	case OPT_SERVICES:
		fputs("[]", f);
		break;
	case OPT_MAP:
		fputs("{}", f);
		break;
	}
}

/* A non-empty list or map, one entry a line, under its key. */
static void print_block(const struct option *o, const struct config *cfg, FILE *f)
{
	size_t n = cfg_ccount(o, cfg);

	for (size_t i = 0; i < n; i++) {
		switch (o->type) {
		case OPT_GLOBS:
			fputs("  - ", f);
			print_string(((const char(*)[CONFIG_GLOB_MAX])cfg_cfield(o, cfg))[i], true,
				     f);
			break;
		case OPT_MAP: {
			const struct config_kv *kv =
				(const struct config_kv *)cfg_cfield(o, cfg) + i;

			fputs("  ", f);
			print_string(kv->name, false, f);
			fputs(": ", f);
			print_string(kv->value, true, f);
			break;
		}
		case OPT_SERVICES: {
			const struct config_service *svc =
				(const struct config_service *)cfg_cfield(o, cfg) + i;

			fputs("  - name: ", f);
			print_string(svc->name, true, f);
			if (*svc->executable) {
				fputs("\n    executable: ", f);
				print_string(svc->executable, true, f);
			}
			if (svc->port)
				fprintf(f, "\n    port: %u", svc->port);
			break;
		}
		default:
			break;
		}
		fputc('\n', f);
	}
}

static bool is_block(const struct option *o, const struct config *cfg)
{
	return (o->type == OPT_GLOBS || o->type == OPT_MAP || o->type == OPT_SERVICES) &&
	       cfg_ccount(o, cfg);
}

/*
 * text in a YAML comment: valid UTF-8, nothing YAML reads as a line break or
 * refuses (each such character, or stray byte, becomes '?').
 */
static void print_comment_text(const char *text, FILE *f)
{
	size_t n = strlen(text);

	for (size_t i = 0; i < n;) {
		size_t k = utf8_char_len(text + i, n - i);

		if (!k || needs_escape(code_point((const unsigned char *)text + i, k))) {
			fputc('?', f);
			i += k ? k : 1;
		} else {
			fwrite(text + i, 1, k, f);
			i += k;
		}
	}
}

/* "  # where the value came from" for option i. */
static void print_source(const struct config *cfg, size_t i, FILE *f)
{
	const struct config_source *src = &cfg->sources[i];
	const char *var = config_env_name(src->env);

	fputs("  # ", f);
	if (!src->line && !var) {
		fputs("default", f);
		return;
	}
	if (src->line) {
		print_comment_text(cfg->source_file, f);
		fprintf(f, ":%u", src->line);
	}
	if (var)
		fprintf(f, "%senv %s", src->line ? ", " : "", var);
}

static void print_config(const struct config *cfg, bool sources, FILE *f)
{
	for (size_t i = 0; i < CFG_NOPTIONS; i++) {
		const struct option *o = &cfg_options[i];
		bool block = is_block(o, cfg);

		fprintf(f, "%s:", o->name);
		if (!block) {
			fputc(' ', f);
			print_value(o, cfg, f);
		}
		if (sources)
			print_source(cfg, i, f);
		fputc('\n', f);
		if (block)
			print_block(o, cfg, f);
	}
}

void config_print(const struct config *cfg, FILE *f)
{
	print_config(cfg, false, f);
}

void config_print_sources(const struct config *cfg, FILE *f)
{
	fputs("# spanbpf: the effective configuration (defaults, then the file, then the OTEL_*\n"
	      "# variables), each value's source in a comment.  Loads back as a config file.\n", f);
	print_config(cfg, true, f);
}

void config_print_reference(FILE *f)
{
	static const char *const kinds[] = {
		[ENV_VALUE] = "",
		[ENV_BASE_URL] = " (a base URL: /v1/traces is appended)",
		[ENV_MILLIS] = " (integer milliseconds)",
		[ENV_PAIRS] = " (merged: k1=v1,k2=v2, percent-decoded)",
	};
	struct config *def = malloc(sizeof(*def));
	char t[256];

	if (!def)
		return;
	config_defaults(def);
	for (size_t i = 0; i < CFG_NOPTIONS; i++) {
		cfg_type_text(&cfg_options[i], t, sizeof(t));
		fprintf(f, "%s: %s; default ", cfg_options[i].name, t);
		print_value(&cfg_options[i], def, f);
		fprintf(f, "\n    %s\n", cfg_options[i].doc);
	}
	fprintf(f, "Environment variables, over the file (a TRACES one wins over the "
		   "other):\n");
	for (size_t i = 0; i < CFG_NENV_OVERRIDES; i++)
		fprintf(f, "  %s: %s%s\n", cfg_env_overrides[i].var, cfg_env_overrides[i].key,
			kinds[cfg_env_overrides[i].kind]);
	free(def);
}

