/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * session.h — sessions and transactions (wfp-facts §4).
 *
 * A session is opened over D-Bus and belongs to the connection that opened it. It holds at
 * most one transaction: read-only (nothing to lock: it only refuses writes) or read-write.
 * One read-write transaction runs engine-wide: it holds the engine's one open transaction
 * (the "write lock") until commit or abort, and every other write — another session's
 * Begin, or any implicit single-call transaction — waits for it as a deferred D-Bus reply,
 * up to the waiting session's timeout, then gets FWP_E_TIMEOUT. Reads wait the same way, so
 * no one sees a transaction before it commits, and writes also wait while a read-only
 * transaction is open (its consistent view). Nothing ever blocks the event loop. The session-less caller on /org/bfed/Engine1 is session 0, whose every call is
 * an implicit transaction.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

typedef struct Manager Manager;

typedef enum TxnState {
        TXN_NONE,
        TXN_READ,
        TXN_WRITE,
} TxnState;

typedef struct Session Session;
struct Session {
        Manager *manager;
        uint64_t id;                    /* 0: the session-less caller */
        char *path;
        char *owner;                    /* unique bus name of the connection that opened it */
        char *name, *description;
        bool dynamic;
        uint64_t wait_usec;             /* how long its writes wait for another's transaction */
        TxnState txn;
        bool txn_aborted;               /* force-aborted: the next call gets FWP_E_TXN_ABORTED */
        sd_event_source *txn_deadline;  /* the maximum a write transaction may be held */
        sd_bus_track *track;
        Session *prev, *next;
};

#define SESSION_PATH_PREFIX "/org/bfed/Engine1/session"
#define SESSION_WAIT_DEFAULT_USEC (15 * 1000000ULL)

int sessions_setup(Manager *m);         /* registers the session objects on the bus */
void sessions_done(Manager *m);

int session_open(Manager *m, sd_bus_message *msg, bool dynamic, uint32_t timeout_ms, const char *name,
                 const char *description, Session **ret);
void session_close(Session *s);

/* For every call on a session object: the caller must be its owner; a force-aborted
 * transaction is reported once. */
int session_check_caller(Session *s, sd_bus_message *msg, sd_bus_error *error);

/*
 * The write gate. Returns 0 when the change was made — inside the session's transaction, or
 * committed, or staged for a group commit (group.h) — and the handler replies with
 * session_reply(); a negative errno with @error set when it was refused; or 1 when the call
 * waits for the engine's write transaction, or was refused inside a group (answered at its
 * commit): the handler then returns 1 without replying, and for a wait @self is called again
 * with the same message when it can run.
 */
typedef struct EngineError EngineError;
typedef int (*SessionChangeFunc)(Manager *m, void *userdata, EngineError *err);
int session_run_change(Session *s, sd_bus_message *msg, sd_bus_message_handler_t self, SessionChangeFunc change,
                       void *userdata, sd_bus_error *error);

/* The method return of a call that went through session_run_change(): sent now, or with its
 * group's commit. Return: >= 0 or a negative errno. */
int session_reply(Session *s, sd_bus_message *call, const char *types, ...);
int session_send_reply(Session *s, sd_bus_message *call, sd_bus_message *reply);

/* Queues @msg until no other session holds the write transaction. */
int session_wait(Session *s, sd_bus_message *msg, sd_bus_message_handler_t self);

/* For reads: 0 to go ahead, or 1 when another session's write transaction is open and the
 * call waits for it (isolation: nobody sees a transaction before it commits). */
int session_read_gate(Session *s, sd_bus_message *msg, sd_bus_message_handler_t self);

/* org.bfed.Session1, and the lookup of session objects for every interface they serve */
extern const sd_bus_vtable session_vtable[];
int session_bus_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                     sd_bus_error *error);
