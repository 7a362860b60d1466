/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* guid.c — GUID text form: lower-case, no braces on output; braces and upper case accepted on input. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "guid.h"
#include "macro.h"

/* 0-9, a-f, A-F: '0' is 0x30, 'a' 0x61 and 'A' 0x41, so the low nibble and bit 6 give the value */
static inline bool hex_digit(unsigned char c) {
        return ((unsigned) (c - '0') < 10) | ((unsigned) ((c | 0x20) - 'a') < 6);
}

static inline unsigned hex_value(unsigned char c) {
        return (c & 0xfu) + 9u * (c >> 6 & 1u);
}

/**
 * guid_from_string() - parse "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", optionally in braces.
 * @s: the text
 * @ret: the GUID, written only on success
 *
 * Return: 0, or -EINVAL when @s is not a GUID.
 */
int guid_from_string(const char *s, BfeGuid *ret) {
        /* where each byte's two digits start; the dashes stand at 8, 13, 18 and 23 */
        static const uint8_t at[16] = { 0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34 };
        BfeGuid g;
        size_t len;
        int bad = 0;

        if (!s)
                return -EINVAL;
        len = strnlen(s, 39);
        if (len == 38 && s[0] == '{' && s[37] == '}')
                s++;
        else if (len != 36)
                return -EINVAL;
        if (s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-')
                return -EINVAL;

        /* no branch on the digits, which are random: each would be mispredicted half the time */
        for (size_t i = 0; i < 16; i++) {
                unsigned char hi = (unsigned char) s[at[i]], lo = (unsigned char) s[at[i] + 1];

                bad |= !hex_digit(hi) | !hex_digit(lo);
                g.b[i] = (uint8_t) (hex_value(hi) << 4 | hex_value(lo));
        }
        if (bad)
                return -EINVAL;
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

/* Random bytes for keys, fetched 4 KiB at a time: one getrandom() for 256 keys rather than one
 * each (a transaction of 100,000 filters made 100,000 calls). Per thread, and a process that
 * forked fetches its own, so no two keep handing out the same bytes: a fork handler empties the
 * pool in the child (asking getpid() for every key instead was a system call a filter), and only
 * if it could not be registered does every key compare the pid. */
static __thread struct {
        uint8_t b[4096];
        size_t used;
        pid_t pid;
} key_pool = { .used = sizeof(key_pool.b) };

static pthread_once_t key_pool_once = PTHREAD_ONCE_INIT;
static bool key_pool_fork_handled;

static void key_pool_forked(void) {
        key_pool.used = sizeof(key_pool.b);     /* the forking thread's, the child's only one */
}

static void key_pool_handle_fork(void) {
        key_pool_fork_handled = pthread_atfork(NULL, NULL, key_pool_forked) == 0;
}

/* A random (version 4, RFC 4122 variant) GUID. */
int guid_generate(BfeGuid *ret) {
        BfeGuid g;

        (void) pthread_once(&key_pool_once, key_pool_handle_fork);
        if (key_pool.used + sizeof(g.b) > sizeof(key_pool.b) ||
            (!key_pool_fork_handled && key_pool.pid != getpid())) {
                for (size_t got = 0; got < sizeof(key_pool.b);) {
                        ssize_t n = getrandom(key_pool.b + got, sizeof(key_pool.b) - got, 0);

                        if (n < 0 && errno != EINTR)
                                return -errno;
                        if (n > 0)
                                got += (size_t) n;      /* a signal may cut a large request short */
                }
                key_pool.used = 0;
                if (!key_pool_fork_handled)
                        key_pool.pid = getpid();
        }
        memcpy(g.b, key_pool.b + key_pool.used, sizeof(g.b));
        key_pool.used += sizeof(g.b);
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
