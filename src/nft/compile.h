/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * compile.h — engine state to nftables messages (README "How the WFP model maps to
 * nftables"). Pure: it fills an NftBatch and never touches a socket.
 *
 *   table inet <table>  (flags owner, and persist where the kernel has it)
 *     base chains   inbound_transport     hook input  priority P      dispatch on nfproto
 *                   ale_auth_recv_accept  hook input  priority P + 1  (ct state new only)
 *                   ale_auth_connect      hook output priority P      (ct state new only)
 *                   outbound_transport    hook output priority P + 1
 *     per family    <layer>_v4, <layer>_v6: jump to each sublayer chain, highest weight first
 *     per sublayer  <layer>_v4_universal, …: the filters, highest effective weight first
 *     while the exemptions are active: the trace chains (compile-trace.c, below)
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "budget.h"
#include "engine.h"
#include "macro.h"

typedef struct NftBatch NftBatch;
struct nftnl_rule;

/* The compiler's own state (layout.h): where each filter's rule and each sublayer's chains are
 * in the kernel. Whoever keeps the engine keeps one next to it, and passes both. */
typedef struct NftLayout NftLayout;
int nft_layout_new(NftLayout **ret);
/* Frees the layout, its chunks and runs; before the engine it was compiled from (a run's carrier
 * says which entry frees it). */
NftLayout *nft_layout_free(NftLayout *L);
DEFINE_TRIVIAL_CLEANUP_FUNC(NftLayout *, nft_layout_free);

#define NFT_TABLE_NAME_MAX 64
#define NFT_CHAIN_NAME_MAX 128

/* Where a rule is: in the kernel (handle), or new in the batch being built (id, batch generation). */
typedef struct NftRuleRef {
        uint64_t handle;
        uint32_t id;
        uint32_t batch;
} NftRuleRef;

/* One chain of a sublayer in a layer; the sublayer's chains form a list joined by gotos. */
typedef struct NftChunk {
        unsigned id;                    /* 0: the sublayer chain itself; else its _c<id> chain */
        size_t n;                       /* filter rules in it */
        NftRuleRef go;                  /* its trailing goto to the next chunk, if there is one */
        struct NftChunk *prev, *next;
} NftChunk;

/*
 * A run (FilterRuns=yes): filters of one sublayer and layer with the same verdict and
 * exact-match conditions on the same fields (an address may be a prefix of the run's length),
 * compiled to one rule that looks the packet's fields up in a set of their values (run_<id>).
 * One more filter in a run is one set element: the kernel does not validate the table for
 * that, as it does for every new rule. The rule is carried by the member first in evaluation
 * order, in the handle and chunk of its layout entry; the others have none.
 *
 * A run whose members have port ranges has three sets and three rules, one for each size of the
 * aligned blocks the ranges are cut into; the carrier's entry holds the first rule, the run the
 * others (extra).
 *
 * The members need not be neighbours: a member is looked up where the carrier is, before the
 * filters between the carrier and itself, and that is right as long as none of those overlaps
 * it (no packet matches both). classify.c keeps it so (the invariant is stated there).
 */
#define RUN_BLOCK_SIZES 3               /* port blocks of 16, 4 and 1 (compile-layout.c) */
typedef struct NftRun {
        unsigned id;                    /* names its set */
        unsigned shape;                 /* the fields of its conditions, a bit per WfpField */
        int verdict;
        size_t n;
        const Filter *head;             /* members, in no particular order (run_next) */
        const Filter *carrier;          /* the member first in evaluation order: it carries the rule */
        struct NftRun *lprev, *lnext;   /* the runs of its sublayer in its layer */
        const Filter **keys;            /* the members by element, so no key is there twice */
        size_t n_key_slots, n_keys, n_key_tombs;
        unsigned keys_refusals;         /* nft_batch_refusals when they were last right */
        NftLayout *layout;              /* whose map of runs by id has it (layout.h) */
        uint64_t made_in;               /* the batch that made it (NftBatch.serial): see MADE_SET() */
        NftRuleRef extra[RUN_BLOCK_SIZES - 1]; /* with port blocks: its rules after the carrier's */
        /* members that joined in batch joined_in, their elements not written yet (compile-layout.c,
         * run_join()), and the next run of the layout's list of runs with such members */
        const Filter **joined;
        size_t n_joined, joined_cap;
        uint64_t joined_in;
        struct NftRun *joined_next;
} NftRun;

#define NFT_CHUNK_SIZE_DEFAULT 8192
/* The kernel follows at most 16 jumps and gotos from a base chain (NFT_JUMP_STACK_SIZE): base
 * → family chain → sublayer → its chunks leaves room for 12 chunks after the first. */
#define NFT_CHUNKS_MAX 12

/* NFT_TABLE_F_PERSIST (Linux 6.9): an owner table outlives its owner's socket, as an orphan
 * without the owner flag, until a process adopts or deletes it. Debian 12's uapi header
 * predates it, and there it is an enum member, so it gets a name of our own. */
#define BFED_NFT_TABLE_F_PERSIST 0x4u

typedef struct NftConfig {
        char table[NFT_TABLE_NAME_MAX];
        int priority;                   /* base chains hook at priority and priority + 1 */
        uint32_t local_system_uid;      /* whose sockets are the local system (output side) */
        bool has_socket_mark;           /* inbound local-system match also requires this mark */
        uint32_t socket_mark;
        size_t chunk_size;              /* filter rules per chain before it splits */
        uint32_t table_flags;           /* NFT_TABLE_F_OWNER (default), | BFED_NFT_TABLE_F_PERSIST */
        bool filter_runs;               /* compile runs of like filters to set lookups (NftRun); default on */
        bool trace;                     /* the trace chains while the exemptions are active; default on */
        bool net_events;                /* the rules that drop log to log_group (below); default off */
        uint16_t log_group;             /* their nflog group */
} NftConfig;

/* the defaults: bfed, -10, root, no mark, flags owner, runs, trace, no net events, log group 0xbfed */
void nft_config_init(NftConfig *c);

/*
 * Truth on the wire (README): while the exemptions are active, the table also has base chains
 * on prerouting and output at NFT_TRACE_PRIORITY that send the exempted IKE datagrams (on UDP
 * 4500 not ESP-in-UDP) to chain NFT_TRACE_CHAIN, which sets `meta nftrace` on at most
 * NFT_TRACE_RATE of them a second. The kernel then reports every later chain's verdict on them,
 * in every table (tracewatch.h).
 *
 * The priority: NF_IP_PRI_CONNTRACK_DEFRAG (-400) + 1. Before raw (-300) and everything after
 * it; not -300 itself, because among hooks of equal priority the one registered last runs first
 * (nf_hook_entries_grow()), so a raw chain made after bfed's table would run before it. And
 * after defragmentation: an IKE_AUTH message with certificates is often fragmented, and before
 * -400 only its first fragment has ports to match. Chains below -399, and netdev or inet
 * ingress hooks, run before the trace flag is set: their drops are not seen.
 *
 * The rate: one traced datagram is enough to see an obstacle, and reports are once a second
 * per chain anyway; each traced datagram costs the kernel a netlink message per chain verdict.
 */
#define NFT_TRACE_CHAIN "ike_trace"
#define NFT_TRACE_PRIORITY (-399)
#define NFT_TRACE_RATE 5
/* Whether @port is one the exemptions let through for IP version @family (4 or 6). */
bool nft_is_ike_port(int family, uint16_t port);
/* Creates table @name with the trace chains and deletes it again: whether the kernel takes them
 * (fib and limit may be modules it lacks). Without them, set NftConfig.trace to false: the
 * exemptions must not fail for want of their watch. */
int nft_compile_trace_probe(const char *name, NftBatch *b);

/*
 * Net events (FwpmNetEventSubscribe0, for bfed's own drops): while someone subscribes to them
 * (NftConfig.net_events), every rule that drops — a block or callout filter's, or a run of them —
 * also has `log prefix "bfed ID" group G` (a run's: "bfed run ID") before its verdict, and the
 * kernel sends each packet it drops to whoever binds nflog group G (nflog.h). Without
 * subscribers the rules are as they always were: the packet path pays nothing.
 * The log statement cannot stop a rule (a `limit` there would end the rule before its drop), so
 * the rate is bounded where the packets arrive, in bfed.
 */
#define NFT_LOG_GROUP_DEFAULT 0xbfed
#define NFT_NET_EVENT_PREFIX "bfed "
/* The filter whose rule logged @p (a packet of nflog group G): the filter the prefix names, or the
 * member of the run it names whose element the packet is. NULL when the prefix is none of these,
 * or names no filter that drops at a layer of the packet's family. */
typedef struct NflogPacket NflogPacket;
const Filter *nft_net_event_filter(const Engine *e, const NftLayout *L, const NflogPacket *p);
/* In a batch of its own: the rules that drop, with the log statement (c->net_events) or without
 * it; every chunk chain that has one is put anew, its counters from 0. */
int nft_compile_net_events(const Engine *e, NftLayout *L, const NftConfig *c, NftBatch *b);

/* The whole table: [take over an existing one,] chains and every filter's rule. */
int nft_compile_ruleset(const Engine *e, NftLayout *L, const NftConfig *c, bool replace, NftBatch *b);
/* Only what the engine's open transaction changed: the rules of added and deleted filters.
 * Both refuse with wfp_ret(FWP_E_OUT_OF_BOUNDS) rather than emit a rule over the kernel's
 * limits (see nft_check_filter()); the caller then finishes the batch as not applied. */
int nft_compile_changes(const Engine *e, NftLayout *L, const NftConfig *c, NftBatch *b);
int nft_compile_delete_table(const NftConfig *c, NftBatch *b);
/* Creates table @name with @flags and deletes it again: whether the kernel takes the flags. */
int nft_compile_table_flags_probe(const char *name, uint32_t flags, NftBatch *b);

/* One of the table's base chains: it sends the packets of its hook to the family chains of the
 * layers of @kind (only new connections with @ct_new: the ALE layers). */
typedef struct NftBaseChain {
        WfpLayerKind kind;
        const char *name;
        int hook;                       /* NF_INET_* */
        int prio_offset;                /* over NftConfig.priority */
        bool ct_new;
} NftBaseChain;

/* The @i-th base chain of the table (from 0); false past the last. */
bool nft_base_chain_at(size_t i, NftBaseChain *ret);
/* Layer @layer's family chain, which jumps to its sublayers' chains: inbound_transport_v4, … */
void nft_family_chain_name(WfpLayer layer, char buf[static 48]);

/* The chain that holds filter rules of @layer in @s; "" for layers that are not emitted. */
void nft_sublayer_chain_name(WfpLayer layer, const Sublayer *s, char buf[static NFT_CHAIN_NAME_MAX]);

/* Whether @f's rule fits the kernel's limits on a rule (128 expressions, 4 KiB of them): 0, or
 * wfp_ret(FWP_E_OUT_OF_BOUNDS) with @err saying what it would need and what to do. Pure; call it
 * for every filter before it is applied. */
int nft_check_filter(const Filter *f, const NftConfig *c, EngineError *err);
/* What @f's rule costs, and the rule of a run it may carry (zero when it cannot): see compile.c. */
int nft_filter_cost(const Filter *f, const NftConfig *c, NftRuleCost *ret_rule, NftRuleCost *ret_run);

/* A filter's rule in libnftnl's debug notation, anonymous sets inlined: for golden tests. */
int nft_filter_rule_text(const Filter *f, const NftConfig *c, char **ret);

/* The table as the bookkeeping has it now (chunks, runs, each rule's record pointing at the
 * handle bfed keeps for it), changing none of it: what verify.c compares the kernel with. */
int nft_compile_layout(const Engine *e, NftLayout *L, const NftConfig *c, NftBatch *b);
