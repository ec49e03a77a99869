//! Sealing: our changes, snapshots and custody answers into bundles; renewal and purging.

use super::*;

impl Node {
    /// Seals, per document we may write, our changes not yet in a bundle; and, where our
    /// heads moved without changes of ours, an empty batch announcing what we now have;
    /// then snapshots where needed, and our queued custody answers.
    pub(super) fn seal_all(&mut self) -> Result<(), Error> {
        let view = self.store.read()?;
        let me = self.node_id();
        let mut candidates: Vec<DocId> =
            Audience::ALL.iter().map(|a| DocId::Profile { owner: me, audience: *a }).collect();
        for c in self.communities()? {
            candidates.extend(Part::ALL.map(|part| DocId::Community { id: c.id, part }));
        }
        let stored: HashSet<String> = view.doc_ids()?.into_iter().collect();
        drop(view);
        let mut t = self.write_txn()?;
        let result = (|| {
            for id in candidates {
                if stored.contains(&id.to_string()) {
                    self.seal_doc(&mut t, id)?;
                }
            }
            self.seal_snapshots(&mut t)?;
            self.renew_custody(&mut t)?;
            self.purge_expired(&mut t)?;
            self.seal_signals(&mut t)
        })();
        match result {
            Ok(()) => Ok(t.commit()?),
            Err(e) => Err(e),
        }
    }

    pub(super) fn seal_doc(&mut self, t: &mut Txn, id: DocId) -> Result<(), Error> {
        let name = id.to_string();
        let sealed = t.sealed(&name)?;
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
        let (encoding, changes) = crate::batch::encode_changes(&mut state.doc, &own);
        let (genesis, chain) = match id {
            DocId::Community { id: cid, part } => {
                let (_, inv, role) = self.membership(t, &cid)?;
                if !own.is_empty() && !part.writable_by(role) {
                    return Err(Error::NotPermitted { role, action: "write this document" });
                }
                (Some(inv.genesis), inv.chain)
            }
            DocId::Profile { .. } => (None, vec![]),
        };
        let batch = Batch { author: self.identity.signing_public(), genesis, chain, encoding, changes };
        let header = Header {
            kind: Kind::Batch,
            doc: name.clone(),
            epoch: 0,
            heads: heads_bytes.clone(),
            encrypted: !id.is_public(),
        };
        let key = match id.key_scope() {
            None => None,
            Some(scope) => {
                let g = self.latest_grant(t, &scope)?.ok_or_else(|| Error::Document {
                    doc: name.clone(),
                    reason: "no key held for this document".into(),
                })?;
                Some(g)
            }
        };
        let header = Header { epoch: key.as_ref().map_or(0, |g| g.epoch), ..header };
        let (header_bytes, body) = crate::batch::seal(&self.identity, &header, &batch, key.as_ref().map(|g| &g.key));
        let hashes: Vec<[u8; 32]> = own.iter().map(|c| c.hash().0).collect();
        // Bundles with changes stay in our custody until every destination took them.
        let custody_for = if hashes.is_empty() { Vec::new() } else { self.destinations(t, id)? };
        let digest = self.store_own_bundle(
            t,
            &id.endpoint(),
            &header_bytes,
            &body,
            name.clone(),
            BundleState::Applied,
            &hashes,
            custody_for,
        )?;
        // A superseded announcement carries nothing anyone needs.
        if let Some((old, _)) = sealed
            && t.bundle_meta(&old)?.is_some_and(|m| m.changes == 0)
        {
            t.remove_bundle(&old)?;
        }
        t.set_sealed(&name, &digest, &heads_bytes)?;
        Ok(())
    }

    /// Seals a snapshot of each part of each community we own when a member lacks
    /// changes (by the heads it announced) whose bundles are no longer stored: forgotten
    /// once delivered, so it joined later. Its custody is for those members only.
    pub(super) fn seal_snapshots(&mut self, t: &mut Txn) -> Result<(), Error> {
        let mut docs: Vec<DocId> = Vec::new();
        for c in self.communities()? {
            if c.role == Role::Owner {
                docs.extend(Part::ALL.map(|part| DocId::Community { id: c.id, part }));
            }
        }
        for id in docs {
            let name = id.to_string();
            if self.load_doc(t, id)?.doc.get_heads().is_empty() {
                continue;
            }
            let destinations = self.destinations(t, id)?;
            let mut needy = Vec::new();
            let mut uncovered: Vec<[u8; 32]> = Vec::new();
            for d in destinations {
                let known = t.peer_heads(&d.to_string(), &name)?;
                let state = self.load_doc(t, id)?;
                let have: Vec<ChangeHash> =
                    known.into_iter().map(ChangeHash).filter(|h| state.doc.get_change_by_hash(h).is_some()).collect();
                let lacking: Vec<[u8; 32]> = state.doc.get_changes(&have).iter().map(|c| c.hash().0).collect();
                let mut missing = false;
                for h in lacking {
                    let stored = match t.change_bundle(&h)? {
                        Some(b) => t.bundle_meta(&b)?.is_some(),
                        None => false,
                    };
                    if !stored {
                        missing = true;
                        if !uncovered.contains(&h) {
                            uncovered.push(h);
                        }
                    }
                }
                if missing {
                    needy.push(d);
                }
            }
            if needy.is_empty() {
                continue;
            }
            let state = self.load_doc(t, id)?;
            let heads: Vec<[u8; 32]> = state.doc.get_heads().iter().map(hash_bytes).collect();
            let all: Vec<Change> = state.doc.get_changes(&[]).into_iter().collect();
            let (encoding, changes) = crate::batch::encode_changes(&mut state.doc, &all);
            let (genesis, chain) = match id {
                DocId::Community { id: cid, .. } => {
                    let (_, inv, _) = self.membership(t, &cid)?;
                    (Some(inv.genesis), inv.chain)
                }
                DocId::Profile { .. } => (None, vec![]),
            };
            let batch = Batch { author: self.identity.signing_public(), genesis, chain, encoding, changes };
            let key = match id.key_scope() {
                None => None,
                Some(scope) => Some(self.latest_grant(t, &scope)?.ok_or_else(|| Error::Document {
                    doc: name.clone(),
                    reason: "no key held for this document".into(),
                })?),
            };
            let header = Header {
                kind: Kind::Snapshot,
                doc: name.clone(),
                epoch: key.as_ref().map_or(0, |g| g.epoch),
                heads,
                encrypted: !id.is_public(),
            };
            let (header_bytes, body) =
                crate::batch::seal(&self.identity, &header, &batch, key.as_ref().map(|g| &g.key));
            self.store_own_bundle(
                t,
                &id.endpoint(),
                &header_bytes,
                &body,
                name,
                BundleState::Applied,
                &uncovered,
                needy,
            )?;
        }
        Ok(())
    }

    /// Turns queued custody answers into one signed signal bundle per custodian.
    pub(super) fn seal_signals(&mut self, t: &mut Txn) -> Result<(), Error> {
        let outbox = t.custody_outbox()?;
        if outbox.is_empty() {
            return Ok(());
        }
        let mut by: std::collections::BTreeMap<[u8; 20], Vec<(Disposition, BundleId)>> = Default::default();
        for (custodian, code, seq) in outbox {
            let Some(d) = Disposition::from_code(code) else { continue };
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
                let now = (self.clock)();
                let seq = self.next_sequence(t)?;
                let destination = NodeId(custodian).endpoint();
                let bytes = bundle::build_admin_record(
                    &self.node_id().endpoint(),
                    &destination,
                    now,
                    seq,
                    self.lifetime,
                    &record,
                )
                .map_err(|e| Error::Invalid(e.to_string()))?;
                let digest = crypto::derive(CONTEXT_BUNDLE_DIGEST, &[&bytes]);
                let meta = BundleMeta {
                    state: BundleState::Signal,
                    doc: "custody".into(),
                    destination,
                    expires_unix_ms: now.saturating_add(self.lifetime.as_millis() as u64),
                    changes: 0,
                    bytes: bytes.len() as u32,
                };
                t.put_bundle(&digest, &bytes, &meta)?;
            }
        }
        t.clear_custody_outbox()?;
        Ok(())
    }

    /// Renews our bundles still waiting for destinations that are about to expire: the
    /// same signed payload in a new primary block (new creation time, sequence number and
    /// lifetime). Readers take identity from the signature, so the renewed bundle is as
    /// good as the old; a destination that had the old one answers for the new one too.
    pub(super) fn renew_custody(&mut self, t: &mut Txn) -> Result<(), Error> {
        let now = (self.clock)();
        let me = self.node_id();
        for (seq, stored) in t.custody_records()? {
            let Some((digest, record)) = split_custody(me, &stored) else { continue };
            if !record.needs_renewal(now) {
                continue;
            }
            t.remove_custody(seq)?;
            let (Some(bytes), Some(meta)) = (t.bundle(&digest)?, t.bundle_meta(&digest)?) else { continue };
            // Parsed as of just before its expiry: it may already have expired.
            let Ok(info) = bundle::parse(&bytes, meta.expires_unix_ms.saturating_sub(1)) else { continue };
            if info.admin_record {
                continue;
            }
            let payload = &bytes[info.payload.clone()];
            let new_seq = self.next_sequence(t)?;
            let renewed = bundle::build(&info.source, &info.destination, now, new_seq, self.lifetime, payload)
                .map_err(|e| Error::Invalid(e.to_string()))?;
            let new_digest = crypto::derive(CONTEXT_BUNDLE_DIGEST, &[&renewed]);
            let expires = now.saturating_add(self.lifetime.as_millis() as u64);
            let new_meta = BundleMeta { expires_unix_ms: expires, bytes: renewed.len() as u32, ..meta.clone() };
            t.put_bundle(&new_digest, &renewed, &new_meta)?;
            t.put_bundle_id(&me.0, new_seq, &new_digest)?;
            // The change index points at the renewed bundle from now on.
            if let Ok(env) = envelope::decode_envelope(payload)
                && matches!(env.header.kind, Kind::Batch | Kind::Snapshot)
                && let Some(doc) = DocId::parse(&env.header.doc)
            {
                let key = match doc.key_scope() {
                    Some(scope) => self.grant_of(t, &scope, env.header.epoch)?.map(|g| g.key),
                    None => None,
                };
                if let Ok((_, changes)) = open_and_decode(&env, key.as_ref()) {
                    let hashes: Vec<[u8; 32]> = changes.iter().map(|c| c.hash().0).collect();
                    t.index_changes(&new_digest, &hashes)?;
                }
            }
            if let Some((latest, heads)) = t.sealed(&meta.doc)?
                && latest == digest
            {
                t.set_sealed(&meta.doc, &new_digest, &heads)?;
            }
            t.remove_bundle(&digest)?;
            let id = BundleId { source: me, seq: new_seq };
            let fresh = Record { id, expires_ms: expires, last_spray_ms: now, ..record };
            t.put_custody(new_seq, &[&new_digest[..], &fresh.to_bytes()].concat())?;
        }
        Ok(())
    }

    /// Drops expired bundles that hold nothing a document needs: signals, notices,
    /// carried and unreadable bundles, heads announcements. (An expired bundle can no
    /// longer be imported anywhere, nor opened here.)
    pub(super) fn purge_expired(&mut self, t: &mut Txn) -> Result<(), Error> {
        let now = (self.clock)();
        for (digest, m) in t.all_bundle_meta()? {
            let dead = match m.state {
                BundleState::Signal | BundleState::Consumed | BundleState::Carried | BundleState::WaitingKey => true,
                BundleState::Applied => m.changes == 0,
                BundleState::Grant | BundleState::Invite => false,
            };
            if dead && m.expires_unix_ms <= now {
                t.remove_bundle(&digest)?;
            }
        }
        Ok(())
    }
}
