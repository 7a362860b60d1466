#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# When the kernel refuses a batch, nothing is applied and the database rolls back: the caller
# gets an error naming the refused rule, and Enum and the ruleset are exactly as before.
#
# The refusal is a real one: the kernel allows at most 128 expressions in a rule
# (NFT_RULE_MAXEXPRS). 64 address-prefix conditions on alternating fields (so none are ORed)
# are valid WFP input that bfed compiles to 64 × 3 expressions, which the kernel rejects.
source "$(dirname "$0")/lib.sh"

bfedt_require_root
bfedt_init
bfedt_netns a
NS=$REPLY
bfedt_start_bus
bfedt_start_bfed "$NS"

# Some state to keep: an MM policy (so the exemptions are in) and a block filter.
ctx=$(add_context "ike main mode" 5)
read -r _ mm_id < <(add_ctx_filter "ike mm policy" IKEEXT_V4 "$ctx")
read -r _ block_id < <(add_block_udp "block udp" INBOUND_TRANSPORT_V4 0)
check_eq "exemptions active before" "true" "$(exemptions_active)"

before_rules=$(nsnft list ruleset)
before_filters=$(enum_filters)
before_count=$(getprop FilterCount)

conds=()
for i in $(seq 1 32); do
        conds+=(IP_LOCAL_ADDRESS 0 "10.$i.0.0/16" IP_REMOTE_ADDRESS 0 "10.$i.0.0/16")
done
err=$(bus_error AddFilter 'a{sv}' 3 Name s "too big for the kernel" Layer s INBOUND_TRANSPORT_V4 \
        Conditions 'a(sus)' 64 "${conds[@]}") || not_ok "the oversized filter was accepted"
name=${err%%$'\t'*}
msg=${err#*$'\t'}
check_eq "kernel refusal is reported as org.freedesktop.DBus.Error.Failed" \
        "org.freedesktop.DBus.Error.Failed" "$name"
check "the message names the refused rule and the kernel's reason" \
        grep -q "the kernel refused the rule for filter [0-9]* 'too big for the kernel': Invalid argument" <<<"$msg"
check "the message says nothing was applied" grep -q "nothing was applied" <<<"$msg"

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
        check "bfectl prints the kernel's refusal" grep -q "kernel refused" <<<"$out"
fi
check_eq "ruleset still unchanged" "$before_rules" "$(nsnft list ruleset)"

# The engine is still consistent afterwards: the next change goes through and lands right.
read -r _ ok_id < <(add_block_udp "block udp v6" INBOUND_TRANSPORT_V6 0)
check "a later filter is added normally" \
        grep -q "comment \"filter $ok_id: block udp v6\"" <<<"$(nsnft list chain inet bfed inbound_transport_v6_universal)"
bus DeleteFilterById t "$mm_id" >/dev/null
check_eq "deleting the MM policy still removes the exemptions" "false" "$(exemptions_active)"
check "no exemption rule is left" bash -c '! grep -q "IKE/AuthIP exemption" <<<"$1"' _ "$(nsnft list ruleset)"
check "the block filter's rule is still there" \
        grep -q "comment \"filter $block_id: block udp\"" <<<"$(nsnft list ruleset)"

bfedt_done
