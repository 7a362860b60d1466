/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * wfp.h — the Windows Filtering Platform vocabulary bfed speaks: layers, condition fields,
 * provider-context types, actions, flags and error codes, each defined once with its WFP
 * name, value and GUID (doc/design.md §8). Shared by the daemon, libbfe and bfectl.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guid.h"

/* ---- layers ---------------------------------------------------------------------------- */

typedef enum WfpLayer {
        WFP_LAYER_IKEEXT_V4,
        WFP_LAYER_IKEEXT_V6,
        WFP_LAYER_IPSEC_V4,
        WFP_LAYER_IPSEC_V6,
        WFP_LAYER_INBOUND_TRANSPORT_V4,
        WFP_LAYER_INBOUND_TRANSPORT_V6,
        WFP_LAYER_OUTBOUND_TRANSPORT_V4,
        WFP_LAYER_OUTBOUND_TRANSPORT_V6,
        WFP_LAYER_ALE_AUTH_RECV_ACCEPT_V4,
        WFP_LAYER_ALE_AUTH_RECV_ACCEPT_V6,
        WFP_LAYER_ALE_AUTH_CONNECT_V4,
        WFP_LAYER_ALE_AUTH_CONNECT_V6,
        WFP_LAYER_IPFORWARD_V4,
        WFP_LAYER_IPFORWARD_V6,
        WFP_LAYER_ALE_FLOW_ESTABLISHED_V4,
        WFP_LAYER_ALE_FLOW_ESTABLISHED_V6,
        _WFP_LAYER_MAX,
} WfpLayer;

/* Where a layer sits in the packet path; a v4/v6 pair shares one kind. */
typedef enum WfpLayerKind {
        WFP_LAYER_KIND_IKEEXT,             /* keying policy, not emitted */
        WFP_LAYER_KIND_IPSEC,              /* quick-mode policy, not emitted */
        WFP_LAYER_KIND_INBOUND_TRANSPORT,
        WFP_LAYER_KIND_OUTBOUND_TRANSPORT,
        WFP_LAYER_KIND_ALE_AUTH_RECV_ACCEPT,
        WFP_LAYER_KIND_ALE_AUTH_CONNECT,
        WFP_LAYER_KIND_IPFORWARD,          /* packets this host routes: hook forward */
        WFP_LAYER_KIND_ALE_FLOW_ESTABLISHED, /* the first packet of a flow the ALE layers let through */
        _WFP_LAYER_KIND_MAX,
} WfpLayerKind;

typedef struct WfpLayerInfo {
        const char *name;  /* without FWPM_LAYER_ */
        const char *guid;
        WfpLayerKind kind;
        int family;        /* 4 or 6 */
} WfpLayerInfo;

const WfpLayerInfo *wfp_layer_info(WfpLayer l);
/* Accepts the name (case-insensitive, with or without FWPM_LAYER_) or the GUID. */
int wfp_layer_from_string(const char *s, WfpLayer *ret);
bool wfp_layer_is_emitted(WfpLayer l);
/* The layers whose packets arrive from an interface (the input hook, and the forward hook, whose
 * IP_LOCAL_INTERFACE is the arrival interface): iifname, secpath, `fib daddr`. */
bool wfp_layer_is_inbound(WfpLayer l);
bool wfp_layer_is_ale(WfpLayer l);

/* ---- condition fields -------------------------------------------------------------------- */

typedef enum WfpField {
        WFP_FIELD_IP_PROTOCOL,
        WFP_FIELD_IP_LOCAL_PORT,
        WFP_FIELD_IP_REMOTE_PORT,
        WFP_FIELD_IP_LOCAL_ADDRESS,
        WFP_FIELD_IP_REMOTE_ADDRESS,
        WFP_FIELD_IP_LOCAL_INTERFACE,
        WFP_FIELD_FLAGS,
        WFP_FIELD_ALE_USER_ID,
        WFP_FIELD_IP_LOCAL_ADDRESS_TYPE,   /* NL_ADDRESS_TYPE of the local address */
        WFP_FIELD_IP_SOURCE_ADDRESS,       /* the forward layers' addresses */
        WFP_FIELD_IP_DESTINATION_ADDRESS,
        WFP_FIELD_IP_DESTINATION_ADDRESS_TYPE, /* NL_ADDRESS_TYPE of the destination (forward) */
        WFP_FIELD_IP_FORWARD_INTERFACE,    /* the interface a forwarded packet leaves by */
        WFP_FIELD_DIRECTION,               /* FWP_DIRECTION: 0 outbound, 1 inbound (flow established) */
        /* bfed's own fields, set only on engine-owned filters, never accepted from callers */
        WFP_FIELD_BFED_LOCAL_SYSTEM,       /* the socket belongs to the keying service */
        WFP_FIELD_BFED_LOCALLY_INITIATED,  /* the flow was started by this host */
        _WFP_FIELD_MAX,
} WfpField;

typedef struct WfpFieldInfo {
        const char *name;  /* without FWPM_CONDITION_ */
        const char *guid;  /* NULL for bfed's own fields */
        bool internal;
} WfpFieldInfo;

const WfpFieldInfo *wfp_field_info(WfpField f);
int wfp_field_from_string(const char *s, WfpField *ret);

/* FWP_MATCH_TYPE */
typedef enum WfpMatch {
        WFP_MATCH_EQUAL = 0,
        WFP_MATCH_GREATER = 1,
        WFP_MATCH_LESS = 2,
        WFP_MATCH_GREATER_OR_EQUAL = 3,
        WFP_MATCH_LESS_OR_EQUAL = 4,
        WFP_MATCH_RANGE = 5,
        WFP_MATCH_FLAGS_ALL_SET = 6,
        WFP_MATCH_FLAGS_ANY_SET = 7,
        WFP_MATCH_FLAGS_NONE_SET = 8,
        WFP_MATCH_EQUAL_CASE_INSENSITIVE = 9,
        WFP_MATCH_NOT_EQUAL = 10,
        WFP_MATCH_PREFIX = 11,
        WFP_MATCH_NOT_PREFIX = 12,
        _WFP_MATCH_MAX = 13,
} WfpMatch;

/* ---- provider contexts --------------------------------------------------------------------- */

#define WFP_CONTEXT_TYPE_IPSEC_IKE_MM     5u
#define WFP_CONTEXT_TYPE_IPSEC_AUTHIP_MM  6u
#define WFP_CONTEXT_TYPE_IPSEC_IKEV2_MM   10u
#define WFP_CONTEXT_TYPE_MAX              14u /* FWPM_PROVIDER_CONTEXT_TYPE_MAX: first invalid value */

/* "IPSEC_IKE_MM", and bfectl's "ike-mm"; NULL for values out of range. */
const char *wfp_context_type_name(uint32_t type);
const char *wfp_context_type_short_name(uint32_t type);
/* Either name, in any case and with '_' or '-' ("IKE_MM" too); -ENOENT for no such name. */
int wfp_context_type_from_string(const char *s, uint32_t *ret);
bool wfp_context_type_is_mm(uint32_t type);

/* ---- actions, flags, weights ------------------------------------------------------------- */

#define WFP_ACTION_BLOCK                0x1001u
#define WFP_ACTION_PERMIT               0x1002u
#define WFP_ACTION_CALLOUT_TERMINATING  0x5003u
#define WFP_ACTION_FLAG_CALLOUT         0x4000u

/* The built-in IPsec transport callouts: "require IPsec" at the transport layer they name. */
int wfp_callout_layer(const BfeGuid *key, WfpLayer *ret);   /* -ENOENT when not one of them */
int wfp_layer_callout(WfpLayer layer, BfeGuid *ret);        /* the one at @layer; -ENOENT: none */

#define WFP_FLAG_PERSISTENT             0x1u
#define WFP_FILTER_FLAG_BOOTTIME        0x2u
#define WFP_FILTER_FLAG_HAS_PROVIDER_CONTEXT 0x4u
#define WFP_FILTER_FLAG_CLEAR_ACTION_RIGHT   0x8u
#define WFP_FILTER_FLAG_PERMIT_IF_CALLOUT_UNREGISTERED 0x10u
#define WFP_FILTER_FLAG_DISABLED        0x20u

/* FWPM_FILTER_ENUM_TEMPLATE0.flags (fwpmtypes.h) */
#define WFP_FILTER_ENUM_FLAG_BEST_TERMINATING_MATCH 0x1u
#define WFP_FILTER_ENUM_FLAG_SORTED                 0x2u
#define WFP_FILTER_ENUM_FLAG_BOOTTIME_ONLY          0x4u
#define WFP_FILTER_ENUM_FLAG_INCLUDE_BOOTTIME       0x8u
#define WFP_FILTER_ENUM_FLAG_INCLUDE_DISABLED       0x10u

#define WFP_AUTO_WEIGHT_BITS 60
#define WFP_AUTO_WEIGHT_MAX  UINT64_C(0x0FFFFFFFFFFFFFFF)
#define WFP_WEIGHT_RANGE_MAX 15u
#define WFP_WEIGHT_RANGE_IKE_EXEMPTIONS 0xCu

#define WFP_SUBLAYER_UNIVERSAL_GUID "eebecc03-ced4-4380-819a-2734397b2b74"
#define WFP_SUBLAYER_UNIVERSAL_WEIGHT 0x8000u
#define WFP_PROVIDER_IKEEXT_GUID "10ad9216-ccde-456c-8b16-e9f04e60a90b"

/* ---- built-in providers and sublayers ------------------------------------------------------ */

/* A built-in object: its SDK name (FWPM_PROVIDER_…, FWPM_SUBLAYER_…), GUID (fwpmu.h) and, for a
 * sublayer, the weight bfed gives it (WFP does not document them: doc/org.bfed.Engine1.md). */
typedef struct WfpBuiltin {
        const char *name;
        const char *guid;
        uint16_t weight;
        const char *description;
} WfpBuiltin;

const WfpBuiltin *wfp_builtin_providers(size_t *ret_n);
const WfpBuiltin *wfp_builtin_sublayers(size_t *ret_n);   /* highest weight first */
/* A built-in sublayer's name (with or without FWPM_SUBLAYER_, any case; the alias EDGE_TRAVERSAL
 * of TEREDO too) to its GUID; -ENOENT when none has it. */
int wfp_builtin_sublayer_from_name(const char *s, BfeGuid *ret);

/* ---- explain ------------------------------------------------------------------------- */

/* The name of a BfeExplainOutcome ("soft-permit"), NULL for an unknown one; and back
 * (BFE_EXPLAIN_OUTCOME_UNKNOWN for a name not known). */
const char *wfp_outcome_name(int outcome);
int wfp_outcome_from_name(const char *name);

/* ---- errors --------------------------------------------------------------------------- */

/*
 * WFP errors travel inside bfed as negative ints, like errno values but above errno's range:
 * wfp_ret(FWP_E_IN_USE) is what a function returns, wfp_code_from_ret() gives the code back.
 * A plain negative errno stays what it is (-ENOMEM, -EIO, …).
 */
#define FWP_E_CALLOUT_NOT_FOUND              0x80320001u
#define FWP_E_CONDITION_NOT_FOUND            0x80320002u
#define FWP_E_FILTER_NOT_FOUND               0x80320003u
#define FWP_E_LAYER_NOT_FOUND                0x80320004u
#define FWP_E_PROVIDER_NOT_FOUND             0x80320005u
#define FWP_E_PROVIDER_CONTEXT_NOT_FOUND     0x80320006u
#define FWP_E_SUBLAYER_NOT_FOUND             0x80320007u
#define FWP_E_NOT_FOUND                      0x80320008u
#define FWP_E_ALREADY_EXISTS                 0x80320009u
#define FWP_E_IN_USE                         0x8032000Au
#define FWP_E_DYNAMIC_SESSION_IN_PROGRESS    0x8032000Bu
#define FWP_E_WRONG_SESSION                  0x8032000Cu
#define FWP_E_NO_TXN_IN_PROGRESS             0x8032000Du
#define FWP_E_TXN_IN_PROGRESS                0x8032000Eu
#define FWP_E_TXN_ABORTED                    0x8032000Fu
#define FWP_E_SESSION_ABORTED                0x80320010u
#define FWP_E_INCOMPATIBLE_TXN               0x80320011u
#define FWP_E_TIMEOUT                        0x80320012u
#define FWP_E_NET_EVENTS_DISABLED            0x80320013u
#define FWP_E_INCOMPATIBLE_LAYER             0x80320014u
#define FWP_E_LIFETIME_MISMATCH              0x80320016u
#define FWP_E_BUILTIN_OBJECT                 0x80320017u
#define FWP_E_NULL_POINTER                   0x8032001Cu
#define FWP_E_INVALID_ENUMERATOR             0x8032001Du
#define FWP_E_INVALID_FLAGS                  0x8032001Eu
#define FWP_E_INVALID_NET_MASK               0x8032001Fu
#define FWP_E_INVALID_RANGE                  0x80320020u
#define FWP_E_ZERO_LENGTH_ARRAY              0x80320022u
#define FWP_E_NULL_DISPLAY_NAME              0x80320023u
#define FWP_E_INVALID_ACTION_TYPE            0x80320024u
#define FWP_E_INVALID_WEIGHT                 0x80320025u
#define FWP_E_MATCH_TYPE_MISMATCH            0x80320026u
#define FWP_E_TYPE_MISMATCH                  0x80320027u
#define FWP_E_OUT_OF_BOUNDS                  0x80320028u
#define FWP_E_DUPLICATE_CONDITION            0x8032002Au
#define FWP_E_ACTION_INCOMPATIBLE_WITH_LAYER 0x8032002Cu
#define FWP_E_CONTEXT_INCOMPATIBLE_WITH_LAYER 0x8032002Eu
#define FWP_E_CONTEXT_INCOMPATIBLE_WITH_CALLOUT 0x8032002Fu
#define FWP_E_NEVER_MATCH                    0x80320033u
#define FWP_E_PROVIDER_CONTEXT_MISMATCH      0x80320034u
#define FWP_E_INVALID_PARAMETER              0x80320035u
#define FWP_E_TOO_MANY_SUBLAYERS             0x80320036u

#define WFP_ERRNO_BASE 0x10000

static inline int wfp_ret(uint32_t code) {
        return -(WFP_ERRNO_BASE + (int) (code & 0xFFFFu));
}

/* The WFP code behind a negative return, or 0 when it is a plain errno. */
static inline uint32_t wfp_code_from_ret(int r) {
        if (r >= 0 || -r <= WFP_ERRNO_BASE || -r > WFP_ERRNO_BASE + 0xFFFF)
                return 0;
        return 0x80320000u | (uint32_t) (-r - WFP_ERRNO_BASE);
}

typedef struct WfpErrorInfo {
        uint32_t code;
        const char *name;       /* FWP_E_IN_USE */
        const char *bus_name;   /* org.bfed.Error.InUse */
} WfpErrorInfo;

#define BFED_ERROR_PREFIX "org.bfed.Error."

const WfpErrorInfo *wfp_error_info(uint32_t code);
const WfpErrorInfo *wfp_error_from_bus_name(const char *bus_name);
/* All known errors, for registering with sd_bus_error_add_map() and for tests. */
const WfpErrorInfo *wfp_error_table(size_t *ret_n);
