/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * firewalld.h — bfed's client of firewalld (org.fedoraproject.FirewallD1 on the system bus).
 *
 * In nftables an accept in bfed's table does not stop another table from dropping the packet,
 * so on a host where firewalld runs, IKE gets through only if firewalld lets it. While the
 * exemptions are active, this client opens exactly the exempted traffic in firewalld, at
 * runtime only (timeout 0, never the permanent configuration), in every active zone and in
 * the default zone (which takes the interfaces no zone names):
 *
 *   - UDP 500, IPv4 and IPv6: a port (addPort): firewalld's ports match both families;
 *   - IPv4 UDP 4500: a rich rule with family="ipv4" (addRichRule), since a port would open
 *     IPv6 4500 too, which the exemptions never do.
 *
 * It remembers what it added and takes back exactly that (never what was open before: a port
 * or rule firewalld already has is the admin's), when the exemptions go, when a zone stops
 * being active, and at stop. firewalld's reload resets its runtime configuration to the
 * permanent one, and a new firewalld starts from it: after its Reloaded signal, or when a new
 * owner of its bus name appears, bfed opens the traffic again. Every call is asynchronous and
 * one runs at a time; refusals are logged once per change and kept as problems (short texts)
 * for the daemon to report. Nothing firewalld does can fail a provider's call.
 *
 * Where it sits: it is a D-Bus client, so it is on the glue's side of the line (design.md
 * §1: no logic file speaks D-Bus), but it serves nothing of bfed's own interface, so it is a
 * module of its own. The glue (bus.c) owns it and gives it a bus connection of its own; the
 * logic's exemptions_changed hook (bus-engine.c) tells it what is wanted.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "macro.h"

#define FIREWALLD_NAME "org.fedoraproject.FirewallD1"
#define FIREWALLD_PATH "/org/fedoraproject/FirewallD1"
#define FIREWALLD_IFACE "org.fedoraproject.FirewallD1"
#define FIREWALLD_ZONE_IFACE "org.fedoraproject.FirewallD1.zone"

/* At stop, how long bfed waits for firewalld to take back what bfed opened. */
#define FIREWALLD_STOP_USEC (10 * 1000000ULL)

typedef struct Firewalld Firewalld;

/* firewalld_problems() changed. */
typedef void (*FirewalldChanged)(Firewalld *fw, void *userdata);

/*
 * Watches for firewalld on @bus, a connection to the system bus that the client has to itself
 * (it closes it when freed; firewalld_stop() waits on it). @mode FIREWALLD_NO is the caller's
 * to honour (it makes no client); FIREWALLD_YES reports firewalld's absence as a problem.
 */
int firewalld_new(sd_event *event, sd_bus *bus, FirewalldMode mode, Firewalld **ret);
Firewalld *firewalld_free(Firewalld *fw);
DEFINE_TRIVIAL_CLEANUP_FUNC(Firewalld *, firewalld_free);

void firewalld_set_change_callback(Firewalld *fw, FirewalldChanged cb, void *userdata);

/* The exemptions are active (open the traffic) or not (take it back). @fw may be NULL. */
void firewalld_set_wanted(Firewalld *fw, bool wanted);
/* A reload changed Firewalld=: FIREWALLD_NO takes back what bfed opened and opens nothing more;
 * FIREWALLD_AUTO and FIREWALLD_YES open again where wanted. */
void firewalld_set_mode(Firewalld *fw, FirewalldMode mode);

/*
 * What stops the exempted traffic in firewalld, as short texts naming the zone, the traffic and
 * firewalld's error (e.g. "firewalld zone public: cannot open UDP 500 (IPv4 and IPv6):
 * org.fedoraproject.FirewallD1.NotAuthorizedException: …"); *ret_n is 0 when all is well.
 * Valid until the loop runs again. @fw may be NULL (no problems).
 */
char *const *firewalld_problems(const Firewalld *fw, size_t *ret_n);

/* Its connection is still open (it is not after the bus daemon went away). */
bool firewalld_is_connected(const Firewalld *fw);

/* No call in flight and nothing left to do: what firewalld has is what bfed wants (tests). */
bool firewalld_is_idle(const Firewalld *fw);

/* At exit, after the event loop: takes back what bfed opened, waiting for firewalld's answers
 * on the client's own connection for @timeout_usec at most. Logs what it could not take back. */
int firewalld_stop(Firewalld *fw, uint64_t timeout_usec);
