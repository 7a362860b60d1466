/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fuzz-condition.c — libFuzzer target: condition values, condition_parse() and packet_set(), for
 * every field and match type at a v4 and a v6 layer of each kind. The first three bytes choose
 * field, match type and layer; the rest is the value text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "macro.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(freep) char *value = NULL;
        EngineError err = {};
        Condition c = {};
        Packet packet = {};
        const char *field;
        WfpLayer layer;
        unsigned f;
        int r;

        if (size < 3)
                return 0;
        /* one past the fields: a name no field has */
        f = data[0] % (_WFP_FIELD_MAX + 1);
        field = f < _WFP_FIELD_MAX ? wfp_field_info((WfpField) f)->name : "NO_SUCH_FIELD";
        layer = (WfpLayer) (data[2] % _WFP_LAYER_MAX);
        value = strndup((const char *) data + 3, size - 3);
        if (!value)
                return 0;

        ConditionSpec spec = { .field = field, .match = data[1] % (_WFP_MATCH_MAX + 2), .value = value };
        r = condition_parse(layer, &spec, &err, &c);
        if (r >= 0) {
                char text[CONDITION_TEXT_MAX];

                /* enumeration gives back the value exactly as given, kept or rendered */
                if (c.len > CONDITION_VALUE_MAX || strcmp(condition_text(&c, text), value) != 0)
                        abort();
                /* an interval never ends before it starts */
                if (condition_field_is_ordered(c.field) && memcmp(c.lo, c.hi, c.len) > 0)
                        abort();
                (void) condition_prefix_len(&c);
                (void) conditions_check_groups(&c, 1, &err);
                condition_done(&c);
        } else if (wfp_code_from_ret(r) != 0 && (err.code == 0 || !utf8_is_valid(err.message)))
                abort(); /* a WFP error always says why, in text the bus can carry */

        err = (EngineError) {};
        r = packet_set(&packet, layer, field, value, &err);
        if (r < 0 && wfp_code_from_ret(r) != 0 && !utf8_is_valid(err.message))
                abort();
        return 0;
}
