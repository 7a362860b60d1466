/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* text.c — see text.h. */
#include <string.h>

#include "text.h"
#include "utf8.h"

/*
 * nft prints a comment between double quotes exactly as the kernel holds it, with no escaping,
 * and its scanner takes a quoted string to be everything up to the next '"' (\"[^"]*\" in
 * scanner.l; checked with nft 1.0.6 by loading every byte into a comment with libnftnl,
 * listing it and loading the listing again). So:
 *
 *  - '"' ends the string early, and nft reads the rest of the comment as nft syntax: a filter
 *    named `x" drop; } } table ip evil { … ` puts a table of its author's into every ruleset
 *    that is saved with `nft list ruleset` and restored with `nft -f`. It becomes '\'', which
 *    reads much the same.
 *  - Control characters (C0, DEL, and the C1 range U+0080–U+009F) survive the round trip, but
 *    a newline splits the listing's line and an escape sequence reaches whoever reads it on a
 *    terminal: each becomes a space.
 *  - A backslash is taken literally, even right before the closing quote: it stays, as do
 *    '#', ';', '{' and '}', which are plain characters inside a quoted string.
 *  - A byte that is not part of a valid UTF-8 character becomes '?' (utf8_make_valid):
 *    names from the bus are valid already, but a comment must not depend on that.
 *  - Then the text is cut to NFT_COMMENT_MAX bytes on a character boundary.
 */
size_t nft_comment_sanitize(const char *text, char out[static NFT_COMMENT_MAX + 1]) {
        /* Replacing a C1 character shrinks it from 2 bytes to 1, so twice the limit is the
         * most input that can end up in the comment; the rest is never looked at. */
        char buf[2 * NFT_COMMENT_MAX + 1];
        size_t n = strnlen(text, 2 * NFT_COMMENT_MAX), o = 0;

        memcpy(buf, text, n);
        buf[n] = 0;
        utf8_make_valid(buf);   /* also drops a character the copy cut in two */

        for (size_t i = 0; buf[i]; i++) {
                unsigned char ch = (unsigned char) buf[i];

                if (ch == '"')
                        buf[o++] = '\'';
                else if (ch < 0x20 || ch == 0x7f)
                        buf[o++] = ' ';
                else if (ch == 0xc2 && (unsigned char) buf[i + 1] >= 0x80 && (unsigned char) buf[i + 1] <= 0x9f) {
                        buf[o++] = ' ';
                        i++;
                } else
                        buf[o++] = (char) ch;
        }
        buf[o] = 0;

        n = utf8_cut_len(buf, NFT_COMMENT_MAX);
        memcpy(out, buf, n);
        out[n] = 0;
        return n;
}

size_t nft_filter_comment(uint64_t id, const char *name, char out[static NFT_COMMENT_MAX + 1]) {
        /* nft_comment_sanitize() looks at no more than 2 * NFT_COMMENT_MAX bytes of its text */
        char text[2 * NFT_COMMENT_MAX + 1], digits[20];
        size_t n = 7, d = 0, len;

        memcpy(text, "filter ", n);
        do
                digits[d++] = (char) ('0' + id % 10);
        while ((id /= 10) > 0);
        while (d > 0)
                text[n++] = digits[--d];
        text[n++] = ':';
        text[n++] = ' ';
        len = strnlen(name, sizeof(text) - 1 - n);
        memcpy(text + n, name, len);
        text[n + len] = 0;
        return nft_comment_sanitize(text, out);
}

void nft_text_from_kernel(const void *p, size_t n, char *buf, size_t size) {
        const char *nul = n > 0 ? memchr(p, 0, n) : NULL;

        if (nul)
                n = (size_t) (nul - (const char *) p);
        if (n > size - 1)
                n = size - 1;
        if (n > 0)
                memcpy(buf, p, n);
        buf[n] = 0;
        utf8_make_valid(buf);
        for (char *c = buf; *c; c++)
                if ((unsigned char) *c < 0x20 || *c == 0x7f)
                        *c = '?';
}
