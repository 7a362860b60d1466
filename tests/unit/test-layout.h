/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-layout.h — the compiler's layout (src/nft/layout.h) of the one engine a compiler test has
 * at a time: lay() makes it on first use, layout_done() frees it (before the engine: runs name
 * their carrier filters); FS() and SS() read a filter's and a sublayer's entries (empty ones when
 * they have none). For a test's own .c file, after <cmocka.h>.
 */
#pragma once

#include "layout.h"

static NftLayout *test_layout;

static inline NftLayout *lay(void) {
        if (!test_layout)
                assert_int_equal(nft_layout_new(&test_layout), 0);
        return test_layout;
}

static inline void layout_done(void) {
        test_layout = nft_layout_free(test_layout);
}

static inline const NftFilterState *FS(const Filter *f) {
        return nft_layout_filter_ro(test_layout, f);
}

static inline const NftSublayerState *SS(const Sublayer *s) {
        return nft_layout_sublayer_ro(test_layout, s);
}
