/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ctl-print.c — bfectl's output. Objects are shown by walking their field tables
 * (src/shared/object.c): a field's label, JSON name and type come from there, and the
 * formatting of each type — flags, actions, context types, weights, keys, blobs, conditions —
 * is here, once, for show, list and --json alike.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bfectl-util.h"
#include "ctl-print.h"
#include "macro.h"
#include "wfp.h"

void show_line(FILE *f, const char *label, const char *fmt, ...) {
        va_list ap;

        fprintf(f, "%-*s ", SHOW_LABEL_WIDTH, label);
        va_start(ap, fmt);
        vfprintf(f, fmt, ap);
        va_end(ap);
        fputc('\n', f);
}

/* ---- JSON ------------------------------------------------------------------------------------ */

void json_begin(Json *j, FILE *f) {
        *j = (Json) { .f = f, .first = true };
        fputc('{', f);
}

void json_end(Json *j) {
        fputc('}', j->f);
}

void json_name(Json *j, const char *name) {
        if (!j->first)
                fputc(',', j->f);
        j->first = false;
        json_print_string(j->f, name);
        fputc(':', j->f);
}

void json_str(Json *j, const char *name, const char *value) {
        json_name(j, name);
        json_print_string(j->f, value);
}

void json_u64(Json *j, const char *name, uint64_t value) {
        json_name(j, name);
        fprintf(j->f, "%" PRIu64, value);
}

void json_bool(Json *j, const char *name, bool value) {
        json_name(j, name);
        fputs(value ? "true" : "false", j->f);
}

void json_key(Json *j, const char *name, const BfeKey *k) {
        char buf[BFE_KEY_STRING_MAX];

        json_str(j, name, bfe_key_is_null(k) ? NULL : bfe_key_to_string(k, buf));
}

/* ---- values ---------------------------------------------------------------------------------- */

/* The FWPM_FILTER_FLAG_* names, bit by bit; the other kinds have only FWPM_*_FLAG_PERSISTENT. */
static const char *const filter_flag_names[] = {
        "persistent", "boottime", "has-provider-context", "clear-action-right",
        "permit-if-callout-unregistered", "disabled", "indexed",
};

char *format_flags(ObjectKind kind, uint32_t flags) {
        size_t n_names = kind == OBJECT_FILTER ? ELEMENTSOF(filter_flag_names) : 1;
        char buf[256];
        size_t o;
        bool first = true;

        o = (size_t) snprintf(buf, sizeof(buf), "0x%" PRIx32, flags);
        if (flags == 0)
                return strdup(buf);
        o += (size_t) snprintf(buf + o, sizeof(buf) - o, " (");
        for (size_t i = 0; i < 32; i++) {
                if (!(flags & (1u << i)))
                        continue;
                if (i < n_names)
                        o += (size_t) snprintf(buf + o, sizeof(buf) - o, "%s%s", first ? "" : ",",
                                               filter_flag_names[i]);
                else
                        o += (size_t) snprintf(buf + o, sizeof(buf) - o, "%s0x%x", first ? "" : ",", 1u << i);
                first = false;
        }
        (void) snprintf(buf + o, sizeof(buf) - o, ")");
        return strdup(buf);
}

char *format_condition(const BfeCondition *c) {
        char *s = NULL;
        int n;

        if (c->match == BFE_MATCH_EQUAL)
                n = asprintf(&s, "%s=%s", c->field, c->value);
        else if (c->match == BFE_MATCH_NOT_EQUAL)
                n = asprintf(&s, "%s!=%s", c->field, c->value);
        else
                n = asprintf(&s, "%s:%" PRIu32 "=%s", c->field, c->match, c->value);
        return n < 0 ? NULL : s;
}

static char *strdup_printf(const char *fmt, ...) _printf_(1, 2);
static char *strdup_printf(const char *fmt, ...) {
        va_list ap;
        char *s;
        int n;

        va_start(ap, fmt);
        n = vasprintf(&s, fmt, ap);
        va_end(ap);
        return n < 0 ? NULL : s;
}

static const void *at(const void *obj, size_t offset) {
        return (const uint8_t *) obj + offset;
}

char *format_field(ObjectKind kind, const Field *field, const void *obj, bool brief) {
        const void *p = field_ptr(field, obj);
        char buf[BFE_KEY_STRING_MAX];

        switch (field->type) {
        case FIELD_STRING:
                return strdup(*(char *const *) p ?: "");
        case FIELD_KEY:
                return strdup(bfe_key_is_null(p) ? "-" : bfe_key_to_string(p, buf));
        case FIELD_U16: {
                /* the sublayer weight: compared as a number, read in hex */
                unsigned v = *(const uint16_t *) p;

                return brief ? strdup_printf("0x%04x", v) : strdup_printf("%u (0x%04x)", v, v);
        }
        case FIELD_U32: {
                uint32_t v = *(const uint32_t *) p;

                return field->flags & FIELD_HEX ? strdup_printf("0x%08" PRIx32, v) : strdup_printf("%" PRIu32, v);
        }
        case FIELD_U64: {
                uint64_t v = *(const uint64_t *) p;

                return field->flags & FIELD_HEX ? strdup_printf("0x%016" PRIx64, v) : strdup_printf("%" PRIu64, v);
        }
        case FIELD_BOOL:
                return strdup(*(const bool *) p ? "yes" : "no");
        case FIELD_BLOB:
                return blob_to_hex(p);
        case FIELD_FLAGS: {
                uint32_t v = *(const uint32_t *) p;

                return brief ? strdup_printf("0x%" PRIx32, v) : format_flags(kind, v);
        }
        case FIELD_CONTEXT_TYPE: {
                uint32_t v = *(const uint32_t *) p;

                return strdup_printf("%s (%" PRIu32 ")", wfp_context_type_short_name(v) ?: "unknown", v);
        }
        case FIELD_ACTION: {
                uint32_t v = *(const uint32_t *) p;
                const char *name = action_to_string(v);

                if (brief)
                        return name ? strdup(name) : strdup_printf("0x%" PRIx32, v);
                return strdup_printf("%s (0x%" PRIx32 ")", name ?: "unknown", v);
        }
        case FIELD_WEIGHT: {
                char w[WEIGHT_STRING_MAX];

                return strdup(weight_to_string(*(const BfeWeightKind *) at(obj, field->offset_n),
                                               *(const uint64_t *) p, w));
        }
        case FIELD_CONDITIONS:
                /* several lines: print_object() formats each condition itself */
                return strdup_printf("%zu conditions", *(const size_t *) at(obj, field->offset_n));
        }
        return NULL;
}

/* ---- objects --------------------------------------------------------------------------------- */

static void show_conditions(FILE *f, const char *label, const BfeCondition *c, size_t n) {
        if (n == 0)
                show_line(f, label, "none (matches everything)");
        for (size_t i = 0; i < n; i++) {
                _cleanup_(freep) char *s = format_condition(&c[i]);

                show_line(f, i == 0 ? label : "", "%s", s ?: "?");
        }
}

static void show_object(FILE *f, ObjectKind kind, const void *obj) {
        const ObjectInfo *o = object_info(kind);

        for (size_t i = 0; i < o->n_fields; i++) {
                const Field *field = &o->fields[i];
                _cleanup_(freep) char *label = NULL, *value = NULL;

                label = strdup_printf("%s:", field->label);
                if (field->type == FIELD_CONDITIONS) {
                        show_conditions(f, label ?: "?", *(BfeCondition *const *) field_ptr(field, obj),
                                        *(const size_t *) at(obj, field->offset_n));
                        continue;
                }
                /* opaque data is long and rarely set, like the rare numbers: shown only when set */
                if (field->type == FIELD_BLOB && ((const BfeBlob *) field_ptr(field, obj))->size == 0)
                        continue;
                if ((field->flags & FIELD_RARE) && field_number(field, obj) == 0)
                        continue;
                value = format_field(kind, field, obj, false);
                show_line(f, label ?: "?", "%s", value ?: "?");
        }
}

void json_objects(FILE *f, size_t n, void (*item)(Json *o, size_t i, const void *data), const void *data) {
        fputc('[', f);
        for (size_t i = 0; i < n; i++) {
                Json o;

                if (i > 0)
                        fputc(',', f);
                json_begin(&o, f);
                item(&o, i, data);
                json_end(&o);
        }
        fputc(']', f);
}

static void json_condition(Json *o, size_t i, const void *data) {
        const BfeCondition *c = (const BfeCondition *) data + i;

        json_str(o, "field", c->field);
        json_u64(o, "match", c->match);
        json_str(o, "value", c->value);
}

static void json_conditions(Json *j, const char *name, const BfeCondition *c, size_t n) {
        json_name(j, name);
        json_objects(j->f, n, json_condition, c);
}

/* A field as JSON members: its value; for actions and context types also "<name>_name". */
static void json_field(Json *j, const Field *field, const void *obj) {
        const void *p = field_ptr(field, obj);
        _cleanup_(freep) char *extra = NULL, *hex = NULL;
        char w[WEIGHT_STRING_MAX];

        switch (field->type) {
        case FIELD_STRING:
                json_str(j, field->json, *(char *const *) p);
                return;
        case FIELD_KEY:
                json_key(j, field->json, p);
                return;
        case FIELD_U16:
        case FIELD_U32:
        case FIELD_FLAGS:
        case FIELD_U64: {
                uint64_t v = field_number(field, obj);
                char s[24];

                /* a weight's bits use all 64: as a number, JSON readers (jq) round it above 2^53 */
                if (field->type == FIELD_U64 && (field->flags & FIELD_HEX)) {
                        (void) snprintf(s, sizeof(s), "%" PRIu64, v);
                        json_str(j, field->json, s);
                } else
                        json_u64(j, field->json, v);
                return;
        }
        case FIELD_BOOL:
                json_bool(j, field->json, *(const bool *) p);
                return;
        case FIELD_BLOB:
                hex = blob_to_hex(p);
                json_str(j, field->json, hex);
                return;
        case FIELD_CONTEXT_TYPE:
        case FIELD_ACTION: {
                uint32_t v = *(const uint32_t *) p;

                json_u64(j, field->json, v);
                extra = strdup_printf("%s_name", field->json);
                json_str(j, extra ?: "name",
                         field->type == FIELD_ACTION ? action_to_string(v) : wfp_context_type_short_name(v));
                return;
        }
        case FIELD_WEIGHT:
                json_str(j, field->json, weight_to_string(*(const BfeWeightKind *) at(obj, field->offset_n),
                                                          *(const uint64_t *) p, w));
                return;
        case FIELD_CONDITIONS:
                json_conditions(j, field->json, *(BfeCondition *const *) p, *(const size_t *) at(obj, field->offset_n));
                return;
        }
}

void print_object(FILE *f, ObjectKind kind, const void *obj, bool json) {
        const ObjectInfo *o = object_info(kind);
        Json j;

        if (!json) {
                show_object(f, kind, obj);
                return;
        }
        json_begin(&j, f);
        for (size_t i = 0; i < o->n_fields; i++)
                json_field(&j, &o->fields[i], obj);
        json_end(&j);
}

void print_objects_json(FILE *f, ObjectKind kind, const void *array, size_t n) {
        const ObjectInfo *o = object_info(kind);

        fputc('[', f);
        for (size_t i = 0; i < n; i++) {
                if (i > 0)
                        fputc(',', f);
                print_object(f, kind, (const uint8_t *) array + i * o->size, true);
        }
        fputs("]\n", f);
}

/* ---- lists ----------------------------------------------------------------------------------- */

/* A column of a list: a field's short form under @header. */
typedef struct Column {
        const char *header;
        const char *field;      /* the field's D-Bus key: "EffectiveWeight" */
        size_t min_width;
        const char *mark;       /* for a bool: shown when true (nothing when false) */
} Column;

#define LIST_COLUMNS_MAX 6

/* Each kind's list; a column without a header ends it. */
static const Column list_columns[_OBJECT_KIND_MAX][LIST_COLUMNS_MAX + 1] = {
        [OBJECT_PROVIDER] = { { .header = "KEY", .field = "Key" }, { .header = "FLAGS", .field = "Flags", .min_width = 5 },
                              { .header = "NAME", .field = "Name" } },
        [OBJECT_SUBLAYER] = { { .header = "KEY", .field = "Key" }, { .header = "WEIGHT", .field = "Weight" },
                              { .header = "FLAGS", .field = "Flags", .min_width = 5 }, { .header = "NAME", .field = "Name" } },
        [OBJECT_PROVIDER_CONTEXT] = { { .header = "ID", .field = "Id" }, { .header = "KEY", .field = "Key" },
                                      { .header = "TYPE", .field = "Type" }, { .header = "NAME", .field = "Name" } },
        /* WEIGHT is the effective weight, the order within a sublayer; E marks the engine's own */
        [OBJECT_FILTER] = { { .header = "ID", .field = "Id" }, { .header = "LAYER", .field = "Layer" },
                            { .header = "WEIGHT", .field = "EffectiveWeight" },
                            { .header = "ACTION", .field = "Action", .min_width = 7 },
                            { .header = "E", .field = "EngineOwned", .mark = "*" }, { .header = "NAME", .field = "Name" } },
};

static char *format_cell(ObjectKind kind, const Column *c, const Field *field, const void *obj) {
        if (c->mark && field->type == FIELD_BOOL)
                return strdup(*(const bool *) field_ptr(field, obj) ? c->mark : "");
        return format_field(kind, field, obj, true);
}

static size_t size_max(size_t a, size_t b) {
        return a > b ? a : b;
}

/* One line of a table: @cells, or the headers if NULL. */
static void print_row(FILE *f, const Column *columns, char **cells, const size_t *widths, size_t n_columns) {
        for (size_t c = 0; c < n_columns; c++) {
                const char *s = cells ? cells[c] ?: "?" : columns[c].header;

                if (c + 1 < n_columns)
                        fprintf(f, "%-*s  ", (int) widths[c], s);
                else
                        fprintf(f, "%s\n", s);
        }
}

static int print_table(FILE *f, ObjectKind kind, const Column *columns, size_t n_columns, const void *array,
                       size_t n, bool legend) {
        const ObjectInfo *o = object_info(kind);
        const Field *fields[n_columns];
        size_t widths[n_columns];
        char **cells;

        cells = calloc(n * n_columns + 1, sizeof(*cells));
        if (!cells)
                return -ENOMEM;
        for (size_t c = 0; c < n_columns; c++) {
                fields[c] = object_field_by_bus(o, columns[c].field);
                widths[c] = size_max(strlen(columns[c].header), columns[c].min_width);
        }
        for (size_t i = 0; i < n; i++)
                for (size_t c = 0; c < n_columns; c++) {
                        char **cell = &cells[i * n_columns + c];

                        if (fields[c])
                                *cell = format_cell(kind, &columns[c], fields[c], (const uint8_t *) array + i * o->size);
                        widths[c] = size_max(widths[c], strlen(*cell ?: "?"));
                }

        if (legend)
                print_row(f, columns, NULL, widths, n_columns);
        for (size_t i = 0; i < n; i++)
                print_row(f, columns, &cells[i * n_columns], widths, n_columns);

        for (size_t i = 0; i < n * n_columns; i++)
                free(cells[i]);
        free(cells);
        return 0;
}

int print_list(FILE *f, ObjectKind kind, const void *array, size_t n, bool legend) {
        const Column *columns = list_columns[kind];
        size_t n_columns = 0;
        int r;

        while (n_columns < LIST_COLUMNS_MAX && columns[n_columns].header)
                n_columns++;
        r = print_table(f, kind, columns, n_columns, array, n, legend);
        if (r >= 0 && legend && kind == OBJECT_FILTER)
                fprintf(f, "\n%zu filter%s (* = engine-owned)\n", n, n == 1 ? "" : "s");
        return r;
}

/* ---- obstacles ------------------------------------------------------------------------------- */

/* "inet filter input: policy drop"; "firewalld: …" for firewalld as a whole (no zone). */
static void print_obstacle(FILE *f, const BfeObstacle *o) {
        fprintf(f, "%s%s%s: %s\n", o->table, o->chain[0] ? " " : "", o->chain, o->what);
}

void print_obstacles(FILE *f, const char *label, const BfeObstacle *a, size_t n) {
        if (n == 0) {
                show_line(f, label, "none");
                return;
        }
        for (size_t i = 0; i < n; i++) {
                fprintf(f, "%-*s ", SHOW_LABEL_WIDTH, i == 0 ? label : "");
                print_obstacle(f, &a[i]);
        }
}

void print_explain_obstacles(FILE *f, const BfeObstacle *a, size_t n) {
        for (size_t i = 0; i < n; i++) {
                fprintf(f, "  but %s by: ", a[i].certain ? "dropped" : "may be dropped");
                print_obstacle(f, &a[i]);
        }
}

static void json_obstacle(Json *o, size_t i, const void *data) {
        const BfeObstacle *a = (const BfeObstacle *) data + i;

        json_str(o, "table", a->table);
        json_str(o, "chain", a->chain);
        json_str(o, "what", a->what);
}

static void json_obstacle_certain(Json *o, size_t i, const void *data) {
        json_obstacle(o, i, data);
        json_bool(o, "certain", ((const BfeObstacle *) data)[i].certain);
}

void json_obstacles(Json *j, const char *name, const BfeObstacle *a, size_t n, bool with_certain) {
        json_name(j, name);
        json_objects(j->f, n, with_certain ? json_obstacle_certain : json_obstacle, a);
}
