/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* layout.c — see layout.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "compile-internal.h"
#include "keymap.h"
#include "layout.h"
#include "macro.h"

#define BLOCK_SHIFT 10u
#define BLOCK_SIZE (1u << BLOCK_SHIFT)         /* entries per block: they never move */

struct NftLayout {
        NftFilterState **blocks;
        size_t n_blocks;
        uint32_t n_made;                /* entries handed out at least once */
        uint32_t free_first;            /* a free entry's index + 1, 0: none (they link by handle) */
        uint32_t *index;                /* open addressing: an entry's index + 1, 0: empty slot */
        size_t n_slots;                 /* a power of two, or 0 */
        size_t n_used;
        KeyMap sublayers;               /* seq → NftSublayerState */
        KeyMap runs;                    /* id → NftRun */
        NftSublayerState *sublayer_list;
        struct SkipSlot {               /* next_placed()'s memos, by filter id, for batch skips_gen */
                uint64_t id;            /* 0: empty */
                const Filter *to;
        } *skips;
        size_t n_skip_slots, n_skips;
        uint32_t skips_gen;
};

/* what layout.h promises, on 64-bit machines (the benchmark's memory per filter counts it) */
_Static_assert(sizeof(NftFilterState) <= 56, "a filter's layout entry must stay small");

static const NftFilterState no_filter_state;
static const NftSublayerState no_sublayer_state;

int nft_layout_new(NftLayout **ret) {
        NftLayout *L = calloc(1, sizeof(*L));

        if (!L)
                return -ENOMEM;
        *ret = L;
        return 0;
}

static NftFilterState *entry_at(const NftLayout *L, uint32_t i) {
        return &L->blocks[i >> BLOCK_SHIFT][i & (BLOCK_SIZE - 1)];
}

static size_t slot_home(const NftLayout *L, uint64_t id) {
        return (size_t) ((id * UINT64_C(0x9e3779b97f4a7c15)) >> 32) & (L->n_slots - 1);
}

/* The slot that has @id's entry, or the empty slot where it would go. */
static size_t slot_of(const NftLayout *L, uint64_t id) {
        size_t mask = L->n_slots - 1, i = slot_home(L, id);

        while (L->index[i] != 0 && entry_at(L, L->index[i] - 1)->id != id)
                i = (i + 1) & mask;
        return i;
}

NftFilterState *nft_layout_filter(const NftLayout *L, const Filter *f) {
        size_t i;

        if (!L || L->n_slots == 0)
                return NULL;
        i = slot_of(L, f->id);
        return L->index[i] ? entry_at(L, L->index[i] - 1) : NULL;
}

const NftFilterState *nft_layout_filter_ro(const NftLayout *L, const Filter *f) {
        return nft_layout_filter(L, f) ?: &no_filter_state;
}

static int index_grow(NftLayout *L) {
        size_t n = L->n_slots ? 2 * L->n_slots : 64, old_n = L->n_slots;
        uint32_t *old = L->index, *index = calloc(n, sizeof(*index));

        if (!index)
                return -ENOMEM;
        L->index = index;
        L->n_slots = n;
        for (size_t i = 0; i < old_n; i++)
                if (old[i])
                        L->index[slot_of(L, entry_at(L, old[i] - 1)->id)] = old[i];
        free(old);
        return 0;
}

/* Linear probing: the slots after the hole move back when their home is not past it. */
static void index_remove(NftLayout *L, size_t i) {
        size_t mask = L->n_slots - 1;

        L->index[i] = 0;
        L->n_used--;
        for (size_t j = (i + 1) & mask; L->index[j]; j = (j + 1) & mask) {
                size_t home = slot_home(L, entry_at(L, L->index[j] - 1)->id);

                if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
                        L->index[i] = L->index[j];
                        L->index[j] = 0;
                        i = j;
                }
        }
}

static void filter_state_drop(void *object, void *data) {
        NftLayout *L = data;
        NftFilterState *fs = object;
        size_t i = slot_of(L, fs->id);
        uint32_t at = L->index[i];

        if (at == 0 || entry_at(L, at - 1) != fs)
                return;
        index_remove(L, i);
        *fs = (NftFilterState) { .handle = L->free_first };
        L->free_first = at;
}

int nft_layout_filter_add(NftLayout *L, NftBatch *b, const Filter *f, NftFilterState **ret) {
        NftFilterState *fs = nft_layout_filter(L, f);
        uint32_t at;
        int k;

        if (fs) {
                *ret = fs;
                return 0;
        }
        if (2 * (L->n_used + 1) > L->n_slots) {
                k = index_grow(L);
                if (k < 0)
                        return k;
        }
        if (L->free_first) {
                at = L->free_first;
                L->free_first = (uint32_t) entry_at(L, at - 1)->handle;
        } else {
                if (L->n_made == UINT32_MAX - 1)
                        return -ENOMEM;
                if ((L->n_made >> BLOCK_SHIFT) >= L->n_blocks) {
                        NftFilterState **blocks = reallocarray(L->blocks, L->n_blocks + 1, sizeof(*blocks));

                        if (!blocks)
                                return -ENOMEM;
                        L->blocks = blocks;
                        L->blocks[L->n_blocks] = calloc(BLOCK_SIZE, sizeof(NftFilterState));
                        if (!L->blocks[L->n_blocks])
                                return -ENOMEM;
                        L->n_blocks++;
                }
                at = ++L->n_made;
        }
        fs = entry_at(L, at - 1);
        *fs = (NftFilterState) { .id = f->id };
        L->index[slot_of(L, f->id)] = at;
        L->n_used++;
        k = nft_batch_defer(b, false, filter_state_drop, fs, L);
        if (k < 0) {
                filter_state_drop(fs, L);
                return k;
        }
        *ret = fs;
        return 0;
}

int nft_layout_filter_drop(NftLayout *L, NftBatch *b, const Filter *f) {
        NftFilterState *fs = nft_layout_filter(L, f);

        return fs ? nft_batch_defer(b, true, filter_state_drop, fs, L) : 0;
}

/* ---- sublayers ---------------------------------------------------------------------------- */

NftSublayerState *nft_layout_sublayer(const NftLayout *L, const Sublayer *s) {
        uint8_t key[16];

        if (!L)
                return NULL;
        keymap_id_key(s->seq, key);
        return keymap_get(&L->sublayers, key);
}

const NftSublayerState *nft_layout_sublayer_ro(const NftLayout *L, const Sublayer *s) {
        return nft_layout_sublayer(L, s) ?: &no_sublayer_state;
}

static void sublayer_state_drop(void *object, void *data) {
        NftLayout *L = data;
        NftSublayerState *ss = object;
        uint8_t key[16];

        keymap_id_key(ss->seq, key);
        if (keymap_get(&L->sublayers, key) != ss)
                return;
        (void) keymap_remove(&L->sublayers, key);
        if (ss->prev)
                ss->prev->next = ss->next;
        else
                L->sublayer_list = ss->next;
        if (ss->next)
                ss->next->prev = ss->prev;
        free(ss);
}

int nft_layout_sublayer_add(NftLayout *L, NftBatch *b, const Sublayer *s, NftSublayerState **ret) {
        NftSublayerState *ss = nft_layout_sublayer(L, s);
        uint8_t key[16];
        int k;

        if (ss) {
                *ret = ss;
                return 0;
        }
        ss = calloc(1, sizeof(*ss));
        if (!ss)
                return -ENOMEM;
        ss->seq = s->seq;
        keymap_id_key(s->seq, key);
        k = keymap_put(&L->sublayers, key, ss);
        if (k < 0) {
                free(ss);
                return k;
        }
        ss->next = L->sublayer_list;
        if (ss->next)
                ss->next->prev = ss;
        L->sublayer_list = ss;
        k = nft_batch_defer(b, false, sublayer_state_drop, ss, L);
        if (k < 0) {
                sublayer_state_drop(ss, L);
                return k;
        }
        *ret = ss;
        return 0;
}

int nft_layout_sublayer_drop(NftLayout *L, NftBatch *b, const Sublayer *s) {
        NftSublayerState *ss = nft_layout_sublayer(L, s);

        return ss ? nft_batch_defer(b, true, sublayer_state_drop, ss, L) : 0;
}

/* ---- runs by id ------------------------------------------------------------------------------ */

int nft_layout_run_put(NftLayout *L, NftRun *run) {
        uint8_t key[16];

        keymap_id_key(run->id, key);
        return keymap_put(&L->runs, key, run);
}

void nft_layout_run_forget(NftLayout *L, const NftRun *run) {
        uint8_t key[16];

        keymap_id_key(run->id, key);
        if (keymap_get(&L->runs, key) == run)
                (void) keymap_remove(&L->runs, key);
        if (L->runs.n_used == 0)
                keymap_done(&L->runs);
}

const NftRun *nft_layout_run(const NftLayout *L, unsigned id) {
        uint8_t key[16];

        if (!L)
                return NULL;
        keymap_id_key(id, key);
        return keymap_get(&L->runs, key);
}

/* ---- next_placed()'s memos: open addressing, for the filters a batch adds ----------------- */

static size_t skip_slot(const struct SkipSlot *slots, size_t n_slots, uint64_t id) {
        size_t mask = n_slots - 1, i = (size_t) ((id * UINT64_C(0x9e3779b97f4a7c15)) >> 32) & mask;

        while (slots[i].id != 0 && slots[i].id != id)
                i = (i + 1) & mask;
        return i;
}

bool nft_layout_skip(const NftLayout *L, const NftBatch *b, const Filter *f, const Filter **ret) {
        size_t i;

        if (L->skips_gen != b->gen || L->n_skips == 0)
                return false;
        i = skip_slot(L->skips, L->n_skip_slots, f->id);
        if (L->skips[i].id == 0)
                return false;
        *ret = L->skips[i].to;
        return true;
}

void nft_layout_skip_set(NftLayout *L, const NftBatch *b, const Filter *f, const Filter *to) {
        size_t i;

        if (L->skips_gen != b->gen) {
                nft_layout_skip_done(L);
                L->skips_gen = b->gen;
        }
        if (2 * (L->n_skips + 1) > L->n_skip_slots) {
                size_t n = L->n_skip_slots ? 2 * L->n_skip_slots : 64;
                struct SkipSlot *slots = calloc(n, sizeof(*slots));

                if (!slots)
                        return;
                for (size_t j = 0; j < L->n_skip_slots; j++)
                        if (L->skips[j].id)
                                slots[skip_slot(slots, n, L->skips[j].id)] = L->skips[j];
                free(L->skips);
                L->skips = slots;
                L->n_skip_slots = n;
        }
        i = skip_slot(L->skips, L->n_skip_slots, f->id);
        L->n_skips += L->skips[i].id == 0;
        L->skips[i] = (struct SkipSlot) { .id = f->id, .to = to };
}

void nft_layout_skip_done(NftLayout *L) {
        L->skips = mfree(L->skips);
        L->n_skip_slots = L->n_skips = 0;
}

/* ---- the whole layout -------------------------------------------------------------------- */

int nft_layout_drop_stale(NftLayout *L, NftBatch *b, const Engine *e) {
        int k = 0;

        for (size_t i = 0; k >= 0 && i < L->n_slots; i++) {
                NftFilterState *fs;
                const Filter *f;

                if (!L->index[i])
                        continue;
                fs = entry_at(L, L->index[i] - 1);
                f = engine_get_filter_by_id(e, fs->id);
                if (!f || !f->live)
                        k = nft_batch_defer(b, true, filter_state_drop, fs, L);
        }
        for (NftSublayerState *ss = L->sublayer_list; k >= 0 && ss; ss = ss->next) {
                bool found = false;

                for (const Sublayer *s = engine_sublayers(e); s && !found; s = s->next)
                        found = s->seq == ss->seq && s->live;
                if (!found)
                        k = nft_batch_defer(b, true, sublayer_state_drop, ss, L);
        }
        return k;
}

size_t nft_layout_size(const NftLayout *L) {
        size_t n = sizeof(*L) + L->n_blocks * (sizeof(NftFilterState *) + BLOCK_SIZE * sizeof(NftFilterState)) +
                   L->n_slots * sizeof(uint32_t);

        for (NftSublayerState *ss = L->sublayer_list; ss; ss = ss->next)
                n += sizeof(*ss);
        return n;
}

NftLayout *nft_layout_free(NftLayout *L) {
        if (!L)
                return NULL;
        for (NftSublayerState *ss = L->sublayer_list, *next; ss; ss = next) {
                next = ss->next;
                for (WfpLayer l = 0; l < _WFP_LAYER_MAX; l++)
                        for (NftChunk *ch = ss->chunks[l], *n; ch; ch = n) {
                                n = ch->next;
                                free(ch);
                        }
                free(ss);
        }
        keymap_done(&L->sublayers);
        /* runs: each is freed through its carrier's entry (the engine still has the carrier) */
        for (size_t i = 0; i < L->n_slots; i++) {
                NftFilterState *fs = L->index[i] ? entry_at(L, L->index[i] - 1) : NULL;

                if (fs && fs->run && fs->run->carrier->id == fs->id)
                        run_free(fs->run);
        }
        for (size_t i = 0; i < L->n_blocks; i++)
                free(L->blocks[i]);
        keymap_done(&L->runs);
        free_many(L->blocks, L->index, L->skips);
        free(L);
        return NULL;
}
