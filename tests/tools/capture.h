/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * capture.h — what the capture tools share (nft-trace-capture, nflog-capture): reading a netlink
 * socket until COUNT messages or a timeout, each message written raw to DIR/PREFIX-N (fuzz
 * seeds), or only counted when DIR is "-".
 */
#pragma once

#include <errno.h>
#include <libmnl/libmnl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "nlmsg.h"

static inline long capture_now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int capture_save(const char *dir, const char *prefix, long n, const void *msg, size_t len) {
        char path[4096];
        FILE *f;

        if (strcmp(dir, "-") == 0)
                return 0;
        snprintf(path, sizeof(path), "%s/%s-%ld", dir, prefix, n);
        f = fopen(path, "we");
        if (!f)
                return -errno;
        if (fwrite(msg, 1, len, f) != len || fclose(f) != 0)
                return -EIO;
        return 0;
}

/*
 * Reads @nl until @count messages or @timeout_ms, saving each (capture_save()) after
 * @each(message, userdata) has seen it (@each may be NULL). Overruns are not errors: the messages
 * are lost. Return: the messages read, or -1 when one could not be written (said on stderr).
 */
static inline long capture_run(struct mnl_socket *nl, const char *tool, const char *dir, const char *prefix,
                               long count, long timeout_ms, void (*each)(const struct nlmsghdr *nlh, void *userdata),
                               void *userdata) {
        static char buf[1 << 16];
        long n = 0, end = capture_now_ms() + timeout_ms;

        while (n < count && capture_now_ms() < end) {
                struct pollfd p = { .fd = mnl_socket_get_fd(nl), .events = POLLIN };
                const struct nlmsghdr *nlh;
                size_t off = 0;
                ssize_t len;

                if (poll(&p, 1, (int) (end - capture_now_ms())) <= 0)
                        continue;
                len = mnl_socket_recvfrom(nl, buf, sizeof(buf));
                if (len < 0) {
                        if (errno != ENOBUFS)
                                fprintf(stderr, "%s: %s\n", tool, strerror(errno));
                        continue;
                }
                while (n < count && (nlh = nlmsg_next_safe(buf, (size_t) len, &off))) {
                        if (each)
                                each(nlh, userdata);
                        if (capture_save(dir, prefix, ++n, nlh, nlh->nlmsg_len) < 0) {
                                fprintf(stderr, "%s: cannot write to %s\n", tool, dir);
                                return -1;
                        }
                }
        }
        return n;
}
