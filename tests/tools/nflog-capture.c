/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nflog-capture — binds a netlink socket to an nflog group (as bfed's net events do, nflog.h)
 * and writes each message the kernel sends it raw to a file of its own: seeds for the fuzz-nflog
 * target (tests/fuzz/README); with DIR "-" it only counts them (scripts/bench-netevents).
 *
 *   nflog-capture GROUP DIR COUNT [TIMEOUT_MS [QTHRESHOLD]]      default: 10000 ms, 1
 *
 * Prints "ready" once bound, then writes DIR/nflog-1, DIR/nflog-2, … until COUNT messages or the
 * timeout, then "messages N lost N" (lost: the gaps in the kernel's sequence numbers). Exits 0
 * when it got COUNT, 1 otherwise (with a message on stderr).
 */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nflog.h"
#include "nlgroup.h"
#include "nlmsg.h"

static long now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int save(const char *dir, long n, const void *msg, size_t len) {
        char path[4096];
        FILE *f;

        if (strcmp(dir, "-") == 0)
                return 0;
        snprintf(path, sizeof(path), "%s/nflog-%ld", dir, n);
        f = fopen(path, "we");
        if (!f)
                return -errno;
        if (fwrite(msg, 1, len, f) != len || fclose(f) != 0)
                return -EIO;
        return 0;
}

int main(int argc, char **argv) {
        static char buf[1 << 16];
        NflogConfig c = { .copy_range = NFLOG_COPY_RANGE, .seq = true };
        struct mnl_socket *nl;
        long count, timeout, end, n = 0, lost = 0;
        uint32_t next_seq = 0;
        int rcvbuf = 1 << 20, r;

        if (argc < 4) {
                fprintf(stderr, "usage: nflog-capture GROUP DIR COUNT [TIMEOUT_MS [QTHRESHOLD]]\n");
                return 2;
        }
        c.group = (uint16_t) strtoul(argv[1], NULL, 0);
        count = strtol(argv[3], NULL, 10);
        timeout = argc > 4 ? strtol(argv[4], NULL, 10) : 10000;
        c.qthreshold = argc > 5 ? (uint32_t) strtoul(argv[5], NULL, 10) : 1;
        nl = mnl_socket_open(NETLINK_NETFILTER);
        if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
                fprintf(stderr, "nflog-capture: cannot open a socket: %s\n", strerror(errno));
                return 1;
        }
        (void) setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
        r = nlgroup_request(nl, nflog_build_config(buf, &c, 1));
        if (r < 0) {
                fprintf(stderr, "nflog-capture: cannot bind group %u: %s\n", c.group, strerror(-r));
                return 1;
        }
        printf("ready\n");
        fflush(stdout);

        end = now_ms() + timeout;
        while (n < count && now_ms() < end) {
                struct pollfd p = { .fd = mnl_socket_get_fd(nl), .events = POLLIN };
                const struct nlmsghdr *nlh;
                size_t off = 0;
                ssize_t len;

                if (poll(&p, 1, (int) (end - now_ms())) <= 0)
                        continue;
                len = mnl_socket_recvfrom(nl, buf, sizeof(buf));
                if (len < 0) {
                        if (errno != ENOBUFS)
                                fprintf(stderr, "nflog-capture: %s\n", strerror(errno));
                        continue;
                }
                while (n < count && (nlh = nlmsg_next_safe(buf, (size_t) len, &off))) {
                        NflogPacket pkt;

                        if (nflog_parse(nlh, &pkt) >= 0 && pkt.has_seq) {
                                lost += pkt.seq - next_seq;
                                next_seq = pkt.seq + 1;
                        }
                        if (save(argv[2], ++n, nlh, nlh->nlmsg_len) < 0) {
                                fprintf(stderr, "nflog-capture: cannot write to %s\n", argv[2]);
                                return 1;
                        }
                }
        }
        mnl_socket_close(nl);
        printf("messages %ld lost %ld\n", n, lost);
        if (n < count) {
                fprintf(stderr, "nflog-capture: %ld of %ld messages\n", n, count);
                return 1;
        }
        return 0;
}
