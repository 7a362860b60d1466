/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-obstacles.c — the analysis of the other tables (nft_obstacles_find()), without root: on
 * the kernel's own dumps of real rulesets (tests/unit/obstacles/NAME.nft or NAME.rules, dumped by
 * make-dumps there into NAME.dump), on those dumps changed (a jump loop, cut short, bytes
 * flipped), and on messages built here (hostile names, many drops).
 */
#include <arpa/inet.h>
#include <endian.h>
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

#include "macro.h"
#include "obstacle-masks.h"
#include "obstacles.h"
#include "utf8.h"

typedef struct Expect {
        const char *table, *chain, *what, *hook;
        int32_t priority;
        uint32_t kinds, always;
} Expect;

/* ---- helpers ------------------------------------------------------------------------------- */

static void *load(const char *name, size_t *ret_len) {
        char path[512];
        FILE *f;
        char *buf;
        long n;

        snprintf(path, sizeof(path), "%s/%s.dump", OBSTACLES_DIR, name);
        f = fopen(path, "re");
        assert_non_null(f);
        assert_int_equal(fseek(f, 0, SEEK_END), 0);
        n = ftell(f);
        assert_true(n > 0);
        rewind(f);
        buf = aligned_alloc(16, ((size_t) n / 16 + 1) * 16); /* as a socket's buffer is */
        assert_non_null(buf);
        assert_int_equal(fread(buf, 1, (size_t) n, f), (size_t) n);
        fclose(f);
        *ret_len = (size_t) n;
        return buf;
}

/* What every result must be, whatever the input. */
static void check_invariants(const NftObstacles *o) {
        for (size_t i = 0; i < o->n; i++) {
                const NftObstacle *e = &o->entries[i];
                const char *texts[] = { e->table, e->chain, e->what, e->hook };

                for (size_t t = 0; t < ELEMENTSOF(texts); t++) {
                        assert_non_null(texts[t]);
                        assert_true(utf8_is_valid(texts[t]));
                        assert_true(strlen(texts[t]) <= NFT_OBSTACLE_TEXT_MAX);
                        for (const char *p = texts[t]; *p; p++)
                                assert_true((unsigned char) *p >= 0x20 && *p != 0x7f);
                }
                assert_int_not_equal(e->kinds, 0);
                assert_int_equal(e->kinds & ~NFT_DGRAM_ALL, 0);
                assert_int_equal(e->kinds_always & ~e->kinds, 0);
                if (i > 0)
                        assert_true(strcmp(o->entries[i - 1].table, e->table) <= 0);
        }
}

static NftObstacles *find(const void *buf, size_t len, const char *own) {
        NftObstacles *o = NULL, *again = NULL;

        assert_int_equal(nft_obstacles_find(buf, len, own, &o), 0);
        check_invariants(o);
        /* the same bytes, the same result */
        assert_int_equal(nft_obstacles_find(buf, len, own, &again), 0);
        assert_true(nft_obstacles_equal(o, again));
        nft_obstacles_free(again);
        return o;
}

static void print(const NftObstacles *o) {
        for (size_t i = 0; i < o->n; i++)
                print_message("  %s | %s | %s | %s %d | kinds=0x%03x always=0x%03x\n", o->entries[i].table,
                              o->entries[i].chain, o->entries[i].what, o->entries[i].hook, o->entries[i].priority,
                              o->entries[i].kinds, o->entries[i].kinds_always);
}

static void expect(const char *name, const Expect *want, size_t n_want) {
        _cleanup_(nft_obstacles_freep) NftObstacles *o = NULL;
        _cleanup_(freep) void *buf = NULL;
        size_t len;

        buf = load(name, &len);
        o = find(buf, len, "bfed");
        print_message("%s:\n", name);
        print(o);
        assert_int_equal(o->n_malformed, 0);
        assert_int_equal(o->n, n_want);
        for (size_t i = 0; i < n_want; i++) {
                const NftObstacle *e = &o->entries[i];

                assert_string_equal(e->table, want[i].table);
                assert_string_equal(e->chain, want[i].chain);
                assert_string_equal(e->what, want[i].what);
                assert_string_equal(e->hook, want[i].hook);
                assert_int_equal(e->priority, want[i].priority);
                assert_int_equal(e->kinds, want[i].kinds);
                assert_int_equal(e->kinds_always, want[i].always);
        }
}

/* ---- the fixtures -------------------------------------------------------------------------- */

static void test_policy_drop(void **state) {
        /* every inbound datagram, for certain; bfed's own table (in the namespace) is not in the dump */
        expect("inet-policy-drop", (Expect[]) { { "inet filter", "input", "policy drop", "input", 0, IN, IN } }, 1);
}

static void test_ufw(void **state) {
        /* new inbound IPv4 flows only: replies are accepted by conntrack; "may", as lo is accepted */
        const Expect want[] = { { "ip filter", "INPUT", "policy drop", "input", 0, IN_NEW & (V4_500 | V4_4500), 0 } };

        expect("ufw-nft", want, 1);
        /* the same, written by iptables-nft: xt conntrack matches, an xt REJECT target */
        expect("ufw", want, 1);
        /* ufw allowing 500 and 4500 (an xt multiport match), and an xt state match */
        expect("ufw-allows-ike", NULL, 0);
}

static void test_accepts_ike(void **state) {
        /* the first table accepts IKE before its policy drop; the second for IPv4 only */
        expect("accept-ike", (Expect[]) { { "inet v4only", "input", "policy drop", "input", 0, IN_NEW & V6_500,
                                            IN_NEW & V6_500 } }, 1);
}

static void test_xt(void **state) {
        /* the drop points of iptables-nft's matches: in the order the kinds reach them */
        expect("xt", (Expect[]) { { "ip filter", "INPUT",
                                    "rule handle 2: ct state new ct direction original udp dport { 400-600 } drop; "
                                    "rule handle 4: ct state established udp dport 500 drop; "
                                    "rule handle 3: fib daddr type local udp sport { 4500 } xt target REJECT",
                                    "input", 0, IN & (V4_500 | V4_4500), (IN & V4_500) | (IN_REPLY & V4_4500) } }, 1);
}

static void test_notrack(void **state) {
        /* DNS is untracked before conntrack; IKE is not, so replies are still "established" */
        expect("notrack", (Expect[]) { { "inet filter", "input", "policy drop", "input", 0,
                                         IN_NEW & (V4_500 | V6_500), IN_NEW & (V4_500 | V6_500) } }, 1);
}

static void test_tcp_only(void **state) {
        expect("tcp-only", NULL, 0);
}

static void test_firewalld(void **state) {
        /* new inbound flows meet the public zone's reject ("may": lo is accepted); the IPv6
         * reverse path filter lets them through (their source is routable) */
        expect("firewalld", (Expect[]) { { "inet firewalld", "filter_INPUT",
                                           "rule handle 30 in chain filter_IN_public: reject", "input", 10,
                                           IN_NEW, 0 } }, 1);
        expect("firewalld-ipsec", NULL, 0);
}

static void test_raw_prerouting(void **state) {
        /* before conntrack every datagram is "invalid", and ct direction matches none */
        expect("raw-prerouting", (Expect[]) {
                { "ip raw", "prerouting", "rule handle 2: udp dport 500 drop", "prerouting", -300,
                  IN & V4_500, IN & V4_500 },
                { "ip6 raw6", "prerouting", "rule handle 4: ip6 nexthdr udp ct state invalid drop", "prerouting", -300,
                  IN & V6_500, IN & V6_500 },
        }, 2);
}

static void test_vmap(void **state) {
        expect("vmap", (Expect[]) { { "inet vm", "input",
                                      "rule handle 5: udp dport vmap { 53 : jump dns, 500 : drop, 4500 : accept }",
                                      "input", 0, IN & (V4_500 | V6_500), IN & (V4_500 | V6_500) } }, 1);
}

static void test_named_sets(void **state) {
        /* 500 is in the interval 1-1000; 4500 is in the concatenated set with some addresses */
        expect("named-set", (Expect[]) { { "inet blockset", "input",
                                           "rule handle 4: udp dport @low drop; "
                                           "rule handle 5: ip saddr . udp dport @pairs reject",
                                           "input", 0, IN, IN & (V4_500 | V6_500) } }, 1);
}

static void test_output(void **state) {
        /* new outbound flows have dport 500 for certain; a reply's dport (the remote port) may be
         * anything; a nat chain sees new flows only */
        expect("output-drop", (Expect[]) {
                { "ip out", "nat_out", "rule handle 4: udp dport 4500 drop", "output", -100, OUT_NEW & V4_4500,
                  OUT_NEW & V4_4500 },
                { "ip out", "output", "rule handle 3: udp dport 500 drop", "output", 0,
                  ((OUT_NEW | OUT_REPLY) & V4_500) | (OUT_REPLY & V4_4500), OUT_NEW & V4_500 },
        }, 2);
}

static void test_other_families(void **state) {
        /* netdev ingress and bridge input count; forward and a dormant table do not */
        expect("other-families", (Expect[]) {
                { "bridge br", "input", "policy drop", "input", -200, IN, IN },
                { "netdev nd", "ingress", "rule handle 2: udp dport 4500 drop", "ingress", 0,
                  IN & V4_4500, IN & V4_4500 },
        }, 2);
}

static void test_jump_loop(void **state) {
        _cleanup_(nft_obstacles_freep) NftObstacles *o = NULL;
        _cleanup_(freep) void *buf = NULL;
        const struct nlmsghdr *nlh;
        size_t len, off = 0, patched = 0;

        expect("jump-loop", (Expect[]) { { "inet loop", "loop_a",
                                           "rule handle 5 in chain loop_c: udp dport 500 drop; "
                                           "rule handle 9: udp dport 4500 drop",
                                           "input", 0, IN, IN } }, 1);

        /* loop_c's jump to loop_z becomes a jump back to loop_a: loop_a, loop_b, loop_c, loop_a, … */
        buf = load("jump-loop", &len);
        for (; off + sizeof(*nlh) <= len; off += NLMSG_ALIGN(nlh->nlmsg_len)) {
                nlh = (const struct nlmsghdr *) ((char *) buf + off);
                assert_true(nlh->nlmsg_len >= sizeof(*nlh));
                if (NFNL_MSG_TYPE(nlh->nlmsg_type) != NFT_MSG_NEWRULE)
                        continue;
                for (char *p = (char *) buf + off; p + 7 <= (char *) buf + off + nlh->nlmsg_len; p++)
                        if (memcmp(p, "loop_z", 7) == 0) {
                                p[5] = 'a';
                                patched++;
                        }
        }
        assert_int_equal(patched, 1);
        o = find(buf, len, "bfed");
        print(o);
        /* it ends; what is before the loop still counts, and the rule after it may be reached */
        assert_int_equal(o->n, 1);
        assert_int_equal(o->entries[0].kinds, IN);
        assert_int_equal(o->entries[0].kinds_always, IN & (V4_500 | V6_500));
}

static void test_own_table(void **state) {
        _cleanup_(nft_obstacles_freep) NftObstacles *mine = NULL, *other = NULL;
        _cleanup_(freep) void *buf = NULL;
        size_t len;

        /* dumped as if bfed's table were called not-bfed: table inet bfed is in it */
        buf = load("own-table", &len);
        mine = find(buf, len, "bfed");
        other = find(buf, len, "not-bfed");
        assert_int_equal(mine->n, 1);
        assert_string_equal(mine->entries[0].table, "inet filter");
        assert_int_equal(other->n, 2);
        assert_string_equal(other->entries[0].table, "inet bfed");
        assert_string_equal(other->entries[0].chain, "inbound_transport");
        assert_int_equal(other->entries[0].priority, -10);
        assert_false(nft_obstacles_equal(mine, other));
        assert_false(nft_obstacles_equal(mine, NULL));
}

static void test_equal(void **state) {
        _cleanup_(nft_obstacles_freep) NftObstacles *none = NULL, *empty = NULL;

        assert_int_equal(nft_obstacles_find(NULL, 0, "bfed", &none), 0);
        assert_int_equal(none->n, 0);
        assert_true(nft_obstacles_equal(none, NULL));
        assert_true(nft_obstacles_equal(NULL, NULL));
        assert_int_equal(nft_obstacles_find("", 0, "bfed", &empty), 0);
        assert_true(nft_obstacles_equal(none, empty));
        assert_int_equal(nft_obstacles_find(NULL, 1, "bfed", &empty), -EINVAL);
        assert_int_equal(nft_obstacles_find("", 0, NULL, &empty), -EINVAL);
}

static void test_dgram(void **state) {
        assert_int_equal(nft_dgram_of(false, 500, false, false), NFT_DGRAM(0, false, false));
        assert_int_equal(nft_dgram_of(false, 4500, true, true), NFT_DGRAM(1, true, true));
        assert_int_equal(nft_dgram_of(true, 500, true, false), NFT_DGRAM(2, true, false));
        assert_int_equal(nft_dgram_of(true, 4500, false, false), -1);
        assert_int_equal(nft_dgram_of(false, 53, false, false), -1);
        assert_string_equal(nft_dgram_name(NFT_DGRAM(1, true, true)), "IPv4 UDP 4500 outbound, reply");
        assert_string_equal(nft_dgram_name(NFT_DGRAM(2, false, false)), "IPv6 UDP 500 inbound, new flow");
        assert_null(nft_dgram_name(_NFT_DGRAM_MAX));
}

/* ---- hostile input ------------------------------------------------------------------------- */

static const char *const fixtures[] = {
        "accept-ike", "firewalld", "firewalld-ipsec", "inet-policy-drop", "jump-loop", "named-set", "notrack",
        "other-families", "output-drop", "own-table", "raw-prerouting", "tcp-only", "ufw", "ufw-allows-ike", "ufw-nft",
        "vmap", "xt",
};

static void test_cut_short(void **state) {
        for (size_t f = 0; f < ELEMENTSOF(fixtures); f++) {
                _cleanup_(freep) void *buf = NULL;
                size_t len;

                buf = load(fixtures[f], &len);
                for (size_t n = 0; n < len; n++) {
                        NftObstacles *o = NULL;

                        assert_int_equal(nft_obstacles_find(buf, n, "bfed", &o), 0);
                        check_invariants(o);
                        nft_obstacles_free(o);
                }
        }
}

static void test_flipped(void **state) {
        uint32_t seed = 12345;

        for (size_t f = 0; f < ELEMENTSOF(fixtures); f++) {
                _cleanup_(freep) void *buf = NULL;
                size_t len;

                buf = load(fixtures[f], &len);
                for (unsigned round = 0; round < 300; round++) {
                        _cleanup_(freep) uint8_t *copy = aligned_alloc(16, (len / 16 + 1) * 16);
                        NftObstacles *o;

                        assert_non_null(copy);
                        memcpy(copy, buf, len);
                        for (unsigned k = 0; k < 1 + round % 4; k++) {
                                seed = seed * 1103515245 + 12345;
                                copy[(seed >> 8) % len] ^= (uint8_t) (1u << (seed % 8));
                        }
                        o = find(copy, len, "bfed");
                        nft_obstacles_free(o);
                }
        }
}

/* ---- built messages ------------------------------------------------------------------------ */

static struct nlmsghdr *msg(char *buf, size_t *off, uint16_t type, uint8_t family, const char *table) {
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf + *off);
        struct nfgenmsg *nfg;

        nlh->nlmsg_type = (uint16_t) (NFNL_SUBSYS_NFTABLES << 8 | type);
        nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
        nfg->nfgen_family = family;
        mnl_attr_put_strz(nlh, 1, table);
        return nlh;
}

static void msg_end(size_t *off, struct nlmsghdr *nlh) {
        *off += NLMSG_ALIGN(nlh->nlmsg_len);
}

static void put_data(struct nlmsghdr *nlh, uint16_t type, const void *v, size_t n) {
        struct nlattr *d = mnl_attr_nest_start(nlh, type);

        mnl_attr_put(nlh, NFTA_DATA_VALUE, n, v);
        mnl_attr_nest_end(nlh, d);
}

/* An expression of a rule's list: its name, then its data's attributes, then expr_end(). */
static struct nlattr *expr_begin(struct nlmsghdr *nlh, const char *name, struct nlattr **ret_data) {
        struct nlattr *e = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);

        mnl_attr_put_strz(nlh, NFTA_EXPR_NAME, name);
        *ret_data = mnl_attr_nest_start(nlh, NFTA_EXPR_DATA);
        return e;
}

static void expr_end(struct nlmsghdr *nlh, struct nlattr *e, struct nlattr *data) {
        mnl_attr_nest_end(nlh, data);
        mnl_attr_nest_end(nlh, e);
}

/* "meta mark @mark drop" (@mark 0: "drop") */
static void put_rule(struct nlmsghdr *nlh, uint32_t mark) {
        struct nlattr *list = mnl_attr_nest_start(nlh, NFTA_RULE_EXPRESSIONS), *e, *data, *v, *vv;

        if (mark) {
                e = expr_begin(nlh, "meta", &data);
                mnl_attr_put_u32(nlh, NFTA_META_DREG, htonl(NFT_REG_1));
                mnl_attr_put_u32(nlh, NFTA_META_KEY, htonl(NFT_META_MARK));
                expr_end(nlh, e, data);
                e = expr_begin(nlh, "cmp", &data);
                mnl_attr_put_u32(nlh, NFTA_CMP_SREG, htonl(NFT_REG_1));
                mnl_attr_put_u32(nlh, NFTA_CMP_OP, htonl(NFT_CMP_EQ));
                put_data(nlh, NFTA_CMP_DATA, &mark, sizeof(mark));
                expr_end(nlh, e, data);
        }
        e = expr_begin(nlh, "immediate", &data);
        mnl_attr_put_u32(nlh, NFTA_IMMEDIATE_DREG, htonl(NFT_REG_VERDICT));
        v = mnl_attr_nest_start(nlh, NFTA_IMMEDIATE_DATA);
        vv = mnl_attr_nest_start(nlh, NFTA_DATA_VERDICT);
        mnl_attr_put_u32(nlh, NFTA_VERDICT_CODE, htonl(NF_DROP));
        mnl_attr_nest_end(nlh, vv);
        mnl_attr_nest_end(nlh, v);
        expr_end(nlh, e, data);
        mnl_attr_nest_end(nlh, list);
}

/* Names that are no UTF-8 and hold control characters, and more drops than the text takes. */
static void test_hostile_names(void **state) {
        static const char table[] = "t\xff\xfe\x01", chain[] = "in\x1b[31m\xc3";
        _cleanup_(nft_obstacles_freep) NftObstacles *o = NULL;
        _cleanup_(freep) char *buf = aligned_alloc(16, 1 << 20);
        struct nlmsghdr *nlh;
        struct nlattr *hook;
        size_t off = 0;

        assert_non_null(buf);
        memset(buf, 0, 1 << 20);
        nlh = msg(buf, &off, NFT_MSG_NEWTABLE, NFPROTO_INET, table);
        msg_end(&off, nlh);
        nlh = msg(buf, &off, NFT_MSG_NEWCHAIN, NFPROTO_INET, table);
        mnl_attr_put_strz(nlh, NFTA_CHAIN_NAME, chain);
        hook = mnl_attr_nest_start(nlh, NFTA_CHAIN_HOOK);
        mnl_attr_put_u32(nlh, NFTA_HOOK_HOOKNUM, htonl(NF_INET_LOCAL_OUT));
        mnl_attr_put_u32(nlh, NFTA_HOOK_PRIORITY, htonl(0));
        mnl_attr_nest_end(nlh, hook);
        mnl_attr_put_u32(nlh, NFTA_CHAIN_POLICY, htonl(NF_DROP));
        msg_end(&off, nlh);
        for (uint32_t i = 1; i <= 100; i++) {
                nlh = msg(buf, &off, NFT_MSG_NEWRULE, NFPROTO_INET, table);
                mnl_attr_put_strz(nlh, NFTA_RULE_CHAIN, chain);
                mnl_attr_put_u64(nlh, NFTA_RULE_HANDLE, htobe64(i));
                put_rule(nlh, i);
                msg_end(&off, nlh);
        }
        nlh = msg(buf, &off, NFT_MSG_NEWRULE, NFPROTO_INET, table);
        mnl_attr_put_strz(nlh, NFTA_RULE_CHAIN, chain);
        mnl_attr_put_u64(nlh, NFTA_RULE_HANDLE, htobe64(1000));
        put_rule(nlh, 0);
        msg_end(&off, nlh);

        o = find(buf, off, "bfed");
        print(o);
        assert_int_equal(o->n_malformed, 0);
        assert_int_equal(o->n, 1);
        assert_string_equal(o->entries[0].table, "inet t???");
        assert_string_equal(o->entries[0].chain, "in?[31m"); /* a character cut off at the end goes */
        assert_true(startswith(o->entries[0].what, "rule handle 1: meta mark 0x00000001 drop; rule handle 2:"));
        assert_true(strlen(o->entries[0].what) > NFT_OBSTACLE_TEXT_MAX - 10);
        assert_true(strstr(o->entries[0].what, "…") != NULL);
        /* the last rule drops what the marks left (so nothing for certain), and the policy is
         * never reached */
        assert_int_equal(o->entries[0].kinds, OUT_NEW | OUT_REPLY);
        assert_int_equal(o->entries[0].kinds_always, 0);
        assert_null(strstr(o->entries[0].what, "policy"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_policy_drop),
                cmocka_unit_test(test_ufw),
                cmocka_unit_test(test_accepts_ike),
                cmocka_unit_test(test_xt),
                cmocka_unit_test(test_notrack),
                cmocka_unit_test(test_tcp_only),
                cmocka_unit_test(test_firewalld),
                cmocka_unit_test(test_raw_prerouting),
                cmocka_unit_test(test_vmap),
                cmocka_unit_test(test_named_sets),
                cmocka_unit_test(test_output),
                cmocka_unit_test(test_other_families),
                cmocka_unit_test(test_jump_loop),
                cmocka_unit_test(test_own_table),
                cmocka_unit_test(test_equal),
                cmocka_unit_test(test_dgram),
                cmocka_unit_test(test_cut_short),
                cmocka_unit_test(test_flipped),
                cmocka_unit_test(test_hostile_names),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
