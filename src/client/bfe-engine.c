/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bfe-engine.c — libbfe: the engine handle, error reporting and engine properties.
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

#include <systemd/sd-bus.h>

#include "bfe-internal.h"
#include "guid.h"
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

void engine_clear_error(BfeEngine *e) {
        e->error_bus_name = mfree(e->error_bus_name);
        e->error_message = mfree(e->error_message);
        e->error = (BfeError) { .message = "" };
}

/**
 * engine_set_error() - record a failure as the engine's last error.
 * @e: the engine
 * @r: the negative errno of the failure
 * @error: the D-Bus error, if the failure came from the daemon or the bus; may be NULL
 *
 * Return: the value the public call returns: wfp_ret(code) for WFP errors, @r otherwise.
 */
int engine_set_error(BfeEngine *e, int r, const sd_bus_error *error) {
        const WfpErrorInfo *info = NULL;

        engine_clear_error(e);
        if (r >= 0)
                r = -EIO;

        if (sd_bus_error_is_set(error)) {
                info = wfp_error_from_bus_name(error->name);
                e->error_bus_name = strdup(error->name);
                if (error->message)
                        e->error_message = strdup(error->message);
        } else
                info = wfp_error_info(wfp_code_from_ret(r));

        if (info) {
                r = wfp_ret(info->code);
                e->error.wfp_code = info->code;
                e->error.wfp_name = info->name;
        }
        if (!e->error_message)
                e->error_message = strdup(info ? info->name : strerror(-r));

        e->error.error = r;
        e->error.bus_name = e->error_bus_name;
        e->error.message = e->error_message ?: "Out of memory";
        return r;
}

int engine_result(BfeEngine *e, int r) {
        if (r >= 0)
                return r;
        if (e->error.error < 0)
                return e->error.error;    /* already recorded by engine_call() */
        return engine_set_error(e, r, NULL);
}

int engine_set_error_message(BfeEngine *e, int r, const char *message) {
        char *copy;

        r = engine_set_error(e, r, NULL);
        copy = strdup(message);
        if (copy) {
                free(e->error_message);
                e->error_message = copy;
                e->error.message = copy;
        }
        return r;
}

/* The object methods go to the session object when there is one, else to the engine. */
int engine_new_method_call(BfeEngine *e, const char *member, sd_bus_message **ret) {
        if (e->session_closed)
                return engine_set_error_message(e, -ENOTCONN, "the session is closed");
        return sd_bus_message_new_method_call(e->bus, ret, BFE_BUS_NAME,
                                              e->session_path ?: BFE_OBJECT_PATH,
                                              BFE_INTERFACE, member);
}

/* Sends @m and waits for the reply; records the error of a failed call. */
int engine_call(BfeEngine *e, sd_bus_message *m, sd_bus_message **ret_reply) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_call(e->bus, m, e->call_timeout_usec, &error, ret_reply);
        if (r < 0)
                return engine_set_error(e, r, &error);
        return 0;
}

_public_ BfeEngine *bfe_engine_close(BfeEngine *e) {
        if (!e)
                return NULL;
        /* FwpmEngineClose0: the session ends now, not when the daemon notices the disconnect. */
        if (e->session_path && !e->session_closed && e->bus)
                (void) bfe_session_close(e);
        engine_free_subscriptions(e);
        engine_clear_error(e);
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

int engine_new(const char *bus_address, BfeEngine **ret) {
        _cleanup_(bfe_engine_closep) BfeEngine *e = NULL;
        int r;

        if (!ret)
                return -EINVAL;

        e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        engine_clear_error(e);

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
        return engine_new(bus_address, ret);
}

_public_ const BfeError *bfe_engine_last_error(const BfeEngine *e) {
        static const BfeError invalid = { .error = -EINVAL, .message = "No engine" };

        return e ? &e->error : &invalid;
}

static int get_property(BfeEngine *e, const char *name, char type, void *ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        if (!e)
                return -EINVAL;
        engine_clear_error(e);
        if (!ret)
                return engine_result(e, -EINVAL);

        if (type == 's')
                r = sd_bus_get_property_string(e->bus, BFE_BUS_NAME, BFE_OBJECT_PATH, BFE_INTERFACE,
                                               name, &error, ret);
        else
                r = sd_bus_get_property_trivial(e->bus, BFE_BUS_NAME, BFE_OBJECT_PATH, BFE_INTERFACE,
                                                name, &error, type, ret);
        if (r < 0)
                return engine_set_error(e, r, &error);
        return 0;
}

_public_ int bfe_engine_get_exemptions_active(BfeEngine *e, bool *ret) {
        int b, r;

        if (!ret)
                return e ? engine_result(e, -EINVAL) : -EINVAL;
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
