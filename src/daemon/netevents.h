/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * netevents.h — net events for bfed's own drops (WFP's FwpmNetEventSubscribe0): the
 * subscriptions, and the nflog socket that hears of each packet a rule that drops logged.
 *
 * A subscription belongs to the bus peer that made it and ends when it unsubscribes or leaves
 * the bus. A peer holds at most NET_EVENT_SUBS_PER_PEER_MAX, bfed NET_EVENT_SUBS_MAX.
 *
 * While at least one exists, bfed's nflog socket is bound to the log group and the rules that
 * drop carry the log statement (compile.h, "Net events"); without any, neither: the packet path
 * is as it was. Turning the statements on or off is one batch that puts every chunk chain with a
 * rule that drops anew (nft_compile_net_events()), sent when no engine transaction is open: on
 * for the first subscription, from its call (which waits for the lock like a read); off when the
 * last goes, from a deferred source, or after the transaction that is open then ends.
 *
 * Each logged packet is matched with its filter (nft_net_event_filter()) and goes to every
 * subscription whose template it matches, at most NET_EVENT_RATE a second each; the events
 * beyond are counted and told with the subscription's next event. The socket is read at a
 * priority below the bus's and at most NET_EVENT_READ_MAX messages a second: what the kernel
 * could not queue or bfed did not read is lost, counted from the gaps in the kernel's sequence
 * numbers, and told to every subscription with its next event.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "engine.h"

typedef struct Manager Manager;
typedef struct NetEvents NetEvents;

#define NET_EVENT_SUBS_PER_PEER_MAX 8
#define NET_EVENT_SUBS_MAX 64
#define NET_EVENT_RATE 100              /* events a second, per subscription */
#define NET_EVENT_READ_MAX 10000        /* logged packets read a second */

/* FWPM_NET_EVENT_ENUM_TEMPLATE0, as far as bfed has it: unset parts match every event. */
typedef struct NetEventTemplate {
        uint64_t filter_id;             /* 0: any */
        bool has_layer;
        WfpLayer layer;
        int ip_version;                 /* 0: any; 4 or 6 */
} NetEventTemplate;

/* One drop (FWPM_NET_EVENT_CLASSIFY_DROP0 with its header), as a subscription gets it. */
typedef struct NetEvent {
        uint64_t time_usec;             /* CLOCK_REALTIME: the kernel's stamp, or when bfed read it */
        uint64_t filter_id;
        WfpLayer layer;
        bool inbound;
        int ip_version;                 /* 4 or 6 */
        uint8_t protocol;
        uint8_t local_address[16], remote_address[16];  /* 4 bytes for IPv4 */
        uint16_t local_port, remote_port;               /* 0 for packets without ports */
        uint64_t suppressed;            /* events of the subscription not told since its last */
} NetEvent;

typedef struct NetEventSub NetEventSub;
struct NetEventSub {
        Manager *manager;
        uint64_t id;
        char *owner;                    /* the bus peer's unique name */
        NetEventTemplate template;
        uint64_t window_usec;           /* CLOCK_MONOTONIC start of the second being counted */
        unsigned n_window;              /* events told in it */
        uint64_t suppressed;
        NetEventSub *prev, *next;
};

/**
 * net_event_subscribe() - a subscription of @owner; the first one turns the log statements on
 * (at once: no engine transaction may be open).
 *
 * Return: 0; FWP_E_OUT_OF_BOUNDS beyond the limits; FWP_E_NEVER_MATCH for a template no drop can
 * match (a layer that sees no packets, or of the other IP version); FWP_E_NET_EVENTS_DISABLED
 * when the log group cannot be bound or the kernel refuses the log statements (@err says why).
 */
int net_event_subscribe(Manager *m, const char *owner, const NetEventTemplate *t, EngineError *err,
                        NetEventSub **ret);
/* Ends the subscription @id of @owner; FWP_E_NOT_FOUND for an unknown one or another peer's. */
int net_event_unsubscribe_owned(Manager *m, uint64_t id, const char *owner, EngineError *err);
/* Ends @s; after the last, the log statements go (deferred). Return: NULL. */
NetEventSub *net_event_unsubscribe(NetEventSub *s);
/* Every subscription of @owner ends. */
void net_events_peer_gone(Manager *m, const char *owner);
void net_events_done(Manager *m);

/* For manager.c: an engine transaction ended; the log statements follow the subscriptions now
 * if they are behind (deferred). */
void net_events_transaction_ended(Manager *m);

/* One datagram of nflog messages, as the socket reads it at @now_usec (CLOCK_MONOTONIC): what
 * tests feed by hand. */
void net_events_feed(Manager *m, const void *buf, size_t len, uint64_t now_usec);
/* Logged packets lost (gaps in the kernel's numbering), and messages that did not parse, so far. */
uint64_t net_events_lost(const Manager *m);
uint64_t net_events_malformed(const Manager *m);
