/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * compile-internal.h — the building blocks of compile.c that the other parts of the compiler
 * (compile-trace.c) use too: libnftnl expressions, rules, chains, and the batch messages that
 * carry them. Not for the rest of bfed: compile.h is the compiler's interface.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compile.h"

struct nftnl_rule;

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

/* compile-trace.c: the chains that trace exempted datagrams (compile.h), all of them or their
 * deletion; what nft_compile_changes() must do about them (called before anything else there). */
int nft_trace_emit(const NftConfig *c, NftBatch *b);
int nft_trace_emit_delete(const NftConfig *c, NftBatch *b);
int nft_trace_compile_changes(const Engine *e, const NftConfig *c, NftBatch *b);

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

/* The run with id @id, or NULL; the member of @run whose element is @v, or NULL. */
const NftRun *run_by_id(unsigned id);
const Filter *run_member(const NftRun *run, const NftRunValues *v);
