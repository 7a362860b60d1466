/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * transport.h — the one place that owns the nftables netlink socket. It sends a batch,
 * reads every answer, learns new rule handles from the kernel's echoes, and names the
 * message the kernel refused. The table is created with the owner flag, so only this
 * socket may change it while it is open.
 */
#pragma once

#include <stdint.h>

typedef struct NftBatch NftBatch;
typedef struct NftTransport NftTransport;

int nft_transport_new(NftTransport **ret);
NftTransport *nft_transport_free(NftTransport *t);
static inline void nft_transport_freep(NftTransport **t) {
        if (*t)
                nft_transport_free(*t);
}

/* The first sequence number for a new batch. */
uint32_t nft_transport_seq(NftTransport *t);

/* The socket's netlink port id: the kernel's nftables events for our own batches carry it. */
uint32_t nft_transport_portid(NftTransport *t);

/**
 * nft_transport_commit() - send one batch and read all answers.
 * @ret_error: on failure, a malloc'd sentence naming what was refused and why
 *
 * Return: 0 when the kernel applied the whole batch (and handles are filled in), a negative
 * errno when it applied nothing.
 */
int nft_transport_commit(NftTransport *t, NftBatch *b, char **ret_error);
