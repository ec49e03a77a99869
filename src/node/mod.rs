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
use crate::relay::{self, Held, QuotaRefusal};
use crate::routing::{Caravan, Class, ContactPlan, Offer, Relation, Strategy};
use crate::store::{BundleMeta, BundleState, Reads, Store, Txn, hex};
use crate::sync::{self, Target};

mod custody;
mod export;
mod import;
mod ledger;
mod preopen;
mod query;
mod seal;

use import::Import;
use ledger::Ledger;
use std::panic::AssertUnwindSafe;

/// Something that happened to this node's data, delivered to subscribers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A document changed (locally or from imported bundles).
    DocChanged {
        /// Which document.
        doc: DocId,
        /// Its new heads.
        heads: Vec<[u8; 32]>,
    },
    /// An invitation arrived that needs consent (`Node::accept_invite`).
    Invitation {
        /// Id to accept it by.
        id: String,
        /// The community.
        community: CommunityId,
        /// The community's name.
        name: String,
    },
    /// We became a member of a community.
    Joined(CommunityId),
}

/// What happened to one imported bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Verified and taken in.
    New {
        /// The document it changed (None for a key grant).
        doc: Option<DocId>,
        /// Changes that were new to us (applied or waiting for dependencies).
        changes: usize,
    },
    /// Already held: nothing changed.
    Duplicate,
    /// Stored, but not yet readable or applicable.
    Waiting(WaitReason),
    /// Refused: nothing stored changed.
    Rejected(Rejection),
    /// A custody signal for us: it released our custody of this many bundles.
    Custody {
        /// Bundles whose every destination has now taken custody.
        released: usize,
    },
    /// Not ours, and no room to carry it within the relay quota: left where it was.
    NotCarried(QuotaRefusal),
}

/// Why a stored bundle is not applied yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitReason {
    /// Encrypted under a key we do not hold: kept, carried, and opened if the key arrives.
    Key {
        /// `scope#epoch` of the missing key.
        scope: String,
    },
    /// A community invitation waiting for our consent.
    Consent {
        /// Invitation id.
        invite: String,
    },
    /// Addressed to another node: carried only.
    ForOthers,
}

/// The result of importing bundles: one outcome per bundle, in input order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Outcome of each bundle.
    pub outcomes: Vec<Outcome>,
    /// Bundles that had waited for a key and were opened by a key in this import.
    pub unlocked: usize,
}

impl ImportReport {
    /// Bundles taken in.
    pub fn new_bundles(&self) -> usize {
        self.outcomes.iter().filter(|o| matches!(o, Outcome::New { .. })).count()
    }
    /// Changes new to us.
    pub fn new_changes(&self) -> usize {
        self.outcomes.iter().map(|o| if let Outcome::New { changes, .. } = o { *changes } else { 0 }).sum()
    }
    /// Bundles already held.
    pub fn duplicates(&self) -> usize {
        self.outcomes.iter().filter(|o| matches!(o, Outcome::Duplicate)).count()
    }
    /// Bundles stored but waiting.
    pub fn waiting(&self) -> usize {
        self.outcomes.iter().filter(|o| matches!(o, Outcome::Waiting(_))).count()
    }
    /// Our bundles whose custody was released by custody signals in this import.
    pub fn custody_released(&self) -> usize {
        self.outcomes.iter().map(|o| if let Outcome::Custody { released } = o { *released } else { 0 }).sum()
    }
    /// Bundles for others left behind because the relay quota was full.
    pub fn not_carried(&self) -> usize {
        self.outcomes.iter().filter(|o| matches!(o, Outcome::NotCarried(_))).count()
    }
    /// Refused bundles and why.
    pub fn rejected(&self) -> Vec<&Rejection> {
        self.outcomes.iter().filter_map(|o| if let Outcome::Rejected(r) = o { Some(r) } else { None }).collect()
    }
}

/// A community this node belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommunityInfo {
    /// Its id.
    pub id: CommunityId,
    /// Its name (from the public document, else from the invitation).
    pub name: String,
    /// Our role.
    pub role: Role,
}

/// A pending invitation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteInfo {
    /// Id to accept it by.
    pub id: String,
    /// The community.
    pub community: CommunityId,
    /// Its name.
    pub name: String,
    /// Who invited us.
    pub from: NodeId,
    /// Offered role.
    pub role: Role,
}

/// A contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// Their card.
    pub card: ContactCard,
    /// Audiences of our profile they belong to.
    pub audiences: Vec<Audience>,
}

/// One profile field as this node sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileField {
    /// Audience the field was published to.
    pub audience: Audience,
    /// Field name.
    pub name: String,
    /// Value.
    pub value: String,
}

/// A bundle an export would send, without its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Its digest ([`bundle_digest`]).
    pub digest: [u8; 32],
    /// When it expires, milliseconds since the Unix epoch.
    pub expires_unix_ms: u64,
    /// Its size.
    pub bytes: u32,
    /// Carried for others (we cannot read it), rather than ours or our communities'.
    pub carried: bool,
}

/// What a live link tells a peer first ([`Node::summary_for`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkSummary {
    /// Digests of bundles the peer need not send.
    pub digests: Vec<[u8; 32]>,
    /// Endpoints this node receives for, as far as the peer may know them.
    pub endpoints: Vec<String>,
}

/// What to send over a live link ([`Node::plan_link`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkPlan {
    /// The bundles, in sending order.
    pub outgoing: Vec<Outgoing>,
    /// Bundles the peer is entitled to but already holds (by its summary): not sent.
    pub skipped: usize,
}

/// The state of this node's custody (see [`Node::custody`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustodyStatus {
    /// Our bundles still in our custody.
    pub open: usize,
    /// Destinations that have not yet taken some of them, with how many.
    pub waiting_for: Vec<(NodeId, usize)>,
    /// Custody answers we owe, sent with the next export.
    pub answers_queued: usize,
}

/// The digest that names a bundle in stores and on sticks: BLAKE3 `derive_key` with
/// context `caravan 2026-11 bundle digest v1` over its bytes.
pub fn bundle_digest(bytes: &[u8]) -> [u8; 32] {
    crypto::derive(CONTEXT_BUNDLE_DIGEST, &[bytes])
}

/// The digest of a bundle's payload (what its author signed, without the primary block
/// that any carrier can rewrite): BLAKE3 `derive_key` with context
/// `caravan 2026-11 payload digest v1`. Two bundles with one payload are one content.
pub fn payload_digest(payload: &[u8]) -> [u8; 32] {
    crypto::derive(crypto::CONTEXT_PAYLOAD_DIGEST, &[payload])
}

/// What a minted bundle is: where it goes, its document (or key scope), its state.
struct Mint<'a> {
    destination: &'a str,
    doc: String,
    state: BundleState,
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
            home: home.to_path_buf(),
            identity: Arc::new(identity),
            name,
            store,
            docs: HashMap::new(),
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

    // ----- contacts -------------------------------------------------------------------

    /// Adds (or updates) a contact, placing it in `audiences` of our profile. Members of
    /// an audience receive its key in a grant bundle with the next export.
    pub fn add_contact(&mut self, card: &ContactCard, audiences: &[Audience]) -> Result<(), Error> {
        let owner = card.node_id();
        if owner == self.node_id() {
            return Err(Error::Invalid("that is this node's own card; a contact is someone else".into()));
        }
        let bits = audiences.iter().filter(|a| **a != Audience::Public).fold(0u8, |b, a| b | a.bit());
        let mut imp = Import::new(self.write_txn()?, (self.clock)());
        let result = (|| {
            imp.t.put_contact(&owner.to_string(), bits, &card.to_bytes())?;
            for audience in audiences.iter().filter(|a| **a != Audience::Public) {
                self.ensure_audience_grants(&mut imp.t, *audience)?;
            }
            // Its profile bundles we carried unread: we read them now (and are a
            // destination of them, so they are answered for).
            let carried: Vec<[u8; 32]> = imp
                .t
                .all_bundle_meta()?
                .into_iter()
                .filter(|(_, m)| {
                    m.state == BundleState::Carried
                        && matches!(DocId::parse(&m.doc), Some(DocId::Profile { owner: o, .. }) if o == owner)
                })
                .map(|(d, _)| d)
                .collect();
            self.reread(&mut imp, carried)
        })();
        let Import { t, touched, .. } = imp;
        self.finish(t, result, touched)
    }

    /// All contacts.
    pub fn contacts(&self) -> Result<Vec<Contact>, Error> {
        Ok(self
            .store
            .read()?
            .contacts()?
            .into_iter()
            .filter_map(|(_, bits, card)| {
                let card = ContactCard::from_bytes(&card).ok()?;
                let audiences = Audience::ALL.into_iter().filter(|a| bits & a.bit() != 0).collect();
                Some(Contact { card, audiences })
            })
            .collect())
    }

    fn contact_card(&self, r: &impl Reads, node: &NodeId) -> Result<Option<ContactCard>, Error> {
        let id = node.to_string();
        Ok(r.contacts()?.into_iter().find(|(n, _, _)| *n == id).and_then(|(_, _, c)| ContactCard::from_bytes(&c).ok()))
    }

    // ----- keys and grants ------------------------------------------------------------

    fn latest_grant(&self, r: &impl Reads, scope: &str) -> Result<Option<Grant>, Error> {
        let prefix = format!("{scope}#");
        Ok(r.grants()?
            .into_iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .filter_map(|(_, g)| Grant::decode(&g).ok())
            .max_by_key(|g| g.epoch))
    }

    /// Ensures our key for `audience` exists and every contact in it has a grant bundle.
    fn ensure_audience_grants(&mut self, t: &mut Txn, audience: Audience) -> Result<(), Error> {
        let me = self.node_id();
        let scope = format!("p/{me}/{audience}");
        let own = match self.latest_grant(t, &scope)? {
            Some(g) => g,
            None => {
                let g = Grant {
                    granter: self.identity.signing_public(),
                    recipient: self.identity.signing_public(),
                    scope: scope.clone(),
                    epoch: 0,
                    key: crypto::random_32(),
                    invitation: None,
                };
                t.put_grant(&format!("{scope}#0"), &g.encode())?;
                g
            }
        };
        let already: HashSet<String> = t
            .all_bundle_meta()?
            .into_iter()
            .filter(|(_, m)| m.state == BundleState::Grant && m.doc == scope)
            .map(|(_, m)| m.destination)
            .collect();
        for (_, bits, card) in t.contacts()? {
            if bits & audience.bit() == 0 {
                continue;
            }
            let Ok(card) = ContactCard::from_bytes(&card) else { continue };
            if already.contains(&card.node_id().endpoint()) {
                continue;
            }
            let grant = Grant { recipient: card.signing_public, invitation: None, ..own.clone() };
            self.store_grant_bundle(t, &card, &grant)?;
        }
        Ok(())
    }

    fn next_sequence(&mut self, t: &mut Txn) -> Result<u64, Error> {
        self.sequence += 1;
        t.set_meta("sequence", &self.sequence.to_le_bytes())?;
        Ok(self.sequence)
    }

    fn store_grant_bundle(&mut self, t: &mut Txn, to: &ContactCard, grant: &Grant) -> Result<(), Error> {
        let me = self.node_id();
        let identity = self.identity.clone();
        let destination = to.node_id().endpoint();
        let seal = |seq| {
            let header = Header {
                kind: Kind::Grant,
                author: me,
                seq,
                doc: grant.scope.clone(),
                epoch: grant.epoch,
                heads: vec![],
                encrypted: true,
            };
            let header_bytes = header.encode();
            let inner = grant.encode();
            let signature = identity.sign(CONTEXT_GRANT_SIGNATURE, &[&header_bytes, &inner]);
            let wrapped =
                crypto::wrap(&to.agreement_public, &header_bytes, &envelope::encode_signed(&inner, &signature))
                    .map_err(|e| Error::Invalid(format!("cannot wrap a key for {}: {e}", to.node_id())))?;
            Ok((header_bytes, wrapped))
        };
        let mint = Mint { destination: &destination, doc: grant.scope.clone(), state: BundleState::Grant };
        self.mint(t, mint, seal, &[], vec![to.node_id()])?;
        Ok(())
    }

    /// The one place that makes a bundle of ours: takes the next sequence number (the
    /// custody id, signed into the header by `seal`), builds the BPv7 bundle around the
    /// sealed envelope, stores it, and opens its custody record when it has destinations.
    fn mint(
        &mut self,
        t: &mut Txn,
        what: Mint<'_>,
        seal: impl FnOnce(u64) -> Result<(Vec<u8>, Vec<u8>), Error>,
        changes: &[[u8; 32]],
        custody_for: Vec<NodeId>,
    ) -> Result<([u8; 32], BundleId), Error> {
        let seq = self.next_sequence(t)?;
        let (header_bytes, body) = seal(seq)?;
        let payload = envelope::encode_envelope(&header_bytes, &body);
        let now = (self.clock)();
        let me = self.node_id();
        let bytes = bundle::build(&me.endpoint(), what.destination, now, seq, self.lifetime, &payload)
            .map_err(|e| Error::Invalid(e.to_string()))?;
        let digest = crypto::derive(CONTEXT_BUNDLE_DIGEST, &[&bytes]);
        let meta = BundleMeta {
            state: what.state,
            author: me,
            seq,
            verified: true,
            payload: payload_digest(&payload),
            doc: what.doc,
            destination: what.destination.to_string(),
            expires_unix_ms: now.saturating_add(self.lifetime.as_millis() as u64),
            changes: changes.len() as u32,
            bytes: bytes.len() as u32,
        };
        let id = BundleId { source: me, seq };
        t.put_bundle(&digest, &bytes, &meta)?;
        t.put_bundle_id(&me.0, seq, &digest)?;
        t.index_changes(&id, changes)?;
        if !custody_for.is_empty() {
            let record = Record::new(id, meta.expires_unix_ms, custody_for, Caravan::default().initial_copies(), now);
            t.put_custody(seq, &[&digest[..], &record.to_bytes()].concat())?;
        }
        Ok((digest, id))
    }

    /// Removes a stored bundle and what hangs on it (its invitation or key wait), and
    /// keeps the relay ledger in step.
    fn drop_stored(&mut self, t: &mut Txn, digest: &[u8; 32]) -> Result<(), Error> {
        drop_rows(t, digest)?;
        if let Some(ledger) = self.ledger.as_mut() {
            ledger.remove(digest);
        }
        Ok(())
    }

    /// Drops a stored bundle and remembers it (and its payload) as known until it expires:
    /// every destination has it, or it was superseded. A copy that comes back, however
    /// re-wrapped, is a duplicate.
    fn forget(&mut self, t: &mut Txn, digest: &[u8; 32]) -> Result<(), Error> {
        let Some(meta) = t.bundle_meta(digest)? else { return Ok(()) };
        let until = meta.expires_unix_ms.min((self.clock)().saturating_add(self.lifetime_cap_ms));
        self.drop_stored(t, digest)?;
        t.set_forgotten(digest, until)?;
        t.set_forgotten(&meta.payload, until)?;
        Ok(())
    }

    // ----- documents ------------------------------------------------------------------

    fn load_doc(&mut self, r: &impl Reads, id: DocId) -> Result<&mut DocState, Error> {
        if !self.docs.contains_key(&id) {
            let name = id.to_string();
            let derr = |e: automerge::AutomergeError| Error::Document { doc: name.clone(), reason: e.to_string() };
            let chunks = r.doc_chunks(&name)?;
            let mut doc = AutoCommit::new();
            for (_, bytes) in &chunks {
                doc.load_incremental(bytes).map_err(derr)?;
            }
            let saved_heads = doc.get_heads();
            // Changes that were waiting for dependencies wait again inside Automerge.
            for (_, raw) in r.pending(&name)? {
                let changes = decode_raw(&raw).map_err(|e| Error::Document { doc: name.clone(), reason: e })?;
                doc.apply_changes(changes).map_err(derr)?;
            }
            doc.set_actor(self.actor());
            let next_chunk = chunks.last().map_or(0, |(s, _)| s + 1);
            let state = DocState { doc, saved_heads, next_chunk, chunks: chunks.len() as u64 };
            self.docs.insert(id, state);
        }
        Ok(self.docs.get_mut(&id).expect("inserted above"))
    }

    /// Writes what changed in `id` since its last persist into the transaction.
    fn persist_doc(&mut self, t: &mut Txn, id: DocId) -> Result<(), Error> {
        let name = id.to_string();
        let Some(state) = self.docs.get_mut(&id) else { return Ok(()) };
        let heads = state.doc.get_heads();
        if heads == state.saved_heads {
            return Ok(());
        }
        if state.chunks >= DOC_CHUNKS_COUNT_MAX {
            t.compact_doc(&name, &state.doc.save(), state.next_chunk)?;
            state.chunks = 1;
        } else {
            let bytes = state.doc.save_after(&state.saved_heads);
            t.put_doc_chunk(&name, state.next_chunk, &bytes)?;
            state.chunks += 1;
        }
        state.next_chunk += 1;
        state.saved_heads = heads;
        Ok(())
    }

    fn heads_of(&mut self, id: DocId) -> Result<Vec<[u8; 32]>, Error> {
        let view = self.store.read()?;
        Ok(self.load_doc(&view, id)?.doc.get_heads().iter().map(hash_bytes).collect())
    }

    /// A document saved in Automerge's own format (empty document if we hold none of
    /// it), for apps that read it with Automerge directly.
    pub fn document_bytes(&mut self, id: DocId) -> Result<Vec<u8>, Error> {
        let view = self.store.read()?;
        Ok(self.load_doc(&view, id)?.doc.save())
    }

    /// Current heads of a document (empty if we hold none of it).
    pub fn heads(&mut self, id: DocId) -> Result<Vec<[u8; 32]>, Error> {
        self.heads_of(id)
    }

    /// A public document this node carries for others but does not keep (a stranger's
    /// profile, the public part of a community it is not in), read on demand from the
    /// carried bundles, whose signatures and authors were checked when they arrived.
    /// `None` for documents this node keeps itself.
    fn carried_doc(&self, r: &impl Reads, id: DocId) -> Result<Option<AutoCommit>, Error> {
        let kept = match id {
            DocId::Profile { owner, audience } => {
                audience != Audience::Public
                    || owner == self.node_id()
                    || self.contact_card(r, &owner)?.is_some()
                    || r.grants()?.iter().any(|(k, _)| k.starts_with(&format!("p/{owner}/")))
            }
            DocId::Community { id: cid, part } => part != Part::Public || self.membership(r, &cid).is_ok(),
        };
        if kept {
            return Ok(None);
        }
        let name = id.to_string();
        let mut doc = AutoCommit::new();
        let now = (self.clock)();
        for (digest, meta) in r.all_bundle_meta()? {
            if meta.state != BundleState::Carried || !meta.verified || meta.doc != name {
                continue;
            }
            let Some(bytes) = r.bundle(&digest)? else { continue };
            let changes = std::panic::catch_unwind(AssertUnwindSafe(|| -> Option<Vec<Change>> {
                let info = bundle::parse(&bytes, now).ok()?;
                let env = envelope::decode_envelope(&bytes[info.payload.clone()]).ok()?;
                let batch = crate::batch::open(env.header_bytes, env.body, None).ok()?;
                let changes = crate::batch::decode_changes(&batch).ok()?;
                // Only the signer's own changes (checked on arrival for documents we keep).
                let actor = ActorId::from(batch.author.to_vec());
                changes.iter().all(|c| *c.actor_id() == actor).then_some(changes)
            }));
            if let Ok(Some(changes)) = changes {
                let _ = std::panic::catch_unwind(AssertUnwindSafe(|| doc.apply_changes(changes)));
            }
        }
        Ok(Some(doc))
    }

    /// Runs a local edit on a document and commits it durably.
    fn edit<F>(&mut self, id: DocId, f: F) -> Result<(), Error>
    where
        F: FnOnce(&mut AutoCommit, &NodeId, u64) -> Result<(), automerge::AutomergeError>,
    {
        let me = self.node_id();
        let now = (self.clock)();
        let view = self.store.read()?;
        let state = self.load_doc(&view, id)?;
        drop(view);
        let before = state.doc.get_heads();
        let edited = f(&mut state.doc, &me, now);
        state.doc.commit();
        // No change of ours may be bigger than what every other node accepts.
        let actor = self.actor();
        let state = self.docs.get_mut(&id).expect("loaded above");
        let biggest = state
            .doc
            .get_changes(&before)
            .iter()
            .filter(|c| *c.actor_id() == actor)
            .map(|c| c.len() as u64)
            .max()
            .unwrap_or(0);
        let refused = match edited {
            Err(e) => Some(e.to_string()),
            Ok(()) if biggest > crate::limits::CHANGE_OPS_MAX => Some(format!(
                "this edit is {biggest} operations in one change, more than the {} other nodes accept; \
                 make it in smaller parts",
                crate::limits::CHANGE_OPS_MAX
            )),
            Ok(()) => None,
        };
        if let Some(reason) = refused {
            // Nothing of it was stored: forget it in memory too.
            self.docs.remove(&id);
            return Err(Error::Document { doc: id.to_string(), reason });
        }
        let mut t = self.write_txn()?;
        let result = self.persist_doc(&mut t, id).and_then(|_| Ok(t.commit()?));
        if let Err(e) = result {
            self.docs.remove(&id);
            return Err(e);
        }
        let heads = self.heads_of(id)?;
        self.emit(vec![Event::DocChanged { doc: id, heads }]);
        Ok(())
    }

    // ----- profile --------------------------------------------------------------------

    /// Sets a field of our profile for `audience` (name, about, location, skills, ...).
    pub fn set_profile_field(&mut self, field: &str, value: &str, audience: Audience) -> Result<(), Error> {
        self.prepare_audience(audience)?;
        let id = DocId::Profile { owner: self.node_id(), audience };
        self.edit(id, |d, _, _| doc::put_str(d, &doc::field_key(field), value))
    }

    /// Posts to our profile for `audience`.
    pub fn add_profile_post(&mut self, text: &str, audience: Audience) -> Result<(), Error> {
        self.prepare_audience(audience)?;
        let id = DocId::Profile { owner: self.node_id(), audience };
        self.edit(id, |d, me, now| doc::add_post(d, me, now, text))
    }

    fn prepare_audience(&mut self, audience: Audience) -> Result<(), Error> {
        if audience != Audience::Public {
            let mut t = self.write_txn()?;
            self.ensure_audience_grants(&mut t, audience)?;
            t.commit()?;
        }
        Ok(())
    }

    /// The profile fields of `node` this node can read, all audiences.
    pub fn profile(&mut self, node: &NodeId) -> Result<Vec<ProfileField>, Error> {
        let view = self.store.read()?;
        let mut out = Vec::new();
        for audience in Audience::ALL {
            let id = DocId::Profile { owner: *node, audience };
            let fields = match self.carried_doc(&view, id)? {
                Some(d) => doc::read_fields(&d),
                None => doc::read_fields(&self.load_doc(&view, id)?.doc),
            };
            out.extend(fields.into_iter().map(|(name, value)| ProfileField { audience, name, value }));
        }
        Ok(out)
    }

    /// The profile posts of `node` this node can read, for one audience.
    pub fn profile_posts(&mut self, node: &NodeId, audience: Audience) -> Result<Vec<Post>, Error> {
        let view = self.store.read()?;
        let id = DocId::Profile { owner: *node, audience };
        Ok(match self.carried_doc(&view, id)? {
            Some(d) => doc::read_posts(&d),
            None => doc::read_posts(&self.load_doc(&view, id)?.doc),
        })
    }

    // ----- communities ----------------------------------------------------------------

    /// Founds a community with us as root owner. Returns its id.
    pub fn create_community(&mut self, name: &str, description: &str) -> Result<CommunityId, Error> {
        if name.is_empty() || name.len() > crate::limits::NAME_BYTES_MAX {
            return Err(Error::Invalid(format!(
                "a community name must be 1 to {} bytes",
                crate::limits::NAME_BYTES_MAX
            )));
        }
        let mut nonce = [0u8; 16];
        crypto::fill_random(&mut nonce);
        let genesis = Genesis { root: self.identity.signing_public(), nonce };
        let cid = membership::community_id(&genesis);
        let me_pk = self.identity.signing_public();
        let grant = Grant {
            granter: me_pk,
            recipient: me_pk,
            scope: format!("c/{cid}"),
            epoch: 0,
            key: crypto::random_32(),
            invitation: Some(Invitation { genesis, chain: vec![], name: name.to_string() }),
        };
        let mut t = self.write_txn()?;
        t.put_grant(&format!("c/{cid}#0"), &grant.encode())?;
        t.commit()?;
        let me = self.node_id();
        let my_name = self.name.clone();
        self.edit(DocId::Community { id: cid, part: Part::Public }, |d, _, _| {
            doc::put_str(d, "name", name)?;
            doc::put_str(d, "description", description)
        })?;
        self.edit(DocId::Community { id: cid, part: Part::Roster }, |d, _, _| {
            doc::put_member(d, &me, Role::Owner, &my_name)
        })?;
        Ok(cid)
    }

    /// Our membership in a community: the grant holding its key and our chain.
    fn membership(&self, r: &impl Reads, cid: &CommunityId) -> Result<(Grant, Invitation, Role), Error> {
        let grant = self.latest_grant(r, &format!("c/{cid}"))?.ok_or(Error::NotMember(*cid))?;
        let inv = grant.invitation.clone().ok_or(Error::NotMember(*cid))?;
        let role = match inv.chain.last() {
            None => Role::Owner,
            Some(c) => Role::from_code(c.role).ok_or(Error::NotMember(*cid))?,
        };
        Ok((grant, inv, role))
    }

    /// The community's current content key and its epoch. For backups, and for tools
    /// that seal bundles by hand (interoperability and adversarial tests).
    pub fn community_key(&self, cid: &CommunityId) -> Result<([u8; 32], u32), Error> {
        let (grant, _, _) = self.membership(&self.store.read()?, cid)?;
        Ok((grant.key, grant.epoch))
    }

    /// The community's genesis and our certificate chain: the proof of membership this
    /// node attaches to every batch it writes for the community.
    pub fn membership_proof(&self, cid: &CommunityId) -> Result<(Genesis, Vec<envelope::Cert>), Error> {
        let (_, inv, _) = self.membership(&self.store.read()?, cid)?;
        Ok((inv.genesis, inv.chain))
    }

    /// Our role in a community.
    pub fn role(&self, cid: &CommunityId) -> Result<Role, Error> {
        Ok(self.membership(&self.store.read()?, cid)?.2)
    }

    /// Invites the holder of `card` into a community with `role`. The invitation bundle
    /// (the community key wrapped for them, and their membership certificate) goes out
    /// with the next export. Only owners invite.
    pub fn invite(&mut self, cid: &CommunityId, card: &ContactCard, role: Role) -> Result<(), Error> {
        let view = self.store.read()?;
        let (grant, inv, my_role) = self.membership(&view, cid)?;
        drop(view);
        if my_role != Role::Owner {
            return Err(Error::NotPermitted { role: my_role, action: "invite members" });
        }
        let cert = membership::issue(&self.identity, cid, &card.signing_public, role);
        let mut chain = inv.chain.clone();
        chain.push(cert);
        if chain.len() > crate::limits::CERT_CHAIN_LEN_MAX {
            return Err(Error::Invalid("delegation chain too long: ask an owner closer to the founder".into()));
        }
        let invitation = Grant {
            granter: self.identity.signing_public(),
            recipient: card.signing_public,
            invitation: Some(Invitation { chain, ..inv }),
            ..grant
        };
        let mut t = self.write_txn()?;
        let id = card.node_id().to_string();
        if !t.contacts()?.iter().any(|(n, _, _)| *n == id) {
            t.put_contact(&id, 0, &card.to_bytes())?;
        }
        self.store_grant_bundle(&mut t, card, &invitation)?;
        t.commit()?;
        let node = card.node_id();
        let name = card.name.clone();
        self.edit(DocId::Community { id: *cid, part: Part::Roster }, |d, _, _| doc::put_member(d, &node, role, &name))
    }

    /// Communities we belong to.
    pub fn communities(&mut self) -> Result<Vec<CommunityInfo>, Error> {
        let view = self.store.read()?;
        let mut out = Vec::new();
        for (key, g) in view.grants()? {
            if !key.starts_with("c/") {
                continue;
            }
            let Ok(g) = Grant::decode(&g) else { continue };
            let Some(inv) = g.invitation else { continue };
            let cid = membership::community_id(&inv.genesis);
            if out.iter().any(|c: &CommunityInfo| c.id == cid) {
                continue;
            }
            let role = inv.chain.last().map_or(Some(Role::Owner), |c| Role::from_code(c.role));
            let Some(role) = role else { continue };
            let public = self.load_doc(&view, DocId::Community { id: cid, part: Part::Public })?;
            let name = doc::read_str(&public.doc, "name").unwrap_or(inv.name);
            out.push(CommunityInfo { id: cid, name, role });
        }
        Ok(out)
    }

    /// A community's roster: (node id, role, name).
    pub fn members(&mut self, cid: &CommunityId) -> Result<Vec<(String, Role, String)>, Error> {
        let view = self.store.read()?;
        Ok(doc::read_roster(&self.load_doc(&view, DocId::Community { id: *cid, part: Part::Roster })?.doc))
    }

    /// A community's public name and description, readable by anyone holding them.
    pub fn community_about(&mut self, cid: &CommunityId) -> Result<(Option<String>, Option<String>), Error> {
        let view = self.store.read()?;
        let id = DocId::Community { id: *cid, part: Part::Public };
        let carried = self.carried_doc(&view, id)?;
        let d = match &carried {
            Some(d) => d,
            None => &self.load_doc(&view, id)?.doc,
        };
        Ok((doc::read_str(d, "name"), doc::read_str(d, "description")))
    }

    fn require_role(&self, cid: &CommunityId, part: Part, action: &'static str) -> Result<(), Error> {
        let role = self.role(cid)?;
        if part.writable_by(role) { Ok(()) } else { Err(Error::NotPermitted { role, action }) }
    }

    /// Writes a wiki page: creates it, or applies `text` as a diff against the current
    /// page so concurrent edits elsewhere in it survive. Owners and editors only.
    pub fn put_wiki_page(&mut self, cid: &CommunityId, page: &str, text: &str) -> Result<(), Error> {
        self.require_role(cid, Part::Wiki, "edit the wiki")?;
        self.edit(DocId::Community { id: *cid, part: Part::Wiki }, |d, _, _| doc::put_page(d, page, text))
    }

    /// A wiki page's text, if it exists and we can read it.
    pub fn wiki_page(&mut self, cid: &CommunityId, page: &str) -> Result<Option<String>, Error> {
        let view = self.store.read()?;
        Ok(doc::read_page(&self.load_doc(&view, DocId::Community { id: *cid, part: Part::Wiki })?.doc, page))
    }

    /// Names of a community's wiki pages.
    pub fn wiki_pages(&mut self, cid: &CommunityId) -> Result<Vec<String>, Error> {
        let view = self.store.read()?;
        Ok(doc::list_pages(&self.load_doc(&view, DocId::Community { id: *cid, part: Part::Wiki })?.doc))
    }

    /// Posts to a community's feed. Any member.
    pub fn post(&mut self, cid: &CommunityId, text: &str) -> Result<(), Error> {
        self.require_role(cid, Part::Feed, "post")?;
        self.edit(DocId::Community { id: *cid, part: Part::Feed }, |d, me, now| doc::add_post(d, me, now, text))
    }

    /// A community's feed, oldest first.
    pub fn feed(&mut self, cid: &CommunityId) -> Result<Vec<Post>, Error> {
        let view = self.store.read()?;
        Ok(doc::read_posts(&self.load_doc(&view, DocId::Community { id: *cid, part: Part::Feed })?.doc))
    }

    /// Invitations waiting for our consent.
    pub fn invites(&self) -> Result<Vec<InviteInfo>, Error> {
        Ok(self
            .store
            .read()?
            .invites()?
            .into_iter()
            .filter_map(|(id, g)| {
                let g = Grant::decode(&g).ok()?;
                let inv = g.invitation?;
                let role = Role::from_code(inv.chain.last()?.role)?;
                Some(InviteInfo {
                    id,
                    community: membership::community_id(&inv.genesis),
                    name: inv.name,
                    from: NodeId::from_signing_public(&g.granter),
                    role,
                })
            })
            .collect())
    }

    /// Accepts a pending invitation: we hold the community key from now on, and any of
    /// its content we already carry is opened.
    pub fn accept_invite(&mut self, id: &str) -> Result<CommunityId, Error> {
        let mut t = self.write_txn()?;
        let grant = t
            .invites()?
            .into_iter()
            .find(|(k, _)| k == id)
            .and_then(|(_, g)| Grant::decode(&g).ok())
            .ok_or_else(|| Error::UnknownInvite(id.to_string()))?;
        let cid = match &grant.invitation {
            Some(inv) => membership::community_id(&inv.genesis),
            None => return Err(Error::UnknownInvite(id.to_string())),
        };
        t.remove_invite(id)?;
        let mut imp = Import::new(t, (self.clock)());
        let result = (|| {
            // The invitation's bundle is ours now, and its inviter learns we took it.
            let stored = imp
                .t
                .all_bundle_meta()?
                .into_iter()
                .find(|(d, m)| m.state == BundleState::Invite && hex(&d[..8]) == id);
            if let Some((digest, meta)) = stored {
                imp.t.set_bundle_meta(&digest, &BundleMeta { state: BundleState::Grant, ..meta.clone() })?;
                imp.t.put_custody_answer(&meta.author.0, Disposition::Accepted.code(), meta.seq)?;
            }
            self.accept_grant(&mut imp, &grant)
        })();
        let Import { t, touched, .. } = imp;
        self.finish(t, result, touched)?;
        self.emit(vec![Event::Joined(cid)]);
        Ok(cid)
    }
}

/// Splits a stored custody value: the bundle's digest, then the record.
fn split_custody(me: NodeId, stored: &[u8]) -> Option<([u8; 32], Record)> {
    let (digest, record) = stored.split_at_checked(32)?;
    Some((digest.try_into().ok()?, Record::from_bytes(me, record).ok()?))
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
mod tests {
    use super::*;

    /// The next chunk is opened before this one is merged, with the keys held then: a key
    /// that arrives in one chunk still opens content in the chunks after it.
    #[test]
    fn content_after_its_key_in_a_later_chunk_is_read() {
        let (ha, hb) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mut a = Node::open(ha.path(), "A").unwrap();
        let mut b = Node::open(hb.path(), "B").unwrap();
        b.add_contact(&a.card(), &[Audience::Friends]).unwrap();
        let cid = a.create_community("Chunks", "").unwrap();
        a.invite(&cid, &b.card(), Role::Member).unwrap();
        let mut bundles = a.export(Target::Everyone).unwrap();
        for i in 0..6 {
            a.post(&cid, &format!("post {i}")).unwrap();
            bundles.extend(a.export(Target::Everyone).unwrap());
        }
        // Chunks of two: the invitation (with the key) comes in the first, posts after.
        let report = b.import_in_chunks(bundles.iter().map(Vec::as_slice).collect(), 2).unwrap();
        assert!(report.rejected().is_empty(), "{:?}", report.rejected());
        assert_eq!(report.waiting(), 0, "{report:?}");
        let feed = b.feed(&cid).unwrap();
        assert_eq!(feed.len(), 6, "{feed:?}");
    }
}
