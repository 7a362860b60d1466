/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vici-packet.c — vici's transport and packet layers: the stream of length-prefixed segments,
 * and the packet in each (a type byte; an 8-bit length and a name for the named types; the
 * message, the rest of the segment, for the types that carry one).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "vici.h"

static const char *const packet_type_names[_VICI_PACKET_TYPE_MAX] = {
        [VICI_CMD_REQUEST] = "CMD_REQUEST",
        [VICI_CMD_RESPONSE] = "CMD_RESPONSE",
        [VICI_CMD_UNKNOWN] = "CMD_UNKNOWN",
        [VICI_EVENT_REGISTER] = "EVENT_REGISTER",
        [VICI_EVENT_UNREGISTER] = "EVENT_UNREGISTER",
        [VICI_EVENT_CONFIRM] = "EVENT_CONFIRM",
        [VICI_EVENT_UNKNOWN] = "EVENT_UNKNOWN",
        [VICI_EVENT] = "EVENT",
};

const char *vici_packet_type_to_string(ViciPacketType t) {
        return STRING_TABLE_AT(packet_type_names, t);
}

static bool packet_is_named(ViciPacketType t) {
        return t == VICI_CMD_REQUEST || t == VICI_EVENT_REGISTER || t == VICI_EVENT_UNREGISTER || t == VICI_EVENT;
}

static bool packet_has_message(ViciPacketType t) {
        return t == VICI_CMD_REQUEST || t == VICI_CMD_RESPONSE || t == VICI_EVENT;
}

static int fail(ViciError *e, size_t offset, const char *reason) {
        if (e)
                *e = (ViciError) { .offset = offset, .reason = reason };
        return -EBADMSG;
}

int vici_packet_parse(const uint8_t *segment, size_t size, ViciPacket *ret, ViciError *ret_error) {
        ViciPacket p = {};
        size_t o = 1;

        if (size == 0)
                return fail(ret_error, 0, "empty packet");
        if (segment[0] >= _VICI_PACKET_TYPE_MAX)
                return fail(ret_error, 0, "unknown packet type");
        p.type = segment[0];
        if (packet_is_named(p.type)) {
                size_t len;

                if (o >= size)
                        return fail(ret_error, o, "packet name length cut short");
                len = segment[o++];
                if (len > size - o)
                        return fail(ret_error, o, "packet name cut short");
                if (memchr(segment + o, 0, len))
                        return fail(ret_error, o, "NUL byte in the packet name");
                memcpy(p.name, segment + o, len);
                p.name[len] = 0;
                o += len;
        }
        if (packet_has_message(p.type)) {
                p.message = segment + o;
                p.message_size = size - o;
        } else if (o < size)
                return fail(ret_error, o, "bytes after a packet that carries no message");
        *ret = p;
        return 0;
}

int vici_packet_encode(ViciPacketType type, const char *name, const void *message, size_t size, uint8_t **ret,
                       size_t *ret_size) {
        size_t name_len = name ? strlen(name) : 0, total;
        uint8_t *p;

        if ((unsigned) type >= _VICI_PACKET_TYPE_MAX || packet_is_named(type) != !!name ||
            (!packet_has_message(type) && (message || size > 0)) || (size > 0 && !message) ||
            name_len > VICI_NAME_MAX)
                return -EINVAL;
        total = 1 + (name ? 1 + name_len : 0) + size;
        if (total > VICI_SEGMENT_MAX)
                return -EINVAL;
        p = malloc(4 + total);
        if (!p)
                return -ENOMEM;
        p[0] = (uint8_t) (total >> 24);
        p[1] = (uint8_t) (total >> 16);
        p[2] = (uint8_t) (total >> 8);
        p[3] = (uint8_t) total;
        p[4] = (uint8_t) type;
        if (name) {
                p[5] = (uint8_t) name_len;
                memcpy(p + 6, name, name_len);
        }
        if (size > 0)
                memcpy(p + 4 + total - size, message, size);
        *ret = p;
        *ret_size = 4 + total;
        return 0;
}

/* ---- the stream ---------------------------------------------------------------------------- */

void vici_stream_init(ViciStream *s, size_t max) {
        *s = (ViciStream) { .max = max };
}

void vici_stream_done(ViciStream *s) {
        s->segment = mfree(s->segment);
        vici_stream_init(s, s->max);
}

bool vici_stream_is_idle(const ViciStream *s) {
        return s->header_len == 0;
}

int vici_stream_feed(ViciStream *s, const uint8_t *data, size_t size, size_t *ret_used) {
        size_t used = 0, n;

        if (s->header_len < 4) {
                n = 4 - s->header_len < size ? 4 - s->header_len : size;
                memcpy(s->header + s->header_len, data, n);
                s->header_len += n;
                used += n;
                if (s->header_len < 4) {
                        *ret_used = used;
                        return 0;
                }
                s->size = (size_t) s->header[0] << 24 | (size_t) s->header[1] << 16 | (size_t) s->header[2] << 8 |
                          s->header[3];
                if (s->size == 0)
                        return -EBADMSG;
                if (s->size > s->max)
                        return -EMSGSIZE;
                s->segment = malloc(s->size);
                if (!s->segment)
                        return -ENOMEM;
                s->len = 0;
        }
        n = s->size - s->len < size - used ? s->size - s->len : size - used;
        memcpy(s->segment + s->len, data + used, n);
        s->len += n;
        used += n;
        *ret_used = used;
        return s->len == s->size;
}

uint8_t *vici_stream_take(ViciStream *s, size_t *ret_size) {
        uint8_t *seg = TAKE_PTR(s->segment);

        *ret_size = s->len;
        s->header_len = 0;
        s->size = s->len = 0;
        return seg;
}
