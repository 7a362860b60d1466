#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Real packets: two namespaces joined by a veth pair; bfed on side "a" blocks all inbound UDP
# (INBOUND_TRANSPORT_V4/V6, weight range 0). IKE datagrams from the peer get through only
# while an MM policy exists: UDP 500 (v4 and v6) and 4500 (v4 only). Source port 500 to
# another local port never does.
source "$(dirname "$0")/lib.sh"

bfedt_require_root
[[ -x "$UDP_PROBE" ]] || die "udp-probe not built ($UDP_PROBE)"
bfedt_init
bfedt_netns a
NS_A=$REPLY
bfedt_netns b
NS_B=$REPLY

A4=10.200.0.1
B4=10.200.0.2
A6=fd00:bfed::1
B6=fd00:bfed::2

# The veth pair: test-only addresses, reachable only between these two namespaces.
ip link add "vbfa$$" netns "$NS_A" type veth peer name "vbfb$$" netns "$NS_B" || die "veth pair"
ip -n "$NS_A" link set "vbfa$$" name veth0
ip -n "$NS_B" link set "vbfb$$" name veth0
ip -n "$NS_A" addr add "$A4/24" dev veth0
ip -n "$NS_B" addr add "$B4/24" dev veth0
ip -n "$NS_A" addr add "$A6/64" dev veth0 nodad
ip -n "$NS_B" addr add "$B6/64" dev veth0 nodad
ip -n "$NS_A" link set veth0 up
ip -n "$NS_B" link set veth0 up

bfedt_start_bus
bfedt_start_bfed "$NS_A"

# deliver DST PORT SPORT TIMEOUT_MS: one probe; returns 0 when A's socket on DST:PORT got
# the peer's datagram within TIMEOUT_MS. SPORT 0 = any source port.
deliver() {
        local dst="$1" port="$2" sport="$3" timeout="$4" out="$BFEDT_TMP/recv.out" pid rc i
        : >"$out"
        ip netns exec "$NS_A" "$UDP_PROBE" recv --bind "$dst" --port "$port" --timeout-ms "$timeout" \
                >"$out" 2>&1 &
        pid=$!
        for i in $(seq 100); do
                grep -q '^ready' "$out" && break
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.02
        done
        if ! grep -q '^ready' "$out"; then
                wait "$pid"
                diag "udp-probe recv did not start: $(cat "$out")"
                return 2
        fi
        local sargs=()
        ((sport > 0)) && sargs=(--sport "$sport")
        ip netns exec "$NS_B" "$UDP_PROBE" send --to "$dst" --port "$port" "${sargs[@]}" \
                --payload "probe to $port" --count 3
        wait "$pid"
        rc=$?
        grep '^from' "$out" | head -n1 | sed 's/^/#   /'
        return "$rc"
}

# expect_pass / expect_drop DESCRIPTION DST PORT [SPORT]
expect_pass() {
        if deliver "$2" "$3" "${4:-0}" 2000; then ok "$1"; else not_ok "$1"; fi
}
expect_drop() {
        local rc=0
        deliver "$2" "$3" "${4:-0}" 400 || rc=$?
        case $rc in
        0) not_ok "$1 (datagram got through)" ;;
        1) ok "$1" ;;
        *) not_ok "$1 (probe failed)" ;;
        esac
}

# Warm up ARP/ND so that no probe waits on neighbour resolution (UDP is not blocked yet).
ip netns exec "$NS_B" "$UDP_PROBE" send --to "$A4" --port 9 --payload warmup
ip netns exec "$NS_B" "$UDP_PROBE" send --to "$A6" --port 9 --payload warmup
bfedt_wait_neigh "$NS_B" "$A4" && bfedt_wait_neigh "$NS_B" "$A6" ||
        die "neighbour resolution did not finish: $(ip -n "$NS_B" neigh show | paste -sd';')"

check "unfiltered: UDP 500 over IPv4 arrives (sanity)" deliver "$A4" 500 0 2000
check "unfiltered: UDP 500 over IPv6 arrives (sanity)" deliver "$A6" 500 0 2000

read -r _ b4 < <(add_block_udp "block inbound udp v4" INBOUND_TRANSPORT_V4 0)
read -r _ b6 < <(add_block_udp "block inbound udp v6" INBOUND_TRANSPORT_V6 0)
check "block filters for all inbound UDP added (ids $b4, $b6)" test -n "$b4" -a -n "$b6"

expect_drop "no MM policy: UDP 500 over IPv4 dropped" "$A4" 500
expect_drop "no MM policy: UDP 500 over IPv6 dropped" "$A6" 500
expect_drop "no MM policy: UDP 4500 over IPv4 dropped" "$A4" 4500
expect_drop "no MM policy: UDP 4500 over IPv6 dropped" "$A6" 4500

ctx=$(add_context "ike main mode" 5)
read -r mm_key mm_id < <(add_ctx_filter "ike mm policy" IKEEXT_V4 "$ctx")
check_eq "MM policy added: ExemptionsActive" "true" "$(exemptions_active)"

expect_pass "MM policy: UDP 500 over IPv4 received" "$A4" 500
expect_pass "MM policy: UDP 500 over IPv6 received" "$A6" 500
expect_pass "MM policy: UDP 4500 over IPv4 received" "$A4" 4500
expect_drop "MM policy: UDP 4500 over IPv6 still dropped" "$A6" 4500
expect_drop "MM policy: source port 500 to local port 9999 (IPv4) still dropped" "$A4" 9999 500
expect_drop "MM policy: source port 500 to local port 9999 (IPv6) still dropped" "$A6" 9999 500
expect_drop "MM policy: source port 4500 to local port 9998 (IPv4) still dropped" "$A4" 9998 4500
expect_drop "MM policy: other UDP port (IPv4 5000) still dropped" "$A4" 5000

check "MM filter deleted" bus DeleteFilterById t "$mm_id"
check_eq "MM policy gone: ExemptionsActive" "false" "$(exemptions_active)"

expect_drop "MM policy gone: UDP 500 over IPv4 dropped again" "$A4" 500
expect_drop "MM policy gone: UDP 500 over IPv6 dropped again" "$A6" 500
expect_drop "MM policy gone: UDP 4500 over IPv4 dropped again" "$A4" 4500

bfedt_done
