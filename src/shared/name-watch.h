/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * name-watch.h — following who owns a well-known name on a bus: bfed's client of firewalld
 * follows firewalld, bfed-vici follows bfed. The NameOwnerChanged match goes out before the
 * GetNameOwner call, and the bus daemon handles them in order, so nothing falls between the
 * answer and the first signal; an answer that comes after a signal is older than it and is
 * dropped. Never logs (STYLE §10).
 */
#pragma once

#include <stdbool.h>
#include <systemd/sd-bus.h>

/*
 * What the watch reports, each time the bus daemon says who owns the name: @owner is the owner's
 * unique name, or NULL while nobody owns it; @error is set (and @owner NULL) when GetNameOwner
 * failed, as it does while nobody owns the name. The same owner may be reported twice.
 */
typedef void (*NameWatchCallback)(const char *owner, const sd_bus_error *error, void *userdata);

/* Embedded in its user's struct; all zero while it is not started. */
typedef struct NameWatch {
        const char *name;               /* not copied: a constant */
        sd_bus_slot *match, *get_owner;
        NameWatchCallback cb;
        void *userdata;
} NameWatch;

/* Adds the match and asks, on @bus; @cb is called from @bus's dispatch, never from here. On
 * failure, name_watch_done() releases what was set up. */
int name_watch_start(NameWatch *w, sd_bus *bus, const char *name, NameWatchCallback cb, void *userdata);
void name_watch_done(NameWatch *w);

/* Whether the bus daemon has not said anything yet: GetNameOwner is in flight. */
static inline bool name_watch_pending(const NameWatch *w) {
        return w->get_owner;
}
