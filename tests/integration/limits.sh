#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# limits.sh — what a hostile or merely large caller can make bfed hold is bounded, and it
# cannot take the control plane away from root:
#   - hundreds of sessions (one bus match per session once hit dbus-daemon's 512 rules per
#     connection and dropped bfed off the bus): 600 across ten connections, a cap per connection;
#   - replies nobody reads (8 connections of nobody x 128 EnumFilters that it never read grew bfed
#     to gigabytes and held root's AddFilter for 25 s): bfed's memory stays bounded and root's
#     calls are answered meanwhile;
#   - a read-only transaction has a deadline (MaxReadTransactionSec) and does not block writers
#     and dynamic-session cleanup for ever; a call that times out names who held the lock.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

bfedt_require_root
bfedt_require_provider
command -v setpriv >/dev/null 2>&1 || skip_all "setpriv not installed"
id nobody >/dev/null 2>&1 || skip_all "no user nobody"
[[ -x "${BUS_FLOOD:-}" ]] || die "bus-flood not built (BUS_FLOOD=${BUS_FLOOD:-})"
bfedt_init
bfedt_netns daemon
bfedt_start_bus
# under AddressSanitizer, freed memory waits in a quarantine (256 MiB) before it is reused:
# keep it small, so that the memory bound below measures bfed and not the sanitizer
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=8"
bfedt_start_bfed "$REPLY" MaxReadTransactionSec=2

flood() {
        DBUS_SYSTEM_BUS_ADDRESS="$BUS_ADDR" "$BUS_FLOOD" "$@"
}

# session_nodes: the session objects bfed serves now
session_nodes() {
        busctl --address="$BUS_ADDR" call "$BFED_NAME" /org/bfed/Engine1/session \
                org.freedesktop.DBus.Introspectable Introspect 2>/dev/null | grep -o '<node name=' | wc -l
}

# ---- sessions -----------------------------------------------------------------------------

S="$BFEDT_TMP/sessions.out"
DBUS_SYSTEM_BUS_ADDRESS="$BUS_ADDR" "$BUS_FLOOD" sessions 10 60 >"$S" 2>&1 &
SESSIONS_PID=$!
BFEDT_PIDS+=("$SESSIONS_PID")
bfedt_wait_line "$S" '^ready$' 30000 || die "bus-flood sessions: $(cat "$S")"
check_eq "600 sessions over ten connections are all opened" "opened 600 refused 0" "$(head -n1 "$S")"
check "bfed is still on the bus with 600 sessions" bfedt_answers
check_eq "it serves 600 session objects" 600 "$(session_nodes)"

S2="$BFEDT_TMP/sessions2.out"
DBUS_SYSTEM_BUS_ADDRESS="$BUS_ADDR" "$BUS_FLOOD" sessions 1 70 >"$S2" 2>&1 &
BFEDT_PIDS+=("$!")
bfedt_wait_line "$S2" '^ready$' 30000 || die "bus-flood sessions: $(cat "$S2")"
check_eq "one connection may hold 64 sessions" "opened 64 refused 6" "$(head -n1 "$S2")"
check "the 65th is refused with FWP_E_OUT_OF_BOUNDS naming the cap" \
        grep -q '^refusal org.bfed.Error.OutOfBounds FWP_E_OUT_OF_BOUNDS (0x80320028): a connection may hold 64 sessions' "$S2"

kill -TERM "$SESSIONS_PID" "$!"
wait "$SESSIONS_PID" 2>/dev/null
for _ in $(seq 100); do [[ "$(session_nodes)" == 0 ]] && break; sleep 0.05; done
check_eq "when the connections go, so do their 664 sessions" 0 "$(session_nodes)" || diag "$(tail -n 5 "$BFED_LOG")"

# ---- replies nobody reads -------------------------------------------------------------------

# 1,000 filters with 1,000-byte names: one EnumFilters reply is about 2.5 MB, under the 4 MiB cap
out=$(flood fill 1000 1000) || die "fill: $out"
rss() {
        awk '/^VmRSS:/ {print int($2 / 1024)}' "/proc/$BFED_PID/status"
}
rss_before=$(rss)
F="$BFEDT_TMP/unread.out"
setpriv --reuid=nobody --regid="$(id -gn nobody)" --clear-groups --inh-caps=-all \
        env DBUS_SYSTEM_BUS_ADDRESS="$BUS_ADDR" "$BUS_FLOOD" unread enum 8 120 >"$F" 2>&1 &
FLOOD_PID=$!
BFEDT_PIDS+=("$FLOOD_PID")
bfedt_wait_line "$F" '^ready$' 30000 || die "bus-flood unread: $(cat "$F")"
check_eq "nobody sent 960 EnumFilters it never reads" "sent 960" "$(head -n1 "$F")"

# root's calls go on meanwhile: each answered within 5 s (before: 25 s), bfed's memory bounded
max_rss=$rss_before slow=0
for i in $(seq 20); do
        if ! busctl --address="$BUS_ADDR" --timeout=5 call "$BFED_NAME" "$BFED_PATH" "$BFED_IFACE" AddFilter 'a{sv}' 4 \
                Name s "root during the flood $i" Layer s INBOUND_TRANSPORT_V4 Action u 4097 \
                Conditions 'a(sus)' 2 IP_PROTOCOL 0 udp IP_LOCAL_PORT 0 $((30000 + i)) >/dev/null; then
                slow=$((slow + 1))
        fi
        r=$(rss)
        ((r > max_rss)) && max_rss=$r
done
check_eq "all 20 of root's AddFilter calls were answered within 5 s during the flood" 0 "$slow"
diag "bfed's RSS: ${rss_before} MiB before the flood, at most ${max_rss} MiB during it"
check "bfed's memory stays bounded (under 250 MiB; 2.5 MB replies x 960 would be 2.4 GB)" test "$max_rss" -lt 250
kill -TERM "$FLOOD_PID"
wait "$FLOOD_PID" 2>/dev/null
check "bfed is still on the bus after the flood" bfedt_answers

# ---- a read-only transaction has a deadline -------------------------------------------------

R="$BFEDT_TMP/reader.out"
bfedt_provider "$R" --name "reader" begin-ro pause enum || die "reader provider"
READER_PID=$PROVIDER_PID
reader_id=${PROVIDER_SESSION##*/}

# a writer that gives up after 300 ms is told who holds the lock
W="$BFEDT_TMP/impatient.out"
bfedt_provider "$W" --name "impatient" --timeout-ms 300 block "impatient" INBOUND_TRANSPORT_V4 31000 ||
        die "impatient provider"
check "a write behind a read-only transaction times out with FWP_E_TIMEOUT" \
        grep -q '^error block org.bfed.Error.Timeout ' "$W"
check "the timeout names the read-only transaction and its session, not 'session 0'" \
        grep -qE "^error block .*read-only transaction of session $reader_id\b" "$W"

# a patient one gets through once the read-only transaction is aborted at its deadline (2 s)
t0=$(ms_now)
out=$(bus AddFilter 'a{sv}' 4 Name s "patient" Layer s INBOUND_TRANSPORT_V4 Action u 4097 \
        Conditions 'a(sus)' 2 IP_PROTOCOL 0 udp IP_LOCAL_PORT 0 31001 2>&1)
t1=$(ms_now)
check "a write waiting behind a read-only transaction succeeds once it is aborted" grep -q '^st ' <<<"$out"
check "it waited for the read-only transaction's deadline" test $((t1 - t0)) -ge 1000
check "the log says the read-only transaction was held too long" \
        grep -q "held its read-only transaction longer than 2 s: aborting it" "$BFED_LOG"
kill -USR1 "$READER_PID"
bfedt_wait_line "$R" '^(enum|error enum)' || die "reader did not go on"
check "the reader's next call learns its transaction was aborted" grep -q '^error enum org.bfed.Error.TxnAborted ' "$R"

bfedt_done
