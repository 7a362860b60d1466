#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# bus-loss.sh — bfed notices that it lost the bus. When dbus-daemon dies, bfed logs it and
# closes the sessions of the callers that were on it (a dynamic session's objects go, as when
# its caller dies); when dbus-daemon is back, bfed connects again and owns its name again,
# without reinstalling the table. When the bus stays away longer than BusTimeoutSec,
# bfed exits with a failure status for the service manager to restart it, leaving its table
# (persist flag) enforcing.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

bfedt_require_root
bfedt_require_provider
bfedt_init
bfedt_netns daemon
bfedt_start_bus
bfedt_start_bfed "$REPLY" BusTimeoutSec=2
grep -q "has the persist table flag" "$BFED_LOG" || skip_all "the kernel has no persist table flag"

# handles: "CHAIN HANDLE COMMENT" of every rule of our table, to see that nothing was reinstalled
handles() {
        nsnft -a list table inet "$TABLE" | awk '/comment "filter/ {
                for (i = 1; i <= NF; i++) if ($i == "handle") h = $(i + 1)
                match($0, /comment "[^"]*"/); print h, substr($0, RSTART, RLENGTH) }' | sort
}

bus_wait_log() {
        bfedt_wait_line "$BFED_LOG" "$1" "${2:-10000}"
}

static=$(add_block_udp "static block" INBOUND_TRANSPORT_V4)
check "a static filter was added" test -n "$static"
P="$BFEDT_TMP/provider.out"
bfedt_provider "$P" --dynamic --name "dynamic provider" block "dynamic block" INBOUND_TRANSPORT_V4 7001 ||
        die "provider"
check "the dynamic provider's filter is in the kernel" grep -q '^filter ' "$P"
before=$(handles)
check "both filters are rules" test "$(wc -l <<<"$before")" -eq 2

# ---- the bus daemon restarts -----------------------------------------------------------------

kill -KILL "$BUS_PID"
wait "$BUS_PID" 2>/dev/null
BUS_PID=
check "bfed logs that it lost the bus" bus_wait_log "Lost the system bus"
check "bfed keeps running without a bus" kill -0 "$BFED_PID"
# the callers were on the old bus: their sessions end, as when they die
check "the session of the provider, whose connection died with the bus, is closed" \
        bus_wait_log "closed; its dynamic objects are deleted"
check_eq "the static rule keeps its handle (nothing is reinstalled); the dynamic one is gone" \
        "$(grep 'static block' <<<"$before")" "$(handles)"

bfedt_start_bus
check "bfed connects again and owns its name again" bus_wait_log "Connected to the system bus again and own org.bfed.Engine1"
check "it answers on the new bus" bfedt_answers
check_eq "the static rule still has its handle after the reconnection" \
        "$(grep 'static block' <<<"$before")" "$(handles)"
out=$(add_block_udp "after the restart" INBOUND_TRANSPORT_V4)
check "changes work on the new bus" test -n "$out"

# ---- the bus daemon stays away ----------------------------------------------------------------

before=$(handles)
kill -KILL "$BUS_PID"
wait "$BUS_PID" 2>/dev/null
BUS_PID=
check "bfed logs the loss again" bus_wait_log "Lost the system bus.*" 
for _ in $(seq 100); do kill -0 "$BFED_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$BFED_PID" 2>/dev/null; then
        not_ok "bfed exits when the bus stays away longer than BusTimeoutSec"
else
        wait "$BFED_PID"
        rc=$?
        BFED_PID=
        check "bfed exits with a failure status for the service manager to restart it" test "$rc" -ne 0
fi
check "the log says why, and that the table keeps enforcing" \
        grep -q "Could not get the system bus back within 2 s.*keeps enforcing" "$BFED_LOG"
check_eq "its table stays in the kernel, every rule as it was" "$before" "$(handles)"

bfedt_done
