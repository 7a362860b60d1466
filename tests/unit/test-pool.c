/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-pool.c — the filters' pool (pool.c): slots of every size, zeroed, apart from each other,
 * kept while in use, given back in any order; blocks back to the system when empty (but the
 * spares); and an engine's filters in it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine.h"
#include "macro.h"
#include "pool.h"

#define BLOCK (64 * 1024)
#define SPARES ((size_t) POOL_SPARES * BLOCK)   /* what the pool may keep when empty */

static uint64_t rng_state = UINT64_C(0x243f6a8885a308d3);

static uint64_t rnd(void) {
        rng_state ^= rng_state >> 12;
        rng_state ^= rng_state << 25;
        rng_state ^= rng_state >> 27;
        return rng_state * UINT64_C(2685821657736338717);
}

typedef struct Slot {
        uint8_t *p;
        size_t size;
        uint8_t fill;
} Slot;

static void check_zero(const uint8_t *p, size_t size) {
        for (size_t i = 0; i < size; i++)
                assert_int_equal(p[i], 0);
}

static void check_fill(const Slot *s) {
        for (size_t i = 0; i < s->size; i++)
                assert_int_equal(s->p[i], s->fill);
}

static void take(Slot *s, size_t size, uint8_t fill) {
        s->size = size;
        s->fill = fill;
        s->p = pool_alloc0(size);
        assert_non_null(s->p);
        assert_int_equal((uintptr_t) s->p % 8, 0);
        check_zero(s->p, size);
        memset(s->p, fill, size);
}

static void test_slots(void **state) {
        enum { N = 20000 };
        Slot *slots = calloc(N, sizeof(*slots));
        size_t base = pool_bytes();

        assert_non_null(slots);
        /* every size up to past the pool's largest, each slot filled with its own byte */
        for (size_t i = 0; i < N; i++)
                take(&slots[i], 1 + rnd() % 2200, (uint8_t) (1 + i % 255));
        for (size_t i = 0; i < N; i++)
                check_fill(&slots[i]);

        /* half given back in random order, as many taken again (given back slots come zeroed) */
        for (size_t k = 0; k < N / 2; k++) {
                size_t i = rnd() % N;

                if (!slots[i].p)
                        continue;
                check_fill(&slots[i]);
                pool_free(slots[i].p, slots[i].size);
                slots[i].p = NULL;
        }
        for (size_t i = 0; i < N; i++)
                if (!slots[i].p)
                        take(&slots[i], 1 + rnd() % 400, (uint8_t) (1 + (i * 7) % 255));
        for (size_t i = 0; i < N; i++)
                check_fill(&slots[i]);

        for (size_t i = 0; i < N; i++)
                pool_free(slots[i].p, slots[i].size);
        pool_free(NULL, 100);
        /* all empty: only the spares are kept */
        assert_true(pool_bytes() <= base + (pool_enabled() ? SPARES : 0));
        free(slots);
}

static void test_churn(void **state) {
        Slot s[3];
        size_t base;

        /* one slot taken and given back again and again: the spare block, not the system's */
        take(&s[0], 200, 1);
        base = pool_bytes();
        for (unsigned i = 0; i < 1000; i++) {
                take(&s[1], 200, 2);
                take(&s[2], 328, 3);
                pool_free(s[2].p, s[2].size);
                pool_free(s[1].p, s[1].size);
                assert_true(pool_bytes() <= base + (pool_enabled() ? SPARES : 0));
        }
        check_fill(&s[0]);
        pool_free(s[0].p, s[0].size);
}

static void test_full_blocks(void **state) {
        enum { N = 3 * 127 };   /* 127 slots of 512 bytes a block */
        Slot s[N];
        size_t full;

        /* full blocks with a slot given back take the next slot of their size: the pool does not grow */
        for (size_t i = 0; i < N; i++)
                take(&s[i], 512, (uint8_t) (1 + i % 200));
        full = pool_bytes();
        for (size_t i = 0; i < N; i += 2)
                pool_free(s[i].p, s[i].size);
        for (size_t i = 0; i < N; i += 2)
                take(&s[i], 505, (uint8_t) (1 + i % 200));
        assert_int_equal(pool_bytes(), full);
        for (size_t i = 0; i < N; i++) {
                check_fill(&s[i]);
                pool_free(s[i].p, s[i].size);
        }
}

static void test_engine_filters(void **state) {
        _cleanup_(engine_freep) Engine *e = NULL;
        size_t base = pool_bytes() - pool_spare_bytes(), used;
        char value[32];
        BfeCondition c = { .field = (char *) "IP_LOCAL_PORT", .match = BFE_MATCH_EQUAL, .value = value };

        /* filters in the pool while they live, and the pool empty again once the engine is gone */
        assert_int_equal(engine_new(&e), 0);
        assert_int_equal(engine_begin(e), 0);
        for (unsigned i = 0; i < 5000; i++) {
                BfeFilter spec = { .name = (char *) "f", .layer = (char *) "INBOUND_TRANSPORT_V4", .conditions = &c,
                                   .n_conditions = 1 };
                Filter *f = NULL;

                snprintf(value, sizeof(value), "%u", 1 + i % 60000);
                assert_int_equal(engine_add_filter(e, &spec, NULL, &f), 0);
                assert_string_equal(f->name, "f");
                assert_int_equal(f->conditions[0].field, WFP_FIELD_IP_LOCAL_PORT);
                assert_int_equal(f->conditions[0].lo[0] << 8 | f->conditions[0].lo[1], 1 + i % 60000);
        }
        engine_commit(e);
        used = pool_bytes() - pool_spare_bytes() - base;
        if (pool_enabled())
                assert_true(used >= 5000 * sizeof(Filter) && used <= 5000 * 512);
        e = engine_free(e);
        assert_true(pool_bytes() <= base + (pool_enabled() ? SPARES : 0));
}

static void test_churn_sizes(void **state) {
        static const size_t sizes[] = { 136, 200, 264, 328, 392 };
        Slot s[ELEMENTSOF(sizes)];
        size_t maps;

        /* slots of five sizes taken and given back again and again (as an MM policy's add with its
         * exemption filters, and its delete): after the first round, the system is not asked for
         * another block; the emptied ones are kept */
        for (unsigned round = 0; round < 100; round++) {
                for (size_t i = 0; i < ELEMENTSOF(sizes); i++)
                        take(&s[i], sizes[i], (uint8_t) (1 + i));
                for (size_t i = 0; i < ELEMENTSOF(sizes); i++) {
                        check_fill(&s[i]);
                        pool_free(s[i].p, s[i].size);
                }
                if (round == 0)
                        maps = pool_maps();
        }
        assert_int_equal(pool_maps(), maps);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_slots),
                cmocka_unit_test(test_churn),
                cmocka_unit_test(test_full_blocks),
                cmocka_unit_test(test_engine_filters),
                cmocka_unit_test(test_churn_sizes),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
