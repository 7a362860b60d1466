/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * boot.h — the boot file: the engine's boot-time filters (FWPM_FILTER_FLAG_BOOTTIME) as an
 * `nft -f` script that creates table inet <table> with them, for bfed-boot.service to load before
 * the network comes up (doc/design.md §14, doc/org.bfed.Engine1.md "Boot-time filters").
 *
 * The table has bfed's layout for the layers that have boot-time filters: the base chains at
 * NftConfig.priority (policy accept, as bfed's), the family chains, and one chain per sublayer
 * with boot-time filters at the layer, jumped to in sublayer weight order; each filter is one
 * rule (a few when its conditions are an OR nftables cannot say in one rule: ports that are also
 * ICMP type and code, FLAGS any-set with both flags), with the verdict bfed's rule would have.
 * It has no flags: with `owner` the table would die with nft's socket, and nft 1.0.6 cannot set
 * `persist`. bfed replaces it at start in one batch, as it replaces any table of its name.
 *
 * Pure: no I/O. Every text a caller chose (a filter's name, an interface name) goes through
 * nft_comment_sanitize() or the interface name rules, so the script parses as nft reads it.
 */
#pragma once

#include <stddef.h>

#include "compile.h"
#include "engine.h"

/* The header line of every boot file bfed writes. */
#define NFT_BOOT_HEADER "#!/usr/sbin/nft -f\n"

/* The number of boot-time filters of @e. */
size_t nft_boot_count(const Engine *e);

/*
 * nft_boot_render() - the boot file's text for @e's boot-time filters.
 * @ret: the script, NUL-terminated (free()); with no boot-time filter, a script that creates the
 *   empty table (bfed removes the file instead: see the daemon's boot.c)
 * @ret_len: its length
 *
 * Return: 0; -ENOMEM; -EINVAL for a condition the renderer does not know (bfed's own fields,
 * which only engine-owned filters have).
 */
int nft_boot_render(const Engine *e, const NftConfig *c, char **ret, size_t *ret_len);
