/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* wfp.c — the WFP name, value and GUID tables behind wfp.h. */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "macro.h"
#include "wfp.h"

static const WfpLayerInfo layers[_WFP_LAYER_MAX] = {
        [WFP_LAYER_IKEEXT_V4]               = { "IKEEXT_V4", "b14b7bdb-dbbd-473e-bed4-8b4708d4f270", WFP_LAYER_KIND_IKEEXT, 4 },
        [WFP_LAYER_IKEEXT_V6]               = { "IKEEXT_V6", "b64786b3-f687-4eb9-89d2-8ef32acdabe2", WFP_LAYER_KIND_IKEEXT, 6 },
        [WFP_LAYER_IPSEC_V4]                = { "IPSEC_V4", "eda65c74-610d-4bc5-948f-3c4f89556867", WFP_LAYER_KIND_IPSEC, 4 },
        [WFP_LAYER_IPSEC_V6]                = { "IPSEC_V6", "13c48442-8d87-4261-9a29-59d2abc348b4", WFP_LAYER_KIND_IPSEC, 6 },
        [WFP_LAYER_INBOUND_TRANSPORT_V4]    = { "INBOUND_TRANSPORT_V4", "5926dfc8-e3cf-4426-a283-dc393f5d0f9d", WFP_LAYER_KIND_INBOUND_TRANSPORT, 4 },
        [WFP_LAYER_INBOUND_TRANSPORT_V6]    = { "INBOUND_TRANSPORT_V6", "634a869f-fc23-4b90-b0c1-bf620a36ae6f", WFP_LAYER_KIND_INBOUND_TRANSPORT, 6 },
        [WFP_LAYER_OUTBOUND_TRANSPORT_V4]   = { "OUTBOUND_TRANSPORT_V4", "09e61aea-d214-46e2-9b21-b26b0b2f28c8", WFP_LAYER_KIND_OUTBOUND_TRANSPORT, 4 },
        [WFP_LAYER_OUTBOUND_TRANSPORT_V6]   = { "OUTBOUND_TRANSPORT_V6", "e1735bde-013f-4655-b351-a49e15762df0", WFP_LAYER_KIND_OUTBOUND_TRANSPORT, 6 },
        [WFP_LAYER_ALE_AUTH_RECV_ACCEPT_V4] = { "ALE_AUTH_RECV_ACCEPT_V4", "e1cd9fe7-f4b5-4273-96c0-592e487b8650", WFP_LAYER_KIND_ALE_AUTH_RECV_ACCEPT, 4 },
        [WFP_LAYER_ALE_AUTH_RECV_ACCEPT_V6] = { "ALE_AUTH_RECV_ACCEPT_V6", "a3b42c97-9f04-4672-b87e-cee9c483257f", WFP_LAYER_KIND_ALE_AUTH_RECV_ACCEPT, 6 },
        [WFP_LAYER_ALE_AUTH_CONNECT_V4]     = { "ALE_AUTH_CONNECT_V4", "c38d57d1-05a7-4c33-904f-7fbceee60e82", WFP_LAYER_KIND_ALE_AUTH_CONNECT, 4 },
        [WFP_LAYER_ALE_AUTH_CONNECT_V6]     = { "ALE_AUTH_CONNECT_V6", "4a72393b-319f-44bc-84c3-ba54dcb3b6b4", WFP_LAYER_KIND_ALE_AUTH_CONNECT, 6 },
        [WFP_LAYER_IPFORWARD_V4]            = { "IPFORWARD_V4", "a82acc24-4ee1-4ee1-b465-fd1d25cb10a4",
                                                WFP_LAYER_KIND_IPFORWARD, 4 },
        [WFP_LAYER_IPFORWARD_V6]            = { "IPFORWARD_V6", "7b964818-19c7-493a-b71f-832c3684d28c",
                                                WFP_LAYER_KIND_IPFORWARD, 6 },
        [WFP_LAYER_ALE_FLOW_ESTABLISHED_V4] = { "ALE_FLOW_ESTABLISHED_V4", "af80470a-5596-4c13-9992-539e6fe57967",
                                                WFP_LAYER_KIND_ALE_FLOW_ESTABLISHED, 4 },
        [WFP_LAYER_ALE_FLOW_ESTABLISHED_V6] = { "ALE_FLOW_ESTABLISHED_V6", "7021d2b3-dfa4-406e-afeb-6afaf7e70efd",
                                                WFP_LAYER_KIND_ALE_FLOW_ESTABLISHED, 6 },
};

const WfpLayerInfo *wfp_layer_info(WfpLayer l) {
        if ((unsigned) l >= _WFP_LAYER_MAX)
                return NULL;
        return &layers[l];
}

/*
 * The index of the entry @s names in a table of @n: by GUID, or by name in any case, with or
 * without @prefix. @text gives entry i's name or (@guid) GUID, or NULL for an entry that is
 * not to be found.
 */
static int lookup(const char *s, const char *prefix, size_t n, const char *(*text)(size_t i, bool guid),
                  size_t *ret) {
        BfeGuid g, eg;
        bool is_guid;

        if (!s)
                return -EINVAL;
        is_guid = guid_from_string(s, &g) >= 0;
        if (!is_guid && strncasecmp(s, prefix, strlen(prefix)) == 0)
                s += strlen(prefix);
        for (size_t i = 0; i < n; i++) {
                const char *t = text(i, is_guid);

                if (!t || (!is_guid && (s[0] | 0x20) != (t[0] | 0x20)))
                        continue;       /* the first letter in either case first: cheaper than strcasecmp() */
                if (is_guid ? guid_from_string(t, &eg) >= 0 && guid_equal(&g, &eg) : strcaseeq(s, t)) {
                        *ret = i;
                        return 0;
                }
        }
        return -ENOENT;
}

/* type_from_string(s, &ret): lookup() in a table of type's values; 0 or -ENOENT, -EINVAL. */
#define DEFINE_FROM_STRING(function, type, prefix, n, text)                                     \
        int function(const char *s, type *ret) {                                                \
                size_t i;                                                                       \
                int r = lookup(s, prefix, n, text, &i);                                         \
                                                                                                \
                if (r >= 0)                                                                     \
                        *ret = (type) i;                                                        \
                return r;                                                                       \
        }

static const char *layer_text(size_t i, bool guid) {
        return guid ? layers[i].guid : layers[i].name;
}

DEFINE_FROM_STRING(wfp_layer_from_string, WfpLayer, "FWPM_LAYER_", _WFP_LAYER_MAX, layer_text)

bool wfp_layer_is_emitted(WfpLayer l) {
        WfpLayerKind k = layers[l].kind;

        return k != WFP_LAYER_KIND_IKEEXT && k != WFP_LAYER_KIND_IPSEC;
}

bool wfp_layer_is_inbound(WfpLayer l) {
        WfpLayerKind k = layers[l].kind;

        return k == WFP_LAYER_KIND_INBOUND_TRANSPORT || k == WFP_LAYER_KIND_ALE_AUTH_RECV_ACCEPT ||
               k == WFP_LAYER_KIND_IPFORWARD;
}

bool wfp_layer_is_ale(WfpLayer l) {
        WfpLayerKind k = layers[l].kind;

        return k == WFP_LAYER_KIND_ALE_AUTH_RECV_ACCEPT || k == WFP_LAYER_KIND_ALE_AUTH_CONNECT ||
               k == WFP_LAYER_KIND_ALE_FLOW_ESTABLISHED;
}

static const WfpFieldInfo fields[_WFP_FIELD_MAX] = {
        [WFP_FIELD_IP_PROTOCOL]          = { "IP_PROTOCOL", "3971ef2b-623e-4f9a-8cb1-6e79b806b9a7", false },
        [WFP_FIELD_IP_LOCAL_PORT]        = { "IP_LOCAL_PORT", "0c1ba1af-5765-453f-af22-a8f791ac775b", false },
        [WFP_FIELD_IP_REMOTE_PORT]       = { "IP_REMOTE_PORT", "c35a604d-d22b-4e1a-91b4-68f674ee674b", false },
        [WFP_FIELD_IP_LOCAL_ADDRESS]     = { "IP_LOCAL_ADDRESS", "d9ee00de-c1ef-4617-bfe3-ffd8f5a08957", false },
        [WFP_FIELD_IP_REMOTE_ADDRESS]    = { "IP_REMOTE_ADDRESS", "b235ae9a-1d64-49b8-a44c-5ff3d9095045", false },
        [WFP_FIELD_IP_LOCAL_INTERFACE]   = { "IP_LOCAL_INTERFACE", "4cd62a49-59c3-4969-b7f3-bda5d32890a4", false },
        [WFP_FIELD_FLAGS]                = { "FLAGS", "632ce23b-5167-435c-86d7-e903684aa80c", false },
        [WFP_FIELD_ALE_USER_ID]          = { "ALE_USER_ID", "af043a0a-b34d-4f86-979c-c90371af6e66", false },
        [WFP_FIELD_IP_LOCAL_ADDRESS_TYPE] = { "IP_LOCAL_ADDRESS_TYPE", "6ec7f6c4-376b-45d7-9e9c-d337cedcd237", false },
        [WFP_FIELD_IP_SOURCE_ADDRESS]    = { "IP_SOURCE_ADDRESS", "ae96897e-2e94-4bc9-b313-b27ee80e574d", false },
        [WFP_FIELD_IP_DESTINATION_ADDRESS] = { "IP_DESTINATION_ADDRESS", "2d79133b-b390-45c6-8699-acaceaafed33",
                                               false },
        [WFP_FIELD_IP_DESTINATION_ADDRESS_TYPE] = { "IP_DESTINATION_ADDRESS_TYPE",
                                                    "1ec1b7c9-4eea-4f5e-b9ef-76beaaaf17ee", false },
        [WFP_FIELD_IP_FORWARD_INTERFACE] = { "IP_FORWARD_INTERFACE", "1076b8a5-6323-4c5e-9810-e8d3fc9e6136",
                                             false },
        [WFP_FIELD_DIRECTION]            = { "DIRECTION", "8784c146-ca97-44d6-9fd1-19fb1840cbf7", false },
        [WFP_FIELD_BFED_LOCAL_SYSTEM]    = { "BFED_LOCAL_SYSTEM", NULL, true },
        [WFP_FIELD_BFED_LOCALLY_INITIATED] = { "BFED_LOCALLY_INITIATED", NULL, true },
};

const WfpFieldInfo *wfp_field_info(WfpField f) {
        if ((unsigned) f >= _WFP_FIELD_MAX)
                return NULL;
        return &fields[f];
}

static const char *field_text(size_t i, bool guid) {
        if (fields[i].internal)
                return NULL;    /* bfed's own fields are not accepted as input */
        return guid ? fields[i].guid : fields[i].name;
}

static DEFINE_FROM_STRING(field_from_string, WfpField, "FWPM_CONDITION_", _WFP_FIELD_MAX, field_text)

/* fwpmu.h: #define FWPM_CONDITION_ICMP_TYPE FWPM_CONDITION_IP_LOCAL_PORT, ICMP_CODE the remote port */
int wfp_field_from_string(const char *s, WfpField *ret) {
        static const char prefix[] = "FWPM_CONDITION_";
        const char *name = s;

        if (name && strncasecmp(name, prefix, strlen(prefix)) == 0)
                name += strlen(prefix);
        if (name && strcaseeq(name, "ICMP_TYPE")) {
                *ret = WFP_FIELD_IP_LOCAL_PORT;
                return 0;
        }
        if (name && strcaseeq(name, "ICMP_CODE")) {
                *ret = WFP_FIELD_IP_REMOTE_PORT;
                return 0;
        }
        return field_from_string(s, ret);
}

/* The built-in IPsec transport callouts, one per layer. */
static const struct {
        const char *guid;
        WfpLayer layer;
} callouts[] = {
        { "5132900d-5e84-4b5f-80e4-01741e81ff10", WFP_LAYER_INBOUND_TRANSPORT_V4 },
        { "49d3ac92-2a6c-4dcf-955f-1c3be009dd99", WFP_LAYER_INBOUND_TRANSPORT_V6 },
        { "4b46bf0a-4523-4e57-aa38-a87987c910d9", WFP_LAYER_OUTBOUND_TRANSPORT_V4 },
        { "38d87722-ad83-4f11-a91f-df0fb077225b", WFP_LAYER_OUTBOUND_TRANSPORT_V6 },
};

int wfp_callout_layer(const BfeGuid *key, WfpLayer *ret) {
        BfeGuid g;

        for (size_t i = 0; i < ELEMENTSOF(callouts); i++) {
                (void) guid_from_string(callouts[i].guid, &g);
                if (guid_equal(&g, key)) {
                        *ret = callouts[i].layer;
                        return 0;
                }
        }
        return -ENOENT;
}

int wfp_layer_callout(WfpLayer layer, BfeGuid *ret) {
        for (size_t i = 0; i < ELEMENTSOF(callouts); i++)
                if (callouts[i].layer == layer)
                        return guid_from_string(callouts[i].guid, ret);
        return -ENOENT;
}

/* fwpmu.h's built-in providers and sublayers. The weights are bfed's choice (WFP does not
 * document them; doc/org.bfed.Engine1.md "Built-in objects" says why these): the IPsec and
 * host-protection sublayers above the universal one, offload and transition ones below it, and
 * inspection, which WFP documents as the lowest, at 0. */
static const WfpBuiltin builtin_providers[] = {
        { "FWPM_PROVIDER_IKEEXT", WFP_PROVIDER_IKEEXT_GUID, 0,
          "Built-in provider: filters added by IKE/AuthIP (bfed's IKE/AuthIP exemptions)" },
        { "FWPM_PROVIDER_IPSEC_DOSP_CONFIG", "3c6c05a9-c05c-4bb9-8338-2327814ce8bf", 0,
          "Built-in provider: filters added by IPsec DoS protection" },
        { "FWPM_PROVIDER_TCP_CHIMNEY_OFFLOAD", "896aa19e-9a34-4bcb-ae79-beb9127c84b9", 0,
          "Built-in provider: filters added by TCP Chimney offload" },
        { "FWPM_PROVIDER_TCP_TEMPLATES", "76cfcd30-3394-432d-bed3-441ae50e63c3", 0,
          "Built-in provider: filters added by TCP templates" },
};

static const WfpBuiltin builtin_sublayers[] = {
        { "FWPM_SUBLAYER_RPC_AUDIT", "758c84f4-fb48-4de9-9aeb-3ed9551ab1fd", 0xE000,
          "Built-in sublayer: RPC audit" },
        { "FWPM_SUBLAYER_IPSEC_DOSP", "e076d572-5d3d-48ef-802b-909eddb098bd", 0xD000,
          "Built-in sublayer: IPsec DoS protection" },
        { "FWPM_SUBLAYER_IPSEC_SECURITY_REALM", "37a57701-5884-4964-92b8-3e704688b0ad", 0xC000,
          "Built-in sublayer: IPsec security realms" },
        { "FWPM_SUBLAYER_IPSEC_TUNNEL", "83f299ed-9ff4-4967-aff4-c309f4dab827", 0xB000,
          "Built-in sublayer: IPsec tunnel policy" },
        { "FWPM_SUBLAYER_IPSEC_FORWARD_OUTBOUND_TUNNEL", "a5082e73-8f71-4559-8a9a-101cea04ef87", 0xA000,
          "Built-in sublayer: IPsec tunnel policy for forwarded outbound traffic" },
        { "FWPM_SUBLAYER_SECURE_SOCKET", "15a66e17-3f3c-4f7b-aa6c-812aa613dd82", 0x9800,
          "Built-in sublayer: secure sockets" },
        { "FWPM_SUBLAYER_LIPS", "1b75c0ce-ff60-4711-a70f-b4958cc3b2d0", 0x9000,
          "Built-in sublayer: legacy IPsec filters" },
        { "FWPM_SUBLAYER_UNIVERSAL", WFP_SUBLAYER_UNIVERSAL_GUID, WFP_SUBLAYER_UNIVERSAL_WEIGHT,
          "Universal sublayer: filters added without a sublayer" },
        { "FWPM_SUBLAYER_TEREDO", "ba69dc66-5176-4979-9c89-26a7b46a8327", 0x4000,
          "Built-in sublayer: edge traversal (Teredo); alias FWPM_SUBLAYER_EDGE_TRAVERSAL" },
        { "FWPM_SUBLAYER_TCP_TEMPLATES", "24421dcf-0ac5-4caa-9e14-50f6e3636af0", 0x3000,
          "Built-in sublayer: TCP templates" },
        { "FWPM_SUBLAYER_TCP_CHIMNEY_OFFLOAD", "337608b9-b7d5-4d5f-82f9-3618618bc058", 0x2000,
          "Built-in sublayer: TCP Chimney offload" },
        { "FWPM_SUBLAYER_INSPECTION", "877519e1-e6a9-41a5-81b4-8c4f118e4a60", 0x0000,
          "Built-in sublayer: inspection filters, the lowest" },
};

const WfpBuiltin *wfp_builtin_providers(size_t *ret_n) {
        *ret_n = ELEMENTSOF(builtin_providers);
        return builtin_providers;
}

const WfpBuiltin *wfp_builtin_sublayers(size_t *ret_n) {
        *ret_n = ELEMENTSOF(builtin_sublayers);
        return builtin_sublayers;
}

int wfp_builtin_sublayer_from_name(const char *s, BfeGuid *ret) {
        static const char prefix[] = "FWPM_SUBLAYER_";

        if (!s)
                return -EINVAL;
        if (strncasecmp(s, prefix, strlen(prefix)) == 0)
                s += strlen(prefix);
        if (strcaseeq(s, "EDGE_TRAVERSAL"))
                s = "TEREDO"; /* fwpmu.h: #define FWPM_SUBLAYER_EDGE_TRAVERSAL FWPM_SUBLAYER_TEREDO */
        for (size_t i = 0; i < ELEMENTSOF(builtin_sublayers); i++)
                if (strcaseeq(s, builtin_sublayers[i].name + strlen(prefix)))
                        return guid_from_string(builtin_sublayers[i].guid, ret);
        return -ENOENT;
}

/* FWPM_PROVIDER_CONTEXT_TYPE: the WFP name without FWPM_, and bfectl's short name. */
static const struct {
        const char *name;
        const char *short_name;
} context_types[WFP_CONTEXT_TYPE_MAX] = {
        { "IPSEC_KEYING", "keying" },
        { "IPSEC_IKE_QM_TRANSPORT", "ike-qm-transport" },
        { "IPSEC_IKE_QM_TUNNEL", "ike-qm-tunnel" },
        { "IPSEC_AUTHIP_QM_TRANSPORT", "authip-qm-transport" },
        { "IPSEC_AUTHIP_QM_TUNNEL", "authip-qm-tunnel" },
        { "IPSEC_IKE_MM", "ike-mm" },
        { "IPSEC_AUTHIP_MM", "authip-mm" },
        { "CLASSIFY_OPTIONS", "classify-options" },
        { "GENERAL", "general" },
        { "IPSEC_IKEV2_QM_TUNNEL", "ikev2-qm-tunnel" },
        { "IPSEC_IKEV2_MM", "ikev2-mm" },
        { "IPSEC_DOSP", "dosp" },
        { "IPSEC_IKEV2_QM_TRANSPORT", "ikev2-qm-transport" },
        { "NETWORK_CONNECTION_POLICY", "network-connection-policy" },
};

const char *wfp_context_type_name(uint32_t type) {
        return type < WFP_CONTEXT_TYPE_MAX ? context_types[type].name : NULL;
}

const char *wfp_context_type_short_name(uint32_t type) {
        return type < WFP_CONTEXT_TYPE_MAX ? context_types[type].short_name : NULL;
}

/* Equal ignoring case, with '_' and '-' alike: IKE_MM is ike-mm. */
static bool name_eq(const char *a, const char *b) {
        for (; *a && *b; a++, b++) {
                char x = *a == '_' ? '-' : (char) tolower((unsigned char) *a);
                char y = *b == '_' ? '-' : (char) tolower((unsigned char) *b);

                if (x != y)
                        return false;
        }
        return *a == *b;
}

int wfp_context_type_from_string(const char *s, uint32_t *ret) {
        if (!s)
                return -EINVAL;
        for (uint32_t i = 0; i < WFP_CONTEXT_TYPE_MAX; i++)
                if (name_eq(s, context_types[i].name) || name_eq(s, context_types[i].short_name)) {
                        *ret = i;
                        return 0;
                }
        return -ENOENT;
}

/* Main-mode policy contexts: the ones whose IKEEXT filters trigger the exemptions. */
bool wfp_context_type_is_mm(uint32_t type) {
        return type == WFP_CONTEXT_TYPE_IPSEC_IKE_MM ||
               type == WFP_CONTEXT_TYPE_IPSEC_AUTHIP_MM ||
               type == WFP_CONTEXT_TYPE_IPSEC_IKEV2_MM;
}

static const char *const outcome_names[] = {
        [BFE_EXPLAIN_OUTCOME_BLOCK] = "block",
        [BFE_EXPLAIN_OUTCOME_HARD_PERMIT] = "hard-permit",
        [BFE_EXPLAIN_OUTCOME_SOFT_PERMIT] = "soft-permit",
        [BFE_EXPLAIN_OUTCOME_REQUIRE_IPSEC] = "require-ipsec",
        [BFE_EXPLAIN_OUTCOME_NO_MATCH] = "no-match",
        [BFE_EXPLAIN_OUTCOME_NOT_EVALUATED] = "not-evaluated",
};

const char *wfp_outcome_name(int outcome) {
        return STRING_TABLE_AT(outcome_names, outcome);
}

int wfp_outcome_from_name(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(outcome_names); i++)
                if (outcome_names[i] && streq(outcome_names[i], name))
                        return (int) i;
        return BFE_EXPLAIN_OUTCOME_UNKNOWN;
}

#define E(code, name, camel) { code, #name, BFED_ERROR_PREFIX camel }
static const WfpErrorInfo errors[] = {
        E(FWP_E_CALLOUT_NOT_FOUND, FWP_E_CALLOUT_NOT_FOUND, "CalloutNotFound"),
        E(FWP_E_CONDITION_NOT_FOUND, FWP_E_CONDITION_NOT_FOUND, "ConditionNotFound"),
        E(FWP_E_FILTER_NOT_FOUND, FWP_E_FILTER_NOT_FOUND, "FilterNotFound"),
        E(FWP_E_LAYER_NOT_FOUND, FWP_E_LAYER_NOT_FOUND, "LayerNotFound"),
        E(FWP_E_PROVIDER_NOT_FOUND, FWP_E_PROVIDER_NOT_FOUND, "ProviderNotFound"),
        E(FWP_E_PROVIDER_CONTEXT_NOT_FOUND, FWP_E_PROVIDER_CONTEXT_NOT_FOUND, "ProviderContextNotFound"),
        E(FWP_E_SUBLAYER_NOT_FOUND, FWP_E_SUBLAYER_NOT_FOUND, "SublayerNotFound"),
        E(FWP_E_NOT_FOUND, FWP_E_NOT_FOUND, "NotFound"),
        E(FWP_E_ALREADY_EXISTS, FWP_E_ALREADY_EXISTS, "AlreadyExists"),
        E(FWP_E_IN_USE, FWP_E_IN_USE, "InUse"),
        E(FWP_E_DYNAMIC_SESSION_IN_PROGRESS, FWP_E_DYNAMIC_SESSION_IN_PROGRESS, "DynamicSessionInProgress"),
        E(FWP_E_WRONG_SESSION, FWP_E_WRONG_SESSION, "WrongSession"),
        E(FWP_E_NO_TXN_IN_PROGRESS, FWP_E_NO_TXN_IN_PROGRESS, "NoTxnInProgress"),
        E(FWP_E_TXN_IN_PROGRESS, FWP_E_TXN_IN_PROGRESS, "TxnInProgress"),
        E(FWP_E_TXN_ABORTED, FWP_E_TXN_ABORTED, "TxnAborted"),
        E(FWP_E_SESSION_ABORTED, FWP_E_SESSION_ABORTED, "SessionAborted"),
        E(FWP_E_INCOMPATIBLE_TXN, FWP_E_INCOMPATIBLE_TXN, "IncompatibleTxn"),
        E(FWP_E_TIMEOUT, FWP_E_TIMEOUT, "Timeout"),
        E(FWP_E_NET_EVENTS_DISABLED, FWP_E_NET_EVENTS_DISABLED, "NetEventsDisabled"),
        E(FWP_E_INCOMPATIBLE_LAYER, FWP_E_INCOMPATIBLE_LAYER, "IncompatibleLayer"),
        E(FWP_E_LIFETIME_MISMATCH, FWP_E_LIFETIME_MISMATCH, "LifetimeMismatch"),
        E(FWP_E_BUILTIN_OBJECT, FWP_E_BUILTIN_OBJECT, "BuiltinObject"),
        E(FWP_E_NULL_POINTER, FWP_E_NULL_POINTER, "NullPointer"),
        E(FWP_E_INVALID_ENUMERATOR, FWP_E_INVALID_ENUMERATOR, "InvalidEnumerator"),
        E(FWP_E_INVALID_FLAGS, FWP_E_INVALID_FLAGS, "InvalidFlags"),
        E(FWP_E_INVALID_NET_MASK, FWP_E_INVALID_NET_MASK, "InvalidNetMask"),
        E(FWP_E_INVALID_RANGE, FWP_E_INVALID_RANGE, "InvalidRange"),
        E(FWP_E_ZERO_LENGTH_ARRAY, FWP_E_ZERO_LENGTH_ARRAY, "ZeroLengthArray"),
        E(FWP_E_NULL_DISPLAY_NAME, FWP_E_NULL_DISPLAY_NAME, "NullDisplayName"),
        E(FWP_E_INVALID_ACTION_TYPE, FWP_E_INVALID_ACTION_TYPE, "InvalidActionType"),
        E(FWP_E_INVALID_WEIGHT, FWP_E_INVALID_WEIGHT, "InvalidWeight"),
        E(FWP_E_MATCH_TYPE_MISMATCH, FWP_E_MATCH_TYPE_MISMATCH, "MatchTypeMismatch"),
        E(FWP_E_TYPE_MISMATCH, FWP_E_TYPE_MISMATCH, "TypeMismatch"),
        E(FWP_E_OUT_OF_BOUNDS, FWP_E_OUT_OF_BOUNDS, "OutOfBounds"),
        E(FWP_E_DUPLICATE_CONDITION, FWP_E_DUPLICATE_CONDITION, "DuplicateCondition"),
        E(FWP_E_ACTION_INCOMPATIBLE_WITH_LAYER, FWP_E_ACTION_INCOMPATIBLE_WITH_LAYER, "ActionIncompatibleWithLayer"),
        E(FWP_E_CONTEXT_INCOMPATIBLE_WITH_LAYER, FWP_E_CONTEXT_INCOMPATIBLE_WITH_LAYER, "ContextIncompatibleWithLayer"),
        E(FWP_E_CONTEXT_INCOMPATIBLE_WITH_CALLOUT, FWP_E_CONTEXT_INCOMPATIBLE_WITH_CALLOUT,
          "ContextIncompatibleWithCallout"),
        E(FWP_E_NEVER_MATCH, FWP_E_NEVER_MATCH, "NeverMatch"),
        E(FWP_E_PROVIDER_CONTEXT_MISMATCH, FWP_E_PROVIDER_CONTEXT_MISMATCH, "ProviderContextMismatch"),
        E(FWP_E_INVALID_PARAMETER, FWP_E_INVALID_PARAMETER, "InvalidParameter"),
        E(FWP_E_TOO_MANY_SUBLAYERS, FWP_E_TOO_MANY_SUBLAYERS, "TooManySublayers"),
};
#undef E

const WfpErrorInfo *wfp_error_info(uint32_t code) {
        for (size_t i = 0; i < ELEMENTSOF(errors); i++)
                if (errors[i].code == code)
                        return &errors[i];
        return NULL;
}

const WfpErrorInfo *wfp_error_from_bus_name(const char *bus_name) {
        if (!bus_name)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(errors); i++)
                if (streq(errors[i].bus_name, bus_name))
                        return &errors[i];
        return NULL;
}

const WfpErrorInfo *wfp_error_table(size_t *ret_n) {
        *ret_n = ELEMENTSOF(errors);
        return errors;
}
