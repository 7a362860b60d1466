/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ctl-explain.c — bfectl explain: the engine's decision for a packet (Explain), one line per
 * sublayer in evaluation order and the verdict, with the sublayers' weights looked up; then,
 * for an IKE datagram bfed permits, the other tables' chains that drop it nevertheless.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bfectl-util.h"
#include "bfectl.h"

static size_t max_size(size_t a, size_t b) {
        return a > b ? a : b;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(BfeExplainResult *, bfe_explain_result_free);

typedef struct ExplainArgs {
        const char *layer;
        BfeExplainField *fields;
        char **names;           /* owned copies of the field names */
        size_t n_fields;
} ExplainArgs;

static void explain_args_done(ExplainArgs *a) {
        for (size_t i = 0; i < a->n_fields; i++)
                free(a->names[i]);
        free(a->names);
        free(a->fields);
}

static int explain_parse(const Verb *v, int argc, char **argv, ExplainArgs *a) {
        int r;

        r = parse_basic(v, argc, argv, SIZE_MAX);
        if (r != EXIT_OK)
                return r;
        if (optind >= argc)
                return usage_error(v, "missing LAYER");
        a->layer = argv[optind++];

        a->fields = calloc(argc - optind + 1, sizeof(*a->fields));
        a->names = calloc(argc - optind + 1, sizeof(*a->names));
        if (!a->fields || !a->names)
                return oom();
        for (; optind < argc; optind++) {
                const char *value;
                char *name;

                if (parse_explain_field(argv[optind], &name, &value) < 0)
                        return usage_error(v, "'%s' is not FIELD=VALUE", argv[optind]);
                for (size_t i = 0; i < a->n_fields; i++)
                        if (streq(a->names[i], name)) {
                                free(name);
                                return usage_error(v, "field %s given twice", a->names[i]);
                        }
                a->names[a->n_fields] = name;
                a->fields[a->n_fields++] = (BfeExplainField) { .name = name, .value = value };
        }
        return EXIT_OK;
}

/* The sublayer weights, for the trace lines; -1 where unknown. */
static void explain_weights(BfeEngine *e, const BfeExplainResult *res, long *ret_weights) {
        BfeSublayer *a = NULL;
        size_t n = 0;

        for (size_t i = 0; i < res->n_trace; i++)
                ret_weights[i] = -1;
        if (bfe_sublayer_enum(e, &a, &n) < 0)
                return;         /* the weights are a convenience: print the trace without them */
        for (size_t i = 0; i < res->n_trace; i++)
                for (size_t j = 0; j < n; j++)
                        if (memcmp(&a[j].key, &res->trace[i].sublayer_key, sizeof(BfeKey)) == 0)
                                ret_weights[i] = a[j].weight;
        bfe_sublayer_array_free(a, n);
}

/* The name of the deciding filter, from the trace. */
static const char *explain_decider_name(const BfeExplainResult *res) {
        if (res->filter_id == 0)
                return NULL;
        for (size_t i = 0; i < res->n_trace; i++)
                if (res->trace[i].filter_id == res->filter_id)
                        return res->trace[i].filter_name;
        return NULL;
}

static void explain_print_json(const char *layer, const BfeExplainResult *res, const long *weights) {
        Json j;

        json_begin(&j, stdout);
        json_str(&j, "layer", layer);
        json_str(&j, "verdict", res->verdict_name);
        json_u64(&j, "filter_id", res->filter_id);
        json_str(&j, "filter_name", explain_decider_name(res));
        json_obstacles(&j, "obstacles", res->obstacles, res->n_obstacles, true);
        json_name(&j, "trace");
        putchar('[');
        for (size_t i = 0; i < res->n_trace; i++) {
                const BfeExplainStep *s = &res->trace[i];
                Json t;

                if (i > 0)
                        putchar(',');
                json_begin(&t, stdout);
                json_key(&t, "sublayer_key", &s->sublayer_key);
                json_str(&t, "sublayer_name", s->sublayer_name);
                json_name(&t, "weight");
                if (weights[i] >= 0)
                        printf("%ld", weights[i]);
                else
                        fputs("null", stdout);
                json_u64(&t, "filter_id", s->filter_id);
                json_str(&t, "filter_name", s->filter_id ? s->filter_name : NULL);
                json_str(&t, "outcome", s->outcome_name);
                json_end(&t);
        }
        putchar(']');
        json_end(&j);
        putchar('\n');
}

static void explain_print(const char *layer, const BfeExplainResult *res, const long *weights) {
        size_t w_name = 8, w_outcome = 7;
        const char *decider;

        for (size_t i = 0; i < res->n_trace; i++) {
                w_name = max_size(w_name, strlen(res->trace[i].sublayer_name));
                w_outcome = max_size(w_outcome, strlen(res->trace[i].outcome_name));
        }

        /* the legend: what the table is, and its header */
        if (arg_legend) {
                printf("Layer %s, %zu sublayer%s in evaluation order:\n", layer, res->n_trace,
                       res->n_trace == 1 ? "" : "s");
                printf("%-6s  %-*s  %-*s  %s\n", "WEIGHT", (int) w_name, "SUBLAYER", (int) w_outcome,
                       "OUTCOME", "FILTER");
        }
        for (size_t i = 0; i < res->n_trace; i++) {
                const BfeExplainStep *s = &res->trace[i];
                char wbuf[24] = "?";

                if (weights[i] >= 0)
                        snprintf(wbuf, sizeof(wbuf), "0x%04lx", weights[i]);
                printf("%-6s  %-*s  %-*s  ", wbuf, (int) w_name, s->sublayer_name, (int) w_outcome,
                       s->outcome_name);
                if (s->filter_id)
                        printf("%" PRIu64 " %s\n", s->filter_id, s->filter_name);
                else
                        printf("-\n");
        }

        decider = explain_decider_name(res);
        if (res->filter_id == 0)
                printf("Verdict: %s (no filter matched: the default permit)\n", res->verdict_name);
        else if (decider)
                printf("Verdict: %s, decided by filter %" PRIu64 " (%s)\n", res->verdict_name,
                       res->filter_id, decider);
        else
                printf("Verdict: %s, decided by filter %" PRIu64 "\n", res->verdict_name, res->filter_id);
        /* another table's drop is final, whatever bfed permits */
        print_explain_obstacles(stdout, res->obstacles, res->n_obstacles);
}

int verb_explain(const Verb *v, int argc, char **argv) {
        _cleanup_(explain_args_done) ExplainArgs a = {};
        _cleanup_(bfe_engine_closep) BfeEngine *e = NULL;
        _cleanup_(bfe_explain_result_freep) BfeExplainResult *res = NULL;
        _cleanup_(freep) long *weights = NULL;
        int r;

        r = verb_connect(explain_parse(v, argc, argv, &a), &e);
        if (r != EXIT_OK)
                return verb_exit(r);
        r = bfe_explain(e, a.layer, a.fields, a.n_fields, &res);
        if (r < 0)
                return engine_error(e, r);

        weights = calloc(res->n_trace + 1, sizeof(*weights));
        if (!weights)
                return oom();
        explain_weights(e, res, weights);

        if (arg_json)
                explain_print_json(a.layer, res, weights);
        else
                explain_print(a.layer, res, weights);
        return EXIT_OK;
}
