#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# bfed commits its own large batches with its nftables event monitor out of the nftables group:
# while anyone is in it, the kernel builds a notification for every set element a batch adds,
# only for bfed's socket filter to drop it (half of a commit of 700,000 elements). The window
# in which the monitor hears nothing must not hide a foreign change:
#  (a) TableOwner=no: a transaction of 6,000 filters goes without listening (the debug log says
#      so), and bfed then compares the whole table, as after lost events: as it must be;
#  (b) the monitor listens again: a foreign rule in bfed's table is noticed and taken out (the
#      restore is a large batch too, but it replaces the whole table: no compare after it);
#  (c) a small change goes while listening: no compare;
#  (d) with the owner flag no other process can change the table, and the monitor is in the group
#      only while the exemptions are active (read off the kernel, /proc/net/netlink): a large batch
#      before they are goes without the monitor, one while they are leaves the group for its
#      commit; no compare either way. Out of the group, reading ExemptionObstacles reads the
#      other tables again after a foreign commit, once per 200 ms at most.
source "$(dirname "$0")/lib.sh"

bfedt_require_root
bfedt_require_provider
bfedt_init
bfedt_netns a
NS=$REPLY
bfedt_start_bus

count() {
        grep -cE "$1" "$BFED_LOG" || true
}
QUIET='Committing a batch of [0-9]+ bytes without listening to nftables events'
SAME='Lost nftables events \(bfed did not listen while it committed a large batch\); table inet [a-z]+ is as it must be'

# load N PORTBASE: N block filters in one AddFilters call, inside a transaction
load() {
        local out="$BFEDT_TMP/provider.$2"
        bfedt_provider "$out" --name "loader $2" begin many "$1" "quiet $2" INBOUND_TRANSPORT_V4 "$2" commit ||
                die "provider: $(tr '\n' '|' <"$out")"
        grep -q "^many ok=$1 " "$out" || not_ok "the $1 filters were added: $(tr '\n' '|' <"$out")"
        grep -q '^commit ' "$out" || not_ok "the transaction of $1 filters committed: $(tr '\n' '|' <"$out")"
        kill "$PROVIDER_PID" 2>/dev/null
}

# ---- (a)–(c): TableOwner=no ---------------------------------------------------------------------
bfedt_start_bfed "$NS" TableOwner=no LogLevel=debug
load 6000 20000
check "(a) the batch went without listening" bfedt_wait_log "$QUIET" 1
check "(a) then bfed compared the table and found it as it must be" bfedt_wait_log "$SAME" 1
check_eq "(a) no restore" 0 "$(count 'restoring it')"
check_eq "(a) the kernel has the 6,000 filters" 6000 \
        "$(nsnft list table inet "$TABLE" | grep -c 'comment "filter [0-9]*: quiet 20000 ' || true)"

nsnft add rule inet "$TABLE" inbound_transport_v4_universal udp dport 9 accept comment '"foreign"' ||
        die "the foreign rule"
check "(b) the monitor listens again: the foreign rule is noticed" bfedt_wait_log 'Table inet [a-z]+ was changed by' 1
check "(b) ... and taken out" bfedt_poll 5000 bash -c "! ip netns exec '$NS' nft list table inet '$TABLE' | grep -q foreign"
check "(b) the restore went without listening" bfedt_wait_log "$QUIET" 2

quiet=$(count "$QUIET")
load 3 30000
check "(c) the small change is in the kernel" bfedt_poll 5000 bash -c \
        "ip netns exec '$NS' nft list table inet '$TABLE' | grep -q 'quiet 30000 2\"'"
check_eq "(c) ... and went while listening" "$quiet" "$(count "$QUIET")"
check_eq "(b), (c): no compare after the restore or the small change" 1 "$(count "$SAME")"
bfedt_stop_bfed || not_ok "bfed stops"

# ---- (d): the owner flag ------------------------------------------------------------------------
# in_group WHEN: checks that bfed's monitor is in the nftables group; out_group WHEN: that it is not
in_group() {
        check "(d) $1: in the nftables group" bfedt_nfnl_listening "$BFED_PID"
}
out_group() {
        if bfedt_nfnl_listening "$BFED_PID"; then
                not_ok "(d) $1: out of the nftables group"
        else
                ok "(d) $1: out of the nftables group"
        fi
}
bfedt_start_bfed "$NS" LogLevel=debug
out_group "no exemptions at start"
# out of the group, reading ExemptionObstacles reads the other tables again, at most every 200 ms
READ='Read the other nftables tables'
reads=$(count "$READ")
t0=$(ms_now)
for ((i = 0; i < 20; i++)); do
        nsnft add table inet churn && nsnft delete table inet churn || die "the churn table"
        obstacles >/dev/null
done
elapsed=$(($(ms_now) - t0))
reads=$(($(count "$READ") - reads))
check "(d) 20 foreign commits, each followed by a read of the property, in $elapsed ms: the tables read again" \
        test "$reads" -ge 1
check "(d) ... $reads times: about once per 200 ms at most" test "$reads" -le $((3 + elapsed / 200))
load 6000 20000
check_eq "(d) a batch before the exemptions: nothing to leave" 0 "$(count "$QUIET")"
out_group "after it"
ctx=$(add_context "ike main mode" 5)
read -r _ mm_id < <(add_ctx_filter "ike mm policy" IKEEXT_V4 "$ctx")
check_eq "(d) an MM policy: the exemptions are active" "true" "$(exemptions_active)"
in_group "the exemptions active"
load 6000 40000
check "(d) a batch while they are went without listening" bfedt_wait_log "$QUIET" 1
in_group "after it"
load 3 30000        # a later call is answered after the window's report
check_eq "(d) no compare: no other process could change the table" 0 "$(count 'Lost nftables events')"
check_eq "(d) the kernel has the filters" 12003 \
        "$(nsnft list table inet "$TABLE" | grep -c 'comment "filter [0-9]*: quiet ' || true)"
check "(d) the MM policy deleted" bus DeleteFilterById t "$mm_id"
check_eq "(d) the exemptions are inactive" "false" "$(exemptions_active)"
out_group "the exemptions gone"

bfedt_done
