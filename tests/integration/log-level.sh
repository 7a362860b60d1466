#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# bfed's log before anything else runs: a missing configuration file it was told to read is an
# error it logs, then it exits 1. The journal's "<N>" prefixes only when JOURNAL_STREAM names the
# device and inode of stderr itself; --log-level=, SYSTEMD_LOG_LEVEL and its alias BFED_LOG_LEVEL
# set the level, the command line first, then SYSTEMD_LOG_LEVEL; a bad value is an error. The
# same options and environment for bfed-vici.
source "$(dirname "$0")/lib.sh"

bfedt_init
missing="$BFEDT_TMP/missing.conf"
err="$BFEDT_TMP/stderr"

# run [ENV=VALUE...] -- [BFED ARGS...]: bfed's stderr (a file: it has a device and inode) in $out,
# its exit status in $rc
run() {
        local envs=()
        while [[ "$1" != -- ]]; do
                envs+=("$1")
                shift
        done
        shift
        rc=0
        env -u JOURNAL_STREAM -u SYSTEMD_LOG_LEVEL -u BFED_LOG_LEVEL "${envs[@]}" \
                "$BFED" --config "$missing" "$@" 2>"$err" >/dev/null || rc=$?
        out=$(cat "$err")
}
plain='^bfed error: Failed to open configuration file .*missing\.conf'

run --
check_eq "a missing --config file: exit 1" 1 "$rc"
check "plain stderr: 'bfed error: …'" grep -qE "$plain" <<<"$out"

: >"$err"
run "JOURNAL_STREAM=$(stat -c '%d:%i' "$err")" --
check "JOURNAL_STREAM naming stderr's device and inode: the journal's <3> prefix" \
        grep -qE '^<3>Failed to open configuration file' <<<"$out"
run "JOURNAL_STREAM=1:1" --
check "JOURNAL_STREAM naming another stream: plain lines" grep -qE "$plain" <<<"$out"
run "JOURNAL_STREAM=$(stat -c '%d:%i' "$err")x" --
check "JOURNAL_STREAM with trailing garbage: plain lines" grep -qE "$plain" <<<"$out"

run -- --log-level=debug
check "--log-level=debug: lines with file and line" grep -qE '^bfed error \([^)]*config\.c:[0-9]+\)' <<<"$out"
run -- --log-level=crit
check_eq "--log-level=crit: the error is below the level" "1 " "$rc $out"
run SYSTEMD_LOG_LEVEL=crit --
check_eq "SYSTEMD_LOG_LEVEL=crit: the same" "1 " "$rc $out"
run BFED_LOG_LEVEL=2 --
check_eq "BFED_LOG_LEVEL=2 (its alias, a number): the same" "1 " "$rc $out"
run SYSTEMD_LOG_LEVEL=crit -- --log-level=debug
check "the command line before SYSTEMD_LOG_LEVEL" grep -qE '^bfed error \(' <<<"$out"
run SYSTEMD_LOG_LEVEL=debug BFED_LOG_LEVEL=crit --
check "SYSTEMD_LOG_LEVEL before BFED_LOG_LEVEL" grep -qE '^bfed error \(' <<<"$out"

run -- --log-level=loud
check_eq "--log-level=loud: exit 1" 1 "$rc"
check "--log-level=loud: named" grep -qF "Invalid --log-level='loud'" <<<"$out"
run SYSTEMD_LOG_LEVEL=loud --
check_eq "SYSTEMD_LOG_LEVEL=loud: exit 1" 1 "$rc"
check "SYSTEMD_LOG_LEVEL=loud: named, before anything else" \
        grep -qxE "bfed error: Invalid SYSTEMD_LOG_LEVEL='loud'.*" <<<"$out"
run BFED_LOG_LEVEL=loud -- --version
check_eq "BFED_LOG_LEVEL=loud: exit 1, even with --version" 1 "$rc"
check "BFED_LOG_LEVEL=loud: named" grep -qF "Invalid BFED_LOG_LEVEL='loud'" <<<"$out"

# bfed-vici reads the same options and environment (one parser for both daemons): a bad level
# stops it before it looks for charon, a good one is taken
vici() {
        rc=0
        out=$(env -u SYSTEMD_LOG_LEVEL -u BFED_LOG_LEVEL "$@" 2>&1 >/dev/null) || rc=$?
}
vici "$BFED_VICI" --log-level=loud
check_eq "bfed-vici --log-level=loud: exit 1" 1 "$rc"
check "bfed-vici --log-level=loud: named" grep -qF "bfed-vici error: Invalid --log-level='loud'" <<<"$out"
vici SYSTEMD_LOG_LEVEL=loud "$BFED_VICI" --version
check_eq "bfed-vici with SYSTEMD_LOG_LEVEL=loud: exit 1, even with --version" 1 "$rc"
vici "$BFED_VICI" --log-level=debug --version
check_eq "bfed-vici --log-level=debug --version: exit 0" 0 "$rc"
vici "$BFED_VICI" --log-level=debug stray
check "bfed-vici with an operand: named" grep -qF "Unexpected argument 'stray'" <<<"$out"

bfedt_done
