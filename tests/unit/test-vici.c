/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-vici.c — the vici codec (src/vici): real packets recorded from charon
 * (tests/unit/vici/captures, made by make-captures), every truncation of them, hand-made
 * malformed messages and packets with the rule each breaks, the builder, and the stream.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "macro.h"
#include "vici-test-util.h"
#include "vici.h"

/* ---- recorded packets ---------------------------------------------------------------------- */

/* Parses a recorded packet and its message; the message encodes back to the same bytes. */
static ViciMessage *parse_capture(const char *name, ViciPacket *ret_packet, uint8_t **ret_data) {
        ViciMessage *m = NULL;
        ViciBuilder b = VICI_BUILDER_INIT;
        uint8_t *data, *again = NULL;
        size_t size, again_size = 0;
        ViciError e = {};

        data = vici_test_read_capture(name, &size);
        assert_int_equal(vici_packet_parse(data, size, ret_packet, &e), 0);
        if (!ret_packet->message) {
                *ret_data = data;
                return NULL;
        }
        assert_int_equal(vici_message_parse(ret_packet->message, ret_packet->message_size, &m, &e), 0);
        assert_int_equal(vici_builder_copy(&b, m, VICI_ROOT), 0);
        assert_int_equal(vici_builder_finish(&b, &again, &again_size), 0);
        assert_int_equal(again_size, ret_packet->message_size);
        if (again_size > 0)
                assert_memory_equal(again, ret_packet->message, again_size);
        free(again);
        *ret_data = data;
        return m;
}

static void test_capture_version(void **state) {
        _cleanup_(freep) uint8_t *data = NULL;
        ViciPacket p;
        ViciMessage *m = parse_capture("list/00-CMD_RESPONSE", &p, &data);

        assert_int_equal(p.type, VICI_CMD_RESPONSE);
        assert_string_equal(p.name, "");
        assert_string_equal(vici_find_str(m, VICI_ROOT, "daemon"), "charon");
        assert_string_equal(vici_find_str(m, VICI_ROOT, "version"), "5.9.8");
        assert_string_equal(vici_find_str(m, VICI_ROOT, "sysname"), "Linux");
        assert_null(vici_find_str(m, VICI_ROOT, "no-such-key"));
        /* a key/value, not a section or list */
        assert_int_equal(vici_find(m, VICI_ROOT, VICI_SECTION_START, "daemon"), VICI_NONE);
        vici_message_free(m);
}

static void test_capture_get_conns(void **state) {
        static const char *const expected[] = { "gw-v2", "gw-v1-v6", "roadwarriors", "dual-stack", "range-and-name" };
        _cleanup_(freep) uint8_t *data = NULL;
        ViciPacket p;
        ViciMessage *m = parse_capture("list/01-CMD_RESPONSE", &p, &data);
        ViciNode list = vici_find(m, VICI_ROOT, VICI_LIST_START, "conns");
        size_t n = 0;

        assert_int_not_equal(list, VICI_NONE);
        VICI_FOREACH(i, m, list) {
                assert_true(n < ELEMENTSOF(expected));
                assert_int_equal(vici_node_type(m, i), VICI_LIST_ITEM);
                assert_string_equal(vici_node_str(m, i), expected[n]);
                assert_string_equal(vici_node_name(m, i), "");
                n++;
        }
        assert_int_equal(n, ELEMENTSOF(expected));
        vici_message_free(m);
}

static void test_capture_list_conn(void **state) {
        _cleanup_(freep) uint8_t *data = NULL;
        ViciPacket p;
        ViciMessage *m = parse_capture("list/06-EVENT-list-conn", &p, &data);
        ViciNode conn, addrs, item, child;

        assert_int_equal(p.type, VICI_EVENT);
        assert_string_equal(p.name, "list-conn");
        /* one section per connection at the root, and nothing else */
        conn = vici_first(m, VICI_ROOT);
        assert_int_equal(vici_node_type(m, conn), VICI_SECTION_START);
        assert_string_equal(vici_node_name(m, conn), "dual-stack");
        assert_int_equal(vici_next(m, conn), VICI_NONE);

        assert_string_equal(vici_find_str(m, conn, "version"), "IKEv2");
        addrs = vici_find(m, conn, VICI_LIST_START, "remote_addrs");
        item = vici_first(m, addrs);
        assert_string_equal(vici_node_str(m, item), "192.0.2.0/24");
        item = vici_next(m, item);
        assert_string_equal(vici_node_str(m, item), "2001:db8::/64");
        assert_int_equal(vici_next(m, item), VICI_NONE);

        /* sections below the connection: walking siblings skips their subtrees */
        child = vici_find(m, conn, VICI_SECTION_START, "remote-1");
        assert_int_not_equal(child, VICI_NONE);
        assert_string_equal(vici_find_str(m, child, "class"), "pre-shared key");
        assert_null(vici_find_str(m, conn, "class"));
        vici_message_free(m);
}

static void test_capture_answers(void **state) {
        static const struct {
                const char *file;
                ViciPacketType type;
        } answers[] = {
                { "list/02-EVENT_CONFIRM", VICI_EVENT_CONFIRM },
                { "list/08-CMD_RESPONSE", VICI_CMD_RESPONSE },
                { "unknown/00-CMD_UNKNOWN", VICI_CMD_UNKNOWN },
                { "unknown/01-EVENT_UNKNOWN", VICI_EVENT_UNKNOWN },
        };

        for (size_t i = 0; i < ELEMENTSOF(answers); i++) {
                _cleanup_(freep) uint8_t *data = NULL;
                ViciPacket p;
                ViciMessage *m = parse_capture(answers[i].file, &p, &data);

                assert_int_equal(p.type, answers[i].type);
                /* list-conns completes with an empty response after its events */
                if (p.type == VICI_CMD_RESPONSE)
                        assert_int_equal(vici_first(m, VICI_ROOT), VICI_NONE);
                else
                        assert_null(m);
                vici_message_free(m);
        }
}

static void test_capture_log(void **state) {
        _cleanup_(freep) uint8_t *data = NULL;
        ViciPacket p;
        ViciMessage *m = parse_capture("log/01-EVENT-log", &p, &data);

        assert_string_equal(p.name, "log");
        assert_string_equal(vici_find_str(m, VICI_ROOT, "group"), "CFG");
        assert_string_equal(vici_find_str(m, VICI_ROOT, "level"), "1");
        assert_string_equal(vici_find_str(m, VICI_ROOT, "msg"), "added vici connection: gw-v2");
        vici_message_free(m);
}

/* Every prefix of every recorded message is either refused as malformed, the reason at a
 * byte within it, or a message of its own that encodes back to exactly the prefix. */
static void test_capture_truncated(void **state) {
        size_t refused = 0, total = 0;

        for (size_t f = 0; f < vici_test_n_captures; f++) {
                _cleanup_(freep) uint8_t *data = NULL;
                ViciPacket p;
                size_t size;

                data = vici_test_read_capture(vici_test_captures[f], &size);
                /* the packet cut short: only a cut after the name of a packet with a message holds */
                for (size_t cut = 0; cut < size; cut++) {
                        ViciPacket q;
                        ViciError e = {};
                        int r = vici_packet_parse(data, cut, &q, &e);

                        if (r == 0) {
                                assert_non_null(q.message);
                                continue;
                        }
                        assert_int_equal(r, -EBADMSG);
                        assert_true(e.offset <= cut);
                        assert_non_null(e.reason);
                }
                assert_int_equal(vici_packet_parse(data, size, &p, NULL), 0);
                for (size_t cut = 0; p.message && cut < p.message_size; cut++) {
                        _cleanup_(vici_message_freep) ViciMessage *m = NULL;
                        ViciBuilder b = VICI_BUILDER_INIT;
                        _cleanup_(freep) uint8_t *again = NULL;
                        size_t again_size = 0;
                        ViciError e = {};
                        int r = vici_message_parse(p.message, cut, &m, &e);

                        total++;
                        if (r < 0) {
                                assert_int_equal(r, -EBADMSG);
                                assert_true(e.offset <= cut);
                                assert_non_null(e.reason);
                                refused++;
                                continue;
                        }
                        assert_int_equal(vici_builder_copy(&b, m, VICI_ROOT), 0);
                        assert_int_equal(vici_builder_finish(&b, &again, &again_size), 0);
                        assert_int_equal(again_size, cut);
                        if (cut > 0)
                                assert_memory_equal(again, p.message, cut);
                }
        }
        /* the connections' messages are sections: nearly every cut leaves one open */
        assert_true(total > 1000);
        assert_true(refused > total * 9 / 10);
}

/* ---- malformed messages -------------------------------------------------------------------- */

#define BYTES(...) ((const uint8_t[]) { __VA_ARGS__ }), sizeof((const uint8_t[]) { __VA_ARGS__ })

static void expect_malformed(const uint8_t *d, size_t size, size_t offset, const char *reason) {
        ViciMessage *m = NULL;
        ViciError e = {};

        assert_int_equal(vici_message_parse(d, size, &m, &e), -EBADMSG);
        assert_null(m);
        assert_string_equal(e.reason, reason);
        assert_int_equal(e.offset, offset);
}

static void test_malformed(void **state) {
        expect_malformed(BYTES(9), 0, "unknown element type");
        expect_malformed(BYTES(0), 0, "unknown element type");
        expect_malformed(BYTES(3, 1, 'k', 0, 0, 7), 5, "unknown element type");
        expect_malformed(BYTES(3), 1, "name length cut short");
        expect_malformed(BYTES(3, 5, 'a'), 2, "name cut short");
        expect_malformed(BYTES(3, 2, 'a', 0, 0, 0), 2, "NUL byte in a name");
        expect_malformed(BYTES(3, 1, 'a', 0), 3, "value length cut short");
        expect_malformed(BYTES(3, 1, 'a', 0, 5, 'x'), 5, "value cut short");
        expect_malformed(BYTES(5, 0, 1, 'a'), 0, "list item outside a list");
        expect_malformed(BYTES(2), 0, "section end without a section");
        expect_malformed(BYTES(1, 1, 's', 2, 2), 4, "section end without a section");
        expect_malformed(BYTES(6), 0, "list end outside a list");
        expect_malformed(BYTES(4, 1, 'l', 3, 1, 'k', 0, 0), 3, "key/value inside a list");
        expect_malformed(BYTES(4, 1, 'l', 4, 1, 'm'), 3, "list inside a list");
        expect_malformed(BYTES(4, 1, 'l', 1, 1, 's'), 3, "section element inside a list");
        expect_malformed(BYTES(4, 1, 'l', 2), 3, "section element inside a list");
        expect_malformed(BYTES(4, 1, 'l', 5, 0, 0), 6, "list not closed");
        expect_malformed(BYTES(1, 1, 's', 3, 1, 'k', 0, 0), 8, "section not closed");
}

static void test_depth(void **state) {
        uint8_t d[(VICI_DEPTH_MAX + 1) * 4];
        ViciMessage *m = NULL;
        ViciError e = {};
        size_t n = 0;

        /* VICI_DEPTH_MAX sections, one in the other, are fine */
        for (unsigned i = 0; i < VICI_DEPTH_MAX; i++) {
                d[n++] = VICI_SECTION_START;
                d[n++] = 1;
                d[n++] = 'a' + (i % 26);
        }
        memset(d + n, VICI_SECTION_END, VICI_DEPTH_MAX);
        assert_int_equal(vici_message_parse(d, n + VICI_DEPTH_MAX, &m, &e), 0);
        m = vici_message_free(m);

        /* one more is refused where it opens */
        memmove(d + 3, d, n);
        d[0] = VICI_SECTION_START, d[1] = 1, d[2] = 'z';
        assert_int_equal(vici_message_parse(d, n + 3, &m, &e), -EBADMSG);
        assert_string_equal(e.reason, "sections nested too deep");
        assert_int_equal(e.offset, n);
}

static void test_too_many_elements(void **state) {
        size_t n = VICI_ELEMENTS_MAX + 2, size = 2 + 3 * n + 1;
        _cleanup_(freep) uint8_t *d = malloc(size);
        ViciMessage *m = NULL;

        assert_non_null(d);
        d[0] = VICI_LIST_START, d[1] = 0;               /* a list with an empty name */
        for (size_t i = 0; i < n; i++)
                d[2 + 3 * i] = VICI_LIST_ITEM, d[3 + 3 * i] = 0, d[4 + 3 * i] = 0;
        d[size - 1] = VICI_LIST_END;
        assert_int_equal(vici_message_parse(d, size, &m, NULL), -E2BIG);
        assert_null(m);

        /* the root and the list count too: VICI_ELEMENTS_MAX - 1 items are one too many */
        d[size - 1 - 3 * 3] = VICI_LIST_END;
        assert_int_equal(vici_message_parse(d, size - 3 * 3, &m, NULL), -E2BIG);
        d[size - 1 - 3 * 4] = VICI_LIST_END;
        assert_int_equal(vici_message_parse(d, size - 3 * 4, &m, NULL), 0);
        vici_message_free(m);
}

static void test_values(void **state) {
        /* values are blobs: a NUL inside is kept, but is not text */
        static const uint8_t d[] = { 3, 1, 'b', 0, 3, 'x', 0, 'y', 3, 1, 'e', 0, 0 };
        _cleanup_(vici_message_freep) ViciMessage *m = NULL;
        ViciNode n;
        size_t size;

        assert_int_equal(vici_message_parse(d, sizeof(d), &m, NULL), 0);
        n = vici_find(m, VICI_ROOT, VICI_KEY_VALUE, "b");
        assert_memory_equal(vici_node_value(m, n, &size), "x\0y", 3);
        assert_int_equal(size, 3);
        assert_null(vici_node_str(m, n));
        assert_null(vici_find_str(m, VICI_ROOT, "b"));
        assert_string_equal(vici_find_str(m, VICI_ROOT, "e"), "");
        assert_null(vici_node_value(m, VICI_ROOT, NULL));
        assert_null(vici_node_name(m, 99));
        assert_int_equal(vici_first(m, n), VICI_NONE);
        assert_int_equal(vici_next(m, VICI_ROOT), VICI_NONE);
}

/* ---- packets and the stream ---------------------------------------------------------------- */

static void expect_bad_packet(const uint8_t *d, size_t size, size_t offset, const char *reason) {
        ViciPacket p;
        ViciError e = {};

        assert_int_equal(vici_packet_parse(d, size, &p, &e), -EBADMSG);
        assert_string_equal(e.reason, reason);
        assert_int_equal(e.offset, offset);
}

static void test_packets(void **state) {
        _cleanup_(freep) uint8_t *seg = NULL;
        ViciPacket p;
        size_t size;

        expect_bad_packet(NULL, 0, 0, "empty packet");
        expect_bad_packet(BYTES(8), 0, "unknown packet type");
        expect_bad_packet(BYTES(0xff, 0), 0, "unknown packet type");
        expect_bad_packet(BYTES(VICI_EVENT), 1, "packet name length cut short");
        expect_bad_packet(BYTES(VICI_EVENT, 3, 'l', 'o'), 2, "packet name cut short");
        expect_bad_packet(BYTES(VICI_EVENT, 2, 'l', 0), 2, "NUL byte in the packet name");
        expect_bad_packet(BYTES(VICI_EVENT_CONFIRM, 0), 1, "bytes after a packet that carries no message");
        expect_bad_packet(BYTES(VICI_EVENT_REGISTER, 1, 'x', 3), 3, "bytes after a packet that carries no message");

        assert_int_equal(vici_packet_parse(BYTES(VICI_CMD_RESPONSE), &p, NULL), 0);
        assert_int_equal(p.message_size, 0);
        assert_non_null(p.message);

        /* encoding: the length header, the type, the name */
        assert_int_equal(vici_packet_encode(VICI_EVENT_REGISTER, "log", NULL, 0, &seg, &size), 0);
        assert_int_equal(size, 9);
        assert_memory_equal(seg, ((const uint8_t[]) { 0, 0, 0, 5, 3, 3, 'l', 'o', 'g' }), 9);
        assert_int_equal(vici_packet_parse(seg + 4, size - 4, &p, NULL), 0);
        assert_int_equal(p.type, VICI_EVENT_REGISTER);
        assert_string_equal(p.name, "log");

        /* what a type does not take, or lacks */
        assert_int_equal(vici_packet_encode(VICI_CMD_REQUEST, NULL, NULL, 0, &seg, &size), -EINVAL);
        assert_int_equal(vici_packet_encode(VICI_CMD_RESPONSE, "x", NULL, 0, &seg, &size), -EINVAL);
        assert_int_equal(vici_packet_encode(VICI_EVENT_REGISTER, "x", "m", 1, &seg, &size), -EINVAL);
        assert_int_equal(vici_packet_encode(_VICI_PACKET_TYPE_MAX, NULL, NULL, 0, &seg, &size), -EINVAL);
        assert_null(vici_packet_type_to_string(_VICI_PACKET_TYPE_MAX));
        assert_string_equal(vici_packet_type_to_string(VICI_EVENT_UNKNOWN), "EVENT_UNKNOWN");
}

/* The recorded packets as one stream, fed in pieces of every size from 1 to 7 bytes. */
static void test_stream(void **state) {
        _cleanup_(freep) uint8_t *stream = NULL;
        size_t stream_size = 0, offsets[64], sizes[64];

        assert_true(vici_test_n_captures <= ELEMENTSOF(offsets));
        for (size_t f = 0; f < vici_test_n_captures; f++) {
                _cleanup_(freep) uint8_t *data = NULL;
                size_t size;

                data = vici_test_read_capture(vici_test_captures[f], &size);
                stream = realloc(stream, stream_size + 4 + size);
                assert_non_null(stream);
                stream[stream_size] = (uint8_t) (size >> 24), stream[stream_size + 1] = (uint8_t) (size >> 16);
                stream[stream_size + 2] = (uint8_t) (size >> 8), stream[stream_size + 3] = (uint8_t) size;
                memcpy(stream + stream_size + 4, data, size);
                offsets[f] = stream_size + 4;
                sizes[f] = size;
                stream_size += 4 + size;
        }
        for (size_t piece = 1; piece <= 7; piece++) {
                ViciStream s;
                size_t o = 0, k = 0;

                vici_stream_init(&s, VICI_SEGMENT_MAX);
                while (o < stream_size) {
                        size_t n = piece < stream_size - o ? piece : stream_size - o, used = 0;
                        int r;

                        while (n > 0) {
                                r = vici_stream_feed(&s, stream + o, n, &used);
                                assert_true(r >= 0);
                                o += used, n -= used;
                                if (r > 0) {
                                        _cleanup_(freep) uint8_t *seg = NULL;
                                        size_t size;

                                        seg = vici_stream_take(&s, &size);
                                        assert_true(k < vici_test_n_captures);
                                        assert_int_equal(size, sizes[k]);
                                        assert_memory_equal(seg, stream + offsets[k], size);
                                        k++;
                                }
                        }
                }
                assert_int_equal(k, vici_test_n_captures);
                assert_true(vici_stream_is_idle(&s));
                vici_stream_done(&s);
        }
}

static void test_stream_limits(void **state) {
        ViciStream s;
        size_t used;

        vici_stream_init(&s, 16);
        assert_int_equal(vici_stream_feed(&s, BYTES(0, 0, 0, 16, 1), &used), 0);
        assert_int_equal(used, 5);
        assert_false(vici_stream_is_idle(&s));
        vici_stream_done(&s);
        assert_true(vici_stream_is_idle(&s));
        assert_int_equal(vici_stream_feed(&s, BYTES(0, 0, 0, 17), &used), -EMSGSIZE);
        vici_stream_done(&s);
        assert_int_equal(vici_stream_feed(&s, BYTES(0, 0, 0, 0), &used), -EBADMSG);
        vici_stream_done(&s);
        /* the largest length charon could announce, against the default maximum */
        vici_stream_init(&s, VICI_SEGMENT_MAX);
        assert_int_equal(vici_stream_feed(&s, BYTES(0xff, 0xff, 0xff, 0xff), &used), -EMSGSIZE);
        vici_stream_done(&s);
}

/* ---- the builder --------------------------------------------------------------------------- */

static void test_builder(void **state) {
        /* the protocol description's example: key1 = value1, section1 { sub-section { key2 =
         * value2 } list1 = [ item1, item2 ] } */
        static const uint8_t expected[] = {
                3, 4, 'k', 'e', 'y', '1', 0, 6, 'v', 'a', 'l', 'u', 'e', '1',
                1, 8, 's', 'e', 'c', 't', 'i', 'o', 'n', '1',
                1, 11, 's', 'u', 'b', '-', 's', 'e', 'c', 't', 'i', 'o', 'n',
                3, 4, 'k', 'e', 'y', '2', 0, 6, 'v', 'a', 'l', 'u', 'e', '2',
                2,
                4, 5, 'l', 'i', 's', 't', '1',
                5, 0, 5, 'i', 't', 'e', 'm', '1',
                5, 0, 5, 'i', 't', 'e', 'm', '2',
                6,
                2,
        };
        ViciBuilder b = VICI_BUILDER_INIT;
        _cleanup_(freep) uint8_t *out = NULL;
        size_t size;

        vici_builder_kv_str(&b, "key1", "value1");
        vici_builder_section(&b, "section1");
        vici_builder_section(&b, "sub-section");
        vici_builder_kv_str(&b, "key2", "value2");
        vici_builder_section_end(&b);
        vici_builder_list(&b, "list1");
        vici_builder_item(&b, "item1", 5);
        vici_builder_item(&b, "item2", 5);
        vici_builder_list_end(&b);
        vici_builder_section_end(&b);
        assert_int_equal(vici_builder_finish(&b, &out, &size), 0);
        assert_int_equal(size, sizeof(expected));
        assert_memory_equal(out, expected, size);
}

static void test_builder_misuse(void **state) {
        char long_name[VICI_NAME_MAX + 2];
        static char big[VICI_VALUE_MAX + 1];
        ViciBuilder b = VICI_BUILDER_INIT;
        uint8_t *out = NULL;
        size_t size;

        memset(long_name, 'n', sizeof(long_name) - 1);
        long_name[sizeof(long_name) - 1] = 0;

        vici_builder_list(&b, "l");
        assert_int_equal(vici_builder_kv_str(&b, "k", "v"), -EINVAL);
        /* the error sticks */
        assert_int_equal(vici_builder_list_end(&b), -EINVAL);
        assert_int_equal(vici_builder_finish(&b, &out, &size), -EINVAL);

        assert_int_equal(vici_builder_section_end(&b), -EINVAL);
        vici_builder_done(&b);
        assert_int_equal(vici_builder_item(&b, "x", 1), -EINVAL);
        vici_builder_done(&b);
        assert_int_equal(vici_builder_kv_str(&b, long_name, "v"), -EINVAL);
        vici_builder_done(&b);
        assert_int_equal(vici_builder_kv(&b, "k", big, sizeof(big)), -EINVAL);
        vici_builder_done(&b);
        assert_int_equal(vici_builder_kv(&b, "k", big, sizeof(big) - 1), 0);
        vici_builder_done(&b);
        vici_builder_section(&b, "open");
        assert_int_equal(vici_builder_finish(&b, &out, &size), -EBADMSG);
        vici_builder_list(&b, "open");
        assert_int_equal(vici_builder_finish(&b, &out, &size), -EBADMSG);
        assert_null(out);

        /* an empty message is valid */
        assert_int_equal(vici_builder_finish(&b, &out, &size), 0);
        assert_int_equal(size, 0);
        assert_null(out);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_capture_version),
                cmocka_unit_test(test_capture_get_conns),
                cmocka_unit_test(test_capture_list_conn),
                cmocka_unit_test(test_capture_answers),
                cmocka_unit_test(test_capture_log),
                cmocka_unit_test(test_capture_truncated),
                cmocka_unit_test(test_malformed),
                cmocka_unit_test(test_depth),
                cmocka_unit_test(test_too_many_elements),
                cmocka_unit_test(test_values),
                cmocka_unit_test(test_packets),
                cmocka_unit_test(test_stream),
                cmocka_unit_test(test_stream_limits),
                cmocka_unit_test(test_builder),
                cmocka_unit_test(test_builder_misuse),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
