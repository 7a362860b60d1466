/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* group.c — the write pipeline: waiting for the lock, group commit, reruns. See group.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "group.h"
#include "list.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "session.h"

/* ---- lists -------------------------------------------------------------------------------- */

static void call_tell(Call *c, int r, const EngineError *err) {
        c->timer = sd_event_source_disable_unref(c->timer);
        c->done(c, r, r < 0 ? err : NULL);
}

/* ---- waiting for the lock ------------------------------------------------------------------ */

static void unwait(Call *c) {
        Manager *m = c->manager;

        LIST_REMOVE_TAIL(m->waiting, m->waiting_tail, c);
        c->waiting = false;
        c->session->n_waiting--;
        c->timer = sd_event_source_disable_unref(c->timer);
}

static int on_wait_timeout(sd_event_source *source, uint64_t usec, void *userdata) {
        Call *c = userdata;
        EngineError err = {};
        char holder[256];

        session_describe_lock(c->session, holder, sizeof(holder));
        unwait(c);
        log_info("Session %" PRIu64 ": a call timed out waiting for %s.", c->session->id, holder);
        (void) engine_error(&err, FWP_E_TIMEOUT, "waited %" PRIu64 " ms for %s to end",
                            c->session->wait_usec / 1000, holder);
        call_tell(c, wfp_ret(FWP_E_TIMEOUT), &err);
        return 0;
}

/* Queues @c until the lock is free; its deadline is set the first time it waits. */
static void call_wait(Call *c) {
        Manager *m = c->manager;
        int r;

        if (c->deadline == 0) {
                uint64_t now = 0;

                (void) sd_event_now(m->event, CLOCK_MONOTONIC, &now);
                c->deadline = c->session->wait_usec == UINT64_MAX || c->kind == CALL_CLEANUP
                            ? UINT64_MAX : now + c->session->wait_usec;
        }
        if (c->deadline != UINT64_MAX && !c->timer) {
                r = sd_event_add_time(m->event, &c->timer, CLOCK_MONOTONIC, c->deadline, 0, on_wait_timeout, c);
                if (r < 0) {
                        call_tell(c, r, NULL);
                        return;
                }
        }
        c->waiting = true;
        c->session->n_waiting++;
        LIST_APPEND(m->waiting, m->waiting_tail, c);
        if (log_get_max_level() >= LOG_DEBUG) {
                char holder[256];

                session_describe_lock(c->session, holder, sizeof(holder));
                log_debug("Session %" PRIu64 ": %s waits for %s.", c->session->id, c->name ?: "a call", holder);
        }
}

static bool call_blocked(const Call *c);
static void call_go(Manager *m, Call *c);

/*
 * The lock changed: the waiting calls that can go now go, first come first served. A call
 * that still cannot go holds up the later calls of its session (their order is kept), not
 * those of others. Running a call may change the queue (a Close drops its session's calls),
 * so the walk starts again from the head after each one.
 */
static int on_wake(sd_event_source *source, void *userdata) {
        Manager *m = userdata;
        uint64_t round = ++m->wake_round;
        Call *c = m->waiting;

        while (c) {
                Session *s = c->session;

                if (s->wake_round == round) {
                        c = c->next;
                        continue;
                }
                if (call_blocked(c)) {
                        s->wake_round = round;
                        c = c->next;
                        continue;
                }
                unwait(c);
                call_go(m, c);
                c = m->waiting;
        }
        return 0;
}

void group_wake(Manager *m) {
        if (m->waiting && m->wake)
                (void) sd_event_source_set_enabled(m->wake, SD_EVENT_ONESHOT);
}

void group_cancel(Manager *m, const Session *s, const char *owner, int r) {
        for (Call *c = m->waiting, *next; c; c = next) {
                next = c->next;
                if ((s && c->session == s) || (owner && streq(c->owner, owner))) {
                        unwait(c);
                        call_tell(c, r, NULL);
                }
        }
}

/* ---- the group ---------------------------------------------------------------------------- */

static int on_flush(sd_event_source *source, void *userdata) {
        group_flush(userdata);
        return 0;
}

int group_setup(Manager *m) {
        int r;

        r = sd_event_add_defer(m->event, &m->flush, on_flush, m);
        if (r < 0)
                return r;
        /* below the bus (SD_EVENT_PRIORITY_NORMAL): runs once no message is queued */
        r = sd_event_source_set_priority(m->flush, SD_EVENT_PRIORITY_NORMAL + 1);
        if (r >= 0)
                r = sd_event_source_set_enabled(m->flush, SD_EVENT_OFF);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(m->flush, "group-commit");

        r = sd_event_add_defer(m->event, &m->wake, on_wake, m);
        if (r >= 0)
                r = sd_event_source_set_enabled(m->wake, SD_EVENT_OFF);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(m->wake, "lock-waiters");
        return 0;
}

void group_done(Manager *m) {
        if (m->flush)
                group_flush(m);
        while (m->waiting) {
                Call *c = m->waiting;

                unwait(c);
                call_tell(c, -ECANCELED, NULL);
        }
        m->flush = sd_event_source_disable_unref(m->flush);
        m->wake = sd_event_source_disable_unref(m->wake);
}

/* Runs @c's change in the open transaction: all of it, checked against the compiler's
 * limits, or none of it. */
static int run_change(Manager *m, Call *c, EngineError *err) {
        size_t savepoint = engine_savepoint(m->engine);
        int r;

        manager_note_author(m, c);
        r = c->run(c, err);
        if (r < 0) {
                engine_rollback_to(m->engine, savepoint);
                if (wfp_code_from_ret(r))
                        log_debug("Refused a change: %s: %s", bfe_strerror(r), err->message);
                return r;
        }
        return manager_check_changes(m, savepoint, err);
}

/* Opens the group or joins it, as @c's session. */
static int group_join(Manager *m, Call *c) {
        EngineCaller caller = { .session = c->session->id, .dynamic = c->session->dynamic };
        int r;

        if (m->group_open && m->n_staged >= GROUP_CALLS_MAX)
                group_flush(m);
        if (m->group_open) {
                engine_set_caller(m->engine, &caller);
                return 0;
        }
        r = engine_begin_as(m->engine, &caller);
        if (r < 0)
                return r;
        m->group_open = true;
        (void) sd_event_source_set_enabled(m->flush, SD_EVENT_ONESHOT);
        return 0;
}

static void stage(Manager *m, Call *c) {
        int r;

        r = group_join(m, c);
        if (r < 0) {
                call_tell(c, r, NULL);
                return;
        }
        c->error = (EngineError) {};
        c->result = run_change(m, c, &c->error);
        LIST_APPEND(m->staged, m->staged_tail, c);
        m->n_staged++;
}

/* A call of a refused group, alone: its own transaction, its own commit. */
static void run_alone(Manager *m, Call *c) {
        EngineError err = {};
        int r;

        r = engine_begin_as(m->engine, &(EngineCaller) { .session = c->session->id, .dynamic = c->session->dynamic });
        if (r >= 0)
                r = run_change(m, c, &err);
        if (r >= 0)
                r = manager_commit(m, &err);
        else if (engine_in_transaction(m->engine))
                manager_abort(m);
        call_tell(c, r, &err);
}

void group_flush(Manager *m) {
        EngineError err = {};
        Call *list = m->staged;
        size_t n = m->n_staged, n_changes;
        int r = 0;

        if (!m->group_open)
                return;
        m->group_open = false;
        m->staged = m->staged_tail = NULL;
        m->n_staged = 0;
        (void) sd_event_source_set_enabled(m->flush, SD_EVENT_OFF);

        (void) engine_changes(m->engine, &n_changes);
        if (n_changes == 0)
                manager_abort(m);               /* the engine refused every call of it */
        else
                r = manager_commit(m, &err);    /* the hooks hear of it before the calls do */

        if (r < 0 && n > 1) {
                /* nothing of it is applied: each call again on its own, in order */
                log_info("The kernel refused a batch of %zu calls; running them one at a time.", n);
                while (list) {
                        Call *c = list;

                        list = c->next;
                        run_alone(m, c);
                }
                return;
        }
        while (list) {
                Call *c = list;

                list = c->next;
                if (r < 0)
                        call_tell(c, r, &err);
                else
                        call_tell(c, c->result, &c->error);
        }
        if (n > 1)
                log_debug("Committed %zu calls (%zu changes) as one batch.", n, n_changes);
}

/* ---- submitting ---------------------------------------------------------------------------- */

/* Whether @c must wait for the lock. */
static bool call_blocked(const Call *c) {
        const Session *s = c->session;

        switch (c->kind) {
        case CALL_WRITE:
                return s->txn == TXN_NONE && session_writes_wait(s);
        case CALL_CLEANUP:
                return session_writes_wait(s);
        case CALL_READ:
                return session_reads_wait(s);
        case CALL_BEGIN:
                return s->txn == TXN_NONE && (c->read_only ? session_reads_wait(s) : session_writes_wait(s));
        case CALL_NOW:
                return false;
        }
        return false;
}

/* Runs @c, which need not wait. */
static void call_go(Manager *m, Call *c) {
        Session *s = c->session;
        EngineError err = {};
        int r;

        switch (c->kind) {
        case CALL_NOW:
                r = c->run(c, &err);
                call_tell(c, r, &err);
                return;

        case CALL_WRITE:
                if (s->txn == TXN_READ) {
                        r = engine_error(&err, FWP_E_INCOMPATIBLE_TXN, "session %" PRIu64 " is in a read-only "
                                         "transaction", s->id);
                        call_tell(c, r, &err);
                        return;
                }
                if (s->txn == TXN_WRITE) {
                        /* applied at commit; a refused call changes nothing and does not doom
                         * the transaction */
                        r = run_change(m, c, &err);
                        call_tell(c, r, &err);
                        return;
                }
                _fallthrough_;
        case CALL_CLEANUP:
                stage(m, c);
                return;

        case CALL_READ:
                group_flush(m);         /* reads see committed state only */
                r = c->run(c, &err);
                call_tell(c, r, &err);
                return;

        case CALL_BEGIN:
                if (s->txn != TXN_NONE) {
                        r = engine_error(&err, FWP_E_TXN_IN_PROGRESS, "session %" PRIu64 " has a transaction "
                                         "open already", s->id);
                        call_tell(c, r, &err);
                        return;
                }
                group_flush(m);         /* a transaction starts from committed state */
                r = 0;
                if (c->read_only)
                        session_begin_read(s);
                else
                        r = session_begin_write(s);
                call_tell(c, r, NULL);
                return;
        }
}

void call_submit(Manager *m, Call *c) {
        c->manager = m;
        /* behind the session's earlier calls, or behind the lock */
        if ((c->session->n_waiting > 0 && c->session->id != 0 && c->kind != CALL_CLEANUP) || call_blocked(c))
                call_wait(c);
        else
                call_go(m, c);
}
