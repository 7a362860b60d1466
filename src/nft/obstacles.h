/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * obstacles.h — which base chains of the OTHER nftables tables may drop or reject the datagrams
 * bfed's IKE/AuthIP exemptions let through. An accept in bfed's base chain ends only that
 * chain: the packet still passes every other table's base chains on its hooks, and a drop
 * there is final. So bfed reads the other tables (nft_transport_dump_foreign()) and works out,
 * for each kind of exempted datagram, whether a drop or reject is reachable for it.
 *
 * The analysis is symbolic: a datagram kind is a packet of which some fields are known (the
 * family, UDP, the IKE port, the direction, new flow or reply) and the rest are not (addresses,
 * interfaces, marks, …). Each rule's expressions are evaluated on it: a match on a known field
 * is true or false, on an unknown one "either". Jumps, gotos, verdict maps, sets (named and
 * anonymous, intervals, concatenations) and the iptables-nft conntrack/state matches are
 * followed. A chain is reported only when a drop or reject is reachable for a kind, so a chain
 * that accepts UDP 500 before its policy drop, or only drops TCP, is not. What cannot be read
 * (an expression unknown here) counts as "either", never as a drop. The rules, and what is
 * assumed about the datagrams, are in obstacles.c.
 *
 * Pure: no I/O, no global state; the input is hostile (a fuzzer calls it with anything).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

/*
 * The exempted datagram kinds, a bit each in NftObstacle.kinds: IPv4 UDP 500, IPv4 UDP 4500 and
 * IPv6 UDP 500, each inbound and outbound, each the first datagram of a flow (conntrack state
 * new, direction original) or a reply (state established, direction reply).
 */
enum {
        NFT_DGRAM_PORTS = 3,            /* IPv4 UDP 500, IPv4 UDP 4500, IPv6 UDP 500 */
        _NFT_DGRAM_MAX = NFT_DGRAM_PORTS * 4,
};
#define NFT_DGRAM(port, outbound, reply) ((unsigned) (port) * 4u + ((outbound) ? 2u : 0u) + ((reply) ? 1u : 0u))
#define NFT_DGRAM_ALL ((UINT32_C(1) << _NFT_DGRAM_MAX) - 1)

/* "IPv4 UDP 500 inbound, new flow", …; NULL past _NFT_DGRAM_MAX. */
const char *nft_dgram_name(unsigned d);

/* The kind of a datagram (for explain): its bit number, or -1 when the exemptions do not cover it
 * (IPv6 UDP 4500, another port). @port: the IKE port, local or remote. */
int nft_dgram_of(bool ipv6, uint16_t port, bool outbound, bool reply);

/* Each text is valid UTF-8 without control characters, at most this many bytes (and a NUL). */
#define NFT_OBSTACLE_TEXT_MAX 512

/* One base chain of another table that may drop exempted datagrams. */
typedef struct NftObstacle {
        char *table;                    /* "family name": "inet firewalld", "ip filter", "netdev x" */
        char *chain;                    /* the base chain: "INPUT", "filter_INPUT" */
        /* What drops: "policy drop", "rule handle 12: udp dport 500 drop", "rule handle 7 in
         * chain ufw-after-input: reject" (a rule of a chain it jumps or goes to); several are
         * joined by "; " in the order they are reached */
        char *what;
        const char *hook;               /* static: "input", "prerouting", "ingress", … */
        int32_t priority;
        uint32_t kinds;                 /* the NFT_DGRAM bits it may drop */
        uint32_t kinds_always;          /* of those, the ones it drops whatever their unknown fields */
} NftObstacle;

typedef struct NftObstacles {
        NftObstacle *entries;           /* one per base chain, sorted by table, then chain */
        size_t n;
        /* messages and expressions that did not parse: left out, or read as "either" */
        size_t n_malformed;
} NftObstacles;

/**
 * nft_obstacles_find() - the base chains of the tables in a dump that may drop exempted datagrams.
 * @buf, @len: netlink messages as nft_transport_dump_foreign() gives them: NEWTABLE, NEWCHAIN,
 *   NEWSET, NEWSETELEM and NEWRULE of any families (other messages are skipped). Nothing in
 *   it is trusted.
 * @own_table: table inet @own_table is bfed's, and never an obstacle
 * @ret: the result, empty when nothing may drop them
 *
 * Return: 0; -EINVAL for a bad argument; -ENOMEM; -E2BIG when the input is larger than
 * INT_MAX or would take more than a bounded amount of work to analyze.
 */
int nft_obstacles_find(const void *buf, size_t len, const char *own_table, NftObstacles **ret);
NftObstacles *nft_obstacles_free(NftObstacles *o);
DEFINE_TRIVIAL_CLEANUP_FUNC(NftObstacles *, nft_obstacles_free);

/* Whether two results report the same entries (n_malformed is not compared); NULL is empty.
 * The daemon compares the old and the new result to know whether to signal and log. */
bool nft_obstacles_equal(const NftObstacles *a, const NftObstacles *b);
