/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * session-bus.c — the session objects: /org/bfed/Engine1/session/N serves org.bfed.Session1
 * (transactions, Close) and the object methods of org.bfed.Engine1, which then run in the
 * session. Only the connection that opened a session may call it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus-engine.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "session-bus.h"

static int begin_parse(BusCall *bc, sd_bus_error *error) {
        uint32_t flags;
        int r;

        r = sd_bus_message_read(bc->msg, "u", &flags);
        if (r < 0)
                return r;
        if (flags & ~1u) {
                EngineError err;

                return bus_error_set(error, engine_error(&err, FWP_E_INVALID_FLAGS, "transaction flags 0x%" PRIx32
                                                         " are not valid (read-only 0x1)", flags), &err);
        }
        bc->call.read_only = flags & 1u;
        return 0;
}

static int commit_run(BusCall *bc, EngineError *err) {
        return session_commit(bc->call.session, err);
}

static int abort_run(BusCall *bc, EngineError *err) {
        return session_abort(bc->call.session, err);
}

static int close_run(BusCall *bc, EngineError *err) {
        /* answered first: its own staged calls are answered by session_close() */
        (void) sd_bus_reply_method_return(bc->msg, NULL);
        bc->answered = true;
        session_close(bc->call.session);
        return 0;
}

static const BusMethod methods[] = {
        { .name = "BeginTransaction", .kind = CALL_BEGIN, .privileged = true, .parse = begin_parse },
        /* the session's owner was authorized to open it, and each change in the transaction was */
        { .name = "CommitTransaction", .kind = CALL_NOW, .run = commit_run },
        { .name = "AbortTransaction", .kind = CALL_NOW, .run = abort_run },
        { .name = "Close", .kind = CALL_NOW, .ignores_abort = true, .run = close_run },
};

static int dispatch(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return bus_dispatch(msg, userdata, methods, ELEMENTSOF(methods), error);
}

static const sd_bus_vtable session_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("BeginTransaction", SD_BUS_ARGS("u", flags), SD_BUS_NO_RESULT, dispatch,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("CommitTransaction", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, dispatch,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("AbortTransaction", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, dispatch,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Close", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, dispatch, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

/* The session of a path; a caller other than its owner gets AccessDenied, whatever it calls. */
static int session_bus_find(sd_bus *bus, const char *path, const char *interface, void *userdata, void **found,
                            sd_bus_error *error) {
        Manager *m = userdata;
        const char *p = path + strlen(SESSION_PATH_PREFIX);
        sd_bus_message *msg;
        uint64_t id;
        Session *s;
        char *end;

        if (*p != '/' || !p[1] || p[1] == '0')
                return 0;
        errno = 0;
        id = strtoull(p + 1, &end, 10);
        if (errno || *end)
                return 0;
        s = session_find(m, id);
        if (!s)
                return 0;
        msg = sd_bus_get_current_message(bus);
        /* introspection and properties are anyone's; the session's methods its owner's */
        if (msg && sd_bus_message_is_method_call(msg, NULL, NULL) &&
            !startswith(sd_bus_message_get_interface(msg) ?: "", "org.freedesktop.DBus.") &&
            !streq(bus_message_caller(m, msg), s->owner)) {
                log_notice("Refused %s on session %" PRIu64 " from %s: the session belongs to %s.",
                           sd_bus_message_get_member(msg) ?: "?", s->id, bus_message_caller(m, msg), s->owner);
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                         "Session %" PRIu64 " belongs to another connection", s->id);
        }
        *found = s;
        return 1;
}

static int session_enumerate(sd_bus *bus, const char *path, void *userdata, char ***nodes, sd_bus_error *error) {
        Manager *m = userdata;
        size_t k = 0;
        char **l;

        l = calloc(m->n_sessions + 1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        for (Session *s = m->sessions; s; s = s->next) {
                if (asprintf(&l[k], SESSION_PATH_PREFIX "/%" PRIu64, s->id) < 0) {
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

int session_bus_register(Bus *b, sd_bus *conn) {
        Manager *m = b->manager;
        int r;

        r = sd_bus_add_fallback_vtable(conn, NULL, SESSION_PATH_PREFIX, SESSION_IFACE, session_vtable,
                                       session_bus_find, m);
        if (r >= 0)
                r = sd_bus_add_fallback_vtable(conn, NULL, SESSION_PATH_PREFIX, ENGINE_IFACE,
                                               bus_engine_object_vtable, session_bus_find, m);
        if (r >= 0)
                r = sd_bus_add_node_enumerator(conn, NULL, SESSION_PATH_PREFIX, session_enumerate, m);
        return r;
}
