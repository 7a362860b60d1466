/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ctl-context.c — bfectl context add's own option: the provider context type, by number or name. */
#include "bfectl-util.h"
#include "bfectl.h"

int context_add_option(const Verb *v, int c, const char *arg, AddArgs *a) {
        /* c is OPT_TYPE, the only one (--provider is common) */
        if (parse_context_type(arg, &((BfeProviderContext *) a->object)->type) < 0)
                return usage_error(v, "--type: unknown provider context type '%s'", arg);
        return EXIT_OK;
}
