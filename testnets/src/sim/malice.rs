//! The hostile carrier: what it withholds, re-wraps, re-addresses, duplicates and replays.

use rand::Rng;
use rand::seq::IndexedRandom;

use super::{B, Endpoint, N, Sim, SimBundle};

impl Sim<'_> {
    /// What hostile `x` hands over instead of `list`: some bundles withheld (and dropped),
    /// others re-wrapped, re-addressed, handed over twice, and old ones replayed. Its own
    /// bundles it hands over as they are.
    pub(super) fn tamper(&mut self, x: N, list: Vec<(B, u32)>) -> Vec<(B, u32)> {
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
}
