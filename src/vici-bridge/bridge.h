/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bridge.h — bfed-vici: charon's connections, followed over vici, kept as IKE main-mode
 * policies in bfed (policy.h).
 *
 * How it follows charon (vici has no "connection loaded" event):
 *   - charon's log event "added vici connection: NAME" (also "updated", "replaced"), which
 *     every load-conn logs, asks for a list-conns at once: a swanctl --load-conns is in bfed
 *     within a few milliseconds;
 *   - an unload logs nothing, so every BRIDGE_POLL_USEC the bridge asks get-conns (the names
 *     loaded over vici: a short answer) and lists again when they are not what they were at the
 *     last list-conns (each list-conns is preceded by a get-conns);
 *   - every BRIDGE_LIST_EVERY polls it lists anyway, for connections charon has from elsewhere
 *     (ipsec.conf, through stroke), which get-conns does not name.
 * When charon's connection ends (charon died, or broke the protocol), every policy goes; the
 * bridge connects again when the socket comes back (it watches the socket's folder, and tries
 * again from a timer, backing off from 100 ms to 2 s).
 */
#pragma once

#include <stdint.h>

#include "macro.h"

typedef struct sd_event sd_event;
typedef struct Bridge Bridge;

#define BRIDGE_POLL_USEC (500 * 1000)
#define BRIDGE_POLL_ACCURACY_USEC (20 * 1000)
#define BRIDGE_LIST_EVERY 60

typedef struct BridgeConfig {
        const char *vici_path;          /* charon's vici socket */
        const char *swconf_path;        /* strongswan.conf, for charon's socket mark */
} BridgeConfig;

int bridge_new(sd_event *event, const BridgeConfig *config, Bridge **ret);
Bridge *bridge_free(Bridge *b);
DEFINE_TRIVIAL_CLEANUP_FUNC(Bridge *, bridge_free);
