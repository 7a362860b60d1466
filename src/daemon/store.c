/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * store.c — the persistence store: the engine's persistent objects in <statedir>/state.
 *
 * The file's text is store-format.c's (the whole file: header, order, end record and CRC) and
 * store-record.c's (one record, one object, from the field tables). This file keeps the files
 * on disk: the durable save, and what a load does about a file that cannot be trusted whole.
 *
 * LOADING: FAIL CLOSED, NEVER EMPTY-HANDED. A firewall that refuses to start over one bad
 * record leaves the host with no table at all, which is the opposite of closed; one that
 * starts with nothing and says little hides the loss. So a load enforces as much of the stored
 * policy as can be trusted, and says loudly what it could not:
 * - Record by record, each in its own engine savepoint, with the engine's public add functions
 *   (it checks references and values exactly as for a D-Bus caller). A record that the parser
 *   or the engine refuses is skipped; so is, by the engine's own checks, every later record
 *   that references it. Each skip is returned as "FILE:LINE: reason" (the daemon logs it at
 *   error level), and its line is appended to <dir>/state.rejected after a comment line with
 *   the time and the reason, for the admin to fix and re-add.
 * - Damage to the file as a whole — a header that is not "bfed-state 1|2", a missing or cut end
 *   record, a count or CRC that disagrees, an empty file — does not stop the start either:
 *   every complete record that parses and that the engine accepts is loaded (with a bad CRC a
 *   record may differ from what was saved: the log says so, and the original is kept), and the
 *   damaged file is first hard-linked as <dir>/state.damaged-TIME, so that nothing overwrites
 *   it. A file larger than 1 GiB is kept the same way, and nothing is loaded from it.
 * - Something that is not a regular file at <dir>/state (a FIFO, whose open() would block the
 *   start for good; a symbolic link; a directory) is never followed nor opened blocking: it is
 *   moved to <dir>/state.damaged-TIME and bfed starts without persistent objects, loudly. bfed
 *   replaces the state file by rename on every save, so such a thing is never its own.
 * - After any of these, the state file is rewritten with what was loaded: the next start does
 *   not report the same problems again, and the file says what is in force.
 * - A newer version (a header above STORE_VERSION) is the one refusal: bfed does not start,
 *   and the file is untouched, because an older bfed must not rewrite a newer file. An engine
 *   in a transaction, no memory, an unreadable file, or failing to keep a damaged file aside
 *   also refuse, adding nothing.
 * - bfed --check-state FILE (store_check_file()) reports the same problems without writing.
 * Saving is write-to-temp, fsync, rename, fsync the directory, split in prepare/commit/discard
 * around the kernel commit.
 *
 * This module does not log (STYLE §10): it returns errors, and messages for the load path.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "fileio.h"
#include "macro.h"
#include "store.h"
#include "store-format.h"
#include "store-record.h"
#include "wfp.h"

#define STORE_FILE "state"
#define STORE_REJECTED_FILE "state.rejected"
#define STORE_DAMAGED_PREFIX "state.damaged-"
#define STORE_TMP_FILE "state.tmp"
#define STORE_FILE_MAX ((size_t) 1 << 30)                /* 1 GiB: far above 1,000,000 objects */

#ifndef MIN
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#endif

struct Store {
        char *dir;
        char *path;                     /* <dir>/state */
        int dir_fd;
        bool prepared;                  /* <dir>/state.tmp is written and waits for commit or discard */
};

/* ---- the store ---------------------------------------------------------------------------- */

/* mkdir -p, the last component 0700. */
static int mkdir_parents(const char *dir) {
        _cleanup_(freep) char *p = strdup(dir);

        if (!p)
                return -ENOMEM;
        for (char *slash = strchr(p + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
                *slash = 0;
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *slash = '/';
        }
        if (mkdir(p, 0700) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

int store_new(const char *dir, Store **ret) {
        _cleanup_(store_freep) Store *s = NULL;
        int r;

        if (!dir || !*dir)
                return -EINVAL;
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->dir_fd = -1;
        s->dir = strdup(dir);
        if (!s->dir || asprintf(&s->path, "%s/%s", dir, STORE_FILE) < 0) {
                s->path = NULL;
                return -ENOMEM;
        }
        r = mkdir_parents(dir);
        if (r < 0)
                return r;
        s->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (s->dir_fd < 0)
                return -errno;
        *ret = TAKE_PTR(s);
        return 0;
}

Store *store_free(Store *s) {
        if (!s)
                return NULL;
        if (s->prepared)
                store_discard(s);
        if (s->dir_fd >= 0)
                (void) close(s->dir_fd);
        free(s->path);
        free(s->dir);
        free(s);
        return NULL;
}

const char *store_path(const Store *s) {
        return s->path;
}

/* ---- saving --------------------------------------------------------------------------------- */

/**
 * store_prepare() - write the engine's persistent objects to <dir>/state.tmp, durably.
 * @s: the store
 * @e: the engine, usually inside the transaction about to be committed: its lists already
 *     show the transaction's adds and deletes
 *
 * <dir>/state is not touched; store_commit() puts the new file in place, store_discard()
 * throws it away. Every reference of a persistent object is to a persistent or built-in one
 * (the engine's lifetime rules refuse anything else), so what is written can be loaded.
 *
 * Return: 0, -ENOMEM, or the errno of a failed write.
 */
int store_prepare(Store *s, const Engine *e) {
        _cleanup_(freep) char *data = NULL;
        size_t size;
        int r;

        r = store_format(e, &data, &size);
        if (r < 0)
                return r;
        r = write_new_file_at(s->dir_fd, STORE_TMP_FILE, data, size);
        if (r < 0) {
                (void) unlinkat(s->dir_fd, STORE_TMP_FILE, 0);
                s->prepared = false;
                return r;
        }
        s->prepared = true;
        return 0;
}

/**
 * store_commit() - rename the prepared state.tmp over state and fsync the directory.
 *
 * Return: 0; -EBADE without a store_prepare() before; -errno of rename (the old state file
 * and state.tmp are as they were: call store_discard()) or of the directory fsync (the new
 * file is in place, but may not survive a power cut).
 */
int store_commit(Store *s) {
        if (!s->prepared)
                return -EBADE;
        if (renameat(s->dir_fd, STORE_TMP_FILE, s->dir_fd, STORE_FILE) < 0)
                return -errno;
        s->prepared = false;
        if (fsync(s->dir_fd) < 0)
                return -errno;
        return 0;
}

void store_discard(Store *s) {
        (void) unlinkat(s->dir_fd, STORE_TMP_FILE, 0);
        s->prepared = false;
}

/* ---- reading a state file -------------------------------------------------------------------- */

/* Reads the file open at @fd, NUL-terminated: 0; 1 when it is not a regular file (*@ret_mode
 * says what it is); -EFBIG beyond STORE_FILE_MAX, or another error, in l->error. */
static int read_fd(Loader *l, int fd, char **ret_data, size_t *ret_size, mode_t *ret_mode) {
        int r = read_regular_file(fd, STORE_FILE_MAX, ret_data, ret_size, ret_mode);

        if (r == -EINVAL)
                return 1;
        if (r == -EFBIG)
                return loader_fail(l, r, "file is larger than %zu bytes", STORE_FILE_MAX);
        if (r < 0)
                return loader_fail(l, r, "cannot read: %s", strerror(-r));
        return 0;
}

/**
 * store_check_file() - report what a state file holds and what is wrong with it.
 * @path: the file (bfed --check-state FILE); a symbolic link is followed: the admin named it
 * @ret_problems: as store_load_buffer()
 * @ret_error: on failure, "FILE[:LINE]: reason"; may be NULL
 *
 * Loads into a scratch engine and writes nothing anywhere. A missing file, and a file that is
 * not a regular file (opened without blocking, so a FIFO cannot hang it), are errors here.
 *
 * Return: the number of objects that would be loaded, or as store_load_buffer(), or -ENOENT,
 * -EINVAL (not a regular file), -EFBIG, or the errno of a failed open or read.
 */
int store_check_file(const char *path, StoreProblems *ret_problems, char **ret_error) {
        _cleanup_(engine_freep) Engine *e = NULL;
        _cleanup_(closep) int fd = -1;
        _cleanup_(freep) char *data = NULL;
        Loader l = { .path = path };
        size_t size = 0;
        mode_t mode = 0;
        int r;

        *ret_problems = (StoreProblems) {};
        r = engine_new(&e);
        if (r < 0)
                return r;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return loader_return(&l, loader_fail(&l, -errno, "cannot open: %s", strerror(errno)), ret_error);
        r = read_fd(&l, fd, &data, &size, &mode);
        if (r == 1)
                r = loader_fail(&l, -EINVAL, "not a regular file (%s)", file_type_to_string(mode));
        if (r < 0)
                return loader_return(&l, r, ret_error);
        return store_load_buffer(path, data, size, e, ret_problems, ret_error);
}

/* ---- loading at start: what is done about a file that cannot be trusted whole ------------- */

/* Keeps the file at <dir>/state as <dir>/state.damaged-YYYYMMDDTHHMMSSZ[-N]: a hard link for
 * a regular file (the next save renames a new file over "state"; this name keeps the old one),
 * a rename for anything else (it is not ours, and a save could not rename over a directory).
 * Sets *ret_name to the new name. */
static int keep_aside(Store *s, bool move, char **ret_name) {
        char stamp[32], name[64];
        struct tm tm;
        time_t now = time(NULL);

        if (!gmtime_r(&now, &tm) || strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm) == 0)
                return -EINVAL;
        for (unsigned i = 0; i < 100; i++) {
                int k;

                if (i == 0)
                        snprintf(name, sizeof(name), STORE_DAMAGED_PREFIX "%s", stamp);
                else
                        snprintf(name, sizeof(name), STORE_DAMAGED_PREFIX "%s-%u", stamp, i);
                if (move)
                        k = renameat2(s->dir_fd, STORE_FILE, s->dir_fd, name, RENAME_NOREPLACE);
                else
                        k = linkat(s->dir_fd, STORE_FILE, s->dir_fd, name, 0);
                if (k >= 0) {
                        if (fsync(s->dir_fd) < 0)
                                return -errno;
                        if (asprintf(ret_name, "%s/%s", s->dir, name) < 0)
                                return -ENOMEM;
                        return 0;
                }
                if (errno != EEXIST)
                        return -errno;
        }
        return -EEXIST;
}

/* Appends every line not loaded to <dir>/state.rejected, each after a comment line with the
 * time and the reason, so the admin can read, fix and re-add them. */
static int append_rejected(Store *s, const char *data, const LoadResult *res) {
        _cleanup_(buf_done) Buf b = {};
        _cleanup_(closep) int fd = -1;
        char stamp[32];
        struct stat st;
        struct tm tm;
        time_t now = time(NULL);
        int r;

        if (!gmtime_r(&now, &tm) || strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                return -EINVAL;
        for (size_t i = 0; i < res->n_rejected; i++) {
                const Rejected *x = &res->rejected[i];

                buf_printf(&b, "# %s %s\n", stamp, x->why);
                buf_put(&b, data + x->offset, x->size);
                buf_puts(&b, "\n");
        }
        if (b.oom)
                return -ENOMEM;
        fd = openat(s->dir_fd, STORE_REJECTED_FILE,
                    O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK, 0600);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        r = write_full(fd, b.data, b.size);
        if (r < 0)
                return r;
        if (fsync(fd) < 0)
                return -errno;
        return 0;
}

/* Opens <dir>/state without following a symbolic link and without blocking on a FIFO, and
 * reads it. Returns 0 (*ret_data NULL when there is no file); 1 when it is not a regular file
 * (*ret_mode says what it is); -EFBIG when it is too large; or a fatal error in l->error. */
static int read_state(Store *s, Loader *l, char **ret_data, size_t *ret_size, mode_t *ret_mode) {
        _cleanup_(closep) int fd = -1;
        struct stat st;

        *ret_data = NULL;
        *ret_size = 0;
        /* look before opening: opening a device can have side effects */
        if (fstatat(s->dir_fd, STORE_FILE, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno == ENOENT)
                        return 0;
                return loader_fail(l, -errno, "cannot stat: %s", strerror(errno));
        }
        *ret_mode = st.st_mode;
        if (!S_ISREG(st.st_mode))
                return 1;
        fd = openat(s->dir_fd, STORE_FILE, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);
        if (fd < 0) {
                if (errno == ENOENT)
                        return 0;
                if (errno == ELOOP) { /* replaced by a symbolic link since */
                        *ret_mode = S_IFLNK;
                        return 1;
                }
                return loader_fail(l, -errno, "cannot open: %s", strerror(errno));
        }
        return read_fd(l, fd, ret_data, ret_size, ret_mode);
}

/**
 * store_load() - restore the persistent objects of <dir>/state into @e, as many as can be trusted.
 * @s: the store
 * @e: the engine, not in a transaction (at start: empty)
 * @ret_problems: every problem, "FILE:LINE: reason" or "FILE: reason", and what was done about
 *                it; empty when the file loaded whole. The daemon logs each at error level.
 * @ret_error: on failure, "FILE[:LINE]: reason"; may be NULL
 *
 * Fail closed, but never empty-handed (see the top of this file): every record the parser and
 * the engine accept is loaded; a refused record is skipped, its line appended to
 * <dir>/state.rejected; a damaged file (header, truncation, checksum, count) is first kept as
 * <dir>/state.damaged-TIME; something that is not a regular file at <dir>/state (a FIFO, a
 * symbolic link, a directory) is moved there and nothing is loaded. After any of these the
 * state file is rewritten with what was loaded, so the next start does not report them again.
 *
 * Return: the number of objects loaded (0 for a missing file); -EPROTONOSUPPORT for a newer
 * version (the file is untouched: an older bfed must not rewrite a newer file); the engine's
 * error when it is in a transaction; -ENOMEM; or the errno of a failed read, or of keeping a
 * damaged file aside (then nothing was loaded and nothing rewritten).
 */
int store_load(Store *s, Engine *e, StoreProblems *ret_problems, char **ret_error) {
        _cleanup_(load_result_done) LoadResult res = {};
        _cleanup_(store_problems_done) StoreProblems p = {};
        _cleanup_(freep) char *data = NULL, *kept = NULL;
        Loader l = { .path = s->path };
        size_t size = 0;
        mode_t mode = 0;
        int r, k;

        *ret_problems = (StoreProblems) {};
        r = read_state(s, &l, &data, &size, &mode);
        if (r == 1 || r == -EFBIG) {
                /* nothing in it can be read: keep it aside, start with nothing, loudly */
                bool regular = r == -EFBIG;

                free(TAKE_PTR(l.error));
                if (engine_in_transaction(e))
                        return loader_return(&l, loader_fail(&l, wfp_ret(FWP_E_TXN_IN_PROGRESS),
                                                             "cannot load: the engine is in a transaction"), ret_error);
                k = keep_aside(s, !regular, &kept);
                if (k < 0)
                        return loader_return(&l, loader_fail(&l, k, "is %s%s, and it cannot be moved aside: %s",
                                                             regular ? "larger than " : file_type_to_string(mode),
                                                             regular ? "1 GiB" : ", not a regular file",
                                                             strerror(-k)), ret_error);
                p.damaged = true;
                if (store_problems_add(&p, "%s: is %s%s; %s %s and started without persistent objects", s->path,
                                       regular ? "larger than " : file_type_to_string(mode),
                                       regular ? "1 GiB" : ", not a regular file",
                                       regular ? "kept it as" : "moved it to", kept) < 0)
                        return -ENOMEM;
                if (regular) {
                        /* the copy is kept: a file for what is in force (nothing) replaces it */
                        k = store_prepare(s, e);
                        if (k >= 0)
                                k = store_commit(s);
                        if (k < 0) {
                                store_discard(s);
                                if (store_problems_add(&p, "%s: cannot rewrite it: %s", s->path, strerror(-k)) < 0)
                                        return -ENOMEM;
                        }
                }
                *ret_problems = p;
                p = (StoreProblems) {};
                return 0;
        }
        if (r < 0)
                return loader_return(&l, r, ret_error);
        if (!data)
                return 0;

        r = load_text(&l, e, data, size, &res, &p, ret_error);
        if (r < 0)
                return r;
        if (!res.damage && res.n_rejected == 0) {
                engine_commit(e);
                return (int) MIN(res.n_loaded, (unsigned long) INT_MAX);
        }

        /* Nothing may be lost: the damaged file is kept before anything can overwrite it, and
         * the skipped lines go where the admin can fix and re-add them. */
        if (res.damage) {
                k = keep_aside(s, false, &kept);
                if (k < 0) {
                        engine_abort(e);
                        store_problems_done(&p);
                        return loader_return(&l, loader_fail(&l, k, "is damaged (%s), and no copy of it can be "
                                                             "kept: %s", res.damage, strerror(-k)), ret_error);
                }
                if (store_problems_add(&p, "%s: kept the damaged file as %s; loaded every complete record that "
                                       "parsed and that the engine took (%lu)", s->path, kept, res.n_loaded) < 0)
                        goto oom;
        }
        if (res.n_rejected > 0) {
                k = append_rejected(s, data, &res);
                if (k < 0 && !kept) {
                        /* then the file itself must stay: the lines are nowhere else */
                        k = keep_aside(s, false, &kept);
                        if (k < 0) {
                                engine_abort(e);
                                store_problems_done(&p);
                                return loader_return(&l, loader_fail(&l, k, "cannot keep the %zu records not "
                                                                     "loaded (in %s/%s or a copy of the file): %s",
                                                                     res.n_rejected, s->dir, STORE_REJECTED_FILE,
                                                                     strerror(-k)), ret_error);
                        }
                        if (store_problems_add(&p, "%s: cannot append to %s/%s; kept the file as %s instead", s->path,
                                               s->dir, STORE_REJECTED_FILE, kept) < 0)
                                goto oom;
                } else if (k < 0) {
                        if (store_problems_add(&p, "%s: cannot append to %s/%s (%s); the lines are in %s", s->path,
                                               s->dir, STORE_REJECTED_FILE, strerror(-k), kept) < 0)
                                goto oom;
                } else if (store_problems_add(&p, "%s: %zu record%s not loaded; appended to %s/%s with the reasons, "
                                              "to be fixed and added again", s->path, res.n_rejected,
                                              res.n_rejected == 1 ? "" : "s", s->dir, STORE_REJECTED_FILE) < 0)
                        goto oom;
        }
        engine_commit(e);

        /* what is in force, so the next start does not report the same problems again */
        k = store_prepare(s, e);
        if (k >= 0)
                k = store_commit(s);
        if (k < 0) {
                store_discard(s);
                if (store_problems_add(&p, "%s: cannot rewrite it with the %lu objects loaded: %s", s->path,
                                       res.n_loaded, strerror(-k)) < 0)
                        return -ENOMEM;
        }
        *ret_problems = p;
        p = (StoreProblems) {};
        return (int) MIN(res.n_loaded, (unsigned long) INT_MAX);

oom:
        engine_abort(e);
        return loader_return(&l, -ENOMEM, ret_error);
}
