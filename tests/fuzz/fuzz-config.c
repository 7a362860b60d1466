/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fuzz-config.c — libFuzzer target: bfed.conf content through config_load_buffer(); a refused
 * file must leave the configuration as it was and say where. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(freep) char *error = NULL;
        Config c, before;
        int r;

        log_set_max_level(LOG_EMERG);
        config_init(&c);
        before = c;
        r = config_load_buffer(&c, "fuzz", data, size, &error);
        if (r < 0) {
                if (memcmp(&c, &before, sizeof(c)) != 0)
                        abort(); /* half-applied */
                if (r == -EINVAL && (!error || strncmp(error, "fuzz:", 5) != 0))
                        abort();
                return 0;
        }
        /* what was accepted is within the documented limits */
        if (c.nft.priority < -199 || c.nft.priority > -2 || c.nft.chunk_size < 2 || c.nft.chunk_size > 65536 ||
            c.state_dir[0] != '/' || !memchr(c.nft.table, 0, sizeof(c.nft.table)) || !c.nft.table[0] ||
            c.log_level < -1 || c.log_level > LOG_DEBUG)
                abort();
        return 0;
}
