/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-vici.c — libFuzzer target: what charon sends, through the vici client's codec. The
 * input is a byte stream as it comes from the socket: cut into segments by a ViciStream, fed
 * in pieces whose sizes the first byte picks; each segment's packet is read, and its message
 * when it has one. A message that reads is walked whole and must encode back to exactly its
 * bytes; a refusal must name a byte within what was read. Every message that reads also goes
 * through bfed-vici's reading of list-conn events (conns.c): a set of named connections within
 * the limit, each with versions and families.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conns.h"
#include "macro.h"
#include "vici.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Walks every node below @parent; returns how many there are. */
static size_t walk(const ViciMessage *m, ViciNode parent, unsigned depth) {
        size_t n = 0;

        if (depth > VICI_DEPTH_MAX + 1)
                abort();
        VICI_FOREACH(i, m, parent) {
                ViciElement t = vici_node_type(m, i);
                const char *name = vici_node_name(m, i), *value;
                size_t size = 0;

                if (!name || strlen(name) > VICI_NAME_MAX)
                        abort();
                value = vici_node_value(m, i, &size);
                if ((t == VICI_KEY_VALUE || t == VICI_LIST_ITEM) != !!value || size > VICI_VALUE_MAX ||
                    (value && value[size] != 0))
                        abort();
                if (vici_node_type(m, parent) == VICI_LIST_START ? t != VICI_LIST_ITEM : t == VICI_LIST_ITEM)
                        abort();
                /* a name finds a node of its type and name (the first of them) */
                if (t != VICI_LIST_ITEM) {
                        ViciNode f = vici_find(m, parent, t, name);

                        if (f == VICI_NONE || f > i || !streq(vici_node_name(m, f), name))
                                abort();
                }
                n++;
                if (t == VICI_SECTION_START || t == VICI_LIST_START)
                        n += walk(m, i, depth + 1);
        }
        return n;
}

/* The connections a list-conn event names, as the bridge reads them. */
static void check_conns(const ViciMessage *m) {
        Conns s = {};

        if (conns_add_event(&s, m) < 0 || conns_add_event(&s, m) < 0)
                abort();
        conns_finish(&s);
        if (s.n > CONNS_MAX)
                abort();
        for (size_t i = 0; i < s.n; i++) {
                const Conn *c = &s.conns[i];

                if (!c->versions || (c->versions & ~IKE_ANY) || !c->families || (c->families & ~FAMILY_ANY))
                        abort();
                if ((i > 0 && strcmp(s.conns[i - 1].name, c->name) >= 0) || conns_find(&s, c->name) != c)
                        abort();
        }
        conns_done(&s);
}

static void check_message(const uint8_t *data, size_t size) {
        _cleanup_(vici_message_freep) ViciMessage *m = NULL;
        _cleanup_(freep) uint8_t *again = NULL;
        ViciBuilder b = VICI_BUILDER_INIT;
        ViciError e = {};
        size_t again_size = 0;
        int r;

        r = vici_message_parse(data, size, &m, &e);
        if (r == -EBADMSG) {
                if (!e.reason || e.offset > size)
                        abort();
                return;
        }
        if (r == -E2BIG)
                return;
        if (r < 0 || walk(m, VICI_ROOT, 0) >= VICI_ELEMENTS_MAX)
                abort();
        if (vici_builder_copy(&b, m, VICI_ROOT) < 0 || vici_builder_finish(&b, &again, &again_size) < 0)
                abort();
        if (again_size != size || (size > 0 && memcmp(again, data, size) != 0))
                abort();
        check_conns(m);
}

static void check_segment(const uint8_t *seg, size_t size) {
        ViciPacket p;
        ViciError e = {};
        int r;

        r = vici_packet_parse(seg, size, &p, &e);
        if (r < 0) {
                if (r != -EBADMSG || !e.reason || e.offset > size)
                        abort();
                return;
        }
        if (strlen(p.name) > VICI_NAME_MAX || !vici_packet_type_to_string(p.type))
                abort();
        if (p.message)
                check_message(p.message, p.message_size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        size_t piece, o = 1;
        ViciStream s;

        if (size == 0)
                return 0;
        piece = 1 + data[0] % 64;
        vici_stream_init(&s, VICI_SEGMENT_MAX);
        while (o < size) {
                size_t n = piece < size - o ? piece : size - o, used;
                int r = vici_stream_feed(&s, data + o, n, &used);

                if (r < 0)
                        break;
                if (used > n || (r == 0 && used != n))
                        abort();
                o += used;
                if (r > 0) {
                        _cleanup_(freep) uint8_t *seg = NULL;
                        size_t seg_size;

                        seg = vici_stream_take(&s, &seg_size);
                        check_segment(seg, seg_size);
                }
        }
        vici_stream_done(&s);
        return 0;
}
