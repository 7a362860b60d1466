/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * conns.h — charon's loaded IKE connections as the bridge needs them: a name, the IKE
 * versions it accepts, the address families it may use. Read from list-conn events; pure.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vici.h"

/* The most connections the bridge keeps a policy for; charon's beyond are left out (and said so). */
#define CONNS_MAX 1024

typedef enum IkeVersion {
        IKE_V1 = 1 << 0,        /* IKE MM provider context, type 5 */
        IKE_V2 = 1 << 1,        /* IKEv2 MM, type 10 */
        IKE_ANY = IKE_V1 | IKE_V2,
} IkeVersion;

typedef enum AddrFamily {
        FAMILY_V4 = 1 << 0,     /* a filter at IKEEXT_V4 */
        FAMILY_V6 = 1 << 1,     /* at IKEEXT_V6 */
        FAMILY_ANY = FAMILY_V4 | FAMILY_V6,
} AddrFamily;

typedef struct Conn {
        char *name;             /* as charon named it (any bytes but NUL) */
        uint8_t versions;       /* IkeVersion bits, never 0 */
        uint8_t families;       /* AddrFamily bits, never 0 */
} Conn;

/* A set of connections, sorted by name once conns_finish() ran, each name once. */
typedef struct Conns {
        Conn *conns;
        size_t n, alloc;
        size_t n_dropped;       /* beyond CONNS_MAX */
} Conns;

void conns_done(Conns *s);

/* IKE_V1 for "IKEv1", IKE_V2 for "IKEv2"; both for "IKEv1/2", "0", anything else or NULL. */
uint8_t conn_versions_from_string(const char *s);

/*
 * The family of one address of local_addrs or remote_addrs: an IPv4 or IPv6 address, prefix
 * or range (its first address); %any4, %any6; both for %any, a host name, anything else.
 */
uint8_t conn_family_of_address(const char *s);

/*
 * The families a connection may use: those both sides allow, each side the union of its
 * addresses' (both for a side without any); both when the sides share none (the connection
 * cannot work, but nothing is left out).
 */
uint8_t conn_families(uint8_t local, uint8_t remote);

/**
 * conns_add_event() - the connections of one list-conn event: each section at its root is a
 * connection named by the section. Anything else in the message is ignored.
 * Return: 0; -ENOMEM.
 */
int conns_add_event(Conns *s, const ViciMessage *m);

/* Sorts by name; connections of one name become one, with the versions and families of all. */
void conns_finish(Conns *s);

/* The connection of @s named @name, or NULL (@s finished). */
const Conn *conns_find(const Conns *s, const char *name);

/* "IKEv1", "IKEv2", "IKEv1 and IKEv2"; "IPv4", "IPv6", "IPv4 and IPv6". */
const char *conn_versions_to_string(uint8_t versions);
const char *conn_families_to_string(uint8_t families);
