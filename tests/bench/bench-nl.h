/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-nl.h — libnftnl batches on a netlink socket of the tool's own, for the benchmark's tools
 * that time the kernel's commits (set-commit, rule-commit).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <libmnl/libmnl.h>
#include <libnftnl/expr.h>

typedef struct NlBench {
        struct mnl_socket *nl;
        uint32_t seq;
        char *buf;
        size_t buf_size;
        char *answers;                  /* MNL_SOCKET_BUFFER_SIZE * 4 */
} NlBench;

/* A NETLINK_NETFILTER socket and a batch buffer of @buf_size bytes. Return: 0 or -errno. */
int nl_bench_open(NlBench *n, size_t buf_size);
void nl_bench_close(NlBench *n);

typedef struct NlBatch {
        NlBench *n;
        struct mnl_nlmsg_batch *b;
        struct nlmsghdr *last;          /* the last message put in */
} NlBatch;

void nl_batch_start(NlBench *n, NlBatch *b);
/* The next message's header (NFPROTO_INET), for the caller to fill; nl_batch_next() puts it in. */
struct nlmsghdr *nl_batch_msg(NlBatch *b, uint16_t type, uint16_t flags);
/* Return: 0, or -ENOBUFS when the buffer is full. */
int nl_batch_next(NlBatch *b);
/* Ends the batch, asks an acknowledgement of its last message (as bfed does), sends it and
 * reads every answer the kernel queued (the echoes, the errors, the ack: all there once the
 * send returns). Return: 0, the kernel's first negative errno, or -EPROTO without the ack. */
int nl_batch_commit(NlBatch *b);
/* Deletes table inet @name in a batch of its own. */
int nl_delete_table(NlBench *n, const char *name);

/* Expressions: the packet's @len bytes at @offset of header @base into @reg; meta @key into @reg. */
struct nftnl_expr *nl_expr_payload(uint32_t base, uint32_t offset, uint32_t len, uint32_t reg);
struct nftnl_expr *nl_expr_meta(uint32_t key, uint32_t reg);
