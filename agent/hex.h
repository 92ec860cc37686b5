/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hex.h - the one hexadecimal digit decoder, for every parser of traffic,
 * /proc and the environment.
 */
#ifndef SPANBPF_HEX_H
#define SPANBPF_HEX_H

/* The value of hex digit c (either case), or -1. */
static inline int hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The same for a lowercase-only grammar (W3C trace context): -1 for 'A'..'F' too. */
static inline int hex_value_lower(int c)
{
	return c >= 'A' && c <= 'F' ? -1 : hex_value(c);
}

#endif /* SPANBPF_HEX_H */
