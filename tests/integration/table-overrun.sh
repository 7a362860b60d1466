#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The table after lost nftables events (TableOwner=no): bfed is stopped (SIGSTOP), nftables
# events in another table flood its monitor socket until the kernel drops them (the socket's
# Drops in /proc/net/netlink), then its table is changed, so those events are lost too, and
# bfed goes on (SIGCONT). ChunkSize=2, so bfed's chains are chunked, and the exemptions split
# full chunks in the middle: the table is what incremental changes made of it. It must compare
# the whole table with what it must be:
#  (a) nothing of it changed: no restore, and the notice "… is as it must be";
#  (t) the same while a session's write transaction is open: bfed waits for it to end, then
#      compares with what was committed;
#  (b) a foreign accept rule before its block, a foreign drop rule, one of its rules replaced:
#      restored, the log names the differences, and real packets see bfed's rules again;
#  (c) one of its rules deleted and added back the same, which only changes its handle: the
#      kernel's rules read as before, but bfed's bookkeeping would miss the rule; restored,
#      and deleting that filter afterwards works.
source "$(dirname "$0")/lib.sh"

bfedt_require_root
bfedt_require_provider
bfedt_init
bfedt_netns a
NS=$REPLY
bfedt_start_bus

BLOCK_PORT=7070   # bfed blocks it; the foreign accept rule of (b) opens it
OPEN_PORT=7090    # nothing of bfed's blocks it; the foreign drop rule of (b) closes it
CHAIN=inbound_transport_v4_universal   # the sublayer's first chunk: its rules come first

bfedt_start_bfed "$NS" TableOwner=no ChunkSize=2

add_filter() {
        bus_json AddFilter 'a{sv}' "$@" | jq -r '.data[1]'
}

# A filter of each shape bfed compiles: a rule of its own, a run (a named set with per-element
# counters and comments), ORed ranges and prefixes (anonymous interval sets), ORed ports (an
# anonymous set), and an MM policy, whose exemption rules use the constant set @ike_ports.
block_id=$(add_filter 5 Name s "block udp $BLOCK_PORT" Layer s INBOUND_TRANSPORT_V4 Action u 4097 Weight y 9 \
        Conditions 'a(sus)' 2 IP_PROTOCOL 0 udp IP_LOCAL_PORT 0 "$BLOCK_PORT")
for port in 7071 7072 7073; do
        run_id=$(add_filter 5 Name s "block udp $port" Layer s INBOUND_TRANSPORT_V4 Action u 4097 Weight y 5 \
                Conditions 'a(sus)' 2 IP_PROTOCOL 0 udp IP_LOCAL_PORT 0 "$port")
done
ranges_id=$(add_filter 4 Name s "ranges" Layer s INBOUND_TRANSPORT_V4 Action u 4097 \
        Conditions 'a(sus)' 2 IP_LOCAL_PORT 5 8000-8010 IP_LOCAL_PORT 5 8100-8110)
add_filter 4 Name s "v6 nets" Layer s OUTBOUND_TRANSPORT_V6 Action u 4097 \
        Conditions 'a(sus)' 2 IP_REMOTE_ADDRESS 0 2001:db8::/32 IP_REMOTE_ADDRESS 0 2001:db9::/48 >/dev/null
add_filter 4 Name s "dns" Layer s ALE_AUTH_CONNECT_V4 Action u 4097 \
        Conditions 'a(sus)' 2 IP_REMOTE_PORT 0 53 IP_REMOTE_PORT 0 853 >/dev/null
ctx=$(add_context "ike" 5)
add_filter 4 Name s "mm" Layer s IKEEXT_V4 Action u 4098 ProviderContextKey s "$ctx" >/dev/null
[[ "$block_id" =~ ^[0-9]+$ && "$ranges_id" =~ ^[0-9]+$ ]] || die "AddFilter failed"
check_eq "the IKE exemptions are in" "true" "$(exemptions_active)"
check "the table has a run's set" grep -q 'set run_' <<<"$(nsnft list table inet "$TABLE")"
check "the sublayer's chain is chunked" grep -q "chain ${CHAIN}_c" <<<"$(nsnft list table inet "$TABLE")"

# flat_rules: rules_tsv of the sublayers' rules whatever chunk they are in, the gotos between
# chunks left out, sorted: a restore lays the chunks out anew (the order is the comparison's
# business, and the packets')
flat_rules() {
        rules_tsv | sed -E 's/^([^\t]*)_c[0-9]+\t/\1\t/' | grep -Ev $'\tgoto:[a-z0-9_]*_c[0-9]+$' | sort
}
want="$BFEDT_TMP/want.tsv"
flat_rules >"$want"
check "the rules to come back to hold the block filter's" grep -q "^$CHAIN	$block_id	" "$want"
check "... and the ranges filter's" grep -q "^$CHAIN	$ranges_id	" "$want"

# ---- helpers -----------------------------------------------------------------------------------

# handles: the table with its rule handles, counters left out (what a restore would change).
handles() {
        nsnft -a list table inet "$TABLE" | sed -E 's/counter packets [0-9]+ bytes [0-9]+/counter/'
}

# rule_at COMMENT_PREFIX: "CHAIN HANDLE" of the rule whose comment starts so (in any chunk).
rule_at() {
        nsnft -j -a list table inet "$TABLE" | jq -r --arg c "$1" '.nftables[] | select(has("rule")) | .rule
                | select((.comment // "") | startswith($c)) | "\(.chain) \(.handle)"'
}

# chain_handles CHAIN: the handles of its rules, in order, one a line.
chain_handles() {
        nsnft -j -a list chain inet "$TABLE" "$1" | jq -r '.nftables[] | select(has("rule")) | .rule.handle'
}

# installs: how often bfed installed its table (once at start, once per restore).
installs() {
        grep -c "Installed table inet $TABLE" "$BFED_LOG"
}

# wait_count REGEX N [MS]: waits until the log has at least N lines matching REGEX.
wait_count() {
        local re="$1" n="$2" ms="${3:-10000}" end
        end=$(($(ms_now) + ms))
        while (($(ms_now) < end)); do
                (($(grep -cE "$re" "$BFED_LOG") >= n)) && return 0
                sleep 0.02
        done
        return 1
}

# wait_for_rules FILE MS: polls until flat_rules equals FILE.
wait_for_rules() {
        local end=$(($(ms_now) + $2))
        while (($(ms_now) < end)); do
                diff -q "$1" <(flat_rules) >/dev/null 2>&1 && return 0
                sleep 0.05
        done
        return 1
}

udp_delivered() {
        bfedt_udp_deliver "$NS" "$NS" 127.0.0.1 "$1" 0 2000
}

udp_blocked() {
        bfedt_udp_deliver "$NS" "$NS" 127.0.0.1 "$1" 0 300
        (($? == 1))
}

check "the block filter drops UDP $BLOCK_PORT" udp_blocked "$BLOCK_PORT"
check "UDP $OPEN_PORT gets through" udp_delivered "$OPEN_PORT"

# ---- (a) events lost, nothing of bfed's table changed ------------------------------------------

before=$(handles)
n_installs=$(installs)
bfedt_lose_events
ok "the monitor socket overran: the kernel dropped events (/proc/net/netlink Drops)"
bfedt_resume_events
check "bfed compares the table and finds it as it must be" \
        wait_count "Lost nftables events \(the monitor's queue overran\); table inet $TABLE is as it must be: [0-9]+ chains, [0-9]+ rules, [0-9]+ sets with [0-9]+ elements compared in" 1
check_eq "no restore: bfed installed the table no further time" "$n_installs" "$(installs)"
check_eq "no restore: every rule keeps its handle" "$before" "$(handles)"
check "no line says it differs" bash -c "! grep -q 'is not as it must be' '$BFED_LOG'"

# ---- (t) events lost while a session's write transaction is open -------------------------------

# the transaction deletes a member of the run and adds a filter; bfed's bookkeeping describes
# the kernel only once it is committed
P="$BFEDT_TMP/provider.out"
bfedt_provider "$P" --name "holder" begin delete-filter "$run_id" block "txn block" INBOUND_TRANSPORT_V4 7095 pause \
        commit || die "provider"
n_installs=$(installs)
bfedt_lose_events
bfedt_resume_events
check "bfed waits for the open transaction before it checks the table" \
        wait_count "Waiting for the open transaction to end before checking table inet $TABLE" 1
check_eq "... and has not compared yet" "1" "$(grep -c 'is as it must be' "$BFED_LOG")"
kill -USR1 "$PROVIDER_PID"
check "the transaction commits" bfedt_wait_line "$P" '^commit '
check "then bfed compares, and finds the table as it must be" wait_count "table inet $TABLE is as it must be" 2
added=$(grep -n "'txn block' at INBOUND_TRANSPORT_V4" "$BFED_LOG" | cut -d: -f1)
compared=$(grep -n "is as it must be" "$BFED_LOG" | tail -n1 | cut -d: -f1)
check "... after the commit (log lines $added, $compared)" test -n "$added" -a "${compared:-0}" -gt "${added:-0}"
check_eq "no restore" "$n_installs" "$(installs)"
txn_id=$(provider_filter_ids "$P")
check "the table has the committed filter $txn_id and not the deleted $run_id" \
        bash -c "[[ ' $(nft_filter_ids | paste -sd' ' -) ' == *' $txn_id '* && ' $(nft_filter_ids | paste -sd' ' -) ' != *' $run_id '* ]]"
kill -TERM "$PROVIDER_PID"
wait "$PROVIDER_PID" 2>/dev/null
flat_rules >"$want"

# ---- (b) events lost while another process changes rules in bfed's table -----------------------

read -r ranges_chain ranges <<<"$(rule_at "filter $ranges_id: ")"
[[ -n "$ranges" ]] || die "found no rule for filter $ranges_id"
bfedt_lose_events
nsnft insert rule inet "$TABLE" "$CHAIN" udp dport "$BLOCK_PORT" accept
nsnft insert rule inet "$TABLE" "$CHAIN" udp dport "$OPEN_PORT" drop
nsnft replace rule inet "$TABLE" "$ranges_chain" handle "$ranges" udp dport 8000 accept
check "while bfed is stopped, the foreign accept rule lets UDP $BLOCK_PORT through" udp_delivered "$BLOCK_PORT"
check "while bfed is stopped, the foreign drop rule blocks UDP $OPEN_PORT" udp_blocked "$OPEN_PORT"
bfedt_resume_events
check "bfed says the table is not as it must be, and restores it" \
        wait_count "Lost nftables events, and table inet $TABLE is not as it must be \(3 differences, compared in .*; restoring it" 1
check "the log names the replaced rule: chain, handle, filter and what it is now" \
        grep -qF "Table inet $TABLE: chain $ranges_chain: rule $ranges (\"filter $ranges_id: ranges\") was changed to: " \
                "$BFED_LOG"
check "the log names the foreign rules" \
        grep -qE "Table inet $TABLE: chain $CHAIN: rule [0-9]+ is not bfed's: .*immediate\(dreg=0,data=accept\)" "$BFED_LOG"
check "bfed's rules are back and the foreign ones gone (nft list ruleset)" wait_for_rules "$want" 5000
check "UDP $BLOCK_PORT is blocked again" udp_blocked "$BLOCK_PORT"
check "UDP $OPEN_PORT gets through again" udp_delivered "$OPEN_PORT"
check "UDP 8005 is blocked again (the replaced rule's ranges)" udp_blocked 8005

# ---- (c) events lost while one of bfed's rules is deleted and added back the same --------------

read -r block_chain old <<<"$(rule_at "filter $block_id: ")"
[[ -n "$old" ]] || die "found no rule for filter $block_id"
# where it goes back: after the rule before it, or before the one after it
mapfile -t handles_in < <(chain_handles "$block_chain")
where=()
for i in "${!handles_in[@]}"; do
        [[ "${handles_in[i]}" == "$old" ]] || continue
        if ((i > 0)); then
                where=(add rule inet "$TABLE" "$block_chain" position "${handles_in[i - 1]}")
        elif ((i + 1 < ${#handles_in[@]})); then
                where=(insert rule inet "$TABLE" "$block_chain" position "${handles_in[i + 1]}")
        else
                where=(add rule inet "$TABLE" "$block_chain")
        fi
done
n_installs=$(installs)
exact="$BFEDT_TMP/exact.tsv"
rules_tsv >"$exact"
bfedt_lose_events
nsnft delete rule inet "$TABLE" "$block_chain" handle "$old"
nsnft "${where[@]}" udp dport "$BLOCK_PORT" counter drop comment "\"filter $block_id: block udp $BLOCK_PORT\""
read -r _ new <<<"$(rule_at "filter $block_id: ")"
check "the rule added back has a new handle ($old -> $new)" test -n "$new" -a "$new" != "$old"
check "... and reads as before: nft list ruleset cannot tell" diff -q "$exact" <(rules_tsv)
bfedt_resume_events
check "bfed finds the handle changed, and restores the table" \
        wait_count "Lost nftables events, and table inet $TABLE is not as it must be .*restoring it" 2
check "the log names the missing handle" \
        grep -qF "chain $block_chain: rule $old (\"filter $block_id: block udp $BLOCK_PORT\") is missing" "$BFED_LOG"
check "the log names the new rule as not bfed's" grep -qF "chain $block_chain: rule $new is not bfed's" "$BFED_LOG"
check "bfed installed the table again" wait_count "Installed table inet $TABLE" $((n_installs + 1))
check "bfed's rules are as they were" wait_for_rules "$want" 5000
# with the handles it knows, bfed can delete the filter's rule again
check "deleting filter $block_id works" bus DeleteFilterById t "$block_id"
check "... and its rule is gone from the table" test -z "$(rule_at "filter $block_id: ")"
check "UDP $BLOCK_PORT gets through now" udp_delivered "$BLOCK_PORT"

bfedt_stop_bfed
check_eq "bfed exits 0 on SIGTERM" "0" "$?"
bfedt_done
