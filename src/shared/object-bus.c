/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* object-bus.c — objects as a{sv}, from the field tables. See object-bus.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "guid.h"
#include "macro.h"
#include "object-bus.h"
#include "string-util.h"
#include "wfp.h"

static const char *field_signature(const Field *f) {
        switch (f->type) {
        case FIELD_STRING:
        case FIELD_KEY:
                return "s";
        case FIELD_U16:
                return "q";
        case FIELD_U32:
        case FIELD_FLAGS:
        case FIELD_CONTEXT_TYPE:
        case FIELD_ACTION:
                return "u";
        case FIELD_U64:
                return "t";
        case FIELD_BOOL:
                return "b";
        case FIELD_BLOB:
                return "ay";
        case FIELD_WEIGHT:
                return NULL;            /* y or t */
        case FIELD_CONDITIONS:
                return "a(sus)";
        }
        return NULL;
}

/* ---- writing ------------------------------------------------------------------------------- */

static int append_entry_open(sd_bus_message *m, const char *key, const char *signature) {
        int r;

        r = sd_bus_message_open_container(m, 'e', "sv");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", key);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'v', signature);
        return r;
}

static int append_entry_close(sd_bus_message *m) {
        int r = sd_bus_message_close_container(m);

        return r < 0 ? r : sd_bus_message_close_container(m);
}

static int append_blob(sd_bus_message *m, const char *key, const BfeBlob *b) {
        int r = append_entry_open(m, key, "ay");

        if (r >= 0)
                r = sd_bus_message_append_array(m, 'y', b->data, b->size);
        return r < 0 ? r : append_entry_close(m);
}

static int append_conditions(sd_bus_message *m, const char *key, const BfeCondition *c, size_t n) {
        int r = append_entry_open(m, key, "a(sus)");

        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "(sus)");
        for (size_t i = 0; r >= 0 && i < n; i++) {
                if (!c[i].field || !c[i].value)
                        return -EINVAL;
                r = sd_bus_message_open_container(m, 'r', "sus");
                if (r >= 0)
                        r = sd_bus_message_append_basic(m, 's', c[i].field);
                if (r >= 0)
                        r = sd_bus_message_append_basic(m, 'u', &c[i].match);
                if (r >= 0)
                        r = sd_bus_message_append_basic(m, 's', c[i].value);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r < 0 ? r : append_entry_close(m);
}

/* One {sv} entry of a basic value: the basic calls, as the reader's (no format string to parse
 * for every field of every object). */
static int append_basic_entry(sd_bus_message *m, const char *key, char type, const void *v) {
        char signature[2] = { type, 0 };
        int r = append_entry_open(m, key, signature);

        if (r >= 0)
                r = sd_bus_message_append_basic(m, type, v);
        return r < 0 ? r : append_entry_close(m);
}

static int append_field(sd_bus_message *m, const Field *f, const void *obj, ObjectWriteMode mode) {
        const void *p = field_ptr(f, obj);
        bool all = mode == OBJECT_WRITE_REPLY || (f->flags & FIELD_ALWAYS);
        char buf[GUID_STRING_MAX];

        switch (f->type) {
        case FIELD_STRING: {
                const char *s = *(char *const *) p;

                if (!s && !all)
                        return 0;
                return append_basic_entry(m, f->bus, 's', s ?: "");
        }
        case FIELD_KEY:
                if (guid_is_null(p))
                        return 0;
                return append_basic_entry(m, f->bus, 's', guid_to_string(p, buf));
        case FIELD_U16:
                return *(const uint16_t *) p || all ? append_basic_entry(m, f->bus, 'q', p) : 0;
        case FIELD_U32:
        case FIELD_FLAGS:
        case FIELD_CONTEXT_TYPE:
        case FIELD_ACTION:
                return *(const uint32_t *) p || all ? append_basic_entry(m, f->bus, 'u', p) : 0;
        case FIELD_U64:
                return *(const uint64_t *) p || all ? append_basic_entry(m, f->bus, 't', p) : 0;
        case FIELD_BOOL: {
                int v = *(const bool *) p;

                return v || all ? append_basic_entry(m, f->bus, 'b', &v) : 0;
        }
        case FIELD_BLOB: {
                const BfeBlob *b = p;

                return b->size > 0 || all ? append_blob(m, f->bus, b) : 0;
        }
        case FIELD_WEIGHT: {
                BfeWeightKind kind = *(const BfeWeightKind *) ((const uint8_t *) obj + f->offset_n);
                uint64_t v = *(const uint64_t *) p;
                uint8_t range;

                switch (kind) {
                case BFE_WEIGHT_AUTO:
                        return 0;
                case BFE_WEIGHT_RANGE:
                        if (v > 15)
                                return -ERANGE;
                        range = (uint8_t) v;
                        return append_basic_entry(m, f->bus, 'y', &range);
                case BFE_WEIGHT_EXPLICIT:
                        return append_basic_entry(m, f->bus, 't', &v);
                }
                return -EINVAL;
        }
        case FIELD_CONDITIONS: {
                const BfeCondition *c = *(BfeCondition *const *) p;
                size_t n = *(const size_t *) ((const uint8_t *) obj + f->offset_n);

                if (n > 0 && !c)
                        return -EINVAL;
                return n > 0 || all ? append_conditions(m, f->bus, c, n) : 0;
        }
        }
        return -EINVAL;
}

int object_append(sd_bus_message *m, const ObjectInfo *o, const void *obj, ObjectWriteMode mode) {
        int r;

        r = sd_bus_message_open_container(m, 'a', "{sv}");
        for (size_t i = 0; r >= 0 && i < o->n_fields; i++) {
                if (mode == OBJECT_WRITE_REQUEST && (o->fields[i].flags & FIELD_OUT))
                        continue;
                r = append_field(m, &o->fields[i], obj, mode);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r;
}

/* ---- reading ------------------------------------------------------------------------------- */

typedef struct Reader {
        sd_bus_message *m;
        ObjectReadFlags flags;
        char **error;
} Reader;

static int reader_fail(Reader *rd, const char *fmt, ...) _printf_(2, 3);
static int reader_fail(Reader *rd, const char *fmt, ...) {
        va_list ap;

        if (rd->error && !*rd->error) {
                va_start(ap, fmt);
                *rd->error = strdup_vprintf(fmt, ap);
                va_end(ap);
        }
        return -EINVAL;
}

static int read_string(Reader *rd, char **p) {
        const char *s;
        int r;

        r = sd_bus_message_read_basic(rd->m, 's', &s);
        if (r < 0)
                return r;
        if (rd->flags & OBJECT_READ_BORROW) {
                *p = (char *) s;
                return 0;
        }
        free(*p);
        *p = strdup(s);
        return *p ? 0 : -ENOMEM;
}

static int read_key(Reader *rd, const Field *f, BfeKey *p) {
        const char *s;
        int r;

        r = sd_bus_message_read_basic(rd->m, 's', &s);
        if (r < 0)
                return r;
        if (!*s) {
                *p = (BfeKey) {};
                return 0;
        }
        if (guid_from_string(s, p) < 0 &&
            !((f->flags & FIELD_SUBLAYER_NAME) && wfp_builtin_sublayer_from_name(s, p) >= 0)) {
                if (rd->flags & OBJECT_READ_STRICT)
                        return reader_fail(rd, "%s '%s' is not a GUID%s", f->bus, s,
                                           f->flags & FIELD_SUBLAYER_NAME ? " or a built-in sublayer's name" : "");
                return -EBADMSG;
        }
        return 0;
}

static int read_blob(Reader *rd, BfeBlob *p) {
        const void *data;
        size_t size;
        int r;

        r = sd_bus_message_read_array(rd->m, 'y', &data, &size);
        if (r < 0)
                return r;
        if (rd->flags & OBJECT_READ_BORROW) {
                *p = (BfeBlob) { .data = (uint8_t *) data, .size = size };
                return 0;
        }
        free(p->data);
        *p = (BfeBlob) {};
        if (size == 0)
                return 0;
        p->data = malloc(size);
        if (!p->data)
                return -ENOMEM;
        memcpy(p->data, data, size);
        p->size = size;
        return 0;
}

/* One (sus) of a condition array: 1, or 0 at the array's end. Basic reads: a format string
 * (sd_bus_message_read()) would be parsed again for every condition of every filter. */
static int read_condition(sd_bus_message *m, const char **field, uint32_t *match, const char **value) {
        int r;

        r = sd_bus_message_enter_container(m, 'r', "sus");
        if (r <= 0)
                return r;
        r = sd_bus_message_read_basic(m, 's', field);
        if (r > 0)
                r = sd_bus_message_read_basic(m, 'u', match);
        if (r > 0)
                r = sd_bus_message_read_basic(m, 's', value);
        if (r == 0)
                return -EBADMSG;        /* cannot be: sd-bus checked the signature */
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        return r < 0 ? r : 1;
}

static int read_conditions(Reader *rd, BfeCondition **p, size_t *pn) {
        bool borrow = rd->flags & OBJECT_READ_BORROW;
        size_t alloc = 0;
        int r;

        r = sd_bus_message_enter_container(rd->m, 'a', "(sus)");
        if (r < 0)
                return r;
        for (;;) {
                const char *field, *value;
                uint32_t match;
                BfeCondition *c;

                r = read_condition(rd->m, &field, &match, &value);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                if (*pn >= OBJECT_CONDITIONS_READ_MAX)
                        return reader_fail(rd, "Conditions: more than %d", OBJECT_CONDITIONS_READ_MAX);
                if (!ARRAY_RESERVE(*p, alloc, *pn + 1, 8))
                        return -ENOMEM;
                c = &(*p)[*pn];
                *c = (BfeCondition) { .field = (char *) field, .match = match, .value = (char *) value };
                if (!borrow) {
                        c->field = strdup(field);
                        c->value = strdup(value);
                }
                (*pn)++;                /* counted before the check: freed with the object */
                if (!c->field || !c->value)
                        return -ENOMEM;
        }
        return sd_bus_message_exit_container(rd->m);
}

/* The value of one entry, inside its variant of type @contents. */
static int read_value(Reader *rd, const Field *f, const char *contents, void *obj) {
        void *p = field_ptr(f, obj);

        switch (f->type) {
        case FIELD_STRING:
                return read_string(rd, p);
        case FIELD_KEY:
                return read_key(rd, f, p);
        case FIELD_U16:
                return sd_bus_message_read_basic(rd->m, 'q', p);
        case FIELD_U32:
        case FIELD_FLAGS:
        case FIELD_CONTEXT_TYPE:
        case FIELD_ACTION:
                return sd_bus_message_read_basic(rd->m, 'u', p);
        case FIELD_U64:
                return sd_bus_message_read_basic(rd->m, 't', p);
        case FIELD_BOOL: {
                int b, r;

                r = sd_bus_message_read_basic(rd->m, 'b', &b);
                if (r >= 0)
                        *(bool *) p = b;
                return r;
        }
        case FIELD_BLOB:
                return read_blob(rd, p);
        case FIELD_WEIGHT: {
                BfeWeightKind *kind = (BfeWeightKind *) ((uint8_t *) obj + f->offset_n);

                if (streq(contents, "y")) {
                        uint8_t v;
                        int r = sd_bus_message_read_basic(rd->m, 'y', &v);

                        *kind = BFE_WEIGHT_RANGE;
                        *(uint64_t *) p = v;
                        return r;
                }
                *kind = BFE_WEIGHT_EXPLICIT;
                return sd_bus_message_read_basic(rd->m, 't', p);
        }
        case FIELD_CONDITIONS:
                return read_conditions(rd, p, (size_t *) ((uint8_t *) obj + f->offset_n));
        }
        return -EINVAL;
}

static bool field_takes(const Field *f, const char *contents) {
        if (f->type == FIELD_WEIGHT)
                return streq(contents, "y") || streq(contents, "t");
        return streq(contents, field_signature(f));
}

int object_read(sd_bus_message *m, const ObjectInfo *o, void *obj, ObjectReadFlags flags, uint64_t *ret_seen,
                char **ret_error) {
        Reader rd = { .m = m, .flags = flags, .error = ret_error };
        bool strict = flags & OBJECT_READ_STRICT;
        uint64_t seen = 0;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r <= 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *key, *contents;
                const Field *f;
                size_t i;

                r = sd_bus_message_read_basic(m, 's', &key);
                if (r < 0)
                        return r;
                r = sd_bus_message_peek_type(m, NULL, &contents);
                if (r < 0)
                        return r;
                f = object_field_by_bus(o, key);
                if (f && strict && (f->flags & FIELD_OUT))
                        f = NULL;       /* the engine sets it: not a caller's key */
                if (!f || !field_takes(f, contents)) {
                        if (strict && !f)
                                return reader_fail(&rd, "Unknown key '%s'", key);
                        if (strict)
                                return reader_fail(&rd, "Key '%s' must be of type '%s', not '%s'", key,
                                                   field_signature(f) ?: "y' or 't", contents);
                        r = sd_bus_message_skip(m, "v");
                } else {
                        i = (size_t) (f - o->fields);
                        if (seen & (UINT64_C(1) << i)) {
                                if (strict)
                                        return reader_fail(&rd, "Key '%s' given twice", key);
                                if (f->type == FIELD_CONDITIONS) {
                                        r = sd_bus_message_skip(m, "v");
                                        goto next;
                                }
                        }
                        seen |= UINT64_C(1) << i;
                        r = sd_bus_message_enter_container(m, 'v', contents);
                        if (r >= 0)
                                r = read_value(&rd, f, contents, obj);
                        if (r >= 0)
                                r = sd_bus_message_exit_container(m);
                }
        next:
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;
        if (ret_seen)
                *ret_seen = seen;
        return 1;
}
