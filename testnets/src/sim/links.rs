//! Live links: what a node offers a peer, the meeting itself (summaries, snapshots, both
//! directions with the link's faults), and the sender's side of each answer.

use caravan::custody::{BundleId, Disposition};
use caravan::routing::{Offer, Relation};
use rand::Rng;

use super::{B, Body, COMMIT_BATCH, Doc, HOUR, N, Set, Sim};

impl Sim<'_> {
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

    pub(super) fn count(&mut self, b: B) {
        match self.contents[self.content_of(b) as usize].body {
            Body::Change { .. } => self.m.data_transmissions += 1,
            _ => self.m.control_transmissions += 1,
        }
    }

    /// A live contact: both directions, with the link's faults.
    pub(super) fn meet(&mut self, a: N, b: N) {
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
}
