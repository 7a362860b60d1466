/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * compile-trace.c — the chains that trace exempted IKE datagrams (compile.h, "Truth on the
 * wire"), present exactly while the exemptions are:
 *
 *   set ike_trace_ports     nf_proto . inet_service: ipv4 . 500, ipv4 . 4500, ipv6 . 500
 *   chain ike_trace_inbound   hook prerouting priority NFT_TRACE_PRIORITY
 *       meta nfproto . udp dport @ike_trace_ports fib daddr type local goto ike_trace
 *       meta nfproto . udp sport @ike_trace_ports fib daddr type local goto ike_trace
 *   chain ike_trace_outbound  hook output priority NFT_TRACE_PRIORITY
 *       meta nfproto . udp sport @ike_trace_ports goto ike_trace
 *       meta nfproto . udp dport @ike_trace_ports goto ike_trace
 *   chain ike_trace
 *       limit rate NFT_TRACE_RATE/second meta nftrace set 1
 *
 * The first rule of each direction is the exemptions' local port, the second their remote port.
 * Conntrack has not seen the packet yet at this priority, so the remote-port rules trace
 * every such datagram, where the exemption takes only the flows this host started; the
 * listener (tracewatch.c) tells them apart by the conntrack direction the later trace events
 * carry. `fib daddr type local` leaves out what this host only forwards: the exemptions are
 * about its own traffic. A `goto` ends the base chain after ike_trace, so a datagram from 500
 * to 500 takes one token of the limit, not two.
 *
 * Every packet pays for the two base chains (a UDP lookup at most), and while the rule that
 * sets nftrace exists, every nftables chain of the host checks the trace flag: the cost is in
 * doc/benchmark.md ("The trace chains").
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>

#include "batch.h"
#include "compile-internal.h"
#include "compile.h"
#include "macro.h"

#define TRACE_SET "ike_trace_ports"
#define TRACE_CHAIN_IN "ike_trace_inbound"
#define TRACE_CHAIN_OUT "ike_trace_outbound"

/* The exempted datagrams' ports (exemptions.c): IPv4 UDP 500 and 4500, IPv6 UDP 500 only. */
bool nft_is_ike_port(int family, uint16_t port) {
        return port == 500 || (family == 4 && port == 4500);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_rule *, nftnl_rule_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_set *, nftnl_set_free);

/* The set's keys: the family (one byte in a 32-bit register) and the port (two, big-endian). */
static int emit_trace_set(const NftConfig *c, NftBatch *b) {
        static const struct { uint8_t nfproto; uint16_t port; } keys[] = {
                { NFPROTO_IPV4, 500 }, { NFPROTO_IPV4, 4500 }, { NFPROTO_IPV6, 500 },
        };
        _cleanup_(nftnl_set_freep) struct nftnl_set *s = NULL;
        int k;

        k = new_set(c, TRACE_SET, b->set_id_next++, NFT_SET_CONSTANT, 8,
                    NFT_TYPE_CONCAT(NFT_TYPE_NFPROTO, NFT_TYPE_INET_SERVICE), &s);
        for (size_t i = 0; k >= 0 && i < ELEMENTSOF(keys); i++) {
                uint8_t key[8] = { keys[i].nfproto, 0, 0, 0, keys[i].port >> 8, keys[i].port & 0xff };

                k = add_element(s, key, sizeof(key), false);
        }
        return k < 0 ? k : emit_set(b, s, "set " TRACE_SET);
}

/* ike_trace: the one rule that sets the trace flag, behind the one limit of the table. */
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

/* One rule of a trace chain: UDP, (family . port) in the set, [to this host,] goto ike_trace. */
static int emit_select_rule(const NftConfig *c, NftBatch *b, const char *chain, bool source_port, bool to_local,
                            const char *comment) {
        _cleanup_(nftnl_rule_freep) struct nftnl_rule *r = new_rule(c, chain);
        uint8_t udp = IPPROTO_UDP;
        uint32_t local = RTN_LOCAL;
        int k;

        if (!r)
                return -ENOMEM;
        /* UDP first: everything else leaves after one compare */
        k = put_meta(r, NFT_META_L4PROTO);
        if (k >= 0)
                k = put_cmp(r, NFT_CMP_EQ, &udp, sizeof(udp));
        if (k >= 0)
                k = put_meta(r, NFT_META_NFPROTO);   /* the key's first 32 bits: NFT_REG32_00 */
        if (k >= 0)
                k = put_payload_to(r, NFT_PAYLOAD_TRANSPORT_HEADER, source_port ? 0 : 2, 2, NFT_REG32_01);
        if (k >= 0)
                k = put_lookup(r, TRACE_SET, 0);
        if (k >= 0 && to_local)
                k = PUT_EXPR(r, "fib", EXPR_U32(NFTNL_EXPR_FIB_DREG, NFT_REG_1),
                             EXPR_U32(NFTNL_EXPR_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE),
                             EXPR_U32(NFTNL_EXPR_FIB_FLAGS, NFTA_FIB_F_DADDR));
        if (k >= 0 && to_local)
                k = put_cmp(r, NFT_CMP_EQ, &local, sizeof(local));
        if (k >= 0)
                k = put_verdict(r, NFT_GOTO, NFT_TRACE_CHAIN);
        if (k >= 0)
                k = set_comment(r, comment);
        return k < 0 ? k : emit_rule(b, r, NULL, NULL, NULL, comment);
}

/**
 * nft_trace_emit() - the trace set and chains, new in the table (see the top of this file).
 *
 * Return: 0 or -ENOMEM.
 */
int nft_trace_emit(const NftConfig *c, NftBatch *b) {
        int k;

        k = emit_trace_set(c, b);
        if (k >= 0)
                k = emit_chain(c, b, NFT_TRACE_CHAIN, -1, 0);
        if (k >= 0)
                k = emit_mark_rule(c, b);
        if (k >= 0)
                k = emit_chain(c, b, TRACE_CHAIN_IN, NF_INET_PRE_ROUTING, NFT_TRACE_PRIORITY);
        if (k >= 0)
                k = emit_select_rule(c, b, TRACE_CHAIN_IN, false, true,
                                     "bfed: trace exempted IKE datagrams: inbound, to a local IKE port");
        if (k >= 0)
                k = emit_select_rule(c, b, TRACE_CHAIN_IN, true, true,
                                     "bfed: trace exempted IKE datagrams: inbound, from a remote IKE port");
        if (k >= 0)
                k = emit_chain(c, b, TRACE_CHAIN_OUT, NF_INET_LOCAL_OUT, NFT_TRACE_PRIORITY);
        if (k >= 0)
                k = emit_select_rule(c, b, TRACE_CHAIN_OUT, true, false,
                                     "bfed: trace exempted IKE datagrams: outbound, from a local IKE port");
        if (k >= 0)
                k = emit_select_rule(c, b, TRACE_CHAIN_OUT, false, false,
                                     "bfed: trace exempted IKE datagrams: outbound, to a remote IKE port");
        return k;
}

/* Their deletion: the base chains with their rules first, then what those rules named. */
int nft_trace_emit_delete(const NftConfig *c, NftBatch *b) {
        _cleanup_(nftnl_set_freep) struct nftnl_set *s = nftnl_set_alloc();
        int k;

        if (!s)
                return -ENOMEM;
        k = emit_delete_chain(c, b, TRACE_CHAIN_IN);
        if (k >= 0)
                k = emit_delete_chain(c, b, TRACE_CHAIN_OUT);
        if (k >= 0)
                k = emit_delete_chain(c, b, NFT_TRACE_CHAIN);
        if (k < 0)
                return k;
        nftnl_set_set_str(s, NFTNL_SET_TABLE, c->table);
        nftnl_set_set_str(s, NFTNL_SET_NAME, TRACE_SET);
        nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
        return emit_set_msg(b, NFT_MSG_DELSET, s, "deletion of set " TRACE_SET);
}

/*
 * Whether the kernel has the trace chains before this transaction: it has them while it has the
 * exemptions, which come and go whole. An exemption filter the transaction deletes was there
 * when it had been placed in a chain (or a run); one the transaction adds was not.
 */
static bool trace_installed_before(const Engine *e) {
        const Change *changes;
        bool added = false;
        size_t n;

        changes = engine_changes(e, &n);
        for (size_t i = 0; i < n; i++) {
                const Filter *f = changes[i].object;

                if (changes[i].kind != OBJECT_FILTER || !f->engine_owned)
                        continue;
                if (changes[i].type == CHANGE_DELETE && (f->nft_chunk || f->nft_run))
                        return true;
                if (changes[i].type == CHANGE_ADD)
                        added = true;
        }
        return engine_exemptions_active(e) && !added;
}

/* Called first in nft_compile_changes(), before it moves any filter's bookkeeping. */
int nft_trace_compile_changes(const Engine *e, const NftConfig *c, NftBatch *b) {
        bool had = trace_installed_before(e), want = engine_exemptions_active(e);

        if (want == had)
                return 0;
        return want ? nft_trace_emit(c, b) : nft_trace_emit_delete(c, b);
}
