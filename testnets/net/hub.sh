#!/usr/bin/env bash
# A hub and two villages, a day compressed into two minutes (time_scale = 720). The hub
# is a pure relay (member of nothing, no keys); V1 founded a community and invited V2
# (by stick, before the testnet); each village posted. The hub's config has both villages
# as peers and one daily window, placed from the current UTC time so that it opens about
# 12 s (real) after the start and lasts 15 s; the villages have no peers (they only
# accept). Links: 40 ms delay each way. Checks, with kernel counters in the hub's
# namespace (QUIC Initial packets and new UDP flows it sends) and the hub's log:
#   - before the window opens the hub opens no connection at all;
#   - inside it, the hub syncs both villages, and each village ends with the other's post
#     (carried by the hub) and an empty custody queue (the answers came back through it);
#   - after it closes, the hub opens no new connection.
# shellcheck source=testnets/net/lib.sh
source "$(dirname "$0")/lib.sh"
require_tools

SCALE=720
OPEN_AFTER=12 # real seconds from now to the window's opening
WINDOW=15     # real seconds the window lasts

say "nodes: hub (pure relay), V1 (founder), V2 (invited by stick)"
init_node hub "Hub"
init_node v1 "Village One"
init_node v2 "Village Two"
card_v1=$(card v1)
card_v2=$(card v2)
card_hub=$(card hub)
cv v2 contact add "$card_v1" > /dev/null
cid=$(cv v1 community create "Valley" | tail -n 1)
cv v1 community invite "$cid" "$card_v2" --role editor > /dev/null
cv v1 export --to "$(node_id v2)" --out "$WORK/stick" > /dev/null
cv v2 import "$WORK/stick" > /dev/null
cv v1 post "$cid" "V1: the bridge is out, take the ford" > /dev/null
cv v2 post "$cid" "V2: seeds for sale at the market" > /dev/null
id_v1=$(node_id v1)
id_v2=$(node_id v2)

say "network: V1 =(10.5.1.0/24)= hub =(10.5.2.0/24)= V2"
ns hub
ns v1
ns v2
link hub eth1 10.5.1.1/24 v1 eth0 10.5.1.2/24
link hub eth2 10.5.2.1/24 v2 eth0 10.5.2.2/24
impair hub eth1 40 0
impair hub eth2 40 0
impair v1 eth0 40 0
impair v2 eth0 40 0
count_outbound hub

# The window, in the daemon's clock: it starts at the daemon's start and runs SCALE times
# faster, so OPEN_AFTER real seconds from now are OPEN_AFTER * SCALE daemon seconds.
t0=$(date +%s)
open_s=$(((t0 + OPEN_AFTER * SCALE + 59) / 60 * 60))
close_s=$((open_s + WINDOW * SCALE / 60 * 60))
window="$(date -u -d "@$open_s" +%H:%M)-$(date -u -d "@$close_s" +%H:%M)"
say "hub window: daily $window UTC at time_scale $SCALE"
for v in v1 v2; do
    addr=$([ $v = v1 ] && echo 10.5.1.2 || echo 10.5.2.2)
    # The villages trust the hub to relay for them (it dials them; they do not dial it).
    printf 'listen = "%s:4433"\ntime_scale = %s\n[[relay]]\ncard = "%s"\n' "$addr" "$SCALE" "$card_hub" \
        > "$(home $v)/config.toml"
done
cat > "$(home hub)/config.toml" << EOF
listen = "0.0.0.0:4433"
time_scale = $SCALE
[[peer]]
card = "$card_v1"
address = "10.5.1.2:4433"
[[peer]]
card = "$card_v2"
address = "10.5.2.2:4433"
[[window]]
daily = "$window"
zone = "UTC"
EOF
start v1
start v2
start hub
started=$(jq -r .daemon.started_unix_ms "$(home hub)/daemon-status.json")
# Real times of the opening and closing: started + (daemon time - started) / SCALE.
real_open=$((started + (open_s * 1000 - started) / SCALE))
real_close=$((started + (close_s * 1000 - started) / SCALE))
say "the window opens at $(iso_of_ms "$real_open") and closes at $(iso_of_ms "$real_close") (real time)"

check "the hub's status announces the next window at its real opening time"
next=$(status hub | jq -r '.next_window_unix_ms // 0')
diff=$((next - real_open))
[ "${diff#-}" -le 1000 ] || fail "status next_window_unix_ms is $(iso_of_ms "$next"), expected $(iso_of_ms "$real_open")"
ok "next window at $(iso_of_ms "$next")"

check "before the window: no outbound connection from the hub (kernel counters and log)"
sleep_until_ms $((real_open - 700))
initial=$(counted hub initial)
new=$(counted hub new)
if [ "$initial" != 0 ] || [ "$new" != 0 ]; then
    fail "the hub sent $initial QUIC Initial packets and opened $new UDP flows before its window"
fi
grep -q "(dialled)\|dialling" "$(home hub)/daemon.log" && fail "the hub's log shows dialling before its window: $(grep -m 3 "dialled\|dialling" "$(home hub)/daemon.log")"
ok "0 Initial packets, 0 new flows, nothing dialled, $((real_open - $(ms_now))) ms before the opening"

check "inside the window: the hub syncs both villages; their posts and custody answers cross"
sleep_until_ms $((real_close + 1500))
c_close=$(counted hub initial)
in_window() { # lines of the hub's log for dialled syncs with $1 inside the window
    awk -v a="$(iso_of_ms "$real_open")" -v b="$(iso_of_ms "$((real_close + 1500))")" -v id="$1" \
        '$1 >= a && $1 <= b && index($0, "sync with " id " (dialled): sent") { n++ } END { print n + 0 }' \
        "$(home hub)/daemon.log"
}
s1=$(in_window "$id_v1")
s2=$(in_window "$id_v2")
say "hub: $c_close Initial packets, $s1 syncs with V1 and $s2 with V2 in the window"
[ "$s1" -gt 0 ] || fail "the hub did not sync V1 in its window"
[ "$s2" -gt 0 ] || fail "the hub did not sync V2 in its window"
first=$(grep -m 1 "(dialled): sent" "$(home hub)/daemon.log" | cut -d' ' -f1)
[[ "$first" > "$(iso_of_ms "$real_open")" ]] || fail "the hub's first dialled sync ($first) ended before the window opened"
ok "first dialled sync at $first"

check "after the window: no new outbound connection"
sleep 8
c_end=$(counted hub initial)
[ "$c_end" = "$c_close" ] ||
    fail "the hub sent $((c_end - c_close)) QUIC Initial packets after its window closed ($c_close 1.5 s after, $c_end 9.5 s after)"
late=$(awk -v b="$(iso_of_ms "$((real_close + 1500))")" '$1 > b && /\(dialled\)|dialling/' "$(home hub)/daemon.log")
[ -z "$late" ] || fail "the hub's log shows dialling after its window: $late"
ok "still $c_end Initial packets, nothing dialled, 8 s later"

custody_v1=$(status v1 | jq -c .custody)
custody_v2=$(status v2 | jq -c .custody)
stop hub v1 v2

check "each village has the other's post, custody queues empty, the hub reads nothing"
feed() { cv "$1" feed "$cid" --json | jq -r '.[].text' | sort | tr '\n' '|'; }
want="V1: the bridge is out, take the ford|V2: seeds for sale at the market|"
[ "$(feed v1)" = "$want" ] || fail "V1's feed is $(feed v1)"
[ "$(feed v2)" = "$want" ] || fail "V2's feed is $(feed v2)"
[ "$(jq .open <<< "$custody_v1")" = 0 ] || fail "V1's custody queue at the window's end: $custody_v1"
[ "$(jq .open <<< "$custody_v2")" = 0 ] || fail "V2's custody queue at the window's end: $custody_v2"
[ "$(cv hub community list --json | jq length)" = 0 ] || fail "the hub became a member"
[ "$(cv hub feed "$cid" --json | jq length)" = 0 ] || fail "the hub reads the feed: $(cv hub feed "$cid" --json)"
ok "both posts in both feeds; custody released; the hub is a member of nothing, reads no post"
say "the hub still carries $(cv hub status --json | jq .relay.used_bytes) bytes for others"
