//! Import: every bundle from any link, checked cheapest first, then merged in one transaction.

use super::*;

impl Node {
    /// Imports one bundle. See [`Node::import_many`].
    pub fn import(&mut self, bytes: &[u8]) -> Result<ImportReport, Error> {
        self.import_many([bytes])
    }

    /// Imports bundles in one durable transaction: each is checked (CRC, lifetime,
    /// envelope, decryption, signature, membership, actor), then merged. A refused bundle
    /// changes nothing; the outcome of each is in the report. `Err` means local storage
    /// failed, and then nothing of this call was stored.
    pub fn import_many<'a>(&mut self, bundles: impl IntoIterator<Item = &'a [u8]>) -> Result<ImportReport, Error> {
        self.import_in_chunks(bundles.into_iter().collect(), IMPORT_CHUNK_COUNT_MAX)
    }

    /// [`Node::import_many`], checking at most `chunk_max` bundles at a time.
    pub(super) fn import_in_chunks<'a>(
        &mut self,
        bundles: Vec<&'a [u8]>,
        chunk_max: usize,
    ) -> Result<ImportReport, Error> {
        let now = (self.clock)();
        // The relay ledger survives between imports (rebuilding it reads every carried
        // bundle); any other write, or a failed import, drops it.
        let mut t = self.store.write()?;
        let mut report = ImportReport::default();
        let mut touched = BTreeSet::new();
        let mut result = Ok(());
        let mut seen = HashSet::new();
        let chunks: Vec<&[&[u8]]> = bundles.chunks(chunk_max.max(1)).collect();
        std::thread::scope(|s| {
            // Decoding, decryption and signature checks need no store access: they run
            // on all cores, for the next chunk while this one is merged. The next chunk
            // is opened with the keys held before this one is merged; a key this chunk
            // brings is found by the merge itself.
            let mut next: Option<std::thread::ScopedJoinHandle<'_, Vec<Preopened<'a>>>> = None;
            let mut offset = 0;
            for (c, chunk) in chunks.iter().enumerate() {
                let pre = match next.take() {
                    Some(h) => h.join().expect("decoding does not panic"),
                    None => match self.key_map(&t) {
                        Ok(keys) => preopen_all(chunk, now, &keys),
                        Err(e) => {
                            result = Err(e);
                            break;
                        }
                    },
                };
                if let Some(&following) = chunks.get(c + 1) {
                    match self.key_map(&t) {
                        Ok(keys) => next = Some(s.spawn(move || preopen_all(following, now, &keys))),
                        Err(e) => {
                            result = Err(e);
                            break;
                        }
                    }
                }
                let mut batches = Vec::new();
                for (j, (bytes, pre)) in chunk.iter().zip(pre).enumerate() {
                    let i = offset + j;
                    report.outcomes.push(Outcome::Duplicate);
                    if !seen.insert(pre.digest) {
                        continue;
                    }
                    match self.take_in(&mut t, bytes, pre, now, &mut report, &mut touched) {
                        Ok(Ok(Some((digest, info, verified)))) => {
                            batches.push((i, digest, info, verified, bytes.to_vec()))
                        }
                        Ok(Ok(None)) => {}
                        Ok(Err(outcome)) => report.outcomes[i] = outcome,
                        Err(e) => {
                            result = Err(e);
                            break;
                        }
                    }
                }
                if result.is_ok() {
                    result = self.merge_batches(&mut t, batches, &mut report, &mut touched);
                }
                if result.is_err() {
                    break;
                }
                offset += chunk.len();
            }
        });
        self.finish(t, result, touched)?;
        Ok(report)
    }

    /// Every key we hold, by `scope#epoch`.
    pub(super) fn key_map(&self, r: &impl Reads) -> Result<HashMap<String, [u8; 32]>, Error> {
        Ok(r.grants()?.into_iter().filter_map(|(k, g)| Grant::decode(&g).ok().map(|g| (k, g.key))).collect())
    }

    /// Persists touched documents and commits; on any failure forgets in-memory
    /// documents so they reload from the last committed state.
    pub(super) fn finish(
        &mut self,
        mut t: Txn,
        result: Result<(), Error>,
        touched: BTreeSet<DocId>,
    ) -> Result<(), Error> {
        let result = result.and_then(|_| {
            for id in &touched {
                self.persist_doc(&mut t, *id)?;
            }
            Ok(t.commit()?)
        });
        let mut events = std::mem::take(&mut self.queued);
        if let Err(e) = result {
            self.docs.clear();
            self.ledger = None;
            return Err(e);
        }
        for id in touched {
            let heads = self.heads_of(id)?;
            events.push(Event::DocChanged { doc: id, heads });
        }
        self.emit(events);
        Ok(())
    }

    /// Checks one bundle and stores it if it is not a change batch to merge. Returns the
    /// verified batch to merge, or the final outcome.
    #[allow(clippy::type_complexity)]
    pub(super) fn take_in(
        &mut self,
        t: &mut Txn,
        bytes: &[u8],
        pre: Preopened,
        now: u64,
        report: &mut ImportReport,
        touched: &mut BTreeSet<DocId>,
    ) -> Result<Result<Option<([u8; 32], BundleInfo, Verified)>, Outcome>, Error> {
        let info = match pre.info {
            Ok(i) => i,
            Err(e) => return Ok(Err(Outcome::Rejected(e.into()))),
        };
        let digest = pre.digest;
        if t.bundle_meta(&digest)?.is_some() || t.forgotten(&digest)? {
            return Ok(Err(Outcome::Duplicate));
        }
        if info.admin_record {
            return self.take_signal(t, bytes, digest, &info).map(Err);
        }
        let env = match pre.envelope.expect("parsed bundles have a decoded envelope") {
            Ok(e) => e,
            Err(e) => return Ok(Err(Outcome::Rejected(e.into()))),
        };
        match env.header.kind {
            Kind::Grant => self.take_grant(t, bytes, digest, &info, &env, now, report, touched).map(Err),
            Kind::Batch | Kind::Snapshot => match self.open_batch(t, &info, &env, pre.batch)? {
                Err(r) => Ok(Err(Outcome::Rejected(r))),
                Ok(Opened::NeedKey(scope)) => {
                    if self.relayed_doc(t, &env.header.doc)?
                        && let Err(o) = self.carry(t, digest, &info, bytes.len())?
                    {
                        return Ok(Err(o));
                    }
                    let meta = meta_for(&info, BundleState::WaitingKey, env.header.doc.clone(), 0, bytes.len());
                    t.put_bundle(&digest, bytes, &meta)?;
                    t.put_waiting_key(&scope, &digest)?;
                    Ok(Err(Outcome::Waiting(WaitReason::Key { scope })))
                }
                Ok(Opened::Batch(v)) => Ok(Ok(Some((digest, info, v)))),
            },
        }
    }

    /// Decrypts and verifies a batch bundle, or takes the result of doing so from the
    /// parallel pre-pass. Rejections are `Ok(Err(_))`.
    pub(super) fn open_batch(
        &mut self,
        r: &impl Reads,
        info: &BundleInfo,
        env: &Envelope,
        pre: Option<Result<OpenBatch, Rejection>>,
    ) -> Result<Result<Opened, Rejection>, Error> {
        let h = &env.header;
        let Some(doc) = DocId::parse(&h.doc) else { return Ok(Err(Rejection::Document(h.doc.clone()))) };
        let Some(source) = source_node(&info.source) else { return Ok(Err(Rejection::Source(info.source.clone()))) };
        if info.destination != doc.endpoint() {
            return Ok(Err(Rejection::Destination { found: info.destination.clone(), expected: doc.endpoint() }));
        }
        if h.encrypted == doc.is_public() {
            return Ok(Err(Rejection::Protection(h.doc.clone())));
        }
        let opened = match pre {
            Some(p) => p,
            None => {
                let key = match doc.key_scope() {
                    None => None,
                    Some(scope) => match self.grant_of(r, &scope, h.epoch)? {
                        None => return Ok(Ok(Opened::NeedKey(format!("{scope}#{}", h.epoch)))),
                        Some(g) => Some(g.key),
                    },
                };
                open_and_decode(env, key.as_ref())
            }
        };
        let (batch, changes) = match opened {
            Ok(b) => b,
            Err(r) => return Ok(Err(r)),
        };
        Ok(self.verify_batch(doc, source, h, batch, changes).map(Opened::Batch))
    }

    /// Checks what a valid signature does not prove: that the signer is the source node,
    /// the actor of every change, and allowed to write this document.
    pub(super) fn verify_batch(
        &mut self,
        doc: DocId,
        source: NodeId,
        header: &Header,
        batch: Batch,
        changes: Vec<Change>,
    ) -> Result<Verified, Rejection> {
        if NodeId::from_signing_public(&batch.author) != source {
            return Err(Rejection::AuthorNotSource(source.to_string()));
        }
        // A community snapshot carries every member's changes, vouched for by an owner; all
        // other batches carry only their signer's own changes.
        let snapshot = header.kind == Kind::Snapshot;
        let actor = ActorId::from(batch.author.to_vec());
        if !(snapshot && matches!(doc, DocId::Community { .. }))
            && let Some(c) = changes.iter().find(|c| *c.actor_id() != actor)
        {
            return Err(Rejection::WrongActor { actor: c.actor_id().to_hex_string() });
        }
        match doc {
            DocId::Profile { owner, .. } => {
                if !changes.is_empty() && owner != source {
                    return Err(Rejection::NotProfileOwner(owner.to_string()));
                }
            }
            DocId::Community { id, part } => {
                let genesis = batch.genesis.ok_or(Rejection::NotMember { community: id, reason: "no genesis" })?;
                let role = self
                    .certs
                    .verify(&id, &genesis, &batch.chain, &batch.author)
                    .map_err(|reason| Rejection::NotMember { community: id, reason })?;
                if !changes.is_empty() && !part.writable_by(role) {
                    return Err(Rejection::Permission { role, part });
                }
                if snapshot && role != Role::Owner {
                    return Err(Rejection::SnapshotNotOwner(role));
                }
            }
        }
        Ok(Verified { doc, author_node: source, heads: header.heads.clone(), changes })
    }

    /// Merges verified batches, one `apply_changes` call per document, and records the
    /// bundles, their changes, and what their senders have.
    pub(super) fn merge_batches(
        &mut self,
        t: &mut Txn,
        batches: Vec<Taken>,
        report: &mut ImportReport,
        touched: &mut BTreeSet<DocId>,
    ) -> Result<(), Error> {
        let mut by_doc: HashMap<DocId, Vec<Taken>> = HashMap::new();
        for b in batches {
            by_doc.entry(b.3.doc).or_default().push(b);
        }
        let mut docs: Vec<_> = by_doc.into_iter().collect();
        docs.sort_by_key(|(id, _)| *id);
        for (id, items) in docs {
            let state = self.load_doc(t, id)?;
            let mut fresh: Vec<Vec<Change>> = Vec::with_capacity(items.len());
            let mut seen = HashSet::new();
            for (_, _, _, v, _) in &items {
                let new: Vec<Change> = v
                    .changes
                    .iter()
                    .filter(|c| seen.insert(c.hash()) && state.doc.get_change_by_hash(&c.hash()).is_none())
                    .cloned()
                    .collect();
                fresh.push(new);
            }
            let mut refused: Vec<Option<String>> = vec![None; items.len()];
            let all: Vec<Change> = fresh.iter().flatten().cloned().collect();
            if !all.is_empty() {
                // Automerge refuses a call whole (the document unchanged) if any change in it
                // is bad, e.g. an author reusing a sequence number for different changes. One
                // such batch must not sink the others: then apply batch by batch.
                if state.doc.apply_changes(all).is_err() {
                    for (k, new) in fresh.iter().enumerate() {
                        if let Err(e) = state.doc.apply_changes(new.clone()) {
                            refused[k] = Some(e.to_string());
                        }
                    }
                }
                touched.insert(id);
            }
            let name = id.to_string();
            let destination = match id {
                DocId::Community { id: cid, .. } => self.membership(t, &cid).is_ok(),
                DocId::Profile { owner, .. } => self.contact_card(t, &owner)?.is_some(),
            };
            let mut learned: HashMap<NodeId, Vec<[u8; 32]>> = HashMap::new();
            for (((i, digest, info, v, bytes), new), refused) in items.into_iter().zip(fresh).zip(refused) {
                if let Some(reason) = refused {
                    report.outcomes[i] = Outcome::Rejected(Rejection::Changes(reason));
                    continue;
                }
                let n = new.len();
                let state = self.docs.get_mut(&id).expect("loaded above");
                let missing: Vec<&Change> =
                    v.changes.iter().filter(|c| state.doc.get_change_by_hash(&c.hash()).is_none()).collect();
                if !missing.is_empty() {
                    let raw: Vec<&[u8]> = missing.iter().map(|c| c.raw_bytes()).collect();
                    t.put_pending(&name, &digest, &envelope::encode_raw_changes(&raw))?;
                }
                let hashes: Vec<[u8; 32]> = v.changes.iter().map(|c| c.hash().0).collect();
                let meta = meta_for(&info, BundleState::Applied, name.clone(), hashes.len(), bytes.len());
                t.put_bundle(&digest, &bytes, &meta)?;
                t.put_bundle_id(&v.author_node.0, info.sequence, &digest)?;
                t.index_changes(&digest, &hashes)?;
                // Durable in this transaction: our custody answer goes out with it, if we
                // are a destination (a member; a contact of the profile's owner).
                if destination && !hashes.is_empty() && v.author_node != self.identity.node_id() {
                    t.put_custody_answer(&v.author_node.0, Disposition::Accepted.code(), info.sequence)?;
                }
                // A heads announcement supersedes the same sender's older one for the
                // document (its heads are learned either way).
                if hashes.is_empty() && v.author_node != self.identity.node_id() {
                    let key = format!("{}|{name}", v.author_node);
                    // Superseded ones are remembered as known, so a stick does not bring
                    // them back.
                    match t.latest_announcement(&key)? {
                        Some((seq, _)) if seq > info.sequence => {
                            t.remove_bundle(&digest)?;
                            t.set_forgotten(&digest)?;
                        }
                        previous => {
                            if let Some((_, old)) = previous {
                                t.remove_bundle(&old)?;
                                t.set_forgotten(&old)?;
                            }
                            t.set_latest_announcement(&key, info.sequence, &digest)?;
                        }
                    }
                }
                learned.entry(v.author_node).or_default().extend(v.heads);
                report.outcomes[i] = Outcome::New { doc: Some(id), changes: n };
            }
            for (node, heads) in learned {
                self.learn_heads(t, &node, &name, &heads)?;
            }
            // Pending sets whose changes all arrived are done.
            let state = self.docs.get_mut(&id).expect("loaded above");
            for (key, raw) in t.pending(&name)? {
                let done = decode_raw(&raw)
                    .map(|cs| cs.iter().all(|c| state.doc.get_change_by_hash(&c.hash()).is_some()))
                    .unwrap_or(true);
                if done {
                    t.remove_pending(&key)?;
                }
            }
        }
        Ok(())
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

    #[allow(clippy::too_many_arguments)]
    pub(super) fn take_grant(
        &mut self,
        t: &mut Txn,
        bytes: &[u8],
        digest: [u8; 32],
        info: &BundleInfo,
        env: &Envelope,
        now: u64,
        report: &mut ImportReport,
        touched: &mut BTreeSet<DocId>,
    ) -> Result<Outcome, Error> {
        let Some(source) = source_node(&info.source) else {
            return Ok(Outcome::Rejected(Rejection::Source(info.source.clone())));
        };
        let me = self.node_id();
        if info.destination != me.endpoint() {
            if source_node(&info.destination).is_none() {
                return Ok(Outcome::Rejected(Rejection::Grant("a grant must be addressed to a node")));
            }
            if let Err(o) = self.carry(t, digest, info, bytes.len())? {
                return Ok(o);
            }
            let meta = meta_for(info, BundleState::Carried, env.header.doc.clone(), 0, bytes.len());
            t.put_bundle(&digest, bytes, &meta)?;
            return Ok(Outcome::Waiting(WaitReason::ForOthers));
        }
        let grant = match self.open_grant(env, source) {
            Ok(g) => g,
            Err(r) => return Ok(Outcome::Rejected(r)),
        };
        let scope_owner = doc::parse_scope(&grant.scope);
        match (scope_owner, &grant.invitation) {
            (Some(ScopeOwner::Profile(owner, _)), None) if owner == source => {
                let meta = meta_for(info, BundleState::Grant, grant.scope.clone(), 0, bytes.len());
                t.put_bundle(&digest, bytes, &meta)?;
                t.put_custody_answer(&source.0, Disposition::Accepted.code(), info.sequence)?;
                self.accept_grant(t, &grant, now, report, touched)?;
                Ok(Outcome::New { doc: None, changes: 0 })
            }
            (Some(ScopeOwner::Community(cid)), Some(inv)) => {
                let Some(last) = inv.chain.last() else {
                    return Ok(Outcome::Rejected(Rejection::Grant("invitation without a certificate")));
                };
                if last.issuer != grant.granter {
                    return Ok(Outcome::Rejected(Rejection::Grant("invitation not from the certificate's issuer")));
                }
                if let Err(reason) = self.certs.verify(&cid, &inv.genesis, &inv.chain, &grant.recipient) {
                    return Ok(Outcome::Rejected(Rejection::NotMember { community: cid, reason }));
                }
                // Stored either way (accepted now, or waiting for consent): custody is ours.
                t.put_custody_answer(&source.0, Disposition::Accepted.code(), info.sequence)?;
                if self.contact_card(t, &source)?.is_some() || self.membership(t, &cid).is_ok() {
                    let meta = meta_for(info, BundleState::Grant, grant.scope.clone(), 0, bytes.len());
                    t.put_bundle(&digest, bytes, &meta)?;
                    self.accept_grant(t, &grant, now, report, touched)?;
                    self.queued.push(Event::Joined(cid));
                    Ok(Outcome::New { doc: None, changes: 0 })
                } else {
                    let id = hex(&digest[..8]);
                    let meta = meta_for(info, BundleState::Invite, grant.scope.clone(), 0, bytes.len());
                    t.put_bundle(&digest, bytes, &meta)?;
                    t.put_invite(&id, &grant.encode())?;
                    self.queued.push(Event::Invitation { id: id.clone(), community: cid, name: inv.name.clone() });
                    Ok(Outcome::Waiting(WaitReason::Consent { invite: id }))
                }
            }
            _ => Ok(Outcome::Rejected(Rejection::Grant("scope and granter do not match"))),
        }
    }

    pub(super) fn open_grant(&self, env: &Envelope, source: NodeId) -> Result<Grant, Rejection> {
        let signed =
            crypto::unwrap(self.identity.agreement_secret(), env.header_bytes, env.body).map_err(Rejection::Decrypt)?;
        let (inner, signature) = envelope::decode_signed(&signed)?;
        let grant = Grant::decode(inner)?;
        crypto::verify(&grant.granter, CONTEXT_GRANT_SIGNATURE, &[env.header_bytes, inner], &signature)
            .map_err(|_| Rejection::Signature)?;
        if NodeId::from_signing_public(&grant.granter) != source {
            return Err(Rejection::AuthorNotSource(source.to_string()));
        }
        if grant.recipient != self.identity.signing_public() {
            return Err(Rejection::Grant("grant names another recipient"));
        }
        if grant.scope != env.header.doc || grant.epoch != env.header.epoch {
            return Err(Rejection::Grant("grant does not match its header"));
        }
        Ok(grant)
    }

    /// Stores a key and opens every bundle that waited for it.
    pub(super) fn accept_grant(
        &mut self,
        t: &mut Txn,
        grant: &Grant,
        now: u64,
        report: &mut ImportReport,
        touched: &mut BTreeSet<DocId>,
    ) -> Result<(), Error> {
        let scope_epoch = format!("{}#{}", grant.scope, grant.epoch);
        t.put_grant(&scope_epoch, &grant.encode())?;
        let mut batches = Vec::new();
        for digest in t.waiting_for_key(&scope_epoch)? {
            t.remove_waiting_key(&scope_epoch, &digest)?;
            let Some(bytes) = t.bundle(&digest)? else { continue };
            // It was checked when it arrived; re-parse at `now` and open with the key.
            let opened = bundle::parse(&bytes, now).ok().and_then(|info| {
                let env = envelope::decode_envelope(&bytes[info.payload.clone()]).ok()?;
                Some((info, env))
            });
            let Some((info, env)) = opened else {
                t.remove_bundle(&digest)?;
                continue;
            };
            match self.open_batch(t, &info, &env, None)? {
                Ok(Opened::Batch(v)) => {
                    t.remove_bundle(&digest)?;
                    batches.push((0, digest, info, v, bytes));
                }
                // Forged content under a real key: drop it now that we can tell.
                Ok(Opened::NeedKey(_)) | Err(_) => t.remove_bundle(&digest)?,
            }
        }
        let mut inner = ImportReport { outcomes: vec![Outcome::Duplicate; batches.len()], unlocked: 0 };
        let batches = batches.into_iter().enumerate().map(|(i, (_, d, info, v, b))| (i, d, info, v, b)).collect();
        self.merge_batches(t, batches, &mut inner, touched)?;
        report.unlocked += inner.new_bundles();
        if let (Some(ScopeOwner::Community(cid)), Some(_)) = (doc::parse_scope(&grant.scope), &grant.invitation) {
            // Public parts stored before we joined were not answered then.
            self.answer_stored(t, |d| matches!(d, DocId::Community { id, .. } if id == cid))?;
        }
        Ok(())
    }

    /// Queues custody answers for stored change bundles of the documents `which` picks:
    /// we became a destination of them after storing them (joined the community, added
    /// the profile's owner as a contact). Answers are idempotent for the custodian.
    pub(super) fn answer_stored(&mut self, t: &mut Txn, which: impl Fn(DocId) -> bool) -> Result<(), Error> {
        let now = (self.clock)();
        let me = self.node_id();
        for (digest, meta) in t.all_bundle_meta()? {
            if meta.state != BundleState::Applied || meta.changes == 0 || !DocId::parse(&meta.doc).is_some_and(&which) {
                continue;
            }
            let Some(bytes) = t.bundle(&digest)? else { continue };
            let Ok(info) = bundle::parse(&bytes, now) else { continue };
            if let Some(source) = source_node(&info.source)
                && source != me
            {
                t.put_custody_answer(&source.0, Disposition::Accepted.code(), info.sequence)?;
            }
        }
        Ok(())
    }
}

/// A bundle as far as it can be checked without the store.
pub(super) struct Preopened<'a> {
    digest: [u8; 32],
    info: Result<BundleInfo, bundle::BundleFormatError>,
    envelope: Option<Result<Envelope<'a>, envelope::EnvelopeError>>,
    /// Present when the key was at hand: the opened, signature-checked batch.
    batch: Option<Result<OpenBatch, Rejection>>,
}

/// A batch whose signature verified, with its changes decoded.
type OpenBatch = (Batch, Vec<Change>);

pub(super) fn preopen<'a>(bytes: &'a [u8], now: u64, keys: &HashMap<String, [u8; 32]>) -> Preopened<'a> {
    let digest = crypto::derive(CONTEXT_BUNDLE_DIGEST, &[bytes]);
    let info = bundle::parse(bytes, now);
    let Ok(i) = &info else { return Preopened { digest, info, envelope: None, batch: None } };
    if i.admin_record {
        return Preopened { digest, info, envelope: None, batch: None };
    }
    let envelope = envelope::decode_envelope(&bytes[i.payload.clone()]);
    let batch = match &envelope {
        Ok(env) if matches!(env.header.kind, Kind::Batch | Kind::Snapshot) => match DocId::parse(&env.header.doc) {
            Some(doc) if doc.is_public() => Some(open_and_decode(env, None)),
            Some(doc) => doc
                .key_scope()
                .and_then(|s| keys.get(&format!("{s}#{}", env.header.epoch)))
                .map(|k| open_and_decode(env, Some(k))),
            None => None,
        },
        _ => None,
    };
    Preopened { digest, info, envelope: Some(envelope), batch }
}

pub(super) fn preopen_all<'a>(chunk: &[&'a [u8]], now: u64, keys: &HashMap<String, [u8; 32]>) -> Vec<Preopened<'a>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    if threads < 2 || chunk.len() < 64 {
        return chunk.iter().map(|b| preopen(b, now, keys)).collect();
    }
    let per = chunk.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = chunk
            .chunks(per)
            .map(|part| s.spawn(move || part.iter().map(|b| preopen(b, now, keys)).collect::<Vec<_>>()))
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("decoding does not panic")).collect()
    })
}

pub(super) fn open_and_decode(env: &Envelope, key: Option<&[u8; 32]>) -> Result<OpenBatch, Rejection> {
    let batch = crate::batch::open(env.header_bytes, env.body, key)?;
    let changes = crate::batch::decode_changes(&batch)?;
    Ok((batch, changes))
}
