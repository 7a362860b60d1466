/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nft-dump — writes the kernel's netlink dump of one inet table to stdout, as bfed reads it
 * (nft_transport_dump_table()): the raw messages its table check parses. It makes seeds for
 * the fuzz-image target (tests/fuzz/README), and the fixtures of test-obstacles.
 *
 *   nft-dump [TABLE]                 default: bfed
 *   nft-dump --foreign [OWN]         every other table (nft_transport_dump_foreign()); OWN: bfed
 *   nft-dump --obstacles [OWN|-]     what nft_obstacles_find() makes of that dump, one line per
 *                                    base chain; with -, of the dump on stdin instead
 *
 * Exits 0, or 1 with a message on stderr.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "obstacles.h"
#include "transport.h"

static int read_stdin(char **ret_buf, size_t *ret_len) {
        char *buf = NULL;
        size_t len = 0, alloc = 0, n;

        do {
                if (len == alloc) {
                        char *b = realloc(buf, alloc = alloc ? alloc * 2 : 65536);
                        if (!b) {
                                free(buf);
                                return -ENOMEM;
                        }
                        buf = b;
                }
                n = fread(buf + len, 1, alloc - len, stdin);
                len += n;
        } while (n > 0);
        *ret_buf = buf;
        *ret_len = len;
        return ferror(stdin) ? -EIO : 0;
}

static int print_obstacles(const char *buf, size_t len, const char *own) {
        _cleanup_(nft_obstacles_freep) NftObstacles *o = NULL;
        int r;

        r = nft_obstacles_find(buf, len, own, &o);
        if (r < 0)
                return r;
        for (size_t i = 0; i < o->n; i++) {
                const NftObstacle *e = &o->entries[i];

                printf("%s\t%s\t%s\t%s %d\tkinds=0x%03x always=0x%03x\n", e->table, e->chain, e->what, e->hook,
                       e->priority, e->kinds, e->kinds_always);
        }
        if (o->n_malformed > 0)
                printf("malformed: %zu\n", o->n_malformed);
        return 0;
}

int main(int argc, char **argv) {
        bool foreign = argc > 1 && streq(argv[1], "--foreign");
        bool obstacles = argc > 1 && streq(argv[1], "--obstacles");
        const char *table = argc > (foreign || obstacles ? 2 : 1) ? argv[argc - 1] : "bfed";
        bool from_stdin = obstacles && streq(table, "-");
        NftTransport *t = NULL;
        char *buf = NULL;
        size_t len = 0;
        int r;

        if (from_stdin) {
                table = "bfed";
                r = read_stdin(&buf, &len);
        } else {
                r = nft_transport_new(&t);
                if (r >= 0)
                        r = foreign || obstacles ? nft_transport_dump_foreign(t, table, &buf, &len, NULL)
                                                 : nft_transport_dump_table(t, table, &buf, &len);
        }
        if (r >= 0 && obstacles)
                r = print_obstacles(buf, len, table);
        else if (r >= 0 && fwrite(buf, 1, len, stdout) != len)
                r = -EIO;
        if (r >= 0 && fflush(stdout) != 0)
                r = -errno;
        if (r < 0)
                fprintf(stderr, "nft-dump: %s %s: %s\n",
                        foreign || obstacles ? "the tables other than inet" : "table inet", table, strerror(-r));
        free(buf);
        nft_transport_free(t);
        return r < 0 ? 1 : 0;
}
