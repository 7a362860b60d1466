/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bfe-objects.c — libbfe: providers, sublayers, provider contexts and filters as a{sv}
 * dictionaries. Each object kind is described once by a table of its dictionary keys (name,
 * D-Bus type, offset in the public struct); one encoder and one decoder walk the tables.
 * Unset fields are not sent; unknown keys in replies are skipped, so a newer daemon may add
 * keys without breaking older clients.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-bus.h>

#include "bfe-internal.h"
#include "macro.h"

typedef enum FieldType {
        FIELD_STRING,   /* s, char * */
        FIELD_KEY,      /* s, BfeKey */
        FIELD_U16,      /* q, uint16_t */
        FIELD_U32,      /* u, uint32_t */
        FIELD_U64,      /* t, uint64_t */
        FIELD_BOOL,     /* b, bool */
        FIELD_BLOB,     /* ay, BfeBlob */
} FieldType;

typedef enum FieldFlags {
        FIELD_OUT = 1 << 0,     /* filled in by the engine, never sent */
        FIELD_ALWAYS = 1 << 1,  /* sent even when zero */
} FieldFlags;

typedef struct Field {
        const char *name;
        FieldType type;
        size_t offset;
        FieldFlags flags;
} Field;

typedef struct ObjectType {
        size_t size;
        const Field *fields;
        size_t n_fields;
        /* Keys the table cannot describe (filter Weight and Conditions). */
        int (*append_extra)(sd_bus_message *m, const void *obj);
        int (*read_extra)(sd_bus_message *m, const char *key, const char *contents, void *obj);
        void (*done_extra)(void *obj);
} ObjectType;

static const char *const field_signature[] = {
        [FIELD_STRING] = "s", [FIELD_KEY] = "s", [FIELD_U16] = "q", [FIELD_U32] = "u",
        [FIELD_U64] = "t", [FIELD_BOOL] = "b", [FIELD_BLOB] = "ay",
};

#define COMMON_FIELDS(T)                                                        \
        { "Key", FIELD_KEY, offsetof(T, key), 0 },                              \
        { "Name", FIELD_STRING, offsetof(T, name), 0 },                         \
        { "Description", FIELD_STRING, offsetof(T, description), 0 },           \
        { "Flags", FIELD_U32, offsetof(T, flags), 0 },                          \
        { "ProviderData", FIELD_BLOB, offsetof(T, provider_data), 0 }

static const Field provider_fields[] = {
        COMMON_FIELDS(BfeProvider),
};

static const Field sublayer_fields[] = {
        COMMON_FIELDS(BfeSublayer),
        { "ProviderKey", FIELD_KEY, offsetof(BfeSublayer, provider_key), 0 },
        { "Weight", FIELD_U16, offsetof(BfeSublayer, weight), FIELD_ALWAYS },
};

static const Field context_fields[] = {
        COMMON_FIELDS(BfeProviderContext),
        { "ProviderKey", FIELD_KEY, offsetof(BfeProviderContext, provider_key), 0 },
        { "Type", FIELD_U32, offsetof(BfeProviderContext, type), FIELD_ALWAYS },
        { "Data", FIELD_BLOB, offsetof(BfeProviderContext, data), 0 },
        { "Id", FIELD_U64, offsetof(BfeProviderContext, id), FIELD_OUT },
};

static const Field filter_fields[] = {
        COMMON_FIELDS(BfeFilter),
        { "ProviderKey", FIELD_KEY, offsetof(BfeFilter, provider_key), 0 },
        { "Layer", FIELD_STRING, offsetof(BfeFilter, layer), 0 },
        { "LayerKey", FIELD_KEY, offsetof(BfeFilter, layer_key), FIELD_OUT },
        { "SubLayer", FIELD_KEY, offsetof(BfeFilter, sublayer_key), 0 },
        { "EffectiveWeight", FIELD_U64, offsetof(BfeFilter, effective_weight), FIELD_OUT },
        { "Action", FIELD_U32, offsetof(BfeFilter, action), 0 },
        { "CalloutKey", FIELD_KEY, offsetof(BfeFilter, callout_key), 0 },
        { "ProviderContextKey", FIELD_KEY, offsetof(BfeFilter, provider_context_key), 0 },
        { "Id", FIELD_U64, offsetof(BfeFilter, id), FIELD_OUT },
        { "EngineOwned", FIELD_BOOL, offsetof(BfeFilter, engine_owned), FIELD_OUT },
};

/* ---- encoding -------------------------------------------------------------------------------- */

static int append_entry_blob(sd_bus_message *m, const char *name, const BfeBlob *blob) {
        int r;

        r = sd_bus_message_open_container(m, 'e', "sv");
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "s", name);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(m, 'v', "ay");
        if (r < 0)
                return r;
        r = sd_bus_message_append_array(m, 'y', blob->data, blob->size);
        if (r < 0)
                return r;
        r = sd_bus_message_close_container(m);
        if (r < 0)
                return r;
        return sd_bus_message_close_container(m);
}

static int append_entry_key(sd_bus_message *m, const char *name, const BfeKey *key) {
        char buf[BFE_KEY_STRING_MAX];

        return sd_bus_message_append(m, "{sv}", name, "s", bfe_key_to_string(key, buf));
}

static int append_field(sd_bus_message *m, const Field *f, const void *obj) {
        const void *p = (const uint8_t *) obj + f->offset;
        bool always = f->flags & FIELD_ALWAYS;

        switch (f->type) {
        case FIELD_STRING: {
                const char *s = *(char *const *) p;

                return s ? sd_bus_message_append(m, "{sv}", f->name, "s", s) : 0;
        }
        case FIELD_KEY:
                return bfe_key_is_null(p) ? 0 : append_entry_key(m, f->name, p);
        case FIELD_U16: {
                uint16_t v = *(const uint16_t *) p;

                return v || always ? sd_bus_message_append(m, "{sv}", f->name, "q", v) : 0;
        }
        case FIELD_U32: {
                uint32_t v = *(const uint32_t *) p;

                return v || always ? sd_bus_message_append(m, "{sv}", f->name, "u", v) : 0;
        }
        case FIELD_U64: {
                uint64_t v = *(const uint64_t *) p;

                return v || always ? sd_bus_message_append(m, "{sv}", f->name, "t", v) : 0;
        }
        case FIELD_BOOL: {
                int v = *(const bool *) p;

                return v || always ? sd_bus_message_append(m, "{sv}", f->name, "b", v) : 0;
        }
        case FIELD_BLOB: {
                const BfeBlob *b = p;

                return b->size > 0 ? append_entry_blob(m, f->name, b) : 0;
        }
        }
        return -EINVAL;
}

static int append_object(sd_bus_message *m, const ObjectType *t, const void *obj) {
        int r;

        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        for (size_t i = 0; i < t->n_fields; i++) {
                if (t->fields[i].flags & FIELD_OUT)
                        continue;
                r = append_field(m, &t->fields[i], obj);
                if (r < 0)
                        return r;
        }
        if (t->append_extra) {
                r = t->append_extra(m, obj);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(m);
}

static int filter_append_extra(sd_bus_message *m, const void *obj) {
        const BfeFilter *f = obj;
        int r;

        switch (f->weight_kind) {
        case BFE_WEIGHT_AUTO:
                break;
        case BFE_WEIGHT_RANGE:
                if (f->weight > 15)
                        return -ERANGE;
                r = sd_bus_message_append(m, "{sv}", "Weight", "y", (uint8_t) f->weight);
                if (r < 0)
                        return r;
                break;
        case BFE_WEIGHT_EXPLICIT:
                r = sd_bus_message_append(m, "{sv}", "Weight", "t", f->weight);
                if (r < 0)
                        return r;
                break;
        default:
                return -EINVAL;
        }

        if (f->n_conditions == 0)
                return 0;
        if (!f->conditions)
                return -EINVAL;

        r = sd_bus_message_open_container(m, 'e', "sv");
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "s", "Conditions");
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(m, 'v', "a(sus)");
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(m, 'a', "(sus)");
        if (r < 0)
                return r;
        for (size_t i = 0; i < f->n_conditions; i++) {
                const BfeCondition *c = &f->conditions[i];

                if (!c->field || !c->value)
                        return -EINVAL;
                r = sd_bus_message_append(m, "(sus)", c->field, c->match, c->value);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(m);
        if (r < 0)
                return r;
        r = sd_bus_message_close_container(m);
        if (r < 0)
                return r;
        return sd_bus_message_close_container(m);
}

/* ---- decoding -------------------------------------------------------------------------------- */

/* Reads a variant whose contents are @contents into @p (type @type). */
static int read_field(sd_bus_message *m, FieldType type, const char *contents, void *p) {
        int r;

        r = sd_bus_message_enter_container(m, 'v', contents);
        if (r < 0)
                return r;

        switch (type) {
        case FIELD_STRING: {
                const char *s;
                char *copy;

                r = sd_bus_message_read(m, "s", &s);
                if (r < 0)
                        return r;
                copy = strdup(s);
                if (!copy)
                        return -ENOMEM;
                free(*(char **) p);
                *(char **) p = copy;
                break;
        }
        case FIELD_KEY: {
                const char *s;

                r = sd_bus_message_read(m, "s", &s);
                if (r < 0)
                        return r;
                if (bfe_key_from_string(s, p) < 0)
                        return -EBADMSG;
                break;
        }
        case FIELD_U16:
                r = sd_bus_message_read(m, "q", p);
                break;
        case FIELD_U32:
                r = sd_bus_message_read(m, "u", p);
                break;
        case FIELD_U64:
                r = sd_bus_message_read(m, "t", p);
                break;
        case FIELD_BOOL: {
                int b;

                r = sd_bus_message_read(m, "b", &b);
                if (r >= 0)
                        *(bool *) p = b;
                break;
        }
        case FIELD_BLOB: {
                BfeBlob *blob = p;
                const void *data;
                size_t size;
                uint8_t *copy = NULL;

                r = sd_bus_message_read_array(m, 'y', &data, &size);
                if (r < 0)
                        return r;
                if (size > 0) {
                        copy = malloc(size);
                        if (!copy)
                                return -ENOMEM;
                        memcpy(copy, data, size);
                }
                free(blob->data);
                *blob = (BfeBlob) { .data = copy, .size = size };
                break;
        }
        default:
                return -EINVAL;
        }
        if (r < 0)
                return r;

        return sd_bus_message_exit_container(m);
}

/*
 * Reads one a{sv} into @obj. Keys we do not know, and known keys of an unexpected type, are
 * skipped. Return: 1, or 0 at the end of an enclosing array.
 */
static int read_object(sd_bus_message *m, const ObjectType *t, void *obj) {
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r <= 0)
                return r;

        for (;;) {
                const char *key, *contents;
                bool done = false;

                r = sd_bus_message_enter_container(m, 'e', "sv");
                if (r < 0)
                        return r;
                if (r == 0)
                        break;

                r = sd_bus_message_read(m, "s", &key);
                if (r < 0)
                        return r;
                r = sd_bus_message_peek_type(m, NULL, &contents);
                if (r < 0)
                        return r;

                for (size_t i = 0; i < t->n_fields && !done; i++) {
                        const Field *f = &t->fields[i];

                        if (!streq(f->name, key) || !streq(field_signature[f->type], contents))
                                continue;
                        r = read_field(m, f->type, contents, (uint8_t *) obj + f->offset);
                        if (r < 0)
                                return r;
                        done = true;
                }
                if (!done && t->read_extra) {
                        r = t->read_extra(m, key, contents, obj);
                        if (r < 0)
                                return r;
                        done = r > 0;
                }
                if (!done) {
                        r = sd_bus_message_skip(m, "v");
                        if (r < 0)
                                return r;
                }

                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }

        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;
        return 1;
}

static int filter_read_weight(sd_bus_message *m, const char *contents, BfeFilter *f) {
        int r;

        r = sd_bus_message_enter_container(m, 'v', contents);
        if (r < 0)
                return r;

        if (streq(contents, "y")) {
                uint8_t y;

                r = sd_bus_message_read(m, "y", &y);
                if (r < 0)
                        return r;
                f->weight_kind = BFE_WEIGHT_RANGE;
                f->weight = y;
        } else if (streq(contents, "t")) {
                r = sd_bus_message_read(m, "t", &f->weight);
                if (r < 0)
                        return r;
                f->weight_kind = BFE_WEIGHT_EXPLICIT;
        } else {
                /* Tolerate the weight wrapped in one more variant, as "Weight v" may be read. */
                const char *inner;

                r = sd_bus_message_peek_type(m, NULL, &inner);
                if (r < 0)
                        return r;
                if (streq(contents, "v") && (streq(inner, "y") || streq(inner, "t")))
                        r = filter_read_weight(m, inner, f);
                else
                        r = sd_bus_message_skip(m, contents);
                if (r < 0)
                        return r;
        }

        return sd_bus_message_exit_container(m);
}

static int filter_read_conditions(sd_bus_message *m, BfeFilter *f) {
        BfeCondition *conditions = NULL;
        size_t n = 0;
        int r;

        r = sd_bus_message_enter_container(m, 'v', "a(sus)");
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(m, 'a', "(sus)");
        if (r < 0)
                return r;

        for (;;) {
                const char *field, *value;
                uint32_t match;
                BfeCondition *a;

                r = sd_bus_message_read(m, "(sus)", &field, &match, &value);
                if (r < 0)
                        goto fail;
                if (r == 0)
                        break;

                a = reallocarray(conditions, n + 1, sizeof(*conditions));
                if (!a) {
                        r = -ENOMEM;
                        goto fail;
                }
                conditions = a;
                conditions[n] = (BfeCondition) {
                        .field = strdup(field),
                        .match = match,
                        .value = strdup(value),
                };
                n++;
                if (!conditions[n - 1].field || !conditions[n - 1].value) {
                        r = -ENOMEM;
                        goto fail;
                }
        }

        r = sd_bus_message_exit_container(m);
        if (r < 0)
                goto fail;
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                goto fail;

        for (size_t i = 0; i < f->n_conditions; i++) {
                free(f->conditions[i].field);
                free(f->conditions[i].value);
        }
        free(f->conditions);
        f->conditions = conditions;
        f->n_conditions = n;
        return 0;

fail:
        for (size_t i = 0; i < n; i++) {
                free(conditions[i].field);
                free(conditions[i].value);
        }
        free(conditions);
        return r;
}

static int filter_read_extra(sd_bus_message *m, const char *key, const char *contents, void *obj) {
        int r;

        if (streq(key, "Weight"))
                r = filter_read_weight(m, contents, obj);
        else if (streq(key, "Conditions") && streq(contents, "a(sus)"))
                r = filter_read_conditions(m, obj);
        else
                return 0;
        return r < 0 ? r : 1;
}

/* ---- freeing --------------------------------------------------------------------------------- */

static void object_done(const ObjectType *t, void *obj) {
        for (size_t i = 0; i < t->n_fields; i++) {
                void *p = (uint8_t *) obj + t->fields[i].offset;

                if (t->fields[i].type == FIELD_STRING)
                        free(*(char **) p);
                else if (t->fields[i].type == FIELD_BLOB)
                        free(((BfeBlob *) p)->data);
        }
        if (t->done_extra)
                t->done_extra(obj);
        memset(obj, 0, t->size);
}

static void filter_done_extra(void *obj) {
        BfeFilter *f = obj;

        for (size_t i = 0; i < f->n_conditions; i++) {
                free(f->conditions[i].field);
                free(f->conditions[i].value);
        }
        free(f->conditions);
}

static const ObjectType provider_type = {
        .size = sizeof(BfeProvider),
        .fields = provider_fields,
        .n_fields = ELEMENTSOF(provider_fields),
};

static const ObjectType sublayer_type = {
        .size = sizeof(BfeSublayer),
        .fields = sublayer_fields,
        .n_fields = ELEMENTSOF(sublayer_fields),
};

static const ObjectType context_type = {
        .size = sizeof(BfeProviderContext),
        .fields = context_fields,
        .n_fields = ELEMENTSOF(context_fields),
};

static const ObjectType filter_type = {
        .size = sizeof(BfeFilter),
        .fields = filter_fields,
        .n_fields = ELEMENTSOF(filter_fields),
        .append_extra = filter_append_extra,
        .read_extra = filter_read_extra,
        .done_extra = filter_done_extra,
};

static void *object_free(const ObjectType *t, void *obj) {
        if (!obj)
                return NULL;
        object_done(t, obj);
        free(obj);
        return NULL;
}

static void *object_array_free(const ObjectType *t, void *array, size_t n) {
        if (!array)
                return NULL;
        for (size_t i = 0; i < n; i++)
                object_done(t, (uint8_t *) array + i * t->size);
        free(array);
        return NULL;
}

/* ---- calls ----------------------------------------------------------------------------------- */

/* The Add* call for @obj. */
static int add_message(BfeEngine *e, const ObjectType *t, const char *member, const void *obj,
                       sd_bus_message **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = bfe_engine_new_method_call(e, member, &m);
        if (r < 0)
                return r;
        r = append_object(m, t, obj);
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

/* Add: sends the object, reads back the key (and the id). */
static int object_add(BfeEngine *e, const ObjectType *t, const char *member, const void *obj,
                      bool with_id, BfeKey *ret_key, uint64_t *ret_id) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        int r;

        if (!e)
                return -EINVAL;
        bfe_engine_clear_error(e);
        if (!obj)
                return bfe_engine_result(e, -EINVAL);

        r = add_message(e, t, member, obj, &m);
        if (r < 0)
                return bfe_engine_result(e, r);
        r = bfe_engine_call(e, m, &reply);
        if (r < 0)
                return r;
        return bfe_engine_result(e, read_add_reply(reply, with_id, ret_key, ret_id));
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

static int call_with_key_or_id(BfeEngine *e, const char *member, const BfeKey *key, uint64_t id,
                               sd_bus_message **ret_reply) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = key_or_id_message(e, member, key, id, &m);
        if (r < 0)
                return r;
        return bfe_engine_call(e, m, ret_reply);
}

static int object_delete(BfeEngine *e, const char *member, const BfeKey *key, uint64_t id) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        if (!e)
                return -EINVAL;
        bfe_engine_clear_error(e);
        r = call_with_key_or_id(e, member, key, id, &reply);
        return bfe_engine_result(e, r);
}

static int object_get(BfeEngine *e, const ObjectType *t, const char *member, const BfeKey *key,
                      uint64_t id, void **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        void *obj;
        int r;

        if (!e)
                return -EINVAL;
        bfe_engine_clear_error(e);
        if (!ret)
                return bfe_engine_result(e, -EINVAL);

        r = call_with_key_or_id(e, member, key, id, &reply);
        if (r < 0)
                return bfe_engine_result(e, r);

        obj = calloc(1, t->size);
        if (!obj)
                return bfe_engine_result(e, -ENOMEM);
        r = read_object(reply, t, obj);
        if (r <= 0) {
                object_free(t, obj);
                return bfe_engine_result(e, r < 0 ? r : -EBADMSG);
        }
        *ret = obj;
        return 0;
}

static int object_enum(BfeEngine *e, const ObjectType *t, sd_bus_message *m,
                       void **ret_array, size_t *ret_n) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        uint8_t *array = NULL;
        size_t n = 0;
        int r;

        r = bfe_engine_call(e, m, &reply);
        if (r < 0)
                return r;

        r = sd_bus_message_enter_container(reply, 'a', "a{sv}");
        if (r < 0)
                return bfe_engine_result(e, r);

        for (;;) {
                uint8_t *a;

                a = reallocarray(array, n + 1, t->size);
                if (!a) {
                        r = -ENOMEM;
                        goto fail;
                }
                array = a;
                memset(array + n * t->size, 0, t->size);

                r = read_object(reply, t, array + n * t->size);
                if (r < 0) {
                        n++;    /* free the partly read one too */
                        goto fail;
                }
                if (r == 0)
                        break;
                n++;
        }

        r = sd_bus_message_exit_container(reply);
        if (r < 0)
                goto fail;

        if (n == 0)
                array = mfree(array);
        *ret_array = array;
        *ret_n = n;
        return 0;

fail:
        object_array_free(t, array, n);
        return bfe_engine_result(e, r);
}

/* Starts an Enum* call; its template, if any, is appended by the caller. */
static int enum_begin(BfeEngine *e, const char *member, void **ret_array, size_t *ret_n,
                      sd_bus_message **ret) {
        if (!e)
                return -EINVAL;
        bfe_engine_clear_error(e);
        if (!ret_array || !ret_n)
                return bfe_engine_result(e, -EINVAL);
        return bfe_engine_result(e, bfe_engine_new_method_call(e, member, ret));
}

static int append_template_key(sd_bus_message *m, const char *name, const BfeKey *key) {
        return bfe_key_is_null(key) ? 0 : append_entry_key(m, name, key);
}

/* ---- providers ------------------------------------------------------------------------------- */

_public_ int bfe_provider_add(BfeEngine *e, const BfeProvider *p, BfeKey *ret_key) {
        return object_add(e, &provider_type, "AddProvider", p, false, ret_key, NULL);
}

_public_ int bfe_provider_delete(BfeEngine *e, const BfeKey *key) {
        if (!key)
                return e ? bfe_engine_result(e, -EINVAL) : -EINVAL;
        return object_delete(e, "DeleteProvider", key, 0);
}

_public_ int bfe_provider_get(BfeEngine *e, const BfeKey *key, BfeProvider **ret) {
        if (!key)
                return e ? bfe_engine_result(e, -EINVAL) : -EINVAL;
        return object_get(e, &provider_type, "GetProvider", key, 0, (void **) ret);
}

_public_ int bfe_provider_enum(BfeEngine *e, BfeProvider **ret_array, size_t *ret_n) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = enum_begin(e, "EnumProviders", (void **) ret_array, ret_n, &m);
        if (r < 0)
                return r;
        return object_enum(e, &provider_type, m, (void **) ret_array, ret_n);
}

_public_ BfeProvider *bfe_provider_free(BfeProvider *p) {
        return object_free(&provider_type, p);
}

_public_ BfeProvider *bfe_provider_array_free(BfeProvider *a, size_t n) {
        return object_array_free(&provider_type, a, n);
}

/* ---- sublayers ------------------------------------------------------------------------------- */

_public_ int bfe_sublayer_add(BfeEngine *e, const BfeSublayer *s, BfeKey *ret_key) {
        return object_add(e, &sublayer_type, "AddSubLayer", s, false, ret_key, NULL);
}

_public_ int bfe_sublayer_delete(BfeEngine *e, const BfeKey *key) {
        if (!key)
                return e ? bfe_engine_result(e, -EINVAL) : -EINVAL;
        return object_delete(e, "DeleteSubLayer", key, 0);
}

_public_ int bfe_sublayer_get(BfeEngine *e, const BfeKey *key, BfeSublayer **ret) {
        if (!key)
                return e ? bfe_engine_result(e, -EINVAL) : -EINVAL;
        return object_get(e, &sublayer_type, "GetSubLayer", key, 0, (void **) ret);
}

_public_ int bfe_sublayer_enum(BfeEngine *e, BfeSublayer **ret_array, size_t *ret_n) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = enum_begin(e, "EnumSubLayers", (void **) ret_array, ret_n, &m);
        if (r < 0)
                return r;
        return object_enum(e, &sublayer_type, m, (void **) ret_array, ret_n);
}

_public_ BfeSublayer *bfe_sublayer_free(BfeSublayer *s) {
        return object_free(&sublayer_type, s);
}

_public_ BfeSublayer *bfe_sublayer_array_free(BfeSublayer *a, size_t n) {
        return object_array_free(&sublayer_type, a, n);
}

/* ---- provider contexts ----------------------------------------------------------------------- */

_public_ int bfe_provider_context_add(BfeEngine *e, const BfeProviderContext *c, BfeKey *ret_key,
                                      uint64_t *ret_id) {
        return object_add(e, &context_type, "AddProviderContext", c, true, ret_key, ret_id);
}

_public_ int bfe_provider_context_delete(BfeEngine *e, const BfeKey *key) {
        if (!key)
                return e ? bfe_engine_result(e, -EINVAL) : -EINVAL;
        return object_delete(e, "DeleteProviderContext", key, 0);
}

_public_ int bfe_provider_context_get(BfeEngine *e, const BfeKey *key, BfeProviderContext **ret) {
        if (!key)
                return e ? bfe_engine_result(e, -EINVAL) : -EINVAL;
        return object_get(e, &context_type, "GetProviderContext", key, 0, (void **) ret);
}

_public_ int bfe_provider_context_enum(BfeEngine *e, const BfeProviderContextTemplate *t,
                                       BfeProviderContext **ret_array, size_t *ret_n) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = enum_begin(e, "EnumProviderContexts", (void **) ret_array, ret_n, &m);
        if (r < 0)
                return r;

        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && t)
                r = append_template_key(m, "ProviderKey", &t->provider_key);
        if (r >= 0 && t && t->match_type)
                r = sd_bus_message_append(m, "{sv}", "Type", "u", t->type);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0)
                return bfe_engine_result(e, r);

        return object_enum(e, &context_type, m, (void **) ret_array, ret_n);
}

_public_ BfeProviderContext *bfe_provider_context_free(BfeProviderContext *c) {
        return object_free(&context_type, c);
}

_public_ BfeProviderContext *bfe_provider_context_array_free(BfeProviderContext *a, size_t n) {
        return object_array_free(&context_type, a, n);
}

/* ---- filters --------------------------------------------------------------------------------- */

_public_ int bfe_filter_add(BfeEngine *e, const BfeFilter *f, BfeKey *ret_key, uint64_t *ret_id) {
        return object_add(e, &filter_type, "AddFilter", f, true, ret_key, ret_id);
}

_public_ int bfe_filter_add_many(BfeEngine *e, const BfeFilter *filters, size_t n, uint64_t *ret_ids) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        const char *key;
        uint64_t id;
        size_t i = 0;
        int r;

        if (!e)
                return -EINVAL;
        bfe_engine_clear_error(e);
        if (!filters && n > 0)
                return bfe_engine_result(e, -EINVAL);

        r = bfe_engine_new_method_call(e, "AddFilters", &m);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "a{sv}");
        for (; r >= 0 && i < n; i++)
                r = append_object(m, &filter_type, &filters[i]);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0)
                return bfe_engine_result(e, r);
        r = bfe_engine_call(e, m, &reply);
        if (r < 0)
                return r;

        r = sd_bus_message_enter_container(reply, 'a', "(st)");
        for (i = 0; r >= 0 && (r = sd_bus_message_read(reply, "(st)", &key, &id)) > 0; i++)
                if (ret_ids && i < n)
                        ret_ids[i] = id;
        if (r >= 0 && i != n)
                r = -EBADMSG;
        return bfe_engine_result(e, r < 0 ? r : 0);
}

_public_ int bfe_filter_delete_by_key(BfeEngine *e, const BfeKey *key) {
        if (!key)
                return e ? bfe_engine_result(e, -EINVAL) : -EINVAL;
        return object_delete(e, "DeleteFilterByKey", key, 0);
}

_public_ int bfe_filter_delete_by_id(BfeEngine *e, uint64_t id) {
        return object_delete(e, "DeleteFilterById", NULL, id);
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

        if (!e)
                return -EINVAL;
        bfe_engine_clear_error(e);
        if (!f || !callback)
                return bfe_engine_result(e, -EINVAL);

        r = add_message(e, &filter_type, "AddFilter", f, &m);
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

        if (!e)
                return -EINVAL;
        bfe_engine_clear_error(e);
        if (!callback)
                return bfe_engine_result(e, -EINVAL);

        r = key_or_id_message(e, "DeleteFilterById", NULL, id, &m);
        if (r < 0)
                return bfe_engine_result(e, r);
        return bfe_engine_call_async(e, m, call_done, (BfeEngineCallback) callback, userdata);
}

_public_ int bfe_filter_get_by_key(BfeEngine *e, const BfeKey *key, BfeFilter **ret) {
        if (!key)
                return e ? bfe_engine_result(e, -EINVAL) : -EINVAL;
        return object_get(e, &filter_type, "GetFilterByKey", key, 0, (void **) ret);
}

_public_ int bfe_filter_get_by_id(BfeEngine *e, uint64_t id, BfeFilter **ret) {
        return object_get(e, &filter_type, "GetFilterById", NULL, id, (void **) ret);
}

_public_ int bfe_filter_enum(BfeEngine *e, const BfeFilterTemplate *t, BfeFilter **ret_array,
                             size_t *ret_n) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = enum_begin(e, "EnumFilters", (void **) ret_array, ret_n, &m);
        if (r < 0)
                return r;

        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && t && t->layer)
                r = sd_bus_message_append(m, "{sv}", "Layer", "s", t->layer);
        if (r >= 0 && t)
                r = append_template_key(m, "ProviderKey", &t->provider_key);
        if (r >= 0 && t)
                r = append_template_key(m, "SubLayer", &t->sublayer_key);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0)
                return bfe_engine_result(e, r);

        return object_enum(e, &filter_type, m, (void **) ret_array, ret_n);
}

_public_ BfeFilter *bfe_filter_free(BfeFilter *f) {
        return object_free(&filter_type, f);
}

_public_ BfeFilter *bfe_filter_array_free(BfeFilter *a, size_t n) {
        return object_array_free(&filter_type, a, n);
}
