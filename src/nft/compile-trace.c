/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * compile-trace.c — the chains that trace exempted IKE datagrams (compile.h, "Truth on the
 * wire"), present exactly while the exemptions are:
 *
 *   chain ike_trace_inbound   hook prerouting priority NFT_TRACE_PRIORITY
 *       udp dport 500 fib daddr type local goto ike_trace
 *       udp dport 4500 @th,64,32 0x0 fib daddr type local goto ike_trace
 *       udp sport 500 fib daddr type local goto ike_trace
 *       udp sport 4500 @th,64,32 0x0 fib daddr type local goto ike_trace
 *   chain ike_trace_outbound  hook output priority NFT_TRACE_PRIORITY
 *       udp sport 500 goto ike_trace, udp sport 4500 @th,64,32 0x0 goto ike_trace,
 *       udp dport 500 goto ike_trace, udp dport 4500 @th,64,32 0x0 goto ike_trace
 *   chain ike_trace
 *       meta nfproto ipv6 udp sport != 500 udp dport != 500 return
 *       limit rate NFT_TRACE_RATE/second meta nftrace set 1
 *
 * The local port first, then the remote one. Conntrack has not seen the packet yet at this
 * priority, so the remote-port rules trace every such datagram, where the exemption takes only
 * the flows this host started; the listener (tracewatch.c) tells them apart by the conntrack
 * direction the later trace events carry. `fib daddr type local` leaves out what this host only
 * forwards: the exemptions are about its own traffic. IPv6 has only 500, which ike_trace checks:
 * only IKE datagrams get that far. A `goto` ends the base chain after ike_trace, so a datagram
 * from 500 to 500 takes one token of the limit, not two.
 *
 * UDP 4500 also carries ESP-in-UDP, IPsec's data behind a NAT, at any rate: IKE there starts
 * with four zero bytes (the non-ESP marker, RFC 3948), ESP with its SPI, never zero. Only the
 * IKE messages go on to the route lookup and the limit, which cost a datagram about 200 ns
 * (doc/benchmark.md, "The trace chains"); a drop of ESP-in-UDP alone is not seen.
 *
 * Every packet pays for the two base chains: UDP ones compare their ports, the rest leave after
 * one compare per rule. While the rule that sets nftrace exists, every nftables base chain of
 * the host also runs the kernel's trace set-up for every packet. Plain compares measured as
 * cheap as a lookup in @ike_ports, and a set of (family, port) pairs, a hashed key, twice that.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>

#include "batch.h"
#include "compile-internal.h"
#include "compile.h"
#include "compile-trace.h"
#include "macro.h"

#define TRACE_CHAIN_IN "ike_trace_inbound"
#define TRACE_CHAIN_OUT "ike_trace_outbound"

/* The exempted datagrams' ports (exemptions.c): IPv4 UDP 500 and 4500, IPv6 UDP 500 only. */
bool nft_is_ike_port(int family, uint16_t port) {
        return port == 500 || (family == 4 && port == 4500);
}


/* ike_trace's first rule: over IPv6 only UDP 500 is exempt. */
static int emit_ipv6_rule(const NftConfig *c, NftBatch *b) {
        _cleanup_(nftnl_rule_freep) struct nftnl_rule *r = new_rule(c, NFT_TRACE_CHAIN);
        static const uint8_t ipv6 = NFPROTO_IPV6, udp = IPPROTO_UDP, port[2] = { 500 >> 8, 500 & 0xff };
        int k;

        if (!r)
                return -ENOMEM;
        k = put_meta_cmp(r, NFT_META_NFPROTO, NFT_CMP_EQ, &ipv6, sizeof(ipv6));
        if (k >= 0)
                k = put_meta_cmp(r, NFT_META_L4PROTO, NFT_CMP_EQ, &udp, sizeof(udp));
        for (uint32_t offset = 0; k >= 0 && offset <= 2; offset += 2) {
                k = put_payload_to(r, NFT_PAYLOAD_TRANSPORT_HEADER, offset, 2, NFT_REG_1);
                if (k >= 0)
                        k = put_cmp(r, NFT_CMP_NEQ, port, sizeof(port));
        }
        if (k >= 0)
                k = put_verdict(r, NFT_RETURN, NULL);
        if (k >= 0)
                k = set_comment(r, "bfed: over IPv6 only UDP 500 is exempt");
        return k < 0 ? k : emit_rule(b, r, NULL, NULL, NULL, "rule of chain " NFT_TRACE_CHAIN);
}

/* ike_trace's second: the one rule that sets the trace flag, behind the one limit of the table. */
static int emit_mark_rule(const NftConfig *c, NftBatch *b) {
        _cleanup_(nftnl_rule_freep) struct nftnl_rule *r = new_rule(c, NFT_TRACE_CHAIN);
        uint64_t rate = NFT_TRACE_RATE, unit = 1;       /* a second */
        uint8_t one = 1;
        char comment[NFT_CHAIN_NAME_MAX];
        int k;

        if (!r)
                return -ENOMEM;
        /* what the kernel lists back: burst 5 is its default for a packet limit */
        k = PUT_EXPR(r, "limit", EXPR_DATA(NFTNL_EXPR_LIMIT_RATE, &rate, sizeof(rate)),
                     EXPR_DATA(NFTNL_EXPR_LIMIT_UNIT, &unit, sizeof(unit)), EXPR_U32(NFTNL_EXPR_LIMIT_BURST, 5),
                     EXPR_U32(NFTNL_EXPR_LIMIT_TYPE, NFT_LIMIT_PKTS), EXPR_U32(NFTNL_EXPR_LIMIT_FLAGS, 0));
        if (k >= 0)
                k = PUT_EXPR(r, "immediate", EXPR_U32(NFTNL_EXPR_IMM_DREG, NFT_REG_1),
                             EXPR_DATA(NFTNL_EXPR_IMM_DATA, &one, sizeof(one)));
        if (k >= 0)
                k = PUT_EXPR(r, "meta", EXPR_U32(NFTNL_EXPR_META_KEY, NFT_META_NFTRACE),
                             EXPR_U32(NFTNL_EXPR_META_SREG, NFT_REG_1));
        if (k >= 0) {
                snprintf(comment, sizeof(comment), "bfed: trace at most %d exempted IKE datagrams a second, to see "
                         "another table drop them", NFT_TRACE_RATE);
                k = set_comment(r, comment);
        }
        return k < 0 ? k : emit_rule(b, r, NULL, NULL, NULL, "rule of chain " NFT_TRACE_CHAIN);
}

/* The rules of the two base chains: which port, and what the comment says. */
static const struct {
        bool inbound, source_port;
        uint16_t port;
        const char *comment;
} select_rules[] = {
        { true, false, 500, "bfed: trace exempted IKE datagrams: inbound, to local port 500" },
        { true, false, 4500, "bfed: trace exempted IKE datagrams: inbound, to local port 4500 (not ESP-in-UDP)" },
        { true, true, 500, "bfed: trace exempted IKE datagrams: inbound, from remote port 500" },
        { true, true, 4500, "bfed: trace exempted IKE datagrams: inbound, from remote port 4500 (not ESP-in-UDP)" },
        { false, true, 500, "bfed: trace exempted IKE datagrams: outbound, from local port 500" },
        { false, true, 4500, "bfed: trace exempted IKE datagrams: outbound, from local port 4500 (not ESP-in-UDP)" },
        { false, false, 500, "bfed: trace exempted IKE datagrams: outbound, to remote port 500" },
        { false, false, 4500, "bfed: trace exempted IKE datagrams: outbound, to remote port 4500 (not ESP-in-UDP)" },
};

/* A rule of a base chain: UDP, the port, [IKE's non-ESP marker,] [to this host,] goto ike_trace. */
static int emit_select_rule(const NftConfig *c, NftBatch *b, size_t i) {
        const char *chain = select_rules[i].inbound ? TRACE_CHAIN_IN : TRACE_CHAIN_OUT;
        _cleanup_(nftnl_rule_freep) struct nftnl_rule *r = new_rule(c, chain);
        uint8_t udp = IPPROTO_UDP, port[2] = { select_rules[i].port >> 8, select_rules[i].port & 0xff };
        uint32_t local = RTN_LOCAL, marker = 0;
        int k;

        if (!r)
                return -ENOMEM;
        /* UDP first: everything else leaves after one compare */
        k = put_meta_cmp(r, NFT_META_L4PROTO, NFT_CMP_EQ, &udp, sizeof(udp));
        if (k >= 0)
                k = put_payload_to(r, NFT_PAYLOAD_TRANSPORT_HEADER, select_rules[i].source_port ? 0 : 2, 2, NFT_REG_1);
        if (k >= 0)
                k = put_cmp(r, NFT_CMP_EQ, port, sizeof(port));
        if (k >= 0 && select_rules[i].port == 4500)     /* the 4 bytes after the UDP header */
                k = put_payload_to(r, NFT_PAYLOAD_TRANSPORT_HEADER, 8, sizeof(marker), NFT_REG_1);
        if (k >= 0 && select_rules[i].port == 4500)
                k = put_cmp(r, NFT_CMP_EQ, &marker, sizeof(marker));
        if (k >= 0 && select_rules[i].inbound)
                k = PUT_EXPR(r, "fib", EXPR_U32(NFTNL_EXPR_FIB_DREG, NFT_REG_1),
                             EXPR_U32(NFTNL_EXPR_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE),
                             EXPR_U32(NFTNL_EXPR_FIB_FLAGS, NFTA_FIB_F_DADDR));
        if (k >= 0 && select_rules[i].inbound)
                k = put_cmp(r, NFT_CMP_EQ, &local, sizeof(local));
        if (k >= 0)
                k = put_verdict(r, NFT_GOTO, NFT_TRACE_CHAIN);
        if (k >= 0)
                k = set_comment(r, select_rules[i].comment);
        return k < 0 ? k : emit_rule(b, r, NULL, NULL, NULL, select_rules[i].comment);
}

/**
 * nft_trace_emit() - the trace chains, new in the table (see the top of this file).
 *
 * Return: 0 or -ENOMEM.
 */
int nft_trace_emit(const NftConfig *c, NftBatch *b) {
        int k;

        k = emit_chain(c, b, NFT_TRACE_CHAIN, -1, 0);
        if (k >= 0)
                k = emit_ipv6_rule(c, b);
        if (k >= 0)
                k = emit_mark_rule(c, b);
        if (k >= 0)
                k = emit_chain(c, b, TRACE_CHAIN_IN, NF_INET_PRE_ROUTING, NFT_TRACE_PRIORITY);
        if (k >= 0)
                k = emit_chain(c, b, TRACE_CHAIN_OUT, NF_INET_LOCAL_OUT, NFT_TRACE_PRIORITY);
        for (size_t i = 0; k >= 0 && i < ELEMENTSOF(select_rules); i++)
                k = emit_select_rule(c, b, i);
        return k;
}

int nft_compile_trace_chains(const NftConfig *c, NftBatch *b) {
        return nft_trace_emit(c, b);
}

/* Their deletion: the base chains with their rules first, then the chain they go to. */
int nft_trace_emit_delete(const NftConfig *c, NftBatch *b) {
        int k;

        k = emit_delete_chain(c, b, TRACE_CHAIN_IN);
        if (k >= 0)
                k = emit_delete_chain(c, b, TRACE_CHAIN_OUT);
        return k < 0 ? k : emit_delete_chain(c, b, NFT_TRACE_CHAIN);
}

/*
 * Whether the kernel has the trace chains before this transaction: it has them while it has the
 * exemptions, which come and go whole. An exemption filter the transaction deletes was there
 * when it had been placed in a chain (or a run); one the transaction adds was not. (The daemon
 * sends the trace chains in a batch of their own after the one that added the exemptions, and
 * before any other: compile-trace.h.)
 */
static bool trace_installed_before(const Engine *e, const NftLayout *L) {
        const Change *changes;
        bool added = false;
        size_t n;

        changes = engine_changes(e, &n);
        for (size_t i = 0; i < n; i++) {
                const Filter *f = changes[i].object;

                if (changes[i].kind != OBJECT_FILTER || !f->engine_owned)
                        continue;
                if (changes[i].type == CHANGE_DELETE && (FS(L, f)->chunk || FS(L, f)->run))
                        return true;
                if (changes[i].type == CHANGE_ADD)
                        added = true;
        }
        return engine_exemptions_active(e) && !added;
}

/* Called first in nft_compile_changes(), before it moves any filter's bookkeeping. */
int nft_trace_compile_changes(const Engine *e, const NftLayout *L, const NftConfig *c, NftBatch *b) {
        bool had = trace_installed_before(e, L), want = engine_exemptions_active(e);

        if (!c->trace || want == had)
                return 0;
        return want ? nft_trace_emit(c, b) : nft_trace_emit_delete(c, b);
}
