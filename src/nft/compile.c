/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * compile.c — see compile.h. One filter is one rule: its conditions as match expressions
 * (consecutive conditions on one field, which WFP ORs, as one anonymous-set lookup), a
 * counter, then the verdict that encodes WFP arbitration:
 *
 *   block                          drop     final, as WFP's default hard block
 *   permit + CLEAR_ACTION_RIGHT    accept   hard permit: ends this layer's base chain
 *   permit                         return   soft permit: this sublayer is decided, lower ones run
 *   IPsec callout (terminating)    vmap     plain: drop; secured: return, or accept when hard
 *   … with a clear-text fallback   return   (rawContext PASSTHRU in, NEGOTIATE_DISCOVER out:
 *                                           plain packets are permitted too), or accept when hard
 *
 * Rules carry the comment "filter <id>: <name>" so `nft list ruleset` reads like the database;
 * nft_comment_sanitize() (text.c) makes every comment one that nft lists and reads back.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "budget.h"
#include "compile.h"
#include "compile-internal.h"
#include "keymap.h"
#include "macro.h"
#include "text.h"

/* nftables' datatype ids (src/datatype.h), so `nft list` prints set elements readably */
#define NFT_TYPE_IPADDR       7
#define NFT_TYPE_IP6ADDR      8
#define NFT_TYPE_INET_PROTOCOL 12
#define NFT_TYPE_INET_SERVICE 13
#define NFT_TYPE_IFNAME       41
#define NFT_TYPE_UID          24
/* for `nft list` to show the concatenated keys below: */
#define NFT_TYPE_ICMP_TYPE    14
#define NFT_TYPE_ARPHRD       21
#define NFT_TYPE_ICMP6_TYPE   29
#define NFT_TYPE_ICMP_CODE    32
#define NFT_TYPE_ICMPV6_CODE  33
#define NFT_TYPE_FIB_ADDR     38
#define NFT_TYPE_BOOLEAN      39
#define NFT_TYPE_CONCAT(a, b) ((a) << 6 | (b)) /* nft's concat_subtype_add() */

/* room for a comment before nft_comment_sanitize() cuts it, and for texts naming a filter */
#define TEXT_MAX (2 * NFT_COMMENT_MAX + 1)

/* conntrack directions (enum ip_conntrack_dir, not in the uapi headers) */
#define CT_DIR_ORIGINAL 0
#define CT_DIR_REPLY 1

void nft_config_init(NftConfig *c) {
        *c = (NftConfig) { .priority = -10, .local_system_uid = 0, .chunk_size = NFT_CHUNK_SIZE_DEFAULT,
                           .table_flags = NFT_TABLE_F_OWNER, .filter_runs = true, .trace = true,
                           .log_group = NFT_LOG_GROUP_DEFAULT };
        strcpy(c->table, "bfed");
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_rule *, nftnl_rule_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_set *, nftnl_set_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_chain *, nftnl_chain_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_table *, nftnl_table_free);

/* ---- names ------------------------------------------------------------------------------- */

static const char *const kind_chain[_WFP_LAYER_KIND_MAX] = {
        [WFP_LAYER_KIND_INBOUND_TRANSPORT] = "inbound_transport",
        [WFP_LAYER_KIND_OUTBOUND_TRANSPORT] = "outbound_transport",
        [WFP_LAYER_KIND_ALE_AUTH_RECV_ACCEPT] = "ale_auth_recv_accept",
        [WFP_LAYER_KIND_ALE_AUTH_CONNECT] = "ale_auth_connect",
        [WFP_LAYER_KIND_IPFORWARD] = "ipforward",
        [WFP_LAYER_KIND_ALE_FLOW_ESTABLISHED] = "ale_flow_established",
};

void nft_family_chain_name(WfpLayer layer, char buf[static 48]) {
        const WfpLayerInfo *li = wfp_layer_info(layer);

        snprintf(buf, 48, "%s_v%d", kind_chain[li->kind], li->family);
}

void nft_sublayer_chain_name(WfpLayer layer, const Sublayer *s, char buf[static NFT_CHAIN_NAME_MAX]) {
        char family[48], hex[33];
        size_t o = 0;

        if (!wfp_layer_is_emitted(layer)) {
                buf[0] = 0;
                return;
        }
        nft_family_chain_name(layer, family);
        if (sublayer_is_universal(s)) {
                snprintf(buf, NFT_CHAIN_NAME_MAX, "%s_universal", family);
                return;
        }
        for (size_t i = 0; i < 16; i++)
                o += (size_t) snprintf(hex + o, sizeof(hex) - o, "%02x", s->key.b[i]);
        snprintf(buf, NFT_CHAIN_NAME_MAX, "%s_sl_%s", family, hex);
}

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

static int put_bitwise_and(struct nftnl_rule *r, const void *mask, uint32_t len) {
        static const uint8_t xor[16] = {};

        return PUT_EXPR(r, "bitwise", EXPR_U32(NFTNL_EXPR_BITWISE_SREG, NFT_REG_1),
                        EXPR_U32(NFTNL_EXPR_BITWISE_DREG, NFT_REG_1), EXPR_U32(NFTNL_EXPR_BITWISE_LEN, len),
                        EXPR_DATA(NFTNL_EXPR_BITWISE_MASK, mask, len), EXPR_DATA(NFTNL_EXPR_BITWISE_XOR, xor, len));
}

static int put_lookup(struct nftnl_rule *r, const char *set, uint32_t set_id) {
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

static int put_nfproto(struct nftnl_rule *r, int family) {
        uint8_t v = family == 4 ? NFPROTO_IPV4 : NFPROTO_IPV6;

        return put_meta_cmp(r, NFT_META_NFPROTO, NFT_CMP_EQ, &v, sizeof(v));
}

static int put_ct_state_new(struct nftnl_rule *r) {
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

typedef struct RuleBuild {
        const NftConfig *config;
        const Filter *filter;
        NftBatch *batch;                 /* for set ids; NULL when only describing */
        const char *chain;               /* the chunk chain; NULL: the sublayer's first */
        uint32_t dreg;                   /* where load_field() loads: 0 = NFT_REG_1 */
        struct nftnl_rule *rule;
        struct nftnl_set *sets[ENGINE_CONDITIONS_MAX];
        size_t n_sets;
} RuleBuild;

/* Load a condition's field into register 1 (or rb->dreg); returns its length and the set key type. */
static int load_field(RuleBuild *rb, const Condition *c, uint32_t *ret_len, uint32_t *ret_type) {
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

static int new_set(const NftConfig *c, const char *name, uint32_t id, uint32_t flags, uint32_t key_len,
                   uint32_t key_type, struct nftnl_set **ret);

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

static int new_set(const NftConfig *c, const char *name, uint32_t id, uint32_t flags, uint32_t key_len,
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
 * The IKE ports, 500 and 4500, as a named constant set of the table, made with it: every IPv4
 * exemption rule matches them, so an MM policy add need not make seven anonymous sets (about
 * a tenth of the kernel's work for that batch), and `nft list` shows `udp dport @ike_ports`.
 * Any ORed port list of exactly these two values uses it.
 */
#define IKE_PORTS_SET "ike_ports"
static const uint16_t ike_ports[] = { 500, 4500 };

static bool is_ike_ports(const Condition *c, size_t n) {
        bool seen[ELEMENTSOF(ike_ports)] = {};

        if (n != ELEMENTSOF(ike_ports) || (c->field != WFP_FIELD_IP_LOCAL_PORT && c->field != WFP_FIELD_IP_REMOTE_PORT))
                return false;
        for (size_t i = 0; i < n; i++) {
                uint16_t port;
                size_t k;

                if (c[i].negate || !condition_is_single(&c[i]) || c[i].len != sizeof(port))
                        return false;
                port = (uint16_t) (c[i].lo[0] << 8 | c[i].lo[1]);
                for (k = 0; k < ELEMENTSOF(ike_ports) && ike_ports[k] != port; k++)
                        ;
                if (k == ELEMENTSOF(ike_ports) || seen[k])
                        return false;
                seen[k] = true;
        }
        return true;
}

static int emit_set(NftBatch *b, struct nftnl_set *s, const char *what);

static int emit_ike_ports_set(const NftConfig *c, NftBatch *b) {
        struct nftnl_set *s;
        int k;

        k = new_set(c, IKE_PORTS_SET, b->set_id_next++, NFT_SET_CONSTANT, sizeof(uint16_t), NFT_TYPE_INET_SERVICE, &s);
        for (size_t i = 0; k >= 0 && i < ELEMENTSOF(ike_ports); i++) {
                uint8_t be[2] = { ike_ports[i] >> 8, ike_ports[i] & 0xff };
                k = add_element(s, be, sizeof(be), false);
        }
        if (k >= 0)
                k = emit_set(b, s, "set " IKE_PORTS_SET);
        nftnl_set_free(s);
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

        if (is_ike_ports(c, n))
                return put_lookup(rb->rule, IKE_PORTS_SET, 0);
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
static int verdict_of(const Filter *f) {
        if (f->action == WFP_ACTION_BLOCK ||
            (f->action == WFP_ACTION_CALLOUT_TERMINATING && !filter_callout_passes_clear(f)))
                return NF_DROP;
        if (f->flags & WFP_FILTER_FLAG_CLEAR_ACTION_RIGHT)
                return NF_ACCEPT;
        return NFT_RETURN;
}

/*
 * A terminating IPsec callout decides for its sublayer, as in WFP: a plain packet is dropped, a
 * secured one permitted as the filter's own permit would be (return: soft; accept with
 * CLEAR_ACTION_RIGHT: hard), and the filters after it in the sublayer do not see either. One
 * verdict map on the secured bit (secpath in, rt ipsec out).
 */
static int put_callout_verdict(RuleBuild *rb) {
        const Filter *f = rb->filter;
        int verdicts[2] = { NF_DROP, f->flags & WFP_FILTER_FLAG_CLEAR_ACTION_RIGHT ? NF_ACCEPT : NFT_RETURN };
        struct nftnl_set *s;
        int k;

        k = filter_is_inbound(f) ? put_meta(rb->rule, NFT_META_SECPATH) : put_rt(rb->rule, NFT_RT_XFRM);
        if (k >= 0)
                k = new_set(rb->config, "__set%d", rb->batch ? rb->batch->set_id_next++ : (uint32_t) rb->n_sets + 1,
                            NFT_SET_ANONYMOUS | NFT_SET_CONSTANT | NFT_SET_MAP, 1, NFT_TYPE_BOOLEAN, &s);
        if (k < 0)
                return k;
        rb->sets[rb->n_sets++] = s;
        nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, NFT_DATA_VERDICT);
        nftnl_set_set_u32(s, NFTNL_SET_DATA_LEN, 0);
        for (uint8_t secured = 0; secured < 2; secured++) {
                struct nftnl_set_elem *el = nftnl_set_elem_alloc();

                if (!el)
                        return -ENOMEM;
                nftnl_set_elem_set(el, NFTNL_SET_ELEM_KEY, &secured, sizeof(secured));
                nftnl_set_elem_set_u32(el, NFTNL_SET_ELEM_VERDICT, (uint32_t) verdicts[secured]);
                nftnl_set_elem_add(s, el);
        }
        return PUT_EXPR(rb->rule, "lookup", EXPR_U32(NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1),
                        EXPR_U32(NFTNL_EXPR_LOOKUP_DREG, NFT_REG_VERDICT), EXPR_STR(NFTNL_EXPR_LOOKUP_SET, "__set%d"),
                        EXPR_U32(NFTNL_EXPR_LOOKUP_SET_ID, nftnl_set_get_u32(s, NFTNL_SET_ID)));
}

static void rule_build_done(RuleBuild *rb) {
        for (size_t i = 0; i < rb->n_sets; i++)
                nftnl_set_free(rb->sets[i]);
        rb->n_sets = 0;
        if (rb->rule)
                nftnl_rule_free(rb->rule);
        rb->rule = NULL;
}

/* ---- ICMP type and code (doc/org.bfed.Engine1.md "ICMP") ------------------------------------ */

static bool is_port_field(WfpField field) {
        return field == WFP_FIELD_IP_LOCAL_PORT || field == WFP_FIELD_IP_REMOTE_PORT;
}

static bool ranges_have(uint32_t (*r)[2], int n, uint32_t v) {
        for (int i = 0; i < n; i++)
                if (r[i][0] <= v && v <= r[i][1])
                        return true;
        return false;
}

/* In WFP, IP_LOCAL_PORT and IP_REMOTE_PORT are ICMP_TYPE and ICMP_CODE: whether @f's port
 * conditions mean them too, because it has some and its protocol conditions let ICMP (ICMPv6 at
 * the v6 layers) through. */
static bool ports_typed(const Filter *f) {
        uint32_t protos[FILTER_RANGES_MAX][2];
        bool ports = false;
        int n;

        for (size_t i = 0; i < f->n_conditions; i++)
                ports = ports || is_port_field(f->conditions[i].field);
        if (!ports)
                return false;
        n = filter_field_ranges(f, WFP_FIELD_IP_PROTOCOL, protos, ELEMENTSOF(protos));
        return n != 0 && (n < 0 || ranges_have(protos, n, wfp_layer_info(f->layer)->family == 4 ? 1 : 58));
}

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
                n_port_protos += ranges_have(protos, n_p, with_ports[p]);
        if (ranges_have(protos, n_p, icmp)) {
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
                for (int l = 0; k >= 0 && l < n_l && ranges_have(protos, n_p, with_ports[p]); l++)
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
static int rule_build(RuleBuild *rb) {
        const Filter *f = rb->filter;
        char chain[NFT_CHAIN_NAME_MAX], comment[TEXT_MAX];
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
        typed = ports_typed(f);
        if (k >= 0)
                k = typed ? put_typed_ports(rb) : put_port_guard(rb);
        for (int pass = 0; k >= 0 && pass < 2; pass++) {
                size_t i = 0;

                while (k >= 0 && i < f->n_conditions) {
                        size_t j = i + 1;
                        bool proto = f->conditions[i].field == WFP_FIELD_IP_PROTOCOL;

                        while (j < f->n_conditions && f->conditions[j].field == f->conditions[i].field)
                                j++;
                        if (proto == (pass == 0) && !(typed && is_port_field(f->conditions[i].field)))
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
                            ? put_callout_verdict(rb)
                            : put_verdict(rb->rule, verdict_of(f), NULL);
        if (k >= 0) {
                snprintf(comment, sizeof(comment), "filter %" PRIu64 ": %s", f->id, f->name);
                k = set_comment(rb->rule, comment);
        }
        return k;
}

/*
 * Whether a built rule fits the kernel's limits (budget.c), which the engine's caps do not see:
 * 64 conditions can compile to 130 expressions, or to 4 KiB of them. The kernel would refuse
 * such a rule with a bare EINVAL or EFBIG; this says what is wrong and what to do.
 */
static int rule_check_budget(struct nftnl_rule *r, const char *whose, EngineError *err) {
        NftRuleCost cost = nft_rule_cost(r);

        if (nft_rule_cost_fits(cost))
                return 0;
        return engine_error(err, FWP_E_OUT_OF_BOUNDS,
                            "%s would need %zu nftables expressions taking %zu bytes, and the kernel takes at most "
                            "%d expressions and %d bytes in one rule: use fewer ANDed conditions (conditions on "
                            "one field side by side are ORed and cost one set lookup), or split the filter into "
                            "filters with fewer conditions each",
                            whose, cost.exprs, cost.bytes, NFT_RULE_EXPRS_MAX, NFT_RULE_BYTES_MAX);
}

/* ---- messages ---------------------------------------------------------------------------- */

/* The header of the batch's next message, at the end of its buffer: the caller adds the payload
 * and commits it (nft_batch_commit_msg()). NULL when there is no memory. */
static struct nlmsghdr *msg_start(NftBatch *b, uint16_t type, uint16_t flags) {
        char *p = nft_batch_reserve(b);

        return p ? nftnl_nlmsg_build_hdr(p, type, NFPROTO_INET, flags, nft_batch_next_seq(b)) : NULL;
}

/* One message about set @s: NEWSET or DELSET (the set), NEWSETELEM or DELSETELEM (its elements). */
static int emit_set_msg(NftBatch *b, uint16_t type, const struct nftnl_set *s, const char *what) {
        uint16_t flags = type == NFT_MSG_NEWSET || type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE | NLM_F_ACK : NLM_F_ACK;
        struct nlmsghdr *nlh = msg_start(b, type, flags);

        if (!nlh)
                return -ENOMEM;
        if (type == NFT_MSG_NEWSET || type == NFT_MSG_DELSET)
                nftnl_set_nlmsg_build_payload(nlh, (struct nftnl_set *) s);
        else
                nftnl_set_elems_nlmsg_build_payload(nlh, (struct nftnl_set *) s);
        return nft_batch_commit_msg(b, nlh, NULL, what);
}

/* A new set and its elements. */
static int emit_set(NftBatch *b, struct nftnl_set *s, const char *what) {
        char what_elements[NFT_SET_MAXNAMELEN + 64];
        int k;

        k = emit_set_msg(b, NFT_MSG_NEWSET, s, what);
        snprintf(what_elements, sizeof(what_elements), "%s elements", what);
        return k < 0 ? k : emit_set_msg(b, NFT_MSG_NEWSETELEM, s, what_elements);
}

static bool ref_is_set(const NftBatch *b, const NftRuleRef *ref) {
        return ref->handle != 0 || (ref->batch == b->gen && ref->id != 0);
}

/* Where a rule is: pending in this batch (by id) wins over its old kernel handle, which the
 * batch may be deleting (a rule moved to another chunk). */
static NftRuleRef filter_ref(const NftBatch *b, const Filter *f) {
        if (f->nft_rule_batch == b->gen)
                return (NftRuleRef) { .id = f->nft_rule_id, .batch = b->gen };
        return (NftRuleRef) { .handle = f->nft_handle };
}

/**
 * emit_rule() - add a rule: before the rule @before names, or appended when it names none.
 * @handle: where the kernel's handle goes once the batch is applied (the rule is echoed)
 * @ret_id: the rule's id within the batch, for later rules of the batch to anchor on
 */
int emit_rule(NftBatch *b, struct nftnl_rule *r, const NftRuleRef *before, uint64_t *handle,
              uint32_t *ret_id, const char *what) {
        struct nlmsghdr *nlh;
        uint16_t flags = NLM_F_CREATE | NLM_F_ACK;
        uint32_t id = ++b->rule_id_next;

        nftnl_rule_set_u32(r, NFTNL_RULE_ID, id);
        if (before && before->handle)
                nftnl_rule_set_u64(r, NFTNL_RULE_POSITION, before->handle);
        else if (before && ref_is_set(b, before))
                nftnl_rule_set_u32(r, NFTNL_RULE_POSITION_ID, before->id);
        else
                flags |= NLM_F_APPEND;
        if (handle)
                flags |= NLM_F_ECHO; /* the kernel answers with the rule, handle included */

        nlh = msg_start(b, NFT_MSG_NEWRULE, flags);
        if (!nlh)
                return -ENOMEM;
        nftnl_rule_nlmsg_build_payload(nlh, r);
        if (ret_id)
                *ret_id = id;
        return nft_batch_commit_msg(b, nlh, handle, what);
}

static int emit_delete_ref(const NftConfig *c, NftBatch *b, const char *chain, const NftRuleRef *ref, const char *what) {
        _cleanup_(nftnl_rule_freep) struct nftnl_rule *r = new_rule(c, chain);
        struct nlmsghdr *nlh;

        if (!r)
                return -ENOMEM;
        if (ref->batch == b->gen && ref->id)
                nftnl_rule_set_u32(r, NFTNL_RULE_ID, ref->id);
        else
                nftnl_rule_set_u64(r, NFTNL_RULE_HANDLE, ref->handle);
        nlh = msg_start(b, NFT_MSG_DELRULE, NLM_F_ACK);
        if (!nlh)
                return -ENOMEM;
        nftnl_rule_nlmsg_build_payload(nlh, r);
        return nft_batch_commit_msg(b, nlh, NULL, what);
}

static int emit_named_table(const char *name, NftBatch *b, uint16_t type, uint32_t flags, bool with_flags) {
        _cleanup_(nftnl_table_freep) struct nftnl_table *t = nftnl_table_alloc();
        struct nlmsghdr *nlh;

        if (!t)
                return -ENOMEM;
        nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
        nftnl_table_set_str(t, NFTNL_TABLE_NAME, name);
        if (with_flags)
                nftnl_table_set_u32(t, NFTNL_TABLE_FLAGS, flags);
        nlh = msg_start(b, type, type == NFT_MSG_NEWTABLE ? NLM_F_CREATE | NLM_F_ACK : NLM_F_ACK);
        if (!nlh)
                return -ENOMEM;
        nftnl_table_nlmsg_build_payload(nlh, t);
        return nft_batch_commit_msg(b, nlh, NULL, type == NFT_MSG_NEWTABLE ? "table" : "table deletion");
}

static int emit_table(const NftConfig *c, NftBatch *b, uint16_t type, uint32_t flags, bool with_flags) {
        return emit_named_table(c->table, b, type, flags, with_flags);
}

static int emit_chain_msg(const NftConfig *c, NftBatch *b, uint16_t type, const char *name, int hook, int prio) {
        _cleanup_(nftnl_chain_freep) struct nftnl_chain *ch = nftnl_chain_alloc();
        struct nlmsghdr *nlh;
        char what[NFT_CHAIN_NAME_MAX + 32];

        if (!ch)
                return -ENOMEM;
        nftnl_chain_set_u32(ch, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
        nftnl_chain_set_str(ch, NFTNL_CHAIN_TABLE, c->table);
        nftnl_chain_set_str(ch, NFTNL_CHAIN_NAME, name);
        if (hook >= 0) {
                nftnl_chain_set_u32(ch, NFTNL_CHAIN_HOOKNUM, (uint32_t) hook);
                nftnl_chain_set_s32(ch, NFTNL_CHAIN_PRIO, prio);
                nftnl_chain_set_str(ch, NFTNL_CHAIN_TYPE, "filter");
                nftnl_chain_set_u32(ch, NFTNL_CHAIN_POLICY, NF_ACCEPT);
        }
        nlh = msg_start(b, type, type == NFT_MSG_NEWCHAIN ? NLM_F_CREATE | NLM_F_ACK : NLM_F_ACK);
        if (!nlh)
                return -ENOMEM;
        nftnl_chain_nlmsg_build_payload(nlh, ch);
        snprintf(what, sizeof(what), "%s chain %s", type == NFT_MSG_NEWCHAIN ? "new" : "deletion of", name);
        return nft_batch_commit_msg(b, nlh, NULL, what);
}

int emit_chain(const NftConfig *c, NftBatch *b, const char *name, int hook, int prio) {
        return emit_chain_msg(c, b, NFT_MSG_NEWCHAIN, name, hook, prio);
}

int emit_delete_chain(const NftConfig *c, NftBatch *b, const char *name) {
        return emit_chain_msg(c, b, NFT_MSG_DELCHAIN, name, -1, 0);
}

static int emit_jump(const NftConfig *c, NftBatch *b, const char *from, int family, bool ct_new, int verdict,
                     const char *to, const NftRuleRef *before, uint64_t *handle, uint32_t *ret_id) {
        _cleanup_(nftnl_rule_freep) struct nftnl_rule *r = new_rule(c, from);
        int k = 0;

        if (!r)
                return -ENOMEM;
        if (family)
                k = put_nfproto(r, family);
        if (k >= 0 && ct_new)
                k = put_ct_state_new(r);
        if (k >= 0)
                k = put_verdict(r, verdict, to);
        if (k < 0)
                return k;
        return emit_rule(b, r, before, handle, ret_id, verdict == NFT_GOTO && !family ? "chunk goto" : "jump rule");
}

/* ---- chunks: a sublayer chain split so no chain grows without bound ---------------------------
 *
 * The kernel rebuilds a chain's rule array on every commit that touches it, so one chain of
 * 100,000 rules makes every add cost 100,000. A sublayer's chain in a layer is a list of
 * chunk chains of at most chunk_size rules, each ending in `goto <next chunk>`; a goto
 * keeps first-match order and a `return` in any chunk still returns from the sublayer.
 *
 * A new filter joins the chunk of the filter before it. When that chunk is full, a new chunk
 * starts right after it with the new filter, and the rules after it in the full chunk move
 * there (nothing moves when it goes at the end, the common case). An emptied chunk, other
 * than the first, is removed and its neighbours joined. Every change to this bookkeeping
 * goes through NFT_SET, so a batch the kernel refuses leaves it as it was.
 */

static void chunk_chain_name(WfpLayer layer, const Sublayer *s, const NftChunk *ch, char buf[static NFT_CHAIN_NAME_MAX]) {
        char base[NFT_CHAIN_NAME_MAX];

        nft_sublayer_chain_name(layer, s, base);
        if (ch->id == 0)
                memcpy(buf, base, NFT_CHAIN_NAME_MAX);
        else
                snprintf(buf, NFT_CHAIN_NAME_MAX, "%.100s_c%u", base, ch->id);
}

static int chunk_new(NftBatch *b, Sublayer *s, unsigned id, NftChunk **ret) {
        NftChunk *ch = calloc(1, sizeof(*ch));
        int k;

        if (!ch)
                return -ENOMEM;
        k = nft_batch_track(b, ch, false);
        if (k < 0) {
                free(ch);
                return k;
        }
        ch->id = id;
        (void) s;
        *ret = ch;
        return 0;
}

static int emit_goto(const NftConfig *c, NftBatch *b, WfpLayer l, Sublayer *s, NftChunk *from, NftChunk *to) {
        char a[NFT_CHAIN_NAME_MAX], z[NFT_CHAIN_NAME_MAX];
        uint32_t id;
        int k;

        chunk_chain_name(l, s, from, a);
        chunk_chain_name(l, s, to, z);
        k = emit_jump(c, b, a, 0, false, NFT_GOTO, z, NULL, &from->go.handle, &id);
        if (k < 0)
                return k;
        return NFT_SET(b, from->go, ((NftRuleRef) { .handle = from->go.handle, .id = id, .batch = b->gen }));
}

/* ---- runs (FilterRuns=yes; see NftRun in compile.h) ------------------------------------ */

/* The fields of a run's key, in key order; bit k of NftRun.shape is run_fields[k]. */
static const WfpField run_fields[] = {
        WFP_FIELD_IP_PROTOCOL, WFP_FIELD_IP_LOCAL_PORT, WFP_FIELD_IP_REMOTE_PORT,
        WFP_FIELD_IP_LOCAL_ADDRESS, WFP_FIELD_IP_REMOTE_ADDRESS,
};
#define RUN_PROTOCOL  1u
#define RUN_PORTS     (2u | 4u)
#define RUN_ADDRESSES (8u | 16u)
#define RUN_KEY_MAX   64                /* the registers: 4 + 4 + 4 + 16 + 16 bytes at most */
#define RUN_ELEMENTS_PER_MESSAGE 128    /* an element with its comment is under 256 bytes */
/* what the kernel takes of an element: its key, and its userdata (the comment in a TLV) */
_Static_assert(RUN_KEY_MAX <= NFT_DATA_VALUE_MAXLEN, "a run's key must fit a set key");
_Static_assert(2 + NFT_COMMENT_MAX + 1 <= NFT_USERDATA_MAXLEN, "an element's comment must fit its userdata");

static unsigned run_next_id = 1;

/*
 * @f's shape as a run member, or 0 when it cannot be one: runs are off, it is a callout, a
 * condition is not one exact value of a run field (a range, a negation, the same field
 * twice), or it matches a port without the protocol that gives the port its meaning.
 */
static unsigned run_shape(const NftConfig *c, const Filter *f) {
        unsigned shape = 0;

        if (!c->filter_runs || f->action == WFP_ACTION_CALLOUT_TERMINATING || f->n_conditions == 0)
                return 0;
        for (size_t i = 0; i < f->n_conditions; i++) {
                const Condition *cd = &f->conditions[i];
                size_t k = 0;

                while (k < ELEMENTSOF(run_fields) && run_fields[k] != cd->field)
                        k++;
                if (k == ELEMENTSOF(run_fields) || cd->match != WFP_MATCH_EQUAL || cd->negate ||
                    !condition_is_single(cd) || (shape & (1u << k)))
                        return 0;
                shape |= 1u << k;
        }
        if ((shape & RUN_PORTS) && (!(shape & RUN_PROTOCOL) || ports_typed(f)))
                return 0; /* a port needs its protocol, and ICMP's are a type and a code */
        return shape;
}

static bool runs_alike(const NftConfig *c, const Filter *a, const Filter *b) {
        unsigned shape = run_shape(c, a);

        return shape != 0 && shape == run_shape(c, b) && verdict_of(a) == verdict_of(b);
}

static const Condition *condition_on(const Filter *f, WfpField field) {
        for (size_t i = 0; i < f->n_conditions; i++)
                if (f->conditions[i].field == field)
                        return &f->conditions[i];
        return NULL;
}

/* Appends @n bytes of @value to a run's key of @len bytes, in whole 32-bit registers. */
static size_t key_append(uint8_t key[static RUN_KEY_MAX], size_t len, const uint8_t *value, size_t n) {
        size_t padded = (n + 3u) & ~3u;

        memset(key + len, 0, padded);
        memcpy(key + len, value, n);
        return len + padded;
}

/* @f's element: its values in key order, each in whole 32-bit registers. */
static size_t run_key(const Filter *f, unsigned shape, uint8_t key[static RUN_KEY_MAX]) {
        size_t len = 0;

        for (size_t k = 0; k < ELEMENTSOF(run_fields); k++)
                if (shape & (1u << k)) {
                        const Condition *cd = condition_on(f, run_fields[k]);

                        len = key_append(key, len, cd->lo, cd->len);
                }
        return len;
}

/*
 * A run's keys. A set holds each key once, so two members with the same values (two like
 * filters, say at different weights) cannot share a run: the second would have no element of
 * its own to delete. An open-addressing table of the members, by their element; after a
 * refused batch rolled the members back, it is built again from them.
 */
static uint64_t key_hash(const uint8_t *key, size_t len) {
        uint64_t h = UINT64_C(14695981039346656037);

        for (size_t i = 0; i < len; i++)
                h = (h ^ key[i]) * UINT64_C(1099511628211);
        return h;
}

static bool member_has_key(const NftRun *run, const Filter *f, const uint8_t *key, size_t len) {
        uint8_t k[RUN_KEY_MAX];

        return run_key(f, run->shape, k) == len && memcmp(k, key, len) == 0;
}

/* The slot of @key: the member that has it, or the empty slot where it would go. */
static size_t keys_slot(const NftRun *run, const uint8_t *key, size_t len) {
        size_t mask = run->n_key_slots - 1, i = key_hash(key, len) & mask;

        while (run->keys[i] && !member_has_key(run, run->keys[i], key, len))
                i = (i + 1) & mask;
        return i;
}

static int keys_add(NftRun *run, Filter *f) {
        uint8_t key[RUN_KEY_MAX];
        size_t len;

        if (2 * (run->n_keys + 1) > run->n_key_slots) {
                size_t n = run->n_key_slots ? 2 * run->n_key_slots : 8;
                Filter **old = run->keys, **keys = calloc(n, sizeof(*keys));
                size_t n_old = run->n_key_slots;

                if (!keys)
                        return -ENOMEM;
                run->keys = keys;
                run->n_key_slots = n;
                for (size_t i = 0; i < n_old; i++)
                        if (old[i]) {
                                len = run_key(old[i], run->shape, key);
                                run->keys[keys_slot(run, key, len)] = old[i];
                        }
                free(old);
        }
        len = run_key(f, run->shape, key);
        run->keys[keys_slot(run, key, len)] = f;
        run->n_keys++;
        return 0;
}

/* Linear probing: the entries after the hole move back when their home is not past it. */
static void keys_remove(NftRun *run, const Filter *f) {
        uint8_t key[RUN_KEY_MAX];
        size_t mask = run->n_key_slots - 1, i, len;

        if (!run->keys)
                return;
        len = run_key(f, run->shape, key);
        i = keys_slot(run, key, len);
        if (run->keys[i] != f)
                return;
        run->keys[i] = NULL;
        run->n_keys--;
        for (size_t j = (i + 1) & mask; run->keys[j]; j = (j + 1) & mask) {
                size_t home;

                len = run_key(run->keys[j], run->shape, key);
                home = key_hash(key, len) & mask;
                if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
                        run->keys[i] = run->keys[j];
                        run->keys[j] = NULL;
                        i = j;
                }
        }
}

/* Makes the table match the members, if a refused batch has changed them since. */
static int keys_sync(NftRun *run) {
        int k = 0;

        if (run->keys && run->keys_refusals == nft_batch_refusals)
                return 0;
        free(run->keys);
        run->keys = NULL;
        run->n_key_slots = run->n_keys = 0;
        for (Filter *f = run->head; k >= 0 && f; f = f->nft_run_next)
                k = keys_add(run, f);
        run->keys_refusals = nft_batch_refusals;
        return k;
}

/*
 * Every run by its id, for the net events (compile-netev.c): the log statement of a run's rule
 * names the run, and the packet it logged names the member. Run ids are unique in the process,
 * so one map serves every engine.
 */
static KeyMap runs_by_id;

static void run_free(void *p) {
        NftRun *run = p;
        uint8_t key[16];

        if (!run)
                return;
        keymap_id_key(run->id, key);
        if (keymap_get(&runs_by_id, key) == run)
                (void) keymap_remove(&runs_by_id, key);
        if (runs_by_id.n_used == 0)
                keymap_done(&runs_by_id);
        free(run->keys);
        free(run);
}

const NftRun *run_by_id(unsigned id) {
        uint8_t key[16];

        keymap_id_key(id, key);
        return keymap_get(&runs_by_id, key);
}

const Filter *run_member(const NftRun *run, const NftRunValues *v) {
        /* in the order of run_fields */
        const struct { const uint8_t *p; size_t n; } values[] = {
                { &v->proto, 1 }, { v->local_port, 2 }, { v->remote_port, 2 },
                { v->local_addr, v->addr_len }, { v->remote_addr, v->addr_len },
        };
        uint8_t key[RUN_KEY_MAX];
        size_t len = 0;

        /* the table is a cache of the members: built again after a refused batch */
        if ((run->shape & RUN_PORTS) && !v->has_ports)
                return NULL;
        if (keys_sync((NftRun *) run) < 0 || !run->keys)
                return NULL;
        for (size_t k = 0; k < ELEMENTSOF(run_fields); k++)
                if (run->shape & (1u << k))
                        len = key_append(key, len, values[k].p, values[k].n);
        return run->keys[keys_slot(run, key, len)];
}

/* Whether @f may join @run: like its members, and with an element none of them has. */
static int run_admits(const NftConfig *c, NftRun *run, const Filter *f) {
        uint8_t key[RUN_KEY_MAX];
        size_t len;
        int k;

        if (!run || run->shape != run_shape(c, f) || run->verdict != verdict_of(f))
                return 0;
        k = keys_sync(run);
        if (k < 0)
                return k;
        len = run_key(f, run->shape, key);
        return run->keys[keys_slot(run, key, len)] == NULL;
}

static void run_set_name(const NftRun *run, char buf[static NFT_SET_MAXNAMELEN]) {
        snprintf(buf, NFT_SET_MAXNAMELEN, "run_%u", run->id);
}

/* The run's set: keyed by the concatenated fields, with a counter on every element. */
static int run_set_new(const NftConfig *c, NftBatch *b, const NftRun *run, struct nftnl_set **ret) {
        static const uint32_t types[] = { NFT_TYPE_INET_PROTOCOL, NFT_TYPE_INET_SERVICE, NFT_TYPE_INET_SERVICE };
        int family = wfp_layer_info(run->carrier->layer)->family;
        uint8_t key[RUN_KEY_MAX];
        char name[NFT_SET_MAXNAMELEN];
        struct nftnl_set *s;
        struct nftnl_expr *counter;
        uint32_t type = 0;
        size_t len;
        int k;

        len = run_key(run->carrier, run->shape, key);
        for (size_t i = 0; i < ELEMENTSOF(run_fields); i++)
                if (run->shape & (1u << i))     /* nft's concatenated type, for `nft list` */
                        type = type << 6 | (i < 3 ? types[i] : family == 4 ? NFT_TYPE_IPADDR : NFT_TYPE_IP6ADDR);
        run_set_name(run, name);
        k = new_set(c, name, b->set_id_next++, 0, (uint32_t) len, type, &s);
        if (k < 0)
                return k;
        counter = nftnl_expr_alloc("counter");
        if (!counter) {
                nftnl_set_free(s);
                return -ENOMEM;
        }
        nftnl_set_add_expr(s, counter);
        *ret = s;
        return 0;
}

/* The run's set by name, for messages about it or its elements. */
static struct nftnl_set *run_set_ref(const NftConfig *c, const NftRun *run) {
        struct nftnl_set *s = nftnl_set_alloc();
        char name[NFT_SET_MAXNAMELEN];

        if (!s)
                return NULL;
        run_set_name(run, name);
        nftnl_set_set_str(s, NFTNL_SET_TABLE, c->table);
        nftnl_set_set_str(s, NFTNL_SET_NAME, name);
        nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
        return s;
}

/* NEWSETELEM (each with its filter's comment) or DELSETELEM for @n members from @from on. */
static int emit_run_elements(const NftConfig *c, NftBatch *b, const NftRun *run, const Filter *from, size_t n,
                             uint16_t type) {
        char name[NFT_SET_MAXNAMELEN], what[NFT_SET_MAXNAMELEN + 64];
        const Filter *f = from;
        int k = 0;

        run_set_name(run, name);
        snprintf(what, sizeof(what), "%s of set %s", type == NFT_MSG_NEWSETELEM ? "elements" : "deletion of elements",
                 name);
        while (k >= 0 && f && n > 0) {
                struct nftnl_set *s = run_set_ref(c, run);

                if (!s)
                        return -ENOMEM;
                for (size_t i = 0; k >= 0 && f && n > 0 && i < RUN_ELEMENTS_PER_MESSAGE; i++, n--, f = f->nft_run_next) {
                        struct nftnl_set_elem *el = nftnl_set_elem_alloc();
                        uint8_t key[RUN_KEY_MAX];

                        if (!el) {
                                k = -ENOMEM;
                                break;
                        }
                        nftnl_set_elem_set(el, NFTNL_SET_ELEM_KEY, key, run_key(f, run->shape, key));
                        if (type == NFT_MSG_NEWSETELEM) {
                                struct nftnl_udata_buf *u = nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN);
                                char text[TEXT_MAX], comment[NFT_COMMENT_MAX + 1];

                                snprintf(text, sizeof(text), "filter %" PRIu64 ": %s", f->id, f->name);
                                nft_comment_sanitize(text, comment);
                                if (!u || !nftnl_udata_put_strz(u, NFTNL_UDATA_SET_ELEM_COMMENT, comment))
                                        k = -ENOMEM;
                                else
                                        nftnl_set_elem_set(el, NFTNL_SET_ELEM_USERDATA, nftnl_udata_buf_data(u),
                                                           nftnl_udata_buf_len(u));
                                nftnl_udata_buf_free(u);
                        }
                        nftnl_set_elem_add(s, el);
                }
                if (k >= 0)
                        k = emit_set_msg(b, type, s, what);
                nftnl_set_free(s);
        }
        return k;
}

/* A new run's set, with the elements of its @n members from @from on. */
static int emit_run_set(const NftConfig *c, NftBatch *b, const NftRun *run, const Filter *from, size_t n) {
        _cleanup_(nftnl_set_freep) struct nftnl_set *s = NULL;
        int k;

        k = run_set_new(c, b, run, &s);
        if (k >= 0)
                k = emit_set_msg(b, NFT_MSG_NEWSET, s, "a run's set");
        return k < 0 ? k : emit_run_elements(c, b, run, from, n, NFT_MSG_NEWSETELEM);
}

static int emit_delete_run_set(const NftConfig *c, NftBatch *b, const NftRun *run) {
        _cleanup_(nftnl_set_freep) struct nftnl_set *s = run_set_ref(c, run);

        return s ? emit_set_msg(b, NFT_MSG_DELSET, s, "deletion of a run's set") : -ENOMEM;
}

/* The run's rule: the packet's fields side by side in the registers, looked up in its set. */
static int run_rule_build(const NftConfig *c, const NftRun *run, const char *chain, struct nftnl_rule **ret) {
        RuleBuild rb = { .config = c, .filter = run->carrier, .chain = chain };
        char set[NFT_SET_MAXNAMELEN], comment[NFT_SET_MAXNAMELEN + 64];
        uint32_t reg = NFT_REG32_00, len, type;
        int k = 0;

        rb.rule = new_rule(c, chain);
        if (!rb.rule)
                return -ENOMEM;
        if (run->shape & RUN_ADDRESSES)
                k = put_nfproto(rb.rule, wfp_layer_info(run->carrier->layer)->family);
        for (size_t i = 0; k >= 0 && i < ELEMENTSOF(run_fields); i++) {
                if (!(run->shape & (1u << i)))
                        continue;
                rb.dreg = reg;
                k = load_field(&rb, condition_on(run->carrier, run_fields[i]), &len, &type);
                reg += (len + 3) / 4;
        }
        run_set_name(run, set);
        if (k >= 0)
                k = put_lookup(rb.rule, set, 0);
        if (k >= 0 && c->net_events && run->verdict == NF_DROP)
                k = put_net_event_log(rb.rule, c, true, run->id);
        if (k >= 0)
                k = put_verdict(rb.rule, run->verdict, NULL);
        if (k >= 0) {
                snprintf(comment, sizeof(comment), "filter run %u: the filters are the elements of @%s", run->id, set);
                k = set_comment(rb.rule, comment);
        }
        if (k < 0) {
                nftnl_rule_free(rb.rule);
                return k;
        }
        *ret = rb.rule;
        return 0;
}

/* A new run of @f alone: it carries the run's rule, which the caller places like a filter's. */
static int run_new(const NftConfig *c, NftBatch *b, Filter *f, NftRun **ret) {
        NftRun *run = calloc(1, sizeof(*run));
        int k;

        if (!run)
                return -ENOMEM;
        run->id = run_next_id++;
        run->shape = run_shape(c, f);
        run->verdict = verdict_of(f);
        run->carrier = run->head = run->tail = f;
        run->n = 1;
        run->keys_refusals = nft_batch_refusals;
        k = keys_add(run, f);
        if (k >= 0) {
                uint8_t key[16];

                keymap_id_key(run->id, key);
                k = keymap_put(&runs_by_id, key, run);
        }
        if (k >= 0)
                k = nft_batch_track_with(b, run, false, run_free);
        if (k < 0) {
                run_free(run);
                return k;
        }
        *ret = run;
        return 0;
}

/* @f's own links as a member: its run, and its neighbours there (NULL: none), through the undo log. */
static int run_member_set(NftBatch *b, Filter *f, NftRun *run, Filter *prev, Filter *next) {
        int k;

        k = NFT_SET(b, f->nft_run, run);
        if (k >= 0)
                k = NFT_SET(b, f->nft_run_prev, prev);
        if (k >= 0)
                k = NFT_SET(b, f->nft_run_next, next);
        return k;
}

/* Links @f into @run after @after (NULL: first), through the undo log. */
static int run_link(NftBatch *b, NftRun *run, Filter *f, Filter *after) {
        Filter *next = after ? after->nft_run_next : run->head;
        int k;

        k = run_member_set(b, f, run, after, next);
        if (k >= 0)
                k = after ? NFT_SET(b, after->nft_run_next, f) : NFT_SET(b, run->head, f);
        if (k >= 0)
                k = next ? NFT_SET(b, next->nft_run_prev, f) : NFT_SET(b, run->tail, f);
        if (k >= 0)
                k = NFT_SET(b, run->n, run->n + 1);
        if (k >= 0)
                k = keys_add(run, f);
        return k;
}

/* Takes the @n members @from … @to out of @run's list, through the undo log: the members around
 * them are joined, and they are a list of their own (whose run they are in is the caller's). */
static int run_cut(NftBatch *b, NftRun *run, Filter *from, Filter *to, size_t n) {
        Filter *prev = from->nft_run_prev, *next = to->nft_run_next;
        int k;

        k = prev ? NFT_SET(b, prev->nft_run_next, next) : NFT_SET(b, run->head, next);
        if (k >= 0)
                k = next ? NFT_SET(b, next->nft_run_prev, prev) : NFT_SET(b, run->tail, prev);
        if (k >= 0)
                k = NFT_SET(b, from->nft_run_prev, NULL);
        if (k >= 0)
                k = NFT_SET(b, to->nft_run_next, NULL);
        if (k >= 0)
                k = NFT_SET(b, run->n, run->n - n);
        return k;
}

static int run_unlink(NftBatch *b, Filter *f) {
        NftRun *run = f->nft_run;
        int k;

        k = keys_sync(run);
        if (k >= 0)
                keys_remove(run, f);
        if (k >= 0)
                k = run_cut(b, run, f, f, 1);
        if (k >= 0)
                k = NFT_SET(b, f->nft_run, NULL);
        return k;
}

static int emit_filter(const NftConfig *c, NftBatch *b, Filter *f, const char *chain, const NftRuleRef *before) {
        RuleBuild rb = { .config = c, .filter = f, .batch = b, .chain = chain };
        char what[TEXT_MAX];
        uint32_t id;
        int k;

        if (f->nft_run && f->nft_run->carrier == f) {
                snprintf(what, sizeof(what), "rule of filter run %u (filter %" PRIu64 " '%s' and %zu more)",
                         f->nft_run->id, f->id, f->name, f->nft_run->n - 1);
                k = run_rule_build(c, f->nft_run, chain, &rb.rule);
        } else {
                snprintf(what, sizeof(what), "rule for filter %" PRIu64 " '%s'", f->id, f->name);
                k = rule_build(&rb);
        }
        /* the backstop behind nft_check_filter(): a rule over the kernel's limits is not sent */
        if (k >= 0)
                k = rule_check_budget(rb.rule, what, NULL);
        for (size_t i = 0; k >= 0 && i < rb.n_sets; i++)
                k = emit_set(b, rb.sets[i], "anonymous set");
        if (k >= 0)
                k = emit_rule(b, rb.rule, before, &f->nft_handle, &id, what);
        rule_build_done(&rb);
        if (k < 0)
                return k;
        f->nft_rule_id = id;
        f->nft_rule_batch = b->gen;
        return 0;
}

/*
 * The next filter after @f whose rule is placed already; new filters of this batch that come
 * later in the order are not, yet. A transaction that adds many filters to one list would make
 * this walk quadratic, so runs of unplaced filters remember, for this batch, where they end.
 */
static Filter *next_placed(const NftBatch *b, Filter *f) {
        Filter *start = (f->nft_run ? f->nft_run->tail : f)->lnext, *g = start, *u;

        /* a run is placed as one: the walk stops at its first member and answers its carrier */
        while (g && !g->nft_chunk && !g->nft_run)
                g = g->nft_skip_batch == b->gen ? g->nft_skip : g->lnext;
        for (u = start; u && u != g && !u->nft_chunk && !u->nft_run;) {
                Filter *next = u->nft_skip_batch == b->gen ? u->nft_skip : u->lnext;

                u->nft_skip = g;
                u->nft_skip_batch = b->gen;
                u = next;
        }
        return g && g->nft_run ? g->nft_run->carrier : g;
}

/* The chunk of the rule before @f's place: the previous filter's, or its run's. */
static NftChunk *chunk_before(const Filter *f) {
        const Filter *p = f->lprev;

        if (p && p->nft_run)
                p = p->nft_run->carrier;
        return p && p->nft_chunk ? p->nft_chunk : f->sublayer->nft_chunks[f->layer];
}

/* Where a new rule goes in chunk @ch when it comes right after @f (or @f's run): before the
 * next rule if that is in @ch, else before @ch's goto, else at the end. */
static NftRuleRef position_after(const NftBatch *b, NftChunk *ch, Filter *f) {
        Filter *after = next_placed(b, f);

        if (after && after->nft_chunk == ch)
                return filter_ref(b, after);
        if (ch->next)
                return ch->go;
        return (NftRuleRef) {};
}

/* @f's rule into chunk @ch, before the rule @before names (NULL, or naming none: at the end),
 * and the bookkeeping that says it is there. */
static int place_in_chunk(const NftConfig *c, NftBatch *b, Filter *f, NftChunk *ch, const NftRuleRef *before) {
        char chain[NFT_CHAIN_NAME_MAX];
        int k;

        chunk_chain_name(f->layer, f->sublayer, ch, chain);
        k = emit_filter(c, b, f, chain, before && ref_is_set(b, before) ? before : NULL);
        if (k >= 0)
                k = NFT_SET(b, f->nft_chunk, ch);
        if (k >= 0)
                k = NFT_SET(b, ch->n, ch->n + 1);
        return k;
}

/*
 * @f lands between members @p and @q of @run and cannot join it: the run splits there. The
 * part with the carrier keeps the rule and the set; the other part moves to a new run, with a
 * rule of its own next to the old one. The caller then places @f between the two.
 */
static int run_split(const NftConfig *c, NftBatch *b, NftRun *run, Filter *p, Filter *q) {
        NftChunk *ch = run->carrier->nft_chunk;
        Filter *from, *to;
        bool carrier_after = false;
        NftRuleRef before;
        NftRun *other;
        size_t n = 1;
        int k;

        for (Filter *g = q; g; g = g->nft_run_next)
                carrier_after = carrier_after || g == run->carrier;
        from = carrier_after ? run->head : q;
        to = carrier_after ? p : run->tail;
        for (Filter *g = from; g != to; g = g->nft_run_next)
                n++;

        /* the moving members' elements leave the old set, while they still link to each other */
        k = emit_run_elements(c, b, run, from, n, NFT_MSG_DELSETELEM);
        if (k >= 0)
                k = run_new(c, b, from, &other);
        if (k < 0)
                return k;
        other->head = from;
        other->tail = to;
        other->n = n;
        k = run_cut(b, run, from, to, n);
        if (k >= 0)
                k = keys_sync(run);
        for (Filter *g = from; k >= 0 && g; g = g->nft_run_next) {
                keys_remove(run, g);
                if (g != from)
                        k = keys_add(other, g);
                if (k >= 0)
                        k = NFT_SET(b, g->nft_run, other);
        }
        if (k >= 0)
                k = emit_run_set(c, b, other, from, n);
        if (k < 0)
                return k;

        /* its rule: before the old one, or right after it */
        before = carrier_after ? filter_ref(b, run->carrier) : position_after(b, ch, to);
        return place_in_chunk(c, b, from, ch, &before);
}

/*
 * A new filter @f and the runs around it: it joins the run before or after it when it can (1:
 * its element is all it needs); it splits a run it lands inside of; it starts a run when the
 * filter before it is a like one with a rule of its own. 0: @f still needs its rule placed,
 * which for a run's carrier is the run's rule.
 */
static int run_place(const NftConfig *c, NftBatch *b, Filter *f) {
        Filter *p = f->lprev, *q = f->lnext;
        NftRun *pr = p ? p->nft_run : NULL, *qr = q ? q->nft_run : NULL, *run;
        int k;

        k = run_admits(c, pr, f);
        run = k > 0 ? pr : NULL;
        if (k == 0) {
                k = run_admits(c, qr, f);
                run = k > 0 ? qr : NULL;
        }
        if (k < 0)
                return k;
        if (run) {
                k = emit_run_elements(c, b, run, f, 1, NFT_MSG_NEWSETELEM);
                if (k >= 0)
                        k = run_link(b, run, f, run == pr ? p : NULL);
                return k < 0 ? k : 1;
        }
        if (pr && pr == qr) {
                k = run_split(c, b, pr, p, q);
                if (k < 0)
                        return k;
        }
        if (p && !p->nft_run && p->nft_chunk && runs_alike(c, p, f)) {
                k = run_new(c, b, f, &run);
                if (k >= 0)
                        k = NFT_SET(b, f->nft_run, run);
                if (k >= 0)
                        k = emit_run_set(c, b, run, f, 1);
                if (k < 0)
                        return k;
        }
        return 0;
}

/*
 * A deleted filter @f leaves its run: its element goes. When it carried the rule, another
 * member takes the rule over; when it was the last, *ret_dying is the run, whose rule the
 * caller deletes as @f's and then its set.
 */
static int run_leave(const NftConfig *c, NftBatch *b, Filter *f, NftRun **ret_dying) {
        NftRun *run = f->nft_run;
        Filter *g;
        int k;

        *ret_dying = NULL;
        k = emit_run_elements(c, b, run, f, 1, NFT_MSG_DELSETELEM);
        if (k >= 0)
                k = run_unlink(b, f);
        if (k < 0 || run->carrier != f)
                return k;
        if (run->n == 0) {
                *ret_dying = run;
                return 0;
        }
        g = run->head;
        k = NFT_SET(b, g->nft_handle, f->nft_handle);
        if (k >= 0)
                k = NFT_SET(b, g->nft_chunk, f->nft_chunk);
        if (k >= 0)
                k = NFT_SET(b, run->carrier, g);
        if (k >= 0)
                k = NFT_SET(b, f->nft_chunk, NULL);
        return k;
}


/* Splits the full chunk @p at @f's place: a new chunk after @p takes the rules of @p after
 * @f; @f then ends @p, or, when it comes after all of them, starts the new chunk. */
static int chunk_split(const NftConfig *c, NftBatch *b, Filter *f, NftChunk *p) {
        char from[NFT_CHAIN_NAME_MAX], to[NFT_CHAIN_NAME_MAX];
        Sublayer *s = f->sublayer;
        WfpLayer l = f->layer;
        NftChunk *n, *q = p->next;
        size_t moving = 0;
        bool f_in_new;
        int k;

        for (Filter *g = next_placed(b, f); g && g->nft_chunk == p; g = next_placed(b, g))
                moving++;
        f_in_new = moving == 0;

        k = chunk_new(b, s, s->nft_next_chunk, &n);
        if (k >= 0)
                k = NFT_SET(b, s->nft_next_chunk, s->nft_next_chunk + 1);
        if (k < 0)
                return k;
        chunk_chain_name(l, s, p, from);
        chunk_chain_name(l, s, n, to);
        k = emit_chain(c, b, to, -1, 0);
        if (k >= 0 && f_in_new)
                k = place_in_chunk(c, b, f, n, NULL);

        for (Filter *g = next_placed(b, f), *next; k >= 0 && g && g->nft_chunk == p; g = next) {
                NftRuleRef old = filter_ref(b, g);

                next = next_placed(b, g);

                k = emit_delete_ref(c, b, from, &old, "move of a rule to a new chunk");
                if (k >= 0)
                        k = place_in_chunk(c, b, g, n, NULL);
                if (k >= 0)
                        k = NFT_SET(b, p->n, p->n - 1);
        }
        if (k < 0)
                return k;

        /* p -> n -> q; @f, when it stays in p, goes after p's last rule, before its new goto */
        if (q)
                k = emit_goto(c, b, l, s, n, q);
        if (k >= 0 && ref_is_set(b, &p->go))
                k = emit_delete_ref(c, b, from, &p->go, "chunk goto");
        if (k >= 0)
                k = NFT_SET(b, p->go, (NftRuleRef) {});
        if (k >= 0 && !f_in_new)
                k = place_in_chunk(c, b, f, p, NULL);
        if (k >= 0)
                k = emit_goto(c, b, l, s, p, n);
        if (k >= 0)
                k = NFT_SET(b, n->prev, p);
        if (k >= 0)
                k = NFT_SET(b, n->next, q);
        if (k >= 0)
                k = NFT_SET(b, p->next, n);
        if (k >= 0 && q)
                k = NFT_SET(b, q->prev, n);
        return k;
}

static size_t chunk_count(const NftChunk *ch) {
        size_t n = 0;

        for (; ch; ch = ch->next)
                n++;
        return n;
}

/* Places a new filter's rule: in its predecessor's chunk, before the next rule there. Past
 * NFT_CHUNKS_MAX chunks, chunks grow beyond the chunk size instead of splitting. */
static int place_filter(const NftConfig *c, NftBatch *b, Filter *f) {
        Sublayer *s = f->sublayer;
        WfpLayer l = f->layer;
        NftRuleRef before;
        NftChunk *p;
        int k;

        if (c->filter_runs) {
                k = run_place(c, b, f);
                if (k != 0)
                        return k < 0 ? k : 0;
        }
        p = chunk_before(f);

        if (p->n >= c->chunk_size && chunk_count(s->nft_chunks[l]) < NFT_CHUNKS_MAX)
                return chunk_split(c, b, f, p);

        before = position_after(b, p, f);
        return place_in_chunk(c, b, f, p, &before);
}

/* Removes an emptied chunk (never the first) and joins its neighbours. */
static int chunk_remove(const NftConfig *c, NftBatch *b, Sublayer *s, WfpLayer l, NftChunk *ch) {
        char pname[NFT_CHAIN_NAME_MAX], name[NFT_CHAIN_NAME_MAX];
        NftChunk *p = ch->prev, *q = ch->next;
        int k;

        chunk_chain_name(l, s, p, pname);
        chunk_chain_name(l, s, ch, name);
        k = emit_delete_ref(c, b, pname, &p->go, "chunk goto");
        if (k >= 0)
                k = NFT_SET(b, p->go, (NftRuleRef) {});
        if (k >= 0 && q)
                k = emit_goto(c, b, l, s, p, q);
        if (k >= 0)
                k = emit_delete_chain(c, b, name); /* takes its own goto with it */
        if (k >= 0)
                k = NFT_SET(b, p->next, q);
        if (k >= 0 && q)
                k = NFT_SET(b, q->prev, p);
        if (k >= 0)
                k = nft_batch_track(b, ch, true);
        return k;
}

/* ---- the table -------------------------------------------------------------------------- */

/* ALE_FLOW_ESTABLISHED has a base chain on each hook a flow starts on, after the ALE layers
 * there (doc/org.bfed.Engine1.md); the other layers one, named as the kind is. */
static const struct {
        WfpLayerKind kind;
        int hook;
        int prio_offset;
        const char *name;
} base_chains[] = {
        { WFP_LAYER_KIND_INBOUND_TRANSPORT, NF_INET_LOCAL_IN, 0, NULL },
        { WFP_LAYER_KIND_ALE_AUTH_RECV_ACCEPT, NF_INET_LOCAL_IN, 1, NULL },
        { WFP_LAYER_KIND_ALE_AUTH_CONNECT, NF_INET_LOCAL_OUT, 0, NULL },
        { WFP_LAYER_KIND_OUTBOUND_TRANSPORT, NF_INET_LOCAL_OUT, 1, NULL },
        { WFP_LAYER_KIND_IPFORWARD, NF_INET_FORWARD, 0, NULL },
        { WFP_LAYER_KIND_ALE_FLOW_ESTABLISHED, NF_INET_LOCAL_IN, 2, "ale_flow_established_in" },
        { WFP_LAYER_KIND_ALE_FLOW_ESTABLISHED, NF_INET_LOCAL_OUT, 2, "ale_flow_established_out" },
};

static WfpLayer layer_of(WfpLayerKind kind, int family) {
        for (WfpLayer l = 0; l < _WFP_LAYER_MAX; l++)
                if (wfp_layer_info(l)->kind == kind && wfp_layer_info(l)->family == family)
                        return l;
        return _WFP_LAYER_MAX;
}

bool nft_base_chain_at(size_t i, NftBaseChain *ret) {
        if (i >= ELEMENTSOF(base_chains))
                return false;
        *ret = (NftBaseChain) {
                .kind = base_chains[i].kind,
                .name = base_chains[i].name ?: kind_chain[base_chains[i].kind],
                .hook = base_chains[i].hook,
                .prio_offset = base_chains[i].prio_offset,
                .ct_new = wfp_layer_is_ale(layer_of(base_chains[i].kind, 4)),
        };
        return true;
}

/* The base chains, each sending a packet to its family's chain (the ALE ones: new connections only). */
static int emit_base_chains(const NftConfig *c, NftBatch *b) {
        char fam[48];
        int k = 0;

        NftBaseChain bc;

        for (size_t i = 0; k >= 0 && nft_base_chain_at(i, &bc); i++) {
                k = emit_chain(c, b, bc.name, bc.hook, c->priority + bc.prio_offset);
                for (int family = 4; k >= 0 && family <= 6; family += 2) {
                        nft_family_chain_name(layer_of(bc.kind, family), fam);
                        k = emit_jump(c, b, bc.name, family, bc.ct_new, NFT_GOTO, fam, NULL, NULL, NULL);
                }
        }
        return k;
}

/* The jump from layer @l's family chain to sublayer @s's chain: before the jump @before names, or
 * appended. The kernel's handle for it goes to s->jump_handle[l]. */
static int emit_sublayer_jump(const NftConfig *c, NftBatch *b, WfpLayer l, Sublayer *s, const NftRuleRef *before) {
        char fam[48], name[NFT_CHAIN_NAME_MAX];

        nft_family_chain_name(l, fam);
        nft_sublayer_chain_name(l, s, name);
        return emit_jump(c, b, fam, 0, false, NFT_JUMP, name, before, &s->jump_handle[l], NULL);
}

void nft_layout_free(Engine *e) {
        for (Sublayer *s = engine_sublayers(e); s; s = s->next)
                for (WfpLayer l = 0; l < _WFP_LAYER_MAX; l++) {
                        NftChunk *ch = s->nft_chunks[l];
                        while (ch) {
                                NftChunk *next = ch->next;
                                free(ch);
                                ch = next;
                        }
                        s->nft_chunks[l] = NULL;
                }
        /* runs: detach the members, then free each run through its carrier */
        for (Filter *f = engine_filters(e); f; f = f->next)
                if (f->nft_run && f->nft_run->carrier != f)
                        f->nft_run = NULL;
        for (Filter *f = engine_filters(e); f; f = f->next) {
                run_free(f->nft_run);
                f->nft_run = NULL;
                f->nft_run_prev = f->nft_run_next = NULL;
                f->nft_chunk = NULL;
        }
}

/* A sublayer's chunked chains in one layer, filled in order: at start, or when it is new. */
/* Whether @f has a rule of its own: a plain filter, or the carrier of its run. */
static bool has_rule(const Filter *f) {
        return !f->nft_run || f->nft_run->carrier == f;
}

/* The runs of a sublayer's filters in one layer, made afresh: the old ones (if any) go when
 * the batch is applied. Return: the number of rules they need. */
static int runs_form(const NftConfig *c, NftBatch *b, Sublayer *s, WfpLayer l, size_t *ret_rules) {
        size_t n = 0;
        int k = 0;

        for (Filter *f = s->filters_head[l]; k >= 0 && f; f = f->lnext) {
                if (f->nft_run && f->nft_run->carrier == f)
                        k = nft_batch_track_with(b, f->nft_run, true, run_free);
                if (k >= 0)
                        k = run_member_set(b, f, NULL, NULL, NULL);
        }
        for (Filter *f = s->filters_head[l]; k >= 0 && f; f = f->lnext) {
                Filter *p = f->lprev;
                NftRun *run;

                k = p ? run_admits(c, p->nft_run, f) : 0;
                if (k > 0)
                        k = run_link(b, p->nft_run, f, p);
                else if (k == 0 && p && !p->nft_run && runs_alike(c, p, f)) {
                        k = run_new(c, b, f, &run);
                        if (k >= 0)
                                k = NFT_SET(b, f->nft_run, run);
                }
                n += has_rule(f);
        }
        *ret_rules = n;
        return k;
}

static int emit_sublayer_layer(const NftConfig *c, NftBatch *b, Sublayer *s, WfpLayer l) {
        char name[NFT_CHAIN_NAME_MAX];
        NftChunk *first, *cur;
        size_t n_filters = 0, size;
        int k = 0;

        if (c->filter_runs)
                k = runs_form(c, b, s, l, &n_filters);
        else
                for (Filter *f = s->filters_head[l]; f; f = f->lnext)
                        n_filters++;
        if (k < 0)
                return k;
        /* no more than NFT_CHUNKS_MAX chunks: bigger ones when there are many filters */
        size = (n_filters + NFT_CHUNKS_MAX - 1) / NFT_CHUNKS_MAX;
        if (size < c->chunk_size)
                size = c->chunk_size;

        k = chunk_new(b, s, 0, &first);
        if (k >= 0)
                k = NFT_SET(b, s->nft_chunks[l], first);
        if (k >= 0)
                k = NFT_SET(b, s->nft_next_chunk, s->nft_next_chunk ? s->nft_next_chunk : 1);
        cur = first;
        for (Filter *f = s->filters_head[l]; k >= 0 && f; f = f->lnext) {
                if (!has_rule(f)) {
                        k = NFT_SET(b, f->nft_chunk, NULL);
                        continue;
                }
                if (cur->n >= size) {
                        NftChunk *n;
                        k = chunk_new(b, s, s->nft_next_chunk, &n);
                        if (k >= 0)
                                k = NFT_SET(b, s->nft_next_chunk, s->nft_next_chunk + 1);
                        if (k < 0)
                                break;
                        cur->next = n;
                        n->prev = cur;
                        cur = n;
                }
                k = NFT_SET(b, f->nft_chunk, cur);
                cur->n++;
        }
        if (k < 0)
                return k;

        /* chains first (gotos name them), then each chunk's rules and its goto */
        for (NftChunk *ch = first; k >= 0 && ch; ch = ch->next) {
                chunk_chain_name(l, s, ch, name);
                k = emit_chain(c, b, name, -1, 0);
        }
        for (NftChunk *ch = first; k >= 0 && ch; ch = ch->next) {
                chunk_chain_name(l, s, ch, name);
                for (Filter *f = s->filters_head[l]; k >= 0 && f; f = f->lnext) {
                        if (f->nft_chunk != ch || !has_rule(f))
                                continue;
                        if (f->nft_run)
                                k = emit_run_set(c, b, f->nft_run, f->nft_run->head, f->nft_run->n);
                        if (k >= 0)
                                k = emit_filter(c, b, f, name, NULL);
                }
                if (k >= 0 && ch->next)
                        k = emit_goto(c, b, l, s, ch, ch->next);
        }
        return k;
}

/**
 * nft_compile_ruleset() - the whole table in one batch.
 * @replace: take over a table of the same name: create it if missing, delete it, create it
 *   again with c->table_flags — one transaction, so traffic never sees it half-built.
 *
 * What the kernel (checked on 6.18) does with a table we take over:
 *  - one bfed left with the persist flag (stopped with KeepTable=yes, or killed): when its
 *    socket closed the kernel cleared the owner flag and kept the table, rules enforcing, as an
 *    orphan with flags "persist" only. An orphan has no owner, so any process may change or
 *    delete it (and `nft flush ruleset` does delete it). The first NEWTABLE without flags is a
 *    no-op on it, DELTABLE and NEWTABLE(owner|persist) replace it: the same batch works for an
 *    orphan, a table without flags and no table at all. (Adopting it instead — NEWTABLE with
 *    owner|persist on the orphan, which the kernel allows only for orphans — then flushing the
 *    chains, works too, but would leave chains of an older layout behind.)
 *  - one still owned by a live process (another bfed): the first NEWTABLE fails with EPERM
 *    and nothing changes.
 *  - an owner table without persist never needs taking over: the kernel deletes it, silently
 *    (no nftables event), when its owner's socket closes.
 *
 * Every filter's rule is echoed back, so its handle is known after commit.
 *
 * Return: 0; wfp_ret(FWP_E_OUT_OF_BOUNDS) when a filter's rule would be over the kernel's
 * limits on a rule (nft_check_filter() says which and why), then the batch is not to be sent;
 * -ENOMEM.
 */
int nft_compile_ruleset(const Engine *e, const NftConfig *c, bool replace, NftBatch *b) {
        char fam[48];
        int k;

        if (replace) {
                k = emit_table(c, b, NFT_MSG_NEWTABLE, 0, false);
                if (k >= 0)
                        k = emit_table(c, b, NFT_MSG_DELTABLE, 0, false);
                if (k < 0)
                        return k;
        }
        k = emit_table(c, b, NFT_MSG_NEWTABLE, c->table_flags, true);
        if (k >= 0)
                k = emit_ike_ports_set(c, b);
        if (k < 0)
                return k;

        for (WfpLayer l = 0; l < _WFP_LAYER_MAX; l++) {
                if (!wfp_layer_is_emitted(l))
                        continue;
                nft_family_chain_name(l, fam);
                k = emit_chain(c, b, fam, -1, 0);
                for (Sublayer *s = engine_sublayers(e); k >= 0 && s; s = s->next) {
                        /* the old layout goes only if the kernel takes the new one: a refused
                         * reinstall leaves the incremental path what it had */
                        for (NftChunk *ch = s->nft_chunks[l]; k >= 0 && ch; ch = ch->next)
                                k = nft_batch_track(b, ch, true);
                        if (k >= 0)
                                k = emit_sublayer_layer(c, b, s, l);
                        if (k >= 0)
                                k = emit_sublayer_jump(c, b, l, s, NULL);
                }
                if (k < 0)
                        return k;
        }
        k = emit_base_chains(c, b);
        return k < 0 || !c->trace || !engine_exemptions_active(e) ? k : nft_trace_emit(c, b);
}

/* A new sublayer: its chains in every emitted layer, and its jump in the family chain
 * before the jump of the next sublayer by weight. */
static int emit_sublayer(const NftConfig *c, NftBatch *b, Sublayer *s) {
        int k;

        for (WfpLayer l = 0; l < _WFP_LAYER_MAX; l++) {
                const Sublayer *anchor;
                NftRuleRef before = {};

                if (!wfp_layer_is_emitted(l))
                        continue;
                for (anchor = s->next; anchor && anchor->jump_handle[l] == 0; anchor = anchor->next)
                        ;
                if (anchor)
                        before.handle = anchor->jump_handle[l];
                k = emit_sublayer_layer(c, b, s, l);
                if (k >= 0)
                        k = emit_sublayer_jump(c, b, l, s, anchor ? &before : NULL);
                if (k < 0)
                        return k;
        }
        return 0;
}

static int emit_delete_sublayer(const NftConfig *c, NftBatch *b, Sublayer *s) {
        char name[NFT_CHAIN_NAME_MAX], fam[48];
        int k;

        for (WfpLayer l = 0; l < _WFP_LAYER_MAX; l++) {
                NftRuleRef jump = { .handle = s->jump_handle[l] };

                if (!wfp_layer_is_emitted(l) || s->jump_handle[l] == 0)
                        continue;
                nft_sublayer_chain_name(l, s, name);
                nft_family_chain_name(l, fam);
                k = emit_delete_ref(c, b, fam, &jump, "deletion of a sublayer jump");
                if (k >= 0)
                        k = emit_delete_chain(c, b, name); /* its other chunks are gone with its filters */
                if (k >= 0)
                        k = nft_batch_track(b, s->nft_chunks[l], true);
                if (k < 0)
                        return k;
        }
        return 0;
}

static int compare_added(const void *a, const void *b) {
        const Filter *x = *(Filter *const *) a, *y = *(Filter *const *) b;

        if (x->layer != y->layer)
                return x->layer < y->layer ? -1 : 1;
        if (x->sublayer != y->sublayer)
                return x->sublayer->weight > y->sublayer->weight ||
                       (x->sublayer->weight == y->sublayer->weight && x->sublayer->seq < y->sublayer->seq) ? -1 : 1;
        return filter_compare(x, y);
}

/**
 * nft_compile_changes() - the rules the open engine transaction adds and removes.
 *
 * In order: the deleted filters' rules (by handle), then emptied chunks, deleted
 * sublayers, new sublayers, and last the new filters in evaluation order, each placed
 * before the next rule of its chunk (by handle, or by id when that rule is new too).
 *
 * Return: as nft_compile_ruleset().
 */
int nft_compile_changes(const Engine *e, const NftConfig *c, NftBatch *b) {
        _cleanup_(freep) Filter **added = NULL;
        _cleanup_(freep) NftChunk **emptied = NULL;
        _cleanup_(freep) Sublayer **emptied_in = NULL;
        _cleanup_(freep) WfpLayer *emptied_layer = NULL;
        size_t n, n_added = 0, n_emptied = 0;
        const Change *changes;
        int k;

        changes = engine_changes(e, &n);
        added = calloc(n ? n : 1, sizeof(*added));
        emptied = calloc(n ? n : 1, sizeof(*emptied));
        emptied_in = calloc(n ? n : 1, sizeof(*emptied_in));
        emptied_layer = calloc(n ? n : 1, sizeof(*emptied_layer));
        if (!added || !emptied || !emptied_in || !emptied_layer)
                return -ENOMEM;
        k = nft_trace_compile_changes(e, c, b);
        if (k < 0)
                return k;

        for (size_t i = 0; i < n; i++) {
                Filter *f = changes[i].object;
                char chain[NFT_CHAIN_NAME_MAX], what[TEXT_MAX];
                NftRun *dying = NULL;
                NftRuleRef ref;

                if (changes[i].kind != OBJECT_FILTER || changes[i].type != CHANGE_DELETE)
                        continue;
                if (f->nft_run) {
                        k = run_leave(c, b, f, &dying);
                        if (k < 0)
                                return k;
                        if (!dying)
                                continue; /* its element was all it had */
                }
                if (!f->nft_chunk || f->nft_handle == 0)
                        continue; /* added earlier in this transaction, or not emitted */
                ref = (NftRuleRef) { .handle = f->nft_handle };
                chunk_chain_name(f->layer, f->sublayer, f->nft_chunk, chain);
                snprintf(what, sizeof(what), "deletion of the rule for filter %" PRIu64 " '%s'", f->id, f->name);
                k = emit_delete_ref(c, b, chain, &ref, what);
                if (k >= 0)
                        k = NFT_SET(b, f->nft_chunk->n, f->nft_chunk->n - 1);
                if (k >= 0 && dying)
                        k = emit_delete_run_set(c, b, dying); /* after the rule that used it */
                if (k >= 0 && dying)
                        k = nft_batch_track_with(b, dying, true, run_free);
                if (k < 0)
                        return k;
                if (f->nft_chunk->n == 0 && f->nft_chunk->id != 0) {
                        emptied[n_emptied] = f->nft_chunk;
                        emptied_in[n_emptied] = f->sublayer;
                        emptied_layer[n_emptied++] = f->layer;
                }
        }
        for (size_t i = 0; i < n_emptied; i++) {
                k = chunk_remove(c, b, emptied_in[i], emptied_layer[i], emptied[i]);
                if (k < 0)
                        return k;
        }

        for (size_t i = 0; i < n; i++)
                if (changes[i].kind == OBJECT_SUBLAYER && changes[i].type == CHANGE_DELETE) {
                        k = emit_delete_sublayer(c, b, changes[i].object);
                        if (k < 0)
                                return k;
                }
        for (size_t i = 0; i < n; i++) {
                Sublayer *s = changes[i].object;

                if (changes[i].kind != OBJECT_SUBLAYER || changes[i].type != CHANGE_ADD || !s->live)
                        continue;
                k = emit_sublayer(c, b, s);
                if (k < 0)
                        return k;
        }

        for (size_t i = 0; i < n; i++) {
                Filter *f = changes[i].object;

                if (changes[i].kind == OBJECT_FILTER && changes[i].type == CHANGE_ADD && f->live &&
                    wfp_layer_is_emitted(f->layer) && !filter_is_boottime(f))
                        added[n_added++] = f;
        }
        qsort(added, n_added, sizeof(*added), compare_added);
        for (size_t i = 0; i < n_added; i++) {
                k = place_filter(c, b, added[i]);
                if (k < 0)
                        return k;
        }
        return 0;
}

int nft_compile_delete_table(const NftConfig *c, NftBatch *b) {
        return emit_table(c, b, NFT_MSG_DELTABLE, 0, false);
}

/* A kernel without a flag refuses the NEWTABLE with EOPNOTSUPP; one with it commits a no-op. */
int nft_compile_table_flags_probe(const char *name, uint32_t flags, NftBatch *b) {
        int k;

        k = emit_named_table(name, b, NFT_MSG_NEWTABLE, flags, true);
        if (k >= 0)
                k = emit_named_table(name, b, NFT_MSG_DELTABLE, 0, false);
        return k;
}

int nft_compile_trace_probe(const char *name, NftBatch *b) {
        NftConfig c;
        int k;

        nft_config_init(&c);
        snprintf(c.table, sizeof(c.table), "%s", name);
        k = emit_named_table(name, b, NFT_MSG_NEWTABLE, 0, false);
        if (k >= 0)
                k = nft_trace_emit(&c, b);
        if (k >= 0)
                k = emit_named_table(name, b, NFT_MSG_DELTABLE, 0, false);
        return k;
}

/**
 * nft_check_filter() - whether @f's rule fits the kernel, before anything is applied.
 * @f: a filter (it need not be placed yet: its rule is built as the emitter builds it, in a
 *   chain of no consequence)
 * @c: the configuration the rule would be compiled with
 * @err: says how many expressions and bytes the rule would need, the kernel's limits, and
 *   what to do
 *
 * The rule is built exactly as emit_filter() builds it, and measured expression by expression
 * (budget.c), so the two cannot disagree. A filter that can be a member of a run (FilterRuns)
 * also gets that rule checked: the run's rule may come to be carried by this filter; its values
 * are an element of the run's set, which fits by construction (see RUN_KEY_MAX).
 *
 * Return: 0; wfp_ret(FWP_E_OUT_OF_BOUNDS) when a rule would be over a limit; -ENOMEM.
 */
int nft_check_filter(const Filter *f, const NftConfig *config, EngineError *err) {
        /* as the rule is while net events are on, with its log statement: the largest it gets */
        NftConfig worst = *config, *c = &worst;
        RuleBuild rb = { .config = c, .filter = f, .chain = "budget" };
        struct nftnl_rule *r;
        unsigned shape;
        int k;

        worst.net_events = true;
        if (!wfp_layer_is_emitted(f->layer))
                return 0;
        k = rule_build(&rb);
        if (k >= 0)
                k = rule_check_budget(rb.rule, "the filter's rule", err);
        rule_build_done(&rb);
        shape = run_shape(c, f);
        if (k < 0 || shape == 0)
                return k;

        /* the largest run id makes the longest set name; run_rule_build() only reads the carrier */
        NftRun run = { .id = UINT_MAX, .shape = shape, .verdict = verdict_of(f), .carrier = (Filter *) f };
        k = run_rule_build(c, &run, "budget", &r);
        if (k < 0)
                return k;
        k = rule_check_budget(r, "the rule of the filter's run", err);
        nftnl_rule_free(r);
        return k;
}

int nft_filter_rule_text(const Filter *f, const NftConfig *c, char **ret) {
        RuleBuild rb = { .config = c, .filter = f };
        char *buf = NULL;
        size_t size = 0;
        FILE *out;
        int k;

        k = rule_build(&rb);
        if (k < 0) {
                rule_build_done(&rb);
                return k;
        }
        out = open_memstream(&buf, &size);
        if (!out) {
                rule_build_done(&rb);
                return -ENOMEM;
        }
        for (size_t i = 0; i < rb.n_sets; i++) {
                char line[4096];
                nftnl_set_snprintf(line, sizeof(line), rb.sets[i], NFTNL_OUTPUT_DEFAULT, 0);
                fprintf(out, "%s\n", line);
        }
        {
                char line[8192];
                nftnl_rule_snprintf(line, sizeof(line), rb.rule, NFTNL_OUTPUT_DEFAULT, 0);
                fprintf(out, "%s\n", line);
        }
        rule_build_done(&rb);
        if (fclose(out) != 0) {
                free(buf);
                return -ENOMEM;
        }
        *ret = buf;
        return 0;
}

/* Whether chunk @ch of @s in layer @l has a rule that drops: a block or callout filter's, or the
 * rule of a run of them. */
static bool chunk_drops(const Sublayer *s, WfpLayer l, const NftChunk *ch) {
        for (const Filter *f = s->filters_head[l]; f; f = f->lnext)
                if (f->nft_chunk == ch && has_rule(f) && (f->nft_run ? f->nft_run->verdict : verdict_of(f)) == NF_DROP)
                        return true;
        return false;
}

/* Empties chain @name: one message, every rule of it. */
static int emit_flush_chain(const NftConfig *c, NftBatch *b, const char *name) {
        _cleanup_(nftnl_rule_freep) struct nftnl_rule *r = new_rule(c, name);
        struct nlmsghdr *nlh;

        if (!r)
                return -ENOMEM;
        nlh = msg_start(b, NFT_MSG_DELRULE, NLM_F_ACK);
        if (!nlh)
                return -ENOMEM;
        nftnl_rule_nlmsg_build_payload(nlh, r);
        return nft_batch_commit_msg(b, nlh, NULL, "the rules of a chunk, to be put anew");
}

/**
 * nft_compile_net_events() - the rules that drop, with the log statement of the net events
 * (c->net_events) or without it, in a batch of their own.
 *
 * Each chunk chain that has such a rule is emptied and filled again in order: its filters' rules
 * (a run's rule; its set stays) and its goto, each rule appended, each with a new handle that the
 * echo brings back. Replacing the rules one by one would cost the kernel a walk of the chain for
 * each (it finds a rule by its handle): 2.5 s instead of 0.5 s for 10,000 rules, and growing
 * with the square of the chunk. The rules put anew start their counters from 0.
 *
 * Return: 0, -ENOMEM, or wfp_ret(FWP_E_OUT_OF_BOUNDS) for a rule over the kernel's limits.
 */
int nft_compile_net_events(const Engine *e, const NftConfig *c, NftBatch *b) {
        char name[NFT_CHAIN_NAME_MAX];
        int k = 0;

        for (Sublayer *s = engine_sublayers(e); s; s = s->next)
                for (WfpLayer l = 0; l < _WFP_LAYER_MAX; l++) {
                        if (!wfp_layer_is_emitted(l))
                                continue;
                        for (NftChunk *ch = s->nft_chunks[l]; k >= 0 && ch; ch = ch->next) {
                                if (!chunk_drops(s, l, ch))
                                        continue;
                                chunk_chain_name(l, s, ch, name);
                                k = emit_flush_chain(c, b, name);
                                for (Filter *f = s->filters_head[l]; k >= 0 && f; f = f->lnext)
                                        if (f->nft_chunk == ch && has_rule(f))
                                                k = emit_filter(c, b, f, name, NULL);
                                if (k >= 0 && ch->next)
                                        k = emit_goto(c, b, l, s, ch, ch->next);
                        }
                        if (k < 0)
                                return k;
                }
        return 0;
}

/**
 * nft_compile_layout() - the table as bfed's bookkeeping says the kernel has it, for
 * comparing (verify.c); never sent.
 *
 * Unlike nft_compile_ruleset() it lays nothing out anew: the chunk chains, runs (their ids
 * name their sets) and rules in the order they are in, and each rule's record points at the
 * handle bfed keeps for it (a filter's, a chunk's goto, a sublayer's jump); the base chains'
 * dispatch rules have none. It changes no bookkeeping: emit_filter()'s batch id is put back.
 */
int nft_compile_layout(const Engine *e, const NftConfig *c, NftBatch *b) {
        char fam[48], name[NFT_CHAIN_NAME_MAX], next[NFT_CHAIN_NAME_MAX];
        int k;

        k = emit_table(c, b, NFT_MSG_NEWTABLE, c->table_flags, true);
        if (k >= 0)
                k = emit_ike_ports_set(c, b);
        for (WfpLayer l = 0; k >= 0 && l < _WFP_LAYER_MAX; l++) {
                if (!wfp_layer_is_emitted(l))
                        continue;
                nft_family_chain_name(l, fam);
                k = emit_chain(c, b, fam, -1, 0);
                for (Sublayer *s = engine_sublayers(e); k >= 0 && s; s = s->next) {
                        const NftChunk *last = NULL;

                        if (!s->nft_chunks[l])
                                continue;
                        for (NftChunk *ch = s->nft_chunks[l]; k >= 0 && ch; ch = ch->next) {
                                chunk_chain_name(l, s, ch, name);
                                k = emit_chain(c, b, name, -1, 0);
                        }
                        /* one walk: each rule goes to its chunk's chain, in evaluation order there */
                        for (Filter *f = s->filters_head[l]; k >= 0 && f; f = f->lnext) {
                                uint32_t id = f->nft_rule_id, gen = f->nft_rule_batch;

                                if (!f->nft_chunk || !has_rule(f))
                                        continue;
                                if (f->nft_chunk != last) {
                                        chunk_chain_name(l, s, f->nft_chunk, name);
                                        last = f->nft_chunk;
                                }
                                if (f->nft_run)
                                        k = emit_run_set(c, b, f->nft_run, f->nft_run->head, f->nft_run->n);
                                if (k >= 0)
                                        k = emit_filter(c, b, f, name, NULL);
                                f->nft_rule_id = id;
                                f->nft_rule_batch = gen;
                        }
                        /* then each chunk's goto, the last rule of its chain */
                        for (NftChunk *ch = s->nft_chunks[l]; k >= 0 && ch && ch->next; ch = ch->next) {
                                chunk_chain_name(l, s, ch, name);
                                chunk_chain_name(l, s, ch->next, next);
                                k = emit_jump(c, b, name, 0, false, NFT_GOTO, next, NULL, &ch->go.handle, NULL);
                        }
                        if (k >= 0)
                                k = emit_sublayer_jump(c, b, l, s, NULL);
                }
        }
        /* the base chains and the trace chains, as nft_compile_ruleset() makes them */
        if (k >= 0)
                k = emit_base_chains(c, b);
        return k < 0 || !c->trace || !engine_exemptions_active(e) ? k : nft_trace_emit(c, b);
}
