/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bridge.c — bfed-vici's side of charon: see bridge.h for how it follows the connections. */
#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>

#include <systemd/sd-event.h>

#include "bridge.h"
#include "conns.h"
#include "log.h"
#include "macro.h"
#include "marks.h"
#include "policy.h"
#include "swconf.h"
#include "utf8.h"
#include "vici.h"

#define RECONNECT_MIN_USEC (100 * 1000)
#define RECONNECT_MAX_USEC (2000 * 1000)

/* The log lines of a load-conn (vici_config.c's merge_config()): after one, list again. */
static const char *const load_messages[] = {
        "added vici connection: ",
        "updated vici connection: ",
        "replaced vici connection: ",
};

struct Bridge {
        sd_event *event;
        char *vici_path, *swconf_path;
        ViciConn *vici;
        Policy *policy;
        sd_event_source *reconnect, *poll, *watch;
        uint64_t backoff;
        bool waiting_said;              /* "waiting for charon" was logged since the last connection */
        bool listing, relist, polling;
        unsigned polls;
        Conns listed;                   /* the list-conn events of the list-conns in flight */
        char *vici_names;               /* get-conns' last answer: sorted names, each with its NUL */
        size_t vici_names_size;
        char *daemon;                   /* charon's name for itself (version), NULL until known */
        bool charon_mark_known, charon_mark_set;
        uint32_t charon_mark;
        char *charon_mark_key;
        int said;                       /* the MarksVerdict last logged, or -1 */
};

/* ---- the marks ----------------------------------------------------------------------------- */

/* Reads charon's socket mark from strongswan.conf, for the daemon charon says it is. */
static void read_charon_mark(Bridge *b) {
        _cleanup_(swconf_freep) SwConf *conf = swconf_new();
        _cleanup_(freep) char *error = NULL;
        const char *key = NULL;
        int r;

        b->charon_mark_known = false;
        b->charon_mark_key = mfree(b->charon_mark_key);
        if (!conf)
                return;
        r = swconf_load(conf, b->swconf_path, &error);
        if (r < 0) {
                log_warning("Cannot read charon's socket mark from %s: %s; it is not compared with bfed's SocketMark.",
                            b->swconf_path, error ?: strerror(-r));
                return;
        }
        r = marks_charon(conf, b->daemon, &b->charon_mark, &key);
        if (r < 0) {
                log_warning("%s: %s is not a mark; charon's socket mark is not compared with bfed's SocketMark.",
                            b->swconf_path, key);
                return;
        }
        b->charon_mark_key = strdup(key);
        b->charon_mark_known = !!b->charon_mark_key;
        b->charon_mark_set = r > 0;
}

static void check_marks(Bridge *b) {
        uint32_t bfed;
        MarksVerdict v;

        if (!b->charon_mark_known || !policy_get_bfed_mark(b->policy, &bfed))
                return;
        v = marks_compare(b->charon_mark_set, b->charon_mark, bfed);
        if ((int) v == b->said)
                return;
        b->said = v;
        switch (v) {
        case MARKS_MATCH:
                log_info("charon's socket mark (%s) is bfed's SocketMark, 0x%x.", b->charon_mark_key, bfed);
                break;
        case MARKS_NEITHER:
                log_notice("Neither charon (%s) nor bfed (SocketMark) sets a socket mark: any local process may "
                           "receive IKE through bfed's exemption. Set both to the same value.", b->charon_mark_key);
                break;
        case MARKS_CHARON_ONLY:
                log_warning("charon marks its sockets 0x%x (%s), but bfed's SocketMark is not set: any local "
                            "process may receive IKE through bfed's exemption. Set SocketMark=0x%x in bfed.conf.",
                            b->charon_mark, b->charon_mark_key, b->charon_mark);
                break;
        case MARKS_BFED_ONLY:
                log_warning("bfed's SocketMark is 0x%x, but charon sets no socket mark (%s): IKE to charon is not "
                            "exempt where bfed's filters block it. Set %s = 0x%x in strongswan.conf.",
                            bfed, b->charon_mark_key, b->charon_mark_key, bfed);
                break;
        case MARKS_DIFFER:
                log_warning("bfed's SocketMark is 0x%x, but charon marks its sockets 0x%x (%s): IKE to charon is "
                            "not exempt where bfed's filters block it. Make them the same.",
                            bfed, b->charon_mark, b->charon_mark_key);
                break;
        }
}

static void on_policy_changed(Policy *p, void *userdata) {
        check_marks(userdata);
}

/* ---- listing the connections --------------------------------------------------------------- */

static void start_list(Bridge *b);

static void on_listed(ViciConn *c, int r, const ViciMessage *reply, void *userdata) {
        Bridge *b = userdata;

        b->listing = false;
        if (r < 0)
                log_error_errno(r, "charon refused list-conns: %m");
        else {
                conns_finish(&b->listed);
                log_debug("charon lists %zu connections.", b->listed.n);
                if (b->listed.n_dropped > 0)
                        log_warning("charon has %zu connections more than the %d the bridge keeps a policy for: "
                                    "those after the first %d by name have none.",
                                    b->listed.n_dropped, CONNS_MAX, CONNS_MAX);
                r = policy_set_conns(b->policy, &b->listed);
                if (r < 0)
                        log_error_errno(r, "Failed to follow charon's connections: %m");
        }
        conns_done(&b->listed);
        if (b->relist) {
                b->relist = false;
                start_list(b);
        }
}

static int compare_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* get-conns' names, sorted, as one block of NUL-terminated strings. */
static int names_block(const ViciMessage *m, char **ret, size_t *ret_size) {
        ViciNode list = vici_find(m, VICI_ROOT, VICI_LIST_START, "conns");
        _cleanup_(freep) const char **names = NULL;
        _cleanup_(freep) char *block = NULL;
        size_t n = 0, size = 0, o = 0;

        VICI_FOREACH(i, m, list) {
                n++;
                size += strlen(vici_node_value(m, i, NULL)) + 1;
        }
        names = calloc(n ?: 1, sizeof(char *));
        block = malloc(size ?: 1);
        if (!names || !block)
                return -ENOMEM;
        n = 0;
        VICI_FOREACH(i, m, list)
                names[n++] = vici_node_value(m, i, NULL);
        qsort(names, n, sizeof(char *), compare_str);
        for (size_t i = 0; i < n; i++) {
                size_t len = strlen(names[i]) + 1;

                memcpy(block + o, names[i], len);
                o += len;
        }
        *ret = TAKE_PTR(block);
        *ret_size = size;
        return 0;
}

/* Keeps get-conns' answer as what the polls compare with; with @compare, lists the connections
 * again when it differs. */
static void take_names(Bridge *b, int r, const ViciMessage *reply, bool compare) {
        _cleanup_(freep) char *block = NULL;
        size_t size;

        if (r < 0) {
                log_debug_errno(r, "charon refused get-conns: %m");
                return;
        }
        if (names_block(reply, &block, &size) < 0)
                return;
        if (b->vici_names && size == b->vici_names_size && memcmp(block, b->vici_names, size) == 0)
                return;
        free(b->vici_names);
        b->vici_names = TAKE_PTR(block);
        b->vici_names_size = size;
        if (compare) {
                log_debug("The names of charon's vici connections changed: listing them.");
                start_list(b);
        }
}

static void on_poll_names(ViciConn *c, int r, const ViciMessage *reply, void *userdata) {
        Bridge *b = userdata;

        b->polling = false;
        take_names(b, r, reply, true);
}

static void on_list_names(ViciConn *c, int r, const ViciMessage *reply, void *userdata) {
        take_names(userdata, r, reply, false);
}

static void start_list(Bridge *b) {
        int r;

        if (!b->vici)
                return;
        if (b->listing) {
                b->relist = true;       /* what changed may be after charon's answer: once more */
                return;
        }
        /* the names first: a poll compares with what they were when charon listed its connections */
        r = vici_conn_command(b->vici, "get-conns", NULL, 0, on_list_names, b);
        if (r >= 0)
                r = vici_conn_command(b->vici, "list-conns", NULL, 0, on_listed, b);
        if (r < 0) {
                log_error_errno(r, "Failed to ask charon for its connections: %m");
                return;
        }
        b->listing = true;
}

static int on_poll(sd_event_source *s, uint64_t usec, void *userdata) {
        Bridge *b = userdata;

        (void) sd_event_source_set_time_relative(s, BRIDGE_POLL_USEC);
        if (!b->vici || b->polling)
                return 0;
        if (++b->polls % BRIDGE_LIST_EVERY == 0)
                start_list(b);
        else if (!b->listing && vici_conn_command(b->vici, "get-conns", NULL, 0, on_poll_names, b) >= 0)
                b->polling = true;
        return 0;
}

/* ---- charon's events ----------------------------------------------------------------------- */

static void on_event(ViciConn *c, const char *name, const ViciMessage *m, void *userdata) {
        Bridge *b = userdata;

        if (streq(name, "list-conn")) {
                if (b->listing && conns_add_event(&b->listed, m) < 0)
                        log_error("Out of memory reading charon's connections.");
                return;
        }
        if (streq(name, "log")) {
                const char *msg = vici_find_str(m, VICI_ROOT, "msg");

                for (size_t i = 0; msg && i < ELEMENTSOF(load_messages); i++)
                        if (startswith(msg, load_messages[i])) {
                                log_debug("charon logged a load: listing its connections.");
                                start_list(b);
                                return;
                        }
        }
}

static void on_registered(ViciConn *c, int r, const ViciMessage *reply, void *userdata) {
        if (r < 0)
                log_warning_errno(r, "charon refused the event registration: %m; loads are seen by polling only.");
}

static void on_version(ViciConn *c, int r, const ViciMessage *reply, void *userdata) {
        Bridge *b = userdata;
        const char *daemon = reply ? vici_find_str(reply, VICI_ROOT, "daemon") : NULL;
        const char *version = reply ? vici_find_str(reply, VICI_ROOT, "version") : NULL;
        _cleanup_(freep) char *shown = NULL, *shown_version = NULL;

        /* a daemon name of another program's bytes: only a plain one is used as a setting's name */
        if (!daemon || !*daemon || strlen(daemon) > 64 || strpbrk(daemon, ".{}=:,\"# \t\n"))
                daemon = "charon";
        shown_version = version ? utf8_escape(version, strlen(version), 64) : NULL;
        free(b->daemon);
        b->daemon = strdup(daemon);
        shown = b->daemon ? utf8_escape(b->daemon, strlen(b->daemon), 64) : NULL;
        log_info("Connected to %s %s at %s.", shown ?: "charon", shown_version ?: "(version unknown)", b->vici_path);
        if (!b->daemon)
                return;
        read_charon_mark(b);
        b->said = -1;
        check_marks(b);
}

/* ---- the connection to charon -------------------------------------------------------------- */

static void schedule_reconnect(Bridge *b) {
        (void) sd_event_source_set_time_relative(b->reconnect, b->backoff);
        (void) sd_event_source_set_enabled(b->reconnect, SD_EVENT_ONESHOT);
        b->backoff = b->backoff * 2 > RECONNECT_MAX_USEC ? RECONNECT_MAX_USEC : b->backoff * 2;
}

static void forget_charon(Bridge *b) {
        b->listing = b->relist = b->polling = false;
        conns_done(&b->listed);
        b->vici_names = mfree(b->vici_names);
        b->daemon = mfree(b->daemon);
        b->charon_mark_known = false;
        (void) sd_event_source_set_enabled(b->poll, SD_EVENT_OFF);
}

static void on_close(ViciConn *c, int error, const char *reason, void *userdata) {
        Bridge *b = userdata;
        int r;

        if (error == -ECONNRESET)
                log_notice("charon went (%s): its connections' policy goes.", reason);
        else
                log_error("charon's vici connection ended: %s; its connections' policy goes.", reason);
        b->vici = vici_conn_free(b->vici);
        forget_charon(b);
        r = policy_set_conns(b->policy, NULL);
        if (r < 0)
                log_error_errno(r, "Failed to delete the policy: %m");
        b->backoff = RECONNECT_MIN_USEC;
        b->waiting_said = false;
        schedule_reconnect(b);
}

static void try_connect(Bridge *b) {
        int r;

        if (b->vici)
                return;
        r = vici_conn_new(b->event, b->vici_path, &b->vici);
        if (r < 0) {
                if (!b->waiting_said)
                        log_notice("Waiting for charon's vici socket %s: %s.", b->vici_path, strerror(-r));
                b->waiting_said = true;
                schedule_reconnect(b);
                return;
        }
        vici_conn_set_handlers(b->vici, on_event, on_close, b);
        (void) sd_event_source_set_enabled(b->reconnect, SD_EVENT_OFF);
        /* in order: who charon is, the events, the names a poll compares with, the connections */
        r = vici_conn_command(b->vici, "version", NULL, 0, on_version, b);
        if (r >= 0)
                r = vici_conn_register(b->vici, "log", on_registered, b);
        if (r >= 0)
                r = vici_conn_register(b->vici, "list-conn", on_registered, b);
        if (r < 0) {
                log_error_errno(r, "Failed to talk to charon: %m");
                b->vici = vici_conn_free(b->vici);
                schedule_reconnect(b);
                return;
        }
        start_list(b);
        b->polls = 0;
        (void) sd_event_source_set_time_relative(b->poll, BRIDGE_POLL_USEC);
        (void) sd_event_source_set_enabled(b->poll, SD_EVENT_ON);
}

static int on_reconnect(sd_event_source *s, uint64_t usec, void *userdata) {
        try_connect(userdata);
        return 0;
}

/* Something happened to the socket's name in its folder: charon may be back. */
static int on_watch(sd_event_source *s, const struct inotify_event *ev, void *userdata) {
        Bridge *b = userdata;
        _cleanup_(freep) char *copy = strdup(b->vici_path);

        if (!b->vici && copy && ev->len > 0 && streq(ev->name, basename(copy))) {
                b->backoff = RECONNECT_MIN_USEC;
                try_connect(b);
        }
        return 0;
}

/* ---- the API ------------------------------------------------------------------------------- */

Bridge *bridge_free(Bridge *b) {
        if (!b)
                return NULL;
        vici_conn_free(b->vici);
        forget_charon(b);
        policy_free(b->policy);
        sd_event_source_disable_unref(b->reconnect);
        sd_event_source_disable_unref(b->poll);
        sd_event_source_disable_unref(b->watch);
        sd_event_unref(b->event);
        free_many(b->vici_path, b->swconf_path, b->charon_mark_key);
        free(b);
        return NULL;
}

int bridge_new(sd_event *event, const BridgeConfig *config, Bridge **ret) {
        _cleanup_(bridge_freep) Bridge *b = NULL;
        _cleanup_(freep) char *dir = NULL;
        int r;

        b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        b->event = sd_event_ref(event);
        b->said = -1;
        b->backoff = RECONNECT_MIN_USEC;
        b->vici_path = strdup(config->vici_path);
        b->swconf_path = strdup(config->swconf_path);
        dir = strdup(config->vici_path);
        if (!b->vici_path || !b->swconf_path || !dir)
                return -ENOMEM;
        r = policy_new(event, &b->policy);
        if (r < 0)
                return r;
        policy_set_callback(b->policy, on_policy_changed, b);
        r = sd_event_add_time_relative(event, &b->reconnect, CLOCK_MONOTONIC, 0, 0, on_reconnect, b);
        if (r >= 0)
                r = sd_event_source_set_enabled(b->reconnect, SD_EVENT_OFF);
        /* sd-event's default accuracy, 250 ms, would make a 500 ms poll a 750 ms one */
        if (r >= 0)
                r = sd_event_add_time_relative(event, &b->poll, CLOCK_MONOTONIC, BRIDGE_POLL_USEC,
                                               BRIDGE_POLL_ACCURACY_USEC, on_poll, b);
        if (r >= 0)
                r = sd_event_source_set_enabled(b->poll, SD_EVENT_OFF);
        if (r < 0)
                return r;
        /* without the watch, the timer alone finds charon back */
        r = sd_event_add_inotify(event, &b->watch, dirname(dir), IN_CREATE | IN_MOVED_TO | IN_ATTRIB | IN_ONLYDIR,
                                 on_watch, b);
        if (r < 0)
                log_debug_errno(r, "Cannot watch the folder of %s: %m", b->vici_path);
        try_connect(b);
        *ret = TAKE_PTR(b);
        return 0;
}
