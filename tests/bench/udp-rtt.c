/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * udp-rtt — UDP round trips, both ends busy-polling non-blocking sockets: P7 of scripts/bench
 * (issue 12), the cost of bfed's table on the packet path. With blocking sockets a round trip
 * of a few microseconds is dominated by the CPU's idle states and wake-ups, not by the path.
 *
 *   udp-rtt server --bind ADDR --port PORT [--port PORT]... [--timeout-s SEC]
 *   udp-rtt client --to ADDR --port PORT [--count N] [--warmup N] [--timeout-ms MS]
 *
 * The server binds one socket per port, prints "ready" and spins over them with
 * recvfrom(MSG_DONTWAIT), sending each datagram back to where it came from, until SIGTERM,
 * SIGINT or --timeout-s (default 3600). The client sends a 32-byte datagram with a sequence
 * number, spins on recv(MSG_DONTWAIT) until the answer with that number comes, and times each
 * round trip with CLOCK_MONOTONIC; after --warmup rounds (default 1,000, not counted) it takes
 * --count (default 10,000) and prints one line:
 *
 *   median_us M p10_us A p90_us B min_us C mean_us D count N lost L
 *
 * A round whose answer does not come within --timeout-ms (default 1,000) is counted as lost
 * and not timed. Exits 0; 1 on a failure or if every round was lost; 2 on bad usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench-util.h"

#define MAX_PORTS 8
#define PAYLOAD   32

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
        stop = 1;
}

static int parse_addr(const char *s, long port, struct sockaddr_in *ret) {
        *ret = (struct sockaddr_in) { .sin_family = AF_INET, .sin_port = htons((uint16_t) port) };
        if (port <= 0 || port > 65535 || inet_pton(AF_INET, s, &ret->sin_addr) != 1)
                return -EINVAL;
        return 0;
}

static int run_server(const char *bind_addr, const long *ports, size_t n_ports, long timeout_s) {
        int fds[MAX_PORTS];
        uint64_t deadline = now_ns() + (uint64_t) timeout_s * UINT64_C(1000000000);
        char buf[2048];
        unsigned long spins = 0;

        for (size_t k = 0; k < n_ports; k++) {
                struct sockaddr_in a;
                int one = 1;

                if (parse_addr(bind_addr, ports[k], &a) < 0) {
                        fprintf(stderr, "udp-rtt: bad address or port: %s %ld\n", bind_addr, ports[k]);
                        return 2;
                }
                fds[k] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
                if (fds[k] < 0 || setsockopt(fds[k], SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
                    bind(fds[k], (struct sockaddr *) &a, sizeof(a)) < 0) {
                        fprintf(stderr, "udp-rtt: binding %s:%ld: %m\n", bind_addr, ports[k]);
                        return 1;
                }
        }
        printf("ready\n");
        fflush(stdout);
        while (!stop) {
                for (size_t k = 0; k < n_ports; k++) {
                        struct sockaddr_in from;
                        socklen_t len = sizeof(from);
                        ssize_t n;

                        n = recvfrom(fds[k], buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *) &from, &len);
                        if (n < 0) {
                                if (errno != EAGAIN && errno != EINTR) {
                                        fprintf(stderr, "udp-rtt: recvfrom: %m\n");
                                        return 1;
                                }
                                continue;
                        }
                        (void) sendto(fds[k], buf, (size_t) n, MSG_DONTWAIT, (struct sockaddr *) &from, len);
                }
                if (++spins % 65536 == 0 && now_ns() >= deadline)
                        break;
        }
        return 0;
}

static int run_client(const char *to, long port, long count, long warmup, long timeout_ms) {
        struct sockaddr_in a;
        uint64_t *rtt, sum = 0;
        long lost = 0, taken = 0;
        int fd;

        if (parse_addr(to, port, &a) < 0) {
                fprintf(stderr, "udp-rtt: bad address or port: %s %ld\n", to, port);
                return 2;
        }
        rtt = calloc((size_t) count, sizeof(*rtt));
        if (!rtt)
                return 1;
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *) &a, sizeof(a)) < 0) {
                fprintf(stderr, "udp-rtt: connecting to %s:%ld: %m\n", to, port);
                return 1;
        }
        for (long round = 0; round < warmup + count && !stop; round++) {
                uint64_t seq = (uint64_t) round, t0, t1, limit;
                char out[PAYLOAD] = {}, in[PAYLOAD];
                bool got = false;

                memcpy(out, &seq, sizeof(seq));
                t0 = now_ns();
                limit = t0 + (uint64_t) timeout_ms * UINT64_C(1000000);
                if (send(fd, out, sizeof(out), 0) < 0 && errno != ECONNREFUSED) {
                        fprintf(stderr, "udp-rtt: send: %m\n");
                        return 1;
                }
                for (unsigned long spins = 0;; spins++) {
                        ssize_t n = recv(fd, in, sizeof(in), MSG_DONTWAIT);

                        if (n == (ssize_t) sizeof(in) && memcmp(in, &seq, sizeof(seq)) == 0) {
                                got = true;
                                break;
                        }
                        if (n < 0 && errno != EAGAIN && errno != EINTR && errno != ECONNREFUSED) {
                                fprintf(stderr, "udp-rtt: recv: %m\n");
                                return 1;
                        }
                        if (spins % 1024 == 0 && now_ns() >= limit)
                                break;
                }
                t1 = now_ns();
                if (round < warmup)
                        continue;
                if (!got) {
                        lost++;
                        continue;
                }
                rtt[taken++] = t1 - t0;
                sum += t1 - t0;
        }
        if (taken == 0) {
                printf("median_us nan p10_us nan p90_us nan min_us nan mean_us nan count 0 lost %ld\n", lost);
                return 1;
        }
        qsort(rtt, (size_t) taken, sizeof(*rtt), compare_u64);
        printf("median_us %.3f p10_us %.3f p90_us %.3f min_us %.3f mean_us %.3f count %ld lost %ld\n",
               (taken % 2 ? rtt[taken / 2] : (rtt[taken / 2 - 1] + rtt[taken / 2]) / 2) / 1e3,
               rtt[taken / 10] / 1e3, rtt[taken * 9 / 10] / 1e3, rtt[0] / 1e3, (double) sum / taken / 1e3,
               taken, lost);
        free(rtt);
        close(fd);
        return 0;
}

static long parse_long(const char *s, const char *opt) {
        char *end;
        long v;

        errno = 0;
        v = strtol(s, &end, 10);
        if (errno || end == s || *end || v < 0) {
                fprintf(stderr, "udp-rtt: %s: not a number: '%s'\n", opt, s);
                exit(2);
        }
        return v;
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "bind", required_argument, NULL, 'b' },
                { "to", required_argument, NULL, 't' },
                { "port", required_argument, NULL, 'p' },
                { "count", required_argument, NULL, 'c' },
                { "warmup", required_argument, NULL, 'w' },
                { "timeout-ms", required_argument, NULL, 'm' },
                { "timeout-s", required_argument, NULL, 's' },
                {},
        };
        const char *mode, *bind_addr = NULL, *to = NULL;
        long ports[MAX_PORTS], count = 10000, warmup = 1000, timeout_ms = 1000, timeout_s = 3600;
        size_t n_ports = 0;
        int c;

        if (argc < 2) {
                fprintf(stderr, "usage: udp-rtt server|client OPTIONS (see the source)\n");
                return 2;
        }
        mode = argv[1];
        optind = 2;
        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case 'b':
                        bind_addr = optarg;
                        break;
                case 't':
                        to = optarg;
                        break;
                case 'p':
                        if (n_ports == MAX_PORTS) {
                                fprintf(stderr, "udp-rtt: at most %d ports\n", MAX_PORTS);
                                return 2;
                        }
                        ports[n_ports++] = parse_long(optarg, "--port");
                        break;
                case 'c':
                        count = parse_long(optarg, "--count");
                        break;
                case 'w':
                        warmup = parse_long(optarg, "--warmup");
                        break;
                case 'm':
                        timeout_ms = parse_long(optarg, "--timeout-ms");
                        break;
                case 's':
                        timeout_s = parse_long(optarg, "--timeout-s");
                        break;
                default:
                        return 2;
                }
        signal(SIGTERM, on_signal);
        signal(SIGINT, on_signal);
        if (strcmp(mode, "server") == 0 && bind_addr && n_ports > 0)
                return run_server(bind_addr, ports, n_ports, timeout_s);
        if (strcmp(mode, "client") == 0 && to && n_ports == 1 && count > 0)
                return run_client(to, ports[0], count, warmup, timeout_ms);
        fprintf(stderr, "udp-rtt: server needs --bind and --port; client needs --to, one --port, --count > 0\n");
        return 2;
}
