/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* store.h — the persistence store: persistent engine objects in <statedir>/state, saved durably. */
#pragma once

#include <stdbool.h>

typedef struct Engine Engine;

#define STORE_VERSION 1

typedef struct Store Store;

/* Opens (and creates, 0700, with missing parents) the state directory. */
int store_new(const char *dir, Store **ret);
Store *store_free(Store *s);
static inline void store_freep(Store **s) {
        if (*s)
                store_free(*s);
}

const char *store_path(const Store *s);        /* <dir>/state, for messages */

/* Restores <dir>/state into @e (empty, not in a transaction) in one engine transaction that it
 * begins and commits itself. Returns the number of objects loaded (0 for a missing file), or a
 * negative error with *ret_error set to "FILE:LINE: reason"; then nothing was added and the
 * file is untouched. */
int store_load(Store *s, Engine *e, char **ret_error);

/* Validates a state file by loading it into a scratch engine (bfed --check-state FILE).
 * A missing file is an error here. Returns the number of objects, or as store_load(). */
int store_check_file(const char *path, char **ret_error);

/* Durable save around the kernel commit, while the engine transaction is still open:
 *   store_prepare()  writes the engine's current persistent objects to <dir>/state.tmp, fsyncs;
 *   store_commit()   renames it over <dir>/state and fsyncs the directory;
 *   store_discard()  removes state.tmp (the kernel refused the batch; state stays as it was). */
int store_prepare(Store *s, const Engine *e);
int store_commit(Store *s);
void store_discard(Store *s);

/* Whether the open transaction's journal adds or deletes a persistent object (a save is
 * needed). Call it before engine_commit(), which empties the journal. */
bool store_changes_touch_persistent(const Engine *e);
