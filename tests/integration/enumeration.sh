#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# enumeration.sh — a database whose whole listing is bigger than a D-Bus message may be:
# the one-shot EnumFilters refuses with a WFP error that says to page instead of knocking bfed
# off the bus (a reply over dbus-daemon's 32 MiB limit makes dbus-daemon disconnect it), and
# paged enumeration (CreateFilterEnumHandle, FilterEnum, DestroyEnumHandle) lists every filter,
# as a snapshot that belongs to its connection.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

bfedt_require_root
bfedt_init
[[ -x "${BUS_FLOOD:-}" ]] || die "bus-flood not built (BUS_FLOOD=${BUS_FLOOD:-})"
bfedt_netns daemon
bfedt_start_bus
bfedt_start_bfed "$REPLY"

# 16,000 filters with 1,000-byte names and descriptions: about 40 MB as one EnumFilters reply
N=16000
out=$(DBUS_SYSTEM_BUS_ADDRESS="$BUS_ADDR" "$BUS_FLOOD" fill "$N" 1000) || die "fill: $out"
check_eq "the database holds $N filters" "u $N" "$(getprop FilterCount)"

err=$(bus_error EnumFilters 'a{sv}' 0)
check_eq "a one-shot EnumFilters too big for one message is refused with a WFP error" \
        "org.bfed.Error.OutOfBounds" "${err%%$'\t'*}"
check "the refusal says how to page" grep -q "CreateFilterEnumHandle and FilterEnum" <<<"$err"
check "bfed is still on the bus after it" bfedt_answers
check_eq "and still answers reads" "u $N" "$(getprop FilterCount)"

# ---- paging -------------------------------------------------------------------------------

PAGER="$BFEDT_TMP/pager.out"
DBUS_SYSTEM_BUS_ADDRESS="$BUS_ADDR" "$BUS_FLOOD" page 10000 >"$PAGER" 2>&1 &
PAGER_PID=$!
BFEDT_PIDS+=("$PAGER_PID")
bfedt_wait_line "$PAGER" '^paused$' || die "the pager did not create its handle: $(cat "$PAGER")"

# the snapshot is taken at creation: a filter added now is not in it, one deleted now still is
deleted=$(bus_json GetFilterById t 7 | jq -r '.data[0].Id.data')
bus DeleteFilterById t 7 >/dev/null || die "DeleteFilterById 7"
added=$(add_block_udp "after the snapshot" INBOUND_TRANSPORT_V4 | awk '{print $2}')
kill -USR1 "$PAGER_PID"
bfedt_wait_line "$PAGER" "^(destroyed|error)" 120000 || die "the pager did not finish: $(tail -n3 "$PAGER")"
read -r _ objects pages largest < <(grep '^paged ' "$PAGER")
check_eq "paging lists every filter of the snapshot" "$N" "$objects"
check_eq "no filter twice" "$N" "$(awk '$1 == "id" {print $2}' "$PAGER" | sort -u | wc -l)"
check "a page stops at its byte limit: more than one page for pages of 10,000" test "${pages:-0}" -gt 1
check "no page holds more than 1 MiB of these filters (about 420)" test "${largest:-99999}" -le 420
check "the filter deleted after the snapshot is still listed" grep -qx "id $deleted" "$PAGER"
check "the filter added after the snapshot is not" bash -c "! grep -qx 'id $added' '$PAGER'"
check "DestroyEnumHandle answered" grep -qx destroyed "$PAGER"
kill "$PAGER_PID" 2>/dev/null
wait "$PAGER_PID" 2>/dev/null

# ---- ownership and limits -----------------------------------------------------------------

h=$(bus CreateFilterEnumHandle 'a{sv}' 0 | awk '{print $2}')
err=$(bus_error FilterEnum tu "$h" 10)
check_eq "a handle dies with the connection that made it" "org.bfed.Error.InvalidEnumerator" "${err%%$'\t'*}"

out=$(DBUS_SYSTEM_BUS_ADDRESS="$BUS_ADDR" "$BUS_FLOOD" handles 20)
check_eq "a connection holds 16 handles, no more" "created 16 refused 4" "$(head -n1 <<<"$out")"
check "the 17th is refused with FWP_E_OUT_OF_BOUNDS" grep -q '^refusal org.bfed.Error.OutOfBounds .*16 enumeration handles' <<<"$out"

err=$(bus_error FilterEnum tu 999999 10)
check_eq "an unknown handle is FWP_E_INVALID_ENUMERATOR" "org.bfed.Error.InvalidEnumerator" "${err%%$'\t'*}"
err=$(bus_error CreateFilterEnumHandle 'a{sv}' 1 Bogus s x)
check_eq "an unknown template key is InvalidArgs" "org.freedesktop.DBus.Error.InvalidArgs" "${err%%$'\t'*}"

check "bfed is still on the bus at the end" bfedt_answers
bfedt_done
