/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * image.h — one inet table as a canonical image: its chains, rules in order, named sets with
 * their elements, read from a buffer of nftables netlink messages. The same parser reads the
 * kernel's dumps and bfed's own batches, so the two can be compared (verify.h).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "array.h"
#include "macro.h"

/* A piece of the image's text: canonical, printable ASCII, compared byte for byte. */
typedef struct NftImageText {
        uint32_t off, len;
} NftImageText;

typedef struct NftImageRule {
        uint32_t chain;                 /* index in chains */
        uint32_t seq;                   /* its message's sequence number (a batch's record) */
        uint64_t handle;                /* NFTA_RULE_HANDLE; 0 when the message has none */
        bool tracked;                   /* verify.c: @handle is the one bfed's bookkeeping has */
        NftImageText text;              /* expressions (anonymous sets inline) and userdata */
        NftImageText comment;           /* its comment, for messages; empty when none */
} NftImageRule;

typedef struct NftImageChain {
        NftImageText name;
        NftImageText attrs;             /* hook, priority, type, policy, flags, userdata */
        ArraySpan rules;                /* its rules, in order, in rules[] */
} NftImageChain;

typedef struct NftImageSet {
        NftImageText name;
        NftImageText attrs;             /* flags, key and data types, expressions, userdata */
        NftImageText exprs;             /* its expressions alone: the template of its elements' */
        uint32_t id;                    /* NFTA_SET_ID (batches only), 0 when none */
        bool anonymous;                 /* compared inline, in the rule that looks it up */
        size_t first_elem, n_elems;     /* its elements, sorted by text, in elems[] */
} NftImageSet;

typedef struct NftImageElem {
        uint32_t set;
        NftImageText key;               /* the start of text: the element's key (and end key) */
        NftImageText text;
} NftImageElem;

typedef struct NftImage {
        bool has_table;
        NftImageText table_attrs;       /* flags, userdata */
        NftImageChain *chains;          /* sorted by name */
        size_t n_chains;
        NftImageRule *rules;            /* grouped by chain, each chain's in order */
        size_t n_rules;
        NftImageSet *sets;              /* in message order */
        size_t n_sets;
        uint32_t *sets_by_name;         /* indices in sets, by name (then id) */
        NftImageElem *elems;            /* grouped by set */
        size_t n_elems;
        NftImageText *objects;          /* stateful objects and flowtables: "flowtable ft" */
        size_t n_objects;
        /* messages about the table that did not make sense (a bad attribute, a rule in a chain
         * that is not there, …): what they said is not in the image */
        size_t n_malformed;
        char *text;
        size_t text_len, text_alloc, text_max;
} NftImage;

/* Room for the image's text: this many times the input, plus a floor. Rendering expands some
 * input (hex; an anonymous set inline in its rule), and input that reuses one set in many
 * rules would otherwise multiply. */
#define NFT_IMAGE_TEXT_FACTOR 8
#define NFT_IMAGE_TEXT_FLOOR (1u << 20)

/**
 * nft_image_parse() - the image of table inet @table in a buffer of netlink messages.
 * @buf, @len: any sequence of netlink messages (a kernel dump, a batch); nothing in it is
 *   trusted: lengths, attribute types and counts are checked, and what does not parse is
 *   counted in n_malformed. Messages of other tables, families or types are skipped, and so
 *   are deletions: the image is of the state the NEW* messages describe.
 *
 * Pure: no I/O, no global state; a fuzzer may call it with anything.
 *
 * Return: 0; -EINVAL for a bad argument; -ENOMEM; -E2BIG when the image would be larger than
 * NFT_IMAGE_TEXT_FACTOR times the input.
 */
int nft_image_parse(const void *buf, size_t len, const char *table, NftImage **ret);
NftImage *nft_image_free(NftImage *img);
DEFINE_TRIVIAL_CLEANUP_FUNC(NftImage *, nft_image_free);

/* The text of @t, not NUL-terminated: print with "%.*s", (int) t.len, nft_image_str(img, t). */
static inline const char *nft_image_str(const NftImage *img, NftImageText t) {
        return img->text + t.off;
}

/* The chain named @name, or NULL. */
const NftImageChain *nft_image_find_chain(const NftImage *img, const char *name, size_t len);
