# SPDX-License-Identifier: LGPL-2.1-or-later
# lib.sh — shared by the packaging tests: TAP-like reporting, and `meson install` of the build
# into a throwaway root.
#
# Environment (from meson): MESON (the meson command), BUILD_ROOT, SOURCE_ROOT.

set -uo pipefail

PKGT_CHECKS=0
PKGT_FAILURES=0
PKGT_TMP=

ok() {
        PKGT_CHECKS=$((PKGT_CHECKS + 1))
        echo "ok - $*"
}

not_ok() {
        PKGT_CHECKS=$((PKGT_CHECKS + 1))
        PKGT_FAILURES=$((PKGT_FAILURES + 1))
        echo "not ok - $*"
}

check() {
        local desc="$1"
        shift
        if "$@"; then
                ok "$desc"
        else
                not_ok "$desc"
        fi
}

check_eq() {
        if [[ "$2" == "$3" ]]; then
                ok "$1"
        else
                not_ok "$1"
                echo "#   expected: $2"
                echo "#   got:      $3"
        fi
}

# quiet COMMAND...: COMMAND without its output (for check).
quiet() {
        "$@" >/dev/null 2>&1
}

diag() {
        echo "# $*"
}

skip_all() {
        echo "SKIP: $*"
        exit 77
}

die() {
        echo "not ok - $*"
        exit 1
}

pkgt_done() {
        echo "$((PKGT_CHECKS - PKGT_FAILURES)) passed, $PKGT_FAILURES failed"
        ((PKGT_FAILURES == 0))
        exit
}

pkgt_init() {
        PKGT_TMP=$(mktemp -d /tmp/bfed-pkgt.XXXXXX) || die "mktemp"
        trap 'rm -rf "$PKGT_TMP"' EXIT
}

# pkgt_install: `meson install` of the build into $PKGT_TMP/root (DESTDIR); sets ROOT.
pkgt_install() {
        ROOT="$PKGT_TMP/root"
        "$MESON" install -C "$BUILD_ROOT" --destdir "$ROOT" --no-rebuild --quiet >"$PKGT_TMP/install.log" 2>&1 ||
                { cat "$PKGT_TMP/install.log"; die "meson install"; }
}

# pkgt_option NAME: a meson option of the build, as meson introspect says.
pkgt_option() {
        "$MESON" introspect --buildoptions "$BUILD_ROOT" | jq -r --arg n "$1" '.[] | select(.name == $n) | .value'
}
