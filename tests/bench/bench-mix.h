/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bench-mix.h — the hash the benchmark's mixed policy draws its values from (bfed-bench and
 * engine-mem build the same filters from it). */
#pragma once

#include <stdint.h>

static inline uint32_t mix32(uint32_t x) {
        x ^= x >> 16;
        x *= 0x7feb352dU;
        x ^= x >> 15;
        x *= 0x846ca68bU;
        x ^= x >> 16;
        return x;
}

/* The three hashes of filter @i: its values come from them. */
static inline void mix_hashes(unsigned i, uint32_t *h, uint32_t *h2, uint32_t *h3) {
        *h = mix32(i);
        *h2 = mix32(i ^ 0x9e3779b9U);
        *h3 = mix32(*h ^ *h2);
}

/* Filter @i's explicit weight in the mixed policy: 59 bits of its hashes, never 0. */
static inline uint64_t mix_weight(uint32_t h, uint32_t h3) {
        return 1 + ((((uint64_t) h3 << 32) | h) & ((UINT64_C(1) << 59) - 1));
}
