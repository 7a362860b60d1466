/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * classify.c — which run a new filter joins, so that a policy of many filters is a few lookups.
 *
 * A sublayer's filters in a layer are evaluated in order; the first that matches decides. A run
 * (NftRun) is looked up where its carrier, its first member, is: its other members are evaluated
 * earlier than their place. That changes no verdict as long as this holds:
 *
 *   (J) for every member m of a run R, no filter between R's carrier and m that is not in R
 *       overlaps m (no packet matches both).
 *
 * Proof sketch: take filters g before f that overlap, in runs (or alone, a run of one) Rg and Rf
 * with carriers Cg and Cf; f must not be looked up before g, that is Cf must not come before Cg.
 * If Cf < Cg ≤ g < f, then g lies between Cf and f, is not in Rf and overlaps f: (J) says no.
 *
 * So a new filter f:
 *  - evicts every member m after it, of a run whose carrier is before it, that it overlaps: m is
 *    a filter of its own again (its rule at its own place), where (J) holds trivially;
 *  - joins the run of its shape and verdict whose carrier comes first among those between the
 *    last earlier filter it overlaps and itself (a run of the same shape holds disjoint keys, so a
 *    member of it never overlaps f unless it has f's key, which run_admits() refuses);
 *  - or, when no run can take it, starts a run of its own if another filter of its shape and verdict
 *    in its list has a rule of its own and no run of that kind exists there yet (the first of a kind
 *    keeps a plain rule, which is what `nft list` shows best; from the second on, a set is worth
 *    it), or once RUN_PLAIN_MAX such filters have (plain_or_run()).
 * A filter's deletion only takes constraints away; when a run's carrier goes, the member now
 * first carries the rule from its own place (run_leave()), and (J) holds for the shorter spans.
 *
 * Which filters may overlap f comes from the overlap index (layout.h): by remote address, so a
 * policy of peers and prefixes tests a handful of filters a change, whatever its size. A filter
 * without a remote address asks the key tables of the runs carried before it and the plain
 * rules instead (scan_wide()); a filter before every run of its list asks nothing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "batch.h"
#include "compile-internal.h"
#include "layout.h"
#include "macro.h"

/* How many filters of a kind keep plain rules, once a run of their kind exists in their list,
 * before the next of them starts another run (plain_or_run()). */
#define RUN_PLAIN_MAX 8

/* The fields whose values (intervals in lo/hi) can tell two filters apart, the likeliest first. */
static const WfpField apart_fields[] = {
        WFP_FIELD_IP_REMOTE_ADDRESS, WFP_FIELD_IP_LOCAL_ADDRESS, WFP_FIELD_IP_PROTOCOL,
        WFP_FIELD_IP_LOCAL_PORT, WFP_FIELD_IP_REMOTE_PORT,
};

/* Whether @c is a plain interval of values: an exact value, a prefix or a range, not negated. */
static bool condition_interval(const Condition *c) {
        return !c->negate && (c->match == WFP_MATCH_EQUAL || c->match == WFP_MATCH_RANGE);
}

static bool intervals_meet(const Condition *a, const Condition *b) {
        return a->len == b->len && memcmp(a->lo, b->hi, a->len) <= 0 && memcmp(b->lo, a->hi, a->len) <= 0;
}

/* Whether every value @a allows on @field is outside what @b allows: both have conditions on it,
 * all plain intervals (ORed), and no two of them meet. */
static bool field_apart(const Filter *a, const Filter *b, WfpField field) {
        bool in_a = false, in_b = false;

        for (size_t i = 0; i < a->n_conditions; i++) {
                const Condition *x = &a->conditions[i];

                if (x->field != field)
                        continue;
                if (!condition_interval(x))
                        return false;
                in_a = true;
                for (size_t j = 0; j < b->n_conditions; j++) {
                        const Condition *y = &b->conditions[j];

                        if (y->field != field)
                                continue;
                        if (!condition_interval(y) || intervals_meet(x, y))
                                return false;
                        in_b = true;
                }
        }
        return in_a && in_b;
}

/*
 * Whether no packet can match both @a and @b: some field both filters constrain has values
 * apart. An answer of false means "they may overlap" (a negation, a flag, an interface…). Ports
 * count only when neither filter's ports can be ICMP's type and code (filter_ports_typed()).
 */
bool filters_disjoint(const Filter *a, const Filter *b) {
        for (size_t i = 0; i < ELEMENTSOF(apart_fields); i++) {
                WfpField field = apart_fields[i];

                if (condition_field_is_port(field) && (filter_ports_typed(a) || filter_ports_typed(b)))
                        return false;   /* both port fields are last */
                if (field_apart(a, b, field))
                        return true;
        }
        return false;
}

/* What the overlap index's candidates say about a new filter. */
typedef struct Scan {
        const NftLayout *L;
        const Filter *f;
        const Filter *last_before;      /* the last filter before f that overlaps it */
        const Filter **evict;           /* members after f, of runs carried before it, it overlaps */
        size_t n_evict, n_evict_alloc;
} Scan;

static int scan_one(const Filter *g, void *userdata) {
        Scan *sc = userdata;
        const NftRun *run;

        if (filters_disjoint(sc->f, g))
                return 0;
        if (filter_compare(g, sc->f) < 0) {
                if (!sc->last_before || filter_compare(g, sc->last_before) > 0)
                        sc->last_before = g;
                return 0;
        }
        run = FS(sc->L, g)->run;
        if (!run || run->carrier == g || filter_compare(run->carrier, sc->f) > 0)
                return 0;
        if (!ARRAY_RESERVE(sc->evict, sc->n_evict_alloc, sc->n_evict + 1, 8))
                return -ENOMEM;
        sc->evict[sc->n_evict++] = g;
        return 0;
}

/*
 * The scan for a filter the overlap index cannot narrow (no remote address: a walk of its whole
 * list), from the runs' key tables and the plain rules instead: the members of each run carried
 * before @f whose elements @f's values make, and the last plain rule before @f that overlaps
 * it. 1 when that told everything, 0 when a run's key has a field @f does not name narrowly (the
 * caller walks the list), or a negative errno.
 */
#define WIDE_RULES_MAX 1024
static int scan_wide(NftLayout *L, const Filter *f, Scan *sc) {
        size_t steps = 0;

        for (NftRun *run = SS(L, f->sublayer)->runs[f->layer]; run; run = run->lnext) {
                int k;

                if (filter_compare(run->carrier, f) > 0)
                        continue;       /* its members all come after f: nothing to evict or to pass */
                k = run_members_meeting(L, run, f, scan_one, sc);
                if (k == -EDOM)
                        return 0;
                if (k < 0)
                        return k;
        }
        for (const Filter *g = nft_layout_rule_before(L, f); g; g = nft_layout_rule_before(L, g)) {
                if (++steps > WIDE_RULES_MAX)
                        return 0;
                if (!FS(L, g)->run && !filters_disjoint(f, g)) {
                        if (!sc->last_before || filter_compare(g, sc->last_before) > 0)
                                sc->last_before = g;
                        break;  /* the latest plain one; members came from their runs */
                }
        }
        return 1;
}

/* The scan: the overlap index's candidates, or for a wide filter scan_wide() where it can. */
static int scan(NftLayout *L, const Filter *f, Scan *sc) {
        if (nft_layout_overlap_is_wide(f)) {
                int k = scan_wide(L, f, sc);

                if (k != 0)
                        return k < 0 ? k : 0;
                sc->last_before = NULL;
                sc->n_evict = 0;
        }
        return nft_layout_overlap_each(L, f, scan_one, sc);
}

/* Whether a run of @f's list is carried before it. */
static bool runs_before(const NftLayout *L, const Filter *f) {
        for (const NftRun *run = SS(L, f->sublayer)->runs[f->layer]; run; run = run->lnext)
                if (filter_compare(run->carrier, f) < 0)
                        return true;
        return false;
}

/*
 * runs_form()'s runs by shape. It makes all of its list's runs itself, so it keeps them here as it
 * makes them, and run_choose() looks at the runs of the new filter's shape only, where it would
 * walk every run of the list (a blocklist of 100,000 mixed filters has 282).
 */
typedef struct ShapeRuns {
        unsigned shape;
        NftRun **v;
        size_t n, alloc;
} ShapeRuns;

typedef struct RunIndex {
        ShapeRuns *shapes;
        size_t n, alloc;
} RunIndex;

static ShapeRuns *run_index_find(const RunIndex *ix, unsigned shape) {
        for (size_t i = 0; i < ix->n; i++)
                if (ix->shapes[i].shape == shape)
                        return &ix->shapes[i];
        return NULL;
}

static int run_index_add(RunIndex *ix, NftRun *run) {
        ShapeRuns *sr = run_index_find(ix, run->shape);

        if (!sr) {
                if (!ARRAY_RESERVE(ix->shapes, ix->alloc, ix->n + 1, 8))
                        return -ENOMEM;
                sr = &ix->shapes[ix->n++];
                *sr = (ShapeRuns) { .shape = run->shape };
        }
        if (!ARRAY_RESERVE(sr->v, sr->alloc, sr->n + 1, 8))
                return -ENOMEM;
        sr->v[sr->n++] = run;
        return 0;
}

static void run_index_done(RunIndex *ix) {
        for (size_t i = 0; i < ix->n; i++)
                free(ix->shapes[i].v);
        free(ix->shapes);
}

/* @run, of @f's shape, as the choice for @f: carried after @last_before and before @f, and
 * before *best (the first such wins), if it admits @f. */
static int run_consider(const NftConfig *c, NftLayout *L, const Filter *f, const Filter *last_before, NftRun *run,
                        NftRun **best) {
        int k;

        if (filter_compare(run->carrier, f) > 0 || (last_before && filter_compare(run->carrier, last_before) < 0) ||
            (*best && filter_compare(run->carrier, (*best)->carrier) > 0))
                return 0;
        k = run_admits(c, L, run, f);
        if (k > 0)
                *best = run;
        return k < 0 ? k : 0;
}

/* The run @f may join (NULL: none): of its shape and verdict, carried after sc->last_before and
 * before @f, the first such; its members must not have @f's key. *ret_kind: whether its list has
 * a run of its shape and verdict at all. @ix: runs_form()'s index of the list's runs, or NULL. */
static int run_choose(const NftConfig *c, NftLayout *L, const Filter *f, const Filter *last_before,
                      const RunIndex *ix, NftRun **ret, bool *ret_kind) {
        unsigned shape = run_shape(c, f);
        NftRun *best = NULL;
        int k = 0;

        *ret = NULL;
        *ret_kind = false;
        if (shape == 0)
                return 0;
        if (ix) {
                const ShapeRuns *sr = run_index_find(ix, shape);

                for (size_t i = 0; sr && k >= 0 && i < sr->n; i++) {
                        *ret_kind = *ret_kind || sr->v[i]->verdict == verdict_of(f);
                        k = run_consider(c, L, f, last_before, sr->v[i], &best);
                }
        } else
                for (NftRun *run = SS(L, f->sublayer)->runs[f->layer]; k >= 0 && run; run = run->lnext) {
                        if (run->shape != shape)
                                continue;
                        *ret_kind = *ret_kind || run->verdict == verdict_of(f);
                        k = run_consider(c, L, f, last_before, run, &best);
                }
        if (k < 0)
                return k;
        *ret = best;
        return 0;
}

/* How many filters of @f's list that could be members of a run of @shape and @verdict have rules
 * of their own, changed by @delta (nft_layout_count()). */
static long plain_count(NftLayout *L, const Filter *f, unsigned shape, int verdict, long delta) {
        uint8_t key[16] = { 'P' };

        for (int i = 0; i < 4; i++) {
                key[1 + i] = (uint8_t) (f->sublayer->seq >> (8 * i));
                key[8 + i] = (uint8_t) (shape >> (8 * i));
        }
        key[5] = f->layer;
        key[6] = (uint8_t) verdict;
        key[7] = (uint8_t) (verdict >> 8);
        return nft_layout_count(L, key, delta);
}

/*
 * @f, which no run takes (@kind: though its list has one of its kind): a run of its own (*ret)
 * when a like filter has a plain rule and the list has no run of its kind yet, or when
 * RUN_PLAIN_MAX like filters have; else a plain rule of its own (counted, if it could be a member).
 *
 * A filter no run of its kind can take overlaps a filter before it (classify.c's header); a run it
 * started would take only filters that overlap the same ones, which in most policies are few. Its
 * one-member run would cost every packet that reaches it a lookup of the packet's key, where a
 * plain rule, one rule all the same, leaves at its first compare: so such filters start a run only
 * once there are enough of them to fill one.
 */
static int plain_or_run(const NftConfig *c, NftLayout *L, NftBatch *b, const Filter *f, bool kind, NftRun **ret) {
        unsigned shape = run_shape(c, f);
        long n;

        *ret = NULL;
        if (shape == 0)
                return 0;
        n = plain_count(L, f, shape, verdict_of(f), 0);
        if (n >= (kind ? RUN_PLAIN_MAX : 1))
                return run_new(c, L, b, f, ret);
        return plain_count(L, f, shape, verdict_of(f), 1) < 0 ? -ENOMEM : 0;
}

/*
 * A new filter @f (its layout entry made): into the overlap index, the members it must evict out
 * of their runs (with rules of their own), and then into a run as an element, or its own rule —
 * a run's rule when it starts one.
 */
int place_filter(const NftConfig *c, NftLayout *L, NftBatch *b, const Filter *f) {
        Scan sc = { .L = L, .f = f };
        NftRun *run = NULL;
        bool kind = false;
        int k;

        if (!c->filter_runs)
                return place_rule(c, L, b, f);
        /* with no run carried before f, nothing can be looked up early past it, nor can it join */
        k = runs_before(L, f) ? scan(L, f, &sc) : 0;
        for (size_t i = 0; k >= 0 && i < sc.n_evict; i++) {
                const Filter *m = sc.evict[i];

                k = run_evict(c, L, b, m);
                if (k >= 0)
                        k = plain_count(L, m, run_shape(c, m), verdict_of(m), 1) < 0 ? -ENOMEM : 0;
                if (k >= 0)
                        k = place_rule(c, L, b, m);
        }
        free(sc.evict);
        if (k >= 0)
                k = nft_layout_overlap_add(L, f);
        if (k >= 0)
                k = guard_note(c, L, b, f, 1);
        if (k >= 0)
                k = run_choose(c, L, f, sc.last_before, NULL, &run, &kind);
        if (k < 0)
                return k;
        if (run)
                return run_join(c, L, b, run, f);
        k = plain_or_run(c, L, b, f, kind, &run);
        if (k >= 0 && run)
                k = emit_run_set(c, L, b, run, f, 1);
        return k < 0 ? k : place_rule(c, L, b, f);
}

/* A deleted filter @f leaves the overlap index, its guard, and the count of plain ones if it was one. */
int classify_forget(const NftConfig *c, NftLayout *L, NftBatch *b, const Filter *f) {
        unsigned shape = run_shape(c, f);
        int k;

        nft_layout_overlap_remove(L, f);
        k = FS(L, f)->chunk || FS(L, f)->run ? guard_note(c, L, b, f, -1) : 0;
        if (k < 0)
                return k;
        if (shape != 0 && !FS(L, f)->run && FS(L, f)->chunk)
                return plain_count(L, f, shape, verdict_of(f), -1) < 0 ? -ENOMEM : 0;
        return 0;
}

/* The layout's caches, built again after a refused batch (nft_layout_sync()), the plain counts too. */
int classify_sync(const Engine *e, NftLayout *L, const NftConfig *c) {
        int k = nft_layout_sync(L, e, false);

        if (k <= 0 || !c->filter_runs)
                return k;
        k = guard_recount(e, c, L);
        if (k < 0)
                return k;
        for (const Sublayer *s = engine_sublayers(e); s; s = s->next)
                for (WfpLayer l = 0; l < _WFP_LAYER_MAX; l++)
                        for (const Filter *f = s->filters_head[l]; f; f = f->lnext) {
                                unsigned shape = run_shape(c, f);

                                if (shape != 0 && !FS(L, f)->run && FS(L, f)->chunk &&
                                    plain_count(L, f, shape, verdict_of(f), 1) < 0)
                                        return -ENOMEM;
                        }
        return 0;
}

/*
 * The runs of a list of filters in evaluation order, chosen afresh (the whole table is being
 * written): each joins a run as place_filter() would have it (nothing after it is placed yet, so
 * nothing is evicted). Return: the number of rules they need in *ret_rules.
 */
int runs_form(const NftConfig *c, NftLayout *L, NftBatch *b, const Sublayer *s, WfpLayer l, size_t *ret_rules) {
        NftSublayerState *ss = nft_layout_sublayer(L, s);
        RunIndex ix = {};
        size_t n = 0;
        int k = 0;

        for (NftRun *run = ss->runs[l]; k >= 0 && run; run = run->lnext)
                k = nft_batch_track_with(b, run, true, run_free);
        if (k >= 0)
                k = NFT_SET(b, ss->runs[l], NULL);
        for (Filter *f = s->filters_head[l]; k >= 0 && f; f = f->lnext)
                k = run_member_set(L, b, f, NULL, NULL, NULL);
        for (Filter *f = s->filters_head[l]; k >= 0 && f; f = f->lnext) {
                Scan sc = { .L = L, .f = f };
                NftRun *run = NULL;
                bool kind = false;

                k = runs_before(L, f) ? scan(L, f, &sc) : 0;
                free(sc.evict);
                if (k >= 0)
                        k = nft_layout_overlap_add(L, f);
                if (k >= 0)
                        k = run_choose(c, L, f, sc.last_before, &ix, &run, &kind);
                if (k >= 0 && run)
                        k = run_link(L, b, run, f);
                else if (k >= 0) {
                        k = plain_or_run(c, L, b, f, kind, &run);
                        if (k >= 0 && run)
                                k = run_index_add(&ix, run);
                }
                n += !FS(L, f)->run || FS(L, f)->run->carrier == f;
        }
        run_index_done(&ix);
        *ret_rules = n;
        return k;
}
