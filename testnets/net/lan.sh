#!/usr/bin/env bash
# A LAN party: five laptops on one switch (an L2 bridge), daemons with `discovery = true`
# and no peers at all: they find each other by their signed multicast beacons only. The
# cards were swapped beforehand (each guest has the host's card, the host has theirs).
# Party one: the host has founded a community, invited the four guests and posted; the
# invitations travel over the LAN. Then everyone goes home (SIGTERM), each guest posts,
# and party two brings the five together again. Links: 5 ms delay and 1% loss each way.
# Checks: each guest joined during party one; after party two all five feeds hold all
# five posts and every custody queue is empty; every daemon log shows the other four
# discovered, at each party.
# shellcheck source=testnets/net/lib.sh
source "$(dirname "$0")/lib.sh"
require_tools

NODES=(n1 n2 n3 n4 n5)
SCALE=20

say "five nodes; n1 founds a community and invites the other four"
for i in 1 2 3 4 5; do init_node "n$i" "Laptop $i"; done
card_host=$(card n1)
cid=$(cv n1 community create "Party" | tail -n 1)
for i in 2 3 4 5; do
    cv "n$i" contact add "$card_host" > /dev/null
    cv n1 community invite "$cid" "$(card "n$i")" --role editor > /dev/null
done
cv n1 post "$cid" "post by Laptop 1" > /dev/null
declare -A ID
for n in "${NODES[@]}"; do ID[$n]=$(node_id "$n"); done

say "network: one bridge, 10.3.0.0/24, multicast flooded"
switch sw
for i in 1 2 3 4 5; do
    ns "n$i"
    plug sw "p$i" "n$i" eth0 "10.3.0.$i/24"
    ip -n "$(nsname "n$i")" route add 224.0.0.0/4 dev eth0
    impair "n$i" eth0 5 1
    printf 'listen = "10.3.0.%s:4433"\ndiscovery = true\ntime_scale = %s\n' "$i" "$SCALE" > "$(home "n$i")/config.toml"
done

# discovered_all PARTY: each daemon's log, from its PARTY-th start, names the four others.
discovered_all() {
    local n m lines missing=()
    for n in "${NODES[@]}"; do
        lines=$(awk -v k="$1" '/^=== start/ { s++ } s == k && /discovered /' "$(home "$n")/daemon.log")
        for m in "${NODES[@]}"; do
            [ "$m" = "$n" ] && continue
            grep -q "(${ID[$m]})" <<< "$lines" || missing+=("$n has not discovered $m")
        done
    done
    [ ${#missing[@]} = 0 ] || {
        echo "${missing[*]}"
        return 1
    }
}

say "party one"
for n in "${NODES[@]}"; do start "$n"; done
check "the four guests join over the LAN (their daemons' status lists the community)"
joined_all() {
    local i
    for i in 2 3 4 5; do
        status "n$i" | jq -e --arg c "$cid" '[.communities[].id] | index($c)' > /dev/null || return 1
    done
}
wait_until 60 joined_all ||
    fail "not every guest joined within 60 s: $(for i in 2 3 4 5; do echo "n$i: $(status "n$i" | jq -c '[.communities[].name]')"; done)"
ok "all four joined"
check "every daemon discovered the other four"
wait_until 20 discovered_all 1 > /dev/null || fail "discoveries at party one: $(discovered_all 1)"
ok "20 discoveries"
stop "${NODES[@]}"

say "at home: each guest posts"
for i in 2 3 4 5; do cv "n$i" post "$cid" "post by Laptop $i" > /dev/null; done

say "party two"
for n in "${NODES[@]}"; do start "$n"; done
check "all custody queues empty (every post reached the four other members, answers came back)"
# (A post is sealed into a bundle, and enters the custody queue, at its first exchange: so
# an empty queue counts only once each node has synced twice with each other one.)
all_released() {
    local n m
    for n in "${NODES[@]}"; do
        for m in "${NODES[@]}"; do
            [ "$m" = "$n" ] || [ "$(syncs_since_start "$n" "${ID[$m]}")" -ge 2 ] || return 1
        done
        [ "$(status "$n" | jq -r '.custody.open // "none"')" = 0 ] || return 1
    done
}
released=yes
deadline=$(($(date +%s) + 40))
until all_released; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
        released=no
        break
    fi
    sleep 0.5
done
custody=$(for n in "${NODES[@]}"; do echo -n "$n $(status "$n" | jq -c .custody) "; done)
say "custody open: $custody"
check "every daemon discovered the other four again"
undiscovered=$(discovered_all 2) || fail "discoveries at party two: $undiscovered"
ok "20 discoveries"
stop "${NODES[@]}"

check "all five feeds hold all five posts"
want="post by Laptop 1|post by Laptop 2|post by Laptop 3|post by Laptop 4|post by Laptop 5|"
problems=()
for n in "${NODES[@]}"; do
    got=$(cv "$n" feed "$cid" --json | jq -r '.[].text' | sort | tr '\n' '|')
    [ "$got" = "$want" ] || problems+=("$n's feed is $got")
done
[ "$released" = yes ] || problems+=("custody not released within 40 s: $custody")
[ ${#problems[@]} = 0 ] || fail "$(printf '%s; ' "${problems[@]}")"
members=$(cv n3 community members "$cid" --json | jq length)
[ "$members" = 5 ] || fail "n3 sees $members members"
ok "5 x 5 posts, 5 members, custody released everywhere"
for n in "${NODES[@]}"; do
    say "$n: $(grep -c "sync with" "$(home "$n")/daemon.log") syncs, $(tail -n 1 "$(home "$n")/daemon.log" | sed 's/.*stopped //')"
done
