/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * transport.h — the one place that owns the nftables netlink socket. It sends a batch,
 * reads every answer, learns new rule handles from the kernel's echoes, and names the
 * message the kernel refused. The table is created with the owner flag, so only this
 * socket may change it while it is open. It also makes every request: the dump of the
 * whole table (image.h reads it), and the dump of every other table (obstacles.h reads it).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "macro.h"

typedef struct NftBatch NftBatch;
typedef struct NftTransport NftTransport;

int nft_transport_new(NftTransport **ret);
NftTransport *nft_transport_free(NftTransport *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(NftTransport *, nft_transport_free);

/* The first sequence number for a new batch. */
uint32_t nft_transport_seq(NftTransport *t);

/* The socket's netlink port id: the kernel's nftables events for our own batches carry it. */
uint32_t nft_transport_portid(NftTransport *t);

/**
 * nft_transport_commit() - send one batch and read all answers.
 * @ret_error: on failure, a malloc'd sentence naming what was refused and why
 *
 * Of each stretch of new rules only the first and the last are echoed; the handles between are
 * inferred (nft_batch_echo_ends()).
 *
 * Return: 0 when the kernel applied the whole batch (and handles are filled in), a negative
 * errno when it applied nothing; -EUCLEAN when it applied the batch but numbered a stretch's
 * rules otherwise than one after the other: the handles between its ends are 0, and from then
 * on every new rule is echoed.
 */
int nft_transport_commit(NftTransport *t, NftBatch *b, char **ret_error);

/* Dumps of the table read up to this much; a table that needs more is too big to compare. */
#define NFT_DUMP_BYTES_MAX ((size_t) 1 << 30)

/**
 * nft_transport_dump_table() - everything of table inet @table, as the kernel has it now.
 * @ret_buf, @ret_len: a malloc'd buffer of the kernel's messages, for nft_image_parse(): the
 *   table, the chains, sets, each set's elements, rules, stateful objects and flowtables.
 *
 * The dumps are several requests; they are one consistent picture only if no commit came
 * between them, so the generation is read before and after, and everything is read again
 * (a few times) when it moved.
 *
 * Return: 0; -ENOENT when the table does not exist; -EAGAIN when it kept changing while it
 * was read; -E2BIG beyond NFT_DUMP_BYTES_MAX; another negative errno.
 */
int nft_transport_dump_table(NftTransport *t, const char *table, char **ret_buf, size_t *ret_len);

/* The other tables' dump reads up to this much: beyond it, -E2BIG (they are too big to analyze). */
#define NFT_DUMP_FOREIGN_BYTES_MAX ((size_t) 256 << 20)

/**
 * nft_transport_dump_foreign() - every table of families inet, ip, ip6, netdev and bridge but
 * inet @own_table, as the kernel has them now.
 * @ret_buf, @ret_len: a malloc'd buffer of the kernel's messages, for nft_obstacles_find(): per
 *   table, the table, then its chains, sets, each set's elements and rules.
 * @ret_gen: if not NULL, the ruleset generation the picture is of (nft_transport_gen()).
 *
 * One consistent picture, as nft_transport_dump_table()'s: read again when a commit came in
 * between (a table that went away in the middle counts as such a commit).
 *
 * Return: 0; -EAGAIN when the tables kept changing while they were read; -E2BIG beyond
 * NFT_DUMP_FOREIGN_BYTES_MAX; another negative errno.
 */
int nft_transport_dump_foreign(NftTransport *t, const char *own_table, char **ret_buf, size_t *ret_len,
                               uint32_t *ret_gen);

/* The ruleset's generation: the kernel counts every commit of the network namespace, whoever
 * made it. Return: 0, or a negative errno. */
int nft_transport_gen(NftTransport *t, uint32_t *ret_gen);
