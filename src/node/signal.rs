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
        // Ours: applied, then remembered by digest (so a stick visit knows it), not kept.
        imp.t.set_forgotten(&digest, until)?;
        imp.t.set_forgotten(&payload, until)?;
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
