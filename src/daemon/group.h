/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * group.h — the one write pipeline: every call that needs the engine goes through here.
 *
 * A Call says which session it runs as, what kind it is, what to do (run) and whom to tell
 * (done). call_submit() decides when it runs:
 *
 *   - A write inside the session's own read-write transaction runs at once; the transaction
 *     is committed by CommitTransaction.
 *   - Any other write is staged: it runs in the engine transaction of the current group,
 *     which the calls that arrive back to back share. When the event loop has nothing else to
 *     do (a deferred source below the bus's priority), or the group holds GROUP_CALLS_MAX
 *     calls, the group is committed: one netlink batch, then every call's done() in call
 *     order, each with its own result. If the kernel refuses the batch, nothing of it is
 *     applied, and each call runs again alone, in order, so each caller gets the answer it
 *     would have had alone. An explicit transaction is a longer group: Begin ends the group.
 *   - A read sees committed state only: it commits a pending group first.
 *   - While another session holds the write lock (or, for writes, a read-only transaction is
 *     open), a call waits, first come first served, until its own deadline (its session's
 *     timeout); then done() gets FWP_E_TIMEOUT naming who holds the lock. A session's calls
 *     keep their order: while one of them waits, the next ones wait behind it, whatever they
 *     are (a CommitTransaction behind its BeginTransaction).
 *
 * done() is called exactly once for every submitted call, possibly from inside
 * call_submit(); it may free the call. Nothing here blocks the event loop.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "engine.h"

typedef struct Manager Manager;
typedef struct Session Session;

/* A group this big is committed before the next call joins it: bounds the first caller's wait
 * and the batch. */
#define GROUP_CALLS_MAX 1024

typedef enum CallKind {
        CALL_WRITE,                     /* changes the engine: run() in the open transaction */
        CALL_READ,                      /* reads committed state: run() builds the answer */
        CALL_BEGIN,                     /* BeginTransaction: takes the lock or joins the readers */
        CALL_CLEANUP,                   /* a closed dynamic session's objects */
        CALL_NOW,                       /* needs no lock: runs at once, behind the session's waiting calls */
} CallKind;

typedef struct Call Call;
struct Call {
        /* filled in by the caller of call_submit() */
        Session *session;               /* the session it runs as */
        const char *owner;              /* the bus peer that made it (for manager_peer_gone()) */
        uid_t uid;                      /* and who that is, for the log */
        pid_t pid;
        const char *comm;               /* its command name, "" or NULL if unknown: for the log */
        const char *name;               /* what it is, for logs: "AddFilter" */
        CallKind kind;
        bool read_only;                 /* CALL_BEGIN: a read-only transaction */
        int (*run)(Call *c, EngineError *err);
        void (*done)(Call *c, int r, const EngineError *err);

        /* the pipeline's */
        Manager *manager;
        uint64_t deadline;              /* CLOCK_MONOTONIC µs while it waits; UINT64_MAX: none */
        sd_event_source *timer;
        bool waiting;
        int result;                     /* a staged call's outcome, told at the group's commit */
        EngineError error;
        Call *prev, *next;              /* in the wait queue or the group */
};

int group_setup(Manager *m);
void group_done(Manager *m);

void call_submit(Manager *m, Call *c);

/* Commits the pending group now, if there is one, and tells its calls. */
void group_flush(Manager *m);

/* The lock or the readers changed: waiting calls get another look (deferred). */
void group_wake(Manager *m);

/* Drops the waiting calls of @s, or of @owner (for whichever is not NULL), telling each
 * with @r. */
void group_cancel(Manager *m, const Session *s, const char *owner, int r);
