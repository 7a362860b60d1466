/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bfe-explain.c — libbfe: Explain, the engine's decision for a packet described by its fields.
 * Wire shape: Explain(s layer, a{ss} packet) → (s verdict, t filter_id, a(sstss) trace,
 * a(sssb) obstacles), each trace entry being (sublayer key, sublayer name, filter id, filter
 * name, outcome), each obstacle (table, chain, what, certain). A daemon older than the
 * obstacles answers without them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-bus.h>

#include "bfe-internal.h"
#include "macro.h"
#include "wfp.h"

static BfeExplainVerdict verdict_from_string(const char *s) {
        if (streq(s, "permit"))
                return BFE_EXPLAIN_VERDICT_PERMIT;
        if (streq(s, "block"))
                return BFE_EXPLAIN_VERDICT_BLOCK;
        return BFE_EXPLAIN_VERDICT_UNKNOWN;
}

_public_ BfeExplainResult *bfe_explain_result_free(BfeExplainResult *res) {
        if (!res)
                return NULL;
        for (size_t i = 0; i < res->n_trace; i++)
                free_many(res->trace[i].sublayer_name, res->trace[i].filter_name, res->trace[i].outcome_name);
        free(res->trace);
        bfe_obstacle_array_free(res->obstacles, res->n_obstacles);
        free(res->verdict_name);
        free(res);
        return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(BfeExplainResult *, bfe_explain_result_free);

static int append_request(sd_bus_message *m, const char *layer, const BfeExplainField *fields,
                          size_t n_fields) {
        int r;

        r = sd_bus_message_append(m, "s", layer);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(m, 'a', "{ss}");
        if (r < 0)
                return r;
        for (size_t i = 0; i < n_fields; i++) {
                r = sd_bus_message_append(m, "{ss}", fields[i].name, fields[i].value);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(m);
}

/* Reads the trace array into @res, growing res->trace one step at a time. */
static int read_trace(sd_bus_message *reply, BfeExplainResult *res) {
        int r;

        r = sd_bus_message_enter_container(reply, 'a', "(sstss)");
        if (r < 0)
                return r;

        for (;;) {
                const char *key, *sublayer_name, *filter_name, *outcome;
                BfeExplainStep *a, *step;
                uint64_t filter_id;

                r = sd_bus_message_read(reply, "(sstss)", &key, &sublayer_name, &filter_id,
                                        &filter_name, &outcome);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;

                a = reallocarray(res->trace, res->n_trace + 1, sizeof(*a));
                if (!a)
                        return -ENOMEM;
                res->trace = a;
                step = &a[res->n_trace];
                *step = (BfeExplainStep) {
                        .filter_id = filter_id,
                        .outcome = (BfeExplainOutcome) wfp_outcome_from_name(outcome),
                        .sublayer_name = strdup(sublayer_name),
                        .filter_name = strdup(filter_name),
                        .outcome_name = strdup(outcome),
                };
                res->n_trace++;         /* counted before the checks, so a failure frees it */
                if (!step->sublayer_name || !step->filter_name || !step->outcome_name)
                        return -ENOMEM;
                if (bfe_key_from_string(key, &step->sublayer_key) < 0)
                        return -EBADMSG;
        }

        return sd_bus_message_exit_container(reply);
}

_public_ int bfe_explain(BfeEngine *e, const char *layer, const BfeExplainField *fields,
                         size_t n_fields, BfeExplainResult **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(bfe_explain_result_freep) BfeExplainResult *res = NULL;
        const char *verdict;
        int r;

        r = bfe_engine_begin(e, layer && ret && (fields || n_fields == 0));
        if (r < 0)
                return r;
        for (size_t i = 0; i < n_fields; i++)
                if (!fields[i].name || !fields[i].value)
                        return bfe_engine_result(e, -EINVAL);

        r = bfe_engine_new_method_call(e, "Explain", &m);
        if (r < 0)
                return bfe_engine_result(e, r);
        r = append_request(m, layer, fields, n_fields);
        if (r < 0)
                return bfe_engine_result(e, r);
        r = bfe_engine_call(e, m, &reply);
        if (r < 0)
                return r;

        res = calloc(1, sizeof(*res));
        if (!res)
                return bfe_engine_result(e, -ENOMEM);

        r = sd_bus_message_read(reply, "st", &verdict, &res->filter_id);
        if (r < 0)
                return bfe_engine_result(e, r);
        res->verdict = verdict_from_string(verdict);
        res->verdict_name = strdup(verdict);
        if (!res->verdict_name)
                return bfe_engine_result(e, -ENOMEM);

        r = read_trace(reply, res);
        if (r >= 0)
                r = sd_bus_message_at_end(reply, false);
        if (r == 0)
                r = bfe_read_obstacles(reply, true, &res->obstacles, &res->n_obstacles);
        if (r < 0)
                return bfe_engine_result(e, r);

        *ret = TAKE_PTR(res);
        return 0;
}
