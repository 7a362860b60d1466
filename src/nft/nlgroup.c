/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* nlgroup.c — see nlgroup.h. */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <sys/socket.h>

#include "nlgroup.h"

int nlgroup_open(unsigned group, int rcvbuf, int (*before_join)(struct mnl_socket *nl, void *userdata),
                 void *userdata, struct mnl_socket **ret) {
        int fd, r;

        *ret = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (!*ret)
                return -errno;
        if (mnl_socket_bind(*ret, 0, MNL_SOCKET_AUTOPID) < 0)
                return -errno;
        if (before_join) {
                r = before_join(*ret, userdata);
                if (r < 0)
                        return r;
        }
        fd = mnl_socket_get_fd(*ret);
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
                (void) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
        if (mnl_socket_setsockopt(*ret, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) < 0)
                return -errno;
        return 0;
}
