/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test-verify.c — the table's image and its comparison, without root: the compiler's layout
 * batch against a stand-in for the kernel's dump of the same table, made from that batch as the
 * kernel reports it, then changed the ways another process could change the table.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <inttypes.h>
#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/set.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "batch.h"
#include "compile.h"
#include "engine.h"
#include "image.h"
#include "macro.h"
#include "verify.h"
#include "test-layout.h"

#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

/* ---- an engine with a filter of every shape, installed -------------------------------------- */

static uint64_t next_handle = 100;

/* Stands in for the kernel's echoes: every rule the batch asked a handle for gets one. */
static void apply(NftBatch *b) {
        for (size_t i = 0; i < b->n_records; i++)
                if (b->records[i].handle)
                        *b->records[i].handle = next_handle++;
        nft_batch_finish(b, true);
}

static void add(Engine *e, const char *name, const char *layer, uint32_t action, uint64_t range,
                const ConditionSpec *c, size_t n) {
        FilterSpec fs = { .name = (char *) name, .layer = (char *) layer, .action = action,
                          .weight_kind = BFE_WEIGHT_RANGE, .weight = range, .conditions = (ConditionSpec *) c,
                          .n_conditions = n };

        assert_int_equal(engine_add_filter(e, &fs, NULL, NULL), 0);
}

/* A rule of its own, a run (a named set), ORed ranges, prefixes and ports (anonymous sets),
 * and an MM policy (the exemptions, @ike_ports); then more, added one by one, to split chunks. */
static Engine *engine_with_everything(NftConfig *cfg) {
        static const ConditionSpec own[] = { { "IP_PROTOCOL", 0, "udp" }, { "IP_LOCAL_PORT", 0, "7070" } };
        static const ConditionSpec run[3][2] = {
                { { "IP_PROTOCOL", 0, "udp" }, { "IP_LOCAL_PORT", 0, "7071" } },
                { { "IP_PROTOCOL", 0, "udp" }, { "IP_LOCAL_PORT", 0, "7072" } },
                { { "IP_PROTOCOL", 0, "udp" }, { "IP_LOCAL_PORT", 0, "7073" } },
        };
        static const ConditionSpec ranges[] = { { "IP_LOCAL_PORT", 5, "8000-8010" }, { "IP_LOCAL_PORT", 5, "8100-8110" } };
        static const ConditionSpec nets[] = { { "IP_REMOTE_ADDRESS", 0, "2001:db8::/32" },
                                              { "IP_REMOTE_ADDRESS", 0, "2001:db9::/48" } };
        static const ConditionSpec dns[] = { { "IP_REMOTE_PORT", 0, "53" }, { "IP_REMOTE_PORT", 0, "853" } };
        /* port ranges: a run with a set and a rule for each block size (16, 4, 1) */
        static const ConditionSpec blocks[3][2] = {
                { { "IP_PROTOCOL", 0, "tcp" }, { "IP_LOCAL_PORT", 5, "9008-9030" } },
                { { "IP_PROTOCOL", 0, "tcp" }, { "IP_LOCAL_PORT", 5, "9040-9045" } },
                { { "IP_PROTOCOL", 0, "tcp" }, { "IP_LOCAL_PORT", 5, "9050-9051" } },
        };
        ProviderContextSpec cs = { .name = "ike", .type = WFP_CONTEXT_TYPE_IPSEC_IKE_MM };
        ProviderContext *ctx;
        NftBatch *b;
        Engine *e;

        nft_config_init(cfg);
        cfg->chunk_size = 2;
        assert_int_equal(engine_new(&e), 0);
        assert_int_equal(engine_begin(e), 0);
        add(e, "own", "INBOUND_TRANSPORT_V4", WFP_ACTION_BLOCK, 9, own, 2);
        for (size_t i = 0; i < 3; i++)
                add(e, "run", "INBOUND_TRANSPORT_V4", WFP_ACTION_BLOCK, 5, run[i], 2);
        add(e, "ranges", "INBOUND_TRANSPORT_V4", WFP_ACTION_BLOCK, 3, ranges, 2);
        add(e, "nets", "OUTBOUND_TRANSPORT_V6", WFP_ACTION_BLOCK, 3, nets, 2);
        add(e, "dns", "ALE_AUTH_CONNECT_V4", WFP_ACTION_BLOCK, 3, dns, 2);
        for (size_t i = 0; i < 3; i++)
                add(e, "blocks", "INBOUND_TRANSPORT_V4", WFP_ACTION_BLOCK, 2, blocks[i], 2);
        engine_commit(e);
        assert_int_equal(nft_batch_new(1, &b), 0);
        assert_int_equal(nft_compile_ruleset(e, lay(), cfg, true, b), 0);
        apply(b);
        nft_batch_free(b);

        /* the MM policy brings the exemptions in at the front of full chunks: they split */
        assert_int_equal(engine_begin(e), 0);
        assert_int_equal(engine_add_provider_context(e, &cs, NULL, &ctx), 0);
        FilterSpec mm = { .name = "mm", .layer = "IKEEXT_V4", .action = WFP_ACTION_PERMIT,
                          .provider_context_key = ctx->key };
        assert_int_equal(engine_add_filter(e, &mm, NULL, NULL), 0);
        assert_int_equal(nft_batch_new(1, &b), 0);
        assert_int_equal(nft_compile_changes(e, lay(), cfg, b), 0);
        apply(b);
        nft_batch_free(b);
        engine_commit(e);
        assert_non_null(SS(engine_universal_sublayer(e))->chunks[WFP_LAYER_INBOUND_TRANSPORT_V4]->next);
        return e;
}

static NftBatch *layout_batch(const Engine *e, const NftConfig *cfg) {
        NftBatch *b;

        assert_int_equal(nft_batch_new(1, &b), 0);
        assert_int_equal(nft_compile_layout(e, lay(), cfg, b), 0);
        return b;
}

/* ---- the stand-in for the kernel's dump -------------------------------------------------------- */

typedef struct Fake {
        const NftBatch *batch;
        char *buf;
        size_t len, alloc;
        uint64_t untracked;             /* handles for the rules bfed does not track */
        uint32_t anon[64];              /* the batch's ids of anonymous sets; the kernel calls them __set<i> */
        size_t n_anon;
        /* what another process did */
        uint64_t drop_rule, rehandle, dup_rule, swap_rule, replace_rule;
        bool drop_elem, change_comment, change_anon_key, table_flags, base_prio, extra_chain, extra_set;
        bool elem_done, anon_done;
        _Alignas(8) char held[65536];   /* swap_rule: the rule waits for the next one of its chain */
        char held_chain[NFT_CHAIN_NAME_MAX];
        bool holding;
} Fake;

static struct nlmsghdr *fake_begin(Fake *f, const struct nlmsghdr *in) {
        struct nlmsghdr *o;

        if (f->alloc - f->len < 256 * 1024) {
                f->alloc = f->alloc ? f->alloc * 2 : 1 << 20;
                f->buf = realloc(f->buf, f->alloc);
                assert_non_null(f->buf);
        }
        o = (struct nlmsghdr *) (f->buf + f->len);
        memcpy(o, in, NLMSG_HDRLEN + sizeof(struct nfgenmsg));
        o->nlmsg_len = NLMSG_HDRLEN + MNL_ALIGN(sizeof(struct nfgenmsg));
        o->nlmsg_flags = NLM_F_MULTI;
        return o;
}

static void fake_end(Fake *f, struct nlmsghdr *o) {
        f->len += NLMSG_ALIGN(o->nlmsg_len);
}

static void copy(struct nlmsghdr *o, const struct nlattr *a) {
        mnl_attr_put(o, a->nla_type, mnl_attr_get_payload_len(a), mnl_attr_get_payload(a));
}

/* The kernel nests without NLA_F_NESTED (nla_nest_start_noflag()), libnftnl with it: clears it
 * in @a and every attribute nested in it, as a set's description comes back in a dump. */
static void strip_nested(struct nlattr *a) {
        struct nlattr *x;

        if (!(a->nla_type & NLA_F_NESTED))
                return;
        a->nla_type &= (uint16_t) ~NLA_F_NESTED;
        mnl_attr_for_each_nested(x, a)
                strip_nested(x);
}

static const char *anon_name(Fake *f, uint32_t id, char buf[static 32]) {
        for (size_t i = 0; i < f->n_anon; i++)
                if (f->anon[i] == id) {
                        snprintf(buf, 32, "__set%zu", i);
                        return buf;
                }
        return NULL;
}

static uint32_t attr_u32(const struct nlattr *a) {
        return ntohl(mnl_attr_get_u32(a));
}

/* How the kernel reports a register: by the largest one that starts where it does. */
static uint32_t kernel_reg(uint32_t v) {
        uint32_t unit = v <= NFT_REG_4 ? v * 4 : v - NFT_REG32_00 + 4;

        return unit % 4 == 0 ? unit / 4 : unit - 4 + NFT_REG32_00;
}

static void fake_expr(Fake *f, struct nlmsghdr *o, const struct nlattr *e) {
        const struct nlattr *a, *name = NULL, *data = NULL, *set_id = NULL;
        struct nlattr *nest, *dnest;
        char buf[32];

        mnl_attr_for_each_nested(a, e) {
                if (mnl_attr_get_type(a) == NFTA_EXPR_NAME)
                        name = a;
                if (mnl_attr_get_type(a) == NFTA_EXPR_DATA)
                        data = a;
        }
        assert_non_null(name);
        nest = mnl_attr_nest_start(o, NFTA_LIST_ELEM);
        copy(o, name);
        dnest = mnl_attr_nest_start(o, NFTA_EXPR_DATA);
        if (data) {
                mnl_attr_for_each_nested(a, data)
                        if (streq(mnl_attr_get_str(name), "lookup") && mnl_attr_get_type(a) == NFTA_LOOKUP_SET_ID)
                                set_id = a;
                mnl_attr_for_each_nested(a, data) {
                        const char *n = mnl_attr_get_str(name);
                        uint16_t t = mnl_attr_get_type(a);

                        if (streq(n, "lookup") && t == NFTA_LOOKUP_SET_ID)
                                continue;
                        if (streq(n, "lookup") && t == NFTA_LOOKUP_SET && set_id && anon_name(f, attr_u32(set_id), buf))
                                mnl_attr_put_strz(o, NFTA_LOOKUP_SET, buf);
                        else if ((streq(n, "lookup") && t == NFTA_LOOKUP_SREG) || (streq(n, "meta") && t == NFTA_META_DREG) ||
                                 (streq(n, "payload") && t == NFTA_PAYLOAD_DREG))
                                mnl_attr_put_u32(o, t, htonl(kernel_reg(attr_u32(a))));
                        else
                                copy(o, a);
                }
        }
        if (streq(mnl_attr_get_str(name), "lookup"))
                mnl_attr_put_u32(o, NFTA_LOOKUP_FLAGS, 0);
        if (streq(mnl_attr_get_str(name), "counter")) {
                mnl_attr_put_u64(o, NFTA_COUNTER_BYTES, htobe64(1234));
                mnl_attr_put_u64(o, NFTA_COUNTER_PACKETS, htobe64(5));
        }
        mnl_attr_nest_end(o, dnest);
        mnl_attr_nest_end(o, nest);
}

static void fake_rule(Fake *f, const struct nlmsghdr *in, uint64_t handle) {
        struct nlmsghdr *o = fake_begin(f, in);
        const struct nlattr *a, *e;

        mnl_attr_for_each(a, in, sizeof(struct nfgenmsg)) {
                uint16_t t = mnl_attr_get_type(a);

                if (t == NFTA_RULE_ID || t == NFTA_RULE_POSITION)
                        continue;
                if (t == NFTA_RULE_EXPRESSIONS) {
                        struct nlattr *nest = mnl_attr_nest_start(o, NFTA_RULE_EXPRESSIONS);

                        mnl_attr_for_each_nested(e, a)
                                fake_expr(f, o, e);
                        if (handle == f->replace_rule) {
                                /* the rule's matches, plus one more verdict */
                                struct nlattr *x = mnl_attr_nest_start(o, NFTA_LIST_ELEM), *d;
                                mnl_attr_put_strz(o, NFTA_EXPR_NAME, "counter");
                                d = mnl_attr_nest_start(o, NFTA_EXPR_DATA);
                                mnl_attr_nest_end(o, d);
                                mnl_attr_nest_end(o, x);
                        }
                        mnl_attr_nest_end(o, nest);
                } else
                        copy(o, a);
        }
        mnl_attr_put_u64(o, NFTA_RULE_HANDLE, htobe64(handle));
        fake_end(f, o);
}

static void fake_elems(Fake *f, const struct nlmsghdr *in) {
        struct nlmsghdr *o = fake_begin(f, in);
        const struct nlattr *a, *el, *x, *set_id = NULL, *set = NULL;
        bool anon, run;
        char buf[32];

        mnl_attr_for_each(a, in, sizeof(struct nfgenmsg)) {
                if (mnl_attr_get_type(a) == NFTA_SET_ELEM_LIST_SET_ID)
                        set_id = a;
                if (mnl_attr_get_type(a) == NFTA_SET_ELEM_LIST_SET)
                        set = a;
        }
        anon = set_id && anon_name(f, attr_u32(set_id), buf);
        run = set && strncmp(mnl_attr_get_str(set), "run_", 4) == 0;
        mnl_attr_for_each(a, in, sizeof(struct nfgenmsg)) {
                uint16_t t = mnl_attr_get_type(a);
                struct nlattr *list;

                if (t == NFTA_SET_ELEM_LIST_SET_ID)
                        continue;
                if (t == NFTA_SET_ELEM_LIST_SET && anon) {
                        mnl_attr_put_strz(o, t, buf);
                        continue;
                }
                if (t != NFTA_SET_ELEM_LIST_ELEMENTS) {
                        copy(o, a);
                        continue;
                }
                list = mnl_attr_nest_start(o, t);
                mnl_attr_for_each_nested(el, a) {
                        bool first_run = run && !f->elem_done, first_anon = anon && !f->anon_done;
                        struct nlattr *n;

                        if (first_run && f->drop_elem) {
                                f->elem_done = true;
                                continue;
                        }
                        n = mnl_attr_nest_start(o, NFTA_LIST_ELEM); /* not libnftnl's 1, 2, 3… */
                        mnl_attr_for_each_nested(x, el) {
                                if (first_run && f->change_comment && mnl_attr_get_type(x) == NFTA_SET_ELEM_USERDATA) {
                                        /* a comment TLV: type 0, 12 bytes, "filter 9: x" and its NUL */
                                        static const char c[] = "\0\014filter 9: x";
                                        mnl_attr_put(o, NFTA_SET_ELEM_USERDATA, sizeof(c), c);
                                } else if (first_anon && f->change_anon_key && mnl_attr_get_type(x) == NFTA_SET_ELEM_KEY) {
                                        char key[64];
                                        size_t len = mnl_attr_get_payload_len(x);

                                        assert_true(len <= sizeof(key));
                                        memcpy(key, mnl_attr_get_payload(x), len);
                                        key[4] ^= 1; /* the value's first byte, after its nft_data header */
                                        mnl_attr_put(o, x->nla_type, len, key);
                                } else
                                        copy(o, x);
                        }
                        if (run) {
                                /* the kernel gives each element the set's counter, with its own values */
                                struct nlattr *e = mnl_attr_nest_start(o, NFTA_SET_ELEM_EXPR), *d;
                                mnl_attr_put_strz(o, NFTA_EXPR_NAME, "counter");
                                d = mnl_attr_nest_start(o, NFTA_EXPR_DATA);
                                mnl_attr_put_u64(o, NFTA_COUNTER_BYTES, htobe64(99));
                                mnl_attr_put_u64(o, NFTA_COUNTER_PACKETS, htobe64(1));
                                mnl_attr_nest_end(o, d);
                                mnl_attr_nest_end(o, e);
                        }
                        mnl_attr_nest_end(o, n);
                        f->elem_done = f->elem_done || first_run;
                        f->anon_done = f->anon_done || first_anon;
                }
                mnl_attr_nest_end(o, list);
        }
        fake_end(f, o);
}

static void fake_other(Fake *f, const struct nlmsghdr *in, uint16_t type) {
        struct nlmsghdr *o = fake_begin(f, in);
        const struct nlattr *a;
        uint32_t flags = 0;
        char buf[32];

        mnl_attr_for_each(a, in, sizeof(struct nfgenmsg))
                if (type == NFT_MSG_NEWSET && mnl_attr_get_type(a) == NFTA_SET_FLAGS)
                        flags = attr_u32(a);
        mnl_attr_for_each(a, in, sizeof(struct nfgenmsg)) {
                uint16_t t = mnl_attr_get_type(a);

                if (type == NFT_MSG_NEWSET && t == NFTA_SET_ID)
                        continue;
                if (type == NFT_MSG_NEWSET && t == NFTA_SET_NAME && (flags & NFT_SET_ANONYMOUS))
                        continue; /* named below */
                if (type == NFT_MSG_NEWTABLE && t == NFTA_TABLE_FLAGS && f->table_flags)
                        mnl_attr_put_u32(o, t, htonl(attr_u32(a) | NFT_TABLE_F_DORMANT));
                else if (type == NFT_MSG_NEWCHAIN && t == NFTA_CHAIN_HOOK) {
                        struct nlattr *h = mnl_attr_nest_start(o, t);
                        const struct nlattr *x;

                        mnl_attr_for_each_nested(x, a)
                                if (mnl_attr_get_type(x) == NFTA_HOOK_PRIORITY && f->base_prio)
                                        mnl_attr_put_u32(o, NFTA_HOOK_PRIORITY, htonl(attr_u32(x) + 1));
                                else
                                        copy(o, x);
                        mnl_attr_nest_end(o, h);
                        mnl_attr_put_u32(o, NFTA_CHAIN_FLAGS, htonl(NFT_CHAIN_BASE));
                } else if (type == NFT_MSG_NEWSET && t == NFTA_SET_DESC) {
                        struct nlattr *d = (struct nlattr *) ((char *) o + o->nlmsg_len);

                        copy(o, a);
                        strip_nested(d);
                } else
                        copy(o, a);
        }
        /* what the kernel says of every object, and nothing of the batch has */
        if (type == NFT_MSG_NEWSET) {
                const struct nlattr *id = NULL;

                mnl_attr_for_each(a, in, sizeof(struct nfgenmsg))
                        if (mnl_attr_get_type(a) == NFTA_SET_ID)
                                id = a;
                if (flags & NFT_SET_ANONYMOUS) {
                        assert_non_null(id);
                        assert_true(f->n_anon < ELEMENTSOF(f->anon));
                        f->anon[f->n_anon] = attr_u32(id);
                        mnl_attr_put_strz(o, NFTA_SET_NAME, anon_name(f, f->anon[f->n_anon++], buf));
                }
                mnl_attr_put_u64(o, NFTA_SET_HANDLE, htobe64(77));
                bool desc = false;

                mnl_attr_for_each(a, in, sizeof(struct nfgenmsg))
                        desc = desc || mnl_attr_get_type(a) == NFTA_SET_DESC;
                if (!desc) /* one of concatenated ranges has its own, copied above */
                        mnl_attr_nest_end(o, mnl_attr_nest_start(o, NFTA_SET_DESC));
                mnl_attr_put_strz(o, 19, "rhash");        /* Linux 6.16: the backend */
                mnl_attr_put_u32(o, 20, htonl(3));        /* and the number of elements */
        } else if (type == NFT_MSG_NEWCHAIN) {
                mnl_attr_put_u64(o, NFTA_CHAIN_HANDLE, htobe64(55));
                mnl_attr_put_u32(o, NFTA_CHAIN_USE, htonl(2));
        } else if (type == NFT_MSG_NEWTABLE) {
                mnl_attr_put_u32(o, NFTA_TABLE_USE, htonl(40));
                mnl_attr_put_u64(o, NFTA_TABLE_HANDLE, htobe64(3));
        }
        fake_end(f, o);
}

static const char *rule_chain(const struct nlmsghdr *nlh) {
        const struct nlattr *a;

        mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg))
                if (mnl_attr_get_type(a) == NFTA_RULE_CHAIN)
                        return mnl_attr_get_str(a);
        return "";
}

/* The kernel's dump of the table the layout batch @b describes, changed as @f says. */
static void fake_dump(Fake *f, const NftBatch *b) {
        int left = (int) b->len;
        struct nlmsghdr *hold = (struct nlmsghdr *) f->held;

        f->batch = b;
        f->untracked = 1000000;
        for (const struct nlmsghdr *in = (const struct nlmsghdr *) b->buf; mnl_nlmsg_ok(in, left);
             in = mnl_nlmsg_next(in, &left)) {
                uint16_t type = NFNL_MSG_TYPE(in->nlmsg_type);

                if (NFNL_SUBSYS_ID(in->nlmsg_type) != NFNL_SUBSYS_NFTABLES)
                        continue; /* BEGIN */
                if (type == NFT_MSG_NEWRULE) {
                        const NftRecord *rec = nft_batch_find(b, in->nlmsg_seq);
                        uint64_t h = rec && rec->handle && *rec->handle ? *rec->handle : f->untracked++;
                        size_t at = f->len;

                        if (h == f->drop_rule)
                                continue;
                        fake_rule(f, in, h == f->rehandle ? 999999 : h);
                        if (h == f->dup_rule)
                                fake_rule(f, in, 888888);
                        if (h == f->swap_rule) {
                                /* held back until after the next rule of its chain */
                                memcpy(hold, f->buf + at, f->len - at);
                                f->len = at;
                                f->holding = true;
                                snprintf(f->held_chain, sizeof(f->held_chain), "%s", rule_chain(in));
                        } else if (f->holding && streq(rule_chain(in), f->held_chain)) {
                                memcpy(f->buf + f->len, hold, hold->nlmsg_len);
                                f->len += NLMSG_ALIGN(hold->nlmsg_len);
                                f->holding = false;
                        }
                } else if (type == NFT_MSG_NEWSETELEM)
                        fake_elems(f, in);
                else
                        fake_other(f, in, type);
        }
        if (f->extra_chain || f->extra_set) {
                struct nlmsghdr *o, *tmpl = (struct nlmsghdr *) b->buf;

                o = fake_begin(f, tmpl);
                o->nlmsg_type = NFNL_SUBSYS_NFTABLES << 8 | (f->extra_chain ? NFT_MSG_NEWCHAIN : NFT_MSG_NEWSET);
                ((struct nfgenmsg *) mnl_nlmsg_get_payload(o))->nfgen_family = NFPROTO_INET;
                mnl_attr_put_strz(o, 1, "bfed"); /* NFTA_CHAIN_TABLE, NFTA_SET_TABLE */
                if (f->extra_chain)
                        mnl_attr_put_strz(o, NFTA_CHAIN_NAME, "foreign");
                else {
                        mnl_attr_put_strz(o, NFTA_SET_NAME, "foreign_set");
                        mnl_attr_put_u32(o, NFTA_SET_KEY_TYPE, htonl(13));
                        mnl_attr_put_u32(o, NFTA_SET_KEY_LEN, htonl(2));
                }
                fake_end(f, o);
        }
}

/* ---- the tests ----------------------------------------------------------------------------- */

static NftImage *parse_fake(Fake *f, const NftBatch *b) {
        NftImage *img;

        fake_dump(f, b);
        assert_int_equal(nft_image_parse(f->buf, f->len, "bfed", &img), 0);
        return img;
}

static void test_same(void **state) {
        NftConfig cfg;
        Engine *e = engine_with_everything(&cfg);
        NftBatch *b = layout_batch(e, &cfg);
        NftImage *want, *have;
        Fake f = {};
        NftDiff d;

        assert_int_equal(nft_verify_expected(e, lay(), &cfg, &want), 0);
        have = parse_fake(&f, b);
        assert_int_equal(have->n_malformed, 0);
        assert_int_equal(nft_image_compare(want, have, &d), 0);
        for (size_t i = 0; i < d.n_shown; i++)
                fprintf(stderr, "unexpected: %s\n", d.shown[i]);
        assert_int_equal(d.n, 0);
        /* chunks (ChunkSize=2): more chains than the 31 of a table with no filters */
        assert_true(d.n_chains > 31);
        /* @ike_ports, @ike_port_500, @callout_soft, @callout_hard, the run's and the block run's three */
        assert_int_equal(d.n_sets, 8);
        /* "own" is like the run's three: they are one run; of the blocks, the first in order keeps a
         * rule of its own, and the run's are 9008-9030 (16, 4 and three 1s) and 9040-9045 (4, 1, 1) */
        assert_int_equal(d.n_elems, 2 + 1 + 2 + 2 + 3 + 5 + 3);
        assert_int_equal(want->n_rules, have->n_rules);
        /* the handles bfed keeps are marked; the base chains' dispatch rules and the ten of the
         * trace chains (the exemptions are on) have none */
        {
                size_t tracked = 0;
                for (size_t i = 0; i < want->n_rules; i++)
                        tracked += want->rules[i].tracked;
                assert_int_equal(tracked, want->n_rules - 14 - 10);
        }
        nft_image_free(want);
        nft_image_free(have);
        free(f.buf);
        nft_batch_free(b);
        layout_done();
        engine_free(e);
}

/* A filter's rule handle, by the filter's name (its first rule-carrying filter of that name). */
static uint64_t handle_of(Engine *e, const char *name) {
        for (Filter *f = engine_filters(e); f; f = f->next)
                if (streq(f->name, name) && FS(f)->handle)
                        return FS(f)->handle;
        fail_msg("no filter '%s' with a rule", name);
        return 0;
}

static void expect_difference(Engine *e, const NftConfig *cfg, Fake *f, size_t n, const char *text) {
        NftBatch *b = layout_batch(e, cfg);
        NftImage *want, *have;
        NftDiff d;
        bool found = false;

        assert_int_equal(nft_verify_expected(e, lay(), cfg, &want), 0);
        have = parse_fake(f, b);
        assert_int_equal(nft_image_compare(want, have, &d), 0);
        for (size_t i = 0; i < d.n_shown; i++)
                found = found || strstr(d.shown[i], text);
        if (d.n != n || !found) {
                for (size_t i = 0; i < d.n_shown; i++)
                        fprintf(stderr, "difference: %s\n", d.shown[i]);
                fail_msg("expected %zu differences, one with '%s'; got %zu", n, text, d.n);
        }
        nft_image_free(want);
        nft_image_free(have);
        free(f->buf);
        nft_batch_free(b);
}

static void test_differences(void **state) {
        NftConfig cfg;
        Engine *e = engine_with_everything(&cfg);
        uint64_t own = handle_of(e, "own"), ranges = handle_of(e, "ranges");
        char text[128];

        snprintf(text, sizeof(text), "rule %" PRIu64 " (\"filter 1: own\") is missing", own);
        expect_difference(e, &cfg, &(Fake) { .drop_rule = own }, 1, text);
        /* deleted and added back the same: only the handle tells */
        expect_difference(e, &cfg, &(Fake) { .rehandle = own }, 2, "rule 999999 is not bfed's: \"filter 1: own\"");
        expect_difference(e, &cfg, &(Fake) { .dup_rule = ranges }, 1, "rule 888888 is not bfed's: \"filter 5: ranges\"");
        snprintf(text, sizeof(text), "rule %" PRIu64 " (\"filter 5: ranges\") was changed to: ", ranges);
        expect_difference(e, &cfg, &(Fake) { .replace_rule = ranges }, 1, text);
        expect_difference(e, &cfg, &(Fake) { .swap_rule = own }, 1, "is out of order");
        expect_difference(e, &cfg, &(Fake) { .drop_elem = true }, 1, "is missing");
        expect_difference(e, &cfg, &(Fake) { .change_comment = true }, 1, "comment \"filter 9: x\"");
        expect_difference(e, &cfg, &(Fake) { .change_anon_key = true }, 1, ") was changed to: ");
        expect_difference(e, &cfg, &(Fake) { .table_flags = true }, 1, "the table has flags=0x3, must have flags=0x2");
        /* the seven base chains and the two trace chains */
        expect_difference(e, &cfg, &(Fake) { .base_prio = true }, 9, "prio=-9 type=filter policy=accept, must be");
        expect_difference(e, &cfg, &(Fake) { .extra_chain = true }, 1, "chain foreign is not bfed's");
        expect_difference(e, &cfg, &(Fake) { .extra_set = true }, 1, "set foreign_set is not bfed's");
        layout_done();
        engine_free(e);
}

/* The layout must be what nft_compile_ruleset() installs (it has its own copy of the base
 * chains): right after an install, the two batches' images are the same, handles included. */
static void track(NftImage *img, const NftBatch *b) {
        for (size_t i = 0; i < img->n_rules; i++) {
                const NftRecord *rec = nft_batch_find(b, img->rules[i].seq);

                if (rec && rec->handle && *rec->handle) {
                        img->rules[i].tracked = true;
                        img->rules[i].handle = *rec->handle;
                }
        }
}

static void test_layout_is_ruleset(void **state) {
        NftConfig cfg;
        Engine *e = engine_with_everything(&cfg);
        NftImage *installed, *layout;
        NftBatch *b;
        NftDiff d;

        assert_int_equal(nft_batch_new(1, &b), 0);
        assert_int_equal(nft_compile_ruleset(e, lay(), &cfg, false, b), 0);
        apply(b);
        assert_int_equal(nft_image_parse(b->buf, b->len, "bfed", &installed), 0);
        track(installed, b);
        assert_int_equal(nft_verify_expected(e, lay(), &cfg, &layout), 0);
        assert_int_equal(nft_image_compare(layout, installed, &d), 0);
        for (size_t i = 0; i < d.n_shown; i++)
                fprintf(stderr, "difference: %s\n", d.shown[i]);
        assert_int_equal(d.n, 0);
        assert_int_equal(installed->n_malformed, 0);
        nft_image_free(installed);
        nft_image_free(layout);
        nft_batch_free(b);
        layout_done();
        engine_free(e);
}

/* Hostile input: bytes flipped, buffers cut anywhere, garbage. The parser answers (0, or
 * -E2BIG) and counts what made no sense; under ASan, it also reads nothing it should not. */
static void test_hostile(void **state) {
        NftConfig cfg;
        Engine *e = engine_with_everything(&cfg);
        NftBatch *b = layout_batch(e, &cfg);
        Fake f = {};
        NftImage *img;
        uint32_t seed = 12345;
        char *copy_buf;

        fake_dump(&f, b);
        copy_buf = malloc(f.len);
        assert_non_null(copy_buf);
        for (size_t cut = 0; cut < f.len; cut += 7) {
                char *cut_buf = malloc(cut ?: 1);

                memcpy(cut_buf, f.buf, cut);
                assert_int_equal(nft_image_parse(cut_buf, cut, "bfed", &img), 0);
                nft_image_free(img);
                free(cut_buf);
        }
        for (unsigned round = 0; round < 3000; round++) {
                int r;

                memcpy(copy_buf, f.buf, f.len);
                for (unsigned k = 0; k < 1 + round % 4; k++) {
                        seed = seed * 1103515245u + 12345u;
                        copy_buf[(seed >> 8) % f.len] ^= (char) (1u << (seed % 8));
                }
                r = nft_image_parse(copy_buf, f.len, "bfed", &img);
                assert_true(r == 0 || r == -E2BIG);
                if (r == 0)
                        nft_image_free(img);
        }
        for (size_t i = 0; i < f.len; i++) {
                seed = seed * 1103515245u + 12345u;
                copy_buf[i] = (char) (seed >> 16);
        }
        assert_int_equal(nft_image_parse(copy_buf, f.len, "bfed", &img), 0);
        assert_int_equal(img->n_chains, 0);
        nft_image_free(img);
        assert_int_equal(nft_image_parse(NULL, 0, "bfed", &img), 0);
        assert_false(img->has_table);
        nft_image_free(img);
        assert_int_equal(nft_image_parse(NULL, 1, "bfed", &img), -EINVAL);

        free(copy_buf);
        free(f.buf);
        nft_batch_free(b);
        layout_done();
        engine_free(e);
}

/* One anonymous set of many elements that many rules look up: rendered inline in each, it would
 * multiply; the image stops at NFT_IMAGE_TEXT_FACTOR times the input. */
static void test_amplification(void **state) {
        struct nftnl_set *s = nftnl_set_alloc();
        char *buf = malloc(4 << 20), name[32];
        struct nlmsghdr *nlh;
        size_t len = 0;
        NftImage *img;

        assert_non_null(buf);
        nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_NEWSET, NFPROTO_INET, 0, 1);
        nftnl_set_set_str(s, NFTNL_SET_TABLE, "bfed");
        nftnl_set_set_str(s, NFTNL_SET_NAME, "__set0");
        nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_ANONYMOUS | NFT_SET_CONSTANT);
        nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, 4);
        nftnl_set_nlmsg_build_payload(nlh, s);
        len += NLMSG_ALIGN(nlh->nlmsg_len);
        for (uint32_t i = 0; i < 4000; i++) {
                struct nftnl_set_elem *el = nftnl_set_elem_alloc();
                nftnl_set_elem_set(el, NFTNL_SET_ELEM_KEY, &i, sizeof(i));
                nftnl_set_elem_add(s, el);
        }
        nlh = nftnl_nlmsg_build_hdr(buf + len, NFT_MSG_NEWSETELEM, NFPROTO_INET, 0, 2);
        nftnl_set_elems_nlmsg_build_payload(nlh, s);
        len += NLMSG_ALIGN(nlh->nlmsg_len);
        nlh = nftnl_nlmsg_build_hdr(buf + len, NFT_MSG_NEWCHAIN, NFPROTO_INET, 0, 3);
        mnl_attr_put_strz(nlh, NFTA_CHAIN_TABLE, "bfed");
        mnl_attr_put_strz(nlh, NFTA_CHAIN_NAME, "c");
        len += NLMSG_ALIGN(nlh->nlmsg_len);
        for (unsigned i = 0; i < 3000; i++) {
                struct nlattr *list, *elem, *data;

                nlh = nftnl_nlmsg_build_hdr(buf + len, NFT_MSG_NEWRULE, NFPROTO_INET, 0, 4 + i);
                mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, "bfed");
                mnl_attr_put_strz(nlh, NFTA_RULE_CHAIN, "c");
                list = mnl_attr_nest_start(nlh, NFTA_RULE_EXPRESSIONS);
                elem = mnl_attr_nest_start(nlh, NFTA_LIST_ELEM);
                mnl_attr_put_strz(nlh, NFTA_EXPR_NAME, "lookup");
                data = mnl_attr_nest_start(nlh, NFTA_EXPR_DATA);
                snprintf(name, sizeof(name), "__set0");
                mnl_attr_put_strz(nlh, NFTA_LOOKUP_SET, name);
                mnl_attr_nest_end(nlh, data);
                mnl_attr_nest_end(nlh, elem);
                mnl_attr_nest_end(nlh, list);
                len += NLMSG_ALIGN(nlh->nlmsg_len);
        }
        assert_true(len < (4 << 20));
        assert_int_equal(nft_image_parse(buf, len, "bfed", &img), -E2BIG);
        nftnl_set_free(s);
        free(buf);
}

/* A set whose expression looks up another set, read before the sets are indexed: the lookup
 * names a set the image cannot know yet (it once followed a NULL index). */
static void test_set_expr_lookup(void **state) {
        static const char *const names[] = { "a", "b" };
        char buf[1024];
        struct nlmsghdr *nlh;
        size_t len = 0;
        NftImage *img;

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                struct nlattr *expr, *data;

                nlh = nftnl_nlmsg_build_hdr(buf + len, NFT_MSG_NEWSET, NFPROTO_INET, 0, 1 + (uint32_t) i);
                mnl_attr_put_strz(nlh, NFTA_SET_TABLE, "bfed");
                mnl_attr_put_strz(nlh, NFTA_SET_NAME, names[i]);
                mnl_attr_put_u32(nlh, NFTA_SET_KEY_LEN, htonl(4));
                expr = mnl_attr_nest_start(nlh, NFTA_SET_EXPR);
                mnl_attr_put_strz(nlh, NFTA_EXPR_NAME, "lookup");
                data = mnl_attr_nest_start(nlh, NFTA_EXPR_DATA);
                mnl_attr_put_strz(nlh, NFTA_LOOKUP_SET, "a");
                mnl_attr_nest_end(nlh, data);
                mnl_attr_nest_end(nlh, expr);
                len += NLMSG_ALIGN(nlh->nlmsg_len);
        }
        assert_int_equal(nft_image_parse(buf, len, "bfed", &img), 0);
        assert_int_equal(img->n_sets, 2);
        assert_int_equal(img->n_malformed, 0);
        nft_image_free(img);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_same),
                cmocka_unit_test(test_differences),
                cmocka_unit_test(test_layout_is_ruleset),
                cmocka_unit_test(test_hostile),
                cmocka_unit_test(test_amplification),
                cmocka_unit_test(test_set_expr_lookup),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
