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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"

int main(int argc, char **argv) {
        struct mnl_socket *nl;
        int group = NFNLGRP_NFTRACE;
        long count, timeout, n;

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

        n = capture_run(nl, "nft-trace-capture", argv[1], "trace", count, timeout, NULL, NULL);
        if (n < 0)
                return 1;
        mnl_socket_close(nl);
        if (n < count) {
                fprintf(stderr, "nft-trace-capture: %ld of %ld messages\n", n, count);
                return 1;
        }
        return 0;
}
