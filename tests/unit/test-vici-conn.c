/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-vici-conn.c — the vici connection (src/vici/vici-conn.c) against a fake charon on a
 * Unix socket in a temporary folder, which answers with packets recorded from the real one:
 * one request on the wire at a time, events in between and streamed before an answer,
 * unknown commands and events, and every way a peer can break the protocol ending the
 * connection with its reason.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <systemd/sd-event.h>

#include "macro.h"
#include "vici-test-util.h"
#include "vici.h"

typedef struct Fixture {
        char dir[64];
        char path[128];
        int listen_fd;
        int server_fd;          /* the fake charon's end */
        sd_event *event;
        ViciConn *conn;
        char log[4096];         /* what the handlers saw, in order */
        int close_error;        /* 1 until the close handler ran */
        char close_reason[512];
} Fixture;

static void note(Fixture *f, const char *fmt, ...) _printf_(2, 3);
static void note(Fixture *f, const char *fmt, ...) {
        size_t n = strlen(f->log);
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(f->log + n, sizeof(f->log) - n, fmt, ap);
        va_end(ap);
}

static void on_event(ViciConn *c, const char *name, const ViciMessage *m, void *userdata) {
        const char *msg = vici_find_str(m, VICI_ROOT, "msg");
        ViciNode first = vici_first(m, VICI_ROOT);

        note(userdata, "event %s %s;", name, msg ?: vici_node_name(m, first) ?: "-");
}

static void on_close(ViciConn *c, int error, const char *reason, void *userdata) {
        Fixture *f = userdata;

        f->close_error = error;
        snprintf(f->close_reason, sizeof(f->close_reason), "%s", reason);
        note(f, "closed;");
}

static void on_reply(ViciConn *c, int r, const ViciMessage *reply, void *userdata) {
        const char *daemon = reply ? vici_find_str(reply, VICI_ROOT, "daemon") : NULL;

        note(userdata, "reply %d%s%s;", r, daemon ? " " : "", daemon ?: "");
}

static int setup(void **state) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        Fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        strcpy(f->dir, "/tmp/test-vici-conn.XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->path, sizeof(f->path), "%s/charon.vici", f->dir);
        strcpy(sa.sun_path, f->path);
        f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(f->listen_fd >= 0);
        assert_int_equal(bind(f->listen_fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        assert_int_equal(listen(f->listen_fd, 4), 0);
        assert_int_equal(sd_event_new(&f->event), 0);

        assert_int_equal(vici_conn_new(f->event, f->path, &f->conn), 0);
        vici_conn_set_handlers(f->conn, on_event, on_close, f);
        f->server_fd = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        assert_true(f->server_fd >= 0);
        f->close_error = 1;
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;

        vici_conn_free(f->conn);
        sd_event_unref(f->event);
        if (f->server_fd >= 0)
                close(f->server_fd);
        close(f->listen_fd);
        unlink(f->path);
        rmdir(f->dir);
        free(f);
        return 0;
}

/* Runs the loop until nothing is left to do right now (the client waits for the server). */
static void run(Fixture *f) {
        for (int i = 0; i < 100; i++)
                if (sd_event_run(f->event, 20 * 1000) == 0)
                        return;
}

/* The fake charon sends a segment: the length header, then @size bytes. */
static void server_send(Fixture *f, const void *data, size_t size) {
        uint8_t hdr[4] = { (uint8_t) (size >> 24), (uint8_t) (size >> 16), (uint8_t) (size >> 8), (uint8_t) size };

        assert_int_equal(write(f->server_fd, hdr, 4), 4);
        if (size > 0)
                assert_int_equal(write(f->server_fd, data, size), (ssize_t) size);
}

static void server_send_capture(Fixture *f, const char *name) {
        _cleanup_(freep) uint8_t *data = NULL;
        size_t size;

        data = vici_test_read_capture(name, &size);
        server_send(f, data, size);
}

/* The fake charon reads one request: it must be there, of @type and @name, and alone. */
static void server_expect(Fixture *f, ViciPacketType type, const char *name) {
        uint8_t buf[1024];
        struct pollfd pfd = { .fd = f->server_fd, .events = POLLIN };
        ViciPacket p;
        ssize_t n;

        run(f);
        assert_int_equal(poll(&pfd, 1, 0), 1);
        n = recv(f->server_fd, buf, sizeof(buf), MSG_DONTWAIT);
        assert_true(n >= 5);
        assert_int_equal((size_t) n, 4 + ((size_t) buf[2] << 8 | buf[3]));
        assert_int_equal(vici_packet_parse(buf + 4, (size_t) n - 4, &p, NULL), 0);
        assert_int_equal(p.type, type);
        assert_string_equal(p.name, name);
}

static void server_expect_nothing(Fixture *f) {
        struct pollfd pfd = { .fd = f->server_fd, .events = POLLIN };

        run(f);
        assert_int_equal(poll(&pfd, 1, 0), 0);
}

static void test_requests_in_order(void **state) {
        Fixture *f = *state;

        assert_int_equal(vici_conn_command(f->conn, "version", NULL, 0, on_reply, f), 0);
        assert_int_equal(vici_conn_register(f->conn, "log", on_reply, f), 0);
        assert_int_equal(vici_conn_register(f->conn, "list-conn", on_reply, f), 0);
        assert_int_equal(vici_conn_command(f->conn, "list-conns", NULL, 0, on_reply, f), 0);

        /* one at a time: the next only after the answer */
        server_expect(f, VICI_CMD_REQUEST, "version");
        server_expect_nothing(f);
        server_send_capture(f, "list/00-CMD_RESPONSE");
        server_expect(f, VICI_EVENT_REGISTER, "log");
        server_expect_nothing(f);
        /* an event between answers */
        server_send_capture(f, "log/01-EVENT-log");
        server_send_capture(f, "log/00-EVENT_CONFIRM");
        server_expect(f, VICI_EVENT_REGISTER, "list-conn");
        server_send_capture(f, "list/02-EVENT_CONFIRM");
        server_expect(f, VICI_CMD_REQUEST, "list-conns");
        /* the streamed events come before the answer that completes the command */
        server_send_capture(f, "list/03-EVENT-list-conn");
        server_send_capture(f, "list/07-EVENT-list-conn");
        server_send_capture(f, "list/08-CMD_RESPONSE");
        run(f);
        assert_string_equal(f->log, "reply 0 charon;event log added vici connection: gw-v2;reply 0;reply 0;"
                                    "event list-conn gw-v2;event list-conn range-and-name;reply 0;");
        assert_int_equal(f->close_error, 1);

        /* charon goes: the connection ends, and says why */
        close(TAKE_FD(f->server_fd));
        run(f);
        assert_int_equal(f->close_error, -ECONNRESET);
        assert_string_equal(f->close_reason, "charon closed the connection");
        assert_int_equal(vici_conn_command(f->conn, "version", NULL, 0, on_reply, f), -ENOTCONN);
}

static void test_unknown(void **state) {
        Fixture *f = *state;

        assert_int_equal(vici_conn_command(f->conn, "no-such-command", NULL, 0, on_reply, f), 0);
        assert_int_equal(vici_conn_register(f->conn, "no-such-event", on_reply, f), 0);
        server_expect(f, VICI_CMD_REQUEST, "no-such-command");
        server_send_capture(f, "unknown/00-CMD_UNKNOWN");
        server_expect(f, VICI_EVENT_REGISTER, "no-such-event");
        server_send_capture(f, "unknown/01-EVENT_UNKNOWN");
        run(f);
        assert_string_equal(f->log, "reply -2;reply -2;");
        assert_int_equal(f->close_error, 1);
}

static void test_request_limits(void **state) {
        Fixture *f = *state;
        char name[VICI_NAME_MAX + 2];

        memset(name, 'x', sizeof(name) - 1);
        name[sizeof(name) - 1] = 0;
        assert_int_equal(vici_conn_command(f->conn, name, NULL, 0, on_reply, f), -EINVAL);
        name[VICI_NAME_MAX] = 0;
        assert_int_equal(vici_conn_command(f->conn, name, NULL, 0, on_reply, f), 0);
        server_expect(f, VICI_CMD_REQUEST, name);
}

/* One way of breaking the protocol: what the fake charon does, and how the client ends. */
typedef struct Breach {
        const char *what;
        bool registration;      /* a registration is waiting for its answer (else a command) */
        const uint8_t *bytes;   /* sent as they are, length headers and all */
        size_t size;
        bool hang_up;           /* then the server closes */
        int error;
        const char *reason;     /* the start of the close reason */
} Breach;

#define BYTES(...) .bytes = (const uint8_t[]) { __VA_ARGS__ }, .size = sizeof((const uint8_t[]) { __VA_ARGS__ })

static const Breach breaches[] = {
        { "an answer of the wrong kind", true, BYTES(0, 0, 0, 1, VICI_CMD_RESPONSE), false, -EPROTO,
          "charon answered the event registration 'log' with CMD_RESPONSE" },
        { "a confirmation for a command", false, BYTES(0, 0, 0, 1, VICI_EVENT_CONFIRM), false, -EPROTO,
          "charon answered the command 'version' with EVENT_CONFIRM" },
        { "a malformed response", false, BYTES(0, 0, 0, 2, VICI_CMD_RESPONSE, 2), false, -EBADMSG,
          "charon's response to 'version' is malformed at byte 0: section end without a section" },
        { "a malformed event", false, BYTES(0, 0, 0, 8, VICI_EVENT, 3, 'l', 'o', 'g', 5, 0, 0), false, -EBADMSG,
          "charon's event 'log' is malformed at byte 0: list item outside a list" },
        { "a malformed packet", false, BYTES(0, 0, 0, 1, 9), false, -EBADMSG,
          "charon sent a malformed packet (byte 0: unknown packet type)" },
        { "a client's packet", false, BYTES(0, 0, 0, 3, VICI_CMD_REQUEST, 1, 'x'), false, -EPROTO,
          "charon sent a client's packet, CMD_REQUEST" },
        { "an empty segment", false, BYTES(0, 0, 0, 0), false, -EBADMSG, "charon sent an empty segment" },
        { "a segment over the limit", false, BYTES(0, 8, 0, 1, VICI_EVENT), false, -EMSGSIZE,
          "charon announced a segment over 524288 bytes" },
        { "a hang-up in a segment", false, BYTES(0, 0, 0, 9, VICI_EVENT), true, -ECONNRESET,
          "charon closed the connection in the middle of a segment" },
};

static void test_breaches(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(breaches); i++) {
                const Breach *b = &breaches[i];
                Fixture *f;

                assert_int_equal(setup(state), 0);
                f = *state;
                if (b->registration)
                        assert_int_equal(vici_conn_register(f->conn, "log", on_reply, f), 0);
                else
                        assert_int_equal(vici_conn_command(f->conn, "version", NULL, 0, on_reply, f), 0);
                server_expect(f, b->registration ? VICI_EVENT_REGISTER : VICI_CMD_REQUEST,
                              b->registration ? "log" : "version");
                assert_int_equal(write(f->server_fd, b->bytes, b->size), (ssize_t) b->size);
                if (b->hang_up)
                        close(TAKE_FD(f->server_fd));
                run(f);
                print_message("%s: %s\n", b->what, f->close_reason);
                assert_int_equal(f->close_error, b->error);
                assert_string_equal(f->close_reason, b->reason);
                /* the request waiting got no answer; nothing more is sent */
                assert_string_equal(f->log, "closed;");
                assert_int_equal(vici_conn_command(f->conn, "version", NULL, 0, on_reply, f), -ENOTCONN);
                teardown(state);
        }
}

static void test_unsolicited(void **state) {
        Fixture *f = *state;

        server_send_capture(f, "list/00-CMD_RESPONSE");
        run(f);
        assert_int_equal(f->close_error, -EPROTO);
        assert_string_equal(f->close_reason, "charon sent CMD_RESPONSE without a request");
}

static void test_no_charon(void **state) {
        Fixture *f = *state;
        _cleanup_(vici_conn_freep) ViciConn *c = NULL;
        char path[256];

        snprintf(path, sizeof(path), "%s/nothing-here", f->dir);
        assert_int_equal(vici_conn_new(f->event, path, &c), -ENOENT);
        /* a socket file nobody listens on any more */
        close(TAKE_FD(f->listen_fd));
        assert_int_equal(vici_conn_new(f->event, f->path, &c), -ECONNREFUSED);
        f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        memset(path, 'p', sizeof(path) - 1);
        path[sizeof(path) - 1] = 0;
        assert_int_equal(vici_conn_new(f->event, path, &c), -ENAMETOOLONG);
        assert_null(c);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_requests_in_order, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unknown, setup, teardown),
                cmocka_unit_test_setup_teardown(test_request_limits, setup, teardown),
                cmocka_unit_test(test_breaches),
                cmocka_unit_test_setup_teardown(test_unsolicited, setup, teardown),
                cmocka_unit_test_setup_teardown(test_no_charon, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
