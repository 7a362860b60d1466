#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# bfectl as a command-line tool, against the real bfed on a private bus: the help (`bfectl help`,
# `help OBJECT`, `OBJECT --help`, `help COMMAND [VERB]`) on stdout with status 0; a mistyped
# command, verb or option a usage error (status 2) that names the word meant ("did you mean
# 'filter'?"); --no-legend, the same rows without header and footer; and each exit status of
# bfectl(8) from the path that gives it: 1 the engine refused, 3 no such object (delete, show,
# add naming a missing sublayer or layer, explain of an unknown layer), 4 access denied (nobody, no polkitd), 7 bfed not reachable
# (before it starts, a bus that is not there, after it stops). A 64-bit effective weight is a JSON
# string that keeps every digit.
source "$(dirname "$0")/lib.sh"

bfedt_require_root
bfedt_require_bfectl
id nobody >/dev/null 2>&1 || skip_all "no user nobody"
NOBODY_GROUP=$(id -gn nobody)
bfedt_init

# run ARGS...: bfectl ARGS on the test's bus; sets OUT, ERR and RC.
run() {
        RC=0
        OUT=$(ctl "$@" 2>"$BFEDT_TMP/stderr") || RC=$?
        ERR=$(cat "$BFEDT_TMP/stderr")
}

# expect_usage DESC WANT ARGS...: bfectl ARGS is a usage error (2), nothing on stdout, and its
# message contains WANT.
expect_usage() {
        local desc="$1" want="$2"
        shift 2
        run "$@"
        check_eq "$desc: exit status 2" 2 "$RC"
        check_eq "$desc: nothing on stdout" "" "$OUT"
        if [[ "$ERR" == *"$want"* ]]; then
                ok "$desc: '$want'"
        else
                not_ok "$desc: '$want'"
                echo "#   stderr: $ERR"
        fi
}

# ---- help, without a bus --------------------------------------------------------------------

run help
general="$OUT"
check_eq "help: exit status 0, nothing on stderr" "0 " "$RC $ERR"
check "help lists the commands" grep -q '^  filter list' <<<"$general"
check "help lists itself" grep -q '^  help \[COMMAND \[VERB\]\]' <<<"$general"
check_eq "help is --help" "$general" "$(ctl --help)"

for obj in provider sublayer context filter; do
        run help "$obj"
        check_eq "help $obj: exit status 0, nothing on stderr" "0 " "$RC $ERR"
        missing=
        for verb in add delete list show; do
                grep -q "^  $obj $verb" <<<"$OUT" || missing+=" $verb"
        done
        check_eq "help $obj names its verbs" "" "$missing"
        check_eq "$obj --help is help $obj" "$OUT" "$(ctl "$obj" --help)"
        check_eq "$obj -h is help $obj" "$OUT" "$(ctl "$obj" -h)"
done
check "help filter has filter add's options in full" grep -q -- '--condition COND' <<<"$(ctl help filter)"

for cmd in status explain monitor help "filter add" "context list" "sublayer delete"; do
        # shellcheck disable=SC2086 # the command's words
        run help $cmd
        # shellcheck disable=SC2086
        check_eq "help $cmd is $cmd --help (status $RC)" "$(ctl $cmd --help)" "$OUT"
done
check "help filter list names its options" grep -q -- '--layer L' <<<"$(ctl help filter list)"

# ---- typos ----------------------------------------------------------------------------------

expect_usage "fitler list" "unknown command 'fitler', did you mean 'filter'?" fitler list
expect_usage "filter lsit" "unknown verb 'lsit', did you mean 'list'?" filter lsit
expect_usage "sublayer sho KEY (a prefix)" "did you mean 'show'?" sublayer sho 11111111-2222-4333-8444-555555555555
expect_usage "stauts" "did you mean 'status'?" stauts
expect_usage "help fitler" "did you mean 'filter'?" help fitler
expect_usage "help filter ad" "did you mean 'add'?" help filter ad
expect_usage "filter list --layr" "unknown option '--layr', did you mean '--layer'?" filter list --layr IKEEXT_V4
expect_usage "filter add --condtion" "did you mean '--condition'?" filter add --name x --layer IKEEXT_V4 \
        --condtion IP_PROTOCOL=udp
expect_usage "--jsn status" "unknown option '--jsn', did you mean '--json'?" --jsn status
expect_usage "status --no-legnd" "did you mean '--no-legend'?" status --no-legnd
expect_usage "a word like none" "unknown command 'xyzzy'" xyzzy
check "  and no guess for it" test "${ERR#*did you mean}" == "$ERR"
expect_usage "an object without a verb" "missing verb after 'filter'" filter
expect_usage "an option without its argument" "--layer needs an argument" filter list --layer
expect_usage "bfectl alone" "missing command"

# ---- not reachable: 7 -----------------------------------------------------------------------

bfedt_netns a
NS="$REPLY"
bfedt_start_bus
run status
check_eq "no bfed on the bus: status 7" 7 "$RC"
check "  it says so" grep -q "bfed is not running" <<<"$ERR"
run --address "unix:path=$BFEDT_TMP/no-such-bus" filter list
check_eq "a bus that is not there: status 7" 7 "$RC"

bfedt_start_bfed "$NS"

# ---- --no-legend ----------------------------------------------------------------------------

sub=$(ctl --json sublayer add --name "cli sublayer" --weight 100 | jq -r .key)
ctl filter add --name "cli block" --layer INBOUND_TRANSPORT_V4 --action block --sublayer "$sub" \
        --condition IP_PROTOCOL=udp >/dev/null
read -r _ wid < <(ctl filter add --name "cli explicit" --layer OUTBOUND_TRANSPORT_V4 --weight =9223372036854775809)
check "a filter with an explicit weight above 2^63 is added" test -n "$wid"

run filter list
legend="$OUT"
check_eq "filter list: status 0" 0 "$RC"
check "filter list has its header" grep -qE '^ID +LAYER +WEIGHT +ACTION +E +NAME$' <<<"$legend"
check "and its footer" grep -qE '^[0-9]+ filters \(\* = engine-owned\)$' <<<"$legend"
run filter list --no-legend
check_eq "filter list --no-legend: the rows alone, as wide" "$(sed '1d' <<<"$legend" | head -n -2)" "$OUT"
check "  among them the test's filter" grep -q 'cli block$' <<<"$OUT"
check_eq "bfectl --no-legend filter list: the same" "$OUT" "$(ctl --no-legend filter list)"
run sublayer list
check_eq "sublayer list --no-legend: without the header" "$(sed '1d' <<<"$OUT")" "$(ctl sublayer list --no-legend)"
check "  a sublayer list has a header" grep -qE '^KEY +WEIGHT +FLAGS +NAME$' <<<"$OUT"
run explain INBOUND_TRANSPORT_V4 IP_PROTOCOL=udp
with="$OUT"
run --no-legend explain INBOUND_TRANSPORT_V4 IP_PROTOCOL=udp
check_eq "explain --no-legend: the sublayers and the verdict, without the two legend lines" \
        "$(sed '1,2d' <<<"$with")" "$OUT"
check "  explain's legend is those lines" grep -q '^WEIGHT  SUBLAYER' <<<"$(sed -n 2p <<<"$with")"
check_eq "--json ignores --no-legend" "$(ctl --json filter list)" "$(ctl --json --no-legend filter list)"

# ---- 64-bit weights in JSON -----------------------------------------------------------------

check_eq "an explicit weight's effective weight is a JSON string, every digit kept" \
        '"9223372036854775809"' "$(ctl --json filter show "$wid" | jq .effective_weight)"
check_eq "in the list too" '"9223372036854775809"' \
        "$(ctl --json filter list | jq --argjson id "$wid" '.[] | select(.id == $id) | .effective_weight')"

# ---- contexts with meaning: --policy-flags, --raw-context -----------------------------------

run context add --name "qm, negotiation discovery" --type ike-qm-transport --policy-flags 0x2
check_eq "context add --policy-flags: status 0" 0 "$RC"
qm=${OUT%% *}
check "context show: the policy flags" grep -qx 'Policy flags: *0x00000002' <<<"$(ctl context show "$qm")"
check_eq "--json: policy_flags" 2 "$(ctl --json context show "$qm" | jq .policy_flags)"
run filter add --name "out, negotiate discover" --layer OUTBOUND_TRANSPORT_V4 \
        --callout 4b46bf0a-4523-4e57-aa38-a87987c910d9 --raw-context 1 --condition IP_PROTOCOL=udp
check_eq "filter add --raw-context: status 0" 0 "$RC"
nd=${OUT##* }
check "filter show: the raw context" grep -qx 'Raw context: *0x0000000000000001' <<<"$(ctl filter show "$nd")"
check "filter show of one without: no raw context line" bash -c '! grep -q "Raw context"' \
        <<<"$(ctl filter show "$wid")"
expect_usage "filter add --raw-context x" "--raw-context: 'x' is not a number" \
        filter add --name x --layer OUTBOUND_TRANSPORT_V4 --raw-context x

# ---- the engine's answers: 3, 1, 4 ----------------------------------------------------------

missing_key=7f3c1a52-9d0e-4b6a-8c21-5e4f3a2b1c0d
run filter delete 999999
check_eq "filter delete of a missing id: status 3" 3 "$RC"
check "  with FWP_E_FILTER_NOT_FOUND" grep -q FWP_E_FILTER_NOT_FOUND <<<"$ERR"
run filter show 999999
check_eq "filter show of a missing id: status 3" 3 "$RC"
run filter delete "$missing_key"
check_eq "filter delete of a missing key: status 3" 3 "$RC"
run provider show "$missing_key"
check_eq "provider show of a missing key: status 3 ($ERR)" 3 "$RC"
run sublayer delete "$missing_key"
check_eq "sublayer delete of a missing key: status 3" 3 "$RC"
run filter add --name x --layer INBOUND_TRANSPORT_V4 --sublayer "$missing_key"
check_eq "filter add naming a missing sublayer: status 3 ($ERR)" 3 "$RC"
run filter add --name x --layer NO_SUCH_LAYER
check_eq "filter add at an unknown layer: status 3 ($ERR)" 3 "$RC"
run explain NO_SUCH_LAYER IP_PROTOCOL=udp
check_eq "explain of an unknown layer: status 3 ($ERR)" 3 "$RC"

run sublayer add --name again --weight 1 --key "$sub"
check_eq "a key that is taken: the engine refused, status 1" 1 "$RC"
check "  with FWP_E_ALREADY_EXISTS" grep -q FWP_E_ALREADY_EXISTS <<<"$ERR"
run sublayer delete "$sub"
check_eq "a sublayer a filter is in: status 1" 1 "$RC"
check "  with FWP_E_IN_USE" grep -q FWP_E_IN_USE <<<"$ERR"

before=$(ctl --json provider list)
RC=0
ERR=$(setpriv --reuid=nobody --regid="$NOBODY_GROUP" --clear-groups --inh-caps=-all \
        env DBUS_SYSTEM_BUS_ADDRESS="$BUS_ADDR" "$BFECTL" provider add --name "nobody's" 2>&1 >/dev/null) || RC=$?
check_eq "nobody adds a provider, no polkitd: access denied, status 4" 4 "$RC"
check "  AccessDenied's message" grep -q "needs authorization" <<<"$ERR"
check_eq "  nothing added" "$before" "$(ctl --json provider list)"
RC=0
setpriv --reuid=nobody --regid="$NOBODY_GROUP" --clear-groups --inh-caps=-all \
        env DBUS_SYSTEM_BUS_ADDRESS="$BUS_ADDR" "$BFECTL" filter list >/dev/null 2>&1 || RC=$?
check_eq "nobody may read: status 0" 0 "$RC"

check "bfed stops" bfedt_stop_bfed
run status
check_eq "after bfed stopped: status 7" 7 "$RC"

bfedt_done
