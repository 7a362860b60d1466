/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * polkit.h — bfed's client of polkit (org.freedesktop.PolicyKit1 on the system bus): asks
 * whether a caller, named by its unique bus name, may do an action. One asynchronous
 * CheckAuthorization per question, as systemd asks; no polkit library.
 *
 * polkitd answers a caller that is not root about another process only for the actions whose
 * org.freedesktop.policykit.owner annotation names the caller: the shipped actions file
 * (conf/org.bfed.engine1.policy) names unix-user:bfed, the user bfed.service runs as.
 */
#pragma once

#include <stdbool.h>
#include <systemd/sd-bus.h>

#define POLKIT_NAME "org.freedesktop.PolicyKit1"
#define POLKIT_PATH "/org/freedesktop/PolicyKit1/Authority"
#define POLKIT_IFACE "org.freedesktop.PolicyKit1.Authority"

/* The one action of bfed: every change to the engine, a session, a read-write transaction. */
#define POLKIT_ACTION_MANAGE "org.bfed.engine1.manage"

typedef enum PolkitResult {
        POLKIT_NO,
        POLKIT_YES,
        POLKIT_CHALLENGE,       /* polkit would ask for a password; the caller did not allow it */
} PolkitResult;

/* @r: a PolkitResult, or a negative errno when polkit did not answer (@error says why). */
typedef void (*PolkitCallback)(int r, const sd_bus_error *error, void *userdata);

/*
 * Asks polkit on @bus whether the peer @subject (a unique bus name) may do @action, with
 * AllowUserInteraction when @interactive. @cb runs once with the answer, unless *@ret_slot is
 * unreferenced first (that cancels the question; @cb then never runs).
 */
int polkit_check_async(sd_bus *bus, const char *subject, const char *action, bool interactive, PolkitCallback cb,
                       void *userdata, sd_bus_slot **ret_slot);
