/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bus-netevents.c — SubscribeNetEvents and UnsubscribeNetEvents on the engine object, and the
 * NetEvent signal (doc/org.bfed.Engine1.md, "Net events"). netevents.c has the logic.
 *
 * A NetEvent is sent to its subscriber alone (a signal with a destination): the template and the
 * rate are per subscription, and the packets of other connections are nobody else's business.
 */
#include <arpa/inet.h>

#include "bus-engine.h"
#include "bus-netevents.h"
#include "bus-private.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "netevents.h"

typedef struct NetEventArgs {
        NetEventTemplate t;
} NetEventArgs;

static Manager *manager_of(const BusCall *bc) {
        return bc->call.session->manager;
}

/* Template keys: FilterId t, Layer s, IpVersion y. */
static int template_option(sd_bus_message *m, const char *key, const char *contents, void *userdata,
                           sd_bus_error *error) {
        NetEventTemplate *t = userdata;
        const char *s;
        uint8_t v;
        int r;

        if (streq(key, "FilterId") && streq(contents, "t"))
                r = sd_bus_message_read(m, "v", "t", &t->filter_id);
        else if (streq(key, "IpVersion") && streq(contents, "y")) {
                r = sd_bus_message_read(m, "v", "y", &v);
                t->ip_version = v;
        } else if (streq(key, "Layer") && streq(contents, "s")) {
                r = sd_bus_message_read(m, "v", "s", &s);
                if (r >= 0 && wfp_layer_from_string(s, &t->layer) < 0)
                        return bus_fail_wfp(error, FWP_E_LAYER_NOT_FOUND, "no layer '%s'", s);
                t->has_layer = true;
        } else
                return 0;
        return r < 0 ? r : 1;
}

static int subscribe_parse(BusCall *bc, sd_bus_error *error) {
        return bus_read_options(bc->msg, "template key", template_option, &((NetEventArgs *) bc->args)->t, error);
}

static int subscribe_run(BusCall *bc, EngineError *err) {
        NetEventArgs *a = (NetEventArgs *) bc->args;
        NetEventSub *s;
        int r;

        r = net_event_subscribe(manager_of(bc), bc->peer->name, &a->t, err, &s);
        if (r < 0)
                return r;
        r = bus_call_reply(bc, "t", s->id);
        if (r < 0)
                net_event_unsubscribe(s);
        return r;
}

static int unsubscribe_run(BusCall *bc, EngineError *err) {
        return net_event_unsubscribe_owned(manager_of(bc), *(uint64_t *) bc->args, bc->peer->name, err);
}

/* Subscribe waits for the lock like a read: the first one switches the log statements on, in a
 * batch of its own, while no transaction is open. Unsubscribe needs no lock: the log statements
 * go after it (deferred). Only who may change the engine may subscribe: the events are other
 * users' packets, and the log statements cost every packet a rule drops. */
static const BusMethod methods[] = {
        {
                .name = "SubscribeNetEvents", .kind = CALL_READ, .privileged = true, .args_size = sizeof(NetEventArgs),
                .parse = subscribe_parse, .run = subscribe_run,
        },
        {
                .name = "UnsubscribeNetEvents", .kind = CALL_NOW, .args_size = sizeof(uint64_t),
                .parse = bus_parse_id, .run = unsubscribe_run,
        },
};

int bus_net_events_dispatch(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return bus_dispatch(msg, userdata, methods, ELEMENTSOF(methods), error);
}

/* The address as text: an IPv4 or IPv6 address, always valid UTF-8. */
static const char *address_text(int ip_version, const uint8_t *a, char buf[static INET6_ADDRSTRLEN]) {
        if (!inet_ntop(ip_version == 4 ? AF_INET : AF_INET6, a, buf, INET6_ADDRSTRLEN))
                buf[0] = 0;
        return buf;
}

void bus_net_event_send(Bus *b, const NetEventSub *s, const NetEvent *ev) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *signal = NULL;
        char local[INET6_ADDRSTRLEN], remote[INET6_ADDRSTRLEN];
        BusPrivate *p = bus_private_by_name(b, s->owner);
        sd_bus *conn = p ? p->conn : b->bus;
        int r;

        if (!conn || (p && !bus_private_may_send(p)))
                return;
        r = sd_bus_message_new_signal(conn, &signal, ENGINE_PATH, ENGINE_IFACE, "NetEvent");
        if (r >= 0 && *s->owner && !p)          /* on its own connection it needs no address */
                r = sd_bus_message_set_destination(signal, s->owner);
        if (r >= 0)
                r = sd_bus_message_append(signal, "tttssyysqsqt", s->id, ev->time_usec, ev->filter_id,
                                          wfp_layer_info(ev->layer)->name, ev->inbound ? "in" : "out",
                                          (uint8_t) ev->ip_version, ev->protocol,
                                          address_text(ev->ip_version, ev->local_address, local), ev->local_port,
                                          address_text(ev->ip_version, ev->remote_address, remote), ev->remote_port,
                                          ev->suppressed);
        if (r >= 0)
                r = sd_bus_send(conn, signal, NULL);
        if (r < 0)
                log_debug_errno(r, "Failed to send a NetEvent to %s: %m", s->owner);
}
