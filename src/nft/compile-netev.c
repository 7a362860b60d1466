/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * compile-netev.c — the net events' side of the compiler (compile.h, "Net events"): the log
 * statement of the rules that drop, and, for a packet such a statement logged, the filter that
 * dropped it. The prefix names it: "bfed 17" a filter's rule, "bfed run 4" the rule of a run,
 * whose member is the one whose element the packet's fields are (the kernel looked them up in
 * the run's set to drop it). Everything a message says is checked against the engine: the
 * prefix is the kernel's text, and any process that may change the ruleset could log to the
 * group with a prefix of its own.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/netfilter.h>
#include <stdio.h>
#include <string.h>
#include <libnftnl/expr.h>      /* after stdio.h: it takes a FILE */

#include "compile-internal.h"
#include "compile.h"
#include "macro.h"
#include "nflog.h"

#define RUN_WORD "run "

int put_net_event_log(struct nftnl_rule *r, const NftConfig *c, bool run, uint64_t id) {
        char prefix[NFLOG_PREFIX_MAX];
        uint16_t group = c->log_group;

        (void) snprintf(prefix, sizeof(prefix), NFT_NET_EVENT_PREFIX "%s%" PRIu64, run ? RUN_WORD : "", id);
        return PUT_EXPR(r, "log", EXPR_STR(NFTNL_EXPR_LOG_PREFIX, prefix),
                        EXPR_DATA(NFTNL_EXPR_LOG_GROUP, &group, sizeof(group)));
}

/* A decimal id without sign, leading zero or anything after it. */
static int parse_id(const char *s, uint64_t *ret) {
        uint64_t v = 0;

        if (*s < '1' || *s > '9')
                return -EINVAL;
        for (; *s >= '0' && *s <= '9'; s++) {
                if (v > (UINT64_MAX - (uint64_t) (*s - '0')) / 10)
                        return -ERANGE;
                v = v * 10 + (uint64_t) (*s - '0');
        }
        if (*s)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* Whether @f's rule logs its drops: a block's. A terminating callout's verdict map decides only
 * after where the log statement would stand (compile.c), so its rule never logs. */
static bool drops(const Filter *f) {
        return f->action == WFP_ACTION_BLOCK;
}

/* Whether @f's layer sees packets like @p: its family, and its hook when the packet says. */
static bool layer_sees(const Filter *f, const NflogPacket *p) {
        WfpLayerKind kind = wfp_layer_info(f->layer)->kind;
        bool inbound = wfp_layer_is_inbound(f->layer);

        if (!wfp_layer_is_emitted(f->layer) || wfp_layer_info(f->layer)->family != p->family)
                return false;
        if (p->hook == 0xff)
                return true;
        if (kind == WFP_LAYER_KIND_IPFORWARD)
                return p->hook == NF_INET_FORWARD;
        if (kind == WFP_LAYER_KIND_ALE_FLOW_ESTABLISHED)
                return p->hook == NF_INET_LOCAL_IN || p->hook == NF_INET_LOCAL_OUT;
        return inbound ? p->hook == NF_INET_LOCAL_IN : p->hook == NF_INET_LOCAL_OUT;
}

/* The member of @run whose element has @p's fields, local and remote as the run's layer sees them. */
static const Filter *member_of(const NftLayout *L, const NftRun *run, const NflogPacket *p) {
        bool inbound = wfp_layer_is_inbound(run->carrier->layer);
        size_t n = p->family == 4 ? 4 : 16;
        NftRunValues v = { .proto = p->l4proto, .has_ports = p->has_ports, .addr_len = n };
        uint16_t local = inbound ? p->dport : p->sport, remote = inbound ? p->sport : p->dport;

        v.local_port[0] = (uint8_t) (local >> 8);
        v.local_port[1] = (uint8_t) local;
        v.remote_port[0] = (uint8_t) (remote >> 8);
        v.remote_port[1] = (uint8_t) remote;
        memcpy(v.local_addr, inbound ? p->daddr : p->saddr, n);
        memcpy(v.remote_addr, inbound ? p->saddr : p->daddr, n);
        return run_member(L, run, &v);
}

const Filter *nft_net_event_filter(const Engine *e, const NftLayout *L, const NflogPacket *p) {
        const char *s = p->prefix;
        const Filter *f;
        const NftRun *run;
        uint64_t id;

        if (p->family == 0 || !startswith(s, NFT_NET_EVENT_PREFIX))
                return NULL;
        s += strlen(NFT_NET_EVENT_PREFIX);
        if (startswith(s, RUN_WORD)) {
                if (parse_id(s + strlen(RUN_WORD), &id) < 0 || id > UINT_MAX)
                        return NULL;
                run = nft_layout_run(L, (unsigned) id);
                if (!run || run->verdict != NF_DROP || !layer_sees(run->carrier, p))
                        return NULL;
                f = member_of(L, run, p);
        } else {
                if (parse_id(s, &id) < 0)
                        return NULL;
                f = engine_get_filter_by_id(e, id);
        }
        return f && drops(f) && layer_sees(f, p) ? f : NULL;
}
