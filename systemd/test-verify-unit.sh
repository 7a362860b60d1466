#!/bin/sh
# test-verify-unit.sh UNIT EXEC — runs `systemd-analyze verify` on a copy of UNIT whose
# ExecStart points at EXEC (verify insists the binary exists). SKIP (77) without systemd-analyze.
set -eu
unit="$1"
exe=$(realpath "$2")
if ! command -v systemd-analyze >/dev/null 2>&1; then
        echo "systemd-analyze not found, skipping"
        exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
name=$(basename "$unit")
sed "s|^ExecStart=[^ ]*|ExecStart=$exe|" "$unit" >"$tmp/$name"
grep '^ExecStart=' "$tmp/$name"

rc=0
out=$(cd "$tmp" && SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no "$tmp/$name" 2>&1) || rc=$?
[ -n "$out" ] && printf '%s\n' "$out"
if [ "$rc" -ne 0 ]; then
        echo "not ok - systemd-analyze verify $name (exit $rc)"
        exit 1
fi
# verify prints some problems without failing; any line naming our unit counts as a failure.
if printf '%s\n' "$out" | grep -F "$name" >/dev/null; then
        echo "not ok - systemd-analyze verify $name printed warnings about the unit"
        exit 1
fi
echo "ok - systemd-analyze verify $name"
