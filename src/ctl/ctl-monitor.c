/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ctl-monitor.c — bfectl monitor: the engine's Changed signals, a line (or a JSON object) each,
 * flushed as they come, until SIGINT or SIGTERM.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "bfectl-util.h"
#include "bfectl.h"

static volatile sig_atomic_t monitor_stop;

static void monitor_signal(int sig) {
        monitor_stop = sig;
}

static const char *change_name(uint32_t change, bool past) {
        switch (change) {
        case BFE_CHANGE_ADD:
                return past ? "added" : "add";
        case BFE_CHANGE_DELETE:
                return past ? "deleted" : "delete";
        default:
                return NULL;
        }
}

/* One line per change, flushed, so a pipe reader sees it at once. */
static void monitor_print(BfeEngine *e, const BfeChange *c, void *userdata) {
        const char *change = change_name(c->change_type, !arg_json);
        char buf[BFE_KEY_STRING_MAX];

        bfe_key_to_string(&c->key, buf);
        if (arg_json) {
                Json j;

                json_begin(&j, stdout);
                json_name(&j, "change");
                if (change)
                        json_print_string(stdout, change);
                else
                        printf("%" PRIu32, c->change_type);
                json_str(&j, "kind", c->kind_name);
                json_u64(&j, "id", c->id);
                json_str(&j, "key", buf);
                json_end(&j);
                putchar('\n');
        } else {
                if (change)
                        printf("%s %s", change, c->kind_name);
                else
                        printf("change %" PRIu32 " %s", c->change_type, c->kind_name);
                if (c->id != 0 || c->kind == BFE_OBJECT_FILTER || c->kind == BFE_OBJECT_PROVIDER_CONTEXT)
                        printf(" %" PRIu64, c->id);
                printf(" %s\n", buf);
        }
        fflush(stdout);
}

int verb_monitor(const Verb *v, int argc, char **argv) {
        _cleanup_(bfe_engine_closep) BfeEngine *e = NULL;
        struct sigaction sa = { .sa_handler = monitor_signal };
        int r;

        r = verb_connect(parse_basic(v, argc, argv, 0), &e);
        if (r != EXIT_OK)
                return verb_exit(r);

        /* No SA_RESTART: the wait returns on the signal, and we exit cleanly. */
        sigemptyset(&sa.sa_mask);
        (void) sigaction(SIGINT, &sa, NULL);
        (void) sigaction(SIGTERM, &sa, NULL);

        r = bfe_subscribe_changes(e, NULL, monitor_print, NULL, NULL);
        if (r < 0)
                return engine_error(e, r);
        /* The match is in place: every change from now on is printed. */
        fprintf(stderr, "Monitoring bfed changes; press Ctrl-C to stop.\n");

        while (!monitor_stop) {
                r = bfe_engine_wait(e, 500 * 1000);
                if (r == -EINTR)
                        continue;
                if (r < 0) {
                        fprintf(stderr, "bfectl: lost the bus connection: %s\n", strerror(-r));
                        return EXIT_CONNECT;
                }
        }
        return EXIT_OK;
}
