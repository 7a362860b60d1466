/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bench-nl.c — libnftnl batches on a netlink socket of the tool's own (bench-nl.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <libnftnl/common.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include "bench-nl.h"

#define ANSWERS_SIZE (MNL_SOCKET_BUFFER_SIZE * 4)

int nl_bench_open(NlBench *n, size_t buf_size) {
        *n = (NlBench) { .seq = 1, .buf_size = buf_size };
        n->buf = malloc(buf_size);
        n->answers = malloc(ANSWERS_SIZE);
        n->nl = mnl_socket_open(NETLINK_NETFILTER);
        if (!n->buf || !n->answers || !n->nl || mnl_socket_bind(n->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
                int r = errno ? -errno : -ENOMEM;

                nl_bench_close(n);
                return r;
        }
        return 0;
}

void nl_bench_close(NlBench *n) {
        if (n->nl)
                mnl_socket_close(n->nl);
        free(n->buf);
        free(n->answers);
        *n = (NlBench) {};
}

void nl_batch_start(NlBench *n, NlBatch *b) {
        *b = (NlBatch) { .n = n, .b = mnl_nlmsg_batch_start(n->buf, n->buf_size) };
        nftnl_batch_begin(mnl_nlmsg_batch_current(b->b), n->seq++);
        mnl_nlmsg_batch_next(b->b);
}

struct nlmsghdr *nl_batch_msg(NlBatch *b, uint16_t type, uint16_t flags) {
        b->last = nftnl_nlmsg_build_hdr(mnl_nlmsg_batch_current(b->b), type, NFPROTO_INET, flags, b->n->seq++);
        return b->last;
}

int nl_batch_next(NlBatch *b) {
        return mnl_nlmsg_batch_next(b->b) ? 0 : -ENOBUFS;
}

int nl_batch_commit(NlBatch *b) {
        bool acked = false;
        int r = 0;

        if (b->last)
                b->last->nlmsg_flags |= NLM_F_ACK;
        nftnl_batch_end(mnl_nlmsg_batch_current(b->b), b->n->seq++);
        mnl_nlmsg_batch_next(b->b);
        if (mnl_socket_sendto(b->n->nl, mnl_nlmsg_batch_head(b->b), mnl_nlmsg_batch_size(b->b)) < 0)
                r = -errno;
        mnl_nlmsg_batch_stop(b->b);
        if (r < 0)
                return r;
        for (;;) {
                ssize_t got = recv(mnl_socket_get_fd(b->n->nl), b->n->answers, ANSWERS_SIZE, MSG_DONTWAIT);
                int len = (int) got;

                if (got < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                break;
                        return -errno;
                }
                for (const struct nlmsghdr *h = (const struct nlmsghdr *) b->n->answers; mnl_nlmsg_ok(h, len);
                     h = mnl_nlmsg_next(h, &len)) {
                        const struct nlmsgerr *e;

                        if (h->nlmsg_type != NLMSG_ERROR)
                                continue;       /* an echo */
                        e = mnl_nlmsg_get_payload(h);
                        if (e->error != 0 && r == 0)
                                r = e->error;
                        if (b->last && h->nlmsg_seq == b->last->nlmsg_seq)
                                acked = true;
                }
        }
        if (r == 0 && b->last && !acked)
                r = -EPROTO;
        return r;
}

int nl_delete_table(NlBench *n, const char *name) {
        struct nftnl_table *tb = nftnl_table_alloc();
        NlBatch b;

        if (!tb)
                return -ENOMEM;
        nl_batch_start(n, &b);
        nftnl_table_set_str(tb, NFTNL_TABLE_NAME, name);
        nftnl_table_nlmsg_build_payload(nl_batch_msg(&b, NFT_MSG_DELTABLE, 0), tb);
        nftnl_table_free(tb);
        (void) nl_batch_next(&b);
        return nl_batch_commit(&b);
}

struct nftnl_expr *nl_expr_payload(uint32_t base, uint32_t offset, uint32_t len, uint32_t reg) {
        struct nftnl_expr *e = nftnl_expr_alloc("payload");

        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
        nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, reg);
        return e;
}

struct nftnl_expr *nl_expr_meta(uint32_t key, uint32_t reg) {
        struct nftnl_expr *e = nftnl_expr_alloc("meta");

        nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
        nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, reg);
        return e;
}
