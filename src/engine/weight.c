/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * weight.c — automatic filter weights and the evaluation order inside a sublayer.
 *
 * WFP does not publish how BFE computes the low 60 bits of an automatic weight, so bfed
 * uses its own documented specificity score (README, "Weights"):
 *
 *   auto = (number of distinct condition fields) << 52  |  (sum of field specificities) << 40
 *
 * A field's specificity, in bits: IP_PROTOCOL 8; a single port 16 (a range of width w:
 * 16 - ceil(log2(w))); an address prefix its length scaled to 128 (IPv4 /n counts 4n, so
 * a v4 host equals a v6 host). A run of conditions ORed on one field counts as its least
 * specific member minus ceil(log2(members)). So more fields always outweigh narrower ones,
 * and between equally many fields the narrower match wins. Ties go to the earlier filter.
 */
#include "engine.h"

static unsigned ceil_log2(uint64_t v) {
        unsigned n = 0;

        while (n < 64 && (UINT64_C(1) << n) < v)
                n++;
        return n;
}

static unsigned condition_specificity(const Condition *c) {
        switch (c->field) {
        case WFP_FIELD_IP_PROTOCOL:
                return 8;
        case WFP_FIELD_IP_LOCAL_PORT:
        case WFP_FIELD_IP_REMOTE_PORT: {
                uint64_t width = (uint64_t) c->value.port.hi - c->value.port.lo + 1;
                unsigned bits = ceil_log2(width);
                return bits >= 16 ? 0 : 16 - bits;
        }
        case WFP_FIELD_IP_LOCAL_ADDRESS:
        case WFP_FIELD_IP_REMOTE_ADDRESS:
                return c->value.address.family == 4 ? 4u * c->value.address.prefixlen : c->value.address.prefixlen;
        case WFP_FIELD_IP_LOCAL_INTERFACE:
        case WFP_FIELD_ALE_USER_ID:
        case WFP_FIELD_BFED_LOCAL_SYSTEM:
                return 8;
        case WFP_FIELD_FLAGS:
        case WFP_FIELD_BFED_LOCALLY_INITIATED:
                return 1;
        case _WFP_FIELD_MAX:
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

/* Higher effective weight first; equal weights: the earlier-added filter first. */
int filter_compare(const Filter *a, const Filter *b) {
        if (a->effective_weight != b->effective_weight)
                return a->effective_weight > b->effective_weight ? -1 : 1;
        if (a->seq != b->seq)
                return a->seq < b->seq ? -1 : 1;
        return 0;
}
