/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ctl-monitor.c — bfectl monitor: the engine's Changed signals, or with --drops its net events
 * (the packets bfed's filters drop), a line (or a JSON object) each, flushed as they come, until
 * SIGINT or SIGTERM.
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

static const char *protocol_name(uint8_t p, char buf[static 8]) {
        switch (p) {
        case 1: return "icmp";
        case 6: return "tcp";
        case 17: return "udp";
        case 58: return "icmpv6";
        default:
                snprintf(buf, 8, "%u", p);
                return buf;
        }
}

/* "192.0.2.1:500", "[2001:db8::1]:500"; the address alone without a port. */
static void endpoint(const BfeNetEvent *ev, const char *address, uint16_t port, char buf[static 64]) {
        if (ev->local_port == 0 && ev->remote_port == 0)
                snprintf(buf, 64, "%s", address);
        else
                snprintf(buf, 64, ev->ip_version == 6 ? "[%s]:%u" : "%s:%u", address, port);
}

/* One line per drop: the packet from its source to its destination. */
static void drop_print(BfeEngine *e, const BfeNetEvent *ev, void *userdata) {
        char local[64], remote[64], proto[8];

        if (arg_json) {
                Json j;

                json_begin(&j, stdout);
                json_str(&j, "event", "drop");
                json_u64(&j, "time_usec", ev->time_usec);
                json_u64(&j, "filter_id", ev->filter_id);
                json_str(&j, "layer", ev->layer);
                json_str(&j, "direction", ev->inbound ? "in" : "out");
                json_u64(&j, "ip_version", ev->ip_version);
                json_u64(&j, "protocol", ev->protocol);
                json_str(&j, "local_address", ev->local_address);
                json_u64(&j, "local_port", ev->local_port);
                json_str(&j, "remote_address", ev->remote_address);
                json_u64(&j, "remote_port", ev->remote_port);
                json_u64(&j, "suppressed", ev->suppressed);
                json_end(&j);
                putchar('\n');
        } else {
                endpoint(ev, ev->local_address, ev->local_port, local);
                endpoint(ev, ev->remote_address, ev->remote_port, remote);
                printf("dropped %s %s -> %s %s by filter %" PRIu64 " at %s", protocol_name(ev->protocol, proto),
                       ev->inbound ? remote : local, ev->inbound ? local : remote, ev->inbound ? "in" : "out",
                       ev->filter_id, ev->layer);
                if (ev->suppressed > 0)
                        printf(" (%" PRIu64 " more not shown)", ev->suppressed);
                putchar('\n');
        }
        fflush(stdout);
}

typedef struct MonitorArgs {
        bool drops;
        BfeNetEventTemplate template;
} MonitorArgs;

/* --drops and the template of the drops. */
static int monitor_option(const Verb *v, int c, const char *arg, void *userdata) {
        MonitorArgs *a = userdata;
        BfeNetEventTemplate *t = &a->template;
        uint32_t u;
        int r;

        switch (c) {
        case OPT_DROPS:
                a->drops = true;
                return EXIT_OK;
        case OPT_FILTER:
                if (text_parse_u64(arg, 10, UINT64_MAX, &t->filter_id) < 0 || t->filter_id == 0)
                        return usage_error(v, "--filter: '%s' is not a filter id", arg);
                return EXIT_OK;
        case OPT_LAYER:
                t->layer = arg;
                return EXIT_OK;
        case OPT_IP_VERSION:
                r = opt_u32(v, "ip-version", arg, &u);
                if (r == EXIT_OK && u != 4 && u != 6)
                        r = usage_error(v, "--ip-version: 4 or 6");
                t->ip_version = (uint8_t) u;
                return r;
        default:
                return usage_error(v, "invalid option");
        }
}

static int parse_monitor(const Verb *v, int argc, char **argv, MonitorArgs *a) {
        const BfeNetEventTemplate *t = &a->template;
        int r;

        r = parse_options(v, argc, argv, OPT_BIT(OPT_DROPS) | OPT_BIT(OPT_FILTER) | OPT_BIT(OPT_LAYER) |
                          OPT_BIT(OPT_IP_VERSION), monitor_option, a, 0);
        if (r == EXIT_OK && !a->drops && (t->filter_id || t->layer || t->ip_version))
                return usage_error(v, "--filter, --layer and --ip-version go with --drops");
        return r;
}

int verb_monitor(const Verb *v, int argc, char **argv) {
        _cleanup_(bfe_engine_closep) BfeEngine *e = NULL;
        struct sigaction sa = { .sa_handler = monitor_signal };
        MonitorArgs a = {};
        int r;

        r = verb_connect(parse_monitor(v, argc, argv, &a), &e);
        if (r != EXIT_OK)
                return verb_exit(r);

        /* No SA_RESTART: the wait returns on the signal, and we exit cleanly. */
        sigemptyset(&sa.sa_mask);
        (void) sigaction(SIGINT, &sa, NULL);
        (void) sigaction(SIGTERM, &sa, NULL);

        if (a.drops)
                r = bfe_net_events_subscribe(e, &a.template, drop_print, NULL, NULL);
        else
                r = bfe_subscribe_changes(e, NULL, monitor_print, NULL, NULL);
        if (r < 0)
                return engine_error(e, r);
        /* The match is in place (and for drops, the daemon logs them): everything from now on is printed. */
        fprintf(stderr, "Monitoring bfed %s; press Ctrl-C to stop.\n", a.drops ? "drops" : "changes");

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
