/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* manager.h — the daemon: event loop, bus, engine and netlink transport, and the commit path. */
#pragma once

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "engine.h"
#include "session.h"
#include "store.h"
#include "transport.h"

typedef struct ManagerTable ManagerTable;
typedef struct Staged Staged;
typedef struct Waiter Waiter;

struct Manager {
        sd_event *event;
        sd_bus *bus;
        Engine *engine;
        NftTransport *nft;
        Store *store;
        Config config;
        bool table_installed;
        ManagerTable *table;            /* manager-table.c: the table's flags and the watch on it */
        bool exemptions_announced;      /* ExemptionsActive as last signalled */
        size_t committed_filters;       /* FilterCount: as of the last commit */

        Session anonymous;              /* the session-less caller on /org/bfed/Engine1 */
        Session *sessions;
        uint64_t next_session_id;
        Session *txn_holder;            /* the session whose write transaction is open */
        unsigned n_readers;             /* sessions with a read-only transaction open */
        Waiter *waiters, *waiters_tail; /* calls waiting for it to end */
        sd_event_source *wake;

        /* group.c: single-call changes staged for one batch */
        bool group_open;                /* the engine's transaction holds the group's changes */
        bool group_rerun;               /* a refused group's calls run one by one */
        Staged *staged, *staged_tail;
        size_t n_staged;
        sd_bus_message *staging;        /* the call staged last, until its handler replies */
        sd_event_source *flush;

        /* bus-engine.c: signals of the last commits, sent after the replies */
        sd_bus_message **signals;
        size_t n_signals, n_signals_alloc;
        bool exemptions_changed;        /* PropertiesChanged(ExemptionsActive) is due */
        sd_event_source *emit;
};

int manager_new(const Config *config, Manager **ret);
Manager *manager_free(Manager *m);
static inline void manager_freep(Manager **m) {
        if (*m)
                manager_free(*m);
}

int manager_setup(Manager *m);          /* netlink, the table, the bus: in that order */
int manager_run(Manager *m);
void manager_shutdown(Manager *m);      /* removes the table */

/*
 * The write path. Every mutating call: manager_begin() (which first commits a pending group,
 * group.h), engine changes, then either
 * manager_commit() — one netlink batch; on refusal the engine rolls back and @error says why —
 * or manager_abort() when the engine itself refused the change.
 */
int manager_begin(Manager *m, Session *s);
int manager_commit(Manager *m, sd_bus_error *error);
void manager_abort(Manager *m);

/* bus-engine.c */
int bus_engine_setup(Manager *m);
void bus_engine_queue_changes(Manager *m);     /* a commit's Changed signals, sent after the reply */
void bus_engine_send_changes(Manager *m);
int bus_error_from_engine(sd_bus_error *error, int r, const EngineError *err);
