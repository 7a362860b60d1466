/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * compile-rule.c — one filter's rule: its conditions as match expressions (consecutive
 * conditions on one field, which WFP ORs, as one anonymous-set lookup), ICMP's type and code,
 * a counter, and the verdict that encodes WFP arbitration (the table in compile.c). Also the
 * checks of a rule against the kernel's limits and the text of a rule for the tests.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "batch.h"
#include "budget.h"
#include "compile.h"
#include "compile-internal.h"
#include "keymap.h"
#include "macro.h"
#include "text.h"

/* ---- expression helpers ------------------------------------------------------------------ */

/* value + 1, big-endian; false when it wrapped around */
static bool step_be(uint8_t *v, uint32_t len) {
        for (uint32_t i = len; i-- > 0;)
                if (++v[i] != 0)
                        return true;
        return false;
}

/* Appends expression @name with its @n attributes to @r. */
int put_expr(struct nftnl_rule *r, const char *name, const ExprAttr *attrs, size_t n) {
        struct nftnl_expr *e = nftnl_expr_alloc(name);

        if (!e)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                switch (attrs[i].kind) {
                case EXPR_ATTR_U32:
                        nftnl_expr_set_u32(e, attrs[i].type, attrs[i].u32);
                        break;
                case EXPR_ATTR_STR:
                        if (attrs[i].data)
                                nftnl_expr_set_str(e, attrs[i].type, attrs[i].data);
                        break;
                case EXPR_ATTR_DATA:
                        nftnl_expr_set(e, attrs[i].type, attrs[i].data, attrs[i].len);
                        break;
                }
        nftnl_rule_add_expr(r, e);
        return 0;
}

/* The loads: a key of the packet, its conntrack entry, its socket or its route into a register. */
static int put_meta_to(struct nftnl_rule *r, uint32_t key, uint32_t dreg) {
        return PUT_EXPR(r, "meta", EXPR_U32(NFTNL_EXPR_META_KEY, key), EXPR_U32(NFTNL_EXPR_META_DREG, dreg));
}

static int put_meta(struct nftnl_rule *r, uint32_t key) {
        return put_meta_to(r, key, NFT_REG_1);
}

static int put_ct(struct nftnl_rule *r, uint32_t key) {
        return PUT_EXPR(r, "ct", EXPR_U32(NFTNL_EXPR_CT_KEY, key), EXPR_U32(NFTNL_EXPR_CT_DREG, NFT_REG_1));
}

static int put_socket(struct nftnl_rule *r, uint32_t key) {
        return PUT_EXPR(r, "socket", EXPR_U32(NFTNL_EXPR_SOCKET_KEY, key),
                        EXPR_U32(NFTNL_EXPR_SOCKET_DREG, NFT_REG_1));
}

static int put_rt(struct nftnl_rule *r, uint32_t key) {
        return PUT_EXPR(r, "rt", EXPR_U32(NFTNL_EXPR_RT_KEY, key), EXPR_U32(NFTNL_EXPR_RT_DREG, NFT_REG_1));
}

int put_payload_to(struct nftnl_rule *r, uint32_t base, uint32_t offset, uint32_t len, uint32_t dreg) {
        return PUT_EXPR(r, "payload", EXPR_U32(NFTNL_EXPR_PAYLOAD_DREG, dreg),
                        EXPR_U32(NFTNL_EXPR_PAYLOAD_BASE, base), EXPR_U32(NFTNL_EXPR_PAYLOAD_OFFSET, offset),
                        EXPR_U32(NFTNL_EXPR_PAYLOAD_LEN, len));
}

/* The matches, on register 1. */
int put_cmp(struct nftnl_rule *r, uint32_t op, const void *data, uint32_t len) {
        return PUT_EXPR(r, "cmp", EXPR_U32(NFTNL_EXPR_CMP_SREG, NFT_REG_1), EXPR_U32(NFTNL_EXPR_CMP_OP, op),
                        EXPR_DATA(NFTNL_EXPR_CMP_DATA, data, len));
}

int put_meta_cmp(struct nftnl_rule *r, uint32_t key, uint32_t op, const void *data, uint32_t len) {
        int k = put_meta(r, key);

        return k < 0 ? k : put_cmp(r, op, data, len);
}

static int put_range_neq(struct nftnl_rule *r, const void *from, const void *to, uint32_t len) {
        return PUT_EXPR(r, "range", EXPR_U32(NFTNL_EXPR_RANGE_SREG, NFT_REG_1),
                        EXPR_U32(NFTNL_EXPR_RANGE_OP, NFT_RANGE_NEQ), EXPR_DATA(NFTNL_EXPR_RANGE_FROM_DATA, from, len),
                        EXPR_DATA(NFTNL_EXPR_RANGE_TO_DATA, to, len));
}

int put_bitwise_and_at(struct nftnl_rule *r, uint32_t reg, const void *mask, uint32_t len) {
        static const uint8_t xor[16] = {};

        return PUT_EXPR(r, "bitwise", EXPR_U32(NFTNL_EXPR_BITWISE_SREG, reg), EXPR_U32(NFTNL_EXPR_BITWISE_DREG, reg),
                        EXPR_U32(NFTNL_EXPR_BITWISE_LEN, len), EXPR_DATA(NFTNL_EXPR_BITWISE_MASK, mask, len),
                        EXPR_DATA(NFTNL_EXPR_BITWISE_XOR, xor, len));
}

static int put_bitwise_and(struct nftnl_rule *r, const void *mask, uint32_t len) {
        return put_bitwise_and_at(r, NFT_REG_1, mask, len);
}

int put_lookup(struct nftnl_rule *r, const char *set, uint32_t set_id) {
        return PUT_EXPR(r, "lookup", EXPR_U32(NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1),
                        EXPR_STR(NFTNL_EXPR_LOOKUP_SET, set), EXPR_U32(NFTNL_EXPR_LOOKUP_SET_ID, set_id));
}

/* "not in" the anonymous set @set_id */
static int put_lookup_inv(struct nftnl_rule *r, uint32_t set_id) {
        return PUT_EXPR(r, "lookup", EXPR_U32(NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1),
                        EXPR_STR(NFTNL_EXPR_LOOKUP_SET, "__set%d"), EXPR_U32(NFTNL_EXPR_LOOKUP_SET_ID, set_id),
                        EXPR_U32(NFTNL_EXPR_LOOKUP_FLAGS, NFT_LOOKUP_F_INV));
}

static int put_counter(struct nftnl_rule *r) {
        return put_expr(r, "counter", NULL, 0);
}

/* @chain: where a jump or goto goes; NULL for the other verdicts. */
int put_verdict(struct nftnl_rule *r, int verdict, const char *chain) {
        return PUT_EXPR(r, "immediate", EXPR_U32(NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT),
                        EXPR_U32(NFTNL_EXPR_IMM_VERDICT, (uint32_t) verdict), EXPR_STR(NFTNL_EXPR_IMM_CHAIN, chain));
}

int put_nfproto(struct nftnl_rule *r, int family) {
        uint8_t v = family == 4 ? NFPROTO_IPV4 : NFPROTO_IPV6;

        return put_meta_cmp(r, NFT_META_NFPROTO, NFT_CMP_EQ, &v, sizeof(v));
}

int put_ct_state_new(struct nftnl_rule *r) {
        uint32_t mask = NF_CT_STATE_BIT(IP_CT_NEW), zero = 0;
        int k;

        k = put_ct(r, NFT_CT_STATE);
        if (k >= 0)
                k = put_bitwise_and(r, &mask, sizeof(mask));
        if (k >= 0)
                k = put_cmp(r, NFT_CMP_NEQ, &zero, sizeof(zero));
        return k;
}

/* Every comment goes through nft_comment_sanitize(): it is listed by nft and may be read back. */
int set_comment(struct nftnl_rule *r, const char *text) {
        struct nftnl_udata_buf *u = nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN);
        char comment[NFT_COMMENT_MAX + 1];

        if (!u)
                return -ENOMEM;
        nft_comment_sanitize(text, comment);
        if (!nftnl_udata_put_strz(u, NFTNL_UDATA_RULE_COMMENT, comment)) {
                nftnl_udata_buf_free(u);
                return -ENOMEM;
        }
        nftnl_rule_set_data(r, NFTNL_RULE_USERDATA, nftnl_udata_buf_data(u), nftnl_udata_buf_len(u));
        nftnl_udata_buf_free(u);
        return 0;
}

/* A rule of the table in @chain, to add expressions to, or to name one that is there. */
struct nftnl_rule *new_rule(const NftConfig *c, const char *chain) {
        struct nftnl_rule *r = nftnl_rule_alloc();

        if (!r)
                return NULL;
        nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
        nftnl_rule_set_str(r, NFTNL_RULE_TABLE, c->table);
        nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
        return r;
}

/* ---- conditions -------------------------------------------------------------------------- */

/* Load a condition's field into register 1 (or rb->dreg); returns its length and the set key type. */
int load_field(RuleBuild *rb, const Condition *c, uint32_t *ret_len, uint32_t *ret_type) {
        WfpLayer layer = rb->filter->layer;
        bool inbound = filter_is_inbound(rb->filter);
        int family = wfp_layer_info(layer)->family;
        uint32_t dreg = rb->dreg ?: NFT_REG_1;

        switch (c->field) {
        case WFP_FIELD_IP_PROTOCOL:
                *ret_len = 1;
                *ret_type = NFT_TYPE_INET_PROTOCOL;
                return put_meta_to(rb->rule, NFT_META_L4PROTO, dreg);
        case WFP_FIELD_IP_LOCAL_PORT:
        case WFP_FIELD_IP_REMOTE_PORT: {
                /* local = destination on the way in, source on the way out */
                bool source = (c->field == WFP_FIELD_IP_LOCAL_PORT) != inbound;
                *ret_len = 2;
                *ret_type = NFT_TYPE_INET_SERVICE;
                return put_payload_to(rb->rule, NFT_PAYLOAD_TRANSPORT_HEADER, source ? 0 : 2, 2, dreg);
        }
        case WFP_FIELD_IP_LOCAL_ADDRESS:
        case WFP_FIELD_IP_REMOTE_ADDRESS:
        case WFP_FIELD_IP_SOURCE_ADDRESS:
        case WFP_FIELD_IP_DESTINATION_ADDRESS: {
                bool source = c->field == WFP_FIELD_IP_SOURCE_ADDRESS ||
                              (c->field == WFP_FIELD_IP_LOCAL_ADDRESS && !inbound) ||
                              (c->field == WFP_FIELD_IP_REMOTE_ADDRESS && inbound);
                uint32_t off = family == 4 ? (source ? 12 : 16) : (source ? 8 : 24);
                *ret_len = family == 4 ? 4 : 16;
                *ret_type = family == 4 ? NFT_TYPE_IPADDR : NFT_TYPE_IP6ADDR;
                return put_payload_to(rb->rule, NFT_PAYLOAD_NETWORK_HEADER, off, *ret_len, dreg);
        }
        case WFP_FIELD_IP_LOCAL_INTERFACE:
        case WFP_FIELD_IP_FORWARD_INTERFACE: /* forward: the arrival interface, and the one it leaves by */
                *ret_len = CONDITION_VALUE_MAX;
                *ret_type = NFT_TYPE_IFNAME;
                return put_meta_to(rb->rule, inbound && c->field == WFP_FIELD_IP_LOCAL_INTERFACE ? NFT_META_IIFNAME
                                                                                               : NFT_META_OIFNAME,
                                   dreg);
        case WFP_FIELD_ALE_USER_ID:
                *ret_len = 4;
                *ret_type = NFT_TYPE_UID;
                return put_meta_to(rb->rule, NFT_META_SKUID, dreg);
        case WFP_FIELD_IP_LOCAL_ADDRESS_TYPE:
        case WFP_FIELD_IP_DESTINATION_ADDRESS_TYPE: /* (forward, so inbound: the destination's) */
                /* the local address's route type: the destination's inbound, the source's outbound */
                *ret_len = 4;
                *ret_type = NFT_TYPE_FIB_ADDR;
                return PUT_EXPR(rb->rule, "fib", EXPR_U32(NFTNL_EXPR_FIB_DREG, dreg),
                                EXPR_U32(NFTNL_EXPR_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE),
                                EXPR_U32(NFTNL_EXPR_FIB_FLAGS, inbound ? NFTA_FIB_F_DADDR : NFTA_FIB_F_SADDR));
        case WFP_FIELD_FLAGS:
        case WFP_FIELD_DIRECTION:
        case WFP_FIELD_BFED_LOCAL_SYSTEM:
        case WFP_FIELD_BFED_LOCALLY_INITIATED:
        case _WFP_FIELD_MAX:
                break;
        }
        return -EOPNOTSUPP;
}

static void prefix_mask(unsigned plen, uint32_t len, uint8_t mask[static CONDITION_VALUE_MAX]) {
        memset(mask, 0, CONDITION_VALUE_MAX);
        for (unsigned bit = 0; bit < plen && bit < len * 8; bit++)
                mask[bit / 8] |= (uint8_t) (0x80 >> (bit % 8));
}

/* IPsec: inbound, the packet came through a security association (it has a secpath);
 * outbound, its route transforms it (rt ipsec). */
static int put_ipsec(RuleBuild *rb, bool secured) {
        uint8_t v = secured;
        int k;

        if (filter_is_inbound(rb->filter))
                k = put_meta(rb->rule, NFT_META_SECPATH);
        else
                k = put_rt(rb->rule, NFT_RT_XFRM);
        return k < 0 ? k : put_cmp(rb->rule, NFT_CMP_EQ, &v, sizeof(v));
}


/*
 * FLAGS any-set with both flags: loopback or IPsec-secured. One lookup of a concatenation of
 * two registers: the secured bit (secpath or rt ipsec, one byte in a zeroed register), then the
 * interface type (ARPHRD, host order), in a set of concatenated ranges { secured . any type,
 * not secured . loopback }: the key is in it exactly when either flag is set.
 */
static int put_flags_any(RuleBuild *rb) {
        bool inbound = filter_is_inbound(rb->filter);
        static const uint8_t field_len[] = { 1, 2 };
        uint16_t loopback = 772; /* ARPHRD_LOOPBACK */
        uint8_t key[2][2][8] = {}; /* [element][key, key end] */
        struct nftnl_set *s;
        int k;

        k = inbound ? put_meta_to(rb->rule, NFT_META_SECPATH, NFT_REG32_00) : put_rt(rb->rule, NFT_RT_XFRM);
        if (k >= 0)
                k = put_meta_to(rb->rule, inbound ? NFT_META_IIFTYPE : NFT_META_OIFTYPE, NFT_REG32_01);
        if (k < 0)
                return k;
        memcpy(key[0][0] + 4, &loopback, sizeof(loopback));             /* not secured, loopback */
        memcpy(key[0][1], key[0][0], 8);
        key[1][0][0] = key[1][1][0] = 1;                                /* secured, any type */
        memset(key[1][1] + 4, 0xff, 2);
        k = new_set(rb->config, "__set%d", rb->batch ? rb->batch->set_id_next++ : (uint32_t) rb->n_sets + 1,
                    NFT_SET_ANONYMOUS | NFT_SET_CONSTANT | NFT_SET_INTERVAL | NFT_SET_CONCAT, 8,
                    NFT_TYPE_CONCAT(NFT_TYPE_BOOLEAN, NFT_TYPE_ARPHRD), &s);
        if (k < 0)
                return k;
        rb->sets[rb->n_sets++] = s;
        nftnl_set_set_data(s, NFTNL_SET_DESC_CONCAT, field_len, sizeof(field_len));
        for (size_t i = 0; i < 2; i++) {
                struct nftnl_set_elem *el = nftnl_set_elem_alloc();

                if (!el)
                        return -ENOMEM;
                nftnl_set_elem_set(el, NFTNL_SET_ELEM_KEY, key[i][0], 8);
                nftnl_set_elem_set(el, NFTNL_SET_ELEM_KEY_END, key[i][1], 8);
                nftnl_set_elem_add(s, el);
        }
        return put_lookup(rb->rule, "__set%d", nftnl_set_get_u32(s, NFTNL_SET_ID));
}

/* FLAGS: every flag named must be set (all-set, any-set with one flag) or clear (none-set). */
static int put_flags(RuleBuild *rb, const Condition *c) {
        bool inbound = filter_is_inbound(rb->filter);
        int k = 0;

        if (c->match == WFP_MATCH_FLAGS_ANY_SET && (c->flags & (c->flags - 1)))
                return put_flags_any(rb);

        if (c->flags & WFP_CONDITION_FLAG_IS_LOOPBACK) {
                uint16_t loopback = 772; /* ARPHRD_LOOPBACK */
                k = put_meta_cmp(rb->rule, inbound ? NFT_META_IIFTYPE : NFT_META_OIFTYPE,
                                 c->negate ? NFT_CMP_NEQ : NFT_CMP_EQ, &loopback, sizeof(loopback));
        }
        if (k >= 0 && (c->flags & WFP_CONDITION_FLAG_IS_IPSEC_SECURED))
                k = put_ipsec(rb, !c->negate);
        return k;
}

/* bfed's own fields: how "local system" and "started by this host" look in nftables. */
static int put_internal(RuleBuild *rb, const Condition *c) {
        bool inbound = filter_is_inbound(rb->filter);
        int k;

        if (c->field == WFP_FIELD_BFED_LOCALLY_INITIATED) {
                uint8_t dir = inbound ? CT_DIR_REPLY : CT_DIR_ORIGINAL;

                k = put_ct(rb->rule, NFT_CT_DIRECTION);
                return k < 0 ? k : put_cmp(rb->rule, NFT_CMP_EQ, &dir, sizeof(dir));
        }

        /* WFP_FIELD_BFED_LOCAL_SYSTEM */
        if (!inbound) {
                uint32_t uid = rb->config->local_system_uid;

                return put_meta_cmp(rb->rule, NFT_META_SKUID, NFT_CMP_EQ, &uid, sizeof(uid));
        }
        /* At the input hook an unconnected UDP socket is not attached to the packet, so
         * skuid never matches: require that a (non-transparent) local socket exists, and
         * the keying service's mark when one is configured. */
        uint8_t zero = 0;
        k = put_socket(rb->rule, NFT_SOCKET_TRANSPARENT);
        if (k >= 0)
                k = put_cmp(rb->rule, NFT_CMP_EQ, &zero, sizeof(zero));
        if (k >= 0 && rb->config->has_socket_mark) {
                uint32_t mark = rb->config->socket_mark;
                k = put_socket(rb->rule, NFT_SOCKET_MARK);
                if (k >= 0)
                        k = put_cmp(rb->rule, NFT_CMP_EQ, &mark, sizeof(mark));
        }
        return k;
}

int new_set(const NftConfig *c, const char *name, uint32_t id, uint32_t flags, uint32_t key_len,
                   uint32_t key_type, struct nftnl_set **ret) {
        struct nftnl_set *s = nftnl_set_alloc();

        if (!s)
                return -ENOMEM;
        nftnl_set_set_str(s, NFTNL_SET_TABLE, c->table);
        nftnl_set_set_str(s, NFTNL_SET_NAME, name);
        nftnl_set_set_u32(s, NFTNL_SET_ID, id);
        nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
        nftnl_set_set_u32(s, NFTNL_SET_FLAGS, flags);
        nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, key_len);
        nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, key_type);

        /* nft reads the key's byte order from the set's userdata to print elements */
        struct nftnl_udata_buf *u = nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN);
        bool host = key_type == NFT_TYPE_IFNAME || key_type == NFT_TYPE_UID || key_type == NFT_TYPE_FIB_ADDR;
        if (!u || !nftnl_udata_put_u32(u, NFTNL_UDATA_SET_KEYBYTEORDER, host ? 1 : 2)) {
                nftnl_udata_buf_free(u);
                nftnl_set_free(s);
                return -ENOMEM;
        }
        nftnl_set_set_data(s, NFTNL_SET_USERDATA, nftnl_udata_buf_data(u), nftnl_udata_buf_len(u));
        nftnl_udata_buf_free(u);
        *ret = s;
        return 0;
}

static int new_anon_set(RuleBuild *rb, uint32_t key_len, uint32_t key_type, bool intervals, struct nftnl_set **ret) {
        uint32_t id = rb->batch ? rb->batch->set_id_next++ : (uint32_t) rb->n_sets + 1;

        return new_set(rb->config, "__set%d", id,
                       NFT_SET_ANONYMOUS | NFT_SET_CONSTANT | (intervals ? NFT_SET_INTERVAL : 0), key_len, key_type, ret);
}

static int compare_lo(const void *a, const void *b) {
        const Condition *x = *(const Condition *const *) a, *y = *(const Condition *const *) b;

        return memcmp(x->lo, y->lo, x->len);
}

static int add_element(struct nftnl_set *s, const uint8_t *key, uint32_t len, bool end) {
        struct nftnl_set_elem *el = nftnl_set_elem_alloc();

        if (!el)
                return -ENOMEM;
        nftnl_set_elem_set(el, NFTNL_SET_ELEM_KEY, key, len);
        if (end)
                nftnl_set_elem_set_u32(el, NFTNL_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
        nftnl_set_elem_add(s, el);
        return 0;
}

/* Elements of an interval set, as the kernel's rbtree wants them: sorted, merged, each
 * interval a start and an end one past it, and an end at 0 when the first does not start there. */
static int add_intervals(struct nftnl_set *s, const Condition *c, size_t n) {
        _cleanup_(freep) const Condition **sorted = calloc(n, sizeof(*sorted));
        uint8_t lo[CONDITION_VALUE_MAX], hi[CONDITION_VALUE_MAX], zero[CONDITION_VALUE_MAX] = {};
        uint32_t len = c->len;
        int k = 0;

        if (!sorted)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                sorted[i] = &c[i];
        qsort(sorted, n, sizeof(*sorted), compare_lo);

        if (memcmp(sorted[0]->lo, zero, len) != 0)
                k = add_element(s, zero, len, true);
        memcpy(lo, sorted[0]->lo, len);
        memcpy(hi, sorted[0]->hi, len);
        for (size_t i = 1; k >= 0 && i <= n; i++) {
                uint8_t next[CONDITION_VALUE_MAX];
                bool wrapped;

                memcpy(next, hi, len);
                wrapped = !step_be(next, len);
                /* merge while the next interval starts at or before hi + 1 */
                if (i < n && (wrapped || memcmp(sorted[i]->lo, next, len) <= 0)) {
                        if (memcmp(sorted[i]->hi, hi, len) > 0)
                                memcpy(hi, sorted[i]->hi, len);
                        continue;
                }
                k = add_element(s, lo, len, false);
                if (k >= 0 && !wrapped)
                        k = add_element(s, next, len, true);
                if (i < n) {
                        memcpy(lo, sorted[i]->lo, len);
                        memcpy(hi, sorted[i]->hi, len);
                }
        }
        return k;
}

/*
 * The IKE ports with their protocol, as named constant sets of the table, made with it:
 * `ike_ports` { udp . 500, udp . 4500 } and `ike_port_500` { udp . 500 }. Every exemption rule
 * looks up the packet's `meta l4proto . th dport` (or sport) in one of them: one lookup where
 * `udp dport @ike_ports` takes a compare of the protocol more, and each expression of the 14
 * rules an MM policy add sends costs the kernel about 2 us (most of it finding the expression's
 * type by name: doc/benchmark.md, run R). A named set also spares that add 14 anonymous ones.
 * Any filter whose one protocol condition is UDP and whose one port group is exactly those
 * ports gets the same lookup (ike_fold()).
 */
#define IKE_PORTS_SET "ike_ports"
#define IKE_PORT_500_SET "ike_port_500"
static const uint16_t ike_ports[] = { 500, 4500 };

/* The set for the ORed port conditions @c[0..n): IKE_PORTS_SET, IKE_PORT_500_SET, or NULL. */
static const char *ike_ports_set(const Condition *c, size_t n) {
        bool seen[ELEMENTSOF(ike_ports)] = {};

        if (n == 0 || n > ELEMENTSOF(ike_ports) ||
            (c->field != WFP_FIELD_IP_LOCAL_PORT && c->field != WFP_FIELD_IP_REMOTE_PORT))
                return NULL;
        for (size_t i = 0; i < n; i++) {
                uint16_t port;
                size_t k;

                if (c[i].negate || !condition_is_single(&c[i]) || c[i].len != sizeof(port))
                        return NULL;
                port = (uint16_t) (c[i].lo[0] << 8 | c[i].lo[1]);
                for (k = 0; k < ELEMENTSOF(ike_ports) && ike_ports[k] != port; k++)
                        ;
                if (k == ELEMENTSOF(ike_ports) || seen[k])
                        return NULL;
                seen[k] = true;
        }
        return n == 2 ? IKE_PORTS_SET : seen[0] ? IKE_PORT_500_SET : NULL;
}

/* The index of @f's port group that takes its protocol condition into one lookup (the top of
 * this section), or -1: its protocol conditions are one, UDP, and its port conditions one group,
 * ORed, that ike_ports_set() names. */
static ssize_t ike_fold(const Filter *f) {
        ssize_t group = -1;
        size_t protocols = 0;

        for (size_t i = 0, j; i < f->n_conditions; i = j) {
                const Condition *c = &f->conditions[i];

                for (j = i + 1; j < f->n_conditions && f->conditions[j].field == c->field; j++)
                        ;
                if (c->field == WFP_FIELD_IP_PROTOCOL) {
                        if (j - i != 1 || c->negate || !condition_is_single(c) || c->lo[0] != IPPROTO_UDP)
                                return -1;
                        protocols++;
                } else if (c->field == WFP_FIELD_IP_LOCAL_PORT || c->field == WFP_FIELD_IP_REMOTE_PORT) {
                        if (group >= 0 || !ike_ports_set(c, j - i))
                                return -1;
                        group = (ssize_t) i;
                }
        }
        return protocols == 1 ? group : -1;
}

/* The folded group @c[0..n) (ike_fold()): protocol and port side by side, looked up. */
static int put_ike_lookup(RuleBuild *rb, const Condition *c, size_t n) {
        bool source = (c->field == WFP_FIELD_IP_LOCAL_PORT) != filter_is_inbound(rb->filter);
        int k;

        k = put_meta_to(rb->rule, NFT_META_L4PROTO, NFT_REG32_00);
        if (k >= 0)
                k = put_payload_to(rb->rule, NFT_PAYLOAD_TRANSPORT_HEADER, source ? 0 : 2, 2, NFT_REG32_01);
        return k < 0 ? k : put_lookup(rb->rule, ike_ports_set(c, n), 0);
}

static int emit_ike_set(const NftConfig *c, NftBatch *b, const char *name, size_t n_ports) {
        struct nftnl_set *s;
        int k;

        /* a hash (no NFT_SET_CONCAT: that is for intervals), as nft makes one for this key */
        k = new_set(c, name, b->set_id_next++, NFT_SET_CONSTANT, 8,
                    NFT_TYPE_CONCAT(NFT_TYPE_INET_PROTOCOL, NFT_TYPE_INET_SERVICE), &s);
        if (k < 0)
                return k;
        for (size_t i = 0; k >= 0 && i < n_ports; i++) {
                /* each field in 4 bytes of its own, as the registers hold them */
                uint8_t key[8] = { IPPROTO_UDP, 0, 0, 0, ike_ports[i] >> 8, ike_ports[i] & 0xff };

                k = add_element(s, key, sizeof(key), false);
        }
        if (k >= 0) {
                char what[NFT_SET_MAXNAMELEN + 8];

                snprintf(what, sizeof(what), "set %s", name);
                k = emit_set(b, s, what);
        }
        nftnl_set_free(s);
        return k;
}

/*
 * A terminating IPsec callout decides for its sublayer, as in WFP: a plain packet is dropped, a
 * secured one permitted as the filter's own permit would be (return: soft; accept with
 * CLEAR_ACTION_RIGHT: hard), and the filters after it in the sublayer do not see either. The
 * two decisions are named constant maps of the table, on the secured bit (secpath in, rt ipsec
 * out): `callout_soft` { 0 : drop, 1 : return }, `callout_hard` { 0 : drop, 1 : accept }. A
 * callout filter's rule, and a run of them (compile-layout.c), end in a lookup in one of them.
 */
#define CALLOUT_MAP_SOFT "callout_soft"
#define CALLOUT_MAP_HARD "callout_hard"

static int emit_callout_map(const NftConfig *c, NftBatch *b, const char *name, int secured_verdict) {
        int verdicts[2] = { NF_DROP, secured_verdict };
        struct nftnl_set *s;
        int k;

        k = new_set(c, name, b->set_id_next++, NFT_SET_CONSTANT | NFT_SET_MAP, 1, NFT_TYPE_BOOLEAN, &s);
        if (k < 0)
                return k;
        nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, NFT_DATA_VERDICT);
        /* the kernel keeps a verdict's size (struct nft_verdict) whatever is sent, and lists it:
         * send that, so the table compares equal to what bfed expects (verify.c) */
        nftnl_set_set_u32(s, NFTNL_SET_DATA_LEN, 16);
        for (uint8_t secured = 0; k >= 0 && secured < 2; secured++) {
                struct nftnl_set_elem *el = nftnl_set_elem_alloc();

                if (!el) {
                        k = -ENOMEM;
                        break;
                }
                nftnl_set_elem_set(el, NFTNL_SET_ELEM_KEY, &secured, sizeof(secured));
                nftnl_set_elem_set_u32(el, NFTNL_SET_ELEM_VERDICT, (uint32_t) verdicts[secured]);
                nftnl_set_elem_add(s, el);
        }
        if (k >= 0)
                k = emit_set(b, s, name);
        nftnl_set_free(s);
        return k;
}

int emit_ike_ports_set(const NftConfig *c, NftBatch *b) {
        int k;

        k = emit_ike_set(c, b, IKE_PORTS_SET, ELEMENTSOF(ike_ports));
        if (k >= 0)
                k = emit_ike_set(c, b, IKE_PORT_500_SET, 1);
        if (k >= 0)
                k = emit_callout_map(c, b, CALLOUT_MAP_SOFT, NFT_RETURN);
        if (k >= 0)
                k = emit_callout_map(c, b, CALLOUT_MAP_HARD, NF_ACCEPT);
        return k;
}

int put_callout_map_lookup(struct nftnl_rule *r, const Filter *f) {
        const char *map = f->flags & WFP_FILTER_FLAG_CLEAR_ACTION_RIGHT ? CALLOUT_MAP_HARD : CALLOUT_MAP_SOFT;
        int k;

        k = wfp_layer_is_inbound(f->layer) ? put_meta(r, NFT_META_SECPATH) : put_rt(r, NFT_RT_XFRM);
        if (k >= 0)
                k = PUT_EXPR(r, "lookup", EXPR_U32(NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1),
                             EXPR_U32(NFTNL_EXPR_LOOKUP_DREG, NFT_REG_VERDICT), EXPR_STR(NFTNL_EXPR_LOOKUP_SET, map));
        return k;
}

/* The values of @c (@n of them) in one anonymous set, an interval set when any is more than one
 * value, and a lookup of the loaded field in it ("not in" with @invert). */
static int put_values_lookup(RuleBuild *rb, const Condition *c, size_t n, uint32_t len, uint32_t type, bool invert) {
        bool intervals = false;
        struct nftnl_set *s;
        int k;

        for (size_t i = 0; i < n; i++)
                intervals = intervals || !condition_is_single(&c[i]);
        k = new_anon_set(rb, len, type, intervals, &s);
        if (k < 0)
                return k;
        rb->sets[rb->n_sets++] = s;
        if (intervals)
                k = add_intervals(s, c, n);
        for (size_t i = 0; !intervals && k >= 0 && i < n; i++)
                k = add_element(s, c[i].lo, len, false);
        if (k < 0)
                return k;
        return invert ? put_lookup_inv(rb->rule, nftnl_set_get_u32(s, NFTNL_SET_ID))
                      : put_lookup(rb->rule, "__set%d", nftnl_set_get_u32(s, NFTNL_SET_ID));
}

/* An ORed run with a negation among its members, its field loaded: "not in" the values it
 * excludes (conditions_or_excluded()); nothing more when it excludes none. */
static int put_group_excluded(RuleBuild *rb, const Condition *c, size_t n, uint32_t len, uint32_t type) {
        Condition ex[ENGINE_CONDITIONS_MAX + 1];
        size_t m;

        m = conditions_or_excluded(c, n, ex);
        if (m == 0)
                return 0;
        if (m == 1)
                return condition_is_single(&ex[0]) ? put_cmp(rb->rule, NFT_CMP_NEQ, ex[0].lo, len)
                                                   : put_range_neq(rb->rule, ex[0].lo, ex[0].hi, len);
        return put_values_lookup(rb, ex, m, len, type, true);
}

/* One group: a condition, or a run of consecutive ones on the same field (ORed). */
static int put_group(RuleBuild *rb, const Condition *c, size_t n) {
        uint8_t mask[CONDITION_VALUE_MAX];
        uint32_t len, type, op = c->negate ? NFT_CMP_NEQ : NFT_CMP_EQ;
        int k, plen;

        if (c->field == WFP_FIELD_BFED_LOCAL_SYSTEM || c->field == WFP_FIELD_BFED_LOCALLY_INITIATED)
                return put_internal(rb, c);
        if (c->field == WFP_FIELD_FLAGS)
                return put_flags(rb, c); /* never ORed: the engine refuses that */
        if (c->field == WFP_FIELD_DIRECTION) {
                /* ALE_FLOW_ESTABLISHED's two hooks: on output a packet has no input interface */
                uint32_t none = 0;
                return put_meta_cmp(rb->rule, NFT_META_IIF, c->lo[0] ? NFT_CMP_NEQ : NFT_CMP_EQ, &none,
                                    sizeof(none));
        }

        k = load_field(rb, c, &len, &type);
        if (k < 0)
                return k;

        if (n == 1) {
                if (!condition_field_is_ordered(c->field) || condition_is_single(c))
                        return put_cmp(rb->rule, op, c->lo, len);
                plen = condition_prefix_len(c);
                if (plen >= 0) {
                        prefix_mask((unsigned) plen, len, mask);
                        k = put_bitwise_and(rb->rule, mask, len);
                        return k < 0 ? k : put_cmp(rb->rule, op, c->lo, len);
                }
                if (c->negate)
                        return put_range_neq(rb->rule, c->lo, c->hi, len);
                k = put_cmp(rb->rule, NFT_CMP_GTE, c->lo, len);
                return k < 0 ? k : put_cmp(rb->rule, NFT_CMP_LTE, c->hi, len);
        }

        for (size_t i = 0; i < n; i++)
                if (c[i].negate)
                        return put_group_excluded(rb, c, n, len, type);

        return put_values_lookup(rb, c, n, len, type, false);
}

/* Port conditions read the transport header, so the rule must first pin a protocol that has
 * ports: the filter's own IP_PROTOCOL condition when it has one, else the usual port carriers. */
static int put_port_guard(RuleBuild *rb) {
        static const uint8_t with_ports[] = { 6, 17, 33, 132, 136 }; /* tcp udp dccp sctp udplite */
        const Filter *f = rb->filter;
        bool ports = false;
        struct nftnl_set *s;
        int k;

        for (size_t i = 0; i < f->n_conditions; i++) {
                if (f->conditions[i].field == WFP_FIELD_IP_PROTOCOL && !f->conditions[i].negate)
                        return 0;
                if (f->conditions[i].field == WFP_FIELD_IP_LOCAL_PORT ||
                    f->conditions[i].field == WFP_FIELD_IP_REMOTE_PORT)
                        ports = true;
        }
        if (!ports)
                return 0;

        k = put_meta(rb->rule, NFT_META_L4PROTO);
        if (k < 0)
                return k;
        k = new_anon_set(rb, 1, NFT_TYPE_INET_PROTOCOL, false, &s);
        if (k < 0)
                return k;
        rb->sets[rb->n_sets++] = s;
        for (size_t i = 0; k >= 0 && i < ELEMENTSOF(with_ports); i++)
                k = add_element(s, &with_ports[i], 1, false);
        return k < 0 ? k : put_lookup(rb->rule, "__set%d", nftnl_set_get_u32(s, NFTNL_SET_ID));
}

/* A callout that lets plain packets through (its rawContext's clear-text fallback) permits
 * every packet it matches, secured or not: a plain verdict, no map. */
int verdict_of(const Filter *f) {
        if (f->action == WFP_ACTION_BLOCK ||
            (f->action == WFP_ACTION_CALLOUT_TERMINATING && !filter_callout_passes_clear(f)))
                return NF_DROP;
        if (f->flags & WFP_FILTER_FLAG_CLEAR_ACTION_RIGHT)
                return NF_ACCEPT;
        return NFT_RETURN;
}

void rule_build_done(RuleBuild *rb) {
        for (size_t i = 0; i < rb->n_sets; i++)
                nftnl_set_free(rb->sets[i]);
        rb->n_sets = 0;
        if (rb->rule)
                nftnl_rule_free(rb->rule);
        rb->rule = NULL;
}

/* ---- ICMP type and code (doc/org.bfed.Engine1.md "ICMP") ------------------------------------ */

#define TYPED_ELEMENTS_MAX 256
/* protocol . type . code . port . port */
#define TYPED_KEY(type, code) \
        NFT_TYPE_CONCAT(NFT_TYPE_CONCAT(NFT_TYPE_CONCAT(NFT_TYPE_CONCAT(NFT_TYPE_INET_PROTOCOL, type), code), \
                                        NFT_TYPE_INET_SERVICE), NFT_TYPE_INET_SERVICE)

/* One element of put_typed_ports()'s set: key and key end, five fields of 4 bytes each. */
static int add_typed_element(struct nftnl_set *s, uint8_t proto, const uint32_t byte0[2], const uint32_t byte1[2],
                             const uint32_t word0[2], const uint32_t word1[2]) {
        struct nftnl_set_elem *el = nftnl_set_elem_alloc();
        uint8_t key[2][20] = {};

        if (!el)
                return -ENOMEM;
        for (int e = 0; e < 2; e++) {
                key[e][0] = proto;
                key[e][4] = (uint8_t) byte0[e];
                key[e][8] = (uint8_t) byte1[e];
                key[e][12] = (uint8_t) (word0[e] >> 8);
                key[e][13] = (uint8_t) word0[e];
                key[e][16] = (uint8_t) (word1[e] >> 8);
                key[e][17] = (uint8_t) word1[e];
        }
        nftnl_set_elem_set(el, NFTNL_SET_ELEM_KEY, key[0], sizeof(key[0]));
        nftnl_set_elem_set(el, NFTNL_SET_ELEM_KEY_END, key[1], sizeof(key[1]));
        nftnl_set_elem_add(s, el);
        return 0;
}

/*
 * The port conditions of a filter whose ports also mean ICMP type and code, with the port guard:
 * one lookup of protocol . th[0] . th[1] . th[0:2] . th[2:4] in a set of concatenated ranges,
 * for each protocol with ports (the filter's protocol conditions allowing) its source and
 * destination port ranges, and for ICMP its type and code ranges (within 0-255). Its other
 * conditions, the protocol ones among them, are compiled as usual.
 */
static int put_typed_ports(RuleBuild *rb) {
        static const uint8_t with_ports[] = { 6, 17, 33, 132, 136 };
        static const uint8_t field_len[] = { 1, 1, 1, 2, 2 }, th_offset[] = { 0, 1, 0, 2 };
        static const uint32_t any_byte[2] = { 0, 255 }, any_word[2] = { 0, 65535 };
        const Filter *f = rb->filter;
        bool inbound = filter_is_inbound(f);
        uint8_t icmp = wfp_layer_info(f->layer)->family == 4 ? 1 : 58;
        uint32_t protos[FILTER_RANGES_MAX][2], local[FILTER_RANGES_MAX][2], remote[FILTER_RANGES_MAX][2];
        int n_p, n_l, n_r, n_types = 0, n_codes = 0, k;
        size_t n_port_protos = 0, count;
        struct nftnl_set *s;

        n_p = filter_field_ranges(f, WFP_FIELD_IP_PROTOCOL, protos, ELEMENTSOF(protos));
        n_l = filter_field_ranges(f, WFP_FIELD_IP_LOCAL_PORT, local, ELEMENTSOF(local));
        n_r = filter_field_ranges(f, WFP_FIELD_IP_REMOTE_PORT, remote, ELEMENTSOF(remote));
        if (n_p < 0 || n_l < 0 || n_r < 0)
                return n_p < 0 ? n_p : n_l < 0 ? n_l : n_r;
        for (size_t p = 0; p < ELEMENTSOF(with_ports); p++)
                n_port_protos += ranges_contain((const uint32_t (*)[2]) protos, n_p, with_ports[p]);
        if (ranges_contain((const uint32_t (*)[2]) protos, n_p, icmp)) {
                while (n_types < n_l && local[n_types][0] <= 255)
                        n_types++;
                while (n_codes < n_r && remote[n_codes][0] <= 255)
                        n_codes++;
        }
        count = n_port_protos * (size_t) n_l * (size_t) n_r + (size_t) n_types * (size_t) n_codes;
        if (count > TYPED_ELEMENTS_MAX)
                return -E2BIG;

        k = put_meta_to(rb->rule, NFT_META_L4PROTO, NFT_REG32_00);
        if (k >= 0 && count == 0) {
                /* nothing can match (say ICMP alone with a type over 255): a rule that never does,
                 * as an anonymous set cannot be empty */
                uint8_t zero = 0;

                k = put_cmp(rb->rule, NFT_CMP_EQ, &zero, sizeof(zero));
                return k < 0 ? k : put_cmp(rb->rule, NFT_CMP_NEQ, &zero, sizeof(zero));
        }
        for (uint32_t i = 0; k >= 0 && i < ELEMENTSOF(th_offset); i++)
                k = put_payload_to(rb->rule, NFT_PAYLOAD_TRANSPORT_HEADER, th_offset[i], field_len[i + 1],
                                   NFT_REG32_01 + i);
        if (k >= 0)
                k = new_set(rb->config, "__set%d", rb->batch ? rb->batch->set_id_next++ : (uint32_t) rb->n_sets + 1,
                            NFT_SET_ANONYMOUS | NFT_SET_CONSTANT | NFT_SET_INTERVAL | NFT_SET_CONCAT, 20,
                            icmp == 1 ? TYPED_KEY(NFT_TYPE_ICMP_TYPE, NFT_TYPE_ICMP_CODE)
                                      : TYPED_KEY(NFT_TYPE_ICMP6_TYPE, NFT_TYPE_ICMPV6_CODE), &s);
        if (k < 0)
                return k;
        rb->sets[rb->n_sets++] = s;
        nftnl_set_set_data(s, NFTNL_SET_DESC_CONCAT, field_len, sizeof(field_len));

        for (size_t p = 0; k >= 0 && p < ELEMENTSOF(with_ports); p++)
                for (int l = 0; k >= 0 && l < n_l && ranges_contain((const uint32_t (*)[2]) protos, n_p, with_ports[p]); l++)
                        for (int r = 0; k >= 0 && r < n_r; r++)
                                k = add_typed_element(s, with_ports[p], any_byte, any_byte,
                                                      inbound ? remote[r] : local[l], inbound ? local[l] : remote[r]);
        for (int t = 0; k >= 0 && t < n_types; t++)
                for (int c = 0; k >= 0 && c < n_codes; c++) {
                        uint32_t type[2] = { local[t][0], local[t][1] > 255 ? 255 : local[t][1] };
                        uint32_t code[2] = { remote[c][0], remote[c][1] > 255 ? 255 : remote[c][1] };

                        k = add_typed_element(s, icmp, type, code, any_word, any_word);
                }
        return k < 0 ? k : put_lookup(rb->rule, "__set%d", nftnl_set_get_u32(s, NFTNL_SET_ID));
}

/* Build the rule (and its anonymous sets) for one filter; the protocol conditions come first. */
int rule_build(RuleBuild *rb) {
        const Filter *f = rb->filter;
        char chain[NFT_CHAIN_NAME_MAX], comment[TEXT_MAX];
        ssize_t fold;
        bool typed;
        int k;

        if (rb->chain)
                snprintf(chain, sizeof(chain), "%s", rb->chain);
        else
                nft_sublayer_chain_name(f->layer, f->sublayer, chain);
        rb->rule = new_rule(rb->config, chain);
        if (!rb->rule)
                return -ENOMEM;

        /* nft only names "ip saddr" when the rule pins the family, and the family chains already
         * guarantee it, so this costs one compare and buys a readable `nft list ruleset` */
        k = 0;
        for (size_t i = 0; i < f->n_conditions; i++)
                if (condition_field_is_address(f->conditions[i].field)) {
                        k = put_nfproto(rb->rule, wfp_layer_info(f->layer)->family);
                        break;
                }
        typed = filter_ports_typed(f);
        fold = typed ? -1 : ike_fold(f);
        if (k >= 0)
                k = typed ? put_typed_ports(rb) : put_port_guard(rb);
        for (int pass = 0; k >= 0 && pass < 2; pass++) {
                size_t i = 0;

                while (k >= 0 && i < f->n_conditions) {
                        size_t j = i + 1;
                        bool proto = f->conditions[i].field == WFP_FIELD_IP_PROTOCOL;

                        while (j < f->n_conditions && f->conditions[j].field == f->conditions[i].field)
                                j++;
                        if ((ssize_t) i == fold) {
                                if (pass == 0)  /* where the protocol would have been */
                                        k = put_ike_lookup(rb, &f->conditions[i], j - i);
                        } else if (proto == (pass == 0) && !(proto && fold >= 0) &&
                                 !(typed && condition_field_is_port(f->conditions[i].field)))
                                k = put_group(rb, &f->conditions[i], j - i);
                        i = j;
                }
        }
        if (k >= 0)
                k = put_counter(rb->rule);
        /* a terminating callout's verdict map drops plain packets and permits secured ones: a log
         * statement before it would report both, so its drops are not net events */
        if (k >= 0 && rb->config->net_events && f->action == WFP_ACTION_BLOCK)
                k = put_net_event_log(rb->rule, rb->config, false, f->id);
        if (k >= 0)
                k = f->action == WFP_ACTION_CALLOUT_TERMINATING && !filter_callout_passes_clear(f)
                            ? put_callout_map_lookup(rb->rule, f)
                            : put_verdict(rb->rule, verdict_of(f), NULL);
        if (k >= 0) {
                /* made safe already; set_comment() finds nothing more to change */
                nft_filter_comment(f->id, f->name, comment);
                k = set_comment(rb->rule, comment);
        }
        return k;
}

/*
 * Whether a built rule fits the kernel's limits (budget.c), which the engine's caps do not see:
 * 64 conditions can compile to 130 expressions, or to 4 KiB of them. The kernel would refuse
 * such a rule with a bare EINVAL or EFBIG; this says what is wrong and what to do.
 */
int rule_check_budget(struct nftnl_rule *r, const char *whose, EngineError *err) {
        NftRuleCost cost = nft_rule_cost(r);

        return nft_rule_cost_fits(cost) ? 0 : budget_error(cost, whose, err);
}

int budget_error(NftRuleCost cost, const char *whose, EngineError *err) {
        return engine_error(err, FWP_E_OUT_OF_BOUNDS,
                            "%s would need %zu nftables expressions taking %zu bytes, and the kernel takes at most "
                            "%d expressions and %d bytes in one rule: use fewer ANDed conditions (conditions on "
                            "one field side by side are ORed and cost one set lookup), or split the filter into "
                            "filters with fewer conditions each",
                            whose, cost.exprs, cost.bytes, NFT_RULE_EXPRS_MAX, NFT_RULE_BYTES_MAX);
}

