/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * session.h — sessions and transactions, as WFP has them.
 *
 * A session belongs to the bus peer that opened it and dies with it. It holds at most one
 * transaction: read-only (a consistent view: no write may happen while it is open) or
 * read-write. One read-write transaction runs engine-wide: it holds the engine's open
 * transaction (the write lock) until commit or abort. Other sessions' writes and reads wait
 * for the lock (group.h), each up to its session's timeout, then fail with FWP_E_TIMEOUT.
 * Both kinds of transaction have a deadline (MaxTransactionSec, MaxReadTransactionSec): held
 * longer, it is aborted, and the session's next call learns it (FWP_E_TXN_ABORTED).
 *
 * Every session-less caller shares the anonymous session (id 0): each of its calls is an
 * implicit transaction.
 *
 * A caller may hold SESSIONS_PER_PEER_MAX sessions; the engine SESSIONS_MAX.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

typedef struct EngineError EngineError;
typedef struct Manager Manager;

#define SESSIONS_PER_PEER_MAX 64
#define SESSIONS_MAX 4096
#define SESSION_NAME_MAX 1024
#define SESSION_WAIT_DEFAULT_USEC (15 * 1000000ULL)

typedef enum TxnState {
        TXN_NONE,
        TXN_READ,
        TXN_WRITE,
} TxnState;

typedef struct Session Session;
struct Session {
        Manager *manager;
        uint64_t id;                    /* 0: the anonymous session */
        char *owner;                    /* the bus peer that opened it (unique name) */
        uid_t uid;
        char *name, *description;
        bool dynamic;
        uint64_t wait_usec;             /* how long its calls wait for the lock; UINT64_MAX: forever */
        TxnState txn;
        bool txn_aborted;               /* its transaction was aborted: the next call learns it */
        unsigned n_waiting;             /* its calls waiting for the lock (group.c) */
        uint64_t wake_round;            /* group.c: a call of it could not go in this round */
        sd_event_source *txn_deadline;
        Session *prev, *next;
};

typedef struct SessionOptions {
        const char *name, *description;
        bool dynamic;
        uint32_t wait_msec;             /* 0: the default; UINT32_MAX: forever */
} SessionOptions;

void sessions_init(Manager *m);
void sessions_done(Manager *m);

int session_open(Manager *m, const char *owner, uid_t uid, const SessionOptions *o, EngineError *err,
                 Session **ret);
/* Aborts its transaction; a dynamic session's objects are deleted once the lock is free. */
void session_close(Session *s);
Session *session_find(Manager *m, uint64_t id);

/* The first call after a forced abort learns it (FWP_E_TXN_ABORTED), once. */
int session_check_aborted(Session *s, EngineError *err);

/* Commit or abort the session's transaction. Commit: the kernel has it, or nothing of it. */
int session_commit(Session *s, EngineError *err);
int session_abort(Session *s, EngineError *err);

/* For group.c: whether @s must wait for the lock to write or to read, and who holds it. */
bool session_writes_wait(const Session *s);
bool session_reads_wait(const Session *s);
void session_describe_lock(const Session *s, char *buf, size_t size);
/* For group.c: @s takes the lock (a read-write transaction) or joins the readers. */
int session_begin_write(Session *s);
void session_begin_read(Session *s);
