/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* store.h — the persistence store: persistent engine objects in <statedir>/state, saved durably. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

typedef struct Engine Engine;

/* Version 2: an ALE_USER_ID condition keeps the uid (and the user name given). Version 1
 * files are read too. */
#define STORE_VERSION 2

typedef struct Store Store;

/* What a load could not take, and what was done about it. */
typedef struct StoreProblems {
        char **messages;        /* NULL-terminated (NULL when none); "FILE:LINE: reason" or "FILE: reason" */
        size_t n_messages;
        size_t n_skipped;       /* lines not loaded */
        bool damaged;           /* the file as a whole: header, truncation, checksum, count, not a regular file */
} StoreProblems;

void store_problems_done(StoreProblems *p);

/* Opens (and creates, 0700, with missing parents) the state directory. */
int store_new(const char *dir, Store **ret);
Store *store_free(Store *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(Store *, store_free);

const char *store_path(const Store *s);        /* <dir>/state, for messages */

/* Restores <dir>/state into @e (empty, not in a transaction), as much of it as can be trusted,
 * in one engine transaction that it begins and commits itself. Every record that the parser
 * or the engine refuses is skipped and appended to <dir>/state.rejected; a damaged file is
 * kept as <dir>/state.damaged-TIME first, and a non-regular file moved there; then the state
 * file is rewritten with what was loaded. *ret_problems says all of it (for the error log).
 * Returns the number of objects loaded (0 for a missing file), or a negative error with
 * *ret_error set to "FILE[:LINE]: reason" (-EPROTONOSUPPORT: a newer version); then nothing
 * was added and no file was touched. */
int store_load(Store *s, Engine *e, StoreProblems *ret_problems, char **ret_error);

/* The same reading from memory, without touching any file (the fuzzers' entry point);
 * @name is for messages. */
int store_load_buffer(const char *name, const void *data, size_t size, Engine *e, StoreProblems *ret_problems,
                      char **ret_error);

/* Checks a state file by loading it into a scratch engine, writing nothing (bfed
 * --check-state FILE): returns the number of objects it would give and its problems. A
 * missing file or one that is not a regular file is an error here. */
int store_check_file(const char *path, StoreProblems *ret_problems, char **ret_error);

/* The state file's content for @e's persistent objects (NUL-terminated; what store_prepare()
 * writes). For the fuzzers' round trip. */
int store_format(const Engine *e, char **ret_data, size_t *ret_size);

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
