/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * manager-trace.h — truth on the wire: the watch on exempted IKE datagrams that another table
 * drops (tracewatch.h), in the daemon. Each report is a warning in the log and goes to the
 * hooks (the ExemptedTrafficDropped signal); the counts are the ExemptedDrops property.
 */
#pragma once

typedef struct Manager Manager;

/* Before the first install: whether the kernel takes the trace chains, and the watch on their
 * events (m->trace). Without either, the table goes without the trace chains
 * (m->config.nft.trace false): the exemptions work, unwatched. Logs; never fails the start. */
void manager_trace_setup(Manager *m);
