/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-vici-bridge.c — the pure parts of bfed-vici: charon's connections read from list-conn
 * events (recorded from charon, and made up: limits, duplicates, odd names), the versions and
 * families a connection gets a policy for, strongswan.conf as charon reads it (includes,
 * quoting, errors with their line), and the comparison of the socket marks.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "conns.h"
#include "macro.h"
#include "marks.h"
#include "swconf.h"
#include "vici-test-util.h"

/* ---- connections --------------------------------------------------------------------------- */

static void add_capture(Conns *s, const char *name) {
        _cleanup_(freep) uint8_t *data = NULL;
        _cleanup_(vici_message_freep) ViciMessage *m = NULL;
        ViciPacket p;
        size_t size;

        data = vici_test_read_capture(name, &size);
        assert_int_equal(vici_packet_parse(data, size, &p, NULL), 0);
        assert_int_equal(vici_message_parse(p.message, p.message_size, &m, NULL), 0);
        assert_int_equal(conns_add_event(s, m), 0);
}

static void expect_conn(const Conns *s, const char *name, uint8_t versions, uint8_t families) {
        const Conn *c = conns_find(s, name);

        assert_non_null(c);
        assert_int_equal(c->versions, versions);
        assert_int_equal(c->families, families);
}

static void test_conns_recorded(void **state) {
        Conns s = {};

        for (int i = 3; i <= 7; i++) {
                char name[64];

                snprintf(name, sizeof(name), "list/%02d-EVENT-list-conn", i);
                add_capture(&s, name);
        }
        conns_finish(&s);
        assert_int_equal(s.n, 5);
        expect_conn(&s, "gw-v2", IKE_V2, FAMILY_V4);
        expect_conn(&s, "gw-v1-v6", IKE_V1, FAMILY_V6);
        /* version 0, swanctl's default, lists as IKEv1/2; %any on both sides */
        expect_conn(&s, "roadwarriors", IKE_ANY, FAMILY_ANY);
        expect_conn(&s, "dual-stack", IKE_V2, FAMILY_ANY);
        /* %any4 here, a range and a host name there: what both sides allow is IPv4 */
        expect_conn(&s, "range-and-name", IKE_V2, FAMILY_V4);
        assert_null(conns_find(&s, "no-such-connection"));
        /* sorted by name */
        for (size_t i = 1; i < s.n; i++)
                assert_true(strcmp(s.conns[i - 1].name, s.conns[i].name) < 0);
        conns_done(&s);
        assert_int_equal(s.n, 0);
}

static void test_versions(void **state) {
        assert_int_equal(conn_versions_from_string("IKEv1"), IKE_V1);
        assert_int_equal(conn_versions_from_string("IKEv2"), IKE_V2);
        assert_int_equal(conn_versions_from_string("IKEv1/2"), IKE_ANY);
        assert_int_equal(conn_versions_from_string("0"), IKE_ANY);
        assert_int_equal(conn_versions_from_string("ikev2"), IKE_ANY);
        assert_int_equal(conn_versions_from_string(NULL), IKE_ANY);
        assert_string_equal(conn_versions_to_string(IKE_ANY), "IKEv1 and IKEv2");
        assert_string_equal(conn_families_to_string(FAMILY_V6), "IPv6");
}

static void test_families(void **state) {
        static const struct {
                const char *addr;
                uint8_t family;
        } cases[] = {
                { "192.0.2.1", FAMILY_V4 },         { "2001:db8::1", FAMILY_V6 },
                { "10.0.0.0/8", FAMILY_V4 },        { "2001:db8::/32", FAMILY_V6 },
                { "10.1.0.1-10.1.0.9", FAMILY_V4 }, { "2001:db8::1-2001:db8::9", FAMILY_V6 },
                { "::ffff:192.0.2.1", FAMILY_V6 },  { "%any4", FAMILY_V4 },
                { "%any6", FAMILY_V6 },             { "%any", FAMILY_ANY },
                { "vpn.example.com", FAMILY_ANY },  { "", FAMILY_ANY },
                { "300.1.2.3", FAMILY_ANY },        { "%any46", FAMILY_ANY },
                { "1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17.18.19.20.21.22.23.24", FAMILY_ANY },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                print_message("%s\n", cases[i].addr);
                assert_int_equal(conn_family_of_address(cases[i].addr), cases[i].family);
        }
        assert_int_equal(conn_families(FAMILY_V4, FAMILY_ANY), FAMILY_V4);
        assert_int_equal(conn_families(FAMILY_ANY, FAMILY_V6), FAMILY_V6);
        assert_int_equal(conn_families(FAMILY_ANY, FAMILY_ANY), FAMILY_ANY);
        /* sides that share no family: the connection cannot work; nothing is left out */
        assert_int_equal(conn_families(FAMILY_V4, FAMILY_V6), FAMILY_ANY);
        assert_int_equal(conn_families(0, 0), FAMILY_ANY);
}

/* A list-conn event of @n connections named PREFIX0, PREFIX1, … with @version. */
static ViciMessage *make_event(const char *prefix, size_t n, const char *version, const char *remote) {
        ViciBuilder b = VICI_BUILDER_INIT;
        _cleanup_(freep) uint8_t *data = NULL;
        ViciMessage *m = NULL;
        size_t size;

        for (size_t i = 0; i < n; i++) {
                char name[300];

                snprintf(name, sizeof(name), "%s%zu", prefix, i);
                vici_builder_section(&b, name);
                vici_builder_list(&b, "remote_addrs");
                vici_builder_item(&b, remote, strlen(remote));
                vici_builder_list_end(&b);
                if (version)
                        vici_builder_kv_str(&b, "version", version);
                vici_builder_section_end(&b);
        }
        vici_builder_kv_str(&b, "not-a-connection", "ignored");
        assert_int_equal(vici_builder_finish(&b, &data, &size), 0);
        assert_int_equal(vici_message_parse(data, size, &m, NULL), 0);
        return m;
}

static void test_conns_limit(void **state) {
        ViciMessage *m = make_event("c", CONNS_MAX + 5, "IKEv2", "192.0.2.1");
        Conns s = {};

        assert_int_equal(conns_add_event(&s, m), 0);
        conns_finish(&s);
        assert_int_equal(s.n, CONNS_MAX);
        assert_int_equal(s.n_dropped, 5);
        conns_done(&s);
        vici_message_free(m);
}

static void test_conns_duplicates(void **state) {
        ViciMessage *a = make_event("same", 1, "IKEv1", "192.0.2.1");
        ViciMessage *b = make_event("same", 1, "IKEv2", "2001:db8::1");
        Conns s = {};

        assert_int_equal(conns_add_event(&s, a), 0);
        assert_int_equal(conns_add_event(&s, b), 0);
        assert_int_equal(conns_add_event(&s, a), 0);
        conns_finish(&s);
        /* one policy covers what they all allow */
        assert_int_equal(s.n, 1);
        expect_conn(&s, "same0", IKE_ANY, FAMILY_ANY);
        conns_done(&s);
        vici_message_free(a);
        vici_message_free(b);
}

static void test_conns_odd_names(void **state) {
        /* names are another program's bytes: kept as they are (the policy escapes them) */
        ViciMessage *m = make_event("\xff\x01\\ \"x\"", 2, NULL, "%any");
        Conns s = {};

        assert_int_equal(conns_add_event(&s, m), 0);
        conns_finish(&s);
        assert_int_equal(s.n, 2);
        expect_conn(&s, "\xff\x01\\ \"x\"1", IKE_ANY, FAMILY_ANY);
        conns_done(&s);
        vici_message_free(m);
}

/* ---- strongswan.conf ----------------------------------------------------------------------- */

static SwConf *load_text(const char *text, int expect, const char *expect_error) {
        SwConf *c = swconf_new();
        _cleanup_(freep) char *error = NULL;

        assert_non_null(c);
        assert_int_equal(swconf_load_buffer(c, "t.conf", NULL, text, strlen(text), &error), expect);
        if (expect_error)
                assert_string_equal(error, expect_error);
        else
                assert_null(error);
        return c;
}

static void test_swconf_syntax(void **state) {
        _cleanup_(swconf_freep) SwConf *c = load_text(
                "# a comment\n"
                "top = value # and one after it\n"
                "charon {\n"
                "\tplugins {\n"
                "\t\tsocket-default {\n"
                "\t\t\tfwmark = 0x42\n"
                "\t\t}\n"
                "\t\tvici { socket = unix:///run/x.vici }\n"
                "\t}\n"
                "\tjoined =   a    b\tc  \n"
                "\tquoted = \"with # and } and \\\"quotes\\\"\\tand a tab\"\n"
                "\tparts = one \"two three\" four\n"
                "\tempty =\n"
                "\tref-section : other, more { inherited = no }\n"
                "}\n"
                "charon { plugins { socket-default { fwmark = 0x43 } } }\n"
                "include-me = not an include\n",
                0, NULL);

        assert_string_equal(swconf_get(c, "top"), "value");
        /* a key set again: the later value */
        assert_string_equal(swconf_get(c, "charon.plugins.socket-default.fwmark"), "0x43");
        assert_string_equal(swconf_get(c, "charon.plugins.vici.socket"), "unix:///run/x.vici");
        assert_string_equal(swconf_get(c, "charon.joined"), "a b c");
        assert_string_equal(swconf_get(c, "charon.quoted"), "with # and } and \"quotes\"\tand a tab");
        assert_string_equal(swconf_get(c, "charon.parts"), "one two three four");
        assert_string_equal(swconf_get(c, "charon.empty"), "");
        assert_string_equal(swconf_get(c, "charon.ref-section.inherited"), "no");
        assert_string_equal(swconf_get(c, "include-me"), "not an include");
        assert_null(swconf_get(c, "charon.plugins"));
        assert_null(swconf_get(c, "nothing"));
        assert_int_equal(swconf_size(c), 9);
}

static void test_swconf_errors(void **state) {
        static const struct {
                const char *text;
                const char *error;
        } cases[] = {
                { "a = b\n}\n", "t.conf:2: '}' without a section" },
                { "a {\n b = c\n", "t.conf:3: section 'a' not closed" },
                { "a {\n b\n}\n", "t.conf:3: expected '=' or '{' after 'b'" },
                { "\n\nx = \"open\n", "t.conf:3: quoted value not closed" },
                { "= x\n", "t.conf:1: unexpected '='" },
                { "a.b = c\n", "t.conf:1: expected '=' or '{' after 'a'" },
                { "a = \"q\" tail\"\n", "t.conf:1: quoted value not closed" },
                { "a = x\0y\n", "t.conf:1: NUL byte in a value" },
                { "include\n", "t.conf:1: include without a file" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                SwConf *c = swconf_new();
                _cleanup_(freep) char *error = NULL;
                size_t len = strlen(cases[i].text);

                if (strstr(cases[i].error, "NUL"))
                        len += 3;       /* the text goes on after its NUL */
                print_message("%s\n", cases[i].error);
                assert_int_equal(swconf_load_buffer(c, "t.conf", NULL, cases[i].text, len, &error), -EINVAL);
                assert_string_equal(error, cases[i].error);
                swconf_free(c);
        }
}

static void test_swconf_limits(void **state) {
        size_t n = SWCONF_VALUE_MAX + 8;
        _cleanup_(freep) char *text = malloc(n + 16);
        SwConf *c;

        /* a value one byte too long */
        strcpy(text, "v = ");
        memset(text + 4, 'x', SWCONF_VALUE_MAX + 1);
        strcpy(text + 4 + SWCONF_VALUE_MAX + 1, "\n");
        c = load_text(text, -EINVAL, "t.conf:1: value longer than 4096 bytes");
        swconf_free(c);
        /* and one that fits */
        strcpy(text + 4 + SWCONF_VALUE_MAX, "\n");
        c = load_text(text, 0, NULL);
        assert_int_equal(strlen(swconf_get(c, "v")), SWCONF_VALUE_MAX);
        swconf_free(c);

        /* sections nested too deep */
        text[0] = 0;
        for (int i = 0; i <= SWCONF_DEPTH_MAX; i++)
                strcat(text, "s {");
        c = load_text(text, -EINVAL, "t.conf:1: sections nested more than 16 deep");
        swconf_free(c);
}

static void write_file(const char *dir, const char *name, const char *text) {
        char path[256];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        f = fopen(path, "we");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
}

static void test_swconf_includes(void **state) {
        static const char *const files[] = {
                "strongswan.conf", "strongswan.d/charon/socket-default.conf", "strongswan.d/charon/vici.conf",
                "strongswan.d/charon-logging.conf", "strongswan.d/site.conf", "loop.conf" /* a file too */,
                "strongswan.d/charon", "strongswan.d",
        };
        char dir[] = "/tmp/test-swconf.XXXXXX", sub[64], path[128];
        _cleanup_(freep) char *error = NULL;
        SwConf *c;

        assert_non_null(mkdtemp(dir));
        snprintf(sub, sizeof(sub), "%s/strongswan.d", dir);
        assert_int_equal(mkdir(sub, 0700), 0);
        snprintf(sub, sizeof(sub), "%s/strongswan.d/charon", dir);
        assert_int_equal(mkdir(sub, 0700), 0);
        /* Debian's layout: plugin files included inside charon.plugins, the others at the root */
        write_file(dir, "strongswan.conf",
                   "charon {\n"
                   "  load_modular = yes\n"
                   "  plugins {\n"
                   "    include strongswan.d/charon/*.conf\n"
                   "  }\n"
                   "}\n"
                   "include strongswan.d/*.conf\n"
                   "include no/such/*.conf\n");
        write_file(dir, "strongswan.d/charon/socket-default.conf",
                   "socket-default {\n  # fwmark =\n  load = yes\n}\n");
        write_file(dir, "strongswan.d/charon/vici.conf", "vici {\n  load = yes\n}\n");
        write_file(dir, "strongswan.d/charon-logging.conf", "charon { filelog { x = y } }\n");
        write_file(dir, "strongswan.d/site.conf",
                   "charon { plugins { socket-default { fwmark = 0x10/0xff } } }\n");

        snprintf(path, sizeof(path), "%s/strongswan.conf", dir);
        c = swconf_new();
        assert_int_equal(swconf_load(c, path, &error), 0);
        assert_string_equal(swconf_get(c, "charon.load_modular"), "yes");
        assert_string_equal(swconf_get(c, "charon.plugins.vici.load"), "yes");
        assert_string_equal(swconf_get(c, "charon.plugins.socket-default.load"), "yes");
        assert_string_equal(swconf_get(c, "charon.filelog.x"), "y");
        /* site.conf comes after socket-default.conf: its value */
        assert_string_equal(swconf_get(c, "charon.plugins.socket-default.fwmark"), "0x10/0xff");
        swconf_free(c);

        /* a file that includes itself ends at the depth limit, with the place */
        write_file(dir, "loop.conf", "a = b\ninclude loop.conf\n");
        snprintf(path, sizeof(path), "%s/loop.conf", dir);
        c = swconf_new();
        assert_int_equal(swconf_load(c, path, &error), -EINVAL);
        assert_non_null(strstr(error, "loop.conf:2: includes nested more than 16 deep"));
        swconf_free(c);
        error = mfree(error);

        snprintf(path, sizeof(path), "%s/missing.conf", dir);
        c = swconf_new();
        assert_int_equal(swconf_load(c, path, &error), -ENOENT);
        assert_non_null(strstr(error, "missing.conf: No such file or directory"));
        swconf_free(c);

        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
                assert_int_equal(i < 6 ? unlink(path) : rmdir(path), 0);
        }
        assert_int_equal(rmdir(dir), 0);
}

/* ---- the marks ----------------------------------------------------------------------------- */

static void test_parse_mark(void **state) {
        uint32_t m;

        assert_int_equal(swconf_parse_mark("0x42", &m), 0);
        assert_int_equal(m, 0x42);
        assert_int_equal(swconf_parse_mark("66", &m), 0);
        assert_int_equal(m, 66);
        assert_int_equal(swconf_parse_mark("010", &m), 0);    /* octal, as strtoul() reads it */
        assert_int_equal(m, 8);
        assert_int_equal(swconf_parse_mark("0x10/0xff", &m), 0);
        assert_int_equal(m, 0x10);
        assert_int_equal(swconf_parse_mark("0xffffffff", &m), 0);
        assert_int_equal(m, UINT32_MAX);
        assert_int_equal(swconf_parse_mark("0x100000000", &m), -ERANGE);
        assert_int_equal(swconf_parse_mark("", &m), -EINVAL);
        assert_int_equal(swconf_parse_mark("mark", &m), -EINVAL);
        assert_int_equal(swconf_parse_mark("-1", &m), -EINVAL);
        assert_int_equal(swconf_parse_mark("12x", &m), -EINVAL);
}

static void test_marks(void **state) {
        _cleanup_(swconf_freep) SwConf *c = load_text(
                "charon { plugins { socket-default { fwmark = 0x42 } } }\n"
                "charon-other { plugins { socket-default { fwmark = 7 } } }\n"
                "charon-zero { plugins { socket-default { fwmark = 0 } } }\n"
                "charon-junk { plugins { socket-default { fwmark = lots } } }\n",
                0, NULL);
        const char *key;
        uint32_t m = 0;

        assert_int_equal(marks_charon(c, "charon", &m, &key), 1);
        assert_int_equal(m, 0x42);
        assert_string_equal(key, "charon.plugins.socket-default.fwmark");
        assert_int_equal(marks_charon(c, "charon-other", &m, &key), 1);
        assert_int_equal(m, 7);
        assert_string_equal(key, "charon-other.plugins.socket-default.fwmark");
        /* charon-systemd without a section of its own reads charon's */
        assert_int_equal(marks_charon(c, "charon-systemd", &m, &key), 1);
        assert_int_equal(m, 0x42);
        assert_string_equal(key, "charon.plugins.socket-default.fwmark");
        assert_int_equal(marks_charon(c, "charon-zero", &m, &key), 0);
        assert_int_equal(marks_charon(c, "charon-junk", &m, &key), -EINVAL);

        assert_int_equal(marks_compare(true, 0x42, 0x42), MARKS_MATCH);
        assert_int_equal(marks_compare(true, 0x42, 0x43), MARKS_DIFFER);
        assert_int_equal(marks_compare(true, 0x42, 0), MARKS_CHARON_ONLY);
        assert_int_equal(marks_compare(false, 0, 0x42), MARKS_BFED_ONLY);
        assert_int_equal(marks_compare(false, 0, 0), MARKS_NEITHER);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_conns_recorded),
                cmocka_unit_test(test_versions),
                cmocka_unit_test(test_families),
                cmocka_unit_test(test_conns_limit),
                cmocka_unit_test(test_conns_duplicates),
                cmocka_unit_test(test_conns_odd_names),
                cmocka_unit_test(test_swconf_syntax),
                cmocka_unit_test(test_swconf_errors),
                cmocka_unit_test(test_swconf_limits),
                cmocka_unit_test(test_swconf_includes),
                cmocka_unit_test(test_parse_mark),
                cmocka_unit_test(test_marks),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
