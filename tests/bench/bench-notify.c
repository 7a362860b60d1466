/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-notify — runs a command with NOTIFY_SOCKET pointing at a datagram socket of its own,
 * and times exec → "READY=1", for P6 of the benchmark (bfed's restart). No systemd needed.
 *
 *   bench-notify [--timeout-ms N] [--socket PATH] -- COMMAND [ARGS...]
 *
 * It binds PATH (default /tmp/bench-notify.<pid>), sets NOTIFY_SOCKET, reads the monotonic
 * clock, forks and execs COMMAND. When a notification with a READY=1 line arrives it prints
 *
 *   ready SECONDS pid PID status "STATUS TEXT"
 *
 * (flushed), then stays the command's parent until it exits, and prints "exit CODE" (or
 * "signal N"), exiting 0. Without READY=1 within the timeout (default 600000 ms) it prints
 * "timeout", sends the command SIGTERM and exits 1; if the command exits first, "died …" and 1.
 * Exit 2 on usage or socket errors. The time includes the fork and the exec.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static void print_exit(int status) {
        if (WIFEXITED(status))
                printf("exit %d\n", WEXITSTATUS(status));
        else if (WIFSIGNALED(status))
                printf("signal %d\n", WTERMSIG(status));
        else
                printf("status 0x%x\n", status);
        fflush(stdout);
}

/* The value of line @key= in the notification @msg, copied into @buf ("" if absent). */
static void field(const char *msg, const char *key, char *buf, size_t size) {
        size_t klen = strlen(key);
        const char *p = msg;

        buf[0] = '\0';
        while (p && *p) {
                const char *nl = strchr(p, '\n');
                size_t len = nl ? (size_t) (nl - p) : strlen(p);

                if (len >= klen && strncmp(p, key, klen) == 0) {
                        len -= klen;
                        if (len >= size)
                                len = size - 1;
                        memcpy(buf, p + klen, len);
                        buf[len] = '\0';
                        return;
                }
                p = nl ? nl + 1 : NULL;
        }
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "timeout-ms", required_argument, NULL, 't' },
                { "socket", required_argument, NULL, 's' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char path[sizeof(sa.sun_path)] = "";
        long timeout_ms = 600000;
        bool ready = false;
        uint64_t t0, deadline;
        pid_t pid;
        int c, fd, status;

        while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0)
                switch (c) {
                case 't':
                        timeout_ms = strtol(optarg, NULL, 10);
                        break;
                case 's':
                        snprintf(path, sizeof(path), "%s", optarg);
                        break;
                case 'h':
                        printf("usage: bench-notify [--timeout-ms N] [--socket PATH] -- COMMAND [ARGS...]\n");
                        return 0;
                default:
                        return 2;
                }
        if (optind >= argc || timeout_ms <= 0) {
                fprintf(stderr, "usage: bench-notify [--timeout-ms N] [--socket PATH] -- COMMAND [ARGS...]\n");
                return 2;
        }
        if (!path[0])
                snprintf(path, sizeof(path), "/tmp/bench-notify.%d", (int) getpid());
        if (strlen(path) >= sizeof(sa.sun_path)) {
                fprintf(stderr, "bench-notify: socket path too long\n");
                return 2;
        }
        strcpy(sa.sun_path, path);

        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                fprintf(stderr, "bench-notify: socket: %m\n");
                return 2;
        }
        (void) unlink(path);
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                fprintf(stderr, "bench-notify: bind %s: %m\n", path);
                return 2;
        }
        if (setenv("NOTIFY_SOCKET", path, 1) < 0) {
                fprintf(stderr, "bench-notify: setenv: %m\n");
                return 2;
        }

        t0 = now_ns();
        pid = fork();
        if (pid < 0) {
                fprintf(stderr, "bench-notify: fork: %m\n");
                return 2;
        }
        if (pid == 0) {
                execvp(argv[optind], argv + optind);
                fprintf(stderr, "bench-notify: exec %s: %m\n", argv[optind]);
                _exit(127);
        }
        deadline = t0 + (uint64_t) timeout_ms * 1000000u;

        /* Until READY=1: poll the socket, 20 ms at a time, checking the child in between. */
        while (!ready) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                char msg[4096], st[512];
                ssize_t n;
                int r;

                r = poll(&pfd, 1, 20);
                if (r < 0 && errno != EINTR) {
                        fprintf(stderr, "bench-notify: poll: %m\n");
                        break;
                }
                if (r > 0) {
                        uint64_t t;

                        n = recv(fd, msg, sizeof(msg) - 1, MSG_DONTWAIT);
                        t = now_ns();
                        if (n < 0)
                                continue;
                        msg[n] = '\0';
                        field(msg, "READY=", st, sizeof(st));
                        if (strcmp(st, "1") == 0) {
                                field(msg, "STATUS=", st, sizeof(st));
                                printf("ready %.6f pid %d status \"%s\"\n", (double) (t - t0) / 1e9, (int) pid, st);
                                fflush(stdout);
                                ready = true;
                        }
                        continue;
                }
                if (waitpid(pid, &status, WNOHANG) == pid) {
                        printf("died before READY=1 after %.6f s: ", (double) (now_ns() - t0) / 1e9);
                        print_exit(status);
                        unlink(path);
                        return 1;
                }
                if (now_ns() >= deadline) {
                        printf("timeout: no READY=1 within %ld ms\n", timeout_ms);
                        fflush(stdout);
                        kill(pid, SIGTERM);
                        (void) waitpid(pid, &status, 0);
                        unlink(path);
                        return 1;
                }
        }

        /* Stay its parent (so that nothing else has to reap it) until it exits. */
        close(fd);
        unlink(path);
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR) {
                        fprintf(stderr, "bench-notify: waitpid: %m\n");
                        return 2;
                }
        print_exit(status);
        return 0;
}
