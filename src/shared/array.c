/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* array.c — see array.h. */
#include <stdint.h>
#include <string.h>

#include "array.h"
#include "macro.h"

size_t *array_group(void *array, size_t n, size_t size, size_t n_groups, size_t (*group_of)(const void *element)) {
        _cleanup_(freep) uint8_t *copy = NULL;
        _cleanup_(freep) size_t *start = NULL;

        copy = reallocarray(NULL, n ?: 1, size);
        start = calloc(n_groups + 1, sizeof(*start));
        if (!copy || !start)
                return NULL;
        if (n > 0)
                memcpy(copy, array, n * size);

        /* each group's count, in the entry after it ... */
        for (size_t i = 0; i < n; i++)
                start[group_of(copy + i * size) + 1]++;
        /* ... added up: where each group starts */
        for (size_t g = 0; g < n_groups; g++)
                start[g + 1] += start[g];
        /* each element to its group's next place: start[g] moves on to the end of group g ... */
        for (size_t i = 0; i < n; i++) {
                size_t g = group_of(copy + i * size);

                memcpy((uint8_t *) array + start[g]++ * size, copy + i * size, size);
        }
        /* ... which is where group g + 1 starts */
        memmove(start + 1, start, n_groups * sizeof(*start));
        start[0] = 0;
        return TAKE_PTR(start);
}
