/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ctl-context.c — bfectl context add's own options: the provider context type, by number or name,
 * and a quick-mode context's policy flags. */
#include <stdint.h>

#include "bfectl-util.h"
#include "bfectl.h"

int context_add_option(const Verb *v, int c, const char *arg, AddArgs *a) {
        BfeProviderContext *ctx = a->object;
        uint64_t flags;

        /* --provider is common */
        if (c == OPT_POLICY_FLAGS) {
                if (text_parse_u64(arg, 0, UINT32_MAX, &flags) < 0)
                        return usage_error(v, "--policy-flags: '%s' is not a 32-bit number", arg);
                ctx->policy_flags = (uint32_t) flags;
                return EXIT_OK;
        }
        if (parse_context_type(arg, &ctx->type) < 0)
                return usage_error(v, "--type: unknown provider context type '%s'", arg);
        return EXIT_OK;
}
