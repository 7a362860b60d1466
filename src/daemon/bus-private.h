/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bus-private.h — root's private socket (PrivateSocket=): D-Bus without the bus daemon.
 *
 * As systemctl talks to PID 1 over /run/systemd/private, root's clients (libbfe picks it by
 * itself) may talk to bfed over a socket of its own: the same objects, methods, errors and
 * signals, one peer per connection, and no dbus-daemon in between. A call costs bfed the same
 * and the bus daemon nothing: through dbus-daemon it is two more messages, each read, checked
 * and written again by a process that on a small machine spends as much CPU on them as bfed
 * spends on the call. It also keeps root's tools working while the bus is gone or restarts.
 *
 * Only root may connect (SO_PEERCRED; the socket is 0600 besides). A connection is a peer named
 * "private:N" in sessions, logs and errors; everything it held ends when it closes. It gets
 * every broadcast signal (Changed, PropertiesChanged, ExemptedTrafficDropped) and its own
 * NetEvents; one that stops reading them is closed before bfed's queue for it grows past
 * BUS_PRIVATE_QUEUED_MAX messages.
 */
#pragma once

#include <stdbool.h>
#include <systemd/sd-bus.h>

#include "bus.h"

#define BUS_PRIVATE_MAX 64u             /* connections at once */
#define BUS_PRIVATE_QUEUED_MAX 256u     /* messages bfed holds for one connection */

struct BusPrivate {
        Bus *bus;
        sd_bus *conn;
        char name[24];                  /* "private:N": its peer's name */
        sd_event_source *pump;          /* defer: reads its next messages (bus_private_pump()) */
        bool closed;                    /* waits for the reaper to free it */
        BusPrivate *prev, *next;
};

/* Listens on @path. A socket left there by an earlier bfed is replaced; one that another process
 * listens on (another bfed, in another network namespace) is -EADDRINUSE, anything else -EEXIST. */
int bus_private_listen(Bus *b, const char *path);
/* Closes the socket and every connection (their peers are gone). */
void bus_private_free_all(Bus *b);

/* The private connection @conn, or NULL (the system bus, or a connection already closed). */
BusPrivate *bus_private_by_conn(Bus *b, sd_bus *conn);
/* The open private connection whose peer is @name, or NULL. */
BusPrivate *bus_private_by_name(Bus *b, const char *name);
/* Another message came on @p: the rest that are there are read in one loop iteration. */
void bus_private_pump(BusPrivate *p);
/* Whether one more message may be queued for @p; closes a connection that stopped reading. */
bool bus_private_may_send(BusPrivate *p);
