//! Custody signals and notices, and forgetting what every destination holds.

use super::*;

impl Node {
    /// Takes in a custody signal: applies it to our custody records if it is for us,
    /// otherwise carries it (within the relay quota) toward its custodian.
    pub(super) fn take_signal(
        &mut self,
        t: &mut Txn,
        bytes: &[u8],
        digest: [u8; 32],
        info: &BundleInfo,
    ) -> Result<Outcome, Error> {
        let Some(source) = source_node(&info.source) else {
            return Ok(Outcome::Rejected(Rejection::Source(info.source.clone())));
        };
        let rec = match envelope::decode_signal_record(&bytes[info.payload.clone()]) {
            Ok(r) => r,
            Err(e) => return Ok(Outcome::Rejected(e.into())),
        };
        if NodeId::from_signing_public(&rec.signer) != source {
            return Ok(Outcome::Rejected(Rejection::AuthorNotSource(source.to_string())));
        }
        if crypto::verify(&rec.signer, CONTEXT_CUSTODY_SIGNAL, &[rec.inner], &rec.signature).is_err() {
            return Ok(Outcome::Rejected(Rejection::Signature));
        }
        let me = self.node_id();
        // Addressed to its own source: a `Delivered` notice about the source's own bundles,
        // for everyone who carries them.
        if info.destination == info.source {
            let own = |e: &crate::custody::SignalEntry| e.disposition == Disposition::Delivered && e.source == source;
            if !rec.signal.entries.iter().all(own) {
                return Ok(Outcome::Rejected(Rejection::Signal("a notice may only declare its own bundles delivered")));
            }
            self.drop_delivered(t, source, &rec.signal)?;
            self.forget_delivered(t, source, &rec.signal)?;
            if source != me {
                if let Err(o) = self.carry(t, digest, info, bytes.len())? {
                    return Ok(o);
                }
                let meta = meta_for(info, BundleState::Signal, "custody".into(), 0, bytes.len());
                t.put_bundle(&digest, bytes, &meta)?;
            }
            return Ok(Outcome::Waiting(WaitReason::ForOthers));
        }
        if info.destination != me.endpoint() {
            if source_node(&info.destination).is_none() {
                return Ok(Outcome::Rejected(Rejection::Signal("it must be addressed to a node")));
            }
            if let Err(o) = self.carry(t, digest, info, bytes.len())? {
                return Ok(o);
            }
            let meta = meta_for(info, BundleState::Signal, "custody".into(), 0, bytes.len());
            t.put_bundle(&digest, bytes, &meta)?;
            return Ok(Outcome::Waiting(WaitReason::ForOthers));
        }
        // Ours: applied, and kept only so that it is known (never sent on).
        let meta = meta_for(info, BundleState::Consumed, "custody".into(), 0, bytes.len());
        t.put_bundle(&digest, bytes, &meta)?;
        let records: std::collections::BTreeMap<u64, Vec<u8>> = t.custody_records()?.into_iter().collect();
        let mut released = 0;
        for entry in rec.signal.entries.iter().filter(|e| e.source == me) {
            for &(lo, hi) in &entry.ranges {
                for (&seq, stored) in records.range(lo..=hi) {
                    let Some((digest, mut record)) = split_custody(me, stored) else { continue };
                    let effect = record.on_answer(source, entry.disposition);
                    if matches!(effect, SignalEffect::Released | SignalEffect::Progress) {
                        self.learn_from_snapshot(t, &digest, &source)?;
                    }
                    match effect {
                        SignalEffect::Released => {
                            t.remove_custody(seq)?;
                            // Every destination stored it: tell carriers, and forget it.
                            t.put_custody_answer(&me.0, Disposition::Delivered.code(), seq)?;
                            self.forget_own(t, &digest)?;
                            released += 1;
                        }
                        SignalEffect::Progress | SignalEffect::Noted => {
                            t.put_custody(seq, &[&digest[..], &record.to_bytes()].concat())?
                        }
                        SignalEffect::Ignored => {}
                    }
                }
            }
        }
        Ok(Outcome::Custody { released })
    }

    /// Forgets one of our community bundles once every destination stored it. (The
    /// `sealed` entry keeps its heads: peers learned them from the bundle itself.)
    pub(super) fn forget_own(&mut self, t: &mut Txn, digest: &[u8; 32]) -> Result<(), Error> {
        let Some(meta) = t.bundle_meta(digest)? else { return Ok(()) };
        // Profile bundles stay: a new contact gets them as they are (profiles are small,
        // and only communities have owners to vouch for a snapshot).
        if !matches!(DocId::parse(&meta.doc), Some(DocId::Community { .. })) {
            return Ok(());
        }
        t.remove_bundle(digest)?;
        // Copies still travelling (on sticks, at members) are known when they come back.
        t.set_forgotten(digest)?;
        Ok(())
    }

    /// A member's side of a `Delivered` notice: every destination has stored these
    /// bundles of `source`, so our copies go (the document keeps their changes; a late
    /// joiner gets them from an owner's snapshot).
    pub(super) fn forget_delivered(&mut self, t: &mut Txn, source: NodeId, signal: &Signal) -> Result<(), Error> {
        for e in signal.entries.iter().filter(|e| e.source == source && e.disposition == Disposition::Delivered) {
            for &(lo, hi) in &e.ranges {
                for (_, digest) in t.bundle_ids(&source.0, lo, hi)? {
                    if t.bundle_meta(&digest)?.is_some_and(|m| m.state == BundleState::Applied) {
                        t.remove_bundle(&digest)?;
                        t.set_forgotten(&digest)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// When a destination takes one of our bundles, remember what it now has: a
    /// snapshot's heads; for a batch, those of its heads whose changes the batch itself
    /// carries. (So an owner does not seal a snapshot for a member that took everything
    /// before it was forgotten.)
    pub(super) fn learn_from_snapshot(&mut self, t: &mut Txn, digest: &[u8; 32], node: &NodeId) -> Result<(), Error> {
        let now = (self.clock)();
        let Some(bytes) = t.bundle(digest)? else { return Ok(()) };
        let Ok(info) = bundle::parse(&bytes, now) else { return Ok(()) };
        let Ok(env) = envelope::decode_envelope(&bytes[info.payload.clone()]) else { return Ok(()) };
        match env.header.kind {
            Kind::Snapshot => self.learn_heads(t, node, &env.header.doc, &env.header.heads)?,
            Kind::Batch => {
                let mut own = Vec::new();
                for h in &env.header.heads {
                    if t.change_bundle(h)? == Some(*digest) {
                        own.push(*h);
                    }
                }
                if !own.is_empty() {
                    self.learn_heads(t, node, &env.header.doc, &own)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Custody of our bundles: records still open, and for each destination, how many
    /// bundles still wait for it.
    pub fn custody(&self) -> Result<CustodyStatus, Error> {
        let view = self.store.read()?;
        let me = self.node_id();
        let mut status = CustodyStatus::default();
        let mut waiting: HashMap<NodeId, usize> = HashMap::new();
        for (_, bytes) in view.custody_records()? {
            let Some((_, r)) = split_custody(me, &bytes) else { continue };
            status.open += 1;
            for n in r.pending {
                *waiting.entry(n).or_default() += 1;
            }
        }
        status.waiting_for = waiting.into_iter().collect();
        status.waiting_for.sort();
        status.answers_queued = view.custody_outbox()?.len();
        Ok(status)
    }
}
