/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* nlgroup.c — see nlgroup.h. */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "nlgroup.h"

struct NlGroup {
        struct mnl_socket *nl;
        sd_event_source *io;
        char *buf;
        size_t buffer_size;
        unsigned reads_per_wakeup;
        unsigned group;
        bool disabled;
        NlGroupHandler handler;
        void *userdata;
};

static int open_socket(const NlGroupSpec *spec, void *userdata, struct mnl_socket **ret) {
        unsigned group = spec->group;   /* libmnl's option value is not const */
        int fd, r;

        *ret = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (!*ret)
                return -errno;
        if (mnl_socket_bind(*ret, 0, MNL_SOCKET_AUTOPID) < 0)
                return -errno;
        if (spec->before_join) {
                r = spec->before_join(*ret, userdata);
                if (r < 0)
                        return r;
        }
        fd = mnl_socket_get_fd(*ret);
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &spec->rcvbuf, sizeof(spec->rcvbuf)) < 0)
                (void) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &spec->rcvbuf, sizeof(spec->rcvbuf));
        if (group != 0 && mnl_socket_setsockopt(*ret, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) < 0)
                return -errno;
        return 0;
}

int nlgroup_request(struct mnl_socket *nl, struct nlmsghdr *nlh) {
        char buf[MNL_SOCKET_BUFFER_SIZE];
        ssize_t n;

        nlh->nlmsg_flags |= NLM_F_ACK;
        if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
                return -errno;
        /* a netfilter request is handled inside sendmsg(): its answer is there already */
        do
                n = recv(mnl_socket_get_fd(nl), buf, sizeof(buf), MSG_DONTWAIT);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        if (mnl_cb_run(buf, (size_t) n, nlh->nlmsg_seq, mnl_socket_get_portid(nl), NULL, NULL) < 0)
                return -errno;
        return 0;
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        NlGroup *g = userdata;

        for (unsigned i = 0; !g->disabled && (g->reads_per_wakeup == 0 || i < g->reads_per_wakeup); i++) {
                /* MSG_TRUNC: the datagram's real length, to know it was cut */
                ssize_t n = recv(fd, g->buf, g->buffer_size, MSG_DONTWAIT | MSG_TRUNC);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                return 0;
                        if (errno != ENOBUFS)
                                return -errno;  /* nothing else is expected: sd-event turns us off */
                        /* the queue overran and the kernel dropped datagrams: say so, then go on
                         * reading what is left */
                        g->handler(NULL, 0, g->userdata);
                } else if ((size_t) n > g->buffer_size)
                        g->handler(NULL, 0, g->userdata);    /* cut short: the rest is gone */
                else if (n > 0)
                        g->handler(g->buf, (size_t) n, g->userdata);
        }
        return 0;       /* a bounded share of the loop: the rest waits for the next iteration */
}

int nlgroup_set_joined(NlGroup *g, bool joined) {
        unsigned group = g->group;      /* libmnl's option value is not const */

        if (group == 0)
                return -EINVAL;
        if (mnl_socket_setsockopt(g->nl, joined ? NETLINK_ADD_MEMBERSHIP : NETLINK_DROP_MEMBERSHIP, &group,
                                  sizeof(group)) < 0)
                return -errno;
        return 0;
}

void nlgroup_set_enabled(NlGroup *g, bool enabled) {
        g->disabled = !enabled;
        (void) sd_event_source_set_enabled(g->io, enabled ? SD_EVENT_ON : SD_EVENT_OFF);
}

NlGroup *nlgroup_free(NlGroup *g) {
        if (!g)
                return NULL;
        sd_event_source_disable_unref(g->io);
        if (g->nl)
                mnl_socket_close(g->nl);
        free(g->buf);
        free(g);
        return NULL;
}

int nlgroup_new(sd_event *e, const NlGroupSpec *spec, NlGroupHandler handler, void *userdata, NlGroup **ret) {
        _cleanup_(nlgroup_freep) NlGroup *g = NULL;
        int r;

        if (!e || !spec || spec->buffer_size == 0 || !handler || !ret)
                return -EINVAL;
        g = calloc(1, sizeof(*g));
        if (!g)
                return -ENOMEM;
        g->buffer_size = spec->buffer_size;
        g->reads_per_wakeup = spec->reads_per_wakeup;
        g->group = spec->group;
        g->handler = handler;
        g->userdata = userdata;
        g->buf = malloc(spec->buffer_size);
        if (!g->buf)
                return -ENOMEM;

        r = open_socket(spec, userdata, &g->nl);
        if (r < 0)
                return r;
        r = sd_event_add_io(e, &g->io, mnl_socket_get_fd(g->nl), EPOLLIN, on_io, g);
        if (r < 0)
                return r;
        r = sd_event_source_set_priority(g->io, spec->priority);
        if (r < 0)
                return r;
        if (spec->description)
                (void) sd_event_source_set_description(g->io, spec->description);
        *ret = TAKE_PTR(g);
        return 0;
}

