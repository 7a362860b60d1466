#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A table that survives (issue 4 item 4):
#  (a) the owner flag: other processes' `nft flush ruleset`, `nft delete table`, `nft add rule`
#      change nothing;
#  (b) the watch (TableOwner=no, testing only): bfed notices a foreign deletion or rule change,
#      logs who did it, and restores the table within a second;
#  (c) the persist flag: after `kill -9`, and after SIGTERM with KeepTable=yes, the kernel keeps
#      the table and enforces it; the next bfed takes it over; KeepTable=no removes it.
source "$(dirname "$0")/lib.sh"

bfedt_require_root
bfedt_init
bfedt_netns a
NS=$REPLY
bfedt_start_bus

BLOCK_PORT=7070

# table_exists: table inet $TABLE is in the namespace's ruleset.
table_exists() {
        nsnft list table inet "$TABLE" >/dev/null 2>&1
}

# table_count: how many inet tables named $TABLE there are.
table_count() {
        nsnft -j list tables | jq --arg t "$TABLE" '[.nftables[] | select(has("table")) | .table
                | select(.family == "inet" and .name == $t)] | length'
}

# has_owner_flag: `nft list table` shows "flags owner" (nft 1.0.6 does not know persist).
has_owner_flag() {
        # not `nft | grep -q`: under pipefail, grep quitting early makes nft die of SIGPIPE
        grep -Eq '^\s*flags .*owner' <<<"$(nsnft list table inet "$TABLE" 2>/dev/null)"
}

# filter_ids_nft / filter_ids_engine: the filter ids in the table's rule comments, and the ids
# EnumFilters has; sorted, space-separated.
filter_ids_nft() {
        rules_tsv | awk -F'\t' '$2 != "-" { print $2 }' | sort -n | uniq | paste -sd' ' -
}
filter_ids_engine() {
        enum_filters | jq -r '.[].Id' | sort -n | paste -sd' ' -
}

# rules_text: the table as `nft list` prints it, without its flags, owner and counters. For a table that
# outlives bfed: nft 1.0.6's JSON output of a table with a single flag it does not name (persist,
# once the kernel dropped owner) is cut short depending on its heap (a use-after-free in
# table_flags_json()), so rules_tsv cannot read an orphan.
rules_text() {
        nsnft list table inet "$TABLE" | sed -E '/^\s*flags /d; s/ # progname .*//; s/ counter packets [0-9]+ bytes [0-9]+//'
}

# wait_for_rules EXPECTED_TSV_FILE MS: polls until rules_tsv equals the file; returns 1 on timeout.
wait_for_rules() {
        local want="$1" ms="$2" i
        for ((i = 0; i < ms / 50; i++)); do
                if table_exists && diff -q "$want" <(rules_tsv) >/dev/null 2>&1; then
                        return 0
                fi
                sleep 0.05
        done
        return 1
}

# udp_blocked: a datagram to 127.0.0.1:$BLOCK_PORT inside the namespace does not arrive.
udp_blocked() {
        bfedt_udp_deliver "$NS" "$NS" 127.0.0.1 "$BLOCK_PORT" 0 300
        (($? == 1))
}

add_block() {
        bus_json AddFilter 'a{sv}' 5 Name s "$1" Layer s INBOUND_TRANSPORT_V4 Action u 4097 \
                Weight y 5 Conditions 'a(sus)' 2 IP_PROTOCOL 0 udp IP_LOCAL_PORT 0 "$BLOCK_PORT" |
                jq -r '.data[1]'
}

# ---- (a) the owner flag: the kernel refuses other processes ------------------------------------

bfedt_start_bfed "$NS"
block_id=$(add_block "block udp $BLOCK_PORT")
[[ -n "$block_id" && "$block_id" != null ]] || die "AddFilter failed"
check "table has the owner flag" has_owner_flag
# The persist flag is Linux 6.9; bfed probes for it and says what it found.
IFS=. read -r kmaj kmin _ <<<"$(uname -r)"
if ((kmaj > 6 || (kmaj == 6 && kmin >= 9))); then
        HAVE_PERSIST=1
        check "bfed found the persist table flag (kernel $(uname -r))" grep -q "has the persist table flag" "$BFED_LOG"
else
        HAVE_PERSIST=0
        check "bfed found no persist table flag (kernel $(uname -r))" grep -q "does not have the persist table flag" "$BFED_LOG"
        diag "no persist flag before Linux 6.9: part (c) is skipped"
fi
check "the block filter drops UDP $BLOCK_PORT" udp_blocked

before=$(ruleset_stripped)
nsnft flush ruleset 2>/dev/null
diag "foreign 'nft flush ruleset' exit status $? (the kernel skips tables owned by another socket)"
check_eq "foreign 'nft flush ruleset' changes nothing" "$before" "$(ruleset_stripped)"

if nsnft delete table inet "$TABLE" 2>/dev/null; then
        not_ok "foreign 'nft delete table inet $TABLE' is refused"
else
        ok "foreign 'nft delete table inet $TABLE' is refused"
fi
check_eq "... and changes nothing" "$before" "$(ruleset_stripped)"

if nsnft add rule inet "$TABLE" inbound_transport_v4_universal drop 2>/dev/null; then
        not_ok "foreign 'nft add rule' into a bfed chain is refused"
else
        ok "foreign 'nft add rule' into a bfed chain is refused"
fi
check_eq "... and changes nothing" "$before" "$(ruleset_stripped)"
check "bfed logged no foreign change" bash -c "! grep -q 'was changed by' '$BFED_LOG'"

bfedt_stop_bfed
check_eq "bfed exits 0 on SIGTERM" "0" "$?"
check "KeepTable=no (default): SIGTERM removes the table" bash -c "! ip netns exec '$NS' nft list table inet '$TABLE' >/dev/null 2>&1"

# ---- (b) the watch: foreign changes are noticed, named and repaired ----------------------------

bfedt_start_bfed "$NS" TableOwner=no
check "TableOwner=no: no owner flag" bash -c "! ip netns exec '$NS' nft list table inet '$TABLE' | grep -Eq '^\s*flags .*owner'"
block_id=$(add_block "block udp $BLOCK_PORT")
want="$BFEDT_TMP/want.tsv"
rules_tsv >"$want"
check "the block filter's rule is in the table" grep -q "	$block_id	" "$want"

# a foreign deletion of the whole table
ip netns exec "$NS" nft delete table inet "$TABLE" &
nft_pid=$!
wait "$nft_pid"
check_eq "TableOwner=no: foreign 'nft delete table' succeeds" "0" "$?"
check "bfed restores the table within 1 s" wait_for_rules "$want" 1000
check_eq "the restored table holds the engine's filters (nft vs EnumFilters)" "$(filter_ids_engine)" "$(filter_ids_nft)"
check_eq "one table inet $TABLE" "1" "$(table_count)"
check "bfed's log names the deleter: 'was changed by $nft_pid (nft)'" \
        grep -q "was changed by $nft_pid (nft): deleted the table; restoring" "$BFED_LOG"
check "the block filter drops UDP $BLOCK_PORT again" udp_blocked

# a foreign rule in one of bfed's chains
ip netns exec "$NS" nft add rule inet "$TABLE" inbound_transport_v4_universal drop &
nft_pid=$!
wait "$nft_pid"
check_eq "TableOwner=no: foreign 'nft add rule' succeeds" "0" "$?"
check "bfed undoes the foreign rule within 1 s" wait_for_rules "$want" 1000
check "bfed's log names the process: 'was changed by $nft_pid (nft)'" \
        grep -q "was changed by $nft_pid (nft): added a rule to chain inbound_transport_v4_universal" "$BFED_LOG"

# a foreign deletion of one of bfed's rules
handle=$(nsnft -a list chain inet "$TABLE" inbound_transport_v4_universal |
        sed -n "s/.*comment \"filter $block_id:.*# handle \([0-9]*\)$/\1/p")
if [[ -n "$handle" ]]; then
        nsnft delete rule inet "$TABLE" inbound_transport_v4_universal handle "$handle"
        check "bfed puts a deleted rule back within 1 s" wait_for_rules "$want" 1000
else
        not_ok "found the block filter's rule handle"
fi

# our own changes are not foreign: adding and deleting a filter logs no change. bfed reads the
# events of its own commits and of everyone else's from one socket, in order: a foreign rule
# added after them is a marker: once bfed has reported it, it has handled the events before.
n_changed=$(grep -c 'was changed by' "$BFED_LOG")
extra_id=$(add_block "another block")
bus DeleteFilterById t "$extra_id" >/dev/null
ip netns exec "$NS" nft add rule inet "$TABLE" inbound_transport_v4_universal drop &
nft_pid=$!
wait "$nft_pid"
marker="was changed by $nft_pid (nft): added a rule to chain inbound_transport_v4_universal; restoring it."
bfedt_wait_log "was changed by $nft_pid \\(nft\\): added a rule" 1 || diag "bfed did not report the marker rule within 5 s"
check_eq "bfed's own commits are not reported as foreign changes (only the marker rule after them is)" \
        "$marker" "$(grep 'was changed by' "$BFED_LOG" | tail -n +$((n_changed + 1)) | sed 's/.*Table inet [^ ]* //')"
check "bfed undoes the marker rule within 1 s" wait_for_rules "$want" 1000
check_eq "EnumFilters still has the block filter only" "$block_id" "$(filter_ids_engine)"
bfedt_stop_bfed
check_eq "bfed exits 0 on SIGTERM" "0" "$?"

# ---- (c) persist: the kernel keeps the table while no bfed runs --------------------------------

if ((HAVE_PERSIST)); then
        bfedt_start_bfed "$NS" KeepTable=yes
        block_id=$(add_block "block udp $BLOCK_PORT")
        bus_json AddFilter 'a{sv}' 5 Name s "persistent block" Layer s INBOUND_TRANSPORT_V4 Action u 4097 \
                Flags u 1 Conditions 'a(sus)' 1 IP_LOCAL_PORT 0 7071 >/dev/null ||
                diag "AddFilter with FWPM_FILTER_FLAG_PERSISTENT refused (persistence not there yet?)"
        rules_text >"$want"
        kill -KILL "$BFED_PID"
        wait "$BFED_PID" 2>/dev/null
        BFED_PID=
        check "kill -9: the table is still there" table_exists
        check "kill -9: its rules are unchanged" diff -q "$want" <(rules_text)
        check "kill -9: the kernel dropped the owner flag (an orphan)" bash -c "! ip netns exec '$NS' nft list table inet '$TABLE' | grep -Eq '^\s*flags .*owner'"
        check "kill -9: the block filter still drops UDP $BLOCK_PORT" udp_blocked

        bfedt_start_bfed "$NS" KeepTable=yes
        check "restart: bfed took the table over (owner flag again)" has_owner_flag
        check_eq "restart: one table inet $TABLE" "1" "$(table_count)"
        check_eq "restart: the rules are the engine's (nft vs EnumFilters)" "$(filter_ids_engine)" "$(filter_ids_nft)"
        grep -q "Failed" "$BFED_LOG" && diag "$(grep Failed "$BFED_LOG")"

        block_id=$(add_block "block udp $BLOCK_PORT")
        rules_text >"$want"
        bfedt_stop_bfed
        check_eq "KeepTable=yes: bfed exits 0 on SIGTERM" "0" "$?"
        check "KeepTable=yes: SIGTERM leaves the table" table_exists
        check "KeepTable=yes: its rules are unchanged" diff -q "$want" <(rules_text)
        check "KeepTable=yes: bfed said so in its log" grep -q "Leaving table inet $TABLE in place" "$BFED_LOG"
        check "KeepTable=yes: the block filter still drops UDP $BLOCK_PORT" udp_blocked

        bfedt_start_bfed "$NS"
        check "restart with KeepTable=no: bfed took the table over" has_owner_flag
        check_eq "restart: one table inet $TABLE" "1" "$(table_count)"
        check_eq "restart: the rules are the engine's (nft vs EnumFilters)" "$(filter_ids_engine)" "$(filter_ids_nft)"
        bfedt_stop_bfed
        check_eq "bfed exits 0 on SIGTERM" "0" "$?"
        check "KeepTable=no: SIGTERM removes the taken-over table" bash -c "! ip netns exec '$NS' nft list table inet '$TABLE' >/dev/null 2>&1"
else
        ok "# SKIP persist checks: the kernel has no persist table flag"
fi

bfedt_done
