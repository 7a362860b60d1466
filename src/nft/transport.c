/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * transport.c — see transport.h.
 *
 * nfnetlink processes a batch synchronously inside sendmsg(): once it returns, every ack,
 * error and echo is already queued on the socket, so reading until EAGAIN sees them all
 * and never waits. Every message asks for an ack, so each one is answered exactly once;
 * echoes (NEWRULE with NLM_F_ECHO) arrive only when the whole batch committed.
 */
#include <endian.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/rule.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "batch.h"
#include "macro.h"
#include "nlmsg.h"
#include "transport.h"

struct NftTransport {
        struct mnl_socket *nl;
        uint32_t portid;
        uint32_t seq;
        bool debug;
        size_t sndbuf, rcvbuf;          /* what we last asked for */
};

int nft_transport_new(NftTransport **ret) {
        NftTransport *t;
        int one = 1;

        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
        if (!t->nl) {
                int r = -errno;
                free(t);
                return r;
        }
        if (mnl_socket_bind(t->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
                int r = -errno;
                nft_transport_free(t);
                return r;
        }
        /* error messages from the kernel, where it has them (best effort) */
        (void) mnl_socket_setsockopt(t->nl, NETLINK_EXT_ACK, &one, sizeof(one));
        (void) mnl_socket_setsockopt(t->nl, NETLINK_CAP_ACK, &one, sizeof(one));
        t->portid = mnl_socket_get_portid(t->nl);
        t->seq = (uint32_t) time(NULL);
        t->debug = getenv("BFED_NETLINK_DEBUG") != NULL;
        *ret = t;
        return 0;
}

NftTransport *nft_transport_free(NftTransport *t) {
        if (!t)
                return NULL;
        if (t->nl)
                mnl_socket_close(t->nl);
        free(t);
        return NULL;
}

uint32_t nft_transport_seq(NftTransport *t) {
        return t->seq;
}

uint32_t nft_transport_portid(NftTransport *t) {
        return t->portid;
}

/* The whole batch goes in one sendmsg(), and every answer (an ack per message, an echo per new
 * rule) must fit the receive queue at once: an answer the queue drops would leave us not
 * knowing a handle the kernel did assign. So both buffers grow to what this batch needs.
 * SO_*BUFFORCE works with CAP_NET_ADMIN, past the sysctl maximums. */
#define ANSWER_BYTES_MAX 2048 /* an echoed rule with a long comment and many expressions */

static void grow_buffer(int fd, int opt_force, int opt, size_t want, size_t *have) {
        int size;

        if (want <= *have)
                return;
        if (want > (size_t) (1 << 30))
                want = (size_t) 1 << 30;
        size = (int) want;
        if (setsockopt(fd, SOL_SOCKET, opt_force, &size, sizeof(size)) < 0)
                (void) setsockopt(fd, SOL_SOCKET, opt, &size, sizeof(size));
        *have = want;
}

static void size_buffers(NftTransport *t, const NftBatch *b) {
        int fd = mnl_socket_get_fd(t->nl);

        grow_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, b->len + (64 << 10), &t->sndbuf);
        grow_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, b->n_records * ANSWER_BYTES_MAX + (64 << 10), &t->rcvbuf);
}

static const char *ext_ack_message(const struct nlmsghdr *nlh) {
        const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);
        const struct nlattr *attr;
        size_t off;

        if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
                return NULL;
        off = sizeof(*err);
        if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) {
                if (err->msg.nlmsg_len < sizeof(struct nlmsghdr))
                        return NULL;
                off += err->msg.nlmsg_len - sizeof(struct nlmsghdr);
        }
        if (off > mnl_nlmsg_get_payload_len(nlh))
                return NULL; /* the lengths do not add up: no message to show */
        mnl_attr_for_each_payload((void *) ((const char *) err + off), mnl_nlmsg_get_payload_len(nlh) - off) {
                if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG && mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) >= 0)
                        return mnl_attr_get_str(attr);
        }
        return NULL;
}

typedef struct Answers {
        const NftBatch *batch;
        int error;
        char *error_text;
        bool acked;             /* the last message's ack: the batch is in */
        uint64_t *handles;      /* per record, from echoes; applied only on success */
} Answers;

/* The handle of an echoed rule: its one attribute we need, without parsing the expressions. */
static uint64_t echoed_rule_handle(const struct nlmsghdr *nlh) {
        const struct nlattr *attr;

        mnl_attr_for_each(attr, nlh, sizeof(struct nfgenmsg))
                if (mnl_attr_get_type(attr) == NFTA_RULE_HANDLE &&
                    mnl_attr_validate(attr, MNL_TYPE_U64) >= 0)
                        return be64toh(mnl_attr_get_u64(attr));
        return 0;
}

static void read_answer(Answers *a, const struct nlmsghdr *nlh) {
        const NftRecord *rec = nft_batch_find(a->batch, nlh->nlmsg_seq);

        if (nlh->nlmsg_type == NLMSG_ERROR) {
                const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);

                if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*err))
                        return;
                if (err->error == 0) {
                        a->acked = a->acked || (rec && rec == &a->batch->records[a->batch->n_records - 1]);
                        return;
                }
                if (a->error != 0)
                        return;
                a->error = err->error;
                const char *ext = ext_ack_message(nlh);
                if (asprintf(&a->error_text, "the kernel refused the %s: %s%s%s",
                             rec && rec->what ? rec->what : "batch", strerror(-err->error),
                             ext ? ": " : "", ext ?: "") < 0)
                        a->error_text = NULL;
                return;
        }

        if (NFNL_MSG_TYPE(nlh->nlmsg_type) == NFT_MSG_NEWRULE && rec && rec->handle) {
                uint64_t handle = echoed_rule_handle(nlh);
                if (handle != 0)
                        a->handles[rec - a->batch->records] = handle;
        }
}

int nft_transport_commit(NftTransport *t, NftBatch *b, char **ret_error) {
        _cleanup_(freep) char *buf = NULL;
        size_t bufsize = 1 << 20;
        Answers a = { .batch = b };
        const struct nlmsghdr *nlh;
        ssize_t n;
        int r;

        r = nft_batch_close(b);
        if (r < 0)
                return r;
        if (nft_batch_is_empty(b))
                return 0;

        a.handles = calloc(b->n_records ? b->n_records : 1, sizeof(uint64_t));
        buf = malloc(bufsize);
        if (!a.handles || !buf) {
                free(a.handles);
                return -ENOMEM;
        }
        if (t->debug)
                mnl_nlmsg_fprintf(stderr, b->buf, b->len, 0);

        size_buffers(t, b);
        n = mnl_socket_sendto(t->nl, b->buf, b->len);
        t->seq = b->seq_next;
        if (n < 0) {
                r = -errno;
                if (asprintf(&a.error_text, "sending the batch to the kernel failed: %s", strerror(errno)) < 0)
                        a.error_text = NULL;
                goto finish;
        }

        for (;;) {
                n = recv(mnl_socket_get_fd(t->nl), buf, bufsize, MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                break;
                        /* ENOBUFS: answers were lost; we cannot know what happened to handles */
                        r = -errno;
                        if (!a.error_text &&
                            asprintf(&a.error_text, "reading the kernel's answers failed: %s", strerror(errno)) < 0)
                                a.error_text = NULL;
                        goto finish;
                }
                for (size_t off = 0; (nlh = nlmsg_next_safe(buf, (size_t) n, &off));) {
                        if (nlh->nlmsg_pid != t->portid && nlh->nlmsg_pid != 0)
                                continue;
                        read_answer(&a, nlh);
                }
        }

        if (a.error != 0)
                r = a.error;
        else if (!a.acked) {
                r = -EPROTO;
                if (asprintf(&a.error_text, "the kernel did not acknowledge the batch of %zu messages",
                             b->n_records) < 0)
                        a.error_text = NULL;
        } else {
                for (size_t i = 0; i < b->n_records; i++)
                        if (b->records[i].handle)
                                *b->records[i].handle = a.handles[i];
                r = 0;
        }

finish:
        free(a.handles);
        if (r < 0 && ret_error)
                *ret_error = a.error_text;
        else
                free(a.error_text);
        return r;
}
