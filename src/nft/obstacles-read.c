/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * obstacles-read.c — the tables of a dump of netlink messages, as the obstacle analysis needs
 * them: tables, chains (hook, priority, type, policy), sets and their elements, rules and their
 * expressions, each decoded into an OExpr. Attributes are read with image.c's safe readers;
 * what does not parse is left out (a message) or becomes OP_UNKNOWN (an expression), and is
 * counted in n_malformed. Names and data point into the dump.
 */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nf_tables_compat.h>
#include <linux/netfilter/xt_addrtype.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/xt_conntrack.h>
#include <linux/netfilter/xt_multiport.h>
#include <linux/netfilter/xt_state.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "image-internal.h"
#include "nlmsg.h"
#include "obstacles-internal.h"

int reg_unit(uint32_t v) {
        if (v <= NFT_REG_4)
                return (int) v * 4;
        if (v >= NFT_REG32_00 && v <= NFT_REG32_15)
                return (int) (v - NFT_REG32_00) + 4;
        return -1;
}

/* ---- finding things by name ---------------------------------------------------------------- */

static int table_cmp(const void *a, const void *b) {
        const OTable *x = a, *y = b;

        if (x->family != y->family)
                return x->family < y->family ? -1 : 1;
        return strcmp(x->name, y->name);
}

/* Chains and sets both start with (table, name). */
typedef struct Named {
        uint32_t table;
        const char *name;
} Named;

static int named_cmp(uint32_t table, const char *name, uint32_t t2, const char *n2) {
        if (table != t2)
                return table < t2 ? -1 : 1;
        return strcmp(name, n2);
}

static int chain_cmp(const void *a, const void *b) {
        const OChain *x = a, *y = b;

        return named_cmp(x->table, x->name, y->table, y->name);
}

static int set_cmp(const void *a, const void *b) {
        const OSet *x = a, *y = b;

        return named_cmp(x->table, x->name, y->table, y->name);
}

static int table_find(const Model *m, uint8_t family, const char *name) {
        OTable key = { .name = name, .family = family };
        const OTable *t = m->n_tables ? bsearch(&key, m->tables, m->n_tables, sizeof(key), table_cmp) : NULL;

        return t ? (int) (t - m->tables) : -1;
}

const OChain *model_find_chain(const Model *m, uint32_t table, const char *name) {
        OChain key = { .table = table, .name = name };

        return m->n_chains ? bsearch(&key, m->chains, m->n_chains, sizeof(key), chain_cmp) : NULL;
}

static const OSet *set_find(const Model *m, uint32_t table, const char *name) {
        OSet key = { .table = table, .name = name };

        return m->n_sets ? bsearch(&key, m->sets, m->n_sets, sizeof(key), set_cmp) : NULL;
}

/* Sorts @n entries and drops the second of two equal ones (counted as malformed). */
static size_t sort_unique(Model *m, void *array, size_t n, size_t size, int (*cmp)(const void *, const void *)) {
        size_t k = 0;

        if (n == 0)
                return 0;
        qsort(array, n, size, cmp);
        for (size_t i = 0; i < n; i++) {
                char *e = (char *) array + i * size;

                if (k > 0 && cmp((char *) array + (k - 1) * size, e) == 0) {
                        m->n_malformed++;
                        continue;
                }
                memmove((char *) array + k * size, e, size);
                k++;
        }
        return k;
}

/* ---- values -------------------------------------------------------------------------------- */

static bool get_reg(const struct nlattr *a, uint8_t *ret) {
        uint32_t v;
        int u;

        if (!img_get_u32(a, &v) || (u = reg_unit(v)) < 0)
                return false;
        *ret = (uint8_t) u;
        return true;
}

/* An nft_data value: its bytes and their number (1-64). */
static bool get_value(const struct nlattr *attr, const uint8_t **ret, uint32_t *ret_len) {
        Attrs a;
        uint32_t n;

        if (!attr || !img_attrs_nested(attr, &a) || !a.tb[NFTA_DATA_VALUE])
                return false;
        n = mnl_attr_get_payload_len(a.tb[NFTA_DATA_VALUE]);
        if (n == 0 || n > 64)
                return false;
        *ret = mnl_attr_get_payload(a.tb[NFTA_DATA_VALUE]);
        *ret_len = n;
        return true;
}

/* An nft_data verdict. */
static bool get_verdict(const struct nlattr *attr, OVerdict *ret) {
        Attrs a, v;
        uint32_t code;

        if (!attr || !img_attrs_nested(attr, &a) || !a.tb[NFTA_DATA_VERDICT] ||
            !img_attrs_nested(a.tb[NFTA_DATA_VERDICT], &v) || !img_get_u32(v.tb[NFTA_VERDICT_CODE], &code))
                return false;
        *ret = (OVerdict) { .code = (int32_t) code };
        if (ret->code == NFT_JUMP || ret->code == NFT_GOTO)
                return img_get_str(v.tb[NFTA_VERDICT_CHAIN], &ret->chain, NULL);
        return true;
}

/* A register read or written for @len bytes (not the verdict). */
static bool reg_fits(uint8_t unit, uint32_t len) {
        return unit >= REG_UNIT_FIRST_DATA && len > 0 && len <= REG_BYTES && unit * 4u + len <= REG_BYTES;
}

/* ---- expressions ------------------------------------------------------------------------- */

static const char *const nops[] = {
        "counter", "log", "notrack", "dup", "last", "objref_counter", "flow_offload", "tproxy",
};
static const char *const eithers[] = {
        "limit", "quota", "dynset", "connlimit", "objref", "synproxy", "fwd",
};

static bool in_list(const char *name, const char *const *list, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (streq(name, list[i]))
                        return true;
        return false;
}

static const struct {
        const char *name;
        OpType type;
        size_t size[2];         /* of its info, in revisions 0 and 1 */
} xt_as_they_are[] = {
        { "multiport", OP_XT_MULTIPORT, { sizeof(struct xt_multiport), sizeof(struct xt_multiport_v1) } },
        { "addrtype", OP_XT_ADDRTYPE, { sizeof(struct xt_addrtype_info), sizeof(struct xt_addrtype_info_v1) } },
};

/* iptables-nft's conntrack match (revisions 1 to 3) or state match, as conntrack's fields; its
 * multiport and addrtype matches (revisions 0 and 1), as they are. */
static bool read_xt_match(OExpr *x, const Attrs *a) {
        const uint8_t *info = a->tb[NFTA_MATCH_INFO] ? mnl_attr_get_payload(a->tb[NFTA_MATCH_INFO]) : NULL;
        size_t n = info ? mnl_attr_get_payload_len(a->tb[NFTA_MATCH_INFO]) : 0;
        uint32_t rev;

        if (!img_get_u32(a->tb[NFTA_MATCH_REV], &rev) || !info)
                return false;
        /* read as they are, in revision 0 or 1 */
        for (size_t i = 0; i < ELEMENTSOF(xt_as_they_are); i++)
                if (streq(x->name, xt_as_they_are[i].name) && rev <= 1 && n >= xt_as_they_are[i].size[rev]) {
                        x->type = xt_as_they_are[i].type;
                        x->op = (uint8_t) rev;
                        x->a = info;
                        return true;
                }
        if (streq(x->name, "state") && rev == 0 && n >= sizeof(struct xt_state_info)) {
                struct xt_state_info s;

                memcpy(&s, info, sizeof(s));
                /* the same bits but for untracked, which xt_state keeps lower */
                x->xt_state = (uint16_t) (s.statemask & (XT_STATE_UNTRACKED - 1));
                if (s.statemask & XT_STATE_UNTRACKED)
                        x->xt_state |= XT_CONNTRACK_STATE_UNTRACKED;
                x->xt_flags = XT_CONNTRACK_STATE;
                return true;
        }
        if (!streq(x->name, "conntrack"))
                return false;
        if (rev == 1 && n >= sizeof(struct xt_conntrack_mtinfo1)) {
                struct xt_conntrack_mtinfo1 c;

                memcpy(&c, info, sizeof(c));
                x->xt_flags = c.match_flags, x->xt_invert = c.invert_flags, x->xt_state = c.state_mask;
                return true;
        }
        /* revision 3 only adds fields after revision 2's */
        if ((rev == 2 || rev == 3) && n >= sizeof(struct xt_conntrack_mtinfo2)) {
                struct xt_conntrack_mtinfo2 c;

                memcpy(&c, info, sizeof(c));
                x->xt_flags = c.match_flags, x->xt_invert = c.invert_flags, x->xt_state = c.state_mask;
                return true;
        }
        return false;
}

/* The rest of an expression once its name is known: false when it does not parse. */
static bool read_expr_data(Model *m, uint32_t table, OExpr *x, const Attrs *a) {
        const char *name = x->name, *set;
        uint32_t v;

        if (streq(name, "payload")) {
                if (!img_get_u32(a->tb[NFTA_PAYLOAD_BASE], &x->key) ||
                    !img_get_u32(a->tb[NFTA_PAYLOAD_OFFSET], &x->offset) ||
                    !img_get_u32(a->tb[NFTA_PAYLOAD_LEN], &x->len))
                        return false;
                if (a->tb[NFTA_PAYLOAD_SREG]) {
                        /* the packet is not what it was for the chains after this one */
                        x->type = OP_PAYLOAD_WRITE;
                        if (x->key >= NFT_PAYLOAD_NETWORK_HEADER && x->key <= NFT_PAYLOAD_TRANSPORT_HEADER)
                                for (uint64_t i = x->offset; i < (uint64_t) x->offset + x->len && i < 64; i++)
                                        m->mangled[x->key - 1][i / 8] |= (uint8_t) (1u << (i % 8));
                        return true;
                }
                x->type = OP_PAYLOAD;
                return get_reg(a->tb[NFTA_PAYLOAD_DREG], &x->dreg) && reg_fits(x->dreg, x->len);
        }
        if (streq(name, "meta") || streq(name, "ct")) {
                /* NFTA_META_DREG, NFTA_META_KEY are 1, 2; NFTA_CT_DREG, NFTA_CT_KEY too */
                if (!img_get_u32(a->tb[NFTA_META_KEY], &x->key))
                        return false;
                if (!a->tb[NFTA_META_DREG]) {
                        x->type = OP_NOP; /* meta set, ct set: nothing this analysis reads */
                        return true;
                }
                x->type = name[0] == 'm' ? OP_META : OP_CT;
                return get_reg(a->tb[NFTA_META_DREG], &x->dreg) && reg_fits(x->dreg, 4);
        }
        if (streq(name, "fib")) {
                x->type = OP_FIB;
                if (!get_reg(a->tb[NFTA_FIB_DREG], &x->dreg) || !img_get_u32(a->tb[NFTA_FIB_RESULT], &x->key) ||
                    !img_get_u32(a->tb[NFTA_FIB_FLAGS], &x->offset))
                        return false;
                /* an interface's name, or a number */
                x->len = x->key == NFT_FIB_RESULT_OIFNAME && !(x->offset & NFTA_FIB_F_PRESENT) ? 16 : 4;
                return reg_fits(x->dreg, x->len);
        }
        if (streq(name, "cmp")) {
                x->type = OP_CMP;
                if (!get_reg(a->tb[NFTA_CMP_SREG], &x->sreg) || !img_get_u32(a->tb[NFTA_CMP_OP], &v) || v > NFT_CMP_GTE)
                        return false;
                x->op = (uint8_t) v;
                return get_value(a->tb[NFTA_CMP_DATA], &x->a, &x->len) && reg_fits(x->sreg, x->len);
        }
        if (streq(name, "range")) {
                uint32_t len2;

                x->type = OP_RANGE;
                if (!get_reg(a->tb[NFTA_RANGE_SREG], &x->sreg) || !img_get_u32(a->tb[NFTA_RANGE_OP], &v) ||
                    v > NFT_RANGE_NEQ)
                        return false;
                x->op = (uint8_t) v;
                return get_value(a->tb[NFTA_RANGE_FROM_DATA], &x->a, &x->len) &&
                       get_value(a->tb[NFTA_RANGE_TO_DATA], &x->b, &len2) && len2 == x->len &&
                       reg_fits(x->sreg, x->len);
        }
        if (streq(name, "bitwise")) {
                uint32_t len_mask, len_xor;

                v = NFT_BITWISE_BOOL;
                if (a->tb[NFTA_BITWISE_OP] && !img_get_u32(a->tb[NFTA_BITWISE_OP], &v))
                        return false;
                x->type = OP_BITWISE;
                x->op = (uint8_t) (v == NFT_BITWISE_BOOL ? 0 : 1);
                if (!get_reg(a->tb[NFTA_BITWISE_SREG], &x->sreg) || !get_reg(a->tb[NFTA_BITWISE_DREG], &x->dreg) ||
                    !img_get_u32(a->tb[NFTA_BITWISE_LEN], &x->len) || !reg_fits(x->sreg, x->len) ||
                    !reg_fits(x->dreg, x->len))
                        return false;
                if (x->op == 0)
                        return get_value(a->tb[NFTA_BITWISE_MASK], &x->a, &len_mask) && len_mask == x->len &&
                               get_value(a->tb[NFTA_BITWISE_XOR], &x->b, &len_xor) && len_xor == x->len;
                return true;
        }
        if (streq(name, "byteorder")) {
                x->type = OP_BYTEORDER;
                if (!get_reg(a->tb[NFTA_BYTEORDER_SREG], &x->sreg) || !get_reg(a->tb[NFTA_BYTEORDER_DREG], &x->dreg) ||
                    !img_get_u32(a->tb[NFTA_BYTEORDER_OP], &v) || v > NFT_BYTEORDER_HTON ||
                    !img_get_u32(a->tb[NFTA_BYTEORDER_LEN], &x->len) ||
                    !img_get_u32(a->tb[NFTA_BYTEORDER_SIZE], &x->key))
                        return false;
                x->op = (uint8_t) v;
                return (x->key == 2 || x->key == 4 || x->key == 8) && x->len % x->key == 0 &&
                       reg_fits(x->sreg, x->len) && reg_fits(x->dreg, x->len);
        }
        if (streq(name, "lookup")) {
                const OSet *s;
                uint32_t flags = 0;

                x->type = OP_LOOKUP;
                if (!img_get_str(a->tb[NFTA_LOOKUP_SET], &set, NULL) || !get_reg(a->tb[NFTA_LOOKUP_SREG], &x->sreg) ||
                    (a->tb[NFTA_LOOKUP_FLAGS] && !img_get_u32(a->tb[NFTA_LOOKUP_FLAGS], &flags)))
                        return false;
                s = set_find(m, table, set);
                if (!s || !reg_fits(x->sreg, s->key_len))
                        return false;
                x->set = (uint32_t) (s - m->sets);
                x->op = (flags & NFT_LOOKUP_F_INV) != 0;
                if (!a->tb[NFTA_LOOKUP_DREG]) {
                        x->dreg = NO_DREG; /* a membership test, of a set or a map */
                        return true;
                }
                if (!get_reg(a->tb[NFTA_LOOKUP_DREG], &x->dreg) || x->op)
                        return false;
                return x->dreg == 0 ? s->verdicts : (!s->verdicts && reg_fits(x->dreg, s->data_len));
        }
        if (streq(name, "immediate")) {
                x->type = OP_IMMEDIATE;
                if (!get_reg(a->tb[NFTA_IMMEDIATE_DREG], &x->dreg))
                        return false;
                if (x->dreg == 0)
                        return get_verdict(a->tb[NFTA_IMMEDIATE_DATA], &x->verdict);
                return get_value(a->tb[NFTA_IMMEDIATE_DATA], &x->a, &x->len) && reg_fits(x->dreg, x->len);
        }
        if (streq(name, "reject")) {
                x->type = OP_REJECT;
                return true;
        }
        if (streq(name, "queue")) {
                x->type = OP_QUEUE;
                return true;
        }
        if (streq(name, "match") || streq(name, "target")) {
                /* NFTA_MATCH_NAME and NFTA_TARGET_NAME are both 1, as are REV (2) and INFO (3) */
                if (!img_get_str(a->tb[NFTA_MATCH_NAME], &x->name, NULL))
                        return false;
                if (name[0] == 't') {
                        x->type = OP_XT_TARGET;
                        /* CT --notrack untracks; CT may also do other things, which do not matter */
                        if (streq(x->name, "CT") || streq(x->name, "NOTRACK"))
                                m->notrack = true;
                        return true;
                }
                if (streq(x->name, "comment")) {
                        x->type = OP_NOP;
                        return true;
                }
                x->type = OP_XT_CONNTRACK;
                if (!read_xt_match(x, a))
                        x->type = OP_UNKNOWN; /* a match not known here: not malformed */
                return true;
        }
        if (in_list(name, nops, ELEMENTSOF(nops))) {
                x->type = OP_NOP;
                if (streq(name, "notrack"))
                        m->notrack = true;
                return true;
        }
        x->type = in_list(name, eithers, ELEMENTSOF(eithers)) ? OP_EITHER : OP_UNKNOWN;
        return true;
}

static void read_expr(Model *m, uint32_t table, OExpr *x, const struct nlattr *attr) {
        Attrs e, a = {};

        *x = (OExpr) { .type = OP_UNKNOWN, .name = "?" };
        if (mnl_attr_get_type(attr) != NFTA_LIST_ELEM || !img_attrs_nested(attr, &e) ||
            !img_get_str(e.tb[NFTA_EXPR_NAME], &x->name, NULL) ||
            (e.tb[NFTA_EXPR_DATA] && !img_attrs_nested(e.tb[NFTA_EXPR_DATA], &a))) {
                m->n_malformed++;
                return;
        }
        if (!read_expr_data(m, table, x, &a)) {
                x->type = OP_UNKNOWN;
                m->n_malformed++;
        }
}

/* ---- messages ------------------------------------------------------------------------------ */

typedef struct Reader {
        Model *m;
        const char *own;
        int error;
} Reader;

#define ADD(r, array, n, alloc, entry)                                                  \
        do {                                                                            \
                if (!ARRAY_RESERVE(array, alloc, (n) + 1, 64))                          \
                        (r)->error = -ENOMEM;                                           \
                else                                                                    \
                        (array)[(n)++] = (entry);                                       \
        } while (0)

static void read_table(Reader *r, uint8_t family, const Attrs *a) {
        OTable t = { .family = family };
        uint32_t flags = 0;

        if (!img_get_str(a->tb[NFTA_TABLE_NAME], &t.name, NULL) ||
            (a->tb[NFTA_TABLE_FLAGS] && !img_get_u32(a->tb[NFTA_TABLE_FLAGS], &flags))) {
                r->m->n_malformed++;
                return;
        }
        t.skip = (flags & NFT_TABLE_F_DORMANT) || (family == NFPROTO_INET && streq(t.name, r->own));
        ADD(r, r->m->tables, r->m->n_tables, r->m->tables_alloc, t);
}

static bool read_chain(Reader *r, uint32_t table, const Attrs *a) {
        OChain c = { .table = table };
        const char *type;
        uint32_t v;
        Attrs h;

        if (!img_get_str(a->tb[NFTA_CHAIN_NAME], &c.name, NULL))
                return false;
        if (a->tb[NFTA_CHAIN_HOOK]) {
                if (!img_attrs_nested(a->tb[NFTA_CHAIN_HOOK], &h) || !img_get_u32(h.tb[NFTA_HOOK_HOOKNUM], &c.hook) ||
                    !img_get_u32(h.tb[NFTA_HOOK_PRIORITY], &v))
                        return false;
                c.base = true;
                c.priority = (int32_t) v;
                c.nat = img_get_str(a->tb[NFTA_CHAIN_TYPE], &type, NULL) && streq(type, "nat");
                c.policy_drop = img_get_u32(a->tb[NFTA_CHAIN_POLICY], &v) && v == NF_DROP;
        }
        ADD(r, r->m->chains, r->m->n_chains, r->m->chains_alloc, c);
        return true;
}

static bool read_set(Reader *r, uint32_t table, const Attrs *a) {
        OSet s = { .table = table };
        uint32_t data_type = 0;
        Attrs d;

        if (!img_get_str(a->tb[NFTA_SET_NAME], &s.name, NULL) || !img_get_u32(a->tb[NFTA_SET_KEY_LEN], &s.key_len) ||
            s.key_len == 0 || s.key_len > 64)
                return false;
        if (a->tb[NFTA_SET_FLAGS] && !img_get_u32(a->tb[NFTA_SET_FLAGS], &s.flags))
                return false;
        if (s.flags & NFT_SET_MAP) {
                if (!img_get_u32(a->tb[NFTA_SET_DATA_TYPE], &data_type))
                        return false;
                s.verdicts = data_type == NFT_DATA_VERDICT;
                if (!s.verdicts && (!img_get_u32(a->tb[NFTA_SET_DATA_LEN], &s.data_len) || s.data_len == 0 ||
                                    s.data_len > 64))
                        return false;
        }
        /* a concatenation's fields, for ranges: each field is compared on its own */
        if (a->tb[NFTA_SET_DESC] && img_attrs_nested(a->tb[NFTA_SET_DESC], &d) && d.tb[NFTA_SET_DESC_CONCAT]) {
                const struct nlattr *f;
                uint32_t total = 0;
                Attrs fa;

                mnl_attr_for_each_nested(f, d.tb[NFTA_SET_DESC_CONCAT]) {
                        uint32_t len;

                        if (s.n_fields == FIELDS_MAX || !img_attrs_nested(f, &fa) ||
                            !img_get_u32(fa.tb[NFTA_SET_FIELD_LEN], &len) || len == 0 || len > 64) {
                                s.n_fields = 0;
                                break;
                        }
                        s.field_len[s.n_fields++] = (uint8_t) len;
                        total += (len + 3) / 4 * 4;
                }
                if (total != s.key_len)
                        s.n_fields = 0;
        }
        ADD(r, r->m->sets, r->m->n_sets, r->m->sets_alloc, s);
        return true;
}

static void read_elems(Reader *r, uint32_t table, const Attrs *a) {
        Model *m = r->m;
        const struct nlattr *attr;
        const char *name;
        const OSet *s;

        if (!img_get_str(a->tb[NFTA_SET_ELEM_LIST_SET], &name, NULL) || !(s = set_find(m, table, name))) {
                m->n_malformed++;
                return;
        }
        if (!a->tb[NFTA_SET_ELEM_LIST_ELEMENTS])
                return;
        mnl_attr_for_each_nested(attr, a->tb[NFTA_SET_ELEM_LIST_ELEMENTS]) {
                OElem el = { .set = (uint32_t) (s - m->sets) };
                uint32_t len = 0;
                Attrs e;

                if (!img_attrs_nested(attr, &e) ||
                    (e.tb[NFTA_SET_ELEM_FLAGS] && !img_get_u32(e.tb[NFTA_SET_ELEM_FLAGS], &el.flags))) {
                        m->n_malformed++;
                        continue;
                }
                if (!(el.flags & NFT_SET_ELEM_CATCHALL) &&
                    (!get_value(e.tb[NFTA_SET_ELEM_KEY], &el.key, &len) || len != s->key_len ||
                     (e.tb[NFTA_SET_ELEM_KEY_END] &&
                      (!get_value(e.tb[NFTA_SET_ELEM_KEY_END], &el.key_end, &len) || len != s->key_len)))) {
                        m->n_malformed++;
                        continue;
                }
                /* an interval's end carries no data */
                if ((s->flags & NFT_SET_MAP) && !(el.flags & NFT_SET_ELEM_INTERVAL_END)) {
                        if (s->verdicts)
                                el.has_verdict = get_verdict(e.tb[NFTA_SET_ELEM_DATA], &el.verdict);
                        else if (!get_value(e.tb[NFTA_SET_ELEM_DATA], &el.data, &len) || len != s->data_len)
                                el.data = NULL;
                        if (!el.has_verdict && !el.data) {
                                m->n_malformed++;
                                continue;
                        }
                }
                ADD(r, m->elems, m->n_elems, m->elems_alloc, el);
                if (r->error)
                        return;
        }
}

static void read_rule(Reader *r, uint32_t table, const Attrs *a) {
        Model *m = r->m;
        ORule rule = { .first_expr = (uint32_t) m->n_exprs };
        const struct nlattr *e;
        const OChain *c;
        const char *name;

        if (!img_get_str(a->tb[NFTA_RULE_CHAIN], &name, NULL) || !(c = model_find_chain(m, table, name)) ||
            (a->tb[NFTA_RULE_HANDLE] && !img_get_u64(a->tb[NFTA_RULE_HANDLE], &rule.handle))) {
                m->n_malformed++;
                return;
        }
        rule.chain = (uint32_t) (c - m->chains);
        if (a->tb[NFTA_RULE_EXPRESSIONS])
                mnl_attr_for_each_nested(e, a->tb[NFTA_RULE_EXPRESSIONS]) {
                        OExpr x;

                        if (rule.n_exprs == RULE_EXPRS_MAX) {
                                /* more than the kernel takes: the rest is one unknown */
                                m->exprs[m->n_exprs - 1] = (OExpr) { .type = OP_UNKNOWN, .name = "…" };
                                m->n_malformed++;
                                break;
                        }
                        read_expr(m, table, &x, e);
                        ADD(r, m->exprs, m->n_exprs, m->exprs_alloc, x);
                        if (r->error)
                                return;
                        rule.n_exprs++;
                }
        ADD(r, m->rules, m->n_rules, m->rules_alloc, rule);
}

typedef enum Pass {
        PASS_TABLES,
        PASS_OBJECTS,           /* chains and sets: their tables are known */
        PASS_CONTENTS,          /* elements and rules: their sets and chains are known */
} Pass;

static void read_message(Reader *r, Pass pass, const struct nlmsghdr *nlh) {
        uint16_t type = NFNL_MSG_TYPE(nlh->nlmsg_type);
        const struct nfgenmsg *nfg;
        const char *table;
        Attrs a;
        int t;

        if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_NFTABLES)
                return;
        if (!(pass == PASS_TABLES && type == NFT_MSG_NEWTABLE) &&
            !(pass == PASS_OBJECTS && (type == NFT_MSG_NEWCHAIN || type == NFT_MSG_NEWSET)) &&
            !(pass == PASS_CONTENTS && (type == NFT_MSG_NEWSETELEM || type == NFT_MSG_NEWRULE)))
                return;
        if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*nfg)) {
                r->m->n_malformed++;
                return;
        }
        nfg = mnl_nlmsg_get_payload(nlh);
        if (!img_attrs_parse((const char *) nfg + MNL_ALIGN(sizeof(*nfg)),
                             mnl_nlmsg_get_payload_len(nlh) - MNL_ALIGN(sizeof(*nfg)), &a)) {
                r->m->n_malformed++;
                return;
        }
        if (type == NFT_MSG_NEWTABLE) {
                read_table(r, nfg->nfgen_family, &a);
                return;
        }
        /* the table's name is attribute 1 of every other message */
        if (!img_get_str(a.tb[1], &table, NULL) || (t = table_find(r->m, nfg->nfgen_family, table)) < 0) {
                r->m->n_malformed++;
                return;
        }
        if (type == NFT_MSG_NEWCHAIN && !read_chain(r, (uint32_t) t, &a))
                r->m->n_malformed++;
        else if (type == NFT_MSG_NEWSET && !read_set(r, (uint32_t) t, &a))
                r->m->n_malformed++;
        else if (type == NFT_MSG_NEWSETELEM)
                read_elems(r, (uint32_t) t, &a);
        else if (type == NFT_MSG_NEWRULE)
                read_rule(r, (uint32_t) t, &a);
}

static int read_pass(Reader *r, Pass pass, const void *buf, size_t len) {
        const struct nlmsghdr *nlh;
        size_t off = 0;

        while (!r->error && (nlh = nlmsg_next_safe(buf, len, &off)))
                read_message(r, pass, nlh);
        if (pass == PASS_TABLES && off < len)
                r->m->n_malformed++; /* bytes that are no message */
        return r->error;
}

/* ---- indexes ------------------------------------------------------------------------------- */

static int elem_cmp(const void *a, const void *b, void *userdata) {
        const OSet *sets = userdata;
        const OElem *x = a, *y = b;
        int c;

        if (x->set != y->set)
                return x->set < y->set ? -1 : 1;
        /* the catch-all (no key) first; then by key, an interval's end before a start of the same
         * key: [a, b] ends with an end at b + 1, where the next interval may start */
        if (!x->key || !y->key)
                return (x->key != NULL) - (y->key != NULL);
        c = memcmp(x->key, y->key, sets[x->set].key_len);
        if (c != 0)
                return c;
        return (int) (y->flags & NFT_SET_ELEM_INTERVAL_END) - (int) (x->flags & NFT_SET_ELEM_INTERVAL_END);
}

static void index_elems(Model *m) {
        if (m->n_elems > 0)
                qsort_r(m->elems, m->n_elems, sizeof(*m->elems), elem_cmp, m->sets);
        for (size_t i = 0; i < m->n_sets; i++)
                m->sets[i].exact = !(m->sets[i].flags & NFT_SET_INTERVAL);
        for (size_t i = 0; i < m->n_elems; i++) {
                OSet *s = &m->sets[m->elems[i].set];

                if (s->n_elems++ == 0)
                        s->first_elem = (uint32_t) i;
                if (m->elems[i].flags & NFT_SET_ELEM_CATCHALL)
                        s->has_catchall = true;
                if (m->elems[i].key_end)
                        s->has_ranges = true;
                if (m->elems[i].key_end || (m->elems[i].flags & (NFT_SET_ELEM_INTERVAL_END | NFT_SET_ELEM_CATCHALL)))
                        s->exact = false;
        }
}

static size_t rule_chain(const void *rule) {
        return ((const ORule *) rule)->chain;
}

/* Rules grouped by chain, in message order within each. */
static int index_rules(Model *m) {
        if (m->n_chains == 0)           /* and so no rules */
                return 0;
        return array_group(m->rules, m->n_rules, sizeof(*m->rules), rule_chain, &m->chains[0].rules, m->n_chains,
                           sizeof(*m->chains));
}

int model_read(Model *m, const void *buf, size_t len, const char *own_table) {
        Reader r = { .m = m, .own = own_table };
        int k = nlmsg_check_buffer(buf, len);

        if (k < 0)
                return k;
        if (read_pass(&r, PASS_TABLES, buf, len) < 0)
                return r.error;
        m->n_tables = sort_unique(m, m->tables, m->n_tables, sizeof(*m->tables), table_cmp);
        if (read_pass(&r, PASS_OBJECTS, buf, len) < 0)
                return r.error;
        m->n_chains = sort_unique(m, m->chains, m->n_chains, sizeof(*m->chains), chain_cmp);
        m->n_sets = sort_unique(m, m->sets, m->n_sets, sizeof(*m->sets), set_cmp);
        if (read_pass(&r, PASS_CONTENTS, buf, len) < 0)
                return r.error;
        index_elems(m);
        return index_rules(m);
}

void model_done(Model *m) {
        free_many(m->tables, m->chains, m->sets, m->elems, m->rules, m->exprs);
        *m = (Model) {};
}
