//! Persistent state: one redb database per node. The only module that touches redb.
//!
//! Every operation that takes in outside data runs inside one [`Txn`], committed
//! durably at the end: a crash at any instant leaves the last committed state.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use crate::custody::BundleId;
use crate::identity::NodeId;
use crate::limits::{DELIVERED_SOURCES_MAX, REFUSED_COUNT_MAX};

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
/// Custody answers to send: custodian(20) || disposition(1) || sequence(8 BE) -> ().
const CUSTODY_OUT: TableDefinition<&[u8], ()> = TableDefinition::new("custody_out");
/// Bundles their authors declared delivered: source(20) -> until when the row is kept
/// (be64 ms), then inclusive ranges of custody sequence numbers, as pairs of u64 BE.
/// Carried copies of these are not taken again.
const DELIVERED: TableDefinition<&[u8], &[u8]> = TableDefinition::new("delivered");
/// redb's page cache per store (read cache and the open transaction's dirty pages).
/// At 16 MiB, exporting 10,000 small bundles to a stick ran about a third slower.
pub const CACHE_BYTES: usize = 32 << 20;

/// The daemon's page cache: it runs for weeks and moves bundles of many MiB, so it keeps
/// its resident size down rather than its reads fast.
pub const DAEMON_CACHE_BYTES: usize = 16 << 20;

/// Digests (of bundles and of their payloads) dropped as delivered or consumed: known, so
/// never taken again, until the bundle could no longer arrive (its expiry, ms).
const FORGOTTEN: TableDefinition<&[u8], u64> = TableDefinition::new("forgotten");
/// The store format this code writes (`meta` key `format`). A store without it that holds
/// bundles was written before custody ids were signed, and is refused.
pub const STORE_FORMAT: &[u8] = b"2";
/// Small settings: display name, bundle sequence counter.
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// A local storage failure (disk, database file). Never caused by a peer's data.
#[derive(Debug, thiserror::Error)]
#[error("store: {0}")]
pub struct StoreError(String);

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self { StoreError(e.to_string()) }
        }
    )*};
}
from_redb!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// What the store remembers about a bundle besides its bytes: what was learned when it
/// was parsed, so nothing parses a stored bundle again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleMeta {
    /// Where the bundle stands.
    pub state: BundleState,
    /// Custody id: the author named in the signed header (for a signal: its signer).
    pub author: NodeId,
    /// Custody id: the author's sequence number in the signed header (0 for signals).
    pub seq: u64,
    /// Whether this node checked the author's signature (for relayed bundles: whether the
    /// relay quota may count it against the author's fair share, or the shared pool).
    pub verified: bool,
    /// Digest of the payload: what the author signed, without the primary block.
    pub payload: [u8; 32],
    /// Document id (batches) or key scope (grants).
    pub doc: String,
    /// Destination endpoint id.
    pub destination: String,
    /// Expiry, milliseconds since the Unix epoch.
    pub expires_unix_ms: u64,
    /// Number of Automerge changes it carries (0 for grants and announcements).
    pub changes: u32,
    /// Size in bytes.
    pub bytes: u32,
}

/// Where a stored bundle stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleState {
    /// Read and merged (or our own).
    Applied,
    /// Encrypted under a key we do not hold (yet): kept and carried.
    WaitingKey,
    /// A grant for another node: carried only.
    Carried,
    /// A grant for us, accepted (or our own grant to someone).
    Grant,
    /// A community invitation for us, waiting for consent.
    Invite,
    /// A custody signal (ours, or carried for its custodian).
    Signal,
    /// A custody signal for us, already applied: kept so a stick visit knows it, never sent.
    Consumed,
}

impl BundleMeta {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(80 + self.doc.len() + self.destination.len());
        out.push(match self.state {
            BundleState::Applied => 0,
            BundleState::WaitingKey => 1,
            BundleState::Carried => 2,
            BundleState::Grant => 3,
            BundleState::Invite => 4,
            BundleState::Signal => 5,
            BundleState::Consumed => 6,
        });
        out.push(self.verified as u8);
        out.extend_from_slice(&self.author.0);
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.extend_from_slice(&self.payload);
        out.extend_from_slice(&self.expires_unix_ms.to_le_bytes());
        out.extend_from_slice(&self.changes.to_le_bytes());
        out.extend_from_slice(&self.bytes.to_le_bytes());
        out.push(self.doc.len() as u8);
        out.extend_from_slice(self.doc.as_bytes());
        out.extend_from_slice(self.destination.as_bytes());
        out
    }

    fn decode(b: &[u8]) -> Option<Self> {
        let state = match *b.first()? {
            0 => BundleState::Applied,
            1 => BundleState::WaitingKey,
            2 => BundleState::Carried,
            3 => BundleState::Grant,
            4 => BundleState::Invite,
            5 => BundleState::Signal,
            6 => BundleState::Consumed,
            _ => return None,
        };
        let verified = match *b.get(1)? {
            0 => false,
            1 => true,
            _ => return None,
        };
        let author = NodeId(b.get(2..22)?.try_into().ok()?);
        let seq = u64::from_le_bytes(b.get(22..30)?.try_into().ok()?);
        let payload: [u8; 32] = b.get(30..62)?.try_into().ok()?;
        let expires_unix_ms = u64::from_le_bytes(b.get(62..70)?.try_into().ok()?);
        let changes = u32::from_le_bytes(b.get(70..74)?.try_into().ok()?);
        let bytes = u32::from_le_bytes(b.get(74..78)?.try_into().ok()?);
        let doc_len = *b.get(78)? as usize;
        let doc = std::str::from_utf8(b.get(79..79 + doc_len)?).ok()?.to_string();
        let destination = std::str::from_utf8(b.get(79 + doc_len..)?).ok()?.to_string();
        Some(BundleMeta { state, author, seq, verified, payload, doc, destination, expires_unix_ms, changes, bytes })
    }
}

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
}

impl Store {
    /// Opens (or creates) the database file and its tables.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with_cache(path, CACHE_BYTES)
    }

    /// [`Store::open`] with a page cache of `cache_bytes`.
    pub fn open_with_cache(path: &Path, cache_bytes: usize) -> Result<Self, StoreError> {
        // redb's default cache is 1 GiB; a daemon moving large bundles would fill it.
        let db = redb::Builder::new()
            .set_cache_size(cache_bytes)
            .create(path)
            .map_err(|e| StoreError(format!("{}: {e}", path.display())))?;
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
                    FORGOTTEN_BY_TIME
                )
            };
        }
        // A store from before signed custody ids holds bundles and no format mark: its
        // records would be read wrongly, so it is refused with a clear message.
        {
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
                Some(f) if f == STORE_FORMAT => {}
                Some(f) => {
                    return Err(StoreError(format!(
                        "{}: store format {} is not supported (this version reads format {})",
                        path.display(),
                        String::from_utf8_lossy(&f),
                        String::from_utf8_lossy(STORE_FORMAT)
                    )));
                }
                None if has_bundles => {
                    return Err(StoreError(format!(
                        "{}: written by an older version of Caravan (before signed custody ids); move it \
                         aside and create the node again",
                        path.display()
                    )));
                }
                None => {}
            }
        }
        if !with_tables!(all_tables_exist) {
            with_tables!(create_all_tables);
            let tx = db.begin_write()?;
            tx.open_table(META)?.insert("format", STORE_FORMAT)?;
            tx.commit()?;
        }
        Ok(Store { db, keyring: None })
    }

    /// Seals every grant written from now on (and opens sealed ones) with `key`: the
    /// node's keys are under a passphrase (`crate::keystore`).
    pub fn set_keyring(&mut self, key: [u8; 32]) {
        self.keyring = Some(key);
    }

    /// Starts a write transaction.
    pub fn write(&self) -> Result<Txn, StoreError> {
        Ok(Txn { tx: self.db.begin_write()?, dirty: false, keyring: self.keyring })
    }

    /// Starts a read view.
    pub fn read(&self) -> Result<View, StoreError> {
        Ok(View { tx: self.db.begin_read()?, keyring: self.keyring })
    }
}

/// A read-only snapshot.
pub struct View {
    tx: redb::ReadTransaction,
    keyring: Option<[u8; 32]>,
}

/// Bytes of a table key or value, for fingerprints.
trait Fingerprinted {
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
    /// Pending (dependency-waiting) change sets of a document.
    fn pending(&self, doc: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
    /// Bundles waiting for `scope#epoch`.
    fn waiting_for_key(&self, scope_epoch: &str) -> Result<Vec<[u8; 32]>, StoreError>;
    /// Heads `node` is known to have of `doc`.
    fn peer_heads(&self, node: &str, doc: &str) -> Result<Vec<[u8; 32]>, StoreError>;
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
    /// Custody records of our bundles, by sequence number, in order.
    fn custody_records(&self) -> Result<Vec<(u64, Vec<u8>)>, StoreError>;
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
    /// Verified bundles stored with custody ids of `source` in `lo..=hi`.
    fn bundle_ids(&self, source: &[u8; 20], lo: u64, hi: u64) -> Result<Vec<(u64, [u8; 32])>, StoreError>;
}

/// Key of part `index` of a bundle: digest ‖ index (be32), so a bundle's parts are
/// adjacent and in order.
fn part_key(digest: &[u8; 32], index: u32) -> [u8; 36] {
    let mut k = [0u8; 36];
    k[..32].copy_from_slice(digest);
    k[32..].copy_from_slice(&index.to_be_bytes());
    k
}

/// A bundle kept in parts, whole: sized from its last part, then each part copied once.
fn read_parts(
    parts: &impl ReadableTable<&'static [u8], &'static [u8]>,
    digest: &[u8; 32],
) -> Result<Vec<u8>, StoreError> {
    let (lo, hi) = (part_key(digest, 0), part_key(digest, u32::MAX));
    let total = match parts.range(&lo[..]..=&hi[..])?.next_back() {
        Some(row) => {
            let (k, v) = row?;
            part_index(k.value()) as usize * BUNDLE_PART_BYTES + v.value().len()
        }
        None => return Err(StoreError("damaged bundle: its parts are missing".into())),
    };
    let mut out = Vec::with_capacity(total);
    for (i, row) in parts.range(&lo[..]..=&hi[..])?.enumerate() {
        let (k, v) = row?;
        if part_index(k.value()) as usize != i {
            return Err(StoreError("damaged bundle: a part is missing".into()));
        }
        out.extend_from_slice(v.value());
    }
    Ok(out)
}

fn part_index(key: &[u8]) -> u32 {
    key.get(32..36).and_then(|b| b.try_into().ok()).map(u32::from_be_bytes).unwrap_or(u32::MAX)
}

/// A grant value as stored: sealed under the keyring if there is one.
fn seal(keyring: Option<&[u8; 32]>, table_key: &str, value: &[u8]) -> Vec<u8> {
    match keyring {
        Some(k) => crate::keystore::seal_value(k, table_key.as_bytes(), value),
        None => value.to_vec(),
    }
}

/// A grant value as read: opened with the keyring if it is sealed.
fn unseal(keyring: Option<&[u8; 32]>, table_key: &str, value: &[u8]) -> Result<Vec<u8>, StoreError> {
    crate::keystore::open_value(keyring, table_key.as_bytes(), value).map_err(|e| StoreError(e.to_string()))
}

/// When a `delivered` row may go: its first 8 bytes (be64 ms).
fn delivered_expiry(v: &[u8]) -> u64 {
    v.get(..8).and_then(|b| b.try_into().ok()).map_or(0, u64::from_be_bytes)
}

fn split_id(b: &[u8]) -> Option<BundleId> {
    let source = NodeId(b.get(..20)?.try_into().ok()?);
    let seq = u64::from_be_bytes(b.get(20..28)?.try_into().ok()?);
    (b.len() == 28).then_some(BundleId { source, seq })
}

/// Key of a time-ordered table: expiry (be64) ‖ digest.
fn time_key(expires_ms: u64, digest: &[u8; 32]) -> [u8; 40] {
    let mut k = [0u8; 40];
    k[..8].copy_from_slice(&expires_ms.to_be_bytes());
    k[8..].copy_from_slice(digest);
    k
}

fn id_key(source: &[u8; 20], seq: u64) -> [u8; 28] {
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
                        .ok_or_else(|| StoreError("damaged bundle metadata".into())),
                }
            }
            fn all_bundle_meta(&self) -> Result<Vec<([u8; 32], BundleMeta)>, StoreError> {
                let t = self.tx.open_table(BUNDLE_META)?;
                let mut out = Vec::new();
                for row in t.iter()? {
                    let (k, v) = row?;
                    let digest: [u8; 32] = k.value().try_into().map_err(|_| StoreError("damaged bundle key".into()))?;
                    let meta =
                        BundleMeta::decode(v.value()).ok_or_else(|| StoreError("damaged bundle metadata".into()))?;
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
                    let seq = seq.ok_or_else(|| StoreError("damaged document chunk key".into()))?;
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
                            return Err(StoreError(format!("damaged document chunk {}: a part is missing", k.value())));
                        }
                        whole.extend_from_slice(pv.value());
                    }
                    if whole.is_empty() {
                        return Err(StoreError(format!("damaged document chunk {}: its parts are missing", k.value())));
                    }
                    out.push((seq, whole));
                }
                Ok(out)
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
                        .map_err(|_| StoreError("damaged waiting key".into()))?;
                    out.push(bytes.try_into().map_err(|_| StoreError("damaged waiting key".into()))?);
                }
                Ok(out)
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
            fn custody_records(&self) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
                let t = self.tx.open_table(CUSTODY)?;
                let mut out = Vec::new();
                for row in t.iter()? {
                    let (k, v) = row?;
                    out.push((k.value(), v.value().to_vec()));
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
                    let bad = || StoreError("malformed custody answer key".into());
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

fn prefix_rows<T: ReadableTable<&'static str, &'static [u8]>>(
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
    for row in t.table(by_time)?.range(..&hi[..])? {
        if gone.len() >= max {
            break;
        }
        let (k, _) = row?;
        if let Ok(k) = <[u8; 40]>::try_from(k.value()) {
            gone.push(k);
        }
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

impl_reads!(View);
impl_reads!(Txn);

/// A write transaction. Dropped without [`Txn::commit`], it changes nothing.
pub struct Txn {
    tx: redb::WriteTransaction,
    dirty: bool,
    keyring: Option<[u8; 32]>,
}

impl Txn {
    /// Commits durably, if anything was written; otherwise leaves the file untouched.
    pub fn commit(self) -> Result<(), StoreError> {
        if self.dirty {
            self.tx.commit()?;
        } else {
            self.tx.abort()?;
        }
        Ok(())
    }

    fn table<K: redb::Key + 'static, V: redb::Value + 'static>(
        &mut self,
        def: TableDefinition<K, V>,
    ) -> Result<redb::Table<'_, K, V>, StoreError> {
        self.dirty = true;
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
                let i = u32::try_from(i).map_err(|_| StoreError("bundle too large to store".into()))?;
                parts.insert(&part_key(digest, i)[..], part)?;
            }
        }
        self.table(PAYLOADS)?.insert(&meta.payload[..], &digest[..])?;
        self.set_bundle_meta(digest, meta)
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

    /// Stores (or replaces) the custody record of our bundle `seq`.
    pub fn put_custody(&mut self, seq: u64, record: &[u8]) -> Result<(), StoreError> {
        self.table(CUSTODY)?.insert(seq, record)?;
        Ok(())
    }

    /// Removes the custody record of our bundle `seq`.
    pub fn remove_custody(&mut self, seq: u64) -> Result<(), StoreError> {
        self.table(CUSTODY)?.remove(seq)?;
        Ok(())
    }

    /// Queues a custody answer for `custodian` about its bundle `seq`.
    pub fn put_custody_answer(&mut self, custodian: &[u8; 20], code: u8, seq: u64) -> Result<(), StoreError> {
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
        self.table(DELIVERED)?.retain(|_, v| delivered_expiry(v) >= now_ms)?;
        Ok(())
    }

    /// Empties the custody answer queue (once its signals are sealed).
    pub fn clear_custody_outbox(&mut self) -> Result<(), StoreError> {
        self.table(CUSTODY_OUT)?.retain(|_, _| false)?;
        Ok(())
    }
}

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
        }
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
