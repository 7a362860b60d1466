/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-firewalld.c — the firewalld client (src/daemon/firewalld.c) against a fake firewalld:
 * a private dbus-daemon (no root needed), the fake owning org.fedoraproject.FirewallD1 with the
 * zone calls bfed uses, both on one event loop with the client. The fake keeps its runtime and
 * permanent configuration as lists of "ZONE ENTRY" strings and can refuse, reload, and reload
 * just before it handles a take-back (the race firewalld.c undoes). The real firewalld is in
 * tests/integration/firewalld.sh.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "firewalld.h"
#include "utf8.h"
#include "log.h"
#include "macro.h"

#define OK(x) assert_true((x) >= 0)
#define RICH4500 "rule family=\"ipv4\" port port=\"4500\" protocol=\"udp\" accept"
#define ENTRIES_MAX 32

/* ---- the fake firewalld ------------------------------------------------------------------------ */

typedef struct Fake {
        sd_bus *bus;
        const char *default_zone;
        const char *active[4];          /* zones with an interface, besides the default */
        char *runtime[ENTRIES_MAX];     /* "ZONE 500/udp", "ZONE rule …" */
        char *permanent[ENTRIES_MAX];
        bool refuse;                    /* every add and remove: NotAuthorizedException */
        const char *refuse_text;        /* its message, if not the usual */
        bool reload_before_remove;      /* once: reload, then handle the take-back */
        unsigned adds;                  /* addPort and addRichRule calls, refused ones too */
} Fake;

static Fake fake;

static int list_find(char **list, const char *s) {
        for (int i = 0; i < ENTRIES_MAX; i++)
                if (list[i] && streq(list[i], s))
                        return i;
        return -1;
}

static void list_add(char **list, const char *s) {
        for (int i = 0; i < ENTRIES_MAX; i++)
                if (!list[i]) {
                        list[i] = strdup(s);
                        return;
                }
        fail_msg("list full");
}

static void list_clear(char **list) {
        for (int i = 0; i < ENTRIES_MAX; i++)
                list[i] = mfree(list[i]);
}

static bool runtime_has(const char *zone, const char *entry) {
        char key[256];

        snprintf(key, sizeof(key), "%s %s", zone, entry);
        return list_find(fake.runtime, key) >= 0;
}

static size_t runtime_count(void) {
        size_t n = 0;

        for (int i = 0; i < ENTRIES_MAX; i++)
                n += !!fake.runtime[i];
        return n;
}

static void fake_reload(void) {
        list_clear(fake.runtime);
        for (int i = 0; i < ENTRIES_MAX; i++)
                if (fake.permanent[i])
                        list_add(fake.runtime, fake.permanent[i]);
        OK(sd_bus_emit_signal(fake.bus, FIREWALLD_PATH, FIREWALLD_IFACE, "Reloaded", ""));
}

static int fake_default_zone(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return sd_bus_reply_method_return(m, "s", fake.default_zone);
}

static int fake_active_zones(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;

        OK(sd_bus_message_new_method_return(m, &reply));
        OK(sd_bus_message_open_container(reply, 'a', "{sa{sas}}"));
        for (size_t i = 0; i < ELEMENTSOF(fake.active) && fake.active[i]; i++)
                OK(sd_bus_message_append(reply, "{sa{sas}}", fake.active[i], 1, "interfaces", 1, "eth1"));
        OK(sd_bus_message_close_container(reply));
        return sd_bus_send(NULL, reply, NULL);
}

/* queryPort, addPort, removePort and the same for rich rules: the entry is "PORT/PROTO" or the rule. */
static int fake_entry(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *member = sd_bus_message_get_member(m), *zone, *a, *b = NULL;
        bool port = strstr(member, "Port") != NULL;
        char key[256];
        int32_t timeout = 0;
        int i;

        OK(sd_bus_message_read(m, "ss", &zone, &a));
        if (port)
                OK(sd_bus_message_read(m, "s", &b));
        if (startswith(member, "add"))
                OK(sd_bus_message_read(m, "i", &timeout));
        assert_int_equal(timeout, 0);   /* runtime, for good: no timeout */
        if (port)
                snprintf(key, sizeof(key), "%s %s/%s", zone, a, b);
        else
                snprintf(key, sizeof(key), "%s %s", zone, a);
        i = list_find(fake.runtime, key);

        if (startswith(member, "query"))
                return sd_bus_reply_method_return(m, "b", i >= 0);
        if (startswith(member, "add"))
                fake.adds++;
        if (fake.refuse)
                return sd_bus_reply_method_errorf(m, FIREWALLD_IFACE ".NotAuthorizedException", "%s",
                                                  fake.refuse_text ?: "Not authorized (uid)");
        if (startswith(member, "add")) {
                if (i >= 0)
                        return sd_bus_reply_method_errorf(m, FIREWALLD_IFACE ".Exception",
                                                          "ALREADY_ENABLED: '%s' already in '%s'", a, zone);
                list_add(fake.runtime, key);
                return sd_bus_reply_method_return(m, "s", zone);
        }
        if (fake.reload_before_remove) {
                fake.reload_before_remove = false;
                fake_reload();
                i = list_find(fake.runtime, key);
        }
        if (i < 0)
                return sd_bus_reply_method_errorf(m, FIREWALLD_IFACE ".Exception", "NOT_ENABLED: '%s' not in '%s'",
                                                  a, zone);
        fake.runtime[i] = mfree(fake.runtime[i]);
        return sd_bus_reply_method_return(m, "s", zone);
}

static const sd_bus_vtable fake_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("getDefaultZone", "", "s", fake_default_zone, 0),
        SD_BUS_VTABLE_END
};

static const sd_bus_vtable fake_zone_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("getActiveZones", "", "a{sa{sas}}", fake_active_zones, 0),
        SD_BUS_METHOD("queryPort", "sss", "b", fake_entry, 0),
        SD_BUS_METHOD("addPort", "sssi", "s", fake_entry, 0),
        SD_BUS_METHOD("removePort", "sss", "s", fake_entry, 0),
        SD_BUS_METHOD("queryRichRule", "ss", "b", fake_entry, 0),
        SD_BUS_METHOD("addRichRule", "ssi", "s", fake_entry, 0),
        SD_BUS_METHOD("removeRichRule", "ss", "s", fake_entry, 0),
        SD_BUS_VTABLE_END
};

/* ---- the fixture: a private bus, the fake on it, the client --------------------------------------- */

typedef struct Fixture {
        char dir[64];
        char address[128];
        pid_t daemon;
        sd_event *event;
        Firewalld *fw;
        unsigned changes;               /* the change callback's calls */
} Fixture;

static void on_changed(Firewalld *fw, void *userdata) {
        Fixture *fx = userdata;

        fx->changes++;
}

static uint64_t now_msec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static sd_bus *connect_bus(Fixture *fx) {
        sd_bus *bus = NULL;
        uint64_t end = now_msec() + 5000;

        /* dbus-daemon listens once it has started: poll for that, not for time */
        for (;;) {
                OK(sd_bus_new(&bus));
                OK(sd_bus_set_address(bus, fx->address));
                OK(sd_bus_set_bus_client(bus, true));
                if (sd_bus_start(bus) >= 0)
                        break;
                bus = sd_bus_unref(bus);
                assert_true(now_msec() < end);
                (void) usleep(10 * 1000);
        }
        OK(sd_bus_attach_event(bus, fx->event, SD_EVENT_PRIORITY_NORMAL));
        return bus;
}

/* Runs the loop until @done(fx) or 5 s have passed. */
static void run_until(Fixture *fx, bool (*done)(Fixture *fx)) {
        uint64_t end = now_msec() + 5000;

        while (!done(fx)) {
                assert_true(now_msec() < end);
                OK(sd_event_run(fx->event, 10 * 1000));
        }
}

static bool is_idle(Fixture *fx) {
        return firewalld_is_idle(fx->fw);
}

/* What the tests wait for after the fake changed something: the client is through with it. */
static bool work_rule_gone(Fixture *fx) {
        return !runtime_has("work", RICH4500) && firewalld_is_idle(fx->fw);
}

static bool has_openings(Fixture *fx) {
        return runtime_count() == 2 && firewalld_is_idle(fx->fw);
}

static bool has_no_problem(Fixture *fx) {
        size_t n;

        (void) firewalld_problems(fx->fw, &n);
        return n == 0 && firewalld_is_idle(fx->fw);
}

static bool tried_twice_more(Fixture *fx) {
        return fake.adds == 4 && firewalld_is_idle(fx->fw);
}

static void fake_own_name(void) {
        OK(sd_bus_request_name(fake.bus, FIREWALLD_NAME, 0));
}

static int setup(void **state) {
        Fixture *fx = calloc(1, sizeof(*fx));
        char config[256], text[1024];
        sd_bus *client;
        FILE *f;

        assert_non_null(fx);
        if (system("command -v dbus-daemon >/dev/null 2>&1") != 0) {
                print_message("dbus-daemon not installed\n");
                skip();
        }
        log_set_max_level(getenv("TEST_DEBUG") ? LOG_DEBUG : LOG_EMERG); /* the refusals below are expected */
        strcpy(fx->dir, "/tmp/test-firewalld-XXXXXX");
        assert_non_null(mkdtemp(fx->dir));
        snprintf(fx->address, sizeof(fx->address), "unix:path=%s/bus", fx->dir);
        snprintf(config, sizeof(config), "%s/bus.conf", fx->dir);
        snprintf(text, sizeof(text),
                 "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
                 " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
                 "<busconfig><type>session</type><listen>unix:path=%s/bus</listen><auth>EXTERNAL</auth>\n"
                 "<policy context=\"default\"><allow send_destination=\"*\"/><allow eavesdrop=\"true\"/>"
                 "<allow own=\"*\"/></policy>\n"
                 "</busconfig>\n", fx->dir);
        f = fopen(config, "we");
        assert_non_null(f);
        fputs(text, f);
        assert_int_equal(fclose(f), 0);
        fx->daemon = fork();
        assert_true(fx->daemon >= 0);
        if (fx->daemon == 0) {
                char arg[300];

                (void) prctl(PR_SET_PDEATHSIG, SIGTERM);        /* no daemon left behind a failed setup */
                snprintf(arg, sizeof(arg), "--config-file=%s", config);
                execlp("dbus-daemon", "dbus-daemon", "--nofork", "--nopidfile", arg, (char *) NULL);
                _exit(127);
        }
        OK(sd_event_new(&fx->event));

        fake = (Fake) { .default_zone = "public" };
        fake.bus = connect_bus(fx);
        OK(sd_bus_add_object_vtable(fake.bus, NULL, FIREWALLD_PATH, FIREWALLD_IFACE, fake_vtable, NULL));
        OK(sd_bus_add_object_vtable(fake.bus, NULL, FIREWALLD_PATH, FIREWALLD_ZONE_IFACE, fake_zone_vtable, NULL));
        fake_own_name();

        client = connect_bus(fx);
        OK(firewalld_new(fx->event, client, FIREWALLD_YES, &fx->fw));
        sd_bus_unref(client);           /* the client has it now */
        firewalld_set_change_callback(fx->fw, on_changed, fx);
        run_until(fx, is_idle);         /* it found firewalld, and wants nothing yet */
        *state = fx;
        return 0;
}

static int teardown(void **state) {
        Fixture *fx = *state;
        char cmd[128];

        firewalld_free(fx->fw);
        fake.bus = sd_bus_flush_close_unref(fake.bus);
        list_clear(fake.runtime);
        list_clear(fake.permanent);
        sd_event_unref(fx->event);
        kill(fx->daemon, SIGTERM);
        waitpid(fx->daemon, NULL, 0);
        snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", fx->dir);
        assert_int_equal(system(cmd), 0);
        free(fx);
        return 0;
}

/* ---- the tests --------------------------------------------------------------------------------- */

/* Exactly the exempted traffic, in the default zone and every active zone; taken back exactly. */
static void test_open_and_take_back(void **state) {
        Fixture *fx = *state;
        size_t n;

        fake.active[0] = "work";
        list_add(fake.runtime, "work 500/udp");         /* the admin's */
        firewalld_set_wanted(fx->fw, true);
        run_until(fx, is_idle);
        assert_true(runtime_has("public", "500/udp"));
        assert_true(runtime_has("public", RICH4500));
        assert_true(runtime_has("work", RICH4500));
        assert_true(runtime_has("work", "500/udp"));
        assert_false(runtime_has("public", "4500/udp"));        /* never a port: it would open IPv6 4500 */
        assert_int_equal(runtime_count(), 4);
        (void) firewalld_problems(fx->fw, &n);
        assert_int_equal(n, 0);

        /* work is no longer active: bfed's rule goes, the admin's port stays */
        fake.active[0] = NULL;
        OK(sd_bus_emit_signal(fake.bus, FIREWALLD_PATH, FIREWALLD_ZONE_IFACE, "InterfaceRemoved", "ss", "work",
                              "eth1"));
        run_until(fx, work_rule_gone);
        assert_false(runtime_has("work", RICH4500));
        assert_true(runtime_has("work", "500/udp"));
        assert_int_equal(runtime_count(), 3);

        firewalld_set_wanted(fx->fw, false);
        run_until(fx, is_idle);
        assert_int_equal(runtime_count(), 1);
        assert_true(runtime_has("work", "500/udp"));
        assert_int_equal(fx->changes, 0);
}

/* A refusal is a problem, told once; it goes when firewalld lets bfed in. */
static void test_refused(void **state) {
        Fixture *fx = *state;
        char *const *problems;
        size_t n;

        fake.refuse = true;
        firewalld_set_wanted(fx->fw, true);
        run_until(fx, is_idle);
        problems = firewalld_problems(fx->fw, &n);
        assert_int_equal(n, 2);
        assert_non_null(strstr(problems[0], "firewalld zone public: cannot open UDP 500 (IPv4 and IPv6): "
                                            "org.fedoraproject.FirewallD1.NotAuthorizedException"));
        assert_non_null(strstr(problems[0], "polkit"));
        assert_non_null(strstr(problems[1], "IPv4 UDP 4500"));
        assert_int_equal(fx->changes, 1);

        /* the same problems again: no change to tell */
        assert_int_equal(fake.adds, 2);
        OK(sd_bus_emit_signal(fake.bus, FIREWALLD_PATH, FIREWALLD_IFACE, "DefaultZoneChanged", "s", "public"));
        run_until(fx, tried_twice_more);
        (void) firewalld_problems(fx->fw, &n);
        assert_int_equal(n, 2);
        assert_int_equal(fx->changes, 1);

        fake.refuse = false;
        fake_reload();
        run_until(fx, has_no_problem);
        (void) firewalld_problems(fx->fw, &n);
        assert_int_equal(n, 0);
        assert_int_equal(fx->changes, 2);
        assert_int_equal(runtime_count(), 2);
}

/* firewalld's text goes to the bus and to bfectl: printable (no newline, no terminal escape)
 * and bounded, whatever firewalld says. */
static void test_refused_hostile_text(void **state) {
        Fixture *fx = *state;
        char *const *problems;
        char text[4096];
        size_t n;

        memset(text, 'x', sizeof(text) - 1);
        text[sizeof(text) - 1] = 0;
        memcpy(text, "no\n<0>forged\x1b[2J", strlen("no\n<0>forged\x1b[2J"));
        fake.refuse = true;
        fake.refuse_text = text;
        firewalld_set_wanted(fx->fw, true);
        run_until(fx, is_idle);
        problems = firewalld_problems(fx->fw, &n);
        assert_int_equal(n, 2);
        for (size_t i = 0; i < n; i++) {
                assert_non_null(strstr(problems[i], "no?<0>forged?[2J"));
                assert_true(strlen(problems[i]) <= 512);
                assert_true(utf8_is_valid(problems[i]));
        }
}

/* Reloaded: bfed opens its traffic again. A take-back firewalld handled just after a reload
 * removed the admin's port (the reload put it back from the permanent configuration): bfed
 * puts it back, and it is not bfed's to take back later. */
static void test_reload(void **state) {
        Fixture *fx = *state;

        firewalld_set_wanted(fx->fw, true);
        run_until(fx, is_idle);
        assert_int_equal(runtime_count(), 2);
        fake_reload();                  /* the permanent configuration has none of it */
        assert_int_equal(runtime_count(), 0);
        run_until(fx, has_openings);
        assert_int_equal(runtime_count(), 2);

        list_add(fake.permanent, "public 500/udp");      /* the admin's, permanent, not yet reloaded */
        fake.reload_before_remove = true;
        firewalld_set_wanted(fx->fw, false);
        run_until(fx, is_idle);
        assert_true(runtime_has("public", "500/udp"));
        assert_int_equal(runtime_count(), 1);

        firewalld_set_wanted(fx->fw, true);
        run_until(fx, is_idle);
        firewalld_set_wanted(fx->fw, false);
        run_until(fx, is_idle);
        assert_true(runtime_has("public", "500/udp"));  /* still the admin's */
        assert_int_equal(runtime_count(), 1);
}

static bool has_no_owner(Fixture *fx) {
        size_t n;

        (void) firewalld_problems(fx->fw, &n);
        return n == 1 && firewalld_is_idle(fx->fw);
}

/* firewalld goes (Firewalld=yes: a problem) and comes back: bfed opens its traffic in the new one. */
static void test_name_lost(void **state) {
        Fixture *fx = *state;
        char *const *problems;
        size_t n;

        firewalld_set_wanted(fx->fw, true);
        run_until(fx, is_idle);
        assert_int_equal(runtime_count(), 2);
        OK(sd_bus_release_name(fake.bus, FIREWALLD_NAME));
        list_clear(fake.runtime);       /* a new firewalld starts from its permanent configuration */
        run_until(fx, has_no_owner);
        problems = firewalld_problems(fx->fw, &n);
        assert_non_null(strstr(problems[0], "Firewalld=yes, but firewalld is not running"));

        fake_own_name();
        run_until(fx, has_openings);
        (void) firewalld_problems(fx->fw, &n);
        assert_int_equal(n, 0);
        assert_int_equal(fx->changes, 2);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_open_and_take_back, setup, teardown),
                cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_refused_hostile_text, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
                cmocka_unit_test_setup_teardown(test_name_lost, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
