/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-libbfe.c — libbfe against a fake org.bfed.Engine1 on a private dbus-daemon: what goes
 * on the wire for each call, how replies (with unknown keys) are read back, how D-Bus errors
 * turn into WFP codes, how enumerations page (short pages, the end, invalid handles, handles
 * destroyed after a failure), and how asynchronous calls complete (pipelined, refused, with a
 * synchronous call in between, at the bus' limit, on close, on a lost connection). Skips (77)
 * when dbus-daemon is not installed.
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
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <systemd/sd-bus.h>

#include "bfe/bfe.h"
#include "macro.h"

#define PROVIDER_KEY "0b5dbb6c-1d0a-4b0c-9a55-3f6a1e2b7c01"
#define FILTER_KEY "7d1c9a10-6f53-4f1e-a1f5-2b2f7c0e9d17"
#define SUBLAYER_KEY "c0e0a2f1-55aa-4b6e-9c3d-0123456789ab"
#define UNIVERSAL_KEY "eebecc03-ced4-4380-819a-2734397b2b74"

static char bus_address[512];
static pid_t bus_pid;
static char config_path[] = "/tmp/test-libbfe-XXXXXX";

static pthread_t server_thread;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char last_call[4096];   /* the fake's dump of the last request's arguments */
static char last_path[256];    /* and the object path it was sent to */
static char call_log[8192];    /* the calls since forget_calls(), each followed by "| " */
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
        /* a long dump is cut (the return value read: gcc -O0 warns of the cut otherwise) */
        if (snprintf(last_call, sizeof(last_call), "%s %s", sd_bus_message_get_member(m), buf) < 0)
                last_call[0] = 0;
        snprintf(last_path, sizeof(last_path), "%s", sd_bus_message_get_path(m));
        append(call_log, sizeof(call_log), "%s| ", last_call);
        pthread_mutex_unlock(&lock);
}

/* The assertions copy under the lock and compare outside it: a failing one must not leave the
 * fake, which takes the lock for every call, blocked for the tests after it. */
static void assert_recorded(const char *recorded, size_t size, const char *expected) {
        _cleanup_(freep) char *copy = malloc(size);

        assert_non_null(copy);
        pthread_mutex_lock(&lock);
        memcpy(copy, recorded, size);
        pthread_mutex_unlock(&lock);
        assert_string_equal(copy, expected);
}

static void assert_last_path(const char *expected) {
        assert_recorded(last_path, sizeof(last_path), expected);
}

static void forget_last_call(void) {
        pthread_mutex_lock(&lock);
        last_call[0] = 0;
        last_path[0] = 0;
        pthread_mutex_unlock(&lock);
}

static void forget_calls(void) {
        pthread_mutex_lock(&lock);
        call_log[0] = 0;
        pthread_mutex_unlock(&lock);
}

/* Every call since forget_calls(), in order. */
static void assert_calls(const char *expected) {
        assert_recorded(call_log, sizeof(call_log), expected);
}

static void assert_last_call(const char *expected) {
        assert_recorded(last_call, sizeof(last_call), expected);
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

/*
 * The pipelining tests' filters, only touched by the server thread: those named "pipe …" are
 * kept, with ids from 1000 up, and counted by FilterCount and listed by EnumFilters; those named
 * "hold …" get no reply until TestRelease.
 */
#define PIPE_ID_BASE 1000u
static uint64_t pipe_ids[512];
static size_t n_pipe;
static uint64_t next_pipe_id = PIPE_ID_BASE;
static sd_bus_message *held[256];
static size_t n_held;

static const char *pipe_key(uint64_t id, char buf[static BFE_KEY_STRING_MAX]) {
        snprintf(buf, BFE_KEY_STRING_MAX, "00000000-0000-4000-8000-%012llx", (unsigned long long) id);
        return buf;
}

static int fake_add_filter(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        char buf[BFE_KEY_STRING_MAX];
        uint64_t id;

        record(m);
        if (strstr(last_call, "Layer s<NOPE >"))
                return sd_bus_error_set(error, "org.bfed.Error.LayerNotFound",
                                        "FWP_E_LAYER_NOT_FOUND (0x80320004): unknown layer 'NOPE'");
        if (strstr(last_call, " bad )"))
                return sd_bus_error_set(error, "org.bfed.Error.TypeMismatch",
                                        "FWP_E_TYPE_MISMATCH (0x80320027): 'bad' is not a port");
        if (strstr(last_call, "Name s<hold ")) {
                if (n_held >= ELEMENTSOF(held))
                        return sd_bus_error_set(error, SD_BUS_ERROR_LIMITS_EXCEEDED, "too many held");
                held[n_held++] = sd_bus_message_ref(m);
                return 1;       /* answered by TestRelease */
        }
        if (!strstr(last_call, "Name s<pipe "))
                return sd_bus_reply_method_return(m, "st", FILTER_KEY, (uint64_t) 17);
        if (n_pipe >= ELEMENTSOF(pipe_ids))
                return sd_bus_error_set(error, SD_BUS_ERROR_LIMITS_EXCEEDED, "too many filters");
        id = pipe_ids[n_pipe++] = next_pipe_id++;
        return sd_bus_reply_method_return(m, "st", pipe_key(id, buf), id);
}

/* Removes a "pipe" filter. Return: true if there was one with @id. */
static bool pipe_remove(uint64_t id) {
        for (size_t i = 0; i < n_pipe; i++)
                if (pipe_ids[i] == id) {
                        memmove(pipe_ids + i, pipe_ids + i + 1, (n_pipe - i - 1) * sizeof(pipe_ids[0]));
                        n_pipe--;
                        return true;
                }
        return false;
}

/* Test hook: how many AddFilter calls are held. */
static int fake_test_held(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return sd_bus_reply_method_return(m, "u", (uint32_t) n_held);
}

/* Test hook: answers the held AddFilter calls (ids from 9000 up). Return: how many. */
static int fake_test_release(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        uint32_t n = (uint32_t) n_held;

        for (size_t i = 0; i < n_held; i++) {
                char buf[BFE_KEY_STRING_MAX];

                /* the caller may be gone: that is the point of holding */
                (void) sd_bus_reply_method_return(held[i], "st", pipe_key(9000 + i, buf), (uint64_t) 9000 + i);
                held[i] = sd_bus_message_unref(held[i]);
        }
        n_held = 0;
        return sd_bus_reply_method_return(m, "u", n);
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
        if (id != 17 && !pipe_remove(id))
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

/*
 * Enumeration handles, WFP's paged enumeration. A handle is a snapshot: for filters the ids of
 * the two fixed filters, the "pipe" filters and `extra_filters` more; for sublayers the three
 * of sublayer_dict(); providers and provider contexts have none. The tests set `page_cap` to
 * have the fake answer pages shorter than asked (as bfed does near 4 MiB) with more=true, and
 * `fail_pages` to have the next page calls fail. Like bfed, the fake holds at most
 * FAKE_HANDLES_MAX handles. The knobs are set by the tests between calls and read by the
 * server thread while it answers one, hence the atomics.
 */
#define FAKE_HANDLES_MAX 16
#define FAKE_HANDLE_BASE UINT64_C(0x100000000)   /* above 32 bits: a handle is a whole t */
#define FAKE_SUBLAYERS 3

typedef struct FakeHandle {
        bool live;
        uint64_t id;
        char kind[32];                  /* the kind's method name: "Filter" */
        uint64_t items[ELEMENTSOF(pipe_ids) + 64];
        size_t n, pos;
} FakeHandle;

static FakeHandle handles[FAKE_HANDLES_MAX];
static uint64_t next_handle = FAKE_HANDLE_BASE;
static uint64_t last_handle;            /* atomic: the last handle created */
static unsigned live_handles;           /* atomic */
static uint32_t page_cap = UINT32_MAX;  /* atomic */
static unsigned extra_filters;          /* atomic, at most 64 */
static unsigned fail_pages;             /* atomic */

static int sublayer_dict(sd_bus_message *reply, uint64_t i) {
        static const struct {
                const char *key, *name;
                uint16_t weight;
        } sublayers[FAKE_SUBLAYERS] = {
                { SUBLAYER_KEY, "high", 0x9000 },
                { UNIVERSAL_KEY, "FWPM_SUBLAYER_UNIVERSAL", 0x8000 },
                { "c0e0a2f1-55aa-4b6e-9c3d-0123456789ac", "low", 0x100 },
        };

        return sd_bus_message_append(reply, "a{sv}", 3, "Key", "s", sublayers[i].key, "Name", "s",
                                     sublayers[i].name, "Weight", "q", sublayers[i].weight);
}

/* Create<Kind>EnumHandle: the kind is the member's middle. */
static int fake_create_handle(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *member = sd_bus_message_get_member(m);
        FakeHandle *h = NULL;

        record(m);
        if (strstr(last_call, "Layer s<NOPE >"))
                return sd_bus_error_set(error, "org.bfed.Error.LayerNotFound",
                                        "FWP_E_LAYER_NOT_FOUND (0x80320004): no layer 'NOPE'");
        for (size_t i = 0; i < ELEMENTSOF(handles) && !h; i++)
                if (!handles[i].live)
                        h = &handles[i];
        if (!h)
                return sd_bus_error_set(error, "org.bfed.Error.OutOfBounds",
                                        "FWP_E_OUT_OF_BOUNDS (0x80320028): too many enumeration handles");

        *h = (FakeHandle) { .live = true, .id = next_handle++ };
        snprintf(h->kind, sizeof(h->kind), "%.*s", (int) (strlen(member) - strlen("Create") - strlen("EnumHandle")),
                 member + strlen("Create"));
        if (streq(h->kind, "Filter")) {
                h->items[h->n++] = 1;
                h->items[h->n++] = 17;
                for (size_t i = 0; i < n_pipe; i++)
                        h->items[h->n++] = pipe_ids[i];
                for (unsigned i = 0; i < __atomic_load_n(&extra_filters, __ATOMIC_SEQ_CST); i++)
                        h->items[h->n++] = 100 + i;
        } else if (streq(h->kind, "SubLayer"))
                for (size_t i = 0; i < FAKE_SUBLAYERS; i++)
                        h->items[h->n++] = i;
        __atomic_store_n(&last_handle, h->id, __ATOMIC_SEQ_CST);
        __atomic_add_fetch(&live_handles, 1, __ATOMIC_SEQ_CST);
        return sd_bus_reply_method_return(m, "t", h->id);
}

static FakeHandle *handle_find(uint64_t id, const char *kind) {
        for (size_t i = 0; i < ELEMENTSOF(handles); i++)
                if (handles[i].live && handles[i].id == id && (!kind || streq(handles[i].kind, kind)))
                        return &handles[i];
        return NULL;
}

static int invalid_enumerator(sd_bus_error *error, uint64_t id) {
        return sd_bus_error_setf(error, "org.bfed.Error.InvalidEnumerator",
                                 "FWP_E_INVALID_ENUMERATOR (0x8032001D): no enumeration handle %llu",
                                 (unsigned long long) id);
}

/* <Kind>Enum(handle, n) → (objects, more) */
static int fake_page(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *member = sd_bus_message_get_member(m);
        char kind[32];
        FakeHandle *h;
        uint64_t id;
        uint32_t n, cap = __atomic_load_n(&page_cap, __ATOMIC_SEQ_CST);
        int r;

        record(m);
        r = sd_bus_message_read(m, "tu", &id, &n);
        if (r < 0)
                return r;
        snprintf(kind, sizeof(kind), "%.*s", (int) (strlen(member) - strlen("Enum")), member);
        h = handle_find(id, kind);
        if (!h)
                return invalid_enumerator(error, id);
        if (__atomic_load_n(&fail_pages, __ATOMIC_SEQ_CST) > 0) {
                __atomic_sub_fetch(&fail_pages, 1, __ATOMIC_SEQ_CST);
                return sd_bus_error_set(error, SD_BUS_ERROR_NO_MEMORY, "the fake ran out of memory");
        }

        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "a{sv}");
        for (uint32_t i = 0; r >= 0 && i < n && i < cap && h->pos < h->n; i++, h->pos++) {
                uint64_t item = h->items[h->pos];

                if (streq(kind, "Filter"))
                        r = append_filter(reply, item, item == 1, item == 17);
                else
                        r = sublayer_dict(reply, item);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_message_append(reply, "b", (int) (h->pos < h->n));
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int fake_destroy_handle(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        FakeHandle *h;
        uint64_t id;
        int r;

        record(m);
        r = sd_bus_message_read(m, "t", &id);
        if (r < 0)
                return r;
        h = handle_find(id, NULL);
        if (!h)
                return invalid_enumerator(error, id);
        h->live = false;
        __atomic_sub_fetch(&live_handles, 1, __ATOMIC_SEQ_CST);
        return sd_bus_reply_method_return(m, "");
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


/*
 * Explain: "bad" as a value is a TypeMismatch, anything else gets a two-sublayer trace and two
 * obstacles.
 */
static int fake_explain(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        record(m);
        if (strstr(last_call, " bad )"))
                return sd_bus_error_set(error, "org.bfed.Error.TypeMismatch",
                                        "FWP_E_TYPE_MISMATCH (0x80320027): 'bad' is not a port");
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
        if (r >= 0)
                r = sd_bus_message_append(reply, "a(sssb)", 2, "inet filter", "input", "policy drop", 1,
                                          "ip filter", "INPUT", "rule handle 7: reject", 0);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

/*
 * Explain of the layer "NEWER": a verdict and an outcome this libbfe does not know, and three
 * answers, as a daemon from before the obstacles gave. Answered from a filter, ahead of the
 * vtable, whose signature sd-bus would enforce on the reply.
 */
static int fake_older_explain(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *layer;

        if (!sd_bus_message_is_method_call(m, "org.bfed.Engine1", "Explain") ||
            sd_bus_message_read(m, "s", &layer) < 0 || sd_bus_message_rewind(m, true) < 0 || !streq(layer, "NEWER"))
                return 0;
        record(m);
        (void) sd_bus_reply_method_return(m, "sta(sstss)", "quarantine", UINT64_C(9), 1, UNIVERSAL_KEY, "universal",
                                          UINT64_C(9), "q", "quarantined");
        return 1;
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

/* Test hook: emits Changed with the given changes (a(sust)), then replies. */
static int fake_test_emit(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *signal = NULL;
        sd_bus *bus = sd_bus_message_get_bus(m);
        int r;

        r = sd_bus_message_new_signal(bus, &signal, "/org/bfed/Engine1", "org.bfed.Engine1", "Changed");
        if (r >= 0)
                r = sd_bus_message_copy(signal, m, true);
        if (r >= 0)
                r = sd_bus_send(bus, signal, NULL);
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
        SD_BUS_METHOD("TestEmit", "a(sust)", "", fake_test_emit, 0),
        SD_BUS_METHOD("TestHeld", "", "u", fake_test_held, 0),
        SD_BUS_METHOD("TestRelease", "", "u", fake_test_release, 0),
        SD_BUS_SIGNAL("Changed", "a(sust)", 0),
        SD_BUS_VTABLE_END,
};

static int fake_property(sd_bus *bus, const char *path, const char *interface, const char *property,
                         sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        if (streq(property, "Version"))
                return sd_bus_message_append(reply, "s", "9.9.9");
        if (streq(property, "FilterCount"))
                return sd_bus_message_append(reply, "u", (uint32_t) n_pipe);
        if (streq(property, "ExemptionObstacles"))
                return sd_bus_message_append(reply, "a(sss)", 2, "inet filter", "input",
                                             "drops IPv4 UDP 500/4500 and IPv6 UDP 500 inbound: policy drop",
                                             "firewalld", "public", "cannot open UDP 500 (IPv4 and IPv6): refused");
        return sd_bus_message_append(reply, "b", 0);
}

static const sd_bus_vtable fake_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("AddProvider", "a{sv}", "s", fake_add_provider, 0),
        SD_BUS_METHOD("DeleteProvider", "s", "", fake_void, 0),
        SD_BUS_METHOD("CreateProviderEnumHandle", "a{sv}", "t", fake_create_handle, 0),
        SD_BUS_METHOD("ProviderEnum", "tu", "aa{sv}b", fake_page, 0),
        SD_BUS_METHOD("AddSubLayer", "a{sv}", "s", fake_add_provider, 0),
        SD_BUS_METHOD("CreateSubLayerEnumHandle", "a{sv}", "t", fake_create_handle, 0),
        SD_BUS_METHOD("SubLayerEnum", "tu", "aa{sv}b", fake_page, 0),
        SD_BUS_METHOD("AddProviderContext", "a{sv}", "st", fake_add_with_id, 0),
        SD_BUS_METHOD("GetProviderContext", "s", "a{sv}", fake_get_context, 0),
        SD_BUS_METHOD("CreateProviderContextEnumHandle", "a{sv}", "t", fake_create_handle, 0),
        SD_BUS_METHOD("ProviderContextEnum", "tu", "aa{sv}b", fake_page, 0),
        SD_BUS_METHOD("AddFilter", "a{sv}", "st", fake_add_filter, 0),
        SD_BUS_METHOD("DeleteFilterByKey", "s", "", fake_void, 0),
        SD_BUS_METHOD("DeleteFilterById", "t", "", fake_delete_by_id, 0),
        SD_BUS_METHOD("GetFilterById", "t", "a{sv}", fake_get_filter, 0),
        SD_BUS_METHOD("CreateFilterEnumHandle", "a{sv}", "t", fake_create_handle, 0),
        SD_BUS_METHOD("FilterEnum", "tu", "aa{sv}b", fake_page, 0),
        SD_BUS_METHOD("DestroyEnumHandle", "t", "", fake_destroy_handle, 0),
        SD_BUS_METHOD("Explain", "sa{ss}", "sta(sstss)a(sssb)", fake_explain, 0),
        SD_BUS_PROPERTY("ExemptionsActive", "b", fake_property, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Version", "s", fake_property, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("FilterCount", "u", fake_property, 0, 0),
        SD_BUS_PROPERTY("ExemptionObstacles", "a(sss)", fake_property, 0, 0),
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
            sd_bus_add_filter(bus, NULL, fake_older_explain, NULL) < 0 ||
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
        while (n_held > 0)
                sd_bus_message_unref(held[--n_held]);
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

        /* A bad argument right after a refused call is that call's -EINVAL, not the refusal. */
        assert_true(bfe_wfp_code_from_ret(bfe_provider_add(e, &(BfeProvider) { .name = (char *) "in-use" }, NULL)) != 0);
        assert_int_equal(bfe_filter_delete_by_key(e, NULL), -EINVAL);
        assert_int_equal(bfe_engine_last_error(e)->error, -EINVAL);
        assert_true(bfe_wfp_code_from_ret(bfe_provider_add(e, &(BfeProvider) { .name = (char *) "in-use" }, NULL)) != 0);
        assert_int_equal(bfe_filter_get_by_key(e, NULL, &(BfeFilter *) { NULL }), -EINVAL);
        assert_int_equal(bfe_engine_last_error(e)->wfp_code, 0);
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
        /* In the order of the shared object table (src/shared/object.c). */
        assert_last_call("AddFilter [(Name s<f > ) (Flags u<8 > ) (Layer s<INBOUND_TRANSPORT_V4 > ) "
                         "(Weight y<13 > ) (Action u<4097 > ) (ProviderContextKey s<" PROVIDER_KEY " > ) "
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

/* The calls of one one-shot enumeration of @kind with @template, on the fake's last handle. */
static void assert_enum_calls(const char *kind, const char *template, const char *pages) {
        unsigned long long h = __atomic_load_n(&last_handle, __ATOMIC_SEQ_CST);
        char expected[1024];

        snprintf(expected, sizeof(expected), "Create%sEnumHandle %s| %s| DestroyEnumHandle %llu | ", kind,
                 template, pages, h);
        assert_calls(expected);
}

static void test_filter_enum(void **state) {
        BfeEngine *e = *state;
        BfeFilterTemplate t = { .layer = "IKEEXT_V4" };
        char pages[64];
        BfeFilter *a = NULL;
        size_t n = 0;

        assert_int_equal(bfe_key_from_string(PROVIDER_KEY, &t.sublayer_key), 0);
        forget_calls();
        assert_int_equal(bfe_filter_enum(e, &t, &a, &n), 0);
        /* A handle, pages of 1,000 (here one), the handle destroyed. */
        snprintf(pages, sizeof(pages), "FilterEnum %llu 1000 ",
                 (unsigned long long) __atomic_load_n(&last_handle, __ATOMIC_SEQ_CST));
        assert_enum_calls("Filter", "[(Layer s<IKEEXT_V4 > ) (SubLayer s<" PROVIDER_KEY " > ) ] ", pages);
        assert_int_equal(__atomic_load_n(&live_handles, __ATOMIC_SEQ_CST), 0);
        assert_int_equal(n, 2);
        assert_true(a[0].engine_owned);
        assert_int_equal(a[0].id, 1);
        assert_int_equal(a[1].weight_kind, BFE_WEIGHT_EXPLICIT);
        assert_int_equal(a[1].weight, 123456789);
        assert_int_equal(a[1].n_conditions, 2);
        bfe_filter_array_free(a, n);

        forget_calls();
        assert_int_equal(bfe_filter_enum(e, NULL, &a, &n), 0);
        snprintf(pages, sizeof(pages), "FilterEnum %llu 1000 ",
                 (unsigned long long) __atomic_load_n(&last_handle, __ATOMIC_SEQ_CST));
        assert_enum_calls("Filter", "[] ", pages);
        bfe_filter_array_free(a, n);
}

static void test_enum_empty(void **state) {
        BfeEngine *e = *state;
        BfeProviderContextTemplate t = { .match_type = true, .type = 0 };
        BfeProviderContext *c = (BfeProviderContext *) 0x1;
        BfeProvider *p = (BfeProvider *) 0x1;
        char pages[64];
        size_t n = 99;

        forget_calls();
        assert_int_equal(bfe_provider_enum(e, &p, &n), 0);
        snprintf(pages, sizeof(pages), "ProviderEnum %llu 1000 ",
                 (unsigned long long) __atomic_load_n(&last_handle, __ATOMIC_SEQ_CST));
        assert_enum_calls("Provider", "[] ", pages);
        assert_null(p);
        assert_int_equal(n, 0);

        forget_calls();
        assert_int_equal(bfe_provider_context_enum(e, &t, &c, &n), 0);
        snprintf(pages, sizeof(pages), "ProviderContextEnum %llu 1000 ",
                 (unsigned long long) __atomic_load_n(&last_handle, __ATOMIC_SEQ_CST));
        assert_enum_calls("ProviderContext", "[(Type u<0 > ) ] ", pages);
        assert_null(c);
}

/* ---- paged enumeration ------------------------------------------------------------------------ */

static void fake_knobs(uint32_t cap, unsigned extra, unsigned fail) {
        __atomic_store_n(&page_cap, cap, __ATOMIC_SEQ_CST);
        __atomic_store_n(&extra_filters, extra, __ATOMIC_SEQ_CST);
        __atomic_store_n(&fail_pages, fail, __ATOMIC_SEQ_CST);
}

static int paging_teardown(void **state) {
        fake_knobs(UINT32_MAX, 0, 0);
        return engine_teardown(state);
}

/* The ids of @n filters, "1 17 100 " */
static const char *filter_ids(const BfeFilter *a, size_t n, char *buf, size_t size) {
        buf[0] = 0;
        for (size_t i = 0; i < n; i++)
                append(buf, size, "%llu ", (unsigned long long) a[i].id);
        return buf;
}

static void test_enum_page(void **state) {
        BfeEngine *e = *state;
        BfeFilterTemplate t = { .layer = "IKEEXT_V4" };
        BfeFilter *a = (BfeFilter *) 0x1;
        BfeEnumHandle h = 0;
        char expected[512], ids[128];
        unsigned long long hh;
        size_t n = 99;
        int r;

        /* 7 filters; the fake answers at most 2 a page, with more=true while any remain. */
        fake_knobs(2, 5, 0);
        forget_calls();
        assert_int_equal(bfe_filter_create_enum_handle(e, &t, &h), 0);
        hh = (unsigned long long) h;
        assert_true(h >= FAKE_HANDLE_BASE);
        assert_int_equal(h, __atomic_load_n(&last_handle, __ATOMIC_SEQ_CST));
        assert_int_equal(__atomic_load_n(&live_handles, __ATOMIC_SEQ_CST), 1);

        /* 5 asked: the short pages are not the end, so libbfe asks for the rest. */
        assert_int_equal(bfe_filter_enum_page(e, h, 5, &a, &n), 0);
        assert_int_equal(n, 5);
        assert_string_equal(filter_ids(a, n, ids, sizeof(ids)), "1 17 100 101 102 ");
        assert_true(a[0].engine_owned);
        assert_string_equal(a[4].layer, "IKEEXT_V4");
        bfe_filter_array_free(a, n);

        /* 2 remain: fewer than asked, because the enumeration is complete. */
        assert_int_equal(bfe_filter_enum_page(e, h, 5, &a, &n), 0);
        assert_int_equal(n, 2);
        assert_string_equal(filter_ids(a, n, ids, sizeof(ids)), "103 104 ");
        bfe_filter_array_free(a, n);

        /* And after the end: nothing, without an error. */
        assert_int_equal(bfe_filter_enum_page(e, h, 5, &a, &n), 0);
        assert_int_equal(n, 0);
        assert_null(a);
        assert_int_equal(bfe_engine_last_error(e)->error, 0);

        assert_int_equal(bfe_enum_handle_destroy(e, h), 0);
        assert_int_equal(__atomic_load_n(&live_handles, __ATOMIC_SEQ_CST), 0);
        snprintf(expected, sizeof(expected),
                 "CreateFilterEnumHandle [(Layer s<IKEEXT_V4 > ) ] | "
                 "FilterEnum %llu 5 | FilterEnum %llu 3 | FilterEnum %llu 1 | "
                 "FilterEnum %llu 5 | FilterEnum %llu 5 | DestroyEnumHandle %llu | ",
                 hh, hh, hh, hh, hh, hh);
        assert_calls(expected);

        /* A destroyed handle is WFP's invalid enumerator, for pages and for destroy; nothing
         * is returned. */
        a = (BfeFilter *) 0x1;
        n = 99;
        r = bfe_filter_enum_page(e, h, 5, &a, &n);
        assert_int_equal(bfe_wfp_code_from_ret(r), 0x8032001D);
        assert_string_equal(bfe_engine_last_error(e)->wfp_name, "FWP_E_INVALID_ENUMERATOR");
        assert_string_equal(bfe_engine_last_error(e)->bus_name, "org.bfed.Error.InvalidEnumerator");
        assert_ptr_equal(a, (BfeFilter *) 0x1);
        assert_int_equal(n, 99);
        r = bfe_enum_handle_destroy(e, h);
        assert_int_equal(bfe_wfp_code_from_ret(r), 0x8032001D);
        r = bfe_filter_enum_page(e, 12345, 1, &a, &n);
        assert_int_equal(bfe_wfp_code_from_ret(r), 0x8032001D);

        /* A daemon that answers nothing while it says more remain would have libbfe ask
         * forever: refused instead. */
        fake_knobs(0, 5, 0);
        assert_int_equal(bfe_filter_create_enum_handle(e, NULL, &h), 0);
        assert_int_equal(bfe_filter_enum_page(e, h, 5, &a, &n), -EBADMSG);
        assert_ptr_equal(a, (BfeFilter *) 0x1);
        assert_int_equal(bfe_enum_handle_destroy(e, h), 0);

        /* Bad arguments never reach the bus. */
        forget_calls();
        assert_int_equal(bfe_filter_enum_page(e, h, 5, NULL, &n), -EINVAL);
        assert_int_equal(bfe_filter_enum_page(e, h, 5, &a, NULL), -EINVAL);
        assert_int_equal(bfe_engine_last_error(e)->error, -EINVAL);
        assert_int_equal(bfe_filter_create_enum_handle(e, NULL, NULL), -EINVAL);
        assert_int_equal(bfe_filter_enum_page(NULL, h, 5, &a, &n), -EINVAL);
        assert_int_equal(bfe_enum_handle_destroy(NULL, h), -EINVAL);
        assert_calls("");
}

static void test_enum_page_kinds(void **state) {
        BfeEngine *e = *state;
        BfeProviderContextTemplate ct = { .match_type = true, .type = BFE_CONTEXT_IPSEC_IKE_MM };
        BfeEnumHandle hs = 0, hp = 0, hc = 0;
        BfeProviderContext *c = NULL;
        BfeSublayer *sl = NULL;
        BfeProvider *p = NULL;
        BfeFilter *f = NULL;
        char buf[BFE_KEY_STRING_MAX];
        size_t n = 0;

        assert_int_equal(bfe_sublayer_create_enum_handle(e, &hs), 0);
        assert_int_equal(bfe_sublayer_enum_page(e, hs, 2, &sl, &n), 0);
        assert_int_equal(n, 2);
        assert_string_equal(bfe_key_to_string(&sl[0].key, buf), SUBLAYER_KEY);
        assert_string_equal(sl[0].name, "high");
        assert_int_equal(sl[0].weight, 0x9000);
        assert_int_equal(sl[1].weight, 0x8000);
        bfe_sublayer_array_free(sl, n);

        /* A handle lists one kind: another kind's page call is an invalid enumerator. */
        assert_int_equal(bfe_wfp_code_from_ret(bfe_filter_enum_page(e, hs, 2, &f, &n)), 0x8032001D);
        assert_int_equal(bfe_sublayer_enum_page(e, hs, 2, &sl, &n), 0);
        assert_int_equal(n, 1);
        assert_string_equal(sl[0].name, "low");
        bfe_sublayer_array_free(sl, n);

        assert_int_equal(bfe_provider_create_enum_handle(e, &hp), 0);
        assert_int_equal(bfe_provider_enum_page(e, hp, 10, &p, &n), 0);
        assert_int_equal(n, 0);
        assert_null(p);

        assert_int_equal(bfe_key_from_string(PROVIDER_KEY, &ct.provider_key), 0);
        assert_int_equal(bfe_provider_context_create_enum_handle(e, &ct, &hc), 0);
        assert_last_call("CreateProviderContextEnumHandle [(ProviderKey s<" PROVIDER_KEY " > ) (Type u<5 > ) ] ");
        assert_int_equal(bfe_provider_context_enum_page(e, hc, 10, &c, &n), 0);
        assert_int_equal(n, 0);
        assert_int_equal(__atomic_load_n(&live_handles, __ATOMIC_SEQ_CST), 3);

        assert_int_equal(bfe_enum_handle_destroy(e, hs), 0);
        assert_int_equal(bfe_enum_handle_destroy(e, hp), 0);
        assert_int_equal(bfe_enum_handle_destroy(e, hc), 0);
        assert_int_equal(__atomic_load_n(&live_handles, __ATOMIC_SEQ_CST), 0);

        /* The one-shot sublayer list, paged the same way. */
        assert_int_equal(bfe_sublayer_enum(e, &sl, &n), 0);
        assert_int_equal(n, FAKE_SUBLAYERS);
        assert_string_equal(sl[2].name, "low");
        bfe_sublayer_array_free(sl, n);
}

static void test_enum_one_shot_pages(void **state) {
        BfeEngine *e = *state;
        char expected[512], ids[128];
        BfeFilter *a = NULL;
        unsigned long long h;
        size_t n = 0;

        /* The whole list, whatever the pages: each ask is for 1,000, each answer 3 at most. */
        fake_knobs(3, 5, 0);
        forget_calls();
        assert_int_equal(bfe_filter_enum(e, NULL, &a, &n), 0);
        assert_int_equal(n, 7);
        assert_string_equal(filter_ids(a, n, ids, sizeof(ids)), "1 17 100 101 102 103 104 ");
        bfe_filter_array_free(a, n);
        h = (unsigned long long) __atomic_load_n(&last_handle, __ATOMIC_SEQ_CST);
        snprintf(expected, sizeof(expected), "FilterEnum %llu 1000 | FilterEnum %llu 1000 | FilterEnum %llu 1000 ",
                 h, h, h);
        assert_enum_calls("Filter", "[] ", expected);

        /* Every one destroys its handle: more of them than the fake (and bfed) would hold. */
        for (unsigned i = 0; i < 2 * FAKE_HANDLES_MAX; i++) {
                assert_int_equal(bfe_filter_enum(e, NULL, &a, &n), 0);
                assert_int_equal(n, 7);
                bfe_filter_array_free(a, n);
        }
        assert_int_equal(__atomic_load_n(&live_handles, __ATOMIC_SEQ_CST), 0);
}

static void test_enum_one_shot_failure(void **state) {
        BfeEngine *e = *state;
        BfeFilterTemplate bad = { .layer = "NOPE" };
        BfeFilter *a = (BfeFilter *) 0x1;
        char expected[512];
        unsigned long long h;
        size_t n = 99;
        int r;

        /* A page fails: the caller gets that error (not the destroy's) and nothing else, and
         * the handle is destroyed all the same. */
        fake_knobs(3, 5, 1);
        forget_calls();
        r = bfe_filter_enum(e, NULL, &a, &n);
        assert_int_equal(r, -ENOMEM);
        assert_ptr_equal(a, (BfeFilter *) 0x1);
        assert_int_equal(n, 99);
        assert_string_equal(bfe_engine_last_error(e)->bus_name, SD_BUS_ERROR_NO_MEMORY);
        assert_string_equal(bfe_engine_last_error(e)->message, "the fake ran out of memory");
        h = (unsigned long long) __atomic_load_n(&last_handle, __ATOMIC_SEQ_CST);
        snprintf(expected, sizeof(expected), "FilterEnum %llu 1000 ", h);
        assert_enum_calls("Filter", "[] ", expected);
        assert_int_equal(__atomic_load_n(&live_handles, __ATOMIC_SEQ_CST), 0);

        /* A template the engine refuses: no handle, so nothing to destroy. */
        forget_calls();
        r = bfe_filter_enum(e, &bad, &a, &n);
        assert_int_equal(bfe_wfp_code_from_ret(r), 0x80320004);
        assert_calls("CreateFilterEnumHandle [(Layer s<NOPE > ) ] | ");
        assert_int_equal(__atomic_load_n(&live_handles, __ATOMIC_SEQ_CST), 0);
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
        /* The fake lacks Table: an error, and nothing written. */
        assert_true(bfe_engine_get_table(e, &table) < 0);
        assert_null(table);
        /* Its FilterCount counts only the pipelining tests' filters. */
        assert_int_equal(bfe_engine_get_filter_count(e, &count), 0);
        assert_int_equal(count, 0);
}

static void test_exemption_obstacles(void **state) {
        BfeEngine *e = *state;
        BfeObstacle *o = NULL;
        size_t n = 0;

        assert_int_equal(bfe_engine_get_exemption_obstacles(e, &o, &n), 0);
        assert_int_equal(n, 2);
        assert_string_equal(o[0].table, "inet filter");
        assert_string_equal(o[0].chain, "input");
        assert_string_equal(o[0].what, "drops IPv4 UDP 500/4500 and IPv6 UDP 500 inbound: policy drop");
        assert_false(o[0].certain);
        assert_string_equal(o[1].table, "firewalld");
        assert_string_equal(o[1].chain, "public");
        bfe_obstacle_array_free(o, n);

        assert_int_equal(bfe_engine_get_exemption_obstacles(e, NULL, &n), -EINVAL);
        assert_int_equal(bfe_engine_get_exemption_obstacles(NULL, &o, &n), -EINVAL);
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

        /* The other tables' chains that drop the packet nevertheless. */
        assert_int_equal(res->n_obstacles, 2);
        assert_string_equal(res->obstacles[0].table, "inet filter");
        assert_string_equal(res->obstacles[0].chain, "input");
        assert_string_equal(res->obstacles[0].what, "policy drop");
        assert_true(res->obstacles[0].certain);
        assert_string_equal(res->obstacles[1].what, "rule handle 7: reject");
        assert_false(res->obstacles[1].certain);
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
        /* An answer without the obstacles (a daemon before them) reads as none. */
        assert_int_equal(res->n_obstacles, 0);
        assert_null(res->obstacles);
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

/* A connection of the test's own to the bus (not libbfe's). */
static sd_bus *helper_new(void) {
        sd_bus *helper = NULL;

        assert_true(sd_bus_new(&helper) >= 0);
        assert_true(sd_bus_set_address(helper, bus_address) >= 0);
        assert_true(sd_bus_set_bus_client(helper, true) >= 0);
        assert_true(sd_bus_start(helper) >= 0);
        return helper;
}


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

/* Asks the fake to emit Changed with one change (kind, change, key, id) over a connection of its own. */
static void emit(sd_bus *helper, const char *kind, uint32_t change, const char *key, uint64_t id) {
        assert_int_equal(sd_bus_call_method(helper, "org.bfed.Engine1", "/org/bfed/Engine1",
                                            "org.bfed.Engine1", "TestEmit", NULL, NULL, "a(sust)", 1,
                                            kind, change, key, id), 1);
}

/* Runs @e until @col has @n changes or 5 s pass. */
static void wait_for(BfeEngine *e, Collected *col, size_t n) {
        for (int i = 0; i < 50 && col->n < n; i++)
                assert_true(bfe_engine_wait(e, 100 * 1000) >= 0);
}

static void test_changes(void **state) {
        BfeEngine *e = *state;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *helper = helper_new();
        Collected all = { .engine = e }, filter_deletes = { .engine = e };
        BfeSubscription *s1 = NULL, *s2 = NULL;
        char buf[BFE_KEY_STRING_MAX];

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
                                       "a(sust)", 1, "filter", (uint32_t) 2, FILTER_KEY, UINT64_C(666)) >= 0);

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
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *helper = helper_new();
        Collected col = { .engine = e };
        BfeFilter *a = NULL;
        size_t n = 0;

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

/* A subscription that ends itself at its first change. */
typedef struct OneShot {
        BfeSubscription *s;
        size_t n;
} OneShot;

static void collect_once(BfeEngine *e, const BfeChange *c, void *userdata) {
        OneShot *o = userdata;

        o->n++;
        o->s = bfe_unsubscribe_changes(o->s);
}

/* Has the fake send one Changed signal of four changes, the second with a key that is not one. */
static void emit_four(sd_bus *helper) {
        assert_int_equal(sd_bus_call_method(helper, "org.bfed.Engine1", "/org/bfed/Engine1", "org.bfed.Engine1",
                                            "TestEmit", NULL, NULL, "a(sust)", 4,
                                            "filter", BFE_CHANGE_ADD, FILTER_KEY, UINT64_C(31),
                                            "filter", BFE_CHANGE_ADD, "not-a-guid", UINT64_C(32),
                                            "provider", BFE_CHANGE_DELETE, PROVIDER_KEY, UINT64_C(0),
                                            "filter", BFE_CHANGE_DELETE, FILTER_KEY, UINT64_C(31)), 1);
}

/* One signal carries the changes of a commit (bfed sends a signal per commit, not per change):
 * each goes to the callback, in order; a change whose key is not one is skipped; a callback
 * that ends its subscription hears no more of the signal. */
static void test_changes_batched(void **state) {
        BfeEngine *e = *state;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *helper = helper_new();
        Collected col = { .engine = e };
        OneShot once = {};
        char buf[BFE_KEY_STRING_MAX];

        /* the one-shot first, alone: sd-bus does not run a message's other matches after one of
         * them removed a match */
        assert_int_equal(bfe_subscribe_changes(e, NULL, collect_once, &once, &once.s), 0);
        emit_four(helper);
        for (int i = 0; i < 50 && once.n == 0; i++)
                assert_true(bfe_engine_wait(e, 100 * 1000) >= 0);
        assert_int_equal(once.n, 1);            /* the signal's other three went nowhere */
        assert_null(once.s);

        assert_int_equal(bfe_subscribe_changes(e, NULL, collect, &col, NULL), 0);
        emit_four(helper);
        wait_for(e, &col, 3);
        assert_int_equal(col.n, 3);
        assert_int_equal(col.changes[0].id, 31);
        assert_int_equal(col.changes[0].change_type, BFE_CHANGE_ADD);
        assert_int_equal(col.changes[1].kind, BFE_OBJECT_PROVIDER);
        assert_string_equal(bfe_key_to_string(&col.changes[1].key, buf), PROVIDER_KEY);
        assert_int_equal(col.changes[2].id, 31);
        assert_int_equal(col.changes[2].change_type, BFE_CHANGE_DELETE);
        assert_int_equal(once.n, 1);
}

/* ---- asynchronous calls ---------------------------------------------------------------------- */

/* What one callback saw; the checks come after bfe_engine_process(), not inside it. */
typedef struct Outcome {
        unsigned calls;                 /* times the callback ran */
        unsigned seq;                   /* its place among all callbacks of the test */
        BfeEngine *engine;
        int r;
        uint64_t id;
        bool key_null, error_null;
        char key[BFE_KEY_STRING_MAX];
        int error;                      /* error->error */
        uint32_t wfp_code;
        char bus_name[64];
        char message[160];
        int add_in_callback;            /* see on_add_retry() */
} Outcome;

static unsigned n_callbacks;

static void outcome_record(Outcome *o, BfeEngine *e, int r, const BfeError *error) {
        o->calls++;
        o->seq = n_callbacks++;
        o->engine = e;
        o->r = r;
        o->error_null = !error;
        if (error) {
                o->error = error->error;
                o->wfp_code = error->wfp_code;
                snprintf(o->bus_name, sizeof(o->bus_name), "%s", error->bus_name ?: "(null)");
                snprintf(o->message, sizeof(o->message), "%s", error->message);
        }
}

static void on_add(BfeEngine *e, int r, const BfeKey *key, uint64_t id, const BfeError *error,
                   void *userdata) {
        Outcome *o = userdata;

        outcome_record(o, e, r, error);
        o->id = id;
        o->key_null = !key;
        if (key)
                bfe_key_to_string(key, o->key);
}

static void on_call(BfeEngine *e, int r, const BfeError *error, void *userdata) {
        outcome_record(userdata, e, r, error);
}

static uint64_t now_usec(void) {
        struct timespec ts;

        assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

/* Runs @e until no asynchronous call is pending (or 10 s pass). */
static void wait_pending(BfeEngine *e) {
        uint64_t deadline = now_usec() + 10 * 1000 * 1000;

        while (bfe_engine_pending_calls(e) > 0 && now_usec() < deadline)
                assert_true(bfe_engine_wait(e, 100 * 1000) >= 0);
        assert_int_equal(bfe_engine_pending_calls(e), 0);
}

static void assert_added(const Outcome *o, BfeEngine *e, unsigned seq) {
        char buf[BFE_KEY_STRING_MAX];

        assert_int_equal(o->calls, 1);
        assert_int_equal(o->seq, seq);
        assert_ptr_equal(o->engine, e);
        assert_int_equal(o->r, 0);
        assert_true(o->error_null);
        assert_false(o->key_null);
        assert_true(o->id >= PIPE_ID_BASE);
        assert_string_equal(o->key, pipe_key(o->id, buf));
}

static void assert_refused(const Outcome *o, unsigned seq, uint32_t code, const char *bus_name) {
        assert_int_equal(o->calls, 1);
        assert_int_equal(o->seq, seq);
        assert_int_equal(bfe_wfp_code_from_ret(o->r), code);
        assert_false(o->error_null);
        assert_int_equal(o->error, o->r);
        assert_int_equal(o->wfp_code, code);
        assert_string_equal(o->bus_name, bus_name);
        assert_true(strncmp(o->message, bfe_wfp_error_name(code), strlen(bfe_wfp_error_name(code))) == 0);
        assert_true(o->key_null);
        assert_int_equal(o->id, 0);
}

/* A "pipe" block filter to local port @port; the fake refuses layer NOPE and the value "bad". */
typedef struct PipeFilter {
        char name[32];
        char port[16];
        BfeCondition conds[2];
        BfeFilter f;
} PipeFilter;

static const BfeFilter *pipe_filter(PipeFilter *p, const char *prefix, unsigned i, const char *layer,
                                    const char *port) {
        snprintf(p->name, sizeof(p->name), "%s %u", prefix, i);
        snprintf(p->port, sizeof(p->port), "%s", port);
        p->conds[0] = (BfeCondition) { (char *) "IP_PROTOCOL", BFE_MATCH_EQUAL, (char *) "udp" };
        p->conds[1] = (BfeCondition) { (char *) "IP_LOCAL_PORT", BFE_MATCH_EQUAL, p->port };
        p->f = (BfeFilter) {
                .name = p->name,
                .layer = (char *) layer,
                .action = BFE_ACTION_BLOCK,
                .conditions = p->conds,
                .n_conditions = 2,
        };
        return &p->f;
}

#define N_PIPELINE 200
#define BAD_LAYER_AT 57
#define BAD_VALUE_AT 123

static void test_async_pipeline(void **state) {
        BfeEngine *e = *state;
        static Outcome adds[N_PIPELINE], dels[N_PIPELINE + 1];
        BfeFilter *a = NULL;
        unsigned n_ok = 0, n_del = 0;
        uint64_t last_id = 0;
        uint32_t count;
        size_t n = 0;

        n_callbacks = 0;
        assert_int_equal(bfe_engine_pending_calls(e), 0);
        assert_int_equal(bfe_engine_pending_calls(NULL), 0);

        /* 200 AddFilter calls, up to 100 in flight (the bus allows 128, see test_async_limit);
         * two of them the daemon refuses. */
        for (unsigned i = 0; i < N_PIPELINE; i++) {
                unsigned before;
                PipeFilter p;
                char port[16];

                while (bfe_engine_pending_calls(e) >= N_PIPELINE / 2)
                        assert_true(bfe_engine_wait(e, 1000 * 1000) >= 0);
                before = n_callbacks;
                snprintf(port, sizeof(port), "%u", 20000 + i);
                pipe_filter(&p, "pipe", i, i == BAD_LAYER_AT ? "NOPE" : "INBOUND_TRANSPORT_V4",
                            i == BAD_VALUE_AT ? "bad" : port);
                assert_int_equal(bfe_filter_add_async(e, &p.f, on_add, &adds[i]), 0);
                assert_int_equal(n_callbacks, before);  /* no callback runs inside a send */
        }
        assert_true(bfe_engine_pending_calls(e) > 0);

        wait_pending(e);
        assert_int_equal(n_callbacks, N_PIPELINE);
        for (unsigned i = 0; i < N_PIPELINE; i++) {
                if (i == BAD_LAYER_AT)
                        assert_refused(&adds[i], i, 0x80320004, "org.bfed.Error.LayerNotFound");
                else if (i == BAD_VALUE_AT)
                        assert_refused(&adds[i], i, 0x80320027, "org.bfed.Error.TypeMismatch");
                else {
                        /* in call order, so the fake's ids are increasing: all distinct */
                        assert_added(&adds[i], e, i);
                        assert_true(adds[i].id > last_id);
                        last_id = adds[i].id;
                        n_ok++;
                }
        }
        assert_int_equal(n_ok, N_PIPELINE - 2);
        /* Completions leave the last error alone: it is still that of the last send. */
        assert_int_equal(bfe_engine_last_error(e)->error, 0);

        /* The engine's view agrees. */
        assert_int_equal(bfe_engine_get_filter_count(e, &count), 0);
        assert_int_equal(count, n_ok);
        assert_int_equal(bfe_filter_enum(e, NULL, &a, &n), 0);
        assert_int_equal(n, 2 + n_ok);
        for (unsigned i = 0, k = 2; i < N_PIPELINE; i++)
                if (adds[i].r == 0)
                        assert_int_equal(a[k++].id, adds[i].id);
        bfe_filter_array_free(a, n);

        /* Delete them the same way, and one id that does not exist. */
        n_callbacks = 0;
        for (unsigned i = 0; i < N_PIPELINE; i++)
                if (adds[i].r == 0) {
                        while (bfe_engine_pending_calls(e) >= N_PIPELINE / 2)
                                assert_true(bfe_engine_wait(e, 1000 * 1000) >= 0);
                        assert_int_equal(bfe_filter_delete_by_id_async(e, adds[i].id, on_call, &dels[n_del++]), 0);
                }
        assert_int_equal(bfe_filter_delete_by_id_async(e, 999999, on_call, &dels[n_del]), 0);
        wait_pending(e);
        assert_last_path("/org/bfed/Engine1");
        for (unsigned k = 0; k < n_del; k++) {
                assert_int_equal(dels[k].calls, 1);
                assert_int_equal(dels[k].seq, k);
                assert_int_equal(dels[k].r, 0);
                assert_true(dels[k].error_null);
        }
        assert_int_equal(dels[n_del].calls, 1);
        assert_int_equal(bfe_wfp_code_from_ret(dels[n_del].r), 0x80320003);
        assert_string_equal(dels[n_del].bus_name, "org.bfed.Error.FilterNotFound");
        assert_last_call("DeleteFilterById 999999 ");
        assert_int_equal(bfe_engine_get_filter_count(e, &count), 0);
        assert_int_equal(count, 0);
}

static void test_async_arguments(void **state) {
        BfeEngine *e = *state;
        Outcome o = {};
        PipeFilter p;

        pipe_filter(&p, "pipe", 0, "INBOUND_TRANSPORT_V4", "1");
        forget_last_call();
        assert_int_equal(bfe_filter_add_async(NULL, &p.f, on_add, &o), -EINVAL);
        assert_int_equal(bfe_filter_add_async(e, NULL, on_add, &o), -EINVAL);
        assert_int_equal(bfe_engine_last_error(e)->error, -EINVAL);
        assert_int_equal(bfe_filter_add_async(e, &p.f, NULL, &o), -EINVAL);
        assert_int_equal(bfe_filter_delete_by_id_async(e, 1, NULL, &o), -EINVAL);
        assert_int_equal(bfe_filter_delete_by_id_async(NULL, 1, on_call, &o), -EINVAL);
        /* A filter that cannot be encoded is refused before anything is sent. */
        p.f.weight_kind = BFE_WEIGHT_RANGE;
        p.f.weight = 16;
        assert_int_equal(bfe_filter_add_async(e, &p.f, on_add, &o), -ERANGE);
        assert_int_equal(bfe_engine_pending_calls(e), 0);
        assert_true(bfe_engine_process(e) >= 0);
        assert_int_equal(o.calls, 0);
        assert_last_call("");
}

static void test_async_with_sync_calls(void **state) {
        BfeEngine *e = *state;
        Outcome adds[10] = {}, dels[10] = {};
        uint64_t id = 0;
        uint32_t count;

        n_callbacks = 0;
        for (unsigned i = 0; i < ELEMENTSOF(adds); i++) {
                PipeFilter p;

                assert_int_equal(bfe_filter_add_async(e, pipe_filter(&p, "pipe", i, "INBOUND_TRANSPORT_V4", "7"),
                                                      on_add, &adds[i]), 0);
        }

        /* Synchronous calls in between work; the replies they read past are kept... */
        assert_int_equal(bfe_filter_add(e, &(BfeFilter) { .name = (char *) "sync", .layer = (char *) "IKEEXT_V4" },
                                        NULL, &id), 0);
        assert_int_equal(id, 17);
        assert_int_equal(bfe_engine_get_filter_count(e, &count), 0);
        assert_int_equal(count, ELEMENTSOF(adds));      /* the fake answers in order */
        assert_int_equal(n_callbacks, 0);
        assert_int_equal(bfe_engine_pending_calls(e), ELEMENTSOF(adds));

        /* ...for the next bfe_engine_process(), which needs no new input to dispatch them. */
        assert_true(bfe_engine_process(e) >= (int) ELEMENTSOF(adds));
        assert_int_equal(n_callbacks, ELEMENTSOF(adds));
        assert_int_equal(bfe_engine_pending_calls(e), 0);
        for (unsigned i = 0; i < ELEMENTSOF(adds); i++)
                assert_added(&adds[i], e, i);

        for (unsigned i = 0; i < ELEMENTSOF(adds); i++)
                assert_int_equal(bfe_filter_delete_by_id_async(e, adds[i].id, on_call, &dels[i]), 0);
        /* bfe_engine_wait() dispatches what a synchronous call read, too, without blocking. */
        assert_int_equal(bfe_engine_get_filter_count(e, &count), 0);
        assert_int_equal(count, 0);
        assert_true(bfe_engine_wait(e, 5 * 1000 * 1000) >= (int) ELEMENTSOF(dels));
        assert_int_equal(bfe_engine_pending_calls(e), 0);
        for (unsigned i = 0; i < ELEMENTSOF(dels); i++)
                assert_int_equal(dels[i].r, 0);
}

static uint32_t helper_call_u(sd_bus *helper, const char *member) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        uint32_t u;

        assert_true(sd_bus_call_method(helper, "org.bfed.Engine1", "/org/bfed/Engine1", "org.bfed.Engine1",
                                       member, NULL, &reply, "") >= 0);
        assert_true(sd_bus_message_read(reply, "u", &u) >= 0);
        return u;
}

/* Waits (5 s at most) until the fake holds @n AddFilter calls. */
static void wait_held(unsigned n) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *helper = helper_new();

        for (int i = 0; i < 500 && helper_call_u(helper, "TestHeld") < n; i++)
                usleep(10 * 1000);
        assert_int_equal(helper_call_u(helper, "TestHeld"), n);
}

/* Has the fake answer the @n calls it holds. */
static void release_held(unsigned n) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *helper = helper_new();

        wait_held(n);
        assert_int_equal(helper_call_u(helper, "TestRelease"), n);
}

/* dbus-daemon lets one connection have at most max_replies_per_connection calls in flight (128
 * by default on a system bus): it refuses more at once, so their callbacks run first. */
#define BUS_MAX_REPLIES 128

static void test_async_limit(void **state) {
        BfeEngine *e = *state;
        static Outcome o[BUS_MAX_REPLIES + 2];

        memset(o, 0, sizeof(o));
        n_callbacks = 0;
        for (unsigned i = 0; i < ELEMENTSOF(o); i++) {
                PipeFilter p;

                assert_int_equal(bfe_filter_add_async(e, pipe_filter(&p, "hold", i, "IKEEXT_V4", "1"),
                                                      on_add, &o[i]), 0);
        }
        for (int i = 0; i < 50 && n_callbacks < 2; i++)
                assert_true(bfe_engine_wait(e, 100 * 1000) >= 0);
        for (unsigned i = BUS_MAX_REPLIES; i < ELEMENTSOF(o); i++) {
                assert_int_equal(o[i].calls, 1);
                assert_int_equal(o[i].seq, i - BUS_MAX_REPLIES);
                assert_int_equal(o[i].r, -ENOBUFS);
                assert_string_equal(o[i].bus_name, "org.freedesktop.DBus.Error.LimitsExceeded");
        }
        assert_int_equal(bfe_engine_pending_calls(e), BUS_MAX_REPLIES);

        release_held(BUS_MAX_REPLIES);
        wait_pending(e);
        for (unsigned i = 0; i < BUS_MAX_REPLIES; i++) {
                assert_int_equal(o[i].calls, 1);
                assert_int_equal(o[i].seq, 2 + i);
                assert_int_equal(o[i].r, 0);
                assert_int_equal(o[i].id, 9000 + i);
        }
}

static Outcome close_outcomes[4];

/* While the engine closes: try another call (refused), record it. */
static void on_add_retry(BfeEngine *e, int r, const BfeKey *key, uint64_t id, const BfeError *error,
                         void *userdata) {
        Outcome *o = userdata;
        PipeFilter p;

        on_add(e, r, key, id, error, userdata);
        o->add_in_callback = bfe_filter_add_async(e, pipe_filter(&p, "pipe", 0, "IKEEXT_V4", "1"),
                                                  on_add, &close_outcomes[3]);
}

static void test_async_close_pending(void **state) {
        BfeEngine *e = NULL;
        char expected[64];
        PipeFilter p;

        /* In a session, the calls go to the session object. */
        assert_int_equal(bfe_engine_open_session(bus_address, NULL, &e), 0);
        memset(close_outcomes, 0, sizeof(close_outcomes));
        n_callbacks = 0;
        assert_int_equal(bfe_filter_add_async(e, pipe_filter(&p, "pipe", 0, "IKEEXT_V4", "1"),
                                              on_add, &close_outcomes[0]), 0);
        wait_pending(e);
        assert_last_path(SESSION_PATH);
        assert_added(&close_outcomes[0], e, 0);
        assert_int_equal(bfe_filter_delete_by_id_async(e, close_outcomes[0].id, on_call, &close_outcomes[1]), 0);
        wait_pending(e);
        snprintf(expected, sizeof(expected), "DeleteFilterById %llu ", (unsigned long long) close_outcomes[0].id);
        assert_last_call(expected);
        assert_last_path(SESSION_PATH);
        assert_int_equal(close_outcomes[1].r, 0);

        /* Closing with calls in flight completes them with -ECANCELED, in call order, then
         * closes the session. */
        memset(close_outcomes, 0, sizeof(close_outcomes));
        n_callbacks = 0;
        for (unsigned i = 0; i < 3; i++)
                assert_int_equal(bfe_filter_add_async(e, pipe_filter(&p, "hold", i, "IKEEXT_V4", "1"),
                                                      i == 1 ? on_add_retry : on_add, &close_outcomes[i]), 0);
        assert_int_equal(bfe_engine_pending_calls(e), 3);
        bfe_engine_close(e);
        for (unsigned i = 0; i < 3; i++) {
                const Outcome *o = &close_outcomes[i];

                assert_int_equal(o->calls, 1);
                assert_int_equal(o->seq, i);
                assert_int_equal(o->r, -ECANCELED);
                assert_false(o->error_null);
                assert_int_equal(o->error, -ECANCELED);
                assert_string_equal(o->bus_name, "(null)");
                assert_string_equal(o->message, "the engine was closed before the reply came");
                assert_true(o->key_null);
        }
        /* A new call from such a callback is refused, and its callback never runs. */
        assert_int_equal(close_outcomes[1].add_in_callback, -ECANCELED);
        assert_int_equal(close_outcomes[3].calls, 0);
        assert_last_call("Close ");
        release_held(3);
}

static void test_async_connection_lost(void **state) {
        BfeEngine *e = *state;
        Outcome o[3] = {}, late = {};
        PipeFilter p;
        int r = 0;

        n_callbacks = 0;
        for (unsigned i = 0; i < ELEMENTSOF(o); i++)
                assert_int_equal(bfe_filter_add_async(e, pipe_filter(&p, "hold", i, "IKEEXT_V4", "1"),
                                                      on_add, &o[i]), 0);
        /* Once the fake holds them (no reply comes), cut the connection. */
        wait_held(ELEMENTSOF(o));
        assert_int_equal(shutdown(bfe_engine_get_fd(e), SHUT_RDWR), 0);

        for (int i = 0; i < 100 && r >= 0; i++)
                r = bfe_engine_process(e);
        assert_true(r < 0);
        assert_int_equal(bfe_engine_pending_calls(e), 0);
        for (unsigned i = 0; i < ELEMENTSOF(o); i++) {
                assert_int_equal(o[i].calls, 1);
                assert_int_equal(o[i].seq, i);
                assert_int_equal(o[i].r, -ECONNRESET);
                assert_int_equal(o[i].error, -ECONNRESET);
                assert_string_equal(o[i].bus_name, "org.freedesktop.DBus.Error.NoReply");
        }

        /* Nothing can be sent any more: refused at once, no callback. */
        assert_true(bfe_filter_add_async(e, pipe_filter(&p, "pipe", 0, "IKEEXT_V4", "1"), on_add, &late) < 0);
        assert_int_equal(bfe_engine_pending_calls(e), 0);
        assert_int_equal(late.calls, 0);
        release_held(ELEMENTSOF(o));
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
                cmocka_unit_test_setup_teardown(test_enum_page, engine_setup, paging_teardown),
                cmocka_unit_test_setup_teardown(test_enum_page_kinds, engine_setup, paging_teardown),
                cmocka_unit_test_setup_teardown(test_enum_one_shot_pages, engine_setup, paging_teardown),
                cmocka_unit_test_setup_teardown(test_enum_one_shot_failure, engine_setup, paging_teardown),
                cmocka_unit_test_setup_teardown(test_delete, engine_setup, engine_teardown),
                cmocka_unit_test_setup_teardown(test_properties, engine_setup, engine_teardown),
                cmocka_unit_test_setup_teardown(test_exemption_obstacles, engine_setup, engine_teardown),
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
                cmocka_unit_test_setup_teardown(test_changes_batched, engine_setup, engine_teardown),
                cmocka_unit_test_setup_teardown(test_async_pipeline, engine_setup, engine_teardown),
                cmocka_unit_test_setup_teardown(test_async_arguments, engine_setup, engine_teardown),
                cmocka_unit_test_setup_teardown(test_async_with_sync_calls, engine_setup, engine_teardown),
                cmocka_unit_test_setup_teardown(test_async_limit, engine_setup, engine_teardown),
                cmocka_unit_test(test_async_close_pending),
                cmocka_unit_test_setup_teardown(test_async_connection_lost, engine_setup, engine_teardown),
        };
        char *path = getenv("PATH");

        /* Skip, not fail, where there is no dbus-daemon to run. */
        if (system("command -v dbus-daemon >/dev/null 2>&1") != 0) {
                fprintf(stderr, "dbus-daemon not found (PATH=%s), skipping\n", path ?: "");
                return 77;
        }
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
