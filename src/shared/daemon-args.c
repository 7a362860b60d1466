/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* daemon-args.c — the options both daemons take (daemon-args.h). */
#include <errno.h>
#include <stdio.h>

#include "bfed-build.h"
#include "daemon-args.h"
#include "log.h"

int daemon_common_option(int c, const char *arg, const char *program, void (*help)(void), bool *log_level_fixed) {
        int level;

        switch (c) {
        case 'd':
                log_set_max_level(LOG_DEBUG);
                *log_level_fixed = true;
                return DAEMON_ARG_CONTINUE;
        case DAEMON_ARG_LOG_LEVEL:
                level = log_level_from_string(arg);
                if (level < 0) {
                        log_error("Invalid --log-level='%s': expected emerg, alert, crit, err, warning, notice, "
                                  "info, debug or 0-7.", arg);
                        return -EINVAL;
                }
                log_set_max_level(level);
                *log_level_fixed = true;
                return DAEMON_ARG_CONTINUE;
        case 'h':
                help();
                return DAEMON_ARG_EXIT;
        case DAEMON_ARG_VERSION:
                printf("%s %s\n", program, BFED_VERSION);
                return DAEMON_ARG_EXIT;
        default:
                return -EINVAL;
        }
}

int daemon_no_operands(int argc, char *argv[]) {
        if (optind < argc) {
                log_error("Unexpected argument '%s'.", argv[optind]);
                return -EINVAL;
        }
        return 0;
}
