/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * obstacle-watch.c — the other tables' obstacles to the exemptions, kept up to date (see
 * obstacle-watch.h).
 *
 * Why a module of its own, and not a part of manager-table.c: that file keeps bfed's own table
 * as it must be; this one only looks at everybody else's, and reports. They share the nftables
 * monitor, which manager-table.c owns: the monitor tells this module about commits to the other
 * tables (nft_monitor_watch_others()).
 *
 * When: at start, and after other processes' commits to the other tables while the monitor
 * listens, which with the owner flag is while the exemptions are active (manager-table.c); while
 * it does not, when the result is read (the property, Explain) and the ruleset's generation moved
 * since the last reading (obstacle_watch_refresh()). Our own commits never wake it (the monitor
 * drops them in the kernel). A burst of commits — a firewalld reload, an `nft -f` of many
 * lines — costs one analysis: each commit (re)arms a timer for OBSTACLES_DELAY_USEC, so the
 * tables are read once they have been quiet that long, and at most OBSTACLES_DELAY_MAX_USEC
 * after the first commit of the burst.
 *
 * May and certain: the analysis tells the datagram kinds a chain may drop from those it drops
 * whatever the datagram's unknown fields (addresses, interfaces, marks). Both are reported: a
 * chain that lets `lo` through and drops everything else (ufw, firewalld) only "may" drop, and
 * it is the obstacle that matters most. The text says which: "drops …" (certain), "may drop …"
 * (it depends on what the analysis cannot know), so a source-address blocklist reads as what it
 * is. Each change is logged once: at warning level while the exemptions are active, at info
 * level while they are not (nothing of bfed's is in the way then). When the exemptions come,
 * what is in the way is looked at again after OBSTACLES_SETTLE_USEC — the time bfed's firewalld
 * client needs to open them in firewalld, which changes firewalld's table — and logged as
 * warnings, so a firewalld that bfed opens never gets a warning that is gone a moment later.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-event.h>

#include "journal.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "monitor.h"
#include "obstacle-watch.h"
#include "transport.h"

#define OBSTACLES_DELAY_USEC (200 * 1000ULL)
#define OBSTACLES_DELAY_MAX_USEC (3 * 1000000ULL)
#define OBSTACLES_SETTLE_USEC (1000 * 1000ULL)

struct ObstacleWatch {
        Manager *manager;
        NftMonitor *monitor;
        sd_event_source *timer;
        uint64_t first_change;          /* CLOCK_MONOTONIC µs of the first change not yet analyzed; 0: none */
        uint64_t deadline;              /* when the timer fires, while it is armed */
        bool announce;                  /* the exemptions came: log what is in the way as warnings */
        int last_error;                 /* of the last failed analysis, logged once */

        NftObstacles *result;           /* the last analysis; NULL until the first one succeeded */
        char **texts;                   /* a text per entry of result (obstacle_watch_text()) */
        uint32_t gen;                   /* the ruleset generation result is of */
        uint64_t read_at;               /* CLOCK_MONOTONIC µs of the last reading, or try */
};

/* ---- texts ----------------------------------------------------------------------------------- */

/* The ports of a mask of NFT_DGRAM port numbers (bit 0: IPv4 500, 1: IPv4 4500, 2: IPv6 500). */
static const char *const port_sets[8] = {
        "", "IPv4 UDP 500", "IPv4 UDP 4500", "IPv4 UDP 500/4500", "IPv6 UDP 500", "IPv4 and IPv6 UDP 500",
        "IPv4 UDP 4500 and IPv6 UDP 500", "IPv4 UDP 500/4500 and IPv6 UDP 500",
};

/* " new flows", " replies", or "" for both, of the two bits (new flow, reply) of one direction. */
static const char *flows(unsigned bits) {
        return bits == 1 ? " new flows" : bits == 2 ? " replies" : "";
}

/* The directions of one port's four bits (NFT_DGRAM: inbound new, inbound reply, outbound new,
 * outbound reply): "inbound", "outbound replies", "inbound and outbound new flows", … */
static void directions(unsigned bits, char *buf, size_t size) {
        unsigned in = bits & 3, out = bits >> 2;

        if (in && in == out)
                (void) snprintf(buf, size, "inbound and outbound%s", flows(in));
        else if (in && out)
                (void) snprintf(buf, size, "inbound%s and outbound%s", flows(in), flows(out));
        else
                (void) snprintf(buf, size, "%s%s", in ? "inbound" : "outbound", flows(in ?: out));
}

void obstacle_kinds_to_string(uint32_t kinds, char *buf, size_t size) {
        unsigned dirs[NFT_DGRAM_PORTS], done = 0;
        size_t len = 0;

        buf[0] = 0;
        for (unsigned p = 0; p < NFT_DGRAM_PORTS; p++)
                dirs[p] = (kinds >> (4 * p)) & 0xf;
        /* the ports with the same directions together */
        for (unsigned p = 0; p < NFT_DGRAM_PORTS; p++) {
                unsigned ports = 0;
                char d[64];

                if (!dirs[p] || (done & (1u << p)))
                        continue;
                for (unsigned q = p; q < NFT_DGRAM_PORTS; q++)
                        if (dirs[q] == dirs[p])
                                ports |= 1u << q;
                done |= ports;
                directions(dirs[p], d, sizeof(d));
                if (len < size)
                        len += (size_t) snprintf(buf + len, size - len, "%s%s %s", len ? ", " : "", port_sets[ports],
                                                 d);
        }
}

/* "drops IPv4 UDP 500 inbound; may drop IPv4 UDP 4500 inbound new flows: policy drop" */
static char *entry_text(const NftObstacle *e) {
        char always[256], maybe[256];
        char *s = NULL;
        int r;

        obstacle_kinds_to_string(e->kinds_always, always, sizeof(always));
        obstacle_kinds_to_string(e->kinds & ~e->kinds_always, maybe, sizeof(maybe));
        if (e->kinds_always == 0)
                r = asprintf(&s, "may drop %s: %s", maybe, e->what);
        else if (e->kinds_always == e->kinds)
                r = asprintf(&s, "drops %s: %s", always, e->what);
        else
                r = asprintf(&s, "drops %s; may drop %s: %s", always, maybe, e->what);
        return r < 0 ? NULL : s;
}

/* Whether @e's hook is on the way in. */
static bool is_inbound_hook(const char *hook) {
        return streq(hook, "input") || streq(hook, "prerouting") || streq(hook, "ingress");
}

/* What to do about @e, for the log. */
static void remedy(const ObstacleWatch *w, const NftObstacle *e, char *buf, size_t size) {
        const char *port = is_inbound_hook(e->hook) ? "dport" : "sport";

        if (streq(e->table, "inet firewalld")) {
                if (w->manager->config.firewalld != FIREWALLD_NO)
                        (void) snprintf(buf, size, "bfed opens the exempted traffic in firewalld's zones itself while "
                                        "the exemptions are active (Firewalld=%s), so what stays is firewalld's "
                                        "own rule, or firewalld refused (a firewalld entry in bfectl status); to "
                                        "open it by hand: firewall-cmd --add-service=ipsec",
                                        w->manager->config.firewalld == FIREWALLD_YES ? "yes" : "auto");
                else
                        (void) snprintf(buf, size, "Firewalld=no: let bfed open it there (Firewalld=auto), or open it "
                                        "with firewall-cmd --add-service=ipsec");
        } else if ((streq(e->table, "ip filter") || streq(e->table, "ip6 filter")) &&
                   (streq(e->chain, "INPUT") || streq(e->chain, "OUTPUT")))
                (void) snprintf(buf, size, "this looks like iptables-nft (or ufw): add an exception before the drop, "
                                "e.g. %s -I %s -p udp -m multiport --%ss 500,4500 -j ACCEPT (ufw: ufw allow "
                                "500,4500/udp)", streq(e->table, "ip filter") ? "iptables" : "ip6tables", e->chain,
                                port);
        else
                (void) snprintf(buf, size, "add an exception before the drop, e.g. nft insert rule %s %s udp %s "
                                "{ 500, 4500 } accept", e->table, e->chain, port);
}

static void log_entry(const ObstacleWatch *w, const NftObstacle *e, const char *text, int level) {
        char todo[512];

        remedy(w, e, todo, sizeof(todo));
        log_struct(level, LOG_FIELDS(BFED_MESSAGE_OBSTACLE),
                   "Table %s, chain %s (hook %s, priority %d) %s. An accept in bfed's table cannot override "
                   "another table's drop%s: %s.", e->table, e->chain, e->hook, (int) e->priority, text,
                   w->manager->exemptions_active ? "" : " (this matters once the exemptions are active)", todo);
}

/* ---- the analysis ---------------------------------------------------------------------------- */

static void schedule(ObstacleWatch *w, uint64_t delay);

static void texts_free(char **texts, size_t n) {
        if (!texts)
                return;
        for (size_t i = 0; i < n; i++)
                free(texts[i]);
        free(texts);
}

/* Reads the other tables and analyzes them. Return: 0, or a negative errno (not logged). */
static int analyze(ObstacleWatch *w, NftObstacles **ret, char ***ret_texts, uint32_t *ret_gen) {
        _cleanup_(nft_obstacles_freep) NftObstacles *o = NULL;
        _cleanup_(freep) char *buf = NULL;
        Manager *m = w->manager;
        char **texts;
        size_t len = 0;
        int r;

        r = nft_transport_dump_foreign(m->nft, m->config.nft.table, &buf, &len, ret_gen);
        if (r < 0)
                return r;
        r = nft_obstacles_find(buf, len, m->config.nft.table, &o);
        if (r < 0)
                return r;
        texts = calloc(o->n + 1, sizeof(*texts));
        if (!texts)
                return -ENOMEM;
        for (size_t i = 0; i < o->n; i++)
                if (!(texts[i] = entry_text(&o->entries[i]))) {
                        texts_free(texts, o->n);
                        return -ENOMEM;
                }
        if (o->n_malformed > 0)
                log_debug("Obstacle analysis: %zu messages or expressions of the other tables did not parse "
                          "(left out, or read as either way).", o->n_malformed);
        *ret = TAKE_PTR(o);
        *ret_texts = texts;
        return 0;
}

static const NftObstacle *find_chain(const NftObstacles *o, const NftObstacle *e) {
        for (size_t i = 0; o && i < o->n; i++)
                if (streq(o->entries[i].table, e->table) && streq(o->entries[i].chain, e->chain))
                        return &o->entries[i];
        return NULL;
}

/* Logs what differs between the last result and @now: entries gone, and new or changed ones at
 * @level (@all: every entry of @now, changed or not). */
static void log_changes(ObstacleWatch *w, const NftObstacles *now, char **texts, int level, bool all) {
        const NftObstacles *old = w->result;

        for (size_t i = 0; old && i < old->n; i++)
                if (!find_chain(now, &old->entries[i]))
                        log_notice("Table %s, chain %s no longer drops the exempted traffic.", old->entries[i].table,
                                   old->entries[i].chain);
        for (size_t i = 0; i < now->n; i++) {
                const NftObstacle *e = &now->entries[i], *before = find_chain(old, e);

                if (!all && before && streq(before->what, e->what) && before->kinds == e->kinds &&
                    before->kinds_always == e->kinds_always)
                        continue;
                log_entry(w, e, texts[i], level);
        }
        if (now->n == 0 && old && old->n > 0)
                log_notice("Nothing in the other nftables tables drops the exempted traffic any more.");
}

/* Analyzes now; logs and tells the glue when the result changed. @quiet: log nothing (yet). */
static void update(ObstacleWatch *w, bool quiet) {
        _cleanup_(nft_obstacles_freep) NftObstacles *now = NULL;
        Manager *m = w->manager;
        char **texts = NULL;
        bool changed, announce;
        uint32_t gen = 0;
        int r;

        (void) sd_event_now(m->event, CLOCK_MONOTONIC, &w->read_at);
        r = analyze(w, &now, &texts, &gen);
        if (r == -EAGAIN) {
                /* the tables kept changing while they were read: again, once they are quiet */
                log_debug("The other nftables tables kept changing while bfed read them; reading them again.");
                schedule(w, OBSTACLES_DELAY_USEC);
                return;
        }
        if (r < 0) {
                if (r != w->last_error)
                        log_warning_errno(r, "Failed to read the other nftables tables, so bfed cannot say what in "
                                          "them drops the exempted traffic (the last result stays): %s",
                                          bfe_strerror(r));
                w->last_error = r;
                return;
        }
        w->last_error = 0;

        changed = !w->result || !nft_obstacles_equal(w->result, now);
        announce = w->announce && m->exemptions_active;
        if (!quiet && (changed || announce))
                log_changes(w, now, texts, m->exemptions_active ? LOG_WARNING : LOG_INFO, announce);
        if (!quiet)
                w->announce = false;

        texts_free(w->texts, w->result ? w->result->n : 0);
        nft_obstacles_free(w->result);
        w->result = TAKE_PTR(now);
        w->texts = texts;
        w->gen = gen;
        log_debug("Read the other nftables tables (ruleset generation %" PRIu32 "): %zu obstacles.", gen,
                  w->result->n);
        if (changed && m->hooks && m->hooks->obstacles_changed)
                m->hooks->obstacles_changed(m, m->hooks_userdata);
}

/* ---- when ------------------------------------------------------------------------------------- */

/* Analyzes @delay from now, or later if it is due later already; never later than
 * OBSTACLES_DELAY_MAX_USEC after the first change that waits. */
static void schedule(ObstacleWatch *w, uint64_t delay) {
        uint64_t now, when;
        int enabled = SD_EVENT_OFF, r;

        r = sd_event_now(w->manager->event, CLOCK_MONOTONIC, &now);
        if (r < 0) {
                log_warning_errno(r, "Failed to read the clock, ignoring a change of the other nftables tables: %m");
                return;
        }
        (void) sd_event_source_get_enabled(w->timer, &enabled);
        if (enabled == SD_EVENT_OFF || w->first_change == 0)
                w->first_change = now;
        when = now + delay;
        if (enabled != SD_EVENT_OFF && w->deadline > when)
                when = w->deadline;
        if (when > w->first_change + OBSTACLES_DELAY_MAX_USEC)
                when = w->first_change + OBSTACLES_DELAY_MAX_USEC;
        w->deadline = when;
        r = sd_event_source_set_time(w->timer, when);
        if (r >= 0)
                r = sd_event_source_set_enabled(w->timer, SD_EVENT_ONESHOT);
        if (r < 0)
                log_warning_errno(r, "Failed to schedule reading the other nftables tables, ignoring: %m");
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        ObstacleWatch *w = userdata;

        w->first_change = 0;
        update(w, false);
        return 0;
}

static void on_others_changed(NftMonitor *mon, void *userdata) {
        schedule(userdata, OBSTACLES_DELAY_USEC);
}

void obstacle_watch_refresh(ObstacleWatch *w) {
        int enabled = SD_EVENT_OFF;
        uint64_t now = 0;
        uint32_t gen;

        if (!w || !nft_monitor_is_deaf(w->monitor))
                return;         /* listening: the result follows every change */
        if (w->result && nft_transport_gen(w->manager->nft, &gen) >= 0 && gen == w->gen)
                return;
        /* At most one reading (or failed try) per OBSTACLES_DELAY_USEC: whoever reads the property
         * in a loop next to a process that commits all the time, or where the tables are too big
         * to read, makes bfed read them five times a second, not once a read. A reading due later
         * comes from the timer, and a changed result with PropertiesChanged; while the timer is
         * set, it is the next reading. */
        (void) sd_event_source_get_enabled(w->timer, &enabled);
        if (enabled != SD_EVENT_OFF)
                return;
        (void) sd_event_now(w->manager->event, CLOCK_MONOTONIC, &now);
        if (now < w->read_at + OBSTACLES_DELAY_USEC) {
                schedule(w, w->read_at + OBSTACLES_DELAY_USEC - now);
                return;
        }
        update(w, false);
}

void obstacle_watch_exemptions_changed(ObstacleWatch *w, bool active) {
        if (!w || !active)
                return;
        w->announce = true;
        schedule(w, OBSTACLES_SETTLE_USEC);
}

/* ---- the module ------------------------------------------------------------------------------- */

int obstacle_watch_new(Manager *m, NftMonitor *monitor, ObstacleWatch **ret) {
        _cleanup_(obstacle_watch_freep) ObstacleWatch *w = NULL;
        int r;

        w = calloc(1, sizeof(*w));
        if (!w)
                return log_error_errno(-ENOMEM, "Failed to watch the other nftables tables: %m");
        w->manager = m;
        r = sd_event_add_time(m->event, &w->timer, CLOCK_MONOTONIC, 0, 0, on_timer, w);
        if (r >= 0)
                r = sd_event_source_set_enabled(w->timer, SD_EVENT_OFF);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the other nftables tables: %m");
        (void) sd_event_source_set_description(w->timer, "obstacles");
        w->monitor = monitor;
        nft_monitor_watch_others(monitor, on_others_changed, w);

        /* With the exemptions active from the state file, firewalld (if bfed opens it) has not
         * been told yet: the result is there at once, its warnings come once it settled. */
        update(w, m->exemptions_active);
        obstacle_watch_exemptions_changed(w, m->exemptions_active);

        *ret = TAKE_PTR(w);
        return 0;
}

ObstacleWatch *obstacle_watch_free(ObstacleWatch *w) {
        if (!w)
                return NULL;
        if (w->monitor)
                nft_monitor_watch_others(w->monitor, NULL, NULL);
        sd_event_source_disable_unref(w->timer);
        texts_free(w->texts, w->result ? w->result->n : 0);
        nft_obstacles_free(w->result);
        free(w);
        return NULL;
}

size_t obstacle_watch_count(const ObstacleWatch *w) {
        return w && w->result ? w->result->n : 0;
}

const NftObstacle *obstacle_watch_entry(const ObstacleWatch *w, size_t i) {
        return i < obstacle_watch_count(w) ? &w->result->entries[i] : NULL;
}

const char *obstacle_watch_text(const ObstacleWatch *w, size_t i) {
        return i < obstacle_watch_count(w) ? w->texts[i] : NULL;
}

/* ---- Explain's packet -------------------------------------------------------------------------- */

static uint16_t packet_port(const Packet *p, WfpField f) {
        return p->has[f] && p->len[f] == 2 ? (uint16_t) (p->value[f][0] << 8 | p->value[f][1]) : 0;
}

/*
 * Which exempted datagram a packet at @layer is (obstacles.h: a new flow is the first datagram,
 * state new and direction original; a reply is state established, direction reply):
 *  - an ALE layer sees the first datagram of a flow only: a new flow, inbound (receive/accept)
 *    or outbound (connect); ALE_FLOW_ESTABLISHED either, as the packet's DIRECTION says;
 *  - at the transport layers, an inbound datagram is a reply when this host started the flow
 *    (BFED_LOCALLY_INITIATED), an outbound one when the peer did;
 *  - its IKE port is the local port, as the exemptions take it; or the remote port, where the
 *    remote side is the flow's responder: this host started the flow, or it connects.
 */
int obstacle_kind_of_packet(WfpLayer layer, const Packet *p) {
        bool inbound = wfp_layer_is_inbound(layer), ale = wfp_layer_is_ale(layer);
        bool ipv6 = wfp_layer_info(layer)->family == 6, reply;
        bool remote = p->locally_initiated || wfp_layer_info(layer)->kind == WFP_LAYER_KIND_ALE_AUTH_CONNECT;
        int d;

        if (wfp_layer_info(layer)->kind == WFP_LAYER_KIND_ALE_FLOW_ESTABLISHED) {
                /* both ways: the packet's DIRECTION says which, and an outbound new flow is a connect */
                if (!p->has[WFP_FIELD_DIRECTION])
                        return -1;
                inbound = p->value[WFP_FIELD_DIRECTION][0] == 1;
                remote = remote || !inbound;
        }
        reply = !ale && inbound == p->locally_initiated;

        if (!wfp_layer_is_emitted(layer) || !p->has[WFP_FIELD_IP_PROTOCOL] || p->len[WFP_FIELD_IP_PROTOCOL] != 1 ||
            p->value[WFP_FIELD_IP_PROTOCOL][0] != 17)
                return -1;
        d = nft_dgram_of(ipv6, packet_port(p, WFP_FIELD_IP_LOCAL_PORT), !inbound, reply);
        if (d < 0 && remote)
                d = nft_dgram_of(ipv6, packet_port(p, WFP_FIELD_IP_REMOTE_PORT), !inbound, reply);
        return d;
}
