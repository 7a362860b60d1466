/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bus-engine.c — org.bfed.Engine1 on /org/bfed/Engine1, and its object methods on every
 * session object (doc/org.bfed.Engine1.md).
 *
 * Every method is a BusMethod (bus.h): parse reads and checks the arguments (the object
 * tables of object-bus.c read the dictionaries), run does the work in the logic, reply builds
 * the answer. The engine judges the meaning of what a caller sends and answers in WFP errors.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "bfed-build.h"
#include "bus-engine.h"
#include "bus-netevents.h"
#include "bus-signals.h"
#include "bus-template.h"
#include "enumerate.h"
#include "firewalld.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "object-bus.h"
#include "obstacle-watch.h"
#include "tracewatch.h"
#include "utf8.h"

/* AddFilters: filters per call (the bus's message size limit comes first at about 100,000) */
#define ADD_FILTERS_MAX 100000u

static Manager *manager_of(const BusCall *bc) {
        return bc->call.session->manager;
}

/* The kind of object a method is about. */
static ObjectKind kind_of(const BusCall *bc) {
        return bc->method->object;
}

int bus_fail_wfp(sd_bus_error *error, uint32_t code, const char *fmt, ...) {
        EngineError err = { .code = code };
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(err.message, sizeof(err.message), fmt, ap);
        va_end(ap);
        return bus_error_set(error, wfp_ret(code), &err);
}

static int read_key(sd_bus_message *m, BfeKey *ret, sd_bus_error *error) {
        const char *s;
        int r;

        r = sd_bus_message_read(m, "s", &s);
        if (r < 0)
                return r;
        if (guid_from_string(s, ret) < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "'%s' is not a GUID", s);
        return 0;
}

/* ---- Add* ---------------------------------------------------------------------------------- */

typedef struct AddArgs {
        AnyObject object;               /* strings point into the message */
        BfeKey key;                     /* what the engine made of it */
        uint64_t id;
} AddArgs;

static int read_object(sd_bus_message *m, ObjectKind kind, AnyObject *o, sd_bus_error *error) {
        _cleanup_(freep) char *why = NULL;
        uint64_t seen = 0;
        int r;

        r = object_read(m, object_info(kind), o, OBJECT_READ_STRICT | OBJECT_READ_BORROW, &seen, &why);
        if (r == -EINVAL && why)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, why);
        if (r == 0)
                return -EBADMSG;
        if (r < 0)
                return r;
        if (kind == OBJECT_PROVIDER_CONTEXT && !(seen & (UINT64_C(1) << 7)))
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "Key 'Type' is required");
        return 0;
}

static int add_parse(BusCall *bc, sd_bus_error *error) {
        AddArgs *a = (AddArgs *) bc->args;

        return read_object(bc->msg, kind_of(bc), &a->object, error);
}

static int add_one(Engine *e, ObjectKind kind, AddArgs *a, EngineError *err) {
        void *o;
        int r;

        r = engine_add_object(e, kind, &a->object, err, &o);
        if (r < 0)
                return r;
        /* the key and id are kept now: the object may be gone again when the reply is built */
        a->key = *engine_object_key(kind, o);
        a->id = engine_object_id(kind, o);
        return 0;
}

static int add_run(BusCall *bc, EngineError *err) {
        return add_one(manager_of(bc)->engine, kind_of(bc), (AddArgs *) bc->args, err);
}

static int add_reply(BusCall *bc) {
        AddArgs *a = (AddArgs *) bc->args;
        char buf[GUID_STRING_MAX];
        ObjectKind k = kind_of(bc);
        int r;

        r = sd_bus_message_new_method_return(bc->msg, &bc->reply);
        if (r < 0)
                return r;
        if (k == OBJECT_FILTER || k == OBJECT_PROVIDER_CONTEXT)
                return sd_bus_message_append(bc->reply, "st", guid_to_string(&a->key, buf), a->id);
        return sd_bus_message_append(bc->reply, "s", guid_to_string(&a->key, buf));
}

static void add_done(BusCall *bc) {
        AddArgs *a = (AddArgs *) bc->args;

        object_done_borrowed(object_info(kind_of(bc)), &a->object);
}

#define ADD_METHOD(n, k) \
        { .name = n, .kind = CALL_WRITE, .privileged = true, .args_size = sizeof(AddArgs), .parse = add_parse, .run = add_run, .reply = add_reply, .done = add_done, .object = k }


/* AddFilters: all or none. */
typedef struct AddManyArgs {
        AddArgs *filters;
        size_t n;
} AddManyArgs;

static void add_many_done(BusCall *bc) {
        AddManyArgs *a = (AddManyArgs *) bc->args;

        for (size_t i = 0; i < a->n; i++)
                object_done_borrowed(object_info(OBJECT_FILTER), &a->filters[i].object);
        free(a->filters);
}

static int add_many_parse(BusCall *bc, sd_bus_error *error) {
        AddManyArgs *a = (AddManyArgs *) bc->args;
        size_t alloc = 0;
        int r;

        r = sd_bus_message_enter_container(bc->msg, 'a', "a{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_at_end(bc->msg, false)) == 0) {
                if (a->n == ADD_FILTERS_MAX)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_LIMITS_EXCEEDED,
                                                 "At most %u filters per AddFilters call", ADD_FILTERS_MAX);
                if (!ARRAY_RESERVE(a->filters, alloc, a->n + 1, 64))
                        return -ENOMEM;
                a->filters[a->n] = (AddArgs) {};
                r = read_object(bc->msg, OBJECT_FILTER, &a->filters[a->n++].object, error);
                if (r < 0) {
                        if (sd_bus_error_is_set(error)) {
                                _cleanup_(freep) char *message = NULL, *name = strdup(error->name);

                                if (name && asprintf(&message, "filters[%zu]: %s", a->n - 1, error->message) >= 0) {
                                        sd_bus_error_free(error);
                                        return sd_bus_error_set(error, name, message);
                                }
                        }
                        return r;
                }
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(bc->msg);
}

/* "filters[3]: " before the engine's message */
static void prefix_message(EngineError *err, size_t index) {
        char prefix[32];
        size_t k, len;

        k = (size_t) snprintf(prefix, sizeof(prefix), "filters[%zu]: ", index);
        len = utf8_cut_len(err->message, sizeof(err->message) - 1 - k);
        memmove(err->message + k, err->message, len);
        memcpy(err->message, prefix, k);
        err->message[k + len] = 0;
}

static int add_many_run(BusCall *bc, EngineError *err) {
        AddManyArgs *a = (AddManyArgs *) bc->args;
        Engine *e = manager_of(bc)->engine;
        size_t savepoint = engine_savepoint(e);
        int r;

        for (size_t i = 0; i < a->n; i++) {
                size_t mark = engine_savepoint(e);

                r = add_one(e, OBJECT_FILTER, &a->filters[i], err);
                if (r >= 0)     /* here, so that a refusal names the filter */
                        r = manager_check_changes(manager_of(bc), mark, err);
                if (r < 0) {
                        engine_rollback_to(e, savepoint);
                        prefix_message(err, i);
                        return r;
                }
        }
        return 0;
}

static int add_many_reply(BusCall *bc) {
        AddManyArgs *a = (AddManyArgs *) bc->args;
        char buf[GUID_STRING_MAX];
        int r;

        r = sd_bus_message_new_method_return(bc->msg, &bc->reply);
        if (r >= 0)
                r = sd_bus_message_open_container(bc->reply, 'a', "(st)");
        for (size_t i = 0; r >= 0 && i < a->n; i++)
                r = sd_bus_message_append(bc->reply, "(st)", guid_to_string(&a->filters[i].key, buf), a->filters[i].id);
        if (r >= 0)
                r = sd_bus_message_close_container(bc->reply);
        return r;
}


/* ---- Delete* ------------------------------------------------------------------------------- */

typedef struct KeyArgs {
        BfeKey key;
        uint64_t id;
        bool by_id;
} KeyArgs;

static int key_parse(BusCall *bc, sd_bus_error *error) {
        KeyArgs *a = (KeyArgs *) bc->args;

        if (streq(sd_bus_message_get_signature(bc->msg, true), "t")) {
                a->by_id = true;
                return sd_bus_message_read(bc->msg, "t", &a->id);
        }
        return read_key(bc->msg, &a->key, error);
}

static int delete_run(BusCall *bc, EngineError *err) {
        KeyArgs *a = (KeyArgs *) bc->args;
        Engine *e = manager_of(bc)->engine;

        if (a->by_id)
                return engine_delete_object_by_id(e, kind_of(bc), a->id, err);
        return engine_delete_object(e, kind_of(bc), &a->key, err);
}

#define DELETE_METHOD(n, k) \
        { .name = n, .kind = CALL_WRITE, .privileged = true, .args_size = sizeof(KeyArgs), .parse = key_parse, .run = delete_run, .object = k }


/* ---- writing objects ------------------------------------------------------------------------ */

/* Appends @object of @kind as a{sv} to @reply (if not NULL); returns its estimated size in
 * @ret_size. */
static int append_object(sd_bus_message *reply, ObjectKind kind, const void *object, size_t *ret_size) {
        ConditionViews conditions;
        AnyObject view;

        engine_object_view(kind, object, &conditions, &view);
        if (ret_size)
                *ret_size = object_wire_size(object_info(kind), &view);
        return reply ? object_append(reply, object_info(kind), &view, OBJECT_WRITE_REPLY) : 0;
}

/* ---- Get* ---------------------------------------------------------------------------------- */

static int get_run(BusCall *bc, EngineError *err) {
        KeyArgs *a = (KeyArgs *) bc->args;
        Engine *e = manager_of(bc)->engine;
        void *object;
        int r;

        if (a->by_id)
                r = engine_get_object_by_id(e, kind_of(bc), a->id, err, &object);
        else
                r = engine_get_object(e, kind_of(bc), &a->key, err, &object);
        if (r < 0)
                return r;
        r = sd_bus_message_new_method_return(bc->msg, &bc->reply);
        if (r >= 0)
                r = append_object(bc->reply, kind_of(bc), object, NULL);
        return r;
}

#define GET_METHOD(n, k) \
        { .name = n, .kind = CALL_READ, .args_size = sizeof(KeyArgs), .parse = key_parse, .run = get_run, .object = k }


/* ---- enumerations -------------------------------------------------------------------------- */

typedef struct EnumArgs {
        EnumTemplate t;
        uint64_t handle;
        uint32_t n;
} EnumArgs;

int bus_read_options(sd_bus_message *m, const char *what,
                     int (*option)(sd_bus_message *m, const char *key, const char *contents, void *userdata,
                                   sd_bus_error *error),
                     void *userdata, sd_bus_error *error) {
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *key, *contents;

                r = sd_bus_message_read(m, "s", &key);
                if (r >= 0)
                        r = sd_bus_message_peek_type(m, NULL, &contents);
                if (r >= 0)
                        r = option(m, key, contents, userdata, error);
                if (r == 0)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Unknown %s '%s' of type '%s'", what,
                                                 key, contents);
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

static int read_guid_option(sd_bus_message *m, const char *key, BfeKey *ret, sd_bus_error *error) {
        const char *s;
        int r;

        r = sd_bus_message_read(m, "v", "s", &s);
        if (r >= 0 && *s && guid_from_string(s, ret) < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "%s '%s' is not a GUID", key, s);
        return r < 0 ? r : 1;
}

/* Templates: ProviderKey (every kind), Type (provider contexts), Layer and SubLayer (filters), and
 * the rest of a filter's (bus-template.c). */
static int template_option(sd_bus_message *m, const char *key, const char *contents, void *userdata,
                           sd_bus_error *error) {
        EnumTemplate *t = userdata;
        const char *s;
        int r;

        if (streq(key, "ProviderKey") && streq(contents, "s"))
                return read_guid_option(m, key, &t->provider_key, error);
        if (t->kind == OBJECT_PROVIDER_CONTEXT && streq(key, "Type") && streq(contents, "u")) {
                t->has_type = true;
                r = sd_bus_message_read(m, "v", "u", &t->type);
                return r < 0 ? r : 1;
        }
        if (t->kind == OBJECT_FILTER && streq(key, "Layer") && streq(contents, "s")) {
                r = sd_bus_message_read(m, "v", "s", &s);
                if (r < 0)
                        return r;
                if (wfp_layer_from_string(s, &t->layer) < 0)
                        return bus_fail_wfp(error, FWP_E_LAYER_NOT_FOUND, "no layer '%s'", s);
                t->has_layer = true;
                return 1;
        }
        if (t->kind == OBJECT_FILTER && streq(key, "SubLayer") && streq(contents, "s"))
                return read_guid_option(m, key, &t->sublayer_key, error);
        return t->kind == OBJECT_FILTER ? bus_filter_template_option(m, key, contents, t, error) : 0;
}

static int template_parse(BusCall *bc, sd_bus_error *error) {
        EnumArgs *a = (EnumArgs *) bc->args;
        int r;

        a->t.kind = kind_of(bc);
        if (streq(sd_bus_message_get_signature(bc->msg, true), ""))
                return 0;       /* EnumProviders, EnumSubLayers */
        r = bus_read_options(bc->msg, "template key", template_option, &a->t, error);
        return r < 0 || a->t.kind != OBJECT_FILTER ? r : bus_filter_template_finish(&a->t, error);
}

typedef struct EnumWrite {
        sd_bus_message *reply;          /* NULL: only measure */
        ObjectKind kind;
        size_t size, max;
} EnumWrite;

static int enum_write(void *object, void *userdata) {
        EnumWrite *w = userdata;
        size_t k = 0;
        int r;

        r = append_object(w->reply, w->kind, object, &k);
        if (r < 0)
                return r;
        w->size += k;
        return w->size > w->max ? -E2BIG : 0;
}

/* The one-shot Enum*: the whole answer in one reply, if it fits. Measured first: a refusal
 * must cost little, or a caller could make bfed build big replies only to throw them away. */
static int enum_run(BusCall *bc, EngineError *err) {
        EnumArgs *a = (EnumArgs *) bc->args;
        const ObjectInfo *o = object_info(kind_of(bc));
        EnumWrite w = { .kind = kind_of(bc), .max = BUS_REPLY_MAX };
        int r;

        r = enum_walk(manager_of(bc)->engine, &a->t, enum_write, &w);
        if (r == -E2BIG)
                return engine_error(err, FWP_E_OUT_OF_BOUNDS, "the %ss would take more than %u MiB in one reply: "
                                    "page through them with Create%sEnumHandle and %sEnum", o->name,
                                    BUS_REPLY_MAX >> 20, o->method, o->method);
        if (r < 0)
                return r;

        r = sd_bus_message_new_method_return(bc->msg, &bc->reply);
        if (r >= 0)
                r = sd_bus_message_open_container(bc->reply, 'a', "a{sv}");
        if (r < 0)
                return r;
        w = (EnumWrite) { .reply = bc->reply, .kind = kind_of(bc), .max = SIZE_MAX };
        r = enum_walk(manager_of(bc)->engine, &a->t, enum_write, &w);
        if (r < 0)
                return r;
        bc->reply_size = w.size;
        return sd_bus_message_close_container(bc->reply);
}

static int create_handle_run(BusCall *bc, EngineError *err) {
        EnumArgs *a = (EnumArgs *) bc->args;
        EnumHandle *h;
        int r;

        r = enum_create(manager_of(bc), bc->peer->name, bc->peer->uid, &a->t, err, &h);
        if (r < 0)
                return r;
        r = bus_call_reply(bc, "t", h->id);
        if (r < 0)
                enum_destroy(h);
        return r;
}

static int page_parse(BusCall *bc, sd_bus_error *error) {
        EnumArgs *a = (EnumArgs *) bc->args;

        return sd_bus_message_read(bc->msg, "tu", &a->handle, &a->n);
}

/* FilterEnum(handle, n): the next at most n objects of the snapshot, and whether more follow.
 * A page also stops before BUS_PAGE_MAX bytes (after one object at least). */
static int page_run(BusCall *bc, EngineError *err) {
        EnumArgs *a = (EnumArgs *) bc->args;
        size_t want = a->n < BUS_PAGE_OBJECTS_MAX ? a->n : BUS_PAGE_OBJECTS_MAX, size = 0, k = 0;
        EnumHandle *h;
        int r;

        r = enum_find(manager_of(bc), a->handle, bc->peer->name, err, &h);
        if (r < 0)
                return r;
        if (h->kind != kind_of(bc))
                return engine_error(err, FWP_E_INVALID_ENUMERATOR, "enumeration handle %" PRIu64 " lists %ss, not %ss",
                                    a->handle, object_kind_to_string(h->kind), object_kind_to_string(kind_of(bc)));
        r = sd_bus_message_new_method_return(bc->msg, &bc->reply);
        if (r >= 0)
                r = sd_bus_message_open_container(bc->reply, 'a', "a{sv}");
        for (size_t i = 0; r >= 0 && i < want && h->pos < h->n && (i == 0 || size + k < BUS_PAGE_MAX); i++) {
                r = append_object(bc->reply, h->kind, h->objects[h->pos], &k);
                if (r >= 0) {
                        size += k;
                        h->pos++;
                }
        }
        if (r >= 0)
                r = sd_bus_message_close_container(bc->reply);
        if (r >= 0)
                r = sd_bus_message_append(bc->reply, "b", (int) (h->pos < h->n));
        bc->reply_size = size;
        return r;
}

static int destroy_run(BusCall *bc, EngineError *err) {
        return enum_destroy_owned(manager_of(bc), *(uint64_t *) bc->args, bc->peer->name, err);
}

#define ENUM_METHOD(n, k) \
        { .name = n, .kind = CALL_READ, .big = true, .args_size = sizeof(EnumArgs), .parse = template_parse, .run = enum_run, .object = k }
#define CREATE_HANDLE_METHOD(n, k) \
        { .name = n, .kind = CALL_READ, .args_size = sizeof(EnumArgs), .parse = template_parse, .run = create_handle_run, .object = k }
#define PAGE_METHOD(n, k) \
        { .name = n, .kind = CALL_NOW, .big = true, .args_size = sizeof(EnumArgs), .parse = page_parse, .run = page_run, .object = k }


/* ---- Explain: read-only, open to everyone. The packet is a{ss}: field name → value text. ---- */

typedef struct ExplainArgs {
        WfpLayer layer;
        Packet packet;
} ExplainArgs;

static int explain_parse(BusCall *bc, sd_bus_error *error) {
        ExplainArgs *a = (ExplainArgs *) bc->args;
        const char *layer, *field, *value;
        EngineError err = {};
        int r;

        r = sd_bus_message_read(bc->msg, "s", &layer);
        if (r < 0)
                return r;
        if (wfp_layer_from_string(layer, &a->layer) < 0)
                return bus_fail_wfp(error, FWP_E_LAYER_NOT_FOUND, "no layer '%s'", layer);
        if (!wfp_layer_is_emitted(a->layer))
                return bus_fail_wfp(error, FWP_E_INCOMPATIBLE_LAYER, "layer %s sees no packets", layer);
        r = sd_bus_message_enter_container(bc->msg, 'a', "{ss}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(bc->msg, "{ss}", &field, &value)) > 0) {
                r = packet_set(&a->packet, a->layer, field, value, &err);
                if (r == -ENOENT)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Unknown packet field '%s'", field);
                if (r < 0)
                        return bus_error_set(error, r, &err);
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(bc->msg);
}

/* Explain's fourth answer: the other tables' chains that drop (certain) or may drop the packet
 * bfed permits, when it is a datagram the exemptions cover. */
static int append_explain_obstacles(sd_bus_message *reply, const Manager *m, const ExplainArgs *a, bool permit) {
        int kind = permit ? obstacle_kind_of_packet(a->layer, &a->packet) : -1;
        int r;

        if (kind >= 0)
                obstacle_watch_refresh(m->obstacles);
        r = sd_bus_message_open_container(reply, 'a', "(sssb)");
        for (size_t i = 0; r >= 0 && kind >= 0 && i < obstacle_watch_count(m->obstacles); i++) {
                const NftObstacle *e = obstacle_watch_entry(m->obstacles, i);

                if (e->kinds & (UINT32_C(1) << kind))
                        r = sd_bus_message_append(reply, "(sssb)", e->table, e->chain, e->what,
                                                  (int) !!(e->kinds_always & (UINT32_C(1) << kind)));
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        return r;
}

static int explain_run(BusCall *bc, EngineError *err) {
        _cleanup_(explanation_done) Explanation x = {};
        ExplainArgs *a = (ExplainArgs *) bc->args;
        int r;

        r = engine_explain(manager_of(bc)->engine, a->layer, &a->packet, &x);
        if (r < 0)
                return r;
        r = bus_call_reply(bc, "st", x.permit ? "permit" : "block", x.decided_by ? x.decided_by->id : UINT64_C(0));
        if (r >= 0)
                r = sd_bus_message_open_container(bc->reply, 'a', "(sstss)");
        for (size_t i = 0; r >= 0 && i < x.n_steps; i++) {
                char buf[GUID_STRING_MAX];
                const ExplainStep *st = &x.steps[i];

                r = sd_bus_message_append(bc->reply, "(sstss)", guid_to_string(&st->sublayer->key, buf),
                                          st->sublayer->name, st->filter ? st->filter->id : UINT64_C(0),
                                          st->filter ? st->filter->name : "", outcome_to_string(st->outcome));
        }
        if (r >= 0)
                r = sd_bus_message_close_container(bc->reply);
        if (r >= 0)
                r = append_explain_obstacles(bc->reply, manager_of(bc), a, x.permit);
        return r;
}


/* ---- OpenSession --------------------------------------------------------------------------- */

static int session_option(sd_bus_message *m, const char *key, const char *contents, void *userdata,
                          sd_bus_error *error) {
        SessionOptions *o = userdata;
        int r, b;

        if (streq(key, "Name") && streq(contents, "s"))
                r = sd_bus_message_read(m, "v", "s", &o->name);
        else if (streq(key, "Description") && streq(contents, "s"))
                r = sd_bus_message_read(m, "v", "s", &o->description);
        else if (streq(key, "Dynamic") && streq(contents, "b")) {
                r = sd_bus_message_read(m, "v", "b", &b);
                o->dynamic = b;
        } else if (streq(key, "TransactionTimeoutMSec") && streq(contents, "u"))
                r = sd_bus_message_read(m, "v", "u", &o->wait_msec);
        else
                return 0;
        return r < 0 ? r : 1;
}

static int open_session_parse(BusCall *bc, sd_bus_error *error) {
        return bus_read_options(bc->msg, "session option", session_option, bc->args, error);
}

static int open_session_run(BusCall *bc, EngineError *err) {
        SessionOptions *o = (SessionOptions *) bc->args;
        char path[sizeof(SESSION_PATH_PREFIX) + 24];
        Session *s;
        int r;

        r = session_open(manager_of(bc), bc->peer->name, bc->peer->uid, o, err, &s);
        if (r < 0)
                return r;
        (void) snprintf(path, sizeof(path), SESSION_PATH_PREFIX "/%" PRIu64, s->id);
        r = bus_call_reply(bc, "o", path);
        if (r < 0)
                session_close(s);
        return r;
}


/* ---- the vtables --------------------------------------------------------------------------- */

/* Every method of the engine and session objects, found by name (bus_dispatch()). */
static const BusMethod methods[] = {
        ADD_METHOD("AddProvider", OBJECT_PROVIDER),
        ADD_METHOD("AddSubLayer", OBJECT_SUBLAYER),
        ADD_METHOD("AddProviderContext", OBJECT_PROVIDER_CONTEXT),
        ADD_METHOD("AddFilter", OBJECT_FILTER),
        DELETE_METHOD("DeleteProvider", OBJECT_PROVIDER),
        DELETE_METHOD("DeleteSubLayer", OBJECT_SUBLAYER),
        DELETE_METHOD("DeleteProviderContext", OBJECT_PROVIDER_CONTEXT),
        DELETE_METHOD("DeleteProviderContextById", OBJECT_PROVIDER_CONTEXT),
        DELETE_METHOD("DeleteFilterByKey", OBJECT_FILTER),
        DELETE_METHOD("DeleteFilterById", OBJECT_FILTER),
        GET_METHOD("GetProvider", OBJECT_PROVIDER),
        GET_METHOD("GetSubLayer", OBJECT_SUBLAYER),
        GET_METHOD("GetProviderContext", OBJECT_PROVIDER_CONTEXT),
        GET_METHOD("GetProviderContextById", OBJECT_PROVIDER_CONTEXT),
        GET_METHOD("GetFilterByKey", OBJECT_FILTER),
        GET_METHOD("GetFilterById", OBJECT_FILTER),
        ENUM_METHOD("EnumProviders", OBJECT_PROVIDER),
        ENUM_METHOD("EnumSubLayers", OBJECT_SUBLAYER),
        ENUM_METHOD("EnumProviderContexts", OBJECT_PROVIDER_CONTEXT),
        ENUM_METHOD("EnumFilters", OBJECT_FILTER),
        CREATE_HANDLE_METHOD("CreateProviderEnumHandle", OBJECT_PROVIDER),
        CREATE_HANDLE_METHOD("CreateSubLayerEnumHandle", OBJECT_SUBLAYER),
        CREATE_HANDLE_METHOD("CreateProviderContextEnumHandle", OBJECT_PROVIDER_CONTEXT),
        CREATE_HANDLE_METHOD("CreateFilterEnumHandle", OBJECT_FILTER),
        PAGE_METHOD("ProviderEnum", OBJECT_PROVIDER),
        PAGE_METHOD("SubLayerEnum", OBJECT_SUBLAYER),
        PAGE_METHOD("ProviderContextEnum", OBJECT_PROVIDER_CONTEXT),
        PAGE_METHOD("FilterEnum", OBJECT_FILTER),
        {
                .name = "AddFilters", .kind = CALL_WRITE, .privileged = true, .args_size = sizeof(AddManyArgs),
                .parse = add_many_parse, .run = add_many_run, .reply = add_many_reply, .done = add_many_done,
        },
        {
                .name = "DestroyEnumHandle", .kind = CALL_NOW, .args_size = sizeof(uint64_t), .parse = bus_parse_id,
                .run = destroy_run,
        },
        {
                .name = "Explain", .kind = CALL_READ, .args_size = sizeof(ExplainArgs), .parse = explain_parse,
                .run = explain_run,
        },
        {
                .name = "OpenSession", .kind = CALL_NOW, .privileged = true, .args_size = sizeof(SessionOptions),
                .parse = open_session_parse, .run = open_session_run,
        },
};

static int dispatch(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return bus_dispatch(msg, userdata, methods, ELEMENTSOF(methods), error);
}

/* Every method goes to dispatch(); bfed checks the caller itself (bus_call()). */
/* METHOD(name, (type, name, ...), (type, name, ...)) — (NULL) for none */
#define METHOD(name, args, result) \
        SD_BUS_METHOD_WITH_ARGS(name, SD_BUS_ARGS args, SD_BUS_RESULT result, dispatch, SD_BUS_VTABLE_UNPRIVILEGED)
#define ENUM_HANDLE(kind) \
        METHOD("Create" #kind "EnumHandle", ("a{sv}", template), ("t", handle)), \
        METHOD(#kind "Enum", ("t", handle, "u", n), ("aa{sv}", objects, "b", more))

/* The object methods, served on the engine object and on every session object. */
#define OBJECT_METHODS \
        METHOD("AddProvider", ("a{sv}", provider), ("s", key)), \
        METHOD("DeleteProvider", ("s", key), (NULL)), \
        METHOD("GetProvider", ("s", key), ("a{sv}", provider)), \
        METHOD("EnumProviders", (NULL), ("aa{sv}", providers)), \
        ENUM_HANDLE(Provider), \
        METHOD("AddSubLayer", ("a{sv}", sublayer), ("s", key)), \
        METHOD("DeleteSubLayer", ("s", key), (NULL)), \
        METHOD("GetSubLayer", ("s", key), ("a{sv}", sublayer)), \
        METHOD("EnumSubLayers", (NULL), ("aa{sv}", sublayers)), \
        ENUM_HANDLE(SubLayer), \
        METHOD("AddProviderContext", ("a{sv}", context), ("s", key, "t", id)), \
        METHOD("DeleteProviderContext", ("s", key), (NULL)), \
        METHOD("GetProviderContext", ("s", key), ("a{sv}", context)), \
        METHOD("DeleteProviderContextById", ("t", id), (NULL)), \
        METHOD("GetProviderContextById", ("t", id), ("a{sv}", context)), \
        METHOD("EnumProviderContexts", ("a{sv}", template), ("aa{sv}", contexts)), \
        ENUM_HANDLE(ProviderContext), \
        METHOD("AddFilter", ("a{sv}", filter), ("s", key, "t", id)), \
        METHOD("AddFilters", ("aa{sv}", filters), ("a(st)", added)), \
        METHOD("DeleteFilterByKey", ("s", key), (NULL)), \
        METHOD("DeleteFilterById", ("t", id), (NULL)), \
        METHOD("GetFilterByKey", ("s", key), ("a{sv}", filter)), \
        METHOD("GetFilterById", ("t", id), ("a{sv}", filter)), \
        METHOD("EnumFilters", ("a{sv}", template), ("aa{sv}", filters)), \
        ENUM_HANDLE(Filter), \
        METHOD("DestroyEnumHandle", ("t", handle), (NULL)), \
        METHOD("Explain", ("s", layer, "a{ss}", packet), \
               ("s", verdict, "t", filter_id, "a(sstss)", trace, "a(sssb)", obstacles)),

/* ---- properties and signals ---------------------------------------------------------------- */

static int property_exemptions_active(sd_bus *bus, const char *path, const char *interface, const char *property,
                                      sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        /* as committed: an open transaction is nobody else's business */
        return sd_bus_message_append(reply, "b", (int) ((Session *) userdata)->manager->exemptions_active);
}

static int property_version(sd_bus *bus, const char *path, const char *interface, const char *property,
                            sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", BFED_VERSION);
}

static int property_table(sd_bus *bus, const char *path, const char *interface, const char *property,
                          sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", ((Session *) userdata)->manager->config.nft.table);
}

/* u: the SocketMark the inbound exemption requires of the receiving socket; 0 for none */
static int property_socket_mark(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        const NftConfig *c = &((Session *) userdata)->manager->config.nft;

        return sd_bus_message_append(reply, "u", c->has_socket_mark ? c->socket_mark : 0);
}

static int property_filter_count(sd_bus *bus, const char *path, const char *interface, const char *property,
                                 sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "u", (uint32_t) ((Session *) userdata)->manager->committed_filters);
}

/* firewalld's refusal as an obstacle: ("firewalld", the zone, or "" for firewalld as a whole,
 * the refusal); firewalld.h says how a problem reads. */
static int append_firewalld_problem(sd_bus_message *reply, const char *problem) {
        static const char zone_prefix[] = "firewalld zone ";
        _cleanup_(freep) char *zone = NULL;
        const char *what = problem, *end;

        if (startswith(problem, zone_prefix) && (end = strstr(problem, ": "))) {
                zone = strndup(problem + strlen(zone_prefix), (size_t) (end - problem) - strlen(zone_prefix));
                if (!zone)
                        return -ENOMEM;
                what = end + 2;
        } else if (startswith(problem, "firewalld: "))
                what = problem + strlen("firewalld: ");
        return sd_bus_message_append(reply, "(sss)", "firewalld", zone ?: "", what);
}

/* ExemptionObstacles: the other tables' chains that may drop the exempted traffic, then what
 * firewalld refused (doc/org.bfed.Engine1.md). */
static int property_exemption_obstacles(sd_bus *bus, const char *path, const char *interface, const char *property,
                                        sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = ((Session *) userdata)->manager;
        Bus *b = m->hooks_userdata;
        char *const *problems;
        size_t n_problems;
        int r;

        problems = firewalld_problems(b ? b->firewalld : NULL, &n_problems);
        obstacle_watch_refresh(m->obstacles);
        r = sd_bus_message_open_container(reply, 'a', "(sss)");
        for (size_t i = 0; r >= 0 && i < obstacle_watch_count(m->obstacles); i++) {
                const NftObstacle *e = obstacle_watch_entry(m->obstacles, i);

                r = sd_bus_message_append(reply, "(sss)", e->table, e->chain, obstacle_watch_text(m->obstacles, i));
        }
        for (size_t i = 0; r >= 0 && i < n_problems; i++)
                r = append_firewalld_problem(reply, problems[i]);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        return r;
}

/* a(sst): each chain of another table that dropped exempted IKE datagrams, and how many; the
 * entry ("", "", n) counts the chains beyond NFT_TRACE_COUNTS_MAX */
static int property_exempted_drops(sd_bus *bus, const char *path, const char *interface, const char *property,
                                   sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        NftTraceWatch *w = ((Session *) userdata)->manager->trace;
        const NftTraceCount *c = NULL;
        size_t n = 0;
        int r;

        if (w)
                c = nft_trace_watch_counts(w, &n);
        r = sd_bus_message_open_container(reply, 'a', "(sst)");
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = sd_bus_message_append(reply, "(sst)", c[i].table, c[i].chain, c[i].count);
        return r < 0 ? r : sd_bus_message_close_container(reply);
}

static const sd_bus_vtable engine_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("ExemptionsActive", "b", property_exemptions_active, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Version", "s", property_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Table", "s", property_table, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("SocketMark", "u", property_socket_mark, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("FilterCount", "u", property_filter_count, 0, 0),
        SD_BUS_PROPERTY("ExemptionObstacles", "a(sss)", property_exemption_obstacles, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("ExemptedDrops", "a(sst)", property_exempted_drops, 0, 0),
        METHOD("OpenSession", ("a{sv}", options), ("o", session)),
        SD_BUS_METHOD_WITH_ARGS("SubscribeNetEvents", SD_BUS_ARGS("a{sv}", template), SD_BUS_RESULT("t", subscription),
                                bus_net_events_dispatch, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("UnsubscribeNetEvents", SD_BUS_ARGS("t", subscription), SD_BUS_NO_RESULT,
                                bus_net_events_dispatch, SD_BUS_VTABLE_UNPRIVILEGED),
        OBJECT_METHODS
        SD_BUS_SIGNAL_WITH_ARGS("Changed", SD_BUS_ARGS("a(sust)", changes), 0),
        SD_BUS_SIGNAL_WITH_ARGS("ExemptedTrafficDropped",
                                SD_BUS_ARGS("s", table, "s", chain, "s", verdict, "s", packet), 0),
        SD_BUS_SIGNAL_WITH_ARGS("NetEvent",
                                SD_BUS_ARGS("t", subscription, "t", time_usec, "t", filter_id, "s", layer,
                                            "s", direction, "y", ip_version, "y", protocol, "s", local_address,
                                            "q", local_port, "s", remote_address, "q", remote_port, "t", suppressed),
                                0),
        SD_BUS_VTABLE_END,
};

const sd_bus_vtable bus_engine_object_vtable[] = {
        SD_BUS_VTABLE_START(0),
        OBJECT_METHODS
        SD_BUS_VTABLE_END,
};

int bus_engine_register(Bus *b, sd_bus *conn) {
        Manager *m = b->manager;
        int r;

        r = bus_signals_setup(b);
        if (r < 0)
                return r;
        return sd_bus_add_object_vtable(conn, NULL, ENGINE_PATH, ENGINE_IFACE, engine_vtable, &m->anonymous);
}
