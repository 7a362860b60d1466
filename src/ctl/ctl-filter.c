/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ctl-filter.c — bfectl filter add's own options: layer, action, callout, weight, provider
 * context or raw context, sublayer, a hard permit, conditions; and the action's default.
 */
#include <stdlib.h>

#include "array.h"
#include "bfectl-util.h"
#include "bfectl.h"

static int add_condition(const Verb *v, const char *arg, AddArgs *a) {
        BfeFilter *f = a->object;
        BfeCondition c;

        if (parse_condition(arg, &c) < 0)
                return usage_error(v, "--condition: '%s' is not FIELD=VALUE, FIELD!=VALUE or FIELD:MATCH=VALUE", arg);
        if (!ARRAY_RESERVE(f->conditions, a->n_alloc, f->n_conditions + 1, 4)) {
                condition_done(&c);
                return oom();
        }
        f->conditions[f->n_conditions++] = c;
        return EXIT_OK;
}

int filter_add_option(const Verb *v, int c, const char *arg, AddArgs *a) {
        BfeFilter *f = a->object;

        switch (c) {
        case OPT_LAYER:
                return add_string(v, a, "Layer", arg);
        case OPT_ACTION:
                if (action_from_string(arg, &f->action) < 0)
                        return usage_error(v, "--action: '%s' is not permit, block, callout or a number", arg);
                return EXIT_OK;
        case OPT_CALLOUT:
                return opt_key(v, "callout", arg, &f->callout_key);
        case OPT_WEIGHT:
                if (weight_from_string(arg, &f->weight_kind, &f->weight) < 0)
                        return usage_error(v, "--weight: '%s' is not auto, a range 0-15, =N or explicit:N", arg);
                return EXIT_OK;
        case OPT_CONTEXT:
                return opt_key(v, "context", arg, &f->provider_context_key);
        case OPT_SUBLAYER:
                return opt_key(v, "sublayer", arg, &f->sublayer_key);
        case OPT_HARD:
                f->flags |= BFE_FILTER_FLAG_CLEAR_ACTION_RIGHT;
                return EXIT_OK;
        case OPT_BOOTTIME:
                f->flags |= BFE_FILTER_FLAG_BOOTTIME;
                return EXIT_OK;
        case OPT_CONDITION:
                return add_condition(v, arg, a);
        case OPT_RAW_CONTEXT:
                if (text_parse_u64(arg, 0, UINT64_MAX, &f->raw_context) < 0)
                        return usage_error(v, "--raw-context: '%s' is not a number", arg);
                return EXIT_OK;
        default:
                return usage_error(v, "invalid option");
        }
}

void filter_add_finish(AddArgs *a) {
        BfeFilter *f = a->object;

        /* a callout names what it calls: then the action can only be a callout */
        if (!(a->seen & OPT_BIT(OPT_ACTION)))
                f->action = bfe_key_is_null(&f->callout_key) ? BFE_ACTION_PERMIT : BFE_ACTION_CALLOUT_TERMINATING;
}
