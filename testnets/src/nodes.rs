//! The real-node driver: small networks of real [`caravan::Node`]s (stores in memory, one
//! simulated clock), so the simulator checks the node's own policy and not only the
//! model in `sim`. Every import, custody answer, relay admission, routing choice and
//! carrier hand-over is the node's code: links are [`caravan::link::local::exchange`]
//! (the QUIC exchange's steps) and sticks are `export` then `import_many`.
//!
//! A run: 3 to 5 nodes, some members of one community (the first founded it and invited
//! the others; the invitations travel like anything else), the rest pure relays with
//! small quotas; a random connected graph of who meets whom; random edits, live links,
//! sticks, and clock jumps; a hostile relay in some runs re-wraps what it hands on
//! (new primary blocks around the authors' signed payloads). Then every link meets until
//! nothing moves. The properties are the model's: every member converges on every
//! accepted edit, no author keeps custody open, no relay exceeds its quota, no relay
//! reads the community. Decisions come from the seed; keys and nonces are random, so a
//! failing seed replays the same events, not the same bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use caravan::link::local;
use caravan::{Node, Role, Target};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The simulated clock's start: 2026-12-01T00:00:00Z.
pub const START_MS: u64 = 1_796_083_200_000;

/// Random steps before the network settles.
pub const STEPS: usize = 40;

/// Weeks the settling may jump ahead when nothing moves but custody is open (carrier
/// budgets refill after a week).
pub const REFILLS: usize = 2;

/// Rounds of every link meeting, at most, to settle.
pub const SETTLE_ROUNDS: usize = 24;

/// What one run did and found.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Nodes, of which members.
    pub nodes: usize,
    /// Members of the community (the rest are relays).
    pub members: usize,
    /// Edits accepted.
    pub edits: usize,
    /// Live exchanges.
    pub exchanges: usize,
    /// Stick visits.
    pub sticks: usize,
    /// Bundles a hostile relay re-wrapped.
    pub rewrapped: usize,
    /// Carrier copies handed over and taken.
    pub copies_handed: usize,
    /// Settling rounds until nothing moved.
    pub settle_rounds: usize,
    /// Property violations (empty: the run passed).
    pub violations: Vec<String>,
}

/// A new primary block around the same signed payload: what any carrier can do.
fn rewrap(bytes: &[u8], rng: &mut ChaCha8Rng, now: u64) -> Vec<u8> {
    let Ok(info) = caravan::bundle::parse_untimed(bytes) else { return bytes.to_vec() };
    if info.admin_record {
        return bytes.to_vec();
    }
    let lifetime = std::time::Duration::from_millis(info.lifetime_ms);
    caravan::bundle::build(&info.source, &info.destination, now, rng.random(), lifetime, &bytes[info.payload])
        .unwrap_or_else(|_| bytes.to_vec())
}

/// Runs seed `seed`.
pub fn run(seed: u64) -> Outcome {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Outcome::default();
    let clock = Arc::new(AtomicU64::new(START_MS));
    let n: usize = rng.random_range(3..=5);
    let members: usize = rng.random_range(2..=n);
    out.nodes = n;
    out.members = members;
    let mut nodes: Vec<Node> = (0..n)
        .map(|i| {
            let mut node = Node::in_memory(&format!("node {i}")).expect("in-memory node");
            let c = clock.clone();
            node.set_clock(Arc::new(move || c.load(Ordering::Relaxed)));
            node
        })
        .collect();
    for relay in nodes.iter_mut().skip(members) {
        relay.set_relay_quota(rng.random_range(256..=1024) * 1024).expect("quota");
    }
    // Cards are swapped out of band (members know the founder); the invitations travel.
    let founder_card = nodes[0].card();
    let cid = nodes[0].create_community("Lake", "a simulated community").expect("community");
    for i in 1..members {
        let card = nodes[i].card();
        nodes[i].add_contact(&founder_card, &[]).expect("contact");
        nodes[0].invite(&cid, &card, Role::Editor).expect("invite");
    }
    // Who meets whom: a random chain through every node, and some more links.
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng);
    let mut edges: BTreeSet<(usize, usize)> = order.windows(2).map(|w| (w[0].min(w[1]), w[0].max(w[1]))).collect();
    for a in 0..n {
        for b in a + 1..n {
            if rng.random_bool(0.3) {
                edges.insert((a, b));
            }
        }
    }
    let edges: Vec<(usize, usize)> = edges.into_iter().collect();
    let hostile: Option<usize> = (members < n && rng.random_bool(0.4)).then(|| rng.random_range(members..n));
    let trace = std::env::var_os("CARAVAN_REAL_TRACE").is_some();
    if trace {
        let ids: Vec<String> = nodes.iter().map(|n| n.node_id().to_string()).collect();
        eprintln!("seed {seed}: {n} nodes {ids:?}, {members} members, edges {edges:?}, hostile {hostile:?}");
    }
    let mut posts: BTreeSet<String> = BTreeSet::new();
    let mut pages: BTreeMap<String, String> = BTreeMap::new();

    let over_quota = |nodes: &[Node], when: &str, out: &mut Outcome| {
        for (i, node) in nodes.iter().enumerate() {
            let (used, quota) = node.relay_usage().expect("usage");
            if used > quota {
                out.violations
                    .push(format!("node {i} carries {used} bytes for others, over its quota of {quota} ({when})"));
            }
        }
    };
    for step in 0..STEPS {
        clock.fetch_add(rng.random_range(600_000..=6 * 3_600_000), Ordering::Relaxed);
        match rng.random_range(0..10) {
            0..=2 => {
                let m = rng.random_range(0..members);
                let k = out.edits;
                let edit = if rng.random_bool(0.5) {
                    let text = format!("post {k} by node {m}");
                    nodes[m].post(&cid, &text).map(|_| posts.insert(text)).is_ok()
                } else {
                    let (page, text) = (format!("page {k}"), format!("written by node {m} at step {step}\n"));
                    nodes[m].put_wiki_page(&cid, &page, &text).map(|_| pages.insert(page, text)).is_ok()
                };
                out.edits += usize::from(edit);
                if trace {
                    eprintln!("step {step}: node {m} edits: {edit}");
                }
            }
            3..=8 => {
                let (a, b) = edges[rng.random_range(0..edges.len())];
                let (x, y) = two(&mut nodes, a, b);
                match local::exchange(x, y, true, true) {
                    Ok((xa, xb)) => {
                        out.copies_handed += xa.copies_handed + xb.copies_handed;
                        if trace {
                            eprintln!(
                                "step {step}: link {a}-{b}: sent {} / {}, copies {} / {}, outcomes {:?} / {:?}",
                                xa.sent,
                                xb.sent,
                                xa.copies_handed,
                                xb.copies_handed,
                                xa.received.outcomes,
                                xb.received.outcomes
                            );
                        }
                    }
                    Err(e) => out.violations.push(format!("step {step}: exchange {a}-{b} failed: {e}")),
                }
                out.exchanges += 1;
            }
            _ => {
                let (a, b) = edges[rng.random_range(0..edges.len())];
                let (from, to) = if rng.random_bool(0.5) { (a, b) } else { (b, a) };
                let mut bundles = match nodes[from].export(Target::Everyone) {
                    Ok(b) => b,
                    Err(e) => {
                        out.violations.push(format!("step {step}: export at node {from} failed: {e}"));
                        continue;
                    }
                };
                if hostile == Some(from) {
                    let now = clock.load(Ordering::Relaxed);
                    for b in bundles.iter_mut() {
                        if rng.random_bool(0.5) {
                            *b = rewrap(b, &mut rng, now);
                            out.rewrapped += 1;
                        }
                    }
                    bundles.shuffle(&mut rng);
                }
                if trace {
                    eprintln!("step {step}: stick {from} -> {to}: {} bundles", bundles.len());
                }
                if let Err(e) = nodes[to].import_many(bundles.iter().map(Vec::as_slice)) {
                    out.violations.push(format!("step {step}: import at node {to} failed: {e}"));
                }
                out.sticks += 1;
            }
        }
        over_quota(&nodes, &format!("step {step}"), &mut out);
    }
    // Settle: every link meets, an hour apart, until a whole round moves nothing.
    let mut refills = 0;
    for round in 1..=SETTLE_ROUNDS {
        clock.fetch_add(3_600_000, Ordering::Relaxed);
        let mut moved = 0;
        for &(a, b) in &edges {
            let (x, y) = two(&mut nodes, a, b);
            match local::exchange(x, y, true, true) {
                Ok((xa, xb)) => {
                    moved += xa.sent + xb.sent;
                    if trace {
                        eprintln!(
                            "settle {round}: link {a}-{b}: sent {} / {}, outcomes {:?} / {:?}",
                            xa.sent, xb.sent, xa.received.outcomes, xb.received.outcomes
                        );
                    }
                }
                Err(e) => out.violations.push(format!("settling: exchange {a}-{b} failed: {e}")),
            }
        }
        over_quota(&nodes, &format!("settling round {round}"), &mut out);
        out.settle_rounds = round;
        if moved == 0 && round > 1 {
            // Nothing moves, but custody is open: the custodians' carrier budgets refill
            // after a week without release, so a week passes before giving up.
            let open = nodes.iter().any(|n| n.custody().is_ok_and(|c| c.open > 0));
            if open && refills < REFILLS {
                refills += 1;
                clock.fetch_add(caravan::custody::REOFFER_AFTER_MS + 3_600_000, Ordering::Relaxed);
                continue;
            }
            break;
        }
    }
    if trace {
        for (i, node) in nodes.iter_mut().enumerate() {
            let feed = caravan::DocId::Community { id: cid, part: caravan::Part::FEED };
            let heads: Vec<String> =
                node.heads(feed).unwrap_or_default().iter().map(|h| format!("{:02x}{:02x}", h[0], h[1])).collect();
            eprintln!(
                "node {i}: custody {:?}, relay {:?}, feed heads {heads:?}",
                node.custody().ok(),
                node.relay_usage().ok()
            );
        }
    }
    // The properties.
    let want_posts: Vec<&String> = posts.iter().collect();
    for (i, node) in nodes.iter_mut().enumerate() {
        if i >= members {
            if node.wiki_page(&cid, "page 0").ok().flatten().is_some()
                || !node.communities().unwrap_or_default().is_empty()
            {
                out.violations.push(format!("relay node {i} reads the community"));
            }
            continue;
        }
        if !node.communities().map(|c| c.iter().any(|c| c.id == cid)).unwrap_or(false) {
            out.violations.push(format!("member node {i} never joined"));
            continue;
        }
        let feed: BTreeSet<String> =
            node.feed(&cid).map(|f| f.into_iter().map(|p| p.text).collect()).unwrap_or_default();
        let missing: Vec<&&String> = want_posts.iter().filter(|p| !feed.contains(**p)).collect();
        if !missing.is_empty() {
            out.violations.push(format!("member node {i} lacks posts {missing:?}"));
        }
        for (page, text) in &pages {
            if node.wiki_page(&cid, page).ok().flatten().as_ref() != Some(text) {
                out.violations.push(format!("member node {i} lacks {page:?}"));
            }
        }
        match node.custody() {
            Ok(c) if c.open == 0 => {}
            Ok(c) => out.violations.push(format!("member node {i} still has custody of {} bundles: {c:?}", c.open)),
            Err(e) => out.violations.push(format!("member node {i}: custody unreadable: {e}")),
        }
    }
    out
}

/// Two distinct nodes, mutably.
fn two(nodes: &mut [Node], a: usize, b: usize) -> (&mut Node, &mut Node) {
    assert!(a < b);
    let (lo, hi) = nodes.split_at_mut(b);
    (&mut lo[a], &mut hi[0])
}

/// Runs every seed; returns the failures with their violations.
pub fn check_seeds(seeds: impl IntoIterator<Item = u64>) -> Vec<(u64, Vec<String>)> {
    seeds
        .into_iter()
        .filter_map(|seed| {
            let out = run(seed);
            (!out.violations.is_empty()).then_some((seed, out.violations))
        })
        .collect()
}
