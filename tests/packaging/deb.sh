#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The Debian package, built as a packager builds it: `dpkg-buildpackage -us -uc -b` on a copy
# of the source (the packages land beside it, outside the tree; nocheck: the tests run here
# instead). It makes bfed, libbfe0, libbfe-dev and bfed-vici; lintian finds no error (its
# warnings are printed); the maintainer scripts create the user and enable the units; and from a
# throwaway root the packages are unpacked into (dpkg -x) `bfed --version`, `bfectl --help` and
# `bfed-vici --version` run, on the packaged libbfe, and the packaged units score at most 1.2.
source "$(dirname "$0")/lib.sh"

for t in dpkg-buildpackage dh dpkg-deb; do
        command -v "$t" >/dev/null 2>&1 || skip_all "$t not installed (scripts/setup installs debhelper)"
done
deps=$(dpkg-checkbuilddeps -P nocheck "$SOURCE_ROOT/debian/control" 2>&1) ||
        skip_all "build dependencies missing: $deps"

pkgt_init
version=$("$MESON" introspect --projectinfo "$BUILD_ROOT" | jq -r .version)
check_eq "debian/changelog's version is the project's" "$version" \
        "$(dpkg-parsechangelog -l "$SOURCE_ROOT/debian/changelog" -S Version)"

# A copy of the source: what git tracks (and what is new, not ignored), else all but builds.
src="$PKGT_TMP/build/bfed-$version"
mkdir -p "$src"
if git -C "$SOURCE_ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        (cd "$SOURCE_ROOT" && git ls-files -z --cached --others --exclude-standard |
                xargs -0 -I{} sh -c 'test -e "{}" && echo "{}"' | tar -cf - -T -) | tar -xf - -C "$src"
else
        tar -C "$SOURCE_ROOT" --exclude='./build*' --exclude=./.git -cf - . | tar -xf - -C "$src"
fi
check "the copy has debian/" test -x "$src/debian/rules"

start=$(date +%s)
(cd "$src" && DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" dpkg-buildpackage -us -uc -b -Pnocheck) \
        >"$PKGT_TMP/build.log" 2>&1
rc=$?
check "dpkg-buildpackage -us -uc -b succeeds ($(($(date +%s) - start)) s)" test "$rc" -eq 0 ||
        tail -n 40 "$PKGT_TMP/build.log" | sed 's/^/#   /'

# libbfe's symbols against debian/libbfe0.symbols: a missing one fails the build, a new one is
# only said here (add it to the file, with the version that brought it)
awk '/dpkg-gensymbols: warning/ { on = 1 } on && /^(dh_|   dh_)/ { on = 0 } on' "$PKGT_TMP/build.log" | sed 's/^/#   /'

arch=$(dpkg --print-architecture)
declare -A deb
for p in bfed libbfe0 libbfe-dev bfed-vici; do
        deb[$p]="$PKGT_TMP/build/${p}_${version}_$arch.deb"
        check "$p is built" test -f "${deb[$p]}"
done
built=$(cd "$PKGT_TMP/build" && ls -- *.deb 2>/dev/null | sed 's/_.*//' | grep -v -- '-dbgsym$' | sort | tr '\n' ' ')
check_eq "and nothing else (debug symbols aside)" "bfed bfed-vici libbfe-dev libbfe0 " "$built"
[[ -f "${deb[bfed]}" ]] || pkgt_done

# ---- lintian -------------------------------------------------------------------------------------

if command -v lintian >/dev/null 2>&1; then
        changes=$(ls "$PKGT_TMP"/build/*.changes)
        lintian --allow-root --info --tag-display-limit 0 "$changes" >"$PKGT_TMP/lintian.log" 2>&1
        diag "lintian: $(grep -c '^E: ' "$PKGT_TMP/lintian.log") errors, $(grep -c '^W: ' "$PKGT_TMP/lintian.log") warnings, $(grep -c '^I: ' "$PKGT_TMP/lintian.log") notes"
        sed 's/^/#   /' "$PKGT_TMP/lintian.log"
        check_eq "lintian reports no error" "" "$(grep '^E: ' "$PKGT_TMP/lintian.log")"
else
        diag "lintian not installed: not run"
fi

# ---- what the packages hold ---------------------------------------------------------------------

contents() {
        dpkg-deb --contents "$1" | awk '{ print $6 }' | sed 's|^\./|/|'
}
contents "${deb[bfed]}" >"$PKGT_TMP/bfed.list"
for f in /usr/sbin/bfed /usr/bin/bfectl /lib/systemd/system/bfed.service /lib/systemd/system/bfed-boot.service \
        /usr/lib/sysusers.d/bfed.conf \
        /usr/share/dbus-1/system.d/org.bfed.Engine1.conf /usr/share/dbus-1/system-services/org.bfed.Engine1.service \
        /usr/share/polkit-1/rules.d/50-bfed-firewalld.rules /etc/bfed/bfed.conf \
        /usr/share/polkit-1/actions/org.bfed.engine1.policy /usr/share/doc/bfed/examples/50-bfed-admins.rules.example \
        /usr/share/man/man8/bfed.8.gz /usr/share/man/man8/bfectl.8.gz /usr/share/man/man5/bfed.conf.5.gz \
        /usr/share/man/man5/org.bfed.Engine1.5.gz /usr/share/bash-completion/completions/bfectl \
        /usr/share/zsh/vendor-completions/_bfectl; do
        check "bfed has $f" grep -qx -- "$f" "$PKGT_TMP/bfed.list"
done
check "libbfe0 has the shared library" grep -q '/libbfe\.so\.0' <(contents "${deb[libbfe0]}")
check "libbfe-dev has the header" grep -qx /usr/include/bfe/bfe.h <(contents "${deb[libbfe-dev]}")
check "libbfe-dev has libbfe.pc" grep -q '/pkgconfig/libbfe\.pc$' <(contents "${deb[libbfe-dev]}")
check "/etc/bfed/bfed.conf is a conffile" grep -qx /etc/bfed/bfed.conf <(dpkg-deb --ctrl-tarfile "${deb[bfed]}" |
        tar -xOf - ./conffiles)
check "bfed depends on libbfe0 (bfectl)" grep -q 'libbfe0' <(dpkg-deb --field "${deb[bfed]}" Depends)
contents "${deb[bfed-vici]}" >"$PKGT_TMP/bfed-vici.list"
for f in /usr/sbin/bfed-vici /lib/systemd/system/bfed-vici.service /usr/share/man/man8/bfed-vici.8.gz; do
        check "bfed-vici has $f" grep -qx -- "$f" "$PKGT_TMP/bfed-vici.list"
done
depends=$(dpkg-deb --field "${deb[bfed-vici]}" Depends)
check "bfed-vici depends on bfed and strongswan-charon" \
        grep -qE 'bfed \(= .*strongswan-charon|strongswan-charon.*bfed \(= ' <<<"$depends"
check "bfed-vici's postinst enables bfed-vici.service" grep -q 'deb-systemd-helper .*enable .*bfed-vici\.service' \
        <(dpkg-deb --ctrl-tarfile "${deb[bfed-vici]}" | tar -xOf - ./postinst)

postinst=$(dpkg-deb --ctrl-tarfile "${deb[bfed]}" | tar -xOf - ./postinst)
check "postinst creates the user (systemd-sysusers bfed.conf)" grep -q 'systemd-sysusers.* bfed\.conf' <<<"$postinst"
check "postinst enables bfed.service" grep -q 'deb-systemd-helper .*enable .*bfed\.service' <<<"$postinst"
check "postinst starts it where systemd runs" grep -q '_dh_action=start' <<<"$postinst"
check "postinst enables bfed-boot.service" grep -q 'deb-systemd-helper .*enable .*bfed-boot\.service' <<<"$postinst"
check "postinst does not start bfed-boot.service (its nft -f would meet bfed's table)" \
        bash -c '! grep -q "deb-systemd-invoke .*bfed-boot\.service" <<<"$1"' _ "$postinst"
check "(the check above sees how postinst starts a unit)" grep -q "deb-systemd-invoke .*'bfed\.service'" <<<"$postinst"
check "systemd-sysusers runs before the unit is enabled" \
        awk '/systemd-sysusers/ { s = NR } /deb-systemd-helper .*enable/ && !e { e = NR } END { exit !(s && e && s < e) }' \
        <<<"$postinst"

# ---- from a throwaway root ------------------------------------------------------------------------

root="$PKGT_TMP/root"
for p in bfed libbfe0 libbfe-dev bfed-vici; do
        dpkg -x "${deb[$p]}" "$root" || die "dpkg -x $p"
done
libdir=$(dirname "$(cd "$root" && find . -name 'libbfe.so.0' | head -n1)")
libdir="$root/${libdir#./}"
# the root's libbfe, not one installed on this machine
export LD_LIBRARY_PATH="$libdir"
check_eq "bfectl uses the packaged libbfe" "$libdir/libbfe.so.0" \
        "$(ldd "$root/usr/bin/bfectl" | awk '$1 == "libbfe.so.0" { print $3 }')"
check_eq "bfed --version from the packages" "bfed $version" "$("$root/usr/sbin/bfed" --version)"
out=$("$root/usr/bin/bfectl" --help)
check "bfectl --help from the packages" test $? -eq 0
check "it lists the commands" grep -q 'filter add' <<<"$out"
unset LD_LIBRARY_PATH
check_eq "bfed-vici --version from the packages" "bfed-vici $version" "$("$root/usr/sbin/bfed-vici" --version)"
if command -v systemd-analyze >/dev/null 2>&1; then
        for unit in bfed.service bfed-vici.service bfed-boot.service; do
                score=$(systemd-analyze security --offline=yes --root="$root" --no-pager "$unit" 2>&1 |
                        sed -n "s/^→ Overall exposure level for $unit: \([0-9.]*\).*/\1/p")
                check "the packaged $unit scores ${score:-?}, at most 1.2" \
                        awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 1.2) }'
        done
fi

pkgt_done
