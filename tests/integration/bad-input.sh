#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Every bad input gets its WFP error, by its exact D-Bus name and with a message starting
# "FWP_E_<NAME> (0x8032....)", from busctl and from bfectl, and leaves `nft list ruleset`
# byte-for-byte unchanged.
source "$(dirname "$0")/lib.sh"

bfedt_require_root
bfedt_require_bfectl
bfedt_init
bfedt_netns a
bfedt_start_bus
bfedt_start_bfed "$REPLY"

NOKEY=0badc0de-1111-4222-8333-444455556666

# Some state to refer to: an IKE MM policy (so the exemption filters exist) and a block filter.
ike_ctx=$(add_context "ike main mode" 5)
tunnel_ctx=$(add_context "ike quick mode, tunnel" 2)
read -r mm_key mm_id < <(add_ctx_filter "ike mm policy" IKEEXT_V4 "$ike_ctx")
read -r block_key block_id < <(add_block_udp "udp block" INBOUND_TRANSPORT_V4 0)
check "set-up: context, MM filter and block filter added" test -n "$ike_ctx" -a -n "$mm_id" -a -n "$block_id"
exempt_key=$(enum_filters | jq -r '[.[] | select(.EngineOwned == true)][0].Key')
exempt_id=$(enum_filters | jq -r '[.[] | select(.EngineOwned == true)][0].Id')
check "set-up: an engine-owned exemption filter exists" test -n "$exempt_key" -a "$exempt_key" != null

before=$(nsnft list ruleset)
db_before=$(enum_filters)

# expect_bus_error NAME FWPNAME CODE DESCRIPTION METHOD SIG ARGS...
expect_bus_error() {
        local name="$1" fwp="$2" code="$3" desc="$4" got gname gmsg
        shift 4
        if ! got=$(bus_error "$@"); then
                not_ok "$desc: the call succeeded"
                return
        fi
        IFS=$'\t' read -r gname gmsg <<<"$got"
        check_eq "$desc: error name" "$name" "$gname"
        if [[ -n "$fwp" ]]; then
                if [[ "$gmsg" =~ ^$fwp\ \(0x${code}\) ]] || [[ "${gmsg^^}" =~ ^$fwp\ \(0X${code^^}\) ]]; then
                        ok "$desc: message begins with $fwp (0x$code)"
                else
                        not_ok "$desc: message begins with $fwp (0x$code)"
                        diag "got message: $gmsg"
                fi
        fi
        check_eq "$desc: nft list ruleset unchanged" "$before" "$(nsnft list ruleset)"
}

# expect_ctl_error FWPNAME DESCRIPTION BFECTL-ARGS...: bfectl fails, naming the WFP error.
expect_ctl_error() {
        local fwp="$1" desc="$2" out rc=0
        shift 2
        out=$(ctl "$@" 2>&1) || rc=$?
        if ((rc == 0)); then
                not_ok "bfectl $desc: exits non-zero"
                diag "output: $out"
                return
        fi
        ok "bfectl $desc: exits non-zero ($rc)"
        if grep -q -- "$fwp" <<<"$out"; then
                ok "bfectl $desc: prints $fwp"
        else
                not_ok "bfectl $desc: prints $fwp"
                diag "output: $out"
        fi
        check_eq "bfectl $desc: nft list ruleset unchanged" "$before" "$(nsnft list ruleset)"
}

E=org.bfed.Error

expect_bus_error $E.LayerNotFound FWP_E_LAYER_NOT_FOUND 80320004 "unknown layer" \
        AddFilter 'a{sv}' 3 Name s "bad layer" Layer s NO_SUCH_LAYER_V4 Action u 4097
expect_bus_error $E.NullDisplayName FWP_E_NULL_DISPLAY_NAME 80320023 "filter without a name" \
        AddFilter 'a{sv}' 2 Layer s INBOUND_TRANSPORT_V4 Action u 4097
expect_bus_error $E.NullDisplayName FWP_E_NULL_DISPLAY_NAME 80320023 "context without a name" \
        AddProviderContext 'a{sv}' 1 Type u 5
expect_bus_error $E.AlreadyExists FWP_E_ALREADY_EXISTS 80320009 "duplicate filter key" \
        AddFilter 'a{sv}' 4 Key s "$block_key" Name s "dup" Layer s INBOUND_TRANSPORT_V4 Action u 4097
expect_bus_error $E.AlreadyExists FWP_E_ALREADY_EXISTS 80320009 "duplicate context key" \
        AddProviderContext 'a{sv}' 3 Key s "$ike_ctx" Name s "dup" Type u 5
expect_bus_error $E.ProviderNotFound FWP_E_PROVIDER_NOT_FOUND 80320005 "unknown provider key" \
        AddFilter 'a{sv}' 4 Name s "no provider" Layer s INBOUND_TRANSPORT_V4 Action u 4097 ProviderKey s "$NOKEY"
expect_bus_error $E.ProviderContextNotFound FWP_E_PROVIDER_CONTEXT_NOT_FOUND 80320006 "unknown context key" \
        AddFilter 'a{sv}' 4 Name s "no context" Layer s IKEEXT_V4 Action u 4098 ProviderContextKey s "$NOKEY"
expect_bus_error $E.FilterNotFound FWP_E_FILTER_NOT_FOUND 80320003 "delete unknown filter by key" \
        DeleteFilterByKey s "$NOKEY"
expect_bus_error $E.FilterNotFound FWP_E_FILTER_NOT_FOUND 80320003 "delete unknown filter by id" \
        DeleteFilterById t 987654321
expect_bus_error $E.InUse FWP_E_IN_USE 8032000A "delete a context a filter references" \
        DeleteProviderContext s "$ike_ctx"
expect_bus_error $E.ContextIncompatibleWithLayer FWP_E_CONTEXT_INCOMPATIBLE_WITH_LAYER 8032002E \
        "MM context on a transport layer filter" \
        AddFilter 'a{sv}' 4 Name s "mm on transport" Layer s INBOUND_TRANSPORT_V4 Action u 4098 ProviderContextKey s "$ike_ctx"
# contexts with meaning (doc/org.bfed.Engine1.md, "IPsec contexts")
IPSEC_IN4=5132900d-5e84-4b5f-80e4-01741e81ff10
expect_bus_error $E.ContextIncompatibleWithCallout FWP_E_CONTEXT_INCOMPATIBLE_WITH_CALLOUT 8032002F \
        "tunnel context on the transport callout" \
        AddFilter 'a{sv}' 5 Name s "tunnel on transport" Layer s INBOUND_TRANSPORT_V4 Action u 0x5003 \
        CalloutKey s "$IPSEC_IN4" ProviderContextKey s "$tunnel_ctx"
expect_bus_error $E.InvalidParameter FWP_E_INVALID_PARAMETER 80320035 "raw context bit the callout does not read" \
        AddFilter 'a{sv}' 5 Name s "raw 4" Layer s INBOUND_TRANSPORT_V4 Action u 0x5003 \
        CalloutKey s "$IPSEC_IN4" RawContext t 4
expect_bus_error $E.InvalidFlags FWP_E_INVALID_FLAGS 8032001E "tunnel policy flag on a transport context" \
        AddProviderContext 'a{sv}' 3 Name s "qm" Type u 1 PolicyFlags u 0x1000
expect_bus_error $E.InvalidParameter FWP_E_INVALID_PARAMETER 80320035 "policy flags on a main-mode context" \
        AddProviderContext 'a{sv}' 3 Name s "mm" Type u 5 PolicyFlags u 2
expect_bus_error $E.InvalidWeight FWP_E_INVALID_WEIGHT 80320025 "weight range 16" \
        AddFilter 'a{sv}' 4 Name s "heavy" Layer s INBOUND_TRANSPORT_V4 Action u 4097 Weight y 16
expect_bus_error $E.BuiltinObject FWP_E_BUILTIN_OBJECT 80320017 "delete an engine-owned exemption filter by key" \
        DeleteFilterByKey s "$exempt_key"
expect_bus_error $E.BuiltinObject FWP_E_BUILTIN_OBJECT 80320017 "delete an engine-owned exemption filter by id" \
        DeleteFilterById t "$exempt_id"
expect_bus_error org.freedesktop.DBus.Error.InvalidArgs "" "" "wrong variant type (Name as u)" \
        AddFilter 'a{sv}' 3 Name u 5 Layer s INBOUND_TRANSPORT_V4 Action u 4097
expect_bus_error org.freedesktop.DBus.Error.InvalidArgs "" "" "wrong variant type (Layer as u)" \
        AddFilter 'a{sv}' 3 Name s "x" Layer u 4 Action u 4097
expect_bus_error org.freedesktop.DBus.Error.InvalidArgs "" "" "wrong variant type (Weight as v)" \
        AddFilter 'a{sv}' 4 Name s "x" Layer s INBOUND_TRANSPORT_V4 Action u 4097 Weight v y 3
expect_bus_error org.freedesktop.DBus.Error.InvalidArgs "" "" "unknown dictionary key" \
        AddFilter 'a{sv}' 4 Name s "x" Layer s INBOUND_TRANSPORT_V4 Action u 4097 NoSuchKey s x

# The full model's errors (issue 3): conditions, callouts, sublayers; the value is quoted.
# expect_quoted TEXT DESCRIPTION: the last error message quotes TEXT
expect_quoted() {
        local got
        got=$(bus_error "${@:3}") || true
        check "$2: the message quotes '$1'" grep -qF "'$1'" <<<"$got"
}
expect_bus_error $E.TypeMismatch FWP_E_TYPE_MISMATCH 80320027 "port 70000" \
        AddFilter 'a{sv}' 3 Name s x Layer s INBOUND_TRANSPORT_V4 Conditions 'a(sus)' 1 IP_LOCAL_PORT 0 70000
expect_quoted 70000 "port 70000" \
        AddFilter 'a{sv}' 3 Name s x Layer s INBOUND_TRANSPORT_V4 Conditions 'a(sus)' 1 IP_LOCAL_PORT 0 70000
expect_bus_error $E.TypeMismatch FWP_E_TYPE_MISMATCH 80320027 "IPv6 address at an IPv4 layer" \
        AddFilter 'a{sv}' 3 Name s x Layer s INBOUND_TRANSPORT_V4 Conditions 'a(sus)' 1 IP_REMOTE_ADDRESS 0 2001:db8::1
expect_bus_error $E.InvalidNetMask FWP_E_INVALID_NET_MASK 8032001F "host bits beyond the prefix" \
        AddFilter 'a{sv}' 3 Name s x Layer s INBOUND_TRANSPORT_V4 Conditions 'a(sus)' 1 IP_REMOTE_ADDRESS 0 192.0.2.1/24
expect_quoted 192.0.2.1/24 "host bits beyond the prefix" \
        AddFilter 'a{sv}' 3 Name s x Layer s INBOUND_TRANSPORT_V4 Conditions 'a(sus)' 1 IP_REMOTE_ADDRESS 0 192.0.2.1/24
expect_bus_error $E.InvalidRange FWP_E_INVALID_RANGE 80320020 "a backwards port range" \
        AddFilter 'a{sv}' 3 Name s x Layer s INBOUND_TRANSPORT_V4 Conditions 'a(sus)' 1 IP_LOCAL_PORT 5 510-500
expect_bus_error $E.ConditionNotFound FWP_E_CONDITION_NOT_FOUND 80320002 "ALE_USER_ID at ALE_AUTH_RECV_ACCEPT" \
        AddFilter 'a{sv}' 3 Name s x Layer s ALE_AUTH_RECV_ACCEPT_V4 Conditions 'a(sus)' 1 ALE_USER_ID 0 0
expect_bus_error $E.CalloutNotFound FWP_E_CALLOUT_NOT_FOUND 80320001 "an unknown callout" \
        AddFilter 'a{sv}' 4 Name s x Layer s INBOUND_TRANSPORT_V4 Action u 20483 CalloutKey s "$NOKEY"
expect_bus_error $E.SublayerNotFound FWP_E_SUBLAYER_NOT_FOUND 80320007 "a filter in an unknown sublayer" \
        AddFilter 'a{sv}' 3 Name s x Layer s INBOUND_TRANSPORT_V4 SubLayer s "$NOKEY"
expect_bus_error $E.BuiltinObject FWP_E_BUILTIN_OBJECT 80320017 "delete the universal sublayer" \
        DeleteSubLayer s eebecc03-ced4-4380-819a-2734397b2b74
sl=$(bus_json AddSubLayer 'a{sv}' 2 Name s "busy" Weight q 7 | jq -r '.data[0]')
in_sl=$(bus_json AddFilter 'a{sv}' 3 Name s "in busy" Layer s INBOUND_TRANSPORT_V4 SubLayer s "$sl" | jq -r '.data[1]')
before=$(nsnft list ruleset)
expect_bus_error $E.InUse FWP_E_IN_USE 8032000A "delete a sublayer that holds a filter" \
        DeleteSubLayer s "$sl"
bus DeleteFilterById t "$in_sl" >/dev/null
bus DeleteSubLayer s "$sl" >/dev/null
before=$(nsnft list ruleset)

# A refusal whose message would be cut inside a character: sd-bus refuses to send invalid UTF-8,
# and the caller waited for its timeout. Every call gets its answer, in valid UTF-8.
long_layer=$(printf 'é%.0s' $(seq 500))
t0=$(ms_now)
got=$(SYSTEMD_LOG_LEVEL=debug busctl --address="$BUS_ADDR" --timeout=5 call "$BFED_NAME" "$BFED_PATH" \
        "$BFED_IFACE" AddFilter 'a{sv}' 2 Name s x Layer s "$long_layer" 2>&1)
check "a refusal quoting 1,000 bytes of 'é' is answered at once, not after a timeout" \
        test $(($(ms_now) - t0)) -lt 4000
check_eq "with its WFP error" "$E.LayerNotFound" "$(bfedt_parse_error "$got" | cut -f1)"
check "whose message is valid UTF-8" bash -c 'iconv -f UTF-8 -t UTF-8 >/dev/null <<<"$1"' _ \
        "$(bfedt_parse_error "$got" | cut -f2-)"

# 50 ANDed conditions: the kernel takes at most 128 expressions and 4 KiB in one rule. The
# compiler knows the layout and refuses before anything is applied, with a WFP error (the
# kernel's refusal came back as a bare org.freedesktop.DBus.Error.Failed).
conds=()
for i in $(seq 1 25); do
        conds+=(IP_LOCAL_ADDRESS 0 "2001:db8:$i::/48" IP_REMOTE_ADDRESS 0 "2001:db8:$i::/48")
done
expect_bus_error $E.OutOfBounds FWP_E_OUT_OF_BOUNDS 80320028 "a filter of 50 ANDed conditions" \
        AddFilter 'a{sv}' 3 Name s "too many conditions" Layer s INBOUND_TRANSPORT_V6 Conditions 'a(sus)' 50 "${conds[@]}"
check "its message says what the kernel takes" grep -q "the kernel takes at most 128 expressions" <<<"$(bus_error \
        AddFilter 'a{sv}' 3 Name s "too many conditions" Layer s INBOUND_TRANSPORT_V6 Conditions 'a(sus)' 50 "${conds[@]}")"

# The same failures through bfectl.
expect_ctl_error FWP_E_LAYER_NOT_FOUND "unknown layer" \
        filter add --name "bad layer" --layer NO_SUCH_LAYER_V4 --action block
expect_ctl_error FWP_E_PROVIDER_CONTEXT_NOT_FOUND "unknown context key" \
        filter add --name "no context" --layer IKEEXT_V4 --action permit --context "$NOKEY"
expect_ctl_error FWP_E_FILTER_NOT_FOUND "delete unknown filter" \
        filter delete 987654321
expect_ctl_error FWP_E_IN_USE "delete a referenced context" \
        context delete "$ike_ctx"
expect_ctl_error FWP_E_CONTEXT_INCOMPATIBLE_WITH_LAYER "MM context on a transport layer" \
        filter add --name "mm on transport" --layer INBOUND_TRANSPORT_V4 --action permit --context "$ike_ctx"
expect_ctl_error FWP_E_BUILTIN_OBJECT "delete an engine-owned filter" \
        filter delete "$exempt_id"
expect_ctl_error FWP_E_CONTEXT_INCOMPATIBLE_WITH_CALLOUT "tunnel context on the transport callout" \
        filter add --name "tunnel on transport" --layer INBOUND_TRANSPORT_V4 --callout "$IPSEC_IN4" \
        --context "$tunnel_ctx"
expect_ctl_error FWP_E_INVALID_PARAMETER "raw context and provider context both" \
        filter add --name "both" --layer INBOUND_TRANSPORT_V4 --context "$tunnel_ctx" --raw-context 1
expect_ctl_error FWP_E_INVALID_FLAGS "tunnel policy flag on a transport context" \
        context add --name "qm" --type ike-qm-transport --policy-flags 0x1000

check_eq "the filter database is unchanged after all the bad calls" "$db_before" "$(enum_filters)"
check_eq "ExemptionsActive still true" "true" "$(exemptions_active)"

bfedt_done
