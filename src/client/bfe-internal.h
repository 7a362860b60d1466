/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bfe-internal.h — what the libbfe source files share: the engine struct, the call helper. */
#pragma once

#include <stdlib.h>

#include <systemd/sd-bus.h>

#include "bfe/bfe.h"

#define _public_ __attribute__((visibility("default")))

#define BFE_BUS_NAME "org.bfed.Engine1"
#define BFE_OBJECT_PATH "/org/bfed/Engine1"
#define BFE_INTERFACE "org.bfed.Engine1"

/* A BfeError and the strings it owns; its other strings point at static tables. */
typedef struct ErrorInfo {
        BfeError public;
        char *bus_name;
        char *message;
} ErrorInfo;

#define ERROR_INFO_NULL ((ErrorInfo) { .public.message = "" })

void error_info_done(ErrorInfo *i);
/* Records a failure in @i. Return: what the public call returns (a WFP code as wfp_ret()). */
int error_info_set(ErrorInfo *i, int r, const sd_bus_error *error);

typedef struct EngineCall EngineCall;

/* A user callback, stored as this type and cast back to its own by the EngineCallDone. */
typedef void (*EngineCallback)(void);

/*
 * Completes an asynchronous call: @reply is its successful reply, or NULL if it failed, with
 * @error saying why (and -ECANCELED when the engine is closed first). It reads the reply, may
 * record a failure to read it in @error, and calls @callback exactly once.
 */
typedef void (*EngineCallDone)(BfeEngine *e, sd_bus_message *reply, ErrorInfo *error,
                               EngineCallback callback, void *userdata);

struct BfeEngine {
        sd_bus *bus;
        ErrorInfo error;        /* the last call's outcome */
        char *session_path;     /* NULL: no session, calls go to the engine object */
        bool session_closed;    /* bfe_session_close() ran: object calls fail with -ENOTCONN */
        bool closing;           /* bfe_engine_close() runs: no new asynchronous calls */
        uint64_t call_timeout_usec;     /* for sd_bus_call(): 0 = sd-bus default */
        BfeSubscription *subscriptions; /* a list, owned by the engine */
        EngineCall *calls, *calls_tail; /* the asynchronous calls in flight, in call order */
        unsigned n_calls;
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
/* Sends @m without waiting; @done runs from bfe_engine_process() when the reply is in. */
int engine_call_async(BfeEngine *e, sd_bus_message *m, EngineCallDone done, EngineCallback callback,
                      void *userdata);
