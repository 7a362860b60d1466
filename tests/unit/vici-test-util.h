/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vici-test-util.h — the vici packets recorded from charon (tests/unit/vici/captures). */
#pragma once

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

static const char *const vici_test_captures[] = {
        "list/00-CMD_RESPONSE",   "list/01-CMD_RESPONSE",   "list/02-EVENT_CONFIRM", "list/03-EVENT-list-conn",
        "list/04-EVENT-list-conn", "list/05-EVENT-list-conn", "list/06-EVENT-list-conn",
        "list/07-EVENT-list-conn", "list/08-CMD_RESPONSE",   "log/00-EVENT_CONFIRM",  "log/01-EVENT-log",
        "unknown/00-CMD_UNKNOWN", "unknown/01-EVENT_UNKNOWN",
};
static const size_t vici_test_n_captures = sizeof(vici_test_captures) / sizeof(vici_test_captures[0]);

/* The recorded packet @name (malloc()ed, *@ret_size bytes); fails the test if unreadable. */
static inline uint8_t *vici_test_read_capture(const char *name, size_t *ret_size) {
        char path[4096];
        uint8_t *data;
        long size;
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", VICI_CAPTURES_DIR, name);
        f = fopen(path, "re");
        assert_non_null(f);
        assert_int_equal(fseek(f, 0, SEEK_END), 0);
        size = ftell(f);
        assert_true(size > 0);
        rewind(f);
        data = malloc((size_t) size);
        assert_non_null(data);
        assert_int_equal(fread(data, 1, (size_t) size, f), (size_t) size);
        fclose(f);
        *ret_size = (size_t) size;
        return data;
}
