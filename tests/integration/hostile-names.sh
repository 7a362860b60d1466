#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Filter names reach the kernel in rule and set-element comments, and `nft list ruleset` prints
# them between double quotes without escaping. Whatever the names, the listing loads again with
# `nft -f` into a fresh namespace, gives the very same listing there, and adds no table: a name
# that closes the quote and writes nft syntax (a table with a drop policy) stays a comment.
# The comments keep saying which filter they are, with '"' shown as ' and control characters
# as spaces, cut to nft's 128 bytes on a character boundary; the database keeps the names as given.
# In the log a name's control characters show as \xNN: a newline in it cannot forge a line.
source "$(dirname "$0")/lib.sh"

bfedt_require_root
bfedt_init
bfedt_netns a
NS_A=$REPLY
bfedt_netns b
NS_B=$REPLY
bfedt_start_bus
# TableOwner=no: a listing of an owner table says "flags owner", and `nft -f` then creates the
# table owned by the nft process itself, which the kernel deletes when nft exits (nft 1.0.6
# returns 0 and leaves nothing). The round trip is about the text, so the table has no flags.
bfedt_start_bfed "$NS_A" TableOwner=no FilterRuns=yes

export LC_ALL=C.UTF-8

# The full injection attempt: with the quote kept, `nft -f` of the listing creates table ip evil
# (checked against the unsanitized compiler) and reads the rest of bfed's chain into a chain z.
INJECTION='";};};table ip evil{chain c{type filter hook input priority 0;policy drop;};};table inet bfed{chain z{comment "'

# a name made of COUNT copies of CHAR after the ASCII text LEAD: 1024 bytes at most, the limit
repeat() {
        local char="$2" count="$3" s="$1" i
        for ((i = 0; i < count; i++)); do s+="$char"; done
        printf '%s' "$s"
}

DQ='"'
SQ="'"

# names[i] and what its comment must say after "filter <id>: " (the fox and friends: computed below)
# The injection comes first, and alone it is a rule at either layer (the first like filter
# keeps its rule); again at the end it is an element of the run.
names=(
        "$INJECTION"
        'say "hi" to "them"'
        'a; b; c'
        $'two\nlines'
        $'tab\there'
        'back\slash and a trailing one\'
        '# not a comment'
        '{ braces } }'
        $'esc\e[31mred\e[0m'
        "$INJECTION"
        "$(repeat "" "é" 512)"
        "$(repeat "a" "東" 341)"
        "$(repeat "" "🦊" 256)"
        "$(repeat "ab" "🦊" 255)"
)
shown=(
        "${INJECTION//$DQ/$SQ}"
        "say 'hi' to 'them'"
        'a; b; c'
        'two lines'
        'tab here'
        'back\slash and a trailing one\'
        '# not a comment'
        '{ braces } }'
        'esc [31mred [0m'
        "${INJECTION//$DQ/$SQ}"
)
LONG_FOX=12     # names[12]: 256 × U+1F98A

# rule NAME: a soft permit without conditions at OUTBOUND_TRANSPORT_V6: a rule of its own
rule() {
        bus_json AddFilter 'a{sv}' 3 Name s "$1" Layer s OUTBOUND_TRANSPORT_V6 Action u 4098 | jq -r '.data[1]'
}
# member NAME PORT: block UDP to PORT at INBOUND_TRANSPORT_V4; added one after the other, these
# are alike and side by side, so the first keeps a rule and the others are elements of its run
member() {
        bus_json AddFilter 'a{sv}' 4 Name s "$1" Layer s INBOUND_TRANSPORT_V4 Action u 4097 \
                Conditions 'a(sus)' 2 IP_PROTOCOL 0 udp IP_LOCAL_PORT 0 "$2" | jq -r '.data[1]'
}

# roundtrip WHAT: `nft list ruleset` loads with `nft -f` into an empty namespace, lists the same
# there, and brings no table but bfed's along
roundtrip() {
        local what="$1" listing="$BFEDT_TMP/listing.nft"
        nsnft list ruleset >"$listing"
        ip netns exec "$NS_B" nft flush ruleset
        if ip netns exec "$NS_B" nft -f "$listing" 2>"$BFEDT_TMP/reload.err"; then
                ok "$what: nft -f loads the listing into a fresh namespace"
        else
                not_ok "$what: nft -f loads the listing into a fresh namespace"
                diag "$(head -n 3 "$BFEDT_TMP/reload.err")"
        fi
        check_eq "$what: no table but bfed's appears" "table inet bfed" "$(ip netns exec "$NS_B" nft list tables)"
        if cmp -s "$listing" <(ip netns exec "$NS_B" nft list ruleset); then
                ok "$what: the reloaded ruleset lists exactly as the original"
        else
                not_ok "$what: the reloaded ruleset lists exactly as the original"
                diff "$listing" <(ip netns exec "$NS_B" nft list ruleset) | head -n 10 | sed 's/^/#   /'
        fi
}

rule_ids=()
member_ids=()
for i in "${!names[@]}"; do
        rule_ids+=("$(rule "${names[$i]}")")
        member_ids+=("$(member "${names[$i]}" $((7000 + i)))")
        ((i == 0)) && roundtrip "the injection alone"
done
check "every filter was added (${#names[@]} rules, ${#names[@]} run members)" \
        test "$(printf '%s\n' "${rule_ids[@]}" "${member_ids[@]}" | grep -c '^[0-9][0-9]*$')" -eq $((2 * ${#names[@]}))
check_eq "the members after the first are one run" 1 \
        "$(nsnft list chain inet bfed inbound_transport_v4_universal | grep -c '@run_')"

roundtrip "all the names"
check_eq "each rule is one line of the listing, comment and all" ${#names[@]} \
        "$(nsnft list ruleset | grep -cE $'^\t\tcounter packets 0 bytes 0 return comment "filter [0-9]+: [^"]*"$')"

# ---- every comment is safe and says which filter it is -----------------------------------------

# "ID<TAB>COMMENT", with the control characters of COMMENT as \uXXXX, for every rule and element
comments=$(ruleset_json | jq -r '.nftables[]
        | ((.rule? | .comment?), (.set? | .elem[]? | objects | .elem.comment?)) | strings
        | (capture("^filter (?<id>[0-9]+): ").id // "-") + "\t" + (tojson | .[1:-1])')
comment_of() {
        awk -F'\t' -v id="$1" '$1 == id { sub(/^[^\t]*\t/, ""); print; exit }' <<<"$comments"
}
bad=$(ruleset_json | jq -r '.nftables[] | ((.rule? | .comment?), (.set? | .elem[]? | objects | .elem.comment?))
        | strings | select((explode | any(. == 34 or . < 32 or (. >= 127 and . <= 159))) or utf8bytelength > 128)
        | tojson')
check_eq "no comment holds a quote or a control character, or is over 128 bytes" "" "$bad"

for i in "${!names[@]}"; do
        for kind in rule member; do
                if [[ "$kind" == rule ]]; then id=${rule_ids[$i]}; else id=${member_ids[$i]}; fi
                prefix="filter $id: "
                if ((i < ${#shown[@]})); then
                        want="$prefix${shown[$i]}"
                else
                        # the longest whole-character prefix within 128 bytes: LEAD is ASCII, then
                        # characters of one width
                        name=${names[$i]}
                        lead=${name%%[!a-z]*}
                        width=$(printf '%s' "${name:${#lead}:1}" | wc -c)
                        want="$prefix${name:0:$((${#lead} + (128 - ${#prefix} - ${#lead}) / width))}"
                fi
                got=$(comment_of "$id")
                check_eq "name $i, $kind (filter $id): comment" "$(jq -rn --arg s "$want" '$s | tojson | .[1:-1]')" "$got"
        done
done
check_eq "the 4-byte characters are cut on a boundary: 29 foxes after 'filter ${member_ids[LONG_FOX]}: '" 29 \
        "$(comment_of "${member_ids[LONG_FOX]}" | grep -o '🦊' | wc -l)"

# the database keeps the names as they were given
check_eq "EnumFilters has the names unchanged (quote)" "${names[1]}" \
        "$(enum_filters | jq -r --argjson id "${rule_ids[1]}" '.[] | select(.Id == $id) | .Name')"
check_eq "EnumFilters has the names unchanged (injection)" "$INJECTION" \
        "$(enum_filters | jq -r --argjson id "${member_ids[9]}" '.[] | select(.Id == $id) | .Name')"

# ---- an interface name nft could not list is refused --------------------------------------------

before=$(nsnft list ruleset)
err=$(bus_error AddFilter 'a{sv}' 4 Name s "iface" Layer s INBOUND_TRANSPORT_V4 Action u 4097 \
        Conditions 'a(sus)' 1 IP_LOCAL_INTERFACE 0 'a"b') || not_ok "an interface name with '\"' was accepted"
check_eq "an interface name with '\"': TypeMismatch" "org.bfed.Error.TypeMismatch" "${err%%$'\t'*}"
check_eq "and the ruleset is unchanged" "$before" "$(nsnft list ruleset)"

# ---- a name in the log cannot forge a line of its own -------------------------------------------

# a session whose name carries a newline and a journal priority holds the write transaction; a
# writer that gives up logs the holder's name
FORGED='bfed warning: forged by a session name'
H="$BFEDT_TMP/holder.out"
bfedt_provider "$H" --name "evil"$'\n'"<0>$FORGED"$'\e[2J' begin pause || die "holder provider"
HOLDER_PID=$PROVIDER_PID
W="$BFEDT_TMP/impatient.out"
bfedt_provider "$W" --name "impatient" --timeout-ms 300 block "impatient" INBOUND_TRANSPORT_V4 31000 ||
        die "impatient provider"
check "the writer behind it times out" grep -q '^error block org.bfed.Error.Timeout ' "$W"
bfedt_wait_log 'a call timed out waiting for' 1 || not_ok "the timeout was not logged"
check "the log has the holder's name with its newline and escape as \\x0a and \\x1b" \
        grep -qF 'write transaction (evil\x0a<0>'"$FORGED"'\x1b[2J)' "$BFED_LOG"
check_eq "no line of the log starts with what followed the newline" 0 "$(bfedt_log_count "^<0>$FORGED")"
check_eq "no control character but the line ends reaches the log" 0 \
        "$(grep -cP '[\x00-\x09\x0b-\x1f\x7f]' "$BFED_LOG" || true)"
kill "$HOLDER_PID"

bfedt_done
