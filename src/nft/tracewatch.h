/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tracewatch.h — learns, from the kernel's nftables trace events (NFNLGRP_NFTRACE, on a netlink
 * socket of its own, attached to sd-event), when another table drops an exempted IKE datagram
 * that bfed's trace chains marked (compile.h, "Truth on the wire"). It counts those drops per
 * (table, chain) and reports each chain's at most once a second.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "macro.h"
#include "trace.h"

typedef struct sd_event sd_event;
typedef struct NftTraceWatch NftTraceWatch;

/* Counted chains; drops in further ones count in one more entry, named "" and "". */
#define NFT_TRACE_COUNTS_MAX 64
/* Reports per chain: at most one in this long. */
#define NFT_TRACE_REPORT_USEC (1000 * 1000ULL)

typedef enum NftTraceWatchEvent {
        NFT_TRACE_WATCH_DROP,           /* an exempted datagram was dropped: @drop says where */
        NFT_TRACE_WATCH_LOST,           /* the socket overran: events were lost (@lost so far) */
} NftTraceWatchEvent;

/* One report: the drop that made it, and the chain's count. */
typedef struct NftTraceDrop {
        const char *table;              /* "inet filter" */
        const char *chain;
        const char *verdict;            /* "rule handle 3: drop", "policy drop" */
        const char *packet;             /* "ipv4 udp 10.0.0.2:500 -> 10.0.0.1:500 in" */
        uint64_t count;                 /* drops of exempted datagrams in this chain so far */
        uint64_t unreported;            /* of them, those since the last report before this one */
} NftTraceDrop;

/* A counted chain, for the ExemptedDrops property. */
typedef struct NftTraceCount {
        char table[NFT_TRACE_TABLE_TEXT_MAX];   /* "" for the entry of the chains beyond the counted */
        char chain[NFT_TRACE_NAME_MAX];
        uint64_t count;
        uint64_t unreported;
        uint64_t last_report_usec;
        bool reported;
} NftTraceCount;

typedef void (*NftTraceWatchCallback)(NftTraceWatch *w, NftTraceWatchEvent event, const NftTraceDrop *drop,
                                      void *userdata);

/**
 * nft_trace_watch_new() - watch the trace events of our table inet @table's trace chains.
 * @e: the event loop; NULL: no socket (tests and the fuzzer feed it with nft_trace_watch_feed())
 * @cb: called from the event loop for each report, and when events were lost
 *
 * Return: 0, or a negative errno (the socket, the group, the event source).
 */
int nft_trace_watch_new(sd_event *e, const char *table, NftTraceWatchCallback cb, void *userdata,
                        NftTraceWatch **ret);
NftTraceWatch *nft_trace_watch_free(NftTraceWatch *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(NftTraceWatch *, nft_trace_watch_free);

/* One datagram of trace events, read at @now_usec (CLOCK_MONOTONIC): what the socket gets. */
void nft_trace_watch_feed(NftTraceWatch *w, const void *buf, size_t len, uint64_t now_usec);

/* The counted chains, in the order of their first drop; *@ret_n of them. */
const NftTraceCount *nft_trace_watch_counts(const NftTraceWatch *w, size_t *ret_n);

/* Events lost to overruns (at least one per overrun), and messages that did not parse. */
uint64_t nft_trace_watch_lost(const NftTraceWatch *w);
uint64_t nft_trace_watch_malformed(const NftTraceWatch *w);
