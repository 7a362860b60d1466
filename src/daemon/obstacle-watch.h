/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * obstacle-watch.h — what in the other nftables tables may drop the datagrams bfed's IKE/AuthIP
 * exemptions let through, kept up to date (issue 9 §1). An accept in bfed's table ends only
 * bfed's base chain: another table's base chain on the same hook still sees the datagram, and
 * its drop is final. So bfed reads the other tables at start, after every change another
 * process makes to them while the exemptions are active, and when the result is read while they
 * are not (obstacle_watch_refresh()); it runs the analysis of src/nft/obstacles.h on them, keeps
 * the result, logs what changed with what to do about it, and tells the glue (the
 * obstacles_changed hook), which publishes it as the ExemptionObstacles property.
 *
 * Part of the logic: it never sees D-Bus. firewalld's refusals, which the glue knows, are added
 * to the property there (bus-engine.c).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "engine.h"
#include "macro.h"
#include "obstacles.h"

typedef struct Manager Manager;
typedef struct NftMonitor NftMonitor;
typedef struct ObstacleWatch ObstacleWatch;

/*
 * Analyzes the other tables now (logs what it finds), and again after each change @monitor
 * reports: once the tables have been quiet for a moment (OBSTACLES_DELAY_USEC in the .c file).
 * *ret goes in the Manager, freed with it and before the monitor. Return: 0 or -ENOMEM (a
 * failed analysis is logged, and leaves the result empty).
 */
int obstacle_watch_new(Manager *m, NftMonitor *monitor, ObstacleWatch **ret);
ObstacleWatch *obstacle_watch_free(ObstacleWatch *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(ObstacleWatch *, obstacle_watch_free);

/* The exemptions came or went (manager_commit()): when they come, what is in the way is
 * looked at afresh and logged as warnings, once firewalld had a moment to open them. */
void obstacle_watch_exemptions_changed(ObstacleWatch *w, bool active);
/* Before the result is read: while the monitor is out of the nftables group (the exemptions are
 * inactive: manager-table.c), the tables are read again if any commit came since the last
 * reading: now, or where that reading is younger than OBSTACLES_DELAY_USEC, once it is that old.
 * @w may be NULL. */
void obstacle_watch_refresh(ObstacleWatch *w);

/* The last result: its entries in order (table, then chain). @w may be NULL (none). */
size_t obstacle_watch_count(const ObstacleWatch *w);
const NftObstacle *obstacle_watch_entry(const ObstacleWatch *w, size_t i);
/* The entry's text for the property and the log: which datagrams it drops for certain and which
 * it may drop, then what drops them: "may drop IPv4 UDP 500/4500 inbound new flows: policy drop". */
const char *obstacle_watch_text(const ObstacleWatch *w, size_t i);

/* The exempted datagram kind (an NFT_DGRAM bit) of a packet Explain looks at, at @layer, or -1
 * when the exemptions do not cover it (not UDP, not an IKE port, IPv6 UDP 4500). */
int obstacle_kind_of_packet(WfpLayer layer, const Packet *p);

/* "IPv4 UDP 500/4500 and IPv6 UDP 500 inbound new flows": the kinds of an NFT_DGRAM mask. */
void obstacle_kinds_to_string(uint32_t kinds, char *buf, size_t size);
