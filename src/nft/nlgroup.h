/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nlgroup.h — a netfilter netlink socket that listens to one multicast group, non-blocking,
 * with a receive queue of a given size: what the nftables event monitor (monitor.c) and the
 * trace watch (tracewatch.c) each read on sd-event.
 */
#pragma once

struct mnl_socket;

/* Opens and binds the socket, sets its queue to @rcvbuf bytes (best effort: past
 * rmem_max only with CAP_NET_ADMIN), then joins @group; @before_join, if not NULL, runs on the
 * socket first (a socket filter must be in place before the first event). Return: 0 or a
 * negative errno; *@ret is set either way, to be closed by the caller (NULL if none). */
int nlgroup_open(unsigned group, int rcvbuf, int (*before_join)(struct mnl_socket *nl, void *userdata),
                 void *userdata, struct mnl_socket **ret);
