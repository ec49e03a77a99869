//! Sealing: our changes, snapshots and custody answers into bundles; renewal and purging.

use super::*;
use crate::cloak::To;

/// A control bundle's inner addressing, its BPv7 sequence number and what it is.
pub(super) struct Control<'a> {
    pub(super) source: &'a str,
    pub(super) destination: &'a str,
    pub(super) seq: u64,
    pub(super) doc: &'a str,
}

impl Node {
    /// Seals, per document we may write, our changes not yet in a bundle; and, where our
    /// heads moved without changes of ours, an empty batch announcing what we now have;
    /// then snapshots where needed, and our queued custody answers.
    pub(super) fn seal_all(&mut self) -> Result<(), Error> {
        let view = self.store.read()?;
        let me = self.node_id();
        let stored: HashSet<String> = view.doc_ids()?.into_iter().collect();
        // Every document we hold of our profile and of our communities, whatever its kind.
        // A community that removed us (or we left) still gets our log operations: the
        // leave itself, or what we did before we heard.
        let (ours, gone): (Vec<CommunityInfo>, Vec<CommunityInfo>) =
            self.communities()?.into_iter().partition(|c| !c.removed);
        let ours: HashSet<CommunityId> = ours.into_iter().map(|c| c.id).collect();
        let gone: HashSet<CommunityId> = gone.into_iter().map(|c| c.id).collect();
        let mut candidates: Vec<DocId> = stored
            .iter()
            .filter_map(|s| DocId::parse(s))
            .filter(|d| match d {
                DocId::Profile { owner, .. } => *owner == me,
                DocId::Community { id, part } => ours.contains(id) || (gone.contains(id) && *part == Part::AUTHORITY),
            })
            // A kind this program does not know (an app's plug-in, in a home the app also
            // opens) is sealed by the program that knows it.
            .filter(|d| d.kind().is_some())
            .collect();
        candidates.sort();
        drop(view);
        let mut t = self.write_txn()?;
        let result = (|| {
            self.forget_expired_listings(&mut t, &stored)?;

            // Friends of friends: sealed for the passes we hold now.
            if stored.contains(&DocId::Profile { owner: me, audience: Audience::FriendsOfFriends }.to_string()) {
                self.ensure_fof_slots(&mut t)?;
            }
            for id in candidates {
                if stored.contains(&id.to_string()) {
                    self.seal_doc(&mut t, id)?;
                }
            }
            self.recloak_legacy(&mut t)?;
            self.seal_snapshots(&mut t)?;
            self.seal_public_snapshots(&mut t)?;
            self.renew_custody(&mut t)?;
            self.release_known_holders(&mut t)?;
            self.purge_expired(&mut t)?;
            self.seal_signals(&mut t)?;
            self.seal_releases(&mut t)
        })();
        match result {
            Ok(()) => {
                t.commit()?;
                self.trim_docs();
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// The key a document is sealed under: a community's current epoch (`authority.rs`),
    /// a profile audience's latest; none for public documents.
    pub(super) fn seal_key(&mut self, t: &mut Txn, id: DocId, name: &str) -> Result<Option<Grant>, Error> {
        match (id, id.key_scope()) {
            (_, None) => Ok(None),
            (DocId::Community { id: cid, part }, Some(_))
                if part == Part::FOM_FEED || id.key_scope().is_some_and(|s| s.ends_with("/fom")) =>
            {
                Ok(Some(self.fom_key(t, &cid)?))
            }
            (DocId::Community { id: cid, part }, Some(_)) => Ok(Some(self.sealing_key(t, &cid, part)?)),
            (DocId::Profile { .. }, Some(scope)) => Ok(Some(self.latest_grant(t, &scope)?.ok_or_else(|| {
                Error::Document { doc: name.to_string(), reason: "no key held for this document".into() }
            })?)),
        }
    }

    pub(super) fn seal_doc(&mut self, t: &mut Txn, id: DocId) -> Result<(), Error> {
        let name = id.to_string();
        let sealed = t.sealed(&name)?;
        // Nothing new since the last seal, known without loading the document.
        if let (Some(s), Some(heads)) = (&sealed, t.doc_heads(&name)?)
            && s.1 == heads
        {
            return Ok(());
        }
        let actor = self.actor();
        let state = self.load_doc(t, id)?;
        let heads = state.doc.get_heads();
        let heads_bytes: Vec<[u8; 32]> = heads.iter().map(hash_bytes).collect();
        let previous: Vec<ChangeHash> =
            sealed.as_ref().map(|s| s.1.iter().copied().map(ChangeHash).collect()).unwrap_or_default();
        if sealed.as_ref().is_some_and(|s| s.1 == heads_bytes) {
            return Ok(());
        }
        let have: Vec<ChangeHash> =
            previous.into_iter().filter(|h| state.doc.get_change_by_hash(h).is_some()).collect();
        let own: Vec<Change> = state.doc.get_changes(&have).into_iter().filter(|c| *c.actor_id() == actor).collect();
        // Several batches when our changes are more than a receiver takes in one.
        let encoded = encoded_groups(&mut state.doc, &own);
        let (genesis, chain) = match id {
            DocId::Community { id: cid, part } => {
                let (_, inv) = self.joined(&*t, &cid)?;
                // The log takes the operations of anyone ever admitted: its resolution
                // judges them.
                let role = match (part, self.my_role(&*t, &cid)) {
                    (Part::AUTHORITY, Err(Error::Removed(_))) => Role::Member,
                    (_, r) => r?,
                };
                if !own.is_empty() && !part.writable_by(role) {
                    return Err(Error::NotPermitted { role, action: "write this document" });
                }
                (Some(inv.genesis), inv.chain)
            }
            DocId::Profile { .. } => (None, vec![]),
        };
        let key = self.seal_key(t, id, &name)?;
        // Community content says which authority heads it was written under.
        let authority = self.authority_heads(t, id)?;
        // Bundles with changes stay in our custody until every destination took them.
        let destinations = if own.is_empty() { Vec::new() } else { self.destinations(t, id)? };
        let sealer = BatchSealer {
            identity: self.identity.clone(),
            me: self.node_id(),
            doc: name.clone(),
            key: key.clone(),
            encrypted: !id.is_public(),
            authority,
            genesis,
            chain,
            heads: heads_bytes.clone(),
        };
        let endpoint = id.endpoint();
        let mut digest = [0u8; 32];
        for (encoding, changes, hashes) in encoded {
            let seal = |seq| Ok(sealer.seal(Kind::Batch, encoding, changes, seq));
            let mint = Mint {
                destination: &endpoint,
                to: crate::cloak::To::Group(super::cloaking::doc_route(id, key.as_ref())),
                doc: name.clone(),
                state: BundleState::Applied,
                kind: PayloadKind::Batch,
                heads: &heads_bytes,
            };
            digest = self.mint(t, mint, seal, &hashes, destinations.clone())?.0;
        }
        // An announcement is a member's signed heads: what lets authors release custody for
        // changes that reached it some other way. It reaches members directly, and strangers
        // as carrier copies (spent as any copies are), so it crosses pure relays.
        if own.is_empty() {
            t.set_carrier_copies(&digest, Caravan::default().initial_copies())?;
        }
        // A superseded announcement carries nothing anyone needs: its copies go too (our
        // next release list shows its secret, so carriers drop them).
        if let Some((old, _)) = sealed
            && let Some(m) = t.bundle_meta(&old)?
            && m.changes == 0
        {
            self.release_later(t, &old, &m)?;
            self.forget(t, &old)?;
        }
        t.set_sealed(&name, &digest, &heads_bytes)?;
        Ok(())
    }

    /// Turns queued custody answers into one signed signal bundle per custodian.
    pub(super) fn seal_signals(&mut self, t: &mut Txn) -> Result<(), Error> {
        let outbox = t.custody_outbox()?;
        if outbox.is_empty() {
            return Ok(());
        }
        let mut by: std::collections::BTreeMap<[u8; 20], Vec<(Disposition, BundleId)>> = Default::default();
        let me = self.node_id();
        for (custodian, code, seq) in outbox {
            let Some(d) = Disposition::from_code(code) else { continue };
            // Our own bundles delivered: their release secrets (`seal_releases`) make every
            // holder drop them; a notice naming us would tell carriers whose they were.
            if custodian == me.0 && d == Disposition::Delivered {
                continue;
            }
            by.entry(custodian).or_default().push((d, BundleId { source: NodeId(custodian), seq }));
        }
        let signer = self.identity.signing_public();
        for (custodian, answers) in by {
            let signal = Signal::aggregate(answers);
            // Bounded records: split a very long answer list over several signals.
            for part in signal.entries.chunks(crate::limits::SIGNAL_ENTRIES_MAX / 2) {
                let part = Signal { entries: part.to_vec() };
                let inner = envelope::encode_signal(&signer, &part);
                let signature = self.identity.sign(CONTEXT_CUSTODY_SIGNAL, &[&inner]);
                let record = envelope::encode_signal_record(&inner, &signature);
                let seq = self.next_sequence(t)?;
                let custodian = NodeId(custodian);
                // For its custodian alone (its key was kept with the queued answer).
                let key = t.meta(&format!("answer-key/{custodian}"))?.and_then(|k| <[u8; 32]>::try_from(k).ok());
                let Some(key) = key else {
                    continue; // queued by an earlier version without the key: the custodian renews
                };
                let (source, destination) = (self.node_id().endpoint(), custodian.endpoint());
                let control = Control { source: &source, destination: &destination, seq, doc: "custody" };
                let digest = self.mint_control(t, control, &record, To::Node(&key), self.lifetime)?;
                // A carrier cannot tell a signal from anything else it carries: it
                // crosses relays as carrier copies do.
                t.set_carrier_copies(&digest, Caravan::default().initial_copies())?;
            }
            t.remove_meta(&format!("answer-key/{}", NodeId(custodian)))?;
        }
        t.clear_custody_outbox()?;
        Ok(())
    }

    /// Mints one of our control bundles (an administrative record: a custody signal, a
    /// release list), cloaked for `to`, never released (it goes when it expires).
    pub(super) fn mint_control(
        &mut self,
        t: &mut Txn,
        c: Control<'_>,
        record: &[u8],
        to: To<'_>,
        lifetime: Duration,
    ) -> Result<[u8; 32], Error> {
        let now = (self.clock)();
        let inner = bundle::build_admin_record(c.source, c.destination, now, c.seq, lifetime, record)
            .map_err(|e| Error::Invalid(e.to_string()))?;
        let info = bundle::parse_untimed(&inner).map_err(|e| Error::Invalid(e.to_string()))?;
        let release = crypto::random_32();
        let cloaked =
            crate::cloak::cloak(&inner, to, now, lifetime, &release).map_err(|e| Error::Invalid(e.to_string()))?;
        let digest = crypto::derive(CONTEXT_BUNDLE_DIGEST, &[&cloaked.bytes]);
        let meta = BundleMeta {
            state: BundleState::Signal,
            author: self.node_id(),
            seq: 0,
            verified: true,
            payload: payload_digest(record),
            doc: c.doc.into(),
            destination: info.destination.clone(),
            expires_unix_ms: now.saturating_add(lifetime.as_millis() as u64),
            changes: 0,
            bytes: cloaked.bytes.len() as u32,
            kind: PayloadKind::Record,
            payload_at: info.payload_at(),
            opener: Some(cloaked.route),
            release,
        };
        t.put_bundle(&digest, &cloaked.bytes, &meta)?;
        Ok(digest)
    }

    /// Renews our bundles still waiting for destinations that are about to expire: the
    /// same signed payload in a new primary block (new creation time, BPv7 sequence number
    /// and lifetime). The custody id is in the signed payload, so it stays: a destination
    /// that already had the old copy knows the new one as a duplicate, and its answer
    /// counts for both.
    pub(super) fn renew_custody(&mut self, t: &mut Txn) -> Result<(), Error> {
        let now = (self.clock)();
        let me = self.node_id();
        for row in super::custody::due_for_renewal(t, me, now)? {
            let digest = row.digest;
            let (Some(bytes), Some(meta)) = (t.bundle(&digest)?, t.bundle_meta(&digest)?) else { continue };
            if meta.kind == PayloadKind::Record {
                continue;
            }
            let (Some(route), Ok(outer)) = (meta.opener, crate::cloak::read_untimed(&bytes)) else { continue };
            let Ok(inner) = outer.open(&route) else { continue };
            let Some(payload) = meta.payload_of(&inner) else { continue };
            // The same readers: the same route and key; a new day's tag.
            let again = To::Again { route, e: outer.e, direct: outer.is_direct(&route) };
            self.reissue(t, digest, &meta, payload, again, Some(row))?;
        }
        Ok(())
    }

    /// Our bundle `digest` again: the same signed payload in a new inner primary block
    /// (new creation time, BPv7 sequence number and lifetime), cloaked for `to`, in place
    /// of the old one (its custody record, custody id and `sealed` entry move to it).
    pub(super) fn reissue(
        &mut self,
        t: &mut Txn,
        digest: [u8; 32],
        meta: &BundleMeta,
        payload: &[u8],
        to: To<'_>,
        row: Option<CustodyRow>,
    ) -> Result<[u8; 32], Error> {
        let now = (self.clock)();
        let me = self.node_id();
        let wrapper_seq = self.next_sequence(t)?;
        let inner = bundle::build(&me.endpoint(), &meta.destination, now, wrapper_seq, self.lifetime, payload)
            .map_err(|e| Error::Invalid(e.to_string()))?;
        let placed = bundle::parse_untimed(&inner).map_err(|e| Error::Invalid(e.to_string()))?.payload_at();
        let release = self.release_of(&meta.payload);
        let cloaked =
            crate::cloak::cloak(&inner, to, now, self.lifetime, &release).map_err(|e| Error::Invalid(e.to_string()))?;
        let new_digest = crypto::derive(CONTEXT_BUNDLE_DIGEST, &[&cloaked.bytes]);
        let expires = now.saturating_add(self.lifetime.as_millis() as u64);
        let new_meta = BundleMeta {
            expires_unix_ms: expires,
            bytes: cloaked.bytes.len() as u32,
            payload_at: placed,
            opener: Some(cloaked.route),
            release,
            ..meta.clone()
        };
        t.remove_bundle(&digest)?;
        t.put_bundle(&new_digest, &cloaked.bytes, &new_meta)?;
        t.put_bundle_id(&me.0, meta.seq, &new_digest)?;
        if let Some((latest, heads)) = t.sealed(&meta.doc)?
            && latest == digest
        {
            t.set_sealed(&meta.doc, &new_digest, &heads)?;
        }
        if let Some(row) = row {
            super::custody::renewed(t, row, new_digest, expires, now)?;
        }
        Ok(new_digest)
    }

    /// Drops expired bundles that hold nothing a document needs: signals, notices,
    /// carried and unreadable bundles, heads announcements. (An expired bundle can no
    /// longer be imported anywhere, nor opened here.)
    pub(super) fn purge_expired(&mut self, t: &mut Txn) -> Result<(), Error> {
        let now = (self.clock)();
        for (digest, m) in t.all_bundle_meta()? {
            let dead = match m.state {
                BundleState::Signal
                | BundleState::Consumed
                | BundleState::Carried
                | BundleState::WaitingKey
                | BundleState::Invite => true,
                BundleState::Applied => m.changes == 0,
                BundleState::Grant => false,
            };
            if dead && m.expires_unix_ms <= now {
                self.drop_stored(t, &digest)?;
            }
        }
        t.purge_forgotten(now)?;
        t.purge_refused(now)?;
        t.purge_delivered(now)?;
        Ok(())
    }
}

/// What every batch of one document sealed now shares: author, document, key, the
/// authority heads and membership proof, the document's heads.
pub(super) struct BatchSealer {
    pub(super) identity: Arc<Identity>,
    pub(super) me: NodeId,
    pub(super) doc: String,
    pub(super) key: Option<Grant>,
    pub(super) encrypted: bool,
    pub(super) authority: Vec<[u8; 32]>,
    pub(super) genesis: Option<envelope::Genesis>,
    pub(super) chain: Vec<envelope::Cert>,
    pub(super) heads: Vec<[u8; 32]>,
}

impl BatchSealer {
    /// One batch (or snapshot) of `changes`, signed and sealed, as sequence `seq`.
    pub(super) fn seal(
        &self,
        kind: Kind,
        encoding: crate::envelope::ChangeEncoding,
        changes: Vec<u8>,
        seq: u64,
    ) -> (Vec<u8>, Vec<u8>) {
        let batch = Batch {
            authority: self.authority.clone(),
            author: self.identity.signing_public(),
            genesis: self.genesis,
            chain: self.chain.clone(),
            encoding,
            changes,
        };
        let header = Header {
            kind,
            author: self.me,
            seq,
            doc: self.doc.clone(),
            epoch: self.key.as_ref().map_or(0, |g| g.epoch),
            heads: self.heads.clone(),
            encrypted: self.encrypted,
        };
        crate::batch::seal(&self.identity, &header, &batch, self.key.as_ref().map(|g| &g.key))
    }
}

impl Node {
    /// The authority heads community content sealed now carries (none for the log itself
    /// and for profiles), so a member that has not seen them yet waits for them.
    pub(super) fn authority_heads(&mut self, t: &Txn, id: DocId) -> Result<Vec<[u8; 32]>, Error> {
        Ok(match id {
            DocId::Community { id: cid, part } if part != Part::AUTHORITY => {
                let mut h = self.resolved(t, &cid)?.state.heads.clone();
                h.truncate(crate::limits::AUTHORITY_FOLLOWS_MAX);
                h
            }
            _ => Vec::new(),
        })
    }
}

/// Our changes in as many batches as a receiver takes in one: each batch's encoding,
/// bytes and the hashes of the changes in it.
pub(super) fn encoded_groups(
    doc: &mut automerge::AutoCommit,
    changes: &[Change],
) -> Vec<(crate::envelope::ChangeEncoding, Vec<u8>, Vec<[u8; 32]>)> {
    crate::batch::split_for_batches(changes)
        .into_iter()
        .map(|group| {
            let (encoding, bytes) = crate::batch::encode_changes(doc, group);
            (encoding, bytes, group.iter().map(|c| c.hash().0).collect())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{Kit, carry, community, import};
    use super::*;

    /// With nobody editing, exports seal nothing new: an idle network creates nothing.
    #[test]
    fn an_idle_node_seals_nothing() {
        let kit = Kit::new();
        let (mut a, mut b) = (kit.node("A"), kit.node("B"));
        let cid = community(&mut a, &mut b, Role::Member);
        a.post(&cid, "one").unwrap();
        for _ in 0..2 {
            carry(&mut a, &mut b);
            carry(&mut b, &mut a);
        }
        let held: HashSet<[u8; 32]> = a.held_digests().unwrap().into_iter().collect();
        let b_held: HashSet<[u8; 32]> = b.held_digests().unwrap().into_iter().collect();
        for _ in 0..5 {
            kit.advance(3_600_000);
            carry(&mut a, &mut b);
            carry(&mut b, &mut a);
        }
        let new: Vec<_> = a.held_digests().unwrap().into_iter().filter(|d| !held.contains(d)).collect();
        assert!(new.is_empty(), "exports without edits stored {} new bundles at A", new.len());
        let new: Vec<_> = b.held_digests().unwrap().into_iter().filter(|d| !b_held.contains(d)).collect();
        assert!(new.is_empty(), "exports without edits stored {} new bundles at B", new.len());
        assert_eq!(a.store.read().unwrap().custody_records(a.node_id()).unwrap().len(), 0);
    }

    /// A bundle still waiting near its expiry is renewed: a new primary block around the
    /// same signed payload, so its custody id stays, a destination that had the old copy
    /// sees a duplicate, and one that did not gets its content.
    #[test]
    fn renewal_keeps_the_custody_id_and_the_payload() {
        let kit = Kit::new();
        let (mut a, mut b) = (kit.node("A"), kit.node("B"));
        let cid = community(&mut a, &mut b, Role::Member);
        a.post(&cid, "waits for B").unwrap();
        let old = a.export(Target::Everyone).unwrap();
        let me = a.node_id();
        let before = a.store.read().unwrap().custody_records(me).unwrap();
        assert_eq!(before.len(), 1);
        kit.advance(a.lifetime.as_millis() as u64 - crate::limits::RENEW_BEFORE_MS + 1);
        let renewed = a.export(Target::Everyone).unwrap();
        let after = a.store.read().unwrap().custody_records(me).unwrap();
        assert_eq!(after.len(), 1);
        assert_eq!(after[0].seq, before[0].seq, "the custody id moved");
        assert_ne!(after[0].digest, before[0].digest, "not renewed");
        let view = a.store.read().unwrap();
        let (m_old, m_new) = (before[0].digest, after[0].digest);
        assert_eq!(view.bundle_meta(&m_old).unwrap(), None, "the old copy is still stored");
        let meta = view.bundle_meta(&m_new).unwrap().unwrap();
        drop(view);
        assert!(meta.expires_unix_ms > a.now() + crate::limits::RENEW_BEFORE_MS);
        let new_bytes = a.bundle_bytes(&m_new).unwrap().unwrap();
        let old_bytes = old.iter().find(|b| bundle_digest(b) == m_old).unwrap();
        let (new_inner, old_inner) = (a.inner(&new_bytes).unwrap(), a.inner(old_bytes).unwrap());
        assert_eq!(meta.payload_of(&new_inner), Some(&old_inner[bundle::parse_untimed(&old_inner).unwrap().payload]));
        // A new day's tag: a carrier cannot tell the renewed copy is the same.
        let tag = |x: &[u8]| crate::cloak::read_untimed(x).unwrap().tag;
        assert_ne!(tag(&new_bytes), tag(old_bytes));
        // B gets the content from the renewed copy, then the old one is a duplicate.
        import(&mut b, &renewed);
        assert_eq!(b.feed(&cid).unwrap().len(), 1);
        let r = b.import(old_bytes).unwrap();
        assert_eq!(r.duplicates(), 1, "{r:?}");
    }
}
