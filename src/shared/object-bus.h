/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * object-bus.h — objects as D-Bus dictionaries (a{sv}), driven by the field tables of
 * object.h: the one reader and the one writer of bfed's replies and callers' requests,
 * shared by the daemon and libbfe.
 */
#pragma once

#include <stdint.h>
#include <systemd/sd-bus.h>

#include "object.h"

/* A caller sends at most this many conditions in one filter (the engine allows fewer). */
#define OBJECT_CONDITIONS_READ_MAX 1024

typedef enum ObjectWriteMode {
        /* a caller's Add*: no FIELD_OUT fields; an unset value (NULL, zero, empty) is left
         * out unless the field is FIELD_ALWAYS */
        OBJECT_WRITE_REQUEST,
        /* bfed's Get/Enum replies: every field, NULL strings as "", except unset keys and an
         * automatic weight (whose absence is its value) */
        OBJECT_WRITE_REPLY,
} ObjectWriteMode;

int object_append(sd_bus_message *m, const ObjectInfo *o, const void *obj, ObjectWriteMode mode);

typedef enum ObjectReadFlags {
        /* bfed reading a caller's object: an unknown, repeated or mistyped key, or one the
         * engine fills in (FIELD_OUT), is an error; otherwise such keys are skipped, so that a
         * newer bfed may add keys without breaking older clients */
        OBJECT_READ_STRICT = 1 << 0,
        /* strings point into the message, which must outlive the object (free it with
         * object_done_borrowed()); otherwise they are copied (object_done()) */
        OBJECT_READ_BORROW = 1 << 1,
} ObjectReadFlags;

/*
 * object_read() - reads one a{sv} into @obj (zeroed by the caller).
 * @ret_seen: optional: bit i set when field i of @o was in the dictionary
 * @ret_error: optional: for a dictionary that breaks the rules (STRICT), a malloc()ed message
 *             naming the key ("Unknown key 'Foo'"); the function then returns -EINVAL
 *
 * Return: 1 when an object was read, 0 at the end of an enclosing array, a negative errno.
 * On failure @obj may be partly filled: free it as on success.
 */
int object_read(sd_bus_message *m, const ObjectInfo *o, void *obj, ObjectReadFlags flags, uint64_t *ret_seen,
                char **ret_error);
