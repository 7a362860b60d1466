/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * monitor.c — see monitor.h.
 *
 * What the kernel sends to NFNLGRP_NFTABLES for one commit: a notification per object the
 * commit changed (NEWTABLE/DELTABLE/NEWCHAIN/DELRULE/…, merged into as few datagrams as fit),
 * then one NEWGEN with the new generation id and the committing process's pid and name. Every
 * one of them carries the committer's netlink port id in nlmsg_pid, so:
 *  - a socket filter drops whole datagrams whose first message has our transport's port id:
 *    our own batches (100,000 rules at start) never fill this socket's queue;
 *  - the changes to our table are collected per commit and reported when its NEWGEN arrives,
 *    so the report can name the process;
 *  - a commit that touched another table is noted, and reported (without detail) at its NEWGEN
 *    too, to whoever asked for it (nft_monitor_watch_others()).
 * Deleting a table also notifies the deletion of each of its rules, chains and sets first.
 * Nothing is sent when the kernel itself drops an owner table (its owner's socket closed) or
 * orphans a persistent one.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <libmnl/libmnl.h>
#include <linux/filter.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>

#include "compile.h"
#include "macro.h"
#include "monitor.h"
#include "nlgroup.h"
#include "nlmsg.h"

#define MONITOR_BUFFER_SIZE (64 * 1024)
#define MONITOR_RCVBUF (8 * 1024 * 1024)

struct NftMonitor {
        NlGroup *group;
        char table[NFT_TABLE_NAME_MAX];
        uint32_t own_portid;
        NftMonitorCallback cb;
        void *userdata;
        NftMonitorOthersCallback others_cb;
        void *others_userdata;

        /* the foreign commit being collected, until its NEWGEN */
        bool pending;
        NftMonitorChange change;
        char what[256];
        size_t n_changes;
        uint32_t portid;
        bool others_pending;            /* the commit touched another table */
        bool deaf;                      /* out of the group (nft_monitor_deafen()) */
};

static const char *const change_names[_NFT_MONITOR_CHANGE_MAX] = {
        [NFT_MONITOR_TABLE_CHANGED] = "table changed",
        [NFT_MONITOR_TABLE_DELETED] = "table deleted",
        [NFT_MONITOR_EVENTS_LOST] = "events lost",
};

const char *nft_monitor_change_to_string(NftMonitorChange c) {
        return STRING_TABLE_AT(change_names, c);
}

static void deliver(NftMonitor *mon, const NftMonitorEvent *ev) {
        (void) mon->cb(mon, ev, mon->userdata);
}

static void deliver_others(NftMonitor *mon) {
        mon->others_pending = false;
        if (mon->others_cb)
                mon->others_cb(mon, mon->others_userdata);
}

/* Events lost: our table and the others may have changed. */
static void deliver_lost(NftMonitor *mon) {
        mon->pending = false;
        deliver(mon, &(NftMonitorEvent) { .change = NFT_MONITOR_EVENTS_LOST, .what = "" });
        deliver_others(mon);
}

/* The families whose tables the obstacle analysis reads (nft_transport_dump_foreign()). */
static bool is_other_family(uint8_t family) {
        return family == NFPROTO_INET || family == NFPROTO_IPV4 || family == NFPROTO_IPV6 ||
               family == NFPROTO_NETDEV || family == NFPROTO_BRIDGE;
}

/* Every nftables object message has its table's name as attribute 1 (NFTA_TABLE_NAME,
 * NFTA_CHAIN_TABLE, NFTA_RULE_TABLE, NFTA_SET_TABLE, NFTA_SET_ELEM_LIST_TABLE, …). */
#define ATTR_TABLE 1
#define ATTRS_MAX 8

static int collect_attr(const struct nlattr *attr, void *data) {
        const struct nlattr **tb = data;
        uint16_t type = mnl_attr_get_type(attr);

        if (type < ATTRS_MAX)
                tb[type] = attr;
        return MNL_CB_OK;
}

static const char *attr_str(const struct nlattr *a) {
        if (!a || mnl_attr_validate(a, MNL_TYPE_NUL_STRING) < 0)
                return "?";
        return mnl_attr_get_str(a);
}

static bool attr_is_str(const struct nlattr *a, const char *s) {
        return a && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) >= 0 && streq(mnl_attr_get_str(a), s);
}

static uint32_t attr_be32(const struct nlattr *a) {
        if (!a || mnl_attr_validate(a, MNL_TYPE_U32) < 0)
                return 0;
        return ntohl(mnl_attr_get_u32(a));
}

/* "deleted rule 12 in chain x": what one object message did, for the log. */
static void describe(uint16_t type, const struct nlattr *tb[ATTRS_MAX], char *buf, size_t size) {
        switch (type) {
        case NFT_MSG_NEWTABLE:
                snprintf(buf, size, "changed the table's flags");
                break;
        case NFT_MSG_DELTABLE:
                snprintf(buf, size, "deleted the table");
                break;
        case NFT_MSG_NEWCHAIN:
                snprintf(buf, size, "added or changed chain %s", attr_str(tb[NFTA_CHAIN_NAME]));
                break;
        case NFT_MSG_DELCHAIN:
                snprintf(buf, size, "deleted chain %s", attr_str(tb[NFTA_CHAIN_NAME]));
                break;
        case NFT_MSG_NEWRULE:
                snprintf(buf, size, "added a rule to chain %s", attr_str(tb[NFTA_RULE_CHAIN]));
                break;
        case NFT_MSG_DELRULE: {
                uint64_t handle = 0;

                if (tb[NFTA_RULE_HANDLE] && mnl_attr_validate(tb[NFTA_RULE_HANDLE], MNL_TYPE_U64) >= 0)
                        handle = be64toh(mnl_attr_get_u64(tb[NFTA_RULE_HANDLE]));
                snprintf(buf, size, "deleted rule %" PRIu64 " in chain %s", handle, attr_str(tb[NFTA_RULE_CHAIN]));
                break;
        }
        case NFT_MSG_NEWSET:
        case NFT_MSG_DELSET:
                snprintf(buf, size, "%s set %s", type == NFT_MSG_NEWSET ? "added" : "deleted",
                         attr_str(tb[NFTA_SET_NAME]));
                break;
        case NFT_MSG_NEWSETELEM:
        case NFT_MSG_DELSETELEM:
                snprintf(buf, size, "%s elements of set %s", type == NFT_MSG_NEWSETELEM ? "added" : "deleted",
                         attr_str(tb[NFTA_SET_ELEM_LIST_SET]));
                break;
        default:
                snprintf(buf, size, "changed object %s (message type %u)", attr_str(tb[2]), type);
                break;
        }
}

static bool is_object_message(uint16_t type) {
        switch (type) {
        case NFT_MSG_NEWTABLE: case NFT_MSG_DELTABLE:
        case NFT_MSG_NEWCHAIN: case NFT_MSG_DELCHAIN:
        case NFT_MSG_NEWRULE: case NFT_MSG_DELRULE:
        case NFT_MSG_NEWSET: case NFT_MSG_DELSET:
        case NFT_MSG_NEWSETELEM: case NFT_MSG_DELSETELEM:
        case NFT_MSG_NEWOBJ: case NFT_MSG_DELOBJ:
        case NFT_MSG_NEWFLOWTABLE: case NFT_MSG_DELFLOWTABLE:
                return true;
        default:
                return false;
        }
}

static void read_object(NftMonitor *mon, const struct nlmsghdr *nlh, uint16_t type) {
        const struct nfgenmsg *nfg = mnl_nlmsg_get_payload(nlh);
        const struct nlattr *tb[ATTRS_MAX] = {};

        if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*nfg) || mnl_attr_parse(nlh, sizeof(*nfg), collect_attr, tb) < 0)
                return;
        if (nfg->nfgen_family != NFPROTO_INET || !attr_is_str(tb[ATTR_TABLE], mon->table)) {
                if (is_other_family(nfg->nfgen_family))
                        mon->others_pending = true;
                return;
        }

        if (!mon->pending) {
                mon->pending = true;
                mon->change = NFT_MONITOR_TABLE_CHANGED;
                mon->n_changes = 0;
                mon->portid = nlh->nlmsg_pid;
                describe(type, tb, mon->what, sizeof(mon->what));
        }
        mon->n_changes++;
        if (type == NFT_MSG_DELTABLE && mon->change != NFT_MONITOR_TABLE_DELETED) {
                /* the rules and chains went first; the table's deletion is the news */
                mon->change = NFT_MONITOR_TABLE_DELETED;
                describe(type, tb, mon->what, sizeof(mon->what));
        }
}

static void read_gen(NftMonitor *mon, const struct nlmsghdr *nlh) {
        const struct nlattr *tb[ATTRS_MAX] = {};
        NftMonitorEvent ev;

        if (mon->others_pending)
                deliver_others(mon);
        if (!mon->pending)
                return;
        mon->pending = false;
        (void) mnl_attr_parse(nlh, sizeof(struct nfgenmsg), collect_attr, tb);
        ev = (NftMonitorEvent) {
                .change = mon->change,
                .what = mon->what,
                .n_changes = mon->n_changes,
                .portid = mon->portid,
                .gen = attr_be32(tb[NFTA_GEN_ID]),
        };
        /* commits are serialized, so the NEWGEN after our messages is theirs; check anyway */
        if (nlh->nlmsg_pid == mon->portid) {
                ev.pid = (pid_t) attr_be32(tb[NFTA_GEN_PROC_PID]);
                if (tb[NFTA_GEN_PROC_NAME] && mnl_attr_validate(tb[NFTA_GEN_PROC_NAME], MNL_TYPE_NUL_STRING) >= 0)
                        ev.comm = mnl_attr_get_str(tb[NFTA_GEN_PROC_NAME]);
        }
        deliver(mon, &ev);
}

static void on_datagram(const void *buf, size_t len, void *userdata) {
        NftMonitor *mon = userdata;
        const struct nlmsghdr *nlh;
        size_t off = 0;

        if (!buf) {
                /* the kernel dropped events, or part of one: as bad as an overrun either way */
                deliver_lost(mon);
                return;
        }
        while ((nlh = nlmsg_next_safe(buf, len, &off))) {
                uint16_t type = NFNL_MSG_TYPE(nlh->nlmsg_type);

                if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_NFTABLES)
                        continue;
                /* the socket filter looks at the first message only */
                if (nlh->nlmsg_pid == mon->own_portid && mon->own_portid != 0)
                        continue;
                if (type == NFT_MSG_NEWGEN)
                        read_gen(mon, nlh);
                else if (is_object_message(type))
                        read_object(mon, nlh, type);
        }
}

/* Drop datagrams our own transport caused: their first message's nlmsg_pid is its port id. */
static int attach_filter(struct mnl_socket *nl, void *userdata) {
        NftMonitor *mon = userdata;
        struct sock_filter code[] = {
                /* BPF loads are big-endian; nlmsg_pid is in host order */
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct nlmsghdr, nlmsg_pid)),
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ntohl(mon->own_portid), 0, 1),
                BPF_STMT(BPF_RET | BPF_K, 0),
                BPF_STMT(BPF_RET | BPF_K, 0xffffffff),
        };
        struct sock_fprog prog = { .len = ELEMENTSOF(code), .filter = code };

        if (mon->own_portid == 0)
                return 0;
        if (setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0)
                return -errno;
        return 0;
}

NftMonitor *nft_monitor_free(NftMonitor *mon) {
        if (!mon)
                return NULL;
        nlgroup_free(mon->group);
        free(mon);
        return NULL;
}

int nft_monitor_new(sd_event *e, const char *table, uint32_t own_portid, NftMonitorCallback cb, void *userdata,
                    NftMonitor **ret) {
        _cleanup_(nft_monitor_freep) NftMonitor *mon = NULL;
        int r;

        if (!e || !table || strlen(table) >= NFT_TABLE_NAME_MAX || !cb || !ret)
                return -EINVAL;
        mon = calloc(1, sizeof(*mon));
        if (!mon)
                return -ENOMEM;
        strcpy(mon->table, table);
        mon->own_portid = own_portid;
        mon->cb = cb;
        mon->userdata = userdata;

        r = nlgroup_new(e, &(NlGroupSpec) {
                                .group = NFNLGRP_NFTABLES,
                                .rcvbuf = MONITOR_RCVBUF,       /* room for a foreign `nft -f` of a big ruleset */
                                .buffer_size = MONITOR_BUFFER_SIZE,
                                .description = "nft-monitor",
                                .before_join = attach_filter,
                        }, on_datagram, mon, &mon->group);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(mon);
        return 0;
}

int nft_monitor_deafen(NftMonitor *mon) {
        int r;

        if (mon->deaf)
                return 0;
        r = nlgroup_set_joined(mon->group, false);
        if (r < 0)
                return r;
        mon->deaf = true;
        return 0;
}

int nft_monitor_listen(NftMonitor *mon) {
        int r;

        if (!mon->deaf)
                return 0;
        r = nlgroup_set_joined(mon->group, true);
        if (r < 0)
                return r;
        mon->deaf = false;
        /* what arrived before we left is still queued and is read as usual; of the window itself
         * we know nothing */
        deliver_others(mon);
        return 0;
}

bool nft_monitor_is_deaf(const NftMonitor *mon) {
        return mon->deaf;
}

void nft_monitor_watch_others(NftMonitor *mon, NftMonitorOthersCallback cb, void *userdata) {
        mon->others_cb = cb;
        mon->others_userdata = userdata;
        mon->others_pending = false;
}
