// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_config.c - the YAML config loader (config_load_string()) on any
 * text, and --print-config's round trip: a config that loads is printed with
 * its sources (config_print_sources()), the printout loads back without a
 * problem, and the settings are the same (config_print() of both gives the
 * same text).
 */
#include <string.h>

#include "config.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config a, b;
	static struct config_errors errs;
	char *t0, *t1, *t2;
	size_t l0, l1, l2;
	int n;

	config_defaults(&a);
	n = config_load_string(&a, (const char *)data, size, "fuzz.yaml", &errs);
	CHECK(n >= 0 && (n == 0) == (errs.count == 0));
	for (size_t i = 0; i < errs.count && i < CONFIG_MAX_ERRORS; i++)
		CHECK(memchr(errs.msg[i], '\0', CONFIG_ERROR_LEN) != NULL);
	if (n)
		return 0;
	t0 = fuzz_print_config(config_print_sources, &a, &l0);
	config_defaults(&b);
	n = config_load_string(&b, t0, l0, "printed.yaml", &errs);
	if (n) {
		fprintf(stderr, "printed config does not load back:\n%s\n", t0);
		config_errors_print(&errs, stderr);
	}
	CHECK(n == 0);
	t1 = fuzz_print_config(config_print, &a, &l1);
	t2 = fuzz_print_config(config_print, &b, &l2);
	if (l1 != l2 || memcmp(t1, t2, l1) != 0)
		fprintf(stderr, "first print:\n%s\nsecond print:\n%s\n", t1, t2);
	CHECK(l1 == l2 && memcmp(t1, t2, l1) == 0);
	free(t0);
	free(t1);
	free(t2);
	return 0;
}
