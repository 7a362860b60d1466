/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tracewatch.c — see tracewatch.h.
 *
 * A socket of its own rather than monitor.c's: the monitor's events are few and each one
 * matters (an overrun there makes bfed read its whole table back), while trace events can be
 * many — every tracer on the host shares the group, an admin's `meta nftrace set 1` for all
 * traffic included — and losing some costs only a sample. So this socket has a small queue,
 * counts what it loses, reads at most TRACE_READS_PER_WAKEUP datagrams per loop iteration, at a
 * priority below the bus's, and never makes the daemon do more than parse and count.
 *
 * The correlation, per packet (the kernel's trace id):
 *  - the event of chain ike_trace in our table opens it, with the headers the kernel copies
 *    into it (ike_trace is where the flag is set, so it is the first event of the packet);
 *  - later events that carry a conntrack direction record it;
 *  - an event of another table with a drop verdict, or a drop policy, closes it: if the
 *    datagram is one the exemptions let through, it is counted and, at most once a second per
 *    chain, reported. A datagram matched by its local port (inbound destination port, outbound
 *    source port) always is; one matched by its remote port only when conntrack says this host
 *    started the flow (reply inbound, original outbound) — so a drop before conntrack (in a raw
 *    chain) of a remote-port datagram is not reported: nobody can tell whether it was exempt.
 * Events of packets that were not opened (another tracer's) are parsed and ignored. At most
 * TRACE_PACKETS_MAX packets are open; a new one takes the oldest's place, and one is forgotten
 * TRACE_PACKET_TTL_USEC after it opened (the kernel reuses ids).
 */
#include <errno.h>
#include <netinet/in.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>
#include <time.h>

#include "compile.h"
#include "macro.h"
#include "nlgroup.h"
#include "nlmsg.h"
#include "tracewatch.h"

#define TRACE_PACKETS_MAX 64
#define TRACE_PACKET_TTL_USEC (2 * 1000 * 1000ULL)
#define TRACE_READS_PER_WAKEUP 64
/* a trace event is a few hundred bytes, one per datagram; the queue holds about a thousand */
#define TRACE_BUFFER_SIZE (16 * 1024)
#define TRACE_RCVBUF (1024 * 1024)

typedef struct TracedPacket {
        bool open;
        uint32_t id;
        uint64_t opened_usec;
        NftTracePacket packet;
        int ct_direction;
} TracedPacket;

struct NftTraceWatch {
        char table[NFT_TABLE_NAME_MAX];
        NftTraceWatchCallback cb;
        void *userdata;
        NlGroup *group;         /* NULL when fed by hand (tests, the fuzzer) */

        TracedPacket packets[TRACE_PACKETS_MAX];
        size_t next_packet;             /* the ring's oldest slot */
        NftTraceCount counts[NFT_TRACE_COUNTS_MAX + 1];  /* the last: every chain beyond the others */
        size_t n_counts;
        uint64_t lost, malformed;
};

static uint64_t now_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

static TracedPacket *packet_find(NftTraceWatch *w, uint32_t id, uint64_t now) {
        for (size_t i = 0; i < TRACE_PACKETS_MAX; i++) {
                TracedPacket *p = &w->packets[i];

                if (p->open && p->id == id) {
                        if (now - p->opened_usec <= TRACE_PACKET_TTL_USEC)
                                return p;
                        p->open = false;
                }
        }
        return NULL;
}

static TracedPacket *packet_open(NftTraceWatch *w, uint32_t id, uint64_t now) {
        TracedPacket *p = packet_find(w, id, now);

        if (!p) {
                p = &w->packets[w->next_packet];
                w->next_packet = (w->next_packet + 1) % TRACE_PACKETS_MAX;
        }
        *p = (TracedPacket) { .open = true, .id = id, .opened_usec = now, .ct_direction = -1 };
        return p;
}

/* Whether the exemptions let @p through (see the top of the file). */
static bool packet_exempt(const TracedPacket *p) {
        const NftTracePacket *k = &p->packet;
        bool in = k->direction == NFT_TRACE_DIR_IN, out = k->direction == NFT_TRACE_DIR_OUT;

        if (!k->has_ports || (!in && !out))
                return false;
        if (nft_is_ike_port(k->family, in ? k->dport : k->sport))
                return true;
        return nft_is_ike_port(k->family, in ? k->sport : k->dport) && p->ct_direction == (in ? 1 : 0);
}

static NftTraceCount *count_of(NftTraceWatch *w, const NftTrace *t) {
        NftTraceCount *c;

        for (size_t i = 0; i < w->n_counts && i < NFT_TRACE_COUNTS_MAX; i++)
                if (streq(w->counts[i].table, t->table) && streq(w->counts[i].chain, t->chain))
                        return &w->counts[i];
        if (w->n_counts >= NFT_TRACE_COUNTS_MAX) {
                /* every chain beyond: the last entry, named "" and "" */
                w->n_counts = NFT_TRACE_COUNTS_MAX + 1;
                return &w->counts[NFT_TRACE_COUNTS_MAX];
        }
        c = &w->counts[w->n_counts++];
        strcpy(c->table, t->table);
        strcpy(c->chain, t->chain);
        return c;
}

static void count_drop(NftTraceWatch *w, const NftTrace *t, const TracedPacket *p, uint64_t now) {
        NftTraceCount *c = count_of(w, t);
        char packet[NFT_TRACE_PACKET_TEXT_MAX];
        NftTraceDrop d;

        c->count++;
        if (c->reported && now - c->last_report_usec < NFT_TRACE_REPORT_USEC) {
                c->unreported++;
                return;
        }
        nft_trace_packet_text(&p->packet, packet);
        d = (NftTraceDrop) { .table = t->table, .chain = t->chain, .verdict = t->verdict_text, .packet = packet,
                             .count = c->count, .unreported = c->unreported };
        c->reported = true;
        c->last_report_usec = now;
        c->unreported = 0;
        w->cb(w, NFT_TRACE_WATCH_DROP, &d, w->userdata);
}

static void handle(NftTraceWatch *w, const NftTrace *t, uint64_t now) {
        bool ours = t->table_family == NFPROTO_INET && streq(t->table_name, w->table);
        TracedPacket *p;

        if (ours && streq(t->chain, NFT_TRACE_CHAIN)) {
                p = packet_find(w, t->id, now);
                if (!p || t->has_packet)        /* a new packet, or the id again for another */
                        p = packet_open(w, t->id, now);
        } else
                p = packet_find(w, t->id, now);
        if (!p)
                return;         /* not a packet of ours */

        if (t->has_packet && p->packet.family == 0) {
                p->packet = t->packet;
                /* our chains trace UDP only; an IPv6 extension header hides that in the header */
                p->packet.l4proto = IPPROTO_UDP;
        }
        if (t->ct_direction >= 0)
                p->ct_direction = t->ct_direction;
        if (!t->drop)
                return;
        p->open = false;        /* a drop is the packet's last event; bfed's own drops are §4's */
        if (!ours && packet_exempt(p))
                count_drop(w, t, p, now);
}

void nft_trace_watch_feed(NftTraceWatch *w, const void *buf, size_t len, uint64_t now) {
        const struct nlmsghdr *nlh;
        size_t off = 0;

        while ((nlh = nlmsg_next_safe(buf, len, &off))) {
                NftTrace t;
                int r = nft_trace_parse(nlh, &t);

                if (r == -EBADMSG)
                        w->malformed++;
                if (r >= 0)
                        handle(w, &t, now);
        }
        if (off < len)
                w->malformed++; /* bytes that are no message */
}

static void on_datagram(const void *buf, size_t len, void *userdata) {
        NftTraceWatch *w = userdata;

        if (buf) {
                nft_trace_watch_feed(w, buf, len, now_usec());
                return;
        }
        w->lost++;
        w->cb(w, NFT_TRACE_WATCH_LOST, NULL, w->userdata);
}

NftTraceWatch *nft_trace_watch_free(NftTraceWatch *w) {
        if (!w)
                return NULL;
        nlgroup_free(w->group);
        free(w);
        return NULL;
}

int nft_trace_watch_new(sd_event *e, const char *table, NftTraceWatchCallback cb, void *userdata,
                        NftTraceWatch **ret) {
        _cleanup_(nft_trace_watch_freep) NftTraceWatch *w = NULL;
        int r;

        if (!table || strlen(table) >= NFT_TABLE_NAME_MAX || !cb || !ret)
                return -EINVAL;
        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        strcpy(w->table, table);
        w->cb = cb;
        w->userdata = userdata;
        if (!e) {
                *ret = TAKE_PTR(w);
                return 0;
        }

        r = nlgroup_new(e, &(NlGroupSpec) {
                                .group = NFNLGRP_NFTRACE,
                                .rcvbuf = TRACE_RCVBUF,         /* bounded: what does not fit is lost and counted */
                                .buffer_size = TRACE_BUFFER_SIZE,
                                .reads_per_wakeup = TRACE_READS_PER_WAKEUP,
                                .priority = SD_EVENT_PRIORITY_NORMAL + 10,
                                .description = "nft-trace",
                        }, on_datagram, w, &w->group);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(w);
        return 0;
}

const NftTraceCount *nft_trace_watch_counts(const NftTraceWatch *w, size_t *ret_n) {
        *ret_n = w->n_counts;
        return w->counts;
}

uint64_t nft_trace_watch_lost(const NftTraceWatch *w) {
        return w->lost;
}

uint64_t nft_trace_watch_malformed(const NftTraceWatch *w) {
        return w->malformed;
}
