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
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "macro.h"
#include "nlmsg.h"

/* Attribute types at one level that we index; nftables has fewer than 20 anywhere. A higher
 * type, a type given twice or bytes that are no attribute make the message malformed. */
#define ATTR_MAX 32 /* a bit each in Attrs.present */
/* How deep expressions may nest: a set's expression's data's verdict. */
#define DEPTH_MAX 4

/* Set attributes newer than Debian 12's uapi header (Linux 6.16): the backend the kernel chose
 * (its business, not ours) and the number of elements (the elements are compared). */
#define SET_ATTR_TYPE 19
#define SET_ATTR_COUNT 20

typedef struct Attrs {
        const struct nlattr *tb[ATTR_MAX];
        uint32_t present;               /* bit t: tb[t] is there */
} Attrs;

typedef struct Parser {
        NftImage *img;
        const char *table;
        int error;                      /* sticky: -ENOMEM or -E2BIG */
        bool bad;                       /* the message at hand does not parse */
        size_t chains_alloc, rules_alloc, sets_alloc, elems_alloc, objects_alloc;
        uint32_t *sets_by_id;           /* indices of sets with an id, by id */
        size_t n_sets_by_id;
} Parser;

/* ---- attributes ---------------------------------------------------------------------------- */

static bool attrs_parse(const void *data, size_t len, Attrs *a) {
        const char *end = (const char *) data + len;
        const struct nlattr *attr;

        memset(a, 0, sizeof(*a));
        if (len > INT_MAX)
                return false;
        for (attr = data; mnl_attr_ok(attr, (int) (end - (const char *) attr)); attr = mnl_attr_next(attr)) {
                uint16_t type = mnl_attr_get_type(attr);

                if (type >= ATTR_MAX || a->tb[type])
                        return false;
                a->tb[type] = attr;
                a->present |= UINT32_C(1) << type;
        }
        /* anything left is bytes that are no attribute (padding takes us past the end) */
        return (const char *) attr >= end;
}

static bool attrs_nested(const struct nlattr *attr, Attrs *a) {
        return attrs_parse(mnl_attr_get_payload(attr), mnl_attr_get_payload_len(attr), a);
}

static bool get_u32(const struct nlattr *a, uint32_t *ret) {
        if (!a || mnl_attr_get_payload_len(a) != sizeof(uint32_t))
                return false;
        *ret = ntohl(mnl_attr_get_u32(a));
        return true;
}

static bool get_u64(const struct nlattr *a, uint64_t *ret) {
        uint64_t v;

        if (!a || mnl_attr_get_payload_len(a) != sizeof(uint64_t))
                return false;
        memcpy(&v, mnl_attr_get_payload(a), sizeof(v));
        *ret = be64toh(v);
        return true;
}

/* A NUL-terminated string without a NUL inside: names. */
static bool get_str(const struct nlattr *a, const char **ret, size_t *ret_len) {
        const char *s;
        size_t n;

        if (!a)
                return false;
        n = mnl_attr_get_payload_len(a);
        s = mnl_attr_get_payload(a);
        if (n == 0 || s[n - 1] != 0 || strnlen(s, n) != n - 1)
                return false;
        *ret = s;
        if (ret_len)
                *ret_len = n - 1;
        return true;
}

static bool attr_is_str(const struct nlattr *a, const char *s) {
        const char *v;

        return get_str(a, &v, NULL) && streq(v, s);
}

/* ---- text ---------------------------------------------------------------------------------- */

static bool reserve(Parser *p, size_t n) {
        NftImage *img = p->img;

        if (p->error)
                return false;
        if (n > img->text_max - img->text_len) {
                p->error = -E2BIG;
                return false;
        }
        if (img->text_len + n > img->text_alloc) {
                size_t a = img->text_alloc ? img->text_alloc : 4096;
                char *t;

                while (a < img->text_len + n)
                        a = a > img->text_max / 2 ? img->text_max : a * 2;
                t = realloc(img->text, a);
                if (!t) {
                        p->error = -ENOMEM;
                        return false;
                }
                img->text = t;
                img->text_alloc = a;
        }
        return true;
}

static void put(Parser *p, const void *data, size_t n) {
        if (!reserve(p, n))
                return;
        memcpy(p->img->text + p->img->text_len, data, n);
        p->img->text_len += n;
}

static void puts_(Parser *p, const char *s) {
        put(p, s, strlen(s));
}

#define PUT_LIT(p, lit) put((p), "" lit, sizeof(lit) - 1)

/* Numbers are most of the text: no printf for them. */
static void put_uint(Parser *p, uint64_t v) {
        char buf[20];
        size_t n = 0;

        do
                buf[sizeof(buf) - ++n] = (char) ('0' + v % 10);
        while ((v /= 10) > 0);
        put(p, buf + sizeof(buf) - n, n);
}

_printf_(2, 3) static void putf(Parser *p, const char *fmt, ...) {
        char buf[128];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        if (n < 0 || (size_t) n >= sizeof(buf)) {
                p->bad = true; /* only numbers and short names go through here */
                return;
        }
        put(p, buf, (size_t) n);
}

static void put_hex(Parser *p, const void *data, size_t n) {
        static const char digits[] = "0123456789abcdef";
        const uint8_t *b = data;
        char *o;

        if (n > SIZE_MAX / 2 || !reserve(p, 2 * n))
                return;
        o = p->img->text + p->img->text_len;
        for (size_t i = 0; i < n; i++) {
                *o++ = digits[b[i] >> 4];
                *o++ = digits[b[i] & 15];
        }
        p->img->text_len += 2 * n;
}

/* Printable ASCII as it is, but for the quote and the backslash; every other byte \xNN: one
 * text for one byte sequence, and safe in a log line. */
static void put_escaped(Parser *p, const void *data, size_t n) {
        static const char digits[] = "0123456789abcdef";
        const uint8_t *b = data;
        char *o;

        if (n > SIZE_MAX / 4 || !reserve(p, 4 * n))
                return;
        o = p->img->text + p->img->text_len;
        for (size_t i = 0; i < n; i++) {
                if (b[i] >= 0x20 && b[i] < 0x7f && b[i] != '"' && b[i] != '\\')
                        *o++ = (char) b[i];
                else {
                        *o++ = '\\';
                        *o++ = 'x';
                        *o++ = digits[b[i] >> 4];
                        *o++ = digits[b[i] & 15];
                }
        }
        p->img->text_len = (size_t) (o - p->img->text);
}

/* Another piece of the image's own text, appended (the buffer may move: copy by offset). */
static void put_text(Parser *p, NftImageText t) {
        if (!reserve(p, t.len))
                return;
        memcpy(p->img->text + p->img->text_len, p->img->text + t.off, t.len);
        p->img->text_len += t.len;
}

static uint32_t mark(Parser *p) {
        return (uint32_t) p->img->text_len;
}

static NftImageText since(Parser *p, uint32_t start) {
        return (NftImageText) { .off = start, .len = (uint32_t) (p->img->text_len - start) };
}

static int text_cmp(const NftImage *img, NftImageText a, NftImageText b) {
        int c = memcmp(img->text + a.off, img->text + b.off, a.len < b.len ? a.len : b.len);

        return c != 0 ? c : (a.len > b.len) - (a.len < b.len);
}

/* ---- values -------------------------------------------------------------------------------- */

static const char *const meta_keys[] = {
        [NFT_META_LEN] = "len", [NFT_META_PROTOCOL] = "protocol", [NFT_META_MARK] = "mark",
        [NFT_META_IIF] = "iif", [NFT_META_OIF] = "oif", [NFT_META_IIFNAME] = "iifname",
        [NFT_META_OIFNAME] = "oifname", [NFT_META_IIFTYPE] = "iiftype", [NFT_META_OIFTYPE] = "oiftype",
        [NFT_META_SKUID] = "skuid", [NFT_META_SKGID] = "skgid", [NFT_META_NFPROTO] = "nfproto",
        [NFT_META_L4PROTO] = "l4proto", [NFT_META_SECPATH] = "secpath",
};
static const char *const cmp_ops[] = {
        [NFT_CMP_EQ] = "eq", [NFT_CMP_NEQ] = "neq", [NFT_CMP_LT] = "lt",
        [NFT_CMP_LTE] = "lte", [NFT_CMP_GT] = "gt", [NFT_CMP_GTE] = "gte",
};
static const char *const range_ops[] = { [NFT_RANGE_EQ] = "eq", [NFT_RANGE_NEQ] = "neq" };
static const char *const payload_bases[] = {
        [NFT_PAYLOAD_LL_HEADER] = "ll", [NFT_PAYLOAD_NETWORK_HEADER] = "network",
        [NFT_PAYLOAD_TRANSPORT_HEADER] = "transport",
};
static const char *const ct_keys[] = {
        [NFT_CT_STATE] = "state", [NFT_CT_DIRECTION] = "direction", [NFT_CT_STATUS] = "status",
        [NFT_CT_MARK] = "mark",
};
static const char *const socket_keys[] = { [NFT_SOCKET_TRANSPARENT] = "transparent", [NFT_SOCKET_MARK] = "mark" };
static const char *const rt_keys[] = { [NFT_RT_XFRM] = "xfrm" };
static const char *const policies[] = { [NF_DROP] = "drop", [NF_ACCEPT] = "accept" };

#define NAMES(a) .names = (a), .n_names = ELEMENTSOF(a)

typedef enum AttrKind {
        K_RAW,                          /* hex: what we do not know */
        K_U32,                          /* a number, or its name */
        K_U8,
        K_REG,                          /* a register, as the kernel reports it */
        K_DATA,                         /* nft_data: a value or a verdict */
        K_SKIP,                         /* differs legitimately: not compared */
        K_SKIP_ZERO,                    /* a u32 whose 0 is the default */
        K_SET,                          /* a lookup's set, by name or (batches) id */
        K_SET_ID,                       /* taken with K_SET */
} AttrKind;

typedef struct AttrSpec {
        const char *name;
        AttrKind kind;
        const char *const *names;
        size_t n_names;
} AttrSpec;

typedef struct ExprSpec {
        const char *name;
        const AttrSpec *attrs;
        size_t n_attrs;
} ExprSpec;

static const AttrSpec meta_attrs[] = {
        [NFTA_META_DREG] = { "dreg", K_REG }, [NFTA_META_KEY] = { "key", K_U32, NAMES(meta_keys) },
        [NFTA_META_SREG] = { "sreg", K_REG },
};
static const AttrSpec ct_attrs[] = {
        [NFTA_CT_DREG] = { "dreg", K_REG }, [NFTA_CT_KEY] = { "key", K_U32, NAMES(ct_keys) },
        [NFTA_CT_DIRECTION] = { "dir", K_U8 }, [NFTA_CT_SREG] = { "sreg", K_REG },
};
static const AttrSpec socket_attrs[] = {
        [NFTA_SOCKET_KEY] = { "key", K_U32, NAMES(socket_keys) }, [NFTA_SOCKET_DREG] = { "dreg", K_REG },
        [NFTA_SOCKET_LEVEL] = { "level", K_U32 },
};
static const AttrSpec rt_attrs[] = {
        [NFTA_RT_DREG] = { "dreg", K_REG }, [NFTA_RT_KEY] = { "key", K_U32, NAMES(rt_keys) },
};
static const AttrSpec payload_attrs[] = {
        [NFTA_PAYLOAD_DREG] = { "dreg", K_REG }, [NFTA_PAYLOAD_BASE] = { "base", K_U32, NAMES(payload_bases) },
        [NFTA_PAYLOAD_OFFSET] = { "offset", K_U32 }, [NFTA_PAYLOAD_LEN] = { "len", K_U32 },
        [NFTA_PAYLOAD_SREG] = { "sreg", K_REG }, [NFTA_PAYLOAD_CSUM_TYPE] = { "csum_type", K_U32 },
        [NFTA_PAYLOAD_CSUM_OFFSET] = { "csum_offset", K_U32 }, [NFTA_PAYLOAD_CSUM_FLAGS] = { "csum_flags", K_U32 },
};
static const AttrSpec cmp_attrs[] = {
        [NFTA_CMP_SREG] = { "sreg", K_REG }, [NFTA_CMP_OP] = { "op", K_U32, NAMES(cmp_ops) },
        [NFTA_CMP_DATA] = { "data", K_DATA },
};
static const AttrSpec bitwise_attrs[] = {
        [NFTA_BITWISE_SREG] = { "sreg", K_REG }, [NFTA_BITWISE_DREG] = { "dreg", K_REG },
        [NFTA_BITWISE_LEN] = { "len", K_U32 }, [NFTA_BITWISE_MASK] = { "mask", K_DATA },
        [NFTA_BITWISE_XOR] = { "xor", K_DATA }, [NFTA_BITWISE_OP] = { "op", K_SKIP_ZERO },
        [NFTA_BITWISE_DATA] = { "data", K_DATA },
};
static const AttrSpec range_attrs[] = {
        [NFTA_RANGE_SREG] = { "sreg", K_REG }, [NFTA_RANGE_OP] = { "op", K_U32, NAMES(range_ops) },
        [NFTA_RANGE_FROM_DATA] = { "from", K_DATA }, [NFTA_RANGE_TO_DATA] = { "to", K_DATA },
};
static const AttrSpec lookup_attrs[] = {
        [NFTA_LOOKUP_SET] = { "set", K_SET }, [NFTA_LOOKUP_SREG] = { "sreg", K_REG },
        [NFTA_LOOKUP_DREG] = { "dreg", K_REG }, [NFTA_LOOKUP_SET_ID] = { "set_id", K_SET_ID },
        [NFTA_LOOKUP_FLAGS] = { "flags", K_SKIP_ZERO },
};
static const AttrSpec counter_attrs[] = {
        [NFTA_COUNTER_BYTES] = { "bytes", K_SKIP }, [NFTA_COUNTER_PACKETS] = { "packets", K_SKIP },
        [NFTA_COUNTER_PAD] = { "pad", K_SKIP },
};
static const AttrSpec immediate_attrs[] = {
        [NFTA_IMMEDIATE_DREG] = { "dreg", K_REG }, [NFTA_IMMEDIATE_DATA] = { "data", K_DATA },
};

#define EXPR(n, a) { n, a, ELEMENTSOF(a) }
static const ExprSpec expr_specs[] = {
        /* the most frequent first */
        EXPR("cmp", cmp_attrs), EXPR("payload", payload_attrs), EXPR("meta", meta_attrs),
        EXPR("immediate", immediate_attrs), EXPR("counter", counter_attrs), EXPR("lookup", lookup_attrs),
        EXPR("bitwise", bitwise_attrs), EXPR("ct", ct_attrs), EXPR("range", range_attrs),
        EXPR("socket", socket_attrs), EXPR("rt", rt_attrs),
};

static void put_u32_named(Parser *p, uint32_t v, const AttrSpec *s) {
        if (s && v < s->n_names && s->names[v])
                puts_(p, s->names[v]);
        else
                put_uint(p, v);
}

/*
 * The kernel keeps registers in 32-bit units and names each, when it reports it, by the
 * largest register that starts there: NFT_REG32_00 (8) is NFT_REG_1 (1), NFT_REG32_01 is 9.
 * Do the same, so a rule reads the same whichever name its maker used.
 */
static void put_reg(Parser *p, uint32_t v) {
        uint32_t unit;

        if (v <= NFT_REG_4)
                unit = v * 4;
        else if (v >= NFT_REG32_00 && v <= NFT_REG32_15)
                unit = v - NFT_REG32_00 + 4;
        else {
                putf(p, "%u?", v); /* no register: the kernel would refuse it */
                return;
        }
        put_uint(p, unit % 4 == 0 ? unit / 4 : unit - 4 + NFT_REG32_00);
}

static void put_verdict(Parser *p, const struct nlattr *attr) {
        static const char *const codes[] = { [0] = "drop", [1] = "accept", [2] = "stolen", [3] = "queue" };
        const char *chain;
        uint32_t code, id;
        Attrs a;

        if (!attrs_nested(attr, &a) || !get_u32(a.tb[NFTA_VERDICT_CODE], &code)) {
                p->bad = true;
                return;
        }
        switch ((int32_t) code) {
        case NFT_CONTINUE: PUT_LIT(p, "continue"); break;
        case NFT_BREAK: PUT_LIT(p, "break"); break;
        case NFT_JUMP: PUT_LIT(p, "jump"); break;
        case NFT_GOTO: PUT_LIT(p, "goto"); break;
        case NFT_RETURN: PUT_LIT(p, "return"); break;
        default:
                if (code < ELEMENTSOF(codes))
                        puts_(p, codes[code]);
                else
                        putf(p, "verdict%d", (int32_t) code);
        }
        if (a.tb[NFTA_VERDICT_CHAIN]) {
                if (!get_str(a.tb[NFTA_VERDICT_CHAIN], &chain, NULL))
                        p->bad = true;
                else {
                        PUT_LIT(p, ":");
                        put_escaped(p, chain, strlen(chain));
                }
        }
        if (a.tb[NFTA_VERDICT_CHAIN_ID]) {
                if (!get_u32(a.tb[NFTA_VERDICT_CHAIN_ID], &id))
                        p->bad = true;
                else
                        putf(p, ":#%u", id);
        }
        for (size_t t = NFTA_VERDICT_CHAIN_ID + 1; t < ATTR_MAX; t++)
                if (a.tb[t])
                        p->bad = true;
}

static void put_data(Parser *p, const struct nlattr *attr) {
        Attrs a;

        if (!attrs_nested(attr, &a) || (!a.tb[NFTA_DATA_VALUE] && !a.tb[NFTA_DATA_VERDICT])) {
                p->bad = true;
                return;
        }
        for (size_t t = NFTA_DATA_VERDICT + 1; t < ATTR_MAX; t++)
                if (a.tb[t])
                        p->bad = true;
        if (a.tb[NFTA_DATA_VALUE])
                put_hex(p, mnl_attr_get_payload(a.tb[NFTA_DATA_VALUE]), mnl_attr_get_payload_len(a.tb[NFTA_DATA_VALUE]));
        if (a.tb[NFTA_DATA_VERDICT])
                put_verdict(p, a.tb[NFTA_DATA_VERDICT]);
}

static void put_raw(Parser *p, const struct nlattr *attr) {
        put_hex(p, mnl_attr_get_payload(attr), mnl_attr_get_payload_len(attr));
}

/* ---- sets ---------------------------------------------------------------------------------- */

static int set_id_cmp(const void *a, const void *b, void *userdata) {
        const NftImage *img = userdata;
        uint32_t x = img->sets[*(const uint32_t *) a].id, y = img->sets[*(const uint32_t *) b].id;

        return (x > y) - (x < y);
}

static int set_name_cmp(const void *a, const void *b, void *userdata) {
        const NftImage *img = userdata;
        const NftImageSet *x = &img->sets[*(const uint32_t *) a], *y = &img->sets[*(const uint32_t *) b];
        int c = text_cmp(img, x->name, y->name);

        return c != 0 ? c : (x->id > y->id) - (x->id < y->id);
}

/* The set a lookup or an element message names: by id when it has one (a batch's new sets,
 * the anonymous ones all named "__set%d"), else by name. */
static const NftImageSet *find_set(Parser *p, const char *name, size_t len, uint32_t id) {
        const NftImage *img = p->img;
        size_t lo = 0, hi;

        if (id != 0) {
                hi = p->n_sets_by_id;
                while (lo < hi) {
                        size_t mid = lo + (hi - lo) / 2;
                        uint32_t v = img->sets[p->sets_by_id[mid]].id;

                        if (v == id)
                                return &img->sets[p->sets_by_id[mid]];
                        if (v < id)
                                lo = mid + 1;
                        else
                                hi = mid;
                }
                return NULL;
        }
        if (!name)
                return NULL;
        hi = img->n_sets;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                const NftImageSet *s = &img->sets[img->sets_by_name[mid]];
                NftImageText t = s->name;
                int c = memcmp(img->text + t.off, name, t.len < len ? t.len : len);

                if (c == 0)
                        c = (t.len > len) - (t.len < len);
                if (c == 0) {
                        /* the first of that name */
                        while (mid > 0 && text_cmp(img, img->sets[img->sets_by_name[mid - 1]].name, t) == 0)
                                mid--;
                        return &img->sets[img->sets_by_name[mid]];
                }
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

static void put_expr(Parser *p, const struct nlattr *attr, unsigned depth);

/* NFTA_*_EXPR (one expression) or NFTA_*_EXPRESSIONS (a list): both "[e1 e2]". */
static void put_exprs(Parser *p, const struct nlattr *one, const struct nlattr *list, unsigned depth) {
        const struct nlattr *e;
        bool first = true;

        if (one && list) {
                p->bad = true;
                return;
        }
        PUT_LIT(p, "[");
        if (one)
                put_expr(p, one, depth);
        if (list)
                mnl_attr_for_each_nested(e, list) {
                        if (mnl_attr_get_type(e) != NFTA_LIST_ELEM) {
                                p->bad = true;
                                return;
                        }
                        if (!first)
                                PUT_LIT(p, " ");
                        first = false;
                        put_expr(p, e, depth);
                }
        PUT_LIT(p, "]");
}

/* ---- expressions --------------------------------------------------------------------------- */

static void put_set_ref(Parser *p, const Attrs *a) {
        const char *name = NULL;
        size_t len = 0;
        uint32_t id = 0;
        const NftImageSet *s;

        if ((a->tb[NFTA_LOOKUP_SET] && !get_str(a->tb[NFTA_LOOKUP_SET], &name, &len)) ||
            (a->tb[NFTA_LOOKUP_SET_ID] && !get_u32(a->tb[NFTA_LOOKUP_SET_ID], &id)) || (!name && id == 0)) {
                p->bad = true;
                return;
        }
        s = find_set(p, name, len, id);
        if (!s) {
                PUT_LIT(p, "?");
                if (name)
                        put_escaped(p, name, len);
                return;
        }
        if (!s->anonymous) {
                PUT_LIT(p, "@");
                put_text(p, s->name);
                return;
        }
        /* anonymous: what it is, not what it is called */
        PUT_LIT(p, "{");
        put_text(p, s->attrs);
        PUT_LIT(p, ":");
        for (size_t i = 0; i < s->n_elems && !p->error; i++) {
                puts_(p, i ? "," : " ");
                put_text(p, p->img->elems[s->first_elem + i].text);
        }
        PUT_LIT(p, "}");
}

/* One expression, "name(attr=value,…)": an NFTA_LIST_ELEM or NFTA_*_EXPR nest. */
static void put_expr(Parser *p, const struct nlattr *attr, unsigned depth) {
        const ExprSpec *spec = NULL;
        const char *name;
        uint32_t v;
        bool first = true;
        Attrs e, a = {};

        if (depth >= DEPTH_MAX || !attrs_nested(attr, &e) || !get_str(e.tb[NFTA_EXPR_NAME], &name, NULL) ||
            (e.tb[NFTA_EXPR_DATA] && !attrs_nested(e.tb[NFTA_EXPR_DATA], &a))) {
                p->bad = true;
                return;
        }
        for (size_t t = NFTA_EXPR_DATA + 1; t < ATTR_MAX; t++)
                if (e.tb[t])
                        p->bad = true;
        for (size_t i = 0; !spec && i < ELEMENTSOF(expr_specs); i++)
                if (expr_specs[i].name[0] == name[0] && streq(expr_specs[i].name, name))
                        spec = &expr_specs[i];

        put_escaped(p, name, strlen(name));
        /* the attributes there are, in type order */
        for (uint32_t left = a.present & ~UINT32_C(1); left && !p->error; left &= left - 1) {
                size_t t = (size_t) __builtin_ctz(left);
                const AttrSpec *s = spec && t < spec->n_attrs && spec->attrs[t].name ? &spec->attrs[t] : NULL;
                AttrKind kind = s ? s->kind : K_RAW;

                if (kind == K_SKIP || kind == K_SET_ID)
                        continue;
                if (kind == K_SKIP_ZERO) {
                        if (!get_u32(a.tb[t], &v)) {
                                p->bad = true;
                                continue;
                        }
                        if (v == 0)
                                continue;
                        kind = K_U32;
                }
                puts_(p, first ? "(" : ",");
                first = false;
                if (s)
                        puts_(p, s->name);
                else
                        put_uint(p, t);
                PUT_LIT(p, "=");
                switch (kind) {
                case K_U32:
                        if (get_u32(a.tb[t], &v))
                                put_u32_named(p, v, s);
                        else
                                p->bad = true;
                        break;
                case K_REG:
                        if (get_u32(a.tb[t], &v))
                                put_reg(p, v);
                        else
                                p->bad = true;
                        break;
                case K_U8:
                        if (mnl_attr_get_payload_len(a.tb[t]) == 1)
                                putf(p, "%u", mnl_attr_get_u8(a.tb[t]));
                        else
                                p->bad = true;
                        break;
                case K_DATA:
                        put_data(p, a.tb[t]);
                        break;
                case K_SET:
                        put_set_ref(p, &a);
                        break;
                case K_RAW:
                        put_raw(p, a.tb[t]);
                        break;
                case K_SKIP:
                case K_SKIP_ZERO:
                case K_SET_ID:
                        break;
                }
        }
        /* a lookup by id alone (a batch's anonymous set) */
        if (spec && spec->attrs == lookup_attrs && !a.tb[NFTA_LOOKUP_SET] && a.tb[NFTA_LOOKUP_SET_ID]) {
                puts_(p, first ? "(set=" : ",set=");
                first = false;
                put_set_ref(p, &a);
        }
        if (!first)
                PUT_LIT(p, ")");
}

/* Userdata TLVs (libnftnl's nftnl_udata): type, length, value. A comment (type 0 for rules and
 * elements) shows as text; anything else as hex. @ret_comment: where the comment's text is. */
static void put_udata(Parser *p, const struct nlattr *attr, bool comments, NftImageText *ret_comment) {
        const uint8_t *d = mnl_attr_get_payload(attr);
        size_t n = mnl_attr_get_payload_len(attr), off = 0;

        while (off < n && !p->error) {
                uint8_t type, len;

                if (n - off < 2 || (size_t) d[off + 1] > n - off - 2) {
                        p->bad = true;
                        return;
                }
                type = d[off];
                len = d[off + 1];
                if (comments && type == 0 && len > 0 && d[off + 2 + len - 1] == 0 &&
                    strnlen((const char *) d + off + 2, len) == (size_t) len - 1u) {
                        uint32_t start;

                        PUT_LIT(p, " comment \"");
                        start = mark(p);
                        put_escaped(p, d + off + 2, len - 1u);
                        if (ret_comment)
                                *ret_comment = since(p, start);
                        PUT_LIT(p, "\"");
                } else {
                        putf(p, " udata%u=", type);
                        put_hex(p, d + off + 2, len);
                }
                off += 2u + len;
        }
}

/* ---- messages ------------------------------------------------------------------------------ */

/* Room for one more in an array of @size-byte entries. */
static void *grow(Parser *p, void **array, size_t n, size_t *alloc, size_t size) {
        if (p->error)
                return NULL;
        if (n == *alloc) {
                size_t a = *alloc ? *alloc * 2 : 64;
                void *x;

                if (a > SIZE_MAX / size) {
                        p->error = -ENOMEM;
                        return NULL;
                }
                x = realloc(*array, a * size);
                if (!x) {
                        p->error = -ENOMEM;
                        return NULL;
                }
                *array = x;
                *alloc = a;
        }
        return (char *) *array + n * size;
}

/* Attributes beyond @max at this level are unknown to us, and rendered raw. */
static void put_unknown(Parser *p, const Attrs *a, size_t max) {
        for (size_t t = max + 1; t < ATTR_MAX && !p->error; t++)
                if (a->tb[t]) {
                        putf(p, " attr%zu=", t);
                        put_raw(p, a->tb[t]);
                }
}

static void read_table(Parser *p, const Attrs *a) {
        NftImage *img = p->img;
        uint32_t start = mark(p), flags = 0;

        if (a->tb[NFTA_TABLE_FLAGS] && !get_u32(a->tb[NFTA_TABLE_FLAGS], &flags)) {
                p->bad = true;
                return;
        }
        /* an absent flags attribute creates the table with none */
        putf(p, "flags=0x%x", flags);
        if (a->tb[NFTA_TABLE_USERDATA]) {
                PUT_LIT(p, " udata=");
                put_raw(p, a->tb[NFTA_TABLE_USERDATA]);
        }
        put_unknown(p, a, NFTA_TABLE_OWNER);
        /* a batch that replaces the table says NEWTABLE more than once: the last one stands */
        img->has_table = true;
        img->table_attrs = since(p, start);
}

static void read_chain(Parser *p, const Attrs *a) {
        NftImage *img = p->img;
        NftImageChain *c;
        const char *name, *type;
        size_t len;
        uint32_t v, start;

        if (!get_str(a->tb[NFTA_CHAIN_NAME], &name, &len)) {
                p->bad = true;
                return;
        }
        c = grow(p, (void **) &img->chains, img->n_chains, &p->chains_alloc, sizeof(*c));
        if (!c)
                return;
        *c = (NftImageChain) {};
        start = mark(p);
        put(p, name, len);
        c->name = since(p, start);

        start = mark(p);
        if (a->tb[NFTA_CHAIN_HOOK]) {
                Attrs h;

                if (!attrs_nested(a->tb[NFTA_CHAIN_HOOK], &h) || !get_u32(h.tb[NFTA_HOOK_HOOKNUM], &v)) {
                        p->bad = true;
                        return;
                }
                putf(p, "hook=%u", v);
                if (h.tb[NFTA_HOOK_PRIORITY]) {
                        if (get_u32(h.tb[NFTA_HOOK_PRIORITY], &v))
                                putf(p, " prio=%d", (int32_t) v);
                        else
                                p->bad = true;
                }
                if (h.tb[NFTA_HOOK_DEV]) {
                        PUT_LIT(p, " dev=");
                        put_raw(p, h.tb[NFTA_HOOK_DEV]);
                }
                if (h.tb[NFTA_HOOK_DEVS]) {
                        PUT_LIT(p, " devs=");
                        put_raw(p, h.tb[NFTA_HOOK_DEVS]);
                }
                put_unknown(p, &h, NFTA_HOOK_DEVS);
        }
        if (a->tb[NFTA_CHAIN_TYPE]) {
                if (!get_str(a->tb[NFTA_CHAIN_TYPE], &type, &len))
                        p->bad = true;
                else {
                        PUT_LIT(p, " type=");
                        put_escaped(p, type, len);
                }
        }
        if (a->tb[NFTA_CHAIN_POLICY]) {
                if (get_u32(a->tb[NFTA_CHAIN_POLICY], &v)) {
                        PUT_LIT(p, " policy=");
                        put_u32_named(p, v, &(AttrSpec) { NAMES(policies) });
                } else
                        p->bad = true;
        }
        if (a->tb[NFTA_CHAIN_FLAGS]) {
                if (!get_u32(a->tb[NFTA_CHAIN_FLAGS], &v))
                        p->bad = true;
                else if (v & ~(uint32_t) NFT_CHAIN_BASE) /* BASE: the kernel's own mark of a chain with a hook */
                        putf(p, " flags=0x%x", v & ~(uint32_t) NFT_CHAIN_BASE);
        }
        if (a->tb[NFTA_CHAIN_USERDATA]) {
                PUT_LIT(p, " udata=");
                put_raw(p, a->tb[NFTA_CHAIN_USERDATA]);
        }
        put_unknown(p, a, NFTA_CHAIN_USERDATA);
        c->attrs = since(p, start);
        if (!p->bad && !p->error)
                img->n_chains++;
}

static void read_set(Parser *p, const Attrs *a) {
        static const struct { unsigned type; const char *name; } numbers[] = {
                { NFTA_SET_KEY_TYPE, "key_type" }, { NFTA_SET_KEY_LEN, "key_len" },
                { NFTA_SET_DATA_TYPE, "data_type" }, { NFTA_SET_DATA_LEN, "data_len" },
                { NFTA_SET_POLICY, "policy" }, { NFTA_SET_OBJ_TYPE, "obj_type" },
        };
        NftImage *img = p->img;
        NftImageSet *s;
        const char *name;
        size_t len;
        uint32_t v, start, flags = 0;
        uint64_t t;

        if (!get_str(a->tb[NFTA_SET_NAME], &name, &len) ||
            (a->tb[NFTA_SET_FLAGS] && !get_u32(a->tb[NFTA_SET_FLAGS], &flags))) {
                p->bad = true;
                return;
        }
        s = grow(p, (void **) &img->sets, img->n_sets, &p->sets_alloc, sizeof(*s));
        if (!s)
                return;
        *s = (NftImageSet) { .anonymous = flags & NFT_SET_ANONYMOUS };
        if (a->tb[NFTA_SET_ID] && !get_u32(a->tb[NFTA_SET_ID], &s->id))
                p->bad = true;
        start = mark(p);
        put(p, name, len);
        s->name = since(p, start);

        start = mark(p);
        putf(p, "flags=0x%x", flags);
        for (size_t i = 0; i < ELEMENTSOF(numbers); i++) {
                if (!a->tb[numbers[i].type])
                        continue;
                if (get_u32(a->tb[numbers[i].type], &v))
                        putf(p, " %s=%u", numbers[i].name, v);
                else
                        p->bad = true;
        }
        if (a->tb[NFTA_SET_TIMEOUT] || a->tb[NFTA_SET_GC_INTERVAL]) {
                if (a->tb[NFTA_SET_TIMEOUT] && !get_u64(a->tb[NFTA_SET_TIMEOUT], &t))
                        p->bad = true;
                else if (a->tb[NFTA_SET_TIMEOUT])
                        putf(p, " timeout=%llu", (unsigned long long) t);
                if (a->tb[NFTA_SET_GC_INTERVAL] && !get_u32(a->tb[NFTA_SET_GC_INTERVAL], &v))
                        p->bad = true;
                else if (a->tb[NFTA_SET_GC_INTERVAL])
                        putf(p, " gc=%u", v);
        }
        /* the kernel always describes a set; an empty description is none */
        if (a->tb[NFTA_SET_DESC] && mnl_attr_get_payload_len(a->tb[NFTA_SET_DESC]) > 0) {
                PUT_LIT(p, " desc=");
                put_raw(p, a->tb[NFTA_SET_DESC]);
        }
        if (a->tb[NFTA_SET_EXPR] || a->tb[NFTA_SET_EXPRESSIONS]) {
                uint32_t e;

                PUT_LIT(p, " exprs=");
                e = mark(p);
                put_exprs(p, a->tb[NFTA_SET_EXPR], a->tb[NFTA_SET_EXPRESSIONS], 0);
                s->exprs = since(p, e);
        }
        if (a->tb[NFTA_SET_USERDATA]) {
                PUT_LIT(p, " udata=");
                put_raw(p, a->tb[NFTA_SET_USERDATA]);
        }
        put_unknown(p, a, SET_ATTR_COUNT);
        s->attrs = since(p, start);
        if (!p->bad && !p->error)
                img->n_sets++;
}

static void read_elem(Parser *p, uint32_t set, const struct nlattr *attr) {
        NftImage *img = p->img;
        const NftImageSet *s = &img->sets[set];
        NftImageElem *el;
        uint32_t start, v, exprs;
        uint64_t t;
        const char *ref;
        size_t len;
        Attrs a;

        /* the attribute's type is no matter: the kernel's dumps say NFTA_LIST_ELEM, libnftnl numbers
         * the elements 1, 2, 3, … and the kernel reads them whatever their type */
        if (!attrs_nested(attr, &a) || !a.tb[NFTA_SET_ELEM_KEY]) {
                p->bad = true;
                return;
        }
        el = grow(p, (void **) &img->elems, img->n_elems, &p->elems_alloc, sizeof(*el));
        if (!el)
                return;
        *el = (NftImageElem) { .set = set };
        start = mark(p);
        /* the key: what makes it this element (an interval's end is another one) */
        PUT_LIT(p, "key=");
        put_data(p, a.tb[NFTA_SET_ELEM_KEY]);
        if (a.tb[NFTA_SET_ELEM_KEY_END]) {
                PUT_LIT(p, " key_end=");
                put_data(p, a.tb[NFTA_SET_ELEM_KEY_END]);
        }
        if (a.tb[NFTA_SET_ELEM_FLAGS]) {
                if (!get_u32(a.tb[NFTA_SET_ELEM_FLAGS], &v))
                        p->bad = true;
                else if (v)
                        putf(p, " flags=0x%x", v);
        }
        el->key = since(p, start);
        if (a.tb[NFTA_SET_ELEM_DATA]) {
                PUT_LIT(p, " data=");
                put_data(p, a.tb[NFTA_SET_ELEM_DATA]);
        }
        if (a.tb[NFTA_SET_ELEM_TIMEOUT]) {
                if (get_u64(a.tb[NFTA_SET_ELEM_TIMEOUT], &t))
                        putf(p, " timeout=%llu", (unsigned long long) t);
                else
                        p->bad = true;
        }
        if (a.tb[NFTA_SET_ELEM_OBJREF]) {
                if (!get_str(a.tb[NFTA_SET_ELEM_OBJREF], &ref, &len))
                        p->bad = true;
                else {
                        PUT_LIT(p, " objref=");
                        put_escaped(p, ref, len);
                }
        }
        if (a.tb[NFTA_SET_ELEM_EXPR] || a.tb[NFTA_SET_ELEM_EXPRESSIONS]) {
                NftImageText e;

                PUT_LIT(p, " exprs=");
                exprs = mark(p);
                put_exprs(p, a.tb[NFTA_SET_ELEM_EXPR], a.tb[NFTA_SET_ELEM_EXPRESSIONS], 0);
                e = since(p, exprs);
                /* the kernel gives every element the set's expressions: those are no news */
                if (!p->error && s->exprs.len > 0 && text_cmp(img, e, s->exprs) == 0)
                        img->text_len = exprs - strlen(" exprs=");
        }
        if (a.tb[NFTA_SET_ELEM_USERDATA])
                put_udata(p, a.tb[NFTA_SET_ELEM_USERDATA], true, NULL);
        put_unknown(p, &a, NFTA_SET_ELEM_EXPRESSIONS);
        el->text = since(p, start);
        if (!p->bad && !p->error)
                img->n_elems++;
}

static void read_elems(Parser *p, const Attrs *a) {
        const struct nlattr *attr;
        const NftImageSet *s;
        const char *name = NULL;
        size_t len = 0;
        uint32_t id = 0;

        if ((a->tb[NFTA_SET_ELEM_LIST_SET] && !get_str(a->tb[NFTA_SET_ELEM_LIST_SET], &name, &len)) ||
            (a->tb[NFTA_SET_ELEM_LIST_SET_ID] && !get_u32(a->tb[NFTA_SET_ELEM_LIST_SET_ID], &id))) {
                p->bad = true;
                return;
        }
        s = find_set(p, name, len, id);
        if (!s) {
                p->bad = true;
                return;
        }
        if (!a->tb[NFTA_SET_ELEM_LIST_ELEMENTS])
                return;
        mnl_attr_for_each_nested(attr, a->tb[NFTA_SET_ELEM_LIST_ELEMENTS]) {
                uint32_t start = mark(p);

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

static void read_object(Parser *p, uint16_t type, const Attrs *a) {
        NftImage *img = p->img;
        NftImageText *o;
        const char *name;
        size_t len;
        uint32_t start, v = 0;
        unsigned name_attr = type == NFT_MSG_NEWOBJ ? NFTA_OBJ_NAME : NFTA_FLOWTABLE_NAME;

        if (!get_str(a->tb[name_attr], &name, &len) ||
            (type == NFT_MSG_NEWOBJ && !get_u32(a->tb[NFTA_OBJ_TYPE], &v))) {
                p->bad = true;
                return;
        }
        o = grow(p, (void **) &img->objects, img->n_objects, &p->objects_alloc, sizeof(*o));
        if (!o)
                return;
        start = mark(p);
        if (type == NFT_MSG_NEWOBJ)
                putf(p, "object (type %u) ", v);
        else
                PUT_LIT(p, "flowtable ");
        put_escaped(p, name, len);
        *o = since(p, start);
        if (!p->error)
                img->n_objects++;
}

static int chain_name_cmp(const void *a, const void *b, void *userdata) {
        return text_cmp(userdata, ((const NftImageChain *) a)->name, ((const NftImageChain *) b)->name);
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
        NftImageRule *r;
        const struct nlattr *e;
        const char *chain;
        size_t len;
        uint32_t start;
        bool first = true;

        if (!get_str(a->tb[NFTA_RULE_CHAIN], &chain, &len)) {
                p->bad = true;
                return;
        }
        c = nft_image_find_chain(img, chain, len);
        if (!c) {
                p->bad = true; /* a rule in no chain we know */
                return;
        }
        r = grow(p, (void **) &img->rules, img->n_rules, &p->rules_alloc, sizeof(*r));
        if (!r)
                return;
        *r = (NftImageRule) { .chain = (uint32_t) (c - img->chains), .seq = nlh->nlmsg_seq };
        if (a->tb[NFTA_RULE_HANDLE] && !get_u64(a->tb[NFTA_RULE_HANDLE], &r->handle))
                p->bad = true;

        start = mark(p);
        if (a->tb[NFTA_RULE_EXPRESSIONS])
                mnl_attr_for_each_nested(e, a->tb[NFTA_RULE_EXPRESSIONS]) {
                        if (mnl_attr_get_type(e) != NFTA_LIST_ELEM) {
                                p->bad = true;
                                break;
                        }
                        if (!first)
                                PUT_LIT(p, " ");
                        first = false;
                        put_expr(p, e, 0);
                        if (p->bad || p->error)
                                break;
                }
        if (a->tb[NFTA_RULE_COMPAT]) {
                PUT_LIT(p, " compat=");
                put_raw(p, a->tb[NFTA_RULE_COMPAT]);
        }
        if (a->tb[NFTA_RULE_USERDATA])
                put_udata(p, a->tb[NFTA_RULE_USERDATA], true, &r->comment);
        /* CHAIN_ID names the chain of a batch that also creates it: we know it by name only */
        if (a->tb[NFTA_RULE_CHAIN_ID])
                p->bad = true;
        put_unknown(p, a, NFTA_RULE_CHAIN_ID);
        r->text = since(p, start);
        if (!p->bad && !p->error)
                img->n_rules++;
}

/* ---- the passes ---------------------------------------------------------------------------- */

typedef enum Pass {
        PASS_OBJECTS,                   /* the table, chains, sets, objects and flowtables */
        PASS_ELEMENTS,                  /* set elements: their sets are known */
        PASS_RULES,                     /* rules: their chains and (sorted) sets are known */
} Pass;

/* Which message types a pass reads, and where the table's name is (always attribute 1). */
static bool pass_reads(Pass pass, uint16_t type) {
        switch (type) {
        case NFT_MSG_NEWTABLE:
        case NFT_MSG_NEWCHAIN:
        case NFT_MSG_NEWSET:
        case NFT_MSG_NEWOBJ:
        case NFT_MSG_NEWFLOWTABLE:
                return pass == PASS_OBJECTS;
        case NFT_MSG_NEWSETELEM:
                return pass == PASS_ELEMENTS;
        case NFT_MSG_NEWRULE:
                return pass == PASS_RULES;
        default:
                return false;
        }
}

static void read_message(Parser *p, Pass pass, const struct nlmsghdr *nlh) {
        NftImage *img = p->img;
        const struct nfgenmsg *nfg;
        uint16_t type;
        uint32_t start;
        Attrs a;

        if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_NFTABLES)
                return;
        type = NFNL_MSG_TYPE(nlh->nlmsg_type);
        if (!pass_reads(pass, type))
                return;
        if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*nfg)) {
                img->n_malformed++;
                return;
        }
        nfg = mnl_nlmsg_get_payload(nlh);
        if (nfg->nfgen_family != NFPROTO_INET)
                return;
        if (!attrs_parse((const char *) nfg + MNL_ALIGN(sizeof(*nfg)),
                         mnl_nlmsg_get_payload_len(nlh) - MNL_ALIGN(sizeof(*nfg)), &a)) {
                /* we cannot tell whose it is: count it, to be safe */
                img->n_malformed++;
                return;
        }
        if (!attr_is_str(a.tb[1], p->table))
                return;

        start = mark(p);
        p->bad = false;
        switch (type) {
        case NFT_MSG_NEWTABLE:
                read_table(p, &a);
                break;
        case NFT_MSG_NEWCHAIN:
                read_chain(p, &a);
                break;
        case NFT_MSG_NEWSET:
                read_set(p, &a);
                break;
        case NFT_MSG_NEWSETELEM:
                read_elems(p, &a);
                break;
        case NFT_MSG_NEWRULE:
                read_rule(p, nlh, &a);
                break;
        case NFT_MSG_NEWOBJ:
        case NFT_MSG_NEWFLOWTABLE:
                read_object(p, type, &a);
                break;
        }
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
        return text_cmp(userdata, x->text, y->text);
}

/* After the first pass: chains by name, one of each (a second of the same name is malformed). */
static void index_chains(Parser *p) {
        NftImage *img = p->img;
        size_t n = 0;

        qsort_r(img->chains, img->n_chains, sizeof(*img->chains), chain_name_cmp, img);
        for (size_t i = 0; i < img->n_chains; i++) {
                if (n > 0 && text_cmp(img, img->chains[n - 1].name, img->chains[i].name) == 0) {
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
        qsort_r(img->sets_by_name, img->n_sets, sizeof(uint32_t), set_name_cmp, img);
        qsort_r(p->sets_by_id, p->n_sets_by_id, sizeof(uint32_t), set_id_cmp, img);
        return 0;
}

/* After the second pass: each set's elements together, sorted. */
static void index_elems(Parser *p) {
        NftImage *img = p->img;

        qsort_r(img->elems, img->n_elems, sizeof(*img->elems), elem_cmp, img);
        for (size_t i = 0; i < img->n_elems; i++) {
                NftImageSet *s = &img->sets[img->elems[i].set];

                if (s->n_elems == 0)
                        s->first_elem = i;
                s->n_elems++;
        }
}

/* After the third pass: the rules of each chain together, each chain's in message order. */
static int index_rules(Parser *p) {
        NftImage *img = p->img;
        _cleanup_(freep) NftImageRule *sorted = NULL;
        size_t at = 0;

        sorted = malloc((img->n_rules ?: 1) * sizeof(*sorted));
        if (!sorted)
                return -ENOMEM;
        for (size_t i = 0; i < img->n_rules; i++)
                img->chains[img->rules[i].chain].n_rules++;
        for (size_t c = 0; c < img->n_chains; c++) {
                img->chains[c].first_rule = at;
                at += img->chains[c].n_rules;
                img->chains[c].n_rules = 0;
        }
        for (size_t i = 0; i < img->n_rules; i++) {
                NftImageChain *c = &img->chains[img->rules[i].chain];

                sorted[c->first_rule + c->n_rules++] = img->rules[i];
        }
        free(img->rules);
        img->rules = TAKE_PTR(sorted);
        p->rules_alloc = img->n_rules;
        return 0;
}

int nft_image_parse(const void *buf, size_t len, const char *table, NftImage **ret) {
        _cleanup_(nft_image_freep) NftImage *img = NULL;
        Parser p = { .table = table };
        uint64_t max;
        int r;

        if ((!buf && len > 0) || !table || !ret)
                return -EINVAL;
        if (len > INT_MAX)
                return -E2BIG;
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
                r = index_rules(&p);
        free(p.sets_by_id);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(img);
        return 0;
}

NftImage *nft_image_free(NftImage *img) {
        if (!img)
                return NULL;
        free(img->chains);
        free(img->rules);
        free(img->sets);
        free(img->sets_by_name);
        free(img->elems);
        free(img->objects);
        free(img->text);
        free(img);
        return NULL;
}
