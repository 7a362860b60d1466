/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * objmap.c — open addressing with linear probing over a byte array of tags, which a probe reads
 * instead of the objects: only a tag that matches (one in 254 of the others) costs a look at an
 * object's key. That keeps lookups cheap at a high load (at most 7/8 used or deleted), so a map
 * of 100,000 filters is 131,072 buckets of 9 bytes: 12 bytes per filter.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "keymap.h"
#include "objmap.h"

enum {
        TAG_EMPTY,
        TAG_DELETED,
        _TAG_FIRST_USED,
};


static uint8_t tag_of(uint64_t h) {
        return (uint8_t) (_TAG_FIRST_USED + (h >> 56) % (256 - _TAG_FIRST_USED));
}

void objmap_done(ObjMap *m) {
        free(m->objects);  /* the tags are in the same allocation */
        *m = OBJMAP_INIT(m->key_of);
}

static bool has_key(const ObjMap *m, size_t i, const void *key) {
        uint8_t k[16];

        m->key_of(m->objects[i], k);
        return memcmp(k, key, 16) == 0;
}

/* The bucket holding @key, or SIZE_MAX. */
static size_t find(const ObjMap *m, const void *key) {
        size_t mask = m->n_buckets - 1;
        uint64_t h;
        uint8_t tag;

        if (m->n_buckets == 0)
                return SIZE_MAX;
        h = keymap_hash(key);
        tag = tag_of(h);
        for (size_t i = h & mask;; i = (i + 1) & mask) {
                if (m->tags[i] == TAG_EMPTY)
                        return SIZE_MAX;
                if (m->tags[i] == tag && has_key(m, i, key))
                        return i;
        }
}

/* Puts @object, whose key the map does not hold, in the first free bucket of its probe. */
static void insert(ObjMap *m, void *object, uint64_t h) {
        size_t mask = m->n_buckets - 1;

        for (size_t i = h & mask;; i = (i + 1) & mask)
                if (m->tags[i] < _TAG_FIRST_USED) {
                        if (m->tags[i] == TAG_DELETED)
                                m->n_tombstones--;
                        m->tags[i] = tag_of(h);
                        m->objects[i] = object;
                        m->n_used++;
                        return;
                }
}

static int resize(ObjMap *m, size_t n_buckets) {
        void **old = m->objects;
        uint8_t *old_tags = m->tags;
        size_t n_old = m->n_buckets;
        void **objects;

        if (n_buckets > SIZE_MAX / (sizeof(void *) + 1))
                return -ENOMEM;
        objects = calloc(n_buckets, sizeof(void *) + 1);
        if (!objects)
                return -ENOMEM;
        m->objects = objects;
        m->tags = (uint8_t *) (objects + n_buckets);
        m->n_buckets = n_buckets;
        m->n_used = m->n_tombstones = 0;
        for (size_t i = 0; i < n_old; i++)
                if (old_tags[i] >= _TAG_FIRST_USED) {
                        uint8_t k[16];

                        m->key_of(old[i], k);
                        insert(m, old[i], keymap_hash(k));
                }
        free(old);
        return 0;
}

int objmap_put(ObjMap *m, void *object) {
        uint8_t key[16];
        size_t i;

        m->key_of(object, key);
        i = find(m, key);
        if (i != SIZE_MAX) {
                m->objects[i] = object;
                return 0;
        }
        if ((m->n_used + m->n_tombstones + 1) * 8 > m->n_buckets * 7) {
                /* Room for the live entries and a sixteenth of the buckets more, so that a
                 * rehash at the same size (clearing deleted entries) comes at most every
                 * n_buckets / 16 changes. */
                size_t n = m->n_buckets ? m->n_buckets : 16;
                int r;

                while ((m->n_used + 1) * 16 > n * 13)
                        n *= 2;
                r = resize(m, n);
                if (r < 0)
                        return r;
        }
        insert(m, object, keymap_hash(key));
        return 0;
}

void *objmap_get(const ObjMap *m, const void *key) {
        size_t i = find(m, key);

        return i == SIZE_MAX ? NULL : m->objects[i];
}

void *objmap_remove(ObjMap *m, const void *key) {
        size_t i = find(m, key);

        if (i == SIZE_MAX)
                return NULL;
        m->tags[i] = TAG_DELETED;
        m->n_used--;
        m->n_tombstones++;
        return m->objects[i];
}
