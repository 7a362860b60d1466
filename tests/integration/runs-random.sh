#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs (FilterRuns=yes) under a seeded random stream of adds and deletes, with ChunkSize=4 so
# chunk chains split and empty as well: after every step, what the kernel holds — the rules
# met following the chunk gotos, each run's rule standing for its set's elements — must keep the
# engine's evaluation order: the rules in the order of their filters (a run's at its first
# member), and no member of a run looked up before a filter it overlaps (check-runs.py). Filters
# come in kinds that make runs (udp or tcp to a port, with or without a remote address, or to a
# range of four ports, an element each; block, hard or soft permit), a kind that cannot (a range
# of 100 ports), and kinds the overlap index cannot file by address (a port from anywhere in a
# /8, or from a range of addresses), at random weights, so they land at the front, the end and
# among a run's members, and take the members they overlap out.
source "$(dirname "$0")/lib.sh"

bfedt_require_root
bfedt_init
bfedt_netns a
NS=$REPLY
bfedt_start_bus
bfedt_start_bfed "$NS" FilterRuns=yes ChunkSize=4

RANDOM=4242     # the same stream every run

# kernel_order: one line per rule met from the sublayer chain through the gotos: a filter id,
# or "run ID ID…" (the ids of the run's set elements, sorted). A run with port blocks has a set
# and a rule for each block size (run_<id>_b16, _b4, _b1): its rules are one line when they
# follow each other, and lines of their own (the members twice, which check-runs.py reports)
# when anything comes between.
kernel_order() {
        nsnft list table inet bfed | awk -v start=inbound_transport_v4_universal '
                /^\tset run_/ { set = $2; sub(/_b[0-9]+$/, "", set); next }
                set != "" && /^\t}/ { set = ""; next }
                set != "" {
                        s = $0
                        while (match(s, /comment "filter [0-9]+:/)) {
                                members[set] = members[set] " " substr(s, RSTART + 16, RLENGTH - 17)
                                s = substr(s, RSTART + RLENGTH)
                        }
                        next
                }
                /^\tchain / { chain = $2; n[chain] = 0; next }
                chain != "" && /^\t}/ { chain = ""; next }
                chain != "" && /@run_[0-9]+/ {
                        match($0, /@run_[0-9]+/)
                        r = "run " substr($0, RSTART + 1, RLENGTH - 1)
                        if (!($0 ~ /@run_[0-9]+_b(4|1) / && n[chain] > 0 && rule[chain, n[chain] - 1] == r))
                                rule[chain, n[chain]++] = r
                        next
                }
                chain != "" && /comment "filter [0-9]+:/ { match($0, /comment "filter [0-9]+:/); rule[chain, n[chain]++] = substr($0, RSTART + 16, RLENGTH - 17); next }
                chain != "" && /^\t\tgoto / { next_of[chain] = $2 }
                END {
                        for (c = start; c != ""; c = next_of[c])
                                for (i = 0; i < n[c]; i++) {
                                        r = rule[c, i]
                                        if (r ~ /^run /) {
                                                k = split(members[substr(r, 5)], ids, " ")
                                                line = "run"
                                                # sorted, numerically
                                                for (a = 1; a <= k; a++) for (b = a + 1; b <= k; b++)
                                                        if (ids[b] + 0 < ids[a] + 0) { t = ids[a]; ids[a] = ids[b]; ids[b] = t }
                                                for (a = 1; a <= k; a++) line = line " " ids[a]
                                                print line
                                        } else
                                                print r
                                }
                }'
}

# agree: the kernel's order against the engine's (tests/tools/check-runs.py); prints what is wrong
agree() {
        bus_json EnumFilters 'a{sv}' 1 Layer s INBOUND_TRANSPORT_V4 | jq '.data[0]' >"$BFEDT_TMP/engine.json"
        kernel_order >"$BFEDT_TMP/kernel-order"
        python3 "$SOURCE_ROOT/tests/tools/check-runs.py" "$BFEDT_TMP/engine.json" "$BFEDT_TMP/kernel-order"
}

# add_filter KIND ACTION WEIGHT PORT PROTO OCTET: one of the kinds above; prints its id. The
# random numbers are drawn by the caller: $RANDOM in a $(…) subshell is reseeded by bash.
add_filter() {
        local kind="$1" action="$2" weight="$3" port="$4" proto="$5" octet="$6" conds=() flags=0
        case $kind in
        0) conds=(3 IP_PROTOCOL 0 "$proto" IP_LOCAL_PORT 0 "$port" IP_REMOTE_ADDRESS 0 "10.9.0.$octet") ;;
        1) conds=(2 IP_PROTOCOL 0 "$proto" IP_LOCAL_PORT 5 "$port-$((port + 3))") ;;   # a range: four elements
        2) conds=(2 IP_PROTOCOL 0 "$proto" IP_LOCAL_PORT 5 "$port-$((port + 99))") ;;  # too wide: a rule
        3) conds=(1 IP_REMOTE_ADDRESS 0 "10.$((octet % 4)).$((octet % 7)).0/24") ;;     # prefixes: runs of
        4) conds=(2 IP_PROTOCOL 0 "$proto" IP_REMOTE_ADDRESS 0 "10.$((octet % 5)).0.0/16") ;; # one length
        5) conds=(3 IP_PROTOCOL 0 "$proto" IP_LOCAL_PORT 0 "$port" IP_REMOTE_ADDRESS 0 "10.0.0.0/8") ;; # wide:
        6) conds=(3 IP_PROTOCOL 0 "$proto" IP_LOCAL_PORT 0 "$port" \
                  IP_REMOTE_ADDRESS 5 "10.9.0.$octet-10.9.0.$((octet + 2))") ;;           # no bucket
        *) conds=(2 IP_PROTOCOL 0 "$proto" IP_LOCAL_PORT 0 "$port") ;;
        esac
        case $action in
        0) action=4097 ;;                               # block
        1) action=4098 flags=8 ;;                       # hard permit
        2) action=4098 ;;                               # soft permit
        esac
        bus_json AddFilter 'a{sv}' 6 Name s "r$port" Layer s INBOUND_TRANSPORT_V4 Action u "$action" \
                Flags u "$flags" Weight y "$weight" Conditions 'a(sus)' "${conds[@]}" | jq -r '.data[1]'
}

ids=()
bad=0
for step in $(seq 1 90); do
        if ((${#ids[@]} > 6 && RANDOM % 3 == 0)); then
                i=$((RANDOM % ${#ids[@]}))
                bus DeleteFilterById t "${ids[i]}" >/dev/null || die "step $step: delete ${ids[i]}"
                ids=("${ids[@]:0:i}" "${ids[@]:i+1}")
        else
                # mostly blocks of one shape, so runs grow long and the others land inside them
                action=$((RANDOM % 10))
                action=$((action < 7 ? 0 : action < 9 ? 1 : 2))
                ((RANDOM % 10 == 0)) && proto=tcp || proto=udp
                kind=$((RANDOM % 10)) weight=$((RANDOM % 16)) port=$((7000 + RANDOM % 40)) octet=$((RANDOM % 250))
                id=$(add_filter "$kind" "$action" "$weight" "$port" "$proto" "$octet") || die "step $step: add refused"
                ids+=("$id")
        fi
        diff=$(agree)
        if [[ -n "$diff" ]]; then
                bad=$((bad + 1))
                diag "step $step: $diff"
        fi
done
check_eq "after each of 90 random adds and deletes the kernel keeps the engine's order" 0 "$bad"
check "runs were made along the way" grep -q '@run_' <<<"$(nsnft list table inet bfed)"
check "and rules of their own, too" grep -q '^"filter [0-9]*:' \
        <<<"$(nsnft -j list table inet bfed | jq '.nftables[] | select(.rule) | .rule.comment')"

# everything out again: the last member of each run takes its rule and set along
while ((${#ids[@]} > 0)); do
        bus DeleteFilterById t "${ids[0]}" >/dev/null || die "cleanup"
        ids=("${ids[@]:1}")
done
check_eq "all deleted: no run set is left" 0 "$(nsnft list table inet bfed | grep -c 'set run_' || true)"

bfedt_done
