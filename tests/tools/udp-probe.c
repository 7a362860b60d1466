/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * udp-probe — send and receive UDP datagrams for the packet integration tests.
 *
 *   udp-probe recv --bind ADDR --port P [--timeout-ms N] [--count N]
 *   udp-probe send --to ADDR --port P [--sport S] [--bind ADDR] [--payload TEXT] [--non-esp] [--count N]
 *
 * --non-esp puts four zero bytes before the payload: IKE's non-ESP marker on UDP 4500 (RFC 3948),
 * which tells an IKE message from ESP-in-UDP there.
 *
 * recv prints "ready" (flushed) once bound, then one line "from ADDR PORT: PAYLOAD" per
 * datagram; it exits 0 when it got --count datagrams (default 1) before the timeout, 1 if not,
 * 2 on usage or socket errors. The address family follows the address syntax; IPv6 sockets are
 * IPV6_V6ONLY so a v6 test never passes on a v4 packet.
 */
#include <arpa/inet.h>
#include <errno.h>
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
        const char *bind_addr;
        const char *to_addr;
        const char *payload;
        bool non_esp;
        long port;
        long sport;
        long timeout_ms;
        long count;
} Options;

static void usage(FILE *f) {
        fputs("usage: udp-probe recv --bind ADDR --port P [--timeout-ms N] [--count N]\n"
              "       udp-probe send --to ADDR --port P [--sport S] [--bind ADDR]"
              " [--payload TEXT] [--non-esp] [--count N]\n", f);
}

static int parse_long(const char *s, long min, long max, long *ret) {
        char *end = NULL;
        long v;

        errno = 0;
        v = strtol(s, &end, 10);
        if (errno != 0 || !end || *end != '\0' || end == s || v < min || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* Fills @ret from a numeric IPv4 or IPv6 address and a port; returns the family or -EINVAL. */
static int make_sockaddr(const char *addr, long port, struct sockaddr_storage *ret, socklen_t *ret_len) {
        memset(ret, 0, sizeof(*ret));

        if (addr && strchr(addr, ':')) {
                struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) ret;

                if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) != 1)
                        return -EINVAL;
                sin6->sin6_family = AF_INET6;
                sin6->sin6_port = htons((uint16_t) port);
                *ret_len = sizeof(*sin6);
                return AF_INET6;
        } else {
                struct sockaddr_in *sin = (struct sockaddr_in *) ret;

                if (addr && inet_pton(AF_INET, addr, &sin->sin_addr) != 1)
                        return -EINVAL;
                if (!addr)
                        sin->sin_addr.s_addr = htonl(INADDR_ANY);
                sin->sin_family = AF_INET;
                sin->sin_port = htons((uint16_t) port);
                *ret_len = sizeof(*sin);
                return AF_INET;
        }
}

static int open_socket(int family) {
        int fd, one = 1;

        fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (family == AF_INET6 &&
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
                goto fail;
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
                goto fail;
        return fd;
fail:
        {
                int r = -errno;
                close(fd);
                return r;
        }
}

static long long now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void format_peer(const struct sockaddr_storage *sa, char *buf, size_t n, unsigned *ret_port) {
        if (sa->ss_family == AF_INET6) {
                const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *) sa;
                inet_ntop(AF_INET6, &sin6->sin6_addr, buf, (socklen_t) n);
                *ret_port = ntohs(sin6->sin6_port);
        } else {
                const struct sockaddr_in *sin = (const struct sockaddr_in *) sa;
                inet_ntop(AF_INET, &sin->sin_addr, buf, (socklen_t) n);
                *ret_port = ntohs(sin->sin_port);
        }
}

static int do_recv(const Options *o) {
        struct sockaddr_storage sa;
        socklen_t salen;
        long long deadline;
        long got = 0;
        int family, fd;

        if (!o->bind_addr || o->port < 0) {
                usage(stderr);
                return 2;
        }
        family = make_sockaddr(o->bind_addr, o->port, &sa, &salen);
        if (family < 0) {
                fprintf(stderr, "udp-probe: invalid address '%s'\n", o->bind_addr);
                return 2;
        }
        fd = open_socket(family);
        if (fd < 0) {
                fprintf(stderr, "udp-probe: socket: %s\n", strerror(-fd));
                return 2;
        }
        if (bind(fd, (struct sockaddr *) &sa, salen) < 0) {
                fprintf(stderr, "udp-probe: bind %s port %ld: %m\n", o->bind_addr, o->port);
                close(fd);
                return 2;
        }

        printf("ready\n");
        fflush(stdout);

        deadline = now_ms() + o->timeout_ms;
        while (got < o->count) {
                struct sockaddr_storage peer;
                socklen_t peerlen = sizeof(peer);
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                char buf[2048], addr[INET6_ADDRSTRLEN];
                long long left = deadline - now_ms();
                unsigned pport = 0;
                ssize_t n;
                int r;

                if (left <= 0)
                        break;
                r = poll(&pfd, 1, (int) (left > 60000 ? 60000 : left));
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        fprintf(stderr, "udp-probe: poll: %m\n");
                        close(fd);
                        return 2;
                }
                if (r == 0)
                        continue;

                n = recvfrom(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT, (struct sockaddr *) &peer, &peerlen);
                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                continue;
                        fprintf(stderr, "udp-probe: recvfrom: %m\n");
                        close(fd);
                        return 2;
                }
                buf[n] = '\0';
                /* keep the output one line per datagram */
                for (ssize_t i = 0; i < n; i++)
                        if (buf[i] == '\n' || buf[i] == '\r' || buf[i] == '\0')
                                buf[i] = ' ';
                format_peer(&peer, addr, sizeof(addr), &pport);
                printf("from %s %u: %s\n", addr, pport, buf);
                fflush(stdout);
                got++;
        }

        close(fd);
        return got >= o->count ? 0 : 1;
}

static int do_send(const Options *o) {
        struct sockaddr_storage to, local;
        socklen_t tolen, locallen;
        int family, fd;

        if (!o->to_addr || o->port < 0) {
                usage(stderr);
                return 2;
        }
        family = make_sockaddr(o->to_addr, o->port, &to, &tolen);
        if (family < 0) {
                fprintf(stderr, "udp-probe: invalid address '%s'\n", o->to_addr);
                return 2;
        }
        fd = open_socket(family);
        if (fd < 0) {
                fprintf(stderr, "udp-probe: socket: %s\n", strerror(-fd));
                return 2;
        }

        if (o->bind_addr || o->sport > 0) {
                const char *baddr = o->bind_addr ? o->bind_addr : (family == AF_INET6 ? "::" : "0.0.0.0");

                if (make_sockaddr(baddr, o->sport > 0 ? o->sport : 0, &local, &locallen) != family) {
                        fprintf(stderr, "udp-probe: bind address '%s' does not fit '%s'\n", baddr, o->to_addr);
                        close(fd);
                        return 2;
                }
                if (bind(fd, (struct sockaddr *) &local, locallen) < 0) {
                        fprintf(stderr, "udp-probe: bind %s port %ld: %m\n", baddr, o->sport);
                        close(fd);
                        return 2;
                }
        }

        for (long i = 0; i < o->count; i++) {
                const char *p = o->payload ? o->payload : "udp-probe";
                char buf[4 + 1024] = {};
                size_t n = strnlen(p, 1024), off = o->non_esp ? 4 : 0;

                memcpy(buf + off, p, n);
                if (sendto(fd, buf, off + n, 0, (struct sockaddr *) &to, tolen) < 0) {
                        fprintf(stderr, "udp-probe: sendto %s port %ld: %m\n", o->to_addr, o->port);
                        close(fd);
                        return 1;
                }
        }

        close(fd);
        return 0;
}

int main(int argc, char *argv[]) {
        enum { ARG_BIND = 0x100, ARG_TO, ARG_PORT, ARG_SPORT, ARG_PAYLOAD, ARG_NON_ESP, ARG_COUNT, ARG_TIMEOUT };
        static const struct option options[] = {
                { "bind",       required_argument, NULL, ARG_BIND    },
                { "to",         required_argument, NULL, ARG_TO      },
                { "port",       required_argument, NULL, ARG_PORT    },
                { "sport",      required_argument, NULL, ARG_SPORT   },
                { "payload",    required_argument, NULL, ARG_PAYLOAD },
                { "non-esp",    no_argument,       NULL, ARG_NON_ESP },
                { "count",      required_argument, NULL, ARG_COUNT   },
                { "timeout-ms", required_argument, NULL, ARG_TIMEOUT },
                { "help",       no_argument,       NULL, 'h'         },
                {}
        };
        Options o = { .port = -1, .sport = 0, .timeout_ms = 2000, .count = 1 };
        const char *mode;
        int c;

        if (argc < 2) {
                usage(stderr);
                return 2;
        }
        mode = argv[1];
        if (strcmp(mode, "-h") == 0 || strcmp(mode, "--help") == 0) {
                usage(stdout);
                return 0;
        }

        optind = 2;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case ARG_BIND:
                        o.bind_addr = optarg;
                        break;
                case ARG_TO:
                        o.to_addr = optarg;
                        break;
                case ARG_PAYLOAD:
                        o.payload = optarg;
                        break;
                case ARG_NON_ESP:
                        o.non_esp = true;
                        break;
                case ARG_PORT:
                        if (parse_long(optarg, 0, 65535, &o.port) < 0)
                                goto bad;
                        break;
                case ARG_SPORT:
                        if (parse_long(optarg, 0, 65535, &o.sport) < 0)
                                goto bad;
                        break;
                case ARG_COUNT:
                        if (parse_long(optarg, 1, 1000000, &o.count) < 0)
                                goto bad;
                        break;
                case ARG_TIMEOUT:
                        if (parse_long(optarg, 0, 3600000, &o.timeout_ms) < 0)
                                goto bad;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (optind < argc) {
                usage(stderr);
                return 2;
        }

        if (strcmp(mode, "recv") == 0)
                return do_recv(&o);
        if (strcmp(mode, "send") == 0)
                return do_send(&o);
        usage(stderr);
        return 2;

bad:
        fprintf(stderr, "udp-probe: invalid value '%s'\n", optarg);
        return 2;
}
