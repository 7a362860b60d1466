/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bus.h — the D-Bus glue: bfed's connection to the system bus, who calls it (peers), how a
 * method call travels through the logic, and the one translation of results into D-Bus
 * errors. bus-engine.c serves org.bfed.Engine1, session-bus.c org.bfed.Session1.
 *
 * A method call becomes a BusCall: its arguments are read and checked, then it waits until
 * bfed knows its caller (the bus daemon's credentials, asked for once per peer, without
 * blocking, on a connection of their own), is authorized (root, or polkit's yes, asked without
 * blocking, the peer's later calls parked behind it), waits for room in the output queue if its reply may be big, and
 * goes to the logic (call_submit()) — or runs at once if it needs no engine lock. Its reply
 * is sent when the logic is done with it. A peer's calls keep their order throughout.
 *
 * What a caller can make bfed hold is bounded: calls in flight per peer, parked big reads per
 * uid, sessions and enumeration handles (session.h, enumerate.h), and reply bytes: a reply
 * stays under BUS_REPLY_MAX, a page under BUS_PAGE_MAX, and big replies are only built while
 * less than BUS_QUEUED_MAX of them (BUS_PEER_QUEUED_MAX for one peer) are on their way, in
 * bfed's write queue or in the bus daemon's queue of bfed's messages. The bus daemon handles a
 * connection's messages in order, so the answer to a call bfed makes to it after big replies
 * (a "sync") says they are through. A caller that never reads its replies can neither make
 * bfed buffer them nor put more than BUS_QUEUED_MAX in front of other callers' answers.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>
#include <systemd/sd-id128.h>

#include "group.h"
#include "macro.h"
#include "object.h"

typedef struct Firewalld Firewalld;
typedef struct Manager Manager;
typedef struct ManagerHooks ManagerHooks;
typedef struct Session Session;

#define BUS_NAME "org.bfed.Engine1"
#define ENGINE_PATH "/org/bfed/Engine1"
#define ENGINE_IFACE "org.bfed.Engine1"
#define SESSION_PATH_PREFIX "/org/bfed/Engine1/session"
#define SESSION_IFACE "org.bfed.Session1"

/* dbus-daemon handles a connection's messages in order, and a big one slowly (megabytes a
 * second on a busy machine): a small reply behind big ones waits for all of them. */
#define BUS_REPLY_MAX (4u << 20)                /* one reply, whole: a one-shot Enum* */
#define BUS_PAGE_MAX (1u << 20)                 /* one page of an enumeration handle */
#define BUS_PAGE_OBJECTS_MAX 10000u
#define BUS_QUEUED_MAX (4u << 20)
#define BUS_PEER_QUEUED_MAX (2u << 20)
#define BUS_PEER_CALLS_MAX 128u                 /* dbus-daemon's own default per connection */
#define BUS_UID_PARKED_MAX 64u                  /* big reads waiting for room, per uid */
/* sd-bus reads one message per event loop iteration, and on a busy connection an iteration costs
 * about as much as the message: after a call, a "pump" reads up to this many more in one. */
#define BUS_PUMP_MESSAGES_MAX 32u

typedef struct Bus Bus;
typedef struct BusPrivate BusPrivate;
typedef struct Peer Peer;
typedef struct BusCall BusCall;

typedef enum PeerState {
        PEER_QUERYING,                  /* asking the bus daemon who it is */
        PEER_KNOWN,
        PEER_GONE,
} PeerState;

struct Peer {
        Bus *bus;
        unsigned n_ref;
        char *name;                     /* unique bus name; "private:N" (bus-private.h); "" on a
                                         * direct connection */
        sd_bus *conn;                   /* a private connection's: not the bus's (NULL) */
        PeerState state;
        uid_t uid;
        pid_t pid;
        char comm[16];                  /* its command name (/proc/PID/comm), "" where unreadable */
        bool privileged;                /* root: needs no polkit */
        sd_bus_slot *query;
        BusCall *parked, *parked_tail;  /* its calls waiting for the query or for room, in order */
        unsigned n_calls;               /* its calls in flight */
        size_t queued;                  /* big reply bytes the bus daemon may not have taken yet */
        size_t covered;                 /* of them, those the outstanding sync covers */
        Peer *prev, *next;
};

/* What each method does; one static instance per method (bus-engine.c, session-bus.c). */
typedef struct BusMethod {
        const char *name;               /* the D-Bus member: how bus_dispatch() finds it; logs */
        ObjectKind object;              /* a method about one kind of object: which */
        CallKind kind;
        bool privileged;                /* root, or polkit's org.bfed.engine1.manage */
        bool big;                       /* its reply may be big: waits for room in the queue */
        bool ignores_abort;             /* Close: a forced abort is not reported to it */
        size_t args_size;
        /* reads and checks the arguments; InvalidArgs (with @error) for bad ones */
        int (*parse)(BusCall *bc, sd_bus_error *error);
        /* the work: an engine change, or a read that builds bc->reply */
        int (*run)(BusCall *bc, EngineError *err);
        /* after a successful run(): builds bc->reply if run() did not */
        int (*reply)(BusCall *bc);
        void (*done)(BusCall *bc);      /* frees what parse() took */
} BusMethod;

struct BusCall {
        Call call;                      /* the logic's view; call.session is the object called */
        Bus *bus;
        const BusMethod *method;
        sd_bus_message *msg;
        Peer *peer;
        sd_bus_message *reply;
        size_t reply_size;              /* its estimated size, for the queue accounting */
        bool answered;                  /* run() sent the reply itself */
        bool authorized;                /* polkit said yes */
        sd_bus_slot *polkit;            /* the question to polkit, while it is open */
        BusCall *next_parked;
        _Alignas(16) uint8_t args[];    /* method->args_size bytes */
};

struct Bus {
        Manager *manager;
        sd_bus *bus;                    /* serves the objects and carries their replies */
        sd_bus *client;                 /* bfed's own questions to the bus daemon: not queued
                                         * behind big replies on the serving connection */
        bool direct;                    /* a direct connection (tests): one peer, no bus daemon */
        sd_bus *old, *old_client;       /* lost connections, closed by the next attempt */
        uint64_t lost_since;            /* CLOCK_MONOTONIC µs; 0 while connected */
        unsigned attempts;
        sd_event_source *reconnect;
        sd_event_source *pump;          /* defer: reads the bus's next messages */
        Peer *peers;
        size_t queued;                  /* big reply bytes the bus daemon may not have taken yet */
        size_t covered;                 /* of them, those the outstanding sync covers */
        sd_bus_slot *sync;              /* a call to the bus daemon behind the big replies */
        sd_event_source *drain;         /* notices the queue emptied, on a direct connection */
        /* firewalld.c, on a connection of its own: opens the exempted traffic in firewalld while
         * the exemptions are active (NULL with Firewalld=no, or on a direct connection) */
        Firewalld *firewalld;

        /* bus-signals.c: the changes of the last commits, whose Changed signals go out after the
         * replies, a slice at a time (bus_signals_setup()) */
        struct PendingChange *changes;
        size_t n_changes, n_changes_alloc, n_changes_sent;
        bool exemptions_changed;
        bool obstacles_changed;
        sd_event_source *emit;          /* defer: the next slice */
        sd_event_source *emit_later;    /* timer: the next slice, once the write queue went down */

        /* bus-private.c: root's private socket (PrivateSocket=) and its connections */
        sd_event_source *private_listen;
        sd_event_source *private_reap;  /* defer: frees the closed ones */
        sd_id128_t server_id;
        BusPrivate *privates;
        unsigned n_privates;
        uint64_t n_privates_made;
};

/* Connects to the system bus (DBUS_SYSTEM_BUS_ADDRESS), serves the objects, owns the name. */
int bus_new(Manager *m, Bus **ret);
/* Serves the objects on @bus, a direct connection (tests): no name, one peer. */
int bus_new_direct(Manager *m, sd_bus *bus, Bus **ret);
Bus *bus_free(Bus *b);
DEFINE_TRIVIAL_CLEANUP_FUNC(Bus *, bus_free);
/* At exit, after the event loop and before bus_free(): takes back what bfed opened in firewalld
 * (waits FIREWALLD_STOP_USEC at most). @b may be NULL. */
void bus_stop(Bus *b);

/* Serves the objects (org.bfed.Engine1 and the sessions) on @conn: the bus, or a private connection. */
int bus_serve(Bus *b, sd_bus *conn);
/* @name left (the bus, or its private connection closed): everything it held goes. */
void bus_peer_gone(Bus *b, const char *name);

/* The manager's reloaded hook: a changed Firewalld= starts, changes or quiets the firewalld client. */
void bus_reloaded(Manager *m, void *userdata);

/* The handler every method of the vtables calls: @userdata is the Session called. */
int bus_call(sd_bus_message *msg, Session *session, const BusMethod *method, sd_bus_error *error);

/* For a method's run() or reply(): @bc's reply, with @types and their values appended as
 * sd_bus_message_append() does; bus_call_finish() sends it. */
int bus_call_reply(BusCall *bc, const char *types, ...);
/* Who sent @msg, as peers are named: its unique bus name, or its private connection's name. */
const char *bus_message_caller(Manager *m, sd_bus_message *msg);
/* The one handler of a vtable's methods: bus_call() of the entry of @methods named as the
 * message's member (sd-bus calls it only for the members the vtable lists). */
int bus_dispatch(sd_bus_message *msg, Session *session, const BusMethod *methods, size_t n, sd_bus_error *error);
/* The parse() of a method whose one argument is an id ("t"): it goes to bc->args, a uint64_t. */
int bus_parse_id(BusCall *bc, sd_bus_error *error);

/* The one translation of a logic result into a D-Bus error: WFP errors become
 * org.bfed.Error.<Name> "FWP_E_NAME (0x8032xxxx): message", -ENOMEM NoMemory, anything else
 * Failed with the message (or the errno's text). Always valid UTF-8. */
int bus_error_set(sd_bus_error *error, int r, const EngineError *err);

