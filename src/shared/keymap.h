/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* keymap.h — a small open-addressing hash map from 16-byte keys (GUIDs, or ids) to pointers. */
#pragma once

#include <stddef.h>
#include <stdint.h>

typedef struct KeyMapEntry KeyMapEntry;

typedef struct KeyMap {
        KeyMapEntry *entries;
        size_t n_buckets;       /* a power of two, or 0 */
        size_t n_used;          /* live entries */
        size_t n_tombstones;
} KeyMap;

void keymap_done(KeyMap *m);
/* keymap_done(), after free() of every value (a map that owns its values). */
void keymap_free_values(KeyMap *m);
int keymap_put(KeyMap *m, const void *key, void *value);   /* replaces; -ENOMEM */
void *keymap_get(const KeyMap *m, const void *key);
void *keymap_remove(KeyMap *m, const void *key);

/* The hash of a 16-byte key, for this map and ObjMap (objmap.h): keyed with a secret of the
 * process, so callers cannot choose keys that collide. */
uint64_t keymap_hash(const uint8_t *key);
/* The same for @len bytes of anything (a set element's key). */
uint64_t hash_bytes(const void *p, size_t len);

/* An id as a 16-byte key. */
static inline void keymap_id_key(uint64_t id, uint8_t key[static 16]) {
        for (int i = 0; i < 16; i++)
                key[i] = i < 8 ? (uint8_t) (id >> (8 * i)) : 0;
}
