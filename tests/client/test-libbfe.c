/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-libbfe.c — libbfe against a fake org.bfed.Engine1 on a private dbus-daemon: what goes
 * on the wire for each call, how replies (with unknown keys) are read back, and how D-Bus
 * errors turn into WFP codes. Skips (77) when dbus-daemon is not installed.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <systemd/sd-bus.h>

#include "bfe/bfe.h"
#include "macro.h"

#define PROVIDER_KEY "0b5dbb6c-1d0a-4b0c-9a55-3f6a1e2b7c01"
#define FILTER_KEY "7d1c9a10-6f53-4f1e-a1f5-2b2f7c0e9d17"

static char bus_address[512];
static pid_t bus_pid;
static char config_path[] = "/tmp/test-libbfe-XXXXXX";

static pthread_t server_thread;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char last_call[4096];   /* the fake's dump of the last request's arguments */
static char last_path[256];    /* and the object path it was sent to */
static volatile bool server_stop;

/* ---- a dump of any message contents as text, to assert on what libbfe sent ------------------- */

static void dump(sd_bus_message *m, char *buf, size_t size);

static void append(char *buf, size_t size, const char *fmt, ...) _printf_(3, 4);
static void append(char *buf, size_t size, const char *fmt, ...) {
        size_t n = strlen(buf);
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(buf + n, size - n, fmt, ap);
        va_end(ap);
}

static void dump(sd_bus_message *m, char *buf, size_t size) {
        for (;;) {
                const char *contents;
                char type;
                int r;

                r = sd_bus_message_peek_type(m, &type, &contents);
                assert_true(r >= 0);
                if (r == 0)
                        return;

                if (type == 'a' || type == 'e' || type == 'r' || type == 'v') {
                        char open = type == 'a' ? '[' : type == 'v' ? '<' : '(';
                        char close = type == 'a' ? ']' : type == 'v' ? '>' : ')';

                        assert_true(sd_bus_message_enter_container(m, type, contents) >= 0);
                        if (type == 'v')
                                append(buf, size, "%s", contents);
                        append(buf, size, "%c", open);
                        dump(m, buf, size);
                        append(buf, size, "%c", close);
                        assert_true(sd_bus_message_exit_container(m) >= 0);
                } else {
                        union {
                                uint8_t y;
                                int b;
                                uint16_t q;
                                uint32_t u;
                                uint64_t t;
                                const char *s;
                        } v;

                        assert_true(sd_bus_message_read_basic(m, type, &v) > 0);
                        switch (type) {
                        case 'y':
                                append(buf, size, "%u", v.y);
                                break;
                        case 'b':
                                append(buf, size, "%s", v.b ? "true" : "false");
                                break;
                        case 'q':
                                append(buf, size, "%u", v.q);
                                break;
                        case 'u':
                                append(buf, size, "%u", v.u);
                                break;
                        case 't':
                                append(buf, size, "%llu", (unsigned long long) v.t);
                                break;
                        case 's':
                                append(buf, size, "%s", v.s);
                                break;
                        default:
                                fail_msg("unexpected type %c", type);
                        }
                }
                append(buf, size, " ");
        }
}

static void record(sd_bus_message *m) {
        char buf[sizeof(last_call)] = "";

        dump(m, buf, sizeof(buf));
        assert_true(sd_bus_message_rewind(m, true) >= 0);
        pthread_mutex_lock(&lock);
        snprintf(last_call, sizeof(last_call), "%s %s", sd_bus_message_get_member(m), buf);
        snprintf(last_path, sizeof(last_path), "%s", sd_bus_message_get_path(m));
        pthread_mutex_unlock(&lock);
}

static void assert_last_path(const char *expected) {
        pthread_mutex_lock(&lock);
        assert_string_equal(last_path, expected);
        pthread_mutex_unlock(&lock);
}

static void forget_last_call(void) {
        pthread_mutex_lock(&lock);
        last_call[0] = 0;
        last_path[0] = 0;
        pthread_mutex_unlock(&lock);
}

static void assert_last_call(const char *expected) {
        pthread_mutex_lock(&lock);
        assert_string_equal(last_call, expected);
        pthread_mutex_unlock(&lock);
}

/* ---- the fake engine --------------------------------------------------------------------------- */

static int fake_add_provider(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        record(m);
        if (strstr(last_call, "Name s<in-use >"))
                return sd_bus_error_set(error, "org.bfed.Error.InUse",
                                        "FWP_E_IN_USE (0x8032000A): provider is referenced by filter 17");
        if (strstr(last_call, "Name s<bare >"))
                return sd_bus_error_set(error, "org.bfed.Error.ProviderNotFound", "no such provider");
        if (strstr(last_call, "Name s<denied >"))
                return sd_bus_error_set(error, SD_BUS_ERROR_ACCESS_DENIED, "Access denied");
        return sd_bus_reply_method_return(m, "s", PROVIDER_KEY);
}

static int fake_add_with_id(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        record(m);
        return sd_bus_reply_method_return(m, "st", FILTER_KEY, (uint64_t) 17);
}

static int fake_void(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        record(m);
        return sd_bus_reply_method_return(m, "");
}

static int fake_delete_by_id(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        uint64_t id;
        int r;

        record(m);
        r = sd_bus_message_read(m, "t", &id);
        if (r < 0)
                return r;
        if (id != 17)
                return sd_bus_error_setf(error, "org.bfed.Error.FilterNotFound",
                                         "FWP_E_FILTER_NOT_FOUND (0x80320003): no filter with id %llu",
                                         (unsigned long long) id);
        return sd_bus_reply_method_return(m, "");
}

/* A filter dictionary with every key, plus keys a future daemon might add. */
static int append_filter(sd_bus_message *reply, uint64_t id, bool owned, bool explicit_weight) {
        int r;

        r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r < 0)
                return r;
        r = sd_bus_message_append(reply, "{sv}{sv}{sv}{sv}{sv}{sv}{sv}{sv}{sv}{sv}",
                                  "Key", "s", FILTER_KEY,
                                  "Name", "s", owned ? "IKE exemption" : "ike mm policy",
                                  "FutureKey", "a{ss}", 1, "a", "b",
                                  "Flags", "u", (uint32_t) 0x9,
                                  "Layer", "s", "IKEEXT_V4",
                                  "LayerKey", "s", "b14b7bdb-dbbd-473e-bed4-8b4708d4f270",
                                  "EffectiveWeight", "t", UINT64_C(0xC000000000000005),
                                  "Action", "u", (uint32_t) 0x1002,
                                  "Id", "t", id,
                                  "EngineOwned", "b", owned);
        if (r < 0)
                return r;
        if (explicit_weight)
                r = sd_bus_message_append(reply, "{sv}", "Weight", "t", UINT64_C(123456789));
        else
                r = sd_bus_message_append(reply, "{sv}", "Weight", "y", (uint8_t) 12);
        if (r < 0)
                return r;
        /* A known key with an unexpected type is skipped, like an unknown key. */
        r = sd_bus_message_append(reply, "{sv}{sv}", "Description", "u", (uint32_t) 5,
                                  "ProviderData", "ay", 2, 0xde, 0xad);
        if (r < 0)
                return r;
        r = sd_bus_message_append(reply, "{sv}", "Conditions", "a(sus)", 2,
                                  "IP_PROTOCOL", (uint32_t) 0, "udp",
                                  "IP_LOCAL_PORT", (uint32_t) 10, "500");
        if (r < 0)
                return r;
        return sd_bus_message_close_container(reply);
}

static int fake_get_filter(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        record(m);
        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                return r;
        r = append_filter(reply, 17, false, false);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int fake_enum_filters(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        record(m);
        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "a{sv}");
        if (r < 0)
                return r;
        r = append_filter(reply, 1, true, false);
        if (r < 0)
                return r;
        r = append_filter(reply, 17, false, true);
        if (r < 0)
                return r;
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int fake_enum_empty(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        record(m);
        return sd_bus_reply_method_return(m, "aa{sv}", 0);
}

static int fake_get_context(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        record(m);
        return sd_bus_reply_method_return(m, "a{sv}", 5,
                                          "Key", "s", FILTER_KEY,
                                          "Name", "s", "mm",
                                          "Type", "u", (uint32_t) 5,
                                          "Data", "ay", 3, 1, 2, 3,
                                          "Id", "t", UINT64_C(4));
}

#define SUBLAYER_KEY "c0e0a2f1-55aa-4b6e-9c3d-0123456789ab"
#define UNIVERSAL_KEY "eebecc03-ced4-4380-819a-2734397b2b74"

/*
 * Explain: "bad" as a value is a TypeMismatch, the layer "NEWER" answers with a verdict and an
 * outcome this libbfe does not know, anything else gets a two-sublayer trace.
 */
static int fake_explain(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        record(m);
        if (strstr(last_call, " bad )"))
                return sd_bus_error_set(error, "org.bfed.Error.TypeMismatch",
                                        "FWP_E_TYPE_MISMATCH (0x80320027): 'bad' is not a port");
        if (strstr(last_call, "Explain NEWER "))
                return sd_bus_reply_method_return(m, "sta(sstss)", "quarantine", UINT64_C(9), 1,
                                                  UNIVERSAL_KEY, "universal", UINT64_C(9), "q",
                                                  "quarantined");

        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_append(reply, "st", "block", UINT64_C(17));
        if (r < 0)
                return r;
        r = sd_bus_message_append(reply, "a(sstss)", 3,
                                  SUBLAYER_KEY, "high", UINT64_C(12), "permit 500", "soft-permit",
                                  UNIVERSAL_KEY, "FWPM_SUBLAYER_UNIVERSAL", UINT64_C(17), "block udp", "block",
                                  "{" SUBLAYER_KEY "}", "low", UINT64_C(0), "", "not-evaluated");
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

/* ---- sessions: one session object, with a transaction state machine --------------------------- */

#define SESSION_PATH "/org/bfed/Engine1/session/1"

static bool txn_open;   /* only touched by the server thread */

static int fake_open_session(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        record(m);
        if (strstr(last_call, "Name s<refuse >"))
                return sd_bus_error_set(error, SD_BUS_ERROR_ACCESS_DENIED, "Access denied");
        txn_open = false;
        return sd_bus_reply_method_return(m, "o", SESSION_PATH);
}

static int fake_begin(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        record(m);
        if (txn_open)
                return sd_bus_error_set(error, "org.bfed.Error.TxnInProgress",
                                        "FWP_E_TXN_IN_PROGRESS (0x8032000E): a transaction is already open");
        txn_open = true;
        return sd_bus_reply_method_return(m, "");
}

static int fake_end(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        record(m);
        if (!txn_open)
                return sd_bus_error_set(error, "org.bfed.Error.NoTxnInProgress",
                                        "FWP_E_NO_TXN_IN_PROGRESS (0x8032000D): no transaction is open");
        txn_open = false;
        return sd_bus_reply_method_return(m, "");
}

/* Test hook: emits Changed with the given arguments, then replies. */
static int fake_test_emit(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *kind, *key;
        uint32_t change;
        uint64_t id;
        int r;

        r = sd_bus_message_read(m, "sust", &kind, &change, &key, &id);
        if (r < 0)
                return r;
        r = sd_bus_emit_signal(sd_bus_message_get_bus(m), "/org/bfed/Engine1", "org.bfed.Engine1",
                               "Changed", "sust", kind, change, key, id);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(m, "");
}

static const sd_bus_vtable fake_session_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("BeginTransaction", "u", "", fake_begin, 0),
        SD_BUS_METHOD("CommitTransaction", "", "", fake_end, 0),
        SD_BUS_METHOD("AbortTransaction", "", "", fake_end, 0),
        SD_BUS_METHOD("Close", "", "", fake_void, 0),
        SD_BUS_VTABLE_END,
};

static const sd_bus_vtable fake_engine_only_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("OpenSession", "a{sv}", "o", fake_open_session, 0),
        SD_BUS_METHOD("TestEmit", "sust", "", fake_test_emit, 0),
        SD_BUS_SIGNAL("Changed", "sust", 0),
        SD_BUS_VTABLE_END,
};

static int fake_property(sd_bus *bus, const char *path, const char *interface, const char *property,
                         sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        if (streq(property, "Version"))
                return sd_bus_message_append(reply, "s", "9.9.9");
        return sd_bus_message_append(reply, "b", 0);
}

static const sd_bus_vtable fake_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("AddProvider", "a{sv}", "s", fake_add_provider, 0),
        SD_BUS_METHOD("DeleteProvider", "s", "", fake_void, 0),
        SD_BUS_METHOD("EnumProviders", "", "aa{sv}", fake_enum_empty, 0),
        SD_BUS_METHOD("AddSubLayer", "a{sv}", "s", fake_add_provider, 0),
        SD_BUS_METHOD("AddProviderContext", "a{sv}", "st", fake_add_with_id, 0),
        SD_BUS_METHOD("GetProviderContext", "s", "a{sv}", fake_get_context, 0),
        SD_BUS_METHOD("EnumProviderContexts", "a{sv}", "aa{sv}", fake_enum_empty, 0),
        SD_BUS_METHOD("AddFilter", "a{sv}", "st", fake_add_with_id, 0),
        SD_BUS_METHOD("DeleteFilterByKey", "s", "", fake_void, 0),
        SD_BUS_METHOD("DeleteFilterById", "t", "", fake_delete_by_id, 0),
        SD_BUS_METHOD("GetFilterById", "t", "a{sv}", fake_get_filter, 0),
        SD_BUS_METHOD("EnumFilters", "a{sv}", "aa{sv}", fake_enum_filters, 0),
        SD_BUS_METHOD("Explain", "sa{ss}", "sta(sstss)", fake_explain, 0),
        SD_BUS_PROPERTY("ExemptionsActive", "b", fake_property, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Version", "s", fake_property, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_VTABLE_END,
};

static void *server_main(void *arg) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int *ready = arg;

        if (sd_bus_new(&bus) < 0 || sd_bus_set_address(bus, bus_address) < 0 ||
            sd_bus_set_bus_client(bus, true) < 0 || sd_bus_start(bus) < 0 ||
            sd_bus_add_object_vtable(bus, NULL, "/org/bfed/Engine1", "org.bfed.Engine1",
                                     fake_vtable, NULL) < 0 ||
            sd_bus_add_object_vtable(bus, NULL, "/org/bfed/Engine1", "org.bfed.Engine1",
                                     fake_engine_only_vtable, NULL) < 0 ||
            sd_bus_add_object_vtable(bus, NULL, SESSION_PATH, "org.bfed.Engine1",
                                     fake_vtable, NULL) < 0 ||
            sd_bus_add_object_vtable(bus, NULL, SESSION_PATH, "org.bfed.Session1",
                                     fake_session_vtable, NULL) < 0 ||
            sd_bus_request_name(bus, "org.bfed.Engine1", 0) < 0) {
                __atomic_store_n(ready, -1, __ATOMIC_SEQ_CST);
                return NULL;
        }
        __atomic_store_n(ready, 1, __ATOMIC_SEQ_CST);

        while (!server_stop) {
                int r = sd_bus_process(bus, NULL);

                if (r < 0)
                        break;
                if (r == 0)
                        (void) sd_bus_wait(bus, 100 * 1000);
        }
        return NULL;
}

/* ---- setup: a private dbus-daemon and the fake on it --------------------------------------------- */

static int start_bus(void) {
        static const char config[] =
                "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
                " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
                "<busconfig><type>system</type><listen>unix:tmpdir=/tmp</listen>\n"
                "<auth>EXTERNAL</auth>\n"
                "<policy context=\"default\"><allow user=\"*\"/><allow own=\"*\"/>\n"
                "<allow send_destination=\"*\" eavesdrop=\"true\"/><allow receive_sender=\"*\"/>\n"
                "</policy></busconfig>\n";
        int fd, pipefd[2];
        ssize_t n;
        size_t o = 0;

        fd = mkstemp(config_path);
        if (fd < 0)
                return -errno;
        if (write(fd, config, sizeof(config) - 1) != (ssize_t) sizeof(config) - 1) {
                close(fd);
                return -EIO;
        }
        close(fd);

        if (pipe(pipefd) < 0)
                return -errno;
        bus_pid = fork();
        if (bus_pid < 0)
                return -errno;
        if (bus_pid == 0) {
                char fdarg[32];

                close(pipefd[0]);
                snprintf(fdarg, sizeof(fdarg), "--print-address=%d", pipefd[1]);
                execlp("dbus-daemon", "dbus-daemon", "--nofork", "--nopidfile", fdarg,
                       "--config-file", config_path, (char *) NULL);
                _exit(127);
        }
        close(pipefd[1]);
        while (o + 1 < sizeof(bus_address) &&
               (n = read(pipefd[0], bus_address + o, sizeof(bus_address) - 1 - o)) > 0) {
                o += (size_t) n;
                if (memchr(bus_address, '\n', o))
                        break;
        }
        close(pipefd[0]);
        bus_address[o] = 0;
        bus_address[strcspn(bus_address, "\n")] = 0;
        return bus_address[0] ? 0 : -ENOENT;
}

static void stop_bus(void) {
        if (bus_pid > 0) {
                kill(bus_pid, SIGTERM);
                (void) waitpid(bus_pid, NULL, 0);
        }
        (void) unlink(config_path);
}

static int group_setup(void **state) {
        static int ready;

        if (start_bus() < 0)
                return -1;
        if (pthread_create(&server_thread, NULL, server_main, &ready) != 0)
                return -1;
        for (int i = 0; i < 500 && __atomic_load_n(&ready, __ATOMIC_SEQ_CST) == 0; i++)
                usleep(10 * 1000);
        return __atomic_load_n(&ready, __ATOMIC_SEQ_CST) == 1 ? 0 : -1;
}

static int group_teardown(void **state) {
        server_stop = true;
        (void) pthread_join(server_thread, NULL);
        stop_bus();
        return 0;
}

static int engine_setup(void **state) {
        BfeEngine *e;

        if (bfe_engine_open(bus_address, &e) < 0)
                return -1;
        *state = e;
        return 0;
}

static int engine_teardown(void **state) {
        bfe_engine_close(*state);
        return 0;
}

/* ---- tests ------------------------------------------------------------------------------------- */

static void test_open_without_daemon(void **state) {
        BfeEngine *e = (BfeEngine *) 0x1;

        assert_true(bfe_engine_open("unix:path=/nonexistent/socket", &e) < 0);
        assert_ptr_equal(e, (BfeEngine *) 0x1);
}

static void test_provider_add_minimal(void **state) {
        BfeEngine *e = *state;
        BfeProvider p = { .name = (char *) "strongswan" };
        char buf[BFE_KEY_STRING_MAX];
        BfeKey key;

        assert_int_equal(bfe_provider_add(e, &p, &key), 0);
        /* Only the keys that are set go on the wire. */
        assert_last_call("AddProvider [(Name s<strongswan > ) ] ");
        assert_string_equal(bfe_key_to_string(&key, buf), PROVIDER_KEY);
        assert_int_equal(bfe_engine_last_error(e)->error, 0);
        assert_string_equal(bfe_engine_last_error(e)->message, "");
}

static void test_provider_add_full(void **state) {
        BfeEngine *e = *state;
        uint8_t data[] = { 0xca, 0xfe };
        BfeProvider p = {
                .name = (char *) "p",
                .description = (char *) "d",
                .flags = BFE_FLAG_PERSISTENT,
                .provider_data = { data, sizeof(data) },
        };

        assert_int_equal(bfe_key_from_string("{0B5DBB6C-1D0A-4B0C-9A55-3F6A1E2B7C01}", &p.key), 0);
        assert_int_equal(bfe_provider_add(e, &p, NULL), 0);
        assert_last_call("AddProvider [(Key s<" PROVIDER_KEY " > ) (Name s<p > ) (Description s<d > ) "
                         "(Flags u<1 > ) (ProviderData ay<[202 254 ] > ) ] ");
}

static void test_wfp_error(void **state) {
        BfeEngine *e = *state;
        BfeProvider p = { .name = (char *) "in-use" };
        const BfeError *err;
        int r;

        r = bfe_provider_add(e, &p, NULL);
        assert_int_equal(r, -(BFE_WFP_ERRNO_BASE + 0x000A));
        assert_int_equal(bfe_wfp_code_from_ret(r), 0x8032000A);
        assert_string_equal(bfe_wfp_error_name(0x8032000A), "FWP_E_IN_USE");

        err = bfe_engine_last_error(e);
        assert_int_equal(err->error, r);
        assert_int_equal(err->wfp_code, 0x8032000A);
        assert_string_equal(err->wfp_name, "FWP_E_IN_USE");
        assert_string_equal(err->bus_name, "org.bfed.Error.InUse");
        assert_string_equal(err->message, "FWP_E_IN_USE (0x8032000A): provider is referenced by filter 17");

        p.name = (char *) "bare";
        r = bfe_provider_add(e, &p, NULL);
        assert_int_equal(bfe_wfp_code_from_ret(r), 0x80320005);
        assert_string_equal(bfe_engine_last_error(e)->wfp_name, "FWP_E_PROVIDER_NOT_FOUND");
        assert_string_equal(bfe_engine_last_error(e)->message, "no such provider");

        /* The next successful call clears the error. */
        p.name = (char *) "fine";
        assert_int_equal(bfe_provider_add(e, &p, NULL), 0);
        assert_int_equal(bfe_engine_last_error(e)->error, 0);
        assert_null(bfe_engine_last_error(e)->wfp_name);
}

static void test_bus_error(void **state) {
        BfeEngine *e = *state;
        BfeProvider p = { .name = (char *) "denied" };
        const BfeError *err;

        assert_int_equal(bfe_provider_add(e, &p, NULL), -EACCES);
        err = bfe_engine_last_error(e);
        assert_int_equal(err->wfp_code, 0);
        assert_null(err->wfp_name);
        assert_string_equal(err->bus_name, "org.freedesktop.DBus.Error.AccessDenied");
        assert_string_equal(err->message, "Access denied");

        /* A method the fake lacks: an ordinary D-Bus error. */
        assert_true(bfe_sublayer_delete(e, &(BfeKey) {}) < 0);
        assert_string_equal(bfe_engine_last_error(e)->bus_name, "org.freedesktop.DBus.Error.UnknownMethod");
}

static void test_local_error(void **state) {
        BfeEngine *e = *state;

        assert_int_equal(bfe_provider_add(e, NULL, NULL), -EINVAL);
        assert_int_equal(bfe_engine_last_error(e)->error, -EINVAL);
        assert_null(bfe_engine_last_error(e)->bus_name);
        assert_true(strlen(bfe_engine_last_error(e)->message) > 0);
        assert_int_equal(bfe_provider_add(NULL, NULL, NULL), -EINVAL);
}

static void test_filter_add(void **state) {
        BfeEngine *e = *state;
        BfeCondition conds[] = {
                { (char *) "IP_PROTOCOL", BFE_MATCH_EQUAL, (char *) "udp" },
                { (char *) "IP_REMOTE_PORT", BFE_MATCH_RANGE, (char *) "500-510" },
        };
        BfeFilter f = {
                .name = (char *) "f",
                .layer = (char *) "INBOUND_TRANSPORT_V4",
                .weight_kind = BFE_WEIGHT_RANGE,
                .weight = 13,
                .action = BFE_ACTION_BLOCK,
                .flags = BFE_FILTER_FLAG_CLEAR_ACTION_RIGHT,
                .conditions = conds,
                .n_conditions = ELEMENTSOF(conds),
        };
        uint64_t id = 0;
        BfeKey key;

        assert_int_equal(bfe_key_from_string(PROVIDER_KEY, &f.provider_context_key), 0);
        assert_int_equal(bfe_filter_add(e, &f, &key, &id), 0);
        assert_int_equal(id, 17);
        assert_last_call("AddFilter [(Name s<f > ) (Flags u<8 > ) (Layer s<INBOUND_TRANSPORT_V4 > ) "
                         "(Action u<4097 > ) (ProviderContextKey s<" PROVIDER_KEY " > ) "
                         "(Weight y<13 > ) "
                         "(Conditions a(sus)<[(IP_PROTOCOL 0 udp ) (IP_REMOTE_PORT 5 500-510 ) ] > ) ] ");

        f.weight_kind = BFE_WEIGHT_EXPLICIT;
        f.weight = UINT64_MAX;
        f.n_conditions = 0;
        f.flags = 0;
        f.action = 0;
        f.provider_context_key = (BfeKey) {};
        assert_int_equal(bfe_filter_add(e, &f, NULL, NULL), 0);
        assert_last_call("AddFilter [(Name s<f > ) (Layer s<INBOUND_TRANSPORT_V4 > ) "
                         "(Weight t<18446744073709551615 > ) ] ");

        f.weight_kind = BFE_WEIGHT_RANGE;
        f.weight = 16;
        assert_int_equal(bfe_filter_add(e, &f, NULL, NULL), -ERANGE);
}

static void test_context_add_get(void **state) {
        BfeEngine *e = *state;
        uint8_t blob[] = { 1 };
        BfeProviderContext c = {
                .name = (char *) "mm",
                .type = BFE_CONTEXT_IPSEC_KEYING,     /* 0 is still sent */
                .data = { blob, 1 },
        };
        BfeProviderContext *got = NULL;
        uint64_t id;
        BfeKey key;

        assert_int_equal(bfe_provider_context_add(e, &c, &key, &id), 0);
        assert_int_equal(id, 17);
        assert_last_call("AddProviderContext [(Name s<mm > ) (Type u<0 > ) (Data ay<[1 ] > ) ] ");

        assert_int_equal(bfe_provider_context_get(e, &key, &got), 0);
        assert_string_equal(got->name, "mm");
        assert_int_equal(got->type, 5);
        assert_int_equal(got->id, 4);
        assert_int_equal(got->data.size, 3);
        assert_int_equal(got->data.data[2], 3);
        assert_null(got->description);
        bfe_provider_context_free(got);
}

static void test_filter_get(void **state) {
        BfeEngine *e = *state;
        BfeFilter *f = NULL;
        char buf[BFE_KEY_STRING_MAX];

        assert_int_equal(bfe_filter_get_by_id(e, 17, &f), 0);
        assert_last_call("GetFilterById 17 ");
        assert_string_equal(bfe_key_to_string(&f->key, buf), FILTER_KEY);
        assert_string_equal(f->name, "ike mm policy");
        assert_null(f->description);          /* sent with a wrong type: ignored */
        assert_int_equal(f->flags, 0x9);
        assert_string_equal(f->layer, "IKEEXT_V4");
        assert_string_equal(bfe_key_to_string(&f->layer_key, buf), "b14b7bdb-dbbd-473e-bed4-8b4708d4f270");
        assert_int_equal(f->weight_kind, BFE_WEIGHT_RANGE);
        assert_int_equal(f->weight, 12);
        assert_true(f->effective_weight == UINT64_C(0xC000000000000005));
        assert_int_equal(f->action, BFE_ACTION_PERMIT);
        assert_int_equal(f->id, 17);
        assert_false(f->engine_owned);
        assert_int_equal(f->provider_data.size, 2);
        assert_int_equal(f->n_conditions, 2);
        assert_string_equal(f->conditions[1].field, "IP_LOCAL_PORT");
        assert_int_equal(f->conditions[1].match, 10);
        assert_string_equal(f->conditions[1].value, "500");
        assert_true(bfe_key_is_null(&f->sublayer_key));
        bfe_filter_free(f);
}

static void test_filter_enum(void **state) {
        BfeEngine *e = *state;
        BfeFilterTemplate t = { .layer = "IKEEXT_V4" };
        BfeFilter *a = NULL;
        size_t n = 0;

        assert_int_equal(bfe_key_from_string(PROVIDER_KEY, &t.sublayer_key), 0);
        assert_int_equal(bfe_filter_enum(e, &t, &a, &n), 0);
        assert_last_call("EnumFilters [(Layer s<IKEEXT_V4 > ) (SubLayer s<" PROVIDER_KEY " > ) ] ");
        assert_int_equal(n, 2);
        assert_true(a[0].engine_owned);
        assert_int_equal(a[0].id, 1);
        assert_int_equal(a[1].weight_kind, BFE_WEIGHT_EXPLICIT);
        assert_int_equal(a[1].weight, 123456789);
        bfe_filter_array_free(a, n);

        assert_int_equal(bfe_filter_enum(e, NULL, &a, &n), 0);
        assert_last_call("EnumFilters [] ");
        bfe_filter_array_free(a, n);
}

static void test_enum_empty(void **state) {
        BfeEngine *e = *state;
        BfeProviderContextTemplate t = { .match_type = true, .type = 0 };
        BfeProviderContext *c = (BfeProviderContext *) 0x1;
        BfeProvider *p = (BfeProvider *) 0x1;
        size_t n = 99;

        assert_int_equal(bfe_provider_enum(e, &p, &n), 0);
        assert_last_call("EnumProviders ");
        assert_null(p);
        assert_int_equal(n, 0);

        assert_int_equal(bfe_provider_context_enum(e, &t, &c, &n), 0);
        assert_last_call("EnumProviderContexts [(Type u<0 > ) ] ");
        assert_null(c);
}

static void test_delete(void **state) {
        BfeEngine *e = *state;
        BfeKey k;

        assert_int_equal(bfe_filter_delete_by_id(e, 17), 0);
        assert_last_call("DeleteFilterById 17 ");
        assert_int_equal(bfe_wfp_code_from_ret(bfe_filter_delete_by_id(e, 18)), 0x80320003);
        assert_string_equal(bfe_engine_last_error(e)->wfp_name, "FWP_E_FILTER_NOT_FOUND");

        assert_int_equal(bfe_key_from_string(FILTER_KEY, &k), 0);
        assert_int_equal(bfe_filter_delete_by_key(e, &k), 0);
        assert_last_call("DeleteFilterByKey " FILTER_KEY " ");
        assert_int_equal(bfe_provider_delete(e, NULL), -EINVAL);
}

static void test_properties(void **state) {
        BfeEngine *e = *state;
        _cleanup_(freep) char *version = NULL, *table = NULL;
        uint32_t count = 7;
        bool active = true;

        assert_int_equal(bfe_engine_get_exemptions_active(e, &active), 0);
        assert_false(active);
        assert_int_equal(bfe_engine_get_version(e, &version), 0);
        assert_string_equal(version, "9.9.9");
        /* The fake lacks the extensions: an error, and nothing written. */
        assert_true(bfe_engine_get_table(e, &table) < 0);
        assert_null(table);
        assert_true(bfe_engine_get_filter_count(e, &count) < 0);
        assert_int_equal(count, 7);
}

static void test_explain(void **state) {
        BfeEngine *e = *state;
        const BfeExplainField fields[] = {
                { "IP_PROTOCOL", "udp" },
                { "IP_LOCAL_PORT", "500" },
                { "FLAGS", "" },
        };
        BfeExplainResult *res = NULL;
        char buf[BFE_KEY_STRING_MAX];

        assert_int_equal(bfe_explain(e, "INBOUND_TRANSPORT_V4", fields, ELEMENTSOF(fields), &res), 0);
        assert_last_call("Explain INBOUND_TRANSPORT_V4 [(IP_PROTOCOL udp ) (IP_LOCAL_PORT 500 ) (FLAGS  ) ] ");
        assert_non_null(res);
        assert_int_equal(res->verdict, BFE_EXPLAIN_VERDICT_BLOCK);
        assert_string_equal(res->verdict_name, "block");
        assert_int_equal(res->filter_id, 17);
        assert_int_equal(res->n_trace, 3);

        assert_string_equal(bfe_key_to_string(&res->trace[0].sublayer_key, buf), SUBLAYER_KEY);
        assert_string_equal(res->trace[0].sublayer_name, "high");
        assert_int_equal(res->trace[0].filter_id, 12);
        assert_string_equal(res->trace[0].filter_name, "permit 500");
        assert_int_equal(res->trace[0].outcome, BFE_EXPLAIN_OUTCOME_SOFT_PERMIT);
        assert_string_equal(res->trace[0].outcome_name, "soft-permit");

        assert_string_equal(bfe_key_to_string(&res->trace[1].sublayer_key, buf), UNIVERSAL_KEY);
        assert_int_equal(res->trace[1].filter_id, 17);
        assert_int_equal(res->trace[1].outcome, BFE_EXPLAIN_OUTCOME_BLOCK);

        /* Keys in the reply are read like any GUID input, braces included. */
        assert_string_equal(bfe_key_to_string(&res->trace[2].sublayer_key, buf), SUBLAYER_KEY);
        assert_int_equal(res->trace[2].filter_id, 0);
        assert_string_equal(res->trace[2].filter_name, "");
        assert_int_equal(res->trace[2].outcome, BFE_EXPLAIN_OUTCOME_NOT_EVALUATED);
        bfe_explain_result_free(res);

        /* No fields: an empty dictionary. */
        res = NULL;
        assert_int_equal(bfe_explain(e, "ALE_AUTH_CONNECT_V6", NULL, 0, &res), 0);
        assert_last_call("Explain ALE_AUTH_CONNECT_V6 [] ");
        bfe_explain_result_free(res);
}

static void test_explain_unknown_names(void **state) {
        BfeEngine *e = *state;
        BfeExplainResult *res = NULL;

        /* A newer daemon's verdict and outcome names are kept as text. */
        assert_int_equal(bfe_explain(e, "NEWER", NULL, 0, &res), 0);
        assert_int_equal(res->verdict, BFE_EXPLAIN_VERDICT_UNKNOWN);
        assert_string_equal(res->verdict_name, "quarantine");
        assert_int_equal(res->n_trace, 1);
        assert_int_equal(res->trace[0].outcome, BFE_EXPLAIN_OUTCOME_UNKNOWN);
        assert_string_equal(res->trace[0].outcome_name, "quarantined");
        bfe_explain_result_free(res);
}

static void test_explain_errors(void **state) {
        BfeEngine *e = *state;
        const BfeExplainField bad[] = { { "IP_LOCAL_PORT", "bad" } };
        const BfeExplainField null_value[] = { { "IP_LOCAL_PORT", NULL } };
        BfeExplainResult *res = (BfeExplainResult *) 0x1;
        int r;

        r = bfe_explain(e, "INBOUND_TRANSPORT_V4", bad, 1, &res);
        assert_int_equal(bfe_wfp_code_from_ret(r), 0x80320027);
        assert_string_equal(bfe_engine_last_error(e)->bus_name, "org.bfed.Error.TypeMismatch");
        assert_ptr_equal(res, (BfeExplainResult *) 0x1);    /* untouched on failure */

        /* Bad arguments never reach the bus. */
        pthread_mutex_lock(&lock);
        last_call[0] = 0;
        pthread_mutex_unlock(&lock);
        assert_int_equal(bfe_explain(e, NULL, NULL, 0, &res), -EINVAL);
        assert_int_equal(bfe_explain(e, "INBOUND_TRANSPORT_V4", null_value, 1, &res), -EINVAL);
        assert_int_equal(bfe_explain(e, "INBOUND_TRANSPORT_V4", NULL, 2, &res), -EINVAL);
        assert_int_equal(bfe_explain(e, "INBOUND_TRANSPORT_V4", NULL, 0, NULL), -EINVAL);
        assert_int_equal(bfe_engine_last_error(e)->error, -EINVAL);
        assert_last_call("");
        assert_int_equal(bfe_explain(NULL, "INBOUND_TRANSPORT_V4", NULL, 0, &res), -EINVAL);
        assert_ptr_equal(res, (BfeExplainResult *) 0x1);
        assert_null(bfe_explain_result_free(NULL));
}


/* ---- sessions and transactions ---------------------------------------------------------------- */

static void test_session_open(void **state) {
        const BfeSessionOptions opts = {
                .name = "ike",
                .description = "d",
                .flags = BFE_SESSION_FLAG_DYNAMIC,
                .txn_wait_timeout_msec = 500,
        };
        BfeFilter f = { .name = (char *) "f", .layer = (char *) "IKEEXT_V4" };
        _cleanup_(freep) char *version = NULL;
        BfeEngine *e = NULL;
        BfeFilter *a = NULL;
        size_t n = 0;

        assert_int_equal(bfe_engine_open_session(bus_address, &opts, &e), 0);
        assert_last_call("OpenSession [(Name s<ike > ) (Description s<d > ) (Dynamic b<true > ) "
                         "(TransactionTimeoutMSec u<500 > ) ] ");
        assert_last_path("/org/bfed/Engine1");
        assert_string_equal(bfe_engine_get_session_path(e), SESSION_PATH);
        assert_int_equal(bfe_engine_last_error(e)->error, 0);

        /* Object calls go to the session object, properties stay on the engine. */
        assert_int_equal(bfe_filter_add(e, &f, NULL, NULL), 0);
        assert_last_call("AddFilter [(Name s<f > ) (Layer s<IKEEXT_V4 > ) ] ");
        assert_last_path(SESSION_PATH);
        assert_int_equal(bfe_filter_enum(e, NULL, &a, &n), 0);
        assert_last_path(SESSION_PATH);
        bfe_filter_array_free(a, n);
        assert_int_equal(bfe_filter_delete_by_id(e, 17), 0);
        assert_last_path(SESSION_PATH);
        assert_int_equal(bfe_engine_get_version(e, &version), 0);
        assert_string_equal(version, "9.9.9");

        assert_int_equal(bfe_session_close(e), 0);
        assert_last_call("Close ");
        assert_last_path(SESSION_PATH);
        assert_null(bfe_engine_get_session_path(e));

        /* After Close: refused locally, nothing on the wire. */
        forget_last_call();
        assert_int_equal(bfe_filter_add(e, &f, NULL, NULL), -ENOTCONN);
        assert_string_equal(bfe_engine_last_error(e)->message, "the session is closed");
        assert_int_equal(bfe_filter_delete_by_id(e, 17), -ENOTCONN);
        assert_int_equal(bfe_transaction_begin(e, 0), -ENOTCONN);
        assert_int_equal(bfe_session_close(e), -ENOTCONN);
        assert_last_call("");
        bfe_engine_close(e);
        assert_last_call("");   /* no second Close */
}

static void test_session_defaults(void **state) {
        BfeEngine *e = NULL;

        /* NULL options: a non-dynamic session with the engine's defaults, nothing sent. */
        assert_int_equal(bfe_engine_open_session(bus_address, NULL, &e), 0);
        assert_last_call("OpenSession [] ");
        assert_int_equal(bfe_provider_delete(e, &(BfeKey) {}), 0);
        assert_last_path(SESSION_PATH);

        /* Closing the engine closes the session first (FwpmEngineClose0). */
        forget_last_call();
        bfe_engine_close(e);
        assert_last_call("Close ");
        assert_last_path(SESSION_PATH);

        /* BFE_INFINITE goes on the wire as it is. */
        assert_int_equal(bfe_engine_open_session(bus_address,
                                                 &(BfeSessionOptions) { .txn_wait_timeout_msec = BFE_INFINITE },
                                                 &e), 0);
        assert_last_call("OpenSession [(TransactionTimeoutMSec u<4294967295 > ) ] ");
        bfe_engine_close(e);
}

static void test_session_refused(void **state) {
        BfeEngine *e = (BfeEngine *) 0x1;

        assert_int_equal(bfe_engine_open_session(bus_address, &(BfeSessionOptions) { .name = "refuse" }, &e),
                         -EACCES);
        assert_ptr_equal(e, (BfeEngine *) 0x1);
        /* Unknown session flags never reach the bus. */
        forget_last_call();
        assert_int_equal(bfe_engine_open_session(bus_address, &(BfeSessionOptions) { .flags = 0x2 }, &e),
                         -EINVAL);
        assert_int_equal(bfe_engine_open_session(bus_address, NULL, NULL), -EINVAL);
        assert_last_call("");
        assert_ptr_equal(e, (BfeEngine *) 0x1);
}

static void test_transactions(void **state) {
        BfeEngine *e = NULL;
        int r;

        assert_int_equal(bfe_engine_open_session(bus_address, NULL, &e), 0);

        assert_int_equal(bfe_transaction_begin(e, BFE_TXN_READ_ONLY), 0);
        assert_last_call("BeginTransaction 1 ");
        assert_last_path(SESSION_PATH);

        r = bfe_transaction_begin(e, 0);
        assert_int_equal(bfe_wfp_code_from_ret(r), 0x8032000E);
        assert_string_equal(bfe_engine_last_error(e)->wfp_name, "FWP_E_TXN_IN_PROGRESS");
        assert_string_equal(bfe_engine_last_error(e)->bus_name, "org.bfed.Error.TxnInProgress");
        assert_last_call("BeginTransaction 0 ");

        assert_int_equal(bfe_transaction_commit(e), 0);
        assert_last_call("CommitTransaction ");
        assert_int_equal(bfe_engine_last_error(e)->error, 0);

        r = bfe_transaction_commit(e);
        assert_int_equal(bfe_wfp_code_from_ret(r), 0x8032000D);
        assert_string_equal(bfe_engine_last_error(e)->wfp_name, "FWP_E_NO_TXN_IN_PROGRESS");
        r = bfe_transaction_abort(e);
        assert_int_equal(bfe_wfp_code_from_ret(r), 0x8032000D);
        assert_last_call("AbortTransaction ");

        assert_int_equal(bfe_transaction_begin(e, 0), 0);
        assert_int_equal(bfe_transaction_abort(e), 0);
        assert_last_call("AbortTransaction ");

        /* Unknown transaction flags are refused locally. */
        forget_last_call();
        assert_int_equal(bfe_transaction_begin(e, 0x4), -EINVAL);
        assert_last_call("");
        bfe_engine_close(e);
}

static void test_transactions_without_session(void **state) {
        BfeEngine *e = *state;

        forget_last_call();
        assert_null(bfe_engine_get_session_path(e));
        assert_int_equal(bfe_transaction_begin(e, 0), -EINVAL);
        assert_true(strstr(bfe_engine_last_error(e)->message, "no session") != NULL);
        assert_int_equal(bfe_transaction_commit(e), -EINVAL);
        assert_int_equal(bfe_transaction_abort(e), -EINVAL);
        assert_int_equal(bfe_session_close(e), -EINVAL);
        assert_int_equal(bfe_transaction_begin(NULL, 0), -EINVAL);
        assert_last_call("");
        /* Still usable, on the engine object. */
        assert_int_equal(bfe_filter_delete_by_id(e, 17), 0);
        assert_last_path("/org/bfed/Engine1");
}

/* ---- change notifications -------------------------------------------------------------------- */

typedef struct Collected {
        size_t n;
        BfeChange changes[16];
        char kind_names[16][32];
        BfeEngine *engine;
} Collected;

static void collect(BfeEngine *e, const BfeChange *c, void *userdata) {
        Collected *col = userdata;

        assert_ptr_equal(e, col->engine);
        if (col->n >= ELEMENTSOF(col->changes))
                return;
        col->changes[col->n] = *c;
        snprintf(col->kind_names[col->n], sizeof(col->kind_names[0]), "%s", c->kind_name);
        col->changes[col->n].kind_name = col->kind_names[col->n];
        col->n++;
}

/* Asks the fake to emit Changed(kind, change, key, id) over a connection of its own. */
static void emit(sd_bus *helper, const char *kind, uint32_t change, const char *key, uint64_t id) {
        assert_int_equal(sd_bus_call_method(helper, "org.bfed.Engine1", "/org/bfed/Engine1",
                                            "org.bfed.Engine1", "TestEmit", NULL, NULL, "sust",
                                            kind, change, key, id), 1);
}

/* Runs @e until @col has @n changes or 5 s pass. */
static void wait_for(BfeEngine *e, Collected *col, size_t n) {
        for (int i = 0; i < 50 && col->n < n; i++)
                assert_true(bfe_engine_wait(e, 100 * 1000) >= 0);
}

static void test_changes(void **state) {
        BfeEngine *e = *state;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *helper = NULL;
        Collected all = { .engine = e }, filter_deletes = { .engine = e };
        BfeSubscription *s1 = NULL, *s2 = NULL;
        char buf[BFE_KEY_STRING_MAX];

        assert_true(sd_bus_new(&helper) >= 0);
        assert_true(sd_bus_set_address(helper, bus_address) >= 0);
        assert_true(sd_bus_set_bus_client(helper, true) >= 0);
        assert_true(sd_bus_start(helper) >= 0);

        assert_int_equal(bfe_subscribe_changes(e, NULL, NULL, NULL, NULL), -EINVAL);
        assert_int_equal(bfe_subscribe_changes(e, NULL, collect, &all, &s1), 0);
        assert_int_equal(bfe_subscribe_changes(e,
                                               &(BfeChangeSubscription) {
                                                       .kinds = BFE_OBJECT_KIND_MASK(BFE_OBJECT_FILTER),
                                                       .flags = BFE_SUBSCRIPTION_FLAG_NOTIFY_ON_DELETE,
                                               },
                                               collect, &filter_deletes, &s2), 0);
        assert_true(bfe_engine_get_fd(e) >= 0);
        assert_true(bfe_engine_get_events(e) >= 0);

        /* Nothing yet: once the bus' own messages are processed, a wait times out. */
        assert_true(bfe_engine_process(e) >= 0);
        assert_int_equal(bfe_engine_wait(e, 10 * 1000), 0);
        assert_int_equal(all.n, 0);

        /* A spoofed signal from a connection that does not own org.bfed.Engine1 is dropped. */
        assert_true(sd_bus_emit_signal(helper, "/org/bfed/Engine1", "org.bfed.Engine1", "Changed",
                                       "sust", "filter", (uint32_t) 2, FILTER_KEY, UINT64_C(666)) >= 0);

        emit(helper, "filter", BFE_CHANGE_ADD, FILTER_KEY, 17);
        emit(helper, "providercontext", BFE_CHANGE_DELETE, "{" PROVIDER_KEY "}", 4);
        emit(helper, "provider", BFE_CHANGE_ADD, PROVIDER_KEY, 0);
        emit(helper, "callout", 3, FILTER_KEY, 9);              /* a newer daemon's kind and change */
        emit(helper, "filter", BFE_CHANGE_DELETE, FILTER_KEY, 17);
        emit(helper, "filter", BFE_CHANGE_ADD, "not-a-guid", 18); /* malformed: ignored */
        wait_for(e, &all, 5);
        assert_int_equal(all.n, 5);

        assert_int_equal(all.changes[0].kind, BFE_OBJECT_FILTER);
        assert_string_equal(all.changes[0].kind_name, "filter");
        assert_int_equal(all.changes[0].change_type, BFE_CHANGE_ADD);
        assert_string_equal(bfe_key_to_string(&all.changes[0].key, buf), FILTER_KEY);
        assert_int_equal(all.changes[0].id, 17);

        assert_int_equal(all.changes[1].kind, BFE_OBJECT_PROVIDER_CONTEXT);
        assert_int_equal(all.changes[1].change_type, BFE_CHANGE_DELETE);
        assert_string_equal(bfe_key_to_string(&all.changes[1].key, buf), PROVIDER_KEY);
        assert_int_equal(all.changes[1].id, 4);

        assert_int_equal(all.changes[2].kind, BFE_OBJECT_PROVIDER);
        assert_int_equal(all.changes[2].id, 0);

        assert_int_equal(all.changes[3].kind, BFE_OBJECT_UNKNOWN);
        assert_string_equal(all.changes[3].kind_name, "callout");
        assert_int_equal(all.changes[3].change_type, 3);

        assert_int_equal(all.changes[4].kind, BFE_OBJECT_FILTER);
        assert_int_equal(all.changes[4].change_type, BFE_CHANGE_DELETE);
        assert_int_equal(all.changes[4].id, 17);    /* not the spoofed 666 */

        /* The filtered subscription saw only the filter deletion. */
        assert_int_equal(filter_deletes.n, 1);
        assert_int_equal(filter_deletes.changes[0].id, 17);
        assert_int_equal(filter_deletes.changes[0].change_type, BFE_CHANGE_DELETE);

        /* Unsubscribed: nothing more for it; the other one still gets changes. */
        assert_null(bfe_unsubscribe_changes(s1));
        emit(helper, "filter", BFE_CHANGE_DELETE, FILTER_KEY, 19);
        wait_for(e, &filter_deletes, 2);
        assert_int_equal(filter_deletes.n, 2);
        assert_int_equal(all.n, 5);
        assert_null(bfe_unsubscribe_changes(NULL));
        /* s2 is left to the engine: freed by bfe_engine_close() in the teardown. */
        (void) s2;
}

static void test_changes_during_call(void **state) {
        BfeEngine *e = *state;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *helper = NULL;
        Collected col = { .engine = e };
        BfeFilter *a = NULL;
        size_t n = 0;

        assert_true(sd_bus_new(&helper) >= 0);
        assert_true(sd_bus_set_address(helper, bus_address) >= 0);
        assert_true(sd_bus_set_bus_client(helper, true) >= 0);
        assert_true(sd_bus_start(helper) >= 0);

        assert_int_equal(bfe_subscribe_changes(e, NULL, collect, &col, NULL), 0);
        emit(helper, "filter", BFE_CHANGE_ADD, FILTER_KEY, 21);
        /* A signal arriving while libbfe waits for a reply is queued, not dispatched... */
        assert_int_equal(bfe_filter_enum(e, NULL, &a, &n), 0);
        bfe_filter_array_free(a, n);
        assert_int_equal(col.n, 0);
        /* ...until the application runs the connection. */
        wait_for(e, &col, 1);
        assert_int_equal(col.n, 1);
        assert_int_equal(col.changes[0].id, 21);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_open_without_daemon),
                cmocka_unit_test_setup_teardown(test_provider_add_minimal, engine_setup, engine_teardown),
                cmocka_unit_test_setup_teardown(test_provider_add_full, engine_setup, engine_teardown),
                cmocka_unit_test_setup_teardown(test_wfp_error, engine_setup, engine_teardown),
                cmocka_unit_test_setup_teardown(test_bus_error, engine_setup, engine_teardown),
                cmocka_unit_test_setup_teardown(test_local_error, engine_setup, engine_teardown),
                cmocka_unit_test_setup_teardown(test_filter_add, engine_setup, engine_teardown),
                cmocka_unit_test_setup_teardown(test_context_add_get, engine_setup, engine_teardown),
                cmocka_unit_test_setup_teardown(test_filter_get, engine_setup, engine_teardown),
                cmocka_unit_test_setup_teardown(test_filter_enum, engine_setup, engine_teardown),
                cmocka_unit_test_setup_teardown(test_enum_empty, engine_setup, engine_teardown),
                cmocka_unit_test_setup_teardown(test_delete, engine_setup, engine_teardown),
                cmocka_unit_test_setup_teardown(test_properties, engine_setup, engine_teardown),
                cmocka_unit_test_setup_teardown(test_explain, engine_setup, engine_teardown),
                cmocka_unit_test_setup_teardown(test_explain_unknown_names, engine_setup, engine_teardown),
                cmocka_unit_test_setup_teardown(test_explain_errors, engine_setup, engine_teardown),
                cmocka_unit_test(test_session_open),
                cmocka_unit_test(test_session_defaults),
                cmocka_unit_test(test_session_refused),
                cmocka_unit_test(test_transactions),
                cmocka_unit_test_setup_teardown(test_transactions_without_session, engine_setup, engine_teardown),
                cmocka_unit_test_setup_teardown(test_changes, engine_setup, engine_teardown),
                cmocka_unit_test_setup_teardown(test_changes_during_call, engine_setup, engine_teardown),
        };
        char *path = getenv("PATH");

        /* Skip, not fail, where there is no dbus-daemon to run. */
        if (system("command -v dbus-daemon >/dev/null 2>&1") != 0) {
                fprintf(stderr, "dbus-daemon not found (PATH=%s), skipping\n", path ?: "");
                return 77;
        }
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
