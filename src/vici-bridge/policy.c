/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * policy.c — the bridge's policy in bfed (see policy.h).
 *
 * What is installed is kept per connection, with the keys of its contexts and filters; the
 * bridge makes the keys itself, so a connection's filters can be sent right behind its
 * contexts, without waiting for an answer. Changes are calls queued in order and sent with at
 * most POLICY_CALLS_MAX waiting at once; bfed applies a session's calls in order and commits
 * the ones that arrive back to back in one batch. The installed state is what the calls will
 * make it: when one is refused, the session is reset rather than patched.
 *
 * Every answer carries the generation of the session it was sent for: a new session, bfed
 * gone or a reset starts a new one, and an answer of an older one is ignored.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "array.h"
#include "guid.h"
#include "log.h"
#include "macro.h"
#include "name-watch.h"
#include "object-bus.h"
#include "policy.h"
#include "string-util.h"
#include "utf8.h"

#define BFED_NAME "org.bfed.Engine1"
#define BFED_PATH "/org/bfed/Engine1"
#define BFED_IFACE "org.bfed.Engine1"
#define RETRY_USEC (1000 * 1000)
/* of a connection's name in bfed's object names and in the log */
#define NAME_SHOWN_MAX 256

typedef struct Installed {
        char *name;
        uint8_t versions, families;
        BfeKey contexts[2];             /* by version: [0] IKEv1, [1] IKEv2 */
        BfeKey filters[2][2];           /* by version and family: [v][0] IPv4, [v][1] IPv6 */
} Installed;

typedef struct Queued Queued;
struct Queued {
        Queued *next;
        sd_bus_message *m;
        char *what;                     /* for the log: "adding the IKEv2 context of 'gw'" */
};

struct Policy {
        sd_event *event;
        sd_bus *bus;
        NameWatch bfed_watch;
        sd_bus_slot *disconnected;
        sd_event_source *retry;         /* connect the bus again, or open the session again */
        char *owner;                    /* bfed's unique name; NULL while it is not there */
        char *session;                  /* the session's path; NULL while none is open */
        uint64_t generation;
        bool opening, ready, broken;
        unsigned in_flight;
        Queued *queue, *queue_tail;
        Installed *installed;
        size_t n_installed;
        Conns wanted;
        bool have_mark;
        uint32_t mark;
        PolicyChanged changed;
        void *userdata;
};

/* What is done with a current answer: @e is its error, or NULL; @what names the call. */
typedef void (*CallDone)(Policy *p, sd_bus_message *reply, const sd_bus_error *e, const char *what);

/* What an answer needs to find its way back. */
typedef struct CallContext {
        Policy *policy;
        uint64_t generation;
        char *what;
        CallDone done;
} CallContext;

static void call_context_free(void *userdata) {
        CallContext *ctx = userdata;

        free(ctx->what);
        free(ctx);
}

static void installed_free(Installed *a, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(a[i].name);
        free(a);
}

static void queue_clear(Policy *p) {
        while (p->queue) {
                Queued *q = p->queue;

                p->queue = q->next;
                sd_bus_message_unref(q->m);
                free(q->what);
                free(q);
        }
        p->queue_tail = NULL;
}

static void notify_changed(Policy *p) {
        if (p->changed)
                p->changed(p, p->userdata);
}

/* The session and what it held are gone (bfed went, or we closed it): a new generation. */
static void forget_session(Policy *p) {
        p->generation++;
        p->session = mfree(p->session);
        p->opening = p->ready = p->broken = false;
        p->in_flight = 0;
        queue_clear(p);
        installed_free(p->installed, p->n_installed);
        p->installed = NULL;
        p->n_installed = 0;
}

static void schedule_retry(Policy *p) {
        (void) sd_event_source_set_time_relative(p->retry, RETRY_USEC);
        (void) sd_event_source_set_enabled(p->retry, SD_EVENT_ONESHOT);
}

/* The one handler of every answer: it goes to the call's done() unless it is of an older
 * generation, or the bus's own for a connection that is gone (the Disconnected signal comes right
 * after those). */
static int on_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        CallContext *ctx = userdata;

        if (ctx->generation != ctx->policy->generation || sd_bus_is_open(sd_bus_message_get_bus(reply)) <= 0)
                return 0;
        ctx->done(ctx->policy, reply, sd_bus_message_get_error(reply), ctx->what);
        return 0;
}

/* Sends @m; @done gets the answer unless a newer generation began first. */
static int send_call(Policy *p, sd_bus_message *m, const char *what, CallDone done) {
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        CallContext *ctx;
        int r;

        ctx = calloc(1, sizeof(*ctx));
        if (!ctx || !(ctx->what = strdup(what))) {
                free(ctx);
                return -ENOMEM;
        }
        ctx->policy = p;
        ctx->generation = p->generation;
        ctx->done = done;
        r = sd_bus_call_async(p->bus, &slot, m, on_reply, ctx, 0);
        if (r < 0) {
                call_context_free(ctx);
                return r;
        }
        (void) sd_bus_slot_set_destroy_callback(slot, call_context_free);
        return sd_bus_slot_set_floating(slot, 1);
}

static int new_call(Policy *p, const char *path, const char *member, sd_bus_message **ret) {
        return sd_bus_message_new_method_call(p->bus, ret, p->owner, path, BFED_IFACE, member);
}

/* ---- the queue of changes ------------------------------------------------------------------ */

static void reset_session(Policy *p);
static void on_change_done(Policy *p, sd_bus_message *reply, const sd_bus_error *e, const char *what);

static void pump(Policy *p) {
        while (p->queue && p->in_flight < POLICY_CALLS_MAX && !p->broken) {
                Queued *q = p->queue;
                int r;

                r = send_call(p, q->m, q->what, on_change_done);
                if (r < 0) {
                        log_error_errno(r, "Failed to send a call to bfed (%s): %m", q->what);
                        p->broken = true;
                        break;
                }
                p->in_flight++;
                p->queue = q->next;
                if (!p->queue)
                        p->queue_tail = NULL;
                sd_bus_message_unref(q->m);
                free(q->what);
                free(q);
        }
        if (p->broken && p->in_flight == 0)
                reset_session(p);
}

static void on_change_done(Policy *p, sd_bus_message *reply, const sd_bus_error *e, const char *what) {
        p->in_flight--;
        if (e) {
                log_error("bfed refused %s: %s (%s); the session starts over.", what, e->message ?: "no message",
                          e->name);
                p->broken = true;
        }
        pump(p);
}

static int enqueue(Policy *p, sd_bus_message *m, char *what) {
        Queued *q = calloc(1, sizeof(*q));

        if (!q || !what) {
                free(q);
                free(what);
                return -ENOMEM;
        }
        q->m = sd_bus_message_ref(m);
        q->what = what;
        if (p->queue_tail)
                p->queue_tail->next = q;
        else
                p->queue = q;
        p->queue_tail = q;
        return 0;
}

static int queue_object(Policy *p, ObjectKind kind, const void *obj, char *what) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        char member[64];
        int r;

        (void) snprintf(member, sizeof(member), "Add%s", object_info(kind)->method);
        r = new_call(p, p->session, member, &m);
        if (r >= 0)
                r = object_append(m, object_info(kind), obj, OBJECT_WRITE_REQUEST);
        if (r < 0) {
                free(what);
                return r;
        }
        return enqueue(p, m, what);
}

static int queue_delete(Policy *p, const char *member, const BfeKey *key, char *what) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        char s[GUID_STRING_MAX];
        int r;

        r = new_call(p, p->session, member, &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "s", guid_to_string(key, s));
        if (r < 0) {
                free(what);
                return r;
        }
        return enqueue(p, m, what);
}

static char *what_printf(const char *fmt, ...) _printf_(1, 2);
static char *what_printf(const char *fmt, ...) {
        va_list ap;
        char *s;

        va_start(ap, fmt);
        s = strdup_vprintf(fmt, ap);
        va_end(ap);
        return s;
}

static const char *const version_names[2] = { "IKEv1", "IKEv2" };
static const char *const family_names[2] = { "IPv4", "IPv6" };

/* A connection's contexts, then their filters; the keys go to @inst. */
static int queue_add(Policy *p, Installed *inst, const char *shown) {
        BfeKey provider;
        BfeBlob data = { .data = (uint8_t *) inst->name, .size = strlen(inst->name) };
        int r = 0;

        (void) guid_from_string(POLICY_PROVIDER_KEY, &provider);
        for (int v = 0; v < 2 && r >= 0; v++) {
                _cleanup_(freep) char *name = NULL, *description = NULL;

                if (!(inst->versions & (1 << v)))
                        continue;
                name = what_printf("strongSwan: %s (%s main mode)", shown, version_names[v]);
                description = what_printf("charon's connection %s, through bfed-vici", shown);
                if (!name || !description || guid_generate(&inst->contexts[v]) < 0)
                        return -ENOMEM;
                r = queue_object(p, OBJECT_PROVIDER_CONTEXT, &(BfeProviderContext) {
                                         .key = inst->contexts[v], .name = name, .description = description,
                                         .provider_key = provider, .provider_data = data,
                                         .type = v ? BFE_CONTEXT_IPSEC_IKEV2_MM : BFE_CONTEXT_IPSEC_IKE_MM },
                                 what_printf("the %s context of connection %s", version_names[v], shown));
                for (int f = 0; f < 2 && r >= 0; f++) {
                        _cleanup_(freep) char *fname = NULL;

                        if (!(inst->families & (1 << f)))
                                continue;
                        fname = what_printf("strongSwan: %s (%s, %s)", shown, version_names[v], family_names[f]);
                        if (!fname || guid_generate(&inst->filters[v][f]) < 0)
                                return -ENOMEM;
                        r = queue_object(p, OBJECT_FILTER, &(BfeFilter) {
                                                 .key = inst->filters[v][f], .name = fname,
                                                 .description = description, .provider_key = provider,
                                                 .provider_data = data, .layer = f ? "IKEEXT_V6" : "IKEEXT_V4",
                                                 .action = BFE_ACTION_PERMIT,
                                                 .provider_context_key = inst->contexts[v] },
                                         what_printf("the %s %s filter of connection %s", version_names[v],
                                                     family_names[f], shown));
                }
        }
        return r;
}

/* A connection's filters, then its contexts. */
static int queue_remove(Policy *p, const Installed *inst, const char *shown) {
        int r = 0;

        for (int v = 0; v < 2 && r >= 0; v++)
                for (int f = 0; f < 2 && r >= 0; f++)
                        if (!guid_is_null(&inst->filters[v][f]))
                                r = queue_delete(p, "DeleteFilterByKey", &inst->filters[v][f],
                                                 what_printf("deleting the %s %s filter of connection %s",
                                                             version_names[v], family_names[f], shown));
        for (int v = 0; v < 2 && r >= 0; v++)
                if (!guid_is_null(&inst->contexts[v]))
                        r = queue_delete(p, "DeleteProviderContext", &inst->contexts[v],
                                         what_printf("deleting the %s context of connection %s", version_names[v],
                                                     shown));
        return r;
}

/* ---- keeping the policy as charon's connections are ---------------------------------------- */

static int sync_one(Policy *p, const Installed *old, const Conn *want, Installed *ret) {
        const char *name = want ? want->name : old->name;
        _cleanup_(freep) char *shown = utf8_escape(name, strlen(name), NAME_SHOWN_MAX);
        int r;

        if (!shown)
                return -ENOMEM;
        if (old && want && old->versions == want->versions && old->families == want->families) {
                *ret = *old;
                return 0;
        }
        if (old) {
                r = queue_remove(p, old, shown);
                if (r < 0)
                        return r;
                if (!want)
                        log_info("Connection %s is gone: its policy is deleted.", shown);
        }
        if (!want)
                return 0;
        *ret = (Installed) { .name = strdup(name), .versions = want->versions, .families = want->families };
        if (!ret->name)
                return -ENOMEM;
        r = queue_add(p, ret, shown);
        if (r < 0)
                return r;
        log_info("Connection %s (%s, %s): %s IKE main-mode policy.", shown, conn_versions_to_string(want->versions),
                 conn_families_to_string(want->families), old ? "its changed" : "an");
        return 0;
}

/* Walks the wanted and the installed connections, both sorted by name, queueing the changes. */
static int sync_policy(Policy *p) {
        Installed *next = NULL;
        size_t i = 0, k = 0, n = 0;
        int r = 0;

        if (!p->ready || p->broken)
                return 0;
        if (p->wanted.n > 0 && !(next = calloc(p->wanted.n, sizeof(Installed))))
                return -ENOMEM;
        while (r >= 0 && (i < p->n_installed || k < p->wanted.n)) {
                const Installed *old = i < p->n_installed ? &p->installed[i] : NULL;
                const Conn *want = k < p->wanted.n ? &p->wanted.conns[k] : NULL;
                int c = !old ? 1 : !want ? -1 : strcmp(old->name, want->name);
                Installed inst = {};

                r = sync_one(p, c <= 0 ? old : NULL, c >= 0 ? want : NULL, &inst);
                if (c <= 0)
                        i++;
                if (c >= 0)
                        k++;
                if (inst.name)
                        next[n++] = inst;
                /* the old entry's name moved to the new one, or the old entry is gone */
                if (c <= 0 && (!inst.name || inst.name != old->name))
                        free(old->name);
        }
        for (; i < p->n_installed; i++)
                free(p->installed[i].name);
        free(p->installed);
        p->installed = next;
        p->n_installed = n;
        if (r < 0) {
                /* what was queued no longer matches what is recorded: start over */
                log_error_errno(r, "Failed to queue the policy changes: %m");
                p->broken = true;
        }
        pump(p);
        return r;
}

int policy_set_conns(Policy *p, const Conns *conns) {
        Conns copy = {};

        for (size_t i = 0; conns && i < conns->n; i++) {
                char *name = strdup(conns->conns[i].name);

                if (!name || !ARRAY_RESERVE(copy.conns, copy.alloc, copy.n + 1, 16)) {
                        free(name);
                        conns_done(&copy);
                        return -ENOMEM;
                }
                copy.conns[copy.n++] = (Conn) { .name = name, .versions = conns->conns[i].versions,
                                                .families = conns->conns[i].families };
        }
        conns_done(&p->wanted);
        p->wanted = copy;
        return sync_policy(p);
}

/* ---- the session --------------------------------------------------------------------------- */

static void on_provider_added(Policy *p, sd_bus_message *reply, const sd_bus_error *e, const char *what) {
        p->opening = false;
        if (e) {
                log_error("bfed refused the provider strongSwan: %s (%s); trying again in a second.",
                          e->message ?: "no message", e->name);
                reset_session(p);
                return;
        }
        log_info("Session %s open in bfed: charon's connections get their policy there.", p->session);
        p->ready = true;
        (void) sync_policy(p);
}

static void on_mark(Policy *p, sd_bus_message *reply, const sd_bus_error *e, const char *what) {
        uint32_t mark;

        /* a bfed without the property leaves the marks unchecked */
        if (e || sd_bus_message_read(reply, "v", "u", &mark) < 0) {
                log_debug("bfed does not tell its SocketMark: the socket marks are not compared.");
                return;
        }
        p->have_mark = true;
        p->mark = mark;
        notify_changed(p);
}

static int add_provider(Policy *p) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        BfeProvider provider = { .name = (char *) "strongSwan",
                                 .description = (char *) "charon's IKE connections, through bfed-vici" };
        int r;

        (void) guid_from_string(POLICY_PROVIDER_KEY, &provider.key);
        r = new_call(p, p->session, "AddProvider", &m);
        if (r >= 0)
                r = object_append(m, object_info(OBJECT_PROVIDER), &provider, OBJECT_WRITE_REQUEST);
        if (r >= 0)
                r = send_call(p, m, "the provider strongSwan", on_provider_added);
        if (r < 0)
                return r;
        m = sd_bus_message_unref(m);
        r = sd_bus_message_new_method_call(p->bus, &m, p->owner, BFED_PATH, "org.freedesktop.DBus.Properties", "Get");
        if (r >= 0)
                r = sd_bus_message_append(m, "ss", BFED_IFACE, "SocketMark");
        if (r >= 0)
                r = send_call(p, m, "bfed's SocketMark", on_mark);
        return r;
}

static void on_session_opened(Policy *p, sd_bus_message *reply, const sd_bus_error *e, const char *what) {
        const char *path;
        int r;

        if (e) {
                log_error("bfed refused a session: %s (%s); trying again in a second.", e->message ?: "no message",
                          e->name);
                p->opening = false;
                schedule_retry(p);
                return;
        }
        r = sd_bus_message_read(reply, "o", &path);
        if (r >= 0)
                r = (p->session = strdup(path)) ? 0 : -ENOMEM;
        if (r >= 0)
                r = add_provider(p);
        if (r < 0) {
                log_error_errno(r, "Failed to set up the session in bfed: %m");
                reset_session(p);
        }
}

static void open_session(Policy *p) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        if (!p->owner || p->opening || p->ready)
                return;
        r = new_call(p, BFED_PATH, "OpenSession", &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "a{sv}", 3, "Name", "s", "strongSwan (bfed-vici)", "Description", "s",
                                          "charon's IKE connections: an IKE MM policy each", "Dynamic", "b", 1);
        if (r >= 0)
                r = send_call(p, m, "a session", on_session_opened);
        if (r < 0) {
                log_error_errno(r, "Failed to open a session in bfed, trying again in a second: %m");
                schedule_retry(p);
                return;
        }
        p->opening = true;
}

/* Closes the session (its objects go with it) and opens a new one a second later. */
static void reset_session(Policy *p) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;

        if (p->session && p->owner &&
            sd_bus_message_new_method_call(p->bus, &m, p->owner, p->session, "org.bfed.Session1", "Close") >= 0)
                (void) sd_bus_send(p->bus, m, NULL);
        forget_session(p);
        schedule_retry(p);
}

/* ---- following bfed and the bus ------------------------------------------------------------ */

static void set_owner(Policy *p, const char *owner) {
        if (streq_ptr(p->owner, owner))
                return;
        if (p->owner && !owner)
                log_notice("bfed left the bus: its session went with it; waiting for it to come back.");
        forget_session(p);
        free(p->owner);
        p->owner = owner ? strdup(owner) : NULL;
        p->have_mark = false;
        if (p->owner)
                open_session(p);
        notify_changed(p);
}

static void on_owner(const char *owner, const sd_bus_error *error, void *userdata) {
        if (error) {
                log_notice("bfed is not on the bus yet; waiting for it.");
                return;
        }
        set_owner(userdata, owner);
}

static int on_disconnected(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Policy *p = userdata;

        log_warning("Lost the system bus: connecting again in a second.");
        set_owner(p, NULL);
        /* the bus is dropped from the retry timer, not from inside its own callback */
        schedule_retry(p);
        return 0;
}

static void drop_bus(Policy *p) {
        name_watch_done(&p->bfed_watch);
        p->disconnected = sd_bus_slot_unref(p->disconnected);
        p->bus = sd_bus_flush_close_unref(p->bus);
}

static int connect_bus(Policy *p) {
        int r;

        drop_bus(p);
        r = sd_bus_open_system(&p->bus);
        if (r >= 0)
                (void) sd_bus_set_description(p->bus, "bfed-vici");
        if (r >= 0)
                r = sd_bus_attach_event(p->bus, p->event, 0);
        if (r >= 0)
                r = sd_bus_match_signal(p->bus, &p->disconnected, NULL, "/org/freedesktop/DBus/Local",
                                        "org.freedesktop.DBus.Local", "Disconnected", on_disconnected, p);
        if (r >= 0)
                r = name_watch_start(&p->bfed_watch, p->bus, BFED_NAME, on_owner, p);
        if (r < 0) {
                drop_bus(p);
                return r;
        }
        return 0;
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        Policy *p = userdata;
        int r;

        if (!p->bus || sd_bus_is_open(p->bus) <= 0) {
                r = connect_bus(p);
                if (r < 0) {
                        log_warning_errno(r, "Failed to connect to the system bus, trying again in a second: %m");
                        schedule_retry(p);
                }
                return 0;
        }
        open_session(p);
        return 0;
}

/* ---- the API ------------------------------------------------------------------------------- */

Policy *policy_free(Policy *p) {
        if (!p)
                return NULL;
        forget_session(p);
        drop_bus(p);
        sd_event_source_disable_unref(p->retry);
        sd_event_unref(p->event);
        free(p->owner);
        conns_done(&p->wanted);
        free(p);
        return NULL;
}

int policy_new(sd_event *event, Policy **ret) {
        _cleanup_(policy_freep) Policy *p = NULL;
        int r;

        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->event = sd_event_ref(event);
        r = sd_event_add_time_relative(event, &p->retry, CLOCK_MONOTONIC, RETRY_USEC, 0, on_retry, p);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(p->retry, SD_EVENT_OFF);
        r = connect_bus(p);
        if (r < 0) {
                log_warning_errno(r, "Failed to connect to the system bus, trying again in a second: %m");
                schedule_retry(p);
        }
        *ret = TAKE_PTR(p);
        return 0;
}

void policy_set_callback(Policy *p, PolicyChanged cb, void *userdata) {
        p->changed = cb;
        p->userdata = userdata;
}

bool policy_get_bfed_mark(const Policy *p, uint32_t *ret) {
        if (!p->owner || !p->have_mark)
                return false;
        *ret = p->mark;
        return true;
}
