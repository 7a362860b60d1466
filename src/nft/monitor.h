/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * monitor.h — watches the kernel's nftables events (NFNLGRP_NFTABLES) on a second netlink
 * socket, attached to sd-event, and reports changes to one inet table that another process
 * committed, with who committed them (the NEWGEN event names the pid and process name).
 * On request it also says when another process changed any other table bfed's obstacle
 * analysis reads (families inet, ip, ip6, netdev and bridge): nft_monitor_watch_others().
 * Changes from our own transport's batches carry its port id and are never reported.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "macro.h"

typedef struct sd_event sd_event;
typedef struct NftMonitor NftMonitor;

typedef enum NftMonitorChange {
        NFT_MONITOR_TABLE_CHANGED,      /* chains, rules, sets or the table's flags */
        NFT_MONITOR_TABLE_DELETED,
        NFT_MONITOR_EVENTS_LOST,        /* the socket overran: anything may have happened */
        _NFT_MONITOR_CHANGE_MAX,
} NftMonitorChange;

/* One foreign commit that touched the table (or, for EVENTS_LOST, an unknown number). */
typedef struct NftMonitorEvent {
        NftMonitorChange change;
        const char *what;               /* the first change of the commit: "deleted chain x" */
        size_t n_changes;               /* messages of that commit about the table */
        uint32_t portid;                /* the committer's netlink port id, 0 if unknown */
        uint32_t gen;                   /* the generation the commit made, 0 if unknown */
        pid_t pid;                      /* who committed, 0 if unknown */
        const char *comm;               /* its process name, NULL if unknown */
} NftMonitorEvent;

typedef int (*NftMonitorCallback)(NftMonitor *mon, const NftMonitorEvent *ev, void *userdata);

/**
 * nft_monitor_new() - watch table inet @table.
 * @own_portid: our transport's port id (nft_transport_portid()): events it caused are dropped
 *   in the kernel already (a socket filter), so our own big batches cannot overrun the socket.
 * @cb: called from the event loop once per foreign commit, after its NEWGEN event.
 *
 * Return: 0, or a negative errno (the socket, the group, the event source).
 */
int nft_monitor_new(sd_event *e, const char *table, uint32_t own_portid, NftMonitorCallback cb, void *userdata,
                    NftMonitor **ret);
NftMonitor *nft_monitor_free(NftMonitor *mon);

/* Another table changed (or events were lost: anything may have). */
typedef void (*NftMonitorOthersCallback)(NftMonitor *mon, void *userdata);

/**
 * nft_monitor_watch_others() - also report foreign commits to the other tables.
 * @cb: called from the event loop once per foreign commit that touched a table of family inet
 *   (but ours), ip, ip6, netdev or bridge, after its NEWGEN event, and after every lost-events
 *   report; NULL stops it. Our own batches never reach it.
 */
void nft_monitor_watch_others(NftMonitor *mon, NftMonitorOthersCallback cb, void *userdata);

/**
 * nft_monitor_deafen() - leave the nftables group: around a large batch of our own, or while
 * nothing needs the events (manager-table.c).
 *
 * While any socket is in the group, the kernel builds a notification for every object a commit
 * changes, every set element included, even when a socket filter then drops it (ours drops
 * our own): half the time of a commit of 700,000 elements. The kernel counts the listeners per
 * protocol, across network namespaces. nft_monitor_listen() joins the group again.
 *
 * Return: 0, or a negative errno (nothing changed: the monitor still listens).
 */
int nft_monitor_deafen(NftMonitor *mon);
/**
 * nft_monitor_listen() - join the group again after nft_monitor_deafen().
 *
 * The other tables may have changed in the window in which the monitor heard nothing: it says so
 * at once, from inside this call, to nft_monitor_watch_others()' callback. Whether our own
 * table can have changed (not with the owner flag) is the caller's to know.
 *
 * Return: 0, or a negative errno when joining failed (the monitor stays deaf; call it again).
 */
int nft_monitor_listen(NftMonitor *mon);
bool nft_monitor_is_deaf(const NftMonitor *mon);

DEFINE_TRIVIAL_CLEANUP_FUNC(NftMonitor *, nft_monitor_free);

const char *nft_monitor_change_to_string(NftMonitorChange c);
