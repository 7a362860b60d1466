#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# fwpmu.h's built-in providers and sublayers (issue 11, item 3): Get and Enum find them under
# their SDK keys and names, Delete gives FWP_E_BUILTIN_OBJECT and changes nothing, a filter may
# live in one (named by GUID or by name, TEREDO's alias EDGE_TRAVERSAL too) and real packets obey
# it in that sublayer's place, and the exemption filters carry FWPM_PROVIDER_IKEEXT.
source "$(dirname "$0")/lib.sh"

bfedt_require_root
[[ -x "$UDP_PROBE" ]] || die "udp-probe not built ($UDP_PROBE)"
bfedt_init
bfedt_two_hosts 7
bfedt_start_bus
bfedt_start_bfed "$NS_A"
NS=$NS_A

IKEEXT=10ad9216-ccde-456c-8b16-e9f04e60a90b
TEREDO=ba69dc66-5176-4979-9c89-26a7b46a8327
TUNNEL=83f299ed-9ff4-4967-aff4-c309f4dab827

# ---- Get and Enum ---------------------------------------------------------------------------
for key in $BFEDT_BUILTIN_PROVIDERS; do
        check "GetProvider finds built-in provider $key" bus GetProvider s "$key"
done
check_eq "GetProvider IKEEXT: its SDK name" "FWPM_PROVIDER_IKEEXT" \
        "$(bus_json GetProvider s "$IKEEXT" | jq -r '.data[0].Name.data')"
check_eq "EnumProviders lists the 4 built-in providers" \
        "$(tr ' ' '\n' <<<"$BFEDT_BUILTIN_PROVIDERS" | grep . | sort | paste -sd' ' -)" \
        "$(bus_json EnumProviders | jq -r '.data[0][].Key.data' | sort | paste -sd' ' -)"
check_eq "EnumSubLayers lists the 12 built-in sublayers" \
        "$(tr ' ' '\n' <<<"$BFEDT_BUILTIN_SUBLAYERS" | grep . | sort | paste -sd' ' -)" \
        "$(bus_json EnumSubLayers | jq -r '.data[0][].Key.data' | sort | paste -sd' ' -)"
check_eq "GetSubLayer TEREDO: its name and weight" "FWPM_SUBLAYER_TEREDO 16384" \
        "$(bus_json GetSubLayer s "$TEREDO" | jq -r '.data[0] | "\(.Name.data) \(.Weight.data)"')"

# ---- Delete -----------------------------------------------------------------------------------
err=$(bus_error DeleteProvider s "$IKEEXT")
check_eq "DeleteProvider IKEEXT: BuiltinObject" "org.bfed.Error.BuiltinObject" "${err%%$'\t'*}"
check "… the message names FWP_E_BUILTIN_OBJECT (0x80320017) and the provider" \
        grep -q "FWP_E_BUILTIN_OBJECT (0x80320017).*FWPM_PROVIDER_IKEEXT" <<<"$err"
err=$(bus_error DeleteSubLayer s "$TUNNEL")
check_eq "DeleteSubLayer IPSEC_TUNNEL: BuiltinObject" "org.bfed.Error.BuiltinObject" "${err%%$'\t'*}"
check "… both are still there" bus GetSubLayer s "$TUNNEL"
check "… and the provider" bus GetProvider s "$IKEEXT"
err=$(bus_error AddProvider 'a{sv}' 2 Key s "$IKEEXT" Name s mine)
check_eq "AddProvider with a built-in key: AlreadyExists" "org.bfed.Error.AlreadyExists" "${err%%$'\t'*}"

# ---- filters in built-in sublayers, with real packets ---------------------------------------
bfedt_resolve_neigh "$NS_B" "$A4"
bfedt_expect_udp "before: UDP 7070 passes" pass "$NS_A" "$NS_B" "$A4" 7070

# a block in TEREDO (0x4000, below the universal sublayer), named by the alias
read -r blk_key blk_id < <(bus_json AddFilter 'a{sv}' 5 Name s "block 7070 in edge traversal" \
        Layer s INBOUND_TRANSPORT_V4 Action u 4097 SubLayer s FWPM_SUBLAYER_EDGE_TRAVERSAL \
        Conditions 'a(sus)' 2 IP_PROTOCOL 0 udp IP_LOCAL_PORT 0 7070 | jq -r '.data | "\(.[0]) \(.[1])"')
check "AddFilter with SubLayer FWPM_SUBLAYER_EDGE_TRAVERSAL" test -n "$blk_id"
check_eq "… the filter is in TEREDO" "$TEREDO" \
        "$(bus_json GetFilterByKey s "$blk_key" | jq -r '.data[0].SubLayer.data')"
bfedt_expect_udp "the block in TEREDO drops UDP 7070" drop "$NS_A" "$NS_B" "$A4" 7070
check "the kernel has TEREDO's chain" grep -q "inbound_transport_v4_sl_${TEREDO//-/}" \
        <<<"$(nsnft list table inet bfed)"
err=$(bus_error DeleteSubLayer s "$TEREDO")
check_eq "DeleteSubLayer TEREDO while it holds a filter: still BuiltinObject" "org.bfed.Error.BuiltinObject" \
        "${err%%$'\t'*}"

# a hard permit in IPSEC_TUNNEL (0xB000, above the universal sublayer), named without the prefix
read -r per_key per_id < <(bus_json AddFilter 'a{sv}' 6 Name s "hard permit 7070 in tunnel" \
        Layer s INBOUND_TRANSPORT_V4 Action u 4098 Flags u 8 SubLayer s ipsec_tunnel \
        Conditions 'a(sus)' 2 IP_PROTOCOL 0 udp IP_LOCAL_PORT 0 7070 | jq -r '.data | "\(.[0]) \(.[1])"')
check "AddFilter with SubLayer ipsec_tunnel" test -n "$per_id"
bfedt_expect_udp "the hard permit in IPSEC_TUNNEL beats the block in TEREDO" pass "$NS_A" "$NS_B" "$A4" 7070
explain=$(bus_json Explain "sa{ss}" INBOUND_TRANSPORT_V4 2 IP_PROTOCOL udp IP_LOCAL_PORT 7070)
check_eq "Explain agrees: permit by the tunnel filter" "permit $per_id" \
        "$(jq -r '.data | "\(.[0]) \(.[1])"' <<<"$explain")"
check_eq "Explain's trace: IPSEC_TUNNEL, UNIVERSAL, TEREDO (the empty built-ins left out)" \
        "$TUNNEL $BFEDT_UNIVERSAL_SUBLAYER $TEREDO" "$(jq -r '[.data[2][][0]] | join(" ")' <<<"$explain")"
err=$(bus_error AddFilter 'a{sv}' 3 Name s x Layer s INBOUND_TRANSPORT_V4 SubLayer s NO_SUCH_SUBLAYER)
check_eq "SubLayer neither a GUID nor a built-in name: InvalidArgs" "org.freedesktop.DBus.Error.InvalidArgs" \
        "${err%%$'\t'*}"
bus DeleteFilterById t "$per_id" >/dev/null
bus DeleteFilterById t "$blk_id" >/dev/null

# ---- the exemptions' provider ------------------------------------------------------------------
ctx=$(add_context mm 5)
add_ctx_filter mm IKEEXT_V4 "$ctx" >/dev/null
check_eq "the exemption filters' provider is FWPM_PROVIDER_IKEEXT" "$IKEEXT" \
        "$(bus_json EnumFilters 'a{sv}' 0 | jq -r '[.data[0][] | select(.EngineOwned.data) | .ProviderKey.data]
                | unique | join(" ")')"
check_eq "… all 14 of them" 14 "$(engine_owned_ids | wc -l)"
err=$(bus_error DeleteProvider s "$IKEEXT")
check_eq "DeleteProvider IKEEXT while the exemptions name it: BuiltinObject" "org.bfed.Error.BuiltinObject" \
        "${err%%$'\t'*}"
bfedt_done
