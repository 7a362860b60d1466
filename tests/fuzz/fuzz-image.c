/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-image.c — libFuzzer target: nftables listings as the kernel sends them (netlink messages
 * of a table dump), parsed into bfed's canonical image of its table (nft_image_parse()) and
 * compared with themselves: an image of a table with nothing malformed and nothing foreign in
 * it (what compare always reports) must equal a second parse of the same bytes. The input is copied to an aligned buffer: the parser reads
 * nlmsghdr and nlattr in place, as it does a socket's buffer.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-util.h"
#include "image.h"
#include "verify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        NftImage *a = NULL, *b = NULL;
        void *buf;
        int r;

        buf = fuzz_aligned_copy(data, size);
        if (!buf)
                return 0;
        r = nft_image_parse(buf, size, "bfed", &a);
        if (r >= 0) {
                /* the same bytes give the same image, which equals itself */
                NftDiff diff = {};

                if (nft_image_parse(buf, size, "bfed", &b) < 0 || nft_image_compare(a, b, &diff) < 0)
                        abort();
                if (a->has_table && a->n_malformed == 0 && a->n_objects == 0 && diff.n != 0) {
                        for (size_t i = 0; i < diff.n_shown; i++)
                                fprintf(stderr, "fuzz-image: %s\n", diff.shown[i]);
                        abort();
                }
        }
        nft_image_free(a);
        nft_image_free(b);
        free(buf);
        return 0;
}
