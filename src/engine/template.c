/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * template.c — the conditions of a filter enumeration template (FWPM_FILTER_ENUM_TEMPLATE0):
 * which filters they select, by the values of each field that the template and the filter let
 * through.
 *
 * The values a filter lets through on one field are the intersection of its groups on that field
 * (a group, a run of ORed conditions, lets through the union of its members; a negated member
 * the complement of its value), kept as sorted, disjoint intervals of the field's big-endian
 * bytes. FLAGS are the four combinations of its two flags, as one-byte points.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "macro.h"

#define VALUESET_MAX FILTER_RANGES_MAX

typedef struct Interval {
        uint8_t lo[CONDITION_VALUE_MAX], hi[CONDITION_VALUE_MAX];
} Interval;

typedef struct ValueSet {
        uint8_t len;
        size_t n;
        Interval iv[VALUESET_MAX];
} ValueSet;

static bool step(uint8_t *v, size_t len, int by) {
        for (size_t i = len; i-- > 0;) {
                v[i] = (uint8_t) (v[i] + by);
                if (v[i] != (by > 0 ? 0x00 : 0xff))
                        return true;
        }
        return false;
}

static void set_all(ValueSet *s, uint8_t len) {
        s->len = len;
        s->n = 1;
        memset(s->iv[0].lo, 0, len);
        memset(s->iv[0].hi, 0xff, len);
}

static void set_add(ValueSet *s, const uint8_t *lo, const uint8_t *hi) {
        if (s->n < VALUESET_MAX) {
                memcpy(s->iv[s->n].lo, lo, s->len);
                memcpy(s->iv[s->n].hi, hi, s->len);
                s->n++;
        }
}

static void set_complement(const ValueSet *a, ValueSet *ret) {
        uint8_t from[CONDITION_VALUE_MAX];
        bool more = true;

        ret->len = a->len;
        ret->n = 0;
        memset(from, 0, a->len);
        for (size_t i = 0; i < a->n && more; i++) {
                if (memcmp(a->iv[i].lo, from, a->len) > 0) {
                        uint8_t to[CONDITION_VALUE_MAX];

                        memcpy(to, a->iv[i].lo, a->len);
                        (void) step(to, a->len, -1);
                        set_add(ret, from, to);
                }
                memcpy(from, a->iv[i].hi, a->len);
                more = step(from, a->len, +1);
        }
        if (more) {
                uint8_t top[CONDITION_VALUE_MAX];

                memset(top, 0xff, a->len);
                set_add(ret, from, top);
        }
}

static void set_intersect(const ValueSet *a, const ValueSet *b, ValueSet *ret) {
        size_t i = 0, j = 0, len = a->len;

        ret->len = a->len;
        ret->n = 0;
        while (i < a->n && j < b->n) {
                const uint8_t *lo = memcmp(a->iv[i].lo, b->iv[j].lo, len) > 0 ? a->iv[i].lo : b->iv[j].lo;
                const uint8_t *hi = memcmp(a->iv[i].hi, b->iv[j].hi, len) < 0 ? a->iv[i].hi : b->iv[j].hi;

                if (memcmp(lo, hi, len) <= 0)
                        set_add(ret, lo, hi);
                if (memcmp(a->iv[i].hi, b->iv[j].hi, len) < 0)
                        i++;
                else
                        j++;
        }
}

static int compare_interval(const void *x, const void *y, void *len) {
        return memcmp(((const Interval *) x)->lo, ((const Interval *) y)->lo, *(const uint8_t *) len);
}

/* Sorts and merges what set_add() collected: overlapping and adjacent intervals become one. */
static void set_normalize(ValueSet *s) {
        size_t k = 0;

        qsort_r(s->iv, s->n, sizeof(Interval), compare_interval, &s->len);
        for (size_t i = 0; i < s->n; i++) {
                uint8_t next[CONDITION_VALUE_MAX];

                if (k > 0) {
                        memcpy(next, s->iv[k - 1].hi, s->len);
                        if (!step(next, s->len, +1) || memcmp(s->iv[i].lo, next, s->len) <= 0) {
                                if (memcmp(s->iv[i].hi, s->iv[k - 1].hi, s->len) > 0)
                                        memcpy(s->iv[k - 1].hi, s->iv[i].hi, s->len);
                                continue;
                        }
                }
                s->iv[k++] = s->iv[i];
        }
        s->n = k;
}

/* The FLAGS values (the two flags' four combinations) a condition lets through. */
static void flags_set(const Condition *c, ValueSet *ret) {
        ret->len = 1;
        ret->n = 0;
        for (uint8_t v = 0; v < 4; v++) {
                bool in;

                if (c->match == WFP_MATCH_FLAGS_ANY_SET)
                        in = (v & c->flags) != 0;
                else if (c->negate)
                        in = (v & c->flags) == 0;
                else
                        in = (v & c->flags) == c->flags;
                if (in)
                        set_add(ret, &v, &v);
        }
}

/* What a group (@c, @n ORed conditions on one field) lets through. */
static void group_set(const Condition *c, size_t n, ValueSet *ret) {
        ValueSet one, neg;

        ret->len = c->field == WFP_FIELD_FLAGS ? 1 : c->len;
        ret->n = 0;
        for (size_t i = 0; i < n; i++) {
                if (c[i].field == WFP_FIELD_FLAGS)
                        flags_set(&c[i], &one);
                else {
                        one = (ValueSet) { .len = ret->len };
                        set_add(&one, c[i].lo, c[i].hi);
                        if (c[i].negate) {
                                set_complement(&one, &neg);
                                one = neg;
                        }
                }
                for (size_t k = 0; k < one.n; k++)
                        set_add(ret, one.iv[k].lo, one.iv[k].hi);
        }
        set_normalize(ret);
}

/* What filter @f lets through on @field: every value when it has no condition on it. */
static void filter_field_set(const Filter *f, WfpField field, uint8_t len, ValueSet *ret) {
        ValueSet g, both;

        set_all(ret, len);
        for (size_t i = 0; i < f->n_conditions;) {
                size_t j = i + 1;

                while (j < f->n_conditions && f->conditions[j].field == f->conditions[i].field)
                        j++;
                if (f->conditions[i].field == field) {
                        group_set(&f->conditions[i], j - i, &g);
                        set_intersect(ret, &g, &both);
                        *ret = both;
                }
                i = j;
        }
}

/**
 * filter_field_ranges() - what a filter lets through on a field of at most 4 bytes.
 * @f: the filter
 * @field: IP_PROTOCOL (1 byte) or a port (2 bytes)
 * @ret: the values as sorted, disjoint [from, to] pairs of integers
 * @max: room in @ret
 *
 * Return: how many pairs (one, 0 to the field's maximum, when @f has no condition on @field;
 * none when its conditions exclude each other), or -E2BIG when they are more than @max.
 */
int filter_field_ranges(const Filter *f, WfpField field, uint32_t (*ret)[2], size_t max) {
        uint8_t len = field == WFP_FIELD_IP_PROTOCOL ? 1 : 2;
        ValueSet *v = malloc(sizeof(ValueSet));

        if (!v)
                return -ENOMEM;
        filter_field_set(f, field, len, v);
        if (v->n > max) {
                free(v);
                return -E2BIG;
        }
        for (size_t i = 0; i < v->n; i++) {
                ret[i][0] = ret[i][1] = 0;
                for (uint8_t k = 0; k < len; k++) {
                        ret[i][0] = ret[i][0] << 8 | v->iv[i].lo[k];
                        ret[i][1] = ret[i][1] << 8 | v->iv[i].hi[k];
                }
        }
        max = v->n;
        free(v);
        return (int) max;
}

/**
 * filter_template_matches() - whether a template's conditions select a filter.
 * @f: the filter
 * @t: the template's conditions, on distinct fields of @f's layer
 * @n: how many
 * @type: FILTER_ENUM_FULLY_CONTAINED: on each of the template's fields the filter lets through
 *        every value the template names; FILTER_ENUM_OVERLAPPING: at least one of them
 *
 * Fields the template does not name do not count: a template without conditions selects every
 * filter.
 */
bool filter_template_matches(const Filter *f, const Condition *t, size_t n, FilterEnumType type) {
        for (size_t i = 0; i < n; i++) {
                ValueSet *want, *have, *x;
                bool ok;

                want = malloc(3 * sizeof(ValueSet));
                if (!want)
                        return false;
                have = want + 1;
                x = want + 2;
                group_set(&t[i], 1, want);
                filter_field_set(f, t[i].field, want->len, have);
                if (type == FILTER_ENUM_OVERLAPPING) {
                        set_intersect(want, have, x);
                        ok = x->n > 0;
                } else {
                        ValueSet *outside = malloc(sizeof(ValueSet));

                        if (!outside) {
                                free(want);
                                return false;
                        }
                        set_complement(have, outside);
                        set_intersect(want, outside, x);
                        ok = x->n == 0;
                        free(outside);
                }
                free(want);
                if (!ok)
                        return false;
        }
        return true;
}

/**
 * template_conditions_parse() - a filter enumeration template's conditions.
 * @layer: the template's layer: the conditions are its fields
 * @specs: the conditions as callers give them
 * @n: how many (at most ENGINE_CONDITIONS_MAX)
 * @err: filled on WFP errors
 * @ret: room for @n; their texts are not kept
 *
 * Return: 0, a WFP error of condition_parse(), FWP_E_DUPLICATE_CONDITION for a field named
 * twice (WFP's templates hold distinct conditions), FWP_E_OUT_OF_BOUNDS for too many, or -ENOMEM.
 */
int template_conditions_parse(WfpLayer layer, const ConditionSpec *specs, size_t n, EngineError *err,
                              Condition *ret) {
        if (n > ENGINE_CONDITIONS_MAX)
                return engine_error(err, FWP_E_OUT_OF_BOUNDS, "a template has at most %d conditions",
                                    ENGINE_CONDITIONS_MAX);
        for (size_t i = 0; i < n; i++) {
                int r = condition_parse(layer, &specs[i], err, &ret[i]);

                if (r < 0)
                        return r;
                condition_done(&ret[i]);
                for (size_t k = 0; k < i; k++)
                        if (ret[k].field == ret[i].field)
                                return engine_error(err, FWP_E_DUPLICATE_CONDITION,
                                                    "template conditions %zu and %zu are both on %s", k, i,
                                                    wfp_field_info(ret[i].field)->name);
        }
        return 0;
}

bool ranges_contain(const uint32_t (*r)[2], int n, uint32_t v) {
        for (int i = 0; i < n; i++)
                if (r[i][0] <= v && v <= r[i][1])
                        return true;
        return false;
}

bool condition_field_is_port(WfpField f) {
        return f == WFP_FIELD_IP_LOCAL_PORT || f == WFP_FIELD_IP_REMOTE_PORT;
}

bool filter_ports_typed(const Filter *f) {
        uint32_t icmp = wfp_layer_info(f->layer)->family == 4 ? 1 : 58, protos[FILTER_RANGES_MAX][2];
        const Condition *proto = NULL;
        size_t n_protos = 0;
        bool ports = false;
        int n;

        for (size_t i = 0; i < f->n_conditions; i++) {
                ports = ports || condition_field_is_port(f->conditions[i].field);
                if (f->conditions[i].field == WFP_FIELD_IP_PROTOCOL) {
                        proto = &f->conditions[i];
                        n_protos++;
                }
        }
        if (!ports)
                return false;
        /* the common case, one protocol or range of them, without the set algebra below */
        if (n_protos == 1 && !proto->negate)
                return proto->lo[0] <= icmp && icmp <= proto->hi[0];
        n = filter_field_ranges(f, WFP_FIELD_IP_PROTOCOL, protos, ELEMENTSOF(protos));
        return n != 0 && (n < 0 || ranges_contain((const uint32_t (*)[2]) protos, n, icmp));
}
