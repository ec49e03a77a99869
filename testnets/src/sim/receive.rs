//! Receiving: what a node does with a bundle it is handed, the custody answers it queues
//! and hears, releasing custody, and the signals and notices it sends after a commit.

use caravan::NodeId;
use caravan::custody::{self, Arrival, BundleId, Disposition, SignalEffect, Standing};
use caravan::relay::{self, Held};

use super::{B, Body, CONTROL_BYTES, Content, Doc, Holding, N, Sim, UNAUTHENTICATED, doc_name, index_of};

impl Sim<'_> {
    /// `y` takes bundle `b` from a link with `copies` carrier copies. Returns the answer.
    pub(super) fn receive(&mut self, y: N, b: B, copies: u32) -> Disposition {
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
    pub(super) fn read_on_join(&mut self, y: N, doc: Doc) {
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

    pub(super) fn note_delivery(&mut self, change: u32, n: N) {
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
    pub(super) fn on_answer(&mut self, x: N, id: BundleId, from: NodeId, d: Disposition) {
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
    pub(super) fn release(&mut self, x: N, key: u64) {
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
    pub(super) fn flush(&mut self, y: N) {
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
    pub(super) fn queue_answer(&mut self, y: N, b: B, answer: Disposition) {
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
}
