# Shared helpers for the real-process testnets (sourced by the scenario scripts).
#
# Each scenario runs `caravan daemon` processes in their own network namespaces, joined
# by veth pairs (and a bridge in a "switch" namespace for a LAN), with delay, loss and a
# rate limit on the links, and checks what the nodes end with through the CLI. Everything
# it creates (namespaces, processes, a work directory) is removed on exit, even on
# failure; KEEP=1 keeps the work directory (homes and daemon logs) for a post-mortem.
#
# Needs: root, ip (iproute2) with netns, tc, iptables, jq, and either the kernel's netem
# qdisc or python3 (wire.py, an NFQUEUE delay-and-loss stand-in for kernels built
# without netem). $CARAVAN is the caravan binary.

set -euo pipefail

NET_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${CARAVAN:?set CARAVAN to the caravan binary (cargo build --bin caravan; target/debug/caravan)}"
CARAVAN=$(realpath "$CARAVAN")
# Unique per run: namespace names are global to the machine, so tests running at the
# same time (or a leftover of a killed run) never clash.
NET_ID=${NET_ID:-$$}
NET_T0=$(date +%s.%N)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/caravan-net-${NET_ID}-XXXX")
NAMESPACES=()
DAEMONS=()  # "pid name"
HELPERS=()  # pids of wire.py
SCENARIO=${SCENARIO:-$(basename "$0" .sh)}

elapsed() { awk -v a="$NET_T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%6.1fs", b - a }'; }
say() { echo "[$SCENARIO $(elapsed)] $*"; }
check() { echo "[$SCENARIO $(elapsed)] CHECK: $*"; }
ok() { echo "[$SCENARIO $(elapsed)]   ok: $*"; }

# Prints the tail of every daemon log, for a failure's context.
dump_logs() {
    local f
    for f in "$WORK"/*/daemon*.log; do
        [ -f "$f" ] || continue
        echo "----- last lines of ${f#"$WORK"/} -----" >&2
        tail -n 25 "$f" >&2
    done
}

fail() {
    echo "[$SCENARIO $(elapsed)] FAIL: $*" >&2
    dump_logs
    exit 1
}

skip() {
    echo "SKIPPED: $SCENARIO: $*"
    exit 77
}

cleanup() {
    local status=$?
    set +e
    local d pid
    for d in "${DAEMONS[@]}"; do
        pid=${d%% *}
        kill -TERM "$pid" 2> /dev/null
    done
    for pid in "${HELPERS[@]}"; do
        kill -TERM "$pid" 2> /dev/null
    done
    for d in "${DAEMONS[@]}"; do
        pid=${d%% *}
        for _ in $(seq 50); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2> /dev/null
    done
    wait 2> /dev/null
    for d in "${NAMESPACES[@]}"; do
        ip netns del "$d" 2> /dev/null
    done
    if [ "${KEEP:-0}" = 1 ]; then
        echo "[$SCENARIO] kept $WORK"
    else
        rm -rf "$WORK"
    fi
    if [ "$status" = 0 ]; then
        say "PASS"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

require_tools() {
    [ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
    command -v ip > /dev/null || skip "needs ip (iproute2)"
    local probe="cvprobe-$NET_ID"
    ip netns add "$probe" 2> /dev/null || skip "ip netns is not usable here"
    ip netns del "$probe"
    local t
    # A missing tool skips loudly on a developer's machine; in CI it fails (.ci/run
    # installs them all).
    for t in tc iptables jq awk; do
        command -v "$t" > /dev/null && continue
        if [ -n "${CI:-}" ]; then fail "needs $t (apt-get install iproute2 iptables jq)"; fi
        skip "needs $t (apt-get install iproute2 iptables jq, or run .ci/run)"
    done
}

# Whether this kernel has the netem qdisc (cached).
NETEM=""
have_netem() {
    if [ -z "$NETEM" ]; then
        local probe="cvnetem-$NET_ID"
        ip netns add "$probe"
        if tc -n "$probe" qdisc add dev lo root netem delay 1ms 2> /dev/null; then NETEM=yes; else NETEM=no; fi
        ip netns del "$probe"
        if [ "$NETEM" = no ]; then
            if ! command -v python3 > /dev/null; then
                if [ -n "${CI:-}" ]; then fail "this kernel has no netem qdisc, and wire.py (its stand-in) needs python3"; fi
                skip "this kernel has no netem qdisc, and wire.py (its stand-in) needs python3"
            fi
            say "this kernel has no netem qdisc: delay and loss come from wire.py (NFQUEUE), rate limits from tbf"
        fi
    fi
    [ "$NETEM" = yes ]
}

# ns NAME: a new namespace (its name is printed on stdout), loopback up, no IPv6 (no
# router solicitations or other chatter), no forwarding.
ns() {
    local name="cv${NET_ID}-$1"
    ip netns add "$name"
    NAMESPACES+=("$name")
    ip -n "$name" link set lo up
    ip netns exec "$name" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 \
        net.ipv4.ip_forward=0
}
nsname() { echo "cv${NET_ID}-$1"; }

# link NS1 DEV1 ADDR1/PLEN NS2 DEV2 ADDR2/PLEN: a veth pair between two namespaces.
link() {
    local n1 n2
    n1=$(nsname "$1") n2=$(nsname "$4")
    ip -n "$n1" link add "$2" type veth peer name "$5" netns "$n2"
    ip -n "$n1" addr add "$3" dev "$2"
    ip -n "$n2" addr add "$6" dev "$5"
    ip -n "$n1" link set "$2" up
    ip -n "$n2" link set "$5" up
}

# switch NS: a namespace holding a bridge br0 (no IGMP snooping: multicast floods).
switch() {
    ns "$1"
    local s
    s=$(nsname "$1")
    ip -n "$s" link add br0 type bridge mcast_snooping 0
    ip -n "$s" link set br0 up
}

# plug SWITCH PORT NS DEV ADDR/PLEN: NS's DEV on the switch's bridge.
plug() {
    local s n
    s=$(nsname "$1") n=$(nsname "$3")
    ip -n "$s" link add "$2" type veth peer name "$4" netns "$n"
    ip -n "$s" link set "$2" master br0 up
    ip -n "$n" addr add "$5" dev "$4"
    ip -n "$n" link set "$4" up
}

# impair NS DEV DELAY_MS LOSS_PCT [RATE]: what leaves NS through DEV is delayed, lost at
# random and (with RATE, like 4mbit) rate limited. netem when the kernel has it; else
# tbf for the rate and wire.py (NFQUEUE) for delay and loss.
WIRE_QUEUE=0
impair() {
    local n dev=$2 delay=$3 loss=$4 rate=${5:-}
    n=$(nsname "$1")
    if have_netem; then
        # shellcheck disable=SC2086
        tc -n "$n" qdisc add dev "$dev" root netem delay "${delay}ms" loss "${loss}%" ${rate:+rate $rate}
    else
        if [ -n "$rate" ]; then
            tc -n "$n" qdisc add dev "$dev" root tbf rate "$rate" burst 4kb latency 400ms
        fi
        local q=$WIRE_QUEUE
        WIRE_QUEUE=$((WIRE_QUEUE + 1))
        local out="$WORK/wire-$1-$dev.out"
        ip netns exec "$n" python3 "$NET_DIR/wire.py" "$q" "$delay" "$loss" > "$out" 2>&1 &
        HELPERS+=("$!")
        for _ in $(seq 50); do grep -q ready "$out" && break; sleep 0.1; done
        grep -q ready "$out" || fail "wire.py did not start in $n: $(cat "$out")"
        # Only packets leaving through DEV; --queue-bypass lets them pass if wire.py dies.
        ip netns exec "$n" iptables -A OUTPUT -o "$dev" -j NFQUEUE --queue-num "$q" --queue-bypass
    fi
    say "link $1/$dev: ${delay} ms delay, ${loss}% loss${rate:+, rate $rate}"
}

# cut_link NS DEV / restore_link NS DEV: the cable is cut (every packet in or out through DEV is
# dropped, silently, as on a dead radio link) and put back.
cut_link() { ip netns exec "$(nsname "$1")" iptables -I INPUT 1 -i "$2" -j DROP -m comment --comment cut &&
    ip netns exec "$(nsname "$1")" iptables -I OUTPUT 1 -o "$2" -j DROP -m comment --comment cut; }
restore_link() { ip netns exec "$(nsname "$1")" iptables -D INPUT -i "$2" -j DROP -m comment --comment cut &&
    ip netns exec "$(nsname "$1")" iptables -D OUTPUT -o "$2" -j DROP -m comment --comment cut; }

# cv NODE ARGS...: the caravan CLI on NODE's home (outside any namespace: it needs no
# network). Fails the scenario with the command's error if it fails.
home() { echo "$WORK/$1"; }
cv() {
    local node=$1
    shift
    local out
    if ! out=$("$CARAVAN" --home "$(home "$node")" "$@" 2> "$WORK/cv.err"); then
        fail "caravan --home $node $*: $(cat "$WORK/cv.err")"
    fi
    printf '%s\n' "$out"
}
init_node() {
    mkdir -p "$(home "$1")"
    cv "$1" init --name "$2" > /dev/null
}
card() { cv "$1" id; }
node_id() { cv "$1" status --json | jq -r .node; }

# start NODE [EXTRA ENV...]: starts NODE's daemon in its namespace (its config.toml in its
# home), debug logs (one line per bundle sent and committed) in HOME/daemon.log, appended
# across restarts.
start() {
    local node=$1 n
    n=$(nsname "$1")
    local log
    log="$(home "$node")/daemon.log"
    echo "=== start $(date -u +%FT%T.%6NZ)" >> "$log"
    ip netns exec "$n" env CARAVAN_LOG=caravan=debug NO_COLOR=1 "$CARAVAN" --home "$(home "$node")" daemon \
        >> "$log" 2>&1 &
    DAEMONS+=("$! $node")
    # Up once it has written its status report. (Read the file itself: `caravan status`
    # opens the store when no daemon holds it, and a daemon starting at that instant
    # fails on the lock.)
    local pid=$!
    for _ in $(seq 100); do
        if [ "$(jq -r '.daemon.pid // empty' "$(home "$node")/daemon-status.json" 2> /dev/null)" = "$pid" ]; then
            return 0
        fi
        kill -0 "$pid" 2> /dev/null || fail "the daemon of $node exited: $(tail -n 5 "$log")"
        sleep 0.1
    done
    fail "the daemon of $node did not report its status within 10 s"
}

pid_of() {
    local d
    for d in "${DAEMONS[@]}"; do
        if [ "${d#* }" = "$1" ] && kill -0 "${d%% *}" 2> /dev/null; then
            echo "${d%% *}"
            return 0
        fi
    done
    return 1
}

# stop NODE...: SIGTERM to each (all at once), then each daemon must exit cleanly within
# 15 s and say so.
stop() {
    local node pid pids=()
    for node in "$@"; do
        pid=$(pid_of "$node") || fail "no running daemon for $node"
        kill -TERM "$pid"
        pids+=("$pid")
    done
    local i=0 code
    for node in "$@"; do
        pid=${pids[$i]}
        i=$((i + 1))
        for _ in $(seq 150); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2> /dev/null && fail "the daemon of $node did not stop within 15 s of SIGTERM"
        code=0
        wait "$pid" || code=$?
        [ "$code" = 0 ] || fail "the daemon of $node exited with status $code: $(tail -n 5 "$(home "$node")/daemon.log")"
        [[ "$(tail -n 3 "$(home "$node")/daemon.log")" == *"caravan daemon: stopped"* ]] ||
            fail "the daemon of $node did not log a clean stop"
    done
}

# status NODE: `caravan status --json` (the running daemon's report while it runs).
status() { "$CARAVAN" --home "$(home "$1")" status --json 2> /dev/null || echo '{}'; }

# custody_open NODE: how many of NODE's bundles are still in its custody ("none" if unknown).
custody_open() { status "$1" | jq -r '.custody.open // "none"'; }

# wait_until SECONDS COMMAND...: polls COMMAND every half second until it succeeds;
# returns 1 after SECONDS (the caller fails with what it sees then).
wait_until() {
    local deadline
    deadline=$(($(date +%s) + $1))
    shift
    until "$@"; do
        [ "$(date +%s)" -lt "$deadline" ] || return 1
        sleep 0.5
    done
}

# Lines of a daemon log as "TIMESTAMP MESSAGE" (ISO times sort as text).
log_of() { cat "$(home "$1")/daemon.log"; }

# no_resend_after_commit SENDER RECEIVER: no bundle was sent by SENDER after RECEIVER had
# committed it (both logs carry UTC timestamps from one clock). Prints how many digests
# were checked.
no_resend_after_commit() {
    local s=$1 r=$2
    awk -v S="$(home "$s")/daemon.log" -v R="$(home "$r")/daemon.log" -v sn="$s" -v rn="$r" '
        BEGIN {
            while ((getline line < R) > 0) {
                if (line ~ /committed bundle [0-9a-f]+/) {
                    split(line, f, " "); d = line; sub(/.*committed bundle /, "", d); sub(/ .*/, "", d)
                    if (!(d in first)) first[d] = f[1]
                }
            }
            bad = 0; checked = 0
            while ((getline line < S) > 0) {
                if (line ~ /sent bundle [0-9a-f]+/) {
                    split(line, f, " "); d = line; sub(/.*sent bundle /, "", d); sub(/ .*/, "", d)
                    if (d in first) {
                        if (!(d in seen)) { checked++; seen[d] = 1 }
                        if (f[1] > first[d]) {
                            bad++
                            if (bad <= 5) printf "  %s sent %s at %s, after %s committed it at %s\n", sn, d, f[1], rn, first[d]
                        }
                    }
                }
            }
            printf "%d %d\n", checked, bad
        }'
}

# Milliseconds since the epoch, now; and a time in ms as the daemons' log timestamps
# write it (UTC, microseconds), so log lines compare with it as text.
ms_now() { date +%s%3N; }
iso_of_ms() { date -u -d "@$(($1 / 1000)).$(printf '%03d' $(($1 % 1000)))" +%FT%T.%6NZ; }
sleep_until_ms() {
    local d=$(($1 - $(ms_now)))
    if [ "$d" -gt 0 ]; then sleep "$(awk -v d="$d" 'BEGIN { printf "%.3f", d / 1000 }')"; fi
}

# count_outbound NS: kernel counters on what NS sends, read with `counted NS NAME`:
# "initial", QUIC Initial packets (long header, type Initial: the first packets of every
# connection a node opens, and of a listener's answer to one), and "new", UDP packets
# opening a new conntrack flow.
count_outbound() {
    local n
    n=$(nsname "$1")
    # First in the chain: before wire.py's NFQUEUE rules, which end a packet's traversal.
    ip netns exec "$n" iptables -I OUTPUT 1 -p udp -m conntrack --ctstate NEW -m comment --comment cv-new
    ip netns exec "$n" iptables -I OUTPUT 1 -p udp -m u32 --u32 "0>>22&0x3C@8>>24&0xF0=0xC0" \
        -m comment --comment cv-initial
}
counted() {
    ip netns exec "$(nsname "$1")" iptables -L OUTPUT -n -v -x |
        awk -v c="/* cv-$2 */" 'index($0, c) { print $1; found = 1 } END { if (!found) print "none" }'
}

# syncs_since_start NODE PEER_ID: exchanges NODE completed with PEER_ID (either way)
# since its daemon last started, from its log.
syncs_since_start() {
    awk -v id="$2" '/^=== start/ { n = 0 } index($0, "sync with " id " (") && /\): sent/ { n++ } END { print n + 0 }' \
        "$(home "$1")/daemon.log"
}
