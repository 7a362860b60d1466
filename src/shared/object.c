/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* object.c — the field tables of the four object kinds, and the text forms of values. See object.h. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "object.h"

#define COMMON_FIELDS(T)                                                                                  \
        { "Key", FIELD_KEY, offsetof(T, key), 0, "key", "Key", "key", 0 },                                \
        { "Name", FIELD_STRING, offsetof(T, name), 0, "name", "Name", "name", 0 },                         \
        { "Description", FIELD_STRING, offsetof(T, description), 0, "description", "Description",         \
          "description", 0 },                                                                             \
        { "Flags", FIELD_FLAGS, offsetof(T, flags), 0, "flags", "Flags", "flags", 0 }

#define PROVIDER_FIELDS(T)                                                                                \
        { "ProviderKey", FIELD_KEY, offsetof(T, provider_key), 0, "provider", "Provider", "provider_key", 0 }

#define PROVIDER_DATA_FIELD(T)                                                                            \
        { "ProviderData", FIELD_BLOB, offsetof(T, provider_data), 0, "data", "Provider data",              \
          "provider_data", 0 }

/* The order is bfectl's display order and the state file's field order. */
static const Field provider_fields[] = {
        COMMON_FIELDS(BfeProvider),
        PROVIDER_DATA_FIELD(BfeProvider),
};

static const Field sublayer_fields[] = {
        COMMON_FIELDS(BfeSublayer),
        PROVIDER_FIELDS(BfeSublayer),
        PROVIDER_DATA_FIELD(BfeSublayer),
        { "Weight", FIELD_U16, offsetof(BfeSublayer, weight), 0, "weight", "Weight", "weight", FIELD_ALWAYS },
};

static const Field context_fields[] = {
        COMMON_FIELDS(BfeProviderContext),
        { "Id", FIELD_U64, offsetof(BfeProviderContext, id), 0, NULL, "Id", "id", FIELD_OUT },
        PROVIDER_FIELDS(BfeProviderContext),
        PROVIDER_DATA_FIELD(BfeProviderContext),
        { "Type", FIELD_CONTEXT_TYPE, offsetof(BfeProviderContext, type), 0, "type", "Type", "type", FIELD_ALWAYS },
        { "Data", FIELD_BLOB, offsetof(BfeProviderContext, data), 0, "context-data", "Data", "data", 0 },
        { "PolicyFlags", FIELD_U32, offsetof(BfeProviderContext, policy_flags), 0, "policy-flags",
          "Policy flags", "policy_flags", FIELD_HEX | FIELD_RARE },
};

static const Field filter_fields[] = {
        COMMON_FIELDS(BfeFilter),
        { "Id", FIELD_U64, offsetof(BfeFilter, id), 0, NULL, "Id", "id", FIELD_OUT },
        PROVIDER_FIELDS(BfeFilter),
        PROVIDER_DATA_FIELD(BfeFilter),
        { "Layer", FIELD_STRING, offsetof(BfeFilter, layer), 0, "layer", "Layer", "layer", 0 },
        { "LayerKey", FIELD_KEY, offsetof(BfeFilter, layer_key), 0, NULL, "Layer key", "layer_key", FIELD_OUT },
        { "SubLayer", FIELD_KEY, offsetof(BfeFilter, sublayer_key), 0, "sublayer", "Sublayer", "sublayer_key",
          FIELD_SUBLAYER_NAME },
        { "Weight", FIELD_WEIGHT, offsetof(BfeFilter, weight), offsetof(BfeFilter, weight_kind), "weight",
          "Weight", "weight", 0 },
        { "EffectiveWeight", FIELD_U64, offsetof(BfeFilter, effective_weight), 0, NULL, "Effective weight",
          "effective_weight", FIELD_OUT | FIELD_HEX },
        { "Action", FIELD_ACTION, offsetof(BfeFilter, action), 0, "action", "Action", "action", 0 },
        { "CalloutKey", FIELD_KEY, offsetof(BfeFilter, callout_key), 0, "callout", "Callout", "callout_key", 0 },
        { "ProviderContextKey", FIELD_KEY, offsetof(BfeFilter, provider_context_key), 0, "context",
          "Provider context", "provider_context_key", 0 },
        { "RawContext", FIELD_U64, offsetof(BfeFilter, raw_context), 0, "raw-context", "Raw context",
          "raw_context", FIELD_HEX | FIELD_RARE },
        { "EngineOwned", FIELD_BOOL, offsetof(BfeFilter, engine_owned), 0, NULL, "Engine owned", "engine_owned",
          FIELD_OUT },
        { "Conditions", FIELD_CONDITIONS, offsetof(BfeFilter, conditions), offsetof(BfeFilter, n_conditions),
          "condition", "Conditions", "conditions", 0 },
};

static const ObjectInfo objects[_OBJECT_KIND_MAX] = {
        [OBJECT_PROVIDER] = { OBJECT_PROVIDER, "provider", "Provider", "provider", sizeof(BfeProvider),
                              provider_fields, ELEMENTSOF(provider_fields) },
        [OBJECT_SUBLAYER] = { OBJECT_SUBLAYER, "sublayer", "SubLayer", "sublayer", sizeof(BfeSublayer), sublayer_fields,
                              ELEMENTSOF(sublayer_fields) },
        [OBJECT_PROVIDER_CONTEXT] = { OBJECT_PROVIDER_CONTEXT, "providercontext", "ProviderContext", "provider context",
                                      sizeof(BfeProviderContext), context_fields, ELEMENTSOF(context_fields) },
        [OBJECT_FILTER] = { OBJECT_FILTER, "filter", "Filter", "filter", sizeof(BfeFilter), filter_fields,
                            ELEMENTSOF(filter_fields) },
};

const ObjectInfo *object_info(ObjectKind kind) {
        return (unsigned) kind < _OBJECT_KIND_MAX ? &objects[kind] : NULL;
}

const char *object_kind_to_string(ObjectKind kind) {
        const ObjectInfo *o = object_info(kind);

        return o ? o->name : NULL;
}

int object_kind_from_name(const char *name, ObjectKind *ret) {
        for (size_t i = 0; i < _OBJECT_KIND_MAX; i++)
                if (streq(objects[i].name, name)) {
                        *ret = (ObjectKind) i;
                        return 0;
                }
        return -ENOENT;
}

const Field *object_field_by_bus(const ObjectInfo *o, const char *key) {
        /* for every key of every dictionary a caller sends: the first letter first */
        for (size_t i = 0; i < o->n_fields; i++)
                if (o->fields[i].bus[0] == key[0] && streq(o->fields[i].bus, key))
                        return &o->fields[i];
        return NULL;
}

uint64_t field_number(const Field *f, const void *obj) {
        const void *p = field_ptr(f, obj);

        switch (f->type) {
        case FIELD_BOOL:
                return *(const bool *) p;
        case FIELD_U16:
                return *(const uint16_t *) p;
        case FIELD_U64:
                return *(const uint64_t *) p;
        default:
                return *(const uint32_t *) p;
        }
}

static void conditions_free(BfeCondition *c, size_t n, bool owned) {
        if (owned)
                for (size_t i = 0; i < n; i++) {
                        free(c[i].field);
                        free(c[i].value);
                }
        free(c);
}

static void object_free_fields(const ObjectInfo *o, void *obj, bool owned) {
        for (size_t i = 0; i < o->n_fields; i++) {
                const Field *f = &o->fields[i];
                void *p = field_ptr(f, obj);

                /* only these own memory; the other types are values */
                if (f->type == FIELD_STRING && owned)
                        free(*(char **) p);
                else if (f->type == FIELD_BLOB && owned)
                        free(((BfeBlob *) p)->data);
                else if (f->type == FIELD_CONDITIONS)
                        conditions_free(*(BfeCondition **) p, *(size_t *) ((uint8_t *) obj + f->offset_n), owned);
        }
        memset(obj, 0, o->size);
}

void object_done(const ObjectInfo *o, void *obj) {
        object_free_fields(o, obj, true);
}

void object_done_borrowed(const ObjectInfo *o, void *obj) {
        object_free_fields(o, obj, false);
}

/*
 * D-Bus marshalling: an a{sv} entry is 8-aligned; its key is a string (4 + len + 1), the
 * variant's signature at most 1 + 6 + 1 bytes, then the value, aligned to at most 8. So 32
 * bytes plus the key plus the value bound an entry; 8 more cover the array's own padding.
 */
#define ENTRY_OVERHEAD 32
#define STRING_SIZE(s) (4 + ((s) ? strlen(s) : 0) + 1 + 3)

size_t object_wire_size(const ObjectInfo *o, const void *obj) {
        size_t n = 8;

        for (size_t i = 0; i < o->n_fields; i++) {
                const Field *f = &o->fields[i];
                const void *p = field_ptr(f, obj);

                n += ENTRY_OVERHEAD + strlen(f->bus);
                if (f->type == FIELD_STRING)
                        n += STRING_SIZE(*(char *const *) p);
                else if (f->type == FIELD_KEY)
                        n += STRING_SIZE("00000000-0000-0000-0000-000000000000");
                else if (f->type == FIELD_BLOB)
                        n += 4 + ((const BfeBlob *) p)->size;
                else if (f->type == FIELD_CONDITIONS) {
                        const BfeCondition *c = *(BfeCondition *const *) p;
                        size_t k = *(const size_t *) ((const uint8_t *) obj + f->offset_n);

                        n += 8;
                        for (size_t j = 0; j < k; j++)
                                n += 8 + STRING_SIZE(c[j].field) + 4 + STRING_SIZE(c[j].value);
                } else
                        n += 8;         /* a number, at most 8 bytes */
        }
        return n;
}

/* ---- text forms ----------------------------------------------------------------------------- */

int text_parse_u64(const char *s, int base, uint64_t max, uint64_t *ret) {
        unsigned long long v;
        char *end;

        /* strtoull() takes a sign and leading blanks; a value here is a plain number */
        if (!s || !isdigit((unsigned char) s[0]))
                return -EINVAL;
        /* base 0 is decimal or 0x-hex, never octal: "010" is ten, as a person means it; hex
         * may start with one 0x */
        if ((base == 0 || base == 16) && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
                base = 16;
                s += 2;
        } else if (base == 0)
                base = 10;
        /* and only digits: strtoull() would also take a second "0x" in hex */
        if (!s[0] || s[strspn(s, base == 16 ? "0123456789abcdefABCDEF" : "0123456789")] != 0)
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, base);
        if (errno != 0)
                return -errno;
        if (*end != 0)
                return -EINVAL;
        if (v > max)
                return -ERANGE;
        *ret = (uint64_t) v;
        return 0;
}

const char *action_to_string(uint32_t action) {
        switch (action) {
        case BFE_ACTION_BLOCK:
                return "block";
        case BFE_ACTION_PERMIT:
                return "permit";
        case BFE_ACTION_CALLOUT_TERMINATING:
                return "callout";
        }
        return NULL;
}

int action_from_string(const char *s, uint32_t *ret) {
        uint64_t v;

        if (!s)
                return -EINVAL;
        if (strcaseeq(s, "block"))
                *ret = BFE_ACTION_BLOCK;
        else if (strcaseeq(s, "permit"))
                *ret = BFE_ACTION_PERMIT;
        else if (strcaseeq(s, "callout") || strcaseeq(s, "callout-terminating"))
                *ret = BFE_ACTION_CALLOUT_TERMINATING;
        else if (text_parse_u64(s, 0, UINT32_MAX, &v) >= 0)
                *ret = (uint32_t) v;
        else
                return -EINVAL;
        return 0;
}

char *weight_to_string(BfeWeightKind kind, uint64_t value, char buf[static WEIGHT_STRING_MAX]) {
        switch (kind) {
        case BFE_WEIGHT_AUTO:
                return strcpy(buf, "auto");
        case BFE_WEIGHT_RANGE:
                (void) snprintf(buf, WEIGHT_STRING_MAX, "range:%" PRIu64, value);
                return buf;
        case BFE_WEIGHT_EXPLICIT:
                (void) snprintf(buf, WEIGHT_STRING_MAX, "explicit:%" PRIu64, value);
                return buf;
        }
        (void) snprintf(buf, WEIGHT_STRING_MAX, "unknown:%" PRIu64, value);
        return buf;
}

int weight_from_string(const char *s, BfeWeightKind *ret_kind, uint64_t *ret_value) {
        uint64_t v;
        int r;

        if (!s)
                return -EINVAL;
        if (strcaseeq(s, "auto")) {
                *ret_kind = BFE_WEIGHT_AUTO;
                *ret_value = 0;
                return 0;
        }
        if (s[0] == '=' || strncasecmp(s, "explicit:", 9) == 0) {
                r = text_parse_u64(s[0] == '=' ? s + 1 : s + 9, 0, UINT64_MAX, &v);
                if (r < 0)
                        return r;
                *ret_kind = BFE_WEIGHT_EXPLICIT;
                *ret_value = v;
                return 0;
        }
        r = text_parse_u64(strncasecmp(s, "range:", 6) == 0 ? s + 6 : s, 0, 15, &v);
        if (r < 0)
                return r;
        *ret_kind = BFE_WEIGHT_RANGE;
        *ret_value = v;
        return 0;
}

char *blob_to_hex(const BfeBlob *b) {
        static const char hex[] = "0123456789abcdef";
        char *s;

        s = malloc(2 * b->size + 1);
        if (!s)
                return NULL;
        for (size_t i = 0; i < b->size; i++) {
                s[2 * i] = hex[b->data[i] >> 4];
                s[2 * i + 1] = hex[b->data[i] & 15];
        }
        s[2 * b->size] = 0;
        return s;
}

int blob_from_hex(const char *s, BfeBlob *ret) {
        uint8_t *data = NULL;
        size_t len;

        if (!s)
                return -EINVAL;
        if (strncasecmp(s, "0x", 2) == 0)
                s += 2;
        len = strlen(s);
        if (len % 2 != 0)
                return -EINVAL;
        if (len > 0) {
                data = malloc(len / 2);
                if (!data)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < len / 2; i++) {
                int hi = unhexchar(s[2 * i]), lo = unhexchar(s[2 * i + 1]);

                if (hi < 0 || lo < 0) {
                        free(data);
                        return -EINVAL;
                }
                data[i] = (uint8_t) (hi << 4 | lo);
        }
        *ret = (BfeBlob) { .data = data, .size = len / 2 };
        return 0;
}
