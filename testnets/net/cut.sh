#!/usr/bin/env bash
# A link cut in the middle of a transfer, then restored. S holds many bundles for R (S
# founded a community, invited R, and posted N times, each post sealed into its own
# bundle); R dials S. The link is slow (S sends at 192 kbit/s, 20 ms delay each way), so
# the transfer takes several seconds. When R has received about 40% of the bytes, the
# cable is cut (every packet dropped both ways) for longer than QUIC's idle timeout, so
# the session dies; then it is restored. Checks: the first session really was cut (R did
# not have everything at the cut, a sync failed); R ends with all N posts (no bundle
# lost), S's custody queue empties; and, from the debug logs (one clock for both), no
# bundle was ever sent again by one side after the other side had committed it.
# shellcheck source=testnets/net/lib.sh
source "$(dirname "$0")/lib.sh"
require_tools

N=${N:-32}  # posts, one bundle each
RATE=192kbit
CUT_SECS=33 # longer than QUIC's 30 s idle timeout: the cut session dies

say "nodes: S with $N bundles for R"
init_node s "Sender"
init_node r "Receiver"
card_s=$(card s)
cv r contact add "$card_s" > /dev/null
cid=$(cv s community create "Archive" | tail -n 1)
cv s community invite "$cid" "$(card r)" --role member > /dev/null
self=$(node_id s)
for i in $(seq "$N"); do
    # ~5 kB of text each (random, so no compression helps), then an export that seals it
    # into a bundle of its own.
    cv s post "$cid" "post $i $(head -c 3750 /dev/urandom | base64 -w 0)" > /dev/null
    cv s export --to "$self" --out "$WORK/sealed" > /dev/null
done
cv s export --community "$cid" --out "$WORK/all" > /dev/null
total=$(cat "$WORK"/all/*.bundle | wc -c)
say "S holds $(find "$WORK/all" -name '*.bundle' | wc -l) bundles for the community, $total bytes"

say "network: S =(10.4.0.0/24)= R, S sends at $RATE"
ns s
ns r
link s eth0 10.4.0.1/24 r eth0 10.4.0.2/24
impair s eth0 20 0 "$RATE"
impair r eth0 20 0
ip netns exec "$(nsname r)" iptables -I INPUT 1 -i eth0 -p udp -m comment --comment cv-in
received_bytes() {
    ip netns exec "$(nsname r)" iptables -L INPUT -n -v -x | awk 'index($0, "/* cv-in */") { print $2 }'
}
printf 'listen = "10.4.0.1:4433"\ntime_scale = 60\n' > "$(home s)/config.toml"
printf 'listen = "10.4.0.2:4433"\ntime_scale = 60\n[[peer]]\ncard = "%s"\naddress = "10.4.0.1:4433"\n' \
    "$card_s" > "$(home r)/config.toml"
start s
start r

check "the link is cut mid-transfer"
t_start=$(ms_now)
mid=$((total * 2 / 5))
enough_received() { [ "$(received_bytes)" -ge "$mid" ]; }
wait_until 60 enough_received || fail "R did not receive 40% of $total bytes within 60 s (got $(received_bytes))"
cut_link s eth0
cut_at=$(ms_now)
got=$(received_bytes)
committed_at_cut=$(grep -c "committed bundle" "$(home r)/daemon.log" || true)
synced_at_cut=$(grep -c "sync with .*: sent" "$(home r)/daemon.log" || true)
say "cut after $(((cut_at - t_start) / 1000)).$(((cut_at - t_start) % 1000 / 100)) s: R had received $got bytes and committed $committed_at_cut bundles"
[ "$synced_at_cut" = 0 ] || fail "the transfer was over before the cut ($synced_at_cut syncs done): more data or a lower rate needed"
sleep "$CUT_SECS"
grep -q "failed: " "$(home r)/daemon.log" || fail "no sync failed while the link was cut: $(grep "sync with" "$(home r)/daemon.log")"
restore_link s eth0
say "restored after $CUT_SECS s; R's log during the cut: $(grep -c "failed" "$(home r)/daemon.log") failures"

check "after the restore: S's custody queue empties (R stored every bundle and said so)"
s_released() { [ "$(custody_open s)" = 0 ]; }
wait_until 60 s_released || fail "S's custody not released within 60 s of the restore: $(status s | jq -c .custody)"
ok "released $((($(ms_now) - cut_at) / 1000 - CUT_SECS)) s after the restore"
stop r s

check "R has all $N posts"
posts=$(cv r feed "$cid" --json | jq -r '.[].text' | cut -d ' ' -f 1-2 | sort -u)
count=$(grep -c . <<< "$posts" || true)
[ "$count" = "$N" ] || fail "R has $count of $N posts"
for i in $(seq "$N"); do grep -qx "post $i" <<< "$posts" || fail "R lacks post $i"; done
ok "all $N"

check "no bundle sent again after the other side committed it"
report=$(no_resend_after_commit s r)
read -r checked bad <<< "$(tail -n 1 <<< "$report")"
[ "$bad" = 0 ] || fail "S re-sent bundles R had committed: $(head -n -1 <<< "$report")"
ok "S -> R: $checked bundles checked"
report=$(no_resend_after_commit r s)
read -r checked bad <<< "$(tail -n 1 <<< "$report")"
[ "$bad" = 0 ] || fail "R re-sent bundles S had committed: $(head -n -1 <<< "$report")"
ok "R -> S: $checked bundles checked"
twice=$(grep -o "sent bundle [0-9a-f]*" "$(home s)/daemon.log" | sort | uniq -d | wc -l)
say "S sent $twice bundles more than once (what R had received but not committed when the link died)"
