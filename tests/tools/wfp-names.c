/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * wfp-names — the names bfectl takes, from src/shared/wfp.c's tables, one "KIND NAME" a line:
 * layer (every layer), packet-layer (the layers bfed compiles, which explain takes), field (the
 * condition fields a filter may use), explain-field (those and bfed's own), context-type
 * (bfectl's short names). The completion test (tests/integration/completion.sh) checks the
 * shell completions against them.
 */
#include <stdio.h>

#include "wfp.h"

int main(void) {
        for (WfpLayer l = 0; l < _WFP_LAYER_MAX; l++) {
                printf("layer %s\n", wfp_layer_info(l)->name);
                if (wfp_layer_is_emitted(l))
                        printf("packet-layer %s\n", wfp_layer_info(l)->name);
        }
        for (WfpField f = 0; f < _WFP_FIELD_MAX; f++) {
                if (!wfp_field_info(f)->internal)
                        printf("field %s\n", wfp_field_info(f)->name);
                printf("explain-field %s\n", wfp_field_info(f)->name);
        }
        for (uint32_t t = 0; t < WFP_CONTEXT_TYPE_MAX; t++)
                printf("context-type %s\n", wfp_context_type_short_name(t));
        return 0;
}
