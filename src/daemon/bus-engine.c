/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bus-engine.c — org.bfed.Engine1 on /org/bfed/Engine1 (doc/org.bfed.Engine1.md).
 *
 * Every mutating handler has one shape: read → validate → authorize → change → reply.
 * Reading validates the dictionary's shape (InvalidArgs naming the key); the engine
 * validates the meaning (WFP errors, mapped to org.bfed.Error.* in bus_error_from_engine(),
 * the one place that does it); the change happens in an engine transaction committed to
 * the kernel as one netlink batch by manager_commit().
 */
#include <errno.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "bfed-build.h"
#include "group.h"
#include "log.h"
#include "macro.h"
#include "manager.h"

#define ENGINE_PATH "/org/bfed/Engine1"
#define ENGINE_IFACE "org.bfed.Engine1"
#define BUS_NAME "org.bfed.Engine1"

/* After a commit this big, free memory goes back to the system (malloc_trim). */
#define TRIM_AFTER_SIGNALS 10000u

/* AddFilters: filters per call (the bus's message size limit comes first at about 100,000) */
#define ADD_FILTERS_MAX 100000u

/* ---- errors -------------------------------------------------------------------------------- */

/**
 * bus_error_from_engine() - the one mapping from engine results to D-Bus errors.
 *
 * WFP errors become org.bfed.Error.<Name> with "FWP_E_NAME (0x8032xxxx): what was wrong";
 * anything else is a plain errno error.
 */
int bus_error_from_engine(sd_bus_error *error, int r, const EngineError *err) {
        uint32_t code = wfp_code_from_ret(r);
        const WfpErrorInfo *info = wfp_error_info(code);

        if (info)
                return sd_bus_error_setf(error, info->bus_name, "%s (0x%08" PRIX32 "): %s", info->name, info->code,
                                         err && err->code == code ? err->message : "");
        return sd_bus_error_set_errnof(error, r, "%s", bfe_strerror(r));
}

/*
 * Mutations need euid 0 or CAP_NET_ADMIN. The uid comes from the bus (dbus-daemon took it
 * from the kernel when the caller connected), and is remembered per unique connection name,
 * which a bus never reuses, so a busy caller costs one lookup, not one per call. Capabilities
 * the bus does not know: for a non-root caller they are read from /proc (SD_BUS_CREDS_AUGMENT),
 * which can race with the caller's exit, and so only ever grant to a caller that had them.
 */
#define PRIVILEGED_CACHE_SIZE 64

static int check_privileged(sd_bus_message *msg, sd_bus_error *error) {
        static struct {
                char name[32];
        } root_senders[PRIVILEGED_CACHE_SIZE];
        static unsigned next;
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        const char *sender = sd_bus_message_get_sender(msg);
        uid_t uid;
        int r;

        for (size_t i = 0; sender && i < PRIVILEGED_CACHE_SIZE; i++)
                if (streq(root_senders[i].name, sender))
                        return 0;

        r = sd_bus_query_sender_creds(msg, SD_BUS_CREDS_EUID, &creds);
        if (r >= 0 && sd_bus_creds_get_euid(creds, &uid) >= 0 && uid == 0) {
                if (sender && strlen(sender) < sizeof(root_senders[0].name))
                        strcpy(root_senders[next++ % PRIVILEGED_CACHE_SIZE].name, sender);
                return 0;
        }

        creds = sd_bus_creds_unref(creds);
        r = sd_bus_query_sender_creds(msg, SD_BUS_CREDS_EFFECTIVE_CAPS | SD_BUS_CREDS_AUGMENT, &creds);
        if (r >= 0 && sd_bus_creds_has_effective_cap(creds, CAP_NET_ADMIN) > 0)
                return 0;
        if (r < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                         "Cannot determine the caller's credentials: %s", strerror(-r));
        return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                 "Changing the filter engine needs root or CAP_NET_ADMIN");
}

/* ---- reading dictionaries -------------------------------------------------------------------- */

typedef enum DictKey {
        DK_KEY = 1 << 0,
        DK_NAME = 1 << 1,
        DK_DESCRIPTION = 1 << 2,
        DK_FLAGS = 1 << 3,
        DK_PROVIDER_KEY = 1 << 4,
        DK_PROVIDER_DATA = 1 << 5,
        DK_WEIGHT16 = 1 << 6,           /* sublayer Weight q */
        DK_TYPE = 1 << 7,
        DK_DATA = 1 << 8,
        DK_LAYER = 1 << 9,
        DK_SUBLAYER = 1 << 10,
        DK_WEIGHT = 1 << 11,            /* filter Weight v */
        DK_ACTION = 1 << 12,
        DK_CALLOUT_KEY = 1 << 13,
        DK_CONTEXT_KEY = 1 << 14,
        DK_CONDITIONS = 1 << 15,
} DictKey;

#define DK_COMMON (DK_KEY | DK_NAME | DK_DESCRIPTION | DK_FLAGS | DK_PROVIDER_KEY | DK_PROVIDER_DATA)
#define DK_PROVIDER DK_COMMON
#define DK_SUBLAYER_OBJECT (DK_COMMON | DK_WEIGHT16)
#define DK_CONTEXT (DK_COMMON | DK_TYPE | DK_DATA)
#define DK_FILTER (DK_COMMON | DK_LAYER | DK_SUBLAYER | DK_WEIGHT | DK_ACTION | DK_CALLOUT_KEY | DK_CONTEXT_KEY | DK_CONDITIONS)
#define DK_CONTEXT_TEMPLATE (DK_PROVIDER_KEY | DK_TYPE)
#define DK_FILTER_TEMPLATE (DK_PROVIDER_KEY | DK_LAYER | DK_SUBLAYER)

#define CONDITIONS_READ_MAX 1024

typedef struct DictIn {
        unsigned seen;
        BfeGuid key;
        const char *name, *description;
        uint32_t flags;
        BfeGuid provider_key;
        Blob provider_data;
        uint16_t weight16;
        uint32_t type;
        Blob data;
        const char *layer;
        BfeGuid sublayer;
        WeightKind weight_kind;
        uint64_t weight;
        uint32_t action;
        BfeGuid callout_key;
        BfeGuid context_key;
        ConditionSpec *conditions;
        size_t n_conditions;
} DictIn;

static void dict_in_done(DictIn *d) {
        free(d->conditions);
}

static const struct {
        const char *name;
        DictKey key;
        const char *signature;          /* NULL: checked by the reader (Weight) */
} dict_keys[] = {
        { "Key", DK_KEY, "s" },
        { "Name", DK_NAME, "s" },
        { "Description", DK_DESCRIPTION, "s" },
        { "Flags", DK_FLAGS, "u" },
        { "ProviderKey", DK_PROVIDER_KEY, "s" },
        { "ProviderData", DK_PROVIDER_DATA, "ay" },
        { "Weight", DK_WEIGHT16, "q" },
        { "Type", DK_TYPE, "u" },
        { "Data", DK_DATA, "ay" },
        { "Layer", DK_LAYER, "s" },
        { "SubLayer", DK_SUBLAYER, "s" },
        { "Weight", DK_WEIGHT, NULL },
        { "Action", DK_ACTION, "u" },
        { "CalloutKey", DK_CALLOUT_KEY, "s" },
        { "ProviderContextKey", DK_CONTEXT_KEY, "s" },
        { "Conditions", DK_CONDITIONS, "a(sus)" },
};

static int read_guid(sd_bus_message *m, const char *what, BfeGuid *ret, sd_bus_error *error) {
        const char *s;
        int r;

        r = sd_bus_message_read(m, "s", &s);
        if (r < 0)
                return r;
        if (!*s) {
                *ret = (BfeGuid) {};
                return 0;
        }
        if (guid_from_string(s, ret) < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "%s '%s' is not a GUID", what, s);
        return 0;
}

static int read_blob(sd_bus_message *m, Blob *ret) {
        const void *p;
        size_t n;
        int r;

        r = sd_bus_message_read_array(m, 'y', &p, &n);
        if (r < 0)
                return r;
        *ret = (Blob) { .data = (void *) p, .size = n };
        return 0;
}

static int read_conditions(sd_bus_message *m, DictIn *d, sd_bus_error *error) {
        size_t alloc = 0;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "(sus)");
        if (r < 0)
                return r;
        for (;;) {
                ConditionSpec c;

                r = sd_bus_message_read(m, "(sus)", &c.field, &c.match, &c.value);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                if (d->n_conditions >= CONDITIONS_READ_MAX)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Conditions: more than %d",
                                                 CONDITIONS_READ_MAX);
                if (d->n_conditions == alloc) {
                        ConditionSpec *n;
                        alloc = alloc ? alloc * 2 : 8;
                        n = realloc(d->conditions, alloc * sizeof(*n));
                        if (!n)
                                return -ENOMEM;
                        d->conditions = n;
                }
                d->conditions[d->n_conditions++] = c;
        }
        return sd_bus_message_exit_container(m);
}

static int read_value(sd_bus_message *m, DictKey k, const char *contents, DictIn *d, sd_bus_error *error) {
        switch (k) {
        case DK_KEY:
                return read_guid(m, "Key", &d->key, error);
        case DK_NAME:
                return sd_bus_message_read(m, "s", &d->name);
        case DK_DESCRIPTION:
                return sd_bus_message_read(m, "s", &d->description);
        case DK_FLAGS:
                return sd_bus_message_read(m, "u", &d->flags);
        case DK_PROVIDER_KEY:
                return read_guid(m, "ProviderKey", &d->provider_key, error);
        case DK_PROVIDER_DATA:
                return read_blob(m, &d->provider_data);
        case DK_WEIGHT16:
                return sd_bus_message_read(m, "q", &d->weight16);
        case DK_TYPE:
                return sd_bus_message_read(m, "u", &d->type);
        case DK_DATA:
                return read_blob(m, &d->data);
        case DK_LAYER:
                return sd_bus_message_read(m, "s", &d->layer);
        case DK_SUBLAYER:
                return read_guid(m, "SubLayer", &d->sublayer, error);
        case DK_WEIGHT:
                if (streq(contents, "y")) {
                        uint8_t v;
                        int r = sd_bus_message_read(m, "y", &v);
                        d->weight_kind = WEIGHT_RANGE;
                        d->weight = v;
                        return r;
                }
                if (streq(contents, "t")) {
                        d->weight_kind = WEIGHT_EXPLICIT;
                        return sd_bus_message_read(m, "t", &d->weight);
                }
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Key 'Weight' must hold y (range 0-15) or t (explicit), not '%s'", contents);
        case DK_ACTION:
                return sd_bus_message_read(m, "u", &d->action);
        case DK_CALLOUT_KEY:
                return read_guid(m, "CalloutKey", &d->callout_key, error);
        case DK_CONTEXT_KEY:
                return read_guid(m, "ProviderContextKey", &d->context_key, error);
        case DK_CONDITIONS:
                return read_conditions(m, d, error);
        }
        return -EINVAL;
}

/* Read an a{sv} whose keys must be among @allowed, checking each value's type. */
static int read_dict(sd_bus_message *m, unsigned allowed, DictIn *d, sd_bus_error *error) {
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *name, *contents;
                DictKey k = 0;
                const char *sig = NULL;

                r = sd_bus_message_read(m, "s", &name);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < ELEMENTSOF(dict_keys); i++)
                        if (streq(dict_keys[i].name, name) && (allowed & dict_keys[i].key)) {
                                k = dict_keys[i].key;
                                sig = dict_keys[i].signature;
                                break;
                        }
                if (!k)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Unknown key '%s'", name);
                if (d->seen & k)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Key '%s' given twice", name);

                r = sd_bus_message_peek_type(m, NULL, &contents);
                if (r < 0)
                        return r;
                if (sig && !streq(contents, sig))
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "Key '%s' must be of type '%s', not '%s'", name, sig, contents);
                r = sd_bus_message_enter_container(m, 'v', contents);
                if (r < 0)
                        return r;
                r = read_value(m, k, contents, d, error);
                if (r < 0)
                        return r;
                d->seen |= k;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

static int read_key_arg(sd_bus_message *m, BfeGuid *ret, sd_bus_error *error) {
        const char *s;
        int r;

        r = sd_bus_message_read(m, "s", &s);
        if (r < 0)
                return r;
        if (guid_from_string(s, ret) < 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "'%s' is not a GUID", s);
        return 0;
}

/* ---- writing dictionaries ------------------------------------------------------------------ */

static int put_string(sd_bus_message *reply, const char *key, const char *value) {
        return sd_bus_message_append(reply, "{sv}", key, "s", value ?: "");
}

static int put_guid(sd_bus_message *reply, const char *key, const BfeGuid *g) {
        char buf[GUID_STRING_MAX];

        return put_string(reply, key, guid_to_string(g, buf));
}

static int put_blob(sd_bus_message *reply, const char *key, const Blob *b) {
        int r;

        r = sd_bus_message_open_container(reply, 'e', "sv");
        if (r >= 0)
                r = sd_bus_message_append(reply, "s", key);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'v', "ay");
        if (r >= 0)
                r = sd_bus_message_append_array(reply, 'y', b->data, b->size);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        return r;
}

static int put_common(sd_bus_message *reply, const BfeGuid *key, const char *name, const char *description,
                      uint32_t flags, const Provider *provider, const Blob *provider_data) {
        int r;

        r = put_guid(reply, "Key", key);
        if (r >= 0)
                r = put_string(reply, "Name", name);
        if (r >= 0)
                r = put_string(reply, "Description", description);
        if (r >= 0)
                r = sd_bus_message_append(reply, "{sv}", "Flags", "u", flags);
        if (r >= 0 && provider)
                r = put_guid(reply, "ProviderKey", &provider->key);
        if (r >= 0 && provider_data->size > 0)
                r = put_blob(reply, "ProviderData", provider_data);
        return r;
}

static int append_provider(sd_bus_message *reply, const Provider *p) {
        int r;

        r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r >= 0)
                r = put_common(reply, &p->key, p->name, p->description, p->flags, NULL, &p->provider_data);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        return r;
}

static int append_sublayer(sd_bus_message *reply, const Sublayer *s) {
        int r;

        r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r >= 0)
                r = put_common(reply, &s->key, s->name, s->description, s->flags, s->provider, &s->provider_data);
        if (r >= 0)
                r = sd_bus_message_append(reply, "{sv}", "Weight", "q", s->weight);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        return r;
}

static int append_context(sd_bus_message *reply, const ProviderContext *c) {
        int r;

        r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r >= 0)
                r = put_common(reply, &c->key, c->name, c->description, c->flags, c->provider, &c->provider_data);
        if (r >= 0)
                r = sd_bus_message_append(reply, "{sv}{sv}", "Id", "t", c->id, "Type", "u", c->type);
        if (r >= 0)
                r = put_blob(reply, "Data", &c->data);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        return r;
}

static int append_filter(sd_bus_message *reply, const Filter *f) {
        const WfpLayerInfo *li = wfp_layer_info(f->layer);
        int r;

        r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r >= 0)
                r = put_common(reply, &f->key, f->name, f->description, f->flags, f->provider, &f->provider_data);
        if (r >= 0)
                r = sd_bus_message_append(reply, "{sv}{sv}{sv}", "Id", "t", f->id, "Layer", "s", li->name,
                                          "LayerKey", "s", li->guid);
        if (r >= 0)
                r = put_guid(reply, "SubLayer", &f->sublayer->key);
        if (r >= 0 && f->weight_kind == WEIGHT_RANGE)
                r = sd_bus_message_append(reply, "{sv}", "Weight", "y", (uint8_t) f->weight);
        if (r >= 0 && f->weight_kind == WEIGHT_EXPLICIT)
                r = sd_bus_message_append(reply, "{sv}", "Weight", "t", f->weight);
        if (r >= 0)
                r = sd_bus_message_append(reply, "{sv}{sv}{sv}", "EffectiveWeight", "t", f->effective_weight,
                                          "Action", "u", f->action, "EngineOwned", "b", (int) f->engine_owned);
        if (r >= 0 && f->context)
                r = put_guid(reply, "ProviderContextKey", &f->context->key);

        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'e', "sv");
        if (r >= 0)
                r = sd_bus_message_append(reply, "s", "Conditions");
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'v', "a(sus)");
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(sus)");
        for (size_t i = 0; r >= 0 && i < f->n_conditions; i++)
                r = sd_bus_message_append(reply, "(sus)", wfp_field_info(f->conditions[i].field)->name,
                                          (uint32_t) f->conditions[i].match, f->conditions[i].text);
        for (int i = 0; r >= 0 && i < 3; i++)
                r = sd_bus_message_close_container(reply);

        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        return r;
}

/* ---- handlers ------------------------------------------------------------------------------ */

/* Session or session-less: the object the call came in on. Checks the caller owns it. */
static int call_begin(sd_bus_message *msg, void *userdata, Session **ret, sd_bus_error *error) {
        Session *s = userdata;
        int r;

        r = session_check_caller(s, msg, error);
        if (r < 0)
                return r;
        *ret = s;
        return 0;
}


typedef struct AddCall {
        DictIn in;
        void *object;
} AddCall;

static void add_call_done(AddCall *c) {
        dict_in_done(&c->in);
}

static int change_add_provider(Manager *m, void *userdata, EngineError *err) {
        AddCall *c = userdata;
        ProviderSpec spec = {
                .key = c->in.key, .name = c->in.name, .description = c->in.description,
                .flags = c->in.flags, .provider_data = c->in.provider_data,
        };

        return engine_add_provider(m->engine, &spec, err, (Provider **) &c->object);
}

static int method_add_provider(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(add_call_done) AddCall c = {};
        char buf[GUID_STRING_MAX];
        Session *s;
        int r;

        r = read_dict(msg, DK_PROVIDER & ~DK_PROVIDER_KEY, &c.in, error);
        if (r < 0)
                return r;
        r = check_privileged(msg, error);
        if (r >= 0)
                r = call_begin(msg, userdata, &s, error);
        if (r >= 0)
                r = session_run_change(s, msg, method_add_provider, change_add_provider, &c, error);
        if (r != 0)
                return r;
        return session_reply(s, msg, "s", guid_to_string(&((Provider *) c.object)->key, buf));
}

static int change_add_context(Manager *m, void *userdata, EngineError *err) {
        AddCall *c = userdata;
        ProviderContextSpec spec = {
                .key = c->in.key, .name = c->in.name, .description = c->in.description,
                .flags = c->in.flags, .has_provider = c->in.seen & DK_PROVIDER_KEY,
                .provider_key = c->in.provider_key, .provider_data = c->in.provider_data,
                .type = c->in.type, .data = c->in.data,
        };

        return engine_add_provider_context(m->engine, &spec, err, (ProviderContext **) &c->object);
}

static int method_add_context(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(add_call_done) AddCall c = {};
        char buf[GUID_STRING_MAX];
        ProviderContext *pc;
        Session *s;
        int r;

        r = read_dict(msg, DK_CONTEXT, &c.in, error);
        if (r < 0)
                return r;
        if (!(c.in.seen & DK_TYPE))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Key 'Type' is required");
        r = check_privileged(msg, error);
        if (r >= 0)
                r = call_begin(msg, userdata, &s, error);
        if (r >= 0)
                r = session_run_change(s, msg, method_add_context, change_add_context, &c, error);
        if (r != 0)
                return r;
        pc = c.object;
        return session_reply(s, msg, "st", guid_to_string(&pc->key, buf), pc->id);
}

static int change_add_filter(Manager *m, void *userdata, EngineError *err) {
        AddCall *c = userdata;
        FilterSpec spec = {
                .key = c->in.key, .name = c->in.name, .description = c->in.description,
                .flags = c->in.flags, .has_provider = c->in.seen & DK_PROVIDER_KEY,
                .provider_key = c->in.provider_key, .provider_data = c->in.provider_data,
                .layer = c->in.layer, .sublayer_key = c->in.sublayer,
                .weight_kind = c->in.weight_kind, .weight = c->in.weight,
                .action = c->in.seen & DK_ACTION ? c->in.action : WFP_ACTION_PERMIT,
                .callout_key = c->in.callout_key,
                .has_context = c->in.seen & DK_CONTEXT_KEY, .context_key = c->in.context_key,
                .conditions = c->in.conditions, .n_conditions = c->in.n_conditions,
        };

        return engine_add_filter(m->engine, &spec, err, (Filter **) &c->object);
}

static int method_add_filter(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(add_call_done) AddCall c = {};
        char buf[GUID_STRING_MAX];
        Session *s;
        Filter *f;
        int r;

        r = read_dict(msg, DK_FILTER, &c.in, error);
        if (r < 0)
                return r;
        r = check_privileged(msg, error);
        if (r >= 0)
                r = call_begin(msg, userdata, &s, error);
        if (r >= 0)
                r = session_run_change(s, msg, method_add_filter, change_add_filter, &c, error);
        if (r != 0)
                return r;
        f = c.object;
        return session_reply(s, msg, "st", guid_to_string(&f->key, buf), f->id);
}

/* AddFilters: several filters in one call, all or none. */
typedef struct AddManyCall {
        AddCall *calls;
        size_t n;
} AddManyCall;

static void add_many_call_done(AddManyCall *c) {
        for (size_t i = 0; i < c->n; i++)
                add_call_done(&c->calls[i]);
        free(c->calls);
}

/* "filters[3]: " before the engine's message, cutting its end if need be */
static void prefix_message(EngineError *err, size_t index) {
        char prefix[32];
        size_t k, len;

        k = (size_t) snprintf(prefix, sizeof(prefix), "filters[%zu]: ", index);
        len = strnlen(err->message, sizeof(err->message) - 1);
        if (k + len >= sizeof(err->message))
                len = sizeof(err->message) - 1 - k;
        memmove(err->message + k, err->message, len);
        memcpy(err->message, prefix, k);
        err->message[k + len] = '\0';
}

static int change_add_filters(Manager *m, void *userdata, EngineError *err) {
        AddManyCall *c = userdata;
        size_t savepoint = engine_savepoint(m->engine);
        int r;

        for (size_t i = 0; i < c->n; i++) {
                r = change_add_filter(m, &c->calls[i], err);
                if (r < 0) {
                        engine_rollback_to(m->engine, savepoint);
                        prefix_message(err, i);
                        return r;
                }
        }
        return 0;
}

static int read_filters(sd_bus_message *msg, AddManyCall *c, sd_bus_error *error) {
        size_t allocated = 0;
        int r;

        r = sd_bus_message_enter_container(msg, 'a', "a{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_at_end(msg, false)) == 0) {
                if (c->n == ADD_FILTERS_MAX)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_LIMITS_EXCEEDED,
                                                 "At most %u filters per AddFilters call", ADD_FILTERS_MAX);
                if (c->n == allocated) {
                        size_t n = allocated ? allocated * 2 : 64;
                        AddCall *a = reallocarray(c->calls, n, sizeof(*a));
                        if (!a)
                                return -ENOMEM;
                        c->calls = a;
                        allocated = n;
                }
                c->calls[c->n] = (AddCall) {};
                c->n++;
                r = read_dict(msg, DK_FILTER, &c->calls[c->n - 1].in, error);
                if (r < 0) {
                        if (sd_bus_error_is_set(error)) {
                                _cleanup_(freep) char *message = NULL;

                                if (asprintf(&message, "filters[%zu]: %s", c->n - 1, error->message) >= 0) {
                                        _cleanup_(freep) char *name = strdup(error->name);

                                        sd_bus_error_free(error);
                                        return sd_bus_error_set(error, name ?: SD_BUS_ERROR_INVALID_ARGS, message);
                                }
                        }
                        return r;
                }
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(msg);
}

static int method_add_filters(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(add_many_call_done) AddManyCall c = {};
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        char buf[GUID_STRING_MAX];
        Session *s;
        int r;

        r = read_filters(msg, &c, error);
        if (r < 0)
                return r;
        r = check_privileged(msg, error);
        if (r >= 0)
                r = call_begin(msg, userdata, &s, error);
        if (r >= 0)
                r = session_run_change(s, msg, method_add_filters, change_add_filters, &c, error);
        if (r != 0)
                return r;

        r = sd_bus_message_new_method_return(msg, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(st)");
        for (size_t i = 0; r >= 0 && i < c.n; i++) {
                Filter *f = c.calls[i].object;
                r = sd_bus_message_append(reply, "(st)", guid_to_string(&f->key, buf), f->id);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return session_send_reply(s, msg, reply);
}

typedef struct DeleteCall {
        BfeGuid key;
        uint64_t id;
        int (*delete_by_key)(Engine *e, const BfeGuid *key, EngineError *err);
} DeleteCall;

static int change_delete_by_key(Manager *m, void *userdata, EngineError *err) {
        DeleteCall *d = userdata;

        return d->delete_by_key(m->engine, &d->key, err);
}

static int change_delete_filter_by_id(Manager *m, void *userdata, EngineError *err) {
        DeleteCall *d = userdata;

        return engine_delete_filter_by_id(m->engine, d->id, err);
}

static int delete_by_key(sd_bus_message *msg, void *userdata, sd_bus_error *error, sd_bus_message_handler_t self,
                         int (*func)(Engine *e, const BfeGuid *key, EngineError *err)) {
        DeleteCall d = { .delete_by_key = func };
        Session *s;
        int r;

        r = read_key_arg(msg, &d.key, error);
        if (r < 0)
                return r;
        r = check_privileged(msg, error);
        if (r >= 0)
                r = call_begin(msg, userdata, &s, error);
        if (r >= 0)
                r = session_run_change(s, msg, self, change_delete_by_key, &d, error);
        if (r != 0)
                return r;
        return session_reply(s, msg, NULL);
}

static int method_delete_provider(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return delete_by_key(msg, userdata, error, method_delete_provider, engine_delete_provider);
}

static int method_delete_context(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return delete_by_key(msg, userdata, error, method_delete_context, engine_delete_provider_context);
}

static int method_delete_filter_by_key(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return delete_by_key(msg, userdata, error, method_delete_filter_by_key, engine_delete_filter_by_key);
}

static int method_delete_filter_by_id(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        DeleteCall d = {};
        Session *s;
        int r;

        r = sd_bus_message_read(msg, "t", &d.id);
        if (r < 0)
                return r;
        r = check_privileged(msg, error);
        if (r >= 0)
                r = call_begin(msg, userdata, &s, error);
        if (r >= 0)
                r = session_run_change(s, msg, method_delete_filter_by_id, change_delete_filter_by_id, &d, error);
        if (r != 0)
                return r;
        return session_reply(s, msg, NULL);
}

static int change_add_sublayer(Manager *m, void *userdata, EngineError *err) {
        AddCall *c = userdata;
        SublayerSpec spec = {
                .key = c->in.key, .name = c->in.name, .description = c->in.description,
                .flags = c->in.flags, .has_provider = c->in.seen & DK_PROVIDER_KEY,
                .provider_key = c->in.provider_key, .provider_data = c->in.provider_data,
                .weight = c->in.weight16,
        };

        return engine_add_sublayer(m->engine, &spec, err, (Sublayer **) &c->object);
}

static int method_add_sublayer(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(add_call_done) AddCall c = {};
        char buf[GUID_STRING_MAX];
        Session *s;
        int r;

        r = read_dict(msg, DK_SUBLAYER_OBJECT, &c.in, error);
        if (r < 0)
                return r;
        r = check_privileged(msg, error);
        if (r >= 0)
                r = call_begin(msg, userdata, &s, error);
        if (r >= 0)
                r = session_run_change(s, msg, method_add_sublayer, change_add_sublayer, &c, error);
        if (r != 0)
                return r;
        return session_reply(s, msg, "s", guid_to_string(&((Sublayer *) c.object)->key, buf));
}

static int method_delete_sublayer(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return delete_by_key(msg, userdata, error, method_delete_sublayer, engine_delete_sublayer);
}

/* ---- reads --------------------------------------------------------------------------------- */

static int reply_one(sd_bus_message *msg, int (*append)(sd_bus_message *, const void *), const void *object) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_message_new_method_return(msg, &reply);
        if (r >= 0)
                r = append(reply, object);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int append_provider_v(sd_bus_message *reply, const void *o) {
        return append_provider(reply, o);
}
static int append_sublayer_v(sd_bus_message *reply, const void *o) {
        return append_sublayer(reply, o);
}
static int append_context_v(sd_bus_message *reply, const void *o) {
        return append_context(reply, o);
}
static int append_filter_v(sd_bus_message *reply, const void *o) {
        return append_filter(reply, o);
}

static int not_found(sd_bus_error *error, uint32_t code, const char *what, const char *which) {
        EngineError err;
        int r = engine_error(&err, code, "no %s %s", what, which);

        return bus_error_from_engine(error, r, &err);
}

/* The Get*ByKey methods differ only in what they look up and how they write it. */
typedef struct GetByKey {
        void *(*lookup)(const Engine *e, const BfeGuid *key);
        uint32_t not_found;
        const char *what;
        int (*append)(sd_bus_message *reply, const void *object);
} GetByKey;

static int get_by_key(sd_bus_message *msg, void *userdata, sd_bus_error *error, sd_bus_message_handler_t self,
                      const GetByKey *g) {
        Manager *m = ((Session *) userdata)->manager;
        BfeGuid key;
        void *object;
        int r;

        r = session_read_gate(userdata, msg, self);
        if (r != 0)
                return r;
        r = read_key_arg(msg, &key, error);
        if (r < 0)
                return r;
        object = g->lookup(m->engine, &key);
        if (!object)
                return not_found(error, g->not_found, g->what, guid_str(&key));
        return reply_one(msg, g->append, object);
}

static void *lookup_provider(const Engine *e, const BfeGuid *key) {
        return engine_get_provider(e, key);
}
static void *lookup_sublayer(const Engine *e, const BfeGuid *key) {
        return engine_get_sublayer(e, key);
}
static void *lookup_context(const Engine *e, const BfeGuid *key) {
        return engine_get_provider_context(e, key);
}
static void *lookup_filter(const Engine *e, const BfeGuid *key) {
        return engine_get_filter_by_key(e, key);
}

static int method_get_provider(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        static const GetByKey g = { lookup_provider, FWP_E_PROVIDER_NOT_FOUND, "provider", append_provider_v };
        return get_by_key(msg, userdata, error, method_get_provider, &g);
}

static int method_get_sublayer(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        static const GetByKey g = { lookup_sublayer, FWP_E_SUBLAYER_NOT_FOUND, "sublayer", append_sublayer_v };
        return get_by_key(msg, userdata, error, method_get_sublayer, &g);
}

static int method_get_context(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        static const GetByKey g = { lookup_context, FWP_E_PROVIDER_CONTEXT_NOT_FOUND, "provider context",
                                    append_context_v };
        return get_by_key(msg, userdata, error, method_get_context, &g);
}

static int method_get_filter_by_key(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        static const GetByKey g = { lookup_filter, FWP_E_FILTER_NOT_FOUND, "filter", append_filter_v };
        return get_by_key(msg, userdata, error, method_get_filter_by_key, &g);
}

static int method_get_filter_by_id(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = ((Session *) userdata)->manager;
        char which[32];
        uint64_t id;
        Filter *f;
        int r;

        r = session_read_gate(userdata, msg, method_get_filter_by_id);
        if (r != 0)
                return r;

        r = sd_bus_message_read(msg, "t", &id);
        if (r < 0)
                return r;
        f = engine_get_filter_by_id(m->engine, id);
        if (!f) {
                snprintf(which, sizeof(which), "with id %" PRIu64, id);
                return not_found(error, FWP_E_FILTER_NOT_FOUND, "filter", which);
        }
        return reply_one(msg, append_filter_v, f);
}

static int method_enum_providers(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Manager *m = ((Session *) userdata)->manager;
        int r;

        r = session_read_gate(userdata, msg, method_enum_providers);
        if (r != 0)
                return r;

        r = sd_bus_message_new_method_return(msg, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "a{sv}");
        for (Provider *p = engine_providers(m->engine); r >= 0 && p; p = p->next)
                r = append_provider(reply, p);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_enum_sublayers(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Manager *m = ((Session *) userdata)->manager;
        int r;

        r = session_read_gate(userdata, msg, method_enum_sublayers);
        if (r != 0)
                return r;

        r = sd_bus_message_new_method_return(msg, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "a{sv}");
        for (Sublayer *s = engine_sublayers(m->engine); r >= 0 && s; s = s->next)
                r = append_sublayer(reply, s);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_enum_contexts(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(dict_in_done) DictIn t = {};
        Manager *m = ((Session *) userdata)->manager;
        int r;

        r = session_read_gate(userdata, msg, method_enum_contexts);
        if (r != 0)
                return r;

        r = read_dict(msg, DK_CONTEXT_TEMPLATE, &t, error);
        if (r < 0)
                return r;
        r = sd_bus_message_new_method_return(msg, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "a{sv}");
        for (ProviderContext *c = engine_provider_contexts(m->engine); r >= 0 && c; c = c->next) {
                if ((t.seen & DK_TYPE) && c->type != t.type)
                        continue;
                if ((t.seen & DK_PROVIDER_KEY) && (!c->provider || !guid_equal(&c->provider->key, &t.provider_key)))
                        continue;
                r = append_context(reply, c);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

/* Sorted by layer, sublayer weight, effective weight (highest first). */
static int method_enum_filters(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(dict_in_done) DictIn t = {};
        Manager *m = ((Session *) userdata)->manager;
        WfpLayer only = _WFP_LAYER_MAX;
        int r;

        r = session_read_gate(userdata, msg, method_enum_filters);
        if (r != 0)
                return r;

        r = read_dict(msg, DK_FILTER_TEMPLATE, &t, error);
        if (r < 0)
                return r;
        if ((t.seen & DK_LAYER) && wfp_layer_from_string(t.layer, &only) < 0) {
                EngineError err;
                return bus_error_from_engine(error, engine_error(&err, FWP_E_LAYER_NOT_FOUND, "no layer '%s'", t.layer),
                                             &err);
        }

        r = sd_bus_message_new_method_return(msg, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "a{sv}");
        for (WfpLayer l = 0; r >= 0 && l < _WFP_LAYER_MAX; l++) {
                if (only != _WFP_LAYER_MAX && l != only)
                        continue;
                for (Sublayer *s = engine_sublayers(m->engine); r >= 0 && s; s = s->next) {
                        if ((t.seen & DK_SUBLAYER) && !guid_is_null(&t.sublayer) && !guid_equal(&s->key, &t.sublayer))
                                continue;
                        for (Filter *f = s->filters_head[l]; r >= 0 && f; f = f->lnext) {
                                if ((t.seen & DK_PROVIDER_KEY) &&
                                    (!f->provider || !guid_equal(&f->provider->key, &t.provider_key)))
                                        continue;
                                r = append_filter(reply, f);
                        }
                }
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

/* Explain: read-only, open to everyone. The packet is a{ss}: field name → value text. */
static int method_explain(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(explanation_done) Explanation x = {};
        Manager *m = ((Session *) userdata)->manager;
        const char *layer_name, *field, *value;
        EngineError err = {};
        Packet p = {};
        WfpLayer layer;
        int r;

        r = session_read_gate(userdata, msg, method_explain);
        if (r != 0)
                return r;

        r = sd_bus_message_read(msg, "s", &layer_name);
        if (r < 0)
                return r;
        if (wfp_layer_from_string(layer_name, &layer) < 0)
                return bus_error_from_engine(error, engine_error(&err, FWP_E_LAYER_NOT_FOUND, "no layer '%s'",
                                                                 layer_name), &err);
        if (!wfp_layer_is_emitted(layer))
                return bus_error_from_engine(error, engine_error(&err, FWP_E_INCOMPATIBLE_LAYER,
                                                                 "layer %s sees no packets", layer_name), &err);
        r = sd_bus_message_enter_container(msg, 'a', "{ss}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(msg, "{ss}", &field, &value)) > 0) {
                r = packet_set(&p, layer, field, value, &err);
                if (r == -ENOENT)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "Unknown packet field '%s'", field);
                if (r < 0)
                        return bus_error_from_engine(error, r, &err);
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(msg);
        if (r < 0)
                return r;

        r = engine_explain(m->engine, layer, &p, &x);
        if (r < 0)
                return r;

        r = sd_bus_message_new_method_return(msg, &reply);
        if (r >= 0)
                r = sd_bus_message_append(reply, "st", x.permit ? "permit" : "block",
                                          x.decided_by ? x.decided_by->id : UINT64_C(0));
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(sstss)");
        for (size_t i = 0; r >= 0 && i < x.n_steps; i++) {
                char buf[GUID_STRING_MAX];
                const ExplainStep *st = &x.steps[i];

                r = sd_bus_message_append(reply, "(sstss)", guid_to_string(&st->sublayer->key, buf), st->sublayer->name,
                                          st->filter ? st->filter->id : UINT64_C(0), st->filter ? st->filter->name : "",
                                          outcome_to_string(st->outcome));
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

/* ---- properties and signals --------------------------------------------------------------- */

static int property_exemptions_active(sd_bus *bus, const char *path, const char *interface, const char *property,
                                      sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = ((Session *) userdata)->manager;

        /* as committed: an open transaction is nobody else's business */
        return sd_bus_message_append(reply, "b", (int) m->exemptions_announced);
}

static int property_version(sd_bus *bus, const char *path, const char *interface, const char *property,
                            sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", BFED_VERSION);
}

static int property_table(sd_bus *bus, const char *path, const char *interface, const char *property,
                          sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = ((Session *) userdata)->manager;

        return sd_bus_message_append(reply, "s", m->config.nft.table);
}

static int property_filter_count(sd_bus *bus, const char *path, const char *interface, const char *property,
                                 sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = ((Session *) userdata)->manager;

        return sd_bus_message_append(reply, "u", (uint32_t) m->committed_filters);
}

/* Changed for every journalled change; called after the kernel applied them, before the
 * engine frees the deleted objects. */
/*
 * The Changed signals of a commit are built when it is in the kernel and sent right after the
 * reply to the call that made it (the emit source runs before the bus's next message): a
 * caller's answer does not wait behind the signals in dbus-daemon's queue.
 */
void bus_engine_queue_changes(Manager *m) {
        const Change *changes;
        size_t n;

        changes = engine_changes(m->engine, &n);
        if (n > 0 && m->n_signals + n > m->n_signals_alloc) {
                size_t want = m->n_signals + n;
                sd_bus_message **a = reallocarray(m->signals, want, sizeof(*a));
                if (!a) {
                        log_error("Out of memory: %zu Changed signals are not sent.", n);
                        return;
                }
                m->signals = a;
                m->n_signals_alloc = want;
        }
        for (size_t i = 0; i < n; i++) {
                const Change *c = &changes[i];
                const BfeGuid *key = NULL;
                char buf[GUID_STRING_MAX];
                uint64_t id = 0;

                switch (c->kind) {
                case OBJECT_PROVIDER:
                        key = &((Provider *) c->object)->key;
                        break;
                case OBJECT_SUBLAYER:
                        key = &((Sublayer *) c->object)->key;
                        break;
                case OBJECT_PROVIDER_CONTEXT:
                        key = &((ProviderContext *) c->object)->key;
                        id = ((ProviderContext *) c->object)->id;
                        break;
                case OBJECT_FILTER:
                        key = &((Filter *) c->object)->key;
                        id = ((Filter *) c->object)->id;
                        break;
                case _OBJECT_KIND_MAX:
                        continue;
                }
                sd_bus_message *signal = NULL;
                int r = sd_bus_message_new_signal(m->bus, &signal, ENGINE_PATH, ENGINE_IFACE, "Changed");
                if (r >= 0)
                        r = sd_bus_message_append(signal, "sust", object_kind_to_string(c->kind), (uint32_t) c->type,
                                                  guid_to_string(key, buf), id);
                if (r < 0) {
                        sd_bus_message_unref(signal);
                        log_error_errno(r, "Failed to build a Changed signal: %m");
                        continue;
                }
                m->signals[m->n_signals++] = signal;
        }
        if (m->n_signals > 0 || m->exemptions_changed)
                (void) sd_event_source_set_enabled(m->emit, SD_EVENT_ONESHOT);
}

void bus_engine_send_changes(Manager *m) {
        size_t n = m->n_signals;

        for (size_t i = 0; i < n; i++) {
                (void) sd_bus_send(m->bus, m->signals[i], NULL);
                sd_bus_message_unref(m->signals[i]);
        }
        m->n_signals = 0;
        /* a big commit's batch, answers and signals are gone: give their memory back */
        if (n >= TRIM_AFTER_SIGNALS) {
                (void) sd_bus_flush(m->bus);
                (void) malloc_trim(0);
        }
        if (m->exemptions_changed) {
                m->exemptions_changed = false;
                (void) sd_bus_emit_properties_changed(m->bus, ENGINE_PATH, ENGINE_IFACE, "ExemptionsActive", NULL);
        }
}

static int on_emit(sd_event_source *source, void *userdata) {
        bus_engine_send_changes(userdata);
        return 0;
}

/* The object methods, served on the engine object and on every session object. */
#define OBJECT_METHODS \
        SD_BUS_METHOD_WITH_ARGS("AddProvider", SD_BUS_ARGS("a{sv}", provider), SD_BUS_RESULT("s", key), \
                                method_add_provider, SD_BUS_VTABLE_UNPRIVILEGED), \
        SD_BUS_METHOD_WITH_ARGS("DeleteProvider", SD_BUS_ARGS("s", key), SD_BUS_NO_RESULT, \
                                method_delete_provider, SD_BUS_VTABLE_UNPRIVILEGED), \
        SD_BUS_METHOD_WITH_ARGS("GetProvider", SD_BUS_ARGS("s", key), SD_BUS_RESULT("a{sv}", provider), \
                                method_get_provider, SD_BUS_VTABLE_UNPRIVILEGED), \
        SD_BUS_METHOD_WITH_ARGS("EnumProviders", SD_BUS_NO_ARGS, SD_BUS_RESULT("aa{sv}", providers), \
                                method_enum_providers, SD_BUS_VTABLE_UNPRIVILEGED), \
 \
        SD_BUS_METHOD_WITH_ARGS("AddSubLayer", SD_BUS_ARGS("a{sv}", sublayer), SD_BUS_RESULT("s", key), \
                                method_add_sublayer, SD_BUS_VTABLE_UNPRIVILEGED), \
        SD_BUS_METHOD_WITH_ARGS("DeleteSubLayer", SD_BUS_ARGS("s", key), SD_BUS_NO_RESULT, \
                                method_delete_sublayer, SD_BUS_VTABLE_UNPRIVILEGED), \
        SD_BUS_METHOD_WITH_ARGS("GetSubLayer", SD_BUS_ARGS("s", key), SD_BUS_RESULT("a{sv}", sublayer), \
                                method_get_sublayer, SD_BUS_VTABLE_UNPRIVILEGED), \
        SD_BUS_METHOD_WITH_ARGS("EnumSubLayers", SD_BUS_NO_ARGS, SD_BUS_RESULT("aa{sv}", sublayers), \
                                method_enum_sublayers, SD_BUS_VTABLE_UNPRIVILEGED), \
 \
        SD_BUS_METHOD_WITH_ARGS("AddProviderContext", SD_BUS_ARGS("a{sv}", context), SD_BUS_RESULT("s", key, "t", id), \
                                method_add_context, SD_BUS_VTABLE_UNPRIVILEGED), \
        SD_BUS_METHOD_WITH_ARGS("DeleteProviderContext", SD_BUS_ARGS("s", key), SD_BUS_NO_RESULT, \
                                method_delete_context, SD_BUS_VTABLE_UNPRIVILEGED), \
        SD_BUS_METHOD_WITH_ARGS("GetProviderContext", SD_BUS_ARGS("s", key), SD_BUS_RESULT("a{sv}", context), \
                                method_get_context, SD_BUS_VTABLE_UNPRIVILEGED), \
        SD_BUS_METHOD_WITH_ARGS("EnumProviderContexts", SD_BUS_ARGS("a{sv}", template), SD_BUS_RESULT("aa{sv}", contexts), \
                                method_enum_contexts, SD_BUS_VTABLE_UNPRIVILEGED), \
 \
        SD_BUS_METHOD_WITH_ARGS("AddFilter", SD_BUS_ARGS("a{sv}", filter), SD_BUS_RESULT("s", key, "t", id), \
                                method_add_filter, SD_BUS_VTABLE_UNPRIVILEGED), \
        SD_BUS_METHOD_WITH_ARGS("AddFilters", SD_BUS_ARGS("aa{sv}", filters), SD_BUS_RESULT("a(st)", added), \
                                method_add_filters, SD_BUS_VTABLE_UNPRIVILEGED), \
        SD_BUS_METHOD_WITH_ARGS("DeleteFilterByKey", SD_BUS_ARGS("s", key), SD_BUS_NO_RESULT, \
                                method_delete_filter_by_key, SD_BUS_VTABLE_UNPRIVILEGED), \
        SD_BUS_METHOD_WITH_ARGS("DeleteFilterById", SD_BUS_ARGS("t", id), SD_BUS_NO_RESULT, \
                                method_delete_filter_by_id, SD_BUS_VTABLE_UNPRIVILEGED), \
        SD_BUS_METHOD_WITH_ARGS("GetFilterByKey", SD_BUS_ARGS("s", key), SD_BUS_RESULT("a{sv}", filter), \
                                method_get_filter_by_key, SD_BUS_VTABLE_UNPRIVILEGED), \
        SD_BUS_METHOD_WITH_ARGS("GetFilterById", SD_BUS_ARGS("t", id), SD_BUS_RESULT("a{sv}", filter), \
                                method_get_filter_by_id, SD_BUS_VTABLE_UNPRIVILEGED), \
        SD_BUS_METHOD_WITH_ARGS("EnumFilters", SD_BUS_ARGS("a{sv}", template), SD_BUS_RESULT("aa{sv}", filters), \
                                method_enum_filters, SD_BUS_VTABLE_UNPRIVILEGED), \
 \
        SD_BUS_METHOD_WITH_ARGS("Explain", SD_BUS_ARGS("s", layer, "a{ss}", packet), \
                                SD_BUS_RESULT("s", verdict, "t", filter_id, "a(sstss)", trace), \
                                method_explain, SD_BUS_VTABLE_UNPRIVILEGED), \


static int method_open_session(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = ((Session *) userdata)->manager;
        const char *name = NULL, *description = NULL;
        uint32_t timeout_ms = 0;
        int dynamic = false, r;
        Session *s;

        r = sd_bus_message_enter_container(msg, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(msg, 'e', "sv")) > 0) {
                const char *key, *contents;

                r = sd_bus_message_read(msg, "s", &key);
                if (r < 0)
                        return r;
                r = sd_bus_message_peek_type(msg, NULL, &contents);
                if (r < 0)
                        return r;
                if ((streq(key, "Name") || streq(key, "Description")) && streq(contents, "s"))
                        r = sd_bus_message_read(msg, "v", "s", streq(key, "Name") ? &name : &description);
                else if (streq(key, "Dynamic") && streq(contents, "b"))
                        r = sd_bus_message_read(msg, "v", "b", &dynamic);
                else if (streq(key, "TransactionTimeoutMSec") && streq(contents, "u"))
                        r = sd_bus_message_read(msg, "v", "u", &timeout_ms);
                else
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "Unknown session option '%s' or wrong type '%s'", key, contents);
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(msg);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(msg);
        if (r < 0)
                return r;

        r = session_open(m, msg, dynamic, timeout_ms, name, description, &s);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(msg, "o", s->path);
}

static const sd_bus_vtable engine_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("ExemptionsActive", "b", property_exemptions_active, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Version", "s", property_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Table", "s", property_table, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("FilterCount", "u", property_filter_count, 0, 0),
        SD_BUS_METHOD_WITH_ARGS("OpenSession", SD_BUS_ARGS("a{sv}", options), SD_BUS_RESULT("o", session),
                                method_open_session, SD_BUS_VTABLE_UNPRIVILEGED),
        OBJECT_METHODS
        SD_BUS_SIGNAL_WITH_ARGS("Changed", SD_BUS_ARGS("s", kind, "u", change, "s", key, "t", id), 0),
        SD_BUS_VTABLE_END,
};

static const sd_bus_vtable session_object_vtable[] = {
        SD_BUS_VTABLE_START(0),
        OBJECT_METHODS
        SD_BUS_VTABLE_END,
};

int bus_engine_setup(Manager *m) {
        int r;

        r = sd_bus_open_system(&m->bus);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the system bus: %m");
        r = sd_bus_attach_event(m->bus, m->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_error_errno(r, "Failed to attach the bus to the event loop: %m");
        r = sd_event_add_defer(m->event, &m->emit, on_emit, m);
        if (r >= 0)
                r = sd_event_source_set_priority(m->emit, SD_EVENT_PRIORITY_NORMAL - 1);
        if (r >= 0)
                r = sd_event_source_set_enabled(m->emit, SD_EVENT_OFF);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the signal queue: %m");
        r = sessions_setup(m);
        if (r >= 0)
                r = group_setup(m);
        if (r < 0)
                return log_error_errno(r, "Failed to set up sessions: %m");
        r = sd_bus_add_object_vtable(m->bus, NULL, ENGINE_PATH, ENGINE_IFACE, engine_vtable, &m->anonymous);
        if (r < 0)
                return log_error_errno(r, "Failed to register %s: %m", ENGINE_PATH);
        r = sd_bus_add_fallback_vtable(m->bus, NULL, SESSION_PATH_PREFIX, ENGINE_IFACE, session_object_vtable,
                                       session_bus_find, m);
        if (r < 0)
                return log_error_errno(r, "Failed to register the session objects: %m");
        r = sd_bus_request_name(m->bus, BUS_NAME, 0);
        if (r < 0)
                return log_error_errno(r, "Failed to own the bus name %s: %m", BUS_NAME);
        log_info("Serving %s on the system bus.", BUS_NAME);
        return 0;
}
