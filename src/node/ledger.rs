//! The relay ledger: what this node keeps for others, within its relay quota.
//!
//! Everything that is not this node's own, its communities' readable content or its
//! contacts' content is kept for others and counts: bundles carried unread (content of
//! groups we are not in, strangers' public content, grants for other nodes), bundles
//! waiting for a key nobody here holds, invitations waiting for consent, and signals for
//! other nodes. Fair shares are per authenticated signer; what this node cannot
//! authenticate (every cloak it cannot open) shares two pools by size
//! (`relay::UNAUTHENTICATED`, `relay::UNAUTHENTICATED_LARGE`).

use super::*;

/// The relayed bundles a node holds, for quota decisions and `Delivered` notices.
#[derive(Default)]
pub(super) struct Ledger {
    pub(super) held: Vec<Held<[u8; 32]>>,
    /// Sum of `held` sizes.
    pub(super) used: u64,
    /// Custody ids (as their headers claim) of the bundles held, for delivered notices.
    pub(super) ids: HashMap<BundleId, Vec<[u8; 32]>>,
}

impl Ledger {
    fn add(&mut self, held: Held<[u8; 32]>, id: BundleId) {
        self.used += held.bytes;
        self.ids.entry(id).or_default().push(held.key);
        self.held.push(held);
    }

    /// Forgets a bundle that left the store.
    pub(super) fn remove(&mut self, digest: &[u8; 32]) {
        if let Some(i) = self.held.iter().position(|h| h.key == *digest) {
            let h = self.held.swap_remove(i);
            self.used -= h.bytes;
        }
        self.ids.retain(|_, ds| {
            ds.retain(|d| d != digest);
            !ds.is_empty()
        });
    }
}

/// Whether a stored bundle is kept for others (and counts against the relay quota).
pub(super) fn kept_for_others(meta: &BundleMeta, me: NodeId) -> bool {
    match meta.state {
        BundleState::Carried | BundleState::WaitingKey | BundleState::Invite => true,
        BundleState::Signal => meta.author != me,
        BundleState::Applied | BundleState::Grant | BundleState::Consumed => false,
    }
}

/// Whose fair share a kept bundle counts against: its author if this node checked the
/// author's signature, else the one pool of what it cannot authenticate.
fn share_of(meta: &BundleMeta) -> NodeId {
    match (meta.verified, meta.bytes as usize <= crate::limits::FLOOD_BYTES_MAX) {
        (true, _) => meta.author,
        (false, true) => relay::UNAUTHENTICATED,
        (false, false) => relay::UNAUTHENTICATED_LARGE,
    }
}

impl Node {
    /// Stores a bundle kept for others, if it fits the relay quota (`carry`); otherwise
    /// the outcome that says why not, and nothing is stored.
    pub(super) fn keep(
        &mut self,
        t: &mut Txn,
        digest: [u8; 32],
        bytes: &[u8],
        meta: &BundleMeta,
    ) -> Result<Result<(), Outcome>, Error> {
        if let Err(o) = self.carry(t, digest, meta)? {
            return Ok(Err(o));
        }
        t.put_bundle(&digest, bytes, meta)?;
        Ok(Ok(()))
    }

    /// Makes room for a bundle kept for others within the relay quota, evicting other
    /// such bundles (expired first, then the heaviest share's largest), or refuses it:
    /// not carried (no room), or a duplicate (its author declared it delivered).
    pub(super) fn carry(
        &mut self,
        t: &mut Txn,
        digest: [u8; 32],
        meta: &BundleMeta,
    ) -> Result<Result<(), Outcome>, Error> {
        let delivered = t.delivered(&meta.author.0)?;
        if meta.state != BundleState::Invite && delivered.iter().any(|&(lo, hi)| (lo..=hi).contains(&meta.seq)) {
            return Ok(Err(Outcome::Duplicate));
        }
        self.ensure_ledger(t)?;
        let now = (self.clock)();
        let quota = self.relay_quota;
        let Some(ledger) = self.ledger.as_mut() else { return Ok(Err(Outcome::NotCarried(QuotaRefusal::Full))) };
        let incoming =
            Held { key: digest, source: share_of(meta), bytes: meta.bytes as u64, expires_ms: meta.expires_unix_ms };
        // The common case, room to spare, without walking the ledger.
        let evict = if ledger.used + incoming.bytes <= quota {
            Vec::new()
        } else {
            match relay::admit(&ledger.held, &incoming, quota, now) {
                Ok(e) => e,
                Err(refusal) => return Ok(Err(Outcome::NotCarried(refusal))),
            }
        };
        for key in &evict {
            ledger.remove(key);
        }
        ledger.add(incoming, BundleId { source: meta.author, seq: meta.seq });
        for key in &evict {
            drop_rows(t, key)?;
        }
        Ok(Ok(()))
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
            self.ledger = Some(self.load_ledger(t)?);
        }
        Ok(())
    }

    /// Applies an author's `Delivered` notice: every destination has these bundles, so the
    /// copies we carry for others go, and are remembered (with the ranges) so they are not
    /// taken again. Returns how many were dropped.
    pub(super) fn drop_delivered(
        &mut self,
        t: &mut Txn,
        source: NodeId,
        signal: &Signal,
        expires_ms: u64,
    ) -> Result<usize, Error> {
        self.ensure_ledger(t)?;
        let Some(ledger) = self.ledger.as_ref() else { return Ok(0) };
        let gone: Vec<[u8; 32]> = ledger
            .ids
            .iter()
            .filter(|(id, _)| id.source == source && signal.disposition_of(id) == Some(Disposition::Delivered))
            .flat_map(|(_, ds)| ds.iter().copied())
            .collect();
        for digest in &gone {
            self.forget(t, digest)?;
        }
        let mut ranges = t.delivered(&source.0)?;
        for e in signal.entries.iter().filter(|e| e.source == source) {
            ranges.extend(e.ranges.iter().copied());
        }
        t.set_delivered(&source.0, &merge_ranges(ranges), expires_ms)?;
        Ok(gone.len())
    }

    pub(super) fn load_ledger(&self, r: &impl Reads) -> Result<Ledger, Error> {
        let me = self.node_id();
        let mut out = Ledger::default();
        for (digest, meta) in r.all_bundle_meta()? {
            if kept_for_others(&meta, me) {
                let held = Held {
                    key: digest,
                    source: share_of(&meta),
                    bytes: meta.bytes as u64,
                    expires_ms: meta.expires_unix_ms,
                };
                out.add(held, BundleId { source: meta.author, seq: meta.seq });
            }
        }
        Ok(out)
    }

    /// Relay usage: bytes kept for others (everything that counts against the quota),
    /// and the quota.
    pub fn relay_usage(&self) -> Result<(u64, u64), Error> {
        let view = self.store.read()?;
        Ok((self.load_ledger(&view)?.used, self.relay_quota))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{Kit, carry, community};
    use super::*;

    /// A relay keeps strangers' bundles within its quota whatever arrives; its own
    /// communities' content never counts.
    #[test]
    fn what_is_kept_for_others_stays_within_the_quota() {
        let kit = Kit::new();
        let (mut a, mut b, mut r) = (kit.node("A"), kit.node("B"), kit.node("R"));
        let cid = community(&mut a, &mut b, Role::Member);
        for i in 0..20 {
            a.put_wiki_page(&cid, &format!("page {i}"), &"words ".repeat(400)).unwrap();
            a.export(Target::Everyone).unwrap();
        }
        let bundles = a.export(Target::Everyone).unwrap();
        let total: u64 = bundles.iter().map(|b| b.len() as u64).sum();
        let quota = total / 3;
        r.set_relay_quota(quota).unwrap();
        let report = r.import_many(bundles.iter().map(Vec::as_slice)).unwrap();
        let (used, q) = r.relay_usage().unwrap();
        assert_eq!(q, quota);
        assert!(used <= quota, "kept {used} bytes for others over a quota of {quota}");
        assert!(used > 0 && report.not_carried() > 0, "{report:?}");
        // The ledger agrees with what the store holds (reloaded from the store).
        r.ledger = None;
        assert_eq!(r.relay_usage().unwrap().0, used);
        // B, a member, keeps the same content outside its quota.
        b.set_relay_quota(1).unwrap();
        carry(&mut a, &mut b);
        assert_eq!(b.relay_usage().unwrap().0, 0);
        assert_eq!(b.wiki_pages(&cid).unwrap().len(), 20);
    }

    #[test]
    fn kept_for_others_is_by_state_and_author() {
        let me = NodeId([1; 20]);
        let meta = |state, author| BundleMeta {
            state,
            author,
            seq: 1,
            verified: true,
            payload: [0; 32],
            doc: String::new(),
            destination: String::new(),
            expires_unix_ms: 0,
            changes: 0,
            bytes: 1,
            kind: PayloadKind::Batch,
            payload_at: (0, 1),
            opener: None,
            release: [0; 32],
        };
        let other = NodeId([2; 20]);
        assert!(kept_for_others(&meta(BundleState::Carried, me), me));
        assert!(kept_for_others(&meta(BundleState::WaitingKey, other), me));
        assert!(kept_for_others(&meta(BundleState::Invite, other), me));
        assert!(kept_for_others(&meta(BundleState::Signal, other), me));
        assert!(!kept_for_others(&meta(BundleState::Signal, me), me));
        assert!(!kept_for_others(&meta(BundleState::Applied, other), me));
        assert!(!kept_for_others(&meta(BundleState::Grant, other), me));
        // An unverified bundle counts against a shared pool by its size, not its claimed
        // author.
        let unverified = BundleMeta { verified: false, ..meta(BundleState::Carried, other) };
        assert_eq!(share_of(&unverified), relay::UNAUTHENTICATED);
        let large = BundleMeta { bytes: 16 * 1024, ..unverified };
        assert_eq!(share_of(&large), relay::UNAUTHENTICATED_LARGE);
        assert_eq!(share_of(&meta(BundleState::Carried, other)), other);
    }
}
