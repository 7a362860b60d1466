#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# D-Bus activation: with bfed stopped, a call to org.bfed.Engine1 fails until the bus has the
# shipped activation file (conf/org.bfed.Engine1.service, as built); with it, the call starts
# bfed and is answered. The file names the unit's alias (SystemdService= equals bfed.service's
# Alias=), which is what a bus run by systemd starts. Exec= is rewritten to run the built bfed
# in the test's namespace (the installed path is checked, not run).
source "$(dirname "$0")/lib.sh"

: "${BFED_ACTIVATION:=$SOURCE_ROOT/build/conf/org.bfed.Engine1.service}"
: "${BFED_UNIT:=$SOURCE_ROOT/build/systemd/bfed.service}"

bfedt_require_root
[[ -f "$BFED_ACTIVATION" ]] || die "activation file not built ($BFED_ACTIVATION)"
[[ -f "$BFED_UNIT" ]] || die "unit not built ($BFED_UNIT)"
bfedt_init
bfedt_netns a
NS="$REPLY"

# key FILE SECTION KEY: the value of KEY in [SECTION] of an ini-style FILE.
key() {
        awk -v sect="[$2]" -v key="$3" '
                /^\[/ { in_sect = ($0 == sect); next }
                in_sect && index($0, key "=") == 1 { print substr($0, length(key) + 2); exit }' "$1"
}

check_eq "the activation file names the bus name" "org.bfed.Engine1" \
        "$(key "$BFED_ACTIVATION" "D-BUS Service" Name)"
check_eq "SystemdService= is the unit's Alias=" "$(key "$BFED_UNIT" Install Alias)" \
        "$(key "$BFED_ACTIVATION" "D-BUS Service" SystemdService)"
check_eq "SystemdService= is dbus-org.bfed.Engine1.service" "dbus-org.bfed.Engine1.service" \
        "$(key "$BFED_ACTIVATION" "D-BUS Service" SystemdService)"
check_eq "Exec= is the unit's ExecStart=" "$(key "$BFED_UNIT" Service ExecStart)" \
        "$(key "$BFED_ACTIVATION" "D-BUS Service" Exec)"
check "User= is set (a system bus's launch helper needs it)" \
        test -n "$(key "$BFED_ACTIVATION" "D-BUS Service" User)"

bfedt_start_bus

# version_call: the Version property, through the bus (which may activate bfed).
version_call() {
        busctl --address="$BUS_ADDR" get-property "$BFED_NAME" "$BFED_PATH" "$BFED_IFACE" Version 2>&1
}

out=$(version_call)
rc=$?
check "without the activation file a call to the stopped bfed fails" test "$rc" -ne 0
check "... because nobody provides the name" grep -qi "not activatable\|ServiceUnknown\|not provided" <<<"$out" ||
        diag "got: $out"

# The shipped file with Exec= pointing at the built bfed in our namespace and config.
mkdir -p "$BFEDT_TMP/services"
printf '[Engine]\nStateDirectory=%s/state\n' "$BFEDT_TMP" >"$BFEDT_TMP/bfed.conf"
sed "s|^Exec=.*|Exec=/usr/bin/env ip netns exec $NS /usr/bin/env DBUS_SYSTEM_BUS_ADDRESS=$BUS_ADDR $BFED --config $BFEDT_TMP/bfed.conf|" \
        "$BFED_ACTIVATION" >"$BFEDT_TMP/services/org.bfed.Engine1.service"
cat >"$BFEDT_TMP/bus-extra.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <servicedir>$BFEDT_TMP/services</servicedir>
</busconfig>
EOF
check "dbus-daemon reloaded with the activation file" bfedt_reload_bus

activatable=$(busctl --address="$BUS_ADDR" call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
        ListActivatableNames)
check "the bus lists org.bfed.Engine1 as activatable" grep -q '"org.bfed.Engine1"' <<<"$activatable"

# activated: a call starts bfed; sets BFED_PID (so the cleanup stops it) and checks its table.
activated() {
        local what="$1" out pid
        out=$(version_call)
        check "$what: the call started bfed and got its answer" grep -q '^s "' <<<"$out" || diag "got: $out"
        pid=$(busctl --address="$BUS_ADDR" call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
                GetConnectionUnixProcessID s "$BFED_NAME" 2>/dev/null | awk '{print $2}')
        check "$what: bfed owns org.bfed.Engine1" test -n "$pid"
        BFED_PID="$pid"
        check "$what: its table is in the namespace" nsnft list table inet "$TABLE"
}

# stop_activated: SIGTERM to the activated bfed (a child of dbus-daemon, not of this shell), and
# wait until it is gone.
stop_activated() {
        kill -TERM "$BFED_PID" 2>/dev/null || return 1
        bfedt_poll 5000 bash -c "! kill -0 $BFED_PID 2>/dev/null" || return 1
        BFED_PID=
}

activated "first call"
check "bfed stops on SIGTERM" stop_activated
check "and its table is gone" bash -c "! ip netns exec $NS nft list table inet $TABLE >/dev/null 2>&1"
activated "a call after the stop"
check "bfed stops on SIGTERM again" stop_activated

bfedt_done
