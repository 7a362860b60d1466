# SPDX-License-Identifier: LGPL-2.1-or-later
# tap.sh — TAP-like reporting for the shell tests (tests/integration/lib.sh and
# tests/packaging/lib.sh source it): one line a check, "ok - …" or "not ok - …", counted in
# TAP_CHECKS and TAP_FAILURES for the summary each harness prints at its end.

TAP_CHECKS=0
TAP_FAILURES=0

ok() {
        TAP_CHECKS=$((TAP_CHECKS + 1))
        echo "ok - $*"
}

not_ok() {
        TAP_CHECKS=$((TAP_CHECKS + 1))
        TAP_FAILURES=$((TAP_FAILURES + 1))
        echo "not ok - $*"
}

# check DESCRIPTION COMMAND...: ok when COMMAND succeeds.
check() {
        local desc="$1"
        shift
        if "$@"; then
                ok "$desc"
        else
                not_ok "$desc"
        fi
}

# check_eq DESCRIPTION EXPECTED GOT
check_eq() {
        if [[ "$2" == "$3" ]]; then
                ok "$1"
        else
                not_ok "$1"
                echo "#   expected: $2"
                echo "#   got:      $3"
        fi
}
