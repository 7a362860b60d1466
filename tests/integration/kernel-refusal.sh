#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# When a change cannot be applied, nothing is applied and the database rolls back: Enum and the
# ruleset are exactly as before, and the next change goes through.
#
# Two ways to fail. A rule over the kernel's limits (at most 128 expressions, under 4 KiB of
# them: 64 address prefixes on alternating fields compile to 192) is refused by bfed before the
# kernel sees it, with FWP_E_OUT_OF_BOUNDS. And a batch the kernel itself refuses: bfed's own
# rules fit, so here another process (TableOwner=no) deletes the table while a session's
# transaction is open — bfed repairs its table only once no transaction is open — and the commit
# then names the rule the kernel refused and the kernel's reason.
source "$(dirname "$0")/lib.sh"

bfedt_require_root
bfedt_require_provider
bfedt_init
bfedt_netns a
NS=$REPLY
bfedt_start_bus
bfedt_start_bfed "$NS" TableOwner=no

# Some state to keep: an MM policy (so the exemptions are in) and a block filter.
ctx=$(add_context "ike main mode" 5)
read -r _ mm_id < <(add_ctx_filter "ike mm policy" IKEEXT_V4 "$ctx")
read -r _ block_id < <(add_block_udp "block udp" INBOUND_TRANSPORT_V4 0)
check_eq "exemptions active before" "true" "$(exemptions_active)"

before_rules=$(nsnft list ruleset)
before_filters=$(enum_filters)
before_count=$(getprop FilterCount)

# ---- over the kernel's limits: refused before anything is sent ------------------------------------

conds=()
for i in $(seq 1 32); do
        conds+=(IP_LOCAL_ADDRESS 0 "10.$i.0.0/16" IP_REMOTE_ADDRESS 0 "10.$i.0.0/16")
done
err=$(bus_error AddFilter 'a{sv}' 3 Name s "too big for the kernel" Layer s INBOUND_TRANSPORT_V4 \
        Conditions 'a(sus)' 64 "${conds[@]}") || not_ok "the oversized filter was accepted"
name=${err%%$'\t'*}
msg=${err#*$'\t'}
# The commit path reports it as Failed; a call that checks the filter first (nft_check_filter)
# answers OutOfBounds. Either way the reason is the WFP error.
check "an oversized rule is refused with Failed or OutOfBounds (got $name)" \
        grep -qxE "org.freedesktop.DBus.Error.Failed|org.bfed.Error.OutOfBounds" <<<"$name"
check "the message gives the reason, FWP_E_OUT_OF_BOUNDS" grep -q "FWP_E_OUT_OF_BOUNDS" <<<"$msg"
check_eq "ruleset byte-for-byte unchanged" "$before_rules" "$(nsnft list ruleset)"
check_eq "EnumFilters unchanged" "$before_filters" "$(enum_filters)"
check_eq "FilterCount unchanged" "$before_count" "$(getprop FilterCount)"

# bfectl reports the same and exits non-zero
ctl_args=()
for i in $(seq 1 32); do
        ctl_args+=(--condition "IP_LOCAL_ADDRESS=10.$i.0.0/16" --condition "IP_REMOTE_ADDRESS=10.$i.0.0/16")
done
if out=$(ctl filter add --name "too big again" --layer INBOUND_TRANSPORT_V4 --action block "${ctl_args[@]}" 2>&1); then
        not_ok "bfectl: the oversized filter was accepted"
else
        check "bfectl prints the reason" grep -q "FWP_E_OUT_OF_BOUNDS" <<<"$out"
fi
check_eq "ruleset still unchanged" "$before_rules" "$(nsnft list ruleset)"

# ---- a batch the kernel refuses --------------------------------------------------------------------

P="$BFEDT_TMP/provider.out"
bfedt_provider "$P" begin block "refused by the kernel" INBOUND_TRANSPORT_V4 7100 pause commit ||
        die "provider: $(cat "$P")"
nsnft delete table inet "$TABLE" || die "could not delete the table behind bfed's back"
kill -USR1 "$PROVIDER_PID"
bfedt_wait_line "$P" '^(commit|error commit) ' || die "no answer to the commit: $(cat "$P")"
commit=$(grep -E '^(commit|error commit) ' "$P")
check "the commit fails with DBus.Error.Failed" grep -q '^error commit org.freedesktop.DBus.Error.Failed ' <<<"$commit"
check "the message names the refused rule and the kernel's reason" \
        grep -q "the kernel refused the rule for filter [0-9]* 'refused by the kernel': No such file or directory" \
        <<<"$commit"
check "the message says nothing was applied" grep -q "nothing was applied" <<<"$commit"
kill -TERM "$PROVIDER_PID" 2>/dev/null
wait "$PROVIDER_PID" 2>/dev/null

check_eq "EnumFilters unchanged" "$before_filters" "$(enum_filters)"
check_eq "FilterCount unchanged" "$before_count" "$(getprop FilterCount)"
# with the transaction over, bfed puts its table back as the database has it
for _ in $(seq 50); do
        [[ "$(nsnft list ruleset 2>/dev/null)" == "$before_rules" ]] && break
        sleep 0.1
done
check_eq "the table is back, byte-for-byte as before" "$before_rules" "$(nsnft list ruleset)"

# ---- the engine is still consistent afterwards: the next change goes through and lands right ----

read -r _ ok_id < <(add_block_udp "block udp v6" INBOUND_TRANSPORT_V6 0)
check "a later filter is added normally" \
        grep -q "comment \"filter $ok_id: block udp v6\"" <<<"$(nsnft list chain inet bfed inbound_transport_v6_universal)"
bus DeleteFilterById t "$mm_id" >/dev/null
check_eq "deleting the MM policy still removes the exemptions" "false" "$(exemptions_active)"
check "no exemption rule is left" bash -c '! grep -q "IKE/AuthIP exemption" <<<"$1"' _ "$(nsnft list ruleset)"
check "the block filter's rule is still there" \
        grep -q "comment \"filter $block_id: block udp\"" <<<"$(nsnft list ruleset)"

bfedt_done
