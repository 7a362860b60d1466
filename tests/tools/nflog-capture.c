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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "nflog.h"
#include "nlgroup.h"

/* Counts the gaps in the kernel's numbering of what it logged. */
typedef struct Numbering {
        uint32_t next;
        long lost;
} Numbering;

static void count_gaps(const struct nlmsghdr *nlh, void *userdata) {
        Numbering *num = userdata;
        NflogPacket pkt;

        if (nflog_parse(nlh, &pkt) >= 0 && pkt.has_seq) {
                num->lost += pkt.seq - num->next;
                num->next = pkt.seq + 1;
        }
}

int main(int argc, char **argv) {
        char buf[NFLOG_CONFIG_MSG_MAX];
        NflogConfig c = { .copy_range = NFLOG_COPY_RANGE, .seq = true };
        struct mnl_socket *nl;
        long count, timeout, n;
        Numbering num = {};
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

        n = capture_run(nl, "nflog-capture", argv[2], "nflog", count, timeout, count_gaps, &num);
        if (n < 0)
                return 1;
        mnl_socket_close(nl);
        printf("messages %ld lost %ld\n", n, num.lost);
        if (n < count) {
                fprintf(stderr, "nflog-capture: %ld of %ld messages\n", n, count);
                return 1;
        }
        return 0;
}
