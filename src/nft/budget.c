/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* budget.c — see budget.h. */
#include <linux/netfilter/nf_tables.h>
#include <stdint.h>
#include <stdio.h>              /* libnftnl's headers need FILE */

#include <libnftnl/expr.h>
#include <libnftnl/rule.h>

#include "budget.h"
#include "macro.h"

/*
 * The bytes an expression takes in the kernel's rule: NFT_EXPR_SIZE() of the private struct of
 * the ops the kernel selects for it, that is the ops pointer plus the struct rounded up to 8.
 * For cmp and bitwise the kernel picks smaller "fast" ops when the operand allows, and so does
 * this table. Measured on Linux 6.18 (x86_64) by filling one rule with each kind behind a
 * known one until the kernel refused it; a 32-bit kernel has smaller pointers, so there this
 * errs on the side of refusing.
 */
static const struct {
        const char *name;
        size_t bytes;
} expr_bytes[] = {
        { "meta", 16 },         /* struct nft_meta */
        { "payload", 16 },      /* struct nft_payload, fast ops or not */
        { "ct", 16 },           /* struct nft_ct */
        { "socket", 16 },       /* struct nft_socket */
        { "rt", 16 },           /* struct nft_rt */
        { "counter", 16 },      /* struct nft_counter_percpu_priv */
        { "immediate", 32 },    /* struct nft_immediate_expr: an nft_data */
        { "range", 48 },        /* struct nft_range_expr: two nft_data */
        { "lookup", 56 },       /* struct nft_lookup, with its set binding */
};
#define CMP_FAST_BYTES 24       /* struct nft_cmp_fast_expr: == or != on up to 4 bytes */
#define CMP16_FAST_BYTES 48     /* struct nft_cmp16_fast_expr: == or != on 16 bytes */
#define CMP_BYTES 32            /* struct nft_cmp_expr: the rest */
#define BITWISE_FAST_BYTES 24   /* struct nft_bitwise_fast_expr: mask and xor on 4 bytes */
#define BITWISE_BYTES 64        /* struct nft_bitwise */
#define UNKNOWN_BYTES 64        /* the largest above: a kind the table misses is not waved through */

static size_t expr_cost(struct nftnl_expr *e) {
        const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
        uint32_t len = 0;

        if (streq(name, "cmp")) {
                uint32_t op = nftnl_expr_get_u32(e, NFTNL_EXPR_CMP_OP);

                (void) nftnl_expr_get(e, NFTNL_EXPR_CMP_DATA, &len);
                if (op == NFT_CMP_EQ || op == NFT_CMP_NEQ) {
                        if (len <= sizeof(uint32_t))
                                return CMP_FAST_BYTES;
                        if (len == 4 * sizeof(uint32_t))
                                return CMP16_FAST_BYTES;
                }
                return CMP_BYTES;
        }
        if (streq(name, "bitwise"))
                return nftnl_expr_get_u32(e, NFTNL_EXPR_BITWISE_LEN) == sizeof(uint32_t) ? BITWISE_FAST_BYTES
                                                                                        : BITWISE_BYTES;
        for (size_t i = 0; i < ELEMENTSOF(expr_bytes); i++)
                if (streq(name, expr_bytes[i].name))
                        return expr_bytes[i].bytes;
        return UNKNOWN_BYTES;
}

static int add_cost(struct nftnl_expr *e, void *userdata) {
        NftRuleCost *c = userdata;

        c->exprs++;
        c->bytes += expr_cost(e);
        return 0;
}

NftRuleCost nft_rule_cost(struct nftnl_rule *r) {
        NftRuleCost c = {};

        (void) nftnl_expr_foreach(r, add_cost, &c);
        return c;
}
