/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * obstacles.c — see obstacles.h: the datagram kinds, and the result: one entry per base chain
 * from what the evaluation (obstacles-eval.c, where its assumptions are) finds there, its texts
 * made safe for logs and the bus.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "macro.h"
#include "obstacles-internal.h"
#include "utf8.h"

const char *nft_dgram_name(unsigned d) {
        static const char *const names[_NFT_DGRAM_MAX] = {
                "IPv4 UDP 500 inbound, new flow", "IPv4 UDP 500 inbound, reply",
                "IPv4 UDP 500 outbound, new flow", "IPv4 UDP 500 outbound, reply",
                "IPv4 UDP 4500 inbound, new flow", "IPv4 UDP 4500 inbound, reply",
                "IPv4 UDP 4500 outbound, new flow", "IPv4 UDP 4500 outbound, reply",
                "IPv6 UDP 500 inbound, new flow", "IPv6 UDP 500 inbound, reply",
                "IPv6 UDP 500 outbound, new flow", "IPv6 UDP 500 outbound, reply",
        };

        return STRING_TABLE_AT(names, d);
}

int nft_dgram_of(bool ipv6, uint16_t port, bool outbound, bool reply) {
        unsigned p = ipv6 ? (port == 500 ? 2 : 3) : port == 500 ? 0 : port == 4500 ? 1 : 3;

        return p < NFT_DGRAM_PORTS ? (int) NFT_DGRAM(p, outbound, reply) : -1;
}

/* ---- the result ---------------------------------------------------------------------------- */

/* A text for the result: @s made valid UTF-8 without control characters, at most
 * NFT_OBSTACLE_TEXT_MAX bytes (cut on a character boundary, with "…" when cut). */
static char *text_finish(char *s) {
        utf8_make_printable(s);
        if (strlen(s) > NFT_OBSTACLE_TEXT_MAX) {
                utf8_truncate(s, NFT_OBSTACLE_TEXT_MAX - strlen("…"));
                strcat(s, "…");
        }
        return strdup(s);
}

#define WHAT_BUF (4 * NFT_OBSTACLE_TEXT_MAX)

static void append(char *buf, size_t *len, const char *s) {
        size_t n = strnlen(s, WHAT_BUF - 1 - *len);

        memcpy(buf + *len, s, n);
        *len += n;
        buf[*len] = 0;
}

/* What drops at @p, reached from base chain @c: "policy drop", "rule handle 12: udp dport 500
 * drop", "rule handle 7 in chain x: reject". */
static void point_text(const Model *m, const OChain *c, const DropPoint *p, char *buf, size_t size) {
        char desc[NFT_OBSTACLE_TEXT_MAX + 1];
        const ORule *r;

        if (p->rule == POINT_POLICY) {
                snprintf(buf, size, "policy drop");
                return;
        }
        r = &m->rules[p->rule];
        describe_rule(m, r, desc, sizeof(desc));
        if (r->chain == (uint32_t) (c - m->chains))
                snprintf(buf, size, "rule handle %" PRIu64 ": %s", r->handle, desc);
        else
                snprintf(buf, size, "rule handle %" PRIu64 " in chain %.300s: %s", r->handle, m->chains[r->chain].name,
                         desc);
}

/* The entry of base chain @c from its drop points. */
static int make_entry(const Model *m, const OChain *c, const DropPoint *points, size_t n_points, NftObstacle *e) {
        const OTable *t = &m->tables[c->table];
        char what[WHAT_BUF] = "", buf[WHAT_BUF];
        size_t len = 0;

        *e = (NftObstacle) { .hook = hook_name(t->family, c->hook), .priority = c->priority };
        for (size_t i = 0; i < n_points; i++) {
                e->kinds |= points[i].kinds;
                e->kinds_always |= points[i].always;
                /* in the order they were reached, as long as they may show */
                if (len > NFT_OBSTACLE_TEXT_MAX)
                        continue;
                point_text(m, c, &points[i], buf, sizeof(buf));
                if (i > 0)
                        append(what, &len, "; ");
                append(what, &len, buf);
        }
        snprintf(buf, sizeof(buf), "%s %.300s", family_name(t->family), t->name);
        e->table = text_finish(buf);
        snprintf(buf, sizeof(buf), "%.300s", c->name);
        e->chain = text_finish(buf);
        e->what = text_finish(what);
        return e->table && e->chain && e->what ? 0 : -ENOMEM;
}

static void obstacle_done(NftObstacle *e) {
        free_many(e->table, e->chain, e->what);
}

static int obstacle_cmp(const void *a, const void *b) {
        const NftObstacle *x = a, *y = b;
        int c = strcmp(x->table, y->table);

        if (c == 0)
                c = strcmp(x->chain, y->chain);
        if (c == 0)
                c = strcmp(x->what, y->what);
        if (c == 0)
                c = (x->kinds > y->kinds) - (x->kinds < y->kinds);
        return c;
}

/* Every kind through base chain @chain; an entry when something drops. */
static int add_entry(Evaluator *ev, const Model *m, uint32_t chain, NftObstacles *o, size_t *alloc) {
        const DropPoint *points;
        size_t n_points;
        int r;

        r = evaluator_run(ev, chain, &points, &n_points);
        if (r < 0 || n_points == 0)
                return r;
        if (!ARRAY_RESERVE(o->entries, *alloc, o->n + 1, 8))
                return -ENOMEM;
        /* counted at once: freed with the rest, also when make_entry() failed */
        return make_entry(m, &m->chains[chain], points, n_points, &o->entries[o->n++]);
}

int nft_obstacles_find(const void *buf, size_t len, const char *own_table, NftObstacles **ret) {
        _cleanup_(nft_obstacles_freep) NftObstacles *o = NULL;
        Model m = {};
        Evaluator *ev = NULL;
        size_t alloc = 0;
        int r;

        if (!own_table || !ret)
                return -EINVAL;
        o = calloc(1, sizeof(*o));
        if (!o)
                return -ENOMEM;
        r = model_read(&m, buf, len, own_table);
        if (r >= 0)
                r = evaluator_new(&m, &ev);
        for (size_t i = 0; r >= 0 && i < m.n_chains; i++)
                if (m.chains[i].base && !m.tables[m.chains[i].table].skip)
                        r = add_entry(ev, &m, (uint32_t) i, o, &alloc);
        o->n_malformed = m.n_malformed;
        evaluator_free(ev);
        model_done(&m);
        if (r < 0)
                return r;
        if (o->n > 0)
                qsort(o->entries, o->n, sizeof(*o->entries), obstacle_cmp);
        *ret = TAKE_PTR(o);
        return 0;
}

NftObstacles *nft_obstacles_free(NftObstacles *o) {
        if (!o)
                return NULL;
        for (size_t i = 0; i < o->n; i++)
                obstacle_done(&o->entries[i]);
        free(o->entries);
        free(o);
        return NULL;
}

bool nft_obstacles_equal(const NftObstacles *a, const NftObstacles *b) {
        size_t na = a ? a->n : 0, nb = b ? b->n : 0;

        if (na != nb)
                return false;
        for (size_t i = 0; i < na; i++) {
                const NftObstacle *x = &a->entries[i], *y = &b->entries[i];

                if (obstacle_cmp(x, y) != 0 || x->kinds_always != y->kinds_always || x->priority != y->priority ||
                    !streq(x->hook, y->hook))
                        return false;
        }
        return true;
}
