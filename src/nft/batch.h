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

#include "macro.h"

struct nlmsghdr;

typedef struct NftRecord {
        uint32_t seq;
        uint64_t *handle;       /* where the new rule's handle goes after commit, or NULL */
        bool inferred;          /* not echoed: its handle follows from its stretch's ends (below) */
        char *what;             /* "rule for filter 17 'ike mm policy'", for errors */
} NftRecord;

/* A value the compiler changed while building the batch, restored if the kernel refuses it. */
typedef struct NftUndo {
        void *slot;                     /* the value's place; a tracked object's: @drop's data */
        uint8_t old[16];                /* the value before, up to the size of an NftRuleRef */
        uint8_t size;
        bool with_data;                 /* a tracked object: @drop, not @destroy (nft_batch_defer()) */
        enum { UNDO_VALUE, UNDO_FREE_ON_ABORT, UNDO_FREE_ON_SUCCESS } kind;
        void *object;
        union {
                void (*destroy)(void *object);  /* NULL: free() */
                void (*drop)(void *object, void *data);
        };
} NftUndo;

typedef struct NftBatch {
        char *buf;
        size_t len, alloc;
        uint32_t seq_first, seq_next;
        uint32_t set_id_next;
        size_t n_messages;      /* between BEGIN and END */
        NftRecord *records;
        size_t n_records, n_records_alloc;
        bool closed;
        /* never the same twice: the layout entries it made carry it; its low 32 bits are ... */
        uint64_t serial;
        /* ... its generation, which pending rule ids carry: it comes again after 2^32 batches, and
         * so the layout forgets its pending ids when the high bits change (nft_layout_begin()) */
        uint32_t gen;
        uint32_t rule_id_next;
        NftUndo *undo;
        size_t n_undo, n_undo_alloc;
} NftBatch;

/* Assign through the undo log: NFT_SET(b, chunk->n, chunk->n + 1). */
int nft_batch_set(NftBatch *b, void *slot, const void *value, size_t size);
#define NFT_SET(b, lv, v) ({ __typeof__(lv) _v_ = (v); nft_batch_set((b), &(lv), &_v_, sizeof(lv)); })
int nft_batch_track(NftBatch *b, void *object, bool free_on_success);
int nft_batch_track_with(NftBatch *b, void *object, bool free_on_success, void (*destroy)(void *object));
/* @drop(@object, @data) once the batch is finished: applied (@on_success) or not. The compiler's
 * layout (layout.h) drops its entries so: of filters deleted or added by the batch. */
int nft_batch_defer(NftBatch *b, bool on_success, void (*drop)(void *object, void *data), void *object, void *data);
/* How many batches were refused (finished not applied) so far: caches derived from state that
 * a refused batch rolled back compare it with the count they were built at. */
extern unsigned nft_batch_refusals;
/* After the commit: @applied keeps the new values (and frees what was dropped), otherwise
 * everything set through NFT_SET goes back and new tracked objects are freed. */
void nft_batch_finish(NftBatch *b, bool applied);

int nft_batch_new(uint32_t seq_first, NftBatch **ret);
/* For tests: the next batch comes as if @n more had come and gone (2^32 of them bring a
 * generation back). */
void nft_batch_skip(uint64_t n);
NftBatch *nft_batch_free(NftBatch *b);
DEFINE_TRIVIAL_CLEANUP_FUNC(NftBatch *, nft_batch_free);

/* Room for one more message: returns the place to build it, NULL on OOM. */
char *nft_batch_reserve(NftBatch *b);
/* Account for the message just built at the reserved place; records what it is for. */
int nft_batch_commit_msg(NftBatch *b, struct nlmsghdr *nlh, uint64_t *handle, const char *what);
uint32_t nft_batch_next_seq(NftBatch *b);
int nft_batch_close(NftBatch *b);  /* appends END */

/*
 * nft_batch_echo_ends() - before nft_batch_close(): of each stretch of consecutive new rules whose
 * handles we want, only the first and the last ask for an echo.
 *
 * The kernel gives a table's new rules, chains and sets their handles from one counter of the
 * table, one each in the batch's order, and the batch holds the commit mutex throughout: so the
 * rules between a stretch's ends have the first one's handle plus their distance from it. Every
 * echo costs the kernel a notification built where no one else listens (a rule's, ~2.5 µs).
 * nft_batch_infer_handles() checks the assumption on each stretch against its last rule.
 */
void nft_batch_echo_ends(NftBatch *b);

/*
 * nft_batch_infer_handles() - the handles of the rules nft_batch_echo_ends() did not echo.
 * @handles: per record, the echoed handles (0 where none came); the inferred ones are filled in.
 *
 * Return: 0; -EUCLEAN when a stretch's echoed ends are not as far apart as its rules (the kernel
 * numbered them some other way: the handles between are unknown).
 */
int nft_batch_infer_handles(const NftBatch *b, uint64_t *handles);
const NftRecord *nft_batch_find(const NftBatch *b, uint32_t seq);
/* True when nothing but BEGIN is in it: no need to talk to the kernel. */
static inline bool nft_batch_is_empty(const NftBatch *b) {
        return b->n_messages == 0;
}
