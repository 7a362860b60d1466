/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * session-bus.h — org.bfed.Session1: a session's own methods (BeginTransaction,
 * CommitTransaction, AbortTransaction, Close) on /org/bfed/Engine1/session/N, served only to
 * the session's owner.
 */
#pragma once

#include "bus.h"

/* Registers the session objects (a fallback vtable under the session path) on @conn. */
int session_bus_register(Bus *b, sd_bus *conn);
