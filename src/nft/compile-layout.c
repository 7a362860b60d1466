/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * compile-layout.c — the runs of like filters that share one set lookup: which filters can be in
 * one, their sets and elements, and the rule the run's carrier holds (placed in its chunk by
 * compile-chunks.c). Every change to this bookkeeping goes through the batch's undo log
 * (NFT_SET), so a refused batch leaves it as it was.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "budget.h"
#include "compile.h"
#include "compile-internal.h"
#include "keymap.h"
#include "macro.h"
#include "text.h"

/* ---- runs (FilterRuns=yes; see NftRun in compile.h) ------------------------------------ */

/* The fields of a run's key, in key order; bit k of NftRun.shape is run_fields[k]. */
static const WfpField run_fields[] = {
        WFP_FIELD_IP_PROTOCOL, WFP_FIELD_IP_LOCAL_PORT, WFP_FIELD_IP_REMOTE_PORT,
        WFP_FIELD_IP_LOCAL_ADDRESS, WFP_FIELD_IP_REMOTE_ADDRESS,
};
#define RUN_PROTOCOL  1u
#define RUN_PORTS     (2u | 4u)
#define RUN_ADDRESSES (8u | 16u)
/* An address field's prefix length (full for an exact address) in the shape, above the field bits:
 * members of one run have the same, so their masked addresses are disjoint as exact keys are. */
#define RUN_PLEN_SHIFT(k) ((k) == 3 ? 8u : 16u)
/* Terminating IPsec callouts (without a clear-text fallback) run with like callouts only, soft and
 * hard apart: the run's rule ends in the callout's verdict map on the secured bit. */
#define RUN_CALLOUT      (1u << 24)
#define RUN_CALLOUT_HARD (1u << 25)
/* A member's port range, on the local or the remote port, is cut into aligned blocks of 16, 4 and
 * 1 ports (run_block_bits), each block an element of the run's set of its size: such a run has a
 * set and a rule for each size (run_<id>_b16, _b4, _b1), and each rule masks the packet's port to
 * its size before the lookup. A range of 2–64 ports is 7 elements on average instead of 33:
 * doc/benchmark.md, "Port ranges as blocks". Members with one port or two ranges have no blocks. */
#define RUN_BLOCKS_LOCAL  (1u << 26)
#define RUN_BLOCKS_REMOTE (1u << 27)
#define RUN_BLOCKS        (RUN_BLOCKS_LOCAL | RUN_BLOCKS_REMOTE)
static const unsigned run_block_bits[RUN_BLOCK_SIZES] = { 4, 2, 0 };
#define RUN_KEY_MAX   64                /* the registers: 4 + 4 + 4 + 16 + 16 bytes at most */
#define RUN_ELEMENTS_PER_MESSAGE 128    /* an element with its comment is under 256 bytes */
/* A member's ports at most (the product of its two port fields'): bfed keeps a key for each port
 * (run->keys), and the kernel an element for each block of a range (RUN_BLOCKS). */
#define RUN_RANGE_MAX 64
/* what the kernel takes of an element: its key, and its userdata (the comment in a TLV) */
_Static_assert(RUN_KEY_MAX <= NFT_DATA_VALUE_MAXLEN, "a run's key must fit a set key");
_Static_assert(2 + NFT_COMMENT_MAX + 1 <= NFT_USERDATA_MAXLEN, "an element's comment must fit its userdata");

static unsigned run_next_id = 1;

static unsigned port_at(const uint8_t *p) {
        return (unsigned) p[0] << 8 | p[1];
}

/* How many ports a port condition holds (big-endian [lo, hi]). */
static size_t port_count(const Condition *cd) {
        unsigned lo = port_at(cd->lo), hi = port_at(cd->hi);

        return hi >= lo ? hi - lo + 1 : 0;
}

/* Clears the bits of @v (@n bytes) after the first @plen. */
static void prefix_mask_apply(uint8_t *v, size_t n, unsigned plen) {
        for (size_t b = 0; b < n; b++) {
                unsigned keep = plen >= (b + 1) * 8u ? 8u : plen > b * 8u ? plen - b * 8u : 0u;

                v[b] &= (uint8_t) (0xff00u >> keep);
        }
}

/*
 * @f's shape as a run member, or 0 when it cannot be one: runs are off, it is an exemption, a
 * condition is not one exact value of a run field (or, for an address, one prefix: the run looks
 * the masked address up; for a port, a range of at most RUN_RANGE_MAX ports, in blocks, on one of
 * the two port fields), a negation, the same field twice, or it matches a port without the
 * protocol that gives the port its meaning.
 */
unsigned run_shape(const NftConfig *c, const Filter *f) {
        unsigned shape = 0;
        size_t elements = 1;

        if (!c->filter_runs || f->n_conditions == 0 || f->engine_owned)
                return 0;       /* the exemptions keep rules of their own, as `nft list` shows them */
        if (f->action == WFP_ACTION_CALLOUT_TERMINATING && !filter_callout_passes_clear(f))
                shape |= RUN_CALLOUT | (f->flags & WFP_FILTER_FLAG_CLEAR_ACTION_RIGHT ? RUN_CALLOUT_HARD : 0);
        for (size_t i = 0; i < f->n_conditions; i++) {
                const Condition *cd = &f->conditions[i];
                bool address = cd->field == WFP_FIELD_IP_LOCAL_ADDRESS || cd->field == WFP_FIELD_IP_REMOTE_ADDRESS;
                size_t k = 0;
                int plen;

                while (k < ELEMENTSOF(run_fields) && run_fields[k] != cd->field)
                        k++;
                if (k == ELEMENTSOF(run_fields) || cd->negate || (shape & (1u << k)) ||
                    !(cd->match == WFP_MATCH_EQUAL || (cd->match == WFP_MATCH_RANGE && (RUN_PORTS & (1u << k)))))
                        return 0;
                plen = address ? condition_prefix_len(cd) : -1;
                if (RUN_PORTS & (1u << k)) {
                        elements *= port_count(cd);
                        if (port_count(cd) > 1)
                                shape |= k == 1 ? RUN_BLOCKS_LOCAL : RUN_BLOCKS_REMOTE;
                } else if (address ? plen <= 0 : !condition_is_single(cd))
                        return 0;
                if (elements > RUN_RANGE_MAX)
                        return 0;
                shape |= 1u << k;
                if (address)
                        shape |= (unsigned) plen << RUN_PLEN_SHIFT(k);
        }
        if ((shape & RUN_PORTS) && (!(shape & RUN_PROTOCOL) || filter_ports_typed(f)))
                return 0; /* a port needs its protocol, and ICMP's are a type and a code */
        if ((shape & RUN_BLOCKS) == RUN_BLOCKS)
                return 0; /* blocks of two ranges would be a rule for each pair of sizes */
        return shape;
}

/* How many sets and rules a run of @shape has: one for each block size, or one. */
static unsigned run_sizes(unsigned shape) {
        return shape & RUN_BLOCKS ? RUN_BLOCK_SIZES : 1;
}

/* The port field (in run_fields) whose ranges a run of @shape cuts into blocks. */
static size_t block_field(unsigned shape) {
        return shape & RUN_BLOCKS_LOCAL ? 1 : 2;
}

/* The index in run_block_bits of the block that starts at @port: the largest aligned one that
 * ends by @hi. */
static unsigned block_at(unsigned port, unsigned hi) {
        unsigned j = 0;

        while (j < RUN_BLOCK_SIZES - 1 &&
               (port & ((1u << run_block_bits[j]) - 1) || port + (1u << run_block_bits[j]) - 1 > hi))
                j++;
        return j;
}

static const Condition *condition_on(const Filter *f, WfpField field) {
        for (size_t i = 0; i < f->n_conditions; i++)
                if (f->conditions[i].field == field)
                        return &f->conditions[i];
        return NULL;
}

/* Appends @n bytes of @value to a run's key of @len bytes, in whole 32-bit registers when the key
 * is a concatenation (@shape has more than one field); a lone field is its own length, as nft
 * has it (nft 1.0.6 cannot print a protocol padded to a register). */
static size_t key_append(unsigned shape, uint8_t key[static RUN_KEY_MAX], size_t len, const uint8_t *value,
                         size_t n) {
        unsigned fields = shape & ((1u << ELEMENTSOF(run_fields)) - 1);
        size_t padded = fields & (fields - 1) ? (n + 3u) & ~3u : n;

        memset(key + len, 0, padded);
        memcpy(key + len, value, n);
        return len + padded;
}

/* How many elements @f has in a run of @shape: the product of its port ranges' sizes. */
static size_t run_key_count(const Filter *f, unsigned shape) {
        size_t n = 1;

        for (size_t k = 0; k < ELEMENTSOF(run_fields); k++)
                if (shape & RUN_PORTS & (1u << k))
                        n *= port_count(condition_on(f, run_fields[k]));
        return n;
}

/* @f's element @i: its values in key order, the ports counted up from their ranges' starts. */
static size_t run_key_nth(const Filter *f, unsigned shape, size_t i, uint8_t key[static RUN_KEY_MAX]) {
        size_t len = 0;

        for (size_t k = 0; k < ELEMENTSOF(run_fields); k++)
                if (shape & (1u << k)) {
                        const Condition *cd = condition_on(f, run_fields[k]);

                        if (RUN_PORTS & (1u << k)) {
                                size_t n = port_count(cd);
                                unsigned port = port_at(cd->lo) + (unsigned) (i % n);
                                uint8_t v[2] = { (uint8_t) (port >> 8), (uint8_t) port };

                                i /= n;
                                len = key_append(shape, key, len, v, 2);
                        } else
                                len = key_append(shape, key, len, cd->lo, cd->len);
                }
        return len;
}

static size_t run_key(const Filter *f, unsigned shape, uint8_t key[static RUN_KEY_MAX]) {
        return run_key_nth(f, shape, 0, key);
}

/*
 * A run's keys. A set holds each key once, so two members with the same values (two like
 * filters, say at different weights) cannot share a run: the second would have no element of
 * its own to delete. An open-addressing table of the members by each of their elements (a
 * member with port ranges is in it once per port), with tombstones where members left; it is
 * built again from the members when it fills up, and after a refused batch rolled them back.
 */
static const Filter keys_tomb;
#define KEYS_TOMB (&keys_tomb)

/* Whether @key is one of @f's elements: each field's part of it is @f's value, or in its range. */
static bool member_has_key(const NftRun *run, const Filter *f, const uint8_t *key, size_t len) {
        unsigned fields = run->shape & ((1u << ELEMENTSOF(run_fields)) - 1);
        bool padded = fields & (fields - 1);
        size_t at = 0;

        for (size_t k = 0; k < ELEMENTSOF(run_fields); k++) {
                const Condition *cd;

                if (!(run->shape & (1u << k)))
                        continue;
                cd = condition_on(f, run_fields[k]);
                if (at + cd->len > len)
                        return false;
                if (RUN_PORTS & (1u << k)) {
                        unsigned v = port_at(key + at);

                        if (v < port_at(cd->lo) || v > port_at(cd->hi))
                                return false;
                } else if (memcmp(key + at, cd->lo, cd->len) != 0)
                        return false;
                at += padded ? (cd->len + 3u) & ~3u : cd->len;
        }
        return at == len;
}

/* The slot of @key: the member that has it, or (@for_insert) the first free one on its way. */
static size_t keys_slot(const NftRun *run, const uint8_t *key, size_t len, bool for_insert) {
        size_t mask = run->n_key_slots - 1, i = hash_bytes(key, len) & mask, free_slot = SIZE_MAX;

        for (; run->keys[i]; i = (i + 1) & mask)
                if (run->keys[i] == KEYS_TOMB) {
                        if (free_slot == SIZE_MAX)
                                free_slot = i;
                } else if (member_has_key(run, run->keys[i], key, len))
                        return i;
        return for_insert && free_slot != SIZE_MAX ? free_slot : i;
}

static void keys_put(NftRun *run, const Filter *f) {
        uint8_t key[RUN_KEY_MAX];

        for (size_t i = 0, n = run_key_count(f, run->shape); i < n; i++) {
                size_t len = run_key_nth(f, run->shape, i, key), at = keys_slot(run, key, len, true);

                if (run->keys[at] == KEYS_TOMB)
                        run->n_key_tombs--;
                if (run->keys[at] != f)
                        run->n_keys++;
                run->keys[at] = f;
        }
}

/* The table built afresh from the members, with room for @more elements. */
static int keys_build(const NftLayout *L, NftRun *run, size_t more) {
        size_t want = more, n = 8;
        const Filter **keys;

        for (const Filter *f = run->head; f; f = FS(L, f)->run_next)
                want += run_key_count(f, run->shape);
        while (n < 2 * want)
                n *= 2;
        keys = calloc(n, sizeof(*keys));
        if (!keys)
                return -ENOMEM;
        free(run->keys);
        run->keys = keys;
        run->n_key_slots = n;
        run->n_keys = run->n_key_tombs = 0;
        for (const Filter *f = run->head; f; f = FS(L, f)->run_next)
                keys_put(run, f);
        run->keys_refusals = nft_batch_refusals;
        return 0;
}

/* @f, linked into the run's members already, into the table. */
static int keys_add(const NftLayout *L, NftRun *run, const Filter *f) {
        size_t n = run_key_count(f, run->shape);

        if (2 * (run->n_keys + run->n_key_tombs + n) > run->n_key_slots)
                return keys_build(L, run, 0);
        keys_put(run, f);
        return 0;
}

static void keys_remove(NftRun *run, const Filter *f) {
        uint8_t key[RUN_KEY_MAX];

        if (!run->keys)
                return;
        for (size_t i = 0, n = run_key_count(f, run->shape); i < n; i++) {
                size_t len = run_key_nth(f, run->shape, i, key), at = keys_slot(run, key, len, false);

                if (run->keys[at] == f) {
                        run->keys[at] = KEYS_TOMB;
                        run->n_keys--;
                        run->n_key_tombs++;
                }
        }
}

/* Makes the table match the members, if a refused batch has changed them since. */
static int keys_sync(const NftLayout *L, NftRun *run) {
        if (run->keys && run->keys_refusals == nft_batch_refusals)
                return 0;
        return keys_build(L, run, 0);
}

/* A run leaves its layout's map of runs by id (layout.h) as it is freed. */
void run_free(void *p) {
        NftRun *run = p;

        if (!run)
                return;
        if (run->layout)
                nft_layout_run_forget(run->layout, run);
        free(run->keys);
        free(run->joined);
        free(run);
}

static unsigned run_plen(unsigned shape, size_t k) {
        return (shape >> RUN_PLEN_SHIFT(k)) & 0xffu;
}

/*
 * Calls @fn for each member of @run that has an element @f's values can make: @f names every
 * field of the run's key with one value, a port range (the product at most RUN_RANGE_MAX), or an
 * address prefix at least as long as the run's. -EDOM when it does not: then any member may
 * match a packet @f matches.
 */
int run_members_meeting(const NftLayout *L, NftRun *run, const Filter *f, int (*fn)(const Filter *g, void *userdata),
                        void *userdata) {
        const Condition *conds[ELEMENTSOF(run_fields)] = {};
        size_t counts[ELEMENTSOF(run_fields)], total = 1;
        int k = keys_sync(L, run);

        if (k < 0)
                return k;
        for (size_t i = 0; i < ELEMENTSOF(run_fields); i++) {
                const Condition *cd = NULL;

                counts[i] = 1;
                if (!(run->shape & (1u << i)))
                        continue;
                for (size_t j = 0; j < f->n_conditions; j++)
                        if (f->conditions[j].field == run_fields[i]) {
                                if (cd)
                                        return -EDOM;   /* ORed values */
                                cd = &f->conditions[j];
                        }
                if (!cd || cd->negate || !(cd->match == WFP_MATCH_EQUAL || cd->match == WFP_MATCH_RANGE))
                        return -EDOM;
                if (RUN_PORTS & (1u << i))
                        counts[i] = port_count(cd);
                else if (RUN_ADDRESSES & (1u << i) ? condition_prefix_len(cd) < (int) run_plen(run->shape, i)
                                                   : !condition_is_single(cd))
                        return -EDOM;
                conds[i] = cd;
                total *= counts[i];
                if (total == 0 || total > RUN_RANGE_MAX)
                        return -EDOM;
        }
        for (size_t n = 0; k == 0 && n < total; n++) {
                uint8_t key[RUN_KEY_MAX];
                const Filter *g;
                size_t len = 0, rest = n;

                for (size_t i = 0; i < ELEMENTSOF(run_fields); i++) {
                        uint8_t v[16];

                        if (!conds[i])
                                continue;
                        memcpy(v, conds[i]->lo, conds[i]->len);
                        if (RUN_PORTS & (1u << i)) {
                                unsigned port = port_at(conds[i]->lo) + (unsigned) (rest % counts[i]);

                                v[0] = (uint8_t) (port >> 8);
                                v[1] = (uint8_t) port;
                        } else if (RUN_ADDRESSES & (1u << i))
                                prefix_mask_apply(v, conds[i]->len, run_plen(run->shape, i));
                        rest /= counts[i];
                        len = key_append(run->shape, key, len, v, conds[i]->len);
                }
                g = run->keys[keys_slot(run, key, len, false)];
                if (g && g != KEYS_TOMB)
                        k = fn(g, userdata);
        }
        return k;
}

const Filter *run_member(const NftLayout *L, const NftRun *run, const NftRunValues *v) {
        /* in the order of run_fields */
        const struct { const uint8_t *p; size_t n; } values[] = {
                { &v->proto, 1 }, { v->local_port, 2 }, { v->remote_port, 2 },
                { v->local_addr, v->addr_len }, { v->remote_addr, v->addr_len },
        };
        uint8_t key[RUN_KEY_MAX];
        const Filter *f;
        size_t len = 0;

        /* the table is a cache of the members: built again after a refused batch */
        if ((run->shape & RUN_PORTS) && !v->has_ports)
                return NULL;
        if (keys_sync(L, (NftRun *) run) < 0 || !run->keys)
                return NULL;
        for (size_t k = 0; k < ELEMENTSOF(run_fields); k++)
                if (run->shape & (1u << k)) {
                        uint8_t masked[16];

                        memcpy(masked, values[k].p, values[k].n);
                        if (run->shape & RUN_ADDRESSES & (1u << k))
                                prefix_mask_apply(masked, values[k].n, (run->shape >> RUN_PLEN_SHIFT(k)) & 0xffu);
                        len = key_append(run->shape, key, len, masked, values[k].n);
                }
        f = run->keys[keys_slot(run, key, len, false)];
        return f == KEYS_TOMB ? NULL : f;
}

/* Whether @f may join @run: like its members, and with elements none of them has. */
int run_admits(const NftConfig *c, const NftLayout *L, NftRun *run, const Filter *f) {
        uint8_t key[RUN_KEY_MAX];
        int k;

        if (!run || run->shape != run_shape(c, f) || run->verdict != verdict_of(f))
                return 0;
        k = keys_sync(L, run);
        if (k < 0)
                return k;
        for (size_t i = 0, n = run_key_count(f, run->shape); i < n; i++) {
                const Filter *g = run->keys[keys_slot(run, key, run_key_nth(f, run->shape, i, key), false)];

                if (g && g != KEYS_TOMB)
                        return 0;
        }
        return 1;
}

/* The name of the run's set @j: run_<id>, or with port blocks run_<id>_b<size>. */
static void run_set_name(const NftRun *run, unsigned j, char buf[static NFT_SET_MAXNAMELEN]) {
        if (run->shape & RUN_BLOCKS)
                snprintf(buf, NFT_SET_MAXNAMELEN, "run_%u_b%u", run->id, 1u << run_block_bits[j]);
        else
                snprintf(buf, NFT_SET_MAXNAMELEN, "run_%u", run->id);
}

/* The run's set @j: keyed by the concatenated fields, with a counter on every element. */
static int run_set_new(const NftConfig *c, NftBatch *b, const NftRun *run, unsigned j, struct nftnl_set **ret) {
        static const uint32_t types[] = { NFT_TYPE_INET_PROTOCOL, NFT_TYPE_INET_SERVICE, NFT_TYPE_INET_SERVICE };
        int family = wfp_layer_info(run->carrier->layer)->family;
        uint8_t key[RUN_KEY_MAX];
        char name[NFT_SET_MAXNAMELEN];
        struct nftnl_set *s;
        struct nftnl_expr *counter;
        uint32_t type = 0;
        size_t len;
        int k;

        len = run_key(run->carrier, run->shape, key);
        for (size_t i = 0; i < ELEMENTSOF(run_fields); i++)
                if (run->shape & (1u << i))     /* nft's concatenated type, for `nft list` */
                        type = type << 6 | (i < 3 ? types[i] : family == 4 ? NFT_TYPE_IPADDR : NFT_TYPE_IP6ADDR);
        run_set_name(run, j, name);
        k = new_set(c, name, b->set_id_next++, 0, (uint32_t) len, type, &s);
        if (k < 0)
                return k;
        counter = nftnl_expr_alloc("counter");
        if (!counter) {
                nftnl_set_free(s);
                return -ENOMEM;
        }
        nftnl_set_add_expr(s, counter);
        *ret = s;
        return 0;
}

static struct nftnl_set *run_set_ref(const NftConfig *c, const NftRun *run, unsigned j) {
        char name[NFT_SET_MAXNAMELEN];

        run_set_name(run, j, name);
        return set_ref(c, name);
}

/*
 * One element of @f (its @i-th), the @index-th of the message @nlh: its key, and for NEWSETELEM
 * @udata, its filter's comment (element_udata()). Written into the batch as libnftnl writes it,
 * without libnftnl's objects: an element object, a userdata buffer and their copies cost more
 * than the rest of a run's compiling (a commit of 100,000 elements).
 */
static void run_element_put(struct nlmsghdr *nlh, unsigned index, const NftRun *run, const Filter *f, size_t i,
                            const uint8_t *udata, size_t udata_len) {
        struct nlattr *element = mnl_attr_nest_start(nlh, index), *key_nest;
        uint8_t key[RUN_KEY_MAX];
        size_t len = run_key_nth(f, run->shape, i, key);

        key_nest = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_KEY);
        mnl_attr_put(nlh, NFTA_DATA_VALUE, len, key);
        mnl_attr_nest_end(nlh, key_nest);
        if (udata)
                mnl_attr_put(nlh, NFTA_SET_ELEM_USERDATA, udata_len, udata);
        mnl_attr_nest_end(nlh, element);
}

/* @f's comment as one nftnl_udata TLV (type, length, the string with its NUL), as libnftnl writes
 * it; the same for each of its elements (a port range has up to 64). Returns its length. */
static size_t element_udata(const Filter *f, uint8_t udata[static 2 + NFT_COMMENT_MAX + 1]) {
        size_t len = nft_filter_comment(f->id, f->name, (char *) udata + 2) + 1;

        udata[0] = NFTNL_UDATA_SET_ELEM_COMMENT;
        udata[1] = (uint8_t) len;
        return 2 + len;
}

/* A NEWSETELEM or DELSETELEM message about set @name, its list of elements open. */
static struct nlmsghdr *elements_msg_start(const NftConfig *c, NftBatch *b, uint16_t type, const char *name,
                                           struct nlattr **ret_list) {
        struct nlmsghdr *nlh = msg_start(b, type, type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE | NLM_F_ACK : NLM_F_ACK);

        if (!nlh)
                return NULL;
        mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, name);
        mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, c->table);
        *ret_list = mnl_attr_nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
        return nlh;
}

/* @f's first element in set @j from @i on (a port counted from its range's start; with port
 * blocks the start of a block): @i itself, or the next block of @j's size. */
static size_t element_from(const NftRun *run, const Filter *f, size_t i, unsigned j) {
        const Condition *cd;
        unsigned lo, hi, at;

        if (!(run->shape & RUN_BLOCKS))
                return i;
        cd = condition_on(f, run_fields[block_field(run->shape)]);
        lo = port_at(cd->lo);
        hi = port_at(cd->hi);
        for (at = lo + (unsigned) i; at <= hi && block_at(at, hi) != j; at += 1u << run_block_bits[block_at(at, hi)])
                ;
        return at - lo;
}

/* NEWSETELEM or DELSETELEM for the elements in set @j of @n members: @v's, or (@v NULL) the run's
 * from @from on; at most RUN_ELEMENTS_PER_MESSAGE a message. */
static int emit_elements_of(const NftConfig *c, const NftLayout *L, NftBatch *b, const NftRun *run, unsigned j,
                            const Filter *from, const Filter *const *v, size_t n, uint16_t type) {
        char name[NFT_SET_MAXNAMELEN], what[NFT_SET_MAXNAMELEN + 64];
        size_t step = run->shape & RUN_BLOCKS ? 1u << run_block_bits[j] : 1; /* from one element to the next */
        struct nlmsghdr *nlh = NULL;
        struct nlattr *list = NULL;
        unsigned in_message = 0;
        int k = 0;

        run_set_name(run, j, name);
        snprintf(what, sizeof(what), "%s of set %s", type == NFT_MSG_NEWSETELEM ? "elements" : "deletion of elements",
                 name);
        for (size_t x = 0; k >= 0 && x < n; x++) {
                const Filter *f = v ? v[x] : from;
                uint8_t udata[2 + NFT_COMMENT_MAX + 1];
                size_t udata_len;

                if (!f)
                        break;
                if (!v)
                        from = FS(L, f)->run_next;
                udata_len = type == NFT_MSG_NEWSETELEM ? element_udata(f, udata) : 0;
                for (size_t i = element_from(run, f, 0, j), count = run_key_count(f, run->shape); k >= 0 && i < count;
                     i = element_from(run, f, i + step, j)) {
                        if (!nlh && !(nlh = elements_msg_start(c, b, type, name, &list)))
                                return -ENOMEM;
                        run_element_put(nlh, ++in_message, run, f, i, udata_len ? udata : NULL, udata_len);
                        if (in_message == RUN_ELEMENTS_PER_MESSAGE) {
                                mnl_attr_nest_end(nlh, list);
                                k = nft_batch_commit_msg(b, nlh, NULL, what);
                                nlh = NULL;
                                in_message = 0;
                        }
                }
        }
        if (nlh && k >= 0) {
                mnl_attr_nest_end(nlh, list);
                k = nft_batch_commit_msg(b, nlh, NULL, what);
        }
        return k;
}

/* The elements of @n members from @from on (or @v's), in each of the run's sets. */
static int emit_run_elements(const NftConfig *c, const NftLayout *L, NftBatch *b, const NftRun *run,
                             const Filter *from, const Filter *const *v, size_t n, uint16_t type) {
        int k = 0;

        for (unsigned j = 0; k >= 0 && j < run_sizes(run->shape); j++)
                k = emit_elements_of(c, L, b, run, j, from, v, n, type);
        return k;
}

/*
 * Members that join a run in a batch have their elements written together, in as few messages
 * as the sets need: the kernel looks the set up by name for every message, walking all the
 * table's sets, and 100,000 filters joining one by one (P2-mixed) were 100,000 such walks, a
 * fifth of the Commit. Whatever else a batch does to a run's elements (a member's deletion, the
 * set written whole or deleted) comes after the joins before it: joined_write() first.
 */
static int joined_add(NftLayout *L, NftBatch *b, NftRun *run, const Filter *f) {
        if (run->joined_in != b->serial) {
                NftRun **list = nft_layout_joined_runs(L);

                run->n_joined = 0;
                run->joined_in = b->serial;
                run->joined_next = *list;
                *list = run;
        }
        if (run->n_joined == run->joined_cap) {
                size_t cap = run->joined_cap ? 2 * run->joined_cap : 8;
                const Filter **v = reallocarray(run->joined, cap, sizeof(*v));

                if (!v)
                        return -ENOMEM;
                run->joined = v;
                run->joined_cap = cap;
        }
        run->joined[run->n_joined++] = f;
        return 0;
}

/* The elements of @run's members that joined in @b, written now. */
static int joined_write(const NftConfig *c, const NftLayout *L, NftBatch *b, NftRun *run) {
        size_t n = run->joined_in == b->serial ? run->n_joined : 0;
        int k;

        if (n == 0)
                return 0;
        k = emit_run_elements(c, L, b, run, NULL, run->joined, n, NFT_MSG_NEWSETELEM);
        run->n_joined = run->joined_cap = 0;
        run->joined = mfree(run->joined);
        return k;
}

int runs_write_joined(const NftConfig *c, NftLayout *L, NftBatch *b) {
        NftRun **list = nft_layout_joined_runs(L);
        int k = 0;

        for (NftRun *run = *list; k >= 0 && run; run = run->joined_next)
                k = joined_write(c, L, b, run);
        *list = NULL;
        return k;
}

/* A new run's sets, with the elements of its @n members from @from on. */
int emit_run_set(const NftConfig *c, const NftLayout *L, NftBatch *b, NftRun *run, const Filter *from, size_t n) {
        int k = 0;

        if (run->joined_in == b->serial)
                run->n_joined = 0;      /* they are the run's members: written with the set */

        for (unsigned j = 0; k >= 0 && j < run_sizes(run->shape); j++) {
                _cleanup_(nftnl_set_freep) struct nftnl_set *s = NULL;

                k = run_set_new(c, b, run, j, &s);
                if (k >= 0)
                        k = emit_set_msg(b, NFT_MSG_NEWSET, s, "a run's set");
        }
        return k < 0 ? k : emit_run_elements(c, L, b, run, from, NULL, n, NFT_MSG_NEWSETELEM);
}

int emit_delete_run_set(const NftConfig *c, NftBatch *b, NftRun *run) {
        int k = 0;

        if (run->joined_in == b->serial)
                run->n_joined = 0;      /* the set goes */

        for (unsigned j = 0; k >= 0 && j < run_sizes(run->shape); j++) {
                _cleanup_(nftnl_set_freep) struct nftnl_set *s = run_set_ref(c, run, j);

                k = s ? emit_set_msg(b, NFT_MSG_DELSET, s, "deletion of a run's set") : -ENOMEM;
        }
        return k;
}

/* The run's rule for its set @j: the packet's fields side by side in the registers (with port
 * blocks, the port masked to the set's size), looked up in the set. */
int run_rule_build(const NftConfig *c, const NftRun *run, unsigned j, const char *chain, struct nftnl_rule **ret) {
        RuleBuild rb = { .config = c, .filter = run->carrier, .chain = chain };
        char set[NFT_SET_MAXNAMELEN], comment[NFT_SET_MAXNAMELEN + 64];
        uint32_t reg = NFT_REG32_00, len, type;
        int k = 0;

        rb.rule = new_rule(c, chain);
        if (!rb.rule)
                return -ENOMEM;
        if (run->shape & RUN_ADDRESSES)
                k = put_nfproto(rb.rule, wfp_layer_info(run->carrier->layer)->family);
        for (size_t i = 0; k >= 0 && i < ELEMENTSOF(run_fields); i++) {
                if (!(run->shape & (1u << i)))
                        continue;
                rb.dreg = reg;
                k = load_field(&rb, condition_on(run->carrier, run_fields[i]), &len, &type);
                if (k >= 0 && (run->shape & RUN_ADDRESSES & (1u << i))) {
                        unsigned plen = (run->shape >> RUN_PLEN_SHIFT(i)) & 0xffu;
                        uint8_t mask[16];

                        memset(mask, 0xff, sizeof(mask));
                        prefix_mask_apply(mask, len, plen);
                        if (plen < len * 8u)    /* a prefix: the masked address is the key */
                                k = put_bitwise_and_at(rb.rule, reg, mask, len);
                }
                if (k >= 0 && (run->shape & RUN_BLOCKS) && run_block_bits[j] > 0 && i == block_field(run->shape)) {
                        uint16_t mask = (uint16_t) (0xffffu << run_block_bits[j]);
                        uint8_t be[2] = { (uint8_t) (mask >> 8), (uint8_t) mask };

                        k = put_bitwise_and_at(rb.rule, reg, be, 2);    /* the start of the port's block */
                }
                reg += (len + 3) / 4;
        }
        run_set_name(run, j, set);
        if (k >= 0)
                k = put_lookup(rb.rule, set, 0);
        /* a callout's drops are not net events (compile-rule.c): its verdict map decides after */
        if (k >= 0 && c->net_events && run->verdict == NF_DROP && !(run->shape & RUN_CALLOUT))
                k = put_net_event_log(rb.rule, c, true, run->id);
        if (k >= 0)
                k = run->shape & RUN_CALLOUT ? put_callout_map_lookup(rb.rule, run->carrier)
                                             : put_verdict(rb.rule, run->verdict, NULL);
        if (k >= 0) {
                snprintf(comment, sizeof(comment), "filter run %u: the filters are the elements of @%s", run->id, set);
                k = set_comment(rb.rule, comment);
        }
        if (k < 0) {
                nftnl_rule_free(rb.rule);
                return k;
        }
        *ret = rb.rule;
        return 0;
}

/* A new run of @f alone: it carries the run's rule, which the caller places like a filter's. The
 * run is one of its sublayer's in its layer from now on. */
int run_new(const NftConfig *c, NftLayout *L, NftBatch *b, const Filter *f, NftRun **ret) {
        NftSublayerState *ss = nft_layout_sublayer(L, f->sublayer);
        NftRun *run;
        int k;

        if (!ss)
                return -ENOENT;
        run = calloc(1, sizeof(*run));
        if (!run)
                return -ENOMEM;
        run->id = run_next_id++;
        run->shape = run_shape(c, f);
        run->verdict = verdict_of(f);
        run->carrier = f;
        run->keys_refusals = nft_batch_refusals;
        run->made_in = b->serial;
        run->lnext = ss->runs[f->layer];
        k = nft_layout_run_put(L, run);
        if (k >= 0)
                run->layout = L;
        if (k >= 0)
                k = nft_batch_track_with(b, run, false, run_free);
        if (k < 0) {
                run_free(run);
                return k;
        }
        k = run->lnext ? RUN_SET(b, run->lnext, lprev, run) : 0;
        if (k >= 0)
                k = NFT_SET(b, ss->runs[f->layer], run);
        if (k >= 0)
                k = run_link(L, b, run, f);
        if (k < 0)
                return k;
        *ret = run;
        return 0;
}

/* A run that lost its last member leaves its sublayer's list; it is freed once the batch is applied. */
static int run_end(NftLayout *L, NftBatch *b, NftRun *run) {
        NftSublayerState *ss = nft_layout_sublayer(L, run->carrier->sublayer);
        WfpLayer l = run->carrier->layer;
        int k;

        k = run->lprev ? RUN_SET(b, run->lprev, lnext, run->lnext) : NFT_SET(b, ss->runs[l], run->lnext);
        if (k >= 0 && run->lnext)
                k = RUN_SET(b, run->lnext, lprev, run->lprev);
        return k < 0 ? k : nft_batch_track_with(b, run, true, run_free);
}

/* @f's own links as a member: its run, and its neighbours there (NULL: none), through the undo log. */
int run_member_set(NftLayout *L, NftBatch *b, const Filter *f, NftRun *run, const Filter *prev,
                   const Filter *next) {
        int k;

        k = FS_SET(L, b, f, run, run);
        if (k >= 0)
                k = FS_SET(L, b, f, run_prev, prev);
        if (k >= 0)
                k = FS_SET(L, b, f, run_next, next);
        return k;
}

/* Links @f into @run's members, through the undo log. */
int run_link(NftLayout *L, NftBatch *b, NftRun *run, const Filter *f) {
        const Filter *next = run->head;
        int k;

        k = keys_sync(L, run);
        if (k >= 0)
                k = run_member_set(L, b, f, run, NULL, next);
        if (k >= 0 && next)
                k = FS_SET(L, b, next, run_prev, f);
        if (k >= 0)
                k = RUN_SET(b, run, head, f);
        if (k >= 0)
                k = RUN_SET(b, run, n, run->n + 1);
        if (k >= 0)
                k = keys_add(L, run, f);
        return k;
}

static int run_unlink(NftLayout *L, NftBatch *b, const Filter *f) {
        NftRun *run = FS(L, f)->run;
        const Filter *prev = FS(L, f)->run_prev, *next = FS(L, f)->run_next;
        int k;

        k = keys_sync(L, run);
        if (k >= 0)
                keys_remove(run, f);
        if (k >= 0)
                k = prev ? FS_SET(L, b, prev, run_next, next) : RUN_SET(b, run, head, next);
        if (k >= 0 && next)
                k = FS_SET(L, b, next, run_prev, prev);
        if (k >= 0)
                k = RUN_SET(b, run, n, run->n - 1);
        if (k >= 0)
                k = run_member_set(L, b, f, NULL, NULL, NULL);
        return k;
}

/* @f, a new member of @run other than its carrier: its links, and its elements (joined_add()). */
int run_join(const NftConfig *c, NftLayout *L, NftBatch *b, NftRun *run, const Filter *f) {
        int k = joined_add(L, b, run, f);

        return k < 0 ? k : run_link(L, b, run, f);
}

/* @f, a member other than the carrier, leaves its run and is a filter of its own (the caller
 * places its rule). */
int run_evict(const NftConfig *c, NftLayout *L, NftBatch *b, const Filter *f) {
        int k = joined_write(c, L, b, FS(L, f)->run);

        if (k >= 0)
                k = emit_run_elements(c, L, b, FS(L, f)->run, f, NULL, 1, NFT_MSG_DELSETELEM);
        return k < 0 ? k : run_unlink(L, b, f);
}

/* A run's rules after its carrier's (with port blocks: for the smaller blocks), before @before
 * too, so they follow it. */
static int emit_run_extras(const NftConfig *c, NftBatch *b, NftRun *run, const char *chain, const NftRuleRef *before) {
        char what[128];
        int k = 0;

        for (unsigned j = 1; k >= 0 && j < run_sizes(run->shape); j++) {
                _cleanup_(nftnl_rule_freep) struct nftnl_rule *r = NULL;
                uint32_t id;

                snprintf(what, sizeof(what), "rule of filter run %u for blocks of %u ports", run->id,
                         1u << run_block_bits[j]);
                k = run_rule_build(c, run, j, chain, &r);
                if (k >= 0)
                        k = rule_check_budget(r, what, NULL);
                if (k >= 0)
                        k = emit_rule(b, r, before, &run->extra[j - 1].handle, &id, what);
                if (k >= 0) /* the handle the echo brings; until then the one it had, as a carrier's */
                        k = RUN_SET(b, run, extra[j - 1],
                                    ((NftRuleRef) { .handle = run->extra[j - 1].handle, .id = id, .batch = b->gen }));
        }
        return k;
}

int emit_delete_run_extras(const NftConfig *c, NftBatch *b, NftRun *run, const char *chain) {
        int k = 0;

        for (unsigned j = 1; k >= 0 && run && j < run_sizes(run->shape); j++) {
                if (!ref_is_set(b, &run->extra[j - 1]))
                        continue;
                k = emit_delete_ref(c, b, chain, &run->extra[j - 1], "deletion of a rule of a filter run");
                if (k >= 0)
                        k = RUN_SET(b, run, extra[j - 1], ((NftRuleRef) {}));
        }
        return k;
}

int emit_filter(const NftConfig *c, NftLayout *L, NftBatch *b, const Filter *f, const char *chain,
                const NftRuleRef *before) {
        RuleBuild rb = { .config = c, .filter = f, .batch = b, .chain = chain };
        char what[TEXT_MAX];
        uint32_t id;
        int k;

        if (FS(L, f)->run && FS(L, f)->run->carrier == f) {
                snprintf(what, sizeof(what), "rule of filter run %u (filter %" PRIu64 " '%s' and %zu more)",
                         FS(L, f)->run->id, f->id, f->name, FS(L, f)->run->n - 1);
                k = run_rule_build(c, FS(L, f)->run, 0, chain, &rb.rule);
        } else {
                snprintf(what, sizeof(what), "rule for filter %" PRIu64 " '%s'", f->id, f->name);
                k = rule_build(&rb);
        }
        /* the backstop behind nft_check_filter(): a rule over the kernel's limits is not sent */
        if (k >= 0)
                k = rule_check_budget(rb.rule, what, NULL);
        for (size_t i = 0; k >= 0 && i < rb.n_sets; i++)
                k = emit_set(b, rb.sets[i], "anonymous set");
        if (k >= 0)
                k = emit_rule(b, rb.rule, before, &FSW(L, f)->handle, &id, what);
        rule_build_done(&rb);
        if (k < 0)
                return k;
        FSW(L, f)->rule_id = id;
        FSW(L, f)->rule_batch = b->gen;
        return FS(L, f)->run && FS(L, f)->run->carrier == f ? emit_run_extras(c, b, FS(L, f)->run, chain, before) : 0;
}

/*
 * @f leaves its run: its element goes. When it carried the rule, the member now first in
 * evaluation order carries it (*ret_heir: the caller deletes @f's rule and places the heir's);
 * when it was the last, *ret_dying is the run, whose rule the caller deletes as @f's and then
 * its set.
 */
int run_leave(const NftConfig *c, NftLayout *L, NftBatch *b, const Filter *f, NftRun **ret_dying,
              const Filter **ret_heir) {
        NftRun *run = FS(L, f)->run;
        const Filter *heir = NULL;
        int k;

        *ret_dying = NULL;
        *ret_heir = NULL;
        k = joined_write(c, L, b, run);
        if (k >= 0)
                k = emit_run_elements(c, L, b, run, f, NULL, 1, NFT_MSG_DELSETELEM);
        if (k >= 0)
                k = run_unlink(L, b, f);
        if (k < 0 || run->carrier != f)
                return k;
        if (run->n == 0) {
                *ret_dying = run;
                return run_end(L, b, run);
        }
        /* a scan of the members: only when the first one goes */
        for (const Filter *g = run->head; g; g = FS(L, g)->run_next)
                if (!heir || filter_compare(g, heir) < 0)
                        heir = g;
        k = RUN_SET(b, run, carrier, heir);
        if (k >= 0)
                *ret_heir = heir;
        return k;
}
