/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * manager.c — owns the event loop and connects the pieces. The commit model: the engine
 * journals a transaction, the compiler turns the journal into one netlink batch, the
 * transport sends it; only when the kernel has applied all of it do the Changed signals
 * go out and the engine forget the deleted objects. If the kernel refuses, the engine
 * runs its journal backwards, so the database and the kernel never disagree.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <systemd/sd-daemon.h>

#include "batch.h"
#include "compile.h"
#include "log.h"
#include "macro.h"
#include "group.h"
#include "manager.h"
#include "manager-table.h"

int manager_new(const Config *config, Manager **ret) {
        _cleanup_(manager_freep) Manager *m = NULL;
        int r;

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->config = *config;
        r = engine_new(&m->engine);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        group_done(m);
        sessions_done(m);
        if (m->bus)
                bus_engine_send_changes(m);
        free(m->signals);
        m->emit = sd_event_source_disable_unref(m->emit);
        sd_bus_flush_close_unref(m->bus);
        manager_table_free(m->table);
        sd_event_unref(m->event);
        nft_transport_free(m->nft);
        store_free(m->store);
        if (m->engine)
                nft_layout_free(m->engine);
        engine_free(m->engine);
        free(m);
        return NULL;
}

/* Send one batch built by @build; log and describe failures. */
static int send_batch(Manager *m, int (*build)(Manager *m, NftBatch *b), char **ret_error) {
        _cleanup_(nft_batch_freep) NftBatch *b = NULL;
        int r;

        r = nft_batch_new(nft_transport_seq(m->nft), &b);
        if (r < 0)
                return r;
        r = build(m, b);
        if (r < 0) {
                nft_batch_finish(b, false);
                if (ret_error && asprintf(ret_error, "could not compile the ruleset: %s", bfe_strerror(r)) < 0)
                        *ret_error = NULL;
                return r;
        }
        r = nft_transport_commit(m->nft, b, ret_error);
        /* before any engine rollback: it restores values inside filters the rollback frees */
        nft_batch_finish(b, r >= 0);
        return r;
}

static int build_ruleset(Manager *m, NftBatch *b) {
        return nft_compile_ruleset(m->engine, &m->config.nft, true, b);
}

static int build_changes(Manager *m, NftBatch *b) {
        return nft_compile_changes(m->engine, &m->config.nft, b);
}

static int build_delete_table(Manager *m, NftBatch *b) {
        return nft_compile_delete_table(&m->config.nft, b);
}

int manager_install_table(Manager *m) {
        _cleanup_(freep) char *why = NULL;
        int r;

        r = send_batch(m, build_ruleset, &why);
        if (r < 0)
                return log_error_errno(r, "Failed to install table inet %s: %s", m->config.nft.table,
                                       why ?: bfe_strerror(r));
        m->table_installed = true;
        log_info("Installed table inet %s (base chains at priority %d and %d).", m->config.nft.table,
                 m->config.nft.priority, m->config.nft.priority + 1);
        return 0;
}

int manager_setup(Manager *m) {
        int r;

        r = sd_event_default(&m->event);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate the event loop: %m");
        r = sd_event_add_signal(m->event, NULL, SIGTERM | SD_EVENT_SIGNAL_PROCMASK, NULL, NULL);
        if (r >= 0)
                r = sd_event_add_signal(m->event, NULL, SIGINT | SD_EVENT_SIGNAL_PROCMASK, NULL, NULL);
        if (r < 0)
                return log_error_errno(r, "Failed to install signal handlers: %m");
        (void) sd_event_set_watchdog(m->event, true);

        r = store_new(m->config.state_dir, &m->store);
        if (r < 0)
                return log_error_errno(r, "Failed to open the state directory %s: %m", m->config.state_dir);
        {
                _cleanup_(store_problems_done) StoreProblems problems = {};
                _cleanup_(freep) char *why = NULL;

                r = store_load(m->store, m->engine, &problems, &why);
                for (size_t i = 0; i < problems.n_messages; i++)
                        log_error("%s", problems.messages[i]);
                if (r < 0)
                        return log_error_errno(r, "Refusing to start: cannot restore the persistent objects: %s "
                                               "(the file is left as it is; check it with bfed --check-state)",
                                               why ?: bfe_strerror(r));
                if (r > 0)
                        log_info("Restored %d persistent object%s from %s.", r, r == 1 ? "" : "s", store_path(m->store));
                m->exemptions_announced = engine_exemptions_active(m->engine);
                m->committed_filters = engine_n_filters(m->engine);
        }

        r = nft_transport_new(&m->nft);
        if (r < 0)
                return log_error_errno(r, "Failed to open the nftables netlink socket: %m");
        r = manager_table_setup(m);
        if (r < 0)
                return r;
        r = manager_install_table(m);
        if (r < 0)
                return r;
        r = manager_table_watch(m, &m->table);
        if (r < 0)
                return r;

        return bus_engine_setup(m);
}

int manager_run(Manager *m) {
        (void) sd_notifyf(false, "READY=1\nSTATUS=Table inet %s installed, %zu filters", m->config.nft.table,
                          engine_n_filters(m->engine));
        return sd_event_loop(m->event);
}

void manager_shutdown(Manager *m) {
        _cleanup_(freep) char *why = NULL;
        int r;

        (void) sd_notify(false, "STOPPING=1\nSTATUS=Stopping");
        group_flush(m);                 /* the calls staged before the signal are answered */
        if (!m->table_installed)
                return;
        if (!manager_table_should_remove_on_stop(m)) {
                m->table_installed = false;
                return;
        }
        r = send_batch(m, build_delete_table, &why);
        if (r < 0)
                log_warning_errno(r, "Failed to remove table inet %s, ignoring: %s", m->config.nft.table,
                                  why ?: bfe_strerror(r));
        else
                log_info("Removed table inet %s.", m->config.nft.table);
        m->table_installed = false;
}

int manager_begin(Manager *m, Session *s) {
        group_flush(m);
        return engine_begin_as(m->engine, &(EngineCaller) { .session = s->id, .dynamic = s->dynamic });
}

void manager_abort(Manager *m) {
        engine_abort(m->engine);
}

/* Beyond this many changes in one commit, each is logged at debug level and a summary at info. */
#define LOG_CHANGES_MAX 32

static void log_changes(Manager *m) {
        const Change *changes;
        size_t n, count[2][_OBJECT_KIND_MAX] = {};
        int level = LOG_INFO;

        changes = engine_changes(m->engine, &n);
        if (n > LOG_CHANGES_MAX) {
                for (size_t i = 0; i < n; i++)
                        count[changes[i].type == CHANGE_ADD][changes[i].kind]++;
                log_info("Committed %zu changes: added %zu filters, %zu provider contexts, %zu sublayers, "
                         "%zu providers; deleted %zu filters, %zu provider contexts, %zu sublayers, %zu providers.",
                         n, count[1][OBJECT_FILTER], count[1][OBJECT_PROVIDER_CONTEXT], count[1][OBJECT_SUBLAYER],
                         count[1][OBJECT_PROVIDER], count[0][OBJECT_FILTER], count[0][OBJECT_PROVIDER_CONTEXT],
                         count[0][OBJECT_SUBLAYER], count[0][OBJECT_PROVIDER]);
                if (log_get_max_level() < LOG_DEBUG)
                        return;
                level = LOG_DEBUG;
        }
        for (size_t i = 0; i < n; i++) {
                const char *verb = changes[i].type == CHANGE_ADD ? "Added" : "Deleted";

                switch (changes[i].kind) {
                case OBJECT_PROVIDER: {
                        const Provider *p = changes[i].object;
                        log_full(level, "%s provider %s '%s'.", verb, guid_str(&p->key), p->name);
                        break;
                }
                case OBJECT_SUBLAYER: {
                        const Sublayer *s = changes[i].object;
                        log_full(level, "%s sublayer %s '%s'.", verb, guid_str(&s->key), s->name);
                        break;
                }
                case OBJECT_PROVIDER_CONTEXT: {
                        const ProviderContext *c = changes[i].object;
                        log_full(level, "%s provider context %" PRIu64 " %s '%s' (type %u, %s).", verb, c->id,
                                 guid_str(&c->key), c->name, c->type, wfp_context_type_name(c->type));
                        break;
                }
                case OBJECT_FILTER: {
                        const Filter *f = changes[i].object;
                        if (f->engine_owned && log_get_max_level() < LOG_DEBUG)
                                break;          /* spares formatting the key */
                        log_full(f->engine_owned ? LOG_DEBUG : level,
                                 "%s filter %" PRIu64 " %s '%s' at %s.", verb, f->id, guid_str(&f->key), f->name,
                                 wfp_layer_info(f->layer)->name);
                        break;
                }
                case _OBJECT_KIND_MAX:
                        break;
                }
        }
}

/*
 * Persistent objects are durable before the reply: the new state is written and synced to a
 * temporary file before the netlink batch goes out, and renamed into place once the kernel
 * has applied it, so a refused batch leaves the old state file, and an acknowledged change
 * is on disk.
 */
int manager_commit(Manager *m, sd_bus_error *error) {
        _cleanup_(freep) char *why = NULL;
        bool save, exemptions;
        int r;

        save = store_changes_touch_persistent(m->engine);
        if (save) {
                r = store_prepare(m->store, m->engine);
                if (r < 0) {
                        log_error_errno(r, "Rolled back a change: cannot write %s: %m", store_path(m->store));
                        engine_abort(m->engine);
                        return sd_bus_error_set_errnof(error, r, "Cannot save the persistent objects, nothing was applied: %s",
                                                       bfe_strerror(r));
                }
        }

        r = send_batch(m, build_changes, &why);
        if (r < 0) {
                log_error_errno(r, "Rolled back a change the kernel refused: %s", why ?: bfe_strerror(r));
                if (save)
                        store_discard(m->store);
                engine_abort(m->engine);
                return sd_bus_error_setf(error, SD_BUS_ERROR_FAILED,
                                         "The kernel refused the change, nothing was applied: %s",
                                         why ?: bfe_strerror(r));
        }

        log_changes(m);
        bus_engine_queue_changes(m);
        engine_commit(m->engine);

        if (save) {
                r = store_commit(m->store);
                if (r < 0) {
                        /* the kernel and the database have it; only its durability is in doubt */
                        store_discard(m->store);
                        log_error_errno(r, "Failed to save %s: %m", store_path(m->store));
                        return sd_bus_error_set_errnof(error, r, "The change is applied but could not be saved to %s: %s",
                                                       store_path(m->store), bfe_strerror(r));
                }
        }

        m->committed_filters = engine_n_filters(m->engine);
        exemptions = engine_exemptions_active(m->engine);
        if (exemptions != m->exemptions_announced) {
                m->exemptions_announced = exemptions;
                log_notice("IKE/AuthIP exemptions %s.", exemptions ? "installed: the first main-mode policy filter appeared"
                                                                   : "removed: the last main-mode policy filter is gone");
                m->exemptions_changed = true;
                (void) sd_event_source_set_enabled(m->emit, SD_EVENT_ONESHOT);
        }
        (void) sd_notifyf(false, "STATUS=%zu filters, exemptions %s", engine_n_filters(m->engine),
                          exemptions ? "active" : "inactive");
        return 0;
}
