/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * manager-trace.c — see manager-trace.h. The watch reports each chain at most once a second,
 * so the log and the signal are rate-limited alike; a lost window of trace events is logged at
 * most once a minute.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "batch.h"
#include "compile.h"
#include "log.h"
#include "macro.h"
#include "manager-trace.h"
#include "manager.h"
#include "tracewatch.h"
#include "transport.h"

#define LOST_LOG_USEC (60 * 1000 * 1000ULL)

static uint64_t now_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

static void on_trace(NftTraceWatch *w, NftTraceWatchEvent event, const NftTraceDrop *d, void *userdata) {
        static uint64_t lost_logged;
        Manager *m = userdata;

        if (event == NFT_TRACE_WATCH_LOST) {
                if (lost_logged == 0 || now_usec() - lost_logged >= LOST_LOG_USEC) {
                        lost_logged = now_usec();
                        log_notice("Lost nftables trace events (the socket overran, %" PRIu64 " times so far): drops "
                                   "of exempted IKE datagrams in that window are not counted.",
                                   nft_trace_watch_lost(w));
                }
                return;
        }
        if (d->unreported > 0)
                log_warning("Table %s, chain %s dropped an exempted IKE datagram (%s): %s; %" PRIu64 " more since "
                            "the last report, %" PRIu64 " in all. bfed's exemptions cannot override another "
                            "table's drop: give IKE an exception there (UDP 500 and 4500; over IPv6, UDP 500).",
                            d->table, d->chain, d->verdict, d->packet, d->unreported, d->count);
        else
                log_warning("Table %s, chain %s dropped an exempted IKE datagram (%s): %s. bfed's exemptions "
                            "cannot override another table's drop: give IKE an exception there (UDP 500 and "
                            "4500; over IPv6, UDP 500).", d->table, d->chain, d->verdict, d->packet);
        if (m->hooks && m->hooks->exempted_dropped)
                m->hooks->exempted_dropped(m, d, m->hooks_userdata);
}

/* A scratch table with the trace chains, created and deleted in one batch. */
static int probe(Manager *m, char **ret_why) {
        _cleanup_(nft_batch_freep) NftBatch *b = NULL;
        char name[NFT_TABLE_NAME_MAX];
        int r;

        (void) snprintf(name, sizeof(name), "bfed-trace-probe-%u", nft_transport_portid(m->nft));
        r = nft_batch_new(nft_transport_seq(m->nft), &b);
        if (r >= 0)
                r = nft_compile_trace_probe(name, b);
        if (r >= 0)
                r = nft_transport_commit(m->nft, b, ret_why);
        if (b)
                nft_batch_finish(b, r >= 0);
        return r;
}

void manager_trace_setup(Manager *m) {
        _cleanup_(freep) char *why = NULL;
        int r;

        r = probe(m, &why);
        if (r < 0) {
                log_warning_errno(r, "The kernel refuses the chains that trace exempted IKE datagrams (%s): "
                                  "running without them, drops of exempted datagrams by other tables go unnoticed.",
                                  why ?: bfe_strerror(r));
                m->config.nft.trace = false;
                return;
        }
        r = nft_trace_watch_new(m->event, m->config.nft.table, on_trace, m, &m->trace);
        if (r < 0) {
                log_warning_errno(r, "Failed to subscribe to nftables trace events, running without the trace "
                                  "chains: drops of exempted IKE datagrams by other tables go unnoticed: %m");
                m->config.nft.trace = false;
        }
}
