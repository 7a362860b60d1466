/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* group.c — group commit of back-to-back single-call changes. See group.h. */
#include <errno.h>
#include <stdlib.h>

#include "group.h"
#include "log.h"
#include "macro.h"
#include "manager.h"

/* A group this big is committed before the next call joins: bounds the first caller's wait
 * and the batch. */
#define GROUP_MAX_CALLS 1024

/* A call of the pending group. */
typedef struct Staged {
        sd_bus_message *msg;
        sd_bus_message *reply;          /* NULL until its handler replied */
        sd_bus_message_handler_t handler;
        Session *session;               /* the handler's userdata */
        struct Staged *next;
} Staged;

static Staged *staged_free_all(Staged *list) {
        while (list) {
                Staged *next = list->next;

                sd_bus_message_unref(list->msg);
                sd_bus_message_unref(list->reply);
                free(list);
                list = next;
        }
        return NULL;
}

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
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(m->flush, "group-commit");
        return sd_event_source_set_enabled(m->flush, SD_EVENT_OFF);
}

void group_done(Manager *m) {
        group_flush(m);
        m->flush = sd_event_source_disable_unref(m->flush);
}

bool group_enabled(const Manager *m) {
        return !m->group_rerun;
}

/* Closes a group none of whose calls changed anything. */
static void group_drop_empty(Manager *m) {
        if (m->staged)
                return;
        engine_abort(m->engine);
        m->group_open = false;
        (void) sd_event_source_set_enabled(m->flush, SD_EVENT_OFF);
}

int group_join(Manager *m, Session *s, sd_bus_message *msg, sd_bus_message_handler_t handler) {
        EngineCaller caller = { .session = s->id, .dynamic = s->dynamic };
        Staged *st;
        int r;

        if (m->group_open && m->n_staged >= GROUP_MAX_CALLS)
                group_flush(m);

        st = calloc(1, sizeof(*st));
        if (!st)
                return -ENOMEM;
        if (m->group_open)
                engine_set_caller(m->engine, &caller);
        else {
                r = engine_begin_as(m->engine, &caller);
                if (r < 0) {
                        free(st);
                        return r;
                }
                m->group_open = true;
                (void) sd_event_source_set_enabled(m->flush, SD_EVENT_ONESHOT);
        }
        st->msg = sd_bus_message_ref(msg);
        st->handler = handler;
        st->session = s;
        if (m->staged_tail)
                m->staged_tail->next = st;
        else
                m->staged = st;
        m->staged_tail = st;
        m->n_staged++;
        m->staging = msg;
        return 0;
}

int group_refused(Manager *m, sd_bus_message *msg, const sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Staged *st = m->staged_tail;
        int r;

        m->staging = NULL;
        r = sd_bus_message_new_method_error(msg, &reply, error);
        if (r >= 0) {
                st->reply = TAKE_PTR(reply);
                return 1;
        }

        /* cannot keep the answer: drop the call from the group and answer now */
        if (m->staged == st)
                m->staged = NULL;
        else
                for (Staged *p = m->staged; p; p = p->next)
                        if (p->next == st) {
                                p->next = NULL;
                                m->staged_tail = p;
                        }
        if (!m->staged)
                m->staged_tail = NULL;
        m->n_staged--;
        staged_free_all(st);
        group_drop_empty(m);
        return r;
}

bool group_take_reply(Manager *m, sd_bus_message *call, sd_bus_message *reply) {
        if (!m->staging || m->staging != call)
                return false;
        m->staged_tail->reply = sd_bus_message_ref(reply);
        m->staging = NULL;
        return true;
}

void group_flush(Manager *m) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        Staged *list = m->staged;
        size_t n = m->n_staged, n_changes;
        int r = 0;

        if (!m->group_open)
                return;
        m->group_open = false;
        m->staged = m->staged_tail = NULL;
        m->n_staged = 0;
        m->staging = NULL;
        (void) sd_event_source_set_enabled(m->flush, SD_EVENT_OFF);

        (void) engine_changes(m->engine, &n_changes);
        if (n_changes == 0)
                engine_abort(m->engine);        /* the engine refused every call of it */
        else
                r = manager_commit(m, &error);  /* Changed signals go out here, before the replies */

        if (r >= 0) {
                if (n > 1)
                        log_debug("Committed %zu calls (%zu changes) as one batch.", n, n_changes);
                for (Staged *st = list; st; st = st->next)
                        if (st->reply)
                                (void) sd_bus_send(NULL, st->reply, NULL);
        } else if (n == 1)
                (void) sd_bus_reply_method_error(list->msg, &error);
        else {
                /* nothing of it is applied: each call again on its own, in order */
                log_info("The kernel refused a batch of %zu calls; running them one at a time.", n);
                m->group_rerun = true;
                for (Staged *st = list; st; st = st->next) {
                        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;

                        (void) sd_bus_message_rewind(st->msg, true);
                        r = st->handler(st->msg, st->session, &e);
                        if (r < 0)
                                (void) sd_bus_reply_method_errno(st->msg, r, &e);
                }
                m->group_rerun = false;
        }
        staged_free_all(list);
}
