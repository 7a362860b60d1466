/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * run-keys.c — a run's key (FilterRuns=yes; NftRun in compile.h): which filters can be members of
 * a run and of which shape, the key of each of their elements, and the table of a run's members
 * by key that tells whether a filter may join (no element in common with a member), which member
 * a packet's values are, and which members a filter's values meet. The run's sets, elements and
 * rules are compile-layout.c's.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "compile-internal.h"
#include "keymap.h"

/* In key order; bit k of NftRun.shape is run_fields[k]. */
const WfpField run_fields[RUN_FIELDS] = {
        WFP_FIELD_IP_PROTOCOL, WFP_FIELD_IP_LOCAL_PORT, WFP_FIELD_IP_REMOTE_PORT,
        WFP_FIELD_IP_LOCAL_ADDRESS, WFP_FIELD_IP_REMOTE_ADDRESS,
};

/* How many ports a port condition holds (big-endian [lo, hi]). */
static size_t port_count(const Condition *cd) {
        unsigned lo = port_at(cd->lo), hi = port_at(cd->hi);

        return hi >= lo ? hi - lo + 1 : 0;
}

void prefix_mask_apply(uint8_t *v, size_t n, unsigned plen) {
        for (size_t b = 0; b < n; b++) {
                unsigned keep = plen >= (b + 1) * 8u ? 8u : plen > b * 8u ? plen - b * 8u : 0u;

                v[b] &= (uint8_t) (0xff00u >> keep);
        }
}

/*
 * @f's shape as a run member, or 0 when it cannot be one: runs are off, it is an exemption, a
 * condition is not one exact value of a run field (or, for an address, one prefix: the run looks
 * the masked address up; for a port, a range of at most RUN_RANGE_MAX ports, in blocks, on one of
 * the two port fields), a negation, the same field twice, or it matches a port without the
 * protocol that gives the port its meaning.
 */
unsigned run_shape(const NftConfig *c, const Filter *f) {
        unsigned shape = 0;
        size_t elements = 1;

        if (!c->filter_runs || f->n_conditions == 0 || f->engine_owned)
                return 0;       /* the exemptions keep rules of their own, as `nft list` shows them */
        if (f->action == WFP_ACTION_CALLOUT_TERMINATING && !filter_callout_passes_clear(f))
                shape |= RUN_CALLOUT | (f->flags & WFP_FILTER_FLAG_CLEAR_ACTION_RIGHT ? RUN_CALLOUT_HARD : 0);
        for (size_t i = 0; i < f->n_conditions; i++) {
                const Condition *cd = &f->conditions[i];
                bool address = cd->field == WFP_FIELD_IP_LOCAL_ADDRESS || cd->field == WFP_FIELD_IP_REMOTE_ADDRESS;
                size_t k = 0;
                int plen;

                while (k < RUN_FIELDS && run_fields[k] != cd->field)
                        k++;
                if (k == RUN_FIELDS || cd->negate || (shape & (1u << k)) ||
                    !(cd->match == WFP_MATCH_EQUAL || (cd->match == WFP_MATCH_RANGE && (RUN_PORTS & (1u << k)))))
                        return 0;
                plen = address ? condition_prefix_len(cd) : -1;
                if (RUN_PORTS & (1u << k)) {
                        elements *= port_count(cd);
                        if (port_count(cd) > 1)
                                shape |= k == 1 ? RUN_BLOCKS_LOCAL : RUN_BLOCKS_REMOTE;
                } else if (address ? plen <= 0 : !condition_is_single(cd))
                        return 0;
                if (elements > RUN_RANGE_MAX)
                        return 0;
                shape |= 1u << k;
                if (address)
                        shape |= (unsigned) plen << RUN_PLEN_SHIFT(k);
        }
        if ((shape & RUN_PORTS) && (!(shape & RUN_PROTOCOL) || filter_ports_typed(f)))
                return 0; /* a port needs its protocol, and ICMP's are a type and a code */
        if ((shape & RUN_BLOCKS) == RUN_BLOCKS)
                return 0; /* blocks of two ranges would be a rule for each pair of sizes */
        return shape;
}

const Condition *filter_condition(const Filter *f, WfpField field) {
        for (size_t i = 0; i < f->n_conditions; i++)
                if (f->conditions[i].field == field)
                        return &f->conditions[i];
        return NULL;
}

/* Appends @n bytes of @value to a run's key of @len bytes, in whole 32-bit registers when the key
 * is a concatenation (@shape has more than one field); a lone field is its own length, as nft
 * has it (nft 1.0.6 cannot print a protocol padded to a register). */
static size_t key_append(unsigned shape, uint8_t key[static RUN_KEY_MAX], size_t len, const uint8_t *value,
                         size_t n) {
        unsigned fields = shape & ((1u << RUN_FIELDS) - 1);
        size_t padded = fields & (fields - 1) ? (n + 3u) & ~3u : n;

        memset(key + len, 0, padded);
        memcpy(key + len, value, n);
        return len + padded;
}

size_t run_key_count(const Filter *f, unsigned shape) {
        size_t n = 1;

        for (size_t k = 0; k < RUN_FIELDS; k++)
                if (shape & RUN_PORTS & (1u << k))
                        n *= port_count(filter_condition(f, run_fields[k]));
        return n;
}

size_t run_key_nth(const Filter *f, unsigned shape, size_t i, uint8_t key[static RUN_KEY_MAX]) {
        size_t len = 0;

        for (size_t k = 0; k < RUN_FIELDS; k++)
                if (shape & (1u << k)) {
                        const Condition *cd = filter_condition(f, run_fields[k]);

                        if (RUN_PORTS & (1u << k)) {
                                size_t n = port_count(cd);
                                unsigned port = port_at(cd->lo) + (unsigned) (i % n);
                                uint8_t v[2] = { (uint8_t) (port >> 8), (uint8_t) port };

                                i /= n;
                                len = key_append(shape, key, len, v, 2);
                        } else
                                len = key_append(shape, key, len, cd->lo, cd->len);
                }
        return len;
}

/*
 * A run's keys. A set holds each key once, so two members with the same values (two like
 * filters, say at different weights) cannot share a run: the second would have no element of
 * its own to delete. An open-addressing table of the members, with tombstones where members left;
 * it grows when it fills up (keys_grow()), and is built again from the members after a refused
 * batch rolled them back.
 *
 * A member is in it once per unit of its key: its key itself in a run without blocks (where every
 * member has one port), and in a run with blocks each aligned stretch of KEYS_UNIT ports its range
 * touches (1 to 5 for a range of up to 64 ports: doc/benchmark.md, "Keys by 16 ports"). A unit is
 * hashed as the key with the block field's port masked to KEYS_UNIT, and a port's key likewise:
 * so the members that have a port, or that share one with a range, are on the chain of that port's
 * unit, and each is told apart by its values (member_has_key(), members_meet()).
 */
static const Filter keys_tomb;
#define KEYS_TOMB (&keys_tomb)
#define KEYS_UNIT 16u

/* Whether @key is one of @f's elements: each field's part of it is @f's value, or in its range. */
static bool member_has_key(const NftRun *run, const Filter *f, const uint8_t *key, size_t len) {
        unsigned fields = run->shape & ((1u << RUN_FIELDS) - 1);
        bool padded = fields & (fields - 1);
        size_t at = 0;

        for (size_t k = 0; k < RUN_FIELDS; k++) {
                const Condition *cd;

                if (!(run->shape & (1u << k)))
                        continue;
                cd = filter_condition(f, run_fields[k]);
                if (at + cd->len > len)
                        return false;
                if (RUN_PORTS & (1u << k)) {
                        unsigned v = port_at(key + at);

                        if (v < port_at(cd->lo) || v > port_at(cd->hi))
                                return false;
                } else if (memcmp(key + at, cd->lo, cd->len) != 0)
                        return false;
                at += padded ? (cd->len + 3u) & ~3u : cd->len;
        }
        return at == len;
}

/* Whether members @f and @g of @run have an element in common: equal values, ranges that meet. */
static bool members_meet(const NftRun *run, const Filter *f, const Filter *g) {
        for (size_t k = 0; k < RUN_FIELDS; k++) {
                const Condition *a, *b;

                if (!(run->shape & (1u << k)))
                        continue;
                a = filter_condition(f, run_fields[k]);
                b = filter_condition(g, run_fields[k]);
                if (RUN_PORTS & (1u << k)) {
                        if (port_at(a->hi) < port_at(b->lo) || port_at(b->hi) < port_at(a->lo))
                                return false;
                } else if (a->len != b->len || memcmp(a->lo, b->lo, a->len) != 0)
                        return false;
        }
        return true;
}

/* Where in a key of @shape (with blocks) the block field's port is: after the protocol, and the
 * local port when the block field is the remote one, each a register. */
static size_t block_offset(unsigned shape) {
        return block_field(shape) == 1 || !(shape & 2u) ? 4 : 8;
}

/* The hash of @key, which a run with blocks takes with the port masked to its unit. */
static uint64_t keys_hash(const NftRun *run, const uint8_t *key, size_t len) {
        uint8_t unit[RUN_KEY_MAX];
        size_t at;

        if (!(run->shape & RUN_BLOCKS))
                return hash_bytes(key, len);
        at = block_offset(run->shape);
        assert(len <= RUN_KEY_MAX && at + 2 <= len);
        memcpy(unit, key, len);
        unit[at + 1] &= (uint8_t) ~(KEYS_UNIT - 1);
        return hash_bytes(unit, len);
}

/* How many units @f has in @run's table: in a run with blocks, the KEYS_UNIT-aligned stretches
 * its range touches. */
static size_t unit_count(const NftRun *run, const Filter *f) {
        const Condition *cd;

        if (!(run->shape & RUN_BLOCKS))
                return 1;
        cd = filter_condition(f, run_fields[block_field(run->shape)]);
        return port_at(cd->hi) / KEYS_UNIT - port_at(cd->lo) / KEYS_UNIT + 1;
}

/* @f's unit @i as a key, with its first port (which keys_hash() masks). */
static size_t unit_key(const NftRun *run, const Filter *f, size_t i, uint8_t key[static RUN_KEY_MAX]) {
        size_t len = run_key(f, run->shape, key), at;
        unsigned port;

        if (!(run->shape & RUN_BLOCKS))
                return len;
        at = block_offset(run->shape);
        port = (port_at(key + at) / KEYS_UNIT + (unsigned) i) * KEYS_UNIT;
        key[at] = (uint8_t) (port >> 8);
        key[at + 1] = (uint8_t) port;
        return len;
}

/* The slot of the member that has @key, or the free one that ends its chain. */
static size_t keys_slot(const NftRun *run, const uint8_t *key, size_t len) {
        size_t mask = run->n_key_slots - 1, i = keys_hash(run, key, len) & mask;

        for (; run->keys[i]; i = (i + 1) & mask)
                if (run->keys[i] != KEYS_TOMB && member_has_key(run, run->keys[i], key, len))
                        break;
        return i;
}

/* @f into the table, once per unit: in the first tombstone or free slot of the unit's chain. */
static void keys_put(NftRun *run, const Filter *f) {
        size_t mask = run->n_key_slots - 1;
        uint8_t key[RUN_KEY_MAX];

        for (size_t u = 0, n = unit_count(run, f); u < n; u++) {
                size_t len = unit_key(run, f, u, key), i = keys_hash(run, key, len) & mask;

                while (run->keys[i] && run->keys[i] != KEYS_TOMB)
                        i = (i + 1) & mask;
                if (run->keys[i] == KEYS_TOMB)
                        run->n_key_tombs--;
                run->n_keys++;
                run->keys[i] = f;
        }
}

/* An empty table of at least twice @want slots, in place of the run's (which the caller frees). */
static int keys_alloc(NftRun *run, size_t want) {
        size_t n = 8;
        const Filter **keys;

        while (n < 2 * want)
                n *= 2;
        keys = calloc(n, sizeof(*keys));
        if (!keys)
                return -ENOMEM;
        run->keys = keys;
        run->n_key_slots = n;
        run->n_keys = run->n_key_tombs = 0;
        return 0;
}

/* The table built afresh from the members: after a refused batch changed them. */
static int keys_build(const NftLayout *L, NftRun *run) {
        const Filter **old = run->keys;
        size_t want = 0;
        int k;

        for (const Filter *f = run->head; f; f = FS(L, f)->run_next)
                want += unit_count(run, f);
        k = keys_alloc(run, want);
        if (k < 0)
                return k;
        free(old);
        for (const Filter *f = run->head; f; f = FS(L, f)->run_next)
                keys_put(run, f);
        run->keys_refusals = nft_batch_refusals;
        return 0;
}

/*
 * The table grown (or rid of its tombstones) for new member @f, which the members already link.
 * A run without blocks has each member in one slot: its slots are put again as they are, and @f
 * after them, with no walk along the members (a step is a lookup of the member's layout entry).
 * In a run with blocks a slot does not say which of its member's units it is: the members are.
 */
static int keys_grow(const NftLayout *L, NftRun *run, const Filter *f) {
        const Filter **old = run->keys;
        size_t n_old = run->n_key_slots;
        int k;

        k = keys_alloc(run, run->n_keys + unit_count(run, f));
        if (k < 0)
                return k;
        if (run->shape & RUN_BLOCKS) {
                for (const Filter *g = run->head; g; g = FS(L, g)->run_next)
                        keys_put(run, g);
        } else {
                for (size_t i = 0; i < n_old; i++)
                        if (old[i] && old[i] != KEYS_TOMB)
                                keys_put(run, old[i]);
                keys_put(run, f);
        }
        free(old);
        return 0;
}

int run_keys_add(const NftLayout *L, NftRun *run, const Filter *f) {
        size_t n = unit_count(run, f);

        if (2 * (run->n_keys + run->n_key_tombs + n) > run->n_key_slots)
                return keys_grow(L, run, f);
        keys_put(run, f);
        return 0;
}

/* Every slot of @f on its units' chains. */
void run_keys_remove(NftRun *run, const Filter *f) {
        size_t mask = run->n_key_slots - 1;
        uint8_t key[RUN_KEY_MAX];

        if (!run->keys)
                return;
        for (size_t u = 0, n = unit_count(run, f); u < n; u++)
                for (size_t i = keys_hash(run, key, unit_key(run, f, u, key)) & mask; run->keys[i];
                     i = (i + 1) & mask)
                        if (run->keys[i] == f) {
                                run->keys[i] = KEYS_TOMB;
                                run->n_keys--;
                                run->n_key_tombs++;
                        }
}

/* The table made anew when a refused batch has changed the members since it was built. */
int run_keys_sync(const NftLayout *L, NftRun *run) {
        if (run->keys && run->keys_refusals == nft_batch_refusals)
                return 0;
        return keys_build(L, run);
}

static unsigned run_plen(unsigned shape, size_t k) {
        return (shape >> RUN_PLEN_SHIFT(k)) & 0xffu;
}

/*
 * Calls @fn for each member of @run that has an element @f's values can make: @f names every
 * field of the run's key with one value, a port range (the product at most RUN_RANGE_MAX), or an
 * address prefix at least as long as the run's. -EDOM when it does not: then any member may
 * match a packet @f matches.
 */
int run_members_meeting(const NftLayout *L, NftRun *run, const Filter *f, int (*fn)(const Filter *g, void *userdata),
                        void *userdata) {
        const Condition *conds[RUN_FIELDS] = {};
        size_t counts[RUN_FIELDS], total = 1;
        int k = run_keys_sync(L, run);

        if (k < 0)
                return k;
        for (size_t i = 0; i < RUN_FIELDS; i++) {
                const Condition *cd = NULL;

                counts[i] = 1;
                if (!(run->shape & (1u << i)))
                        continue;
                for (size_t j = 0; j < f->n_conditions; j++)
                        if (f->conditions[j].field == run_fields[i]) {
                                if (cd)
                                        return -EDOM;   /* ORed values */
                                cd = &f->conditions[j];
                        }
                if (!cd || cd->negate || !(cd->match == WFP_MATCH_EQUAL || cd->match == WFP_MATCH_RANGE))
                        return -EDOM;
                if (RUN_PORTS & (1u << i))
                        counts[i] = port_count(cd);
                else if (RUN_ADDRESSES & (1u << i) ? condition_prefix_len(cd) < (int) run_plen(run->shape, i)
                                                   : !condition_is_single(cd))
                        return -EDOM;
                conds[i] = cd;
                total *= counts[i];
                if (total == 0 || total > RUN_RANGE_MAX)
                        return -EDOM;
        }
        for (size_t n = 0; k == 0 && n < total; n++) {
                uint8_t key[RUN_KEY_MAX];
                const Filter *g;
                size_t len = 0, rest = n;

                for (size_t i = 0; i < RUN_FIELDS; i++) {
                        uint8_t v[16];

                        if (!conds[i])
                                continue;
                        memcpy(v, conds[i]->lo, conds[i]->len);
                        if (RUN_PORTS & (1u << i)) {
                                unsigned port = port_at(conds[i]->lo) + (unsigned) (rest % counts[i]);

                                v[0] = (uint8_t) (port >> 8);
                                v[1] = (uint8_t) port;
                        } else if (RUN_ADDRESSES & (1u << i))
                                prefix_mask_apply(v, conds[i]->len, run_plen(run->shape, i));
                        rest /= counts[i];
                        len = key_append(run->shape, key, len, v, conds[i]->len);
                }
                g = run->keys[keys_slot(run, key, len)];
                if (g && g != KEYS_TOMB)
                        k = fn(g, userdata);
        }
        return k;
}

const Filter *run_member(const NftLayout *L, const NftRun *run, const NftRunValues *v) {
        /* in the order of run_fields */
        const struct { const uint8_t *p; size_t n; } values[] = {
                { &v->proto, 1 }, { v->local_port, 2 }, { v->remote_port, 2 },
                { v->local_addr, v->addr_len }, { v->remote_addr, v->addr_len },
        };
        uint8_t key[RUN_KEY_MAX];
        const Filter *f;
        size_t len = 0;

        /* the table is a cache of the members: built again after a refused batch */
        if ((run->shape & RUN_PORTS) && !v->has_ports)
                return NULL;
        if (run_keys_sync(L, (NftRun *) run) < 0 || !run->keys)
                return NULL;
        for (size_t k = 0; k < RUN_FIELDS; k++)
                if (run->shape & (1u << k)) {
                        uint8_t masked[16];

                        memcpy(masked, values[k].p, values[k].n);
                        if (run->shape & RUN_ADDRESSES & (1u << k))
                                prefix_mask_apply(masked, values[k].n, (run->shape >> RUN_PLEN_SHIFT(k)) & 0xffu);
                        len = key_append(run->shape, key, len, masked, values[k].n);
                }
        f = run->keys[keys_slot(run, key, len)];
        return f == KEYS_TOMB ? NULL : f;
}

int run_admits(const NftConfig *c, const NftLayout *L, NftRun *run, const Filter *f) {
        uint8_t key[RUN_KEY_MAX];
        int k;

        if (!run || run->shape != run_shape(c, f) || run->verdict != verdict_of(f))
                return 0;
        k = run_keys_sync(L, run);
        if (k < 0)
                return k;
        for (size_t u = 0, n = unit_count(run, f), mask = run->n_key_slots - 1; u < n; u++)
                for (size_t i = keys_hash(run, key, unit_key(run, f, u, key)) & mask; run->keys[i];
                     i = (i + 1) & mask)
                        if (run->keys[i] != KEYS_TOMB && members_meet(run, f, run->keys[i]))
                                return 0;
        return 1;
}
