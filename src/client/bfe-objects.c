/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bfe-objects.c — libbfe: add, delete and get providers, sublayers, provider
 * contexts and filters. The dictionaries are written and read by src/shared/object-bus.c from
 * the object tables the daemon uses too: unset fields are not sent, and unknown keys in
 * replies are skipped, so a newer daemon may add keys without breaking older clients.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-bus.h>

#include "array.h"
#include "bfe-internal.h"
#include "macro.h"
#include "object-bus.h"

const char *bfe_member(char buf[static BFE_MEMBER_MAX], const char *prefix, ObjectKind kind, const char *suffix) {
        (void) snprintf(buf, BFE_MEMBER_MAX, "%s%s%s", prefix, object_info(kind)->method, suffix);
        return buf;
}

/* ---- freeing --------------------------------------------------------------------------------- */

static void *object_free(ObjectKind kind, void *obj) {
        if (!obj)
                return NULL;
        object_done(object_info(kind), obj);
        free(obj);
        return NULL;
}

void *bfe_object_array_free(ObjectKind kind, void *array, size_t n) {
        const ObjectInfo *o = object_info(kind);

        if (!array)
                return NULL;
        for (size_t i = 0; i < n; i++)
                object_done(o, (uint8_t *) array + i * o->size);
        free(array);
        return NULL;
}

/* ---- reading replies ------------------------------------------------------------------------- */

/**
 * bfe_read_objects() - reads an aa{sv} of @kind, appending to a growing array.
 * @reply: positioned at the array
 * @kind: what the dictionaries are
 * @array: the array (NULL at first), grown as needed
 * @n: the objects in it, counted up
 * @alloc: its capacity
 *
 * On failure the objects read so far, a partly read one included, stay in @array and are
 * counted in @n, so bfe_object_array_free() releases everything.
 *
 * Return: 0, or a negative errno.
 */
int bfe_read_objects(sd_bus_message *reply, ObjectKind kind, void **array, size_t *n, size_t *alloc) {
        const ObjectInfo *o = object_info(kind);
        int r;

        r = sd_bus_message_enter_container(reply, 'a', "a{sv}");
        if (r < 0)
                return r;
        for (;;) {
                uint8_t *obj;

                if (!array_reserve(array, alloc, *n + 1, o->size, 16))
                        return -ENOMEM;
                obj = (uint8_t *) *array + *n * o->size;
                memset(obj, 0, o->size);
                r = object_read(reply, o, obj, 0, NULL, NULL);
                if (r == 0)
                        break;
                (*n)++;         /* counted before the check: a partly read one is freed too */
                if (r < 0)
                        return r;
        }
        return sd_bus_message_exit_container(reply);
}

/* Hands an array over as the public calls return it: NULL when empty, else trimmed. */
void *bfe_objects_take(ObjectKind kind, void **array, size_t n) {
        void *a = TAKE_PTR(*array), *shrunk;

        if (n == 0)
                return mfree(a);
        shrunk = reallocarray(a, n, object_info(kind)->size);
        return shrunk ?: a;
}

/* ---- calls ----------------------------------------------------------------------------------- */

/* The Add* call for @obj. */
static int add_message(BfeEngine *e, ObjectKind kind, const char *member, const void *obj,
                       sd_bus_message **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = bfe_engine_new_method_call(e, member, &m);
        if (r < 0)
                return r;
        r = object_append(m, object_info(kind), obj, OBJECT_WRITE_REQUEST);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

/* Reads an Add* reply: "s" (key) or "st" (key, id). */
static int read_add_reply(sd_bus_message *reply, bool with_id, BfeKey *ret_key, uint64_t *ret_id) {
        const char *key;
        uint64_t id = 0;
        BfeKey k;
        int r;

        if (with_id)
                r = sd_bus_message_read(reply, "st", &key, &id);
        else
                r = sd_bus_message_read(reply, "s", &key);
        if (r < 0)
                return r;
        if (bfe_key_from_string(key, &k) < 0)
                return -EBADMSG;

        if (ret_key)
                *ret_key = k;
        if (ret_id)
                *ret_id = id;
        return 0;
}

/* Add: sends the object, reads back the key (and, for contexts and filters, the id). */
static int object_add(BfeEngine *e, ObjectKind kind, const void *obj, BfeKey *ret_key, uint64_t *ret_id) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        char member[BFE_MEMBER_MAX];
        int r;

        r = bfe_engine_begin(e, obj);
        if (r < 0)
                return r;

        r = add_message(e, kind, bfe_member(member, "Add", kind, ""), obj, &m);
        if (r < 0)
                return bfe_engine_result(e, r);
        r = bfe_engine_call(e, m, &reply);
        if (r < 0)
                return r;
        r = read_add_reply(reply, kind == OBJECT_PROVIDER_CONTEXT || kind == OBJECT_FILTER, ret_key, ret_id);
        return bfe_engine_result(e, r);
}

/* A call of @member with one argument, a key ("s") or, if @key is NULL, an id ("t"). */
static int key_or_id_message(BfeEngine *e, const char *member, const BfeKey *key, uint64_t id,
                             sd_bus_message **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        char buf[BFE_KEY_STRING_MAX];
        int r;

        r = bfe_engine_new_method_call(e, member, &m);
        if (r < 0)
                return r;
        if (key)
                r = sd_bus_message_append(m, "s", bfe_key_to_string(key, buf));
        else
                r = sd_bus_message_append(m, "t", id);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

/*
 * Delete* or Get* of one object: "DeleteProvider", …, for filters "DeleteFilterByKey" or, with
 * @key NULL, "DeleteFilterById". Checks the arguments and starts the call.
 */
static int key_or_id_call(BfeEngine *e, const char *verb, ObjectKind kind, const BfeKey *key, uint64_t id,
                          sd_bus_message **ret_reply) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        char member[BFE_MEMBER_MAX];
        int r;

        r = bfe_engine_begin(e, key || kind == OBJECT_FILTER);
        if (r < 0)
                return r;

        bfe_member(member, verb, kind, kind != OBJECT_FILTER ? "" : key ? "ByKey" : "ById");
        r = key_or_id_message(e, member, key, id, &m);
        if (r < 0)
                return bfe_engine_result(e, r);
        return bfe_engine_call(e, m, ret_reply);
}

static int object_delete(BfeEngine *e, ObjectKind kind, const BfeKey *key, uint64_t id) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;

        return key_or_id_call(e, "Delete", kind, key, id, &reply);
}

static int object_get(BfeEngine *e, ObjectKind kind, const BfeKey *key, uint64_t id, void **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const ObjectInfo *o = object_info(kind);
        void *obj;
        int r;

        if (!ret)
                return bfe_engine_begin(e, false);
        r = key_or_id_call(e, "Get", kind, key, id, &reply);
        if (r < 0)
                return r;

        obj = calloc(1, o->size);
        if (!obj)
                return bfe_engine_result(e, -ENOMEM);
        r = object_read(reply, o, obj, 0, NULL, NULL);
        if (r <= 0) {
                object_free(kind, obj);
                return bfe_engine_result(e, r < 0 ? r : -EBADMSG);
        }
        *ret = obj;
        return 0;
}

/* ---- add, delete, get ------------------------------------------------------------------------ */

_public_ int bfe_provider_add(BfeEngine *e, const BfeProvider *p, BfeKey *ret_key) {
        return object_add(e, OBJECT_PROVIDER, p, ret_key, NULL);
}

_public_ int bfe_sublayer_add(BfeEngine *e, const BfeSublayer *s, BfeKey *ret_key) {
        return object_add(e, OBJECT_SUBLAYER, s, ret_key, NULL);
}

_public_ int bfe_provider_context_add(BfeEngine *e, const BfeProviderContext *c, BfeKey *ret_key,
                                      uint64_t *ret_id) {
        return object_add(e, OBJECT_PROVIDER_CONTEXT, c, ret_key, ret_id);
}

_public_ int bfe_filter_add(BfeEngine *e, const BfeFilter *f, BfeKey *ret_key, uint64_t *ret_id) {
        return object_add(e, OBJECT_FILTER, f, ret_key, ret_id);
}

_public_ int bfe_provider_delete(BfeEngine *e, const BfeKey *key) {
        return object_delete(e, OBJECT_PROVIDER, key, 0);
}

_public_ int bfe_sublayer_delete(BfeEngine *e, const BfeKey *key) {
        return object_delete(e, OBJECT_SUBLAYER, key, 0);
}

_public_ int bfe_provider_context_delete(BfeEngine *e, const BfeKey *key) {
        return object_delete(e, OBJECT_PROVIDER_CONTEXT, key, 0);
}

_public_ int bfe_filter_delete_by_key(BfeEngine *e, const BfeKey *key) {
        if (!key)
                return bfe_engine_begin(e, false);
        return object_delete(e, OBJECT_FILTER, key, 0);
}

_public_ int bfe_filter_delete_by_id(BfeEngine *e, uint64_t id) {
        return object_delete(e, OBJECT_FILTER, NULL, id);
}

_public_ int bfe_provider_get(BfeEngine *e, const BfeKey *key, BfeProvider **ret) {
        return object_get(e, OBJECT_PROVIDER, key, 0, (void **) ret);
}

_public_ int bfe_sublayer_get(BfeEngine *e, const BfeKey *key, BfeSublayer **ret) {
        return object_get(e, OBJECT_SUBLAYER, key, 0, (void **) ret);
}

_public_ int bfe_provider_context_get(BfeEngine *e, const BfeKey *key, BfeProviderContext **ret) {
        return object_get(e, OBJECT_PROVIDER_CONTEXT, key, 0, (void **) ret);
}

_public_ int bfe_filter_get_by_key(BfeEngine *e, const BfeKey *key, BfeFilter **ret) {
        if (!key)
                return bfe_engine_begin(e, false);
        return object_get(e, OBJECT_FILTER, key, 0, (void **) ret);
}

_public_ int bfe_filter_get_by_id(BfeEngine *e, uint64_t id, BfeFilter **ret) {
        return object_get(e, OBJECT_FILTER, NULL, id, (void **) ret);
}

/* ---- freeing what get and enum return --------------------------------------------------------- */

_public_ BfeProvider *bfe_provider_free(BfeProvider *p) {
        return object_free(OBJECT_PROVIDER, p);
}

_public_ BfeSublayer *bfe_sublayer_free(BfeSublayer *s) {
        return object_free(OBJECT_SUBLAYER, s);
}

_public_ BfeProviderContext *bfe_provider_context_free(BfeProviderContext *c) {
        return object_free(OBJECT_PROVIDER_CONTEXT, c);
}

_public_ BfeFilter *bfe_filter_free(BfeFilter *f) {
        return object_free(OBJECT_FILTER, f);
}

_public_ BfeProvider *bfe_provider_array_free(BfeProvider *a, size_t n) {
        return bfe_object_array_free(OBJECT_PROVIDER, a, n);
}

_public_ BfeSublayer *bfe_sublayer_array_free(BfeSublayer *a, size_t n) {
        return bfe_object_array_free(OBJECT_SUBLAYER, a, n);
}

_public_ BfeProviderContext *bfe_provider_context_array_free(BfeProviderContext *a, size_t n) {
        return bfe_object_array_free(OBJECT_PROVIDER_CONTEXT, a, n);
}

_public_ BfeFilter *bfe_filter_array_free(BfeFilter *a, size_t n) {
        return bfe_object_array_free(OBJECT_FILTER, a, n);
}

/* ---- filters: many at once, asynchronous calls ------------------------------------------------ */

/* The AddFilters call of @filters[0..n). */
static int add_many_message(BfeEngine *e, const BfeFilter *filters, size_t n, sd_bus_message **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = bfe_engine_new_method_call(e, "AddFilters", &m);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "a{sv}");
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = object_append(m, object_info(OBJECT_FILTER), &filters[i], OBJECT_WRITE_REQUEST);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

/* AddFilters' reply: exactly @n (key, id) pairs; the ids go to @ret_ids if not NULL. */
static int read_add_many_reply(sd_bus_message *reply, size_t n, uint64_t *ret_ids) {
        const char *key;
        uint64_t id;
        size_t i = 0;
        int r;

        r = sd_bus_message_enter_container(reply, 'a', "(st)");
        for (; r >= 0 && (r = sd_bus_message_read(reply, "(st)", &key, &id)) > 0; i++)
                if (ret_ids && i < n)
                        ret_ids[i] = id;
        if (r >= 0 && i != n)
                r = -EBADMSG;
        return r < 0 ? r : 0;
}

_public_ int bfe_filter_add_many(BfeEngine *e, const BfeFilter *filters, size_t n, uint64_t *ret_ids) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        int r;

        r = bfe_engine_begin(e, filters || n == 0);
        if (r < 0)
                return r;

        r = add_many_message(e, filters, n, &m);
        if (r < 0)
                return bfe_engine_result(e, r);
        r = bfe_engine_call(e, m, &reply);
        if (r < 0)
                return r;
        return bfe_engine_result(e, read_add_many_reply(reply, n, ret_ids));
}

/* What bfe_filter_add_many_async()'s reply is read into. */
typedef struct AddMany {
        size_t n;
        uint64_t *ids;
        void *userdata;
} AddMany;

static void add_many_done(BfeEngine *e, sd_bus_message *reply, BfeErrorInfo *error, BfeEngineCallback callback,
                          void *userdata) {
        BfeCallCallback cb = (BfeCallCallback) callback;
        AddMany *a = userdata;
        int r = error->public.error;

        if (reply) {
                r = read_add_many_reply(reply, a->n, a->ids);
                if (r < 0)
                        r = bfe_error_info_set(error, r, NULL);     /* a reply we cannot read */
        }
        userdata = a->userdata;
        free(a);
        if (r < 0)
                cb(e, r, &error->public, userdata);
        else
                cb(e, 0, NULL, userdata);
}

_public_ int bfe_filter_add_many_async(BfeEngine *e, const BfeFilter *filters, size_t n, uint64_t *ret_ids,
                                       BfeCallCallback callback, void *userdata) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        AddMany *a;
        int r;

        r = bfe_engine_begin(e, (filters || n == 0) && callback);
        if (r < 0)
                return r;

        r = add_many_message(e, filters, n, &m);
        if (r < 0)
                return bfe_engine_result(e, r);
        a = malloc(sizeof(*a));
        if (!a)
                return bfe_engine_result(e, -ENOMEM);
        *a = (AddMany) { .n = n, .ids = ret_ids, .userdata = userdata };
        r = bfe_engine_call_async(e, m, add_many_done, (BfeEngineCallback) callback, a);
        if (r < 0)
                free(a);
        return r;
}

/* Completes bfe_filter_add_async(). */
static void filter_add_done(BfeEngine *e, sd_bus_message *reply, BfeErrorInfo *error,
                            BfeEngineCallback callback, void *userdata) {
        BfeFilterAddCallback cb = (BfeFilterAddCallback) callback;
        int r = error->public.error;
        uint64_t id = 0;
        BfeKey key;

        if (reply) {
                r = read_add_reply(reply, true, &key, &id);
                if (r < 0)
                        r = bfe_error_info_set(error, r, NULL);     /* a reply we cannot read */
        }
        if (r < 0)
                cb(e, r, NULL, 0, &error->public, userdata);
        else
                cb(e, 0, &key, id, NULL, userdata);
}

_public_ int bfe_filter_add_async(BfeEngine *e, const BfeFilter *f, BfeFilterAddCallback callback,
                                  void *userdata) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = bfe_engine_begin(e, f && callback);
        if (r < 0)
                return r;

        r = add_message(e, OBJECT_FILTER, "AddFilter", f, &m);
        if (r < 0)
                return bfe_engine_result(e, r);
        return bfe_engine_call_async(e, m, filter_add_done, (BfeEngineCallback) callback, userdata);
}

/* Completes a call whose reply carries nothing. */
static void call_done(BfeEngine *e, sd_bus_message *reply, BfeErrorInfo *error, BfeEngineCallback callback,
                      void *userdata) {
        BfeCallCallback cb = (BfeCallCallback) callback;

        if (reply)
                cb(e, 0, NULL, userdata);
        else
                cb(e, error->public.error, &error->public, userdata);
}

_public_ int bfe_filter_delete_by_id_async(BfeEngine *e, uint64_t id, BfeCallCallback callback,
                                           void *userdata) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = bfe_engine_begin(e, callback);
        if (r < 0)
                return r;

        r = key_or_id_message(e, "DeleteFilterById", NULL, id, &m);
        if (r < 0)
                return bfe_engine_result(e, r);
        return bfe_engine_call_async(e, m, call_done, (BfeEngineCallback) callback, userdata);
}
