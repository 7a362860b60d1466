/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * layout.h — the compiler's own state: where each filter's rule is in the kernel (its handle, its
 * chunk chain, its run) and each sublayer's chains (its jumps, its chunks). The engine knows
 * nothing of it: entries are keyed by the filter's id and the sublayer's order of addition
 * (Sublayer.seq), numbers the engine never gives twice.
 *
 * Entries change only through a batch (NFT_SET and friends), so they commit or roll back with
 * it: an entry made in a batch goes if the kernel refuses the batch, and the entry of a filter or
 * sublayer the batch deletes goes once the kernel applied it (the deleted object is readable
 * until then: engine_commit() comes after). Entries never move while they live, so the undo log
 * and the batch's records (the handles the kernel's echo fills in) may point into them.
 *
 * A filter's entry is 64 bytes in blocks of them, found through an open-addressing index of
 * 4-byte slots; a filter without a rule or run membership has none.
 *
 * Three caches derived from the entries come with them (classify.c and guard.c use them): each
 * list's filters that hold a rule, in evaluation order (the order of the rules in the chains), an
 * index of the filters by remote address, to find the ones that may overlap a filter, and counts
 * under 16-byte keys (nft_layout_count()). None goes through the undo log: after a refused batch,
 * nft_layout_sync() builds them again.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "compile.h"

typedef struct NftFilterState {
        uint64_t id;                    /* the filter's; 0: a free entry */
        uint64_t handle;                /* its rule's handle in the kernel, 0 = none; free: the next free + 1 */
        NftChunk *chunk;                /* the chunk chain its rule is in */
        NftRun *run;                    /* the run whose set holds it, or NULL */
        const Filter *run_prev, *run_next; /* the run's members, in no particular order */
        uint32_t rule_id;               /* its rule's id in the batch being built ... */
        uint32_t rule_batch;            /* ... valid while this is that batch's generation */
        uint64_t made_in;               /* the batch that made it (NftBatch.serial): see MADE_SET() */
} NftFilterState;

/* A list's filters that hold a rule (a plain filter's, or a run's carrier), in evaluation order. */
typedef struct NftRuleList {
        const Filter **v;
        uint32_t n;
        size_t cap;
} NftRuleList;

typedef struct NftSublayerState {
        uint64_t seq;                   /* the sublayer's */
        NftRun *runs[_WFP_LAYER_MAX];   /* its runs in each layer (NftRun.lnext), through the undo log */
        NftRuleList rules[_WFP_LAYER_MAX]; /* cache: the rule holders */
        unsigned guard_id[_WFP_LAYER_MAX]; /* its guard set guard_<id> in each layer, 0: none (guard.c) */
        bool guarded[_WFP_LAYER_MAX];   /* its jump there looks the guard up first */
        bool guard_dirty[_WFP_LAYER_MAX]; /* whether its jump's use of the guard may have to change */
        uint64_t jump_handle[_WFP_LAYER_MAX]; /* its jump rule in the layer's family chain, 0 = none */
        NftChunk *chunks[_WFP_LAYER_MAX]; /* its chain in each layer, split into chunks */
        unsigned next_chunk;            /* names the next chunk chain */
        struct NftSublayerState *prev, *next;
} NftSublayerState;

/* @f's entry, or NULL when it has none. */
NftFilterState *nft_layout_filter(const NftLayout *L, const Filter *f);
/* For reading: @f's entry, or an empty one (no rule, no run). Never written through. */
const NftFilterState *nft_layout_filter_ro(const NftLayout *L, const Filter *f);
/* @f's entry, made in batch @b when it has none (gone again if the kernel refuses @b). */
int nft_layout_filter_add(NftLayout *L, NftBatch *b, const Filter *f, NftFilterState **ret);
/* @f's entry (if any) goes when the kernel has applied @b. */
int nft_layout_filter_drop(NftLayout *L, NftBatch *b, const Filter *f);

/* The same for sublayers. */
NftSublayerState *nft_layout_sublayer(const NftLayout *L, const Sublayer *s);
const NftSublayerState *nft_layout_sublayer_ro(const NftLayout *L, const Sublayer *s);
int nft_layout_sublayer_add(NftLayout *L, NftBatch *b, const Sublayer *s, NftSublayerState **ret);
int nft_layout_sublayer_drop(NftLayout *L, NftBatch *b, const Sublayer *s);

/* Before @b touches the layout: when @b's generation is one an older batch had (2^32 batches
 * ago), every pending rule id the layout keeps is forgotten. Each nft_compile_*() calls it. */
void nft_layout_begin(NftLayout *L, const NftBatch *b);
/* The runs with members whose elements the batch has still to write: a list through
 * NftRun.joined_next, empty again at each nft_layout_begin(). */
NftRun **nft_layout_joined_runs(NftLayout *L);
/* The entries of filters and sublayers @e no longer has go when the kernel has applied @b: for
 * a batch that puts the whole table anew. */
int nft_layout_drop_stale(NftLayout *L, NftBatch *b, const Engine *e);

/* Every run by its id, for the net events (compile-netev.c): the log statement of a run's rule
 * names the run, and the packet it logged names the member. A run is put in as it is made and
 * forgotten as it is freed (run_free()). */
int nft_layout_run_put(NftLayout *L, NftRun *run);
void nft_layout_run_forget(NftLayout *L, const NftRun *run);
const NftRun *nft_layout_run(const NftLayout *L, unsigned id);

/* The rule holders of @f's list: @f holds a rule from now on, or no longer (both idempotent); the
 * nearest one before @f's place and after it (NULL: none). */
int nft_layout_rule_add(NftLayout *L, const Filter *f);
void nft_layout_rule_remove(NftLayout *L, const Filter *f);
const Filter *nft_layout_rule_before(const NftLayout *L, const Filter *f);
const Filter *nft_layout_rule_after(const NftLayout *L, const Filter *f);

/*
 * The overlap index: every placed filter of an emitted list, by its remote address. A filter with
 * one remote address condition of a single address is in the hosts bucket of its /24 (IPv6: /64),
 * kept in the order of the addresses; of a prefix of /24 or longer (/64), in the bucket of its /24
 * (/64); of /16 to /23 (/56 to /63), in the bucket of its /16 (/56); any other is "wide", in its
 * list's wide bucket. A bucket is an array of its filters. nft_layout_overlap_each() calls @fn for
 * every filter of @f's list (other than @f) that is in a bucket @f's addresses can share, and
 * every wide one: a superset of the filters that overlap @f, for the caller to test. Of a hosts
 * bucket it takes only the hosts inside @f's own addresses, so 100,000 hosts of 400 /24s cost a
 * host a binary search, not 256 tests. @fn's nonzero return stops the walk.
 */
bool nft_layout_overlap_is_wide(const Filter *f);
int nft_layout_overlap_add(NftLayout *L, const Filter *f);
void nft_layout_overlap_remove(NftLayout *L, const Filter *f);
int nft_layout_overlap_each(const NftLayout *L, const Filter *f, int (*fn)(const Filter *g, void *userdata),
                            void *userdata);

/* A count under a 16-byte @key (classify.c and guard.c make the keys): changed by @delta, then
 * returned; a key counted down to 0 goes. A cache too: -ENOMEM when it cannot count. */
long nft_layout_count(NftLayout *L, const uint8_t key[static 16], long delta);

/* Builds the caches again from the entries and @e's lists, if a batch was refused since they were
 * built (nft_batch_refusals), or @force: 1 when it did (the plain counts start from 0, for the
 * caller to count), 0 when they were right. */
int nft_layout_sync(NftLayout *L, const Engine *e, bool force);

/* Bytes the layout's entries and index take (not the chunks and runs): for measurements. */
size_t nft_layout_size(const NftLayout *L);
