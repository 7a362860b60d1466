/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* string-util.c — see string-util.h. */
#include <stdio.h>
#include <string.h>

#include "string-util.h"

char *strdup_vprintf(const char *fmt, va_list ap) {
        char *s;

        if (vasprintf(&s, fmt, ap) < 0)
                return NULL;    /* s is undefined then */
        return s;
}

size_t decimal_u64(uint64_t v, char buf[static DECIMAL_U64_MAX]) {
        char tmp[DECIMAL_U64_MAX - 1];
        size_t n = 0;

        do
                tmp[sizeof(tmp) - ++n] = (char) ('0' + v % 10);
        while ((v /= 10) > 0);
        memcpy(buf, tmp + sizeof(tmp) - n, n);
        buf[n] = 0;
        return n;
}
