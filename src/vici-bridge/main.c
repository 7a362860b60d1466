/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* main.c — bfed-vici, the bridge between strongSwan's charon (vici) and bfed: options, the loop. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "bfed-build.h"
#include "bridge.h"
#include "daemon-args.h"
#include "log.h"
#include "macro.h"
#include "swconf.h"

#define DEFAULT_VICI "/var/run/charon.vici"

static void help(void) {
        printf("bfed-vici %s — keeps an IKE main-mode policy in bfed for each connection strongSwan's charon\n"
               "has loaded, followed over vici, so that bfed's IKE/AuthIP exemptions follow charon.\n\n"
               "  -s, --vici PATH            charon's vici socket (default: charon.plugins.vici.socket\n"
               "                             of strongswan.conf, else %s)\n"
               "  -c, --strongswan-conf FILE strongswan.conf, for the vici socket and charon's socket mark\n"
               "                             (default: $%s, else %s)\n"
               "  -d, --debug                log at debug level\n"
               "      --log-level LEVEL      emerg, alert, crit, err, warning, notice, info or debug\n"
               "  -h, --help                 this text\n"
               "      --version              the version\n",
               BFED_VERSION, DEFAULT_VICI, SWCONF_ENV, SWCONF_DEFAULT_PATH);
}

/* The vici socket strongswan.conf names (unix://PATH), or NULL. */
static char *vici_from_swconf(const char *path) {
        _cleanup_(swconf_freep) SwConf *conf = swconf_new();
        const char *uri;

        if (!conf || swconf_load(conf, path, NULL) < 0)
                return NULL;
        uri = swconf_get(conf, "charon.plugins.vici.socket");
        if (!uri || !startswith(uri, "unix://") || uri[7] != '/')
                return NULL;
        return strdup(uri + 7);
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "vici", required_argument, NULL, 's' },
                { "strongswan-conf", required_argument, NULL, 'c' },
                DAEMON_COMMON_OPTIONS,
                {}
        };
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(bridge_freep) Bridge *bridge = NULL;
        _cleanup_(freep) char *vici_default = NULL;
        BridgeConfig config = { .swconf_path = getenv(SWCONF_ENV) ?: SWCONF_DEFAULT_PATH };
        bool log_level_fixed = false;
        sigset_t mask;
        int c, r;

        log_set_program_name("bfed-vici");
        if (log_parse_environment() < 0)
                return EXIT_FAILURE;
        while ((c = getopt_long(argc, argv, "s:c:dh", options, NULL)) >= 0)
                switch (c) {
                case 's':
                        config.vici_path = optarg;
                        break;
                case 'c':
                        config.swconf_path = optarg;
                        break;
                default:
                        r = daemon_common_option(c, optarg, "bfed-vici", help, &log_level_fixed);
                        if (r != DAEMON_ARG_CONTINUE)
                                return r == DAEMON_ARG_EXIT ? EXIT_SUCCESS : EXIT_FAILURE;
                }
        if (daemon_no_operands(argc, argv) < 0)
                return EXIT_FAILURE;
        if (!config.vici_path) {
                vici_default = vici_from_swconf(config.swconf_path);
                config.vici_path = vici_default ?: DEFAULT_VICI;
        }

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        (void) sigprocmask(SIG_BLOCK, &mask, NULL);
        r = sd_event_default(&event);
        if (r >= 0)
                r = sd_event_add_signal(event, NULL, SIGTERM, NULL, NULL);
        if (r >= 0)
                r = sd_event_add_signal(event, NULL, SIGINT, NULL, NULL);
        if (r >= 0)
                r = sd_event_set_watchdog(event, true);
        if (r >= 0)
                r = bridge_new(event, &config, &bridge);
        if (r < 0) {
                log_error_errno(r, "Failed to start: %m");
                return EXIT_FAILURE;
        }
        (void) sd_notify(false, "READY=1\nSTATUS=Following charon's connections");
        r = sd_event_loop(event);
        if (r < 0) {
                log_error_errno(r, "The event loop failed: %m");
                return EXIT_FAILURE;
        }
        log_info("Stopped.");
        return EXIT_SUCCESS;
}
