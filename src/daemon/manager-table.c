/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * manager-table.c — the table's flags, its fate on a clean stop, and the watch that restores
 * it when another process changed it (see manager-table.h).
 *
 * The owner flag makes the kernel refuse every other process's change to the table while bfed
 * runs, so the watch is a second line: it matters with TableOwner=no (tests), and, while the
 * exemptions are active and the monitor listens anyway (below), for whatever gets past the flag.
 * A foreign commit is reported by the monitor after its NEWGEN event; the restore runs from a
 * one-shot deferred source, so a burst of commits in one loop iteration costs one reinstall. Our
 * own batches are invisible to the monitor (their port id), so the reinstall does not wake it
 * again.
 *
 * When the monitor's queue overran, the events of the lost window are gone, and with them
 * any news of a foreign change: then the whole table is read back and compared with what it
 * must be (verify.h), rule handles included, and restored only if it differs. Like a restore,
 * the comparison waits until no engine transaction is open: only then does bfed's
 * bookkeeping describe what the kernel holds.
 *
 * bfed's own large batches (QUIET_BATCH_BYTES or more: a transaction of thousands of filters, a
 * restore) are committed with the monitor out of the nftables group: while anyone is in it, the
 * kernel builds a notification for every set element a batch adds, only for the monitor's socket
 * filter to drop it. Of that window the monitor knows nothing. With the owner flag only the other
 * tables can have changed (the monitor tells the obstacle watch); without it, the table is
 * compared as after an overrun.
 *
 * With the owner flag the monitor is in the group only while the exemptions are active (and the
 * obstacle watch reads the other tables): then what the other tables drop matters, and nothing
 * else needs the events. The kernel counts the group's listeners per protocol, not per network
 * namespace: while any socket of the host is in it, every nftables commit on the host, bfed's
 * own and everybody else's, builds a notification for every rule and element it changes (~2.5 µs
 * a rule). Out of the group, bfed costs the host's other nftables users nothing, and the batch
 * that turns the exemptions on goes without notifications (doc/benchmark.md, P4). When the
 * monitor joins again it tells the obstacle watch that the other tables may have changed.
 */
#include <errno.h>
#include <linux/netfilter/nf_tables.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <systemd/sd-event.h>

#include "batch.h"
#include "compile.h"
#include "group.h"
#include "journal.h"
#include "log.h"
#include "macro.h"
#include "manager-table.h"
#include "manager.h"
#include "monitor.h"
#include "transport.h"
#include "verify.h"

/* Our own batches of at least this many bytes are committed with the monitor out of the group:
 * about 4,000 set elements (6,000 port filters' elements were 384 KB). Below it, the
 * notifications cost less than the re-reads the window asks for (the other tables; without the
 * owner flag, our whole table). */
#define QUIET_BATCH_BYTES (256 * 1024)

/* While the engine has an open write transaction its state includes uncommitted changes: the
 * restore waits for it to end, looking again this often. */
#define RESTORE_RETRY_USEC (200 * 1000ULL)

struct ManagerTable {
        Manager *manager;
        NftMonitor *monitor;
        sd_event_source *restore;       /* one-shot deferred */
        sd_event_source *retry;         /* timer while a transaction is open */

        /* the first foreign commit since the last restore, for the log */
        bool pending, lost;
        bool overran;                   /* lost: the monitor's queue overran (else: it did not listen) */
        bool restoring;                 /* in restore_now(): the whole table is being replaced */
        bool waiting;                   /* said so in the log: a transaction is open */
        bool reconfigure;               /* a reload changed what the table's rules hold: next */
        bool relearn;                   /* a batch's rule handles are unknown (manager_table_relearn()) */
        NftConfig next;
        NftMonitorChange change;
        char who[64];
        char what[256];
        size_t n_commits;
};

int manager_table_setup(Manager *m) {
        _cleanup_(nft_batch_freep) NftBatch *b = NULL;
        _cleanup_(freep) char *why = NULL;
        NftConfig *c = &m->config.nft;
        char probe[NFT_TABLE_NAME_MAX];
        int r;

        c->table_flags &= ~BFED_NFT_TABLE_F_PERSIST;
        if (!(c->table_flags & NFT_TABLE_F_OWNER)) {
                log_warning("TableOwner=no (testing only): other processes can change table inet %s; "
                            "bfed notices and repairs it.", c->table);
                return 0;
        }

        /* The kernel checks table flags before anything else: creating and deleting a scratch
         * table with owner|persist is refused with EOPNOTSUPP before Linux 6.9, a no-op after. */
        (void) snprintf(probe, sizeof(probe), "bfed-probe-%u", nft_transport_portid(m->nft));
        r = nft_batch_new(nft_transport_seq(m->nft), &b);
        if (r >= 0)
                r = nft_compile_table_flags_probe(probe, NFT_TABLE_F_OWNER | BFED_NFT_TABLE_F_PERSIST, b);
        if (r >= 0)
                r = nft_transport_commit(m->nft, b, &why);
        if (b)
                nft_batch_finish(b, r >= 0);

        if (r >= 0) {
                c->table_flags |= BFED_NFT_TABLE_F_PERSIST;
                log_info("The kernel has the persist table flag: table inet %s gets flags owner and persist, "
                         "so it keeps enforcing if bfed crashes%s.", c->table,
                         m->config.keep_table ? " or stops (KeepTable=yes)" : "");
        } else if (r == -EOPNOTSUPP || r == -EINVAL)
                log_notice("The kernel does not have the persist table flag (Linux 6.9): table inet %s gets flag "
                           "owner only and goes away whenever bfed exits%s.", c->table,
                           m->config.keep_table ? "; KeepTable=yes has no effect" : "");
        else
                log_warning_errno(r, "Failed to probe the persist table flag, creating table inet %s without it: %s",
                                  c->table, why ?: bfe_strerror(r));
        return 0;
}

bool manager_table_should_remove_on_stop(const Manager *m) {
        const NftConfig *c = &m->config.nft;

        if (!m->config.keep_table)
                return true;
        if ((c->table_flags & NFT_TABLE_F_OWNER) && !(c->table_flags & BFED_NFT_TABLE_F_PERSIST))
                log_info("KeepTable=yes, but without the persist flag the kernel removes table inet %s "
                         "when bfed exits.", c->table);
        else
                log_info("Leaving table inet %s in place (KeepTable=yes): the kernel keeps enforcing it "
                         "until the next bfed takes it over.", c->table);
        return false;
}

static double now_msec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

/*
 * After lost events: reads the table back and compares it with what it must be. Return: true
 * when it must be restored — it differs, it is gone, or it could not be compared (then a
 * foreign change cannot be ruled out, and a restore costs one batch).
 */
static bool table_needs_restore(ManagerTable *t) {
        _cleanup_(nft_image_freep) NftImage *want = NULL, *have = NULL;
        _cleanup_(freep) char *buf = NULL;
        Manager *m = t->manager;
        const char *table = m->config.nft.table;
        double start = now_msec(), read;
        size_t len = 0;
        NftDiff diff;
        int r;

        r = nft_transport_dump_table(m->nft, table, &buf, &len);
        if (r == -ENOENT) {
                log_warning("Table inet %s disappeared while nftables events were lost; restoring it.", table);
                return true;
        }
        if (r < 0) {
                log_warning_errno(r, "Lost nftables events, and failed to read table inet %s back: %s; restoring it, "
                                  "to be sure.", table, bfe_strerror(r));
                return true;
        }
        read = now_msec() - start;
        /* the dump (50 MB at 100,000 rules) goes before the expected side is built */
        r = nft_image_parse(buf, len, table, &have);
        free(TAKE_PTR(buf));
        if (r >= 0)
                r = nft_verify_expected(m->engine, m->layout, &m->config.nft, &want);
        if (r >= 0)
                r = nft_image_compare(want, have, &diff);
        if (r < 0) {
                log_warning_errno(r, "Lost nftables events, and failed to compare table inet %s with what it must be: "
                                  "%s; restoring it, to be sure.", table, bfe_strerror(r));
                return true;
        }
        if (diff.n == 0) {
                log_notice("Lost nftables events (%s); table inet %s is as it must be: %zu chains, %zu rules, "
                           "%zu sets with %zu elements compared in %.1f ms (%.1f ms reading it).",
                           t->overran ? "the monitor's queue overran"
                                      : "bfed did not listen while it committed a large batch",
                           table, diff.n_chains, diff.n_rules, diff.n_sets, diff.n_elems, now_msec() - start, read);
                return false;
        }
        log_warning("Lost nftables events, and table inet %s is not as it must be (%zu difference%s, compared in "
                    "%.1f ms); restoring it.", table, diff.n, diff.n == 1 ? "" : "s", now_msec() - start);
        for (size_t i = 0; i < diff.n_shown; i++)
                log_warning("Table inet %s: %s.", table, diff.shown[i]);
        if (diff.n > diff.n_shown)
                log_warning("Table inet %s: and %zu more difference%s.", table, diff.n - diff.n_shown,
                            diff.n - diff.n_shown == 1 ? "" : "s");
        return true;
}

/* What a reload can change in the table's rules: the exemptions' match on the local system. */
static void apply_runtime(NftConfig *c, const NftConfig *next) {
        c->local_system_uid = next->local_system_uid;
        c->has_socket_mark = next->has_socket_mark;
        c->socket_mark = next->has_socket_mark ? next->socket_mark : 0;
}

/* A restore replaces the whole table in one batch, so whatever another process did before it is
 * gone: its quiet window needs no comparison afterwards (manager_table_after_commit()), which
 * also keeps a restore from asking for the next one. Left unwatched: the microseconds between
 * the kernel's commit and the monitor joining the group again. */
static int install_whole(ManagerTable *t) {
        int r;

        t->restoring = true;
        r = manager_install_table(t->manager);
        t->restoring = false;
        return r;
}

/* Reinstalls the table with what a reload changed (it replaces a foreign change too). */
static void reconfigure_now(ManagerTable *t) {
        Manager *m = t->manager;
        NftConfig old = m->config.nft;
        bool foreign = t->pending || t->lost;

        t->reconfigure = t->pending = t->lost = t->overran = false;
        t->n_commits = 0;
        apply_runtime(&m->config.nft, &t->next);
        if (install_whole(t) >= 0) {
                log_notice("Table inet %s has the reloaded LocalSystemUser= and SocketMark=.", m->config.nft.table);
                return;
        }
        log_error("Kept LocalSystemUser= and SocketMark= as they were: the kernel refused the table with the new "
                  "ones.");
        m->config.nft = old;
        if (foreign)
                (void) install_whole(t);
}

static void restore_now(ManagerTable *t) {
        Manager *m = t->manager;
        const char *table = m->config.nft.table;

        if (t->reconfigure) {
                reconfigure_now(t);
                return;
        }
        if (t->lost && !t->pending) {
                bool restore;

                /* nothing named: what the lost events said must be read off the table itself */
                t->lost = false;
                restore = table_needs_restore(t);
                t->overran = false;
                /* its images and the dump (150 MB at 100,000 rules) are freed: a burst like that
                 * would otherwise stay in the daemon's heap */
                (void) malloc_trim(0);
                if (!restore)
                        return;
        } else if (t->relearn && !t->pending)
                log_notice("Replacing table inet %s to learn the handles of its rules.", table);
        else if (t->pending) {
                if (t->n_commits > 1)
                        log_struct(LOG_WARNING, LOG_FIELDS(BFED_MESSAGE_TABLE_RESTORED),
                                   "Table inet %s was changed by %s: %s (and %zu more commits); restoring it.",
                                   table, t->who, t->what, t->n_commits - 1);
                else
                        log_struct(LOG_WARNING, LOG_FIELDS(BFED_MESSAGE_TABLE_RESTORED),
                                   "Table inet %s was changed by %s: %s; restoring it.", table, t->who, t->what);
        }
        t->pending = t->lost = t->overran = t->relearn = false;
        t->n_commits = 0;

        (void) install_whole(t);   /* logs either way; the next foreign change tries again */
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata);

static int on_restore(sd_event_source *s, void *userdata) {
        ManagerTable *t = userdata;
        Manager *m = t->manager;
        int r;

        if (!t->pending && !t->lost && !t->reconfigure && !t->relearn)
                return 0;
        group_flush(m);         /* staged calls are not a transaction to wait for */
        if (engine_in_transaction(m->engine)) {
                uint64_t now;

                if (!t->waiting)
                        log_info("Waiting for the open transaction to end before %s table inet %s.",
                                 t->pending || t->reconfigure ? "restoring" : "checking", m->config.nft.table);
                t->waiting = true;
                if (t->retry)
                        return 0;
                r = sd_event_now(m->event, CLOCK_MONOTONIC, &now);
                if (r >= 0)
                        r = sd_event_add_time(m->event, &t->retry, CLOCK_MONOTONIC, now + RESTORE_RETRY_USEC, 0,
                                              on_retry, t);
                if (r < 0)
                        log_warning_errno(r, "Failed to schedule restoring table inet %s, ignoring: %m",
                                          m->config.nft.table);
                return 0;
        }
        t->waiting = false;
        restore_now(t);
        return 0;
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        ManagerTable *t = userdata;

        t->retry = sd_event_source_unref(t->retry);
        return on_restore(NULL, t);
}

static int on_change(NftMonitor *mon, const NftMonitorEvent *ev, void *userdata) {
        ManagerTable *t = userdata;

        log_debug("nftables: %s by port %u (pid %d, %s): %s, %zu messages, generation %u.",
                  nft_monitor_change_to_string(ev->change), ev->portid, (int) ev->pid, ev->comm ?: "?", ev->what,
                  ev->n_changes, ev->gen);
        if (ev->change == NFT_MONITOR_EVENTS_LOST)
                t->lost = t->overran = true;
        else {
                if (!t->pending) {
                        t->pending = true;
                        t->change = ev->change;
                        if (ev->pid > 0)
                                (void) snprintf(t->who, sizeof(t->who), "%d (%s)", (int) ev->pid, ev->comm ?: "?");
                        else
                                (void) snprintf(t->who, sizeof(t->who), "an unknown process (netlink port %u)",
                                                ev->portid);
                        (void) snprintf(t->what, sizeof(t->what), "%s", ev->what);
                }
                t->n_commits++;
        }
        return sd_event_source_set_enabled(t->restore, SD_EVENT_ONESHOT);
}

int manager_table_watch(Manager *m, ManagerTable **ret) {
        _cleanup_(manager_table_freep) ManagerTable *t = NULL;
        int r;

        t = calloc(1, sizeof(*t));
        if (!t)
                return log_error_errno(-ENOMEM, "Failed to watch table inet %s: %m", m->config.nft.table);
        t->manager = m;

        r = sd_event_add_defer(m->event, &t->restore, on_restore, t);
        if (r >= 0)
                r = sd_event_source_set_enabled(t->restore, SD_EVENT_OFF);
        if (r < 0)
                return log_error_errno(r, "Failed to watch table inet %s: %m", m->config.nft.table);
        (void) sd_event_source_set_description(t->restore, "table-restore");

        r = nft_monitor_new(m->event, m->config.nft.table, nft_transport_portid(m->nft), on_change, t, &t->monitor);
        if (r < 0)
                return log_error_errno(r, "Failed to listen to nftables events: %m");
        log_debug("Watching table inet %s for changes by other processes.", m->config.nft.table);
        manager_table_listen_as_needed(t);

        *ret = TAKE_PTR(t);
        return 0;
}

bool manager_table_reconfigure(Manager *m, const NftConfig *next) {
        ManagerTable *t = m->table;
        NftConfig want = m->config.nft;

        apply_runtime(&want, next);
        if (want.local_system_uid == m->config.nft.local_system_uid &&
            want.has_socket_mark == m->config.nft.has_socket_mark && want.socket_mark == m->config.nft.socket_mark)
                return false;
        if (!t) {               /* no table of its own (tests): nothing to reinstall */
                m->config.nft = want;
                return true;
        }
        t->next = want;
        t->reconfigure = true;
        (void) sd_event_source_set_enabled(t->restore, SD_EVENT_ONESHOT);
        return true;
}

void manager_table_relearn(ManagerTable *t) {
        if (!t)
                return;
        t->relearn = true;
        (void) sd_event_source_set_enabled(t->restore, SD_EVENT_ONESHOT);
}

/* Whether the monitor must hear the other processes' commits (see the top of the file). */
static bool must_listen(const ManagerTable *t) {
        const Manager *m = t->manager;

        return !(m->config.nft.table_flags & NFT_TABLE_F_OWNER) ||
               (m->exemptions_active && m->config.obstacle_analysis);
}

void manager_table_listen_as_needed(ManagerTable *t) {
        bool listen;
        int r;

        if (!t)
                return;
        listen = must_listen(t);
        if (listen == !nft_monitor_is_deaf(t->monitor))
                return;
        r = listen ? nft_monitor_listen(t->monitor) : nft_monitor_deafen(t->monitor);
        if (r < 0)
                log_warning_errno(r, "Failed to %s the nftables event group: %m", listen ? "join" : "leave");
        else
                log_debug("%s to nftables events: the exemptions are %s.", listen ? "Listening" : "Not listening",
                          listen ? "active" : "inactive");
}

bool manager_table_before_commit(ManagerTable *t, size_t size) {
        int r;

        if (!t)
                return false;
        if (nft_monitor_is_deaf(t->monitor))
                return true;    /* out of the group already: _after joins if it must (again, if joining failed) */
        if (size < QUIET_BATCH_BYTES)
                return false;
        r = nft_monitor_deafen(t->monitor);
        if (r < 0) {
                log_debug_errno(r, "Failed to leave the nftables event group for a batch of %zu bytes, "
                                "committing it while listening: %m", size);
                return false;
        }
        log_debug("Committing a batch of %zu bytes without listening to nftables events.", size);
        return true;
}

void manager_table_after_commit(ManagerTable *t) {
        Manager *m = t->manager;
        int r;

        if (!must_listen(t))
                return;         /* out of the group, as before the batch */
        r = nft_monitor_listen(t->monitor);
        if (r < 0) {
                log_error_errno(r, "Failed to listen to nftables events again; trying again after the next batch: %m");
                return;
        }
        if (m->config.nft.table_flags & NFT_TABLE_F_OWNER || t->restoring)
                return;         /* no other process can have changed it, or the batch replaced it */
        /* without the owner flag one could have: compare it, as after an overrun */
        t->lost = true;
        (void) sd_event_source_set_enabled(t->restore, SD_EVENT_ONESHOT);
}

NftMonitor *manager_table_monitor(ManagerTable *t) {
        return t->monitor;
}

ManagerTable *manager_table_free(ManagerTable *t) {
        if (!t)
                return NULL;
        nft_monitor_free(t->monitor);
        sd_event_source_disable_unref(t->restore);
        sd_event_source_disable_unref(t->retry);
        free(t);
        return NULL;
}
