/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * budget.h — what one rule costs the kernel, and whether it fits. Pure: it only looks at a
 * built libnftnl rule.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct nftnl_rule;

/* nf_tables_newrule() refuses a rule of more than NFT_RULE_MAXEXPRS expressions (EINVAL), and
 * one whose expressions take 4096 bytes or more (EFBIG: the rule's length is 12 bits), without
 * a word of which. */
#define NFT_RULE_EXPRS_MAX 128
#define NFT_RULE_BYTES_MAX 4095

typedef struct NftRuleCost {
        size_t exprs;
        size_t bytes;                   /* what the expressions take in the kernel's rule */
} NftRuleCost;

/* The cost of @r's expressions, as the kernel will count them. */
NftRuleCost nft_rule_cost(struct nftnl_rule *r);

static inline bool nft_rule_cost_fits(NftRuleCost c) {
        return c.exprs <= NFT_RULE_EXPRS_MAX && c.bytes <= NFT_RULE_BYTES_MAX;
}
