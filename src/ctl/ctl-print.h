/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ctl-print.h — how bfectl shows things: objects from their tables, as lines, JSON or a table. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bfe/bfe.h"
#include "macro.h"
#include "object.h"

/* "Label:" padded to this width, then the value: the show and status lines. */
#define SHOW_LABEL_WIDTH 18

void show_line(FILE *f, const char *label, const char *fmt, ...) _printf_(3, 4) __attribute__((nonnull(1, 2, 3)));

/* A JSON object being written: each member call writes ",\"name\":value", the first without
 * the comma. */
typedef struct Json {
        FILE *f;
        bool first;
} Json;

void json_begin(Json *j, FILE *f);
void json_end(Json *j);
void json_name(Json *j, const char *name);
void json_str(Json *j, const char *name, const char *value);        /* NULL: null */
void json_u64(Json *j, const char *name, uint64_t value);
void json_bool(Json *j, const char *name, bool value);
void json_key(Json *j, const char *name, const BfeKey *k);          /* a zero key: null */
/* An array of @n objects on @f: @item writes the members of element @i into @o (begun and
 * ended around it). After json_name() it is that member's value. */
void json_objects(FILE *f, size_t n, void (*item)(Json *o, size_t i, const void *data), const void *data);

/*
 * print_object() - one object of @kind, every field of its table in the table's order: as
 * "Label: value" lines, or as one JSON object (without a newline) whose members are the
 * fields' JSON names.
 */
void print_object(FILE *f, ObjectKind kind, const void *obj, bool json);
/* @n objects of @kind as a JSON array, and a newline. */
void print_objects_json(FILE *f, ObjectKind kind, const void *array, size_t n);

/* @n objects of @kind as a table, a line each: bfectl list. With @legend, under a header line
 * and, for filters, over a footer with the count; the columns are as wide either way.
 * Return: 0, or -ENOMEM (nothing printed). */
int print_list(FILE *f, ObjectKind kind, const void *array, size_t n, bool legend);

/* A field's value as text (malloc()ed; NULL on OOM): the long form of show, or with @brief
 * the short one of a table. */
char *format_field(ObjectKind kind, const Field *field, const void *obj, bool brief);
/* "0x9 (persistent,clear-action-right)": the flags with the names @kind gives them. */
char *format_flags(ObjectKind kind, uint32_t flags);
/* FIELD=VALUE, FIELD!=VALUE or FIELD:MATCH=VALUE: what parse_condition() reads. */
char *format_condition(const BfeCondition *c);

/* ---- obstacles: what may drop the exempted traffic outside bfed's table ---------------------- */

/* status: "@label table chain: what", the next ones under the first; "none" when @n is 0. */
void print_obstacles(FILE *f, const char *label, const BfeObstacle *a, size_t n);
/* explain, after a permit: "  but dropped by: table chain: what" (certain), or "  but may be
 * dropped by: …", a line each. */
void print_explain_obstacles(FILE *f, const BfeObstacle *a, size_t n);
/* A member @name: a JSON array of {"table","chain","what"}, with "certain" if @with_certain. */
void json_obstacles(Json *j, const char *name, const BfeObstacle *a, size_t n, bool with_certain);
