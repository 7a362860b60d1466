/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-weight.c — automatic weights, weight ranges, explicit weights and the evaluation order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "engine.h"
#include "macro.h"

static uint64_t auto_weight_of(const char *layer, const ConditionSpec *specs, size_t n) {
        Condition c[8];
        WfpLayer l;
        uint64_t w;

        assert_int_equal(wfp_layer_from_string(layer, &l), 0);
        for (size_t i = 0; i < n; i++)
                assert_int_equal(condition_parse(l, &specs[i], NULL, &c[i]), 0);
        w = filter_auto_weight(c, n);
        for (size_t i = 0; i < n; i++)
                condition_done(&c[i]);
        assert_true(w <= WFP_AUTO_WEIGHT_MAX);
        return w;
}

static void test_auto_weight_specificity(void **state) {
        const ConditionSpec proto = { "IP_PROTOCOL", 0, "udp" };
        const ConditionSpec port = { "IP_LOCAL_PORT", 0, "500" };
        const ConditionSpec host4 = { "IP_REMOTE_ADDRESS", 0, "192.0.2.1" };
        const ConditionSpec net4 = { "IP_REMOTE_ADDRESS", 0, "192.0.2.0/24" };
        const ConditionSpec host6 = { "IP_REMOTE_ADDRESS", 0, "2001:db8::1" };
        const ConditionSpec two_ports[] = { { "IP_LOCAL_PORT", 0, "500" }, { "IP_LOCAL_PORT", 0, "4500" } };
        const ConditionSpec proto_port[] = { proto, port };
        const ConditionSpec proto_port_host[] = { proto, port, host4 };

        uint64_t none = filter_auto_weight(NULL, 0);
        uint64_t w_proto = auto_weight_of("INBOUND_TRANSPORT_V4", &proto, 1);
        uint64_t w_port = auto_weight_of("INBOUND_TRANSPORT_V4", &port, 1);
        uint64_t w_host4 = auto_weight_of("INBOUND_TRANSPORT_V4", &host4, 1);
        uint64_t w_net4 = auto_weight_of("INBOUND_TRANSPORT_V4", &net4, 1);
        uint64_t w_host6 = auto_weight_of("INBOUND_TRANSPORT_V6", &host6, 1);
        uint64_t w_two = auto_weight_of("INBOUND_TRANSPORT_V4", two_ports, 2);
        uint64_t w_pp = auto_weight_of("INBOUND_TRANSPORT_V4", proto_port, 2);
        uint64_t w_pph = auto_weight_of("INBOUND_TRANSPORT_V4", proto_port_host, 3);

        assert_int_equal(none, 0);
        assert_true(w_proto > none);
        assert_true(w_port > w_proto);          /* a port is 16 bits, a protocol 8 */
        assert_true(w_host4 > w_net4);          /* longer prefix weighs more */
        assert_int_equal(w_host4, w_host6);     /* a v4 host is as specific as a v6 host */
        assert_true(w_port > w_two);            /* one port is narrower than either of two */
        assert_true(w_pp > w_host4);            /* more fields beat narrower fields */
        assert_true(w_pph > w_pp);
        /* the documented formula: fields << 52 | specificity << 40 */
        assert_int_equal(w_pp, (UINT64_C(2) << 52) | (UINT64_C(24) << 40));
        assert_int_equal(w_two, (UINT64_C(1) << 52) | (UINT64_C(15) << 40));
        assert_int_equal(w_net4, (UINT64_C(1) << 52) | (UINT64_C(96) << 40));
}

static Filter *add(Engine *e, const char *name, WeightKind kind, uint64_t weight) {
        FilterSpec spec = { .name = (char *) name, .layer = "INBOUND_TRANSPORT_V4", .action = WFP_ACTION_BLOCK,
                            .weight_kind = (BfeWeightKind) kind, .weight = weight };
        Filter *f;

        assert_int_equal(engine_begin(e), 0);
        assert_int_equal(engine_add_filter(e, &spec, NULL, &f), 0);
        engine_commit(e);
        return f;
}

static void test_order(void **state) {
        Engine *e;
        /* Range r gives r << 60 | auto; with no conditions auto is 0, so range 12 equals the explicit
         * 0xC << 60 and range 0 equals auto: those ties go to the earlier-added filter. */
        const char *expected[] = { "explicit-max", "range-15", "explicit-12", "range-12", "range-1",
                                   "auto-a", "range-0", "auto-b" };
        Filter *f;
        size_t i = 0;

        assert_int_equal(engine_new(&e), 0);
        add(e, "auto-a", WEIGHT_AUTO, 0);
        add(e, "range-0", WEIGHT_RANGE, 0);
        add(e, "range-15", WEIGHT_RANGE, 15);
        add(e, "explicit-12", WEIGHT_EXPLICIT, UINT64_C(0xC) << 60);
        add(e, "range-1", WEIGHT_RANGE, 1);
        add(e, "range-12", WEIGHT_RANGE, 12);
        add(e, "auto-b", WEIGHT_AUTO, 0);  /* ties with auto-a: the earlier one first */
        f = add(e, "explicit-max", WEIGHT_EXPLICIT, UINT64_MAX);
        assert_int_equal(f->effective_weight, UINT64_MAX);

        for (f = engine_universal_sublayer(e)->filters_head[WFP_LAYER_INBOUND_TRANSPORT_V4]; f; f = f->lnext) {
                if (i < sizeof(expected) / sizeof(expected[0]))
                        assert_string_equal(f->name, expected[i]);
                i++;
        }
        assert_int_equal(i, 8);
        engine_free(e);
}

/* Filters inserted in a scrambled weight order, with many ties, land sorted: highest weight
 * first, ties by age, whichever end of the list the insertion searched from. */
static void test_order_many(void **state) {
        const uint64_t weights[] = { 0, 1, 2, 3, UINT64_C(1) << 40, UINT64_C(0xC) << 60, UINT64_MAX };
        Engine *e;
        Filter *f, *prev = NULL;
        size_t n = 0;
        uint32_t x = 1;

        assert_int_equal(engine_new(&e), 0);
        for (int i = 0; i < 600; i++) {
                x = x * 1103515245u + 12345u;   /* a fixed pseudo-random sequence */
                (void) add(e, "f", WEIGHT_EXPLICIT, weights[(x >> 16) % ELEMENTSOF(weights)]);
        }
        for (f = engine_universal_sublayer(e)->filters_head[WFP_LAYER_INBOUND_TRANSPORT_V4]; f; f = f->lnext) {
                assert_ptr_equal(f->lprev, prev);
                if (prev) {
                        assert_true(prev->effective_weight >= f->effective_weight);
                        if (prev->effective_weight == f->effective_weight)
                                assert_true(prev->id < f->id);
                }
                prev = f;
                n++;
        }
        assert_ptr_equal(engine_universal_sublayer(e)->filters_tail[WFP_LAYER_INBOUND_TRANSPORT_V4], prev);
        assert_int_equal(n, 600);
        engine_free(e);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_auto_weight_specificity),
                cmocka_unit_test(test_order),
                cmocka_unit_test(test_order_many),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
