/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vici-capture — records charon's vici packets as they come, for the unit tests and the fuzz
 * seeds (tests/unit/vici/make-captures).
 *
 *   vici-capture SOCKET DIR STEP...
 *
 * Each STEP sends one request and reads until its answer, writing every segment charon sends
 * (the packet, without the length header) to DIR/NN-TYPE[-NAME]:
 *   command:NAME          a CMD_REQUEST with an empty message (version, list-conns, get-conns)
 *   register:NAME         an EVENT_REGISTER
 *   wait:NAME:TEXT        no request: read until an EVENT NAME whose bytes contain TEXT (10 s)
 *   ready                 print "ready" and flush (a script starts its next step then)
 * Blocking I/O on a plain socket, the library's packet codec only: what is written is exactly
 * what came.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "macro.h"
#include "vici.h"

static unsigned seq;

static int read_full(int fd, uint8_t *p, size_t n, int timeout_ms) {
        while (n > 0) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                ssize_t k;

                if (poll(&pfd, 1, timeout_ms) <= 0)
                        return -ETIMEDOUT;
                k = read(fd, p, n);
                if (k <= 0)
                        return k == 0 ? -ECONNRESET : -errno;
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

/* Reads one segment, writes it to DIR, returns its packet (pointing into *@ret_segment). */
static int read_segment(int fd, const char *dir, uint8_t **ret_segment, ViciPacket *ret_packet) {
        _cleanup_(freep) uint8_t *seg = NULL;
        char path[4096];
        uint8_t hdr[4];
        uint32_t size;
        ViciError e;
        FILE *f;
        int r;

        r = read_full(fd, hdr, 4, 10000);
        if (r < 0)
                return r;
        size = (uint32_t) hdr[0] << 24 | (uint32_t) hdr[1] << 16 | (uint32_t) hdr[2] << 8 | hdr[3];
        if (size == 0 || size > VICI_SEGMENT_MAX)
                return -EMSGSIZE;
        seg = malloc(size);
        if (!seg)
                return -ENOMEM;
        r = read_full(fd, seg, size, 10000);
        if (r < 0)
                return r;
        r = vici_packet_parse(seg, size, ret_packet, &e);
        if (r < 0) {
                fprintf(stderr, "malformed packet at byte %zu: %s\n", e.offset, e.reason);
                return r;
        }
        (void) snprintf(path, sizeof(path), "%s/%02u-%s%s%s", dir, seq++, vici_packet_type_to_string(ret_packet->type),
                        ret_packet->name[0] ? "-" : "", ret_packet->name);
        f = fopen(path, "we");
        if (!f || fwrite(seg, 1, size, f) != size || fclose(f) != 0)
                return -EIO;
        *ret_segment = TAKE_PTR(seg);
        return 0;
}

static int send_packet(int fd, ViciPacketType type, const char *name) {
        _cleanup_(freep) uint8_t *p = NULL;
        size_t size;
        int r;

        r = vici_packet_encode(type, name, NULL, 0, &p, &size);
        if (r < 0)
                return r;
        return write(fd, p, size) == (ssize_t) size ? 0 : -EIO;
}

/* Reads until a packet of one of the answer types comes (or, with @event, that event). */
static int read_until(int fd, const char *dir, bool registration, const char *event, const char *text) {
        for (;;) {
                _cleanup_(freep) uint8_t *seg = NULL;
                ViciPacket p;
                int r;

                r = read_segment(fd, dir, &seg, &p);
                if (r < 0)
                        return r;
                if (event) {
                        if (p.type == VICI_EVENT && streq(p.name, event) &&
                            memmem(p.message, p.message_size, text, strlen(text)))
                                return 0;
                } else if (registration ? p.type == VICI_EVENT_CONFIRM || p.type == VICI_EVENT_UNKNOWN
                                        : p.type == VICI_CMD_RESPONSE || p.type == VICI_CMD_UNKNOWN)
                        return 0;
        }
}

int main(int argc, char *argv[]) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_(closep) int fd = -1;
        int r;

        if (argc < 4 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
                fprintf(stderr, "usage: vici-capture SOCKET DIR STEP...\n");
                return 2;
        }
        strcpy(sa.sun_path, argv[1]);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                fprintf(stderr, "connecting to %s: %m\n", argv[1]);
                return 1;
        }
        for (int i = 3; i < argc; i++) {
                const char *s = argv[i], *colon = strchr(s, ':'), *text = colon ? strchr(colon + 1, ':') : NULL;

                if (startswith(s, "command:")) {
                        r = send_packet(fd, VICI_CMD_REQUEST, s + 8);
                        if (r >= 0)
                                r = read_until(fd, argv[2], false, NULL, NULL);
                } else if (startswith(s, "register:")) {
                        r = send_packet(fd, VICI_EVENT_REGISTER, s + 9);
                        if (r >= 0)
                                r = read_until(fd, argv[2], true, NULL, NULL);
                } else if (startswith(s, "wait:") && text) {
                        _cleanup_(freep) char *name = strndup(colon + 1, (size_t) (text - colon - 1));

                        r = name ? read_until(fd, argv[2], false, name, text + 1) : -ENOMEM;
                } else if (streq(s, "ready")) {
                        printf("ready\n");
                        r = fflush(stdout) == 0 ? 0 : -EIO;
                } else {
                        fprintf(stderr, "unknown step '%s'\n", s);
                        return 2;
                }
                if (r < 0) {
                        fprintf(stderr, "step '%s': %s\n", s, strerror(-r));
                        return 1;
                }
        }
        return 0;
}
