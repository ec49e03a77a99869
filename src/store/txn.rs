//! Writing the store: one transaction, committed durably or not at all.

use super::*;

/// A write transaction. Dropped without [`Txn::commit`], it changes nothing.
pub struct Txn {
    pub(super) tx: redb::WriteTransaction,
    pub(super) dirty: bool,
    pub(super) keyring: Option<[u8; 32]>,
    pub(super) commits: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Txn {
    /// Commits durably, if anything was written; otherwise leaves the file untouched.
    pub fn commit(self) -> Result<(), StoreError> {
        if self.dirty {
            self.tx.commit()?;
            self.commits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        } else {
            self.tx.abort()?;
        }
        Ok(())
    }

    pub(super) fn table<K: redb::Key + 'static, V: redb::Value + 'static>(
        &mut self,
        def: TableDefinition<K, V>,
    ) -> Result<redb::Table<'_, K, V>, StoreError> {
        self.dirty = true;
        Ok(self.tx.open_table(def)?)
    }

    /// A table opened only to read it: the transaction stays clean (a commit of a clean
    /// transaction writes nothing).
    fn peek<K: redb::Key + 'static, V: redb::Value + 'static>(
        &mut self,
        def: TableDefinition<K, V>,
    ) -> Result<redb::Table<'_, K, V>, StoreError> {
        Ok(self.tx.open_table(def)?)
    }

    /// Stores a bundle with its metadata.
    pub fn put_bundle(&mut self, digest: &[u8; 32], bytes: &[u8], meta: &BundleMeta) -> Result<(), StoreError> {
        if bytes.len() <= BUNDLE_PART_BYTES {
            self.table(BUNDLES)?.insert(&digest[..], bytes)?;
        } else {
            // An empty value marks a bundle kept in parts (no stored bundle is empty).
            self.table(BUNDLES)?.insert(&digest[..], &[][..])?;
            let mut parts = self.table(BUNDLE_PARTS)?;
            for (i, part) in bytes.chunks(BUNDLE_PART_BYTES).enumerate() {
                let i = u32::try_from(i).map_err(|_| StoreError::TooLarge("bundle too large to store"))?;
                parts.insert(&part_key(digest, i)[..], part)?;
            }
        }
        self.table(PAYLOADS)?.insert(&meta.payload[..], &digest[..])?;
        if meta.release != [0; 32] {
            self.table(RELEASES)?.insert(&release_key(&meta.release, digest)[..], ())?;
        }
        self.set_bundle_meta(digest, meta)
    }

    /// The stored bundles whose release hash is `release`.
    pub fn bundles_by_release(&mut self, release: &[u8; 32]) -> Result<Vec<[u8; 32]>, StoreError> {
        let (lo, hi) = (release_key(release, &[0; 32]), release_key(release, &[0xff; 32]));
        let mut out = Vec::new();
        for row in self.table(RELEASES)?.range(&lo[..]..=&hi[..])? {
            let (k, _) = row?;
            if let Ok(d) = <[u8; 32]>::try_from(&k.value()[32..]) {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// Updates a bundle's metadata.
    pub fn set_bundle_meta(&mut self, digest: &[u8; 32], meta: &BundleMeta) -> Result<(), StoreError> {
        self.table(BUNDLE_META)?.insert(&digest[..], meta.encode().as_slice())?;
        Ok(())
    }

    /// Removes a bundle, its metadata and the indexes that point at it.
    pub fn remove_bundle(&mut self, digest: &[u8; 32]) -> Result<(), StoreError> {
        if let Some(meta) = self.bundle_meta(digest)? {
            let mut payloads = self.table(PAYLOADS)?;
            if payloads.get(&meta.payload[..])?.is_some_and(|v| v.value() == digest) {
                payloads.remove(&meta.payload[..])?;
            }
            drop(payloads);
            if meta.release != [0; 32] {
                self.table(RELEASES)?.remove(&release_key(&meta.release, digest)[..])?;
            }
            let key = id_key(&meta.author.0, meta.seq);
            let mut ids = self.table(BUNDLE_IDS)?;
            if ids.get(&key[..])?.is_some_and(|v| v.value() == digest) {
                ids.remove(&key[..])?;
            }
        }
        let parted = self.table(BUNDLES)?.remove(&digest[..])?.is_some_and(|v| v.value().is_empty());
        if parted {
            let (lo, hi) = (part_key(digest, 0), part_key(digest, u32::MAX));
            self.table(BUNDLE_PARTS)?.retain_in(&lo[..]..=&hi[..], |_, _| false)?;
        }
        self.table(BUNDLE_META)?.remove(&digest[..])?;
        self.table(CARRIER_COPIES)?.remove(&digest[..])?;
        Ok(())
    }

    /// Sets the carrier copies we may hand on for a bundle we carry (0: none).
    pub fn set_carrier_copies(&mut self, digest: &[u8; 32], copies: u32) -> Result<(), StoreError> {
        let mut t = self.table(CARRIER_COPIES)?;
        if copies == 0 {
            t.remove(&digest[..])?;
        } else {
            t.insert(&digest[..], copies)?;
        }
        Ok(())
    }

    /// Records which bundle (by custody id) carries each change (first bundle wins).
    pub fn index_changes(&mut self, id: &BundleId, changes: &[[u8; 32]]) -> Result<(), StoreError> {
        let value = id_key(&id.source.0, id.seq);
        let mut t = self.table(CHANGE_BUNDLE)?;
        for c in changes {
            if t.get(&c[..])?.is_none() {
                t.insert(&c[..], &value[..])?;
            }
        }
        Ok(())
    }

    /// Records that these changes are carried by bundle `id` from now on (the bundle that
    /// first carried them is gone).
    pub fn point_changes(&mut self, id: &BundleId, changes: &[[u8; 32]]) -> Result<(), StoreError> {
        let value = id_key(&id.source.0, id.seq);
        let mut t = self.table(CHANGE_BUNDLE)?;
        for c in changes {
            t.insert(&c[..], &value[..])?;
        }
        Ok(())
    }

    /// Records a document's current heads (with the chunk that brought them).
    pub fn set_doc_heads(&mut self, doc: &str, heads: &[[u8; 32]]) -> Result<(), StoreError> {
        self.table(DOC_HEADS)?.insert(doc, join_heads(heads).as_slice())?;
        Ok(())
    }

    /// Appends a document chunk with sequence number `seq`.
    pub fn put_doc_chunk(&mut self, doc: &str, seq: u64, bytes: &[u8]) -> Result<(), StoreError> {
        let key = format!("{doc}|{seq:016x}");
        if bytes.len() <= DOC_PART_BYTES {
            self.table(DOC_CHUNKS)?.insert(key.as_str(), bytes)?;
            return Ok(());
        }
        // Like a large bundle: an empty value, and the bytes in parts beside it.
        self.table(DOC_CHUNKS)?.insert(key.as_str(), &[][..])?;
        let mut parts = self.table(DOC_CHUNK_PARTS)?;
        for (i, part) in bytes.chunks(DOC_PART_BYTES).enumerate() {
            parts.insert(format!("{key}|{i:08x}").as_str(), part)?;
        }
        Ok(())
    }

    /// Replaces all chunks of a document with one saved document.
    pub fn compact_doc(&mut self, doc: &str, saved: &[u8], seq: u64) -> Result<(), StoreError> {
        let lo = format!("{doc}|");
        let hi = format!("{doc}}}");
        self.table(DOC_CHUNKS)?.retain_in(lo.as_str()..hi.as_str(), |_, _| false)?;
        self.table(DOC_CHUNK_PARTS)?.retain_in(lo.as_str()..hi.as_str(), |_, _| false)?;
        self.put_doc_chunk(doc, seq, saved)
    }

    /// Records changes waiting for dependencies.
    pub fn put_pending(&mut self, doc: &str, digest: &[u8; 32], raw: &[u8]) -> Result<(), StoreError> {
        self.table(PENDING)?.insert(format!("{doc}|{}", hex(digest)).as_str(), raw)?;
        Ok(())
    }

    /// Removes a pending entry by its full key.
    pub fn remove_pending(&mut self, key: &str) -> Result<(), StoreError> {
        self.table(PENDING)?.remove(key)?;
        Ok(())
    }

    /// Marks a bundle as waiting for `scope#epoch`.
    pub fn put_waiting_key(&mut self, scope_epoch: &str, digest: &[u8; 32]) -> Result<(), StoreError> {
        self.table(WAITING_KEY)?.insert(format!("{scope_epoch}|{}", hex(digest)).as_str(), ())?;
        Ok(())
    }

    /// Clears the waiting mark of a bundle for any epoch of `scope`.
    pub fn remove_waiting(&mut self, scope: &str, digest: &[u8; 32]) -> Result<(), StoreError> {
        let lo = format!("{scope}#");
        let suffix = format!("|{}", hex(digest));
        let mut keys = Vec::new();
        for row in self.table(WAITING_KEY)?.range(lo.as_str()..)? {
            let (k, _) = row?;
            if !k.value().starts_with(lo.as_str()) {
                break;
            }
            if k.value().ends_with(suffix.as_str()) {
                keys.push(k.value().to_string());
            }
        }
        let mut t = self.table(WAITING_KEY)?;
        for k in keys {
            t.remove(k.as_str())?;
        }
        Ok(())
    }

    /// Clears a waiting mark.
    pub fn remove_waiting_key(&mut self, scope_epoch: &str, digest: &[u8; 32]) -> Result<(), StoreError> {
        self.table(WAITING_KEY)?.remove(format!("{scope_epoch}|{}", hex(digest)).as_str())?;
        Ok(())
    }

    /// Sets the heads `node` is known to have of `doc`.
    pub fn set_peer_heads(&mut self, node: &str, doc: &str, heads: &[[u8; 32]]) -> Result<(), StoreError> {
        self.table(PEER_HEADS)?.insert(format!("{node}|{doc}").as_str(), join_heads(heads).as_slice())?;
        Ok(())
    }

    /// Stores an accepted grant.
    pub fn put_grant(&mut self, scope_epoch: &str, grant: &[u8]) -> Result<(), StoreError> {
        let value = seal(self.keyring.as_ref(), scope_epoch, grant);
        self.table(GRANTS)?.insert(scope_epoch, value.as_slice())?;
        Ok(())
    }

    /// Stores an invitation waiting for consent.
    pub fn put_invite(&mut self, id: &str, grant: &[u8]) -> Result<(), StoreError> {
        let value = seal(self.keyring.as_ref(), id, grant);
        self.table(INVITES)?.insert(id, value.as_slice())?;
        Ok(())
    }

    /// Removes an invitation.
    pub fn remove_invite(&mut self, id: &str) -> Result<(), StoreError> {
        self.table(INVITES)?.remove(id)?;
        Ok(())
    }

    /// Adds or updates a contact.
    pub fn put_contact(&mut self, node: &str, audiences: u8, card: &[u8]) -> Result<(), StoreError> {
        let mut v = vec![audiences];
        v.extend_from_slice(card);
        self.table(CONTACTS)?.insert(node, v.as_slice())?;
        Ok(())
    }

    /// Forgets a contact.
    pub fn remove_contact(&mut self, node: &str) -> Result<(), StoreError> {
        self.table(CONTACTS)?.remove(node)?;
        Ok(())
    }

    /// Records our latest sealed bundle of `doc`.
    pub fn set_sealed(&mut self, doc: &str, digest: &[u8; 32], heads: &[[u8; 32]]) -> Result<(), StoreError> {
        let mut v = digest.to_vec();
        v.extend_from_slice(&join_heads(heads));
        self.table(SEALED)?.insert(doc, v.as_slice())?;
        Ok(())
    }

    /// Records that announcement `digest` was exported to `target`.
    pub fn set_announced(&mut self, target: &str, doc: &str, digest: &[u8; 32]) -> Result<(), StoreError> {
        self.table(ANNOUNCED)?.insert(format!("{target}|{doc}").as_str(), &digest[..])?;
        Ok(())
    }

    /// Removes a small setting.
    pub fn remove_meta(&mut self, key: &str) -> Result<(), StoreError> {
        self.table(META)?.remove(key)?;
        Ok(())
    }

    /// Sets a small setting.
    pub fn set_meta(&mut self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.table(META)?.insert(key, value)?;
        Ok(())
    }

    /// Stores (or replaces) the custody record of one of our bundles.
    pub fn put_custody(&mut self, row: &CustodyRow) -> Result<(), StoreError> {
        let value = [&row.digest[..], &row.record.to_bytes()].concat();
        self.table(CUSTODY)?.insert(row.seq, value.as_slice())?;
        Ok(())
    }

    /// Removes the custody record of our bundle `seq`.
    pub fn remove_custody(&mut self, seq: u64) -> Result<(), StoreError> {
        self.table(CUSTODY)?.remove(seq)?;
        self.table(CUSTODY_CHANGES)?.remove(seq)?;
        self.table(CUSTODY_HEADS)?.remove(seq)?;
        Ok(())
    }

    /// Records the heads our bundle `seq` (in custody) names in its header.
    pub fn put_custody_heads(&mut self, seq: u64, heads: &[[u8; 32]]) -> Result<(), StoreError> {
        self.table(CUSTODY_HEADS)?.insert(seq, join_heads(heads).as_slice())?;
        Ok(())
    }

    /// Records the changes our bundle `seq` (in custody) carries.
    pub fn put_custody_changes(&mut self, seq: u64, changes: &[[u8; 32]]) -> Result<(), StoreError> {
        self.table(CUSTODY_CHANGES)?.insert(seq, changes.concat().as_slice())?;
        Ok(())
    }

    /// Queues a custody answer for the custodian whose signing key is `custodian_key`
    /// about its bundle `seq`. The key is kept with it (settings `answer-key/<node>`): the
    /// signal is cloaked for that node alone.
    pub fn put_custody_answer(&mut self, custodian_key: &[u8; 32], code: u8, seq: u64) -> Result<(), StoreError> {
        let custodian = NodeId::from_signing_public(custodian_key);
        self.set_meta(&format!("answer-key/{custodian}"), custodian_key)?;
        let custodian = &custodian.0;
        let mut key = [0u8; 29];
        key[..20].copy_from_slice(custodian);
        key[20] = code;
        key[21..].copy_from_slice(&seq.to_be_bytes());
        self.table(CUSTODY_OUT)?.insert(&key[..], ())?;
        Ok(())
    }

    /// Records the latest heads announcement from `node|doc`.
    pub fn set_latest_announcement(&mut self, key: &str, seq: u64, digest: &[u8; 32]) -> Result<(), StoreError> {
        let value = [&seq.to_be_bytes()[..], &digest[..]].concat();
        self.table(PEER_ANNOUNCEMENTS)?.insert(key, value.as_slice())?;
        Ok(())
    }

    /// Records a stored bundle's BPv7 id.
    pub fn put_bundle_id(&mut self, source: &[u8; 20], seq: u64, digest: &[u8; 32]) -> Result<(), StoreError> {
        self.table(BUNDLE_IDS)?.insert(&id_key(source, seq)[..], &digest[..])?;
        Ok(())
    }

    /// Remembers a digest (a bundle's or a payload's) as known until `expires_ms`: a bundle
    /// dropped as delivered, or consumed. After that the bundle cannot arrive any more.
    pub fn set_forgotten(&mut self, digest: &[u8; 32], expires_ms: u64) -> Result<(), StoreError> {
        let previous = self.table(FORGOTTEN)?.insert(&digest[..], expires_ms)?.map(|v| v.value());
        if let Some(p) = previous {
            self.table(FORGOTTEN_BY_TIME)?.remove(&time_key(p, digest)[..])?;
        }
        self.table(FORGOTTEN_BY_TIME)?.insert(&time_key(expires_ms, digest)[..], ())?;
        Ok(())
    }

    /// Forgets forgotten digests whose bundles expired before `now_ms`.
    pub fn purge_forgotten(&mut self, now_ms: u64) -> Result<usize, StoreError> {
        purge_by_time(self, FORGOTTEN, FORGOTTEN_BY_TIME, now_ms, usize::MAX)
    }

    /// Remembers that a bundle was refused for a permanent reason, until `expires_ms`, so
    /// a link that offers it again costs a lookup. At most `REFUSED_COUNT_MAX` are kept;
    /// the ones closest to expiry go first.
    pub fn set_refused(&mut self, digest: &[u8; 32], expires_ms: u64) -> Result<(), StoreError> {
        if self.table(REFUSED)?.get(&digest[..])?.is_some() {
            return Ok(());
        }
        let len = self.table(REFUSED)?.len()?;
        if len >= REFUSED_COUNT_MAX as u64 {
            purge_by_time(self, REFUSED, REFUSED_BY_TIME, u64::MAX, (len + 1 - REFUSED_COUNT_MAX as u64) as usize)?;
        }
        self.table(REFUSED)?.insert(&digest[..], expires_ms)?;
        self.table(REFUSED_BY_TIME)?.insert(&time_key(expires_ms, digest)[..], ())?;
        Ok(())
    }

    /// Drops refusal entries whose bundles expired before `now_ms`.
    pub fn purge_refused(&mut self, now_ms: u64) -> Result<usize, StoreError> {
        purge_by_time(self, REFUSED, REFUSED_BY_TIME, now_ms, usize::MAX)
    }

    /// Replaces the delivered ranges of `source`, kept until `expires_ms` (or later, if it
    /// already was). At most `DELIVERED_SOURCES_MAX` sources are kept: the one whose entry
    /// expires first goes (forgetting it only means carrying such a bundle again).
    pub fn set_delivered(
        &mut self,
        source: &[u8; 20],
        ranges: &[(u64, u64)],
        expires_ms: u64,
    ) -> Result<(), StoreError> {
        let previous = self.table(DELIVERED)?.get(&source[..])?.map(|v| delivered_expiry(v.value()));
        let until = previous.map_or(expires_ms, |p| p.max(expires_ms));
        if previous.is_none() && self.table(DELIVERED)?.len()? >= DELIVERED_SOURCES_MAX as u64 {
            let mut first: Option<(u64, Vec<u8>)> = None;
            for row in self.table(DELIVERED)?.iter()? {
                let (k, v) = row?;
                let e = delivered_expiry(v.value());
                if first.as_ref().is_none_or(|(f, _)| e < *f) {
                    first = Some((e, k.value().to_vec()));
                }
            }
            if let Some((_, k)) = first {
                self.table(DELIVERED)?.remove(k.as_slice())?;
            }
        }
        let mut bytes = until.to_be_bytes().to_vec();
        bytes.extend(ranges.iter().flat_map(|&(lo, hi)| [lo.to_be_bytes(), hi.to_be_bytes()]).flatten());
        self.table(DELIVERED)?.insert(&source[..], bytes.as_slice())?;
        Ok(())
    }

    /// Drops delivered ranges whose notices expired before `now_ms`.
    pub fn purge_delivered(&mut self, now_ms: u64) -> Result<(), StoreError> {
        let mut expired = false;
        for row in self.peek(DELIVERED)?.iter()? {
            expired |= delivered_expiry(row?.1.value()) < now_ms;
        }
        if expired {
            self.table(DELIVERED)?.retain(|_, v| delivered_expiry(v) >= now_ms)?;
        }
        Ok(())
    }

    /// Empties the custody answer queue (once its signals are sealed).
    pub fn clear_custody_outbox(&mut self) -> Result<(), StoreError> {
        if !self.peek(CUSTODY_OUT)?.is_empty()? {
            self.table(CUSTODY_OUT)?.retain(|_, _| false)?;
        }
        Ok(())
    }
}

/// Removes up to `max` entries of `by_digest` whose time key is before `before_ms`,
/// oldest first, from both tables.
fn purge_by_time(
    t: &mut Txn,
    by_digest: TableDefinition<&'static [u8], u64>,
    by_time: TableDefinition<&'static [u8], ()>,
    before_ms: u64,
    max: usize,
) -> Result<usize, StoreError> {
    let hi = time_key(before_ms, &[0; 32]);
    let mut gone: Vec<[u8; 40]> = Vec::new();
    for row in t.peek(by_time)?.range(..&hi[..])? {
        if gone.len() >= max {
            break;
        }
        let (k, _) = row?;
        if let Ok(k) = <[u8; 40]>::try_from(k.value()) {
            gone.push(k);
        }
    }
    if gone.is_empty() {
        return Ok(0);
    }
    let mut times = t.table(by_time)?;
    for k in &gone {
        times.remove(&k[..])?;
    }
    drop(times);
    let mut digests = t.table(by_digest)?;
    for k in &gone {
        digests.remove(&k[8..])?;
    }
    Ok(gone.len())
}

/// A `releases` row's key: release hash ‖ bundle digest.
fn release_key(release: &[u8; 32], digest: &[u8; 32]) -> [u8; 64] {
    let mut k = [0u8; 64];
    k[..32].copy_from_slice(release);
    k[32..].copy_from_slice(digest);
    k
}
