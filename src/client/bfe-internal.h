/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bfe-internal.h — what the libbfe source files share: the engine struct, the call helper. */
#pragma once

#include <stdlib.h>

#include <systemd/sd-bus.h>

#include "bfe/bfe.h"

static inline void *mfree(void *p) {
        free(p);
        return NULL;
}

#define _public_ __attribute__((visibility("default")))

#define BFE_BUS_NAME "org.bfed.Engine1"
#define BFE_OBJECT_PATH "/org/bfed/Engine1"
#define BFE_INTERFACE "org.bfed.Engine1"

struct BfeEngine {
        sd_bus *bus;
        BfeError error;         /* its strings point at the fields below or at static tables */
        char *error_bus_name;
        char *error_message;
        char *session_path;     /* NULL: no session, calls go to the engine object */
        bool session_closed;    /* bfe_session_close() ran: object calls fail with -ENOTCONN */
        uint64_t call_timeout_usec;     /* for sd_bus_call(): 0 = sd-bus default */
        BfeSubscription *subscriptions; /* a list, owned by the engine */
};

void engine_free_subscriptions(BfeEngine *e);
/* Records a local failure with a message of our own. */
int engine_set_error_message(BfeEngine *e, int r, const char *message);
/* Connects to the bus and pings bfed (the common part of the bfe_engine_open* calls). */
int engine_new(const char *bus_address, BfeEngine **ret);

void engine_clear_error(BfeEngine *e);
int engine_set_error(BfeEngine *e, int r, const sd_bus_error *error);
/* Ends a public call: records a local failure unless a bus error was already recorded. */
int engine_result(BfeEngine *e, int r);
int engine_new_method_call(BfeEngine *e, const char *member, sd_bus_message **ret);
int engine_call(BfeEngine *e, sd_bus_message *m, sd_bus_message **ret_reply);
