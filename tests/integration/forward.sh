#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Forwarding (issue 11, item 4) with real datagrams: client — router — server, three namespaces
# on two veth pairs, bfed in the router, which forwards. Filters at IPFORWARD_V4/V6 (hook
# forward) on the destination, the source and the two interfaces drop or pass forwarded UDP,
# and never the router's own traffic; ALE_FLOW_ESTABLISHED_V4 sees the first packet of a flow
# to or from the router (not a reply of a flow it started, not forwarded packets), by DIRECTION
# with local and remote ports and addresses. Explain
# agrees with each outcome; the forward layers refuse protocol, port and local/remote address
# conditions with FWP_E_CONDITION_NOT_FOUND. A seeded random stream of IPFORWARD_V4 filters in
# several sublayers (BFEDT_SEED=N reruns one) checks Explain against forwarded datagrams.
source "$(dirname "$0")/lib.sh"

bfedt_require_root
bfedt_require_bfectl
[[ -x "$UDP_PROBE" ]] || die "udp-probe not built ($UDP_PROBE)"
bfedt_init
bfedt_netns client
NS_C=$REPLY
bfedt_netns router
NS_R=$REPLY
bfedt_netns server
NS_S=$REPLY

C4=10.231.1.2
RC4=10.231.1.1
RS4=10.231.2.1
S4=10.231.2.2
S4B=10.231.2.3          # the server's second address: a destination the filters do not name
C6=fd00:bfed:31::2
RC6=fd00:bfed:31::1
RS6=fd00:bfed:32::1
S6=fd00:bfed:32::2

# link NS_OTHER NAME_IN_ROUTER: a veth pair between the router and NS_OTHER (veth0 there)
link() {
        local tmp="vfw$$" n=0
        while ip link show "${tmp}a$n" >/dev/null 2>&1; do n=$((n + 1)); done
        ip link add "${tmp}a$n" netns "$NS_R" type veth peer name "${tmp}b$n" netns "$1" || die "veth pair"
        ip -n "$NS_R" link set "${tmp}a$n" name "$2" || die "veth name $2"
        ip -n "$1" link set "${tmp}b$n" name veth0 || die "veth name in $1"
}
link "$NS_C" vclient
link "$NS_S" vserver
ip -n "$NS_R" addr add "$RC4/24" dev vclient
ip -n "$NS_R" addr add "$RC6/64" dev vclient nodad
ip -n "$NS_R" addr add "$RS4/24" dev vserver
ip -n "$NS_R" addr add "$RS6/64" dev vserver nodad
ip -n "$NS_C" addr add "$C4/24" dev veth0
ip -n "$NS_C" addr add "$C6/64" dev veth0 nodad
ip -n "$NS_S" addr add "$S4/24" dev veth0
ip -n "$NS_S" addr add "$S4B/24" dev veth0
ip -n "$NS_S" addr add "$S6/64" dev veth0 nodad
for l in "$NS_R:vclient" "$NS_R:vserver" "$NS_C:veth0" "$NS_S:veth0"; do
        ip -n "${l%%:*}" link set "${l#*:}" up || die "link ${l#*:} up"
done
ip -n "$NS_C" route add default via "$RC4" || die "client's v4 route"
ip -n "$NS_C" -6 route add default via "$RC6" || die "client's v6 route"
ip -n "$NS_S" route add default via "$RS4" || die "server's v4 route"
ip -n "$NS_S" -6 route add default via "$RS6" || die "server's v6 route"
ip netns exec "$NS_R" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 || die "forwarding on"

bfedt_start_bus
bfedt_start_bfed "$NS_R"
NS=$NS_R

# Neighbours first, so that no probe waits on ARP/ND: each end's router address, and the
# router's view of both ends.
bfedt_resolve_neigh "$NS_C" "$RC4" "$RC6"
bfedt_resolve_neigh "$NS_S" "$RS4" "$RS6"
bfedt_resolve_neigh "$NS_R" "$C4" "$C6" "$S4" "$S4B" "$S6"

# add NAME LAYER ACTION WEIGHTRANGE FIELD MATCH VALUE...: a filter; prints its id
add() {
        local name="$1" layer="$2" action="$3" range="$4"
        shift 4
        bus_json AddFilter 'a{sv}' 5 Name s "$name" Layer s "$layer" Action u "$action" Weight y "$range" \
                Conditions 'a(sus)' $(($# / 3)) "$@" | jq -r '.data[1]'
}
del() {
        bus DeleteFilterById t "$1" >/dev/null
}

# explain LAYER FIELD VALUE...: "VERDICT FILTER_ID"
explain() {
        local layer="$1"
        shift
        bus_json Explain 'sa{ss}' "$layer" $(($# / 2)) "$@" | jq -r '.data | "\(.[0]) \(.[1])"'
}

# fwd DESC pass|drop DST ID [SRC_NS]: three datagrams from the client (or SRC_NS) through the
# router to DST on the server have that fate, and Explain at the forward layer of DST's family,
# given what the router knows of them (addresses, interfaces, destination type), agrees: block
# by filter ID, or permit.
fwd() {
        local desc="$1" want="$2" dst="$3" id="$4" layer=IPFORWARD_V4 src=$C4 verdict="permit 0"
        [[ $dst == *:* ]] && layer=IPFORWARD_V6 src=$C6
        bfedt_expect_udp "$desc: forwarded UDP to $dst" "$want" "$NS_S" "$NS_C" "$dst" 7000
        [[ $want == drop ]] && verdict="block $id"
        check_eq "… Explain agrees" "$verdict" "$(explain "$layer" IP_SOURCE_ADDRESS "$src" \
                IP_DESTINATION_ADDRESS "$dst" IP_LOCAL_INTERFACE vclient IP_FORWARD_INTERFACE vserver \
                IP_DESTINATION_ADDRESS_TYPE unicast)"
}

# ---- IPFORWARD_V4 --------------------------------------------------------------------------------

fwd "no filter" pass "$S4" 0
fwd "no filter" pass "$S6" 0

b=$(add "block to the server" IPFORWARD_V4 4097 0 IP_DESTINATION_ADDRESS 0 "$S4")
check "block at IPFORWARD_V4 on IP_DESTINATION_ADDRESS $S4 added (id $b)" test -n "$b" -a "$b" != null
fwd "block on the destination" drop "$S4" "$b"
fwd "block on the destination: another destination" pass "$S4B" "$b"
fwd "block on a v4 destination: IPv6" pass "$S6" "$b"
bfedt_expect_udp "block on a forwarded destination: the router's own address still gets UDP" pass \
        "$NS_R" "$NS_C" "$RC4" 7000
check_eq "… Explain at INBOUND_TRANSPORT_V4 permits it" "permit 0" \
        "$(explain INBOUND_TRANSPORT_V4 IP_PROTOCOL udp IP_LOCAL_ADDRESS "$RC4" IP_LOCAL_PORT 7000)"
check "the rule is 'ip daddr $S4 … drop' in chain ipforward_v4_universal" \
        grep -qE "ip daddr $S4 counter packets [1-9][0-9]* bytes [0-9]+ drop comment \"filter $b: " \
        <<<"$(nsnft list chain inet bfed ipforward_v4_universal)"
check "base chain ipforward hooks forward at priority -10" \
        grep -q "type filter hook forward priority filter - 10; policy accept;" \
        <<<"$(nsnft list chain inet bfed ipforward)"

p=$(add "permit from the client" IPFORWARD_V4 4098 15 IP_SOURCE_ADDRESS 0 "$C4/32")
check "higher-weight permit at IPFORWARD_V4 on IP_SOURCE_ADDRESS $C4/32 added (id $p)" test -n "$p" -a "$p" != null
bfedt_expect_udp "permit above the block: forwarded UDP to $S4 passes" pass "$NS_S" "$NS_C" "$S4" 7000
check_eq "… Explain: the permit decides" "permit $p" "$(explain IPFORWARD_V4 IP_SOURCE_ADDRESS "$C4" \
        IP_DESTINATION_ADDRESS "$S4")"
check "permit deleted" del "$p"
fwd "permit deleted" drop "$S4" "$b"
check "block deleted" del "$b"
fwd "block deleted" pass "$S4" 0

# Interfaces: IP_LOCAL_INTERFACE is where the packet came in, IP_FORWARD_INTERFACE where it goes.
b=$(add "block out to the server side" IPFORWARD_V4 4097 0 IP_FORWARD_INTERFACE 0 vserver)
fwd "block on IP_FORWARD_INTERFACE vserver" drop "$S4" "$b"
del "$b"
b=$(add "block in from the server side" IPFORWARD_V4 4097 0 IP_LOCAL_INTERFACE 0 vserver)
fwd "block on IP_LOCAL_INTERFACE vserver (the packet arrives on vclient)" pass "$S4" "$b"
del "$b"
b=$(add "block in from the client side" IPFORWARD_V4 4097 0 IP_LOCAL_INTERFACE 0 vclient)
fwd "block on IP_LOCAL_INTERFACE vclient" drop "$S4" "$b"
del "$b"

# The destination's address type: a forwarded unicast packet's route type is unicast.
b=$(add "block forwarded unicast" IPFORWARD_V4 4097 0 IP_DESTINATION_ADDRESS_TYPE 0 unicast)
fwd "block on IP_DESTINATION_ADDRESS_TYPE unicast" drop "$S4" "$b"
check_eq "… Explain: a broadcast destination is not blocked" "permit 0" \
        "$(explain IPFORWARD_V4 IP_DESTINATION_ADDRESS_TYPE broadcast)"
del "$b"
b=$(add "block forwarded multicast" IPFORWARD_V4 4097 0 IP_DESTINATION_ADDRESS_TYPE 0 multicast)
fwd "block on IP_DESTINATION_ADDRESS_TYPE multicast" pass "$S4" "$b"
del "$b"

# ---- IPFORWARD_V6 --------------------------------------------------------------------------------

b=$(add "block to the server (v6)" IPFORWARD_V6 4097 0 IP_DESTINATION_ADDRESS 0 "$S6")
check "block at IPFORWARD_V6 on IP_DESTINATION_ADDRESS $S6 added (id $b)" test -n "$b" -a "$b" != null
fwd "v6 block on the destination" drop "$S6" "$b"
fwd "v6 block: IPv4" pass "$S4" "$b"
p=$(add "permit from the client (v6)" IPFORWARD_V6 4098 15 IP_SOURCE_ADDRESS 0 "fd00:bfed:31::/64")
bfedt_expect_udp "v6 permit above the block: forwarded UDP to $S6 passes" pass "$NS_S" "$NS_C" "$S6" 7000
check_eq "… Explain: the permit decides" "permit $p" "$(explain IPFORWARD_V6 IP_SOURCE_ADDRESS "$C6" \
        IP_DESTINATION_ADDRESS "$S6")"
del "$p"
fwd "v6 permit deleted" drop "$S6" "$b"
del "$b"
b=$(add "block forwarded unicast (v6)" IPFORWARD_V6 4097 0 IP_DESTINATION_ADDRESS_TYPE 0 unicast \
        IP_FORWARD_INTERFACE 0 vserver)
fwd "v6 block on IP_DESTINATION_ADDRESS_TYPE unicast out by vserver" drop "$S6" "$b"
del "$b"

# ---- what the forward layers refuse --------------------------------------------------------------

for spec in "IP_PROTOCOL udp" "IP_LOCAL_PORT 7000" "IP_REMOTE_PORT 7000" "IP_LOCAL_ADDRESS $S4" \
            "IP_REMOTE_ADDRESS $C4" "IP_LOCAL_ADDRESS_TYPE unicast" "ALE_USER_ID 0"; do
        read -r field value <<<"$spec"
        got=$(bus_error AddFilter 'a{sv}' 4 Name s refused Layer s IPFORWARD_V4 Action u 4097 \
                Conditions 'a(sus)' 1 "$field" 0 "$value") || got="succeeded"
        check_eq "IPFORWARD_V4 refuses $field" "org.bfed.Error.ConditionNotFound" "${got%%$'\t'*}"
done
got=$(bus_error AddFilter 'a{sv}' 4 Name s refused Layer s INBOUND_TRANSPORT_V4 Action u 4097 \
        Conditions 'a(sus)' 1 IP_SOURCE_ADDRESS 0 "$S4") || got="succeeded"
check_eq "INBOUND_TRANSPORT_V4 refuses IP_SOURCE_ADDRESS" "org.bfed.Error.ConditionNotFound" "${got%%$'\t'*}"

# ---- ALE_FLOW_ESTABLISHED_V4 ---------------------------------------------------------------------

# A flow the router starts: router:7301 -> client:7300. The client's answer from 7300 to 7301 is
# then a reply (conntrack: established), which the flow-established layer never sees.
rc=0
bfedt_udp_deliver "$NS_C" "$NS_R" "$C4" 7300 7301 2000 || rc=$?
check_eq "the router starts a flow to the client (7301 -> 7300)" 0 "$rc"

fe=$(add "block new udp flows" ALE_FLOW_ESTABLISHED_V4 4097 0 IP_PROTOCOL 0 udp)
check "block at ALE_FLOW_ESTABLISHED_V4 on IP_PROTOCOL udp added (id $fe)" test -n "$fe" -a "$fe" != null
check_eq "… Explain: a udp flow is blocked" "block $fe" "$(explain ALE_FLOW_ESTABLISHED_V4 IP_PROTOCOL udp)"
check_eq "… Explain: a tcp flow is not" "permit 0" "$(explain ALE_FLOW_ESTABLISHED_V4 IP_PROTOCOL tcp)"

rc=0
bfedt_udp_deliver "$NS_R" "$NS_C" "$RC4" 7301 7302 400 || rc=$?
check_eq "a new flow from the client to the router (7302 -> 7301) is dropped" 1 "$rc"
rc=0
bfedt_udp_deliver "$NS_R" "$NS_C" "$RC4" 7301 7300 2000 || rc=$?
check_eq "the reply of the router's flow (7300 -> 7301) arrives: not the first packet of a flow" 0 "$rc"
rc=0
bfedt_udp_deliver "$NS_C" "$NS_R" "$C4" 7400 7401 400 || rc=$?
check_eq "a new flow from the router to the client is dropped (on the way out)" 1 "$rc"
fwd "the forward path does not cross ALE_FLOW_ESTABLISHED" pass "$S4" 0
chains=$(nsnft list chain inet bfed ale_flow_established_in; nsnft list chain inet bfed ale_flow_established_out)
check_eq "ale_flow_established_in and _out send ct state new packets to ale_flow_established_v4" 2 \
        "$(grep -c "ct state new goto ale_flow_established_v4" <<<"$chains")"
check "… and hook input and output at priority P+2 (-8)" \
        grep -q "hook input priority filter - 8;" <<<"$chains"
check "… (output)" grep -q "hook output priority filter - 8;" <<<"$chains"
got=$(bus_error AddFilter 'a{sv}' 4 Name s refused Layer s ALE_FLOW_ESTABLISHED_V4 Action u 4097 \
        Conditions 'a(sus)' 1 IP_REMOTE_PORT 0 7300) || got="succeeded"
check_eq "ALE_FLOW_ESTABLISHED_V4 refuses IP_REMOTE_PORT without DIRECTION (one chain for both directions)" \
        "org.bfed.Error.ConditionNotFound" "${got%%$'\t'*}"
del "$fe"
rc=0
bfedt_udp_deliver "$NS_R" "$NS_C" "$RC4" 7301 7302 2000 || rc=$?
check_eq "block deleted: the client's new flow arrives" 0 "$rc"

# flow DESC pass|drop RECV_NS SEND_NS DST PORT SPORT: three datagrams of one new flow
flow() {
        local rc=0 timeout=400
        [[ $2 == pass ]] && timeout=2000
        bfedt_udp_deliver "$3" "$4" "$5" "$6" "$7" "$timeout" || rc=$?
        case "$2:$rc" in
        pass:0 | drop:1) ok "$1" ;;
        *) not_ok "$1 (should $2; probe said $rc)" ;;
        esac
}

# With DIRECTION, local and remote are the packet's as that direction has them.
fin=$(add "block inbound flows to local port 7311" ALE_FLOW_ESTABLISHED_V4 4097 0 DIRECTION 0 inbound \
        IP_LOCAL_PORT 0 7311)
check "block at ALE_FLOW_ESTABLISHED_V4 on DIRECTION inbound, IP_LOCAL_PORT 7311 added (id $fin)" \
        test -n "$fin" -a "$fin" != null
flow "inbound: a new flow to the router's port 7311 is dropped" drop "$NS_R" "$NS_C" "$RC4" 7311 7312
flow "inbound: a new flow to the router's port 7313 arrives" pass "$NS_R" "$NS_C" "$RC4" 7313 7312
flow "inbound filter: the router's own new flow from local port 7311 leaves" pass "$NS_C" "$NS_R" "$C4" 7314 7311
check_eq "… Explain: inbound to local port 7311 is blocked" "block $fin" \
        "$(explain ALE_FLOW_ESTABLISHED_V4 DIRECTION inbound IP_PROTOCOL udp IP_LOCAL_PORT 7311)"
check_eq "… Explain: outbound from local port 7311 is not" "permit 0" \
        "$(explain ALE_FLOW_ESTABLISHED_V4 DIRECTION outbound IP_PROTOCOL udp IP_LOCAL_PORT 7311)"
del "$fin"

fo=$(add "block outbound flows to the client's 7400" ALE_FLOW_ESTABLISHED_V4 4097 0 DIRECTION 0 outbound \
        IP_REMOTE_ADDRESS 0 "$C4" IP_REMOTE_PORT 0 7400)
check "block at ALE_FLOW_ESTABLISHED_V4 on DIRECTION outbound, IP_REMOTE_ADDRESS $C4, IP_REMOTE_PORT 7400" \
        test -n "$fo" -a "$fo" != null
flow "outbound: the router's new flow to the client's port 7400 is dropped" drop "$NS_C" "$NS_R" "$C4" 7400 7401
flow "outbound: the router's new flow to the client's port 7402 leaves" pass "$NS_C" "$NS_R" "$C4" 7402 7401
flow "outbound filter: the client's new flow from its port 7400 arrives" pass "$NS_R" "$NS_C" "$RC4" 7403 7400
check_eq "… Explain: outbound to the client's 7400 is blocked" "block $fo" \
        "$(explain ALE_FLOW_ESTABLISHED_V4 DIRECTION outbound IP_PROTOCOL udp IP_REMOTE_ADDRESS "$C4" \
           IP_REMOTE_PORT 7400)"
check_eq "… Explain: inbound from the client's 7400 is not" "permit 0" \
        "$(explain ALE_FLOW_ESTABLISHED_V4 DIRECTION inbound IP_PROTOCOL udp IP_REMOTE_ADDRESS "$C4" \
           IP_REMOTE_PORT 7400)"
del "$fo"

# ---- ALE_FLOW_ESTABLISHED_V6 ---------------------------------------------------------------------

f6=$(add "block inbound v6 flows to local port 7500" ALE_FLOW_ESTABLISHED_V6 4097 0 DIRECTION 0 inbound \
        IP_LOCAL_PORT 0 7500 IP_REMOTE_ADDRESS 0 "fd00:bfed:31::/64")
check "block at ALE_FLOW_ESTABLISHED_V6 on DIRECTION inbound, IP_LOCAL_PORT 7500 added (id $f6)" \
        test -n "$f6" -a "$f6" != null
flow "v6 inbound: a new flow from the client to the router's port 7500 is dropped" drop "$NS_R" "$NS_C" "$RC6" 7500 7501
flow "v6 inbound: the same over IPv4 arrives (the v6 layer's filter)" pass "$NS_R" "$NS_C" "$RC4" 7500 7501
check_eq "… Explain agrees" "block $f6" "$(explain ALE_FLOW_ESTABLISHED_V6 DIRECTION inbound IP_PROTOCOL udp \
        IP_LOCAL_PORT 7500 IP_REMOTE_ADDRESS "$C6")"
del "$f6"

# ---- IPFORWARD_V4, random: Explain and the kernel agree -------------------------------------------

# A seeded random stream (BFEDT_SEED=N reruns one): in each round a few filters at IPFORWARD_V4 in
# two sublayers of random weights and the universal one — source and destination prefixes around
# the client's two and the server's two addresses, the interfaces, blocks and soft and hard
# permits at random weight ranges — then forwarded datagrams between those addresses; each one's
# fate must be Explain's verdict.
C4B=10.231.1.3
ip -n "$NS_C" addr add "$C4B/24" dev veth0 || die "the client's second address"
printf '#!/bin/sh\nexec "$@" --bind %s\n' "$C4B" >"$BFEDT_TMP/from-c4b"
chmod +x "$BFEDT_TMP/from-c4b"
bfedt_resolve_neigh "$NS_R" "$C4B"
FWD_SEED=${BFEDT_SEED:-$(( $(od -An -N2 -tu2 /dev/urandom) ))}
diag "IPFORWARD_V4 random: seed $FWD_SEED (rerun with BFEDT_SEED=$FWD_SEED)"
RANDOM=$FWD_SEED
pick() {
        local a=("$@")
        REPLY=${a[RANDOM % ${#a[@]}]}
}
fwd_disagree=0
fwd_blocked=0
fwd_probes=0
for ((round = 1; round <= 4; round++)); do
        subs=()
        for s in 1 2; do
                subs+=("$(bus_json AddSubLayer 'a{sv}' 2 Name s "fwd $round.$s" Weight q $((RANDOM * 2)) | jq -r '.data[0]')")
        done
        ids=()
        for ((f = 0; f < 3 + RANDOM % 4; f++)); do
                conds=()
                for ((c = 0; c < 1 + RANDOM % 2; c++)); do
                        case $((RANDOM % 4)) in
                        0) pick "$C4/32" "$C4B/32" 10.231.1.2/31 10.231.1.0/24 10.231.0.0/16 10.0.0.0/8 192.0.2.0/24
                           conds+=(IP_SOURCE_ADDRESS 0 "$REPLY") ;;
                        1) pick "$S4/32" "$S4B/32" 10.231.2.2/31 10.231.2.0/24 10.231.0.0/16
                           conds+=(IP_DESTINATION_ADDRESS 0 "$REPLY") ;;
                        2) pick vclient vserver; conds+=(IP_LOCAL_INTERFACE 0 "$REPLY") ;;
                        3) pick vserver vclient; conds+=(IP_FORWARD_INTERFACE 0 "$REPLY") ;;
                        esac
                done
                pick 4097 4098 4098
                action=$REPLY flags=0
                ((action == 4098 && RANDOM % 2)) && flags=8
                sub=$BFEDT_UNIVERSAL_SUBLAYER
                ((RANDOM % 3)) && { pick "${subs[@]}"; sub=$REPLY; }
                id=$(bus_json AddFilter 'a{sv}' 7 Name s "fwd $round.$f" Layer s IPFORWARD_V4 Action u "$action" \
                        Flags u "$flags" Weight y $((RANDOM % 16)) SubLayer s "$sub" \
                        Conditions 'a(sus)' $((${#conds[@]} / 3)) "${conds[@]}" | jq -r '.data[1]')
                [[ -n $id && $id != null ]] || not_ok "round $round: IPFORWARD_V4 filter refused: ${conds[*]}"
                ids+=("$id")
        done
        for ((k = 0; k < 6; k++)); do
                pick "$C4" "$C4B"
                src=$REPLY
                pick "$S4" "$S4B"
                dst=$REPLY
                verdict=$(bus_json Explain 'sa{ss}' IPFORWARD_V4 5 IP_SOURCE_ADDRESS "$src" IP_DESTINATION_ADDRESS "$dst" \
                        IP_LOCAL_INTERFACE vclient IP_FORWARD_INTERFACE vserver IP_DESTINATION_ADDRESS_TYPE unicast |
                        jq -r '.data[0]')
                timeout=2000
                [[ $verdict == block ]] && timeout=300 fwd_blocked=$((fwd_blocked + 1))
                wrap=()
                [[ $src == "$C4B" ]] && wrap=("$BFEDT_TMP/from-c4b")
                rc=0
                bfedt_udp_deliver "$NS_S" "$NS_C" "$dst" 7000 $((42100 + k)) "$timeout" "${wrap[@]}" || rc=$?
                fwd_probes=$((fwd_probes + 1))
                case "$verdict:$rc" in
                permit:0 | block:1) ;;
                *)
                        fwd_disagree=$((fwd_disagree + 1))
                        not_ok "seed $FWD_SEED, round $round: forwarded UDP $src -> $dst: Explain says $verdict, probe $rc"
                        enum_filters | jq -c '.[] | select(.Layer == "IPFORWARD_V4")' | sed 's/^/#   /'
                        nsnft list chain inet bfed ipforward_v4 | sed 's/^/#   /'
                        ;;
                esac
        done
        for id in "${ids[@]}"; do del "$id"; done
        for s in "${subs[@]}"; do bus DeleteSubLayer s "$s" >/dev/null || not_ok "DeleteSubLayer $s"; done
done
check_eq "IPFORWARD_V4: Explain and the kernel agree on $fwd_probes random forwarded datagrams (seed $FWD_SEED)" \
        0 "$fwd_disagree"
diag "$fwd_blocked of them blocked"

# ---- net events: a drop names its filter and layer ----------------------------------------------

DROPS="$BFEDT_TMP/drops.txt"
DBUS_SYSTEM_BUS_ADDRESS="$BUS_ADDR" "$BFECTL" monitor --drops >"$DROPS" 2>"$DROPS.err" &
BFEDT_PIDS+=("$!")
bfedt_wait_line "$DROPS.err" '^Monitoring bfed drops' || die "bfectl monitor --drops did not start: $(cat "$DROPS.err")"
b=$(add "block to the server, watched" IPFORWARD_V4 4097 0 IP_DESTINATION_ADDRESS 0 "$S4")
ip netns exec "$NS_C" "$UDP_PROBE" send --to "$S4" --port 7000 --sport 42001 --payload drop >/dev/null 2>&1
check "bfectl monitor --drops: a forwarded datagram dropped at IPFORWARD_V4, source to destination, in" \
        bfedt_wait_line "$DROPS" "^dropped udp $C4:42001 -> $S4:7000 in by filter $b at IPFORWARD_V4\$" 3000
del "$b"
fo=$(add "block outbound flows to the client's 7420" ALE_FLOW_ESTABLISHED_V4 4097 0 DIRECTION 0 outbound \
        IP_REMOTE_PORT 0 7420)
ip netns exec "$NS_R" "$UDP_PROBE" send --to "$C4" --port 7420 --sport 42002 --payload drop >/dev/null 2>&1
check "bfectl monitor --drops: the router's new flow dropped at ALE_FLOW_ESTABLISHED_V4, out" \
        bfedt_wait_line "$DROPS" "^dropped udp $RC4:42002 -> $C4:7420 out by filter $fo at ALE_FLOW_ESTABLISHED_V4\$" \
        3000
del "$fo"

bfedt_done
