/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* netevents.c — net event subscriptions and the nflog socket. See netevents.h. */
#include <errno.h>
#include <inttypes.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <systemd/sd-event.h>

#include "compile.h"
#include "list.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "netevents.h"
#include "nflog.h"
#include "nlgroup.h"
#include "nlmsg.h"

#define USEC_PER_SEC 1000000ULL
/* The kernel gathers logged packets in one datagram until this many, or for this long (1/100 s):
 * a lone drop reaches bfed within 50 ms, a flood in datagrams of a few dozen. */
#define NFLOG_QTHRESHOLD 32
#define NFLOG_TIMEOUT_CS 5
/* a message is about 250 bytes; the kernel's datagrams are at most a page or two */
#define NFLOG_BUFFER_SIZE (64 * 1024)
#define NFLOG_RCVBUF (1024 * 1024)
#define NFLOG_READS_PER_WAKEUP 64

struct NetEvents {
        NetEventSub *subs;
        size_t n_subs;
        uint64_t next_id;
        NlGroup *nflog;                 /* bound to the log group while there are subscriptions */
        sd_event_source *sync;          /* the log statements follow the subscriptions (deferred) */
        sd_event_source *resume;        /* reading again once a second's budget is spent */
        uint64_t read_window_usec;
        unsigned n_read;
        bool have_seq;
        uint32_t next_seq;
        uint64_t lost, malformed;
};

static uint64_t now_usec(clockid_t clock) {
        struct timespec ts;

        (void) clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000ULL;
}

/* ---- the events ----------------------------------------------------------------------------- */

static bool template_matches(const NetEventTemplate *t, const NetEvent *ev) {
        return (t->filter_id == 0 || t->filter_id == ev->filter_id) && (!t->has_layer || t->layer == ev->layer) &&
               (t->ip_version == 0 || t->ip_version == ev->ip_version);
}

/* @ev to @s, unless @s had its NET_EVENT_RATE this second: then it is counted. */
static void deliver(NetEventSub *s, NetEvent *ev, uint64_t now) {
        Manager *m = s->manager;

        if (now - s->window_usec >= USEC_PER_SEC) {
                s->window_usec = now;
                s->n_window = 0;
        }
        if (s->n_window >= NET_EVENT_RATE) {
                s->suppressed++;
                return;
        }
        s->n_window++;
        ev->suppressed = s->suppressed;
        s->suppressed = 0;
        if (m->hooks && m->hooks->net_event)
                m->hooks->net_event(m, s, ev, m->hooks_userdata);
}

/* The event of packet @p, which @f's rule dropped. */
static void event_of(const Filter *f, const NflogPacket *p, NetEvent *ev) {
        /* ALE_FLOW_ESTABLISHED sees both ways: the hook tells */
        bool in = wfp_layer_is_inbound(f->layer) || p->hook == NF_INET_LOCAL_IN;
        size_t n = p->family == 4 ? 4 : 16;

        *ev = (NetEvent) { .time_usec = p->time_usec ?: now_usec(CLOCK_REALTIME), .filter_id = f->id,
                           .layer = f->layer, .inbound = in, .ip_version = p->family, .protocol = p->l4proto };
        memcpy(ev->local_address, in ? p->daddr : p->saddr, n);
        memcpy(ev->remote_address, in ? p->saddr : p->daddr, n);
        if (p->has_ports && nflog_proto_has_ports(p->l4proto)) {
                ev->local_port = in ? p->dport : p->sport;
                ev->remote_port = in ? p->sport : p->dport;
        }
}

static void handle(Manager *m, const NflogPacket *p, uint64_t now) {
        NetEvents *ne = m->net_events;
        const Filter *f = nft_net_event_filter(m->engine, m->layout, p);
        NetEvent ev;

        if (!f)
                return;         /* another table's log statement, or a filter deleted since */
        event_of(f, p, &ev);
        for (NetEventSub *s = ne->subs; s; s = s->next)
                if (template_matches(&s->template, &ev))
                        deliver(s, &ev, now);
}

/* Packets the kernel numbered but bfed never got: every subscription may have missed them. */
static void count_lost(NetEvents *ne, const NflogPacket *p) {
        uint32_t gap;

        if (!p->has_seq)
                return;
        gap = ne->have_seq ? p->seq - ne->next_seq : 0;
        ne->have_seq = true;
        ne->next_seq = p->seq + 1;
        if (gap == 0 || gap > UINT32_MAX / 2)
                return;         /* none, or an old message after a rebind: not a loss */
        ne->lost += gap;
        for (NetEventSub *s = ne->subs; s; s = s->next)
                s->suppressed += gap;
}

/* Return: the logged packets in @buf. */
static unsigned feed(Manager *m, const void *buf, size_t len, uint64_t now) {
        NetEvents *ne = m->net_events;
        const struct nlmsghdr *nlh;
        unsigned n = 0;
        size_t off = 0;

        while ((nlh = nlmsg_next_safe(buf, len, &off))) {
                NflogPacket p;
                int r = nflog_parse(nlh, &p);

                if (r == -EBADMSG)
                        ne->malformed++;
                if (r < 0)
                        continue;
                n++;
                count_lost(ne, &p);
                handle(m, &p, now);
        }
        if (off < len)
                ne->malformed++;        /* bytes that are no message */
        return n;
}

void net_events_feed(Manager *m, const void *buf, size_t len, uint64_t now) {
        if (m->net_events)
                (void) feed(m, buf, len, now);
}

/* ---- the socket ----------------------------------------------------------------------------- */

static int on_resume(sd_event_source *source, uint64_t usec, void *userdata) {
        NetEvents *ne = userdata;

        if (ne->nflog)
                nlgroup_set_enabled(ne->nflog, true);
        return 0;
}

/* At most NET_EVENT_READ_MAX packets a second: beyond, the socket waits for the next second and
 * the kernel drops what does not fit its queue (counted, by the numbering, when reading goes on). */
static void budget(Manager *m, unsigned n, uint64_t now) {
        NetEvents *ne = m->net_events;
        int r;

        if (now - ne->read_window_usec >= USEC_PER_SEC) {
                ne->read_window_usec = now;
                ne->n_read = 0;
        }
        ne->n_read += n;
        if (ne->n_read < NET_EVENT_READ_MAX)
                return;
        if (!ne->resume)
                r = sd_event_add_time(m->event, &ne->resume, CLOCK_MONOTONIC, ne->read_window_usec + USEC_PER_SEC, 0,
                                      on_resume, ne);
        else {
                r = sd_event_source_set_time(ne->resume, ne->read_window_usec + USEC_PER_SEC);
                if (r >= 0)
                        r = sd_event_source_set_enabled(ne->resume, SD_EVENT_ONESHOT);
        }
        if (r >= 0)
                nlgroup_set_enabled(ne->nflog, false);
        else
                log_debug_errno(r, "Cannot pause the nflog socket, reading on: %m");
}

static void on_datagram(const void *buf, size_t len, void *userdata) {
        Manager *m = userdata;
        uint64_t now = now_usec(CLOCK_MONOTONIC);

        /* an overrun (buf NULL) is counted by the gap in the numbering after it */
        if (buf)
                budget(m, feed(m, buf, len, now), now);
}

static int bind_group(struct mnl_socket *nl, void *userdata) {
        Manager *m = userdata;
        char buf[NFLOG_CONFIG_MSG_MAX];
        NflogConfig c = { .group = m->config.nft.log_group, .copy_range = NFLOG_COPY_RANGE,
                          .qthreshold = NFLOG_QTHRESHOLD, .timeout_cs = NFLOG_TIMEOUT_CS, .seq = true };

        return nlgroup_request(nl, nflog_build_config(buf, &c, 1));
}

static int open_socket(Manager *m, EngineError *err) {
        NetEvents *ne = m->net_events;
        int r;

        if (ne->nflog || !m->nft)
                return 0;       /* bound already; or a test's manager without netlink, fed by hand */
        r = nlgroup_new(m->event, &(NlGroupSpec) {
                                .rcvbuf = NFLOG_RCVBUF,
                                .buffer_size = NFLOG_BUFFER_SIZE,
                                .reads_per_wakeup = NFLOG_READS_PER_WAKEUP,
                                .priority = SD_EVENT_PRIORITY_NORMAL + 10,
                                .description = "nflog",
                                .before_join = bind_group,
                        }, on_datagram, m, &ne->nflog);
        if (r < 0)
                return engine_error(err, FWP_E_NET_EVENTS_DISABLED, "cannot bind nflog group %u: %s%s",
                                    m->config.nft.log_group, bfe_strerror(r),
                                    r == -EBUSY ? " (another program reads it: NetEventLogGroup= in bfed.conf "
                                                  "names another)" : "");
        ne->have_seq = false;
        return 0;
}

/* ---- the log statements ----------------------------------------------------------------------- */

/* The log statements as the subscriptions want them, if no engine transaction is open. */
static int sync_now(Manager *m, char **ret_why) {
        bool want = m->net_events && m->net_events->n_subs > 0;

        if (want == m->config.nft.net_events || engine_in_transaction(m->engine))
                return 0;
        return manager_switch_net_events(m, ret_why);
}

static int on_sync(sd_event_source *source, void *userdata) {
        _cleanup_(freep) char *why = NULL;
        Manager *m = userdata;
        int r;

        r = sync_now(m, &why);
        if (r < 0)
                log_error_errno(r, "Failed to take the log statements of the net events out of the rules that drop; "
                                "they stay until the next try (after the next transaction): %s",
                                why ?: bfe_strerror(r));
        return 0;
}

static void sync_later(Manager *m) {
        NetEvents *ne = m->net_events;

        if (ne && ne->sync && (ne->n_subs > 0) != m->config.nft.net_events)
                (void) sd_event_source_set_enabled(ne->sync, SD_EVENT_ONESHOT);
}

void net_events_transaction_ended(Manager *m) {
        sync_later(m);
}

static int net_events_get(Manager *m, NetEvents **ret) {
        NetEvents *ne = m->net_events;
        int r;

        if (!ne) {
                ne = calloc(1, sizeof(*ne));
                if (!ne)
                        return -ENOMEM;
                m->net_events = ne;
        }
        if (!ne->sync && m->event) {
                /* after the group's commit (group.c), which may carry staged calls */
                r = sd_event_add_defer(m->event, &ne->sync, on_sync, m);
                if (r >= 0)
                        r = sd_event_source_set_priority(ne->sync, SD_EVENT_PRIORITY_NORMAL + 2);
                if (r >= 0)
                        r = sd_event_source_set_enabled(ne->sync, SD_EVENT_OFF);
                if (r < 0) {
                        ne->sync = sd_event_source_disable_unref(ne->sync);
                        return r;
                }
        }
        *ret = ne;
        return 0;
}

/* ---- subscriptions ---------------------------------------------------------------------------- */

static int check_template(const NetEventTemplate *t, EngineError *err) {
        if (t->ip_version != 0 && t->ip_version != 4 && t->ip_version != 6)
                return engine_error(err, FWP_E_INVALID_PARAMETER, "IP version %d: 4 or 6", t->ip_version);
        if (!t->has_layer)
                return 0;
        if (!wfp_layer_is_emitted(t->layer))
                return engine_error(err, FWP_E_NEVER_MATCH, "layer %s sees no packets, so nothing drops there",
                                    wfp_layer_info(t->layer)->name);
        if (t->ip_version != 0 && t->ip_version != wfp_layer_info(t->layer)->family)
                return engine_error(err, FWP_E_NEVER_MATCH, "layer %s sees no IPv%d packets",
                                    wfp_layer_info(t->layer)->name, t->ip_version);
        return 0;
}

static void sub_free(NetEventSub *s) {
        free(s->owner);
        free(s);
}

int net_event_subscribe(Manager *m, const char *owner, const NetEventTemplate *t, EngineError *err,
                        NetEventSub **ret) {
        _cleanup_(freep) char *why = NULL;
        NetEventSub *s;
        NetEvents *ne;
        size_t mine = 0;
        int r;

        r = check_template(t, err);
        if (r < 0)
                return r;
        r = net_events_get(m, &ne);
        if (r < 0)
                return r;
        for (NetEventSub *i = ne->subs; i; i = i->next)
                mine += streq(i->owner, owner);
        if (mine >= NET_EVENT_SUBS_PER_PEER_MAX)
                return engine_error(err, FWP_E_OUT_OF_BOUNDS, "a connection may hold %d net event subscriptions",
                                    NET_EVENT_SUBS_PER_PEER_MAX);
        if (ne->n_subs >= NET_EVENT_SUBS_MAX)
                return engine_error(err, FWP_E_OUT_OF_BOUNDS, "bfed holds %d net event subscriptions already",
                                    NET_EVENT_SUBS_MAX);
        if (engine_in_transaction(m->engine))
                return engine_error(err, FWP_E_TXN_IN_PROGRESS, "a transaction is open");

        s = calloc(1, sizeof(*s));
        if (!s || !(s->owner = strdup(owner))) {
                free(s);
                return -ENOMEM;
        }
        s->manager = m;
        s->template = *t;
        r = open_socket(m, err);
        if (r >= 0) {
                LIST_PREPEND(ne->subs, s);
                ne->n_subs++;
                r = sync_now(m, &why);
                if (r < 0) {
                        (void) engine_error(err, FWP_E_NET_EVENTS_DISABLED, "the kernel refused the rules with "
                                            "their log statements: %s", why ?: bfe_strerror(r));
                        r = wfp_ret(FWP_E_NET_EVENTS_DISABLED);
                        LIST_REMOVE(ne->subs, s);
                        ne->n_subs--;
                }
        }
        if (r < 0) {
                sub_free(s);
                if (ne->n_subs == 0)
                        ne->nflog = nlgroup_free(ne->nflog);
                return r;
        }
        s->id = ++ne->next_id;
        log_debug("Net event subscription %" PRIu64 " of %s.", s->id, owner);
        *ret = s;
        return 0;
}

int net_event_unsubscribe_owned(Manager *m, uint64_t id, const char *owner, EngineError *err) {
        for (NetEventSub *s = m->net_events ? m->net_events->subs : NULL; s; s = s->next)
                if (s->id == id && streq(s->owner, owner)) {
                        net_event_unsubscribe(s);
                        return 0;
                }
        return engine_error(err, FWP_E_NOT_FOUND, "no net event subscription %" PRIu64 " of this connection", id);
}

NetEventSub *net_event_unsubscribe(NetEventSub *s) {
        Manager *m;
        NetEvents *ne;

        if (!s)
                return NULL;
        m = s->manager;
        ne = m->net_events;
        LIST_REMOVE(ne->subs, s);
        ne->n_subs--;
        log_debug("Net event subscription %" PRIu64 " of %s ended.", s->id, s->owner);
        sub_free(s);
        if (ne->n_subs == 0) {
                ne->nflog = nlgroup_free(ne->nflog);
                ne->resume = sd_event_source_disable_unref(ne->resume);
        }
        sync_later(m);
        return NULL;
}

void net_events_peer_gone(Manager *m, const char *owner) {
        for (NetEventSub *s = m->net_events ? m->net_events->subs : NULL, *next; s; s = next) {
                next = s->next;
                if (streq(s->owner, owner))
                        net_event_unsubscribe(s);
        }
}

void net_events_done(Manager *m) {
        NetEvents *ne = m->net_events;

        if (!ne)
                return;
        while (ne->subs) {
                NetEventSub *s = ne->subs;

                LIST_REMOVE(ne->subs, s);
                sub_free(s);
        }
        nlgroup_free(ne->nflog);
        sd_event_source_disable_unref(ne->sync);
        sd_event_source_disable_unref(ne->resume);
        free(ne);
        m->net_events = NULL;
}

uint64_t net_events_lost(const Manager *m) {
        return m->net_events ? m->net_events->lost : 0;
}

uint64_t net_events_malformed(const Manager *m) {
        return m->net_events ? m->net_events->malformed : 0;
}
