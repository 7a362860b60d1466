/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fileio.h — reading a file that anyone with root (or a disk fault) may have replaced by
 * something else: the configuration and the state file; and writing one so that a crash
 * leaves either the old file or the new one.
 */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* "a FIFO", "a directory", "a symbolic link", ...: what a file that is not a regular file is. */
const char *file_type_to_string(mode_t mode);

/*
 * read_regular_file() - the whole of the file open at @fd, which must be a regular file.
 * @fd: opened with O_NONBLOCK, so that a FIFO in the file's place cannot hang the caller
 * @max: the largest size accepted
 * @ret_data: malloc()ed, NUL-terminated
 * @ret_mode: optional: the file's mode, also when it is not a regular file (for the message)
 *
 * A file that shrinks while it is read gives what was there.
 *
 * Return: 0; -EINVAL when it is not a regular file; -EFBIG when larger than @max; -ENOMEM; or
 * the errno of fstat() or read().
 */
int read_regular_file(int fd, size_t max, char **ret_data, size_t *ret_size, mode_t *ret_mode);

/* All @n bytes of @data to @fd, through short writes and EINTR: 0 or a negative errno. */
int write_full(int fd, const void *data, size_t n);

/*
 * write_new_file_at() - @size bytes of @data as the file @name in the directory open at @dir_fd,
 * on disk (fsync()) when this returns: the first half of an atomic replace, whose caller then
 * renames it over the real file. The file is a fresh inode, mode 0600, never a link followed:
 * whatever a crash left under @name is removed first. On failure nothing is left under @name.
 *
 * Return: 0, or a negative errno.
 */
int write_new_file_at(int dir_fd, const char *name, const void *data, size_t size);
