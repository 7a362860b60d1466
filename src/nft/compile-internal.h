/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * compile-internal.h — what the parts of the compiler share: libnftnl expressions, rules,
 * chains and the batch messages that carry them (compile.c), one filter's rule (compile-rule.c),
 * chunks (compile-chunks.c) and runs (run-keys.c, compile-layout.c), the trace chains and net events
 * (compile-trace.c, compile-netev.c). Not for the rest of bfed: compile.h is the compiler's
 * interface.
 */
#pragma once

#include <assert.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compile.h"
#include "layout.h"
#include "macro.h"

/* A filter's layout entry to read (an empty one when it has none), and to write: the compiler
 * made it before it changes it (nft_layout_filter_add()). The same for a sublayer's. */
#define FS(L, f) nft_layout_filter_ro((L), (f))
#define SS(L, s) nft_layout_sublayer_ro((L), (s))
static inline NftFilterState *FSW(const NftLayout *L, const Filter *f) {
        NftFilterState *fs = nft_layout_filter(L, f);

        assert(fs);
        return fs;
}

/*
 * Sets @field of @obj (a filter's layout entry or a run) to @v through the undo log, or at once
 * when @b made @obj: a refused batch drops the entries it made (nft_layout_filter_add()) and frees
 * the runs (run_new()), so their old values need no keeping. A full install of 100,000 filters
 * logged 1,100,000 values, 53 MB, nearly all of them in entries it had just made.
 */
#define MADE_SET(b, obj, field, v)                                                                      \
        ({                                                                                              \
                __typeof__(obj) _o_ = (obj);                                                            \
                _o_->made_in == (b)->serial ? (_o_->field = (v), 0) : NFT_SET((b), _o_->field, (v));    \
        })
#define FS_SET(L, b, f, field, v) MADE_SET((b), FSW((L), (f)), field, (v))
#define RUN_SET(b, run, field, v) MADE_SET((b), (run), field, (v))

DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_rule *, nftnl_rule_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_set *, nftnl_set_free);

/* nftables' datatype ids (src/datatype.h), so `nft list` prints set elements readably */
#define NFT_TYPE_IPADDR       7
#define NFT_TYPE_IP6ADDR      8
#define NFT_TYPE_INET_PROTOCOL 12
#define NFT_TYPE_INET_SERVICE 13
#define NFT_TYPE_IFNAME       41
#define NFT_TYPE_UID          24
/* for `nft list` to show the concatenated keys below: */
#define NFT_TYPE_ICMP_TYPE    14
#define NFT_TYPE_ARPHRD       21
#define NFT_TYPE_ICMP6_TYPE   29
#define NFT_TYPE_ICMP_CODE    32
#define NFT_TYPE_ICMPV6_CODE  33
#define NFT_TYPE_FIB_ADDR     38
#define NFT_TYPE_BOOLEAN      39
#define NFT_TYPE_CONCAT(a, b) ((a) << 6 | (b)) /* nft's concat_subtype_add() */

/* room for a comment before nft_comment_sanitize() cuts it, and for texts naming a filter */
#define TEXT_MAX (2 * NFT_COMMENT_MAX + 1)

/* conntrack directions (enum ip_conntrack_dir, not in the uapi headers) */
#define CT_DIR_ORIGINAL 0
#define CT_DIR_REPLY 1

/* One attribute of an expression, as libnftnl takes it: a number, a string or bytes. */
typedef struct ExprAttr {
        uint16_t type;                  /* NFTNL_EXPR_* */
        enum { EXPR_ATTR_U32, EXPR_ATTR_STR, EXPR_ATTR_DATA } kind;
        uint32_t u32;
        const void *data;               /* a string (NULL: leave it out), or @len bytes */
        uint32_t len;
} ExprAttr;

#define EXPR_U32(t, v) { .type = (t), .kind = EXPR_ATTR_U32, .u32 = (v) }
#define EXPR_STR(t, s) { .type = (t), .kind = EXPR_ATTR_STR, .data = (s) }
#define EXPR_DATA(t, d, l) { .type = (t), .kind = EXPR_ATTR_DATA, .data = (d), .len = (l) }

/* Appends expression @name with its @n attributes to @r. */
int put_expr(struct nftnl_rule *r, const char *name, const ExprAttr *attrs, size_t n);

/* PUT_EXPR(r, "cmp", EXPR_U32(NFTNL_EXPR_CMP_SREG, NFT_REG_1), …): an expression, attributes listed. */
#define PUT_EXPR(r, name, ...)                                                  \
        put_expr((r), (name), (const ExprAttr[]) { __VA_ARGS__ },                \
                 sizeof((const ExprAttr[]) { __VA_ARGS__ }) / sizeof(ExprAttr))

/* Loads into a register, a match on register 1, verdicts. */
int put_payload_to(struct nftnl_rule *r, uint32_t base, uint32_t offset, uint32_t len, uint32_t dreg);
int put_cmp(struct nftnl_rule *r, uint32_t op, const void *data, uint32_t len);
/* put_meta() of @key, then put_cmp() of its value: `meta KEY OP DATA`. */
int put_meta_cmp(struct nftnl_rule *r, uint32_t key, uint32_t op, const void *data, uint32_t len);
/* @chain: where a jump or goto goes; NULL for the other verdicts. */
int put_verdict(struct nftnl_rule *r, int verdict, const char *chain);
/* The rule's comment, made safe for nft (nft_comment_sanitize()). */
int set_comment(struct nftnl_rule *r, const char *text);
/* A rule of the table in @chain, to add expressions to, or to name one that is there. */
struct nftnl_rule *new_rule(const NftConfig *c, const char *chain);

/* Messages: a rule before the one @before names, or appended (see compile.c); a chain, a base
 * chain when @hook >= 0 (type filter, policy accept); a chain's deletion, rules and all. */
int emit_rule(NftBatch *b, struct nftnl_rule *r, const NftRuleRef *before, uint64_t *handle,
              uint32_t *ret_id, const char *what);
int emit_chain(const NftConfig *c, NftBatch *b, const char *name, int hook, int prio);
int emit_delete_chain(const NftConfig *c, NftBatch *b, const char *name);

/* ---- compile-rule.c: one filter's rule ----------------------------------------------------- */

typedef struct RuleBuild {
        const NftConfig *config;
        const Filter *filter;
        NftBatch *batch;                 /* for set ids; NULL when only describing */
        const char *chain;               /* the chunk chain; NULL: the sublayer's first */
        uint32_t dreg;                   /* where load_field() loads: 0 = NFT_REG_1 */
        struct nftnl_rule *rule;
        struct nftnl_set *sets[ENGINE_CONDITIONS_MAX];
        size_t n_sets;
} RuleBuild;

/* The rule of rb->filter in rb->rule, its anonymous sets in rb->sets; then what it holds freed. */
int rule_build(RuleBuild *rb);
void rule_build_done(RuleBuild *rb);
/* The kernel's limits on one rule (budget.c), with what to do about them in @err. */
int rule_check_budget(struct nftnl_rule *r, const char *whose, EngineError *err);
/* wfp_ret(FWP_E_OUT_OF_BOUNDS), with @err saying what a rule of @cost would need and what to do. */
int budget_error(NftRuleCost cost, const char *whose, EngineError *err);
/* The verdict of @f's rule: NF_DROP, NF_ACCEPT (hard permit) or NFT_RETURN (soft permit). */
int verdict_of(const Filter *f);
/* Loads a condition's field into register 1 (or rb->dreg); its length and set key type. */
int load_field(RuleBuild *rb, const Condition *c, uint32_t *ret_len, uint32_t *ret_type);
int new_set(const NftConfig *c, const char *name, uint32_t id, uint32_t flags, uint32_t key_len,
            uint32_t key_type, struct nftnl_set **ret);
int put_lookup(struct nftnl_rule *r, const char *set, uint32_t set_id);
/* register @reg &= @mask (@len bytes, at most 16) */
int put_bitwise_and_at(struct nftnl_rule *r, uint32_t reg, const void *mask, uint32_t len);
int put_nfproto(struct nftnl_rule *r, int family);
int put_ct_state_new(struct nftnl_rule *r);
/* The table's named sets: the IKE ports (500, 4500), which the exemptions and filters share, and
 * the callout verdict maps callout_soft and callout_hard on the secured bit. */
int emit_ike_ports_set(const NftConfig *c, NftBatch *b);
/* `meta ipsec vmap @callout_soft` (`rt ipsec` outbound; @callout_hard with CLEAR_ACTION_RIGHT): a
 * terminating IPsec callout's decision for a packet its rule matched. */
int put_callout_map_lookup(struct nftnl_rule *r, const Filter *f);

/* ---- compile.c: messages ------------------------------------------------------------------- */

int emit_set(NftBatch *b, struct nftnl_set *s, const char *what);
/* The table's set @name (no more): to name it in messages about it or its elements. */
struct nftnl_set *set_ref(const NftConfig *c, const char *name);
/* The header of the batch's next message, at the end of its buffer: the caller adds the payload
 * and commits it (nft_batch_commit_msg()). NULL when there is no memory. */
struct nlmsghdr *msg_start(NftBatch *b, uint16_t type, uint16_t flags);
int emit_set_msg(NftBatch *b, uint16_t type, const struct nftnl_set *s, const char *what);
/* Whether @ref names a rule (in the kernel, or new in @b); @f's rule as a reference. */
bool ref_is_set(const NftBatch *b, const NftRuleRef *ref);
NftRuleRef filter_ref(const NftLayout *L, const NftBatch *b, const Filter *f);
int emit_delete_ref(const NftConfig *c, NftBatch *b, const char *chain, const NftRuleRef *ref, const char *what);
/* A jump or goto rule in @from (to @to; with a family, after `meta nfproto`; with @ct_new, after
 * `ct state new`), before @before or appended. */
int emit_jump(const NftConfig *c, NftBatch *b, const char *from, int family, bool ct_new, int verdict,
              const char *to, const NftRuleRef *before, uint64_t *handle, uint32_t *ret_id);

/* ---- compile-chunks.c: the chunk chains ----------------------------------------------------- */

void chunk_chain_name(WfpLayer layer, const Sublayer *s, const NftChunk *ch, char buf[static NFT_CHAIN_NAME_MAX]);
int chunk_new(NftBatch *b, unsigned id, NftChunk **ret);
int chunk_remove(const NftConfig *c, NftBatch *b, const Sublayer *s, WfpLayer l, NftChunk *ch);
int emit_goto(const NftConfig *c, NftBatch *b, WfpLayer l, const Sublayer *s, NftChunk *from, NftChunk *to);
/* @f's rule (a plain filter's, or as a run's carrier the run's) where it goes in its list. */
int place_rule(const NftConfig *c, NftLayout *L, NftBatch *b, const Filter *f);

/* ---- run-keys.c: a run's key, and its members by key ------------------------------------------ */

/* The fields of a run's key, in key order; bit k of NftRun.shape is run_fields[k]. */
#define RUN_FIELDS 5
extern const WfpField run_fields[RUN_FIELDS];
#define RUN_PROTOCOL  1u
#define RUN_PORTS     (2u | 4u)
#define RUN_ADDRESSES (8u | 16u)
/* An address field's prefix length (full for an exact address) in the shape, above the field bits:
 * members of one run have the same, so their masked addresses are disjoint as exact keys are. */
#define RUN_PLEN_SHIFT(k) ((k) == 3 ? 8u : 16u)
/* Terminating IPsec callouts (without a clear-text fallback) run with like callouts only, soft and
 * hard apart: the run's rule ends in the callout's verdict map on the secured bit. */
#define RUN_CALLOUT      (1u << 24)
#define RUN_CALLOUT_HARD (1u << 25)
/* A member's port range, on the local or the remote port, is cut into aligned blocks of 16, 4 and
 * 1 ports (run_block_bits), each block an element of the run's set of its size: such a run has a
 * set and a rule for each size (run_<id>_b16, _b4, _b1), and each rule masks the packet's port to
 * its size before the lookup. A range of 2–64 ports is 7 elements on average instead of 33:
 * doc/benchmark.md, "Port ranges as blocks". Members with one port or two ranges have no blocks. */
#define RUN_BLOCKS_LOCAL  (1u << 26)
#define RUN_BLOCKS_REMOTE (1u << 27)
#define RUN_BLOCKS        (RUN_BLOCKS_LOCAL | RUN_BLOCKS_REMOTE)
#define RUN_KEY_MAX   64                /* the registers: 4 + 4 + 4 + 16 + 16 bytes at most */
/* A member's ports at most (the product of its two port fields'): bfed keeps the members by their
 * ports (run-keys.c), and the kernel an element for each block of a range (RUN_BLOCKS). */
#define RUN_RANGE_MAX 64

static inline unsigned port_at(const uint8_t *p) {
        return (unsigned) p[0] << 8 | p[1];
}

/* The port field (in run_fields) whose ranges a run of @shape cuts into blocks. */
static inline size_t block_field(unsigned shape) {
        return shape & RUN_BLOCKS_LOCAL ? 1 : 2;
}

/* @f's condition on @field (the first), or NULL. */
const Condition *filter_condition(const Filter *f, WfpField field);
/* Clears the bits of @v (@n bytes) after the first @plen. */
void prefix_mask_apply(uint8_t *v, size_t n, unsigned plen);
/* Runs (NftRun in compile.h): @f's shape (0: it cannot be in one). */
unsigned run_shape(const NftConfig *c, const Filter *f);
/* How many elements @f has in a run of @shape: the product of its port ranges' sizes. */
size_t run_key_count(const Filter *f, unsigned shape);
/* @f's element @i: its values in key order, the ports counted up from their ranges' starts. */
size_t run_key_nth(const Filter *f, unsigned shape, size_t i, uint8_t key[static RUN_KEY_MAX]);
static inline size_t run_key(const Filter *f, unsigned shape, uint8_t key[static RUN_KEY_MAX]) {
        return run_key_nth(f, shape, 0, key);
}
/* The run's table of its members by key (run->keys): made to match the members after a refused
 * batch; a new member (linked already) into it; a member out of it. */
int run_keys_sync(const NftLayout *L, NftRun *run);
int run_keys_add(const NftLayout *L, NftRun *run, const Filter *f);
void run_keys_remove(NftRun *run, const Filter *f);
/* Whether @f may join @run: like its members, and with elements none of them has. */
int run_admits(const NftConfig *c, const NftLayout *L, NftRun *run, const Filter *f);
/* @fn for the members of @run whose elements @f's values can make; -EDOM when @f does not name
 * every field of the run's key narrowly enough to tell. */
int run_members_meeting(const NftLayout *L, NftRun *run, const Filter *f, int (*fn)(const Filter *g, void *userdata),
                        void *userdata);

/* ---- compile-layout.c: runs ------------------------------------------------------------------ */

/* @f's rule (or, as a run's carrier, the run's) in @chain before @before. */
int emit_filter(const NftConfig *c, NftLayout *L, NftBatch *b, const Filter *f, const char *chain,
                const NftRuleRef *before);
/* A new run carried by @f, in its sublayer's list; its set is the caller's to emit. */
int run_new(const NftConfig *c, NftLayout *L, NftBatch *b, const Filter *f, NftRun **ret);
void run_free(void *p);
int run_link(NftLayout *L, NftBatch *b, NftRun *run, const Filter *f);
int run_member_set(NftLayout *L, NftBatch *b, const Filter *f, NftRun *run, const Filter *prev,
                   const Filter *next);
/* A new member's element and links; a member's eviction (it is then a filter of its own). */
int run_join(const NftConfig *c, NftLayout *L, NftBatch *b, NftRun *run, const Filter *f);
int run_evict(const NftConfig *c, NftLayout *L, NftBatch *b, const Filter *f);
int run_leave(const NftConfig *c, NftLayout *L, NftBatch *b, const Filter *f, NftRun **ret_dying,
              const Filter **ret_heir);
/* The run's rule for its set @j (0 for the carrier's rule; with port blocks 1 and 2 follow it). */
int run_rule_build(const NftConfig *c, const NftRun *run, unsigned j, const char *chain, struct nftnl_rule **ret);
/* Deletes the rules @run has besides its carrier's (with port blocks), from @chain; @run may be NULL. */
int emit_delete_run_extras(const NftConfig *c, NftBatch *b, NftRun *run, const char *chain);
int emit_run_set(const NftConfig *c, const NftLayout *L, NftBatch *b, NftRun *run, const Filter *from, size_t n);
int emit_delete_run_set(const NftConfig *c, NftBatch *b, NftRun *run);
/* The elements of the members that joined runs in @b (run_join()), at the end of a batch. */
int runs_write_joined(const NftConfig *c, NftLayout *L, NftBatch *b);

/* classify.c: whether two filters can match no packet in common; a new filter's place (a run's
 * element, or a rule); the runs of a whole list afresh, and the rules they need. */
bool filters_disjoint(const Filter *a, const Filter *b);
int place_filter(const NftConfig *c, NftLayout *L, NftBatch *b, const Filter *f);
int runs_form(const NftConfig *c, NftLayout *L, NftBatch *b, const Sublayer *s, WfpLayer l, size_t *ret_rules);
/* A deleted filter out of the classifier's caches; the caches built again after a refused batch. */
int classify_forget(const NftConfig *c, NftLayout *L, NftBatch *b, const Filter *f);
int classify_sync(const Engine *e, NftLayout *L, const NftConfig *c);

/* guard.c: a sublayer's jump looks the remote address up first (see there). A filter comes or goes;
 * a list's guard written whole (@layout_only: as the bookkeeping has it); the lookup in the jump
 * rule; the jumps put anew where the guard's use changed; a deleted sublayer's guard; the counts
 * again after a refused batch. */
int guard_note(const NftConfig *c, NftLayout *L, NftBatch *b, const Filter *f, int delta);
int guard_emit_whole(const NftConfig *c, NftLayout *L, NftBatch *b, const Sublayer *s, WfpLayer l, bool layout_only);
int guard_put_lookup(struct nftnl_rule *r, const NftLayout *L, const Sublayer *s, WfpLayer l);
int guard_update_jumps(const Engine *e, const NftConfig *c, NftLayout *L, NftBatch *b,
                       int (*emit)(const NftConfig *c, NftLayout *L, NftBatch *b, WfpLayer l, const Sublayer *s));
int guard_emit_delete(const NftConfig *c, NftLayout *L, NftBatch *b, const Sublayer *s, WfpLayer l);
int guard_recount(const Engine *e, const NftConfig *c, NftLayout *L);

/* compile-trace.c: the chains that trace exempted datagrams (compile.h), all of them or their
 * deletion; what nft_compile_changes() must do about them (called before anything else there). */
int nft_trace_emit(const NftConfig *c, NftBatch *b);
int nft_trace_emit_delete(const NftConfig *c, NftBatch *b);
int nft_trace_compile_changes(const Engine *e, const NftLayout *L, const NftConfig *c, NftBatch *b);

/* compile-netev.c: `log prefix "bfed ID" group G` (@run: "bfed run ID"), for the rules that drop
 * while net events are on (compile.h). */
int put_net_event_log(struct nftnl_rule *r, const NftConfig *c, bool run, uint64_t id);

/* A packet's values of the fields a run's key can have, as its layer sees them. */
typedef struct NftRunValues {
        uint8_t proto;
        bool has_ports;                                 /* none: no element with ports is the packet's */
        uint8_t local_port[2], remote_port[2];          /* big-endian, as conditions hold them */
        uint8_t local_addr[16], remote_addr[16];
        size_t addr_len;                                /* 4 or 16 */
} NftRunValues;

/* The member of @run whose element is @v, or NULL. */
const Filter *run_member(const NftLayout *L, const NftRun *run, const NftRunValues *v);
