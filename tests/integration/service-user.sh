#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# bfed as bfed.service runs it, without systemd: as the user bfed that the shipped sysusers.d
# file makes (systemd-sysusers, into a private copy of /etc/passwd and /etc/group, bind-mounted
# in a mount namespace of this test's own), with CAP_NET_ADMIN only (bounding, ambient), no new
# privileges, the unit's system call filter (tests/tools/unit-seccomp, from the built unit's
# SystemCallFilter= lines), /proc as ProtectProc=invisible and ProcSubset=pid leave it, every
# file system read-only but the state and runtime directories (ProtectSystem=strict,
# StateDirectory=, RuntimeDirectory=: root's private socket) and UMask=0077. On the test's bus with the shipped policy it owns its name, installs its table,
# follows an MM policy with the exemptions and their trace chains, keeps a persistent object in
# a state file of its own, stops cleanly and restores the object at the next start. Then, with
# the real polkitd on the test's bus, the shipped actions file (conf/org.bfed.engine1.policy) and
# the shipped example rule (conf/50-bfed-admins.rules.example: group netadmin): bfed, as user
# bfed, asks polkit about its callers: a member of netadmin adds a context and a filter, another
# user gets InteractiveAuthorizationRequired or AccessDenied and changes nothing, root always can
# (polkitd stopped too). Then, with firewalld: firewalld refuses bfed's opening of the IKE ports
# without the shipped polkit rule (conf/50-bfed-firewalld.rules), and takes it with it.
source "$(dirname "$0")/lib.sh"

: "${BFED_UNIT:=$SOURCE_ROOT/build/systemd/bfed.service}"
: "${BFED_SYSUSERS:=$SOURCE_ROOT/systemd/bfed.sysusers}"
: "${UNIT_SECCOMP:=$SOURCE_ROOT/tests/tools/unit-seccomp}"
# the sanitizers' runtime (LeakSanitizer's ptrace at exit) is not what the filter is for
: "${BFED_SANITIZE:=none}"

bfedt_require_root
bfedt_require_bfectl
[[ -f "$BFED_UNIT" ]] || die "unit not built ($BFED_UNIT)"
for t in setpriv systemd-sysusers unshare findmnt; do
        command -v "$t" >/dev/null 2>&1 || skip_all "$t not installed"
done
use_seccomp=yes
if [[ "$BFED_SANITIZE" != none ]]; then
        use_seccomp=no
elif ! /usr/bin/python3 -c 'import seccomp' 2>/dev/null; then
        skip_all "python3-seccomp not installed"
fi

# A mount namespace of our own: the bfed user goes into a copy of passwd and group.
if [[ -z "${BFEDT_SERVICE_USER_NS:-}" ]]; then
        exec unshare --mount --propagation private env BFEDT_SERVICE_USER_NS=1 "$BASH" "$0" "$@"
fi

[[ -n "${BFEDT_SERVICE_USER_NS:-}" ]] || die "not in a mount namespace of our own"
bfedt_init
root="$BFEDT_TMP/root"
mkdir -p "$root/etc"
cp /etc/passwd /etc/group "$root/etc/" || die "copy passwd, group"
[[ -f /etc/shadow ]] && cp /etc/shadow "$root/etc/"
[[ -f /etc/gshadow ]] && cp /etc/gshadow "$root/etc/"
mkdir -p "$root/usr/lib/sysusers.d"
cp "$BFED_SYSUSERS" "$root/usr/lib/sysusers.d/bfed.conf"
check "systemd-sysusers creates the user from the shipped file" \
        systemd-sysusers --root="$root" bfed.conf
mount --bind "$root/etc/passwd" /etc/passwd || die "bind passwd"
mount --bind "$root/etc/group" /etc/group || die "bind group"

IFS=: read -r _ _ uid gid _ home shell < <(getent passwd bfed)
check "user bfed exists" test -n "$uid"
check "bfed is a system user (uid $uid < 1000)" test "${uid:-1000}" -lt 1000
check_eq "bfed's group is bfed" "bfed" "$(getent group "$gid" | cut -d: -f1)"
check_eq "bfed's home is its state directory" "/var/lib/bfed" "$home"
check "bfed has no login shell ($shell)" grep -q nologin <<<"$shell"

# What systemd makes of the unit for bfed: the state directory, and the process.
STATE="$BFEDT_TMP/state"
install -d -m 0700 -o bfed -g bfed "$STATE"
RUNTIME="$BFEDT_TMP/run"
install -d -m 0755 -o bfed -g bfed "$RUNTIME"
mkdir -p "$BFEDT_TMP/bin"
install -m 0755 "$BFED" "$BFEDT_TMP/bin/bfed"
install -m 0755 "$UNIT_SECCOMP" "$BFEDT_TMP/bin/unit-seccomp"
install -m 0644 "$BFED_UNIT" "$BFEDT_TMP/bin/bfed.service"
seccomp=()
[[ "$use_seccomp" == yes ]] && seccomp=(/usr/bin/python3 "$BFEDT_TMP/bin/unit-seccomp" "$BFEDT_TMP/bin/bfed.service" --)
[[ "$use_seccomp" == yes ]] || diag "a sanitized build ($BFED_SANITIZE): without the system call filter"
cat >"$BFEDT_TMP/bin/bfed-service" <<EOF
#!/bin/bash
# Runs in the mount namespace of \`ip netns exec\`: what is mounted here stays here.
umask 0077
mount -t proc -o hidepid=invisible,subset=pid proc /proc || exit 1
mount --bind "$STATE" "$STATE" || exit 1
mount --bind "$RUNTIME" "$RUNTIME" || exit 1
findmnt -rno TARGET | while read -r m; do
        m=\$(printf '%b' "\$m")
        [[ "\$m" == "$STATE" || "\$m" == "$RUNTIME" ]] && continue
        mount -o remount,bind,ro "\$m" 2>/dev/null
done
exec setpriv --reuid=bfed --regid=bfed --clear-groups --no-new-privs \\
        --bounding-set=-all,+net_admin --inh-caps=-all,+net_admin --ambient-caps=-all,+net_admin \\
        ${seccomp[*]} "$BFEDT_TMP/bin/bfed" "\$@"
EOF
chmod 0755 "$BFEDT_TMP/bin/bfed-service"

bfedt_netns a
NS="$REPLY"
polkitd=/usr/lib/polkit-1/polkitd
polkit_policy=/usr/share/dbus-1/system.d/org.freedesktop.PolicyKit1.conf
with_firewalld=yes
if [[ ! -x "$polkitd" || ! -f "$polkit_policy" ]] || ! getent passwd polkitd >/dev/null; then
        with_firewalld="no: polkitd not installed"
elif ! command -v firewalld >/dev/null 2>&1 || [[ ! -f "$BFEDT_FIREWALLD_POLICY" ]]; then
        with_firewalld="no: firewalld not installed"
fi
# polkitd may own its name on the test's bus
cat >"$BFEDT_TMP/bus-extra.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <include ignore_missing="yes">$polkit_policy</include>
</busconfig>
EOF
bfedt_start_bus
BFED="$BFEDT_TMP/bin/bfed-service" bfedt_start_bfed "$NS" "StateDirectory=$STATE" "PrivateSocket=$RUNTIME/private"

# ---- who bfed is ---------------------------------------------------------------------------

owner_uid=$(busctl --address="$BUS_ADDR" call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
        GetConnectionUnixUser s "$BFED_NAME" | awk '{print $2}')
check_eq "org.bfed.Engine1 is owned by user bfed (the shipped policy lets it)" "$uid" "$owner_uid"

status_field() {
        awk -v k="$1:" '$1 == k { $1 = ""; sub(/^ /, ""); print; exit }' "/proc/$BFED_PID/status"
}
check_eq "bfed runs as bfed (real, effective, saved, fs uid)" "$uid $uid $uid $uid" "$(status_field Uid)"
check_eq "bfed has no supplementary groups" "" "$(status_field Groups)"
# CAP_NET_ADMIN is capability 12
for set in CapEff CapPrm CapAmb CapBnd; do
        check_eq "$set is CAP_NET_ADMIN alone" "0000000000001000" "$(status_field "$set")"
done
check_eq "no new privileges" "1" "$(status_field NoNewPrivs)"
check_eq "root's private socket is bfed's, 0600, in the runtime directory" "bfed 600" \
        "$(stat -c '%U %a' "$RUNTIME/private")"
check "root reaches bfed (user bfed) over it" env BFE_PRIVATE_SOCKET="$RUNTIME/private" "$BFECTL" status
if [[ "$use_seccomp" == yes ]]; then
        check_eq "a seccomp filter is in force" "2" "$(status_field Seccomp)"
fi
# mountinfo: MOUNTID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS ... - FSTYPE SOURCE SUPEROPTIONS
mounts="$BFEDT_TMP/bfed.mountinfo"
cp "/proc/$BFED_PID/mountinfo" "$mounts"
check "bfed's /proc hides other users' processes and is pids only" \
        grep -qE ' /proc [^ ]+ (.* )?- proc proc [^ ]*hidepid=invisible[^ ]*subset=pid' "$mounts"
check "bfed's / is read-only" grep -qE '^[0-9]+ [0-9]+ [^ ]+ / / ro[, ]' "$mounts"
check "bfed's state directory is writable" grep -qE " $STATE rw[, ]" "$mounts"

# ---- what it does --------------------------------------------------------------------------

check "its table is installed" nsnft list table inet "$TABLE"
check_eq "bfed reports no problem in its log" "" \
        "$(grep -iE 'permission denied|not permitted|read-only file system|access denied' "$BFED_LOG")"

ctx=$(ctl --json context add --name "ike main mode" --type ike-mm | jq -r .key)
check "root adds an IKE MM context" test -n "$ctx"
check "root adds an MM policy filter" ctl filter add --name "ike mm policy" --layer IKEEXT_V4 --context "$ctx"
check_eq "the exemptions are active" "true" "$(exemptions_active)"
check "their rules are in the kernel" bash -c "ip netns exec $NS nft list chain inet $TABLE inbound_transport_v4_universal | grep -q 'meta l4proto . th dport @ike_ports'"
check "the trace chains are too (bfed subscribed to the trace events)" nsnft list chain inet "$TABLE" ike_trace

prov=$(ctl --json provider add --name "kept" --persistent | jq -r .key)
check "root adds a persistent provider" test -n "$prov"
check "the state file is written" test -f "$STATE/state"
check_eq "the state file is bfed's, mode 0600 (UMask=0077)" "bfed 600" "$(stat -c '%U %a' "$STATE/state")"

as_nobody() {
        setpriv --reuid=nobody --regid="$(id -gn nobody)" --clear-groups --inh-caps=-all "$@"
}
if as_nobody env DBUS_SYSTEM_BUS_ADDRESS="$BUS_ADDR" "$BFECTL" provider add --name x >/dev/null 2>&1; then
        not_ok "nobody cannot add a provider"
else
        ok "nobody cannot add a provider"
fi
check "nobody can list the filters" jqq 'length > 0' < <(as_nobody env DBUS_SYSTEM_BUS_ADDRESS="$BUS_ADDR" \
        "$BFECTL" --json filter list)

check "bfed stops cleanly on SIGTERM" bfedt_stop_bfed
check "and removes its table" bash -c "! ip netns exec $NS nft list table inet $TABLE >/dev/null 2>&1"

BFED="$BFEDT_TMP/bin/bfed-service" bfedt_start_bfed "$NS" "StateDirectory=$STATE" "PrivateSocket=$RUNTIME/private"
check_eq "the persistent provider is back after a restart" "kept" "$(ctl --json provider show "$prov" | jq -r .name)"
check_eq "bfed reports no problem in its log after the restart" "" \
        "$(grep -iE 'permission denied|not permitted|read-only file system|access denied' "$BFED_LOG")"
check "bfed stops cleanly again" bfedt_stop_bfed

POLKITD_PID=
start_polkitd() {
        DBUS_SYSTEM_BUS_ADDRESS="$BUS_ADDR" "$polkitd" --no-debug >>"$BFEDT_TMP/polkitd.log" 2>&1 &
        POLKITD_PID=$!
        BFEDT_PIDS+=("$POLKITD_PID")
        bfedt_poll 10000 _name_has_owner org.freedesktop.PolicyKit1 || die "polkitd did not start"
}
stop_polkitd() {
        [[ -n "$POLKITD_PID" ]] || return 0
        kill -TERM "$POLKITD_PID" 2>/dev/null
        wait "$POLKITD_PID" 2>/dev/null
        POLKITD_PID=
        bfedt_poll 5000 _name_has_no_owner org.freedesktop.PolicyKit1
}
_name_has_owner() {
        [[ "$(busctl --address="$BUS_ADDR" call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
                NameHasOwner s "$1" 2>/dev/null)" == "b true" ]]
}
_name_has_no_owner() {
        ! _name_has_owner "$1"
}

# ---- bfed asks polkit about its callers ---------------------------------------------------------

if [[ ! -x "$polkitd" || ! -f "$polkit_policy" ]] || ! getent passwd polkitd >/dev/null; then
        diag "polkit: polkitd not installed"
        bfedt_done
fi

# polkitd reads bfed's actions file and the example rule from directories of this mount namespace
actions="$BFEDT_TMP/polkit-actions"
mkdir -p "$actions" || die "mkdir $actions"
cp /usr/share/polkit-1/actions/* "$actions/" 2>/dev/null
cp "$SOURCE_ROOT/conf/org.bfed.engine1.policy" "$actions/" || die "copy the actions file"
mount --bind "$actions" /usr/share/polkit-1/actions || die "bind the polkit actions"
etc_rules="$BFEDT_TMP/polkit-etc-rules"
mkdir -p "$etc_rules" || die "mkdir $etc_rules"
cp "$SOURCE_ROOT/conf/50-bfed-admins.rules.example" "$etc_rules/50-bfed-admins.rules" || die "copy the example"
chown -R polkitd "$etc_rules" && chmod 0700 "$etc_rules"
mkdir -p /etc/polkit-1/rules.d
mount --bind "$etc_rules" /etc/polkit-1/rules.d || die "bind the polkit rules in /etc"

# two callers, into the private passwd and group: one in the example's group netadmin
free_id() {
        local id=$1
        while getent passwd "$id" >/dev/null || getent group "$id" >/dev/null; do
                id=$((id + 1))
        done
        echo "$id"
}
admin_id=$(free_id 64100)
echo "bfedt-admin:x:$admin_id:$admin_id::/nonexistent:/usr/sbin/nologin" >>/etc/passwd
echo "bfedt-admin:x:$admin_id:" >>/etc/group
other_id=$(free_id $((admin_id + 1)))
echo "bfedt-other:x:$other_id:$other_id::/nonexistent:/usr/sbin/nologin" >>/etc/passwd
echo "bfedt-other:x:$other_id:" >>/etc/group
getent group netadmin >/dev/null || echo "netadmin:x:$(free_id $((other_id + 1))):bfedt-admin" >>/etc/group
check "bfedt-admin is in group netadmin" bash -c "id -nG bfedt-admin | grep -qw netadmin"
check "bfedt-other is not" bash -c "! id -nG bfedt-other | grep -qw netadmin"

as_user() {
        local u="$1"
        shift
        setpriv --reuid="$u" --regid="$u" --init-groups --inh-caps=-all env DBUS_SYSTEM_BUS_ADDRESS="$BUS_ADDR" "$@"
}
# user_error USER [BUSCTL OPTIONS...] METHOD SIG ARGS...: "NAME<TAB>MESSAGE" of the error, or SUCCEEDED
user_error() {
        local u="$1" out
        shift
        out=$(as_user "$u" env SYSTEMD_LOG_LEVEL=debug busctl --address="$BUS_ADDR" call "$BFED_NAME" "$BFED_PATH" \
                "$BFED_IFACE" "$@" 2>&1) && { echo SUCCEEDED; return; }
        bfedt_parse_error "$out"
}
n_filters() {
        ctl --json filter list | jq length
}

start_polkitd
BFED="$BFEDT_TMP/bin/bfed-service" bfedt_start_bfed "$NS" "StateDirectory=$STATE" "PrivateSocket=$RUNTIME/private"
check_eq "polkitd knows bfed's action" "org.bfed.engine1.manage" \
        "$(DBUS_SYSTEM_BUS_ADDRESS="$BUS_ADDR" pkaction --action-id org.bfed.engine1.manage 2>/dev/null | head -n1 |
                sed 's/:$//')"

ctx=$(as_user bfedt-admin "$BFECTL" --json context add --name "admin's mm" --type ike-mm | jq -r .key)
check "a member of netadmin adds a context" test -n "$ctx"
check "a member of netadmin adds a filter" \
        as_user bfedt-admin "$BFECTL" filter add --name "admin's mm policy" --layer IKEEXT_V4 --context "$ctx"
check_eq "the filter is there" "1" \
        "$(ctl --json filter list | jq '[.[] | select(.name == "admin'"'"'s mm policy")] | length')"
check "polkit asked nothing of root's calls: root adds a filter" \
        ctl filter add --name "root's block" --layer INBOUND_TRANSPORT_V4 --action block
before=$(n_filters)

err=$(user_error bfedt-other --allow-interactive-authorization=no AddFilter 'a{sv}' 3 Name s x Layer s \
        INBOUND_TRANSPORT_V4 Action u 4097)
check_eq "another user, not allowing interaction: InteractiveAuthorizationRequired (auth_admin_keep)" \
        "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired" "$(cut -f1 <<<"$err")"
check "its message names the action" grep -q 'org\.bfed\.engine1\.manage' <<<"$err"
err=$(user_error bfedt-other OpenSession 'a{sv}' 0)
check_eq "another user, allowing interaction, with no authentication agent: AccessDenied" \
        "org.freedesktop.DBus.Error.AccessDenied" "$(cut -f1 <<<"$err")"
if as_user bfedt-other "$BFECTL" filter add --name "other's" --layer INBOUND_TRANSPORT_V4 --action block \
        >/dev/null 2>&1; then
        not_ok "another user cannot add a filter with bfectl"
else
        ok "another user cannot add a filter with bfectl"
fi
check_eq "another user can read" "$before" "$(as_user bfedt-other "$BFECTL" --json filter list | jq length)"
check_eq "nothing changed" "$before" "$(n_filters)"
check "bfed logged the refusals at notice, with the caller's uid" \
        grep -qE "notice: Refused AddFilter from :[0-9.]+ \(uid $other_id, pid [0-9]+\): polkit" "$BFED_LOG"

stop_polkitd
check "without polkitd, root still adds a filter" ctl filter add --name "root's 2" --layer INBOUND_TRANSPORT_V4 \
        --action block
err=$(user_error bfedt-admin AddFilter 'a{sv}' 3 Name s x Layer s INBOUND_TRANSPORT_V4 Action u 4097)
check_eq "without polkitd, the member of netadmin is refused" "org.freedesktop.DBus.Error.AccessDenied" \
        "$(cut -f1 <<<"$err")"
check "bfed stops" bfedt_stop_bfed

# ---- firewalld asks polkit about user bfed ----------------------------------------------------

if [[ "$with_firewalld" != yes ]]; then
        diag "firewalld through polkit: $with_firewalld"
        bfedt_done
fi

# polkitd reads the rules of a directory of the test's own (this mount namespace's), with or
# without bfed's rule
rules="$BFEDT_TMP/polkit-rules"
mkdir -p "$rules" || die "mkdir $rules"
cp /usr/share/polkit-1/rules.d/* "$rules/" 2>/dev/null
chmod 0755 "$rules"
mount --bind "$rules" /usr/share/polkit-1/rules.d || die "bind the polkit rules"

# public_ports: the runtime ports of firewalld's zone public, "500/udp,…"
public_ports() {
        busctl --address="$BUS_ADDR" --json=short call org.fedoraproject.FirewallD1 /org/fedoraproject/FirewallD1 \
                org.fedoraproject.FirewallD1.zone getPorts s public | jq -r '[.data[0][] | join("/")] | join(",")'
}
_public_ports_are() {
        [[ "$(public_ports)" == "$1" ]]
}
add_mm_policy() {
        local c
        c=$(ctl --json context add --name "ike main mode" --type ike-mm | jq -r .key) &&
                ctl filter add --name "ike mm policy" --layer IKEEXT_V4 --context "$c" >/dev/null
}

start_polkitd
bfedt_start_firewalld "$NS"
BFED="$BFEDT_TMP/bin/bfed-service" bfedt_start_bfed "$NS" "StateDirectory=$STATE" \
        "PrivateSocket=$RUNTIME/private" Firewalld=yes
check "without bfed's polkit rule: an MM policy" add_mm_policy
check "firewalld refuses bfed's opening (bfed logs it)" \
        bfedt_wait_log 'firewalld.*(NotAuthorized|not authorized|AccessDenied)' 1 10000
check_eq "UDP 500 stays closed in zone public" "" "$(public_ports)"
check "bfed stops" bfedt_stop_bfed

stop_polkitd
cp "$SOURCE_ROOT/conf/50-bfed-firewalld.rules" "$rules/" || die "copy the rule"
start_polkitd
BFED="$BFEDT_TMP/bin/bfed-service" bfedt_start_bfed "$NS" "StateDirectory=$STATE" \
        "PrivateSocket=$RUNTIME/private" Firewalld=yes
check "with bfed's polkit rule: an MM policy" add_mm_policy
if bfedt_poll 10000 _public_ports_are 500/udp; then
        ok "firewalld takes bfed's opening of UDP 500 in zone public"
else
        not_ok "firewalld takes bfed's opening of UDP 500 in zone public (ports: '$(public_ports)')"
fi
check "bfed stops" bfedt_stop_bfed
check_eq "and took it back" "" "$(public_ports)"
bfedt_stop_firewalld
stop_polkitd

bfedt_done
