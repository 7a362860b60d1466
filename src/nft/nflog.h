/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nflog.h — the kernel's packet log over netlink (nfnetlink_log, NFNL_SUBSYS_ULOG): the
 * configuration message that binds a socket to a log group, and the parsing of the messages
 * the kernel then sends it, one per logged packet. Pure: no I/O, and nothing in a message is
 * trusted; the prefix it yields is valid UTF-8, bounded, and free of control characters.
 *
 * A log group is not a multicast group: one socket binds it (NFULNL_CFG_CMD_BIND), and the
 * kernel sends that socket what every `log group N` statement logs. The binding ends when the
 * socket closes.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nlmsghdr;

/* NF_LOG_PREFIXLEN: the kernel keeps at most 127 bytes of a prefix */
#define NFLOG_PREFIX_MAX 128
/* IPv4's and IPv6's headers with a few IPv6 extension headers, and the ports */
#define NFLOG_COPY_RANGE 128

typedef struct NflogConfig {
        uint16_t group;
        uint32_t copy_range;            /* bytes of each packet from its network header */
        uint32_t qthreshold;            /* messages the kernel gathers in one datagram */
        uint32_t timeout_cs;            /* ... or for this long, in 1/100 s */
        uint32_t nlbufsiz;              /* ... or this many bytes */
        bool seq;                       /* number the messages (NFULA_SEQ): gaps are losses */
} NflogConfig;

/**
 * nflog_build_config() - the message that binds a socket to @c->group and configures it (copy
 * the packets, @c's thresholds and flags), with NLM_F_ACK.
 * @buf: room for the message, at least NFLOG_CONFIG_MSG_MAX bytes
 *
 * Return: the message, in @buf.
 */
#define NFLOG_CONFIG_MSG_MAX 256
struct nlmsghdr *nflog_build_config(void *buf, const NflogConfig *c, uint32_t seq);

/* One logged packet, as far as bfed needs it. */
typedef struct NflogPacket {
        uint8_t family;                 /* 4 or 6; 0: no network header that parses */
        uint8_t hook;                   /* NF_INET_LOCAL_IN, …; 0xff: not given */
        char prefix[NFLOG_PREFIX_MAX];  /* the log statement's prefix; "" when none */
        bool has_seq;
        uint32_t seq;                   /* NFULA_SEQ: the instance's count of messages */
        uint64_t time_usec;             /* NFULA_TIMESTAMP (CLOCK_REALTIME); 0 when not given */
        uint8_t l4proto;                /* IPv4's protocol; IPv6's after its extension headers */
        uint8_t saddr[16], daddr[16];   /* 4 bytes for IPv4 */
        bool has_ports;                 /* a first fragment with 4 bytes of transport header (the
                                         * kernel's `th sport`/`th dport`, whatever the protocol) */
        uint16_t sport, dport;
} NflogPacket;

/**
 * nflog_parse() - one netlink message, if it is a logged packet.
 * @nlh: the message; its length must have been checked against the buffer it is in
 *   (nlmsg_next_safe())
 *
 * Return: 0; -ENOMSG when it is not a packet of the log (an ack, an error, another
 * subsystem's); -EBADMSG when it is one that does not parse (bad lengths).
 */
int nflog_parse(const struct nlmsghdr *nlh, NflogPacket *ret);

/* Whether IP protocol @p has ports (UDP, TCP, SCTP, UDP-Lite, DCCP): the others' first bytes are no ports. */
bool nflog_proto_has_ports(uint8_t p);
