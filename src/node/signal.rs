//! The import's signal stage: a custody signal or delivered notice, its signature
//! checked in the pre-pass. Entries about our bundles go to the custody book
//! (`custody.rs`); a notice makes holders drop what it declares delivered; anything else
//! is carried toward its custodian within the relay quota.

use super::import::Import;
use super::*;

impl Node {
    /// Takes in a custody signal or delivered notice (its signature checked). What it
    /// does comes from its signed entries only, never from its primary block: entries
    /// about our bundles are applied to our custody records (the signal is then consumed:
    /// remembered by digest, not kept); a notice (every entry declares the signer's own
    /// bundles delivered) makes holders drop those bundles and travels on; anything else
    /// is carried toward its custodian within the relay quota.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn take_signal(
        &mut self,
        imp: &mut Import,
        bytes: &[u8],
        digest: [u8; 32],
        info: &BundleInfo,
        payload: [u8; 32],
        signer: NodeId,
        signal: &Signal,
    ) -> Result<Outcome, Error> {
        let me = self.node_id();
        let delivered = |e: &&crate::custody::SignalEntry| e.disposition == Disposition::Delivered;
        if signal.entries.iter().filter(delivered).any(|e| e.source != signer) {
            return Ok(Outcome::Rejected(Rejection::Signal("a notice may only declare its own bundles delivered")));
        }
        let until = info.expires_unix_ms().min(imp.now.saturating_add(self.lifetime_cap_ms));
        let meta = control_meta(info, bytes.len(), payload, signer, true, "custody");
        let notice = !signal.entries.is_empty() && signal.entries.iter().all(|e| delivered(&e));
        if notice {
            self.drop_delivered(&mut imp.t, signer, signal, until)?;
            self.forget_delivered(&mut imp.t, signer, signal)?;
            if signer == me {
                return Ok(Outcome::Duplicate);
            }
            // On to everyone who may hold those bundles.
            if let Err(o) = self.keep(&mut imp.t, digest, bytes, &meta)? {
                return Ok(o);
            }
            return Ok(Outcome::Waiting(WaitReason::ForOthers));
        }
        if !signal.entries.iter().any(|e| e.source == me) {
            if signer == me {
                return Ok(Outcome::Duplicate);
            }
            if let Err(o) = self.keep(&mut imp.t, digest, bytes, &meta)? {
                return Ok(o);
            }
            return Ok(Outcome::Waiting(WaitReason::ForOthers));
        }
        // Ours: applied, then remembered by digest (so a stick visit knows it), not kept;
        // its copies at carriers go with our next release list.
        imp.t.set_forgotten(&digest, until)?;
        imp.t.set_forgotten(&payload, until)?;
        if let Some(route) = info.opener {
            super::release::queue_release(&mut imp.t, &crate::cloak::direct_release(&route), until)?;
        }
        let t = &mut imp.t;
        let records: std::collections::BTreeMap<u64, CustodyRow> =
            t.custody_records(me)?.into_iter().map(|row| (row.seq, row)).collect();
        let mut released = 0;
        for entry in signal.entries.iter().filter(|e| e.source == me) {
            for &(lo, hi) in &entry.ranges {
                for (_, row) in records.range(lo..=hi) {
                    released += usize::from(self.answer(t, row.clone(), signer, entry.disposition, true)?);
                }
            }
        }
        Ok(Outcome::Custody { released })
    }
}

/// What the store keeps about a control bundle taken in (a custody signal, a release
/// list): an administrative record, flooded as a signal.
pub(super) fn control_meta(
    info: &BundleInfo,
    bytes: usize,
    payload: [u8; 32],
    author: NodeId,
    verified: bool,
    doc: &str,
) -> BundleMeta {
    BundleMeta {
        state: BundleState::Signal,
        author,
        seq: 0,
        verified,
        payload,
        doc: doc.into(),
        destination: info.destination.clone(),
        expires_unix_ms: info.expires_unix_ms(),
        changes: 0,
        bytes: bytes as u32,
        kind: PayloadKind::Record,
        payload_at: info.payload_at(),
        opener: info.opener,
        release: info.release,
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{Kit, carry, community, import, new_since};
    use super::*;

    /// B's answer releases A's custody; a relay keeps the answer for A within its quota;
    /// the same answer again changes nothing.
    #[test]
    fn an_answer_releases_custody_once_and_is_carried_for_its_custodian() {
        let kit = Kit::new();
        let (mut a, mut b, mut r) = (kit.node("A"), kit.node("B"), kit.node("R"));
        let cid = community(&mut a, &mut b, Role::Member);
        a.post(&cid, "answer me").unwrap();
        carry(&mut a, &mut b);
        assert_eq!(a.custody().unwrap().open, 1);
        let mut seen: HashSet<[u8; 32]> = a.held_digests().unwrap().into_iter().collect();
        let answers = new_since(&mut b, &mut seen);
        assert!(!answers.is_empty());
        // A stranger carries the answer for A unopened (it cannot tell it is an answer,
        // nor whose), counted against its quota.
        import(&mut r, &answers);
        let view = r.store.read().unwrap();
        let all = view.all_bundle_meta().unwrap();
        let carried = all.iter().filter(|(_, m)| m.doc != super::super::release::RELEASES_DOC);
        assert!(
            carried.clone().all(|(_, m)| m.state == BundleState::Carried && m.opener.is_none() && m.doc.is_empty())
        );
        assert!(carried.count() > 0);
        assert!(!all.is_empty());
        drop(view);
        assert!(r.relay_usage().unwrap().0 > 0);
        // A applies it: custody released; the answer again is a duplicate.
        import(&mut a, &answers);
        assert_eq!(a.custody().unwrap().open, 0);
        let before = a.fingerprint().unwrap();
        let again = import(&mut a, &answers);
        assert_eq!(again.custody_released(), 0);
        assert_eq!(a.fingerprint().unwrap(), before);
    }
}
