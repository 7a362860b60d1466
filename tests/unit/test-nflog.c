/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-nflog.c — nflog.c: the message that binds the log group, and the parser of what the kernel
 * logs, on messages made here (every field, IPv6's extension headers, fragments, text that is no
 * text, bad lengths) and on the kernel's own (the seeds of fuzz-nflog, make-nflog-seeds).
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nflog.h"
#include "utf8.h"

static _Alignas(16) char buf[4096];

/* A packet message: the family in nfgenmsg, then attributes added by the caller. */
static struct nlmsghdr *packet_msg(uint8_t family) {
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        struct nfgenmsg *nfg;

        nlh->nlmsg_type = NFNL_SUBSYS_ULOG << 8 | NFULNL_MSG_PACKET;
        nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
        nfg->nfgen_family = family;
        nfg->version = NFNETLINK_V0;
        nfg->res_id = htons(0xbfed);
        return nlh;
}

static void put_hook(struct nlmsghdr *nlh, uint8_t hook) {
        struct nfulnl_msg_packet_hdr h = { .hook = hook };

        mnl_attr_put(nlh, NFULA_PACKET_HDR, sizeof(h), &h);
}

/* An IPv4 header (20 bytes) for protocol @proto, fragment offset @frag, then @l4 (@n bytes). */
static size_t ipv4(uint8_t *p, uint8_t proto, uint16_t frag, const uint8_t *l4, size_t n) {
        memset(p, 0, 20);
        p[0] = 0x45;
        p[6] = (uint8_t) (frag >> 8);
        p[7] = (uint8_t) frag;
        p[9] = proto;
        memcpy(p + 12, (uint8_t[]) { 192, 0, 2, 2 }, 4);
        memcpy(p + 16, (uint8_t[]) { 192, 0, 2, 1 }, 4);
        memcpy(p + 20, l4, n);
        return 20 + n;
}

static const uint8_t udp_ports[] = { 0x9c, 0x41, 0x1b, 0x59, 0, 12, 0, 0 };   /* 40001 -> 7001 */

static void test_config(void **state) {
        const struct nlattr *a, *tb[NFULA_CFG_MAX + 1] = {};
        NflogConfig c = { .group = 0xbfed, .copy_range = NFLOG_COPY_RANGE, .qthreshold = 32, .timeout_cs = 5,
                          .seq = true };
        struct nlmsghdr *nlh = nflog_build_config(buf, &c, 7);
        const struct nfgenmsg *nfg = mnl_nlmsg_get_payload(nlh);
        const struct nfulnl_msg_config_mode *mode;
        const struct nfulnl_msg_config_cmd *cmd;

        assert_true(nlh->nlmsg_len <= NFLOG_CONFIG_MSG_MAX);
        assert_int_equal(nlh->nlmsg_type, NFNL_SUBSYS_ULOG << 8 | NFULNL_MSG_CONFIG);
        assert_int_equal(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
        assert_int_equal(nlh->nlmsg_seq, 7);
        assert_int_equal(ntohs(nfg->res_id), 0xbfed);
        mnl_attr_for_each(a, nlh, sizeof(*nfg))
                tb[mnl_attr_get_type(a)] = a;
        cmd = mnl_attr_get_payload(tb[NFULA_CFG_CMD]);
        assert_int_equal(cmd->command, NFULNL_CFG_CMD_BIND);
        mode = mnl_attr_get_payload(tb[NFULA_CFG_MODE]);
        assert_int_equal(ntohl(mode->copy_range), NFLOG_COPY_RANGE);
        assert_int_equal(mode->copy_mode, NFULNL_COPY_PACKET);
        assert_int_equal(ntohl(mnl_attr_get_u32(tb[NFULA_CFG_QTHRESH])), 32);
        assert_int_equal(ntohl(mnl_attr_get_u32(tb[NFULA_CFG_TIMEOUT])), 5);
        assert_int_equal(ntohs(mnl_attr_get_u16(tb[NFULA_CFG_FLAGS])), NFULNL_CFG_F_SEQ);
        assert_null(tb[NFULA_CFG_NLBUFSIZ]);
}

static void test_ipv4(void **state) {
        struct nfulnl_msg_packet_timestamp ts = { .sec = htobe64(1700000000), .usec = htobe64(7) };
        struct nlmsghdr *nlh = packet_msg(NFPROTO_IPV4);
        uint8_t pkt[64];
        NflogPacket p;

        put_hook(nlh, NF_INET_LOCAL_IN);
        mnl_attr_put_strz(nlh, NFULA_PREFIX, "bfed 17");
        mnl_attr_put_u32(nlh, NFULA_SEQ, htonl(41));
        mnl_attr_put(nlh, NFULA_TIMESTAMP, sizeof(ts), &ts);
        mnl_attr_put(nlh, NFULA_PAYLOAD, ipv4(pkt, IPPROTO_UDP, 0, udp_ports, 8), pkt);
        assert_int_equal(nflog_parse(nlh, &p), 0);
        assert_int_equal(p.family, 4);
        assert_int_equal(p.hook, NF_INET_LOCAL_IN);
        assert_string_equal(p.prefix, "bfed 17");
        assert_true(p.has_seq);
        assert_int_equal(p.seq, 41);
        assert_int_equal(p.time_usec, 1700000000ULL * 1000000 + 7);
        assert_int_equal(p.l4proto, IPPROTO_UDP);
        assert_memory_equal(p.saddr, ((uint8_t[]) { 192, 0, 2, 2 }), 4);
        assert_memory_equal(p.daddr, ((uint8_t[]) { 192, 0, 2, 1 }), 4);
        assert_true(p.has_ports);
        assert_int_equal(p.sport, 40001);
        assert_int_equal(p.dport, 7001);

        /* a later fragment has no ports; nor has a header too short for them */
        nlh = packet_msg(NFPROTO_IPV4);
        mnl_attr_put(nlh, NFULA_PAYLOAD, ipv4(pkt, IPPROTO_UDP, 0x00b9, udp_ports, 8), pkt);
        assert_int_equal(nflog_parse(nlh, &p), 0);
        assert_int_equal(p.family, 4);
        assert_false(p.has_ports);
        assert_int_equal(p.hook, 0xff);         /* not given */
        assert_false(p.has_seq);
        assert_int_equal(p.time_usec, 0);
        nlh = packet_msg(NFPROTO_IPV4);
        mnl_attr_put(nlh, NFULA_PAYLOAD, ipv4(pkt, IPPROTO_UDP, 0, udp_ports, 3), pkt);
        assert_int_equal(nflog_parse(nlh, &p), 0);
        assert_false(p.has_ports);
        assert_true(nflog_proto_has_ports(IPPROTO_UDP) && nflog_proto_has_ports(IPPROTO_TCP));
        assert_false(nflog_proto_has_ports(IPPROTO_ICMP));
}

/* IPv6 from 2001:db8::2 to 2001:db8::1, extension headers @ext (@n bytes, the first @first). */
static size_t ipv6(uint8_t *p, uint8_t first, const uint8_t *ext, size_t n, const uint8_t *l4, size_t l4n) {
        memset(p, 0, 40);
        p[0] = 0x60;
        p[6] = first;
        p[8] = 0x20, p[9] = 0x01, p[10] = 0x0d, p[11] = 0xb8, p[23] = 2;
        p[24] = 0x20, p[25] = 0x01, p[26] = 0x0d, p[27] = 0xb8, p[39] = 1;
        if (n > 0)      /* memcpy() of nothing from NULL is still undefined */
                memcpy(p + 40, ext, n);
        memcpy(p + 40 + n, l4, l4n);
        return 40 + n + l4n;
}

static NflogPacket parse_ipv6(uint8_t first, const uint8_t *ext, size_t n) {
        struct nlmsghdr *nlh = packet_msg(NFPROTO_IPV6);
        uint8_t pkt[256];
        NflogPacket p;

        mnl_attr_put(nlh, NFULA_PAYLOAD, ipv6(pkt, first, ext, n, udp_ports, 8), pkt);
        assert_int_equal(nflog_parse(nlh, &p), 0);
        return p;
}

static void test_ipv6(void **state) {
        /* hop-by-hop (8 bytes), destination options (16), the first fragment, AH (12), then UDP */
        static const uint8_t chain[] = {
                IPPROTO_DSTOPTS, 0, 0, 0, 0, 0, 0, 0,
                IPPROTO_FRAGMENT, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                IPPROTO_AH, 0, 0x00, 0x01, 0, 0, 0, 9,
                IPPROTO_UDP, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        };
        static const uint8_t later[] = { IPPROTO_UDP, 0, 0x05, 0x09, 0, 0, 0, 9 };
        static const uint8_t cut[] = { IPPROTO_UDP, 9 };   /* says 80 bytes, has 2 */
        NflogPacket p;

        p = parse_ipv6(IPPROTO_UDP, NULL, 0);
        assert_int_equal(p.family, 6);
        assert_int_equal(p.l4proto, IPPROTO_UDP);
        assert_int_equal(p.saddr[15], 2);
        assert_int_equal(p.daddr[15], 1);
        assert_true(p.has_ports && p.sport == 40001 && p.dport == 7001);

        p = parse_ipv6(IPPROTO_HOPOPTS, chain, sizeof(chain));
        assert_int_equal(p.l4proto, IPPROTO_UDP);
        assert_true(p.has_ports && p.sport == 40001 && p.dport == 7001);

        p = parse_ipv6(IPPROTO_FRAGMENT, later, sizeof(later));     /* not the first fragment */
        assert_int_equal(p.family, 6);
        assert_false(p.has_ports);

        p = parse_ipv6(IPPROTO_ROUTING, cut, sizeof(cut));
        assert_false(p.has_ports);

        /* the header's family and the packet's differ: no packet */
        {
                struct nlmsghdr *nlh = packet_msg(NFPROTO_IPV6);
                uint8_t pkt[64];

                mnl_attr_put(nlh, NFULA_PAYLOAD, ipv4(pkt, IPPROTO_UDP, 0, udp_ports, 8), pkt);
                assert_int_equal(nflog_parse(nlh, &p), 0);
                assert_int_equal(p.family, 0);
                assert_false(p.has_ports);
        }
}

static void test_prefix_text(void **state) {
        char long_prefix[300];
        struct nlmsghdr *nlh;
        NflogPacket p;

        nlh = packet_msg(NFPROTO_IPV4);
        mnl_attr_put(nlh, NFULA_PREFIX, 9, "bfed\x01\xff\x7f" "1");    /* no NUL, a control, not UTF-8, DEL */
        assert_int_equal(nflog_parse(nlh, &p), 0);
        assert_string_equal(p.prefix, "bfed???1");
        assert_int_equal(p.family, 0);                                  /* no payload */

        memset(long_prefix, 'x', sizeof(long_prefix));
        nlh = packet_msg(NFPROTO_IPV4);
        mnl_attr_put(nlh, NFULA_PREFIX, sizeof(long_prefix), long_prefix);
        assert_int_equal(nflog_parse(nlh, &p), 0);
        assert_int_equal(strlen(p.prefix), NFLOG_PREFIX_MAX - 1);

        nlh = packet_msg(NFPROTO_IPV4);
        mnl_attr_put(nlh, NFULA_PREFIX, 6, "bf\0ed");                  /* up to the NUL */
        assert_int_equal(nflog_parse(nlh, &p), 0);
        assert_string_equal(p.prefix, "bf");
}

static void test_bad(void **state) {
        struct nfulnl_msg_packet_timestamp ts = {};
        struct nlmsghdr *nlh;
        NflogPacket p;

        nlh = packet_msg(NFPROTO_IPV4);
        mnl_attr_put(nlh, NFULA_PACKET_HDR, 2, "\0\0");
        assert_int_equal(nflog_parse(nlh, &p), -EBADMSG);
        nlh = packet_msg(NFPROTO_IPV4);
        mnl_attr_put_u16(nlh, NFULA_SEQ, 1);
        assert_int_equal(nflog_parse(nlh, &p), -EBADMSG);
        nlh = packet_msg(NFPROTO_IPV4);
        mnl_attr_put(nlh, NFULA_TIMESTAMP, sizeof(ts) - 1, &ts);
        assert_int_equal(nflog_parse(nlh, &p), -EBADMSG);
        nlh = packet_msg(NFPROTO_IPV4);
        nlh->nlmsg_len = NLMSG_HDRLEN + 2;              /* no room for nfgenmsg */
        assert_int_equal(nflog_parse(nlh, &p), -EBADMSG);
        /* an attribute cut short by the message's end is no attribute (libmnl's walk stops) */
        nlh = packet_msg(NFPROTO_IPV4);
        mnl_attr_put_strz(nlh, NFULA_PREFIX, "bfed 1");
        nlh->nlmsg_len -= 6;                            /* 12 bytes with padding, 6 left */
        assert_int_equal(nflog_parse(nlh, &p), 0);
        assert_string_equal(p.prefix, "");

        /* not a logged packet: an ack, or another subsystem's message */
        nlh = packet_msg(NFPROTO_IPV4);
        nlh->nlmsg_type = NLMSG_ERROR;
        assert_int_equal(nflog_parse(nlh, &p), -ENOMSG);
        nlh->nlmsg_type = NFNL_SUBSYS_ULOG << 8 | NFULNL_MSG_CONFIG;
        assert_int_equal(nflog_parse(nlh, &p), -ENOMSG);
}

/* The kernel's own messages (tests/fuzz/make-nflog-seeds): rules with bfed's log statements. */
static NflogPacket seed(const char *name) {
        char path[512];
        NflogPacket p;
        FILE *f;
        size_t n;

        snprintf(path, sizeof(path), "%s/%s", SEEDS_DIR, name);
        f = fopen(path, "re");
        if (!f)
                fail_msg("missing seed %s", path);
        n = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        assert_true(n >= NLMSG_HDRLEN && ((struct nlmsghdr *) buf)->nlmsg_len == n);
        assert_int_equal(nflog_parse((struct nlmsghdr *) buf, &p), 0);
        assert_true(utf8_is_valid(p.prefix));
        return p;
}

static void test_kernel_messages(void **state) {
        NflogPacket p;

        p = seed("udp4-nflog-1");
        assert_string_equal(p.prefix, "bfed 1");
        assert_true(p.family == 4 && p.hook == NF_INET_LOCAL_IN && p.l4proto == IPPROTO_UDP);
        assert_true(p.has_ports && p.sport == 40001 && p.dport == 7001);
        assert_true(p.has_seq && p.seq == 0);
        assert_memory_equal(p.daddr, ((uint8_t[]) { 10, 209, 0, 1 }), 4);

        p = seed("run-udp-nflog-1");
        assert_string_equal(p.prefix, "bfed run 1");
        assert_int_equal(p.dport, 7002);

        p = seed("udp6-nflog-2");
        assert_true(p.family == 6 && p.has_ports && p.dport == 7002 && p.sport == 40006);
        assert_int_equal(p.seq, 1);

        p = seed("tcp-nflog-1");
        assert_true(p.l4proto == IPPROTO_TCP && p.has_ports && p.dport == 7003);

        p = seed("icmp-nflog-1");
        assert_true(p.family == 4 && p.l4proto == IPPROTO_ICMP);
        p = seed("icmp6-nflog-1");
        assert_true(p.family == 6 && p.l4proto == IPPROTO_ICMPV6);

        /* an IPv6 datagram in fragments: the first has the ports, the next none */
        p = seed("frag6-nflog-1");
        assert_true(p.family == 6 && p.l4proto == IPPROTO_UDP && p.has_ports && p.dport == 7009);
        p = seed("frag6-nflog-2");
        assert_true(p.family == 6 && !p.has_ports);

        p = seed("out-nflog-1");
        assert_true(p.hook == NF_INET_LOCAL_OUT && p.dport == 7005 && p.sport == 40005);
        assert_string_equal(p.prefix, "bfed 6");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_config),
                cmocka_unit_test(test_ipv4),
                cmocka_unit_test(test_ipv6),
                cmocka_unit_test(test_prefix_text),
                cmocka_unit_test(test_bad),
                cmocka_unit_test(test_kernel_messages),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
