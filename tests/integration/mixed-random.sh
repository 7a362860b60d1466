#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Explain and the kernel agree on mixed policies (issue 12): a seeded random differential test.
# Each round builds a policy the way providers do — AddFilters calls and single AddFilter calls,
# in transactions (a libbfe session, tests/tools/bfe-provider) and outside them — in 2–4
# sublayers of random weights (equal ones too) and the universal one, from the shapes of a real
# mixed policy:
#   - remote address prefixes /8–/32 around the peers' addresses, nested and overlapping, both
#     verdicts, with or without a protocol;
#   - local and remote port ranges, with a protocol and without one (then they are ICMP's type
#     and code too);
#   - exact local ports with a protocol (what runs fold into one set);
#   - exact peer tuples (protocol, remote address, remote port);
#   - per-peer IPsec callouts (FWPM_CALLOUT_IPSEC_INBOUND_TRANSPORT_V4 on one remote address:
#     a plain packet is dropped, and this kernel has no ESP);
# with blocks, soft and hard permits (CLEAR_ACTION_RIGHT), automatic weights, weight ranges and
# explicit 64-bit weights, equal ones included. The values are drawn around the addresses and
# ports the peer sends from, so that many filters overlap on each packet. Then real datagrams
# from three peer addresses (random local and source ports, a few ICMP messages): whether each
# arrived must be Explain's verdict at INBOUND_TRANSPORT_V4 for its fields. Then a random part
# of the filters is deleted (and a few added), where a compiler's incremental changes go wrong,
# and the packets are checked again.
#
# The seed is printed; BFEDT_SEED=N reruns one. MIXED_ROUNDS, MIXED_FILTERS and MIXED_PACKETS
# change the size. A disagreement prints the seed, the filters, the packet, Explain's answer
# with its trace and the table.
# shellcheck disable=SC2206 # REPLY holds "FIELD MATCH VALUE" words, split on purpose
source "$(dirname "$0")/lib.sh"

bfedt_require_root
bfedt_require_provider
[[ -x "$UDP_PROBE" ]] || die "udp-probe not built ($UDP_PROBE)"
[[ -x "$ICMP_PROBE" ]] || die "icmp-probe not built ($ICMP_PROBE)"

SEED=${BFEDT_SEED:-$(( $(od -An -N2 -tu2 /dev/urandom) ))}
echo "# seed $SEED (rerun with BFEDT_SEED=$SEED)"
RANDOM=$SEED
ROUNDS=${MIXED_ROUNDS:-4}
FILTERS=${MIXED_FILTERS:-30}
PACKETS=${MIXED_PACKETS:-16}

bfedt_init
bfedt_two_hosts 6
PEERS=("$B4" 10.206.0.77 10.206.0.141)
for peer in "${PEERS[@]:1}"; do
        ip -n "$NS_B" addr add "$peer/24" dev veth0 || die "peer address $peer"
done
bfedt_start_bus
bfedt_start_bfed "$NS_A"
NS=$NS_A
for peer in "${PEERS[@]}"; do
        printf '#!/bin/sh\nexec "$@" --bind %s\n' "$peer" >"$BFEDT_TMP/from-$peer"
        chmod +x "$BFEDT_TMP/from-$peer"
done
bfedt_resolve_neigh "$NS_B" "$A4"
bfedt_resolve_neigh "$NS_A" "${PEERS[@]}"

IPSEC_INBOUND_TRANSPORT_V4=5132900d-5e84-4b5f-80e4-01741e81ff10
LPORTS=(7000 7001 7007 7100)
RPORTS=(40000 40001 40013 41000)

# ---- random values: every function sets REPLY; $RANDOM is only read in this shell (a $(…)
# subshell reseeds it, and the run would not be the seed's any more) --------------------------

pick() {
        local a=("$@")
        REPLY=${a[RANDOM % ${#a[@]}]}
}

# ip_int ADDR / int_ip N: dotted quad <-> integer
ip_int() {
        local IFS=. a
        read -ra a <<<"$1"
        REPLY=$(((a[0] << 24) | (a[1] << 16) | (a[2] << 8) | a[3]))
}
int_ip() {
        REPLY="$((($1 >> 24) & 255)).$((($1 >> 16) & 255)).$((($1 >> 8) & 255)).$(($1 & 255))"
}

# prefix: a prefix /8–/32 around one of the peers (lengths where they part more often; some too
# wide for the overlap index's buckets, under /16), now and
# then one that holds none of them
prefix() {
        local len n
        pick 8 12 14 16 24 25 26 26 27 27 28 29 30 31 32 32 32 32
        len=$REPLY
        pick "${PEERS[@]}"
        ip_int "$REPLY"
        n=$REPLY
        ((RANDOM % 10 == 0)) && n=$((n ^ (1 << (RANDOM % 8 + 9))))      # elsewhere in 10.0.0.0/8
        n=$((n & ~((1 << (32 - len)) - 1) & 0xffffffff))
        int_ip "$n"
        REPLY="$REPLY/$len"
}

# port_range PORTS...: a range LO-HI around one of PORTS
port_range() {
        local p lo hi
        pick "$@"
        p=$REPLY
        lo=$((p - RANDOM % 8))
        hi=$((p + RANDOM % 3 * (RANDOM % 60)))
        ((RANDOM % 4 == 0)) && hi=$lo
        ((RANDOM % 5 == 0)) && lo=$((p + 1 + RANDOM % 4)) hi=$((lo + RANDOM % 10))     # just above
        REPLY="$lo-$hi"
}

# proto: the protocol condition of a filter that names one (mostly udp)
proto() {
        pick "IP_PROTOCOL 0 udp" "IP_PROTOCOL 0 udp" "IP_PROTOCOL 0 udp" "IP_PROTOCOL 0 udp" "IP_PROTOCOL 0 tcp"
}

# shape [KIND]: the conditions of a random filter of one of the mixed shapes (or of shape KIND),
# as "FIELD MATCH VALUE" triples; SHAPE_CALLOUT=1 for a per-peer IPsec callout
shape() {
        local c=() p kind=${1:-$((RANDOM % 12))}
        SHAPE_CALLOUT=0
        case $kind in
        0 | 1 | 2)                              # a blocklist entry, or a permit for a range
                prefix
                c=(IP_REMOTE_ADDRESS 0 "$REPLY")
                ((RANDOM % 3 == 0)) && { proto; c=($REPLY "${c[@]}"); }
                ;;
        3)                                      # two prefixes ORed
                prefix
                c=(IP_REMOTE_ADDRESS 0 "$REPLY")
                prefix
                c+=(IP_REMOTE_ADDRESS 0 "$REPLY")
                ;;
        4 | 5)                                  # local port range, with or without a protocol
                port_range "${LPORTS[@]}"
                c=(IP_LOCAL_PORT 5 "$REPLY")
                ((RANDOM % 2)) && { proto; c=($REPLY "${c[@]}"); }
                ;;
        6)                                      # remote port range
                port_range "${RPORTS[@]}"
                c=(IP_REMOTE_PORT 5 "$REPLY")
                ((RANDOM % 2)) && { proto; c=($REPLY "${c[@]}"); }
                ;;
        7)                                      # an exact local port (a run's shape)
                pick "${LPORTS[@]}"
                p=$REPLY
                proto
                c=($REPLY IP_LOCAL_PORT 0 "$p")
                ;;
        8 | 9)                                  # an exact peer tuple
                proto
                c=($REPLY)
                pick "${PEERS[@]}"
                c+=(IP_REMOTE_ADDRESS 0 "$REPLY")
                pick "${RPORTS[@]}"
                c+=(IP_REMOTE_PORT 0 "$REPLY")
                ((RANDOM % 3 == 0)) && { pick "${LPORTS[@]}"; c+=(IP_LOCAL_PORT 0 "$REPLY"); }
                ;;
        10)                                     # a prefix and a port range
                prefix
                c=(IP_REMOTE_ADDRESS 0 "$REPLY")
                port_range "${LPORTS[@]}"
                c+=(IP_LOCAL_PORT 5 "$REPLY")
                ;;
        11)                                     # IPsec required for one peer
                SHAPE_CALLOUT=1
                pick "${PEERS[@]}"
                c=(IP_REMOTE_ADDRESS 0 "$REPLY")
                ((RANDOM % 3 == 0)) && c=(IP_PROTOCOL 0 udp "${c[@]}")
                ;;
        esac
        REPLY="${c[*]}"
}

SUBLAYERS=()

# verdict CALLOUT: random ACTION, FLAGS and CALLOUT of a filter, an IPsec callout if CALLOUT is 1
verdict() {
        local r
        FLAGS=0 CALLOUT=-
        if (($1)); then
                ACTION=20483 CALLOUT=$IPSEC_INBOUND_TRANSPORT_V4
                ((RANDOM % 3 == 0)) && FLAGS=8
        else
                r=$((RANDOM % 20))
                if ((r < 5)); then
                        ACTION=4097                     # block
                elif ((r < 14)); then
                        ACTION=4098                     # soft permit
                else
                        ACTION=4098 FLAGS=8             # hard permit
                fi
        fi
}

# traits CALLOUT: random ACTION, FLAGS, CALLOUT, WKIND, WEIGHT and SUB (a sublayer key or -) of a
# filter, an IPsec callout if CALLOUT is 1
traits() {
        local r
        WKIND=auto WEIGHT=0 SUB=-
        verdict "$1"
        case $((RANDOM % 5)) in
        0 | 1) ;;                                       # automatic
        2 | 3) WKIND=range WEIGHT=$((RANDOM % 16)) ;;
        4)
                WKIND=explicit
                pick 0 1 4096 4096 $((1 << 62)) $(((RANDOM % 16) << 60 | 4096)) $(((1 << 63) - 1))
                printf -v WEIGHT '%u' "$REPLY"          # (15 << 60 | …) is negative in bash
                ;;
        esac
        r=$((RANDOM % (${#SUBLAYERS[@]} + 2)))
        ((r < ${#SUBLAYERS[@]})) && SUB=${SUBLAYERS[r]}
}

# random_filter NAME [KIND [MIXED]]: REPLY = one filter as a line of bfe-provider's `filters`
# file; with KIND, of that shape and with the traits set last (a provider's list of like filters:
# where runs come from), but a verdict of its own if MIXED is 1 (like filters, different verdicts:
# what a verdict map folds into one lookup)
random_filter() {
        local name="$1" conds
        shape "${2:-}"
        conds=$REPLY
        [[ -n ${2:-} ]] || traits "$SHAPE_CALLOUT"
        [[ ${3:-0} == 1 ]] && verdict "$SHAPE_CALLOUT"
        REPLY=$(printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s' "$name" INBOUND_TRANSPORT_V4 "$ACTION" "$FLAGS" \
                "$WKIND" "$WEIGHT" "$SUB" "$CALLOUT" "$conds")
}

# busctl_dict LINE: ARGS = the a{sv} arguments of busctl for a filter line
busctl_dict() {
        local name layer action flags wkind weight sub callout conds n=3 c
        IFS=$'\t' read -r name layer action flags wkind weight sub callout conds <<<"$1"
        ARGS=(Name s "$name" Layer s "$layer" Action u "$action")
        ((flags != 0)) && { ARGS+=(Flags u "$flags"); n=$((n + 1)); }
        case $wkind in
        range) ARGS+=(Weight y "$weight"); n=$((n + 1)) ;;
        explicit) ARGS+=(Weight t "$weight"); n=$((n + 1)) ;;
        esac
        [[ $sub != - ]] && { ARGS+=(SubLayer s "$sub"); n=$((n + 1)); }
        [[ $callout != - ]] && { ARGS+=(CalloutKey s "$callout"); n=$((n + 1)); }
        if [[ -n $conds ]]; then
                read -ra c <<<"$conds"
                ARGS+=(Conditions 'a(sus)' $((${#c[@]} / 3)) "${c[@]}")
                n=$((n + 1))
        fi
        ARGS=("$n" "${ARGS[@]}")
}

IDS=()          # the filters of this round
GONE=()         # the ones deleted last
declare -A LINE_OF=()   # id -> its line
CALL_ERRORS=0

# provider STEP...: a bfe-provider session runs the steps; its output in $BFEDT_TMP/p.out
provider() {
        local outf="$BFEDT_TMP/p.out"
        bfedt_provider "$outf" "$@" || { not_ok "bfe-provider did not finish its steps: $(tr '\n' '|' <"$outf")"; return 1; }
        kill -TERM "$PROVIDER_PID" 2>/dev/null
        wait "$PROVIDER_PID" 2>/dev/null
        if grep -q '^error' "$outf"; then
                CALL_ERRORS=$((CALL_ERRORS + 1))
                diag "bfe-provider $*: $(grep '^error' "$outf" | paste -sd'|')"
        fi
}

# add_batch N TAG: N random filters, added in one of the ways providers add them (in half the
# batches, a list of like filters, of one verdict or of several)
add_batch() {
        local n="$1" tag="$2" lines=() k out file="$BFEDT_TMP/filters" all=() mode kind='' first mixed=0
        # half the batches are lists of like filters: one shape, weight and sublayer, and one
        # verdict or (two in three of them) each its own
        if ((RANDOM % 2)); then
                pick 0 7 7 8 8 9 4
                kind=$REPLY
                traits $((kind == 11))
                mixed=$((RANDOM % 3 > 0))
        fi
        for ((k = 0; k < n; k++)); do
                random_filter "$tag.$k" "$kind" "$mixed"
                lines+=("$REPLY")
        done
        printf '%s\n' "${lines[@]}" >"$file"
        first=${#IDS[@]}
        mode=$((RANDOM % 5))
        case $mode in
        0)      # single AddFilter calls, each its own transaction
                for line in "${lines[@]}"; do
                        busctl_dict "$line"
                        if out=$(bus_json AddFilter 'a{sv}' "${ARGS[@]}" 2>&1); then
                                IDS+=("$(jq -r '.data[1]' <<<"$out")")
                        else
                                CALL_ERRORS=$((CALL_ERRORS + 1))
                                diag "AddFilter refused: $line: $out"
                        fi
                done
                ;;
        1)      # one AddFilters call
                for line in "${lines[@]}"; do
                        busctl_dict "$line"
                        all+=("${ARGS[@]}")
                done
                if out=$(bus_json AddFilters 'aa{sv}' "$n" "${all[@]}" 2>&1); then
                        mapfile -t -O "${#IDS[@]}" IDS < <(jq -r '.data[0][][1]' <<<"$out")
                else
                        CALL_ERRORS=$((CALL_ERRORS + 1))
                        diag "AddFilters refused: $out"
                fi
                ;;
        2 | 3 | 4)      # a session: AddFilter calls or one AddFilters, in a transaction or not
                local steps=(filters "$file" each)
                ((mode == 3)) && steps=(filters "$file" many)
                ((mode != 4)) && steps=(begin "${steps[@]}" commit)
                provider "${steps[@]}" || return
                mapfile -t -O "${#IDS[@]}" IDS < <(awk '$1 == "filter" {print $3}' "$BFEDT_TMP/p.out")
                ;;
        esac
        if ((${#IDS[@]} - first == n)); then
                for ((k = 0; k < n; k++)); do LINE_OF[${IDS[first + k]}]=${lines[k]}; done
        fi
}

# delete_some: deletes a random part of this round's filters, alone or in a transaction
delete_some() {
        local keep=() gone=() id steps=()
        for id in "${IDS[@]}"; do
                if ((RANDOM % 5 < 2)); then gone+=("$id"); else keep+=("$id"); fi
        done
        IDS=("${keep[@]}")
        GONE=("${gone[@]}")
        if ((RANDOM % 2)); then
                for id in "${gone[@]}"; do
                        bus DeleteFilterById t "$id" >/dev/null || not_ok "DeleteFilterById $id"
                done
        else
                for id in "${gone[@]}"; do steps+=(delete-filter "$id"); done
                provider begin "${steps[@]}" commit
        fi
        diag "deleted ${#gone[@]} filters (${gone[*]}), ${#keep[@]} left"
}

probes=0
blocked=0
disagreements=0
dumped=0
seen_callout=0

# dump WHAT: what a disagreement needs to be understood (the table, once a phase)
dump_state() {
        echo "#   seed $SEED (BFEDT_SEED=$SEED reruns it)"
        echo "#   sublayers:"
        bus_json EnumSubLayers | jq -r '.data[0][] | select(.Name.data | test("^FWPM_") | not
                                                         or . == "FWPM_SUBLAYER_UNIVERSAL")
                                                  | "#     \(.Key.data) weight \(.Weight.data) \(.Name.data)"'
        echo "#   filters (EnumFilters at INBOUND_TRANSPORT_V4, in the engine's order):"
        # 64-bit weights as strings: jq would round them to doubles
        bus_json EnumFilters 'a{sv}' 1 Layer s INBOUND_TRANSPORT_V4 | sed -E 's/"data":([0-9]{16,})/"data":"\1"/g' |
                jq -c '.data[0][] | with_entries(.value = .value.data)
                       | {Id, Name, SubLayer: (.SubLayerKey // .SubLayer), EffectiveWeight, Action, Flags, CalloutKey, Conditions}' |
                sed 's/^/#     /'
        if ((dumped == 0)); then
                echo "#   the table:"
                nsnft list table inet bfed | sed 's/^/#     /'
                dumped=1
        fi
}

# aim ID: SRC, DPORT and SPORT of a UDP packet that the conditions of filter ID match (as far
# as a packet from the peers can: not a tcp one, not a prefix that holds no peer)
aim() {
        local c i peer n net len lo hi hits=()
        read -ra c <<<"${LINE_OF[$1]##*$'\t'}"
        for ((i = 0; i + 2 < ${#c[@]}; i += 3)); do
                case ${c[i]}:${c[i + 1]} in
                IP_REMOTE_ADDRESS:0)
                        net=${c[i + 2]%/*} len=32
                        [[ ${c[i + 2]} == */* ]] && len=${c[i + 2]#*/}
                        ip_int "$net"
                        net=$REPLY
                        for peer in "${PEERS[@]}"; do
                                ip_int "$peer"
                                (((REPLY ^ net) >> (32 - len) == 0)) && hits+=("$peer")
                        done
                        ;;
                IP_REMOTE_PORT:0) SPORT=${c[i + 2]} ;;
                IP_LOCAL_PORT:0) DPORT=${c[i + 2]} ;;
                IP_REMOTE_PORT:5 | IP_LOCAL_PORT:5)
                        lo=${c[i + 2]%-*} hi=${c[i + 2]#*-}
                        n=$((lo + RANDOM % (hi - lo + 1)))
                        if [[ ${c[i]} == IP_REMOTE_PORT ]]; then SPORT=$n; else DPORT=$n; fi
                        ;;
                esac
        done
        if ((${#hits[@]})); then
                pick "${hits[@]}"
                SRC=$REPLY
        fi
}

# check_packets PHASE [ID...]: PACKETS random packets, most of them aimed at a filter (one of the
# IDs if given, else any of this round's); each one's fate against Explain's verdict
check_packets() {
        local phase="$1" k src dport sport fields send what verdict explain timeout rc type
        shift
        local targets=("$@")
        ((${#targets[@]})) || targets=("${IDS[@]}")
        for ((k = 0; k < PACKETS; k++)); do
                pick "${PEERS[@]}"
                src=$REPLY
                if ((RANDOM % 8)); then
                        pick "${LPORTS[@]}"
                        dport=$REPLY
                        pick "${RPORTS[@]}"
                        sport=$REPLY
                        if ((RANDOM % 4 && ${#targets[@]})); then
                                pick "${targets[@]}"
                                if [[ -n ${LINE_OF[$REPLY]:-} ]]; then
                                        SRC=$src DPORT=$dport SPORT=$sport
                                        aim "$REPLY"
                                        src=$SRC dport=$DPORT sport=$SPORT
                                fi
                        fi
                        what="UDP $src:$sport -> $A4:$dport"
                        fields=(IP_PROTOCOL udp IP_LOCAL_PORT "$dport" IP_REMOTE_PORT "$sport")
                        send=(bfedt_udp_deliver "$NS_A" "$NS_B" "$A4" "$dport" "$sport" TIMEOUT "$BFEDT_TMP/from-$src")
                else
                        pick 8 13
                        type=$REPLY
                        what="ICMP $type/0 $src -> $A4"
                        fields=(IP_PROTOCOL icmp ICMP_TYPE "$type" ICMP_CODE 0)
                        send=(bfedt_icmp_deliver "$NS_A" "$NS_B" "$A4" "$type" 0 TIMEOUT "$src")
                fi
                fields+=(IP_LOCAL_ADDRESS "$A4" IP_REMOTE_ADDRESS "$src" IP_LOCAL_INTERFACE veth0
                         IP_LOCAL_ADDRESS_TYPE unicast)
                explain=$(bus_json Explain 'sa{ss}' INBOUND_TRANSPORT_V4 $((${#fields[@]} / 2)) "${fields[@]}")
                verdict=$(jq -r '.data[0]' <<<"$explain")
                [[ $explain == *require-ipsec* ]] && seen_callout=$((seen_callout + 1))
                # wait long for what Explain lets through, briefly for what it blocks
                timeout=2000
                [[ $verdict == block ]] && timeout=300
                rc=0
                "${send[@]/#TIMEOUT/$timeout}" || rc=$?
                probes=$((probes + 1))
                [[ $verdict == block ]] && blocked=$((blocked + 1))
                case "$verdict:$rc" in
                permit:0 | block:1) ;;
                *)
                        disagreements=$((disagreements + 1))
                        not_ok "seed $SEED, $phase: $what: Explain says $verdict, the packet $( ((rc == 0)) && echo arrived || echo did not arrive) (probe $rc)"
                        echo "#   Explain's fields: ${fields[*]}"
                        echo "#   Explain: $(jq -c '.data' <<<"$explain")"
                        dump_state
                        ;;
                esac
        done
}

# check_table PHASE: the filters in the kernel (rule and set element comments "filter N: …") are the
# engine's filters of the packet layers, each once — a run member's element left behind after its
# delete, or one missing, shows here whether or not a packet hits it
table_mismatches=0
check_table() {
        local want have
        want=$(enum_filters | jq -r '.[] | select(.Layer | test("^(IKEEXT|IPSEC)_") | not) | .Id' | sort)
        # a rule's comment, or a set's elements' (one per block of a filter's port range, in the
        # sets of a run's block sizes, run_<id>_b16, _b4 and _b1: once)
        have=$(nsnft list table inet bfed | awk '
                /^\tset / { set = $2; sub(/_b[0-9]+$/, "", set) } /^\t}/ { set = "" }
                { s = $0
                  while (match(s, /comment "filter [0-9]+:/)) {
                          id = substr(s, RSTART + 16, RLENGTH - 17)
                          if (set == "" || !((set, id) in seen)) print id
                          seen[set, id] = 1
                          s = substr(s, RSTART + RLENGTH)
                  } }' | sort)
        if [[ "$want" != "$have" ]]; then
                table_mismatches=$((table_mismatches + 1))
                diag "$1: in the kernel, not the engine: $(comm -13 <(echo "$want") <(echo "$have") | paste -sd, -);" \
                        "in the engine, not the kernel (or twice there): $(comm -23 <(echo "$want") <(echo "$have") | paste -sd, -)"
        fi
}

for ((round = 1; round <= ROUNDS; round++)); do
        bfedt_clear_database
        IDS=()
        SUBLAYERS=()
        nsub=$((2 + RANDOM % 3))
        weights=()
        for ((s = 0; s < nsub; s++)); do
                pick 0x8000 0x8001 0x7fff 0xffff 1 $((RANDOM * 2)) $((RANDOM * 2)) "${weights[@]}"
                w=$((REPLY))
                weights+=("$w")
                key=$(bus_json AddSubLayer 'a{sv}' 2 Name s "round $round sublayer $s" Weight q "$w" | jq -r '.data[0]')
                [[ -n $key && $key != null ]] || die "AddSubLayer (weight $w) failed"
                SUBLAYERS+=("$key")
        done
        # a provider's "block the rest" under its permits, in some sublayer, in half the rounds:
        # then its permits decide (and a permit compiled wrong, or left behind, shows)
        if ((RANDOM % 2)); then
                traits 0
                ACTION=4097 FLAGS=0 WKIND=range WEIGHT=0
                pick "IP_REMOTE_ADDRESS 0 10.206.0.0/24" "IP_PROTOCOL 0 udp"
                printf -v line '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s' "r$round.rest" INBOUND_TRANSPORT_V4 "$ACTION" \
                        "$FLAGS" "$WKIND" "$WEIGHT" "$SUB" "$CALLOUT" "$REPLY"
                busctl_dict "$line"
                if out=$(bus_json AddFilter 'a{sv}' "${ARGS[@]}" 2>&1); then
                        IDS+=("$(jq -r '.data[1]' <<<"$out")")
                        LINE_OF[${IDS[-1]}]=$line
                else
                        CALL_ERRORS=$((CALL_ERRORS + 1))
                        diag "AddFilter refused: $line: $out"
                fi
        fi
        total=$((FILTERS - 5 + RANDOM % 11))
        b=0
        while ((total > 0)); do
                n=$((1 + RANDOM % 10))
                ((n > total)) && n=$total
                add_batch "$n" "r$round.b$b"
                total=$((total - n))
                b=$((b + 1))
        done
        diag "round $round: ${#IDS[@]} filters in $b batches, sublayer weights ${weights[*]}," \
                "$(nsnft list table inet bfed | grep -c '^\s*set run_') runs"
        dumped=0
        check_table "round $round"
        check_packets "round $round"
        delete_some
        add_batch $((1 + RANDOM % 4)) "r$round.late"
        dumped=0
        # aimed at what was deleted, and at what is left
        check_table "round $round, after deletes and adds"
        check_packets "round $round, after deletes and adds" "${GONE[@]}" "${GONE[@]}" "${GONE[@]}" "${IDS[@]}"
done

check_eq "after every phase the kernel's filters were the engine's, each once (seed $SEED)" 0 "$table_mismatches"
check_eq "Explain and the kernel agree on $probes random packets (seed $SEED)" 0 "$disagreements"
check_eq "every add and delete was accepted (seed $SEED)" 0 "$CALL_ERRORS"
diag "$blocked of $probes blocked, $seen_callout by an IPsec callout"
check "the packets were both blocked and let through" test "$blocked" -gt 0 -a "$blocked" -lt "$probes"
bfedt_done
