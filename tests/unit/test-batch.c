/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-batch.c — the echoes a batch asks for and the handles it infers (batch.h): of each stretch
 * of consecutive new rules whose handles are wanted only the ends are echoed, and the handles
 * between are the first one's plus their distance, when the last one's agrees.
 */
#include <errno.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <libmnl/libmnl.h>

#include "batch.h"
#include "macro.h"

#define N 9

static uint64_t slots[N];

/* A new rule (with NLM_F_ECHO, and slot @slot for its handle) when @rule, else a new chain. */
static void add(NftBatch *b, bool rule, size_t slot) {
        struct nlmsghdr *nlh = (struct nlmsghdr *) nft_batch_reserve(b);

        assert_non_null(nlh);
        nlh = mnl_nlmsg_put_header(nlh);
        nlh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | (rule ? NFT_MSG_NEWRULE : NFT_MSG_NEWCHAIN);
        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | (rule ? NLM_F_ECHO : 0);
        nlh->nlmsg_seq = nft_batch_next_seq(b);
        assert_int_equal(nft_batch_commit_msg(b, nlh, rule ? &slots[slot] : NULL, NULL), 0);
}

/* The echo flag of the batch's @i-th message after BEGIN. */
static bool echoed(const NftBatch *b, size_t i) {
        const struct nlmsghdr *nlh = (const struct nlmsghdr *) b->buf;
        int left = (int) b->len;

        for (nlh = mnl_nlmsg_next(nlh, &left); i > 0; i--)
                nlh = mnl_nlmsg_next(nlh, &left);
        assert_true(mnl_nlmsg_ok(nlh, left));
        return nlh->nlmsg_flags & NLM_F_ECHO;
}

/* rule rule rule rule | chain | rule | chain | rule rule: stretches of 4, 1 and 2 */
static NftBatch *shaped(void) {
        static const bool rule[N] = { true, true, true, true, false, true, false, true, true };
        NftBatch *b = NULL;

        assert_int_equal(nft_batch_new(1, &b), 0);
        for (size_t i = 0; i < N; i++)
                add(b, rule[i], i);
        nft_batch_echo_ends(b);
        return b;
}

static void test_echo_ends(void **state) {
        _cleanup_(nft_batch_freep) NftBatch *b = shaped();
        static const bool want[N] = { true, false, false, true, false, true, false, true, true };

        for (size_t i = 0; i < N; i++) {
                assert_int_equal(echoed(b, i), want[i]);
                assert_int_equal(b->records[i].inferred, b->records[i].handle && !want[i]);
        }
        assert_int_equal(nft_batch_close(b), 0);
}

static void test_infer(void **state) {
        _cleanup_(nft_batch_freep) NftBatch *b = shaped();
        /* what the echoes brought: the ends of each stretch */
        uint64_t h[N] = { [0] = 40, [3] = 43, [5] = 45, [7] = 47, [8] = 48 };

        assert_int_equal(nft_batch_infer_handles(b, h), 0);
        assert_int_equal(h[1], 41);
        assert_int_equal(h[2], 42);
        assert_int_equal(h[4], 0);      /* the chain: not a record with a handle */
        assert_int_equal(h[6], 0);
}

static void test_infer_refuses_a_gap(void **state) {
        _cleanup_(nft_batch_freep) NftBatch *b = shaped();
        uint64_t gap[N] = { [0] = 40, [3] = 44, [5] = 45, [7] = 47, [8] = 48 };
        uint64_t backwards[N] = { [0] = 43, [3] = 40, [5] = 45, [7] = 47, [8] = 48 };
        uint64_t missing[N] = { [0] = 0, [3] = 3, [5] = 45, [7] = 47, [8] = 48 };

        assert_int_equal(nft_batch_infer_handles(b, gap), -EUCLEAN);
        assert_int_equal(nft_batch_infer_handles(b, backwards), -EUCLEAN);
        assert_int_equal(nft_batch_infer_handles(b, missing), -EUCLEAN);
}

/* Without nft_batch_echo_ends() every rule is echoed and nothing is inferred. */
static void test_every_echo(void **state) {
        _cleanup_(nft_batch_freep) NftBatch *b = NULL;
        uint64_t h[3] = { 7, 9, 30 };

        assert_int_equal(nft_batch_new(1, &b), 0);
        for (size_t i = 0; i < 3; i++)
                add(b, true, i);
        for (size_t i = 0; i < 3; i++)
                assert_true(echoed(b, i));
        assert_int_equal(nft_batch_infer_handles(b, h), 0);
        assert_int_equal(h[1], 9);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_echo_ends),
                cmocka_unit_test(test_infer),
                cmocka_unit_test(test_infer_refuses_a_gap),
                cmocka_unit_test(test_every_echo),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
