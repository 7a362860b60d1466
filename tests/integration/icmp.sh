#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# ICMP type and code (issue 11, item 2) with real ICMP and ICMPv6 messages: in WFP
# FWPM_CONDITION_ICMP_TYPE and _ICMP_CODE are IP_LOCAL_PORT and IP_REMOTE_PORT, so a filter's port
# conditions mean type and code for ICMP (ICMPv6 at the v6 layers) and ports for TCP and UDP, and
# both when it names no protocol. Each packet's fate is checked against Explain.
source "$(dirname "$0")/lib.sh"

bfedt_require_root
[[ -x "$UDP_PROBE" ]] || die "udp-probe not built ($UDP_PROBE)"
[[ -x "$ICMP_PROBE" ]] || die "icmp-probe not built ($ICMP_PROBE)"
bfedt_init
bfedt_two_hosts 9
bfedt_start_bus
bfedt_start_bfed "$NS_A"
NS=$NS_A
bfedt_resolve_neigh "$NS_B" "$A4" "$A6"
bfedt_resolve_neigh "$NS_A" "$B4" "$B6"

add() {
        local name="$1" layer="$2"
        shift 2
        bus_json AddFilter 'a{sv}' 4 Name s "$name" Layer s "$layer" Action u 4097 \
                Conditions 'a(sus)' $(($# / 3)) "$@" | jq -r '.data[1]'
}

# icmp DESC pass|drop LAYER DST TYPE CODE ID: a message from the peer to DST (or, at an
# outbound layer, from A to the peer) has that fate, and Explain gives the verdict it implies
# (block by filter ID, or permit)
icmp() {
        local desc="$1" want="$2" layer="$3" dst="$4" type="$5" code="$6" id="$7" rc=0 proto verdict
        if [[ $layer == OUTBOUND* ]]; then
                bfedt_icmp_deliver "$NS_B" "$NS_A" "$dst" "$type" "$code" 1000 || rc=$?
        else
                bfedt_icmp_deliver "$NS_A" "$NS_B" "$dst" "$type" "$code" 1000 || rc=$?
        fi
        case "$want:$rc" in
        pass:0 | drop:1) ok "$desc: ICMP $type/$code: $want" ;;
        *) not_ok "$desc: ICMP $type/$code should ${want} (probe said $rc)" ;;
        esac
        proto=icmp
        [[ $layer == *V6 ]] && proto=58
        verdict="permit 0"
        [[ $want == drop ]] && verdict="block $id"
        check_eq "… Explain agrees" "$verdict" "$(bus_json Explain 'sa{ss}' "$layer" 3 IP_PROTOCOL "$proto" \
                ICMP_TYPE "$type" ICMP_CODE "$code" | jq -r '.data | "\(.[0]) \(.[1])"')"
}

# udp DESC pass|drop PORT ID: a datagram from the peer to A4:PORT, and Explain
udp() {
        local verdict="permit 0"
        bfedt_expect_udp "$1: UDP $3" "$2" "$NS_A" "$NS_B" "$A4" "$3"
        [[ $2 == drop ]] && verdict="block $4"
        check_eq "… Explain agrees" "$verdict" "$(bus_json Explain 'sa{ss}' INBOUND_TRANSPORT_V4 2 \
                IP_PROTOCOL udp IP_LOCAL_PORT "$3" | jq -r '.data | "\(.[0]) \(.[1])"')"
}

icmp "no filter" pass INBOUND_TRANSPORT_V4 "$A4" 8 0 0

# ---- ICMP with a type and a code, by the ICMP_* names ----------------------------------------------
id=$(add "echo request" INBOUND_TRANSPORT_V4 IP_PROTOCOL 0 icmp ICMP_TYPE 0 8 ICMP_CODE 0 0)
check "AddFilter takes ICMP_TYPE and ICMP_CODE" test -n "$id"
check_eq "… enumerated as IP_LOCAL_PORT and IP_REMOTE_PORT (the same GUIDs)" "IP_PROTOCOL IP_LOCAL_PORT IP_REMOTE_PORT" \
        "$(bus_json GetFilterById t "$id" | jq -r '[.data[0].Conditions.data[][0]] | join(" ")')"
check "nft lists the rule (text)" bash -c "ip netns exec $NS nft list table inet bfed >$BFEDT_TMP/list.txt"
check "… as ICMP type and code (echo-request)" grep -q "echo-request" "$BFEDT_TMP/list.txt"
check "nft lists the rule (JSON)" bash -c "ip netns exec $NS nft -j list table inet bfed | jq -e . >/dev/null"
icmp "block echo request" drop INBOUND_TRANSPORT_V4 "$A4" 8 0 "$id"
icmp "block echo request" pass INBOUND_TRANSPORT_V4 "$A4" 8 1 "$id"
icmp "block echo request" pass INBOUND_TRANSPORT_V4 "$A4" 13 0 "$id"
udp "block echo request" pass 8 "$id"
bus DeleteFilterById t "$id" >/dev/null

# ---- by the port GUIDs, a type range, no code --------------------------------------------------------
id=$(add "types 10-15" INBOUND_TRANSPORT_V4 IP_PROTOCOL 0 1 0c1ba1af-5765-453f-af22-a8f791ac775b 5 10-15)
icmp "types 10-15 (IP_LOCAL_PORT's GUID)" drop INBOUND_TRANSPORT_V4 "$A4" 13 7 "$id"
icmp "types 10-15 (IP_LOCAL_PORT's GUID)" pass INBOUND_TRANSPORT_V4 "$A4" 16 0 "$id"
bus DeleteFilterById t "$id" >/dev/null

# ---- no protocol: ports and types alike ---------------------------------------------------------------
id=$(add "local port 8" INBOUND_TRANSPORT_V4 IP_LOCAL_PORT 0 8)
icmp "port 8, no protocol" drop INBOUND_TRANSPORT_V4 "$A4" 8 0 "$id"
icmp "port 8, no protocol" pass INBOUND_TRANSPORT_V4 "$A4" 13 0 "$id"
udp "port 8, no protocol" drop 8 "$id"
udp "port 8, no protocol" pass 9 "$id"
bus DeleteFilterById t "$id" >/dev/null

# ---- ICMPv6 ----------------------------------------------------------------------------------------------
id=$(add "echo request v6" INBOUND_TRANSPORT_V6 IP_PROTOCOL 0 58 ICMP_TYPE 0 128)
icmp "ICMPv6 echo request" drop INBOUND_TRANSPORT_V6 "$A6" 128 0 "$id"
icmp "ICMPv6 echo request" pass INBOUND_TRANSPORT_V6 "$A6" 129 0 "$id"
bus DeleteFilterById t "$id" >/dev/null

# ---- outbound -------------------------------------------------------------------------------------------
id=$(add "out: code 3 of type 3" OUTBOUND_TRANSPORT_V4 IP_PROTOCOL 0 icmp ICMP_TYPE 0 3 ICMP_CODE 0 3)
icmp "outbound type 3 code 3" drop OUTBOUND_TRANSPORT_V4 "$B4" 3 3 "$id"
icmp "outbound type 3 code 3" pass OUTBOUND_TRANSPORT_V4 "$B4" 3 1 "$id"
bus DeleteFilterById t "$id" >/dev/null
bfedt_done
