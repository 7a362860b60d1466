#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Many filters at once, two ways (src/daemon/group.h, doc/org.bfed.Engine1.md):
#
#  - AddFilters: several filters in one call, all or none. A refusal names the filter's index
#    and changes nothing, in the database and in the kernel.
#  - Group commit: single AddFilter calls that arrive back to back (a provider pipelining them
#    through libbfe's async calls) go to the kernel as one batch; every caller still gets its
#    own answer, after the kernel has the change. A call the compiler knows the kernel cannot
#    take is refused alone, before the batch goes out. (If the kernel refuses a batch anyway,
#    its calls run again one at a time: tests/unit/test-bus.c has a kernel that refuses.)
#
# To make a group deterministic, the pipelined calls are held back by another session's open
# transaction: when it commits, they all run in one go and form one group. A read queued behind
# them must commit the group before it answers. 100 calls: the bus
# allows a connection 128 pending method calls.
source "$(dirname "$0")/lib.sh"

bfedt_require_root
bfedt_require_provider
bfedt_init
bfedt_netns a
NS=$REPLY
bfedt_start_bus
export BFED_LOG_LEVEL=debug     # the daemon says how many calls each batch carried
bfedt_start_bfed "$NS"

# rules_named PREFIX: the number of rules whose comment names a filter called "PREFIX…"
rules_named() {
        local listing
        listing=$(nsnft list table inet bfed)
        grep -c "comment \"filter [0-9]*: $1" <<<"$listing" || true
}

# dict NAME PORT: appends to the array D the busctl words of one block-UDP-to-PORT filter
dict() {
        D+=(4 Name s "$1" Layer s INBOUND_TRANSPORT_V4 Action u 4097 Conditions 'a(sus)' 2
                IP_PROTOCOL 0 udp IP_LOCAL_PORT 0 "$2")
}

# ---- AddFilters ------------------------------------------------------------------------------

D=()
dict "many 1" 7001
dict "many 2" 7002
dict "many 3" 7003
out=$(bus_json AddFilters 'aa{sv}' 3 "${D[@]}") || die "AddFilters refused: $out"
check_eq "AddFilters answers one (key, id) per filter" 3 "$(jq '.data[0] | length' <<<"$out")"
check_eq "the ids are distinct" 3 "$(jq '[.data[0][][1]] | unique | length' <<<"$out")"
check_eq "the three rules are in the kernel" 3 "$(rules_named "many ")"
id2=$(jq '.data[0][1][1]' <<<"$out")
check "the second answer is the filter named 'many 2'" \
        grep -q "comment \"filter $id2: many 2\"" <<<"$(nsnft list table inet bfed)"

before_rules=$(nsnft list ruleset)
before_count=$(getprop FilterCount)

D=()
dict "bad 0" 7010
dict "bad 1" 70000
dict "bad 2" 7012
err=$(bus_error AddFilters 'aa{sv}' 3 "${D[@]}") || not_ok "AddFilters with a bad port was accepted"
check_eq "a bad value: the WFP error" "org.bfed.Error.TypeMismatch" "${err%%$'\t'*}"
check "the message names the filter's index and the value" \
        grep -q "filters\[1\]: .*70000" <<<"${err#*$'\t'}"

D=()
dict "key 0" 7020
dict "key 1" 7021
err=$(bus_error AddFilters 'aa{sv}' 3 "${D[@]}" 1 Nmae s "typo") || not_ok "AddFilters with an unknown key was accepted"
check_eq "an unknown key: InvalidArgs" "org.freedesktop.DBus.Error.InvalidArgs" "${err%%$'\t'*}"
check "the message names the filter's index and the key" grep -q "filters\[2\]: Unknown key 'Nmae'" <<<"${err#*$'\t'}"

conds=()
for i in $(seq 1 32); do
        conds+=(IP_LOCAL_ADDRESS 0 "10.$i.0.0/16" IP_REMOTE_ADDRESS 0 "10.$i.0.0/16")
done
D=()
dict "fits 0" 7030
err=$(bus_error AddFilters 'aa{sv}' 2 "${D[@]}" \
        3 Name s "too big for the kernel" Layer s INBOUND_TRANSPORT_V4 Conditions 'a(sus)' 64 "${conds[@]}") ||
        not_ok "AddFilters with a rule over the kernel's limits was accepted"
check_eq "a rule over the kernel's limits: FWP_E_OUT_OF_BOUNDS" "org.bfed.Error.OutOfBounds" "${err%%$'\t'*}"
check "the message names the filter's index and the kernel's limit" \
        grep -q "filters\[1\]: the filter's rule would need .*the kernel takes at most 128 expressions" <<<"${err#*$'\t'}"

check_eq "after the refusals: the ruleset is byte-for-byte as before" "$before_rules" "$(nsnft list ruleset)"
check_eq "after the refusals: FilterCount as before" "$before_count" "$(getprop FilterCount)"
check_eq "an empty AddFilters adds nothing" "a(st) 0" "$(bus AddFilters 'aa{sv}' 0)"

# the same through libbfe: bfe_filter_add_many()
P="$BFEDT_TMP/many.out"
bfedt_provider "$P" --name "bulk loader" many 500 "bulk" INBOUND_TRANSPORT_V4 30000 || die "provider"
check "bfe_filter_add_many: 500 filters in one call" grep -qE '^many ok=500 first=[0-9]+ last=[0-9]+ ' "$P"
read -r first last < <(sed -n 's/^many ok=500 first=\([0-9]*\) last=\([0-9]*\) .*/\1 \2/p' "$P")
check_eq "their ids are consecutive" 499 "$((last - first))"
check_eq "the 500 rules are in the kernel" 500 "$(rules_named "bulk ")"

# bfe_filter_add_many_async(): four AddFilters calls in flight, answered in call order
P="$BFEDT_TMP/many-async.out"
bfedt_provider "$P" --name "bulk pipeline" many-async 4 100 "async bulk" INBOUND_TRANSPORT_V4 31000 || die "provider"
check "bfe_filter_add_many_async: 4 calls of 100 in flight, all accepted" \
        grep -qE '^many-async ok=4 err=0 first=[0-9]+ last=[0-9]+ ' "$P"
read -r first last < <(sed -n 's/^many-async ok=4 err=0 first=\([0-9]*\) last=\([0-9]*\) .*/\1 \2/p' "$P")
check_eq "the ids of the 400 filters are consecutive, in call order" 399 "$((last - first))"
check_eq "the 400 rules are in the kernel" 400 "$(rules_named "async bulk ")"

# inside a session's transaction: applied at Commit, gone with Abort
P="$BFEDT_TMP/many-txn.out"
bfedt_provider "$P" --name "bulk in a transaction" begin many 50 "aborted" INBOUND_TRANSPORT_V4 31000 abort \
        begin many 50 "committed" INBOUND_TRANSPORT_V4 31100 commit || die "provider"
check "AddFilters in a transaction: both calls answered" test "$(grep -c '^many ok=50 ' "$P")" -eq 2
check_eq "after Abort none of its filters is in the kernel" 0 "$(rules_named "aborted ")"
check_eq "after Commit all 50 are" 50 "$(rules_named "committed ")"
before_count=$(getprop FilterCount)

# ---- group commit ---------------------------------------------------------------------------

# count_log REGEX: lines of this run's daemon log matching REGEX
count_log() {
        grep -cE "$1" "$BFED_LOG" || true
}

# hold_then_pipeline OUTFILE N NAME PORTBASE [HUGE_AT]: session A opens a write transaction
# and pauses; B pipelines N AddFilter calls, which all wait for A; A commits; B's calls then
# run in one go. Waits for B's summary line.
hold_then_pipeline() {
        local out="$1" n="$2" name="$3" port="$4" huge="${5:-}" waiting i
        local holder="$BFEDT_TMP/holder.$name.out"

        bfedt_provider "$holder" --name "holder" begin pause commit || die "holder provider"
        local holder_pid=$PROVIDER_PID
        waiting=$(count_log "AddFilter waits for session")
        # not bfedt_provider: its "ready" comes only once its calls are answered, after the commit
        DBUS_SYSTEM_BUS_ADDRESS="$BUS_ADDR" "$BFE_PROVIDER" --name "pipeliner" \
                pipeline "$n" "$name" INBOUND_TRANSPORT_V4 "$port" $huge >"$out" 2>&1 &
        BFEDT_PIDS+=("$!")
        for i in $(seq 100); do
                (($(count_log "AddFilter waits for session") >= waiting + n)) && break
                sleep 0.05
        done
        check_eq "all $n pipelined calls wait for the open transaction" $((waiting + n)) \
                "$(count_log "AddFilter waits for session")"
        if [[ -n "${READER_OUT:-}" ]]; then
                # a read queued behind them: it runs right after they are staged, and must see them
                waiting=$(count_log "EnumFilters waits for session")
                busctl --address="$BUS_ADDR" -j call "$BFED_NAME" "$BFED_PATH" "$BFED_IFACE" EnumFilters 'a{sv}' 0 \
                        >"$READER_OUT" 2>&1 &
                BFEDT_PIDS+=("$!")
                READER_PID=$!
                for i in $(seq 100); do
                        (($(count_log "EnumFilters waits for session") > waiting)) && break
                        sleep 0.05
                done
        fi
        kill -USR1 "$holder_pid"
        bfedt_wait_line "$out" '^pipeline ok=' 20000 || diag "no summary from the pipeliner: $(tail -n3 "$out")"
}

P="$BFEDT_TMP/pipeline.out"
READER_OUT="$BFEDT_TMP/reader.out" hold_then_pipeline "$P" 100 "piped" 20000
check "every pipelined call succeeded" grep -q '^pipeline ok=100 err=0 ' "$P"
wait "$READER_PID" || diag "EnumFilters failed: $(head -c 300 "$BFEDT_TMP/reader.out")"
check_eq "a read queued behind the staged calls sees all of them (it commits them first)" 100 \
        "$(jq '[.data[0][] | select(.Name.data | startswith("piped "))] | length' "$BFEDT_TMP/reader.out")"
check_eq "100 pipelined filters are in the kernel" 100 "$(rules_named "piped ")"
check "they went to the kernel as one batch" grep -q "Committed 100 calls (100 changes) as one batch" "$BFED_LOG"
check_eq "FilterCount counts them" "u $((${before_count#u } + 100))" "$(getprop FilterCount)"

P="$BFEDT_TMP/pipeline-refused.out"
READER_OUT="$BFEDT_TMP/reader-refused.out" hold_then_pipeline "$P" 100 "mixed" 21000 50
check "99 calls succeeded, one failed" grep -q '^pipeline ok=99 err=1 ' "$P"
check "the failed one is the filter the kernel cannot take, index 50, refused at its call" \
        grep -qE '^error pipeline 50 org.bfed.Error.OutOfBounds .*FWP_E_OUT_OF_BOUNDS' "$P"
check "the 99 others still went to the kernel as one batch" \
        grep -q "Committed 100 calls (99 changes) as one batch" "$BFED_LOG"
check_eq "the 99 others are in the kernel" 99 "$(rules_named "mixed ")"
wait "$READER_PID" || diag "EnumFilters failed: $(head -c 300 "$BFEDT_TMP/reader-refused.out")"
# had the read not committed the group first, it would have seen all 100, the refused one too
check_eq "the read queued behind them saw only what the kernel took: 99, without 'mixed 50'" "99 0" \
        "$(jq -r '[.data[0][] | .Name.data | select(startswith("mixed "))] | "\(length) \(map(select(. == "mixed 50")) | length)"' \
                "$BFEDT_TMP/reader-refused.out")"
check_eq "FilterCount counts them" "u $((${before_count#u } + 199))" "$(getprop FilterCount)"

bfedt_done
