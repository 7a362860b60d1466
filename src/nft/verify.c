/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * verify.c — see verify.h. Both images come out of the one parser (image.c), so they are
 * compared as text: equal text, equal meaning. The cost is linear in the table, plus sorting
 * a chain's handles when its rules differ.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "compile.h"
#include "image.h"
#include "macro.h"
#include "verify.h"

int nft_verify_expected(const Engine *e, NftLayout *L, const NftConfig *c, NftImage **ret) {
        _cleanup_(nft_batch_freep) NftBatch *b = NULL;
        _cleanup_(nft_image_freep) NftImage *img = NULL;
        int r;

        r = nft_batch_new(1, &b);
        if (r < 0)
                return r;
        r = nft_compile_layout(e, L, c, b);
        if (r >= 0)
                r = nft_image_parse(b->buf, b->len, c->table, &img);
        /* never sent: nothing of it is applied (and the layout changed nothing to undo) */
        nft_batch_finish(b, false);
        if (r < 0)
                return r;
        if (img->n_malformed > 0)
                return -EBADMSG; /* our own messages: a bug, not a difference */

        /* the handles bfed keeps: each rule's record points where its handle is */
        for (size_t i = 0; i < img->n_rules; i++) {
                const NftRecord *rec = nft_batch_find(b, img->rules[i].seq);

                if (rec && rec->handle && *rec->handle != 0) {
                        img->rules[i].tracked = true;
                        img->rules[i].handle = *rec->handle;
                }
        }
        *ret = TAKE_PTR(img);
        return 0;
}

/* ---- the comparison ------------------------------------------------------------------------ */

typedef struct Cmp {
        const NftImage *want, *have;
        NftDiff *diff;
} Cmp;

_printf_(2, 3) static void differ(Cmp *c, const char *fmt, ...) {
        va_list ap;

        c->diff->n++;
        if (c->diff->n_shown >= NFT_DIFF_SHOWN)
                return;
        va_start(ap, fmt);
        (void) vsnprintf(c->diff->shown[c->diff->n_shown++], NFT_DIFF_TEXT_MAX, fmt, ap);
        va_end(ap);
}

static bool text_eq(const NftImage *a, NftImageText x, const NftImage *b, NftImageText y) {
        return x.len == y.len && memcmp(a->text + x.off, b->text + y.off, x.len) == 0;
}

static int text_cmp2(const NftImage *a, NftImageText x, const NftImage *b, NftImageText y) {
        int r = memcmp(a->text + x.off, b->text + y.off, x.len < y.len ? x.len : y.len);

        return r != 0 ? r : (x.len > y.len) - (x.len < y.len);
}

#define T(img, t) (int) (t).len, nft_image_str((img), (t))

/* A rule, for a message: its comment when it has one, else what it does. */
static void rule_what(const NftImage *img, const NftImageRule *r, char *buf, size_t size) {
        if (r->comment.len > 0)
                (void) snprintf(buf, size, "\"%.*s\"", T(img, r->comment));
        else
                (void) snprintf(buf, size, "%.*s", T(img, r->text));
}

static bool rule_same(const Cmp *c, const NftImageRule *w, const NftImageRule *h) {
        return (!w->tracked || w->handle == h->handle) && text_eq(c->want, w->text, c->have, h->text);
}

typedef struct HandleIndex {
        uint64_t handle;
        size_t i;
} HandleIndex;

static int handle_cmp(const void *a, const void *b) {
        uint64_t x = ((const HandleIndex *) a)->handle, y = ((const HandleIndex *) b)->handle;

        return (x > y) - (x < y);
}

/*
 * The rules of a chain in both. Bfed's rules are matched by handle where it tracks one, the
 * others (the base chains' dispatch rules) by content, in order; whatever of the kernel's is
 * left over is not bfed's.
 */
static int compare_rules(Cmp *c, const NftImageChain *wc, const NftImageChain *hc) {
        const NftImageRule *w = wc->rules.n > 0 ? c->want->rules + wc->rules.first : NULL;
        const NftImageRule *h = hc->rules.n > 0 ? c->have->rules + hc->rules.first : NULL;
        _cleanup_(freep) HandleIndex *index = NULL;
        _cleanup_(freep) bool *matched = NULL;
        size_t nw = wc->rules.n, nh = hc->rules.n, next = 0;
        char what[160];
        bool in_order = true;

        if (nw == nh) {
                size_t i = 0;

                while (i < nw && rule_same(c, &w[i], &h[i]))
                        i++;
                if (i == nw)
                        return 0;
        }

        index = malloc((nh ?: 1) * sizeof(*index));
        matched = calloc(nh ?: 1, sizeof(*matched));
        if (!index || !matched)
                return -ENOMEM;
        for (size_t j = 0; j < nh; j++)
                index[j] = (HandleIndex) { .handle = h[j].handle, .i = j };
        qsort(index, nh, sizeof(*index), handle_cmp);

        for (size_t i = 0; i < nw; i++) {
                size_t j = nh;

                rule_what(c->want, &w[i], what, sizeof(what));
                if (w[i].tracked) {
                        HandleIndex *x = bsearch(&(HandleIndex) { .handle = w[i].handle }, index, nh, sizeof(*index),
                                                 handle_cmp);

                        if (x && !matched[x->i])
                                j = x->i;
                        if (j == nh) {
                                differ(c, "chain %.*s: rule %" PRIu64 " (%s) is missing", T(c->want, wc->name),
                                       w[i].handle, what);
                                continue;
                        }
                        if (!text_eq(c->want, w[i].text, c->have, h[j].text))
                                differ(c, "chain %.*s: rule %" PRIu64 " (%s) was changed to: %.*s",
                                       T(c->want, wc->name), w[i].handle, what, T(c->have, h[j].text));
                } else {
                        for (size_t k = next; k < nh && j == nh; k++)
                                if (!matched[k] && text_eq(c->want, w[i].text, c->have, h[k].text))
                                        j = k;
                        if (j == nh) {
                                differ(c, "chain %.*s: a rule is missing: %s", T(c->want, wc->name), what);
                                continue;
                        }
                }
                matched[j] = true;
                if (j < next && in_order) {
                        differ(c, "chain %.*s: rule %" PRIu64 " (%s) is out of order", T(c->want, wc->name),
                               h[j].handle, what);
                        in_order = false; /* one such line says it */
                }
                if (j >= next)
                        next = j + 1;
        }
        for (size_t j = 0; j < nh; j++)
                if (!matched[j]) {
                        rule_what(c->have, &h[j], what, sizeof(what));
                        differ(c, "chain %.*s: rule %" PRIu64 " is not bfed's: %s", T(c->have, hc->name), h[j].handle,
                               what);
                }
        return 0;
}

static int compare_chains(Cmp *c) {
        const NftImage *want = c->want, *have = c->have;
        size_t i = 0, j = 0;
        int r;

        while (i < want->n_chains || j < have->n_chains) {
                const NftImageChain *w = i < want->n_chains ? &want->chains[i] : NULL;
                const NftImageChain *h = j < have->n_chains ? &have->chains[j] : NULL;
                int k = !w ? 1 : !h ? -1 : text_cmp2(want, w->name, have, h->name);

                if (k < 0) {
                        differ(c, "chain %.*s is missing", T(want, w->name));
                        i++;
                } else if (k > 0) {
                        differ(c, "chain %.*s is not bfed's (%.*s, %" PRIu32 " rules)", T(have, h->name),
                               T(have, h->attrs), h->rules.n);
                        j++;
                } else {
                        if (!text_eq(want, w->attrs, have, h->attrs))
                                differ(c, "chain %.*s: is %.*s, must be %.*s", T(want, w->name), T(have, h->attrs),
                                       T(want, w->attrs));
                        r = compare_rules(c, w, h);
                        if (r < 0)
                                return r;
                        i++;
                        j++;
                }
        }
        return 0;
}

static void compare_elems(Cmp *c, const NftImageSet *ws, const NftImageSet *hs) {
        /* (a set without elements may have no array at all: no pointer arithmetic on NULL) */
        const NftImageElem *w = ws->n_elems > 0 ? c->want->elems + ws->first_elem : NULL;
        const NftImageElem *h = hs->n_elems > 0 ? c->have->elems + hs->first_elem : NULL;
        size_t i = 0, j = 0;

        /* both sorted by text, which starts with the key: one merge */
        while (i < ws->n_elems || j < hs->n_elems) {
                int k = i == ws->n_elems ? 1 : j == hs->n_elems ? -1 : text_cmp2(c->want, w[i].text, c->have, h[j].text);

                if (k == 0) {
                        i++;
                        j++;
                } else if (i < ws->n_elems && j < hs->n_elems && text_eq(c->want, w[i].key, c->have, h[j].key)) {
                        differ(c, "set %.*s: element %.*s is now: %.*s", T(c->want, ws->name), T(c->want, w[i].key),
                               T(c->have, h[j].text));
                        i++;
                        j++;
                } else if (k < 0) {
                        differ(c, "set %.*s: element %.*s is missing", T(c->want, ws->name), T(c->want, w[i].text));
                        i++;
                } else {
                        differ(c, "set %.*s: element %.*s is not bfed's", T(c->have, hs->name), T(c->have, h[j].text));
                        j++;
                }
        }
}

/* The next named set in name order from *i on, or NULL. */
static const NftImageSet *next_named(const NftImage *img, size_t *i) {
        for (; *i < img->n_sets; (*i)++)
                if (!img->sets[img->sets_by_name[*i]].anonymous)
                        return &img->sets[img->sets_by_name[*i]];
        return NULL;
}

static void compare_sets(Cmp *c) {
        const NftImage *want = c->want, *have = c->have;
        size_t i = 0, j = 0;

        for (;;) {
                const NftImageSet *w = next_named(want, &i), *h = next_named(have, &j);
                int k;

                if (!w && !h)
                        break;
                k = !w ? 1 : !h ? -1 : text_cmp2(want, w->name, have, h->name);
                if (k < 0) {
                        differ(c, "set %.*s is missing", T(want, w->name));
                        i++;
                        continue;
                }
                if (k > 0) {
                        differ(c, "set %.*s is not bfed's (%zu elements)", T(have, h->name), h->n_elems);
                        j++;
                        continue;
                }
                c->diff->n_sets++;
                c->diff->n_elems += w->n_elems;
                if (!text_eq(want, w->attrs, have, h->attrs))
                        differ(c, "set %.*s: is %.*s, must be %.*s", T(want, w->name), T(have, h->attrs),
                               T(want, w->attrs));
                compare_elems(c, w, h);
                i++;
                j++;
        }
}

int nft_image_compare(const NftImage *want, const NftImage *have, NftDiff *ret) {
        Cmp c = { .want = want, .have = have, .diff = ret };
        int r;

        if (!want || !have || !ret)
                return -EINVAL;
        *ret = (NftDiff) { .n_chains = want->n_chains, .n_rules = want->n_rules };

        if (!have->has_table)
                differ(&c, "the table is missing");
        else if (want->has_table && !text_eq(want, want->table_attrs, have, have->table_attrs))
                differ(&c, "the table has %.*s, must have %.*s", T(have, have->table_attrs), T(want, want->table_attrs));
        if (have->n_malformed > 0)
                differ(&c, "%zu messages about the table made no sense", have->n_malformed);
        r = compare_chains(&c);
        if (r < 0)
                return r;
        compare_sets(&c);
        for (size_t i = 0; i < have->n_objects; i++)
                differ(&c, "%.*s is not bfed's", T(have, have->objects[i]));
        return 0;
}
