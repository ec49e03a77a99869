//! The document cache: loading, persisting and editing documents; reading carried ones.

use super::*;

impl Node {
    pub(super) fn load_doc(&mut self, r: &impl Reads, id: DocId) -> Result<&mut DocState, Error> {
        if !self.docs.contains_key(&id) {
            let name = id.to_string();
            let derr = |e: automerge::AutomergeError| Error::Document { doc: name.clone(), reason: e.to_string() };
            let chunks = r.doc_chunks(&name)?;
            let mut doc = AutoCommit::new();
            for (_, bytes) in &chunks {
                doc.load_incremental(bytes).map_err(derr)?;
            }
            let saved_heads = doc.get_heads();
            // Changes that were waiting for dependencies wait again inside Automerge.
            for (_, raw) in r.pending(&name)? {
                let changes = decode_raw(&raw).map_err(|e| Error::Document { doc: name.clone(), reason: e })?;
                doc.apply_changes(changes).map_err(derr)?;
            }
            doc.set_actor(self.actor());
            let next_chunk = chunks.last().map_or(0, |(s, _)| s + 1);
            let weight = chunks.iter().map(|(_, b)| b.len() as u64).sum();
            let state = DocState { doc, saved_heads, next_chunk, chunks: chunks.len() as u64, weight, used: 0 };
            self.docs.insert(id, state);
        }
        self.doc_uses += 1;
        let state = self.docs.get_mut(&id).expect("inserted above");
        state.used = self.doc_uses;
        Ok(state)
    }

    /// Keeps the document cache within `limits::DOC_CACHE_BYTES` of stored document bytes, by
    /// dropping the least recently used documents. Called only after a commit, when every
    /// cached document equals what the store holds (a dropped one reloads from it).
    pub(super) fn trim_docs(&mut self) {
        let mut total: u64 = self.docs.values().map(|s| s.weight).sum();
        if total <= self.doc_cache_bytes {
            return;
        }
        let mut by_age: Vec<(u64, DocId, u64)> = self.docs.iter().map(|(id, s)| (s.used, *id, s.weight)).collect();
        by_age.sort();
        for (_, id, weight) in by_age {
            if total <= self.doc_cache_bytes {
                break;
            }
            self.docs.remove(&id);
            total -= weight;
        }
    }

    /// Writes what changed in `id` since its last persist into the transaction.
    pub(super) fn persist_doc(&mut self, t: &mut Txn, id: DocId) -> Result<(), Error> {
        let name = id.to_string();
        let Some(state) = self.docs.get_mut(&id) else { return Ok(()) };
        let heads = state.doc.get_heads();
        if heads == state.saved_heads {
            return Ok(());
        }
        if state.chunks >= DOC_CHUNKS_COUNT_MAX {
            let saved = state.doc.save();
            t.compact_doc(&name, &saved, state.next_chunk)?;
            state.chunks = 1;
            state.weight = saved.len() as u64;
        } else {
            let bytes = state.doc.save_after(&state.saved_heads);
            t.put_doc_chunk(&name, state.next_chunk, &bytes)?;
            state.chunks += 1;
            state.weight += bytes.len() as u64;
        }
        state.next_chunk += 1;
        t.set_doc_heads(&name, &heads.iter().map(hash_bytes).collect::<Vec<_>>())?;
        state.saved_heads = heads;
        Ok(())
    }

    pub(super) fn heads_of(&mut self, id: DocId) -> Result<Vec<[u8; 32]>, Error> {
        let view = self.store.read()?;
        Ok(self.load_doc(&view, id)?.doc.get_heads().iter().map(hash_bytes).collect())
    }

    /// A document saved in Automerge's own format (empty document if we hold none of
    /// it), for apps that read it with Automerge directly.
    pub fn document_bytes(&mut self, id: DocId) -> Result<Vec<u8>, Error> {
        let view = self.store.read()?;
        Ok(self.load_doc(&view, id)?.doc.save())
    }

    /// Current heads of a document (empty if we hold none of it).
    pub fn heads(&mut self, id: DocId) -> Result<Vec<[u8; 32]>, Error> {
        self.heads_of(id)
    }

    /// A public document this node carries for others but does not keep (a stranger's
    /// profile, the public part of a community it is not in), read on demand from the
    /// carried bundles, whose signatures and authors were checked when they arrived.
    /// `None` for documents this node keeps itself.
    pub(super) fn carried_doc(&self, r: &impl Reads, id: DocId) -> Result<Option<AutoCommit>, Error> {
        let followed = super::follow::follow_set(r)?;
        let kept = match id {
            DocId::Profile { owner, audience } => {
                audience != Audience::Public
                    || owner == self.node_id()
                    || followed.nodes.contains(&owner)
                    || self.contact_card(r, &owner)?.is_some()
                    || r.grants()?.iter().any(|(k, _)| k.starts_with(&format!("p/{owner}/")))
            }
            DocId::Community { id: cid, .. } => {
                !id.is_public() || followed.communities.contains(&cid) || self.membership(r, &cid).is_ok()
            }
        };
        // A document merged here before (a source followed once, a link that ended) is
        // read as stored.
        if kept || r.doc_heads(&id.to_string())?.is_some() {
            return Ok(None);
        }
        let name = id.to_string();
        let mut doc = AutoCommit::new();
        let now = (self.clock)();
        // Carried unopened until now (we did not know whose they were): those under this
        // owner's public route are opened and checked as on arrival.
        let route = crate::cloak::Route::public(&super::cloaking::public_owner(id));
        let today = crate::cloak::day_of(now);
        let back = self.lifetime_cap_ms.div_ceil(crate::cloak::DAY_MS) as u32 + 1;
        let tags: HashSet<[u8; 16]> = (today.saturating_sub(back)..=today + 1).map(|d| route.tag(d)).collect();
        let mut ctx = None;
        for (digest, meta) in r.all_bundle_meta()? {
            let unopened = meta.opener.is_none()
                && meta.state == BundleState::Carried
                && crate::cloak::tag_of(&meta.destination).is_some_and(|t| tags.contains(&t));
            if !unopened && (meta.state != BundleState::Carried || !meta.verified || meta.doc != name) {
                continue;
            }
            if meta.expires_unix_ms <= now {
                continue;
            }
            let Some(bytes) = r.bundle(&digest)? else { continue };
            if unopened && ctx.is_none() {
                ctx = Some(self.ctx(r, now)?);
            }
            let changes = std::panic::catch_unwind(AssertUnwindSafe(|| -> Option<Vec<Change>> {
                let inner = if unopened {
                    let inner = crate::cloak::read_untimed(&bytes).ok()?.open(&route).ok()?;
                    let ctx = ctx.as_ref()?;
                    let mut certs = Vec::new();
                    match super::preopen::check_inner(&inner, ctx, &mut certs) {
                        Ok(super::preopen::Pre::Carry { header, verified: true, .. }) if header.doc == name => inner,
                        _ => return None,
                    }
                } else {
                    meta.inner_of(&bytes)?
                };
                let info = bundle::parse_untimed(&inner).ok()?;
                let env = envelope::decode_envelope(inner.get(info.payload)?).ok()?;
                let batch = crate::batch::open(env.header_bytes, env.body, None).ok()?;
                let changes = crate::batch::decode_changes(&batch).ok()?;
                // Only the signer's own changes (checked on arrival for documents we keep).
                let actor = ActorId::from(batch.author.to_vec());
                changes.iter().all(|c| *c.actor_id() == actor).then_some(changes)
            }));
            if let Ok(Some(changes)) = changes {
                let _ = std::panic::catch_unwind(AssertUnwindSafe(|| doc.apply_changes(changes)));
            }
        }
        Ok(Some(doc))
    }

    /// Runs a local edit on a document and commits it durably.
    pub(super) fn edit<F>(&mut self, id: DocId, f: F) -> Result<(), Error>
    where
        F: FnOnce(&mut AutoCommit, &NodeId, u64) -> Result<(), automerge::AutomergeError>,
    {
        let mut t = self.write_txn()?;
        let event = self.edit_in(&mut t, id, f)?;
        self.commit_edits(t, &[id], vec![event])
    }

    /// Commits a transaction holding edits of `ids` ([`Node::edit_in`]), then emits their
    /// events; if the commit fails, the edited documents leave the cache (it would hold
    /// what the store does not).
    pub(super) fn commit_edits(&mut self, t: Txn, ids: &[DocId], events: Vec<Event>) -> Result<(), Error> {
        if let Err(e) = t.commit() {
            for id in ids {
                self.docs.remove(id);
            }
            return Err(e.into());
        }
        self.trim_docs();
        self.emit(events);
        Ok(())
    }

    /// [`Node::edit`] inside the caller's transaction (one transaction per user
    /// operation): returns the event to emit once it commits. If the caller does not
    /// commit, it must drop the document from the cache (`self.docs.remove`).
    pub(super) fn edit_in<F>(&mut self, t: &mut Txn, id: DocId, f: F) -> Result<Event, Error>
    where
        F: FnOnce(&mut AutoCommit, &NodeId, u64) -> Result<(), automerge::AutomergeError>,
    {
        let me = self.node_id();
        let now = (self.clock)();
        let state = self.load_doc(&*t, id)?;
        let before = state.doc.get_heads();
        let edited = f(&mut state.doc, &me, now);
        // Stamped (seconds, the author's clock): a document's history says when.
        state.doc.commit_with(automerge::transaction::CommitOptions::default().with_time((now / 1000) as i64));
        // No change of ours may be bigger than what every other node accepts.
        let actor = self.actor();
        let state = self.docs.get_mut(&id).expect("loaded above");
        let biggest = state
            .doc
            .get_changes(&before)
            .iter()
            .filter(|c| *c.actor_id() == actor)
            .map(|c| c.len() as u64)
            .max()
            .unwrap_or(0);
        // Our own changes keep the kind's rule, as every other node will judge them.
        if edited.is_ok()
            && let Some(broken) = self.breaks_rule(&*t, id, &before)?
        {
            self.docs.remove(&id);
            return Err(broken);
        }
        let refused = match edited {
            Err(e) => Some(e.to_string()),
            Ok(()) if biggest > crate::limits::CHANGE_OPS_MAX => Some(format!(
                "this edit is {biggest} operations in one change, more than the {} other nodes accept; \
                 make it in smaller parts",
                crate::limits::CHANGE_OPS_MAX
            )),
            Ok(()) => None,
        };
        if let Some(reason) = refused {
            // Nothing of it was stored: forget it in memory too.
            self.docs.remove(&id);
            return Err(Error::Document { doc: id.to_string(), reason });
        }
        if let Err(e) = self.persist_doc(t, id) {
            self.docs.remove(&id);
            return Err(e);
        }
        let heads =
            self.docs.get_mut(&id).map(|s| s.doc.get_heads().iter().map(hash_bytes).collect()).unwrap_or_default();
        let before = before.iter().map(hash_bytes).collect();
        Ok(Event::DocChanged { doc: id, heads, before, by: vec![me] })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{Kit, carry, community, import};
    use super::*;

    /// A stranger's public profile is kept only as carried bundles (for the relay quota),
    /// yet it can be read from them; a contact's is kept as a document.
    #[test]
    fn a_strangers_public_profile_is_read_from_what_is_carried() {
        let kit = Kit::new();
        let (mut a, mut s) = (kit.node("A"), kit.node("S"));
        a.set_profile_field("about", "potter", Audience::Public).unwrap();
        import(&mut s, &a.export(Target::Everyone).unwrap());
        let about = s.profile(&a.node_id()).unwrap();
        assert!(about.iter().any(|f| f.name == "about" && f.value == "potter"), "{about:?}");
        assert!(s.relay_usage().unwrap().0 > 0, "a stranger's profile counts against the quota");
        let kept = s.store.read().unwrap().doc_ids().unwrap();
        assert!(kept.is_empty(), "a stranger's profile was kept as a document: {kept:?}");
    }

    /// Between operations the node keeps at most its cache's worth of documents loaded,
    /// least recently used dropped first; a dropped document reads back from the store.
    #[test]
    fn the_document_cache_stays_within_its_bound() {
        let kit = Kit::new();
        let (mut a, mut b) = (kit.node("A"), kit.node("B"));
        let cid = community(&mut a, &mut b, Role::Editor);
        a.doc_cache_bytes = 20_000;
        for i in 0..12 {
            a.put_wiki_page(&cid, &format!("page {i}"), &format!("{i} ").repeat(2000)).unwrap();
        }
        let held: u64 = a.docs.values().map(|s| s.weight).sum();
        assert!(held <= 20_000, "{held} bytes of documents held");
        assert!(a.docs.len() < 12, "{} documents held", a.docs.len());
        // Every page reads back, and travels.
        for i in 0..12 {
            assert_eq!(a.wiki_page(&cid, &format!("page {i}")).unwrap(), Some(format!("{i} ").repeat(2000)));
        }
        carry(&mut a, &mut b);
        assert_eq!(b.wiki_pages(&cid).unwrap().len(), 12);
    }
}
