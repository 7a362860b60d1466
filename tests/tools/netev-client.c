/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * netev-client — a net event subscriber on libbfe, for tests/integration/netevents.sh.
 *
 *   netev-client [--filter ID] [--layer LAYER] [--ip-version 4|6]
 *
 * Subscribes (bfe_net_events_subscribe()) with the template the options give and prints
 * "subscribed", or "error BUSNAME MESSAGE" and exits 1. Then one line per event:
 *   "event FILTER LAYER DIRECTION IPVERSION PROTOCOL LOCAL LPORT REMOTE RPORT SUPPRESSED TIME_USEC"
 * SIGUSR1 unsubscribes (bfe_net_events_unsubscribe(): "unsubscribed", or "error …"), and the
 * client goes on listening, printing any event that still comes. SIGTERM or SIGINT exit 0.
 * Every line is flushed at once.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bfe/bfe.h"

static volatile sig_atomic_t got_usr1, got_stop;

static void on_signal(int sig) {
        if (sig == SIGUSR1)
                got_usr1 = 1;
        else
                got_stop = 1;
}

static void on_event(BfeEngine *e, const BfeNetEvent *ev, void *userdata) {
        printf("event %" PRIu64 " %s %s %u %u %s %u %s %u %" PRIu64 " %" PRIu64 "\n", ev->filter_id, ev->layer,
               ev->inbound ? "in" : "out", ev->ip_version, ev->protocol, ev->local_address, ev->local_port,
               ev->remote_address, ev->remote_port, ev->suppressed, ev->time_usec);
        fflush(stdout);
}

static int fail(BfeEngine *e, int r) {
        const BfeError *err = bfe_engine_last_error(e);

        printf("error %s %s\n", err && err->bus_name ? err->bus_name : "-",
               err && err->message && *err->message ? err->message : strerror(r < 0 && r > -4096 ? -r : EIO));
        fflush(stdout);
        return 1;
}

int main(int argc, char **argv) {
        struct sigaction sa = { .sa_handler = on_signal };
        BfeNetEventTemplate t = {};
        BfeNetEventSubscription *s = NULL;
        BfeEngine *e = NULL;
        int r;

        for (int i = 1; i + 1 < argc; i += 2) {
                if (strcmp(argv[i], "--filter") == 0)
                        t.filter_id = strtoull(argv[i + 1], NULL, 10);
                else if (strcmp(argv[i], "--layer") == 0)
                        t.layer = argv[i + 1];
                else if (strcmp(argv[i], "--ip-version") == 0)
                        t.ip_version = (uint8_t) atoi(argv[i + 1]);
                else {
                        fprintf(stderr, "usage: netev-client [--filter ID] [--layer LAYER] [--ip-version 4|6]\n");
                        return 2;
                }
        }
        sigemptyset(&sa.sa_mask);       /* no SA_RESTART: the wait returns on a signal */
        (void) sigaction(SIGUSR1, &sa, NULL);
        (void) sigaction(SIGTERM, &sa, NULL);
        (void) sigaction(SIGINT, &sa, NULL);

        r = bfe_engine_open(NULL, &e);
        if (r < 0) {
                printf("error - cannot connect: %s\n", strerror(-r));
                return 1;
        }
        r = bfe_net_events_subscribe(e, &t, on_event, NULL, &s);
        if (r < 0) {
                r = fail(e, r);
                bfe_engine_close(e);
                return r;
        }
        printf("subscribed\n");
        fflush(stdout);

        while (!got_stop) {
                if (got_usr1 && s) {
                        r = bfe_net_events_unsubscribe(s);
                        s = NULL;
                        if (r < 0)
                                (void) fail(e, r);
                        else {
                                printf("unsubscribed\n");
                                fflush(stdout);
                        }
                }
                r = bfe_engine_wait(e, 500 * 1000);
                if (r < 0 && r != -EINTR)
                        break;
        }
        bfe_engine_close(e);
        return 0;
}
