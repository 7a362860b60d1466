/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* marks.c — see marks.h. */
#include <errno.h>
#include <stdio.h>

#include "macro.h"
#include "marks.h"

int marks_charon(const SwConf *conf, const char *daemon, uint32_t *ret, const char **ret_key) {
        static char key[SWCONF_KEY_MAX + 1];
        const char *value;
        uint32_t mark;
        int r;

        (void) snprintf(key, sizeof(key), "%s.plugins.socket-default.fwmark", daemon);
        *ret_key = key;
        value = swconf_get(conf, key);
        if (!value && !streq(daemon, "charon")) {
                *ret_key = "charon.plugins.socket-default.fwmark";
                value = swconf_get(conf, *ret_key);
        }
        if (!value || !*value)
                return 0;
        r = swconf_parse_mark(value, &mark);
        if (r < 0)
                return r;
        *ret = mark;
        return mark != 0;
}

MarksVerdict marks_compare(bool charon_set, uint32_t charon, uint32_t bfed) {
        if (charon_set && bfed)
                return charon == bfed ? MARKS_MATCH : MARKS_DIFFER;
        if (charon_set)
                return MARKS_CHARON_ONLY;
        return bfed ? MARKS_BFED_ONLY : MARKS_NEITHER;
}
