/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-trace-follow.c — the trace chains after the answer (manager.c, compile-trace.h), on a
 * manager with a fake kernel: the commit that turns the exemptions on sends them without their
 * trace chains, which follow in a batch of their own from the event loop; a commit that comes
 * first sends them before its own batch; a refused trace batch leaves bfed without them, as a
 * kernel that refuses them at start does, and the exemptions' removal then deletes none. And a
 * batch the kernel applied without telling every rule's handle: applied all the same.
 */
#include <errno.h>
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
#include <libmnl/libmnl.h>
#include <systemd/sd-event.h>

#include "batch.h"
#include "config.h"
#include "engine.h"
#include "macro.h"
#include "manager.h"

/* What each batch the fake kernel got did with the trace chains and the exemptions. */
typedef struct Seen {
        bool adds_trace, deletes_trace, adds_rules, deletes_rules, refused, unclean;
} Seen;
static Seen seen[16];
static size_t n_seen;
static bool refuse_trace;
static bool unclean_once;       /* the next batch with rules is applied, their handles not all told */
static uint64_t next_handle = 100;

/* Whether the message @nlh is about a trace chain (ike_trace, ike_trace_inbound, ike_trace_outbound)
 * or a rule of one. */
static bool names_trace(const struct nlmsghdr *nlh) {
        static const char name[] = "ike_trace";

        return memmem(nlh, nlh->nlmsg_len, name, sizeof(name) - 1) != NULL;
}

static int fake_kernel(Manager *m, NftBatch *b, char **ret_error) {
        Seen s = {};
        int left;

        assert_true(n_seen < ELEMENTSOF(seen));
        assert_int_equal(nft_batch_close(b), 0);
        left = (int) b->len;
        for (const struct nlmsghdr *nlh = (const struct nlmsghdr *) b->buf; mnl_nlmsg_ok(nlh, left);
             nlh = mnl_nlmsg_next(nlh, &left)) {
                uint16_t type = nlh->nlmsg_type & 0xff;

                if ((nlh->nlmsg_type >> 8) != NFNL_SUBSYS_NFTABLES)
                        continue;
                if (type == NFT_MSG_NEWCHAIN && names_trace(nlh))
                        s.adds_trace = true;
                if (type == NFT_MSG_DELCHAIN && names_trace(nlh))
                        s.deletes_trace = true;
                if (type == NFT_MSG_NEWRULE && !names_trace(nlh))
                        s.adds_rules = true;
                if (type == NFT_MSG_DELRULE)
                        s.deletes_rules = true;
        }
        s.refused = refuse_trace && s.adds_trace;
        seen[n_seen++] = s;
        if (s.refused) {
                if (ret_error)
                        *ret_error = strdup("the fake kernel refuses the trace chains");
                return -ENOENT;
        }
        for (size_t i = 0; i < b->n_records; i++)
                if (b->records[i].handle)
                        *b->records[i].handle = next_handle++;
        if (unclean_once && s.adds_rules) {
                unclean_once = false;
                seen[n_seen - 1].unclean = true;
                return -EUCLEAN;        /* as nft_transport_commit() when a stretch's ends disagree */
        }
        return 0;
}

static int setup(void **state) {
        Config config;
        Manager *m;

        config_init(&config);
        assert_int_equal(manager_new(&config, &m), 0);
        assert_int_equal(manager_setup_event(m), 0);
        m->kernel = fake_kernel;
        assert_int_equal(manager_install_table(m), 0);
        n_seen = 0;
        refuse_trace = false;
        *state = m;
        return 0;
}

static int teardown(void **state) {
        manager_free(*state);
        return 0;
}

static void run_loop(Manager *m) {
        while (sd_event_run(m->event, 0) > 0)
                ;
}

/* Adds an IKE main-mode policy (a type-5 context and a filter at IKEEXT_V4) and commits it. */
static uint64_t add_mm_policy(Manager *m) {
        ProviderContextSpec cs = { .name = "ike", .type = WFP_CONTEXT_TYPE_IPSEC_IKE_MM };
        ProviderContext *c;
        Filter *f;

        assert_int_equal(engine_begin(m->engine), 0);
        assert_int_equal(engine_add_provider_context(m->engine, &cs, NULL, &c), 0);
        FilterSpec fs = { .name = "mm", .layer = "IKEEXT_V4", .action = WFP_ACTION_PERMIT,
                          .provider_context_key = c->key };
        assert_int_equal(engine_add_filter(m->engine, &fs, NULL, &f), 0);
        assert_int_equal(manager_commit(m, NULL), 0);
        return f->id;
}

static void delete_filter(Manager *m, uint64_t id) {
        assert_int_equal(engine_begin(m->engine), 0);
        assert_int_equal(engine_delete_filter_by_id(m->engine, id, NULL), 0);
        assert_int_equal(manager_commit(m, NULL), 0);
}

/* The commit has the exemptions and nothing of the trace chains; they follow from the loop. */
static void test_after_the_answer(void **state) {
        Manager *m = *state;
        uint64_t id;

        id = add_mm_policy(m);
        assert_true(m->exemptions_active);
        assert_int_equal(n_seen, 1);
        assert_true(seen[0].adds_rules);
        assert_false(seen[0].adds_trace);
        assert_true(m->trace_follows);

        run_loop(m);
        assert_int_equal(n_seen, 2);
        assert_true(seen[1].adds_trace);
        assert_false(seen[1].adds_rules);
        assert_false(m->trace_follows);
        run_loop(m);
        assert_int_equal(n_seen, 2);            /* once */

        /* their removal stays in the batch that removes the exemptions */
        delete_filter(m, id);
        assert_int_equal(n_seen, 3);
        assert_true(seen[2].deletes_rules);
        assert_true(seen[2].deletes_trace);
        assert_false(m->exemptions_active);
        run_loop(m);
        assert_int_equal(n_seen, 3);
}

/* A commit before the loop ran: the trace chains go first, so its batch finds them to delete. */
static void test_before_the_next_commit(void **state) {
        Manager *m = *state;
        uint64_t id;

        id = add_mm_policy(m);
        delete_filter(m, id);
        assert_int_equal(n_seen, 3);
        assert_false(seen[0].adds_trace);
        assert_true(seen[1].adds_trace);
        assert_true(seen[2].deletes_trace);
        assert_false(m->trace_follows);
        run_loop(m);
        assert_int_equal(n_seen, 3);
}

/* A refused trace batch: the exemptions stand, bfed goes on without the trace chains. */
static void test_refused(void **state) {
        Manager *m = *state;
        uint64_t id;

        refuse_trace = true;
        id = add_mm_policy(m);
        run_loop(m);
        assert_int_equal(n_seen, 2);
        assert_true(seen[1].refused);
        assert_true(m->exemptions_active);
        assert_false(m->config.nft.trace);

        delete_filter(m, id);
        assert_int_equal(n_seen, 3);
        assert_true(seen[2].deletes_rules);
        assert_false(seen[2].deletes_trace);
}

/* A whole table installed meanwhile has them already: nothing follows. */
static void test_install_has_them(void **state) {
        Manager *m = *state;

        (void) add_mm_policy(m);
        assert_int_equal(manager_install_table(m), 0);
        assert_int_equal(n_seen, 2);
        assert_true(seen[1].adds_trace);
        run_loop(m);
        assert_int_equal(n_seen, 2);
}

/* A batch applied with some handles unknown (-EUCLEAN): applied, so the change stands and its
 * trace chains follow (the table's replacement, manager_table_relearn(), needs a table watch). */
static void test_unclean(void **state) {
        Manager *m = *state;
        uint64_t id;

        unclean_once = true;
        id = add_mm_policy(m);
        assert_true(seen[0].unclean);
        assert_true(m->exemptions_active);
        assert_non_null(engine_get_filter_by_id(m->engine, id));
        run_loop(m);
        assert_int_equal(n_seen, 2);
        assert_true(seen[1].adds_trace);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_after_the_answer, setup, teardown),
                cmocka_unit_test_setup_teardown(test_before_the_next_commit, setup, teardown),
                cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_install_has_them, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unclean, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
