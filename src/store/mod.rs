//! Persistent state: one redb database per node. The only module that touches redb.
//!
//! Every operation that takes in outside data runs inside one [`Txn`], committed
//! durably at the end: a crash at any instant leaves the last committed state.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use crate::custody::{BundleId, Record};
use crate::identity::NodeId;
use crate::limits::{DELIVERED_SOURCES_MAX, REFUSED_COUNT_MAX};

pub use crate::limits::{CACHE_BYTES, DAEMON_CACHE_BYTES};

/// Raw bundle bytes by digest.
const BUNDLES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("bundles");
/// Bundle metadata (see [`BundleMeta`]) by digest.
/// Parts of bundles too large to keep in one value (see [`BUNDLE_PART_BYTES`]).
const BUNDLE_PARTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("bundle_parts");
/// redb keeps each value inside one leaf page, and pages come in powers of two: a 16 MiB
/// bundle took a 32 MiB page, and every insert beside it read and rewrote that page. A
/// bundle larger than this is stored as parts of at most this many bytes, each filling
/// one 64 KiB leaf (the rest is the leaf's header, offsets and the 36-byte key).
pub const BUNDLE_PART_BYTES: usize = 65_536 - 128;
const BUNDLE_META: TableDefinition<&[u8], &[u8]> = TableDefinition::new("bundle_meta");
/// Which bundle carries an Automerge change, by change hash: the custody id (author ‖
/// sequence, be64) of the first verified bundle that carried it. A renewed bundle keeps
/// its id, so the index never moves.
const CHANGE_BUNDLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("change_bundle");
/// Stored bundles by payload digest (what the author signed, without the BPv7 primary
/// block): a re-wrapped copy of a bundle held is a duplicate.
const PAYLOADS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("payloads");
/// Bundles refused for a permanent reason: digest -> when the entry may go (ms).
const REFUSED: TableDefinition<&[u8], u64> = TableDefinition::new("refused");
/// The same entries by time (expiry be64 ‖ digest), so the oldest go first.
const REFUSED_BY_TIME: TableDefinition<&[u8], ()> = TableDefinition::new("refused_by_time");
/// Forgotten digests by time (expiry be64 ‖ digest), for purging.
const FORGOTTEN_BY_TIME: TableDefinition<&[u8], ()> = TableDefinition::new("forgotten_by_time");
/// Document content: `doc|seq(16 hex)` -> saved document or incremental changes.
const DOC_CHUNKS: TableDefinition<&str, &[u8]> = TableDefinition::new("doc_chunks");
/// Parts of document chunks too large for one value, as for bundles.
const DOC_CHUNK_PARTS: TableDefinition<&str, &[u8]> = TableDefinition::new("doc_chunk_parts");
/// Most bytes of one part of a document chunk (its key is longer than a bundle part's).
pub const DOC_PART_BYTES: usize = 65_536 - 512;
/// A document's current heads: doc -> concatenated 32-byte heads, written with each new
/// chunk, so deciding whether there is anything to seal or snapshot needs no load.
const DOC_HEADS: TableDefinition<&str, &[u8]> = TableDefinition::new("doc_heads");
/// Verified changes waiting for their dependencies: `doc|digest hex` -> raw changes.
const PENDING: TableDefinition<&str, &[u8]> = TableDefinition::new("pending_changes");
/// Bundles waiting for a key: `scope#epoch|digest hex` -> ().
const WAITING_KEY: TableDefinition<&str, ()> = TableDefinition::new("waiting_key");
/// Heads a peer is known to have: `node|doc` -> concatenated 32-byte heads.
const PEER_HEADS: TableDefinition<&str, &[u8]> = TableDefinition::new("peer_heads");
/// Keys held (accepted grants, our own included): `scope#epoch` -> encoded grant.
const GRANTS: TableDefinition<&str, &[u8]> = TableDefinition::new("grants");
/// Invitations waiting for consent: digest hex -> encoded grant.
const INVITES: TableDefinition<&str, &[u8]> = TableDefinition::new("invites");
/// Contacts: node id -> audience bits (1 byte) || contact card bytes.
const CONTACTS: TableDefinition<&str, &[u8]> = TableDefinition::new("contacts");
/// Our last sealed bundle per document: doc -> digest(32) || concatenated heads.
const SEALED: TableDefinition<&str, &[u8]> = TableDefinition::new("sealed");
/// Announcements already handed to an export for a target: `target|digest hex` -> ().
const ANNOUNCED: TableDefinition<&str, &[u8]> = TableDefinition::new("announced");
/// The latest heads announcement from a peer: `node|doc` -> sequence (8 BE) || digest(32).
const PEER_ANNOUNCEMENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("peer_announcements");
/// Verified stored bundles by custody id: author node(20) || sequence (8 BE) -> digest(32).
const BUNDLE_IDS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("bundle_ids");
/// Bundles of ours in our custody: sequence number -> digest(32) || encoded `custody::Record`.
const CUSTODY: TableDefinition<u64, &[u8]> = TableDefinition::new("custody");
/// The changes each of our bundles in custody carries: sequence -> 32-byte change hashes,
/// concatenated. A destination whose own signed heads cover them all holds the bundle's
/// content, however it came (`custody::deliverable`).
const CUSTODY_CHANGES: TableDefinition<u64, &[u8]> = TableDefinition::new("custody_changes");
/// The heads our bundle in custody names in its signed header: sequence -> 32-byte heads,
/// concatenated. What a destination that takes it is then known to have (`learn_heads`).
const CUSTODY_HEADS: TableDefinition<u64, &[u8]> = TableDefinition::new("custody_heads");
/// Custody answers to send: custodian(20) || disposition(1) || sequence(8 BE) -> ().
const CUSTODY_OUT: TableDefinition<&[u8], ()> = TableDefinition::new("custody_out");
/// Bundles their authors declared delivered: source(20) -> until when the row is kept
/// (be64 ms), then inclusive ranges of custody sequence numbers, as pairs of u64 BE.
/// Carried copies of these are not taken again.
const DELIVERED: TableDefinition<&[u8], &[u8]> = TableDefinition::new("delivered");
/// Carrier copies of bundles this node carries for others that it may hand on to other
/// carriers (the routing strategy's budget, as a live link handed them over):
/// bundle digest(32) -> copies. Goes with the bundle.
const CARRIER_COPIES: TableDefinition<&[u8], u32> = TableDefinition::new("carrier_copies");

/// Stored bundles by release hash (`spec/custody.md`): release(32) || digest(32) -> (), so
/// a release list finds what it releases without reading the whole catalog.
const RELEASES: TableDefinition<&[u8], ()> = TableDefinition::new("releases");

/// Digests (of bundles and of their payloads) dropped as delivered or consumed: known, so
/// never taken again, until the bundle could no longer arrive (its expiry, ms).
const FORGOTTEN: TableDefinition<&[u8], u64> = TableDefinition::new("forgotten");
/// The store format this code writes (`meta` key `format`). A store without it that holds
/// bundles was written before custody ids were signed, and is refused.
pub const STORE_FORMAT: &[u8] = b"4";
/// Earlier formats, upgraded in place at open (`upgrade.rs`).
const STORE_FORMAT_2: &[u8] = b"2";
const STORE_FORMAT_3: &[u8] = b"3";
/// Settings key an upgrade sets when it kept bundles of wire version 2 (before the
/// cloak): the node cloaks its own again and drops the rest (`node/legacy.rs`).
pub const LEGACY_BUNDLES_META: &str = "legacy-bundles";
/// Small settings: display name, bundle sequence counter.
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// One of our bundles in custody, as the store keeps it (`custody` table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustodyRow {
    /// Our custody sequence number (signed in the bundle's header).
    pub seq: u64,
    /// The digest of the stored bundle that carries it now (a renewal replaces it).
    pub digest: [u8; 32],
    /// Its custody record.
    pub record: Record,
}

/// A local storage failure (disk, database file). Never caused by a peer's data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database failed (disk, lock, damage it detected), as redb reported it.
    #[error("store: {0}")]
    Database(#[from] redb::Error),
    /// The database file could not be opened or created.
    #[error("store: {path}: {source}")]
    Open {
        /// The file.
        path: std::path::PathBuf,
        /// Why, as redb reported it (for example another process holds it).
        #[source]
        source: redb::DatabaseError,
    },
    /// Another process has the database open (redb allows one at a time).
    #[error("store: {0} is in use by another process")]
    InUse(std::path::PathBuf),
    /// A stored value is not what this version writes (damaged, or a sealed key the
    /// node's passphrase does not open).
    #[error("store: damaged {0}")]
    Damaged(String),
    /// The file was written in a format this version does not read.
    #[error("store: {0}")]
    Format(String),
    /// A value too large for the store's layout.
    #[error("store: {0}")]
    TooLarge(&'static str),
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self { StoreError::Database(e.into()) }
        }
    )*};
}
from_redb!(redb::DatabaseError, redb::TransactionError, redb::TableError, redb::StorageError, redb::CommitError);

/// Lower-case hex of a digest, for composite string keys.
pub fn hex(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(bytes)
}

fn join_heads(heads: &[[u8; 32]]) -> Vec<u8> {
    heads.concat()
}

fn split_heads(b: &[u8]) -> Vec<[u8; 32]> {
    b.chunks_exact(32).map(|c| c.try_into().expect("chunk of 32")).collect()
}

/// The node's database.
pub struct Store {
    db: Database,
    /// Seals the grants (they hold keys) when the node's keys are under a passphrase.
    keyring: Option<[u8; 32]>,
    /// Durable commits since the store was opened.
    commits: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Store {
    /// Opens (or creates) the database file and its tables.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with_cache(path, CACHE_BYTES)
    }

    /// [`Store::open`] with a page cache of `cache_bytes`.
    pub fn open_with_cache(path: &Path, cache_bytes: usize) -> Result<Self, StoreError> {
        // redb's default cache is 1 GiB; a daemon moving large bundles would fill it.
        let db = redb::Builder::new().set_cache_size(cache_bytes).create(path).map_err(|source| match source {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::InUse(path.to_path_buf()),
            source => StoreError::Open { path: path.to_path_buf(), source },
        })?;
        Self::with_db(db, path)
    }

    /// A store in memory only (redb's in-memory backend): for simulations of many nodes.
    pub fn in_memory() -> Result<Self, StoreError> {
        let db = redb::Builder::new()
            .set_cache_size(4 << 20)
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(|source| StoreError::Open { path: "<memory>".into(), source })?;
        Self::with_db(db, Path::new("<memory>"))
    }

    fn with_db(db: Database, path: &Path) -> Result<Self, StoreError> {
        // Create missing tables, without writing to a store that has them all: opening a
        // node must not touch its file.
        macro_rules! all_tables_exist {
            ($($t:ident),*) => {{
                let r = db.begin_read()?;
                true $(&& r.open_table($t).is_ok())*
            }};
        }
        macro_rules! create_all_tables {
            ($($t:ident),*) => {{
                let tx = db.begin_write()?;
                $(tx.open_table($t)?;)*
                tx.commit()?;
            }};
        }
        macro_rules! with_tables {
            ($m:ident) => {
                $m!(
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
                    BUNDLE_IDS,
                    PEER_ANNOUNCEMENTS,
                    PAYLOADS,
                    REFUSED,
                    REFUSED_BY_TIME,
                    FORGOTTEN_BY_TIME,
                    CARRIER_COPIES,
                    CUSTODY_CHANGES,
                    CUSTODY_HEADS,
                    DOC_HEADS,
                    RELEASES
                )
            };
        }
        // A store from before signed custody ids holds bundles and no format mark: its
        // records would be read wrongly, so it is refused with a clear message.
        let upgrade = {
            let r = db.begin_read()?;
            let format = match r.open_table(META) {
                Ok(t) => t.get("format")?.map(|v| v.value().to_vec()),
                Err(_) => None,
            };
            let has_bundles = match r.open_table(BUNDLE_META) {
                Ok(t) => !t.is_empty()?,
                Err(_) => false,
            };
            match format {
                Some(f) if f == STORE_FORMAT => None,
                Some(f) if f == STORE_FORMAT_2 => Some(2),
                Some(f) if f == STORE_FORMAT_3 => Some(3),
                Some(f) => {
                    return Err(StoreError::Format(format!(
                        "{}: store format {} is not supported (this version reads format {})",
                        path.display(),
                        String::from_utf8_lossy(&f),
                        String::from_utf8_lossy(STORE_FORMAT)
                    )));
                }
                None if has_bundles => {
                    return Err(StoreError::Format(format!(
                        "{}: written by an older version of Caravan (before signed custody ids); move it \
                         aside and create the node again",
                        path.display()
                    )));
                }
                None => None,
            }
        };
        if !with_tables!(all_tables_exist) {
            with_tables!(create_all_tables);
            if upgrade.is_none() {
                let tx = db.begin_write()?;
                tx.open_table(META)?.insert("format", STORE_FORMAT)?;
                tx.commit()?;
            }
        }
        let store = Store { db, keyring: None, commits: Default::default() };
        match upgrade {
            Some(2) => {
                upgrade::from_format_2(&store)?;
            }
            Some(_) => upgrade::from_format_3(&store)?,
            None => {}
        }
        upgrade::index_releases(&store)?;
        Ok(store)
    }

    /// Seals every grant written from now on (and opens sealed ones) with `key`: the
    /// node's keys are under a passphrase (`crate::keystore`).
    pub fn set_keyring(&mut self, key: [u8; 32]) {
        self.keyring = Some(key);
    }

    /// Starts a write transaction.
    pub fn write(&self) -> Result<Txn, StoreError> {
        Ok(Txn { tx: self.db.begin_write()?, dirty: false, keyring: self.keyring, commits: self.commits.clone() })
    }

    /// Durable commits since the store was opened (a transaction that wrote nothing does
    /// not count).
    pub fn commits(&self) -> u64 {
        self.commits.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Starts a read view.
    pub fn read(&self) -> Result<View, StoreError> {
        Ok(View { tx: self.db.begin_read()?, keyring: self.keyring })
    }
}

mod meta;
mod reads;
mod txn;
mod upgrade;

pub use meta::{BundleMeta, BundleState, PayloadKind};
use reads::*;
pub use reads::{ContactRow, Reads, Sealed, View};
pub use txn::Txn;

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(bytes: usize) -> BundleMeta {
        BundleMeta {
            state: BundleState::Carried,
            author: NodeId([1; 20]),
            seq: bytes as u64,
            verified: false,
            payload: [bytes as u8; 32],
            doc: String::new(),
            destination: "dtn://x/".into(),
            expires_unix_ms: 1,
            changes: 0,
            bytes: bytes as u32,
            kind: PayloadKind::Batch,
            payload_at: (0, bytes as u32),
            opener: None,
            release: [0; 32],
        }
    }

    /// A release list finds its bundles by the index, kept with each put and removal,
    /// and built once for a store written before it.
    #[test]
    fn the_release_index_follows_the_bundles_and_is_built_for_older_stores() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let store = Store::open(&path).unwrap();
        let (r1, r2) = ([7u8; 32], [8u8; 32]);
        let mut t = store.write().unwrap();
        t.put_bundle(&[1; 32], b"one", &BundleMeta { release: r1, ..meta(3) }).unwrap();
        t.put_bundle(&[2; 32], b"two", &BundleMeta { release: r2, ..meta(4) }).unwrap();
        t.put_bundle(&[3; 32], b"three", &meta(5)).unwrap();
        assert_eq!(t.bundles_by_release(&r1).unwrap(), vec![[1; 32]]);
        t.remove_bundle(&[1; 32]).unwrap();
        assert!(t.bundles_by_release(&r1).unwrap().is_empty());
        // As a store from before the index: its rows gone and its mark unset.
        t.table(RELEASES).unwrap().remove(&[&r2[..], &[2u8; 32][..]].concat()[..]).unwrap();
        t.table(META).unwrap().remove("release-index").unwrap();
        t.commit().unwrap();
        drop(store);
        let store = Store::open(&path).unwrap();
        let mut t = store.write().unwrap();
        assert_eq!(t.bundles_by_release(&r2).unwrap(), vec![[2; 32]]);
        assert!(t.bundles_by_release(&[0; 32]).unwrap().is_empty(), "bundles without a release are not indexed");
    }

    #[test]
    fn large_bundles_are_stored_in_parts_and_read_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let store = Store::open(&path).unwrap();
        // Sizes around the part boundary, and one of many parts.
        let sizes =
            [1, BUNDLE_PART_BYTES, BUNDLE_PART_BYTES + 1, 2 * BUNDLE_PART_BYTES, 3 * BUNDLE_PART_BYTES + 7, 5 << 20];
        let bundles: Vec<([u8; 32], Vec<u8>)> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                let bytes: Vec<u8> = (0..n).map(|j| (j * 31 + i * 7) as u8).collect();
                (*blake3::hash(&bytes).as_bytes(), bytes)
            })
            .collect();
        let mut t = store.write().unwrap();
        for (d, b) in &bundles {
            t.put_bundle(d, b, &meta(b.len())).unwrap();
        }
        t.commit().unwrap();
        drop(store);
        let store = Store::open(&path).unwrap();
        let view = store.read().unwrap();
        for (d, b) in &bundles {
            assert_eq!(view.bundle(d).unwrap().as_deref(), Some(&b[..]), "{} bytes", b.len());
        }
        drop(view);
        // Removing a bundle in parts removes every part, and only its own.
        let mut t = store.write().unwrap();
        t.remove_bundle(&bundles[4].0).unwrap();
        t.commit().unwrap();
        let view = store.read().unwrap();
        assert_eq!(view.bundle(&bundles[4].0).unwrap(), None);
        assert_eq!(view.tx.open_table(BUNDLE_PARTS).unwrap().iter().unwrap().count(), 2 + 2 + 81);
        assert_eq!(view.bundle(&bundles[5].0).unwrap().as_deref(), Some(&bundles[5].1[..]));
        // A bundle whose parts went missing is an error naming the damage, not a short bundle.
        drop(view);
        let t = store.write().unwrap();
        let k = part_key(&bundles[5].0, 3);
        t.tx.open_table(BUNDLE_PARTS).unwrap().remove(&k[..]).unwrap();
        let err = t.bundle(&bundles[5].0).unwrap_err();
        assert!(err.to_string().contains("part is missing"), "{err}");
    }

    /// A format 3 store (bundles of wire version 2, no opener): opened by this version,
    /// every bundle's metadata is read in format 4 with no opener or release hash, the
    /// bundles are kept, and the store is marked for our own to be cloaked again.
    #[test]
    fn a_format_3_store_is_upgraded_in_place_and_marked_for_recloaking() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let kept: Vec<([u8; 32], BundleMeta)> =
            (1..4).map(|i| ([i as u8; 32], BundleMeta { doc: format!("c/x/feed{i}"), ..meta(100 * i) })).collect();
        {
            let store = Store::open(&path).unwrap();
            let mut t = store.write().unwrap();
            for (d, m) in &kept {
                t.put_bundle(d, &vec![7u8; m.bytes as usize], m).unwrap();
                // As format 3 wrote it.
                t.table(BUNDLE_META).unwrap().insert(&d[..], m.encode_v3().as_slice()).unwrap();
            }
            t.table(META).unwrap().insert("format", &b"3"[..]).unwrap();
            t.commit().unwrap();
        }
        let store = Store::open(&path).unwrap();
        let view = store.read().unwrap();
        assert_eq!(view.meta("format").unwrap().as_deref(), Some(STORE_FORMAT));
        assert_eq!(view.meta(LEGACY_BUNDLES_META).unwrap().as_deref(), Some(&b"1"[..]));
        for (d, m) in &kept {
            assert_eq!(view.bundle_meta(d).unwrap().as_ref(), Some(m));
            assert_eq!(view.bundle(d).unwrap().map(|b| b.len()), Some(m.bytes as usize));
        }
        drop(view);
        drop(store);
        // Opened again: nothing more to do.
        let store = Store::open(&path).unwrap();
        assert_eq!(store.read().unwrap().all_bundle_meta().unwrap().len(), kept.len());
    }

    #[test]
    fn large_document_chunks_are_stored_in_parts_and_compaction_removes_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        let big: Vec<u8> = (0..3 * DOC_PART_BYTES + 5).map(|i| (i % 251) as u8).collect();
        let mut t = store.write().unwrap();
        t.put_doc_chunk("c/x/wiki", 0, b"small").unwrap();
        t.put_doc_chunk("c/x/wiki", 1, &big).unwrap();
        t.put_doc_chunk("c/x/wikis", 0, &big).unwrap();
        t.commit().unwrap();
        let view = store.read().unwrap();
        assert_eq!(view.doc_chunks("c/x/wiki").unwrap(), vec![(0, b"small".to_vec()), (1, big.clone())]);
        let mut ids = view.doc_ids().unwrap();
        ids.sort();
        assert_eq!(ids, vec!["c/x/wiki".to_string(), "c/x/wikis".to_string()]);
        drop(view);
        let mut t = store.write().unwrap();
        t.compact_doc("c/x/wiki", b"saved", 2).unwrap();
        t.commit().unwrap();
        let view = store.read().unwrap();
        assert_eq!(view.doc_chunks("c/x/wiki").unwrap(), vec![(2, b"saved".to_vec())]);
        // The other document's parts are untouched.
        assert_eq!(view.doc_chunks("c/x/wikis").unwrap(), vec![(0, big)]);
        assert_eq!(view.tx.open_table(DOC_CHUNK_PARTS).unwrap().iter().unwrap().count(), 4);
    }
}
