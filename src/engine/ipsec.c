/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ipsec.c — what bfed reads in the IPsec contexts, and which combinations it refuses.
 *
 * A quick-mode context (the IKE, AuthIP and IKEv2 QM transport and tunnel types) carries its
 * policy flags (IPSEC_POLICY_FLAG_*): the tunnel flags on a transport context are refused. The
 * IPsec transport callouts are transport-mode policy: a filter calling one takes a QM transport
 * context or none, never a tunnel, main-mode or general one (FWP_E_CONTEXT_INCOMPATIBLE_WITH_CALLOUT);
 * the IPSEC_V4/V6 layer, where quick-mode policy is chosen, takes only quick-mode contexts.
 *
 * rawContext is WFP's other half of the union with providerContextKey: a filter has one or the
 * other. The transport callouts read it (fwpmu.h's filter context identifiers):
 *   inbound   PASSTHRU 0x1                   a plain packet passes the callout (permitted)
 *             PERSIST_CONNECTION_SECURITY 0x2 the IKE daemon's business: no change here
 *   outbound  NEGOTIATE_DISCOVER 0x1         negotiation discovery: a plain packet goes out while
 *                                            IKE negotiates and when it fails (the clear-text fallback)
 *             SUPPRESS_NEGOTIATION 0x2       the IKE daemon's business: no change here
 * Other bits are refused on a callout filter; any other filter keeps its rawContext as data.
 */
#include <inttypes.h>

#include "engine.h"
#include "guid.h"

#define POLICY_FLAGS_TRANSPORT                                                                  \
        (BFE_IPSEC_POLICY_FLAG_ND_SECURE | BFE_IPSEC_POLICY_FLAG_ND_BOUNDARY |                 \
         BFE_IPSEC_POLICY_FLAG_NAT_ENCAP_ALLOW_PEER_BEHIND_NAT |                              \
         BFE_IPSEC_POLICY_FLAG_NAT_ENCAP_ALLOW_GENERAL_NAT_TRAVERSAL |                        \
         BFE_IPSEC_POLICY_FLAG_DONT_NEGOTIATE_SECOND_LIFETIME |                               \
         BFE_IPSEC_POLICY_FLAG_DONT_NEGOTIATE_BYTE_LIFETIME)
#define POLICY_FLAGS_TUNNEL                                                                     \
        (POLICY_FLAGS_TRANSPORT | BFE_IPSEC_POLICY_FLAG_CLEAR_DF_ON_TUNNEL |                   \
         BFE_IPSEC_POLICY_FLAG_ENABLE_V6_IN_V4_TUNNELING |                                    \
         BFE_IPSEC_POLICY_FLAG_ENABLE_SERVER_ADDR_ASSIGNMENT |                                \
         BFE_IPSEC_POLICY_FLAG_TUNNEL_ALLOW_OUTBOUND_CLEAR_CONNECTION |                       \
         BFE_IPSEC_POLICY_FLAG_TUNNEL_BYPASS_ALREADY_SECURE_CONNECTION |                      \
         BFE_IPSEC_POLICY_FLAG_TUNNEL_BYPASS_ICMPV6)

#define RAW_CONTEXT_INBOUND                                                                     \
        (BFE_CONTEXT_IPSEC_INBOUND_PASSTHRU | BFE_CONTEXT_IPSEC_INBOUND_PERSIST_CONNECTION_SECURITY)
#define RAW_CONTEXT_OUTBOUND                                                                    \
        (BFE_CONTEXT_IPSEC_OUTBOUND_NEGOTIATE_DISCOVER | BFE_CONTEXT_IPSEC_OUTBOUND_SUPPRESS_NEGOTIATION)

static bool type_is_qm_transport(uint32_t type) {
        return type == BFE_CONTEXT_IPSEC_IKE_QM_TRANSPORT || type == BFE_CONTEXT_IPSEC_AUTHIP_QM_TRANSPORT ||
               type == BFE_CONTEXT_IPSEC_IKEV2_QM_TRANSPORT;
}

static bool type_is_qm_tunnel(uint32_t type) {
        return type == BFE_CONTEXT_IPSEC_IKE_QM_TUNNEL || type == BFE_CONTEXT_IPSEC_AUTHIP_QM_TUNNEL ||
               type == BFE_CONTEXT_IPSEC_IKEV2_QM_TUNNEL;
}

int ipsec_context_check(uint32_t type, uint32_t policy_flags, EngineError *err) {
        uint32_t valid;

        if (policy_flags == 0)
                return 0;
        if (type_is_qm_transport(type))
                valid = POLICY_FLAGS_TRANSPORT;
        else if (type_is_qm_tunnel(type))
                valid = POLICY_FLAGS_TUNNEL;
        else
                return engine_error(err, FWP_E_INVALID_PARAMETER,
                                    "policy flags 0x%" PRIx32 " belong to quick-mode contexts (types 1-4, 9, 12), "
                                    "not type %" PRIu32 " (%s)", policy_flags, type, wfp_context_type_name(type));
        if (policy_flags & ~valid)
                return engine_error(err, FWP_E_INVALID_FLAGS,
                                    "policy flags 0x%" PRIx32 " are not valid for a %s context (valid: 0x%" PRIx32
                                    "%s)", policy_flags & ~valid, wfp_context_type_name(type), valid,
                                    valid == POLICY_FLAGS_TRANSPORT ? "; the tunnel flags need a tunnel context" : "");
        return 0;
}

BfeGuid filter_callout_key(const Filter *f) {
        BfeGuid g = {};

        if (f->action == WFP_ACTION_CALLOUT_TERMINATING)
                (void) wfp_layer_callout(f->layer, &g);
        return g;
}

static int check_callout_context(const Filter *f, EngineError *err) {
        const ProviderContext *c = f->context;
        BfeGuid callout = filter_callout_key(f);

        if (!c || type_is_qm_transport(c->type))
                return 0;
        return engine_error(err, FWP_E_CONTEXT_INCOMPATIBLE_WITH_CALLOUT,
                            "callout %s is transport-mode policy: it takes a quick-mode transport context "
                            "(types 1, 3, 12), not provider context %s of type %" PRIu32 " (%s)",
                            guid_str(&callout), guid_str(&c->key), c->type, wfp_context_type_name(c->type));
}

int ipsec_filter_check(const Filter *f, EngineError *err) {
        bool inbound = wfp_layer_is_inbound(f->layer);
        uint64_t valid = inbound ? RAW_CONTEXT_INBOUND : RAW_CONTEXT_OUTBOUND;
        int r;

        if (f->context && f->raw_context != 0)
                return engine_error(err, FWP_E_INVALID_PARAMETER,
                                    "a filter has a provider context or a raw context (one field in WFP), "
                                    "not both: raw context 0x%" PRIx64 " with provider context %s",
                                    f->raw_context, guid_str(&f->context->key));
        if (wfp_layer_info(f->layer)->kind == WFP_LAYER_KIND_IPSEC && f->context &&
            !type_is_qm_transport(f->context->type) && !type_is_qm_tunnel(f->context->type))
                return engine_error(err, FWP_E_CONTEXT_INCOMPATIBLE_WITH_LAYER,
                                    "layer %s takes quick-mode policy contexts (types 1-4, 9, 12), not type %"
                                    PRIu32 " (%s)", wfp_layer_info(f->layer)->name, f->context->type,
                                    wfp_context_type_name(f->context->type));
        if (f->action != WFP_ACTION_CALLOUT_TERMINATING)
                return 0;
        r = check_callout_context(f, err);
        if (r < 0)
                return r;
        if (f->raw_context & ~valid)
                return engine_error(err, FWP_E_INVALID_PARAMETER,
                                    "raw context 0x%" PRIx64 " is not one the %s IPsec transport callout reads "
                                    "(%s)", f->raw_context, inbound ? "inbound" : "outbound",
                                    inbound ? "PASSTHRU 0x1, PERSIST_CONNECTION_SECURITY 0x2"
                                            : "NEGOTIATE_DISCOVER 0x1, SUPPRESS_NEGOTIATION 0x2");
        return 0;
}

bool filter_callout_passes_clear(const Filter *f) {
        if (f->action != WFP_ACTION_CALLOUT_TERMINATING)
                return false;
        return wfp_layer_is_inbound(f->layer) ? (f->raw_context & BFE_CONTEXT_IPSEC_INBOUND_PASSTHRU)
                                              : (f->raw_context & BFE_CONTEXT_IPSEC_OUTBOUND_NEGOTIATE_DISCOVER);
}
