/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bus-private.c — root's private socket and its connections. See bus-private.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <systemd/sd-id128.h>

#include "bus-private.h"
#include "list.h"
#include "log.h"
#include "macro.h"
#include "manager.h"

static BusPrivate *private_free(BusPrivate *p) {
        if (!p)
                return NULL;
        LIST_REMOVE(p->bus->privates, p);
        p->bus->n_privates--;
        sd_event_source_disable_unref(p->pump);
        /* not flushed: a client that stopped reading would hold bfed here, at exit too */
        sd_bus_close_unref(p->conn);
        free(p);
        return NULL;
}

static int on_reap(sd_event_source *s, void *userdata) {
        Bus *b = userdata;

        for (BusPrivate *p = b->privates, *next; p; p = next) {
                next = p->next;
                if (p->closed)
                        private_free(p);
        }
        return 0;
}

/* @p's peer is gone; the connection is freed from the reaper, not inside its own dispatch. */
static void private_close(BusPrivate *p) {
        if (p->closed)
                return;
        p->closed = true;
        bus_peer_gone(p->bus, p->name);
        (void) sd_event_source_set_enabled(p->bus->private_reap, SD_EVENT_ONESHOT);
}

static int on_disconnected(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        BusPrivate *p = userdata;

        log_debug("Private connection %s closed.", p->name);
        private_close(p);
        return 0;
}

static int on_pump(sd_event_source *s, void *userdata) {
        BusPrivate *p = userdata;

        for (unsigned i = 0; i < BUS_PUMP_MESSAGES_MAX && !p->closed; i++)
                if (sd_bus_process(p->conn, NULL) <= 0)
                        break;
        return 0;
}

void bus_private_pump(BusPrivate *p) {
        (void) sd_event_source_set_enabled(p->pump, SD_EVENT_ONESHOT);
}

bool bus_private_may_send(BusPrivate *p) {
        uint64_t queued = 0;

        if (p->closed)
                return false;
        if (sd_bus_get_n_queued_write(p->conn, &queued) >= 0 && queued < BUS_PRIVATE_QUEUED_MAX)
                return true;
        log_notice("Closing private connection %s: it does not read what bfed sends (%" PRIu64 " messages queued).",
                   p->name, queued);
        (void) sd_bus_close(p->conn);
        private_close(p);
        return false;
}

BusPrivate *bus_private_by_conn(Bus *b, sd_bus *conn) {
        for (BusPrivate *p = b->privates; p; p = p->next)
                if (p->conn == conn)
                        return p->closed ? NULL : p;
        return NULL;
}

BusPrivate *bus_private_by_name(Bus *b, const char *name) {
        for (BusPrivate *p = b->privates; p; p = p->next)
                if (!p->closed && streq(p->name, name))
                        return p;
        return NULL;
}

/* Serves the objects on accepted socket @fd (taken over, closed on failure). */
static int private_add(Bus *b, int fd, const struct ucred *cred) {
        _cleanup_(sd_bus_close_unrefp) sd_bus *conn = NULL;
        BusPrivate *p;
        int r;

        r = sd_bus_new(&conn);
        if (r < 0) {
                (void) close(fd);
                return r;
        }
        r = sd_bus_set_fd(conn, fd, fd);
        if (r < 0) {
                (void) close(fd);
                return r;
        }
        r = sd_bus_set_server(conn, true, b->server_id);
        if (r >= 0)
                r = sd_bus_start(conn);
        if (r >= 0)
                r = sd_bus_attach_event(conn, b->manager->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return r;

        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->bus = b;
        (void) snprintf(p->name, sizeof(p->name), "private:%" PRIu64, ++b->n_privates_made);
        (void) sd_bus_set_description(conn, p->name);
        r = sd_bus_match_signal(conn, NULL, NULL, "/org/freedesktop/DBus/Local", "org.freedesktop.DBus.Local",
                                "Disconnected", on_disconnected, p);
        if (r >= 0)
                r = bus_serve(b, conn);
        if (r >= 0)
                r = sd_event_add_defer(b->manager->event, &p->pump, on_pump, p);
        if (r >= 0)
                r = sd_event_source_set_enabled(p->pump, SD_EVENT_OFF);
        if (r < 0) {
                sd_event_source_disable_unref(p->pump);
                free(p);
                return r;
        }
        p->conn = TAKE_PTR(conn);
        LIST_PREPEND(b->privates, p);
        b->n_privates++;
        log_debug("Private connection %s from pid %d.", p->name, (int) cred->pid);
        return 0;
}

static int on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Bus *b = userdata;
        struct ucred cred = {};
        socklen_t len = sizeof(cred);
        int cfd, r;

        cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (cfd < 0) {
                if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                        log_warning_errno(errno, "Failed to accept a private connection: %m");
                return 0;
        }
        if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.uid != 0) {
                /* the socket is 0600 besides: only bfed's own user gets this far */
                log_notice("Refused a private connection from uid %u (pid %d): only root may use %s.",
                           (unsigned) cred.uid, (int) cred.pid, b->manager->config.private_socket);
                (void) close(cfd);
                return 0;
        }
        if (b->n_privates >= BUS_PRIVATE_MAX) {
                log_notice("Refused a private connection from pid %d: %u are open already.", (int) cred.pid,
                           BUS_PRIVATE_MAX);
                (void) close(cfd);
                return 0;
        }
        r = private_add(b, cfd, &cred);
        if (r < 0)
                log_warning_errno(r, "Failed to serve a private connection from pid %d: %m", (int) cred.pid);
        return 0;
}

/* Whether something accepts connections at @sa (another bfed, in another network namespace). */
static bool socket_listens(const struct sockaddr_un *sa) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        bool listens;

        if (fd < 0)
                return false;
        listens = connect(fd, (const struct sockaddr *) sa, sizeof(*sa)) >= 0 || errno == EAGAIN;
        (void) close(fd);
        return listens;
}

int bus_private_listen(Bus *b, const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct stat st;
        mode_t mask;
        int fd, r;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        /* an earlier bfed's socket, left behind; never another's that listens, nor anything
         * else that happens to be there */
        if (lstat(path, &st) >= 0) {
                if (!S_ISSOCK(st.st_mode))
                        return -EEXIST;
                if (socket_listens(&sa))
                        return -EADDRINUSE;
                if (unlink(path) < 0)
                        return -errno;
        }
        r = sd_id128_randomize(&b->server_id);
        if (r < 0)
                return r;
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        mask = umask(0177);
        r = bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 ? -errno : 0;
        (void) umask(mask);
        if (r < 0) {            /* what is there now is not ours */
                (void) close(fd);
                return r;
        }
        if (listen(fd, SOMAXCONN) < 0)
                r = -errno;
        if (r >= 0)
                r = sd_event_add_io(b->manager->event, &b->private_listen, fd, EPOLLIN, on_accept, b);
        if (r < 0) {
                (void) close(fd);
                (void) unlink(path);
                return r;
        }
        r = sd_event_source_set_io_fd_own(b->private_listen, true);
        if (r >= 0 && !b->private_reap)
                r = sd_event_add_defer(b->manager->event, &b->private_reap, on_reap, b);
        if (r >= 0)
                r = sd_event_source_set_enabled(b->private_reap, SD_EVENT_OFF);
        if (r < 0) {
                if (sd_event_source_get_io_fd_own(b->private_listen) <= 0)
                        (void) close(fd);
                b->private_listen = sd_event_source_disable_unref(b->private_listen);
                (void) unlink(path);
                return r;
        }
        return 0;
}

void bus_private_free_all(Bus *b) {
        if (b->private_listen) {
                b->private_listen = sd_event_source_disable_unref(b->private_listen);
                (void) unlink(b->manager->config.private_socket);
        }
        for (BusPrivate *p = b->privates; p; p = p->next)
                private_close(p);
        while (b->privates)
                private_free(b->privates);
        b->private_reap = sd_event_source_disable_unref(b->private_reap);
}
