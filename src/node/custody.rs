//! The custody book: our custody records (opened when we seal, answered by signals,
//! spent by carriers, renewed before expiry), custody signals and notices, and
//! forgetting what every destination holds. The only caller of `custody::Record`'s
//! methods in the node.

use super::*;

/// What a bundle in custody carries, kept with its record.
pub(super) struct Carries<'a> {
    /// The hashes of its changes.
    pub(super) changes: &'a [[u8; 32]],
    /// The heads its signed header names.
    pub(super) heads: &'a [[u8; 32]],
}

/// Opens custody of a bundle we just sealed for its destinations (ourselves excluded),
/// with the routing strategy's carrier budget.
pub(super) fn open_custody(
    t: &mut Txn,
    id: BundleId,
    digest: [u8; 32],
    expires_ms: u64,
    destinations: Vec<NodeId>,
    Carries { changes, heads }: Carries<'_>,
    now: u64,
) -> Result<(), Error> {
    let record = Record::new(id, expires_ms, destinations, Caravan::default().initial_copies(), now);
    t.put_custody(&CustodyRow { seq: id.seq, digest, record })?;
    if !changes.is_empty() {
        t.put_custody_changes(id.seq, changes)?;
    }
    if !heads.is_empty() {
        t.put_custody_heads(id.seq, heads)?;
    }
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

/// Whether a document (or key scope) is read beyond its custody destinations: friends of
/// friends, friends of members and followers of public content (`follow.rs`), whom its
/// author does not know.
pub(super) fn beyond_custody(doc: &str) -> bool {
    // Key scopes of slot grants first (`c/<community>/fom` would also read as a document
    // of a kind `fom` nobody registered).
    if let Some(ScopeOwner::FriendsOfMembers(_) | ScopeOwner::Profile(_, Audience::FriendsOfFriends)) =
        doc::parse_scope(doc)
    {
        return true;
    }
    match DocId::parse(doc) {
        // Any kind whose home is the friends of members (the built-in feed, or a plug-in's),
        // or a community's public part.
        Some(id @ DocId::Community { .. }) => id.kind().is_some_and(|k| {
            matches!(k.home(), crate::plugin::Home::FriendsOfMembers | crate::plugin::Home::CommunityPublic)
        }),
        Some(DocId::Profile { audience, .. }) => matches!(audience, Audience::FriendsOfFriends | Audience::Public),
        None => false,
    }
}

impl Node {
    /// Applies one destination's answer to one of our custody records (from its signed
    /// signal, or from its own signed heads): progress, a noted refusal, or the release
    /// (the record goes, a delivered notice is queued for carriers, and we forget the
    /// bundle). Returns whether custody was released. Only a signal about this very
    /// bundle (`signalled`) tells what the destination now has from it: heads that cover
    /// a snapshot's changes do not mean the destination took the snapshot's heads.
    pub(super) fn answer(
        &mut self,
        t: &mut Txn,
        mut row: CustodyRow,
        from: NodeId,
        d: Disposition,
        signalled: bool,
    ) -> Result<bool, Error> {
        let me = self.node_id();
        let effect = row.record.on_answer(from, d);
        if signalled && matches!(effect, SignalEffect::Released | SignalEffect::Progress) && d != Disposition::Delivered
        {
            self.learn_from_snapshot(t, &row.digest, &from, BundleId { source: me, seq: row.seq })?;
        }
        match effect {
            SignalEffect::Released => {
                t.remove_custody(row.seq)?;
                // Every destination stored it: its release secret goes out in our next
                // release list (every holder of a copy drops it), and we forget it. Not
                // content for readers we do not know (friends of friends, friends of
                // members): it stays until it expires, since its destinations hold it
                // but its readers may not yet (they may not even know to look for it).
                if let Some(m) = t.bundle_meta(&row.digest)?
                    && !beyond_custody(&m.doc)
                {
                    self.release_later(t, &row.digest, &m)?;
                    self.forget_own(t, &row.digest)?;
                }
                Ok(true)
            }
            SignalEffect::Progress | SignalEffect::Noted => {
                t.put_custody(&row)?;
                Ok(false)
            }
            SignalEffect::Ignored => Ok(false),
        }
    }

    /// Releases custody for each pending destination that its own signed heads (learned
    /// from its bundles and signals) show to hold every change of the bundle
    /// (`custody::deliverable`), however the changes reached it: from another member, in
    /// a snapshot, or in our bundle whose answer was lost. Heads are checked again only
    /// when they changed.
    pub(super) fn release_known_holders(&mut self, t: &mut Txn) -> Result<usize, Error> {
        let me = self.node_id();
        let rows = t.custody_records(me)?;
        let mut lacking: HashMap<(NodeId, String), Option<HashSet<[u8; 32]>>> = HashMap::new();
        let mut released = 0;
        for row in rows {
            let Some(meta) = t.bundle_meta(&row.digest)? else { continue };
            let Some(doc_id) = DocId::parse(&meta.doc) else { continue };
            let changes = t.custody_changes(row.seq)?;
            if changes.is_empty() {
                continue;
            }
            let mut holders = Vec::new();
            for d in row.record.pending.iter().copied() {
                let key = (d, meta.doc.clone());
                if !lacking.contains_key(&key) {
                    let heads = t.peer_heads(&d.to_string(), &meta.doc)?;
                    let unchanged = self.heads_checked.get(&key) == Some(&heads);
                    let set = if heads.is_empty() || unchanged {
                        None
                    } else {
                        self.heads_checked.insert(key.clone(), heads.clone());
                        let state = self.load_doc(&*t, doc_id)?;
                        let known: Vec<ChangeHash> = heads
                            .iter()
                            .map(|h| ChangeHash(*h))
                            .filter(|h| state.doc.get_change_by_hash(h).is_some())
                            .collect();
                        (!known.is_empty()).then(|| state.doc.get_changes(&known).iter().map(|c| c.hash().0).collect())
                    };
                    lacking.insert(key.clone(), set);
                }
                if let Some(Some(lacks)) = lacking.get(&key)
                    && crate::custody::deliverable(&[d], &changes, |_, c| !lacks.contains(&c))
                {
                    holders.push(d);
                }
            }
            let mut row = row;
            for d in holders {
                let Some(current) = t.custody_records(me)?.into_iter().find(|r| r.seq == row.seq) else { break };
                row = current;
                if self.answer(t, row.clone(), d, Disposition::Accepted, false)? {
                    released += 1;
                    break;
                }
            }
        }
        Ok(released)
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
        let Some(meta) = t.bundle_meta(digest)? else { return Ok(()) };
        let heads = t.custody_heads(id.seq)?;
        let doc = &meta.doc;
        match meta.kind {
            PayloadKind::Snapshot => self.learn_heads(t, node, doc, &heads)?,
            PayloadKind::Batch => {
                // Stored is not applied: a change whose dependencies the destination lacks
                // waits there, and its heads would claim those dependencies. So a batch's
                // heads are learned only when each dependency of its changes is in the
                // batch or among the heads the destination is known to have.
                let changes: HashSet<[u8; 32]> = t.custody_changes(id.seq)?.into_iter().collect();
                let known: HashSet<[u8; 32]> = t.peer_heads(&node.to_string(), doc)?.into_iter().collect();
                let Some(doc_id) = DocId::parse(doc) else { return Ok(()) };
                let state = self.load_doc(&*t, doc_id)?;
                let closed = changes.iter().all(|h| {
                    state
                        .doc
                        .get_change_by_hash(&ChangeHash(*h))
                        .is_some_and(|c| c.deps().iter().all(|d| changes.contains(&d.0) || known.contains(&d.0)))
                });
                if !closed {
                    return Ok(());
                }
                let mut own = Vec::new();
                for h in &heads {
                    if t.change_bundle(h)? == Some(id) {
                        own.push(*h);
                    }
                }
                if !own.is_empty() {
                    self.learn_heads(t, node, doc, &own)?;
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

#[cfg(test)]
mod tests {
    use super::super::testkit::{import, new_since};
    use super::*;

    /// What its author does not know all readers of is not released: the friends-of-members
    /// feed, the friends-of-friends audience, their slot grants' scopes, and public
    /// content (read by followers); the rest is.
    #[test]
    fn content_for_unknown_readers_is_never_released() {
        let (cid, node) = (CommunityId([4; 20]), NodeId([5; 20]));
        for doc in [
            format!("c/{cid}/fom-feed"),
            format!("p/{node}/friends-of-friends"),
            format!("c/{cid}/fom"),
            format!("p/{node}/public"),
            format!("c/{cid}/public"),
            format!("c/{cid}/market-public"),
            format!("c/{cid}/links"),
        ] {
            assert!(beyond_custody(&doc), "{doc}");
        }
        for doc in [format!("c/{cid}/feed"), format!("c/{cid}/wiki"), format!("p/{node}/friends"), format!("c/{cid}")] {
            assert!(!beyond_custody(&doc), "{doc}");
        }
    }

    /// A destination that stored a batch whose dependency it lacks has not got the
    /// dependency: its answer for the batch must not release the dependency's bundle.
    #[test]
    fn an_answer_for_a_batch_with_a_missing_dependency_releases_only_that_batch() {
        let mut a = Node::in_memory("A").unwrap();
        let mut b = Node::in_memory("B").unwrap();
        b.add_contact(&a.card(), &[]).unwrap();
        let cid = a.create_community("Wells", "").unwrap();
        a.invite(&cid, &b.card(), Role::Editor).unwrap();
        let mut seen = HashSet::new();
        let setup = new_since(&mut a, &mut seen);
        import(&mut b, &setup);
        a.post(&cid, "first").unwrap();
        let first = new_since(&mut a, &mut seen);
        a.post(&cid, "second").unwrap();
        let second = new_since(&mut a, &mut seen);
        // B's answers for the setup come back; then B gets only the second post's bundle.
        import(&mut a, &b.export(Target::Everyone).unwrap());
        let before = a.custody().unwrap();
        assert_eq!(before.open, 2, "the two posts wait for B: {before:?}");
        import(&mut b, &second);
        assert_eq!(b.feed(&cid).unwrap().len(), 0, "the second post waits for the first");
        import(&mut a, &b.export(Target::Everyone).unwrap());
        a.export(Target::Everyone).unwrap(); // where A checks what B's heads cover
        // The first post's bundle still waits for B (and, as the second's was released
        // and forgotten, A as the owner seals B a snapshot too).
        let after = a.custody().unwrap();
        assert!(after.waiting_for.iter().any(|(n, k)| *n == b.node_id() && *k >= 1), "{after:?}");
        assert!(first.iter().all(|f| a.holds(&super::super::bundle_digest(f)).unwrap()), "A forgot the first post");
        // What A still holds for B reaches it, and then everything is released.
        import(&mut b, &a.export(Target::Everyone).unwrap());
        assert_eq!(b.feed(&cid).unwrap().len(), 2);
        import(&mut a, &b.export(Target::Everyone).unwrap());
        a.export(Target::Everyone).unwrap();
        assert_eq!(a.custody().unwrap().open, 0, "{:?}", a.custody().unwrap());
    }
}
