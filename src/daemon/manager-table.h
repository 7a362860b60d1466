/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * manager-table.h — the life of the nftables table beyond one batch: its flags (owner,
 * persist where the kernel has it), whether a clean stop removes it (KeepTable=), and a
 * watch that notices when another process changed or deleted it and puts it back.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

typedef struct Manager Manager;
typedef struct ManagerTable ManagerTable;
typedef struct NftConfig NftConfig;
typedef struct NftMonitor NftMonitor;

/* Before the first install: probes the persist flag and sets m->config.nft.table_flags. Logs. */
int manager_table_setup(Manager *m);

/* After the first install: watches the table; *ret goes in the Manager, freed with it. Logs. */
int manager_table_watch(Manager *m, ManagerTable **ret);
ManagerTable *manager_table_free(ManagerTable *t);

/* The nftables monitor the watch listens on; obstacle-watch.c listens to it too. */
NftMonitor *manager_table_monitor(ManagerTable *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(ManagerTable *, manager_table_free);

/* Around the commit of one of our own batches of @size bytes: a large one is committed with the
 * monitor out of the nftables group (nft_monitor_deafen()), and the window is reported to the
 * watches afterwards. _before returns whether _after must be called. @t may be NULL. */
bool manager_table_before_commit(ManagerTable *t, size_t size);
void manager_table_after_commit(ManagerTable *t);
/* The monitor in the nftables group or out of it, as the table's flags and the exemptions ask
 * (manager-table.c): at start, and after a commit that turned the exemptions on or off. @t may be
 * NULL. */
void manager_table_listen_as_needed(ManagerTable *t);
/* A batch was applied without every rule's handle (nft_transport_commit()'s -EUCLEAN): the table
 * is replaced, its rules echoed, once no transaction is open. @t may be NULL. */
void manager_table_relearn(ManagerTable *t);

/* After a reload: where @next's LocalSystemUser= or SocketMark= differ (then true), the table
 * is reinstalled with them once no transaction is open; if the kernel refuses, they stay as
 * they were. Logs. */
bool manager_table_reconfigure(Manager *m, const NftConfig *next);

/* In manager_shutdown(): false (and says so in the log) when KeepTable=yes. */
bool manager_table_should_remove_on_stop(const Manager *m);

/* manager.c: the full install (nft_compile_ruleset with replace) of what the engine has
 * committed; logs success and failure. The watch calls it to restore the table. */
int manager_install_table(Manager *m);
