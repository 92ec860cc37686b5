// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_env.c - ${VAR} expansion (config_expand()) and the OTEL_* overrides
 * (config_apply_env()) with an injected environment made of fuzz bytes.
 * Checks: expansion stays within its buffer and gives valid UTF-8 from
 * valid input; an accepted environment leaves a config whose printout
 * loads back to the same settings; a refused one leaves the config as it
 * was.
 *
 * Input: NUL-separated fields: the text to expand, then values for the
 * variables below in order (missing ones unset).
 */
#include <string.h>

#include "config.h"
#include "fuzz.h"
#include "utf8.h"

static const char *const names[] = {
	"A", "B", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
	"OTEL_EXPORTER_OTLP_COMPRESSION", "OTEL_EXPORTER_OTLP_TIMEOUT",
	"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
	"OTEL_RESOURCE_ATTRIBUTES",
};
#define NNAMES (sizeof(names) / sizeof(names[0]))
static const char *values[NNAMES];

static const char *fake_getenv(const char *name)
{
	for (size_t i = 0; i < NNAMES; i++)
		if (!strcmp(name, names[i]))
			return values[i];
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config cfg, before, back;
	static struct config_errors errs;
	char *buf = fuzz_strndup(data, size), *p = buf, *end = buf + size, *text;
	char out[256], why[256], *t1, *t2;
	size_t l1, l2;
	int n;

	text = p;
	p += strlen(p) + 1;
	for (size_t i = 0; i < NNAMES; i++) {
		values[i] = p < end ? p : NULL;
		if (p < end)
			p += strlen(p) + 1;
	}
	if (config_expand(text, fake_getenv, out, sizeof(out), why, sizeof(why))) {
		CHECK(strlen(out) < sizeof(out));
		if (utf8_valid(text, strlen(text)))
			CHECK(utf8_valid(out, strlen(out)));
	} else {
		CHECK(memchr(why, '\0', sizeof(why)) && why[0]);
	}

	config_defaults(&cfg);
	before = cfg;
	n = config_apply_env(&cfg, fake_getenv, &errs);
	if (n) {
		CHECK(errs.count == (size_t)n);
		CHECK(memcmp(&cfg, &before, sizeof(cfg)) == 0);
		free(buf);
		return 0;
	}
	t1 = fuzz_print_config(config_print, &cfg, &l1);
	config_defaults(&back);
	n = config_load_string(&back, t1, l1, "printed.yaml", &errs);
	if (n) {
		fprintf(stderr, "printed config does not load back:\n%s\n", t1);
		config_errors_print(&errs, stderr);
	}
	CHECK(n == 0);
	t2 = fuzz_print_config(config_print, &back, &l2);
	CHECK(l1 == l2 && memcmp(t1, t2, l1) == 0);
	free(t1);
	free(t2);
	free(buf);
	return 0;
}
