#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# firewalld (issue 9 §2): the real firewalld (Debian's package) runs in bfed's namespace "a" on
# the private bus; its default zone rejects UDP 500 and 4500 whatever bfed's table accepts.
# Real datagrams come from namespace "b" over a veth pair. While an MM policy exists, bfed opens
# IPv4 UDP 500 and 4500 and IPv6 UDP 500 there at runtime (never IPv6 4500), in the default
# zone and in every active zone. It takes them back when the last MM policy goes and when it
# stops, opens them again after `firewall-cmd --reload` and after firewalld restarts, leaves a
# port the admin opened alone, and never changes firewalld's permanent configuration.
# ExemptionObstacles (issue 9 §1) names firewalld's input chain while it drops the exempted
# traffic, and firewalld's refusals: at the end firewalld runs in lockdown and refuses bfed.
source "$(dirname "$0")/lib.sh"

bfedt_require_root
bfedt_require_firewalld
[[ -x "$UDP_PROBE" ]] || die "udp-probe not built ($UDP_PROBE)"
bfedt_init
bfedt_two_hosts 3

RICH4500='rule family="ipv4" port port="4500" protocol="udp" accept'
OPEN="ports=500/udp rich=$RICH4500"     # what bfed opens in a zone: nothing more
CLOSED="ports= rich="

# fw_zone METHOD SIGNATURE ARGS...: a call to firewalld's zone interface (JSON output).
fw_zone() {
        local method="$1"
        shift
        busctl --address="$BUS_ADDR" --json=short call org.fedoraproject.FirewallD1 /org/fedoraproject/FirewallD1 \
                org.fedoraproject.FirewallD1.zone "$method" "$@"
}

# fw_open ZONE: the runtime ports and rich rules of ZONE, as "ports=500/udp,… rich=RULE;…".
fw_open() {
        local ports rich
        ports=$(fw_zone getPorts s "$1" | jq -r '[.data[0][] | join("/")] | sort | join(",")')
        rich=$(fw_zone getRichRules s "$1" | jq -r '.data[0] | sort | join(";")')
        echo "ports=$ports rich=$rich"
}
_fw_open_is() {
        [[ "$(fw_open "$1")" == "$2" ]]
}

# expect_zone DESCRIPTION ZONE EXPECTED: waits (10 s) until fw_open ZONE is EXPECTED.
expect_zone() {
        if bfedt_poll 10000 _fw_open_is "$2" "$3"; then
                ok "$1"
        else
                not_ok "$1"
                echo "#   expected: $3"
                echo "#   got:      $(fw_open "$2")"
        fi
}

# permanent_config: a checksum of every file of firewalld's permanent configuration.
permanent_config() {
        (cd "$FIREWALLD_ETC" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum)
}

# expect DESCRIPTION pass|drop DST PORT: three datagrams from B to A's DST:PORT.
expect() {
        bfedt_expect_udp "$1" "$2" "$NS_A" "$NS_B" "$3" "$4"
}

# exempted_traffic_passes LABEL / exempted_traffic_blocked LABEL: the four kinds of datagram.
exempted_traffic_passes() {
        expect "$1: UDP 500 over IPv4 received" pass "$A4" 500
        expect "$1: UDP 500 over IPv6 received" pass "$A6" 500
        expect "$1: UDP 4500 over IPv4 received" pass "$A4" 4500
        expect "$1: UDP 4500 over IPv6 still blocked" drop "$A6" 4500
}
exempted_traffic_blocked() {
        expect "$1: UDP 500 over IPv4 blocked" drop "$A4" 500
        expect "$1: UDP 500 over IPv6 blocked" drop "$A6" 500
        expect "$1: UDP 4500 over IPv4 blocked" drop "$A4" 4500
        expect "$1: UDP 4500 over IPv6 blocked" drop "$A6" 4500
}

MM_CTX=
MM_ID=
add_mm_policy() {
        [[ -n "$MM_CTX" ]] || MM_CTX=$(add_context "ike main mode" 5)
        read -r _ MM_ID < <(add_ctx_filter "ike mm policy" IKEEXT_V4 "$MM_CTX")
        check_eq "$1: MM policy added, ExemptionsActive" "true" "$(exemptions_active)"
}
delete_mm_policy() {
        check "$1: MM policy deleted" bus DeleteFilterById t "$MM_ID"
        check_eq "$1: ExemptionsActive" "false" "$(exemptions_active)"
}

bfedt_start_bus
bfedt_start_firewalld "$NS_A"
permanent_before=$(permanent_config)
bfedt_start_bfed "$NS_A"

# neighbour resolution done before the first probe (firewalld lets ARP and ND through)
bfedt_resolve_neigh "$NS_B" "$A4" "$A6"

check_eq "firewalld's default zone is public" 's "public"' \
        "$(busctl --address="$BUS_ADDR" call org.fedoraproject.FirewallD1 /org/fedoraproject/FirewallD1 \
                org.fedoraproject.FirewallD1 getDefaultZone)"
check_eq "before: nothing open in zone public" "$CLOSED" "$(fw_open public)"
check "before: ExemptionObstacles names firewalld's input chain" \
        obstacles_match 'any(.[]; .[0] == "inet firewalld" and .[1] == "filter_INPUT")'
exempted_traffic_blocked "before"

# the admin's own opening, at runtime, in a zone that is not active yet
check "the admin opens 500/udp in zone work" fwcmd -q --zone=work --add-port=500/udp

add_mm_policy "active"
expect_zone "active: bfed opened exactly its traffic in the default zone public" public "$OPEN"
check "active: firewalld's input chain no longer drops the exempted traffic (ExemptionObstacles)" \
        bfedt_poll 5000 obstacles_match 'any(.[]; .[1] == "filter_INPUT") | not'
check_eq "active: no warning about it" 0 "$(bfedt_log_count '^bfed warning: Table inet firewalld, chain filter_INPUT')"
exempted_traffic_passes "active"
check_eq "active: zone home (not active) untouched" "$CLOSED" "$(fw_open home)"

# zones and interfaces change: veth0 goes to zone work, which becomes active
check "veth0 moves to zone work" fwcmd -q --zone=work --change-interface=veth0
expect_zone "zone work active: bfed adds its IPv4 4500 rule; 500/udp is the admin's already" work "$OPEN"
exempted_traffic_passes "veth0 in zone work"
check "veth0 leaves zone work" fwcmd -q --zone=work --remove-interface=veth0
expect_zone "zone work inactive: bfed took back its rule, and only its rule" work "ports=500/udp rich="

delete_mm_policy "deleted"
expect_zone "deleted: bfed took back what it opened in zone public" public "$CLOSED"
exempted_traffic_blocked "deleted"
check_eq "deleted: the admin's 500/udp in zone work stays" "ports=500/udp rich=" "$(fw_open work)"

# firewall-cmd --reload: the runtime configuration starts over from the permanent one
add_mm_policy "reload"
expect_zone "reload: open before it" public "$OPEN"
reloads=$(bfedt_log_count 'firewalld reloaded')
check "firewall-cmd --reload" fwcmd -q --reload
check "reload: bfed saw the Reloaded signal" bfedt_wait_log 'firewalld reloaded' $((reloads + 1))
expect_zone "reload: bfed opened its traffic again" public "$OPEN"
exempted_traffic_passes "after the reload"
check_eq "reload: the admin's runtime port in zone work went with the reload" "$CLOSED" "$(fw_open work)"
delete_mm_policy "after the reload"
expect_zone "after the reload: taken back" public "$CLOSED"
exempted_traffic_blocked "after the reload, policy deleted"

# firewalld restarts: a new owner of its name, a new runtime configuration
add_mm_policy "restart"
expect_zone "restart: open before it" public "$OPEN"
bfedt_stop_firewalld
bfedt_start_firewalld "$NS_A"
expect_zone "restart: bfed opened its traffic in the new firewalld" public "$OPEN"
exempted_traffic_passes "after the restart"
delete_mm_policy "after the restart"
expect_zone "after the restart: taken back" public "$CLOSED"
exempted_traffic_blocked "after the restart, policy deleted"

# bfed stops while the exemptions are active: it takes its openings back before it exits
add_mm_policy "stop"
expect_zone "stop: open before it" public "$OPEN"
check "bfed stops cleanly" bfedt_stop_bfed
check_eq "stop: bfed took back what it opened" "$CLOSED" "$(fw_open public)"
exempted_traffic_blocked "bfed stopped"

check_eq "firewalld's permanent configuration is unchanged" "$permanent_before" "$(permanent_config)"
check_eq "firewalld's permanent zone public has no port" "" "$(fwcmd --permanent --zone=public --list-ports)"
check_eq "firewalld's permanent zone public has no rich rule" "" \
        "$(fwcmd --permanent --zone=public --list-rich-rules)"
check "firewalld logged no error" bash -c "! grep -E '^[0-9-]+ [0-9:]+ ERROR' $BFEDT_TMP/firewalld.*.log"

# firewalld refuses: in lockdown, with a whitelist that does not name root, it turns bfed's
# addPort down (ACCESS_DENIED, which it logs as an error: after the check above; firewalld 1.3
# lets addRichRule through all the same). The refusal is an obstacle of its own, and firewalld's
# input chain stays one.
bfedt_stop_firewalld
sed -i 's/^Lockdown=no$/Lockdown=yes/' "$FIREWALLD_ETC/firewalld.conf"
cat >"$FIREWALLD_ETC/lockdown-whitelist.xml" <<'EOF'
<?xml version="1.0" encoding="utf-8"?>
<whitelist>
  <user id="4242"/>
</whitelist>
EOF
bfedt_start_firewalld "$NS_A"
bfedt_start_bfed "$NS_A"
MM_CTX=                 # the context went with the last bfed (not persistent)
add_mm_policy "lockdown"
REFUSED='any(.[]; .[0] == "firewalld" and .[1] == "public" and
        (.[2] | test("^cannot open UDP 500 \\(IPv4 and IPv6\\): .*ACCESS_DENIED: lockdown is enabled")))'
check "lockdown: firewalld's refusal in zone public is in ExemptionObstacles" \
        bfedt_poll 10000 obstacles_match "$REFUSED"
check "lockdown: and so is firewalld's input chain" \
        obstacles_match 'any(.[]; .[0] == "inet firewalld" and .[1] == "filter_INPUT")'
check "lockdown: the refusal is logged" bfedt_wait_log '^bfed warning: firewalld zone public: cannot open UDP 500' 1
check "lockdown: firewalld's input chain is logged as a warning, with firewalld's step" bfedt_wait_log \
        '^bfed warning: Table inet firewalld, chain filter_INPUT \(hook input.*firewall-cmd --add-service=ipsec' 1
check "lockdown: bfectl status shows the refusal" grep -qE \
        'firewalld public: cannot open UDP 500 \(IPv4 and IPv6\): .*lockdown is enabled' <<<"$(ctl status)"
check_eq "lockdown: zone public got the IPv4 4500 rule only (firewalld's addRichRule skips the lockdown check)" \
        "ports= rich=$RICH4500" "$(fw_open public)"
expect "lockdown: UDP 500 over IPv4 blocked, as reported" drop "$A4" 500
expect "lockdown: UDP 500 over IPv6 blocked, as reported" drop "$A6" 500
expect "lockdown: UDP 4500 over IPv4 received" pass "$A4" 4500
delete_mm_policy "lockdown"
expect_zone "lockdown: bfed took back its rule" public "$CLOSED"
check "lockdown: with the exemptions gone, the refusal is no obstacle any more" \
        bfedt_poll 10000 obstacles_match 'any(.[]; .[0] == "firewalld") | not'
check "lockdown: bfed stops cleanly" bfedt_stop_bfed

bfedt_done
