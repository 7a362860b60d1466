/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * compile.c — see compile.h. One filter is one rule: its conditions as match expressions
 * (consecutive conditions on one field, which WFP ORs, as one anonymous-set lookup), a
 * counter, then the verdict that encodes WFP arbitration:
 *
 *   block                          drop     final, as WFP's default hard block
 *   permit + CLEAR_ACTION_RIGHT    accept   hard permit: ends this layer's base chain
 *   permit                         return   soft permit: this sublayer is decided, lower ones run
 *   IPsec callout (terminating)    vmap     plain: drop; secured: return, or accept when hard
 *                                           (the table's maps @callout_soft, @callout_hard)
 *   … with a clear-text fallback   return   (rawContext PASSTHRU in, NEGOTIATE_DISCOVER out:
 *                                           plain packets are permitted too), or accept when hard
 *
 * Rules carry the comment "filter <id>: <name>" so `nft list ruleset` reads like the database;
 * nft_comment_sanitize() (text.c) makes every comment one that nft lists and reads back.
 *
 * The compiler in parts: this file (the names, the batch messages, the table and what a change
 * to the database does to it), compile-rule.c (one filter's rule), compile-chunks.c (the chunk
 * chains: where each rule goes), compile-layout.c (the runs), compile-trace.c and
 * compile-netev.c.
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

void nft_config_init(NftConfig *c) {
        *c = (NftConfig) { .priority = -10, .local_system_uid = 0, .chunk_size = NFT_CHUNK_SIZE_DEFAULT,
                           .table_flags = NFT_TABLE_F_OWNER, .filter_runs = true, .trace = true,
                           .log_group = NFT_LOG_GROUP_DEFAULT };
        strcpy(c->table, "bfed");
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_chain *, nftnl_chain_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_table *, nftnl_table_free);

/* ---- names ------------------------------------------------------------------------------- */

/* A layer's family chain: its WFP name in lower case (INBOUND_TRANSPORT_V4: inbound_transport_v4). */
void nft_family_chain_name(WfpLayer layer, char buf[static 48]) {
        const char *name = wfp_layer_info(layer)->name;
        size_t i;

        for (i = 0; name[i] && i < 47; i++)
                buf[i] = name[i] >= 'A' && name[i] <= 'Z' ? name[i] - 'A' + 'a' : name[i];
        buf[i] = 0;
}

void nft_sublayer_chain_name(WfpLayer layer, const Sublayer *s, char buf[static NFT_CHAIN_NAME_MAX]) {
        char family[48], hex[33];
        size_t o = 0;

        if (!wfp_layer_is_emitted(layer)) {
                buf[0] = 0;
                return;
        }
        nft_family_chain_name(layer, family);
        if (sublayer_is_universal(s)) {
                snprintf(buf, NFT_CHAIN_NAME_MAX, "%s_universal", family);
                return;
        }
        for (size_t i = 0; i < 16; i++)
                o += (size_t) snprintf(hex + o, sizeof(hex) - o, "%02x", s->key.b[i]);
        snprintf(buf, NFT_CHAIN_NAME_MAX, "%s_sl_%s", family, hex);
}

/* ---- messages ---------------------------------------------------------------------------- */

struct nlmsghdr *msg_start(NftBatch *b, uint16_t type, uint16_t flags) {
        char *p = nft_batch_reserve(b);

        return p ? nftnl_nlmsg_build_hdr(p, type, NFPROTO_INET, flags, nft_batch_next_seq(b)) : NULL;
}

/* One message about set @s: NEWSET or DELSET (the set), NEWSETELEM or DELSETELEM (its elements). */
int emit_set_msg(NftBatch *b, uint16_t type, const struct nftnl_set *s, const char *what) {
        uint16_t flags = type == NFT_MSG_NEWSET || type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE | NLM_F_ACK : NLM_F_ACK;
        struct nlmsghdr *nlh = msg_start(b, type, flags);

        if (!nlh)
                return -ENOMEM;
        if (type == NFT_MSG_NEWSET || type == NFT_MSG_DELSET)
                nftnl_set_nlmsg_build_payload(nlh, (struct nftnl_set *) s);
        else
                nftnl_set_elems_nlmsg_build_payload(nlh, (struct nftnl_set *) s);
        return nft_batch_commit_msg(b, nlh, NULL, what);
}

/* The table's set @name, for messages about it or its elements. */
struct nftnl_set *set_ref(const NftConfig *c, const char *name) {
        struct nftnl_set *s = nftnl_set_alloc();

        if (!s)
                return NULL;
        nftnl_set_set_str(s, NFTNL_SET_TABLE, c->table);
        nftnl_set_set_str(s, NFTNL_SET_NAME, name);
        nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
        return s;
}

/* A new set and its elements. */
int emit_set(NftBatch *b, struct nftnl_set *s, const char *what) {
        char what_elements[NFT_SET_MAXNAMELEN + 64];
        int k;

        k = emit_set_msg(b, NFT_MSG_NEWSET, s, what);
        snprintf(what_elements, sizeof(what_elements), "%s elements", what);
        return k < 0 ? k : emit_set_msg(b, NFT_MSG_NEWSETELEM, s, what_elements);
}

bool ref_is_set(const NftBatch *b, const NftRuleRef *ref) {
        return ref->handle != 0 || (ref->batch == b->gen && ref->id != 0);
}

/* Where a rule is: pending in this batch (by id) wins over its old kernel handle, which the
 * batch may be deleting (a rule moved to another chunk). */
NftRuleRef filter_ref(const NftLayout *L, const NftBatch *b, const Filter *f) {
        if (FS(L, f)->rule_batch == b->gen)
                return (NftRuleRef) { .id = FS(L, f)->rule_id, .batch = b->gen };
        return (NftRuleRef) { .handle = FS(L, f)->handle };
}

/**
 * emit_rule() - add a rule: before the rule @before names, or appended when it names none.
 * @handle: where the kernel's handle goes once the batch is applied (the rule is echoed)
 * @ret_id: the rule's id within the batch, for later rules of the batch to anchor on
 */
int emit_rule(NftBatch *b, struct nftnl_rule *r, const NftRuleRef *before, uint64_t *handle,
              uint32_t *ret_id, const char *what) {
        struct nlmsghdr *nlh;
        uint16_t flags = NLM_F_CREATE | NLM_F_ACK;
        uint32_t id = ++b->rule_id_next;

        nftnl_rule_set_u32(r, NFTNL_RULE_ID, id);
        if (before && before->handle)
                nftnl_rule_set_u64(r, NFTNL_RULE_POSITION, before->handle);
        else if (before && ref_is_set(b, before))
                nftnl_rule_set_u32(r, NFTNL_RULE_POSITION_ID, before->id);
        else
                flags |= NLM_F_APPEND;
        if (handle)
                flags |= NLM_F_ECHO; /* the kernel answers with the rule, handle included */

        nlh = msg_start(b, NFT_MSG_NEWRULE, flags);
        if (!nlh)
                return -ENOMEM;
        nftnl_rule_nlmsg_build_payload(nlh, r);
        if (ret_id)
                *ret_id = id;
        return nft_batch_commit_msg(b, nlh, handle, what);
}

int emit_delete_ref(const NftConfig *c, NftBatch *b, const char *chain, const NftRuleRef *ref, const char *what) {
        _cleanup_(nftnl_rule_freep) struct nftnl_rule *r = new_rule(c, chain);
        struct nlmsghdr *nlh;

        if (!r)
                return -ENOMEM;
        if (ref->batch == b->gen && ref->id)
                nftnl_rule_set_u32(r, NFTNL_RULE_ID, ref->id);
        else
                nftnl_rule_set_u64(r, NFTNL_RULE_HANDLE, ref->handle);
        nlh = msg_start(b, NFT_MSG_DELRULE, NLM_F_ACK);
        if (!nlh)
                return -ENOMEM;
        nftnl_rule_nlmsg_build_payload(nlh, r);
        return nft_batch_commit_msg(b, nlh, NULL, what);
}

static int emit_named_table(const char *name, NftBatch *b, uint16_t type, uint32_t flags, bool with_flags) {
        _cleanup_(nftnl_table_freep) struct nftnl_table *t = nftnl_table_alloc();
        struct nlmsghdr *nlh;

        if (!t)
                return -ENOMEM;
        nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
        nftnl_table_set_str(t, NFTNL_TABLE_NAME, name);
        if (with_flags)
                nftnl_table_set_u32(t, NFTNL_TABLE_FLAGS, flags);
        nlh = msg_start(b, type, type == NFT_MSG_NEWTABLE ? NLM_F_CREATE | NLM_F_ACK : NLM_F_ACK);
        if (!nlh)
                return -ENOMEM;
        nftnl_table_nlmsg_build_payload(nlh, t);
        return nft_batch_commit_msg(b, nlh, NULL, type == NFT_MSG_NEWTABLE ? "table" : "table deletion");
}

static int emit_table(const NftConfig *c, NftBatch *b, uint16_t type, uint32_t flags, bool with_flags) {
        return emit_named_table(c->table, b, type, flags, with_flags);
}

static int emit_chain_msg(const NftConfig *c, NftBatch *b, uint16_t type, const char *name, int hook, int prio) {
        _cleanup_(nftnl_chain_freep) struct nftnl_chain *ch = nftnl_chain_alloc();
        struct nlmsghdr *nlh;
        char what[NFT_CHAIN_NAME_MAX + 32];

        if (!ch)
                return -ENOMEM;
        nftnl_chain_set_u32(ch, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
        nftnl_chain_set_str(ch, NFTNL_CHAIN_TABLE, c->table);
        nftnl_chain_set_str(ch, NFTNL_CHAIN_NAME, name);
        if (hook >= 0) {
                nftnl_chain_set_u32(ch, NFTNL_CHAIN_HOOKNUM, (uint32_t) hook);
                nftnl_chain_set_s32(ch, NFTNL_CHAIN_PRIO, prio);
                nftnl_chain_set_str(ch, NFTNL_CHAIN_TYPE, "filter");
                nftnl_chain_set_u32(ch, NFTNL_CHAIN_POLICY, NF_ACCEPT);
        }
        nlh = msg_start(b, type, type == NFT_MSG_NEWCHAIN ? NLM_F_CREATE | NLM_F_ACK : NLM_F_ACK);
        if (!nlh)
                return -ENOMEM;
        nftnl_chain_nlmsg_build_payload(nlh, ch);
        snprintf(what, sizeof(what), "%s chain %s", type == NFT_MSG_NEWCHAIN ? "new" : "deletion of", name);
        return nft_batch_commit_msg(b, nlh, NULL, what);
}

int emit_chain(const NftConfig *c, NftBatch *b, const char *name, int hook, int prio) {
        return emit_chain_msg(c, b, NFT_MSG_NEWCHAIN, name, hook, prio);
}

int emit_delete_chain(const NftConfig *c, NftBatch *b, const char *name) {
        return emit_chain_msg(c, b, NFT_MSG_DELCHAIN, name, -1, 0);
}

int emit_jump(const NftConfig *c, NftBatch *b, const char *from, int family, bool ct_new, int verdict,
                     const char *to, const NftRuleRef *before, uint64_t *handle, uint32_t *ret_id) {
        _cleanup_(nftnl_rule_freep) struct nftnl_rule *r = new_rule(c, from);
        int k = 0;

        if (!r)
                return -ENOMEM;
        if (family)
                k = put_nfproto(r, family);
        if (k >= 0 && ct_new)
                k = put_ct_state_new(r);
        if (k >= 0)
                k = put_verdict(r, verdict, to);
        if (k < 0)
                return k;
        return emit_rule(b, r, before, handle, ret_id, verdict == NFT_GOTO && !family ? "chunk goto" : "jump rule");
}

/* ---- the table -------------------------------------------------------------------------- */

/* The base chains, by name. ALE_FLOW_ESTABLISHED has one on each hook a flow starts on, after the
 * ALE layers there (doc/org.bfed.Engine1.md); the other layers one. */
static const struct {
        const char *name;
        WfpLayerKind kind;
        int hook;
        int prio_offset;
} base_chains[] = {
        { "inbound_transport", WFP_LAYER_KIND_INBOUND_TRANSPORT, NF_INET_LOCAL_IN, 0 },
        { "ale_auth_recv_accept", WFP_LAYER_KIND_ALE_AUTH_RECV_ACCEPT, NF_INET_LOCAL_IN, 1 },
        { "ale_auth_connect", WFP_LAYER_KIND_ALE_AUTH_CONNECT, NF_INET_LOCAL_OUT, 0 },
        { "outbound_transport", WFP_LAYER_KIND_OUTBOUND_TRANSPORT, NF_INET_LOCAL_OUT, 1 },
        { "ipforward", WFP_LAYER_KIND_IPFORWARD, NF_INET_FORWARD, 0 },
        { "ale_flow_established_in", WFP_LAYER_KIND_ALE_FLOW_ESTABLISHED, NF_INET_LOCAL_IN, 2 },
        { "ale_flow_established_out", WFP_LAYER_KIND_ALE_FLOW_ESTABLISHED, NF_INET_LOCAL_OUT, 2 },
};

static WfpLayer layer_of(WfpLayerKind kind, int family) {
        for (WfpLayer l = 0; l < _WFP_LAYER_MAX; l++)
                if (wfp_layer_info(l)->kind == kind && wfp_layer_info(l)->family == family)
                        return l;
        return _WFP_LAYER_MAX;
}

bool nft_base_chain_at(size_t i, NftBaseChain *ret) {
        if (i >= ELEMENTSOF(base_chains))
                return false;
        *ret = (NftBaseChain) {
                .kind = base_chains[i].kind,
                .name = base_chains[i].name,
                .hook = base_chains[i].hook,
                .prio_offset = base_chains[i].prio_offset,
                .ct_new = wfp_layer_is_ale(layer_of(base_chains[i].kind, 4)),
        };
        return true;
}

/* The base chains, each sending a packet to its family's chain (the ALE ones: new connections only). */
static int emit_base_chains(const NftConfig *c, NftBatch *b) {
        char fam[48];
        int k = 0;

        NftBaseChain bc;

        for (size_t i = 0; k >= 0 && nft_base_chain_at(i, &bc); i++) {
                k = emit_chain(c, b, bc.name, bc.hook, c->priority + bc.prio_offset);
                for (int family = 4; k >= 0 && family <= 6; family += 2) {
                        nft_family_chain_name(layer_of(bc.kind, family), fam);
                        k = emit_jump(c, b, bc.name, family, bc.ct_new, NFT_GOTO, fam, NULL, NULL, NULL);
                }
        }
        return k;
}

/* The jump from layer @l's family chain to sublayer @s's chain: before the jump @before names, or
 * appended; with its guard's lookup first when it has one (guard.c). The kernel's handle for it goes
 * to the jump handle of its layout entry. */
static int emit_sublayer_jump(const NftConfig *c, NftLayout *L, NftBatch *b, WfpLayer l, const Sublayer *s,
                              const NftRuleRef *before) {
        _cleanup_(nftnl_rule_freep) struct nftnl_rule *r = NULL;
        char fam[48], name[NFT_CHAIN_NAME_MAX];
        NftSublayerState *ss;
        int k;

        k = nft_layout_sublayer_add(L, b, s, &ss);
        if (k < 0)
                return k;
        nft_family_chain_name(l, fam);
        nft_sublayer_chain_name(l, s, name);
        r = new_rule(c, fam);
        if (!r)
                return -ENOMEM;
        k = guard_put_lookup(r, L, s, l);       /* the guard's lookup first, if it has one (guard.c) */
        if (k >= 0)
                k = put_verdict(r, NFT_JUMP, name);
        return k < 0 ? k : emit_rule(b, r, before, &ss->jump_handle[l], NULL, "jump rule");
}

/* @s's jump in layer @l put anew where it is (its guard's use changed): the new one before it,
 * then the old one's deletion. */
static int sublayer_jump_again(const NftConfig *c, NftLayout *L, NftBatch *b, WfpLayer l, const Sublayer *s) {
        NftRuleRef old = { .handle = SS(L, s)->jump_handle[l] };
        char fam[48];
        int k;

        nft_family_chain_name(l, fam);
        k = emit_sublayer_jump(c, L, b, l, s, &old);
        return k < 0 ? k : emit_delete_ref(c, b, fam, &old, "a sublayer jump put anew");
}

/* Whether @f has a rule of its own: a plain filter, or the carrier of its run. */
static bool has_rule(const NftLayout *L, const Filter *f) {
        return !FS(L, f)->run || FS(L, f)->run->carrier == f;
}

/* A sublayer's chunked chains in one layer, filled in order: at start, or when it is new. */
static int emit_sublayer_layer(const NftConfig *c, NftLayout *L, NftBatch *b, const Sublayer *s, WfpLayer l) {
        char name[NFT_CHAIN_NAME_MAX];
        NftSublayerState *ss;
        NftChunk *first, *cur;
        size_t n_filters = 0, size;
        int k;

        /* every filter of the list gets its entry, and the sublayer its own */
        k = nft_layout_sublayer_add(L, b, s, &ss);
        for (const Filter *f = s->filters_head[l]; k >= 0 && f; f = f->lnext) {
                NftFilterState *fs;

                k = nft_layout_filter_add(L, b, f, &fs);
        }
        if (k < 0)
                return k;
        if (c->filter_runs)
                k = runs_form(c, L, b, s, l, &n_filters);
        else
                for (Filter *f = s->filters_head[l]; f; f = f->lnext)
                        n_filters++;
        if (k < 0)
                return k;
        /* no more than NFT_CHUNKS_MAX chunks: bigger ones when there are many filters */
        size = (n_filters + NFT_CHUNKS_MAX - 1) / NFT_CHUNKS_MAX;
        if (size < c->chunk_size)
                size = c->chunk_size;

        k = chunk_new(b, 0, &first);
        if (k >= 0)
                k = NFT_SET(b, ss->chunks[l], first);
        if (k >= 0)
                k = NFT_SET(b, ss->next_chunk, ss->next_chunk ? ss->next_chunk : 1);
        cur = first;
        for (Filter *f = s->filters_head[l]; k >= 0 && f; f = f->lnext) {
                if (!has_rule(L, f)) {
                        k = FS_SET(L, b, f, chunk, NULL);
                        continue;
                }
                if (cur->n >= size) {
                        NftChunk *n;
                        k = chunk_new(b, ss->next_chunk, &n);
                        if (k >= 0)
                                k = NFT_SET(b, ss->next_chunk, ss->next_chunk + 1);
                        if (k < 0)
                                break;
                        cur->next = n;
                        n->prev = cur;
                        cur = n;
                }
                k = FS_SET(L, b, f, chunk, cur);
                if (k >= 0)
                        k = nft_layout_rule_add(L, f); /* in order: an append */
                cur->n++;
        }
        if (k < 0)
                return k;

        /* chains first (gotos name them), then each chunk's rules and its goto */
        for (NftChunk *ch = first; k >= 0 && ch; ch = ch->next) {
                chunk_chain_name(l, s, ch, name);
                k = emit_chain(c, b, name, -1, 0);
        }
        for (NftChunk *ch = first; k >= 0 && ch; ch = ch->next) {
                chunk_chain_name(l, s, ch, name);
                for (Filter *f = s->filters_head[l]; k >= 0 && f; f = f->lnext) {
                        NftRun *run = FS(L, f)->run;

                        if (FS(L, f)->chunk != ch || !has_rule(L, f))
                                continue;
                        if (run)
                                k = emit_run_set(c, L, b, run, run->head, run->n);
                        if (k >= 0)
                                k = emit_filter(c, L, b, f, name, NULL);
                }
                if (k >= 0 && ch->next)
                        k = emit_goto(c, b, l, s, ch, ch->next);
        }
        return k < 0 ? k : guard_emit_whole(c, L, b, s, l, false);
}

/**
 * nft_compile_ruleset() - the whole table in one batch.
 * @replace: take over a table of the same name: create it if missing, delete it, create it
 *   again with c->table_flags — one transaction, so traffic never sees it half-built.
 *
 * What the kernel (checked on 6.18) does with a table we take over:
 *  - one bfed left with the persist flag (stopped with KeepTable=yes, or killed): when its
 *    socket closed the kernel cleared the owner flag and kept the table, rules enforcing, as an
 *    orphan with flags "persist" only. An orphan has no owner, so any process may change or
 *    delete it (and `nft flush ruleset` does delete it). The first NEWTABLE without flags is a
 *    no-op on it, DELTABLE and NEWTABLE(owner|persist) replace it: the same batch works for an
 *    orphan, a table without flags and no table at all. (Adopting it instead — NEWTABLE with
 *    owner|persist on the orphan, which the kernel allows only for orphans — then flushing the
 *    chains, works too, but would leave chains of an older layout behind.)
 *  - one still owned by a live process (another bfed): the first NEWTABLE fails with EPERM
 *    and nothing changes.
 *  - an owner table without persist never needs taking over: the kernel deletes it, silently
 *    (no nftables event), when its owner's socket closes.
 *
 * Every filter's rule is echoed back, so its handle is known after commit.
 *
 * Return: 0; wfp_ret(FWP_E_OUT_OF_BOUNDS) when a filter's rule would be over the kernel's
 * limits on a rule (nft_check_filter() says which and why), then the batch is not to be sent;
 * -ENOMEM.
 */
int nft_compile_ruleset(const Engine *e, NftLayout *L, const NftConfig *c, bool replace, NftBatch *b) {
        char fam[48];
        int k;

        nft_layout_begin(L, b);
        if (replace) {
                k = emit_table(c, b, NFT_MSG_NEWTABLE, 0, false);
                if (k >= 0)
                        k = emit_table(c, b, NFT_MSG_DELTABLE, 0, false);
                if (k < 0)
                        return k;
        }
        k = emit_table(c, b, NFT_MSG_NEWTABLE, c->table_flags, true);
        if (k >= 0)
                k = emit_ike_ports_set(c, b);
        if (k >= 0)
                k = nft_layout_drop_stale(L, b, e);
        if (k >= 0)
                k = nft_layout_sync(L, NULL, true); /* the caches fill as the lists are written */
        if (k < 0)
                return k;

        for (WfpLayer l = 0; l < _WFP_LAYER_MAX; l++) {
                if (!wfp_layer_is_emitted(l))
                        continue;
                nft_family_chain_name(l, fam);
                k = emit_chain(c, b, fam, -1, 0);
                for (Sublayer *s = engine_sublayers(e); k >= 0 && s; s = s->next) {
                        /* the old layout goes only if the kernel takes the new one: a refused
                         * reinstall leaves the incremental path what it had */
                        for (NftChunk *ch = SS(L, s)->chunks[l]; k >= 0 && ch; ch = ch->next)
                                k = nft_batch_track(b, ch, true);
                        if (k >= 0)
                                k = emit_sublayer_layer(c, L, b, s, l);
                        if (k >= 0)
                                k = emit_sublayer_jump(c, L, b, l, s, NULL);
                }
                if (k < 0)
                        return k;
        }
        k = emit_base_chains(c, b);
        return k < 0 || !c->trace || !engine_exemptions_active(e) ? k : nft_trace_emit(c, b);
}

/* A new sublayer: its chains in every emitted layer, and its jump in the family chain
 * before the jump of the next sublayer by weight. */
static int emit_sublayer(const NftConfig *c, NftLayout *L, NftBatch *b, const Sublayer *s) {
        int k;

        for (WfpLayer l = 0; l < _WFP_LAYER_MAX; l++) {
                const Sublayer *anchor;
                NftRuleRef before = {};

                if (!wfp_layer_is_emitted(l))
                        continue;
                for (anchor = s->next; anchor && SS(L, anchor)->jump_handle[l] == 0; anchor = anchor->next)
                        ;
                if (anchor)
                        before.handle = SS(L, anchor)->jump_handle[l];
                k = emit_sublayer_layer(c, L, b, s, l);
                if (k >= 0)
                        k = emit_sublayer_jump(c, L, b, l, s, anchor ? &before : NULL);
                if (k < 0)
                        return k;
        }
        return 0;
}

static int emit_delete_sublayer(const NftConfig *c, NftLayout *L, NftBatch *b, const Sublayer *s) {
        char name[NFT_CHAIN_NAME_MAX], fam[48];
        int k;

        for (WfpLayer l = 0; l < _WFP_LAYER_MAX; l++) {
                NftRuleRef jump = { .handle = SS(L, s)->jump_handle[l] };

                if (!wfp_layer_is_emitted(l) || SS(L, s)->jump_handle[l] == 0)
                        continue;
                nft_sublayer_chain_name(l, s, name);
                nft_family_chain_name(l, fam);
                k = emit_delete_ref(c, b, fam, &jump, "deletion of a sublayer jump");
                if (k >= 0)
                        k = emit_delete_chain(c, b, name); /* its other chunks are gone with its filters */
                if (k >= 0)
                        k = guard_emit_delete(c, L, b, s, l);
                if (k >= 0)
                        k = nft_batch_track(b, SS(L, s)->chunks[l], true);
                if (k < 0)
                        return k;
        }
        return nft_layout_sublayer_drop(L, b, s);
}

static int compare_added(const void *a, const void *b) {
        const Filter *x = *(Filter *const *) a, *y = *(Filter *const *) b;

        if (x->layer != y->layer)
                return x->layer < y->layer ? -1 : 1;
        if (x->sublayer != y->sublayer)
                return x->sublayer->weight > y->sublayer->weight ||
                       (x->sublayer->weight == y->sublayer->weight && x->sublayer->seq < y->sublayer->seq) ? -1 : 1;
        return filter_compare(x, y);
}

/**
 * compile_changes() - nft_compile_changes(): the rules the open engine transaction adds and removes.
 *
 * In order: the deleted filters' rules (by handle), then emptied chunks, deleted
 * sublayers, new sublayers, and last the new filters in evaluation order, each placed
 * before the next rule of its chunk (by handle, or by id when that rule is new too).
 *
 * Return: as nft_compile_ruleset().
 */
static int compile_changes(const Engine *e, NftLayout *L, const NftConfig *c, NftBatch *b) {
        _cleanup_(freep) Filter **added = NULL;
        _cleanup_(freep) NftChunk **emptied = NULL;
        _cleanup_(freep) const Sublayer **emptied_in = NULL;
        _cleanup_(freep) WfpLayer *emptied_layer = NULL;
        size_t n, n_added = 0, n_emptied = 0;
        const Change *changes;
        int k;

        changes = engine_changes(e, &n);
        added = calloc(n ? n : 1, sizeof(*added));
        emptied = calloc(n ? n : 1, sizeof(*emptied));
        emptied_in = calloc(n ? n : 1, sizeof(*emptied_in));
        emptied_layer = calloc(n ? n : 1, sizeof(*emptied_layer));
        if (!added || !emptied || !emptied_in || !emptied_layer)
                return -ENOMEM;
        k = nft_trace_compile_changes(e, L, c, b);
        if (k < 0)
                return k;

        for (size_t i = 0; i < n; i++) {
                Filter *f = changes[i].object;
                char chain[NFT_CHAIN_NAME_MAX], what[TEXT_MAX];
                const Filter *heir = NULL;
                NftRun *dying = NULL;
                NftRuleRef ref;

                if (changes[i].kind != OBJECT_FILTER || changes[i].type != CHANGE_DELETE)
                        continue;
                k = nft_layout_filter_drop(L, b, f); /* once the kernel has applied the batch */
                if (k < 0)
                        return k;
                k = classify_forget(c, L, b, f);
                if (k < 0)
                        return k;
                if (FS(L, f)->run) {
                        k = run_leave(c, L, b, f, &dying, &heir);
                        if (k < 0)
                                return k;
                        if (!dying && !heir)
                                continue; /* its element was all it had */
                }
                nft_layout_rule_remove(L, f);
                if (!FS(L, f)->chunk || FS(L, f)->handle == 0)
                        continue; /* added earlier in this transaction, or not emitted */
                ref = (NftRuleRef) { .handle = FS(L, f)->handle };
                chunk_chain_name(f->layer, f->sublayer, FS(L, f)->chunk, chain);
                snprintf(what, sizeof(what), "deletion of the rule for filter %" PRIu64 " '%s'", f->id, f->name);
                k = emit_delete_ref(c, b, chain, &ref, what);
                if (k >= 0) /* with port blocks, the run's other rules (f carried it) */
                        k = emit_delete_run_extras(c, b, dying ? dying : heir ? FS(L, heir)->run : NULL, chain);
                if (k >= 0)
                        k = NFT_SET(b, FSW(L, f)->chunk->n, FS(L, f)->chunk->n - 1);
                if (k >= 0 && dying)
                        k = emit_delete_run_set(c, b, dying); /* after the rule that used it */
                if (k >= 0 && heir)
                        k = place_rule(c, L, b, heir); /* the run's rule, from the heir's place */
                if (k < 0)
                        return k;
                if (FS(L, f)->chunk->n == 0 && FS(L, f)->chunk->id != 0) {
                        emptied[n_emptied] = FS(L, f)->chunk;
                        emptied_in[n_emptied] = f->sublayer;
                        emptied_layer[n_emptied++] = f->layer;
                }
        }
        for (size_t i = 0; i < n_emptied; i++) {
                if (emptied[i]->n != 0)
                        continue; /* an heir's rule went there */
                k = chunk_remove(c, b, emptied_in[i], emptied_layer[i], emptied[i]);
                if (k < 0)
                        return k;
        }

        for (size_t i = 0; i < n; i++)
                if (changes[i].kind == OBJECT_SUBLAYER && changes[i].type == CHANGE_DELETE) {
                        k = emit_delete_sublayer(c, L, b, changes[i].object);
                        if (k < 0)
                                return k;
                }
        for (size_t i = 0; i < n; i++) {
                Sublayer *s = changes[i].object;

                if (changes[i].kind != OBJECT_SUBLAYER || changes[i].type != CHANGE_ADD || !s->live)
                        continue;
                k = emit_sublayer(c, L, b, s);
                if (k < 0)
                        return k;
        }

        for (size_t i = 0; i < n; i++) {
                Filter *f = changes[i].object;

                if (changes[i].kind == OBJECT_FILTER && changes[i].type == CHANGE_ADD && f->live &&
                    wfp_layer_is_emitted(f->layer) && !filter_is_boottime(f)) {
                        const NftFilterState *placed = nft_layout_filter(L, f);
                        NftFilterState *fs;

                        if (placed && (placed->chunk || placed->run))
                                continue; /* its sublayer is new: emit_sublayer() wrote it */

                        /* all of them before any: placing one looks at the next ones */
                        k = nft_layout_filter_add(L, b, f, &fs);
                        if (k < 0)
                                return k;
                        added[n_added++] = f;
                }
        }
        qsort(added, n_added, sizeof(*added), compare_added);
        for (size_t i = 0; i < n_added; i++) {
                k = place_filter(c, L, b, added[i]);
                if (k < 0)
                        return k;
        }
        k = runs_write_joined(c, L, b); /* the elements of the filters that joined runs, together */
        return k < 0 ? k : guard_update_jumps(e, c, L, b, sublayer_jump_again);
}

int nft_compile_changes(const Engine *e, NftLayout *L, const NftConfig *c, NftBatch *b) {
        /* the caches of the layout, as the kernel has it: built again after a refused batch */
        int k = classify_sync(e, L, c);

        nft_layout_begin(L, b);
        return k < 0 ? k : compile_changes(e, L, c, b);
}

int nft_compile_delete_table(const NftConfig *c, NftBatch *b) {
        return emit_table(c, b, NFT_MSG_DELTABLE, 0, false);
}

/* A kernel without a flag refuses the NEWTABLE with EOPNOTSUPP; one with it commits a no-op. */
int nft_compile_table_flags_probe(const char *name, uint32_t flags, NftBatch *b) {
        int k;

        k = emit_named_table(name, b, NFT_MSG_NEWTABLE, flags, true);
        if (k >= 0)
                k = emit_named_table(name, b, NFT_MSG_DELTABLE, 0, false);
        return k;
}

int nft_compile_trace_probe(const char *name, NftBatch *b) {
        NftConfig c;
        int k;

        nft_config_init(&c);
        snprintf(c.table, sizeof(c.table), "%s", name);
        k = emit_named_table(name, b, NFT_MSG_NEWTABLE, 0, false);
        if (k >= 0)
                k = nft_trace_emit(&c, b);
        if (k >= 0)
                k = emit_named_table(name, b, NFT_MSG_DELTABLE, 0, false);
        return k;
}

/**
 * nft_filter_cost() - what @f's rules cost the kernel, counted on the rules themselves.
 * @f: a filter (it need not be placed yet: its rule is built as the emitter builds it, in a
 *   chain of no consequence)
 * @ret_rule: the cost of the filter's own rule, as it is while net events are on (with its log
 *   statement: the largest it gets)
 * @ret_run: the cost of the rule of a run this filter may come to carry (FilterRuns), or zero
 *   when it cannot be a member of a run; the run's set element fits by construction (RUN_KEY_MAX)
 *
 * Return: 0, or -ENOMEM.
 */
int nft_filter_cost(const Filter *f, const NftConfig *config, NftRuleCost *ret_rule, NftRuleCost *ret_run) {
        NftConfig worst = *config, *c = &worst;
        RuleBuild rb = { .config = c, .filter = f, .chain = "budget" };
        struct nftnl_rule *r;
        unsigned shape;
        int k;

        worst.net_events = true;
        *ret_rule = *ret_run = (NftRuleCost) {};
        k = rule_build(&rb);
        if (k >= 0)
                *ret_rule = nft_rule_cost(rb.rule);
        rule_build_done(&rb);
        shape = run_shape(c, f);
        if (k < 0 || shape == 0)
                return k;

        /* the largest run id makes the longest set name; run_rule_build() only reads the carrier */
        NftRun run = { .id = UINT_MAX, .shape = shape, .verdict = verdict_of(f), .carrier = (Filter *) f };
        k = run_rule_build(c, &run, 0, "budget", &r); /* with port blocks the widest of its rules */
        if (k < 0)
                return k;
        *ret_run = nft_rule_cost(r);
        nftnl_rule_free(r);
        return 0;
}

/**
 * nft_check_filter() - whether @f's rule fits the kernel, before anything is applied.
 * @c: the configuration the rule would be compiled with
 * @err: says how many expressions and bytes the rule would need, the kernel's limits, and
 *   what to do
 *
 * A filter of at most NFT_CONDITIONS_ALWAYS_FIT conditions fits whatever they are (budget.h),
 * and building its rule to count it would cost more than the rest of an AddFilter. Any other
 * is built exactly as emit_filter() builds it and measured expression by expression
 * (nft_filter_cost()), so the two cannot disagree; so is the rule of the run it may carry.
 *
 * Return: 0; wfp_ret(FWP_E_OUT_OF_BOUNDS) when a rule would be over a limit; -ENOMEM.
 */
int nft_check_filter(const Filter *f, const NftConfig *config, EngineError *err) {
        NftRuleCost rule, run;
        int k;

        if (!wfp_layer_is_emitted(f->layer) || f->n_conditions <= NFT_CONDITIONS_ALWAYS_FIT)
                return 0;
        k = nft_filter_cost(f, config, &rule, &run);
        if (k < 0)
                return k;
        if (!nft_rule_cost_fits(rule))
                return budget_error(rule, "the filter's rule", err);
        if (!nft_rule_cost_fits(run))
                return budget_error(run, "the rule of the filter's run", err);
        return 0;
}

int nft_filter_rule_text(const Filter *f, const NftConfig *c, char **ret) {
        RuleBuild rb = { .config = c, .filter = f };
        char *buf = NULL;
        size_t size = 0;
        FILE *out;
        int k;

        k = rule_build(&rb);
        if (k < 0) {
                rule_build_done(&rb);
                return k;
        }
        out = open_memstream(&buf, &size);
        if (!out) {
                rule_build_done(&rb);
                return -ENOMEM;
        }
        for (size_t i = 0; i < rb.n_sets; i++) {
                char line[4096];
                nftnl_set_snprintf(line, sizeof(line), rb.sets[i], NFTNL_OUTPUT_DEFAULT, 0);
                fprintf(out, "%s\n", line);
        }
        {
                char line[8192];
                nftnl_rule_snprintf(line, sizeof(line), rb.rule, NFTNL_OUTPUT_DEFAULT, 0);
                fprintf(out, "%s\n", line);
        }
        rule_build_done(&rb);
        if (fclose(out) != 0) {
                free(buf);
                return -ENOMEM;
        }
        *ret = buf;
        return 0;
}

/* Whether chunk @ch of @s in layer @l has a rule that drops: a block or callout filter's, or the
 * rule of a run of them. */
static bool chunk_drops(const NftLayout *L, const Sublayer *s, WfpLayer l, const NftChunk *ch) {
        for (const Filter *f = s->filters_head[l]; f; f = f->lnext) {
                const NftFilterState *fs = FS(L, f);

                if (fs->chunk == ch && has_rule(L, f) && (fs->run ? fs->run->verdict : verdict_of(f)) == NF_DROP)
                        return true;
        }
        return false;
}

/* Empties chain @name: one message, every rule of it. */
static int emit_flush_chain(const NftConfig *c, NftBatch *b, const char *name) {
        _cleanup_(nftnl_rule_freep) struct nftnl_rule *r = new_rule(c, name);
        struct nlmsghdr *nlh;

        if (!r)
                return -ENOMEM;
        nlh = msg_start(b, NFT_MSG_DELRULE, NLM_F_ACK);
        if (!nlh)
                return -ENOMEM;
        nftnl_rule_nlmsg_build_payload(nlh, r);
        return nft_batch_commit_msg(b, nlh, NULL, "the rules of a chunk, to be put anew");
}

/**
 * nft_compile_net_events() - the rules that drop, with the log statement of the net events
 * (c->net_events) or without it, in a batch of their own.
 *
 * Each chunk chain that has such a rule is emptied and filled again in order: its filters' rules
 * (a run's rule; its set stays) and its goto, each rule appended, each with a new handle that the
 * echo brings back. Replacing the rules one by one would cost the kernel a walk of the chain for
 * each (it finds a rule by its handle): 2.5 s instead of 0.5 s for 10,000 rules, and growing
 * with the square of the chunk. The rules put anew start their counters from 0.
 *
 * Return: 0, -ENOMEM, or wfp_ret(FWP_E_OUT_OF_BOUNDS) for a rule over the kernel's limits.
 */
int nft_compile_net_events(const Engine *e, NftLayout *L, const NftConfig *c, NftBatch *b) {
        char name[NFT_CHAIN_NAME_MAX];
        int k = 0;

        nft_layout_begin(L, b);
        for (Sublayer *s = engine_sublayers(e); s; s = s->next)
                for (WfpLayer l = 0; l < _WFP_LAYER_MAX; l++) {
                        if (!wfp_layer_is_emitted(l))
                                continue;
                        for (NftChunk *ch = SS(L, s)->chunks[l]; k >= 0 && ch; ch = ch->next) {
                                if (!chunk_drops(L, s, l, ch))
                                        continue;
                                chunk_chain_name(l, s, ch, name);
                                k = emit_flush_chain(c, b, name);
                                for (Filter *f = s->filters_head[l]; k >= 0 && f; f = f->lnext)
                                        if (FS(L, f)->chunk == ch && has_rule(L, f))
                                                k = emit_filter(c, L, b, f, name, NULL);
                                if (k >= 0 && ch->next)
                                        k = emit_goto(c, b, l, s, ch, ch->next);
                        }
                        if (k < 0)
                                return k;
                }
        return 0;
}

/**
 * nft_compile_layout() - the table as bfed's bookkeeping says the kernel has it, for
 * comparing (verify.c); never sent.
 *
 * Unlike nft_compile_ruleset() it lays nothing out anew: the chunk chains, runs (their ids
 * name their sets) and rules in the order they are in, and each rule's record points at the
 * handle bfed keeps for it (a filter's, a chunk's goto, a sublayer's jump); the base chains'
 * dispatch rules have none. It changes no bookkeeping: emit_filter()'s batch id is put back.
 */
int nft_compile_layout(const Engine *e, NftLayout *L, const NftConfig *c, NftBatch *b) {
        char fam[48], name[NFT_CHAIN_NAME_MAX], next[NFT_CHAIN_NAME_MAX];
        int k;

        nft_layout_begin(L, b);
        k = emit_table(c, b, NFT_MSG_NEWTABLE, c->table_flags, true);
        if (k >= 0)
                k = emit_ike_ports_set(c, b);
        for (WfpLayer l = 0; k >= 0 && l < _WFP_LAYER_MAX; l++) {
                if (!wfp_layer_is_emitted(l))
                        continue;
                nft_family_chain_name(l, fam);
                k = emit_chain(c, b, fam, -1, 0);
                for (Sublayer *s = engine_sublayers(e); k >= 0 && s; s = s->next) {
                        const NftChunk *last = NULL;

                        if (!SS(L, s)->chunks[l])
                                continue;
                        for (NftChunk *ch = SS(L, s)->chunks[l]; k >= 0 && ch; ch = ch->next) {
                                chunk_chain_name(l, s, ch, name);
                                k = emit_chain(c, b, name, -1, 0);
                        }
                        /* one walk: each rule goes to its chunk's chain, in evaluation order there */
                        for (Filter *f = s->filters_head[l]; k >= 0 && f; f = f->lnext) {
                                NftFilterState *fs = nft_layout_filter(L, f);
                                uint32_t id, gen;

                                if (!fs || !fs->chunk || !has_rule(L, f))
                                        continue;
                                id = fs->rule_id;
                                gen = fs->rule_batch;
                                if (fs->chunk != last) {
                                        chunk_chain_name(l, s, fs->chunk, name);
                                        last = fs->chunk;
                                }
                                if (fs->run)
                                        k = emit_run_set(c, L, b, fs->run, fs->run->head, fs->run->n);
                                if (k >= 0)
                                        k = emit_filter(c, L, b, f, name, NULL);
                                fs->rule_id = id;
                                fs->rule_batch = gen;
                        }
                        /* then each chunk's goto, the last rule of its chain */
                        for (NftChunk *ch = SS(L, s)->chunks[l]; k >= 0 && ch && ch->next; ch = ch->next) {
                                chunk_chain_name(l, s, ch, name);
                                chunk_chain_name(l, s, ch->next, next);
                                k = emit_jump(c, b, name, 0, false, NFT_GOTO, next, NULL, &ch->go.handle, NULL);
                        }
                        if (k >= 0)
                                k = guard_emit_whole(c, L, b, s, l, true);
                        if (k >= 0)
                                k = emit_sublayer_jump(c, L, b, l, s, NULL);
                }
        }
        /* the base chains and the trace chains, as nft_compile_ruleset() makes them */
        if (k >= 0)
                k = emit_base_chains(c, b);
        return k < 0 || !c->trace || !engine_exemptions_active(e) ? k : nft_trace_emit(c, b);
}
