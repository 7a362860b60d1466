/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-trace.c — libFuzzer target: nftables trace events as the kernel sends them to
 * NFNLGRP_NFTRACE (a buffer of netlink messages), parsed one by one (nft_trace_parse()) and fed
 * to the trace watch's correlation (nft_trace_watch_feed(), no socket) three times, at 0, 0.5 s
 * and 3 s. Every text the parser or a report yields must be valid UTF-8, within its bound and
 * free of control characters; the counted chains stay within theirs. The input is copied to an
 * aligned buffer: the parser reads nlmsghdr and nlattr in place, as it does a socket's buffer.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-util.h"
#include "nlmsg.h"
#include "trace.h"
#include "tracewatch.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_text(const char *what, const char *s, size_t size) {
        size_t n = strnlen(s, size);

        if (n >= size || !utf8_is_valid(s)) {
                fprintf(stderr, "fuzz-trace: %s is not valid text within %zu bytes\n", what, size);
                abort();
        }
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f) {
                        fprintf(stderr, "fuzz-trace: %s has a control character\n", what);
                        abort();
                }
}

static void on_report(NftTraceWatch *w, NftTraceWatchEvent event, const NftTraceDrop *d, void *userdata) {
        if (event != NFT_TRACE_WATCH_DROP)
                abort();        /* only a socket loses events */
        check_text("a report's table", d->table, NFT_TRACE_TABLE_TEXT_MAX);
        check_text("a report's chain", d->chain, NFT_TRACE_NAME_MAX);
        check_text("a report's verdict", d->verdict, NFT_TRACE_VERDICT_TEXT_MAX);
        check_text("a report's packet", d->packet, NFT_TRACE_PACKET_TEXT_MAX);
        if (d->count == 0 || d->unreported >= d->count)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const struct nlmsghdr *nlh;
        const NftTraceCount *counts;
        NftTraceWatch *w = NULL;
        size_t off = 0, n;
        void *buf;

        buf = fuzz_aligned_copy(data, size);
        if (!buf)
                return 0;

        while ((nlh = nlmsg_next_safe(buf, size, &off))) {
                NftTrace t;

                if (nft_trace_parse(nlh, &t) < 0)
                        continue;
                check_text("the table's name", t.table_name, sizeof(t.table_name));
                check_text("the table", t.table, sizeof(t.table));
                check_text("the chain", t.chain, sizeof(t.chain));
                check_text("the verdict", t.verdict_text, sizeof(t.verdict_text));
                check_text("the packet", t.packet_text, sizeof(t.packet_text));
                if (t.has_packet != (t.packet.family != 0) || t.ct_direction < -1 || t.ct_direction > 1)
                        abort();
        }

        if (nft_trace_watch_new(NULL, "bfed", on_report, NULL, &w) < 0)
                abort();
        nft_trace_watch_feed(w, buf, size, 0);
        nft_trace_watch_feed(w, buf, size, 500 * 1000);
        nft_trace_watch_feed(w, buf, size, 3 * 1000 * 1000);
        counts = nft_trace_watch_counts(w, &n);
        if (n > NFT_TRACE_COUNTS_MAX + 1)
                abort();
        for (size_t i = 0; i < n; i++) {
                check_text("a counted table", counts[i].table, sizeof(counts[i].table));
                check_text("a counted chain", counts[i].chain, sizeof(counts[i].chain));
        }
        nft_trace_watch_free(w);
        free(buf);
        return 0;
}
