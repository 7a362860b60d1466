/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-explain.c — WFP arbitration as engine decisions: sublayers, weights, hard and soft
 * permits, blocks, require-IPsec callouts, the exemptions; and the sublayer rules.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine.h"

#define L_IN4 "INBOUND_TRANSPORT_V4"

static Engine *E;

static int setup(void **state) {
        return engine_new(&E);
}

static int teardown(void **state) {
        E = engine_free(E);
        return 0;
}

static Sublayer *sublayer(const char *name, uint16_t weight) {
        SublayerSpec spec = { .name = (char *) name, .weight = weight };
        Sublayer *s;

        assert_int_equal(engine_begin(E), 0);
        assert_int_equal(engine_add_sublayer(E, &spec, NULL, &s), 0);
        engine_commit(E);
        return s;
}

/* A filter in @s (NULL: universal) at L_IN4 on udp port @port (0: all udp). */
static Filter *filter(const char *name, Sublayer *s, uint32_t action, uint32_t flags, WeightKind wk, uint64_t w,
                      const char *port) {
        ConditionSpec c[2] = { { "IP_PROTOCOL", 0, "udp" }, { "IP_LOCAL_PORT", 0, (char *) port } };
        FilterSpec spec = { .name = (char *) name, .layer = L_IN4, .action = action, .flags = flags, .weight_kind = (BfeWeightKind) wk,
                            .weight = w, .conditions = c, .n_conditions = port ? 2 : 1 };
        Filter *f;

        if (s)
                spec.sublayer_key = s->key;
        if (action == WFP_ACTION_CALLOUT_TERMINATING)
                assert_int_equal(guid_from_string("5132900d-5e84-4b5f-80e4-01741e81ff10", &spec.callout_key), 0);
        assert_int_equal(engine_begin(E), 0);
        assert_int_equal(engine_add_filter(E, &spec, NULL, &f), 0);
        engine_commit(E);
        return f;
}

static Packet udp_to(const char *port, const char *flags) {
        Packet p = {};
        WfpLayer l;

        assert_int_equal(wfp_layer_from_string(L_IN4, &l), 0);
        assert_int_equal(packet_set(&p, l, "IP_PROTOCOL", "udp", NULL), 0);
        assert_int_equal(packet_set(&p, l, "IP_LOCAL_PORT", port, NULL), 0);
        assert_int_equal(packet_set(&p, l, "IP_REMOTE_ADDRESS", "10.201.0.2", NULL), 0);
        if (flags)
                assert_int_equal(packet_set(&p, l, "FLAGS", flags, NULL), 0);
        return p;
}

/* Explains @p at L_IN4; checks the verdict and the deciding filter; returns the outcome in @s. */
static Outcome explain(const Packet *p, bool permit, const Filter *decided_by, const Sublayer *s) {
        Explanation x;
        Outcome o = _OUTCOME_MAX;

        assert_int_equal(engine_explain(E, WFP_LAYER_INBOUND_TRANSPORT_V4, p, &x), 0);
        assert_int_equal(x.permit, permit);
        assert_ptr_equal(x.decided_by, decided_by);
        for (size_t i = 0; i < x.n_steps; i++)
                if (x.steps[i].sublayer == s)
                        o = x.steps[i].outcome;
        explanation_done(&x);
        return o;
}

static void test_hard_permit_beats_lower_block(void **state) {
        Sublayer *hi = sublayer("high", 0x9000), *lo = sublayer("low", 0x100);
        Filter *permit = filter("hard permit", hi, WFP_ACTION_PERMIT, WFP_FILTER_FLAG_CLEAR_ACTION_RIGHT, WEIGHT_AUTO, 0, "7000");
        filter("block udp", lo, WFP_ACTION_BLOCK, 0, WEIGHT_AUTO, 0, NULL);
        Packet p = udp_to("7000", NULL);

        assert_int_equal(explain(&p, true, permit, hi), OUTCOME_HARD_PERMIT);
        assert_int_equal(explain(&p, true, permit, lo), OUTCOME_NOT_EVALUATED);
}

static void test_soft_permit_loses_to_lower_block(void **state) {
        Sublayer *hi = sublayer("high", 0x9000), *lo = sublayer("low", 0x100);
        filter("soft permit", hi, WFP_ACTION_PERMIT, 0, WEIGHT_AUTO, 0, "7000");
        Filter *block = filter("block udp", lo, WFP_ACTION_BLOCK, 0, WEIGHT_AUTO, 0, NULL);
        Packet p = udp_to("7000", NULL);

        assert_int_equal(explain(&p, false, block, hi), OUTCOME_SOFT_PERMIT);
        assert_int_equal(explain(&p, false, block, lo), OUTCOME_BLOCK);
}

static void test_block_beats_lower_hard_permit(void **state) {
        Sublayer *hi = sublayer("high", 0x9000), *lo = sublayer("low", 0x100);
        Filter *block = filter("block udp", hi, WFP_ACTION_BLOCK, 0, WEIGHT_AUTO, 0, NULL);
        filter("hard permit", lo, WFP_ACTION_PERMIT, WFP_FILTER_FLAG_CLEAR_ACTION_RIGHT, WEIGHT_AUTO, 0, "7000");
        Packet p = udp_to("7000", NULL);

        assert_int_equal(explain(&p, false, block, hi), OUTCOME_BLOCK);
        assert_int_equal(explain(&p, false, block, lo), OUTCOME_NOT_EVALUATED);
}

static void test_weight_within_sublayer(void **state) {
        Sublayer *u = engine_universal_sublayer(E);
        Filter *permit = filter("permit r5", NULL, WFP_ACTION_PERMIT, 0, WEIGHT_RANGE, 5, "7000");
        Filter *block = filter("block r2", NULL, WFP_ACTION_BLOCK, 0, WEIGHT_RANGE, 2, "7000");
        Packet p = udp_to("7000", NULL);

        assert_int_equal(explain(&p, true, permit, u), OUTCOME_SOFT_PERMIT);
        /* swap the weights: the block wins */
        Filter *block9 = filter("block r9", NULL, WFP_ACTION_BLOCK, 0, WEIGHT_RANGE, 9, "7000");
        assert_int_equal(explain(&p, false, block9, u), OUTCOME_BLOCK);
        (void) block;
        /* explicit weight above every range */
        Filter *top = filter("explicit max", NULL, WFP_ACTION_PERMIT, WFP_FILTER_FLAG_CLEAR_ACTION_RIGHT,
                             WEIGHT_EXPLICIT, UINT64_MAX, NULL);
        assert_int_equal(explain(&p, true, top, u), OUTCOME_HARD_PERMIT);
}

static void test_require_ipsec(void **state) {
        Sublayer *u = engine_universal_sublayer(E);
        Filter *callout = filter("require ipsec", NULL, WFP_ACTION_CALLOUT_TERMINATING, 0, WEIGHT_RANGE, 1, NULL);
        Packet plain = udp_to("7000", NULL), secured = udp_to("7000", "ipsec-secured");

        assert_int_equal(explain(&plain, false, callout, u), OUTCOME_REQUIRE_IPSEC);
        /* a terminating callout decides for its sublayer: a secured packet is permitted by it (a
         * soft permit), and the lower-weight "trap" block of strongSwan's layout never sees it */
        assert_int_equal(explain(&secured, true, callout, u), OUTCOME_SOFT_PERMIT);
        Filter *trap = filter("trap", NULL, WFP_ACTION_BLOCK, 0, WEIGHT_RANGE, 0, NULL);
        assert_int_equal(explain(&secured, true, callout, u), OUTCOME_SOFT_PERMIT);
        assert_int_equal(explain(&plain, false, callout, u), OUTCOME_REQUIRE_IPSEC);
        /* soft: a lower sublayer's block still drops it; hard (CLEAR_ACTION_RIGHT): it does not */
        Sublayer *lo = sublayer("low", 0x100);
        Filter *low = filter("low block", lo, WFP_ACTION_BLOCK, 0, WEIGHT_AUTO, 0, NULL);
        assert_int_equal(explain(&secured, false, low, u), OUTCOME_SOFT_PERMIT);
        Filter *hard = filter("require ipsec, hard", NULL, WFP_ACTION_CALLOUT_TERMINATING,
                              WFP_FILTER_FLAG_CLEAR_ACTION_RIGHT, WEIGHT_RANGE, 2, NULL);
        assert_int_equal(explain(&secured, true, hard, u), OUTCOME_HARD_PERMIT);
        assert_int_equal(explain(&secured, true, hard, lo), OUTCOME_NOT_EVALUATED);
        assert_int_equal(explain(&plain, false, hard, u), OUTCOME_REQUIRE_IPSEC);
        (void) trap;
}

static void test_exemptions_and_provider_block(void **state) {
        Sublayer *u = engine_universal_sublayer(E);
        ProviderContextSpec cs = { .name = "ike", .type = WFP_CONTEXT_TYPE_IPSEC_IKE_MM };
        ProviderContext *c;

        filter("require ipsec", NULL, WFP_ACTION_CALLOUT_TERMINATING, 0, WEIGHT_RANGE, 0, NULL);
        assert_int_equal(engine_begin(E), 0);
        assert_int_equal(engine_add_provider_context(E, &cs, NULL, &c), 0);
        FilterSpec mm = { .name = "mm", .layer = "IKEEXT_V4", .action = WFP_ACTION_PERMIT, .provider_context_key = c->key };
        assert_int_equal(engine_add_filter(E, &mm, NULL, NULL), 0);
        engine_commit(E);

        Packet ike = udp_to("500", NULL), nat_t = udp_to("4500", NULL), other = udp_to("7000", NULL);
        Explanation x;

        /* the seed's purpose: IKE passes the require-IPsec filter, other plain UDP does not */
        assert_int_equal(engine_explain(E, WFP_LAYER_INBOUND_TRANSPORT_V4, &ike, &x), 0);
        assert_true(x.permit);
        assert_true(x.decided_by->engine_owned);
        explanation_done(&x);
        assert_int_equal(engine_explain(E, WFP_LAYER_INBOUND_TRANSPORT_V4, &nat_t, &x), 0);
        assert_true(x.permit && x.decided_by->engine_owned);
        explanation_done(&x);
        assert_int_equal(engine_explain(E, WFP_LAYER_INBOUND_TRANSPORT_V4, &other, &x), 0);
        assert_false(x.permit);
        explanation_done(&x);

        /* a provider's block in range 0xD of the universal sublayer stops IKE */
        Filter *block = filter("block ike", NULL, WFP_ACTION_BLOCK, 0, WEIGHT_RANGE, 0xD, "500");
        assert_int_equal(explain(&ike, false, block, u), OUTCOME_BLOCK);
        /* one in range 0xB does not */
        assert_int_equal(engine_begin(E), 0);
        assert_int_equal(engine_delete_filter_by_id(E, block->id, NULL), 0);
        engine_commit(E);
        filter("block ike low", NULL, WFP_ACTION_BLOCK, 0, WEIGHT_RANGE, 0xB, "500");
        assert_int_equal(engine_explain(E, WFP_LAYER_INBOUND_TRANSPORT_V4, &ike, &x), 0);
        assert_true(x.permit && x.decided_by->engine_owned);
        explanation_done(&x);
}

static void test_matching(void **state) {
        WfpLayer l = WFP_LAYER_INBOUND_TRANSPORT_V4;
        ConditionSpec c[] = {
                { "IP_LOCAL_PORT", WFP_MATCH_RANGE, "7000-7010" },
                { "IP_REMOTE_ADDRESS", 0, "10.201.0.0/24" },
                { "IP_REMOTE_ADDRESS", 0, "192.0.2.7" },
                { "IP_PROTOCOL", WFP_MATCH_NOT_EQUAL, "tcp" },
        };
        FilterSpec spec = { .name = "m", .layer = L_IN4, .action = WFP_ACTION_BLOCK, .conditions = c, .n_conditions = 4 };
        Filter *f;
        Packet p = {};

        assert_int_equal(engine_begin(E), 0);
        assert_int_equal(engine_add_filter(E, &spec, NULL, &f), 0);
        engine_commit(E);

        assert_int_equal(packet_set(&p, l, "IP_PROTOCOL", "udp", NULL), 0);
        assert_int_equal(packet_set(&p, l, "IP_LOCAL_PORT", "7010", NULL), 0);
        assert_int_equal(packet_set(&p, l, "IP_REMOTE_ADDRESS", "10.201.0.255", NULL), 0);
        assert_true(filter_matches(f, &p));
        assert_int_equal(packet_set(&p, l, "IP_LOCAL_PORT", "7011", NULL), 0);
        assert_false(filter_matches(f, &p));                    /* range end is inclusive, 7011 is out */
        assert_int_equal(packet_set(&p, l, "IP_LOCAL_PORT", "7000", NULL), 0);
        assert_int_equal(packet_set(&p, l, "IP_REMOTE_ADDRESS", "192.0.2.7", NULL), 0);
        assert_true(filter_matches(f, &p));                     /* the ORed member */
        assert_int_equal(packet_set(&p, l, "IP_REMOTE_ADDRESS", "10.201.1.0", NULL), 0);
        assert_false(filter_matches(f, &p));
        assert_int_equal(packet_set(&p, l, "IP_REMOTE_ADDRESS", "10.201.0.1", NULL), 0);
        assert_int_equal(packet_set(&p, l, "IP_PROTOCOL", "tcp", NULL), 0);
        assert_false(filter_matches(f, &p));                    /* not equal */
        Packet q = {};
        assert_int_equal(packet_set(&q, l, "IP_LOCAL_PORT", "7000", NULL), 0);
        assert_int_equal(packet_set(&q, l, "IP_REMOTE_ADDRESS", "10.201.0.1", NULL), 0);
        assert_false(filter_matches(f, &q));                    /* no protocol: the port guard fails */

        EngineError err;
        assert_int_equal(packet_set(&q, l, "IP_LOCAL_PORT", "seventy", &err), wfp_ret(FWP_E_TYPE_MISMATCH));
        assert_int_equal(packet_set(&q, l, "IP_REMOTE_ADDRESS", "2001:db8::1", &err), wfp_ret(FWP_E_TYPE_MISMATCH));
        assert_int_equal(packet_set(&q, l, "NO_SUCH_FIELD", "1", &err), -ENOENT);
}

static void test_sublayer_rules(void **state) {
        EngineError err;
        Sublayer *a = sublayer("a", 0x7000), *b = sublayer("b", 0x7000), *c = sublayer("c", 0xFFFF);
        Sublayer *u = engine_universal_sublayer(E);

        /* order: by weight, equal weights in order of addition; the built-in sublayers between
         * (RPC_AUDIT 0xE000 … LIPS 0x9000 above the universal one, TEREDO 0x4000 below a and b) */
        assert_ptr_equal(engine_sublayers(E), c);
        assert_true(c->next->builtin);
        assert_int_equal(c->next->weight, 0xE000);
        assert_ptr_equal(u->next, a);
        assert_ptr_equal(a->next, b);
        assert_true(b->next->builtin);
        assert_int_equal(b->next->weight, 0x4000);

        filter("in b", b, WFP_ACTION_BLOCK, 0, WEIGHT_AUTO, 0, NULL);
        assert_int_equal(engine_begin(E), 0);
        assert_int_equal(engine_delete_sublayer(E, &b->key, &err), wfp_ret(FWP_E_IN_USE));
        assert_int_equal(engine_delete_sublayer(E, &u->key, &err), wfp_ret(FWP_E_BUILTIN_OBJECT));
        SublayerSpec dup = { .name = "dup", .key = a->key };
        assert_int_equal(engine_add_sublayer(E, &dup, &err, NULL), wfp_ret(FWP_E_ALREADY_EXISTS));
        SublayerSpec unnamed = { .weight = 1 };
        assert_int_equal(engine_add_sublayer(E, &unnamed, &err, NULL), wfp_ret(FWP_E_NULL_DISPLAY_NAME));
        /* a delete rolled back comes back in its place */
        assert_int_equal(engine_delete_sublayer(E, &a->key, &err), 0);
        assert_null(engine_get_sublayer(E, &a->key));
        engine_abort(E);
        assert_ptr_equal(u->next, a);
        assert_ptr_equal(a->next, b);

        BfeGuid nope = {{ 9 }};
        FilterSpec lost = { .name = "x", .layer = L_IN4, .action = WFP_ACTION_BLOCK, .sublayer_key = nope };
        assert_int_equal(engine_begin(E), 0);
        assert_int_equal(engine_add_filter(E, &lost, &err, NULL), wfp_ret(FWP_E_SUBLAYER_NOT_FOUND));
        engine_abort(E);
}

/* FLAGS any-set with both flags, and ORed negations: member by member, as WFP defines them. */
static void test_any_set_and_ored_negations(void **state) {
        ConditionSpec any = { "FLAGS", WFP_MATCH_FLAGS_ANY_SET, "loopback,ipsec-secured" };
        ConditionSpec ne[] = { { "IP_PROTOCOL", 0, "udp" }, { "IP_LOCAL_PORT", WFP_MATCH_NOT_EQUAL, "7000" },
                               { "IP_LOCAL_PORT", 0, "7001" }, { "IP_LOCAL_PORT", WFP_MATCH_NOT_EQUAL, "7001" } };
        FilterSpec fa = { .name = "any", .layer = L_IN4, .action = WFP_ACTION_BLOCK, .conditions = &any,
                          .n_conditions = 1 };
        FilterSpec fn = { .name = "ored", .layer = L_IN4, .action = WFP_ACTION_BLOCK, .conditions = ne,
                          .n_conditions = 3 };
        Filter *a, *n;

        assert_int_equal(engine_begin(E), 0);
        assert_int_equal(engine_add_filter(E, &fa, NULL, &a), 0);
        engine_commit(E);
        Packet plain = udp_to("7000", NULL), lo = udp_to("7000", "loopback"), sec = udp_to("7000", "ipsec-secured"),
               both = udp_to("7000", "loopback,ipsec-secured");
        explain(&plain, true, NULL, NULL);
        explain(&lo, false, a, NULL);
        explain(&sec, false, a, NULL);
        explain(&both, false, a, NULL);
        assert_int_equal(engine_begin(E), 0);
        assert_int_equal(engine_delete_filter_by_id(E, a->id, NULL), 0);
        engine_commit(E);

        /* port != 7000 or port 7001: everything but 7000 */
        assert_int_equal(engine_begin(E), 0);
        assert_int_equal(engine_add_filter(E, &fn, NULL, &n), 0);
        engine_commit(E);
        Packet p7000 = udp_to("7000", NULL), p7001 = udp_to("7001", NULL), p9 = udp_to("9", NULL);
        explain(&p7000, true, NULL, NULL);
        explain(&p7001, false, n, NULL);
        explain(&p9, false, n, NULL);
        /* … or port != 7001 as well: every port */
        assert_int_equal(engine_begin(E), 0);
        assert_int_equal(engine_delete_filter_by_id(E, n->id, NULL), 0);
        fn.n_conditions = 4;
        assert_int_equal(engine_add_filter(E, &fn, NULL, &n), 0);
        engine_commit(E);
        explain(&p7000, false, n, NULL);
}

/* ICMP_TYPE and ICMP_CODE are the port fields: ICMP's type and code, TCP's and UDP's ports. */
static Packet proto_packet(WfpLayer l, const char *proto, const char *lport, const char *rport) {
        Packet p = {};

        assert_int_equal(packet_set(&p, l, "IP_PROTOCOL", proto, NULL), 0);
        if (lport)
                assert_int_equal(packet_set(&p, l, "ICMP_TYPE", lport, NULL), 0);
        if (rport)
                assert_int_equal(packet_set(&p, l, "FWPM_CONDITION_ICMP_CODE", rport, NULL), 0);
        return p;
}

static void test_icmp(void **state) {
        ConditionSpec echo[] = { { "IP_PROTOCOL", 0, "icmp" }, { "ICMP_TYPE", 0, "8" }, { "ICMP_CODE", 0, "0" } };
        ConditionSpec any[] = { { "IP_LOCAL_PORT", 0, "8" } };
        ConditionSpec v6[] = { { "IP_PROTOCOL", 0, "58" }, { "ICMP_TYPE", WFP_MATCH_RANGE, "128-129" } };
        FilterSpec fe = { .name = "echo", .layer = L_IN4, .action = WFP_ACTION_BLOCK, .conditions = echo,
                          .n_conditions = 3 };
        FilterSpec fa = { .name = "port 8", .layer = L_IN4, .action = WFP_ACTION_BLOCK, .conditions = any,
                          .n_conditions = 1 };
        FilterSpec f6 = { .name = "v6 echo", .layer = "INBOUND_TRANSPORT_V6", .action = WFP_ACTION_BLOCK,
                          .conditions = v6, .n_conditions = 2 };
        WfpLayer l4 = WFP_LAYER_INBOUND_TRANSPORT_V4, l6 = WFP_LAYER_INBOUND_TRANSPORT_V6;
        Filter *e, *a, *x;
        Explanation ex;

        assert_int_equal(engine_begin(E), 0);
        assert_int_equal(engine_add_filter(E, &fe, NULL, &e), 0);
        assert_int_equal(engine_add_filter(E, &f6, NULL, &x), 0);
        engine_commit(E);
        assert_int_equal(e->conditions[1].field, WFP_FIELD_IP_LOCAL_PORT); /* the same GUID */
        assert_int_equal(e->conditions[2].field, WFP_FIELD_IP_REMOTE_PORT);
        Packet ping = proto_packet(l4, "icmp", "8", "0"), pong = proto_packet(l4, "icmp", "0", "0"),
               odd = proto_packet(l4, "icmp", "8", "1"), udp8 = proto_packet(l4, "udp", "8", "0");
        explain(&ping, false, e, NULL);
        explain(&pong, true, NULL, NULL);
        explain(&odd, true, NULL, NULL);
        explain(&udp8, true, NULL, NULL);

        /* no protocol: the port fields of TCP, UDP and ICMP alike, of nothing else */
        assert_int_equal(engine_begin(E), 0);
        assert_int_equal(engine_delete_filter_by_id(E, e->id, NULL), 0);
        assert_int_equal(engine_add_filter(E, &fa, NULL, &a), 0);
        engine_commit(E);
        Packet gre = proto_packet(l4, "47", "8", NULL), icmp6_at_v4 = proto_packet(l4, "58", "8", NULL);
        explain(&ping, false, a, NULL);
        explain(&odd, false, a, NULL);
        explain(&udp8, false, a, NULL);
        explain(&gre, true, NULL, NULL);
        explain(&icmp6_at_v4, true, NULL, NULL);

        /* ICMPv6 at the v6 layers */
        Packet ping6 = proto_packet(l6, "58", "128", "0"), ns6 = proto_packet(l6, "58", "135", "0");
        assert_int_equal(engine_explain(E, l6, &ping6, &ex), 0);
        assert_false(ex.permit);
        assert_ptr_equal(ex.decided_by, x);
        explanation_done(&ex);
        assert_int_equal(engine_explain(E, l6, &ns6, &ex), 0);
        assert_true(ex.permit);
        explanation_done(&ex);
}

/* IP_LOCAL_ADDRESS_TYPE: by name or number, equal or not */
static void test_local_address_type(void **state) {
        ConditionSpec c = { "IP_LOCAL_ADDRESS_TYPE", 0, "unicast" };
        FilterSpec fs = { .name = "to my own address", .layer = L_IN4, .action = WFP_ACTION_BLOCK, .conditions = &c,
                          .n_conditions = 1 };
        WfpLayer l = WFP_LAYER_INBOUND_TRANSPORT_V4;
        Packet uni = {}, bcast = {}, none = {};
        EngineError err;
        Filter *f;

        assert_int_equal(engine_begin(E), 0);
        assert_int_equal(engine_add_filter(E, &fs, NULL, &f), 0);
        engine_commit(E);
        assert_int_equal(packet_set(&uni, l, "IP_LOCAL_ADDRESS_TYPE", "1", NULL), 0);
        assert_int_equal(packet_set(&bcast, l, "FWPM_CONDITION_IP_LOCAL_ADDRESS_TYPE", "broadcast", NULL), 0);
        explain(&uni, false, f, NULL);
        explain(&bcast, true, NULL, NULL);
        explain(&none, true, NULL, NULL);       /* a field left out matches nothing */
        assert_int_equal(packet_set(&none, l, "IP_LOCAL_ADDRESS_TYPE", "5", &err), wfp_ret(FWP_E_TYPE_MISMATCH));

        assert_int_equal(engine_begin(E), 0);
        assert_int_equal(engine_delete_filter_by_id(E, f->id, NULL), 0);
        c.match = WFP_MATCH_NOT_EQUAL;
        assert_int_equal(engine_add_filter(E, &fs, NULL, &f), 0);
        engine_commit(E);
        explain(&uni, true, NULL, NULL);
        explain(&bcast, false, f, NULL);
}

static Filter *add_at(const char *layer, uint32_t action, uint8_t range, ConditionSpec *c, size_t n) {
        FilterSpec fs = { .name = "f", .layer = (char *) layer, .action = action, .weight_kind = BFE_WEIGHT_RANGE,
                          .weight = range, .conditions = c, .n_conditions = n };
        Filter *f;

        assert_int_equal(engine_begin(E), 0);
        assert_int_equal(engine_add_filter(E, &fs, NULL, &f), 0);
        engine_commit(E);
        return f;
}

static void expect_at(WfpLayer l, const Packet *p, bool permit, const Filter *decided_by) {
        Explanation x;

        assert_int_equal(engine_explain(E, l, p, &x), 0);
        assert_int_equal(x.permit, permit);
        assert_ptr_equal(x.decided_by, decided_by);
        explanation_done(&x);
}

/* The forward layers: source and destination (not local and remote), the arrival and the
 * forward interface kept apart, the destination's address type (unicast: RTN_UNICAST, unlike
 * IP_LOCAL_ADDRESS_TYPE's), and a v4 filter never deciding at the v6 layer; ALE_FLOW_ESTABLISHED
 * on the protocol. */
static void test_forward(void **state) {
        WfpLayer l4 = WFP_LAYER_IPFORWARD_V4, l6 = WFP_LAYER_IPFORWARD_V6;
        ConditionSpec dst = { "IP_DESTINATION_ADDRESS", 0, "198.51.100.0/24" };
        ConditionSpec src = { "IP_SOURCE_ADDRESS", 0, "192.0.2.2" };
        ConditionSpec ifs[] = { { "IP_LOCAL_INTERFACE", 0, "vclient" }, { "IP_FORWARD_INTERFACE", 0, "vserver" } };
        ConditionSpec type = { "IP_DESTINATION_ADDRESS_TYPE", 0, "unicast" };
        ConditionSpec udp = { "IP_PROTOCOL", 0, "udp" };
        Packet p = {}, back = {}, swapped = {}, typed = {}, local = {}, v6 = {}, flow = {};
        Filter *block, *permit, *by_if, *by_type, *fe;

        assert_int_equal(packet_set(&p, l4, "IP_SOURCE_ADDRESS", "192.0.2.2", NULL), 0);
        assert_int_equal(packet_set(&p, l4, "IP_DESTINATION_ADDRESS", "198.51.100.7", NULL), 0);
        /* the reply: the addresses the other way round */
        assert_int_equal(packet_set(&back, l4, "IP_SOURCE_ADDRESS", "198.51.100.7", NULL), 0);
        assert_int_equal(packet_set(&back, l4, "IP_DESTINATION_ADDRESS", "192.0.2.2", NULL), 0);

        block = add_at("IPFORWARD_V4", WFP_ACTION_BLOCK, 0, &dst, 1);
        expect_at(l4, &p, false, block);
        expect_at(l4, &back, true, NULL);
        permit = add_at("IPFORWARD_V4", WFP_ACTION_PERMIT, 15, &src, 1);
        expect_at(l4, &p, true, permit);
        expect_at(l4, &back, true, NULL);

        /* interfaces: in by vclient, out by vserver; not the other way round (the permit above
         * would decide first: away with it) */
        assert_int_equal(engine_begin(E), 0);
        assert_int_equal(engine_delete_filter_by_id(E, permit->id, NULL), 0);
        engine_commit(E);
        expect_at(l4, &p, false, block);
        by_if = add_at("IPFORWARD_V4", WFP_ACTION_BLOCK, 14, ifs, 2);
        assert_int_equal(packet_set(&p, l4, "IP_LOCAL_INTERFACE", "vclient", NULL), 0);
        assert_int_equal(packet_set(&p, l4, "IP_FORWARD_INTERFACE", "vserver", NULL), 0);
        assert_int_equal(packet_set(&swapped, l4, "IP_LOCAL_INTERFACE", "vserver", NULL), 0);
        assert_int_equal(packet_set(&swapped, l4, "IP_FORWARD_INTERFACE", "vclient", NULL), 0);
        expect_at(l4, &p, false, by_if);
        expect_at(l4, &swapped, true, NULL);

        by_type = add_at("IPFORWARD_V4", WFP_ACTION_BLOCK, 13, &type, 1);
        assert_int_equal(packet_set(&typed, l4, "IP_DESTINATION_ADDRESS_TYPE", "NlatUnicast", NULL), 0);
        assert_int_equal(packet_set(&local, l4, "IP_DESTINATION_ADDRESS_TYPE", "multicast", NULL), 0);
        expect_at(l4, &typed, false, by_type);
        expect_at(l4, &local, true, NULL);

        /* nothing at the v6 layer: the v4 layer's filters are not its */
        assert_int_equal(packet_set(&v6, l6, "IP_DESTINATION_ADDRESS", "2001:db8::1", NULL), 0);
        assert_int_equal(packet_set(&v6, l6, "IP_DESTINATION_ADDRESS_TYPE", "unicast", NULL), 0);
        expect_at(l6, &v6, true, NULL);
        assert_int_equal(packet_set(&v6, l4, "IP_DESTINATION_ADDRESS", "2001:db8::1", NULL),
                         wfp_ret(FWP_E_TYPE_MISMATCH));

        fe = add_at("ALE_FLOW_ESTABLISHED_V4", WFP_ACTION_BLOCK, 0, &udp, 1);
        assert_int_equal(packet_set(&flow, WFP_LAYER_ALE_FLOW_ESTABLISHED_V4, "IP_PROTOCOL", "udp", NULL), 0);
        expect_at(WFP_LAYER_ALE_FLOW_ESTABLISHED_V4, &flow, false, fe);
        expect_at(WFP_LAYER_ALE_FLOW_ESTABLISHED_V6, &flow, true, NULL);
        assert_int_equal(packet_set(&flow, WFP_LAYER_ALE_FLOW_ESTABLISHED_V4, "IP_PROTOCOL", "tcp", NULL), 0);
        expect_at(WFP_LAYER_ALE_FLOW_ESTABLISHED_V4, &flow, true, NULL);

        /* DIRECTION: a filter for one direction, a packet of the other */
        {
                ConditionSpec in[] = { { "DIRECTION", 0, "inbound" }, { "IP_LOCAL_PORT", 0, "53" } };
                Filter *d = add_at("ALE_FLOW_ESTABLISHED_V4", WFP_ACTION_BLOCK, 1, in, 2);
                WfpLayer l = WFP_LAYER_ALE_FLOW_ESTABLISHED_V4;

                assert_int_equal(packet_set(&flow, l, "IP_LOCAL_PORT", "53", NULL), 0);
                expect_at(l, &flow, true, NULL);          /* no direction given: no match */
                assert_int_equal(packet_set(&flow, l, "DIRECTION", "outbound", NULL), 0);
                expect_at(l, &flow, true, NULL);
                assert_int_equal(packet_set(&flow, l, "FWPM_CONDITION_DIRECTION", "1", NULL), 0);
                expect_at(l, &flow, false, d);
                assert_int_equal(packet_set(&flow, l, "DIRECTION", "up", NULL), wfp_ret(FWP_E_TYPE_MISMATCH));
        }
}

/* A built-in sublayer holds filters like any other, in its place by weight; an empty one is
 * left out of the trace. */
static void test_builtin_sublayers(void **state) {
        BfeGuid key;
        Sublayer *tunnel, *inspection, *u = engine_universal_sublayer(E);
        Explanation x;

        assert_int_equal(wfp_builtin_sublayer_from_name("IPSEC_TUNNEL", &key), 0);
        tunnel = engine_get_sublayer(E, &key);
        assert_non_null(tunnel);
        assert_int_equal(wfp_builtin_sublayer_from_name("FWPM_SUBLAYER_INSPECTION", &key), 0);
        inspection = engine_get_sublayer(E, &key);
        assert_non_null(inspection);

        Filter *permit = filter("hard permit in IPSEC_TUNNEL", tunnel, WFP_ACTION_PERMIT,
                                WFP_FILTER_FLAG_CLEAR_ACTION_RIGHT, WEIGHT_AUTO, 0, "7000");
        Filter *ublock = filter("block in universal", NULL, WFP_ACTION_BLOCK, 0, WEIGHT_AUTO, 0, NULL);
        Filter *block = filter("block in INSPECTION", inspection, WFP_ACTION_BLOCK, 0, WEIGHT_AUTO, 0, NULL);
        Packet p = udp_to("7000", NULL);

        /* IPSEC_TUNNEL (0xB000) runs before the universal sublayer (0x8000): its hard permit ends the layer */
        assert_int_equal(explain(&p, true, permit, tunnel), OUTCOME_HARD_PERMIT);
        assert_int_equal(explain(&p, true, permit, u), OUTCOME_NOT_EVALUATED);
        Packet q = udp_to("7001", NULL);
        assert_int_equal(explain(&q, false, ublock, inspection), OUTCOME_NOT_EVALUATED);

        /* the trace: the built-in sublayers with filters, and the universal one */
        assert_int_equal(engine_explain(E, WFP_LAYER_INBOUND_TRANSPORT_V4, &q, &x), 0);
        assert_int_equal(x.n_steps, 3);
        assert_ptr_equal(x.steps[0].sublayer, tunnel);
        assert_ptr_equal(x.steps[1].sublayer, u);
        assert_ptr_equal(x.steps[2].sublayer, inspection);
        explanation_done(&x);
        /* at a layer where they hold nothing, the universal sublayer alone */
        assert_int_equal(engine_explain(E, WFP_LAYER_OUTBOUND_TRANSPORT_V4, &q, &x), 0);
        assert_int_equal(x.n_steps, 1);
        assert_ptr_equal(x.steps[0].sublayer, u);
        explanation_done(&x);
        (void) block;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_hard_permit_beats_lower_block, setup, teardown),
                cmocka_unit_test_setup_teardown(test_soft_permit_loses_to_lower_block, setup, teardown),
                cmocka_unit_test_setup_teardown(test_block_beats_lower_hard_permit, setup, teardown),
                cmocka_unit_test_setup_teardown(test_weight_within_sublayer, setup, teardown),
                cmocka_unit_test_setup_teardown(test_require_ipsec, setup, teardown),
                cmocka_unit_test_setup_teardown(test_exemptions_and_provider_block, setup, teardown),
                cmocka_unit_test_setup_teardown(test_matching, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sublayer_rules, setup, teardown),
                cmocka_unit_test_setup_teardown(test_builtin_sublayers, setup, teardown),
                cmocka_unit_test_setup_teardown(test_any_set_and_ored_negations, setup, teardown),
                cmocka_unit_test_setup_teardown(test_icmp, setup, teardown),
                cmocka_unit_test_setup_teardown(test_local_address_type, setup, teardown),
                cmocka_unit_test_setup_teardown(test_forward, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
