#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Explain and the kernel never disagree (issue 11, item 2): a seeded random stream of filters at
# INBOUND_TRANSPORT_V4, each with random conditions of every kind a packet from the peer can carry
# (protocol, local and remote port — ICMP type and code for ICMP —, local and remote address and
# the local address's type, interface, FLAGS; equal, ranges, prefixes, negations, ORed runs with negations among them), and
# for each set of filters random real packets (UDP and ICMP, from two peer addresses to two local
# ones): whether each arrived must be what Explain says of it. A disagreement prints the filters
# and the packet.
source "$(dirname "$0")/lib.sh"

bfedt_require_root
[[ -x "$UDP_PROBE" ]] || die "udp-probe not built ($UDP_PROBE)"
[[ -x "$ICMP_PROBE" ]] || die "icmp-probe not built ($ICMP_PROBE)"
bfedt_init
bfedt_two_hosts 5
ip -n "$NS_A" addr add 10.205.0.11/24 dev veth0 || die "second local address"
ip -n "$NS_B" addr add 10.205.0.12/24 dev veth0 || die "second peer address"
bfedt_start_bus
bfedt_start_bfed "$NS_A"
NS=$NS_A
LOCALS=("$A4" 10.205.0.11)
PEERS=("$B4" 10.205.0.12)
for peer in "${PEERS[@]}"; do
        printf '#!/bin/sh\nexec "$@" --bind %s\n' "$peer" >"$BFEDT_TMP/from-$peer"
        chmod +x "$BFEDT_TMP/from-$peer"
done
bfedt_resolve_neigh "$NS_B" "${LOCALS[@]}"
bfedt_resolve_neigh "$NS_A" "${PEERS[@]}"

# The same stream every run: RANDOM is read in this shell only, never in a $(…) subshell, which
# bash seeds afresh (that made the stream differ from run to run, once without a blocked UDP
# datagram at all).
RANDOM=1111
ROUNDS=${ROUNDS:-14}
PACKETS=${PACKETS:-6}
PORTS=(8 7000 7001 5000)

pick() {        # pick WORD...: one of them, in REPLY
        local a=("$@")
        REPLY=${a[RANDOM % ${#a[@]}]}
}

# condition: appends one random condition (or a run of ORed ones) to the caller's conds, as
# FIELD MATCH VALUE triples
condition() {
        local p q c
        pick "${PORTS[@]}"
        p=$REPLY
        pick "${PORTS[@]}"
        q=$REPLY
        case $((RANDOM % 13)) in
        0) pick "IP_PROTOCOL 0 udp" "IP_PROTOCOL 0 icmp" "IP_PROTOCOL 10 tcp" "IP_PROTOCOL 10 udp" \
                "IP_PROTOCOL 0 udp IP_PROTOCOL 0 icmp" ;;
        1) REPLY="IP_LOCAL_PORT 0 $p" ;;
        2) pick "IP_LOCAL_PORT 5 0-10" "IP_LOCAL_PORT 5 7000-7100" "IP_LOCAL_PORT 4 100" "IP_LOCAL_PORT 3 7001" ;;
        3) pick "IP_LOCAL_PORT 10 $p" "IP_LOCAL_PORT 0 $p IP_LOCAL_PORT 10 $q" "ICMP_TYPE 10 $p ICMP_TYPE 10 $q" ;;
        4) pick "IP_REMOTE_PORT 0 $p" "IP_REMOTE_PORT 5 0-1" "IP_REMOTE_PORT 10 $p" "ICMP_CODE 0 1" ;;
        5) pick "IP_LOCAL_ADDRESS 0 ${LOCALS[0]}" "IP_LOCAL_ADDRESS 0 ${LOCALS[1]}" "IP_LOCAL_ADDRESS 0 10.205.0.0/28" \
                "IP_LOCAL_ADDRESS 10 ${LOCALS[1]}" ;;
        6) pick "IP_REMOTE_ADDRESS 0 ${PEERS[0]}" "IP_REMOTE_ADDRESS 5 10.205.0.2-10.205.0.5" \
                "IP_REMOTE_ADDRESS 10 ${PEERS[1]}" "IP_REMOTE_ADDRESS 10 10.205.0.0/24 IP_REMOTE_ADDRESS 0 ${PEERS[0]}" ;;
        7) pick "IP_LOCAL_INTERFACE 0 veth0" "IP_LOCAL_INTERFACE 10 veth0" "IP_LOCAL_INTERFACE 0 lo" \
                "IP_LOCAL_INTERFACE 10 lo IP_LOCAL_INTERFACE 0 veth0" ;;
        8) pick "FLAGS 8 loopback" "FLAGS 7 loopback,ipsec-secured" "FLAGS 6 ipsec-secured" "FLAGS 8 0x3" ;;
        9) pick 8 13 0
           REPLY="IP_PROTOCOL 0 icmp ICMP_TYPE 0 $REPLY" ;;
        10) REPLY="IP_PROTOCOL 0 udp IP_LOCAL_PORT 0 $p" ;;
        11) REPLY="IP_LOCAL_PORT 5 7000-7001 IP_LOCAL_PORT 0 8" ;;
        12) pick "IP_LOCAL_ADDRESS_TYPE 0 unicast" "IP_LOCAL_ADDRESS_TYPE 10 unicast" "IP_LOCAL_ADDRESS_TYPE 0 4" ;;
        esac
        read -ra c <<<"$REPLY"
        conds+=("${c[@]}")
}

# add_random NAME: a random filter; prints its id (empty when bfed refused it: it says why)
add_random() {
        local n=$((1 + RANDOM % 3)) conds=() i action flags=0 weight out
        for ((i = 0; i < n; i++)); do
                condition
        done
        pick 4097 4097 4098
        action=$REPLY
        ((action == 4098 && RANDOM % 2)) && flags=8
        weight=$((RANDOM % 16))
        if ! out=$(bus_json AddFilter 'a{sv}' 6 Name s "$1" Layer s INBOUND_TRANSPORT_V4 Action u "$action" \
                Flags u "$flags" Weight y "$weight" Conditions 'a(sus)' $((${#conds[@]} / 3)) "${conds[@]}" 2>&1); then
                diag "refused: ${conds[*]}: $out"
                return
        fi
        jq -r '.data[1]' <<<"$out"
        diag "filter $(jq -r '.data[1]' <<<"$out"): action $action flags $flags weight $weight: ${conds[*]}"
}

disagreements=0
probes=0
blocked=0
icmp_blocked=0
for ((round = 1; round <= ROUNDS; round++)); do
        bfedt_clear_database
        for ((f = 0; f < 1 + RANDOM % 3; f++)); do
                add_random "round $round filter $f" >/dev/null
        done
        for ((k = 0; k < PACKETS; k++)); do
                pick "${PEERS[@]}"
                src=$REPLY
                pick "${LOCALS[@]}"
                dst=$REPLY
                if ((RANDOM % 2)); then
                        pick "${PORTS[@]}"
                        sport=$REPLY
                        pick "${PORTS[@]}"
                        dport=$REPLY
                        what="UDP $src:$sport -> $dst:$dport"
                        fields=(IP_PROTOCOL udp IP_LOCAL_PORT "$dport" IP_REMOTE_PORT "$sport")
                        send=(bfedt_udp_deliver "$NS_A" "$NS_B" "$dst" "$dport" "$sport" TIMEOUT "$BFEDT_TMP/from-$src")
                else
                        pick 8 13 0 3
                        type=$REPLY
                        pick 0 1
                        code=$REPLY
                        what="ICMP $type/$code $src -> $dst"
                        fields=(IP_PROTOCOL icmp ICMP_TYPE "$type" ICMP_CODE "$code")
                        send=(bfedt_icmp_deliver "$NS_A" "$NS_B" "$dst" "$type" "$code" TIMEOUT "$src")
                fi
                fields+=(IP_LOCAL_ADDRESS "$dst" IP_REMOTE_ADDRESS "$src" IP_LOCAL_INTERFACE veth0
                         IP_LOCAL_ADDRESS_TYPE unicast)
                verdict=$(bus_json Explain 'sa{ss}' INBOUND_TRANSPORT_V4 $((${#fields[@]} / 2)) "${fields[@]}" |
                        jq -r '.data[0]')
                # wait long for what Explain lets through, briefly for what it blocks
                timeout=2000
                [[ $verdict == block ]] && timeout=400
                rc=0
                "${send[@]/#TIMEOUT/$timeout}" || rc=$?
                probes=$((probes + 1))
                [[ $verdict == block ]] && blocked=$((blocked + 1))
                [[ $verdict == block && $what == ICMP* ]] && icmp_blocked=$((icmp_blocked + 1))
                case "$verdict:$rc" in
                permit:0 | block:1) ;;
                *)
                        disagreements=$((disagreements + 1))
                        not_ok "round $round: $what: Explain says $verdict, the packet $( ((rc == 0)) && echo arrived || echo did not arrive) (probe $rc)"
                        ;;
                esac
        done
done
check_eq "Explain and the kernel agree on $probes random packets" 0 "$disagreements"
diag "$blocked of them blocked, $icmp_blocked of those ICMP"
check "the stream blocks some UDP and some ICMP, and lets some through" \
        test "$icmp_blocked" -gt 0 -a "$blocked" -gt "$icmp_blocked" -a "$blocked" -lt "$probes"
bfedt_done
