/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-boot.c — boot-time filters (FWPM_FILTER_FLAG_BOOTTIME) outside the engine: the boot file's
 * text (golden, tests/golden/boot.nft: every condition kind, hostile names, the alternatives of
 * one filter), its writing around a commit (store-boot.c), and the enumeration templates' flags
 * BOOTTIME_ONLY and INCLUDE_BOOTTIME. Regenerate the golden file with BFED_UPDATE_GOLDEN=1 after
 * checking the difference by eye; tests/integration/boottime.sh loads such a file with nft.
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

#include "golden.h"

#include "boot.h"
#include "compile.h"
#include "engine.h"
#include "enumerate.h"
#include "macro.h"
#include "store-boot.h"

/* Adds a filter (key "00000000-0000-0000-0000-0000000000NN", so the text is the same every run). */
static Filter *add(Engine *e, unsigned nn, const char *name, const char *layer, uint32_t action, uint32_t flags,
                   const BfeKey *sublayer, ConditionSpec *c, size_t n) {
        FilterSpec spec = { .name = (char *) name, .layer = (char *) layer, .action = action, .flags = flags,
                            .conditions = c, .n_conditions = n };
        char key[37];
        EngineError err = {};
        Filter *f = NULL;
        int r;

        snprintf(key, sizeof(key), "00000000-0000-0000-0000-0000000000%02u", nn);
        assert_int_equal(guid_from_string(key, &spec.key), 0);
        if (sublayer)
                spec.sublayer_key = *sublayer;
        if (action == WFP_ACTION_CALLOUT_TERMINATING)
                assert_int_equal(guid_from_string("49d3ac92-2a6c-4dcf-955f-1c3be009dd99", &spec.callout_key), 0);
        assert_int_equal(engine_begin(e), 0);
        r = engine_add_filter(e, &spec, &err, &f);
        if (r < 0)
                fail_msg("%s: %s", name, err.message);
        engine_commit(e);
        return f;
}

#define BOOT WFP_FILTER_FLAG_BOOTTIME
#define HARD WFP_FILTER_FLAG_CLEAR_ACTION_RIGHT

/* One boot-time filter of every kind the renderer knows, and a running one it must leave out. */
static Engine *engine_with_boot_filters(void) {
        SublayerSpec ss = { .name = "boot sublayer", .weight = 40000, .flags = WFP_FLAG_PERSISTENT };
        ConditionSpec udp9300[] = { { "IP_PROTOCOL", 0, "udp" }, { "IP_LOCAL_PORT", 0, "9300" } };
        ConditionSpec many[] = {
                { "IP_PROTOCOL", 0, "tcp" },
                { "IP_REMOTE_ADDRESS", 0, "192.0.2.0/24" },
                { "IP_LOCAL_ADDRESS", 5, "10.0.0.1-10.0.0.9" },
                { "IP_LOCAL_PORT", 0, "22" }, { "IP_LOCAL_PORT", 5, "7000-7010" }, { "IP_LOCAL_PORT", 0, "7005" },
                { "IP_REMOTE_PORT", 10, "1000" }, { "IP_REMOTE_PORT", 5, "1000-1010" },
                { "IP_LOCAL_INTERFACE", 0, "eth0" }, { "IP_LOCAL_INTERFACE", 0, "eth1" },
                { "IP_LOCAL_ADDRESS_TYPE", 10, "broadcast" },
        };
        ConditionSpec v6[] = { { "IP_REMOTE_ADDRESS", 10, "2001:db8::/32" }, { "FLAGS", 7, "loopback,ipsec-secured" } };
        ConditionSpec ports_and_types[] = { { "IP_LOCAL_PORT", 0, "8" }, { "IP_REMOTE_PORT", 4, "3" } };
        ConditionSpec nothing[] = { { "IP_PROTOCOL", 0, "icmp" }, { "IP_LOCAL_PORT", 0, "300" } };
        ConditionSpec user[] = { { "ALE_USER_ID", 0, "0" }, { "FLAGS", 8, "loopback" } };
        ConditionSpec forward[] = {
                { "IP_SOURCE_ADDRESS", 0, "10.9.0.0/16" }, { "IP_LOCAL_INTERFACE", 0, "lab0" },
                { "IP_FORWARD_INTERFACE", 0, "wan0" }, { "IP_DESTINATION_ADDRESS_TYPE", 0, "unicast" },
        };
        ConditionSpec forward6[] = { { "IP_DESTINATION_ADDRESS", 0, "2001:db8:1::/48" } };
        ConditionSpec flow_out[] = { { "DIRECTION", 0, "outbound" }, { "IP_REMOTE_ADDRESS", 0, "192.0.2.7" } };
        ConditionSpec flow_in[] = { { "DIRECTION", 0, "inbound" }, { "IP_LOCAL_PORT", 0, "8080" } };
        Sublayer *s = NULL;
        Engine *e;

        assert_int_equal(engine_new(&e), 0);
        assert_int_equal(engine_begin(e), 0);
        assert_int_equal(guid_from_string("00000000-0000-0000-0000-0000000000aa", &ss.key), 0);
        assert_int_equal(engine_add_sublayer(e, &ss, NULL, &s), 0);
        engine_commit(e);

        add(e, 1, "boot block 9300", "INBOUND_TRANSPORT_V4", WFP_ACTION_BLOCK, BOOT, NULL, udp9300, 2);
        add(e, 2, "running block 9300", "INBOUND_TRANSPORT_V4", WFP_ACTION_BLOCK, 0, NULL, udp9300, 2);
        add(e, 3, "x\" drop; } } table ip evil { chain c {\n", "INBOUND_TRANSPORT_V4", WFP_ACTION_BLOCK, BOOT,
            &s->key, many, ELEMENTSOF(many));
        add(e, 4, "v6 hard permit", "OUTBOUND_TRANSPORT_V6", WFP_ACTION_PERMIT, BOOT | HARD, NULL, v6, 2);
        add(e, 5, "port 8 or echo", "INBOUND_TRANSPORT_V4", WFP_ACTION_PERMIT, BOOT, &s->key, ports_and_types, 2);
        add(e, 6, "icmp type 300", "INBOUND_TRANSPORT_V4", WFP_ACTION_BLOCK, BOOT, NULL, nothing, 2);
        add(e, 7, "root connects", "ALE_AUTH_CONNECT_V4", WFP_ACTION_PERMIT, BOOT, NULL, user, 2);
        add(e, 8, "require ipsec", "INBOUND_TRANSPORT_V6", WFP_ACTION_CALLOUT_TERMINATING, BOOT, NULL, NULL, 0);
        /* a gateway's: forwarding and new flows, before bfed runs */
        add(e, 9, "no lab to wan", "IPFORWARD_V4", WFP_ACTION_BLOCK, BOOT, NULL, forward, ELEMENTSOF(forward));
        add(e, 10, "v6 forward", "IPFORWARD_V6", WFP_ACTION_PERMIT, BOOT, NULL, forward6, 1);
        add(e, 11, "no flows to .7", "ALE_FLOW_ESTABLISHED_V4", WFP_ACTION_BLOCK, BOOT, NULL, flow_out, 2);
        add(e, 12, "flows in to 8080", "ALE_FLOW_ESTABLISHED_V4", WFP_ACTION_PERMIT, BOOT, NULL, flow_in, 2);
        return e;
}

static void test_render_golden(void **state) {
        _cleanup_(freep) char *text = NULL;
        NftConfig c;
        Engine *e = engine_with_boot_filters();
        size_t len;

        nft_config_init(&c);
        assert_int_equal(nft_boot_count(e), 11);
        assert_int_equal(nft_boot_render(e, &c, &text, &len), 0);
        assert_int_equal(strlen(text), len);
        check_golden("boot.nft", text);
        /* never a running filter, never a caller's '"' or newline */
        assert_null(strstr(text, "running block"));
        assert_null(strstr(text, "x\""));
        assert_non_null(strstr(text, ": x' drop; } } table ip evil { chain c { \"\n"));
        assert_non_null(strstr(text, "\t\t# boot filter 00000000-0000-0000-0000-000000000006: icmp type 300 matches no "
                                     "packet\n"));
        engine_free(e);
}

/* Table= and Priority= are bfed's: the boot table is the one bfed takes over. */
static void test_render_config(void **state) {
        _cleanup_(freep) char *text = NULL;
        NftConfig c;
        Engine *e = engine_with_boot_filters();
        size_t len;

        nft_config_init(&c);
        snprintf(c.table, sizeof(c.table), "%s", "other");
        c.priority = 5;
        assert_int_equal(nft_boot_render(e, &c, &text, &len), 0);
        assert_non_null(strstr(text, "\ntable inet other\ndelete table inet other\ntable inet other {\n"));
        assert_non_null(strstr(text, "type filter hook input priority 5; policy accept;"));
        assert_non_null(strstr(text, "type filter hook output priority 6; policy accept;"));
        assert_null(strstr(text, "bfed {"));
        engine_free(e);
}

static int collect(void *object, void *userdata) {
        char *out = userdata;

        strcat(out, ((Filter *) object)->name);
        strcat(out, ";");
        return 0;
}

static char *walk(const Engine *e, uint32_t flags, char *out) {
        EnumTemplate t = { .kind = OBJECT_FILTER, .flags = flags, .has_layer = true,
                           .layer = WFP_LAYER_INBOUND_TRANSPORT_V4 };

        out[0] = 0;
        assert_int_equal(enum_walk(e, &t, collect, out), 0);
        return out;
}

/* WFP leaves boot-time filters out of an enumeration unless the template asks: BOOTTIME_ONLY
 * gives them alone, INCLUDE_BOOTTIME merged with the others in evaluation order. */
static void test_enum_flags(void **state) {
        ConditionSpec c[] = { { "IP_PROTOCOL", 0, "udp" } };
        char out[512];
        Engine *e;
        FilterSpec spec = { .layer = "INBOUND_TRANSPORT_V4", .action = WFP_ACTION_BLOCK, .conditions = c,
                            .n_conditions = 1, .weight_kind = BFE_WEIGHT_EXPLICIT };
        static const struct {
                const char *name;
                uint64_t weight;
                uint32_t flags;
        } filters[] = { { "r10", 10, 0 }, { "b30", 30, BOOT }, { "r20", 20, 0 }, { "b15", 15, BOOT },
                        { "b5", 5, BOOT } };

        assert_int_equal(engine_new(&e), 0);
        for (size_t i = 0; i < ELEMENTSOF(filters); i++) {
                spec.name = (char *) filters[i].name;
                spec.weight = filters[i].weight;
                spec.flags = filters[i].flags;
                assert_int_equal(engine_begin(e), 0);
                assert_int_equal(engine_add_filter(e, &spec, NULL, NULL), 0);
                engine_commit(e);
        }
        assert_string_equal(walk(e, 0, out), "r20;r10;");
        assert_string_equal(walk(e, WFP_FILTER_ENUM_FLAG_SORTED, out), "r20;r10;");
        assert_string_equal(walk(e, WFP_FILTER_ENUM_FLAG_BOOTTIME_ONLY, out), "b30;b15;b5;");
        assert_string_equal(walk(e, WFP_FILTER_ENUM_FLAG_INCLUDE_BOOTTIME, out), "b30;r20;b15;r10;b5;");
        assert_string_equal(walk(e, WFP_FILTER_ENUM_FLAG_BOOTTIME_ONLY | WFP_FILTER_ENUM_FLAG_INCLUDE_BOOTTIME, out),
                            "b30;b15;b5;");
        engine_free(e);
}

static bool exists(const char *dir, const char *name) {
        char path[512];

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        return access(path, F_OK) == 0;
}

/* Written around a commit as the state file is: nothing in place before the commit, the rendered
 * text after it, nothing left of a discarded one, and no file without boot-time filters. */
static void test_boot_file(void **state) {
        char dir[] = "/tmp/test-boot-XXXXXX", path[512];
        _cleanup_(freep) char *text = NULL, *want = NULL;
        BootFile *b = NULL;
        NftConfig c;
        Engine *e = engine_with_boot_filters(), *empty = NULL;
        size_t len;

        nft_config_init(&c);
        assert_non_null(mkdtemp(dir));
        assert_int_equal(boot_file_new(dir, &b), 0);
        snprintf(path, sizeof(path), "%s/boot.nft", dir);
        assert_string_equal(boot_file_path(b), path);

        assert_int_equal(boot_file_commit(b), -EBADE);
        assert_int_equal(boot_file_prepare(b, e, &c), 0);
        assert_false(exists(dir, "boot.nft"));
        assert_true(exists(dir, "boot.nft.tmp"));
        boot_file_discard(b);
        assert_false(exists(dir, "boot.nft.tmp"));

        assert_int_equal(boot_file_prepare(b, e, &c), 0);
        assert_int_equal(boot_file_commit(b), 0);
        assert_false(exists(dir, "boot.nft.tmp"));
        text = golden_read(path);
        assert_non_null(text);
        assert_int_equal(nft_boot_render(e, &c, &want, &len), 0);
        assert_string_equal(text, want);

        /* a change in the transaction: only boot-time filters make it touch the file */
        assert_int_equal(engine_begin(e), 0);
        assert_false(boot_changes_touch(e));
        assert_int_equal(engine_delete_filter_by_id(e, 2, NULL), 0); /* the running one */
        assert_false(boot_changes_touch(e));
        assert_int_equal(engine_delete_filter_by_id(e, 1, NULL), 0);
        assert_true(boot_changes_touch(e));
        engine_abort(e);

        assert_int_equal(engine_new(&empty), 0);
        assert_int_equal(boot_file_sync(b, empty, &c), 0);
        assert_false(exists(dir, "boot.nft"));
        assert_int_equal(boot_file_sync(b, empty, &c), 0); /* nothing to remove is no error */
        assert_int_equal(boot_file_sync(b, e, &c), 11);
        assert_true(exists(dir, "boot.nft"));

        assert_int_equal(unlink(path), 0);
        assert_int_equal(rmdir(dir), 0);
        boot_file_free(b);
        engine_free(empty);
        engine_free(e);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_render_golden),
                cmocka_unit_test(test_render_config),
                cmocka_unit_test(test_enum_flags),
                cmocka_unit_test(test_boot_file),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
