/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-swconf.c — libFuzzer target: strongswan.conf text through bfed-vici's reader
 * (swconf_load_buffer(), includes ignored). A refusal names "fuzz:LINE"; what is read keeps
 * the limits, each key once, made of name characters and dots, its value without a NUL; the
 * same text read again gives the same settings; every value survives swconf_parse_mark().
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "swconf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int load(const uint8_t *data, size_t size, SwConf **ret) {
        _cleanup_(freep) char *error = NULL;
        SwConf *c = swconf_new();
        int r;

        if (!c)
                abort();
        r = swconf_load_buffer(c, "fuzz", NULL, (const char *) data, size, &error);
        if (r < 0 && (r != -EINVAL || !error || strncmp(error, "fuzz:", 5) != 0))
                abort();
        if (r == 0 && error)
                abort();
        *ret = c;
        return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(swconf_freep) SwConf *c = NULL, *again = NULL;
        size_t n;
        int r;

        r = load(data, size, &c);
        if (load(data, size, &again) != r || swconf_size(again) != swconf_size(c))
                abort();
        n = swconf_size(c);
        if (n > SWCONF_KEYS_MAX)
                abort();
        for (size_t i = 0; i < n; i++) {
                const char *key, *value, *key2, *value2;
                uint32_t mark;

                swconf_entry(c, i, &key, &value);
                swconf_entry(again, i, &key2, &value2);
                if (!streq(key, key2) || !streq(value, value2))
                        abort();
                if (!*key || strlen(key) > SWCONF_KEY_MAX || strlen(value) > SWCONF_VALUE_MAX || key[0] == '.' ||
                    strstr(key, "..") || strpbrk(key, ",:{}=\"# \t\r\n"))
                        abort();
                /* each key once: the one swconf_get() finds is this entry */
                if (swconf_get(c, key) != value)
                        abort();
                (void) swconf_parse_mark(value, &mark);
        }
        return 0;
}
