# SPDX-License-Identifier: LGPL-2.1-or-later
# lib.sh — shared harness for bfed's integration tests (and scripts/demo).
#
# Source it from a bash script. It provides:
#   bfedt_require_root               exit 77 (meson SKIP) when the machine cannot run us
#   bfedt_init                       temp dir + cleanup trap
#   bfedt_netns NAME                 a network namespace "bfedt-<pid>-NAME", lo up
#   bfedt_start_bus                  a private system-type dbus-daemon with our policy
#   bfedt_open_bus_policy / _close_bus_policy  everybody may call bfed / the shipped policy again
#   bfedt_start_bfed NS [KEY=VAL..]  bfed inside NS, config keys in [Engine], waits for the bus
#   bfedt_stop_bfed                  SIGTERM the daemon and wait for it
#   bus / bus_json / bus_call_error  busctl against the private bus (see below)
#   ctl                              bfectl against the private bus
#   nsnft                            nft inside the daemon's namespace
#   ok / not_ok / check / bfedt_done TAP-like reporting; exit status
#   bfedt_veth / bfedt_udp_deliver   a veth pair between two namespaces; real UDP over it
#   bfedt_two_hosts N                namespaces a and b on a veth pair, IPv4 and IPv6 addresses
#   bfedt_resolve_neigh NS ADDR...   a datagram from NS to each ADDR, until NS has resolved them
#   bfedt_expect_udp                 a check that such datagrams arrive, or do not
#   bfedt_clear_database             delete every filter, context, sublayer and provider added
#   bfedt_lose_events / _resume_events  make bfed's nftables monitor lose events, and go on
#   bfedt_start_firewalld NS / _stop_firewalld  the real firewalld inside NS, on the private bus
#   bfedt_charon_config / _start_charon / _kill_charon / swan  a real charon (strongSwan) inside a
#                                    namespace, with a configuration and vici socket of its own
#
# Waiting for state, never for time (see below for each):
#   bfedt_poll TIMEOUT_MS CMD...     run CMD every 20 ms until it succeeds; 1 on timeout
#   bfedt_wait_line FILE REGEX [MS]  a line of FILE matches REGEX (a process got somewhere)
#   bfedt_wait_neigh NS ADDR         NS has resolved ADDR's link-layer address (after a send to it)
#   bfedt_log_count / bfedt_wait_log  lines of the daemon's log matching a regex; wait for N of them
#   bfedt_bus_name PID               the unique bus name of PID's connection
#   bfedt_wait_peer_gone NAME        the bus dropped connection NAME, and bfed has handled that
#   bfedt_monitor / _sync / _stop    bfectl --json monitor; _sync returns once it has printed
#                                    every Changed signal bfed sent before the call
#   bfedt_nft_monitor / _stop        `nft monitor` in the daemon's namespace, subscribed; _stop
#                                    after it printed every event before a marker commit
#
# Environment (from meson, or set by hand): BFED, BFECTL, UDP_PROBE, DBUS_POLICY,
# SOURCE_ROOT. Unset ones default to the build tree guesses below.

set -uo pipefail

: "${SOURCE_ROOT:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${DBUS_POLICY:=$SOURCE_ROOT/conf/org.bfed.Engine1.conf}"
: "${BFED:=$SOURCE_ROOT/build/src/daemon/bfed}"
: "${BFECTL:=$SOURCE_ROOT/build/src/ctl/bfectl}"
: "${UDP_PROBE:=$SOURCE_ROOT/build/tests/tools/udp-probe}"
BFEDT_FIREWALLD_POLICY=/usr/share/dbus-1/system.d/FirewallD.conf

BFED_NAME=org.bfed.Engine1
BFED_PATH=/org/bfed/Engine1
BFED_IFACE=org.bfed.Engine1
TABLE=bfed

BFEDT_TMP=
BFEDT_NETNS=()
BFEDT_PIDS=()
BUS_ADDR=
BUS_PID=
BFED_PID=
FIREWALLD_PID=
declare -A BFEDT_CHARON_PIDS=() BFEDT_CHARON_NS=()
NS=

# ---- reporting ------------------------------------------------------------------------------

source "$(dirname "${BASH_SOURCE[0]}")/../tap.sh"

# jqq FILTER [ARGS...]: jq -e, quietly (for check).
jqq() {
        jq -e "$@" >/dev/null
}

diag() {
        echo "# $*"
}

skip_all() {
        echo "SKIP: $*"
        exit 77
}

# Last call of a test: prints the tally (the plain "N passed, N failed" line) and exits.
bfedt_done() {
        local passed=$((TAP_CHECKS - TAP_FAILURES))
        echo "$passed passed, $TAP_FAILURES failed"
        if ((TAP_FAILURES > 0)); then
                bfedt_dump_logs
                exit 1
        fi
        exit 0
}

die() {
        echo "not ok - $*"
        bfedt_dump_logs
        exit 1
}

bfedt_dump_logs() {
        local f
        [[ -n "$BFEDT_TMP" && -d "$BFEDT_TMP" ]] || return 0
        for f in "$BFEDT_TMP"/bfed*.log "$BFEDT_TMP"/firewalld*.log "$BFEDT_TMP"/charon*.log "$BFEDT_TMP"/dbus.log; do
                [[ -s "$f" ]] || continue
                echo "# ---- $(basename "$f") ----"
                sed 's/^/#   /' "$f" | tail -n 80
        done
}

# ---- environment ----------------------------------------------------------------------------

bfedt_require_root() {
        local t
        [[ $(id -u) -eq 0 ]] || skip_all "needs root"
        unshare -n true 2>/dev/null || skip_all "cannot create network namespaces (unshare -n failed)"
        for t in ip nft jq busctl dbus-daemon; do
                command -v "$t" >/dev/null 2>&1 || skip_all "$t not installed"
        done
        # a missing binary of our own is a failure, not a reason to skip
        [[ -x "$BFED" ]] || die "bfed not built ($BFED)"
        [[ -f "$DBUS_POLICY" ]] || die "D-Bus policy not found ($DBUS_POLICY)"
}

bfedt_require_bfectl() {
        [[ -x "$BFECTL" ]] || die "bfectl not built ($BFECTL)"
}

bfedt_cleanup() {
        local pid ns
        set +e
        if [[ -n "$BFED_PID" ]] && kill -0 "$BFED_PID" 2>/dev/null; then
                kill -CONT "$BFED_PID" 2>/dev/null   # bfedt_lose_events may have left it stopped
                kill -TERM "$BFED_PID" 2>/dev/null
                for _ in $(seq 50); do kill -0 "$BFED_PID" 2>/dev/null || break; sleep 0.1; done
                kill -KILL "$BFED_PID" 2>/dev/null
        fi
        for pid in "${BFEDT_PIDS[@]}" $FIREWALLD_PID "${BFEDT_CHARON_PIDS[@]}"; do
                # one stopped by a signal (scripts/bench's P7 servers) takes the TERM when continued;
                # only those: a SIGCONT while a sanitizer build's leak check stops its own threads at
                # exit leaves that process spinning for ever. The state follows the ") " of the name.
                local stat
                stat=$(cat "/proc/$pid/stat" 2>/dev/null)
                stat=${stat##*) }
                kill -TERM "$pid" 2>/dev/null
                [[ "${stat%% *}" == T ]] && kill -CONT "$pid" 2>/dev/null
        done
        if [[ -n "$BUS_PID" ]]; then
                kill -TERM "$BUS_PID" 2>/dev/null
        fi
        wait 2>/dev/null
        for ns in "${BFEDT_NETNS[@]}"; do
                ip netns delete "$ns" 2>/dev/null
        done
        if [[ -n "$BFEDT_TMP" && -d "$BFEDT_TMP" ]]; then
                rm -rf "$BFEDT_TMP"
        fi
}

bfedt_init() {
        BFEDT_TMP=$(mktemp -d /tmp/bfedt.XXXXXX) || die "mktemp"
        # the bus socket inside must be reachable by the unprivileged-caller test
        chmod 0755 "$BFEDT_TMP"
        # root's clients (libbfe) go through the bus unless a test points them at bfed's private
        # socket, $BFEDT_TMP/private (BFEDT_PRIVATE=1 does for every test): never at a bfed of the
        # host's (/run/bfed/private)
        if [[ -n "${BFEDT_PRIVATE:-}" ]]; then
                export BFE_PRIVATE_SOCKET="$BFEDT_TMP/private"
        else
                export BFE_PRIVATE_SOCKET=
        fi
        trap bfedt_cleanup EXIT
        trap 'exit 130' INT TERM
}

# bfedt_netns NAME: creates namespace bfedt-<pid>-NAME with lo up, prints its name.
bfedt_netns() {
        local name="bfedt-$$-$1"
        ip netns add "$name" || die "ip netns add $name"
        BFEDT_NETNS+=("$name")
        ip -n "$name" link set lo up || die "lo up in $name"
        REPLY="$name"
}

# ---- the private bus ------------------------------------------------------------------------

bfedt_write_bus_config() {
        local cfg="$1"
        cat >"$cfg" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<!-- bfed integration tests: the essentials of Debian's system.conf on a private socket. -->
<busconfig>
  <type>system</type>
  <auth>EXTERNAL</auth>
  <listen>unix:path=$BFEDT_TMP/bus</listen>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus" />
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Properties"/>
    <deny send_destination="org.freedesktop.DBus"
          send_interface="org.freedesktop.DBus"
          send_member="UpdateActivationEnvironment"/>
  </policy>
  <policy user="root">
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Monitoring"/>
    <!-- not in system.conf: the harness pings its own clients (bfedt_monitor_sync) -->
    <allow send_interface="org.freedesktop.DBus.Peer" send_member="Ping"/>
  </policy>
  <include>$(realpath "$DBUS_POLICY")</include>
  <!-- firewalld's own policy, where Debian's package put it (bfedt_start_firewalld) -->
  <include ignore_missing="yes">$BFEDT_FIREWALLD_POLICY</include>
  <!-- tests may add policy here and call ReloadConfig -->
  <include ignore_missing="yes">$BFEDT_TMP/bus-extra.conf</include>
</busconfig>
EOF
}

bfedt_start_bus() {
        local cfg="$BFEDT_TMP/bus.conf"
        bfedt_write_bus_config "$cfg"
        dbus-daemon --nofork --nopidfile --print-address --config-file="$cfg" \
                >"$BFEDT_TMP/bus.address" 2>"$BFEDT_TMP/dbus.log" &
        BUS_PID=$!
        for _ in $(seq 50); do
                [[ -s "$BFEDT_TMP/bus.address" ]] && break
                kill -0 "$BUS_PID" 2>/dev/null || break
                sleep 0.1
        done
        [[ -s "$BFEDT_TMP/bus.address" ]] || die "dbus-daemon did not start"
        chmod 0666 "$BFEDT_TMP/bus" 2>/dev/null
        BUS_ADDR="unix:path=$BFEDT_TMP/bus"
        export DBUS_SYSTEM_BUS_ADDRESS="$BUS_ADDR"
}

# bfedt_reload_bus: makes dbus-daemon re-read its configuration (after writing bus-extra.conf).
bfedt_reload_bus() {
        busctl --address="$BUS_ADDR" call org.freedesktop.DBus /org/freedesktop/DBus \
                org.freedesktop.DBus ReloadConfig >/dev/null
}

# bfedt_open_bus_policy: lets everybody call bfed (bus-extra.conf), so that only bfed's own check
# of the caller stands in the way; bfedt_close_bus_policy: the shipped policy alone again.
bfedt_open_bus_policy() {
        cat >"$BFEDT_TMP/bus-extra.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <policy context="default">
    <allow send_destination="$BFED_NAME"/>
  </policy>
</busconfig>
EOF
        bfedt_reload_bus
}
bfedt_close_bus_policy() {
        rm -f "$BFEDT_TMP/bus-extra.conf"
        bfedt_reload_bus
}

# ---- the daemon -----------------------------------------------------------------------------

# bfedt_start_bfed NS [KEY=VALUE...]: writes a config with the given [Engine] keys, starts bfed
# in namespace NS and waits (5 s at most) until it answers on the bus.
bfedt_start_bfed() {
        local ns="$1" kv i
        shift
        NS="$ns"
        BFEDT_BFED_RUNS=$(( ${BFEDT_BFED_RUNS:-0} + 1 ))
        BFED_CONFIG="$BFEDT_TMP/bfed.conf"
        BFED_LOG="$BFEDT_TMP/bfed.$BFEDT_BFED_RUNS.log"
        {
                echo "[Engine]"
                # persistent objects go to the test's own directory unless the test names one
                [[ " $* " == *" StateDirectory="* ]] || echo "StateDirectory=$BFEDT_TMP/state"
                [[ " $* " == *" PrivateSocket="* ]] || echo "PrivateSocket=$BFEDT_TMP/private"
                for kv in "$@"; do
                        echo "$kv"
                        [[ "$kv" == Table=* ]] && TABLE="${kv#Table=}"
                done
        } >"$BFED_CONFIG"

        ip netns exec "$ns" env DBUS_SYSTEM_BUS_ADDRESS="$BUS_ADDR" \
                "$BFED" --config "$BFED_CONFIG" 2>"$BFED_LOG" >&2 &
        BFED_PID=$!

        for i in $(seq 50); do
                if ! kill -0 "$BFED_PID" 2>/dev/null; then
                        wait "$BFED_PID"
                        die "bfed exited during start-up (status $?)"
                fi
                if busctl --address="$BUS_ADDR" get-property "$BFED_NAME" "$BFED_PATH" "$BFED_IFACE" \
                        Version >/dev/null 2>&1; then
                        return 0
                fi
                sleep 0.1
        done
        die "bfed did not answer on the bus within 5 s"
}

# bfedt_stop_bfed: SIGTERM, wait up to 5 s; returns the daemon's exit status.
bfedt_stop_bfed() {
        local rc
        [[ -n "$BFED_PID" ]] || return 0
        kill -TERM "$BFED_PID" 2>/dev/null
        for _ in $(seq 50); do
                kill -0 "$BFED_PID" 2>/dev/null || break
                sleep 0.1
        done
        if kill -0 "$BFED_PID" 2>/dev/null; then
                kill -KILL "$BFED_PID"
                wait "$BFED_PID" 2>/dev/null
                BFED_PID=
                return 124
        fi
        wait "$BFED_PID"
        rc=$?
        BFED_PID=
        return "$rc"
}

# ---- talking to it --------------------------------------------------------------------------

# bus METHOD SIGNATURE ARGS...: busctl call on the engine object (plain text output).
bus() {
        local method="$1"
        shift
        busctl --address="$BUS_ADDR" call "$BFED_NAME" "$BFED_PATH" "$BFED_IFACE" "$method" "$@"
}

# bus_json METHOD SIGNATURE ARGS...: the same, with --json=short output ({"type":…,"data":[…]}).
bus_json() {
        local method="$1"
        shift
        busctl --address="$BUS_ADDR" --json=short call "$BFED_NAME" "$BFED_PATH" "$BFED_IFACE" "$method" "$@"
}

# bus_error METHOD SIGNATURE ARGS...: runs the call, which must fail; prints
# "ERRORNAME<TAB>MESSAGE" of the error reply (sd-bus logs it at debug level). Returns 1 when
# the call succeeded.
bus_error() {
        local method="$1" out
        shift
        if out=$(SYSTEMD_LOG_LEVEL=debug busctl --address="$BUS_ADDR" call "$BFED_NAME" "$BFED_PATH" \
                        "$BFED_IFACE" "$method" "$@" 2>&1); then
                return 1
        fi
        bfedt_parse_error "$out"
}

# bfedt_parse_error TEXT: extracts the error name and message from sd-bus debug output
# ("Got message type=error sender=S ... error-name=N error-message=M"; M may itself contain
# "name=value" text, so the first occurrence of each field counts).
bfedt_parse_error() {
        local line name msg
        line=$(grep -E 'type=error .*error-name=' <<<"$1" | tail -n1)
        if [[ -z "$line" ]]; then
                printf 'UNKNOWN\t%s\n' "$(grep -m1 'Call failed' <<<"$1")"
                return
        fi
        name=${line#* error-name=}
        name=${name%% *}
        msg=${line#* error-message=}
        printf '%s\t%s\n' "$name" "$msg"
}

# bfedt_error_sender TEXT: who sent the error reply (org.freedesktop.DBus for a policy denial).
bfedt_error_sender() {
        local line
        line=$(grep -E 'type=error .*error-name=' <<<"$1" | tail -n1)
        line=${line#*type=error sender=}
        echo "${line%% *}"
}

# getprop NAME: value of an engine property, busctl text ("b true", "s \"0.1.0\"").
getprop() {
        busctl --address="$BUS_ADDR" get-property "$BFED_NAME" "$BFED_PATH" "$BFED_IFACE" "$1"
}

exemptions_active() {
        getprop ExemptionsActive | awk '{print $2}'
}

# obstacles: the ExemptionObstacles property as a JSON array of [table, chain, what].
obstacles() {
        busctl --address="$BUS_ADDR" --json=short get-property "$BFED_NAME" "$BFED_PATH" "$BFED_IFACE" \
                ExemptionObstacles | jq -c '.data'
}

# obstacles_match JQ: the property passes the jq test JQ (. is the array).
obstacles_match() {
        jqq "$1" <<<"$(obstacles)"
}

# ctl ARGS...: bfectl against the private bus.
ctl() {
        DBUS_SYSTEM_BUS_ADDRESS="$BUS_ADDR" "$BFECTL" "$@"
}

# nsnft ARGS...: nft inside the daemon's namespace.
nsnft() {
        ip netns exec "$NS" nft "$@"
}

# ---- D-Bus helpers for the common objects ---------------------------------------------------

# add_context NAME TYPE: AddProviderContext via busctl; prints the key.
add_context() {
        bus_json AddProviderContext 'a{sv}' 2 Name s "$1" Type u "$2" | jq -r '.data[0]'
}

# add_mm_filter NAME LAYER CONTEXTKEY: a permit filter referencing the context; prints "KEY ID".
add_ctx_filter() {
        bus_json AddFilter 'a{sv}' 4 Name s "$1" Layer s "$2" Action u 4098 ProviderContextKey s "$3" |
                jq -r '.data | "\(.[0]) \(.[1])"'
}

# add_block_udp NAME LAYER [WEIGHTRANGE]: block all UDP at LAYER; prints "KEY ID".
add_block_udp() {
        bus_json AddFilter 'a{sv}' 5 Name s "$1" Layer s "$2" Action u 4097 \
                Weight y "${3:-0}" Conditions 'a(sus)' 1 IP_PROTOCOL 0 udp |
                jq -r '.data | "\(.[0]) \(.[1])"'
}

# enum_filters: EnumFilters with an empty template, as a JSON array of plain objects
# ({"Name":"…","Id":5,"EngineOwned":true,…}).
enum_filters() {
        bus_json EnumFilters 'a{sv}' 0 |
                jq -c '[.data[0][] | with_entries(.value = .value.data)]'
}

# engine_owned_ids: ids of the engine-owned (exemption) filters, one a line.
engine_owned_ids() {
        enum_filters | jq -r '.[] | select(.EngineOwned == true) | .Id'
}

# ---- nftables views -------------------------------------------------------------------------

# ruleset_json: `nft -j list ruleset` in the daemon's namespace.
ruleset_json() {
        nsnft -j list ruleset
}

# ruleset_stripped: the JSON ruleset with counters zeroed and metainfo dropped, one object a
# line, for before/after comparisons.
ruleset_stripped() {
        ruleset_json | jq -c '.nftables[] | select(has("metainfo") | not)
                | walk(if type == "object" and has("counter") and (.counter | type) == "object"
                       then .counter = {} else . end)'
}

# rules_tsv: one line per rule of our table:
#   CHAIN <TAB> FILTERID <TAB> TERMS <TAB> VERDICT
# TERMS are the rule's matches, normalised and sorted ("ct.direction=reply udp.sport=500,4500"; a
# named set of the table, such as @ike_ports, is replaced by its elements; `meta l4proto . th
# sport` looked up in elements of one protocol, udp, is udp.sport, as nft writes `udp sport`),
# FILTERID is the number from the "filter <id>: <name>" comment (or "-").
JQ_RULES='
([ .nftables[] | select(has("set")) | .set | select(.table == $table) | {key: .name, value: (.elem // [])} ]
 | from_entries) as $sets
| def val:
  if type == "object" and has("set") then [.set[] | val] | map(tostring) | sort_by(tonumber? // .) | join(",")
  elif type == "string" and startswith("@") then {set: $sets[.[1:]]} | val
  elif type == "object" and has("range") then (.range | map(tostring) | join("-"))
  elif type == "object" and has("prefix") then "\(.prefix.addr)/\(.prefix.len)"
  elif type == "array" then map(val) | join(",")
  else tostring end;
def lhs:
  if has("payload") then "\(.payload.protocol // "raw").\(.payload.field // "raw")"
  elif has("meta") then "meta.\(.meta.key)"
  elif has("ct") then "ct.\(.ct.key)"
  elif has("socket") then "socket.\(.socket.key)"
  else (keys[0]) end;
def op: if (.match.op == "==" or .match.op == "in") then "=" else .match.op end;
def rows: if type == "string" and startswith("@") then $sets[.[1:]] elif type == "object" and has("set") then .set
  else [.] end | map(if type == "object" and has("elem") then .elem.val else . end)
  | map(if type == "object" and has("concat") then .concat else [.] end);
def term:
  if has("match") and (.match.left | type == "object" and has("concat")) then
    # a concatenation: `meta l4proto . th dport` of one protocol P is P.dport, as nft writes
    # `udp dport`; otherwise a term per field with the values it takes
    (.match.left.concat | map(lhs)) as $l | (.match.right | rows) as $r | op as $op
    | if ($l | length) == 2 and $l[0] == "meta.l4proto" and ($l[1] | startswith("th.")) and
         ([$r[][0]] | unique | length) == 1
      then "\($r[0][0]).\($l[1][3:])\($op)\([$r[][1]] | val)"
      else range(0; $l | length) as $i | "\($l[$i])\($op)\([$r[][$i]] | unique | val)" end
  elif has("match") then
    "\(.match.left | lhs)\(op)\(.match.right | val)"
  else empty end;
def verdict:
  [ .[] | (if has("accept") then "accept" elif has("drop") then "drop"
           elif has("return") then "return"
           elif has("jump") then "jump:\(.jump.target)" elif has("goto") then "goto:\(.goto.target)"
           else empty end) ] | join(",");
.nftables[] | select(has("rule")) | .rule | select(.table == $table)
| [ .chain,
    ((.comment // "") | capture("^filter (?<id>[0-9]+):") | .id) // "-",
    ([ .expr[] | term ] | sort | join(" ")),
    (.expr | verdict) ] | @tsv
'
rules_tsv() {
        ruleset_json | jq -r --arg table "$TABLE" "$JQ_RULES"
}

# exempt_ports TSVFILE CHAIN FIELD [REQUIRED_TERM...]: union of the ports matched on FIELD
# (udp.dport / udp.sport) by the accept rules of the engine-owned filters (ids in
# $EXEMPT_IDS) in CHAIN that also carry every REQUIRED_TERM; sorted, comma-separated.
exempt_ports() {
        local tsv="$1" chain="$2" field="$3"
        shift 3
        awk -F'\t' -v chain="$chain" -v field="$field" -v ids=" $EXEMPT_IDS " -v req="$*" '
                $1 == chain && $4 == "accept" && index(ids, " " $2 " ") {
                        n = split($3, t, " ")
                        nr = split(req, r, " ")
                        okr = 1
                        for (j = 1; j <= nr; j++) {
                                found = 0
                                for (i = 1; i <= n; i++) if (t[i] == r[j]) found = 1
                                if (!found) okr = 0
                        }
                        if (!okr) next
                        for (i = 1; i <= n; i++) {
                                if (index(t[i], field "=") == 1) {
                                        np = split(substr(t[i], length(field) + 2), p, ",")
                                        for (k = 1; k <= np; k++) ports[p[k]] = 1
                                }
                        }
                }
                END { for (x in ports) print x }' "$tsv" | sort -n | paste -sd, -
}

# ---- two namespaces and real UDP ------------------------------------------------------------

# bfedt_veth NS_A NS_B A4/LEN B4/LEN [A6/LEN B6/LEN]: a veth pair between the namespaces,
# named veth0 on both sides, with the given addresses (test-only, reachable only between the
# two namespaces), up.
bfedt_veth() {
        local a="$1" b="$2" tmp="vbt$$" n=0
        while ip link show "${tmp}a$n" >/dev/null 2>&1; do n=$((n + 1)); done
        ip link add "${tmp}a$n" netns "$a" type veth peer name "${tmp}b$n" netns "$b" || die "veth pair"
        ip -n "$a" link set "${tmp}a$n" name veth0 || die "veth name in $a"
        ip -n "$b" link set "${tmp}b$n" name veth0 || die "veth name in $b"
        ip -n "$a" addr add "$3" dev veth0 || die "address $3"
        ip -n "$b" addr add "$4" dev veth0 || die "address $4"
        if [[ $# -ge 6 ]]; then
                ip -n "$a" addr add "$5" dev veth0 nodad || die "address $5"
                ip -n "$b" addr add "$6" dev veth0 nodad || die "address $6"
        fi
        ip -n "$a" link set veth0 up || die "veth0 up in $a"
        ip -n "$b" link set veth0 up || die "veth0 up in $b"
}

# bfedt_two_hosts N: namespaces "a" (NS_A, bfed's) and "b" (NS_B, the peer) on a veth pair
# (bfedt_veth), with A4=10.20N.0.1 and B4=10.20N.0.2 (/24), A6=fd00:bfed:N::1 and
# B6=fd00:bfed:N::2 (/64).
bfedt_two_hosts() {
        bfedt_netns a
        NS_A=$REPLY
        bfedt_netns b
        NS_B=$REPLY
        A4=10.20$1.0.1
        B4=10.20$1.0.2
        A6=fd00:bfed:$1::1
        B6=fd00:bfed:$1::2
        bfedt_veth "$NS_A" "$NS_B" "$A4/24" "$B4/24" "$A6/64" "$B6/64"
}

# bfedt_resolve_neigh NS ADDR...: a datagram from NS to each ADDR (port 9), then waits until NS
# has resolved them all (bfedt_wait_neigh), so that no probe waits for ARP/ND later; dies if
# it does not.
bfedt_resolve_neigh() {
        local ns="$1" addr
        shift
        for addr in "$@"; do
                ip netns exec "$ns" "$UDP_PROBE" send --to "$addr" --port 9 --payload warmup
        done
        for addr in "$@"; do
                bfedt_wait_neigh "$ns" "$addr" ||
                        die "neighbour resolution did not finish: $(ip -n "$ns" neigh show | paste -sd';')"
        done
}

# bfedt_wait_neigh NS ADDR [TIMEOUT_MS]: waits (5 s) until NS's neighbour table has ADDR's
# link-layer address (after a datagram to ADDR started the resolution), so that later datagrams
# do not wait for ARP/ND. Returns 1 on timeout.
bfedt_wait_neigh() {
        bfedt_poll "${3:-5000}" _bfedt_neigh_resolved "$1" "$2"
}
_bfedt_neigh_resolved() {
        [[ "$(ip -n "$1" neigh show to "$2" 2>/dev/null)" == *" lladdr "* ]]
}

# ---- a UDP stream through a change of the table -------------------------------------------------
#
# bfedt_stream_start NS PEER ADDR BLOCKED OPEN: receivers on ADDR's ports BLOCKED and OPEN in NS,
# and a sender in PEER of ~200 datagrams a second alternating the two (bash's /dev/udp; read -t
# paces it without a fork). bfedt_stream_received: how many of the stream the open port has had;
# bfedt_stream_received_at_least N, for bfedt_poll. bfedt_stream_stop: the sender sends "end" to
# the open port (one veth, in order: once it arrives, so has everything before it), then
# STREAM_SENT, STREAM_BLOCKED (datagrams the blocked port got) and STREAM_OPEN are set, and the
# check that "end" came is made.
bfedt_stream_start() {
        local ns="$1" peer="$2" addr="$3" blocked="$4" open="$5"
        _STREAM_R0="$BFEDT_TMP/stream-$blocked" _STREAM_R1="$BFEDT_TMP/stream-$open"
        _STREAM_STOP="$BFEDT_TMP/stream-stop" _STREAM_COUNT="$BFEDT_TMP/stream-sent"
        rm -f "$_STREAM_STOP" "$_STREAM_COUNT"
        ip netns exec "$ns" "$UDP_PROBE" recv --bind "$addr" --port "$blocked" --count 1000000 --timeout-ms 30000 \
                >"$_STREAM_R0" 2>&1 &
        _STREAM_PIDS=($!)
        ip netns exec "$ns" "$UDP_PROBE" recv --bind "$addr" --port "$open" --count 1000000 --timeout-ms 30000 \
                >"$_STREAM_R1" 2>&1 &
        _STREAM_PIDS+=($!)
        BFEDT_PIDS+=("${_STREAM_PIDS[@]}")
        bfedt_wait_line "$_STREAM_R0" '^ready' && bfedt_wait_line "$_STREAM_R1" '^ready' ||
                die "udp-probe receivers did not start"
        ip netns exec "$peer" bash -c '
                exec {fd}<> <(:)
                n=0
                while [[ ! -e "$1" ]]; do
                        echo "seq $n" >/dev/udp/$3/$(( n % 2 ? $5 : $4 )) 2>/dev/null
                        n=$((n + 1))
                        read -t 0.005 -u "$fd"
                done
                echo "$n" >"$2"
                echo "end" >/dev/udp/$3/$5' _ "$_STREAM_STOP" "$_STREAM_COUNT" "$addr" "$blocked" "$open" &
        _STREAM_SENDER=$!
        BFEDT_PIDS+=("$_STREAM_SENDER")
}

bfedt_stream_received() {
        grep -c '^from .*: seq ' "$_STREAM_R1" 2>/dev/null || true
}

bfedt_stream_received_at_least() {
        (($(bfedt_stream_received) >= $1))
}

bfedt_stream_stop() {
        touch "$_STREAM_STOP"
        wait "$_STREAM_SENDER"
        check "the open port got the sender's last datagram" bfedt_wait_line "$_STREAM_R1" ': end ?$' 5000
        kill "${_STREAM_PIDS[@]}" 2>/dev/null
        wait "${_STREAM_PIDS[@]}" 2>/dev/null
        STREAM_SENT=$(cat "$_STREAM_COUNT" 2>/dev/null || echo 0)
        STREAM_BLOCKED=$(grep -c '^from ' "$_STREAM_R0" || true)
        STREAM_OPEN=$(bfedt_stream_received)
}

# bfedt_udp_deliver RECV_NS SEND_NS DST PORT SPORT TIMEOUT_MS [WRAPPER...]: a udp-probe
# receiver on DST:PORT in RECV_NS, three datagrams to it from SEND_NS (from source port SPORT,
# 0 = any), the sender run under WRAPPER if given (e.g. setpriv ...; $UDP_PROBE must then be
# executable by that user). Returns 0 when the datagram arrived within TIMEOUT_MS, 1 when it
# did not (also when the sender's own output hook dropped it), 2 when a probe failed.
bfedt_udp_deliver() {
        local rns="$1" sns="$2" dst="$3" port="$4" sport="$5" timeout="$6" out pid
        shift 6
        out="$BFEDT_TMP/udp-deliver.out"
        : >"$out"
        ip netns exec "$rns" "$UDP_PROBE" recv --bind "$dst" --port "$port" --timeout-ms "$timeout" \
                >"$out" 2>&1 &
        pid=$!
        local sargs=()
        ((sport > 0)) && sargs=(--sport "$sport")
        _bfedt_exchange udp-probe "$pid" "$out" "$BFEDT_TMP/udp-deliver.err" "$sns" "$@" "$UDP_PROBE" send \
                --to "$dst" --port "$port" "${sargs[@]}" --payload "probe to $port" --count 3
}

# _bfedt_exchange WHAT PID OUT ERR SEND_NS SEND...: a receiver probe PID writing OUT is started:
# waits for its "ready", runs SEND in SEND_NS (stderr to ERR) and waits for the receiver. Returns
# its status: 0 it got the packet, 1 it did not; 2 when a probe failed.
_bfedt_exchange() {
        local what="$1" pid="$2" out="$3" err="$4" sns="$5" i rc
        shift 5
        for i in $(seq 100); do
                grep -q '^ready' "$out" && break
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.02
        done
        if ! grep -q '^ready' "$out"; then
                wait "$pid"
                diag "$what recv did not start: $(cat "$out")"
                return 2
        fi
        ip netns exec "$sns" "$@" 2>"$err"
        rc=$?
        # A drop at the sender's output hook fails sendto() with EPERM (exit 1): the packet did
        # not leave, and the receiver will time out. Any other failure is the probe's.
        if ((rc != 0)) && ! { ((rc == 1)) && grep -q 'Operation not permitted' "$err"; }; then
                kill "$pid" 2>/dev/null
                wait "$pid"
                diag "$what send failed (exit $rc): $(cat "$err")"
                return 2
        fi
        wait "$pid"
        return $?
}

# bfedt_icmp_deliver RECV_NS SEND_NS DST TYPE CODE TIMEOUT_MS [FROM]: an icmp-probe receiver on
# DST in RECV_NS, three ICMP (ICMPv6 for a v6 DST) messages of TYPE and CODE to it from SEND_NS
# (from address FROM if given). Returns 0 when one arrived within TIMEOUT_MS, 1 when none did (also
# when the sender's output hook dropped them), 2 when a probe failed.
: "${ICMP_PROBE:=$SOURCE_ROOT/build/tests/tools/icmp-probe}"
BFEDT_ICMP_TAG=0
bfedt_icmp_deliver() {
        local rns="$1" sns="$2" dst="$3" type="$4" code="$5" timeout="$6" from="${7:-}" out pid sargs=() tag
        BFEDT_ICMP_TAG=$((BFEDT_ICMP_TAG + 1))
        tag="$$-$BFEDT_ICMP_TAG"
        out="$BFEDT_TMP/icmp-deliver.out"
        : >"$out"
        ip netns exec "$rns" "$ICMP_PROBE" recv --bind "$dst" --type "$type" --code "$code" --tag "$tag" \
                --timeout-ms "$timeout" >"$out" 2>&1 &
        pid=$!
        [[ -n "$from" ]] && sargs=(--bind "$from")
        _bfedt_exchange icmp-probe "$pid" "$out" "$BFEDT_TMP/icmp-deliver.err" "$sns" "$ICMP_PROBE" send \
                --to "$dst" --type "$type" --code "$code" --tag "$tag" "${sargs[@]}"
}

# bfedt_expect_udp DESCRIPTION pass|drop RECV_NS SEND_NS DST PORT: a check that three datagrams
# from SEND_NS to DST:PORT in RECV_NS arrive (waiting 2 s for them) or do not (400 ms).
bfedt_expect_udp() {
        local rc=0 timeout=400
        [[ "$2" == pass ]] && timeout=2000
        bfedt_udp_deliver "$3" "$4" "$5" "$6" 0 "$timeout" || rc=$?
        case "$2:$rc" in
        pass:0 | drop:1) ok "$1" ;;
        pass:1) not_ok "$1 (datagram dropped)" ;;
        drop:0) not_ok "$1 (datagram got through)" ;;
        *) not_ok "$1 (probe failed)" ;;
        esac
}

# FWPM_SUBLAYER_UNIVERSAL, which cannot be deleted
BFEDT_UNIVERSAL_SUBLAYER=eebecc03-ced4-4380-819a-2734397b2b74
# fwpmu.h's built-in providers and sublayers (the universal one among them): always there
BFEDT_BUILTIN_PROVIDERS="10ad9216-ccde-456c-8b16-e9f04e60a90b 3c6c05a9-c05c-4bb9-8338-2327814ce8bf
896aa19e-9a34-4bcb-ae79-beb9127c84b9 76cfcd30-3394-432d-bed3-441ae50e63c3"
BFEDT_BUILTIN_SUBLAYERS="$BFEDT_UNIVERSAL_SUBLAYER 877519e1-e6a9-41a5-81b4-8c4f118e4a60
83f299ed-9ff4-4967-aff4-c309f4dab827 a5082e73-8f71-4559-8a9a-101cea04ef87 e076d572-5d3d-48ef-802b-909eddb098bd
37a57701-5884-4964-92b8-3e704688b0ad 758c84f4-fb48-4de9-9aeb-3ed9551ab1fd 1b75c0ce-ff60-4711-a70f-b4958cc3b2d0
15a66e17-3f3c-4f7b-aa6c-812aa613dd82 337608b9-b7d5-4d5f-82f9-3618618bc058 24421dcf-0ac5-4caa-9e14-50f6e3636af0
ba69dc66-5176-4979-9c89-26a7b46a8327"

# bfedt_not_builtin: the keys on stdin (one a line) that are not a built-in object's.
bfedt_not_builtin() {
        grep -vxF -f <(tr ' ' '\n' <<<"$BFEDT_BUILTIN_PROVIDERS $BFEDT_BUILTIN_SUBLAYERS" | grep .) || true
}

# bfedt_clear_database: deletes every filter the tests added (engine-owned ones go with the
# MM policies), then provider contexts, sublayers and providers but the built-in ones.
bfedt_clear_database() {
        local id key
        for id in $(enum_filters | jq -r '.[] | select(.EngineOwned != true) | .Id'); do
                bus DeleteFilterById t "$id" >/dev/null || diag "DeleteFilterById $id failed"
        done
        for key in $(bus_json EnumProviderContexts 'a{sv}' 0 | jq -r '.data[0][].Key.data'); do
                bus DeleteProviderContext s "$key" >/dev/null || diag "DeleteProviderContext $key failed"
        done
        for key in $(bus_json EnumSubLayers | jq -r '.data[0][].Key.data' | bfedt_not_builtin); do
                bus DeleteSubLayer s "$key" >/dev/null || diag "DeleteSubLayer $key failed"
        done
        for key in $(bus_json EnumProviders | jq -r '.data[0][].Key.data' | bfedt_not_builtin); do
                bus DeleteProvider s "$key" >/dev/null || diag "DeleteProvider $key failed"
        done
}

# ---- sessions, transactions, persistence (sessions.sh, transactions.sh, persistence.sh) -------

: "${BFE_PROVIDER:=$SOURCE_ROOT/build/tests/tools/bfe-provider}"

bfedt_require_provider() {
        [[ -x "$BFE_PROVIDER" ]] || die "bfe-provider not built ($BFE_PROVIDER)"
}

# ms_now: a monotonic-enough wall clock in milliseconds.
ms_now() {
        date +%s%3N
}

# bfedt_wait_line FILE REGEX [TIMEOUT_MS]: waits until a line of FILE matches REGEX (grep -E);
# 5 s by default. Returns 1 on timeout.
bfedt_wait_line() {
        local file="$1" re="$2" timeout="${3:-5000}" end
        end=$(($(ms_now) + timeout))
        while (($(ms_now) < end)); do
                grep -qE "$re" "$file" 2>/dev/null && return 0
                sleep 0.01
        done
        grep -qE "$re" "$file" 2>/dev/null
}

# bfedt_poll TIMEOUT_MS COMMAND...: runs COMMAND until it succeeds, every 20 ms, for TIMEOUT_MS
# at most. Returns 0 once it succeeded, 1 on timeout.
bfedt_poll() {
        local timeout="$1" end
        shift
        end=$(($(ms_now) + timeout))
        until "$@"; do
                (($(ms_now) < end)) || return 1
                sleep 0.02
        done
}

# bfedt_log_count REGEX: the lines of this run's daemon log that match REGEX (grep -E).
bfedt_log_count() {
        grep -cE "$1" "$BFED_LOG" 2>/dev/null || true
}

# bfedt_wait_log REGEX N [TIMEOUT_MS]: waits until N lines of the daemon's log match REGEX (5 s
# by default): what the daemon logs when it got somewhere, e.g. at debug level (BFED_LOG_LEVEL=
# debug) "Session N: METHOD waits for …" once a call is queued behind another's transaction.
# Returns 1 on timeout.
bfedt_wait_log() {
        bfedt_poll "${3:-5000}" _bfedt_log_has "$1" "$2"
}
_bfedt_log_has() {
        (($(bfedt_log_count "$1") >= $2))
}

# bfedt_bus_name PID: the unique name of PID's connection to the private bus (empty if none).
bfedt_bus_name() {
        busctl --address="$BUS_ADDR" list --unique --no-legend 2>/dev/null | awk -v p="$1" '$2 == p {print $1; exit}'
}

# bfedt_wait_peer_gone NAME [TIMEOUT_MS]: waits (5 s) until dbus-daemon has dropped connection
# NAME (of a process that died), then calls bfed: when dbus-daemon drops a connection it queues
# the NameOwnerChanged signal for bfed at once, and bfed handles its messages in order, so once
# it answered, it has closed NAME's sessions. Returns 1 on timeout or when bfed did not answer.
bfedt_wait_peer_gone() {
        bfedt_poll "${2:-5000}" _bfedt_name_gone "$1" || return 1
        getprop Version >/dev/null
}
_bfedt_name_gone() {
        [[ "$(busctl --address="$BUS_ADDR" call org.freedesktop.DBus /org/freedesktop/DBus \
                org.freedesktop.DBus NameHasOwner s "$1" 2>/dev/null)" == "b false" ]]
}

# bfedt_provider OUTFILE [ARGS...]: starts tests/tools/bfe-provider (a session on libbfe)
# in the background with its output in OUTFILE, and waits (5 s) for its "ready" or "paused"
# line. Sets PROVIDER_PID (also killed at cleanup) and PROVIDER_SESSION (the object path).
bfedt_provider() {
        local outf="$1"
        shift
        : >"$outf"
        DBUS_SYSTEM_BUS_ADDRESS="$BUS_ADDR" "$BFE_PROVIDER" "$@" >"$outf" 2>&1 &
        PROVIDER_PID=$!
        BFEDT_PIDS+=("$PROVIDER_PID")
        if ! bfedt_wait_line "$outf" '^(ready|paused)$'; then
                diag "bfe-provider did not get ready: $(tr '\n' '|' <"$outf")"
                PROVIDER_SESSION=
                return 1
        fi
        PROVIDER_SESSION=$(awk '$1 == "session" {print $2; exit}' "$outf")
}

# provider_filter_ids OUTFILE: the ids of the filters a bfe-provider added, one a line.
provider_filter_ids() {
        awk '$1 == "filter" {print $3}' "$1"
}

# provider_errors OUTFILE: "STEP BUSNAME" of the steps that failed, one a line.
provider_errors() {
        awk '$1 == "error" {print $2, $3}' "$1"
}

# bus_path_error PATH INTERFACE METHOD SIGNATURE ARGS...: like bus_error, on another object.
bus_path_error() {
        local path="$1" iface="$2" method="$3" out
        shift 3
        if out=$(SYSTEMD_LOG_LEVEL=debug busctl --address="$BUS_ADDR" call "$BFED_NAME" "$path" \
                        "$iface" "$method" "$@" 2>&1); then
                return 1
        fi
        bfedt_parse_error "$out"
}

# bfedt_monitor FILE: `bfectl --json monitor` in the background, output in FILE; returns once
# it is subscribed. Sets MONITOR_PID.
bfedt_monitor() {
        local outf="$1"
        : >"$outf"
        : >"$outf.err"
        DBUS_SYSTEM_BUS_ADDRESS="$BUS_ADDR" "$BFECTL" --json monitor >"$outf" 2>"$outf.err" &
        MONITOR_PID=$!
        BFEDT_PIDS+=("$MONITOR_PID")
        bfedt_wait_line "$outf.err" '^Monitoring' || die "bfectl monitor did not start: $(cat "$outf.err")"
        MONITOR_NAME=$(bfedt_bus_name "$MONITOR_PID")
        [[ -n "$MONITOR_NAME" ]] || die "bfectl monitor (pid $MONITOR_PID) has no bus connection"
}

# bfedt_monitor_sync: returns once the monitor started last has printed every Changed signal
# bfed sent before the call, with no waiting for time:
#  1. a call to bfed: bfed sends a commit's Changed signals right after the commit's replies,
#     before it reads its next message, so its answer comes after every signal it had to send
#     for the replies the test has seen;
#  2. a Peer.Ping to the monitor's own connection: dbus-daemon passed those signals on to the
#     monitor before it passed on bfed's answer, so before our ping (it keeps the order of what
#     it queues for one connection); sd-bus handles a connection's messages in order, so the
#     monitor answers the ping once it has printed (and flushed) every one of them.
# Works while a transaction is open (no change needed). Returns 1 when a call failed.
bfedt_monitor_sync() {
        if ! getprop Version >/dev/null; then
                diag "bfedt_monitor_sync: bfed did not answer"
                return 1
        fi
        if ! busctl --address="$BUS_ADDR" call "$MONITOR_NAME" / org.freedesktop.DBus.Peer Ping >/dev/null; then
                diag "bfedt_monitor_sync: bfectl monitor ($MONITOR_NAME) did not answer a ping"
                return 1
        fi
}

# bfedt_monitor_stop: stops the monitor started last, once it has printed every signal bfed
# sent before the call (bfedt_monitor_sync; a failed sync is a failed check).
bfedt_monitor_stop() {
        bfedt_monitor_sync || not_ok "bfectl monitor's output is complete (sync with bfed and the monitor)"
        kill -TERM "$MONITOR_PID" 2>/dev/null
        wait "$MONITOR_PID" 2>/dev/null
}

# compiled_enum_ids: ids of the filters EnumFilters lists at layers bfed compiles into
# nftables (not IKEEXT/IPSEC), sorted.
compiled_enum_ids() {
        enum_filters | jq -r '.[] | select(.Layer | test("^(IKEEXT|IPSEC)") | not) | .Id' | sort -n
}

# nft_filter_ids: ids in the "filter <id>:" comments of the rules of our table, and of the
# elements of its sets (a run of filters, FilterRuns), sorted.
nft_filter_ids() {
        local json
        json=$(ruleset_json)
        {
                jq -r --arg table "$TABLE" "$JQ_RULES" <<<"$json" | awk -F'\t' '$2 != "-" {print $2}'
                jq -r --arg table "$TABLE" '.nftables[] | select(has("set")) | .set | select(.table == $table)
                        | .elem[]? | objects | .elem.comment // empty | capture("^filter (?<id>[0-9]+):") | .id' <<<"$json"
        } | sort -n -u
}

# bfedt_kill_bfed: SIGKILL the daemon and reap it (the table stays if it has the persist flag).
bfedt_kill_bfed() {
        [[ -n "$BFED_PID" ]] || return 0
        kill -KILL "$BFED_PID" 2>/dev/null
        wait "$BFED_PID" 2>/dev/null
        BFED_PID=
}

# bfedt_has_config_key KEY: whether this bfed knows the config key (its binary names it).
bfedt_has_config_key() {
        grep -qaF "$1" "$BFED"
}

# ---- lost nftables events (table-overrun.sh, scripts/bench-verify) ----------------------------

# bfedt_monitor_drops: how many datagrams the kernel dropped for bfed's nftables monitor socket:
# the one of its netlink sockets (family 12, netfilter) that has groups (/proc/net/netlink).
bfedt_monitor_drops() {
        bfedt_nfnl_listener "$BFED_PID" | awk '{ print $9 }'
}

# bfedt_nfnl_listener PID: the line of /proc/net/netlink (in the daemon's namespace) of PID's
# netfilter netlink socket (family 12) that has joined the nftables event group (NFNLGRP_NFTABLES,
# 7: bit 0x40 of the groups), if it has one; not bfed's trace socket (NFNLGRP_NFTRACE, 0x100).
bfedt_nfnl_listener() {
        local inodes
        inodes=$(for f in /proc/"$1"/fd/*; do readlink "$f"; done 2>/dev/null |
                sed -n 's/^socket:\[\([0-9]*\)\]$/\1/p' | paste -sd'|' -)
        [[ -n "$inodes" ]] || return 0
        ip netns exec "$NS" cat /proc/net/netlink |
                awk -v re="^($inodes)\$" '$2 == 12 && $4 ~ /[4-7c-f].$/ && $10 ~ re { print; exit }'
}

# bfedt_nft_monitor FILE: `nft monitor` in the daemon's namespace, output in FILE; returns once
# it has joined the nftables event group (every later commit's events reach it). Sets NFTMON_PID.
bfedt_nft_monitor() {
        local outf="$1"
        : >"$outf"
        ip netns exec "$NS" nft monitor >"$outf" 2>&1 &
        NFTMON_PID=$!
        BFEDT_PIDS+=("$NFTMON_PID")
        bfedt_poll 5000 bfedt_nfnl_listening "$NFTMON_PID" || die "nft monitor did not subscribe: $(cat "$outf")"
}

# bfedt_nfnl_listening PID: whether PID has a socket in the nftables event group (in $NS), as
# bfed's monitor is with the owner flag only while the exemptions are active.
bfedt_nfnl_listening() {
        [[ -n "$(bfedt_nfnl_listener "$1")" ]]
}

# bfedt_nft_monitor_stop FILE: commits a marker (adds table inet bfedt_sync), waits until the
# monitor printed it, so every event before it too (one socket, in order), stops the monitor,
# deletes the marker and cuts FILE where the marker's lines begin. Returns 1 (and cuts nothing)
# when the marker did not show within 5 s.
bfedt_nft_monitor_stop() {
        local outf="$1" rc=0
        nsnft add table inet bfedt_sync || die "could not add the marker table inet bfedt_sync"
        bfedt_wait_line "$outf" '^add table inet bfedt_sync' || rc=1
        kill -TERM "$NFTMON_PID" 2>/dev/null
        wait "$NFTMON_PID" 2>/dev/null
        nsnft delete table inet bfedt_sync
        ((rc == 0)) && sed -i '/^add table inet bfedt_sync/,$d' "$outf"
        return "$rc"
}

# bfedt_lose_events: stops bfed (SIGSTOP) and floods nftables events (rules of another table,
# inet bfedt_flood, about 5 MB a round) until its monitor socket's queue overran; bfed stays
# stopped. The socket stays congested until bfed reads it, so every later event is dropped
# too: a change made now is lost to bfed's monitor.
bfedt_lose_events() {
        local drops0 round flood="$BFEDT_TMP/flood.nft" comment i
        if [[ ! -s "$flood" ]]; then
                comment=$(printf 'x%.0s' $(seq 120))
                for ((i = 0; i < 5000; i++)); do
                        echo "add rule inet bfedt_flood c udp dport $((i + 1)) counter accept comment \"$comment\""
                done >"$flood"
        fi
        drops0=$(bfedt_monitor_drops)
        [[ -n "$drops0" ]] || die "found no nftables monitor socket of bfed"
        kill -STOP "$BFED_PID"
        nsnft add table inet bfedt_flood
        nsnft add chain inet bfedt_flood c
        for ((round = 0; round < 40; round++)); do
                nsnft -f "$flood" || die "flood round $round failed"
                (($(bfedt_monitor_drops) > drops0)) && return 0
        done
        die "40 rounds of nftables events did not overrun bfed's monitor socket"
}

# bfedt_resume_events: bfed goes on (SIGCONT); the flood table goes.
bfedt_resume_events() {
        kill -CONT "$BFED_PID"
        nsnft delete table inet bfedt_flood
}

# bfedt_answers: whether bfed answers on the bus (its Version property).
bfedt_answers() {
        getprop Version >/dev/null 2>&1
}

# ---- firewalld (firewalld.sh) -------------------------------------------------------------------

# bfedt_require_firewalld: exit 77 (SKIP) when Debian's firewalld is not installed.
bfedt_require_firewalld() {
        command -v firewalld >/dev/null 2>&1 && command -v firewall-cmd >/dev/null 2>&1 ||
                skip_all "firewalld not installed (scripts/setup installs it)"
        [[ -f "$BFEDT_FIREWALLD_POLICY" ]] || skip_all "firewalld's bus policy $BFEDT_FIREWALLD_POLICY is missing"
}

# bfedt_start_firewalld NS: the real firewalld inside namespace NS, on the private bus (started
# before, with firewalld's own policy FirewallD.conf included: root may own its name). How:
#  - its permanent configuration is $FIREWALLD_ETC (--system-config; made on the first start:
#    a firewalld.conf with the package's defaults, nftables backend); the stock zones and
#    services stay in /usr/lib/firewalld (the default --default-config, only read);
#  - --nofork --nopid, logs to the console: $BFEDT_TMP/firewalld.N.log;
#  - /run is a tmpfs of its own (its temporary files go to /run/firewalld): `ip netns exec`
#    gives it a mount namespace of its own already, so the host's /run is not touched;
#  - nftables: its table inet firewalld is in NS's own ruleset;
#  - no polkitd on the private bus: firewalld then lets uid 0 in, and only uid 0.
# Waits (20 s) until it owns org.fedoraproject.FirewallD1 and says RUNNING. Sets FIREWALLD_PID.
bfedt_start_firewalld() {
        local ns="$1" d
        FIREWALLD_ETC="$BFEDT_TMP/firewalld"
        if [[ ! -d "$FIREWALLD_ETC" ]]; then
                for d in zones services icmptypes ipsets helpers policies; do
                        mkdir -p "$FIREWALLD_ETC/$d"
                done
                cat >"$FIREWALLD_ETC/firewalld.conf" <<EOF
DefaultZone=public
CleanupOnExit=yes
CleanupModulesOnExit=no
Lockdown=no
IPv6_rpfilter=yes
IndividualCalls=no
LogDenied=off
FirewallBackend=nftables
FlushAllOnReload=yes
RFC3964_IPv4=yes
EOF
        fi
        BFEDT_FIREWALLD_RUNS=$(( ${BFEDT_FIREWALLD_RUNS:-0} + 1 ))
        FIREWALLD_LOG="$BFEDT_TMP/firewalld.$BFEDT_FIREWALLD_RUNS.log"
        # shellcheck disable=SC2016 # $1 is the inner shell's
        ip netns exec "$ns" env DBUS_SYSTEM_BUS_ADDRESS="$BUS_ADDR" sh -c \
                'mount -t tmpfs bfedt-firewalld-run /run &&
                 exec firewalld --nofork --nopid --log-target console --system-config "$1"' \
                sh "$FIREWALLD_ETC" >"$FIREWALLD_LOG" 2>&1 &
        FIREWALLD_PID=$!
        bfedt_poll 20000 _bfedt_firewalld_running ||
                die "firewalld did not start within 20 s: $(tail -n 5 "$FIREWALLD_LOG" | paste -sd'|')"
}
_bfedt_firewalld_running() {
        kill -0 "$FIREWALLD_PID" 2>/dev/null || die "firewalld exited: $(tail -n 5 "$FIREWALLD_LOG" | paste -sd'|')"
        [[ "$(busctl --address="$BUS_ADDR" --timeout=2 get-property org.fedoraproject.FirewallD1 \
                /org/fedoraproject/FirewallD1 org.fedoraproject.FirewallD1 state 2>/dev/null)" == 's "RUNNING"' ]]
}

# bfedt_stop_firewalld: SIGTERM (firewalld removes its table: CleanupOnExit), waits for it.
bfedt_stop_firewalld() {
        [[ -n "$FIREWALLD_PID" ]] || return 0
        kill -TERM "$FIREWALLD_PID" 2>/dev/null
        wait "$FIREWALLD_PID" 2>/dev/null
        FIREWALLD_PID=
}

# fwcmd ARGS...: firewall-cmd against the private bus.
fwcmd() {
        DBUS_SYSTEM_BUS_ADDRESS="$BUS_ADDR" firewall-cmd "$@"
}

# ---- strongSwan's charon (vici.sh, tests/unit/vici/make-captures) ------------------------------

BFEDT_CHARON=/usr/lib/ipsec/charon

# bfedt_require_charon: exit 77 (SKIP) when Debian's strongswan-charon and strongswan-swanctl
# are not installed.
bfedt_require_charon() {
        [[ -x "$BFEDT_CHARON" ]] && command -v swanctl >/dev/null 2>&1 ||
                skip_all "strongSwan's charon and swanctl not installed (scripts/setup installs them)"
}

# bfedt_charon_config NAME [LINE...]: the configuration directory of charon NAME,
# $BFEDT_TMP/charon-NAME: a strongswan.conf that loads Debian's plugin settings, logs to stderr,
# serves vici on $BFEDT_TMP/charon-NAME/charon.vici, and has each LINE in its charon section
# (e.g. "plugins { socket-default { fwmark = 0x42 } }"); swanctl.conf is the test's to write.
bfedt_charon_config() {
        local name="$1" dir="$BFEDT_TMP/charon-$1" line
        shift
        mkdir -p "$dir"
        {
                echo "charon {"
                echo "        load_modular = yes"
                echo "        plugins {"
                echo "                include /etc/strongswan.d/charon/*.conf"
                echo "                vici {"
                echo "                        socket = unix://$dir/charon.vici"
                echo "                }"
                echo "        }"
                echo "        filelog {"
                echo "                stderr {"
                echo "                        default = 1"
                echo "                        time_format = %T"
                echo "                }"
                echo "        }"
                for line in "$@"; do
                        echo "        $line"
                done
                echo "}"
                # swanctl: the plugins it needs for PSK configurations, not every one it knows
                echo "swanctl {"
                echo "        load = random nonce pem pkcs1 pkcs8 x509 pubkey"
                echo "}"
        } >"$dir/strongswan.conf"
        REPLY="$dir"
}

# bfedt_start_charon NS NAME: charon NAME (configured by bfedt_charon_config) inside namespace
# NS, STRONGSWAN_CONF pointing at its strongswan.conf, its /run a tmpfs of its own (charon's pid
# file is /run/charon.pid: two of them must not share it; `ip netns exec` gives it a mount
# namespace already). Logs to $BFEDT_TMP/charon-NAME.N.log. Waits (10 s) until its vici socket
# answers. Sets BFEDT_CHARON_PIDS[NAME].
bfedt_start_charon() {
        local ns="$1" name="$2" dir="$BFEDT_TMP/charon-$2" log n=0
        while [[ -e "$BFEDT_TMP/charon-$name.$n.log" ]]; do n=$((n + 1)); done
        log="$BFEDT_TMP/charon-$name.$n.log"
        rm -f "$dir/charon.vici"
        # shellcheck disable=SC2016 # $1 is the inner shell's
        ip netns exec "$ns" env STRONGSWAN_CONF="$dir/strongswan.conf" sh -c \
                'mount -t tmpfs bfedt-charon-run /run && exec "$1"' sh "$BFEDT_CHARON" >"$log" 2>&1 &
        BFEDT_CHARON_PIDS[$name]=$!
        BFEDT_CHARON_NS[$name]=$ns
        bfedt_poll 10000 _bfedt_charon_answers "$name" ||
                die "charon $name did not answer on vici within 10 s: $(tail -n 5 "$log" | paste -sd'|')"
}
_bfedt_charon_answers() {
        kill -0 "${BFEDT_CHARON_PIDS[$1]}" 2>/dev/null || die "charon $1 exited: see its log"
        swan "$1" --stats >/dev/null 2>&1
}

# bfedt_kill_charon NAME [SIGNAL]: signal charon NAME (SIGKILL by default) and reap it.
bfedt_kill_charon() {
        local pid="${BFEDT_CHARON_PIDS[$1]:-}"
        [[ -n "$pid" ]] || return 0
        kill -"${2:-KILL}" "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null || true         # killed: not a failure (scripts with set -e)
        unset "BFEDT_CHARON_PIDS[$1]"
}

# swan NAME COMMAND [ARGS...]: swanctl COMMAND against charon NAME, in its namespace, with its
# configuration (swanctl's complaints about missing credential folders go to
# $BFEDT_TMP/swanctl.err).
swan() {
        local name="$1" cmd="$2" dir="$BFEDT_TMP/charon-$1"
        shift 2
        ip netns exec "${BFEDT_CHARON_NS[$name]}" env STRONGSWAN_CONF="$dir/strongswan.conf" \
                swanctl "$cmd" --uri "unix://$dir/charon.vici" "$@" 2>>"$BFEDT_TMP/swanctl.err"
}
