/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bus-template.h — the keys of a filter enumeration template that FWPM_FILTER_ENUM_TEMPLATE0 has
 * beyond the common ones: EnumType, Conditions, ActionMask, CalloutKey.
 */
#pragma once

#include <systemd/sd-bus.h>

#include "enumerate.h"

/* Reads one such key (the message at its variant): 1 when it was one, 0 when not, or < 0. */
int bus_filter_template_option(sd_bus_message *m, const char *key, const char *contents, EnumTemplate *t,
                               sd_bus_error *error);
/* After all keys: parses the conditions at the template's layer and checks the whole. */
int bus_filter_template_finish(EnumTemplate *t, sd_bus_error *error);
