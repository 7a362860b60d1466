/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pool.h — the memory of the engine's filters (object_alloc()): blocks of their own, one slot size
 * per block, instead of the heap, where they lay between the short-lived allocations of every call
 * and the holes those left behind (pool.c). One pool for the process, which is single-threaded.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* @size zeroed bytes, aligned to 8 (what a filter needs); NULL when there is no memory. */
void *pool_alloc0(size_t size);
/* Gives back what pool_alloc0(@size) gave (NULL: nothing). */
void pool_free(void *p, size_t size);

/* What the pool holds: its blocks, in bytes (for the measurements and the tests), and whether it is
 * in use at all (not under AddressSanitizer, which then checks every filter as a heap object). */
size_t pool_bytes(void);
bool pool_enabled(void);
/* Of pool_bytes(), the empty blocks kept; and how many blocks the pool has asked the system
 * for, ever (for the tests). */
size_t pool_spare_bytes(void);
size_t pool_maps(void);
/* How many empty blocks it keeps at most, for the next ones any size needs. */
#define POOL_SPARES 8u
