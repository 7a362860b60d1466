/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * group.h — group commit: single-call changes that arrive back to back go to the kernel as
 * one netlink batch.
 *
 * A call outside any transaction (AddFilter, DeleteFilterById, …) is an implicit transaction
 * of its own. When a policy provider sends many of them without waiting for each reply, the
 * kernel's cost per commit (it validates the whole table on every commit that adds a rule)
 * would otherwise be paid once per call. So such a call is staged: its change goes into an
 * engine transaction shared with the calls before it, its reply (or its engine error) is kept,
 * and when the bus has no more messages queued — a defer event source at a priority below the
 * bus's — the group is committed in one batch and the replies go out, in call order, after
 * the Changed signals. Nothing is answered before the kernel has it.
 *
 * If the kernel refuses the group's batch, nothing of it is applied, and every call of the
 * group runs again on its own, in order, each with its own commit: each caller gets the answer
 * it would have got had the calls come one at a time.
 *
 * Anything that must see only committed state or needs the engine's transaction first commits
 * the pending group: reads (session_read_gate()), Begin, closing a session, restoring the
 * table, shutdown.
 */
#pragma once

#include <stdbool.h>
#include <systemd/sd-bus.h>

typedef struct Manager Manager;
typedef struct Session Session;
typedef struct EngineError EngineError;

int group_setup(Manager *m);
void group_done(Manager *m);

/*
 * Opens the group (an engine transaction) or joins the open one, as @s, and keeps @msg
 * (handled by @handler on @s) for the group's commit. Then the caller makes the change: if
 * the engine takes it, the handler's reply goes through session_reply(); if the engine
 * refuses it, group_refused() keeps that error as the reply.
 */
int group_join(Manager *m, Session *s, sd_bus_message *msg, sd_bus_message_handler_t handler);

/* Return: 1 (the handler returns 1: answered at the commit), or a negative errno when the
 * call could not be kept (it is then answered at once with @error). */
int group_refused(Manager *m, sd_bus_message *msg, const sd_bus_error *error);

/* Gives @reply to the staged call it answers; false if that call is not staged. */
bool group_take_reply(Manager *m, sd_bus_message *call, sd_bus_message *reply);

/* Commits the pending group now, if there is one, and sends its replies. */
void group_flush(Manager *m);

/* Whether calls are being staged now (false while a refused group's calls run one by one). */
bool group_enabled(const Manager *m);
