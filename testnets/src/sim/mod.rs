//! The deterministic simulator: nodes, bundles, contacts and faults, driven by a seeded
//! random generator and a simulated clock. Every custody, quota and routing decision is
//! made by the library's own I/O-free core (`caravan::custody`, `caravan::relay`,
//! `caravan::routing`); the simulator only moves bundles and keeps score.
//!
//! Documents are modelled as grow-only sets of change ids (the CRDT layer itself is
//! exercised by the library's convergence tests); a bundle carries one change, or a
//! custody signal, or a `Delivered` notice.
//!
//! A bundle is split as on the wire: its **signed content** (`Content`: the author, the
//! custody sequence number `q` and what it carries, all under the author's signature)
//! and its **primary block** (`Primary`: claimed source, sequence number, times,
//! claimed destination), which any carrier can rewrite. Custody, duplicates, forgetting,
//! notices and signals go by the signed content only: a bundle's custody id is
//! (author, q); a receiver recognises a copy by its content however it is wrapped; a
//! copy whose primary block names another source than its author, or a destination the
//! content is not for, is refused where the receiver can authenticate it. Hostile
//! carriers (`Scenario::hostile`) rewrite, drop, copy and replay what they hand over.
//!
//! Here: the figures, the node state, the run (`run`, `Sim::step`), who is who and the
//! final checks. By concept: `bundle` (the bundle model, making and renewing bundles),
//! `receive` (taking bundles in, answers, release, notices), `links` (offers and live
//! contacts), `sticks` (stick visits) and `malice` (the hostile carrier).

mod bundle;
mod links;
mod malice;
mod receive;
mod sticks;

pub use self::bundle::{Body, Content, Endpoint, Primary, SimBundle};

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::BuildHasherDefault;

use caravan::NodeId;
use caravan::custody::{BundleId, Disposition, Record};
use caravan::routing::{Class, Strategy};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use self::bundle::class_of;
use crate::scenario::{Event, Scenario};

/// Fixed-key hashing: iteration order is the same in every run.
type Set<T> = HashSet<T, BuildHasherDefault<DefaultHasher>>;
type Map<K, V> = HashMap<K, V, BuildHasherDefault<DefaultHasher>>;

/// A node's index.
pub type N = u16;
/// A bundle (one primary block around one signed content), by index.
pub type B = u32;
/// A signed content (a payload, known by its digest), by index. Bundles with the same
/// content are copies of one another, however their primary blocks differ.
pub type C = u32;
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
/// The relay quota's share for everything a carrier cannot authenticate (encrypted
/// content of groups it is not in): one pool, whatever source the primary block claims.
pub const UNAUTHENTICATED: NodeId = NodeId([0; 20]);

/// Deliberately broken custody rules, to show the simulator catches them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Breaks {
    /// A receiver answers before its store committed (a crash then loses what it
    /// acknowledged).
    pub signal_before_commit: bool,
    /// A custodian releases (and forgets) a bundle as soon as it handed it to anyone,
    /// without waiting for the destinations' signals.
    pub release_on_send: bool,
    /// Custody ids come from the primary block, as before signed custody ids: a receiver
    /// answers for (primary source, primary sequence number), notices name those, and
    /// the custodian's record follows its bundle's primary sequence number (moving on
    /// renewal). A carrier that re-numbers a bundle then makes a destination answer for
    /// another one.
    pub primary_seq_custody: bool,
}

#[derive(Clone, Copy, Debug)]
struct Holding {
    copies: u32,
    relayed: bool,
}

/// A custodian's record of one of its bundles, with the destinations it was for.
struct Custody {
    content: C,
    rec: Record,
    dests: Vec<N>,
}

#[derive(Default)]
struct SimNode {
    down_until: u64,
    friends: BTreeSet<N>,
    communities: BTreeSet<u16>,
    /// Bundles stored: at most one per content.
    held: BTreeMap<B, Holding>,
    /// The bundle stored for each content held.
    wrap: Map<C, B>,
    relayed_bytes: u64,
    /// Contents authored, or taken in as a destination: known for good.
    kept: Set<C>,
    docs: Map<Doc, Set<u32>>,
    /// Our own bundles in custody, by custody sequence number.
    custody: BTreeMap<u64, Custody>,
    outbox: BTreeMap<N, Vec<(BundleId, Disposition)>>,
    notices: Vec<u64>,
    /// Contents forgotten as delivered (their digests are remembered).
    gone: Set<C>,
    contact_times: Vec<u64>,
    seq: u64,
    quota: u64,
    hostile: bool,
    /// A hostile carrier's memory: every bundle it was handed, for replays.
    archive: Vec<B>,
    archived: Set<B>,
    /// A hostile carrier's memory: primary sequence numbers seen per claimed source.
    seqs: Map<N, Vec<u64>>,
}

struct Stick {
    held: BTreeMap<B, u32>,
    bytes: u64,
    capacity: u64,
}

/// What the hostile carriers did, and what receivers made of it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MaliceCount {
    /// Bundles re-wrapped (new primary sequence number and times, longer lifetime).
    pub rewrapped: u64,
    /// Of those, re-numbered with the primary sequence number of another real bundle of
    /// the same source.
    pub colliding: u64,
    /// Bundles re-addressed (claimed source or destination changed).
    pub readdressed: u64,
    /// Bundles withheld (dropped instead of passed on).
    pub withheld: u64,
    /// Bundles handed over twice.
    pub duplicated: u64,
    /// Old bundles replayed.
    pub replayed: u64,
    /// Of those, bundles already delivered and forgotten by their author.
    pub replayed_forgotten: u64,
    /// Tampered copies a receiver recognised by signed content as one it holds or
    /// forgot (no answer, no change).
    pub recognised: u64,
    /// Tampered copies refused for naming another source or destination.
    pub refused: u64,
    /// Tampered copies taken (content new to the receiver, primary block consistent).
    pub taken: u64,
}

impl MaliceCount {
    /// Adds another run's counts.
    pub fn add(&mut self, o: &MaliceCount) {
        self.rewrapped += o.rewrapped;
        self.colliding += o.colliding;
        self.readdressed += o.readdressed;
        self.withheld += o.withheld;
        self.duplicated += o.duplicated;
        self.replayed += o.replayed;
        self.replayed_forgotten += o.replayed_forgotten;
        self.recognised += o.recognised;
        self.refused += o.refused;
        self.taken += o.taken;
    }

    /// Tampering of any kind happened.
    pub fn any(&self) -> bool {
        self.rewrapped + self.readdressed + self.withheld + self.duplicated + self.replayed > 0
    }
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
    /// Bundles created by their authors (all kinds, renewals included).
    pub bundles: u64,
    /// What the hostile carriers did.
    pub malice: MaliceCount,
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
    /// The hostile carriers' own generator: the honest faults draw the same with or
    /// without them.
    mrng: ChaCha8Rng,
    ids: Vec<NodeId>,
    nodes: Vec<SimNode>,
    members: Vec<BTreeSet<N>>,
    contents: Vec<Content>,
    bundles: Vec<SimBundle>,
    /// Signed custody ids (author, q) to contents.
    by_id: Map<(N, u64), C>,
    /// Primary ids (source, sequence number) of the bundles authors made, to contents:
    /// what a custody id names under `Breaks::primary_seq_custody`.
    by_primary: Map<(N, u64), C>,
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
        for &h in &sc.hostile {
            nodes[h as usize].hostile = true;
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
            mrng: ChaCha8Rng::seed_from_u64(sc.seed ^ 0xba5e_5eed),
            ids: (0..sc.nodes).map(|n| node_id(n as N)).collect(),
            nodes,
            members,
            contents: Vec::new(),
            bundles: Vec::new(),
            by_id: Map::default(),
            by_primary: Map::default(),
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
                self.read_on_join(node, community as Doc);
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

    fn holds_change(&self, n: N, doc: Doc, change: u32) -> bool {
        self.nodes[n as usize].docs.get(&doc).is_some_and(|d| d.contains(&change))
    }

    /// Whether `n` is a destination of content `c`: decided by the signed content (what
    /// the receiver can read), never by the primary block.
    fn is_destination(&self, c: C, n: N) -> bool {
        let content = &self.contents[c as usize];
        match &content.body {
            Body::Change { doc, .. } => n != content.author && self.is_reader(*doc, n),
            Body::Signal { to, .. } => *to == n,
            // Notices are tiny and anyone may hold a copy of the bundles they cover: flooded.
            Body::Notice(_) => n != content.author,
        }
    }

    fn content_of(&self, b: B) -> C {
        self.bundles[b as usize].content
    }

    /// Whether `n` knows content `c`: holds a copy, forgot it as delivered, or took it
    /// in as its author or a destination. A copy of known content is a duplicate.
    fn knows(&self, n: N, c: C) -> bool {
        let node = &self.nodes[n as usize];
        node.wrap.contains_key(&c) || node.kept.contains(&c) || node.gone.contains(&c)
    }

    fn trusts(&self, x: N, y: N) -> bool {
        let (nx, ny) = (&self.nodes[x as usize], &self.nodes[y as usize]);
        nx.friends.contains(&y) || nx.communities.intersection(&ny.communities).next().is_some()
    }

    fn class(&self, b: B) -> Class {
        class_of(&self.contents[self.content_of(b) as usize])
    }

    fn up(&self, n: N) -> bool {
        self.nodes[n as usize].down_until <= self.now
    }

    /// The custody id a receiver names for bundle `b`: the signed (author, q); under
    /// `Breaks::primary_seq_custody`, the primary block's (source, sequence number).
    fn id_of(&self, b: B) -> BundleId {
        let w = &self.bundles[b as usize];
        if self.breaks.primary_seq_custody {
            BundleId { source: self.ids[w.primary.source as usize], seq: w.primary.seq }
        } else {
            let c = &self.contents[w.content as usize];
            BundleId { source: self.ids[c.author as usize], seq: c.q }
        }
    }

    /// The content a custody id names (see `id_of`).
    fn resolve(&self, id: BundleId) -> Option<C> {
        let key = (index_of(id.source), id.seq);
        if self.breaks.primary_seq_custody { self.by_primary.get(&key) } else { self.by_id.get(&key) }.copied()
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
        let contents = &self.contents;
        let held = || self.nodes.iter().flat_map(|n| n.wrap.keys()).map(|&c| &contents[c as usize]);
        self.m.final_storage = held().map(|c| c.bytes).sum();
        self.m.final_data_storage = held().filter(|c| !c.is_control()).map(|c| c.bytes).sum();
        self.m.open_custody = self.nodes.iter().map(|n| n.custody.len() as u64).sum();
        Outcome { metrics: self.m, violations: self.violations }
    }
}

/// A document's name in messages.
pub fn doc_name(doc: Doc) -> String {
    if doc >= PROFILE { format!("the profile of node {}", doc - PROFILE) } else { format!("community {doc}") }
}
