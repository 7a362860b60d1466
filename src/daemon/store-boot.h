/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * store-boot.h — the boot file, <statedir>/boot.nft: the boot-time filters as the `nft -f` script
 * bfed-boot.service loads before the network comes up (src/nft/boot.h says what is in it).
 *
 * Saved as the state file is, around the kernel commit: boot_file_prepare() writes and syncs
 * boot.nft.tmp while the engine transaction is open (or notes that the file must go: no
 * boot-time filter is left), boot_file_commit() renames it into place (or removes boot.nft) and
 * syncs the directory, boot_file_discard() throws it away. Without a boot-time filter there is
 * no file, so the unit's ConditionPathExists= skips it. Never logs (STYLE §10).
 */
#pragma once

#include <stdbool.h>

#include "compile.h"
#include "engine.h"

#define BOOT_FILE "boot.nft"

typedef struct BootFile BootFile;

/* The boot file of state directory @dir (which exists: store_new() made it). */
int boot_file_new(const char *dir, BootFile **ret);
BootFile *boot_file_free(BootFile *b);
const char *boot_file_path(const BootFile *b);

/* Whether the open engine transaction adds or deletes a boot-time filter. */
bool boot_changes_touch(const Engine *e);

int boot_file_prepare(BootFile *b, const Engine *e, const NftConfig *c);
/* Return: 0; -EBADE without a prepare; -errno of the rename, unlink or directory fsync. */
int boot_file_commit(BootFile *b);
void boot_file_discard(BootFile *b);

/* Prepare and commit at once: at start, so the file follows the state file and the configuration
 * (Table=, Priority=) whatever an earlier bfed left. Return: the number of boot-time filters. */
int boot_file_sync(BootFile *b, const Engine *e, const NftConfig *c);
