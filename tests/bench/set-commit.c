/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * set-commit — the kernel's cost of committing one set element, per set backend, at a given
 * number of elements (issue 12: which backend for which shape of filter). Through libnftnl
 * batches on a netlink socket, not the nft command: nft 1.0.6 reads a whole interval set back
 * in user space on every `add element`, which says nothing about the kernel.
 *
 *   set-commit [--sizes N[,N...]] [--samples N] [--only NAME[,NAME...]]
 *
 * For each shape below it creates a table of its own (`inet set_commit_NAME`: validation is per
 * table) with a base chain on input whose one rule looks the packet up in the set, as a rule of
 * bfed's would (a plain set: `... @s drop`; a verdict map: `... vmap @s`), fills the set to each
 * size in batches of 1,000 elements, and there takes --samples (default 200) batches that add
 * one more element and as many that delete it again, each timed from the send to the kernel's
 * acknowledgement (which comes after the commit). Run it in a throwaway network namespace:
 * the tables are deleted at the end, but a base chain sees that namespace's packets meanwhile.
 *
 * Shapes (the backend the kernel picks for the set's flags and key):
 *   addr         ipv4_addr                          hash (rhash)          exact remote address
 *   tuple        ipv4_addr . inet_proto . inet_service  hash (rhash)      exact peer tuple
 *   prefix       ipv4_addr, flags interval          rbtree                address prefix
 *   prefix-port  ipv4_addr . inet_service, interval pipapo                prefix and port range
 * each as a plain set and as a verdict map with accept/drop (NAME-vmap), and, for addr and
 * prefix-port, a verdict map whose elements `goto` a chain (NAME-goto), as a per-peer callout
 * would: an element with a jump or goto makes the kernel validate the table on commit.
 *
 * Prints one line per shape and size:
 *   SET NAME backend B size N add_median_us X add_p90_us X del_median_us X del_p90_us X fill_s X
 * Exits 0; 1 on a failure; 2 on bad usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include "bench-nl.h"
#include "bench-util.h"

#define FILL_PER_BATCH  1000u
#define BATCH_BUF       (1u << 20)
#define TYPE_BITS       6               /* nft's concatenated datatype encoding */
#define TYPE_IPV4_ADDR  7u
#define TYPE_INET_PROTO 12u
#define TYPE_INET_SERV  13u

#define _cleanup_(f) __attribute__((cleanup(f)))

typedef enum Kind {
        KIND_ADDR,
        KIND_TUPLE,
        KIND_PREFIX,
        KIND_PREFIX_PORT,
} Kind;

typedef enum Data {
        DATA_NONE,                      /* a plain set: the rule drops on a match */
        DATA_VERDICT,                   /* a verdict map, accept or drop */
        DATA_GOTO,                      /* a verdict map, goto a chain */
} Data;

typedef struct Shape {
        const char *name;
        const char *backend;
        Kind kind;
        Data data;
} Shape;

static const Shape shapes[] = {
        { "addr",             "hash",   KIND_ADDR,        DATA_NONE },
        { "addr-vmap",        "hash",   KIND_ADDR,        DATA_VERDICT },
        { "addr-goto",        "hash",   KIND_ADDR,        DATA_GOTO },
        { "tuple",            "hash",   KIND_TUPLE,       DATA_NONE },
        { "tuple-vmap",       "hash",   KIND_TUPLE,       DATA_VERDICT },
        { "prefix",           "rbtree", KIND_PREFIX,      DATA_NONE },
        { "prefix-vmap",      "rbtree", KIND_PREFIX,      DATA_VERDICT },
        { "prefix-port",      "pipapo", KIND_PREFIX_PORT, DATA_NONE },
        { "prefix-port-vmap", "pipapo", KIND_PREFIX_PORT, DATA_VERDICT },
        { "prefix-port-goto", "pipapo", KIND_PREFIX_PORT, DATA_GOTO },
};

static NlBench nb;

static void set_freep(struct nftnl_set **s) {
        if (*s)
                nftnl_set_free(*s);
}

/* ---- the objects ----------------------------------------------------------------------------- */

static void table_name(const Shape *sh, char name[static 64]) {
        snprintf(name, 64, "set_commit_%s", sh->name);
        for (char *p = name; *p; p++)
                if (*p == '-')
                        *p = '_';
}

static void add_expr(struct nftnl_rule *r, struct nftnl_expr *e) {
        nftnl_rule_add_expr(r, e);
}

/* Key length in bytes (each field in whole 32-bit registers), nft's key type, set flags. */
static void key_of_kind(Kind k, uint32_t *ret_len, uint32_t *ret_type, uint32_t *ret_flags) {
        switch (k) {
        case KIND_ADDR:
                *ret_len = 4, *ret_type = TYPE_IPV4_ADDR, *ret_flags = 0;
                break;
        case KIND_TUPLE:
                *ret_len = 12;
                *ret_type = (TYPE_IPV4_ADDR << TYPE_BITS | TYPE_INET_PROTO) << TYPE_BITS | TYPE_INET_SERV;
                *ret_flags = NFT_SET_CONCAT;
                break;
        case KIND_PREFIX:
                *ret_len = 4, *ret_type = TYPE_IPV4_ADDR, *ret_flags = NFT_SET_INTERVAL;
                break;
        case KIND_PREFIX_PORT:
                *ret_len = 8, *ret_type = TYPE_IPV4_ADDR << TYPE_BITS | TYPE_INET_SERV;
                *ret_flags = NFT_SET_INTERVAL | NFT_SET_CONCAT;
                break;
        }
}

/* The table, its chains, the set, and the rule that looks packets up in it: one batch. */
static int create(const Shape *sh) {
        char t[64];
        uint32_t klen = 0, ktype = 0, flags = 0;
        struct nftnl_table *tb;
        struct nftnl_chain *ch, *co;
        struct nftnl_set *s;
        struct nftnl_rule *ru;
        struct nftnl_expr *e;
        NlBatch b;
        int r;

        table_name(sh, t);
        key_of_kind(sh->kind, &klen, &ktype, &flags);
        nl_batch_start(&nb, &b);

        tb = nftnl_table_alloc();
        nftnl_table_set_str(tb, NFTNL_TABLE_NAME, t);
        nftnl_table_nlmsg_build_payload(nl_batch_msg(&b, NFT_MSG_NEWTABLE, NLM_F_CREATE), tb);
        nftnl_table_free(tb);
        (void) nl_batch_next(&b);

        ch = nftnl_chain_alloc();
        nftnl_chain_set_str(ch, NFTNL_CHAIN_TABLE, t);
        nftnl_chain_set_str(ch, NFTNL_CHAIN_NAME, "in");
        nftnl_chain_set_str(ch, NFTNL_CHAIN_TYPE, "filter");
        nftnl_chain_set_u32(ch, NFTNL_CHAIN_HOOKNUM, NF_INET_LOCAL_IN);
        nftnl_chain_set_s32(ch, NFTNL_CHAIN_PRIO, 0);
        nftnl_chain_set_u32(ch, NFTNL_CHAIN_POLICY, NF_ACCEPT);
        nftnl_chain_nlmsg_build_payload(nl_batch_msg(&b, NFT_MSG_NEWCHAIN, NLM_F_CREATE), ch);
        nftnl_chain_free(ch);
        (void) nl_batch_next(&b);

        co = nftnl_chain_alloc();       /* the goto target: a callout's chain */
        nftnl_chain_set_str(co, NFTNL_CHAIN_TABLE, t);
        nftnl_chain_set_str(co, NFTNL_CHAIN_NAME, "callout");
        nftnl_chain_nlmsg_build_payload(nl_batch_msg(&b, NFT_MSG_NEWCHAIN, NLM_F_CREATE), co);
        nftnl_chain_free(co);
        (void) nl_batch_next(&b);

        s = nftnl_set_alloc();
        nftnl_set_set_str(s, NFTNL_SET_TABLE, t);
        nftnl_set_set_str(s, NFTNL_SET_NAME, "s");
        nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
        nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, ktype);
        nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, klen);
        nftnl_set_set_u32(s, NFTNL_SET_ID, 1);
        if (sh->data != DATA_NONE) {
                flags |= NFT_SET_MAP;
                nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, NFT_DATA_VERDICT);
        }
        nftnl_set_set_u32(s, NFTNL_SET_FLAGS, flags);
        if (sh->kind == KIND_PREFIX_PORT) {
                uint8_t field_len[] = { 4, 2 };

                nftnl_set_set_data(s, NFTNL_SET_DESC_CONCAT, field_len, sizeof(field_len));
        } else if (sh->kind == KIND_TUPLE) {
                uint8_t field_len[] = { 4, 1, 2 };

                nftnl_set_set_data(s, NFTNL_SET_DESC_CONCAT, field_len, sizeof(field_len));
        }
        nftnl_set_nlmsg_build_payload(nl_batch_msg(&b, NFT_MSG_NEWSET, NLM_F_CREATE), s);
        nftnl_set_free(s);
        (void) nl_batch_next(&b);

        /* in: [payloads into registers] lookup @s [→ verdict] [drop] */
        ru = nftnl_rule_alloc();
        nftnl_rule_set_str(ru, NFTNL_RULE_TABLE, t);
        nftnl_rule_set_str(ru, NFTNL_RULE_CHAIN, "in");
        add_expr(ru, nl_expr_payload(NFT_PAYLOAD_NETWORK_HEADER, 12, 4, NFT_REG32_00));         /* ip saddr */
        if (sh->kind == KIND_TUPLE) {
                add_expr(ru, nl_expr_meta(NFT_META_L4PROTO, NFT_REG32_01));
                add_expr(ru, nl_expr_payload(NFT_PAYLOAD_TRANSPORT_HEADER, 0, 2, NFT_REG32_02)); /* th sport */
        } else if (sh->kind == KIND_PREFIX_PORT)
                add_expr(ru, nl_expr_payload(NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG32_01)); /* th dport */
        e = nftnl_expr_alloc("lookup");
        nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG32_00);
        nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, "s");
        nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, 1);
        if (sh->data != DATA_NONE)
                nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, NFT_REG_VERDICT);
        add_expr(ru, e);
        if (sh->data == DATA_NONE) {
                e = nftnl_expr_alloc("immediate");
                nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
                nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, NF_DROP);
                add_expr(ru, e);
        }
        nftnl_rule_nlmsg_build_payload(nl_batch_msg(&b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND), ru);
        nftnl_rule_free(ru);
        (void) nl_batch_next(&b);

        r = nl_batch_commit(&b);
        if (r < 0)
                fprintf(stderr, "set-commit: creating %s: %s\n", t, strerror(-r));
        return r;
}

static int destroy(const Shape *sh) {
        char t[64];

        table_name(sh, t);
        return nl_delete_table(&nb, t);
}

/* Element @i of the shape's set: its key (and end), distinct for every @i below 2^22. */
static void add_element(const Shape *sh, struct nftnl_set *s, uint32_t i) {
        struct nftnl_set_elem *el = nftnl_set_elem_alloc(), *end = NULL;
        uint8_t key[16] = {}, key_end[16] = {};
        uint32_t a;
        uint16_t p;

        switch (sh->kind) {
        case KIND_ADDR:                 /* 11.0.0.0 + i */
                a = htonl(0x0B000000u + i);
                memcpy(key, &a, 4);
                nftnl_set_elem_set(el, NFTNL_SET_ELEM_KEY, key, 4);
                break;
        case KIND_TUPLE:                /* 172.16.0.0 + i . udp . 1024 + i % 60000 */
                a = htonl(0xAC100000u + i);
                p = htons((uint16_t) (1024 + i % 60000));
                memcpy(key, &a, 4);
                key[4] = IPPROTO_UDP;
                memcpy(key + 8, &p, 2);
                nftnl_set_elem_set(el, NFTNL_SET_ELEM_KEY, key, 12);
                break;
        case KIND_PREFIX:               /* the /24 at 11.0.0.0 + 512 i: gaps between them */
                a = htonl(0x0B000000u + i * 512);
                nftnl_set_elem_set(el, NFTNL_SET_ELEM_KEY, &a, 4);
                end = nftnl_set_elem_alloc();
                a = htonl(0x0B000000u + i * 512 + 256);
                nftnl_set_elem_set(end, NFTNL_SET_ELEM_KEY, &a, 4);
                nftnl_set_elem_set_u32(end, NFTNL_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
                break;
        case KIND_PREFIX_PORT:          /* that /24 . ports 1000-1999 */
                a = htonl(0x0B000000u + i * 512);
                p = htons(1000);
                memcpy(key, &a, 4);
                memcpy(key + 4, &p, 2);
                a = htonl(0x0B000000u + i * 512 + 255);
                p = htons(1999);
                memcpy(key_end, &a, 4);
                memcpy(key_end + 4, &p, 2);
                nftnl_set_elem_set(el, NFTNL_SET_ELEM_KEY, key, 8);
                nftnl_set_elem_set(el, NFTNL_SET_ELEM_KEY_END, key_end, 8);
                break;
        }
        if (sh->data == DATA_VERDICT)
                nftnl_set_elem_set_u32(el, NFTNL_SET_ELEM_VERDICT, i % 2 ? NF_ACCEPT : NF_DROP);
        else if (sh->data == DATA_GOTO) {
                nftnl_set_elem_set_u32(el, NFTNL_SET_ELEM_VERDICT, (uint32_t) NFT_GOTO);
                nftnl_set_elem_set_str(el, NFTNL_SET_ELEM_CHAIN, "callout");
        }
        nftnl_set_elem_add(s, el);
        if (end)
                nftnl_set_elem_add(s, end);
}

/* One batch with one message that adds (or deletes) elements [@from, @to). */
static int elements(const Shape *sh, uint32_t from, uint32_t to, bool delete) {
        _cleanup_(set_freep) struct nftnl_set *s = nftnl_set_alloc();
        char t[64];
        NlBatch b;

        table_name(sh, t);
        nftnl_set_set_str(s, NFTNL_SET_TABLE, t);
        nftnl_set_set_str(s, NFTNL_SET_NAME, "s");
        for (uint32_t i = from; i < to; i++)
                add_element(sh, s, i);
        nl_batch_start(&nb, &b);
        nftnl_set_elems_nlmsg_build_payload(nl_batch_msg(&b, delete ? NFT_MSG_DELSETELEM : NFT_MSG_NEWSETELEM,
                                                      delete ? 0 : NLM_F_CREATE), s);
        if (nl_batch_next(&b) < 0)
                return -ENOBUFS;
        return nl_batch_commit(&b);
}

/* ---- measuring ------------------------------------------------------------------------------ */

#define SAMPLE_BASE 3000000u            /* sample elements: above any fill element */

static int measure(const Shape *sh, uint32_t size, unsigned samples, double fill_s) {
        uint64_t *add = calloc(samples, sizeof(uint64_t)), *del = calloc(samples, sizeof(uint64_t));
        int r = 0;

        if (!add || !del)
                return -ENOMEM;
        for (unsigned k = 0; k < samples; k++) {
                uint32_t i = SAMPLE_BASE + k;
                uint64_t t0, t1, t2;

                t0 = now_ns();
                r = elements(sh, i, i + 1, false);
                t1 = now_ns();
                if (r < 0)
                        break;
                r = elements(sh, i, i + 1, true);
                t2 = now_ns();
                if (r < 0)
                        break;
                add[k] = t1 - t0;
                del[k] = t2 - t1;
        }
        if (r < 0)
                fprintf(stderr, "set-commit: %s at %" PRIu32 ": one element: %s\n", sh->name, size, strerror(-r));
        else {
                qsort(add, samples, sizeof(*add), compare_u64);
                qsort(del, samples, sizeof(*del), compare_u64);
                printf("SET %-16s backend %-6s size %7" PRIu32 " add_median_us %8.1f add_p90_us %8.1f"
                       " del_median_us %8.1f del_p90_us %8.1f fill_s %.3f\n",
                       sh->name, sh->backend, size, add[samples / 2] / 1e3, add[samples * 9 / 10] / 1e3,
                       del[samples / 2] / 1e3, del[samples * 9 / 10] / 1e3, fill_s);
                fflush(stdout);
        }
        free(add);
        free(del);
        return r;
}

static int run_shape(const Shape *sh, const uint32_t *sizes, size_t n_sizes, unsigned samples) {
        uint32_t have = 0;
        int r;

        r = create(sh);
        if (r < 0)
                return r;
        for (size_t k = 0; k < n_sizes; k++) {
                uint64_t t0 = now_ns();

                while (have < sizes[k]) {
                        uint32_t to = have + FILL_PER_BATCH < sizes[k] ? have + FILL_PER_BATCH : sizes[k];

                        r = elements(sh, have, to, false);
                        if (r < 0) {
                                fprintf(stderr, "set-commit: %s: filling [%" PRIu32 ", %" PRIu32 "): %s\n",
                                        sh->name, have, to, strerror(-r));
                                goto out;
                        }
                        have = to;
                }
                r = measure(sh, have, samples, (now_ns() - t0) / 1e9);
                if (r < 0)
                        goto out;
        }
out:
        (void) destroy(sh);
        return r;
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "sizes", required_argument, NULL, 'z' },
                { "samples", required_argument, NULL, 'n' },
                { "only", required_argument, NULL, 'o' },
                {},
        };
        uint32_t sizes[8] = { 1000, 100000 };
        size_t n_sizes = 2;
        unsigned samples = 200;
        const char *only = NULL;
        int c, rc = 0;

        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case 'z': {
                        char *p = optarg, *end;

                        n_sizes = 0;
                        while (*p && n_sizes < 8) {
                                unsigned long v = strtoul(p, &end, 10);

                                if (end == p || v == 0 || v >= SAMPLE_BASE || (n_sizes && v <= sizes[n_sizes - 1])) {
                                        fprintf(stderr, "set-commit: --sizes: increasing numbers below %u\n",
                                                SAMPLE_BASE);
                                        return 2;
                                }
                                sizes[n_sizes++] = (uint32_t) v;
                                p = *end == ',' ? end + 1 : end;
                        }
                        break;
                }
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

        c = nl_bench_open(&nb, BATCH_BUF);
        if (c < 0) {
                fprintf(stderr, "set-commit: netlink: %s\n", strerror(-c));
                return 1;
        }
        for (size_t k = 0; k < sizeof(shapes) / sizeof(shapes[0]); k++) {
                if (!name_selected(only, shapes[k].name))
                        continue;
                fprintf(stderr, "set-commit: %s (%s)\n", shapes[k].name, shapes[k].backend);
                if (run_shape(&shapes[k], sizes, n_sizes, samples) < 0)
                        rc = 1;
        }
        nl_bench_close(&nb);
        return rc;
}
