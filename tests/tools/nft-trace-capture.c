/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nft-trace-capture — the kernel's nftables trace events (NFNLGRP_NFTRACE) in this network
 * namespace, each netlink message written raw to a file of its own, as bfed's trace watch
 * reads them (tracewatch.c): seeds for the fuzz-trace target (tests/fuzz/README).
 *
 *   nft-trace-capture DIR COUNT [TIMEOUT_MS]      default timeout: 10000
 *
 * Prints "ready" once subscribed, then writes DIR/trace-1, DIR/trace-2, … until COUNT messages
 * or the timeout. Exits 0 when it got COUNT, 1 otherwise (with a message on stderr).
 */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nlmsg.h"

static long now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int save(const char *dir, long n, const void *msg, size_t len) {
        char path[4096];
        FILE *f;

        snprintf(path, sizeof(path), "%s/trace-%ld", dir, n);
        f = fopen(path, "we");
        if (!f)
                return -errno;
        if (fwrite(msg, 1, len, f) != len || fclose(f) != 0)
                return -EIO;
        return 0;
}

int main(int argc, char **argv) {
        static char buf[65536];
        struct mnl_socket *nl;
        int group = NFNLGRP_NFTRACE;
        long count, timeout, end, n = 0;

        if (argc < 3) {
                fprintf(stderr, "usage: nft-trace-capture DIR COUNT [TIMEOUT_MS]\n");
                return 2;
        }
        count = strtol(argv[2], NULL, 10);
        timeout = argc > 3 ? strtol(argv[3], NULL, 10) : 10000;
        nl = mnl_socket_open(NETLINK_NETFILTER);
        if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
            mnl_socket_setsockopt(nl, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) < 0) {
                fprintf(stderr, "nft-trace-capture: cannot subscribe: %s\n", strerror(errno));
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
                        fprintf(stderr, "nft-trace-capture: %s\n", strerror(errno));
                        continue;
                }
                while (n < count && (nlh = nlmsg_next_safe(buf, (size_t) len, &off)))
                        if (save(argv[1], ++n, nlh, nlh->nlmsg_len) < 0) {
                                fprintf(stderr, "nft-trace-capture: cannot write to %s\n", argv[1]);
                                return 1;
                        }
        }
        mnl_socket_close(nl);
        if (n < count) {
                fprintf(stderr, "nft-trace-capture: %ld of %ld messages\n", n, count);
                return 1;
        }
        return 0;
}
