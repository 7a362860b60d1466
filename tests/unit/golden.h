/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * golden.h — the unit tests' golden files (tests/golden): check_golden() compares a text with
 * one, and BFED_UPDATE_GOLDEN=1 writes the text there instead of comparing (then look at the
 * diff before committing it). For a test's own .c file, after <cmocka.h>; GOLDEN_DIR comes from
 * tests/unit/meson.build.
 */
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The whole file @path, NUL-terminated (free()); NULL when it cannot be opened. */
static inline char *golden_read(const char *path) {
        FILE *f = fopen(path, "re");
        char *buf = NULL;
        size_t n = 0;

        if (!f)
                return NULL;
        if (getdelim(&buf, &n, 0, f) < 0) {
                free(buf);
                buf = strdup("");
        }
        fclose(f);
        return buf;
}

/* Fails the test, with both texts on stderr, when @text is not golden file @name. */
static inline void check_golden(const char *name, const char *text) {
        char path[512];
        char *expected;

        snprintf(path, sizeof(path), "%s/%s", GOLDEN_DIR, name);
        if (getenv("BFED_UPDATE_GOLDEN")) {
                FILE *f = fopen(path, "we");

                assert_non_null(f);
                fputs(text, f);
                fclose(f);
        }
        expected = golden_read(path);
        if (!expected)
                fail_msg("missing golden file %s", path);
        if (strcmp(expected, text) != 0) {
                fprintf(stderr, "--- expected %s\n%s\n--- got\n%s\n", path, expected, text);
                fail_msg("the text differs from %s", path);
        }
        free(expected);
}
