/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bfe-session.c — libbfe: sessions (OpenSession, org.bfed.Session1), transactions, Changed
 * subscriptions and running the connection.
 *
 * A session is a flavour of BfeEngine, as in Fwpm where FwpmEngineOpen0 takes the
 * FWPM_SESSION0: the engine gets its own bus connection (the daemon ties the session's
 * lifetime to it) and its object calls go to the session's object path.
 */
#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-bus.h>

#include "bfe-internal.h"
#include "list.h"
#include "macro.h"

#define BFE_SESSION_INTERFACE "org.bfed.Session1"

/* sd-bus' default method call timeout, added to the time a write may wait for the lock. */
#define CALL_TIMEOUT_SLACK_USEC (25ULL * 1000 * 1000)
#define DEFAULT_TXN_WAIT_MSEC 15000ULL

struct BfeSubscription {
        BfeWatch watch;         /* first */
        BfeChangeSubscription filter;
        BfeChangeCallback callback;
};

DEFINE_TRIVIAL_CLEANUP_FUNC(BfeEngine *, bfe_engine_close);

/* ---- sessions -------------------------------------------------------------------------------- */

static int append_session_options(sd_bus_message *m, const BfeSessionOptions *o) {
        int r;

        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        if (o && o->name) {
                r = sd_bus_message_append(m, "{sv}", "Name", "s", o->name);
                if (r < 0)
                        return r;
        }
        if (o && o->description) {
                r = sd_bus_message_append(m, "{sv}", "Description", "s", o->description);
                if (r < 0)
                        return r;
        }
        if (o && (o->flags & BFE_SESSION_FLAG_DYNAMIC)) {
                r = sd_bus_message_append(m, "{sv}", "Dynamic", "b", 1);
                if (r < 0)
                        return r;
        }
        if (o && o->txn_wait_timeout_msec != 0) {
                r = sd_bus_message_append(m, "{sv}", "TransactionTimeoutMSec", "u",
                                          o->txn_wait_timeout_msec);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(m);
}

_public_ int bfe_engine_open_session(const char *bus_address, const BfeSessionOptions *options,
                                     BfeEngine **ret) {
        _cleanup_(bfe_engine_closep) BfeEngine *e = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        const char *path;
        uint32_t wait_msec;
        int r;

        if (!ret)
                return -EINVAL;
        if (options && (options->flags & ~BFE_SESSION_FLAG_DYNAMIC))
                return -EINVAL;

        r = bfe_engine_new(bus_address, &e);
        if (r < 0)
                return r;

        wait_msec = options ? options->txn_wait_timeout_msec : 0;
        if (wait_msec == BFE_INFINITE)
                e->call_timeout_usec = UINT64_MAX;     /* sd-bus: no timeout */
        else
                e->call_timeout_usec = (wait_msec ? wait_msec : DEFAULT_TXN_WAIT_MSEC) * 1000 +
                                       CALL_TIMEOUT_SLACK_USEC;

        r = sd_bus_message_new_method_call(e->bus, &m, BFE_BUS_NAME, BFE_OBJECT_PATH,
                                           BFE_INTERFACE, "OpenSession");
        if (r >= 0)
                r = append_session_options(m, options);
        if (r >= 0)
                r = bfe_engine_call(e, m, &reply);
        if (r >= 0)
                r = sd_bus_message_read(reply, "o", &path);
        if (r < 0)
                return r;
        e->session_path = strdup(path);
        if (!e->session_path)
                return -ENOMEM;

        bfe_engine_clear_error(e);
        *ret = TAKE_PTR(e);
        return 0;
}

_public_ const char *bfe_engine_get_session_path(const BfeEngine *e) {
        return e && !e->session_closed ? e->session_path : NULL;
}

/* Calls a org.bfed.Session1 method without arguments or with one "u". */
static int session_call(BfeEngine *e, const char *member, bool with_flags, uint32_t flags) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        int r;

        r = bfe_engine_begin(e, true);
        if (r < 0)
                return r;
        if (!e->session_path)
                return bfe_engine_set_error_message(e, -EINVAL,
                                                    "no session: open the engine with bfe_engine_open_session()");
        if (e->session_closed)
                return bfe_engine_set_error_message(e, -ENOTCONN, "the session is closed");

        r = sd_bus_message_new_method_call(e->bus, &m, BFE_BUS_NAME, e->session_path,
                                           BFE_SESSION_INTERFACE, member);
        if (r < 0)
                return bfe_engine_result(e, r);
        if (with_flags) {
                r = sd_bus_message_append(m, "u", flags);
                if (r < 0)
                        return bfe_engine_result(e, r);
        }
        return bfe_engine_call(e, m, &reply);
}

_public_ int bfe_session_close(BfeEngine *e) {
        int r;

        r = session_call(e, "Close", false, 0);
        /* Closed, or gone already (the daemon or the bus went away): either way no session. */
        if (r >= 0 || r == -ENOTCONN || r == -ECONNRESET || r == -EHOSTUNREACH || r == -ENXIO ||
            r == -EBADR)
                if (e && e->session_path)
                        e->session_closed = true;
        return r;
}

_public_ int bfe_transaction_begin(BfeEngine *e, uint32_t flags) {
        if (flags & ~BFE_TXN_READ_ONLY)
                return bfe_engine_begin(e, false);
        return session_call(e, "BeginTransaction", true, flags);
}

_public_ int bfe_transaction_commit(BfeEngine *e) {
        return session_call(e, "CommitTransaction", false, 0);
}

_public_ int bfe_transaction_abort(BfeEngine *e) {
        return session_call(e, "AbortTransaction", false, 0);
}

/* ---- change subscriptions -------------------------------------------------------------------- */

/* The public kinds are the object tables' kinds, one up: 0 is BFE_OBJECT_UNKNOWN. */
_Static_assert(BFE_OBJECT_PROVIDER == OBJECT_PROVIDER + 1 && BFE_OBJECT_SUBLAYER == OBJECT_SUBLAYER + 1 &&
               BFE_OBJECT_PROVIDER_CONTEXT == OBJECT_PROVIDER_CONTEXT + 1 && BFE_OBJECT_FILTER == OBJECT_FILTER + 1,
               "BfeObjectKind and ObjectKind differ");

static BfeObjectKind kind_from_string(const char *s) {
        ObjectKind k;

        if (object_kind_from_name(s, &k) < 0)
                return BFE_OBJECT_UNKNOWN;
        return (BfeObjectKind) (k + 1);
}

static bool subscription_wants(const BfeChangeSubscription *f, const BfeChange *c) {
        if (f->kinds && !(f->kinds & BFE_OBJECT_KIND_MASK(c->kind)))
                return false;
        if (f->flags) {
                if (c->change_type == BFE_CHANGE_ADD)
                        return f->flags & BFE_SUBSCRIPTION_FLAG_NOTIFY_ON_ADD;
                if (c->change_type == BFE_CHANGE_DELETE)
                        return f->flags & BFE_SUBSCRIPTION_FLAG_NOTIFY_ON_DELETE;
                return false;
        }
        return true;
}

/* One Changed signal: the changes of one or more commits, in order (a(sust): kind, change, key,
 * id). A change whose key does not parse is skipped, one of another type ends the signal; the
 * callback may end the subscription (or close the engine), which ends it too. It cannot run the
 * connection again from inside (sd-bus refuses with -EBUSY), so one dispatch runs at a time. */
static int on_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        BfeSubscription *s = userdata;
        bool alive = true;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "(sust)");
        if (r <= 0)
                return 0;       /* not the signal we know: ignore */
        s->watch.alive = &alive;
        for (;;) {
                const char *kind, *key;
                BfeChange c = {};

                r = sd_bus_message_read(m, "(sust)", &kind, &c.change_type, &key, &c.id);
                if (r <= 0)
                        break;
                if (bfe_key_from_string(key, &c.key) < 0)
                        continue;       /* not a key: that change is skipped */
                c.kind = kind_from_string(kind);
                c.kind_name = kind;
                if (subscription_wants(&s->filter, &c))
                        s->callback(s->watch.engine, &c, s->watch.userdata);
                if (!alive)
                        return 0;
        }
        s->watch.alive = NULL;
        return 0;
}

_public_ int bfe_subscribe_changes(BfeEngine *e, const BfeChangeSubscription *subscription,
                                   BfeChangeCallback callback, void *userdata,
                                   BfeSubscription **ret) {
        BfeSubscription *s;
        int r;

        s = bfe_watch_new(e, callback, sizeof(*s), "Changed", on_changed, userdata, &r);
        if (!s)
                return r;
        s->filter = subscription ? *subscription : (BfeChangeSubscription) {};
        s->callback = callback;
        if (ret)
                *ret = s;
        return 0;
}

_public_ BfeSubscription *bfe_unsubscribe_changes(BfeSubscription *s) {
        if (s)
                bfe_watch_free(&s->watch);
        return NULL;
}

void *bfe_watch_new(BfeEngine *e, bool args_valid, size_t size, const char *member,
                    sd_bus_message_handler_t handler, void *userdata, int *ret_r) {
        BfeWatch *w;
        int r;

        assert(size >= sizeof(BfeWatch));
        r = bfe_engine_begin(e, args_valid);
        if (r < 0)
                goto fail;
        w = calloc(1, size);
        if (!w) {
                r = bfe_engine_result(e, -ENOMEM);
                goto fail;
        }
        *w = (BfeWatch) { .engine = e, .userdata = userdata };
        /* on bfed's private socket its signals carry no sender: nobody else is on the line */
        r = sd_bus_match_signal(e->bus, &w->slot, e->direct ? NULL : BFE_BUS_NAME, BFE_OBJECT_PATH, BFE_INTERFACE,
                                member, handler, w);
        if (r < 0) {
                free(w);
                r = bfe_engine_result(e, r);
                goto fail;
        }
        LIST_PREPEND(e->watches, w);
        return w;
fail:
        *ret_r = r;
        return NULL;
}

void bfe_watch_free(BfeWatch *w) {
        if (w->alive)
                *w->alive = false;
        LIST_REMOVE(w->engine->watches, w);
        sd_bus_slot_unref(w->slot);
        free(w);
}

void bfe_engine_free_watches(BfeEngine *e) {
        while (e->watches)
                bfe_watch_free(e->watches);
}

/* ---- running the connection ------------------------------------------------------------------ */

_public_ int bfe_engine_get_fd(BfeEngine *e) {
        return e ? sd_bus_get_fd(e->bus) : -EINVAL;
}

_public_ int bfe_engine_get_events(BfeEngine *e) {
        return e ? sd_bus_get_events(e->bus) : -EINVAL;
}

_public_ int bfe_engine_process(BfeEngine *e) {
        int n = 0, r;

        if (!e)
                return -EINVAL;
        for (;;) {
                r = sd_bus_process(e->bus, NULL);
                if (r < 0)
                        return r;
                if (r == 0)
                        return n;
                if (n < INT32_MAX)
                        n++;
        }
}

_public_ int bfe_engine_wait(BfeEngine *e, uint64_t timeout_usec) {
        int r;

        if (!e)
                return -EINVAL;

        /* Messages read while waiting for a reply are queued already: no need to block. */
        r = bfe_engine_process(e);
        if (r != 0)
                return r;

        r = sd_bus_wait(e->bus, timeout_usec);
        if (r < 0)
                return r;
        if (r == 0)
                return 0;
        return bfe_engine_process(e);
}
