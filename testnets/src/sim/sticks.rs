//! Sticks: a node's visit to a courier stick, reading what it carries and writing what the
//! node holds.

use std::collections::BTreeMap;

use caravan::routing::Class;
use rand::Rng;

use super::bundle::class_of;
use super::{B, N, Sim, Stick};

impl Sim<'_> {
    /// A stick visit: take in what it carries, then leave what we hold.
    pub(super) fn visit(&mut self, s: usize, n: N) {
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
}
