/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vici.h — a small client of strongSwan's Versatile IKE Control Interface (vici), written
 * from the published protocol description (strongSwan's src/libcharon/plugins/vici/README.md),
 * without charon's libvici.
 *
 * Three layers, each usable alone:
 *
 *   - the message codec (vici-message.c): a tree of sections, key/values and lists, read
 *     from bytes into a ViciMessage (read-only, every name and value a NUL-terminated copy)
 *     and written with a ViciBuilder;
 *   - the packet layer (vici-packet.c): the 32-bit length-prefixed segments of the stream
 *     (ViciStream, which takes bytes in any pieces) and the packets inside them (a type, a
 *     name for some types, a message for some);
 *   - the connection (vici-conn.c): a Unix socket to charon on an sd-event loop, one request
 *     at a time as the protocol wants, events dispatched as they come.
 *
 * Everything read from the peer is bounded (VICI_SEGMENT_MAX, VICI_DEPTH_MAX,
 * VICI_ELEMENTS_MAX) and checked: malformed input is an error naming the byte and the rule
 * broken, never a crash. Functions return 0 or a negative errno, as in the rest of bfed.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

/* The largest segment charon sends or takes (its own limit, 512 KiB). */
#define VICI_SEGMENT_MAX (512u * 1024u)
/* Names (of packets, sections, keys and lists) are at most this long: an 8-bit length. */
#define VICI_NAME_MAX 255u
/* Values are at most this long: a 16-bit length. */
#define VICI_VALUE_MAX 65535u
/* Sections nest at most this deep below the root (charon's messages use four or five). */
#define VICI_DEPTH_MAX 32u
/* A message has at most this many elements (a connection in list-conn has about fifty). */
#define VICI_ELEMENTS_MAX 65536u

/*
 * struct ViciError - where a message or packet breaks the rules, and which rule.
 * @offset: the byte, from the start of what was parsed
 * @reason: a static text ("list item outside a list")
 */
typedef struct ViciError {
        size_t offset;
        const char *reason;
} ViciError;

/* ---- messages ------------------------------------------------------------------------------ */

/* The element types of the message encoding; the kinds of node a parsed message has. */
typedef enum ViciElement {
        VICI_SECTION_START = 1,         /* named */
        VICI_SECTION_END = 2,
        VICI_KEY_VALUE = 3,             /* named, with a value */
        VICI_LIST_START = 4,            /* named */
        VICI_LIST_ITEM = 5,             /* with a value */
        VICI_LIST_END = 6,
} ViciElement;

typedef struct ViciMessage ViciMessage;

/* A node of a parsed message: VICI_ROOT, or what vici_first(), vici_next(), vici_find() give. */
typedef uint32_t ViciNode;
#define VICI_ROOT ((ViciNode) 0)
#define VICI_NONE ((ViciNode) UINT32_MAX)

/**
 * vici_message_parse() - read a message (the body of a CMD_REQUEST, CMD_RESPONSE or EVENT).
 * @data: @size bytes, copied: they need not outlive the message
 * @ret: the message, freed with vici_message_free()
 * @ret_error: optional: what is wrong, when the message is malformed
 *
 * Sections balanced and at most VICI_DEPTH_MAX deep, lists closed and not nested, no
 * key/value or section inside a list, no item outside one, no NUL in a name, no more than
 * VICI_ELEMENTS_MAX elements, nothing cut short. An empty message is valid (an empty root).
 * Duplicate names are not refused; vici_find() gives the first.
 *
 * Return: 0; -EBADMSG when malformed (see @ret_error); -E2BIG for too many elements; -ENOMEM.
 */
int vici_message_parse(const void *data, size_t size, ViciMessage **ret, ViciError *ret_error);
ViciMessage *vici_message_free(ViciMessage *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(ViciMessage *, vici_message_free);

/* The element type of @node: VICI_SECTION_START (the root too), VICI_KEY_VALUE,
 * VICI_LIST_START or VICI_LIST_ITEM. */
ViciElement vici_node_type(const ViciMessage *m, ViciNode node);
/* The name of a section, key/value or list; "" for the root and list items. */
const char *vici_node_name(const ViciMessage *m, ViciNode node);
/* The value of a key/value or list item, NUL-terminated (it may hold NULs of its own: see
 * @ret_size, optional); NULL for the other kinds. */
const char *vici_node_value(const ViciMessage *m, ViciNode node, size_t *ret_size);
/* The value as text: NULL when @node has no value or the value holds a NUL. */
const char *vici_node_str(const ViciMessage *m, ViciNode node);

/* The first child of a section or the first item of a list; VICI_NONE when it has none. */
ViciNode vici_first(const ViciMessage *m, ViciNode parent);
/* The next node after @node in its parent; VICI_NONE after the last. */
ViciNode vici_next(const ViciMessage *m, ViciNode node);
/* The first child of section @parent of type @type named @name; VICI_NONE if none. */
ViciNode vici_find(const ViciMessage *m, ViciNode parent, ViciElement type, const char *name);
/* The text of key @name in section @parent (vici_node_str()); NULL if there is none. */
const char *vici_find_str(const ViciMessage *m, ViciNode parent, const char *name);

#define VICI_FOREACH(node, m, parent) \
        for (ViciNode node = vici_first((m), (parent)); node != VICI_NONE; node = vici_next((m), node))

/*
 * ViciBuilder - writes a message element by element. The first misuse (a name over
 * VICI_NAME_MAX, a value over VICI_VALUE_MAX, a key/value in a list, an unbalanced end, …)
 * or allocation failure sticks: later calls do nothing and vici_builder_finish() returns it.
 */
typedef struct ViciBuilder {
        uint8_t *data;
        size_t size, alloc;
        unsigned depth;         /* open sections */
        bool in_list;
        int error;
} ViciBuilder;

#define VICI_BUILDER_INIT ((ViciBuilder) {})

void vici_builder_done(ViciBuilder *b);
int vici_builder_section(ViciBuilder *b, const char *name);
int vici_builder_section_end(ViciBuilder *b);
int vici_builder_kv(ViciBuilder *b, const char *name, const void *value, size_t size);
int vici_builder_kv_str(ViciBuilder *b, const char *name, const char *value);
int vici_builder_list(ViciBuilder *b, const char *name);
int vici_builder_item(ViciBuilder *b, const void *value, size_t size);
int vici_builder_list_end(ViciBuilder *b);
/* Writes every node of @m below @parent (the whole message for VICI_ROOT). */
int vici_builder_copy(ViciBuilder *b, const ViciMessage *m, ViciNode parent);

/**
 * vici_builder_finish() - the encoded message, when it is complete and nothing went wrong.
 * @ret: malloc()ed; NULL for an empty message (@ret_size 0)
 *
 * Return: 0; the builder's sticky error; -EBADMSG when a section or list is still open.
 * The builder is emptied either way.
 */
int vici_builder_finish(ViciBuilder *b, uint8_t **ret, size_t *ret_size);

/* ---- packets and the stream ---------------------------------------------------------------- */

typedef enum ViciPacketType {
        VICI_CMD_REQUEST = 0,           /* named, with a message */
        VICI_CMD_RESPONSE = 1,          /* with a message */
        VICI_CMD_UNKNOWN = 2,
        VICI_EVENT_REGISTER = 3,        /* named */
        VICI_EVENT_UNREGISTER = 4,      /* named */
        VICI_EVENT_CONFIRM = 5,
        VICI_EVENT_UNKNOWN = 6,
        VICI_EVENT = 7,                 /* named, with a message */
        _VICI_PACKET_TYPE_MAX,
} ViciPacketType;

/* "CMD_REQUEST", …; NULL for an unknown type. */
const char *vici_packet_type_to_string(ViciPacketType t);

/*
 * struct ViciPacket - a packet read from a segment.
 * @type: its type
 * @name: the name of named types, NUL-terminated; "" for the others
 * @message: for CMD_REQUEST, CMD_RESPONSE and EVENT, the message bytes (pointing into the
 *           segment); NULL for the others
 * @message_size: their number
 */
typedef struct ViciPacket {
        ViciPacketType type;
        char name[VICI_NAME_MAX + 1];
        const uint8_t *message;
        size_t message_size;
} ViciPacket;

/**
 * vici_packet_parse() - read the packet in one segment (without its length header).
 * Return: 0; -EBADMSG for an empty segment, an unknown type, a name cut short or holding a
 * NUL, or bytes after a packet that carries no message (see @ret_error).
 */
int vici_packet_parse(const uint8_t *segment, size_t size, ViciPacket *ret, ViciError *ret_error);

/**
 * vici_packet_encode() - a packet as a segment, with its length header.
 * @name: for the named types (at most VICI_NAME_MAX bytes), else NULL
 * @message: for the types with a message (may be NULL when @size is 0), else NULL
 * @ret: malloc()ed, @ret_size bytes
 *
 * Return: 0; -EINVAL for a name or message the type does not take (or lacks), a name too
 * long, or a segment over VICI_SEGMENT_MAX; -ENOMEM.
 */
int vici_packet_encode(ViciPacketType type, const char *name, const void *message, size_t size, uint8_t **ret,
                       size_t *ret_size);

/*
 * ViciStream - cuts a byte stream into segments: a 32-bit big-endian length, then that many
 * bytes. Feed it what the socket gives, in any pieces.
 */
typedef struct ViciStream {
        uint8_t header[4];
        size_t header_len;
        uint8_t *segment;       /* while a segment is read: its bytes so far */
        size_t size, len;       /* its announced length and what has come */
        size_t max;
} ViciStream;

/* @max: the largest segment accepted (at most VICI_SEGMENT_MAX is sensible). */
void vici_stream_init(ViciStream *s, size_t max);
void vici_stream_done(ViciStream *s);

/**
 * vici_stream_feed() - take bytes from @data until a segment is complete.
 * @ret_used: how many of the @size bytes it took
 *
 * Return: 1 when a segment is complete (take it with vici_stream_take() before feeding
 * more; the rest of @data is still to be fed); 0 when every byte was taken and the segment
 * is not complete yet; -EMSGSIZE for a length over the maximum, -EBADMSG for a length of 0
 * (the stream cannot go on after either); -ENOMEM.
 */
int vici_stream_feed(ViciStream *s, const uint8_t *data, size_t size, size_t *ret_used);
/* The completed segment (malloc()ed, *@ret_size bytes); the stream starts the next one. */
uint8_t *vici_stream_take(ViciStream *s, size_t *ret_size);
/* Whether the stream is between segments (nothing of a next one has come). */
bool vici_stream_is_idle(const ViciStream *s);

/* ---- the connection ------------------------------------------------------------------------ */

typedef struct sd_event sd_event;
typedef struct ViciConn ViciConn;

/*
 * The answer to a request: @r is 0 with @reply the CMD_RESPONSE's message (a command) or
 * NULL (an event registration, confirmed); -ENOENT when charon does not know the command or
 * event (CMD_UNKNOWN, EVENT_UNKNOWN). @reply is valid during the call only.
 */
typedef void (*ViciReplyHandler)(ViciConn *c, int r, const ViciMessage *reply, void *userdata);
/* An event: @name is the event's, @message valid during the call only. */
typedef void (*ViciEventHandler)(ViciConn *c, const char *name, const ViciMessage *message, void *userdata);
/*
 * The connection is over: charon closed it (@error -ECONNRESET), broke the protocol
 * (-EBADMSG, -EPROTO, -EMSGSIZE, @reason says how), or reading or writing failed (its
 * errno). Requests still waiting get no answer. The handler may free @c; nothing else uses it
 * afterwards.
 */
typedef void (*ViciCloseHandler)(ViciConn *c, int error, const char *reason, void *userdata);

/**
 * vici_conn_new() - connect to charon's vici socket.
 * @event: the loop that drives the connection
 * @path: the Unix socket ("/var/run/charon.vici")
 * @ret: the connection, freed with vici_conn_free()
 *
 * Return: 0; the errno of socket() or connect() (-ENOENT: no socket there, -ECONNREFUSED:
 * nobody listens, -EACCES); -ENAMETOOLONG; -ENOMEM.
 */
int vici_conn_new(sd_event *event, const char *path, ViciConn **ret);
ViciConn *vici_conn_free(ViciConn *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(ViciConn *, vici_conn_free);

void vici_conn_set_handlers(ViciConn *c, ViciEventHandler on_event, ViciCloseHandler on_close, void *userdata);

/**
 * vici_conn_command() - queue command @name with @message (@size bytes, may be 0).
 * Commands and registrations are sent one at a time, in the order queued; @handler gets the
 * answer. Events that a command streams (list-conns' list-conn) reach the event handler
 * before the answer. Handlers may queue more requests; they must not free @c.
 *
 * Return: 0; -EINVAL for a name over VICI_NAME_MAX; -ENOTCONN once the connection is over;
 * -ENOMEM.
 */
int vici_conn_command(ViciConn *c, const char *name, const void *message, size_t size, ViciReplyHandler handler,
                      void *userdata);
/* Queue the registration for event @name (EVENT_REGISTER), answered as above. */
int vici_conn_register(ViciConn *c, const char *name, ViciReplyHandler handler, void *userdata);
