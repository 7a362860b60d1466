#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# When stderr is the journal's stream (JOURNAL_STREAM names its device and inode), bfed sends
# its entries with sd_journal_send: to a stand-in for journald (tests/tools/fake-journal) on
# /run/systemd/journal/socket, bind-mounted in a mount namespace of this test's own. The entries
# carry PRIORITY=, SYSLOG_IDENTIFIER=bfed, CODE_FILE=; the events an admin looks for their
# MESSAGE_ID= (exemptions on and off, table restored, obstacle found, state file refused); a
# filter's change BFED_FILTER_ID=, BFED_LAYER= and who made it; a refused call BFED_CALLER_UID=,
# BFED_CALLER_PID= and BFED_CALLER_NAME=; both BFED_CALLER_COMM=, the caller's command (busctl,
# bfectl), which bfed reads from /proc, and leaves out for a caller its /proc hides (mounted as
# ProtectProc=invisible does, bfed without CAP_SYS_PTRACE, the caller of another uid or gid).
# Without a journal listening, the lines go to stderr with "<N>" prefixes.
source "$(dirname "$0")/lib.sh"

: "${FAKE_JOURNAL:=$SOURCE_ROOT/tests/tools/fake-journal}"

bfedt_require_root
bfedt_require_bfectl
command -v unshare >/dev/null 2>&1 || skip_all "unshare not installed"
id nobody >/dev/null 2>&1 || skip_all "no user nobody"
if [[ -z "${BFEDT_JOURNAL_NS:-}" ]]; then
        exec unshare --mount --propagation private env BFEDT_JOURNAL_NS=1 "$BASH" "$0" "$@"
fi
bfedt_init

jdir=/run/systemd/journal
[[ -d "$jdir" ]] || { mkdir -p "$jdir" && created_jdir=yes; } || die "mkdir $jdir"
mkdir -p "$BFEDT_TMP/journal" && mount --bind "$BFEDT_TMP/journal" "$jdir" || die "bind $jdir"
entries="$BFEDT_TMP/entries.json"
/usr/bin/python3 "$FAKE_JOURNAL" "$jdir/socket" "$entries" &
JOURNAL_PID=$!
BFEDT_PIDS+=("$JOURNAL_PID")
bfedt_poll 5000 test -e "$entries.ready" || die "fake-journal did not start"
touch "$entries"

# has_entry JQ: an entry passes the jq test JQ
has_entry() {
        jq -e -s "any(.[]; $1)" "$entries" >/dev/null
}
wait_entry() {
        bfedt_poll 5000 has_entry "$1"
}

bfedt_netns a
NS="$REPLY"
bfedt_start_bus
log="$BFEDT_TMP/bfed.1.log"
: >"$log"
JOURNAL_STREAM=$(stat -c '%d:%i' "$log") bfedt_start_bfed "$NS" TableOwner=no

check "the start is in the journal, with PRIORITY=6, SYSLOG_IDENTIFIER=bfed and CODE_FILE= of the log call" \
        wait_entry '(.MESSAGE | startswith("Serving org.bfed.Engine1")) and .PRIORITY == "6" and
                    .SYSLOG_IDENTIFIER == "bfed" and (.CODE_FILE | endswith("bus.c"))'

ctx=$(add_context "ike main mode" 5)
read -r _ mm_id <<<"$(add_ctx_filter "mm policy" IKEEXT_V4 "$ctx")"
check "an MM policy filter is added" test -n "$mm_id"
check "its entry has BFED_FILTER_ID=$mm_id, BFED_LAYER=IKEEXT_V4 and who added it (root, BFED_CALLER_*)" \
        wait_entry ".BFED_FILTER_ID == \"$mm_id\" and .BFED_LAYER == \"IKEEXT_V4\" and .BFED_CALLER_UID == \"0\" and
                    (.BFED_CALLER_PID | tonumber > 0) and (.BFED_CALLER_NAME | startswith(\":\")) and
                    .BFED_CALLER_COMM == \"busctl\" and
                    (.MESSAGE | test(\"^Added filter $mm_id .* at IKEEXT_V4 by :[0-9.]+ \\\\(uid 0, pid [0-9]+, AddFilter\\\\)\\\\.$\"))"
check "exemptions on: MESSAGE_ID=4b50b032…, PRIORITY=5" \
        wait_entry '.MESSAGE_ID == "4b50b03226074bfe890821b04b22b26a" and .PRIORITY == "5"'
read -r _ ctl_id < <(ctl filter add --name "by bfectl" --layer INBOUND_TRANSPORT_V4 --action block)
check "a filter is added with bfectl" test -n "$ctl_id"
check "its entry names bfectl: BFED_CALLER_COMM=bfectl" \
        wait_entry ".BFED_FILTER_ID == \"$ctl_id\" and .BFED_CALLER_COMM == \"bfectl\" and .BFED_CALLER_UID == \"0\""

setpriv --reuid=nobody --regid="$(id -gn nobody)" --clear-groups --inh-caps=-all \
        busctl --address="$BUS_ADDR" call "$BFED_NAME" "$BFED_PATH" "$BFED_IFACE" AddProvider 'a{sv}' 1 Name s x \
        >/dev/null 2>&1
check "a refused call: BFED_CALLER_UID=$(id -u nobody), _PID=, _NAME=, _COMM=busctl, PRIORITY=5" \
        wait_entry "(.MESSAGE | startswith(\"Refused AddProvider\")) and .BFED_CALLER_UID == \"$(id -u nobody)\" and
                    (.BFED_CALLER_PID | tonumber > 0) and (.BFED_CALLER_NAME | startswith(\":\")) and
                    .BFED_CALLER_COMM == \"busctl\" and .PRIORITY == \"5\""

check "a foreign change to the table" nsnft add chain inet "$TABLE" intruder
check "table restored: MESSAGE_ID=98566e03…" wait_entry '.MESSAGE_ID == "98566e0327f247c9a9ed8c9e13f409e4"'

check "another table drops inbound" nsnft add table inet other
check "with a base chain of policy drop" \
        nsnft add chain inet other input '{ type filter hook input priority 0; policy drop; }'
check "obstacle found: MESSAGE_ID=5a504e4a…" wait_entry '.MESSAGE_ID == "5a504e4af9074f0e8ef1f923326c563c"'

check "the MM policy filter is deleted" bus DeleteFilterById t "$mm_id"
check "the deletion names who made it" \
        wait_entry "(.MESSAGE | startswith(\"Deleted filter $mm_id \")) and (.MESSAGE | endswith(\", DeleteFilterById).\"))"
check "exemptions off: MESSAGE_ID=411f280c…" wait_entry '.MESSAGE_ID == "411f280c79924940bccfbe59dfc48971"'
check_eq "nothing of it on stderr" 0 "$(grep -c 'Refused\|exemptions' "$log")"
check "bfed stops" bfedt_stop_bfed

# a state file of a newer version (a valid end record: count and CRC-32, gzip's trailer has it)
state="$BFEDT_TMP/state/state"
printf 'bfed-state 3\n' >"$BFEDT_TMP/newer.body"
{ cat "$BFEDT_TMP/newer.body"; echo "end 0 $(gzip -c <"$BFEDT_TMP/newer.body" | tail -c8 | head -c4 | od -An -tx4 |
        tr -d ' \n')"; } >"$state"
refused="$BFEDT_TMP/refused.log"
: >"$refused"
rc=0
ip netns exec "$NS" env DBUS_SYSTEM_BUS_ADDRESS="$BUS_ADDR" JOURNAL_STREAM="$(stat -c '%d:%i' "$refused")" \
        timeout 10 "$BFED" --config "$BFED_CONFIG" 2>"$refused" || rc=$?
check "bfed refuses to start on it (exit $rc)" test "$rc" -ne 0 -a "$rc" -ne 124
check "state file refused: MESSAGE_ID=0add7c23…, PRIORITY=3" \
        wait_entry '.MESSAGE_ID == "0add7c23996a438491cfcac049725279" and .PRIORITY == "3"'
rm -f "$state"

# As under ProtectProc=invisible: bfed's /proc hides the processes of other users, and bfed may
# not look past it: uid 0 here, but in the group of nobody (not /proc's gid=0) and without
# CAP_SYS_PTRACE, it sees only processes of its own uid and gid, as user bfed would. bfectl run
# with those (and its capabilities) is seen; root's bfectl (group 0) and nobody's busctl are not, and their entries have
# no BFED_CALLER_COMM=.
nogroup=$(id -gn nobody)
cat >"$BFEDT_TMP/bfed-hidden" <<EOF
#!/bin/bash
# in the mount namespace of \`ip netns exec\`: the mount stays there
mount -t proc -o hidepid=invisible proc /proc || exit 1
exec setpriv --regid="$nogroup" --clear-groups --bounding-set=-sys_ptrace --inh-caps=-sys_ptrace "$BFED" "\$@"
EOF
chmod 0755 "$BFEDT_TMP/bfed-hidden"
log="$BFEDT_TMP/bfed.2.log"
: >"$log"
JOURNAL_STREAM=$(stat -c '%d:%i' "$log") BFED="$BFEDT_TMP/bfed-hidden" bfedt_start_bfed "$NS" TableOwner=no
check "bfed runs without CAP_SYS_PTRACE (capability 19)" \
        test $(( 0x$(awk '$1 == "CapEff:" { print $2 }' "/proc/$BFED_PID/status") >> 19 & 1 )) -eq 0
# (and no capability bfed lacks: the kernel's check wants the caller's a subset of bfed's)
read -r _ seen_id < <(setpriv --regid="$nogroup" --clear-groups --bounding-set=-sys_ptrace --inh-caps=-sys_ptrace \
        "$BFECTL" filter add --name "seen" --layer INBOUND_TRANSPORT_V4 --action block)
check "bfectl as bfed's uid and gid is seen: BFED_CALLER_COMM=bfectl" \
        wait_entry ".BFED_FILTER_ID == \"$seen_id\" and .BFED_CALLER_COMM == \"bfectl\""
read -r _ hidden_id < <(ctl filter add --name "hidden" --layer INBOUND_TRANSPORT_V4 --action block)
check "root's bfectl (group 0) is hidden: its change has BFED_CALLER_UID=0, _PID=, and no BFED_CALLER_COMM=" \
        wait_entry ".BFED_FILTER_ID == \"$hidden_id\" and .BFED_CALLER_UID == \"0\" and
                    (.BFED_CALLER_PID | tonumber > 0) and (has(\"BFED_CALLER_COMM\") | not)"
setpriv --reuid=nobody --regid="$nogroup" --clear-groups --inh-caps=-all \
        busctl --address="$BUS_ADDR" call "$BFED_NAME" "$BFED_PATH" "$BFED_IFACE" AddProvider 'a{sv}' 1 Name s hidden \
        >/dev/null 2>&1
# (the first refusal had BFED_CALLER_COMM=busctl: one without it is this one)
check "nobody's busctl is hidden: its refusal has BFED_CALLER_UID= and _PID=, and no BFED_CALLER_COMM=" \
        wait_entry "(.MESSAGE | startswith(\"Refused AddProvider\")) and .BFED_CALLER_UID == \"$(id -u nobody)\" and
                    (.BFED_CALLER_PID | tonumber > 0) and (has(\"BFED_CALLER_COMM\") | not)"

kill "$JOURNAL_PID" && wait "$JOURNAL_PID" 2>/dev/null
setpriv --reuid=nobody --regid="$(id -gn nobody)" --clear-groups --inh-caps=-all \
        busctl --address="$BUS_ADDR" call "$BFED_NAME" "$BFED_PATH" "$BFED_IFACE" AddProvider 'a{sv}' 1 Name s y \
        >/dev/null 2>&1
check "no journal listening: the line goes to stderr with <5>" bfedt_poll 5000 grep -q '^<5>Refused AddProvider' "$log"

check "bfed stops cleanly" bfedt_stop_bfed
wc -l <"$entries" | sed "s/^/# journal entries: /"
umount "$jdir"
[[ "${created_jdir:-}" == yes ]] && rmdir "$jdir"
bfedt_done
