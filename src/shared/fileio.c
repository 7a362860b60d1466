/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fileio.c — see fileio.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "macro.h"

const char *file_type_to_string(mode_t mode) {
        switch (mode & S_IFMT) {
        case S_IFREG:
                return "a regular file";
        case S_IFIFO:
                return "a FIFO";
        case S_IFLNK:
                return "a symbolic link";
        case S_IFDIR:
                return "a directory";
        case S_IFSOCK:
                return "a socket";
        case S_IFCHR:
                return "a character device";
        case S_IFBLK:
                return "a block device";
        }
        return "not a regular file";
}

int read_regular_file(int fd, size_t max, char **ret_data, size_t *ret_size, mode_t *ret_mode) {
        _cleanup_(freep) char *data = NULL;
        struct stat st;
        size_t size = 0;

        if (fstat(fd, &st) < 0)
                return -errno;
        if (ret_mode)
                *ret_mode = st.st_mode;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        if ((uint64_t) st.st_size > max)
                return -EFBIG;
        data = malloc((size_t) st.st_size + 1);
        if (!data)
                return -ENOMEM;
        while (size < (size_t) st.st_size) {
                ssize_t k = read(fd, data + size, (size_t) st.st_size - size);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                size += (size_t) k;
        }
        data[size] = 0;
        *ret_data = TAKE_PTR(data);
        *ret_size = size;
        return 0;
}

int write_full(int fd, const void *data, size_t n) {
        const uint8_t *p = data;

        while (n > 0) {
                ssize_t k = write(fd, p, n);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

int write_new_file_at(int dir_fd, const char *name, const void *data, size_t size) {
        _cleanup_(closep) int fd = -1;
        int r;

        /* a fresh inode: nothing left over from a crash keeps its mode or its links */
        if (unlinkat(dir_fd, name, 0) < 0 && errno != ENOENT)
                return -errno;
        fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        r = write_full(fd, data, size);
        if (r >= 0 && fsync(fd) < 0)
                r = -errno;
        if (r >= 0 && close(TAKE_FD(fd)) < 0)
                r = -errno;
        if (r < 0)
                (void) unlinkat(dir_fd, name, 0);
        return r;
}
