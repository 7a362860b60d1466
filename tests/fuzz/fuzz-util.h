/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fuzz-util.h — what the targets that read netlink messages share. */
#pragma once

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* libFuzzer's bytes copied to memory aligned as netlink messages are (the parsers cast to
 * struct nlmsghdr); the size rounded up to the alignment. Free with free(); NULL: no memory. */
static inline void *fuzz_aligned_copy(const uint8_t *data, size_t size) {
        void *buf = aligned_alloc(16, (size / 16 + 1) * 16);

        if (buf)
                memcpy(buf, data, size);
        return buf;
}
