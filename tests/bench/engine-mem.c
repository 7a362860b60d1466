/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * engine-mem — the engine's heap per filter (issue 12, P5), without the daemon: adds N filters
 * (default 100,000) of bfed-bench's homogeneous shape — "bench I", INBOUND_TRANSPORT_V4, block,
 * IP_PROTOCOL=udp, IP_LOCAL_PORT=1024+I, IP_REMOTE_ADDRESS=10.x.y.z — to an Engine in one
 * transaction, or with --mixed shapes of bfed-bench --mixed's kinds (an address prefix; tcp, a
 * port range and a /24; tcp or udp, an exact address and port), and prints what mallinfo2()
 * says the heap grew by, with the filters' pool (pool.c), per filter, and how long the adds took.
 * With --random-weights every filter has an explicit pseudo-random 59-bit weight (a hash of I, as
 * bfed-bench --mixed gives half of its filters), so each one lands somewhere in the middle of its
 * sublayer's evaluation order: that times the ordered insertion (filter-order.c). A measuring
 * tool: it asserts nothing (the figures depend on the allocator and the machine).
 *
 *   engine-mem [--mixed] [--random-weights] [N]
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench-mix.h"
#include "engine.h"
#include "macro.h"
#include "pool.h"

/* The heap in use, and the blocks of the filters' pool (pool.c), which are not in it. */
static size_t heap_used(void) {
        struct mallinfo2 mi = mallinfo2();

        return mi.uordblks + mi.hblkhd + pool_bytes();
}

/* bfed-bench's weight of a mixed filter (bench-mix.h). */
static uint64_t random_weight(unsigned i) {
        uint32_t h, h2, h3;

        mix_hashes(i, &h, &h2, &h3);
        return mix_weight(h, h3);
}

static double now(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void filter_spec(unsigned i, bool mixed, char name[static 32], char v[static 2][48], BfeCondition conds[static 3],
                        BfeFilter *ret) {
        size_t n = 0;

        snprintf(name, 32, "bench %u", i);
        *ret = (BfeFilter) {
                .name = name, .layer = (char *) "INBOUND_TRANSPORT_V4", .action = BFE_ACTION_BLOCK, .conditions = conds,
        };
        if (!mixed || i % 3 == 2) {
                snprintf(v[0], 48, "%u", 1024 + i % 64000);
                snprintf(v[1], 48, "10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255, i & 255);
                conds[n++] = (BfeCondition) { .field = (char *) "IP_PROTOCOL", .match = BFE_MATCH_EQUAL,
                                              .value = (char *) (mixed ? "tcp" : "udp") };
                conds[n++] = (BfeCondition) { .field = (char *) (mixed ? "IP_REMOTE_PORT" : "IP_LOCAL_PORT"),
                                              .match = BFE_MATCH_EQUAL, .value = v[0] };
                conds[n++] = (BfeCondition) { .field = (char *) "IP_REMOTE_ADDRESS", .match = BFE_MATCH_EQUAL,
                                              .value = v[1] };
        } else if (i % 3 == 0) {
                snprintf(v[1], 48, "11.%u.%u.0/24", (i >> 8) & 255, i & 255);
                conds[n++] = (BfeCondition) { .field = (char *) "IP_REMOTE_ADDRESS", .match = BFE_MATCH_EQUAL,
                                              .value = v[1] };
        } else {
                snprintf(v[0], 48, "%u-%u", 2000 + i % 60000, 2010 + i % 60000);
                snprintf(v[1], 48, "12.%u.%u.0/24", (i >> 8) & 255, i & 255);
                conds[n++] = (BfeCondition) { .field = (char *) "IP_PROTOCOL", .match = BFE_MATCH_EQUAL,
                                              .value = (char *) "tcp" };
                conds[n++] = (BfeCondition) { .field = (char *) "IP_LOCAL_PORT", .match = BFE_MATCH_RANGE,
                                              .value = v[0] };
                conds[n++] = (BfeCondition) { .field = (char *) "IP_REMOTE_ADDRESS", .match = BFE_MATCH_EQUAL,
                                              .value = v[1] };
        }
        ret->n_conditions = n;
}

int main(int argc, char *argv[]) {
        _cleanup_(engine_freep) Engine *e = NULL;
        bool mixed = false, random_weights = false;
        unsigned long n = 100000;
        size_t before, after;
        double t0, t1;
        int r;

        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--mixed") == 0)
                        mixed = true;
                else if (strcmp(argv[i], "--random-weights") == 0)
                        random_weights = true;
                else
                        n = strtoul(argv[i], NULL, 10);
        }
        if (n == 0) {
                fprintf(stderr, "usage: engine-mem [--mixed] [--random-weights] [N > 0]\n");
                return EXIT_FAILURE;
        }
        r = engine_new(&e);
        if (r < 0) {
                fprintf(stderr, "engine_new: %s\n", strerror(-r));
                return EXIT_FAILURE;
        }
        before = heap_used();
        t0 = now();
        r = engine_begin(e);
        for (unsigned long i = 0; r >= 0 && i < n; i++) {
                char name[32], v[2][48];
                BfeCondition conds[3];
                BfeFilter spec;
                EngineError err = {};

                filter_spec((unsigned) i, mixed, name, v, conds, &spec);
                if (random_weights) {
                        spec.weight_kind = BFE_WEIGHT_EXPLICIT;
                        spec.weight = random_weight((unsigned) i);
                }
                r = engine_add_filter(e, &spec, &err, NULL);
                if (r < 0)
                        fprintf(stderr, "filter %lu: %s\n", i, err.message);
        }
        if (r < 0) {
                engine_abort(e);
                return EXIT_FAILURE;
        }
        engine_commit(e);
        t1 = now();
        after = heap_used();
        printf("%lu %s filters%s: %zu bytes of heap and pool, %.1f B per filter (sizeof Filter %zu, Condition %zu); "
               "added in %.3f s, %.2f us each\n", n, mixed ? "mixed" : "homogeneous",
               random_weights ? " with random weights" : "", after - before, (double) (after - before) / (double) n,
               sizeof(Filter), sizeof(Condition), t1 - t0, (t1 - t0) * 1e6 / (double) n);
        return EXIT_SUCCESS;
}
