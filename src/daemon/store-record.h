/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * store-record.h — one record of the state file, one engine object: written from the object's
 * public struct and read back into one, both by walking the kind's field table (object.h). The
 * file around the records (header, order, end record, damage) is store-format.c's.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "engine.h"
#include "macro.h"

/* A growing text, NUL-terminated; after a failed allocation every put is a no-op and oom stays set. */
typedef struct Buf {
        char *data;
        size_t size, alloc;
        bool oom;
} Buf;

void buf_done(Buf *b);
void buf_put(Buf *b, const char *s, size_t n);
void buf_puts(Buf *b, const char *s);
void buf_printf(Buf *b, const char *fmt, ...) _printf_(2, 3);

/* Appends the record of @object, an engine object of @kind (Provider *, …), with its newline. */
void record_write(Buf *b, ObjectKind kind, const void *object);

/*
 * record_load() - adds the object of one record to @e.
 * @version: of the file (1 or 2; 0 when its header is damaged: either version's rules)
 * @line: the record, without its newline; taken apart in place
 * @ret_reason: on failure, why (malloc()ed): "field 'flags' is missing", "filter 'x':
 *              FWP_E_SUBLAYER_NOT_FOUND: …"; NULL when even that could not be allocated
 *
 * Return: 0; -EBADMSG for a record that does not parse, or is not marked persistent; the
 * engine's error when it refuses the object (a WFP error for the object's fault, -ENOMEM …).
 */
int record_load(Engine *e, unsigned version, char *line, char **ret_reason);
