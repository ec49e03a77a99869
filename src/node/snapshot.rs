//! Snapshots: a whole document sealed again, for members who joined after its bundles
//! were forgotten, and for followers who start late behind a budget-trimmed relay.

use super::*;

impl Node {
    /// Seals a snapshot of each part of each community we own when a member lacks
    /// changes (by the heads it announced) whose bundles are no longer stored: forgotten
    /// once delivered, so it joined later. Its custody is for those members only.
    pub(super) fn seal_snapshots(&mut self, t: &mut Txn) -> Result<(), Error> {
        let owned: HashSet<CommunityId> =
            self.communities()?.into_iter().filter(|c| c.role == Role::Owner).map(|c| c.id).collect();
        let mut docs: Vec<DocId> = t
            .doc_ids()?
            .iter()
            .filter_map(|s| DocId::parse(s))
            .filter(|d| matches!(d, DocId::Community { id, .. } if owned.contains(id)))
            .filter(|d| d.kind().is_some())
            .collect();
        docs.sort();
        for id in docs {
            let name = id.to_string();
            let stored_heads = match t.doc_heads(&name)? {
                Some(h) => h,
                None => self.load_doc(t, id)?.doc.get_heads().iter().map(hash_bytes).collect(),
            };
            if stored_heads.is_empty() {
                continue;
            }
            let destinations = self.destinations(t, id)?;
            // Members known to hold our heads lack nothing: no need to load the document.
            let mut behind = false;
            for d in &destinations {
                let known: HashSet<[u8; 32]> = t.peer_heads(&d.to_string(), &name)?.into_iter().collect();
                if !stored_heads.iter().all(|h| known.contains(h)) {
                    behind = true;
                    break;
                }
            }
            if !behind {
                continue;
            }
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
                        Some(id) => t.bundle_by_id(&id)?.is_some(),
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
            self.mint_snapshot(t, id, &name, needy, &uncovered)?;
        }
        Ok(())
    }

    /// Seals a snapshot of each public document we may snapshot (our public profile,
    /// our owned communities' public parts) once `PUBLIC_SNAPSHOT_AFTER` more bundles of
    /// it are stored: a follower who starts late, behind a relay that kept only the
    /// newest of a source within its budget, reads the whole document from it. No
    /// custody: its readers are unknown (`custody.md`).
    pub(super) fn seal_public_snapshots(&mut self, t: &mut Txn) -> Result<(), Error> {
        let me = self.node_id();
        let owned: HashSet<CommunityId> =
            self.communities()?.into_iter().filter(|c| c.role == Role::Owner && !c.removed).map(|c| c.id).collect();
        // Ours to snapshot, and moved since last looked at (an idle export reads no more
        // than their heads).
        let mut moved = Vec::new();
        for name in t.doc_ids()? {
            let Some(id) = DocId::parse(&name) else { continue };
            let ours = match id {
                DocId::Profile { owner, .. } => owner == me,
                DocId::Community { id: cid, .. } => owned.contains(&cid),
            };
            if !ours || !id.is_public() || id.kind().is_none() {
                continue;
            }
            let heads = t.doc_heads(&name)?.unwrap_or_default().concat();
            if t.meta(&format!("public-looked/{name}"))?.as_deref() != Some(heads.as_slice()) {
                moved.push((id, name, heads));
            }
        }
        if moved.is_empty() {
            return Ok(());
        }
        let mut counts: HashMap<String, u64> = HashMap::new();
        for (_, m) in t.all_bundle_meta()? {
            if m.state == BundleState::Applied && m.changes > 0 {
                *counts.entry(m.doc).or_default() += 1;
            }
        }
        for (id, name, heads) in moved {
            t.set_meta(&format!("public-looked/{name}"), &heads)?;
            let n = counts.get(&name).copied().unwrap_or(0);
            let key = format!("public-snapshot/{name}");
            let last = t.meta(&key)?.and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok()).map_or(0, u64::from_le_bytes);
            if n < last + crate::limits::PUBLIC_SNAPSHOT_AFTER {
                continue;
            }
            let all: Vec<[u8; 32]> = self.load_doc(t, id)?.doc.get_changes(&[]).iter().map(|c| c.hash().0).collect();
            let groups = self.mint_snapshot(t, id, &name, Vec::new(), &all)?;
            // Counted with the snapshot's own bundles, so the next comes after as many more.
            t.set_meta(&key, &(n + groups).to_le_bytes())?;
        }
        Ok(())
    }

    /// Seals a snapshot of document `id` (the whole document, in as many bundles as its
    /// size needs), with custody for `needy`; the changes in `uncovered` are stored in it
    /// from now on.
    fn mint_snapshot(
        &mut self,
        t: &mut Txn,
        id: DocId,
        name: &str,
        needy: Vec<NodeId>,
        uncovered: &[[u8; 32]],
    ) -> Result<u64, Error> {
        let name = name.to_string();
        let state = self.load_doc(t, id)?;
        let heads: Vec<[u8; 32]> = state.doc.get_heads().iter().map(hash_bytes).collect();
        let all: Vec<Change> = state.doc.get_changes(&[]).into_iter().collect();
        let encoded = super::seal::encoded_groups(&mut state.doc, &all);
        let (genesis, chain) = match id {
            DocId::Community { id: cid, .. } => {
                let (_, inv, _) = self.membership(t, &cid)?;
                (Some(inv.genesis), inv.chain)
            }
            DocId::Profile { .. } => (None, vec![]),
        };
        let key = self.seal_key(t, id, &name)?;
        // Like any community content, it says which authority heads it was sealed under:
        // a member who has not seen the owner's promotion yet waits for it.
        let sealer = super::seal::BatchSealer {
            identity: self.identity.clone(),
            me: self.node_id(),
            doc: name.clone(),
            key: key.clone(),
            encrypted: !id.is_public(),
            authority: self.authority_heads(t, id)?,
            genesis,
            chain,
            heads: heads.clone(),
        };
        let endpoint = id.endpoint();
        // A big document goes as several snapshot bundles, each within a batch's caps.
        let mut minted = 0;
        for (encoding, changes, hashes) in encoded {
            let seal = |seq| Ok(sealer.seal(Kind::Snapshot, encoding, changes, seq));
            let hashes: HashSet<[u8; 32]> = hashes.into_iter().collect();
            let covered: Vec<[u8; 32]> = uncovered.iter().filter(|h| hashes.contains(*h)).copied().collect();
            let mint = Mint {
                destination: &endpoint,
                to: crate::cloak::To::Group(super::cloaking::doc_route(id, key.as_ref())),
                doc: name.clone(),
                state: BundleState::Applied,
                kind: PayloadKind::Snapshot,
                heads: &heads,
            };
            let (_, bundle) = self.mint(t, mint, seal, &covered, needy.clone())?;
            // From now on the snapshot is where these changes are stored: sealing again
            // before it is delivered finds them covered and seals nothing.
            t.point_changes(&bundle, &covered)?;
            minted += 1;
        }
        Ok(minted)
    }
}
