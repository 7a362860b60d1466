/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * rule-commit — the kernel's cost of the batch that turns the IKE/AuthIP exemptions on (P4 of
 * the benchmark): 14 rules like bfed's in 8 chains, written in a few variants, through libnftnl
 * batches on a netlink socket. What P4's time is made of, and what each way of writing the
 * exemptions would save.
 *
 *   rule-commit [--samples N] [--only NAME[,NAME...]]
 *
 * Variants (each in a table of its own, `inet rule_commit_NAME`, with no base chain):
 *   bfed        the rules as bfed writes them: `meta l4proto . th dport @ike_ports` (4 rules), or
 *               that and one more condition (`meta skuid 0`, a load and a compare: 10 rules),
 *               `counter accept`; every NEWRULE asks for an echo (bfed learns the rule's handle
 *               from it) and a second socket is in the nftables event group (bfed's table monitor)
 *   no-echo     as bfed, without the echo: the listener still makes the kernel build every
 *               rule's notification
 *   quiet       no echo and no listener: the kernel builds no notification at all
 *   echo-quiet  an echo of every rule, no listener: bfed's batch where nothing on the host listens
 *   last-echo   no listener, an echo of the last rule only: what bfed would need to learn every
 *               handle if the kernel's handles of one batch are consecutive (in Linux 6.18 they
 *               are: one counter per table, and the batch holds the commit mutex)
 *   folded      as bfed, the extra condition folded into the set's key (`meta l4proto . th dport
 *               . meta skuid @ike_ports_uid`): one expression fewer in 10 of the 14 rules
 *   no-counter  as bfed, without the counter
 * The samples take the variants in turn, so a slow spell of the machine hits them all alike. A
 * sample is one batch of the 14 NEWRULEs, timed from the send to the acknowledgement of its last
 * message (which comes after the commit and after the echoes), then one batch that flushes the
 * 8 chains, timed the same way. Run it in a throwaway network namespace: the tables are deleted
 * at the end. The quiet variants are quiet only where no other socket of the host, in whatever
 * namespace, is in the nftables group: the kernel counts the group's listeners per protocol.
 *
 * Prints one line per variant:
 *   RULES NAME exprs N add_median_us X add_p90_us X flush_median_us X flush_p90_us X
 * Exits 0; 1 on a failure; 2 on bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "bench-nl.h"
#include "bench-util.h"

#define BATCH_BUF       (1u << 16)
#define N_CHAINS        8u
#define N_RULES         14u
#define TYPE_BITS       6               /* nft's concatenated datatype encoding */
#define TYPE_INET_PROTO 12u
#define TYPE_INET_SERV  13u
#define TYPE_UID        42u

typedef struct Variant {
        const char *name;
        bool echo, last_echo, listener, folded, counter;
} Variant;

static const Variant variants[] = {
        { "bfed",       .echo = true,  .listener = true,  .folded = false, .counter = true },
        { "no-echo",    .echo = false, .listener = true,  .folded = false, .counter = true },
        { "quiet",      .echo = false, .listener = false, .folded = false, .counter = true },
        { "last-echo",  .echo = false, .last_echo = true, .listener = false, .folded = false, .counter = true },
        { "echo-quiet", .echo = true,  .listener = false, .folded = false, .counter = true },
        { "folded",     .echo = true,  .listener = true,  .folded = true,  .counter = true },
        { "no-counter", .echo = true,  .listener = true,  .folded = false, .counter = false },
};
#define N_VARIANTS (sizeof(variants) / sizeof(variants[0]))

static NlBench nb;
static struct mnl_socket *listener;

static void table_name(const Variant *v, char name[static 64]) {
        snprintf(name, 64, "rule_commit_%s", v->name);
        for (char *p = name; *p; p++)
                if (*p == '-')
                        *p = '_';
}

/* Reads what the listener has queued, so its socket never overruns. */
static void drain_listener(void) {
        char rbuf[MNL_SOCKET_BUFFER_SIZE];

        while (listener && recv(mnl_socket_get_fd(listener), rbuf, sizeof(rbuf), MSG_DONTWAIT) > 0)
                ;
}

/* ---- the objects ----------------------------------------------------------------------------- */

static struct nftnl_expr *cmp_u32(uint32_t reg, uint32_t value) {
        struct nftnl_expr *e = nftnl_expr_alloc("cmp");

        nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, reg);
        nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, NFT_CMP_EQ);
        nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, &value, sizeof(value));
        return e;
}

static struct nftnl_expr *lookup(const char *set, uint32_t id) {
        struct nftnl_expr *e = nftnl_expr_alloc("lookup");

        nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG32_00);
        nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
        nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, id);
        return e;
}

static struct nftnl_expr *accept_verdict(void) {
        struct nftnl_expr *e = nftnl_expr_alloc("immediate");

        nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
        nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, NF_ACCEPT);
        return e;
}

static void put(struct nftnl_rule *ru, struct nftnl_expr *e, unsigned *n) {
        nftnl_rule_add_expr(ru, e);
        (*n)++;
}

static void chain_name(unsigned i, char name[static 16]) {
        snprintf(name, 16, "layer_%u", i);
}

/* A comment of the length of bfed's exemption comments, in the rule's userdata as nft keeps it. */
static void comment(struct nftnl_rule *ru, unsigned i) {
        struct nftnl_udata_buf *u = nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN);
        char text[128];

        snprintf(text, sizeof(text), "filter %u: IKE/AuthIP exemption: IPv4 UDP 500/4500, inbound, remote port of a "
                 "flow this host started", i + 2);
        nftnl_udata_put_strz(u, 0 /* NFTNL_UDATA_RULE_COMMENT */, text);
        nftnl_rule_set_data(ru, NFTNL_RULE_USERDATA, nftnl_udata_buf_data(u), nftnl_udata_buf_len(u));
        nftnl_udata_buf_free(u);
}

/* Rule @i: in chain i % 8 (two rules in six chains, one in two, as bfed's 14 in its 8 layer
 * chains); rules 0–3 plain, the others with the extra condition. Return: its expressions. */
static unsigned build_rule(const Variant *v, const char *table, unsigned i, struct nftnl_rule *ru) {
        bool extra = i >= 4;
        unsigned n = 0;
        char chain[16];

        chain_name(i % N_CHAINS, chain);
        nftnl_rule_set_str(ru, NFTNL_RULE_TABLE, table);
        nftnl_rule_set_str(ru, NFTNL_RULE_CHAIN, chain);
        nftnl_rule_set_u32(ru, NFTNL_RULE_FAMILY, NFPROTO_INET);
        put(ru, nl_expr_meta(NFT_META_L4PROTO, NFT_REG32_00), &n);
        put(ru, nl_expr_payload(NFT_PAYLOAD_TRANSPORT_HEADER, i % 2 ? 0 : 2, 2, NFT_REG32_01), &n); /* th port */
        if (extra && v->folded) {
                put(ru, nl_expr_meta(NFT_META_SKUID, NFT_REG32_02), &n);
                put(ru, lookup("ike_ports_uid", 2), &n);
        } else {
                put(ru, lookup("ike_ports", 1), &n);
                if (extra) {
                        put(ru, nl_expr_meta(NFT_META_SKUID, NFT_REG32_00), &n);
                        put(ru, cmp_u32(NFT_REG32_00, 0), &n);
                }
        }
        if (v->counter)
                put(ru, nftnl_expr_alloc("counter"), &n);
        put(ru, accept_verdict(), &n);
        comment(ru, i);
        return n;
}

/* A set keyed l4proto . port (. uid with @uid), with UDP 500 and 4500 (and uid 0). */
static void put_set(NlBatch *b, const char *table, const char *name, uint32_t id, bool uid) {
        struct nftnl_set *s = nftnl_set_alloc();
        uint8_t concat[3] = { 1, 2, 4 };

        nftnl_set_set_str(s, NFTNL_SET_TABLE, table);
        nftnl_set_set_str(s, NFTNL_SET_NAME, name);
        nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
        nftnl_set_set_u32(s, NFTNL_SET_ID, id);
        nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_CONSTANT | NFT_SET_CONCAT);
        nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE,
                          uid ? (TYPE_INET_PROTO << TYPE_BITS | TYPE_INET_SERV) << TYPE_BITS | TYPE_UID
                              : TYPE_INET_PROTO << TYPE_BITS | TYPE_INET_SERV);
        nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, uid ? 12 : 8);
        nftnl_set_set_data(s, NFTNL_SET_DESC_CONCAT, concat, uid ? 3 : 2);
        for (unsigned k = 0; k < 2; k++) {
                struct nftnl_set_elem *el = nftnl_set_elem_alloc();
                uint8_t key[12] = { IPPROTO_UDP };
                uint16_t port = htons(k ? 4500 : 500);

                memcpy(key + 4, &port, 2);
                nftnl_set_elem_set(el, NFTNL_SET_ELEM_KEY, key, uid ? 12 : 8);
                nftnl_set_elem_add(s, el);
        }
        nftnl_set_nlmsg_build_payload(nl_batch_msg(b, NFT_MSG_NEWSET, NLM_F_CREATE), s);
        (void) nl_batch_next(b);
        nftnl_set_elems_nlmsg_build_payload(nl_batch_msg(b, NFT_MSG_NEWSETELEM, NLM_F_CREATE), s);
        (void) nl_batch_next(b);
        nftnl_set_free(s);
}

static int create(const Variant *v) {
        struct nftnl_table *tb = nftnl_table_alloc();
        char t[64];
        NlBatch b;
        int r;

        table_name(v, t);
        nl_batch_start(&nb, &b);
        nftnl_table_set_str(tb, NFTNL_TABLE_NAME, t);
        nftnl_table_nlmsg_build_payload(nl_batch_msg(&b, NFT_MSG_NEWTABLE, NLM_F_CREATE), tb);
        nftnl_table_free(tb);
        (void) nl_batch_next(&b);
        for (unsigned i = 0; i < N_CHAINS; i++) {
                struct nftnl_chain *ch = nftnl_chain_alloc();
                char name[16];

                chain_name(i, name);
                nftnl_chain_set_str(ch, NFTNL_CHAIN_TABLE, t);
                nftnl_chain_set_str(ch, NFTNL_CHAIN_NAME, name);
                nftnl_chain_nlmsg_build_payload(nl_batch_msg(&b, NFT_MSG_NEWCHAIN, NLM_F_CREATE), ch);
                nftnl_chain_free(ch);
                (void) nl_batch_next(&b);
        }
        put_set(&b, t, "ike_ports", 1, false);
        put_set(&b, t, "ike_ports_uid", 2, true);
        r = nl_batch_commit(&b);
        if (r < 0)
                fprintf(stderr, "rule-commit: creating %s: %s\n", t, strerror(-r));
        return r;
}

static int destroy(const Variant *v) {
        char t[64];

        table_name(v, t);
        return nl_delete_table(&nb, t);
}

/* The exemptions' batch: the 14 rules, appended. Sets *ret_exprs. */
static int add_rules(const Variant *v, unsigned *ret_exprs) {
        char t[64];
        unsigned exprs = 0;
        NlBatch b;

        table_name(v, t);
        nl_batch_start(&nb, &b);
        for (unsigned i = 0; i < N_RULES; i++) {
                struct nftnl_rule *ru = nftnl_rule_alloc();
                bool echo = v->echo || (v->last_echo && i == N_RULES - 1);

                exprs += build_rule(v, t, i, ru);
                nftnl_rule_nlmsg_build_payload(
                        nl_batch_msg(&b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND | (echo ? NLM_F_ECHO : 0)), ru);
                nftnl_rule_free(ru);
                (void) nl_batch_next(&b);
        }
        *ret_exprs = exprs;
        return nl_batch_commit(&b);
}

/* Empties the 8 chains: a DELRULE naming only the chain flushes it. */
static int flush_rules(const Variant *v) {
        char t[64];
        NlBatch b;

        table_name(v, t);
        nl_batch_start(&nb, &b);
        for (unsigned i = 0; i < N_CHAINS; i++) {
                struct nftnl_rule *ru = nftnl_rule_alloc();
                char chain[16];

                chain_name(i, chain);
                nftnl_rule_set_str(ru, NFTNL_RULE_TABLE, t);
                nftnl_rule_set_str(ru, NFTNL_RULE_CHAIN, chain);
                nftnl_rule_nlmsg_build_payload(nl_batch_msg(&b, NFT_MSG_DELRULE, 0), ru);
                nftnl_rule_free(ru);
                (void) nl_batch_next(&b);
        }
        return nl_batch_commit(&b);
}

/* ---- measuring ------------------------------------------------------------------------------ */

/* The listener joins the nftables event group, or leaves it (as bfed's monitor does around its
 * own large batches); its socket stays open. */
static int set_listener(bool on) {
        static bool joined;
        unsigned group = NFNLGRP_NFTABLES;

        if (!listener) {
                listener = mnl_socket_open(NETLINK_NETFILTER);
                if (!listener || mnl_socket_bind(listener, 0, MNL_SOCKET_AUTOPID) < 0)
                        return -errno;
        }
        if (on == joined)
                return 0;
        if (mnl_socket_setsockopt(listener, on ? NETLINK_ADD_MEMBERSHIP : NETLINK_DROP_MEMBERSHIP, &group,
                                  sizeof(group)) < 0)
                return -errno;
        joined = on;
        return 0;
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "samples", required_argument, NULL, 'n' },
                { "only", required_argument, NULL, 'o' },
                {},
        };
        uint64_t *add[N_VARIANTS] = {}, *flush[N_VARIANTS] = {};
        unsigned exprs[N_VARIANTS] = {}, samples = 1000;
        bool on[N_VARIANTS] = {};
        const char *only = NULL;
        int c, r = 0, rc = 0;

        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case 'n':
                        samples = parse_count(optarg);
                        if (samples == 0)
                                return 2;
                        break;
                case 'o':
                        only = optarg;
                        break;
                default:
                        return 2;
                }

        r = nl_bench_open(&nb, BATCH_BUF);
        if (r < 0) {
                fprintf(stderr, "rule-commit: netlink: %s\n", strerror(-r));
                return 1;
        }
        for (size_t k = 0; k < N_VARIANTS; k++) {
                on[k] = name_selected(only, variants[k].name);
                if (!on[k])
                        continue;
                add[k] = calloc(samples, sizeof(uint64_t));
                flush[k] = calloc(samples, sizeof(uint64_t));
                if (!add[k] || !flush[k] || create(&variants[k]) < 0) {
                        free(add[k]);
                        free(flush[k]);
                        add[k] = flush[k] = NULL;
                        on[k] = false;
                        rc = 1;
                }
        }
        for (unsigned s = 0; s < samples && r >= 0; s++)
                for (size_t k = 0; k < N_VARIANTS && r >= 0; k++) {
                        uint64_t t0, t1, t2;

                        if (!on[k])
                                continue;
                        r = set_listener(variants[k].listener);
                        if (r < 0) {
                                fprintf(stderr, "rule-commit: the listener: %s\n", strerror(-r));
                                break;
                        }
                        t0 = now_ns();
                        r = add_rules(&variants[k], &exprs[k]);
                        t1 = now_ns();
                        if (r >= 0)
                                r = flush_rules(&variants[k]);
                        t2 = now_ns();
                        drain_listener();
                        if (r < 0) {
                                fprintf(stderr, "rule-commit: %s: %s\n", variants[k].name, strerror(-r));
                                break;
                        }
                        add[k][s] = t1 - t0;
                        flush[k][s] = t2 - t1;
                }
        if (r < 0)
                rc = 1;
        for (size_t k = 0; k < N_VARIANTS; k++) {
                if (!on[k])
                        continue;
                if (r >= 0) {
                        qsort(add[k], samples, sizeof(uint64_t), compare_u64);
                        qsort(flush[k], samples, sizeof(uint64_t), compare_u64);
                        printf("RULES %-10s exprs %3u add_median_us %7.1f add_p90_us %7.1f flush_median_us %7.1f"
                               " flush_p90_us %7.1f\n",
                               variants[k].name, exprs[k], add[k][samples / 2] / 1e3,
                               add[k][samples * 9 / 10] / 1e3, flush[k][samples / 2] / 1e3,
                               flush[k][samples * 9 / 10] / 1e3);
                }
                (void) destroy(&variants[k]);
                free(add[k]);
                free(flush[k]);
        }
        if (listener)
                mnl_socket_close(listener);
        nl_bench_close(&nb);
        return rc;
}
