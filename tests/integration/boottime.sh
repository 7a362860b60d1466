#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Boot-time filters (issue 11 item 5, FWPM_FILTER_FLAG_BOOTTIME): a boot-time filter is stored
# and in the boot file, never in the running table; the oneshot unit's `nft -f` of the boot file
# in a namespace whose ruleset was flushed (a reboot) drops what the filter blocks, with real UDP
# over veth; bfed then takes its table over with no gap: a UDP stream to a port a boot-time and
# a persistent filter both block gets not one datagram through while bfed starts, and after it
# the running table is bfed's, without the boot-time filter (the port only it blocked is open
# again) which is still stored (EnumFilters with INCLUDE_BOOTTIME). Refusals: PERSISTENT with
# BOOTTIME, a boot-time filter at IKEEXT, one referencing a static sublayer. Deleting the filter
# takes it out of the state and the boot file.
source "$(dirname "$0")/lib.sh"

bfedt_require_root
bfedt_require_bfectl
bfedt_init
bfedt_netns a
NS=$REPLY
bfedt_netns b
PEER=$REPLY
bfedt_start_bus
STATE_DIR="$BFEDT_TMP/state"
BOOT="$STATE_DIR/boot.nft"
UNIT="${BFED_BOOT_UNIT:-}"
bfedt_start_bfed "$NS"

BOTH=9300       # blocked by a boot-time filter and by a persistent one
BOOT_ONLY=9301  # blocked by a boot-time filter only
OPEN=9302       # never blocked

# boot_ids TEMPLATE-FLAGS: the keys EnumFilters gives with template Flags, sorted.
enum_keys() {
        bus_json EnumFilters 'a{sv}' 1 Flags u "$1" | jq -r '.data[0][].Key.data' | sort | paste -sd' ' -
}
add_block() { # NAME PORT FLAGS [SUBLAYER]
        local extra=()
        [[ -n "${4:-}" ]] && extra=(SubLayer s "$4")
        bus_json AddFilter 'a{sv}' $((5 + ${#extra[@]} / 2)) Name s "$1" Layer s INBOUND_TRANSPORT_V4 Action u 4097 \
                Flags u "$3" "${extra[@]}" Conditions 'a(sus)' 2 IP_PROTOCOL 0 udp IP_LOCAL_PORT 0 "$2" |
                jq -r '.data[0]'
}

# ---- refusals ------------------------------------------------------------------------------------

out=$(bus_error AddFilter 'a{sv}' 4 Name s "both" Layer s INBOUND_TRANSPORT_V4 Action u 4097 Flags u 3)
check "PERSISTENT|BOOTTIME is refused with InvalidFlags" grep -q 'org.bfed.Error.InvalidFlags' <<<"$out"
out=$(bus_error AddFilter 'a{sv}' 4 Name s "ike boot" Layer s IKEEXT_V4 Action u 4098 Flags u 2)
check "a boot-time filter at IKEEXT_V4 is refused with IncompatibleLayer" \
        grep -q 'org.bfed.Error.IncompatibleLayer' <<<"$out"
ssub=$(bus_json AddSubLayer 'a{sv}' 2 Name s "static sublayer" Weight q 100 | jq -r '.data[0]')
out=$(bus_error AddFilter 'a{sv}' 5 Name s "boot in static" Layer s INBOUND_TRANSPORT_V4 Action u 4097 Flags u 2 \
        SubLayer s "$ssub")
check "a boot-time filter in a static sublayer is refused with LifetimeMismatch" \
        grep -q 'org.bfed.Error.LifetimeMismatch' <<<"$out"
check "no refusal left a boot file" test ! -e "$BOOT"

# ---- a boot-time filter is stored and in the boot file, not in the running table -------------------

psub=$(bus_json AddSubLayer 'a{sv}' 3 Name s "boot sublayer" Weight q 40000 Flags u 1 | jq -r '.data[0]')
boot_both=$(add_block "boot block $BOTH" $BOTH 2)
boot_only=$(add_block "boot block \"$BOOT_ONLY\" only" $BOOT_ONLY 2 "$psub")
persist=$(add_block "persistent block $BOTH" $BOTH 1)
check "the filters were added" test -n "$boot_both" -a -n "$boot_only" -a -n "$persist" -a "$boot_only" != null
# bfectl's --boottime: a third one, deleted again below
ctl_out=$(ctl filter add --name "bfectl boot" --layer INBOUND_TRANSPORT_V6 --action block --boottime \
        --condition IP_PROTOCOL=udp --condition IP_LOCAL_PORT=9309 2>&1)
ctl_boot=${ctl_out%% *}
check "bfectl filter add --boottime adds a boot-time filter" \
        grep -q 'boottime' <<<"$(ctl filter show "$ctl_boot" 2>&1)"
check "it is in the boot file" grep -q "boot filter $ctl_boot: bfectl boot" "$BOOT"
check "bfectl filter list leaves it out, as WFP's enumeration does" \
        bash -c '! grep -q "bfectl boot" <<<"$1"' _ "$(ctl filter list 2>&1)"
bus DeleteFilterByKey s "$ctl_boot" >/dev/null
check "deleted, it leaves the boot file" bash -c '! grep -q "bfectl boot" "$1"' _ "$BOOT"
ruleset=$(nsnft list ruleset)
check "the persistent filter is in the running table" grep -q "persistent block $BOTH" <<<"$ruleset"
check "no boot-time filter is in the running table" bash -c '! grep -q "boot block" <<<"$1"' _ "$ruleset"
check "the boot file exists" test -s "$BOOT"
check "the boot file has both boot-time filters" \
        bash -c 'grep -q "boot filter $1: boot block" "$3" && grep -q "boot filter $2: boot block" "$3"' _ \
        "$boot_both" "$boot_only" "$BOOT"
check "the caller's double quote is not one in the boot file" grep -q "boot block '$BOOT_ONLY' only" "$BOOT"
check "the persistent filter is not in the boot file" bash -c '! grep -q "persistent block" "$1"' _ "$BOOT"
check "the boot file is a valid nft script (nft -c -f)" ip netns exec "$PEER" nft -c -f "$BOOT"
check "the state file has the boot-time filters" grep -q "$boot_only" "$STATE_DIR/state"

check_eq "EnumFilters leaves boot-time filters out by default" "$persist" \
        "$(bus_json EnumFilters 'a{sv}' 0 | jq -r '.data[0][] | select(.EngineOwned.data != true) | .Key.data' |
                paste -sd' ' -)"
check_eq "EnumFilters with BOOTTIME_ONLY (0x4): the boot-time filters alone" \
        "$(printf '%s\n' "$boot_both" "$boot_only" | sort | paste -sd' ' -)" "$(enum_keys 4)"
check_eq "EnumFilters with INCLUDE_BOOTTIME (0x8): all three" \
        "$(printf '%s\n' "$boot_both" "$boot_only" "$persist" | sort | paste -sd' ' -)" "$(enum_keys 8)"
out=$(bus_error EnumFilters 'a{sv}' 1 Flags u 1)
check "template flag BEST_TERMINATING_MATCH (0x1) is refused with InvalidFlags" \
        grep -q 'org.bfed.Error.InvalidFlags' <<<"$out"
check_eq "GetFilterByKey finds a boot-time filter" "2" \
        "$(bus_json GetFilterByKey s "$boot_only" | jq -r '.data[0].Flags.data')"

# ---- the unit: what bfed-boot.service runs -------------------------------------------------------

exec_line=() cond=""
if [[ -n "$UNIT" && -r "$UNIT" ]]; then
        read -r -a exec_line <<<"$(sed -n 's/^ExecStart=//p' "$UNIT")"
        cond=$(sed -n 's/^ConditionPathExists=//p' "$UNIT")
        check_eq "the unit runs nft -f on the file its condition names" "-f $cond" "${exec_line[*]:1}"
        check "the unit is ordered before network-pre.target and bfed.service" \
                grep -Eq '^Before=.*network-pre\.target.*bfed\.service' "$UNIT"
        check "the unit wants network-pre.target" grep -q '^Wants=network-pre.target' "$UNIT"
        check "the unit is a oneshot" grep -q '^Type=oneshot' "$UNIT"
        check "the unit runs as bfed's user, with CAP_NET_ADMIN alone" \
                bash -c 'grep -qx "User=bfed" "$1" && grep -qx "CapabilityBoundingSet=CAP_NET_ADMIN" "$1" &&
                        grep -qx "AmbientCapabilities=CAP_NET_ADMIN" "$1"' _ "$UNIT"
else
        diag "BFED_BOOT_UNIT not set: running nft -f as the unit would"
fi
# the unit's command line, on this test's boot file (the unit names bfed's default StateDirectory=),
# run as the unit runs it: as the owner of bfed's files (User=bfed; here, where bfed runs as root,
# the directory is given to nobody first) with CAP_NET_ADMIN alone, no new privileges, and the
# unit's own system call filter (tests/tools/unit-seccomp, where python3-seccomp is)
UNIT_USER=nobody
seccomp=()
if [[ -n "$UNIT" && -r "$UNIT" ]] && /usr/bin/python3 -c 'import seccomp' 2>/dev/null; then
        seccomp=("$UNIT_SECCOMP" "$UNIT" --)
else
        diag "no unit or no python3-seccomp: nft runs without the unit's system call filter"
fi
boot_load() {
        local cmd=(nft -f)
        ((${#exec_line[@]} > 0)) && cmd=("${exec_line[@]:0:${#exec_line[@]}-1}")
        chown -R "$UNIT_USER:" "$STATE_DIR"
        ip netns exec "$NS" setpriv --reuid="$UNIT_USER" --regid="$(id -gn "$UNIT_USER")" --clear-groups \
                --no-new-privs --inh-caps=-all,+net_admin --ambient-caps=-all,+net_admin \
                --bounding-set=-all,+net_admin "${seccomp[@]}" "${cmd[@]}" "$BOOT"
}

# ---- a reboot: no bfed, a flushed ruleset, the boot file loaded ------------------------------------

bfedt_veth "$NS" "$PEER" 10.78.0.1/24 10.78.0.2/24
bfedt_stop_bfed
check "bfed's clean stop removed its table" bash -c '! ip netns exec "$1" nft list table inet "$2" 2>/dev/null' _ \
        "$NS" "$TABLE"
nsnft flush ruleset
check "the boot file loads into the namespace" boot_load
check "root without CAP_DAC_OVERRIDE cannot read the boot file, now nobody's (why the unit is bfed's user)" \
        bash -c '! ip netns exec "$1" setpriv --bounding-set=-all,+net_admin --inh-caps=-all,+net_admin \
                nft -c -f "$2" 2>/dev/null' _ "$NS" "$BOOT"
boot_rules=$(nsnft list table inet "$TABLE")
check "the boot table has the boot-time filters" grep -q "boot block $BOTH" <<<"$boot_rules"
check "the boot table has no persistent filter" bash -c '! grep -q "persistent block" <<<"$1"' _ "$boot_rules"
check "the boot table's input chain accepts by default" grep -q 'hook input priority filter - 10; policy accept' \
        <<<"$boot_rules"
check "the boot table's sublayer chain is the sublayer's" grep -q "chain inbound_transport_v4_sl_" <<<"$boot_rules"
check "loading the boot file again replaces the table (idempotent)" boot_load
check_eq "one table of bfed's name" 1 "$(nsnft -j list tables | jq --arg t "$TABLE" \
        '[.nftables[] | select(has("table")) | .table | select(.family == "inet" and .name == $t)] | length')"

deliver() { bfedt_udp_deliver "$NS" "$PEER" 10.78.0.1 "$1" 0 400; }
dropped() {
        local rc=0
        deliver "$1" || rc=$?
        ((rc == 1)) # 2: a probe failed
}
check "before bfed: UDP $BOTH is dropped by the boot table" dropped $BOTH
check "before bfed: UDP $BOOT_ONLY is dropped by the boot table" dropped $BOOT_ONLY
check "before bfed: UDP $OPEN gets through" deliver $OPEN

# ---- bfed starts while a UDP stream runs: no gap ------------------------------------------------------

bfedt_stream_start "$NS" "$PEER" 10.78.0.1 $BOTH $OPEN
received() { bfedt_stream_received; }
received_at_least() { bfedt_stream_received_at_least "$@"; }

check "the stream reaches the open port under the boot table" bfedt_poll 10000 received_at_least 50
bfedt_start_bfed "$NS"
n_started=$(received)
check "after bfed's start the stream goes on (50 more datagrams at the open port)" \
        bfedt_poll 10000 received_at_least $((n_started + 50))
bfedt_stream_stop
sent=$STREAM_SENT got0=$STREAM_BLOCKED
diag "sent $sent datagrams; port $OPEN received $STREAM_OPEN, port $BOTH $got0"
check "the open port got the stream throughout (>= 90% of its half)" test "$(received)" -ge $((sent * 45 / 100))
check_eq "not one datagram to the port the boot-time and persistent filters block got through" 0 "$got0"

# ---- after the start: bfed's table, the boot-time filters stored only --------------------------------

ruleset=$(nsnft list ruleset)
check "the running table has the persistent filter" grep -q "persistent block $BOTH" <<<"$ruleset"
check "the running table has no boot-time filter" bash -c '! grep -q "boot block" <<<"$1"' _ "$ruleset"
check "the running table is bfed's (flags owner)" grep -Eq '^\s*flags .*owner' <<<"$ruleset"
check "UDP $BOOT_ONLY gets through once bfed runs (BFE drops boot-time filters)" deliver $BOOT_ONLY
check "UDP $BOTH is still dropped (the persistent filter)" dropped $BOTH
check_eq "the boot-time filters are still stored (INCLUDE_BOOTTIME)" \
        "$(printf '%s\n' "$boot_both" "$boot_only" "$persist" | sort | paste -sd' ' -)" "$(enum_keys 8)"
check "bfed logged the boot-time filters it keeps for the next boot" \
        grep -q '2 boot-time filters stored' "$BFED_LOG"
check "the boot file is still there" grep -q "boot filter $boot_only" "$BOOT"

# ---- deleting: out of the state and the boot file ------------------------------------------------------

bus DeleteFilterByKey s "$boot_only" >/dev/null
check "a deleted boot-time filter leaves the boot file" bash -c '! grep -q "$1" "$2"' _ "$boot_only" "$BOOT"
check "the other boot-time filter stays in it" grep -q "boot filter $boot_both" "$BOOT"
check "a deleted boot-time filter leaves the state file" bash -c '! grep -q "$1" "$2"' _ "$boot_only" \
        "$STATE_DIR/state"
bus DeleteFilterByKey s "$boot_both" >/dev/null
check "without boot-time filters there is no boot file (the unit's condition skips it)" test ! -e "$BOOT"
check_eq "nothing boot-time is enumerated" "" "$(enum_keys 4)"
bfedt_stop_bfed
bfedt_start_bfed "$NS"
check_eq "after a restart: the persistent filter only" "$persist" "$(enum_keys 8)"
check "after a restart still no boot file" test ! -e "$BOOT"

# ---- every kind of condition: bfed's boot file, and the unit test's golden one, load into nft ------------

bfedt_netns c
SCRATCH=$REPLY
add_boot() { # NAME LAYER ACTION FLAGS N CONDITIONS...
        local name="$1" layer="$2" action="$3" flags="$4" n="$5"
        shift 5
        bus_json AddFilter 'a{sv}' 5 Name s "$name" Layer s "$layer" Action u "$action" Flags u "$flags" \
                Conditions 'a(sus)' "$n" "$@" | jq -r '.data[0]'
}
rich=(
        "$(add_boot "rich v4" INBOUND_TRANSPORT_V4 4097 2 6 IP_PROTOCOL 0 tcp IP_REMOTE_ADDRESS 0 192.0.2.0/24 \
                IP_LOCAL_PORT 0 22 IP_LOCAL_PORT 5 7000-7010 IP_LOCAL_INTERFACE 10 lo IP_LOCAL_ADDRESS_TYPE 0 unicast)"
        "$(add_boot "ports or icmp" INBOUND_TRANSPORT_V4 4098 2 2 IP_LOCAL_PORT 0 8 IP_REMOTE_PORT 4 3)"
        "$(add_boot "v6 flags" OUTBOUND_TRANSPORT_V6 4098 10 2 IP_REMOTE_ADDRESS 10 2001:db8::/32 \
                FLAGS 7 loopback,ipsec-secured)"
        "$(add_boot "root connects" ALE_AUTH_CONNECT_V6 4097 2 2 ALE_USER_ID 0 0 IP_REMOTE_PORT 10 53)"
        "$(add_boot "ored negations" ALE_AUTH_RECV_ACCEPT_V4 4097 2 2 IP_LOCAL_PORT 10 7300 IP_LOCAL_PORT 10 7301)"
)
check "the rich boot-time filters were added" bash -c '[[ "$*" != *null* && $# -eq 5 ]]' _ ${rich[@]}
check "bfed's boot file with every kind of condition is a valid nft script" ip netns exec "$SCRATCH" nft -c -f "$BOOT"
check "it loads" ip netns exec "$SCRATCH" nft -f "$BOOT"
# two rules for each filter whose ports are also ICMP type and code (no protocol condition), and for
# the FLAGS any-set of both flags: 1 + 2 + 2 + 2 + 2
check_eq "the loaded table has the filters' rules, two for each OR across fields" 9 \
        "$(ip netns exec "$SCRATCH" nft list table inet "$TABLE" | grep -c 'comment "boot filter ')"
check "none of them is in the running table" bash -c '! grep -q "boot filter" <<<"$1"' _ "$(nsnft list ruleset)"
ip netns exec "$SCRATCH" nft flush ruleset
check "the unit test's golden boot file loads too" ip netns exec "$SCRATCH" nft -f "$SOURCE_ROOT/tests/golden/boot.nft"

bfedt_done
