/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * text.h — the free text bfed puts into the kernel (rule and set-element comments), made safe
 * for `nft list ruleset` and for reading that listing back with `nft -f`; and the text it reads
 * from the kernel (names, log prefixes), made safe for the log and the bus.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* The longest comment nft reads back, in bytes without the NUL (NFTNL_UDATA_COMMENT_MAXLEN):
 * its parser refuses a longer one ("comment too long"). */
#define NFT_COMMENT_MAX 128

/* Writes @text to @out as a comment nft can list and read back: at most NFT_COMMENT_MAX
 * bytes, cut on a character boundary, valid UTF-8, no '"' and no control character.
 * Returns its length. */
size_t nft_comment_sanitize(const char *text, char out[static NFT_COMMENT_MAX + 1]);

/* The comment of filter @id named @name, "filter ID: NAME", made safe as nft_comment_sanitize()
 * makes it, without printf(): on its rule, or on each of its elements in a run. Returns its length. */
size_t nft_filter_comment(uint64_t id, const char *name, char out[static NFT_COMMENT_MAX + 1]);

/* Writes the @n bytes at @p, text from the kernel (an attribute's payload), to @buf as text that
 * is safe anywhere: up to its first NUL, at most @size - 1 bytes cut on a character boundary,
 * invalid UTF-8 and control characters as '?'. @p may be NULL when @n is 0. */
void nft_text_from_kernel(const void *p, size_t n, char *buf, size_t size);
