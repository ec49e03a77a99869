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

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::BuildHasherDefault;

use caravan::NodeId;
use caravan::custody::{self, Arrival, BundleId, Disposition, Record, SignalEffect, Standing};
use caravan::relay::{self, Held};
use caravan::routing::{Class, Offer, Relation, Strategy};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

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

/// What a bundle's signed content carries.
#[derive(Clone, Debug)]
pub enum Body {
    /// One change to a document.
    Change {
        /// The document.
        doc: Doc,
        /// The change id.
        change: u32,
    },
    /// A custody signal for the custodian `to`: each answer names one of `to`'s bundles
    /// by custody id.
    Signal {
        /// The custodian the entries are about.
        to: N,
        /// The answers.
        answers: Vec<(BundleId, Disposition)>,
    },
    /// The author's `Delivered` notice about its own bundles (custody sequence numbers):
    /// holders drop them.
    Notice(Vec<u64>),
}

/// What the author signed: identity for custody, duplicates and forgetting.
#[derive(Clone, Debug)]
pub struct Content {
    /// The signer.
    pub author: N,
    /// The custody sequence number, inside the signature.
    pub q: u64,
    /// What it carries.
    pub body: Body,
    /// Size in bytes.
    pub bytes: u64,
}

impl Content {
    /// The endpoint this content is for: its document's group, the custodian a signal
    /// answers, the author's own endpoint for a notice.
    pub fn endpoint(&self) -> Endpoint {
        match self.body {
            Body::Change { doc, .. } if doc >= PROFILE => Endpoint::Profile((doc - PROFILE) as N),
            Body::Change { doc, .. } => Endpoint::Community(doc as u16),
            Body::Signal { to, .. } => Endpoint::Node(to),
            Body::Notice(_) => Endpoint::Node(self.author),
        }
    }

    /// Signals and notices are signed in the clear: any carrier can authenticate them.
    /// Changes are sealed for their group.
    pub fn is_control(&self) -> bool {
        !matches!(self.body, Body::Change { .. })
    }
}

/// A destination endpoint named in a primary block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Endpoint {
    /// Every member of a community.
    Community(u16),
    /// A node's profile audience.
    Profile(N),
    /// One node.
    Node(N),
}

/// The BPv7 primary block: protected against damage, not against tampering.
#[derive(Clone, Copy, Debug)]
pub struct Primary {
    /// The source it claims.
    pub source: N,
    /// Its creation sequence number.
    pub seq: u64,
    /// Creation time.
    pub created: u64,
    /// Expiry (creation time plus lifetime).
    pub expires: u64,
    /// The destination it claims.
    pub dest: Endpoint,
}

/// A bundle in the simulation: a primary block around a signed content.
#[derive(Clone, Copy, Debug)]
pub struct SimBundle {
    /// The signed content.
    pub content: C,
    /// The primary block.
    pub primary: Primary,
    /// Made by a hostile carrier (for the counts only: receivers cannot tell).
    pub tampered: bool,
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

    // ----- making bundles --------------------------------------------------------------

    /// A new primary block by the author around content `c`, held by the author.
    fn wrap_new(&mut self, c: C) -> B {
        let author = self.contents[c as usize].author;
        let node = &mut self.nodes[author as usize];
        node.seq += 1;
        let seq = node.seq;
        let b = self.bundles.len() as B;
        let dest = self.contents[c as usize].endpoint();
        self.bundles.push(SimBundle {
            content: c,
            primary: Primary { source: author, seq, created: self.now, expires: self.now + self.sc.lifetime_ms, dest },
            tampered: false,
        });
        self.by_primary.insert((author, seq), c);
        let copies = self.strategy.initial_copies();
        self.hold(author, b, Holding { copies, relayed: false });
        self.m.bundles += 1;
        b
    }

    fn new_bundle(&mut self, author: N, body: Body, bytes: u64) -> B {
        // The custody sequence number is the author's counter when it signs: the first
        // primary block carries the same number.
        let q = self.nodes[author as usize].seq + 1;
        let c = self.contents.len() as C;
        self.contents.push(Content { author, q, body, bytes });
        self.by_id.insert((author, q), c);
        self.nodes[author as usize].kept.insert(c);
        self.wrap_new(c)
    }

    fn edit(&mut self, author: N, doc: Doc, bytes: u64) {
        if !self.is_reader(doc, author) {
            return;
        }
        let change = self.changes.len() as u32;
        let readers: Vec<N> = self.readers(doc).into_iter().filter(|&r| r != author).collect();
        self.m.pairs += readers.len() as u64;
        self.changes.push((doc, author, self.now, readers.clone()));
        self.nodes[author as usize].docs.entry(doc).or_default().insert(change);
        let b = self.new_bundle(author, Body::Change { doc, change }, bytes);
        if readers.is_empty() {
            return;
        }
        let id = self.id_of(b);
        let pending = readers.iter().map(|&r| self.ids[r as usize]).collect();
        let rec = Record::new(
            id,
            self.bundles[b as usize].primary.expires,
            pending,
            self.strategy.initial_copies(),
            self.now,
        );
        let content = self.content_of(b);
        self.nodes[author as usize].custody.insert(id.seq, Custody { content, rec, dests: readers });
    }

    /// Daily housekeeping at every node: refill carrier budgets, drop expired bundles,
    /// and renew what expires before every destination took it: the same signed content
    /// in a new primary block, under the same custody id.
    fn renew(&mut self) {
        let now = self.now;
        let initial = self.strategy.initial_copies();
        for n in 0..self.nodes.len() {
            let expired: Vec<B> = self.nodes[n]
                .held
                .keys()
                .copied()
                .filter(|&b| self.bundles[b as usize].primary.expires <= now)
                .collect();
            for b in expired {
                self.drop_bundle(n as N, b);
            }
            let mut due = Vec::new();
            for (&k, cu) in self.nodes[n].custody.iter_mut() {
                cu.rec.refill(initial, now);
                if !cu.rec.live(now + DAY) {
                    due.push(k);
                }
            }
            for k in due {
                let mut cu = self.nodes[n].custody.remove(&k).expect("listed above");
                if let Some(&old) = self.nodes[n].wrap.get(&cu.content) {
                    self.drop_bundle(n as N, old);
                }
                let b = self.wrap_new(cu.content);
                cu.rec.expires_ms = self.bundles[b as usize].primary.expires;
                cu.rec.id = self.id_of(b);
                self.nodes[n].custody.insert(cu.rec.id.seq, cu);
            }
        }
    }

    fn hold(&mut self, n: N, b: B, h: Holding) {
        let c = self.content_of(b);
        let bytes = self.contents[c as usize].bytes;
        let node = &mut self.nodes[n as usize];
        if node.held.insert(b, h).is_none() {
            node.wrap.insert(c, b);
            self.storage += bytes;
            if h.relayed {
                node.relayed_bytes += bytes;
            }
        }
    }

    fn drop_bundle(&mut self, n: N, b: B) {
        let c = self.content_of(b);
        let bytes = self.contents[c as usize].bytes;
        let node = &mut self.nodes[n as usize];
        if let Some(h) = node.held.remove(&b) {
            if node.wrap.get(&c) == Some(&b) {
                node.wrap.remove(&c);
            }
            self.storage -= bytes;
            if h.relayed {
                node.relayed_bytes -= bytes;
            }
        }
    }

    // ----- receiving -------------------------------------------------------------------

    /// `y` takes bundle `b` from a link with `copies` carrier copies. Returns the answer.
    fn receive(&mut self, y: N, b: B, copies: u32) -> Disposition {
        let w = self.bundles[b as usize];
        let c = w.content;
        if self.nodes[y as usize].hostile && self.nodes[y as usize].archived.insert(b) {
            let node = &mut self.nodes[y as usize];
            node.archive.push(b);
            node.seqs.entry(w.primary.source).or_default().push(w.primary.seq);
        }
        let dest = self.is_destination(c, y);
        let standing = if dest { Standing::Destination } else { Standing::Carrier };
        let content = &self.contents[c as usize];
        let (bytes, author) = (content.bytes, content.author);
        // What the receiver can authenticate: all it reads, and signed control bundles.
        // There the primary block must agree with the signature: source = signer,
        // destination = what the content is for.
        let authentic = dest || content.is_control();
        let valid = !authentic || (w.primary.source == author && w.primary.dest == content.endpoint());
        let known = self.knows(y, c);
        let expired = w.primary.expires <= self.now;
        let node = &self.nodes[y as usize];
        let mut evict = Vec::new();
        let mut room = true;
        if standing == Standing::Carrier && !known && !expired && valid {
            // Fair shares by authenticated signer; everything unauthenticated in one pool.
            let share = |x: &Content| if x.is_control() { self.ids[x.author as usize] } else { UNAUTHENTICATED };
            let relayed: Vec<Held<B>> = node
                .held
                .iter()
                .filter(|(_, h)| h.relayed)
                .map(|(&k, _)| {
                    let x = &self.bundles[k as usize];
                    let xc = &self.contents[x.content as usize];
                    Held { key: k, source: share(xc), bytes: xc.bytes, expires_ms: x.primary.expires }
                })
                .collect();
            let incoming = Held { key: b, source: share(content), bytes, expires_ms: w.primary.expires };
            match relay::admit(&relayed, &incoming, node.quota, self.now) {
                Ok(e) => evict = e,
                Err(_) => room = false,
            }
        }
        let receipt = custody::receive(Arrival { standing, held: known, expired, valid, room });
        if w.tampered {
            let mc = &mut self.m.malice;
            if known {
                mc.recognised += 1;
            } else if !valid {
                mc.refused += 1;
            } else if receipt.store {
                mc.taken += 1;
            }
        }
        if !receipt.store {
            return receipt.answer;
        }
        for e in evict {
            self.drop_bundle(y, e);
        }
        let relayed = standing == Standing::Carrier;
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
        self.nodes[y as usize].kept.insert(c);
        match self.contents[c as usize].body.clone() {
            Body::Change { doc, change } => {
                self.nodes[y as usize].docs.entry(doc).or_default().insert(change);
                self.note_delivery(change, y);
            }
            Body::Signal { answers, .. } => {
                // Consumed. Its effect is its signed entries about our own bundles.
                self.drop_bundle(y, b);
                let (me, from) = (self.ids[y as usize], self.ids[author as usize]);
                for (id, d) in answers {
                    if id.source == me {
                        self.on_answer(y, id, from, d);
                    }
                }
            }
            Body::Notice(list) => {
                let source = self.ids[author as usize];
                for seq in list {
                    let Some(x) = self.resolve(BundleId { source, seq }) else { continue };
                    if self.contents[x as usize].is_control() {
                        continue;
                    }
                    self.nodes[y as usize].gone.insert(x);
                    if let Some(&held) = self.nodes[y as usize].wrap.get(&x) {
                        self.drop_bundle(y, held);
                    }
                }
            }
        }
        receipt.answer
    }

    /// A node that becomes a destination of bundles it already stores as a carrier reads
    /// them and answers for them, in the transaction that makes it a destination; a copy
    /// whose primary block it can now see disagrees with the signature goes.
    fn read_on_join(&mut self, y: N, doc: Doc) {
        let stored: Vec<B> = self.nodes[y as usize]
            .held
            .iter()
            .filter(|(b, h)| {
                h.relayed && matches!(self.contents[self.content_of(**b) as usize].body, Body::Change { doc: d, .. } if d == doc)
            })
            .map(|(&b, _)| b)
            .collect();
        for b in stored {
            let w = self.bundles[b as usize];
            let content = &self.contents[w.content as usize];
            if w.primary.source != content.author || w.primary.dest != content.endpoint() {
                self.drop_bundle(y, b);
                continue;
            }
            let (bytes, body) = (content.bytes, content.body.clone());
            let node = &mut self.nodes[y as usize];
            node.held.get_mut(&b).expect("listed above").relayed = false;
            node.relayed_bytes -= bytes;
            node.kept.insert(w.content);
            if let Body::Change { change, .. } = body {
                node.docs.entry(doc).or_default().insert(change);
                self.note_delivery(change, y);
            }
            self.queue_answer(y, b, Disposition::Accepted);
        }
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

    /// Node `x` hears answer `d` from `from` about the bundle with custody id `id`.
    fn on_answer(&mut self, x: N, id: BundleId, from: NodeId, d: Disposition) {
        // The custody promise: whoever says it holds a change does hold it.
        if matches!(d, Disposition::Accepted | Disposition::Redundant)
            && let Some(c) = self.resolve(id)
            && let Body::Change { doc, change } = self.contents[c as usize].body
            && !self.holds_change(index_of(from), doc, change)
        {
            self.violations.push(format!(
                "node {} acknowledged change {change} to {} but does not hold it",
                index_of(from),
                doc_name(doc)
            ));
        }
        if id.source != self.ids[x as usize] {
            return;
        }
        let Some(cu) = self.nodes[x as usize].custody.get_mut(&id.seq) else { return };
        if cu.rec.on_answer(from, d) == SignalEffect::Released {
            self.release(x, id.seq);
        }
    }

    /// Every destination took custody: forget the bundle and tell the holders.
    fn release(&mut self, x: N, key: u64) {
        let cu = self.nodes[x as usize].custody.remove(&key).expect("released records exist");
        // No author releases custody of a bundle a destination lacks.
        if let Body::Change { doc, change } = self.contents[cu.content as usize].body {
            for &d in &cu.dests {
                if !self.holds_change(d, doc, change) {
                    self.violations.push(format!(
                        "node {x} released custody of change {change} to {} but node {d} lacks it",
                        doc_name(doc)
                    ));
                }
            }
        }
        self.nodes[x as usize].gone.insert(cu.content);
        if let Some(&b) = self.nodes[x as usize].wrap.get(&cu.content) {
            self.drop_bundle(x, b);
        }
        self.nodes[x as usize].notices.push(key);
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

    /// A destination that stored a change queues its answer for the change's custodian.
    fn queue_answer(&mut self, y: N, b: B, answer: Disposition) {
        let c = self.content_of(b);
        if answer != Disposition::Accepted
            || !matches!(self.contents[c as usize].body, Body::Change { .. })
            || !self.is_destination(c, y)
        {
            return;
        }
        let id = self.id_of(b);
        self.nodes[y as usize].outbox.entry(index_of(id.source)).or_default().push((id, answer));
    }

    // ----- the hostile carrier ---------------------------------------------------------

    /// What hostile `x` hands over instead of `list`: some bundles withheld (and dropped),
    /// others re-wrapped, re-addressed, handed over twice, and old ones replayed. Its own
    /// bundles it hands over as they are.
    fn tamper(&mut self, x: N, list: Vec<(B, u32)>) -> Vec<(B, u32)> {
        let r = self.sc.malice;
        let mut out = Vec::with_capacity(list.len());
        for (b, copies) in list {
            if self.contents[self.content_of(b) as usize].author == x {
                out.push((b, copies));
                continue;
            }
            if self.mrng.random_bool(r.withhold) {
                self.m.malice.withheld += 1;
                self.drop_bundle(x, b);
                continue;
            }
            let first = self.forge(x, b);
            out.push((first, copies));
            if self.mrng.random_bool(r.duplicate) {
                self.m.malice.duplicated += 1;
                let second = self.forge(x, b);
                let at = self.mrng.random_range(0..=out.len());
                out.insert(at, (second, copies));
            }
        }
        if !self.nodes[x as usize].archive.is_empty() && self.mrng.random_bool(r.replay) {
            for _ in 0..self.mrng.random_range(1..=3) {
                let old = *self.nodes[x as usize].archive.choose(&mut self.mrng).expect("not empty");
                let c = self.content_of(old);
                let author = self.contents[c as usize].author;
                self.m.malice.replayed += 1;
                if self.nodes[author as usize].gone.contains(&c) {
                    self.m.malice.replayed_forgotten += 1;
                }
                let b = self.forge(x, old);
                let at = self.mrng.random_range(0..=out.len());
                out.insert(at, (b, 0));
            }
        }
        out
    }

    /// Maybe rewrites the primary block of `b` (a new bundle around the same content).
    fn forge(&mut self, x: N, b: B) -> B {
        let r = self.sc.malice;
        let w = self.bundles[b as usize];
        let mut p = w.primary;
        let mut changed = false;
        if self.mrng.random_bool(r.rewrap) {
            self.m.malice.rewrapped += 1;
            let seen = self.nodes[x as usize].seqs.get(&p.source);
            let top = seen.and_then(|s| s.iter().max()).copied().unwrap_or(p.seq);
            p.seq = match seen {
                // Another real bundle's number, half the time.
                Some(s) if self.mrng.random_bool(0.5) => *s.choose(&mut self.mrng).expect("not empty"),
                _ => self.mrng.random_range(1..=top + 16),
            };
            if self.by_primary.get(&(p.source, p.seq)).is_some_and(|&o| o != w.content) {
                self.m.malice.colliding += 1;
            }
            let life = self.sc.lifetime_ms;
            p.created = self.mrng.random_range(p.created..=self.now.max(p.created));
            p.expires = p.expires.max(p.created + life) + self.mrng.random_range(0..=2 * life);
            changed = true;
        }
        if self.mrng.random_bool(r.readdress) {
            self.m.malice.readdressed += 1;
            let n = self.sc.nodes as N;
            if self.mrng.random_bool(0.5) {
                let other = self.mrng.random_range(0..n);
                p.source = if other == p.source { (other + 1) % n } else { other };
            } else {
                let k = self.mrng.random_range(0..n);
                let communities = self.members.len() as u16;
                let mut dest = match self.mrng.random_range(0..3) {
                    0 if communities > 0 => Endpoint::Community(k % communities),
                    1 => Endpoint::Profile(k),
                    _ => Endpoint::Node(k),
                };
                if dest == p.dest {
                    dest = Endpoint::Node((k + 1) % n);
                }
                p.dest = dest;
            }
            changed = true;
        }
        if !changed {
            return b;
        }
        let nb = self.bundles.len() as B;
        self.bundles.push(SimBundle { content: w.content, primary: p, tampered: true });
        nb
    }

    // ----- links -----------------------------------------------------------------------

    /// The custody record of `x`'s own bundle `b`, if it is in custody.
    fn record_key(&self, x: N, b: B) -> Option<u64> {
        let c = self.content_of(b);
        if self.contents[c as usize].author != x {
            return None;
        }
        let key = self.id_of(b).seq;
        self.nodes[x as usize].custody.contains_key(&key).then_some(key)
    }

    fn offers(&self, x: N, y: N) -> Vec<(B, Offer)> {
        let nx = &self.nodes[x as usize];
        let trusted = self.trusts(x, y);
        nx.held
            .iter()
            .filter(|(b, _)| {
                let w = &self.bundles[**b as usize];
                !self.knows(y, w.content) && w.primary.expires > self.now
            })
            .map(|(&b, h)| {
                let w = &self.bundles[b as usize];
                let relation = if self.is_destination(w.content, y) {
                    Relation::Destination
                } else if trusted && !h.relayed {
                    Relation::Trusted
                } else {
                    Relation::Stranger
                };
                let copies = self.record_key(x, b).map_or(h.copies, |k| nx.custody[&k].rec.copies);
                (
                    b,
                    Offer {
                        class: self.class(b),
                        bytes: self.contents[w.content as usize].bytes,
                        expires_ms: w.primary.expires,
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
        match self.contents[self.content_of(b) as usize].body {
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

    /// `y`'s signed heads show it took in `x`'s bundles: it answers for them at once.
    fn answer_from_summary(&mut self, x: N, y: N) {
        let (me, from) = (self.ids[x as usize], self.ids[y as usize]);
        let answered: Vec<u64> = self.nodes[x as usize]
            .custody
            .iter()
            .filter(|(_, cu)| cu.rec.awaits(&from) && self.nodes[y as usize].kept.contains(&cu.content))
            .map(|(&k, _)| k)
            .collect();
        for seq in answered {
            self.on_answer(x, BundleId { source: me, seq }, from, Disposition::Redundant);
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
                .wrap
                .keys()
                .filter_map(|&c| match self.contents[c as usize].body {
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
        if self.nodes[x as usize].hostile {
            list = self.tamper(x, list);
        }
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
                        let id = self.id_of(b);
                        self.on_answer(x, id, from, Disposition::Accepted);
                    }
                }
                self.nodes[y as usize].down_until = self.now + HOUR;
                break;
            }
            for &(b, copies) in &chunk[..end - start] {
                // A carrier that ran out of room for us gets no more carrier copies now.
                if full && !self.is_destination(self.content_of(b), y) {
                    continue;
                }
                self.count(b);
                // A copy of content the receiver knows is a duplicate: no answer at all.
                let duplicate = self.knows(y, self.content_of(b));
                let answer = self.receive(y, b, copies);
                full |= answer == Disposition::NoSpace;
                if !duplicate {
                    self.after_send(x, y, b, copies, answer);
                }
            }
        }
        !dropped
    }

    /// The sender's side once `y` answered on the live link.
    fn after_send(&mut self, x: N, y: N, b: B, copies: u32, answer: Disposition) {
        let c = self.content_of(b);
        if self.is_destination(c, y) {
            let id = self.id_of(b);
            self.on_answer(x, id, self.ids[y as usize], answer);
            // A carrier's job for a bundle with a single destination (a node endpoint)
            // ends when that destination took it.
            let unicast = matches!(self.contents[c as usize].body, Body::Signal { .. });
            if unicast && answer.releases() && self.nodes[x as usize].held.get(&b).is_some_and(|h| h.relayed) {
                self.drop_bundle(x, b);
            }
            if self.contents[c as usize].author != x {
                self.queue_answer(y, b, answer);
            }
        }
        let stored = answer == Disposition::Accepted;
        if !stored || copies == 0 {
            return; // a refused carrier copy is not spent: the custodian gives it elsewhere
        }
        let now = self.now;
        let key = self.record_key(x, b);
        let node = &mut self.nodes[x as usize];
        if let Some(k) = key {
            node.custody.get_mut(&k).expect("record_key checked").rec.spend(copies, now);
        } else if let Some(h) = node.held.get_mut(&b) {
            h.copies = h.copies.saturating_sub(copies);
        }
        if self.breaks.release_on_send
            && let Some(k) = key
        {
            self.release(x, k);
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
            let w = &self.bundles[b as usize];
            if w.primary.expires <= self.now {
                continue; // skipped unread
            }
            if self.knows(n, w.content) {
                self.m.malice.recognised += u64::from(w.tampered);
                continue;
            }
            self.count(b);
            let answer = self.receive(n, b, copies);
            self.queue_answer(n, b, answer);
        }
        self.flush(n);
        // A hostile carrier removes some of what others left on the stick.
        if self.nodes[n as usize].hostile && self.sc.malice.withhold > 0.0 {
            let others: Vec<B> = self.sticks[s]
                .as_ref()
                .expect("inserted above")
                .held
                .keys()
                .copied()
                .filter(|&b| self.contents[self.content_of(b) as usize].author != n)
                .collect();
            for b in others {
                if self.mrng.random_bool(self.sc.malice.withhold) {
                    self.m.malice.withheld += 1;
                    let bytes = self.contents[self.content_of(b) as usize].bytes;
                    let stick = self.sticks[s].as_mut().expect("inserted above");
                    stick.held.remove(&b);
                    stick.bytes -= bytes;
                }
            }
        }
        // Drop what expired or what this node knows was delivered; then write everything
        // we hold (a stick is a deliberate courier), in the strategy's class order.
        let now = self.now;
        let (bundles, contents) = (&self.bundles, &self.contents);
        let node = &self.nodes[n as usize];
        let stick = self.sticks[s].as_mut().expect("inserted above");
        stick.held.retain(|&b, _| {
            let w = &bundles[b as usize];
            let keep = w.primary.expires > now && !node.gone.contains(&w.content);
            keep || {
                stick.bytes -= contents[w.content as usize].bytes;
                false
            }
        });
        let mut order: Vec<(Class, u64, B)> = node
            .held
            .keys()
            .copied()
            .filter(|b| !stick.held.contains_key(b) && bundles[*b as usize].primary.expires > now)
            .map(|b| {
                let w = &bundles[b as usize];
                (class_of(&contents[w.content as usize]), w.primary.expires, b)
            })
            .collect();
        order.sort_unstable();
        let mut list: Vec<(B, u32)> = order.into_iter().map(|(_, _, b)| (b, 0)).collect();
        if self.nodes[n as usize].hostile {
            list = self.tamper(n, list);
        }
        let mut written = Vec::new();
        let stick = self.sticks[s].as_mut().expect("inserted above");
        for (b, _) in list {
            let bytes = self.contents[self.bundles[b as usize].content as usize].bytes;
            if stick.held.contains_key(&b) || stick.bytes + bytes > stick.capacity {
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
        let contents = &self.contents;
        let held = || self.nodes.iter().flat_map(|n| n.wrap.keys()).map(|&c| &contents[c as usize]);
        self.m.final_storage = held().map(|c| c.bytes).sum();
        self.m.final_data_storage = held().filter(|c| !c.is_control()).map(|c| c.bytes).sum();
        self.m.open_custody = self.nodes.iter().map(|n| n.custody.len() as u64).sum();
        Outcome { metrics: self.m, violations: self.violations }
    }
}

fn class_of(content: &Content) -> Class {
    let class = match content.body {
        Body::Change { doc, .. } if doc >= PROFILE => Class::Profile,
        Body::Change { .. } => Class::Content,
        _ => Class::Control,
    };
    Class::of(class, content.bytes)
}

/// A document's name in messages.
pub fn doc_name(doc: Doc) -> String {
    if doc >= PROFILE { format!("the profile of node {}", doc - PROFILE) } else { format!("community {doc}") }
}
