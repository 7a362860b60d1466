/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* session.c — sessions, the engine-wide write transaction and the calls waiting for it. See session.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "group.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "session.h"

/* A call (or, with no message, a closed session's cleanup) waiting for the write lock. */
typedef struct Waiter {
        Manager *manager;
        Session *session;
        sd_bus_message *msg;
        sd_bus_message_handler_t handler;
        sd_event_source *timeout;
        uint64_t deadline;              /* CLOCK_MONOTONIC µs, UINT64_MAX: none */
        struct Waiter *prev, *next;
} Waiter;

/* While on_wake() runs a call again, the deadline it had when it first waited. */
static uint64_t rerun_deadline;

static int reply_wfp(sd_bus_error *error, uint32_t code, const char *fmt, ...) _printf_(3, 4);
static int reply_wfp(sd_bus_error *error, uint32_t code, const char *fmt, ...) {
        EngineError err = {};
        va_list ap;

        err.code = code;
        va_start(ap, fmt);
        vsnprintf(err.message, sizeof(err.message), fmt, ap);
        va_end(ap);
        return bus_error_from_engine(error, wfp_ret(code), &err);
}

/* ---- waiting for the write transaction ----------------------------------------------------- */

static void waiter_free(Waiter *w) {
        Manager *m = w->manager;

        if (w->prev)
                w->prev->next = w->next;
        else
                m->waiters = w->next;
        if (w->next)
                w->next->prev = w->prev;
        else
                m->waiters_tail = w->prev;
        sd_event_source_disable_unref(w->timeout);
        sd_bus_message_unref(w->msg);
        free(w);
}

static int on_wait_timeout(sd_event_source *source, uint64_t usec, void *userdata) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        Waiter *w = userdata;
        Session *holder = w->manager->txn_holder;

        reply_wfp(&error, FWP_E_TIMEOUT, "waited %" PRIu64 " ms for the transaction of session %" PRIu64 " (%s) to end",
                  w->session->wait_usec / 1000, holder ? holder->id : 0, holder && holder->name ? holder->name : "");
        log_info("Session %" PRIu64 ": a call timed out waiting for session %" PRIu64 "'s transaction.", w->session->id,
                 holder ? holder->id : 0);
        (void) sd_bus_reply_method_error(w->msg, &error);
        waiter_free(w);
        return 0;
}

int session_wait(Session *s, sd_bus_message *msg, sd_bus_message_handler_t self) {
        Manager *m = s->manager;
        Waiter *w;
        int r;

        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->manager = m;
        w->session = s;
        w->msg = sd_bus_message_ref(msg);
        w->handler = self;
        w->deadline = UINT64_MAX;
        if (rerun_deadline != 0)
                w->deadline = rerun_deadline; /* waiting again: keep the first deadline */
        else if (s->wait_usec != UINT64_MAX) {
                uint64_t now = 0;
                (void) sd_event_now(m->event, CLOCK_MONOTONIC, &now);
                w->deadline = now + s->wait_usec;
        }
        if (w->deadline != UINT64_MAX) {
                r = sd_event_add_time(m->event, &w->timeout, CLOCK_MONOTONIC, w->deadline, 0, on_wait_timeout, w);
                if (r < 0) {
                        sd_bus_message_unref(w->msg);
                        free(w);
                        return r;
                }
        }
        w->prev = m->waiters_tail;
        if (m->waiters_tail)
                m->waiters_tail->next = w;
        else
                m->waiters = w;
        m->waiters_tail = w;
        log_debug("Session %" PRIu64 ": %s waits for session %" PRIu64 "'s transaction.", s->id,
                  sd_bus_message_get_member(msg), m->txn_holder ? m->txn_holder->id : 0);
        return 1;
}

static void session_cleanup(Session *s);
static bool writes_must_wait(const Session *s);

/* Runs the calls that were waiting when a transaction ended, first come first served; each
 * checks its gate again and, if the engine is still taken, waits again with its deadline. */
static int on_wake(sd_event_source *source, void *userdata) {
        Manager *m = userdata;
        size_t n = 0;

        for (Waiter *w = m->waiters; w; w = w->next)
                n++;
        while (n-- > 0 && m->waiters) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                Waiter *w = m->waiters;
                sd_bus_message *msg = sd_bus_message_ref(w->msg);
                sd_bus_message_handler_t handler = w->handler;
                Session *s = w->session;
                uint64_t deadline = w->deadline;
                int r;

                waiter_free(w);
                if (!msg) {
                        if (writes_must_wait(s))
                                session_close(s); /* waits again */
                        else
                                session_cleanup(s);
                        continue;
                }
                (void) sd_bus_message_rewind(msg, true);
                rerun_deadline = deadline == UINT64_MAX ? 0 : deadline;
                r = handler(msg, s, &error);
                rerun_deadline = 0;
                if (r < 0)
                        (void) sd_bus_reply_method_errno(msg, r, &error);
                sd_bus_message_unref(msg);
        }
        return 0;
}

static void wake_waiters(Manager *m) {
        if (m->waiters)
                (void) sd_event_source_set_enabled(m->wake, SD_EVENT_ONESHOT);
}

static void release_write_lock(Manager *m) {
        m->txn_holder = NULL;
        wake_waiters(m);
}

static void end_read_transaction(Session *s) {
        Manager *m = s->manager;

        s->txn = TXN_NONE;
        if (--m->n_readers == 0)
                wake_waiters(m);
}

/* A write may start when no other session's write transaction and no read-only
 * transaction is open; a read, when no other session's write transaction is. */
static bool writes_must_wait(const Session *s) {
        return (s->manager->txn_holder && s->manager->txn_holder != s) || s->manager->n_readers > 0;
}

static bool reads_must_wait(const Session *s) {
        return s->manager->txn_holder && s->manager->txn_holder != s;
}

int session_read_gate(Session *s, sd_bus_message *msg, sd_bus_message_handler_t self) {
        group_flush(s->manager);        /* reads see committed state only */
        if (!reads_must_wait(s))
                return 0;
        return session_wait(s, msg, self);
}

/* ---- the write gate ----------------------------------------------------------------------- */

int session_check_caller(Session *s, sd_bus_message *msg, sd_bus_error *error) {
        if (s->id != 0 && !streq_ptr(sd_bus_message_get_sender(msg), s->owner))
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                         "Session %" PRIu64 " belongs to another connection", s->id);
        if (s->txn_aborted) {
                s->txn_aborted = false;
                return reply_wfp(error, FWP_E_TXN_ABORTED,
                                 "the transaction was held longer than %" PRIu64 " s and was aborted",
                                 s->manager->config.max_txn_usec / 1000000);
        }
        return 0;
}

static void log_refusal(int r, const EngineError *err) {
        if (wfp_code_from_ret(r))
                log_debug("Refused a change: %s: %s", bfe_strerror(r), err->message);
}

int session_run_change(Session *s, sd_bus_message *msg, sd_bus_message_handler_t self, SessionChangeFunc change,
                       void *userdata, sd_bus_error *error) {
        Manager *m = s->manager;
        EngineError err = {};
        int r;

        switch (s->txn) {
        case TXN_READ:
                return reply_wfp(error, FWP_E_INCOMPATIBLE_TXN, "session %" PRIu64 " is in a read-only transaction", s->id);
        case TXN_WRITE:
                /* inside the session's own transaction: applied at commit; a refused call changes
                 * nothing and does not doom the transaction */
                r = change(m, userdata, &err);
                if (r < 0)
                        return bus_error_from_engine(error, r, &err);
                return 0;
        case TXN_NONE:
                break;
        }

        if (writes_must_wait(s))
                return session_wait(s, msg, self);

        if (!group_enabled(m)) {
                /* an implicit transaction of its own */
                r = manager_begin(m, s);
                if (r < 0)
                        return bus_error_from_engine(error, r, NULL);
                r = change(m, userdata, &err);
                if (r < 0) {
                        manager_abort(m);
                        log_refusal(r, &err);
                        return bus_error_from_engine(error, r, &err);
                }
                return manager_commit(m, error);
        }

        /* staged: committed with the calls around it (group.h) */
        r = group_join(m, s, msg, self);
        if (r < 0)
                return bus_error_from_engine(error, r, NULL);
        r = change(m, userdata, &err);
        if (r < 0) {
                log_refusal(r, &err);
                (void) bus_error_from_engine(error, r, &err);
                r = group_refused(m, msg, error);
                if (r > 0)
                        sd_bus_error_free(error);
                return r;
        }
        return 0;
}

int session_reply(Session *s, sd_bus_message *call, const char *types, ...) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        va_list ap;
        int r;

        r = sd_bus_message_new_method_return(call, &reply);
        if (r < 0)
                return r;
        if (types) {
                va_start(ap, types);
                r = sd_bus_message_appendv(reply, types, ap);
                va_end(ap);
                if (r < 0)
                        return r;
        }
        return session_send_reply(s, call, reply);
}

int session_send_reply(Session *s, sd_bus_message *call, sd_bus_message *reply) {
        if (group_take_reply(s->manager, call, reply))
                return 1;
        return sd_bus_send(NULL, reply, NULL);
}

/* ---- sessions ---------------------------------------------------------------------------- */

static void session_free(Session *s) {
        Manager *m = s->manager;

        if (s->prev)
                s->prev->next = s->next;
        else if (m->sessions == s)
                m->sessions = s->next;
        if (s->next)
                s->next->prev = s->prev;
        sd_event_source_disable_unref(s->txn_deadline);
        sd_bus_track_unref(s->track);
        free(s->path);
        free(s->owner);
        free(s->name);
        free(s->description);
        free(s);
}

static int on_track_gone(sd_bus_track *track, void *userdata) {
        Session *s = userdata;

        log_info("Session %" PRIu64 " (%s): its connection %s went away.", s->id, s->name ?: "", s->owner);
        session_close(s);
        return 0;
}

int session_open(Manager *m, sd_bus_message *msg, bool dynamic, uint32_t timeout_ms, const char *name,
                 const char *description, Session **ret) {
        Session *s;
        int r;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->manager = m;
        s->id = ++m->next_session_id;
        s->dynamic = dynamic;
        s->wait_usec = timeout_ms == 0 ? SESSION_WAIT_DEFAULT_USEC
                     : timeout_ms == UINT32_MAX ? UINT64_MAX : (uint64_t) timeout_ms * 1000;
        s->owner = strdup(sd_bus_message_get_sender(msg) ?: "");
        s->name = strdup(name ?: "");
        s->description = strdup(description ?: "");
        if (!s->owner || !s->name || !s->description ||
            asprintf(&s->path, SESSION_PATH_PREFIX "/%" PRIu64, s->id) < 0) {
                s->path = NULL;
                session_free(s);
                return -ENOMEM;
        }
        s->next = m->sessions;
        if (m->sessions)
                m->sessions->prev = s;
        m->sessions = s;

        r = sd_bus_track_new(m->bus, &s->track, on_track_gone, s);
        if (r >= 0)
                r = sd_bus_track_add_sender(s->track, msg);
        if (r < 0) {
                session_free(s);
                return r;
        }
        log_info("Session %" PRIu64 " (%s) opened by %s%s.", s->id, s->name, s->owner, dynamic ? ", dynamic" : "");
        *ret = s;
        return 0;
}

/* A dynamic session's objects go in one implicit transaction, once the write lock is free. */
static void session_cleanup(Session *s) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        Manager *m = s->manager;
        int r;

        r = manager_begin(m, &m->anonymous);
        if (r >= 0)
                r = engine_delete_session_objects(m->engine, s->id);
        if (r < 0) {
                manager_abort(m);
                log_error_errno(r, "Session %" PRIu64 ": failed to delete its objects: %m", s->id);
        } else if (manager_commit(m, &error) < 0)
                log_error("Session %" PRIu64 ": failed to delete its objects: %s", s->id, error.message);
        else
                log_info("Session %" PRIu64 " closed; its dynamic objects are deleted.", s->id);
        session_free(s);
}

void session_close(Session *s) {
        Manager *m = s->manager;

        group_flush(m);                 /* its staged calls refer to it */
        if (s->txn == TXN_WRITE) {
                manager_abort(m);
                log_info("Session %" PRIu64 ": its open transaction is aborted.", s->id);
                s->txn = TXN_NONE;
                release_write_lock(m);
        } else if (s->txn == TXN_READ)
                end_read_transaction(s);
        s->track = sd_bus_track_unref(s->track);

        /* its own waiting calls are answered by nobody: drop them */
        for (Waiter *w = m->waiters, *next; w; w = next) {
                next = w->next;
                if (w->session == s)
                        waiter_free(w);
        }

        if (!s->dynamic) {
                log_info("Session %" PRIu64 " closed.", s->id);
                session_free(s);
                return;
        }
        if (writes_must_wait(s)) {
                Waiter *w = calloc(1, sizeof(*w));
                if (w) {
                        w->manager = m;
                        w->session = s;
                        w->deadline = UINT64_MAX;
                        w->prev = m->waiters_tail;
                        if (m->waiters_tail)
                                m->waiters_tail->next = w;
                        else
                                m->waiters = w;
                        m->waiters_tail = w;
                        return;
                }
                log_error("Session %" PRIu64 ": out of memory; deleting its objects now.", s->id);
        }
        session_cleanup(s);
}

/* ---- org.bfed.Session1 --------------------------------------------------------------------- */

static int on_txn_deadline(sd_event_source *source, uint64_t usec, void *userdata) {
        Session *s = userdata;
        Manager *m = s->manager;

        if (s->txn != TXN_WRITE)
                return 0;
        log_warning("Session %" PRIu64 " (%s) held its transaction longer than %" PRIu64 " s: aborting it.", s->id,
                    s->name, m->config.max_txn_usec / 1000000);
        manager_abort(m);
        s->txn = TXN_NONE;
        s->txn_aborted = true;
        release_write_lock(m);
        return 0;
}

static int method_begin(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Session *s = userdata;
        Manager *m = s->manager;
        uint32_t flags;
        int r;

        r = sd_bus_message_read(msg, "u", &flags);
        if (r < 0)
                return r;
        group_flush(m);                 /* a transaction starts from committed state */
        r = session_check_caller(s, msg, error);
        if (r < 0)
                return r;
        if (s->txn != TXN_NONE)
                return reply_wfp(error, FWP_E_TXN_IN_PROGRESS, "session %" PRIu64 " has a transaction open already", s->id);
        if (flags & ~1u)
                return reply_wfp(error, FWP_E_INVALID_FLAGS, "transaction flags 0x%" PRIx32 " are not valid (read-only 0x1)",
                                 flags);
        if (flags & 1u) {
                /* a consistent view: no write transaction may be open while it lasts */
                if (reads_must_wait(s))
                        return session_wait(s, msg, method_begin);
                s->txn = TXN_READ;
                m->n_readers++;
                return sd_bus_reply_method_return(msg, NULL);
        }
        if (writes_must_wait(s))
                return session_wait(s, msg, method_begin);

        r = manager_begin(m, s);
        if (r < 0)
                return bus_error_from_engine(error, r, NULL);
        m->txn_holder = s;
        s->txn = TXN_WRITE;
        s->txn_deadline = sd_event_source_disable_unref(s->txn_deadline);
        r = sd_event_add_time_relative(m->event, &s->txn_deadline, CLOCK_MONOTONIC, m->config.max_txn_usec, 0,
                                       on_txn_deadline, s);
        if (r < 0)
                log_warning_errno(r, "Session %" PRIu64 ": cannot arm the transaction deadline, ignoring: %m", s->id);
        log_debug("Session %" PRIu64 ": write transaction begun.", s->id);
        return sd_bus_reply_method_return(msg, NULL);
}

static int end_transaction(sd_bus_message *msg, Session *s, bool commit, sd_bus_error *error) {
        Manager *m = s->manager;
        int r = 0;

        if (s->txn == TXN_NONE)
                return reply_wfp(error, FWP_E_NO_TXN_IN_PROGRESS, "session %" PRIu64 " has no transaction open", s->id);
        if (s->txn == TXN_WRITE) {
                s->txn_deadline = sd_event_source_disable_unref(s->txn_deadline);
                if (commit)
                        r = manager_commit(m, error); /* on refusal the engine has rolled back */
                else
                        manager_abort(m);
                release_write_lock(m);
                s->txn = TXN_NONE;
        } else
                end_read_transaction(s);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(msg, NULL);
}

static int method_commit(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        int r = session_check_caller(userdata, msg, error);

        return r < 0 ? r : end_transaction(msg, userdata, true, error);
}

static int method_abort(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        int r = session_check_caller(userdata, msg, error);

        return r < 0 ? r : end_transaction(msg, userdata, false, error);
}

static int method_close(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Session *s = userdata;
        int r;

        r = session_check_caller(s, msg, error);
        if (r < 0 && !sd_bus_error_has_name(error, BFED_ERROR_PREFIX "TxnAborted"))
                return r;
        sd_bus_error_free(error);
        r = sd_bus_reply_method_return(msg, NULL);
        session_close(s);
        return r;
}

const sd_bus_vtable session_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("BeginTransaction", SD_BUS_ARGS("u", flags), SD_BUS_NO_RESULT, method_begin,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("CommitTransaction", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_commit,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("AbortTransaction", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_abort,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Close", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_close, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

/* ---- the objects --------------------------------------------------------------------------- */

/* Finds the session of a path; a caller other than its owner gets AccessDenied, whatever it calls. */
int session_bus_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                     sd_bus_error *error) {
        Manager *m = userdata;
        const char *p = path + strlen(SESSION_PATH_PREFIX);
        uint64_t id;
        char *end;

        if (*p != '/' || !p[1])
                return 0;
        errno = 0;
        id = strtoull(p + 1, &end, 10);
        if (errno || *end)
                return 0;
        for (Session *s = m->sessions; s; s = s->next)
                if (s->id == id) {
                        sd_bus_message *msg = sd_bus_get_current_message(bus);
                        uint8_t type = 0;

                        if (msg && sd_bus_message_get_type(msg, &type) >= 0 && type == SD_BUS_MESSAGE_METHOD_CALL &&
                            !streq_ptr(sd_bus_message_get_sender(msg), s->owner))
                                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                                         "Session %" PRIu64 " belongs to another connection", s->id);
                        *found = s;
                        return 1;
                }
        return 0;
}

static int session_enumerate(sd_bus *bus, const char *path, void *userdata, char ***nodes, sd_bus_error *error) {
        Manager *m = userdata;
        size_t n = 0, k = 0;
        char **l;

        for (Session *s = m->sessions; s; s = s->next)
                n++;
        l = calloc(n + 1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        for (Session *s = m->sessions; s; s = s->next) {
                l[k] = strdup(s->path);
                if (!l[k]) {
                        while (k > 0)
                                free(l[--k]);
                        free(l);
                        return -ENOMEM;
                }
                k++;
        }
        *nodes = l;
        return 0;
}

int sessions_setup(Manager *m) {
        int r;

        m->anonymous = (Session) { .manager = m, .id = 0, .wait_usec = SESSION_WAIT_DEFAULT_USEC };
        r = sd_event_add_defer(m->event, &m->wake, on_wake, m);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(m->wake, SD_EVENT_OFF);
        r = sd_bus_add_fallback_vtable(m->bus, NULL, SESSION_PATH_PREFIX, "org.bfed.Session1", session_vtable,
                                       session_bus_find, m);
        if (r < 0)
                return r;
        return sd_bus_add_node_enumerator(m->bus, NULL, SESSION_PATH_PREFIX, session_enumerate, m);
}

void sessions_done(Manager *m) {
        while (m->waiters)
                waiter_free(m->waiters);
        while (m->sessions) {
                Session *s = m->sessions;
                s->track = sd_bus_track_unref(s->track);
                session_free(s);
        }
        m->wake = sd_event_source_disable_unref(m->wake);
}
