/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * manager.c — owns the event loop and connects the pieces. The commit model: the engine
 * journals a transaction, the compiler turns the journal into one netlink batch, the
 * transport sends it; only when the kernel has applied all of it do the hooks hear of it
 * (Changed signals) and the engine forget the deleted objects. If the kernel refuses, the
 * engine runs its journal backwards, so the database and the kernel never disagree.
 */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <systemd/sd-daemon.h>

#include "array.h"
#include "batch.h"
#include "compile.h"
#include "compile-trace.h"
#include "enumerate.h"
#include "group.h"
#include "journal.h"
#include "log.h"
#include "macro.h"
#include "manager-table.h"
#include "manager-trace.h"
#include "manager.h"
#include "netevents.h"
#include "obstacle-watch.h"
#include "store.h"
#include "store-boot.h"
#include "tracewatch.h"
#include "transport.h"

/* After a commit this big, free memory goes back to the system (malloc_trim). A provider with
 * several AddFilters calls of 1,000 in flight makes group commits of a few thousand: without a
 * trim after them, bfed kept about 90 bytes a filter more at 100,000 mixed filters. */
#define TRIM_AFTER_CHANGES 1000u

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        group_done(m);
        m->trace_follow = sd_event_source_disable_unref(m->trace_follow);
        sessions_done(m);
        enums_done(m);
        net_events_done(m);
        obstacle_watch_free(m->obstacles);      /* before the monitor it listens to */
        manager_table_free(m->table);
        nft_trace_watch_free(m->trace);
        sd_event_unref(m->event);
        nft_transport_free(m->nft);
        store_free(m->store);
        boot_file_free(m->boot);
        nft_layout_free(m->layout);     /* before the engine: its runs name their carriers */
        engine_free(m->engine);
        free(m->authors);
        free(m);
        return NULL;
}

int manager_new(const Config *config, Manager **ret) {
        _cleanup_(manager_freep) Manager *m = NULL;
        int r;

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->config = *config;
        m->enum_idle_usec = ENUM_IDLE_USEC;
        r = engine_new(&m->engine);
        if (r >= 0)
                r = nft_layout_new(&m->layout);
        if (r < 0)
                return r;
        sessions_init(m);
        *ret = TAKE_PTR(m);
        return 0;
}

void manager_set_hooks(Manager *m, const ManagerHooks *hooks, void *userdata) {
        m->hooks = hooks;
        m->hooks_userdata = userdata;
}

/* Send one batch built by @build; describe failures in @ret_error. */
static int send_batch(Manager *m, int (*build)(Manager *m, NftBatch *b), char **ret_error) {
        _cleanup_(nft_batch_freep) NftBatch *b = NULL;
        int r;

        r = nft_batch_new(m->nft ? nft_transport_seq(m->nft) : 1, &b);
        if (r < 0)
                return r;
        r = build(m, b);
        if (r < 0) {
                nft_batch_finish(b, false);
                if (ret_error && asprintf(ret_error, "could not compile the ruleset: %s", bfe_strerror(r)) < 0)
                        *ret_error = NULL;
                return r;
        }
        if (m->kernel)
                r = m->kernel(m, b, ret_error);
        else {
                bool deaf = manager_table_before_commit(m->table, b->len);

                r = nft_transport_commit(m->nft, b, ret_error);
                if (deaf)
                        manager_table_after_commit(m->table);
        }
        /* before any engine rollback: it restores values inside filters the rollback frees */
        nft_batch_finish(b, r >= 0 || r == -EUCLEAN);
        if (r == -EUCLEAN) {
                /* Applied, so the engine keeps it; the handles the kernel did not tell are learned
                 * by replacing the table, every rule echoed (the transport echoes them all from now
                 * on), as soon as no transaction is open. Never seen: Linux numbers a batch's rules
                 * one after the other. */
                log_error("Committed a batch, but %s: table inet %s will be replaced to learn them.",
                          ret_error && *ret_error ? *ret_error : "some rule handles are unknown", m->config.nft.table);
                if (ret_error)
                        *ret_error = mfree(*ret_error);
                manager_table_relearn(m->table);
                return 0;
        }
        return r;
}

static int build_ruleset(Manager *m, NftBatch *b) {
        return nft_compile_ruleset(m->engine, m->layout, &m->config.nft, true, b);
}

/* A transaction that turns the exemptions on is compiled without their trace chains: those
 * follow in a batch of their own once the calls are answered (manager_trace_follow()). */
static bool exemptions_coming(Manager *m) {
        return m->config.nft.trace && !m->exemptions_active && engine_exemptions_active(m->engine);
}

static int build_changes(Manager *m, NftBatch *b) {
        NftConfig c = m->config.nft;

        if (exemptions_coming(m))
                c.trace = false;
        return nft_compile_changes(m->engine, m->layout, &c, b);
}

static int build_trace(Manager *m, NftBatch *b) {
        return nft_compile_trace_chains(&m->config.nft, b);
}

static int build_delete_table(Manager *m, NftBatch *b) {
        return nft_compile_delete_table(&m->config.nft, b);
}

/* Milliseconds since @t0 (CLOCK_MONOTONIC), for the log. */
static double ms_since(const struct timespec *t0) {
        struct timespec t1;

        (void) clock_gettime(CLOCK_MONOTONIC, &t1);
        return (double) (t1.tv_sec - t0->tv_sec) * 1e3 + (double) (t1.tv_nsec - t0->tv_nsec) / 1e6;
}

int manager_install_table(Manager *m) {
        _cleanup_(freep) char *why = NULL;
        struct timespec t0;
        int r;

        (void) clock_gettime(CLOCK_MONOTONIC, &t0);
        r = send_batch(m, build_ruleset, &why);
        if (r < 0)
                return log_error_errno(r, "Failed to install table inet %s: %s", m->config.nft.table,
                                       why ?: bfe_strerror(r));
        m->table_installed = true;
        m->trace_follows = false;       /* the whole table has them, with the exemptions */
        log_info("Installed table inet %s (base chains at priority %d to %d; compiled and committed in %.1f ms).",
                 m->config.nft.table, m->config.nft.priority, m->config.nft.priority + 2, ms_since(&t0));
        return 0;
}

void manager_trace_follow(Manager *m) {
        _cleanup_(freep) char *why = NULL;
        int r;

        if (!m->trace_follows)
                return;
        m->trace_follows = false;
        if (m->trace_follow)
                (void) sd_event_source_set_enabled(m->trace_follow, SD_EVENT_OFF);
        r = send_batch(m, build_trace, &why);
        if (r < 0) {
                /* as when the kernel refuses them at start (manager-trace.c): the exemptions stand */
                m->config.nft.trace = false;
                log_warning_errno(r, "The kernel refused the chains that trace exempted IKE datagrams (%s): running "
                                  "without them, drops of exempted datagrams by other tables go unnoticed.",
                                  why ?: bfe_strerror(r));
        }
}

static int on_trace_follow(sd_event_source *s, void *userdata) {
        manager_trace_follow(userdata);
        return 0;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;

        log_info("Received %s, stopping.", strsignal((int) si->ssi_signo));
        return sd_event_exit(m->event, 0);
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        (void) manager_reload(userdata);
        return 0;
}

static int load_state(Manager *m) {
        _cleanup_(store_problems_done) StoreProblems problems = {};
        struct timespec t0;
        _cleanup_(freep) char *why = NULL;
        int r;

        r = store_new(m->config.state_dir, &m->store);
        if (r < 0)
                return log_error_errno(r, "Failed to open the state directory %s: %m", m->config.state_dir);
        (void) clock_gettime(CLOCK_MONOTONIC, &t0);
        r = store_load(m->store, m->engine, &problems, &why);
        for (size_t i = 0; i < problems.n_messages; i++)
                log_error("%s", problems.messages[i]);
        if (r < 0)
                return log_struct_internal(LOG_ERR, r, __FILE__, __LINE__, LOG_FIELDS(BFED_MESSAGE_STATE_REFUSED),
                                           "Refusing to start: cannot restore the persistent objects: %s "
                                           "(the file is left as it is; check it with bfed --check-state)",
                                           why ?: bfe_strerror(r));
        if (r > 0)
                log_info("Restored %d persistent object%s from %s (%.1f ms).", r, r == 1 ? "" : "s",
                         store_path(m->store), ms_since(&t0));
        r = boot_file_new(m->config.state_dir, &m->boot);
        if (r < 0)
                return log_error_errno(r, "Failed to open the state directory %s: %m", m->config.state_dir);
        return 0;
}

/* The boot file as the restored state and this configuration make it: an earlier bfed (or one
 * with another Table= or Priority=) may have left another. Its boot-time filters are not in the
 * table just installed: that replaced whatever bfed-boot.service loaded. */
static void sync_boot_file(Manager *m) {
        int r;

        r = boot_file_sync(m->boot, m->engine, &m->config.nft);
        if (r < 0)
                log_error_errno(r, "Failed to write the boot file %s: %m; the next change of a boot-time filter "
                                "tries again.", boot_file_path(m->boot));
        else if (r > 0)
                log_info("%d boot-time filter%s stored, in %s for the next boot; not in the running table.", r,
                         r == 1 ? "" : "s", boot_file_path(m->boot));
}

int manager_setup_event(Manager *m) {
        int r;

        r = sd_event_default(&m->event);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate the event loop: %m");
        r = sd_event_add_signal(m->event, NULL, SIGTERM | SD_EVENT_SIGNAL_PROCMASK, on_signal, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, NULL, SIGINT | SD_EVENT_SIGNAL_PROCMASK, on_signal, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, NULL, SIGHUP | SD_EVENT_SIGNAL_PROCMASK, on_sighup, m);
        if (r < 0)
                return log_error_errno(r, "Failed to install signal handlers: %m");
        (void) sd_event_set_watchdog(m->event, true);

        r = group_setup(m);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the write pipeline: %m");

        /* before the bus' next message (SD_EVENT_PRIORITY_NORMAL), like the Changed signals */
        r = sd_event_add_defer(m->event, &m->trace_follow, on_trace_follow, m);
        if (r >= 0)
                r = sd_event_source_set_priority(m->trace_follow, SD_EVENT_PRIORITY_NORMAL - 1);
        if (r >= 0)
                r = sd_event_source_set_enabled(m->trace_follow, SD_EVENT_OFF);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the trace chains' batch: %m");
        (void) sd_event_source_set_description(m->trace_follow, "trace-follow");
        return 0;
}

int manager_setup(Manager *m) {
        int r;

        r = manager_setup_event(m);
        if (r < 0)
                return r;
        r = load_state(m);
        if (r < 0)
                return r;
        m->exemptions_active = engine_exemptions_active(m->engine);
        m->committed_filters = engine_n_filters(m->engine);

        r = nft_transport_new(&m->nft);
        if (r < 0)
                return log_error_errno(r, "Failed to open the nftables netlink socket: %m");
        r = manager_table_setup(m);
        if (r < 0)
                return r;
        manager_trace_setup(m);
        r = manager_install_table(m);
        if (r < 0)
                return r;
        sync_boot_file(m);
        r = manager_table_watch(m, &m->table);
        if (r < 0)
                return r;
        if (!m->config.obstacle_analysis) {
                log_info("ObstacleAnalysis=no: bfed does not read the other nftables tables for what may drop the "
                         "exempted traffic.");
                return 0;
        }
        return obstacle_watch_new(m, manager_table_monitor(m->table), &m->obstacles);
}

int manager_run(Manager *m) {
        (void) sd_notifyf(false, "READY=1\nSTATUS=Table inet %s installed, %zu filters", m->config.nft.table,
                          engine_n_filters(m->engine));
        return sd_event_loop(m->event);
}

void manager_exit(Manager *m, bool keep_table) {
        m->keep_table_on_exit = keep_table;
        (void) sd_event_exit(m->event, -ENOTCONN);
}

/* A table left in the kernel would log to nobody (and cost each packet it drops): the next bfed
 * finds it as it was before net events. */
static void leave_without_log_statements(Manager *m) {
        if (m->config.nft.net_events && !engine_in_transaction(m->engine))
                (void) manager_switch_net_events(m, NULL);
}

void manager_shutdown(Manager *m) {
        _cleanup_(freep) char *why = NULL;
        int r;

        (void) sd_notify(false, "STOPPING=1\nSTATUS=Stopping");
        if (m->event)
                group_flush(m);         /* the calls staged before the signal are answered */
        manager_trace_follow(m);
        if (!m->table_installed)
                return;
        if (m->keep_table_on_exit) {
                leave_without_log_statements(m);
                log_notice("Leaving table inet %s in place: the kernel keeps enforcing it until the next bfed "
                           "takes it over.", m->config.nft.table);
                m->table_installed = false;
                return;
        }
        if (!manager_table_should_remove_on_stop(m)) {
                leave_without_log_statements(m);
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

void manager_abort(Manager *m) {
        engine_abort(m->engine);
        m->n_authors = 0;
        net_events_transaction_ended(m);
}

void manager_note_author(Manager *m, const Call *c) {
        size_t first = engine_savepoint(m->engine);
        ChangeAuthor *a;

        /* a refused call's changes were rolled back: the next call's start where its did */
        while (m->n_authors > 0 && m->authors[m->n_authors - 1].first >= first)
                m->n_authors--;
        if (!ARRAY_RESERVE(m->authors, m->n_authors_alloc, m->n_authors + 1, 16))
                return;         /* the log then names the call before as the author: only the log */
        a = &m->authors[m->n_authors++];
        *a = (ChangeAuthor) { .first = first, .method = c->name, .uid = c->uid, .pid = c->pid };
        (void) snprintf(a->owner, sizeof(a->owner), "%s", c->owner && c->owner[0] ? c->owner : "bfed");
        (void) snprintf(a->comm, sizeof(a->comm), "%s", c->comm ?: "");
        if (!c->owner || !c->owner[0]) {
                /* bfed's own: a closed dynamic session's objects going */
                a->uid = geteuid();
                a->pid = getpid();
                (void) snprintf(a->comm, sizeof(a->comm), "%s", program_invocation_short_name);
                a->method = c->name ?: "session clean-up";
        }
}

/* The author of change @i, or NULL (bfed's own: the state file at start). */
static const ChangeAuthor *author_of(const Manager *m, size_t i) {
        const ChangeAuthor *found = NULL;

        for (size_t k = 0; k < m->n_authors && m->authors[k].first <= i; k++)
                found = &m->authors[k];
        return found;
}

static int build_net_events(Manager *m, NftBatch *b) {
        NftConfig c = m->config.nft;

        c.net_events = !c.net_events;
        return nft_compile_net_events(m->engine, m->layout, &c, b);
}

int manager_switch_net_events(Manager *m, char **ret_why) {
        bool on = !m->config.nft.net_events;
        struct timespec t0;
        int r;

        manager_trace_follow(m);
        (void) clock_gettime(CLOCK_MONOTONIC, &t0);
        r = send_batch(m, build_net_events, ret_why);
        if (r < 0)
                return log_error_errno(r, "Failed to turn the net events' log statements %s: %s", on ? "on" : "off",
                                       ret_why && *ret_why ? *ret_why : bfe_strerror(r));
        m->config.nft.net_events = on;
        log_info("Net events %s: the rules that drop %s nflog group %u (%.1f ms).", on ? "on" : "off",
                 on ? "now log to" : "no longer log to", m->config.nft.log_group, ms_since(&t0));
        return 0;
}

int manager_check_changes(Manager *m, size_t savepoint, EngineError *err) {
        const Change *changes;
        size_t n;
        int r;

        changes = engine_changes(m->engine, &n);
        for (size_t i = savepoint; i < n; i++) {
                /* the exemption filters are the engine's own, a few conditions each; the emitter
                 * checks every rule it sends as well (a backstop, never reached for them) */
                if (changes[i].kind != OBJECT_FILTER || changes[i].type != CHANGE_ADD ||
                    ((const Filter *) changes[i].object)->engine_owned)
                        continue;
                r = nft_check_filter(changes[i].object, &m->config.nft, err);
                if (r < 0) {
                        engine_rollback_to(m->engine, savepoint);
                        return r;
                }
        }
        return 0;
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
                const ChangeAuthor *a;
                const char *fields[7] = {};
                char by[192] = "", caller[256], id[64], layer[64];
                size_t k = 0;

                /* the exemption filters' lines are debug ones: no author or key formatted for nothing */
                if (changes[i].kind == OBJECT_FILTER && ((const Filter *) changes[i].object)->engine_owned &&
                    log_get_max_level() < LOG_DEBUG)
                        continue;
                a = author_of(m, i);
                if (a) {
                        (void) snprintf(by, sizeof(by), " by %s (uid %u, pid %d, %s)", a->owner, (unsigned) a->uid,
                                        (int) a->pid, a->method ?: "?");
                        k = journal_caller_fields(a->owner, a->comm, a->uid, a->pid, caller, fields);
                }
                switch (changes[i].kind) {
                case OBJECT_PROVIDER: {
                        const Provider *p = changes[i].object;
                        log_struct(level, fields, "%s provider %s '%s'%s.", verb, guid_str(&p->key), p->name, by);
                        break;
                }
                case OBJECT_SUBLAYER: {
                        const Sublayer *s = changes[i].object;
                        log_struct(level, fields, "%s sublayer %s '%s'%s.", verb, guid_str(&s->key), s->name, by);
                        break;
                }
                case OBJECT_PROVIDER_CONTEXT: {
                        const ProviderContext *c = changes[i].object;
                        log_struct(level, fields, "%s provider context %" PRIu64 " %s '%s' (type %u, %s)%s.", verb,
                                   c->id, guid_str(&c->key), c->name, c->type, wfp_context_type_name(c->type), by);
                        break;
                }
                case OBJECT_FILTER: {
                        const Filter *f = changes[i].object;

                        (void) snprintf(id, sizeof(id), "BFED_FILTER_ID=%" PRIu64, f->id);
                        (void) snprintf(layer, sizeof(layer), "BFED_LAYER=%s", wfp_layer_info(f->layer)->name);
                        fields[k] = id;
                        fields[k + 1] = layer;
                        log_struct(f->engine_owned ? LOG_DEBUG : level, fields,
                                   "%s filter %" PRIu64 " %s '%s' at %s%s.", verb, f->id, guid_str(&f->key), f->name,
                                   wfp_layer_info(f->layer)->name, by);
                        break;
                }
                case _OBJECT_KIND_MAX:
                        break;
                }
        }
}

/* Sets @err to @fmt and returns @r: a failure that is not a WFP error, with its text. */
static int fail(EngineError *err, int r, const char *fmt, ...) _printf_(3, 4);
static int fail(EngineError *err, int r, const char *fmt, ...) {
        va_list ap;

        if (err) {
                err->code = 0;
                va_start(ap, fmt);
                (void) vsnprintf(err->message, sizeof(err->message), fmt, ap);
                va_end(ap);
        }
        return r;
}

/*
 * Persistent objects are durable before the reply: the new state is written and synced to a
 * temporary file before the netlink batch goes out, and renamed into place once the kernel
 * has applied it, so a refused batch leaves the old state file, and an acknowledged change
 * is on disk.
 */
int manager_commit(Manager *m, EngineError *err) {
        _cleanup_(freep) char *why = NULL;
        const Change *changes;
        bool save, boot, exemptions, coming;
        size_t n;
        int r;

        manager_trace_follow(m);        /* a batch that removes them finds them in the kernel */
        coming = exemptions_coming(m);
        save = m->store && store_changes_touch_persistent(m->engine);
        if (save) {
                r = store_prepare(m->store, m->engine);
                if (r < 0) {
                        log_error_errno(r, "Rolled back a change: cannot write %s: %m", store_path(m->store));
                        manager_abort(m);
                        return fail(err, r, "Cannot save the persistent objects, nothing was applied: %s",
                                    bfe_strerror(r));
                }
        }
        boot = m->boot && boot_changes_touch(m->engine);
        if (boot) {
                r = boot_file_prepare(m->boot, m->engine, &m->config.nft);
                if (r < 0) {
                        log_error_errno(r, "Rolled back a change: cannot write the boot file %s: %m",
                                        boot_file_path(m->boot));
                        if (save)
                                store_discard(m->store);
                        manager_abort(m);
                        return fail(err, r, "Cannot write the boot file, nothing was applied: %s", bfe_strerror(r));
                }
        }

        r = send_batch(m, build_changes, &why);
        if (r < 0) {
                log_error_errno(r, "Rolled back a change the kernel refused: %s", why ?: bfe_strerror(r));
                if (save)
                        store_discard(m->store);
                if (boot)
                        boot_file_discard(m->boot);
                manager_abort(m);
                if (wfp_code_from_ret(r))
                        return engine_error(err, wfp_code_from_ret(r), "the change cannot be compiled: %s",
                                            why ?: bfe_strerror(r));
                return fail(err, r, "The kernel refused the change, nothing was applied: %s", why ?: bfe_strerror(r));
        }

        log_changes(m);
        changes = engine_changes(m->engine, &n);
        if (m->hooks && m->hooks->committed)
                m->hooks->committed(m, changes, n, m->hooks_userdata);
        engine_commit(m->engine);
        m->n_authors = 0;
        net_events_transaction_ended(m);
        if (n >= TRIM_AFTER_CHANGES)
                (void) malloc_trim(0);  /* a big commit's batch and journal are gone */

        m->committed_filters = engine_n_filters(m->engine);
        exemptions = engine_exemptions_active(m->engine);
        if (coming) {
                /* the caller's answer goes first: it waits for the exemptions, not for their watch */
                m->trace_follows = true;
                if (m->trace_follow)
                        (void) sd_event_source_set_enabled(m->trace_follow, SD_EVENT_ONESHOT);
                else
                        manager_trace_follow(m);        /* no event loop of ours (tests): at once */
        }
        if (exemptions != m->exemptions_active) {
                m->exemptions_active = exemptions;
                log_struct(LOG_NOTICE,
                           LOG_FIELDS(exemptions ? BFED_MESSAGE_EXEMPTIONS_ON : BFED_MESSAGE_EXEMPTIONS_OFF),
                           "IKE/AuthIP exemptions %s.",
                           exemptions ? "installed: the first main-mode policy filter appeared"
                                      : "removed: the last main-mode policy filter is gone");
                if (m->hooks && m->hooks->exemptions_changed)
                        m->hooks->exemptions_changed(m, exemptions, m->hooks_userdata);
                manager_table_listen_as_needed(m->table);
                obstacle_watch_exemptions_changed(m->obstacles, exemptions);
        }
        (void) sd_notifyf(false, "STATUS=%zu filters, exemptions %s", engine_n_filters(m->engine),
                          exemptions ? "active" : "inactive");

        if (save) {
                r = store_commit(m->store);
                if (r < 0) {
                        /* the kernel and the database have it; only its durability is in doubt */
                        store_discard(m->store);
                        log_error_errno(r, "Failed to save %s: %m", store_path(m->store));
                        return fail(err, r, "The change is applied but could not be saved to %s: %s",
                                    store_path(m->store), bfe_strerror(r));
                }
        }
        if (boot) {
                r = boot_file_commit(m->boot);
                if (r < 0) {
                        log_error_errno(r, "Failed to put the boot file %s in place: %m", boot_file_path(m->boot));
                        return fail(err, r, "The change is applied and saved, but the boot file %s could not be "
                                    "written: %s", boot_file_path(m->boot), bfe_strerror(r));
                }
        }
        return 0;
}

void manager_peer_gone(Manager *m, const char *owner) {
        for (Session *s = m->sessions, *next; s; s = next) {
                next = s->next;
                if (streq(s->owner, owner)) {
                        log_info("Session %" PRIu64 " (%s): its connection %s went away.", s->id, s->name, owner);
                        session_close(s);
                }
        }
        for (EnumHandle *h = m->enums, *next; h; h = next) {
                next = h->next;
                if (streq(h->owner, owner))
                        enum_destroy(h);
        }
        net_events_peer_gone(m, owner);
        group_cancel(m, NULL, owner, -ECONNRESET);
}
