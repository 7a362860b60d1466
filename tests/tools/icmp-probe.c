/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * icmp-probe — send and receive ICMP and ICMPv6 messages of any type and code, for the packet
 * integration tests (no ping needed, and ping sends echo requests only).
 *
 *   icmp-probe recv --bind ADDR --type T --code C --tag TAG [--timeout-ms N]
 *   icmp-probe send --to ADDR --type T --code C --tag TAG [--bind ADDR] [--count N]
 *
 * Both use raw sockets (root). send sends --count (default 3) messages whose body is an 8-byte
 * ICMP header (id 0x6266, sequence 1, 2, …) and the text "icmp-probe TAG"; the kernel computes an
 * ICMPv6 checksum, this one an ICMP one. recv prints "ready" (flushed) once its socket is open,
 * then exits 0 when a message of that type, code and tag reached ADDR within the timeout
 * (default 1000 ms), 1 if none did, 2 on usage or socket errors. A raw socket sees a message
 * only after the input hook, so one that bfed's table drops never arrives. The family follows
 * the address syntax.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct Options {
        const char *bind_addr, *to_addr, *tag;
        long type, code, timeout_ms, count;
} Options;

typedef struct Address {
        int family;
        union {
                struct sockaddr_in v4;
                struct sockaddr_in6 v6;
        };
        socklen_t len;
} Address;

static void usage(FILE *f) {
        fputs("usage: icmp-probe recv --bind ADDR --type T --code C --tag TAG [--timeout-ms N]\n"
              "       icmp-probe send --to ADDR --type T --code C --tag TAG [--bind ADDR] [--count N]\n", f);
}

static int parse_long(const char *s, long min, long max, long *ret) {
        char *end = NULL;
        long v = strtol(s, &end, 10);

        if (!*s || *end || v < min || v > max)
                return -1;
        *ret = v;
        return 0;
}

static int parse_address(const char *s, Address *ret) {
        memset(ret, 0, sizeof(*ret));
        if (inet_pton(AF_INET, s, &ret->v4.sin_addr) == 1) {
                ret->family = ret->v4.sin_family = AF_INET;
                ret->len = sizeof(ret->v4);
                return 0;
        }
        if (inet_pton(AF_INET6, s, &ret->v6.sin6_addr) == 1) {
                ret->family = ret->v6.sin6_family = AF_INET6;
                ret->len = sizeof(ret->v6);
                return 0;
        }
        return -1;
}

static uint16_t checksum(const uint8_t *p, size_t n) {
        uint32_t sum = 0;

        for (size_t i = 0; i + 1 < n; i += 2)
                sum += (uint32_t) (p[i] << 8 | p[i + 1]);
        if (n % 2)
                sum += (uint32_t) p[n - 1] << 8;
        while (sum >> 16)
                sum = (sum & 0xffff) + (sum >> 16);
        return (uint16_t) ~sum;
}

static int open_raw(int family) {
        int fd = socket(family, SOCK_RAW, family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6);

        if (fd < 0)
                perror("icmp-probe: socket");
        return fd;
}

static long ms_since(const struct timespec *t0) {
        struct timespec t;

        clock_gettime(CLOCK_MONOTONIC, &t);
        return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

static int do_recv(const Options *o) {
        char want[128];
        uint8_t buf[2048];
        struct timespec t0;
        Address a;
        int fd;

        if (parse_address(o->bind_addr, &a) < 0)
                return 2;
        fd = open_raw(a.family);
        if (fd < 0)
                return 2;
        if (bind(fd, (struct sockaddr *) &a.v4, a.len) < 0) {
                perror("icmp-probe: bind");
                return 2;
        }
        snprintf(want, sizeof(want), "icmp-probe %s", o->tag);
        puts("ready");
        fflush(stdout);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (;;) {
                long left = o->timeout_ms - ms_since(&t0);
                struct pollfd p = { .fd = fd, .events = POLLIN };
                ssize_t n;
                size_t off = 0;

                if (left <= 0 || poll(&p, 1, (int) left) <= 0)
                        return 1;
                n = recv(fd, buf, sizeof(buf), 0);
                if (n <= 0)
                        continue;
                if (a.family == AF_INET) {
                        if (n < 20)
                                continue;
                        off = (size_t) (buf[0] & 0x0f) * 4; /* a raw IPv4 socket gets the IP header */
                }
                if ((size_t) n < off + 8 + strlen(want))
                        continue;
                if (buf[off] == o->type && buf[off + 1] == o->code &&
                    memcmp(buf + off + 8, want, strlen(want)) == 0) {
                        printf("got type %ld code %ld\n", o->type, o->code);
                        return 0;
                }
        }
}

static int do_send(const Options *o) {
        uint8_t msg[128] = {};
        size_t n;
        Address to, from;
        int fd;

        if (parse_address(o->to_addr, &to) < 0)
                return 2;
        fd = open_raw(to.family);
        if (fd < 0)
                return 2;
        if (o->bind_addr) {
                if (parse_address(o->bind_addr, &from) < 0 || from.family != to.family)
                        return 2;
                if (bind(fd, (struct sockaddr *) &from.v4, from.len) < 0) {
                        perror("icmp-probe: bind");
                        return 2;
                }
        }
        n = 8 + (size_t) snprintf((char *) msg + 8, sizeof(msg) - 8, "icmp-probe %s", o->tag);
        for (long i = 1; i <= o->count; i++) {
                msg[0] = (uint8_t) o->type;
                msg[1] = (uint8_t) o->code;
                msg[2] = msg[3] = 0;
                msg[4] = 0x62, msg[5] = 0x66;
                msg[6] = (uint8_t) (i >> 8), msg[7] = (uint8_t) i;
                if (to.family == AF_INET) {
                        uint16_t c = checksum(msg, n);

                        msg[2] = (uint8_t) (c >> 8), msg[3] = (uint8_t) c;
                }
                if (sendto(fd, msg, n, 0, (struct sockaddr *) &to.v4, to.len) < 0) {
                        perror("icmp-probe: sendto");
                        return 1; /* EPERM: the output hook dropped it */
                }
        }
        return 0;
}

int main(int argc, char **argv) {
        static const struct option longopts[] = {
                { "bind", required_argument, NULL, 'b' }, { "to", required_argument, NULL, 't' },
                { "type", required_argument, NULL, 'y' }, { "code", required_argument, NULL, 'c' },
                { "tag", required_argument, NULL, 'g' }, { "timeout-ms", required_argument, NULL, 'w' },
                { "count", required_argument, NULL, 'n' }, {}
        };
        Options o = { .type = -1, .code = -1, .timeout_ms = 1000, .count = 3 };
        const char *cmd;
        int c;

        if (argc < 2) {
                usage(stderr);
                return 2;
        }
        cmd = argv[1];
        optind = 2;
        while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
                int r = 0;

                switch (c) {
                case 'b': o.bind_addr = optarg; break;
                case 't': o.to_addr = optarg; break;
                case 'g': o.tag = optarg; break;
                case 'y': r = parse_long(optarg, 0, 255, &o.type); break;
                case 'c': r = parse_long(optarg, 0, 255, &o.code); break;
                case 'w': r = parse_long(optarg, 1, 600000, &o.timeout_ms); break;
                case 'n': r = parse_long(optarg, 1, 1000, &o.count); break;
                default: r = -1; break;
                }
                if (r < 0) {
                        usage(stderr);
                        return 2;
                }
        }
        if (o.type < 0 || o.code < 0 || !o.tag) {
                usage(stderr);
                return 2;
        }
        if (strcmp(cmd, "recv") == 0 && o.bind_addr)
                return do_recv(&o);
        if (strcmp(cmd, "send") == 0 && o.to_addr)
                return do_send(&o);
        usage(stderr);
        return 2;
}
