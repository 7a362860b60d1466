#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# SIGHUP: bfed reads its configuration file and the drop-ins beside it (FILE.d/*.conf) again.
# SocketMark= and LocalSystemUser= reach the exemption rules in the kernel (the table is
# reinstalled), LogLevel= the log, Firewalld= the firewalld client (yes: firewalld not running
# is an obstacle; no: it is not); a key that needs a restart (Priority=) is named in the log and
# the table keeps its priority; a drop-in with an error changes nothing and bfed keeps running.
source "$(dirname "$0")/lib.sh"

bfedt_require_root
bfedt_init
bfedt_netns a
bfedt_start_bus
bfedt_start_bfed "$REPLY" Firewalld=auto

dropins="$BFED_CONFIG.d"
mkdir -p "$dropins" || die "mkdir $dropins"

ctx=$(add_context "ike main mode" 5)
check "an MM policy: the exemptions are active" test -n "$(add_ctx_filter "mm policy" IKEEXT_V4 "$ctx")"
check_eq "the exemptions are active" "true" "$(exemptions_active)"

ruleset() {
        nsnft list table inet "$TABLE"
}
has_rule() {
        grep -qE "$1" <<<"$(ruleset)"
}
lacks_rule() {
        ! has_rule "$1"
}
# hup: SIGHUP, then waits for the reload's last line (the Nth since start)
RELOADS=0
hup() {
        RELOADS=$((RELOADS + 1))
        kill -HUP "$BFED_PID" || return 1
        bfedt_wait_log 'Reloaded the configuration|Kept the running configuration' "$RELOADS"
}

check "at start: the exemptions match root's sockets" has_rule 'meta skuid 0 '
check "at start: no socket mark" lacks_rule 'socket mark'
check "at start: info level, no debug lines" test "$(bfedt_log_count ' debug')" -eq 0

cat >"$dropins/50-reload.conf" <<CONF
[Engine]
SocketMark=0x10
LocalSystemUser=65534
LogLevel=debug
Priority=-20
CONF
check "SIGHUP with a drop-in: bfed reloads" hup
check "bfed still runs and answers" bfedt_answers
check "the table is reinstalled with SocketMark=0x10" bfedt_poll 5000 has_rule 'socket mark 0x00000010'
check "and with LocalSystemUser=65534" has_rule 'meta skuid 65534 '
check "root's sockets are no longer the local system" lacks_rule 'meta skuid 0 '
check "Priority= is named as taking effect at the next start" \
        bfedt_wait_log 'taking effect when bfed restarts: Priority=\.' 1
check "the base chains keep priority -10" has_rule 'hook input priority (filter - 10|-10);'
check_eq "the exemptions are still active" "true" "$(exemptions_active)"
ctl filter list >/dev/null
check "LogLevel=debug: debug lines now" bfedt_wait_log ' debug' 1

echo "[Engine]
Bogus=1" >"$dropins/60-bad.conf"
before=$(ruleset)
check "SIGHUP with a bad drop-in: bfed keeps the running configuration" hup
check "the bad drop-in is named" bfedt_wait_log '60-bad\.conf:2: Bogus=1: unknown key' 1
check "bfed still runs and answers" bfedt_answers
check_eq "the table is unchanged" "$before" "$(ruleset)"
rm -f "$dropins/60-bad.conf"

cat >"$dropins/50-reload.conf" <<CONF
[Engine]
SocketMark=
Firewalld=yes
CONF
check "SIGHUP: SocketMark= empty, Firewalld=yes" hup
check "the socket mark is gone from the table" bfedt_poll 5000 lacks_rule 'socket mark'
check "LocalSystemUser= is root again" bfedt_poll 5000 has_rule 'meta skuid 0 '
check "Firewalld=yes: firewalld not running is an obstacle now" \
        bfedt_poll 5000 obstacles_match 'any(.[]; .[0] == "firewalld")'

echo "[Engine]
Firewalld=no" >"$dropins/50-reload.conf"
check "SIGHUP: Firewalld=no" hup
check "firewalld is no obstacle any more" bfedt_poll 5000 obstacles_match 'all(.[]; .[0] != "firewalld")'

check "bfed stops cleanly" bfedt_stop_bfed
bfedt_done
