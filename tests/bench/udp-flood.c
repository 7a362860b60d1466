/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * udp-flood — sends COUNT small UDP datagrams as fast as it can (sendmmsg, 64 at a time) and
 * prints how long that took, in nanoseconds per datagram: for scripts/bench-trace, which runs it
 * in a test namespace against the other end of a veth pair. veth hands each datagram to the
 * receiving namespace's stack in the sender's own softirq, so the time includes the receiver's
 * netfilter hooks — the path whose cost is measured. The figure is the thread's CPU time (the
 * scheduler's, which counts softirq work done in its context unless the kernel accounts IRQ
 * time apart), so other work on a shared machine does not count; wall time is printed too.
 * Bounded by COUNT; test addresses only.
 *
 *   udp-flood --to ADDR --port PORT [--sport PORT] --count N
 *   udp-flood --sink ADDR --port PORT
 *
 * The payload is "flood": on UDP 4500 it looks like ESP-in-UDP (an SPI, not IKE's four zero
 * bytes). Prints "cpu_ns_per_datagram N.NN wall_ns_per_datagram N.NN sent N". With --sink it
 * binds ADDR:PORT, prints "ready" and waits until killed without reading: a receiver whose
 * full queue drops what comes after the netfilter hooks, with no ICMP error to send. Exits 0, 1 on a failure, 2 on bad usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

static double now_ns(clockid_t clock) {
        struct timespec ts;

        clock_gettime(clock, &ts);
        return (double) ts.tv_sec * 1e9 + (double) ts.tv_nsec;
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "to", required_argument, NULL, 't' },
                { "port", required_argument, NULL, 'p' },
                { "sport", required_argument, NULL, 's' },
                { "count", required_argument, NULL, 'c' },
                { "sink", required_argument, NULL, 'k' },
                {},
        };
        struct sockaddr_storage dst = {}, src = {};
        socklen_t len = 0;
        const char *to = NULL;
        bool sink = false;
        long port = 0, sport = 0, count = 0, sent = 0;
        struct mmsghdr msgs[BATCH];
        struct iovec iov = { .iov_base = "flood", .iov_len = 5 };
        double t0, t1, c0, c1;
        int c, fd;

        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case 't': to = optarg; break;
                case 'p': port = strtol(optarg, NULL, 10); break;
                case 's': sport = strtol(optarg, NULL, 10); break;
                case 'c': count = strtol(optarg, NULL, 10); break;
                case 'k': to = optarg; sink = true; break;
                default: return 2;
                }
        if (!to || port <= 0 || port > 65535 || sport < 0 || sport > 65535 || (count <= 0 && !sink)) {
                fprintf(stderr, "usage: udp-flood --to ADDR --port PORT [--sport PORT] --count N\n"
                                "       udp-flood --sink ADDR --port PORT\n");
                return 2;
        }
        if (inet_pton(AF_INET, to, &((struct sockaddr_in *) &dst)->sin_addr) == 1) {
                ((struct sockaddr_in *) &dst)->sin_family = AF_INET;
                ((struct sockaddr_in *) &dst)->sin_port = htons((uint16_t) port);
                ((struct sockaddr_in *) &src)->sin_family = AF_INET;
                ((struct sockaddr_in *) &src)->sin_port = htons((uint16_t) sport);
                len = sizeof(struct sockaddr_in);
        } else if (inet_pton(AF_INET6, to, &((struct sockaddr_in6 *) &dst)->sin6_addr) == 1) {
                ((struct sockaddr_in6 *) &dst)->sin6_family = AF_INET6;
                ((struct sockaddr_in6 *) &dst)->sin6_port = htons((uint16_t) port);
                ((struct sockaddr_in6 *) &src)->sin6_family = AF_INET6;
                ((struct sockaddr_in6 *) &src)->sin6_port = htons((uint16_t) sport);
                len = sizeof(struct sockaddr_in6);
        } else {
                fprintf(stderr, "udp-flood: '%s' is not an address\n", to);
                return 2;
        }
        fd = socket(dst.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (sink) {
                if (fd < 0 || bind(fd, (struct sockaddr *) &dst, len) < 0) {
                        fprintf(stderr, "udp-flood: %s\n", strerror(errno));
                        return 1;
                }
                printf("ready\n");
                fflush(stdout);
                for (;;)
                        pause();
        }
        if (fd < 0 || (sport > 0 && bind(fd, (struct sockaddr *) &src, len) < 0) ||
            connect(fd, (struct sockaddr *) &dst, len) < 0) {
                fprintf(stderr, "udp-flood: %s\n", strerror(errno));
                return 1;
        }
        for (int i = 0; i < BATCH; i++)
                msgs[i] = (struct mmsghdr) { .msg_hdr = { .msg_iov = &iov, .msg_iovlen = 1 } };

        t0 = now_ns(CLOCK_MONOTONIC);
        c0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
        while (sent < count) {
                int n = sendmmsg(fd, msgs, (unsigned) (count - sent < BATCH ? count - sent : BATCH), 0);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        fprintf(stderr, "udp-flood: after %ld datagrams: %s\n", sent, strerror(errno));
                        return 1;
                }
                sent += n;
        }
        c1 = now_ns(CLOCK_THREAD_CPUTIME_ID);
        t1 = now_ns(CLOCK_MONOTONIC);
        printf("cpu_ns_per_datagram %.2f wall_ns_per_datagram %.2f sent %ld\n", (c1 - c0) / (double) sent,
               (t1 - t0) / (double) sent, sent);
        close(fd);
        return 0;
}
