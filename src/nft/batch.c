/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* batch.c — see batch.h. */
#include <assert.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "batch.h"
#include "macro.h"
#include "utf8.h"

/* The largest single message we build: a rule with ENGINE_CONDITIONS_MAX conditions, or a set. */
#define NFT_MSG_MAX (64 * 1024)
/* A batch's first room for messages */
#define BATCH_FIRST_ALLOC (4 * NFT_MSG_MAX)

/*
 * The buffer of the last batch freed, if it was no bigger than a new one: the next batch takes it
 * instead of allocating 256 KiB and clearing all of it, which a small commit (one call's) paid
 * every time. Only what the batch may have written is cleared again: up to a message past its
 * end, the most nft_batch_reserve() lets a builder write there; the rest is still zeros.
 */
static struct {
        char *buf;
        size_t alloc, dirty;
} spare;

/* The batches made so far, as serials count them. */
static uint64_t serial;

void nft_batch_skip(uint64_t n) {
        serial += n;
}

int nft_batch_new(uint32_t seq_first, NftBatch **ret) {
        _cleanup_(nft_batch_freep) NftBatch *b = NULL;
        struct nlmsghdr *nlh;
        char *p;

        b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;

        b->seq_first = b->seq_next = seq_first;
        b->set_id_next = 1;
        b->serial = ++serial;                   /* never 0: 2^64 batches do not come */
        if ((uint32_t) b->serial == 0)          /* nor its generation: a zeroed entry is in no batch */
                b->serial = ++serial;
        b->gen = (uint32_t) b->serial;
        if (spare.buf) {
                memset(spare.buf, 0, spare.dirty);
                b->buf = spare.buf;
                b->alloc = spare.alloc;
                spare.buf = NULL;
        }

        p = nft_batch_reserve(b);
        if (!p)
                return -ENOMEM;
        nlh = nftnl_batch_begin(p, b->seq_next++);
        b->len += nlh->nlmsg_len;
        *ret = TAKE_PTR(b);
        return 0;
}

NftBatch *nft_batch_free(NftBatch *b) {
        if (!b)
                return NULL;
        for (size_t i = 0; i < b->n_records; i++)
                free(b->records[i].what);
        if (!spare.buf && b->buf && b->alloc <= BATCH_FIRST_ALLOC) {
                spare.buf = TAKE_PTR(b->buf);
                spare.alloc = b->alloc;
                spare.dirty = b->len + NFT_MSG_MAX < b->alloc ? b->len + NFT_MSG_MAX : b->alloc;
        }
        free_many(b->records, b->undo, b->buf);
        free(b);
        return NULL;
}

char *nft_batch_reserve(NftBatch *b) {
        size_t had = b->alloc;

        if (!ARRAY_RESERVE(b->buf, b->alloc, b->len + NFT_MSG_MAX, BATCH_FIRST_ALLOC))
                return NULL;
        /* libmnl (1.0.4) skips the padding after an attribute: cleared once here, when the room
         * is new, the padding is zeros, not whatever the heap held before */
        if (b->alloc > had)
                memset(b->buf + had, 0, b->alloc - had);
        return b->buf + b->len;
}

uint32_t nft_batch_next_seq(NftBatch *b) {
        return b->seq_next++;
}

int nft_batch_commit_msg(NftBatch *b, struct nlmsghdr *nlh, uint64_t *handle, const char *what) {
        if ((char *) nlh != b->buf + b->len || nlh->nlmsg_len > NFT_MSG_MAX)
                return -EINVAL;
        if (!ARRAY_RESERVE(b->records, b->n_records_alloc, b->n_records + 1, 64))
                return -ENOMEM;
        b->records[b->n_records] = (NftRecord) { .seq = nlh->nlmsg_seq, .handle = handle };
        if (what) {
                b->records[b->n_records].what = strdup(what);
                if (!b->records[b->n_records].what)
                        return -ENOMEM;
                /* it names a filter, whose name the caller's snprintf may have cut inside a
                 * character, and it ends up in an error reply on the bus */
                utf8_make_valid(b->records[b->n_records].what);
        }
        b->n_records++;
        b->len += NLMSG_ALIGN(nlh->nlmsg_len);
        b->n_messages++;
        return 0;
}

int nft_batch_close(NftBatch *b) {
        struct nlmsghdr *nlh;
        char *p;

        if (b->closed)
                return 0;

        /* One acknowledgement, for the last message: the kernel answers every message that
         * fails anyway, and all answers come after the batch was committed or refused, so the
         * last one's ack means the whole batch is in. An ack per message would cost the
         * kernel a reply and us a recv() each. */
        if (b->n_messages > 0) {
                int left = (int) b->len;
                struct nlmsghdr *last = NULL;

                for (nlh = (struct nlmsghdr *) b->buf; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
                        nlh->nlmsg_flags &= ~NLM_F_ACK;
                        last = nlh;
                }
                last->nlmsg_flags |= NLM_F_ACK;
        }

        p = nft_batch_reserve(b);
        if (!p)
                return -ENOMEM;
        nlh = nftnl_batch_end(p, b->seq_next++);
        b->len += nlh->nlmsg_len;
        b->closed = true;
        return 0;
}

/* The stretch of records wanting a handle that begins at @i: its last record. */
static size_t stretch_end(const NftBatch *b, size_t i) {
        while (i + 1 < b->n_records && b->records[i + 1].handle)
                i++;
        return i;
}

void nft_batch_echo_ends(NftBatch *b) {
        struct nlmsghdr *nlh = (struct nlmsghdr *) b->buf;
        int left = (int) b->len;

        assert(!b->closed);
        nlh = mnl_nlmsg_next(nlh, &left);       /* BEGIN has no record */
        for (size_t i = 0; i < b->n_records && mnl_nlmsg_ok(nlh, left); i++, nlh = mnl_nlmsg_next(nlh, &left)) {
                bool middle = b->records[i].handle && i > 0 && b->records[i - 1].handle &&
                              i + 1 < b->n_records && b->records[i + 1].handle;

                if (middle) {
                        nlh->nlmsg_flags &= ~NLM_F_ECHO;
                        b->records[i].inferred = true;
                }
        }
}

int nft_batch_infer_handles(const NftBatch *b, uint64_t *handles) {
        for (size_t i = 0; i < b->n_records; i++) {
                size_t e;

                if (!b->records[i].handle)
                        continue;
                e = stretch_end(b, i);
                if (e - i >= 2 && b->records[i + 1].inferred) {
                        uint64_t first = handles[i], last = handles[e];

                        if (first == 0 || last < first || last - first != e - i)
                                return -EUCLEAN;
                        for (size_t k = i + 1; k < e; k++)
                                handles[k] = first + (k - i);
                }
                i = e;
        }
        return 0;
}

const NftRecord *nft_batch_find(const NftBatch *b, uint32_t seq) {
        /* records are in seq order: binary search */
        size_t lo = 0, hi = b->n_records;

        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (b->records[mid].seq == seq)
                        return &b->records[mid];
                if (b->records[mid].seq < seq)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

static int undo_push(NftBatch *b, NftUndo u) {
        if (!ARRAY_RESERVE(b->undo, b->n_undo_alloc, b->n_undo + 1, 64))
                return -ENOMEM;
        b->undo[b->n_undo++] = u;
        return 0;
}

int nft_batch_set(NftBatch *b, void *slot, const void *value, size_t size) {
        NftUndo u = { .slot = slot, .size = (uint8_t) size, .kind = UNDO_VALUE };
        int r;

        if (size > sizeof(u.old))
                return -EINVAL;
        memcpy(u.old, slot, size);
        r = undo_push(b, u);
        if (r < 0)
                return r;
        memcpy(slot, value, size);
        return 0;
}

unsigned nft_batch_refusals;

int nft_batch_track_with(NftBatch *b, void *object, bool free_on_success, void (*destroy)(void *object)) {
        return undo_push(b, (NftUndo) { .object = object, .destroy = destroy,
                                        .kind = free_on_success ? UNDO_FREE_ON_SUCCESS : UNDO_FREE_ON_ABORT });
}

int nft_batch_track(NftBatch *b, void *object, bool free_on_success) {
        return nft_batch_track_with(b, object, free_on_success, NULL);
}

int nft_batch_defer(NftBatch *b, bool on_success, void (*drop)(void *object, void *data), void *object, void *data) {
        return undo_push(b, (NftUndo) { .object = object, .drop = drop, .slot = data, .with_data = true,
                                        .kind = on_success ? UNDO_FREE_ON_SUCCESS : UNDO_FREE_ON_ABORT });
}

static void undo_free(NftUndo *u) {
        if (u->with_data)
                u->drop(u->object, u->slot);
        else if (u->destroy)
                u->destroy(u->object);
        else
                free(u->object);
}

void nft_batch_finish(NftBatch *b, bool applied) {
        for (size_t i = b->n_undo; i-- > 0;) {
                NftUndo *u = &b->undo[i];

                switch (u->kind) {
                case UNDO_VALUE:
                        if (!applied)
                                memcpy(u->slot, u->old, u->size);
                        break;
                case UNDO_FREE_ON_ABORT:
                        if (!applied)
                                undo_free(u);
                        break;
                case UNDO_FREE_ON_SUCCESS:
                        if (applied)
                                undo_free(u);
                        break;
                }
        }
        if (!applied && b->n_undo > 0)
                nft_batch_refusals++;
        b->n_undo = 0;
}
