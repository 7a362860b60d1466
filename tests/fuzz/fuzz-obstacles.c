/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-obstacles.c — libFuzzer target: the other tables' dump (netlink messages, as
 * nft_transport_dump_foreign() reads them) through the obstacle analysis, nft_obstacles_find().
 * Invariants: it succeeds (or runs out of its bounds: -E2BIG); every text is valid UTF-8
 * without control characters and at most NFT_OBSTACLE_TEXT_MAX bytes; the kinds are kinds, and
 * those dropped for certain are among those that may be; the entries are sorted; the same bytes
 * twice give the same result. The input is copied to an aligned buffer, as a socket's is.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-util.h"
#include "obstacles.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const NftObstacles *o) {
        for (size_t i = 0; i < o->n; i++) {
                const NftObstacle *e = &o->entries[i];
                const char *texts[] = { e->table, e->chain, e->what, e->hook };

                for (size_t t = 0; t < sizeof(texts) / sizeof(texts[0]); t++) {
                        if (!texts[t] || !utf8_is_valid(texts[t]) || strlen(texts[t]) > NFT_OBSTACLE_TEXT_MAX)
                                abort();
                        for (const char *p = texts[t]; *p; p++)
                                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                                        abort();
                }
                if (e->kinds == 0 || (e->kinds & ~NFT_DGRAM_ALL) || (e->kinds_always & ~e->kinds))
                        abort();
                if (i > 0 && strcmp(o->entries[i - 1].table, e->table) > 0)
                        abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        NftObstacles *a = NULL, *b = NULL;
        void *buf;
        int r;

        buf = fuzz_aligned_copy(data, size);
        if (!buf)
                return 0;
        r = nft_obstacles_find(buf, size, "bfed", &a);
        if (r < 0 && r != -E2BIG) {
                fprintf(stderr, "fuzz-obstacles: %s\n", strerror(-r));
                abort();
        }
        if (r >= 0) {
                check(a);
                if (nft_obstacles_find(buf, size, "bfed", &b) < 0 || !nft_obstacles_equal(a, b))
                        abort();
        }
        nft_obstacles_free(a);
        nft_obstacles_free(b);
        free(buf);
        return 0;
}
