#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Persistence (issue 4, items 3 and 4): objects added with Flags 0x1 survive `kill -9` of bfed
# and a restart (the exemptions re-derived), the others do not; an acknowledged persistent add
# (or delete, or commit) is never lost; on a truncated or corrupt state file bfed starts with
# every record it can trust, names the file, line and reason, and keeps the damaged file; a
# newer version stops the start, untouched; `bfed --check-state`; and
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
# EnumFilters (without the built-in objects and the engine-owned filters), space-separated.
keys() {
        case "$1" in
        providers) bus_json EnumProviders | jq -r '.data[0][].Key.data' | bfedt_not_builtin ;;
        sublayers) bus_json EnumSubLayers | jq -r '.data[0][].Key.data' | bfedt_not_builtin ;;
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
check_eq "sublayers after restart: the persistent one (and the built-in ones)" "$sub" "$(keys sublayers)"
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

# ---- damaged state files: bfed starts with every record it can trust ----------------------------

# The state file: the one regular file in the state directory (bfed's is <dir>/state).
state_file=$(find "$STATE_DIR" -maxdepth 1 -type f -name state | head -n1)
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

persistent_count() {
        enum_filters | jq '[.[] | select(.EngineOwned != true)] | length'
}

# try_damaged WHAT MIN: bfed must start on the current (damaged) state file with at least MIN
# persistent filters, log the file, a line and a reason, and keep the file as it was in
# state.damaged-*; --check-state must report it and fail, and leave it untouched.
try_damaged() {
        local what="$1" min="$2" copy="$BFEDT_TMP/state.before" kept n
        cp "$state_file" "$copy"
        if "$BFED" --check-state "$state_file" >"$BFEDT_TMP/check.out" 2>&1; then
                not_ok "bfed --check-state reports the $what state file"
        else
                ok "bfed --check-state reports the $what state file"
                check "bfed --check-state names the file and a line ($what)" \
                        grep -qE "$state_file:[0-9]+: " "$BFEDT_TMP/check.out"
        fi
        check "bfed --check-state leaves the $what file untouched" cmp -s "$copy" "$state_file"
        rm -f "$STATE_DIR"/state.damaged-* "$STATE_DIR/state.rejected"
        bfedt_start_bfed "$NS" "${CONF[@]}"
        ok "bfed starts on a $what state file"
        n=$(persistent_count)
        check "it restored the records it could trust ($what: $n of 52, at least $min)" test "$n" -ge "$min"
        diag "bfed said: $(grep -m1 -F "$state_file:" "$BFED_LOG")"
        check "the log names the file, a line and a reason ($what)" grep -qE "error: $state_file:[0-9]+: .+" "$BFED_LOG"
        kept=$(find "$STATE_DIR" -maxdepth 1 -name 'state.damaged-*' | head -n1)
        check "the $what file is kept as it was ($kept)" cmp -s "$copy" "$kept"
        consistent "after starting on a $what file"
        bfedt_stop_bfed >/dev/null
}

lines=$(wc -l <"$good")
size=$(stat -c %s "$good")

# truncated in the middle of a line: every complete line before the cut loads
cut=$((size / 2))
while [[ "$(tail -c +$((cut)) "$good" | head -c 1 | od -An -c | tr -d ' ')" == '\n' ]]; do cut=$((cut - 1)); done
head -c "$cut" "$good" >"$state_file"
try_damaged "truncated (mid-line)" $(($(head -c "$cut" "$good" | grep -c '^filter ') - 1))

# truncated at a line boundary: the last lines are missing
head -n $((lines / 2)) "$good" >"$state_file"
try_damaged "truncated (at a line end)" "$(head -n $((lines / 2)) "$good" | grep -c '^filter ')"

# one line in the middle replaced by garbage: the others load
awk -v n=$(((lines + 1) / 2)) 'NR == n {print "%%% not a state line %%%"; next} {print}' "$good" >"$state_file"
try_damaged "corrupt" 51
check "the garbage line is in state.rejected" grep -qxF "%%% not a state line %%%" "$STATE_DIR/state.rejected"

# a newer version, with a valid end record (count and CRC-32 recomputed: gzip's trailer
# carries the CRC-32 of its input): refused, untouched — an older bfed must not rewrite it
crc_of() {
        gzip -c | tail -c8 | head -c4 | od -An -tx4 | tr -d ' \n'
}
read -r end_word end_n end_crc < <(tail -n1 "$good")
if [[ "$end_word" == end && "$(head -n -1 "$good" | crc_of)" == "$end_crc" ]] && head -n1 "$good" | grep -q '^bfed-state 2$'; then
        { echo "bfed-state 3"; sed -n '2,$p' "$good" | head -n -1; } >"$BFEDT_TMP/newer.body"
        { cat "$BFEDT_TMP/newer.body"; echo "end $end_n $(crc_of <"$BFEDT_TMP/newer.body")"; } >"$state_file"
        cp "$state_file" "$BFEDT_TMP/state.before"
        rm -f "$STATE_DIR"/state.damaged-* "$STATE_DIR/state.rejected"
        ip netns exec "$NS" env DBUS_SYSTEM_BUS_ADDRESS="$BUS_ADDR" timeout 10 \
                "$BFED" --config "$BFEDT_TMP/bfed.conf" >"$BFEDT_TMP/refused.log" 2>&1
        rc=$?
        if ((rc == 0 || rc == 124)); then
                not_ok "bfed refuses to start on a newer-version state file (exit $rc)"
        else
                ok "bfed refuses to start on a newer-version state file (exit $rc)"
        fi
        check "the refusal names the file and says the version is newer" \
                grep -qE "$state_file:1: state version 3 is newer than this bfed" "$BFEDT_TMP/refused.log"
        check "the newer-version file is left untouched" cmp -s "$BFEDT_TMP/state.before" "$state_file"
        check "and nothing was kept aside or rejected" \
                bash -c '! ls "$1" | grep -qE "^state\.(damaged-|rejected)"' _ "$STATE_DIR"
else
        not_ok "the state file has the documented header and end record (bfed-state 2 ... end N CRC32)"
fi

# Back to the good file: everything returns.
cp "$good" "$state_file"
bfedt_start_bfed "$NS" "${CONF[@]}"
check_eq "with the good state file back, all persistent filters return" 52 "$(enum_filters |
        jq '[.[] | select(.EngineOwned != true)] | length')"

# ---- a UDP stream never gets through while bfed is killed and restarted -----------------------------

bfedt_veth "$NS" "$PEER" 10.77.0.1/24 10.77.0.2/24
check "the persistent block filter for UDP 9000 is in place" grep -q "persistent block 9000" <<<"$(nsnft list ruleset)"
bfedt_stream_start "$NS" "$PEER" 10.77.0.1 9000 9001
received() { bfedt_stream_received; }
received_at_least() { bfedt_stream_received_at_least "$@"; }

# The stream runs before, while and after bfed is down: each phase lasts until the open port
# has had 50 more datagrams (the sender alternates ports, so the blocked one was tried as often).
check "the stream reaches the open port before the kill" bfedt_poll 10000 received_at_least 50
bfedt_kill_bfed
n_killed=$(received)
check "while bfed is dead the kernel keeps its table" nsnft list table inet "$TABLE" >/dev/null 2>&1
check "while bfed is dead the stream goes on (50 more datagrams at the open port)" \
        bfedt_poll 10000 received_at_least $((n_killed + 50))
n_dead=$(( $(received) - n_killed ))
bfedt_start_bfed "$NS" "${CONF[@]}"
n_started=$(received)
check "after the restart the stream goes on (50 more datagrams at the open port)" \
        bfedt_poll 10000 received_at_least $((n_started + 50))
bfedt_stream_stop
sent=$STREAM_SENT got0=$STREAM_BLOCKED got1=$STREAM_OPEN
diag "sent $sent datagrams; port 9001 (open) received $got1 ($n_dead while bfed was dead), port 9000 (blocked) $got0"
check "the open port got the stream throughout (>= 90% of its half)" test "$got1" -ge $((sent * 45 / 100))
check_eq "not one datagram to the blocked port got through across kill -9 and restart" 0 "$got0"
check "after the restart the table is bfed's again, with the block rule" \
        grep -q "persistent block 9000" <<<"$(nsnft list ruleset)"
consistent "after the stream"

bfedt_done
