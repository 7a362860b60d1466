/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* boot.c — the boot-time filters as an `nft -f` script. See boot.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/netfilter.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot.h"
#include "macro.h"
#include "text.h"

/* The protocols whose ports WFP's port fields mean (compile.c's port guard): tcp udp dccp sctp udplite. */
static const uint8_t with_ports[] = { 6, 17, 33, 132, 136 };

typedef struct Out {
        FILE *f;
        const Filter *filter;
        bool inbound;
        int family;
} Out;

/* ---- values -------------------------------------------------------------------------------- */

static uint64_t be_uint(const uint8_t *v, size_t len) {
        uint64_t x = 0;

        for (size_t i = 0; i < len && i < 8; i++)
                x = x << 8 | v[i];
        return x;
}

static const char *field_expr(const Out *o, WfpField field) {
        switch (field) {
        case WFP_FIELD_IP_PROTOCOL:
                return "meta l4proto";
        case WFP_FIELD_IP_LOCAL_PORT:
                return o->inbound ? "th dport" : "th sport";
        case WFP_FIELD_IP_REMOTE_PORT:
                return o->inbound ? "th sport" : "th dport";
        case WFP_FIELD_IP_LOCAL_ADDRESS:
        case WFP_FIELD_IP_REMOTE_ADDRESS:
                /* local = destination on the way in, source on the way out */
                if ((field == WFP_FIELD_IP_LOCAL_ADDRESS) == o->inbound)
                        return o->family == 4 ? "ip daddr" : "ip6 daddr";
                return o->family == 4 ? "ip saddr" : "ip6 saddr";
        case WFP_FIELD_IP_SOURCE_ADDRESS:
                return o->family == 4 ? "ip saddr" : "ip6 saddr";
        case WFP_FIELD_IP_DESTINATION_ADDRESS:
                return o->family == 4 ? "ip daddr" : "ip6 daddr";
        case WFP_FIELD_IP_LOCAL_INTERFACE:
                return o->inbound ? "iifname" : "oifname";
        case WFP_FIELD_IP_FORWARD_INTERFACE:
                return "oifname";       /* forward: the interface it leaves by */
        case WFP_FIELD_ALE_USER_ID:
                return "meta skuid";
        case WFP_FIELD_IP_LOCAL_ADDRESS_TYPE:
                return o->inbound ? "fib daddr type" : "fib saddr type";
        case WFP_FIELD_IP_DESTINATION_ADDRESS_TYPE:
                return "fib daddr type";
        case WFP_FIELD_DIRECTION:       /* put_group(): `meta iif` is 0 on the way out */
        case WFP_FIELD_FLAGS:
        case WFP_FIELD_BFED_LOCAL_SYSTEM:
        case WFP_FIELD_BFED_LOCALLY_INITIATED:
        case _WFP_FIELD_MAX:
                break;
        }
        return NULL;
}

/* An interface name as nft reads it between double quotes: the engine refuses '"', '/', spaces and
 * control characters already; this refuses them again rather than trust that. */
static int put_ifname(Out *o, const uint8_t *v) {
        size_t n = strnlen((const char *) v, CONDITION_VALUE_MAX);

        for (size_t i = 0; i < n; i++)
                if (v[i] <= 0x20 || v[i] >= 0x7f || v[i] == '"' || v[i] == '\\' || v[i] == '/')
                        return -EINVAL;
        fprintf(o->f, "\"%.*s\"", (int) n, (const char *) v);
        return 0;
}

static int put_address(Out *o, const uint8_t *v) {
        char buf[INET6_ADDRSTRLEN];

        if (!inet_ntop(o->family == 4 ? AF_INET : AF_INET6, v, buf, sizeof(buf)))
                return -EINVAL;
        fputs(buf, o->f);
        return 0;
}

/* One value, or interval [lo, hi], of @field: `500`, `7000-7010`, `192.0.2.0/24`, `"eth0"`. */
static int put_value(Out *o, WfpField field, const Condition *c) {
        bool single = memcmp(c->lo, c->hi, c->len) == 0;
        uint32_t u;
        int plen, r;

        switch (field) {
        case WFP_FIELD_IP_PROTOCOL:
        case WFP_FIELD_IP_LOCAL_PORT:
        case WFP_FIELD_IP_REMOTE_PORT:
                fprintf(o->f, "%" PRIu64, be_uint(c->lo, c->len));
                if (!single)
                        fprintf(o->f, "-%" PRIu64, be_uint(c->hi, c->len));
                return 0;
        case WFP_FIELD_IP_LOCAL_ADDRESS:
        case WFP_FIELD_IP_REMOTE_ADDRESS:
        case WFP_FIELD_IP_SOURCE_ADDRESS:
        case WFP_FIELD_IP_DESTINATION_ADDRESS:
                if (c->len != (o->family == 4 ? 4 : 16))
                        return -EINVAL;
                r = put_address(o, c->lo);
                if (r < 0 || single)
                        return r;
                plen = condition_prefix_len(c);
                if (plen >= 0) {
                        fprintf(o->f, "/%d", plen);
                        return 0;
                }
                fputc('-', o->f);
                return put_address(o, c->hi);
        case WFP_FIELD_IP_LOCAL_INTERFACE:
        case WFP_FIELD_IP_FORWARD_INTERFACE:
                return put_ifname(o, c->lo);
        case WFP_FIELD_ALE_USER_ID:
                memcpy(&u, c->lo, sizeof(u));
                fprintf(o->f, "%" PRIu32, u);
                return 0;
        case WFP_FIELD_IP_LOCAL_ADDRESS_TYPE:
        case WFP_FIELD_IP_DESTINATION_ADDRESS_TYPE: {
                /* the route type (RTN_*) the condition holds */
                static const char *const rtn[] = { [1] = "unicast", [2] = "local", [3] = "broadcast",
                                                   [4] = "anycast", [5] = "multicast" };
                memcpy(&u, c->lo, sizeof(u));
                if (u >= ELEMENTSOF(rtn) || !rtn[u])
                        return -EINVAL;
                fputs(rtn[u], o->f);
                return 0;
        }
        case WFP_FIELD_DIRECTION:
        case WFP_FIELD_FLAGS:
        case WFP_FIELD_BFED_LOCAL_SYSTEM:
        case WFP_FIELD_BFED_LOCALLY_INITIATED:
        case _WFP_FIELD_MAX:
                break;
        }
        return -EINVAL;
}

static int compare_lo(const void *a, const void *b) {
        const Condition *x = a, *y = b;

        return memcmp(x->lo, y->lo, x->len);
}

/* Sorts @c (copies) and merges overlapping or adjacent intervals (ordered fields) or equal
 * values (the others): nft refuses overlapping intervals in a set. Returns the new count. */
static size_t merge_values(Condition *c, size_t n, bool ordered) {
        size_t k = 0;

        qsort(c, n, sizeof(*c), compare_lo);
        for (size_t i = 0; i < n; i++) {
                if (k > 0 && ordered) {
                        uint8_t next[CONDITION_VALUE_MAX];
                        bool wrapped = true;

                        memcpy(next, c[k - 1].hi, c[k - 1].len);
                        for (size_t b = c[k - 1].len; wrapped && b > 0; b--)
                                wrapped = ++next[b - 1] == 0;
                        if (wrapped || memcmp(c[i].lo, next, c[i].len) <= 0) {
                                if (memcmp(c[i].hi, c[k - 1].hi, c[i].len) > 0)
                                        memcpy(c[k - 1].hi, c[i].hi, c[i].len);
                                continue;
                        }
                } else if (k > 0 && memcmp(c[i].lo, c[k - 1].lo, c[i].len) == 0)
                        continue;
                c[k++] = c[i];
        }
        return k;
}

/* ` FIELD [!=] VALUE` or ` FIELD [!=] { V, … }` for @n values. */
static int put_match(Out *o, WfpField field, bool negate, Condition *v, size_t n) {
        int r = 0;

        n = merge_values(v, n, condition_field_is_ordered(field));
        fprintf(o->f, " %s %s", field_expr(o, field), negate ? "!= " : "");
        if (n > 1)
                fputs("{ ", o->f);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                if (i > 0)
                        fputs(", ", o->f);
                r = put_value(o, field, &v[i]);
        }
        if (n > 1)
                fputs(" }", o->f);
        return r;
}

/* One group: a condition, or a run of consecutive ones on the same field (ORed), as compile.c's
 * put_group() compiles it. */
static int put_group(Out *o, const Condition *c, size_t n) {
        Condition v[ENGINE_CONDITIONS_MAX + 1];
        bool negated = false;
        size_t m;

        if (c->field == WFP_FIELD_DIRECTION) {
                /* ALE_FLOW_ESTABLISHED's two hooks: on the way out a packet has no input interface */
                fprintf(o->f, " meta iif %s0", c->lo[0] ? "!= " : "");
                return 0;
        }
        if (!field_expr(o, c->field))
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                negated = negated || c[i].negate;
        if (n == 1 || !negated) {
                for (size_t i = 0; i < n; i++)
                        v[i] = c[i];
                return put_match(o, c->field, negated, v, n);
        }
        m = conditions_or_excluded(c, n, v);
        return m == 0 ? 0 : put_match(o, c->field, true, v, m);
}

/* ---- FLAGS ---------------------------------------------------------------------------------- */

static void put_loopback(Out *o, bool is) {
        fprintf(o->f, " meta %s %sloopback", o->inbound ? "iiftype" : "oiftype", is ? "" : "!= ");
}

static void put_ipsec(Out *o, bool secured) {
        fprintf(o->f, " %s %s", o->inbound ? "meta ipsec" : "rt ipsec", secured ? "exists" : "missing");
}

static bool flags_any_both(const Condition *c) {
        return c->field == WFP_FIELD_FLAGS && c->match == WFP_MATCH_FLAGS_ANY_SET && (c->flags & (c->flags - 1));
}

/* @alt: which flag stands for an any-set of both (0 IPsec-secured, 1 loopback), one rule each. */
static void put_flags(Out *o, const Condition *c, unsigned alt) {
        if (flags_any_both(c)) {
                if (alt == 0)
                        put_ipsec(o, true);
                else
                        put_loopback(o, true);
                return;
        }
        if (c->flags & WFP_CONDITION_FLAG_IS_LOOPBACK)
                put_loopback(o, !c->negate);
        if (c->flags & WFP_CONDITION_FLAG_IS_IPSEC_SECURED)
                put_ipsec(o, !c->negate);
}

/* ---- ports that are also ICMP type and code (doc/org.bfed.Engine1.md "ICMP") ------------------ */

typedef struct Ranges {
        uint32_t protos[FILTER_RANGES_MAX][2], local[FILTER_RANGES_MAX][2], remote[FILTER_RANGES_MAX][2];
        int n_protos, n_local, n_remote;
} Ranges;

/* filter_ports_typed(), with the ranges put_rule() needs; -E2BIG when there are too many. */
static int ports_typed(const Filter *f, Ranges *rg) {
        if (!filter_ports_typed(f))
                return 0;
        rg->n_protos = filter_field_ranges(f, WFP_FIELD_IP_PROTOCOL, rg->protos, FILTER_RANGES_MAX);
        rg->n_local = filter_field_ranges(f, WFP_FIELD_IP_LOCAL_PORT, rg->local, FILTER_RANGES_MAX);
        rg->n_remote = filter_field_ranges(f, WFP_FIELD_IP_REMOTE_PORT, rg->remote, FILTER_RANGES_MAX);
        return rg->n_protos < 0 || rg->n_local < 0 || rg->n_remote < 0 ? -E2BIG : 1;
}

/* ` EXPR { a-b, c }` for integer ranges, values above @max cut (ICMP's byte), none when they are
 * all of 0-@max. Returns false when nothing is left: the rule can match nothing. */
static bool put_ranges(Out *o, const char *expr, uint32_t (*r)[2], int n, uint32_t max) {
        int shown = 0;

        if (n == 1 && r[0][0] == 0 && r[0][1] >= max)
                return true;
        for (int i = 0; i < n; i++) {
                if (r[i][0] > max)
                        continue;
                fprintf(o->f, shown == 0 ? " %s { " : ", ", expr);
                fprintf(o->f, "%" PRIu32, r[i][0]);
                if ((r[i][1] > max ? max : r[i][1]) != r[i][0])
                        fprintf(o->f, "-%" PRIu32, r[i][1] > max ? max : r[i][1]);
                shown++;
        }
        if (shown)
                fputs(" }", o->f);
        return shown > 0;
}

/* ---- rules ------------------------------------------------------------------------------------ */

static const char *verdict_text(const Filter *f) {
        if (f->action == WFP_ACTION_BLOCK)
                return "drop";
        return f->flags & WFP_FILTER_FLAG_CLEAR_ACTION_RIGHT ? "accept" : "return";
}

/*
 * One rule of @f (of its alternatives: @typed 0 plain, 1 the ports of protocols with ports, 2 ICMP
 * type and code; @alt the flag of a FLAGS any-set of both). To a buffer first: an alternative that
 * can match nothing is left out. Return: 1 written, 0 left out, or a negative errno.
 */
static int put_rule(Out *o, const Filter *f, int typed, unsigned alt, const Ranges *rg) {
        char comment[NFT_COMMENT_MAX + 1], *text;
        _cleanup_(freep) char *buf = NULL;
        size_t size = 0;
        Out r = *o;
        bool ports = false, proto = false;
        int k = 0;

        r.f = open_memstream(&buf, &size);
        if (!r.f)
                return -ENOMEM;

        for (size_t i = 0; i < f->n_conditions; i++) {
                ports = ports || condition_field_is_port(f->conditions[i].field);
                proto = proto || (f->conditions[i].field == WFP_FIELD_IP_PROTOCOL && !f->conditions[i].negate);
        }
        if (typed == 1) {
                /* the protocols with ports that the filter lets through, their ports */
                int shown = 0;

                for (size_t p = 0; p < ELEMENTSOF(with_ports); p++)
                        if (ranges_contain((const uint32_t (*)[2]) rg->protos, rg->n_protos, with_ports[p]))
                                fprintf(r.f, shown++ == 0 ? " meta l4proto { %u" : ", %u", with_ports[p]);
                if (shown == 0)
                        goto nothing;
                fputs(" }", r.f);
                if (!put_ranges(&r, o->inbound ? "th sport" : "th dport", (uint32_t (*)[2]) rg->remote, rg->n_remote,
                                65535) ||
                    !put_ranges(&r, o->inbound ? "th dport" : "th sport", (uint32_t (*)[2]) rg->local, rg->n_local,
                                65535))
                        goto nothing;
        } else if (typed == 2) {
                const char *icmp = o->family == 4 ? "icmp" : "icmpv6";
                char type[16], code[16];

                snprintf(type, sizeof(type), "%s type", icmp);
                snprintf(code, sizeof(code), "%s code", icmp);
                fprintf(r.f, " meta l4proto %u", o->family == 4 ? 1u : 58u);
                if (!put_ranges(&r, type, (uint32_t (*)[2]) rg->local, rg->n_local, 255) ||
                    !put_ranges(&r, code, (uint32_t (*)[2]) rg->remote, rg->n_remote, 255))
                        goto nothing;
        } else if (ports && !proto)
                fputs(" meta l4proto { 6, 17, 33, 132, 136 }", r.f);

        /* the protocol conditions first, then the others, as compile.c orders them */
        for (int pass = 0; k >= 0 && pass < 2; pass++)
                for (size_t i = 0, j; k >= 0 && i < f->n_conditions; i = j) {
                        const Condition *c = &f->conditions[i];
                        bool is_proto = c->field == WFP_FIELD_IP_PROTOCOL;

                        for (j = i + 1; j < f->n_conditions && f->conditions[j].field == c->field; j++)
                                ;
                        if (is_proto != (pass == 0))
                                continue;
                        if (typed && (is_proto || condition_field_is_port(c->field)))
                                continue; /* in the alternative's own match above */
                        if (c->field == WFP_FIELD_FLAGS)
                                put_flags(&r, c, alt);
                        else
                                k = put_group(&r, c, j - i);
                }
        if (k < 0) {
                fclose(r.f);
                return k;
        }

        fputs(" counter", r.f);
        /* a callout whose rawContext lets plain packets through permits both (ipsec.c) */
        if (f->action == WFP_ACTION_CALLOUT_TERMINATING && !filter_callout_passes_clear(f))
                fprintf(r.f, " %s vmap { missing : drop, exists : %s }", o->inbound ? "meta ipsec" : "rt ipsec",
                        verdict_text(f));
        else
                fprintf(r.f, " %s", verdict_text(f));
        text = NULL;
        if (asprintf(&text, "boot filter %s: %s", guid_str(&f->key), f->name) < 0) {
                fclose(r.f);
                return -ENOMEM;
        }
        nft_comment_sanitize(text, comment);
        free(text);
        fprintf(r.f, " comment \"%s\"", comment);
        if (fclose(r.f) != 0)
                return -ENOMEM;
        fprintf(o->f, "\t\t%s\n", buf + 1);
        return 1;

nothing:
        fclose(r.f);
        return 0;
}

static int put_filter(Out *o, const Filter *f) {
        Ranges rg = {};
        bool both = false;
        int typed, written = 0, k;

        o->filter = f;
        o->inbound = filter_is_inbound(f);      /* the layer's way, or a DIRECTION condition's */
        typed = ports_typed(f, &rg);
        if (typed < 0)
                return typed;
        for (size_t i = 0; i < f->n_conditions; i++)
                both = both || flags_any_both(&f->conditions[i]);
        for (int t = typed ? 1 : 0; t <= (typed ? 2 : 0); t++)
                for (unsigned alt = 0; alt <= (both ? 1u : 0u); alt++) {
                        k = put_rule(o, f, t, alt, &rg);
                        if (k < 0)
                                return k;
                        written += k;
                }
        if (written == 0) {
                char comment[NFT_COMMENT_MAX + 1], *text = NULL;

                if (asprintf(&text, "boot filter %s: %s matches no packet", guid_str(&f->key), f->name) < 0)
                        return -ENOMEM;
                nft_comment_sanitize(text, comment);
                free(text);
                fprintf(o->f, "\t\t# %s\n", comment);
        }
        return 0;
}

/* ---- the table ------------------------------------------------------------------------------- */

size_t nft_boot_count(const Engine *e) {
        size_t n = 0;

        for (Sublayer *s = engine_sublayers(e); s; s = s->next)
                for (WfpLayer l = 0; l < _WFP_LAYER_MAX; l++)
                        for (const Filter *f = s->boot_head[l]; f; f = f->lnext)
                                n++;
        return n;
}

static bool layer_has_boot(const Engine *e, WfpLayer l) {
        for (Sublayer *s = engine_sublayers(e); s; s = s->next)
                if (s->boot_head[l])
                        return true;
        return false;
}

static const char *hook_name(int hook) {
        switch (hook) {
        case NF_INET_PRE_ROUTING:
                return "prerouting";
        case NF_INET_LOCAL_IN:
                return "input";
        case NF_INET_FORWARD:
                return "forward";
        case NF_INET_LOCAL_OUT:
                return "output";
        case NF_INET_POST_ROUTING:
                return "postrouting";
        }
        return NULL;
}

static int put_layer(Out *o, const Engine *e, WfpLayer l) {
        const WfpLayerInfo *li = wfp_layer_info(l);
        char chain[NFT_CHAIN_NAME_MAX], family[48];
        int k;

        o->family = li->family;
        for (Sublayer *s = engine_sublayers(e); s; s = s->next) {
                if (!s->boot_head[l])
                        continue;
                nft_sublayer_chain_name(l, s, chain);
                fprintf(o->f, "\tchain %s {\n", chain);
                for (const Filter *f = s->boot_head[l]; f; f = f->lnext) {
                        k = put_filter(o, f);
                        if (k < 0)
                                return k;
                }
                fputs("\t}\n", o->f);
        }
        nft_family_chain_name(l, family);
        fprintf(o->f, "\tchain %s {\n", family);
        for (Sublayer *s = engine_sublayers(e); s; s = s->next)
                if (s->boot_head[l]) {
                        nft_sublayer_chain_name(l, s, chain);
                        fprintf(o->f, "\t\tjump %s\n", chain);
                }
        fputs("\t}\n", o->f);
        return 0;
}

int nft_boot_render(const Engine *e, const NftConfig *c, char **ret, size_t *ret_len) {
        _cleanup_(freep) char *buf = NULL;
        size_t size = 0;
        Out o = {};
        int k = 0;

        o.f = open_memstream(&buf, &size);
        if (!o.f)
                return -ENOMEM;
        fprintf(o.f, NFT_BOOT_HEADER
                "# bfed's boot-time filters (FWPM_FILTER_FLAG_BOOTTIME), written by bfed: do not edit.\n"
                "# bfed-boot.service loads it before the network comes up; bfed replaces the table when it starts.\n"
                "table inet %s\n"
                "delete table inet %s\n"
                "table inet %s {\n", c->table, c->table, c->table);

        /* the sublayer and family chains of each layer with boot-time filters, then the base chains */
        for (WfpLayer l = 0; k >= 0 && l < _WFP_LAYER_MAX; l++)
                if (wfp_layer_is_emitted(l) && layer_has_boot(e, l))
                        k = put_layer(&o, e, l);
        NftBaseChain bc;

        for (size_t i = 0; k >= 0 && nft_base_chain_at(i, &bc); i++) {
                const char *hook = hook_name(bc.hook);
                char family[48];
                bool any = false;

                for (WfpLayer l = 0; l < _WFP_LAYER_MAX; l++)
                        any = any || (wfp_layer_info(l)->kind == bc.kind && wfp_layer_is_emitted(l) &&
                                      layer_has_boot(e, l));
                if (!any || !hook)
                        continue;
                fprintf(o.f, "\tchain %s {\n\t\ttype filter hook %s priority %d; policy accept;\n", bc.name, hook,
                        c->priority + bc.prio_offset);
                for (WfpLayer l = 0; l < _WFP_LAYER_MAX; l++)
                        if (wfp_layer_info(l)->kind == bc.kind && wfp_layer_is_emitted(l) && layer_has_boot(e, l)) {
                                nft_family_chain_name(l, family);
                                fprintf(o.f, "\t\tmeta nfproto ipv%d %sgoto %s\n", wfp_layer_info(l)->family,
                                        bc.ct_new ? "ct state new " : "", family);
                        }
                fputs("\t}\n", o.f);
        }
        fputs("}\n", o.f);
        if (fclose(o.f) != 0)
                return -ENOMEM;
        if (k < 0)
                return k;
        *ret_len = size;
        *ret = TAKE_PTR(buf);
        return 0;
}
