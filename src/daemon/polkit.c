/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * polkit.c — one asynchronous CheckAuthorization per question. See polkit.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "polkit.h"

/* CheckAuthorization's flags */
#define POLKIT_CHECK_ALLOW_USER_INTERACTION 1u
/* a password typed into an agent takes longer than sd-bus's default 25 s */
#define POLKIT_INTERACTIVE_USEC (5 * 60 * 1000000ULL)

typedef struct PolkitQuery {
        PolkitCallback cb;
        void *userdata;
} PolkitQuery;

/* (bba{ss}): is_authorized, is_challenge, details */
static int parse_result(sd_bus_message *reply, PolkitResult *ret) {
        int authorized, challenge, r;

        r = sd_bus_message_enter_container(reply, 'r', "bba{ss}");
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "bb", &authorized, &challenge);
        if (r < 0)
                return r;
        *ret = authorized ? POLKIT_YES : challenge ? POLKIT_CHALLENGE : POLKIT_NO;
        return 0;
}

static int on_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        PolkitQuery *q = userdata;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        PolkitResult result = POLKIT_NO;
        int r;

        if (sd_bus_message_is_method_error(reply, NULL)) {
                const sd_bus_error *e = sd_bus_message_get_error(reply);

                q->cb(-sd_bus_error_get_errno(e) ?: -EACCES, e, q->userdata);
                return 0;
        }
        r = parse_result(reply, &result);
        if (r < 0) {
                (void) sd_bus_error_set_errnof(&error, r, "Cannot read polkit's answer: %s", strerror(-r));
                q->cb(r, &error, q->userdata);
                return 0;
        }
        q->cb(result, NULL, q->userdata);
        return 0;
}

int polkit_check_async(sd_bus *bus, const char *subject, const char *action, bool interactive, PolkitCallback cb,
                       void *userdata, sd_bus_slot **ret_slot) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        _cleanup_(freep) PolkitQuery *q = NULL;
        int r;

        q = malloc(sizeof(*q));
        if (!q)
                return -ENOMEM;
        *q = (PolkitQuery) { .cb = cb, .userdata = userdata };

        r = sd_bus_message_new_method_call(bus, &msg, POLKIT_NAME, POLKIT_PATH, POLKIT_IFACE, "CheckAuthorization");
        if (r < 0)
                return r;
        /* subject (sa{sv}), action_id, details, flags, cancellation_id */
        r = sd_bus_message_append(msg, "(sa{sv})sa{ss}us", "system-bus-name", 1, "name", "s", subject, action, 0,
                                  interactive ? POLKIT_CHECK_ALLOW_USER_INTERACTION : 0u, "");
        if (r < 0)
                return r;
        r = sd_bus_call_async(bus, &slot, msg, on_reply, q, interactive ? POLKIT_INTERACTIVE_USEC : 0);
        if (r < 0)
                return r;
        r = sd_bus_slot_set_destroy_callback(slot, free);
        if (r < 0)
                return r;
        TAKE_PTR(q);
        *ret_slot = TAKE_PTR(slot);
        return 0;
}
