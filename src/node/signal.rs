//! The import's signal stage: a custody signal or delivered notice, its signature
//! checked in the pre-pass. Entries about our bundles go to the custody book
//! (`custody.rs`); a notice makes holders drop what it declares delivered; anything else
//! is carried toward its custodian within the relay quota.

use super::import::Import;
use super::*;

impl Node {
    /// Takes in a release list: every bundle we hold (not ours) whose cloak shows the
    /// hash of one of its secrets goes, remembered until it expires (a copy that comes
    /// back is a duplicate); the list travels on to everyone, within the relay quota.
    pub(super) fn take_release(
        &mut self,
        imp: &mut Import,
        bytes: &[u8],
        digest: [u8; 32],
        info: &BundleInfo,
        payload: [u8; 32],
        secrets: &[[u8; 32]],
    ) -> Result<Outcome, Error> {
        let me = self.node_id();
        let hashes: HashSet<[u8; 32]> = secrets.iter().map(crate::cloak::release_hash).collect();
        let mut released = 0;
        for (d, m) in imp.t.all_bundle_meta()? {
            if m.release != [0; 32] && hashes.contains(&m.release) && m.author != me {
                self.drop_stored(&mut imp.t, &d)?;
                imp.t.set_forgotten(&d, m.expires_unix_ms)?;
                imp.t.set_forgotten(&m.release, m.expires_unix_ms)?;
                released += 1;
            }
        }
        let meta = BundleMeta {
            state: BundleState::Signal,
            author: NodeId([0; 20]),
            seq: 0,
            verified: false,
            payload,
            doc: super::seal::RELEASES_DOC.into(),
            destination: info.destination.clone(),
            expires_unix_ms: info.expires_unix_ms(),
            changes: 0,
            bytes: bytes.len() as u32,
            kind: PayloadKind::Record,
            payload_at: info.payload_at(),
            opener: info.opener,
            release: info.release,
        };
        if let Err(o) = self.carry(&mut imp.t, digest, &meta)? {
            return Ok(o);
        }
        imp.t.put_bundle(&digest, bytes, &meta)?;
        // A copy that comes later (from a stick still holding it) is known for what it
        // is, as long as the list is kept (within the relay quota, like the list itself).
        for h in &hashes {
            imp.t.set_forgotten(h, meta.expires_unix_ms)?;
        }
        tracing::debug!(released, "release list");
        Ok(Outcome::Waiting(WaitReason::ForOthers))
    }

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
        let meta = BundleMeta {
            state: BundleState::Signal,
            author: signer,
            seq: 0,
            verified: true,
            payload,
            doc: "custody".into(),
            destination: info.destination.clone(),
            expires_unix_ms: info.expires_unix_ms(),
            changes: 0,
            bytes: bytes.len() as u32,
            kind: PayloadKind::Record,
            payload_at: info.payload_at(),
            opener: info.opener,
            release: info.release,
        };
        let notice = !signal.entries.is_empty() && signal.entries.iter().all(|e| delivered(&e));
        if notice {
            self.drop_delivered(&mut imp.t, signer, signal, until)?;
            self.forget_delivered(&mut imp.t, signer, signal)?;
            if signer == me {
                return Ok(Outcome::Duplicate);
            }
            // On to everyone who may hold those bundles.
            if let Err(o) = self.carry(&mut imp.t, digest, &meta)? {
                return Ok(o);
            }
            imp.t.put_bundle(&digest, bytes, &meta)?;
            return Ok(Outcome::Waiting(WaitReason::ForOthers));
        }
        if !signal.entries.iter().any(|e| e.source == me) {
            if signer == me {
                return Ok(Outcome::Duplicate);
            }
            if let Err(o) = self.carry(&mut imp.t, digest, &meta)? {
                return Ok(o);
            }
            imp.t.put_bundle(&digest, bytes, &meta)?;
            return Ok(Outcome::Waiting(WaitReason::ForOthers));
        }
        // Ours: applied, then remembered by digest (so a stick visit knows it), not kept;
        // its copies at carriers go with our next release list.
        imp.t.set_forgotten(&digest, until)?;
        imp.t.set_forgotten(&payload, until)?;
        if let Some(route) = info.opener {
            super::custody::queue_release(&mut imp.t, &crate::cloak::direct_release(&route), until)?;
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
        let carried = all.iter().filter(|(_, m)| m.doc != super::super::seal::RELEASES_DOC);
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
