/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* keymap.c — linear probing with tombstones; grows at 1/2 load, so lookups stay O(1). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "keymap.h"

struct KeyMapEntry {
        uint8_t key[16];
        void *value;            /* NULL: empty; TOMBSTONE: deleted */
};

static char tombstone;
#define TOMBSTONE ((void *) &tombstone)

/*
 * Keys come from callers, so the hash is keyed with a secret of this process: without one, a
 * caller could choose keys that all land in one run of buckets and make every lookup a scan.
 * Each half of the key goes through the murmur3 finalizer (a bijection) with a half of the
 * secret; which keys collide depends on it.
 */
static uint64_t secret[2] = { UINT64_C(0x9e3779b97f4a7c15), UINT64_C(0xc2b2ae3d27d4eb4f) };

static void secret_init(void) __attribute__((constructor));
static void secret_init(void) {
        uint64_t s[2];

        /* before the pool is ready (early boot) this fails: the fixed secret stays */
        if (getrandom(s, sizeof(s), GRND_NONBLOCK) == (ssize_t) sizeof(s))
                memcpy(secret, s, sizeof(s));
}

static uint64_t fmix64(uint64_t h) {
        h ^= h >> 33;
        h *= UINT64_C(0xff51afd7ed558ccd);
        h ^= h >> 33;
        h *= UINT64_C(0xc4ceb9fe1a85ec53);
        h ^= h >> 33;
        return h;
}

uint64_t hash_bytes(const void *p, size_t len) {
        const uint8_t *b = p;
        uint64_t h = secret[0] ^ len;

        for (; len >= 8; b += 8, len -= 8) {
                uint64_t w;

                memcpy(&w, b, sizeof(w));
                h = fmix64(h ^ w);
        }
        if (len > 0) {
                uint64_t w = 0;

                memcpy(&w, b, len);
                h = fmix64(h ^ w);
        }
        return fmix64(h ^ secret[1]);
}

uint64_t keymap_hash(const uint8_t *key) {
        uint64_t a, b;

        memcpy(&a, key, sizeof(a));
        memcpy(&b, key + sizeof(a), sizeof(b));
        return fmix64(fmix64(a ^ secret[0]) ^ b ^ secret[1]);
}

void keymap_done(KeyMap *m) {
        free(m->entries);
        *m = (KeyMap) {};
}

void keymap_free_values(KeyMap *m) {
        for (size_t i = 0; i < m->n_buckets; i++)
                if (m->entries[i].value && m->entries[i].value != TOMBSTONE)
                        free(m->entries[i].value);
        keymap_done(m);
}

static KeyMapEntry *find(const KeyMap *m, const void *key) {
        size_t mask = m->n_buckets - 1;

        if (m->n_buckets == 0)
                return NULL;
        for (size_t i = keymap_hash(key) & mask;; i = (i + 1) & mask) {
                KeyMapEntry *e = &m->entries[i];

                if (!e->value)
                        return NULL;
                if (e->value != TOMBSTONE && memcmp(e->key, key, 16) == 0)
                        return e;
        }
}

static int resize(KeyMap *m, size_t n_buckets) {
        KeyMapEntry *old = m->entries;
        size_t n_old = m->n_buckets;

        m->entries = calloc(n_buckets, sizeof(KeyMapEntry));
        if (!m->entries) {
                m->entries = old;
                return -ENOMEM;
        }
        m->n_buckets = n_buckets;
        m->n_used = m->n_tombstones = 0;
        for (size_t i = 0; i < n_old; i++)
                if (old[i].value && old[i].value != TOMBSTONE)
                        (void) keymap_put(m, old[i].key, old[i].value); /* cannot grow again */
        free(old);
        return 0;
}

int keymap_put(KeyMap *m, const void *key, void *value) {
        KeyMapEntry *e = find(m, key);
        size_t mask;

        if (e) {
                e->value = value;
                return 0;
        }
        if ((m->n_used + m->n_tombstones + 1) * 2 > m->n_buckets) {
                /* big enough for the live entries; at the same size this just clears tombstones */
                size_t n = m->n_buckets ? m->n_buckets : 16;
                int r;

                while ((m->n_used + 1) * 2 > n)
                        n *= 2;
                r = resize(m, n);
                if (r < 0)
                        return r;
        }
        mask = m->n_buckets - 1;
        for (size_t i = keymap_hash(key) & mask;; i = (i + 1) & mask) {
                e = &m->entries[i];
                if (!e->value || e->value == TOMBSTONE) {
                        if (e->value == TOMBSTONE)
                                m->n_tombstones--;
                        memcpy(e->key, key, 16);
                        e->value = value;
                        m->n_used++;
                        return 0;
                }
        }
}

void *keymap_get(const KeyMap *m, const void *key) {
        KeyMapEntry *e = find(m, key);

        return e ? e->value : NULL;
}

void *keymap_remove(KeyMap *m, const void *key) {
        KeyMapEntry *e = find(m, key);
        void *v;

        if (!e)
                return NULL;
        v = e->value;
        e->value = TOMBSTONE;
        m->n_used--;
        m->n_tombstones++;
        return v;
}
