/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nflog.c — see nflog.h. What the kernel (checked on 6.18) sends for a packet that a `log group
 * N` statement logs to a bound socket (nfulnl_log_packet()): NFNL_SUBSYS_ULOG's
 * NFULNL_MSG_PACKET with the packet's protocol family in the nfgenmsg header (IPv4 or IPv6 for a
 * table of family inet), then NFULA_PACKET_HDR (the hook), NFULA_PREFIX (with its NUL), the
 * interfaces, NFULA_TIMESTAMP when the packet has a time stamp, NFULA_SEQ when the socket asked
 * for it, and NFULA_PAYLOAD: the packet from its network header, cut to the copy range.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <netinet/in.h>
#include <string.h>

#include "macro.h"
#include "nflog.h"
#include "nlmsg.h"
#include "text.h"

/* IPv6 extension headers walked before the transport header: as many as fit the copy range */
#define IPV6_EXTENSIONS_MAX 8

struct nlmsghdr *nflog_build_config(void *buf, const NflogConfig *c, uint32_t seq) {
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        struct nfgenmsg *nfg;
        struct nfulnl_msg_config_cmd cmd = { .command = NFULNL_CFG_CMD_BIND };
        struct nfulnl_msg_config_mode mode = { .copy_range = htonl(c->copy_range), .copy_mode = NFULNL_COPY_PACKET };

        nlh->nlmsg_type = NFNL_SUBSYS_ULOG << 8 | NFULNL_MSG_CONFIG;
        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
        nlh->nlmsg_seq = seq;
        nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
        nfg->nfgen_family = AF_UNSPEC;
        nfg->version = NFNETLINK_V0;
        nfg->res_id = htons(c->group);
        /* the kernel binds first, then takes the rest for the new instance */
        mnl_attr_put(nlh, NFULA_CFG_CMD, sizeof(cmd), &cmd);
        mnl_attr_put(nlh, NFULA_CFG_MODE, sizeof(mode), &mode);
        if (c->qthreshold)
                mnl_attr_put_u32(nlh, NFULA_CFG_QTHRESH, htonl(c->qthreshold));
        if (c->timeout_cs)
                mnl_attr_put_u32(nlh, NFULA_CFG_TIMEOUT, htonl(c->timeout_cs));
        if (c->nlbufsiz)
                mnl_attr_put_u32(nlh, NFULA_CFG_NLBUFSIZ, htonl(c->nlbufsiz));
        if (c->seq)
                mnl_attr_put_u16(nlh, NFULA_CFG_FLAGS, htons(NFULNL_CFG_F_SEQ));
        return nlh;
}

/* IPv6's extension headers, as the kernel walks them for nftables' `meta l4proto` (ipv6_find_hdr()):
 * *@proto and *@off move to the transport header; false for a later fragment, which has none. */
static bool ipv6_skip_extensions(const uint8_t *nh, size_t len, uint8_t *proto, size_t *off) {
        for (unsigned i = 0; i < IPV6_EXTENSIONS_MAX; i++) {
                const uint8_t *h = nh + *off;
                size_t hlen;

                switch (*proto) {
                case IPPROTO_HOPOPTS:
                case IPPROTO_ROUTING:
                case IPPROTO_DSTOPTS:
                        if (len - *off < 2)
                                return false;
                        hlen = ((size_t) h[1] + 1) * 8;
                        break;
                case IPPROTO_AH:
                        if (len - *off < 2)
                                return false;
                        hlen = ((size_t) h[1] + 2) * 4;
                        break;
                case IPPROTO_FRAGMENT:
                        if (len - *off < 8)
                                return false;
                        if (((h[2] << 8 | h[3]) & ~7) != 0)
                                return false;   /* not the first fragment: no ports */
                        hlen = 8;
                        break;
                default:
                        return true;
                }
                if (hlen > len - *off)
                        return false;
                *proto = h[0];
                *off += hlen;
        }
        return false;
}

/* Addresses, protocol and ports from the packet, which starts at its network header. */
static void parse_payload(const uint8_t *nh, size_t len, NflogPacket *p) {
        size_t off;

        if (len >= 20 && nh[0] >> 4 == 4 && (size_t) (nh[0] & 0xf) * 4 >= 20) {
                p->family = 4;
                p->l4proto = nh[9];
                memcpy(p->saddr, nh + 12, 4);
                memcpy(p->daddr, nh + 16, 4);
                off = (size_t) (nh[0] & 0xf) * 4;
                if (((nh[6] << 8 | nh[7]) & 0x1fff) != 0)
                        return;         /* a later fragment */
        } else if (len >= 40 && nh[0] >> 4 == 6) {
                p->family = 6;
                p->l4proto = nh[6];
                memcpy(p->saddr, nh + 8, 16);
                memcpy(p->daddr, nh + 24, 16);
                off = 40;
                if (!ipv6_skip_extensions(nh, len, &p->l4proto, &off))
                        return;
        } else
                return;
        if (off <= len && len - off >= 4) {
                p->has_ports = true;
                p->sport = (uint16_t) (nh[off] << 8 | nh[off + 1]);
                p->dport = (uint16_t) (nh[off + 2] << 8 | nh[off + 3]);
        }
}

bool nflog_proto_has_ports(uint8_t p) {
        return p == IPPROTO_UDP || p == IPPROTO_TCP || p == IPPROTO_SCTP || p == IPPROTO_UDPLITE || p == IPPROTO_DCCP;
}

int nflog_parse(const struct nlmsghdr *nlh, NflogPacket *ret) {
        const struct nlattr *tb[NFULA_MAX + 1] = {};
        const struct nfgenmsg *nfg;
        NflogPacket p = { .hook = 0xff };

        if (nlh->nlmsg_len < NLMSG_HDRLEN || nlh->nlmsg_type != (NFNL_SUBSYS_ULOG << 8 | NFULNL_MSG_PACKET))
                return -ENOMSG;
        nfg = nfnl_parse_attrs(nlh, tb, NFULA_MAX);
        if (!nfg)
                return -EBADMSG;

        if (tb[NFULA_PACKET_HDR]) {
                const struct nfulnl_msg_packet_hdr *h = mnl_attr_get_payload(tb[NFULA_PACKET_HDR]);

                if (mnl_attr_get_payload_len(tb[NFULA_PACKET_HDR]) < sizeof(*h))
                        return -EBADMSG;
                p.hook = h->hook;
        }
        if (tb[NFULA_PREFIX])
                nft_text_from_kernel(mnl_attr_get_payload(tb[NFULA_PREFIX]), mnl_attr_get_payload_len(tb[NFULA_PREFIX]),
                                     p.prefix, sizeof(p.prefix));
        if (tb[NFULA_SEQ] && !(p.has_seq = nlattr_get_be32(tb[NFULA_SEQ], &p.seq)))
                return -EBADMSG;
        if (tb[NFULA_TIMESTAMP]) {
                struct nfulnl_msg_packet_timestamp ts;
                uint64_t sec, usec;

                if (mnl_attr_get_payload_len(tb[NFULA_TIMESTAMP]) != sizeof(ts))
                        return -EBADMSG;
                memcpy(&ts, mnl_attr_get_payload(tb[NFULA_TIMESTAMP]), sizeof(ts));
                sec = be64toh(ts.sec);
                usec = be64toh(ts.usec);
                /* a time stamp past the year 2^64 µs cannot be told: none */
                if (sec < UINT64_MAX / 1000000 && usec < 1000000)
                        p.time_usec = sec * 1000000 + usec;
        }
        if (tb[NFULA_PAYLOAD])
                parse_payload(mnl_attr_get_payload(tb[NFULA_PAYLOAD]), mnl_attr_get_payload_len(tb[NFULA_PAYLOAD]), &p);
        /* the header's family and the packet's must agree; a packet of another family is none */
        if ((nfg->nfgen_family == NFPROTO_IPV4 && p.family != 4) ||
            (nfg->nfgen_family == NFPROTO_IPV6 && p.family != 6)) {
                p.family = 0;
                p.has_ports = false;
        }
        *ret = p;
        return 0;
}
