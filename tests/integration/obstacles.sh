#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The other tables' obstacles (issue 9 §1): bfed in namespace "a" reads the other nftables
# tables at start and after each change, and says which base chains may drop the datagrams its
# exemptions let through, in the ExemptionObstacles property (with PropertiesChanged), in its
# log, in bfectl status and after bfectl explain's permit. Real datagrams from namespace "b"
# over a veth pair show that what it says is true:
#  - an iptables-nft/ufw-shaped `ip filter INPUT` (written with nft), there before bfed starts:
#    reported at start (info: no exemptions yet), then as a warning once they are active, as
#    "may drop … new flows"; new inbound flows are dropped, a reply to this host's flow is not;
#  - a hand-written inet table with `policy drop`: reported as certain, and the datagrams are
#    dropped; removing it clears the property, with PropertiesChanged;
#  - a table that accepts UDP 500 and 4500 before its policy drop, and one that drops only TCP:
#    never reported, and the datagrams pass.
# No waiting for time: the property changes are waited for (their PropertiesChanged signals);
# "nothing is reported" is read after a marker table that is reported, added after it.
source "$(dirname "$0")/lib.sh"

bfedt_require_root
bfedt_require_bfectl
[[ -x "$UDP_PROBE" ]] || die "udp-probe not built ($UDP_PROBE)"
bfedt_init
bfedt_two_hosts 4

# expect DESCRIPTION pass|drop DST PORT: three datagrams from B to A's DST:PORT.
expect() {
        bfedt_expect_udp "$1" "$2" "$NS_A" "$NS_B" "$3" "$4"
}

# start_signal_monitor: bfed's PropertiesChanged signals, as busctl monitor prints them (a JSON
# object a line), into $SIGNALS_RAW; returns once it is subscribed. signals: the new values of
# ExemptionObstacles in them, a JSON array a line.
SIGNALS_RAW=
start_signal_monitor() {
        SIGNALS_RAW="$BFEDT_TMP/signals.raw"
        : >"$SIGNALS_RAW"
        busctl --address="$BUS_ADDR" monitor --json=short --match "type='signal',sender='$BFED_NAME',\
interface='org.freedesktop.DBus.Properties',member='PropertiesChanged',path='$BFED_PATH'" >"$SIGNALS_RAW" 2>&1 &
        BFEDT_PIDS+=($!)
        bfedt_wait_line "$SIGNALS_RAW" '^Monitoring' || die "busctl monitor did not start: $(cat "$SIGNALS_RAW")"
}
signals() {
        grep '^{' "$SIGNALS_RAW" | jq -c '.payload.data[1].ExemptionObstacles.data // empty'
}

# signals_mark: wait_obstacles looks only at the signals that come after this call.
SIGNALS_MARK=0
signals_mark() {
        SIGNALS_MARK=$(grep -c '^{' "$SIGNALS_RAW")
}

# wait_obstacles DESCRIPTION JQ: waits (5 s) for a PropertiesChanged since signals_mark whose new
# value passes the jq test JQ (. is the array), then checks the property passes it too.
wait_obstacles() {
        if bfedt_poll 5000 _signal_matches "$2"; then
                ok "$1: PropertiesChanged"
        else
                not_ok "$1: PropertiesChanged"
                echo "#   signals: $(signals | paste -sd' ')"
        fi
        check "$1: ExemptionObstacles" obstacles_match "$2"
}
_signal_matches() {
        grep '^{' "$SIGNALS_RAW" | tail -n +$((SIGNALS_MARK + 1)) |
                jq -c '.payload.data[1].ExemptionObstacles.data // empty' | jq -e -s "map($1) | any" >/dev/null
}

# lacks REGEX TEXT: no line of TEXT matches REGEX (grep -E).
lacks() {
        ! grep -qE "$1" <<<"$2"
}

# has TABLE CHAIN: the jq test "an entry of TABLE and CHAIN"
has() {
        echo "any(.[]; .[0] == \"$1\" and .[1] == \"$2\")"
}

# marker_sync DESCRIPTION: adds a table bfed reports (outbound new flows of UDP 500 dropped at
# postrouting, which the inbound probes never pass) and waits until the property shows it: then
# every commit before it has been analyzed. Deletes it again and waits until it is gone.
marker_sync() {
        nsnft add table ip marker || die "marker table"
        nsnft add chain ip marker m '{ type filter hook postrouting priority 0; policy accept; }'
        nsnft add rule ip marker m udp dport 500 drop
        bfedt_poll 5000 obstacles_match "$(has "ip marker" m)" || not_ok "$1: the marker table is reported"
}
marker_remove() {
        nsnft delete table ip marker
        bfedt_poll 5000 obstacles_match "$(has "ip marker" m) | not" || not_ok "the marker table is gone"
}

# static_warning TABLE CHAIN: the regex of the analysis' warning about TABLE's CHAIN (not the
# trace watch's, "Table T, chain C dropped an exempted IKE datagram", which comes per datagram).
static_warning() {
        echo "^bfed warning: Table $1, chain $2 \\(hook "
}

# An iptables-nft/ufw-shaped INPUT chain, as nft writes it: loopback and replies accepted, the
# user's rules (ssh) jumped to, then the policy drops the rest.
UFW_LIKE='table ip filter {
	chain ufw-user-input {
		tcp dport 22 accept
	}
	chain INPUT {
		type filter hook input priority filter; policy drop;
		iifname "lo" accept
		ct state related,established accept
		ct state invalid drop
		jump ufw-user-input
	}
}'

bfedt_start_bus
NS=$NS_A        # for nsnft, before bfed starts there
nsnft -f - <<<"$UFW_LIKE" || die "the ufw-like table"
bfedt_start_bfed "$NS_A"
start_signal_monitor

# ---- at start, before the exemptions: reported, logged at info level -------------------------------
check "start: ip filter INPUT reported" obstacles_match "$(has "ip filter" INPUT)"
check_eq "start: what it drops" \
        '"may drop IPv4 UDP 500/4500 inbound new flows: policy drop"' \
        "$(obstacles | jq -c '.[] | select(.[0] == "ip filter") | .[2]')"
check "start: logged at info level, with what to do" \
        bfedt_wait_log '^bfed info: Table ip filter, chain INPUT .*may drop.*'\
'iptables -I INPUT -p udp -m multiport --dports 500,4500 -j ACCEPT' 1
check_eq "start: no warning yet (the exemptions are not active)" 0 "$(bfedt_log_count '^bfed warning: Table ip filter')"

# ---- while they are inactive bfed is out of the nftables event group; what the other tables hold
# is read when the property is, if anything was committed since -----------------------------------
if bfedt_nfnl_listening "$BFED_PID"; then
        not_ok "inactive: bfed is out of the nftables event group (read off the kernel)"
else
        ok "inactive: bfed is out of the nftables event group (read off the kernel)"
fi
nsnft add table inet latecomer || die "inet latecomer"
nsnft add chain inet latecomer input '{ type filter hook input priority 0; policy drop; }' || die "its chain"
check "inactive: a table added since is reported when the property is read" \
        bfedt_poll 5000 obstacles_match "$(has "inet latecomer" input)"
nsnft delete table inet latecomer || die "inet latecomer deleted"
check "inactive: ... and gone when it is read after the table went" \
        bfedt_poll 5000 obstacles_match "$(has "inet latecomer" input) | not"

# neighbour resolution before the probes (ARP is not filtered by table ip; ND not at all here)
bfedt_resolve_neigh "$NS_B" "$A4" "$A6"

# ---- the exemptions come: the same obstacle, now a warning; and it is true ----------------------
ctx=$(add_context "ike main mode" 5)
add_ctx_filter "ike mm policy" IKEEXT_V4 "$ctx" >/dev/null
check_eq "MM policy added: ExemptionsActive" "true" "$(exemptions_active)"
check "active: bfed is in the nftables event group" bfedt_nfnl_listening "$BFED_PID"
check "ufw-like: a warning once the exemptions are active" bfedt_wait_log "$(static_warning "ip filter" INPUT)" 1
expect "ufw-like: a new inbound IPv4 UDP 500 flow is dropped, as reported" drop "$A4" 500
expect "ufw-like: IPv4 UDP 4500 too" drop "$A4" 4500
expect "ufw-like: IPv6 UDP 500 passes (an ip table)" pass "$A6" 500
# a reply: this host's flow from UDP 500 to the peer's 500 first, then the peer's datagram back
ip netns exec "$NS_A" "$UDP_PROBE" send --to "$B4" --port 500 --sport 500 --payload flow ||
        die "udp-probe could not start a flow from A"
check "ufw-like: a reply to this host's flow passes (ct state established), as reported" \
        bfedt_udp_deliver "$NS_A" "$NS_B" "$A4" 500 500 2000

out=$(ctl explain INBOUND_TRANSPORT_V4 IP_PROTOCOL=udp IP_LOCAL_PORT=500)
check "bfectl explain: the permit, then 'but may be dropped by'" grep -qxF \
        "  but may be dropped by: ip filter INPUT: policy drop" <<<"$out"
check "bfectl explain: the permit is still bfed's verdict" grep -q '^Verdict: permit, decided by filter' <<<"$out"
out=$(ctl explain INBOUND_TRANSPORT_V4 IP_PROTOCOL=udp IP_LOCAL_PORT=500 BFED_LOCALLY_INITIATED=true)
check "bfectl explain: a reply (this host's flow) has no obstacle" lacks "dropped by" "$out"
out=$(ctl explain INBOUND_TRANSPORT_V6 IP_PROTOCOL=udp IP_LOCAL_PORT=500)
check "bfectl explain: nor IPv6" lacks "dropped by" "$out"
check_eq "Explain's obstacles over D-Bus" '[["ip filter","INPUT","policy drop",false]]' \
        "$(bus_json Explain 'sa{ss}' INBOUND_TRANSPORT_V4 2 IP_PROTOCOL udp IP_LOCAL_PORT 4500 | jq -c '.data[3]')"
check "bfectl status shows it" grep -qE \
        '^Obstacles: +ip filter INPUT: may drop IPv4 UDP 500/4500 inbound new flows: policy drop$' <<<"$(ctl status)"
check "bfectl --json status shows it" jqq '.exemption_obstacles == [{"table":"ip filter","chain":"INPUT",
        "what":"may drop IPv4 UDP 500/4500 inbound new flows: policy drop"}]' <<<"$(ctl --json status)"

signals_mark
nsnft delete table ip filter
wait_obstacles "ufw-like table deleted: nothing reported" '. == []'
check "the deletion is logged" bfedt_wait_log '^bfed notice: Table ip filter, chain INPUT no longer drops' 1
check_eq "ufw-like: one warning for it while it was there" 1 \
        "$(bfedt_log_count "$(static_warning "ip filter" INPUT)")"
expect "ufw-like table deleted: IPv4 UDP 500 passes" pass "$A4" 500
check_eq "bfectl status: none" "Obstacles:         none" "$(ctl status | grep '^Obstacles:')"

# ---- a hand-written inet table with policy drop: certain ----------------------------------------
signals_mark
nsnft -f - <<'EOF' || die "the policy drop table"
table inet handmade {
	chain input {
		type filter hook input priority 0; policy drop;
		meta l4proto ipv6-icmp accept
	}
}
EOF
wait_obstacles "policy drop: reported" "$(has "inet handmade" input)"
check_eq "policy drop: what it drops, for certain" \
        '"drops IPv4 UDP 500/4500 and IPv6 UDP 500 inbound: policy drop"' \
        "$(obstacles | jq -c '.[] | select(.[0] == "inet handmade") | .[2]')"
check "policy drop: a warning naming the table, the chain, what drops and what to do" bfedt_wait_log \
        '^bfed warning: Table inet handmade, chain input \(hook input, priority 0\) drops .*: policy drop\..*'\
'nft insert rule inet handmade input udp dport \{ 500, 4500 \} accept' 1
expect "policy drop: IPv4 UDP 500 is dropped, as reported" drop "$A4" 500
expect "policy drop: IPv6 UDP 500 is dropped, as reported" drop "$A6" 500
out=$(ctl explain INBOUND_TRANSPORT_V6 IP_PROTOCOL=udp IP_LOCAL_PORT=500 BFED_LOCALLY_INITIATED=true)
check "bfectl explain: 'but dropped by' (certain), replies too" grep -qxF \
        "  but dropped by: inet handmade input: policy drop" <<<"$out"
marker_sync "policy drop"
check_eq "policy drop: one warning for it, not one per analysis" 1 \
        "$(bfedt_log_count "$(static_warning "inet handmade" input)")"
marker_remove

signals_mark
nsnft delete table inet handmade
wait_obstacles "policy drop table deleted: the property is empty again" '. == []'
expect "policy drop table deleted: IPv4 UDP 500 passes" pass "$A4" 500

# ---- tables that do not drop IKE: never reported, and the datagrams pass -------------------------
nsnft -f - <<'EOF' || die "the table that accepts IKE"
table inet accepts {
	chain input {
		type filter hook input priority 0; policy drop;
		meta l4proto ipv6-icmp accept
		udp dport { 500, 4500 } accept
	}
}
table inet tcponly {
	chain input {
		type filter hook input priority 0; policy accept;
		meta l4proto tcp drop
	}
}
EOF
marker_sync "accept before the drop, TCP only"
check "a table that accepts UDP 500 and 4500 before its policy drop is not reported" \
        obstacles_match "$(has "inet accepts" input) | not"
check "a table that drops only TCP is not reported" obstacles_match "$(has "inet tcponly" input) | not"
check "nor did any signal ever name them" lacks "inet (accepts|tcponly)" "$(cat "$SIGNALS_RAW")"
marker_remove
check_eq "only the marker came and went: nothing reported" "[]" "$(obstacles)"
expect "accepting tables: IPv4 UDP 500 passes" pass "$A4" 500
expect "accepting tables: IPv4 UDP 4500 passes" pass "$A4" 4500
expect "accepting tables: IPv6 UDP 500 passes" pass "$A6" 500
expect "accepting tables: the policy drop is real (UDP 7000 dropped)" drop "$A4" 7000
out=$(ctl explain INBOUND_TRANSPORT_V4 IP_PROTOCOL=udp IP_LOCAL_PORT=500)
check "bfectl explain: a plain permit" lacks "dropped by" "$out"

check "bfed logged no error" lacks "^bfed err" "$(cat "$BFED_LOG")"

# ---- ObstacleAnalysis=no: the other tables are not read ------------------------------------------
nsnft add table inet handmade || die "inet handmade again"
nsnft add chain inet handmade input '{ type filter hook input priority 0; policy drop; }'
check "bfed stops cleanly" bfedt_stop_bfed
bfedt_start_bfed "$NS_A" ObstacleAnalysis=no
check_eq "ObstacleAnalysis=no: nothing reported (the analysis runs before bfed answers, when on)" "[]" "$(obstacles)"
check "ObstacleAnalysis=no: logged" bfedt_wait_log '^bfed info: ObstacleAnalysis=no' 1
check_eq "ObstacleAnalysis=no: nothing logged about inet handmade" 0 \
        "$(bfedt_log_count '^bfed [a-z]+: Table inet handmade, chain input \(hook')"
bfedt_done
