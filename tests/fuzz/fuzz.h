/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz.h - what every libFuzzer target of tests/fuzz/ shares: the entry
 * point's prototype and CHECK(), which aborts (a finding) when an invariant
 * of the code under test does not hold.
 */
#ifndef SPANBPF_FUZZ_H
#define SPANBPF_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                      \
	do {                                                                             \
		if (!(cond)) {                                                           \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, \
				#cond);                                                  \
			abort();                                                         \
		}                                                                        \
	} while (0)

/* A NUL-terminated copy of data (the caller frees it). */
static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	for (size_t i = 0; i < size; i++)
		s[i] = (char)data[i];
	s[size] = '\0';
	return s;
}

struct config;

/* What print (config_print or config_print_sources) writes for cfg, in a new string. */
static inline char *fuzz_print_config(void (*print)(const struct config *, FILE *),
				      const struct config *cfg, size_t *len)
{
	char *text = NULL;
	FILE *f = open_memstream(&text, len);

	if (!f)
		abort();
	print(cfg, f);
	fclose(f);
	return text;
}

#endif /* SPANBPF_FUZZ_H */
