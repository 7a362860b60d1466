/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bfe-internal.h — what the libbfe source files share: the engine struct, the call helper. */
#pragma once

#include <stdlib.h>

#include <systemd/sd-bus.h>

#include "bfe/bfe.h"
#include "object.h"

#define _public_ __attribute__((visibility("default")))

#define BFE_BUS_NAME "org.bfed.Engine1"
#define BFE_OBJECT_PATH "/org/bfed/Engine1"
#define BFE_INTERFACE "org.bfed.Engine1"

/* A BfeError and the strings it owns; its other strings point at static tables. */
typedef struct BfeErrorInfo {
        BfeError public;
        char *bus_name;
        char *message;
} BfeErrorInfo;

#define BFE_ERROR_INFO_NULL ((BfeErrorInfo) { .public.message = "" })

void bfe_error_info_done(BfeErrorInfo *i);
/* Records a failure in @i. Return: what the public call returns (a WFP code as wfp_ret()). */
int bfe_error_info_set(BfeErrorInfo *i, int r, const sd_bus_error *error);

typedef struct BfeEngineCall BfeEngineCall;
typedef struct BfeWatch BfeWatch;

/* A user callback, stored as this type and cast back to its own by the BfeEngineCallDone. */
typedef void (*BfeEngineCallback)(void);

/*
 * Completes an asynchronous call: @reply is its successful reply, or NULL if it failed, with
 * @error saying why (and -ECANCELED when the engine is closed first). It reads the reply, may
 * record a failure to read it in @error, and calls @callback exactly once.
 */
typedef void (*BfeEngineCallDone)(BfeEngine *e, sd_bus_message *reply, BfeErrorInfo *error,
                                  BfeEngineCallback callback, void *userdata);

struct BfeEngine {
        sd_bus *bus;
        bool direct;            /* on bfed's private socket, not the bus (bfe_engine_new()) */
        BfeErrorInfo error;     /* the last call's outcome */
        char *session_path;     /* NULL: no session, calls go to the engine object */
        bool session_closed;    /* bfe_session_close() ran: object calls fail with -ENOTCONN */
        bool closing;           /* bfe_engine_close() runs: no new asynchronous calls */
        uint64_t call_timeout_usec;     /* for sd_bus_call(): 0 = sd-bus default */
        BfeWatch *watches;      /* the subscriptions to the engine's signals, owned by the engine */
        BfeEngineCall *calls, *calls_tail; /* the asynchronous calls in flight, in call order */
        unsigned n_calls;
};

/*
 * A subscription to one of the engine object's signals (Changed, NetEvent): the first member of
 * BfeSubscription and BfeNetEventSubscription, on the engine's list of watches.
 */
struct BfeWatch {
        BfeEngine *engine;
        sd_bus_slot *slot;
        void *userdata;         /* the subscriber's */
        bool *alive;            /* while its handler runs: set to false when it is freed */
        BfeWatch *prev, *next;
};

/*
 * bfe_watch_new() - the start of a subscription to the engine object's signal @member.
 * Checks the call as bfe_engine_begin() does, allocates @size zeroed bytes that start with a
 * BfeWatch, and adds the match synchronously, so that no signal sent after this returns is
 * missed; the sender match names bfed's well-known name, so only its owner's signals arrive.
 * @handler gets the new state as its userdata.
 *
 * Return: the state, on the engine's list; NULL with *ret_r set to the public call's result.
 */
void *bfe_watch_new(BfeEngine *e, bool args_valid, size_t size, const char *member,
                    sd_bus_message_handler_t handler, void *userdata, int *ret_r);
void bfe_watch_free(BfeWatch *w);
void bfe_engine_free_watches(BfeEngine *e);
/* Records a local failure with a message of our own. */
int bfe_engine_set_error_message(BfeEngine *e, int r, const char *message);
/* Connects to the bus and pings bfed (the common part of the bfe_engine_open* calls). */
int bfe_engine_new(const char *bus_address, BfeEngine **ret);

void bfe_engine_clear_error(BfeEngine *e);
/* Starts a public call: clears the last error; -EINVAL for a NULL @e or invalid arguments. */
int bfe_engine_begin(BfeEngine *e, bool args_valid);
int bfe_engine_set_error(BfeEngine *e, int r, const sd_bus_error *error);
/* Ends a public call: records a local failure unless a bus error was already recorded. */
int bfe_engine_result(BfeEngine *e, int r);
int bfe_engine_new_method_call(BfeEngine *e, const char *member, sd_bus_message **ret);
/* Starts a public call (@args_valid as for bfe_engine_begin()) that reads the engine's
 * property @name of D-Bus type @type: the reply, to read the value from; a failure is recorded. */
int bfe_engine_get_property_message(BfeEngine *e, bool args_valid, const char *name, const char *type,
                                    sd_bus_message **ret);
int bfe_engine_call(BfeEngine *e, sd_bus_message *m, sd_bus_message **ret_reply);
/* Sends @m without waiting; @done runs from bfe_engine_process() when the reply is in. */
int bfe_engine_call_async(BfeEngine *e, sd_bus_message *m, BfeEngineCallDone done,
                          BfeEngineCallback callback, void *userdata);

/* ---- obstacles (bfe-obstacles.c) ------------------------------------------------------------ */

/* Reads an array of obstacles, a(sss) (the property) or with @with_certain a(sssb) (Explain), into
 * *@ret, *@ret_n (NULL and 0 when it is empty). */
int bfe_read_obstacles(sd_bus_message *m, bool with_certain, BfeObstacle **ret, size_t *ret_n);

/* ---- objects (bfe-objects.c) ---------------------------------------------------------------- */

/* The D-Bus member for @kind: @prefix, the kind's method name, @suffix ("Add", "Filter", ""). */
#define BFE_MEMBER_MAX 64
const char *bfe_member(char buf[static BFE_MEMBER_MAX], const char *prefix, ObjectKind kind, const char *suffix);
/* Reads an aa{sv} of @kind, appending to *@array (@n objects, room for @alloc). */
int bfe_read_objects(sd_bus_message *reply, ObjectKind kind, void **array, size_t *n, size_t *alloc);
/* Takes *@array as a public call returns it: NULL when @n is 0. */
void *bfe_objects_take(ObjectKind kind, void **array, size_t n);
/* Frees @n objects of @kind and the array. Return: NULL. */
void *bfe_object_array_free(ObjectKind kind, void *array, size_t n);
