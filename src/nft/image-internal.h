/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * image-internal.h — what image.c (the messages, the passes) and image-render.c (attributes
 * read safely, the canonical text) share. Not for anyone else, but for obstacles-read.c, which
 * reads its attributes with the same safe readers: use image.h.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image.h"
#include "macro.h"

struct nlattr;

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

/* ---- attributes: each false when the attribute is missing or not what it must be ---------- */

/* A level of attributes: false for a type >= ATTR_MAX, a type given twice, or bytes that are
 * no attribute. */
bool img_attrs_parse(const void *data, size_t len, Attrs *a);
bool img_attrs_nested(const struct nlattr *attr, Attrs *a);
bool img_get_u32(const struct nlattr *a, uint32_t *ret);
bool img_get_u64(const struct nlattr *a, uint64_t *ret);
/* A NUL-terminated string without a NUL inside. */
bool img_get_str(const struct nlattr *a, const char **ret, size_t *ret_len);
bool img_attr_is_str(const struct nlattr *a, const char *s);
/* An optional attribute: true when it is there and reads as it must; when it is there and does
 * not, false and p->bad (the message is malformed, not one without it). */
bool img_opt_u32(Parser *p, const struct nlattr *a, uint32_t *ret);
bool img_opt_u64(Parser *p, const struct nlattr *a, uint64_t *ret);
bool img_opt_str(Parser *p, const struct nlattr *a, const char **ret, size_t *ret_len);

/* ---- text: appended to the image; on failure p->error is set and stays ------------------- */

void img_put(Parser *p, const void *data, size_t n);
#define PUT_LIT(p, lit) img_put((p), "" lit, sizeof(lit) - 1)
_printf_(2, 3) void img_putf(Parser *p, const char *fmt, ...);
void img_put_escaped(Parser *p, const void *data, size_t n);
void img_put_raw(Parser *p, const struct nlattr *attr);          /* its payload, in hex */
/* An optional attribute after @label ("label=value"): nothing when it is not there. */
void img_put_raw_attr(Parser *p, const char *label, const struct nlattr *attr);
void img_put_str_attr(Parser *p, const char *label, const struct nlattr *attr);  /* escaped */
uint32_t img_mark(Parser *p);                                    /* where the next text starts */
NftImageText img_since(Parser *p, uint32_t start);               /* the text from @start on */
int img_text_cmp(const NftImage *img, NftImageText a, NftImageText b);

/* ---- what things render to: p->bad when they make no sense ------------------------------- */

void img_put_policy(Parser *p, uint32_t v);
void img_put_data(Parser *p, const struct nlattr *attr);        /* nft_data: a value or a verdict */
void img_put_expr(Parser *p, const struct nlattr *attr, unsigned depth);
void img_put_exprs(Parser *p, const struct nlattr *one, const struct nlattr *list, unsigned depth);
/* An expression of an NFTA_*_EXPRESSIONS list, after a space unless it is the *@first: false
 * (and p->bad) when the list holds something else. */
bool img_put_list_expr(Parser *p, const struct nlattr *e, unsigned depth, bool *first);
/* Userdata TLVs; a comment (type 0) as text, its place in *@ret_comment. */
void img_put_udata(Parser *p, const struct nlattr *attr, bool comments, NftImageText *ret_comment);

/* ---- sets -------------------------------------------------------------------------------- */

int img_set_id_cmp(const void *a, const void *b, void *userdata);       /* qsort_r on indices */
int img_set_name_cmp(const void *a, const void *b, void *userdata);
/* The set a lookup or an element message names: by id when it has one, else by name. */
const NftImageSet *img_find_set(Parser *p, const char *name, size_t len, uint32_t id);
