/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pool.c — the filters' memory (issue 12, P5). In the heap, a filter's allocation came between the
 * short-lived ones of the call that added it (its D-Bus message, its strings, the netlink batch);
 * when those were freed they left holes too small for the next filter, and at 100,000 filters the
 * daemon held about 80 bytes a filter of them, besides the heap's own 8 bytes a chunk and its
 * rounding to 16. Here filters live in blocks of their own: 64 KiB, aligned to their size (so a
 * slot's block is its address rounded down), each cut into slots of one size, a multiple of 8 bytes.
 * A block gives out the slots it has never given (in order) or those given back (a list through the
 * slots themselves); each slot size has a list of its blocks with a slot free. An emptied block goes
 * back to the system, but POOL_SPARES of them, kept for the next blocks any size needs: a call that
 * adds a filter of a few sizes and one that deletes it again (an MM policy and its 14 exemption
 * filters) would otherwise map and unmap a block of each size every time.
 *
 * Sizes above POOL_SIZE_MAX (a filter with dozens of conditions) go to the heap. So does everything
 * under AddressSanitizer, so that it checks every filter for overflows and use after free.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "pool.h"

#if defined(__SANITIZE_ADDRESS__)
#  define POOL_DISABLED 1
#elif defined(__has_feature)
#  if __has_feature(address_sanitizer)
#    define POOL_DISABLED 1
#  endif
#endif
#ifndef POOL_DISABLED
#  define POOL_DISABLED 0
#endif

#define POOL_BLOCK_SIZE (64u * 1024u)
#define POOL_GRANULE 8u
#define POOL_SIZE_MAX 2048u

typedef struct PoolBlock PoolBlock;
struct PoolBlock {
        PoolBlock *prev, *next;         /* its slot size's blocks with a slot free */
        void *free;                     /* slots given back, each holding the next one's address */
        uint32_t size;                  /* of its slots */
        uint32_t n_slots;
        uint32_t n_used;                /* slots given out now */
        uint32_t n_carved;              /* slots given out ever: the rest follow them, unused */
};

#define POOL_HEADER ((sizeof(PoolBlock) + 15u) & ~(size_t) 15u)

static PoolBlock *with_room[POOL_SIZE_MAX / POOL_GRANULE + 1]; /* by slot size / POOL_GRANULE */
static PoolBlock *spares[POOL_SPARES]; /* empty blocks, kept */
static size_t n_spares;
static size_t n_blocks;                 /* given out by the system, the spares among them */
static size_t n_maps;                   /* blocks the system gave, ever */

bool pool_enabled(void) {
        return !POOL_DISABLED;
}

size_t pool_bytes(void) {
        return n_blocks * POOL_BLOCK_SIZE;
}

size_t pool_spare_bytes(void) {
        return n_spares * POOL_BLOCK_SIZE;
}

size_t pool_maps(void) {
        return n_maps;
}

static void room_add(PoolBlock *b) {
        PoolBlock **head = &with_room[b->size / POOL_GRANULE];

        b->prev = NULL;
        b->next = *head;
        if (*head)
                (*head)->prev = b;
        *head = b;
}

static void room_remove(PoolBlock *b) {
        if (b->prev)
                b->prev->next = b->next;
        else
                with_room[b->size / POOL_GRANULE] = b->next;
        if (b->next)
                b->next->prev = b->prev;
        b->prev = b->next = NULL;
}

/* A block aligned to its size: twice that mapped, the rest unmapped again. */
static void *block_map(void) {
        uint8_t *p, *start;
        size_t lead;

        p = mmap(NULL, 2 * POOL_BLOCK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
                return NULL;
        start = (uint8_t *) (((uintptr_t) p + POOL_BLOCK_SIZE - 1) & ~(uintptr_t) (POOL_BLOCK_SIZE - 1));
        lead = (size_t) (start - p);
        if (lead > 0)
                (void) munmap(p, lead);
        (void) munmap(start + POOL_BLOCK_SIZE, POOL_BLOCK_SIZE - lead);
        n_blocks++;
        n_maps++;
        return start;
}

static PoolBlock *block_new(uint32_t size) {
        PoolBlock *b;

        if (n_spares > 0)
                b = spares[--n_spares];
        else {
                b = block_map();
                if (!b)
                        return NULL;
        }
        *b = (PoolBlock) { .size = size, .n_slots = (uint32_t) ((POOL_BLOCK_SIZE - POOL_HEADER) / size) };
        room_add(b);
        return b;
}

void *pool_alloc0(size_t size) {
        PoolBlock *b;
        uint8_t *p;

        if (POOL_DISABLED || size == 0 || size > POOL_SIZE_MAX)
                return calloc(1, size);
        size = (size + POOL_GRANULE - 1) / POOL_GRANULE * POOL_GRANULE;
        b = with_room[size / POOL_GRANULE];
        if (!b) {
                b = block_new((uint32_t) size);
                if (!b)
                        return NULL;
        }
        if (b->free) {
                p = b->free;
                b->free = *(void **) p;
        } else
                p = (uint8_t *) b + POOL_HEADER + (size_t) b->n_carved++ * size;
        if (++b->n_used == b->n_slots)
                room_remove(b);         /* full */
        return memset(p, 0, size);      /* a slot given back, or one of a spare block, is not */
}

void pool_free(void *p, size_t size) {
        PoolBlock *b;

        if (!p)
                return;
        if (POOL_DISABLED || size == 0 || size > POOL_SIZE_MAX) {
                free(p);
                return;
        }
        b = (PoolBlock *) ((uintptr_t) p & ~(uintptr_t) (POOL_BLOCK_SIZE - 1));
        if (b->n_used == b->n_slots)
                room_add(b);            /* full until now */
        *(void **) p = b->free;
        b->free = p;
        if (--b->n_used > 0)
                return;
        room_remove(b);
        if (n_spares < POOL_SPARES) {
                spares[n_spares++] = b;
                return;
        }
        (void) munmap(b, POOL_BLOCK_SIZE);
        n_blocks--;
}
