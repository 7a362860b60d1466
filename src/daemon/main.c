/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* main.c — bfed, the base filtering engine daemon: parse the command line and run the manager. */
#include <getopt.h>
#include <stdio.h>
#include <linux/netfilter/nf_tables.h>
#include <stdlib.h>

#include "bus.h"
#include "config.h"
#include "daemon-args.h"
#include "journal.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "store.h"

static void help(void) {
        printf("bfed %s — keeps a WFP-like filter database, serves it on D-Bus (org.bfed.Engine1)\n"
               "and compiles it into one nftables table, with the IKE/AuthIP exemptions.\n\n"
               "  -c, --config FILE   configuration file (default %s; drop-ins: FILE.d/*.conf)\n"
               "      --check-state FILE  check a state file and exit\n"
               "  -d, --debug         log at debug level\n"
               "      --log-level LEVEL  emerg, alert, crit, err, warning, notice, info or debug\n"
               "  -h, --help          this text\n"
               "      --version       the version\n",
               BFED_VERSION, BFED_DEFAULT_CONFIG);
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "check-state", required_argument, NULL, 'S' },
                DAEMON_COMMON_OPTIONS,
                {}
        };
        _cleanup_(manager_freep) Manager *m = NULL;
        _cleanup_(bus_freep) Bus *bus = NULL;
        const char *config_path = BFED_DEFAULT_CONFIG;
        bool config_given = false, log_level_fixed;
        Config config;
        int c, r;

        log_set_journal_writer(journal_write);
        r = log_parse_environment();
        if (r < 0)
                return EXIT_FAILURE;
        log_level_fixed = r > 0;
        while ((c = getopt_long(argc, argv, "c:dh", options, NULL)) >= 0)
                switch (c) {
                case 'c':
                        config_path = optarg;
                        config_given = true;
                        break;
                case 'S': {
                        _cleanup_(store_problems_done) StoreProblems problems = {};
                        _cleanup_(freep) char *why = NULL;

                        r = store_check_file(optarg, &problems, &why);
                        if (r < 0) {
                                fprintf(stderr, "%s\n", why ?: bfe_strerror(r));
                                return EXIT_FAILURE;
                        }
                        for (size_t i = 0; i < problems.n_messages; i++)
                                fprintf(stderr, "%s\n", problems.messages[i]);
                        if (problems.n_messages > 0) {
                                /* what bfed would do with it at start, and that it is not whole */
                                printf("%s: %s: bfed would load %d persistent object%s and skip %zu line%s\n", optarg,
                                       problems.damaged ? "damaged" : "not every record loads", r, r == 1 ? "" : "s",
                                       problems.n_skipped, problems.n_skipped == 1 ? "" : "s");
                                return EXIT_FAILURE;
                        }
                        printf("%s: %d persistent object%s, readable\n", optarg, r, r == 1 ? "" : "s");
                        return EXIT_SUCCESS;
                }
                default:
                        r = daemon_common_option(c, optarg, "bfed", help, &log_level_fixed);
                        if (r != DAEMON_ARG_CONTINUE)
                                return r == DAEMON_ARG_EXIT ? EXIT_SUCCESS : EXIT_FAILURE;
                }
        if (daemon_no_operands(argc, argv) < 0)
                return EXIT_FAILURE;

        config_init(&config);
        r = config_load(&config, config_path, config_given);
        if (r < 0)
                return EXIT_FAILURE;
        if (!log_level_fixed && config.log_level >= 0)
                log_set_max_level(config.log_level);

        r = manager_new(&config, &m);
        if (r < 0) {
                log_error_errno(r, "Failed to allocate the manager: %m");
                return EXIT_FAILURE;
        }
        m->config_path = config_path;
        m->config_must_exist = config_given;
        m->log_level_fixed = log_level_fixed;
        r = manager_setup(m);
        if (r >= 0) {
                r = bus_new(m, &bus);
                /* without the bus nobody can change the policy, but the table enforces it: where
                 * it outlives bfed, it stays for the next bfed to take over */
                if (r < 0)
                        m->keep_table_on_exit = !(m->config.nft.table_flags & NFT_TABLE_F_OWNER) ||
                                                (m->config.nft.table_flags & BFED_NFT_TABLE_F_PERSIST);
        }
        if (r >= 0)
                r = manager_run(m);
        manager_shutdown(m);
        bus_stop(bus);
        bus = bus_free(bus);
        if (r < 0)
                return EXIT_FAILURE;
        log_info("Stopped.");
        return EXIT_SUCCESS;
}
