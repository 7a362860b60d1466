/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nlgroup.h — a reader of one netfilter netlink multicast group on sd-event: a non-blocking
 * socket with a receive queue of a given size and a buffer for one datagram, which hands each
 * datagram it reads to a handler. The nftables event monitor (monitor.c) and the trace watch
 * (tracewatch.c) each have one. The net events' nflog socket (netevents.c) is one without a
 * multicast group: it binds its log group with a request (nlgroup_request()) before it reads.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "macro.h"

struct mnl_socket;
struct nlmsghdr;

typedef struct NlGroup NlGroup;

/* Called with each datagram read (@buf, @len > 0), or with (NULL, 0) when datagrams were lost:
 * the queue overran (ENOBUFS) or one did not fit the buffer. */
typedef void (*NlGroupHandler)(const void *buf, size_t len, void *userdata);

typedef struct NlGroupSpec {
        unsigned group;                 /* NFNLGRP_*; 0: none (before_join binds what it reads) */
        int rcvbuf;                     /* the socket's queue, bytes (best effort past rmem_max) */
        size_t buffer_size;             /* the largest datagram read whole */
        unsigned reads_per_wakeup;      /* 0: until the queue is empty */
        int64_t priority;               /* of the event source */
        const char *description;        /* of the event source */
        /* if not NULL, runs on the bound socket before it joins the group (a socket filter
         * must be in place before the first event) */
        int (*before_join)(struct mnl_socket *nl, void *userdata);
} NlGroupSpec;

/* Sends the request @nlh (with NLM_F_ACK) on @nl and reads its answer: 0 when the kernel
 * acknowledged it, its negative errno when it refused it, or the socket's. For before_join. */
int nlgroup_request(struct mnl_socket *nl, struct nlmsghdr *nlh);

/* Return: 0 or a negative errno. */
int nlgroup_new(sd_event *e, const NlGroupSpec *spec, NlGroupHandler handler, void *userdata, NlGroup **ret);
NlGroup *nlgroup_free(NlGroup *g);
/* Leaves the group (the kernel sends it nothing more; what is queued stays) or joins it again.
 * Return: 0 or a negative errno (-EINVAL for a socket without a group). */
int nlgroup_set_joined(NlGroup *g, bool joined);
/* Stops reading (the kernel queues, then drops) or reads again; a handler may stop it too. */
void nlgroup_set_enabled(NlGroup *g, bool enabled);
DEFINE_TRIVIAL_CLEANUP_FUNC(NlGroup *, nlgroup_free);
