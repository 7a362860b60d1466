/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bus-flood — a hostile or merely large caller of bfed, for tests/integration/limits.sh:
 *
 *   bus-flood sessions CONNS PER_CONN
 *       opens CONNS connections to the bus and PER_CONN dynamic sessions on each; prints
 *       "opened N refused M" and the first refusal ("refusal NAME MESSAGE"), then "ready",
 *       and holds them until it is killed.
 *   bus-flood fill N TEXTLEN
 *       adds N block filters (UDP, local ports 1024…, INBOUND_TRANSPORT_V4) in AddFilters
 *       calls of 1,000, each with a name and a description of TEXTLEN bytes; prints "filled N".
 *   bus-flood page N
 *       creates a filter enumeration handle, prints "handle H" and "paused", waits for SIGUSR1,
 *       then reads it in pages of N: prints the id of every filter ("id ID"), then
 *       "paged OBJECTS PAGES LARGEST" (LARGEST: the most objects in one page), then
 *       "destroyed" (or "error NAME MESSAGE").
 *   bus-flood handles N
 *       creates N filter enumeration handles on one connection; prints "created K refused M"
 *       and the first refusal ("refusal NAME MESSAGE").
 *   bus-flood unread enum|pages CONNS CALLS
 *       opens CONNS connections and sends CALLS calls on each — EnumFilters, or FilterEnum
 *       pages of an enumeration handle made first — without ever reading a reply; prints
 *       "sent N" and "ready", and holds the connections until it is killed.
 *
 * The bus is DBUS_SYSTEM_BUS_ADDRESS.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#define NAME "org.bfed.Engine1"
#define PATH "/org/bfed/Engine1"
#define IFACE "org.bfed.Engine1"

static int open_bus(sd_bus **ret) {
        int r = sd_bus_open_system(ret);

        if (r < 0)
                fprintf(stderr, "bus-flood: cannot connect: %s\n", strerror(-r));
        return r;
}

static void hold(void) {
        sigset_t set;
        int sig;

        printf("ready\n");
        fflush(stdout);
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        sigprocmask(SIG_BLOCK, &set, NULL);
        (void) sigwait(&set, &sig);
}

static int sessions(int conns, int per_conn) {
        sd_bus **buses = calloc((size_t) conns, sizeof(sd_bus *));
        int opened = 0, refused = 0;
        char first[512] = "";

        if (!buses)
                return 1;
        for (int c = 0; c < conns; c++) {
                if (open_bus(&buses[c]) < 0)
                        return 1;
                for (int i = 0; i < per_conn; i++) {
                        sd_bus_error error = SD_BUS_ERROR_NULL;
                        sd_bus_message *reply = NULL;
                        int r;

                        r = sd_bus_call_method(buses[c], NAME, PATH, IFACE, "OpenSession", &error, &reply, "a{sv}", 1,
                                               "Dynamic", "b", 1);
                        if (r >= 0)
                                opened++;
                        else {
                                refused++;
                                if (!first[0])
                                        snprintf(first, sizeof(first), "%s %s", error.name ?: "?",
                                                 error.message ?: strerror(-r));
                        }
                        sd_bus_error_free(&error);
                        sd_bus_message_unref(reply);
                }
        }
        printf("opened %d refused %d\n", opened, refused);
        if (first[0])
                printf("refusal %s\n", first);
        hold();
        for (int c = 0; c < conns; c++)
                sd_bus_close_unref(buses[c]);
        free(buses);
        return 0;
}

static uint64_t create_handle(sd_bus *bus, sd_bus_error *error) {
        sd_bus_message *reply = NULL;
        uint64_t h = 0;

        if (sd_bus_call_method(bus, NAME, PATH, IFACE, "CreateFilterEnumHandle", error, &reply, "a{sv}", 0) >= 0)
                (void) sd_bus_message_read(reply, "t", &h);
        sd_bus_message_unref(reply);
        return h;
}

static int page(unsigned n) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        unsigned objects = 0, pages = 0, largest = 0;
        uint64_t h;
        sigset_t set;
        sd_bus *bus;
        int more = 1, sig, r;

        if (open_bus(&bus) < 0)
                return 1;
        h = create_handle(bus, &error);
        if (!h) {
                printf("error %s %s\n", error.name, error.message);
                return 1;
        }
        printf("handle %llu\npaused\n", (unsigned long long) h);
        fflush(stdout);
        sigemptyset(&set);
        sigaddset(&set, SIGUSR1);
        sigprocmask(SIG_BLOCK, &set, NULL);
        (void) sigwait(&set, &sig);

        while (more) {
                sd_bus_message *reply = NULL;
                unsigned k = 0;

                r = sd_bus_call_method(bus, NAME, PATH, IFACE, "FilterEnum", &error, &reply, "tu", h, n);
                if (r < 0) {
                        printf("error %s %s\n", error.name, error.message);
                        return 1;
                }
                r = sd_bus_message_enter_container(reply, 'a', "a{sv}");
                while (r >= 0 && (r = sd_bus_message_enter_container(reply, 'a', "{sv}")) > 0) {
                        while ((r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                                const char *key;
                                uint64_t id;

                                r = sd_bus_message_read(reply, "s", &key);
                                if (r >= 0 && strcmp(key, "Id") == 0) {
                                        r = sd_bus_message_read(reply, "v", "t", &id);
                                        printf("id %llu\n", (unsigned long long) id);
                                } else if (r >= 0)
                                        r = sd_bus_message_skip(reply, "v");
                                if (r >= 0)
                                        r = sd_bus_message_exit_container(reply);
                                if (r < 0)
                                        break;
                        }
                        if (r >= 0)
                                r = sd_bus_message_exit_container(reply);
                        k++;
                }
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
                if (r >= 0)
                        r = sd_bus_message_read(reply, "b", &more);
                sd_bus_message_unref(reply);
                if (r < 0) {
                        printf("error reading %s\n", strerror(-r));
                        return 1;
                }
                objects += k;
                pages++;
                if (k > largest)
                        largest = k;
        }
        printf("paged %u %u %u\n", objects, pages, largest);
        r = sd_bus_call_method(bus, NAME, PATH, IFACE, "DestroyEnumHandle", &error, NULL, "t", h);
        if (r < 0)
                printf("error %s %s\n", error.name, error.message);
        else
                printf("destroyed\n");
        sd_bus_error_free(&error);
        sd_bus_flush_close_unref(bus);
        return 0;
}

static int handles(int n) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        int created = 0, refused = 0;
        char first[512] = "";
        sd_bus *bus;

        if (open_bus(&bus) < 0)
                return 1;
        for (int i = 0; i < n; i++) {
                if (create_handle(bus, &error))
                        created++;
                else {
                        refused++;
                        if (!first[0])
                                snprintf(first, sizeof(first), "%s %s", error.name ?: "?", error.message ?: "");
                }
                sd_bus_error_free(&error);
        }
        printf("created %d refused %d\n", created, refused);
        if (first[0])
                printf("refusal %s\n", first);
        sd_bus_flush_close_unref(bus);
        return 0;
}

static int fill(int n, int textlen) {
        char *text = malloc((size_t) textlen + 32), port[16];
        sd_bus *bus;
        int done = 0, r;

        if (!text || open_bus(&bus) < 0)
                return 1;
        while (done < n) {
                sd_bus_error error = SD_BUS_ERROR_NULL;
                sd_bus_message *m = NULL, *reply = NULL;
                int k = n - done < 1000 ? n - done : 1000;

                r = sd_bus_message_new_method_call(bus, &m, NAME, PATH, IFACE, "AddFilters");
                if (r >= 0)
                        r = sd_bus_message_open_container(m, 'a', "a{sv}");
                for (int i = 0; r >= 0 && i < k; i++) {
                        int len = snprintf(text, 32, "fill %d ", done + i);

                        memset(text + len, 'x', (size_t) textlen);
                        text[len + textlen] = 0;
                        snprintf(port, sizeof(port), "%d", 1024 + done + i);
                        r = sd_bus_message_append(m, "a{sv}", 5, "Name", "s", text, "Description", "s", text,
                                                  "Layer", "s", "INBOUND_TRANSPORT_V4", "Action", "u", 0x1001u,
                                                  "Conditions", "a(sus)", 2, "IP_PROTOCOL", 0u, "udp",
                                                  "IP_LOCAL_PORT", 0u, port);
                }
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
                if (r >= 0)
                        r = sd_bus_call(bus, m, 0, &error, &reply);
                sd_bus_message_unref(m);
                sd_bus_message_unref(reply);
                if (r < 0) {
                        fprintf(stderr, "bus-flood: AddFilters: %s\n", error.message ?: strerror(-r));
                        return 1;
                }
                sd_bus_error_free(&error);
                done += k;
        }
        printf("filled %d\n", done);
        free(text);
        sd_bus_flush_close_unref(bus);
        return 0;
}

static int unread(const char *what, int conns, int calls) {
        sd_bus **buses = calloc((size_t) conns, sizeof(sd_bus *));
        int sent = 0;

        if (!buses)
                return 1;
        for (int c = 0; c < conns; c++) {
                uint64_t handle = 0;
                sd_bus *bus;
                int r;

                if (open_bus(&buses[c]) < 0)
                        return 1;
                bus = buses[c];
                if (strcmp(what, "pages") == 0) {
                        sd_bus_error error = SD_BUS_ERROR_NULL;
                        sd_bus_message *reply = NULL;

                        r = sd_bus_call_method(bus, NAME, PATH, IFACE, "CreateFilterEnumHandle", &error, &reply,
                                               "a{sv}", 0);
                        if (r < 0 || sd_bus_message_read(reply, "t", &handle) < 0) {
                                fprintf(stderr, "bus-flood: CreateFilterEnumHandle: %s\n",
                                        error.message ?: strerror(-r));
                                return 1;
                        }
                        sd_bus_message_unref(reply);
                }
                for (int i = 0; i < calls; i++) {
                        sd_bus_message *m = NULL;

                        r = sd_bus_message_new_method_call(bus, &m, NAME, PATH, IFACE,
                                                           handle ? "FilterEnum" : "EnumFilters");
                        if (r >= 0)
                                r = handle ? sd_bus_message_append(m, "tu", handle, 10000u)
                                           : sd_bus_message_append(m, "a{sv}", 0);
                        /* sent, and the reply never read: nothing here ever processes the bus */
                        if (r >= 0)
                                r = sd_bus_send(bus, m, NULL);
                        sd_bus_message_unref(m);
                        if (r < 0) {
                                fprintf(stderr, "bus-flood: send: %s\n", strerror(-r));
                                break;
                        }
                        sent++;
                }
                (void) sd_bus_flush(bus);
        }
        printf("sent %d\n", sent);
        hold();
        for (int c = 0; c < conns; c++)
                sd_bus_close_unref(buses[c]);
        free(buses);
        return 0;
}

int main(int argc, char *argv[]) {
        if (argc == 4 && strcmp(argv[1], "sessions") == 0)
                return sessions(atoi(argv[2]), atoi(argv[3]));
        if (argc == 3 && strcmp(argv[1], "page") == 0)
                return page((unsigned) atoi(argv[2]));
        if (argc == 3 && strcmp(argv[1], "handles") == 0)
                return handles(atoi(argv[2]));
        if (argc == 4 && strcmp(argv[1], "fill") == 0)
                return fill(atoi(argv[2]), atoi(argv[3]));
        if (argc == 5 && strcmp(argv[1], "unread") == 0)
                return unread(argv[2], atoi(argv[3]), atoi(argv[4]));
        fprintf(stderr, "usage: bus-flood sessions CONNS PER_CONN | fill N TEXTLEN | page N | handles N |\n"
                        "       unread enum|pages CONNS CALLS\n");
        return 2;
}
