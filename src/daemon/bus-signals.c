/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bus-signals.c — what org.bfed.Engine1 says without being asked: the Changed signals of each
 * commit, PropertiesChanged of ExemptionsActive and ExemptionObstacles, ExemptedTrafficDropped,
 * the net events. The manager calls its hooks (bus_signals_hooks); see bus-signals.h.
 */
#include <errno.h>
#include <stdlib.h>

#include "array.h"
#include "bus-netevents.h"
#include "bus-private.h"
#include "bus-signals.h"
#include "firewalld.h"
#include "guid.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "object-bus.h"
#include "tracewatch.h"

/*
 * The Changed signals of a commit go out right after the replies to the calls that made it (the
 * emit source runs before the bus's next message): a caller's answer does not wait behind the
 * signals in dbus-daemon's queue. One signal carries the changes of every commit since the last
 * one went out, at most CHANGES_PER_SIGNAL of them (about 20 KiB): the calls a group commit
 * answers together cost dbus-daemon one message more, not one each, and an MM policy's add with
 * its 14 exemption filters one signal instead of 15.
 *
 * A commit of 100,000 filters is then 391 signals. What is kept is each change (32 bytes), and
 * the signals are built and sent a slice at a time: at most SIGNALS_QUEUED_MAX messages (the
 * connection's write queue counted in) go out in one pass, the next slice after a timer, and
 * replies to later calls go out between the slices. sd-bus asks the kernel for a socket buffer
 * of 8 MiB, so an unpaced commit's signals would all be written ahead of any later reply; and
 * sd-bus moves its whole write queue for every message it writes, so when signals were one a
 * change, 100,000 of them queued at once took seconds.
 */
#define CHANGES_PER_SIGNAL 256
#define SIGNALS_QUEUED_MAX 4
#define SIGNALS_RETRY_USEC (1 * 1000ULL)

typedef struct PendingChange {
        BfeGuid key;
        uint64_t id;
        uint8_t kind;                   /* ObjectKind */
        uint8_t type;                   /* ChangeType */
} PendingChange;

/* Where a broadcast signal goes: the bus, and root's private connections that still read. */
static size_t signal_conns(Bus *b, sd_bus *conns[static BUS_PRIVATE_MAX + 1]) {
        size_t n = 0;

        if (b->bus)
                conns[n++] = b->bus;
        for (BusPrivate *p = b->privates, *next; p && n < BUS_PRIVATE_MAX + 1; p = next) {
                next = p->next;
                if (bus_private_may_send(p))
                        conns[n++] = p->conn;
        }
        return n;
}

static bool anyone_listens(const Bus *b) {
        return b->bus || b->privates;
}

static void queue_changes(Manager *m, const Change *changes, size_t n, void *userdata) {
        Bus *b = userdata;

        if (!anyone_listens(b) || n == 0)
                return;
        if (!ARRAY_RESERVE(b->changes, b->n_changes_alloc, b->n_changes + n, n)) {
                log_error("Out of memory: %zu changes are not signalled.", n);
                return;
        }
        for (size_t i = 0; i < n; i++) {
                const Change *c = &changes[i];

                b->changes[b->n_changes++] = (PendingChange) {
                        .key = *engine_object_key(c->kind, c->object),
                        .id = engine_object_id(c->kind, c->object),
                        .kind = (uint8_t) c->kind,
                        .type = (uint8_t) c->type,
                };
        }
        (void) sd_event_source_set_enabled(b->emit, SD_EVENT_ONESHOT);
}

static void exemptions_changed(Manager *m, bool active, void *userdata) {
        Bus *b = userdata;

        firewalld_set_wanted(b->firewalld, active);
        b->exemptions_changed = true;
        (void) sd_event_source_set_enabled(b->emit, SD_EVENT_ONESHOT);
}

void bus_signals_obstacles_changed(Bus *b) {
        b->obstacles_changed = true;
        (void) sd_event_source_set_enabled(b->emit, SD_EVENT_ONESHOT);
}

static void obstacles_changed(Manager *m, void *userdata) {
        bus_signals_obstacles_changed(userdata);
}

/* Not tied to a call: sent at once (the watch reports a chain at most once a second). */
static void exempted_dropped(Manager *m, const NftTraceDrop *d, void *userdata) {
        sd_bus *conns[BUS_PRIVATE_MAX + 1];
        size_t n = signal_conns(userdata, conns);

        for (size_t i = 0; i < n; i++) {
                int r = sd_bus_emit_signal(conns[i], ENGINE_PATH, ENGINE_IFACE, "ExemptedTrafficDropped", "ssss",
                                           d->table, d->chain, d->verdict, d->packet);
                if (r < 0)
                        log_warning_errno(r, "Failed to send an ExemptedTrafficDropped signal: %m");
        }
}

static void net_event(Manager *m, const NetEventSub *s, const NetEvent *ev, void *userdata) {
        bus_net_event_send(userdata, s, ev);
}

const ManagerHooks bus_signals_hooks = {
        .committed = queue_changes,
        .exemptions_changed = exemptions_changed,
        .obstacles_changed = obstacles_changed,
        .exempted_dropped = exempted_dropped,
        .reloaded = bus_reloaded,
        .net_event = net_event,
};

void bus_signals_free(Bus *b) {
        b->changes = mfree(b->changes);
        b->n_changes = b->n_changes_alloc = b->n_changes_sent = 0;
        b->exemptions_changed = b->obstacles_changed = false;
        (void) sd_event_source_set_enabled(b->emit_later, SD_EVENT_OFF);
}

/* One Changed signal on @conn with the changes @c[0..n). */
static int send_changed(sd_bus *conn, const PendingChange *c, size_t n) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *signal = NULL;
        char buf[GUID_STRING_MAX];
        int r;

        r = sd_bus_message_new_signal(conn, &signal, ENGINE_PATH, ENGINE_IFACE, "Changed");
        if (r >= 0)
                r = sd_bus_message_open_container(signal, 'a', "(sust)");
        /* basic appends: a format string would be parsed again for each of up to 256 changes */
        for (size_t i = 0; r >= 0 && i < n; i++) {
                uint32_t type = c[i].type;

                r = sd_bus_message_open_container(signal, 'r', "sust");
                if (r >= 0)
                        r = sd_bus_message_append_basic(signal, 's', object_kind_to_string(c[i].kind));
                if (r >= 0)
                        r = sd_bus_message_append_basic(signal, 'u', &type);
                if (r >= 0)
                        r = sd_bus_message_append_basic(signal, 's', guid_to_string(&c[i].key, buf));
                if (r >= 0)
                        r = sd_bus_message_append_basic(signal, 't', &c[i].id);
                if (r >= 0)
                        r = sd_bus_message_close_container(signal);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(signal);
        if (r >= 0)
                r = sd_bus_send(conn, signal, NULL);
        return r;
}

static int on_emit(sd_event_source *source, void *userdata) {
        Bus *b = userdata;
        sd_bus *conns[BUS_PRIVATE_MAX + 1];
        uint64_t queued = 0;
        size_t n_conns;
        int r;

        if (!anyone_listens(b)) {
                bus_signals_free(b);
                return 0;
        }
        if (b->bus)
                (void) sd_bus_get_n_queued_write(b->bus, &queued);
        n_conns = signal_conns(b, conns);
        for (; b->n_changes_sent < b->n_changes && queued < SIGNALS_QUEUED_MAX; queued++) {
                size_t n = b->n_changes - b->n_changes_sent;

                if (n > CHANGES_PER_SIGNAL)
                        n = CHANGES_PER_SIGNAL;
                for (size_t i = 0; i < n_conns; i++) {
                        r = send_changed(conns[i], &b->changes[b->n_changes_sent], n);
                        /* a private connection may be closing: its peer is gone then */
                        if (r < 0)
                                log_full_errno(conns[i] == b->bus ? LOG_ERR : LOG_DEBUG, r,
                                               "Failed to send a Changed signal of %zu changes: %m", n);
                }
                b->n_changes_sent += n;
        }
        if (b->n_changes_sent < b->n_changes) {
                /* the rest when the queue went down: sd-bus writes it as the socket takes it */
                uint64_t now;

                r = sd_event_now(b->manager->event, CLOCK_MONOTONIC, &now);
                if (r >= 0)
                        r = sd_event_source_set_time(b->emit_later, now + SIGNALS_RETRY_USEC);
                if (r >= 0)
                        r = sd_event_source_set_enabled(b->emit_later, SD_EVENT_ONESHOT);
                if (r < 0)
                        log_error_errno(r, "Failed to schedule the next Changed signals: %m");
                return 0;
        }
        b->n_changes = b->n_changes_sent = 0;
        if (b->n_changes_alloc > 1024) {        /* a big commit's: give it back */
                b->changes = mfree(b->changes);
                b->n_changes_alloc = 0;
        }
        for (size_t i = 0; i < n_conns; i++) {
                if (b->exemptions_changed)
                        (void) sd_bus_emit_properties_changed(conns[i], ENGINE_PATH, ENGINE_IFACE, "ExemptionsActive",
                                                              NULL);
                if (b->obstacles_changed)
                        (void) sd_bus_emit_properties_changed(conns[i], ENGINE_PATH, ENGINE_IFACE,
                                                              "ExemptionObstacles", NULL);
        }
        b->exemptions_changed = b->obstacles_changed = false;
        return 0;
}

static int on_emit_later(sd_event_source *source, uint64_t usec, void *userdata) {
        return on_emit(NULL, userdata);
}

int bus_signals_setup(Bus *b) {
        Manager *m = b->manager;
        int r;

        if (b->emit)
                return 0;
        r = sd_event_add_defer(m->event, &b->emit, on_emit, b);
        if (r >= 0)
                r = sd_event_source_set_priority(b->emit, SD_EVENT_PRIORITY_NORMAL - 1);
        if (r >= 0)
                r = sd_event_source_set_enabled(b->emit, SD_EVENT_OFF);
        if (r >= 0)
                r = sd_event_add_time(m->event, &b->emit_later, CLOCK_MONOTONIC, 0, 0, on_emit_later, b);
        if (r >= 0)
                r = sd_event_source_set_enabled(b->emit_later, SD_EVENT_OFF);
        return r;
}
