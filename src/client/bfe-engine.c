/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bfe-engine.c — libbfe: the engine handle, error reporting, asynchronous calls and engine
 * properties.
 *
 * Errors: a D-Bus error org.bfed.Error.<Name> is turned back into its WFP code with
 * wfp_error_from_bus_name() and returned as wfp_ret(code) (-(0x10000 + low 16 bits)), the same
 * convention the daemon uses internally; any other bus error keeps the errno sd-bus maps it to.
 * We do not register the WFP names with sd_bus_error_add_map(): that map is process-global,
 * and its values must be errno numbers, which the WFP codes are not.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "bfe-internal.h"
#include "bfed-build.h"
#include "guid.h"
#include "list.h"
#include "macro.h"
#include "wfp.h"

_Static_assert(sizeof(BfeKey) == sizeof(BfeGuid), "BfeKey and BfeGuid must have the same layout");
_Static_assert(BFE_WFP_ERRNO_BASE == WFP_ERRNO_BASE, "public and internal WFP errno bases differ");
_Static_assert(BFE_KEY_STRING_MAX == GUID_STRING_MAX, "GUID string sizes differ");

_public_ int bfe_key_from_string(const char *s, BfeKey *ret) {
        BfeGuid g;
        int r;

        if (!ret)
                return -EINVAL;
        r = guid_from_string(s, &g);
        if (r < 0)
                return r;
        memcpy(ret->b, g.b, sizeof(ret->b));
        return 0;
}

_public_ char *bfe_key_to_string(const BfeKey *k, char *buf) {
        BfeGuid g;

        memcpy(g.b, k->b, sizeof(g.b));
        return guid_to_string(&g, buf);
}

_public_ bool bfe_key_is_null(const BfeKey *k) {
        static const BfeKey null;

        return !k || memcmp(k, &null, sizeof(null)) == 0;
}

_public_ uint32_t bfe_wfp_code_from_ret(int r) {
        return wfp_code_from_ret(r);
}

_public_ const char *bfe_wfp_error_name(uint32_t code) {
        const WfpErrorInfo *info = wfp_error_info(code);

        return info ? info->name : NULL;
}

void bfe_error_info_done(BfeErrorInfo *i) {
        free(i->bus_name);
        free(i->message);
        *i = BFE_ERROR_INFO_NULL;
}

/**
 * bfe_error_info_set() - record a failure.
 * @i: where
 * @r: the negative errno of the failure
 * @error: the D-Bus error, if the failure came from the daemon or the bus; may be NULL
 *
 * Return: the value the public call returns: wfp_ret(code) for WFP errors, @r otherwise.
 */
int bfe_error_info_set(BfeErrorInfo *i, int r, const sd_bus_error *error) {
        const WfpErrorInfo *info = NULL;

        bfe_error_info_done(i);
        if (r >= 0)
                r = -EIO;

        if (sd_bus_error_is_set(error)) {
                info = wfp_error_from_bus_name(error->name);
                i->bus_name = strdup(error->name);
                if (error->message)
                        i->message = strdup(error->message);
        } else
                info = wfp_error_info(wfp_code_from_ret(r));

        if (info) {
                r = wfp_ret(info->code);
                i->public.wfp_code = info->code;
                i->public.wfp_name = info->name;
        }
        if (!i->message)
                i->message = strdup(info ? info->name : strerror(-r));

        i->public.error = r;
        i->public.bus_name = i->bus_name;
        i->public.message = i->message ?: "Out of memory";
        return r;
}

/* Records a local failure with a message of our own. */
static int bfe_error_info_set_message(BfeErrorInfo *i, int r, const char *message) {
        char *copy;

        r = bfe_error_info_set(i, r, NULL);
        copy = strdup(message);
        if (copy) {
                free(i->message);
                i->message = copy;
                i->public.message = copy;
        }
        return r;
}

/**
 * bfe_engine_begin() - the start of a public call on an engine.
 * @e: the engine, may be NULL
 * @args_valid: whether the call's other arguments are acceptable
 *
 * Clears the engine's last error, which from now on describes this call.
 *
 * Return: 0; -EINVAL for a NULL @e (no engine to record it on), or recorded as the last
 * error when @args_valid is false.
 */
int bfe_engine_begin(BfeEngine *e, bool args_valid) {
        if (!e)
                return -EINVAL;
        bfe_engine_clear_error(e);
        return args_valid ? 0 : bfe_engine_result(e, -EINVAL);
}

void bfe_engine_clear_error(BfeEngine *e) {
        bfe_error_info_done(&e->error);
}

/* Records a failure as the engine's last error; returns what the public call returns. */
int bfe_engine_set_error(BfeEngine *e, int r, const sd_bus_error *error) {
        return bfe_error_info_set(&e->error, r, error);
}

int bfe_engine_result(BfeEngine *e, int r) {
        if (r >= 0)
                return r;
        if (e->error.public.error < 0)
                return e->error.public.error;    /* already recorded by bfe_engine_call() */
        return bfe_engine_set_error(e, r, NULL);
}

int bfe_engine_set_error_message(BfeEngine *e, int r, const char *message) {
        return bfe_error_info_set_message(&e->error, r, message);
}

/* The object methods go to the session object when there is one, else to the engine. */
int bfe_engine_new_method_call(BfeEngine *e, const char *member, sd_bus_message **ret) {
        if (e->session_closed)
                return bfe_engine_set_error_message(e, -ENOTCONN, "the session is closed");
        return sd_bus_message_new_method_call(e->bus, ret, BFE_BUS_NAME,
                                              e->session_path ?: BFE_OBJECT_PATH,
                                              BFE_INTERFACE, member);
}

/* Sends @m and waits for the reply; records the error of a failed call. */
int bfe_engine_call(BfeEngine *e, sd_bus_message *m, sd_bus_message **ret_reply) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_call(e->bus, m, e->call_timeout_usec, &error, ret_reply);
        if (r < 0)
                return bfe_engine_set_error(e, r, &error);
        return 0;
}

/* ---- asynchronous calls ---------------------------------------------------------------------- */

/*
 * An asynchronous call in flight. sd-bus keeps the replies of all calls of a connection in
 * one queue: sd_bus_call() leaves the ones it is not waiting for there, and sd_bus_process()
 * hands each to on_call_reply(), so they are dispatched only from bfe_engine_process() and
 * bfe_engine_wait(), in the order they came.
 */
struct BfeEngineCall {
        BfeEngine *engine;
        sd_bus_slot *slot;
        BfeEngineCallDone done;
        BfeEngineCallback callback;
        void *userdata;
        BfeEngineCall *prev, *next;
};

/* Unlinks and frees @c, then completes it. */
static void call_complete(BfeEngineCall *c, sd_bus_message *reply, BfeErrorInfo *error) {
        BfeEngine *e = c->engine;
        BfeEngineCallDone done = c->done;
        BfeEngineCallback callback = c->callback;
        void *userdata = c->userdata;

        LIST_REMOVE_TAIL(e->calls, e->calls_tail, c);
        e->n_calls--;
        /* In on_call_reply(), sd-bus holds a reference of its own on the slot. */
        sd_bus_slot_unref(c->slot);
        free(c);

        done(e, reply, error, callback, userdata);
}

static int on_call_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        _cleanup_(bfe_error_info_done) BfeErrorInfo error = BFE_ERROR_INFO_NULL;
        const sd_bus_error *bus_error = sd_bus_message_get_error(reply);
        BfeEngineCall *c = userdata;

        if (sd_bus_error_is_set(bus_error)) {
                int r = -sd_bus_message_get_errno(reply);

                /* When the connection goes away, sd-bus fails the calls still in flight with a
                 * NoReply error of its own ("Connection terminated"), which maps to
                 * -ETIMEDOUT; say what happened instead, as sd_bus_call() does. */
                if (sd_bus_error_has_name(bus_error, SD_BUS_ERROR_NO_REPLY) &&
                    !sd_bus_is_open(c->engine->bus))
                        r = -ECONNRESET;
                (void) bfe_error_info_set(&error, r, bus_error);
                reply = NULL;
        }
        call_complete(c, reply, &error);
        return 0;
}

/**
 * bfe_engine_call_async() - send @m without waiting for its reply.
 * @e: the engine
 * @m: the method call, as built for bfe_engine_call()
 * @done: reads the reply and calls @callback, from bfe_engine_process() / bfe_engine_wait(),
 *        or from bfe_engine_close() with -ECANCELED
 * @callback: the user's callback, passed on to @done
 * @userdata: passed on to @done
 *
 * The call has the same timeout as bfe_engine_call()'s.
 *
 * Return: 0 if the call was queued on the connection; else a negative errno (recorded as the
 * engine's last error), and @done is never called.
 */
int bfe_engine_call_async(BfeEngine *e, sd_bus_message *m, BfeEngineCallDone done,
                          BfeEngineCallback callback, void *userdata) {
        BfeEngineCall *c;
        int r;

        if (e->closing)
                return bfe_engine_set_error_message(e, -ECANCELED, "the engine is being closed");

        c = calloc(1, sizeof(*c));
        if (!c)
                return bfe_engine_set_error(e, -ENOMEM, NULL);
        *c = (BfeEngineCall) {
                .engine = e,
                .done = done,
                .callback = callback,
                .userdata = userdata,
        };

        r = sd_bus_call_async(e->bus, &c->slot, m, on_call_reply, c, e->call_timeout_usec);
        if (r < 0) {
                free(c);
                return bfe_engine_set_error(e, r, NULL);
        }

        LIST_APPEND(e->calls, e->calls_tail, c);
        e->n_calls++;
        return 0;
}

/* Completes the calls still in flight with -ECANCELED, in call order; no new ones after. */
static void bfe_engine_cancel_calls(BfeEngine *e) {
        e->closing = true;
        while (e->calls) {
                _cleanup_(bfe_error_info_done) BfeErrorInfo error = BFE_ERROR_INFO_NULL;

                (void) bfe_error_info_set_message(&error, -ECANCELED,
                                                  "the engine was closed before the reply came");
                call_complete(e->calls, NULL, &error);
        }
}

_public_ bool bfe_engine_is_private(const BfeEngine *e) {
        return e && e->direct;
}

_public_ unsigned bfe_engine_pending_calls(BfeEngine *e) {
        return e ? e->n_calls : 0;
}

_public_ BfeEngine *bfe_engine_close(BfeEngine *e) {
        if (!e)
                return NULL;
        bfe_engine_cancel_calls(e);
        /* FwpmEngineClose0: the session ends now, not when the daemon notices the disconnect. */
        if (e->session_path && !e->session_closed && e->bus)
                (void) bfe_session_close(e);
        bfe_engine_free_watches(e);
        bfe_engine_clear_error(e);
        sd_bus_flush_close_unref(e->bus);
        free(e->session_path);
        free(e);
        return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(BfeEngine *, bfe_engine_close);

static int bus_open(const char *bus_address, sd_bus **ret) {
        _cleanup_(sd_bus_unrefp) sd_bus *bus = NULL;
        int r;

        if (!bus_address)
                return sd_bus_open_system(ret);

        r = sd_bus_new(&bus);
        if (r < 0)
                return r;
        r = sd_bus_set_address(bus, bus_address);
        if (r < 0)
                return r;
        r = sd_bus_set_bus_client(bus, true);
        if (r < 0)
                return r;
        r = sd_bus_start(bus);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(bus);
        return 0;
}

/*
 * Root's way to bfed without the bus daemon, as systemctl's to PID 1: bfed's private socket
 * (PrivateSocket= in bfed.conf; BFE_PRIVATE_SOCKET names another, or "" for none). The same
 * calls, replies and signals, for a fraction of the cost of a call through dbus-daemon.
 */
static int private_open(sd_bus **ret) {
        const char *path = secure_getenv("BFE_PRIVATE_SOCKET") ?: BFED_PRIVATE_SOCKET;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int fd, r;

        if (geteuid() != 0 || !*path || strlen(path) >= sizeof(sa.sun_path))
                return -ENOENT;
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        r = sd_bus_new(&bus);
        if (r >= 0 && connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                r = -errno;
        if (r >= 0)
                r = sd_bus_set_fd(bus, fd, fd);
        if (r < 0) {
                (void) close(fd);
                return r;
        }
        r = sd_bus_start(bus);
        if (r < 0)
                return r;
        /* a stale socket, or a bfed that refuses us: the bus, then */
        r = sd_bus_call_method(bus, BFE_BUS_NAME, BFE_OBJECT_PATH, "org.freedesktop.DBus.Peer", "Ping", NULL, NULL,
                               NULL);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(bus);
        return 0;
}

int bfe_engine_new(const char *bus_address, BfeEngine **ret) {
        _cleanup_(bfe_engine_closep) BfeEngine *e = NULL;
        int r;

        if (!ret)
                return -EINVAL;

        e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        bfe_engine_clear_error(e);

        /* the system bus: root tries bfed's private socket first */
        if (!bus_address && private_open(&e->bus) >= 0) {
                e->direct = true;
                (void) sd_bus_set_description(e->bus, "libbfe-private");
                *ret = TAKE_PTR(e);
                return 0;
        }
        r = bus_open(bus_address, &e->bus);
        if (r < 0)
                return r;
        (void) sd_bus_set_description(e->bus, "libbfe");

        /* Fail here, not at the first call, when bfed is not there (this also activates it). */
        r = sd_bus_call_method(e->bus, BFE_BUS_NAME, BFE_OBJECT_PATH, "org.freedesktop.DBus.Peer",
                               "Ping", NULL, NULL, NULL);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(e);
        return 0;
}

_public_ int bfe_engine_open(const char *bus_address, BfeEngine **ret) {
        return bfe_engine_new(bus_address, ret);
}

_public_ const BfeError *bfe_engine_last_error(const BfeEngine *e) {
        static const BfeError invalid = { .error = -EINVAL, .message = "No engine" };

        return e ? &e->error.public : &invalid;
}

static int get_property(BfeEngine *e, const char *name, char type, void *ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = bfe_engine_begin(e, ret);
        if (r < 0)
                return r;

        if (type == 's')
                r = sd_bus_get_property_string(e->bus, BFE_BUS_NAME, BFE_OBJECT_PATH, BFE_INTERFACE,
                                               name, &error, ret);
        else
                r = sd_bus_get_property_trivial(e->bus, BFE_BUS_NAME, BFE_OBJECT_PATH, BFE_INTERFACE,
                                                name, &error, type, ret);
        if (r < 0)
                return bfe_engine_set_error(e, r, &error);
        return 0;
}

_public_ int bfe_engine_get_exemptions_active(BfeEngine *e, bool *ret) {
        int b, r;

        if (!ret)
                return bfe_engine_begin(e, false);
        r = get_property(e, "ExemptionsActive", 'b', &b);
        if (r < 0)
                return r;
        *ret = b;
        return 0;
}

_public_ int bfe_engine_get_version(BfeEngine *e, char **ret) {
        return get_property(e, "Version", 's', ret);
}

_public_ int bfe_engine_get_table(BfeEngine *e, char **ret) {
        return get_property(e, "Table", 's', ret);
}

_public_ int bfe_engine_get_filter_count(BfeEngine *e, uint32_t *ret) {
        return get_property(e, "FilterCount", 'u', ret);
}

_public_ void bfe_exempted_drops_free(BfeExemptedDrops *drops, size_t n) {
        for (size_t i = 0; drops && i < n; i++) {
                free(drops[i].table);
                free(drops[i].chain);
        }
        free(drops);
}

int bfe_engine_get_property_message(BfeEngine *e, bool args_valid, const char *name, const char *type,
                                    sd_bus_message **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = bfe_engine_begin(e, args_valid);
        if (r < 0)
                return r;
        r = sd_bus_get_property(e->bus, BFE_BUS_NAME, BFE_OBJECT_PATH, BFE_INTERFACE, name, &error, ret, type);
        if (r < 0)
                return bfe_engine_set_error(e, r, &error);
        return 0;
}

_public_ int bfe_engine_get_exempted_drops(BfeEngine *e, BfeExemptedDrops **ret, size_t *ret_n) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        BfeExemptedDrops *drops = NULL;
        size_t n = 0;
        int r;

        r = bfe_engine_get_property_message(e, ret && ret_n, "ExemptedDrops", "a(sst)", &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(reply, 'a', "(sst)");
        for (;;) {
                const char *table, *chain;
                uint64_t count;
                BfeExemptedDrops *a;

                if (r >= 0)
                        r = sd_bus_message_read(reply, "(sst)", &table, &chain, &count);
                if (r <= 0)
                        break;
                a = reallocarray(drops, n + 1, sizeof(*drops));
                if (!a) {
                        r = -ENOMEM;
                        break;
                }
                drops = a;
                drops[n] = (BfeExemptedDrops) { .table = strdup(table), .chain = strdup(chain), .count = count };
                n++;
                if (!drops[n - 1].table || !drops[n - 1].chain) {
                        r = -ENOMEM;
                        break;
                }
        }
        if (r < 0) {
                bfe_exempted_drops_free(drops, n);
                return bfe_engine_result(e, r);
        }
        *ret = drops;
        *ret_n = n;
        return 0;
}
