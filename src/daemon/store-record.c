/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * store-record.c — one record of the state file, one object, from the field tables.
 *
 * A record is one line: its type, then the object's fields as KEY=VALUE, each after exactly one
 * space (all on one line; a field in [] is left out when the object has none):
 *
 *   provider key=GUID name=S [description=S] flags=0xX [data=HEX]
 *   sublayer key=GUID name=S [description=S] flags=0xX [provider=GUID] [data=HEX] weight=N
 *   context key=GUID name=S [description=S] flags=0xX [provider=GUID] [data=HEX] type=N [context-data=HEX]
 *   filter key=GUID name=S [description=S] flags=0xX [provider=GUID] [data=HEX] layer=LAYER
 *          sublayer=GUID weight=auto|range:N|explicit:N action=block|permit|callout [callout=GUID]
 *          [context=GUID] [condition=FIELD,MATCH,S[,S]]...
 *
 * The fields are those of the kind's table in object.c that have a state file key (Field.file),
 * in the table's order; what the engine fills in (FIELD_OUT: ids, the effective weight) is not
 * saved. A value is written by its field's type:
 * - S, a string: every byte <= 0x20, 0x7f, '%' and ',' as %XX (upper-case hex), so names with
 *   spaces, tabs, newlines, commas and percent signs survive; other bytes, UTF-8 included, as
 *   they are. Decoded, every S is valid UTF-8 (it goes on the bus). Left out when NULL.
 * - GUID, a key: left out when zero. HEX, a blob: lower-case hex, left out when empty.
 * - numbers in decimal (a sublayer's weight, a context's type); the flags word in hex with 0x
 *   (the persistent flag 0x1 is always set, but for a boot-time filter's, which has 0x2 instead).
 * - an action and a filter's weight: their text forms in object.c (action_to_string(),
 *   weight_to_string()); an action without a name as 0x-hex.
 * - conditions: one condition= field each, FIELD,MATCH,VALUE: the WFP field name without
 *   FWPM_CONDITION_, the FWP_MATCH_TYPE number, and the value as the caller gave it (the engine
 *   parses it again on load) — except ALE_USER_ID, whose value is the uid the name resolved to
 *   when the filter was added, followed by ",NAME" when the caller gave a name: loading never
 *   needs NSS, and a deleted user cannot stop a start. (Version 1 kept the name alone, resolved
 *   again at load: that is the one difference, and version 1 files still load when their users
 *   exist.) layer= is a WFP name without FWPM_LAYER_.
 * Keys may come in any order; an unknown or repeated key (condition= excepted) is an error, and
 * so is a missing one that is not in [].
 *
 * Reading takes each field of the table from the line, parses it by type into the kind's public
 * struct, and gives that to the engine's add function, which checks references and values
 * exactly as for a D-Bus caller. object-bus.c walks the same tables for D-Bus dictionaries.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guid.h"
#include "log.h"
#include "object.h"
#include "store-record.h"
#include "string-util.h"
#include "utf8.h"
#include "wfp.h"

/* Fields in one record at the most: each field once and the conditions, of which one too many
 * reaches the engine, to be refused with its own message. */
#define RECORD_FIELDS_MAX (16 + ENGINE_CONDITIONS_MAX + 1)
#define ACTION_TEXT_MAX 16

/* The first word of a kind's records. */
static const char *const record_types[_OBJECT_KIND_MAX] = {
        [OBJECT_PROVIDER] = "provider",
        [OBJECT_SUBLAYER] = "sublayer",
        [OBJECT_PROVIDER_CONTEXT] = "context",
        [OBJECT_FILTER] = "filter",
};

/* The fields a record must have. The others may be left out, and are then unset: no
 * description, no provider, no data, no callout, no context, no conditions. */
static const char *const required_fields[_OBJECT_KIND_MAX][8] = {
        [OBJECT_PROVIDER] = { "key", "name", "flags" },
        [OBJECT_SUBLAYER] = { "key", "name", "flags", "weight" },
        [OBJECT_PROVIDER_CONTEXT] = { "key", "name", "flags", "type" },
        [OBJECT_FILTER] = { "key", "name", "flags", "layer", "sublayer", "weight", "action" },
};

static bool field_is_saved(const Field *f) {
        return f->file && !(f->flags & FIELD_OUT);
}

static bool field_is_required(ObjectKind kind, const Field *f) {
        /* asked for every field a record leaves out (six of a filter's, often): the first letter first */
        for (size_t i = 0; i < ELEMENTSOF(required_fields[kind]) && required_fields[kind][i]; i++)
                if (required_fields[kind][i][0] == f->file[0] && streq(required_fields[kind][i], f->file))
                        return true;
        return false;
}

/* An action as written: its name, or 0x-hex. */
static const char *action_text(uint32_t action, char buf[static ACTION_TEXT_MAX]) {
        const char *name = action_to_string(action);

        if (name)
                return name;
        (void) snprintf(buf, ACTION_TEXT_MAX, "0x%" PRIx32, action);
        return buf;
}

/* Written in hex, after 0x: the flags word, and the numbers whose bits mean something. */
static bool field_is_hex(const Field *f) {
        return f->type == FIELD_FLAGS || (f->flags & FIELD_HEX);
}

/* The numbers of every width (FIELD_U16, _U32, _U64, _BOOL, _FLAGS, _CONTEXT_TYPE), as uint64_t. */
static uint64_t number_max(FieldType type) {
        switch (type) {
        case FIELD_BOOL:
                return 1;
        case FIELD_U16:
                return UINT16_MAX;
        case FIELD_U64:
                return UINT64_MAX;
        default:
                return UINT32_MAX;
        }
}

static void number_set(const Field *f, void *obj, uint64_t v) {
        void *p = field_ptr(f, obj);

        switch (f->type) {
        case FIELD_BOOL:
                *(bool *) p = v;
                break;
        case FIELD_U16:
                *(uint16_t *) p = (uint16_t) v;
                break;
        case FIELD_U64:
                *(uint64_t *) p = v;
                break;
        default:
                *(uint32_t *) p = (uint32_t) v;
                break;
        }
}

/* ---- the text buffer ------------------------------------------------------------------------ */

void buf_done(Buf *b) {
        free(b->data);
        *b = (Buf) {};
}

static bool buf_reserve(Buf *b, size_t n) {
        size_t want;
        char *d;

        if (b->oom)
                return false;
        if (n < b->alloc && b->size < b->alloc - n)
                return true;
        want = b->alloc ? b->alloc : 4096;
        while (want - 1 < b->size + n) {
                if (want > SIZE_MAX / 2) {
                        b->oom = true;
                        return false;
                }
                want *= 2;
        }
        d = realloc(b->data, want);
        if (!d) {
                b->oom = true;
                return false;
        }
        b->data = d;
        b->alloc = want;
        return true;
}

void buf_put(Buf *b, const char *s, size_t n) {
        if (!buf_reserve(b, n))
                return;
        memcpy(b->data + b->size, s, n);
        b->size += n;
        b->data[b->size] = 0;
}

void buf_puts(Buf *b, const char *s) {
        buf_put(b, s, strlen(s));
}

void buf_printf(Buf *b, const char *fmt, ...) {
        char small[128];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(small, sizeof(small), fmt, ap);
        va_end(ap);
        if (n < 0) {
                b->oom = true;
                return;
        }
        if ((size_t) n < sizeof(small)) {
                buf_put(b, small, (size_t) n);
                return;
        }
        if (!buf_reserve(b, (size_t) n))
                return;
        va_start(ap, fmt);
        (void) vsnprintf(b->data + b->size, (size_t) n + 1, fmt, ap);
        va_end(ap);
        b->size += (size_t) n;
}

/* ---- writing -------------------------------------------------------------------------------- */

static bool byte_needs_escape(unsigned char c) {
        return c <= ' ' || c == 0x7f || c == '%' || c == ',';
}

static void buf_put_escaped(Buf *b, const char *s) {
        static const char hex[] = "0123456789ABCDEF";

        for (const char *p = s; *p; ) {
                const char *run = p;

                while (*p && !byte_needs_escape((unsigned char) *p))
                        p++;
                buf_put(b, run, (size_t) (p - run));
                if (*p) {
                        unsigned char c = (unsigned char) *p++;
                        char e[3] = { '%', hex[c >> 4], hex[c & 15] };
                        buf_put(b, e, sizeof(e));
                }
        }
}

/* " KEY=", before a value. */
static void put_key(Buf *b, const Field *f) {
        buf_puts(b, " ");
        buf_puts(b, f->file);
        buf_puts(b, "=");
}

static void put_blob(Buf *b, const BfeBlob *blob) {
        _cleanup_(freep) char *hex = blob_to_hex(blob);

        if (!hex) {
                b->oom = true;
                return;
        }
        buf_puts(b, hex);
}

/* A condition's value: as given — but for ALE_USER_ID what getpwnam() said when the filter
 * was added, and then the name given, if any: a restart needs no NSS and no longer depends on
 * the user still existing. */
static void put_condition_value(Buf *b, const Condition *c) {
        char uid[16], buf[CONDITION_TEXT_MAX];
        const char *text = condition_text(c, buf);
        uint32_t v;

        if (c->field != WFP_FIELD_ALE_USER_ID) {
                buf_put_escaped(b, text);
                return;
        }
        memcpy(&v, c->lo, sizeof(v));
        snprintf(uid, sizeof(uid), "%" PRIu32, v);
        buf_puts(b, uid);
        if (!streq(text, uid)) {
                buf_puts(b, ",");
                buf_put_escaped(b, text);
        }
}

/* One field a condition, from the engine's filter: its view shows an ALE_USER_ID condition as
 * it was given, not the uid. */
static void put_conditions(Buf *b, const Field *f, const Filter *filter) {
        for (size_t i = 0; i < filter->n_conditions; i++) {
                const Condition *c = &filter->conditions[i];

                put_key(b, f);
                buf_printf(b, "%s,%u,", wfp_field_info(c->field)->name, (unsigned) c->match);
                put_condition_value(b, c);
        }
}

/* Whether the field @f of @view is written: an unset string, key or blob (NULL, zero, empty) is
 * left out. */
static bool field_is_set(const Field *f, const void *view) {
        const void *p = field_ptr(f, view);

        switch (f->type) {
        case FIELD_STRING:
                return *(char *const *) p;
        case FIELD_KEY:
                return !guid_is_null(p);
        case FIELD_BLOB:
                return ((const BfeBlob *) p)->size > 0;
        default:
                return !(f->flags & FIELD_RARE) || field_number(f, view) != 0;
        }
}

/* The value of the field @f of @view (any type but FIELD_CONDITIONS). */
static void put_value(Buf *b, const Field *f, const void *view) {
        const void *p = field_ptr(f, view);

        switch (f->type) {
        case FIELD_STRING:
                buf_put_escaped(b, *(char *const *) p);
                return;
        case FIELD_KEY: {
                char s[GUID_STRING_MAX];

                buf_puts(b, guid_to_string(p, s));
                return;
        }
        case FIELD_U16:
        case FIELD_U32:
        case FIELD_U64:
        case FIELD_BOOL:
        case FIELD_FLAGS:
        case FIELD_CONTEXT_TYPE: {
                char s[24];

                if (field_is_hex(f))
                        (void) snprintf(s, sizeof(s), "0x%" PRIx64, field_number(f, view));
                else
                        (void) snprintf(s, sizeof(s), "%" PRIu64, field_number(f, view));
                buf_puts(b, s);
                return;
        }
        case FIELD_BLOB:
                put_blob(b, p);
                return;
        case FIELD_ACTION: {
                char s[ACTION_TEXT_MAX];

                buf_puts(b, action_text(*(const uint32_t *) p, s));
                return;
        }
        case FIELD_WEIGHT: {
                BfeWeightKind kind = *(const BfeWeightKind *) ((const uint8_t *) view + f->offset_n);
                char s[WEIGHT_STRING_MAX];

                buf_puts(b, weight_to_string(kind, *(const uint64_t *) p, s));
                return;
        }
        case FIELD_CONDITIONS:
                return;
        }
}

void record_write(Buf *b, ObjectKind kind, const void *object) {
        const ObjectInfo *o = object_info(kind);
        ConditionViews conditions;      /* the view's */
        AnyObject view;

        engine_object_view(kind, object, &conditions, &view);
        buf_puts(b, record_types[kind]);
        for (size_t i = 0; i < o->n_fields; i++) {
                const Field *f = &o->fields[i];

                if (!field_is_saved(f))
                        continue;
                if (f->type == FIELD_CONDITIONS)
                        put_conditions(b, f, object);   /* only filters have conditions */
                else if (field_is_set(f, &view)) {
                        put_key(b, f);
                        put_value(b, f, &view);
                }
        }
        buf_puts(b, "\n");
}

/* ---- reading -------------------------------------------------------------------------------- */

typedef struct TextField {
        char *key;
        char *value;                    /* raw, escaped; decoded in place when read */
        bool used;
} TextField;

/* One record, read into its object. */
typedef struct Reader {
        unsigned version;               /* of the file (1 or 2; 0: either) */
        char *reason;                   /* the first failure's */
        TextField fields[RECORD_FIELDS_MAX];
        size_t n_fields;
        const ObjectInfo *info;         /* the record's kind, once known */
        AnyObject object;               /* strings and conditions point into the line; blobs are malloc()ed */
        BfeCondition conditions[RECORD_FIELDS_MAX];
        const char *texts[RECORD_FIELDS_MAX]; /* of each condition: the user name given, or NULL */
} Reader;

static void reader_done(Reader *rd) {
        for (size_t i = 0; rd->info && i < rd->info->n_fields; i++)
                if (rd->info->fields[i].type == FIELD_BLOB)
                        free(((BfeBlob *) field_ptr(&rd->info->fields[i], &rd->object))->data);
        free(rd->reason);
}

static int reader_fail(Reader *rd, int r, const char *fmt, ...) _printf_(3, 4);
static int reader_fail(Reader *rd, int r, const char *fmt, ...) {
        va_list ap;

        if (rd->reason)
                return r;
        va_start(ap, fmt);
        rd->reason = strdup_vprintf(fmt, ap);
        va_end(ap);
        return r;
}

/* Decodes %XX in place. */
static int unescape(Reader *rd, const char *key, char *s) {
        char *w = s;

        for (const char *p = s; *p; p++) {
                if ((unsigned char) *p < ' ' || *p == 0x7f)
                        return reader_fail(rd, -EBADMSG, "field '%s' has an unescaped control character", key);
                if (*p != '%') {
                        *w++ = *p;
                        continue;
                }
                int hi = unhexchar(p[1]), lo = hi >= 0 ? unhexchar(p[2]) : -1;
                if (hi < 0 || lo < 0)
                        return reader_fail(rd, -EBADMSG, "field '%s' has a bad escape (%%XX expected)", key);
                if (hi == 0 && lo == 0)
                        return reader_fail(rd, -EBADMSG, "field '%s' contains a NUL byte (%%00)", key);
                *w++ = (char) (hi << 4 | lo);
                p += 2;
        }
        *w = 0;
        return 0;
}

/* Splits "type key=value key=value" in place into rd->fields. */
static int split_fields(Reader *rd, char *line, char **ret_type) {
        char *p = line, *type;

        type = strsep(&p, " ");
        if (!*type)
                return reader_fail(rd, -EBADMSG, "malformed record: empty record type");
        while (p) {
                char *token = strsep(&p, " "), *eq;

                if (!*token)
                        return reader_fail(rd, -EBADMSG,
                                           "malformed record: an empty field (double or trailing space)");
                eq = strchr(token, '=');
                if (!eq || eq == token)
                        return reader_fail(rd, -EBADMSG, "malformed field '%.40s': not KEY=VALUE", token);
                if (rd->n_fields >= RECORD_FIELDS_MAX)
                        return reader_fail(rd, -EBADMSG, "more than %d fields", RECORD_FIELDS_MAX);
                *eq = 0;
                rd->fields[rd->n_fields++] = (TextField) { .key = token, .value = eq + 1 };
        }
        *ret_type = type;
        return 0;
}

/* The one field named @key, or NULL; an error when repeated. */
static int field_get(Reader *rd, const char *key, char **ret) {
        TextField *found = NULL;

        for (size_t i = 0; i < rd->n_fields; i++) {
                /* the first letter first: each of a record's fields is looked for in all of them */
                if (rd->fields[i].key[0] != key[0] || !streq(rd->fields[i].key, key))
                        continue;
                if (found)
                        return reader_fail(rd, -EBADMSG, "field '%s' appears twice", key);
                found = &rd->fields[i];
        }
        if (!found) {
                *ret = NULL;
                return 0;
        }
        found->used = true;
        *ret = found->value;
        return 0;
}

static int read_string(Reader *rd, const Field *f, char *v, char **ret) {
        int r;

        r = unescape(rd, f->file, v);
        if (r < 0)
                return r;
        /* it goes on the bus in every Enum, and sd-bus sends valid UTF-8 only */
        if (!utf8_is_valid(v))
                return reader_fail(rd, -EBADMSG, "field '%s' is not valid UTF-8 (bad Unicode)", f->file);
        *ret = v;
        return 0;
}

/* Digits only: decimal, or hex after 0x. */
static int read_number(Reader *rd, const Field *f, const char *v) {
        bool hex = field_is_hex(f);
        uint64_t max = number_max(f->type), n;

        /* text_parse_u64() in base 16 takes the 0x, but does not insist on it */
        if ((hex && strncmp(v, "0x", 2) != 0) || text_parse_u64(v, hex ? 16 : 10, max, &n) < 0)
                return reader_fail(rd, -EBADMSG, "field '%s': '%.40s' is not a %s number up to %" PRIu64, f->file,
                                   v, hex ? "0x hexadecimal" : "decimal", max);
        number_set(f, &rd->object, n);
        return 0;
}

/*
 * The action and the weight are read by object.c's text helpers, which take bfectl's spellings
 * too: any case, short forms, numbers in any base (a leading 0 is octal there). A state file
 * has one spelling of each value, the one written: a value is taken only when it is written
 * back the same, so nothing bfed did not write is read, and nothing is read otherwise than it
 * always was.
 */
static int read_action(Reader *rd, const Field *f, const char *v, uint32_t *ret) {
        char s[ACTION_TEXT_MAX];

        if (action_from_string(v, ret) < 0 || !streq(v, action_text(*ret, s)))
                return reader_fail(rd, -EBADMSG, "field '%s': '%.40s' is not block, permit or callout", f->file, v);
        return 0;
}

static int read_weight(Reader *rd, const Field *f, const char *v) {
        BfeWeightKind *kind = (BfeWeightKind *) ((uint8_t *) &rd->object + f->offset_n);
        uint64_t *weight = field_ptr(f, &rd->object);
        char s[WEIGHT_STRING_MAX];

        if (weight_from_string(v, kind, weight) < 0 || !streq(v, weight_to_string(*kind, *weight, s)))
                return reader_fail(rd, -EBADMSG, "field '%s': '%.40s' is not auto, range:N (N 0-15) or explicit:N",
                                   f->file, v);
        return 0;
}

static bool is_decimal(const char *s) {
        return *s && strspn(s, "0123456789") == strlen(s);
}

/* Every condition=FIELD,MATCH,VALUE[,TEXT] field, in order, into rd->conditions and rd->texts. */
static int read_conditions(Reader *rd, const Field *f) {
        size_t n = 0;
        int r;

        for (size_t i = 0; i < rd->n_fields; i++) {
                char *field, *match, *value, *text, *p;
                uint64_t m;

                if (rd->fields[i].key[0] != f->file[0] || !streq(rd->fields[i].key, f->file))
                        continue;
                rd->fields[i].used = true;
                p = rd->fields[i].value;
                field = strsep(&p, ",");
                match = p ? strsep(&p, ",") : NULL;
                value = p ? strsep(&p, ",") : NULL;
                text = p;
                if (!match || !value)
                        return reader_fail(rd, -EBADMSG, "field '%s' is not FIELD,MATCH,VALUE", f->file);
                r = unescape(rd, f->file, field);
                if (r < 0)
                        return r;
                r = unescape(rd, f->file, value);
                if (r < 0)
                        return r;
                if (text) {
                        r = unescape(rd, f->file, text);
                        if (r < 0)
                                return r;
                }
                if (text_parse_u64(match, 10, UINT32_MAX, &m) < 0)
                        return reader_fail(rd, -EBADMSG, "condition %s: match type '%.20s' is not a number", field,
                                           match);
                if (!utf8_is_valid(value) || (text && !utf8_is_valid(text)))
                        return reader_fail(rd, -EBADMSG, "condition %s: the value is not valid UTF-8 (bad Unicode)",
                                           field);
                if (streq(field, "ALE_USER_ID") && rd->version >= 2 && !is_decimal(value))
                        /* version 2 keeps the uid: loading must never need NSS */
                        return reader_fail(rd, -EBADMSG, "condition ALE_USER_ID: '%.40s' is not a uid", value);
                if (text && (rd->version < 2 || !streq(field, "ALE_USER_ID")))
                        return reader_fail(rd, -EBADMSG, "condition %s: a fourth part (the user name given) is for "
                                           "ALE_USER_ID in version 2 only", field);
                rd->texts[n] = text;
                rd->conditions[n++] = (BfeCondition) { .field = field, .match = (uint32_t) m, .value = value };
        }
        *(BfeCondition **) field_ptr(f, &rd->object) = rd->conditions;
        *(size_t *) ((uint8_t *) &rd->object + f->offset_n) = n;
        return 0;
}

/* The field @f of the record, into rd->object; absent, it stays unset (zero), unless required. */
static int read_field(Reader *rd, ObjectKind kind, const Field *f) {
        void *p = field_ptr(f, &rd->object);
        char *v = NULL;
        int r;

        if (f->type == FIELD_CONDITIONS)
                return read_conditions(rd, f);  /* the one field that comes any number of times */
        r = field_get(rd, f->file, &v);
        if (r < 0)
                return r;
        if (!v)
                return field_is_required(kind, f) ? reader_fail(rd, -EBADMSG, "field '%s' is missing", f->file) : 0;

        switch (f->type) {
        case FIELD_STRING:
                return read_string(rd, f, v, p);
        case FIELD_KEY:
                if (guid_from_string(v, p) < 0 || guid_is_null(p))
                        return reader_fail(rd, -EBADMSG, "field '%s': '%.40s' is not a GUID", f->file, v);
                return 0;
        case FIELD_U16:
        case FIELD_U32:
        case FIELD_U64:
        case FIELD_BOOL:
        case FIELD_FLAGS:
        case FIELD_CONTEXT_TYPE:
                return read_number(rd, f, v);
        case FIELD_BLOB:
                r = blob_from_hex(v, p);
                if (r == -ENOMEM)
                        return r;
                if (r < 0 || ((BfeBlob *) p)->size == 0)
                        return reader_fail(rd, -EBADMSG, "field '%s' is not hex bytes", f->file);
                return 0;
        case FIELD_ACTION:
                return read_action(rd, f, v, p);
        case FIELD_WEIGHT:
                return read_weight(rd, f, v);
        case FIELD_CONDITIONS:
                break;
        }
        return -EINVAL;
}

static int check_unused(Reader *rd) {
        for (size_t i = 0; i < rd->n_fields; i++)
                if (!rd->fields[i].used)
                        return reader_fail(rd, -EBADMSG, "unknown field '%.40s'", rd->fields[i].key);
        return 0;
}

/* A name for messages: the decoded name, with control characters shown as %XX. */
static const char *printable(const char *s, char *buf, size_t size) {
        size_t o = 0;

        for (const char *p = s; *p && o + 4 < size; p++) {
                unsigned char c = (unsigned char) *p;
                if (c < ' ' || c == 0x7f)
                        o += (size_t) snprintf(buf + o, size - o, "%%%02X", c);
                else
                        buf[o++] = (char) c;
        }
        buf[o] = 0;
        return buf;
}

static int read_record(Reader *rd, Engine *e, char *line) {
        const BfeProvider *common = &rd->object.provider;       /* any kind's key, name and flags */
        EngineError err = {};
        ObjectKind kind = _OBJECT_KIND_MAX;
        char *type = NULL, name[128];
        int r;

        r = split_fields(rd, line, &type);
        if (r < 0)
                return r;
        for (size_t k = 0; k < _OBJECT_KIND_MAX; k++)
                if (streq(type, record_types[k]))
                        kind = (ObjectKind) k;
        if (kind == _OBJECT_KIND_MAX)
                return reader_fail(rd, -EBADMSG, "unknown record type '%.40s'", type);
        rd->info = object_info(kind);

        for (size_t i = 0; i < rd->info->n_fields; i++) {
                if (!field_is_saved(&rd->info->fields[i]))
                        continue;
                r = read_field(rd, kind, &rd->info->fields[i]);
                if (r < 0)
                        return r;
        }
        r = check_unused(rd);
        if (r < 0)
                return r;
        if (!(common->flags & WFP_FLAG_PERSISTENT) &&
            !(kind == OBJECT_FILTER && (common->flags & WFP_FILTER_FLAG_BOOTTIME)))
                return reader_fail(rd, -EBADMSG, "%s '%s' is not marked persistent or boot-time (flags 0x%" PRIx32 ")",
                                   rd->info->text, printable(common->name, name, sizeof(name)), common->flags);

        if (kind == OBJECT_FILTER)
                /* with the user name given of an ALE_USER_ID condition, whose value is the uid */
                r = engine_add_filter_texts(e, &rd->object.filter, rd->texts, &err, NULL);
        else
                r = engine_add_object(e, kind, &rd->object, &err, NULL);
        if (r < 0) {
                printable(common->name, name, sizeof(name));
                if (wfp_code_from_ret(r) != 0)
                        return reader_fail(rd, r, "%s '%s': %s: %s", rd->info->text, name, bfe_strerror(r),
                                           err.message);
                return reader_fail(rd, r, "%s '%s': %s", rd->info->text, name, bfe_strerror(r));
        }
        return 0;
}

int record_load(Engine *e, unsigned version, char *line, char **ret_reason) {
        _cleanup_(reader_done) Reader rd = { .version = version };
        int r;

        r = read_record(&rd, e, line);
        *ret_reason = TAKE_PTR(rd.reason);
        return r;
}
