/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-trace.c — the trace event parser (trace.c) and the watch's correlation (tracewatch.c,
 * fed without a socket): on the kernel's own events, captured into the fuzz corpus by
 * tests/fuzz/make-trace-seeds, and on made-up ones for what the kernel rarely sends — a reply
 * to a flow this host started, a forwarded datagram, another tracer's packets, hostile names,
 * more chains and packets than the watch keeps.
 */
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* the made-up events leave trailing fields out on purpose */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include "compile.h"
#include "macro.h"
#include "trace.h"
#include "tracewatch.h"
#include "utf8.h"

#define CORPUS GOLDEN_DIR "/../fuzz/corpus/trace/"
#define SEC (1000 * 1000ULL)

static void *read_file(const char *name, size_t *ret_len) {
        char path[512];
        FILE *f;
        void *buf = aligned_alloc(16, 1 << 16);

        snprintf(path, sizeof(path), CORPUS "%s", name);
        f = fopen(path, "re");
        if (!f)
                fail_msg("missing %s", path);
        *ret_len = fread(buf, 1, 1 << 16, f);
        fclose(f);
        return buf;
}

/* ---- reports ------------------------------------------------------------------------------- */

typedef struct Reports {
        size_t n;
        char table[8][NFT_TRACE_TABLE_TEXT_MAX], chain[8][NFT_TRACE_NAME_MAX];
        char verdict[8][NFT_TRACE_VERDICT_TEXT_MAX], packet[8][NFT_TRACE_PACKET_TEXT_MAX];
        uint64_t count[8], unreported[8];
} Reports;

static void on_report(NftTraceWatch *w, NftTraceWatchEvent event, const NftTraceDrop *d, void *userdata) {
        Reports *r = userdata;
        size_t i = r->n < 8 ? r->n : 7;

        assert_int_equal(event, NFT_TRACE_WATCH_DROP);
        strcpy(r->table[i], d->table);
        strcpy(r->chain[i], d->chain);
        strcpy(r->verdict[i], d->verdict);
        strcpy(r->packet[i], d->packet);
        r->count[i] = d->count;
        r->unreported[i] = d->unreported;
        r->n++;
}

static NftTraceWatch *watch(Reports *r) {
        NftTraceWatch *w;

        *r = (Reports) {};
        assert_int_equal(nft_trace_watch_new(NULL, "bfed", on_report, r, &w), 0);
        return w;
}

static void feed_file(NftTraceWatch *w, const char *name, uint64_t now) {
        size_t len;
        void *buf = read_file(name, &len);

        nft_trace_watch_feed(w, buf, len, now);
        free(buf);
}

/* ---- the kernel's own events ---------------------------------------------------------------- */

static void test_parse_kernel_events(void **state) {
        size_t len;
        void *buf;
        NftTrace t;

        /* the first event of a datagram: our chain ike_trace, with the headers */
        buf = read_file("input-drop-trace-1", &len);
        assert_int_equal(nft_trace_parse(buf, &t), 0);
        assert_string_equal(t.table, "inet bfed");
        assert_string_equal(t.chain, NFT_TRACE_CHAIN);
        assert_int_equal(t.type, NFT_TRACETYPE_RULE);
        assert_true(t.has_packet);
        assert_string_equal(t.packet_text, "ipv4 udp 10.203.0.2:500 -> 10.203.0.1:500 in");
        assert_int_equal(t.ct_direction, -1);   /* conntrack comes later */
        assert_false(t.drop);
        free(buf);

        /* the foreign drop, with its conntrack direction */
        buf = read_file("input-drop-trace-12", &len);
        assert_int_equal(nft_trace_parse(buf, &t), 0);
        assert_string_equal(t.table, "inet foreign");
        assert_string_equal(t.chain, "input");
        assert_true(t.drop);
        assert_true(strncmp(t.verdict_text, "rule handle ", 12) == 0);
        assert_non_null(strstr(t.verdict_text, ": drop"));
        assert_int_equal(t.ct_direction, 0);
        free(buf);

        /* a policy */
        buf = read_file("input-drop-trace-3", &len);
        assert_int_equal(nft_trace_parse(buf, &t), 0);
        assert_string_equal(t.verdict_text, "policy accept");
        assert_false(t.drop);
        free(buf);
}

static void test_watch_kernel_events(void **state) {
        static const struct {
                const char *file, *table, *chain, *verdict, *packet;
        } cases[] = {
                { "input-drop-all", "inet foreign", "input", ": drop", "ipv4 udp 10.203.0.2:500 -> 10.203.0.1:500 in" },
                { "raw-drop-all", "ip rawt", "pre", ": drop", "ipv4 udp 10.203.0.2:4500 -> 10.203.0.1:4500 in" },
                { "ip6-policy-all", "ip6 f6", "input", "policy drop",
                  "ipv6 udp [fd00:bfed:3::2]:500 -> [fd00:bfed:3::1]:500 in" },
                { "output-drop-all", "inet out", "output", ": drop", "ipv4 udp 10.203.0.1:500 -> 10.203.0.2:500 out" },
                { "accepted-all", NULL, NULL, NULL, NULL },
        };
        Reports r;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                NftTraceWatch *w = watch(&r);
                const NftTraceCount *c;
                size_t n;

                feed_file(w, cases[i].file, 0);
                c = nft_trace_watch_counts(w, &n);
                if (!cases[i].table) {
                        assert_int_equal(r.n, 0);
                        assert_int_equal(n, 0);
                } else {
                        assert_int_equal(r.n, 1);
                        assert_string_equal(r.table[0], cases[i].table);
                        assert_string_equal(r.chain[0], cases[i].chain);
                        assert_non_null(strstr(r.verdict[0], cases[i].verdict));
                        assert_string_equal(r.packet[0], cases[i].packet);
                        assert_int_equal(n, 1);
                        assert_int_equal(c[0].count, 1);
                }
                assert_int_equal(nft_trace_watch_malformed(w), 0);
                nft_trace_watch_free(w);
        }
}

/* A chain reports at most once a second; what it drops in between is counted. */
static void test_rate_limit(void **state) {
        NftTraceWatch *w;
        const NftTraceCount *c;
        Reports r;
        size_t n;

        w = watch(&r);
        feed_file(w, "input-drop-all", 0);
        feed_file(w, "input-drop-all", SEC / 2);
        feed_file(w, "input-drop-all", SEC - 1);
        assert_int_equal(r.n, 1);
        feed_file(w, "raw-drop-all", SEC - 1);  /* another chain has its own second */
        assert_int_equal(r.n, 2);
        feed_file(w, "input-drop-all", SEC);
        assert_int_equal(r.n, 3);
        assert_string_equal(r.chain[2], "input");
        assert_int_equal(r.count[2], 4);
        assert_int_equal(r.unreported[2], 2);
        c = nft_trace_watch_counts(w, &n);
        assert_int_equal(n, 2);
        assert_string_equal(c[0].table, "inet foreign");
        assert_int_equal(c[0].count, 4);
        assert_string_equal(c[1].table, "ip rawt");
        assert_int_equal(c[1].count, 1);
        nft_trace_watch_free(w);
}

/* ---- made-up events ------------------------------------------------------------------------- */

typedef struct Ev {
        uint32_t id;
        uint8_t family;                 /* the table's */
        const char *table, *chain;
        size_t table_len;               /* 0: strlen + its NUL; else these bytes, no NUL added */
        uint32_t type;
        int32_t verdict;                /* for rules */
        int policy;                     /* for policies */
        int ip;                         /* 4, 6, or 0: no headers */
        uint16_t sport, dport;
        bool iif, oif;
        int ct_direction;               /* -1: none */
} Ev;

static size_t put_event(char *buf, const Ev *e) {
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        struct nfgenmsg *nfg;

        nlh->nlmsg_type = NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_TRACE;
        nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
        nfg->nfgen_family = e->family ?: NFPROTO_INET;
        mnl_attr_put_u32(nlh, NFTA_TRACE_ID, htonl(e->id));
        if (e->table_len)
                mnl_attr_put(nlh, NFTA_TRACE_TABLE, e->table_len, e->table);
        else
                mnl_attr_put_strz(nlh, NFTA_TRACE_TABLE, e->table);
        mnl_attr_put_strz(nlh, NFTA_TRACE_CHAIN, e->chain);
        mnl_attr_put_u32(nlh, NFTA_TRACE_TYPE, htonl(e->type));
        if (e->type == NFT_TRACETYPE_RULE) {
                struct nlattr *v = mnl_attr_nest_start(nlh, NFTA_TRACE_VERDICT);
                mnl_attr_put_u32(nlh, NFTA_VERDICT_CODE, htonl((uint32_t) e->verdict));
                mnl_attr_nest_end(nlh, v);
        } else if (e->type == NFT_TRACETYPE_POLICY)
                mnl_attr_put_u32(nlh, NFTA_TRACE_POLICY, htonl((uint32_t) e->policy));
        if (e->ip == 4) {
                uint8_t h[20] = { 0x45, [9] = IPPROTO_UDP, [12] = 192, 0, 2, 2, 192, 0, 2, 1 };
                mnl_attr_put(nlh, NFTA_TRACE_NETWORK_HEADER, sizeof(h), h);
        } else if (e->ip == 6) {
                uint8_t h[40] = { 0x60, [6] = IPPROTO_UDP, [8] = 0x20, 0x01, 0x0d, 0xb8, [23] = 2,
                                  [24] = 0x20, 0x01, 0x0d, 0xb8, [39] = 1 };
                mnl_attr_put(nlh, NFTA_TRACE_NETWORK_HEADER, sizeof(h), h);
        }
        if (e->ip) {
                uint8_t t[8] = { e->sport >> 8, e->sport & 0xff, e->dport >> 8, e->dport & 0xff };
                mnl_attr_put(nlh, NFTA_TRACE_TRANSPORT_HEADER, sizeof(t), t);
        }
        if (e->iif)
                mnl_attr_put_u32(nlh, NFTA_TRACE_IIF, htonl(2));
        if (e->oif)
                mnl_attr_put_u32(nlh, NFTA_TRACE_OIF, htonl(3));
        if (e->ct_direction >= 0)
                mnl_attr_put_u8(nlh, NFTA_TRACE_PAD + 2, (uint8_t) e->ct_direction); /* NFTA_TRACE_CT_DIRECTION */
        return nlh->nlmsg_len;
}

/* Our chain marks packet @id: in (to this host) or out, with these ports. */
static Ev mark(uint32_t id, int ip, uint16_t sport, uint16_t dport, bool in) {
        return (Ev) { .id = id, .table = "bfed", .chain = NFT_TRACE_CHAIN, .type = NFT_TRACETYPE_RULE,
                      .verdict = NFT_CONTINUE, .ip = ip, .sport = sport, .dport = dport, .iif = in, .oif = !in,
                      .ct_direction = -1 };
}

static Ev drop(uint32_t id, const char *chain, int ct_direction) {
        return (Ev) { .id = id, .family = NFPROTO_IPV4, .table = "filter", .chain = chain,
                      .type = NFT_TRACETYPE_RULE, .verdict = NF_DROP, .ct_direction = ct_direction };
}

static void feed(NftTraceWatch *w, uint64_t now, size_t n, const Ev *evs) {
        char *buf = aligned_alloc(16, 1 << 16);
        size_t len = 0;

        for (size_t i = 0; i < n; i++)
                len += put_event(buf + len, &evs[i]);
        nft_trace_watch_feed(w, buf, len, now);
        free(buf);
}

#define FEED(w, now, ...) \
        feed((w), (now), sizeof((Ev[]) { __VA_ARGS__ }) / sizeof(Ev), (Ev[]) { __VA_ARGS__ })

static void test_which_datagrams(void **state) {
        NftTraceWatch *w;
        Reports r;

        w = watch(&r);
        /* the remote port: exempt only in a flow this host started (a reply, on the way in) */
        FEED(w, 0, mark(1, 4, 500, 40000, true), drop(1, "input", 1));
        assert_int_equal(r.n, 1);
        assert_string_equal(r.table[0], "ip filter");
        assert_string_equal(r.verdict[0], "drop");
        assert_string_equal(r.packet[0], "ipv4 udp 192.0.2.2:500 -> 192.0.2.1:40000 in");
        FEED(w, 2 * SEC, mark(2, 4, 500, 40000, true), drop(2, "input", 0));   /* a new flow from 500 */
        FEED(w, 4 * SEC, mark(3, 4, 500, 40000, true), drop(3, "raw", -1));    /* before conntrack */
        assert_int_equal(r.n, 1);
        /* … the original direction, on the way out */
        FEED(w, 6 * SEC, mark(4, 6, 40000, 500, false), drop(4, "output", 0));
        assert_int_equal(r.n, 2);
        assert_string_equal(r.packet[1], "ipv6 udp [2001:db8::2]:40000 -> [2001:db8::1]:500 out");
        /* IPv6 4500 is not exempt; a forwarded datagram neither; nor a packet we did not mark */
        FEED(w, 8 * SEC, mark(5, 6, 4500, 4500, true), drop(5, "input", -1));
        FEED(w, 10 * SEC, (Ev) { .id = 6, .table = "bfed", .chain = NFT_TRACE_CHAIN, .type = NFT_TRACETYPE_RULE,
                                 .verdict = NFT_CONTINUE, .ip = 4, .sport = 500, .dport = 500, .iif = true,
                                 .oif = true, .ct_direction = -1 },
             drop(6, "forward", -1));
        FEED(w, 12 * SEC, drop(7, "input", -1));
        /* our own table's drops are not another table's */
        FEED(w, 14 * SEC, mark(8, 4, 500, 500, true),
             (Ev) { .id = 8, .table = "bfed", .chain = "x", .type = NFT_TRACETYPE_RULE, .verdict = NF_DROP,
                    .ct_direction = -1 });
        assert_int_equal(r.n, 2);
        /* a policy drop; and a drop that carries an errno in its upper bits is a drop */
        FEED(w, 16 * SEC, mark(9, 4, 4500, 4500, true),
             (Ev) { .id = 9, .family = NFPROTO_INET, .table = "fw", .chain = "in", .type = NFT_TRACETYPE_POLICY,
                    .policy = NF_DROP, .ct_direction = -1 });
        FEED(w, 18 * SEC, mark(10, 4, 500, 500, true),
             (Ev) { .id = 10, .family = NFPROTO_IPV4, .table = "t", .chain = "c", .type = NFT_TRACETYPE_RULE,
                    .verdict = (int32_t) (1u << 16 | NF_DROP), .ct_direction = -1 });
        assert_int_equal(r.n, 4);
        assert_string_equal(r.verdict[2], "policy drop");
        assert_string_equal(r.table[2], "inet fw");
        assert_string_equal(r.verdict[3], "drop");
        nft_trace_watch_free(w);
}

static void test_bounds(void **state) {
        NftTraceWatch *w;
        const NftTraceCount *c;
        char chain[16];
        Reports r;
        size_t n;

        /* more chains than are counted: the ones beyond share the entry "" "" */
        w = watch(&r);
        for (uint32_t i = 0; i < NFT_TRACE_COUNTS_MAX + 6; i++) {
                snprintf(chain, sizeof(chain), "c%u", i);
                FEED(w, 0, mark(i, 4, 500, 500, true), drop(i, chain, -1));
        }
        c = nft_trace_watch_counts(w, &n);
        assert_int_equal(n, NFT_TRACE_COUNTS_MAX + 1);
        assert_string_equal(c[0].chain, "c0");
        assert_string_equal(c[NFT_TRACE_COUNTS_MAX].table, "");
        assert_string_equal(c[NFT_TRACE_COUNTS_MAX].chain, "");
        assert_int_equal(c[NFT_TRACE_COUNTS_MAX].count, 6);
        assert_int_equal(r.n, NFT_TRACE_COUNTS_MAX + 1);      /* the shared entry reports once a second too */
        nft_trace_watch_free(w);

        /* more open packets than are kept: the oldest is forgotten; and so is one past its time */
        w = watch(&r);
        for (uint32_t i = 0; i < 65; i++)
                FEED(w, 0, mark(i, 4, 500, 500, true));
        FEED(w, 0, drop(0, "input", -1));
        assert_int_equal(r.n, 0);
        FEED(w, 0, drop(1, "input", -1));
        assert_int_equal(r.n, 1);
        FEED(w, 5 * SEC, mark(100, 4, 500, 500, true));
        FEED(w, 8 * SEC, drop(100, "input", -1));
        assert_int_equal(r.n, 1);
        nft_trace_watch_free(w);
}

static void test_hostile(void **state) {
        char buf[4096], name[400];
        struct nlmsghdr *nlh = (struct nlmsghdr *) buf;
        size_t o = 0;
        NftTrace t;

        /* 300 bytes of 'é': cut to at most 255 on a character boundary */
        for (size_t i = 0; i < 150; i++)
                o += (size_t) snprintf(name + o, sizeof(name) - o, "é");
        put_event(buf, &(Ev) { .id = 1, .table = name, .chain = "a\nb\x7f", .type = NFT_TRACETYPE_RULE,
                               .verdict = NFT_JUMP, .ct_direction = -1 });
        assert_int_equal(nft_trace_parse(nlh, &t), 0);
        assert_int_equal(strlen(t.table_name), 254);
        assert_true(utf8_is_valid(t.table_name));
        assert_true(utf8_is_valid(t.table));
        assert_string_equal(t.chain, "a?b?");
        assert_true(strncmp(t.verdict_text, "jump", 4) == 0);

        /* invalid UTF-8, and a name without its NUL */
        put_event(buf, &(Ev) { .id = 1, .table = "x\xff\xfey", .table_len = 4, .chain = "\xc3", .type = 7,
                               .ct_direction = 5 });
        assert_int_equal(nft_trace_parse(nlh, &t), 0);
        assert_string_equal(t.table, "inet x??y");
        assert_string_equal(t.chain, "");
        assert_int_equal(t.ct_direction, -1);
        assert_string_equal(t.verdict_text, "");

        /* no id: not parsed; another message: not a trace */
        nlh = mnl_nlmsg_put_header(buf);
        nlh->nlmsg_type = NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_TRACE;
        mnl_nlmsg_put_extra_header(nlh, sizeof(struct nfgenmsg));
        mnl_attr_put_strz(nlh, NFTA_TRACE_TABLE, "t");
        assert_int_equal(nft_trace_parse(nlh, &t), -EBADMSG);
        nlh->nlmsg_type = NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_NEWGEN;
        assert_int_equal(nft_trace_parse(nlh, &t), -ENOMSG);
        /* a verdict nest that is no nest */
        put_event(buf, &(Ev) { .id = 1, .table = "t", .chain = "c", .ct_direction = -1 });
        mnl_attr_put_u32(nlh, NFTA_TRACE_VERDICT, 7);
        assert_int_equal(nft_trace_parse(nlh, &t), -EBADMSG);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_kernel_events),
                cmocka_unit_test(test_watch_kernel_events),
                cmocka_unit_test(test_rate_limit),
                cmocka_unit_test(test_which_datagrams),
                cmocka_unit_test(test_bounds),
                cmocka_unit_test(test_hostile),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
