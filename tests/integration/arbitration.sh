#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# WFP arbitration with real packets, and `bfectl explain` agreeing with them (issue 3). Two
# namespaces joined by a veth pair, bfed on side "a". Each scenario starts from an empty
# database, adds its sublayers and filters, sends real UDP (from the peer "b"; for the
# ALE_AUTH_CONNECT case from "a" as nobody and as root), records whether it arrived, asks
# `bfectl explain` about the same packet at the layer concerned, and checks both: the packet's
# fate and explain's verdict and deciding filter. Then it deletes what it added.
source "$(dirname "$0")/lib.sh"

bfedt_require_root
bfedt_require_bfectl
[[ -x "$UDP_PROBE" ]] || die "udp-probe not built ($UDP_PROBE)"
command -v setpriv >/dev/null 2>&1 || skip_all "setpriv not installed"
id nobody >/dev/null 2>&1 || skip_all "no user nobody"
bfedt_init

# nobody must be able to run the probe: the build tree may not be readable for it.
install -m 0755 "$UDP_PROBE" "$BFEDT_TMP/udp-probe" || die "copy udp-probe"
UDP_PROBE="$BFEDT_TMP/udp-probe"
NOBODY_UID=$(id -u nobody)
NOGROUP=$(id -gn nobody)

bfedt_netns a
NS_A=$REPLY
bfedt_netns b
NS_B=$REPLY

A4=10.201.0.1
B4=10.201.0.2
A6=fd00:bfed:1::1
B6=fd00:bfed:1::2
bfedt_veth "$NS_A" "$NS_B" "$A4/24" "$B4/24" "$A6/64" "$B6/64"

bfedt_start_bus
bfedt_start_bfed "$NS_A"

UNIVERSAL=$BFEDT_UNIVERSAL_SUBLAYER
IPSEC_INBOUND_TRANSPORT_V4=5132900d-5e84-4b5f-80e4-01741e81ff10

# Warm up ARP/ND both ways, so that no probe waits on neighbour resolution.
ip netns exec "$NS_B" "$UDP_PROBE" send --to "$A4" --port 9 --payload warmup
ip netns exec "$NS_B" "$UDP_PROBE" send --to "$A6" --port 9 --payload warmup
ip netns exec "$NS_A" "$UDP_PROBE" send --to "$B4" --port 9 --payload warmup
bfedt_wait_neigh "$NS_B" "$A4" && bfedt_wait_neigh "$NS_B" "$A6" && bfedt_wait_neigh "$NS_A" "$B4" ||
        die "neighbour resolution did not finish: b: $(ip -n "$NS_B" neigh show | paste -sd';') a: $(ip -n "$NS_A" neigh show | paste -sd';')"

# ---- adding and removing objects ---------------------------------------------------------------

# add_sublayer VAR NAME WEIGHT: sets VAR to the new sublayer's key (empty on failure, which
# counts as a failed check).
add_sublayer() {
        local out
        printf -v "$1" '%s' ""
        if out=$(ctl sublayer add --name "$2" --weight "$3" 2>&1); then
                printf -v "$1" '%s' "$out"
        else
                not_ok "$SCENARIO: add sublayer '$2' (weight $3): $out"
        fi
}

# add_filter VAR NAME ARGS...: bfectl filter add; sets VAR to the new filter's id (empty on
# failure, which counts as a failed check).
add_filter() {
        local var="$1" name="$2" out
        shift 2
        printf -v "$var" '%s' ""
        if out=$(ctl filter add --name "$name" "$@" 2>&1); then
                printf -v "$var" '%s' "${out##* }"
        else
                not_ok "$SCENARIO: add filter '$name' ($*): $out"
        fi
}

# add_mm_policy: an IKE main-mode context and the IKEEXT_V4 filter referencing it, so the
# IKE/AuthIP exemptions are active.
add_mm_policy() {
        local ctx out
        if ! out=$(ctl context add --name "ike main mode" --type ike-mm 2>&1); then
                not_ok "$SCENARIO: add IKE MM context: $out"
                return
        fi
        ctx=${out%% *}
        add_filter MM_ID "ike mm policy" --layer IKEEXT_V4 --context "$ctx"
        check_eq "$SCENARIO: MM policy added, ExemptionsActive" "true" "$(exemptions_active)"
}

# exemption_id LAYER PORT: the engine-owned filter at LAYER that permits UDP to local port
# PORT for any flow (not only one this host started).
exemption_id() {
        enum_filters | jq -r --arg layer "$1" --arg port "$2" '
                [ .[] | select(.EngineOwned == true and .Layer == $layer)
                  | select(any(.Conditions[]?; .[0] == "IP_LOCAL_PORT" and .[2] == $port))
                  | select(all(.Conditions[]?; .[0] != "BFED_LOCALLY_INITIATED"))
                  | .Id ] | first // empty'
}

# begin_scenario TITLE: deletes what the last scenario added and checks the database is empty.
begin_scenario() {
        SCENARIO="$1"
        HIGH= LOW=
        diag "---- $SCENARIO ----"
        bfedt_clear_database
        local n
        n=$(enum_filters | jq length)
        check_eq "$SCENARIO: starts from an empty database (no filters)" "0" "$n"
        check_eq "$SCENARIO: starts with the built-in sublayers only" "" \
                "$(bus_json EnumSubLayers | jq -r '.data[0][].Key.data' | bfedt_not_builtin | paste -sd, -)"
        check_eq "$SCENARIO: starts without exemptions" "false" "$(exemptions_active)"
}

# ---- packets and explain -------------------------------------------------------------------------

# deliver RECV_NS SEND_NS DST PORT SPORT EXPECT [WRAPPER...]: sends the probe and sets
# PACKET to "pass", "drop" or "error". The wait is short when a drop is expected.
deliver() {
        local rns="$1" sns="$2" dst="$3" port="$4" sport="$5" expect="$6" timeout=2000 rc=0
        shift 6
        [[ "$expect" == drop ]] && timeout=500
        bfedt_udp_deliver "$rns" "$sns" "$dst" "$port" "$sport" "$timeout" "$@" || rc=$?
        case $rc in
        0) PACKET=pass ;;
        1) PACKET=drop ;;
        *) PACKET=error ;;
        esac
}

# explain LAYER FIELD=VALUE...: bfectl --json explain; sets EXPLAIN (the JSON, or "" when
# the call failed) and EXPLAIN_SUMMARY ("VERDICT FILTERID", or the error text).
explain() {
        local out
        if out=$(ctl --json explain "$@" 2>&1); then
                EXPLAIN=$out
                EXPLAIN_SUMMARY=$(jq -r '"\(.verdict) \(.filter_id)"' <<<"$out")
        else
                EXPLAIN=
                EXPLAIN_SUMMARY="explain failed: $out"
        fi
}

# verify DESC EXPECT FILTER LAYER FIELD=VALUE...: the packet just sent (PACKET) had the fate
# EXPECT (pass/drop), and explain for it at LAYER says permit/block, decided by FILTER (an id,
# 0 for the default permit).
verify() {
        local desc="$1" expect="$2" filter="$3" layer="$4" verdict=permit
        shift 4
        [[ "$expect" == drop ]] && verdict=block
        check_eq "$SCENARIO: $desc: packet $([[ $expect == pass ]] && echo arrives || echo dropped)" \
                "$expect" "$PACKET"
        explain "$layer" "$@"
        check_eq "$SCENARIO: $desc: explain at $layer: $verdict by filter ${filter:-?}" \
                "$verdict ${filter:-?}" "$EXPLAIN_SUMMARY"
        if [[ -n "$EXPLAIN" && "$EXPLAIN_SUMMARY" != "$verdict ${filter:-?}" ]]; then
                diag "bfectl explain $layer $*:"
                ctl explain "$layer" "$@" 2>&1 | sed 's/^/#   /'
        fi
}

# step DESC SUBLAYER OUTCOME [FILTER]: the last explain's trace says SUBLAYER (high, low or
# universal) had OUTCOME, decided by FILTER (default 0: none).
step() {
        local key got json=${EXPLAIN:-'{}'} want=${4-0}
        [[ $# -ge 4 && -z "$4" ]] && want='?'     # the filter was not added
        case $2 in
        high) key=$HIGH ;;
        low) key=$LOW ;;
        universal) key=$UNIVERSAL ;;
        esac
        got=$(jq -r --arg k "$key" '[.trace[]? | select(.sublayer_key == $k)
                                    | "\(.outcome) \(.filter_id)"] | join(",")' <<<"$json")
        check_eq "$SCENARIO: $1: trace: sublayer $2: $3${4+ by filter $want}" "$3 $want" "$got"
}

# in4/in6 DESC PORT SPORT EXPECT FILTER: UDP from b to a's PORT (from SPORT), over IPv4 or
# IPv6, then verify it at INBOUND_TRANSPORT_V4/V6 with the fields of that very packet.
in4() {
        local desc="$1" port="$2" sport="$3" expect="$4" filter="$5"
        deliver "$NS_A" "$NS_B" "$A4" "$port" "$sport" "$expect"
        verify "$desc" "$expect" "$filter" INBOUND_TRANSPORT_V4 IP_PROTOCOL=udp \
                IP_LOCAL_ADDRESS="$A4" IP_LOCAL_PORT="$port" IP_REMOTE_ADDRESS="$B4" \
                IP_REMOTE_PORT="$sport" IP_LOCAL_INTERFACE=veth0
}

in6() {
        local desc="$1" port="$2" sport="$3" expect="$4" filter="$5"
        deliver "$NS_A" "$NS_B" "$A6" "$port" "$sport" "$expect"
        verify "$desc" "$expect" "$filter" INBOUND_TRANSPORT_V6 IP_PROTOCOL=udp \
                IP_LOCAL_ADDRESS="$A6" IP_LOCAL_PORT="$port" IP_REMOTE_ADDRESS="$B6" \
                IP_REMOTE_PORT="$sport" IP_LOCAL_INTERFACE=veth0
}

# ---- 1: a hard permit in a higher sublayer beats a block in a lower one --------------------------

begin_scenario "1 hard permit above a block"
add_sublayer HIGH "arbitration high" 0x9000
add_sublayer LOW "arbitration low" 0x7000
add_filter block "low: block udp" --layer INBOUND_TRANSPORT_V4 --sublayer "$LOW" --action block \
        --condition IP_PROTOCOL=udp
add_filter permit "high: hard permit udp 7101" --layer INBOUND_TRANSPORT_V4 --sublayer "$HIGH" \
        --hard --condition IP_PROTOCOL=udp --condition IP_LOCAL_PORT=7101

in4 "UDP to 7101 (hard permit above)" 7101 40101 pass "$permit"
step "UDP to 7101" high hard-permit "$permit"
step "UDP to 7101" universal not-evaluated
step "UDP to 7101" low not-evaluated
in4 "UDP to 7102 (no permit)" 7102 40102 drop "$block"
step "UDP to 7102" high no-match
step "UDP to 7102" universal no-match
step "UDP to 7102" low block "$block"
json=${EXPLAIN:-'{}'}
order=$(jq -r '[.trace[].sublayer_key] | map(if . == $h then "high" elif . == $u then "universal"
                elif . == $l then "low" else "other" end) | join(",")' \
        --arg h "$HIGH" --arg u "$UNIVERSAL" --arg l "$LOW" <<<"$json")
check_eq "$SCENARIO: trace in sublayer weight order" "high,universal,low" "$order"

# ---- 2: a soft permit in a higher sublayer does not beat a block in a lower one ----------------

begin_scenario "2 soft permit above a block"
add_sublayer HIGH "arbitration high" 0x9000
add_sublayer LOW "arbitration low" 0x7000
add_filter block "low: block udp" --layer INBOUND_TRANSPORT_V4 --sublayer "$LOW" --action block \
        --condition IP_PROTOCOL=udp
add_filter permit "high: soft permit udp 7201" --layer INBOUND_TRANSPORT_V4 --sublayer "$HIGH" \
        --condition IP_PROTOCOL=udp --condition IP_LOCAL_PORT=7201

in4 "UDP to 7201 (soft permit above)" 7201 40201 drop "$block"
step "UDP to 7201" high soft-permit "$permit"
step "UDP to 7201" low block "$block"

# ---- 3: a block in a higher sublayer beats any permit below, a hard one included --------------

begin_scenario "3 block above a hard permit"
add_sublayer HIGH "arbitration high" 0x9000
add_sublayer LOW "arbitration low" 0x7000
add_filter permit "low: hard permit udp" --layer INBOUND_TRANSPORT_V4 --sublayer "$LOW" --hard \
        --condition IP_PROTOCOL=udp
add_filter block "high: block udp 7301" --layer INBOUND_TRANSPORT_V4 --sublayer "$HIGH" \
        --action block --condition IP_PROTOCOL=udp --condition IP_LOCAL_PORT=7301

in4 "UDP to 7301 (block above the hard permit)" 7301 40301 drop "$block"
step "UDP to 7301" high block "$block"
step "UDP to 7301" low not-evaluated
in4 "UDP to 7302 (only the hard permit matches)" 7302 40302 pass "$permit"
step "UDP to 7302" high no-match
step "UDP to 7302" low hard-permit "$permit"

# ---- 4: within one sublayer, the higher weight wins ----------------------------------------------

begin_scenario "4 weights within one sublayer"
add_filter permit "permit udp 7401, range 5" --layer INBOUND_TRANSPORT_V4 --weight 5 \
        --condition IP_PROTOCOL=udp --condition IP_LOCAL_PORT=7401
add_filter block "block udp 7401, range 2" --layer INBOUND_TRANSPORT_V4 --weight 2 --action block \
        --condition IP_PROTOCOL=udp --condition IP_LOCAL_PORT=7401
in4 "permit at range 5 over a block at range 2" 7401 40401 pass "$permit"
step "permit at range 5 over a block at range 2" universal soft-permit "$permit"

bfedt_clear_database
add_filter permit "permit udp 7401, range 2" --layer INBOUND_TRANSPORT_V4 --weight 2 \
        --condition IP_PROTOCOL=udp --condition IP_LOCAL_PORT=7401
add_filter block "block udp 7401, range 5" --layer INBOUND_TRANSPORT_V4 --weight 5 --action block \
        --condition IP_PROTOCOL=udp --condition IP_LOCAL_PORT=7401
in4 "block at range 5 over a permit at range 2" 7401 40402 drop "$block"
step "block at range 5 over a permit at range 2" universal block "$block"

bfedt_clear_database
add_filter block "block udp, explicit weight 1000" --layer INBOUND_TRANSPORT_V4 --weight =1000 \
        --action block --condition IP_PROTOCOL=udp
add_filter permit "permit udp 7403, explicit weight 2000" --layer INBOUND_TRANSPORT_V4 --weight =2000 \
        --condition IP_PROTOCOL=udp --condition IP_LOCAL_PORT=7403
in4 "permit at explicit 2000 over a block at explicit 1000" 7403 40403 pass "$permit"
in4 "other port: the block at explicit 1000" 7404 40404 drop "$block"

bfedt_clear_database
add_filter block "block udp, automatic weight" --layer INBOUND_TRANSPORT_V4 --action block \
        --condition IP_PROTOCOL=udp
add_filter permit "permit udp 7405, automatic weight" --layer INBOUND_TRANSPORT_V4 \
        --condition IP_PROTOCOL=udp --condition IP_LOCAL_PORT=7405
in4 "automatic weights: the more specific permit wins" 7405 40405 pass "$permit"

# ---- 5: a provider's block in range 0xD stops IKE despite the exemptions -----------------------

begin_scenario "5 block in range 0xD over the exemptions"
add_mm_policy
add_filter low "block udp, range 0" --layer INBOUND_TRANSPORT_V4 --weight 0 --action block \
        --condition IP_PROTOCOL=udp
ex500=$(exemption_id INBOUND_TRANSPORT_V4 500)
ex4500=$(exemption_id INBOUND_TRANSPORT_V4 4500)
check "$SCENARIO: the inbound v4 exemption filters are enumerated ($ex500, $ex4500)" \
        test -n "$ex500" -a -n "$ex4500"
in4 "UDP to 500 over a lower-weight block" 500 40500 pass "$ex500"
step "UDP to 500 over a lower-weight block" universal hard-permit "$ex500"
in4 "UDP to 7500 (not IKE)" 7500 40501 drop "$low"

add_filter block "provider: block IKE, range 0xD" --layer INBOUND_TRANSPORT_V4 --weight 13 \
        --action block --condition IP_PROTOCOL=udp --condition IP_LOCAL_PORT=500
in4 "UDP to 500 with the provider's block in range 0xD" 500 40502 drop "$block"
step "UDP to 500 with the provider's block in range 0xD" universal block "$block"
in4 "UDP to 4500: the exemption still applies" 4500 40503 pass "$ex4500"

check "$SCENARIO: provider's block deleted" ctl filter delete "$block"
in4 "UDP to 500 once the range 0xD block is gone" 500 40504 pass "$ex500"

# ---- 6: IPsec required drops plain UDP, the exemptions still let IKE through -------------------

begin_scenario "6 IPsec required, IKE exempt"
add_mm_policy
add_filter callout "require IPsec for udp" --layer INBOUND_TRANSPORT_V4 --action callout \
        --callout "$IPSEC_INBOUND_TRANSPORT_V4" --condition IP_PROTOCOL=udp
ex500=$(exemption_id INBOUND_TRANSPORT_V4 500)
in4 "plain UDP to 7000" 7000 40600 drop "$callout"
step "plain UDP to 7000" universal require-ipsec "$callout"
in4 "plain UDP to 500 (IKE)" 500 40601 pass "$ex500"
step "plain UDP to 500 (IKE)" universal hard-permit "$ex500"
explain INBOUND_TRANSPORT_V4 IP_PROTOCOL=udp IP_LOCAL_ADDRESS="$A4" IP_LOCAL_PORT=7000 \
        IP_REMOTE_ADDRESS="$B4" IP_REMOTE_PORT=40600 IP_LOCAL_INTERFACE=veth0 FLAGS=ipsec-secured
check_eq "$SCENARIO: explain: IPsec-secured UDP to 7000 is permitted" "permit" "${EXPLAIN_SUMMARY%% *}"

# ---- 6b: a rawContext clear-text fallback: the callout lets plain packets through and decides --

begin_scenario "6b PASSTHRU callout above a trap block"
# rawContext has no bfectl option: the D-Bus call, as a provider makes it
callout=$(bus_json AddFilter 'a{sv}' 7 Name s "require IPsec, passthru" Layer s INBOUND_TRANSPORT_V4 \
        Action u 0x5003 CalloutKey s "$IPSEC_INBOUND_TRANSPORT_V4" RawContext t 1 Weight y 10 \
        Conditions 'a(sus)' 1 IP_PROTOCOL 0 udp | jq -r '.data[1] // empty')
check "$SCENARIO: callout with RawContext PASSTHRU added" test -n "$callout"
check_eq "$SCENARIO: GetFilterById returns RawContext" 1 \
        "$(bus_json GetFilterById t "${callout:-0}" | jq -r '.data[0].RawContext.data')"
add_filter trap "trap: block udp" --layer INBOUND_TRANSPORT_V4 --weight 1 --action block \
        --condition IP_PROTOCOL=udp
in4 "plain UDP to 7000 through the PASSTHRU callout" 7000 40610 pass "$callout"
step "plain UDP to 7000 through the PASSTHRU callout" universal soft-permit "$callout"

# ---- 7: port range and address prefix conditions --------------------------------------------

begin_scenario "7 port range and address prefix"
add_filter block "block udp 7000-7010" --layer INBOUND_TRANSPORT_V4 --action block \
        --condition IP_PROTOCOL=udp --condition IP_LOCAL_PORT:5=7000-7010
in4 "UDP to 7005, in the range" 7005 40700 drop "$block"
in4 "UDP to 7011, above the range" 7011 40701 pass 0
in4 "UDP to 6999, below the range" 6999 40702 pass 0

bfedt_clear_database
add_filter block "block from the peer's /24" --layer INBOUND_TRANSPORT_V4 --action block \
        --condition IP_PROTOCOL=udp --condition IP_REMOTE_ADDRESS=10.201.0.0/24
in4 "UDP from the blocked /24" 7020 40703 drop "$block"

bfedt_clear_database
add_filter block "block from another /24" --layer INBOUND_TRANSPORT_V4 --action block \
        --condition IP_PROTOCOL=udp --condition IP_REMOTE_ADDRESS=10.202.0.0/24
in4 "UDP from outside the blocked /24" 7021 40704 pass 0

bfedt_clear_database
add_filter block "block from the peer's /64" --layer INBOUND_TRANSPORT_V6 --action block \
        --condition IP_PROTOCOL=udp --condition IP_REMOTE_ADDRESS=fd00:bfed:1::/64
in6 "UDP over IPv6 from the blocked /64" 7022 40705 drop "$block"

bfedt_clear_database
add_filter block "block from another /64" --layer INBOUND_TRANSPORT_V6 --action block \
        --condition IP_PROTOCOL=udp --condition IP_REMOTE_ADDRESS=fd00:bfed:2::/64
in6 "UDP over IPv6 from outside the blocked /64" 7023 40706 pass 0

# ---- 8: an ALE_AUTH_CONNECT block on a uid stops that user's new flows, not root's -------------

begin_scenario "8 ALE_AUTH_CONNECT block on a uid"
AS_NOBODY=(setpriv --reuid=nobody --regid="$NOGROUP" --clear-groups)

# out4 DESC SPORT EXPECT FILTER UID LOCALSYSTEM [WRAPPER...]: UDP from a to b's 7800 (a new
# flow: a new source port each time), explained at ALE_AUTH_CONNECT_V4.
out4() {
        local desc="$1" sport="$2" expect="$3" filter="$4" uid="$5" sys="$6"
        shift 6
        deliver "$NS_B" "$NS_A" "$B4" 7800 "$sport" "$expect" "$@"
        verify "$desc" "$expect" "$filter" ALE_AUTH_CONNECT_V4 IP_PROTOCOL=udp \
                IP_LOCAL_ADDRESS="$A4" IP_LOCAL_PORT="$sport" IP_REMOTE_ADDRESS="$B4" \
                IP_REMOTE_PORT=7800 IP_LOCAL_INTERFACE=veth0 ALE_USER_ID="$uid" \
                BFED_LOCALLY_INITIATED=true BFED_LOCAL_SYSTEM="$sys"
}

out4 "nobody's UDP before any filter (sanity)" 40800 pass 0 "$NOBODY_UID" false "${AS_NOBODY[@]}"
add_filter block "block nobody's connections" --layer ALE_AUTH_CONNECT_V4 --action block \
        --condition ALE_USER_ID="$NOBODY_UID"
out4 "nobody's new UDP flow" 40801 drop "$block" "$NOBODY_UID" false "${AS_NOBODY[@]}"
out4 "root's new UDP flow" 40802 pass 0 0 true
explain ALE_AUTH_CONNECT_V4 IP_PROTOCOL=udp IP_LOCAL_ADDRESS="$A4" IP_LOCAL_PORT=40803 \
        IP_REMOTE_ADDRESS="$B4" IP_REMOTE_PORT=7800 ALE_USER_ID=nobody BFED_LOCALLY_INITIATED=true
check_eq "$SCENARIO: explain takes a user name: ALE_USER_ID=nobody is blocked" "block $block" \
        "$EXPLAIN_SUMMARY"

# Explain is a read: nobody may call it too (here with busctl, straight on the bus).
out=$(setpriv --reuid=nobody --regid="$NOGROUP" --clear-groups --inh-caps=-all \
        busctl --address="$BUS_ADDR" --json=short call "$BFED_NAME" "$BFED_PATH" "$BFED_IFACE" \
        Explain 'sa{ss}' ALE_AUTH_CONNECT_V4 3 IP_PROTOCOL udp IP_REMOTE_PORT 7800 \
        ALE_USER_ID "$NOBODY_UID" 2>&1)
check_eq "$SCENARIO: nobody may call Explain (busctl): block by filter $block" "block $block" \
        "$(jq -r '.data | "\(.[0]) \(.[1])"' <<<"$out" 2>/dev/null || echo "$out")"

bfedt_clear_database
check_eq "the database is empty at the end" "0" "$(enum_filters | jq length)"

bfedt_done
