/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * transport.c — see transport.h.
 *
 * nfnetlink processes a batch synchronously inside sendmsg(): once it returns, every ack,
 * error and echo is already queued on the socket, so reading until EAGAIN sees them all
 * and never waits. Every message asks for an ack, so each one is answered exactly once;
 * echoes (NEWRULE with NLM_F_ECHO) arrive only when the whole batch committed.
 *
 * Requests (a GET, a dump) are answered on the same socket, between batches: the event loop
 * runs one thing at a time, so no batch's answers are pending then. A dump is flow-controlled
 * by the kernel (it goes on as we read), so it cannot overrun the socket.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/rule.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter.h>
#include <linux/netlink.h>
#include <poll.h>
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
        bool echo_every_rule;           /* a batch's handles were not consecutive: no inferring */
        size_t sndbuf, rcvbuf;          /* what we last asked for */
        char *answers;                  /* ANSWERS_SIZE: where a commit reads the kernel's answers */
};

/* One recv() of a commit's answers. The buffer is kept from one small commit to the next (freeing
 * a block this big makes malloc consolidate its free lists every time); after a big commit, whose
 * answers filled more of it, it goes, so that its pages do not stay in the daemon's memory. */
#define ANSWERS_SIZE ((size_t) 1 << 20)
#define ANSWERS_KEEP_RECORDS 1024

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
        free(t->answers);
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
        Answers a = { .batch = b };
        const struct nlmsghdr *nlh;
        ssize_t n;
        int r;

        if (!b->closed && !t->echo_every_rule)
                nft_batch_echo_ends(b);
        r = nft_batch_close(b);
        if (r < 0)
                return r;
        if (nft_batch_is_empty(b))
                return 0;

        if (!t->answers) {
                t->answers = malloc(ANSWERS_SIZE);
                if (!t->answers)
                        return -ENOMEM;
        }
        a.handles = calloc(b->n_records ? b->n_records : 1, sizeof(uint64_t));
        if (!a.handles)
                return -ENOMEM;
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
                n = recv(mnl_socket_get_fd(t->nl), t->answers, ANSWERS_SIZE, MSG_DONTWAIT);
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
                for (size_t off = 0; (nlh = nlmsg_next_safe(t->answers, (size_t) n, &off));) {
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
                r = nft_batch_infer_handles(b, a.handles);
                if (r < 0) {
                        /* applied all the same: the caller must learn the handles another way */
                        t->echo_every_rule = true;
                        if (asprintf(&a.error_text, "the kernel did not number the new rules of the batch one after "
                                     "the other: some of their handles are unknown") < 0)
                                a.error_text = NULL;
                }
                for (size_t i = 0; i < b->n_records; i++)
                        if (b->records[i].handle)
                                *b->records[i].handle = a.handles[i];
        }

finish:
        free(a.handles);
        if (b->n_records > ANSWERS_KEEP_RECORDS)
                t->answers = mfree(t->answers);
        if (r < 0 && ret_error)
                *ret_error = a.error_text;
        else
                free(a.error_text);
        return r;
}

/* ---- requests and dumps ---------------------------------------------------------------------- */

/* The kernel answers at once; this is for a kernel that does not, so the daemon cannot hang. */
#define REQUEST_TIMEOUT_MSEC 5000
/* A dump message is at most 32 KiB (the kernel caps its dump buffers there). */
#define DUMP_RECV_SIZE (64 * 1024)
/* Reading the whole table again because a commit came in between: this many times at most. */
#define DUMP_TRIES 4

typedef struct Dump {
        char *buf;
        size_t len, alloc;
        size_t max;                     /* the bytes it may hold; 0: NFT_DUMP_BYTES_MAX */
        bool interrupted;               /* NLM_F_DUMP_INTR: the kernel's view moved mid-dump */
} Dump;

static int dump_append(Dump *d, const struct nlmsghdr *nlh) {
        size_t n = NLMSG_ALIGN(nlh->nlmsg_len), max = d->max ? d->max : NFT_DUMP_BYTES_MAX;

        if (d->len > max || n > max - d->len)
                return -E2BIG;
        if (d->len + n > d->alloc) {
                size_t a = d->alloc ? d->alloc : 64 * 1024;
                char *b;

                while (a < d->len + n)
                        a *= 2;
                b = realloc(d->buf, a);
                if (!b)
                        return -ENOMEM;
                d->buf = b;
                d->alloc = a;
        }
        memcpy(d->buf + d->len, nlh, nlh->nlmsg_len);
        memset(d->buf + d->len + nlh->nlmsg_len, 0, n - nlh->nlmsg_len);
        d->len += n;
        return 0;
}

/* One attribute of a request: a string (type != 0). */
typedef struct ReqAttr {
        uint16_t type;
        const char *value;
} ReqAttr;

/**
 * request() - one GET (answered by the object and an ack) or dump (answered by objects and
 * DONE), its answers appended to @d.
 *
 * Return: 0, or the kernel's error for it (-ENOENT for an object that is not there), or a
 * negative errno of our own.
 */
static int request(NftTransport *t, uint16_t type, uint8_t family, bool dump, const ReqAttr *attrs, size_t n_attrs,
                   Dump *d) {
        _cleanup_(freep) char *buf = NULL;
        char req[MNL_SOCKET_BUFFER_SIZE];
        struct nlmsghdr *nlh;
        struct nfgenmsg *nfg;
        uint32_t seq = t->seq++;
        int fd = mnl_socket_get_fd(t->nl), kept = 0;

        nlh = mnl_nlmsg_put_header(req);
        nlh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | type;
        nlh->nlmsg_flags = NLM_F_REQUEST | (dump ? NLM_F_DUMP : NLM_F_ACK);
        nlh->nlmsg_seq = seq;
        nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
        *nfg = (struct nfgenmsg) { .nfgen_family = family, .version = NFNETLINK_V0 };
        for (size_t i = 0; i < n_attrs; i++)
                if (!mnl_attr_put_strz_check(nlh, sizeof(req), attrs[i].type, attrs[i].value))
                        return -ENAMETOOLONG;
        if (mnl_socket_sendto(t->nl, nlh, nlh->nlmsg_len) < 0)
                return -errno;

        /* From here on the request is the kernel's: even when we stop keeping what it sends
         * (kept < 0), a dump is read to its end, or the socket's next dump would be refused. */
        buf = malloc(DUMP_RECV_SIZE);
        if (!buf)
                return -ENOMEM; /* the socket is useless anyway without memory to read it */
        for (;;) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                const struct nlmsghdr *m;
                size_t off;
                ssize_t n;
                int r;

                r = poll(&pfd, 1, REQUEST_TIMEOUT_MSEC);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -errno;
                if (r == 0)
                        return -ETIMEDOUT;
                n = recv(fd, buf, DUMP_RECV_SIZE, MSG_DONTWAIT | MSG_TRUNC);
                if (n < 0) {
                        if (errno == EINTR || errno == EAGAIN)
                                continue;
                        return -errno;
                }
                if (n > DUMP_RECV_SIZE && kept >= 0)
                        kept = -EMSGSIZE; /* cut short: not a whole answer */
                if (n > DUMP_RECV_SIZE)
                        n = DUMP_RECV_SIZE;
                off = 0;
                while ((m = nlmsg_next_safe(buf, (size_t) n, &off))) {
                        if (m->nlmsg_seq != seq || (m->nlmsg_pid != t->portid && m->nlmsg_pid != 0))
                                continue; /* not an answer to this request */
                        if (m->nlmsg_type == NLMSG_ERROR) {
                                const struct nlmsgerr *err = mnl_nlmsg_get_payload(m);

                                if (mnl_nlmsg_get_payload_len(m) < sizeof(err->error))
                                        return kept < 0 ? kept : -EBADMSG;
                                /* an ack ends a GET; an error ends either */
                                if (kept < 0)
                                        return kept;
                                return err->error < 0 ? err->error : (err->error > 0 ? -EBADMSG : 0);
                        }
                        if (m->nlmsg_type == NLMSG_DONE) {
                                int err = 0;

                                if (mnl_nlmsg_get_payload_len(m) >= sizeof(err))
                                        memcpy(&err, mnl_nlmsg_get_payload(m), sizeof(err));
                                return kept < 0 ? kept : err < 0 ? err : 0;
                        }
                        if (m->nlmsg_flags & NLM_F_DUMP_INTR)
                                d->interrupted = true;
                        if (kept >= 0)
                                kept = dump_append(d, m);
                }
        }
}

static int get_gen(NftTransport *t, uint32_t *ret_gen) {
        _cleanup_(freep) char *owned = NULL;
        Dump d = {};
        int r;

        r = request(t, NFT_MSG_GETGEN, AF_UNSPEC, false, NULL, 0, &d);
        owned = d.buf;
        if (r < 0)
                return r;
        if (d.len >= NLMSG_HDRLEN) {
                const struct nlmsghdr *nlh = (const struct nlmsghdr *) d.buf;
                const struct nlattr *attr;

                mnl_attr_for_each(attr, nlh, sizeof(struct nfgenmsg))
                        if (mnl_attr_get_type(attr) == NFTA_GEN_ID && mnl_attr_validate(attr, MNL_TYPE_U32) >= 0) {
                                *ret_gen = ntohl(mnl_attr_get_u32(attr));
                                return 0;
                        }
        }
        return -EBADMSG;
}

/* The names of the chains or sets (@type NEWCHAIN or NEWSET) of @table in the dump that starts
 * at @from: offsets of their NUL-terminated names in d->buf (offsets, because the buffer moves
 * as the next dumps grow it). */
static int object_names(const Dump *d, size_t from, uint16_t type, const char *table, size_t **ret, size_t *ret_n) {
        /* NFTA_CHAIN_TABLE and NFTA_SET_TABLE are 1; the names are NFTA_CHAIN_NAME and NFTA_SET_NAME */
        uint16_t name_attr = type == NFT_MSG_NEWCHAIN ? NFTA_CHAIN_NAME : NFTA_SET_NAME;
        _cleanup_(freep) size_t *names = NULL;
        const struct nlmsghdr *nlh;
        size_t n = 0, alloc = 0, off = from;

        while ((nlh = nlmsg_next_safe(d->buf, d->len, &off))) {
                const struct nlattr *attr, *name = NULL;
                bool ours = false;

                if (NFNL_MSG_TYPE(nlh->nlmsg_type) != type)
                        continue;
                mnl_attr_for_each(attr, nlh, sizeof(struct nfgenmsg)) {
                        if (mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) < 0)
                                continue;
                        if (mnl_attr_get_type(attr) == 1)
                                ours = streq(mnl_attr_get_str(attr), table);
                        else if (mnl_attr_get_type(attr) == name_attr)
                                name = attr;
                }
                if (!ours || !name)
                        continue;
                if (n == alloc) {
                        size_t *x = realloc(names, (alloc = alloc ? alloc * 2 : 16) * sizeof(*x));
                        if (!x)
                                return -ENOMEM;
                        names = x;
                }
                names[n++] = (size_t) ((const char *) mnl_attr_get_payload(name) - d->buf);
        }
        *ret = TAKE_PTR(names);
        *ret_n = n;
        return 0;
}

/* Whether message @nlh is about table @table: its attribute 1 (the table's name in every
 * message) says so. */
static bool of_table(const struct nlmsghdr *nlh, const char *table) {
        const struct nlattr *attr;

        mnl_attr_for_each(attr, nlh, sizeof(struct nfgenmsg))
                if (mnl_attr_get_type(attr) == 1)
                        return mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) >= 0 &&
                               streq(mnl_attr_get_str(attr), table);
        return false;
}

/* The kernel's chain dump does not filter by table: it gives every chain of the family. Only
 * those of @table are kept of what was appended from @from on. */
static void keep_table(Dump *d, size_t from, const char *table) {
        const struct nlmsghdr *nlh;
        size_t off = from, to = from;

        while ((nlh = nlmsg_next_safe(d->buf, d->len, &off))) {
                size_t n = NLMSG_ALIGN(nlh->nlmsg_len);

                if (!of_table(nlh, table))
                        continue;
                memmove(d->buf + to, nlh, n);
                to += n;
        }
        d->len = to;
}

/*
 * The kernel resumes a dump by walking its list from the start to where the last part ended:
 * a dump of n rules costs n²/(rules per 32 KiB part), 7 s for 100,000 rules in 12 chains on
 * Linux 6.18. Asked chain by chain it walks only that chain: rules are dumped per chain.
 * Elements are per set anyway (and the same walk makes 100,000 of them cost 0.7 s).
 *
 * The chains, sets, their elements and the rules of table @family @table.
 */
static int dump_contents(NftTransport *t, uint8_t family, const char *table, Dump *d) {
        _cleanup_(freep) size_t *chains = NULL, *sets = NULL;
        size_t from = d->len, n_chains = 0, n_sets = 0;
        char name[NFT_NAME_MAXLEN];
        int r;

        r = request(t, NFT_MSG_GETCHAIN, family, true, (ReqAttr[]) { { NFTA_CHAIN_TABLE, table } }, 1, d);
        if (r >= 0) {
                keep_table(d, from, table);
                r = object_names(d, from, NFT_MSG_NEWCHAIN, table, &chains, &n_chains);
        }
        from = d->len;
        if (r >= 0)
                r = request(t, NFT_MSG_GETSET, family, true, (ReqAttr[]) { { NFTA_SET_TABLE, table } }, 1, d);
        if (r >= 0)
                r = object_names(d, from, NFT_MSG_NEWSET, table, &sets, &n_sets);
        for (size_t i = 0; r >= 0 && i < n_sets; i++) {
                /* copied: the dump appends to (and may move) the buffer the name is in */
                if (snprintf(name, sizeof(name), "%s", d->buf + sets[i]) >= (int) sizeof(name))
                        return -ENAMETOOLONG;
                r = request(t, NFT_MSG_GETSETELEM, family, true,
                            (ReqAttr[]) { { NFTA_SET_ELEM_LIST_TABLE, table }, { NFTA_SET_ELEM_LIST_SET, name } }, 2,
                            d);
        }
        for (size_t i = 0; r >= 0 && i < n_chains; i++) {
                if (snprintf(name, sizeof(name), "%s", d->buf + chains[i]) >= (int) sizeof(name))
                        return -ENAMETOOLONG;
                r = request(t, NFT_MSG_GETRULE, family, true,
                            (ReqAttr[]) { { NFTA_RULE_TABLE, table }, { NFTA_RULE_CHAIN, name } }, 2, d);
        }
        return r;
}

/* Everything of table inet @arg: itself, its contents, stateful objects and flowtables. */
static int dump_table_once(NftTransport *t, const void *arg, Dump *d) {
        const char *table = arg;
        int r;

        r = request(t, NFT_MSG_GETTABLE, NFPROTO_INET, false, (ReqAttr[]) { { NFTA_TABLE_NAME, table } }, 1, d);
        if (r >= 0)
                r = dump_contents(t, NFPROTO_INET, table, d);
        if (r >= 0)
                r = request(t, NFT_MSG_GETOBJ, NFPROTO_INET, true, (ReqAttr[]) { { NFTA_OBJ_TABLE, table } }, 1, d);
        if (r >= 0)
                r = request(t, NFT_MSG_GETFLOWTABLE, NFPROTO_INET, true,
                            (ReqAttr[]) { { NFTA_FLOWTABLE_TABLE, table } }, 1, d);
        return r;
}

/* The families whose tables can see the exempted datagrams (obstacles.h says which hooks). */
static bool foreign_family(uint8_t family) {
        return family == NFPROTO_INET || family == NFPROTO_IPV4 || family == NFPROTO_IPV6 ||
               family == NFPROTO_NETDEV || family == NFPROTO_BRIDGE;
}

/* Every table of those families but inet @arg, each with its contents. A table that goes away
 * between the list and its contents makes it -EAGAIN: the generation moved, read it all again. */
static int dump_foreign_once(NftTransport *t, const void *arg, Dump *d) {
        _cleanup_(freep) char *owned = NULL;
        const char *own = arg;
        const struct nlmsghdr *nlh;
        Dump tables = {};
        size_t off = 0;
        int r;

        r = request(t, NFT_MSG_GETTABLE, NFPROTO_UNSPEC, true, NULL, 0, &tables);
        owned = tables.buf;
        d->interrupted = d->interrupted || tables.interrupted;
        while (r >= 0 && (nlh = nlmsg_next_safe(tables.buf, tables.len, &off))) {
                const struct nfgenmsg *nfg = mnl_nlmsg_get_payload(nlh);
                const struct nlattr *attr;
                const char *name = NULL;

                if (NFNL_MSG_TYPE(nlh->nlmsg_type) != NFT_MSG_NEWTABLE ||
                    mnl_nlmsg_get_payload_len(nlh) < sizeof(*nfg) || !foreign_family(nfg->nfgen_family))
                        continue;
                mnl_attr_for_each(attr, nlh, sizeof(*nfg))
                        if (mnl_attr_get_type(attr) == NFTA_TABLE_NAME &&
                            mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) >= 0)
                                name = mnl_attr_get_str(attr);
                if (!name || (nfg->nfgen_family == NFPROTO_INET && streq(name, own)))
                        continue;
                r = dump_append(d, nlh);
                if (r >= 0)
                        r = dump_contents(t, nfg->nfgen_family, name, d);
        }
        return r == -ENOENT ? -EAGAIN : r;
}

/* One consistent picture (see nft_transport_dump_table()), by @once, of at most @max bytes. */
static int dump_consistent(NftTransport *t, int (*once)(NftTransport *t, const void *arg, Dump *d), const void *arg,
                           size_t max, char **ret_buf, size_t *ret_len, uint32_t *ret_gen) {
        for (unsigned try = 0; try < DUMP_TRIES; try++) {
                Dump d = { .max = max };
                uint32_t before, after;
                int r;

                r = get_gen(t, &before);
                if (r >= 0)
                        r = once(t, arg, &d);
                if (r >= 0)
                        r = get_gen(t, &after);
                if (r < 0 && r != -EAGAIN) {
                        free(d.buf);
                        return r;
                }
                if (r >= 0 && before == after && !d.interrupted) {
                        *ret_buf = d.buf;
                        *ret_len = d.len;
                        if (ret_gen)
                                *ret_gen = after;
                        return 0;
                }
                free(d.buf);
        }
        return -EAGAIN;
}

int nft_transport_dump_table(NftTransport *t, const char *table, char **ret_buf, size_t *ret_len) {
        return dump_consistent(t, dump_table_once, table, NFT_DUMP_BYTES_MAX, ret_buf, ret_len, NULL);
}

int nft_transport_dump_foreign(NftTransport *t, const char *own_table, char **ret_buf, size_t *ret_len,
                               uint32_t *ret_gen) {
        return dump_consistent(t, dump_foreign_once, own_table, NFT_DUMP_FOREIGN_BYTES_MAX, ret_buf, ret_len,
                               ret_gen);
}

int nft_transport_gen(NftTransport *t, uint32_t *ret_gen) {
        return get_gen(t, ret_gen);
}
