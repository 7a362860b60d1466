/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bus-signals.h — what org.bfed.Engine1 says without being asked: the Changed signals of each
 * commit (after the replies to the calls that made it, a slice at a time), PropertiesChanged of
 * ExemptionsActive and ExemptionObstacles, ExemptedTrafficDropped and the net events.
 */
#pragma once

#include "bus.h"

/* Makes the event sources that send them; once per Bus (bus_engine_register()). */
int bus_signals_setup(Bus *b);

/* Drops the Changed signals queued for a connection that is gone. */
void bus_signals_free(Bus *b);

/* What the manager calls when a commit changed objects or the exemptions, or when the obstacles
 * changed (manager_set_hooks()). */
extern const ManagerHooks bus_signals_hooks;

/* ExemptionObstacles changed (the other tables, or firewalld's problems): PropertiesChanged
 * goes out after the replies being sent. */
void bus_signals_obstacles_changed(Bus *b);
