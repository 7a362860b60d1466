/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * filter-order.c — a filter's place in its sublayer's evaluation order in its layer (the lprev/lnext
 * list the compiler walks, or the boot-time list), found in O(log n) (issue 12).
 *
 * Next to each list, a sorted array of milestones (FilterOrder): the list is cut into stretches
 * of consecutive filters, each but the first starting at a milestone that knows its stretch's
 * length; the filters before the first milestone are the front stretch (n_front), walked from the
 * head. A new filter's stretch is found by a binary search of the milestones (filter_compare()),
 * then its place by a walk of at most that stretch. A stretch that grows past ORDER_STRETCH_MAX
 * splits in two halves; two neighbours that shrink to ORDER_STRETCH_MAX / 2 together join. So every
 * stretch has at most ORDER_STRETCH_MAX filters, and any two neighbours more than half that: a
 * milestone (16 bytes) for every 9 filters when they are added in order, for every 4.5 at most
 * when they are added anywhere or deleted. In a list of 100,000 filters in random order a new one's
 * place takes 14 comparisons and a walk of at most 16 steps, where the walk from both ends at once
 * that this replaces took 50,000 on average (25,000 from each end). Each step of either is a
 * filter's cache line: a bound of 64 steps made the walk the longer part (engine-mem --mixed
 * --random-weights: 100,000 adds in 0.25-0.50 s, 0.19 s with 16, 2 B more a filter).
 *
 * The milestones are a shortcut, never the truth: when the array cannot grow (no memory), a
 * stretch stays longer and its walk with it. So a link needs no memory to succeed (an abort
 * relinks a deleted filter without any), and an unlink allocates none.
 */
#include <errno.h>
#include <string.h>

#include "array.h"
#include "engine.h"
#include "engine-internal.h"
#include "macro.h"

#define ORDER_STRETCH_MAX 16u

/* The list @f is in (or goes in), its last filter and its index. */
typedef struct OrderList {
        Filter **head, **tail;
        FilterOrder *order;
} OrderList;

static OrderList list_of(const Filter *f) {
        Sublayer *s = f->sublayer;

        if (filter_is_boottime(f))
                return (OrderList) { &s->boot_head[f->layer], &s->boot_tail[f->layer], &s->boot_order[f->layer] };
        return (OrderList) { &s->filters_head[f->layer], &s->filters_tail[f->layer], &s->order[f->layer] };
}

/* The stretch @f is in, or would be in: the index of the last milestone not after it, or -1 for
 * the front stretch. */
static long find_stretch(const FilterOrder *o, const Filter *f) {
        size_t lo = 0, hi = o->n_marks;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (filter_compare(f, o->marks[mid].filter) >= 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return (long) lo - 1;
}

static uint32_t *stretch_len(FilterOrder *o, long i) {
        return i < 0 ? &o->n_front : &o->marks[i].n;
}

static void mark_remove(FilterOrder *o, size_t i) {
        memmove(o->marks + i, o->marks + i + 1, (o->n_marks - i - 1) * sizeof(*o->marks));
        o->n_marks--;
}

/* Stretch @i, grown past the bound, in two halves: a new milestone in its middle. The first half is
 * the bigger one, so that it and an empty front stretch before it are not small enough to join.
 * Without the memory for it the stretch stays as it is. */
static void split(FilterOrder *o, Filter *head, long i) {
        size_t alloc = o->n_alloc;
        uint32_t n = *stretch_len(o, i), keep = n - n / 2;
        Filter *m = i < 0 ? head : o->marks[i].filter;

        if (o->n_marks >= UINT32_MAX || !ARRAY_RESERVE(o->marks, alloc, (size_t) o->n_marks + 1, 16))
                return;
        o->n_alloc = (uint32_t) (alloc < UINT32_MAX ? alloc : UINT32_MAX);
        for (uint32_t k = 0; k < keep; k++)
                m = m->lnext;
        memmove(o->marks + i + 2, o->marks + i + 1, (o->n_marks - (size_t) (i + 1)) * sizeof(*o->marks));
        o->marks[i + 1] = (FilterMark) { .filter = m, .n = n - keep };
        o->n_marks++;
        *stretch_len(o, i) = keep;
}

/* Stretch @i + 1 into stretch @i, if they are small enough together. */
static void join(FilterOrder *o, long i) {
        if (i + 1 >= (long) o->n_marks || *stretch_len(o, i) + o->marks[i + 1].n > ORDER_STRETCH_MAX / 2)
                return;
        *stretch_len(o, i) += o->marks[i + 1].n;
        mark_remove(o, (size_t) (i + 1));
}

void filter_order_link(Filter *f) {
        OrderList l = list_of(f);
        FilterOrder *o = l.order;
        Filter *at;
        long i;

        if (!*l.tail || filter_compare(f, *l.tail) >= 0) {
                /* the common case, and the cheap one: last */
                at = *l.tail;
                i = (long) o->n_marks - 1;
        } else if (filter_compare(f, *l.head) < 0) {
                at = NULL;
                i = -1;
        } else {
                /* after the last filter that is not after it: in its stretch, which ends before
                 * the next milestone (after f) */
                i = find_stretch(o, f);
                at = i < 0 ? *l.head : o->marks[i].filter;
                while (at->lnext && filter_compare(f, at->lnext) >= 0)
                        at = at->lnext;
        }

        /* f goes after `at` (or first when at == NULL) */
        f->lprev = at;
        f->lnext = at ? at->lnext : *l.head;
        if (f->lnext)
                f->lnext->lprev = f;
        else
                *l.tail = f;
        if (at)
                at->lnext = f;
        else
                *l.head = f;

        if (++*stretch_len(o, i) > ORDER_STRETCH_MAX)
                split(o, *l.head, i);
}

void filter_order_unlink(Filter *f) {
        OrderList l = list_of(f);
        FilterOrder *o = l.order;
        long i = find_stretch(o, f);

        if (i >= 0 && o->marks[i].filter == f) {
                if (o->marks[i].n == 1) {
                        /* its stretch was f alone */
                        mark_remove(o, (size_t) i);
                        i--;
                } else {
                        o->marks[i].filter = f->lnext;
                        o->marks[i].n--;
                }
        } else
                (*stretch_len(o, i))--;
        join(o, i);
        if (i >= 0)
                join(o, i - 1);

        if (o->n_marks == 0) {
                o->marks = mfree(o->marks);
                o->n_alloc = 0;
        } else if (o->n_alloc > 64 && o->n_marks < o->n_alloc / 4) {
                /* the room given back after deletes: the smaller array, or the one we have */
                FilterMark *m = reallocarray(o->marks, o->n_alloc / 2, sizeof(*m));

                if (m) {
                        o->marks = m;
                        o->n_alloc /= 2;
                }
        }

        if (f->lprev)
                f->lprev->lnext = f->lnext;
        else
                *l.head = f->lnext;
        if (f->lnext)
                f->lnext->lprev = f->lprev;
        else
                *l.tail = f->lprev;
        f->lprev = f->lnext = NULL;
}

void sublayer_orders_done(Sublayer *s) {
        for (size_t l = 0; l < _WFP_LAYER_MAX; l++) {
                s->order[l].marks = mfree(s->order[l].marks);
                s->boot_order[l].marks = mfree(s->boot_order[l].marks);
        }
}

int filter_order_check(const Sublayer *s, WfpLayer layer, bool boot) {
        const FilterOrder *o = boot ? &s->boot_order[layer] : &s->order[layer];
        const Filter *f = boot ? s->boot_head[layer] : s->filters_head[layer];
        uint32_t prev_len = 0, len = 0;
        size_t j = 0;
        bool front = true;

        for (; f; f = f->lnext) {
                if (f->lnext && filter_compare(f, f->lnext) >= 0)
                        return -EBADMSG;        /* the list itself out of order */
                if (j < o->n_marks && o->marks[j].filter == f) {
                        /* the end of the stretch before: its length, and the pair's */
                        if (len != (front ? o->n_front : o->marks[j - 1].n) || len > ORDER_STRETCH_MAX ||
                            (j > 0 && prev_len + len <= ORDER_STRETCH_MAX / 2))
                                return -EBADMSG;
                        prev_len = len;
                        len = 0;
                        front = false;
                        j++;
                }
                len++;
        }
        if (j != o->n_marks || len != (front ? o->n_front : o->marks[j - 1].n) || len > ORDER_STRETCH_MAX ||
            (j > 0 && prev_len + len <= ORDER_STRETCH_MAX / 2) || o->n_marks > o->n_alloc)
                return -EBADMSG;
        return 0;
}
