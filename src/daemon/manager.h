/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * manager.h — the daemon's logic: the event loop, the engine, the nftables transport, the
 * store, and the one commit path. The logic files (manager.c, session.c, group.c,
 * enumerate.c) know nothing of D-Bus: they return a negative errno or a WFP error with an
 * EngineError, and tell the bus glue (bus*.c) what happened through the hooks below.
 */
#pragma once

#include <sys/types.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "engine.h"
#include "macro.h"
#include "session.h"

typedef struct Call Call;
typedef struct EnumHandle EnumHandle;
typedef struct ManagerTable ManagerTable;
typedef struct NetEvent NetEvent;
typedef struct NetEvents NetEvents;
typedef struct NetEventSub NetEventSub;
typedef struct NftBatch NftBatch;
typedef struct ObstacleWatch ObstacleWatch;
typedef struct NftTraceDrop NftTraceDrop;
typedef struct NftTraceWatch NftTraceWatch;
typedef struct NftTransport NftTransport;
typedef struct Store Store;
typedef struct BootFile BootFile;

/* Who made the changes of the open transaction from change @first on (log_changes()). */
typedef struct ChangeAuthor {
        size_t first;
        const char *method;             /* static: the BusMethod's name */
        char owner[64];                 /* the bus name */
        char comm[16];                  /* its command name; "" if unknown */
        uid_t uid;
        pid_t pid;
} ChangeAuthor;

/* What the logic tells whoever serves it (the bus glue). Any hook may be NULL. */
typedef struct ManagerHooks {
        /* A commit is in the kernel; the engine frees what it deleted when this returns. */
        void (*committed)(Manager *m, const Change *changes, size_t n, void *userdata);
        /* The exemptions came or went with that commit. */
        void (*exemptions_changed)(Manager *m, bool active, void *userdata);
        /* What in the other tables may drop the exempted traffic changed (m->obstacles). */
        void (*obstacles_changed)(Manager *m, void *userdata);
        /* Another table dropped an exempted datagram (manager-trace.c; at most once a second a chain). */
        void (*exempted_dropped)(Manager *m, const NftTraceDrop *drop, void *userdata);
        /* SIGHUP: m->config has what a reload applied (Firewalld=, for the glue) */
        void (*reloaded)(Manager *m, void *userdata);
        /* A rule of bfed's dropped a packet, and subscription @s gets to know (netevents.c). */
        void (*net_event)(Manager *m, const NetEventSub *s, const NetEvent *ev, void *userdata);
} ManagerHooks;

struct Manager {
        sd_event *event;
        Engine *engine;
        NftLayout *layout;              /* the compiler's state of what the engine compiled to (layout.h) */
        NftTransport *nft;
        Store *store;
        BootFile *boot;                 /* store-boot.c: <statedir>/boot.nft, with the store */
        Config config;
        const char *config_path;        /* what a reload reads again (main.c) */
        bool config_must_exist;
        bool log_level_fixed;           /* the command line or the environment set it: LogLevel= does not */
        bool table_installed;
        bool keep_table_on_exit;        /* the bus is lost for good: leave the table enforcing */
        ManagerTable *table;            /* manager-table.c: the table's flags and the watch on it */
        ObstacleWatch *obstacles;       /* obstacle-watch.c: what in the other tables drops IKE */
        NftTraceWatch *trace;           /* manager-trace.c: drops of exempted datagrams; NULL without */
        bool exemptions_active;         /* as of the last commit */
        bool trace_follows;             /* the exemptions came on: their trace chains are to follow */
        sd_event_source *trace_follow;  /* ... right after the answers (manager_trace_follow()) */
        ChangeAuthor *authors;          /* of the open transaction's changes, in order */
        size_t n_authors, n_authors_alloc;
        size_t committed_filters;       /* FilterCount: as of the last commit */

        const ManagerHooks *hooks;
        void *hooks_userdata;
        /* sends a batch to the kernel: the netlink transport; tests put a kernel of their own */
        int (*kernel)(Manager *m, NftBatch *b, char **ret_error);

        /* session.c */
        Session anonymous;              /* every session-less caller */
        Session *sessions;
        size_t n_sessions;
        uint64_t next_session_id;
        Session *txn_holder;            /* the session whose write transaction is open */
        unsigned n_readers;             /* sessions with a read-only transaction open */

        /* group.c: calls waiting for the transaction lock, and the group being staged */
        Call *waiting, *waiting_tail;
        sd_event_source *wake;
        uint64_t wake_round;
        bool group_open;                /* the engine's transaction holds the group's changes */
        Call *staged, *staged_tail;
        size_t n_staged;
        sd_event_source *flush;

        NetEvents *net_events;          /* netevents.c: subscriptions and the nflog socket; NULL before */

        /* enumerate.c */
        uint64_t enum_idle_usec;        /* ENUM_IDLE_USEC */
        EnumHandle *enums;
        size_t n_enums;
        uint64_t next_enum_id;
};

int manager_new(const Config *config, Manager **ret);
Manager *manager_free(Manager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Manager *, manager_free);

void manager_set_hooks(Manager *m, const ManagerHooks *hooks, void *userdata);

/* The event loop, the state, netlink, the table: everything but the bus, which main.c sets
 * up after this (bus_new()) and before manager_run(). */
int manager_setup(Manager *m);
/* Only the event loop and the write pipeline (tests: no state, no kernel of its own). */
int manager_setup_event(Manager *m);
int manager_run(Manager *m);
/* Answers what is staged and removes the table (unless it is to stay). */
void manager_shutdown(Manager *m);
/* Ends the event loop with a failure status; @keep_table: leave the table enforcing. */
void manager_exit(Manager *m, bool keep_table);

/* SIGHUP (manager-reload.c): reads m->config_path and its drop-ins again and applies LogLevel=,
 * LocalSystemUser=, SocketMark=, Firewalld=, KeepTable=, MaxTransactionSec=,
 * MaxReadTransactionSec= and BusTimeoutSec=; logs the keys that need a restart. A file with an
 * error changes nothing. */
int manager_reload(Manager *m);

/* Replaces the table in the kernel with what the engine holds, in one batch. */
int manager_install_table(Manager *m);

/*
 * The commit path: the engine's open transaction (the group's, or a session's) goes to the
 * kernel as one netlink batch, persistent objects to disk before, the hooks after. On refusal
 * the engine is rolled back and @err says why: a WFP error, or the kernel's errno with its
 * text (err->code 0).
 */
int manager_commit(Manager *m, EngineError *err);
/* Sends the trace chains the last commit left to follow it (manager_commit()); at once, if any. */
void manager_trace_follow(Manager *m);
void manager_abort(Manager *m);
/* @c is about to change the open transaction: its changes from now on are its caller's. */
void manager_note_author(Manager *m, const Call *c);

/* Turns the net events' log statements on or off (NftConfig.net_events) in one batch of their own;
 * no engine transaction may be open. On refusal nothing changed and @ret_why says why. Logs. */
int manager_switch_net_events(Manager *m, char **ret_why);

/* Checks what the open transaction changed since @savepoint, as the compiler will emit it (a
 * rule must fit the kernel's limits); on refusal it rolls back to @savepoint. */
int manager_check_changes(Manager *m, size_t savepoint, EngineError *err);

/* Everything a bus peer holds: its sessions (closed: a dynamic session's objects are
 * deleted), its enumerations and net event subscriptions, its waiting calls (answered
 * -ECONNRESET). */
void manager_peer_gone(Manager *m, const char *owner);
