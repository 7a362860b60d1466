/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * weight.c — automatic filter weights and the evaluation order inside a sublayer.
 *
 * WFP does not publish how BFE computes the low 60 bits of an automatic weight, so bfed
 * uses its own documented specificity score (README, "Weights"):
 *
 *   auto = (number of distinct condition fields) << 52  |  (sum of field specificities) << 40
 *
 * A field's specificity, in bits: for protocol, ports and addresses, the field's width minus
 * ceil(log2(values matched)) — a single port 16, a range of 11 ports 12, a /24 prefix 24 —
 * with IPv4 addresses scaled by 4 so a v4 host weighs as much as a v6 host (128); an
 * interface or a user 8; FLAGS one per flag; any negation (not equal, none set) 1. A run of
 * conditions ORed on one field counts as its least specific member minus
 * ceil(log2(members)). So more fields always outweigh narrower ones, and between equally
 * many fields the narrower match wins. Ties go to the earlier filter.
 */
#include "engine.h"

static unsigned ceil_log2(uint64_t v) {
        unsigned n = 0;

        while (n < 64 && (UINT64_C(1) << n) < v)
                n++;
        return n;
}

/* Bits needed for hi - lo (big-endian): log2 of the interval's width, rounded up. */
static unsigned width_bits(const Condition *c) {
        uint8_t d[CONDITION_VALUE_MAX];
        int borrow = 0;

        for (int i = c->len - 1; i >= 0; i--) {
                int v = c->hi[i] - c->lo[i] - borrow;
                borrow = v < 0;
                d[i] = (uint8_t) (v + (borrow ? 256 : 0));
        }
        for (unsigned i = 0; i < c->len; i++)
                if (d[i])
                        return (c->len - i - 1) * 8u + (32u - (unsigned) __builtin_clz(d[i]));
        return 0;
}

static unsigned condition_specificity(const Condition *c) {
        unsigned bits;

        if (c->negate)
                return 1; /* "anything but X" narrows almost nothing */
        if (condition_field_is_ordered(c->field)) {
                /* protocol, ports, addresses: the bits the interval leaves fixed */
                bits = c->len * 8u - width_bits(c);
                /* an IPv4 address counts like an IPv6 one: /n weighs 4n */
                return c->len == 4 ? 4 * bits : bits;
        }

        switch (c->field) {
        case WFP_FIELD_IP_LOCAL_INTERFACE:
        case WFP_FIELD_IP_FORWARD_INTERFACE:
        case WFP_FIELD_ALE_USER_ID:
        case WFP_FIELD_BFED_LOCAL_SYSTEM:
                return 8;
        case WFP_FIELD_IP_LOCAL_ADDRESS_TYPE:
        case WFP_FIELD_IP_DESTINATION_ADDRESS_TYPE:
                return 2; /* one of four */
        case WFP_FIELD_FLAGS:
                return (unsigned) __builtin_popcount(c->flags);
        case WFP_FIELD_BFED_LOCALLY_INITIATED:
        case WFP_FIELD_DIRECTION:
                return 1;
        default:                /* the ordered fields, above */
                break;
        }
        return 0;
}

uint64_t filter_auto_weight(const Condition *c, size_t n) {
        uint64_t fields = 0, sum = 0;
        size_t i = 0;

        while (i < n) {
                unsigned spec = condition_specificity(&c[i]);
                size_t j = i + 1;

                /* consecutive conditions on one field are ORed: one group */
                for (; j < n && c[j].field == c[i].field; j++) {
                        unsigned s = condition_specificity(&c[j]);
                        if (s < spec)
                                spec = s;
                }
                spec -= spec < ceil_log2(j - i) ? spec : ceil_log2(j - i);
                fields++;
                sum += spec;
                i = j;
        }
        if (fields > 0xFF)
                fields = 0xFF;
        if (sum > 0xFFF)
                sum = 0xFFF;
        return fields << 52 | sum << 40;
}

/* Higher effective weight first; equal weights: the earlier-added filter first, which has the lower id
 * (object_insert() gives ids in order of addition). */
int filter_compare(const Filter *a, const Filter *b) {
        if (a->effective_weight != b->effective_weight)
                return a->effective_weight > b->effective_weight ? -1 : 1;
        if (a->id != b->id)
                return a->id < b->id ? -1 : 1;
        return 0;
}
