/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * compile-layout.c — the runs of like filters that share one set lookup: their sets and elements,
 * the rule the run's carrier holds (placed in its chunk by compile-chunks.c), and how members join
 * and leave (which filters can be members, and with which keys, is run-keys.c's). Every change to
 * this bookkeeping goes through the batch's undo log (NFT_SET), so a refused batch leaves it as it
 * was.
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
#include "macro.h"
#include "text.h"

/* ---- runs (FilterRuns=yes; see NftRun in compile.h) ------------------------------------ */

static const unsigned run_block_bits[RUN_BLOCK_SIZES] = { 4, 2, 0 };
#define RUN_ELEMENTS_PER_MESSAGE 128    /* an element with its comment is under 256 bytes */
/* what the kernel takes of an element: its key, and its userdata (the comment in a TLV) */
_Static_assert(RUN_KEY_MAX <= NFT_DATA_VALUE_MAXLEN, "a run's key must fit a set key");
_Static_assert(2 + NFT_COMMENT_MAX + 1 <= NFT_USERDATA_MAXLEN, "an element's comment must fit its userdata");

static unsigned run_next_id = 1;

/* How many sets and rules a run of @shape has: one for each block size, or one. */
static unsigned run_sizes(unsigned shape) {
        return shape & RUN_BLOCKS ? RUN_BLOCK_SIZES : 1;
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
        for (size_t i = 0; i < RUN_FIELDS; i++)
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
        cd = filter_condition(f, run_fields[block_field(run->shape)]);
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
        for (size_t i = 0; k >= 0 && i < RUN_FIELDS; i++) {
                if (!(run->shape & (1u << i)))
                        continue;
                rb.dreg = reg;
                k = load_field(&rb, filter_condition(run->carrier, run_fields[i]), &len, &type);
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

        k = run_keys_sync(L, run);
        if (k >= 0)
                k = run_member_set(L, b, f, run, NULL, next);
        if (k >= 0 && next)
                k = FS_SET(L, b, next, run_prev, f);
        if (k >= 0)
                k = RUN_SET(b, run, head, f);
        if (k >= 0)
                k = RUN_SET(b, run, n, run->n + 1);
        if (k >= 0)
                k = run_keys_add(L, run, f);
        return k;
}

static int run_unlink(NftLayout *L, NftBatch *b, const Filter *f) {
        NftRun *run = FS(L, f)->run;
        const Filter *prev = FS(L, f)->run_prev, *next = FS(L, f)->run_next;
        int k;

        k = run_keys_sync(L, run);
        if (k >= 0)
                run_keys_remove(run, f);
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
