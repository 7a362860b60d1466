/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-array.c — array_group() against a plain reference: every group's span, the order within
 * each group kept, spans written @stride bytes apart into an array of structs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "array.h"

typedef struct Item {
        uint32_t group;
        uint32_t seq;           /* its place before the grouping */
} Item;

typedef struct Group {
        uint64_t before;        /* the spans sit inside a bigger struct */
        ArraySpan items;
        char after[3];
} Group;

static size_t item_group(const void *item) {
        return ((const Item *) item)->group;
}

static void check(size_t n, size_t n_groups, unsigned seed) {
        Item *items = calloc(n ?: 1, sizeof(*items));
        Group *groups = calloc(n_groups, sizeof(*groups));
        size_t *count = calloc(n_groups, sizeof(*count));
        uint32_t first = 0;

        assert_non_null(items);
        assert_non_null(groups);
        assert_non_null(count);
        srand(seed);
        for (size_t i = 0; i < n; i++) {
                /* some groups stay empty */
                items[i] = (Item) { .group = (uint32_t) (rand() % n_groups) / 2 * 2, .seq = (uint32_t) i };
                count[items[i].group]++;
        }
        for (size_t g = 0; g < n_groups; g++)
                groups[g] = (Group) { .before = g, .items = { .first = 77, .n = 77 } };

        assert_int_equal(array_group(items, n, sizeof(*items), item_group, &groups[0].items, n_groups,
                                     sizeof(*groups)), 0);
        for (size_t g = 0; g < n_groups; g++) {
                const ArraySpan *s = &groups[g].items;

                assert_int_equal(groups[g].before, g);
                assert_int_equal(s->first, first);
                assert_int_equal(s->n, count[g]);
                for (uint32_t i = s->first; i < s->first + s->n; i++) {
                        assert_int_equal(items[i].group, g);
                        if (i > s->first)
                                assert_true(items[i - 1].seq < items[i].seq);
                }
                first += s->n;
        }
        assert_int_equal(first, n);
        free(items);
        free(groups);
        free(count);
}

static void test_group(void **state) {
        check(0, 1, 1);
        check(1, 1, 2);
        check(10, 7, 3);
        check(1000, 3, 4);
        check(100000, 1000, 5);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_group),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
