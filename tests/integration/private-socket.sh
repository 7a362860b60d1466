#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# private-socket.sh — root's private socket (PrivateSocket=, src/daemon/bus-private.h): bfed
# serves the same objects there without dbus-daemon, and libbfe takes it when it may. Only root
# gets in; a connection is a peer of its own ("private:N"), whose dynamic session ends when it
# closes; it hears the broadcast signals; and it keeps working while the bus is gone.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

bfedt_require_root
bfedt_require_bfectl
bfedt_require_provider
bfedt_init
bfedt_netns daemon
bfedt_start_bus
bfedt_start_bfed "$REPLY"
SOCK="$BFEDT_TMP/private"

check "bfed listens on its private socket" grep -q "Serving org.bfed.Engine1 to root on $SOCK too" "$BFED_LOG"
check_eq "the socket is for bfed's user alone" "600" "$(stat -c %a "$SOCK")"

# libbfe's root client takes the socket when told where it is; the log names its peer
BFE_PRIVATE_SOCKET="$SOCK" ctl filter add --name "over the socket" --layer INBOUND_TRANSPORT_V4 --action block \
        --condition IP_PROTOCOL=udp --condition IP_LOCAL_PORT=7001 >/dev/null
check "a call over the socket is a private peer's" \
        grep -qE "Added filter [0-9]+ [-0-9a-f]+ 'over the socket' .* by private:[0-9]+ \(uid 0" "$BFED_LOG"
check "its filter is in the kernel" grep -q 'comment "filter [0-9]*: over the socket"' <<<"$(nsnft list ruleset)"
BFE_PRIVATE_SOCKET= ctl filter add --name "over the bus" --layer INBOUND_TRANSPORT_V4 --action block \
        --condition IP_PROTOCOL=udp --condition IP_LOCAL_PORT=7002 >/dev/null
check "without BFE_PRIVATE_SOCKET the same call goes through the bus" \
        grep -qE "Added filter [0-9]+ [-0-9a-f]+ 'over the bus' .* by :[0-9]+\.[0-9]+ \(uid 0" "$BFED_LOG"

# the broadcast signals reach a private connection: a monitor there sees a change made on the bus
MON="$BFEDT_TMP/monitor.out"
BFE_PRIVATE_SOCKET="$SOCK" DBUS_SYSTEM_BUS_ADDRESS="$BUS_ADDR" "$BFECTL" --json monitor >"$MON" 2>"$MON.err" &
MON_PID=$!
BFEDT_PIDS+=("$MON_PID")
bfedt_wait_line "$MON.err" '^Monitoring' || die "bfectl monitor did not start: $(cat "$MON.err")"
signalled=$(BFE_PRIVATE_SOCKET= ctl filter add --name "watched" --layer INBOUND_TRANSPORT_V4 --action block \
        --condition IP_PROTOCOL=udp --condition IP_LOCAL_PORT=7003 | awk '{print $1}')
check "the private monitor hears of a filter added over the bus" \
        bfedt_poll 5000 grep -q "$signalled" "$MON"
kill "$MON_PID" 2>/dev/null
wait "$MON_PID" 2>/dev/null

# a dynamic session on a private connection ends when the connection does
P="$BFEDT_TMP/provider.out"
BFE_PRIVATE_SOCKET="$SOCK" bfedt_provider "$P" --dynamic --name "private provider" \
        block "dynamic block" INBOUND_TRANSPORT_V4 7004 || die "provider"
dyn=$(provider_filter_ids "$P")
check "the dynamic filter is in the kernel" grep -q "comment \"filter $dyn: dynamic block\"" <<<"$(nsnft list ruleset)"
kill -KILL "$PROVIDER_PID"
wait "$PROVIDER_PID" 2>/dev/null
dyn_gone() {
        ! grep -q "comment \"filter $dyn: dynamic block\"" <<<"$(nsnft list ruleset)"
}
check "when its connection closes, the dynamic session's filter goes" bfedt_poll 5000 dyn_gone

# only root: a process of another user that gets to the socket is turned away
chmod 0666 "$SOCK"
setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.settimeout(5)
sys.exit(0 if s.recv(64) == b"" else 1)' "$SOCK"
check_eq "bfed closes a non-root connection at once" "0" "$?"
check "and says why" grep -q "Refused a private connection from uid 65534 (pid [0-9]*): only root may use $SOCK" \
        "$BFED_LOG"
chmod 0600 "$SOCK"

# a socket left behind by a bfed that was killed is taken over by the next one
kill -KILL "$BFED_PID"
wait "$BFED_PID" 2>/dev/null
check "a killed bfed leaves its socket behind" test -S "$SOCK"
bfedt_start_bfed "$NS"
check "the next bfed takes the stale socket over" grep -q "Serving org.bfed.Engine1 to root on $SOCK too" "$BFED_LOG"
check "and answers on it" env BFE_PRIVATE_SOCKET="$SOCK" "$BFECTL" status

# but a socket another process listens on (another bfed's, in another namespace) is left alone
BUSY="$BFEDT_TMP/busy"
/usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(8)
print("listening", flush=True)
while True:
    s.accept()[0].close()' "$BUSY" >"$BFEDT_TMP/busy.out" 2>&1 &
BUSY_PID=$!
BFEDT_PIDS+=("$BUSY_PID")
bfedt_wait_line "$BFEDT_TMP/busy.out" '^listening' || die "the stand-in listener did not start"
bfedt_stop_bfed >/dev/null
bfedt_start_bfed "$NS" "PrivateSocket=$BUSY"
check "bfed leaves a socket that another process listens on alone" \
        grep -q "listens on $BUSY: this bfed leaves it alone" "$BFED_LOG"
check "which still is the other's" /usr/bin/python3 -c '
import socket, sys
socket.socket(socket.AF_UNIX).connect(sys.argv[1])' "$BUSY"
bfedt_stop_bfed >/dev/null
check "and bfed does not remove it when it stops" test -S "$BUSY"
kill "$BUSY_PID" 2>/dev/null
bfedt_start_bfed "$NS"

# the bus goes: root's tools still reach bfed over the socket
kill -TERM "$BUS_PID"
wait "$BUS_PID" 2>/dev/null
BUS_PID=
bfedt_wait_log "Lost the system bus" 1 || diag "bfed did not log the lost bus"
check "with the bus gone, bfectl status works over the socket" \
        env BFE_PRIVATE_SOCKET="$SOCK" "$BFECTL" status
check "and so does a change" env BFE_PRIVATE_SOCKET="$SOCK" "$BFECTL" filter add --name "no bus" \
        --layer INBOUND_TRANSPORT_V4 --action block --condition IP_PROTOCOL=udp --condition IP_LOCAL_PORT=7005
check "which is in the kernel" grep -q 'comment "filter [0-9]*: no bus"' <<<"$(nsnft list ruleset)"

bfedt_stop_bfed >/dev/null
check "bfed removes its socket when it stops" test ! -e "$SOCK"

bfedt_done
