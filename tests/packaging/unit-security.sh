#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The installed bfed.service (and bfed-vici.service, bfed-boot.service) scores at most 1.2 in
# `systemd-analyze security --offline=yes`
# (lower is better: networkd 2.8, resolved 2.2; bfed had 4.0 as root). Prints the settings it
# still counts against the unit, and what the unit says about the rest.
source "$(dirname "$0")/lib.sh"

LIMIT=1.2

command -v systemd-analyze >/dev/null 2>&1 || skip_all "systemd-analyze not installed"
systemd-analyze security --help 2>/dev/null | grep -q -- '--offline' ||
        skip_all "this systemd-analyze has no --offline"

pkgt_init
pkgt_install

unit=$(cd "$ROOT" && find . -path '*/systemd/system/bfed.service' | head -n1)
check "bfed.service is installed ($unit)" test -n "$unit"
check "the sysusers.d file for its user is installed" test -f "$ROOT/usr/lib/sysusers.d/bfed.conf"

out=$(systemd-analyze security --offline=yes --root="$ROOT" --no-pager bfed.service 2>&1)
rc=$?
check "systemd-analyze security --offline=yes analyzed it" test "$rc" -eq 0
score=$(sed -n 's/^→ Overall exposure level for bfed.service: \([0-9.]*\).*/\1/p' <<<"$out")
check "it gives an overall exposure level" test -n "$score"
diag "exposure level: $score (limit $LIMIT); what it still counts:"
grep '✗' <<<"$out" | sed 's/^/#   /'
check "the exposure level $score is at most $LIMIT" awk -v s="$score" -v l="$LIMIT" 'BEGIN { exit !(s != "" && s <= l) }'
# the same through systemd-analyze's own threshold (tenths)
check "systemd-analyze --threshold=12 agrees" \
        quiet systemd-analyze security --offline=yes --root="$ROOT" --threshold=12 --no-pager bfed.service

# bfed-vici.service: root without any capability, only AF_UNIX
out=$(systemd-analyze security --offline=yes --root="$ROOT" --no-pager bfed-vici.service 2>&1)
score=$(sed -n 's/^→ Overall exposure level for bfed-vici.service: \([0-9.]*\).*/\1/p' <<<"$out")
diag "bfed-vici.service: exposure level $score; what it still counts:"
grep '✗' <<<"$out" | sed 's/^/#   /'
check "bfed-vici.service's exposure level ${score:-?} is at most $LIMIT" \
        awk -v s="$score" -v l="$LIMIT" 'BEGIN { exit !(s != "" && s <= l) }'

# bfed-boot.service: the user bfed with CAP_NET_ADMIN, only AF_NETLINK
out=$(systemd-analyze security --offline=yes --root="$ROOT" --no-pager bfed-boot.service 2>&1)
score=$(sed -n 's/^→ Overall exposure level for bfed-boot.service: \([0-9.]*\).*/\1/p' <<<"$out")
diag "bfed-boot.service: exposure level $score; what it still counts:"
grep '✗' <<<"$out" | sed 's/^/#   /'
check "bfed-boot.service's exposure level ${score:-?} is at most $LIMIT" \
        awk -v s="$score" -v l="$LIMIT" 'BEGIN { exit !(s != "" && s <= l) }'

pkgt_done
