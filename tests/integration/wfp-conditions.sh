#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Issue 11, item 6, with real packets: FLAGS any-set with both flags (one lookup over two
# registers), ORed negations compiled as "not in" what they exclude, each checked against
# Explain; over the bus, filter enumeration templates (conditions, enum type, action mask,
# callout) and provider contexts by id.
source "$(dirname "$0")/lib.sh"

bfedt_require_root
[[ -x "$UDP_PROBE" ]] || die "udp-probe not built ($UDP_PROBE)"
bfedt_init
bfedt_two_hosts 8
bfedt_start_bus
bfedt_start_bfed "$NS_A"
NS=$NS_A
bfedt_resolve_neigh "$NS_B" "$A4"

# add_filter NAME LAYER ACTION CONDITIONS...: prints the id
add_filter() {
        local name="$1" layer="$2" action="$3"
        shift 3
        bus_json AddFilter 'a{sv}' 4 Name s "$name" Layer s "$layer" Action u "$action" \
                Conditions 'a(sus)' $(($# / 3)) "$@" | jq -r '.data[1]'
}

# explain_verdict LAYER FIELD VALUE ...: "verdict filter_id"
explain_verdict() {
        local layer="$1"
        shift
        bus_json Explain 'sa{ss}' "$layer" $(($# / 2)) "$@" | jq -r '.data | "\(.[0]) \(.[1])"'
}

# ---- ORed negations ------------------------------------------------------------------------------
# block UDP whose local port is not 7300, or is 7301 (7301 twice over): everything but 7300
id=$(add_filter "all but 7300" INBOUND_TRANSPORT_V4 4097 IP_PROTOCOL 0 udp IP_LOCAL_PORT 10 7300 \
        IP_LOCAL_PORT 0 7301)
check "AddFilter takes an ORed negation" test -n "$id"
check "the kernel has it as != 7300" grep -q "udp dport != 7300" <<<"$(nsnft list table inet bfed)"
for port in 7300 7301 7302; do
        want=drop verdict="block $id"
        [[ $port == 7300 ]] && want=pass verdict="permit 0"
        bfedt_expect_udp "ORed negation: UDP $port: $want" "$want" "$NS_A" "$NS_B" "$A4" "$port"
        check_eq "… and Explain says so" "$verdict" \
                "$(explain_verdict INBOUND_TRANSPORT_V4 IP_PROTOCOL udp IP_LOCAL_PORT "$port" IP_REMOTE_ADDRESS "$B4")"
done
bus DeleteFilterById t "$id" >/dev/null

# block UDP from anywhere but 10.208.0.0/24, or from the peer itself: the peer is blocked,
# 10.208.0.0/24 otherwise not (the set is "not in" 10.208.0.0-.1 and .3-.255)
id=$(add_filter "addresses" INBOUND_TRANSPORT_V4 4097 IP_PROTOCOL 0 udp IP_REMOTE_ADDRESS 10 10.208.0.0/24 \
        IP_REMOTE_ADDRESS 0 "$B4")
bfedt_expect_udp "ORed address negation: the peer ($B4) is blocked" drop "$NS_A" "$NS_B" "$A4" 7310
check_eq "… and Explain says so" "block $id" \
        "$(explain_verdict INBOUND_TRANSPORT_V4 IP_PROTOCOL udp IP_LOCAL_PORT 7310 IP_REMOTE_ADDRESS "$B4")"
ip -n "$NS_B" addr add 10.208.0.3/24 dev veth0 || die "second address"
printf '#!/bin/sh\nexec "$@" --bind 10.208.0.3\n' >"$BFEDT_TMP/from3"
chmod +x "$BFEDT_TMP/from3"
rc=0
bfedt_udp_deliver "$NS_A" "$NS_B" "$A4" 7311 0 2000 "$BFEDT_TMP/from3" || rc=$?
check_eq "ORed address negation: 10.208.0.3 (in the /24, not the peer) passes" 0 "$rc"
check_eq "… and Explain says so" "permit 0" \
        "$(explain_verdict INBOUND_TRANSPORT_V4 IP_PROTOCOL udp IP_LOCAL_PORT 7311 IP_REMOTE_ADDRESS 10.208.0.3)"
bus DeleteFilterById t "$id" >/dev/null

# ---- FLAGS any-set with both flags ---------------------------------------------------------------
id=$(add_filter "loopback or ipsec" INBOUND_TRANSPORT_V4 4097 IP_PROTOCOL 0 udp IP_LOCAL_PORT 0 7320 \
        FLAGS 7 loopback,ipsec-secured)
check "AddFilter takes FLAGS any-set with two flags" test -n "$id"
check "nft lists the any-set rule (text and JSON)" bash -c "ip netns exec $NS nft list table inet bfed >/dev/null &&
        ip netns exec $NS nft -j list table inet bfed | jq -e . >/dev/null"
bfedt_expect_udp "any-set: from the peer (neither flag) UDP 7320 passes" pass "$NS_A" "$NS_B" "$A4" 7320
check_eq "… Explain: permit" "permit 0" \
        "$(explain_verdict INBOUND_TRANSPORT_V4 IP_PROTOCOL udp IP_LOCAL_PORT 7320)"
bfedt_expect_udp "any-set: over loopback UDP 7320 is dropped" drop "$NS_A" "$NS_A" 127.0.0.1 7320
check_eq "… Explain: block (loopback)" "block $id" \
        "$(explain_verdict INBOUND_TRANSPORT_V4 IP_PROTOCOL udp IP_LOCAL_PORT 7320 FLAGS loopback)"
check_eq "… Explain: block (IPsec-secured)" "block $id" \
        "$(explain_verdict INBOUND_TRANSPORT_V4 IP_PROTOCOL udp IP_LOCAL_PORT 7320 FLAGS ipsec-secured)"
bus DeleteFilterById t "$id" >/dev/null
id=$(add_filter "out: loopback or ipsec" OUTBOUND_TRANSPORT_V4 4097 IP_PROTOCOL 0 udp IP_REMOTE_PORT 0 7321 \
        FLAGS 7 0x3)
bfedt_expect_udp "any-set outbound: to the peer UDP 7321 passes" pass "$NS_B" "$NS_A" "$B4" 7321
bfedt_expect_udp "any-set outbound: over loopback UDP 7321 is dropped" drop "$NS_A" "$NS_A" 127.0.0.1 7321
bus DeleteFilterById t "$id" >/dev/null
check "nft lists the table" bash -c "ip netns exec $NS nft list table inet bfed >/dev/null"

# ---- terminating callouts decide for their sublayer (item 1) ------------------------------------
# strongSwan's layout: the IPsec transport callout over a lower-weight "trap" block, one sublayer
sub=$(bus_json AddSubLayer 'a{sv}' 2 Name s strongswan Weight q 0x9000 | jq -r '.data[0]')
cid=$(bus_json AddFilter 'a{sv}' 7 Name s "policy callout" Layer s INBOUND_TRANSPORT_V4 Action u 20483 \
        CalloutKey s 5132900d-5e84-4b5f-80e4-01741e81ff10 SubLayer s "$sub" Weight y 2 \
        Conditions 'a(sus)' 2 IP_PROTOCOL 0 udp IP_LOCAL_PORT 0 7330 | jq -r '.data[1]')
tid=$(bus_json AddFilter 'a{sv}' 6 Name s "trap" Layer s INBOUND_TRANSPORT_V4 Action u 4097 SubLayer s "$sub" \
        Weight y 1 Conditions 'a(sus)' 2 IP_PROTOCOL 0 udp IP_LOCAL_PORT 0 7330 | jq -r '.data[1]')
bfedt_expect_udp "callout: a plain datagram is dropped" drop "$NS_A" "$NS_B" "$A4" 7330
check_eq "… Explain: blocked by the callout (require-ipsec)" "block $cid require-ipsec" \
        "$(bus_json Explain 'sa{ss}' INBOUND_TRANSPORT_V4 2 IP_PROTOCOL udp IP_LOCAL_PORT 7330 |
                jq -r --arg s "$sub" '.data | "\(.[0]) \(.[1]) \([.[2][] | select(.[0] == $s)][0][4])"')"
check_eq "Explain: a secured one is permitted by the callout, and the trap is not reached" "permit $cid soft-permit" \
        "$(bus_json Explain 'sa{ss}' INBOUND_TRANSPORT_V4 3 IP_PROTOCOL udp IP_LOCAL_PORT 7330 FLAGS ipsec-secured |
                jq -r --arg s "$sub" '.data | "\(.[0]) \(.[1]) \([.[2][] | select(.[0] == $s)][0][4])"')"
check "the kernel's rule ends in the table's verdict map on the secured bit" \
        grep -q "meta ipsec vmap @callout_soft" <<<"$(nsnft list table inet bfed)"
check_eq "… which is { missing : drop, exists : return }" "elements={missing:drop,exists:return}" \
        "$(nsnft list map inet bfed callout_soft | tr -d ' \t\n' | grep -o 'elements={[^}]*}')"
check "… and nft lists it as JSON" bash -c "ip netns exec $NS nft -j list table inet bfed | jq -e . >/dev/null"
for id in "$cid" "$tid"; do bus DeleteFilterById t "$id" >/dev/null; done
bus DeleteSubLayer s "$sub" >/dev/null

# ---- IP_LOCAL_ADDRESS_TYPE (item 4, a part): the local address's route type -------------------------
id=$(add_filter "to my unicast address" INBOUND_TRANSPORT_V4 4097 IP_PROTOCOL 0 udp IP_LOCAL_PORT 0 7340 \
        IP_LOCAL_ADDRESS_TYPE 0 unicast)
bfedt_expect_udp "IP_LOCAL_ADDRESS_TYPE unicast: a datagram to $A4 is dropped" drop "$NS_A" "$NS_B" "$A4" 7340
check_eq "… Explain says so" "block $id" "$(explain_verdict INBOUND_TRANSPORT_V4 IP_PROTOCOL udp IP_LOCAL_PORT 7340 \
        IP_LOCAL_ADDRESS_TYPE unicast)"
bus DeleteFilterById t "$id" >/dev/null
id=$(add_filter "to a broadcast address" INBOUND_TRANSPORT_V4 4097 IP_PROTOCOL 0 udp IP_LOCAL_PORT 0 7340 \
        IP_LOCAL_ADDRESS_TYPE 0 4)
bfedt_expect_udp "IP_LOCAL_ADDRESS_TYPE broadcast: a datagram to $A4 passes" pass "$NS_A" "$NS_B" "$A4" 7340
check_eq "… Explain says so" "permit 0" "$(explain_verdict INBOUND_TRANSPORT_V4 IP_PROTOCOL udp IP_LOCAL_PORT 7340 \
        IP_LOCAL_ADDRESS_TYPE unicast)"
bus DeleteFilterById t "$id" >/dev/null
id=$(add_filter "from my unicast address" OUTBOUND_TRANSPORT_V4 4097 IP_PROTOCOL 0 udp IP_REMOTE_PORT 0 7341 \
        IP_LOCAL_ADDRESS_TYPE 0 unicast)
bfedt_expect_udp "outbound, IP_LOCAL_ADDRESS_TYPE unicast (fib saddr): a datagram from A is dropped" drop \
        "$NS_B" "$NS_A" "$B4" 7341
bus DeleteFilterById t "$id" >/dev/null
err=$(bus_error AddFilter 'a{sv}' 3 Name s x Layer s INBOUND_TRANSPORT_V4 Conditions 'a(sus)' 1 \
        IP_LOCAL_ADDRESS_TYPE 0 5)
check_eq "IP_LOCAL_ADDRESS_TYPE 5 (NlatInvalid): OutOfBounds" "org.bfed.Error.OutOfBounds" "${err%%$'\t'*}"

# ---- FWPM_FILTER_FLAG_PERMIT_IF_CALLOUT_UNREGISTERED (item 5): with a terminating callout only -----
err=$(bus_error AddFilter 'a{sv}' 4 Name s x Layer s INBOUND_TRANSPORT_V4 Action u 4097 Flags u 16)
check_eq "PERMIT_IF_CALLOUT_UNREGISTERED on a block: InvalidFlags" "org.bfed.Error.InvalidFlags" "${err%%$'\t'*}"
pid=$(bus_json AddFilter 'a{sv}' 5 Name s "callout, permit if unregistered" Layer s INBOUND_TRANSPORT_V4 \
        Action u 20483 CalloutKey s 5132900d-5e84-4b5f-80e4-01741e81ff10 Flags u 16 | jq -r '.data[1]')
check_eq "… on a terminating callout it is taken and kept" 16 \
        "$(bus_json GetFilterById t "$pid" | jq -r '.data[0].Flags.data')"
bus DeleteFilterById t "$pid" >/dev/null

# ---- filter enumeration templates: conditions, enum type, action mask, callout --------------------
IN4_CALLOUT=5132900d-5e84-4b5f-80e4-01741e81ff10
fa=$(bus_json AddFilter 'a{sv}' 4 Name s "t: block 7400-7410" Layer s INBOUND_TRANSPORT_V4 Action u 4097 \
        Conditions 'a(sus)' 2 IP_PROTOCOL 0 udp IP_LOCAL_PORT 5 7400-7410 | jq -r '.data[1]')
fb=$(bus_json AddFilter 'a{sv}' 4 Name s "t: permit 7405" Layer s INBOUND_TRANSPORT_V4 Action u 4098 \
        Conditions 'a(sus)' 2 IP_PROTOCOL 0 udp IP_LOCAL_PORT 0 7405 | jq -r '.data[1]')
fc=$(bus_json AddFilter 'a{sv}' 5 Name s "t: require ipsec 7420" Layer s INBOUND_TRANSPORT_V4 Action u 20483 \
        CalloutKey s "$IN4_CALLOUT" Conditions 'a(sus)' 2 IP_PROTOCOL 0 udp IP_LOCAL_PORT 0 7420 |
        jq -r '.data[1]')
# ids ARGS...: the sorted ids EnumFilters returns for the template ARGS (count and entries)
ids() {
        bus_json EnumFilters 'a{sv}' "$@" | jq -r '[.data[0][].Id.data] | sort | map(tostring) | join(" ")'
}
check_eq "template: port 7405, fully contained: the filters that let all of it through" "$fa $fb" \
        "$(ids 2 Layer s INBOUND_TRANSPORT_V4 Conditions 'a(sus)' 1 IP_LOCAL_PORT 0 7405)"
check_eq "template: ports 7409-7425, overlapping" "$fa $fc" \
        "$(ids 3 Layer s INBOUND_TRANSPORT_V4 EnumType u 1 Conditions 'a(sus)' 1 IP_LOCAL_PORT 5 7409-7425)"
check_eq "template: ports 7409-7425, fully contained: none" "" \
        "$(ids 3 Layer s INBOUND_TRANSPORT_V4 EnumType u 0 Conditions 'a(sus)' 1 IP_LOCAL_PORT 5 7409-7425)"
check_eq "template: ActionMask FWP_ACTION_FLAG_CALLOUT: the callout filter" "$fc" \
        "$(ids 2 Layer s INBOUND_TRANSPORT_V4 ActionMask u 0x4000)"
check_eq "template: ActionMask 0x1000 (terminating): all three" "$fa $fb $fc" \
        "$(ids 2 Layer s INBOUND_TRANSPORT_V4 ActionMask u 0x1000)"
check_eq "template: CalloutKey: the filters with that callout" "$fc" \
        "$(ids 3 Layer s INBOUND_TRANSPORT_V4 ActionMask u 0x4000 CalloutKey s "$IN4_CALLOUT")"
check_eq "template: another CalloutKey: none" "" \
        "$(ids 2 Layer s INBOUND_TRANSPORT_V4 CalloutKey s 49d3ac92-2a6c-4dcf-955f-1c3be009dd99)"
# (CreateFilterEnumHandle reads the same template; a handle lives only as long as its connection,
# one busctl call here)
err=$(bus_error CreateFilterEnumHandle 'a{sv}' 1 EnumType u 9)
check_eq "CreateFilterEnumHandle: EnumType 9: InvalidEnumerator" "org.bfed.Error.InvalidEnumerator" "${err%%$'\t'*}"
err=$(bus_error EnumFilters 'a{sv}' 1 Conditions 'a(sus)' 1 IP_LOCAL_PORT 0 7405)
check_eq "template: Conditions without Layer: InvalidParameter" "org.bfed.Error.InvalidParameter" "${err%%$'\t'*}"
err=$(bus_error EnumFilters 'a{sv}' 2 Layer s INBOUND_TRANSPORT_V4 Conditions 'a(sus)' 2 IP_LOCAL_PORT 0 1 \
        IP_LOCAL_PORT 0 2)
check_eq "template: a field twice: DuplicateCondition" "org.bfed.Error.DuplicateCondition" "${err%%$'\t'*}"
check "… FWP_E_DUPLICATE_CONDITION (0x8032002A)" grep -q "FWP_E_DUPLICATE_CONDITION (0x8032002A)" <<<"$err"
err=$(bus_error EnumFilters 'a{sv}' 1 EnumType u 2)
check_eq "template: EnumType 2: InvalidEnumerator" "org.bfed.Error.InvalidEnumerator" "${err%%$'\t'*}"
err=$(bus_error EnumFilters 'a{sv}' 1 ActionMask u 0)
check_eq "template: ActionMask 0: NeverMatch" "org.bfed.Error.NeverMatch" "${err%%$'\t'*}"
err=$(bus_error EnumFilters 'a{sv}' 2 Layer s INBOUND_TRANSPORT_V4 Conditions 'a(sus)' 1 IP_LOCAL_PORT 0 x)
check_eq "template: a bad value: TypeMismatch" "org.bfed.Error.TypeMismatch" "${err%%$'\t'*}"
for id in "$fa" "$fb" "$fc"; do bus DeleteFilterById t "$id" >/dev/null; done

# ---- provider contexts by id ----------------------------------------------------------------------
read -r ckey cid < <(bus_json AddProviderContext 'a{sv}' 2 Name s qm Type u 1 | jq -r '.data | "\(.[0]) \(.[1])"')
check_eq "GetProviderContextById finds it" "$ckey" \
        "$(bus_json GetProviderContextById t "$cid" | jq -r '.data[0].Key.data')"
fid=$(bus_json AddFilter 'a{sv}' 3 Name s uses Layer s INBOUND_TRANSPORT_V4 ProviderContextKey s "$ckey" |
        jq -r '.data[1]')
err=$(bus_error DeleteProviderContextById t "$cid")
check_eq "DeleteProviderContextById while a filter uses it: InUse" "org.bfed.Error.InUse" "${err%%$'\t'*}"
check "… the message names FWP_E_IN_USE and the filter" grep -q "FWP_E_IN_USE (0x8032000A).*filter $fid" <<<"$err"
err=$(bus_error DeleteProviderContextById t 4242)
check_eq "DeleteProviderContextById of no context: ProviderContextNotFound" \
        "org.bfed.Error.ProviderContextNotFound" "${err%%$'\t'*}"
check "… 'no provider context with id 4242'" grep -q "no provider context with id 4242" <<<"$err"
bus DeleteFilterById t "$fid" >/dev/null
check "DeleteProviderContextById" bus DeleteProviderContextById t "$cid"
err=$(bus_error GetProviderContext s "$ckey")
check_eq "… it is gone" "org.bfed.Error.ProviderContextNotFound" "${err%%$'\t'*}"
bfedt_done
