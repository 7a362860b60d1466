#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# FilterRuns=yes (compile.h, NftRun): like filters side by side share one rule that looks the
# packet up in a set of their values. Checked with real UDP from a veth peer: the run blocks
# every one of its ports and nothing else; one more filter is one element and no rule changes;
# a permit whose weight puts it among the run's members takes the member it overlaps out of the
# run (a rule of its own after the permit) and lets its port through;
# deleting a member (the one carrying the rule, too) unblocks only its port; after a restart
# the table is built with runs again; address prefixes of one length make a run too; a like
# filter after a /8 block that covers it does not join the run before the block, and such
# filters keep rules of their own until eight of their kind have; port ranges in a run are
# aligned blocks of ports, and a run of them drops exactly their ports.
source "$(dirname "$0")/lib.sh"

bfedt_require_root
[[ -x "$UDP_PROBE" ]] || die "udp-probe not built ($UDP_PROBE)"
bfedt_init
bfedt_netns a
NS_A=$REPLY
bfedt_netns b
NS_B=$REPLY
A4=10.201.0.1
B4=10.201.0.2
bfedt_veth "$NS_A" "$NS_B" "$A4/24" "$B4/24"
bfedt_start_bus
bfedt_start_bfed "$NS_A" FilterRuns=yes

# block NAME PORT RANGE: block UDP to local PORT at weight range RANGE, persistent; prints the id
block() {
        bus_json AddFilter 'a{sv}' 6 Name s "$1" Layer s INBOUND_TRANSPORT_V4 Action u 4097 Weight y "$3" \
                Flags u 1 Conditions 'a(sus)' 2 IP_PROTOCOL 0 udp IP_LOCAL_PORT 0 "$2" | jq -r '.data[1]'
}

# passes PORT: 0 when a datagram from the peer to A:PORT arrives
passes() {
        bfedt_udp_deliver "$NS_A" "$NS_B" "$A4" "$1" 0 700
}

expect() {
        local what="$1" want="$2" port="$3" rc=0
        passes "$port" || rc=$?
        if [[ "$want" == pass ]]; then
                check_eq "$what: UDP to $port arrives" 0 "$rc"
        else
                check_eq "$what: UDP to $port is dropped" 1 "$rc"
        fi
}

# handles: "HANDLE COMMENT" of every rule in the sublayer chain, one a line
handles() {
        nsnft -a list chain inet bfed inbound_transport_v4_universal |
                sed -n 's/.*comment "\([^"]*\)" # handle \([0-9]*\)$/\2 \1/p'
}

run_rules() {
        nsnft list chain inet bfed inbound_transport_v4_universal | grep -c '@run_' || true
}

# weight ranges 9, 8, 6, 4: one after the other in that order
ids=()
range=(9 8 6 4)
for i in 0 1 2 3; do
        ids+=("$(block "block 700$((i + 1))" "700$((i + 1))" "${range[$i]}")")
done
check_eq "four like filters: one rule of the first, one run rule for the other three" 1 "$(run_rules)"
check_eq "the run's set holds three elements, one per filter, each with its counter and comment" 3 \
        "$(nsnft list ruleset | grep -c 'counter packets [0-9]* bytes [0-9]* comment "filter [0-9]*: block 70')"
expect "the first filter" drop 7001
expect "a run member" drop 7003
expect "no filter" pass 7010

before=$(handles)
id5=$(block "block 7005" 7005 3)
check_eq "one more like filter: every rule and handle as before" "$before" "$(handles)"
expect "the new member" drop 7005

# a hard permit for 7003 at weight range 7 lands between 7002 (8) and 7003 (6), among the run's
# members: 7003's block, which it overlaps, leaves the run for a rule of its own after the
# permit's; the other members stay
before=$(handles)
ctl filter add --name "permit 7003" --layer INBOUND_TRANSPORT_V4 --action permit --hard --weight 7 \
        --condition IP_PROTOCOL=udp --condition IP_LOCAL_PORT=7003 >/dev/null || die "permit"
check_eq "still one run rule" 1 "$(run_rules)"
check_eq "7003's block has a rule of its own" 1 \
        "$(nsnft list chain inet bfed inbound_transport_v4_universal | grep -c 'comment "filter [0-9]*: block 7003"')"
check "the rules that were there keep their handles" \
        test -z "$(comm -23 <(sort <<<"$before") <(handles | sort))"
expect "the permit inside the run" pass 7003
expect "still blocked" drop 7002
expect "still blocked" drop 7004

# deleting members: one in the middle, then the run's carrier (the first of it)
bus DeleteFilterById t "${ids[3]}" >/dev/null || die "delete 7004"
expect "a deleted member" pass 7004
expect "its neighbour" drop 7005
bus DeleteFilterById t "${ids[1]}" >/dev/null || die "delete 7002"
expect "the deleted carrier" pass 7002
expect "the member that took the rule over" drop 7005
expect "the first filter" drop 7001

# two filters with the same values cannot share an element: the second gets a rule of its
# own, so deleting the first leaves the port blocked
dup=$(block "block 7005 again" 7005 1)
bus DeleteFilterById t "$id5" >/dev/null || die "delete 7005"
expect "its twin still blocks it" drop 7005
id5=$dup

# explain agrees with the packets
out=$(ctl explain INBOUND_TRANSPORT_V4 IP_PROTOCOL=udp IP_LOCAL_PORT=7005 2>&1)
check "explain: 7005 is blocked by its filter" grep -qi "block 7005 again" <<<"$out"

# a restart builds the table afresh from the persistent filters, runs included (the permit was
# not persistent: 7003 is blocked again)
# (ChunkSize=2 from now on, so that chunks split around the run's rule)
bfedt_stop_bfed || true
bfedt_start_bfed "$NS_A" FilterRuns=yes ChunkSize=2
check_eq "after a restart: the first filter's rule and one run rule" 1 "$(run_rules)"
expect "after the restart" drop 7001
expect "after the restart" drop 7003
expect "after the restart" drop 7005
expect "after the restart" pass 7002

# two permits ahead of everything fill the first chunk: the rules after them, the run's
# included, move to a new chunk, and the packets see the same
for port in 7011 7012; do
        ctl filter add --name "permit $port" --layer INBOUND_TRANSPORT_V4 --action permit --hard --weight 15 \
                --condition IP_PROTOCOL=udp --condition IP_LOCAL_PORT=$port >/dev/null || die "permit $port"
done
check "the run's rule moved to a chunk chain" \
        grep -q '@run_' <<<"$(nsnft list chain inet bfed inbound_transport_v4_universal_c1 2>&1)"
expect "after the chunk split" drop 7003
expect "after the chunk split" drop 7005
expect "after the chunk split" pass 7011

# prefixes of one length side by side are a run too: the set holds the network addresses and the
# rule looks the packet's masked address up (`ip saddr & 255.255.255.0 . …`)
prefix_block() {
        bus_json AddFilter 'a{sv}' 5 Name s "$1" Layer s INBOUND_TRANSPORT_V4 Action u 4097 Weight y 3 \
                Conditions 'a(sus)' 3 IP_PROTOCOL 0 udp IP_LOCAL_PORT 0 7100 IP_REMOTE_ADDRESS 0 "$2" |
                jq -r '.data[1]'
}
p1=$(prefix_block "prefix 10.77/24" 10.77.0.0/24)
p2=$(prefix_block "prefix 10.201/24" 10.201.0.0/24)
p3=$(prefix_block "prefix 10.78/24" 10.78.0.0/24)
check_eq "three like prefixes: one run, whose rule looks the masked address up" 1 \
        "$(nsnft list table inet bfed | grep -c 'ip saddr & 255.255.255.0 @run_' || true)"
expect "the peer's /24 is in the prefix run" drop 7100
expect "another port" pass 7101
out=$(ctl explain INBOUND_TRANSPORT_V4 IP_PROTOCOL=udp IP_LOCAL_PORT=7100 IP_REMOTE_ADDRESS="$B4" 2>&1)
check "explain: the peer's 7100 is blocked by its prefix filter" grep -q "prefix 10.201/24" <<<"$out"
bus DeleteFilterById t "$p2" >/dev/null || die "delete the peer's prefix"
expect "the peer's prefix deleted" pass 7100
check_eq "the run keeps the other two" 2 "$(nsnft list table inet bfed | grep -c 'comment "filter [0-9]*: prefix 10.7' || true)"
[[ -n "$p1" && -n "$p3" ]] || not_ok "prefix filters added"

# per-peer IPsec callouts side by side are a run too: its rule looks the peer up, then the secured
# bit in the table's callout map (plain packets drop, IPsec-secured ones return)
callout() {
        bus_json AddFilter 'a{sv}' 6 Name s "$1" Layer s INBOUND_TRANSPORT_V4 Action u 0x5003 Weight y 2 \
                CalloutKey s 5132900d-5e84-4b5f-80e4-01741e81ff10 \
                Conditions 'a(sus)' 3 IP_PROTOCOL 0 udp IP_LOCAL_PORT 0 7200 IP_REMOTE_ADDRESS 0 "$2" |
                jq -r '.data[1]'
}
c1=$(callout "ipsec from .9" 10.201.0.9)
c2=$(callout "ipsec from the peer" "$B4")
c3=$(callout "ipsec from .8" 10.201.0.8)
check_eq "three callouts: one run, whose rule ends in the callout map" 1 \
        "$(nsnft list table inet bfed | grep -c '@run_[0-9]* meta ipsec vmap @callout_soft' || true)"
expect "plain UDP from a peer whose callout is in the run" drop 7200
out=$(ctl explain INBOUND_TRANSPORT_V4 IP_PROTOCOL=udp IP_LOCAL_PORT=7200 IP_REMOTE_ADDRESS="$B4" 2>&1)
check "explain: require IPsec, by the peer's callout" grep -q "ipsec from the peer" <<<"$out"
out=$(ctl explain INBOUND_TRANSPORT_V4 IP_PROTOCOL=udp IP_LOCAL_PORT=7200 IP_REMOTE_ADDRESS="$B4" \
        FLAGS=ipsec-secured 2>&1)
check "explain: a secured one is permitted" grep -qi "permit" <<<"$out"
bus DeleteFilterById t "$c2" >/dev/null || die "delete the peer's callout"
expect "the peer's callout deleted" pass 7200
[[ -n "$c1" && -n "$c3" ]] || not_ok "callout filters added"

# a filter that names a remote address too wide for the overlap index's buckets (a /8) stands
# between a run's rule and a like filter after it: that one must not join the run, whose lookup
# comes before the /8's block (the index once filed such filters where no walk looked)
tuple() {
        bus_json AddFilter 'a{sv}' 5 Name s "$1" Layer s INBOUND_TRANSPORT_V4 Action u "$2" Weight y "$3" \
                Conditions 'a(sus)' 3 IP_PROTOCOL 0 udp IP_LOCAL_PORT 0 7300 IP_REMOTE_ADDRESS 0 "$4" |
                jq -r '.data[1]'
}
w1=$(tuple "permit .200" 4098 12 10.201.0.200)
w2=$(tuple "permit .201" 4098 12 10.201.0.201)
wb=$(tuple "block 10/8" 4097 11 10.0.0.0/8)
w3=$(tuple "permit the peer" 4098 10 "$B4")
[[ -n "$w1" && -n "$w2" && -n "$wb" && -n "$w3" ]] || not_ok "the /8 case's filters added"
# set_of NAME: the run set that holds the element of the filter named NAME
set_of() {
        nsnft list table inet bfed |
                awk -v want=": $1\"" '/^\tset / { set = $2 } /^\t}/ { set = "" } set != "" && index($0, want) { print set }'
}
before=$(set_of "permit .201")
[[ -n "$before" ]] || not_ok "the second permit before the /8 is in a run"
check "the peer's permit is not in the run before the /8 ($before)" test "$(set_of "permit the peer")" != "$before"
expect "the /8's block comes before the peer's permit, in the kernel" drop 7300
out=$(ctl explain INBOUND_TRANSPORT_V4 IP_PROTOCOL=udp IP_LOCAL_PORT=7300 IP_REMOTE_ADDRESS="$B4" 2>&1)
check "explain: the peer's 7300 is blocked by the /8" grep -q "block 10/8" <<<"$out"

# like filters that the run of their kind cannot take (the /8 stands between) keep rules of their
# own, which a packet leaves at its first compare, until 8 of the kind have; the next starts a
# second run (after the /8), and the one after it joins that run
tuple_runs() {
        nsnft list table inet bfed | grep -c 'th dport . ip saddr @run_[0-9]* return' || true
}
check_eq "one run of the permits, before the /8" 1 "$(tuple_runs)"
for i in 0 1 2 3 4 5; do
        [[ -n "$(tuple "permit .21$i" 4098 10 "10.201.0.21$i")" ]] || not_ok "permit .21$i added"
done
check_eq "eight like permits with rules of their own: still one run" 1 "$(tuple_runs)"
check_eq "the six new permits have rules of their own" 6 \
        "$(nsnft list table inet bfed | grep -c 'ip saddr 10.201.0.21[0-5] .*return comment' || true)"
[[ -n "$(tuple "permit .216" 4098 10 10.201.0.216)" ]] || not_ok "permit .216 added"
check_eq "the ninth starts a second run" 2 "$(tuple_runs)"
second=$(set_of "permit .216")
[[ -n "$second" && "$second" != "$before" ]] || not_ok "the ninth is in a run of its own after the /8 ($second)"
[[ -n "$(tuple "permit .217" 4098 10 10.201.0.217)" ]] || not_ok "permit .217 added"
check_eq "the tenth joins it" "$second" "$(set_of "permit .217")"
check_eq "and makes no rule" 2 "$(tuple_runs)"
expect "the /8's block still comes first" drop 7300

bus DeleteFilterById t "$wb" >/dev/null || die "delete the /8"
expect "the /8 deleted: the peer's permit" pass 7300

# port ranges in a run are aligned blocks of 16, 4 and 1 ports, with a set and a rule for each
# size, the rules one after the other (compile-layout.c): 7440-7460 is 7440-7455, 7456-7459 and
# 7460; 7403-7422 is 7403, four blocks of 4 from 7404, and 7420, 7421, 7422
prange() {
        bus_json AddFilter 'a{sv}' 5 Name s "$1" Layer s INBOUND_TRANSPORT_V4 Action u 4097 Weight y 3 \
                Conditions 'a(sus)' 2 IP_PROTOCOL 0 udp IP_LOCAL_PORT 5 "$2" | jq -r '.data[1]'
}
# block_rules: the block sets the table's rules look up, in the order of the rules
block_rules() {
        nsnft list table inet bfed | sed 's/ comment .*//' | grep -o '@run_[0-9]*_b[0-9]*' | paste -sd' '
}
p1=$(prange "range 7480" 7480-7482)
p2=$(prange "range 7440" 7440-7460)
p3=$(prange "range 7403" 7403-7422)
[[ -n "$p1" && -n "$p2" && -n "$p3" ]] || not_ok "the port ranges added"
sets=$(set_of "range 7440" | sort | paste -sd' ')
base=${sets%%_b*}
check_eq "7440-7460 is one element in each block size's set of a run" "${base}_b1 ${base}_b16 ${base}_b4" "$sets"
check_eq "7403-7422 is in the same run" "${base}_b1 ${base}_b4" "$(set_of "range 7403" | sort -u | paste -sd' ')"
check_eq "the run's three rules follow each other, largest blocks first" "@${base}_b16 @${base}_b4 @${base}_b1" \
        "$(block_rules)"
for port in 7440 7455 7456 7460 7403 7404 7419 7422; do expect "a port range's block" drop "$port"; done
for port in 7439 7461 7402 7423; do expect "beside the port ranges" pass "$port"; done
bus DeleteFilterById t "$p2" >/dev/null || die "delete range 7440"
expect "7440-7460 deleted" pass 7450
expect "7403-7422 still dropped" drop 7410
expect "7403-7422 still dropped, its single ports too" drop 7421
check_eq "its run still has its three rules, one after the other" "@${base}_b16 @${base}_b4 @${base}_b1" \
        "$(block_rules)"
for id in "$p1" "$p3"; do bus DeleteFilterById t "$id" >/dev/null || die "delete a port range"; done
check_eq "the ranges deleted: no block set, no block rule" "0 " \
        "$(nsnft list table inet bfed | grep -c "set ${base}_b" || true) $(block_rules)"
expect "the ranges deleted" pass 7410

bfedt_done
