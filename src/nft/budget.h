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

/* A condition, or a group of ORed conditions on one field, adds at most this much to a rule, and
 * the rest of a rule (the family, the port guard, counter, log statement, verdict or callout
 * map) takes at most the frame: test-compile measures both over every field and match type. So a
 * filter of at most NFT_CONDITIONS_ALWAYS_FIT conditions fits, whatever they are, and need not be
 * built to be counted. */
#define NFT_CONDITION_EXPRS_MAX 6
#define NFT_CONDITION_BYTES_MAX 192
#define NFT_RULE_FRAME_EXPRS_MAX 16
#define NFT_RULE_FRAME_BYTES_MAX 512
#define NFT_CONDITIONS_ALWAYS_FIT 16
_Static_assert(NFT_RULE_FRAME_EXPRS_MAX + NFT_CONDITIONS_ALWAYS_FIT * NFT_CONDITION_EXPRS_MAX <= NFT_RULE_EXPRS_MAX &&
               NFT_RULE_FRAME_BYTES_MAX + NFT_CONDITIONS_ALWAYS_FIT * NFT_CONDITION_BYTES_MAX <= NFT_RULE_BYTES_MAX,
               "a filter of NFT_CONDITIONS_ALWAYS_FIT conditions must fit the kernel's limits");

/* The cost of @r's expressions, as the kernel will count them. */
NftRuleCost nft_rule_cost(struct nftnl_rule *r);

static inline bool nft_rule_cost_fits(NftRuleCost c) {
        return c.exprs <= NFT_RULE_EXPRS_MAX && c.bytes <= NFT_RULE_BYTES_MAX;
}
