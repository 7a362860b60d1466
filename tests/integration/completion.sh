#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# bfectl's shell completions, bash and zsh, as a user meets them: bash through bash-completion
# (the words split as readline splits them), zsh through its completion system on a
# pseudo-terminal (tests/tools/zsh-complete). Both offer the commands, objects and verbs; for
# every command exactly the options its --help names; the layer, condition field and context
# type names of the WFP tables (tests/tools/wfp-names); and, from a running bfed on the test's
# bus, the keys and ids of its objects, on the bus the command line names with --address too.
source "$(dirname "$0")/lib.sh"

: "${WFP_NAMES:=$SOURCE_ROOT/build/tests/tools/wfp-names}"
: "${ZSH_COMPLETE:=$SOURCE_ROOT/tests/tools/zsh-complete}"
BASH_COMPLETION_FILE="$SOURCE_ROOT/shell-completion/bash/bfectl"
ZSH_COMPLETION_DIR="$SOURCE_ROOT/shell-completion/zsh"

bfedt_require_root
bfedt_require_bfectl
[[ -x "$WFP_NAMES" ]] || die "wfp-names not built ($WFP_NAMES)"
shells=(bash)
if command -v zsh >/dev/null 2>&1 && zsh -fc 'zmodload zsh/zpty' 2>/dev/null; then
        shells+=(zsh)
else
        diag "zsh (with zsh/zpty) not installed: bash only"
fi
[[ -f /usr/share/bash-completion/bash_completion ]] || diag "bash-completion not installed: bfectl's own fallback"

bfedt_init
# the completions call `bfectl` as typed: the built one, first in PATH
mkdir -p "$BFEDT_TMP/bin"
ln -s "$(realpath "$BFECTL")" "$BFEDT_TMP/bin/bfectl"
export PATH="$BFEDT_TMP/bin:$PATH"

# complete_bash LINE: the words bash completion offers for LINE (cursor at the end), sorted.
complete_bash() {
        bash --norc --noprofile -c '
                [[ -f /usr/share/bash-completion/bash_completion ]] &&
                        source /usr/share/bash-completion/bash_completion
                source "$1"
                line=$2
                # as readline splits: at blanks, and a run of = or : (COMP_WORDBREAKS) is a word
                read -r -a COMP_WORDS < <(sed -E "s/([=:]+)/ \\1 /g" <<<"$line")
                [[ "$line" == *" " ]] && COMP_WORDS+=("")
                COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
                COMP_LINE=$line
                COMP_POINT=${#line}
                _bfectl bfectl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
                # what readline inserts replaces the word after the last = or :
                for w in "${COMPREPLY[@]}"; do
                        case "$line" in
                        *[=:]*[!\ ]|*[=:]) prefix=${line##* }; prefix=${prefix%"${prefix##*[=:]}"} ;;
                        *) prefix= ;;
                        esac
                        printf "%s%s\n" "$prefix" "$w"
                done' _ "$BASH_COMPLETION_FILE" "$1" | sort -u
}

# complete_zsh LINE: the same through zsh.
complete_zsh() {
        timeout 30 "$ZSH_COMPLETE" "$ZSH_COMPLETION_DIR" "$1" | sort -u
}

# offers SHELL LINE: its matches on one line, blank-separated (a trailing '=' kept).
offers() {
        "complete_$1" "$2" | tr '\n' ' ' | sed 's/ $//'
}

# words LIST...: sorted, one line, blank-separated.
words() {
        printf '%s\n' "$@" | sort -u | tr '\n' ' ' | sed 's/ $//'
}

names() {
        "$WFP_NAMES" | awk -v k="$1" '$1 == k { print $2 }'
}

# the options a command's --help names, without the global --address (the completions offer
# it before the command) and with --help (which every command takes)
help_options() {
        # shellcheck disable=SC2086 # the command's words
        { ctl $1 --help 2>/dev/null | grep -oE -- '--[a-z][a-z-]+' | grep -vx -- --address; echo --help; } | sort -u
}

commands=$(ctl --help | awk '/^Commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 (($2 ~ /^[a-z]+$/) ? " " $2 : "") }')
check "bfectl --help lists its commands" test -n "$commands"

for sh in "${shells[@]}"; do
        check_eq "$sh: the commands and objects" "context explain filter help monitor provider status sublayer" \
                "$(offers "$sh" "bfectl ")"
        check_eq "$sh: the global options" "--address --help --json --no-legend --version" "$(offers "$sh" "bfectl --")"
        check_eq "$sh: an object's verbs" "add delete list show" "$(offers "$sh" "bfectl filter ")"
        check_eq "$sh: help offers the commands and objects" \
                "context explain filter help monitor provider status sublayer" "$(offers "$sh" "bfectl help ")"
        check_eq "$sh: help OBJECT offers its verbs" "add delete list show" "$(offers "$sh" "bfectl help sublayer ")"
        check_eq "$sh: help COMMAND offers nothing more" "" "$(offers "$sh" "bfectl help status ")"
        check_eq "$sh: an object's own options (bfectl OBJECT --help)" "--help --json --no-legend" \
                "$(offers "$sh" "bfectl filter --")"
        check_eq "$sh: the verbs of a partial word" "delete" "$(offers "$sh" "bfectl context d")"
        missing=
        while read -r cmd; do
                got=$(offers "$sh" "bfectl $cmd --")
                want=$(help_options "$cmd" | tr '\n' ' ' | sed 's/ $//')
                [[ "$got" == "$want" ]] || missing+="[$cmd: offered '$got', help '$want'] "
        done <<<"$commands"
        check_eq "$sh: every command's options are those its --help names" "" "$missing"

        # shellcheck disable=SC2046 # one name a word
        check_eq "$sh: --layer offers every layer" "$(words $(names layer))" \
                "$(offers "$sh" "bfectl filter add --layer ")"
        check_eq "$sh: --layer=PREFIX" "--layer=INBOUND_TRANSPORT_V4 --layer=INBOUND_TRANSPORT_V6" \
                "$(offers "$sh" "bfectl filter list --layer=INB")"
        # shellcheck disable=SC2046
        check_eq "$sh: explain offers the layers bfed compiles" "$(words $(names packet-layer))" \
                "$(offers "$sh" "bfectl explain ")"
        # shellcheck disable=SC2046
        check_eq "$sh: explain then offers every field, with '='" "$(words $(names explain-field | sed 's/$/=/'))" \
                "$(offers "$sh" "bfectl explain INBOUND_TRANSPORT_V4 IP_PROTOCOL=udp ")"
        check_eq "$sh: explain's field values" "FLAGS=ipsec-secured FLAGS=loopback" \
                "$(offers "$sh" "bfectl explain INBOUND_TRANSPORT_V4 FLAGS=")"
        # shellcheck disable=SC2046
        check_eq "$sh: --condition offers the condition fields, with '='" "$(words $(names field | sed 's/$/=/'))" \
                "$(offers "$sh" "bfectl filter add --condition ")"
        check_eq "$sh: --condition IP_PROTOCOL= offers protocols" "IP_PROTOCOL=icmp IP_PROTOCOL=tcp IP_PROTOCOL=udp" \
                "$(offers "$sh" "bfectl filter add --name x --condition IP_PROTOCOL=")"
        # shellcheck disable=SC2046
        check_eq "$sh: --type offers the context types" "$(words $(names context-type))" \
                "$(offers "$sh" "bfectl context add --type ")"
        check_eq "$sh: --action" "block callout permit" "$(offers "$sh" "bfectl filter add --action ")"
done

# ---- live keys and ids ------------------------------------------------------------------------

bfedt_netns a
NS="$REPLY"
bfedt_start_bus

for sh in "${shells[@]}"; do
        check_eq "$sh: no bfed, no keys (and no hang)" "" "$(offers "$sh" "bfectl filter show ")"
done

bfedt_start_bfed "$NS"
prov=$(ctl --json provider add --name p | jq -r .key)
sub=$(ctl --json sublayer add --name s --weight 100 | jq -r .key)
ctx=$(ctl --json context add --name c --type ike-mm | jq -r .key)
ctl filter add --name f1 --layer INBOUND_TRANSPORT_V4 --action block --condition IP_PROTOCOL=udp >/dev/null
ctl filter add --name mm --layer IKEEXT_V4 --context "$ctx" >/dev/null
check "the test's objects are added (exemptions included)" test "$(ctl --json filter list | jq length)" -gt 10

filters=$(ctl --json filter list | jq -r '.[] | .key, (.id | tostring)')
sublayers=$(ctl --json sublayer list | jq -r '.[].key')
providers=$(ctl --json provider list | jq -r '.[].key')   # the test's and the built-in ones
# shellcheck disable=SC2086
for sh in "${shells[@]}"; do
        check_eq "$sh: filter show offers every filter's key and id" "$(words $filters)" \
                "$(offers "$sh" "bfectl filter show ")"
        check_eq "$sh: provider delete offers the providers" "$(words $providers)" \
                "$(offers "$sh" "bfectl provider delete ")"
        check_eq "$sh: context show offers the context" "$ctx" "$(offers "$sh" "bfectl context show ")"
        check_eq "$sh: --sublayer offers the sublayers" "$(words $sublayers)" \
                "$(offers "$sh" "bfectl filter add --sublayer ")"
        check_eq "$sh: --provider offers the providers" "$(words $providers)" \
                "$(offers "$sh" "bfectl context list --provider ")"
        check_eq "$sh: --context offers the context" "$ctx" "$(offers "$sh" "bfectl filter add --context ")"
        check_eq "$sh: a key's prefix" "$prov" "$(offers "$sh" "bfectl provider show ${prov:0:8}")"
        check_eq "$sh: with --address BUS, that bus's bfed" "$ctx" \
                "$(DBUS_SYSTEM_BUS_ADDRESS=unix:path=/nonexistent offers "$sh" "bfectl --address $BUS_ADDR context show ")"
done
check "the sublayer is among them" grep -q "$sub" <<<"$sublayers"

bfedt_done
