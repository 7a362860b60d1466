/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nft-dump — writes the kernel's netlink dump of one inet table to stdout, as bfed reads it
 * (nft_transport_dump_table()): the raw messages its table check parses. It makes seeds for
 * the fuzz-image target (tests/fuzz/README).
 *
 *   nft-dump [TABLE]        default: bfed
 *
 * Exits 0, or 1 with a message on stderr.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transport.h"

int main(int argc, char **argv) {
        const char *table = argc > 1 ? argv[1] : "bfed";
        NftTransport *t = NULL;
        char *buf = NULL;
        size_t len = 0;
        int r;

        r = nft_transport_new(&t);
        if (r >= 0)
                r = nft_transport_dump_table(t, table, &buf, &len);
        if (r >= 0 && fwrite(buf, 1, len, stdout) != len)
                r = -EIO;
        if (r >= 0 && fflush(stdout) != 0)
                r = -errno;
        if (r < 0)
                fprintf(stderr, "nft-dump: table inet %s: %s\n", table, strerror(-r));
        free(buf);
        nft_transport_free(t);
        return r < 0 ? 1 : 0;
}
