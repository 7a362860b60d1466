#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The same sequence of adds and deletes, once with bfectl and once with raw `busctl call`
# against a fresh daemon each time, gives the same ruleset after every step (ids, keys and
# rule handles aside) and the same filter database.
source "$(dirname "$0")/lib.sh"

bfedt_require_root
bfedt_require_bfectl
bfedt_init
bfedt_netns a
NS=$REPLY
bfedt_start_bus

# snap MODE STEP: the normalised ruleset and filter list after STEP.
snap() {
        ruleset_json | jq -S '[.nftables[] | select(has("metainfo") | not)]
                | walk(if type == "object" then del(.handle) else . end)
                | walk(if type == "object" and has("counter") and (.counter | type) == "object"
                       then .counter = {} else . end)
                | walk(if type == "object" and (.comment | type) == "string"
                       then .comment |= sub("^filter [0-9]+:"; "filter #:") else . end)' \
                >"$BFEDT_TMP/$1.$2.rules"
        enum_filters | jq -S 'map(del(.Key, .Id, .ProviderKey, .ProviderContextKey, .LayerKey, .SubLayer,
                                    .EffectiveWeight))' >"$BFEDT_TMP/$1.$2.filters"
        echo "$(exemptions_active)" >"$BFEDT_TMP/$1.$2.active"
}

run_bfectl() {
        local m=bfectl prov ctx b4 b6 mm1 mm2 ctx6
        prov=$(ctl --json provider add --name "parity provider" | jq -r '.Key // .key')
        ctx=$(ctl --json context add --name "ike mm" --type 5 --provider "$prov" | jq -r '.Key // .key')
        ctx6=$(ctl --json context add --name "authip mm" --type 6 | jq -r '.Key // .key')
        snap $m 1-objects
        b4=$(ctl --json filter add --name "block udp 9999" --layer INBOUND_TRANSPORT_V4 --action block \
                --weight 0 --condition IP_PROTOCOL=udp --condition IP_LOCAL_PORT=9999 | jq -r '.Id // .id')
        b6=$(ctl --json filter add --name "block v6 net" --layer OUTBOUND_TRANSPORT_V6 --action block \
                --weight 3 --condition IP_REMOTE_ADDRESS=2001:db8::/32 | jq -r '.Id // .id')
        snap $m 2-blocks
        mm1=$(ctl --json filter add --name "ike mm policy" --layer IKEEXT_V4 --action permit \
                --context "$ctx" --provider "$prov" | jq -r '.Id // .id')
        snap $m 3-mm1
        mm2=$(ctl --json filter add --name "authip mm policy" --layer IKEEXT_V6 --action permit \
                --context "$ctx6" | jq -r '.Id // .id')
        snap $m 4-mm2
        ctl filter delete "$mm1"
        snap $m 5-del-mm1
        ctl filter delete "$mm2"
        snap $m 6-del-mm2
        ctl filter delete "$b4"
        snap $m 7-del-block
        ctl context delete "$ctx"
        snap $m 8-del-ctx
        : "$b6"
}

run_busctl() {
        local m=busctl prov ctx b4 b6 mm1 mm2 ctx6
        prov=$(bus_json AddProvider 'a{sv}' 1 Name s "parity provider" | jq -r '.data[0]')
        ctx=$(bus_json AddProviderContext 'a{sv}' 3 Name s "ike mm" Type u 5 ProviderKey s "$prov" | jq -r '.data[0]')
        ctx6=$(bus_json AddProviderContext 'a{sv}' 2 Name s "authip mm" Type u 6 | jq -r '.data[0]')
        snap $m 1-objects
        b4=$(bus_json AddFilter 'a{sv}' 5 Name s "block udp 9999" Layer s INBOUND_TRANSPORT_V4 Action u 4097 \
                Weight y 0 Conditions 'a(sus)' 2 IP_PROTOCOL 0 udp IP_LOCAL_PORT 0 9999 | jq -r '.data[1]')
        b6=$(bus_json AddFilter 'a{sv}' 5 Name s "block v6 net" Layer s OUTBOUND_TRANSPORT_V6 Action u 4097 \
                Weight y 3 Conditions 'a(sus)' 1 IP_REMOTE_ADDRESS 0 2001:db8::/32 | jq -r '.data[1]')
        snap $m 2-blocks
        mm1=$(bus_json AddFilter 'a{sv}' 5 Name s "ike mm policy" Layer s IKEEXT_V4 Action u 4098 \
                ProviderContextKey s "$ctx" ProviderKey s "$prov" | jq -r '.data[1]')
        snap $m 3-mm1
        mm2=$(bus_json AddFilter 'a{sv}' 4 Name s "authip mm policy" Layer s IKEEXT_V6 Action u 4098 \
                ProviderContextKey s "$ctx6" | jq -r '.data[1]')
        snap $m 4-mm2
        bus DeleteFilterById t "$mm1"
        snap $m 5-del-mm1
        bus DeleteFilterById t "$mm2"
        snap $m 6-del-mm2
        bus DeleteFilterById t "$b4"
        snap $m 7-del-block
        bus DeleteProviderContext s "$ctx"
        snap $m 8-del-ctx
        : "$b6"
}

bfedt_start_bfed "$NS"
run_bfectl
bfedt_stop_bfed

bfedt_start_bfed "$NS"
run_busctl
bfedt_stop_bfed

for step in 1-objects 2-blocks 3-mm1 4-mm2 5-del-mm1 6-del-mm2 7-del-block 8-del-ctx; do
        if diff -u "$BFEDT_TMP/bfectl.$step.rules" "$BFEDT_TMP/busctl.$step.rules" >"$BFEDT_TMP/diff" 2>&1; then
                ok "step $step: same ruleset from bfectl and busctl"
        else
                not_ok "step $step: same ruleset from bfectl and busctl"
                sed 's/^/#   /' "$BFEDT_TMP/diff" | head -n 40
        fi
        if diff -u "$BFEDT_TMP/bfectl.$step.filters" "$BFEDT_TMP/busctl.$step.filters" >"$BFEDT_TMP/diff" 2>&1; then
                ok "step $step: same filter list from bfectl and busctl"
        else
                not_ok "step $step: same filter list from bfectl and busctl"
                sed 's/^/#   /' "$BFEDT_TMP/diff" | head -n 40
        fi
        check_eq "step $step: same ExemptionsActive" "$(cat "$BFEDT_TMP/bfectl.$step.active")" \
                "$(cat "$BFEDT_TMP/busctl.$step.active")"
done
check_eq "exemptions were active after the MM adds" "true" "$(cat "$BFEDT_TMP/busctl.3-mm1.active")"
check_eq "exemptions were gone after the MM deletes" "false" "$(cat "$BFEDT_TMP/busctl.6-del-mm2.active")"
check "the bfectl run produced rules at all" jqq 'length > 0' "$BFEDT_TMP/bfectl.4-mm2.rules"

bfedt_done
