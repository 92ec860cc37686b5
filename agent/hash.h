/* SPDX-License-Identifier: Apache-2.0 */
/* hash.h - the 64-bit mixer the agent's hash tables share (murmur3's finaliser). */
#ifndef SPANBPF_HASH_H
#define SPANBPF_HASH_H

#include <stdint.h>

static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

#endif /* SPANBPF_HASH_H */
