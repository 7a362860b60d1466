/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-ipsec.c — contexts with meaning (src/engine/ipsec.c): a quick-mode context's policy flags,
 * the contexts an IPsec transport callout takes, rawContext, and what the clear-text fallback
 * of NEGOTIATE_DISCOVER and PASSTHRU does to the compiled rule and to Explain.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "boot.h"
#include "compile.h"
#include "engine.h"

#define CALLOUT_IN4  "5132900d-5e84-4b5f-80e4-01741e81ff10"     /* FWPM_CALLOUT_IPSEC_INBOUND_TRANSPORT_V4 */
#define CALLOUT_OUT4 "4b46bf0a-4523-4e57-aa38-a87987c910d9"     /* FWPM_CALLOUT_IPSEC_OUTBOUND_TRANSPORT_V4 */

static Engine *E;

static int setup(void **state) {
        return engine_new(&E);
}

static int teardown(void **state) {
        E = engine_free(E);
        return 0;
}

/* Adds an object in a transaction of its own; returns the WFP code of a refusal (0 on success)
 * and the message in @why. */
static uint32_t add(ObjectKind kind, const void *spec, void *ret, char why[static 512]) {
        EngineError err = {};
        int r;

        assert_int_equal(engine_begin(E), 0);
        r = engine_add_object(E, kind, spec, &err, ret);
        if (r < 0) {
                engine_abort(E);
                snprintf(why, 512, "%s", err.message);
                return err.code;
        }
        engine_commit(E);
        return 0;
}

static uint32_t add_context(uint32_t type, uint32_t policy_flags, ProviderContext **ret, char why[static 512]) {
        ProviderContextSpec spec = { .name = (char *) "ctx", .type = type, .policy_flags = policy_flags };

        return add(OBJECT_PROVIDER_CONTEXT, &spec, ret, why);
}

/* A filter at @layer (UDP), calling @callout (NULL: a permit); the WFP code of a refusal or 0. */
static uint32_t add_filter_flags(const char *layer, const char *callout, const ProviderContext *c, uint64_t raw,
                                 uint32_t flags, Filter **ret, char why[static 512]) {
        ConditionSpec udp = { "IP_PROTOCOL", 0, "udp" };
        FilterSpec spec = { .name = (char *) "f", .layer = (char *) layer, .action = WFP_ACTION_PERMIT,
                            .flags = flags, .raw_context = raw, .conditions = &udp, .n_conditions = 1 };

        if (callout) {
                spec.action = WFP_ACTION_CALLOUT_TERMINATING;
                assert_int_equal(guid_from_string(callout, &spec.callout_key), 0);
        }
        if (c)
                spec.provider_context_key = c->key;
        return add(OBJECT_FILTER, &spec, ret, why);
}

static uint32_t add_filter(const char *layer, const char *callout, const ProviderContext *c, uint64_t raw,
                           Filter **ret, char why[static 512]) {
        return add_filter_flags(layer, callout, c, raw, 0, ret, why);
}

static void test_policy_flags(void **state) {
        ProviderContext *c;
        char why[512];

        /* ND_SECURE and NAT traversal on a transport context; the tunnel flags need a tunnel one */
        assert_int_equal(add_context(BFE_CONTEXT_IPSEC_IKE_QM_TRANSPORT, BFE_IPSEC_POLICY_FLAG_ND_SECURE |
                                             BFE_IPSEC_POLICY_FLAG_NAT_ENCAP_ALLOW_PEER_BEHIND_NAT, &c, why), 0);
        assert_int_equal(c->policy_flags, 0x12);
        assert_int_equal(add_context(BFE_CONTEXT_IPSEC_AUTHIP_QM_TRANSPORT,
                                     BFE_IPSEC_POLICY_FLAG_TUNNEL_BYPASS_ICMPV6, &c, why), FWP_E_INVALID_FLAGS);
        assert_non_null(strstr(why, "tunnel flags need a tunnel context"));
        assert_int_equal(add_context(BFE_CONTEXT_IPSEC_IKEV2_QM_TUNNEL, BFE_IPSEC_POLICY_FLAG_TUNNEL_BYPASS_ICMPV6 |
                                             BFE_IPSEC_POLICY_FLAG_ND_BOUNDARY, &c, why), 0);
        /* bits IPSEC_POLICY_FLAG does not have */
        assert_int_equal(add_context(BFE_CONTEXT_IPSEC_IKE_QM_TUNNEL, 0x1, &c, why), FWP_E_INVALID_FLAGS);
        assert_int_equal(add_context(BFE_CONTEXT_IPSEC_IKE_QM_TUNNEL, 0x80000000u, &c, why), FWP_E_INVALID_FLAGS);
        /* policy flags belong to quick-mode contexts only */
        assert_int_equal(add_context(BFE_CONTEXT_IPSEC_IKE_MM, BFE_IPSEC_POLICY_FLAG_ND_SECURE, &c, why),
                         FWP_E_INVALID_PARAMETER);
        assert_non_null(strstr(why, "quick-mode"));
        assert_int_equal(add_context(BFE_CONTEXT_GENERAL, 0, &c, why), 0);
}

static void test_callout_contexts(void **state) {
        ProviderContext *transport, *tunnel, *general, *ikev2_transport;
        Filter *f;
        char why[512];

        assert_int_equal(add_context(BFE_CONTEXT_IPSEC_IKE_QM_TRANSPORT, 0, &transport, why), 0);
        assert_int_equal(add_context(BFE_CONTEXT_IPSEC_IKEV2_QM_TRANSPORT, 0, &ikev2_transport, why), 0);
        assert_int_equal(add_context(BFE_CONTEXT_IPSEC_IKE_QM_TUNNEL, 0, &tunnel, why), 0);
        assert_int_equal(add_context(BFE_CONTEXT_GENERAL, 0, &general, why), 0);

        /* a transport callout takes a transport policy, or none */
        assert_int_equal(add_filter("INBOUND_TRANSPORT_V4", CALLOUT_IN4, transport, 0, &f, why), 0);
        assert_ptr_equal(f->context, transport);
        assert_int_equal(add_filter("OUTBOUND_TRANSPORT_V4", CALLOUT_OUT4, ikev2_transport, 0, &f, why), 0);
        assert_int_equal(add_filter("OUTBOUND_TRANSPORT_V4", CALLOUT_OUT4, NULL, 0, &f, why), 0);
        /* never a tunnel: it would mean "require any IPsec" */
        assert_int_equal(add_filter("INBOUND_TRANSPORT_V4", CALLOUT_IN4, tunnel, 0, &f, why),
                         FWP_E_CONTEXT_INCOMPATIBLE_WITH_CALLOUT);
        assert_non_null(strstr(why, "ike-qm-tunnel") ?: strstr(why, "QM_TUNNEL"));
        assert_int_equal(add_filter("OUTBOUND_TRANSPORT_V4", CALLOUT_OUT4, general, 0, &f, why),
                         FWP_E_CONTEXT_INCOMPATIBLE_WITH_CALLOUT);
        /* a permit at the transport layer keeps any non-main-mode context, as before */
        assert_int_equal(add_filter("INBOUND_TRANSPORT_V4", NULL, general, 0, &f, why), 0);

        /* the quick-mode policy layer takes quick-mode contexts, transport or tunnel */
        assert_int_equal(add_filter("IPSEC_V4", NULL, tunnel, 0, &f, why), 0);
        assert_int_equal(add_filter("IPSEC_V4", NULL, transport, 0, &f, why), 0);
        assert_int_equal(add_filter("IPSEC_V4", NULL, general, 0, &f, why), FWP_E_CONTEXT_INCOMPATIBLE_WITH_LAYER);
        assert_non_null(strstr(why, "IPSEC_V4"));
}

static void test_raw_context(void **state) {
        ProviderContext *transport;
        Filter *f;
        char why[512];

        assert_int_equal(add_context(BFE_CONTEXT_IPSEC_IKE_QM_TRANSPORT, 0, &transport, why), 0);
        /* the callouts' own values */
        assert_int_equal(add_filter("OUTBOUND_TRANSPORT_V4", CALLOUT_OUT4, NULL,
                                    BFE_CONTEXT_IPSEC_OUTBOUND_NEGOTIATE_DISCOVER, &f, why), 0);
        assert_int_equal(f->raw_context, 1);
        assert_int_equal(add_filter("INBOUND_TRANSPORT_V4", CALLOUT_IN4, NULL,
                                    BFE_CONTEXT_IPSEC_INBOUND_PERSIST_CONNECTION_SECURITY, &f, why), 0);
        /* others are refused on a callout filter, named */
        assert_int_equal(add_filter("INBOUND_TRANSPORT_V4", CALLOUT_IN4, NULL, 0xff00000000000000ull, &f, why),
                         FWP_E_INVALID_PARAMETER);
        assert_non_null(strstr(why, "PASSTHRU 0x1"));
        assert_int_equal(add_filter("OUTBOUND_TRANSPORT_V4", CALLOUT_OUT4, NULL, 0x4, &f, why),
                         FWP_E_INVALID_PARAMETER);
        assert_non_null(strstr(why, "NEGOTIATE_DISCOVER 0x1"));
        /* one field in WFP: a provider context or a raw context */
        assert_int_equal(add_filter("OUTBOUND_TRANSPORT_V4", CALLOUT_OUT4, transport,
                                    BFE_CONTEXT_IPSEC_OUTBOUND_NEGOTIATE_DISCOVER, &f, why), FWP_E_INVALID_PARAMETER);
        assert_non_null(strstr(why, "not both"));
        /* any other filter keeps its raw context as data */
        assert_int_equal(add_filter("INBOUND_TRANSPORT_V4", NULL, NULL, 0xdeadbeefcafeull, &f, why), 0);
        assert_int_equal(f->raw_context, 0xdeadbeefcafeull);
        assert_false(filter_callout_passes_clear(f));
}

/* Explain for a plain and a secured UDP packet at @layer. */
static void explain_both(WfpLayer layer, bool *plain_permit, bool *secured_permit) {
        Packet p = {};
        Explanation x;

        assert_int_equal(packet_set(&p, layer, "IP_PROTOCOL", "udp", NULL), 0);
        assert_int_equal(engine_explain(E, layer, &p, &x), 0);
        *plain_permit = x.permit;
        explanation_done(&x);
        assert_int_equal(packet_set(&p, layer, "FLAGS", "ipsec-secured", NULL), 0);
        assert_int_equal(engine_explain(E, layer, &p, &x), 0);
        *secured_permit = x.permit;
        explanation_done(&x);
}

/* The rule of @f says "return" (a soft permit for every packet) or has the callout's verdict map. */
static bool rule_has_map(const Filter *f) {
        NftConfig cfg;
        char *text;
        bool map;

        nft_config_init(&cfg);
        assert_int_equal(nft_filter_rule_text(f, &cfg, &text), 0);
        map = strstr(text, "lookup") != NULL;
        assert_true(map || strstr(text, "return") != NULL);
        free(text);
        return map;
}

static void test_clear_text_fallback(void **state) {
        static const struct {
                const char *layer, *callout;
                uint64_t raw;
                bool plain_passes;
        } cases[] = {
                { "OUTBOUND_TRANSPORT_V4", CALLOUT_OUT4, 0, false },
                { "OUTBOUND_TRANSPORT_V4", CALLOUT_OUT4, BFE_CONTEXT_IPSEC_OUTBOUND_NEGOTIATE_DISCOVER, true },
                { "OUTBOUND_TRANSPORT_V4", CALLOUT_OUT4, BFE_CONTEXT_IPSEC_OUTBOUND_SUPPRESS_NEGOTIATION, false },
                { "INBOUND_TRANSPORT_V4", CALLOUT_IN4, 0, false },
                { "INBOUND_TRANSPORT_V4", CALLOUT_IN4, BFE_CONTEXT_IPSEC_INBOUND_PASSTHRU, true },
                { "INBOUND_TRANSPORT_V4", CALLOUT_IN4, BFE_CONTEXT_IPSEC_INBOUND_PERSIST_CONNECTION_SECURITY, false },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                bool plain, secured;
                WfpLayer l;
                Filter *f;
                char why[512];

                assert_int_equal(engine_new(&E), 0);
                assert_int_equal(wfp_layer_from_string(cases[i].layer, &l), 0);
                assert_int_equal(add_filter(cases[i].layer, cases[i].callout, NULL, cases[i].raw, &f, why), 0);
                assert_int_equal(filter_callout_passes_clear(f), cases[i].plain_passes);
                explain_both(l, &plain, &secured);
                assert_int_equal(plain, cases[i].plain_passes);
                assert_true(secured);
                /* the kernel's rule agrees: a verdict map on the secured bit, or a plain permit */
                assert_int_equal(rule_has_map(f), !cases[i].plain_passes);
                /* and so does the boot file's rule for the same filter at boot */
                assert_int_equal(add_filter_flags(cases[i].layer, cases[i].callout, NULL, cases[i].raw,
                                                  BFE_FILTER_FLAG_BOOTTIME, &f, why), 0);
                NftConfig cfg;
                char *boot;
                size_t len;

                nft_config_init(&cfg);
                assert_int_equal(nft_boot_render(E, &cfg, &boot, &len), 0);
                assert_int_equal(strstr(boot, "vmap { missing : drop") != NULL, !cases[i].plain_passes);
                free(boot);
                E = engine_free(E);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_policy_flags, setup, teardown),
                cmocka_unit_test_setup_teardown(test_callout_contexts, setup, teardown),
                cmocka_unit_test_setup_teardown(test_raw_context, setup, teardown),
                cmocka_unit_test(test_clear_text_fallback),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
