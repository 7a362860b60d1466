/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-guid.c — the GUID text form: what is taken, what is refused, and the round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "guid.h"
#include "macro.h"

static const char canonical[] = "5132900d-5e84-4b5f-80e4-01741e81ff10";
static const uint8_t bytes[16] = { 0x51, 0x32, 0x90, 0x0d, 0x5e, 0x84, 0x4b, 0x5f,
                                   0x80, 0xe4, 0x01, 0x74, 0x1e, 0x81, 0xff, 0x10 };

static void test_taken(void **state) {
        char buf[GUID_STRING_MAX];
        BfeGuid g;

        assert_int_equal(guid_from_string(canonical, &g), 0);
        assert_memory_equal(g.b, bytes, 16);
        assert_string_equal(guid_to_string(&g, buf), canonical);

        memset(&g, 0, sizeof(g));
        assert_int_equal(guid_from_string("{5132900D-5E84-4B5F-80E4-01741E81FF10}", &g), 0);
        assert_memory_equal(g.b, bytes, 16);
}

/* Every character of the text in turn made wrong: refused, and the result left alone. */
static void test_refused(void **state) {
        static const char *const bad[] = {
                "", "5132900d", "5132900d-5e84-4b5f-80e4-01741e81ff1", "5132900d-5e84-4b5f-80e4-01741e81ff100",
                "{5132900d-5e84-4b5f-80e4-01741e81ff10", "5132900d-5e84-4b5f-80e4-01741e81ff10}",
                "(5132900d-5e84-4b5f-80e4-01741e81ff10)", "5132900d05e8404b5f080e4001741e81ff10",
                "5132900d-5e84-4b5f-80e4-01741e81ff10 ", " 5132900d-5e84-4b5f-80e4-01741e81ff1",
        };
        BfeGuid g, untouched;

        memset(&untouched, 0xa5, sizeof(untouched));
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                g = untouched;
                assert_int_equal(guid_from_string(bad[i], &g), -EINVAL);
                assert_memory_equal(&g, &untouched, sizeof(g));
        }
        assert_int_equal(guid_from_string(NULL, &g), -EINVAL);

        for (size_t i = 0; i < 36; i++)
                for (const char *c = "g-/:@G`{ \x80"; *c; c++) {
                        char s[sizeof(canonical)];
                        bool dash = i == 8 || i == 13 || i == 18 || i == 23;

                        if ((*c == '-') == dash)
                                continue;       /* that one is right there */
                        memcpy(s, canonical, sizeof(s));
                        s[i] = *c;
                        g = untouched;
                        assert_int_equal(guid_from_string(s, &g), -EINVAL);
                        assert_memory_equal(&g, &untouched, sizeof(g));
                }
}

/* Against sscanf() for keys of every byte value in every place. */
static void test_round_trip(void **state) {
        for (unsigned k = 0; k < 4096; k++) {
                char text[GUID_STRING_MAX], back[GUID_STRING_MAX];
                unsigned v[16];
                BfeGuid g, h;

                for (size_t i = 0; i < 16; i++)
                        g.b[i] = (uint8_t) (k * 7919u + i * 104729u + (k >> 4) * i);
                guid_to_string(&g, text);
                assert_int_equal(sscanf(text, "%2x%2x%2x%2x-%2x%2x-%2x%2x-%2x%2x-%2x%2x%2x%2x%2x%2x", &v[0], &v[1],
                                        &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9], &v[10], &v[11],
                                        &v[12], &v[13], &v[14], &v[15]),
                                 16);
                for (size_t i = 0; i < 16; i++)
                        assert_int_equal(v[i], g.b[i]);
                assert_int_equal(guid_from_string(text, &h), 0);
                assert_true(guid_equal(&g, &h));
                assert_string_equal(guid_to_string(&h, back), text);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_taken),
                cmocka_unit_test(test_refused),
                cmocka_unit_test(test_round_trip),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
