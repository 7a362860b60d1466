/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vici-conn.c — a vici connection on an sd-event loop.
 *
 * vici has no sequence numbers: a client sends a request (a command or an event registration)
 * and waits for its answer before the next. So requests wait in a queue; the first is written,
 * and its answer (CMD_RESPONSE or CMD_UNKNOWN for a command, EVENT_CONFIRM or EVENT_UNKNOWN for
 * a registration) completes it and lets the next go. Events come at any time, between answers
 * or during a command that streams them. Anything else — an answer nobody asked for, one of the
 * wrong kind, a packet or message that breaks the rules, a segment over the limit — ends the
 * connection: after it the stream cannot be trusted.
 *
 * One read callback handles at most READ_ROUNDS reads, so a peer that floods events cannot
 * keep the loop from its other sources; the socket stays readable and the callback comes back.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#include "list.h"
#include "macro.h"
#include "vici.h"

#define READ_BUFFER 65536
#define READ_ROUNDS 16

typedef struct Request Request;
struct Request {
        Request *prev, *next;
        bool registration;
        char name[VICI_NAME_MAX + 1];
        uint8_t *data;          /* the segment, with its length header */
        size_t size, sent;
        ViciReplyHandler handler;
        void *userdata;
};

struct ViciConn {
        sd_event_source *io;
        int fd;
        ViciStream stream;
        Request *requests, *requests_tail;      /* the first one is on the wire */
        ViciEventHandler on_event;
        ViciCloseHandler on_close;
        void *userdata;
        bool closed;
        char reason[256 + VICI_NAME_MAX * 2];
};

static Request *request_free(Request *q) {
        if (!q)
                return NULL;
        free(q->data);
        free(q);
        return NULL;
}

ViciConn *vici_conn_free(ViciConn *c) {
        if (!c)
                return NULL;
        while (c->requests) {
                Request *q = c->requests;

                LIST_REMOVE_TAIL(c->requests, c->requests_tail, q);
                request_free(q);
        }
        sd_event_source_disable_unref(c->io);
        if (c->fd >= 0)
                (void) close(c->fd);
        vici_stream_done(&c->stream);
        free(c);
        return NULL;
}

/* Ends the connection and tells the owner, who may free it: nothing touches @c after. */
static int conn_close(ViciConn *c, int error) {
        c->closed = true;
        (void) sd_event_source_set_enabled(c->io, SD_EVENT_OFF);
        if (c->on_close)
                c->on_close(c, error, c->reason, c->userdata);
        return error;
}

static int conn_fail(ViciConn *c, int error, const char *fmt, ...) _printf_(3, 4);
static int conn_fail(ViciConn *c, int error, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(c->reason, sizeof(c->reason), fmt, ap);
        va_end(ap);
        return conn_close(c, error);
}

/* Wants EPOLLOUT only while the first request is not all written. */
static int update_events(ViciConn *c) {
        uint32_t events = EPOLLIN;

        if (c->requests && c->requests->sent < c->requests->size)
                events |= EPOLLOUT;
        return sd_event_source_set_io_events(c->io, events);
}

static int write_failed(ViciConn *c, int r) {
        return conn_fail(c, r, "waiting to write to charon failed: %s", strerror(-r));
}

static int write_request(ViciConn *c) {
        Request *q = c->requests;
        int r;

        while (q && q->sent < q->size) {
                ssize_t n = send(c->fd, q->data + q->sent, q->size - q->sent, MSG_NOSIGNAL | MSG_DONTWAIT);

                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                break;
                        return conn_fail(c, -errno, "sending the request '%s' failed: %s", q->name, strerror(errno));
                }
                q->sent += (size_t) n;
        }
        r = update_events(c);
        return r < 0 ? write_failed(c, r) : 0;
}

static int queue_request(ViciConn *c, ViciPacketType type, const char *name, const void *message, size_t size,
                         ViciReplyHandler handler, void *userdata) {
        Request *q;
        int r;

        if (c->closed)
                return -ENOTCONN;
        if (!name || strlen(name) > VICI_NAME_MAX)
                return -EINVAL;
        q = calloc(1, sizeof(*q));
        if (!q)
                return -ENOMEM;
        r = vici_packet_encode(type, name, type == VICI_CMD_REQUEST ? message : NULL,
                               type == VICI_CMD_REQUEST ? size : 0, &q->data, &q->size);
        if (r < 0) {
                free(q);
                return r;
        }
        q->registration = type == VICI_EVENT_REGISTER;
        strcpy(q->name, name);
        q->handler = handler;
        q->userdata = userdata;
        LIST_APPEND(c->requests, c->requests_tail, q);
        /* written from the loop, never from here: a failure must not call the close handler
         * (which may free @c) from inside the caller's call */
        return update_events(c);
}

int vici_conn_command(ViciConn *c, const char *name, const void *message, size_t size, ViciReplyHandler handler,
                      void *userdata) {
        return queue_request(c, VICI_CMD_REQUEST, name, message, size, handler, userdata);
}

int vici_conn_register(ViciConn *c, const char *name, ViciReplyHandler handler, void *userdata) {
        return queue_request(c, VICI_EVENT_REGISTER, name, NULL, 0, handler, userdata);
}

/* An answer to the first request: it is done, and the next one goes out. */
static int handle_answer(ViciConn *c, const ViciPacket *p) {
        _cleanup_(vici_message_freep) ViciMessage *reply = NULL;
        Request *q = c->requests;
        ViciError e = {};
        int r = 0;

        if (!q || q->sent < q->size)
                return conn_fail(c, -EPROTO, "charon sent %s without a request", vici_packet_type_to_string(p->type));
        if (q->registration != (p->type == VICI_EVENT_CONFIRM || p->type == VICI_EVENT_UNKNOWN))
                return conn_fail(c, -EPROTO, "charon answered the %s '%s' with %s",
                                 q->registration ? "event registration" : "command", q->name,
                                 vici_packet_type_to_string(p->type));
        if (p->type == VICI_CMD_RESPONSE) {
                r = vici_message_parse(p->message, p->message_size, &reply, &e);
                if (r == -EBADMSG)
                        return conn_fail(c, r, "charon's response to '%s' is malformed at byte %zu: %s", q->name,
                                         e.offset, e.reason);
                if (r < 0)
                        return conn_fail(c, r, "charon's response to '%s' cannot be read: %s", q->name, strerror(-r));
        } else if (p->type == VICI_CMD_UNKNOWN || p->type == VICI_EVENT_UNKNOWN)
                r = -ENOENT;

        LIST_REMOVE_TAIL(c->requests, c->requests_tail, q);
        if (q->handler)
                q->handler(c, r, reply, q->userdata);
        request_free(q);
        if (c->closed)
                return -ENOTCONN;
        return write_request(c);
}

static int handle_event(ViciConn *c, const ViciPacket *p) {
        _cleanup_(vici_message_freep) ViciMessage *m = NULL;
        ViciError e = {};
        int r;

        r = vici_message_parse(p->message, p->message_size, &m, &e);
        if (r == -EBADMSG)
                return conn_fail(c, r, "charon's event '%s' is malformed at byte %zu: %s", p->name, e.offset,
                                 e.reason);
        if (r < 0)
                return conn_fail(c, r, "charon's event '%s' cannot be read: %s", p->name, strerror(-r));
        if (c->on_event)
                c->on_event(c, p->name, m, c->userdata);
        return c->closed ? -ENOTCONN : 0;
}

static int handle_segment(ViciConn *c, const uint8_t *segment, size_t size) {
        ViciPacket p;
        ViciError e = {};
        int r;

        r = vici_packet_parse(segment, size, &p, &e);
        if (r < 0)
                return conn_fail(c, r, "charon sent a malformed packet (byte %zu: %s)", e.offset, e.reason);
        switch (p.type) {
        case VICI_CMD_RESPONSE:
        case VICI_CMD_UNKNOWN:
        case VICI_EVENT_CONFIRM:
        case VICI_EVENT_UNKNOWN:
                return handle_answer(c, &p);
        case VICI_EVENT:
                return handle_event(c, &p);
        case VICI_CMD_REQUEST:
        case VICI_EVENT_REGISTER:
        case VICI_EVENT_UNREGISTER:
        case _VICI_PACKET_TYPE_MAX:
                break;
        }
        return conn_fail(c, -EPROTO, "charon sent a client's packet, %s", vici_packet_type_to_string(p.type));
}

/* Feeds what was read to the stream and handles each segment it completes. */
static int handle_bytes(ViciConn *c, const uint8_t *buf, size_t n) {
        while (n > 0) {
                size_t used, size;
                int r;

                r = vici_stream_feed(&c->stream, buf, n, &used);
                if (r == -EMSGSIZE)
                        return conn_fail(c, r, "charon announced a segment over %zu bytes", c->stream.max);
                if (r < 0)
                        return conn_fail(c, r, "charon sent %s", r == -EBADMSG ? "an empty segment" : strerror(-r));
                buf += used;
                n -= used;
                if (r > 0) {
                        _cleanup_(freep) uint8_t *segment = vici_stream_take(&c->stream, &size);

                        r = handle_segment(c, segment, size);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        ViciConn *c = userdata;
        uint8_t buf[READ_BUFFER];

        if (revents & EPOLLOUT && write_request(c) < 0)
                return 0;
        if (!(revents & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                return 0;
        for (int round = 0; round < READ_ROUNDS; round++) {
                ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                return 0;
                        (void) conn_fail(c, -errno, "reading from charon failed: %s", strerror(errno));
                        return 0;
                }
                if (n == 0) {
                        (void) conn_fail(c, -ECONNRESET, "charon closed the connection%s",
                                         vici_stream_is_idle(&c->stream) ? "" : " in the middle of a segment");
                        return 0;
                }
                if (handle_bytes(c, buf, (size_t) n) < 0)
                        return 0;
        }
        return 0;
}

int vici_conn_new(sd_event *event, const char *path, ViciConn **ret) {
        _cleanup_(vici_conn_freep) ViciConn *c = NULL;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int r;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        vici_stream_init(&c->stream, VICI_SEGMENT_MAX);
        c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (c->fd < 0)
                return -errno;
        /* a Unix stream socket connects at once or not at all (EAGAIN: the backlog is full) */
        if (connect(c->fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        r = sd_event_add_io(event, &c->io, c->fd, EPOLLIN, on_io, c);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(c->io, "vici");
        *ret = TAKE_PTR(c);
        return 0;
}

void vici_conn_set_handlers(ViciConn *c, ViciEventHandler on_event, ViciCloseHandler on_close, void *userdata) {
        c->on_event = on_event;
        c->on_close = on_close;
        c->userdata = userdata;
}
