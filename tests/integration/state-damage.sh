#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A state file that cannot be trusted whole never leaves the host without its table: bfed
# starts with every record it can trust, logs each one it skips (FILE:LINE: reason) at error
# level, appends the skipped lines to state.rejected and keeps a damaged file as
# state.damaged-TIME. Cases: the user of a persistent ALE_USER_ID filter deleted (version 2
# keeps the uid); an old-format (version 1) line naming a missing user; a FIFO at the state
# path (no hang: moved aside); invalid UTF-8 behind a valid checksum (Enum still works); a
# truncated file. A newer version still refuses the start (persistence.sh).
source "$(dirname "$0")/lib.sh"

bfedt_require_root
command -v useradd >/dev/null && command -v userdel >/dev/null && command -v python3 >/dev/null ||
        skip_all "needs useradd, userdel and python3"
bfedt_init
USER_NAME="bfedt$$"
trap 'userdel "$USER_NAME" >/dev/null 2>&1; bfedt_cleanup' EXIT
bfedt_netns a
NS=$REPLY
bfedt_start_bus
STATE_DIR="$BFEDT_TMP/state"
STATE="$STATE_DIR/state"
CONF=("StateDirectory=$STATE_DIR")
U=eebecc03-ced4-4380-819a-2734397b2b74    # FWPM_SUBLAYER_UNIVERSAL

filter_keys() {
        enum_filters | jq -r '.[] | select(.EngineOwned != true) | .Key' | sort | paste -sd' ' -
}

# write_state VERSION FILE: RECORDS (stdin) with a header and an end record whose count and
# CRC-32 (zlib's, of every byte before the end line) are right: only what is inside is wrong.
write_state() {
        python3 -c '
import sys, zlib
version, path = sys.argv[1], sys.argv[2]
records = sys.stdin.buffer.read()
body = b"bfed-state " + version.encode() + b"\n" + records
with open(path, "wb") as f:
        f.write(body + b"end %d %08x\n" % (records.count(b"\n"), zlib.crc32(body) & 0xffffffff))
' "$1" "$2"
}

# log_has REGEX: the current bfed's log has a line matching REGEX (it is written during the
# start, which bfedt_start_bfed has waited for; the poll covers a slow flush).
log_has() {
        bfedt_wait_line "$BFED_LOG" "$1" 2000
}

# ---- a persistent filter whose user is deleted ------------------------------------------------

useradd --system --no-create-home --shell /usr/sbin/nologin "$USER_NAME" || die "useradd $USER_NAME"
uid=$(id -u "$USER_NAME")
bfedt_start_bfed "$NS" "${CONF[@]}"
read -r ukey _ < <(bus_json AddFilter 'a{sv}' 5 Name s "block $USER_NAME" Layer s ALE_AUTH_CONNECT_V4 \
        Action u 4097 Flags u 1 Conditions 'a(sus)' 1 ALE_USER_ID 0 "$USER_NAME" | jq -r '.data | "\(.[0]) \(.[1])"')
read -r okey _ < <(bus_json AddFilter 'a{sv}' 5 Name s "block udp 9300" Layer s INBOUND_TRANSPORT_V4 \
        Action u 4097 Flags u 1 Conditions 'a(sus)' 2 IP_PROTOCOL 0 udp IP_LOCAL_PORT 0 9300 |
        jq -r '.data | "\(.[0]) \(.[1])"')
check "two persistent filters added, one for user $USER_NAME" test -n "$ukey" -a -n "$okey"
check "the state file keeps the uid and the name given" grep -q "condition=ALE_USER_ID,0,$uid,$USER_NAME\$" "$STATE"
bfedt_stop_bfed >/dev/null
userdel "$USER_NAME" || die "userdel $USER_NAME"
check "the user is gone" bash -c '! getent passwd "$1" >/dev/null' _ "$USER_NAME"

bfedt_start_bfed "$NS" "${CONF[@]}"
ok "bfed starts although the filter's user is deleted"
check_eq "both filters are back" "$(printf '%s\n' "$ukey" "$okey" | sort | paste -sd' ' -)" "$(filter_keys)"
check_eq "the filter shows the user name it was given" "$USER_NAME" \
        "$(enum_filters | jq -r --arg k "$ukey" '.[] | select(.Key == $k) | .Conditions[0][2]')"
check "its rule matches the uid: meta skuid $uid" \
        grep -qE "meta skuid $uid .*block $USER_NAME|skuid $uid.*drop" <<<"$(nsnft list ruleset)"
check "nothing was rejected" test ! -e "$STATE_DIR/state.rejected"
check "no error was logged" bash -c '! grep -qi "error\|not loaded" "$1"' _ "$BFED_LOG"
bfedt_stop_bfed >/dev/null

# ---- an old-format line naming a missing user: that line is rejected, the rest loads ---------------

P1=11111111-0000-4000-8000-0000000000a1
F1=44444444-0000-4000-8000-0000000000a1
F2=44444444-0000-4000-8000-0000000000a2
write_state 1 "$STATE" <<EOF2
provider key=$P1 name=old%20provider flags=0x1
filter key=$F1 name=gone flags=0x1 provider=$P1 layer=ALE_AUTH_CONNECT_V4 sublayer=$U weight=auto action=block condition=ALE_USER_ID,0,$USER_NAME
filter key=$F2 name=kept flags=0x1 provider=$P1 layer=INBOUND_TRANSPORT_V4 sublayer=$U weight=auto action=block condition=IP_LOCAL_PORT,0,9301
EOF2
cp "$STATE" "$BFEDT_TMP/v1.state"
bfedt_start_bfed "$NS" "${CONF[@]}"
ok "bfed starts on a version 1 file with a line naming a missing user"
check_eq "the other filter of that file is there" "$F2" "$(filter_keys)"
check "the log names the file, the line and the reason" \
        log_has "$STATE:3: filter 'gone': FWP_E_TYPE_MISMATCH: '$USER_NAME' is not a uid or a user name"
check "the log says where the line went" log_has "$STATE: 1 record not loaded; appended to $STATE_DIR/state.rejected"
check "state.rejected has the line, after a comment with the reason" \
        python3 -c '
import sys
lines = open(sys.argv[1]).read().splitlines()
want = open(sys.argv[2]).read().splitlines()[2]
i = lines.index(want)
sys.exit(0 if lines[i - 1].startswith("# ") and "is not a uid or a user name" in lines[i - 1] else 1)' \
        "$STATE_DIR/state.rejected" "$BFEDT_TMP/v1.state"
check "the state file is rewritten without it (version 2)" \
        bash -c 'head -n1 "$1" | grep -qx "bfed-state 2" && ! grep -q "name=gone" "$1"' _ "$STATE"
check "--check-state finds nothing wrong with the rewritten file" "$BFED" --check-state "$STATE"
check "--check-state reports the problem of the old file (and fails)" \
        bash -c '! "$1" --check-state "$2" >"$3" 2>&1 && grep -q "$2:3: .*is not a uid or a user name" "$3"' \
        _ "$BFED" "$BFEDT_TMP/v1.state" "$BFEDT_TMP/check.out"
bfedt_stop_bfed >/dev/null

# ---- invalid UTF-8 behind a valid checksum ---------------------------------------------------------

P2=11111111-0000-4000-8000-0000000000a2
printf 'provider key=%s name=good flags=0x1\nprovider key=%s name=caf\xe9 flags=0x1\nfilter key=%s name=kept flags=0x1 layer=INBOUND_TRANSPORT_V4 sublayer=%s weight=auto action=block condition=IP_LOCAL_PORT,0,9302\n' \
        "$P1" "$P2" "$F2" "$U" | write_state 2 "$STATE"
bfedt_start_bfed "$NS" "${CONF[@]}"
ok "bfed starts on a file with invalid UTF-8 in a name"
check_eq "EnumProviders works, without the bad one" "$P1" \
        "$(bus_json EnumProviders | jq -r '.data[0][].Key.data' | bfedt_not_builtin | paste -sd' ' -)"
check_eq "EnumFilters works" "$F2" "$(filter_keys)"
check "the log names the line and the reason" log_has "$STATE:3: field 'name' is not valid UTF-8"
bfedt_stop_bfed >/dev/null

# ---- a truncated file: every complete record loads, the file is kept -------------------------------

write_state 2 "$STATE" <<EOF2
provider key=$P1 name=p flags=0x1
filter key=$F1 name=first flags=0x1 layer=INBOUND_TRANSPORT_V4 sublayer=$U weight=auto action=block condition=IP_LOCAL_PORT,0,9303
filter key=$F2 name=second flags=0x1 layer=INBOUND_TRANSPORT_V4 sublayer=$U weight=auto action=block condition=IP_LOCAL_PORT,0,9304
EOF2
size=$(grep -bo "name=second" "$STATE" | cut -d: -f1)
head -c "$size" "$STATE" >"$BFEDT_TMP/cut" && cp "$BFEDT_TMP/cut" "$STATE"
bfedt_start_bfed "$NS" "${CONF[@]}"
ok "bfed starts on a truncated state file"
check_eq "the complete records are loaded" "$F1" "$(filter_keys)"
check "the rule of the loaded filter is in the kernel" grep -q "first" <<<"$(nsnft list ruleset)"
check "the log says the file is truncated, naming the line" log_has "$STATE:4: file is truncated"
damaged=$(find "$STATE_DIR" -maxdepth 1 -name 'state.damaged-*' -type f | head -n1)
check "the damaged file is kept, byte for byte" cmp -s "$BFEDT_TMP/cut" "$damaged"
check "the log names the copy" log_has "kept the damaged file as $damaged"
check "the cut line is in state.rejected, as it was" grep -qxF "filter key=$F2 " "$STATE_DIR/state.rejected"
bfedt_stop_bfed >/dev/null
rm -f "$STATE_DIR"/state.damaged-*

# ---- a FIFO at the state path: no hang; moved aside, and bfed starts without persistent objects ----

rm -f "$STATE"
mkfifo "$STATE"
bfedt_start_bfed "$NS" "${CONF[@]}"   # fails the test if bfed does not answer within 5 s
ok "bfed starts with a FIFO at the state path"
check "the log names the path and says what it is" log_has "$STATE: is a FIFO, not a regular file; moved it to"
fifo=$(find "$STATE_DIR" -maxdepth 1 -name 'state.damaged-*' -type p | head -n1)
check "the FIFO is moved aside" test -p "$fifo"
check_eq "no persistent filters" "" "$(filter_keys)"
key=$(bus_json AddFilter 'a{sv}' 4 Name s "after the fifo" Layer s INBOUND_TRANSPORT_V4 Action u 4097 Flags u 1 |
        jq -r '.data[0]')
check "a persistent add is saved to a regular state file again" \
        bash -c 'test -f "$1" && grep -q "$2" "$1"' _ "$STATE" "$key"
check "--check-state refuses a FIFO without hanging" \
        bash -c '! timeout 10 "$1" --check-state "$2" >"$3" 2>&1; rc=$?; grep -q "not a regular file (a FIFO)" "$3"' \
        _ "$BFED" "$fifo" "$BFEDT_TMP/check.out"

bfedt_done
