#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# bfed-vici (issue 10): two real charons (Debian's strongswan-charon) in namespaces "a" and "b"
# joined by veth; bfed in "a" with a policy that blocks every other UDP datagram at the
# transport and ALE layers, and SocketMark=0x42, which charon a sets on its sockets
# (charon.plugins.socket-default.fwmark). The bridge follows charon a over vici:
#   - without its policy an IKE SA cannot be established (the block filters count the
#     datagrams); with a connection loaded, `swanctl --initiate` establishes one both ways;
#   - each connection has an MM context per IKE version it accepts (5, 10) and a filter per
#     family at IKEEXT_V4/_V6; a load reaches the kernel within a second; a connection changed
#     in place gets the policy of what it is now;
#   - unloading (swanctl --load-conns without them), stopping the bridge, SIGKILL of charon and
#     SIGKILL of the bridge each take the policy and the exemptions away; charon restarted and
#     loaded again brings them back;
#   - bfed restarted: the bridge opens a new session and adds its policy again;
#   - the bridge compares the socket marks and warns when they differ.
# The bridge runs as its unit runs it: root without capabilities, under the unit's system call
# filter (not in the sanitized build).
# The machine's kernel has no ESP: a CHILD_SA cannot be installed, so the IKE SA reaching
# ESTABLISHED is the success.
source "$(dirname "$0")/lib.sh"

: "${BFED_VICI:=$SOURCE_ROOT/build/src/vici-bridge/bfed-vici}"
: "${BFED_VICI_UNIT:=$SOURCE_ROOT/build/systemd/bfed-vici.service}"
: "${UNIT_SECCOMP:=$SOURCE_ROOT/tests/tools/unit-seccomp}"
: "${BFED_SANITIZE:=none}"
PROVIDER_KEY=8a3f1c52-6b0e-4d7a-9c41-2f5e7b6d0a19

bfedt_require_root
bfedt_require_charon
[[ -x "$BFED_VICI" ]] || die "bfed-vici not built ($BFED_VICI)"
[[ -f "$BFED_VICI_UNIT" ]] || die "bfed-vici.service not built ($BFED_VICI_UNIT)"
# the unit's system call filter, where it can be had (not under the sanitizers' runtime)
seccomp=()
if [[ "$BFED_SANITIZE" == none ]] && /usr/bin/python3 -c 'import seccomp' 2>/dev/null; then
        seccomp=(/usr/bin/python3 "$UNIT_SECCOMP" "$BFED_VICI_UNIT" --)
fi
bfedt_init
bfedt_netns a
NS_A=$REPLY
bfedt_netns b
NS_B=$REPLY
A4=10.211.0.1 B4=10.211.0.2 A6=fd00:bfed:11::1 B6=fd00:bfed:11::2
bfedt_veth "$NS_A" "$NS_B" "$A4/24" "$B4/24" "$A6/64" "$B6/64"

# ---- charon a and b ------------------------------------------------------------------------

PSK=0sdmljaS1icmlkZ2UtdGVzdC1rZXk=      # base64 of "vici-bridge-test-key"
bfedt_charon_config a "plugins { socket-default { fwmark = 0x42 } }"
DIR_A=$REPLY
bfedt_charon_config b
DIR_B=$REPLY

# swanctl_conf LOCAL REMOTE NAME [VERSION]: a PSK connection from LOCAL to REMOTE
swanctl_conf() {
        cat <<EOF
        $3 {
                version = ${4:-2}
                local_addrs = $1
                remote_addrs = $2
                local { auth = psk
                        id = $1 }
                remote { auth = psk
                         id = $2 }
                children { net { mode = transport } }
        }
EOF
}
secrets() {
        echo "secrets { ike-ab { id-a = $A4
        id-b = $B4
        secret = $PSK } }"
}
# charon a: to b (IKEv2, IPv4), an IKEv1 one over IPv6, and road warriors of either version
# and family (%any, version 0)
{
        echo "connections {"
        swanctl_conf "$A4" "$B4" to-b
        swanctl_conf "$A6" "$B6" v6-ikev1 1
        swanctl_conf %any %any road-warriors 0
        echo "}"
        secrets
} >"$DIR_A/full.conf"
{ echo "connections {"; echo "}"; secrets; } >"$DIR_A/empty.conf"
{ echo "connections {"; swanctl_conf "$B4" "$A4" to-a; echo "}"; secrets; } >"$DIR_B/swanctl.conf"

((${#seccomp[@]})) ||
        diag "python3-seccomp missing or a sanitized build: the bridge runs without its system call filter"
bfedt_start_bus
bfedt_start_bfed "$NS_A" SocketMark=0x42
bfedt_start_charon "$NS_A" a
bfedt_start_charon "$NS_B" b
swan b --load-all --file "$DIR_B/swanctl.conf" >/dev/null || die "charon b did not load its connection"

# a policy that blocks every UDP datagram the exemptions do not let through
for layer in INBOUND_TRANSPORT_V4 OUTBOUND_TRANSPORT_V4 ALE_AUTH_RECV_ACCEPT_V4 ALE_AUTH_CONNECT_V4 \
             INBOUND_TRANSPORT_V6 OUTBOUND_TRANSPORT_V6; do
        add_block_udp "block udp $layer" "$layer" >/dev/null || die "block filter at $layer"
done

# ---- helpers --------------------------------------------------------------------------------

BRIDGE_PID=
BRIDGE_RUNS=0
# start_bridge [ARGS...]: bfed-vici in namespace a, finding charon a's socket through its
# strongswan.conf (STRONGSWAN_CONF), as on a host; as its unit runs it: root without any
# capability (charon's socket is root:root 0770), under its system call filter (seccomp, when
# there is one); log in $BFEDT_TMP/bfed-vici.N.log.
start_bridge() {
        BRIDGE_RUNS=$((BRIDGE_RUNS + 1))
        BRIDGE_LOG="$BFEDT_TMP/bfed-vici.$BRIDGE_RUNS.log"
        ip netns exec "$NS_A" env DBUS_SYSTEM_BUS_ADDRESS="$BUS_ADDR" STRONGSWAN_CONF="$DIR_A/strongswan.conf" \
                setpriv --bounding-set=-all --inh-caps=-all --no-new-privs "${seccomp[@]}" "$BFED_VICI" "$@" \
                2>"$BRIDGE_LOG" &
        BRIDGE_PID=$!
        BFEDT_PIDS+=("$BRIDGE_PID")
}
# stop_bridge [SIGNAL]: signals the bridge (SIGTERM by default) and returns its exit status
stop_bridge() {
        local rc
        kill -"${1:-TERM}" "$BRIDGE_PID" 2>/dev/null
        wait "$BRIDGE_PID" 2>/dev/null
        rc=$?
        BRIDGE_PID=
        return "$rc"
}

# provider_policy: the bridge's filters in bfed, one line each: NAME|LAYER|CONTEXT TYPE, sorted
provider_policy() {
        local ctx flt
        ctx=$(bus_json EnumProviderContexts 'a{sv}' 1 ProviderKey s "$PROVIDER_KEY" |
                jq -c '[.data[0][] | {(.Key.data): .Type.data}] | add // {}')
        flt=$(bus_json EnumFilters 'a{sv}' 1 ProviderKey s "$PROVIDER_KEY")
        jq -r --argjson ctx "$ctx" '.data[0][] | "\(.Name.data)|\(.Layer.data)|\($ctx[.ProviderContextKey.data])"' \
                <<<"$flt" | sort
}
_policy_is() {
        [[ "$(provider_policy)" == "$1" ]]
}
_has_provider() {
        [[ "$(bus_json EnumProviders |
                jq -r --arg k "$PROVIDER_KEY" '.data[0][] | select(.Key.data == $k) | .Name.data')" == strongSwan ]]
}
# exemption rules in bfed's table (the IKE ports accepted), as nft lists them
exemption_rules() {
        nsnft list table inet "$TABLE" 2>/dev/null | grep -c 'IKE/AuthIP exemption' || true
}
_exempt() {
        [[ "$(exemptions_active)" == true ]] && (($(exemption_rules) > 0))
}
_not_exempt() {
        [[ "$(exemptions_active)" == false ]] && (($(exemption_rules) == 0))
}

# blocked_packets: the datagrams bfed's block filters dropped so far (their nft counters)
blocked_packets() {
        nsnft -j list table inet "$TABLE" | jq '[.nftables[] | select(has("rule")) | .rule
                | select((.comment // "") | test("block udp")) | .expr[] | select(has("counter"))
                | .counter.packets] | add // 0'
}

# ike_established NAME CONN: whether charon NAME has an ESTABLISHED IKE SA of CONN
ike_established() {
        swan "$1" --list-sas --ike "$2" 2>/dev/null | grep -q "^$2: #[0-9]*, ESTABLISHED"
}
# initiate NAME CONN: swanctl --initiate of the IKE SA only (a CHILD_SA needs ESP), 3 s at most;
# charon's log lines of the attempt are in $BFEDT_TMP/initiate.out
initiate() {
        swan "$1" --initiate --ike "$2" --timeout 3 >"$BFEDT_TMP/initiate.out" 2>&1
}
# initiate_ok NAME CONN: initiate, which must succeed (else its last lines go to the output)
initiate_ok() {
        initiate "$@" && return 0
        diag "swanctl --initiate: $(tail -n 4 "$BFEDT_TMP/initiate.out" | paste -sd'|')"
        diag "swanctl: $(grep -vE "^(plugin|opening directory)" "$BFEDT_TMP/swanctl.err" | tail -n 3 | paste -sd'|')"
        return 1
}
initiate_fails() {
        ! initiate "$@"
}
not_established() {
        ! ike_established "$@"
}
# terminate_all: no IKE SA left on either side (also a half-open one still retransmitting), so that
# the next initiate starts a new one; charon re-uses an established IKE SA of the connection
terminate_all() {
        swan a --terminate --ike to-b --force >/dev/null 2>&1
        swan b --terminate --ike to-a --force >/dev/null 2>&1
        bfedt_poll 3000 _no_sas a && bfedt_poll 3000 _no_sas b || not_ok "the IKE SAs are terminated"
}
_no_sas() {
        [[ -z "$(swan "$1" --list-sas 2>/dev/null)" ]]
}

# ---- without the bridge: no exemption, no IKE ------------------------------------------------

swan a --load-all --file "$DIR_A/full.conf" >/dev/null || die "charon a did not load its connections"
check_eq "charon a has its connections, bfed no exemptions (no bridge)" "false" "$(exemptions_active)"
blocked_before=$(blocked_packets)
check "without the bridge, initiating from a to b fails" initiate_fails a to-b
check "and no IKE SA is established" not_established a to-b
check "bfed's block filters dropped the IKE datagrams" test "$(blocked_packets)" -gt "$blocked_before"
terminate_all
swan a --load-conns --file "$DIR_A/empty.conf" >/dev/null

# ---- the bridge: a load becomes the policy and the exemptions within a second ----------------

start_bridge
check "the bridge opens its session in bfed, provider strongSwan" bfedt_poll 5000 _has_provider
check_eq "no connection loaded: no policy" "" "$(provider_policy)"
check_eq "no connection loaded: no exemptions" "false" "$(exemptions_active)"

t0=$(ms_now)
swan a --load-conns --file "$DIR_A/full.conf" >/dev/null || not_ok "swanctl --load-conns"
if bfedt_poll 1000 _exempt; then
        load_ms=$(($(ms_now) - t0))
        ok "swanctl --load-conns to the exemptions in the kernel within a second ($load_ms ms)"
else
        not_ok "swanctl --load-conns to the exemptions in the kernel within a second"
fi
EXPECTED_POLICY="strongSwan: road-warriors (IKEv1, IPv4)|IKEEXT_V4|5
strongSwan: road-warriors (IKEv1, IPv6)|IKEEXT_V6|5
strongSwan: road-warriors (IKEv2, IPv4)|IKEEXT_V4|10
strongSwan: road-warriors (IKEv2, IPv6)|IKEEXT_V6|10
strongSwan: to-b (IKEv2, IPv4)|IKEEXT_V4|10
strongSwan: v6-ikev1 (IKEv1, IPv6)|IKEEXT_V6|5"
if bfedt_poll 2000 _policy_is "$EXPECTED_POLICY"; then
        ok "a context per IKE version (IKEv1: 5, IKEv2: 10), a filter per family, for each connection"
else
        not_ok "a context per IKE version (IKEv1: 5, IKEv2: 10), a filter per family, for each connection"
        diag "got: $(provider_policy | paste -sd';')"
fi
check "the bridge found the socket marks alike" grep -q "socket mark.*is bfed's SocketMark, 0x42" "$BRIDGE_LOG"

check "with the policy, initiating from a to b establishes the IKE SA" initiate_ok a to-b
check "charon a lists it ESTABLISHED" ike_established a to-b
terminate_all
check "with the policy, initiating from b to a (in through the marked socket) establishes one" initiate_ok b to-a
check "charon b lists it ESTABLISHED" ike_established b to-a
terminate_all

# ---- unloads, the bridge stopped: the exemptions go, IKE fails ------------------------------

swan a --load-conns --file "$DIR_A/empty.conf" >/dev/null
check "unloading every connection takes the exemptions away" bfedt_poll 2000 _not_exempt
check_eq "and the bridge's policy" "" "$(provider_policy)"
swan a --load-conns --file "$DIR_A/full.conf" >/dev/null
check "loading them again brings the exemptions back" bfedt_poll 1000 _exempt

# a connection changed in place (charon logs "replaced vici connection"): its policy follows
sed '/to-b {/,/}/s/version = 2/version = 1/' "$DIR_A/full.conf" >"$DIR_A/to-b-ikev1.conf"
swan a --load-conns --file "$DIR_A/to-b-ikev1.conf" >/dev/null
check "to-b changed to IKEv1: its filter references an IKE MM context (5) now" \
        bfedt_poll 1000 _policy_is "${EXPECTED_POLICY/to-b (IKEv2, IPv4)|IKEEXT_V4|10/to-b (IKEv1, IPv4)|IKEEXT_V4|5}"
swan a --load-conns --file "$DIR_A/full.conf" >/dev/null
check "and back to IKEv2" bfedt_poll 1000 _policy_is "$EXPECTED_POLICY"

check "the bridge stops on SIGTERM, cleanly (status 0)" stop_bridge TERM
check "the bridge stopped: the exemptions are gone" bfedt_poll 2000 _not_exempt
blocked_before=$(blocked_packets)
check "the bridge stopped: initiating from a to b fails" initiate_fails a to-b
check "bfed's block filters dropped the IKE datagrams again" test "$(blocked_packets)" -gt "$blocked_before"
terminate_all

start_bridge
check "the bridge started again: the exemptions are back" bfedt_poll 5000 _exempt
check "and the same policy" bfedt_poll 2000 _policy_is "$EXPECTED_POLICY"

# ---- SIGKILL of charon: the policy goes within a second; charon back, the policy back --------

t0=$(ms_now)
bfedt_kill_charon a KILL
if bfedt_poll 1000 _not_exempt; then
        ok "SIGKILL of charon: the exemptions gone within a second ($(($(ms_now) - t0)) ms)"
else
        not_ok "SIGKILL of charon: the exemptions gone within a second"
fi
check_eq "and the bridge's policy" "" "$(provider_policy)"
check "the bridge says why" grep -q "charon went (charon closed the connection)" "$BRIDGE_LOG"

bfedt_start_charon "$NS_A" a
check "the bridge connects to the new charon" bfedt_wait_line "$BRIDGE_LOG" "Connected to charon 5\.[0-9.]*" 5000
swan a --load-all --file "$DIR_A/full.conf" >/dev/null
check "charon loaded again: the policy is back" bfedt_poll 2000 _policy_is "$EXPECTED_POLICY"
check "and the exemptions" bfedt_poll 1000 _exempt
check "IKE works again" initiate_ok a to-b
terminate_all

# ---- bfed restarted: the bridge opens a new session and adds its policy again ----------------

check "the bridge runs without capabilities" grep -qE "^CapEff:[[:space:]]+0+$" "/proc/$BRIDGE_PID/status"
bfedt_stop_bfed
bfedt_start_bfed "$NS_A" SocketMark=0x42
check "bfed restarted: the bridge's policy is back" bfedt_poll 5000 _policy_is "$EXPECTED_POLICY"
check "and the exemptions" bfedt_poll 1000 _exempt

# ---- SIGKILL of the bridge: its dynamic session goes, with everything in it -----------------

stop_bridge KILL || true
check "SIGKILL of the bridge: the exemptions are gone" bfedt_poll 2000 _not_exempt
check_eq "and its policy and provider" "" "$(provider_policy)$(_has_provider && echo provider)"

# ---- marks that differ --------------------------------------------------------------------

sed 's/fwmark = 0x42/fwmark = 0x43/' "$DIR_A/strongswan.conf" >"$DIR_A/other-mark.conf"
start_bridge --strongswan-conf "$DIR_A/other-mark.conf" --vici "$DIR_A/charon.vici"
check "a bridge told of another mark warns that they differ" \
        bfedt_wait_line "$BRIDGE_LOG" "bfed's SocketMark is 0x42, but charon marks its sockets 0x43" 5000
check "and stops cleanly" stop_bridge TERM

bfedt_done
