//! Scenarios: who exists, who belongs where, who meets whom and when, and what goes wrong.
//! A scenario is data (a list of timed events), so a run is a pure function of it; random
//! scenarios are generated from a seed, named ones are written out below.

use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::sim::{DAY, Doc, HOUR, N, PROFILE};

/// Something that happens at an instant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// `author` changes a document (a community it belongs to, or its own profile).
    Edit {
        /// Who edits.
        author: N,
        /// Which document.
        doc: Doc,
        /// Size of the resulting bundle.
        bytes: u64,
    },
    /// A live, two-way contact.
    Meet {
        /// One side.
        a: N,
        /// The other.
        b: N,
    },
    /// A stick is plugged into a node: import, then export.
    Visit {
        /// Which stick.
        stick: u16,
        /// Where.
        node: N,
    },
    /// A stick is lost with everything on it.
    LoseStick {
        /// Which stick.
        stick: u16,
    },
    /// A node crashes and stays down for a while (it restarts from its store).
    Crash {
        /// Which node.
        node: N,
        /// For how long.
        down_ms: u64,
    },
    /// A node joins a community late.
    Join {
        /// Which community.
        community: u16,
        /// Who joins.
        node: N,
    },
    /// Daily housekeeping at every node (expiry, carrier budget refill, re-sealing).
    Renew,
}

/// An event and its time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timed {
    /// When (ms of simulated time).
    pub at: u64,
    /// What.
    pub event: Event,
}

/// Link faults, as probabilities per transfer.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Faults {
    /// The link drops at a random point of a transfer.
    pub link_drop: f64,
    /// The receiver crashes at a random point (its open transaction is lost).
    pub crash_in_transfer: f64,
    /// A bundle is delivered twice and the order shuffled.
    pub duplicate: f64,
}

/// What the hostile carriers do to the bundles they hand over (live meetings and stick
/// visits), as probabilities per bundle. They hold no keys: they cannot forge signed
/// content, only rewrite the primary block around it, drop it, copy it and replay it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Malice {
    /// Re-wrap: a new primary sequence number (often another real bundle's of the same
    /// source), new creation time, longer lifetime.
    pub rewrap: f64,
    /// Re-address: the primary block claims another source or another destination.
    pub readdress: f64,
    /// Withhold: drop the bundle instead of passing it on (and never answer for it).
    pub withhold: f64,
    /// Duplicate: hand the bundle over twice (the second copy tampered with on its own).
    pub duplicate: f64,
    /// Replay, per hand-over: add one to three bundles seen earlier (delivered and
    /// forgotten ones included), tampered with like the rest.
    pub replay: f64,
}

impl Malice {
    /// Whether any tampering happens at all.
    pub fn any(&self) -> bool {
        self.rewrap > 0.0 || self.readdress > 0.0 || self.withhold > 0.0 || self.duplicate > 0.0 || self.replay > 0.0
    }
}

/// A whole scenario.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Name, for reports.
    pub name: String,
    /// The seed it was generated from (also seeds the link faults).
    pub seed: u64,
    /// Number of nodes.
    pub nodes: usize,
    /// Initial members of each community.
    pub communities: Vec<Vec<N>>,
    /// Friendships (both ways).
    pub friends: Vec<(N, N)>,
    /// Relay quota of every node, and exceptions.
    pub quota: u64,
    /// Per-node quota overrides.
    pub quotas: Vec<(N, u64)>,
    /// Number of sticks.
    pub sticks: usize,
    /// Stick capacity in bytes.
    pub stick_bytes: u64,
    /// Bundle lifetime.
    pub lifetime_ms: u64,
    /// Link faults.
    pub faults: Faults,
    /// Hostile carriers.
    pub hostile: Vec<N>,
    /// What the hostile carriers do.
    pub malice: Malice,
    /// The events, in time order.
    pub events: Vec<Timed>,
}

impl Scenario {
    /// A node's relay quota.
    pub fn quota_of(&self, n: N) -> u64 {
        self.quotas.iter().find(|(m, _)| *m == n).map_or(self.quota, |(_, q)| *q)
    }

    fn empty(name: &str, seed: u64, nodes: usize) -> Scenario {
        Scenario {
            name: name.to_string(),
            seed,
            nodes,
            communities: Vec::new(),
            friends: Vec::new(),
            quota: 1 << 30,
            quotas: Vec::new(),
            sticks: 0,
            stick_bytes: 1 << 30,
            lifetime_ms: 30 * DAY,
            faults: Faults::default(),
            hostile: Vec::new(),
            malice: Malice::default(),
            events: Vec::new(),
        }
    }

    fn at(&mut self, at: u64, event: Event) {
        self.events.push(Timed { at, event });
    }

    /// Adds a `Renew` at the start of every day up to `days`, then sorts events by time
    /// (stable: same-time events keep their order).
    fn seal(mut self, days: u64) -> Scenario {
        for d in 0..=days {
            self.at(d * DAY, Event::Renew);
        }
        self.events.sort_by_key(|e| (e.at, !matches!(e.event, Event::Renew)));
        self
    }

    /// Time of the last edit.
    pub fn last_edit(&self) -> u64 {
        self.events.iter().filter(|e| matches!(e.event, Event::Edit { .. })).map(|e| e.at).max().unwrap_or(0)
    }
}

/// Parameters of a random scenario.
#[derive(Clone, Debug)]
pub struct Params {
    /// Nodes.
    pub nodes: usize,
    /// Communities.
    pub communities: usize,
    /// Members per community (inclusive range).
    pub members: (usize, usize),
    /// Friends per node (average).
    pub friends: usize,
    /// Days during which people edit.
    pub edit_days: u64,
    /// Edits per day, all nodes together.
    pub edits_per_day: usize,
    /// Days after the last edit; during them the schedule is connected every day.
    pub settle_days: u64,
    /// Random encounters per day.
    pub encounters_per_day: usize,
    /// Spokes of the hub (node 0) that meet it in one daily window.
    pub hub_spokes: usize,
    /// Sticks travelling along random routes, one stop a day.
    pub sticks: usize,
    /// Chance a stick is lost on a given day.
    pub stick_loss: f64,
    /// Crashes per day, all nodes together (expected).
    pub crashes_per_day: f64,
    /// Late joins (one member joins a random community after the edits).
    pub late_joins: usize,
    /// Relay quota.
    pub quota: u64,
    /// Bundle sizes (inclusive range).
    pub bytes: (u64, u64),
    /// Link faults.
    pub faults: Faults,
    /// Share of seeds with hostile carriers.
    pub malice_share: f64,
    /// Hostile carriers in such a seed (inclusive range).
    pub hostile: (usize, usize),
    /// Highest rate of each tampering; a seed draws its own mix below these (each one
    /// may also be off).
    pub malice_max: Malice,
}

impl Params {
    /// Small networks with every fault, for the many-seed property run.
    pub fn property() -> Params {
        Params {
            nodes: 24,
            communities: 3,
            members: (3, 7),
            friends: 2,
            edit_days: 6,
            edits_per_day: 10,
            settle_days: 40,
            encounters_per_day: 10,
            hub_spokes: 5,
            sticks: 2,
            stick_loss: 0.05,
            crashes_per_day: 0.5,
            late_joins: 1,
            quota: 48 * 1024,
            bytes: (1024, 12 * 1024),
            faults: Faults { link_drop: 0.1, crash_in_transfer: 0.05, duplicate: 0.1 },
            malice_share: 0.5,
            hostile: (1, 4),
            malice_max: Malice { rewrap: 0.6, readdress: 0.3, withhold: 0.3, duplicate: 0.3, replay: 0.6 },
        }
    }

    /// The 100-node network of the routing figures.
    pub fn hundred() -> Params {
        Params {
            nodes: 100,
            communities: 8,
            members: (4, 10),
            friends: 3,
            edit_days: 10,
            edits_per_day: 40,
            settle_days: 40,
            encounters_per_day: 30,
            hub_spokes: 10,
            sticks: 3,
            stick_loss: 0.02,
            crashes_per_day: 1.0,
            late_joins: 2,
            quota: 1 << 20,
            bytes: (512, 16 * 1024),
            faults: Faults { link_drop: 0.05, crash_in_transfer: 0.02, duplicate: 0.05 },
            malice_share: 0.0,
            hostile: (0, 0),
            malice_max: Malice::default(),
        }
    }

    /// 1,000 nodes for 30 days, for the simulator's speed figure.
    pub fn thousand() -> Params {
        Params {
            nodes: 1000,
            communities: 80,
            members: (4, 12),
            friends: 3,
            edit_days: 20,
            edits_per_day: 300,
            settle_days: 10,
            encounters_per_day: 400,
            hub_spokes: 20,
            sticks: 20,
            stick_loss: 0.02,
            crashes_per_day: 5.0,
            late_joins: 10,
            quota: 4 << 20,
            bytes: (512, 16 * 1024),
            faults: Faults { link_drop: 0.05, crash_in_transfer: 0.02, duplicate: 0.05 },
            malice_share: 0.0,
            hostile: (0, 0),
            malice_max: Malice::default(),
        }
    }
}

/// Generates a random scenario from a seed.
pub fn random(seed: u64, p: &Params) -> Scenario {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut sc = Scenario::empty(&format!("random seed {seed}"), seed, p.nodes);
    sc.quota = p.quota;
    sc.faults = p.faults;
    sc.sticks = p.sticks;
    sc.stick_bytes = 64 * p.bytes.1;
    malice(seed, p, &mut sc);
    let all: Vec<N> = (0..p.nodes as N).collect();
    for _ in 0..p.communities {
        let k = rng.random_range(p.members.0..=p.members.1).min(p.nodes);
        let mut m: Vec<N> = all.choose_multiple(&mut rng, k).copied().collect();
        m.sort_unstable();
        sc.communities.push(m);
    }
    for n in 0..p.nodes as N {
        for _ in 0..p.friends / 2 + usize::from(rng.random_bool(0.5)) {
            let f = rng.random_range(0..p.nodes as N);
            if f != n && !sc.friends.contains(&(n, f)) && !sc.friends.contains(&(f, n)) {
                sc.friends.push((n, f));
            }
        }
    }
    let days = p.edit_days + p.settle_days;
    let spokes: Vec<N> = (1..=p.hub_spokes.min(p.nodes - 1) as N).collect();
    let routes: Vec<Vec<N>> = (0..p.sticks).map(|_| all.choose_multiple(&mut rng, 4).copied().collect()).collect();
    for day in 0..days {
        let base = day * DAY;
        if day < p.edit_days {
            for _ in 0..p.edits_per_day {
                let author = rng.random_range(0..p.nodes as N);
                let mine: Vec<Doc> = sc
                    .communities
                    .iter()
                    .enumerate()
                    .filter(|(_, m)| m.contains(&author))
                    .map(|(c, _)| c as Doc)
                    .chain(std::iter::once(PROFILE + author as Doc))
                    .collect();
                let doc = *mine.choose(&mut rng).expect("the profile is always there");
                let bytes = rng.random_range(p.bytes.0..=p.bytes.1);
                sc.at(base + rng.random_range(HOUR..DAY - HOUR), Event::Edit { author, doc, bytes });
            }
        }
        for _ in 0..p.encounters_per_day {
            let (a, b) = (rng.random_range(0..p.nodes as N), rng.random_range(0..p.nodes as N));
            sc.at(base + rng.random_range(HOUR..DAY - HOUR), Event::Meet { a, b });
        }
        // The hub's one daily window, 18:00 to 19:00.
        for (i, &s) in spokes.iter().enumerate() {
            sc.at(base + 18 * HOUR + i as u64 * HOUR / (spokes.len() as u64 + 1), Event::Meet { a: 0, b: s });
        }
        for (s, route) in routes.iter().enumerate() {
            let node = route[(day as usize) % route.len()];
            sc.at(base + 12 * HOUR, Event::Visit { stick: s as u16, node });
            if rng.random_bool(p.stick_loss) {
                sc.at(base + 13 * HOUR, Event::LoseStick { stick: s as u16 });
            }
        }
        let crashes = p.crashes_per_day.floor() as usize + usize::from(rng.random_bool(p.crashes_per_day.fract()));
        for _ in 0..crashes {
            let node = rng.random_range(0..p.nodes as N);
            sc.at(base + rng.random_range(0..DAY), Event::Crash { node, down_ms: rng.random_range(HOUR..6 * HOUR) });
        }
        // After the edits the schedule is connected every day: a random path through
        // every node, in time order, so anything can cross the whole network in a day.
        if day >= p.edit_days {
            let mut path = all.clone();
            path.shuffle(&mut rng);
            for (i, w) in path.windows(2).enumerate() {
                sc.at(base + 20 * HOUR + i as u64 * 1000, Event::Meet { a: w[0], b: w[1] });
            }
        }
    }
    for _ in 0..p.late_joins {
        let community = rng.random_range(0..p.communities as u16);
        let node = rng.random_range(0..p.nodes as N);
        if !sc.communities[community as usize].contains(&node) {
            let day = rng.random_range(p.edit_days..(p.edit_days + p.settle_days / 2).max(p.edit_days + 1));
            sc.at(day * DAY + HOUR / 2, Event::Join { community, node });
        }
    }
    sc.seal(days)
}

/// Picks the hostile carriers and their mix of tampering. A generator of its own, so
/// the rest of a seed's scenario is the same with or without them.
fn malice(seed: u64, p: &Params, sc: &mut Scenario) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xba5e_ca11_0000_0000);
    if p.malice_share <= 0.0 || p.hostile.1 == 0 || !rng.random_bool(p.malice_share.min(1.0)) {
        return;
    }
    let all: Vec<N> = (0..p.nodes as N).collect();
    let k = rng.random_range(p.hostile.0.max(1)..=p.hostile.1).min(p.nodes);
    sc.hostile = all.choose_multiple(&mut rng, k).copied().collect();
    sc.hostile.sort_unstable();
    let mx = p.malice_max;
    // Any mix: each tampering is on (at a random rate up to its maximum) or off.
    let mut draw = |max: f64| if max > 0.0 && rng.random_bool(0.8) { rng.random_range(0.0..=max) } else { 0.0 };
    sc.malice = Malice {
        rewrap: draw(mx.rewrap),
        readdress: draw(mx.readdress),
        withhold: draw(mx.withhold),
        duplicate: draw(mx.duplicate),
        replay: draw(mx.replay),
    };
    if !sc.malice.any() {
        sc.malice.rewrap = mx.rewrap;
    }
}

/// Forces hostile carriers into every seed of `p` (for tests and `run --hostile`).
pub fn with_malice(mut p: Params) -> Params {
    p.malice_share = 1.0;
    p
}

/// The named scenarios checked in CI.
pub fn named() -> Vec<Scenario> {
    vec![
        two_villages_and_a_courier(),
        three_villages_pure_relay(),
        hub_with_one_daily_window(),
        stick_lost(),
        relay_fills_up(),
        hostile_relay(),
    ]
}

/// Looks a named scenario up.
pub fn by_name(name: &str) -> Option<Scenario> {
    named().into_iter().find(|s| s.name == name)
}

/// Villages A (0) and B (1) share a community; a courier (2), a member of nothing, walks
/// between them every day.
pub fn two_villages_and_a_courier() -> Scenario {
    let mut sc = Scenario::empty("two-villages-courier", 1, 3);
    sc.communities.push(vec![0, 1]);
    for day in 0..15 {
        let t = day * DAY;
        if day < 4 {
            sc.at(t + 9 * HOUR, Event::Edit { author: 0, doc: 0, bytes: 2000 });
            sc.at(t + 10 * HOUR, Event::Edit { author: 1, doc: 0, bytes: 3000 });
        }
        sc.at(t + 12 * HOUR, Event::Meet { a: 0, b: 2 });
        sc.at(t + 18 * HOUR, Event::Meet { a: 2, b: 1 });
    }
    sc.seal(15)
}

/// A (0) and C (2) share a community and never meet; B (1) is not a member and only
/// carries what it cannot read.
pub fn three_villages_pure_relay() -> Scenario {
    let mut sc = Scenario::empty("three-villages-relay", 2, 3);
    sc.communities.push(vec![0, 2]);
    sc.friends.push((0, 2));
    for day in 0..20 {
        let t = day * DAY;
        if day < 5 {
            sc.at(t + 8 * HOUR, Event::Edit { author: 0, doc: 0, bytes: 4000 });
            sc.at(t + 8 * HOUR, Event::Edit { author: 2, doc: 0, bytes: 4000 });
            sc.at(t + 9 * HOUR, Event::Edit { author: 0, doc: PROFILE, bytes: 1000 });
        }
        sc.at(t + 12 * HOUR, Event::Meet { a: 0, b: 1 });
        sc.at(t + 18 * HOUR, Event::Meet { a: 1, b: 2 });
    }
    sc.seal(20)
}

/// A hub (0), member of nothing, meets six villages once a day in one window; the
/// villages form two communities and never meet each other.
pub fn hub_with_one_daily_window() -> Scenario {
    let mut sc = Scenario::empty("hub-daily-window", 3, 7);
    sc.communities.push(vec![1, 2, 3]);
    sc.communities.push(vec![3, 4, 5, 6]);
    for day in 0..15 {
        let t = day * DAY;
        if day < 5 {
            for v in 1..7u16 {
                let doc = if v <= 3 { 0 } else { 1 };
                sc.at(t + 9 * HOUR + v as u64, Event::Edit { author: v, doc, bytes: 1500 });
            }
        }
        for v in 1..7u16 {
            sc.at(t + 18 * HOUR + v as u64 * 5 * 60_000, Event::Meet { a: 0, b: v });
        }
    }
    sc.seal(15)
}

/// One stick travels A (0) -> B (1) -> C (2) -> A; on day 3 it is lost between B and C.
/// A second stick replaces it from day 5.
pub fn stick_lost() -> Scenario {
    let mut sc = Scenario::empty("stick-lost", 4, 3);
    sc.communities.push(vec![0, 1, 2]);
    sc.sticks = 2;
    for day in 0..3 {
        sc.at(day * DAY + 9 * HOUR, Event::Edit { author: 0, doc: 0, bytes: 5000 });
        sc.at(day * DAY + 9 * HOUR, Event::Edit { author: 1, doc: 0, bytes: 5000 });
    }
    let route = [0u16, 1, 2];
    for day in 0..3 {
        sc.at(day * DAY + 12 * HOUR, Event::Visit { stick: 0, node: route[day as usize] });
    }
    sc.at(3 * DAY + 12 * HOUR, Event::Visit { stick: 0, node: 0 });
    sc.at(4 * DAY + 12 * HOUR, Event::Visit { stick: 0, node: 1 });
    sc.at(4 * DAY + 15 * HOUR, Event::LoseStick { stick: 0 });
    for day in 5..25 {
        sc.at(day * DAY + 12 * HOUR, Event::Visit { stick: 1, node: route[(day % 3) as usize] });
    }
    sc.seal(25)
}

/// A (0) and C (2) share a community; relay B (1) has room for four bundles, and a busy
/// stranger D (3) keeps filling it with its own traffic for E (4).
pub fn relay_fills_up() -> Scenario {
    let mut sc = Scenario::empty("relay-fills-up", 5, 5);
    sc.communities.push(vec![0, 2]);
    sc.communities.push(vec![3, 4]);
    sc.quotas.push((1, 16_500));
    for day in 0..40 {
        let t = day * DAY;
        if day < 6 {
            for k in 0..3 {
                sc.at(t + 8 * HOUR + k, Event::Edit { author: 0, doc: 0, bytes: 4000 });
                sc.at(t + 8 * HOUR + k, Event::Edit { author: 3, doc: 1, bytes: 4000 });
            }
        }
        sc.at(t + 10 * HOUR, Event::Meet { a: 3, b: 1 });
        sc.at(t + 12 * HOUR, Event::Meet { a: 0, b: 1 });
        sc.at(t + 18 * HOUR, Event::Meet { a: 1, b: 2 });
        sc.at(t + 20 * HOUR, Event::Meet { a: 1, b: 4 });
    }
    sc.seal(40)
}

/// A (0) and C (2) share a community and never meet; B (1), a member of nothing, is the
/// only way between them and a hostile carrier: it re-wraps, re-addresses, withholds,
/// duplicates and replays what it carries, signals and notices included. A notice it
/// withholds leaves copies at the members until they expire, so the run lasts 40 days.
pub fn hostile_relay() -> Scenario {
    let mut sc = Scenario::empty("hostile-relay", 6, 3);
    sc.communities.push(vec![0, 2]);
    sc.friends.push((0, 2));
    sc.hostile = vec![1];
    sc.malice = Malice { rewrap: 0.5, readdress: 0.2, withhold: 0.2, duplicate: 0.3, replay: 0.8 };
    for day in 0..40 {
        let t = day * DAY;
        if day < 6 {
            for k in 0..3 {
                sc.at(t + 8 * HOUR + k, Event::Edit { author: 0, doc: 0, bytes: 3000 });
                sc.at(t + 8 * HOUR + k, Event::Edit { author: 2, doc: 0, bytes: 3000 });
            }
            sc.at(t + 9 * HOUR, Event::Edit { author: 0, doc: PROFILE, bytes: 1000 });
        }
        sc.at(t + 12 * HOUR, Event::Meet { a: 0, b: 1 });
        sc.at(t + 18 * HOUR, Event::Meet { a: 1, b: 2 });
    }
    sc.seal(40)
}
