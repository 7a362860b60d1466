/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * explain.c — WFP arbitration as the compiled ruleset performs it, for one packet.
 *
 * It walks the same lists the compiler emits in the same order, and each step mirrors a
 * rule: a filter matches when all its condition groups do (a group is a run of ORed
 * conditions on one field); a block drops (final), a hard permit accepts (final for the
 * layer), a soft permit returns (the next sublayer runs), a require-IPsec callout drops a
 * plain packet (unless its rawContext lets plain packets through: ipsec.c) and permits a
 * secured one, as its filter's permit would (soft, or hard with
 * CLEAR_ACTION_RIGHT): a terminating callout decides for its sublayer. A field the packet lacks
 * matches nothing, negated or not, as a payload load that breaks the rule in nftables.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "macro.h"

static bool condition_matches(const Condition *c, const Packet *p) {
        bool in;

        switch (c->field) {
        case WFP_FIELD_BFED_LOCAL_SYSTEM:
                return p->local_system;
        case WFP_FIELD_BFED_LOCALLY_INITIATED:
                return p->locally_initiated;
        case WFP_FIELD_FLAGS:
                if (c->match == WFP_MATCH_FLAGS_ANY_SET)
                        return (p->flags & c->flags) != 0;
                return c->negate ? (p->flags & c->flags) == 0 : (p->flags & c->flags) == c->flags;
        default:
                break;
        }
        if (!p->has[c->field] || p->len[c->field] != c->len)
                return false;
        if (condition_field_is_ordered(c->field))
                in = memcmp(p->value[c->field], c->lo, c->len) >= 0 && memcmp(p->value[c->field], c->hi, c->len) <= 0;
        else
                in = memcmp(p->value[c->field], c->lo, c->len) == 0;
        return c->negate ? !in : in;
}

/* The compiler's port guard: ports are read only from protocols that have them, and from ICMP
 * (ICMPv6 at the v6 layers), whose "ports" are its type and code (WFP's ICMP_TYPE and ICMP_CODE
 * are IP_LOCAL_PORT and IP_REMOTE_PORT). */
static bool port_guard_passes(const Filter *f, const Packet *p) {
        static const uint8_t with_ports[] = { 6, 17, 33, 132, 136 };
        bool ports = false;

        for (size_t i = 0; i < f->n_conditions; i++) {
                if (f->conditions[i].field == WFP_FIELD_IP_PROTOCOL && !f->conditions[i].negate)
                        return true;
                if (f->conditions[i].field == WFP_FIELD_IP_LOCAL_PORT || f->conditions[i].field == WFP_FIELD_IP_REMOTE_PORT)
                        ports = true;
        }
        if (!ports)
                return true;
        if (!p->has[WFP_FIELD_IP_PROTOCOL])
                return false;
        for (size_t i = 0; i < ELEMENTSOF(with_ports); i++)
                if (p->value[WFP_FIELD_IP_PROTOCOL][0] == with_ports[i])
                        return true;
        return p->value[WFP_FIELD_IP_PROTOCOL][0] == (wfp_layer_info(f->layer)->family == 4 ? 1 : 58);
}

bool filter_matches(const Filter *f, const Packet *p) {
        if (!port_guard_passes(f, p))
                return false;
        for (size_t i = 0; i < f->n_conditions;) {
                size_t j = i + 1;
                bool any;

                while (j < f->n_conditions && f->conditions[j].field == f->conditions[i].field)
                        j++;
                any = false;
                for (size_t k = i; k < j && !any; k++)
                        any = condition_matches(&f->conditions[k], p);
                if (!any)
                        return false;
                i = j;
        }
        return true;
}

int engine_explain(const Engine *e, WfpLayer layer, const Packet *p, Explanation *ret) {
        Explanation x = { .permit = true };
        bool final = false;
        size_t n = 0;

        for (Sublayer *s = engine_sublayers(e); s; s = s->next)
                n++;
        x.steps = calloc(n ? n : 1, sizeof(ExplainStep));
        if (!x.steps)
                return -ENOMEM;

        for (Sublayer *s = engine_sublayers(e); s; s = s->next) {
                ExplainStep *step;

                /* an empty built-in sublayer decides nothing: left out of the trace, so that it
                 * lists what callers made (and the universal sublayer) */
                if (s->builtin && !sublayer_is_universal(s) && !s->filters_head[layer])
                        continue;
                step = &x.steps[x.n_steps++];

                step->sublayer = s;
                step->outcome = final ? OUTCOME_NOT_EVALUATED : OUTCOME_NO_MATCH;
                for (Filter *f = s->filters_head[layer]; !final && f; f = f->lnext) {
                        if (!filter_matches(f, p))
                                continue;
                        if (f->action == WFP_ACTION_CALLOUT_TERMINATING && !filter_callout_passes_clear(f) &&
                            !(p->flags & WFP_CONDITION_FLAG_IS_IPSEC_SECURED))
                                step->outcome = OUTCOME_REQUIRE_IPSEC;
                        else if (f->action == WFP_ACTION_BLOCK)
                                step->outcome = OUTCOME_BLOCK;
                        else if (f->flags & WFP_FILTER_FLAG_CLEAR_ACTION_RIGHT)
                                step->outcome = OUTCOME_HARD_PERMIT;
                        else
                                step->outcome = OUTCOME_SOFT_PERMIT;
                        step->filter = f;
                        break;
                }
                switch (step->outcome) {
                case OUTCOME_BLOCK:
                case OUTCOME_REQUIRE_IPSEC:
                        x.permit = false;
                        x.decided_by = step->filter;
                        final = true;
                        break;
                case OUTCOME_HARD_PERMIT:
                        x.decided_by = step->filter;
                        final = true;
                        break;
                case OUTCOME_SOFT_PERMIT:
                        /* the first permit stands unless a later sublayer blocks */
                        if (!x.decided_by)
                                x.decided_by = step->filter;
                        break;
                case OUTCOME_NO_MATCH:
                case OUTCOME_NOT_EVALUATED:
                case _OUTCOME_MAX:
                        break;
                }
        }
        *ret = x;
        return 0;
}

void explanation_done(Explanation *x) {
        free(x->steps);
        *x = (Explanation) {};
}
