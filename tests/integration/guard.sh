#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The sublayer guard (src/nft/guard.c): when every filter of a sublayer in a layer names the
# remote address, the layer's jump to it first looks the packet's remote address, cut to /8, up
# in the sublayer's guard set. Checked with real UDP from a veth peer, both ways (inbound: the
# source address; outbound: the destination): what the sublayer's filters block stays blocked
# through the guard, and a peer outside it is not; a filter without a remote address takes the
# guard off the jump (and blocks what it blocks), its delete puts it back; the guard's elements
# follow the filters; Explain agrees.
source "$(dirname "$0")/lib.sh"

bfedt_require_root
[[ -x "$UDP_PROBE" ]] || die "udp-probe not built ($UDP_PROBE)"
bfedt_init
bfedt_two_hosts 2       # A4 10.202.0.1, B4 10.202.0.2
C4=172.22.0.2           # a peer address in another /8 than A's: the guard's address is the peer's
ip -n "$NS_B" addr add "$C4/32" dev veth0 || die "peer address"
ip -n "$NS_A" route add "$C4/32" dev veth0 || die "route"
bfedt_start_bus
bfedt_start_bfed "$NS_A"
NS=$NS_A
for peer in "$B4" "$C4"; do
        printf '#!/bin/sh\nexec "$@" --bind %s\n' "$peer" >"$BFEDT_TMP/from-$peer"
        chmod +x "$BFEDT_TMP/from-$peer"
done

sl=$(ctl --json sublayer add --name "guarded" --weight 9000 --persistent | jq -r .key) || die "sublayer"

# block NAME LAYER PORT [ADDRESS]: a block of UDP to local (inbound) or remote (outbound) PORT,
# from or to ADDRESS; prints the id
block() {
        local port_field=IP_LOCAL_PORT conds=(--condition IP_PROTOCOL=udp)
        [[ $2 == OUTBOUND_TRANSPORT_V4 ]] && port_field=IP_REMOTE_PORT
        conds+=(--condition "$port_field=$3")
        [[ -n ${4:-} ]] && conds+=(--condition "IP_REMOTE_ADDRESS=$4")
        ctl --json filter add --name "$1" --layer "$2" --sublayer "$sl" --action block --persistent "${conds[@]}" |
                jq -r .id
}

# in_from PEER PORT: 0 when a datagram from PEER to A:PORT arrives
in_from() {
        bfedt_udp_deliver "$NS_A" "$NS_B" "$A4" "$2" 0 600 "$BFEDT_TMP/from-$1"
}

# out_to PEER PORT: 0 when a datagram from A to PEER:PORT arrives
out_to() {
        bfedt_udp_deliver "$NS_B" "$NS_A" "$1" "$2" 0 600
}

# expect_in PEER PORT RC WHAT, expect_out PEER PORT RC WHAT: the delivery's status is RC (0: it
# arrived, 1: it was dropped)
expect_in() { local rc=0; in_from "$1" "$2" || rc=$?; check_eq "$4" "$3" "$rc"; }
expect_out() { local rc=0; out_to "$1" "$2" || rc=$?; check_eq "$4" "$3" "$rc"; }

family_chain() { nsnft list chain inet bfed "$1"; }
guarded() { family_chain "$1" | grep -cE 'addr & 255.0.0.0 (== )?@guard_[0-9]+ jump' || true; }
guard_sets() { nsnft list table inet bfed | grep -A3 'set guard_'; }

bfedt_resolve_neigh "$NS_A" "$B4" "$C4"
bfedt_resolve_neigh "$NS_B" "$A4"

# ---- inbound: the source address (the peer's 172/8, not A's 10/8) ----------------------------------
in1=$(block "in from the peer" INBOUND_TRANSPORT_V4 7301 172.22.0.0/16)
in2=$(block "in from elsewhere" INBOUND_TRANSPORT_V4 7302 192.0.2.0/24)
check_eq "the inbound jump to the sublayer looks the guard up" 1 "$(guarded inbound_transport_v4)"
check "the guard holds 172.0.0.0 and 192.0.0.0" grep -q 'elements = { 172.0.0.0, 192.0.0.0 }' \
        <<<"$(guard_sets)"
expect_in "$C4" 7301 1 "through the guard: the peer's UDP to 7301 is dropped"
expect_in "$C4" 7303 0 "another port arrives"
expect_in "$B4" 7301 0 "a peer outside the guard's /8s arrives (its filter is not its)"
check "explain: the peer's 7301 is blocked by its filter" grep -q "in from the peer" \
        <<<"$(ctl explain INBOUND_TRANSPORT_V4 IP_PROTOCOL=udp IP_LOCAL_PORT=7301 IP_REMOTE_ADDRESS=$C4 2>&1)"

in3=$(block "in from the near peer" INBOUND_TRANSPORT_V4 7301 10.202.0.0/24)
check "a filter under another /8: its element" grep -q '10.0.0.0' \
        <<<"$(guard_sets)"
expect_in "$B4" 7301 1 "and the near peer's UDP to 7301 is dropped"

# a filter without a remote address: the sublayer cannot be guarded
wide=$(block "in from anyone" INBOUND_TRANSPORT_V4 7304)
check_eq "a filter of any address takes the guard off the jump" 0 "$(guarded inbound_transport_v4)"
expect_in "$C4" 7304 1 "and blocks its port from any peer"
expect_in "$C4" 7301 1 "the peer's 7301 stays dropped"
ctl filter delete "$wide" >/dev/null || die "delete"
check_eq "its delete puts the guard back" 1 "$(guarded inbound_transport_v4)"
expect_in "$C4" 7304 0 "7304 arrives again"

ctl filter delete "$in3" >/dev/null || die "delete"
check "the last filter under 10/8 gone: so is its element" bash -c '! grep -q "10.0.0.0" <<<"$1"' _ \
        "$(guard_sets)"
expect_in "$B4" 7301 0 "the near peer's 7301 arrives"

# ---- outbound: the destination address (the peer's, not A's own) ------------------------------------
block "out to the peer" OUTBOUND_TRANSPORT_V4 7311 "$C4" >/dev/null
check_eq "the outbound jump looks its own guard up" 1 "$(guarded outbound_transport_v4)"
expect_out "$C4" 7311 1 "through the guard: UDP to the peer's 7311 is dropped"
expect_out "$C4" 7312 0 "another port arrives"

# ---- a restart writes the guard with the table (the filters are persistent) -----------------------
bfedt_stop_bfed || true
bfedt_start_bfed "$NS_A"
check_eq "after a restart: the inbound jump looks the guard up" 1 "$(guarded inbound_transport_v4)"
check_eq "and the outbound one" 1 "$(guarded outbound_transport_v4)"
expect_in "$C4" 7301 1 "after the restart: the peer's 7301 is dropped"
expect_out "$C4" 7311 1 "after the restart: UDP to the peer's 7311 is dropped"
ctl filter delete "$in1" >/dev/null || die "delete"
ctl filter delete "$in2" >/dev/null || die "delete"
check "the last inbound filters gone: the inbound jump is plain again" \
        grep -q '^[[:space:]]*jump inbound_transport_v4_sl_' <<<"$(family_chain inbound_transport_v4)"

bfedt_done
