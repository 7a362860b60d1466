/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fuzz-state.c — libFuzzer target: a state file, read into a scratch engine (store_load_buffer()),
 * and whatever loaded written and read back: it must load whole, to the same objects. Its boot-time
 * filters rendered as the boot file (src/nft/boot.c) must stay nft's text: no caller's byte may
 * end a quoted string or a line. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "boot.h"
#include "engine.h"
#include "macro.h"
#include "store.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_texts(const Engine *e) {
        /* what loaded goes on the bus: every text must be valid UTF-8 */
        for (Provider *p = engine_providers(e); p; p = p->next)
                if (!utf8_is_valid(p->name) || (p->description && !utf8_is_valid(p->description)))
                        abort();
        for (Filter *f = engine_filters(e); f; f = f->next) {
                if (!utf8_is_valid(f->name) || (f->description && !utf8_is_valid(f->description)))
                        abort();
                for (size_t i = 0; i < f->n_conditions; i++) {
                        char buf[CONDITION_TEXT_MAX];
                        const char *text = condition_text(&f->conditions[i], buf);

                        if (!*text || !utf8_is_valid(text))
                                abort();
                }
        }
}

/* Every line of the boot file: printable or UTF-8, its double quotes in pairs, and each boot-time
 * filter's comment starting a quoted string that ends the line. */
static void check_boot_file(const Engine *e) {
        _cleanup_(freep) char *text = NULL;
        NftConfig c;
        size_t len, quotes = 0;

        nft_config_init(&c);
        if (nft_boot_render(e, &c, &text, &len) < 0 || strlen(text) != len ||
            strncmp(text, NFT_BOOT_HEADER, strlen(NFT_BOOT_HEADER)) != 0 || !utf8_is_valid(text))
                abort();
        for (const char *p = text; *p; p++) {
                if ((unsigned char) *p < 0x20 && *p != '\n' && *p != '\t')
                        abort();
                if (*p == '"')
                        quotes++;
                if (*p == '\n' && (quotes % 2 != 0 || (p > text && p[-1] == '\\')))
                        abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(engine_freep) Engine *e = NULL, *again = NULL;
        _cleanup_(store_problems_done) StoreProblems problems = {}, problems_again = {};
        _cleanup_(freep) char *error = NULL, *text = NULL;
        size_t text_size;
        int n, m;

        if (engine_new(&e) < 0)
                abort();
        n = store_load_buffer("fuzz", data, size, e, &problems, &error);
        if (n < 0) {
                /* only a newer version refuses a whole file, and then says why */
                if (!error || problems.n_messages > 0)
                        abort();
                return 0;
        }
        if (error || engine_in_transaction(e) || (problems.n_messages == 0) != (problems.n_skipped == 0 && !problems.damaged))
                abort();
        for (size_t i = 0; i < problems.n_messages; i++)
                if (strncmp(problems.messages[i], "fuzz", 4) != 0)
                        abort();
        check_texts(e);
        check_boot_file(e);

        /* round trip: what loaded is written, and that loads whole, to as many objects */
        if (store_format(e, &text, &text_size) < 0)
                abort();
        if (engine_new(&again) < 0)
                abort();
        m = store_load_buffer("again", text, text_size, again, &problems_again, &error);
        if (m != n || problems_again.n_messages > 0)
                abort();
        return 0;
}
