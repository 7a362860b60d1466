#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Truth on the wire (issue 9 §3): while an IKE MM policy makes the exemptions active, bfed's
# trace chains mark exempted datagrams, and when another table then drops one, bfed sends
# ExemptedTrafficDropped naming that table and chain, logs a warning and counts it in
# ExemptedDrops (bfectl status). Real datagrams over a veth pair from a peer namespace (not
# loopback, where the trace flag would carry over from output to input): a foreign inet input
# chain at priority 0, an ip raw prerouting chain at -300, an ip6 policy drop, a foreign output
# chain; and no signal when nothing drops, nor for ESP-in-UDP on 4500, nor while the exemptions
# are inactive, when the table has no trace chains at all. Each "no signal" is shown by a later signal: the watch
# reads one socket in order, so a signal the earlier datagram caused would have come first.
source "$(dirname "$0")/lib.sh"

bfedt_require_root
bfedt_require_bfectl
[[ -x "$UDP_PROBE" ]] || die "udp-probe not built ($UDP_PROBE)"
command -v dbus-monitor >/dev/null 2>&1 || skip_all "dbus-monitor not installed"
bfedt_init
bfedt_netns a
NS_A=$REPLY
bfedt_netns b
NS_B=$REPLY
A4=10.204.0.1
B4=10.204.0.2
A6=fd00:bfed:4::1
B6=fd00:bfed:4::2
bfedt_veth "$NS_A" "$NS_B" "$A4/24" "$B4/24" "$A6/64" "$B6/64"
bfedt_start_bus
bfedt_start_bfed "$NS_A"

# Neighbours resolved both ways before any table drops anything.
ip netns exec "$NS_B" "$UDP_PROBE" send --to "$A4" --port 9 --payload warmup
ip netns exec "$NS_B" "$UDP_PROBE" send --to "$A6" --port 9 --payload warmup
ip netns exec "$NS_A" "$UDP_PROBE" send --to "$B4" --port 9 --payload warmup
bfedt_wait_neigh "$NS_B" "$A4" && bfedt_wait_neigh "$NS_B" "$A6" && bfedt_wait_neigh "$NS_A" "$B4" ||
        die "neighbour resolution did not finish"

# ExemptedTrafficDropped signals, one TSV line each: table, chain, verdict, packet.
SIG=$BFEDT_TMP/signals
dbus-monitor --address "$BUS_ADDR" "type='signal',sender='$BFED_NAME',member='ExemptedTrafficDropped'" \
        >"$SIG" 2>&1 &
BFEDT_PIDS+=($!)
bfedt_wait_line "$SIG" 'member=NameLost' || die "dbus-monitor did not become a monitor: $(cat "$SIG")"

signals() {
        awk '/member=ExemptedTrafficDropped/ { n = 0; next }
             n < 4 && /^   string "/ { sub(/^   string "/, ""); sub(/"$/, ""); f[n++] = $0
                                      if (n == 4) print f[0] "\t" f[1] "\t" f[2] "\t" f[3] }' "$SIG"
}
_has_signal() {
        signals | grep -qF "$1"
}
# wait_signal TABLE CHAIN: waits (5 s) for a signal about TABLE's CHAIN; prints its line.
wait_signal() {
        if ! bfedt_poll 5000 _has_signal "$1"$'\t'"$2"$'\t'; then
                diag "no signal about $1 $2; signals: $(signals | paste -sd'|')"
                return 1
        fi
        signals | grep -F "$1"$'\t'"$2"$'\t' | head -n1
}
# drops TABLE CHAIN: ExemptedDrops' count for the chain (0 when absent).
drops() {
        bus_json_prop ExemptedDrops | jq -r --arg t "$1" --arg c "$2" \
                '[.data[] | select(.[0] == $t and .[1] == $c) | .[2]] | add // 0'
}
bus_json_prop() {
        busctl --address="$BUS_ADDR" --json=short get-property "$BFED_NAME" "$BFED_PATH" "$BFED_IFACE" "$1"
}
trace_chains() {
        nsnft list table inet "$TABLE" | grep -cE 'chain ike_trace|nftrace'
}
# dropped RECV_NS SEND_NS DST PORT [SPORT]: the datagram did not arrive
dropped() {
        local rc=0
        bfedt_udp_deliver "$1" "$2" "$3" "$4" "${5:-0}" 400 || rc=$?
        ((rc == 1))
}
arrives() {
        bfedt_udp_deliver "$1" "$2" "$3" "$4" "${5:-0}" 2000
}

# ---- the exemptions inactive: no trace chains, no signal --------------------------------------
nsnft -f - <<EOF
table inet fw_in { chain input { type filter hook input priority 0; udp dport 500 drop; }; }
EOF
check_eq "no MM policy: the exemptions are inactive" "false" "$(exemptions_active)"
check_eq "no MM policy: no trace chain, no nftrace rule" "0" "$(trace_chains)"
check "no MM policy: inet fw_in drops UDP 500" dropped "$NS_A" "$NS_B" "$A4" 500

# ---- active, and nothing drops: no signal -------------------------------------------------------
ctx=$(add_context "ike main mode" 5)
read -r _ mm_id < <(add_ctx_filter "ike mm policy" IKEEXT_V4 "$ctx")
check_eq "MM policy: the exemptions are active" "true" "$(exemptions_active)"
check_eq "MM policy: the three trace chains and the nftrace rule" "4" "$(trace_chains)"
trace_hooks() {
        nsnft -j list table inet "$TABLE" | jq -c '[.nftables[] | .chain? | select(.name // "" | startswith("ike_trace_"))
                | "\(.name) \(.hook) \(.prio)"]'
}
check_eq "the trace chains hook prerouting and output at -399" \
        '["ike_trace_inbound prerouting -399","ike_trace_outbound output -399"]' "$(trace_hooks)"
nsnft delete table inet fw_in
nsnft -f - <<EOF
table inet fw_ok { chain input { type filter hook input priority 0; policy drop; udp dport 500 accept;
        meta l4proto icmp accept; }; }
EOF
check "a table that accepts UDP 500 before its drop policy lets it through" arrives "$NS_A" "$NS_B" "$A4" 500
nsnft delete table inet fw_ok

# ---- a foreign inet input chain at priority 0 ----------------------------------------------------
nsnft -f - <<EOF
table inet fw_in { chain input { type filter hook input priority 0; udp dport 500 drop; }; }
EOF
check "inet fw_in drops UDP 500 again" dropped "$NS_A" "$NS_B" "$A4" 500
line=$(wait_signal "inet fw_in" input)
check "ExemptedTrafficDropped names table inet fw_in, chain input" test -n "$line"
check "... and it is the first signal: none for the datagrams before" \
        bash -c "[[ \"\$(head -n1 <<<'$(signals)')\" == 'inet fw_in'$'\t'* ]]"
IFS=$'\t' read -r _ _ verdict packet <<<"$line"
check "... the verdict is the rule's drop ($verdict)" bash -c "[[ '$verdict' =~ ^rule\ handle\ [0-9]+:\ drop$ ]]"
check "... the packet is the datagram ($packet)" bash -c "[[ '$packet' =~ ^ipv4\ udp\ $B4:[0-9]+\ -\>\ $A4:500\ in$ ]]"
check "ExemptedDrops counts it" test "$(drops "inet fw_in" input)" -ge 1
check "the log has the warning" \
        bfedt_wait_log "warning: Table inet fw_in, chain input dropped an exempted IKE datagram" 1
check "bfectl status shows the count" bash -c "ctl() { DBUS_SYSTEM_BUS_ADDRESS='$BUS_ADDR' '$BFECTL' \"\$@\"; };
        ctl status | grep -E '^Exempted drops: +[0-9]+ by table inet fw_in, chain input$'"
check "bfectl --json status too" bash -c "DBUS_SYSTEM_BUS_ADDRESS='$BUS_ADDR' '$BFECTL' --json status |
        jq -e '.exempted_drops[] | select(.table == \"inet fw_in\" and .chain == \"input\" and .count >= 1)' >/dev/null"

# ---- an ip raw prerouting chain at -300: before conntrack and before bfed's own chains -------
nsnft -f - <<EOF
table ip rawt { chain pre { type filter hook prerouting priority raw; udp dport 4500 drop; }; }
EOF
# an IKE message on 4500 starts with the non-ESP marker, four zero bytes
ip netns exec "$NS_B" "$UDP_PROBE" send --to "$A4" --port 4500 --non-esp --payload ike --count 1
line=$(wait_signal "ip rawt" pre)
check "ExemptedTrafficDropped names table ip rawt, chain pre" test -n "$line"
IFS=$'\t' read -r _ _ verdict packet <<<"$line"
check "... the packet is the IKE datagram to 4500 ($packet)" \
        bash -c "[[ '$packet' =~ ^ipv4\ udp\ $B4:[0-9]+\ -\>\ $A4:4500\ in$ ]]"
# ESP-in-UDP (an SPI where the marker would be) is not traced: counted below, after a later signal
check "ip rawt drops ESP-in-UDP on 4500 too" dropped "$NS_A" "$NS_B" "$A4" 4500

# ---- IPv6, a policy drop --------------------------------------------------------------------------
nsnft -f - <<EOF
table ip6 fw6 { chain input { type filter hook input priority 0; policy drop;
        icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept; }; }
EOF
check "ip6 fw6's policy drops UDP 500 over IPv6" dropped "$NS_A" "$NS_B" "$A6" 500
line=$(wait_signal "ip6 fw6" input)
IFS=$'\t' read -r _ _ verdict packet <<<"$line"
check_eq "ExemptedTrafficDropped names ip6 fw6's policy" "policy drop" "$verdict"
check "... and the IPv6 datagram ($packet)" bash -c "[[ '$packet' == 'ipv6 udp [$B6]:'*' -> [$A6]:500 in' ]]"
check_eq "ESP-in-UDP was not traced: ip rawt counted the IKE datagram alone" "1" "$(drops "ip rawt" pre)"
nsnft delete table ip6 fw6

# ---- the way out: a foreign output chain ----------------------------------------------------------
nsnft -f - <<EOF
table inet fw_out { chain output { type filter hook output priority 0; udp sport 500 drop; }; }
EOF
check "inet fw_out drops what A sends from UDP 500" dropped "$NS_B" "$NS_A" "$B4" 7000 500
line=$(wait_signal "inet fw_out" output)
IFS=$'\t' read -r _ _ verdict packet <<<"$line"
check_eq "ExemptedTrafficDropped names the datagram on its way out" "ipv4 udp $A4:500 -> $B4:7000 out" "$packet"
nsnft delete table inet fw_out

# ---- the table with its trace chains is what bfed's comparison expects, and nft reads it back ------
bfedt_lose_events
bfedt_resume_events
check "after lost events bfed finds its table, trace chains and all, as it must be" \
        bfedt_wait_log "table inet $TABLE is as it must be" 1
check "no line says it differs" bash -c "! grep -q 'is not as it must be' '$BFED_LOG'"
bfedt_netns c
NS_C=$REPLY
# without what only an owner table has (its flags, the owner's name), and blank lines
plain() { sed '1s/ # progname .*//; /^\tflags /d; /^$/d'; }
nsnft list table inet "$TABLE" | plain >"$BFEDT_TMP/listing"
if ip netns exec "$NS_C" nft -f "$BFEDT_TMP/listing" 2>"$BFEDT_TMP/reload.err"; then
        check "nft reads the listing back to the same listing" \
                cmp -s "$BFEDT_TMP/listing" <(ip netns exec "$NS_C" nft list table inet "$TABLE" | plain)
else
        not_ok "nft reads the listing back: $(head -n3 "$BFEDT_TMP/reload.err")"
fi

# ---- inactive again: the chains go, and nothing is traced ------------------------------------------
before=$(drops "inet fw_in" input)
check "MM filter deleted" bus DeleteFilterById t "$mm_id"
check_eq "no MM policy: the exemptions are inactive again" "false" "$(exemptions_active)"
check_eq "no MM policy: the trace chains and the nftrace rule are gone" "0" "$(trace_chains)"
check "inet fw_in drops UDP 500 (untraced)" dropped "$NS_A" "$NS_B" "$A4" 500
# the marker: active again, a datagram that a chain of a new table drops first
read -r _ mm_id < <(add_ctx_filter "ike mm policy" IKEEXT_V4 "$ctx")
nsnft -f - <<EOF
table ip marker { chain pre { type filter hook prerouting priority raw; udp dport 500 drop; }; }
EOF
check "ip marker drops UDP 500 before anything else" dropped "$NS_A" "$NS_B" "$A4" 500
check "its signal arrives" wait_signal "ip marker" pre
check_eq "inet fw_in counted nothing while the exemptions were inactive" "$before" "$(drops "inet fw_in" input)"

bfedt_done
