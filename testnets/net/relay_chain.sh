#!/usr/bin/env bash
# Chain M1 - R1 - R2 - M2 of real daemons over QUIC: each node reaches only its
# neighbours (three links, three subnets, no forwarding), and R1, R2 are pure relays
# (members of nothing, holding no keys). M1 founded a community and invited M2 (by stick,
# before the links came up); then each wrote a wiki page. M1 dials R1, R1 dials R2, M2
# dials R2. Carrier copies travel with the bundles (M1 hands some to R1, R1 some of those
# to R2), so each page crosses both relays; each custodian's queue empties when the
# other's custody signal has come back the same way. Links: 20 ms delay, 1% loss.
# shellcheck source=testnets/net/lib.sh
source "$(dirname "$0")/lib.sh"
require_tools

say "nodes and the community"
init_node m1 "Village 1"
init_node r1 "Relay 1"
init_node r2 "Relay 2"
init_node m2 "Village 2"
card_r1=$(card r1)
card_r2=$(card r2)
id_m1=$(node_id m1)
id_r1=$(node_id r1)
id_r2=$(node_id r2)
id_m2=$(node_id m2)
cv m2 contact add "$(card m1)" > /dev/null
cid=$(cv m1 community create "Lake" | tail -n 1)
cv m1 community invite "$cid" "$(card m2)" --role editor > /dev/null
cv m1 export --to "$id_m2" --out "$WORK/stick" > /dev/null
cv m2 import "$WORK/stick" > /dev/null
[ "$(cv m2 community list --json | jq -r --arg c "$cid" '.[] | select(.id == $c) | .role')" = editor ] ||
    fail "M2 did not join the community from the stick"
# Written after the stick left: only the chain can carry these.
echo "North well: pump fixed (written by M1)" | cv m1 wiki put "$cid" North > /dev/null
echo "South well: dry since May (written by M2)" | cv m2 wiki put "$cid" South > /dev/null

say "network: M1 =(10.1)= R1 =(10.2)= R2 =(10.3)= M2, nobody forwards"
for n in m1 r1 r2 m2; do ns "$n"; done
link m1 eth0 10.1.0.1/24 r1 eth0 10.1.0.2/24
link r1 eth1 10.2.0.1/24 r2 eth0 10.2.0.2/24
link r2 eth1 10.3.0.1/24 m2 eth0 10.3.0.2/24
impair m1 eth0 20 1
impair r1 eth0 20 1
impair r1 eth1 20 1
impair r2 eth0 20 1
impair r2 eth1 20 1
impair m2 eth0 20 1
ip netns exec "$(nsname m1)" ping -c 1 -W 1 10.2.0.2 > /dev/null 2>&1 && fail "M1 reaches R2 directly"
ip netns exec "$(nsname r1)" ping -c 1 -W 1 10.3.0.2 > /dev/null 2>&1 && fail "R1 reaches M2 directly"

cat > "$(home m1)/config.toml" << EOF2
listen = "10.1.0.1:4433"
time_scale = 60
[[peer]]
card = "$card_r1"
address = "10.1.0.2:4433"
EOF2
cat > "$(home r1)/config.toml" << EOF2
listen = "0.0.0.0:4433"
time_scale = 60
[[peer]]
card = "$card_r2"
address = "10.2.0.2:4433"
EOF2
cat > "$(home r2)/config.toml" << EOF2
listen = "0.0.0.0:4433"
time_scale = 60
EOF2
cat > "$(home m2)/config.toml" << EOF2
listen = "10.3.0.2:4433"
time_scale = 60
[[peer]]
card = "$card_r2"
address = "10.3.0.1:4433"
EOF2
start r2
start r1
start m1
start m2

check "M1's and M2's custody queues empty (each page crossed both relays, and its signal came back)"
both_released() {
    [ "$(syncs_since_start m1 "$id_r1")" -ge 3 ] && [ "$(syncs_since_start m2 "$id_r2")" -ge 3 ] &&
        [ "$(custody_open m1)" = 0 ] && [ "$(custody_open m2)" = 0 ]
}
released=yes
wait_until 90 both_released || released=no
custody_m1=$(status m1 | jq -c .custody)
custody_m2=$(status m2 | jq -c .custody)
say "M1 custody $custody_m1; M2 custody $custody_m2; R1 relay $(status r1 | jq -c .relay); R2 relay $(status r2 | jq -c .relay)"
grep -h "sync with" "$(home r2)/daemon.log" | tail -n 4 | sed 's/^/  R2: /'

stop m1 r1 r2 m2

check "M2 has M1's page and M1 has M2's (carried by R1 then R2, and back)"
north=$("$CARAVAN" --home "$(home m2)" wiki get "$cid" North 2>&1) || true
south=$("$CARAVAN" --home "$(home m1)" wiki get "$cid" South 2>&1) || true
problems=()
[ "$north" = "North well: pump fixed (written by M1)" ] || problems+=("M2 lacks M1's page North (wiki get: ${north})")
[ "$south" = "South well: dry since May (written by M2)" ] || problems+=("M1 lacks M2's page South (wiki get: ${south})")
[ "$released" = yes ] || problems+=("custody not released within 90 s: M1 $custody_m1, M2 $custody_m2")
if [ ${#problems[@]} -gt 0 ]; then
    fail "$(printf '%s; ' "${problems[@]}")"
fi
ok "both pages on both ends; custody released on M1 and M2"

check "R1 and R2 stayed pure relays, and only neighbours met"
for r in r1 r2; do
    [ "$(cv $r community list --json | jq length)" = 0 ] || fail "$r became a member: $(cv $r community list --json)"
    "$CARAVAN" --home "$(home $r)" wiki get "$cid" North > /dev/null 2>&1 && fail "$r can read the community's wiki"
done
met() { cv "$1" status --json | jq -r '[.seen[].node] | join(" ")'; }
for pair in "m1 $id_r2" "m1 $id_m2" "r1 $id_m2" "m2 $id_m1" "m2 $id_r1"; do
    set -- $pair
    case " $(met "$1") " in *" $2 "*) fail "$1 synced with a node it cannot reach ($2)" ;; esac
done
ok "the relays are members of nothing and read nothing; each node met only its neighbours"
