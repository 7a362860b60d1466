/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bfe-obstacles.c — libbfe: what may drop the exempted traffic outside bfed's table. The
 * ExemptionObstacles property is a(sss) (table, chain, what); Explain's fourth answer is a(sssb)
 * (table, chain, what, certain) and is read here too (bfe-explain.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-bus.h>

#include "array.h"
#include "bfe-internal.h"
#include "macro.h"

_public_ void bfe_obstacle_array_free(BfeObstacle *a, size_t n) {
        for (size_t i = 0; a && i < n; i++) {
                free(a[i].table);
                free(a[i].chain);
                free(a[i].what);
        }
        free(a);
}

int bfe_read_obstacles(sd_bus_message *m, bool with_certain, BfeObstacle **ret, size_t *ret_n) {
        const char *entry = with_certain ? "sssb" : "sss";
        BfeObstacle *a = NULL;
        size_t n = 0, alloc = 0;
        int r;

        r = sd_bus_message_enter_container(m, 'a', with_certain ? "(sssb)" : "(sss)");
        while (r >= 0) {
                const char *table, *chain, *what;
                int certain = 0;

                r = sd_bus_message_enter_container(m, 'r', entry);
                if (r <= 0)
                        break;
                r = sd_bus_message_read(m, "sss", &table, &chain, &what);
                if (r >= 0 && with_certain)
                        r = sd_bus_message_read(m, "b", &certain);
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
                if (r >= 0 && !ARRAY_RESERVE(a, alloc, n + 1, 4))
                        r = -ENOMEM;
                if (r < 0)
                        break;
                a[n++] = (BfeObstacle) {
                        .table = strdup(table), .chain = strdup(chain), .what = strdup(what), .certain = certain,
                };
                if (!a[n - 1].table || !a[n - 1].chain || !a[n - 1].what)
                        r = -ENOMEM;
        }
        if (r >= 0)
                r = sd_bus_message_exit_container(m);
        if (r < 0) {
                bfe_obstacle_array_free(a, n);
                return r;
        }
        if (n == 0)
                a = mfree(a);
        *ret = a;
        *ret_n = n;
        return 0;
}

_public_ int bfe_engine_get_exemption_obstacles(BfeEngine *e, BfeObstacle **ret, size_t *ret_n) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = bfe_engine_get_property_message(e, ret && ret_n, "ExemptionObstacles", "a(sss)", &reply);
        if (r < 0)
                return r;
        r = bfe_read_obstacles(reply, false, ret, ret_n);
        if (r < 0)
                return bfe_engine_result(e, r);
        return 0;
}
