#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Persistence (issue 4, items 3 and 4): objects added with Flags 0x1 survive `kill -9` of bfed
# and a restart (the exemptions re-derived), the others do not; an acknowledged persistent add
# (or delete, or commit) is never lost; a truncated or corrupt state file stops the start with
# a message naming the file and the line, and is left untouched; `bfed --check-state`; and
# across a kill -9 and a restart the kernel keeps dropping what a persistent block filter
# drops (the table's persist flag): not one datagram of a UDP stream gets through.
source "$(dirname "$0")/lib.sh"

bfedt_require_root
bfedt_require_provider
bfedt_init
bfedt_netns a
NS=$REPLY
bfedt_netns b
PEER=$REPLY
bfedt_start_bus
bfedt_has_config_key StateDirectory || not_ok "bfed does not know the StateDirectory config key"
STATE_DIR="$BFEDT_TMP/state"
CONF=("StateDirectory=$STATE_DIR")
bfedt_start_bfed "$NS" "${CONF[@]}"

restart() {
        bfedt_kill_bfed
        bfedt_start_bfed "$NS" "${CONF[@]}"
}

# keys KIND: the sorted keys of EnumProviders / EnumSubLayers / EnumProviderContexts /
# EnumFilters (without the engine-owned filters), space-separated.
keys() {
        case "$1" in
        providers) bus_json EnumProviders | jq -r '.data[0][].Key.data' ;;
        sublayers) bus_json EnumSubLayers | jq -r '.data[0][].Key.data' ;;
        contexts) bus_json EnumProviderContexts 'a{sv}' 0 | jq -r '.data[0][].Key.data' ;;
        filters) enum_filters | jq -r '.[] | select(.EngineOwned != true) | .Key' ;;
        esac | sort | paste -sd' ' -
}

# filter_view: what a restart must keep of each non-engine-owned filter (not the runtime id).
filter_view() {
        enum_filters | jq -c '[.[] | select(.EngineOwned != true)
                | {Key, Name, Flags, Layer, SubLayer, Action, Weight, EffectiveWeight, ProviderKey,
                   ProviderContextKey, Conditions}] | sort_by(.Key)'
}

consistent() {
        check_eq "EnumFilters and nft -j list ruleset agree ($1)" "$(compiled_enum_ids | paste -sd' ' -)" \
                "$(nft_filter_ids | paste -sd' ' -)"
}

# ---- persistent objects survive kill -9; the others do not ---------------------------------------

prov=$(bus_json AddProvider 'a{sv}' 2 Name s "persistent provider" Flags u 1 | jq -r '.data[0]')
sub=$(bus_json AddSubLayer 'a{sv}' 4 Name s "persistent sublayer" Flags u 1 Weight q 40000 \
        ProviderKey s "$prov" | jq -r '.data[0]')
pctx=$(bus_json AddProviderContext 'a{sv}' 4 Name s "persistent ike mm" Type u 5 Flags u 1 \
        ProviderKey s "$prov" | jq -r '.data[0]')
read -r pmm _ < <(bus_json AddFilter 'a{sv}' 6 Name s "persistent mm policy" Layer s IKEEXT_V4 \
        Action u 4098 ProviderContextKey s "$pctx" Flags u 1 ProviderKey s "$prov" |
        jq -r '.data | "\(.[0]) \(.[1])"')
read -r pblock _ < <(bus_json AddFilter 'a{sv}' 7 Name s "persistent block 9000" Layer s INBOUND_TRANSPORT_V4 \
        Action u 4097 SubLayer s "$sub" Flags u 1 Weight y 7 \
        Conditions 'a(sus)' 2 IP_PROTOCOL 0 udp IP_LOCAL_PORT 0 9000 | jq -r '.data | "\(.[0]) \(.[1])"')
check "the persistent objects were added" test -n "$prov" -a -n "$sub" -a -n "$pctx" -a -n "$pmm" -a -n "$pblock"

sprov=$(bus_json AddProvider 'a{sv}' 1 Name s "static provider" | jq -r '.data[0]')
ssub=$(bus_json AddSubLayer 'a{sv}' 2 Name s "static sublayer" Weight q 30000 | jq -r '.data[0]')
sctx=$(add_context "static ike mm" 5)
read -r smm _ < <(add_ctx_filter "static mm policy" IKEEXT_V4 "$sctx")
read -r sblock _ < <(add_block_udp "static block" INBOUND_TRANSPORT_V6 0)

persistent_view=$(filter_view | jq -c --arg a "$pmm" --arg b "$pblock" '[.[] | select(.Key == $a or .Key == $b)]')
check_eq "exemptions active before the crash" "true" "$(exemptions_active)"

bfedt_monitor "$BFEDT_TMP/monitor.json"   # bfectl monitor, kept running across the restart
restart

check_eq "providers after kill -9 and restart: the persistent one only" "$prov" "$(keys providers)"
check_eq "sublayers after restart: the universal and the persistent one" \
        "$(printf '%s\n' "$BFEDT_UNIVERSAL_SUBLAYER" "$sub" | sort | paste -sd' ' -)" "$(keys sublayers)"
check_eq "provider contexts after restart: the persistent one only" "$pctx" "$(keys contexts)"
check_eq "filters after restart: the persistent ones only" \
        "$(printf '%s\n' "$pmm" "$pblock" | sort | paste -sd' ' -)" "$(keys filters)"
check_eq "the persistent filters are restored as they were (all but the runtime id)" \
        "$persistent_view" "$(filter_view)"
check_eq "the exemptions are re-derived from the persistent MM policy" "true" "$(exemptions_active)"
check "the exemption filters are enumerated again" test -n "$(engine_owned_ids)"
check "the exemption rules are in the kernel again" grep -q 'IKE/AuthIP exemption' <<<"$(nsnft list ruleset)"
check "the persistent block filter's rule is in the kernel" \
        grep -q "persistent block 9000" <<<"$(nsnft list ruleset)"
check "no rule of a static filter is left" bash -c '! grep -q "static block" <<<"$1"' _ "$(nsnft list ruleset)"
consistent "after the restart"
for k in "$sprov" "$ssub" "$sctx" "$smm" "$sblock"; do
        [[ " $(keys providers) $(keys sublayers) $(keys contexts) $(keys filters) " == *" $k "* ]] &&
                not_ok "static object $k survived the restart"
done

# A persistent object added through a session's transaction survives too, and so does an
# acknowledged delete.
P="$BFEDT_TMP/provider.out"
bfedt_provider "$P" --name "persistent txn" persistent on begin block "persistent txn" INBOUND_TRANSPORT_V4 9100 \
        commit || die "provider"
check_eq "a persistent add in a transaction commits" "" "$(provider_errors "$P")"
ptxn=$(awk '$1 == "filter" {print $2}' "$P")
kill -TERM "$PROVIDER_PID"; wait "$PROVIDER_PID" 2>/dev/null
bfedt_monitor_stop
check "bfectl monitor, started before kill -9 and restart, shows the new bfed's changes" \
        jqq -s --arg k "$ptxn" 'any(.[]; .key == $k and .change == "add" and .kind == "filter")' "$BFEDT_TMP/monitor.json"
bus DeleteFilterByKey s "$pmm" >/dev/null
restart
check_eq "after restart: the transaction's persistent filter is there, the deleted MM policy is not" \
        "$(printf '%s\n' "$pblock" "$ptxn" | sort | paste -sd' ' -)" "$(keys filters)"
check_eq "after restart: no MM policy, no exemptions" "false" "$(exemptions_active)"
consistent "after the delete and restart"

# ---- an acknowledged persistent add is never lost: 50 rounds of add, reply, kill -9, restart -------

lost=0 failed=0
for round in $(seq 1 50); do
        key=$(bus_json AddFilter 'a{sv}' 5 Name s "round $round" Layer s INBOUND_TRANSPORT_V4 Action u 4097 \
                Flags u 1 Conditions 'a(sus)' 2 IP_PROTOCOL 0 udp IP_LOCAL_PORT 0 $((20000 + round)) |
                jq -r '.data[0]')
        bfedt_kill_bfed                        # right after the reply
        if [[ -z "$key" || "$key" == null ]]; then
                failed=$((failed + 1))
                bfedt_start_bfed "$NS" "${CONF[@]}"
                continue
        fi
        bfedt_start_bfed "$NS" "${CONF[@]}"
        if ! bus GetFilterByKey s "$key" >/dev/null 2>&1; then
                lost=$((lost + 1))
                diag "round $round: filter $key was acknowledged and is gone after kill -9 and restart"
        fi
done
check_eq "50 persistent adds were acknowledged" 0 "$failed"
check_eq "no acknowledged persistent add was lost across kill -9 (50 rounds)" 0 "$lost"
check_eq "all 50 are there at the end" 50 "$(enum_filters | jq '[.[] | select(.Name | startswith("round "))] | length')"
consistent "after 50 restarts"

# ---- bad state files stop the start, untouched --------------------------------------------------

# The state file: the one regular file in the state directory (bfed's is <dir>/state).
state_file=$(find "$STATE_DIR" -maxdepth 1 -type f ! -name '*.tmp' | head -n1)
check "bfed wrote a state file in StateDirectory" test -s "$state_file"
good="$BFEDT_TMP/state.good"
cp "$state_file" "$good"

if [[ -x "$BFED" ]] && "$BFED" --check-state "$good" >"$BFEDT_TMP/check.out" 2>&1; then
        ok "bfed --check-state accepts the good state file"
else
        not_ok "bfed --check-state accepts the good state file"
        diag "$(cat "$BFEDT_TMP/check.out")"
fi

bfedt_stop_bfed >/dev/null

# try_start WHAT: bfed must refuse to start on the current state file, name it and a line,
# and leave it as it was.
try_start() {
        local what="$1" out="$BFEDT_TMP/refused.log" rc copy="$BFEDT_TMP/state.before"
        cp "$state_file" "$copy"
        ip netns exec "$NS" env DBUS_SYSTEM_BUS_ADDRESS="$BUS_ADDR" timeout 10 \
                "$BFED" --config "$BFEDT_TMP/bfed.conf" >"$out" 2>&1
        rc=$?
        if ((rc == 0 || rc == 124)); then
                not_ok "bfed refuses to start on a $what state file (exit $rc)"
                busctl --address="$BUS_ADDR" call "$BFED_NAME" "$BFED_PATH" org.freedesktop.DBus.Peer Ping \
                        >/dev/null 2>&1 && diag "and it answers on the bus"
        else
                ok "bfed refuses to start on a $what state file (exit $rc)"
        fi
        diag "bfed said: $(grep -m1 -F "$state_file" "$out" || head -n1 "$out")"
        check "the refusal names the file, a line and a reason ($what)" \
                grep -qE "$state_file(:[0-9]+: |.*line [0-9]+).+" "$out"
        REFUSAL=$(cat "$out")
        check "the $what state file is left untouched" cmp -s "$copy" "$state_file"
        if "$BFED" --check-state "$state_file" >"$BFEDT_TMP/check.out" 2>&1; then
                not_ok "bfed --check-state refuses the $what state file"
        else
                ok "bfed --check-state refuses the $what state file"
                check "bfed --check-state names the file and a line ($what)" \
                        grep -qE "$state_file(:[0-9]+|.*line [0-9]+)" "$BFEDT_TMP/check.out"
        fi
        check "bfed --check-state leaves the $what file untouched" cmp -s "$copy" "$state_file"
}

lines=$(wc -l <"$good")
size=$(stat -c %s "$good")

# truncated in the middle of a line
cut=$((size / 2))
while [[ "$(tail -c +$((cut)) "$good" | head -c 1 | od -An -c | tr -d ' ')" == '\n' ]]; do cut=$((cut - 1)); done
head -c "$cut" "$good" >"$state_file"
try_start "truncated (mid-line)"

# truncated at a line boundary: the last lines are missing
head -n $((lines / 2)) "$good" >"$state_file"
try_start "truncated (at a line end)"

# one line in the middle replaced by garbage
awk -v n=$(((lines + 1) / 2)) 'NR == n {print "%%% not a state line %%%"; next} {print}' "$good" >"$state_file"
try_start "corrupt"

# a newer version, with a valid end record (count and CRC-32 recomputed: gzip's trailer
# carries the CRC-32 of its input)
crc_of() {
        gzip -c | tail -c8 | head -c4 | od -An -tx4 | tr -d ' \n'
}
read -r end_word end_n end_crc < <(tail -n1 "$good")
if [[ "$end_word" == end && "$(head -n -1 "$good" | crc_of)" == "$end_crc" ]] && head -n1 "$good" | grep -q '^bfed-state 1$'; then
        { echo "bfed-state 2"; sed -n '2,$p' "$good" | head -n -1; } >"$BFEDT_TMP/newer.body"
        { cat "$BFEDT_TMP/newer.body"; echo "end $end_n $(crc_of <"$BFEDT_TMP/newer.body")"; } >"$state_file"
        try_start "newer-version"
        check "the refusal says the state version is newer" grep -qi "newer" <<<"$REFUSAL"
else
        not_ok "the state file has the documented header and end record (bfed-state 1 ... end N CRC32)"
fi

# Back to the good file: everything returns.
cp "$good" "$state_file"
bfedt_start_bfed "$NS" "${CONF[@]}"
check_eq "with the good state file back, all persistent filters return" 52 "$(enum_filters |
        jq '[.[] | select(.EngineOwned != true)] | length')"

# ---- a UDP stream never gets through while bfed is killed and restarted -----------------------------

bfedt_veth "$NS" "$PEER" 10.77.0.1/24 10.77.0.2/24
check "the persistent block filter for UDP 9000 is in place" grep -q "persistent block 9000" <<<"$(nsnft list ruleset)"
R0="$BFEDT_TMP/recv9000" R1="$BFEDT_TMP/recv9001" STOP="$BFEDT_TMP/stop-stream" COUNT="$BFEDT_TMP/sent"
rm -f "$STOP" "$COUNT"
ip netns exec "$NS" "$UDP_PROBE" recv --bind 10.77.0.1 --port 9000 --count 1000000 --timeout-ms 20000 >"$R0" 2>&1 &
r0=$!
ip netns exec "$NS" "$UDP_PROBE" recv --bind 10.77.0.1 --port 9001 --count 1000000 --timeout-ms 20000 >"$R1" 2>&1 &
r1=$!
BFEDT_PIDS+=("$r0" "$r1")
bfedt_wait_line "$R0" '^ready' && bfedt_wait_line "$R1" '^ready' || die "udp-probe receivers did not start"

# ~200 datagrams a second from the peer, alternating the blocked port 9000 and the open 9001
# (bash's /dev/udp; the read -t is a sleep without a fork).
ip netns exec "$PEER" bash -c '
        exec {fd}<> <(:)
        n=0
        while [[ ! -e "$1" ]]; do
                echo "seq $n" >/dev/udp/10.77.0.1/$((9000 + n % 2)) 2>/dev/null
                n=$((n + 1))
                read -t 0.005 -u "$fd"
        done
        echo "$n" >"$2"' _ "$STOP" "$COUNT" &
sender=$!
BFEDT_PIDS+=("$sender")
sleep 1
bfedt_kill_bfed
sleep 0.3
check "while bfed is dead the kernel keeps its table" nsnft list table inet "$TABLE" >/dev/null 2>&1
sleep 0.7
bfedt_start_bfed "$NS" "${CONF[@]}"
sleep 1
touch "$STOP"
wait "$sender"
sleep 0.3
kill "$r0" "$r1" 2>/dev/null
wait "$r0" "$r1" 2>/dev/null
sent=$(cat "$COUNT" 2>/dev/null || echo 0)
got0=$(grep -c '^from ' "$R0")
got1=$(grep -c '^from ' "$R1")
diag "sent $sent datagrams in about 3 s; port 9001 (open) received $got1, port 9000 (blocked) $got0"
check "the stream ran at >= 100 datagrams/s ($sent in ~3 s)" test "$sent" -ge 300
check "the open port got the stream throughout (>= 90% of its half)" test "$got1" -ge $((sent * 45 / 100))
check_eq "not one datagram to the blocked port got through across kill -9 and restart" 0 "$got0"
check "after the restart the table is bfed's again, with the block rule" \
        grep -q "persistent block 9000" <<<"$(nsnft list ruleset)"
consistent "after the stream"

bfedt_done
