//! The relay ledger: what this node keeps for others, within its relay quota.

use super::*;

/// The relayed bundles a node holds, for quota decisions and `Delivered` notices.
#[derive(Default)]
pub(super) struct Ledger {
    pub(super) held: Vec<Held<[u8; 32]>>,
    /// Sum of `held` sizes.
    pub(super) used: u64,
    pub(super) ids: HashMap<BundleId, [u8; 32]>,
}

impl Node {
    /// Whether bundles of `doc` are carried for others (not a community of ours, not a
    /// profile of a contact or ours).
    pub(super) fn relayed_doc(&self, r: &impl Reads, doc: &str) -> Result<bool, Error> {
        Ok(match DocId::parse(doc) {
            Some(DocId::Community { id, .. }) => self.membership(r, &id).is_err(),
            Some(DocId::Profile { owner, .. }) => owner != self.node_id() && self.contact_card(r, &owner)?.is_none(),
            None => true,
        })
    }

    /// Makes room for a relayed bundle within the relay quota, evicting other relayed
    /// bundles (expired first, then the heaviest source's largest), or refuses it: not
    /// carried (no room), or a duplicate (its source declared it delivered).
    pub(super) fn carry(
        &mut self,
        t: &mut Txn,
        digest: [u8; 32],
        info: &BundleInfo,
        len: usize,
    ) -> Result<Result<(), Outcome>, Error> {
        let source = source_node(&info.source).unwrap_or(NodeId([0; 20]));
        if t.delivered(&source.0)?.iter().any(|&(lo, hi)| (lo..=hi).contains(&info.sequence)) {
            t.set_forgotten(&digest)?;
            return Ok(Err(Outcome::Duplicate));
        }
        self.ensure_ledger(t)?;
        Ok(self.admit(t, digest, source, info, len).map_err(Outcome::NotCarried))
    }

    /// A write transaction for anything but an import: it may remove carried bundles
    /// behind the relay ledger's back, so the ledger is reloaded at the next import.
    pub(super) fn write_txn(&mut self) -> Result<Txn, Error> {
        self.ledger = None;
        Ok(self.store.write()?)
    }

    /// Loads the relay ledger once per import (a store failure is an error, not an empty
    /// ledger: the quota must hold).
    pub(super) fn ensure_ledger(&mut self, t: &Txn) -> Result<(), Error> {
        if self.ledger.is_none() {
            let now = (self.clock)();
            self.ledger = Some(self.load_ledger(t, now)?);
        }
        Ok(())
    }

    pub(super) fn admit(
        &mut self,
        t: &mut Txn,
        digest: [u8; 32],
        source: NodeId,
        info: &BundleInfo,
        len: usize,
    ) -> Result<(), QuotaRefusal> {
        let now = (self.clock)();
        let Some(ledger) = self.ledger.as_mut() else { return Err(QuotaRefusal::Full) };
        let incoming = Held { key: digest, source, bytes: len as u64, expires_ms: info.expires_unix_ms() };
        // The common case, room to spare, without walking the ledger.
        let evict = if ledger.used + incoming.bytes <= self.relay_quota {
            Vec::new()
        } else {
            relay::admit(&ledger.held, &incoming, self.relay_quota, now)?
        };
        if evict.is_empty() {
            ledger.used += incoming.bytes;
        } else {
            for key in &evict {
                // A failed removal only leaves the bundle stored: never loses anything.
                let _ = t.remove_bundle(key);
            }
            ledger.held.retain(|h| !evict.contains(&h.key));
            ledger.ids.retain(|_, d| !evict.contains(d));
            ledger.used = ledger.held.iter().map(|h| h.bytes).sum::<u64>() + incoming.bytes;
        }
        ledger.held.push(incoming);
        ledger.ids.insert(BundleId { source, seq: info.sequence }, digest);
        Ok(())
    }

    /// Applies a source's `Delivered` notice: every destination has these bundles, so the
    /// copies we carry for others go. Returns how many were dropped.
    pub(super) fn drop_delivered(&mut self, t: &mut Txn, source: NodeId, signal: &Signal) -> Result<usize, Error> {
        self.ensure_ledger(t)?;
        let Some(ledger) = self.ledger.as_mut() else { return Ok(0) };
        let gone: Vec<(BundleId, [u8; 32])> = ledger
            .ids
            .iter()
            .filter(|(id, _)| id.source == source && signal.disposition_of(id) == Some(Disposition::Delivered))
            .map(|(id, d)| (*id, *d))
            .collect();
        for (id, digest) in &gone {
            t.remove_bundle(digest)?;
            t.set_forgotten(digest)?;
            ledger.ids.remove(id);
            ledger.held.retain(|h| h.key != *digest);
        }
        ledger.used = ledger.held.iter().map(|h| h.bytes).sum();
        // Remember, so the same bundles read again from a stick are not carried again.
        let mut ranges = t.delivered(&source.0)?;
        for e in signal.entries.iter().filter(|e| e.source == source) {
            ranges.extend(e.ranges.iter().copied());
        }
        t.set_delivered(&source.0, &merge_ranges(ranges))?;
        Ok(gone.len())
    }

    pub(super) fn load_ledger(&self, t: &Txn, now: u64) -> Result<Ledger, Error> {
        let mut out = Ledger::default();
        for (digest, meta) in t.all_bundle_meta()? {
            let relayed = match meta.state {
                BundleState::Carried | BundleState::Signal => true,
                BundleState::WaitingKey => self.relayed_doc(t, &meta.doc)?,
                _ => false,
            };
            if !relayed {
                continue;
            }
            // Expired or unreadable: source unknown, evicted first (expiry 0).
            let info = t.bundle(&digest)?.and_then(|b| bundle::parse(&b, now).ok());
            let source = info.as_ref().and_then(|i| source_node(&i.source)).unwrap_or(NodeId([0; 20]));
            let expires_ms = if info.is_some() { meta.expires_unix_ms } else { 0 };
            if let Some(i) = &info {
                out.ids.insert(BundleId { source, seq: i.sequence }, digest);
            }
            out.held.push(Held { key: digest, source, bytes: meta.bytes as u64, expires_ms });
            out.used += meta.bytes as u64;
        }
        Ok(out)
    }

    /// Relay usage: bytes carried for others, and the quota.
    pub fn relay_usage(&self) -> Result<(u64, u64), Error> {
        let view = self.store.read()?;
        let mut used = 0u64;
        for (_, meta) in view.all_bundle_meta()? {
            let relayed = match meta.state {
                BundleState::Carried | BundleState::Signal => true,
                BundleState::WaitingKey => self.relayed_doc(&view, &meta.doc)?,
                _ => false,
            };
            if relayed {
                used += meta.bytes as u64;
            }
        }
        Ok((used, self.relay_quota))
    }
}
