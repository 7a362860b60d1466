/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* array.c — see array.h. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "array.h"
#include "macro.h"

static ArraySpan *span_at(ArraySpan *spans, size_t g, size_t stride) {
        return (ArraySpan *) ((uint8_t *) spans + g * stride);
}

int array_group(void *array, size_t n, size_t size, size_t (*group_of)(const void *element), ArraySpan *spans,
                size_t n_groups, size_t stride) {
        _cleanup_(freep) uint8_t *copy = NULL;
        uint32_t first = 0;

        if (n > UINT32_MAX)
                return -EOVERFLOW;
        copy = reallocarray(NULL, n ?: 1, size);
        if (!copy)
                return -ENOMEM;
        if (n > 0)
                memcpy(copy, array, n * size);

        /* each group's count ... */
        for (size_t g = 0; g < n_groups; g++)
                *span_at(spans, g, stride) = (ArraySpan) {};
        for (size_t i = 0; i < n; i++)
                span_at(spans, group_of(copy + i * size), stride)->n++;
        /* ... added up: where each group starts; its count starts again ... */
        for (size_t g = 0; g < n_groups; g++) {
                ArraySpan *s = span_at(spans, g, stride);

                s->first = first;
                first += s->n;
                s->n = 0;
        }
        /* ... and counts each element put at its group's next place */
        for (size_t i = 0; i < n; i++) {
                ArraySpan *s = span_at(spans, group_of(copy + i * size), stride);

                memcpy((uint8_t *) array + (size_t) (s->first + s->n++) * size, copy + i * size, size);
        }
        return 0;
}
