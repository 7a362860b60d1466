/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * manager-table.h — the life of the nftables table beyond one batch: its flags (owner,
 * persist where the kernel has it), whether a clean stop removes it (KeepTable=), and a
 * watch that notices when another process changed or deleted it and puts it back.
 */
#pragma once

#include <stdbool.h>

typedef struct Manager Manager;
typedef struct ManagerTable ManagerTable;
typedef struct NftMonitor NftMonitor;

/* Before the first install: probes the persist flag and sets m->config.nft.table_flags. Logs. */
int manager_table_setup(Manager *m);

/* After the first install: watches the table; *ret goes in the Manager, freed with it. Logs. */
int manager_table_watch(Manager *m, ManagerTable **ret);
ManagerTable *manager_table_free(ManagerTable *t);

/* The nftables monitor the watch listens on; obstacle-watch.c listens to it too. */
NftMonitor *manager_table_monitor(ManagerTable *t);
static inline void manager_table_freep(ManagerTable **t) {
        if (*t)
                manager_table_free(*t);
}

/* In manager_shutdown(): false (and says so in the log) when KeepTable=yes. */
bool manager_table_should_remove_on_stop(const Manager *m);

/* manager.c: the full install (nft_compile_ruleset with replace) of what the engine has
 * committed; logs success and failure. The watch calls it to restore the table. */
int manager_install_table(Manager *m);
