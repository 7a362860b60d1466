/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bfe-netevents.c — net event subscriptions: SubscribeNetEvents, the NetEvent signal, UnsubscribeNetEvents. */
#include <errno.h>
#include <string.h>

#include "bfe-internal.h"
#include "list.h"
#include "macro.h"

struct BfeNetEventSubscription {
        BfeWatch watch;                 /* first */
        uint64_t id;                    /* the daemon's handle; 0 until it answered */
        BfeNetEventCallback callback;
};

static int on_net_event(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        BfeNetEventSubscription *s = userdata;
        const char *direction;
        uint64_t id;
        BfeNetEvent ev = {};
        int r;

        r = sd_bus_message_read(m, "tttssyysqsqt", &id, &ev.time_usec, &ev.filter_id, &ev.layer, &direction,
                                &ev.ip_version, &ev.protocol, &ev.local_address, &ev.local_port, &ev.remote_address,
                                &ev.remote_port, &ev.suppressed);
        if (r < 0 || id == 0 || id != s->id)
                return 0;       /* another subscription's, or a signal we do not know */
        ev.inbound = streq(direction, "in");
        s->callback(s->watch.engine, &ev, s->watch.userdata);
        return 0;
}

static int append_template(sd_bus_message *m, const BfeNetEventTemplate *t) {
        int r;

        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && t && t->filter_id)
                r = sd_bus_message_append(m, "{sv}", "FilterId", "t", t->filter_id);
        if (r >= 0 && t && t->layer)
                r = sd_bus_message_append(m, "{sv}", "Layer", "s", t->layer);
        if (r >= 0 && t && t->ip_version)
                r = sd_bus_message_append(m, "{sv}", "IpVersion", "y", t->ip_version);
        return r < 0 ? r : sd_bus_message_close_container(m);
}

_public_ int bfe_net_events_subscribe(BfeEngine *e, const BfeNetEventTemplate *template, BfeNetEventCallback callback,
                                      void *userdata, BfeNetEventSubscription **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        BfeNetEventSubscription *s;
        int r;

        /* the match first: every event of the subscription comes after the reply that names it;
         * its events are taken once the daemon named it (s->id) */
        s = bfe_watch_new(e, callback, sizeof(*s), "NetEvent", on_net_event, userdata, &r);
        if (!s)
                return r;
        s->callback = callback;
        /* on the engine object, whether or not @e has a session */
        r = sd_bus_message_new_method_call(e->bus, &m, BFE_BUS_NAME, BFE_OBJECT_PATH, BFE_INTERFACE,
                                           "SubscribeNetEvents");
        if (r >= 0)
                r = append_template(m, template);
        if (r < 0) {
                bfe_watch_free(&s->watch);
                return bfe_engine_result(e, r);
        }
        r = bfe_engine_call(e, m, &reply);
        if (r >= 0)
                r = sd_bus_message_read(reply, "t", &s->id);
        if (r < 0) {
                bfe_watch_free(&s->watch);
                return bfe_engine_result(e, r);
        }

        if (ret)
                *ret = s;
        return 0;
}

_public_ int bfe_net_events_unsubscribe(BfeNetEventSubscription *s) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        BfeEngine *e;
        int r;

        if (!s)
                return 0;
        e = s->watch.engine;
        r = bfe_engine_begin(e, true);
        if (r >= 0)
                r = sd_bus_message_new_method_call(e->bus, &m, BFE_BUS_NAME, BFE_OBJECT_PATH, BFE_INTERFACE,
                                                   "UnsubscribeNetEvents");
        if (r >= 0)
                r = sd_bus_message_append(m, "t", s->id);
        if (r >= 0)
                r = bfe_engine_call(e, m, &reply);
        bfe_watch_free(&s->watch);
        return r < 0 ? bfe_engine_result(e, r) : 0;
}
