/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * store-format.h — the state file's text as a whole, in memory: written for an engine's
 * persistent objects, and read back record by record, with everything that could not be
 * trusted noted. For store.c, which keeps the files on disk.
 */
#pragma once

#include <stddef.h>

#include "engine.h"
#include "macro.h"
#include "store.h"

/* One load's messages: "FILE:LINE: reason", or "FILE: reason" about the whole file. */
typedef struct Loader {
        const char *path;               /* the file, for messages */
        unsigned version;               /* of the file's header (1 or 2; 0 when it is damaged) */
        unsigned long line;             /* 0: the message is about the whole file */
        char *error;                    /* the first failure's message */
} Loader;

/* Sets l->error (unless it is set) and returns @r. */
int loader_fail(Loader *l, int r, const char *fmt, ...) _printf_(3, 4);
/* Returns @r, and hands the message (l->error, or @r's text) to *@ret_error when it is not NULL. */
int loader_return(Loader *l, int r, char **ret_error);

/* A line that was not loaded. */
typedef struct Rejected {
        unsigned long line;
        size_t offset, size;            /* the line in the file, without its newline */
        char *why;                      /* "FILE:LINE: reason" */
} Rejected;

typedef struct LoadResult {
        unsigned long n_loaded;
        char *damage;                   /* "FILE[:LINE]: reason" about the file as a whole, or NULL */
        Rejected *rejected;
        size_t n_rejected, n_rejected_alloc;
} LoadResult;

void load_result_done(LoadResult *res);

/*
 * load_text() - reads a state file's @data into @e, record by record, with no side effects.
 *
 * Every record the parser and the engine accept is added, each in its own engine savepoint;
 * every other line, and damage to the file as a whole, is noted in @res, and said in
 * *@ret_problems. On success the engine transaction stays open, for the caller to commit (or
 * abort).
 *
 * Return: 0; or, with nothing added and the transaction closed, -EPROTONOSUPPORT for a newer
 * version, the engine's error when it is in a transaction, or -ENOMEM, the message in
 * *@ret_error.
 */
int load_text(Loader *l, Engine *e, const void *data, size_t size, LoadResult *res, StoreProblems *ret_problems,
              char **ret_error);

/* Appends a message to @p. */
int store_problems_add(StoreProblems *p, const char *fmt, ...) _printf_(2, 3);
