/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * manager-trace.h — truth on the wire: the watch on exempted IKE datagrams that another table
 * drops (tracewatch.h), in the daemon. Each report is a warning in the log and goes to the
 * hooks (the ExemptedTrafficDropped signal); the counts are the ExemptedDrops property.
 */
#pragma once

typedef struct Manager Manager;

/* After the first install: sets m->trace. Logs; bfed runs without the watch if it fails. */
void manager_trace_watch(Manager *m);
