//! Custody signals and notices, and forgetting what every destination holds.

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
        let records: std::collections::BTreeMap<u64, Vec<u8>> = t.custody_records()?.into_iter().collect();
        let mut released = 0;
        for entry in signal.entries.iter().filter(|e| e.source == me) {
            for &(lo, hi) in &entry.ranges {
                for (&seq, stored) in records.range(lo..=hi) {
                    let Some((digest, mut record)) = split_custody(me, stored) else { continue };
                    let effect = record.on_answer(signer, entry.disposition);
                    if matches!(effect, SignalEffect::Released | SignalEffect::Progress) {
                        self.learn_from_snapshot(t, &digest, &signer, BundleId { source: me, seq })?;
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
        // Copies still travelling (on sticks, at members) are known when they come back.
        self.forget(t, digest)
    }

    /// A member's side of a `Delivered` notice: every destination has stored these
    /// bundles of `source`, so our copies go (the document keeps their changes; a late
    /// joiner gets them from an owner's snapshot).
    pub(super) fn forget_delivered(&mut self, t: &mut Txn, source: NodeId, signal: &Signal) -> Result<(), Error> {
        for e in signal.entries.iter().filter(|e| e.source == source && e.disposition == Disposition::Delivered) {
            for &(lo, hi) in &e.ranges {
                for (_, digest) in t.bundle_ids(&source.0, lo, hi)? {
                    if t.bundle_meta(&digest)?.is_some_and(|m| m.state == BundleState::Applied) {
                        self.forget(t, &digest)?;
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
    pub(super) fn learn_from_snapshot(
        &mut self,
        t: &mut Txn,
        digest: &[u8; 32],
        node: &NodeId,
        id: BundleId,
    ) -> Result<(), Error> {
        let Some(bytes) = t.bundle(digest)? else { return Ok(()) };
        let Ok(info) = bundle::parse_untimed(&bytes) else { return Ok(()) };
        let Ok(env) = envelope::decode_envelope(&bytes[info.payload.clone()]) else { return Ok(()) };
        match env.header.kind {
            Kind::Snapshot => self.learn_heads(t, node, &env.header.doc, &env.header.heads)?,
            Kind::Batch => {
                let mut own = Vec::new();
                for h in &env.header.heads {
                    if t.change_bundle(h)? == Some(id) {
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
