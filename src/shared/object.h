/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * object.h — the engine's four object kinds, each described once.
 *
 * An object's plain-data form is its public libbfe struct (BfeProvider, BfeSublayer,
 * BfeProviderContext, BfeFilter). A table of its fields says, for each one, its D-Bus
 * dictionary key and type, where it sits in the struct, its key in the state file and how
 * bfectl labels it. Every place that moves objects in or out of bfed walks these tables:
 * the daemon's D-Bus reader and writer and libbfe's encoder and decoder (object-bus.c), the
 * state file (src/daemon/store-record.c) and bfectl's printing (src/ctl/). A new field is one line
 * here.
 *
 * This half is pure: the tables, the text forms of field values (shared by the state file
 * and bfectl), freeing, and the size estimate that bounds replies.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bfe/bfe.h"

typedef enum ObjectKind {
        OBJECT_PROVIDER,
        OBJECT_SUBLAYER,
        OBJECT_PROVIDER_CONTEXT,
        OBJECT_FILTER,
        _OBJECT_KIND_MAX,
} ObjectKind;

typedef enum FieldType {
        FIELD_STRING,           /* s        char *; NULL = not set */
        FIELD_KEY,              /* s        BfeKey (a GUID); all zero = not set */
        FIELD_U16,              /* q        uint16_t */
        FIELD_U32,              /* u        uint32_t */
        FIELD_U64,              /* t        uint64_t */
        FIELD_BOOL,             /* b        bool */
        FIELD_BLOB,             /* ay       BfeBlob; size 0 = not set */
        FIELD_FLAGS,            /* u        uint32_t, hexadecimal in text */
        FIELD_CONTEXT_TYPE,     /* u        uint32_t, a provider context type: named in text */
        FIELD_ACTION,           /* u        uint32_t, an action type: named in text; 0 = permit */
        FIELD_WEIGHT,           /* y or t   BfeWeightKind at .offset_n, uint64_t at .offset;
                                 *          not sent for an automatic weight */
        FIELD_CONDITIONS,       /* a(sus)   BfeCondition * at .offset, size_t at .offset_n */
} FieldType;

typedef enum FieldFlags {
        FIELD_OUT = 1 << 0,     /* the engine fills it in: never read from a caller, never saved */
        FIELD_ALWAYS = 1 << 1,  /* a caller sends it even when it is zero */
        FIELD_HEX = 1 << 2,     /* a number whose bits mean something (a weight): text shows it in hex */
        FIELD_SUBLAYER_NAME = 1 << 3, /* a key that may also be a built-in sublayer's name (FWPM_SUBLAYER_…) */
        FIELD_RARE = 1 << 4,    /* a number rarely set: zero is left out of the state file and of bfectl's text */
} FieldFlags;

typedef struct Field {
        const char *bus;        /* D-Bus dictionary key: "ProviderContextKey" */
        FieldType type;
        size_t offset;          /* in the public struct */
        size_t offset_n;        /* FIELD_WEIGHT: of the kind; FIELD_CONDITIONS: of the count */
        const char *file;       /* key in the state file; NULL: not saved */
        const char *label;      /* bfectl's label: "Provider context" */
        const char *json;       /* bfectl --json's member name: "provider_context_key" */
        FieldFlags flags;
} Field;

typedef struct ObjectInfo {
        ObjectKind kind;
        const char *name;       /* "providercontext": Changed signals, state file records, bfectl */
        const char *method;     /* "ProviderContext": AddProviderContext, ProviderContextEnum, … */
        const char *text;       /* "provider context": in messages */
        size_t size;            /* of the public struct */
        const Field *fields;
        size_t n_fields;
} ObjectInfo;

/* An object as its public struct, of any kind: room for one whose kind is known at run time.
 * The four begin alike (key, name, description, flags), so the name and the flags of any kind
 * can be read through .provider. */
typedef union AnyObject {
        BfeProvider provider;
        BfeSublayer sublayer;
        BfeProviderContext context;
        BfeFilter filter;
} AnyObject;

const ObjectInfo *object_info(ObjectKind kind);
/* The kind whose name (as object_info()->name) is @name; -ENOENT. */
int object_kind_from_name(const char *name, ObjectKind *ret);
const char *object_kind_to_string(ObjectKind kind);
const Field *object_field_by_bus(const ObjectInfo *o, const char *key);

/* The field of @obj that @f describes. */
static inline void *field_ptr(const Field *f, const void *obj) {
        return (uint8_t *) obj + f->offset;
}

/* The value of a number field (FIELD_U16, _U32, _U64, _BOOL, _FLAGS, _CONTEXT_TYPE, _ACTION). */
uint64_t field_number(const Field *f, const void *obj);

/* Frees what an object owns when libbfe decoded it (strings, blobs, conditions) and zeroes it. */
void object_done(const ObjectInfo *o, void *obj);
/* Frees only the arrays of an object whose strings point into a message (object_read()
 * with OBJECT_READ_BORROW): the conditions. */
void object_done_borrowed(const ObjectInfo *o, void *obj);

/*
 * An upper bound of the bytes @obj takes in a D-Bus reply as an a{sv} with every field: what
 * bfed uses to keep each reply under a safe size and to account for what a caller has queued.
 */
size_t object_wire_size(const ObjectInfo *o, const void *obj);

/* ---- the text forms of values: the state file and bfectl ---------------------------------- */

/* A plain unsigned number in @base 10 or 16 (which may start with 0x), or with @base 0
 * decimal or 0x-hex — never octal ("010" is ten); no sign, blanks or junk. */
int text_parse_u64(const char *s, int base, uint64_t max, uint64_t *ret);

/* "block", "permit", "callout"; NULL for other values. */
const char *action_to_string(uint32_t action);
/* Those names (any case, "callout-terminating" too) or a number. */
int action_from_string(const char *s, uint32_t *ret);

/* "auto", "range:N", "explicit:N" into @buf (at least WEIGHT_STRING_MAX bytes). */
#define WEIGHT_STRING_MAX 32
char *weight_to_string(BfeWeightKind kind, uint64_t value, char buf[static WEIGHT_STRING_MAX]);
/* Those forms, and bfectl's short ones: "R" for a range, "=N" for an explicit weight. */
int weight_from_string(const char *s, BfeWeightKind *ret_kind, uint64_t *ret_value);

/* Lower-case hex of @b (malloc()ed; "" for an empty blob); NULL on OOM. */
char *blob_to_hex(const BfeBlob *b);
/* Hex, optionally with 0x, into a malloc()ed blob; -EINVAL, -ENOMEM. */
int blob_from_hex(const char *s, BfeBlob *ret);
