# SPDX-License-Identifier: LGPL-2.1-or-later
# lib.sh — shared by the packaging tests: TAP-like reporting, and `meson install` of the build
# into a throwaway root.
#
# Environment (from meson): MESON (the meson command), BUILD_ROOT, SOURCE_ROOT.

set -uo pipefail

PKGT_TMP=

source "$(dirname "${BASH_SOURCE[0]}")/../tap.sh"

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
        echo "$((TAP_CHECKS - TAP_FAILURES)) passed, $TAP_FAILURES failed"
        ((TAP_FAILURES == 0))
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
