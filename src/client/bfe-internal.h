/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bfe-internal.h — what the libbfe source files share: the engine struct, the call helper. */
#pragma once

#include <stdlib.h>

#include <systemd/sd-bus.h>

#include "bfe/bfe.h"

static inline void *mfree(void *p) {
        free(p);
        return NULL;
}

#define _public_ __attribute__((visibility("default")))

#define BFE_BUS_NAME "org.bfed.Engine1"
#define BFE_OBJECT_PATH "/org/bfed/Engine1"
#define BFE_INTERFACE "org.bfed.Engine1"

struct BfeEngine {
        sd_bus *bus;
        BfeError error;         /* its strings point at the fields below or at static tables */
        char *error_bus_name;
        char *error_message;
};

void engine_clear_error(BfeEngine *e);
int engine_set_error(BfeEngine *e, int r, const sd_bus_error *error);
/* Ends a public call: records a local failure unless a bus error was already recorded. */
int engine_result(BfeEngine *e, int r);
int engine_new_method_call(BfeEngine *e, const char *member, sd_bus_message **ret);
int engine_call(BfeEngine *e, sd_bus_message *m, sd_bus_message **ret_reply);
