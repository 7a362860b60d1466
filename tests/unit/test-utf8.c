/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-utf8.c — what counts as valid UTF-8 (sd-bus's rules), cutting on boundaries, repair, log lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"
#include "macro.h"
#include "utf8.h"

static void test_valid(void **state) {
        assert_true(utf8_is_valid(""));
        assert_true(utf8_is_valid("plain ascii"));
        assert_true(utf8_is_valid("Grüße, 東京, 🦊"));
        assert_true(utf8_is_valid("\xef\xbf\xbd"));             /* U+FFFD */
        assert_true(utf8_is_valid("\xf4\x8f\xbf\xbd"));         /* U+10FFFD */

        assert_false(utf8_is_valid("\x80"));                    /* lone continuation */
        assert_false(utf8_is_valid("\xc3"));                    /* cut after the lead byte */
        assert_false(utf8_is_valid("\xe6\x9d"));                /* cut inside */
        assert_false(utf8_is_valid("\xc0\xaf"));                /* overlong '/' */
        assert_false(utf8_is_valid("\xe0\x80\xaf"));            /* overlong */
        assert_false(utf8_is_valid("\xed\xa0\x80"));            /* surrogate U+D800 */
        assert_false(utf8_is_valid("\xf4\x90\x80\x80"));        /* U+110000 */
        assert_false(utf8_is_valid("\xef\xbf\xbe"));            /* U+FFFE */
        assert_false(utf8_is_valid("\xef\xb7\x90"));            /* U+FDD0 */
        assert_false(utf8_is_valid("\xf8\x88\x80\x80\x80"));    /* 5-byte form */
        assert_false(utf8_is_valid("\xff"));

        assert_true(utf8_is_valid_n("ab", 2));
        assert_false(utf8_is_valid_n("a\0b", 3));               /* a NUL inside */
}

static void test_cut(void **state) {
        /* "aé東🦊": 1 + 2 + 3 + 4 bytes */
        const char *s = "a\xc3\xa9\xe6\x9d\xb1\xf0\x9f\xa6\x8a";
        char buf[32];

        assert_int_equal(utf8_cut_len(s, 100), 10);
        assert_int_equal(utf8_cut_len(s, 10), 10);
        assert_int_equal(utf8_cut_len(s, 9), 6);                /* not inside the fox */
        assert_int_equal(utf8_cut_len(s, 7), 6);
        assert_int_equal(utf8_cut_len(s, 6), 6);
        assert_int_equal(utf8_cut_len(s, 5), 3);                /* not inside 東 */
        assert_int_equal(utf8_cut_len(s, 2), 1);                /* not inside é */
        assert_int_equal(utf8_cut_len(s, 0), 0);

        for (size_t max = 0; max <= 10; max++) {
                strcpy(buf, s);
                utf8_truncate(buf, max);
                assert_true(strlen(buf) <= max);
                assert_true(utf8_is_valid(buf));
        }
}

static void test_make_valid(void **state) {
        char a[] = "ok\xc3(\xe6\x9d\xb1\xed\xa0\x80z\xe6\x9d";

        utf8_make_valid(a);
        assert_string_equal(a, "ok?(\xe6\x9d\xb1???z");   /* the cut 東 at the end goes */
        assert_true(utf8_is_valid(a));

        char c[] = "x\x80\xe6";                               /* a stray byte, then a cut */
        utf8_make_valid(c);
        assert_string_equal(c, "x?");

        char b[] = "Grüße";
        utf8_make_valid(b);
        assert_string_equal(b, "Grüße");
}

static void test_make_printable(void **state) {
        char a[] = "zone\n<0>x\x1b[2J\x7f \xff東";

        assert_string_equal(utf8_make_printable(a), "zone?<0>x?[2J? ?東");
}

static void test_log_escape(void **state) {
        char buf[64];

        /* a name with a newline cannot start a line of its own, with or without a priority */
        log_escape(buf, sizeof(buf), "session x\n<0>bfed: forged\r\x1b[2J\x7f");
        assert_string_equal(buf, "session x\\x0a<0>bfed: forged\\x0d\\x1b[2J\\x7f");
        assert_null(strchr(buf, '\n'));

        log_escape(buf, sizeof(buf), "Grüße \xff\xfe 東京");        /* invalid bytes: '?' */
        assert_string_equal(buf, "Grüße ?? 東京");

        /* the cut: never inside a character, never inside an escape */
        log_escape(buf, 6, "ab東京");
        assert_string_equal(buf, "ab東");
        log_escape(buf, 5, "ab東京");
        assert_string_equal(buf, "ab");
        log_escape(buf, 6, "abc\n");
        assert_string_equal(buf, "abc");
        log_escape(buf, 8, "abc\n");
        assert_string_equal(buf, "abc\\x0a");
        log_escape(buf, 1, "abc");
        assert_string_equal(buf, "");
}

static void test_escape(void **state) {
        static const struct {
                const char *in;
                size_t n, max;
                const char *out;
        } cases[] = {
                { "gw-v2", 5, 64, "gw-v2" },
                { "Grüße 東京", 14, 64, "Grüße 東京" },                  /* printable UTF-8 stays */
                { "a\\b", 3, 64, "a\\\\b" },                           /* a backslash doubles */
                { "tab\there", 8, 64, "tab\\x09here" },
                { "nul\0x", 5, 64, "nul\\x00x" },                      /* n counts, not the NUL */
                { "\x7f\xc2\x85", 3, 64, "\\x7f\\xc2\\x85" },          /* DEL, and C1 NEL as its two bytes */
                { "bad\xff\xc3", 5, 64, "bad\\xff\\xc3" },             /* no character, cut character */
                { "\xed\xa0\x80", 3, 64, "\\xed\\xa0\\x80" },          /* a surrogate */
                { "abcdef", 6, 4, "abcd" },                             /* cut */
                { "ab\x01", 3, 5, "ab" },                               /* not inside an escape */
                { "a\xe6\x9d\xb1", 4, 3, "a" },                         /* not inside a character */
                { "", 0, 0, "" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char *e = utf8_escape(cases[i].in, cases[i].n, cases[i].max);

                assert_non_null(e);
                assert_string_equal(e, cases[i].out);
                assert_true(strlen(e) <= cases[i].max);
                assert_true(utf8_is_valid(e));
                free(e);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_escape),
                cmocka_unit_test(test_valid),
                cmocka_unit_test(test_cut),
                cmocka_unit_test(test_make_valid),
                cmocka_unit_test(test_make_printable),
                cmocka_unit_test(test_log_escape),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
