/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * guard.c — dispatch before the scan: when every filter of a sublayer in a layer names the
 * remote address (one prefix of /8 or longer, IPv6 /16), the layer's jump to the sublayer's
 * chain first looks the packet's remote address, cut to /8 (/16), up in the set guard_<id>, which
 * holds those of the filters: `ip saddr & 255.0.0.0 @guard_3 jump inbound_transport_v4_sl_…`.
 * A packet from elsewhere skips the sublayer at the price of one lookup, as it would have gone
 * through it unmatched: a blocklist of 100,000 prefixes costs other traffic nothing.
 *
 * The set is made with the list's first such filter and keeps an element while a filter of its
 * list is under it (counts in the layout's cache, nft_layout_count()); the jump looks it up while
 * no filter of the list is "wide" (no such address). The jump is put anew, in one batch, when
 * that changes. The layers whose remote address depends on the filter (ALE_FLOW_ESTABLISHED, by
 * its DIRECTION) or that have none (forwarding) have no guard. Runs on (FilterRuns=yes) only.
 */
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <libnftnl/set.h>
#include <stdio.h>
#include <string.h>

#include "batch.h"
#include "keymap.h"
#include "compile-internal.h"
#include "layout.h"

static unsigned guard_next_id = 1;
static unsigned guard_dirty_n;          /* lists whose jump may have to change (guard_update_jumps()) */

static void guard_dirty(NftSublayerState *ss, WfpLayer l) {
        if (!ss->guard_dirty[l]) {
                ss->guard_dirty[l] = true;
                guard_dirty_n++;
        }
}

static bool guard_layer(const NftConfig *c, WfpLayer l) {
        WfpLayerKind kind = wfp_layer_info(l)->kind;

        return c->filter_runs && wfp_layer_is_emitted(l) && kind != WFP_LAYER_KIND_ALE_FLOW_ESTABLISHED &&
               kind != WFP_LAYER_KIND_IPFORWARD;
}

static size_t guard_len(WfpLayer l) {
        return wfp_layer_info(l)->family == 4 ? 4 : 16;
}

static unsigned guard_bits(WfpLayer l) {
        return wfp_layer_info(l)->family == 4 ? 8 : 16;
}

/* @f's element in its list's guard (its remote address cut to the guard's bits): 1, or 0 when
 * it has none (it is wide). */
static int guard_element(const Filter *f, uint8_t ret[static 16]) {
        const Condition *c = NULL;

        for (size_t i = 0; i < f->n_conditions; i++)
                if (f->conditions[i].field == WFP_FIELD_IP_REMOTE_ADDRESS) {
                        if (c)
                                return 0;       /* ORed addresses */
                        c = &f->conditions[i];
                }
        if (!c || c->negate || c->len != guard_len(f->layer) ||
            condition_prefix_len(c) < (int) guard_bits(f->layer))
                return 0;
        memset(ret, 0, 16);
        memcpy(ret, c->lo, guard_bits(f->layer) / 8);
        return 1;
}

/* The counts of @s's list in layer @l: 'W' its wide filters, 'N' its elements, 'E' one element's filters. */
static long guard_count(NftLayout *L, const Sublayer *s, WfpLayer l, char what, const uint8_t *element,
                        long delta) {
        uint8_t key[16] = { 'G', (uint8_t) what, (uint8_t) l };

        for (int i = 0; i < 4; i++)
                key[3 + i] = (uint8_t) (s->seq >> (8 * i));
        if (element)
                memcpy(key + 7, element, guard_bits(l) / 8);    /* the bits the guard keeps */
        return nft_layout_count(L, key, delta);
}

/*
 * @f counted into (@delta 1) or out of (-1) its list's guard counts. Return: 1 when that made its
 * element (in @element) come or go, 0 when not, -ENOMEM. *ret_flip: whether the list's count of
 * elements or of wide filters came from 0 or went to it, so that its jump's guard may change.
 */
static int guard_tally(NftLayout *L, const Filter *f, int delta, uint8_t element[static 16], bool *ret_flip) {
        long at_flip = delta > 0 ? 1 : 0, n;

        *ret_flip = false;
        if (!guard_element(f, element)) {
                n = guard_count(L, f->sublayer, f->layer, 'W', NULL, delta);
                *ret_flip = n == at_flip;
                return n < 0 ? -ENOMEM : 0;
        }
        n = guard_count(L, f->sublayer, f->layer, 'E', element, delta);
        if (n < 0)
                return -ENOMEM;
        if (n != at_flip)
                return 0;               /* the element was there, or stays */
        n = guard_count(L, f->sublayer, f->layer, 'N', NULL, delta);
        *ret_flip = n == at_flip;
        return n < 0 ? -ENOMEM : 1;
}

static void guard_set_name(unsigned id, char buf[static NFT_SET_MAXNAMELEN]) {
        snprintf(buf, NFT_SET_MAXNAMELEN, "guard_%u", id);
}

static struct nftnl_set *guard_set_ref(const NftConfig *c, unsigned id) {
        char name[NFT_SET_MAXNAMELEN];

        guard_set_name(id, name);
        return set_ref(c, name);
}

static int guard_element_msg(const NftConfig *c, NftBatch *b, unsigned id, WfpLayer l, const uint8_t *element,
                             uint16_t type) {
        _cleanup_(nftnl_set_freep) struct nftnl_set *s = guard_set_ref(c, id);
        struct nftnl_set_elem *el;

        if (!s || !(el = nftnl_set_elem_alloc()))
                return -ENOMEM;
        nftnl_set_elem_set(el, NFTNL_SET_ELEM_KEY, element, (uint32_t) guard_len(l));
        nftnl_set_elem_add(s, el);
        return emit_set_msg(b, type, s, type == NFT_MSG_NEWSETELEM ? "a guard element" : "a guard element's deletion");
}

static int guard_set_emit(const NftConfig *c, NftBatch *b, unsigned id, WfpLayer l) {
        _cleanup_(nftnl_set_freep) struct nftnl_set *s = NULL;
        char name[NFT_SET_MAXNAMELEN];
        int k;

        guard_set_name(id, name);
        k = new_set(c, name, b->set_id_next++, 0, (uint32_t) guard_len(l),
                    guard_len(l) == 4 ? NFT_TYPE_IPADDR : NFT_TYPE_IP6ADDR, &s);
        return k < 0 ? k : emit_set_msg(b, NFT_MSG_NEWSET, s, "a sublayer's guard");
}

/* A filter of a guarded layer comes (@delta 1) or goes (-1): the counts, and its element. */
int guard_note(const NftConfig *c, NftLayout *L, NftBatch *b, const Filter *f, int delta) {
        NftSublayerState *ss = nft_layout_sublayer(L, f->sublayer);
        uint8_t element[16];
        bool flip;
        int k;

        if (!guard_layer(c, f->layer) || !ss)
                return 0;
        k = guard_tally(L, f, delta, element, &flip);
        if (flip)
                guard_dirty(ss, f->layer);
        if (k <= 0)
                return k;
        if (ss->guard_id[f->layer] == 0) {
                k = NFT_SET(b, ss->guard_id[f->layer], guard_next_id++);
                if (k >= 0)
                        k = guard_set_emit(c, b, ss->guard_id[f->layer], f->layer);
        }
        return k < 0 ? k : guard_element_msg(c, b, ss->guard_id[f->layer], f->layer, element,
                                             delta > 0 ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM);
}

/* Whether @s's jump in layer @l should look its guard up: it has one, with elements, and no wide filter. */
static bool guard_wanted(const NftConfig *c, NftLayout *L, const Sublayer *s, WfpLayer l) {
        return guard_layer(c, l) && SS(L, s)->guard_id[l] != 0 && guard_count(L, s, l, 'N', NULL, 0) > 0 &&
               guard_count(L, s, l, 'W', NULL, 0) == 0;
}

/*
 * @s's guard in layer @l written whole, for a table written whole: counted from its list (the
 * counts start from nothing), the set with every element, and whether the jump looks it up.
 * With @layout_only (nft_compile_layout()), as the bookkeeping has it: nothing is changed.
 */
int guard_emit_whole(const NftConfig *c, NftLayout *L, NftBatch *b, const Sublayer *s, WfpLayer l, bool layout_only) {
        NftSublayerState *ss = nft_layout_sublayer(L, s);
        unsigned id;
        int k = 0;

        if (!guard_layer(c, l) || !ss)
                return 0;
        if (layout_only) {
                id = ss->guard_id[l];
                if (id == 0)
                        return 0;
        } else {
                for (const Filter *f = s->filters_head[l]; k >= 0 && f; f = f->lnext) {
                        uint8_t element[16];
                        bool flip;

                        k = guard_tally(L, f, 1, element, &flip);
                }
                id = guard_count(L, s, l, 'N', NULL, 0) > 0 ? guard_next_id++ : 0;
                if (k >= 0)
                        k = NFT_SET(b, ss->guard_id[l], id);
                if (k >= 0)
                        k = NFT_SET(b, ss->guarded[l], guard_wanted(c, L, s, l));
                if (k < 0 || id == 0)
                        return k;
        }
        k = guard_set_emit(c, b, id, l);
        /* each element once */
        KeyMap seen = {};
        for (const Filter *f = s->filters_head[l]; k >= 0 && f; f = f->lnext) {
                uint8_t element[16];

                if (!guard_element(f, element) || keymap_get(&seen, element))
                        continue;
                k = keymap_put(&seen, element, (void *) f);
                if (k >= 0)
                        k = guard_element_msg(c, b, id, l, element, NFT_MSG_NEWSETELEM);
        }
        keymap_done(&seen);
        return k;
}

/* The guard's lookup at the start of @s's jump rule in layer @l, if it has one: the packet's remote
 * address, cut to the guard's bits, in guard_<id>. */
int guard_put_lookup(struct nftnl_rule *r, const NftLayout *L, const Sublayer *s, WfpLayer l) {
        const NftSublayerState *ss = SS(L, s);
        bool v4 = guard_len(l) == 4, source = wfp_layer_is_inbound(l);
        uint8_t mask[16] = {};
        char name[NFT_SET_MAXNAMELEN];
        int k;

        if (!ss->guarded[l])
                return 0;
        memset(mask, 0xff, guard_bits(l) / 8);
        guard_set_name(ss->guard_id[l], name);
        /* saddr or daddr in the IPv4 (12, 16) or IPv6 header (8, 24); the family first only so that
         * `nft list` can name them (`ip saddr & 255.0.0.0 @guard_3`) */
        k = put_nfproto(r, v4 ? 4 : 6);
        if (k >= 0)
                k = put_payload_to(r, NFT_PAYLOAD_NETWORK_HEADER, v4 ? (source ? 12 : 16) : (source ? 8 : 24),
                           (uint32_t) guard_len(l), NFT_REG_1);
        if (k >= 0)
                k = put_bitwise_and_at(r, NFT_REG_1, mask, (uint32_t) guard_len(l));
        return k < 0 ? k : put_lookup(r, name, 0);
}

/* Puts @s's jump in layer @l anew where its guard's use changes; @emit puts a jump (compile.c). */
int guard_update_jumps(const Engine *e, const NftConfig *c, NftLayout *L, NftBatch *b,
                       int (*emit)(const NftConfig *c, NftLayout *L, NftBatch *b, WfpLayer l, const Sublayer *s)) {
        int k = 0;

        if (guard_dirty_n == 0)
                return 0;
        guard_dirty_n = 0;
        for (const Sublayer *s = engine_sublayers(e); k >= 0 && s; s = s->next) {
                NftSublayerState *ss = s->live ? nft_layout_sublayer(L, s) : NULL;

                for (WfpLayer l = 0; k >= 0 && ss && l < _WFP_LAYER_MAX; l++) {
                        bool want;

                        if (!ss->guard_dirty[l])
                                continue;
                        ss->guard_dirty[l] = false;
                        if (!guard_layer(c, l) || ss->jump_handle[l] == 0)
                                continue;
                        want = guard_wanted(c, L, s, l);
                        if (want == ss->guarded[l])
                                continue;
                        k = NFT_SET(b, ss->guarded[l], want);
                        if (k >= 0)
                                k = emit(c, L, b, l, s);
                }
        }
        return k;
}

/* A deleted sublayer's guard in layer @l goes, after the jump that used it. */
int guard_emit_delete(const NftConfig *c, NftLayout *L, NftBatch *b, const Sublayer *s, WfpLayer l) {
        _cleanup_(nftnl_set_freep) struct nftnl_set *set = NULL;
        unsigned id = SS(L, s)->guard_id[l];

        if (id == 0)
                return 0;
        set = guard_set_ref(c, id);
        return set ? emit_set_msg(b, NFT_MSG_DELSET, set, "deletion of a sublayer's guard") : -ENOMEM;
}

/* The guard counts of every list, from the placed filters (the caches were built again). */
int guard_recount(const Engine *e, const NftConfig *c, NftLayout *L) {
        for (const Sublayer *s = engine_sublayers(e); s; s = s->next)
                for (WfpLayer l = 0; l < _WFP_LAYER_MAX; l++) {
                        if (!guard_layer(c, l) || !nft_layout_sublayer(L, s))
                                continue;
                        for (const Filter *f = s->filters_head[l]; f; f = f->lnext) {
                                const NftFilterState *fs = nft_layout_filter(L, f);
                                uint8_t element[16];
                                bool flip;

                                if (fs && (fs->chunk || fs->run) && guard_tally(L, f, 1, element, &flip) < 0)
                                        return -ENOMEM;
                        }
                }
        return 0;
}
