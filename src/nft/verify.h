/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * verify.h — whether the kernel's table is what it must be: the image of what bfed's
 * bookkeeping says the kernel holds, with the rule handles bfed keeps, against the image of
 * the kernel's dump (image.h). Pure: the caller reads the kernel (transport.h) and logs.
 */
#pragma once

#include <stddef.h>

#include "engine.h"
#include "image.h"

typedef struct NftConfig NftConfig;
typedef struct NftLayout NftLayout;

#define NFT_DIFF_SHOWN 5
#define NFT_DIFF_TEXT_MAX 320

typedef struct NftDiff {
        size_t n;                       /* differences found */
        size_t n_shown;                 /* the first ones, described: "chain x: rule 12 (…) is missing" */
        char shown[NFT_DIFF_SHOWN][NFT_DIFF_TEXT_MAX];
        size_t n_chains, n_rules, n_sets, n_elems;      /* what the table must have: what was compared */
} NftDiff;

/**
 * nft_verify_expected() - the image of what table inet c->table must be: the layout bfed's
 * layout has (nft_compile_layout()), its rules marked with the handles bfed keeps for
 * them. Call it with the engine's committed state only (no transaction open): the bookkeeping
 * describes the kernel only then.
 *
 * Return: 0, or a negative errno.
 */
int nft_verify_expected(const Engine *e, NftLayout *L, const NftConfig *c, NftImage **ret);

/**
 * nft_image_compare() - @have (the kernel's) against @want (nft_verify_expected()).
 *
 * Compared: the table's flags; each chain (hook, priority, type, policy) and its rules in
 * order, by content and, where @want tracks it, by handle (a rule deleted and added back the
 * same has a new handle, and bfed's next change would miss it); the named sets and their
 * elements; anonymous sets inside the rules that use them. Not compared: what the image
 * leaves out (counters, use counts, handles nobody tracks; see image.c).
 *
 * Return: 0; @ret->n is 0 when they are the same.
 */
int nft_image_compare(const NftImage *want, const NftImage *have, NftDiff *ret);
