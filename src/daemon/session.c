/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* session.c — sessions and the engine-wide transaction lock. See session.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "group.h"
#include "list.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "session.h"
#include "utf8.h"

void sessions_init(Manager *m) {
        m->anonymous = (Session) { .manager = m, .id = 0, .owner = (char *) "", .name = (char *) "",
                                   .description = (char *) "", .wait_usec = SESSION_WAIT_DEFAULT_USEC };
}

Session *session_find(Manager *m, uint64_t id) {
        for (Session *s = m->sessions; s; s = s->next)
                if (s->id == id)
                        return s;
        return NULL;
}

/* ---- the lock ----------------------------------------------------------------------------- */

/* A write may start when no other session's write transaction and no read-only transaction
 * is open; a read, when no other session's write transaction is. */
bool session_writes_wait(const Session *s) {
        const Manager *m = s->manager;

        return (m->txn_holder && m->txn_holder != s) || m->n_readers > 0;
}

bool session_reads_wait(const Session *s) {
        const Manager *m = s->manager;

        return m->txn_holder && m->txn_holder != s;
}

/* Who holds what @s waits for, for the timeout message. */
void session_describe_lock(const Session *s, char *buf, size_t size) {
        const Manager *m = s->manager;
        size_t k = 0;
        int n;

        if (m->txn_holder && m->txn_holder != s) {
                (void) snprintf(buf, size, "session %" PRIu64 "'s write transaction (%s)", m->txn_holder->id,
                                m->txn_holder->name);
                utf8_truncate(buf, size - 1);
                return;
        }
        n = snprintf(buf, size, "the read-only transaction%s of session%s", m->n_readers == 1 ? "" : "s",
                     m->n_readers == 1 ? "" : "s");
        k = n > 0 && (size_t) n < size ? (size_t) n : 0;
        for (const Session *i = m->sessions; i && k + 24 < size; i = i->next)
                if (i->txn == TXN_READ && i != s) {
                        n = snprintf(buf + k, size - k, " %" PRIu64, i->id);
                        if (n > 0)
                                k += (size_t) n;
                }
        utf8_truncate(buf, size - 1);
}

static void release_write_lock(Manager *m) {
        m->txn_holder = NULL;
        group_wake(m);
}

static void end_transaction(Session *s) {
        Manager *m = s->manager;

        s->txn_deadline = sd_event_source_disable_unref(s->txn_deadline);
        switch (s->txn) {
        case TXN_WRITE:
                release_write_lock(m);
                break;
        case TXN_READ:
                if (--m->n_readers == 0)
                        group_wake(m);
                break;
        case TXN_NONE:
                break;
        }
        s->txn = TXN_NONE;
}

static int on_txn_deadline(sd_event_source *source, uint64_t usec, void *userdata) {
        Session *s = userdata;
        Manager *m = s->manager;
        bool write = s->txn == TXN_WRITE;

        log_warning("Session %" PRIu64 " (%s) held its %s transaction longer than %" PRIu64 " s: aborting it.", s->id,
                    s->name, write ? "write" : "read-only",
                    (write ? m->config.max_txn_usec : m->config.max_read_txn_usec) / 1000000);
        if (write)
                manager_abort(m);
        end_transaction(s);
        s->txn_aborted = true;
        return 0;
}

static void arm_deadline(Session *s, uint64_t usec) {
        int r;

        s->txn_deadline = sd_event_source_disable_unref(s->txn_deadline);
        r = sd_event_add_time_relative(s->manager->event, &s->txn_deadline, CLOCK_MONOTONIC, usec, 0,
                                       on_txn_deadline, s);
        if (r < 0)
                log_warning_errno(r, "Session %" PRIu64 ": cannot arm the transaction deadline, ignoring: %m", s->id);
}

int session_begin_write(Session *s) {
        Manager *m = s->manager;
        int r;

        r = engine_begin_as(m->engine, &(EngineCaller) { .session = s->id, .dynamic = s->dynamic });
        if (r < 0)
                return r;
        m->txn_holder = s;
        s->txn = TXN_WRITE;
        arm_deadline(s, m->config.max_txn_usec);
        log_debug("Session %" PRIu64 ": write transaction begun.", s->id);
        return 0;
}

void session_begin_read(Session *s) {
        s->txn = TXN_READ;
        s->manager->n_readers++;
        arm_deadline(s, s->manager->config.max_read_txn_usec);
        log_debug("Session %" PRIu64 ": read-only transaction begun.", s->id);
}

int session_check_aborted(Session *s, EngineError *err) {
        if (!s->txn_aborted)
                return 0;
        s->txn_aborted = false;
        return engine_error(err, FWP_E_TXN_ABORTED, "the transaction was held longer than the engine allows "
                            "and was aborted");
}

int session_commit(Session *s, EngineError *err) {
        int r = 0;

        if (s->txn == TXN_NONE)
                return engine_error(err, FWP_E_NO_TXN_IN_PROGRESS, "session %" PRIu64 " has no transaction open", s->id);
        if (s->txn == TXN_WRITE)
                r = manager_commit(s->manager, err);    /* on refusal the engine has rolled back */
        end_transaction(s);
        return r;
}

int session_abort(Session *s, EngineError *err) {
        if (s->txn == TXN_NONE)
                return engine_error(err, FWP_E_NO_TXN_IN_PROGRESS, "session %" PRIu64 " has no transaction open", s->id);
        if (s->txn == TXN_WRITE)
                manager_abort(s->manager);
        end_transaction(s);
        return 0;
}

/* ---- sessions ----------------------------------------------------------------------------- */

static Session *session_free(Session *s) {
        Manager *m = s->manager;

        LIST_REMOVE(m->sessions, s);
        m->n_sessions--;
        sd_event_source_disable_unref(s->txn_deadline);
        free_many(s->owner, s->name, s->description);
        free(s);
        return NULL;
}

int session_open(Manager *m, const char *owner, uid_t uid, const SessionOptions *o, EngineError *err,
                 Session **ret) {
        size_t mine = 0;
        Session *s;

        if ((o->name && strlen(o->name) > SESSION_NAME_MAX) ||
            (o->description && strlen(o->description) > SESSION_NAME_MAX))
                return engine_error(err, FWP_E_INVALID_PARAMETER, "session name or description longer than %d bytes",
                                    SESSION_NAME_MAX);
        for (Session *i = m->sessions; i; i = i->next)
                if (streq(i->owner, owner))
                        mine++;
        if (mine >= SESSIONS_PER_PEER_MAX)
                return engine_error(err, FWP_E_OUT_OF_BOUNDS, "a connection may hold %d sessions; %s holds %zu "
                                    "(close one first)", SESSIONS_PER_PEER_MAX, owner, mine);
        if (m->n_sessions >= SESSIONS_MAX)
                return engine_error(err, FWP_E_OUT_OF_BOUNDS, "the engine holds %d sessions already", SESSIONS_MAX);

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->manager = m;
        s->id = ++m->next_session_id;
        s->uid = uid;
        s->dynamic = o->dynamic;
        s->wait_usec = o->wait_msec == 0 ? SESSION_WAIT_DEFAULT_USEC
                     : o->wait_msec == UINT32_MAX ? UINT64_MAX : (uint64_t) o->wait_msec * 1000;
        s->owner = strdup(owner);
        s->name = strdup(o->name ?: "");
        s->description = strdup(o->description ?: "");
        LIST_PREPEND(m->sessions, s);
        m->n_sessions++;
        if (!s->owner || !s->name || !s->description) {
                session_free(s);
                return -ENOMEM;
        }
        log_info("Session %" PRIu64 " (%s) opened by %s (uid %u)%s.", s->id, s->name, owner, (unsigned) uid,
                 s->dynamic ? ", dynamic" : "");
        *ret = s;
        return 0;
}

/* ---- closing: a dynamic session's objects go in a call of their own ------------------------ */

typedef struct CleanupCall {
        Call call;
        uint64_t session;
        char *name;
} CleanupCall;

static int cleanup_run(Call *c, EngineError *err) {
        CleanupCall *cc = (CleanupCall *) c;

        return engine_delete_session_objects(c->manager->engine, cc->session);
}

static void cleanup_done(Call *c, int r, const EngineError *err) {
        CleanupCall *cc = (CleanupCall *) c;

        if (r < 0)
                log_error("Session %" PRIu64 " (%s): failed to delete its objects: %s", cc->session, cc->name,
                          err && err->message[0] ? err->message : bfe_strerror(r));
        else
                log_info("Session %" PRIu64 " (%s) closed; its dynamic objects are deleted.", cc->session, cc->name);
        free(cc->name);
        free(cc);
}

void session_close(Session *s) {
        Manager *m = s->manager;
        CleanupCall *cc;

        group_flush(m);                 /* its staged calls refer to it */
        group_cancel(m, s, NULL, -ECONNRESET);
        if (s->txn == TXN_WRITE) {
                manager_abort(m);
                log_info("Session %" PRIu64 ": its open transaction is aborted.", s->id);
        }
        end_transaction(s);

        if (!s->dynamic) {
                log_info("Session %" PRIu64 " (%s) closed.", s->id, s->name);
                session_free(s);
                return;
        }

        /* the objects are deleted as the anonymous session, once the lock is free; the call
         * outlives the session, so it carries the id */
        cc = calloc(1, sizeof(*cc));
        if (cc)
                cc->name = strdup(s->name);
        if (!cc || !cc->name) {
                free(cc);
                log_error("Session %" PRIu64 ": out of memory; its dynamic objects stay.", s->id);
                session_free(s);
                return;
        }
        cc->session = s->id;
        cc->call = (Call) {
                .session = &m->anonymous,
                .owner = "",
                .kind = CALL_CLEANUP,
                .run = cleanup_run,
                .done = cleanup_done,
        };
        session_free(s);
        call_submit(m, &cc->call);
}

void sessions_done(Manager *m) {
        while (m->sessions) {
                Session *s = m->sessions;

                s->txn = TXN_NONE;      /* the engine goes with the manager */
                session_free(s);
        }
        m->txn_holder = NULL;
        m->n_readers = 0;
}
