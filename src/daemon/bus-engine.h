/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bus-engine.h — org.bfed.Engine1: the engine object and the object methods every session
 * object serves too, and the engine's properties (its signals: bus-signals.h). The one place that
 * turns D-Bus arguments into the logic's calls and their results into replies.
 */
#pragma once

#include "bus.h"
#include "macro.h"

/* Registers the engine object on @conn (the bus, or a private connection). */
int bus_engine_register(Bus *b, sd_bus *conn);

/* The object methods alone, for the session objects (session-bus.c). */
extern const sd_bus_vtable bus_engine_object_vtable[];

/* For the other method files of the engine object (bus-netevents.c): */
/* Sets @error to the WFP error @code with the message @fmt; returns the error. */
int bus_fail_wfp(sd_bus_error *error, uint32_t code, const char *fmt, ...) _printf_(3, 4);
/*
 * Reads an a{sv} of options: @option reads the value of each key (the message is at the
 * variant) and returns 1, or 0 for a key or type it does not take (InvalidArgs naming them),
 * or a negative errno.
 */
int bus_read_options(sd_bus_message *m, const char *what,
                     int (*option)(sd_bus_message *m, const char *key, const char *contents, void *userdata,
                                   sd_bus_error *error),
                     void *userdata, sd_bus_error *error);
