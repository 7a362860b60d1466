/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-netevents.c — the net events' logic (netevents.c) on a manager with a fake kernel and no
 * socket, fed nflog messages by hand: the subscriptions' limits and templates, the log
 * statements' switch (at once for the first, deferred after the last, after an open
 * transaction, refused by the kernel), the rate and the count of suppressed events, losses told
 * by the kernel's numbering, and a peer that leaves.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
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
#include <systemd/sd-event.h>

#include "batch.h"
#include "config.h"
#include "engine.h"
#include "macro.h"
#include "manager.h"
#include "netevents.h"

#define SEC 1000000ULL

static unsigned kernel_batches;
static bool kernel_refuses;
static uint64_t next_handle = 100;

static int fake_kernel(Manager *m, NftBatch *b, char **ret_error) {
        if (kernel_refuses) {
                if (ret_error)
                        *ret_error = strdup("the fake kernel refuses");
                return -EINVAL;
        }
        kernel_batches++;
        for (size_t i = 0; i < b->n_records; i++)
                if (b->records[i].handle)
                        *b->records[i].handle = next_handle++;
        return 0;
}

/* What the hook got: the subscription and the event. */
typedef struct Got {
        uint64_t sub, filter, suppressed;
        uint16_t local_port, remote_port;
        bool inbound;
} Got;
static Got got[512];
static size_t n_got;

static void on_net_event(Manager *m, const NetEventSub *s, const NetEvent *ev, void *userdata) {
        assert_true(n_got < ELEMENTSOF(got));
        got[n_got++] = (Got) { .sub = s->id, .filter = ev->filter_id, .suppressed = ev->suppressed,
                               .local_port = ev->local_port, .remote_port = ev->remote_port, .inbound = ev->inbound };
}

static const ManagerHooks hooks = { .net_event = on_net_event };

typedef struct Fixture {
        Manager *m;
        uint64_t block4, block6, permit;
} Fixture;

static uint64_t add(Manager *m, const char *layer, uint32_t action, const char *port) {
        ConditionSpec conds[] = { { "IP_PROTOCOL", 0, "udp" }, { "IP_LOCAL_PORT", 0, (char *) port } };
        FilterSpec fs = { .name = "f", .layer = (char *) layer, .action = action, .conditions = conds,
                          .n_conditions = 2 };
        Filter *f;

        assert_int_equal(engine_begin(m->engine), 0);
        assert_int_equal(engine_add_filter(m->engine, &fs, NULL, &f), 0);
        assert_int_equal(manager_commit(m, NULL), 0);
        return f->id;
}

static int setup(void **state) {
        Fixture *fx = calloc(1, sizeof(*fx));
        Config config;

        config_init(&config);
        assert_int_equal(manager_new(&config, &fx->m), 0);
        assert_int_equal(manager_setup_event(fx->m), 0);
        fx->m->kernel = fake_kernel;
        manager_set_hooks(fx->m, &hooks, NULL);
        assert_int_equal(manager_install_table(fx->m), 0);
        fx->block4 = add(fx->m, "INBOUND_TRANSPORT_V4", WFP_ACTION_BLOCK, "7001");
        fx->block6 = add(fx->m, "INBOUND_TRANSPORT_V6", WFP_ACTION_BLOCK, "7001");
        fx->permit = add(fx->m, "INBOUND_TRANSPORT_V4", WFP_ACTION_PERMIT, "7010");
        kernel_batches = 0;
        kernel_refuses = false;
        n_got = 0;
        *state = fx;
        return 0;
}

static int teardown(void **state) {
        Fixture *fx = *state;

        manager_free(fx->m);
        free(fx);
        return 0;
}

/* Runs what the loop has ready (the deferred switch). */
static void run_loop(Manager *m) {
        while (sd_event_run(m->event, 0) > 0)
                ;
}

static NetEventSub *subscribe(Manager *m, const char *owner, NetEventTemplate t) {
        EngineError err = {};
        NetEventSub *s;

        assert_int_equal(net_event_subscribe(m, owner, &t, &err, &s), 0);
        return s;
}

static int subscribe_error(Manager *m, const char *owner, NetEventTemplate t) {
        EngineError err = {};
        NetEventSub *s;
        int r = net_event_subscribe(m, owner, &t, &err, &s);

        assert_true(r < 0);
        assert_int_equal(wfp_code_from_ret(r), err.code);
        return r;
}

/* One logged packet of filter @id (IPv4 UDP 192.0.2.2:@sport -> 192.0.2.1:@dport, or the same
 * over IPv6 with @six), the kernel's number @seq, appended to @buf at *@len. */
static void logged(char *buf, size_t *len, const char *prefix, bool six, uint16_t sport, uint16_t dport,
                   uint32_t seq) {
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf + *len);
        struct nfulnl_msg_packet_hdr h = { .hook = NF_INET_LOCAL_IN };
        uint8_t pkt[48] = {}, *th = pkt + (six ? 40 : 20);
        struct nfgenmsg *nfg;

        nlh->nlmsg_type = NFNL_SUBSYS_ULOG << 8 | NFULNL_MSG_PACKET;
        nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
        nfg->nfgen_family = six ? NFPROTO_IPV6 : NFPROTO_IPV4;
        mnl_attr_put(nlh, NFULA_PACKET_HDR, sizeof(h), &h);
        mnl_attr_put_strz(nlh, NFULA_PREFIX, prefix);
        mnl_attr_put_u32(nlh, NFULA_SEQ, htonl(seq));
        pkt[0] = six ? 0x60 : 0x45;
        pkt[six ? 6 : 9] = IPPROTO_UDP;
        th[0] = (uint8_t) (sport >> 8), th[1] = (uint8_t) sport;
        th[2] = (uint8_t) (dport >> 8), th[3] = (uint8_t) dport;
        mnl_attr_put(nlh, NFULA_PAYLOAD, six ? 48 : 28, pkt);
        *len += NLMSG_ALIGN(nlh->nlmsg_len);
}

static void feed_one(Manager *m, uint64_t filter, bool six, uint16_t sport, uint32_t seq, uint64_t now) {
        static _Alignas(16) char buf[1024];
        char prefix[32];
        size_t len = 0;

        snprintf(prefix, sizeof(prefix), "bfed %" PRIu64, filter);
        logged(buf, &len, prefix, six, sport, 7001, seq);
        net_events_feed(m, buf, len, now);
}

static void test_switch(void **state) {
        Fixture *fx = *state;
        Manager *m = fx->m;
        NetEventSub *a, *b;

        assert_false(m->config.nft.net_events);
        a = subscribe(m, ":1.1", (NetEventTemplate) {});
        assert_true(m->config.nft.net_events);                  /* the first: on, at once */
        assert_int_equal(kernel_batches, 1);
        b = subscribe(m, ":1.2", (NetEventTemplate) {});
        assert_int_equal(kernel_batches, 1);                    /* the second: nothing to do */

        net_event_unsubscribe(a);
        run_loop(m);
        assert_true(m->config.nft.net_events);                  /* one left */
        /* the last goes while a transaction is open: after it */
        assert_int_equal(engine_begin(m->engine), 0);
        assert_int_equal(subscribe_error(m, ":1.3", (NetEventTemplate) {}), wfp_ret(FWP_E_TXN_IN_PROGRESS));
        net_event_unsubscribe(b);
        run_loop(m);
        assert_true(m->config.nft.net_events);
        manager_abort(m);
        run_loop(m);
        assert_false(m->config.nft.net_events);
        assert_int_equal(kernel_batches, 2);

        /* the kernel refuses the log statements: no subscription, nothing changed */
        kernel_refuses = true;
        assert_int_equal(subscribe_error(m, ":1.4", (NetEventTemplate) {}), wfp_ret(FWP_E_NET_EVENTS_DISABLED));
        assert_false(m->config.nft.net_events);
        kernel_refuses = false;
        feed_one(m, fx->block4, false, 40001, 0, 0);
        assert_int_equal(n_got, 0);
}

static void test_limits(void **state) {
        Fixture *fx = *state;
        Manager *m = fx->m;
        char owner[16];

        for (int i = 0; i < NET_EVENT_SUBS_PER_PEER_MAX; i++)
                (void) subscribe(m, ":1.1", (NetEventTemplate) {});
        assert_int_equal(subscribe_error(m, ":1.1", (NetEventTemplate) {}), wfp_ret(FWP_E_OUT_OF_BOUNDS));
        for (int i = NET_EVENT_SUBS_PER_PEER_MAX; i < NET_EVENT_SUBS_MAX; i++) {
                snprintf(owner, sizeof(owner), ":2.%d", i);
                (void) subscribe(m, owner, (NetEventTemplate) {});
        }
        assert_int_equal(subscribe_error(m, ":3.1", (NetEventTemplate) {}), wfp_ret(FWP_E_OUT_OF_BOUNDS));

        assert_int_equal(subscribe_error(m, ":1.9", (NetEventTemplate) { .ip_version = 5 }),
                         wfp_ret(FWP_E_INVALID_PARAMETER));
        /* the last peer goes: every one of its subscriptions; the others stay */
        net_events_peer_gone(m, ":1.1");
        {
                EngineError err = {};
                uint64_t id = NET_EVENT_SUBS_PER_PEER_MAX + 1;  /* :2.8's */

                assert_int_equal(net_event_unsubscribe_owned(m, 1, ":1.1", &err), wfp_ret(FWP_E_NOT_FOUND));
                assert_int_equal(net_event_unsubscribe_owned(m, id, ":2.9", &err),
                                 wfp_ret(FWP_E_NOT_FOUND));    /* another peer's */
                assert_int_equal(net_event_unsubscribe_owned(m, id, ":2.8", &err), 0);
                assert_int_equal(net_event_unsubscribe_owned(m, id, ":2.8", &err), wfp_ret(FWP_E_NOT_FOUND));
        }
}

static void test_templates(void **state) {
        Fixture *fx = *state;
        Manager *m = fx->m;
        NetEventSub *all, *one, *v6, *layer;

        assert_int_equal(subscribe_error(m, ":1.1", (NetEventTemplate) { .has_layer = true,
                                                                          .layer = WFP_LAYER_IKEEXT_V4 }),
                         wfp_ret(FWP_E_NEVER_MATCH));
        assert_int_equal(subscribe_error(m, ":1.1", (NetEventTemplate) { .has_layer = true,
                                                                          .layer = WFP_LAYER_INBOUND_TRANSPORT_V6,
                                                                          .ip_version = 4 }),
                         wfp_ret(FWP_E_NEVER_MATCH));
        all = subscribe(m, ":1.1", (NetEventTemplate) {});
        one = subscribe(m, ":1.1", (NetEventTemplate) { .filter_id = fx->block4 });
        v6 = subscribe(m, ":1.1", (NetEventTemplate) { .ip_version = 6 });
        layer = subscribe(m, ":1.1", (NetEventTemplate) { .has_layer = true, .layer = WFP_LAYER_INBOUND_TRANSPORT_V6 });

        feed_one(m, fx->block4, false, 40001, 0, 0);
        assert_int_equal(n_got, 2);
        assert_int_equal(got[0].sub + got[1].sub, all->id + one->id);
        assert_true(got[0].filter == fx->block4 && got[0].inbound && got[0].local_port == 7001 &&
                    got[0].remote_port == 40001 && got[0].suppressed == 0);
        n_got = 0;
        feed_one(m, fx->block6, true, 40006, 1, 0);
        assert_int_equal(n_got, 3);
        for (size_t i = 0; i < n_got; i++)
                assert_true(got[i].sub == all->id || got[i].sub == v6->id || got[i].sub == layer->id);

        /* none: the permit (a prefix the kernel could not have logged), a prefix not ours */
        n_got = 0;
        feed_one(m, fx->permit, false, 40010, 2, 0);
        {
                static _Alignas(16) char buf[512];
                size_t len = 0;

                logged(buf, &len, "ulogd", false, 1, 2, 3);
                net_events_feed(m, buf, len, 0);
        }
        assert_int_equal(n_got, 0);
        assert_int_equal(net_events_lost(m), 0);
        assert_int_equal(net_events_malformed(m), 0);
}

static void test_rate(void **state) {
        Fixture *fx = *state;
        Manager *m = fx->m;
        uint32_t seq = 0;

        (void) subscribe(m, ":1.1", (NetEventTemplate) {});
        for (int i = 0; i < NET_EVENT_RATE + 50; i++)
                feed_one(m, fx->block4, false, 40001, seq++, 10 * SEC);
        assert_int_equal(n_got, NET_EVENT_RATE);                /* the rest of the second: counted */
        feed_one(m, fx->block4, false, 40001, seq++, 10 * SEC + SEC - 1);
        assert_int_equal(n_got, NET_EVENT_RATE);
        feed_one(m, fx->block4, false, 40001, seq++, 11 * SEC);
        assert_int_equal(n_got, NET_EVENT_RATE + 1);            /* a new second: told, with the count */
        assert_int_equal(got[NET_EVENT_RATE].suppressed, 51);
        assert_int_equal(got[NET_EVENT_RATE - 1].suppressed, 0);

        /* the kernel numbered 3 that never came: lost, and told with the next */
        seq += 3;
        feed_one(m, fx->block4, false, 40001, seq++, 11 * SEC);
        assert_int_equal(net_events_lost(m), 3);
        assert_int_equal(got[n_got - 1].suppressed, 3);

        /* bytes that are no message */
        net_events_feed(m, "xx", 2, 11 * SEC);
        assert_int_equal(net_events_malformed(m), 1);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_switch, setup, teardown),
                cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
                cmocka_unit_test_setup_teardown(test_templates, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rate, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
