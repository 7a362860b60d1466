#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Sessions (issue 4, item 1): a dynamic session's objects die with its process, within 100 ms,
# the IKE exemptions with them; a non-dynamic session's objects outlive it; a session belongs
# to the connection that opened it; the WFP lifetime rules (LifetimeMismatch, WrongSession,
# DynamicSessionInProgress).
#
# The provider is tests/tools/bfe-provider: a process on libbfe that opens a session, adds
# what its arguments say, prints "ready" and sleeps until it is killed.
source "$(dirname "$0")/lib.sh"

bfedt_require_root
bfedt_require_provider
bfedt_init
bfedt_netns a
NS=$REPLY
bfedt_start_bus
state_args=()
bfedt_has_config_key StateDirectory && state_args=("StateDirectory=$BFEDT_TMP/state")
bfedt_start_bfed "$NS" "${state_args[@]}"

P="$BFEDT_TMP/provider.out"

# enum_ids: ids of all filters in EnumFilters, sorted, space-separated.
enum_ids() {
        enum_filters | jq -r '.[].Id' | sort -n | paste -sd' ' -
}

# consistent WHAT: Enum and the kernel agree (every compiled filter has its rule, no rule
# without its filter).
consistent() {
        check_eq "EnumFilters and nft -j list ruleset agree ($1)" "$(compiled_enum_ids | paste -sd' ' -)" \
                "$(nft_filter_ids | paste -sd' ' -)"
}

check_eq "no exemptions at the start" "false" "$(exemptions_active)"
base_ids=$(enum_ids)

# ---- a dynamic session's objects go with its process: SIGKILL, 20 rounds ---------------------

late=0 leftover=0 bad_rounds=0
for round in $(seq 1 20); do
        if ! bfedt_provider "$P" --dynamic --name "ike daemon $round" \
                        context "ike mm $round" 5 mm-filter "ike mm policy $round" \
                        block "dynamic block $round" INBOUND_TRANSPORT_V4 7000; then
                bad_rounds=$((bad_rounds + 1))
                continue
        fi
        errs=$(provider_errors "$P")
        [[ -z "$errs" ]] || { diag "round $round: provider errors: $errs"; bad_rounds=$((bad_rounds + 1)); }
        read -r mm_id block_id < <(provider_filter_ids "$P" | paste -sd' ' -)
        if ((round == 1)); then
                check_eq "the provider's MM policy brings the exemptions" "true" "$(exemptions_active)"
                check "the dynamic block filter has its rule" \
                        grep -q "comment \"filter $block_id: dynamic block 1\"" <<<"$(nsnft list ruleset)"
                consistent "dynamic session open"
        fi

        t0=$(ms_now)
        kill -KILL "$PROVIDER_PID"
        wait "$PROVIDER_PID" 2>/dev/null
        # Look until it is all gone, as long as 100 ms after the kill have not passed when a look
        # begins (a look takes time itself: the last one begins at 100 ms at the latest, or after).
        deadline=$((t0 + 100))
        while :; do
                last=$(($(ms_now) >= deadline))
                ids_enum=$(enum_ids)
                active=$(exemptions_active)
                [[ "$ids_enum" == "$base_ids" && "$active" == "false" ]] && break
                ((last)) && break
                sleep 0.01
        done
        if [[ "$ids_enum" != "$base_ids" || "$active" != "false" ]]; then
                late=$((late + 1))
                diag "round $round: 100 ms after SIGKILL: Enum ids [$ids_enum], exemptions $active"
        fi
        while :; do
                last=$(($(ms_now) >= deadline))
                ids_nft=$(nft_filter_ids | paste -sd' ' -)
                exempt_rules=$(nsnft list ruleset | grep -c 'IKE/AuthIP exemption')
                [[ -z "$ids_nft" && "$exempt_rules" == 0 ]] && break
                ((last)) && break
                sleep 0.01
        done
        if [[ -n "$ids_nft" || "$exempt_rules" != 0 ]]; then
                leftover=$((leftover + 1))
                diag "round $round: 100 ms after SIGKILL the ruleset still has rules for filters [$ids_nft]" \
                        "and $exempt_rules exemption rules"
        fi
        # Whatever happened, wait for the end state before the next round.
        for _ in $(seq 50); do [[ "$(enum_ids)" == "$base_ids" ]] && break; sleep 0.1; done
done
check_eq "20 providers ran their steps" 0 "$bad_rounds"
check_eq "SIGKILL: EnumFilters back to the start, exemptions off, within 100 ms (20 rounds)" 0 "$late"
check_eq "SIGKILL: no rule of the dynamic filters or exemptions left in nft -j list ruleset within 100 ms (20 rounds)" \
        0 "$leftover"
check_eq "no provider context left" "0" \
        "$(bus_json EnumProviderContexts 'a{sv}' 0 | jq '.data[0] | length')"
consistent "after the kills"

# Both deleted in one go: the Changed signals say so, and the ruleset is as before.
before_rules=$(nsnft list ruleset)
bfedt_monitor "$BFEDT_TMP/monitor.json"
bfedt_provider "$P" --dynamic context "ike mm" 5 mm-filter "ike mm policy" \
        block "dynamic block" INBOUND_TRANSPORT_V4 7000 || die "provider"
mapfile -t ids < <(provider_filter_ids "$P")
kill -KILL "$PROVIDER_PID"
wait "$PROVIDER_PID" 2>/dev/null
for _ in $(seq 50); do [[ "$(enum_ids)" == "$base_ids" ]] && break; sleep 0.1; done
bfedt_monitor_stop      # once it printed every signal bfed sent so far
check "Changed: the MM policy's and the block filter's deletions were signalled" \
        jqq -s --argjson a "${ids[0]}" --argjson b "${ids[1]}" \
        '[.[] | select(.change == "delete" and .kind == "filter") | .id] as $d
         | ($d | index($a)) != null and ($d | index($b)) != null' "$BFEDT_TMP/monitor.json"
check "Changed: the exemption filters' deletions were signalled too" \
        jqq -s '[.[] | select(.change == "delete" and .kind == "filter")] | length > 2' "$BFEDT_TMP/monitor.json"
check "Changed: the context's deletion was signalled" \
        jqq -s '[.[] | select(.change == "delete" and .kind == "providercontext")] | length == 1' "$BFEDT_TMP/monitor.json"
check_eq "ruleset byte-for-byte as before the provider" "$before_rules" "$(nsnft list ruleset)"

# A clean exit (SIGTERM: the provider closes its engine) does the same.
bfedt_provider "$P" --dynamic block "dynamic block" INBOUND_TRANSPORT_V4 7001 || die "provider"
kill -TERM "$PROVIDER_PID"
wait "$PROVIDER_PID" 2>/dev/null
check_eq "a dynamic session's filter is gone once its process closed the engine" "$base_ids" "$(enum_ids)"

# ---- a non-dynamic session's objects survive Close and the process ---------------------------

bfedt_provider "$P" --name "static provider" block "static from session" INBOUND_TRANSPORT_V4 7002 close ||
        die "provider"
check_eq "non-dynamic session: Close succeeded" "" "$(provider_errors "$P")"
static_id=$(provider_filter_ids "$P")
check "non-dynamic session: the filter is still enumerated after Close" \
        jqq --argjson id "${static_id:-0}" 'any(.[]; .Id == $id)' <<<"$(enum_filters)"
static_peer=$(bfedt_bus_name "$PROVIDER_PID")
kill -KILL "$PROVIDER_PID"
wait "$PROVIDER_PID" 2>/dev/null
if [[ -n "$static_peer" ]] && bfedt_wait_peer_gone "$static_peer"; then
        ok "bfed has seen the provider's connection ($static_peer) go"
else
        not_ok "bfed has seen the provider's connection (${static_peer:-no name found}) go"
fi
check "non-dynamic session: the filter outlives the process" \
        jqq --argjson id "${static_id:-0}" 'any(.[]; .Id == $id)' <<<"$(enum_filters)"
check "non-dynamic session: its rule is still in the kernel" \
        grep -q "comment \"filter $static_id: static from session\"" <<<"$(nsnft list ruleset)"
consistent "after a non-dynamic session"

# ---- a session belongs to its connection -------------------------------------------------------

bfedt_provider "$P" --dynamic context "owner mm" 5 || die "provider"
owner_session=$PROVIDER_SESSION
owner_pid=$PROVIDER_PID
dyn_ctx=$(awk '$1 == "context" {print $2}' "$P")
check "OpenSession returned a path under /org/bfed/Engine1/session/" \
        grep -qE '^/org/bfed/Engine1/session/[0-9]+$' <<<"$owner_session"
for call in "org.bfed.Engine1 EnumFilters a{sv} 0" "org.bfed.Engine1 AddFilter a{sv} 2 Name s x Layer s IKEEXT_V4" \
        "org.bfed.Session1 BeginTransaction u 0" "org.bfed.Session1 Close"; do
        read -r -a c <<<"$call"
        err=$(bus_path_error "$owner_session" "${c[@]}") || err="succeeded"
        check_eq "another connection calling ${c[1]} on the session gets AccessDenied" \
                "org.freedesktop.DBus.Error.AccessDenied" "${err%%$'\t'*}"
done
check "the session still works for its owner after the refusals" kill -0 "$owner_pid"
check_eq "each refusal is logged once at notice, naming the caller and the session's owner" 4 \
        "$(bfedt_log_count "notice: Refused [A-Za-z]+ on session ${owner_session##*/} from :[0-9.]+: the session belongs to :")"

# ---- lifetimes -------------------------------------------------------------------------------------

# A static object may not reference a dynamic one.
err=$(bus_error AddFilter 'a{sv}' 4 Name s "static refs dynamic" Layer s IKEEXT_V4 Action u 4098 \
        ProviderContextKey s "$dyn_ctx") || err="succeeded"
check_eq "a static filter referencing a dynamic session's context: LifetimeMismatch" \
        "org.bfed.Error.LifetimeMismatch" "${err%%$'\t'*}"
check "the LifetimeMismatch message begins with the WFP name and code" \
        grep -q "^FWP_E_LIFETIME_MISMATCH (0x80320016)" <<<"${err#*$'\t'}"

# A persistent object may not reference a static one.
static_ctx=$(add_context "static mm" 5)
err=$(bus_error AddFilter 'a{sv}' 5 Name s "persistent refs static" Layer s IKEEXT_V4 Action u 4098 \
        ProviderContextKey s "$static_ctx" Flags u 1) || err="succeeded"
check_eq "a persistent filter referencing a static context: LifetimeMismatch" \
        "org.bfed.Error.LifetimeMismatch" "${err%%$'\t'*}"

# Another dynamic session may neither reference nor delete the first one's objects.
bfedt_provider "$BFEDT_TMP/other.out" --dynamic block "other dynamic" INBOUND_TRANSPORT_V4 7003 || die "provider"
other_pid=$PROVIDER_PID
other_id=$(provider_filter_ids "$BFEDT_TMP/other.out")
bfedt_provider "$P" --dynamic delete-filter "$other_id" delete-filter "$static_id" || die "provider"
errs=$(provider_errors "$P")
check_eq "a dynamic session deleting another dynamic session's filter: WrongSession" \
        "org.bfed.Error.WrongSession" "$(sed -n 1p <<<"$errs" | awk '{print $2}')"
check_eq "a dynamic session deleting a static filter: DynamicSessionInProgress" \
        "org.bfed.Error.DynamicSessionInProgress" "$(sed -n 2p <<<"$errs" | awk '{print $2}')"
check "both filters are still there" \
        jqq --argjson a "${other_id:-0}" --argjson b "${static_id:-0}" \
        'any(.[]; .Id == $a) and any(.[]; .Id == $b)' <<<"$(enum_filters)"
kill -KILL "$PROVIDER_PID" "$other_pid" "$owner_pid"
wait "$PROVIDER_PID" "$other_pid" "$owner_pid" 2>/dev/null

# A session-less caller may delete a static object a session added.
bus DeleteFilterById t "$static_id" >/dev/null
bus DeleteProviderContext s "$static_ctx" >/dev/null
for _ in $(seq 50); do [[ "$(enum_ids)" == "$base_ids" ]] && break; sleep 0.1; done
check_eq "everything is gone at the end" "$base_ids" "$(enum_ids)"
check_eq "no exemptions at the end" "false" "$(exemptions_active)"
consistent "at the end"

bfedt_done
