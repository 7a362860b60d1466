/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* guid.c — GUID text form: lower-case, no braces on output; braces and upper case accepted on input. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "guid.h"
#include "macro.h"

/**
 * guid_from_string() - parse "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", optionally in braces.
 * @s: the text
 * @ret: the GUID, written only on success
 *
 * Return: 0, or -EINVAL when @s is not a GUID.
 */
int guid_from_string(const char *s, BfeGuid *ret) {
        BfeGuid g;
        size_t len, i, n = 0;
        bool braces;

        if (!s)
                return -EINVAL;
        len = strlen(s);
        braces = len == 38 && s[0] == '{' && s[37] == '}';
        if (braces)
                s++;
        else if (len != 36)
                return -EINVAL;

        for (i = 0; i < 36; i++) {
                int hi, lo;

                if (i == 8 || i == 13 || i == 18 || i == 23) {
                        if (s[i] != '-')
                                return -EINVAL;
                        continue;
                }
                hi = unhexchar(s[i]);
                lo = unhexchar(s[i + 1]);
                if (hi < 0 || lo < 0)
                        return -EINVAL;
                g.b[n++] = (uint8_t) (hi << 4 | lo);
                i++;
        }
        *ret = g;
        return 0;
}

char *guid_to_string(const BfeGuid *g, char buf[static GUID_STRING_MAX]) {
        static const char hex[] = "0123456789abcdef";
        char *p = buf;

        /* by hand, not snprintf: every reply, signal and log line formats keys */
        for (size_t i = 0; i < 16; i++) {
                if (i == 4 || i == 6 || i == 8 || i == 10)
                        *p++ = '-';
                *p++ = hex[g->b[i] >> 4];
                *p++ = hex[g->b[i] & 15];
        }
        *p = '\0';
        return buf;
}

bool guid_is_null(const BfeGuid *g) {
        static const BfeGuid null;

        return !g || memcmp(g, &null, sizeof(null)) == 0;
}

bool guid_equal(const BfeGuid *a, const BfeGuid *b) {
        return memcmp(a, b, sizeof(*a)) == 0;
}

/* A random (version 4, RFC 4122 variant) GUID. */
int guid_generate(BfeGuid *ret) {
        BfeGuid g;
        ssize_t n;

        n = getrandom(g.b, sizeof(g.b), 0);
        if (n < 0)
                return -errno;
        if ((size_t) n != sizeof(g.b))
                return -EIO;
        g.b[6] = (g.b[6] & 0x0f) | 0x40;
        g.b[8] = (g.b[8] & 0x3f) | 0x80;
        *ret = g;
        return 0;
}

const char *guid_str(const BfeGuid *g) {
        static char bufs[4][GUID_STRING_MAX];
        static unsigned next;

        return guid_to_string(g, bufs[next++ % 4]);
}
