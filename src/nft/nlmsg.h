/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * nlmsg.h — walking a buffer of netlink messages without trusting their lengths. libmnl's
 * mnl_nlmsg_ok() compares nlmsg_len as an int, so a length of 2^31 or more passes it and
 * mnl_nlmsg_next() then steps outside the buffer. And the attributes of a message by type, as
 * the parsers of the kernel's messages read them (trace.c, nflog.c).
 */
#pragma once

#include <endian.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <limits.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a parser of a buffer of netlink messages checks first: 0 when it can walk @buf; -EINVAL
 * for bytes without a buffer, -E2BIG for more than INT_MAX bytes (libmnl takes lengths as int). */
static inline int nlmsg_check_buffer(const void *buf, size_t len) {
        if (!buf && len > 0)
                return -EINVAL;
        if (len > INT_MAX)
                return -E2BIG;
        return 0;
}

/* The message at @buf + *@off when a whole one is there (a header at least, no more than what
 * is left), and *@off moved past it; NULL at the end or at bytes that are no message. */
static inline const struct nlmsghdr *nlmsg_next_safe(const void *buf, size_t len, size_t *off) {
        const struct nlmsghdr *nlh;
        size_t n;

        if (*off > len || len - *off < sizeof(struct nlmsghdr))
                return NULL;
        nlh = (const struct nlmsghdr *) ((const char *) buf + *off);
        n = nlh->nlmsg_len;
        if (n < sizeof(struct nlmsghdr) || n > len - *off)
                return NULL;
        /* the last message may lack its padding */
        *off += NLMSG_ALIGN(n) <= len - *off ? NLMSG_ALIGN(n) : len - *off;
        return nlh;
}

/* Where mnl_attr_parse() puts the attributes of a message, by type (nlattr_collect()). */
typedef struct NlAttrs {
        const struct nlattr **tb;       /* max + 1 of them, NULL first */
        uint16_t max;
} NlAttrs;

/* mnl_attr_parse()'s callback, its data an NlAttrs: the last of a type wins, types beyond max
 * are left out. */
static inline int nlattr_collect(const struct nlattr *attr, void *data) {
        const NlAttrs *a = data;
        uint16_t type = mnl_attr_get_type(attr);

        if (type <= a->max)
                a->tb[type] = attr;
        return MNL_CB_OK;
}

/* The nfgenmsg header of a netfilter message and its attributes by type in @tb (@max + 1 of them,
 * NULL first); NULL when the message is too short for the header or its attributes do not parse. */
static inline const struct nfgenmsg *nfnl_parse_attrs(const struct nlmsghdr *nlh, const struct nlattr **tb,
                                                      uint16_t max) {
        if (mnl_nlmsg_get_payload_len(nlh) < sizeof(struct nfgenmsg))
                return NULL;
        if (mnl_attr_parse(nlh, sizeof(struct nfgenmsg), nlattr_collect, &(NlAttrs) { tb, max }) < 0)
                return NULL;
        return mnl_nlmsg_get_payload(nlh);
}

/* A big-endian u32 attribute of exactly 4 bytes: false when @a is NULL or of another length. */
static inline bool nlattr_get_be32(const struct nlattr *a, uint32_t *ret) {
        if (!a || mnl_attr_get_payload_len(a) != sizeof(uint32_t))
                return false;
        *ret = be32toh(mnl_attr_get_u32(a));
        return true;
}
