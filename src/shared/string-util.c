/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* string-util.c — see string-util.h. */
#include <stdio.h>

#include "string-util.h"

char *strdup_vprintf(const char *fmt, va_list ap) {
        char *s;

        if (vasprintf(&s, fmt, ap) < 0)
                return NULL;    /* s is undefined then */
        return s;
}
