/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * policy.h — the bridge's side of bfed: one IKE main-mode policy per charon connection, kept
 * in a dynamic session, so that it goes with the bridge.
 *
 * For a connection it adds, in the session, a provider context of the type of each IKE version
 * it accepts (IKEv1: IKE MM, type 5; IKEv2: IKEv2 MM, type 10) and, for each, a filter at
 * IKEEXT_V4 and/or IKEEXT_V6 by the families it may use: what bfed's IKE/AuthIP exemptions
 * follow. All of them belong to the provider "strongSwan" (POLICY_PROVIDER_KEY), and carry the
 * connection's name, as charon gave it, as provider data.
 *
 * bfed is followed on the system bus: when it comes (or comes back), a session is opened and
 * the policy added again; when it goes, so did the session. The bus itself is connected again
 * when it goes. A call bfed refuses resets the session: it is closed (its objects go) and
 * opened again a second later, with everything added again.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "conns.h"
#include "macro.h"

typedef struct sd_event sd_event;
typedef struct Policy Policy;

/* The provider's key: the same for every bridge, so tools can find its objects. */
#define POLICY_PROVIDER_KEY "8a3f1c52-6b0e-4d7a-9c41-2f5e7b6d0a19"
/* At most this many calls wait for bfed's answer at once (bfed takes 128 from a peer). */
#define POLICY_CALLS_MAX 64

/* bfed came or went, or told its socket mark: the bridge checks the marks again. */
typedef void (*PolicyChanged)(Policy *p, void *userdata);

int policy_new(sd_event *event, Policy **ret);
Policy *policy_free(Policy *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(Policy *, policy_free);

void policy_set_callback(Policy *p, PolicyChanged cb, void *userdata);

/**
 * policy_set_conns() - the connections that have a policy from now on.
 * @conns: finished (conns_finish()); NULL or empty: none, as when charon is gone
 *
 * Only what differs is sent: a new connection is added, a gone one deleted, a changed one
 * (versions, families) deleted and added again.
 * Return: 0; -ENOMEM.
 */
int policy_set_conns(Policy *p, const Conns *conns);

/* Whether bfed is there and said what its SocketMark is (0: none), in *@ret. */
bool policy_get_bfed_mark(const Policy *p, uint32_t *ret);
