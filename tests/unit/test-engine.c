/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-engine.c — the database: reference rules, WFP errors, journal and rollback, exemptions. */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "engine.h"
#include "string-util.h"
#include "macro.h"

typedef struct Fixture {
        Engine *e;
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(*f));
        assert_int_equal(engine_new(&f->e), 0);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        engine_free(f->e);
        free(f);
        return 0;
}

/* Each helper runs one committed transaction, like one session-less D-Bus call. */
/* The first provider or sublayer a caller added, NULL when none: the rest are built in. */
static Provider *added_provider(const Engine *e) {
        for (Provider *p = engine_providers(e); p; p = p->next)
                if (!p->builtin)
                        return p;
        return NULL;
}

static Sublayer *added_sublayer(const Engine *e) {
        for (Sublayer *s = engine_sublayers(e); s; s = s->next)
                if (!s->builtin)
                        return s;
        return NULL;
}

static ProviderContext *add_context(Engine *e, uint32_t type) {
        ProviderContextSpec spec = { .name = "ctx", .type = type };
        ProviderContext *c = NULL;

        assert_int_equal(engine_begin(e), 0);
        assert_int_equal(engine_add_provider_context(e, &spec, NULL, &c), 0);
        engine_commit(e);
        return c;
}

static int try_add_filter_texts(Engine *e, const FilterSpec *spec, const char *const *texts, EngineError *err,
                                Filter **ret) {
        int r;

        assert_int_equal(engine_begin(e), 0);
        r = engine_add_filter_texts(e, spec, texts, err, ret);
        if (r < 0)
                engine_abort(e);
        else
                engine_commit(e);
        return r;
}

static int try_add_filter(Engine *e, const FilterSpec *spec, EngineError *err, Filter **ret) {
        return try_add_filter_texts(e, spec, NULL, err, ret);
}

static Filter *add_mm_filter(Engine *e, const char *layer, const ProviderContext *c) {
        FilterSpec spec = { .name = "mm", .layer = (char *) layer, .action = WFP_ACTION_PERMIT,
                            .provider_context_key = c->key };
        Filter *f = NULL;

        assert_int_equal(try_add_filter(e, &spec, NULL, &f), 0);
        return f;
}

static void delete_filter(Engine *e, uint64_t id) {
        assert_int_equal(engine_begin(e), 0);
        assert_int_equal(engine_delete_filter_by_id(e, id, NULL), 0);
        engine_commit(e);
}

static size_t count_engine_owned(Engine *e) {
        size_t n = 0;
        for (Filter *f = engine_filters(e); f; f = f->next)
                n += f->engine_owned;
        return n;
}

static void test_exemptions_refcount(void **state) {
        Fixture *fx = *state;
        ProviderContext *ike = add_context(fx->e, WFP_CONTEXT_TYPE_IPSEC_IKE_MM);
        Filter *a, *b;

        assert_false(engine_exemptions_active(fx->e));
        a = add_mm_filter(fx->e, "IKEEXT_V4", ike);
        assert_true(engine_exemptions_active(fx->e));
        assert_int_equal(count_engine_owned(fx->e), 14); /* 7 per family */
        b = add_mm_filter(fx->e, "IKEEXT_V6", ike);
        assert_int_equal(count_engine_owned(fx->e), 14); /* not twice */

        delete_filter(fx->e, a->id);
        assert_true(engine_exemptions_active(fx->e));
        assert_int_equal(count_engine_owned(fx->e), 14);

        delete_filter(fx->e, b->id);
        assert_false(engine_exemptions_active(fx->e));
        assert_int_equal(count_engine_owned(fx->e), 0);
        assert_int_equal(engine_n_filters(fx->e), 0);
}

static void test_exemptions_context_types(void **state) {
        Fixture *fx = *state;
        ProviderContext *qm = add_context(fx->e, 1); /* IKE QM transport */
        ProviderContext *authip = add_context(fx->e, WFP_CONTEXT_TYPE_IPSEC_AUTHIP_MM);
        ProviderContext *ikev2 = add_context(fx->e, WFP_CONTEXT_TYPE_IPSEC_IKEV2_MM);
        FilterSpec qm_filter = { .name = "qm", .layer = "IPSEC_V4", .action = WFP_ACTION_PERMIT,
                                 .provider_context_key = qm->key };
        Filter *f;

        assert_int_equal(try_add_filter(fx->e, &qm_filter, NULL, &f), 0);
        assert_false(engine_exemptions_active(fx->e));

        f = add_mm_filter(fx->e, "IKEEXT_V6", authip);
        assert_true(engine_exemptions_active(fx->e));
        delete_filter(fx->e, f->id);
        assert_false(engine_exemptions_active(fx->e));

        f = add_mm_filter(fx->e, "ikeext_v4", ikev2);
        assert_true(engine_exemptions_active(fx->e));
        delete_filter(fx->e, f->id);
        assert_false(engine_exemptions_active(fx->e));
        assert_int_equal(engine_n_filters(fx->e), 1); /* the QM filter only */
}

static void test_exemption_set_contents(void **state) {
        Fixture *fx = *state;
        ProviderContext *ike = add_context(fx->e, WFP_CONTEXT_TYPE_IPSEC_IKE_MM);
        unsigned v4_4500 = 0, v6_4500 = 0, ale_local_system = 0;

        add_mm_filter(fx->e, "IKEEXT_V4", ike);
        for (Filter *f = engine_filters(fx->e); f; f = f->next) {
                if (!f->engine_owned)
                        continue;
                assert_true(guid_equal(&f->sublayer->key, &engine_universal_sublayer(fx->e)->key));
                assert_int_equal(f->effective_weight >> 60, 0xC);
                assert_int_equal(f->action, WFP_ACTION_PERMIT);
                assert_true(f->flags & WFP_FILTER_FLAG_CLEAR_ACTION_RIGHT);
                assert_int_equal(f->conditions[0].field, WFP_FIELD_IP_PROTOCOL);
                assert_int_equal(f->conditions[0].lo[0], 17);
                for (size_t i = 0; i < f->n_conditions; i++) {
                        const Condition *c = &f->conditions[i];
                        if ((c->field == WFP_FIELD_IP_LOCAL_PORT || c->field == WFP_FIELD_IP_REMOTE_PORT) &&
                            c->lo[0] == (4500 >> 8) && c->lo[1] == (4500 & 0xff)) {
                                if (wfp_layer_info(f->layer)->family == 4)
                                        v4_4500++;
                                else
                                        v6_4500++;
                        }
                        if (c->field == WFP_FIELD_BFED_LOCAL_SYSTEM) {
                                assert_true(wfp_layer_is_ale(f->layer));
                                ale_local_system++;
                        }
                }
                if (wfp_layer_is_ale(f->layer))
                        assert_int_equal(f->conditions[f->n_conditions - 1].field, WFP_FIELD_BFED_LOCAL_SYSTEM);
        }
        assert_int_equal(v4_4500, 7);
        assert_int_equal(v6_4500, 0);
        assert_int_equal(ale_local_system, 6);
}

static void test_abort_restores(void **state) {
        Fixture *fx = *state;
        ProviderContext *ike = add_context(fx->e, WFP_CONTEXT_TYPE_IPSEC_IKE_MM);
        FilterSpec spec = { .name = "mm", .layer = "IKEEXT_V4", .action = WFP_ACTION_PERMIT,
                            .provider_context_key = ike->key };
        Filter *f;

        /* an MM filter added and rolled back leaves nothing behind, exemptions included */
        assert_int_equal(engine_begin(fx->e), 0);
        assert_int_equal(engine_add_filter(fx->e, &spec, NULL, &f), 0);
        assert_true(engine_exemptions_active(fx->e));
        engine_abort(fx->e);
        assert_false(engine_exemptions_active(fx->e));
        assert_int_equal(engine_n_filters(fx->e), 0);
        assert_int_equal(ike->n_refs, 0);

        /* a delete rolled back puts filter and exemptions back, in the same order */
        f = add_mm_filter(fx->e, "IKEEXT_V4", ike);
        Sublayer *u = engine_universal_sublayer(fx->e);
        Filter *first = u->filters_head[WFP_LAYER_INBOUND_TRANSPORT_V4];
        assert_int_equal(engine_begin(fx->e), 0);
        assert_int_equal(engine_delete_filter_by_id(fx->e, f->id, NULL), 0);
        assert_false(engine_exemptions_active(fx->e));
        assert_null(u->filters_head[WFP_LAYER_INBOUND_TRANSPORT_V4]);
        engine_abort(fx->e);
        assert_true(engine_exemptions_active(fx->e));
        assert_ptr_equal(engine_get_filter_by_id(fx->e, f->id), f);
        assert_ptr_equal(u->filters_head[WFP_LAYER_INBOUND_TRANSPORT_V4], first);
        assert_int_equal(ike->n_refs, 1);
        assert_int_equal(engine_n_filters(fx->e), 15);
}

static void test_journal(void **state) {
        Fixture *fx = *state;
        ProviderContext *ike = add_context(fx->e, WFP_CONTEXT_TYPE_IPSEC_IKE_MM);
        FilterSpec spec = { .name = "mm", .layer = "IKEEXT_V4", .action = WFP_ACTION_PERMIT,
                            .provider_context_key = ike->key };
        const Change *c;
        size_t n;

        assert_int_equal(engine_begin(fx->e), 0);
        assert_int_equal(engine_begin(fx->e), wfp_ret(FWP_E_TXN_IN_PROGRESS));
        assert_int_equal(engine_add_filter(fx->e, &spec, NULL, NULL), 0);
        c = engine_changes(fx->e, &n);
        assert_int_equal(n, 15); /* the filter and the 14 exemptions */
        for (size_t i = 0; i < n; i++) {
                assert_int_equal(c[i].type, CHANGE_ADD);
                assert_int_equal(c[i].kind, OBJECT_FILTER);
        }
        engine_commit(fx->e);
        c = engine_changes(fx->e, &n);
        assert_int_equal(n, 0);
}

/* ---- errors --------------------------------------------------------------------------------- */

static void expect_filter_texts_error(Engine *e, const FilterSpec *spec, const char *const *texts, uint32_t code,
                                      const char *needle) {
        EngineError err = {};
        size_t before = engine_n_filters(e);

        assert_int_equal(try_add_filter_texts(e, spec, texts, &err, NULL), wfp_ret(code));
        assert_int_equal(err.code, code);
        if (needle && !strstr(err.message, needle))
                fail_msg("message '%s' lacks '%s'", err.message, needle);
        assert_int_equal(engine_n_filters(e), before);
}

static void expect_filter_error(Engine *e, const FilterSpec *spec, uint32_t code, const char *needle) {
        expect_filter_texts_error(e, spec, NULL, code, needle);
}

static void test_filter_errors(void **state) {
        Fixture *fx = *state;
        ProviderContext *ike = add_context(fx->e, WFP_CONTEXT_TYPE_IPSEC_IKE_MM);
        BfeGuid unknown;
        Filter *f;

        assert_int_equal(guid_from_string("01234567-89ab-cdef-0123-456789abcdef", &unknown), 0);

        FilterSpec no_layer = { .name = "x", .layer = "NO_SUCH_LAYER", .action = WFP_ACTION_BLOCK };
        expect_filter_error(fx->e, &no_layer, FWP_E_LAYER_NOT_FOUND, "NO_SUCH_LAYER");

        FilterSpec no_name = { .layer = "INBOUND_TRANSPORT_V4", .action = WFP_ACTION_BLOCK };
        expect_filter_error(fx->e, &no_name, FWP_E_NULL_DISPLAY_NAME, NULL);
        no_name.name = "";
        expect_filter_error(fx->e, &no_name, FWP_E_NULL_DISPLAY_NAME, NULL);

        FilterSpec bad_weight = { .name = "x", .layer = "INBOUND_TRANSPORT_V4", .action = WFP_ACTION_BLOCK,
                                  .weight_kind = BFE_WEIGHT_RANGE, .weight = 16 };
        expect_filter_error(fx->e, &bad_weight, FWP_E_INVALID_WEIGHT, "16");

        FilterSpec no_provider = { .name = "x", .layer = "INBOUND_TRANSPORT_V4", .action = WFP_ACTION_BLOCK,
                                   .provider_key = unknown };
        expect_filter_error(fx->e, &no_provider, FWP_E_PROVIDER_NOT_FOUND, "01234567-89ab-cdef-0123-456789abcdef");

        FilterSpec no_context = { .name = "x", .layer = "IKEEXT_V4", .action = WFP_ACTION_PERMIT,
                                  .provider_context_key = unknown };
        expect_filter_error(fx->e, &no_context, FWP_E_PROVIDER_CONTEXT_NOT_FOUND, NULL);

        FilterSpec mm_on_transport = { .name = "x", .layer = "INBOUND_TRANSPORT_V4", .action = WFP_ACTION_PERMIT,
                                       .provider_context_key = ike->key };
        expect_filter_error(fx->e, &mm_on_transport, FWP_E_CONTEXT_INCOMPATIBLE_WITH_LAYER, "INBOUND_TRANSPORT_V4");

        FilterSpec bad_action = { .name = "x", .layer = "INBOUND_TRANSPORT_V4", .action = 0x42 };
        expect_filter_error(fx->e, &bad_action, FWP_E_INVALID_ACTION_TYPE, NULL);

        ConditionSpec bad_port = { "IP_LOCAL_PORT", 0, "70000" };
        FilterSpec port = { .name = "x", .layer = "INBOUND_TRANSPORT_V4", .action = WFP_ACTION_BLOCK,
                            .conditions = &bad_port, .n_conditions = 1 };
        expect_filter_error(fx->e, &port, FWP_E_TYPE_MISMATCH, "70000");

        ConditionSpec v6_on_v4 = { "IP_REMOTE_ADDRESS", 0, "2001:db8::1" };
        FilterSpec fam = { .name = "x", .layer = "INBOUND_TRANSPORT_V4", .action = WFP_ACTION_BLOCK,
                           .conditions = &v6_on_v4, .n_conditions = 1 };
        expect_filter_error(fx->e, &fam, FWP_E_TYPE_MISMATCH, "2001:db8::1");

        ConditionSpec bad_mask = { "IP_REMOTE_ADDRESS", 0, "192.0.2.1/24" };
        FilterSpec mask = { .name = "x", .layer = "INBOUND_TRANSPORT_V4", .action = WFP_ACTION_BLOCK,
                            .conditions = &bad_mask, .n_conditions = 1 };
        expect_filter_error(fx->e, &mask, FWP_E_INVALID_NET_MASK, "192.0.2.1/24");

        ConditionSpec port_at_ikeext = { "IP_LOCAL_PORT", 0, "500" };
        FilterSpec ikeext = { .name = "x", .layer = "IKEEXT_V4", .action = WFP_ACTION_PERMIT,
                              .conditions = &port_at_ikeext, .n_conditions = 1 };
        expect_filter_error(fx->e, &ikeext, FWP_E_CONDITION_NOT_FOUND, "IKEEXT_V4");

        ConditionSpec range = { "IP_LOCAL_PORT", WFP_MATCH_RANGE, "500" };
        FilterSpec ranged = { .name = "x", .layer = "INBOUND_TRANSPORT_V4", .action = WFP_ACTION_BLOCK,
                              .conditions = &range, .n_conditions = 1 };
        expect_filter_error(fx->e, &ranged, FWP_E_INVALID_RANGE, "500");
        range.value = "510-500";
        expect_filter_error(fx->e, &ranged, FWP_E_INVALID_RANGE, "510-500");
        range.value = "500-510";
        range.match = WFP_MATCH_EQUAL;
        expect_filter_error(fx->e, &ranged, FWP_E_MATCH_TYPE_MISMATCH, "match type 5");
        range.match = WFP_MATCH_FLAGS_ALL_SET;
        expect_filter_error(fx->e, &ranged, FWP_E_MATCH_TYPE_MISMATCH, NULL);
        range.match = 99;
        expect_filter_error(fx->e, &ranged, FWP_E_INVALID_ENUMERATOR, NULL);
        ConditionSpec gt = { "IP_LOCAL_PORT", WFP_MATCH_GREATER, "65535" };
        FilterSpec nothing = { .name = "x", .layer = "INBOUND_TRANSPORT_V4", .action = WFP_ACTION_BLOCK,
                               .conditions = &gt, .n_conditions = 1 };
        expect_filter_error(fx->e, &nothing, FWP_E_OUT_OF_BOUNDS, NULL);

        /* ALE_USER_ID exists only where the kernel sees the socket's owner */
        ConditionSpec uid = { "ALE_USER_ID", 0, "0" };
        FilterSpec at_recv = { .name = "x", .layer = "ALE_AUTH_RECV_ACCEPT_V4", .action = WFP_ACTION_BLOCK,
                               .conditions = &uid, .n_conditions = 1 };
        expect_filter_error(fx->e, &at_recv, FWP_E_CONDITION_NOT_FOUND, "ALE_USER_ID");
        at_recv.layer = "INBOUND_TRANSPORT_V6";
        expect_filter_error(fx->e, &at_recv, FWP_E_CONDITION_NOT_FOUND, "ALE_USER_ID");
        at_recv.layer = "ALE_AUTH_CONNECT_V4";
        uid.value = "no-such-user-here";
        expect_filter_error(fx->e, &at_recv, FWP_E_TYPE_MISMATCH, "no-such-user-here");

        ConditionSpec ifname = { "IP_LOCAL_INTERFACE", 0, "averyveryverylongname0" };
        FilterSpec ifn = { .name = "x", .layer = "INBOUND_TRANSPORT_V4", .action = WFP_ACTION_BLOCK,
                           .conditions = &ifname, .n_conditions = 1 };
        expect_filter_error(fx->e, &ifn, FWP_E_TYPE_MISMATCH, "averyveryverylongname0");
        /* nft lists an interface name between double quotes, unescaped: no '"', no control
         * character, or `nft list ruleset` cannot be read back */
        ifname.value = "a\"b";
        expect_filter_error(fx->e, &ifn, FWP_E_TYPE_MISMATCH, "not an interface name");
        ifname.value = "eth\n0";
        expect_filter_error(fx->e, &ifn, FWP_E_TYPE_MISMATCH, "not an interface name");
        ifname.value = "eth\x1b" "0";
        expect_filter_error(fx->e, &ifn, FWP_E_TYPE_MISMATCH, "not an interface name");
        ifname.value = "a b";
        expect_filter_error(fx->e, &ifn, FWP_E_TYPE_MISMATCH, "not an interface name");

        ConditionSpec flags = { "FLAGS", WFP_MATCH_FLAGS_ALL_SET, "sideways" };
        FilterSpec fl = { .name = "x", .layer = "INBOUND_TRANSPORT_V4", .action = WFP_ACTION_BLOCK,
                          .conditions = &flags, .n_conditions = 1 };
        expect_filter_error(fx->e, &fl, FWP_E_TYPE_MISMATCH, "sideways");
        flags.value = "loopback";
        flags.match = WFP_MATCH_EQUAL;
        expect_filter_error(fx->e, &fl, FWP_E_MATCH_TYPE_MISMATCH, "FLAGS");

        /* ORed negations are taken (the compiler makes "not in" of them); ORed FLAGS are not */
        ConditionSpec ne[] = { { "IP_LOCAL_PORT", WFP_MATCH_NOT_EQUAL, "1" }, { "IP_LOCAL_PORT", 0, "2" } };
        FilterSpec ored = { .name = "x", .layer = "INBOUND_TRANSPORT_V4", .action = WFP_ACTION_BLOCK,
                            .conditions = ne, .n_conditions = 2 };
        assert_int_equal(try_add_filter(fx->e, &ored, NULL, &f), 0);
        assert_int_equal(engine_begin(fx->e), 0);
        assert_int_equal(engine_delete_filter_by_id(fx->e, f->id, NULL), 0);
        engine_commit(fx->e);
        ConditionSpec two_flags[] = { { "FLAGS", WFP_MATCH_FLAGS_ALL_SET, "loopback" },
                                      { "FLAGS", WFP_MATCH_FLAGS_NONE_SET, "ipsec-secured" } };
        ored.conditions = two_flags;
        expect_filter_error(fx->e, &ored, FWP_E_MATCH_TYPE_MISMATCH, "FLAGS");
        /* any-set with several flags is taken */
        flags.match = WFP_MATCH_FLAGS_ANY_SET;
        flags.value = "loopback,ipsec-secured";
        assert_int_equal(try_add_filter(fx->e, &fl, NULL, &f), 0);
        assert_int_equal(f->conditions[0].flags, WFP_CONDITION_FLAG_IS_LOOPBACK | WFP_CONDITION_FLAG_IS_IPSEC_SECURED);
        assert_int_equal(engine_begin(fx->e), 0);
        assert_int_equal(engine_delete_filter_by_id(fx->e, f->id, NULL), 0);
        engine_commit(fx->e);

        /* callouts: only the four IPsec transport ones, each at its own layer */
        BfeGuid in4;
        assert_int_equal(guid_from_string("5132900d-5e84-4b5f-80e4-01741e81ff10", &in4), 0);
        FilterSpec callout = { .name = "x", .layer = "INBOUND_TRANSPORT_V4", .action = WFP_ACTION_CALLOUT_TERMINATING,
                               .callout_key = unknown };
        expect_filter_error(fx->e, &callout, FWP_E_CALLOUT_NOT_FOUND, "01234567-89ab-cdef-0123-456789abcdef");
        callout.callout_key = in4;
        callout.layer = "OUTBOUND_TRANSPORT_V4";
        expect_filter_error(fx->e, &callout, FWP_E_ACTION_INCOMPATIBLE_WITH_LAYER, "INBOUND_TRANSPORT_V4");
        callout.layer = "INBOUND_TRANSPORT_V4";
        assert_int_equal(try_add_filter(fx->e, &callout, NULL, &f), 0);
        assert_int_equal(f->action, WFP_ACTION_CALLOUT_TERMINATING);

        /* duplicate key */
        FilterSpec ok = { .name = "x", .layer = "INBOUND_TRANSPORT_V4", .action = WFP_ACTION_BLOCK, .key = unknown };
        assert_int_equal(try_add_filter(fx->e, &ok, NULL, &f), 0);
        expect_filter_error(fx->e, &ok, FWP_E_ALREADY_EXISTS, "01234567-89ab-cdef-0123-456789abcdef");

        /* not found on delete */
        EngineError err = {};
        assert_int_equal(engine_begin(fx->e), 0);
        assert_int_equal(engine_delete_filter_by_id(fx->e, 9999, &err), wfp_ret(FWP_E_FILTER_NOT_FOUND));
        assert_int_equal(engine_delete_filter_by_key(fx->e, &ike->key, &err), wfp_ret(FWP_E_FILTER_NOT_FOUND));
        engine_abort(fx->e);
}

/* Names, descriptions and condition texts go on the bus in every Enum, and sd-bus refuses to
 * send invalid UTF-8: the engine refuses them from any caller, and nothing is added. */
static void test_bad_unicode_refused(void **state) {
        Fixture *fx = *state;
        static char *const bad[] = {
                "caf\xe9",                     /* Latin-1, not UTF-8 */
                "\xc3",                        /* a character cut off */
                "\xc0\xaf",                   /* overlong '/' */
                "\xed\xa0\x80",              /* a surrogate */
                "\xef\xbf\xbe",              /* the noncharacter U+FFFE */
        };
        size_t objects = engine_n_filters(fx->e);

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                EngineError err = {};

                assert_int_equal(engine_begin(fx->e), 0);
                assert_int_equal(engine_add_provider(fx->e, &(ProviderSpec) { .name = bad[i] }, &err, NULL),
                                 wfp_ret(FWP_E_INVALID_PARAMETER));
                assert_non_null(strstr(err.message, "bad Unicode"));
                assert_int_equal(engine_add_provider(fx->e, &(ProviderSpec) { .name = "p", .description = bad[i] },
                                                     &err, NULL), wfp_ret(FWP_E_INVALID_PARAMETER));
                assert_int_equal(engine_add_sublayer(fx->e, &(SublayerSpec) { .name = bad[i] }, &err, NULL),
                                 wfp_ret(FWP_E_INVALID_PARAMETER));
                assert_int_equal(engine_add_sublayer(fx->e, &(SublayerSpec) { .name = "s", .description = bad[i] },
                                                     &err, NULL), wfp_ret(FWP_E_INVALID_PARAMETER));
                assert_int_equal(engine_add_provider_context(fx->e, &(ProviderContextSpec) { .name = bad[i], .type = 1 },
                                                             &err, NULL), wfp_ret(FWP_E_INVALID_PARAMETER));
                assert_int_equal(engine_add_provider_context(fx->e, &(ProviderContextSpec) {
                        .name = "c", .description = bad[i], .type = 1 }, &err, NULL), wfp_ret(FWP_E_INVALID_PARAMETER));
                engine_abort(fx->e);

                FilterSpec name = { .name = bad[i], .layer = "INBOUND_TRANSPORT_V4", .action = WFP_ACTION_BLOCK };
                expect_filter_error(fx->e, &name, FWP_E_INVALID_PARAMETER, "bad Unicode");
                FilterSpec description = { .name = "f", .description = bad[i], .layer = "INBOUND_TRANSPORT_V4",
                                           .action = WFP_ACTION_BLOCK };
                expect_filter_error(fx->e, &description, FWP_E_INVALID_PARAMETER, "bad Unicode");
                /* an interface name is the one condition value that takes any text */
                ConditionSpec iface = { "IP_LOCAL_INTERFACE", 0, bad[i] };
                FilterSpec condition = { .name = "f", .layer = "INBOUND_TRANSPORT_V4", .action = WFP_ACTION_BLOCK,
                                         .conditions = &iface, .n_conditions = 1 };
                expect_filter_error(fx->e, &condition, FWP_E_INVALID_PARAMETER, "bad Unicode");
                /* the message itself stays valid UTF-8 */
                ConditionSpec port = { "IP_LOCAL_PORT", 0, bad[i] };
                condition.conditions = &port;
                expect_filter_error(fx->e, &condition, FWP_E_INVALID_PARAMETER, "IP_LOCAL_PORT");
        }
        assert_int_equal(engine_n_filters(fx->e), objects);
        assert_null(added_provider(fx->e));
        assert_null(engine_provider_contexts(fx->e));

        /* valid non-ASCII text is fine */
        assert_int_equal(engine_begin(fx->e), 0);
        assert_int_equal(engine_add_provider(fx->e, &(ProviderSpec) { .name = "Grüße ✓", .description = "日本" },
                                             NULL, NULL), 0);
        engine_commit(fx->e);
}

/* engine_add_filter_texts(): an ALE_USER_ID condition given as a uid shows the user name the
 * caller once gave (the state file's way to need no NSS at start); nothing else may. */
static void test_condition_texts(void **state) {
        Fixture *fx = *state;
        ConditionSpec uid = { "ALE_USER_ID", 0, "4242" };
        const char *const shown[] = { "alice" };
        FilterSpec spec = { .name = "f", .layer = "ALE_AUTH_CONNECT_V4", .action = WFP_ACTION_BLOCK,
                            .conditions = &uid, .n_conditions = 1 };
        char text[CONDITION_TEXT_MAX];
        Filter *f = NULL;
        uint32_t v;

        assert_int_equal(try_add_filter_texts(fx->e, &spec, shown, NULL, &f), 0);
        assert_string_equal(condition_text(&f->conditions[0], text), "alice");
        memcpy(&v, f->conditions[0].lo, sizeof(v));
        assert_int_equal(v, 4242);

        const char *const bad_text[] = { "caf\xe9" };
        expect_filter_texts_error(fx->e, &spec, bad_text, FWP_E_INVALID_PARAMETER, "bad Unicode");
        const char *const empty[] = { "" };
        expect_filter_texts_error(fx->e, &spec, empty, FWP_E_INVALID_PARAMETER, "ALE_USER_ID");
        ConditionSpec port = { "IP_LOCAL_PORT", 0, "22" };
        FilterSpec other = { .name = "f", .layer = "INBOUND_TRANSPORT_V4", .action = WFP_ACTION_BLOCK,
                             .conditions = &port, .n_conditions = 1 };
        expect_filter_texts_error(fx->e, &other, shown, FWP_E_INVALID_PARAMETER, "only an ALE_USER_ID");
        /* per condition: NULL keeps the value as the text */
        const char *const none[] = { NULL };
        assert_int_equal(try_add_filter_texts(fx->e, &other, none, NULL, &f), 0);
        assert_string_equal(condition_text(&f->conditions[0], text), "22");
}

static void test_reference_errors(void **state) {
        Fixture *fx = *state;
        ProviderSpec ps = { .name = "prov" };
        Provider *p;
        EngineError err = {};

        assert_int_equal(engine_begin(fx->e), 0);
        assert_int_equal(engine_add_provider(fx->e, &ps, NULL, &p), 0);
        engine_commit(fx->e);

        ProviderContextSpec cs = { .name = "ctx", .type = 5, .provider_key = p->key };
        ProviderContext *c;
        assert_int_equal(engine_begin(fx->e), 0);
        assert_int_equal(engine_add_provider_context(fx->e, &cs, NULL, &c), 0);
        engine_commit(fx->e);

        Filter *f = add_mm_filter(fx->e, "IKEEXT_V4", c);

        assert_int_equal(engine_begin(fx->e), 0);
        assert_int_equal(engine_delete_provider_context(fx->e, &c->key, &err), wfp_ret(FWP_E_IN_USE));
        assert_non_null(strstr(err.message, "referenced by filter"));
        assert_int_equal(engine_delete_provider(fx->e, &p->key, &err), wfp_ret(FWP_E_IN_USE));
        /* engine-owned exemptions cannot be deleted */
        BfeGuid ex;
        assert_int_equal(guid_from_string("bfed0e00-1ce0-4000-8000-000000000001", &ex), 0);
        assert_int_equal(engine_delete_filter_by_key(fx->e, &ex, &err), wfp_ret(FWP_E_BUILTIN_OBJECT));
        /* duplicate provider and context keys */
        ps.key = p->key;
        assert_int_equal(engine_add_provider(fx->e, &ps, &err, NULL), wfp_ret(FWP_E_ALREADY_EXISTS));
        cs.key = c->key;
        assert_int_equal(engine_add_provider_context(fx->e, &cs, &err, NULL), wfp_ret(FWP_E_ALREADY_EXISTS));
        cs.key = (BfeGuid) {};
        cs.type = WFP_CONTEXT_TYPE_MAX;
        assert_int_equal(engine_add_provider_context(fx->e, &cs, &err, NULL), wfp_ret(FWP_E_INVALID_ENUMERATOR));
        ProviderContextSpec unnamed = { .type = 5 };
        assert_int_equal(engine_add_provider_context(fx->e, &unnamed, &err, NULL), wfp_ret(FWP_E_NULL_DISPLAY_NAME));
        BfeGuid nope = {{ 1 }};
        assert_int_equal(engine_delete_provider_context(fx->e, &nope, &err), wfp_ret(FWP_E_PROVIDER_CONTEXT_NOT_FOUND));
        assert_int_equal(engine_delete_provider(fx->e, &nope, &err), wfp_ret(FWP_E_PROVIDER_NOT_FOUND));

        /* once the filter is gone, the context and then the provider can go */
        assert_int_equal(engine_delete_filter_by_id(fx->e, f->id, &err), 0);
        assert_int_equal(engine_delete_provider_context(fx->e, &c->key, &err), 0);
        assert_int_equal(engine_delete_provider(fx->e, &p->key, &err), 0);
        engine_commit(fx->e);
        assert_null(added_provider(fx->e));
        assert_null(engine_provider_contexts(fx->e));
}

static void test_lifetimes(void **state) {
        Fixture *fx = *state;
        Engine *e = fx->e;
        EngineCaller a = { .session = 7, .dynamic = true }, b = { .session = 8, .dynamic = true };
        EngineError err = {};
        ProviderContext *ctx_a, *ctx_static;
        Filter *mm_a, *f_b;

        /* session A (dynamic) adds an MM policy: context and filter */
        ProviderContextSpec cs = { .name = "a's ike", .type = WFP_CONTEXT_TYPE_IPSEC_IKE_MM };
        assert_int_equal(engine_begin_as(e, &a), 0);
        assert_int_equal(engine_add_provider_context(e, &cs, NULL, &ctx_a), 0);
        FilterSpec mm = { .name = "a's mm", .layer = "IKEEXT_V4", .action = WFP_ACTION_PERMIT,
                          .provider_context_key = ctx_a->key };
        assert_int_equal(engine_add_filter(e, &mm, NULL, &mm_a), 0);
        /* a dynamic session adds no persistent objects */
        ProviderContextSpec pers = { .name = "p", .type = 5, .flags = WFP_FLAG_PERSISTENT };
        assert_int_equal(engine_add_provider_context(e, &pers, &err, NULL), wfp_ret(FWP_E_INVALID_FLAGS));
        engine_commit(e);
        assert_true(mm_a->dynamic && mm_a->session == 7);
        assert_true(engine_exemptions_active(e));

        /* a static filter cannot reference A's dynamic context; nor can session B's */
        assert_int_equal(engine_begin(e), 0);
        assert_int_equal(engine_add_filter(e, &mm, &err, NULL), wfp_ret(FWP_E_LIFETIME_MISMATCH));
        assert_non_null(strstr(err.message, "dynamic"));
        engine_abort(e);
        assert_int_equal(engine_begin_as(e, &b), 0);
        assert_int_equal(engine_add_filter(e, &mm, &err, NULL), wfp_ret(FWP_E_LIFETIME_MISMATCH));
        assert_non_null(strstr(err.message, "another session"));
        engine_abort(e);

        /* a persistent filter cannot reference a static context; a static one can */
        ProviderContextSpec st = { .name = "static", .type = WFP_CONTEXT_TYPE_IPSEC_IKE_MM };
        assert_int_equal(engine_begin(e), 0);
        assert_int_equal(engine_add_provider_context(e, &st, NULL, &ctx_static), 0);
        FilterSpec pf = { .name = "persistent", .layer = "IKEEXT_V6", .action = WFP_ACTION_PERMIT,
                          .flags = WFP_FLAG_PERSISTENT, .provider_context_key = ctx_static->key };
        assert_int_equal(engine_add_filter(e, &pf, &err, NULL), wfp_ret(FWP_E_LIFETIME_MISMATCH));
        assert_non_null(strstr(err.message, "persistent filter"));
        engine_commit(e);

        /* session B's own filter; deletes across sessions */
        FilterSpec block = { .name = "b's block", .layer = "INBOUND_TRANSPORT_V4", .action = WFP_ACTION_BLOCK };
        assert_int_equal(engine_begin_as(e, &b), 0);
        assert_int_equal(engine_add_filter(e, &block, NULL, &f_b), 0);
        assert_int_equal(engine_delete_filter_by_id(e, mm_a->id, &err), wfp_ret(FWP_E_WRONG_SESSION));
        assert_int_equal(engine_delete_provider_context(e, &ctx_static->key, &err),
                         wfp_ret(FWP_E_DYNAMIC_SESSION_IN_PROGRESS));
        engine_commit(e);
        /* the session-less caller may delete anyone's */
        assert_int_equal(engine_begin(e), 0);
        assert_int_equal(engine_delete_filter_by_id(e, f_b->id, NULL), 0);
        engine_abort(e);

        /* closing A deletes its objects, and the exemptions with its MM policy */
        size_t before = engine_n_filters(e);
        assert_int_equal(engine_begin(e), 0);
        assert_int_equal(engine_delete_session_objects(e, 7), 0);
        engine_commit(e);
        assert_false(engine_exemptions_active(e));
        assert_null(engine_get_provider_context(e, &ctx_a->key));
        assert_int_equal(engine_n_filters(e), before - 1 - 14);
        assert_non_null(engine_get_filter_by_id(e, f_b->id)); /* B's stays */
}

/* Expects @r to be the WFP error @code with exactly @message. */
static void expect_error(int r, const EngineError *err, uint32_t code, const char *message) {
        assert_int_equal(r, wfp_ret(code));
        assert_int_equal(err->code, code);
        assert_string_equal(err->message, message);
}

/* The errors of the four kinds' adds and deletes, word for word: callers show them. */
static void test_error_messages(void **state) {
        Fixture *fx = *state;
        Engine *e = fx->e;
        EngineCaller a = { .session = 7, .dynamic = true }, b = { .session = 8, .dynamic = true };
        EngineError err = {};
        char msg[ENGINE_ERROR_MAX], k1[GUID_STRING_MAX], k2[GUID_STRING_MAX];
        BfeGuid nope = {{ 1 }};
        static uint8_t big[ENGINE_DATA_MAX + 1];
        Provider *p;
        Sublayer *s, *universal = engine_universal_sublayer(e);
        ProviderContext *c;
        Filter *f;

        guid_to_string(&nope, k1);
        assert_int_equal(engine_begin(e), 0);
        ProviderSpec ps = { .name = "p" };
        assert_int_equal(engine_add_provider(e, &ps, NULL, &p), 0);
        SublayerSpec ss = { .name = "s", .provider_key = p->key, .weight = 5 };
        assert_int_equal(engine_add_sublayer(e, &ss, NULL, &s), 0);
        ProviderContextSpec cs = { .name = "c", .type = 1, .provider_key = p->key };
        assert_int_equal(engine_add_provider_context(e, &cs, NULL, &c), 0);
        FilterSpec fs = { .name = "f", .layer = "IPSEC_V4", .sublayer_key = s->key, .provider_key = p->key,
                          .provider_context_key = c->key };
        assert_int_equal(engine_add_filter(e, &fs, NULL, &f), 0);
        engine_commit(e);

        assert_int_equal(engine_begin(e), 0);
        /* names, provider data, flags */
        ProviderSpec bad_p = { .name = "" };
        expect_error(engine_add_provider(e, &bad_p, &err, NULL), &err, FWP_E_NULL_DISPLAY_NAME,
                     "a provider needs a name");
        bad_p = (ProviderSpec) { .name = "p", .provider_data = { big, sizeof(big) } };
        expect_error(engine_add_provider(e, &bad_p, &err, NULL), &err, FWP_E_INVALID_PARAMETER,
                     "provider data larger than 65536 bytes");
        bad_p = (ProviderSpec) { .name = "p", .flags = 0x2 };
        expect_error(engine_add_provider(e, &bad_p, &err, NULL), &err, FWP_E_INVALID_FLAGS,
                     "provider flags 0x2 are not valid");
        SublayerSpec bad_s = { .name = "s", .flags = 0x2 };
        expect_error(engine_add_sublayer(e, &bad_s, &err, NULL), &err, FWP_E_INVALID_FLAGS,
                     "sublayer flags 0x2 are not valid");
        ProviderContextSpec bad_c = { .name = "c", .flags = 0x2, .type = 1 };
        expect_error(engine_add_provider_context(e, &bad_c, &err, NULL), &err, FWP_E_INVALID_FLAGS,
                     "provider context flags 0x2 are not valid");
        bad_c = (ProviderContextSpec) { .name = "c", .type = 1, .data = { big, sizeof(big) } };
        expect_error(engine_add_provider_context(e, &bad_c, &err, NULL), &err, FWP_E_INVALID_PARAMETER,
                     "context data larger than 65536 bytes");
        bad_c = (ProviderContextSpec) { .name = "c", .type = 99 };
        expect_error(engine_add_provider_context(e, &bad_c, &err, NULL), &err, FWP_E_INVALID_ENUMERATOR,
                     "provider context type 99 is not valid (0-13)");
        FilterSpec bad_f = { .name = "f", .layer = "IPSEC_V4", .flags = 0x40 };
        expect_error(engine_add_filter(e, &bad_f, &err, NULL), &err, FWP_E_INVALID_FLAGS,
                     "filter flags 0x40 are not valid (persistent 0x1, boottime 0x2, has-provider-context 0x4, "
                     "clear-action-right 0x8, permit-if-callout-unregistered 0x10)");
        bad_f = (FilterSpec) { .name = "f", .layer = "IPSEC_V4", .flags = WFP_FILTER_FLAG_HAS_PROVIDER_CONTEXT };
        expect_error(engine_add_filter(e, &bad_f, &err, NULL), &err, FWP_E_PROVIDER_CONTEXT_NOT_FOUND,
                     "flag HAS_PROVIDER_CONTEXT is set but no provider context is given");

        /* keys taken, keys naming nothing */
        ps.key = p->key;
        snprintf(msg, sizeof(msg), "provider %s exists already", guid_to_string(&p->key, k2));
        expect_error(engine_add_provider(e, &ps, &err, NULL), &err, FWP_E_ALREADY_EXISTS, msg);
        ss.key = s->key;
        snprintf(msg, sizeof(msg), "sublayer %s exists already", guid_to_string(&s->key, k2));
        expect_error(engine_add_sublayer(e, &ss, &err, NULL), &err, FWP_E_ALREADY_EXISTS, msg);
        fs.key = f->key;
        snprintf(msg, sizeof(msg), "filter %s exists already", guid_to_string(&f->key, k2));
        expect_error(engine_add_filter(e, &fs, &err, NULL), &err, FWP_E_ALREADY_EXISTS, msg);
        fs.key = (BfeGuid) {};
        fs.sublayer_key = nope;
        snprintf(msg, sizeof(msg), "no sublayer %s", k1);
        expect_error(engine_add_filter(e, &fs, &err, NULL), &err, FWP_E_SUBLAYER_NOT_FOUND, msg);
        fs.sublayer_key = s->key;
        fs.provider_context_key = nope;
        snprintf(msg, sizeof(msg), "no provider context %s", k1);
        expect_error(engine_add_filter(e, &fs, &err, NULL), &err, FWP_E_PROVIDER_CONTEXT_NOT_FOUND, msg);
        fs.provider_context_key = c->key;
        ss = (SublayerSpec) { .name = "s", .provider_key = nope };
        snprintf(msg, sizeof(msg), "no provider %s", k1);
        expect_error(engine_add_sublayer(e, &ss, &err, NULL), &err, FWP_E_PROVIDER_NOT_FOUND, msg);
        expect_error(engine_delete_provider(e, &nope, &err), &err, FWP_E_PROVIDER_NOT_FOUND, msg);
        snprintf(msg, sizeof(msg), "no sublayer %s", k1);
        expect_error(engine_delete_sublayer(e, &nope, &err), &err, FWP_E_SUBLAYER_NOT_FOUND, msg);
        snprintf(msg, sizeof(msg), "no provider context %s", k1);
        expect_error(engine_delete_provider_context(e, &nope, &err), &err, FWP_E_PROVIDER_CONTEXT_NOT_FOUND, msg);
        snprintf(msg, sizeof(msg), "no filter %s", k1);
        expect_error(engine_delete_filter_by_key(e, &nope, &err), &err, FWP_E_FILTER_NOT_FOUND, msg);
        expect_error(engine_delete_filter_by_id(e, 999, &err), &err, FWP_E_FILTER_NOT_FOUND, "no filter with id 999");

        /* what is referenced or built in stays */
        snprintf(msg, sizeof(msg), "provider %s is referenced by 3 objects", guid_to_string(&p->key, k2));
        expect_error(engine_delete_provider(e, &p->key, &err), &err, FWP_E_IN_USE, msg);
        snprintf(msg, sizeof(msg), "sublayer %s holds 1 filter", guid_to_string(&s->key, k2));
        expect_error(engine_delete_sublayer(e, &s->key, &err), &err, FWP_E_IN_USE, msg);
        snprintf(msg, sizeof(msg), "provider context %s is referenced by filter %" PRIu64,
                 guid_to_string(&c->key, k2), f->id);
        expect_error(engine_delete_provider_context(e, &c->key, &err), &err, FWP_E_IN_USE, msg);
        snprintf(msg, sizeof(msg), "sublayer %s (FWPM_SUBLAYER_UNIVERSAL) is built in",
                 guid_to_string(&universal->key, k2));
        expect_error(engine_delete_sublayer(e, &universal->key, &err), &err, FWP_E_BUILTIN_OBJECT, msg);
        engine_commit(e);

        /* lifetimes: what a dynamic session may add, reference and delete */
        assert_int_equal(engine_begin_as(e, &a), 0);
        ps = (ProviderSpec) { .name = "p", .flags = WFP_FLAG_PERSISTENT };
        expect_error(engine_add_provider(e, &ps, &err, NULL), &err, FWP_E_INVALID_FLAGS,
                     "a dynamic session cannot add a persistent provider");
        snprintf(msg, sizeof(msg), "sublayer %s was not added by a dynamic session; this dynamic session may "
                 "delete only its own objects", guid_to_string(&s->key, k2));
        expect_error(engine_delete_sublayer(e, &s->key, &err), &err, FWP_E_DYNAMIC_SESSION_IN_PROGRESS, msg);
        ss = (SublayerSpec) { .name = "a's" };
        assert_int_equal(engine_add_sublayer(e, &ss, NULL, &s), 0);
        engine_commit(e);
        assert_int_equal(engine_begin_as(e, &b), 0);
        snprintf(msg, sizeof(msg), "sublayer %s belongs to another dynamic session", guid_to_string(&s->key, k2));
        expect_error(engine_delete_sublayer(e, &s->key, &err), &err, FWP_E_WRONG_SESSION, msg);
        fs = (FilterSpec) { .name = "f", .layer = "IPSEC_V4", .sublayer_key = s->key };
        snprintf(msg, sizeof(msg), "a dynamic filter cannot reference the dynamic (another session's) sublayer %s, "
                 "which can die sooner", k2);
        expect_error(engine_add_filter(e, &fs, &err, NULL), &err, FWP_E_LIFETIME_MISMATCH, msg);
        ps = (ProviderSpec) { .name = "p" };
        assert_int_equal(engine_add_provider(e, &ps, NULL, &p), 0);
        engine_commit(e);
        assert_int_equal(engine_begin(e), 0);
        ps = (ProviderSpec) { .name = "p", .flags = WFP_FLAG_PERSISTENT };
        ss = (SublayerSpec) { .name = "s", .flags = WFP_FLAG_PERSISTENT, .provider_key = p->key };
        snprintf(msg, sizeof(msg), "a persistent sublayer cannot reference the dynamic (another session's) "
                 "provider %s, which can die sooner", guid_to_string(&p->key, k2));
        expect_error(engine_add_sublayer(e, &ss, &err, NULL), &err, FWP_E_LIFETIME_MISMATCH, msg);
        engine_commit(e);

        /* the kinds alike: a kind that is none is a caller's bug */
        void *o;
        assert_int_equal(engine_get_object(e, _OBJECT_KIND_MAX, &nope, &err, &o), -EINVAL);
        assert_int_equal(engine_delete_object(e, _OBJECT_KIND_MAX, &nope, &err), -EINVAL);
        assert_int_equal(engine_add_object(e, _OBJECT_KIND_MAX, &ps, &err, &o), -EINVAL);
        assert_null(engine_object_key(_OBJECT_KIND_MAX, p));
        snprintf(msg, sizeof(msg), "no provider context %s", k1);
        expect_error(engine_get_object(e, OBJECT_PROVIDER_CONTEXT, &nope, &err, &o), &err,
                     FWP_E_PROVIDER_CONTEXT_NOT_FOUND, msg);
        assert_int_equal(engine_get_object(e, OBJECT_SUBLAYER, &universal->key, &err, &o), 0);
        assert_ptr_equal(o, universal);
        assert_ptr_equal(engine_object_key(OBJECT_SUBLAYER, universal), &universal->key);
}

/* Enumerations pin what they list: a deleted object stays readable, out of every list and lookup,
 * until its last pin goes; so does what it references. */
static void test_pins(void **state) {
        Fixture *fx = *state;
        Engine *e = fx->e;
        char text[CONDITION_TEXT_MAX];
        Provider *p;
        Sublayer *s;
        ProviderContext *c;
        Filter *f;

        assert_int_equal(engine_begin(e), 0);
        ProviderSpec ps = { .name = "p", .description = "pinned" };
        assert_int_equal(engine_add_provider(e, &ps, NULL, &p), 0);
        SublayerSpec ss = { .name = "s", .provider_key = p->key };
        assert_int_equal(engine_add_sublayer(e, &ss, NULL, &s), 0);
        uint8_t data[] = { 1, 2, 3 };
        ProviderContextSpec cs = { .name = "c", .type = 1, .provider_key = p->key, .data = { data, sizeof(data) } };
        assert_int_equal(engine_add_provider_context(e, &cs, NULL, &c), 0);
        ConditionSpec cond = { .field = "IP_PROTOCOL", .match = 0, .value = "udp" };
        FilterSpec fs = { .name = "f", .layer = "IPSEC_V4", .sublayer_key = s->key, .provider_key = p->key,
                          .provider_context_key = c->key, .conditions = &cond, .n_conditions = 1 };
        assert_int_equal(engine_add_filter(e, &fs, NULL, &f), 0);
        engine_commit(e);

        /* an enumeration of filters, one of sublayers */
        engine_pin(e, OBJECT_FILTER, f);
        engine_pin(e, OBJECT_SUBLAYER, s);
        assert_int_equal(f->n_pins, 1);
        assert_int_equal(s->n_pins, 2);
        assert_int_equal(c->n_pins, 1);
        assert_int_equal(p->n_pins, 4); /* the filter's, its sublayer's, its context's, the sublayer's */

        assert_int_equal(engine_begin(e), 0);
        assert_int_equal(engine_delete_filter_by_id(e, f->id, NULL), 0);
        assert_int_equal(engine_delete_provider_context(e, &c->key, NULL), 0);
        assert_int_equal(engine_delete_sublayer(e, &s->key, NULL), 0);
        assert_int_equal(engine_delete_provider(e, &p->key, NULL), 0);
        engine_commit(e);

        /* gone from every list and lookup, readable through the pins */
        assert_null(added_provider(e));
        assert_null(engine_provider_contexts(e));
        assert_null(engine_filters(e));
        assert_null(added_sublayer(e));
        assert_null(engine_get_filter_by_id(e, f->id));
        assert_null(engine_get_sublayer(e, &s->key));
        assert_true(f->retired && s->retired && c->retired && p->retired);
        assert_string_equal(condition_text(&f->conditions[0], text), "udp");
        assert_int_equal(c->data.data[2], 3);
        assert_string_equal(p->description, "pinned");

        /* the filters' enumeration ends: the filter and the context go, the sublayer stays */
        engine_unpin(e, OBJECT_FILTER, f);
        assert_int_equal(s->n_pins, 1);
        assert_int_equal(p->n_pins, 1);
        assert_string_equal(s->name, "s");

        /* a new object with the key of a retired one is a new object */
        assert_int_equal(engine_begin(e), 0);
        ss.key = s->key;
        ss.provider_key = (BfeGuid) {};
        Sublayer *again;
        assert_int_equal(engine_add_sublayer(e, &ss, NULL, &again), 0);
        engine_commit(e);
        assert_ptr_not_equal(again, s);
        assert_ptr_equal(engine_get_sublayer(e, &s->key), again);

        /* the sublayers' enumeration outlives the engine (teardown): freed with it, not leaked */
}

static void test_error_table(void **state) {
        size_t n;
        const WfpErrorInfo *t = wfp_error_table(&n);

        assert_true(n > 30);
        for (size_t i = 0; i < n; i++) {
                int r = wfp_ret(t[i].code);
                assert_true(r < 0);
                assert_int_equal(wfp_code_from_ret(r), t[i].code);
                assert_ptr_equal(wfp_error_info(t[i].code), &t[i]);
                assert_ptr_equal(wfp_error_from_bus_name(t[i].bus_name), &t[i]);
                assert_int_equal(strncmp(t[i].bus_name, "org.bfed.Error.", 15), 0);
                assert_int_equal(strncmp(t[i].name, "FWP_E_", 6), 0);
        }
        assert_int_equal(wfp_code_from_ret(-ENOMEM), 0);
        assert_string_equal(wfp_error_info(FWP_E_IN_USE)->bus_name, "org.bfed.Error.InUse");
        assert_string_equal(wfp_error_info(FWP_E_BUILTIN_OBJECT)->bus_name, "org.bfed.Error.BuiltinObject");
        assert_string_equal(wfp_error_info(FWP_E_FILTER_NOT_FOUND)->bus_name, "org.bfed.Error.FilterNotFound");
}

static void test_guid(void **state) {
        BfeGuid g, h;
        char buf[GUID_STRING_MAX];

        assert_int_equal(guid_from_string("{EEBECC03-CED4-4380-819A-2734397B2B74}", &g), 0);
        assert_string_equal(guid_to_string(&g, buf), "eebecc03-ced4-4380-819a-2734397b2b74");
        assert_int_equal(guid_from_string("eebecc03-ced4-4380-819a-2734397b2b7", &h), -EINVAL);
        assert_int_equal(guid_from_string("eebecc03xced4-4380-819a-2734397b2b74", &h), -EINVAL);
        assert_int_equal(guid_from_string("{eebecc03-ced4-4380-819a-2734397b2b74", &h), -EINVAL);
        assert_int_equal(guid_generate(&h), 0);
        assert_false(guid_is_null(&h));
        assert_int_equal(h.b[6] >> 4, 4);
}

/* The decimal writer the condition texts and the table's image share (string-util.h). */
static void test_decimal(void **state) {
        static const struct { uint64_t v; const char *text; } cases[] = {
                { 0, "0" }, { 7, "7" }, { 10, "10" }, { 65535, "65535" },
                { UINT64_MAX, "18446744073709551615" },
        };
        char buf[DECIMAL_U64_MAX];

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                assert_int_equal(decimal_u64(cases[i].v, buf), strlen(cases[i].text));
                assert_string_equal(buf, cases[i].text);
        }
}

static int guid_cmp(const void *a, const void *b) {
        return memcmp(a, b, sizeof(BfeGuid));
}

/* Generated keys come from a pool of random bytes: 3,000 of them (the pool refilled several
 * times) are version-4 GUIDs and all differ; a forked child draws keys of its own, not the ones
 * left in its parent's pool. */
static void test_guid_pool(void **state) {
        static BfeGuid keys[3000];
        BfeGuid child, parent;
        int fds[2], status;
        pid_t pid;

        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                assert_int_equal(guid_generate(&keys[i]), 0);
                assert_int_equal(keys[i].b[6] >> 4, 4);
                assert_int_equal(keys[i].b[8] >> 6, 2);
        }
        qsort(keys, ELEMENTSOF(keys), sizeof(keys[0]), guid_cmp);
        for (size_t i = 1; i < ELEMENTSOF(keys); i++)
                assert_true(guid_cmp(&keys[i - 1], &keys[i]) != 0);

        assert_int_equal(pipe(fds), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                _exit(guid_generate(&child) < 0 || write(fds[1], &child, sizeof(child)) != sizeof(child));
        }
        assert_int_equal(guid_generate(&parent), 0);
        assert_int_equal(read(fds[0], &child, sizeof(child)), (ssize_t) sizeof(child));
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_true(guid_cmp(&child, &parent) != 0);
        close(fds[0]);
        close(fds[1]);
}

/* IP_LOCAL_ADDRESS_TYPE: NL_ADDRESS_TYPE 1-4 or their names, kept as the route type */
static void test_local_address_type(void **state) {
        Fixture *fx = *state;
        ConditionSpec c = { "6ec7f6c4-376b-45d7-9e9c-d337cedcd237", 0, "unicast" };
        FilterSpec f = { .name = "x", .layer = "OUTBOUND_TRANSPORT_V4", .action = WFP_ACTION_BLOCK, .conditions = &c,
                         .n_conditions = 1 };
        char text[CONDITION_TEXT_MAX];
        uint32_t rtn;
        Filter *x;

        assert_int_equal(try_add_filter(fx->e, &f, NULL, &x), 0);
        assert_int_equal(x->conditions[0].field, WFP_FIELD_IP_LOCAL_ADDRESS_TYPE);
        assert_string_equal(condition_text(&x->conditions[0], text), "unicast");
        memcpy(&rtn, x->conditions[0].lo, sizeof(rtn));
        assert_int_equal(rtn, 2); /* RTN_LOCAL */
        assert_int_equal(address_type_parse("4", &rtn), 0);
        assert_int_equal(rtn, 3); /* RTN_BROADCAST */
        assert_int_equal(address_type_parse("NlatAnycast", &rtn), 0);
        assert_int_equal(rtn, 4);
        c.value = "0";
        expect_filter_error(fx->e, &f, FWP_E_OUT_OF_BOUNDS, "IP_LOCAL_ADDRESS_TYPE '0'");
        c.value = "5";
        expect_filter_error(fx->e, &f, FWP_E_OUT_OF_BOUNDS, "'5'");
        c.value = "local";
        expect_filter_error(fx->e, &f, FWP_E_TYPE_MISMATCH, "'local'");
        c.value = "unicast";
        c.match = WFP_MATCH_GREATER;
        expect_filter_error(fx->e, &f, FWP_E_MATCH_TYPE_MISMATCH, "IP_LOCAL_ADDRESS_TYPE");
        c.match = 0;
        f.layer = "IKEEXT_V4";
        expect_filter_error(fx->e, &f, FWP_E_CONDITION_NOT_FOUND, "IP_LOCAL_ADDRESS_TYPE");
}

/* FWPM_FILTER_FLAG_PERMIT_IF_CALLOUT_UNREGISTERED: with a terminating callout only (issue 11, item 5) */
static void test_permit_if_callout_unregistered(void **state) {
        Fixture *fx = *state;
        FilterSpec f = { .name = "x", .layer = "INBOUND_TRANSPORT_V4", .action = WFP_ACTION_BLOCK,
                         .flags = WFP_FILTER_FLAG_PERMIT_IF_CALLOUT_UNREGISTERED };
        EngineError err;
        Filter *x;

        expect_filter_error(fx->e, &f, FWP_E_INVALID_FLAGS, "PERMIT_IF_CALLOUT_UNREGISTERED");
        f.action = 0; /* permit */
        expect_filter_error(fx->e, &f, FWP_E_INVALID_FLAGS, "0x1002");
        f.action = WFP_ACTION_CALLOUT_TERMINATING;
        assert_int_equal(guid_from_string("5132900d-5e84-4b5f-80e4-01741e81ff10", &f.callout_key), 0);
        assert_int_equal(try_add_filter(fx->e, &f, &err, &x), 0);
        assert_int_equal(x->flags, WFP_FILTER_FLAG_PERMIT_IF_CALLOUT_UNREGISTERED);
        f.flags = 0x20; /* DISABLED: output only */
        expect_filter_error(fx->e, &f, FWP_E_INVALID_FLAGS, "0x20");
}

/* FWPM_FILTER_FLAG_BOOTTIME (issue 11, item 5): the refusals, the lifetime, and a boot-time filter
 * kept out of the running order (the compiler's and Explain's) but in the database */
static void test_boottime(void **state) {
        Fixture *fx = *state;
        Engine *e = fx->e;
        ConditionSpec port[] = { { .field = "IP_PROTOCOL", .value = "udp" },
                                 { .field = "IP_LOCAL_PORT", .value = "9300" } };
        FilterSpec f = { .name = "boot", .layer = "INBOUND_TRANSPORT_V4", .action = WFP_ACTION_BLOCK,
                         .flags = WFP_FLAG_PERSISTENT | WFP_FILTER_FLAG_BOOTTIME, .conditions = port,
                         .n_conditions = 2 };
        SublayerSpec ss = { .name = "static", .weight = 5 }, ps = { .name = "persistent", .weight = 6,
                                                                   .flags = WFP_FLAG_PERSISTENT };
        EngineCaller dyn = { .session = 9, .dynamic = true };
        Sublayer *st = NULL, *pe = NULL;
        Filter *boot = NULL, *running = NULL, *buf[4];
        Explanation x = {};
        EngineError err;
        Packet p = {};

        expect_filter_error(e, &f, FWP_E_INVALID_FLAGS, "PERSISTENT (0x1) and BOOTTIME (0x2)");
        f.flags = WFP_FILTER_FLAG_BOOTTIME;
        f.layer = "IKEEXT_V4";
        f.n_conditions = 0;
        f.action = WFP_ACTION_PERMIT;
        expect_filter_error(e, &f, FWP_E_INCOMPATIBLE_LAYER, "IKEEXT_V4");
        f.layer = "IPSEC_V6";
        expect_filter_error(e, &f, FWP_E_INCOMPATIBLE_LAYER, "IPSEC_V6");
        f.layer = "INBOUND_TRANSPORT_V4";
        f.action = WFP_ACTION_BLOCK;
        f.n_conditions = 2;

        /* a dynamic session cannot add one: it outlives the session */
        assert_int_equal(engine_begin_as(e, &dyn), 0);
        assert_int_equal(engine_add_filter(e, &f, &err, NULL), wfp_ret(FWP_E_INVALID_FLAGS));
        assert_non_null(strstr(err.message, "boot-time"));
        engine_abort(e);

        /* it references as a persistent object does: not a static sublayer */
        assert_int_equal(engine_begin(e), 0);
        assert_int_equal(engine_add_sublayer(e, &ss, NULL, &st), 0);
        assert_int_equal(engine_add_sublayer(e, &ps, NULL, &pe), 0);
        engine_commit(e);
        f.sublayer_key = st->key;
        expect_filter_error(e, &f, FWP_E_LIFETIME_MISMATCH,
                            "a boot-time filter cannot reference the static sublayer");
        f.sublayer_key = pe->key;
        assert_int_equal(try_add_filter(e, &f, &err, &boot), 0);
        assert_true(filter_is_boottime(boot));
        f.flags = 0;
        f.name = "running";
        f.conditions[1].value = "9301";
        assert_int_equal(try_add_filter(e, &f, &err, &running), 0);

        /* in the database, in its sublayer's boot-time order, not in the running order */
        assert_ptr_equal(engine_get_filter_by_key(e, &boot->key), boot);
        assert_ptr_equal(pe->boot_head[WFP_LAYER_INBOUND_TRANSPORT_V4], boot);
        assert_ptr_equal(pe->filters_head[WFP_LAYER_INBOUND_TRANSPORT_V4], running);
        assert_null(running->lnext);
        assert_int_equal(engine_layer_filters(e, WFP_LAYER_INBOUND_TRANSPORT_V4, buf, 4), 1);
        assert_ptr_equal(buf[0], running);
        assert_int_equal(pe->n_refs, 2);

        /* Explain: the running table lets its port through */
        assert_int_equal(packet_set(&p, WFP_LAYER_INBOUND_TRANSPORT_V4, "IP_PROTOCOL", "udp", &err), 0);
        assert_int_equal(packet_set(&p, WFP_LAYER_INBOUND_TRANSPORT_V4, "IP_LOCAL_PORT", "9300", &err), 0);
        assert_int_equal(engine_explain(e, WFP_LAYER_INBOUND_TRANSPORT_V4, &p, &x), 0);
        assert_true(x.permit);
        assert_null(x.decided_by);
        explanation_done(&x);

        /* the sublayer is in use; a delete and its abort keep the lists right */
        assert_int_equal(engine_begin(e), 0);
        assert_int_equal(engine_delete_sublayer(e, &pe->key, &err), wfp_ret(FWP_E_IN_USE));
        engine_abort(e);
        assert_int_equal(engine_begin(e), 0);
        assert_int_equal(engine_delete_filter_by_key(e, &boot->key, &err), 0);
        assert_null(pe->boot_head[WFP_LAYER_INBOUND_TRANSPORT_V4]);
        engine_abort(e);
        assert_ptr_equal(pe->boot_head[WFP_LAYER_INBOUND_TRANSPORT_V4], boot);
        assert_ptr_equal(pe->filters_head[WFP_LAYER_INBOUND_TRANSPORT_V4], running);
        assert_int_equal(engine_begin(e), 0);
        assert_int_equal(engine_delete_filter_by_key(e, &boot->key, &err), 0);
        engine_commit(e);
        assert_null(pe->boot_head[WFP_LAYER_INBOUND_TRANSPORT_V4]);
        assert_null(pe->boot_tail[WFP_LAYER_INBOUND_TRANSPORT_V4]);
        assert_null(engine_get_filter_by_key(e, &f.key));
}

/* filter_ports_typed() takes a short cut for one protocol condition: it says what the protocol
 * ranges say (filter_field_ranges()), for one protocol, a range, a negation, ORed ones and
 * none, at both IP versions. */
static void test_ports_typed(void **state) {
        static const struct {
                const char *layer;
                WfpMatch match1, match2;
                const char *proto1, *proto2;    /* NULL: no such condition */
                bool typed;
        } cases[] = {
                { "INBOUND_TRANSPORT_V4", WFP_MATCH_EQUAL, 0, "udp", NULL, false },
                { "INBOUND_TRANSPORT_V4", WFP_MATCH_EQUAL, 0, "icmp", NULL, true },
                { "INBOUND_TRANSPORT_V6", WFP_MATCH_EQUAL, 0, "icmp", NULL, false },
                { "INBOUND_TRANSPORT_V6", WFP_MATCH_EQUAL, 0, "icmpv6", NULL, true },
                { "INBOUND_TRANSPORT_V4", WFP_MATCH_RANGE, 0, "0-6", NULL, true },
                { "INBOUND_TRANSPORT_V4", WFP_MATCH_RANGE, 0, "2-17", NULL, false },
                { "INBOUND_TRANSPORT_V6", WFP_MATCH_RANGE, 0, "17-58", NULL, true },
                { "INBOUND_TRANSPORT_V4", WFP_MATCH_NOT_EQUAL, 0, "icmp", NULL, false },
                { "INBOUND_TRANSPORT_V4", WFP_MATCH_NOT_EQUAL, 0, "udp", NULL, true },
                { "INBOUND_TRANSPORT_V4", WFP_MATCH_EQUAL, WFP_MATCH_EQUAL, "udp", "icmp", true },
                { "INBOUND_TRANSPORT_V4", WFP_MATCH_EQUAL, WFP_MATCH_EQUAL, "udp", "tcp", false },
                { "INBOUND_TRANSPORT_V4", 0, 0, NULL, NULL, true },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                ConditionSpec c[3] = { { "IP_LOCAL_PORT", WFP_MATCH_EQUAL, "8" } };
                FilterSpec spec = { .name = "typed?", .layer = (char *) cases[i].layer, .action = WFP_ACTION_BLOCK,
                                    .conditions = c, .n_conditions = 1 };
                uint32_t protos[FILTER_RANGES_MAX][2];
                _cleanup_(engine_freep) Engine *e = NULL;
                Filter *f = NULL;
                uint32_t icmp;
                int n;

                if (cases[i].proto1)
                        c[spec.n_conditions++] = (ConditionSpec) { "IP_PROTOCOL", cases[i].match1,
                                                                   (char *) cases[i].proto1 };
                if (cases[i].proto2)
                        c[spec.n_conditions++] = (ConditionSpec) { "IP_PROTOCOL", cases[i].match2,
                                                                   (char *) cases[i].proto2 };
                assert_int_equal(engine_new(&e), 0);
                assert_int_equal(try_add_filter(e, &spec, NULL, &f), 0);
                icmp = wfp_layer_info(f->layer)->family == 4 ? 1 : 58;
                n = filter_field_ranges(f, WFP_FIELD_IP_PROTOCOL, protos, ELEMENTSOF(protos));
                assert_true(n > 0);
                assert_int_equal(ranges_contain((const uint32_t (*)[2]) protos, n, icmp), cases[i].typed);
                if (filter_ports_typed(f) != cases[i].typed)
                        fail_msg("case %zu: filter_ports_typed() says %s", i, cases[i].typed ? "no" : "yes");
        }
}

/* A condition's value text comes back exactly as given; the common forms are rendered from the
 * parsed value instead of kept (condition-text.c), any other spelling is kept as given. */
static void test_condition_text_forms(void **state) {
        static const struct {
                const char *layer, *field;
                WfpMatch match;
                const char *value;
                bool kept;
        } cases[] = {
                { "INBOUND_TRANSPORT_V4", "IP_PROTOCOL", WFP_MATCH_EQUAL, "udp", false },
                { "INBOUND_TRANSPORT_V4", "IP_PROTOCOL", WFP_MATCH_EQUAL, "17", false },
                { "INBOUND_TRANSPORT_V4", "IP_PROTOCOL", WFP_MATCH_EQUAL, "UDP", true },
                { "INBOUND_TRANSPORT_V4", "IP_PROTOCOL", WFP_MATCH_EQUAL, "0x11", true },
                { "INBOUND_TRANSPORT_V6", "IP_PROTOCOL", WFP_MATCH_EQUAL, "ICMPv6", true },
                { "INBOUND_TRANSPORT_V6", "IP_PROTOCOL", WFP_MATCH_EQUAL, "icmpv6", false },
                { "INBOUND_TRANSPORT_V4", "IP_PROTOCOL", WFP_MATCH_RANGE, "tcp-udp", false },
                { "INBOUND_TRANSPORT_V4", "IP_LOCAL_PORT", WFP_MATCH_EQUAL, "500", false },
                { "INBOUND_TRANSPORT_V4", "IP_LOCAL_PORT", WFP_MATCH_EQUAL, "0500", true },
                { "INBOUND_TRANSPORT_V4", "IP_LOCAL_PORT", WFP_MATCH_NOT_EQUAL, "22", false },
                { "INBOUND_TRANSPORT_V4", "IP_LOCAL_PORT", WFP_MATCH_RANGE, "7000-7010", false },
                { "INBOUND_TRANSPORT_V4", "IP_REMOTE_PORT", WFP_MATCH_GREATER, "1023", false },
                { "INBOUND_TRANSPORT_V4", "IP_REMOTE_PORT", WFP_MATCH_GREATER_OR_EQUAL, "1024", false },
                { "INBOUND_TRANSPORT_V4", "IP_REMOTE_PORT", WFP_MATCH_LESS, "1024", false },
                { "INBOUND_TRANSPORT_V4", "IP_REMOTE_PORT", WFP_MATCH_LESS_OR_EQUAL, "1023", false },
                { "INBOUND_TRANSPORT_V4", "IP_REMOTE_ADDRESS", WFP_MATCH_EQUAL, "10.0.0.1", false },
                { "INBOUND_TRANSPORT_V4", "IP_REMOTE_ADDRESS", WFP_MATCH_EQUAL, "255.255.255.255", false },
                { "INBOUND_TRANSPORT_V4", "IP_REMOTE_ADDRESS", WFP_MATCH_EQUAL, "192.168.100.200/29", false },
                { "INBOUND_TRANSPORT_V4", "IP_REMOTE_ADDRESS", WFP_MATCH_RANGE, "0.0.0.0-9.99.199.255", false },
                { "INBOUND_TRANSPORT_V4", "IP_REMOTE_ADDRESS", WFP_MATCH_EQUAL, "192.0.2.0/24", false },
                { "INBOUND_TRANSPORT_V4", "IP_REMOTE_ADDRESS", WFP_MATCH_EQUAL, "10.0.0.1/32", true },
                { "INBOUND_TRANSPORT_V4", "IP_REMOTE_ADDRESS", WFP_MATCH_EQUAL, "0.0.0.0/0", false },
                { "INBOUND_TRANSPORT_V4", "IP_REMOTE_ADDRESS", WFP_MATCH_RANGE, "10.0.0.1-10.0.0.9", false },
                { "INBOUND_TRANSPORT_V6", "IP_REMOTE_ADDRESS", WFP_MATCH_EQUAL, "2001:db8::/32", false },
                { "INBOUND_TRANSPORT_V6", "IP_REMOTE_ADDRESS", WFP_MATCH_EQUAL, "2001:DB8::1", true },
                { "INBOUND_TRANSPORT_V6", "IP_REMOTE_ADDRESS", WFP_MATCH_EQUAL, "2001:0db8::1", true },
                { "INBOUND_TRANSPORT_V4", "IP_LOCAL_INTERFACE", WFP_MATCH_EQUAL, "eth0", false },
                { "INBOUND_TRANSPORT_V4", "FLAGS", WFP_MATCH_FLAGS_ALL_SET, "loopback", false },
                { "INBOUND_TRANSPORT_V4", "FLAGS", WFP_MATCH_FLAGS_ALL_SET, "loopback,ipsec-secured", false },
                { "INBOUND_TRANSPORT_V4", "FLAGS", WFP_MATCH_FLAGS_ANY_SET, "0x2", false },
                { "INBOUND_TRANSPORT_V4", "FLAGS", WFP_MATCH_FLAGS_ANY_SET, "ipsec | loopback", true },
                { "OUTBOUND_TRANSPORT_V4", "IP_LOCAL_ADDRESS_TYPE", WFP_MATCH_EQUAL, "unicast", false },
                { "OUTBOUND_TRANSPORT_V4", "IP_LOCAL_ADDRESS_TYPE", WFP_MATCH_EQUAL, "3", false },
                { "OUTBOUND_TRANSPORT_V4", "IP_LOCAL_ADDRESS_TYPE", WFP_MATCH_EQUAL, "NlatBroadcast", true },
                { "IPFORWARD_V4", "IP_DESTINATION_ADDRESS_TYPE", WFP_MATCH_EQUAL, "unicast", false },
                { "ALE_FLOW_ESTABLISHED_V4", "DIRECTION", WFP_MATCH_EQUAL, "inbound", false },
                { "ALE_FLOW_ESTABLISHED_V4", "DIRECTION", WFP_MATCH_EQUAL, "0", false },
                { "ALE_FLOW_ESTABLISHED_V4", "DIRECTION", WFP_MATCH_EQUAL, "FWP_DIRECTION_INBOUND", true },
                { "ALE_AUTH_CONNECT_V4", "ALE_USER_ID", WFP_MATCH_EQUAL, "4242", false },
                { "ALE_AUTH_CONNECT_V4", "ALE_USER_ID", WFP_MATCH_EQUAL, "root", true },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                ConditionSpec spec = { (char *) cases[i].field, cases[i].match, (char *) cases[i].value };
                char text[CONDITION_TEXT_MAX];
                Condition c;
                WfpLayer l;

                assert_int_equal(wfp_layer_from_string(cases[i].layer, &l), 0);
                assert_int_equal(condition_parse(l, &spec, NULL, &c), 0);
                assert_string_equal(condition_text(&c, text), cases[i].value);
                if (cases[i].kept)
                        assert_non_null(c.text);
                else
                        assert_null(c.text);
                condition_done(&c);
        }
}

/* conditions_or_excluded(): what an ORed run with negations does not match, as intervals */
static void check_excluded(const char *layer, const ConditionSpec *specs, size_t n, const char *const *want) {
        Condition c[8], ex[9];
        WfpLayer l;
        size_t m, k = 0;

        assert_int_equal(wfp_layer_from_string(layer, &l), 0);
        for (size_t i = 0; i < n; i++)
                assert_int_equal(condition_parse(l, &specs[i], NULL, &c[i]), 0);
        m = conditions_or_excluded(c, n, ex);
        for (; want[k]; k++) {
                Condition w;
                ConditionSpec ws = { specs[0].field, strchr(want[k], '-') ? WFP_MATCH_RANGE : 0, (char *) want[k] };

                assert_true(k < m);
                assert_int_equal(condition_parse(l, &ws, NULL, &w), 0);
                assert_int_equal(ex[k].len, w.len);
                assert_memory_equal(ex[k].lo, w.lo, w.len);
                assert_memory_equal(ex[k].hi, w.hi, w.len);
                condition_done(&w);
        }
        assert_int_equal(m, k);
        for (size_t i = 0; i < n; i++)
                condition_done(&c[i]);
}

static void test_ored_negations(void **state) {
        static const ConditionSpec ports[] = { { "IP_LOCAL_PORT", WFP_MATCH_NOT_EQUAL, "22" },
                                               { "IP_LOCAL_PORT", WFP_MATCH_NOT_EQUAL, "23" } };
        static const ConditionSpec same[] = { { "IP_LOCAL_PORT", WFP_MATCH_NOT_EQUAL, "22" },
                                              { "IP_LOCAL_PORT", WFP_MATCH_NOT_EQUAL, "22" } };
        static const ConditionSpec holes[] = { { "IP_REMOTE_ADDRESS", WFP_MATCH_NOT_EQUAL, "10.0.0.0/8" },
                                               { "IP_REMOTE_ADDRESS", 0, "10.1.0.0/16" },
                                               { "IP_REMOTE_ADDRESS", 0, "10.3.0.1" },
                                               { "IP_REMOTE_ADDRESS", 0, "192.0.2.1" } };
        static const ConditionSpec edges[] = { { "IP_LOCAL_PORT", WFP_MATCH_GREATER, "100" },
                                               { "IP_LOCAL_PORT", WFP_MATCH_NOT_EQUAL, "100" },
                                               { "IP_LOCAL_PORT", WFP_MATCH_LESS, "100" } };
        static const ConditionSpec v6[] = { { "IP_REMOTE_ADDRESS", WFP_MATCH_NOT_EQUAL, "2001:db8::/32" },
                                            { "IP_REMOTE_ADDRESS", WFP_MATCH_NOT_EQUAL, "2001:db8:1::/48" },
                                            { "IP_REMOTE_ADDRESS", 0, "2001:db8:1::1" } };
        static const ConditionSpec covered[] = { { "IP_LOCAL_PORT", WFP_MATCH_RANGE, "100-200" },
                                                 { "IP_LOCAL_PORT", WFP_MATCH_NOT_EQUAL, "150" } };
        static const ConditionSpec names[] = { { "IP_LOCAL_INTERFACE", WFP_MATCH_NOT_EQUAL, "eth0" },
                                               { "IP_LOCAL_INTERFACE", 0, "eth1" } };

        check_excluded("INBOUND_TRANSPORT_V4", ports, 2, (const char *[]) { NULL });    /* matches every port */
        check_excluded("INBOUND_TRANSPORT_V4", same, 2, (const char *[]) { "22", NULL });
        check_excluded("INBOUND_TRANSPORT_V4", holes, 4,
                       (const char *[]) { "10.0.0.0-10.0.255.255", "10.2.0.0-10.3.0.0", "10.3.0.2-10.255.255.255",
                                          NULL });
        check_excluded("INBOUND_TRANSPORT_V4", edges, 3, (const char *[]) { "100", NULL });
        check_excluded("INBOUND_TRANSPORT_V6", covered, 2, (const char *[]) { NULL });
        check_excluded("INBOUND_TRANSPORT_V6", v6, 3,
                       (const char *[]) { "2001:db8:1::-2001:db8:1::", "2001:db8:1::2-2001:db8:1:ffff:ffff:ffff:ffff:ffff",
                                          NULL });
        check_excluded("OUTBOUND_TRANSPORT_V4", names, 2, (const char *[]) { "eth0", NULL });
}

/* FWPM_FILTER_ENUM_TEMPLATE0's conditions: fully contained (the filter lets through all the
 * template names, on the template's fields) and overlapping (some of it). */
static bool tmatch(const Filter *f, const char *field, uint32_t match, const char *value, FilterEnumType type) {
        ConditionSpec spec = { (char *) field, match, (char *) value };
        Condition c;

        assert_int_equal(template_conditions_parse(f->layer, &spec, 1, NULL, &c), 0);
        return filter_template_matches(f, &c, 1, type);
}

/* The forward layers' schema: addresses by source and destination, the two interfaces, the
 * destination's address type, FLAGS; no protocol, ports, local/remote addresses, and the new
 * fields nowhere else. ALE_FLOW_ESTABLISHED: the fields read by direction only with DIRECTION.
 * By name and by the real GUIDs. */
static void test_forward_layers(void **state) {
        Fixture *fx = *state;
        ConditionSpec c[] = {
                { "IP_SOURCE_ADDRESS", 0, "192.0.2.0/24" },
                { "ae96897e-2e94-4bc9-b313-b27ee80e574d", 0, "192.0.2.7" },          /* IP_SOURCE_ADDRESS */
                { "2d79133b-b390-45c6-8699-acaceaafed33", WFP_MATCH_RANGE, "198.51.100.1-198.51.100.9" },
                { "1ec1b7c9-4eea-4f5e-b9ef-76beaaaf17ee", 0, "unicast" },             /* DESTINATION_ADDRESS_TYPE */
                { "IP_LOCAL_INTERFACE", 0, "eth0" },
                { "1076b8a5-6323-4c5e-9810-e8d3fc9e6136", WFP_MATCH_NOT_EQUAL, "eth1" }, /* FORWARD_INTERFACE */
                { "FLAGS", WFP_MATCH_FLAGS_ALL_SET, "ipsec-secured" },
        };
        FilterSpec f = { .name = "fwd", .layer = "a82acc24-4ee1-4ee1-b465-fd1d25cb10a4", .action = WFP_ACTION_BLOCK,
                         .conditions = c, .n_conditions = ELEMENTSOF(c) };
        static char *const refused[] = { "IP_PROTOCOL", "IP_LOCAL_PORT", "IP_REMOTE_PORT", "ICMP_TYPE",
                                         "IP_LOCAL_ADDRESS", "IP_REMOTE_ADDRESS", "IP_LOCAL_ADDRESS_TYPE",
                                         "ALE_USER_ID", "IP_ARRIVAL_INTERFACE" };
        static char *const elsewhere[] = { "IP_SOURCE_ADDRESS", "IP_DESTINATION_ADDRESS",
                                           "IP_DESTINATION_ADDRESS_TYPE", "IP_FORWARD_INTERFACE" };
        ConditionSpec one = { NULL, 0, "1" };
        FilterSpec g = { .name = "g", .action = WFP_ACTION_BLOCK, .conditions = &one, .n_conditions = 1 };
        WfpLayer l;
        uint32_t rtn;
        Filter *x;

        assert_int_equal(wfp_layer_from_string("FWPM_LAYER_IPFORWARD_V4", &l), 0);
        assert_int_equal(l, WFP_LAYER_IPFORWARD_V4);
        assert_int_equal(wfp_layer_from_string("7b964818-19c7-493a-b71f-832c3684d28c", &l), 0);
        assert_int_equal(l, WFP_LAYER_IPFORWARD_V6);
        assert_int_equal(wfp_layer_from_string("af80470a-5596-4c13-9992-539e6fe57967", &l), 0);
        assert_int_equal(l, WFP_LAYER_ALE_FLOW_ESTABLISHED_V4);
        assert_int_equal(wfp_layer_from_string("7021d2b3-dfa4-406e-afeb-6afaf7e70efd", &l), 0);
        assert_int_equal(l, WFP_LAYER_ALE_FLOW_ESTABLISHED_V6);
        assert_true(wfp_layer_is_emitted(WFP_LAYER_IPFORWARD_V6) && wfp_layer_is_inbound(WFP_LAYER_IPFORWARD_V6));
        assert_true(wfp_layer_is_ale(WFP_LAYER_ALE_FLOW_ESTABLISHED_V6));
        assert_false(wfp_layer_is_inbound(WFP_LAYER_ALE_FLOW_ESTABLISHED_V4));

        assert_int_equal(try_add_filter(fx->e, &f, NULL, &x), 0);
        assert_int_equal(x->layer, WFP_LAYER_IPFORWARD_V4);
        assert_int_equal(x->conditions[0].field, WFP_FIELD_IP_SOURCE_ADDRESS);
        assert_int_equal(x->conditions[1].field, WFP_FIELD_IP_SOURCE_ADDRESS);
        assert_int_equal(x->conditions[2].field, WFP_FIELD_IP_DESTINATION_ADDRESS);
        assert_int_equal(x->conditions[2].len, 4);
        assert_int_equal(x->conditions[3].field, WFP_FIELD_IP_DESTINATION_ADDRESS_TYPE);
        memcpy(&rtn, x->conditions[3].lo, sizeof(rtn));
        assert_int_equal(rtn, 1); /* RTN_UNICAST: a forwarded packet's destination is not local */
        assert_int_equal(x->conditions[5].field, WFP_FIELD_IP_FORWARD_INTERFACE);
        assert_true(x->conditions[5].negate);
        assert_int_equal(destination_address_type_parse("NlatMulticast", &rtn), 0);
        assert_int_equal(rtn, 5);

        /* a v4 layer's address is v4; host bits beyond the prefix are refused as elsewhere */
        c[0].value = "2001:db8::1";
        expect_filter_error(fx->e, &f, FWP_E_TYPE_MISMATCH, "IP_SOURCE_ADDRESS");
        c[0].value = "192.0.2.1/24";
        expect_filter_error(fx->e, &f, FWP_E_INVALID_NET_MASK, "192.0.2.1/24");
        c[0].value = "192.0.2.0/24";
        f.layer = "IPFORWARD_V6";
        expect_filter_error(fx->e, &f, FWP_E_TYPE_MISMATCH, "IPv6");

        g.layer = "IPFORWARD_V4";
        for (size_t i = 0; i < ELEMENTSOF(refused); i++) {
                one.field = refused[i];
                one.value = streq(refused[i], "IP_LOCAL_ADDRESS") || streq(refused[i], "IP_REMOTE_ADDRESS")
                                    ? "192.0.2.1" : "1";
                expect_filter_error(fx->e, &g, FWP_E_CONDITION_NOT_FOUND,
                                    streq(refused[i], "IP_ARRIVAL_INTERFACE") ? "unknown condition field"
                                                                               : "has no condition field");
        }
        for (size_t i = 0; i < ELEMENTSOF(elsewhere); i++) {
                one.field = elsewhere[i];
                one.value = "1";
                g.layer = "INBOUND_TRANSPORT_V4";
                expect_filter_error(fx->e, &g, FWP_E_CONDITION_NOT_FOUND, elsewhere[i]);
                g.layer = "ALE_AUTH_CONNECT_V6";
                expect_filter_error(fx->e, &g, FWP_E_CONDITION_NOT_FOUND, elsewhere[i]);
        }

        g.layer = "ALE_FLOW_ESTABLISHED_V4";
        one = (ConditionSpec) { "IP_PROTOCOL", 0, "udp" };
        assert_int_equal(try_add_filter(fx->e, &g, NULL, &x), 0);
        assert_int_equal(x->layer, WFP_LAYER_ALE_FLOW_ESTABLISHED_V4);
        one = (ConditionSpec) { "IP_REMOTE_PORT", 0, "53" };
        expect_filter_error(fx->e, &g, FWP_E_CONDITION_NOT_FOUND, "both directions");
        one = (ConditionSpec) { "IP_LOCAL_ADDRESS", 0, "192.0.2.1" };
        expect_filter_error(fx->e, &g, FWP_E_CONDITION_NOT_FOUND, "both directions");
        one = (ConditionSpec) { "FLAGS", WFP_MATCH_FLAGS_ALL_SET, "loopback" };
        expect_filter_error(fx->e, &g, FWP_E_CONDITION_NOT_FOUND, "both directions");
        assert_false(filter_is_inbound(x));

        /* with a DIRECTION condition they are taken, read that way */
        {
                ConditionSpec d[] = { { "IP_PROTOCOL", 0, "udp" }, { "IP_LOCAL_PORT", 0, "53" },
                                      { "8784c146-ca97-44d6-9fd1-19fb1840cbf7", 0, "FWP_DIRECTION_INBOUND" },
                                      { "DIRECTION", 0, "outbound" } };
                FilterSpec h = { .name = "h", .layer = "ALE_FLOW_ESTABLISHED_V6", .action = WFP_ACTION_BLOCK,
                                 .conditions = d, .n_conditions = 3 };

                assert_int_equal(try_add_filter(fx->e, &h, NULL, &x), 0);
                assert_int_equal(x->conditions[2].field, WFP_FIELD_DIRECTION);
                assert_true(filter_is_inbound(x));
                d[2].value = "0";
                assert_int_equal(try_add_filter(fx->e, &h, NULL, &x), 0);
                assert_false(filter_is_inbound(x));
                h.n_conditions = 4;
                expect_filter_error(fx->e, &h, FWP_E_DUPLICATE_CONDITION, "one DIRECTION condition");
                h.n_conditions = 3;
                d[2].value = "sideways";
                expect_filter_error(fx->e, &h, FWP_E_TYPE_MISMATCH, "'sideways'");
                d[2].value = "inbound";
                d[2].match = WFP_MATCH_NOT_EQUAL;
                expect_filter_error(fx->e, &h, FWP_E_MATCH_TYPE_MISMATCH, "DIRECTION");
                d[2].match = 0;
                h.layer = "INBOUND_TRANSPORT_V6";
                expect_filter_error(fx->e, &h, FWP_E_CONDITION_NOT_FOUND, "DIRECTION at ALE_FLOW_ESTABLISHED");
        }
}

static void test_enum_template_conditions(void **state) {
        Fixture *fx = *state;
        ConditionSpec conds[] = { { "IP_PROTOCOL", 0, "udp" }, { "IP_LOCAL_PORT", WFP_MATCH_RANGE, "7000-7010" },
                                  { "IP_REMOTE_ADDRESS", WFP_MATCH_NOT_EQUAL, "10.0.0.0/8" },
                                  { "FLAGS", WFP_MATCH_FLAGS_NONE_SET, "loopback" } };
        FilterSpec spec = { .name = "f", .layer = "INBOUND_TRANSPORT_V4", .action = WFP_ACTION_BLOCK,
                            .conditions = conds, .n_conditions = ELEMENTSOF(conds) };
        const FilterEnumType C = FILTER_ENUM_FULLY_CONTAINED, O = FILTER_ENUM_OVERLAPPING;
        EngineError err;
        Filter *f;

        assert_int_equal(try_add_filter(fx->e, &spec, NULL, &f), 0);
        assert_true(filter_template_matches(f, NULL, 0, C));           /* no conditions: every filter */
        assert_true(tmatch(f, "IP_LOCAL_PORT", 0, "7005", C));
        assert_true(tmatch(f, "IP_LOCAL_PORT", WFP_MATCH_RANGE, "7000-7010", C));
        assert_false(tmatch(f, "IP_LOCAL_PORT", WFP_MATCH_RANGE, "7000-7011", C));
        assert_true(tmatch(f, "IP_LOCAL_PORT", WFP_MATCH_RANGE, "7000-7011", O));
        assert_false(tmatch(f, "IP_LOCAL_PORT", WFP_MATCH_RANGE, "7011-7020", O));
        assert_false(tmatch(f, "IP_LOCAL_PORT", WFP_MATCH_NOT_EQUAL, "7005", C));
        assert_true(tmatch(f, "IP_LOCAL_PORT", WFP_MATCH_NOT_EQUAL, "7005", O));
        assert_true(tmatch(f, "IP_PROTOCOL", 0, "udp", C));
        assert_false(tmatch(f, "IP_PROTOCOL", 0, "tcp", O));
        /* a negated condition of the filter: everything but 10/8 */
        assert_true(tmatch(f, "IP_REMOTE_ADDRESS", 0, "192.0.2.0/24", C));
        assert_false(tmatch(f, "IP_REMOTE_ADDRESS", 0, "10.1.0.0/16", O));
        assert_true(tmatch(f, "IP_REMOTE_ADDRESS", WFP_MATCH_RANGE, "9.255.255.255-10.0.0.0", O));
        assert_false(tmatch(f, "IP_REMOTE_ADDRESS", WFP_MATCH_RANGE, "9.255.255.255-10.0.0.0", C));
        /* a field the filter does not constrain: it lets everything through */
        assert_true(tmatch(f, "IP_LOCAL_INTERFACE", 0, "veth0", C));
        assert_true(tmatch(f, "IP_REMOTE_PORT", WFP_MATCH_NOT_EQUAL, "500", C));
        /* FLAGS: none set loopback lets through "secured" and "neither" */
        assert_true(tmatch(f, "FLAGS", WFP_MATCH_FLAGS_ALL_SET, "ipsec-secured", O));
        assert_false(tmatch(f, "FLAGS", WFP_MATCH_FLAGS_ALL_SET, "ipsec-secured", C)); /* secured and loopback */
        assert_true(tmatch(f, "FLAGS", WFP_MATCH_FLAGS_NONE_SET, "loopback", C));
        assert_false(tmatch(f, "FLAGS", WFP_MATCH_FLAGS_ANY_SET, "loopback", O));

        /* two groups on one field are ANDed: ports 7000-7010 and (7005 or 8000) lets 7005 through */
        ConditionSpec twice[] = { { "IP_LOCAL_PORT", WFP_MATCH_RANGE, "7000-7010" }, { "IP_PROTOCOL", 0, "udp" },
                                  { "IP_LOCAL_PORT", 0, "7005" }, { "IP_LOCAL_PORT", 0, "8000" } };
        FilterSpec spec2 = { .name = "g", .layer = "INBOUND_TRANSPORT_V4", .action = WFP_ACTION_BLOCK,
                             .conditions = twice, .n_conditions = ELEMENTSOF(twice) };
        Filter *g;
        assert_int_equal(try_add_filter(fx->e, &spec2, NULL, &g), 0);
        assert_true(tmatch(g, "IP_LOCAL_PORT", 0, "7005", C));
        assert_false(tmatch(g, "IP_LOCAL_PORT", 0, "8000", O));

        /* distinct fields only; the layer's fields only */
        Condition c[2];
        ConditionSpec dup[] = { { "IP_LOCAL_PORT", 0, "1" }, { "IP_LOCAL_PORT", 0, "2" } };
        assert_int_equal(template_conditions_parse(WFP_LAYER_INBOUND_TRANSPORT_V4, dup, 2, &err, c),
                         wfp_ret(FWP_E_DUPLICATE_CONDITION));
        ConditionSpec user = { "ALE_USER_ID", 0, "0" };
        assert_int_equal(template_conditions_parse(WFP_LAYER_INBOUND_TRANSPORT_V4, &user, 1, &err, c),
                         wfp_ret(FWP_E_CONDITION_NOT_FOUND));
}

/* Provider contexts by runtime id, as FwpmProviderContextGetById0/DeleteById0 have them. */
static void test_context_by_id(void **state) {
        Fixture *fx = *state;
        ProviderContext *c = add_context(fx->e, 1), *other = add_context(fx->e, 8);
        EngineError err;
        void *o;

        assert_int_not_equal(c->id, other->id);
        assert_int_equal(engine_get_object_by_id(fx->e, OBJECT_PROVIDER_CONTEXT, other->id, &err, &o), 0);
        assert_ptr_equal(o, other);
        assert_int_equal(engine_get_object_by_id(fx->e, OBJECT_PROVIDER_CONTEXT, 999, &err, &o),
                         wfp_ret(FWP_E_PROVIDER_CONTEXT_NOT_FOUND));
        assert_string_equal(err.message, "no provider context with id 999");
        assert_int_equal(engine_get_object_by_id(fx->e, OBJECT_PROVIDER, 1, &err, &o), -EINVAL);

        FilterSpec f = { .name = "uses c", .layer = "INBOUND_TRANSPORT_V4", .provider_context_key = c->key };
        Filter *x;
        assert_int_equal(try_add_filter(fx->e, &f, &err, &x), 0);
        assert_int_equal(engine_begin(fx->e), 0);
        assert_int_equal(engine_delete_object_by_id(fx->e, OBJECT_PROVIDER_CONTEXT, c->id, &err), wfp_ret(FWP_E_IN_USE));
        assert_int_equal(engine_delete_object_by_id(fx->e, OBJECT_PROVIDER_CONTEXT, 999, &err),
                         wfp_ret(FWP_E_PROVIDER_CONTEXT_NOT_FOUND));
        assert_int_equal(engine_delete_object_by_id(fx->e, OBJECT_FILTER, x->id, &err), 0);
        assert_int_equal(engine_delete_object_by_id(fx->e, OBJECT_PROVIDER_CONTEXT, c->id, &err), 0);
        engine_commit(fx->e);
        assert_null(engine_get_provider_context(fx->e, &f.provider_context_key));
        assert_ptr_equal(engine_provider_contexts(fx->e), other);
}

/* The third lifetime rule: a persistent object may not reference another provider's persistent
 * object; its own provider's, one without a provider, or a static one of its own are fine. */
static void test_lifetime_other_provider(void **state) {
        Fixture *fx = *state;
        EngineError err;
        Provider *a, *b;
        Sublayer *sa, *plain;
        ProviderContext *ca;

        assert_int_equal(engine_begin(fx->e), 0);
        assert_int_equal(engine_add_provider(fx->e, &(ProviderSpec) { .name = "a", .flags = WFP_FLAG_PERSISTENT },
                                             NULL, &a), 0);
        assert_int_equal(engine_add_provider(fx->e, &(ProviderSpec) { .name = "b", .flags = WFP_FLAG_PERSISTENT },
                                             NULL, &b), 0);
        assert_int_equal(engine_add_sublayer(fx->e, &(SublayerSpec) { .name = "a's", .flags = WFP_FLAG_PERSISTENT,
                                                                      .provider_key = a->key }, NULL, &sa), 0);
        assert_int_equal(engine_add_sublayer(fx->e, &(SublayerSpec) { .name = "nobody's",
                                                                      .flags = WFP_FLAG_PERSISTENT }, NULL, &plain), 0);
        assert_int_equal(engine_add_provider_context(fx->e, &(ProviderContextSpec) {
                .name = "a's", .type = 1, .flags = WFP_FLAG_PERSISTENT, .provider_key = a->key }, NULL, &ca), 0);
        engine_commit(fx->e);

        FilterSpec f = { .name = "b's", .layer = "INBOUND_TRANSPORT_V4", .flags = WFP_FLAG_PERSISTENT,
                         .provider_key = b->key, .sublayer_key = sa->key };
        assert_int_equal(try_add_filter(fx->e, &f, &err, NULL), wfp_ret(FWP_E_LIFETIME_MISMATCH));
        assert_non_null(strstr(err.message, "of another provider"));
        assert_null(engine_filters(fx->e));
        /* a context of another provider likewise */
        f.sublayer_key = plain->key;
        f.provider_context_key = ca->key;
        assert_int_equal(try_add_filter(fx->e, &f, &err, NULL), wfp_ret(FWP_E_LIFETIME_MISMATCH));
        /* the same provider's, one without a provider, and no provider of its own: fine */
        f.provider_context_key = (BfeGuid) {};
        assert_int_equal(try_add_filter(fx->e, &f, &err, NULL), 0);
        FilterSpec own = { .name = "a's", .layer = "INBOUND_TRANSPORT_V4", .flags = WFP_FLAG_PERSISTENT,
                           .provider_key = a->key, .sublayer_key = sa->key, .provider_context_key = ca->key };
        assert_int_equal(try_add_filter(fx->e, &own, &err, NULL), 0);
        FilterSpec none = { .name = "nobody's", .layer = "INBOUND_TRANSPORT_V4", .flags = WFP_FLAG_PERSISTENT,
                            .sublayer_key = sa->key };
        assert_int_equal(try_add_filter(fx->e, &none, &err, NULL), 0);
        /* a static filter of b may use a's persistent sublayer: the rule is about persistent ones */
        FilterSpec stat = { .name = "b's static", .layer = "INBOUND_TRANSPORT_V4", .provider_key = b->key,
                            .sublayer_key = sa->key };
        assert_int_equal(try_add_filter(fx->e, &stat, &err, NULL), 0);
        /* a built-in sublayer is nobody's persistent object */
        FilterSpec builtin = { .name = "b's in a built-in", .layer = "INBOUND_TRANSPORT_V4",
                               .flags = WFP_FLAG_PERSISTENT, .provider_key = b->key };
        assert_int_equal(wfp_builtin_sublayer_from_name("TEREDO", &builtin.sublayer_key), 0);
        assert_int_equal(try_add_filter(fx->e, &builtin, &err, NULL), 0);
}

/* fwpmu.h's built-in providers and sublayers: there from the start, found by key, never deleted,
 * usable by filters whatever their lifetime; the exemptions name FWPM_PROVIDER_IKEEXT. */
static void test_builtin_objects(void **state) {
        static const struct {
                const char *name, *guid;
        } providers[] = {
                { "FWPM_PROVIDER_IKEEXT", "10ad9216-ccde-456c-8b16-e9f04e60a90b" },
                { "FWPM_PROVIDER_IPSEC_DOSP_CONFIG", "3c6c05a9-c05c-4bb9-8338-2327814ce8bf" },
                { "FWPM_PROVIDER_TCP_CHIMNEY_OFFLOAD", "896aa19e-9a34-4bcb-ae79-beb9127c84b9" },
                { "FWPM_PROVIDER_TCP_TEMPLATES", "76cfcd30-3394-432d-bed3-441ae50e63c3" },
        }, sublayers[] = {
                { "FWPM_SUBLAYER_UNIVERSAL", "eebecc03-ced4-4380-819a-2734397b2b74" },
                { "FWPM_SUBLAYER_INSPECTION", "877519e1-e6a9-41a5-81b4-8c4f118e4a60" },
                { "FWPM_SUBLAYER_IPSEC_TUNNEL", "83f299ed-9ff4-4967-aff4-c309f4dab827" },
                { "FWPM_SUBLAYER_IPSEC_FORWARD_OUTBOUND_TUNNEL", "a5082e73-8f71-4559-8a9a-101cea04ef87" },
                { "FWPM_SUBLAYER_IPSEC_DOSP", "e076d572-5d3d-48ef-802b-909eddb098bd" },
                { "FWPM_SUBLAYER_IPSEC_SECURITY_REALM", "37a57701-5884-4964-92b8-3e704688b0ad" },
                { "FWPM_SUBLAYER_RPC_AUDIT", "758c84f4-fb48-4de9-9aeb-3ed9551ab1fd" },
                { "FWPM_SUBLAYER_LIPS", "1b75c0ce-ff60-4711-a70f-b4958cc3b2d0" },
                { "FWPM_SUBLAYER_SECURE_SOCKET", "15a66e17-3f3c-4f7b-aa6c-812aa613dd82" },
                { "FWPM_SUBLAYER_TCP_CHIMNEY_OFFLOAD", "337608b9-b7d5-4d5f-82f9-3618618bc058" },
                { "FWPM_SUBLAYER_TCP_TEMPLATES", "24421dcf-0ac5-4caa-9e14-50f6e3636af0" },
                { "FWPM_SUBLAYER_TEREDO", "ba69dc66-5176-4979-9c89-26a7b46a8327" },
        };
        Fixture *fx = *state;
        EngineError err;
        BfeGuid key, ikeext, tunnel;
        size_t n = 0;

        for (Provider *p = engine_providers(fx->e); p; p = p->next)
                n++;
        assert_int_equal(n, ELEMENTSOF(providers));
        for (size_t i = 0; i < ELEMENTSOF(providers); i++) {
                Provider *p;

                assert_int_equal(guid_from_string(providers[i].guid, &key), 0);
                p = engine_get_provider(fx->e, &key);
                assert_non_null(p);
                assert_true(p->builtin);
                assert_string_equal(p->name, providers[i].name);
                assert_int_equal(engine_begin(fx->e), 0);
                assert_int_equal(engine_delete_provider(fx->e, &key, &err), wfp_ret(FWP_E_BUILTIN_OBJECT));
                assert_non_null(strstr(err.message, providers[i].name));
                ProviderSpec again = { .name = "mine", .key = key };
                assert_int_equal(engine_add_provider(fx->e, &again, &err, NULL), wfp_ret(FWP_E_ALREADY_EXISTS));
                engine_abort(fx->e);
        }
        n = 0;
        for (Sublayer *s = engine_sublayers(fx->e); s; s = s->next) {
                if (s->next)
                        assert_true(s->weight > s->next->weight); /* distinct weights, highest first */
                n++;
        }
        assert_int_equal(n, ELEMENTSOF(sublayers));
        for (size_t i = 0; i < ELEMENTSOF(sublayers); i++) {
                Sublayer *s;

                assert_int_equal(guid_from_string(sublayers[i].guid, &key), 0);
                s = engine_get_sublayer(fx->e, &key);
                assert_non_null(s);
                assert_true(s->builtin);
                assert_string_equal(s->name, sublayers[i].name);
                assert_int_equal(wfp_builtin_sublayer_from_name(sublayers[i].name, &tunnel), 0);
                assert_true(guid_equal(&tunnel, &key));
                assert_int_equal(engine_begin(fx->e), 0);
                assert_int_equal(engine_delete_sublayer(fx->e, &key, &err), wfp_ret(FWP_E_BUILTIN_OBJECT));
                engine_abort(fx->e);
        }
        /* the alias of TEREDO, without the prefix and in any case */
        assert_int_equal(wfp_builtin_sublayer_from_name("edge_traversal", &key), 0);
        assert_string_equal(guid_str(&key), "ba69dc66-5176-4979-9c89-26a7b46a8327");
        assert_int_equal(wfp_builtin_sublayer_from_name("FWPM_SUBLAYER_EDGE_TRAVERSAL", &key), 0);
        assert_string_equal(guid_str(&key), "ba69dc66-5176-4979-9c89-26a7b46a8327");
        assert_int_equal(wfp_builtin_sublayer_from_name("NO_SUCH", &key), -ENOENT);

        /* a persistent filter may name a built-in provider and sublayer: they never die */
        assert_int_equal(guid_from_string(WFP_PROVIDER_IKEEXT_GUID, &ikeext), 0);
        assert_int_equal(wfp_builtin_sublayer_from_name("IPSEC_TUNNEL", &tunnel), 0);
        FilterSpec spec = { .name = "in IPSEC_TUNNEL", .layer = "INBOUND_TRANSPORT_V4", .action = WFP_ACTION_BLOCK,
                            .flags = WFP_FLAG_PERSISTENT, .provider_key = ikeext, .sublayer_key = tunnel };
        Filter *f;
        assert_int_equal(try_add_filter(fx->e, &spec, &err, &f), 0);
        assert_true(guid_equal(&f->sublayer->key, &tunnel));
        assert_int_equal(engine_get_sublayer(fx->e, &tunnel)->n_refs, 1);
        assert_int_equal(engine_begin(fx->e), 0);
        assert_int_equal(engine_delete_sublayer(fx->e, &tunnel, &err), wfp_ret(FWP_E_BUILTIN_OBJECT));
        assert_int_equal(engine_delete_filter_by_id(fx->e, f->id, &err), 0);
        engine_commit(fx->e);

        /* the exemption filters' provider is FWPM_PROVIDER_IKEEXT */
        ProviderContext *c = add_context(fx->e, WFP_CONTEXT_TYPE_IPSEC_IKE_MM);
        FilterSpec mm = { .name = "mm", .layer = "IKEEXT_V4", .provider_context_key = c->key };
        assert_int_equal(try_add_filter(fx->e, &mm, &err, NULL), 0);
        n = 0;
        for (Filter *x = engine_filters(fx->e); x; x = x->next)
                if (x->engine_owned) {
                        assert_non_null(x->provider);
                        assert_true(guid_equal(&x->provider->key, &ikeext));
                        n++;
                }
        assert_int_equal(n, 14);
}

/* condition_prefix_len()'s definition, a bit at a time. */
static int prefix_len_bitwise(const Condition *c) {
        unsigned bits = c->len * 8u, plen = 0;

        while (plen < bits && !((c->lo[plen / 8] ^ c->hi[plen / 8]) & (0x80 >> (plen % 8))))
                plen++;
        for (unsigned b = plen; b < bits; b++)
                if ((c->lo[b / 8] & (0x80 >> (b % 8))) || !(c->hi[b / 8] & (0x80 >> (b % 8))))
                        return -1;
        return (int) plen;
}

/* Every prefix of a 4- and a 16-byte value, and values that are not one: a flipped bit in the
 * host part of either end, anywhere. */
static void test_prefix_len(void **state) {
        Condition c = {};
        unsigned checked = 0;

        for (uint8_t len = 1; len <= 16; len = (uint8_t) (len == 1 ? 4 : len == 4 ? 16 : 17))
                for (unsigned plen = 0; plen <= len * 8u; plen++) {
                        c.len = len;
                        for (unsigned i = 0; i < len; i++) {
                                uint8_t net = (uint8_t) (0x5a + 37 * i), keep = 0;

                                for (unsigned bit = 0; bit < 8; bit++)
                                        if (i * 8 + bit < plen)
                                                keep |= (uint8_t) (0x80 >> bit);
                                c.lo[i] = net & keep;
                                c.hi[i] = (uint8_t) (net | ~keep);
                        }
                        assert_int_equal(condition_prefix_len(&c), (int) plen);
                        for (unsigned b = plen; b < len * 8u; b++) {
                                Condition d = c;

                                d.lo[b / 8] ^= (uint8_t) (0x80 >> (b % 8));
                                assert_int_equal(condition_prefix_len(&d), prefix_len_bitwise(&d));
                                d = c;
                                d.hi[b / 8] ^= (uint8_t) (0x80 >> (b % 8));
                                assert_int_equal(condition_prefix_len(&d), prefix_len_bitwise(&d));
                                checked += 2;
                        }
                }
        assert_true(checked > 16000);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_prefix_len),
                cmocka_unit_test_setup_teardown(test_exemptions_refcount, setup, teardown),
                cmocka_unit_test_setup_teardown(test_exemptions_context_types, setup, teardown),
                cmocka_unit_test_setup_teardown(test_exemption_set_contents, setup, teardown),
                cmocka_unit_test_setup_teardown(test_abort_restores, setup, teardown),
                cmocka_unit_test_setup_teardown(test_journal, setup, teardown),
                cmocka_unit_test_setup_teardown(test_filter_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_unicode_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_condition_texts, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reference_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_lifetimes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_error_messages, setup, teardown),
                cmocka_unit_test_setup_teardown(test_boottime, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pins, setup, teardown),
                cmocka_unit_test_setup_teardown(test_builtin_objects, setup, teardown),
                cmocka_unit_test_setup_teardown(test_lifetime_other_provider, setup, teardown),
                cmocka_unit_test_setup_teardown(test_context_by_id, setup, teardown),
                cmocka_unit_test(test_ored_negations),
                cmocka_unit_test(test_condition_text_forms),
                cmocka_unit_test(test_ports_typed),
                cmocka_unit_test_setup_teardown(test_permit_if_callout_unregistered, setup, teardown),
                cmocka_unit_test_setup_teardown(test_local_address_type, setup, teardown),
                cmocka_unit_test_setup_teardown(test_forward_layers, setup, teardown),
                cmocka_unit_test_setup_teardown(test_enum_template_conditions, setup, teardown),
                cmocka_unit_test(test_error_table),
                cmocka_unit_test(test_guid),
                cmocka_unit_test(test_guid_pool),
                cmocka_unit_test(test_decimal),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
