/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * firewalld.c — bfed's client of firewalld: what it opens and why is in firewalld.h.
 *
 * One sync runs at a time, and it makes one call at a time. A sync asks firewalld for its
 * default zone and its active zones, then goes through every (zone, opening) pair: it takes
 * back what bfed added where it is no longer wanted, and where it is wanted it asks whether
 * firewalld has it already (queryPort, queryRichRule) and adds it if not. Whatever happens
 * during a sync (a signal, a change of the exemptions) marks it dirty, and it runs again.
 *
 * Why the answers can be trusted without more: firewalld handles calls one at a time, and the
 * bus daemon keeps the order of what firewalld sends, so a reply that comes after the Reloaded
 * signal is about a call firewalld handled after the reload.
 *  - An add that succeeded is bfed's, whenever it came: a reload before it did not undo it, a
 *    reload after it is seen after it (and forgets it).
 *  - A take-back that firewalld handled after a reload removed what the reload had put back,
 *    from the permanent configuration: the admin's. bfed adds it back, as not its own.
 *  - Calls go to firewalld's unique name: none reaches a firewalld started after it was sent.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "array.h"
#include "firewalld.h"
#include "log.h"
#include "macro.h"
#include "name-watch.h"
#include "string-util.h"
#include "utf8.h"

#define FIREWALLD_EXCEPTION FIREWALLD_IFACE ".Exception"
#define FIREWALLD_NOT_AUTHORIZED FIREWALLD_IFACE ".NotAuthorizedException"
/* the longest problem text kept, in bytes (firewalld's messages are a line or two) */
#define FIREWALLD_PROBLEM_MAX 512

/* What bfed opens in each zone: exactly the exempted traffic. */
typedef enum Opening {
        OPENING_UDP_500,
        OPENING_UDP_4500_V4,
        _OPENING_MAX,
} Opening;

static const struct {
        const char *what;               /* for messages */
        const char *port;               /* a port ("500", udp): *Port calls; firewalld opens both families */
        const char *rich_rule;          /* or a rich rule: *RichRule calls */
} openings[_OPENING_MAX] = {
        [OPENING_UDP_500] = { .what = "UDP 500 (IPv4 and IPv6)", .port = "500" },
        [OPENING_UDP_4500_V4] = { .what = "IPv4 UDP 4500",
                                  .rich_rule = "rule family=\"ipv4\" port port=\"4500\" protocol=\"udp\" accept" },
};

typedef struct Zone {
        char *name;
        bool active;                    /* active or the default zone, as of the last sync that asked */
        bool ours[_OPENING_MAX];        /* bfed added it and has not taken it back */
        bool done[_OPENING_MAX];        /* this sync is through with it */
} Zone;

typedef enum Step {
        STEP_IDLE,
        STEP_DEFAULT_ZONE,              /* getDefaultZone in flight */
        STEP_ACTIVE_ZONES,              /* getActiveZones in flight */
        STEP_APPLY,                     /* one query, add or take-back at a time */
} Step;

typedef enum OpKind {
        OP_QUERY,
        OP_ADD,
        OP_REMOVE,
        OP_RESTORE,                     /* adds back what a take-back after a reload removed */
} OpKind;

struct Firewalld {
        sd_event *event;
        sd_bus *bus;                    /* the client's own connection */
        FirewalldMode mode;
        bool wanted;                    /* the exemptions are active */
        char *owner;                    /* firewalld's unique name; NULL while nobody owns FIREWALLD_NAME */
        NameWatch owner_watch;
        uint64_t epoch;                 /* +1 whenever firewalld's runtime configuration starts over */
        sd_bus_slot *signal_match;
        sd_event_source *kick;          /* starts a sync from the loop, not from inside its caller */

        Step step;
        bool dirty;                     /* run a sync (again) once this one is through */
        bool sync_wanted;               /* fw->wanted when the sync started */
        sd_bus_slot *call;              /* the one call in flight, and what it is about: */
        OpKind op;
        size_t op_zone;
        Opening op_opening;
        uint64_t op_epoch;

        char *default_zone;
        Zone *zones;
        size_t n_zones, n_zones_alloc;

        char **problems;                /* as published */
        size_t n_problems;
        char **pending;                 /* found by the sync in progress */
        size_t n_pending, n_pending_alloc;

        FirewalldChanged changed;
        void *userdata;
};

static void apply(Firewalld *fw);

/* ---- problems ------------------------------------------------------------------------------ */

static void strv_free_n(char **v, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

static bool strv_contains(char *const *v, size_t n, const char *s) {
        for (size_t i = 0; i < n; i++)
                if (streq(v[i], s))
                        return true;
        return false;
}

static _printf_(2, 3) void problem(Firewalld *fw, const char *fmt, ...) {
        char *s;
        va_list ap;

        va_start(ap, fmt);
        s = strdup_vprintf(fmt, ap);
        va_end(ap);
        if (!s)
                return;
        /* firewalld's texts (zone names, its errors) go to the bus and bfectl: printable, bounded */
        utf8_truncate(utf8_make_printable(s), FIREWALLD_PROBLEM_MAX);
        if (strv_contains(fw->pending, fw->n_pending, s) ||
            !ARRAY_RESERVE(fw->pending, fw->n_pending_alloc, fw->n_pending + 1, 4)) {
                free(s);
                return;
        }
        fw->pending[fw->n_pending++] = s;
}

/* The sync found what it found: log what is new, and tell the daemon if anything changed. */
static void publish(Firewalld *fw) {
        bool same = fw->n_pending == fw->n_problems;

        for (size_t i = 0; same && i < fw->n_pending; i++)
                same = strv_contains(fw->problems, fw->n_problems, fw->pending[i]);
        if (same) {
                strv_free_n(fw->pending, fw->n_pending);
                fw->pending = NULL;
                fw->n_pending = fw->n_pending_alloc = 0;
                return;
        }
        for (size_t i = 0; i < fw->n_pending; i++)
                if (!strv_contains(fw->problems, fw->n_problems, fw->pending[i]))
                        log_warning("%s", fw->pending[i]);
        if (fw->n_pending == 0)
                log_notice("firewalld: no problem any more with the exempted traffic.");
        strv_free_n(fw->problems, fw->n_problems);
        fw->problems = TAKE_PTR(fw->pending);
        fw->n_problems = fw->n_pending;
        fw->n_pending = fw->n_pending_alloc = 0;
        if (fw->changed)
                fw->changed(fw, fw->userdata);
}

/* firewalld's error, short: its D-Bus name and message, with a hint for a refusal. */
static const char *error_text(const sd_bus_error *e, char *buf, size_t size) {
        bool refused = sd_bus_error_has_name(e, FIREWALLD_NOT_AUTHORIZED) ||
                       sd_bus_error_has_name(e, SD_BUS_ERROR_ACCESS_DENIED) ||
                       (sd_bus_error_has_name(e, FIREWALLD_EXCEPTION) && e->message &&
                        startswith(e->message, "ACCESS_DENIED"));

        (void) snprintf(buf, size, "%s: %.200s%s", e->name ?: "?", e->message ?: "",
                        refused ? " (firewalld lets root in, or whom polkit and its lockdown whitelist allow)" : "");
        return buf;
}

static bool is_firewalld_error(const sd_bus_error *e, const char *code) {
        return sd_bus_error_has_name(e, FIREWALLD_EXCEPTION) && e->message && startswith(e->message, code) &&
               e->message[strlen(code)] == ':';
}

/* ---- zones --------------------------------------------------------------------------------- */

static Zone *zone_get(Firewalld *fw, const char *name) {
        char *copy;

        for (size_t i = 0; i < fw->n_zones; i++)
                if (streq(fw->zones[i].name, name))
                        return &fw->zones[i];
        copy = strdup(name);
        if (!copy || !ARRAY_RESERVE(fw->zones, fw->n_zones_alloc, fw->n_zones + 1, 4)) {
                free(copy);
                return NULL;
        }
        fw->zones[fw->n_zones] = (Zone) { .name = copy };
        return &fw->zones[fw->n_zones++];
}

static bool zone_has_ours(const Zone *z) {
        for (Opening k = 0; k < _OPENING_MAX; k++)
                if (z->ours[k])
                        return true;
        return false;
}

/* Forgets the zones that are neither active nor hold anything of bfed's. */
static void zones_compact(Firewalld *fw) {
        size_t n = 0;

        for (size_t i = 0; i < fw->n_zones; i++) {
                if (!fw->zones[i].active && !zone_has_ours(&fw->zones[i])) {
                        free(fw->zones[i].name);
                        continue;
                }
                fw->zones[n++] = fw->zones[i];
        }
        fw->n_zones = n;
}

/* firewalld's runtime configuration started over: nothing in it is bfed's any more. */
static void forget_ours(Firewalld *fw) {
        fw->epoch++;
        for (size_t i = 0; i < fw->n_zones; i++)
                memset(fw->zones[i].ours, 0, sizeof(fw->zones[i].ours));
}

/* A new firewalld, or none: what bfed knew is about another process. */
static void reset(Firewalld *fw) {
        fw->call = sd_bus_slot_unref(fw->call);
        fw->step = STEP_IDLE;
        forget_ours(fw);
        for (size_t i = 0; i < fw->n_zones; i++)
                free(fw->zones[i].name);
        fw->zones = mfree(fw->zones);
        fw->n_zones = fw->n_zones_alloc = 0;
        fw->default_zone = mfree(fw->default_zone);
}

/* ---- the sync ------------------------------------------------------------------------------ */

static void request_sync(Firewalld *fw) {
        fw->dirty = true;
        if (fw->step == STEP_IDLE)
                (void) sd_event_source_set_enabled(fw->kick, SD_EVENT_ONESHOT);
}

static void finish(Firewalld *fw) {
        fw->step = STEP_IDLE;
        publish(fw);
        if (fw->dirty)
                (void) sd_event_source_set_enabled(fw->kick, SD_EVENT_ONESHOT);
}

/* A method call to firewalld's unique name; the reply goes to @handler. */
static int call(Firewalld *fw, const char *iface, const char *member, sd_bus_message_handler_t handler,
                const char *types, ...) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        va_list ap;
        int r;

        r = sd_bus_message_new_method_call(fw->bus, &m, fw->owner, FIREWALLD_PATH, iface, member);
        if (r < 0)
                return r;
        if (types) {
                va_start(ap, types);
                r = sd_bus_message_appendv(m, types, ap);
                va_end(ap);
                if (r < 0)
                        return r;
        }
        return sd_bus_call_async(fw->bus, &fw->call, m, handler, fw, 0);
}

static int on_op(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error);

/* Sends the query, add or take-back of opening @k in zone @i. */
static int send_op(Firewalld *fw, OpKind op, size_t i, Opening k) {
        const char *zone = fw->zones[i].name, *port = openings[k].port, *rule = openings[k].rich_rule;

        fw->op = op;
        fw->op_zone = i;
        fw->op_opening = k;
        fw->op_epoch = fw->epoch;
        switch (op) {
        case OP_QUERY:
                return port ? call(fw, FIREWALLD_ZONE_IFACE, "queryPort", on_op, "sss", zone, port, "udp")
                            : call(fw, FIREWALLD_ZONE_IFACE, "queryRichRule", on_op, "ss", zone, rule);
        case OP_ADD:
        case OP_RESTORE:
                /* timeout 0: until taken back or firewalld reloads; runtime only */
                return port ? call(fw, FIREWALLD_ZONE_IFACE, "addPort", on_op, "sssi", zone, port, "udp", 0)
                            : call(fw, FIREWALLD_ZONE_IFACE, "addRichRule", on_op, "ssi", zone, rule, 0);
        case OP_REMOVE:
                return port ? call(fw, FIREWALLD_ZONE_IFACE, "removePort", on_op, "sss", zone, port, "udp")
                            : call(fw, FIREWALLD_ZONE_IFACE, "removeRichRule", on_op, "ss", zone, rule);
        }
        return -EINVAL;
}

/* The next step of the sync: the first (zone, opening) pair with something to do. */
static void apply(Firewalld *fw) {
        fw->step = STEP_APPLY;
        for (size_t i = 0; i < fw->n_zones; i++)
                for (Opening k = 0; k < _OPENING_MAX; k++) {
                        Zone *z = &fw->zones[i];
                        bool want = fw->sync_wanted && z->active;
                        int r;

                        if (z->done[k])
                                continue;
                        z->done[k] = true;
                        if (z->ours[k] == want)
                                continue;
                        r = send_op(fw, z->ours[k] ? OP_REMOVE : OP_QUERY, i, k);
                        if (r >= 0) {
                                z->done[k] = false;     /* the reply decides */
                                return;
                        }
                        problem(fw, "firewalld zone %s: cannot send a call about %s: %s", z->name, openings[k].what,
                                strerror(-r));
                }
        finish(fw);
}

static int on_op(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Firewalld *fw = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        Zone *z = &fw->zones[fw->op_zone];
        Opening k = fw->op_opening;
        const char *what = openings[k].what;
        char buf[512];
        int answer = 0, r;

        fw->call = sd_bus_slot_unref(fw->call);
        switch (fw->op) {
        case OP_QUERY:
                if (!e && sd_bus_message_read(reply, "b", &answer) < 0)
                        answer = -1;
                if (e || answer < 0) {
                        problem(fw, "firewalld zone %s: cannot ask whether %s is open: %s", z->name, what,
                                e ? error_text(e, buf, sizeof(buf)) : "unreadable answer");
                        z->done[k] = true;
                } else if (answer) {
                        log_debug("firewalld zone %s: %s is open already, not by bfed; leaving it alone.", z->name,
                                  what);
                        z->done[k] = true;
                } else {
                        r = send_op(fw, OP_ADD, fw->op_zone, k);
                        if (r >= 0)
                                return 0;
                        problem(fw, "firewalld zone %s: cannot send addPort/addRichRule for %s: %s", z->name, what,
                                strerror(-r));
                        z->done[k] = true;
                }
                break;
        case OP_ADD:
                z->done[k] = true;
                if (!e) {
                        z->ours[k] = true;
                        log_info("firewalld zone %s: opened %s for the IKE/AuthIP exemptions (runtime only).",
                                 z->name, what);
                } else if (is_firewalld_error(e, "ALREADY_ENABLED"))
                        log_debug("firewalld zone %s: %s was opened meanwhile, not by bfed.", z->name, what);
                else
                        problem(fw, "firewalld zone %s: cannot open %s: %s", z->name, what,
                                error_text(e, buf, sizeof(buf)));
                break;
        case OP_REMOVE:
                if (fw->op_epoch != fw->epoch) {
                        /* firewalld reloaded before it handled this: what it removed is the admin's */
                        if (e)
                                break;
                        log_notice("firewalld zone %s: took back %s just after firewalld reloaded it from its "
                                   "permanent configuration; putting it back.", z->name, what);
                        r = send_op(fw, OP_RESTORE, fw->op_zone, k);
                        if (r >= 0)
                                return 0;
                        problem(fw, "firewalld zone %s: could not put back the admin's %s: %s", z->name, what,
                                strerror(-r));
                        break;
                }
                if (!e || is_firewalld_error(e, "NOT_ENABLED")) {
                        z->ours[k] = false;
                        log_info("firewalld zone %s: took back %s.", z->name, what);
                } else {
                        z->done[k] = true;
                        problem(fw, "firewalld zone %s: cannot take back %s: %s", z->name, what,
                                error_text(e, buf, sizeof(buf)));
                }
                break;
        case OP_RESTORE:
                if (e && !is_firewalld_error(e, "ALREADY_ENABLED"))
                        problem(fw, "firewalld zone %s: could not put back the admin's %s: %s", z->name, what,
                                error_text(e, buf, sizeof(buf)));
                break;
        }
        apply(fw);
        return 0;
}

static int on_active_zones(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Firewalld *fw = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        const char *name;
        char buf[512];
        int r;

        fw->call = sd_bus_slot_unref(fw->call);
        if (e) {
                problem(fw, "firewalld: cannot read its active zones: %s", error_text(e, buf, sizeof(buf)));
                finish(fw);
                return 0;
        }
        for (size_t i = 0; i < fw->n_zones; i++)
                fw->zones[i].active = false;
        /* a{sa{sas}}: zone → {"interfaces": […], "sources": […]} */
        r = sd_bus_message_enter_container(reply, 'a', "{sa{sas}}");
        while (r > 0 && (r = sd_bus_message_enter_container(reply, 'e', "sa{sas}")) > 0) {
                Zone *z;

                r = sd_bus_message_read(reply, "s", &name);
                if (r >= 0)
                        r = sd_bus_message_skip(reply, "a{sas}");
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        break;
                z = zone_get(fw, name);
                if (!z) {
                        r = -ENOMEM;
                        break;
                }
                z->active = true;
                r = 1;
        }
        if (r >= 0 && fw->default_zone) {
                Zone *z = zone_get(fw, fw->default_zone);

                if (z)
                        z->active = true;
                else
                        r = -ENOMEM;
        }
        if (r < 0) {
                problem(fw, "firewalld: cannot read its active zones: %s", strerror(-r));
                finish(fw);
                return 0;
        }
        zones_compact(fw);
        apply(fw);
        return 0;
}

static int on_default_zone(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Firewalld *fw = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        const char *name = NULL;
        char buf[512];
        int r;

        fw->call = sd_bus_slot_unref(fw->call);
        if (e || sd_bus_message_read(reply, "s", &name) < 0 || !name[0]) {
                problem(fw, "firewalld: cannot read its default zone: %s",
                        e ? error_text(e, buf, sizeof(buf)) : "unreadable answer");
                finish(fw);
                return 0;
        }
        free(fw->default_zone);
        fw->default_zone = strdup(name);
        fw->step = STEP_ACTIVE_ZONES;
        r = call(fw, FIREWALLD_ZONE_IFACE, "getActiveZones", on_active_zones, NULL);
        if (r < 0) {
                problem(fw, "firewalld: cannot ask for its active zones: %s", strerror(-r));
                finish(fw);
        }
        return 0;
}

static void start_sync(Firewalld *fw) {
        int r;

        fw->dirty = false;
        /* Firewalld=no by a reload: what bfed opened goes, nothing more opens */
        fw->sync_wanted = fw->wanted && fw->mode != FIREWALLD_NO;
        if (!fw->owner) {
                if (fw->mode == FIREWALLD_YES && fw->sync_wanted &&
                    !name_watch_pending(&fw->owner_watch))
                        problem(fw, "Firewalld=yes, but firewalld is not running (nobody owns " FIREWALLD_NAME
                                " on the system bus)");
                finish(fw);
                return;
        }
        for (size_t i = 0; i < fw->n_zones; i++)
                memset(fw->zones[i].done, 0, sizeof(fw->zones[i].done));
        if (!fw->sync_wanted) {
                apply(fw);              /* takes back what is bfed's, in every zone */
                return;
        }
        fw->step = STEP_DEFAULT_ZONE;
        r = call(fw, FIREWALLD_IFACE, "getDefaultZone", on_default_zone, NULL);
        if (r < 0) {
                problem(fw, "firewalld: cannot ask for its default zone: %s", strerror(-r));
                finish(fw);
        }
}

static int on_kick(sd_event_source *s, void *userdata) {
        Firewalld *fw = userdata;

        if (fw->step == STEP_IDLE && fw->dirty)
                start_sync(fw);
        return 0;
}

/* ---- firewalld coming and going, and what it says ------------------------------------------ */

static void on_owner(const char *owner, const sd_bus_error *error, void *userdata) {
        Firewalld *fw = userdata;

        if (streq_ptr(owner, fw->owner))
                return;
        if (fw->owner)
                log_notice("firewalld (%s) left the bus; its runtime configuration went with it.", fw->owner);
        reset(fw);
        free(fw->owner);
        fw->owner = owner ? strdup(owner) : NULL;
        if (owner && !fw->owner)
                log_error("firewalld: out of memory; not following it.");
        if (fw->owner)
                log_notice("firewalld runs (%s on the system bus): bfed opens the exempted traffic there while the "
                           "exemptions are active.", fw->owner);
        request_sync(fw);
}

static int on_signal(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error) {
        static const char *const zone_changes[] = {
                "InterfaceAdded", "InterfaceRemoved", "ZoneOfInterfaceChanged",
                "SourceAdded", "SourceRemoved", "ZoneOfSourceChanged",
        };
        Firewalld *fw = userdata;

        /* anybody may send a signal with firewalld's path: only firewalld's own count */
        if (!fw->owner || !streq_ptr(sd_bus_message_get_sender(msg), fw->owner))
                return 0;
        if (sd_bus_message_is_signal(msg, FIREWALLD_IFACE, "Reloaded")) {
                log_notice("firewalld reloaded: its runtime configuration is its permanent one again; bfed opens "
                           "the exempted traffic again where it is wanted.");
                forget_ours(fw);
                request_sync(fw);
                return 0;
        }
        if (sd_bus_message_is_signal(msg, FIREWALLD_IFACE, "DefaultZoneChanged")) {
                request_sync(fw);
                return 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(zone_changes); i++)
                if (sd_bus_message_is_signal(msg, FIREWALLD_ZONE_IFACE, zone_changes[i])) {
                        log_debug("firewalld: %s; checking its zones.", zone_changes[i]);
                        request_sync(fw);
                        return 0;
                }
        return 0;
}

/* ---- the API ------------------------------------------------------------------------------- */

Firewalld *firewalld_free(Firewalld *fw) {
        if (!fw)
                return NULL;
        reset(fw);
        name_watch_done(&fw->owner_watch);
        sd_bus_slot_unref(fw->signal_match);
        sd_event_source_disable_unref(fw->kick);
        sd_bus_flush_close_unref(fw->bus);
        sd_event_unref(fw->event);
        free(fw->owner);
        strv_free_n(fw->problems, fw->n_problems);
        strv_free_n(fw->pending, fw->n_pending);
        free(fw);
        return NULL;
}

int firewalld_new(sd_event *event, sd_bus *bus, FirewalldMode mode, Firewalld **ret) {
        _cleanup_(firewalld_freep) Firewalld *fw = NULL;
        int r;

        fw = calloc(1, sizeof(*fw));
        if (!fw)
                return -ENOMEM;
        fw->event = sd_event_ref(event);
        fw->bus = sd_bus_ref(bus);
        fw->mode = mode;
        r = sd_event_add_defer(event, &fw->kick, on_kick, fw);
        if (r >= 0)
                r = sd_event_source_set_enabled(fw->kick, SD_EVENT_OFF);
        /* the matches before the question: the bus daemon handles the calls in order, so nothing
         * falls between the answer to GetNameOwner and the first signal */
        if (r >= 0)
                r = sd_bus_add_match_async(bus, &fw->signal_match, "type='signal',path='" FIREWALLD_PATH "'",
                                           on_signal, NULL, fw);
        if (r >= 0)
                r = name_watch_start(&fw->owner_watch, bus, FIREWALLD_NAME, on_owner, fw);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(fw);
        return 0;
}

void firewalld_set_change_callback(Firewalld *fw, FirewalldChanged cb, void *userdata) {
        fw->changed = cb;
        fw->userdata = userdata;
}

void firewalld_set_wanted(Firewalld *fw, bool wanted) {
        if (!fw || fw->wanted == wanted)
                return;
        fw->wanted = wanted;
        request_sync(fw);
}

void firewalld_set_mode(Firewalld *fw, FirewalldMode mode) {
        if (!fw || fw->mode == mode)
                return;
        fw->mode = mode;
        request_sync(fw);
}

char *const *firewalld_problems(const Firewalld *fw, size_t *ret_n) {
        *ret_n = fw ? fw->n_problems : 0;
        return fw ? fw->problems : NULL;
}

bool firewalld_is_connected(const Firewalld *fw) {
        return sd_bus_is_open(fw->bus) > 0;
}

bool firewalld_is_idle(const Firewalld *fw) {
        return !fw || (fw->step == STEP_IDLE && !fw->dirty && !name_watch_pending(&fw->owner_watch));
}

static uint64_t now_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000;
}

int firewalld_stop(Firewalld *fw, uint64_t timeout_usec) {
        uint64_t deadline = now_usec() + timeout_usec, now;
        int r = 0;

        if (!fw)
                return 0;
        fw->wanted = false;
        fw->dirty = true;
        /* the event loop has ended: dispatch the client's own connection by hand */
        while (!firewalld_is_idle(fw)) {
                if (fw->step == STEP_IDLE && fw->dirty) {
                        start_sync(fw);
                        continue;
                }
                r = sd_bus_process(fw->bus, NULL);
                if (r < 0)
                        break;
                if (r > 0)
                        continue;
                now = now_usec();
                if (now >= deadline) {
                        r = -ETIMEDOUT;
                        break;
                }
                r = sd_bus_wait(fw->bus, deadline - now);
                if (r < 0)
                        break;
        }
        for (size_t i = 0; i < fw->n_zones; i++)
                for (Opening k = 0; k < _OPENING_MAX; k++)
                        if (fw->zones[i].ours[k])
                                log_warning("firewalld zone %s: could not take back %s at stop%s%s; it stays open "
                                            "until firewalld reloads.", fw->zones[i].name, openings[k].what,
                                            r < 0 ? ": " : "", r < 0 ? strerror(-r) : "");
        return r < 0 ? r : 0;
}
