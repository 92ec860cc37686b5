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

/*
 * s as a YAML scalar that loads back to s: plain when safe, else double
 * quoted.  Values are ${VAR}-expanded on load, so dollars doubles their $;
 * keys are not.
 */
static void print_string(const char *s, bool dollars, FILE *f)
{
	size_t len = strlen(s);
	bool plain = len && !strchr("-?:,[]{}#&*!|>'\"%@`~ ", *s) && s[len - 1] != ' ' &&
		     s[len - 1] != ':' && !strstr(s, ": ") && !strstr(s, " #") &&
		     strcmp(s, "null") && strcmp(s, "Null") && strcmp(s, "NULL");

	for (const char *p = s; *p && plain; p++)
		plain = (unsigned char)*p >= 0x20 && *p != 0x7f;
	if (!plain)
		fputc('"', f);
	for (const char *p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '$' && dollars)
			fputs("$$", f);
		else if (!plain && (c == '"' || c == '\\'))
			fprintf(f, "\\%c", c);
		else if (!plain && (c < 0x20 || c == 0x7f))
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
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

void config_print(const struct config *cfg, FILE *f)
{
	for (size_t i = 0; i < CFG_NOPTIONS; i++) {
		if (is_block(&cfg_options[i], cfg)) {
			fprintf(f, "%s:\n", cfg_options[i].name);
			print_block(&cfg_options[i], cfg, f);
			continue;
		}
		fprintf(f, "%s: ", cfg_options[i].name);
		print_value(&cfg_options[i], cfg, f);
		fputc('\n', f);
	}
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

