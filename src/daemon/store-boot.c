/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* store-boot.c — the boot file, written durably. See store-boot.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "boot.h"
#include "fileio.h"
#include "macro.h"
#include "store-boot.h"

#define BOOT_TMP_FILE BOOT_FILE ".tmp"

typedef enum BootPending {
        BOOT_NONE,
        BOOT_WRITE,     /* boot.nft.tmp is written: rename it into place */
        BOOT_REMOVE,    /* no boot-time filter: remove boot.nft */
} BootPending;

struct BootFile {
        int dir_fd;
        char *path;
        BootPending pending;
};

int boot_file_new(const char *dir, BootFile **ret) {
        BootFile *b = calloc(1, sizeof(*b));

        if (!b)
                return -ENOMEM;
        b->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (b->dir_fd < 0 || asprintf(&b->path, "%s/%s", dir, BOOT_FILE) < 0) {
                int r = b->dir_fd < 0 ? -errno : -ENOMEM;

                boot_file_free(b);
                return r;
        }
        *ret = b;
        return 0;
}

BootFile *boot_file_free(BootFile *b) {
        if (!b)
                return NULL;
        if (b->dir_fd >= 0)
                close(b->dir_fd);
        free(b->path);
        free(b);
        return NULL;
}

const char *boot_file_path(const BootFile *b) {
        return b->path;
}

bool boot_changes_touch(const Engine *e) {
        const Change *changes;
        size_t n;

        changes = engine_changes(e, &n);
        for (size_t i = 0; i < n; i++)
                if (changes[i].kind == OBJECT_FILTER && filter_is_boottime(changes[i].object))
                        return true;
        return false;
}

int boot_file_prepare(BootFile *b, const Engine *e, const NftConfig *c) {
        _cleanup_(freep) char *text = NULL;
        size_t len;
        int r;

        boot_file_discard(b);
        if (nft_boot_count(e) == 0) {
                b->pending = BOOT_REMOVE;
                return 0;
        }
        r = nft_boot_render(e, c, &text, &len);
        if (r < 0)
                return r;
        /* a fresh inode, 0600: bfed-boot.service reads it as the user bfed */
        r = write_new_file_at(b->dir_fd, BOOT_TMP_FILE, text, len);
        if (r < 0)
                return r;
        b->pending = BOOT_WRITE;
        return 0;
}

int boot_file_commit(BootFile *b) {
        BootPending p = b->pending;

        b->pending = BOOT_NONE;
        if (p == BOOT_NONE)
                return -EBADE;
        if (p == BOOT_WRITE && renameat(b->dir_fd, BOOT_TMP_FILE, b->dir_fd, BOOT_FILE) < 0) {
                int r = -errno;

                (void) unlinkat(b->dir_fd, BOOT_TMP_FILE, 0);
                return r;
        }
        if (p == BOOT_REMOVE && unlinkat(b->dir_fd, BOOT_FILE, 0) < 0) {
                if (errno == ENOENT)
                        return 0;
                return -errno;
        }
        if (fsync(b->dir_fd) < 0)
                return -errno;
        return 0;
}

void boot_file_discard(BootFile *b) {
        (void) unlinkat(b->dir_fd, BOOT_TMP_FILE, 0);
        b->pending = BOOT_NONE;
}

int boot_file_sync(BootFile *b, const Engine *e, const NftConfig *c) {
        int r;

        r = boot_file_prepare(b, e, c);
        if (r >= 0)
                r = boot_file_commit(b);
        return r < 0 ? r : (int) nft_boot_count(e);
}
