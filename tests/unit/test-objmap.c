/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* test-objmap.c — ObjMap against a plain array: puts (new keys and replacements), gets of present
 * and absent keys, removes, across growth and rehashes that clear deleted entries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "keymap.h"
#include "macro.h"
#include "objmap.h"

typedef struct Obj {
        uint8_t key[16];
        bool in;                /* the reference: whether the map should hold it */
} Obj;

static void obj_key_of(const void *object, uint8_t ret[static 16]) {
        memcpy(ret, ((const Obj *) object)->key, 16);
}

static void set_key(Obj *o, unsigned k) {
        memset(o->key, 0, sizeof(o->key));
        memcpy(o->key, &k, sizeof(k));
}

#define N_KEYS 5000

static void test_against_array(void **state) {
        _cleanup_(freep) Obj *objs = calloc(N_KEYS, sizeof(Obj));
        _cleanup_(freep) Obj *twins = calloc(N_KEYS, sizeof(Obj)); /* same keys: replacements */
        ObjMap m = OBJMAP_INIT(obj_key_of);
        size_t n_in = 0;
        unsigned seed = 12345;

        assert_non_null(objs);
        assert_non_null(twins);
        for (unsigned k = 0; k < N_KEYS; k++) {
                set_key(&objs[k], k);
                set_key(&twins[k], k);
        }
        assert_null(objmap_get(&m, objs[0].key));
        assert_null(objmap_remove(&m, objs[0].key));
        for (unsigned step = 0; step < 200000; step++) {
                unsigned k = (unsigned) rand_r(&seed) % N_KEYS, op = (unsigned) rand_r(&seed) % 8;
                Obj *o = &objs[k];

                /* grow to about half the keys, then churn: puts and removes alike */
                if (op < (step < 20000 ? 6u : 4u)) {
                        assert_int_equal(objmap_put(&m, o), 0);
                        n_in += !o->in;
                        o->in = true;
                } else if (op < 7) {
                        assert_ptr_equal(objmap_remove(&m, o->key), o->in ? o : NULL);
                        n_in -= o->in;
                        o->in = false;
                } else if (o->in) {
                        /* a replacement by another object with the same key, and back */
                        assert_int_equal(objmap_put(&m, &twins[k]), 0);
                        assert_ptr_equal(objmap_get(&m, o->key), &twins[k]);
                        assert_int_equal(objmap_put(&m, o), 0);
                }
                assert_ptr_equal(objmap_get(&m, o->key), o->in ? o : NULL);
                assert_int_equal(m.n_used, n_in);
                assert_true((m.n_used + m.n_tombstones) * 8 <= m.n_buckets * 7);
        }
        for (unsigned k = 0; k < N_KEYS; k++)
                assert_ptr_equal(objmap_get(&m, objs[k].key), objs[k].in ? &objs[k] : NULL);
        objmap_done(&m);
        assert_int_equal(m.n_buckets, 0);
        assert_null(objmap_get(&m, objs[0].key));
}

/*
 * How many of 131,072 buckets 65,536 keys of @len bytes fill that differ only in the two bytes
 * at @at, hashed with keymap_hash() (@len 16) or hash_bytes(). Random placement fills 51,575; a
 * hash blind to those bytes would put them all in one.
 */
static size_t buckets_filled(size_t len, size_t at, bool bytes) {
        const size_t n_buckets = 1u << 17;
        uint8_t *used = calloc(n_buckets, 1), key[20];
        size_t occupied = 0;

        assert_non_null(used);
        memset(key, 0x5a, sizeof(key));
        for (unsigned v = 0; v < 65536; v++) {
                size_t b;

                key[at] = (uint8_t) v;
                key[at + 1] = (uint8_t) (v >> 8);
                b = (bytes ? hash_bytes(key, len) : keymap_hash(key)) & (n_buckets - 1);
                occupied += !used[b];
                used[b] = 1;
        }
        free(used);
        return occupied;
}

/* Every byte of a key counts: of a 16-byte key at its start, middle and end, and the last two
 * of hash_bytes()'s set element keys of 4, 12 and 20 bytes. */
static void test_hash_spreads(void **state) {
        for (size_t at = 0; at <= 14; at += 7)
                assert_in_range(buckets_filled(16, at, false), 50000, 53000);
        for (size_t len = 4; len <= 20; len += 8)
                assert_in_range(buckets_filled(len, len - 2, true), 50000, 53000);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_against_array),
                cmocka_unit_test(test_hash_spreads),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
