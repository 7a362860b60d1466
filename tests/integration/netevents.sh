#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Net events (issue 9 §4, FwpmNetEventSubscribe0 for bfed's own drops), with real datagrams over a
# veth pair from a peer namespace and every signal read off the real bus (busctl monitor):
#  - nobody subscribed: no log statement in the ruleset;
#  - `bfectl monitor --drops` (libbfe) subscribes: the rules that drop log, the permit does not;
#    each drop is one NetEvent to the subscriber alone, with the filter's id, its layer and the
#    packet's 5-tuple: a filter's own rule, the members of a run, IPv6, the way out; the text
#    output too;
#  - templates: a filter's id, an IP version;
#  - a flood: at most 100 events a second a subscription, the rest counted in `suppressed`, and
#    every drop accounted for (events + suppressed = the rule's counter);
#  - UnsubscribeNetEvents, and a subscriber that leaves the bus: no NetEvent for it after, and
#    when the last one goes, no log statement in the ruleset again;
#  - lost nftables events while subscribed: the table, log statements and all, is as it must be;
#  - errors: a bad template, an unknown or another connection's subscription, the nflog group
#    taken by another program; an unprivileged caller, stopped by the bus policy and by bfed;
#  - a table bfed leaves behind (KeepTable=yes) has no log statements.
source "$(dirname "$0")/lib.sh"

: "${NETEV_CLIENT:=$SOURCE_ROOT/build/tests/tools/netev-client}"
: "${NFLOG_CAPTURE:=$SOURCE_ROOT/build/tests/tools/nflog-capture}"

bfedt_require_root
bfedt_require_bfectl
[[ -x "$UDP_PROBE" && -x "$NETEV_CLIENT" && -x "$NFLOG_CAPTURE" ]] || die "test tools not built"
bfedt_init
bfedt_netns a
NS_A=$REPLY
bfedt_netns b
NS_B=$REPLY
A4=10.208.0.1
B4=10.208.0.2
A6=fd00:bfed:8::1
B6=fd00:bfed:8::2
bfedt_veth "$NS_A" "$NS_B" "$A4/24" "$B4/24" "$A6/64" "$B6/64"
bfedt_start_bus
bfedt_start_bfed "$NS_A"

# ---- the filters ----------------------------------------------------------------------------

# add_filter NAME LAYER ACTION CONDITION...: prints the filter's id (each CONDITION is
# "FIELD MATCH VALUE", word-split on purpose)
add_filter() {
        local name="$1" layer="$2" action="$3" n=$(($# - 3)) cond args=()
        shift 3
        for cond in "$@"; do
                # shellcheck disable=SC2206
                args+=($cond)
        done
        bus_json AddFilter 'a{sv}' 4 Name s "$name" Layer s "$layer" Action u "$action" \
                Conditions 'a(sus)' "$n" "${args[@]}" | jq -r '.data[1]'
}
BLOCK=4097
PERMIT=4098
plain=$(add_filter "block 7001" INBOUND_TRANSPORT_V4 $BLOCK "IP_PROTOCOL 0 udp" "IP_LOCAL_PORT 0 7001")
# like ones after it: the first of them starts a run, the others join it (a set's elements)
run_a=$(add_filter "block 7002" INBOUND_TRANSPORT_V4 $BLOCK "IP_PROTOCOL 0 udp" "IP_LOCAL_PORT 0 7002")
run_b=$(add_filter "block 7003" INBOUND_TRANSPORT_V4 $BLOCK "IP_PROTOCOL 0 udp" "IP_LOCAL_PORT 0 7003")
run_c=$(add_filter "block 7004" INBOUND_TRANSPORT_V4 $BLOCK "IP_PROTOCOL 0 udp" "IP_LOCAL_PORT 0 7004")
permit=$(add_filter "permit 7010" INBOUND_TRANSPORT_V4 $PERMIT "IP_PROTOCOL 0 udp" "IP_LOCAL_PORT 0 7010")
six=$(add_filter "block 7001 v6" INBOUND_TRANSPORT_V6 $BLOCK "IP_PROTOCOL 0 udp" "IP_LOCAL_PORT 0 7001")
out=$(add_filter "block out 7005" OUTBOUND_TRANSPORT_V4 $BLOCK "IP_PROTOCOL 0 udp" "IP_REMOTE_PORT 0 7005")
# a shape of its own (no run): its rule's counter counts the flood
flood=$(add_filter "block flood" INBOUND_TRANSPORT_V4 $BLOCK "IP_PROTOCOL 0 udp" "IP_LOCAL_PORT 0 7100" \
        "IP_REMOTE_PORT 0 40100")
for id in "$plain" "$run_a" "$run_b" "$run_c" "$permit" "$six" "$out" "$flood"; do
        [[ "$id" =~ ^[0-9]+$ ]] || die "AddFilter failed"
done
check "filters 7002 to 7004 are a run" grep -q 'set run_' <<<"$(nsnft list table inet "$TABLE")"

# test_gt CMD VALUE: CMD prints a number greater than VALUE
test_gt() {
        (($($1) > $2))
}

# log_rules: how many rules of bfed's table have a log statement
log_rules() {
        nsnft list table inet "$TABLE" | grep -c ' log prefix "bfed ' || true
}
no_log_rules() {
        [[ "$(log_rules)" == 0 ]]
}
check_eq "nobody subscribed: no log statement in the ruleset" 0 "$(log_rules)"

# ---- the bus, watched -------------------------------------------------------------------------

CAP="$BFEDT_TMP/bus.json"
busctl --address="$BUS_ADDR" monitor --json=short "$BFED_NAME" >"$CAP" 2>"$CAP.err" &
BFEDT_PIDS+=($!)
bfedt_wait_line "$CAP.err" 'Monitoring' || die "busctl monitor did not start"
MARKER=900000000
# cap_sync: returns once the capture holds everything bfed sent before the call: bfed answers a
# call after the signals it sent before reading it, and one connection's messages keep their order
cap_sync() {
        MARKER=$((MARKER + 1))
        bus GetFilterById t "$MARKER" >/dev/null 2>&1
        bfedt_wait_line "$CAP" "no filter with id $MARKER\"" || not_ok "the bus capture caught up"
}
# net_events_to NAME: the NetEvent signals in the capture sent to connection NAME, as JSON arrays
net_events_to() {
        jq -c --arg d "$1" 'select(.member == "NetEvent" and .destination == $d) | .payload.data' "$CAP"
}

# send NS DST PORT SPORT [COUNT]: datagrams (the sender's own output hook may refuse them: fine)
send() {
        ip netns exec "$1" "$UDP_PROBE" send --to "$2" --port "$3" --sport "$4" --payload drop --count "${5:-1}" \
                >/dev/null 2>&1 || true
}
ip netns exec "$NS_B" "$UDP_PROBE" send --to "$A4" --port 9 --payload warmup >/dev/null 2>&1
bfedt_wait_neigh "$NS_B" "$A4" || die "neighbour resolution did not finish"

# ---- bfectl monitor --drops ------------------------------------------------------------------

DROPS="$BFEDT_TMP/drops.json"
DBUS_SYSTEM_BUS_ADDRESS="$BUS_ADDR" "$BFECTL" --json monitor --drops >"$DROPS" 2>"$DROPS.err" &
DROPS_PID=$!
BFEDT_PIDS+=("$DROPS_PID")
bfedt_wait_line "$DROPS.err" '^Monitoring bfed drops' || die "bfectl monitor --drops did not start: $(cat "$DROPS.err")"
DROPS_NAME=$(bfedt_bus_name "$DROPS_PID")
# the plain block, the run, the IPv6 and the outbound block, the flood's: 5 rules
check_eq "subscribed: every rule that drops logs, the permit does not" 5 "$(log_rules)"
check "the permit's rule has no log statement" \
        grep -q "dport 7010 counter packets [0-9]* bytes [0-9]* return" <<<"$(nsnft list table inet "$TABLE")"

# drop_seen FILE SPORT: a JSON event of FILE from remote (or local, outbound) port SPORT
drop_seen() {
        jq -s -e --argjson p "$2" 'any(.remote_port == $p or .local_port == $p)' "$1" >/dev/null 2>&1
}
expect_drop() {
        local what="$1" sport="$2" want="$3" got
        if ! bfedt_poll 5000 drop_seen "$DROPS" "$sport"; then
                not_ok "$what: a NetEvent came"
                return
        fi
        got=$(jq -c --argjson p "$sport" 'select(.remote_port == $p or .local_port == $p) |
                [.filter_id, .layer, .direction, .ip_version, .protocol, .local_address, .local_port,
                 .remote_address, .remote_port]' "$DROPS" | head -n1)
        check_eq "$what: filter, layer and 5-tuple" "$want" "$got"
}
send "$NS_B" "$A4" 7001 40001
expect_drop "a filter's own rule" 40001 "[$plain,\"INBOUND_TRANSPORT_V4\",\"in\",4,17,\"$A4\",7001,\"$B4\",40001]"
send "$NS_B" "$A4" 7002 40002
expect_drop "a run's member, by its element" 40002 \
        "[$run_a,\"INBOUND_TRANSPORT_V4\",\"in\",4,17,\"$A4\",7002,\"$B4\",40002]"
send "$NS_B" "$A4" 7004 40004
expect_drop "another member of the run" 40004 "[$run_c,\"INBOUND_TRANSPORT_V4\",\"in\",4,17,\"$A4\",7004,\"$B4\",40004]"
send "$NS_B" "$A6" 7001 40006
expect_drop "IPv6" 40006 "[$six,\"INBOUND_TRANSPORT_V6\",\"in\",6,17,\"$A6\",7001,\"$B6\",40006]"
send "$NS_A" "$B4" 7005 40005
expect_drop "the way out" 40005 "[$out,\"OUTBOUND_TRANSPORT_V4\",\"out\",4,17,\"$A4\",40005,\"$B4\",7005]"
check "a permitted datagram is delivered" bfedt_udp_deliver "$NS_A" "$NS_B" "$A4" 7010 40010 3000
cap_sync
check_eq "the signals went to the subscriber alone, one a drop" \
        "$(jq -c 'select(.member == "NetEvent")' "$CAP" | wc -l)" "$(net_events_to "$DROPS_NAME" | wc -l)"
check "the NetEvent on the bus: subscription, time, filter, layer, direction, 5-tuple, suppressed" \
        jqq -s --argjson id "$plain" 'map(select(.[2] == $id)) | length == 1 and (.[0] | (.[0] > 0) and
                (.[1] > 1600000000000000) and .[3] == "INBOUND_TRANSPORT_V4" and .[4] == "in" and .[5] == 4 and
                .[6] == 17 and .[8] == 7001 and .[10] == 40001 and .[11] == 0)' <<<"$(net_events_to "$DROPS_NAME")"

# ---- templates, the text form ----------------------------------------------------------------

# client OUTFILE [ARGS...]: a netev-client in the background; CLIENT_PID, CLIENT_NAME
client() {
        local outf="$1"
        shift
        DBUS_SYSTEM_BUS_ADDRESS="$BUS_ADDR" "$NETEV_CLIENT" "$@" >"$outf" 2>&1 &
        CLIENT_PID=$!
        BFEDT_PIDS+=("$CLIENT_PID")
        bfedt_wait_line "$outf" '^(subscribed|error)' || die "netev-client did not start"
        CLIENT_NAME=$(bfedt_bus_name "$CLIENT_PID")
}
client "$BFEDT_TMP/one.out" --filter "$run_b"
ONE_PID=$CLIENT_PID ONE_NAME=$CLIENT_NAME
client "$BFEDT_TMP/v6.out" --ip-version 6
V6_PID=$CLIENT_PID V6_NAME=$CLIENT_NAME
TEXT="$BFEDT_TMP/drops.txt"
DBUS_SYSTEM_BUS_ADDRESS="$BUS_ADDR" "$BFECTL" monitor --drops --layer inbound_transport_v4 >"$TEXT" 2>"$TEXT.err" &
TEXT_PID=$!
BFEDT_PIDS+=("$TEXT_PID")
bfedt_wait_line "$TEXT.err" '^Monitoring bfed drops' || die "bfectl monitor --drops --layer did not start"
send "$NS_B" "$A4" 7004 41004
send "$NS_B" "$A4" 7003 41003
send "$NS_B" "$A6" 7001 41006
bfedt_poll 5000 drop_seen "$DROPS" 41006 || not_ok "the unfiltered subscriber got the IPv6 drop"
check "template FilterId: its filter's drop" bfedt_wait_line "$BFEDT_TMP/one.out" " 7003 $B4 41003 " 3000
check "template IpVersion 6: the IPv6 drop" bfedt_wait_line "$BFEDT_TMP/v6.out" " 7001 $B6 41006 " 3000
check "bfectl monitor --drops prints a line" bfedt_wait_line "$TEXT" \
        "^dropped udp $B4:41003 -> $A4:7003 in by filter $run_b at INBOUND_TRANSPORT_V4\$" 3000
cap_sync
check_eq "template FilterId: nothing else" 1 "$(grep -c '^event' "$BFEDT_TMP/one.out")"
check_eq "template IpVersion 6: nothing else" 1 "$(grep -c '^event' "$BFEDT_TMP/v6.out")"
check_eq "template Layer: no IPv6 drop" 0 "$(grep -c 41006 "$TEXT")"

# ---- a flood: the rate limit, and every drop accounted for -----------------------------------

client "$BFEDT_TMP/flood.out" --filter "$flood"
FLOOD_OUT="$BFEDT_TMP/flood.out"
# flood_counter: packets the flood filter's rule counted
flood_counter() {
        nsnft -j list table inet "$TABLE" | jq --arg c "filter $flood: block flood" \
                '[.nftables[] | select(.rule.comment? == $c) | .rule.expr[] | select(.counter?) | .counter.packets]
                 | add'
}
# suppressed_reported: an event of the flood came with a count of suppressed ones (a new second);
# sends a datagram each try, so that one comes once the rate's second is over
suppressed_reported() {
        send "$NS_B" "$A4" 7100 40100
        awk '$1 == "event" && $11 > 0 { found = 1 } END { exit !found }' "$FLOOD_OUT"
}
# accounted: every drop the rule counted is an event or counted in one's suppressed
accounted() {
        [[ "$(awk '$1 == "event" { n += 1 + $11 } END { print n + 0 }' "$FLOOD_OUT")" == "$(flood_counter)" ]]
}
send "$NS_B" "$A4" 7100 40100 5000
check "flood: a later event reports the suppressed ones" bfedt_poll 10000 suppressed_reported
check "flood: every drop is an event or counted as suppressed" bfedt_poll 5000 accounted
events=$(grep -c '^event' "$FLOOD_OUT")
first=$(awk '$1 == "event" { n++; if ($11 > 0) { print n - 1; exit } }' "$FLOOD_OUT")
diag "flood: $(flood_counter) drops, $events events"
check "flood: at most 100 events before the first second ended" test "$first" -le 100
check "flood: far fewer events than drops" test "$events" -lt 1000
check_eq "flood: the rule dropped all 5000 and the datagrams after" 1 "$(($(flood_counter) >= 5000))"

# ---- unsubscribe, disconnect ------------------------------------------------------------------

kill -USR1 "$ONE_PID"
check "UnsubscribeNetEvents" bfedt_wait_line "$BFEDT_TMP/one.out" '^unsubscribed' 3000
kill -TERM "$V6_PID"
wait "$V6_PID" 2>/dev/null
check "the IPv6 subscriber left the bus" bfedt_wait_peer_gone "$V6_NAME"
cap_sync
before_one=$(net_events_to "$ONE_NAME" | wc -l)
before_v6=$(net_events_to "$V6_NAME" | wc -l)
send "$NS_B" "$A4" 7003 42003
send "$NS_B" "$A6" 7001 42006
bfedt_poll 5000 drop_seen "$DROPS" 42006 || not_ok "the remaining subscriber got the drops"
cap_sync
check_eq "after UnsubscribeNetEvents: no NetEvent to that connection" "$before_one" \
        "$(net_events_to "$ONE_NAME" | wc -l)"
check_eq "after the subscriber left the bus: no NetEvent to it" "$before_v6" "$(net_events_to "$V6_NAME" | wc -l)"
check_eq "the rules still log for the other subscribers" 5 "$(log_rules)"

# ---- lost nftables events while subscribed: the table, log statements and all, as it must be ----

# bfed listens to nftables events while the exemptions are active (with the owner flag)
ctx=$(add_context "ike main mode" 5)
add_ctx_filter "ike mm policy" IKEEXT_V4 "$ctx" >/dev/null
check_eq "an MM policy: the exemptions are active" "true" "$(exemptions_active)"
notices=$(bfedt_log_count 'is as it must be')
bfedt_lose_events
bfedt_resume_events
check "after lost events bfed compared its table: as it must be" \
        bfedt_wait_log 'is as it must be' $((notices + 1)) 20000
check_eq "not restored" 0 "$(bfedt_log_count 'not as it must be')"

# ---- errors ----------------------------------------------------------------------------------

err_name() {
        bus_error "$@" | cut -f1
}
check_eq "an unknown template key" org.freedesktop.DBus.Error.InvalidArgs \
        "$(err_name SubscribeNetEvents 'a{sv}' 1 Table s x)"
check_eq "a layer that sees no packets" org.bfed.Error.NeverMatch \
        "$(err_name SubscribeNetEvents 'a{sv}' 1 Layer s IKEEXT_V4)"
check_eq "a layer of the other IP version" org.bfed.Error.NeverMatch \
        "$(err_name SubscribeNetEvents 'a{sv}' 2 Layer s INBOUND_TRANSPORT_V6 IpVersion y 4)"
check_eq "no such layer" org.bfed.Error.LayerNotFound "$(err_name SubscribeNetEvents 'a{sv}' 1 Layer s NOPE)"
check_eq "IP version 5" org.bfed.Error.InvalidParameter "$(err_name SubscribeNetEvents 'a{sv}' 1 IpVersion y 5)"
check_eq "an unknown subscription" org.bfed.Error.NotFound "$(err_name UnsubscribeNetEvents t 4242)"
check_eq "another connection's subscription" org.bfed.Error.NotFound "$(err_name UnsubscribeNetEvents t 1)"

NOBODY_GROUP=$(id -gn nobody 2>/dev/null)
if command -v setpriv >/dev/null 2>&1 && [[ -n "$NOBODY_GROUP" ]]; then
        nobody_subscribes() {
                setpriv --reuid=nobody --regid="$NOBODY_GROUP" --clear-groups --inh-caps=-all \
                        env SYSTEMD_LOG_LEVEL=debug busctl --address="$BUS_ADDR" call "$BFED_NAME" "$BFED_PATH" \
                        "$BFED_IFACE" SubscribeNetEvents 'a{sv}' 0 2>&1
        }
        # the shipped policy lets anyone call; bfed refuses, polkit (not on this bus) not saying yes
        out=$(nobody_subscribes)
        check_eq "nobody: refused by bfed itself (no polkitd: no yes)" \
                "org.freedesktop.DBus.Error.AccessDenied by bfed" \
                "$(bfedt_parse_error "$out" | cut -f1) by $([[ "$(bfedt_error_sender "$out")" == org.freedesktop.DBus ]] &&
                        echo bus || echo bfed)"
        check "bfed logged the refusal" bfedt_wait_log 'Refused SubscribeNetEvents' 1
fi

# ---- the last ones leave: the log statements go -----------------------------------------------

kill -TERM "$DROPS_PID" "$TEXT_PID" "$CLIENT_PID" "$ONE_PID" 2>/dev/null
wait "$DROPS_PID" "$TEXT_PID" "$CLIENT_PID" "$ONE_PID" 2>/dev/null
check "the last subscriber gone: no log statement in the ruleset" bfedt_poll 5000 no_log_rules
cap_sync
before=$(jq -c 'select(.member == "NetEvent")' "$CAP" | wc -l)
# plain_drops: what the plain block's rule counted
plain_drops() {
        nsnft list table inet "$TABLE" | sed -n 's/.*udp dport 7001 counter packets \([0-9]*\) .*/\1/p' | head -n1
}
dropped_before=$(plain_drops)
send "$NS_B" "$A4" 7001 43001
check "without subscribers the drop still happens" bfedt_poll 5000 test_gt plain_drops "$dropped_before"
cap_sync
check_eq "no NetEvent after the subscribers left" "$before" "$(jq -c 'select(.member == "NetEvent")' "$CAP" | wc -l)"

# ---- the group taken by another program ---------------------------------------------------------

ip netns exec "$NS_A" "$NFLOG_CAPTURE" 49133 - 1 60000 >"$BFEDT_TMP/taker.out" 2>&1 &
TAKER=$!
BFEDT_PIDS+=("$TAKER")
bfedt_wait_line "$BFEDT_TMP/taker.out" '^ready$' || die "nflog-capture did not bind the group"
check_eq "the nflog group taken: NetEventsDisabled" org.bfed.Error.NetEventsDisabled \
        "$(err_name SubscribeNetEvents 'a{sv}' 0)"
check_eq "and the ruleset is as it was" 0 "$(log_rules)"
kill "$TAKER" 2>/dev/null
wait "$TAKER" 2>/dev/null

# (with -Db_sanitize: no leak at exit, no sanitizer report on the way)
check "bfed stops cleanly" bfedt_stop_bfed
check_eq "no sanitizer report in bfed's log" 0 "$(bfedt_log_count 'runtime error|Sanitizer')"

# ---- a table bfed leaves behind logs to nobody ---------------------------------------------------

bfedt_start_bfed "$NS_A" KeepTable=yes
add_filter "block 7001" INBOUND_TRANSPORT_V4 $BLOCK "IP_PROTOCOL 0 udp" "IP_LOCAL_PORT 0 7001" >/dev/null
DBUS_SYSTEM_BUS_ADDRESS="$BUS_ADDR" "$BFECTL" monitor --drops >/dev/null 2>"$DROPS.err" &
DROPS_PID=$!
BFEDT_PIDS+=("$DROPS_PID")
bfedt_wait_line "$DROPS.err" '^Monitoring bfed drops' || die "bfectl monitor --drops did not start"
check_eq "KeepTable=yes, subscribed: the rule logs" 1 "$(log_rules)"
check "bfed stops with a subscriber" bfedt_stop_bfed
check "the table stays (KeepTable=yes)" grep -q 'dport 7001' <<<"$(nsnft list table inet "$TABLE")"
check_eq "without its log statements" 0 "$(log_rules)"
bfedt_done
