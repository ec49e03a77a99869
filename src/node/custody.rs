//! The custody book: our custody records (opened when we seal, answered by signals,
//! spent by carriers, renewed before expiry), custody signals and notices, and
//! forgetting what every destination holds. The only caller of `custody::Record`'s
//! methods in the node.

use super::*;

/// Opens custody of a bundle we just sealed, for its destinations (ourselves excluded),
/// with the routing strategy's carrier budget.
pub(super) fn open_custody(
    t: &mut Txn,
    id: BundleId,
    digest: [u8; 32],
    expires_ms: u64,
    destinations: Vec<NodeId>,
    now: u64,
) -> Result<(), Error> {
    let record = Record::new(id, expires_ms, destinations, Caravan::default().initial_copies(), now);
    t.put_custody(&CustodyRow { seq: id.seq, digest, record })?;
    Ok(())
}

/// Our custody records by bundle digest, with carrier budgets refilled as of `now` (in
/// memory: a refill is stored when copies are spent).
pub(super) fn budgets(r: &impl Reads, me: NodeId, now: u64) -> Result<HashMap<[u8; 32], CustodyRow>, Error> {
    let initial = Caravan::default().initial_copies();
    Ok(r.custody_records(me)?
        .into_iter()
        .map(|mut row| {
            row.record.refill(initial, now);
            (row.digest, row)
        })
        .collect())
}

/// Spends `copies` carrier copies of a record (a carrier took the bundle).
pub(super) fn spend(t: &mut Txn, row: &CustodyRow, copies: u32, now: u64) -> Result<(), Error> {
    let mut row = row.clone();
    row.record.spend(copies, now);
    t.put_custody(&row)?;
    Ok(())
}

/// Our records whose bundles are due for renewal at `now` (destinations still pending,
/// expiring within `custody::RENEW_BEFORE_MS`).
pub(super) fn due_for_renewal(t: &Txn, me: NodeId, now: u64) -> Result<Vec<CustodyRow>, Error> {
    Ok(t.custody_records(me)?.into_iter().filter(|row| row.record.needs_renewal(now)).collect())
}

/// Moves a record to the renewed copy of its bundle (same custody id, new expiry).
pub(super) fn renewed(t: &mut Txn, row: CustodyRow, digest: [u8; 32], expires_ms: u64, now: u64) -> Result<(), Error> {
    let record = Record { expires_ms, last_spray_ms: now, ..row.record };
    t.put_custody(&CustodyRow { seq: row.seq, digest, record })?;
    Ok(())
}

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
        let records: std::collections::BTreeMap<u64, CustodyRow> =
            t.custody_records(me)?.into_iter().map(|row| (row.seq, row)).collect();
        let mut released = 0;
        for entry in signal.entries.iter().filter(|e| e.source == me) {
            for &(lo, hi) in &entry.ranges {
                for (&seq, row) in records.range(lo..=hi) {
                    let (digest, mut row) = (row.digest, row.clone());
                    let effect = row.record.on_answer(signer, entry.disposition);
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
                        SignalEffect::Progress | SignalEffect::Noted => t.put_custody(&row)?,
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
        for row in view.custody_records(me)? {
            status.open += 1;
            for n in row.record.pending {
                *waiting.entry(n).or_default() += 1;
            }
        }
        status.waiting_for = waiting.into_iter().collect();
        status.waiting_for.sort();
        status.answers_queued = view.custody_outbox()?.len();
        Ok(status)
    }
}
