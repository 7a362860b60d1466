/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * obstacles-internal.h — what the parts of the obstacle analysis share: the tables of a dump as
 * obstacles-read.c reads them (every pointer points into the dump, which outlives the
 * analysis), the evaluation in obstacles-eval.c, the short texts of obstacles-describe.c, and
 * the result in obstacles.c. Not for anyone else: use obstacles.h.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "array.h"
#include "obstacles.h"

/* Registers as the kernel keeps them: 20 units of 4 bytes, the first 4 the verdict. */
#define REG_BYTES 80
#define REG_UNIT_FIRST_DATA 4
/* OExpr.dreg of a lookup that only tests membership */
#define NO_DREG 0xff
/* Elements of a concatenation that a set's description gives; more are read as one field. */
#define FIELDS_MAX 16
/* Expressions of one rule (the kernel takes 128); a rule with more is read as unknown. */
#define RULE_EXPRS_MAX 256

typedef enum OpType {
        OP_UNKNOWN,             /* not known here, or did not parse: "either", every register unknown */
        OP_NOP,                 /* counter, log, notrack, dup, …: nothing for the verdict */
        OP_EITHER,              /* limit, quota, dynset, …: may stop the rule, writes no register */
        OP_PAYLOAD,             /* key (the base), offset, len -> dreg */
        OP_PAYLOAD_WRITE,       /* mangles the packet: obstacles-read.c notes where */
        OP_META,                /* key -> dreg */
        OP_CT,                  /* key -> dreg */
        OP_FIB,                 /* key (the result) of a lookup by offset (its NFTA_FIB_F_* flags) -> dreg */
        OP_CMP,                 /* sreg op a[len] */
        OP_BITWISE,             /* dreg = (sreg & a) ^ b over len; other ops: unknown result */
        OP_BYTEORDER,           /* dreg = sreg with each key-byte piece of len swapped (op: ntoh, hton) */
        OP_RANGE,               /* a <= sreg <= b over len, or not (op) */
        OP_LOOKUP,              /* sreg in set, or not (op); dreg: a map's data, 0: a verdict map */
        OP_IMMEDIATE,           /* the verdict, or a[len] -> dreg */
        OP_REJECT,              /* reject: a drop */
        OP_QUEUE,               /* to user space, which may drop it */
        OP_XT_CONNTRACK,        /* iptables-nft's conntrack or state match, decoded */
        OP_XT_MULTIPORT,        /* its multiport match: a = struct xt_multiport(_v1), op = revision */
        OP_XT_ADDRTYPE,         /* its addrtype match: a = struct xt_addrtype_info(_v1), op = revision */
        OP_XT_TARGET,           /* an iptables-nft target: REJECT drops, a known few go on, the rest unknown */
} OpType;

typedef struct OVerdict {
        int32_t code;           /* NF_DROP, NF_ACCEPT, …, NFT_JUMP, NFT_GOTO, NFT_RETURN, … */
        const char *chain;      /* jump, goto: the target's name */
} OVerdict;

typedef struct OExpr {
        uint8_t type;           /* OpType */
        uint8_t op;             /* cmp, range, bitwise, byteorder: the operation; lookup: inverted */
        uint8_t sreg, dreg;     /* registers, in 4-byte units (0: the verdict) */
        uint32_t key;           /* meta, ct: the key; payload: the base; byteorder: the size; fib: the result */
        uint32_t offset, len;   /* payload: where and how much; fib: its flags; the others: their data's length */
        const uint8_t *a, *b;   /* cmp data; range from, to; bitwise mask, xor; immediate data */
        uint32_t set;           /* lookup: index in sets */
        OVerdict verdict;       /* immediate */
        const char *name;       /* the expression's name; xt: the match's or target's */
        uint16_t xt_flags, xt_invert;   /* xt conntrack's match_flags and invert_flags */
        uint16_t xt_state;      /* its state mask, in XT_CONNTRACK_STATE bits */
} OExpr;

typedef struct OTable {
        const char *name;
        uint8_t family;
        bool skip;              /* bfed's own, or dormant: its chains see no packet */
} OTable;

typedef struct OChain {
        uint32_t table;
        const char *name;
        bool base, nat, policy_drop;
        uint32_t hook;
        int32_t priority;
        ArraySpan rules;
} OChain;

typedef struct OSet {
        uint32_t table;
        const char *name;
        uint32_t flags;         /* NFT_SET_* */
        uint32_t key_len, data_len;
        bool verdicts;          /* a verdict map: its elements' data are verdicts */
        uint8_t n_fields, field_len[FIELDS_MAX];    /* a concatenation's fields, when it says */
        uint32_t first_elem, n_elems;
        bool exact;             /* no intervals, no catch-all: elements sorted by key */
        bool has_catchall;      /* then it is the first element */
        bool has_ranges;        /* elements with an end key (a concatenation's ranges) */
} OSet;

typedef struct OElem {
        uint32_t set;
        uint32_t flags;         /* NFT_SET_ELEM_INTERVAL_END, NFT_SET_ELEM_CATCHALL */
        const uint8_t *key, *key_end;   /* key_len bytes each; key_end: a range's end, or NULL */
        const uint8_t *data;    /* data_len bytes, or NULL */
        bool has_verdict;
        OVerdict verdict;
} OElem;

typedef struct ORule {
        uint32_t chain;
        uint64_t handle;
        uint32_t first_expr, n_exprs;
} ORule;

typedef struct Model {
        OTable *tables;         /* sorted by family, name */
        size_t n_tables, tables_alloc;
        OChain *chains;         /* sorted by table, name */
        size_t n_chains, chains_alloc;
        OSet *sets;             /* sorted by table, name */
        size_t n_sets, sets_alloc;
        OElem *elems;           /* grouped by set */
        size_t n_elems, elems_alloc;
        ORule *rules;           /* grouped by chain, each chain's in order */
        size_t n_rules, rules_alloc;
        OExpr *exprs;
        size_t n_exprs, exprs_alloc;
        size_t n_malformed;
        /* what some rule somewhere may do to every packet after it */
        bool notrack;           /* untracks (notrack, xt CT): a later chain's conntrack state may be "untracked" */
        uint8_t mangled[2][8];  /* a payload write: bits of the network, transport header's bytes 0-63 */
} Model;

/* obstacles-read.c: @m from the dump; on error (-ENOMEM; a buffer nlmsg_check_buffer() refuses)
 * @m holds what it had. */
int model_read(Model *m, const void *buf, size_t len, const char *own_table);
void model_done(Model *m);
const OChain *model_find_chain(const Model *m, uint32_t table, const char *name);
/* The register unit of a netlink register number, or -1. */
int reg_unit(uint32_t v);

/* obstacles-eval.c: a place that drops exempted datagrams in the chains a base chain reaches: a
 * rule (its index in rules), or the base chain's policy; the kinds it may drop, and of those
 * the ones it drops whatever their unknown fields. */
#define POINT_POLICY UINT32_MAX
typedef struct DropPoint {
        uint32_t rule;
        uint32_t kinds, always;
} DropPoint;

typedef struct Evaluator Evaluator;
int evaluator_new(const Model *m, Evaluator **ret);
Evaluator *evaluator_free(Evaluator *ev);
/* The drop points of base chain @chain, in the order they were reached; valid until the next
 * call. -E2BIG when the work would pass a bound far above real rulesets'; -ENOMEM. */
int evaluator_run(Evaluator *ev, uint32_t chain, const DropPoint **ret, size_t *ret_n);

/* obstacles-describe.c: the short text of a rule ("udp dport 500 drop"), NUL-terminated, cut
 * at @size - 1 bytes; not yet made valid UTF-8. */
void describe_rule(const Model *m, const ORule *r, char *buf, size_t size);
const char *hook_name(uint8_t family, uint32_t hook);
const char *family_name(uint8_t family);
