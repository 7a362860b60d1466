/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * array.h — an array that grows, kept as a pointer, a count and the room it has:
 *
 *         if (!ARRAY_RESERVE(b->records, b->n_records_alloc, b->n_records + 1, 64))
 *                 return -ENOMEM;
 *         b->records[b->n_records++] = record;
 *
 * The room doubles, so n appends cost O(n) copies in all.
 *
 * And array_group(): an array's elements put in order of a group each belongs to.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/*
 * Room for @need elements of @size bytes in *@array, which has room for *@alloc: the room
 * doubles, starting at @first (at least 1) for an array without any, until they fit. False on
 * overflow or when there is no memory; the array is then as it was.
 */
static inline bool array_reserve(void **array, size_t *alloc, size_t need, size_t size, size_t first) {
        size_t a = *alloc ? *alloc : first ? first : 1;
        void *x;

        if (need <= *alloc)
                return true;
        while (a < need) {
                if (a > SIZE_MAX / 2)
                        return false;
                a *= 2;
        }
        x = reallocarray(*array, a, size);     /* NULL, not a wrapped size, when a * size overflows */
        if (!x)
                return false;
        *array = x;
        *alloc = a;
        return true;
}

#define ARRAY_RESERVE(array, alloc, need, first) \
        array_reserve((void **) &(array), &(alloc), (need), sizeof(*(array)), (first))

/* A group's place in an array that array_group() put in order: its first element, and how many. */
typedef struct ArraySpan {
        uint32_t first, n;
} ArraySpan;

/**
 * array_group() - put the elements of an array in order of their group, keeping their order within
 * each group: a counting sort, O(n + n_groups). The rules of a table by chain, say.
 * @array, @n, @size: @n elements of @size bytes, sorted in place
 * @group_of: the group of an element, less than @n_groups
 * @spans, @n_groups, @stride: where each group's span goes: the first group's at @spans, each
 *         next one @stride bytes further (a field of an array of structs, one struct a group)
 *
 * Return: 0; -EOVERFLOW for more than UINT32_MAX elements, -ENOMEM without memory (the array is
 * then as it was).
 */
int array_group(void *array, size_t n, size_t size, size_t (*group_of)(const void *element), ArraySpan *spans,
                size_t n_groups, size_t stride);
