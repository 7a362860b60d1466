#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The config keys reach the ruleset: Table, Priority, LocalSystemUser, SocketMark; and bfed
# replaces a stale table of its name at start.
source "$(dirname "$0")/lib.sh"

bfedt_require_root
bfedt_init
bfedt_netns a
NS=$REPLY
bfedt_start_bus

# A stale table of the configured name, as a crashed run would leave it.
nsnft add table inet ikefw
nsnft add chain inet ikefw stale_chain
check "stale table inet ikefw created" nsnft list chain inet ikefw stale_chain

bfedt_start_bfed "$NS" Table=ikefw Priority=-50 LocalSystemUser=nobody SocketMark=0x2a
check_eq "bfed uses the configured table name" "ikefw" "$TABLE"
check_eq "the SocketMark property tells the configured mark" "u 42" "$(getprop SocketMark)"

tjson=$(ruleset_json)
check "stale chain replaced at start" \
        jqq '[.nftables[] | select(has("chain")) | .chain | select(.name == "stale_chain")] | length == 0' \
        <<<"$tjson"
check "no table inet bfed (the default name) created" \
        jqq '[.nftables[] | select(has("table")) | .table | select(.name == "bfed")] | length == 0' \
        <<<"$tjson"
for spec in inbound_transport:input:-50 ale_auth_recv_accept:input:-49 \
            ale_auth_connect:output:-50 outbound_transport:output:-49 ipforward:forward:-50 \
            ale_flow_established_in:input:-48 ale_flow_established_out:output:-48; do
        IFS=: read -r chain hook prio <<<"$spec"
        check "base chain $chain at hook $hook priority $prio" \
                jqq --arg t "$TABLE" --arg c "$chain" --arg h "$hook" --argjson p "$prio" \
                '[.nftables[] | select(has("chain")) | .chain
                  | select(.table == $t and .name == $c and .hook == $h and .prio == $p)] | length == 1' \
                <<<"$tjson"
done

ctx=$(add_context "ike main mode" 5)
read -r _ mm_id < <(add_ctx_filter "ike mm policy" IKEEXT_V4 "$ctx")
check_eq "ExemptionsActive" "true" "$(exemptions_active)"

tsv="$BFEDT_TMP/rules.tsv"
rules_tsv >"$tsv"
EXEMPT_IDS=$(engine_owned_ids | tr '\n' ' ')
nobody_uid=$(id -u nobody)
check_eq "ALE connect v4: meta skuid is the configured user (nobody = $nobody_uid)" "500,4500" \
        "$(exempt_ports "$tsv" ale_auth_connect_v4_universal udp.sport "meta.skuid=$nobody_uid")"
check_eq "ALE connect v6: meta skuid is the configured user" "500" \
        "$(exempt_ports "$tsv" ale_auth_connect_v6_universal udp.dport "meta.skuid=$nobody_uid")"
check_eq "ALE recv-accept v4: socket mark 0x2a required" "500,4500" \
        "$(exempt_ports "$tsv" ale_auth_recv_accept_v4_universal udp.dport socket.transparent=0 socket.mark=42)"
check_eq "ALE recv-accept v6: socket mark 0x2a required" "500" \
        "$(exempt_ports "$tsv" ale_auth_recv_accept_v6_universal udp.dport socket.transparent=0 socket.mark=42)"
check_eq "no skuid 0 match left with LocalSystemUser=nobody" "" \
        "$(awk -F'\t' '$3 ~ /meta\.skuid=0( |$)/' "$tsv")"

bfedt_stop_bfed
check_eq "bfed exits 0 on SIGTERM" "0" "$?"
check "table inet ikefw removed on SIGTERM" bash -c "! ip netns exec '$NS' nft list table inet ikefw >/dev/null 2>&1"

# With an invalid priority bfed refuses to start rather than hook somewhere unexpected.
echo -e "[Engine]\nPriority=-300" >"$BFEDT_TMP/bad.conf"
if ip netns exec "$NS" env DBUS_SYSTEM_BUS_ADDRESS="$BUS_ADDR" timeout 5 "$BFED" --config "$BFEDT_TMP/bad.conf" \
        >"$BFEDT_TMP/bfed.bad.log" 2>&1; then
        not_ok "Priority=-300 (before conntrack) is refused"
else
        rc=$?
        if ((rc == 124)); then not_ok "Priority=-300 (before conntrack) is refused (bfed kept running)"
        else ok "Priority=-300 (before conntrack) is refused (exit $rc)"; fi
fi

bfedt_done
