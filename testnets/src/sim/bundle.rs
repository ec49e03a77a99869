//! Bundles: the signed content and the primary block around it, and how authors make,
//! renew, hold and drop them.

use caravan::custody::{BundleId, Disposition, Record};
use caravan::routing::Class;

use super::{B, C, Custody, DAY, Doc, Holding, N, PROFILE, Sim};

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

impl Sim<'_> {
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

    pub(super) fn new_bundle(&mut self, author: N, body: Body, bytes: u64) -> B {
        // The custody sequence number is the author's counter when it signs: the first
        // primary block carries the same number.
        let q = self.nodes[author as usize].seq + 1;
        let c = self.contents.len() as C;
        self.contents.push(Content { author, q, body, bytes });
        self.by_id.insert((author, q), c);
        self.nodes[author as usize].kept.insert(c);
        self.wrap_new(c)
    }

    pub(super) fn edit(&mut self, author: N, doc: Doc, bytes: u64) {
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
    pub(super) fn renew(&mut self) {
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

    pub(super) fn hold(&mut self, n: N, b: B, h: Holding) {
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

    pub(super) fn drop_bundle(&mut self, n: N, b: B) {
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
}

pub(super) fn class_of(content: &Content) -> Class {
    let class = match content.body {
        Body::Change { doc, .. } if doc >= PROFILE => Class::Profile,
        Body::Change { .. } => Class::Content,
        _ => Class::Control,
    };
    Class::of(class, content.bytes)
}
