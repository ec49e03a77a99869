//! Upgrading a store written in an earlier format, in place, in one transaction.
//!
//! Format 3 kept bundles of wire version 2 (before the cloak) and no opener in
//! `bundle_meta`: the upgrade adds an empty opener and marks the store, and the node
//! cloaks its own bundles again before its next export (`node/legacy.rs`).
//!
//! Format 2 kept no payload place or kind in `bundle_meta` and no `custody_heads`: those
//! were read by parsing the stored bundle each time. The upgrade parses each stored bundle
//! once more, for the last time, and writes what it learned. A crash during the upgrade
//! leaves the store in format 2 (the transaction commits with the new format mark).

use super::*;
use crate::{bundle, envelope};

/// Upgrades a format 2 store to the current format. Returns how many bundles were dropped
/// as unreadable (damaged: a bundle is parsed before it is stored, so there should be none).
pub(super) fn from_format_2(store: &Store) -> Result<usize, StoreError> {
    let mut t = store.write()?;
    let rows: Vec<([u8; 32], Vec<u8>)> = {
        let table = t.tx.open_table(BUNDLE_META)?;
        let mut rows = Vec::new();
        for row in table.iter()? {
            let (k, v) = row?;
            let digest: [u8; 32] =
                k.value().try_into().map_err(|_| StoreError::Damaged("bundle metadata key".into()))?;
            rows.push((digest, v.value().to_vec()));
        }
        rows
    };
    let mut dropped = 0;
    for (digest, value) in rows {
        let meta = BundleMeta::decode_v2(&value)
            .ok_or_else(|| StoreError::Damaged(format!("bundle metadata of {}", hex(&digest))))?;
        match t.bundle(&digest)?.and_then(|bytes| placed(&bytes)) {
            Some((kind, at)) => t.set_bundle_meta(&digest, &BundleMeta { kind, payload_at: at, ..meta })?,
            None => {
                // `remove_bundle` reads the metadata in the current format.
                t.set_bundle_meta(&digest, &BundleMeta { payload_at: (0, 0), ..meta })?;
                tracing::warn!(bundle = %hex(&digest), "store upgrade: dropped a stored bundle that no longer parses");
                t.remove_bundle(&digest)?;
                dropped += 1;
            }
        }
    }
    // The heads each of our bundles in custody names, for what its takers then have.
    let custody: Vec<(u64, [u8; 32])> = {
        let table = t.tx.open_table(CUSTODY)?;
        let mut rows = Vec::new();
        for row in table.iter()? {
            let (k, v) = row?;
            if let Some(digest) = v.value().get(..32).and_then(|d| <[u8; 32]>::try_from(d).ok()) {
                rows.push((k.value(), digest));
            }
        }
        rows
    };
    for (seq, digest) in custody {
        let heads = t.bundle(&digest)?.and_then(|bytes| header_heads(&bytes)).unwrap_or_default();
        if !heads.is_empty() {
            t.put_custody_heads(seq, &heads)?;
        }
    }
    t.table(META)?.insert("format", STORE_FORMAT)?;
    mark_legacy(&mut t)?;
    t.commit()?;
    Ok(dropped)
}

/// Upgrades a format 3 store: each bundle's metadata gains its opener (none: every
/// stored bundle is of wire version 2, before the cloak), and the node is told to cloak
/// its own bundles again (`node/legacy.rs`).
pub(super) fn from_format_3(store: &Store) -> Result<(), StoreError> {
    let mut t = store.write()?;
    let rows: Vec<(Vec<u8>, Vec<u8>)> = {
        let table = t.tx.open_table(BUNDLE_META)?;
        let mut rows = Vec::new();
        for row in table.iter()? {
            let (k, v) = row?;
            rows.push((k.value().to_vec(), v.value().to_vec()));
        }
        rows
    };
    for (k, v) in rows {
        let meta =
            BundleMeta::decode_v3(&v).ok_or_else(|| StoreError::Damaged(format!("bundle metadata of {}", hex(&k))))?;
        t.table(BUNDLE_META)?.insert(&k[..], meta.encode().as_slice())?;
    }
    t.table(META)?.insert("format", STORE_FORMAT)?;
    mark_legacy(&mut t)?;
    t.commit()?;
    Ok(())
}

fn mark_legacy(t: &mut Txn) -> Result<(), StoreError> {
    if !t.tx.open_table(BUNDLE_META)?.is_empty()? {
        t.table(META)?.insert(LEGACY_BUNDLES_META, &b"1"[..])?;
    }
    Ok(())
}

/// A stored bundle's payload kind and place, as the import that stored it read them.
fn placed(bytes: &[u8]) -> Option<(PayloadKind, (u32, u32))> {
    let info = bundle::parse_untimed(bytes).ok()?;
    let at = (u32::try_from(info.payload.start).ok()?, u32::try_from(info.payload.len()).ok()?);
    if info.admin_record {
        return Some((PayloadKind::Record, at));
    }
    let env = envelope::decode_envelope(&bytes[info.payload]).ok()?;
    Some((env.header.kind.into(), at))
}

fn header_heads(bytes: &[u8]) -> Option<Vec<[u8; 32]>> {
    let info = bundle::parse_untimed(bytes).ok()?;
    let env = envelope::decode_envelope(bytes.get(info.payload)?).ok()?;
    Some(env.header.heads)
}

/// Fills the release index (table `releases`) of a store written before it existed, once
/// (`meta` key `release-index`).
pub(super) fn index_releases(store: &Store) -> Result<(), StoreError> {
    if store.read()?.meta("release-index")?.is_some() {
        return Ok(());
    }
    let mut t = store.write()?;
    for (digest, meta) in t.all_bundle_meta()? {
        if meta.release != [0; 32] {
            t.table(RELEASES)?.insert(&[&meta.release[..], &digest[..]].concat()[..], ())?;
        }
    }
    t.set_meta("release-index", b"1")?;
    t.commit()
}
