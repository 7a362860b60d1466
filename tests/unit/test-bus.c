/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-bus.c — the bus glue, sessions and the write pipeline, over an sd-bus socketpair: the
 * daemon's real objects and logic on one end, a client on the other, both on one event loop,
 * no dbus-daemon. The kernel is a fake that takes every batch (handing out rule handles as
 * the real one's echo does) but refuses any batch that adds a filter named "refuse me".
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "batch.h"
#include "bus-private.h"
#include "bus.h"
#include "config.h"
#include "engine.h"
#include "macro.h"
#include "manager.h"
#include "utf8.h"

/* sd-bus calls return >= 0 on success, some of them 1 */
#define OK(x) assert_true((x) >= 0)

/* ---- the fake kernel -------------------------------------------------------------------------- */

static unsigned kernel_batches, kernel_refusals;
static uint64_t next_handle = 100;

static int fake_kernel(Manager *m, NftBatch *b, char **ret_error) {
        const Change *changes;
        size_t n;

        kernel_batches++;
        changes = engine_changes(m->engine, &n);
        for (size_t i = 0; i < n; i++) {
                const Filter *f = changes[i].object;

                if (changes[i].kind == OBJECT_FILTER && changes[i].type == CHANGE_ADD && streq(f->name, "refuse me")) {
                        kernel_refusals++;
                        if (ret_error)
                                *ret_error = strdup("the fake kernel does not take 'refuse me'");
                        return -EINVAL;
                }
        }
        for (size_t i = 0; i < b->n_records; i++)
                if (b->records[i].handle)
                        *b->records[i].handle = next_handle++;
        return 0;
}

/* ---- the fixture ----------------------------------------------------------------------------- */

typedef struct Fixture {
        Manager *m;
        Bus *b;
        sd_bus *server, *client;
} Fixture;

static int setup(void **state) {
        Fixture *fx = calloc(1, sizeof(*fx));
        sd_id128_t id;
        Config config;
        int fds[2];

        if (geteuid() != 0) {
                print_message("needs root: a direct caller is privileged only as root\n");
                skip();
        }
        config_init(&config);
        config.max_read_txn_usec = 300 * 1000;
        assert_int_equal(manager_new(&config, &fx->m), 0);
        assert_int_equal(manager_setup_event(fx->m), 0);
        fx->m->kernel = fake_kernel;
        fx->m->enum_idle_usec = 200 * 1000;
        assert_int_equal(manager_install_table(fx->m), 0);     /* the layout the changes build on */

        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds), 0);
        assert_int_equal(sd_id128_randomize(&id), 0);
        OK(sd_bus_new(&fx->server));
        OK(sd_bus_set_fd(fx->server, fds[0], fds[0]));
        OK(sd_bus_set_server(fx->server, true, id));
        OK(sd_bus_start(fx->server));
        OK(sd_bus_attach_event(fx->server, fx->m->event, SD_EVENT_PRIORITY_NORMAL));
        assert_int_equal(bus_new_direct(fx->m, fx->server, &fx->b), 0);

        OK(sd_bus_new(&fx->client));
        OK(sd_bus_set_fd(fx->client, fds[1], fds[1]));
        OK(sd_bus_start(fx->client));
        OK(sd_bus_attach_event(fx->client, fx->m->event, SD_EVENT_PRIORITY_NORMAL));
        kernel_batches = kernel_refusals = 0;
        *state = fx;
        return 0;
}

static int teardown(void **state) {
        Fixture *fx = *state;

        /* closed, not flushed: nothing runs the other end now */
        fx->client = sd_bus_close_unref(fx->client);
        fx->b = bus_free(fx->b);
        fx->server = sd_bus_close_unref(fx->server);
        manager_free(fx->m);
        free(fx);
        return 0;
}

/* ---- calls: sent without waiting, answered by running the loop ------------------------------ */

#define EVENTS_MAX 256

/* What the client saw, in order: replies ("reply N" / "error N NAME") and signals. */
static char events[EVENTS_MAX][512];
static size_t n_events;

typedef struct Answer {
        unsigned index;
        bool done;
        char error[128];
        char message[2048];
        sd_bus_message *reply;
} Answer;

static void event_add(const char *fmt, ...) _printf_(1, 2);
static void event_add(const char *fmt, ...) {
        va_list ap;

        assert_true(n_events < EVENTS_MAX);
        va_start(ap, fmt);
        (void) vsnprintf(events[n_events++], sizeof(events[0]), fmt, ap);
        va_end(ap);
}

static int on_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Answer *a = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);

        a->done = true;
        if (e) {
                snprintf(a->error, sizeof(a->error), "%s", e->name);
                snprintf(a->message, sizeof(a->message), "%s", e->message ?: "");
                event_add("error %u %s", a->index, e->name);
        } else {
                a->reply = sd_bus_message_ref(reply);
                event_add("reply %u", a->index);
        }
        return 0;
}

/* Changed: an event for each change it carries; counts the signals. */
static size_t n_changed_signals;

static int on_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        const char *kind, *key;
        uint32_t change;
        uint64_t id;

        n_changed_signals++;
        OK(sd_bus_message_enter_container(m, 'a', "(sust)"));
        while (sd_bus_message_read(m, "(sust)", &kind, &change, &key, &id) > 0)
                event_add("changed %s %u %llu", kind, change, (unsigned long long) id);
        return 0;
}

/* Sends @m (consumed) with @a to hear the answer. */
static void send_call(Fixture *fx, sd_bus_message *m, Answer *a) {
        OK(sd_bus_call_async(fx->client, NULL, m, on_reply, a, 0));
        sd_bus_message_unref(m);
}

static sd_bus_message *new_call(Fixture *fx, const char *path, const char *iface, const char *member) {
        sd_bus_message *m = NULL;

        OK(sd_bus_message_new_method_call(fx->client, &m, NULL, path, iface, member));
        return m;
}

static void run_until(Fixture *fx, Answer *const *answers, size_t n) {
        for (unsigned i = 0; i < 2000; i++) {
                bool all = true;

                for (size_t k = 0; k < n; k++)
                        all = all && answers[k]->done;
                if (all)
                        return;
                assert_true(sd_event_run(fx->m->event, 100 * 1000) >= 0);
        }
        fail_msg("no answer");
}

static void wait_answer(Fixture *fx, Answer *a) {
        Answer *l[] = { a };

        run_until(fx, l, 1);
}

static void answer_done(Answer *a) {
        a->reply = sd_bus_message_unref(a->reply);
}

/* AddFilter on @path of a block filter named @name at INBOUND_TRANSPORT_V4, UDP port @port. */
static sd_bus_message *add_filter_call(Fixture *fx, const char *path, const char *name, unsigned port) {
        sd_bus_message *m = new_call(fx, path, ENGINE_IFACE, "AddFilter");
        char p[16];

        snprintf(p, sizeof(p), "%u", port);
        OK(sd_bus_message_append(m, "a{sv}", 4, "Name", "s", name, "Layer", "s", "INBOUND_TRANSPORT_V4",
                                               "Action", "u", 0x1001u, "Conditions", "a(sus)", 2, "IP_PROTOCOL", 0u,
                                               "udp", "IP_LOCAL_PORT", 0u, p));
        return m;
}

static void add_filter(Fixture *fx, const char *path, const char *name, unsigned port, Answer *a) {
        send_call(fx, add_filter_call(fx, path, name, port), a);
}

/* Opens a session; returns its path (static buffer). */
static const char *open_session(Fixture *fx, uint32_t wait_ms, bool dynamic) {
        static char path[128];
        sd_bus_message *m = new_call(fx, ENGINE_PATH, ENGINE_IFACE, "OpenSession");
        Answer a = {};
        const char *p;

        OK(sd_bus_message_append(m, "a{sv}", 2, "TransactionTimeoutMSec", "u", wait_ms, "Dynamic", "b",
                                               (int) dynamic));
        send_call(fx, m, &a);
        wait_answer(fx, &a);
        assert_string_equal(a.error, "");
        assert_int_equal(sd_bus_message_read(a.reply, "o", &p), 1);
        snprintf(path, sizeof(path), "%s", p);
        answer_done(&a);
        return path;
}

static void session_call(Fixture *fx, const char *path, const char *member, Answer *a) {
        sd_bus_message *m = new_call(fx, path, SESSION_IFACE, member);

        if (streq(member, "BeginTransaction"))
                OK(sd_bus_message_append(m, "u", 0u));
        else if (streq(member, "BeginReadOnly")) {
                sd_bus_message_unref(m);
                m = new_call(fx, path, SESSION_IFACE, "BeginTransaction");
                OK(sd_bus_message_append(m, "u", 1u));
        }
        send_call(fx, m, a);
}

/* ---- tests ----------------------------------------------------------------------------------- */

/* Calls sent back to back share one batch; each gets its answer after the kernel has it, in
 * call order, and one Changed signal with their changes comes after the answers. */
static void test_group_commit(void **state) {
        Fixture *fx = *state;
        Answer a[5] = {};
        Answer *l[5];

        OK(sd_bus_match_signal(fx->client, NULL, NULL, ENGINE_PATH, ENGINE_IFACE, "Changed", on_changed,
                                             NULL));
        n_events = n_changed_signals = 0;
        for (unsigned i = 0; i < 5; i++) {
                a[i].index = i;
                l[i] = &a[i];
                add_filter(fx, ENGINE_PATH, "grouped", 7000 + i, &a[i]);
        }
        run_until(fx, l, 5);
        while (n_events < 10)
                assert_true(sd_event_run(fx->m->event, 100 * 1000) >= 0);
        assert_int_equal(kernel_batches, 1);
        assert_int_equal(n_changed_signals, 1);
        for (unsigned i = 0; i < 5; i++) {
                char want[32];

                snprintf(want, sizeof(want), "reply %u", i);
                assert_string_equal(events[i], want);
                assert_true(startswith(events[5 + i], "changed filter 1 "));
                answer_done(&a[i]);
        }
}

/* The Changed signals of a big commit go out a slice at a time: a call sent right behind the
 * commit is answered before the last of them. (They once went into the connection's write queue
 * all at once, ahead of every later reply; sd-bus moves that queue for each message it writes.) */
static size_t n_changed_seen, n_changed_before;

static int count_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        OK(sd_bus_message_enter_container(m, 'a', "(sust)"));
        while (sd_bus_message_skip(m, "(sust)") > 0)
                n_changed_seen++;
        return 0;
}

static int on_count_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Answer *a = userdata;

        a->done = true;
        n_changed_before = n_changed_seen;
        return 0;
}

#define MANY_FILTERS 6000

static void test_signals_paced(void **state) {
        Fixture *fx = *state;
        const char *path = open_session(fx, 0, false);
        Answer begin = {}, add = {}, commit = {}, after = {};
        sd_bus_message *m;

        OK(sd_bus_match_signal(fx->client, NULL, NULL, ENGINE_PATH, ENGINE_IFACE, "Changed", count_changed, NULL));
        session_call(fx, path, "BeginTransaction", &begin);
        wait_answer(fx, &begin);
        assert_string_equal(begin.error, "");

        m = new_call(fx, path, ENGINE_IFACE, "AddFilters");
        OK(sd_bus_message_open_container(m, 'a', "a{sv}"));
        for (unsigned i = 0; i < MANY_FILTERS; i++) {
                char p[16];

                snprintf(p, sizeof(p), "%u", 10000 + i);
                OK(sd_bus_message_append(m, "a{sv}", 4, "Name", "s", "many", "Layer", "s", "INBOUND_TRANSPORT_V4",
                                         "Action", "u", 0x1001u, "Conditions", "a(sus)", 2, "IP_PROTOCOL", 0u, "udp",
                                         "IP_LOCAL_PORT", 0u, p));
        }
        OK(sd_bus_message_close_container(m));
        send_call(fx, m, &add);
        wait_answer(fx, &add);
        assert_string_equal(add.error, "");

        /* the commit, and a call right behind it */
        n_changed_seen = 0;
        session_call(fx, path, "CommitTransaction", &commit);
        OK(sd_bus_call_method_async(fx->client, NULL, NULL, ENGINE_PATH, "org.freedesktop.DBus.Properties",
                                    "Get", on_count_reply, &after, "ss", ENGINE_IFACE, "FilterCount"));
        wait_answer(fx, &after);
        assert_true(commit.done);
        assert_string_equal(commit.error, "");
        while (n_changed_seen < MANY_FILTERS)
                assert_true(sd_event_run(fx->m->event, 100 * 1000) > 0);
        assert_int_equal(n_changed_seen, MANY_FILTERS);
        if (n_changed_before >= MANY_FILTERS)
                fail_msg("the call behind the commit was answered after all %d Changed signals", MANY_FILTERS);
        answer_done(&begin);
        answer_done(&add);
        answer_done(&commit);
}

/* The kernel refuses the group's batch: nothing of it is applied, and each call runs again
 * alone, so only the one the kernel refuses fails. */
static void test_group_refused_reruns(void **state) {
        Fixture *fx = *state;
        Answer a[3] = { { .index = 0 }, { .index = 1 }, { .index = 2 } };
        Answer *l[] = { &a[0], &a[1], &a[2] };

        add_filter(fx, ENGINE_PATH, "first", 7100, &a[0]);
        add_filter(fx, ENGINE_PATH, "refuse me", 7101, &a[1]);
        add_filter(fx, ENGINE_PATH, "third", 7102, &a[2]);
        run_until(fx, l, 3);
        assert_int_equal(kernel_batches, 4);     /* the group, then each alone */
        assert_int_equal(kernel_refusals, 2);
        assert_string_equal(a[0].error, "");
        assert_string_equal(a[1].error, SD_BUS_ERROR_FAILED);
        assert_non_null(strstr(a[1].message, "the fake kernel does not take 'refuse me'"));
        assert_string_equal(a[2].error, "");
        assert_int_equal(engine_n_filters(fx->m->engine), 2);
        for (unsigned i = 0; i < 3; i++)
                answer_done(&a[i]);
}

/* A call waiting for another session's transaction times out on its own deadline, told who
 * holds the lock; a Commit sent behind a waiting Begin of the same session waits its turn. */
static void test_waits_and_order(void **state) {
        Fixture *fx = *state;
        char holder[128], waiter[128];
        Answer begin = {}, add = {}, begin2 = {}, add2 = {}, commit2 = {}, commit = {};
        Answer *l[] = { &begin2, &add2, &commit2 };

        snprintf(holder, sizeof(holder), "%s", open_session(fx, 0, false));
        snprintf(waiter, sizeof(waiter), "%s", open_session(fx, 100, false));

        session_call(fx, holder, "BeginTransaction", &begin);
        wait_answer(fx, &begin);
        assert_string_equal(begin.error, "");

        add_filter(fx, waiter, "waits", 7200, &add);
        wait_answer(fx, &add);
        assert_string_equal(add.error, "org.bfed.Error.Timeout");
        assert_non_null(strstr(add.message, "session 1's write transaction"));

        /* Begin, AddFilter and Commit of the waiter, pipelined while the lock is taken */
        session_call(fx, waiter, "BeginTransaction", &begin2);
        add_filter(fx, waiter, "in order", 7201, &add2);
        session_call(fx, waiter, "CommitTransaction", &commit2);
        session_call(fx, holder, "CommitTransaction", &commit);
        wait_answer(fx, &commit);
        assert_string_equal(commit.error, "");
        run_until(fx, l, 3);
        assert_string_equal(begin2.error, "");
        assert_string_equal(add2.error, "");
        assert_string_equal(commit2.error, "");
        assert_non_null(engine_get_filter_by_id(fx->m->engine, 1));
        answer_done(&begin);
        answer_done(&begin2);
        answer_done(&add2);
        answer_done(&commit2);
        answer_done(&commit);
}

/* A read-only transaction has a deadline: the writer behind it goes on when it is aborted, and
 * the reader's next call learns of it. */
static void test_read_only_deadline(void **state) {
        Fixture *fx = *state;
        char reader[128];
        Answer begin = {}, add = {}, next = {};

        snprintf(reader, sizeof(reader), "%s", open_session(fx, 0, false));
        session_call(fx, reader, "BeginReadOnly", &begin);
        wait_answer(fx, &begin);
        assert_string_equal(begin.error, "");

        add_filter(fx, ENGINE_PATH, "behind a reader", 7300, &add);
        wait_answer(fx, &add);          /* 300 ms later */
        assert_string_equal(add.error, "");

        add_filter(fx, reader, "from the reader", 7301, &next);
        wait_answer(fx, &next);
        assert_string_equal(next.error, "org.bfed.Error.TxnAborted");
        answer_done(&begin);
        answer_done(&add);
}

/* A handle is a snapshot that outlives the deletion of what it lists, and dies unused. */
static void test_enum_handles(void **state) {
        Fixture *fx = *state;
        Answer add = {}, create = {}, del = {}, page = {}, late = {}, create2 = {}, destroy = {}, gone = {}, again = {};
        sd_bus_message *m;
        uint64_t handle, id;
        const char *name = NULL;
        int more;

        add_filter(fx, ENGINE_PATH, "listed", 7400, &add);
        wait_answer(fx, &add);
        assert_int_equal(sd_bus_message_read(add.reply, "st", NULL, &id), 1);

        m = new_call(fx, ENGINE_PATH, ENGINE_IFACE, "CreateFilterEnumHandle");
        OK(sd_bus_message_append(m, "a{sv}", 0));
        send_call(fx, m, &create);
        wait_answer(fx, &create);
        assert_int_equal(sd_bus_message_read(create.reply, "t", &handle), 1);

        m = new_call(fx, ENGINE_PATH, ENGINE_IFACE, "DeleteFilterById");
        OK(sd_bus_message_append(m, "t", id));
        send_call(fx, m, &del);
        wait_answer(fx, &del);
        assert_string_equal(del.error, "");
        assert_null(engine_get_filter_by_id(fx->m->engine, id));

        m = new_call(fx, ENGINE_PATH, ENGINE_IFACE, "FilterEnum");
        OK(sd_bus_message_append(m, "tu", handle, 10u));
        send_call(fx, m, &page);
        wait_answer(fx, &page);
        assert_string_equal(page.error, "");
        assert_int_equal(sd_bus_message_enter_container(page.reply, 'a', "a{sv}"), 1);
        assert_int_equal(sd_bus_message_enter_container(page.reply, 'a', "{sv}"), 1);
        while (sd_bus_message_enter_container(page.reply, 'e', "sv") > 0) {
                const char *key;

                assert_int_equal(sd_bus_message_read(page.reply, "s", &key), 1);
                if (streq(key, "Name"))
                        assert_int_equal(sd_bus_message_read(page.reply, "v", "s", &name), 1);
                else
                        OK(sd_bus_message_skip(page.reply, "v"));
                OK(sd_bus_message_exit_container(page.reply));
        }
        assert_string_equal(name, "listed");    /* deleted, and still in the snapshot */
        OK(sd_bus_message_exit_container(page.reply));
        OK(sd_bus_message_exit_container(page.reply));
        assert_int_equal(sd_bus_message_read(page.reply, "b", &more), 1);
        assert_false(more);

        /* destroyed: gone for FilterEnum, and for a second DestroyEnumHandle */
        m = new_call(fx, ENGINE_PATH, ENGINE_IFACE, "DestroyEnumHandle");
        OK(sd_bus_message_append(m, "t", handle));
        send_call(fx, m, &destroy);
        wait_answer(fx, &destroy);
        assert_string_equal(destroy.error, "");
        assert_int_equal(fx->m->n_enums, 0);
        m = new_call(fx, ENGINE_PATH, ENGINE_IFACE, "FilterEnum");
        OK(sd_bus_message_append(m, "tu", handle, 10u));
        send_call(fx, m, &gone);
        wait_answer(fx, &gone);
        assert_string_equal(gone.error, "org.bfed.Error.InvalidEnumerator");
        m = new_call(fx, ENGINE_PATH, ENGINE_IFACE, "DestroyEnumHandle");
        OK(sd_bus_message_append(m, "t", handle));
        send_call(fx, m, &again);
        wait_answer(fx, &again);
        assert_string_equal(again.error, "org.bfed.Error.InvalidEnumerator");

        /* unused for longer than the idle time (200 ms here): gone */
        m = new_call(fx, ENGINE_PATH, ENGINE_IFACE, "CreateFilterEnumHandle");
        OK(sd_bus_message_append(m, "a{sv}", 0));
        send_call(fx, m, &create2);
        wait_answer(fx, &create2);
        assert_int_equal(sd_bus_message_read(create2.reply, "t", &handle), 1);
        for (unsigned i = 0; i < 50 && fx->m->n_enums > 0; i++)
                assert_true(sd_event_run(fx->m->event, 100 * 1000) >= 0);
        m = new_call(fx, ENGINE_PATH, ENGINE_IFACE, "FilterEnum");
        OK(sd_bus_message_append(m, "tu", handle, 10u));
        send_call(fx, m, &late);
        wait_answer(fx, &late);
        assert_string_equal(late.error, "org.bfed.Error.InvalidEnumerator");
        answer_done(&add);
        answer_done(&create);
        answer_done(&del);
        answer_done(&page);
        answer_done(&create2);
        answer_done(&destroy);
        answer_done(&gone);
        answer_done(&again);
}

/* Reads FilterEnum(@handle, 10) and returns how many filters the page holds (-1: an error). */
static int page_count(Fixture *fx, const char *path, uint64_t handle) {
        sd_bus_message *m = new_call(fx, path, ENGINE_IFACE, "FilterEnum");
        Answer page = {};
        int n = 0;

        OK(sd_bus_message_append(m, "tu", handle, 10u));
        send_call(fx, m, &page);
        wait_answer(fx, &page);
        if (page.error[0])
                return -1;
        assert_int_equal(sd_bus_message_enter_container(page.reply, 'a', "a{sv}"), 1);
        while (sd_bus_message_skip(page.reply, "a{sv}") > 0)
                n++;
        answer_done(&page);
        return n;
}

static void create_handle(Fixture *fx, const char *path, Answer *a) {
        sd_bus_message *m = new_call(fx, path, ENGINE_IFACE, "CreateFilterEnumHandle");

        OK(sd_bus_message_append(m, "a{sv}", 0));
        send_call(fx, m, a);
}

/* A session enumerates inside its own write transaction (it sees its own changes, as in WFP),
 * then aborts it: the snapshot holds what the transaction added, which must outlive the abort
 * (under ASan, a use after free otherwise). */
static void test_enum_in_aborted_transaction(void **state) {
        Fixture *fx = *state;
        Answer begin = {}, add = {}, create = {}, abort_ = {};
        const char *path = open_session(fx, 1000, false);
        uint64_t handle;

        session_call(fx, path, "BeginTransaction", &begin);
        add_filter(fx, path, "uncommitted", 7500, &add);
        create_handle(fx, path, &create);
        wait_answer(fx, &create);
        assert_string_equal(add.error, "");
        assert_string_equal(create.error, "");
        assert_int_equal(sd_bus_message_read(create.reply, "t", &handle), 1);
        session_call(fx, path, "AbortTransaction", &abort_);
        wait_answer(fx, &abort_);
        assert_string_equal(abort_.error, "");
        assert_int_equal(engine_n_filters(fx->m->engine), 0);
        assert_int_equal(page_count(fx, path, handle), 1);
        answer_done(&begin);
        answer_done(&add);
        answer_done(&create);
        answer_done(&abort_);
}

/* An enumeration queued behind a group of writes runs once they are committed (the kernel
 * refused the group, and its calls ran again alone): what the kernel refused is not in it. */
static void test_enum_behind_refused_group(void **state) {
        Fixture *fx = *state;
        Answer a[3] = { { .index = 0 }, { .index = 1 }, { .index = 2 } };
        Answer *l[] = { &a[0], &a[1], &a[2] };
        uint64_t handle;
        add_filter(fx, ENGINE_PATH, "first", 7600, &a[0]);
        add_filter(fx, ENGINE_PATH, "refuse me", 7601, &a[1]);
        create_handle(fx, ENGINE_PATH, &a[2]);
        run_until(fx, l, 3);
        assert_string_equal(a[1].error, SD_BUS_ERROR_FAILED);
        assert_string_equal(a[2].error, "");
        assert_int_equal(sd_bus_message_read(a[2].reply, "t", &handle), 1);
        assert_int_equal(page_count(fx, ENGINE_PATH, handle), 1);
        for (unsigned i = 0; i < 3; i++)
                answer_done(&a[i]);
}

/* An error message cut inside a character would be refused by sd-bus, and the caller would
 * wait for its timeout: every call gets a valid answer. */
static void test_error_text_valid_utf8(void **state) {
        Fixture *fx = *state;
        char layer[1200] = "";
        sd_bus_message *m;
        Answer a = {};

        for (int i = 0; i < 500; i++)
                strcat(layer, "\xc3\xa9");      /* é: the message's 512 bytes end inside one */
        m = new_call(fx, ENGINE_PATH, ENGINE_IFACE, "AddFilter");
        OK(sd_bus_message_append(m, "a{sv}", 2, "Name", "s", "x", "Layer", "s", layer));
        send_call(fx, m, &a);
        wait_answer(fx, &a);
        assert_string_equal(a.error, "org.bfed.Error.LayerNotFound");
        assert_true(utf8_is_valid(a.message));
        assert_true(startswith(a.message, "FWP_E_LAYER_NOT_FOUND (0x80320004): no layer '\xc3\xa9"));
}

/* The caller goes away: its dynamic session closes and its objects are deleted. */
static void test_peer_gone(void **state) {
        Fixture *fx = *state;
        char path[128];
        Answer add = {};

        snprintf(path, sizeof(path), "%s", open_session(fx, 0, true));
        add_filter(fx, path, "dynamic", 7500, &add);
        wait_answer(fx, &add);
        assert_string_equal(add.error, "");
        assert_int_equal(engine_n_filters(fx->m->engine), 1);
        assert_int_equal(fx->m->n_sessions, 1);

        fx->client = sd_bus_close_unref(fx->client);
        for (unsigned i = 0; i < 50 && (fx->m->n_sessions > 0 || engine_n_filters(fx->m->engine) > 0); i++)
                assert_true(sd_event_run(fx->m->event, 100 * 1000) >= 0);
        assert_int_equal(fx->m->n_sessions, 0);
        assert_int_equal(engine_n_filters(fx->m->engine), 0);
        answer_done(&add);
}

/* A private connection that stops reading is closed before bfed queues more than
 * BUS_PRIVATE_QUEUED_MAX messages for it; its peer is gone then. */
static void test_private_slow_reader(void **state) {
        Fixture *fx = *state;
        char dir[] = "/tmp/test-bus.XXXXXX";
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        const char auth[] = "\0AUTH EXTERNAL 30\r\nBEGIN\r\n";       /* uid 0 */
        int small = 4096, fd;
        BusPrivate *p;
        unsigned sent;

        assert_non_null(mkdtemp(dir));
        snprintf(fx->m->config.private_socket, sizeof(fx->m->config.private_socket), "%s/private", dir);
        assert_int_equal(bus_private_listen(fx->b, fx->m->config.private_socket), 0);

        /* a client that authenticates and then never reads, with a small receive buffer */
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
        strcpy(sa.sun_path, fx->m->config.private_socket);
        assert_int_equal(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        assert_int_equal(write(fd, auth, sizeof(auth) - 1), (ssize_t) sizeof(auth) - 1);
        for (unsigned i = 0; i < 50 && !fx->b->privates; i++)
                assert_true(sd_event_run(fx->m->event, 100 * 1000) >= 0);
        p = fx->b->privates;
        assert_non_null(p);
        assert_string_equal(p->name, "private:1");
        assert_int_equal(setsockopt(sd_bus_get_fd(p->conn), SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);

        /* what the signals do: ask first, then send */
        for (sent = 0; sent < 4 * BUS_PRIVATE_QUEUED_MAX && bus_private_may_send(p); sent++)
                OK(sd_bus_emit_signal(p->conn, "/org/bfed/Engine1", "org.bfed.Engine1", "Changed", "a(sust)", 1,
                                      "filter", 1, "00000000-0000-0000-0000-000000000001", (uint64_t) sent));
        assert_true(p->closed);
        assert_true(sent >= BUS_PRIVATE_QUEUED_MAX);    /* not before its queue was full */
        for (unsigned i = 0; i < 10 && fx->b->privates; i++)
                assert_true(sd_event_run(fx->m->event, 10 * 1000) >= 0);
        assert_null(fx->b->privates);                   /* freed by the reaper */
        assert_int_equal(fx->b->n_privates, 0);

        close(fd);
        fx->b = bus_free(fx->b);                        /* removes the socket */
        assert_int_equal(access(fx->m->config.private_socket, F_OK), -1);
        assert_int_equal(rmdir(dir), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
                cmocka_unit_test_setup_teardown(test_signals_paced, setup, teardown),
                cmocka_unit_test_setup_teardown(test_group_refused_reruns, setup, teardown),
                cmocka_unit_test_setup_teardown(test_waits_and_order, setup, teardown),
                cmocka_unit_test_setup_teardown(test_read_only_deadline, setup, teardown),
                cmocka_unit_test_setup_teardown(test_enum_handles, setup, teardown),
                cmocka_unit_test_setup_teardown(test_enum_in_aborted_transaction, setup, teardown),
                cmocka_unit_test_setup_teardown(test_enum_behind_refused_group, setup, teardown),
                cmocka_unit_test_setup_teardown(test_error_text_valid_utf8, setup, teardown),
                cmocka_unit_test_setup_teardown(test_peer_gone, setup, teardown),
                cmocka_unit_test_setup_teardown(test_private_slow_reader, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
