#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The manual pages, as `meson install` puts them: each one is there, man(1) formats it without
# a warning (`man --warnings`), its NAME line parses (lexgrog, what mandb and lintian read), and
# it names what it documents: bfed(8) every option of `bfed --help`, bfectl(8) every option of
# every `bfectl OBJECT VERB --help`, bfed.conf(5) every key config.c takes, org.bfed.Engine1(5)
# every method, property and signal the vtables declare (bus-engine.c, session-bus.c),
# bfed-vici(8) every option of `bfed-vici --help`.
source "$(dirname "$0")/lib.sh"

: "${BFED:=$BUILD_ROOT/src/daemon/bfed}"
: "${BFECTL:=$BUILD_ROOT/src/ctl/bfectl}"
: "${BFED_VICI:=$BUILD_ROOT/src/vici-bridge/bfed-vici}"

command -v man >/dev/null 2>&1 || skip_all "man not installed"
[[ "$(pkgt_option man)" != disabled ]] || skip_all "built with -Dman=disabled"

pkgt_init
pkgt_install

mandir="$ROOT$(pkgt_option prefix)/$(pkgt_option mandir)"
declare -A page
for p in bfed.8 bfectl.8 bfed.conf.5 org.bfed.Engine1.5 bfed-vici.8; do
        page[$p]="$mandir/man${p##*.}/$p"
done

for p in "${!page[@]}"; do
        f="${page[$p]}"
        if [[ ! -f "$f" ]]; then
                not_ok "$p is installed ($f)"
                continue
        fi
        ok "$p is installed"
        warnings=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$f" 2>&1 >/dev/null)
        check_eq "man --warnings formats $p without a warning" "" "$warnings"
        name=${p%.*}
        check "lexgrog reads $p's NAME line" grep -q "\"$name - " < <(lexgrog "$f" 2>&1)
        # the text as a reader sees it, with hyphenation and adjustment off, one long line per paragraph
        MANWIDTH=1000 LC_ALL=C.UTF-8 man -E UTF-8 --nh --nj -l "$f" 2>/dev/null >"$PKGT_TMP/$p.txt"
done

# names_in PAGE WORD...: the WORDs the page's text does not contain, one a line.
missing_in() {
        local txt="$PKGT_TMP/$1.txt" w
        shift
        for w in "$@"; do
                grep -qF -- "$w" "$txt" || echo "$w"
        done
}

# bfed(8): the long options of --help
opts=$("$BFED" --help | grep -oE -- '--[a-z][a-z-]+' | sort -u)
check "bfed --help has options" test -n "$opts"
# shellcheck disable=SC2086 # one option a word
check_eq "bfed(8) names every option of bfed --help" "" "$(missing_in bfed.8 $opts)"

# bfed-vici(8): the long options of --help
opts=$("$BFED_VICI" --help | grep -oE -- '--[a-z][a-z-]+' | sort -u)
check "bfed-vici --help has options" test -n "$opts"
# shellcheck disable=SC2086 # one option a word
check_eq "bfed-vici(8) names every option of bfed-vici --help" "" "$(missing_in bfed-vici.8 $opts)"

# bfectl(8): the commands of bfectl --help, every option of every verb
cmds=$("$BFECTL" --help | awk '/^Commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 (($2 ~ /^[a-z]+$/) ? " " $2 : "") }')
check "bfectl --help lists commands" test -n "$cmds"
missing=
while read -r cmd; do
        # shellcheck disable=SC2086 # the command's words
        for o in $("$BFECTL" $cmd --help 2>/dev/null | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
                grep -qF -- "$o" "$PKGT_TMP/bfectl.8.txt" || missing+="$cmd $o; "
        done
        grep -qF -- "$cmd" "$PKGT_TMP/bfectl.8.txt" || grep -qF -- "${cmd#* }" "$PKGT_TMP/bfectl.8.txt" ||
                missing+="$cmd; "
done <<<"$cmds"
check_eq "bfectl(8) names every command and option of bfectl's help" "" "$missing"

# bfed.conf(5): every key config.c's set_key() takes
keys=$(grep -oE 'streq\(key, "[A-Za-z]+"\)' "$SOURCE_ROOT/src/daemon/config.c" | sed -E 's/.*"(.*)".*/\1=/')
check "config.c has keys" test -n "$keys"
# shellcheck disable=SC2086
check_eq "bfed.conf(5) names every key" "" "$(missing_in bfed.conf.5 $keys)"

# org.bfed.Engine1(5): every member of the vtables
members=$(cat "$SOURCE_ROOT/src/daemon/bus-engine.c" "$SOURCE_ROOT/src/daemon/session-bus.c" |
        sed -nE -e 's/.*(METHOD|METHOD_WITH_ARGS|PROPERTY|SIGNAL_WITH_ARGS|SIGNAL)\("([A-Za-z]+)",.*/\2/p' \
                -e 's/.*ENUM_HANDLE\(([A-Z][A-Za-z]+)\).*/Create\1EnumHandle \1Enum/p' | tr ' ' '\n' | sort -u)
check "the vtables have members ($(wc -w <<<"$members"))" test "$(wc -w <<<"$members")" -gt 30
# shellcheck disable=SC2086
check_eq "org.bfed.Engine1(5) names every method, property and signal" "" \
        "$(missing_in org.bfed.Engine1.5 $members)"

pkgt_done
