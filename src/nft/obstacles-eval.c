/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * obstacles-eval.c — the symbolic evaluation of the obstacle analysis (obstacles.h), and what it
 * assumes.
 *
 * Which base chains: those of tables of families ip, ip6, inet, netdev and bridge (not bfed's
 * own, not a dormant one) on a hook an exempted datagram passes. Inbound: prerouting, input,
 * ingress (inet, netdev). Outbound: output, postrouting, egress (netdev). Forward is never
 * passed: IKE ends on this host. Bridge tables count too: when the host's address sits on a
 * bridge, its own datagrams pass the bridge family's prerouting and input (output and
 * postrouting) hooks; the interface is unknown, so a bridge chain's drop is a "may". A nat
 * chain sees only a flow's first datagram, so it counts for new flows only.
 *
 * The datagram, for each kind (obstacles.h):
 *  - known: the family (meta nfproto, meta protocol, the IP version), UDP (meta l4proto, the
 *    IPv4 protocol, the IPv6 next header: no extension headers), the ports, the conntrack
 *    state and direction;
 *  - the ports: the local port is the IKE port (IKE daemons bind 500 and 4500 and send from
 *    them); the remote port is the IKE port where the remote side is the flow's responder, and
 *    unknown where it started the flow (a NAT may have changed it). So a new inbound datagram
 *    has dport P and any sport, a reply inbound sport P and dport P, a new outbound one sport
 *    P and dport P, a reply outbound sport P and any dport;
 *  - conntrack: in a chain after conntrack (priority above -200 on prerouting and output; any
 *    input or postrouting chain) the state is new and the direction original for a new flow,
 *    established and reply for a reply (netdev egress too). Before conntrack (and at ingress)
 *    the state is invalid and every other conntrack key makes the rule not match, as in the
 *    kernel. At -200 itself, and in the bridge family, nothing about conntrack is known. Where a rule that
 *    untracks (notrack, iptables' CT target) may be reached by the datagram in a chain before
 *    conntrack, the state may also be untracked: it is unknown;
 *  - the datagram is a legitimate one: its addresses are unicast and routable back (a reverse
 *    path filter passes it), the local one is this host's (fib, iptables' addrtype);
 *  - a byte some rule anywhere writes (a payload statement) is unknown everywhere;
 *  - everything else is unknown: addresses, interfaces, marks, lengths, the time, …
 *
 * Each rule starts with unknown registers, and each expression is read on the datagram: a
 * match is true, false or "either" (bits are tracked one by one, so a prefix or a mask on a
 * known byte decides). iptables-nft's conntrack, state, multiport and addrtype matches are
 * read too. A verdict is reached for certain when every match before it is true, possibly when
 * some are "either". accept ends the base chain; drop, reject, queue (user space
 * decides) are what is reported; jump, goto and return as in the kernel, with its 16 levels;
 * a loop (which the kernel refuses) is "may return". An expression not known here is "either"
 * and makes every register unknown: it can never be what is reported.
 *
 * Not modelled: later datagrams of a flow in its original direction (firewalls treat them as
 * replies), NAT that changes the ports, sets a rule fills from the packet path (read as
 * "either"), elements that expire (a member is "either"), iptables-legacy (not nftables).
 */
#include <endian.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/xt_addrtype.h>
#include <linux/netfilter/xt_conntrack.h>
#include <linux/netfilter/xt_multiport.h>
#include <linux/netfilter_bridge.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "macro.h"
#include "obstacles-internal.h"

/* The kernel follows at most this many jumps from a base chain. */
#define JUMP_DEPTH_MAX 16
/* Work for one analysis (expressions and set elements looked at): far above real rulesets. */
#define STEPS_MAX (UINT64_C(1) << 28)
/* Where conntrack sits on prerouting and output (NF_IP_PRI_CONNTRACK, NF_IP6_PRI_CONNTRACK). */
#define PRIORITY_CONNTRACK (-200)

static const uint16_t dgram_ports[NFT_DGRAM_PORTS] = { 500, 4500, 500 };

/* ---- three-valued logic: NO < MAYBE < YES ---------------------------------------------------- */

typedef enum Tri { NO, MAYBE, YES } Tri;

static Tri tri_and(Tri a, Tri b) {
        return a < b ? a : b;
}

static Tri tri_or(Tri a, Tri b) {
        return a > b ? a : b;
}

static Tri tri_not(Tri a) {
        return (Tri) (YES - a);
}

/* ---- the datagram ---------------------------------------------------------------------------- */

typedef enum CtModel {
        CT_TRACKED,             /* after conntrack: state and direction known */
        CT_NONE,                /* before it: invalid, and no other key */
        CT_UNKNOWN,
} CtModel;

#define NH_KNOWN 40             /* the IPv6 header; IPv4's is 20 */
#define TH_KNOWN 8              /* the UDP header */

typedef struct Packet {
        unsigned kind;
        bool ipv6, outbound, reply;
        uint8_t nfproto;        /* what meta nfproto reads: the hook's family */
        CtModel ct;
        uint8_t nh[NH_KNOWN], nh_known[NH_KNOWN];
        uint8_t th[TH_KNOWN], th_known[TH_KNOWN];
} Packet;

/* 0 inbound, 1 outbound, -1 neither. */
static int hook_direction(uint8_t family, uint32_t hook) {
        switch (family) {
        case NFPROTO_IPV4:
        case NFPROTO_IPV6:
        case NFPROTO_INET:
                if (hook == NF_INET_PRE_ROUTING || hook == NF_INET_LOCAL_IN ||
                    (family == NFPROTO_INET && hook == NF_INET_INGRESS))
                        return 0;
                return hook == NF_INET_LOCAL_OUT || hook == NF_INET_POST_ROUTING ? 1 : -1;
        case NFPROTO_NETDEV:
                return hook == NF_NETDEV_INGRESS ? 0 : hook == NF_NETDEV_EGRESS ? 1 : -1;
        case NFPROTO_BRIDGE:
                if (hook == NF_BR_PRE_ROUTING || hook == NF_BR_LOCAL_IN)
                        return 0;
                return hook == NF_BR_LOCAL_OUT || hook == NF_BR_POST_ROUTING ? 1 : -1;
        default:
                return -1;
        }
}

static CtModel ct_model(uint8_t family, uint32_t hook, int32_t priority) {
        if (family == NFPROTO_BRIDGE)
                return CT_UNKNOWN;
        if (family == NFPROTO_NETDEV)
                return hook == NF_NETDEV_EGRESS ? CT_TRACKED : CT_NONE;
        if (hook == NF_INET_INGRESS)
                return CT_NONE;
        if (hook == NF_INET_LOCAL_IN || hook == NF_INET_POST_ROUTING)
                return CT_TRACKED;
        return priority < PRIORITY_CONNTRACK ? CT_NONE : priority == PRIORITY_CONNTRACK ? CT_UNKNOWN : CT_TRACKED;
}

static void put_be16(uint8_t *v, uint8_t *k, uint16_t x) {
        v[0] = (uint8_t) (x >> 8), v[1] = (uint8_t) x;
        k[0] = k[1] = 0xff;
}

/* Datagram @kind as a chain of @family on its hook sees it; false when it does not apply. */
static bool packet_init(Packet *p, const Model *m, unsigned kind, const OTable *t, const OChain *c) {
        unsigned port = kind / 4;
        uint16_t ike = dgram_ports[port];
        int dir = hook_direction(t->family, c->hook);

        *p = (Packet) { .kind = kind, .ipv6 = port == 2, .outbound = kind & 2, .reply = kind & 1 };
        if (dir < 0 || dir != p->outbound || (c->nat && p->reply) || (t->family == NFPROTO_IPV4 && p->ipv6) ||
            (t->family == NFPROTO_IPV6 && !p->ipv6))
                return false;
        p->nfproto = t->family == NFPROTO_INET ? (p->ipv6 ? NFPROTO_IPV6 : NFPROTO_IPV4) : t->family;
        p->ct = ct_model(t->family, c->hook, c->priority);
        p->nh[0] = p->ipv6 ? 0x60 : 0x40;
        p->nh_known[0] = 0xf0;
        p->nh[p->ipv6 ? 6 : 9] = IPPROTO_UDP;
        p->nh_known[p->ipv6 ? 6 : 9] = 0xff;
        /* the local port is the IKE port, the remote one where the remote side is the responder */
        if (!p->reply || !p->outbound)
                put_be16(p->th + 2, p->th_known + 2, ike);
        if (p->reply || p->outbound)
                put_be16(p->th, p->th_known, ike);
        for (size_t i = 0; i < NH_KNOWN; i++)
                if (m->mangled[0][i / 8] & (1u << (i % 8)))
                        p->nh_known[i] = 0;
        for (size_t i = 0; i < TH_KNOWN; i++)
                if (m->mangled[1][i / 8] & (1u << (i % 8)))
                        p->th_known[i] = 0;
        return true;
}

/* ---- registers: each bit known or not ------------------------------------------------------ */

typedef struct Regs {
        uint8_t v[REG_BYTES], k[REG_BYTES];     /* value, and which bits of it are known */
} Regs;

static void reg_unknown(Regs *r, unsigned unit, size_t len) {
        size_t at = unit * 4u;

        if (at < REG_BYTES)
                memset(r->k + at, 0, len < REG_BYTES - at ? len : REG_BYTES - at);
}

/* @len bytes (@k NULL: all known) into @unit, then zeros to the end of its last 4-byte unit,
 * as the kernel writes loads and immediates. reg_fits() was checked for @len. */
static void reg_write(Regs *r, unsigned unit, const uint8_t *v, const uint8_t *k, size_t len) {
        size_t at = unit * 4u, pad = (4 - len % 4) % 4;

        memmove(r->v + at, v, len);
        if (k)
                memmove(r->k + at, k, len);
        else
                memset(r->k + at, 0xff, len);
        memset(r->v + at + len, 0, pad);
        memset(r->k + at + len, 0xff, pad);
}

/* The smallest and largest values the bytes may have, big-endian: unknown bits 0, or 1. */
static void reg_bounds(const uint8_t *v, const uint8_t *k, size_t n, uint8_t *lo, uint8_t *hi) {
        for (size_t i = 0; i < n; i++) {
                lo[i] = v[i] & k[i];
                hi[i] = (uint8_t) (v[i] | ~k[i]);
        }
}

static Tri bits_equal(const uint8_t *v, const uint8_t *k, const uint8_t *d, size_t n) {
        bool all = true;

        for (size_t i = 0; i < n; i++) {
                if ((v[i] ^ d[i]) & k[i])
                        return NO;
                all = all && k[i] == 0xff;
        }
        return all ? YES : MAYBE;
}

/* from <= x <= to, x as bits known or not */
static Tri bits_in_range(const uint8_t *v, const uint8_t *k, const uint8_t *from, const uint8_t *to, size_t n) {
        uint8_t lo[64], hi[64];

        reg_bounds(v, k, n, lo, hi);
        if (memcmp(hi, from, n) < 0 || memcmp(lo, to, n) > 0)
                return NO;
        return memcmp(lo, from, n) >= 0 && memcmp(hi, to, n) <= 0 ? YES : MAYBE;
}

static Tri eval_cmp(const OExpr *x, const Regs *r) {
        const uint8_t *v = r->v + x->sreg * 4u, *k = r->k + x->sreg * 4u;
        static const uint8_t zeros[64], ones[64] = { [0 ... 63] = 0xff };
        Tri eq = bits_equal(v, k, x->a, x->len);

        switch (x->op) {
        case NFT_CMP_EQ: return eq;
        case NFT_CMP_NEQ: return tri_not(eq);
        case NFT_CMP_LT: return tri_and(bits_in_range(v, k, zeros, x->a, x->len), tri_not(eq));
        case NFT_CMP_LTE: return bits_in_range(v, k, zeros, x->a, x->len);
        case NFT_CMP_GT: return tri_and(bits_in_range(v, k, x->a, ones, x->len), tri_not(eq));
        default: return bits_in_range(v, k, x->a, ones, x->len); /* NFT_CMP_GTE */
        }
}

/* ---- the evaluation ---------------------------------------------------------------------- */

typedef enum MemoState { MEMO_IN_PROGRESS = 1, MEMO_DONE } MemoState;

typedef struct Memo {
        uint32_t stamp;         /* valid for this (base chain, kind) only */
        uint8_t state;          /* MemoState */
        uint8_t base, ret;      /* Tri: how surely it was entered, and returned then */
} Memo;

/* Whether a rule's lookup matches, and what it takes. */
typedef struct Found {
        Tri any;                /* some element matches */
        const OElem *sure;      /* the element that matches for certain */
} Found;

/* A set's last membership test: rules in a row often look up the same key (a blocklist, by
 * each rule's port), and a key with unknown bits is looked for in every element. */
typedef struct LookupCache {
        bool valid;
        uint8_t v[64], k[64];
        Found found;
} LookupCache;

struct Evaluator {
        const Model *m;
        LookupCache *cache;     /* per set */
        Packet pkt;
        Memo *memo;             /* per chain */
        uint32_t stamp;
        unsigned depth;
        uint64_t steps;
        int error;
        DropPoint *points;
        size_t n_points, points_alloc;
        uint32_t *rule_point;   /* per rule: its index in points + 1, or 0 */
        uint32_t untracked;     /* the kinds that some rule before conntrack may untrack */
        bool finding_untracked; /* find_untracked() runs: the kinds that reach such a rule go to found */
        uint32_t found;
};

/* A rule being evaluated: how surely it is reached (relative to its chain's entry), how surely
 * its expressions so far all went on, and where its outcomes go. */
typedef struct Frame {
        Tri base;               /* how surely the chain was entered from the base chain */
        Tri cur;                /* the rule is reached */
        Tri c;                  /* its expressions so far went on */
        Tri *next, *ret;        /* the next rule is reached; the chain returns */
        uint32_t table, rule;
} Frame;

static Tri eval_chain(Evaluator *ev, uint32_t chain, Tri base);

/* Whether the datagram at hand may be untracked by now. */
static bool untracked_maybe(const Evaluator *ev) {
        return ev->untracked & (UINT32_C(1) << ev->pkt.kind);
}

static void record(Evaluator *ev, uint32_t rule, Tri how) {
        uint32_t *slot = rule == POINT_POLICY ? NULL : &ev->rule_point[rule];
        DropPoint *p = NULL;

        if (how == NO)
                return;
        if (slot && *slot)
                p = &ev->points[*slot - 1];
        else if (!slot)
                for (size_t i = 0; !p && i < ev->n_points; i++)
                        if (ev->points[i].rule == POINT_POLICY)
                                p = &ev->points[i];
        if (!p) {
                if (!ARRAY_RESERVE(ev->points, ev->points_alloc, ev->n_points + 1, 8)) {
                        ev->error = -ENOMEM;
                        return;
                }
                p = &ev->points[ev->n_points++];
                *p = (DropPoint) { .rule = rule };
                if (slot)
                        *slot = (uint32_t) ev->n_points;
        }
        p->kinds |= UINT32_C(1) << ev->pkt.kind;
        if (how == YES)
                p->always |= UINT32_C(1) << ev->pkt.kind;
}

/* Verdict @v, reached as surely as @vc once the expression is. */
static void take_verdict(Evaluator *ev, Frame *f, const OVerdict *v, Tri vc) {
        Tri rel = tri_and(f->cur, tri_and(f->c, vc));
        const OChain *target;

        if (rel == NO)
                return;
        switch (v->code) {
        case NFT_JUMP:
        case NFT_GOTO:
                target = v->chain ? model_find_chain(ev->m, f->table, v->chain) : NULL;
                /* a chain that is not there: the kernel would not have it; read as a return */
                Tri r = target ? eval_chain(ev, (uint32_t) (target - ev->m->chains), tri_and(f->base, rel)) : MAYBE;
                if (v->code == NFT_JUMP)
                        *f->next = tri_or(*f->next, tri_and(rel, r));
                else
                        *f->ret = tri_or(*f->ret, tri_and(rel, r));
                return;
        case NFT_RETURN:
                *f->ret = tri_or(*f->ret, rel);
                return;
        case NFT_CONTINUE:
        case NFT_BREAK:
                *f->next = tri_or(*f->next, rel);
                return;
        default:
                if (v->code < 0)
                        return;
                switch (v->code & NF_VERDICT_MASK) {
                case NF_DROP:
                case NF_QUEUE:
                case NF_STOLEN:
                        record(ev, f->rule, tri_and(f->base, rel));
                        return;
                default:
                        return; /* accept: this base chain is done with it */
                }
        }
}

static void eval_payload(const Evaluator *ev, const OExpr *x, Regs *r, Tri *cont) {
        const Packet *p = &ev->pkt;
        const uint8_t *pv = x->key == NFT_PAYLOAD_NETWORK_HEADER ? p->nh : p->th;
        const uint8_t *pk = x->key == NFT_PAYLOAD_NETWORK_HEADER ? p->nh_known : p->th_known;
        size_t known = x->key == NFT_PAYLOAD_NETWORK_HEADER ? NH_KNOWN : TH_KNOWN;
        uint8_t v[64] = {}, k[64] = {};

        if (x->key == NFT_PAYLOAD_NETWORK_HEADER || x->key == NFT_PAYLOAD_TRANSPORT_HEADER) {
                for (size_t i = 0; i < x->len && x->offset < known && i < known - x->offset; i++) {
                        v[i] = pv[x->offset + i];
                        k[i] = pk[x->offset + i];
                }
                *cont = YES;
        } else
                *cont = MAYBE; /* the link layer header may not be there */
        reg_write(r, x->dreg, v, k, x->len);
}

static void eval_meta(const Evaluator *ev, const OExpr *x, Regs *r, Tri *cont) {
        uint8_t v[2];

        *cont = YES;
        switch (x->key) {
        case NFT_META_NFPROTO:
                reg_write(r, x->dreg, &ev->pkt.nfproto, NULL, 1);
                return;
        case NFT_META_L4PROTO:
                reg_write(r, x->dreg, (const uint8_t[]) { IPPROTO_UDP }, NULL, 1);
                return;
        case NFT_META_PROTOCOL:
                v[0] = ev->pkt.ipv6 ? 0x86 : 0x08, v[1] = ev->pkt.ipv6 ? 0xdd : 0x00;
                reg_write(r, x->dreg, v, NULL, 2);
                return;
        default:
                reg_unknown(r, x->dreg, 16);
                *cont = MAYBE; /* some keys stop the rule when there is nothing to read */
        }
}

static void eval_ct(const Evaluator *ev, const OExpr *x, Regs *r, Tri *cont) {
        const Packet *p = &ev->pkt;
        bool untracked = untracked_maybe(ev), sure = p->ct == CT_TRACKED && !untracked;
        uint32_t state;

        *cont = YES;
        if (x->key == NFT_CT_STATE) {
                state = p->reply ? NF_CT_STATE_BIT(IP_CT_ESTABLISHED_REPLY) : NF_CT_STATE_BIT(IP_CT_NEW);
                if (p->ct == CT_NONE)
                        state = NF_CT_STATE_INVALID_BIT;
                if (sure || (p->ct == CT_NONE && !untracked))
                        reg_write(r, x->dreg, (const uint8_t *) &state, NULL, 4);
                else
                        reg_unknown(r, x->dreg, 4);
                return;
        }
        /* without a conntrack entry every other key stops the rule */
        if (p->ct == CT_NONE) {
                *cont = NO;
                return;
        }
        if (x->key == NFT_CT_DIRECTION && sure) {
                reg_write(r, x->dreg, (const uint8_t[]) { p->reply ? IP_CT_DIR_REPLY : IP_CT_DIR_ORIGINAL }, NULL, 1);
                return;
        }
        reg_unknown(r, x->dreg, 16);
        *cont = MAYBE;
}

/* A datagram the exemptions let through is taken to be a legitimate one: its addresses are
 * unicast and routable (a reverse path check passes), the local one is this host's. The type
 * of its source (@source) or destination address: */
static uint32_t addr_type(const Evaluator *ev, bool source) {
        return source == ev->pkt.outbound ? RTN_LOCAL : RTN_UNICAST;
}

static void eval_fib(const Evaluator *ev, const OExpr *x, Regs *r) {
        uint32_t type = addr_type(ev, x->offset & NFTA_FIB_F_SADDR);

        if ((x->key == NFT_FIB_RESULT_OIF || x->key == NFT_FIB_RESULT_OIFNAME) && (x->offset & NFTA_FIB_F_PRESENT))
                reg_write(r, x->dreg, (const uint8_t[]) { 1 }, NULL, 1);
        else if (x->key == NFT_FIB_RESULT_ADDRTYPE)
                reg_write(r, x->dreg, (const uint8_t *) &type, NULL, 4);
        else
                reg_unknown(r, x->dreg, x->len);
}

static void eval_bitwise(const OExpr *x, Regs *r) {
        const uint8_t *sv = r->v + x->sreg * 4u, *sk = r->k + x->sreg * 4u;
        uint8_t v[64], k[64];

        if (x->op != 0) {
                reg_unknown(r, x->dreg, (x->len + 3) / 4 * 4); /* a shift */
                return;
        }
        for (size_t i = 0; i < x->len; i++) {
                v[i] = (uint8_t) ((sv[i] & x->a[i]) ^ x->b[i]);
                k[i] = (uint8_t) (sk[i] | ~x->a[i]); /* a bit the mask clears is known */
        }
        reg_write(r, x->dreg, v, k, x->len);
}

static void eval_byteorder(const OExpr *x, Regs *r) {
        uint8_t v[REG_BYTES], k[REG_BYTES];

        memcpy(v, r->v + x->sreg * 4u, x->len);
        memcpy(k, r->k + x->sreg * 4u, x->len);
#if __BYTE_ORDER == __LITTLE_ENDIAN
        /* host order <-> network order: each piece of x->key bytes turns around */
        for (size_t at = 0; at < x->len; at += x->key)
                for (size_t i = 0; i < x->key / 2; i++) {
                        uint8_t *a = v + at + i, *b = v + at + x->key - 1 - i, t = *a;
                        *a = *b, *b = t;
                        a = k + at + i, b = k + at + x->key - 1 - i, t = *a;
                        *a = *b, *b = t;
                }
#endif
        memcpy(r->v + x->dreg * 4u, v, x->len);
        memcpy(r->k + x->dreg * 4u, k, x->len);
}

/* iptables-nft's conntrack and state matches (net/netfilter/xt_conntrack.c). */
static Tri eval_xt_conntrack(const Evaluator *ev, const OExpr *x) {
        const Packet *p = &ev->pkt;
        bool sure = p->ct != CT_UNKNOWN && !untracked_maybe(ev);
        Tri t = YES;

        if (x->xt_flags & XT_CONNTRACK_STATE) {
                uint16_t bit = p->ct == CT_NONE ? XT_CONNTRACK_STATE_INVALID
                                                : p->reply ? XT_CONNTRACK_STATE_BIT(IP_CT_ESTABLISHED_REPLY)
                                                           : XT_CONNTRACK_STATE_BIT(IP_CT_NEW);
                /* SNAT and DNAT are bits of their own, set by NAT: unknown */
                Tri in = (x->xt_state & bit) ? YES : NO;

                if (!in && (x->xt_state & (XT_CONNTRACK_STATE_SNAT | XT_CONNTRACK_STATE_DNAT)) && p->ct == CT_TRACKED)
                        in = MAYBE;
                if (!sure)
                        in = MAYBE;
                t = x->xt_invert & XT_CONNTRACK_STATE ? tri_not(in) : in;
        }
        /* without a conntrack entry only the state can match */
        if (p->ct == CT_NONE)
                return x->xt_flags & XT_CONNTRACK_STATE ? t : NO;
        if ((x->xt_flags & XT_CONNTRACK_DIRECTION)) {
                /* matches the original direction unless inverted */
                Tri orig = sure ? (p->reply ? NO : YES) : MAYBE;
                t = tri_and(t, x->xt_invert & XT_CONNTRACK_DIRECTION ? tri_not(orig) : orig);
        }
        if (x->xt_flags & ~(XT_CONNTRACK_STATE | XT_CONNTRACK_DIRECTION | XT_CONNTRACK_STATE_ALIAS))
                t = tri_and(t, MAYBE); /* addresses, ports, status, expiry: not known */
        return t;
}

/* Whether port @p (known or not: -1) is @lo or in [lo, hi]. */
static Tri port_in(int p, uint16_t lo, uint16_t hi) {
        if (p < 0)
                return MAYBE;
        return p >= lo && p <= hi ? YES : NO;
}

static int known_port(const uint8_t *v, const uint8_t *k) {
        return k[0] == 0xff && k[1] == 0xff ? v[0] << 8 | v[1] : -1;
}

/* iptables-nft's multiport match (net/netfilter/xt_multiport.c): the first entry that matches
 * decides. Revision 0 has exact ports only, and no invert. */
static Tri eval_xt_multiport(const Evaluator *ev, const OExpr *x) {
        const Packet *p = &ev->pkt;
        int sport = known_port(p->th, p->th_known), dport = known_port(p->th + 2, p->th_known + 2);
        struct xt_multiport_v1 mp = {};
        Tri t = NO;

        memcpy(&mp, x->a, x->op == 0 ? sizeof(struct xt_multiport) : sizeof(mp));
        for (unsigned i = 0; i < mp.count && i < XT_MULTI_PORTS && t != YES; i++) {
                uint16_t lo = mp.ports[i], hi = lo;
                Tri src, dst;

                if (x->op == 1 && mp.pflags[i] && i + 1 < XT_MULTI_PORTS)
                        hi = mp.ports[++i];
                src = port_in(sport, lo, hi);
                dst = port_in(dport, lo, hi);
                if (mp.flags == XT_MULTIPORT_SOURCE)
                        t = tri_or(t, src);
                else if (mp.flags == XT_MULTIPORT_DESTINATION)
                        t = tri_or(t, dst);
                else
                        t = tri_or(t, tri_or(src, dst));
        }
        return x->op == 1 && mp.invert ? tri_not(t) : t;
}

/* iptables-nft's addrtype match (net/netfilter/xt_addrtype.c): the source's and the
 * destination's type in masks of 1 << RTN_*, each inverted or not. */
static Tri eval_xt_addrtype(const Evaluator *ev, const OExpr *x) {
        uint16_t source, dest;
        bool inv_source, inv_dest;
        Tri t = YES;

        if (x->op == 0) {
                struct xt_addrtype_info a;

                memcpy(&a, x->a, sizeof(a));
                source = a.source, dest = a.dest, inv_source = a.invert_source, inv_dest = a.invert_dest;
        } else {
                struct xt_addrtype_info_v1 a;

                memcpy(&a, x->a, sizeof(a));
                source = a.source, dest = a.dest;
                inv_source = a.flags & XT_ADDRTYPE_INVERT_SOURCE, inv_dest = a.flags & XT_ADDRTYPE_INVERT_DEST;
        }
        if (source && !(((source >> addr_type(ev, true)) & 1) ^ inv_source))
                t = NO;
        if (dest && !(((dest >> addr_type(ev, false)) & 1) ^ inv_dest))
                t = NO;
        return t;
}

static const char *const xt_going_on[] = {
        "LOG", "NFLOG", "MARK", "CONNMARK", "CLASSIFY", "TCPMSS", "DSCP", "TOS", "TTL", "HL",
        "CHECKSUM", "CT", "NOTRACK", "AUDIT", "TRACE", "SECMARK", "CONNSECMARK", "IDLETIMER", "LED",
};


/* Elements of an interval set of starts and ends: the one that decides for @x, the last with a
 * key <= @x (an end: @x is in no interval), or NULL. */
static const OElem *interval_at(const Model *m, const OSet *s, const uint8_t *x) {
        const OElem *e = m->elems + s->first_elem;
        size_t lo = 0, hi = s->n_elems;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (e[mid].key && memcmp(e[mid].key, x, s->key_len) <= 0)
                        lo = mid + 1;
                else if (!e[mid].key)
                        lo = mid + 1; /* the catch-all sorts first */
                else
                        hi = mid;
        }
        return lo > 0 && e[lo - 1].key ? &e[lo - 1] : NULL;
}

static Tri elem_match(const OSet *s, const OElem *e, const uint8_t *v, const uint8_t *k) {
        size_t at = 0;
        Tri t = YES;

        if (!e->key_end)
                return bits_equal(v, k, e->key, s->key_len);
        /* a range per field of a concatenation (one field when the set does not say) */
        for (size_t f = 0; f < (s->n_fields ?: 1) && t != NO; f++) {
                size_t n = s->n_fields ? (s->field_len[f] + 3u) / 4 * 4 : s->key_len;

                t = tri_and(t, bits_in_range(v + at, k + at, e->key + at, e->key_end + at, n));
                at += n;
        }
        return t;
}

/* Calls @each for every element that may match (with how surely), and says whether any does.
 * Without @each (a membership test) the first element that may match is enough: "may". */
static Found lookup(Evaluator *ev, const OSet *s, const uint8_t *v, const uint8_t *k, Frame *f, const OExpr *x,
                    void (*each)(Evaluator *ev, Frame *f, const OExpr *x, const OElem *e, Tri t)) {
        /* elems is NULL when there are none; a catch-all sorts first */
        const OElem *elems = s->n_elems ? ev->m->elems + s->first_elem : NULL;
        const OElem *catchall = s->has_catchall ? elems : NULL;
        uint8_t lo[64], hi[64];
        Found r = { .any = NO };
        bool all_known = true;

        for (size_t i = 0; i < s->key_len; i++)
                all_known = all_known && k[i] == 0xff;

        if (s->exact && all_known) {
                size_t a = 0, b = s->n_elems;

                while (a < b && !r.sure) {
                        size_t mid = a + (b - a) / 2;
                        int c = memcmp(elems[mid].key, v, s->key_len);

                        ev->steps++;
                        if (c == 0)
                                r.sure = &elems[mid];
                        else if (c < 0)
                                a = mid + 1;
                        else
                                b = mid;
                }
        } else if ((s->flags & NFT_SET_INTERVAL) && !s->has_ranges && s->n_elems > 0) {
                /* starts and ends: the intervals [lo, hi] may fall in, from the one lo is in up to hi */
                const OElem *first, *e;

                reg_bounds(v, k, s->key_len, lo, hi);
                first = interval_at(ev->m, s, lo);
                e = interval_at(ev->m, s, hi);
                if (first == e) {
                        if (e && !(e->flags & NFT_SET_ELEM_INTERVAL_END))
                                r.sure = e;
                } else
                        for (e = first ?: elems; e < elems + s->n_elems && (r.any != MAYBE || each); e++) {
                                ev->steps++;
                                if (e->key && memcmp(e->key, hi, s->key_len) > 0)
                                        break;
                                if (e->key && !(e->flags & NFT_SET_ELEM_INTERVAL_END)) {
                                        r.any = MAYBE;
                                        if (each)
                                                each(ev, f, x, e, MAYBE);
                                }
                        }
        } else
                for (size_t i = 0; i < s->n_elems && !r.sure && (r.any != MAYBE || each); i++) {
                        Tri t = elems[i].key ? elem_match(s, &elems[i], v, k) : NO;

                        ev->steps++;
                        if (t == YES)
                                r.sure = &elems[i];
                        else if (t == MAYBE) {
                                r.any = MAYBE;
                                if (each)
                                        each(ev, f, x, &elems[i], MAYBE);
                        }
                }

        if (r.sure) {
                r.any = YES;
                if (each)
                        each(ev, f, x, r.sure, YES);
        } else if (catchall) {
                if (each)
                        each(ev, f, x, catchall, tri_not(r.any));
                r.any = YES;
        }
        /* a set the packet path fills may hold anything by now; an element that times out may be gone */
        if (s->flags & NFT_SET_EVAL)
                r.any = MAYBE;
        else if ((s->flags & NFT_SET_TIMEOUT) && r.any == YES)
                r.any = MAYBE;
        if (r.any != YES)
                r.sure = NULL;
        return r;
}

static void take_elem_verdict(Evaluator *ev, Frame *f, const OExpr *x, const OElem *e, Tri t) {
        if (e->has_verdict)
                take_verdict(ev, f, &e->verdict, t);
}

/* A membership test (or a map's), through the set's cache. */
static Found lookup_cached(Evaluator *ev, const OExpr *x, const uint8_t *v, const uint8_t *k) {
        const OSet *s = &ev->m->sets[x->set];
        LookupCache *c = &ev->cache[x->set];

        if (c->valid && memcmp(c->v, v, s->key_len) == 0 && memcmp(c->k, k, s->key_len) == 0)
                return c->found;
        c->found = lookup(ev, s, v, k, NULL, x, NULL);
        memcpy(c->v, v, s->key_len);
        memcpy(c->k, k, s->key_len);
        c->valid = true;
        return c->found;
}

static void eval_lookup(Evaluator *ev, Frame *f, const OExpr *x, Regs *r, Tri *cont, Tri *brk) {
        const OSet *s = &ev->m->sets[x->set];
        const uint8_t *v = r->v + x->sreg * 4u, *k = r->k + x->sreg * 4u;
        Found found;

        if (x->dreg == 0) {
                /* a verdict map: the element's verdict, or on to the next rule when none matches */
                found = lookup(ev, s, v, k, f, x, take_elem_verdict);
                *cont = NO;
                *brk = tri_not(found.any);
                return;
        }
        found = lookup_cached(ev, x, v, k);
        if (x->dreg != NO_DREG) {
                if (found.sure && found.sure->data)
                        reg_write(r, x->dreg, found.sure->data, NULL, s->data_len);
                else
                        reg_unknown(r, x->dreg, (s->data_len + 3) / 4 * 4);
        }
        *cont = x->op ? tri_not(found.any) : found.any;
        *brk = tri_not(*cont);
}

/* One expression: how surely the rule goes on after it (*cont), and how surely it stops
 * without a verdict (*brk); verdicts go to take_verdict(). */
static void eval_expr(Evaluator *ev, Frame *f, const OExpr *x, Regs *r, Tri *cont, Tri *brk) {
        static const OVerdict drop = { .code = NF_DROP }, queue = { .code = NF_QUEUE };

        *cont = YES;
        switch (x->type) {
        case OP_NOP:
        case OP_PAYLOAD_WRITE:
                if (ev->finding_untracked && streq(x->name, "notrack") && tri_and(f->cur, f->c) != NO)
                        ev->found |= UINT32_C(1) << ev->pkt.kind;
                break;
        case OP_EITHER:
                *cont = MAYBE;
                break;
        case OP_PAYLOAD:
                eval_payload(ev, x, r, cont);
                break;
        case OP_META:
                eval_meta(ev, x, r, cont);
                break;
        case OP_CT:
                eval_ct(ev, x, r, cont);
                break;
        case OP_FIB:
                eval_fib(ev, x, r);
                break;
        case OP_CMP:
                *cont = eval_cmp(x, r);
                break;
        case OP_RANGE:
                *cont = bits_in_range(r->v + x->sreg * 4u, r->k + x->sreg * 4u, x->a, x->b, x->len);
                if (x->op == NFT_RANGE_NEQ)
                        *cont = tri_not(*cont);
                break;
        case OP_BITWISE:
                eval_bitwise(x, r);
                break;
        case OP_BYTEORDER:
                eval_byteorder(x, r);
                break;
        case OP_LOOKUP:
                eval_lookup(ev, f, x, r, cont, brk);
                return;
        case OP_IMMEDIATE:
                if (x->dreg != 0) {
                        reg_write(r, x->dreg, x->a, NULL, x->len);
                        break;
                }
                if (x->verdict.code == NFT_CONTINUE)
                        break;
                *cont = NO;
                *brk = x->verdict.code == NFT_BREAK ? YES : NO;
                if (x->verdict.code != NFT_BREAK)
                        take_verdict(ev, f, &x->verdict, YES);
                return;
        case OP_REJECT:
        case OP_QUEUE:
                take_verdict(ev, f, x->type == OP_REJECT ? &drop : &queue, YES);
                *cont = *brk = NO;
                return;
        case OP_XT_CONNTRACK:
                *cont = eval_xt_conntrack(ev, x);
                break;
        case OP_XT_MULTIPORT:
                *cont = eval_xt_multiport(ev, x);
                break;
        case OP_XT_ADDRTYPE:
                *cont = eval_xt_addrtype(ev, x);
                break;
        case OP_XT_TARGET:
                if (ev->finding_untracked && (streq(x->name, "CT") || streq(x->name, "NOTRACK")) &&
                    tri_and(f->cur, f->c) != NO)
                        ev->found |= UINT32_C(1) << ev->pkt.kind;
                if (streq(x->name, "REJECT")) {
                        take_verdict(ev, f, &drop, YES);
                        *cont = *brk = NO;
                        return;
                }
                /* a target known to go on does; any other may end the rule with a verdict
                 * not known here (never read as a drop) */
                *cont = MAYBE;
                for (size_t i = 0; i < ELEMENTSOF(xt_going_on); i++)
                        if (streq(x->name, xt_going_on[i]))
                                *cont = YES;
                *brk = NO;
                return;
        default:
                /* OP_UNKNOWN: either, and any register may have changed */
                memset(r->k, 0, sizeof(r->k));
                *cont = MAYBE;
                break;
        }
        *brk = tri_not(*cont);
}

static void eval_rule(Evaluator *ev, Frame *f, const ORule *rule) {
        Regs r = {};            /* nothing known about the registers */
        Tri fall = NO;

        f->c = YES;
        ev->steps += rule->n_exprs + 1;
        for (uint32_t i = 0; i < rule->n_exprs && f->c != NO && !ev->error; i++) {
                Tri cont, brk;

                eval_expr(ev, f, &ev->m->exprs[rule->first_expr + i], &r, &cont, &brk);
                fall = tri_or(fall, tri_and(f->c, brk));
                f->c = tri_and(f->c, cont);
        }
        /* all of it matched, and no verdict: the next rule */
        fall = tri_or(fall, f->c);
        *f->next = tri_or(*f->next, tri_and(f->cur, fall));
}

/* Whether chain @chain returns to its caller (by a return, or past its last rule), entered as
 * surely as @base from the base chain; drops on the way are recorded. */
static Tri eval_chain(Evaluator *ev, uint32_t chain, Tri base) {
        const OChain *c = &ev->m->chains[chain];
        Memo *memo = &ev->memo[chain];
        Tri cur = YES, ret = NO;

        if (ev->error || ev->steps > STEPS_MAX) {
                ev->error = ev->error ?: -E2BIG;
                return MAYBE;
        }
        if (memo->stamp == ev->stamp) {
                if (memo->state == MEMO_IN_PROGRESS)
                        return MAYBE; /* a loop: the kernel refuses them */
                if (base <= memo->base)
                        return (Tri) memo->ret; /* its drops are recorded, as surely */
        }
        if (ev->depth >= JUMP_DEPTH_MAX)
                return MAYBE;
        *memo = (Memo) { .stamp = ev->stamp, .state = MEMO_IN_PROGRESS, .base = base };
        ev->depth++;
        for (uint32_t i = 0; i < c->rules.n && cur != NO && !ev->error; i++) {
                Tri next = NO;
                Frame f = { .base = base, .cur = cur, .next = &next, .ret = &ret, .table = c->table,
                            .rule = c->rules.first + i };

                eval_rule(ev, &f, &ev->m->rules[c->rules.first + i]);
                cur = next;
        }
        ev->depth--;
        ret = tri_or(ret, cur);
        *memo = (Memo) { .stamp = ev->stamp, .state = MEMO_DONE, .base = base, .ret = ret };
        return ret;
}

/* ---- the base chains ----------------------------------------------------------------------- */

/* Which kinds may reach a rule that untracks, in a chain before conntrack (prerouting or
 * output, priority up to -200): only there does untracking change what later chains see. While
 * this runs every kind may be untracked already (by an earlier such chain). */
static void find_untracked(Evaluator *ev) {
        const Model *m = ev->m;

        ev->untracked = NFT_DGRAM_ALL;
        ev->finding_untracked = true;
        for (size_t i = 0; i < m->n_chains; i++) {
                const OChain *c = &m->chains[i];
                const OTable *t = &m->tables[c->table];

                if (!c->base || t->skip || c->priority > PRIORITY_CONNTRACK ||
                    (c->hook != NF_INET_PRE_ROUTING && c->hook != NF_INET_LOCAL_OUT) ||
                    (t->family != NFPROTO_INET && t->family != NFPROTO_IPV4 && t->family != NFPROTO_IPV6))
                        continue;
                for (unsigned kind = 0; kind < _NFT_DGRAM_MAX; kind++)
                        if (packet_init(&ev->pkt, m, kind, t, c)) {
                                ev->stamp++;
                                (void) eval_chain(ev, (uint32_t) i, YES);
                        }
        }
        ev->finding_untracked = false;
        ev->untracked = ev->found;
}

Evaluator *evaluator_free(Evaluator *ev) {
        if (!ev)
                return NULL;
        free_many(ev->memo, ev->rule_point, ev->cache, ev->points);
        free(ev);
        return NULL;
}

int evaluator_new(const Model *m, Evaluator **ret) {
        Evaluator *ev = calloc(1, sizeof(*ev));

        if (!ev)
                return -ENOMEM;
        *ev = (Evaluator) { .m = m };
        ev->memo = calloc(m->n_chains ?: 1, sizeof(*ev->memo));
        ev->rule_point = calloc(m->n_rules ?: 1, sizeof(*ev->rule_point));
        ev->cache = calloc(m->n_sets ?: 1, sizeof(*ev->cache));
        if (!ev->memo || !ev->rule_point || !ev->cache) {
                evaluator_free(ev);
                return -ENOMEM;
        }
        if (m->notrack)
                find_untracked(ev);
        *ret = ev;
        return 0;
}

int evaluator_run(Evaluator *ev, uint32_t chain, const DropPoint **ret, size_t *ret_n) {
        const OChain *c = &ev->m->chains[chain];

        /* the last base chain's points go */
        for (size_t i = 0; i < ev->n_points; i++)
                if (ev->points[i].rule != POINT_POLICY)
                        ev->rule_point[ev->points[i].rule] = 0;
        ev->n_points = 0;

        for (unsigned kind = 0; kind < _NFT_DGRAM_MAX && !ev->error; kind++) {
                Tri r;

                if (!packet_init(&ev->pkt, ev->m, kind, &ev->m->tables[c->table], c))
                        continue;
                ev->stamp++;
                r = eval_chain(ev, chain, YES);
                if (c->policy_drop)
                        record(ev, POINT_POLICY, r);
        }
        if (ev->error)
                return ev->error;
        *ret = ev->points;
        *ret_n = ev->n_points;
        return 0;
}
