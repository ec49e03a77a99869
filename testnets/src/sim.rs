//! The deterministic simulator: nodes, bundles, contacts and faults, driven by a seeded
//! random generator and a simulated clock. Every custody, quota and routing decision is
//! made by the library's own I/O-free core (`caravan::custody`, `caravan::relay`,
//! `caravan::routing`); the simulator only moves bundles and keeps score.
//!
//! Documents are modelled as grow-only sets of change ids (the CRDT layer itself is
//! exercised by the library's convergence tests); a bundle carries one change, or a
//! custody signal, or a `Delivered` notice.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::BuildHasherDefault;

use caravan::NodeId;
use caravan::custody::{self, Arrival, BundleId, Disposition, Record, SignalEffect, Standing};
use caravan::relay::{self, Held};
use caravan::routing::{Class, Offer, Relation, Strategy};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::scenario::{Event, Scenario};

/// Fixed-key hashing: iteration order is the same in every run.
type Set<T> = HashSet<T, BuildHasherDefault<DefaultHasher>>;
type Map<K, V> = HashMap<K, V, BuildHasherDefault<DefaultHasher>>;

/// A node's index.
pub type N = u16;
/// A bundle's index in the simulation.
pub type B = u32;
/// A document: community `c` is `c`; the profile of node `n` is `PROFILE + n`.
pub type Doc = u32;
/// Offset of profile documents.
pub const PROFILE: Doc = 1 << 16;

/// One hour and one day, in milliseconds.
pub const HOUR: u64 = 3_600_000;
/// One day, in milliseconds.
pub const DAY: u64 = 24 * HOUR;
/// Bundles a receiver commits per transaction; a crash loses at most the open one.
pub const COMMIT_BATCH: usize = 8;
/// Control bundles (signals, notices) are this small.
pub const CONTROL_BYTES: u64 = 200;

/// Deliberately broken custody rules, to show the simulator catches them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Breaks {
    /// A receiver answers before its store committed (a crash then loses what it
    /// acknowledged).
    pub signal_before_commit: bool,
    /// A custodian releases (and forgets) a bundle as soon as it handed it to anyone,
    /// without waiting for the destinations' signals.
    pub release_on_send: bool,
}

/// What a bundle carries.
#[derive(Clone, Debug)]
pub enum Body {
    /// One change to a document.
    Change {
        /// The document.
        doc: Doc,
        /// The change id.
        change: u32,
    },
    /// A custody signal for the node it is addressed to.
    Signal {
        /// Addressed to.
        to: N,
        /// The answers.
        answers: Vec<(B, Disposition)>,
    },
    /// The source's `Delivered` notice: holders drop these bundles.
    Notice(Vec<B>),
}

/// A bundle in the simulation.
#[derive(Clone, Debug)]
pub struct SimBundle {
    /// Its source.
    pub source: N,
    /// The source's sequence number.
    pub seq: u64,
    /// What it carries.
    pub body: Body,
    /// Size in bytes.
    pub bytes: u64,
    /// Creation time.
    pub created: u64,
    /// Expiry.
    pub expires: u64,
}

#[derive(Clone, Copy, Debug)]
struct Holding {
    copies: u32,
    relayed: bool,
}

#[derive(Default)]
struct SimNode {
    down_until: u64,
    friends: BTreeSet<N>,
    communities: BTreeSet<u16>,
    held: BTreeMap<B, Holding>,
    relayed_bytes: u64,
    seen: Set<B>,
    docs: Map<Doc, Set<u32>>,
    custody: BTreeMap<B, Record>,
    outbox: BTreeMap<N, Vec<(B, Disposition)>>,
    notices: Vec<B>,
    gone: Set<B>,
    contact_times: Vec<u64>,
    seq: u64,
    quota: u64,
}

struct Stick {
    held: BTreeMap<B, u32>,
    bytes: u64,
    capacity: u64,
}

/// Figures from one run.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    /// (change, destination) pairs expected: every reader of the document at the change's
    /// creation, author excluded.
    pub pairs: u64,
    /// Of those, delivered by the end.
    pub delivered: u64,
    /// Delivery delays, in contacts the destination took part in since the change was made.
    pub delays: Vec<u32>,
    /// Change bundles sent over any link (stick writes and reads included).
    pub data_transmissions: u64,
    /// Signal and notice bundles sent over any link.
    pub control_transmissions: u64,
    /// Snapshots sent (late joiners, forgotten bundles).
    pub snapshots: u64,
    /// Highest total bytes held by all nodes at once.
    pub peak_storage: u64,
    /// Total bytes held at the end.
    pub final_storage: u64,
    /// Change-bundle bytes held at the end.
    pub final_data_storage: u64,
    /// Highest relay usage seen, as a fraction of the node's quota (per mille).
    pub peak_quota_permille: u64,
    /// Custody records still open at the end.
    pub open_custody: u64,
    /// Contacts (live meetings and stick visits) simulated.
    pub contacts: u64,
    /// Bundles created (all kinds).
    pub bundles: u64,
}

impl Metrics {
    /// Delivered pairs over expected pairs.
    pub fn delivery_ratio(&self) -> f64 {
        if self.pairs == 0 { 1.0 } else { self.delivered as f64 / self.pairs as f64 }
    }
    /// Median delay in contacts.
    pub fn median_delay(&self) -> u32 {
        let mut d = self.delays.clone();
        d.sort_unstable();
        d.get(d.len() / 2).copied().unwrap_or(0)
    }
    /// Change-bundle transmissions per delivered pair.
    pub fn transmissions_per_delivery(&self) -> f64 {
        if self.delivered == 0 { 0.0 } else { self.data_transmissions as f64 / self.delivered as f64 }
    }
}

/// The result of a run.
#[derive(Debug)]
pub struct Outcome {
    /// Figures.
    pub metrics: Metrics,
    /// Broken properties, each one line. Empty when everything held.
    pub violations: Vec<String>,
}

/// A simulation in progress.
pub struct Sim<'a> {
    sc: &'a Scenario,
    strategy: &'a dyn Strategy,
    breaks: Breaks,
    rng: ChaCha8Rng,
    ids: Vec<NodeId>,
    nodes: Vec<SimNode>,
    members: Vec<BTreeSet<N>>,
    bundles: Vec<SimBundle>,
    /// Per change: (doc, author, created, readers at creation).
    changes: Vec<(Doc, N, u64, Vec<N>)>,
    delivered: Set<(u32, N)>,
    sticks: Vec<Option<Stick>>,
    storage: u64,
    now: u64,
    m: Metrics,
    violations: Vec<String>,
}

/// The node id a simulated node signs as.
pub fn node_id(n: N) -> NodeId {
    let mut id = [0u8; 20];
    id[..2].copy_from_slice(&n.to_be_bytes());
    id[19] = 0xca;
    NodeId(id)
}

/// The simulated node behind a node id made by `node_id`.
pub fn index_of(id: NodeId) -> N {
    N::from_be_bytes([id.0[0], id.0[1]])
}

/// Runs a scenario to its end and checks the properties.
pub fn run(sc: &Scenario, strategy: &dyn Strategy, breaks: Breaks) -> Outcome {
    let mut sim = Sim::new(sc, strategy, breaks);
    for ev in &sc.events {
        sim.step(ev.at, &ev.event);
    }
    sim.finish()
}

impl<'a> Sim<'a> {
    fn new(sc: &'a Scenario, strategy: &'a dyn Strategy, breaks: Breaks) -> Self {
        let mut nodes: Vec<SimNode> = (0..sc.nodes).map(|_| SimNode::default()).collect();
        for (i, n) in nodes.iter_mut().enumerate() {
            n.quota = sc.quota_of(i as N);
        }
        for &(a, b) in &sc.friends {
            nodes[a as usize].friends.insert(b);
            nodes[b as usize].friends.insert(a);
        }
        let mut members = Vec::new();
        for (c, list) in sc.communities.iter().enumerate() {
            for &n in list {
                nodes[n as usize].communities.insert(c as u16);
            }
            members.push(list.iter().copied().collect());
        }
        Sim {
            sc,
            strategy,
            breaks,
            rng: ChaCha8Rng::seed_from_u64(sc.seed ^ 0x5eed),
            ids: (0..sc.nodes).map(|n| node_id(n as N)).collect(),
            nodes,
            members,
            bundles: Vec::new(),
            changes: Vec::new(),
            delivered: Set::default(),
            sticks: (0..sc.sticks).map(|_| None).collect(),
            storage: 0,
            now: 0,
            m: Metrics::default(),
            violations: Vec::new(),
        }
    }

    fn step(&mut self, at: u64, ev: &Event) {
        self.now = at;
        match *ev {
            Event::Edit { author, doc, bytes } => self.edit(author, doc, bytes),
            Event::Meet { a, b } => self.meet(a, b),
            Event::Visit { stick, node } => self.visit(stick as usize, node),
            Event::LoseStick { stick } => self.sticks[stick as usize] = None,
            Event::Crash { node, down_ms } => self.nodes[node as usize].down_until = at + down_ms,
            Event::Join { community, node } => {
                self.members[community as usize].insert(node);
                self.nodes[node as usize].communities.insert(community);
            }
            Event::Renew => self.renew(),
        }
        self.m.peak_storage = self.m.peak_storage.max(self.storage);
    }

    // ----- who is who ------------------------------------------------------------------

    /// Readers of a document (who it is for), author included.
    fn readers(&self, doc: Doc) -> Vec<N> {
        if doc >= PROFILE {
            let owner = (doc - PROFILE) as N;
            let mut r: Vec<N> = self.nodes[owner as usize].friends.iter().copied().collect();
            r.push(owner);
            r
        } else {
            self.members[doc as usize].iter().copied().collect()
        }
    }

    fn is_reader(&self, doc: Doc, n: N) -> bool {
        if doc >= PROFILE {
            let owner = (doc - PROFILE) as N;
            n == owner || self.nodes[owner as usize].friends.contains(&n)
        } else {
            self.members[doc as usize].contains(&n)
        }
    }

    fn is_destination(&self, b: B, n: N) -> bool {
        let bundle = &self.bundles[b as usize];
        match &bundle.body {
            Body::Change { doc, .. } => n != bundle.source && self.is_reader(*doc, n),
            Body::Signal { to, .. } => *to == n,
            // Notices are tiny and anyone may hold a copy of the bundles they cover: flooded.
            Body::Notice(_) => n != bundle.source,
        }
    }

    fn trusts(&self, x: N, y: N) -> bool {
        let (nx, ny) = (&self.nodes[x as usize], &self.nodes[y as usize]);
        nx.friends.contains(&y) || nx.communities.intersection(&ny.communities).next().is_some()
    }

    fn class(&self, b: B) -> Class {
        class_of(&self.bundles[b as usize])
    }

    fn up(&self, n: N) -> bool {
        self.nodes[n as usize].down_until <= self.now
    }

    // ----- making bundles --------------------------------------------------------------

    fn new_bundle(&mut self, source: N, body: Body, bytes: u64) -> B {
        let node = &mut self.nodes[source as usize];
        node.seq += 1;
        let b = self.bundles.len() as B;
        self.bundles.push(SimBundle {
            source,
            seq: node.seq,
            body,
            bytes,
            created: self.now,
            expires: self.now + self.sc.lifetime_ms,
        });
        let copies = self.strategy.initial_copies();
        self.nodes[source as usize].seen.insert(b);
        self.hold(source, b, Holding { copies, relayed: false });
        self.m.bundles += 1;
        b
    }

    fn edit(&mut self, author: N, doc: Doc, bytes: u64) {
        if !self.is_reader(doc, author) {
            return;
        }
        let change = self.changes.len() as u32;
        let readers: Vec<N> = self.readers(doc).into_iter().filter(|&r| r != author).collect();
        self.m.pairs += readers.len() as u64;
        self.changes.push((doc, author, self.now, readers));
        self.nodes[author as usize].docs.entry(doc).or_default().insert(change);
        self.issue(author, doc, change, bytes, None);
    }

    /// Seals a change into a new bundle under the author's custody.
    fn issue(&mut self, author: N, doc: Doc, change: u32, bytes: u64, pending: Option<Vec<NodeId>>) {
        let b = self.new_bundle(author, Body::Change { doc, change }, bytes);
        let pending: Vec<NodeId> = pending.unwrap_or_else(|| {
            self.readers(doc).into_iter().filter(|&r| r != author).map(|r| self.ids[r as usize]).collect()
        });
        let id = BundleId { source: self.ids[author as usize], seq: self.bundles[b as usize].seq };
        let rec = Record::new(id, self.bundles[b as usize].expires, pending, self.strategy.initial_copies(), self.now);
        if rec.pending.is_empty() {
            return;
        }
        self.nodes[author as usize].custody.insert(b, rec);
    }

    /// Daily housekeeping at every node: refill carrier budgets, drop expired bundles,
    /// and re-seal changes whose bundles expire before every destination took them.
    fn renew(&mut self) {
        let now = self.now;
        let initial = self.strategy.initial_copies();
        for n in 0..self.nodes.len() {
            let expired: Vec<B> =
                self.nodes[n].held.keys().copied().filter(|&b| self.bundles[b as usize].expires <= now).collect();
            for b in expired {
                self.drop_bundle(n as N, b);
            }
            let mut reissue = Vec::new();
            let node = &mut self.nodes[n];
            node.custody.retain(|&b, rec| {
                rec.refill(initial, now);
                if rec.live(now + DAY) {
                    return true;
                }
                reissue.push((b, rec.pending.clone()));
                false
            });
            for (b, pending) in reissue {
                if let Body::Change { doc, change } = self.bundles[b as usize].body {
                    let bytes = self.bundles[b as usize].bytes;
                    self.issue(n as N, doc, change, bytes, Some(pending));
                }
            }
        }
    }

    fn hold(&mut self, n: N, b: B, h: Holding) {
        let bytes = self.bundles[b as usize].bytes;
        let node = &mut self.nodes[n as usize];
        if node.held.insert(b, h).is_none() {
            self.storage += bytes;
            if h.relayed {
                node.relayed_bytes += bytes;
            }
        }
    }

    fn drop_bundle(&mut self, n: N, b: B) {
        let bytes = self.bundles[b as usize].bytes;
        let node = &mut self.nodes[n as usize];
        if let Some(h) = node.held.remove(&b) {
            self.storage -= bytes;
            if h.relayed {
                node.relayed_bytes -= bytes;
            }
        }
    }

    // ----- receiving -------------------------------------------------------------------

    /// `y` takes bundle `b` from a link with `copies` carrier copies. Returns the answer.
    fn receive(&mut self, y: N, b: B, copies: u32) -> Disposition {
        let standing = if self.is_destination(b, y) { Standing::Destination } else { Standing::Carrier };
        let bundle = &self.bundles[b as usize];
        let (bytes, expires, source) = (bundle.bytes, bundle.expires, bundle.source);
        let node = &self.nodes[y as usize];
        let held = node.seen.contains(&b);
        let mut evict = Vec::new();
        let mut room = true;
        if standing == Standing::Carrier && !held {
            let relayed: Vec<Held<B>> = node
                .held
                .iter()
                .filter(|(_, h)| h.relayed)
                .map(|(&k, _)| {
                    let x = &self.bundles[k as usize];
                    Held { key: k, source: self.ids[x.source as usize], bytes: x.bytes, expires_ms: x.expires }
                })
                .collect();
            let incoming = Held { key: b, source: self.ids[source as usize], bytes, expires_ms: expires };
            match relay::admit(&relayed, &incoming, node.quota, self.now) {
                Ok(e) => evict = e,
                Err(_) => room = false,
            }
        }
        let receipt = custody::receive(Arrival { standing, held, expired: expires <= self.now, valid: true, room });
        if !receipt.store {
            return receipt.answer;
        }
        for e in evict {
            self.drop_bundle(y, e);
        }
        let relayed = standing == Standing::Carrier;
        self.nodes[y as usize].seen.insert(b);
        self.hold(y, b, Holding { copies, relayed });
        let node = &self.nodes[y as usize];
        if relayed {
            let permille = node.relayed_bytes * 1000 / node.quota.max(1);
            self.m.peak_quota_permille = self.m.peak_quota_permille.max(permille);
            if node.relayed_bytes > node.quota {
                self.violations.push(format!(
                    "node {y} carries {} bytes for others, over its quota of {}",
                    node.relayed_bytes, node.quota
                ));
            }
            return receipt.answer;
        }
        match self.bundles[b as usize].body.clone() {
            Body::Change { doc, change } => {
                self.nodes[y as usize].docs.entry(doc).or_default().insert(change);
                self.note_delivery(change, y);
            }
            Body::Signal { answers, .. } => {
                self.drop_bundle(y, b);
                let from = self.ids[source as usize];
                for (about, d) in answers {
                    self.on_answer(y, about, from, d);
                }
            }
            Body::Notice(list) => {
                for x in list {
                    if !self.is_notice(x) {
                        self.nodes[y as usize].gone.insert(x);
                        self.drop_bundle(y, x);
                    }
                }
            }
        }
        receipt.answer
    }

    fn is_notice(&self, b: B) -> bool {
        matches!(self.bundles[b as usize].body, Body::Notice(_))
    }

    fn note_delivery(&mut self, change: u32, n: N) {
        let (_, _, created, ref readers) = self.changes[change as usize];
        if !readers.contains(&n) || !self.delivered.insert((change, n)) {
            return;
        }
        self.m.delivered += 1;
        let times = &self.nodes[n as usize].contact_times;
        let since = times.len() - times.partition_point(|&t| t <= created);
        self.m.delays.push(since as u32);
    }

    /// The custodian `x` hears `d` about `b` from `from`.
    fn on_answer(&mut self, x: N, b: B, from: NodeId, d: Disposition) {
        // The custody promise: whoever says it holds a change does hold it.
        if matches!(d, Disposition::Accepted | Disposition::Redundant)
            && let Body::Change { doc, change } = self.bundles[b as usize].body
            && !self.nodes[index_of(from) as usize].docs.get(&doc).is_some_and(|d| d.contains(&change))
        {
            self.violations.push(format!(
                "node {} acknowledged change {change} to {} but does not hold it",
                index_of(from),
                doc_name(doc)
            ));
        }
        let Some(rec) = self.nodes[x as usize].custody.get_mut(&b) else { return };
        if rec.on_answer(from, d) == SignalEffect::Released {
            self.release(x, b);
        }
    }

    /// Every destination took custody: forget the bundle and tell the holders.
    fn release(&mut self, x: N, b: B) {
        self.nodes[x as usize].custody.remove(&b);
        self.nodes[x as usize].gone.insert(b);
        self.drop_bundle(x, b);
        self.nodes[x as usize].notices.push(b);
    }

    /// Turns queued answers and notices into bundles (after a commit).
    fn flush(&mut self, y: N) {
        let outbox = std::mem::take(&mut self.nodes[y as usize].outbox);
        for (to, answers) in outbox {
            self.new_bundle(y, Body::Signal { to, answers }, CONTROL_BYTES);
        }
        let notices = std::mem::take(&mut self.nodes[y as usize].notices);
        if !notices.is_empty() {
            let bytes = CONTROL_BYTES + 8 * notices.len() as u64;
            self.new_bundle(y, Body::Notice(notices), bytes);
        }
    }

    // ----- links -----------------------------------------------------------------------

    fn offers(&self, x: N, y: N) -> Vec<(B, Offer)> {
        let (nx, ny) = (&self.nodes[x as usize], &self.nodes[y as usize]);
        let trusted = self.trusts(x, y);
        nx.held
            .iter()
            .filter(|(b, _)| !ny.seen.contains(b) && self.bundles[**b as usize].expires > self.now)
            .map(|(&b, h)| {
                let bundle = &self.bundles[b as usize];
                let relation = if self.is_destination(b, y) {
                    Relation::Destination
                } else if trusted && !h.relayed {
                    Relation::Trusted
                } else {
                    Relation::Stranger
                };
                let copies = nx.custody.get(&b).map_or(h.copies, |r| r.copies);
                (
                    b,
                    Offer {
                        class: self.class(b),
                        bytes: bundle.bytes,
                        expires_ms: bundle.expires,
                        relation,
                        copies,
                        holder_next_ms: None,
                        peer_next_ms: None,
                    },
                )
            })
            .collect()
    }

    fn count(&mut self, b: B) {
        match self.bundles[b as usize].body {
            Body::Change { .. } => self.m.data_transmissions += 1,
            _ => self.m.control_transmissions += 1,
        }
    }

    /// A live contact: both directions, with the link's faults.
    fn meet(&mut self, a: N, b: N) {
        if a == b || !self.up(a) || !self.up(b) {
            return;
        }
        self.m.contacts += 1;
        self.nodes[a as usize].contact_times.push(self.now);
        self.nodes[b as usize].contact_times.push(self.now);
        // Summaries first: a pending destination that already holds a bundle answers at once.
        self.answer_from_summary(a, b);
        self.answer_from_summary(b, a);
        self.snapshots(a, b);
        self.snapshots(b, a);
        let (first, second) = if self.rng.random_bool(0.5) { (a, b) } else { (b, a) };
        self.flush(first);
        // The receiver's answers are bundles once committed, so they go back at once.
        if self.send(first, second) {
            self.flush(second);
            self.send(second, first);
        }
        self.flush(a);
        self.flush(b);
    }

    fn answer_from_summary(&mut self, x: N, y: N) {
        let from = self.ids[y as usize];
        let answered: Vec<B> = self.nodes[x as usize]
            .custody
            .iter()
            .filter(|(b, r)| r.awaits(&from) && self.nodes[y as usize].seen.contains(b))
            .map(|(&b, _)| b)
            .collect();
        for b in answered {
            self.on_answer(x, b, from, Disposition::Redundant);
        }
    }

    /// Changes `y` should read that `x` has but no longer holds bundles for travel as a
    /// snapshot of the document.
    fn snapshots(&mut self, x: N, y: N) {
        let docs: Vec<Doc> = self.nodes[x as usize].docs.keys().copied().collect();
        for doc in docs {
            if !self.is_reader(doc, y) {
                continue;
            }
            let have = self.nodes[y as usize].docs.get(&doc).map_or(0, |s| s.len());
            let mine = &self.nodes[x as usize].docs[&doc];
            if have >= mine.len() {
                continue;
            }
            let theirs = self.nodes[y as usize].docs.get(&doc);
            let missing: Vec<u32> = mine.iter().copied().filter(|c| theirs.is_none_or(|t| !t.contains(c))).collect();
            let covered: Set<u32> = self.nodes[x as usize]
                .held
                .keys()
                .filter_map(|&h| match self.bundles[h as usize].body {
                    Body::Change { change, .. } => Some(change),
                    _ => None,
                })
                .collect();
            let uncovered = missing.iter().any(|c| !covered.contains(c));
            if !uncovered {
                continue;
            }
            self.m.snapshots += 1;
            for c in missing {
                self.nodes[y as usize].docs.entry(doc).or_default().insert(c);
                self.note_delivery(c, y);
            }
        }
    }

    /// Sends from `x` to `y` what the strategy picks. Returns false if the link dropped.
    fn send(&mut self, x: N, y: N) -> bool {
        let offers = self.offers(x, y);
        let picks = self.strategy.choose(&offers.iter().map(|(_, o)| *o).collect::<Vec<_>>());
        let mut list: Vec<(B, u32)> = picks.iter().map(|p| (offers[p.index].0, p.copies)).collect();
        let f = self.sc.faults;
        // Duplicated and reordered delivery.
        if f.duplicate > 0.0 && !list.is_empty() && self.rng.random_bool(f.duplicate) {
            let i = self.rng.random_range(0..list.len());
            list.insert(self.rng.random_range(0..=list.len()), list[i]);
            let j = self.rng.random_range(0..list.len());
            let k = self.rng.random_range(0..list.len());
            list.swap(j, k);
        }
        let mut cut = list.len();
        let mut dropped = false;
        if f.link_drop > 0.0 && !list.is_empty() && self.rng.random_bool(f.link_drop) {
            cut = self.rng.random_range(0..list.len());
            dropped = true;
        }
        let crash = f.crash_in_transfer > 0.0 && !list.is_empty() && self.rng.random_bool(f.crash_in_transfer);
        if crash {
            cut = self.rng.random_range(0..list.len());
            dropped = true;
        }
        let from = self.ids[y as usize];
        let mut full = false;
        for (ci, chunk) in list.chunks(COMMIT_BATCH).enumerate() {
            let start = ci * COMMIT_BATCH;
            if start >= cut {
                break;
            }
            let end = (start + chunk.len()).min(cut);
            let torn = end < start + chunk.len();
            if torn && crash {
                // The open transaction is lost with the crash: nothing of it is stored.
                if self.breaks.signal_before_commit {
                    for &(b, _) in &chunk[..end - start] {
                        self.count(b);
                        self.on_answer(x, b, from, Disposition::Accepted);
                    }
                }
                self.nodes[y as usize].down_until = self.now + HOUR;
                break;
            }
            for &(b, copies) in &chunk[..end - start] {
                // A carrier that ran out of room for us gets no more carrier copies now.
                if full && !self.is_destination(b, y) {
                    continue;
                }
                self.count(b);
                let answer = self.receive(y, b, copies);
                full |= answer == Disposition::NoSpace;
                self.after_send(x, y, b, copies, answer);
            }
        }
        !dropped
    }

    /// The sender's side once `y` answered on the live link.
    fn after_send(&mut self, x: N, y: N, b: B, copies: u32, answer: Disposition) {
        let dest = self.is_destination(b, y);
        if dest {
            self.on_answer(x, b, self.ids[y as usize], answer);
            // A carrier's job for a bundle with a single destination (a node endpoint, seen
            // in the primary block) ends when that destination took it.
            let unicast = matches!(self.bundles[b as usize].body, Body::Signal { .. });
            if unicast && answer.releases() && self.nodes[x as usize].held.get(&b).is_some_and(|h| h.relayed) {
                self.drop_bundle(x, b);
            }
            let source = self.bundles[b as usize].source;
            if source != x && matches!(self.bundles[b as usize].body, Body::Change { .. }) {
                self.nodes[y as usize].outbox.entry(source).or_default().push((b, answer));
            }
        }
        let stored = answer == Disposition::Accepted;
        if !stored || copies == 0 {
            return; // a refused carrier copy is not spent: the custodian gives it elsewhere
        }
        let now = self.now;
        let node = &mut self.nodes[x as usize];
        if let Some(rec) = node.custody.get_mut(&b) {
            rec.spend(copies, now);
        } else if let Some(h) = node.held.get_mut(&b) {
            h.copies = h.copies.saturating_sub(copies);
        }
        if self.breaks.release_on_send && self.nodes[x as usize].custody.contains_key(&b) {
            self.release(x, b);
        }
    }

    /// A stick visit: take in what it carries, then leave what we hold.
    fn visit(&mut self, s: usize, n: N) {
        if !self.up(n) {
            return;
        }
        self.m.contacts += 1;
        self.nodes[n as usize].contact_times.push(self.now);
        let stick = self.sticks[s].get_or_insert_with(|| Stick {
            held: BTreeMap::new(),
            bytes: 0,
            capacity: self.sc.stick_bytes,
        });
        let on_stick: Vec<(B, u32)> = stick.held.iter().map(|(&b, &c)| (b, c)).collect();
        for (b, copies) in on_stick {
            if self.nodes[n as usize].seen.contains(&b) || self.bundles[b as usize].expires <= self.now {
                continue;
            }
            self.count(b);
            let answer = self.receive(n, b, copies);
            if self.is_destination(b, n) && matches!(self.bundles[b as usize].body, Body::Change { .. }) {
                let source = self.bundles[b as usize].source;
                self.nodes[n as usize].outbox.entry(source).or_default().push((b, answer));
            }
        }
        self.flush(n);
        // Drop what expired or what this node knows was delivered; then write everything
        // we hold (a stick is a deliberate courier), in the strategy's class order.
        let now = self.now;
        let bundles = &self.bundles;
        let node = &self.nodes[n as usize];
        let stick = self.sticks[s].as_mut().expect("inserted above");
        stick.held.retain(|&b, _| {
            let keep = bundles[b as usize].expires > now && !node.gone.contains(&b);
            keep || {
                stick.bytes -= bundles[b as usize].bytes;
                false
            }
        });
        let mut order: Vec<(Class, u64, B)> = node
            .held
            .keys()
            .copied()
            .filter(|b| !stick.held.contains_key(b) && bundles[*b as usize].expires > now)
            .map(|b| (class_of(&bundles[b as usize]), bundles[b as usize].expires, b))
            .collect();
        order.sort_unstable();
        let mut written = Vec::new();
        for (_, _, b) in order {
            let bytes = bundles[b as usize].bytes;
            if stick.bytes + bytes > stick.capacity {
                continue;
            }
            stick.bytes += bytes;
            stick.held.insert(b, 0);
            written.push(b);
        }
        for b in written {
            self.count(b);
        }
    }

    // ----- the end ---------------------------------------------------------------------

    fn finish(mut self) -> Outcome {
        // Convergence: every reader of every document holds every change made to it.
        let mut by_doc: BTreeMap<Doc, Vec<u32>> = BTreeMap::new();
        for (c, (doc, _, _, _)) in self.changes.iter().enumerate() {
            by_doc.entry(*doc).or_default().push(c as u32);
        }
        for (doc, changes) in &by_doc {
            for r in self.readers(*doc) {
                let have = self.nodes[r as usize].docs.get(doc);
                let missing = changes.iter().filter(|c| have.is_none_or(|h| !h.contains(c))).count();
                if missing > 0 {
                    self.violations.push(format!(
                        "node {r} lacks {missing} of {} changes to {}",
                        changes.len(),
                        doc_name(*doc)
                    ));
                }
            }
        }
        for (c, (doc, author, _, _)) in self.changes.iter().enumerate() {
            if !self.nodes[*author as usize].docs.get(doc).is_some_and(|d| d.contains(&(c as u32))) {
                self.violations.push(format!("change {c} was lost by its author {author}"));
            }
        }
        self.violations.truncate(20);
        self.m.final_storage =
            self.nodes.iter().flat_map(|n| n.held.keys()).map(|&b| self.bundles[b as usize].bytes).sum();
        self.m.final_data_storage = self
            .nodes
            .iter()
            .flat_map(|n| n.held.keys())
            .filter(|&&b| matches!(self.bundles[b as usize].body, Body::Change { .. }))
            .map(|&b| self.bundles[b as usize].bytes)
            .sum();
        self.m.open_custody = self.nodes.iter().map(|n| n.custody.len() as u64).sum();
        Outcome { metrics: self.m, violations: self.violations }
    }
}

fn class_of(bundle: &SimBundle) -> Class {
    let content = match bundle.body {
        Body::Change { doc, .. } if doc >= PROFILE => Class::Profile,
        Body::Change { .. } => Class::Content,
        _ => Class::Control,
    };
    Class::of(content, bundle.bytes)
}

/// A document's name in messages.
pub fn doc_name(doc: Doc) -> String {
    if doc >= PROFILE { format!("the profile of node {}", doc - PROFILE) } else { format!("community {doc}") }
}
