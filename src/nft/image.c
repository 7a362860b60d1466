/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * image.c — see image.h.
 *
 * Canonical means: what two descriptions of the same table have in common, whoever wrote them.
 * bfed's batch and the kernel's dump of the same table differ in ways that do not matter, and
 * the image leaves exactly those out:
 *  - the attributes only one side has: handles of tables, chains and sets, use counts, the
 *    owner's port id, a rule's position and batch ids (a rule's handle is kept apart, not in
 *    its text); counters' packets and bytes; an element's expiration;
 *  - attributes that are their default: a lookup's flags 0, a bitwise op 0 (a mask), an
 *    element's flags 0, an empty set description; the kernel's own chain flag BASE;
 *  - the per-element counters the kernel adds from a set's expression template;
 *  - names of anonymous sets (the kernel numbers them, a batch names them by id): a rule shows
 *    its anonymous set inline, flags, types and sorted elements;
 *  - the order of attributes, of chains, of sets and of elements; not the order of rules.
 * Everything else is rendered, known attributes by name, unknown ones as raw hex, so any
 * other difference shows. What does not parse is left out and counted (n_malformed): the
 * comparison reports that as a difference of its own.
 */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "image-internal.h"
#include "image.h"
#include "macro.h"
#include "nlmsg.h"

/* ---- messages ------------------------------------------------------------------------------ */

/* A reader's entry, added to an image array of @size-byte entries when its message turned out
 * good; one that did not is left out (its caller counts it as malformed). */
static void keep(Parser *p, void **array, size_t *n, size_t *alloc, const void *entry, size_t size) {
        if (p->bad || p->error)
                return;
        if (!array_reserve(array, alloc, *n + 1, size, 64)) {
                p->error = -ENOMEM;
                return;
        }
        memcpy((char *) *array + *n * size, entry, size);
        (*n)++;
}
#define KEEP(p, array, n, alloc, entry) keep((p), (void **) &(array), &(n), &(alloc), (entry), sizeof(*(array)))

/* Attributes beyond @max at this level are unknown to us, and rendered raw. */
static void put_unknown(Parser *p, const Attrs *a, size_t max) {
        for (size_t t = max + 1; t < ATTR_MAX && !p->error; t++)
                if (a->tb[t]) {
                        img_putf(p, " attr%zu=", t);
                        img_put_raw(p, a->tb[t]);
                }
}

static void read_table(Parser *p, const struct nlmsghdr *nlh, const Attrs *a) {
        NftImage *img = p->img;
        uint32_t start = img_mark(p), flags = 0;

        img_opt_u32(p, a->tb[NFTA_TABLE_FLAGS], &flags);
        if (p->bad)
                return;
        /* an absent flags attribute creates the table with none */
        img_putf(p, "flags=0x%x", flags);
        img_put_raw_attr(p, " udata=", a->tb[NFTA_TABLE_USERDATA]);
        put_unknown(p, a, NFTA_TABLE_OWNER);
        /* a batch that replaces the table says NEWTABLE more than once: the last one stands */
        img->has_table = true;
        img->table_attrs = img_since(p, start);
}

static void read_chain(Parser *p, const struct nlmsghdr *nlh, const Attrs *a) {
        NftImage *img = p->img;
        NftImageChain c = {};
        const char *name;
        size_t len;
        uint32_t v, start;

        if (!img_get_str(a->tb[NFTA_CHAIN_NAME], &name, &len)) {
                p->bad = true;
                return;
        }
        start = img_mark(p);
        img_put(p, name, len);
        c.name = img_since(p, start);

        start = img_mark(p);
        if (a->tb[NFTA_CHAIN_HOOK]) {
                Attrs h;

                if (!img_attrs_nested(a->tb[NFTA_CHAIN_HOOK], &h) || !img_get_u32(h.tb[NFTA_HOOK_HOOKNUM], &v)) {
                        p->bad = true;
                        return;
                }
                img_putf(p, "hook=%u", v);
                if (img_opt_u32(p, h.tb[NFTA_HOOK_PRIORITY], &v))
                        img_putf(p, " prio=%d", (int32_t) v);
                img_put_raw_attr(p, " dev=", h.tb[NFTA_HOOK_DEV]);
                img_put_raw_attr(p, " devs=", h.tb[NFTA_HOOK_DEVS]);
                put_unknown(p, &h, NFTA_HOOK_DEVS);
        }
        img_put_str_attr(p, " type=", a->tb[NFTA_CHAIN_TYPE]);
        if (img_opt_u32(p, a->tb[NFTA_CHAIN_POLICY], &v)) {
                PUT_LIT(p, " policy=");
                img_put_policy(p, v);
        }
        /* BASE: the kernel's own mark of a chain with a hook */
        if (img_opt_u32(p, a->tb[NFTA_CHAIN_FLAGS], &v) && (v & ~(uint32_t) NFT_CHAIN_BASE))
                img_putf(p, " flags=0x%x", v & ~(uint32_t) NFT_CHAIN_BASE);
        img_put_raw_attr(p, " udata=", a->tb[NFTA_CHAIN_USERDATA]);
        put_unknown(p, a, NFTA_CHAIN_USERDATA);
        c.attrs = img_since(p, start);
        KEEP(p, img->chains, img->n_chains, p->chains_alloc, &c);
}

/* A set's description by its values: its size and the lengths of a concatenation's fields. Not
 * its bytes: the kernel nests without NLA_F_NESTED, libnftnl with it. */
static void put_set_desc(Parser *p, const struct nlattr *attr) {
        const struct nlattr *field;
        Attrs d, f;
        uint32_t v;

        if (!img_attrs_nested(attr, &d)) {
                p->bad = true;
                return;
        }
        PUT_LIT(p, " desc=");
        if (img_opt_u32(p, d.tb[NFTA_SET_DESC_SIZE], &v))
                img_putf(p, "size=%u", v);
        if (d.tb[NFTA_SET_DESC_CONCAT]) {
                PUT_LIT(p, " concat=");
                mnl_attr_for_each_nested(field, d.tb[NFTA_SET_DESC_CONCAT]) {
                        if (!img_attrs_nested(field, &f) || !img_get_u32(f.tb[NFTA_SET_FIELD_LEN], &v)) {
                                p->bad = true;
                                return;
                        }
                        img_putf(p, "%u,", v);
                }
        }
}

static void read_set(Parser *p, const struct nlmsghdr *nlh, const Attrs *a) {
        static const struct { unsigned type; const char *name; } numbers[] = {
                { NFTA_SET_KEY_TYPE, "key_type" }, { NFTA_SET_KEY_LEN, "key_len" },
                { NFTA_SET_DATA_TYPE, "data_type" }, { NFTA_SET_DATA_LEN, "data_len" },
                { NFTA_SET_POLICY, "policy" }, { NFTA_SET_OBJ_TYPE, "obj_type" },
        };
        NftImage *img = p->img;
        NftImageSet s = {};
        const char *name;
        size_t len;
        uint32_t v, start, flags = 0;
        uint64_t t;

        if (!img_get_str(a->tb[NFTA_SET_NAME], &name, &len) ||
            (a->tb[NFTA_SET_FLAGS] && !img_get_u32(a->tb[NFTA_SET_FLAGS], &flags))) {
                p->bad = true;
                return;
        }
        s.anonymous = flags & NFT_SET_ANONYMOUS;
        img_opt_u32(p, a->tb[NFTA_SET_ID], &s.id);
        start = img_mark(p);
        img_put(p, name, len);
        s.name = img_since(p, start);

        start = img_mark(p);
        img_putf(p, "flags=0x%x", flags);
        for (size_t i = 0; i < ELEMENTSOF(numbers); i++)
                if (img_opt_u32(p, a->tb[numbers[i].type], &v))
                        img_putf(p, " %s=%u", numbers[i].name, v);
        if (img_opt_u64(p, a->tb[NFTA_SET_TIMEOUT], &t))
                img_putf(p, " timeout=%llu", (unsigned long long) t);
        if (img_opt_u32(p, a->tb[NFTA_SET_GC_INTERVAL], &v))
                img_putf(p, " gc=%u", v);
        /* the kernel always describes a set; an empty description is none */
        if (a->tb[NFTA_SET_DESC] && mnl_attr_get_payload_len(a->tb[NFTA_SET_DESC]) > 0)
                put_set_desc(p, a->tb[NFTA_SET_DESC]);
        if (a->tb[NFTA_SET_EXPR] || a->tb[NFTA_SET_EXPRESSIONS]) {
                uint32_t e;

                PUT_LIT(p, " exprs=");
                e = img_mark(p);
                img_put_exprs(p, a->tb[NFTA_SET_EXPR], a->tb[NFTA_SET_EXPRESSIONS], 0);
                s.exprs = img_since(p, e);
        }
        img_put_raw_attr(p, " udata=", a->tb[NFTA_SET_USERDATA]);
        put_unknown(p, a, SET_ATTR_COUNT);
        s.attrs = img_since(p, start);
        KEEP(p, img->sets, img->n_sets, p->sets_alloc, &s);
}

static void read_elem(Parser *p, uint32_t set, const struct nlattr *attr) {
        NftImage *img = p->img;
        const NftImageSet *s = &img->sets[set];
        NftImageElem el = { .set = set };
        uint32_t start, v, exprs;
        uint64_t t;
        Attrs a;

        /* the attribute's type is no matter: the kernel's dumps say NFTA_LIST_ELEM, libnftnl numbers
         * the elements 1, 2, 3, … and the kernel reads them whatever their type */
        if (!img_attrs_nested(attr, &a) || !a.tb[NFTA_SET_ELEM_KEY]) {
                p->bad = true;
                return;
        }
        start = img_mark(p);
        /* the key: what makes it this element (an interval's end is another one) */
        PUT_LIT(p, "key=");
        img_put_data(p, a.tb[NFTA_SET_ELEM_KEY]);
        if (a.tb[NFTA_SET_ELEM_KEY_END]) {
                PUT_LIT(p, " key_end=");
                img_put_data(p, a.tb[NFTA_SET_ELEM_KEY_END]);
        }
        if (img_opt_u32(p, a.tb[NFTA_SET_ELEM_FLAGS], &v) && v != 0)
                img_putf(p, " flags=0x%x", v);
        el.key = img_since(p, start);
        if (a.tb[NFTA_SET_ELEM_DATA]) {
                PUT_LIT(p, " data=");
                img_put_data(p, a.tb[NFTA_SET_ELEM_DATA]);
        }
        if (img_opt_u64(p, a.tb[NFTA_SET_ELEM_TIMEOUT], &t))
                img_putf(p, " timeout=%llu", (unsigned long long) t);
        img_put_str_attr(p, " objref=", a.tb[NFTA_SET_ELEM_OBJREF]);
        if (a.tb[NFTA_SET_ELEM_EXPR] || a.tb[NFTA_SET_ELEM_EXPRESSIONS]) {
                NftImageText e;

                PUT_LIT(p, " exprs=");
                exprs = img_mark(p);
                img_put_exprs(p, a.tb[NFTA_SET_ELEM_EXPR], a.tb[NFTA_SET_ELEM_EXPRESSIONS], 0);
                e = img_since(p, exprs);
                /* the kernel gives every element the set's expressions: those are no news */
                if (!p->error && s->exprs.len > 0 && img_text_cmp(img, e, s->exprs) == 0)
                        img->text_len = exprs - strlen(" exprs=");
        }
        if (a.tb[NFTA_SET_ELEM_USERDATA])
                img_put_udata(p, a.tb[NFTA_SET_ELEM_USERDATA], true, NULL);
        put_unknown(p, &a, NFTA_SET_ELEM_EXPRESSIONS);
        el.text = img_since(p, start);
        KEEP(p, img->elems, img->n_elems, p->elems_alloc, &el);
}

static void read_elems(Parser *p, const struct nlmsghdr *nlh, const Attrs *a) {
        const struct nlattr *attr;
        const NftImageSet *s;
        const char *name = NULL;
        size_t len = 0;
        uint32_t id = 0;

        img_opt_str(p, a->tb[NFTA_SET_ELEM_LIST_SET], &name, &len);
        img_opt_u32(p, a->tb[NFTA_SET_ELEM_LIST_SET_ID], &id);
        s = p->bad ? NULL : img_find_set(p, name, len, id);
        if (!s) {
                p->bad = true;
                return;
        }
        if (!a->tb[NFTA_SET_ELEM_LIST_ELEMENTS])
                return;
        mnl_attr_for_each_nested(attr, a->tb[NFTA_SET_ELEM_LIST_ELEMENTS]) {
                uint32_t start = img_mark(p);

                p->bad = false;
                read_elem(p, (uint32_t) (s - p->img->sets), attr);
                if (p->error)
                        return;
                if (p->bad) {
                        /* one bad element: leave it out, count it, read the others */
                        p->img->n_malformed++;
                        p->img->text_len = start;
                }
        }
        p->bad = false;
}

static void read_object(Parser *p, const struct nlmsghdr *nlh, const Attrs *a) {
        uint16_t type = NFNL_MSG_TYPE(nlh->nlmsg_type);
        NftImage *img = p->img;
        NftImageText o;
        const char *name;
        size_t len;
        uint32_t start, v = 0;
        unsigned name_attr = type == NFT_MSG_NEWOBJ ? NFTA_OBJ_NAME : NFTA_FLOWTABLE_NAME;

        if (!img_get_str(a->tb[name_attr], &name, &len) ||
            (type == NFT_MSG_NEWOBJ && !img_get_u32(a->tb[NFTA_OBJ_TYPE], &v))) {
                p->bad = true;
                return;
        }
        start = img_mark(p);
        if (type == NFT_MSG_NEWOBJ)
                img_putf(p, "object (type %u) ", v);
        else
                PUT_LIT(p, "flowtable ");
        img_put_escaped(p, name, len);
        o = img_since(p, start);
        KEEP(p, img->objects, img->n_objects, p->objects_alloc, &o);
}

static int chain_name_cmp(const void *a, const void *b, void *userdata) {
        return img_text_cmp(userdata, ((const NftImageChain *) a)->name, ((const NftImageChain *) b)->name);
}

const NftImageChain *nft_image_find_chain(const NftImage *img, const char *name, size_t len) {
        size_t lo = 0, hi = img->n_chains;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                NftImageText t = img->chains[mid].name;
                int c = memcmp(img->text + t.off, name, t.len < len ? t.len : len);

                if (c == 0)
                        c = (t.len > len) - (t.len < len);
                if (c == 0)
                        return &img->chains[mid];
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

static void read_rule(Parser *p, const struct nlmsghdr *nlh, const Attrs *a) {
        NftImage *img = p->img;
        const NftImageChain *c;
        NftImageRule r = { .seq = nlh->nlmsg_seq };
        const struct nlattr *e;
        const char *chain;
        size_t len;
        uint32_t start;
        bool first = true;

        if (!img_get_str(a->tb[NFTA_RULE_CHAIN], &chain, &len)) {
                p->bad = true;
                return;
        }
        c = nft_image_find_chain(img, chain, len);
        if (!c) {
                p->bad = true; /* a rule in no chain we know */
                return;
        }
        r.chain = (uint32_t) (c - img->chains);
        img_opt_u64(p, a->tb[NFTA_RULE_HANDLE], &r.handle);

        start = img_mark(p);
        if (a->tb[NFTA_RULE_EXPRESSIONS])
                mnl_attr_for_each_nested(e, a->tb[NFTA_RULE_EXPRESSIONS])
                        if (!img_put_list_expr(p, e, 0, &first) || p->bad || p->error)
                                break;
        img_put_raw_attr(p, " compat=", a->tb[NFTA_RULE_COMPAT]);
        if (a->tb[NFTA_RULE_USERDATA])
                img_put_udata(p, a->tb[NFTA_RULE_USERDATA], true, &r.comment);
        /* CHAIN_ID names the chain of a batch that also creates it: we know it by name only */
        if (a->tb[NFTA_RULE_CHAIN_ID])
                p->bad = true;
        put_unknown(p, a, NFTA_RULE_CHAIN_ID);
        r.text = img_since(p, start);
        KEEP(p, img->rules, img->n_rules, p->rules_alloc, &r);
}

/* ---- the passes ---------------------------------------------------------------------------- */

typedef enum Pass {
        PASS_OBJECTS,                   /* the table, chains, sets, objects and flowtables */
        PASS_ELEMENTS,                  /* set elements: their sets are known */
        PASS_RULES,                     /* rules: their chains and (sorted) sets are known */
} Pass;

/* Which pass reads a message type, and with what; no pass reads the others (deletions, …).
 * The table's name is always attribute 1. */
static const struct {
        Pass pass;
        void (*read)(Parser *p, const struct nlmsghdr *nlh, const Attrs *a);
} readers[] = {
        [NFT_MSG_NEWTABLE] = { PASS_OBJECTS, read_table },
        [NFT_MSG_NEWCHAIN] = { PASS_OBJECTS, read_chain },
        [NFT_MSG_NEWSET] = { PASS_OBJECTS, read_set },
        [NFT_MSG_NEWOBJ] = { PASS_OBJECTS, read_object },
        [NFT_MSG_NEWFLOWTABLE] = { PASS_OBJECTS, read_object },
        [NFT_MSG_NEWSETELEM] = { PASS_ELEMENTS, read_elems },
        [NFT_MSG_NEWRULE] = { PASS_RULES, read_rule },
};

static void read_message(Parser *p, Pass pass, const struct nlmsghdr *nlh) {
        NftImage *img = p->img;
        const struct nfgenmsg *nfg;
        uint16_t type;
        uint32_t start;
        Attrs a;

        if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_NFTABLES)
                return;
        type = NFNL_MSG_TYPE(nlh->nlmsg_type);
        if (type >= ELEMENTSOF(readers) || !readers[type].read || readers[type].pass != pass)
                return;
        if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*nfg)) {
                img->n_malformed++;
                return;
        }
        nfg = mnl_nlmsg_get_payload(nlh);
        if (nfg->nfgen_family != NFPROTO_INET)
                return;
        if (!img_attrs_parse((const char *) nfg + MNL_ALIGN(sizeof(*nfg)),
                         mnl_nlmsg_get_payload_len(nlh) - MNL_ALIGN(sizeof(*nfg)), &a)) {
                /* we cannot tell whose it is: count it, to be safe */
                img->n_malformed++;
                return;
        }
        if (!img_attr_is_str(a.tb[1], p->table))
                return;

        start = img_mark(p);
        p->bad = false;
        readers[type].read(p, nlh, &a);
        if (p->bad && !p->error) {
                img->n_malformed++;
                img->text_len = start;
        }
}

static int read_pass(Parser *p, Pass pass, const void *buf, size_t len) {
        const struct nlmsghdr *nlh;
        size_t off = 0;

        while (!p->error && (nlh = nlmsg_next_safe(buf, len, &off)))
                read_message(p, pass, nlh);
        /* bytes that are no message: a cut-off buffer (counted once) */
        if (pass == PASS_OBJECTS && off < len && !p->error)
                p->img->n_malformed++;
        return p->error;
}

static int elem_cmp(const void *a, const void *b, void *userdata) {
        const NftImageElem *x = a, *y = b;

        if (x->set != y->set)
                return x->set < y->set ? -1 : 1;
        return img_text_cmp(userdata, x->text, y->text);
}

/* After the first pass: chains by name, one of each (a second of the same name is malformed). */
static void index_chains(Parser *p) {
        NftImage *img = p->img;
        size_t n = 0;

        if (img->n_chains > 0)          /* qsort_r() takes no NULL array, even empty */
                qsort_r(img->chains, img->n_chains, sizeof(*img->chains), chain_name_cmp, img);
        for (size_t i = 0; i < img->n_chains; i++) {
                if (n > 0 && img_text_cmp(img, img->chains[n - 1].name, img->chains[i].name) == 0) {
                        img->n_malformed++;
                        continue;
                }
                img->chains[n++] = img->chains[i];
        }
        img->n_chains = n;
}

static int index_sets(Parser *p) {
        NftImage *img = p->img;

        img->sets_by_name = calloc(img->n_sets ?: 1, sizeof(*img->sets_by_name));
        p->sets_by_id = calloc(img->n_sets ?: 1, sizeof(*p->sets_by_id));
        if (!img->sets_by_name || !p->sets_by_id)
                return -ENOMEM;
        for (size_t i = 0; i < img->n_sets; i++) {
                img->sets_by_name[i] = (uint32_t) i;
                if (img->sets[i].id != 0)
                        p->sets_by_id[p->n_sets_by_id++] = (uint32_t) i;
        }
        if (img->n_sets > 0)
                qsort_r(img->sets_by_name, img->n_sets, sizeof(uint32_t), img_set_name_cmp, img);
        if (p->n_sets_by_id > 0)
                qsort_r(p->sets_by_id, p->n_sets_by_id, sizeof(uint32_t), img_set_id_cmp, img);
        return 0;
}

/* After the second pass: each set's elements together, sorted. */
static void index_elems(Parser *p) {
        NftImage *img = p->img;

        if (img->n_elems > 0)
                qsort_r(img->elems, img->n_elems, sizeof(*img->elems), elem_cmp, img);
        for (size_t i = 0; i < img->n_elems; i++) {
                NftImageSet *s = &img->sets[img->elems[i].set];

                if (s->n_elems == 0)
                        s->first_elem = i;
                s->n_elems++;
        }
}

static size_t rule_chain(const void *rule) {
        return ((const NftImageRule *) rule)->chain;
}

/* After the third pass: the rules of each chain together, each chain's in message order. */
static int index_rules(NftImage *img) {
        if (img->n_chains == 0)         /* and so no rules */
                return 0;
        return array_group(img->rules, img->n_rules, sizeof(*img->rules), rule_chain, &img->chains[0].rules,
                           img->n_chains, sizeof(*img->chains));
}

NftImage *nft_image_free(NftImage *img) {
        if (!img)
                return NULL;
        free_many(img->chains, img->rules, img->sets, img->sets_by_name, img->elems, img->objects, img->text);
        free(img);
        return NULL;
}

int nft_image_parse(const void *buf, size_t len, const char *table, NftImage **ret) {
        _cleanup_(nft_image_freep) NftImage *img = NULL;
        Parser p = { .table = table };
        uint64_t max;
        int r;

        if (!table || !ret)
                return -EINVAL;
        r = nlmsg_check_buffer(buf, len);
        if (r < 0)
                return r;
        img = calloc(1, sizeof(*img));
        if (!img)
                return -ENOMEM;
        max = (uint64_t) len * NFT_IMAGE_TEXT_FACTOR + NFT_IMAGE_TEXT_FLOOR;
        img->text_max = max < UINT32_MAX ? (size_t) max : UINT32_MAX;
        p.img = img;

        r = read_pass(&p, PASS_OBJECTS, buf, len);
        if (r >= 0) {
                index_chains(&p);
                r = index_sets(&p);
        }
        if (r >= 0)
                r = read_pass(&p, PASS_ELEMENTS, buf, len);
        if (r >= 0) {
                index_elems(&p);
                r = read_pass(&p, PASS_RULES, buf, len);
        }
        if (r >= 0)
                r = index_rules(img);
        free(p.sets_by_id);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(img);
        return 0;
}
