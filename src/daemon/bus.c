/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bus.c — the connection to the system bus and the way of a method call. See bus.h.
 *
 * Losing the bus (the bus daemon died, restarted, or threw bfed off) is noticed through
 * sd-bus's local Disconnected signal. bfed logs it, ends everything its callers held (their
 * sessions are closed: a dynamic session's objects go, as when a caller dies), and connects
 * again, owning its name again, without touching the table. If that fails for
 * BusTimeoutSec, it exits with a failure status for the service manager to restart it, but
 * only where the table outlives bfed (the persist flag, or TableOwner=no); otherwise exiting
 * would leave the host without its table, and bfed keeps trying.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/netfilter/nf_tables.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "bus-engine.h"
#include "bus-private.h"
#include "bus-signals.h"
#include "bus.h"
#include "compile.h"
#include "firewalld.h"
#include "journal.h"
#include "list.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "polkit.h"
#include "session-bus.h"
#include "session.h"
#include "utf8.h"

#define RECONNECT_FIRST_USEC (100 * 1000ULL)
#define RECONNECT_MAX_USEC (2 * 1000000ULL)

static Bus *bus_of(Manager *m) {
        return m->hooks_userdata;
}

/* ---- errors -------------------------------------------------------------------------------- */

int bus_error_set(sd_bus_error *error, int r, const EngineError *err) {
        uint32_t code = wfp_code_from_ret(r);
        const WfpErrorInfo *info = wfp_error_info(code);
        char message[ENGINE_ERROR_MAX];

        (void) snprintf(message, sizeof(message), "%s", err && err->message[0] ? err->message : "");
        utf8_make_valid(message);
        if (info)
                return sd_bus_error_setf(error, info->bus_name, "%s (0x%08" PRIX32 "): %s", info->name, info->code,
                                         err && err->code == code ? message : "");
        if (r == -ENOMEM)
                return sd_bus_error_set_errno(error, r);
        return sd_bus_error_setf(error, SD_BUS_ERROR_FAILED, "%s", message[0] ? message : bfe_strerror(r));
}

/* Every call gets a reply: if the error cannot be sent as it is, a plain one goes instead. */
static void reply_error(sd_bus_message *msg, int r, const EngineError *err) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

        (void) bus_error_set(&error, r, err);
        if (sd_bus_reply_method_error(msg, &error) < 0)
                (void) sd_bus_reply_method_errorf(msg, SD_BUS_ERROR_FAILED, "%s", bfe_strerror(r));
}

/* ---- peers --------------------------------------------------------------------------------- */

static Peer *peer_ref(Peer *p) {
        p->n_ref++;
        return p;
}

static void peer_unref(Peer *p) {
        if (!p || --p->n_ref > 0)
                return;
        sd_bus_slot_unref(p->query);
        free(p->name);
        free(p);
}

static void peer_unlink(Peer *p) {
        LIST_REMOVE(p->bus->peers, p);
}

static void bus_call_go(BusCall *bc);
static void bus_call_finish(BusCall *bc, int r, const EngineError *err);

static bool has_room(const Bus *b, const Peer *p) {
        if (p->conn)            /* its own connection: only its replies stand in its way */
                return p->queued < BUS_PEER_QUEUED_MAX;
        return b->queued < BUS_QUEUED_MAX && p->queued < BUS_PEER_QUEUED_MAX;
}

/* Sends on the parked calls of @p that can go now, in order. */
static void peer_release(Peer *p) {
        peer_ref(p);
        while (p->parked) {
                BusCall *bc = p->parked;

                if (p->state == PEER_QUERYING || (bc->polkit && p->state != PEER_GONE))
                        break;
                if (p->state == PEER_KNOWN && bc->method->big && !has_room(p->bus, p))
                        break;
                p->parked = bc->next_parked;
                if (!p->parked)
                        p->parked_tail = NULL;
                bc->next_parked = NULL;
                bus_call_go(bc);
        }
        peer_unref(p);
}

static void park(BusCall *bc) {
        Peer *p = bc->peer;

        if (p->parked_tail)
                p->parked_tail->next_parked = bc;
        else
                p->parked = bc;
        p->parked_tail = bc;
}

/*
 * The command name of @p's process, for the log only, read once while it waits for its first
 * call's answer (so the process is there). Best effort: the bus daemon does not tell it, and
 * under ProtectProc=invisible a bfed that is not root sees no other user's /proc/PID; then it
 * stays "" and the log leaves BFED_CALLER_COMM= out.
 */
static void peer_read_comm(Peer *p) {
        char path[32];
        ssize_t n;
        int fd;

        p->comm[0] = 0;
        if (p->pid <= 0)
                return;
        (void) snprintf(path, sizeof(path), "/proc/%d/comm", (int) p->pid);
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                log_debug_errno(errno, "Peer %s: cannot read %s: %m", p->name, path);
                return;
        }
        n = read(fd, p->comm, sizeof(p->comm) - 1);
        (void) close(fd);
        if (n < 0)
                n = 0;
        p->comm[n] = 0;
        p->comm[strcspn(p->comm, "\n")] = 0;
        /* the process names itself: nothing but printable ASCII goes into the log */
        for (char *c = p->comm; *c; c++)
                if (*c < 0x20 || *c >= 0x7f)
                        *c = '?';
}

static void peer_known(Peer *p, uid_t uid, pid_t pid) {
        p->uid = uid;
        p->pid = pid;
        peer_read_comm(p);
        /* from the bus daemon, never /proc: a capability read there races with pid reuse, and
         * ProtectProc=invisible hides other users' processes from bfed.service */
        p->privileged = uid == 0;
        p->state = PEER_KNOWN;
        log_debug("Peer %s: uid %u, pid %d%s%s%s.", p->name, (unsigned) uid, (int) pid, p->comm[0] ? ", " : "",
                  p->comm, p->privileged ? ", privileged" : "");
        peer_release(p);
}

static int on_creds(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Peer *p = userdata;
        uint32_t uid = UINT32_MAX, pid = 0;
        const char *key;
        int r;

        p->query = sd_bus_slot_unref(p->query);
        if (sd_bus_message_is_method_error(reply, NULL)) {
                /* gone before the bus daemon could say who it was */
                log_debug("Peer %s: no credentials: %s", p->name, sd_bus_message_get_error(reply)->message);
                p->state = PEER_GONE;
                peer_release(p);
                return 0;
        }
        r = sd_bus_message_enter_container(reply, 'a', "{sv}");
        while (r > 0 && (r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                r = sd_bus_message_read(reply, "s", &key);
                if (r >= 0 && streq(key, "UnixUserID"))
                        r = sd_bus_message_read(reply, "v", "u", &uid);
                else if (r >= 0 && streq(key, "ProcessID"))
                        r = sd_bus_message_read(reply, "v", "u", &pid);
                else if (r >= 0)
                        r = sd_bus_message_skip(reply, "v");
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
                if (r >= 0)
                        r = 1;
        }
        if (r < 0 || uid == UINT32_MAX) {
                log_warning("Peer %s: cannot read its credentials; treating it as unprivileged.", p->name);
                uid = UINT32_MAX - 1;   /* nobody we know */
        }
        peer_known(p, (uid_t) uid, (pid_t) pid);
        return 0;
}

/* The peer @name; @conn is its private connection, NULL on the bus. */
static Peer *peer_get(Bus *b, const char *name, sd_bus *conn) {
        Peer *p;
        int r;

        for (p = b->peers; p; p = p->next)
                if (streq(p->name, name)) {
                        if (p != b->peers) {    /* the busy ones stay near the front */
                                peer_unlink(p);
                                LIST_PREPEND(b->peers, p);
                        }
                        return p;
                }

        p = calloc(1, sizeof(*p));
        if (!p)
                return NULL;
        p->bus = b;
        p->conn = conn;
        p->n_ref = 1;                   /* the list's */
        p->state = PEER_QUERYING;
        p->name = strdup(name);
        if (!p->name) {
                free(p);
                return NULL;
        }
        LIST_PREPEND(b->peers, p);

        if (b->direct || conn) {
                _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *c = NULL;
                uid_t uid = UINT32_MAX - 1;
                pid_t pid = 0;

                /* the socket's peer (SO_PEERCRED) */
                if (sd_bus_get_owner_creds(conn ?: b->bus, SD_BUS_CREDS_EUID | SD_BUS_CREDS_PID, &c) >= 0) {
                        (void) sd_bus_creds_get_euid(c, &uid);
                        (void) sd_bus_creds_get_pid(c, &pid);
                }
                p->uid = uid;
                p->pid = pid;
                peer_read_comm(p);
                p->privileged = uid == 0;
                p->state = PEER_KNOWN;
                return p;
        }
        r = sd_bus_call_method_async(b->client ?: b->bus, &p->query, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                     "org.freedesktop.DBus", "GetConnectionCredentials", on_creds, p, "s", name);
        if (r < 0) {
                log_warning_errno(r, "Failed to ask for the credentials of %s, treating it as unprivileged: %m", name);
                p->uid = UINT32_MAX - 1;
                p->state = PEER_KNOWN;
        }
        return p;
}

void bus_peer_gone(Bus *b, const char *name) {
        Peer *p;

        for (p = b->peers; p; p = p->next)
                if (streq(p->name, name))
                        break;
        if (!p)
                return;         /* never called us: holds nothing */
        p->state = PEER_GONE;
        p->query = sd_bus_slot_unref(p->query);
        peer_unlink(p);
        manager_peer_gone(b->manager, name);
        peer_release(p);        /* its parked calls end */
        peer_unref(p);
}

static unsigned uid_parked(const Bus *b, uid_t uid) {
        unsigned n = 0;

        for (const Peer *p = b->peers; p; p = p->next)
                if (p->uid == uid)
                        for (const BusCall *bc = p->parked; bc; bc = bc->next_parked)
                                n++;
        return n;
}

/* ---- the queue of big replies -------------------------------------------------------------- */

/* Room again: the parked calls go, peer by peer, while there is room. */
static void release_parked(Bus *b) {
        for (Peer *p = b->peers, *next; p; p = next) {
                next = p->next;
                if (p->parked && has_room(b, p))
                        peer_release(p);
        }
}

static void sync_send(Bus *b);

static int on_sync(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Bus *b = userdata;

        /* the bus daemon has handled everything bfed sent before the sync */
        b->sync = sd_bus_slot_unref(b->sync);
        b->queued -= b->covered;
        b->covered = 0;
        for (Peer *p = b->peers; p; p = p->next) {
                p->queued -= p->covered;
                p->covered = 0;
        }
        if (b->queued > 0)
                sync_send(b);
        release_parked(b);
        return 0;
}

static void sync_send(Bus *b) {
        int r;

        if (b->sync || b->direct || !b->bus)
                return;
        r = sd_bus_call_method_async(b->bus, &b->sync, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                     "org.freedesktop.DBus", "GetId", on_sync, b, NULL);
        if (r < 0) {
                log_debug_errno(r, "Failed to send a sync to the bus daemon, counting the replies as taken: %m");
                b->covered = b->queued;
                for (Peer *p = b->peers; p; p = p->next)
                        p->covered = p->queued;
                (void) on_sync(NULL, b, NULL);
                return;
        }
        b->covered = b->queued;
        for (Peer *p = b->peers; p; p = p->next)
                p->covered = p->queued;
}

/* A big reply of @size bytes went to @p. */
static void account(Bus *b, Peer *p, size_t size) {
        if (p)
                p->queued += size;
        if (p && p->conn)
                return;         /* on_post() sees its connection's queue empty */
        b->queued += size;
        sync_send(b);
}

static int on_post(sd_event_source *source, void *userdata) {
        Bus *b = userdata;
        uint64_t q = 0, in = 0;

        /* (after every event: the peers are walked only while root's private connections exist) */
        for (Peer *p = b->privates ? b->peers : NULL; p; p = p->next)
                if (p->conn && p->queued > 0 && sd_bus_get_n_queued_write(p->conn, &q) >= 0 && q == 0) {
                        p->queued = 0;
                        peer_release(p);
                }
        if (!b->bus || sd_bus_get_n_queued_write(b->bus, &q) < 0)
                return 0;
        /* While replies drain slowly, the connection is ready to write on every iteration and the
         * group's commit, which waits for a quiet loop, would wait for all of them: commit it
         * once no call is queued to be read instead. */
        if (q > 0 && b->manager->group_open && sd_bus_get_n_queued_read(b->bus, &in) >= 0 && in == 0)
                group_flush(b->manager);
        /* on a direct connection nobody relays: what left bfed's queue is taken */
        if (b->direct && b->queued > 0 && q == 0) {
                b->queued = 0;
                for (Peer *p = b->peers; p; p = p->next)
                        p->queued = 0;
                release_parked(b);
        }
        return 0;
}

/* ---- a call's way -------------------------------------------------------------------------- */

static void bus_call_free(BusCall *bc) {
        if (!bc)
                return;
        if (bc->method->done)
                bc->method->done(bc);
        sd_bus_slot_unref(bc->polkit);  /* cancels an open question */
        sd_bus_message_unref(bc->reply);
        sd_bus_message_unref(bc->msg);
        if (bc->peer) {
                bc->peer->n_calls--;
                peer_unref(bc->peer);
        }
        free(bc);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(BusCall *, bus_call_free);

static void bus_call_finish(BusCall *bc, int r, const EngineError *err) {
        Bus *b = bc->bus;

        if (bc->answered) {
                bus_call_free(bc);
                return;
        }
        if (r >= 0 && !bc->reply && bc->method->reply)
                r = bc->method->reply(bc);
        if (r >= 0 && !bc->reply)
                r = sd_bus_message_new_method_return(bc->msg, &bc->reply);
        if (r >= 0) {
                r = sd_bus_send(NULL, bc->reply, NULL);
                if (r >= 0 && bc->method->big)
                        account(b, bc->peer, bc->reply_size);
                if (r < 0)
                        log_debug_errno(r, "Failed to send the reply to %s of %s: %m", bc->method->name,
                                        bc->peer ? bc->peer->name : "?");
                r = 0;
        }
        if (r < 0)
                reply_error(bc->msg, r, err);
        bus_call_free(bc);
}

static int call_run(Call *c, EngineError *err) {
        BusCall *bc = (BusCall *) c;

        return bc->method->run(bc, err);
}

static void call_done(Call *c, int r, const EngineError *err) {
        bus_call_finish((BusCall *) c, r, err);
}

/* ---- authorization ------------------------------------------------------------------------- */

/* Changes need root or polkit's yes; reads, and read-only transactions, are anyone's. */
static bool needs_authorization(const BusCall *bc) {
        return bc->method->privileged && !bc->peer->privileged && !bc->authorized &&
               !(bc->call.kind == CALL_BEGIN && bc->call.read_only);
}

/* Refuses @bc, says why in the log (at notice: an admin looks for these) and to the caller. */
static void refuse(BusCall *bc, const char *error_name, const char *why) {
        Peer *p = bc->peer;
        const char *fields[5];
        char buf[256];

        journal_caller_fields(p->name, p->comm, p->uid, p->pid, buf, fields);
        log_struct(LOG_NOTICE, fields, "Refused %s from %s (uid %u, pid %d): %s.", bc->method->name, p->name,
                   (unsigned) p->uid, (int) p->pid, why);
        (void) sd_bus_reply_method_errorf(bc->msg, error_name, "%s needs authorization for %s: %s", bc->method->name,
                                          POLKIT_ACTION_MANAGE, why);
        bus_call_free(bc);
}

static void on_polkit(int r, const sd_bus_error *error, void *userdata) {
        BusCall *bc = userdata;
        Peer *p = peer_ref(bc->peer);

        bc->polkit = sd_bus_slot_unref(bc->polkit);
        if (r == POLKIT_YES)
                bc->authorized = true;  /* goes on from the head of the peer's parked calls */
        else {
                char why[256];

                p->parked = bc->next_parked;
                if (!p->parked)
                        p->parked_tail = NULL;
                bc->next_parked = NULL;
                if (r == POLKIT_CHALLENGE && !sd_bus_message_get_allow_interactive_authorization(bc->msg))
                        refuse(bc, SD_BUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED,
                               "polkit wants to authenticate the caller, which did not allow interaction");
                else if (r == POLKIT_CHALLENGE)
                        refuse(bc, SD_BUS_ERROR_ACCESS_DENIED,
                               "polkit wants to authenticate the caller, and no authentication agent did");
                else if (r == POLKIT_NO)
                        refuse(bc, SD_BUS_ERROR_ACCESS_DENIED, "polkit said no");
                else {
                        (void) snprintf(why, sizeof(why), "polkit did not answer (%s)",
                                        error && error->name ? error->name : "?");
                        utf8_make_valid(why);
                        refuse(bc, SD_BUS_ERROR_ACCESS_DENIED, why);
                }
        }
        peer_release(p);        /* the calls behind it */
        peer_unref(p);
}

/* Asks polkit about @bc, which waits for the answer at the head of its peer's parked calls. */
static void authorize(BusCall *bc) {
        Bus *b = bc->bus;
        Peer *p = bc->peer;
        int r;

        if (b->direct) {
                refuse(bc, SD_BUS_ERROR_ACCESS_DENIED, "no polkit on a direct connection");
                return;
        }
        r = polkit_check_async(b->client ?: b->bus, p->name, POLKIT_ACTION_MANAGE,
                               sd_bus_message_get_allow_interactive_authorization(bc->msg) > 0, on_polkit, bc,
                               &bc->polkit);
        if (r < 0) {
                log_warning_errno(r, "Failed to ask polkit about %s from %s: %m", bc->method->name, p->name);
                refuse(bc, SD_BUS_ERROR_ACCESS_DENIED, "bfed could not ask polkit");
                return;
        }
        bc->next_parked = p->parked;
        p->parked = bc;
        if (!p->parked_tail)
                p->parked_tail = bc;
}

/* The caller is known: authorize, wait for room, run. */
static void bus_call_go(BusCall *bc) {
        const BusMethod *method = bc->method;
        Session *s = bc->call.session;
        Peer *p = bc->peer;
        EngineError err = {};
        int r;

        if (p->state == PEER_GONE) {
                bus_call_finish(bc, -ECONNRESET, NULL);
                return;
        }
        bc->call.uid = p->uid;
        bc->call.pid = p->pid;
        bc->call.comm = p->comm;
        if (needs_authorization(bc)) {
                authorize(bc);
                return;
        }
        if (s->id != 0 && !method->ignores_abort) {
                r = session_check_aborted(s, &err);
                if (r < 0) {
                        bus_call_finish(bc, r, &err);
                        return;
                }
        }
        if (method->big && !has_room(bc->bus, p)) {
                if (uid_parked(bc->bus, p->uid) >= BUS_UID_PARKED_MAX) {
                        log_notice("Refused %s from %s (uid %u, pid %d): uid %u has %u big reads waiting already.",
                                   method->name, p->name, (unsigned) p->uid, (int) p->pid, (unsigned) p->uid,
                                   BUS_UID_PARKED_MAX);
                        (void) sd_bus_reply_method_errorf(bc->msg, SD_BUS_ERROR_LIMITS_EXCEEDED,
                                                          "uid %u has %u big reads waiting already",
                                                          (unsigned) p->uid, BUS_UID_PARKED_MAX);
                        bus_call_free(bc);
                        return;
                }
                park(bc);
                return;
        }
        call_submit(bc->bus->manager, &bc->call);
}

/* Who sent @msg: its private connection's name (*ret_priv that connection), or its bus name. */
static const char *caller_of(Bus *b, sd_bus_message *msg, BusPrivate **ret_priv) {
        sd_bus *conn = sd_bus_message_get_bus(msg);

        *ret_priv = b && conn != b->bus ? bus_private_by_conn(b, conn) : NULL;
        return *ret_priv ? (*ret_priv)->name : sd_bus_message_get_sender(msg) ?: "";
}

int bus_call_reply(BusCall *bc, const char *types, ...) {
        va_list ap;
        int r;

        r = sd_bus_message_new_method_return(bc->msg, &bc->reply);
        if (r < 0)
                return r;
        va_start(ap, types);
        r = sd_bus_message_appendv(bc->reply, types, ap);
        va_end(ap);
        return r;
}

int bus_call(sd_bus_message *msg, Session *session, const BusMethod *method, sd_bus_error *error) {
        Bus *b = bus_of(session->manager);
        _cleanup_(bus_call_freep) BusCall *bc = NULL;
        sd_bus *conn = sd_bus_message_get_bus(msg);
        BusPrivate *priv;
        const char *sender = caller_of(b, msg, &priv);
        Peer *p;
        int r;

        bc = calloc(1, sizeof(BusCall) + method->args_size);
        if (!bc)
                return -ENOMEM;
        bc->bus = b;
        bc->method = method;
        bc->msg = sd_bus_message_ref(msg);
        bc->call = (Call) { .session = session, .name = method->name, .kind = method->kind, .run = call_run,
                            .done = call_done };
        if (method->parse) {
                r = method->parse(bc, error);
                if (r < 0)
                        return r;
        }

        /* more calls may be waiting: the group commit waits for them either way */
        if (priv)
                bus_private_pump(priv);
        else if (conn == b->bus)
                (void) sd_event_source_set_enabled(b->pump, SD_EVENT_ONESHOT);
        p = peer_get(b, sender, priv ? conn : NULL);
        if (!p)
                return -ENOMEM;
        if (p->n_calls >= BUS_PEER_CALLS_MAX) {
                log_notice("Refused %s from %s (uid %u, pid %d): %u calls in flight already.", method->name, sender,
                           (unsigned) p->uid, (int) p->pid, BUS_PEER_CALLS_MAX);
                return sd_bus_error_setf(error, SD_BUS_ERROR_LIMITS_EXCEEDED,
                                         "%s has %u calls in flight already", sender, BUS_PEER_CALLS_MAX);
        }
        bc->peer = peer_ref(p);
        p->n_calls++;
        bc->call.owner = p->name;
        if (p->parked || p->state == PEER_QUERYING) {
                park(TAKE_PTR(bc));     /* behind its earlier calls, or until bfed knows it */
                return 1;
        }
        bus_call_go(TAKE_PTR(bc));
        return 1;
}

const char *bus_message_caller(Manager *m, sd_bus_message *msg) {
        BusPrivate *priv;

        return caller_of(bus_of(m), msg, &priv);
}

int bus_parse_id(BusCall *bc, sd_bus_error *error) {
        return sd_bus_message_read(bc->msg, "t", (uint64_t *) bc->args);
}

int bus_dispatch(sd_bus_message *msg, Session *session, const BusMethod *methods, size_t n, sd_bus_error *error) {
        const char *member = sd_bus_message_get_member(msg);

        for (size_t i = 0; i < n; i++)
                if (streq_ptr(methods[i].name, member))
                        return bus_call(msg, session, &methods[i], error);
        return sd_bus_error_setf(error, SD_BUS_ERROR_UNKNOWN_METHOD, "Unknown method '%s'", member ?: "");
}

/* ---- firewalld ------------------------------------------------------------------------------ */

/* firewalld_problems() changed: the ExemptionObstacles property reports them with the other
 * tables' obstacles (firewalld.c logged them). */
static void on_firewalld_changed(Firewalld *fw, void *userdata) {
        size_t n;

        (void) firewalld_problems(fw, &n);
        log_debug("firewalld: %zu problem%s with the exempted traffic.", n, n == 1 ? "" : "s");
        bus_signals_obstacles_changed(userdata);
}

/* The firewalld client, on a connection of its own (at stop bfed waits on it for firewalld's
 * answers without serving anything else). A failure here costs only firewalld's openings. */
static void start_firewalld(Bus *b) {
        _cleanup_(sd_bus_unrefp) sd_bus *bus = NULL;
        Manager *m = b->manager;
        int r;

        if (m->config.firewalld == FIREWALLD_NO)
                return;
        if (b->firewalld && firewalld_is_connected(b->firewalld))
                return;                 /* NameLost: the bus daemon is still there, and so is the client */
        b->firewalld = firewalld_free(b->firewalld);
        r = sd_bus_open_system(&bus);
        if (r >= 0)
                r = sd_bus_attach_event(bus, m->event, SD_EVENT_PRIORITY_NORMAL);
        /* open after the loop ends: bus_stop() takes the openings back on it */
        if (r >= 0)
                r = sd_bus_set_close_on_exit(bus, false);
        if (r >= 0)
                r = firewalld_new(m->event, bus, m->config.firewalld, &b->firewalld);
        if (r < 0) {
                log_warning_errno(r, "Failed to watch for firewalld; bfed will not open the exempted traffic "
                                  "there: %m");
                return;
        }
        firewalld_set_change_callback(b->firewalld, on_firewalld_changed, b);
        firewalld_set_wanted(b->firewalld, m->exemptions_active);
}

void bus_reloaded(Manager *m, void *userdata) {
        Bus *b = userdata;

        if (b->firewalld)
                firewalld_set_mode(b->firewalld, m->config.firewalld);
        else if (b->bus && !b->direct)
                start_firewalld(b);     /* from Firewalld=no: nothing was watching */
}

void bus_stop(Bus *b) {
        if (b)
                (void) firewalld_stop(b->firewalld, FIREWALLD_STOP_USEC);
}

/* ---- the connection ------------------------------------------------------------------------ */

static bool table_outlives_bfed(const Manager *m) {
        uint32_t flags = m->config.nft.table_flags;

        return !(flags & NFT_TABLE_F_OWNER) || (flags & BFED_NFT_TABLE_F_PERSIST);
}

static int connect_bus(Bus *b, bool wait_for_name);

/* The peers on the bus (@all: and on private connections) are gone. */
static void drop_peers(Bus *b, bool all) {
        for (Peer *p = b->peers; p;)
                if (all || !p->conn) {
                        bus_peer_gone(b, p->name);
                        p = b->peers;   /* ending what it held may have changed the list */
                } else
                        p = p->next;
}

static int on_reconnect(sd_event_source *source, uint64_t usec, void *userdata) {
        Bus *b = userdata;
        Manager *m = b->manager;
        uint64_t now = 0, delay;
        int r;

        b->old = sd_bus_flush_close_unref(b->old);
        b->old_client = sd_bus_flush_close_unref(b->old_client);
        b->attempts++;
        r = connect_bus(b, false);
        if (r >= 0)
                return 0;               /* the name request completes it */

        (void) sd_event_now(m->event, CLOCK_MONOTONIC, &now);
        if (now - b->lost_since >= m->config.bus_timeout_usec) {
                if (table_outlives_bfed(m)) {
                        log_error("Could not get the system bus back within %" PRIu64 " s (%d attempts: %s); exiting "
                                  "for the service manager to restart bfed. Table inet %s keeps enforcing meanwhile.",
                                  m->config.bus_timeout_usec / 1000000, b->attempts, strerror(-r), m->config.nft.table);
                        manager_exit(m, true);
                        return 0;
                }
                if (b->attempts % 30 == 1)
                        log_warning("Still no system bus (%s). Exiting would remove table inet %s (no persist flag), "
                                    "so bfed keeps trying.", strerror(-r), m->config.nft.table);
        }
        delay = RECONNECT_FIRST_USEC << (b->attempts < 5 ? b->attempts : 5);
        if (delay > RECONNECT_MAX_USEC)
                delay = RECONNECT_MAX_USEC;
        (void) sd_event_source_set_time_relative(b->reconnect, delay);
        (void) sd_event_source_set_enabled(b->reconnect, SD_EVENT_ONESHOT);
        return 0;
}

/* The bus is gone: what callers held ends, and bfed tries to connect again. */
static void bus_lost(Bus *b, const char *why) {
        Manager *m = b->manager;

        if (b->lost_since != 0)
                return;
        (void) sd_event_now(m->event, CLOCK_MONOTONIC, &b->lost_since);
        if (b->lost_since == 0)
                b->lost_since = 1;
        log_error("Lost the system bus (%s). Table inet %s stays as it is; closing every session and "
                  "connecting again.", why, m->config.nft.table);
        (void) sd_notify(false, "STATUS=Lost the system bus, connecting again");
        group_flush(m);                 /* what was staged is applied; its callers are gone */
        drop_peers(b, false);           /* root's private connections stay */
        bus_signals_free(b);
        b->sync = sd_bus_slot_unref(b->sync);
        b->queued = b->covered = 0;
        /* closed from the timer, not from inside the connection's own dispatch */
        b->old = b->bus;
        b->bus = NULL;
        b->old_client = b->client;
        b->client = NULL;
        if (b->direct)
                return;
        b->attempts = 0;
        (void) sd_event_source_set_time_relative(b->reconnect, RECONNECT_FIRST_USEC);
        (void) sd_event_source_set_enabled(b->reconnect, SD_EVENT_ONESHOT);
}

static int on_disconnected(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Bus *b = userdata;

        /* not inside sd-bus's own dispatch: the connection is torn down from the timer */
        if (b->direct) {
                bus_peer_gone(b, "");
                return 0;
        }
        bus_lost(b, "the connection was closed");
        return 0;
}

static int on_name_lost(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        bus_lost(userdata, "another connection took " BUS_NAME);
        return 0;
}

static int on_name_owner_changed(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        const char *name, *old_owner, *new_owner;

        if (sd_bus_message_read(msg, "sss", &name, &old_owner, &new_owner) < 0)
                return 0;
        if (name[0] == ':' && !*new_owner)
                bus_peer_gone(userdata, name);
        return 0;
}

static int on_name_acquired(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Bus *b = userdata;
        Manager *m = b->manager;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        uint64_t now = 0;

        if (e) {
                log_warning("Failed to own %s again: %s", BUS_NAME, e->message);
                b->lost_since = 0;      /* counts from now */
                bus_lost(b, "the name request failed");
                return 0;
        }
        (void) sd_event_now(m->event, CLOCK_MONOTONIC, &now);
        log_notice("Connected to the system bus again and own %s after %.1f s; table inet %s was not touched.",
                   BUS_NAME, (double) (now - b->lost_since) / 1e6, m->config.nft.table);
        (void) sd_notify(false, "STATUS=Serving " BUS_NAME);
        b->lost_since = 0;
        return 0;
}

int bus_serve(Bus *b, sd_bus *conn) {
        int r;

        r = bus_engine_register(b, conn);
        if (r >= 0)
                r = session_bus_register(b, conn);
        return r;
}

/* The objects on b->bus, and noticing when it goes. */
static int serve(Bus *b) {
        int r;

        r = sd_bus_match_signal(b->bus, NULL, NULL, "/org/freedesktop/DBus/Local", "org.freedesktop.DBus.Local",
                                "Disconnected", on_disconnected, b);
        return r < 0 ? r : bus_serve(b, b->bus);
}

static int connect_bus(Bus *b, bool wait_for_name) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        Manager *m = b->manager;
        int r;

        r = sd_bus_open_system(&bus);
        if (r < 0)
                return r;
        r = sd_bus_attach_event(bus, m->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return r;
        b->bus = bus;
        r = serve(b);
        /* one match follows every peer: a match per session would reach dbus-daemon's limit */
        if (r >= 0)
                r = sd_bus_add_match_async(bus, NULL,
                                           "type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
                                           "interface='org.freedesktop.DBus',member='NameOwnerChanged',arg2=''",
                                           on_name_owner_changed, NULL, b);
        if (r >= 0)
                r = sd_bus_match_signal_async(bus, NULL, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                              "org.freedesktop.DBus", "NameLost", on_name_lost, NULL, b);
        if (r >= 0) {
                r = sd_bus_open_system(&b->client);
                if (r >= 0)
                        r = sd_bus_attach_event(b->client, m->event, SD_EVENT_PRIORITY_NORMAL);
                if (r >= 0)
                        r = sd_bus_match_signal(b->client, NULL, NULL, "/org/freedesktop/DBus/Local",
                                                "org.freedesktop.DBus.Local", "Disconnected", on_disconnected, b);
        }
        if (r >= 0 && wait_for_name)
                r = sd_bus_request_name(bus, BUS_NAME, 0);
        else if (r >= 0)
                r = sd_bus_request_name_async(bus, NULL, BUS_NAME, 0, on_name_acquired, b);
        if (r < 0) {
                b->bus = NULL;
                b->client = sd_bus_flush_close_unref(b->client);
                return r;
        }
        TAKE_PTR(bus);
        start_firewalld(b);
        return 0;
}

Bus *bus_free(Bus *b) {
        if (!b)
                return NULL;
        bus_private_free_all(b);
        drop_peers(b, true);
        bus_signals_free(b);
        sd_bus_slot_unref(b->sync);
        b->emit = sd_event_source_disable_unref(b->emit);
        b->emit_later = sd_event_source_disable_unref(b->emit_later);
        sd_event_source_disable_unref(b->drain);
        sd_event_source_disable_unref(b->pump);
        sd_event_source_disable_unref(b->reconnect);
        firewalld_free(b->firewalld);
        sd_bus_flush_close_unref(b->bus);
        sd_bus_flush_close_unref(b->old);
        sd_bus_flush_close_unref(b->client);
        sd_bus_flush_close_unref(b->old_client);
        if (b->manager->hooks_userdata == b)
                manager_set_hooks(b->manager, NULL, NULL);
        free(b);
        return NULL;
}

static int on_pump(sd_event_source *source, void *userdata) {
        Bus *b = userdata;

        for (unsigned i = 0; i < BUS_PUMP_MESSAGES_MAX && b->bus; i++)
                if (sd_bus_process(b->bus, NULL) <= 0)
                        break;
        return 0;
}

static int bus_alloc(Manager *m, Bus **ret) {
        _cleanup_(bus_freep) Bus *b = NULL;
        int r;

        b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        b->manager = m;
        r = sd_event_add_post(m->event, &b->drain, on_post, b);
        if (r >= 0)
                r = sd_event_add_defer(m->event, &b->pump, on_pump, b);
        if (r >= 0)
                r = sd_event_source_set_enabled(b->pump, SD_EVENT_OFF);
        if (r >= 0)
                r = sd_event_add_time_relative(m->event, &b->reconnect, CLOCK_MONOTONIC, RECONNECT_FIRST_USEC, 0,
                                               on_reconnect, b);
        if (r >= 0)
                r = sd_event_source_set_enabled(b->reconnect, SD_EVENT_OFF);
        if (r < 0)
                return r;
        manager_set_hooks(m, &bus_signals_hooks, b);
        *ret = TAKE_PTR(b);
        return 0;
}

int bus_new(Manager *m, Bus **ret) {
        _cleanup_(bus_freep) Bus *b = NULL;
        int r;

        r = bus_alloc(m, &b);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the bus glue: %m");
        r = connect_bus(b, true);
        if (r < 0)
                return log_error_errno(r, "Failed to serve %s on the system bus: %m", BUS_NAME);
        log_info("Serving %s on the system bus.", BUS_NAME);
        if (*m->config.private_socket) {
                r = bus_private_listen(b, m->config.private_socket);
                if (r == -EADDRINUSE)
                        log_warning("Another process, another bfed perhaps, listens on %s: this bfed leaves it "
                                    "alone, and root's clients reach it through the bus.", m->config.private_socket);
                else if (r < 0)
                        log_warning_errno(r, "Failed to listen on %s; root's clients use the bus: %m",
                                          m->config.private_socket);
                else
                        log_info("Serving %s to root on %s too.", BUS_NAME, m->config.private_socket);
        }
        *ret = TAKE_PTR(b);
        return 0;
}

int bus_new_direct(Manager *m, sd_bus *bus, Bus **ret) {
        _cleanup_(bus_freep) Bus *b = NULL;
        int r;

        r = bus_alloc(m, &b);
        if (r < 0)
                return r;
        b->direct = true;
        b->bus = sd_bus_ref(bus);
        r = serve(b);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(b);
        return 0;
}

