/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* layout.c — see layout.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
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
        KeyMap buckets;                 /* the overlap index: bucket key → its Bucket, or a BucketSummary */
        KeyMap plain;                   /* nft_layout_count()'s counts */
        uint32_t epoch;                 /* the high bits of the last batch's serial (nft_layout_begin()) */
        NftRun *joined_runs;            /* nft_layout_joined_runs() */
        bool caches_built;              /* the rule lists and the overlap index, ... */
        unsigned caches_refusals;       /* ... as of this many refused batches */
};

/* what layout.h promises, on 64-bit machines (the benchmark's memory per filter counts it) */
_Static_assert(sizeof(NftFilterState) <= 64, "a filter's layout entry must stay small");

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

/* An entry made for @b goes again if the kernel refuses @b; if that cannot be noted, it goes now. */
static int drop_if_refused(NftBatch *b, void (*drop)(void *object, void *data), void *object, NftLayout *L) {
        int k = nft_batch_defer(b, false, drop, object, L);

        if (k < 0)
                drop(object, L);
        return k;
}

/* ... and an entry @b takes away goes when @b commits (nothing to do for none). */
static int drop_if_committed(NftBatch *b, void (*drop)(void *object, void *data), void *object, NftLayout *L) {
        return object ? nft_batch_defer(b, true, drop, object, L) : 0;
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
        *fs = (NftFilterState) { .id = f->id, .made_in = b->serial };
        L->index[slot_of(L, f->id)] = at;
        L->n_used++;
        k = drop_if_refused(b, filter_state_drop, fs, L);
        if (k >= 0)
                *ret = fs;
        return k;
}

int nft_layout_filter_drop(NftLayout *L, NftBatch *b, const Filter *f) {
        return drop_if_committed(b, filter_state_drop, nft_layout_filter(L, f), L);
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
        for (WfpLayer l = 0; l < _WFP_LAYER_MAX; l++)
                free(ss->rules[l].v);
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
        k = drop_if_refused(b, sublayer_state_drop, ss, L);
        if (k >= 0)
                *ret = ss;
        return k;
}

int nft_layout_sublayer_drop(NftLayout *L, NftBatch *b, const Sublayer *s) {
        return drop_if_committed(b, sublayer_state_drop, nft_layout_sublayer(L, s), L);
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

/* ---- the rule holders of each list, in evaluation order ---------------------------------- */

static NftRuleList *rule_list(const NftLayout *L, const Filter *f) {
        NftSublayerState *ss = nft_layout_sublayer(L, f->sublayer);

        return ss ? &ss->rules[f->layer] : NULL;
}

/* The first index whose filter is not before @f (@after: the first that is after it). */
static uint32_t rule_search(const NftRuleList *r, const Filter *f, bool after) {
        uint32_t lo = 0, hi = r->n;

        while (lo < hi) {
                uint32_t mid = lo + (hi - lo) / 2;
                int c = filter_compare(r->v[mid], f);

                if (c < 0 || (after && c == 0))
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

int nft_layout_rule_add(NftLayout *L, const Filter *f) {
        NftRuleList *r = rule_list(L, f);
        uint32_t i;

        if (!r)
                return -ENOENT;
        i = rule_search(r, f, false);
        if (i < r->n && r->v[i] == f)
                return 0;
        if (!ARRAY_RESERVE(r->v, r->cap, (size_t) r->n + 1, 16))
                return -ENOMEM;
        memmove(r->v + i + 1, r->v + i, (r->n - i) * sizeof(*r->v));
        r->v[i] = f;
        r->n++;
        return 0;
}

void nft_layout_rule_remove(NftLayout *L, const Filter *f) {
        NftRuleList *r = rule_list(L, f);
        uint32_t i;

        if (!r)
                return;
        i = rule_search(r, f, false);
        if (i < r->n && r->v[i] == f) {
                memmove(r->v + i, r->v + i + 1, (r->n - i - 1) * sizeof(*r->v));
                r->n--;
        }
}

const Filter *nft_layout_rule_before(const NftLayout *L, const Filter *f) {
        const NftRuleList *r = rule_list(L, f);
        uint32_t i = r ? rule_search(r, f, false) : 0;

        return i > 0 ? r->v[i - 1] : NULL;
}

const Filter *nft_layout_rule_after(const NftLayout *L, const Filter *f) {
        const NftRuleList *r = rule_list(L, f);
        uint32_t i = r ? rule_search(r, f, true) : 0;

        return r && i < r->n ? r->v[i] : NULL;
}

/* ---- the overlap index ---------------------------------------------------------------------- */

enum { BUCKET_WIDE, BUCKET_COARSE, BUCKET_FINE, BUCKET_HOSTS, BUCKET_SUMMARY };

typedef struct Bucket {
        uint32_t n, cap;
        const Filter *v[];      /* a hosts bucket: in the order of their addresses */
} Bucket;

/* The key of the bucket at @level of @f's list for address @a (@len bytes): the list, the level,
 * and the address cut to /16 or /24 (IPv6: /56 or /64; the hosts of a /24 share a bucket); a
 * wide bucket has no address. Two lists whose sublayers' order of addition agrees in its low 32
 * bits share keys: their filters are then candidates of each other's, which costs a test, never
 * a wrong answer. */
static void bucket_key(const Filter *f, int level, const uint8_t *a, size_t len, uint8_t key[static 16]) {
        bool coarse = level == BUCKET_COARSE;
        size_t keep = level == BUCKET_WIDE ? 0 : len == 4 ? (coarse ? 2 : 3) : (coarse ? 7 : 8);

        memset(key, 0, 16);
        for (int i = 0; i < 4; i++)
                key[i] = (uint8_t) (f->sublayer->seq >> (8 * i));
        key[4] = f->layer;
        key[5] = (uint8_t) level;
        key[6] = (uint8_t) len;
        if (keep)
                memcpy(key + 8, a, keep);
}

/* @f's remote address condition, if it has exactly one and it is not negated; else NULL. */
static const Condition *remote_address(const Filter *f) {
        const Condition *c = NULL;

        for (size_t i = 0; i < f->n_conditions; i++)
                if (f->conditions[i].field == WFP_FIELD_IP_REMOTE_ADDRESS) {
                        if (c)
                                return NULL;    /* ORed addresses */
                        c = &f->conditions[i];
                }
        if (!c || c->negate || (c->len != 4 && c->len != 16))
                return NULL;
        return c;
}

/* @f's bucket level, and the address it is filed under. */
static int bucket_level(const Filter *f, const uint8_t **ret_addr, size_t *ret_len) {
        const Condition *c = remote_address(f);
        int plen;

        *ret_addr = NULL;
        *ret_len = 0;
        if (!c)
                return BUCKET_WIDE;
        plen = condition_prefix_len(c);
        if (plen < (c->len == 4 ? 16 : 56))
                return BUCKET_WIDE;     /* filed with no address, where every walk looks */
        *ret_addr = c->lo;
        *ret_len = c->len;
        if (plen == 8 * (int) c->len)
                return BUCKET_HOSTS;
        return plen >= (c->len == 4 ? 24 : 64) ? BUCKET_FINE : BUCKET_COARSE;
}

bool nft_layout_overlap_is_wide(const Filter *f) {
        const uint8_t *a;
        size_t len;

        return bucket_level(f, &a, &len) == BUCKET_WIDE;
}

/* The first host in @bk whose address is not below @a (@len bytes). */
static uint32_t hosts_search(const Bucket *bk, const uint8_t *a, size_t len) {
        uint32_t lo = 0, hi = bk->n;

        while (lo < hi) {
                uint32_t mid = lo + (hi - lo) / 2;

                if (memcmp(remote_address(bk->v[mid])->lo, a, len) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

/* Where @f stands in the overlap index: its bucket's level and key, and the address it sorts by. */
typedef struct BucketPlace {
        int level;
        const uint8_t *addr;
        size_t len;
        uint8_t key[16];
} BucketPlace;

static Bucket *bucket_of(const NftLayout *L, const Filter *f, BucketPlace *p) {
        p->level = bucket_level(f, &p->addr, &p->len);
        bucket_key(f, p->level, p->addr, p->len, p->key);
        return keymap_get(&L->buckets, p->key);
}

/*
 * Which /24s (IPv6: /64s) of a /16 (/56) of a list have a fine or a hosts bucket, a bit each: a
 * coarse filter's walk looks into those only, where it looked up all 256 of each (512 lookups for
 * a /16, nearly all of buckets that do not exist). Filed in the buckets' map with the key of the
 * /16's coarse bucket at level BUCKET_SUMMARY. A bit may stay set for a bucket that is gone or
 * was never made (no memory for it): that costs a lookup, never a candidate.
 */
typedef struct BucketSummary {
        uint64_t fine[4], hosts[4];
} BucketSummary;

/* The summary's key for the fine or hosts bucket @key, and that bucket's bit in it. */
static unsigned summary_key(const uint8_t key[static 16], uint8_t skey[static 16]) {
        size_t at = key[6] == 4 ? 8 + 2 : 8 + 7;
        unsigned bit = key[at];

        memcpy(skey, key, 16);
        skey[5] = BUCKET_SUMMARY;
        skey[at] = 0;
        return bit;
}

/* Sets the bit of a fine or hosts bucket about to be made; a negative errno without the memory. */
static int summary_set(NftLayout *L, const BucketPlace *p) {
        uint8_t skey[16];
        unsigned bit = summary_key(p->key, skey);
        BucketSummary *sm = keymap_get(&L->buckets, skey);
        uint64_t *bits;

        if (!sm) {
                int k;

                sm = calloc(1, sizeof(*sm));
                if (!sm)
                        return -ENOMEM;
                k = keymap_put(&L->buckets, skey, sm);
                if (k < 0) {
                        free(sm);
                        return k;
                }
        }
        bits = p->level == BUCKET_FINE ? sm->fine : sm->hosts;
        bits[bit / 64] |= UINT64_C(1) << (bit % 64);
        return 0;
}

/* Clears the bit of a fine or hosts bucket that is gone, and the summary with its last bit. */
static void summary_clear(NftLayout *L, const BucketPlace *p) {
        uint8_t skey[16];
        unsigned bit = summary_key(p->key, skey);
        BucketSummary *sm = keymap_get(&L->buckets, skey);
        uint64_t any = 0;

        if (!sm)
                return;
        (p->level == BUCKET_FINE ? sm->fine : sm->hosts)[bit / 64] &= ~(UINT64_C(1) << (bit % 64));
        for (size_t i = 0; i < 4; i++)
                any |= sm->fine[i] | sm->hosts[i];
        if (!any) {
                (void) keymap_remove(&L->buckets, skey);
                free(sm);
        }
}

int nft_layout_overlap_add(NftLayout *L, const Filter *f) {
        BucketPlace p;
        Bucket *bk = bucket_of(L, f, &p);
        uint32_t at;

        if (!bk && (p.level == BUCKET_FINE || p.level == BUCKET_HOSTS)) {
                int k = summary_set(L, &p);

                if (k < 0)
                        return k;
        }
        if (!bk || bk->n == bk->cap) {
                uint32_t cap = bk ? 2 * bk->cap : 4;
                Bucket *grown = realloc(bk, sizeof(Bucket) + cap * sizeof(const Filter *));
                int k;

                if (!grown)
                        return -ENOMEM;
                if (!bk)
                        grown->n = 0;
                grown->cap = cap;
                k = keymap_put(&L->buckets, p.key, grown);
                if (k < 0) {
                        if (grown->n == 0)
                                free(grown);
                        return k;
                }
                bk = grown;
        }
        at = p.level == BUCKET_HOSTS ? hosts_search(bk, p.addr, p.len) : bk->n;
        memmove(bk->v + at + 1, bk->v + at, (bk->n - at) * sizeof(*bk->v));
        bk->v[at] = f;
        bk->n++;
        return 0;
}

void nft_layout_overlap_remove(NftLayout *L, const Filter *f) {
        BucketPlace p;
        Bucket *bk = bucket_of(L, f, &p);

        for (uint32_t i = bk && p.level == BUCKET_HOSTS ? hosts_search(bk, p.addr, p.len) : 0; bk && i < bk->n; i++)
                if (bk->v[i] == f) {
                        /* a hosts bucket stays in order */
                        if (p.level == BUCKET_HOSTS)
                                memmove(bk->v + i, bk->v + i + 1, (bk->n - i - 1) * sizeof(*bk->v));
                        else
                                bk->v[i] = bk->v[bk->n - 1];
                        if (--bk->n == 0) {
                                (void) keymap_remove(&L->buckets, p.key);
                                free(bk);
                                if (p.level == BUCKET_FINE || p.level == BUCKET_HOSTS)
                                        summary_clear(L, &p);
                        }
                        return;
                }
}

/* @fn for each filter of @f's list in the bucket @key, but @f; of a hosts bucket, only those
 * from address @from to @to (@len bytes; NULL: all). */
static int walk_bucket(const NftLayout *L, const uint8_t key[static 16], const Filter *f, const uint8_t *from,
                       const uint8_t *to, size_t len, int (*fn)(const Filter *, void *), void *userdata) {
        const Bucket *bk = keymap_get(&L->buckets, key);

        for (uint32_t i = bk && from ? hosts_search(bk, from, len) : 0; bk && i < bk->n; i++) {
                const Filter *g = bk->v[i];
                int k;

                if (to && memcmp(remote_address(g)->lo, to, len) > 0)
                        break;
                if (g != f && g->sublayer == f->sublayer && g->layer == f->layer && (k = fn(g, userdata)) != 0)
                        return k;
        }
        return 0;
}

int nft_layout_overlap_each(const NftLayout *L, const Filter *f, int (*fn)(const Filter *g, void *userdata),
                            void *userdata) {
        const BucketSummary *sm;
        const uint8_t *a;
        uint8_t key[16], sub[16];
        unsigned span, first;
        size_t len, at;
        int level, k;

        level = bucket_level(f, &a, &len);
        if (level == BUCKET_WIDE) {
                /* it may overlap anything of its list: every placed filter there */
                for (const Filter *g = f->sublayer->filters_head[f->layer]; g; g = g->lnext) {
                        const NftFilterState *gs = nft_layout_filter_ro(L, g);

                        if (g != f && (gs->chunk || gs->run) && (k = fn(g, userdata)) != 0)
                                return k;
                }
                return 0;
        }
        bucket_key(f, BUCKET_WIDE, NULL, 0, key);
        k = walk_bucket(L, key, f, NULL, NULL, 0, fn, userdata);
        bucket_key(f, BUCKET_COARSE, a, len, key);
        if (k == 0)
                k = walk_bucket(L, key, f, NULL, NULL, 0, fn, userdata);
        if (k != 0)
                return k;
        if (level != BUCKET_COARSE) {
                /* the prefixes of its /24, and the hosts its own addresses span */
                const Condition *c = remote_address(f);

                bucket_key(f, BUCKET_FINE, a, len, key);
                k = walk_bucket(L, key, f, NULL, NULL, 0, fn, userdata);
                bucket_key(f, BUCKET_HOSTS, a, len, key);
                return k != 0 ? k : walk_bucket(L, key, f, c->lo, c->hi, len, fn, userdata);
        }
        /* a coarse one: the fine buckets and the hosts of the /24s (/64s) inside its prefix, of
         * the 256 one byte longer than its bucket's (a /20 looks into 16, not 256), those that
         * its /16's summary has */
        at = len == 4 ? 2 : 7;
        span = 1u << ((len == 4 ? 24 : 64) - condition_prefix_len(remote_address(f)));
        first = a[at] & ~(span - 1);
        memcpy(sub, key, 16);
        sub[5] = BUCKET_SUMMARY;
        sm = keymap_get(&L->buckets, sub);
        for (unsigned i = 0; sm && k == 0 && i < 2 * span; i++) {
                unsigned bit = first + i % span;

                if (!((i < span ? sm->fine : sm->hosts)[bit / 64] & (UINT64_C(1) << (bit % 64))))
                        continue;
                sub[5] = i < span ? BUCKET_FINE : BUCKET_HOSTS;
                sub[8 + at] = (uint8_t) bit;
                k = walk_bucket(L, sub, f, NULL, NULL, 0, fn, userdata);
        }
        return k;
}

static void buckets_free(NftLayout *L) {
        keymap_free_values(&L->buckets);
}

int nft_layout_sync(NftLayout *L, const Engine *e, bool force) {
        int k = 0;

        if (!force && L->caches_built && L->caches_refusals == nft_batch_refusals)
                return 0;
        buckets_free(L);
        keymap_done(&L->plain);
        for (NftSublayerState *ss = L->sublayer_list; ss; ss = ss->next)
                for (WfpLayer l = 0; l < _WFP_LAYER_MAX; l++)
                        ss->rules[l].n = 0;
        L->caches_built = true;
        L->caches_refusals = nft_batch_refusals;
        if (!e)
                return 0;
        for (const Sublayer *s = engine_sublayers(e); k >= 0 && s; s = s->next) {
                if (!nft_layout_sublayer(L, s))
                        continue;
                for (WfpLayer l = 0; l < _WFP_LAYER_MAX; l++)
                        for (const Filter *f = s->filters_head[l]; k >= 0 && f; f = f->lnext) {
                                const NftFilterState *fs = nft_layout_filter(L, f);

                                if (!fs || (!fs->chunk && !fs->run))
                                        continue;
                                k = nft_layout_overlap_add(L, f);
                                if (k >= 0 && fs->chunk && (!fs->run || fs->run->carrier == f))
                                        k = nft_layout_rule_add(L, f);
                        }
        }
        if (k < 0)
                L->caches_built = false;
        return k < 0 ? k : 1;
}

long nft_layout_count(NftLayout *L, const uint8_t key[static 16], long delta) {
        long n = (long) (uintptr_t) keymap_get(&L->plain, key) + delta;

        if (delta == 0)
                return n;
        if (n <= 0) {
                (void) keymap_remove(&L->plain, key);
                return 0;
        }
        return keymap_put(&L->plain, key, (void *) (uintptr_t) n) < 0 ? -ENOMEM : n;
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
                        k = drop_if_committed(b, filter_state_drop, fs, L);
        }
        for (NftSublayerState *ss = L->sublayer_list; k >= 0 && ss; ss = ss->next) {
                bool found = false;

                for (const Sublayer *s = engine_sublayers(e); s && !found; s = s->next)
                        found = s->seq == ss->seq && s->live;
                if (!found)
                        k = drop_if_committed(b, sublayer_state_drop, ss, L);
        }
        return k;
}

NftRun **nft_layout_joined_runs(NftLayout *L) {
        return &L->joined_runs;
}

void nft_layout_begin(NftLayout *L, const NftBatch *b) {
        uint32_t epoch = (uint32_t) (b->serial >> 32);

        L->joined_runs = NULL;  /* an abandoned batch's: its runs may be gone */
        if (epoch == L->epoch)
                return;
        /* every pending id the layout keeps is an older batch's, whose generation @b now has */
        for (uint32_t i = 0; i < L->n_made; i++) {
                NftFilterState *fs = entry_at(L, i);

                fs->rule_id = fs->rule_batch = 0;
        }
        for (NftSublayerState *ss = L->sublayer_list; ss; ss = ss->next)
                for (WfpLayer l = 0; l < _WFP_LAYER_MAX; l++) {
                        for (NftChunk *ch = ss->chunks[l]; ch; ch = ch->next)
                                ch->go.id = ch->go.batch = 0;
                        for (NftRun *run = ss->runs[l]; run; run = run->lnext)
                                for (size_t j = 0; j < ELEMENTSOF(run->extra); j++)
                                        run->extra[j].id = run->extra[j].batch = 0;
                }
        L->epoch = epoch;
}

size_t nft_layout_size(const NftLayout *L) {
        size_t n = sizeof(*L) + L->n_blocks * (sizeof(NftFilterState *) + BLOCK_SIZE * sizeof(NftFilterState)) +
                   L->n_slots * sizeof(uint32_t);

        for (NftSublayerState *ss = L->sublayer_list; ss; ss = ss->next) {
                n += sizeof(*ss);
                for (WfpLayer l = 0; l < _WFP_LAYER_MAX; l++)
                        n += ss->rules[l].cap * sizeof(const Filter *);
        }
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
                for (WfpLayer l = 0; l < _WFP_LAYER_MAX; l++) {
                        free(ss->rules[l].v);
                        /* every run of a list is on its list's chain, once */
                        for (NftRun *run = ss->runs[l], *n; run; run = n) {
                                n = run->lnext;
                                run_free(run);
                        }
                }
                free(ss);
        }
        keymap_done(&L->sublayers);
        for (size_t i = 0; i < L->n_blocks; i++)
                free(L->blocks[i]);
        keymap_done(&L->runs);
        buckets_free(L);
        keymap_done(&L->plain);
        free_many(L->blocks, L->index);
        free(L);
        return NULL;
}
