/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * daemon-args.h — the options both daemons (bfed, bfed-vici) take, read one way:
 * -d/--debug, --log-level=LEVEL, -h/--help and --version. The environment's level
 * (SYSTEMD_LOG_LEVEL, BFED_LOG_LEVEL: log_parse_environment()) comes first; an option wins
 * over it, and a bad value in either is an error, not a silent default.
 */
#include <getopt.h>
#include <stdbool.h>

enum {
        DAEMON_ARG_LOG_LEVEL = 0x100,
        DAEMON_ARG_VERSION,
};

#define DAEMON_COMMON_OPTIONS                                                   \
        { "debug", no_argument, NULL, 'd' },                                    \
        { "log-level", required_argument, NULL, DAEMON_ARG_LOG_LEVEL },         \
        { "help", no_argument, NULL, 'h' },                                     \
        { "version", no_argument, NULL, DAEMON_ARG_VERSION }

typedef enum DaemonArg {
        DAEMON_ARG_CONTINUE,            /* handled: go on parsing */
        DAEMON_ARG_EXIT,                /* handled: help or version printed, exit with success */
} DaemonArg;

/* Handles getopt_long()'s @c if it is one of DAEMON_COMMON_OPTIONS: sets the log level (and
 * *log_level_fixed) or prints @help() or "@program VERSION". Returns a DaemonArg, or -EINVAL for
 * a bad level (logged) and for any other option (getopt has already said what was wrong). */
int daemon_common_option(int c, const char *arg, const char *program, void (*help)(void), bool *log_level_fixed);

/* After getopt: an error (logged) if operands are left. */
int daemon_no_operands(int argc, char *argv[]);
