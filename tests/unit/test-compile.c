/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-compile.c — the nftables compiler: golden rule text for the exemption set and for
 * conditions, the incremental batch (only the changed rules, positioned by handle), comments
 * that nft lists and reads back whatever the filter's name, and the net events' log statements
 * (golden text, the switch that replaces the rules that drop, the filter of a logged packet).
 * Regenerate a golden file with BFED_UPDATE_GOLDEN=1 after checking the difference by eye.
 */
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/udata.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "golden.h"

/* the case tables below leave trailing fields out on purpose */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include "batch.h"
#include "budget.h"
#include "compile.h"
#include "engine.h"
#include "macro.h"
#include "nflog.h"
#include "text.h"
#include "utf8.h"
#include "test-layout.h"

static Engine *engine_with_mm_policy(void) {
        ProviderContextSpec cs = { .name = "ike", .type = WFP_CONTEXT_TYPE_IPSEC_IKE_MM };
        ProviderContext *c;
        Engine *e;

        assert_int_equal(engine_new(&e), 0);
        assert_int_equal(engine_begin(e), 0);
        assert_int_equal(engine_add_provider_context(e, &cs, NULL, &c), 0);
        FilterSpec fs = { .name = "mm", .layer = "IKEEXT_V4", .action = WFP_ACTION_PERMIT,
                          .provider_context_key = c->key };
        assert_int_equal(engine_add_filter(e, &fs, NULL, NULL), 0);
        engine_commit(e);
        return e;
}

/* Every engine-owned filter's rule, layer by layer in evaluation order. */
static char *exemption_text(Engine *e, const NftConfig *cfg) {
        char *out = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&out, &size);

        for (WfpLayer l = 0; l < _WFP_LAYER_MAX; l++)
                for (Filter *x = engine_universal_sublayer(e)->filters_head[l]; x && wfp_layer_is_emitted(l);
                     x = x->lnext) {
                        char chain[NFT_CHAIN_NAME_MAX], *text;
                        assert_true(x->engine_owned);
                        nft_sublayer_chain_name(l, x->sublayer, chain);
                        assert_int_equal(nft_filter_rule_text(x, cfg, &text), 0);
                        fprintf(f, "# %s -> %s\n%s", wfp_layer_info(l)->name, chain, text);
                        free(text);
                }
        fclose(f);
        return out;
}

static void test_exemptions_golden(void **state) {
        Engine *e = engine_with_mm_policy();
        NftConfig cfg;
        char *text;

        nft_config_init(&cfg);
        text = exemption_text(e, &cfg);
        check_golden("exemptions.payload", text);
        free(text);

        /* with a socket mark and another keying user */
        cfg.has_socket_mark = true;
        cfg.socket_mark = 0x2a;
        cfg.local_system_uid = 977;
        text = exemption_text(e, &cfg);
        check_golden("exemptions-mark.payload", text);
        free(text);
        engine_free(e);
}

/* One filter per case, at least one per field and match type the compiler knows: the golden
 * conditions.payload, and the budget's bounds (test_budget_bounds). */
typedef struct ConditionCase {
        const char *layer;
        ConditionSpec c[3];
        size_t n;
        uint32_t action, flags;
        const char *callout;
} ConditionCase;

static const ConditionCase condition_cases[] = {
        { "INBOUND_TRANSPORT_V4", { { "IP_PROTOCOL", 0, "udp" } }, 1, WFP_ACTION_BLOCK, 0 },
        { "INBOUND_TRANSPORT_V4", { { "IP_LOCAL_PORT", 0, "9999" } }, 1, WFP_ACTION_PERMIT, 0 },
        { "OUTBOUND_TRANSPORT_V4", { { "IP_PROTOCOL", 0, "tcp" }, { "IP_LOCAL_PORT", 0, "22" } }, 2,
          WFP_ACTION_PERMIT, WFP_FILTER_FLAG_CLEAR_ACTION_RIGHT },
        { "INBOUND_TRANSPORT_V4", { { "IP_REMOTE_ADDRESS", 0, "192.0.2.0/24" } }, 1, WFP_ACTION_BLOCK, 0 },
        { "OUTBOUND_TRANSPORT_V6", { { "IP_REMOTE_ADDRESS", 0, "2001:db8::/32" },
                                     { "IP_LOCAL_ADDRESS", 0, "2001:db8:1::1" } }, 2, WFP_ACTION_BLOCK, 0 },
        { "ALE_AUTH_CONNECT_V4", { { "IP_PROTOCOL", 0, "udp" }, { "IP_PROTOCOL", 0, "tcp" } }, 2,
          WFP_ACTION_BLOCK, 0 },
        /* 6-: match types */
        { "INBOUND_TRANSPORT_V4", { { "IP_PROTOCOL", 0, "udp" }, { "IP_LOCAL_PORT", WFP_MATCH_RANGE, "7000-7010" } },
          2, WFP_ACTION_BLOCK, 0 },
        { "INBOUND_TRANSPORT_V4", { { "IP_PROTOCOL", 0, "udp" }, { "IP_LOCAL_PORT", WFP_MATCH_NOT_EQUAL, "22" } },
          2, WFP_ACTION_BLOCK, 0 },
        { "INBOUND_TRANSPORT_V4", { { "IP_PROTOCOL", 0, "tcp" }, { "IP_REMOTE_PORT", WFP_MATCH_GREATER, "1023" } },
          2, WFP_ACTION_BLOCK, 0 },
        { "OUTBOUND_TRANSPORT_V4", { { "IP_REMOTE_ADDRESS", WFP_MATCH_RANGE, "192.0.2.1-192.0.2.9" } }, 1,
          WFP_ACTION_BLOCK, 0 },
        { "OUTBOUND_TRANSPORT_V4", { { "IP_REMOTE_ADDRESS", WFP_MATCH_NOT_EQUAL, "10.0.0.0/8" } }, 1,
          WFP_ACTION_BLOCK, 0 },
        { "OUTBOUND_TRANSPORT_V4", { { "IP_REMOTE_ADDRESS", WFP_MATCH_RANGE, "10.0.0.5-10.0.0.7" } }, 1,
          WFP_ACTION_BLOCK, 0 },
        /* 12-: ORed ranges and prefixes make an interval set (sorted, merged) */
        { "INBOUND_TRANSPORT_V4", { { "IP_REMOTE_ADDRESS", 0, "192.168.0.0/16" },
                                    { "IP_REMOTE_ADDRESS", 0, "10.0.0.0/8" },
                                    { "IP_REMOTE_ADDRESS", 0, "10.1.2.3" } }, 3, WFP_ACTION_BLOCK, 0 },
        { "INBOUND_TRANSPORT_V6", { { "IP_LOCAL_PORT", WFP_MATCH_RANGE, "0-10" },
                                    { "IP_LOCAL_PORT", WFP_MATCH_GREATER_OR_EQUAL, "65000" } }, 2,
          WFP_ACTION_BLOCK, 0 },
        /* 14-: interface, user, flags, callouts */
        { "INBOUND_TRANSPORT_V4", { { "IP_LOCAL_INTERFACE", 0, "veth0" } }, 1, WFP_ACTION_BLOCK, 0 },
        { "OUTBOUND_TRANSPORT_V6", { { "IP_LOCAL_INTERFACE", 0, "eth0" }, { "IP_LOCAL_INTERFACE", 0, "lo" } }, 2,
          WFP_ACTION_BLOCK, 0 },
        { "ALE_AUTH_CONNECT_V4", { { "ALE_USER_ID", 0, "65534" } }, 1, WFP_ACTION_BLOCK, 0 },
        { "ALE_AUTH_CONNECT_V6", { { "ALE_USER_ID", WFP_MATCH_NOT_EQUAL, "0" } }, 1, WFP_ACTION_BLOCK, 0 },
        { "INBOUND_TRANSPORT_V4", { { "FLAGS", WFP_MATCH_FLAGS_NONE_SET, "loopback" } }, 1, WFP_ACTION_BLOCK, 0 },
        { "OUTBOUND_TRANSPORT_V4", { { "FLAGS", WFP_MATCH_FLAGS_ALL_SET, "loopback,ipsec-secured" } }, 1,
          WFP_ACTION_PERMIT, 0 },
        { "INBOUND_TRANSPORT_V4", { { "IP_PROTOCOL", 0, "udp" } }, 1, WFP_ACTION_CALLOUT_TERMINATING, 0,
          "5132900d-5e84-4b5f-80e4-01741e81ff10" },
        { "OUTBOUND_TRANSPORT_V6", { { "IP_PROTOCOL", 0, "udp" } }, 1, WFP_ACTION_CALLOUT_TERMINATING, 0,
          "38d87722-ad83-4f11-a91f-df0fb077225b" },
        /* 22-: UDP and the IKE ports ORed, in any order: one lookup of protocol . port in the
         * table's ike_ports set (ike_fold()); other ports an anonymous set (more at 45-) */
        { "INBOUND_TRANSPORT_V4", { { "IP_PROTOCOL", 0, "udp" }, { "IP_LOCAL_PORT", 0, "4500" },
                                    { "IP_LOCAL_PORT", 0, "500" } }, 3, WFP_ACTION_BLOCK, 0 },
        { "INBOUND_TRANSPORT_V4", { { "IP_PROTOCOL", 0, "udp" }, { "IP_LOCAL_PORT", 0, "500" },
                                    { "IP_LOCAL_PORT", 0, "501" } }, 3, WFP_ACTION_BLOCK, 0 },
        /* 24-: FLAGS any-set with both flags: one lookup over two registers, in and out */
        { "INBOUND_TRANSPORT_V4", { { "FLAGS", WFP_MATCH_FLAGS_ANY_SET, "loopback,ipsec-secured" } }, 1,
          WFP_ACTION_BLOCK, 0 },
        { "OUTBOUND_TRANSPORT_V6", { { "FLAGS", WFP_MATCH_FLAGS_ANY_SET, "0x3" } }, 1, WFP_ACTION_PERMIT, 0 },
        /* 26-: ORed negations: "not in" what the run excludes */
        { "INBOUND_TRANSPORT_V4", { { "IP_PROTOCOL", 0, "udp" }, { "IP_LOCAL_PORT", WFP_MATCH_NOT_EQUAL, "22" },
                                    { "IP_LOCAL_PORT", WFP_MATCH_NOT_EQUAL, "23" } }, 3, WFP_ACTION_BLOCK, 0 },
        { "INBOUND_TRANSPORT_V4", { { "IP_REMOTE_ADDRESS", WFP_MATCH_NOT_EQUAL, "10.0.0.0/8" },
                                    { "IP_REMOTE_ADDRESS", 0, "10.1.0.0/16" },
                                    { "IP_REMOTE_ADDRESS", 0, "10.3.0.1" } }, 3, WFP_ACTION_BLOCK, 0 },
        { "OUTBOUND_TRANSPORT_V4", { { "IP_LOCAL_INTERFACE", WFP_MATCH_NOT_EQUAL, "eth0" },
                                     { "IP_LOCAL_INTERFACE", 0, "eth1" } }, 2, WFP_ACTION_BLOCK, 0 },
        { "ALE_AUTH_CONNECT_V4", { { "ALE_USER_ID", WFP_MATCH_NOT_EQUAL, "0" },
                                   { "ALE_USER_ID", WFP_MATCH_NOT_EQUAL, "1" } }, 2, WFP_ACTION_BLOCK, 0 },
        { "INBOUND_TRANSPORT_V6", { { "IP_LOCAL_PORT", WFP_MATCH_RANGE, "100-200" },
                                    { "IP_LOCAL_PORT", WFP_MATCH_NOT_EQUAL, "150" } }, 2, WFP_ACTION_BLOCK, 0 },
        /* 31-: ICMP type and code (IP_LOCAL_PORT, IP_REMOTE_PORT): echo request in and out, v4 and v6 */
        { "INBOUND_TRANSPORT_V4", { { "IP_PROTOCOL", 0, "icmp" }, { "ICMP_TYPE", 0, "8" },
                                    { "ICMP_CODE", 0, "0" } }, 3, WFP_ACTION_BLOCK, 0 },
        { "OUTBOUND_TRANSPORT_V6", { { "IP_PROTOCOL", 0, "58" }, { "ICMP_TYPE", 0, "128" } }, 2,
          WFP_ACTION_BLOCK, 0 },
        /* 33-: no protocol: ports for TCP/UDP and the rest, type and code for ICMP */
        { "OUTBOUND_TRANSPORT_V4", { { "IP_REMOTE_PORT", WFP_MATCH_RANGE, "0-1023" } }, 1, WFP_ACTION_BLOCK, 0 },
        /* TCP or ICMP, type/port 300: ICMP's types end at 255, so TCP alone */
        { "INBOUND_TRANSPORT_V4", { { "IP_PROTOCOL", 0, "tcp" }, { "IP_PROTOCOL", 0, "icmp" },
                                    { "IP_LOCAL_PORT", 0, "300" } }, 3, WFP_ACTION_BLOCK, 0 },
        /* 35-: IP_LOCAL_ADDRESS_TYPE: the local address's route type (fib daddr in, saddr out) */
        { "INBOUND_TRANSPORT_V4", { { "IP_LOCAL_ADDRESS_TYPE", 0, "unicast" } }, 1, WFP_ACTION_BLOCK, 0 },
        { "OUTBOUND_TRANSPORT_V6", { { "IP_LOCAL_ADDRESS_TYPE", WFP_MATCH_NOT_EQUAL, "3" } }, 1,
          WFP_ACTION_BLOCK, 0 },
        { "ALE_AUTH_RECV_ACCEPT_V4", { { "IP_LOCAL_ADDRESS_TYPE", 0, "broadcast" },
                                       { "IP_LOCAL_ADDRESS_TYPE", 0, "NlatMulticast" } }, 2, WFP_ACTION_BLOCK, 0 },
        /* ICMP alone with a type over 255: never */
        { "INBOUND_TRANSPORT_V4", { { "IP_PROTOCOL", 0, "icmp" }, { "IP_LOCAL_PORT", 0, "300" } }, 2,
          WFP_ACTION_BLOCK, 0 },
        /* 39-: the forward layers: ip saddr/daddr, iifname (arrival) and oifname (forward
         * interface), fib daddr type unicast (RTN_UNICAST, 1), secpath; flow established */
        { "IPFORWARD_V4", { { "IP_SOURCE_ADDRESS", 0, "192.0.2.0/24" },
                            { "IP_DESTINATION_ADDRESS", 0, "198.51.100.7" } }, 2, WFP_ACTION_BLOCK, 0 },
        { "IPFORWARD_V6", { { "IP_LOCAL_INTERFACE", 0, "vclient" }, { "IP_FORWARD_INTERFACE", 0, "vserver" },
                            { "IP_DESTINATION_ADDRESS", WFP_MATCH_NOT_EQUAL, "2001:db8::/32" } }, 3,
          WFP_ACTION_PERMIT, 0 },
        { "IPFORWARD_V4", { { "IP_DESTINATION_ADDRESS_TYPE", 0, "unicast" },
                            { "FLAGS", WFP_MATCH_FLAGS_ALL_SET, "ipsec-secured" } }, 2, WFP_ACTION_BLOCK, 0 },
        { "ALE_FLOW_ESTABLISHED_V6", { { "IP_PROTOCOL", 0, "udp" } }, 1, WFP_ACTION_BLOCK, 0 },
        /* 43-: flow established by DIRECTION: meta iif (none on the way out), then local/remote
         * as that direction has them */
        { "ALE_FLOW_ESTABLISHED_V4", { { "DIRECTION", 0, "inbound" }, { "IP_LOCAL_PORT", 0, "53" },
                                       { "IP_REMOTE_ADDRESS", 0, "192.0.2.9" } }, 3, WFP_ACTION_BLOCK, 0 },
        { "ALE_FLOW_ESTABLISHED_V4", { { "DIRECTION", 0, "outbound" }, { "IP_LOCAL_PORT", 0, "53" },
                                       { "IP_REMOTE_ADDRESS", 0, "192.0.2.9" } }, 3, WFP_ACTION_BLOCK, 0 },
        /* 45-: ike_fold(): UDP and port 500 alone use ike_port_500 (with a condition after them);
         * not without the protocol (the ports may then be ICMP's type and code: the typed ports'
         * set), not with another port field besides, not with TCP */
        { "ALE_AUTH_CONNECT_V6", { { "IP_PROTOCOL", 0, "udp" }, { "IP_REMOTE_PORT", 0, "500" },
                                   { "ALE_USER_ID", 0, "0" } }, 3, WFP_ACTION_PERMIT, 0 },
        { "INBOUND_TRANSPORT_V4", { { "IP_LOCAL_PORT", 0, "500" }, { "IP_LOCAL_PORT", 0, "4500" } }, 2,
          WFP_ACTION_BLOCK, 0 },
        { "INBOUND_TRANSPORT_V4", { { "IP_PROTOCOL", 0, "udp" }, { "IP_LOCAL_PORT", 0, "500" },
                                    { "IP_REMOTE_PORT", 0, "500" } }, 3, WFP_ACTION_BLOCK, 0 },
        { "OUTBOUND_TRANSPORT_V4", { { "IP_PROTOCOL", 0, "tcp" }, { "IP_REMOTE_PORT", 0, "500" } }, 2,
          WFP_ACTION_BLOCK, 0 },
};

/* Adds a filter of @n conditions @c in the open transaction; NULL when the engine refuses it. */
static Filter *try_filter(Engine *e, const ConditionCase *base, const ConditionSpec *c, size_t n) {
        FilterSpec fs = { .name = "case", .layer = (char *) base->layer, .action = base->action,
                          .flags = base->flags, .conditions = (ConditionSpec *) c, .n_conditions = n };
        Filter *f;

        if (base->callout)
                assert_int_equal(guid_from_string(base->callout, &fs.callout_key), 0);
        return engine_add_filter(e, &fs, NULL, &f) < 0 ? NULL : f;
}

static void test_conditions_golden(void **state) {
        char *out = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&out, &size);
        NftConfig cfg;
        Engine *e;

        nft_config_init(&cfg);
        assert_int_equal(engine_new(&e), 0);
        for (size_t i = 0; i < ELEMENTSOF(condition_cases); i++) {
                const ConditionCase *cs = &condition_cases[i];
                Filter *x;
                char *text;

                assert_int_equal(engine_begin(e), 0);
                assert_non_null(x = try_filter(e, cs, cs->c, cs->n));
                engine_commit(e);
                assert_int_equal(nft_filter_rule_text(x, &cfg, &text), 0);
                fprintf(f, "# case %zu: %s\n%s", i, cs->layer, text);
                free(text);
        }
        fclose(f);
        check_golden("conditions.payload", out);
        free(out);
        engine_free(e);
}

typedef struct Msg {
        uint16_t type, flags;
        uint64_t handle, position;
        char chain[64];
} Msg;

/* Decode the batch's messages between BEGIN and END. */
static size_t decode(const NftBatch *b, Msg *msgs, size_t max) {
        const struct nlmsghdr *nlh = (const struct nlmsghdr *) b->buf;
        int len = (int) b->len;
        size_t n = 0;

        for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
                uint16_t type = NFNL_MSG_TYPE(nlh->nlmsg_type);
                Msg m = { .type = type, .flags = nlh->nlmsg_flags };

                if (nlh->nlmsg_type == NFNL_MSG_BATCH_BEGIN || nlh->nlmsg_type == NFNL_MSG_BATCH_END)
                        continue;
                if (type == NFT_MSG_NEWRULE || type == NFT_MSG_DELRULE) {
                        struct nftnl_rule *r = nftnl_rule_alloc();
                        assert_int_equal(nftnl_rule_nlmsg_parse(nlh, r), 0);
                        if (nftnl_rule_is_set(r, NFTNL_RULE_HANDLE))
                                m.handle = nftnl_rule_get_u64(r, NFTNL_RULE_HANDLE);
                        if (nftnl_rule_is_set(r, NFTNL_RULE_POSITION))
                                m.position = nftnl_rule_get_u64(r, NFTNL_RULE_POSITION);
                        snprintf(m.chain, sizeof(m.chain), "%s", nftnl_rule_get_str(r, NFTNL_RULE_CHAIN));
                        nftnl_rule_free(r);
                }
                assert_true(n < max);
                msgs[n++] = m;
        }
        return n;
}

/* Stands in for the kernel's echo: every rule the batch asked a handle for gets a new one. */
static uint64_t next_handle = 1000;

static void apply(NftBatch *b) {
        for (size_t i = 0; i < b->n_records; i++)
                if (b->records[i].handle)
                        *b->records[i].handle = next_handle++;
        nft_batch_finish(b, true);
}

static NftBatch *compile_changes(Engine *e, const NftConfig *cfg) {
        NftBatch *b;

        assert_int_equal(nft_batch_new(1, &b), 0);
        assert_int_equal(nft_compile_changes(e, lay(), cfg, b), 0);
        return b;
}

static void install(Engine *e, const NftConfig *cfg) {
        NftBatch *b;

        assert_int_equal(nft_batch_new(1, &b), 0);
        assert_int_equal(nft_compile_ruleset(e, lay(), cfg, true, b), 0);
        apply(b);
        nft_batch_free(b);
}

static void test_incremental(void **state) {
        NftConfig cfg;
        NftBatch *b;
        Engine *e;
        Msg msgs[64];
        size_t n;
        Filter *low, *high, *mid;

        nft_config_init(&cfg);
        assert_int_equal(engine_new(&e), 0);

        /* two filters already in the kernel */
        FilterSpec hi = { .name = "high", .layer = "INBOUND_TRANSPORT_V4", .action = WFP_ACTION_BLOCK,
                          .weight_kind = BFE_WEIGHT_RANGE, .weight = 9 };
        FilterSpec lo = { .name = "low", .layer = "INBOUND_TRANSPORT_V4", .action = WFP_ACTION_BLOCK,
                          .weight_kind = BFE_WEIGHT_RANGE, .weight = 1 };
        assert_int_equal(engine_begin(e), 0);
        assert_int_equal(engine_add_filter(e, &hi, NULL, &high), 0);
        assert_int_equal(engine_add_filter(e, &lo, NULL, &low), 0);
        engine_commit(e);
        install(e, &cfg);
        assert_true(FS(high)->handle && FS(low)->handle);
        uint32_t install_gen = FS(low)->rule_batch;

        /* a filter between them goes in before "low", by handle, and asks for its handle back; 2^32
         * batches on, in a batch of the install's generation: the install's ids are forgotten */
        FilterSpec md = { .name = "mid", .layer = "INBOUND_TRANSPORT_V4", .action = WFP_ACTION_BLOCK,
                          .weight_kind = BFE_WEIGHT_RANGE, .weight = 5 };
        assert_int_equal(engine_begin(e), 0);
        assert_int_equal(engine_add_filter(e, &md, NULL, &mid), 0);
        nft_batch_skip(UINT32_MAX);
        b = compile_changes(e, &cfg);
        assert_int_equal(b->gen, install_gen);
        n = decode(b, msgs, 64);
        assert_int_equal(n, 1);
        assert_int_equal(msgs[0].type, NFT_MSG_NEWRULE);
        assert_int_equal(msgs[0].position, FS(low)->handle);
        assert_false(msgs[0].flags & NLM_F_APPEND);
        assert_true(msgs[0].flags & NLM_F_ECHO);
        assert_string_equal(msgs[0].chain, "inbound_transport_v4_universal");
        assert_int_equal(b->n_records, 1);
        assert_ptr_equal(b->records[0].handle, &nft_layout_filter(test_layout, mid)->handle);
        apply(b);
        nft_batch_free(b);
        engine_commit(e);

        /* one below all of them is appended */
        FilterSpec last = { .name = "last", .layer = "INBOUND_TRANSPORT_V4", .action = WFP_ACTION_BLOCK,
                            .weight_kind = BFE_WEIGHT_RANGE, .weight = 0 };
        assert_int_equal(engine_begin(e), 0);
        assert_int_equal(engine_add_filter(e, &last, NULL, NULL), 0);
        b = compile_changes(e, &cfg);
        n = decode(b, msgs, 64);
        assert_int_equal(n, 1);
        assert_true(msgs[0].flags & NLM_F_APPEND);
        assert_int_equal(msgs[0].position, 0);
        nft_batch_finish(b, false); /* the kernel said no */
        nft_batch_free(b);
        engine_abort(e);
        assert_int_equal(FS(high)->chunk->n, 3);

        /* deleting one sends exactly one DELRULE by handle; nothing else is touched */
        uint64_t mid_handle = FS(mid)->handle;
        assert_int_equal(engine_begin(e), 0);
        assert_int_equal(engine_delete_filter_by_id(e, mid->id, NULL), 0);
        b = compile_changes(e, &cfg);
        n = decode(b, msgs, 64);
        assert_int_equal(n, 1);
        assert_int_equal(msgs[0].type, NFT_MSG_DELRULE);
        assert_int_equal(msgs[0].handle, mid_handle);
        apply(b);
        nft_batch_free(b);
        engine_commit(e);
        assert_int_equal(FS(high)->chunk->n, 2);

        /* a full reinstall the kernel refuses keeps the layout the incremental path relies on */
        NftChunk *before = FS(high)->chunk;
        assert_int_equal(nft_batch_new(1, &b), 0);
        assert_int_equal(nft_compile_ruleset(e, lay(), &cfg, true, b), 0);
        nft_batch_finish(b, false);
        nft_batch_free(b);
        assert_ptr_equal(FS(high)->chunk, before);
        assert_ptr_equal(SS(engine_universal_sublayer(e))->chunks[WFP_LAYER_INBOUND_TRANSPORT_V4], before);
        assert_int_equal(before->n, 2);
        /* and one it takes replaces it (the old chunks are freed: ASan would see a leak or a use) */
        install(e, &cfg);
        assert_ptr_not_equal(FS(high)->chunk, NULL);
        assert_int_equal(FS(high)->chunk->n, 2);

        layout_done();
        engine_free(e);
}

/* The layout's entries live and die with the batches (layout.h): the entries a refused batch made
 * are gone with it, a deleted filter's is there until the batch that deletes its rule is applied,
 * and a deleted sublayer's likewise. */
static void test_layout_lifetime(void **state) {
        FilterSpec fa = { .name = "a", .layer = "INBOUND_TRANSPORT_V4", .action = WFP_ACTION_BLOCK };
        FilterSpec fx = { .name = "x", .layer = "INBOUND_TRANSPORT_V4", .action = WFP_ACTION_BLOCK };
        SublayerSpec ss = { .name = "sl", .weight = 7 };
        NftConfig cfg;
        NftBatch *b;
        Engine *e;
        Filter *a, *x;
        Sublayer *s;
        uint64_t a_handle;

        nft_config_init(&cfg);
        assert_int_equal(engine_new(&e), 0);
        assert_int_equal(engine_begin(e), 0);
        assert_int_equal(engine_add_filter(e, &fa, NULL, &a), 0);
        engine_commit(e);
        install(e, &cfg);
        assert_non_null(nft_layout_filter(test_layout, a));
        a_handle = FS(a)->handle;
        assert_true(a_handle != 0);

        /* a new filter in a new sublayer in a batch the kernel refuses */
        assert_int_equal(engine_begin(e), 0);
        assert_int_equal(engine_add_sublayer(e, &ss, NULL, &s), 0);
        fx.sublayer_key = s->key;
        assert_int_equal(engine_add_filter(e, &fx, NULL, &x), 0);
        b = compile_changes(e, &cfg);
        assert_non_null(nft_layout_filter(test_layout, x));
        assert_non_null(nft_layout_sublayer(test_layout, s));
        {
                /* the new sublayer's chain holds x's rule once */
                char chain[NFT_CHAIN_NAME_MAX];
                Msg msgs[256];
                size_t n = decode(b, msgs, ELEMENTSOF(msgs)), rules = 0;

                nft_sublayer_chain_name(x->layer, s, chain);
                for (size_t i = 0; i < n; i++)
                        rules += msgs[i].type == NFT_MSG_NEWRULE && streq(msgs[i].chain, chain);
                assert_int_equal(rules, 1);
        }
        nft_batch_finish(b, false);
        nft_batch_free(b);
        assert_null(nft_layout_filter(test_layout, x));
        assert_null(nft_layout_sublayer(test_layout, s));
        engine_abort(e);

        /* a deleted filter's entry outlives a refused batch, and goes with an applied one */
        assert_int_equal(engine_begin(e), 0);
        assert_int_equal(engine_delete_filter_by_id(e, a->id, NULL), 0);
        b = compile_changes(e, &cfg);
        nft_batch_finish(b, false);
        nft_batch_free(b);
        engine_abort(e);
        assert_int_equal(FS(a)->handle, a_handle);
        assert_int_equal(engine_begin(e), 0);
        assert_int_equal(engine_delete_filter_by_id(e, a->id, NULL), 0);
        b = compile_changes(e, &cfg);
        assert_int_equal(FS(a)->handle, a_handle);      /* while the batch is open */
        apply(b);
        nft_batch_free(b);
        assert_null(nft_layout_filter(test_layout, a));
        engine_commit(e);

        /* a sublayer: its entry with the batch that adds it, gone with the one that deletes it */
        assert_int_equal(engine_begin(e), 0);
        assert_int_equal(engine_add_sublayer(e, &ss, NULL, &s), 0);
        b = compile_changes(e, &cfg);
        apply(b);
        nft_batch_free(b);
        engine_commit(e);
        assert_non_null(nft_layout_sublayer(test_layout, s));
        assert_true(SS(s)->jump_handle[WFP_LAYER_INBOUND_TRANSPORT_V4] != 0);
        assert_int_equal(engine_begin(e), 0);
        assert_int_equal(engine_delete_sublayer(e, &s->key, NULL), 0);
        b = compile_changes(e, &cfg);
        apply(b);
        nft_batch_free(b);
        assert_null(nft_layout_sublayer(test_layout, s));
        engine_commit(e);

        layout_done();
        engine_free(e);
}

/* The chunk invariants: every chunk within the size, and walking the chunks in order meets
 * the filters in evaluation order. */
static void check_chunks(Engine *e, WfpLayer l, size_t max, size_t expect_filters) {
        Sublayer *u = engine_universal_sublayer(e);
        NftChunk *ch = SS(u)->chunks[l];
        size_t seen = 0, n_chunks = 0;

        for (NftChunk *x = ch; x; x = x->next)
                n_chunks++;
        assert_true(n_chunks <= NFT_CHUNKS_MAX);
        if (n_chunks == NFT_CHUNKS_MAX)
                max = SIZE_MAX; /* at the kernel's depth limit chunks grow instead */

        assert_non_null(ch);
        assert_null(ch->prev);
        for (Filter *f = u->filters_head[l]; f; f = f->lnext) {
                while (ch && FS(f)->chunk != ch) {
                        assert_true(ch->n <= max);
                        ch = ch->next;
                }
                if (!ch)
                        fail_msg("filter %s is in a chunk before its predecessor's", f->name);
                seen++;
        }
        assert_int_equal(seen, expect_filters);
        for (ch = SS(u)->chunks[l]; ch; ch = ch->next) {
                size_t count = 0;
                for (Filter *f = u->filters_head[l]; f; f = f->lnext)
                        count += FS(f)->chunk == ch;
                assert_int_equal(count, ch->n);
                assert_true(ch->n <= max);
                assert_true(ch->next ? ch->go.handle != 0 : ch->go.handle == 0);
                if (ch->prev)
                        assert_true(ch->n > 0); /* emptied chunks are removed */
        }
}

static void test_chunks(void **state) {
        /* weights chosen to insert at the end, the front and the middle of full chunks */
        static const uint8_t weights[] = { 5, 5, 5, 5, 5, 9, 1, 5, 7, 7, 3, 3, 3, 8, 5, 2, 9, 9, 9, 6 };
        Filter *added[sizeof(weights)];
        NftConfig cfg;
        NftBatch *b;
        Engine *e;

        nft_config_init(&cfg);
        cfg.chunk_size = 4;
        assert_int_equal(engine_new(&e), 0);
        install(e, &cfg);

        for (size_t i = 0; i < sizeof(weights); i++) {
                char name[16];
                snprintf(name, sizeof(name), "w%u-%zu", weights[i], i);
                FilterSpec fs = { .name = (char *) name, .layer = "INBOUND_TRANSPORT_V4", .action = WFP_ACTION_BLOCK,
                                  .weight_kind = BFE_WEIGHT_RANGE, .weight = weights[i] };
                assert_int_equal(engine_begin(e), 0);
                assert_int_equal(engine_add_filter(e, &fs, NULL, &added[i]), 0);
                b = compile_changes(e, &cfg);
                apply(b);
                nft_batch_free(b);
                engine_commit(e);
                check_chunks(e, WFP_LAYER_INBOUND_TRANSPORT_V4, 4, i + 1);
        }

        /* a refused batch leaves the bookkeeping as it was */
        FilterSpec fs = { .name = "refused", .layer = "INBOUND_TRANSPORT_V4", .action = WFP_ACTION_BLOCK,
                          .weight_kind = BFE_WEIGHT_RANGE, .weight = 5 };
        NftChunk *first = SS(engine_universal_sublayer(e))->chunks[WFP_LAYER_INBOUND_TRANSPORT_V4];
        assert_int_equal(engine_begin(e), 0);
        assert_int_equal(engine_add_filter(e, &fs, NULL, NULL), 0);
        b = compile_changes(e, &cfg);
        nft_batch_finish(b, false);
        nft_batch_free(b);
        engine_abort(e);
        assert_ptr_equal(SS(engine_universal_sublayer(e))->chunks[WFP_LAYER_INBOUND_TRANSPORT_V4], first);
        check_chunks(e, WFP_LAYER_INBOUND_TRANSPORT_V4, 4, sizeof(weights));

        /* many in one transaction */
        assert_int_equal(engine_begin(e), 0);
        for (unsigned i = 0; i < 30; i++) {
                FilterSpec many = { .name = "batch", .layer = "INBOUND_TRANSPORT_V4", .action = WFP_ACTION_BLOCK,
                                    .weight_kind = BFE_WEIGHT_RANGE, .weight = i % 10 };
                assert_int_equal(engine_add_filter(e, &many, NULL, NULL), 0);
        }
        b = compile_changes(e, &cfg);
        apply(b);
        nft_batch_free(b);
        engine_commit(e);
        /* 50 filters in chunks of 4 need 13: at the cap the chunks grew instead */
        check_chunks(e, WFP_LAYER_INBOUND_TRANSPORT_V4, SIZE_MAX, sizeof(weights) + 30);

        /* deletions empty chunks, which go */
        assert_int_equal(engine_begin(e), 0);
        for (size_t i = 0; i < sizeof(weights); i++)
                assert_int_equal(engine_delete_filter_by_id(e, added[i]->id, NULL), 0);
        b = compile_changes(e, &cfg);
        apply(b);
        nft_batch_free(b);
        engine_commit(e);
        check_chunks(e, WFP_LAYER_INBOUND_TRANSPORT_V4, SIZE_MAX, 30);

        /* many more: never more than NFT_CHUNKS_MAX chunks (the kernel's jump depth) */
        for (unsigned i = 0; i < 100; i++) {
                FilterSpec more = { .name = "more", .layer = "INBOUND_TRANSPORT_V4", .action = WFP_ACTION_BLOCK,
                                    .weight_kind = BFE_WEIGHT_RANGE, .weight = (i * 7) % 16 };
                assert_int_equal(engine_begin(e), 0);
                assert_int_equal(engine_add_filter(e, &more, NULL, NULL), 0);
                b = compile_changes(e, &cfg);
                apply(b);
                nft_batch_free(b);
                engine_commit(e);
        }
        check_chunks(e, WFP_LAYER_INBOUND_TRANSPORT_V4, SIZE_MAX, 130);

        /* a fresh install of many filters spreads them over at most NFT_CHUNKS_MAX chunks */
        install(e, &cfg);
        check_chunks(e, WFP_LAYER_INBOUND_TRANSPORT_V4, (130 + NFT_CHUNKS_MAX - 1) / NFT_CHUNKS_MAX, 130);

        layout_done();
        engine_free(e);
}

/* Runs (FilterRuns=yes): the first filter of a kind keeps a rule of its own, the second starts a
 * run (one rule and a set), and each one more is one element; a filter between members that
 * overlaps a member takes it out of the run; when the carrier goes, the member first in order
 * carries the rule; the last one out takes the rule and the set with it. */
static Filter *add_block_port(Engine *e, const char *name, const char *port, uint64_t range) {
        ConditionSpec conds[] = { { "IP_PROTOCOL", 0, "udp" }, { "IP_LOCAL_PORT", 0, (char *) port } };
        FilterSpec fs = { .name = (char *) name, .layer = "INBOUND_TRANSPORT_V4", .action = WFP_ACTION_BLOCK,
                          .weight_kind = BFE_WEIGHT_RANGE, .weight = range, .conditions = conds, .n_conditions = 2 };
        Filter *f;

        assert_int_equal(engine_begin(e), 0);
        assert_int_equal(engine_add_filter(e, &fs, NULL, &f), 0);
        return f;
}

/* Compiles the open transaction, checks its messages' types, applies and commits it. */
static void expect_types(Engine *e, const NftConfig *cfg, const uint16_t *types, size_t n_types, Msg *ret_msgs) {
        NftBatch *b = compile_changes(e, cfg);
        Msg msgs[64];
        size_t n = decode(b, msgs, 64);

        for (size_t i = 0; i < n && i < n_types; i++)
                assert_int_equal(msgs[i].type, types[i]);
        assert_int_equal(n, n_types);
        if (ret_msgs)
                memcpy(ret_msgs, msgs, n * sizeof(Msg));
        apply(b);
        nft_batch_free(b);
        engine_commit(e);
}

static Filter *add_permit_port(Engine *e, const char *name, const char *port, uint64_t range) {
        ConditionSpec conds[] = { { "IP_PROTOCOL", 0, "udp" }, { "IP_LOCAL_PORT", 0, (char *) port } };
        FilterSpec fs = { .name = (char *) name, .layer = "INBOUND_TRANSPORT_V4", .action = WFP_ACTION_PERMIT,
                          .weight_kind = BFE_WEIGHT_RANGE, .weight = range, .conditions = conds, .n_conditions = 2 };
        Filter *f;

        assert_int_equal(engine_begin(e), 0);
        assert_int_equal(engine_add_filter(e, &fs, NULL, &f), 0);
        return f;
}

static void test_runs(void **state) {
        static const uint16_t rule[] = { NFT_MSG_NEWRULE };
        static const uint16_t start[] = { NFT_MSG_NEWSET, NFT_MSG_NEWSETELEM, NFT_MSG_NEWRULE };
        static const uint16_t join[] = { NFT_MSG_NEWSETELEM };
        static const uint16_t evict_start[] = { NFT_MSG_DELSETELEM, NFT_MSG_NEWRULE, NFT_MSG_NEWSET,
                                                NFT_MSG_NEWSETELEM, NFT_MSG_NEWRULE };
        static const uint16_t hand_over[] = { NFT_MSG_DELSETELEM, NFT_MSG_DELRULE, NFT_MSG_NEWRULE };
        static const uint16_t last_out[] = { NFT_MSG_DELSETELEM, NFT_MSG_DELRULE, NFT_MSG_DELSET };
        NftConfig cfg;
        Engine *e;
        Filter *a, *b, *c, *d, *x, *x2, *dup;
        uint64_t a_handle;
        Msg msgs[8];

        nft_config_init(&cfg);
        cfg.filter_runs = true;
        assert_int_equal(engine_new(&e), 0);
        install(e, &cfg);

        a = add_block_port(e, "a", "7001", 9);
        expect_types(e, &cfg, rule, ELEMENTSOF(rule), NULL);      /* the first of its kind: a rule */
        assert_null(FS(a)->run);
        a_handle = FS(a)->handle;

        b = add_block_port(e, "b", "7002", 8);
        expect_types(e, &cfg, start, ELEMENTSOF(start), NULL);    /* the second starts a run */
        assert_ptr_equal(FS(b)->run->carrier, b);
        c = add_block_port(e, "c", "7003", 2);
        expect_types(e, &cfg, join, ELEMENTSOF(join), NULL);      /* the third: an element */
        assert_ptr_equal(FS(c)->run, FS(b)->run);
        assert_int_equal(FS(b)->run->n, 2);
        assert_int_equal(FS(c)->handle, 0);
        assert_int_equal(FS(a)->handle, a_handle);

        /* a member more, and the carrier leaving, in batches the kernel refuses: the run made by
         * an earlier batch is as it was (its fields go through the undo log, RUN_SET()) */
        NftRun *run = FS(b)->run;
        const Filter *head = run->head;
        NftBatch *refused;

        add_block_port(e, "y", "7005", 3);
        refused = compile_changes(e, &cfg);
        assert_int_equal(run->n, 3);
        nft_batch_finish(refused, false);
        nft_batch_free(refused);
        engine_abort(e);
        assert_int_equal(run->n, 2);
        assert_ptr_equal(run->head, head);
        assert_int_equal(engine_begin(e), 0);
        assert_int_equal(engine_delete_filter_by_id(e, b->id, NULL), 0);
        refused = compile_changes(e, &cfg);
        assert_ptr_equal(run->carrier, c);
        nft_batch_finish(refused, false);
        nft_batch_free(refused);
        engine_abort(e);
        assert_ptr_equal(run->carrier, b);
        assert_int_equal(run->n, 2);
        assert_ptr_equal(run->head, head);

        /* a permit between b and c for another port overlaps neither: the run stays whole, and
         * the permit, the first of its kind, has a rule of its own after the run's */
        x = add_permit_port(e, "x", "7009", 5);
        expect_types(e, &cfg, rule, ELEMENTSOF(rule), msgs);
        assert_true(msgs[0].flags & NLM_F_APPEND);
        assert_int_equal(FS(b)->run->n, 2);
        assert_null(FS(x)->run);

        /* one for c's port overlaps c, which the run looked up before it: c leaves for a rule of its
         * own, and the permit, the second of its kind, starts a run (its rule after x's, before c's) */
        x2 = add_permit_port(e, "x2", "7003", 5);
        expect_types(e, &cfg, evict_start, ELEMENTSOF(evict_start), msgs);
        assert_true(msgs[1].flags & NLM_F_APPEND);
        assert_false(msgs[4].flags & NLM_F_APPEND);  /* before c's */
        assert_null(FS(c)->run);
        assert_true(FS(c)->handle != 0);
        assert_int_equal(FS(b)->run->n, 1);
        assert_ptr_equal(FS(x2)->run->carrier, x2);

        /* d joins b's run; one with d's very values after it cannot: it overlaps d, and with b's
         * run there and only two like filters with rules of their own (a, c), it gets a rule of its
         * own after d's place rather than a run of its own */
        d = add_block_port(e, "d", "7004", 1);
        expect_types(e, &cfg, join, ELEMENTSOF(join), NULL);
        assert_ptr_equal(FS(d)->run, FS(b)->run);
        dup = add_block_port(e, "dup", "7004", 0);
        expect_types(e, &cfg, rule, ELEMENTSOF(rule), NULL);
        assert_null(FS(dup)->run);
        assert_true(FS(dup)->handle != 0);

        /* b, which carries the run, leaves: d, now the first, carries the rule from its place */
        assert_int_equal(engine_begin(e), 0);
        assert_int_equal(engine_delete_filter_by_id(e, b->id, NULL), 0);
        expect_types(e, &cfg, hand_over, ELEMENTSOF(hand_over), NULL);
        assert_ptr_equal(FS(d)->run->carrier, d);
        assert_true(FS(d)->handle != 0);

        /* the last one out takes its run's rule and set along */
        assert_int_equal(engine_begin(e), 0);
        assert_int_equal(engine_delete_filter_by_id(e, d->id, NULL), 0);
        expect_types(e, &cfg, last_out, ELEMENTSOF(last_out), NULL);

        layout_done();
        engine_free(e);
}

/* ---- net events: the log statement on the rules that drop, the switch, the way back ---------- */

/* A filter added and committed in its own transaction. */
static Filter *add_filter(Engine *e, const char *name, const char *layer, uint32_t action, const char *callout,
                          const char *proto, const char *port) {
        ConditionSpec conds[] = { { "IP_PROTOCOL", 0, (char *) proto }, { "IP_LOCAL_PORT", 0, (char *) port } };
        FilterSpec fs = { .name = (char *) name, .layer = (char *) layer, .action = action, .conditions = conds,
                          .n_conditions = port ? 2 : 1 };
        Filter *f;

        if (callout)
                assert_int_equal(guid_from_string(callout, &fs.callout_key), 0);
        assert_int_equal(engine_begin(e), 0);
        assert_int_equal(engine_add_filter(e, &fs, NULL, &f), 0);
        engine_commit(e);
        return f;
}

/* A plain block, a permit, a terminating IPsec callout, a block over IPv6, and three like blocks:
 * the first block keeps a rule of its own, the others are a run (of three members). */
typedef struct NetEventsTable {
        Engine *e;
        Filter *block, *permit, *callout, *block6, *like, *run_a, *run_b;
} NetEventsTable;

static void net_events_table(NetEventsTable *t, const NftConfig *cfg) {
        assert_int_equal(engine_new(&t->e), 0);
        t->block = add_filter(t->e, "block", "INBOUND_TRANSPORT_V4", WFP_ACTION_BLOCK, NULL, "udp", "7001");
        t->permit = add_filter(t->e, "permit", "INBOUND_TRANSPORT_V4", WFP_ACTION_PERMIT, NULL, "tcp", "22");
        t->like = add_filter(t->e, "like", "INBOUND_TRANSPORT_V4", WFP_ACTION_BLOCK, NULL, "udp", "7004");
        t->run_a = add_filter(t->e, "run a", "INBOUND_TRANSPORT_V4", WFP_ACTION_BLOCK, NULL, "udp", "7002");
        t->run_b = add_filter(t->e, "run b", "INBOUND_TRANSPORT_V4", WFP_ACTION_BLOCK, NULL, "udp", "7003");
        t->callout = add_filter(t->e, "ipsec", "INBOUND_TRANSPORT_V4", WFP_ACTION_CALLOUT_TERMINATING,
                                "5132900d-5e84-4b5f-80e4-01741e81ff10", "udp", NULL);
        t->block6 = add_filter(t->e, "block6", "OUTBOUND_TRANSPORT_V6", WFP_ACTION_BLOCK, NULL, "udp", "7001");
        install(t->e, cfg);
        assert_null(FS(t->block)->run);
        assert_non_null(FS(t->run_a)->run);
        assert_ptr_equal(FS(t->like)->run, FS(t->run_a)->run);
        assert_ptr_equal(FS(t->run_a)->run, FS(t->run_b)->run);
}

/* What @each writes about each message of @b (BEGIN and END left out), as one text. */
static char *batch_text(const NftBatch *b, void (*each)(const struct nlmsghdr *nlh, uint16_t type, FILE *f)) {
        const struct nlmsghdr *nlh = (const struct nlmsghdr *) b->buf;
        int len = (int) b->len;
        char *out = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&out, &size);

        for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len))
                if (nlh->nlmsg_type != NFNL_MSG_BATCH_BEGIN && nlh->nlmsg_type != NFNL_MSG_BATCH_END)
                        each(nlh, NFNL_MSG_TYPE(nlh->nlmsg_type), f);
        fclose(f);
        return out;
}

/* A rule of the filters' chains, as libnftnl prints it. */
static void filter_rule_text(const struct nlmsghdr *nlh, uint16_t type, FILE *f) {
        struct nftnl_rule *r;
        char line[8192];

        if (type != NFT_MSG_NEWRULE)
                return;
        r = nftnl_rule_alloc();
        assert_int_equal(nftnl_rule_nlmsg_parse(nlh, r), 0);
        if (strstr(nftnl_rule_get_str(r, NFTNL_RULE_CHAIN), "_universal")) {
                nftnl_rule_snprintf(line, sizeof(line), r, NFTNL_OUTPUT_DEFAULT, 0);
                fprintf(f, "%s\n", line);
        }
        nftnl_rule_free(r);
}

static char *filter_rules_text(const NftBatch *b) {
        return batch_text(b, filter_rule_text);
}

static void test_net_events_golden(void **state) {
        NetEventsTable t;
        NftConfig cfg;
        NftBatch *b;
        char *text;

        nft_config_init(&cfg);
        cfg.net_events = true;
        net_events_table(&t, &cfg);
        assert_int_equal(nft_batch_new(1, &b), 0);
        assert_int_equal(nft_compile_ruleset(t.e, lay(), &cfg, true, b), 0);
        text = filter_rules_text(b);
        /* the blocks and the run log to 0xbfed before their drop; the permit does not, nor the
         * callout, whose verdict map also permits (secured packets) */
        check_golden("net-events.payload", text);
        free(text);
        nft_batch_finish(b, false);
        nft_batch_free(b);
        layout_done();
        engine_free(t.e);
}

/* A switch's batch: each chain with a rule that drops emptied and filled again, every rule of it
 * appended; the rules that drop with (@on) or without their log statement; chains without such a
 * rule untouched. */
static void expect_switch(const NftBatch *b, bool on) {
        static const struct { uint16_t type; const char *chain; } want[] = {
                { NFT_MSG_DELRULE, "inbound_transport_v4_universal" },
                { NFT_MSG_NEWRULE, "inbound_transport_v4_universal" },    /* block */
                { NFT_MSG_NEWRULE, "inbound_transport_v4_universal" },    /* permit */
                { NFT_MSG_NEWRULE, "inbound_transport_v4_universal" },    /* the run */
                { NFT_MSG_NEWRULE, "inbound_transport_v4_universal" },    /* the callout: @callout_soft */
                { NFT_MSG_DELRULE, "outbound_transport_v6_universal" },
                { NFT_MSG_NEWRULE, "outbound_transport_v6_universal" },   /* block6 */
        };
        Msg msgs[16];
        size_t n = decode(b, msgs, 16);
        char *text = filter_rules_text(b);

        assert_int_equal(n, ELEMENTSOF(want));
        for (size_t i = 0; i < n; i++) {
                assert_int_equal(msgs[i].type, want[i].type);
                assert_string_equal(msgs[i].chain, want[i].chain);
                assert_int_equal(msgs[i].handle, 0);            /* the chain's every rule; appended */
                assert_int_equal(msgs[i].position, 0);
        }
        assert_int_equal(strstr(text, "[ log ") != NULL, on);
        assert_int_equal(strstr(text, "log prefix bfed 2 ") != NULL, false);    /* the permit never */
        free(text);
}

static void test_net_events_switch(void **state) {
        NetEventsTable t;
        NftConfig cfg;
        NftBatch *b;
        uint64_t block, permit, out4;

        nft_config_init(&cfg);
        net_events_table(&t, &cfg);
        {
                /* a layer without a rule that drops: its chain stays as it is */
                Filter *p = add_filter(t.e, "out", "OUTBOUND_TRANSPORT_V4", WFP_ACTION_PERMIT, NULL, "udp", "53");
                b = compile_changes(t.e, &cfg);
                apply(b);
                nft_batch_free(b);
                out4 = FS(p)->handle;
        }

        /* on */
        cfg.net_events = true;
        block = FS(t.block)->handle;
        permit = FS(t.permit)->handle;
        assert_int_equal(nft_batch_new(1, &b), 0);
        assert_int_equal(nft_compile_net_events(t.e, lay(), &cfg, b), 0);
        expect_switch(b, true);
        apply(b);
        nft_batch_free(b);
        assert_int_not_equal(FS(t.block)->handle, block);        /* the kernel's new rules, new handles */
        assert_int_not_equal(FS(t.permit)->handle, permit);
        assert_int_equal(nft_net_event_filter(t.e, lay(), &(NflogPacket) { .family = 4, .hook = 0xff, .l4proto = 17,
                                                                     .prefix = "bfed 1" }) != NULL, true);

        /* refused: the handles stay what the kernel has */
        block = FS(t.block)->handle;
        assert_int_equal(nft_batch_new(1, &b), 0);
        assert_int_equal(nft_compile_net_events(t.e, lay(), &cfg, b), 0);
        nft_batch_finish(b, false);
        nft_batch_free(b);
        assert_int_equal(FS(t.block)->handle, block);

        /* off again: the same chains, without it */
        cfg.net_events = false;
        assert_int_equal(nft_batch_new(1, &b), 0);
        assert_int_equal(nft_compile_net_events(t.e, lay(), &cfg, b), 0);
        expect_switch(b, false);
        apply(b);
        nft_batch_free(b);
        {
                Filter *p = engine_get_filter_by_id(t.e, 8);
                assert_non_null(p);
                assert_int_equal(FS(p)->handle, out4);
        }
        layout_done();
        engine_free(t.e);
}

/* With chunks of 2: each chunk chain with a block is put anew, in order, its goto last; a chunk of
 * permits alone is left as it is. */
static void test_net_events_chunks(void **state) {
        static const uint32_t actions[] = { WFP_ACTION_PERMIT, WFP_ACTION_PERMIT, WFP_ACTION_BLOCK,
                                            WFP_ACTION_PERMIT, WFP_ACTION_BLOCK };
        WfpLayer l = WFP_LAYER_INBOUND_TRANSPORT_V4;
        NftConfig cfg;
        Engine *e;
        NftBatch *b;
        Msg msgs[32];
        size_t n, i = 0;

        nft_config_init(&cfg);
        cfg.chunk_size = 2;
        cfg.filter_runs = false;
        assert_int_equal(engine_new(&e), 0);
        for (size_t k = 0; k < ELEMENTSOF(actions); k++) {
                char port[8];

                snprintf(port, sizeof(port), "%zu", k + 1);
                (void) add_filter(e, port, "INBOUND_TRANSPORT_V4", actions[k], NULL, "tcp", port);
        }
        install(e, &cfg);
        cfg.net_events = true;
        assert_int_equal(nft_batch_new(1, &b), 0);
        assert_int_equal(nft_compile_net_events(e, lay(), &cfg, b), 0);
        n = decode(b, msgs, 32);

        /* what the layout says the batch must be */
        for (NftChunk *ch = SS(engine_universal_sublayer(e))->chunks[l]; ch; ch = ch->next) {
                char name[NFT_CHAIN_NAME_MAX];
                bool block = false;

                nft_sublayer_chain_name(l, engine_universal_sublayer(e), name);
                if (ch->id)
                        snprintf(name + strlen(name), sizeof(name) - strlen(name), "_c%u", ch->id);
                for (Filter *f = engine_universal_sublayer(e)->filters_head[l]; f; f = f->lnext)
                        block |= FS(f)->chunk == ch && f->action == WFP_ACTION_BLOCK;
                if (!block)
                        continue;
                assert_true(i < n);
                assert_int_equal(msgs[i].type, NFT_MSG_DELRULE);
                assert_string_equal(msgs[i++].chain, name);
                for (size_t k = 0; k < ch->n + !!ch->next; k++) {
                        assert_true(i < n);
                        assert_int_equal(msgs[i].type, NFT_MSG_NEWRULE);
                        assert_true(msgs[i].flags & NLM_F_APPEND);
                        assert_string_equal(msgs[i++].chain, name);
                }
        }
        assert_int_equal(i, n);
        assert_true(n > 0 && n < 3 + 5 + 2);    /* not every chunk: the permits' is left alone */
        apply(b);
        nft_batch_free(b);
        layout_done();
        engine_free(e);
}

static NflogPacket logged(const char *prefix, int family, uint8_t hook, uint16_t sport, uint16_t dport) {
        NflogPacket p = { .family = (uint8_t) family, .hook = hook, .l4proto = IPPROTO_UDP, .has_ports = true,
                          .sport = sport, .dport = dport };

        snprintf(p.prefix, sizeof(p.prefix), "%s", prefix);
        return p;
}

/* The filter of a packet logged with the prefix @fmt. */
static const Filter *filter_of(NetEventsTable *t, int family, uint8_t hook, uint16_t dport, const char *fmt, ...)
        _printf_(5, 6);
static const Filter *filter_of(NetEventsTable *t, int family, uint8_t hook, uint16_t dport, const char *fmt, ...) {
        char prefix[64];
        NflogPacket p;
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(prefix, sizeof(prefix), fmt, ap);
        va_end(ap);
        p = logged(prefix, family, hook, 5555, dport);
        return nft_net_event_filter(t->e, lay(), &p);
}

/* A forward filter's drops are logged at the forward hook, a flow-established one's at input or
 * output: the packet's hook must be its layer's. */
static void test_net_event_forward(void **state) {
        ConditionSpec dst = { "IP_DESTINATION_ADDRESS", 0, "198.51.100.7" }, udp = { "IP_PROTOCOL", 0, "udp" };
        FilterSpec fs = { .name = "fwd", .layer = "IPFORWARD_V4", .action = WFP_ACTION_BLOCK, .conditions = &dst,
                          .n_conditions = 1 };
        FilterSpec fe = { .name = "flow", .layer = "ALE_FLOW_ESTABLISHED_V4", .action = WFP_ACTION_BLOCK,
                          .conditions = &udp, .n_conditions = 1 };
        NetEventsTable t = {};
        Filter *fwd, *flow;

        assert_int_equal(engine_new(&t.e), 0);
        assert_int_equal(engine_begin(t.e), 0);
        assert_int_equal(engine_add_filter(t.e, &fs, NULL, &fwd), 0);
        assert_int_equal(engine_add_filter(t.e, &fe, NULL, &flow), 0);
        engine_commit(t.e);
        assert_ptr_equal(filter_of(&t, 4, NF_INET_FORWARD, 7000, "bfed %" PRIu64, fwd->id), fwd);
        assert_null(filter_of(&t, 4, NF_INET_LOCAL_IN, 7000, "bfed %" PRIu64, fwd->id));
        assert_null(filter_of(&t, 6, NF_INET_FORWARD, 7000, "bfed %" PRIu64, fwd->id));
        assert_ptr_equal(filter_of(&t, 4, NF_INET_LOCAL_IN, 7000, "bfed %" PRIu64, flow->id), flow);
        assert_ptr_equal(filter_of(&t, 4, NF_INET_LOCAL_OUT, 7000, "bfed %" PRIu64, flow->id), flow);
        assert_null(filter_of(&t, 4, NF_INET_FORWARD, 7000, "bfed %" PRIu64, flow->id));
        engine_free(t.e);
}

static void test_net_event_filter(void **state) {
        NetEventsTable t;
        NftConfig cfg;
        unsigned run;

        nft_config_init(&cfg);
        cfg.net_events = true;
        net_events_table(&t, &cfg);
        run = FS(t.run_a)->run->id;

        /* a rule's filter by its id; a run's member by the packet's element */
        assert_ptr_equal(filter_of(&t, 4, NF_INET_LOCAL_IN, 7001, "bfed %" PRIu64, t.block->id), t.block);
        /* a terminating callout's rule does not log: a prefix naming it is not bfed's */
        assert_null(filter_of(&t, 4, NF_INET_LOCAL_IN, 9, "bfed %" PRIu64, t.callout->id));
        assert_ptr_equal(filter_of(&t, 6, NF_INET_LOCAL_OUT, 7001, "bfed %" PRIu64, t.block6->id), t.block6);
        assert_ptr_equal(filter_of(&t, 4, NF_INET_LOCAL_IN, 7002, "bfed run %u", run), t.run_a);
        assert_ptr_equal(filter_of(&t, 4, 0xff, 7003, "bfed run %u", run), t.run_b);

        /* none: no such element, no such run or filter, a filter that does not drop, the wrong
         * family or way, a prefix that is not ours or does not parse */
        assert_ptr_equal(filter_of(&t, 4, NF_INET_LOCAL_IN, 7004, "bfed run %u", run), t.like);
        assert_null(filter_of(&t, 4, NF_INET_LOCAL_IN, 7005, "bfed run %u", run));
        assert_null(filter_of(&t, 4, NF_INET_LOCAL_IN, 7002, "bfed run %u", run + 1000));
        assert_null(filter_of(&t, 4, NF_INET_LOCAL_IN, 7001, "bfed %d", 424242));
        assert_null(filter_of(&t, 4, NF_INET_LOCAL_IN, 22, "bfed %" PRIu64, t.permit->id));
        assert_null(filter_of(&t, 6, NF_INET_LOCAL_IN, 7001, "bfed %" PRIu64, t.block->id));
        assert_null(filter_of(&t, 4, NF_INET_LOCAL_OUT, 7001, "bfed %" PRIu64, t.block->id));
        assert_null(filter_of(&t, 4, NF_INET_LOCAL_IN, 7001, "other %" PRIu64, t.block->id));
        assert_null(filter_of(&t, 4, NF_INET_LOCAL_IN, 7001, "bfed 0%" PRIu64, t.block->id));
        assert_null(filter_of(&t, 4, NF_INET_LOCAL_IN, 7001, "bfed %" PRIu64 " ", t.block->id));
        assert_null(filter_of(&t, 4, NF_INET_LOCAL_IN, 7001, "bfed 99999999999999999999%d", 9));
        assert_null(filter_of(&t, 4, NF_INET_LOCAL_IN, 7002, "bfed run %" PRIu64, UINT64_C(1) << 33));
        {
                /* a later fragment has no ports: no element of a run of ports is its */
                char prefix[32];
                NflogPacket p;

                snprintf(prefix, sizeof(prefix), "bfed run %u", run);
                p = logged(prefix, 4, NF_INET_LOCAL_IN, 5555, 7002);
                p.has_ports = false;
                assert_null(nft_net_event_filter(t.e, lay(), &p));
        }
        layout_done();
        engine_free(t.e);
}

/* Prefixes of one length side by side are a run: its key is the masked address, the rule masks
 * the packet's, and a logged packet from inside a prefix names that prefix's filter. */
static void test_prefix_run(void **state) {
        static const char *const prefixes[] = { "10.1.0.0/16", "10.2.0.0/16", "10.3.0.0/16", "10.4.0.0/24" };
        Filter *f[ELEMENTSOF(prefixes)];
        NftConfig cfg;
        NetEventsTable t = {};
        NflogPacket p;
        char prefix[32];
        unsigned run;

        nft_config_init(&cfg);
        cfg.net_events = true;
        assert_int_equal(engine_new(&t.e), 0);
        for (size_t i = 0; i < ELEMENTSOF(prefixes); i++) {
                ConditionSpec c = { "IP_REMOTE_ADDRESS", 0, (char *) prefixes[i] };
                FilterSpec fs = { .name = "prefix", .layer = "INBOUND_TRANSPORT_V4", .action = WFP_ACTION_BLOCK,
                                  .weight_kind = BFE_WEIGHT_RANGE, .weight = 3, .conditions = &c, .n_conditions = 1 };

                assert_int_equal(engine_begin(t.e), 0);
                assert_int_equal(engine_add_filter(t.e, &fs, NULL, &f[i]), 0);
                engine_commit(t.e);
        }
        install(t.e, &cfg);
        /* the /16s run together (the first keeps its rule); the /24 is of another shape */
        assert_null(FS(f[0])->run);
        assert_non_null(FS(f[1])->run);
        assert_ptr_equal(FS(f[1])->run, FS(f[2])->run);
        assert_true(FS(f[3])->run != FS(f[1])->run);
        run = FS(f[1])->run->id;

        snprintf(prefix, sizeof(prefix), "bfed run %u", run);
        p = logged(prefix, 4, NF_INET_LOCAL_IN, 5555, 7000);
        memcpy(p.saddr, (const uint8_t[]) { 10, 3, 200, 9 }, 4);      /* inside 10.3.0.0/16 */
        assert_ptr_equal(nft_net_event_filter(t.e, lay(), &p), f[2]);
        memcpy(p.saddr, (const uint8_t[]) { 10, 2, 0, 1 }, 4);
        assert_ptr_equal(nft_net_event_filter(t.e, lay(), &p), f[1]);
        memcpy(p.saddr, (const uint8_t[]) { 10, 5, 0, 1 }, 4);         /* in none */
        assert_null(nft_net_event_filter(t.e, lay(), &p));
        layout_done();
        engine_free(t.e);
}

static void test_ruleset(void **state) {
        Engine *e = engine_with_mm_policy();
        NftConfig cfg;
        NftBatch *b;
        Msg msgs[512];
        size_t n, rules = 0, chains = 0, tables = 0, deltables = 0, sets = 0;

        nft_config_init(&cfg);
        assert_int_equal(nft_batch_new(1, &b), 0);
        assert_int_equal(nft_compile_ruleset(e, lay(), &cfg, true, b), 0);
        n = decode(b, msgs, ELEMENTSOF(msgs));
        for (size_t i = 0; i < n; i++) {
                rules += msgs[i].type == NFT_MSG_NEWRULE;
                chains += msgs[i].type == NFT_MSG_NEWCHAIN;
                tables += msgs[i].type == NFT_MSG_NEWTABLE;
                deltables += msgs[i].type == NFT_MSG_DELTABLE;
                sets += msgs[i].type == NFT_MSG_NEWSET;
        }
        assert_int_equal(tables, 2);    /* create-if-missing, then the owned one */
        assert_int_equal(deltables, 1); /* in between: the takeover is one transaction */
        /* base (ALE_FLOW_ESTABLISHED has two), family, 12 built-in sublayers' chains in 12 layers, and the
         * trace chains: the exemptions are on */
        assert_int_equal(chains, 7 + 12 + 12 * 12 + 3);
        /* exemptions + sublayer jumps + nfproto dispatch + tracing */
        assert_int_equal(rules, 14 + 12 * 12 + 7 * 2 + 10);
        /* ike_ports, ike_port_500 and the callout maps; the exemption and trace rules make no
         * anonymous sets */
        assert_int_equal(sets, 4);
        nft_batch_free(b);
        layout_done();
        engine_free(e);
}

/* ---- the trace chains (compile-trace.c) ----------------------------------------------------- */

static bool is_trace_name(const char *name) {
        return name && strncmp(name, "ike_trace", 9) == 0;
}

/* The batch's messages about the trace chains and their rules, in libnftnl's notation; *@ret_n of them. */
static char *trace_text(const NftBatch *b, size_t *ret_n) {
        const struct nlmsghdr *nlh = (const struct nlmsghdr *) b->buf;
        int len = (int) b->len;
        char *out = NULL, line[4096];
        size_t size = 0, n = 0;
        FILE *f = open_memstream(&out, &size);

        assert_non_null(f);
        for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
                uint16_t type = NFNL_MSG_TYPE(nlh->nlmsg_type);

                line[0] = 0;
                if (type == NFT_MSG_NEWRULE) {
                        struct nftnl_rule *r = nftnl_rule_alloc();
                        assert_int_equal(nftnl_rule_nlmsg_parse(nlh, r), 0);
                        if (is_trace_name(nftnl_rule_get_str(r, NFTNL_RULE_CHAIN)))
                                nftnl_rule_snprintf(line, sizeof(line), r, NFTNL_OUTPUT_DEFAULT, 0);
                        nftnl_rule_free(r);
                } else if (type == NFT_MSG_NEWCHAIN || type == NFT_MSG_DELCHAIN) {
                        struct nftnl_chain *c = nftnl_chain_alloc();
                        assert_int_equal(nftnl_chain_nlmsg_parse(nlh, c), 0);
                        if (is_trace_name(nftnl_chain_get_str(c, NFTNL_CHAIN_NAME))) {
                                size_t k = (size_t) snprintf(line, sizeof(line), "%s ",
                                                             type == NFT_MSG_NEWCHAIN ? "chain" : "delete chain");
                                nftnl_chain_snprintf(line + k, sizeof(line) - k, c, NFTNL_OUTPUT_DEFAULT, 0);
                        }
                        nftnl_chain_free(c);
                }
                if (line[0]) {
                        fprintf(f, "%s\n", line);
                        n++;
                }
        }
        fclose(f);
        if (ret_n)
                *ret_n = n;
        return out;
}

static size_t count_trace_messages(const NftBatch *b) {
        size_t n;

        free(trace_text(b, &n));
        return n;
}

static void mm_policy(Engine *e, bool add, uint64_t *id) {
        ProviderContextSpec cs = { .name = "ike", .type = WFP_CONTEXT_TYPE_IPSEC_IKE_MM };
        ProviderContext *c;
        Filter *f;

        if (!add) {
                assert_int_equal(engine_delete_filter_by_id(e, *id, NULL), 0);
                return;
        }
        assert_int_equal(engine_add_provider_context(e, &cs, NULL, &c), 0);
        FilterSpec fs = { .name = "mm", .layer = "IKEEXT_V4", .action = WFP_ACTION_PERMIT,
                          .provider_context_key = c->key };
        assert_int_equal(engine_add_filter(e, &fs, NULL, &f), 0);
        *id = f->id;
}

/* Compiles the open transaction: its trace messages; applies and commits it. */
static size_t commit_trace(Engine *e, const NftConfig *cfg, char **ret_text) {
        NftBatch *b = compile_changes(e, cfg);
        size_t n = count_trace_messages(b);

        if (ret_text)
                *ret_text = trace_text(b, NULL);
        apply(b);
        nft_batch_free(b);
        engine_commit(e);
        return n;
}

static void test_trace_chains(void **state) {
        Engine *e = engine_with_mm_policy();
        NftConfig cfg;
        NftBatch *b;
        char *text;
        uint64_t mm, mm2;

        /* the whole table: the set and chains as the golden file has them */
        nft_config_init(&cfg);
        assert_int_equal(nft_batch_new(1, &b), 0);
        assert_int_equal(nft_compile_ruleset(e, lay(), &cfg, true, b), 0);
        text = trace_text(b, NULL);
        check_golden("trace.payload", text);
        free(text);
        nft_batch_free(b);
        layout_done();

        /* a kernel that refused them at start (manager-trace.c): none, with the exemptions on */
        cfg.trace = false;
        assert_int_equal(nft_batch_new(1, &b), 0);
        assert_int_equal(nft_compile_ruleset(e, lay(), &cfg, true, b), 0);
        assert_int_equal(count_trace_messages(b), 0);
        nft_batch_free(b);
        layout_done();
        engine_free(e);
        cfg.trace = true;

        /* incremental: they come with the exemptions and go with them */
        assert_int_equal(engine_new(&e), 0);
        install(e, &cfg);
        assert_int_equal(engine_begin(e), 0);
        mm_policy(e, true, &mm);
        assert_int_equal(commit_trace(e, &cfg, &text), 3 + 10); /* chains, rules */
        assert_non_null(strstr(text, "chain inet bfed ike_trace_inbound"));
        free(text);

        /* a second policy, and its deletion: the exemptions stay, nothing about tracing */
        assert_int_equal(engine_begin(e), 0);
        mm_policy(e, true, &mm2);
        assert_int_equal(commit_trace(e, &cfg, NULL), 0);
        assert_int_equal(engine_begin(e), 0);
        mm_policy(e, false, &mm2);
        assert_int_equal(commit_trace(e, &cfg, NULL), 0);

        /* the last one and another in one transaction: the exemptions go and come back, whole */
        assert_int_equal(engine_begin(e), 0);
        mm_policy(e, false, &mm);
        mm_policy(e, true, &mm);
        assert_int_equal(commit_trace(e, &cfg, NULL), 0);

        /* the last one: the three chains go */
        assert_int_equal(engine_begin(e), 0);
        mm_policy(e, false, &mm);
        assert_int_equal(commit_trace(e, &cfg, &text), 3);
        assert_non_null(strstr(text, "delete chain inet bfed ike_trace_inbound"));
        assert_non_null(strstr(text, "delete chain inet bfed ike_trace "));
        free(text);

        /* added and deleted in one transaction: the kernel never sees them */
        assert_int_equal(engine_begin(e), 0);
        mm_policy(e, true, &mm);
        mm_policy(e, false, &mm);
        assert_int_equal(commit_trace(e, &cfg, NULL), 0);
        assert_false(engine_exemptions_active(e));

        /* a refused batch changes nothing: the next one adds them again */
        assert_int_equal(engine_begin(e), 0);
        mm_policy(e, true, &mm);
        b = compile_changes(e, &cfg);
        assert_int_equal(count_trace_messages(b), 13);
        nft_batch_finish(b, false);
        nft_batch_free(b);
        engine_abort(e);
        assert_int_equal(engine_begin(e), 0);
        mm_policy(e, true, &mm);
        assert_int_equal(commit_trace(e, &cfg, NULL), 13);
        layout_done();
        engine_free(e);
}

/* The bytes sent to the kernel are the same whatever the heap held before: attribute padding
 * (which libmnl 1.0.4 skips) is zeros, not leftovers of freed memory. */
static NftBatch *ruleset_batch(Engine *e, const NftConfig *cfg, uint8_t dirt) {
        NftBatch *b;

        /* a freed block of the batch buffer's first size, full of @dirt, for it to reuse; twice,
         * as glibc's first block this large is mmap()ed (and zero) and raises the threshold */
        for (int i = 0; i < 2; i++) {
                void *junk = malloc(4 * 64 * 1024);

                assert_non_null(junk);
                memset(junk, dirt, 4 * 64 * 1024);
                free(junk);
        }
        assert_int_equal(nft_batch_new(1, &b), 0);
        assert_int_equal(nft_compile_ruleset(e, lay(), cfg, true, b), 0);
        return b;
}

static void test_batch_deterministic(void **state) {
        Engine *e = engine_with_mm_policy();
        NftConfig cfg;
        NftBatch *a, *b;

        nft_config_init(&cfg);
        a = ruleset_batch(e, &cfg, 0xa5);
        layout_done();
        b = ruleset_batch(e, &cfg, 0x5a);
        assert_int_equal(a->len, b->len);
        assert_memory_equal(a->buf, b->buf, a->len);
        nft_batch_free(a);
        nft_batch_free(b);
        layout_done();
        engine_free(e);
}

/* ---- comments: what nft lists must read back (text.c) -------------------------------------- */

/* The full injection attempt: a '"' ends nft's quoted string, and the rest is nft syntax. */
#define INJECTION "x\" drop; } } table ip evil { chain c { type filter hook input priority 0; policy drop; } }"

static void check_comment_safe(const char *comment) {
        size_t n = strlen(comment);

        assert_true(n <= NFT_COMMENT_MAX);
        assert_true(utf8_is_valid(comment));
        for (size_t i = 0; i < n; i++) {
                unsigned char ch = (unsigned char) comment[i];
                assert_true(ch != '"' && ch >= 0x20 && ch != 0x7f);
                if (ch == 0xc2)
                        assert_false((unsigned char) comment[i + 1] <= 0x9f); /* no C1 control */
        }
}

static void expect_sanitized(const char *in, const char *expected) {
        char out[NFT_COMMENT_MAX + 1];

        assert_int_equal(nft_comment_sanitize(in, out), strlen(expected));
        assert_string_equal(out, expected);
        check_comment_safe(out);
}

static void test_comment_sanitize(void **state) {
        char in[1024], out[NFT_COMMENT_MAX + 1];

        expect_sanitized("filter 1: ike mm policy", "filter 1: ike mm policy");
        expect_sanitized("", "");
        /* nft reads these literally inside quotes: they stay */
        expect_sanitized("a\\b; # { } 'c' end\\", "a\\b; # { } 'c' end\\");
        expect_sanitized("Grüße, 東京, 🦊", "Grüße, 東京, 🦊");
        /* '"' would end the string */
        expect_sanitized("say \"hi\"", "say 'hi'");
        expect_sanitized(INJECTION, "x' drop; } } table ip evil { chain c { type filter hook input priority 0; policy drop; } }");
        /* control characters: C0, DEL, C1 (U+0085, U+009B) become spaces; U+00A0 is no control */
        expect_sanitized("a\tb\nc\rd\x1b[31me\x7f" "f\x01g", "a b c d [31me f g");
        expect_sanitized("a\xc2\x85" "b\xc2\x9b" "c\xc2\xa0" "d", "a b c\xc2\xa0" "d");
        /* bytes that are no UTF-8 become '?' */
        expect_sanitized("a\xff" "b\xc3", "a?b");

        /* 128 bytes stay, 129 are cut */
        memset(in, 'x', 129);
        in[129] = 0;
        assert_int_equal(nft_comment_sanitize(in, out), NFT_COMMENT_MAX);
        in[128] = 0;
        assert_int_equal(nft_comment_sanitize(in, out), NFT_COMMENT_MAX);
        assert_string_equal(out, in);

        /* the cut falls on a character boundary, whatever the width of the characters and
         * wherever they start: the result is the longest whole-character prefix */
        static const char *const chars[] = { "\xc3\xa9", "\xe6\x9d\xb1", "\xf0\x9f\xa6\x8a" };
        for (size_t c = 0; c < ELEMENTSOF(chars); c++)
                for (size_t lead = 0; lead < 4; lead++) {
                        size_t w = strlen(chars[c]), n = lead, expect;

                        memset(in, 'a', lead);
                        while (n + w < sizeof(in))
                                n += (size_t) (stpcpy(in + n, chars[c]) - (in + n));
                        expect = lead + (NFT_COMMENT_MAX - lead) / w * w;
                        assert_int_equal(nft_comment_sanitize(in, out), expect);
                        assert_memory_equal(out, in, expect);
                        check_comment_safe(out);
                }

        /* many C1 controls: each shrinks to one byte, and the comment is still full */
        for (size_t i = 0; i < 300; i++)
                memcpy(in + 2 * i, "\xc2\x85", 2);
        in[600] = 0;
        assert_int_equal(nft_comment_sanitize(in, out), NFT_COMMENT_MAX);
        check_comment_safe(out);
}

/* nft_filter_comment() against snprintf() and nft_comment_sanitize(), which it stands for. */
static void test_filter_comment(void **state) {
        static const uint64_t ids[] = { 0, 1, 9, 10, 99, 100, 123456789, UINT64_MAX };
        char names[6][400], want[NFT_COMMENT_MAX + 1], got[NFT_COMMENT_MAX + 1], text[2560];

        strcpy(names[0], "");
        strcpy(names[1], "ike mm policy");
        strcpy(names[2], INJECTION);
        strcpy(names[3], "a\tb\n\x1b[31m\xc2\x85 \xff Grüße");
        memset(names[4], 'x', 399);     /* longer than the comment and than what sanitize looks at */
        names[4][399] = 0;
        for (size_t i = 0; i < 133; i++)        /* 3-byte characters across every cut */
                memcpy(names[5] + 3 * i, "\xe6\x9d\xb1", 3);
        names[5][399] = 0;

        for (size_t i = 0; i < ELEMENTSOF(ids); i++)
                for (size_t k = 0; k < ELEMENTSOF(names); k++) {
                        size_t n;

                        snprintf(text, sizeof(text), "filter %" PRIu64 ": %s", ids[i], names[k]);
                        n = nft_comment_sanitize(text, want);
                        assert_int_equal(nft_filter_comment(ids[i], names[k], got), n);
                        assert_string_equal(got, want);
                        check_comment_safe(got);
                }
}

/* The comment in rule or element userdata (type @type), or NULL. */
static char *udata_comment(const void *data, uint32_t len, uint8_t type) {
        const uint8_t *p = data, *end = p + len;

        while (p + 2 <= end && p + 2 + p[1] <= end) {
                if (p[0] == type && p[1] > 0 && p[2 + p[1] - 1] == 0)
                        return strdup((const char *) p + 2);
                p += 2 + p[1];
        }
        return NULL;
}

/* The comments of a rule message or of the elements of a set message, one a line. */
static void comments_of(const struct nlmsghdr *nlh, uint16_t type, FILE *f) {
        uint32_t ulen;

        if (type == NFT_MSG_NEWRULE) {
                struct nftnl_rule *r = nftnl_rule_alloc();
                assert_int_equal(nftnl_rule_nlmsg_parse(nlh, r), 0);
                if (nftnl_rule_is_set(r, NFTNL_RULE_USERDATA)) {
                        const void *u = nftnl_rule_get_data(r, NFTNL_RULE_USERDATA, &ulen);
                        char *c = udata_comment(u, ulen, NFTNL_UDATA_RULE_COMMENT);
                        assert_non_null(c);
                        fprintf(f, "rule: ");
                        /* a run's id comes from a counter that earlier tests moved on */
                        for (const char *q = c; *q; q++) {
                                fputc(*q, f);
                                if ((q[0] == ' ' || q[0] == '_') && q > c + 2 && !strncmp(q - 3, "run", 3) &&
                                    q[1] >= '0' && q[1] <= '9') {
                                        fputs("<id>", f);
                                        while (q[1] >= '0' && q[1] <= '9')
                                                q++;
                                }
                        }
                        fputc('\n', f);
                        free(c);
                }
                nftnl_rule_free(r);
        } else if (type == NFT_MSG_NEWSETELEM) {
                /* by hand: libnftnl parses a list of one element only (its nests are numbered) */
                const struct nlattr *attr, *el, *a;

                mnl_attr_for_each(attr, nlh, sizeof(struct nfgenmsg)) {
                        if (mnl_attr_get_type(attr) != NFTA_SET_ELEM_LIST_ELEMENTS)
                                continue;
                        mnl_attr_for_each_nested(el, attr)
                                mnl_attr_for_each_nested(a, el) {
                                        char *c;

                                        if (mnl_attr_get_type(a) != NFTA_SET_ELEM_USERDATA)
                                                continue;
                                        c = udata_comment(mnl_attr_get_payload(a), mnl_attr_get_payload_len(a),
                                                          NFTNL_UDATA_SET_ELEM_COMMENT);
                                        assert_non_null(c);
                                        fprintf(f, "element: %s\n", c);
                                        free(c);
                                }
                }
        }
}

static char *batch_comments(const NftBatch *b) {
        return batch_text(b, comments_of);
}

/* Hostile names, as a rule each and as members of a run (the second like filter starts it):
 * every comment the kernel would get is safe, and still says which filter it is. */
static void test_comments_emitted(void **state) {
        char longname[512], *text, *comments, *p;
        NftConfig cfg;
        NftBatch *b;
        Engine *e;

        /* 40 × U+1F98A (4 bytes each) after "filter N: " is past the limit, and the cut must
         * not land inside a fox */
        longname[0] = 0;
        for (int i = 0; i < 40; i++)
                strcat(longname, "\xf0\x9f\xa6\x8a");
        const char *names[] = { "quote \"here\"", "two\nlines\tand\\backslash", INJECTION, longname };

        nft_config_init(&cfg);
        assert_int_equal(engine_new(&e), 0);
        install(e, &cfg);
        assert_int_equal(engine_begin(e), 0);
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                char port[8];
                snprintf(port, sizeof(port), "%zu", 7001 + i);
                ConditionSpec conds[] = { { "IP_PROTOCOL", 0, "udp" }, { "IP_LOCAL_PORT", 0, port } };
                /* all alike: the first keeps a rule, the others form a run and are its elements */
                FilterSpec fs = { .name = (char *) names[i], .layer = "INBOUND_TRANSPORT_V4", .action = WFP_ACTION_BLOCK,
                                  .weight_kind = BFE_WEIGHT_RANGE, .weight = 9 - i, .conditions = conds, .n_conditions = 2 };
                assert_int_equal(engine_add_filter(e, &fs, NULL, NULL), 0);
        }
        b = compile_changes(e, &cfg);
        comments = batch_comments(b);
        check_golden("comments.txt", comments);
        for (char *line = strtok_r(comments, "\n", &p); line; line = strtok_r(NULL, "\n", &p))
                check_comment_safe(strchr(line, ' ') + 1);
        free(comments);
        apply(b);
        nft_batch_free(b);
        engine_commit(e);

        /* and the rule text, as a golden dump, with FilterRuns=no: a rule each */
        cfg.filter_runs = false;
        {
                char *out = NULL;
                size_t size = 0;
                FILE *f = open_memstream(&out, &size);
                for (Filter *x = engine_filters(e); x; x = x->next) {
                        assert_int_equal(nft_filter_rule_text(x, &cfg, &text), 0);
                        fprintf(f, "%s", text);
                        free(text);
                }
                fclose(f);
                check_golden("comments.payload", out);
                free(out);
        }
        layout_done();
        engine_free(e);
}

/* The texts that name a message's origin go into error replies on the bus, so they are valid
 * UTF-8 even where a long name was cut inside a character to fit them. */
static void test_record_text_valid(void **state) {
        NftConfig cfg;
        NftBatch *b;
        Engine *e;

        nft_config_init(&cfg);
        assert_int_equal(engine_new(&e), 0);
        install(e, &cfg);
        /* 0–2 ASCII bytes, then U+6771 (3 bytes) 120 times: one of the three cuts falls inside one */
        for (size_t lead = 0; lead < 3; lead++) {
                char name[512] = "ab";
                FilterSpec fs = { .name = name, .layer = "INBOUND_TRANSPORT_V4", .action = WFP_ACTION_BLOCK };

                name[lead] = 0;
                for (int i = 0; i < 120; i++)
                        strcat(name, "\xe6\x9d\xb1");
                assert_int_equal(engine_begin(e), 0);
                assert_int_equal(engine_add_filter(e, &fs, NULL, NULL), 0);
                b = compile_changes(e, &cfg);
                assert_true(b->n_records > 0);
                for (size_t i = 0; i < b->n_records; i++)
                        if (b->records[i].what)
                                assert_true(utf8_is_valid(b->records[i].what));
                apply(b);
                nft_batch_free(b);
                engine_commit(e);
        }
        layout_done();
        engine_free(e);
}

/* ---- the kernel's budget for one rule (budget.c, nft_check_filter) ------------------------------ */

/* A kind of ANDed condition: condition i of a filter, alternating between two fields so that no
 * two side by side are on one field (those would be ORed). */
typedef struct BudgetKind {
        const char *what;
        const char *layer;
        uint32_t action;
        const char *callout;
        void (*condition)(size_t i, ConditionSpec *c, char value[static 64]);
        size_t fits;            /* the most conditions the kernel takes (measured on Linux 6.18) */
} BudgetKind;

static void cond_v4_prefix(size_t i, ConditionSpec *c, char v[static 64]) {
        snprintf(v, 64, "10.%zu.0.0/16", i);
        *c = (ConditionSpec) { i % 2 ? "IP_REMOTE_ADDRESS" : "IP_LOCAL_ADDRESS", WFP_MATCH_EQUAL, v };
}
static void cond_v6_prefix(size_t i, ConditionSpec *c, char v[static 64]) {
        snprintf(v, 64, "2001:db8:%zx::/48", i);
        *c = (ConditionSpec) { i % 2 ? "IP_REMOTE_ADDRESS" : "IP_LOCAL_ADDRESS", WFP_MATCH_EQUAL, v };
}
static void cond_v6_not_prefix(size_t i, ConditionSpec *c, char v[static 64]) {
        cond_v6_prefix(i, c, v);
        c->match = WFP_MATCH_NOT_EQUAL;
}
static void cond_v6_host(size_t i, ConditionSpec *c, char v[static 64]) {
        snprintf(v, 64, "2001:db8::%zx", i + 1);
        *c = (ConditionSpec) { i % 2 ? "IP_REMOTE_ADDRESS" : "IP_LOCAL_ADDRESS", WFP_MATCH_EQUAL, v };
}
static void cond_v4_range(size_t i, ConditionSpec *c, char v[static 64]) {
        snprintf(v, 64, "10.0.%zu.1-10.0.%zu.9", i, i);
        *c = (ConditionSpec) { i % 2 ? "IP_REMOTE_ADDRESS" : "IP_LOCAL_ADDRESS", WFP_MATCH_RANGE, v };
}
static void cond_v6_range(size_t i, ConditionSpec *c, char v[static 64]) {
        snprintf(v, 64, "2001:db8::%zx:1-2001:db8::%zx:9", i, i);
        *c = (ConditionSpec) { i % 2 ? "IP_REMOTE_ADDRESS" : "IP_LOCAL_ADDRESS", WFP_MATCH_RANGE, v };
}
/* ports with UDP first: without a protocol they would also mean ICMP's type and code, which make
 * one set lookup of all of them */
static void cond_port_range(size_t i, ConditionSpec *c, char v[static 64]) {
        if (i == 0) {
                *c = (ConditionSpec) { "IP_PROTOCOL", WFP_MATCH_EQUAL, "udp" };
                return;
        }
        snprintf(v, 64, "%zu-%zu", 1001 + i, 2001 + i);
        *c = (ConditionSpec) { i % 2 ? "IP_REMOTE_PORT" : "IP_LOCAL_PORT", WFP_MATCH_RANGE, v };
}
static void cond_port_prefix(size_t i, ConditionSpec *c, char v[static 64]) {
        if (i == 0) {
                *c = (ConditionSpec) { "IP_PROTOCOL", WFP_MATCH_EQUAL, "udp" };
                return;
        }
        snprintf(v, 64, "%zu-%zu", i * 1024, i * 1024 + 1023);       /* a /6: mask and compare */
        *c = (ConditionSpec) { i % 2 ? "IP_REMOTE_PORT" : "IP_LOCAL_PORT", WFP_MATCH_RANGE, v };
}
static void cond_flags_interface(size_t i, ConditionSpec *c, char v[static 64]) {
        if (i % 2 == 0) {
                *c = (ConditionSpec) { "FLAGS", WFP_MATCH_FLAGS_ALL_SET, "loopback,ipsec-secured" };
                return;
        }
        snprintf(v, 64, "eth%zu", i);
        *c = (ConditionSpec) { "IP_LOCAL_INTERFACE", WFP_MATCH_EQUAL, v };
}

#define CALLOUT_OUT_V6 "38d87722-ad83-4f11-a91f-df0fb077225b"

static const BudgetKind budget_kinds[] = {
        /* A filter that drops is checked as it is while net events are on, with its log statement
         * (1 expression; 64 bytes here, up to 84 as the filter's id grows): that rule must fit too. */
        /* 2 (nfproto) + 3n + 3 (counter, log, verdict) expressions: 41 = 128, 42 = 131 */
        { "IPv4 prefixes", "INBOUND_TRANSPORT_V4", WFP_ACTION_BLOCK, NULL, cond_v4_prefix, 41 },
        { "IPv4 ranges", "OUTBOUND_TRANSPORT_V4", WFP_ACTION_BLOCK, NULL, cond_v4_range, 41 },
        { "IPv6 ranges", "INBOUND_TRANSPORT_V6", WFP_ACTION_BLOCK, NULL, cond_v6_range, 41 },
        /* the bytes: a 16-byte mask (64) and compare (48) after the load (16) are 128 bytes a
         * condition, and 40 + 128n + 48 + 64 stays below 4096 up to 30 */
        { "IPv6 prefixes", "INBOUND_TRANSPORT_V6", WFP_ACTION_BLOCK, NULL, cond_v6_prefix, 30 },
        { "IPv6 prefixes, negated", "OUTBOUND_TRANSPORT_V6", WFP_ACTION_BLOCK, NULL, cond_v6_not_prefix, 30 },
        { "IPv6 prefixes at ALE connect", "ALE_AUTH_CONNECT_V6", WFP_ACTION_BLOCK, NULL, cond_v6_prefix, 30 },
        /* "require IPsec" adds its check (2, 40 bytes): 30 still fit */
        { "IPv6 prefixes, require-IPsec callout", "OUTBOUND_TRANSPORT_V6", WFP_ACTION_CALLOUT_TERMINATING,
          CALLOUT_OUT_V6, cond_v6_prefix, 30 },
        /* both limits at once: 2 + 2n + 3 expressions, 40 + 64n + 48 + 64 bytes (a block's log
         * statement: 1, 64 bytes) */
        { "IPv6 hosts", "INBOUND_TRANSPORT_V6", WFP_ACTION_BLOCK, NULL, cond_v6_host, 61 },
        /* UDP first (a load and a compare: 2, 40 bytes), then ports: a range is 3 expressions, a
         * prefix of a port a mask (64) and a compare (24) after the load (16): 104 bytes */
        { "port ranges", "INBOUND_TRANSPORT_V4", WFP_ACTION_BLOCK, NULL, cond_port_range, 42 },
        { "port prefixes", "INBOUND_TRANSPORT_V4", WFP_ACTION_BLOCK, NULL, cond_port_prefix, 38 },
        /* a permit has no log statement; a FLAGS condition with both flags is two matches, 4
         * expressions: 42 are exactly 128 */
        { "FLAGS (both) and interfaces", "OUTBOUND_TRANSPORT_V4", WFP_ACTION_PERMIT, NULL, cond_flags_interface, 42 },
};

static const BudgetKind *budget_kind(const char *what) {
        for (size_t k = 0; k < ELEMENTSOF(budget_kinds); k++)
                if (streq(budget_kinds[k].what, what))
                        return &budget_kinds[k];
        fail_msg("no budget kind '%s'", what);
        return NULL;
}

/* Builds (in an open transaction) a filter of @n conditions of @kind; the engine must take it. */
static Filter *budget_filter(Engine *e, const BudgetKind *kind, size_t n) {
        ConditionSpec conds[ENGINE_CONDITIONS_MAX];
        char values[ENGINE_CONDITIONS_MAX][64];
        FilterSpec fs = { .name = (char *) kind->what, .layer = (char *) kind->layer, .action = kind->action,
                          .conditions = conds, .n_conditions = n };
        EngineError err = {};
        Filter *f;

        for (size_t i = 0; i < n; i++)
                kind->condition(i, &conds[i], values[i]);
        if (kind->callout)
                assert_int_equal(guid_from_string(kind->callout, &fs.callout_key), 0);
        if (engine_add_filter(e, &fs, &err, &f) < 0)
                fail_msg("%s × %zu: the engine refused it: %s", kind->what, n, err.message);
        return f;
}

/* The cost of the rule for @f in a batch: its NEWRULE message, parsed back as the kernel gets it. */
static NftRuleCost emitted_cost(const NftBatch *b, const Filter *f) {
        const struct nlmsghdr *nlh = (const struct nlmsghdr *) b->buf;
        char prefix[32];
        int len = (int) b->len;

        snprintf(prefix, sizeof(prefix), "filter %" PRIu64 ": ", f->id);
        for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
                struct nftnl_rule *r;
                const void *u;
                uint32_t ulen;
                char *c;

                if (nlh->nlmsg_type == NFNL_MSG_BATCH_BEGIN || NFNL_MSG_TYPE(nlh->nlmsg_type) != NFT_MSG_NEWRULE)
                        continue;
                r = nftnl_rule_alloc();
                assert_int_equal(nftnl_rule_nlmsg_parse(nlh, r), 0);
                u = nftnl_rule_get_data(r, NFTNL_RULE_USERDATA, &ulen);
                c = u ? udata_comment(u, ulen, NFTNL_UDATA_RULE_COMMENT) : NULL;
                if (c && strncmp(c, prefix, strlen(prefix)) == 0) {
                        NftRuleCost cost = nft_rule_cost(r);
                        free(c);
                        nftnl_rule_free(r);
                        return cost;
                }
                free(c);
                nftnl_rule_free(r);
        }
        fail_msg("no rule for filter %" PRIu64 " in the batch", f->id);
        return (NftRuleCost) {};
}

/* Each kind at every count: nft_check_filter() takes exactly the counts the kernel takes (the
 * boundaries in budget_kinds were measured on Linux 6.18 through bfed and busctl, one more
 * condition refused with EINVAL or EFBIG), and the rule the emitter sends at the boundary costs
 * what the check counted. */
static void test_budget_boundaries(void **state) {
        NftConfig cfg;
        Engine *e;

        nft_config_init(&cfg);
        assert_int_equal(engine_new(&e), 0);
        install(e, &cfg);
        for (size_t k = 0; k < ELEMENTSOF(budget_kinds); k++) {
                const BudgetKind *kind = &budget_kinds[k];

                for (size_t n = 1; n <= ENGINE_CONDITIONS_MAX; n++) {
                        EngineError err = {};
                        Filter *f;
                        int r;

                        assert_int_equal(engine_begin(e), 0);
                        f = budget_filter(e, kind, n);
                        r = nft_check_filter(f, &cfg, &err);
                        if (n <= kind->fits && r != 0)
                                fail_msg("%s × %zu: refused, but the kernel takes it: %s", kind->what, n, err.message);
                        if (n > kind->fits && r != wfp_ret(FWP_E_OUT_OF_BOUNDS))
                                fail_msg("%s × %zu: %d, but the kernel refuses it", kind->what, n, r);
                        if (r < 0) {
                                assert_int_equal(err.code, FWP_E_OUT_OF_BOUNDS);
                                assert_non_null(strstr(err.message, "the kernel takes at most 128 expressions and 4095 bytes"));
                                assert_non_null(strstr(err.message, "fewer ANDed conditions"));
                        }
                        if (n == kind->fits) {
                                /* the emitter's rule is the one that was counted, and it fits */
                                NftBatch *b = compile_changes(e, &cfg);
                                assert_true(nft_rule_cost_fits(emitted_cost(b, f)));
                                nft_batch_finish(b, false);
                                nft_batch_free(b);
                        }
                        engine_abort(e);
                }
        }

        /* the message: what the rule would need, the kernel's limits, what to do */
        {
                EngineError err = {};
                assert_int_equal(engine_begin(e), 0);
                assert_int_equal(nft_check_filter(budget_filter(e, budget_kind("IPv6 prefixes"), 32), &cfg, &err),
                                 wfp_ret(FWP_E_OUT_OF_BOUNDS));
                assert_string_equal(err.message,
                                    "the filter's rule would need 101 nftables expressions taking 4248 bytes, and the "
                                    "kernel takes at most 128 expressions and 4095 bytes in one rule: use fewer ANDed "
                                    "conditions (conditions on one field side by side are ORed and cost one set "
                                    "lookup), or split the filter into filters with fewer conditions each");
                engine_abort(e);
        }
        layout_done();
        engine_free(e);
}

/* 40 conditions of the heaviest kinds, where the kernel's two limits part ways: 40 IPv4 prefixes
 * are 124 expressions in 2648 bytes and go in; 40 IPv6 prefixes are 124 expressions too, but
 * 5208 bytes; 40 FLAGS-and-interface conditions are 122 expressions; ORed, the same 40 IPv6
 * prefixes are one set lookup. */
static void test_budget_forty(void **state) {
        ConditionSpec conds[40];
        char values[40][64];
        NftConfig cfg;
        Engine *e;
        Filter *f;

        nft_config_init(&cfg);
        assert_int_equal(engine_new(&e), 0);
        assert_int_equal(engine_begin(e), 0);
        assert_int_equal(nft_check_filter(budget_filter(e, budget_kind("IPv4 prefixes"), 40), &cfg, NULL), 0);
        assert_int_equal(nft_check_filter(budget_filter(e, budget_kind("IPv6 prefixes"), 40), &cfg, NULL),
                         wfp_ret(FWP_E_OUT_OF_BOUNDS));
        assert_int_equal(nft_check_filter(budget_filter(e, budget_kind("FLAGS (both) and interfaces"), 40), &cfg, NULL), 0);

        for (size_t i = 0; i < 40; i++) {
                snprintf(values[i], sizeof(values[i]), "2001:db8:%zx::/48", i);
                conds[i] = (ConditionSpec) { "IP_REMOTE_ADDRESS", WFP_MATCH_EQUAL, values[i] };
        }
        FilterSpec fs = { .name = "ored", .layer = "INBOUND_TRANSPORT_V6", .action = WFP_ACTION_BLOCK,
                          .conditions = conds, .n_conditions = 40 };
        assert_int_equal(engine_add_filter(e, &fs, NULL, &f), 0);
        assert_int_equal(nft_check_filter(f, &cfg, NULL), 0);
        engine_abort(e);
        engine_free(e);
}

/* A filter that can be a member of a run is checked with the rule of its run too. That rule,
 * for the widest key (protocol, both ports, both IPv6 addresses), loads five fields and looks
 * them up: 9 expressions, 208 bytes, and the 44-byte key is an element of at most 64. */
static void test_budget_runs(void **state) {
        ConditionSpec conds[] = { { "IP_PROTOCOL", 0, "udp" }, { "IP_LOCAL_PORT", 0, "7001" },
                                  { "IP_REMOTE_PORT", 0, "500" }, { "IP_LOCAL_ADDRESS", 0, "2001:db8::1" },
                                  { "IP_REMOTE_ADDRESS", 0, "2001:db8::2" } };
        FilterSpec fs = { .name = "member", .layer = "INBOUND_TRANSPORT_V6", .action = WFP_ACTION_BLOCK,
                          .conditions = conds, .n_conditions = 5 };
        const struct nlmsghdr *nlh;
        NftConfig cfg;
        NftBatch *b;
        Engine *e;
        Filter *a, *c;
        int len;
        bool seen = false;

        nft_config_init(&cfg);
        assert_int_equal(engine_new(&e), 0);
        install(e, &cfg);
        assert_int_equal(engine_begin(e), 0);
        assert_int_equal(engine_add_filter(e, &fs, NULL, &a), 0);
        conds[1].value = "7002";
        assert_int_equal(engine_add_filter(e, &fs, NULL, &c), 0);
        assert_int_equal(nft_check_filter(a, &cfg, NULL), 0);
        assert_int_equal(nft_check_filter(c, &cfg, NULL), 0);

        b = compile_changes(e, &cfg);
        assert_non_null(FS(c)->run);
        nlh = (const struct nlmsghdr *) b->buf;
        len = (int) b->len;
        for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
                struct nftnl_rule *r;
                const void *u;
                uint32_t ulen;
                char *comment;

                if (nlh->nlmsg_type == NFNL_MSG_BATCH_BEGIN || NFNL_MSG_TYPE(nlh->nlmsg_type) != NFT_MSG_NEWRULE)
                        continue;
                r = nftnl_rule_alloc();
                assert_int_equal(nftnl_rule_nlmsg_parse(nlh, r), 0);
                u = nftnl_rule_get_data(r, NFTNL_RULE_USERDATA, &ulen);
                if (!u) {                       /* the sublayer's jump, put anew with its guard */
                        nftnl_rule_free(r);
                        continue;
                }
                comment = udata_comment(u, ulen, NFTNL_UDATA_RULE_COMMENT);
                if (strncmp(comment, "filter run ", 11) == 0) {
                        NftRuleCost cost = nft_rule_cost(r);
                        assert_int_equal(cost.exprs, 9);
                        assert_int_equal(cost.bytes, 208);
                        seen = true;
                }
                free(comment);
                nftnl_rule_free(r);
        }
        assert_true(seen);
        apply(b);
        nft_batch_free(b);
        engine_commit(e);
        layout_done();
        engine_free(e);
}

/* A layout with a run of many members is freed whole, and each run once: the runs were once freed
 * through their carriers' entries, and a member's entry after its carrier's read the freed run
 * (AddressSanitizer says so; the sanitizer suite runs this). */
static void test_layout_free_runs(void **state) {
        NftConfig cfg;
        Filter *last = NULL;
        Engine *e;

        nft_config_init(&cfg);
        cfg.filter_runs = true;
        assert_int_equal(engine_new(&e), 0);
        for (unsigned i = 0; i < 300; i++) {
                char port[8];

                snprintf(port, sizeof(port), "%u", 20000 + i);
                last = add_filter(e, "member", "INBOUND_TRANSPORT_V4", WFP_ACTION_BLOCK, NULL, "udp", port);
        }
        install(e, &cfg);
        assert_non_null(FS(last)->run);
        assert_true(FS(last)->run->n >= 299);
        layout_done();
        engine_free(e);
}

/* Members that join runs in one batch have their elements written together: 300 like filters
 * added in one transaction to a run are three NEWSETELEM messages (128 elements a message), after
 * everything else the batch does to the table, and each of them is there once. The kernel looks
 * the set up by name for every message (compile-layout.c, joined_add()). */
static void test_run_joins_written_together(void **state) {
        NftConfig cfg;
        NftBatch *b;
        Engine *e;
        Filter *last = NULL;
        unsigned messages = 0, elements = 0, after = 0;

        nft_config_init(&cfg);
        cfg.filter_runs = true;
        assert_int_equal(engine_new(&e), 0);
        install(e, &cfg);
        for (unsigned i = 0; i < 2; i++) {       /* the first keeps a rule, the second starts the run */
                char port[8];

                snprintf(port, sizeof(port), "%u", 20000 + i);
                add_block_port(e, "first", port, 5);
                b = compile_changes(e, &cfg);
                apply(b);
                nft_batch_free(b);
                engine_commit(e);
        }
        assert_int_equal(engine_begin(e), 0);
        for (unsigned i = 2; i < 302; i++) {
                char port[8];
                ConditionSpec conds[] = { { "IP_PROTOCOL", 0, "udp" }, { "IP_LOCAL_PORT", 0, port } };
                FilterSpec fs = { .name = "joins", .layer = "INBOUND_TRANSPORT_V4", .action = WFP_ACTION_BLOCK,
                                  .weight_kind = BFE_WEIGHT_RANGE, .weight = 5, .conditions = conds, .n_conditions = 2 };

                snprintf(port, sizeof(port), "%u", 20000 + i);
                assert_int_equal(engine_add_filter(e, &fs, NULL, &last), 0);
        }
        b = compile_changes(e, &cfg);
        {
                const struct nlmsghdr *nlh = (const struct nlmsghdr *) b->buf;
                int len = (int) b->len;

                for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
                        const struct nlattr *attr, *el;

                        if (nlh->nlmsg_type == NFNL_MSG_BATCH_BEGIN || nlh->nlmsg_type == NFNL_MSG_BATCH_END)
                                continue;
                        if (NFNL_MSG_TYPE(nlh->nlmsg_type) != NFT_MSG_NEWSETELEM) {
                                after += messages > 0;  /* nothing of the table after the elements */
                                continue;
                        }
                        messages++;
                        mnl_attr_for_each(attr, nlh, sizeof(struct nfgenmsg))
                                if (mnl_attr_get_type(attr) == NFTA_SET_ELEM_LIST_ELEMENTS)
                                        mnl_attr_for_each_nested(el, attr)
                                                elements++;
                }
        }
        assert_int_equal(elements, 300);
        assert_int_equal(messages, 3);
        assert_int_equal(after, 0);
        apply(b);
        nft_batch_free(b);
        engine_commit(e);
        assert_non_null(FS(last)->run);
        assert_int_equal(FS(last)->run->n, 301);
        layout_done();
        engine_free(e);
}

/* Port ranges in a run are aligned blocks of 16, 4 and 1 ports (compile-layout.c): a set and a
 * rule for each size, and each member's blocks cover its range and nothing else, the largest
 * block that fits first. 40 disjoint ranges of 2–64 ports from a fixed stream, installed whole
 * and then one more added, are checked against a decomposition written here. */
#define BLOCK_RANGES 40

static Filter *add_range_port(Engine *e, const char *name, unsigned lo, unsigned hi) {
        char range[16];
        ConditionSpec conds[] = { { "IP_PROTOCOL", 0, "udp" }, { "IP_LOCAL_PORT", WFP_MATCH_RANGE, range } };
        FilterSpec fs = { .name = (char *) name, .layer = "INBOUND_TRANSPORT_V4", .action = WFP_ACTION_BLOCK,
                          .weight_kind = BFE_WEIGHT_RANGE, .weight = 5, .conditions = conds, .n_conditions = 2 };
        Filter *f;

        snprintf(range, sizeof(range), "%u-%u", lo, hi);
        assert_int_equal(engine_begin(e), 0);
        assert_int_equal(engine_add_filter(e, &fs, NULL, &f), 0);
        return f;
}

typedef struct BlockSeen {
        unsigned lo[BLOCK_RANGES + 1], hi[BLOCK_RANGES + 1];
        unsigned elements[BLOCK_RANGES + 1], want[BLOCK_RANGES + 1];
        uint8_t covered[BLOCK_RANGES + 1][64];
        unsigned rules, sets;
} BlockSeen;

/* Checks each NEWSETELEM of @b against the ranges: the set's size, the block's alignment and place. */
static void block_elements(NftBatch *b, BlockSeen *seen) {
        const struct nlmsghdr *nlh = (const struct nlmsghdr *) b->buf;
        int len = (int) b->len;

        for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
                uint16_t type = NFNL_MSG_TYPE(nlh->nlmsg_type);
                const struct nlattr *attr, *list = NULL, *el, *a;
                const char *name = NULL, *b_at;
                unsigned size;

                if (nlh->nlmsg_type == NFNL_MSG_BATCH_BEGIN)
                        continue;
                seen->sets += type == NFT_MSG_NEWSET;
                if (type == NFT_MSG_NEWRULE) {
                        struct nftnl_rule *r = nftnl_rule_alloc();
                        const void *u;
                        uint32_t ulen;
                        char *c;

                        assert_int_equal(nftnl_rule_nlmsg_parse(nlh, r), 0);
                        u = nftnl_rule_get_data(r, NFTNL_RULE_USERDATA, &ulen);
                        c = u ? udata_comment(u, ulen, NFTNL_UDATA_RULE_COMMENT) : NULL;
                        seen->rules += c && strncmp(c, "filter run ", 11) == 0;
                        free(c);
                        nftnl_rule_free(r);
                }
                if (type != NFT_MSG_NEWSETELEM)
                        continue;
                /* by hand: libnftnl parses a list of one element only (its nests are numbered) */
                mnl_attr_for_each(attr, nlh, sizeof(struct nfgenmsg))
                        if (mnl_attr_get_type(attr) == NFTA_SET_ELEM_LIST_SET)
                                name = mnl_attr_get_str(attr);
                        else if (mnl_attr_get_type(attr) == NFTA_SET_ELEM_LIST_ELEMENTS)
                                list = attr;
                assert_non_null(name);
                if (strncmp(name, "run_", 4) != 0)
                        continue;
                b_at = strstr(name, "_b");
                assert_non_null(b_at);                  /* a run with ranges has block sets only */
                size = (unsigned) strtoul(b_at + 2, NULL, 10);
                assert_true(size == 16 || size == 4 || size == 1);
                mnl_attr_for_each_nested(el, list) {
                        const uint8_t *key = NULL;
                        char *c = NULL;
                        unsigned i, port;

                        mnl_attr_for_each_nested(a, el)
                                if (mnl_attr_get_type(a) == NFTA_SET_ELEM_KEY)
                                        key = mnl_attr_get_payload(mnl_attr_get_payload(a));
                                else if (mnl_attr_get_type(a) == NFTA_SET_ELEM_USERDATA)
                                        c = udata_comment(mnl_attr_get_payload(a), mnl_attr_get_payload_len(a),
                                                          NFTNL_UDATA_SET_ELEM_COMMENT);
                        assert_non_null(key);
                        assert_non_null(c);
                        assert_int_equal(key[0], 17);   /* udp, padded; the port */
                        port = (unsigned) key[4] << 8 | key[5];
                        assert_int_equal(sscanf(c, "filter %*u: r%u", &i), 1);
                        free(c);
                        assert_true(i <= BLOCK_RANGES);
                        assert_int_equal(port % size, 0);
                        assert_true(port >= seen->lo[i] && port + size - 1 <= seen->hi[i]);
                        for (unsigned p = port; p < port + size; p++) {
                                assert_int_equal(seen->covered[i][p - seen->lo[i]], 0);
                                seen->covered[i][p - seen->lo[i]] = 1;
                        }
                        seen->elements[i]++;
                }
        }
}

/* The decomposition, written again: at each port the largest aligned block of 16, 4, 1 that fits. */
static unsigned blocks_of(unsigned lo, unsigned hi) {
        unsigned n = 0;

        for (unsigned p = lo; p <= hi; n++)
                p += p % 16 == 0 && p + 15 <= hi ? 16 : p % 4 == 0 && p + 3 <= hi ? 4 : 1;
        return n;
}

static void test_run_port_blocks(void **state) {
        char prefix[32];
        BlockSeen seen = {};
        uint32_t x = 12345;
        NftConfig cfg;
        NftBatch *b;
        Engine *e;
        Filter *f[BLOCK_RANGES + 1], *over;

        nft_config_init(&cfg);
        cfg.filter_runs = true;
        assert_int_equal(engine_new(&e), 0);
        for (unsigned i = 0; i <= BLOCK_RANGES; i++) {
                char name[16];

                x = x * 1103515245u + 12345u;
                seen.lo[i] = 20000 + 100 * i + (x >> 16) % 30;
                seen.hi[i] = seen.lo[i] + 1 + (x >> 8) % 63;
                seen.want[i] = blocks_of(seen.lo[i], seen.hi[i]);
                if (i == BLOCK_RANGES)
                        break;
                snprintf(name, sizeof(name), "r%u", i);
                f[i] = add_range_port(e, name, seen.lo[i], seen.hi[i]);
                engine_commit(e);
        }
        /* all but the last installed whole: one run, of three sets and three rules */
        assert_int_equal(nft_batch_new(1, &b), 0);
        assert_int_equal(nft_compile_ruleset(e, lay(), &cfg, true, b), 0);
        block_elements(b, &seen);
        apply(b);
        nft_batch_free(b);
        assert_non_null(FS(f[1])->run);
        assert_int_equal(seen.rules, 3);
        /* the last one joins it: its elements only */
        seen.rules = seen.sets = 0;
        f[BLOCK_RANGES] = add_range_port(e, "r40", seen.lo[BLOCK_RANGES], seen.hi[BLOCK_RANGES]);
        b = compile_changes(e, &cfg);
        block_elements(b, &seen);
        apply(b);
        nft_batch_free(b);
        engine_commit(e);
        assert_ptr_equal(FS(f[BLOCK_RANGES])->run, FS(f[1])->run);
        assert_int_equal(seen.rules + seen.sets, 0);
        for (unsigned i = 0; i <= BLOCK_RANGES; i++) {
                if (FS(f[i])->run != FS(f[1])->run)
                        continue;               /* the first of its kind keeps a rule of its own */
                assert_int_equal(seen.elements[i], seen.want[i]);
                for (unsigned p = seen.lo[i]; p <= seen.hi[i]; p++)
                        assert_int_equal(seen.covered[i][p - seen.lo[i]], 1);
        }
        /* a dropped packet's member, found from its port wherever in the range it is (bfed keeps
         * the members by 16 ports); a port in no range has none */
        snprintf(prefix, sizeof(prefix), "bfed run %u", FS(f[1])->run->id);
        for (unsigned i = 0; i <= BLOCK_RANGES; i++)
                for (unsigned port = seen.lo[i] - 1; port <= seen.hi[i] + 1; port++) {
                        NflogPacket p = logged(prefix, 4, NF_INET_LOCAL_IN, 5555, (uint16_t) port);
                        const Filter *want = NULL;

                        for (unsigned j = 0; j <= BLOCK_RANGES; j++)
                                if (FS(f[j])->run == FS(f[1])->run && port >= seen.lo[j] && port <= seen.hi[j])
                                        want = f[j];
                        assert_ptr_equal(nft_net_event_filter(e, lay(), &p), want);
                }
        /* a range that shares one port with a member, the last of its range: not in the run */
        over = add_range_port(e, "over", seen.hi[2], seen.hi[2] + 20);
        b = compile_changes(e, &cfg);
        apply(b);
        nft_batch_free(b);
        engine_commit(e);
        assert_ptr_equal(FS(f[2])->run, FS(f[1])->run);
        assert_true(FS(over)->run != FS(f[1])->run);
        layout_done();
        engine_free(e);
}

/* A run's table of its members by key grows as they join, one batch each; without blocks it grows
 * from its own slots (run-keys.c, keys_grow()). Every member stays in it: a dropped packet finds
 * its member by its port, and a filter with a member's values does not join. */
#define GROW_MEMBERS 300

static void test_run_keys_grow(void **state) {
        unsigned members = 0;
        char prefix[32];
        NftConfig cfg;
        NftBatch *b;
        Engine *e;
        Filter *f[GROW_MEMBERS], *twin;

        nft_config_init(&cfg);
        cfg.filter_runs = true;
        assert_int_equal(engine_new(&e), 0);
        install(e, &cfg);
        for (unsigned i = 0; i < GROW_MEMBERS; i++) {
                char name[16];

                snprintf(name, sizeof(name), "p%u", i);
                f[i] = add_range_port(e, name, 30000 + i, 30000 + i);
                b = compile_changes(e, &cfg);
                apply(b);
                nft_batch_free(b);
                engine_commit(e);
        }
        assert_non_null(FS(f[1])->run);
        snprintf(prefix, sizeof(prefix), "bfed run %u", FS(f[1])->run->id);
        for (unsigned i = 0; i < GROW_MEMBERS; i++) {
                NflogPacket p = logged(prefix, 4, NF_INET_LOCAL_IN, 5555, (uint16_t) (30000 + i));

                if (FS(f[i])->run != FS(f[1])->run)
                        continue;
                members++;
                assert_ptr_equal(nft_net_event_filter(e, lay(), &p), f[i]);
        }
        assert_true(members >= GROW_MEMBERS - 1);       /* the first may keep a rule of its own */
        twin = add_range_port(e, "twin", 30005, 30005);
        b = compile_changes(e, &cfg);
        apply(b);
        nft_batch_free(b);
        engine_commit(e);
        assert_true(FS(twin)->run != FS(f[5])->run);
        layout_done();
        engine_free(e);
}

/* ---- the overlap index (layout.c) -------------------------------------------------------------- */

typedef struct OverlapSeen {
        const Filter *seen[512];
        size_t n;
} OverlapSeen;

static int overlap_note(const Filter *g, void *userdata) {
        OverlapSeen *o = userdata;

        assert_true(o->n < ELEMENTSOF(o->seen));
        o->seen[o->n++] = g;
        return 0;
}

static bool overlap_was_seen(const OverlapSeen *o, const Filter *g) {
        for (size_t i = 0; i < o->n; i++)
                if (o->seen[i] == g)
                        return true;
        return false;
}

static bool remote_range(const Filter *f, const uint8_t **lo, const uint8_t **hi);

static const char *addr_text(const Filter *f) {
        static char buf[2][40];
        static int k;
        const uint8_t *lo, *hi;

        k ^= 1;
        if (!remote_range(f, &lo, &hi))
                return "none";
        snprintf(buf[k], sizeof(buf[k]), "%u.%u.%u.%u-%u.%u.%u.%u", lo[0], lo[1], lo[2], lo[3], hi[0], hi[1], hi[2], hi[3]);
        return buf[k];
}

/* @f's remote addresses as a range [lo, hi]; false: it has no single one (the index's "wide"). */
static bool remote_range(const Filter *f, const uint8_t **lo, const uint8_t **hi) {
        const Condition *c = NULL;

        for (size_t i = 0; i < f->n_conditions; i++)
                if (f->conditions[i].field == WFP_FIELD_IP_REMOTE_ADDRESS)
                        c = &f->conditions[i];
        if (!c)
                return false;
        *lo = c->lo;
        *hi = c->hi;
        return true;
}

/*
 * The overlap index hands a filter every filter of its list whose remote addresses meet its own,
 * and every one without a single remote address or with one wider than /16, and a host (/32) no
 * host of another address: 300 random filters of hosts, /24–/31, /16–/23 and wider prefixes,
 * ranges and no address, in four /24s of one /16, before and after half of them leave the index,
 * and after they come back (the /16's summary of its /24s follows the buckets).
 * (Such a wide filter was once filed where no walk looked: a like filter after it joined a run
 * whose lookup came before it.)
 */
static void test_overlap_index(void **state) {
        Filter *f[300];
        NftLayout *L;
        Engine *e;

        assert_int_equal(engine_new(&e), 0);
        assert_int_equal(nft_layout_new(&L), 0);
        assert_int_equal(engine_begin(e), 0);
        srand(7);
        for (size_t i = 0; i < ELEMENTSOF(f); i++) {
                char v[64];
                ConditionSpec c[] = { { "IP_PROTOCOL", 0, "udp" }, { "IP_REMOTE_ADDRESS", 0, v } };
                FilterSpec fs = { .name = "overlap", .layer = "INBOUND_TRANSPORT_V4", .action = WFP_ACTION_BLOCK,
                                  .conditions = c, .n_conditions = 2 };
                unsigned third = (unsigned) rand() % 4, host = (unsigned) rand() % 12;

                switch (rand() % 8) {
                case 0: case 1: case 2:
                        snprintf(v, sizeof(v), "10.0.%u.%u", third, host);
                        break;
                case 3:
                        snprintf(v, sizeof(v), "10.0.%u.%u/%u", third, host & ~7u, 29 + (unsigned) rand() % 3);
                        break;
                case 4:
                        snprintf(v, sizeof(v), "10.0.%u.0/24", third);
                        break;
                case 5:
                        snprintf(v, sizeof(v), "10.0.0.0/%u", 16 + (unsigned) rand() % 8);
                        break;
                case 6:
                        snprintf(v, sizeof(v), "10.0.%u.%u-10.0.%u.%u", third, host, third, host + 3);
                        c[1].match = WFP_MATCH_RANGE;
                        break;
                default:
                        fs.n_conditions = (rand() % 2) ? 1 : 2;
                        snprintf(v, sizeof(v), "10.0.0.0/8");
                        break;
                }
                if (engine_add_filter(e, &fs, NULL, &f[i]) < 0)
                        fail_msg("filter %zu, remote address %s: refused", i, v);
                assert_int_equal(nft_layout_overlap_add(L, f[i]), 0);
        }

        for (size_t round = 0; round < 3; round++) {
                size_t checked_hosts = 0, step = round == 1 ? 2 : 1;

                for (size_t i = 0; i < ELEMENTSOF(f); i += step) {
                        const uint8_t *flo = NULL, *fhi = NULL, *glo, *ghi;
                        OverlapSeen o = {};

                        if (nft_layout_overlap_is_wide(f[i]))
                                continue;       /* the index walks the whole list for those */
                        assert_true(remote_range(f[i], &flo, &fhi));
                        assert_int_equal(nft_layout_overlap_each(L, f[i], overlap_note, &o), 0);
                        assert_false(overlap_was_seen(&o, f[i]));
                        for (size_t j = 0; j < ELEMENTSOF(f); j += step) {
                                bool meets;

                                if (j == i)
                                        continue;
                                meets = nft_layout_overlap_is_wide(f[j]) ||
                                        (remote_range(f[j], &glo, &ghi) && memcmp(glo, fhi, 4) <= 0 &&
                                         memcmp(flo, ghi, 4) <= 0);
                                if (meets && !overlap_was_seen(&o, f[j]))
                                        fail_msg("round %zu: filter %zu (%s) does not get filter %zu (%s)", round, i,
                                                 addr_text(f[i]), j, addr_text(f[j]));
                                /* a host gets no host of another address */
                                if (memcmp(flo, fhi, 4) == 0 && remote_range(f[j], &glo, &ghi) &&
                                    memcmp(glo, ghi, 4) == 0 && memcmp(glo, flo, 4) != 0 && overlap_was_seen(&o, f[j]))
                                        fail_msg("round %zu: host filter %zu gets host filter %zu", round, i, j);
                        }
                        checked_hosts += memcmp(flo, fhi, 4) == 0;
                }
                assert_true(checked_hosts > 30);
                /* the odd ones leave the index, and come back */
                for (size_t i = 1; round == 0 && i < ELEMENTSOF(f); i += 2)
                        nft_layout_overlap_remove(L, f[i]);
                for (size_t i = 1; round == 1 && i < ELEMENTSOF(f); i += 2)
                        assert_int_equal(nft_layout_overlap_add(L, f[i]), 0);
        }
        engine_abort(e);
        nft_layout_free(L);
        engine_free(e);
}

/* A filter of @addr (remote), in @e's open transaction. */
static Filter *add_remote(Engine *e, char *addr) {
        ConditionSpec c[] = { { "IP_PROTOCOL", 0, "udp" }, { "IP_REMOTE_ADDRESS", 0, addr } };
        FilterSpec fs = { .name = "summary", .layer = "INBOUND_TRANSPORT_V4", .action = WFP_ACTION_BLOCK,
                          .conditions = c, .n_conditions = 2 };
        Filter *f;

        assert_int_equal(engine_add_filter(e, &fs, NULL, &f), 0);
        return f;
}

/* Whether the overlap walk of @f hands it exactly @want (@n of them). */
static void assert_overlaps(NftLayout *L, const Filter *f, const Filter *const *want, size_t n) {
        OverlapSeen o = {};

        assert_int_equal(nft_layout_overlap_each(L, f, overlap_note, &o), 0);
        assert_int_equal(o.n, n);
        for (size_t i = 0; i < n; i++)
                assert_true(overlap_was_seen(&o, want[i]));
}

/* A /16 looks into the /24s its summary has: as hosts and /24s come and go, the last one too. */
static void test_overlap_summary(void **state) {
        Filter *coarse, *h5, *h9, *fine7, *other;
        NftLayout *L;
        Engine *e;

        assert_int_equal(engine_new(&e), 0);
        assert_int_equal(nft_layout_new(&L), 0);
        assert_int_equal(engine_begin(e), 0);
        coarse = add_remote(e, "10.1.0.0/16");
        h5 = add_remote(e, "10.1.5.1");
        h9 = add_remote(e, "10.1.9.1");
        fine7 = add_remote(e, "10.1.7.0/24");
        other = add_remote(e, "10.2.5.1");
        for (Filter *const *g = (Filter *const[]) { coarse, h5, h9, fine7, other, NULL }; *g; g++)
                assert_int_equal(nft_layout_overlap_add(L, *g), 0);
        assert_overlaps(L, coarse, (const Filter *const[]) { h5, h9, fine7 }, 3);
        nft_layout_overlap_remove(L, h5);
        assert_overlaps(L, coarse, (const Filter *const[]) { h9, fine7 }, 2);
        assert_int_equal(nft_layout_overlap_add(L, h5), 0);
        assert_overlaps(L, coarse, (const Filter *const[]) { h5, h9, fine7 }, 3);
        nft_layout_overlap_remove(L, h5);
        nft_layout_overlap_remove(L, h9);
        nft_layout_overlap_remove(L, fine7);
        assert_overlaps(L, coarse, NULL, 0);
        assert_int_equal(nft_layout_overlap_add(L, h9), 0);
        assert_overlaps(L, coarse, (const Filter *const[]) { h9 }, 1);
        engine_abort(e);
        nft_layout_free(L);
        engine_free(e);
}

static void assert_within(NftRuleCost cost, NftRuleCost empty, size_t n, const char *what, size_t i) {
        if (empty.exprs > NFT_RULE_FRAME_EXPRS_MAX || empty.bytes > NFT_RULE_FRAME_BYTES_MAX)
                fail_msg("%s %zu: without conditions %zu expressions, %zu bytes: over the frame", what, i,
                         empty.exprs, empty.bytes);
        if (cost.exprs > empty.exprs + n * NFT_CONDITION_EXPRS_MAX ||
            cost.bytes > empty.bytes + n * NFT_CONDITION_BYTES_MAX)
                fail_msg("%s %zu: %zu conditions cost %zu expressions, %zu bytes; %zu and %zu without them", what, i,
                         n, cost.exprs, cost.bytes, empty.exprs, empty.bytes);
}

/*
 * nft_check_filter() builds no rule for a filter of at most NFT_CONDITIONS_ALWAYS_FIT conditions
 * (budget.h). The bounds that rests on, measured on the rules the emitter builds:
 *  - every case of condition_cases[] (each field and match type) costs at most n conditions'
 *    worth (NFT_CONDITION_*) more than the same filter without conditions, and that one at
 *    most the frame; for the filter's rule and for its run's;
 *  - filters of NFT_CONDITIONS_ALWAYS_FIT conditions drawn at random from the cases of a layer
 *    and the budget's heaviest kinds: each one the engine takes is within the bounds and fits.
 */
static void test_budget_bounds(void **state) {
        static void (*const heavy[])(size_t, ConditionSpec *, char[static 64]) = {
                cond_v4_prefix, cond_v4_range, cond_port_range, cond_port_prefix, cond_flags_interface,
        };
        static void (*const heavy6[])(size_t, ConditionSpec *, char[static 64]) = {
                cond_v6_prefix, cond_v6_not_prefix, cond_v6_range, cond_v6_host, cond_port_range, cond_flags_interface,
        };
        NftRuleCost rule, run, empty_rule, empty_run;
        size_t taken = 0, tried = 0;
        NftConfig cfg;
        Engine *e;

        nft_config_init(&cfg);
        assert_int_equal(engine_new(&e), 0);
        for (size_t i = 0; i < ELEMENTSOF(condition_cases); i++) {
                const ConditionCase *cs = &condition_cases[i];
                Filter *f, *empty;

                assert_int_equal(engine_begin(e), 0);
                assert_non_null(f = try_filter(e, cs, cs->c, cs->n));
                assert_non_null(empty = try_filter(e, cs, NULL, 0));
                assert_int_equal(nft_filter_cost(f, &cfg, &rule, &run), 0);
                assert_int_equal(nft_filter_cost(empty, &cfg, &empty_rule, &empty_run), 0);
                assert_within(rule, empty_rule, cs->n, "case", i);
                if (run.exprs > 0)
                        assert_within(run, empty_rule, cs->n, "run of case", i);
                engine_abort(e);
        }

        srand(12);
        for (size_t t = 0; t < 4000; t++) {
                const ConditionCase *base = &condition_cases[(size_t) rand() % ELEMENTSOF(condition_cases)];
                size_t len = strlen(base->layer);
                bool v6 = len > 3 && streq(base->layer + len - 3, "_V6");
                bool forward = strncmp(base->layer, "IPFORWARD", 9) == 0;
                ConditionSpec c[NFT_CONDITIONS_ALWAYS_FIT];
                char values[NFT_CONDITIONS_ALWAYS_FIT][64];
                Filter *f, *empty;

                for (size_t k = 0; k < NFT_CONDITIONS_ALWAYS_FIT; k++) {
                        size_t pick = (size_t) rand() % 3;

                        if (pick == 0 && !forward) {
                                /* the heaviest kinds, at layers with local and remote addresses */
                                if (v6)
                                        heavy6[(size_t) rand() % ELEMENTSOF(heavy6)](k + 1, &c[k], values[k]);
                                else
                                        heavy[(size_t) rand() % ELEMENTSOF(heavy)](k + 1, &c[k], values[k]);
                        } else {
                                /* a condition of a case at the same layer */
                                const ConditionCase *o;
                                do
                                        o = &condition_cases[(size_t) rand() % ELEMENTSOF(condition_cases)];
                                while (!streq(o->layer, base->layer));
                                c[k] = o->c[(size_t) rand() % o->n];
                        }
                }
                tried++;
                assert_int_equal(engine_begin(e), 0);
                f = try_filter(e, base, c, NFT_CONDITIONS_ALWAYS_FIT);
                if (f) {
                        taken++;
                        assert_non_null(empty = try_filter(e, base, NULL, 0));
                        assert_int_equal(nft_filter_cost(f, &cfg, &rule, &run), 0);
                        assert_int_equal(nft_filter_cost(empty, &cfg, &empty_rule, &empty_run), 0);
                        assert_within(rule, empty_rule, NFT_CONDITIONS_ALWAYS_FIT, "random filter", t);
                        assert_true(nft_rule_cost_fits(rule));
                        assert_true(nft_rule_cost_fits(run));
                }
                engine_abort(e);
        }
        /* not a test of nothing: most drawn filters are ones the engine takes */
        if (taken < tried / 4)
                fail_msg("only %zu of %zu random filters were taken", taken, tried);
        engine_free(e);
}


/* The backstop: whatever the caller checked, nft_compile_changes() and nft_compile_ruleset()
 * refuse rather than send a rule over the kernel's limits, and a refused batch changes nothing. */
static void test_budget_backstop(void **state) {
        NftConfig cfg;
        NftBatch *b;
        Engine *e;
        Filter *ok, *big;
        NftChunk *chunk;

        nft_config_init(&cfg);
        assert_int_equal(engine_new(&e), 0);
        install(e, &cfg);
        assert_int_equal(engine_begin(e), 0);
        ok = budget_filter(e, budget_kind("IPv6 prefixes"), 31);
        b = compile_changes(e, &cfg);
        apply(b);
        nft_batch_free(b);
        engine_commit(e);
        chunk = FS(ok)->chunk;
        assert_int_equal(chunk->n, 1);

        assert_int_equal(engine_begin(e), 0);
        big = budget_filter(e, budget_kind("IPv6 prefixes"), 32);
        assert_int_equal(nft_batch_new(1, &b), 0);
        assert_int_equal(nft_compile_changes(e, lay(), &cfg, b), wfp_ret(FWP_E_OUT_OF_BOUNDS));
        nft_batch_finish(b, false);
        nft_batch_free(b);
        assert_null(FS(big)->chunk);
        assert_int_equal(FS(big)->handle, 0);
        assert_int_equal(chunk->n, 1);

        /* the whole table with it, say at a start from a state file that has such a filter */
        assert_int_equal(nft_batch_new(1, &b), 0);
        assert_int_equal(nft_compile_ruleset(e, lay(), &cfg, true, b), wfp_ret(FWP_E_OUT_OF_BOUNDS));
        nft_batch_finish(b, false);
        nft_batch_free(b);
        assert_ptr_equal(FS(ok)->chunk, chunk);
        engine_abort(e);

        /* without it, both go through again */
        b = compile_changes(e, &cfg);
        nft_batch_free(b);
        install(e, &cfg);
        layout_done();
        engine_free(e);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_exemptions_golden),
                cmocka_unit_test(test_conditions_golden),
                cmocka_unit_test(test_trace_chains),
                cmocka_unit_test(test_incremental),
                cmocka_unit_test(test_layout_lifetime),
                cmocka_unit_test(test_chunks),
                cmocka_unit_test(test_ruleset),
                cmocka_unit_test(test_batch_deterministic),
                cmocka_unit_test(test_runs),
                cmocka_unit_test(test_net_events_golden),
                cmocka_unit_test(test_net_events_switch),
                cmocka_unit_test(test_net_events_chunks),
                cmocka_unit_test(test_net_event_filter),
                cmocka_unit_test(test_prefix_run),
                cmocka_unit_test(test_net_event_forward),
                cmocka_unit_test(test_comment_sanitize),
                cmocka_unit_test(test_filter_comment),
                cmocka_unit_test(test_comments_emitted),
                cmocka_unit_test(test_record_text_valid),
                cmocka_unit_test(test_budget_boundaries),
                cmocka_unit_test(test_budget_forty),
                cmocka_unit_test(test_budget_runs),
                cmocka_unit_test(test_budget_bounds),
                cmocka_unit_test(test_overlap_index),
                cmocka_unit_test(test_overlap_summary),
                cmocka_unit_test(test_layout_free_runs),
                cmocka_unit_test(test_run_port_blocks),
                cmocka_unit_test(test_run_keys_grow),
                cmocka_unit_test(test_run_joins_written_together),
                cmocka_unit_test(test_budget_backstop),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
