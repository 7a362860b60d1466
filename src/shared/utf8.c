/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* utf8.c — see utf8.h. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

static bool unichar_is_valid(uint32_t c) {
        if (c >= 0x110000)
                return false;
        if ((c & 0xFFFFF800) == 0xD800)         /* surrogates */
                return false;
        if (c >= 0xFDD0 && c <= 0xFDEF)         /* noncharacters */
                return false;
        if ((c & 0xFFFE) == 0xFFFE)             /* U+xFFFE and U+xFFFF */
                return false;
        return true;
}

/* The length of the valid character at @s (at most @n bytes available), or 0 if there is
 * none: a bad lead byte, a missing or bad continuation byte, an overlong form, a NUL. */
static size_t char_len(const unsigned char *s, size_t n) {
        uint32_t c;
        size_t len;

        if (n == 0 || s[0] == 0)
                return 0;
        if (s[0] < 0x80)
                return 1;
        if ((s[0] & 0xE0) == 0xC0) {
                len = 2;
                c = s[0] & 0x1F;
        } else if ((s[0] & 0xF0) == 0xE0) {
                len = 3;
                c = s[0] & 0x0F;
        } else if ((s[0] & 0xF8) == 0xF0) {
                len = 4;
                c = s[0] & 0x07;
        } else
                return 0;
        if (len > n)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xC0) != 0x80)
                        return 0;
                c = (c << 6) | (s[i] & 0x3F);
        }
        /* the shortest form only */
        if ((len == 2 && c < 0x80) || (len == 3 && c < 0x800) || (len == 4 && c < 0x10000))
                return 0;
        return unichar_is_valid(c) ? len : 0;
}

bool utf8_is_valid_n(const char *s, size_t n) {
        const unsigned char *p = (const unsigned char *) s;

        while (n > 0) {
                size_t k = char_len(p, n);

                if (k == 0)
                        return false;
                p += k;
                n -= k;
        }
        return true;
}

bool utf8_is_valid(const char *s) {
        return utf8_is_valid_n(s, strlen(s));
}

size_t utf8_cut_len(const char *s, size_t max) {
        size_t n = strnlen(s, max + 1);

        if (n <= max)
                return n;
        n = max;
        /* back over continuation bytes to the lead byte of the character that does not fit */
        while (n > 0 && ((unsigned char) s[n] & 0xC0) == 0x80)
                n--;
        return n;
}

char *utf8_truncate(char *s, size_t max) {
        s[utf8_cut_len(s, max)] = 0;
        return s;
}

/* Whether the @n bytes at @s are the start of a character that was cut off. */
static bool is_cut_char(const unsigned char *s, size_t n) {
        size_t len = (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3 : (s[0] & 0xF8) == 0xF0 ? 4 : 0;

        if (len == 0 || n >= len)
                return false;
        for (size_t i = 1; i < n; i++)
                if ((s[i] & 0xC0) != 0x80)
                        return false;
        return true;
}

char *utf8_make_valid(char *s) {
        unsigned char *p = (unsigned char *) s;
        size_t n;

        /* ASCII, nearly every text here (comments, names), needs no decoding */
        while (*p >= 0x01 && *p <= 0x7F)
                p++;
        n = strlen((const char *) p);
        while (n > 0) {
                size_t k = *p >= 0x01 && *p <= 0x7F ? 1 : char_len(p, n);

                if (k == 0 && is_cut_char(p, n)) {
                        *p = 0;         /* a string cut inside its last character */
                        break;
                }
                if (k == 0) {
                        *p = '?';
                        k = 1;
                }
                p += k;
                n -= k;
        }
        return s;
}

char *utf8_make_printable(char *s) {
        utf8_make_valid(s);
        for (char *p = s; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        *p = '?';
        return s;
}

/* Whether the character of @len bytes at @s is a control character (C0, DEL, C1). */
static bool is_control(const unsigned char *s, size_t len) {
        if (len == 1)
                return s[0] < 0x20 || s[0] == 0x7F;
        return len == 2 && s[0] == 0xC2 && s[1] < 0xA0;        /* U+0080 to U+009F */
}

char *utf8_escape(const char *s, size_t n, size_t max) {
        const unsigned char *p = (const unsigned char *) s;
        size_t o = 0;
        char *out;

        out = malloc(max + 1);
        if (!out)
                return NULL;
        while (n > 0) {
                size_t k = char_len(p, n);

                if (k > 0 && !is_control(p, k) && p[0] != '\\') {
                        if (o + k > max)
                                break;
                        memcpy(out + o, p, k);
                        o += k;
                } else if (p[0] == '\\') {
                        if (o + 2 > max)
                                break;
                        out[o++] = '\\';
                        out[o++] = '\\';
                        k = 1;
                } else {
                        /* every byte of a control character, or the one byte that starts nothing */
                        k = k ? k : 1;
                        if (o + 4 * k > max)
                                break;
                        for (size_t i = 0; i < k; i++, o += 4)
                                (void) snprintf(out + o, 5, "\\x%02x", p[i]);
                }
                p += k;
                n -= k;
        }
        out[o] = 0;
        return out;
}
