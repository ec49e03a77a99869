//! Import: every bundle from any link, checked cheapest first (`preopen`), then taken in
//! and merged in one transaction.
//!
//! The order for each bundle: already known (by digest: held, forgotten, refused before)?
//! Then the pre-pass (format, lifetime cap, envelope, signature, right to write, and only
//! then the changes). Then, with the store: known by payload (a re-wrapped copy of a
//! bundle held or forgotten) or by signed custody id? Then the bundle is stored: merged,
//! carried for others within the relay quota, or applied as a signal or grant.
//!
//! `Import` is the context every stage gets (transaction, clock, report, what it
//! touched). One stage per file: the pre-pass (`preopen.rs`), batches (`merge.rs`),
//! grants and invitations (`grant.rs`), custody signals and notices (`signal.rs`);
//! carrying for others stays here, with the relay ledger (`ledger.rs`).

use std::collections::BTreeMap;

use super::preopen::{Ctx, NewCerts, Pre, Verified, preopen, preopen_all};
use super::*;

/// A verified batch waiting to be merged: input index, digest, bundle info, payload
/// digest, the batch, and the bundle's bytes.
pub(super) struct Taken<'a> {
    pub(super) index: usize,
    pub(super) digest: [u8; 32],
    pub(super) info: BundleInfo,
    pub(super) payload: [u8; 32],
    pub(super) verified: Verified,
    pub(super) bytes: &'a [u8],
}

/// A document an import changed.
#[derive(Default)]
pub(super) struct Touched {
    pub(super) before: Vec<[u8; 32]>,
    pub(super) by: BTreeSet<NodeId>,
}

/// One import in progress: its transaction, clock, report and what it touched.
pub(super) struct Import {
    pub(super) t: Txn,
    pub(super) now: u64,
    pub(super) report: ImportReport,
    /// Documents that took new changes: their heads before, and whose changes they were.
    pub(super) touched: BTreeMap<DocId, Touched>,
    /// Digests seen in this import (a bundle given twice is taken once).
    seen: HashSet<[u8; 32]>,
    /// Set when this import took in a key: bundles checked before it may now be readable.
    pub(super) keys_changed: bool,
    /// What the pre-pass knows after such a key, built once.
    pub(super) fresh_ctx: Option<Ctx>,
}

impl Import {
    pub(super) fn new(t: Txn, now: u64) -> Self {
        Import {
            t,
            now,
            report: ImportReport::default(),
            touched: BTreeMap::new(),
            seen: HashSet::new(),
            keys_changed: false,
            fresh_ctx: None,
        }
    }
}

impl Node {
    /// Imports one bundle. See [`Node::import_many`].
    pub fn import(&mut self, bytes: &[u8]) -> Result<ImportReport, Error> {
        self.import_many([bytes])
    }

    /// Imports bundles in one durable transaction: each is checked (CRC, lifetime,
    /// envelope, signature, right to write, decryption, actor), then merged or carried.
    /// A refused bundle changes nothing but the table of refused digests; the outcome of
    /// each is in the report. `Err` means local storage failed, and then nothing of this
    /// call was stored.
    pub fn import_many<'a>(&mut self, bundles: impl IntoIterator<Item = &'a [u8]>) -> Result<ImportReport, Error> {
        self.import_in_chunks(bundles.into_iter().collect(), IMPORT_CHUNK_COUNT_MAX)
    }

    /// [`Node::import_many`], checking at most `chunk_max` bundles at a time.
    pub(super) fn import_in_chunks(&mut self, bundles: Vec<&[u8]>, chunk_max: usize) -> Result<ImportReport, Error> {
        let now = (self.clock)();
        // The relay ledger survives between imports (rebuilding it reads every carried
        // bundle's metadata); any other write, or a failed import, drops it.
        let mut imp = Import::new(self.store.write()?, now);
        // The pre-pass judges community authors by each log as it stands.
        self.refresh_logs(&imp.t)?;
        let mut result = Ok(());
        let chunks: Vec<&[&[u8]]> = bundles.chunks(chunk_max.max(1)).collect();
        let mut offset = 0;
        std::thread::scope(|s| {
            // The pre-pass needs no store access: it runs on all cores, for the next chunk
            // while this one is taken in. The next chunk is checked with what this node
            // knew before this one; a key this chunk brings is caught in `take_in`.
            let mut next: Option<std::thread::ScopedJoinHandle<'_, Checked>> = None;
            for (c, chunk) in chunks.iter().enumerate() {
                let checked = match next.take() {
                    Some(h) => h.join().unwrap_or_else(|_| Checked::failed(chunk.len())),
                    None => match self.checked_now(&imp, chunk) {
                        Ok(c) => c,
                        Err(e) => {
                            result = Err(e);
                            break;
                        }
                    },
                };
                if let Some(&following) = chunks.get(c + 1) {
                    match self.prepare(&imp, following) {
                        Ok((ctx, skip)) => {
                            next = Some(s.spawn(move || Checked {
                                results: preopen_all(following, &skip, &ctx),
                                digests: digests_of(following),
                            }))
                        }
                        Err(e) => {
                            result = Err(e);
                            break;
                        }
                    }
                }
                result = self.take_chunk(&mut imp, chunk, checked, offset);
                if result.is_err() {
                    break;
                }
                offset += chunk.len();
            }
        });
        // A links document moved: which communities are linked may have changed.
        if result.is_ok() && imp.touched.keys().any(|d| d.kind().is_some_and(|k| k.name() == "links")) {
            result = self.refresh_linked(&mut imp);
        }
        let Import { t, report, touched, .. } = imp;
        self.finish(t, result, touched)?;
        Ok(report)
    }

    /// What the pre-pass needs: a snapshot of this node, and which bundles are already
    /// known by digest (those are not checked at all).
    fn prepare(&self, imp: &Import, chunk: &[&[u8]]) -> Result<(Ctx, Vec<bool>), Error> {
        let ctx = self.ctx(&imp.t, imp.now)?;
        let mut skip = Vec::with_capacity(chunk.len());
        for b in chunk {
            skip.push(self.known(&imp.t, &bundle_digest(b))? != Known::No);
        }
        Ok((ctx, skip))
    }

    fn checked_now(&self, imp: &Import, chunk: &[&[u8]]) -> Result<Checked, Error> {
        let (ctx, skip) = self.prepare(imp, chunk)?;
        Ok(Checked { results: preopen_all(chunk, &skip, &ctx), digests: digests_of(chunk) })
    }

    /// A snapshot of what the pre-pass needs to know about this node.
    pub(super) fn ctx(&self, r: &impl Reads, now: u64) -> Result<Ctx, Error> {
        let mut contacts = HashSet::new();
        for (id, _, _) in r.contacts()? {
            if let Some(n) = NodeId::parse(&id) {
                contacts.insert(n);
            }
        }
        let mut keys = HashMap::new();
        let mut communities = HashSet::new();
        for (k, g) in r.grants()? {
            let Ok(g) = Grant::decode(&g) else { continue };
            if let Some(inv) = &g.invitation {
                communities.insert(membership::community_id(&inv.genesis));
            }
            if let Some(ScopeOwner::Profile(owner, _)) = doc::parse_scope(&g.scope) {
                contacts.insert(owner);
            }
            keys.insert(k, g.key);
        }
        let followed = Arc::new(super::follow::follow_set(r)?);
        let routes = Arc::new(self.routes(r, now, &keys, &contacts, &communities, &followed)?);
        Ok(Ctx {
            followed,
            identity: self.identity.clone(),
            me: self.node_id(),
            routes,
            direct: self.identity.direct_secret(),
            keys,
            contacts,
            communities,
            certs: Arc::new(self.certs.snapshot()),
            now,
            lifetime_cap_ms: self.lifetime_cap_ms,
            blocked: super::block::blocked_in(r)?.into_iter().collect(),
            authority: self.authority.iter().map(|(c, r)| (*c, r.state.clone())).collect(),
        })
    }

    /// Whether a bundle is already known by its digest: held or forgotten, or refused before.
    pub(super) fn known(&self, r: &impl Reads, digest: &[u8; 32]) -> Result<Known, Error> {
        Ok(if r.bundle_meta(digest)?.is_some() || r.forgotten(digest)? {
            Known::Held
        } else if r.refused(digest)? {
            Known::Refused
        } else {
            Known::No
        })
    }

    /// Takes in one checked chunk: everything but change batches is stored as it comes,
    /// then the batches are merged, one `apply_changes` per document.
    fn take_chunk(&mut self, imp: &mut Import, chunk: &[&[u8]], checked: Checked, offset: usize) -> Result<(), Error> {
        let mut batches = Vec::new();
        let mut deferred = Vec::new();
        for (j, ((bytes, pre), digest)) in chunk.iter().zip(checked.results).zip(checked.digests).enumerate() {
            let index = offset + j;
            imp.report.outcomes.push(Outcome::Duplicate);
            let Some((pre, certs)) = pre else {
                if self.known(&imp.t, &digest)? == Known::Refused {
                    imp.report.outcomes[index] = Outcome::Rejected(Rejection::RefusedBefore);
                }
                continue;
            };
            self.certs.learn(certs);
            if !imp.seen.insert(digest) {
                continue;
            }
            // A batch its kind's rule refused against the log the pre-pass saw, but not
            // without it: judged once this chunk's log changes are merged, and refused
            // then before anything of it is stored.
            if let Pre::Batch { verified, .. } = &pre
                && verified.recheck
            {
                deferred.push((*bytes, digest, pre, index));
                continue;
            }
            if let Some(outcome) = self.take_in(imp, bytes, digest, pre, index, &mut batches)? {
                imp.report.outcomes[index] = outcome;
            }
        }
        self.merge_batches(imp, batches)?;
        self.take_deferred(imp, deferred)
    }

    /// Takes in one pre-checked bundle. Returns its outcome, or `None` when it is a batch
    /// queued for merging (its outcome is set then).
    pub(super) fn take_in<'a>(
        &mut self,
        imp: &mut Import,
        bytes: &'a [u8],
        digest: [u8; 32],
        mut pre: Pre,
        index: usize,
        batches: &mut Vec<Taken<'a>>,
    ) -> Result<Option<Outcome>, Error> {
        match self.known(&imp.t, &digest)? {
            Known::No => {}
            Known::Held => return Ok(Some(Outcome::Duplicate)),
            Known::Refused => return Ok(Some(Outcome::Rejected(Rejection::RefusedBefore))),
        }
        // Checked before this import took in a key: it may be readable now.
        if imp.keys_changed && matches!(pre, Pre::Carry { .. }) {
            if imp.fresh_ctx.is_none() {
                imp.fresh_ctx = Some(self.ctx(&imp.t, imp.now)?);
            }
            let ctx = imp.fresh_ctx.as_ref().expect("built above");
            let (again, certs) = preopen(bytes, ctx);
            self.certs.learn(certs);
            pre = again;
        }
        let payload = match &pre {
            Pre::Refused(r) => {
                if r.is_permanent() {
                    let expires = refusal_expiry(bytes, imp.now, self.lifetime_cap_ms);
                    imp.t.set_refused(&digest, expires)?;
                }
                return Ok(Some(Outcome::Rejected(r.clone())));
            }
            Pre::Signal { payload, .. }
            | Pre::Carry { payload, .. }
            | Pre::Grant { payload, .. }
            | Pre::Batch { payload, .. }
            | Pre::Release { payload, .. } => *payload,
        };
        let release = match &pre {
            Pre::Signal { info, .. }
            | Pre::Carry { info, .. }
            | Pre::Grant { info, .. }
            | Pre::Batch { info, .. }
            | Pre::Release { info, .. } => info.release,
            Pre::Refused(_) => [0; 32],
        };
        // A re-wrapped copy (another primary block around the same signed payload) of
        // what we hold or forgot is a duplicate, and changes nothing; so is a copy of
        // what a release list showed delivered.
        if imp.t.bundle_by_payload(&payload)?.is_some() || imp.t.forgotten(&payload)? {
            return Ok(Some(Outcome::Duplicate));
        }
        // (Not remembered by its digest: any carrier can re-wrap a cloak into new digests,
        // and the release hash already knows them all.)
        if release != [0; 32] && imp.t.forgotten(&release)? {
            return Ok(Some(Outcome::Duplicate));
        }
        Ok(match pre {
            Pre::Refused(_) => None,
            Pre::Release { info, payload, secrets } => {
                Some(self.take_release(imp, bytes, digest, &info, payload, &secrets)?)
            }
            Pre::Signal { info, payload, signer, signal } => {
                Some(self.take_signal(imp, bytes, digest, &info, payload, signer, &signal)?)
            }
            Pre::Carry { info, payload, header, verified, waiting } => {
                let for_log = waiting.as_deref().and_then(super::authority::log_wait_community);
                let outcome = self.take_carried(imp, bytes, digest, &info, payload, &header, verified, waiting)?;
                if let (Some(community), Outcome::Waiting(WaitReason::Key { .. })) = (for_log, &outcome) {
                    return Ok(Some(Outcome::Waiting(WaitReason::Log { community })));
                }
                // Sealed under a community key its log holds for us but we had not opened
                // (an earlier epoch): opened now, and the bundle read.
                if let Outcome::Waiting(WaitReason::Key { scope }) = &outcome
                    && let Some(ScopeOwner::Community(cid)) = doc::parse_scope(scope.split('#').next().unwrap_or(""))
                    && self.authority.contains_key(&cid)
                {
                    self.take_epoch_keys(imp, &cid)?;
                }
                Some(outcome)
            }
            Pre::Grant { info, payload, header, grant } => {
                Some(self.take_grant(imp, bytes, digest, &info, payload, &header, grant)?)
            }
            Pre::Batch { info, payload, verified } => {
                // The same signed content under another encryption (a member can re-seal
                // it): known by its signed custody id.
                let id = BundleId { source: verified.author, seq: verified.seq };
                if imp.t.bundle_by_id(&id)?.is_some() {
                    return Ok(Some(Outcome::Duplicate));
                }
                // The log as it stands now (this import may have moved it).
                if let (DocId::Community { id: cid, part }, Some(m)) = (verified.doc, &verified.member)
                    && let Some(r) = self.authority.get(&cid)
                {
                    match super::preopen::log_role(&r.state, cid, m, part, verified.kind) {
                        Err(rejection) => return Ok(Some(Outcome::Rejected(rejection))),
                        Ok(super::preopen::Verdict::SetAside(reason)) => {
                            let scope = super::authority::set_aside_scope(&cid, &verified.author);
                            let held = self.hold(imp, bytes, digest, &info, payload, &verified, &scope)?;
                            return Ok(Some(
                                held.unwrap_or(Outcome::Waiting(WaitReason::SetAside { community: cid, reason })),
                            ));
                        }
                        Ok(super::preopen::Verdict::Admit(_)) => {}
                    }
                }
                // A quarantined member's content is kept for audit, not merged.
                if let (DocId::Community { id: cid, part }, Some(m)) = (verified.doc, &verified.member)
                    && part != Part::AUTHORITY
                    && self.authority.get(&cid).is_some_and(|r| r.state.quarantined.contains(&m.signer))
                {
                    let scope = super::authority::quarantine_scope(&cid, &verified.author);
                    let held = self.hold(imp, bytes, digest, &info, payload, &verified, &scope)?;
                    return Ok(Some(held.unwrap_or(Outcome::Waiting(WaitReason::Quarantined { community: cid }))));
                }
                // What one member can make us store per day (owners' snapshots, which
                // carry the whole document for newcomers, and heads announcements aside).
                if let DocId::Community { id: cid, .. } = verified.doc
                    && verified.author != self.node_id()
                    && verified.kind == Kind::Batch
                    && !verified.changes.is_empty()
                    && let Err(rejection) =
                        self.charge_member(&mut imp.t, &cid, &verified.author, bytes.len() as u64, imp.now)?
                {
                    return Ok(Some(Outcome::Rejected(rejection)));
                }
                batches.push(Taken { index, digest, info, payload, verified, bytes });
                None
            }
        })
    }

    /// Keeps a bundle for audit, not merged (a quarantined member's, to be read if the
    /// quarantine is lifted; or one the log voids, set aside): counted against the relay
    /// quota, so a flood of them stays bounded.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn hold(
        &mut self,
        imp: &mut Import,
        bytes: &[u8],
        digest: [u8; 32],
        info: &BundleInfo,
        payload: [u8; 32],
        verified: &super::preopen::Verified,
        scope: &str,
    ) -> Result<Option<Outcome>, Error> {
        // Kept as a bundle waiting under `scope`, which no key ever opens: what reads it
        // again is lifting the quarantine (or nothing).
        let header = Header {
            kind: verified.kind,
            author: verified.author,
            seq: verified.seq,
            doc: verified.doc.to_string(),
            epoch: 0,
            heads: Vec::new(),
            encrypted: true,
        };
        Ok(match self.take_carried(imp, bytes, digest, info, payload, &header, true, Some(scope.to_string()))? {
            Outcome::Waiting(WaitReason::Key { .. }) => None,
            other => Some(other),
        })
    }

    /// Keeps a bundle for others, within the relay quota.
    #[allow(clippy::too_many_arguments)]
    fn take_carried(
        &mut self,
        imp: &mut Import,
        bytes: &[u8],
        digest: [u8; 32],
        info: &BundleInfo,
        payload: [u8; 32],
        header: &Header,
        verified: bool,
        waiting: Option<String>,
    ) -> Result<Outcome, Error> {
        let state = match (&waiting, header.kind) {
            (Some(_), _) => BundleState::WaitingKey,
            _ => BundleState::Carried,
        };
        let meta = BundleMeta {
            state,
            author: header.author,
            seq: header.seq,
            verified,
            payload,
            doc: header.doc.clone(),
            destination: info.destination.clone(),
            expires_unix_ms: info.expires_unix_ms(),
            changes: 0,
            bytes: bytes.len() as u32,
            kind: header.kind.into(),
            payload_at: info.payload_at(),
            opener: info.opener,
            release: info.release,
        };
        if let Err(o) = self.keep(&mut imp.t, digest, bytes, &meta)? {
            return Ok(o);
        }
        Ok(match waiting {
            Some(scope) => {
                imp.t.put_waiting_key(&scope, &digest)?;
                Outcome::Waiting(WaitReason::Key { scope })
            }
            None => Outcome::Waiting(WaitReason::ForOthers),
        })
    }

    /// Persists touched documents and commits; on any failure forgets in-memory
    /// documents so they reload from the last committed state.
    pub(super) fn finish(
        &mut self,
        mut t: Txn,
        result: Result<(), Error>,
        touched: BTreeMap<DocId, Touched>,
    ) -> Result<(), Error> {
        let result = result.and_then(|_| {
            for id in touched.keys() {
                self.persist_doc(&mut t, *id)?;
            }
            // What is kept of followed sources stays within its budget (only public
            // documents bring any).
            if touched.keys().any(DocId::is_public) {
                self.trim_followed(&mut t)?;
            }
            Ok(t.commit()?)
        });
        let mut events = std::mem::take(&mut self.queued);
        if let Err(e) = result {
            self.docs.clear();
            self.ledger = None;
            return Err(e);
        }
        for (id, t) in touched {
            let heads = self.heads_of(id)?;
            events.push(Event::DocChanged { doc: id, heads, before: t.before, by: t.by.into_iter().collect() });
        }
        self.emit(events);
        self.trim_docs();
        Ok(())
    }

    /// Takes stored bundles in again, with what this node knows now (a key, a contact):
    /// what was carried unread is read if it can be, and refused if it turns out forged.
    pub(super) fn reread(&mut self, imp: &mut Import, digests: Vec<[u8; 32]>) -> Result<(), Error> {
        if digests.is_empty() {
            return Ok(());
        }
        let mut bundles = Vec::new();
        for d in digests {
            if let Some(bytes) = imp.t.bundle(&d)? {
                self.drop_stored(&mut imp.t, &d)?;
                bundles.push(bytes);
            }
        }
        let ctx = self.ctx(&imp.t, imp.now)?;
        let base = imp.report.outcomes.len();
        let mut batches = Vec::new();
        for (j, bytes) in bundles.iter().enumerate() {
            imp.report.outcomes.push(Outcome::Duplicate);
            let (pre, certs) = preopen(bytes, &ctx);
            self.certs.learn(certs);
            if let Some(o) = self.take_in(imp, bytes, bundle_digest(bytes), pre, base + j, &mut batches)? {
                imp.report.outcomes[base + j] = o;
            }
        }
        self.merge_batches(imp, batches)?;
        // These outcomes belong to no bundle of the caller's: count what was read, drop the rest.
        let reread = imp.report.outcomes.split_off(base);
        imp.report.unlocked += reread.iter().filter(|o| matches!(o, Outcome::New { .. })).count();
        Ok(())
    }
}

/// What this node already knows of a bundle by its digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Known {
    /// Nothing.
    No,
    /// Held, or held and forgotten: a duplicate.
    Held,
    /// Refused before, for good.
    Refused,
}

/// The pre-pass results of a chunk, with each bundle's digest.
struct Checked {
    results: Vec<Option<(Pre, NewCerts)>>,
    digests: Vec<[u8; 32]>,
}

impl Checked {
    /// A chunk whose pre-pass could not run (a thread failed): every bundle refused.
    fn failed(n: usize) -> Self {
        Checked {
            results: (0..n).map(|_| Some((Pre::Refused(Rejection::DecoderFailed), Vec::new()))).collect(),
            digests: vec![[0; 32]; n],
        }
    }
}

fn digests_of(chunk: &[&[u8]]) -> Vec<[u8; 32]> {
    chunk.iter().map(|b| bundle_digest(b)).collect()
}

/// How long a refused bundle is remembered: until it expires (as far as its primary block
/// can be read), at most the lifetime cap.
fn refusal_expiry(bytes: &[u8], now: u64, cap_ms: u64) -> u64 {
    let cap = now.saturating_add(cap_ms);
    match bundle::parse_untimed(bytes) {
        Ok(info) => info.expires_unix_ms().min(cap),
        Err(_) => cap,
    }
}

#[cfg(test)]
mod tests;
