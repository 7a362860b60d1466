/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * objmap.h — a hash map of objects that hold their own 16-byte key (a GUID, or an id): each
 * bucket is the object's pointer and one byte of its key's hash, 9 bytes, where a KeyMap
 * bucket is a copy of the key and the pointer, 24 bytes. The map asks the object for its key
 * (key_of) when a tag matches and when it grows, so an object's key must not change while the
 * map holds it.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

typedef void (*ObjMapKeyOf)(const void *object, uint8_t ret[static 16]);

typedef struct ObjMap {
        ObjMapKeyOf key_of;
        void **objects;         /* n_buckets object pointers ... */
        uint8_t *tags;          /* ... and as many tags: 0 empty, 1 deleted, else 2 + hash bits */
        size_t n_buckets;       /* a power of two, or 0 */
        size_t n_used;          /* live entries */
        size_t n_tombstones;
} ObjMap;

#define OBJMAP_INIT(k) ((ObjMap) { .key_of = (k) })

void objmap_done(ObjMap *m);
int objmap_put(ObjMap *m, void *object);          /* replaces an object with the same key; -ENOMEM */
void *objmap_get(const ObjMap *m, const void *key);
void *objmap_remove(ObjMap *m, const void *key);
