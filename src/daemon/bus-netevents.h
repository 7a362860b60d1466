/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bus-netevents.h — the net events on the bus: SubscribeNetEvents and UnsubscribeNetEvents on
 * the engine object, and the NetEvent signal to each subscriber (netevents.h is the logic).
 */
#pragma once

#include "bus.h"

typedef struct NetEvent NetEvent;
typedef struct NetEventSub NetEventSub;

/* The handler of both methods in the engine object's vtable (bus-engine.c). */
int bus_net_events_dispatch(sd_bus_message *msg, void *userdata, sd_bus_error *error);

/* A NetEvent signal to @s's subscriber alone. */
void bus_net_event_send(Bus *b, const NetEventSub *s, const NetEvent *ev);
