//! Merging verified batches into documents: one `apply_changes` per document, and what
//! a batch tells about its sender.

use super::import::{Import, Taken, Touched};
use super::*;

impl Node {
    /// Merges verified batches, one `apply_changes` call per document, and records the
    /// bundles, their changes, and what their senders have.
    pub(super) fn merge_batches(&mut self, imp: &mut Import, batches: Vec<Taken<'_>>) -> Result<(), Error> {
        let mut by_doc: HashMap<DocId, Vec<Taken<'_>>> = HashMap::new();
        for b in batches {
            by_doc.entry(b.verified.doc).or_default().push(b);
        }
        let mut docs: Vec<_> = by_doc.into_iter().collect();
        // Authority logs first: a rule judged again against the log sees what this
        // import brought to it.
        docs.sort_by_key(|(id, _)| (!matches!(id, DocId::Community { part: Part::AUTHORITY, .. }), *id));
        let me = self.node_id();
        for (id, items) in docs {
            let items = self.judge_again(imp, items)?;
            if items.is_empty() {
                continue;
            }
            let state = self.load_doc(&imp.t, id)?;
            let before: Vec<[u8; 32]> = state.doc.get_heads().iter().map(|h| h.0).collect();
            // The changes new to us, by position in each batch (copied only to apply them:
            // a big change costs its size a few times over, not once per step).
            let mut fresh: Vec<Vec<usize>> = Vec::with_capacity(items.len());
            let mut seen = HashSet::new();
            for item in &items {
                let new: Vec<usize> = (0..item.verified.changes.len())
                    .filter(|&k| {
                        let h = item.verified.changes[k].hash();
                        seen.insert(h) && state.doc.get_change_by_hash(&h).is_none()
                    })
                    .collect();
                fresh.push(new);
            }
            let refused = if fresh.iter().all(Vec::is_empty) {
                vec![None; items.len()]
            } else {
                let authors = items.iter().zip(&fresh).filter(|(_, f)| !f.is_empty()).map(|(i, _)| i.verified.author);
                imp.touched.entry(id).or_insert_with(|| Touched { before, by: BTreeSet::new() }).by.extend(authors);
                let batches: Vec<&[Change]> = items.iter().map(|i| i.verified.changes.as_slice()).collect();
                self.apply_all(&imp.t, id, &batches, &fresh)?
            };
            let name = id.to_string();
            let mut learned: HashMap<NodeId, Vec<[u8; 32]>> = HashMap::new();
            for ((item, new), refused) in items.into_iter().zip(fresh).zip(refused) {
                let Taken { index, digest, info, payload, verified: v, bytes } = item;
                if let Some(reason) = refused {
                    let r = Rejection::Changes(reason);
                    imp.t.set_refused(&digest, info.expires_unix_ms())?;
                    imp.report.outcomes[index] = Outcome::Rejected(r);
                    continue;
                }
                let n = new.len();
                let state = self.docs.get_mut(&id).expect("loaded above");
                let missing: Vec<&Change> =
                    v.changes.iter().filter(|c| state.doc.get_change_by_hash(&c.hash()).is_none()).collect();
                let waiting = missing.len();
                if !missing.is_empty() {
                    let raw: Vec<&[u8]> = missing.iter().map(|c| c.raw_bytes()).collect();
                    imp.t.put_pending(&name, &digest, &envelope::encode_raw_changes(&raw))?;
                }
                let hashes: Vec<[u8; 32]> = v.changes.iter().map(|c| c.hash().0).collect();
                let bundle_id = BundleId { source: v.author, seq: v.seq };
                let meta = BundleMeta {
                    state: BundleState::Applied,
                    author: v.author,
                    seq: v.seq,
                    verified: true,
                    payload,
                    doc: name.clone(),
                    destination: info.destination.clone(),
                    expires_unix_ms: info.expires_unix_ms(),
                    changes: hashes.len() as u32,
                    bytes: bytes.len() as u32,
                    kind: v.kind.into(),
                    payload_at: info.payload_at(),
                    opener: info.opener,
                    release: info.release,
                };
                imp.t.put_bundle(&digest, bytes, &meta)?;
                imp.t.put_bundle_id(&v.author.0, v.seq, &digest)?;
                imp.t.index_changes(&bundle_id, &hashes)?;
                // Durable in this transaction: our custody answer, by the signed custody
                // id, goes out with it. This node reads only what it is a destination of.
                if !hashes.is_empty() && v.author != me {
                    imp.t.put_custody_answer(&v.signer, Disposition::Accepted.code(), v.seq)?;
                }
                // A heads announcement supersedes the same sender's older one for the
                // document (its heads are learned either way).
                if hashes.is_empty() && v.author != me {
                    let key = format!("{}|{name}", v.author);
                    // Superseded ones are remembered as known, so a stick does not bring
                    // them back.
                    match imp.t.latest_announcement(&key)? {
                        Some((seq, _)) if seq > v.seq => self.forget(&mut imp.t, &digest)?,
                        previous => {
                            if let Some((_, old)) = previous {
                                self.forget(&mut imp.t, &old)?;
                            }
                            imp.t.set_latest_announcement(&key, v.seq, &digest)?;
                            // Passed on to strangers as carrier copies too, so a member's heads
                            // reach authors across pure relays (`spec/routing.md`).
                            imp.t.set_carrier_copies(&digest, Caravan::default().initial_copies())?;
                        }
                    }
                }
                learned.entry(v.author).or_default().extend(v.heads);
                imp.report.outcomes[index] = if waiting > 0 {
                    Outcome::Waiting(WaitReason::Dependencies { changes: waiting })
                } else {
                    Outcome::New { doc: Some(id), changes: n }
                };
            }
            for (node, heads) in learned {
                self.learn_heads(&mut imp.t, &node, &name, &heads)?;
            }
            // Pending sets whose changes all arrived are done.
            let state = self.docs.get_mut(&id).expect("loaded above");
            for (key, raw) in imp.t.pending(&name)? {
                let done = decode_raw(&raw)
                    .map(|cs| cs.iter().all(|c| state.doc.get_change_by_hash(&c.hash()).is_some()))
                    .unwrap_or(true);
                if done {
                    imp.t.remove_pending(&key)?;
                }
            }
            // A community's authority log moved: roles for the rest of this import, and
            // any key a rekey holds for us.
            if let DocId::Community { id: cid, part: Part::AUTHORITY } = id
                && self.joined(&imp.t, &cid).is_ok()
            {
                imp.fresh_ctx = None;
                self.take_epoch_keys(imp, &cid)?;
                self.after_log_change(imp, &cid)?;
            }
        }
        Ok(())
    }

    /// Applies each batch's new changes to a loaded document: all in one call, or, if
    /// Automerge refuses that call (it then changes nothing), batch by batch, refusing
    /// the ones it refuses (an author reusing a sequence number for different changes).
    /// A panic inside Automerge refuses the batch that caused it; the document is reloaded
    /// from the store, as the panic may have left it half changed.
    fn apply_all(
        &mut self,
        r: &impl Reads,
        id: DocId,
        batches: &[&[Change]],
        fresh: &[Vec<usize>],
    ) -> Result<Vec<Option<String>>, Error> {
        let mut refused: Vec<Option<String>> = vec![None; fresh.len()];
        let of = |k: usize| -> Vec<Change> { fresh[k].iter().map(|&i| batches[k][i].clone()).collect() };
        let all: Vec<Change> = (0..fresh.len()).flat_map(of).collect();
        let state = self.load_doc(r, id)?;
        match std::panic::catch_unwind(AssertUnwindSafe(|| state.doc.apply_changes(all))) {
            Ok(Ok(())) => return Ok(refused),
            Ok(Err(_)) => {}
            Err(_) => {
                self.docs.remove(&id);
            }
        }
        for k in 0..fresh.len() {
            let state = self.load_doc(r, id)?;
            match std::panic::catch_unwind(AssertUnwindSafe(|| state.doc.apply_changes(of(k)))) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => refused[k] = Some(e.to_string()),
                Err(_) => {
                    self.docs.remove(&id);
                    refused[k] = Some("the change library failed on these changes".into());
                    // Batches applied before this one are lost with the reload: apply again.
                    let state = self.load_doc(r, id)?;
                    for (j, r) in refused.iter().enumerate().take(k) {
                        if r.is_none() {
                            let _ = std::panic::catch_unwind(AssertUnwindSafe(|| state.doc.apply_changes(of(j))));
                        }
                    }
                }
            }
        }
        Ok(refused)
    }

    pub(super) fn learn_heads(
        &mut self,
        t: &mut Txn,
        node: &NodeId,
        doc: &str,
        heads: &[[u8; 32]],
    ) -> Result<(), Error> {
        if *node == self.node_id() {
            return Ok(());
        }
        let node = node.to_string();
        let mut known = t.peer_heads(&node, doc)?;
        for h in heads {
            if !known.contains(h) {
                known.push(*h);
            }
        }
        if known.len() > PEER_HEADS_COUNT_MAX {
            known.drain(..known.len() - PEER_HEADS_COUNT_MAX);
        }
        t.set_peer_heads(&node, doc, &known)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{Kit, community, import, new_since};
    use super::*;

    /// Changes whose dependencies have not arrived wait (stored, not applied) and are
    /// applied, in causal order, when the dependencies come.
    #[test]
    fn changes_wait_for_their_dependencies_then_apply() {
        let kit = Kit::new();
        let (mut a, mut b) = (kit.node("A"), kit.node("B"));
        let cid = community(&mut a, &mut b, Role::Editor);
        let mut seen: HashSet<[u8; 32]> = a.held_digests().unwrap().into_iter().collect();
        a.put_wiki_page(&cid, "well", "dry").unwrap();
        let first = new_since(&mut a, &mut seen);
        a.put_wiki_page(&cid, "well", "full again").unwrap();
        let second = new_since(&mut a, &mut seen);
        let r = import(&mut b, &second);
        assert_eq!(r.new_changes(), 0, "applied without its dependency: {r:?}");
        assert_eq!(b.wiki_page(&cid, "well").unwrap(), None);
        import(&mut b, &first);
        assert_eq!(b.wiki_page(&cid, "well").unwrap().as_deref(), Some("full again"));
        // Both nodes agree on the document's heads.
        let id = DocId::Community { id: cid, part: Part::WIKI };
        assert_eq!(a.heads(id).unwrap(), b.heads(id).unwrap());
    }
}
