/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * manager-reload.c — SIGHUP: bfed.conf and its drop-ins read again. What the running daemon can
 * take is applied: the log level, the exemptions' match on the local system (the table is
 * reinstalled), firewalld's mode (the glue's reloaded hook), the limits read at each use. What
 * the table's shape, the state file or the watches were built from needs a restart: logged.
 */
#include <linux/netfilter/nf_tables.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "config.h"
#include "log.h"
#include "manager-table.h"
#include "manager.h"

/* The keys a running bfed keeps as they were at start; the names of those @next changes. */
static void restart_keys(const Config *cur, const Config *next, char *buf, size_t size) {
        const struct {
                const char *name;
                bool changed;
        } keys[] = {
                { "Table", !streq(cur->nft.table, next->nft.table) },
                { "Priority", cur->nft.priority != next->nft.priority },
                { "ChunkSize", cur->nft.chunk_size != next->nft.chunk_size },
                { "FilterRuns", cur->nft.filter_runs != next->nft.filter_runs },
                { "TableOwner", !!((cur->nft.table_flags ^ next->nft.table_flags) & NFT_TABLE_F_OWNER) },
                { "StateDirectory", !streq(cur->state_dir, next->state_dir) },
                { "PrivateSocket", !streq(cur->private_socket, next->private_socket) },
                { "ObstacleAnalysis", cur->obstacle_analysis != next->obstacle_analysis },
        };
        size_t o = 0;

        buf[0] = '\0';
        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                if (keys[i].changed && o < size)
                        o += (size_t) snprintf(buf + o, size - o, "%s%s=", o ? ", " : "", keys[i].name);
}

int manager_reload(Manager *m) {
        Config next;
        char restart[256];
        int r;

        if (!m->config_path) {
                log_notice("Received SIGHUP, but bfed runs without a configuration file to read again.");
                return 0;
        }
        (void) sd_notify(false, "RELOADING=1\nSTATUS=Reloading the configuration");
        log_info("Received SIGHUP: reading %s and its drop-ins again.", m->config_path);
        config_init(&next);
        r = config_load(&next, m->config_path, m->config_must_exist);
        if (r < 0) {
                log_error("Kept the running configuration: the new one has an error (above).");
                (void) sd_notify(false, "READY=1\nSTATUS=Kept the running configuration");
                return r;
        }

        if (!m->log_level_fixed)
                log_set_max_level(next.log_level >= 0 ? next.log_level : LOG_INFO);
        m->config.log_level = next.log_level;
        m->config.keep_table = next.keep_table;
        m->config.max_txn_usec = next.max_txn_usec;
        m->config.max_read_txn_usec = next.max_read_txn_usec;
        m->config.bus_timeout_usec = next.bus_timeout_usec;
        m->config.firewalld = next.firewalld;
        (void) manager_table_reconfigure(m, &next.nft);
        if (m->hooks && m->hooks->reloaded)
                m->hooks->reloaded(m, m->hooks_userdata);

        restart_keys(&m->config, &next, restart, sizeof(restart));
        if (restart[0])
                log_notice("Changed in the configuration, taking effect when bfed restarts: %s.", restart);
        log_info("Reloaded the configuration.");
        (void) sd_notify(false, "READY=1\nSTATUS=Reloaded the configuration");
        return 0;
}
