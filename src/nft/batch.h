/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * batch.h — one nftables transaction as a buffer of netlink messages between BEGIN and END,
 * plus a record per message of what it is for: the rule handle to learn from the kernel's
 * echo, and the text that names the message's origin when the kernel refuses it.
 * Pure: building a batch touches no socket.
 */
#pragma once

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

struct nlmsghdr;

typedef struct NftRecord {
        uint32_t seq;
        uint64_t *handle;       /* where the new rule's handle goes after commit, or NULL */
        char *what;             /* "rule for filter 17 'ike mm policy'", for errors */
} NftRecord;

typedef struct NftBatch {
        char *buf;
        size_t len, alloc;
        uint32_t seq_first, seq_next;
        uint32_t set_id_next;
        size_t n_messages;      /* between BEGIN and END */
        NftRecord *records;
        size_t n_records, n_records_alloc;
        bool closed;
} NftBatch;

int nft_batch_new(uint32_t seq_first, NftBatch **ret);
NftBatch *nft_batch_free(NftBatch *b);
static inline void nft_batch_freep(NftBatch **b) {
        if (*b)
                nft_batch_free(*b);
}

/* Room for one more message: returns the place to build it, NULL on OOM. */
char *nft_batch_reserve(NftBatch *b);
/* Account for the message just built at the reserved place; records what it is for. */
int nft_batch_commit_msg(NftBatch *b, struct nlmsghdr *nlh, uint64_t *handle, const char *what);
uint32_t nft_batch_next_seq(NftBatch *b);
int nft_batch_close(NftBatch *b);  /* appends END */
const NftRecord *nft_batch_find(const NftBatch *b, uint32_t seq);
/* True when nothing but BEGIN is in it: no need to talk to the kernel. */
static inline bool nft_batch_is_empty(const NftBatch *b) {
        return b->n_messages == 0;
}
