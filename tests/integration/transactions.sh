#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Transactions (issue 4, item 2): abort leaves database and ruleset byte-for-byte as before
# and signals nothing; commit applies everything in one netlink batch and only then signals;
# one write transaction engine-wide (another session's write waits, then completes right after
# the commit, or fails with Timeout after its TransactionTimeoutMSec); read-only transactions
# refuse writes; TxnInProgress / NoTxnInProgress; a failed call does not doom a transaction;
# a commit the kernel refuses rolls everything back; MaxTransactionSec aborts (TxnAborted).
#
# The sessions are tests/tools/bfe-provider processes (libbfe); "pause" makes one wait for
# SIGUSR1 between its steps, so a transaction can be held open while we look.
source "$(dirname "$0")/lib.sh"

bfedt_require_root
bfedt_require_bfectl
bfedt_require_provider
bfedt_init
bfedt_netns a
NS=$REPLY
bfedt_start_bus
state_args=()
bfedt_has_config_key StateDirectory && state_args=("StateDirectory=$BFEDT_TMP/state")
export BFED_LOG_LEVEL=debug     # the daemon says when a call waits for another's transaction
bfedt_start_bfed "$NS" "${state_args[@]}"

P="$BFEDT_TMP/p.out"
Q="$BFEDT_TMP/q.out"
MON="$BFEDT_TMP/monitor.json"

# Some state to keep: an MM policy (the exemptions are in) and a block filter.
ctx=$(add_context "ike main mode" 5)
read -r _ _ < <(add_ctx_filter "ike mm policy" IKEEXT_V4 "$ctx")
read -r _ _ < <(add_block_udp "block udp v6" INBOUND_TRANSPORT_V6 0)

snapshot() {
        SNAP_RULES=$(nsnft list ruleset)
        SNAP_ENUM=$(enum_filters)
        SNAP_CTX=$(bus_json EnumProviderContexts 'a{sv}' 0 | jq -c '.data[0]')
}

# unchanged WHAT: database and ruleset byte-for-byte as at the last snapshot.
unchanged() {
        check_eq "nft list ruleset byte-for-byte as before ($1)" "$SNAP_RULES" "$(nsnft list ruleset)"
        check_eq "EnumFilters as before ($1)" "$SNAP_ENUM" "$(enum_filters)"
        check_eq "EnumProviderContexts as before ($1)" "$SNAP_CTX" \
                "$(bus_json EnumProviderContexts 'a{sv}' 0 | jq -c '.data[0]')"
}

# field LINE NAME: the value of NAME= in a bfe-provider line ("filter KEY ID ms=1.2 t=345.6").
field() {
        sed -n "s/.* $2=\([0-9.]*\).*/\1/p" <<<"$1"
}

# stop_provider PID: SIGTERM (the provider closes its engine) and reap.
stop_provider() {
        kill -TERM "$1" 2>/dev/null
        wait "$1" 2>/dev/null
}

# start_provider_nowait OUTFILE ARGS...: a provider whose steps may block; no waiting for ready.
start_provider_nowait() {
        local outf="$1"
        shift
        : >"$outf"
        DBUS_SYSTEM_BUS_ADDRESS="$BUS_ADDR" "$BFE_PROVIDER" "$@" >"$outf" 2>&1 &
        NOWAIT_PID=$!
        BFEDT_PIDS+=("$NOWAIT_PID")
        bfedt_wait_line "$outf" '^session ' || diag "provider did not open its session: $(cat "$outf")"
}

# ---- abort: nothing changes, nothing is signalled -------------------------------------------------

snapshot
bfedt_monitor "$MON"
bfedt_provider "$P" begin context "aborted mm" 5 mm-filter "aborted mm policy" \
        block "aborted a" INBOUND_TRANSPORT_V4 7000 block "aborted b" INBOUND_TRANSPORT_V4 7001 abort ||
        die "provider"
check_eq "Begin/Add/Add/Abort: every step succeeded" "" "$(provider_errors "$P")"
check_eq "the aborted adds returned filter ids" 3 "$(provider_filter_ids "$P" | wc -l)"
bfedt_monitor_stop
unchanged "after abort"
check_eq "no Changed signal after abort" "" "$(cat "$MON")"
stop_provider "$PROVIDER_PID"

# ---- commit: all 10 in one batch, signalled after the commit ------------------------------------

snapshot
bfedt_monitor "$MON"
steps=(begin)
for i in $(seq 0 9); do steps+=(block "txn $i" INBOUND_TRANSPORT_V4 $((7100 + i))); done
bfedt_provider "$P" "${steps[@]}" pause commit || die "provider"
check_eq "Begin/Add x10: every add succeeded" "" "$(provider_errors "$P")"
mapfile -t txn_ids < <(provider_filter_ids "$P")
check_eq "10 filter ids returned inside the transaction" 10 "${#txn_ids[@]}"
check_eq "before commit: the ruleset is untouched" "$SNAP_RULES" "$(nsnft list ruleset)"
check "before commit: the monitor has printed every signal bfed sent so far" bfedt_monitor_sync
check_eq "before commit: no Changed signal" "" "$(cat "$MON")"

bfedt_nft_monitor "$BFEDT_TMP/nftmon"
kill -USR1 "$PROVIDER_PID"
bfedt_wait_line "$P" '^ready$' || diag "provider did not finish: $(cat "$P")"
check "nft monitor printed every event up to the commit (and a marker after it)" \
        bfedt_nft_monitor_stop "$BFEDT_TMP/nftmon"
bfedt_monitor_stop
check "commit succeeded" grep -q '^commit ' "$P"
check_eq "commit: one netlink batch (one new nftables generation)" 1 \
        "$(grep -c '^# new generation' "$BFEDT_TMP/nftmon")"
# each filter as a rule of its own or as an element of a run's set (FilterRuns)
check_eq "commit: the 10 filters added in it" 10 \
        "$(grep -E '^add (rule|element) inet bfed ' "$BFEDT_TMP/nftmon" | grep -o 'comment "filter [0-9]*: txn [0-9]"' | wc -l)"
missing=0
rules=$(nsnft list ruleset)
for id in "${txn_ids[@]}"; do
        grep -q "comment \"filter $id: txn " <<<"$rules" || missing=$((missing + 1))
done
check_eq "commit: all 10 rules are in the kernel" 0 "$missing"
check_eq "commit: one Changed add per filter" \
        "$(printf '%s\n' "${txn_ids[@]}" | sort -n | paste -sd' ' -)" \
        "$(jq -r 'select(.change == "add" and .kind == "filter") | .id' "$MON" | sort -n | paste -sd' ' -)"
check_eq "commit: nothing else signalled" 10 "$(wc -l <"$MON")"
stop_provider "$PROVIDER_PID"

# ---- the write lock: another session's write waits for the commit ----------------------------------

bfedt_provider "$P" --name holder begin block "held" INBOUND_TRANSPORT_V4 7200 pause commit || die "holder"
holder=$PROVIDER_PID
behind_holder="waits for session ${PROVIDER_SESSION##*/}'s write transaction"
add_waits=$(bfedt_log_count "AddFilter $behind_holder")
start_provider_nowait "$Q" --name waiter block "waiter" INBOUND_TRANSPORT_V4 7201 begin block "waiter txn" \
        INBOUND_TRANSPORT_V4 7202 commit
waiter=$NOWAIT_PID
( out=$(bus_json AddFilter 'a{sv}' 4 Name s "session-less waiter" Layer s INBOUND_TRANSPORT_V4 Action u 4097 \
        Conditions 'a(sus)' 1 IP_PROTOCOL 0 udp)
  echo "$(date +%s%3N) $out" >"$BFEDT_TMP/sessionless.out" ) &
sessionless=$!
# both writes are queued behind the holder's transaction: the daemon says so (debug level)
check "the daemon has both writes waiting for the open transaction" \
        bfedt_wait_log "AddFilter $behind_holder" $((add_waits + 2))
check_eq "while a write transaction is open, another session's write waits" "" \
        "$(grep -E '^(filter|error)' "$Q")"
check "while a write transaction is open, a session-less write waits" test ! -s "$BFEDT_TMP/sessionless.out"
# Isolation: a read from another connection waits too (a deferred reply, the daemon keeps
# serving), and then sees the committed state, never the open transaction's.
enum_waits=$(bfedt_log_count "EnumFilters $behind_holder")
( names=$(enum_filters | jq -c '[.[] | .Name]'); echo "$(ms_now) $names" >"$BFEDT_TMP/read.out" ) &
reader=$!
check "the daemon has the read waiting for the open transaction" \
        bfedt_wait_log "EnumFilters $behind_holder" $((enum_waits + 1))
check "while a write transaction is open, another connection's read waits" test ! -s "$BFEDT_TMP/read.out"
check "properties answer meanwhile, from the committed state (ExemptionsActive)" \
        bash -c 'timeout 2 busctl --address="$1" get-property org.bfed.Engine1 /org/bfed/Engine1 org.bfed.Engine1 ExemptionsActive >/dev/null' _ "$BUS_ADDR"
t_commit_start=$(ms_now)
kill -USR1 "$holder"
bfedt_wait_line "$Q" '^ready$' 5000 || diag "waiter did not finish: $(cat "$Q")"
wait "$sessionless"
commit_line=$(grep '^commit ' "$P")
first=$(grep -m1 -E '^(filter|error)' "$Q")
check "the holder's commit succeeded" test -n "$commit_line"
check "the waiting write succeeded" grep -q '^filter ' <<<"$first"
t_commit=$(field "$commit_line" t)
t_first=$(field "$first" t)
ms_first=$(field "$first" ms)
diag "holder's commit returned at t=$t_commit; the waiter's add returned at t=$t_first after waiting ${ms_first} ms"
# The two replies race to two processes: "after the commit" is after the holder sent it.
t_commit_sent=$(awk -v t="$t_commit" -v m="$(field "$commit_line" ms)" 'BEGIN { printf "%.1f", t - m }')
check "the waiting write waited for the commit: it was sent before the holder sent its commit" \
        awk -v a="$t_first" -v m="$ms_first" -v s="$t_commit_sent" 'BEGIN { exit !(a != "" && a - m < s) }'
check "the waiting write completed right after the commit (after it was sent, < 200 ms after its reply)" \
        awk -v a="$t_first" -v s="$t_commit_sent" -v c="$t_commit" 'BEGIN { exit !(a >= s && a - c < 200) }'
check_eq "the waiter's own transaction went through afterwards" "" "$(provider_errors "$Q")"
read -r t_sl out_sl <"$BFEDT_TMP/sessionless.out"
check "the session-less write succeeded after the commit" jqq '.data[1] > 0' <<<"${out_sl:-null}"
check "the session-less write returned after the commit started (not before)" \
        test "${t_sl:-0}" -ge "$t_commit_start"
wait "$reader"
read -r t_read names_read <"$BFEDT_TMP/read.out"
check "the waiting read returned after the commit started" test "${t_read:-0}" -ge "$t_commit_start"
check "the waiting read sees the committed transaction" jqq 'index("held") != null' <<<"${names_read:-null}"
stop_provider "$holder"
stop_provider "$waiter"

# ---- ... and times out after its own TransactionTimeoutMSec --------------------------------------

snapshot
bfedt_provider "$P" --name holder begin block "held long" INBOUND_TRANSPORT_V4 7300 pause abort || die "holder"
holder=$PROVIDER_PID
behind_holder="waits for session ${PROVIDER_SESSION##*/}'s write transaction"
start_provider_nowait "$Q" --name impatient --timeout-ms 500 block "impatient" INBOUND_TRANSPORT_V4 7301 begin
waiter=$NOWAIT_PID
bfedt_wait_line "$Q" '^ready$' 5000 || diag "impatient provider did not finish: $(cat "$Q")"
errs=$(provider_errors "$Q")
check_eq "a write waiting longer than TransactionTimeoutMSec=500 fails with Timeout" \
        "block org.bfed.Error.Timeout" "$(sed -n 1p <<<"$errs")"
check_eq "a BeginTransaction waiting longer than 500 ms fails with Timeout" \
        "begin org.bfed.Error.Timeout" "$(sed -n 2p <<<"$errs")"
ms=$(field "$(grep -m1 '^error block' "$Q")" ms)
diag "the Timeout came after ${ms} ms"
check "the Timeout came after about 500 ms (450-3000)" awk -v m="${ms:-0}" 'BEGIN { exit !(m >= 450 && m < 3000) }'
check "the Timeout message begins with FWP_E_TIMEOUT" grep -q '^error block org.bfed.Error.Timeout .*FWP_E_TIMEOUT (0x80320012)' "$Q"
enum_waits=$(bfedt_log_count "EnumFilters $behind_holder")
( echo "$(enum_filters | jq -c '[.[] | .Name]')" >"$BFEDT_TMP/read2.out" ) &
reader=$!
check "the daemon has the read waiting for the open transaction" \
        bfedt_wait_log "EnumFilters $behind_holder" $((enum_waits + 1))
kill -USR1 "$holder"
bfedt_wait_line "$P" '^ready$' || diag "holder did not finish"
wait "$reader"
check "a read that waited through an aborted transaction never sees its filter" \
        jqq 'index("held long") == null and length >= 0' <"$BFEDT_TMP/read2.out"
stop_provider "$holder"
stop_provider "$waiter"
unchanged "after the timeout and the holder's abort"

# ---- read-only transactions, TxnInProgress, NoTxnInProgress ----------------------------------------

snapshot
bfedt_provider "$P" begin-ro enum block "in read-only" INBOUND_TRANSPORT_V4 7400 commit \
        commit abort begin begin abort || die "provider"
errs=$(provider_errors "$P")
check "read-only transaction: reads work" grep -q '^enum [0-9]' "$P"
check_eq "read-only transaction: a write gets IncompatibleTxn, and the rest as WFP says" \
        "block org.bfed.Error.IncompatibleTxn|commit org.bfed.Error.NoTxnInProgress|abort org.bfed.Error.NoTxnInProgress|begin org.bfed.Error.TxnInProgress" \
        "$(paste -sd'|' - <<<"$errs")"
stop_provider "$PROVIDER_PID"
unchanged "after the read-only transaction"

# A read-only transaction is a consistent view: a write waits until it ends.
bfedt_provider "$P" begin-ro pause commit || die "provider"
reader=$PROVIDER_PID
behind_reader="waits for the read-only transaction of session ${PROVIDER_SESSION##*/}"
delete_waits=$(bfedt_log_count "DeleteFilterById $behind_reader")
( err=$(bus_error DeleteFilterById t 999999) || err="succeeded"; echo "$(ms_now) ${err%%$'\t'*}" >"$BFEDT_TMP/ro-write.out" ) &
writer=$!
check "the daemon has the write waiting for the read-only transaction" \
        bfedt_wait_log "DeleteFilterById $behind_reader" $((delete_waits + 1))
check "during a read-only transaction a session-less write waits" test ! -s "$BFEDT_TMP/ro-write.out"
t_end=$(ms_now)
kill -USR1 "$reader"
wait "$writer"
read -r t_w err_w <"$BFEDT_TMP/ro-write.out"
check_eq "once the read-only transaction ends, the write runs (and fails as it should)" \
        "org.bfed.Error.FilterNotFound" "$err_w"
check "... right after it ended" awk -v a="${t_w:-0}" -v e="$t_end" 'BEGIN { exit !(a >= e && a - e < 2000) }'
stop_provider "$reader"

# ---- a failed call does not doom the transaction ------------------------------------------------------

bfedt_provider "$P" begin block "good 1" INBOUND_TRANSPORT_V4 7500 block "bad layer" NO_SUCH_LAYER 7501 \
        delete-filter 999999 block "good 2" INBOUND_TRANSPORT_V4 7502 commit || die "provider"
errs=$(provider_errors "$P")
check_eq "inside a transaction: the bad calls fail" "block org.bfed.Error.LayerNotFound|delete-filter org.bfed.Error.FilterNotFound" \
        "$(paste -sd'|' - <<<"$errs")"
check "the commit after failed calls succeeds" grep -q '^commit ' "$P"
mapfile -t good < <(provider_filter_ids "$P")
rules=$(nsnft list ruleset)
check "the successful calls were applied (good 1)" grep -q "comment \"filter ${good[0]:-x}: good 1\"" <<<"$rules"
check "the successful calls were applied (good 2)" grep -q "comment \"filter ${good[1]:-x}: good 2\"" <<<"$rules"
stop_provider "$PROVIDER_PID"

# ---- a filter the kernel cannot take is refused at its call, and the transaction goes on ------------
# 64 alternating address-prefix conditions would compile to 192 expressions; the kernel allows
# 128 per rule, and the compiler says so when the filter is added, before anything is applied (a
# commit the kernel itself refuses is rolled back whole: kernel-refusal.sh).

snapshot
bfedt_monitor "$MON"
bfedt_provider "$P" begin block "before huge" INBOUND_TRANSPORT_V4 7600 huge "too big for the kernel" \
        block "after huge" INBOUND_TRANSPORT_V4 7601 commit || die "provider"
bfedt_monitor_stop
check_eq "only the filter over the kernel's limits failed, at its own call" "huge" \
        "$(awk '$1 == "error" {print $2}' "$P" | paste -sd' ')"
check "it was refused with FWP_E_OUT_OF_BOUNDS, naming the kernel's limits" \
        grep -q '^error huge org.bfed.Error.OutOfBounds .*the kernel takes at most 128 expressions' "$P"
check "the transaction committed the rest" grep -q '^commit ' "$P"
ids=$(provider_filter_ids "$P" | paste -sd' ')
rules=$(nsnft list ruleset)
check "'before huge' is in the kernel" grep -q ": before huge\"" <<<"$rules"
check "'after huge' is in the kernel" grep -q ": after huge\"" <<<"$rules"
check "the refused filter is not" bash -c "! grep -q 'too big for the kernel' <<<\"\$1\"" _ "$rules"
check "Changed was signalled for the two committed filters only" \
        jqq -s 'length == 2 and all(.[]; .change == "add")' "$MON"
for id in $ids; do bus DeleteFilterById t "$id" >/dev/null; done
unchanged "after the transaction (and deleting its two filters)"
stop_provider "$PROVIDER_PID"

# ---- the session goes away with a transaction open: aborted, and the lock is free ---------------------

snapshot
bfedt_provider "$P" begin block "orphan" INBOUND_TRANSPORT_V4 7700 pause || die "provider"
kill -KILL "$PROVIDER_PID"
wait "$PROVIDER_PID" 2>/dev/null
check "the daemon aborted the dead session's transaction" \
        bfedt_wait_log "Session ${PROVIDER_SESSION##*/}: its open transaction is aborted" 1
unchanged "after SIGKILL of a session with an open transaction"
t0=$(ms_now)
read -r _ free_id < <(add_block_udp "after the orphan" INBOUND_TRANSPORT_V4 0)
t1=$(ms_now)
check "the write lock is free at once after the owner died ($((t1 - t0)) ms)" test $((t1 - t0)) -lt 1000
bus DeleteFilterById t "${free_id:-0}" >/dev/null

bfedt_provider "$P" begin block "closed" INBOUND_TRANSPORT_V4 7701 close || die "provider"
check_eq "Close with an open transaction succeeds" "" "$(provider_errors "$P")"
unchanged "after Close with an open transaction"
stop_provider "$PROVIDER_PID"

# ---- MaxTransactionSec: a transaction held too long is aborted, the next call gets TxnAborted ---------

if bfedt_has_config_key MaxTransactionSec; then
        bfedt_stop_bfed >/dev/null
        bfedt_start_bfed "$NS" "${state_args[@]}" MaxTransactionSec=1
        snapshot
        t_start=$(ms_now)
        bfedt_provider "$P" begin block "held too long" INBOUND_TRANSPORT_V4 7800 pause \
                block "after the limit" INBOUND_TRANSPORT_V4 7801 commit || die "provider"
        # the daemon's deadline, not the test, ends the transaction: wait for it to say so
        if bfedt_wait_log "Session ${PROVIDER_SESSION##*/} \\(.*\\) held its write transaction longer than 1 s: aborting it" 1 10000; then
                t_abort=$(ms_now)
                check "MaxTransactionSec=1: the transaction was not aborted before 1 s ($((t_abort - t_start)) ms)" \
                        test $((t_abort - t_start)) -ge 1000
        else
                not_ok "MaxTransactionSec=1: the daemon aborted the transaction within 10 s"
        fi
        kill -USR1 "$PROVIDER_PID"
        bfedt_wait_line "$P" '^ready$' || diag "provider did not finish: $(cat "$P")"
        first_err=$(provider_errors "$P" | head -n1)
        check_eq "a call in a transaction held past MaxTransactionSec gets TxnAborted" \
                "block org.bfed.Error.TxnAborted" "$first_err"
        unchanged "after the forced abort"
        t0=$(ms_now)
        read -r _ free_id < <(add_block_udp "after the forced abort" INBOUND_TRANSPORT_V4 0)
        check "the write lock is free after the forced abort" test $(($(ms_now) - t0)) -lt 1000
        stop_provider "$PROVIDER_PID"
else
        not_ok "bfed has no MaxTransactionSec config key"
fi

bfedt_done
