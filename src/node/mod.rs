//! The facade: a node opened from a home directory, wiring identity, store, documents,
//! crypto, envelopes and bundles together. Every bundle crosses this module as bytes.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use automerge::{ActorId, AutoCommit, Change, ChangeHash};

use crate::bundle::{self, BundleInfo};
use crate::crypto::{self, CONTEXT_BUNDLE_DIGEST, CONTEXT_CUSTODY_SIGNAL, CONTEXT_GRANT_SIGNATURE};
use crate::custody::{BundleId, Disposition, Record, Signal, SignalEffect};
use crate::doc::{self, Audience, CommunityId, DocId, Part, Post, Role, ScopeOwner};
use crate::envelope::{self, Batch, Genesis, Grant, Header, Invitation, Kind};
use crate::error::{Error, Rejection};
use crate::identity::{ContactCard, Identity, NodeId};
use crate::limits::{
    BUNDLE_LIFETIME_DEFAULT_SECS, DOC_CHUNKS_COUNT_MAX, IMPORT_CHUNK_COUNT_MAX, INVITES_PENDING_MAX,
    LIFETIME_CAP_DEFAULT_SECS, PEER_HEADS_COUNT_MAX, SEEN_PEERS_MAX,
};
use crate::membership::{self, CertCache};
use crate::plugin::builtin;
use crate::relay::{self, Held, QuotaRefusal};
use crate::routing::{Caravan, Class, ContactPlan, Offer, Relation, Strategy};
use crate::store::{BundleMeta, BundleState, CustodyRow, PayloadKind, Reads, Store, Txn, hex};
use crate::sync::{self, Target};

mod authority;
mod block;
mod certify;
mod cloaking;
mod communities;
mod custody;
mod docs;
mod exchange;
mod export;
mod fof;
mod follow;
mod fom;
mod grant;
mod history;
mod import;
mod keys;
mod kinds;
mod ledger;
mod legacy;
mod limits;
mod link;
mod live;
mod market;
mod merge;
mod poll;
mod preopen;
mod profile;
mod query;
mod recheck;
mod release;
mod reports;
mod reputation;
mod seal;
mod signal;
mod snapshot;
#[cfg(test)]
mod testkit;

pub use crate::report::{ImportReport, LinkPlan, LinkSummary, Outcome, Outgoing, WaitReason};
pub use authority::Removal;
pub use certify::{CertView, Certify};
pub use follow::Followed;
pub use history::{PageAt, PageVersion};
pub use limits::MemberLimits;
pub use link::{LinkStatus, LinkView};
pub use poll::PollView;
pub use reports::{Circle, CommunityInfo, Contact, ContactChange, CustodyStatus, Event, InviteInfo, ProfileField};
pub use reputation::{Reputation, Standing, Tie};

use import::Import;
use ledger::Ledger;
use std::panic::AssertUnwindSafe;

pub use crate::bundle::{bundle_digest, payload_digest};

/// What a minted bundle is: where it goes, its document (or key scope), its state.
struct Mint<'a> {
    destination: &'a str,
    /// Who can open its cloak (`crate::cloak`).
    to: crate::cloak::To<'a>,
    doc: String,
    state: BundleState,
    kind: PayloadKind,
    /// The heads its header names (what a destination that takes it then has).
    heads: &'a [[u8; 32]],
}

/// Source of the current time, milliseconds since the Unix epoch.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

fn system_clock() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

struct DocState {
    doc: AutoCommit,
    /// Heads covered by the chunks already in the store.
    saved_heads: Vec<ChangeHash>,
    next_chunk: u64,
    chunks: u64,
    /// Stored bytes of the document (its chunks): what the cache counts it as.
    weight: u64,
    /// When it was last used (the node's use counter), for evicting the least recent.
    used: u64,
}

/// A Caravan node: identity, store, documents. Open one per home directory.
///
/// ```
/// # fn main() -> Result<(), caravan::Error> {
/// let home = tempfile::tempdir().unwrap();
/// let mut node = caravan::Node::open(home.path(), "Village A")?;
/// let community = node.create_community("Wells", "Where the water is")?;
/// node.put_wiki_page(&community, "North well", "Pump fixed in May.\n")?;
/// let bundles = node.export(caravan::Target::Everyone)?;
/// assert!(!bundles.is_empty());
/// # Ok(()) }
/// ```
pub struct Node {
    home: PathBuf,
    identity: Arc<Identity>,
    name: String,
    store: Store,
    docs: HashMap<DocId, DocState>,
    /// Counts document uses, for the cache's least-recently-used order.
    doc_uses: u64,
    /// Stored bytes of documents kept loaded between operations (`DOC_CACHE_BYTES`).
    doc_cache_bytes: u64,
    certs: CertCache,
    subscribers: Vec<mpsc::Sender<Event>>,
    /// Events of the running import, delivered only once it has committed.
    queued: Vec<Event>,
    clock: Clock,
    lifetime: Duration,
    sequence: u64,
    relay_quota: u64,
    /// Longest lifetime of a bundle this node takes in.
    lifetime_cap_ms: u64,
    /// Relayed bundles held, loaded on the first relayed bundle of an import.
    ledger: Option<Ledger>,
    /// Who meets whom and when, for choosing carriers on live links.
    contact_plan: ContactPlan,
    /// Destinations' heads (per node and document) last checked for custody release.
    heads_checked: HashMap<(NodeId, String), Vec<[u8; 32]>>,
    /// Each community's authority log as last resolved (`authority.rs`).
    authority: HashMap<CommunityId, Arc<authority::Resolved>>,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.display().to_string(), source }
}

fn hash_bytes(h: &ChangeHash) -> [u8; 32] {
    h.0
}

impl Node {
    /// Opens the node in `home`, creating the directory, identity and database on first
    /// use. `name` is the display name used when the node is created.
    pub fn open(home: &Path, name: &str) -> Result<Self, Error> {
        Self::open_with_cache(home, name, crate::store::CACHE_BYTES)
    }

    /// [`Node::open`] with a store page cache of `cache_bytes` instead of
    /// [`store::CACHE_BYTES`](crate::store::CACHE_BYTES): a long-running process that
    /// must stay small trades some read speed for memory.
    pub fn open_with_cache(home: &Path, name: &str, cache_bytes: usize) -> Result<Self, Error> {
        Self::open_with(home, name, cache_bytes, None)
    }

    /// Opens (or creates) a node whose keys are sealed under `passphrase`: the identity
    /// file and every community and audience key in the store (`crate::keystore`). A node
    /// created with a passphrase cannot be opened without it.
    pub fn open_sealed(home: &Path, name: &str, passphrase: &str) -> Result<Self, Error> {
        Self::open_with(home, name, crate::store::CACHE_BYTES, Some(passphrase))
    }

    /// [`Node::open`] with a store page cache of `cache_bytes` and, for a node whose keys
    /// are sealed (or to create one so), its passphrase. The home is kept private: the
    /// directory 0700, the identity and the store 0600 (tightened if looser).
    pub fn open_with(home: &Path, name: &str, cache_bytes: usize, passphrase: Option<&str>) -> Result<Self, Error> {
        let new = !home.exists();
        std::fs::create_dir_all(home).map_err(io_err(home))?;
        // A home we made, or one that holds nothing but a node's files, is made private;
        // any other directory (a shared one, /tmp) is only warned about.
        if new || holds_only_node_files(home) {
            keep_private(home, 0o700);
        } else {
            warn_if_open(home);
        }
        let key_file = home.join("identity.key");
        let (identity, store_key) = Identity::open(&key_file, passphrase)?;
        keep_private(&key_file, 0o600);
        let db = home.join("caravan.redb");
        let mut store = Store::open_with_cache(&db, cache_bytes)?;
        keep_private(&db, 0o600);
        if let Some(k) = store_key {
            store.set_keyring(*k);
        }
        Self::assemble(home.to_path_buf(), identity, store, name)
    }

    /// A node whose store lives in memory only, with a new identity: for simulations of
    /// many nodes driving the node's own rules (`testnets/`). Its home is empty: nothing
    /// is written to disk, and it is gone when dropped.
    pub fn in_memory(name: &str) -> Result<Self, Error> {
        Self::assemble(PathBuf::new(), Identity::generate(), Store::in_memory()?, name)
    }

    fn assemble(home: PathBuf, identity: Identity, store: Store, name: &str) -> Result<Self, Error> {
        let stored_name = store.read()?.meta("name")?;
        let name = match stored_name {
            Some(n) => String::from_utf8_lossy(&n).into_owned(),
            None => {
                let mut t = store.write()?;
                t.set_meta("name", name.as_bytes())?;
                t.commit()?;
                name.to_string()
            }
        };
        let sequence =
            store.read()?.meta("sequence")?.and_then(|b| b.try_into().ok().map(u64::from_le_bytes)).unwrap_or(0);
        let relay_quota = store
            .read()?
            .meta("relay_quota")?
            .and_then(|b| b.try_into().ok().map(u64::from_le_bytes))
            .unwrap_or(relay::QUOTA_DEFAULT_BYTES);
        let lifetime_cap_ms = store
            .read()?
            .meta("lifetime_cap_ms")?
            .and_then(|b| b.try_into().ok().map(u64::from_le_bytes))
            .unwrap_or(LIFETIME_CAP_DEFAULT_SECS * 1000);
        Ok(Node {
            home,
            identity: Arc::new(identity),
            name,
            store,
            docs: HashMap::new(),
            doc_uses: 0,
            doc_cache_bytes: crate::limits::DOC_CACHE_BYTES,
            certs: CertCache::default(),
            subscribers: Vec::new(),
            queued: Vec::new(),
            clock: Arc::new(system_clock),
            lifetime: Duration::from_secs(BUNDLE_LIFETIME_DEFAULT_SECS),
            sequence,
            relay_quota,
            lifetime_cap_ms,
            ledger: None,
            contact_plan: ContactPlan::default(),
            heads_checked: HashMap::new(),
            authority: HashMap::new(),
        })
    }

    /// Sets how many bytes this node carries for others (default 1 GiB), and keeps the
    /// setting in the store. Its own and its communities' data never count against it.
    /// Bundles already carried beyond a lowered quota are evicted as new ones need room.
    pub fn set_relay_quota(&mut self, bytes: u64) -> Result<(), Error> {
        let mut t = self.write_txn()?;
        t.set_meta("relay_quota", &bytes.to_le_bytes())?;
        t.commit()?;
        self.relay_quota = bytes;
        Ok(())
    }

    /// Replaces the clock (tests and simulations drive time themselves).
    pub fn set_clock(&mut self, clock: Clock) {
        self.clock = clock;
    }

    /// The node's current time (its clock), milliseconds since the Unix epoch.
    pub fn now(&self) -> u64 {
        (self.clock)()
    }

    /// Sets the lifetime of bundles this node creates from now on (at most its lifetime
    /// cap: others would refuse longer ones).
    pub fn set_bundle_lifetime(&mut self, lifetime: Duration) {
        self.lifetime = lifetime.min(Duration::from_millis(self.lifetime_cap_ms));
    }

    /// Sets the longest lifetime a bundle this node takes in may have (default 60 days),
    /// and keeps the setting in the store. Whatever a primary block says (any carrier can
    /// rewrite it), nothing is kept for longer. Our own bundles' lifetime is lowered to fit.
    pub fn set_lifetime_cap(&mut self, cap: Duration) -> Result<(), Error> {
        let ms = u64::try_from(cap.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut t = self.write_txn()?;
        t.set_meta("lifetime_cap_ms", &ms.to_le_bytes())?;
        t.commit()?;
        self.lifetime_cap_ms = ms;
        self.lifetime = self.lifetime.min(Duration::from_millis(ms));
        Ok(())
    }

    /// The longest lifetime a bundle this node takes in may have.
    pub fn lifetime_cap(&self) -> Duration {
        Duration::from_millis(self.lifetime_cap_ms)
    }

    /// The home directory.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.identity.node_id()
    }

    /// The key that authenticates this node's stick file headers (see `link::stick`).
    pub fn stick_header_key(&self) -> [u8; 32] {
        self.identity.stick_header_key()
    }

    /// This node's display name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// This node's identity (its keys), shared.
    pub(crate) fn identity(&self) -> Arc<Identity> {
        self.identity.clone()
    }

    /// This node's contact card.
    pub fn card(&self) -> ContactCard {
        self.identity.card(&self.name)
    }

    /// A receiver of this node's events from now on.
    pub fn subscribe(&mut self) -> mpsc::Receiver<Event> {
        let (tx, rx) = mpsc::channel();
        self.subscribers.push(tx);
        rx
    }

    fn emit(&mut self, events: Vec<Event>) {
        self.subscribers.retain(|s| events.iter().all(|e| s.send(e.clone()).is_ok()));
    }

    fn actor(&self) -> ActorId {
        ActorId::from(self.identity.signing_public().to_vec())
    }
}

/// Sorts and merges overlapping or adjacent inclusive ranges.
fn merge_ranges(mut ranges: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    ranges.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (lo, hi) in ranges {
        match out.last_mut() {
            Some((_, h)) if lo <= h.saturating_add(1) => *h = (*h).max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

/// Key naming an export target in the store.
fn target_key(target: Target) -> String {
    match target {
        Target::Peer(n) => format!("peer:{n}"),
        Target::Community(c) => format!("community:{c}"),
        Target::Everyone => "everyone".to_string(),
    }
}

/// Whether a directory holds only what a node's home holds.
fn holds_only_node_files(home: &Path) -> bool {
    const OURS: [&str; 5] =
        ["identity.key", "caravan.redb", "config.toml", "daemon-status.json", "daemon-status.json.tmp"];
    std::fs::read_dir(home)
        .is_ok_and(|entries| entries.flatten().all(|e| e.file_name().to_str().is_some_and(|n| OURS.contains(&n))))
}

/// Warns when others may read a directory we do not make private ourselves.
fn warn_if_open(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0) {
            tracing::warn!("{} can be read by others: the node's documents are in it (chmod 700 {0})", path.display());
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Tightens a file's or directory's permissions to `mode` if they are looser (group or
/// others may read). A home that cannot be tightened (not ours) is warned about, not
/// refused.
fn keep_private(path: &Path, mode: u32) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let Ok(meta) = std::fs::metadata(path) else { return };
        if meta.permissions().mode() & 0o077 != 0
            && let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        {
            tracing::warn!("{} can be read by others, and could not be made private: {e}", path.display());
        }
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
}

/// Removes a stored bundle and what hangs on it (its invitation or key wait).
fn drop_rows(t: &mut Txn, digest: &[u8; 32]) -> Result<(), Error> {
    let Some(meta) = t.bundle_meta(digest)? else { return Ok(()) };
    match meta.state {
        BundleState::Invite => t.remove_invite(&hex(&digest[..8]))?,
        BundleState::WaitingKey => {
            if let Some(scope) = DocId::parse(&meta.doc).and_then(|d| d.key_scope()) {
                t.remove_waiting(&scope, digest)?;
            }
        }
        _ => {}
    }
    t.remove_bundle(digest)?;
    Ok(())
}

/// The node id in a `dtn://<node-id>/caravan` endpoint.
pub(super) fn source_node(eid: &str) -> Option<NodeId> {
    let rest = eid.strip_prefix("dtn://")?;
    let (node, service) = rest.split_once('/')?;
    (service == "caravan").then(|| NodeId::parse(node)).flatten()
}

fn decode_raw(raw: &[u8]) -> Result<Vec<Change>, String> {
    let list = envelope::decode_raw_changes(raw).map_err(|e| e.to_string())?;
    list.into_iter().map(|b| Change::from_bytes(b).map_err(|e| e.to_string())).collect()
}
#[cfg(test)]
mod authority_tests;
