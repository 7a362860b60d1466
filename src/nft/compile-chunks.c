/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * compile-chunks.c — where each rule goes in its sublayer's chain: the chunk chains that chain
 * is split into. Every change to this bookkeeping goes through the batch's undo log (NFT_SET), so
 * a refused batch leaves it as it was. The runs, whose rules are placed here like a filter's,
 * are compile-layout.c's.
 */
#include <errno.h>
#include <linux/netfilter/nf_tables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "compile.h"
#include "compile-internal.h"
#include "macro.h"

/* ---- chunks: a sublayer chain split so no chain grows without bound ---------------------------
 *
 * The kernel rebuilds a chain's rule array on every commit that touches it, so one chain of
 * 100,000 rules makes every add cost 100,000. A sublayer's chain in a layer is a list of
 * chunk chains of at most chunk_size rules, each ending in `goto <next chunk>`; a goto
 * keeps first-match order and a `return` in any chunk still returns from the sublayer.
 *
 * A new filter joins the chunk of the filter before it. When that chunk is full, a new chunk
 * starts right after it with the new filter, and the rules after it in the full chunk move
 * there (nothing moves when it goes at the end, the common case). An emptied chunk, other
 * than the first, is removed and its neighbours joined. Every change to this bookkeeping
 * goes through NFT_SET, so a batch the kernel refuses leaves it as it was.
 */

void chunk_chain_name(WfpLayer layer, const Sublayer *s, const NftChunk *ch, char buf[static NFT_CHAIN_NAME_MAX]) {
        char base[NFT_CHAIN_NAME_MAX];

        nft_sublayer_chain_name(layer, s, base);
        if (ch->id == 0)
                memcpy(buf, base, NFT_CHAIN_NAME_MAX);
        else
                snprintf(buf, NFT_CHAIN_NAME_MAX, "%.100s_c%u", base, ch->id);
}

int chunk_new(NftBatch *b, unsigned id, NftChunk **ret) {
        NftChunk *ch = calloc(1, sizeof(*ch));
        int k;

        if (!ch)
                return -ENOMEM;
        k = nft_batch_track(b, ch, false);
        if (k < 0) {
                free(ch);
                return k;
        }
        ch->id = id;
        *ret = ch;
        return 0;
}

int emit_goto(const NftConfig *c, NftBatch *b, WfpLayer l, const Sublayer *s, NftChunk *from, NftChunk *to) {
        char a[NFT_CHAIN_NAME_MAX], z[NFT_CHAIN_NAME_MAX];
        uint32_t id;
        int k;

        chunk_chain_name(l, s, from, a);
        chunk_chain_name(l, s, to, z);
        k = emit_jump(c, b, a, 0, false, NFT_GOTO, z, NULL, &from->go.handle, &id);
        if (k < 0)
                return k;
        return NFT_SET(b, from->go, ((NftRuleRef) { .handle = from->go.handle, .id = id, .batch = b->gen }));
}

/* The chunk of the rule before @f's place, or the list's first chunk. */
static NftChunk *chunk_before(const NftLayout *L, const Filter *f) {
        const Filter *p = nft_layout_rule_before(L, f);

        return p && FS(L, p)->chunk ? FS(L, p)->chunk : SS(L, f->sublayer)->chunks[f->layer];
}

/* Where a new rule goes in chunk @ch when it comes right after @f: before the next rule if that
 * is in @ch, else before @ch's goto, else at the end. */
static NftRuleRef position_after(NftLayout *L, const NftBatch *b, NftChunk *ch, const Filter *f) {
        const Filter *after = nft_layout_rule_after(L, f);

        if (after && FS(L, after)->chunk == ch)
                return filter_ref(L, b, after);
        if (ch->next)
                return ch->go;
        return (NftRuleRef) {};
}

/* @f's rule into chunk @ch, before the rule @before names (NULL, or naming none: at the end),
 * and the bookkeeping that says it is there. */
static int place_in_chunk(const NftConfig *c, NftLayout *L, NftBatch *b, const Filter *f, NftChunk *ch,
                          const NftRuleRef *before) {
        char chain[NFT_CHAIN_NAME_MAX];
        int k;

        chunk_chain_name(f->layer, f->sublayer, ch, chain);
        k = emit_filter(c, L, b, f, chain, before && ref_is_set(b, before) ? before : NULL);
        if (k >= 0)
                k = FS_SET(L, b, f, chunk, ch);
        if (k >= 0)
                k = NFT_SET(b, ch->n, ch->n + 1);
        if (k >= 0)
                k = nft_layout_rule_add(L, f);
        return k;
}

/* Splits the full chunk @p at @f's place: a new chunk after @p takes the rules of @p after
 * @f; @f then ends @p, or, when it comes after all of them, starts the new chunk. */
static int chunk_split(const NftConfig *c, NftLayout *L, NftBatch *b, const Filter *f, NftChunk *p) {
        char from[NFT_CHAIN_NAME_MAX], to[NFT_CHAIN_NAME_MAX];
        const Sublayer *s = f->sublayer;
        WfpLayer l = f->layer;
        NftSublayerState *ss = nft_layout_sublayer(L, s);
        NftChunk *n, *q = p->next;
        size_t moving = 0;
        bool f_in_new;
        int k;

        for (const Filter *g = nft_layout_rule_after(L, f); g && FS(L, g)->chunk == p; g = nft_layout_rule_after(L, g))
                moving++;
        f_in_new = moving == 0;

        k = chunk_new(b, ss->next_chunk, &n);
        if (k >= 0)
                k = NFT_SET(b, ss->next_chunk, ss->next_chunk + 1);
        if (k < 0)
                return k;
        chunk_chain_name(l, s, p, from);
        chunk_chain_name(l, s, n, to);
        k = emit_chain(c, b, to, -1, 0);
        if (k >= 0 && f_in_new)
                k = place_in_chunk(c, L, b, f, n, NULL);

        for (const Filter *g = nft_layout_rule_after(L, f), *next; k >= 0 && g && FS(L, g)->chunk == p; g = next) {
                NftRuleRef old = filter_ref(L, b, g);

                next = nft_layout_rule_after(L, g);

                k = emit_delete_ref(c, b, from, &old, "move of a rule to a new chunk");
                if (k >= 0 && FS(L, g)->run && FS(L, g)->run->carrier == g)
                        k = emit_delete_run_extras(c, b, FS(L, g)->run, from);
                if (k >= 0)
                        k = place_in_chunk(c, L, b, g, n, NULL);
                if (k >= 0)
                        k = NFT_SET(b, p->n, p->n - 1);
        }
        if (k < 0)
                return k;

        /* p -> n -> q; @f, when it stays in p, goes after p's last rule, before its new goto */
        if (q)
                k = emit_goto(c, b, l, s, n, q);
        if (k >= 0 && ref_is_set(b, &p->go))
                k = emit_delete_ref(c, b, from, &p->go, "chunk goto");
        if (k >= 0)
                k = NFT_SET(b, p->go, (NftRuleRef) {});
        if (k >= 0 && !f_in_new)
                k = place_in_chunk(c, L, b, f, p, NULL);
        if (k >= 0)
                k = emit_goto(c, b, l, s, p, n);
        if (k >= 0)
                k = NFT_SET(b, n->prev, p);
        if (k >= 0)
                k = NFT_SET(b, n->next, q);
        if (k >= 0)
                k = NFT_SET(b, p->next, n);
        if (k >= 0 && q)
                k = NFT_SET(b, q->prev, n);
        return k;
}

static size_t chunk_count(const NftChunk *ch) {
        size_t n = 0;

        for (; ch; ch = ch->next)
                n++;
        return n;
}

/* Places @f's rule (a plain filter's, or its run's as the carrier): in the chunk of the rule
 * before it, before the next rule there. Past NFT_CHUNKS_MAX chunks, chunks grow beyond the chunk
 * size instead of splitting. */
int place_rule(const NftConfig *c, NftLayout *L, NftBatch *b, const Filter *f) {
        NftChunk *p = chunk_before(L, f);
        NftRuleRef before;

        if (p->n >= c->chunk_size && chunk_count(SS(L, f->sublayer)->chunks[f->layer]) < NFT_CHUNKS_MAX)
                return chunk_split(c, L, b, f, p);
        before = position_after(L, b, p, f);
        return place_in_chunk(c, L, b, f, p, &before);
}

/* Removes an emptied chunk (never the first) and joins its neighbours. */
int chunk_remove(const NftConfig *c, NftBatch *b, const Sublayer *s, WfpLayer l, NftChunk *ch) {
        char pname[NFT_CHAIN_NAME_MAX], name[NFT_CHAIN_NAME_MAX];
        NftChunk *p = ch->prev, *q = ch->next;
        int k;

        chunk_chain_name(l, s, p, pname);
        chunk_chain_name(l, s, ch, name);
        k = emit_delete_ref(c, b, pname, &p->go, "chunk goto");
        if (k >= 0)
                k = NFT_SET(b, p->go, (NftRuleRef) {});
        if (k >= 0 && q)
                k = emit_goto(c, b, l, s, p, q);
        if (k >= 0)
                k = emit_delete_chain(c, b, name); /* takes its own goto with it */
        if (k >= 0)
                k = NFT_SET(b, p->next, q);
        if (k >= 0 && q)
                k = NFT_SET(b, q->prev, p);
        if (k >= 0)
                k = nft_batch_track(b, ch, true);
        return k;
}

