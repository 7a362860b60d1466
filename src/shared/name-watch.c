/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* name-watch.c — following the owner of a well-known bus name (name-watch.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "macro.h"
#include "name-watch.h"

static int on_name_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        NameWatch *w = userdata;
        const char *name, *old_owner, *new_owner;

        if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0 || !streq(name, w->name))
                return 0;
        w->get_owner = sd_bus_slot_unref(w->get_owner);        /* its answer would be older */
        w->cb(new_owner[0] ? new_owner : NULL, NULL, w->userdata);
        return 0;
}

static int on_get_owner(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        NameWatch *w = userdata;
        const char *owner = NULL;

        w->get_owner = sd_bus_slot_unref(w->get_owner);
        if (sd_bus_message_is_method_error(reply, NULL)) {
                w->cb(NULL, sd_bus_message_get_error(reply), w->userdata);
                return 0;
        }
        (void) sd_bus_message_read(reply, "s", &owner);
        w->cb(owner && owner[0] ? owner : NULL, NULL, w->userdata);
        return 0;
}

int name_watch_start(NameWatch *w, sd_bus *bus, const char *name, NameWatchCallback cb, void *userdata) {
        _cleanup_(freep) char *match = NULL;
        int r;

        *w = (NameWatch) { .name = name, .cb = cb, .userdata = userdata };
        if (asprintf(&match, "type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
                             "interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='%s'", name) < 0) {
                match = NULL;
                return -ENOMEM;
        }
        r = sd_bus_add_match_async(bus, &w->match, match, on_name_owner_changed, NULL, w);
        if (r >= 0)
                r = sd_bus_call_method_async(bus, &w->get_owner, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                             "org.freedesktop.DBus", "GetNameOwner", on_get_owner, w, "s", name);
        return r;
}

void name_watch_done(NameWatch *w) {
        w->match = sd_bus_slot_unref(w->match);
        w->get_owner = sd_bus_slot_unref(w->get_owner);
}
