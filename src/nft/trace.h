/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * trace.h — one nftables trace event (NFT_MSG_TRACE, sent to NFNLGRP_NFTRACE for every chain
 * verdict on a packet whose nftrace flag is set), parsed into what bfed needs to know: which
 * table and chain, what verdict, and which packet. Pure: no I/O, and nothing in the message
 * is trusted; every text it yields is valid UTF-8, bounded, and free of control characters.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nlmsghdr;

/* nftables names are at most 255 bytes (NFT_NAME_MAXLEN with its NUL) */
#define NFT_TRACE_NAME_MAX 256
/* "family 255 " and a name */
#define NFT_TRACE_TABLE_TEXT_MAX (NFT_TRACE_NAME_MAX + 16)
/* "rule handle 18446744073709551615: goto " and a chain's name */
#define NFT_TRACE_VERDICT_TEXT_MAX (NFT_TRACE_NAME_MAX + 48)
/* "ipv6 udp [ffff:…:ffff]:65535 -> [ffff:…:ffff]:65535 forward" */
#define NFT_TRACE_PACKET_TEXT_MAX 128

/* The packet, from the network and transport headers the kernel copies into the first event
 * of each base chain it passes. */
typedef struct NftTracePacket {
        int family;                     /* 4 or 6; 0: no network header in the event */
        uint8_t l4proto;                /* IPv4's protocol, IPv6's first next header */
        uint8_t saddr[16], daddr[16];   /* 4 bytes for IPv4 */
        bool has_ports;                 /* the transport header had 4 bytes at least */
        uint16_t sport, dport;
        enum { NFT_TRACE_DIR_UNKNOWN, NFT_TRACE_DIR_IN, NFT_TRACE_DIR_OUT, NFT_TRACE_DIR_FORWARD } direction;
} NftTracePacket;

typedef struct NftTrace {
        uint32_t id;                    /* the same for every event about one packet */
        uint32_t type;                  /* NFT_TRACETYPE_RULE, _RETURN, _POLICY; 0 if absent */
        uint8_t table_family;           /* NFPROTO_INET, _IPV4, …: the table's (nfgen_family) */
        char table_name[NFT_TRACE_NAME_MAX];
        char chain[NFT_TRACE_NAME_MAX];
        char table[NFT_TRACE_TABLE_TEXT_MAX];           /* "inet filter" */
        uint64_t rule_handle;           /* 0: no rule (the chain's policy, its end, its entry) */
        bool has_verdict;
        int32_t verdict;                /* NF_DROP, NF_ACCEPT, NFT_JUMP, NFT_CONTINUE, … */
        bool has_policy;
        uint32_t policy;                /* NF_DROP or NF_ACCEPT */
        bool drop;                      /* the packet ends here: a drop (or reject) verdict, or policy */
        char verdict_text[NFT_TRACE_VERDICT_TEXT_MAX];  /* "rule handle 12: drop", "policy drop" */
        bool has_packet;
        NftTracePacket packet;
        char packet_text[NFT_TRACE_PACKET_TEXT_MAX];    /* "ipv4 udp 10.0.0.2:500 -> 10.0.0.1:500 in" */
        int ct_direction;               /* 0 original, 1 reply; -1: conntrack did not say */
} NftTrace;

/**
 * nft_trace_parse() - one netlink message, if it is a trace event.
 * @nlh: the message; its length must have been checked against the buffer it is in
 *   (nlmsg_next_safe())
 *
 * Return: 0; -ENOMSG when it is not an nftables trace event; -EBADMSG when it is one that
 * does not parse (a bad length, a missing id or table).
 */
int nft_trace_parse(const struct nlmsghdr *nlh, NftTrace *ret);

/* "ipv4 udp 10.0.0.2:500 -> 10.0.0.1:500 in" (ports only for protocols that have them);
 * "" when @p has no family. */
void nft_trace_packet_text(const NftTracePacket *p, char buf[static NFT_TRACE_PACKET_TEXT_MAX]);

/* "inet", "ip", "ip6", "bridge", "netdev", "arp"; NULL for others. */
const char *nft_trace_family_name(uint8_t nfproto);
