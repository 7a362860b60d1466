/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-filter-order.c — a filter's place in its sublayer's evaluation order (filter-order.c): the
 * lists against a brute-force sort of the live filters (higher effective weight first, equal ones in
 * order of addition), and each list's index against its list, after adds, deletes and aborts.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine.h"
#include "engine-internal.h"
#include "macro.h"

#define LAYER "INBOUND_TRANSPORT_V4"

static uint64_t rng_state;

static uint64_t rnd(void) {
        /* xorshift64*: the same sequence on every run */
        rng_state ^= rng_state >> 12;
        rng_state ^= rng_state << 25;
        rng_state ^= rng_state >> 27;
        return rng_state * UINT64_C(2685821657736338717);
}

static int setup(void **state) {
        Engine *e = NULL;

        assert_int_equal(engine_new(&e), 0);
        rng_state = UINT64_C(0x9e3779b97f4a7c15);
        *state = e;
        return 0;
}

static int teardown(void **state) {
        engine_free(*state);
        return 0;
}

/* The brute-force order: by effective weight, highest first; equal ones in order of addition (ids
 * grow with it). */
static int compare_expected(const void *a, const void *b) {
        const Filter *x = *(const Filter *const *) a, *y = *(const Filter *const *) b;

        if (x->effective_weight != y->effective_weight)
                return x->effective_weight > y->effective_weight ? -1 : 1;
        return x->id < y->id ? -1 : x->id > y->id;
}

/* Every list of every sublayer agrees with its index, and is the brute-force order of its filters. */
static void check_order(Engine *e) {
        size_t n = engine_n_filters(e), k;
        Filter **all = calloc(n + 1, sizeof(*all));

        assert_non_null(all);
        for (Sublayer *s = engine_sublayers(e); s; s = s->next)
                for (WfpLayer l = 0; l < _WFP_LAYER_MAX; l++)
                        for (int boot = 0; boot < 2; boot++) {
                                const Filter *g = boot ? s->boot_head[l] : s->filters_head[l];
                                const Filter *last = NULL;

                                assert_int_equal(filter_order_check(s, l, boot), 0);
                                k = 0;
                                for (Filter *f = engine_filters(e); f; f = f->next)
                                        if (f->sublayer == s && f->layer == l && filter_is_boottime(f) == boot)
                                                all[k++] = f;
                                qsort(all, k, sizeof(*all), compare_expected);
                                for (size_t i = 0; i < k; i++, g = g->lnext) {
                                        assert_ptr_equal(g, all[i]);
                                        assert_ptr_equal(g->lprev, last);
                                        last = g;
                                }
                                assert_null(g);
                                assert_ptr_equal(boot ? s->boot_tail[l] : s->filters_tail[l], last);
                        }
        free(all);
}

/* A filter of LAYER with an explicit weight (or none: UINT64_MAX), in the open transaction. */
static Filter *add(Engine *e, uint64_t weight, bool boot) {
        FilterSpec spec = {
                .name = (char *) "f", .layer = (char *) LAYER, .action = WFP_ACTION_BLOCK,
                .flags = boot ? WFP_FILTER_FLAG_BOOTTIME : 0,
                .weight_kind = weight == UINT64_MAX ? BFE_WEIGHT_AUTO : BFE_WEIGHT_EXPLICIT,
                .weight = weight == UINT64_MAX ? 0 : weight,
        };
        Filter *f = NULL;

        assert_int_equal(engine_add_filter(e, &spec, NULL, &f), 0);
        return f;
}

/* A weight: anything, or one of a few (many equal ones). */
static uint64_t some_weight(void) {
        return rnd() % 2 ? rnd() : rnd() % 4;
}

/* The live filters, for picking one to delete. */
static size_t live_filters(Engine *e, Filter ***ret) {
        size_t n = 0;
        Filter **v = calloc(engine_n_filters(e) + 1, sizeof(*v));

        assert_non_null(v);
        for (Filter *f = engine_filters(e); f; f = f->next)
                v[n++] = f;
        *ret = v;
        return n;
}

static void delete_random(Engine *e, size_t count) {
        for (size_t i = 0; i < count; i++) {
                _cleanup_(freep) Filter **v = NULL;
                size_t n = live_filters(e, &v);

                if (n == 0)
                        return;
                assert_int_equal(engine_delete_filter_by_id(e, v[rnd() % n]->id, NULL), 0);
        }
}

static void test_random_weights(void **state) {
        Engine *e = *state;
        const FilterOrder *o;

        assert_int_equal(engine_begin(e), 0);
        for (unsigned i = 0; i < 3000; i++) {
                add(e, some_weight(), false);
                if (i % 7 == 0)
                        assert_int_equal(filter_order_check(engine_universal_sublayer(e),
                                                            WFP_LAYER_INBOUND_TRANSPORT_V4, false), 0);
                if (i % 500 == 0)
                        check_order(e);
        }
        engine_commit(e);
        check_order(e);
        /* the index: two marks for every 9 filters at most, in an array of twice that at most */
        o = &engine_universal_sublayer(e)->order[WFP_LAYER_INBOUND_TRANSPORT_V4];
        assert_true(o->n_marks > 0 && o->n_marks <= 2 * 3000 / 9 + 1);
        assert_true(o->n_alloc <= 2 * o->n_marks || o->n_alloc <= 16);
}

static void test_equal_weights(void **state) {
        Engine *e = *state;
        Filter *first[1000];
        size_t k = 0;

        /* equal weights stay in order of addition, automatic or explicit */
        assert_int_equal(engine_begin(e), 0);
        for (unsigned i = 0; i < 1000; i++)
                first[i] = add(e, i % 2 ? UINT64_MAX : 0, false);
        engine_commit(e);
        check_order(e);
        for (const Filter *f = engine_universal_sublayer(e)->filters_head[WFP_LAYER_INBOUND_TRANSPORT_V4];
             f && k < 1000; f = f->lnext) {
                /* the automatic weight of no conditions is 0 too */
                assert_ptr_equal(f, first[k]);
                k++;
        }
        assert_int_equal(k, 1000);

        /* every third out, then as many in: the new ones last */
        assert_int_equal(engine_begin(e), 0);
        for (unsigned i = 0; i < 1000; i += 3)
                assert_int_equal(engine_delete_filter_by_id(e, first[i]->id, NULL), 0);
        for (unsigned i = 0; i < 334; i++)
                add(e, 0, false);
        engine_commit(e);
        check_order(e);
}

static void test_deletes(void **state) {
        Engine *e = *state;
        const FilterOrder *o = &engine_universal_sublayer(e)->order[WFP_LAYER_INBOUND_TRANSPORT_V4];

        assert_int_equal(engine_begin(e), 0);
        for (unsigned i = 0; i < 3000; i++)
                add(e, some_weight(), false);
        engine_commit(e);
        assert_true(o->n_marks > 0);

        /* in transactions of up to 100 deletes and adds, fewer adds: down to none */
        while (engine_n_filters(e) > 0) {
                unsigned adds = (unsigned) (rnd() % 30);

                assert_int_equal(engine_begin(e), 0);
                delete_random(e, rnd() % 100);
                for (unsigned i = 0; i < adds; i++)
                        add(e, some_weight(), false);
                delete_random(e, adds);
                assert_int_equal(filter_order_check(engine_universal_sublayer(e), WFP_LAYER_INBOUND_TRANSPORT_V4,
                                                    false), 0);
                engine_commit(e);
                check_order(e);
        }
        /* nothing left, nothing kept */
        assert_int_equal(o->n_marks, 0);
        assert_int_equal(o->n_front, 0);
        assert_null(o->marks);
}

static void test_abort(void **state) {
        Engine *e = *state;
        _cleanup_(freep) Filter **before = NULL;
        size_t n = 0;

        assert_int_equal(engine_begin(e), 0);
        for (unsigned i = 0; i < 2000; i++)
                add(e, some_weight(), false);
        engine_commit(e);

        before = calloc(2000, sizeof(*before));
        assert_non_null(before);
        for (Filter *f = engine_universal_sublayer(e)->filters_head[WFP_LAYER_INBOUND_TRANSPORT_V4]; f; f = f->lnext)
                before[n++] = f;
        assert_int_equal(n, 2000);

        /* deletes and adds, all undone: the same order, the same filters */
        for (unsigned round = 0; round < 5; round++) {
                size_t k = 0;

                assert_int_equal(engine_begin(e), 0);
                delete_random(e, 700);
                for (unsigned i = 0; i < 300; i++)
                        add(e, some_weight(), false);
                delete_random(e, 200);
                check_order(e);
                engine_abort(e);
                check_order(e);
                for (Filter *f = engine_universal_sublayer(e)->filters_head[WFP_LAYER_INBOUND_TRANSPORT_V4]; f;
                     f = f->lnext, k++)
                        assert_ptr_equal(f, before[k]);
                assert_int_equal(k, 2000);
        }
}

static void test_ends(void **state) {
        Engine *e = *state;

        /* each new filter first, then each last, then between the two */
        assert_int_equal(engine_begin(e), 0);
        for (unsigned i = 0; i < 500; i++)
                add(e, UINT64_C(1) << 40 | i, false);
        for (unsigned i = 0; i < 500; i++)
                add(e, UINT64_C(1) << 39, false);
        for (unsigned i = 0; i < 500; i++)
                add(e, (UINT64_C(1) << 39) + 1 + i, false);
        engine_commit(e);
        check_order(e);
}

static void test_boottime(void **state) {
        Engine *e = *state;

        /* the boot-time list has an index of its own; the running list does not see its filters */
        assert_int_equal(engine_begin(e), 0);
        for (unsigned i = 0; i < 1500; i++)
                add(e, some_weight(), rnd() % 2);
        engine_commit(e);
        check_order(e);
        assert_true(engine_universal_sublayer(e)->boot_order[WFP_LAYER_INBOUND_TRANSPORT_V4].n_marks > 0);

        assert_int_equal(engine_begin(e), 0);
        delete_random(e, 1000);
        engine_commit(e);
        check_order(e);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_random_weights, setup, teardown),
                cmocka_unit_test_setup_teardown(test_equal_weights, setup, teardown),
                cmocka_unit_test_setup_teardown(test_deletes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_abort, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ends, setup, teardown),
                cmocka_unit_test_setup_teardown(test_boottime, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
