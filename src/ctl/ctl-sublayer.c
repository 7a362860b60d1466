/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ctl-sublayer.c — bfectl sublayer add's own option: the weight (required: the order of the
 * sublayers is what they are for, there is no default worth guessing). */
#include "bfectl.h"

int sublayer_add_option(const Verb *v, int c, const char *arg, AddArgs *a) {
        uint64_t u;

        /* c is OPT_WEIGHT, the only one (--provider is common) */
        if (text_parse_u64(arg, 0, UINT16_MAX, &u) < 0)
                return usage_error(v, "--weight: '%s' is not a number 0-65535", arg);
        ((BfeSublayer *) a->object)->weight = (uint16_t) u;
        return EXIT_OK;
}
