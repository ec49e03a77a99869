#!/usr/bin/env bash
# Chain A - B - C: B is the only node that sees both (two separate links, two subnets,
# no forwarding), and a pure relay: member of nothing, holding no keys. A founded a
# community and invited C (the invitation went by stick, before the links came up); then
# each wrote a wiki page. A and C dial B; B dials nobody. Links: 30 ms delay and 2% loss
# each way. Checks: each of A and C ends with the other's page, which only B could have
# carried; A's custody queue empties (C's custody signal came back through B), and C's
# too; B never reads the community.
# shellcheck source=testnets/net/lib.sh
source "$(dirname "$0")/lib.sh"
require_tools

say "nodes and the community"
init_node a "Village A"
init_node b "Relay B"
init_node c "Village C"
card_b=$(card b)
card_c=$(card c)
id_a=$(node_id a)
id_b=$(node_id b)
id_c=$(node_id c)
cv c contact add "$(card a)" > /dev/null
cid=$(cv a community create "Lake" | tail -n 1)
cv a community invite "$cid" "$card_c" --role editor > /dev/null
cv a export --to "$(node_id c)" --out "$WORK/stick" > /dev/null
cv c import "$WORK/stick" > /dev/null
[ "$(cv c community list --json | jq -r --arg c "$cid" '.[] | select(.id == $c) | .role')" = editor ] ||
    fail "C did not join the community from the stick"
# Written after the stick left: only the network can carry these.
echo "North well: pump fixed (written by A)" | cv a wiki put "$cid" North > /dev/null
echo "South well: dry since May (written by C)" | cv c wiki put "$cid" South > /dev/null
cv a post "$cid" "A: market on Thursday" > /dev/null
cv c post "$cid" "C: we bring the goats" > /dev/null

say "network: A =(10.1.0.0/24)= B =(10.2.0.0/24)= C, B does not forward"
ns a
ns b
ns c
link a eth0 10.1.0.1/24 b eth0 10.1.0.2/24
link b eth1 10.2.0.1/24 c eth0 10.2.0.2/24
impair a eth0 30 2
impair b eth0 30 2
impair b eth1 30 2
impair c eth0 30 2
ip netns exec "$(nsname a)" ping -c 1 -W 1 10.2.0.2 > /dev/null 2>&1 && fail "A reaches C directly"

cat > "$(home b)/config.toml" << EOF
listen = "0.0.0.0:4433"
time_scale = 60
EOF
cat > "$(home a)/config.toml" << EOF
listen = "10.1.0.1:4433"
time_scale = 60
[[peer]]
card = "$card_b"
address = "10.1.0.2:4433"
EOF
cat > "$(home c)/config.toml" << EOF
listen = "10.2.0.2:4433"
time_scale = 60
[[peer]]
card = "$card_b"
address = "10.2.0.1:4433"
EOF
start b
start a
start c

check "A's and C's custody queues empty (every bundle reached its destinations, and their signals came back)"
# (Writings are sealed into bundles, and enter the custody queue, at the first exchange:
# an empty queue counts once each has synced with B a few times.)
both_released() {
    [ "$(syncs_since_start a "$id_b")" -ge 3 ] && [ "$(syncs_since_start c "$id_b")" -ge 3 ] &&
        [ "$(custody_open a)" = 0 ] && [ "$(custody_open c)" = 0 ]
}
released=yes
wait_until 60 both_released || released=no
custody_a=$(status a | jq -c .custody)
custody_c=$(status c | jq -c .custody)
relay_b=$(status b | jq -c .relay)
say "A custody $custody_a; C custody $custody_c; B relay $relay_b"
grep -h "sync with" "$(home b)/daemon.log" | tail -n 4 | sed 's/^/  B: /'

stop a b c

check "C has A's page and post, A has C's (carried by B)"
north=$("$CARAVAN" --home "$(home c)" wiki get "$cid" North 2>&1) || true
south=$("$CARAVAN" --home "$(home a)" wiki get "$cid" South 2>&1) || true
feed_a=$(cv a feed "$cid" --json | jq -r '.[].text' | sort | tr '\n' '|')
feed_c=$(cv c feed "$cid" --json | jq -r '.[].text' | sort | tr '\n' '|')
problems=()
[ "$north" = "North well: pump fixed (written by A)" ] || problems+=("C lacks A's page North (wiki get: ${north})")
[ "$south" = "South well: dry since May (written by C)" ] || problems+=("A lacks C's page South (wiki get: ${south})")
[ "$feed_a" = "A: market on Thursday|C: we bring the goats|" ] || problems+=("A's feed is ${feed_a}")
[ "$feed_c" = "A: market on Thursday|C: we bring the goats|" ] || problems+=("C's feed is ${feed_c}")
[ "$released" = yes ] || problems+=("custody not released within 60 s: A $custody_a, C $custody_c")
if [ ${#problems[@]} -gt 0 ]; then
    fail "$(printf '%s; ' "${problems[@]}")"
fi
ok "both pages and both posts on both ends; custody released on A and C"

check "B stayed a pure relay: no community, cannot read it, A and C never met"
[ "$(cv b community list --json | jq length)" = 0 ] || fail "B became a member: $(cv b community list --json)"
"$CARAVAN" --home "$(home b)" wiki get "$cid" North > /dev/null 2>&1 && fail "B can read the community's wiki"
cv a status --json | jq -e --arg c "$id_c" '[.seen[].node] | index($c) | not' > /dev/null || fail "A synced with C directly"
cv c status --json | jq -e --arg a "$id_a" '[.seen[].node] | index($a) | not' > /dev/null || fail "C synced with A directly"
ok "B is a member of nothing and reads nothing; A and C only ever synced with B"
