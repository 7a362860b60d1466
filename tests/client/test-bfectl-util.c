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
#include "ctl-print.h"
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
                " 3", "3 ", "automatic", "=-5", "=0x", "=0x0x1", "=0xg", "range:0x", "=1e3",
        };
        BfeWeightKind k = BFE_WEIGHT_EXPLICIT;
        uint64_t v = 42;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_true(weight_from_string(bad[i], &k, &v) < 0);
        assert_int_equal(k, BFE_WEIGHT_EXPLICIT);
        assert_int_equal(v, 42);
}

/* Never octal: a leading zero is a decimal digit, as a person means it. */
static void test_weight_no_octal(void **state) {
        BfeWeightKind k;
        uint64_t v;

        assert_int_equal(weight_from_string("=010", &k, &v), 0);
        assert_int_equal(v, 10);
        assert_int_equal(weight_from_string("range:010", &k, &v), 0);
        assert_int_equal(v, 10);
        assert_int_equal(weight_from_string("09", &k, &v), 0);
        assert_int_equal(v, 9);
        assert_int_equal(weight_from_string("=0X1f", &k, &v), 0);
        assert_int_equal(v, 31);
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
                { "ikev2-qm-transport", 12 }, { "network-connection-policy", 13 },
        }, other_spellings[] = {
                /* any case, '_' for '-'; the WFP names; numbers (unchecked: bfed checks them) */
                { "IKE_MM", 5 }, { "IKEv2-MM", 10 }, { "IPSEC_IKEV2_QM_TRANSPORT", 12 }, { "ipsec-keying", 0 },
                { "14", 14 }, { "0x6", 6 },
        };
        static const char *const bad[] = { "ike", "ike-mm-x", "", "-1", "ipsec", "IPSEC_IKE_MM_" };
        uint32_t t;

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                assert_int_equal(parse_context_type(names[i].name, &t), 0);
                assert_int_equal(t, names[i].value);
                assert_string_equal(wfp_context_type_short_name(names[i].value), names[i].name);
        }
        for (size_t i = 0; i < ELEMENTSOF(other_spellings); i++) {
                assert_int_equal(parse_context_type(other_spellings[i].name, &t), 0);
                assert_int_equal(t, other_spellings[i].value);
        }
        t = 77;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_int_equal(parse_context_type(bad[i], &t), -EINVAL);
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
        _cleanup_(freep) char *none = format_flags(OBJECT_FILTER, 0);
        _cleanup_(freep) char *some = format_flags(OBJECT_FILTER, 0x9);
        _cleanup_(freep) char *odd = format_flags(OBJECT_FILTER, 0x10000);

        assert_string_equal(none, "0x0");
        assert_string_equal(some, "0x9 (persistent,clear-action-right)");
        assert_string_equal(odd, "0x10000 (0x10000)");
}

static void test_other_flags(void **state) {
        /* Only filters have more than the persistent flag. */
        _cleanup_(freep) char *p = format_flags(OBJECT_PROVIDER, 0x1);
        _cleanup_(freep) char *s = format_flags(OBJECT_SUBLAYER, 0x3);

        assert_string_equal(p, "0x1 (persistent)");
        assert_string_equal(s, "0x3 (persistent,0x2)");
}

/* ---- objects from their tables ---------------------------------------------------------------- */

#define KEY_A "0b5dbb6c-1d0a-4b0c-9a55-3f6a1e2b7c01"
#define KEY_B "eebecc03-ced4-4380-819a-2734397b2b74"

/* What @print writes, as a string. */
#define CAPTURE(buf, print)                                                     \
        do {                                                                    \
                size_t _size = 0;                                               \
                FILE *_f = open_memstream(&(buf), &_size);                      \
                                                                                \
                assert_non_null(_f);                                            \
                print;                                                          \
                assert_int_equal(fclose(_f), 0);                                \
        } while (0)

static BfeFilter *test_filter(BfeFilter *f, BfeCondition c[static 2]) {
        static uint8_t data[] = { 0xca, 0xfe };

        c[0] = (BfeCondition) { (char *) "IP_PROTOCOL", BFE_MATCH_EQUAL, (char *) "udp" };
        c[1] = (BfeCondition) { (char *) "IP_REMOTE_PORT", BFE_MATCH_RANGE, (char *) "500-510" };
        *f = (BfeFilter) {
                .name = (char *) "block \"x\"",
                .flags = 0x9,
                .provider_data = { data, sizeof(data) },
                .layer = (char *) "INBOUND_TRANSPORT_V4",
                .weight_kind = BFE_WEIGHT_RANGE,
                .weight = 3,
                .effective_weight = UINT64_C(0x3030150000000000),
                .action = BFE_ACTION_BLOCK,
                .conditions = c,
                .n_conditions = 2,
                .id = 16,
                .engine_owned = true,
        };
        assert_int_equal(bfe_key_from_string(KEY_A, &f->key), 0);
        assert_int_equal(bfe_key_from_string(KEY_B, &f->sublayer_key), 0);
        return f;
}

static void test_print_filter(void **state) {
        _cleanup_(freep) char *text = NULL, *json = NULL, *empty = NULL;
        BfeCondition c[2];
        BfeFilter f;

        test_filter(&f, c);
        CAPTURE(text, print_object(_f, OBJECT_FILTER, &f, false));
        assert_string_equal(text,
                            "Key:               " KEY_A "\n"
                            "Name:              block \"x\"\n"
                            "Description:       \n"
                            "Flags:             0x9 (persistent,clear-action-right)\n"
                            "Id:                16\n"
                            "Provider:          -\n"
                            "Provider data:     cafe\n"
                            "Layer:             INBOUND_TRANSPORT_V4\n"
                            "Layer key:         -\n"
                            "Sublayer:          " KEY_B "\n"
                            "Weight:            range:3\n"
                            "Effective weight:  0x3030150000000000\n"
                            "Action:            block (0x1001)\n"
                            "Callout:           -\n"
                            "Provider context:  -\n"
                            "Engine owned:      yes\n"
                            "Conditions:        IP_PROTOCOL=udp\n"
                            "                   IP_REMOTE_PORT:5=500-510\n");

        CAPTURE(json, print_object(_f, OBJECT_FILTER, &f, true));
        assert_string_equal(json,
                            "{\"key\":\"" KEY_A "\",\"name\":\"block \\\"x\\\"\",\"description\":null,"
                            "\"flags\":9,\"id\":16,\"provider_key\":null,\"provider_data\":\"cafe\","
                            "\"layer\":\"INBOUND_TRANSPORT_V4\",\"layer_key\":null,\"sublayer_key\":\"" KEY_B "\","
                            "\"weight\":\"range:3\",\"effective_weight\":\"3472298402446835712\",\"action\":4097,"
                            "\"action_name\":\"block\",\"callout_key\":null,\"provider_context_key\":null,"
                            "\"raw_context\":\"0\",\"engine_owned\":true,\"conditions\":[{\"field\":\"IP_PROTOCOL\",\"match\":0,"
                            "\"value\":\"udp\"},{\"field\":\"IP_REMOTE_PORT\",\"match\":5,\"value\":\"500-510\"}]}");

        /* A raw context: shown when set, in hex, as the state file has it. */
        f.raw_context = BFE_CONTEXT_IPSEC_OUTBOUND_NEGOTIATE_DISCOVER;
        free(text);
        CAPTURE(text, print_object(_f, OBJECT_FILTER, &f, false));
        assert_non_null(strstr(text, "Provider context:  -\nRaw context:       0x0000000000000001\nEngine owned:"));
        f.raw_context = 0;

        /* No conditions, no data: said so, and the data line left out. */
        f.n_conditions = 0;
        f.provider_data.size = 0;
        f.action = 0x1234;
        CAPTURE(empty, print_object(_f, OBJECT_FILTER, &f, false));
        assert_non_null(strstr(empty, "Conditions:        none (matches everything)\n"));
        assert_non_null(strstr(empty, "Action:            unknown (0x1234)\n"));
        assert_null(strstr(empty, "Provider data:"));
}

static void test_print_context(void **state) {
        _cleanup_(freep) char *text = NULL, *json = NULL;
        BfeProviderContext c = { .name = (char *) "mm", .type = BFE_CONTEXT_IPSEC_IKE_MM, .id = 4 };
        BfeSublayer s = { .name = (char *) "high", .weight = 0x9000 };
        _cleanup_(freep) char *sl = NULL;

        CAPTURE(text, print_object(_f, OBJECT_PROVIDER_CONTEXT, &c, false));
        assert_non_null(strstr(text, "Type:              ike-mm (5)\n"));
        assert_non_null(strstr(text, "Id:                4\n"));
        c.type = 99;
        CAPTURE(json, print_object(_f, OBJECT_PROVIDER_CONTEXT, &c, true));
        assert_non_null(strstr(json, "\"type\":99,\"type_name\":null,\"data\":\"\",\"policy_flags\":0}"));
        /* the policy flags: shown when set */
        assert_null(strstr(text, "Policy flags:"));
        c.type = BFE_CONTEXT_IPSEC_IKE_QM_TRANSPORT;
        c.policy_flags = BFE_IPSEC_POLICY_FLAG_ND_SECURE;
        free(text);
        CAPTURE(text, print_object(_f, OBJECT_PROVIDER_CONTEXT, &c, false));
        assert_non_null(strstr(text, "Policy flags:      0x00000002\n"));

        CAPTURE(sl, print_object(_f, OBJECT_SUBLAYER, &s, false));
        assert_non_null(strstr(sl, "Weight:            36864 (0x9000)\n"));
}

static void test_print_list(void **state) {
        _cleanup_(freep) char *table = NULL, *json = NULL, *providers = NULL;
        BfeProvider p[2] = { { .name = (char *) "p", .flags = 0x1 }, { .name = (char *) "q", .flags = 0x1234 } };
        BfeCondition c[2];
        BfeFilter f[2];

        test_filter(&f[0], c);
        test_filter(&f[1], c);
        f[1].id = 1234;
        f[1].engine_owned = false;
        f[1].action = 0x4321;
        f[1].name = NULL;
        f[1].layer = (char *) "IKEEXT_V4";
        /* Columns as wide as their widest entry (ACTION at least 7), the last one not padded. */
        CAPTURE(table, assert_int_equal(print_list(_f, OBJECT_FILTER, f, 2, true), 0));
        assert_string_equal(table,
                            "ID    LAYER                 WEIGHT              ACTION   E  NAME\n"
                            "16    INBOUND_TRANSPORT_V4  0x3030150000000000  block    *  block \"x\"\n"
                            "1234  IKEEXT_V4             0x3030150000000000  0x4321      \n"
                            "\n"
                            "2 filters (* = engine-owned)\n");

        assert_int_equal(bfe_key_from_string(KEY_A, &p[0].key), 0);
        CAPTURE(providers, assert_int_equal(print_list(_f, OBJECT_PROVIDER, p, 2, true), 0));
        assert_string_equal(providers,
                            "KEY                                   FLAGS   NAME\n"
                            KEY_A "  0x1     p\n"
                            "-                                     0x1234  q\n");

        CAPTURE(json, print_objects_json(_f, OBJECT_FILTER, f, 0));
        assert_string_equal(json, "[]\n");
}

/* --no-legend: the same rows, as wide, without the header and the footer. */
static void test_print_list_no_legend(void **state) {
        _cleanup_(freep) char *table = NULL, *providers = NULL, *empty = NULL;
        BfeProvider p[1] = { { .name = (char *) "p", .flags = 0x1 } };
        BfeCondition c[2];
        BfeFilter f[1];

        test_filter(&f[0], c);
        CAPTURE(table, assert_int_equal(print_list(_f, OBJECT_FILTER, f, 1, false), 0));
        assert_string_equal(table, "16  INBOUND_TRANSPORT_V4  0x3030150000000000  block    *  block \"x\"\n");
        CAPTURE(providers, assert_int_equal(print_list(_f, OBJECT_PROVIDER, p, 1, false), 0));
        assert_string_equal(providers, "-    0x1    p\n");          /* KEY and FLAGS as wide as their headers */
        CAPTURE(empty, assert_int_equal(print_list(_f, OBJECT_FILTER, f, 0, false), 0));
        assert_string_equal(empty, "");
}

static void test_edit_distance(void **state) {
        assert_int_equal(edit_distance("", ""), 0);
        assert_int_equal(edit_distance("list", "list"), 0);
        assert_int_equal(edit_distance("lsit", "list"), 1);            /* a swap is one edit */
        assert_int_equal(edit_distance("fitler", "filter"), 1);
        assert_int_equal(edit_distance("filtr", "filter"), 1);
        assert_int_equal(edit_distance("fillter", "filter"), 1);
        assert_int_equal(edit_distance("sho", "show"), 1);
        assert_int_equal(edit_distance("", "add"), 3);
        assert_int_equal(edit_distance("kitten", "sitting"), 3);
        assert_int_equal(edit_distance("ca", "abc"), 3);                /* not Damerau's unrestricted 2 */
}

static void test_suggest(void **state) {
        static const char *const commands[] = { "status", "monitor", "explain", "help", "provider", "sublayer",
                                                "context", "filter" };
        static const char *const verbs[] = { "add", "delete", "list", "show" };
        static const char *const options[] = { "help", "json", "no-legend", "layer", "provider", "persistent",
                                               "sublayer" };

        assert_string_equal(suggest("fitler", commands, ELEMENTSOF(commands)), "filter");
        assert_string_equal(suggest("sublayers", commands, ELEMENTSOF(commands)), "sublayer");
        assert_string_equal(suggest("stauts", commands, ELEMENTSOF(commands)), "status");
        assert_string_equal(suggest("lsit", verbs, ELEMENTSOF(verbs)), "list");
        assert_string_equal(suggest("del", verbs, ELEMENTSOF(verbs)), "delete");       /* a prefix */
        assert_string_equal(suggest("layr", options, ELEMENTSOF(options)), "layer");
        assert_string_equal(suggest("no-legends", options, ELEMENTSOF(options)), "no-legend");
        assert_null(suggest("list", verbs, ELEMENTSOF(verbs)));                         /* the word itself */
        assert_null(suggest("xyzzy", verbs, ELEMENTSOF(verbs)));
        assert_null(suggest("zz", verbs, ELEMENTSOF(verbs)));
        assert_null(suggest("", verbs, ELEMENTSOF(verbs)));
        assert_null(suggest("p", options, ELEMENTSOF(options)));       /* the prefix of two: no guess */
        assert_string_equal(suggest("pr", options, ELEMENTSOF(options)), "provider");  /* of one */
        assert_null(suggest("ctx", commands, ELEMENTSOF(commands)));
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

static void test_print_obstacles(void **state) {
        _cleanup_(freep) char *status = NULL, *none = NULL, *explain = NULL, *json = NULL;
        const BfeObstacle o[] = {
                { .table = (char *) "ip filter", .chain = (char *) "INPUT",
                  .what = (char *) "may drop IPv4 UDP 500/4500 inbound new flows: policy drop" },
                { .table = (char *) "firewalld", .chain = (char *) "public", .what = (char *) "cannot open \"x\"",
                  .certain = true },
                { .table = (char *) "firewalld", .chain = (char *) "", .what = (char *) "not running" },
        };
        Json j;

        /* status: the first after the label, the others under it; firewalld as a whole has no zone */
        CAPTURE(status, print_obstacles(_f, "Obstacles:", o, ELEMENTSOF(o)));
        assert_string_equal(status,
                            "Obstacles:         ip filter INPUT: may drop IPv4 UDP 500/4500 inbound new flows: policy drop\n"
                            "                   firewalld public: cannot open \"x\"\n"
                            "                   firewalld: not running\n");
        CAPTURE(none, print_obstacles(_f, "Obstacles:", NULL, 0));
        assert_string_equal(none, "Obstacles:         none\n");

        /* explain, after a permit: certain or not */
        CAPTURE(explain, print_explain_obstacles(_f, o, 2));
        assert_string_equal(explain,
                            "  but may be dropped by: ip filter INPUT: may drop IPv4 UDP 500/4500 inbound new flows: "
                            "policy drop\n"
                            "  but dropped by: firewalld public: cannot open \"x\"\n");

        CAPTURE(json, (json_begin(&j, _f), json_obstacles(&j, "o", o, 2, true), json_obstacles(&j, "e", NULL, 0, false),
                       json_end(&j)));
        assert_string_equal(json,
                            "{\"o\":[{\"table\":\"ip filter\",\"chain\":\"INPUT\",\"what\":\"may drop IPv4 UDP "
                            "500/4500 inbound new flows: policy drop\",\"certain\":false},{\"table\":\"firewalld\","
                            "\"chain\":\"public\",\"what\":\"cannot open \\\"x\\\"\",\"certain\":true}],\"e\":[]}");
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
                cmocka_unit_test(test_weight_no_octal),
                cmocka_unit_test(test_weight_format),
                cmocka_unit_test(test_context_types),
                cmocka_unit_test(test_action),
                cmocka_unit_test(test_numbers_and_hex),
                cmocka_unit_test(test_key_or_id),
                cmocka_unit_test(test_filter_flags),
                cmocka_unit_test(test_other_flags),
                cmocka_unit_test(test_print_filter),
                cmocka_unit_test(test_print_context),
                cmocka_unit_test(test_print_list),
                cmocka_unit_test(test_print_list_no_legend),
                cmocka_unit_test(test_edit_distance),
                cmocka_unit_test(test_suggest),
                cmocka_unit_test(test_json_escape),
                cmocka_unit_test(test_json_print),
                cmocka_unit_test(test_print_obstacles),
                cmocka_unit_test(test_explain_field),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
