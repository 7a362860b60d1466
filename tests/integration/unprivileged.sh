#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A non-root caller may read but not mutate: first the shipped D-Bus policy stops it; then,
# with the policy opened up, bfed's own credential check must stop it too.
source "$(dirname "$0")/lib.sh"

bfedt_require_root
command -v setpriv >/dev/null 2>&1 || skip_all "setpriv not installed"
id nobody >/dev/null 2>&1 || skip_all "no user nobody"
bfedt_init
bfedt_netns a
bfedt_start_bus
bfedt_start_bfed "$REPLY"

NOBODY_GROUP=$(id -gn nobody)

# as_nobody CMD...: run CMD as nobody, without supplementary groups or capabilities.
as_nobody() {
        setpriv --reuid=nobody --regid="$NOBODY_GROUP" --clear-groups --inh-caps=-all "$@"
}

# nobody_error METHOD SIG ARGS...: the error name nobody gets (or "SUCCEEDED"), and whether the
# bus ("by bus") or the daemon ("by bfed") sent it.
nobody_error() {
        local method="$1" out sender
        shift
        if out=$(as_nobody env SYSTEMD_LOG_LEVEL=debug busctl --address="$BUS_ADDR" call \
                        "$BFED_NAME" "$BFED_PATH" "$BFED_IFACE" "$method" "$@" 2>&1); then
                echo SUCCEEDED
                return
        fi
        sender=$(bfedt_error_sender "$out")
        if [[ "$sender" == org.freedesktop.DBus ]]; then
                echo "$(bfedt_parse_error "$out" | cut -f1) by bus"
        else
                echo "$(bfedt_parse_error "$out" | cut -f1) by bfed"
        fi
}

ike_ctx=$(add_context "ike main mode" 5)
check "root added a context" test -n "$ike_ctx"
before=$(nsnft list ruleset)
db_before=$(enum_filters)

run_checks() {
        local phase="$1" by="$2" out
        out=$(as_nobody busctl --address="$BUS_ADDR" --json=short call "$BFED_NAME" "$BFED_PATH" "$BFED_IFACE" \
                EnumFilters 'a{sv}' 0 2>&1)
        check "$phase: nobody can call EnumFilters" jqq '.data[0] | type == "array"' <<<"$out" ||
                diag "got: $out"
        check "$phase: nobody can read the Version property" \
                as_nobody busctl --address="$BUS_ADDR" get-property "$BFED_NAME" "$BFED_PATH" "$BFED_IFACE" Version
        out=$(as_nobody busctl --address="$BUS_ADDR" --json=short call "$BFED_NAME" "$BFED_PATH" "$BFED_IFACE" \
                EnumProviderContexts 'a{sv}' 0 2>&1)
        check "$phase: nobody can call EnumProviderContexts" jqq '.data[0] | length >= 1' <<<"$out"

        check_eq "$phase: AddFilter as nobody is AccessDenied" "org.freedesktop.DBus.Error.AccessDenied by $by" \
                "$(nobody_error AddFilter 'a{sv}' 4 Name s "ike mm" Layer s IKEEXT_V4 Action u 4098 ProviderContextKey s "$ike_ctx")"
        check_eq "$phase: AddProviderContext as nobody is AccessDenied" "org.freedesktop.DBus.Error.AccessDenied by $by" \
                "$(nobody_error AddProviderContext 'a{sv}' 2 Name s "ctx" Type u 5)"
        check_eq "$phase: DeleteProviderContext as nobody is AccessDenied" "org.freedesktop.DBus.Error.AccessDenied by $by" \
                "$(nobody_error DeleteProviderContext s "$ike_ctx")"
        check_eq "$phase: AddProvider as nobody is AccessDenied" "org.freedesktop.DBus.Error.AccessDenied by $by" \
                "$(nobody_error AddProvider 'a{sv}' 1 Name s "prov")"
        check_eq "$phase: OpenSession as nobody is AccessDenied" "org.freedesktop.DBus.Error.AccessDenied by $by" \
                "$(nobody_error OpenSession 'a{sv}' 1 Dynamic b true)"
        check_eq "$phase: nobody may page through the filters" "SUCCEEDED" \
                "$(nobody_error CreateFilterEnumHandle 'a{sv}' 0)"
        if [[ -x "$BFECTL" ]]; then
                if as_nobody env DBUS_SYSTEM_BUS_ADDRESS="$BUS_ADDR" "$BFECTL" context add --name x --type 5 \
                        >/dev/null 2>&1; then
                        not_ok "$phase: bfectl as nobody cannot add a context"
                else
                        ok "$phase: bfectl as nobody cannot add a context"
                fi
        fi
        check_eq "$phase: ruleset unchanged" "$before" "$(nsnft list ruleset)"
        check_eq "$phase: filter database unchanged" "$db_before" "$(enum_filters)"
        check_eq "$phase: ExemptionsActive false" "false" "$(exemptions_active)"
}

run_checks "shipped policy" bus

# Open the bus policy to everybody: now only bfed's own check stands in the way.
check "dbus-daemon reloaded with an open policy" bfedt_open_bus_policy
run_checks "open bus policy (bfed's own check)" bfed

bfedt_done
