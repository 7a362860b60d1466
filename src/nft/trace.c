/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * trace.c — see trace.h. What the kernel (checked on 6.18) sends for a traced packet: an event
 * when it enters a base chain (type rule, verdict continue, no rule handle) carrying the
 * packet's headers, its interfaces and, from Linux 6.16 and once conntrack has seen it, its
 * conntrack direction; then one per rule that matched (with the rule's handle and verdict), one
 * at the end of a regular chain, and one for the base chain's policy. Each carries the trace
 * id, the table (its family in the nfgenmsg header), the chain and the event's type.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <endian.h>
#include <inttypes.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "macro.h"
#include "nflog.h"
#include "nlmsg.h"
#include "text.h"
#include "trace.h"
#include "utf8.h"

/* Linux 6.16's conntrack attributes, after NFTA_TRACE_PAD (Debian 12's uapi header predates them) */
#define TRACE_CT_ID (NFTA_TRACE_PAD + 1)
#define TRACE_CT_DIRECTION (NFTA_TRACE_PAD + 2)
#define TRACE_CT_STATUS (NFTA_TRACE_PAD + 3)
#define TRACE_CT_STATE (NFTA_TRACE_PAD + 4)
#define TRACE_ATTR_MAX TRACE_CT_STATE

const char *nft_trace_family_name(uint8_t nfproto) {
        switch (nfproto) {
        case NFPROTO_INET: return "inet";
        case NFPROTO_IPV4: return "ip";
        case NFPROTO_IPV6: return "ip6";
        case NFPROTO_ARP: return "arp";
        case NFPROTO_BRIDGE: return "bridge";
        case NFPROTO_NETDEV: return "netdev";
        default: return NULL;
        }
}

static bool get_be64(const struct nlattr *a, uint64_t *ret) {
        uint64_t v;

        if (!a || mnl_attr_get_payload_len(a) != sizeof(v))
                return false;
        memcpy(&v, mnl_attr_get_payload(a), sizeof(v));
        *ret = be64toh(v);
        return true;
}

/* A name from the kernel, as text that is safe anywhere (nft_text_from_kernel()). */
static void copy_name(const struct nlattr *a, char *buf, size_t size) {
        nft_text_from_kernel(a ? mnl_attr_get_payload(a) : NULL, a ? mnl_attr_get_payload_len(a) : 0, buf, size);
}

static const char *verdict_name(int32_t v, char buf[static 16]) {
        switch (v) {
        case NFT_CONTINUE: return "continue";
        case NFT_BREAK: return "break";
        case NFT_JUMP: return "jump";
        case NFT_GOTO: return "goto";
        case NFT_RETURN: return "return";
        default:
                break;
        }
        if (v >= 0)
                switch ((uint32_t) v & NF_VERDICT_MASK) {
                case NF_DROP: return "drop";
                case NF_ACCEPT: return "accept";
                case NF_STOLEN: return "stolen";
                case NF_QUEUE: return "queue";
                case NF_REPEAT: return "repeat";
                default:
                        break;
                }
        snprintf(buf, 16, "verdict %" PRIi32, v);
        return buf;
}

/* The verdict's code, and the chain a jump or goto names. */
static int parse_verdict(const struct nlattr *a, NftTrace *t, char chain[static NFT_TRACE_NAME_MAX]) {
        const struct nlattr *tb[TRACE_ATTR_MAX + 1] = {};
        uint32_t code;

        if (mnl_attr_parse_nested(a, nlattr_collect, &(NlAttrs) { tb, TRACE_ATTR_MAX }) < 0 ||
            !nlattr_get_be32(tb[NFTA_VERDICT_CODE], &code))
                return -EBADMSG;
        t->has_verdict = true;
        t->verdict = (int32_t) code;
        copy_name(tb[NFTA_VERDICT_CHAIN], chain, NFT_TRACE_NAME_MAX);
        return 0;
}

/* The addresses and protocol from the network header, the ports from the transport header. */
static void parse_packet(const struct nlattr *tb[], NftTracePacket *p) {
        const uint8_t *nh, *th;
        size_t len;

        *p = (NftTracePacket) {};
        if (!tb[NFTA_TRACE_NETWORK_HEADER])
                return;
        nh = mnl_attr_get_payload(tb[NFTA_TRACE_NETWORK_HEADER]);
        len = mnl_attr_get_payload_len(tb[NFTA_TRACE_NETWORK_HEADER]);
        if (len >= 20 && nh[0] >> 4 == 4) {
                p->family = 4;
                p->l4proto = nh[9];
                memcpy(p->saddr, nh + 12, 4);
                memcpy(p->daddr, nh + 16, 4);
        } else if (len >= 40 && nh[0] >> 4 == 6) {
                p->family = 6;
                p->l4proto = nh[6];
                memcpy(p->saddr, nh + 8, 16);
                memcpy(p->daddr, nh + 24, 16);
        } else
                return;
        if (tb[NFTA_TRACE_TRANSPORT_HEADER] && mnl_attr_get_payload_len(tb[NFTA_TRACE_TRANSPORT_HEADER]) >= 4) {
                th = mnl_attr_get_payload(tb[NFTA_TRACE_TRANSPORT_HEADER]);
                p->has_ports = true;
                p->sport = (uint16_t) (th[0] << 8 | th[1]);
                p->dport = (uint16_t) (th[2] << 8 | th[3]);
        }
        /* prerouting and input know the way in, output and postrouting the way out; forward both */
        if (tb[NFTA_TRACE_IIF] && tb[NFTA_TRACE_OIF])
                p->direction = NFT_TRACE_DIR_FORWARD;
        else if (tb[NFTA_TRACE_IIF])
                p->direction = NFT_TRACE_DIR_IN;
        else if (tb[NFTA_TRACE_OIF])
                p->direction = NFT_TRACE_DIR_OUT;
}

void nft_trace_packet_text(const NftTracePacket *p, char buf[static NFT_TRACE_PACKET_TEXT_MAX]) {
        static const char *const directions[] = {
                [NFT_TRACE_DIR_UNKNOWN] = "", [NFT_TRACE_DIR_IN] = " in",
                [NFT_TRACE_DIR_OUT] = " out", [NFT_TRACE_DIR_FORWARD] = " forward",
        };
        char src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN], proto[16];
        int af = p->family == 4 ? AF_INET : AF_INET6;
        const char *name;

        buf[0] = 0;
        if (p->family != 4 && p->family != 6)
                return;
        if (!inet_ntop(af, p->saddr, src, sizeof(src)) || !inet_ntop(af, p->daddr, dst, sizeof(dst)))
                return;
        switch (p->l4proto) {
        case IPPROTO_UDP: name = "udp"; break;
        case IPPROTO_TCP: name = "tcp"; break;
        case IPPROTO_ICMP: name = "icmp"; break;
        case IPPROTO_ICMPV6: name = "icmpv6"; break;
        default:
                snprintf(proto, sizeof(proto), "proto %u", p->l4proto);
                name = proto;
        }
        if (p->has_ports && nflog_proto_has_ports(p->l4proto))
                snprintf(buf, NFT_TRACE_PACKET_TEXT_MAX, p->family == 4 ? "ipv4 %s %s:%u -> %s:%u%s" :
                         "ipv6 %s [%s]:%u -> [%s]:%u%s", name, src, p->sport, dst, p->dport,
                         directions[p->direction]);
        else
                snprintf(buf, NFT_TRACE_PACKET_TEXT_MAX, "ipv%d %s %s -> %s%s", p->family, name, src, dst,
                         directions[p->direction]);
}

/* "rule handle 12: drop", "policy drop", "jump x": what the chain did with the packet. */
static void verdict_text(NftTrace *t, const char *chain) {
        char rule[40] = "", name[16];
        int32_t v = t->verdict;

        if (t->rule_handle)
                snprintf(rule, sizeof(rule), "rule handle %" PRIu64 ": ", t->rule_handle);
        if (t->type == NFT_TRACETYPE_POLICY && t->has_policy)
                snprintf(t->verdict_text, sizeof(t->verdict_text), "policy %s",
                         verdict_name((int32_t) (t->policy & NF_VERDICT_MASK), name));
        else if (t->has_verdict && (v == NFT_JUMP || v == NFT_GOTO))
                snprintf(t->verdict_text, sizeof(t->verdict_text), "%s%s %s", rule, verdict_name(v, name), chain);
        else if (t->has_verdict)
                snprintf(t->verdict_text, sizeof(t->verdict_text), "%s%s", rule, verdict_name(v, name));
        utf8_make_valid(t->verdict_text);
}

int nft_trace_parse(const struct nlmsghdr *nlh, NftTrace *ret) {
        const struct nlattr *tb[TRACE_ATTR_MAX + 1] = {};
        char target[NFT_TRACE_NAME_MAX] = "";
        const struct nfgenmsg *nfg;
        const char *family;
        uint8_t dir;
        NftTrace t = { .ct_direction = -1 };

        if (nlh->nlmsg_len < NLMSG_HDRLEN ||
            nlh->nlmsg_type != (NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_TRACE))
                return -ENOMSG;
        nfg = nfnl_parse_attrs(nlh, tb, TRACE_ATTR_MAX);
        if (!nfg)
                return -EBADMSG;
        if (!nlattr_get_be32(tb[NFTA_TRACE_ID], &t.id) || !tb[NFTA_TRACE_TABLE])
                return -EBADMSG;

        t.table_family = nfg->nfgen_family;
        copy_name(tb[NFTA_TRACE_TABLE], t.table_name, sizeof(t.table_name));
        copy_name(tb[NFTA_TRACE_CHAIN], t.chain, sizeof(t.chain));
        family = nft_trace_family_name(t.table_family);
        if (family)
                snprintf(t.table, sizeof(t.table), "%s %s", family, t.table_name);
        else
                snprintf(t.table, sizeof(t.table), "family %u %s", t.table_family, t.table_name);
        utf8_make_valid(t.table);

        (void) nlattr_get_be32(tb[NFTA_TRACE_TYPE], &t.type);
        (void) get_be64(tb[NFTA_TRACE_RULE_HANDLE], &t.rule_handle);
        if (tb[NFTA_TRACE_VERDICT] && parse_verdict(tb[NFTA_TRACE_VERDICT], &t, target) < 0)
                return -EBADMSG;
        t.has_policy = nlattr_get_be32(tb[NFTA_TRACE_POLICY], &t.policy);
        if (t.type == NFT_TRACETYPE_POLICY)
                t.drop = t.has_policy && (t.policy & NF_VERDICT_MASK) == NF_DROP;
        else if (t.type == NFT_TRACETYPE_RULE)
                t.drop = t.has_verdict && t.verdict >= 0 && ((uint32_t) t.verdict & NF_VERDICT_MASK) == NF_DROP;
        verdict_text(&t, target);

        parse_packet(tb, &t.packet);
        t.has_packet = t.packet.family != 0;
        nft_trace_packet_text(&t.packet, t.packet_text);
        if (tb[TRACE_CT_DIRECTION] && mnl_attr_get_payload_len(tb[TRACE_CT_DIRECTION]) == 1) {
                dir = mnl_attr_get_u8(tb[TRACE_CT_DIRECTION]);
                if (dir <= 1)
                        t.ct_direction = dir;
        }
        *ret = t;
        return 0;
}
