/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * obstacles-describe.c — a rule's short text for the obstacle reports, in nft's words where it
 * is easy: "udp dport 500 drop", "ct state invalid drop", "ip saddr 10.0.0.0/8 drop",
 * "iifname "eth0" udp dport { 500, 4500 } reject". Loads are not shown, but name the field a
 * match is about; counters are left out; an expression not known here shows its name. Names
 * and strings from the kernel are copied as they are: obstacles.c makes the text valid UTF-8.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/xt_addrtype.h>
#include <linux/netfilter/xt_conntrack.h>
#include <linux/netfilter/xt_multiport.h>
#include <linux/netfilter_bridge.h>
#include <linux/rtnetlink.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "macro.h"
#include "obstacles-internal.h"

const char *family_name(uint8_t family) {
        switch (family) {
        case NFPROTO_INET: return "inet";
        case NFPROTO_IPV4: return "ip";
        case NFPROTO_IPV6: return "ip6";
        case NFPROTO_NETDEV: return "netdev";
        case NFPROTO_BRIDGE: return "bridge";
        case NFPROTO_ARP: return "arp";
        default: return "family?";
        }
}

const char *hook_name(uint8_t family, uint32_t hook) {
        static const char *const inet[] = { "prerouting", "input", "forward", "output", "postrouting", "ingress" };

        if (family == NFPROTO_NETDEV)
                return hook == NF_NETDEV_INGRESS ? "ingress" : hook == NF_NETDEV_EGRESS ? "egress" : "hook?";
        return hook < ELEMENTSOF(inet) ? inet[hook] : "hook?";
}

/* What a register holds, for naming what a match is about. */
typedef enum SrcKind { SRC_NONE, SRC_META, SRC_CT, SRC_PAYLOAD, SRC_FIB } SrcKind;

typedef struct Src {
        uint8_t kind;           /* SrcKind */
        uint32_t key, offset, len;      /* meta, ct: key; payload: base (key), offset, len; fib: result, flags */
        const uint8_t *mask;    /* a bitwise AND on it, or NULL */
} Src;

typedef struct Span {
        bool set;
        size_t at, len;
} Span;

typedef struct Desc {
        const Model *m;
        uint8_t family;
        char *buf;
        size_t size, len;
        Src src[REG_BYTES / 4];
        int l3;                 /* 4, 6: the network protocol, from the family or a match */
        int l4;                 /* a transport protocol a match named, or -1 */
        Span l3_text, l4_text;  /* those matches' text, left out once a field names them */
        size_t dropped;         /* bytes of text left out so far */
} Desc;

_printf_(2, 3) static void put(Desc *d, const char *fmt, ...) {
        va_list ap;
        int n;

        if (d->len + 1 >= d->size)
                return;
        va_start(ap, fmt);
        n = vsnprintf(d->buf + d->len, d->size - d->len, fmt, ap);
        va_end(ap);
        if (n > 0)
                d->len = (size_t) n < d->size - d->len ? d->len + (size_t) n : d->size - 1;
}

/* A piece of its own: after a space unless it is the first. */
static void piece(Desc *d) {
        if (d->len > 0)
                put(d, " ");
}

/* Leaves out the text of an earlier match, now implied ("meta l4proto udp" before "udp dport"). */
static void drop_span(Desc *d, Span *s) {
        Span *other = s == &d->l3_text ? &d->l4_text : &d->l3_text;

        if (!s->set || s->at + s->len > d->len)
                return;
        memmove(d->buf + s->at, d->buf + s->at + s->len, d->len - s->at - s->len + 1);
        d->len -= s->len;
        d->dropped += s->len;
        if (other->set && other->at > s->at)
                other->at -= s->len;
        s->set = false;
}

static const char *proto_name(unsigned p) {
        switch (p) {
        case IPPROTO_TCP: return "tcp";
        case IPPROTO_UDP: return "udp";
        case IPPROTO_ICMP: return "icmp";
        case IPPROTO_ICMPV6: return "ipv6-icmp";
        case IPPROTO_SCTP: return "sctp";
        case IPPROTO_ESP: return "esp";
        case IPPROTO_AH: return "ah";
        case IPPROTO_GRE: return "gre";
        case IPPROTO_UDPLITE: return "udplite";
        case IPPROTO_DCCP: return "dccp";
        default: return NULL;
        }
}

static const char *const meta_names[] = {
        [NFT_META_LEN] = "meta length", [NFT_META_PROTOCOL] = "meta protocol", [NFT_META_PRIORITY] = "meta priority",
        [NFT_META_MARK] = "meta mark", [NFT_META_IIF] = "iif", [NFT_META_OIF] = "oif", [NFT_META_IIFNAME] = "iifname",
        [NFT_META_OIFNAME] = "oifname", [NFT_META_IIFTYPE] = "iiftype", [NFT_META_OIFTYPE] = "oiftype",
        [NFT_META_SKUID] = "meta skuid", [NFT_META_SKGID] = "meta skgid", [NFT_META_NFTRACE] = "meta nftrace",
        [NFT_META_RTCLASSID] = "meta rtclassid", [NFT_META_SECMARK] = "meta secmark",
        [NFT_META_NFPROTO] = "meta nfproto",
        [NFT_META_L4PROTO] = "meta l4proto", [NFT_META_BRI_IIFNAME] = "meta ibrname",
        [NFT_META_BRI_OIFNAME] = "meta obrname", [NFT_META_PKTTYPE] = "meta pkttype", [NFT_META_CPU] = "meta cpu",
        [NFT_META_IIFGROUP] = "iifgroup", [NFT_META_OIFGROUP] = "oifgroup", [NFT_META_CGROUP] = "meta cgroup",
        [NFT_META_SECPATH] = "meta ipsec", [NFT_META_IIFKIND] = "meta iifkind", [NFT_META_OIFKIND] = "meta oifkind",
};
static const char *const ct_names[] = {
        [NFT_CT_STATE] = "ct state", [NFT_CT_DIRECTION] = "ct direction", [NFT_CT_STATUS] = "ct status",
        [NFT_CT_MARK] = "ct mark", [NFT_CT_EXPIRATION] = "ct expiration", [NFT_CT_HELPER] = "ct helper",
        [NFT_CT_L3PROTOCOL] = "ct l3proto", [NFT_CT_SRC] = "ct saddr", [NFT_CT_DST] = "ct daddr",
        [NFT_CT_PROTOCOL] = "ct protocol", [NFT_CT_PROTO_SRC] = "ct proto-src", [NFT_CT_PROTO_DST] = "ct proto-dst",
        [NFT_CT_LABELS] = "ct label", [NFT_CT_ZONE] = "ct zone",
};

typedef enum Field {
        F_OTHER, F_PORT, F_PORTS, F_PROTO, F_NFPROTO, F_ETHERTYPE, F_IFNAME, F_ADDR4, F_ADDR6, F_CT_STATE,
        F_CT_DIRECTION, F_DECIMAL, F_HEX32, F_FIB_TYPE, F_FIB_PRESENT,
} Field;

/* Names what @s holds (at the end of the text); returns how its values read. */
static Field put_field(Desc *d, const Src *s) {
        piece(d);
        switch (s->kind) {
        case SRC_META:
                if (s->key < ELEMENTSOF(meta_names) && meta_names[s->key])
                        put(d, "%s", meta_names[s->key]);
                else
                        put(d, "meta key %" PRIu32, s->key);
                switch (s->key) {
                case NFT_META_L4PROTO: return F_PROTO;
                case NFT_META_NFPROTO: return F_NFPROTO;
                case NFT_META_PROTOCOL: return F_ETHERTYPE;
                case NFT_META_IIFNAME: case NFT_META_OIFNAME: case NFT_META_BRI_IIFNAME: case NFT_META_BRI_OIFNAME:
                case NFT_META_IIFKIND: case NFT_META_OIFKIND:
                        return F_IFNAME;
                case NFT_META_IIF: case NFT_META_OIF: case NFT_META_SKUID: case NFT_META_SKGID:
                        return F_DECIMAL;
                case NFT_META_MARK: case NFT_META_PRIORITY: case NFT_META_SECMARK: case NFT_META_RTCLASSID:
                        return F_HEX32;
                default: return F_OTHER;
                }
        case SRC_CT:
                if (s->key < ELEMENTSOF(ct_names) && ct_names[s->key])
                        put(d, "%s", ct_names[s->key]);
                else
                        put(d, "ct key %" PRIu32, s->key);
                return s->key == NFT_CT_STATE ? F_CT_STATE : s->key == NFT_CT_DIRECTION ? F_CT_DIRECTION
                       : s->key == NFT_CT_MARK ? F_HEX32 : F_OTHER;
        case SRC_PAYLOAD:
                if (s->key == NFT_PAYLOAD_NETWORK_HEADER && d->l3 == 4) {
                        drop_span(d, &d->l3_text);
                        if (s->len == 4 && (s->offset == 12 || s->offset == 16)) {
                                put(d, "ip %s", s->offset == 12 ? "saddr" : "daddr");
                                return F_ADDR4;
                        }
                        if (s->len == 1 && s->offset == 9) {
                                put(d, "ip protocol");
                                return F_PROTO;
                        }
                } else if (s->key == NFT_PAYLOAD_NETWORK_HEADER && d->l3 == 6) {
                        drop_span(d, &d->l3_text);
                        if (s->len == 16 && (s->offset == 8 || s->offset == 24)) {
                                put(d, "ip6 %s", s->offset == 8 ? "saddr" : "daddr");
                                return F_ADDR6;
                        }
                        if (s->len == 1 && s->offset == 6) {
                                put(d, "ip6 nexthdr");
                                return F_PROTO;
                        }
                } else if (s->key == NFT_PAYLOAD_TRANSPORT_HEADER && (s->offset == 0 || s->offset == 2) &&
                           (s->len == 2 || (s->len == 4 && s->offset == 0))) {
                        const char *p = d->l4 >= 0 ? proto_name((unsigned) d->l4) : NULL;

                        if (p)
                                drop_span(d, &d->l4_text);
                        put(d, "%s %s", p ?: "th", s->len == 4 ? "sport . dport" : s->offset == 0 ? "sport" : "dport");
                        return s->len == 4 ? F_PORTS : F_PORT;
                }
                put(d, "@%s,%" PRIu32 ",%" PRIu32,
                    s->key == NFT_PAYLOAD_LL_HEADER ? "ll" : s->key == NFT_PAYLOAD_NETWORK_HEADER ? "nh" : "th",
                    s->offset * 8, s->len * 8);
                return F_OTHER;
        case SRC_FIB: {
                static const struct { uint32_t flag; const char *name; } keys[] = {
                        { NFTA_FIB_F_SADDR, "saddr" }, { NFTA_FIB_F_DADDR, "daddr" }, { NFTA_FIB_F_MARK, "mark" },
                        { NFTA_FIB_F_IIF, "iif" }, { NFTA_FIB_F_OIF, "oif" },
                };
                bool first = true;

                put(d, "fib");
                for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                        if (s->offset & keys[i].flag) {
                                put(d, "%s%s", first ? " " : " . ", keys[i].name);
                                first = false;
                        }
                if (s->key == NFT_FIB_RESULT_ADDRTYPE) {
                        put(d, " type");
                        return F_FIB_TYPE;
                }
                put(d, " %s", s->key == NFT_FIB_RESULT_OIF ? "oif" : "oifname");
                if (s->offset & NFTA_FIB_F_PRESENT)
                        return F_FIB_PRESENT;
                return s->key == NFT_FIB_RESULT_OIF ? F_DECIMAL : F_IFNAME;
        }
        default:
                put(d, "?");
                return F_OTHER;
        }
}

static void put_hex(Desc *d, const uint8_t *v, size_t n) {
        put(d, "0x");
        for (size_t i = 0; i < n; i++)
                put(d, "%02x", v[i]);
}

static const char *const rtn_types[] = {
        [RTN_UNICAST] = "unicast", [RTN_LOCAL] = "local", [RTN_BROADCAST] = "broadcast", [RTN_ANYCAST] = "anycast",
        [RTN_MULTICAST] = "multicast", [RTN_BLACKHOLE] = "blackhole", [RTN_UNREACHABLE] = "unreachable",
        [RTN_PROHIBIT] = "prohibit",
};

/* The text of a value that reads as @f, in @out: false when it does not (it shows in hex). */
static bool value_text(Field f, const uint8_t *v, size_t n, char *out, size_t size) {
        static const char *const states[] = { "invalid", "established", "related", "new", "?", "?", "untracked" };
        size_t len = strnlen((const char *) v, n), at = 0;
        uint32_t u = 0;

        if (n == 4)
                memcpy(&u, v, 4);
        switch (f) {
        case F_PORT:
                return n == 2 && snprintf(out, size, "%u", v[0] << 8 | v[1]) > 0;
        case F_PORTS:
                return n == 4 && snprintf(out, size, "%u . %u", v[0] << 8 | v[1], v[2] << 8 | v[3]) > 0;
        case F_PROTO:
                return n == 1 && (proto_name(v[0]) ? snprintf(out, size, "%s", proto_name(v[0]))
                                                   : snprintf(out, size, "%u", v[0])) > 0;
        case F_NFPROTO:
                return n == 1 && (v[0] == NFPROTO_IPV4 || v[0] == NFPROTO_IPV6) &&
                       snprintf(out, size, "%s", v[0] == NFPROTO_IPV4 ? "ipv4" : "ipv6") > 0;
        case F_ETHERTYPE:
                return n == 2 && (v[0] << 8 | v[1]) == 0x0800 ? snprintf(out, size, "ip") > 0
                       : n == 2 && (v[0] << 8 | v[1]) == 0x86dd ? snprintf(out, size, "ip6") > 0 : false;
        case F_IFNAME:
                /* shorter than the whole name: a prefix, nft's "eth*" */
                return snprintf(out, size, "\"%.*s%s\"", (int) len, (const char *) v, len == n ? "*" : "") > 0;
        case F_ADDR4:
                return n == 4 && inet_ntop(AF_INET, v, out, (socklen_t) size);
        case F_ADDR6:
                return n == 16 && inet_ntop(AF_INET6, v, out, (socklen_t) size);
        case F_CT_STATE:
                for (unsigned b = 0; n == 4 && b < ELEMENTSOF(states); b++)
                        if (u & (1u << b))
                                at += (size_t) snprintf(out + at, size - at, "%s%s", at ? "," : "", states[b]);
                return at > 0;
        case F_CT_DIRECTION:
                return n == 1 && snprintf(out, size, "%s", v[0] == IP_CT_DIR_ORIGINAL ? "original" : "reply") > 0;
        case F_DECIMAL:
                return n == 4 && snprintf(out, size, "%" PRIu32, u) > 0;
        case F_FIB_TYPE:
                return n == 4 && u < ELEMENTSOF(rtn_types) && rtn_types[u] &&
                       snprintf(out, size, "%s", rtn_types[u]) > 0;
        case F_FIB_PRESENT:
                return n == 1 && snprintf(out, size, "%s", v[0] ? "exists" : "missing") > 0;
        case F_HEX32:
                return n == 4 && snprintf(out, size, "0x%08" PRIx32, u) > 0;
        default:
                return false;
        }
}

static void put_value(Desc *d, Field f, const uint8_t *v, size_t n) {
        char text[80];

        if (value_text(f, v, n, text, sizeof(text)))
                put(d, "%s", text);
        else
                put_hex(d, v, n);
}

/* The number of leading one bits of a mask that is a prefix, or -1. */
static int prefix_len(const uint8_t *mask, size_t n) {
        size_t bits = 0;

        while (bits < n * 8 && (mask[bits / 8] & (0x80 >> (bits % 8))))
                bits++;
        for (size_t b = bits; b < n * 8; b++)
                if (mask[b / 8] & (0x80 >> (b % 8)))
                        return -1;
        return (int) bits;
}

static const char *const cmp_ops[] = {
        [NFT_CMP_EQ] = "", [NFT_CMP_NEQ] = "!= ", [NFT_CMP_LT] = "< ", [NFT_CMP_LTE] = "<= ",
        [NFT_CMP_GT] = "> ", [NFT_CMP_GTE] = ">= ",
};

static void describe_cmp(Desc *d, const OExpr *x) {
        const Src *s = &d->src[x->sreg];
        size_t at = d->len, dropped = d->dropped;
        Field f;
        int plen;
        bool zero = true;

        for (size_t i = 0; i < x->len; i++)
                zero = zero && x->a[i] == 0;
        f = put_field(d, s);
        at -= d->dropped - dropped; /* where this match's text starts, separator included */
        /* a flag test (nft's "ct state established,related"): mask, then != 0 */
        if (s->mask && x->op == NFT_CMP_NEQ && zero) {
                put(d, " ");
                put_value(d, f, s->mask, x->len);
                return;
        }
        plen = s->mask ? prefix_len(s->mask, x->len) : -1;
        if ((f == F_ADDR4 || f == F_ADDR6) && x->op <= NFT_CMP_NEQ && plen >= 0) {
                put(d, " %s", cmp_ops[x->op]);
                put_value(d, f, x->a, x->len);
                put(d, "/%d", plen);
                return;
        }
        if (s->mask) {
                put(d, " & ");
                put_hex(d, s->mask, x->len);
                put(d, " %s", x->op == NFT_CMP_EQ ? "== " : cmp_ops[x->op]);
        } else
                put(d, " %s", cmp_ops[x->op]);
        put_value(d, f, x->a, x->len);

        /* a match that a field's name will imply */
        if (x->op == NFT_CMP_EQ && !s->mask && x->len == 1 && (f == F_PROTO || f == F_NFPROTO)) {
                Span *sp = f == F_PROTO ? &d->l4_text : &d->l3_text;

                if (f == F_PROTO)
                        d->l4 = x->a[0];
                else
                        d->l3 = x->a[0] == NFPROTO_IPV4 ? 4 : x->a[0] == NFPROTO_IPV6 ? 6 : d->l3;
                *sp = (Span) { .set = true, .at = at, .len = d->len - at };
        } else if (x->op == NFT_CMP_EQ && !s->mask && f == F_ETHERTYPE && x->len == 2) {
                int l3 = (x->a[0] << 8 | x->a[1]) == 0x0800 ? 4 : (x->a[0] << 8 | x->a[1]) == 0x86dd ? 6 : 0;

                if (l3) {
                        d->l3 = l3;
                        d->l3_text = (Span) { .set = true, .at = at, .len = d->len - at };
                }
        }
}

static void put_verdict(Desc *d, const OVerdict *v) {
        static const char *const words[] = { [NF_DROP] = "drop", [NF_ACCEPT] = "accept", [NF_QUEUE] = "queue" };

        if (v->code == NFT_JUMP || v->code == NFT_GOTO)
                put(d, "%s %s", v->code == NFT_JUMP ? "jump" : "goto", v->chain);
        else if (v->code == NFT_RETURN || v->code == NFT_CONTINUE || v->code == NFT_BREAK)
                put(d, "%s", v->code == NFT_RETURN ? "return" : v->code == NFT_CONTINUE ? "continue" : "break");
        else if (v->code >= 0 && (v->code & NF_VERDICT_MASK) < ELEMENTSOF(words) && words[v->code & NF_VERDICT_MASK])
                put(d, "%s", words[v->code & NF_VERDICT_MASK]);
        else
                put(d, "verdict %" PRId32, v->code);
}

/* A set at the end of the text: @name, or an anonymous one's few elements. */
static void put_set(Desc *d, const OSet *s, Field f) {
        const OElem *e = s->n_elems ? d->m->elems + s->first_elem : NULL;
        const size_t shown = 6;

        if (!(s->flags & NFT_SET_ANONYMOUS)) {
                put(d, "@%s", s->name);
                return;
        }
        if (!s->exact) {
                put(d, "{ %" PRIu32 " elements }", s->n_elems);
                return;
        }
        put(d, "{ ");
        for (size_t i = 0; i < s->n_elems && i < shown; i++) {
                put(d, "%s", i ? ", " : "");
                put_value(d, f, e[i].key, s->key_len);
                if (e[i].has_verdict) {
                        put(d, " : ");
                        put_verdict(d, &e[i].verdict);
                }
        }
        put(d, s->n_elems > shown ? ", … }" : " }");
}

static void describe_lookup(Desc *d, const OExpr *x) {
        const OSet *s = &d->m->sets[x->set];
        Field f = F_OTHER;

        /* a concatenation: each field, joined by " . " */
        for (size_t at = 0; at < s->key_len;) {
                const Src *src = &d->src[x->sreg + at / 4];
                size_t n = src->kind == SRC_PAYLOAD ? (src->len + 3) / 4 * 4 : 4;

                if (at > 0)
                        put(d, " .");
                f = put_field(d, src);
                if (src->kind == SRC_META && (src->key == NFT_META_IIFNAME || src->key == NFT_META_OIFNAME))
                        n = 16;
                at += n;
                if (at < s->key_len)
                        f = F_OTHER;
        }
        put(d, " %s", x->dreg == 0 ? "vmap " : x->dreg != NO_DREG ? "map " : x->op ? "!= " : "");
        put_set(d, s, f);
}

/* An xt conntrack or state match in nft's words, where it says no more than that. */
static void describe_xt_conntrack(Desc *d, const OExpr *x) {
        piece(d);
        if (x->xt_flags & ~(XT_CONNTRACK_STATE | XT_CONNTRACK_DIRECTION | XT_CONNTRACK_STATE_ALIAS)) {
                put(d, "xt match %s", x->name);
                return;
        }
        if (x->xt_flags & XT_CONNTRACK_STATE) {
                uint32_t bits = x->xt_state & 0x3f; /* invalid to new share nft's bits */

                if (x->xt_state & XT_CONNTRACK_STATE_UNTRACKED)
                        bits |= NF_CT_STATE_UNTRACKED_BIT;
                put(d, "ct state %s", x->xt_invert & XT_CONNTRACK_STATE ? "!= " : "");
                put_value(d, F_CT_STATE, (const uint8_t *) &bits, 4);
                if (x->xt_state & (XT_CONNTRACK_STATE_SNAT | XT_CONNTRACK_STATE_DNAT))
                        put(d, ",%s", x->xt_state & XT_CONNTRACK_STATE_SNAT ? "snat" : "dnat");
        }
        if (x->xt_flags & XT_CONNTRACK_DIRECTION)
                put(d, "%sct direction %s", x->xt_flags & XT_CONNTRACK_STATE ? " " : "",
                    x->xt_invert & XT_CONNTRACK_DIRECTION ? "reply" : "original");
}

/* iptables-nft's multiport match as nft says it: "udp dport { 500, 4500 }". */
static void describe_xt_multiport(Desc *d, const OExpr *x) {
        const char *p = d->l4 >= 0 ? proto_name((unsigned) d->l4) : NULL;
        struct xt_multiport_v1 mp = {};

        memcpy(&mp, x->a, x->op == 0 ? sizeof(struct xt_multiport) : sizeof(mp));
        if (p)
                drop_span(d, &d->l4_text);
        piece(d);
        put(d, "%s %s %s{ ", p ?: "th",
            mp.flags == XT_MULTIPORT_SOURCE ? "sport" : mp.flags == XT_MULTIPORT_DESTINATION ? "dport" : "port",
            x->op == 1 && mp.invert ? "!= " : "");
        for (unsigned i = 0; i < mp.count && i < XT_MULTI_PORTS; i++) {
                put(d, "%s%u", i ? ", " : "", mp.ports[i]);
                if (x->op == 1 && mp.pflags[i] && i + 1 < XT_MULTI_PORTS)
                        put(d, "-%u", mp.ports[++i]);
        }
        put(d, " }");
}

/* iptables-nft's addrtype match as nft says it: "fib daddr type broadcast". */
static void describe_xt_addrtype(Desc *d, const OExpr *x) {
        struct xt_addrtype_info_v1 a = {};
        struct xt_addrtype_info a0;

        if (x->op == 0) {
                memcpy(&a0, x->a, sizeof(a0));
                a = (struct xt_addrtype_info_v1) { .source = a0.source, .dest = a0.dest,
                                                   .flags = (a0.invert_source ? XT_ADDRTYPE_INVERT_SOURCE : 0) |
                                                            (a0.invert_dest ? XT_ADDRTYPE_INVERT_DEST : 0) };
        } else
                memcpy(&a, x->a, sizeof(a));
        for (int dest = 0; dest < 2; dest++) {
                uint16_t mask = dest ? a.dest : a.source;
                bool first = true;

                if (!mask)
                        continue;
                piece(d);
                put(d, "fib %s type %s", dest ? "daddr" : "saddr",
                    a.flags & (dest ? XT_ADDRTYPE_INVERT_DEST : XT_ADDRTYPE_INVERT_SOURCE) ? "!= " : "");
                for (unsigned t = 0; t < 16; t++)
                        if (mask & (1u << t)) {
                                const char *name = STRING_TABLE_AT(rtn_types, t);

                                put(d, "%s%s", first ? "" : ",", name ?: "?");
                                first = false;
                        }
        }
}

static void describe_expr(Desc *d, const OExpr *x) {
        switch (x->type) {
        case OP_PAYLOAD:
                d->src[x->dreg] = (Src) { .kind = SRC_PAYLOAD, .key = x->key, .offset = x->offset, .len = x->len };
                return;
        case OP_META:
        case OP_CT:
                d->src[x->dreg] = (Src) { .kind = x->type == OP_META ? SRC_META : SRC_CT, .key = x->key };
                return;
        case OP_FIB:
                d->src[x->dreg] = (Src) { .kind = SRC_FIB, .key = x->key, .offset = x->offset };
                return;
        case OP_BITWISE:
                d->src[x->dreg] = d->src[x->sreg];
                d->src[x->dreg].mask = x->op == 0 ? x->a : NULL;
                if (x->op != 0)
                        d->src[x->dreg].kind = SRC_NONE;
                return;
        case OP_BYTEORDER:
        case OP_IMMEDIATE:
                if (x->type == OP_BYTEORDER || x->dreg != 0) {
                        d->src[x->dreg] = (Src) { .kind = SRC_NONE };
                        return;
                }
                piece(d);
                put_verdict(d, &x->verdict);
                return;
        case OP_CMP:
                describe_cmp(d, x);
                return;
        case OP_RANGE: {
                Field f = put_field(d, &d->src[x->sreg]);

                put(d, " %s", x->op == NFT_RANGE_NEQ ? "!= " : "");
                put_value(d, f, x->a, x->len);
                put(d, "-");
                put_value(d, f, x->b, x->len);
                return;
        }
        case OP_LOOKUP:
                describe_lookup(d, x);
                return;
        case OP_XT_CONNTRACK:
                describe_xt_conntrack(d, x);
                return;
        case OP_XT_MULTIPORT:
                describe_xt_multiport(d, x);
                return;
        case OP_XT_ADDRTYPE:
                describe_xt_addrtype(d, x);
                return;
        case OP_XT_TARGET:
                piece(d);
                put(d, "xt target %s", x->name);
                return;
        case OP_NOP:
                if (streq(x->name, "counter"))
                        return;
                _fallthrough_;
        default:
                piece(d);
                put(d, "%s", x->name);
                return;
        }
}

void describe_rule(const Model *m, const ORule *r, char *buf, size_t size) {
        const OTable *t = &m->tables[m->chains[r->chain].table];
        Desc d = { .m = m, .family = t->family, .buf = buf, .size = size, .l4 = -1,
                   .l3 = t->family == NFPROTO_IPV4 ? 4 : t->family == NFPROTO_IPV6 ? 6 : 0 };

        if (size == 0)
                return;
        buf[0] = 0;
        for (uint32_t i = 0; i < r->n_exprs; i++)
                describe_expr(&d, &m->exprs[r->first_expr + i]);
        /* a left-out first piece leaves the next one's space */
        if (buf[0] == ' ')
                memmove(buf, buf + 1, strlen(buf));
}
