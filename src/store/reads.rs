//! Reading the store: the `Reads` trait over a read view or a write transaction, and the
//! fingerprint of everything kept.

use super::*;

/// A read-only snapshot.
pub struct View {
    pub(super) tx: redb::ReadTransaction,
    pub(super) keyring: Option<[u8; 32]>,
}

/// Bytes of a table key or value, for fingerprints.
pub(super) trait Fingerprinted {
    fn feed(&self, h: &mut blake3::Hasher);
}

impl Fingerprinted for &[u8] {
    fn feed(&self, h: &mut blake3::Hasher) {
        h.update(&(self.len() as u64).to_le_bytes());
        h.update(self);
    }
}

impl Fingerprinted for &str {
    fn feed(&self, h: &mut blake3::Hasher) {
        self.as_bytes().feed(h);
    }
}

impl Fingerprinted for u64 {
    fn feed(&self, h: &mut blake3::Hasher) {
        h.update(&self.to_le_bytes());
    }
}

impl Fingerprinted for () {
    fn feed(&self, _: &mut blake3::Hasher) {}
}

impl View {
    /// A digest of every table but the memory of refused input (`refused`,
    /// `refused_by_time`): two equal fingerprints mean the node keeps exactly the same
    /// bundles, documents, keys, contacts, custody records and everything else.
    pub fn fingerprint(&self) -> Result<[u8; 32], StoreError> {
        let mut h = blake3::Hasher::new();
        macro_rules! feed {
            ($($t:ident),*) => {$(
                h.update(stringify!($t).as_bytes());
                for row in self.tx.open_table($t)?.iter()? {
                    let (k, v) = row?;
                    k.value().feed(&mut h);
                    v.value().feed(&mut h);
                }
            )*};
        }
        feed!(
            BUNDLES,
            BUNDLE_PARTS,
            BUNDLE_META,
            CHANGE_BUNDLE,
            DOC_CHUNKS,
            DOC_CHUNK_PARTS,
            PENDING,
            WAITING_KEY,
            PEER_HEADS,
            GRANTS,
            INVITES,
            CONTACTS,
            SEALED,
            META,
            ANNOUNCED,
            CUSTODY,
            CUSTODY_OUT,
            DELIVERED,
            FORGOTTEN,
            FORGOTTEN_BY_TIME,
            BUNDLE_IDS,
            PEER_ANNOUNCEMENTS,
            PAYLOADS
        );
        Ok(*h.finalize().as_bytes())
    }
}

/// Our latest sealed bundle of a document and the heads it announced.
pub type Sealed = ([u8; 32], Vec<[u8; 32]>);

/// A stored contact: node id, audience bits, contact card bytes.
pub type ContactRow = (String, u8, Vec<u8>);

/// Read operations shared by [`View`] and [`Txn`].
pub trait Reads {
    /// Raw bytes of a stored bundle.
    fn bundle(&self, digest: &[u8; 32]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Raw bytes of stored bundles, in the order asked.
    fn bundles(&self, digests: &[[u8; 32]]) -> Result<Vec<Option<Vec<u8>>>, StoreError>;
    /// Metadata of a stored bundle.
    fn bundle_meta(&self, digest: &[u8; 32]) -> Result<Option<BundleMeta>, StoreError>;
    /// Every stored bundle's digest and metadata.
    fn all_bundle_meta(&self) -> Result<Vec<([u8; 32], BundleMeta)>, StoreError>;
    /// The custody id of the first verified bundle that carried a change.
    fn change_bundle(&self, change: &[u8; 32]) -> Result<Option<BundleId>, StoreError>;
    /// The stored, verified bundle with this custody id.
    fn bundle_by_id(&self, id: &BundleId) -> Result<Option<[u8; 32]>, StoreError>;
    /// The stored bundle whose payload has this digest.
    fn bundle_by_payload(&self, payload: &[u8; 32]) -> Result<Option<[u8; 32]>, StoreError>;
    /// Whether a bundle with this digest was refused for a permanent reason.
    fn refused(&self, digest: &[u8; 32]) -> Result<bool, StoreError>;
    /// All chunks of a document, in order.
    fn doc_chunks(&self, doc: &str) -> Result<Vec<(u64, Vec<u8>)>, StoreError>;
    /// Names of all documents with content.
    fn doc_ids(&self) -> Result<Vec<String>, StoreError>;
    /// A document's heads as last stored (`None`: not recorded, load the document).
    fn doc_heads(&self, doc: &str) -> Result<Option<Vec<[u8; 32]>>, StoreError>;
    /// Pending (dependency-waiting) change sets of a document.
    fn pending(&self, doc: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
    /// Bundles waiting for `scope#epoch`.
    fn waiting_for_key(&self, scope_epoch: &str) -> Result<Vec<[u8; 32]>, StoreError>;
    /// Heads `node` is known to have of `doc`.
    fn peer_heads(&self, node: &str, doc: &str) -> Result<Vec<[u8; 32]>, StoreError>;
    /// The changes our bundle `seq` in custody carries (empty if not recorded).
    fn custody_changes(&self, seq: u64) -> Result<Vec<[u8; 32]>, StoreError>;
    /// The heads our bundle `seq` in custody names in its header (empty if none).
    fn custody_heads(&self, seq: u64) -> Result<Vec<[u8; 32]>, StoreError>;
    /// An accepted grant.
    fn grant(&self, scope_epoch: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// All accepted grants.
    fn grants(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
    /// All invitations waiting for consent.
    fn invites(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
    /// All contacts: node id, audience bits, card bytes.
    fn contacts(&self) -> Result<Vec<ContactRow>, StoreError>;
    /// Our last sealed bundle of `doc` and its heads.
    fn sealed(&self, doc: &str) -> Result<Option<Sealed>, StoreError>;
    /// A small setting.
    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Every setting whose key starts with `prefix`.
    fn meta_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
    /// Whether our announcement `digest` was already exported to `target`.
    fn announced(&self, target: &str, doc: &str) -> Result<Option<[u8; 32]>, StoreError>;
    /// Carrier copies we may hand on, by digest of the bundle we carry.
    fn carrier_copies(&self) -> Result<Vec<([u8; 32], u32)>, StoreError>;
    /// Carrier copies we may hand on for one bundle we carry (0: none).
    fn carrier_copies_of(&self, digest: &[u8; 32]) -> Result<u32, StoreError>;
    /// Custody records of our bundles (we are `me`), by sequence number, in order. A row
    /// that does not decode is skipped.
    fn custody_records(&self, me: NodeId) -> Result<Vec<CustodyRow>, StoreError>;
    /// Custody answers waiting to be sent, as (custodian, disposition code, sequence).
    fn custody_outbox(&self) -> Result<Vec<([u8; 20], u8, u64)>, StoreError>;
    /// Ranges of `source`'s bundles it declared delivered.
    fn delivered(&self, source: &[u8; 20]) -> Result<Vec<(u64, u64)>, StoreError>;
    /// Whether a bundle (or payload) digest was forgotten: dropped as delivered, consumed.
    fn forgotten(&self, digest: &[u8; 32]) -> Result<bool, StoreError>;
    /// Every digest forgotten, bundles' and payloads' alike.
    fn all_forgotten(&self) -> Result<Vec<[u8; 32]>, StoreError>;
    /// The latest heads announcement stored from `node|doc`: its sequence and digest.
    fn latest_announcement(&self, key: &str) -> Result<Option<(u64, [u8; 32])>, StoreError>;
    /// The latest heads announcement stored from each `node|doc`: key, sequence, digest.
    fn announcements(&self) -> Result<Vec<(String, u64, [u8; 32])>, StoreError>;
    /// Verified bundles stored with custody ids of `source` in `lo..=hi`.
    fn bundle_ids(&self, source: &[u8; 20], lo: u64, hi: u64) -> Result<Vec<(u64, [u8; 32])>, StoreError>;
}

/// Key of part `index` of a bundle: digest ‖ index (be32), so a bundle's parts are
/// adjacent and in order.
pub(super) fn part_key(digest: &[u8; 32], index: u32) -> [u8; 36] {
    let mut k = [0u8; 36];
    k[..32].copy_from_slice(digest);
    k[32..].copy_from_slice(&index.to_be_bytes());
    k
}

/// A bundle kept in parts, whole: sized from its last part, then each part copied once.
pub(super) fn read_parts(
    parts: &impl ReadableTable<&'static [u8], &'static [u8]>,
    digest: &[u8; 32],
) -> Result<Vec<u8>, StoreError> {
    let (lo, hi) = (part_key(digest, 0), part_key(digest, u32::MAX));
    let total = match parts.range(&lo[..]..=&hi[..])?.next_back() {
        Some(row) => {
            let (k, v) = row?;
            part_index(k.value()) as usize * BUNDLE_PART_BYTES + v.value().len()
        }
        None => return Err(StoreError::Damaged("bundle: its parts are missing".into())),
    };
    let mut out = Vec::with_capacity(total);
    for (i, row) in parts.range(&lo[..]..=&hi[..])?.enumerate() {
        let (k, v) = row?;
        if part_index(k.value()) as usize != i {
            return Err(StoreError::Damaged("bundle: a part is missing".into()));
        }
        out.extend_from_slice(v.value());
    }
    Ok(out)
}

pub(super) fn part_index(key: &[u8]) -> u32 {
    key.get(32..36).and_then(|b| b.try_into().ok()).map(u32::from_be_bytes).unwrap_or(u32::MAX)
}

/// A grant value as stored: sealed under the keyring if there is one.
pub(super) fn seal(keyring: Option<&[u8; 32]>, table_key: &str, value: &[u8]) -> Vec<u8> {
    match keyring {
        Some(k) => crate::keystore::seal_value(k, table_key.as_bytes(), value),
        None => value.to_vec(),
    }
}

/// A grant value as read: opened with the keyring if it is sealed.
pub(super) fn unseal(keyring: Option<&[u8; 32]>, table_key: &str, value: &[u8]) -> Result<Vec<u8>, StoreError> {
    crate::keystore::open_value(keyring, table_key.as_bytes(), value)
        .map_err(|e| StoreError::Damaged(format!("sealed key: {e}")))
}

/// When a `delivered` row may go: its first 8 bytes (be64 ms).
pub(super) fn delivered_expiry(v: &[u8]) -> u64 {
    v.get(..8).and_then(|b| b.try_into().ok()).map_or(0, u64::from_be_bytes)
}

pub(super) fn split_id(b: &[u8]) -> Option<BundleId> {
    let source = NodeId(b.get(..20)?.try_into().ok()?);
    let seq = u64::from_be_bytes(b.get(20..28)?.try_into().ok()?);
    (b.len() == 28).then_some(BundleId { source, seq })
}

/// Key of a time-ordered table: expiry (be64) ‖ digest.
pub(super) fn time_key(expires_ms: u64, digest: &[u8; 32]) -> [u8; 40] {
    let mut k = [0u8; 40];
    k[..8].copy_from_slice(&expires_ms.to_be_bytes());
    k[8..].copy_from_slice(digest);
    k
}

pub(super) fn id_key(source: &[u8; 20], seq: u64) -> [u8; 28] {
    let mut k = [0u8; 28];
    k[..20].copy_from_slice(source);
    k[20..].copy_from_slice(&seq.to_be_bytes());
    k
}

macro_rules! impl_reads {
    ($t:ty) => {
        impl Reads for $t {
            fn bundle(&self, digest: &[u8; 32]) -> Result<Option<Vec<u8>>, StoreError> {
                let Some(v) = self.tx.open_table(BUNDLES)?.get(&digest[..])?.map(|v| v.value().to_vec()) else {
                    return Ok(None);
                };
                if !v.is_empty() {
                    return Ok(Some(v));
                }
                Ok(Some(read_parts(&self.tx.open_table(BUNDLE_PARTS)?, digest)?))
            }
            fn bundles(&self, digests: &[[u8; 32]]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
                let whole = self.tx.open_table(BUNDLES)?;
                let parts = self.tx.open_table(BUNDLE_PARTS)?;
                // In key order: each leaf is read once and the branch pages stay cached,
                // whatever the cache size; answers go back in the order asked.
                let mut order: Vec<usize> = (0..digests.len()).collect();
                order.sort_unstable_by_key(|&i| digests[i]);
                let mut out = vec![None; digests.len()];
                for i in order {
                    let digest = &digests[i];
                    let Some(v) = whole.get(&digest[..])?.map(|v| v.value().to_vec()) else { continue };
                    out[i] = Some(if v.is_empty() { read_parts(&parts, digest)? } else { v });
                }
                Ok(out)
            }
            fn bundle_meta(&self, digest: &[u8; 32]) -> Result<Option<BundleMeta>, StoreError> {
                let t = self.tx.open_table(BUNDLE_META)?;
                let v = t.get(&digest[..])?;
                match v {
                    None => Ok(None),
                    Some(v) => BundleMeta::decode(v.value())
                        .map(Some)
                        .ok_or_else(|| StoreError::Damaged("bundle metadata".into())),
                }
            }
            fn all_bundle_meta(&self) -> Result<Vec<([u8; 32], BundleMeta)>, StoreError> {
                let t = self.tx.open_table(BUNDLE_META)?;
                let mut out = Vec::new();
                for row in t.iter()? {
                    let (k, v) = row?;
                    let digest: [u8; 32] =
                        k.value().try_into().map_err(|_| StoreError::Damaged("bundle key".into()))?;
                    let meta =
                        BundleMeta::decode(v.value()).ok_or_else(|| StoreError::Damaged("bundle metadata".into()))?;
                    out.push((digest, meta));
                }
                Ok(out)
            }
            fn change_bundle(&self, change: &[u8; 32]) -> Result<Option<BundleId>, StoreError> {
                let t = self.tx.open_table(CHANGE_BUNDLE)?;
                let v = t.get(&change[..])?;
                Ok(v.and_then(|v| split_id(v.value())))
            }
            fn bundle_by_id(&self, id: &BundleId) -> Result<Option<[u8; 32]>, StoreError> {
                let t = self.tx.open_table(BUNDLE_IDS)?;
                let v = t.get(&id_key(&id.source.0, id.seq)[..])?;
                Ok(v.and_then(|v| v.value().try_into().ok()))
            }
            fn bundle_by_payload(&self, payload: &[u8; 32]) -> Result<Option<[u8; 32]>, StoreError> {
                let t = self.tx.open_table(PAYLOADS)?;
                let v = t.get(&payload[..])?;
                Ok(v.and_then(|v| v.value().try_into().ok()))
            }
            fn refused(&self, digest: &[u8; 32]) -> Result<bool, StoreError> {
                Ok(self.tx.open_table(REFUSED)?.get(&digest[..])?.is_some())
            }
            fn doc_chunks(&self, doc: &str) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
                let t = self.tx.open_table(DOC_CHUNKS)?;
                let parts = self.tx.open_table(DOC_CHUNK_PARTS)?;
                let lo = format!("{doc}|");
                let hi = format!("{doc}}}");
                let mut out = Vec::new();
                for row in t.range(lo.as_str()..hi.as_str())? {
                    let (k, v) = row?;
                    let seq = k.value().rsplit('|').next().and_then(|s| u64::from_str_radix(s, 16).ok());
                    let seq = seq.ok_or_else(|| StoreError::Damaged("document chunk key".into()))?;
                    if !v.value().is_empty() {
                        out.push((seq, v.value().to_vec()));
                        continue;
                    }
                    // Kept in parts (no chunk is empty): `<doc>|<seq>|<part>`, in order.
                    let prefix = format!("{}|", k.value());
                    let mut whole = Vec::new();
                    for (i, row) in parts.range(prefix.as_str()..)?.enumerate() {
                        let (pk, pv) = row?;
                        let Some(index) = pk.value().strip_prefix(prefix.as_str()) else { break };
                        if u32::from_str_radix(index, 16).ok() != u32::try_from(i).ok() {
                            return Err(StoreError::Damaged(format!(
                                "document chunk {}: a part is missing",
                                k.value()
                            )));
                        }
                        whole.extend_from_slice(pv.value());
                    }
                    if whole.is_empty() {
                        return Err(StoreError::Damaged(format!(
                            "document chunk {}: its parts are missing",
                            k.value()
                        )));
                    }
                    out.push((seq, whole));
                }
                Ok(out)
            }
            fn doc_heads(&self, doc: &str) -> Result<Option<Vec<[u8; 32]>>, StoreError> {
                let t = self.tx.open_table(DOC_HEADS)?;
                Ok(t.get(doc)?.map(|v| split_heads(v.value())))
            }
            fn doc_ids(&self) -> Result<Vec<String>, StoreError> {
                let t = self.tx.open_table(DOC_CHUNKS)?;
                let mut out: Vec<String> = Vec::new();
                for row in t.iter()? {
                    let (k, _) = row?;
                    if let Some((doc, _)) = k.value().rsplit_once('|') {
                        if out.last().map(String::as_str) != Some(doc) {
                            out.push(doc.to_string());
                        }
                    }
                }
                Ok(out)
            }
            fn pending(&self, doc: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
                prefix_rows(&self.tx.open_table(PENDING)?, &format!("{doc}|"))
            }
            fn waiting_for_key(&self, scope_epoch: &str) -> Result<Vec<[u8; 32]>, StoreError> {
                let t = self.tx.open_table(WAITING_KEY)?;
                let lo = format!("{scope_epoch}|");
                let mut out = Vec::new();
                for row in t.range(lo.as_str()..)? {
                    let (k, _) = row?;
                    let Some(rest) = k.value().strip_prefix(lo.as_str()) else { break };
                    let bytes = data_encoding::HEXLOWER
                        .decode(rest.as_bytes())
                        .map_err(|_| StoreError::Damaged("waiting key".into()))?;
                    out.push(bytes.try_into().map_err(|_| StoreError::Damaged("waiting key".into()))?);
                }
                Ok(out)
            }
            fn custody_changes(&self, seq: u64) -> Result<Vec<[u8; 32]>, StoreError> {
                let t = self.tx.open_table(CUSTODY_CHANGES)?;
                Ok(t.get(seq)?.map(|v| split_heads(v.value())).unwrap_or_default())
            }
            fn custody_heads(&self, seq: u64) -> Result<Vec<[u8; 32]>, StoreError> {
                let t = self.tx.open_table(CUSTODY_HEADS)?;
                Ok(t.get(seq)?.map(|v| split_heads(v.value())).unwrap_or_default())
            }
            fn peer_heads(&self, node: &str, doc: &str) -> Result<Vec<[u8; 32]>, StoreError> {
                let t = self.tx.open_table(PEER_HEADS)?;
                let v = t.get(format!("{node}|{doc}").as_str())?;
                Ok(v.map(|v| split_heads(v.value())).unwrap_or_default())
            }
            fn grant(&self, scope_epoch: &str) -> Result<Option<Vec<u8>>, StoreError> {
                let v = self.tx.open_table(GRANTS)?.get(scope_epoch)?.map(|v| v.value().to_vec());
                v.map(|v| unseal(self.keyring.as_ref(), scope_epoch, &v)).transpose()
            }
            fn grants(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
                prefix_rows(&self.tx.open_table(GRANTS)?, "")?
                    .into_iter()
                    .map(|(k, v)| Ok((k.clone(), unseal(self.keyring.as_ref(), &k, &v)?)))
                    .collect()
            }
            fn invites(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
                prefix_rows(&self.tx.open_table(INVITES)?, "")?
                    .into_iter()
                    .map(|(k, v)| Ok((k.clone(), unseal(self.keyring.as_ref(), &k, &v)?)))
                    .collect()
            }
            fn contacts(&self) -> Result<Vec<ContactRow>, StoreError> {
                Ok(prefix_rows(&self.tx.open_table(CONTACTS)?, "")?
                    .into_iter()
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(k, v)| (k, v[0], v[1..].to_vec()))
                    .collect())
            }
            fn sealed(&self, doc: &str) -> Result<Option<Sealed>, StoreError> {
                let t = self.tx.open_table(SEALED)?;
                let v = t.get(doc)?;
                Ok(v.and_then(|v| {
                    let b = v.value();
                    let digest: [u8; 32] = b.get(..32)?.try_into().ok()?;
                    Some((digest, split_heads(&b[32..])))
                }))
            }
            fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
                Ok(self.tx.open_table(META)?.get(key)?.map(|v| v.value().to_vec()))
            }
            fn meta_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
                prefix_rows(&self.tx.open_table(META)?, prefix)
            }
            fn announced(&self, target: &str, doc: &str) -> Result<Option<[u8; 32]>, StoreError> {
                let t = self.tx.open_table(ANNOUNCED)?;
                let v = t.get(format!("{target}|{doc}").as_str())?;
                Ok(v.and_then(|v| v.value().try_into().ok()))
            }
            fn carrier_copies(&self) -> Result<Vec<([u8; 32], u32)>, StoreError> {
                let t = self.tx.open_table(CARRIER_COPIES)?;
                let mut out = Vec::new();
                for row in t.iter()? {
                    let (k, v) = row?;
                    if let Ok(d) = <[u8; 32]>::try_from(k.value()) {
                        out.push((d, v.value()));
                    }
                }
                Ok(out)
            }
            fn carrier_copies_of(&self, digest: &[u8; 32]) -> Result<u32, StoreError> {
                Ok(self.tx.open_table(CARRIER_COPIES)?.get(&digest[..])?.map_or(0, |v| v.value()))
            }
            fn custody_records(&self, me: NodeId) -> Result<Vec<CustodyRow>, StoreError> {
                let t = self.tx.open_table(CUSTODY)?;
                let mut out = Vec::new();
                for row in t.iter()? {
                    let (k, v) = row?;
                    let v = v.value();
                    let Some((digest, record)) = v.split_at_checked(32) else { continue };
                    let (Ok(digest), Ok(record)) = (digest.try_into(), Record::from_bytes(me, record)) else {
                        continue;
                    };
                    out.push(CustodyRow { seq: k.value(), digest, record });
                }
                Ok(out)
            }
            fn announcements(&self) -> Result<Vec<(String, u64, [u8; 32])>, StoreError> {
                let t = self.tx.open_table(PEER_ANNOUNCEMENTS)?;
                let mut out = Vec::new();
                for row in t.iter()? {
                    let (k, v) = row?;
                    let v = v.value();
                    let seq = v.get(..8).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes);
                    let digest: Option<[u8; 32]> = v.get(8..40).and_then(|b| b.try_into().ok());
                    if let (Some(seq), Some(digest)) = (seq, digest) {
                        out.push((k.value().to_string(), seq, digest));
                    }
                }
                Ok(out)
            }
            fn latest_announcement(&self, key: &str) -> Result<Option<(u64, [u8; 32])>, StoreError> {
                let t = self.tx.open_table(PEER_ANNOUNCEMENTS)?;
                let Some(v) = t.get(key)? else { return Ok(None) };
                let v = v.value();
                let seq = v.get(..8).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes);
                let digest: Option<[u8; 32]> = v.get(8..40).and_then(|b| b.try_into().ok());
                Ok(seq.zip(digest))
            }
            fn bundle_ids(&self, source: &[u8; 20], lo: u64, hi: u64) -> Result<Vec<(u64, [u8; 32])>, StoreError> {
                let t = self.tx.open_table(BUNDLE_IDS)?;
                let (from, to) = (id_key(source, lo), id_key(source, hi));
                let mut out = Vec::new();
                for row in t.range(&from[..]..=&to[..])? {
                    let (k, v) = row?;
                    let seq = k.value().get(20..28).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes);
                    let digest: Option<[u8; 32]> = v.value().try_into().ok();
                    if let (Some(seq), Some(digest)) = (seq, digest) {
                        out.push((seq, digest));
                    }
                }
                Ok(out)
            }
            fn forgotten(&self, digest: &[u8; 32]) -> Result<bool, StoreError> {
                Ok(self.tx.open_table(FORGOTTEN)?.get(&digest[..])?.is_some())
            }
            fn all_forgotten(&self) -> Result<Vec<[u8; 32]>, StoreError> {
                let t = self.tx.open_table(FORGOTTEN)?;
                let mut out = Vec::new();
                for row in t.iter()? {
                    let (k, _) = row?;
                    if let Ok(d) = <[u8; 32]>::try_from(k.value()) {
                        out.push(d);
                    }
                }
                Ok(out)
            }
            fn delivered(&self, source: &[u8; 20]) -> Result<Vec<(u64, u64)>, StoreError> {
                let t = self.tx.open_table(DELIVERED)?;
                let Some(v) = t.get(&source[..])? else { return Ok(Vec::new()) };
                Ok(v.value()
                    .get(8..)
                    .unwrap_or_default()
                    .chunks_exact(16)
                    .map(|c| {
                        let (lo, hi) = c.split_at(8);
                        (
                            u64::from_be_bytes(lo.try_into().unwrap_or_default()),
                            u64::from_be_bytes(hi.try_into().unwrap_or_default()),
                        )
                    })
                    .collect())
            }
            fn custody_outbox(&self) -> Result<Vec<([u8; 20], u8, u64)>, StoreError> {
                let t = self.tx.open_table(CUSTODY_OUT)?;
                let mut out = Vec::new();
                for row in t.iter()? {
                    let (k, _) = row?;
                    let k = k.value();
                    let bad = || StoreError::Damaged("custody answer key".into());
                    let custodian: [u8; 20] = k.get(..20).and_then(|b| b.try_into().ok()).ok_or_else(bad)?;
                    let code = *k.get(20).ok_or_else(bad)?;
                    let seq = u64::from_be_bytes(k.get(21..29).and_then(|b| b.try_into().ok()).ok_or_else(bad)?);
                    out.push((custodian, code, seq));
                }
                Ok(out)
            }
        }
    };
}

pub(super) fn prefix_rows<T: ReadableTable<&'static str, &'static [u8]>>(
    t: &T,
    prefix: &str,
) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    let mut out = Vec::new();
    for row in t.range(prefix..)? {
        let (k, v) = row?;
        let key = k.value();
        if !key.starts_with(prefix) {
            break;
        }
        out.push((key.to_string(), v.value().to_vec()));
    }
    Ok(out)
}

impl_reads!(View);
impl_reads!(Txn);
