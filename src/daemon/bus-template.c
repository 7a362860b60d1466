/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bus-template.c — a filter enumeration template's conditions, action mask and callout. See bus-template.h. */
#include <errno.h>
#include <inttypes.h>

#include "bus-template.h"
#include "bus.h"
#include "macro.h"

static int template_error(sd_bus_error *error, int r, const EngineError *err) {
        return bus_error_set(error, r, err);
}

static int read_conditions(sd_bus_message *m, EnumTemplate *t, sd_bus_error *error) {
        EngineError err;
        int r;

        r = sd_bus_message_enter_container(m, 'v', "a(sus)");
        if (r >= 0)
                r = sd_bus_message_enter_container(m, 'a', "(sus)");
        while (r >= 0) {
                ConditionSpec spec = {};

                r = sd_bus_message_read(m, "(sus)", &spec.field, &spec.match, &spec.value);
                if (r <= 0)
                        break;
                if (t->n_condition_specs >= ENGINE_CONDITIONS_MAX)
                        return template_error(error, engine_error(&err, FWP_E_OUT_OF_BOUNDS, "a template has "
                                                                  "at most %d conditions", ENGINE_CONDITIONS_MAX),
                                              &err);
                t->condition_specs[t->n_condition_specs++] = spec;
        }
        if (r >= 0)
                r = sd_bus_message_exit_container(m);
        if (r >= 0)
                r = sd_bus_message_exit_container(m);
        t->has_conditions = true;
        return r < 0 ? r : 1;
}

int bus_filter_template_option(sd_bus_message *m, const char *key, const char *contents, EnumTemplate *t,
                               sd_bus_error *error) {
        EngineError err;
        uint32_t u;
        const char *s;
        int r;

        if (streq(key, "Conditions") && streq(contents, "a(sus)"))
                return read_conditions(m, t, error);
        if (streq(key, "EnumType") && streq(contents, "u")) {
                r = sd_bus_message_read(m, "v", "u", &u);
                if (r < 0)
                        return r;
                if (u >= _FILTER_ENUM_TYPE_MAX)
                        return template_error(error, engine_error(&err, FWP_E_INVALID_ENUMERATOR, "EnumType %" PRIu32
                                                                  " is not valid (0 fully contained, 1 overlapping)",
                                                                  u), &err);
                t->enum_type = (FilterEnumType) u;
                return 1;
        }
        if (streq(key, "ActionMask") && streq(contents, "u")) {
                r = sd_bus_message_read(m, "v", "u", &t->action_mask);
                if (r < 0)
                        return r;
                if (t->action_mask == 0)
                        return template_error(error, engine_error(&err, FWP_E_NEVER_MATCH, "ActionMask 0 matches "
                                                                  "no filter"), &err);
                t->has_action_mask = true;
                return 1;
        }
        if (streq(key, "Flags") && streq(contents, "u")) {
                static const uint32_t known = WFP_FILTER_ENUM_FLAG_SORTED | WFP_FILTER_ENUM_FLAG_BOOTTIME_ONLY |
                                              WFP_FILTER_ENUM_FLAG_INCLUDE_BOOTTIME |
                                              WFP_FILTER_ENUM_FLAG_INCLUDE_DISABLED;

                r = sd_bus_message_read(m, "v", "u", &u);
                if (r < 0)
                        return r;
                if (u & ~known)
                        return template_error(error, engine_error(&err, FWP_E_INVALID_FLAGS, "template Flags 0x%"
                                                                  PRIx32 " are not valid (sorted 0x2, "
                                                                  "boottime-only 0x4, include-boottime 0x8, "
                                                                  "include-disabled 0x10)", u), &err);
                t->flags = u;
                return 1;
        }
        if (streq(key, "CalloutKey") && streq(contents, "s")) {
                r = sd_bus_message_read(m, "v", "s", &s);
                if (r < 0)
                        return r;
                if (*s && guid_from_string(s, &t->callout_key) < 0)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "CalloutKey '%s' is not a GUID", s);
                return 1;
        }
        return 0;
}

int bus_filter_template_finish(EnumTemplate *t, sd_bus_error *error) {
        EngineError err;
        int r;

        if (t->has_conditions && t->n_condition_specs > 0 && !t->has_layer)
                return template_error(error, engine_error(&err, FWP_E_INVALID_PARAMETER, "template Conditions need "
                                                          "a Layer: conditions are fields of a layer"), &err);
        if (!guid_is_null(&t->callout_key) && t->has_action_mask && !(t->action_mask & WFP_ACTION_FLAG_CALLOUT))
                return template_error(error, engine_error(&err, FWP_E_NEVER_MATCH, "CalloutKey with an ActionMask "
                                                          "without FWP_ACTION_FLAG_CALLOUT (0x4000) matches no "
                                                          "filter"), &err);
        if (t->n_condition_specs == 0)
                return 0;
        r = template_conditions_parse(t->layer, t->condition_specs, t->n_condition_specs, &err, t->conditions);
        if (r < 0)
                return template_error(error, r, &err);
        t->n_conditions = t->n_condition_specs;
        return 0;
}
