/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * image-render.c — image.c's canonical text: attributes read without trusting them, and what
 * each expression, verdict and value renders to (what is left out, and why: see image.c).
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image-internal.h"
#include "string-util.h"

/* ---- attributes ---------------------------------------------------------------------------- */

bool img_attrs_parse(const void *data, size_t len, Attrs *a) {
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

bool img_attrs_nested(const struct nlattr *attr, Attrs *a) {
        return img_attrs_parse(mnl_attr_get_payload(attr), mnl_attr_get_payload_len(attr), a);
}

bool img_get_u32(const struct nlattr *a, uint32_t *ret) {
        if (!a || mnl_attr_get_payload_len(a) != sizeof(uint32_t))
                return false;
        *ret = ntohl(mnl_attr_get_u32(a));
        return true;
}

bool img_get_u64(const struct nlattr *a, uint64_t *ret) {
        uint64_t v;

        if (!a || mnl_attr_get_payload_len(a) != sizeof(uint64_t))
                return false;
        memcpy(&v, mnl_attr_get_payload(a), sizeof(v));
        *ret = be64toh(v);
        return true;
}

/* A NUL-terminated string without a NUL inside: names. */
bool img_get_str(const struct nlattr *a, const char **ret, size_t *ret_len) {
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

bool img_attr_is_str(const struct nlattr *a, const char *s) {
        const char *v;

        return img_get_str(a, &v, NULL) && streq(v, s);
}

/* What an optional attribute's img_get_*() said: whether it is there and good. One that is
 * there and not good makes the message malformed (p->bad), not one without it. */
static bool optional(Parser *p, const struct nlattr *a, bool good) {
        if (a && !good)
                p->bad = true;
        return a && good;
}

bool img_opt_u32(Parser *p, const struct nlattr *a, uint32_t *ret) {
        return optional(p, a, img_get_u32(a, ret));
}

bool img_opt_u64(Parser *p, const struct nlattr *a, uint64_t *ret) {
        return optional(p, a, img_get_u64(a, ret));
}

bool img_opt_str(Parser *p, const struct nlattr *a, const char **ret, size_t *ret_len) {
        return optional(p, a, img_get_str(a, ret, ret_len));
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

/* Room for @n pieces of @each bytes at the end of the text: where to write them; NULL when
 * there is nothing to write, or no room (p->error). */
static char *room(Parser *p, size_t n, size_t each) {
        if (n == 0 || n > SIZE_MAX / each || !reserve(p, n * each))
                return NULL;
        return p->img->text + p->img->text_len;
}

void img_put(Parser *p, const void *data, size_t n) {
        char *o = room(p, n, 1);

        if (!o)
                return;
        memcpy(o, data, n);
        p->img->text_len += n;
}

static void puts_(Parser *p, const char *s) {
        img_put(p, s, strlen(s));
}


/* Numbers are most of the text: no printf for them. */
static void put_uint(Parser *p, uint64_t v) {
        char buf[DECIMAL_U64_MAX];
        size_t n = decimal_u64(v, buf);

        img_put(p, buf, n);
}

_printf_(2, 3) void img_putf(Parser *p, const char *fmt, ...) {
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
        img_put(p, buf, (size_t) n);
}

/* A byte as two hex digits at @o; returns where the next goes. */
static char *hex_byte(char *o, uint8_t b) {
        static const char digits[] = "0123456789abcdef";

        o[0] = digits[b >> 4];
        o[1] = digits[b & 15];
        return o + 2;
}

static void put_hex(Parser *p, const void *data, size_t n) {
        const uint8_t *b = data;
        char *o = room(p, n, 2);

        if (!o)
                return;
        for (size_t i = 0; i < n; i++)
                o = hex_byte(o, b[i]);
        p->img->text_len += 2 * n;
}

/* Printable ASCII as it is, but for the quote and the backslash; every other byte \xNN: one
 * text for one byte sequence, and safe in a log line. */
void img_put_escaped(Parser *p, const void *data, size_t n) {
        const uint8_t *b = data;
        char *o = room(p, n, 4);

        if (!o)
                return;
        for (size_t i = 0; i < n; i++) {
                if (b[i] >= 0x20 && b[i] < 0x7f && b[i] != '"' && b[i] != '\\')
                        *o++ = (char) b[i];
                else {
                        *o++ = '\\';
                        *o++ = 'x';
                        o = hex_byte(o, b[i]);
                }
        }
        p->img->text_len = (size_t) (o - p->img->text);
}

/* Another piece of the image's own text, appended (the buffer may move: copy by offset). */
static void put_text(Parser *p, NftImageText t) {
        char *o = room(p, t.len, 1);

        if (!o)
                return;
        memcpy(o, p->img->text + t.off, t.len);
        p->img->text_len += t.len;
}

uint32_t img_mark(Parser *p) {
        return (uint32_t) p->img->text_len;
}

NftImageText img_since(Parser *p, uint32_t start) {
        return (NftImageText) { .off = start, .len = (uint32_t) (p->img->text_len - start) };
}

int img_text_cmp(const NftImage *img, NftImageText a, NftImageText b) {
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

void img_put_policy(Parser *p, uint32_t v) {
        put_u32_named(p, v, &(AttrSpec) { NAMES(policies) });
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
                img_putf(p, "%u?", v); /* no register: the kernel would refuse it */
                return;
        }
        put_uint(p, unit % 4 == 0 ? unit / 4 : unit - 4 + NFT_REG32_00);
}

static void put_verdict(Parser *p, const struct nlattr *attr) {
        static const char *const codes[] = { [0] = "drop", [1] = "accept", [2] = "stolen", [3] = "queue" };
        uint32_t code, id;
        Attrs a;

        if (!img_attrs_nested(attr, &a) || !img_get_u32(a.tb[NFTA_VERDICT_CODE], &code)) {
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
                        img_putf(p, "verdict%d", (int32_t) code);
        }
        img_put_str_attr(p, ":", a.tb[NFTA_VERDICT_CHAIN]);
        if (img_opt_u32(p, a.tb[NFTA_VERDICT_CHAIN_ID], &id))
                img_putf(p, ":#%u", id);
        for (size_t t = NFTA_VERDICT_CHAIN_ID + 1; t < ATTR_MAX; t++)
                if (a.tb[t])
                        p->bad = true;
}

void img_put_data(Parser *p, const struct nlattr *attr) {
        Attrs a;

        if (!img_attrs_nested(attr, &a) || (!a.tb[NFTA_DATA_VALUE] && !a.tb[NFTA_DATA_VERDICT])) {
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

void img_put_raw(Parser *p, const struct nlattr *attr) {
        put_hex(p, mnl_attr_get_payload(attr), mnl_attr_get_payload_len(attr));
}

void img_put_raw_attr(Parser *p, const char *label, const struct nlattr *attr) {
        if (!attr)
                return;
        puts_(p, label);
        img_put_raw(p, attr);
}

void img_put_str_attr(Parser *p, const char *label, const struct nlattr *attr) {
        const char *s;
        size_t len;

        if (!img_opt_str(p, attr, &s, &len))
                return;
        puts_(p, label);
        img_put_escaped(p, s, len);
}

/* ---- sets ---------------------------------------------------------------------------------- */

int img_set_id_cmp(const void *a, const void *b, void *userdata) {
        const NftImage *img = userdata;
        uint32_t x = img->sets[*(const uint32_t *) a].id, y = img->sets[*(const uint32_t *) b].id;

        return (x > y) - (x < y);
}

int img_set_name_cmp(const void *a, const void *b, void *userdata) {
        const NftImage *img = userdata;
        const NftImageSet *x = &img->sets[*(const uint32_t *) a], *y = &img->sets[*(const uint32_t *) b];
        int c = img_text_cmp(img, x->name, y->name);

        return c != 0 ? c : (x->id > y->id) - (x->id < y->id);
}

/* The set a lookup or an element message names: by id when it has one (a batch's new sets,
 * the anonymous ones all named "__set%d"), else by name. */
const NftImageSet *img_find_set(Parser *p, const char *name, size_t len, uint32_t id) {
        const NftImage *img = p->img;
        size_t lo = 0, hi;

        /* the sets are indexed after the first pass: a set's own expressions, read in it, name
         * none that can be known yet (the kernel takes only stateful expressions there) */
        if (!img->sets_by_name)
                return NULL;
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
                        while (mid > 0 && img_text_cmp(img, img->sets[img->sets_by_name[mid - 1]].name, t) == 0)
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

bool img_put_list_expr(Parser *p, const struct nlattr *e, unsigned depth, bool *first) {
        if (mnl_attr_get_type(e) != NFTA_LIST_ELEM) {
                p->bad = true;
                return false;
        }
        if (!*first)
                PUT_LIT(p, " ");
        *first = false;
        img_put_expr(p, e, depth);
        return true;
}

/* NFTA_*_EXPR (one expression) or NFTA_*_EXPRESSIONS (a list): both "[e1 e2]". */
void img_put_exprs(Parser *p, const struct nlattr *one, const struct nlattr *list, unsigned depth) {
        const struct nlattr *e;
        bool first = true;

        if (one && list) {
                p->bad = true;
                return;
        }
        PUT_LIT(p, "[");
        if (one)
                img_put_expr(p, one, depth);
        if (list)
                mnl_attr_for_each_nested(e, list)
                        if (!img_put_list_expr(p, e, depth, &first))
                                return;
        PUT_LIT(p, "]");
}

/* ---- expressions --------------------------------------------------------------------------- */

static void put_set_ref(Parser *p, const Attrs *a) {
        const char *name = NULL;
        size_t len = 0;
        uint32_t id = 0;
        const NftImageSet *s;

        if ((a->tb[NFTA_LOOKUP_SET] && !img_get_str(a->tb[NFTA_LOOKUP_SET], &name, &len)) ||
            (a->tb[NFTA_LOOKUP_SET_ID] && !img_get_u32(a->tb[NFTA_LOOKUP_SET_ID], &id)) || (!name && id == 0)) {
                p->bad = true;
                return;
        }
        s = img_find_set(p, name, len, id);
        if (!s) {
                PUT_LIT(p, "?");
                if (name)
                        img_put_escaped(p, name, len);
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
void img_put_expr(Parser *p, const struct nlattr *attr, unsigned depth) {
        const ExprSpec *spec = NULL;
        const char *name;
        uint32_t v;
        bool first = true;
        Attrs e, a = {};

        if (depth >= DEPTH_MAX || !img_attrs_nested(attr, &e) || !img_get_str(e.tb[NFTA_EXPR_NAME], &name, NULL) ||
            (e.tb[NFTA_EXPR_DATA] && !img_attrs_nested(e.tb[NFTA_EXPR_DATA], &a))) {
                p->bad = true;
                return;
        }
        for (size_t t = NFTA_EXPR_DATA + 1; t < ATTR_MAX; t++)
                if (e.tb[t])
                        p->bad = true;
        for (size_t i = 0; !spec && i < ELEMENTSOF(expr_specs); i++)
                if (expr_specs[i].name[0] == name[0] && streq(expr_specs[i].name, name))
                        spec = &expr_specs[i];

        img_put_escaped(p, name, strlen(name));
        /* the attributes there are, in type order */
        for (uint32_t left = a.present & ~UINT32_C(1); left && !p->error; left &= left - 1) {
                size_t t = (size_t) __builtin_ctz(left);
                const AttrSpec *s = spec && t < spec->n_attrs && spec->attrs[t].name ? &spec->attrs[t] : NULL;
                AttrKind kind = s ? s->kind : K_RAW;

                if (kind == K_SKIP || kind == K_SET_ID)
                        continue;
                if (kind == K_SKIP_ZERO) {
                        if (!img_get_u32(a.tb[t], &v)) {
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
                        if (img_get_u32(a.tb[t], &v))
                                put_u32_named(p, v, s);
                        else
                                p->bad = true;
                        break;
                case K_REG:
                        if (img_get_u32(a.tb[t], &v))
                                put_reg(p, v);
                        else
                                p->bad = true;
                        break;
                case K_U8:
                        if (mnl_attr_get_payload_len(a.tb[t]) == 1)
                                img_putf(p, "%u", mnl_attr_get_u8(a.tb[t]));
                        else
                                p->bad = true;
                        break;
                case K_DATA:
                        img_put_data(p, a.tb[t]);
                        break;
                case K_SET:
                        put_set_ref(p, &a);
                        break;
                case K_RAW:
                        img_put_raw(p, a.tb[t]);
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
void img_put_udata(Parser *p, const struct nlattr *attr, bool comments, NftImageText *ret_comment) {
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
                        start = img_mark(p);
                        img_put_escaped(p, d + off + 2, len - 1u);
                        if (ret_comment)
                                *ret_comment = img_since(p, start);
                        PUT_LIT(p, "\"");
                } else {
                        img_putf(p, " udata%u=", type);
                        put_hex(p, d + off + 2, len);
                }
                off += 2u + len;
        }
}
