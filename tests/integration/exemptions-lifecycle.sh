#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The IKE/AuthIP exemptions follow the main-mode policy filters: the first IKEEXT filter
# referencing an MM context (IKE 5, AuthIP 6, IKEv2 10) adds them, the last one's deletion
# removes them; quick-mode contexts never do; every other rule stays as it was.
source "$(dirname "$0")/lib.sh"

bfedt_require_root
bfedt_require_bfectl
bfedt_init
bfedt_netns a
bfedt_start_bus
bfedt_start_bfed "$REPLY"

# check_exemptions: the whole exemption set is in the ruleset, as the README says.
check_exemptions() {
        local tsv="$BFEDT_TMP/rules.tsv" v6chains
        rules_tsv >"$tsv"
        EXEMPT_IDS=$(engine_owned_ids | tr '\n' ' ')
        check "engine-owned exemption filters are enumerated ($1)" test -n "$EXEMPT_IDS"

        check_eq "inbound_transport_v4: udp dport {500,4500} accepted ($1)" "500,4500" \
                "$(exempt_ports "$tsv" inbound_transport_v4_universal udp.dport)"
        check_eq "inbound_transport_v4: udp sport {500,4500} accepted only with ct direction reply ($1)" "500,4500" \
                "$(exempt_ports "$tsv" inbound_transport_v4_universal udp.sport ct.direction=reply)"
        check_eq "outbound_transport_v4: udp sport {500,4500} accepted ($1)" "500,4500" \
                "$(exempt_ports "$tsv" outbound_transport_v4_universal udp.sport)"
        check_eq "outbound_transport_v4: udp dport {500,4500} accepted with ct direction original ($1)" "500,4500" \
                "$(exempt_ports "$tsv" outbound_transport_v4_universal udp.dport ct.direction=original)"
        check_eq "ale_auth_recv_accept_v4: udp dport {500,4500} with socket transparent 0 ($1)" "500,4500" \
                "$(exempt_ports "$tsv" ale_auth_recv_accept_v4_universal udp.dport socket.transparent=0)"
        check_eq "ale_auth_connect_v4: udp sport {500,4500} with meta skuid 0 ($1)" "500,4500" \
                "$(exempt_ports "$tsv" ale_auth_connect_v4_universal udp.sport meta.skuid=0)"
        check_eq "ale_auth_connect_v4: udp dport {500,4500} with meta skuid 0 ($1)" "500,4500" \
                "$(exempt_ports "$tsv" ale_auth_connect_v4_universal udp.dport meta.skuid=0)"

        check_eq "inbound_transport_v6: udp dport {500} accepted ($1)" "500" \
                "$(exempt_ports "$tsv" inbound_transport_v6_universal udp.dport)"
        check_eq "inbound_transport_v6: udp sport {500} with ct direction reply ($1)" "500" \
                "$(exempt_ports "$tsv" inbound_transport_v6_universal udp.sport ct.direction=reply)"
        check_eq "outbound_transport_v6: udp sport {500} accepted ($1)" "500" \
                "$(exempt_ports "$tsv" outbound_transport_v6_universal udp.sport)"
        check_eq "outbound_transport_v6: udp dport {500} with ct direction original ($1)" "500" \
                "$(exempt_ports "$tsv" outbound_transport_v6_universal udp.dport ct.direction=original)"
        check_eq "ale_auth_recv_accept_v6: udp dport {500} with socket transparent 0 ($1)" "500" \
                "$(exempt_ports "$tsv" ale_auth_recv_accept_v6_universal udp.dport socket.transparent=0)"
        check_eq "ale_auth_connect_v6: udp sport {500} with meta skuid 0 ($1)" "500" \
                "$(exempt_ports "$tsv" ale_auth_connect_v6_universal udp.sport meta.skuid=0)"
        check_eq "ale_auth_connect_v6: udp dport {500} with meta skuid 0 ($1)" "500" \
                "$(exempt_ports "$tsv" ale_auth_connect_v6_universal udp.dport meta.skuid=0)"

        # Every exemption rule: accept, and the local-system match on the ALE layers; an
        # inbound rule on the source port only for replies (no source-port bypass).
        local bad
        bad=$(awk -F'\t' -v ids=" $EXEMPT_IDS " '
                index(ids, " " $2 " ") {
                        if ($4 != "accept") { print "not accept: " $0; next }
                        if ($1 ~ /^ale_auth_connect/ && $3 !~ /(^| )meta\.skuid=/) print "no skuid: " $0
                        if ($1 ~ /^ale_auth_recv_accept/ && $3 !~ /(^| )socket\.transparent=0/) print "no socket: " $0
                        if ($1 ~ /^inbound_transport/ && $3 ~ /udp\.sport=/ && $3 !~ /ct\.direction=reply/) print "sport bypass: " $0
                }' "$tsv")
        check_eq "every exemption rule is an accept with its local-system / direction match ($1)" "" "$bad"

        v6chains=$(awk -F'\t' '$1 ~ /_v6/ && $3 ~ /(^|[=,])4500($|[ ,])/' "$tsv")
        check_eq "no rule in any v6 chain matches port 4500 ($1)" "" "$v6chains"

        local n_rules
        n_rules=$(awk -F'\t' -v ids=" $EXEMPT_IDS " 'index(ids, " " $2 " ")' "$tsv" | wc -l)
        check "exemption rules carry the 'filter <id>:' comment ($1: $n_rules rules)" test "$n_rules" -ge 12

        local weights
        weights=$(enum_filters | jq -r '[.[] | select(.EngineOwned == true) | .EffectiveWeight / 1152921504606846976 | floor] | unique | map(tostring) | join(",")')
        check_eq "exemption filters sit in weight range 0xC ($1)" "12" "$weights"
}

# check_no_exemptions WHAT: nothing engine-owned left, in the database or the kernel.
check_no_exemptions() {
        local tsv="$BFEDT_TMP/rules.tsv" left
        check_eq "ExemptionsActive is false ($1)" "false" "$(exemptions_active)"
        check_eq "no engine-owned filters ($1)" "" "$(engine_owned_ids)"
        rules_tsv >"$tsv"
        left=$(awk -F'\t' '$4 == "accept" && $3 ~ /udp\.[ds]port=(500|4500)/' "$tsv")
        check_eq "no IKE accept rules in the ruleset ($1)" "" "$left"
}

# ---- the table as compiled ----------------------------------------------------------------

tjson=$(ruleset_json)
# (nft 1.0.6 prints table flags wrongly in JSON, so this one reads the text listing)
check "table inet $TABLE exists with flag owner" \
        bash -c "ip netns exec '$NS' nft list table inet '$TABLE' | grep -qE '^[[:space:]]*flags .*owner'"
for spec in inbound_transport:input:-10 ale_auth_recv_accept:input:-9 \
            ale_auth_connect:output:-10 outbound_transport:output:-9; do
        IFS=: read -r chain hook prio <<<"$spec"
        check "base chain $chain (hook $hook, priority $prio)" \
                jqq --arg t "$TABLE" --arg c "$chain" --arg h "$hook" --argjson p "$prio" \
                '[.nftables[] | select(has("chain")) | .chain
                  | select(.table == $t and .name == $c and .hook == $h and .prio == $p)] | length == 1' \
                <<<"$tjson"
done
check_no_exemptions "at start"

# ---- an unrelated block filter, and quick mode, change nothing ----------------------------

read -r block_key block_id < <(add_block_udp "unrelated udp block" INBOUND_TRANSPORT_V4 0)
check "added an unrelated block filter (id $block_id)" test -n "$block_id"
check "its rule is in inbound_transport_v4_universal with its comment" \
        jqq --arg c "filter $block_id: unrelated udp block" \
        '[.nftables[] | select(has("rule")) | .rule | select(.comment == $c and .chain == "inbound_transport_v4_universal")] | length == 1' \
        < <(ruleset_json)
before=$(ruleset_stripped)

qm_ctx=$(ctl --json context add --name "ike qm transport" --type 1 | jq -r '.Key // .key')
check "added a QM transport context (type 1) with bfectl" test -n "$qm_ctx" -a "$qm_ctx" != null
qm_filter_id=$(ctl --json filter add --name "qm policy" --layer IPSEC_V4 --action permit --context "$qm_ctx" | jq -r '.Id // .id')
check "added an IPSEC_V4 filter referencing it" test -n "$qm_filter_id" -a "$qm_filter_id" != null
check_no_exemptions "QM context at IPSEC_V4 never triggers"
check_eq "ruleset unchanged by the QM filter" "$before" "$(ruleset_stripped)"

# ---- first MM policy (IKE, IKEEXT_V4, bfectl) --------------------------------------------

# Watch the daemon's signals from here on (root may monitor the private bus).
if command -v dbus-monitor >/dev/null 2>&1; then
        dbus-monitor --address "$BUS_ADDR" "type='signal',sender='$BFED_NAME'" >"$BFEDT_TMP/signals" 2>&1 &
        BFEDT_PIDS+=($!)
        # Becoming a monitor drops its unique name: dbus-daemon sends NameLost once the match
        # rule is in place, and every signal it routes after that is copied to the monitor.
        bfedt_wait_line "$BFEDT_TMP/signals" 'member=NameLost' ||
                die "dbus-monitor did not become a monitor: $(cat "$BFEDT_TMP/signals")"
fi

ike_ctx=$(ctl --json context add --name "ike main mode" --type 5 | jq -r '.Key // .key')
check "added an IKE MM context (type 5) with bfectl" test -n "$ike_ctx" -a "$ike_ctx" != null
check_eq "the context alone triggers nothing" "false" "$(exemptions_active)"
mm1_id=$(ctl --json filter add --name "ike mm policy" --layer IKEEXT_V4 --action permit --context "$ike_ctx" | jq -r '.Id // .id')
check "added an IKEEXT_V4 filter referencing it" test -n "$mm1_id" -a "$mm1_id" != null
check_eq "ExemptionsActive is true after the first MM filter" "true" "$(exemptions_active)"
check_exemptions "first MM filter"
ids1=$EXEMPT_IDS

if [[ -f "$BFEDT_TMP/signals" ]]; then
        # the context, the MM filter and one per exemption filter, in Changed signals (each an
        # array of changes, a struct each: dbus-monitor prints "struct {" for each); and
        # ExemptionsActive
        want_changed=$((2 + $(wc -w <<<"$ids1")))
        changes_signalled() {
                awk '/^signal /{c = /member=Changed/} c && /struct \{/ {n++} END {print n + 0}' "$BFEDT_TMP/signals"
        }
        signals_in() {
                grep -q 'member=PropertiesChanged' "$BFEDT_TMP/signals" &&
                        grep -q '"ExemptionsActive"' "$BFEDT_TMP/signals" &&
                        (($(changes_signalled) >= want_changed))
        }
        bfedt_poll 5000 signals_in || diag "the signals did not all come within 5 s"
        check "PropertiesChanged signalled ExemptionsActive" \
                grep -q 'member=PropertiesChanged' "$BFEDT_TMP/signals"
        check "PropertiesChanged names ExemptionsActive" grep -q '"ExemptionsActive"' "$BFEDT_TMP/signals"
        n_changed=$(changes_signalled)
        check "Changed signals for the MM filter and the exemption filters ($n_changed changes)" \
                test "$n_changed" -ge "$want_changed"
        for id in $mm1_id $ids1; do
                grep -q "uint64 $id\$" "$BFEDT_TMP/signals" || not_ok "no Changed signal names filter $id"
        done
        # the MM filter and its exemption filters came in one commit, so in one signal: the
        # signals (numbered in order) that name them are one
        signal_of() {
                awk -v id="$1" '/^signal /{n++; c = /member=Changed/} c && $0 ~ "uint64 " id "$" {print n}' \
                        "$BFEDT_TMP/signals"
        }
        check_eq "one Changed signal carries the MM filter and its exemption filters" 1 \
                "$(for id in $mm1_id $ids1; do signal_of "$id"; done | sort -u | wc -l)"
fi

# ---- second MM policy (AuthIP, IKEEXT_V6), then delete the first -------------------------

authip_ctx=$(ctl --json context add --name "authip main mode" --type 6 | jq -r '.Key // .key')
mm2_id=$(ctl --json filter add --name "authip mm policy" --layer IKEEXT_V6 --action permit --context "$authip_ctx" | jq -r '.Id // .id')
check "added an AuthIP MM context + IKEEXT_V6 filter" test -n "$mm2_id" -a "$mm2_id" != null
check_eq "second MM filter: the same exemption filters" "$ids1" "$(engine_owned_ids | tr '\n' ' ')"

check "deleted the first MM filter with bfectl" ctl filter delete "$mm1_id"
check_eq "ExemptionsActive stays true while one MM filter is left" "true" "$(exemptions_active)"
check_exemptions "one MM filter left"

# ---- the last one goes --------------------------------------------------------------------

check "deleted the last MM filter with bfectl" ctl filter delete "$mm2_id"
check_no_exemptions "after the last MM filter"
check_eq "every other rule is unchanged (json, counters aside)" "$before" "$(ruleset_stripped)"

# ---- IKEv2 MM (10) triggers too -----------------------------------------------------------

v2_ctx=$(ctl --json context add --name "ikev2 main mode" --type 10 | jq -r '.Key // .key')
v2_id=$(ctl --json filter add --name "ikev2 mm policy" --layer IKEEXT_V6 --action permit --context "$v2_ctx" | jq -r '.Id // .id')
check_eq "ExemptionsActive is true with an IKEv2 MM filter" "true" "$(exemptions_active)"
check_exemptions "IKEv2 MM filter"
check "deleted the IKEv2 MM filter" ctl filter delete "$v2_id"
check_no_exemptions "after the IKEv2 MM filter"
check_eq "every other rule is unchanged after IKEv2 too" "$before" "$(ruleset_stripped)"

# ---- SIGTERM removes the table -------------------------------------------------------------

bfedt_stop_bfed
check_eq "bfed exits 0 on SIGTERM" "0" "$?"
check "table inet $TABLE is gone after SIGTERM" \
        bash -c "! ip netns exec '$NS' nft list table inet '$TABLE' >/dev/null 2>&1"

bfedt_done
