/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-bfectl-util.c — the text forms bfectl reads and writes: conditions, weights, context types,
 * actions, numbers, hex, JSON (bfectl's own and those of src/shared it uses). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bfectl-util.h"
#include "macro.h"
#include "object.h"
#include "wfp.h"

static void test_condition_equal(void **state) {
        BfeCondition c;

        assert_int_equal(parse_condition("IP_PROTOCOL=udp", &c), 0);
        assert_string_equal(c.field, "IP_PROTOCOL");
        assert_int_equal(c.match, BFE_MATCH_EQUAL);
        assert_string_equal(c.value, "udp");
        condition_done(&c);
        assert_null(c.field);
}

static void test_condition_not_equal(void **state) {
        BfeCondition c;

        assert_int_equal(parse_condition("IP_LOCAL_PORT!=500", &c), 0);
        assert_string_equal(c.field, "IP_LOCAL_PORT");
        assert_int_equal(c.match, BFE_MATCH_NOT_EQUAL);
        assert_string_equal(c.value, "500");
        condition_done(&c);
}

static void test_condition_match_number(void **state) {
        BfeCondition c;

        assert_int_equal(parse_condition("IP_REMOTE_PORT:5=500-510", &c), 0);
        assert_string_equal(c.field, "IP_REMOTE_PORT");
        assert_int_equal(c.match, BFE_MATCH_RANGE);
        assert_string_equal(c.value, "500-510");
        condition_done(&c);
}

static void test_condition_value_with_colons(void **state) {
        BfeCondition c;

        /* IPv6 text must survive: only the first '=' separates field and value. */
        assert_int_equal(parse_condition("IP_REMOTE_ADDRESS=2001:db8::/32", &c), 0);
        assert_string_equal(c.field, "IP_REMOTE_ADDRESS");
        assert_int_equal(c.match, BFE_MATCH_EQUAL);
        assert_string_equal(c.value, "2001:db8::/32");
        condition_done(&c);

        assert_int_equal(parse_condition("IP_LOCAL_ADDRESS:10=fe80::1=x", &c), 0);
        assert_int_equal(c.match, BFE_MATCH_NOT_EQUAL);
        assert_string_equal(c.value, "fe80::1=x");
        condition_done(&c);

        assert_int_equal(parse_condition("IP_REMOTE_ADDRESS=192.0.2.0/24", &c), 0);
        assert_string_equal(c.value, "192.0.2.0/24");
        condition_done(&c);
}

static void test_condition_guid_field(void **state) {
        BfeCondition c;

        assert_int_equal(parse_condition("{3971ef2b-623e-4f9a-8cb1-6e79b806b9a7}=17", &c), 0);
        assert_string_equal(c.field, "{3971ef2b-623e-4f9a-8cb1-6e79b806b9a7}");
        assert_string_equal(c.value, "17");
        condition_done(&c);
}

static void test_condition_invalid(void **state) {
        static const char *const bad[] = {
                "", "=udp", "IP_PROTOCOL", "IP_PROTOCOL=", "IP_PROTOCOL!=", "IP_PROTOCOL:=1",
                "IP_PROTOCOL:x=1", "IP_PROTOCOL:-1=1", "IP_PROTOCOL:99999999999=1",
                "IP PROTOCOL=udp", "IP_PROTOCOL<5", "IP_PROTOCOL!5",
        };
        BfeCondition c = { .field = (char *) "untouched" };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                assert_int_equal(parse_condition(bad[i], &c), -EINVAL);
                assert_string_equal(c.field, "untouched");
        }
        assert_int_equal(parse_condition(NULL, &c), -EINVAL);
}

static void test_condition_roundtrip(void **state) {
        static const char *const texts[] = {
                "IP_PROTOCOL=udp", "IP_LOCAL_PORT!=4500", "IP_REMOTE_PORT:5=500-510",
        };

        for (size_t i = 0; i < ELEMENTSOF(texts); i++) {
                _cleanup_(freep) char *s = NULL;
                BfeCondition c;

                assert_int_equal(parse_condition(texts[i], &c), 0);
                s = format_condition(&c);
                assert_string_equal(s, texts[i]);
                condition_done(&c);
        }
}

static void test_weight(void **state) {
        BfeWeightKind k;
        uint64_t v;

        assert_int_equal(weight_from_string("auto", &k, &v), 0);
        assert_int_equal(k, BFE_WEIGHT_AUTO);
        assert_int_equal(weight_from_string("AUTO", &k, &v), 0);
        assert_int_equal(k, BFE_WEIGHT_AUTO);

        assert_int_equal(weight_from_string("0", &k, &v), 0);
        assert_int_equal(k, BFE_WEIGHT_RANGE);
        assert_int_equal(v, 0);
        assert_int_equal(weight_from_string("15", &k, &v), 0);
        assert_int_equal(k, BFE_WEIGHT_RANGE);
        assert_int_equal(v, 15);
        assert_int_equal(weight_from_string("0xc", &k, &v), 0);
        assert_int_equal(v, 12);
        assert_int_equal(weight_from_string("range:13", &k, &v), 0);
        assert_int_equal(k, BFE_WEIGHT_RANGE);
        assert_int_equal(v, 13);

        assert_int_equal(weight_from_string("=1000", &k, &v), 0);
        assert_int_equal(k, BFE_WEIGHT_EXPLICIT);
        assert_int_equal(v, 1000);
        assert_int_equal(weight_from_string("explicit:18446744073709551615", &k, &v), 0);
        assert_int_equal(k, BFE_WEIGHT_EXPLICIT);
        assert_true(v == UINT64_MAX);
        assert_int_equal(weight_from_string("=0xC000000000000000", &k, &v), 0);
        assert_true(v == UINT64_C(0xC000000000000000));
}

static void test_weight_invalid(void **state) {
        static const char *const bad[] = {
                "", "16", "-1", "range:16", "=", "=x", "explicit:", "=18446744073709551616",
                " 3", "3 ", "automatic", "=-5",
        };
        BfeWeightKind k = BFE_WEIGHT_EXPLICIT;
        uint64_t v = 42;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_true(weight_from_string(bad[i], &k, &v) < 0);
        assert_int_equal(k, BFE_WEIGHT_EXPLICIT);
        assert_int_equal(v, 42);
}

static void test_weight_format(void **state) {
        char buf[WEIGHT_STRING_MAX];

        assert_string_equal(weight_to_string(BFE_WEIGHT_AUTO, 0, buf), "auto");
        assert_string_equal(weight_to_string(BFE_WEIGHT_RANGE, 12, buf), "range:12");
        assert_string_equal(weight_to_string(BFE_WEIGHT_EXPLICIT, 99, buf), "explicit:99");
}

static void test_context_types(void **state) {
        static const struct {
                const char *name;
                uint32_t value;
        } names[] = {
                { "keying", 0 }, { "ike-qm-transport", 1 }, { "ike-qm-tunnel", 2 },
                { "authip-qm-transport", 3 }, { "authip-qm-tunnel", 4 }, { "ike-mm", 5 },
                { "authip-mm", 6 }, { "classify-options", 7 }, { "general", 8 },
                { "ikev2-qm-tunnel", 9 }, { "ikev2-mm", 10 }, { "dosp", 11 },
                { "ikev2-qm-transport", 12 },
        };
        uint32_t t;

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                assert_int_equal(parse_context_type(names[i].name, &t), 0);
                assert_int_equal(t, names[i].value);
                assert_string_equal(wfp_context_type_short_name(names[i].value), names[i].name);
        }
        assert_int_equal(parse_context_type("IKE_MM", &t), 0);
        assert_int_equal(t, 5);
        assert_int_equal(parse_context_type("IKEv2-MM", &t), 0);
        assert_int_equal(t, 10);
        assert_int_equal(parse_context_type("network-connection-policy", &t), 0);
        assert_int_equal(t, 13);
        /* The WFP names work too. */
        assert_int_equal(parse_context_type("IPSEC_IKEV2_QM_TRANSPORT", &t), 0);
        assert_int_equal(t, 12);
        assert_int_equal(parse_context_type("ipsec-keying", &t), 0);
        assert_int_equal(t, 0);
        assert_int_equal(parse_context_type("14", &t), 0);
        assert_int_equal(t, 14);
        assert_int_equal(parse_context_type("0x6", &t), 0);
        assert_int_equal(t, 6);

        t = 77;
        assert_int_equal(parse_context_type("ike", &t), -EINVAL);
        assert_int_equal(parse_context_type("ike-mm-x", &t), -EINVAL);
        assert_int_equal(parse_context_type("", &t), -EINVAL);
        assert_int_equal(parse_context_type("-1", &t), -EINVAL);
        assert_int_equal(t, 77);
        assert_null(wfp_context_type_short_name(14));
        assert_string_equal(wfp_context_type_name(5), "IPSEC_IKE_MM");
}

static void test_action(void **state) {
        uint32_t a;

        assert_int_equal(action_from_string("permit", &a), 0);
        assert_int_equal(a, 0x1002);
        assert_int_equal(action_from_string("block", &a), 0);
        assert_int_equal(a, 0x1001);
        assert_int_equal(action_from_string("callout", &a), 0);
        assert_int_equal(a, 0x5003);
        assert_int_equal(action_from_string("4098", &a), 0);
        assert_int_equal(a, 0x1002);
        assert_int_equal(action_from_string("0x1001", &a), 0);
        assert_int_equal(a, 0x1001);
        assert_true(action_from_string("allow", &a) < 0);
        assert_true(action_from_string("0x100000000", &a) < 0);
        assert_string_equal(action_to_string(0x1001), "block");
        assert_null(action_to_string(7));
}

static void test_numbers_and_hex(void **state) {
        _cleanup_(freep) char *s = NULL;
        BfeBlob b;
        uint64_t u;

        assert_int_equal(text_parse_u64("4294967295", 0, UINT32_MAX, &u), 0);
        assert_true(u == UINT32_MAX);
        assert_int_equal(text_parse_u64("0x10", 0, UINT32_MAX, &u), 0);
        assert_true(u == 16);
        assert_int_equal(text_parse_u64("4294967296", 0, UINT32_MAX, &u), -ERANGE);
        assert_int_equal(text_parse_u64("+1", 0, UINT32_MAX, &u), -EINVAL);

        assert_int_equal(blob_from_hex("0x00fFa5", &b), 0);
        assert_int_equal(b.size, 3);
        assert_int_equal(b.data[0], 0x00);
        assert_int_equal(b.data[1], 0xff);
        assert_int_equal(b.data[2], 0xa5);
        s = blob_to_hex(&b);
        assert_string_equal(s, "00ffa5");
        free(b.data);

        assert_int_equal(blob_from_hex("", &b), 0);
        assert_int_equal(b.size, 0);
        assert_null(b.data);
        assert_int_equal(blob_from_hex("abc", &b), -EINVAL);
        assert_int_equal(blob_from_hex("zz", &b), -EINVAL);
}

static void test_key_or_id(void **state) {
        BfeKey k;
        uint64_t id = 0;
        bool is_key;

        assert_int_equal(parse_key_or_id("EEBECC03-CED4-4380-819A-2734397B2B74", &k, &id, &is_key), 0);
        assert_true(is_key);
        assert_int_equal(k.b[0], 0xee);
        assert_int_equal(k.b[15], 0x74);

        assert_int_equal(parse_key_or_id("17", &k, &id, &is_key), 0);
        assert_false(is_key);
        assert_int_equal(id, 17);

        assert_int_equal(parse_key_or_id("0", &k, &id, &is_key), -EINVAL);
        assert_int_equal(parse_key_or_id("eebecc03", &k, &id, &is_key), -EINVAL);
        assert_int_equal(parse_key_or_id("x17", &k, &id, &is_key), -EINVAL);
}

static void test_filter_flags(void **state) {
        _cleanup_(freep) char *none = format_filter_flags(0);
        _cleanup_(freep) char *some = format_filter_flags(0x9);
        _cleanup_(freep) char *odd = format_filter_flags(0x10000);

        assert_string_equal(none, "0x0");
        assert_string_equal(some, "0x9 (persistent,clear-action-right)");
        assert_string_equal(odd, "0x10000 (0x10000)");
}

static void test_json_escape(void **state) {
        static const struct {
                const char *in, *out;
        } cases[] = {
                { "", "\"\"" },
                { "plain", "\"plain\"" },
                { "a \"quoted\" \\ path", "\"a \\\"quoted\\\" \\\\ path\"" },
                { "line\nbreak\ttab\rcr", "\"line\\nbreak\\ttab\\rcr\"" },
                { "\b\f", "\"\\b\\f\"" },
                { "\x01\x1f", "\"\\u0001\\u001f\"" },
                { "caf\xc3\xa9 \xe2\x82\xac", "\"caf\xc3\xa9 \xe2\x82\xac\"" },   /* UTF-8 passes */
                { "/slash/ \x7f", "\"/slash/ \x7f\"" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(freep) char *s = json_escape(cases[i].in);

                assert_string_equal(s, cases[i].out);
        }

        {
                _cleanup_(freep) char *s = json_escape(NULL);

                assert_string_equal(s, "null");
        }
}

static void test_json_print(void **state) {
        _cleanup_(freep) char *buf = NULL;
        size_t size = 0;
        FILE *f;

        f = open_memstream(&buf, &size);
        assert_non_null(f);
        json_print_string(f, "x\"y");
        putc(' ', f);
        json_print_string(f, NULL);
        fclose(f);
        assert_string_equal(buf, "\"x\\\"y\" null");
}

static void test_explain_field(void **state) {
        static const char *const bad[] = { "", "=udp", "IP_PROTOCOL", "IP PROTOCOL=udp",
                                           "IP_PROTOCOL!=udp", "IP_LOCAL_PORT:5=1" };
        const char *value;
        char *name = NULL;

        assert_int_equal(parse_explain_field("IP_REMOTE_ADDRESS=fd00::1", &name, &value), 0);
        assert_string_equal(name, "IP_REMOTE_ADDRESS");
        assert_string_equal(value, "fd00::1");
        free(name);

        /* only the first '=' separates; the value may be empty */
        assert_int_equal(parse_explain_field("FLAGS=", &name, &value), 0);
        assert_string_equal(name, "FLAGS");
        assert_string_equal(value, "");
        free(name);
        assert_int_equal(parse_explain_field("X=a=b", &name, &value), 0);
        assert_string_equal(value, "a=b");
        free(name);

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                name = NULL;
                assert_int_equal(parse_explain_field(bad[i], &name, &value), -EINVAL);
                assert_null(name);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_condition_equal),
                cmocka_unit_test(test_condition_not_equal),
                cmocka_unit_test(test_condition_match_number),
                cmocka_unit_test(test_condition_value_with_colons),
                cmocka_unit_test(test_condition_guid_field),
                cmocka_unit_test(test_condition_invalid),
                cmocka_unit_test(test_condition_roundtrip),
                cmocka_unit_test(test_weight),
                cmocka_unit_test(test_weight_invalid),
                cmocka_unit_test(test_weight_format),
                cmocka_unit_test(test_context_types),
                cmocka_unit_test(test_action),
                cmocka_unit_test(test_numbers_and_hex),
                cmocka_unit_test(test_key_or_id),
                cmocka_unit_test(test_filter_flags),
                cmocka_unit_test(test_json_escape),
                cmocka_unit_test(test_json_print),
                cmocka_unit_test(test_explain_field),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
