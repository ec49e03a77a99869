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
use crate::envelope::{self, Batch, Envelope, Genesis, Grant, Header, Invitation, Kind};
use crate::error::{Error, Rejection};
use crate::identity::{ContactCard, Identity, NodeId};
use crate::limits::{BUNDLE_LIFETIME_DEFAULT_SECS, DOC_CHUNKS_COUNT_MAX, IMPORT_CHUNK_COUNT_MAX, PEER_HEADS_COUNT_MAX};
use crate::membership::{self, CertCache};
use crate::relay::{self, Held, QuotaRefusal};
use crate::routing::{Caravan, Class, ContactPlan, Offer, Relation, Strategy};
use crate::store::{BundleMeta, BundleState, Reads, Store, Txn, hex};
use crate::sync::{self, Target};

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

/// A verified change batch: only `open_batch` makes one, and only merging consumes it.
struct Verified {
    doc: DocId,
    author_node: NodeId,
    heads: Vec<[u8; 32]>,
    changes: Vec<Change>,
}

/// A verified batch waiting to be merged: input index, digest, bundle info, the batch,
/// and the bundle's bytes.
type Taken = (usize, [u8; 32], BundleInfo, Verified, Vec<u8>);

enum Opened {
    Batch(Verified),
    NeedKey(String),
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
    identity: Identity,
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
    /// Relayed bundles held, loaded on the first relayed bundle of an import.
    ledger: Option<Ledger>,
    /// Who meets whom and when, for choosing carriers on live links.
    contact_plan: ContactPlan,
}

/// The relayed bundles a node holds, for quota decisions and `Delivered` notices.
#[derive(Default)]
struct Ledger {
    held: Vec<Held<[u8; 32]>>,
    /// Sum of `held` sizes.
    used: u64,
    ids: HashMap<BundleId, [u8; 32]>,
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
        std::fs::create_dir_all(home).map_err(io_err(home))?;
        let identity = Identity::load_or_create(&home.join("identity.key"))?;
        let store = Store::open_with_cache(&home.join("caravan.redb"), cache_bytes)?;
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
        Ok(Node {
            home: home.to_path_buf(),
            identity,
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

    /// Sets the lifetime of bundles this node creates from now on.
    pub fn set_bundle_lifetime(&mut self, lifetime: Duration) {
        self.lifetime = lifetime;
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
        let bits = audiences.iter().filter(|a| **a != Audience::Public).fold(0u8, |b, a| b | a.bit());
        let mut t = self.write_txn()?;
        t.put_contact(&card.node_id().to_string(), bits, &card.to_bytes())?;
        for audience in audiences.iter().filter(|a| **a != Audience::Public) {
            self.ensure_audience_grants(&mut t, *audience)?;
        }
        // Its profile bundles we already hold: we are a destination of them now.
        let owner = card.node_id();
        self.answer_stored(&mut t, |d| matches!(d, DocId::Profile { owner: o, .. } if o == owner))?;
        t.commit()?;
        Ok(())
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

    fn grant_of(&self, r: &impl Reads, scope: &str, epoch: u32) -> Result<Option<Grant>, Error> {
        Ok(r.grant(&format!("{scope}#{epoch}"))?.and_then(|g| Grant::decode(&g).ok()))
    }

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
        let header =
            Header { kind: Kind::Grant, doc: grant.scope.clone(), epoch: grant.epoch, heads: vec![], encrypted: true };
        let header_bytes = header.encode();
        let inner = grant.encode();
        let signature = self.identity.sign(CONTEXT_GRANT_SIGNATURE, &[&header_bytes, &inner]);
        let wrapped = crypto::wrap(&to.agreement_public, &header_bytes, &envelope::encode_signed(&inner, &signature))
            .map_err(|e| Error::Invalid(format!("cannot wrap a key for {}: {e}", to.node_id())))?;
        let destination = to.node_id().endpoint();
        let custody_for = vec![to.node_id()];
        self.store_own_bundle(
            t,
            &destination,
            &header_bytes,
            &wrapped,
            grant.scope.clone(),
            BundleState::Grant,
            &[],
            custody_for,
        )?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn store_own_bundle(
        &mut self,
        t: &mut Txn,
        destination: &str,
        header_bytes: &[u8],
        body: &[u8],
        doc: String,
        state: BundleState,
        changes: &[[u8; 32]],
        custody_for: Vec<NodeId>,
    ) -> Result<[u8; 32], Error> {
        let payload = envelope::encode_envelope(header_bytes, body);
        let now = (self.clock)();
        let seq = self.next_sequence(t)?;
        let bytes = bundle::build(&self.node_id().endpoint(), destination, now, seq, self.lifetime, &payload)
            .map_err(|e| Error::Invalid(e.to_string()))?;
        let digest = crypto::derive(CONTEXT_BUNDLE_DIGEST, &[&bytes]);
        let meta = BundleMeta {
            state,
            doc,
            destination: destination.to_string(),
            expires_unix_ms: now.saturating_add(self.lifetime.as_millis() as u64),
            changes: changes.len() as u32,
            bytes: bytes.len() as u32,
        };
        t.put_bundle(&digest, &bytes, &meta)?;
        t.put_bundle_id(&self.node_id().0, seq, &digest)?;
        t.index_changes(&digest, changes)?;
        if !custody_for.is_empty() {
            let id = BundleId { source: self.node_id(), seq };
            let record = Record::new(id, meta.expires_unix_ms, custody_for, Caravan::default().initial_copies(), now);
            t.put_custody(seq, &[&digest[..], &record.to_bytes()].concat())?;
        }
        Ok(digest)
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
        f(&mut state.doc, &me, now).map_err(|e| Error::Document { doc: id.to_string(), reason: e.to_string() })?;
        state.doc.commit();
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
            for (name, value) in doc::read_fields(&self.load_doc(&view, id)?.doc) {
                out.push(ProfileField { audience, name, value });
            }
        }
        Ok(out)
    }

    /// The profile posts of `node` this node can read, for one audience.
    pub fn profile_posts(&mut self, node: &NodeId, audience: Audience) -> Result<Vec<Post>, Error> {
        let view = self.store.read()?;
        Ok(doc::read_posts(&self.load_doc(&view, DocId::Profile { owner: *node, audience })?.doc))
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
        let d = &self.load_doc(&view, DocId::Community { id: *cid, part: Part::Public })?.doc;
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
        let mut report = ImportReport::default();
        let mut touched = BTreeSet::new();
        let now = (self.clock)();
        let result = self.accept_grant(&mut t, &grant, now, &mut report, &mut touched);
        self.finish(t, result, touched)?;
        self.emit(vec![Event::Joined(cid)]);
        Ok(cid)
    }

    // ----- import ---------------------------------------------------------------------

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
    fn import_in_chunks<'a>(&mut self, bundles: Vec<&'a [u8]>, chunk_max: usize) -> Result<ImportReport, Error> {
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
    fn key_map(&self, r: &impl Reads) -> Result<HashMap<String, [u8; 32]>, Error> {
        Ok(r.grants()?.into_iter().filter_map(|(k, g)| Grant::decode(&g).ok().map(|g| (k, g.key))).collect())
    }

    /// Persists touched documents and commits; on any failure forgets in-memory
    /// documents so they reload from the last committed state.
    fn finish(&mut self, mut t: Txn, result: Result<(), Error>, touched: BTreeSet<DocId>) -> Result<(), Error> {
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
    fn take_in(
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
    fn open_batch(
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
    fn verify_batch(
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
    fn merge_batches(
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

    fn learn_heads(&mut self, t: &mut Txn, node: &NodeId, doc: &str, heads: &[[u8; 32]]) -> Result<(), Error> {
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
    fn take_grant(
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

    fn open_grant(&self, env: &Envelope, source: NodeId) -> Result<Grant, Rejection> {
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
    fn accept_grant(
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
    fn answer_stored(&mut self, t: &mut Txn, which: impl Fn(DocId) -> bool) -> Result<(), Error> {
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

    // ----- export ---------------------------------------------------------------------

    /// Seals our unsent changes, then returns the bundles `target` needs, as bytes, in
    /// priority order (key grants first). Decided only from what we know the target has.
    pub fn export(&mut self, target: Target) -> Result<Vec<Vec<u8>>, Error> {
        let plan = self.plan_export(target)?;
        let view = self.store.read()?;
        let mut out = Vec::with_capacity(plan.len());
        for o in plan {
            if let Some(b) = view.bundle(&o.digest)? {
                out.push(b);
            }
        }
        Ok(out)
    }

    /// Like [`Node::export`], but returns what to send without loading it, so a link can
    /// stream large exports: our own and our communities' bundles first, then those we
    /// carry for others. Fetch each with [`Node::bundle_bytes`].
    pub fn plan_export(&mut self, target: Target) -> Result<Vec<Outgoing>, Error> {
        self.seal_all()?;
        let now = (self.clock)();
        let view = self.store.read()?;
        let catalog = view.all_bundle_meta()?;
        let scope = self.scope_for(&view, target, &catalog)?;
        let by_digest: HashMap<[u8; 32], &BundleMeta> = catalog.iter().map(|(d, m)| (*d, m)).collect();
        let mut out: Vec<Outgoing> = sync::plan(&catalog, &scope, now)
            .into_iter()
            .filter_map(|digest| {
                let m = by_digest.get(&digest)?;
                Some(Outgoing {
                    digest,
                    expires_unix_ms: m.expires_unix_ms,
                    bytes: m.bytes,
                    carried: matches!(m.state, BundleState::WaitingKey | BundleState::Carried),
                })
            })
            .collect();
        out.sort_by_key(|o| o.carried);
        drop(view);
        if !scope.latest_own.is_empty() {
            let mut t = self.write_txn()?;
            for digest in scope.latest_own.values() {
                t.set_announced(&target_key(target), digest)?;
            }
            t.commit()?;
        }
        Ok(out)
    }

    /// The endpoints this node receives for: its own, and its communities' group
    /// endpoints. A live link tells the peer, so it can hand over what it carries for them.
    pub fn endpoints(&mut self) -> Result<Vec<String>, Error> {
        let mut out = vec![self.node_id().endpoint()];
        out.extend(self.communities()?.into_iter().map(|c| c.id.endpoint()));
        Ok(out)
    }

    /// Sets the contact plan used to choose carriers on live links.
    pub fn set_contact_plan(&mut self, plan: ContactPlan) {
        self.contact_plan = plan;
    }

    /// What to send over a live link to `peer`, which holds `peer_holds` and receives for
    /// `peer_endpoints` (both from its summary): first what it is entitled to (as
    /// [`Node::plan_export`] for it), then relay traffic: custody signals and notices
    /// (small; they flood), bundles we carry for its endpoints, and carrier copies of
    /// our own bundles in custody as the routing strategy decides with the contact plan
    /// (copies handed over are taken from the custody record's budget).
    pub fn plan_link(
        &mut self,
        peer: NodeId,
        peer_endpoints: &[String],
        peer_holds: &HashSet<[u8; 32]>,
    ) -> Result<LinkPlan, Error> {
        let entitled = self.plan_export(Target::Peer(peer))?;
        let before = entitled.len();
        let mut out: Vec<Outgoing> = entitled.into_iter().filter(|o| !peer_holds.contains(&o.digest)).collect();
        let skipped = before - out.len();
        let chosen: HashSet<[u8; 32]> = out.iter().map(|o| o.digest).collect();
        let now = (self.clock)();
        let me = self.node_id();
        let view = self.store.read()?;
        let records: HashMap<[u8; 32], (u64, Record)> = view
            .custody_records()?
            .into_iter()
            .filter_map(|(seq, b)| split_custody(me, &b).map(|(d, r)| (d, (seq, r))))
            .collect();
        let trusted = view.contacts()?.iter().any(|(n, _, _)| *n == peer.to_string());
        let endpoints: HashSet<&str> = peer_endpoints.iter().map(String::as_str).collect();
        let mut candidates: Vec<([u8; 32], &BundleMeta)> = Vec::new();
        let mut offers: Vec<Offer> = Vec::new();
        let catalog = view.all_bundle_meta()?;
        for (digest, m) in &catalog {
            if chosen.contains(digest)
                || peer_holds.contains(digest)
                || m.expires_unix_ms < now
                || matches!(m.state, BundleState::Invite | BundleState::Consumed)
            {
                continue;
            }
            let content = match m.state {
                BundleState::Applied | BundleState::WaitingKey => match DocId::parse(&m.doc) {
                    Some(DocId::Community { part: Part::Roster, .. }) => Class::Membership,
                    Some(DocId::Profile { .. } | DocId::Community { part: Part::Public, .. }) => Class::Profile,
                    _ => Class::Content,
                },
                _ => Class::Control,
            };
            let mut offer = Offer {
                class: Class::of(content, m.bytes as u64),
                bytes: m.bytes as u64,
                expires_ms: m.expires_unix_ms,
                relation: Relation::Destination,
                copies: 0,
                holder_next_ms: None,
                peer_next_ms: None,
            };
            if endpoints.contains(m.destination.as_str()) || m.state == BundleState::Signal {
                // For the peer, or control that releases storage everywhere.
            } else if let Some((_, r)) = records.get(digest) {
                offer.relation = if trusted { Relation::Trusted } else { Relation::Stranger };
                offer.copies = r.copies;
                offer.holder_next_ms = self.contact_plan.next_contact(me, &r.pending, now);
                offer.peer_next_ms = self.contact_plan.next_contact(peer, &r.pending, now);
            } else {
                continue; // carried for others: wait for a destination
            }
            candidates.push((*digest, m));
            offers.push(offer);
        }
        let picks = Caravan::default().choose(&offers);
        let mut spent: Vec<(u64, [u8; 32], Record)> = Vec::new();
        for p in picks {
            let (digest, m) = candidates[p.index];
            if p.copies > 0
                && let Some((seq, r)) = records.get(&digest)
            {
                let mut r = r.clone();
                r.copies = r.copies.saturating_sub(p.copies);
                r.last_spray_ms = now;
                spent.push((*seq, digest, r));
            }
            out.push(Outgoing {
                digest,
                expires_unix_ms: m.expires_unix_ms,
                bytes: m.bytes,
                carried: !records.contains_key(&digest),
            });
        }
        drop(view);
        if !spent.is_empty() {
            let mut t = self.write_txn()?;
            for (seq, digest, r) in spent {
                t.put_custody(seq, &[&digest[..], &r.to_bytes()].concat())?;
            }
            t.commit()?;
        }
        Ok(LinkPlan { outgoing: out, skipped })
    }

    /// A stored bundle's bytes.
    pub fn bundle_bytes(&self, digest: &[u8; 32]) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.store.read()?.bundle(digest)?)
    }

    /// Stored bundles' bytes, fetched in one read transaction (`None` where not held).
    pub fn bundles_bytes(&self, digests: &[[u8; 32]]) -> Result<Vec<Option<Vec<u8>>>, Error> {
        Ok(self.store.read()?.bundles(digests)?)
    }

    /// Which of these bundles this node already holds (or carried and dropped once its
    /// source declared it delivered), in one read transaction.
    pub fn holds_each(&self, digests: &[[u8; 32]]) -> Result<Vec<bool>, Error> {
        let view = self.store.read()?;
        digests.iter().map(|d| Ok(view.bundle_meta(d)?.is_some() || view.forgotten(d)?)).collect()
    }

    /// Whether this node already holds a bundle (by its digest, see [`bundle_digest`]), or
    /// carried it and dropped it as delivered.
    pub fn holds(&self, digest: &[u8; 32]) -> Result<bool, Error> {
        Ok(self.holds_each(&[*digest])?.first().copied().unwrap_or(false))
    }

    fn scope_for(
        &mut self,
        view: &crate::store::View,
        target: Target,
        catalog: &[([u8; 32], BundleMeta)],
    ) -> Result<sync::Scope, Error> {
        let mut scope = sync::Scope::default();
        let me = self.node_id();
        let (docs, recipients): (Vec<DocId>, Vec<NodeId>) = match target {
            Target::Everyone => {
                scope.everything = true;
                return Ok(scope);
            }
            Target::Peer(peer) => {
                scope.grant_destinations.insert(peer.endpoint());
                let mut docs = vec![DocId::Profile { owner: me, audience: Audience::Public }];
                if let Some(c) = view.contacts()?.into_iter().find(|(n, _, _)| *n == peer.to_string()) {
                    docs.extend(
                        Audience::ALL
                            .into_iter()
                            .filter(|a| c.1 & a.bit() != 0)
                            .map(|audience| DocId::Profile { owner: me, audience }),
                    );
                }
                for c in self.communities()? {
                    let roster = self.members(&c.id)?;
                    if roster.iter().any(|(n, _, _)| *n == peer.to_string()) {
                        docs.extend(Part::ALL.map(|part| DocId::Community { id: c.id, part }));
                        scope.opaque_docs.extend(Part::ALL.map(|part| DocId::Community { id: c.id, part }.to_string()));
                    }
                }
                (docs, vec![peer])
            }
            Target::Community(cid) => {
                let roster = self.members(&cid)?;
                let members: Vec<NodeId> =
                    roster.iter().filter_map(|(n, _, _)| NodeId::parse(n)).filter(|n| *n != me).collect();
                scope.grant_destinations.extend(members.iter().map(NodeId::endpoint));
                let docs: Vec<DocId> = Part::ALL.iter().map(|part| DocId::Community { id: cid, part: *part }).collect();
                scope.opaque_docs.extend(docs.iter().map(ToString::to_string));
                (docs, members)
            }
        };
        let held: HashSet<&str> = catalog.iter().map(|(_, m)| m.doc.as_str()).collect();
        for id in docs {
            let name = id.to_string();
            if !held.contains(name.as_str()) {
                continue;
            }
            let mut known_per = Vec::new();
            for r in &recipients {
                let known = view.peer_heads(&r.to_string(), &name)?;
                if !known.is_empty()
                    && let Some(key_scope) = id.key_scope()
                {
                    scope.grants_delivered.insert((r.endpoint(), key_scope));
                }
                known_per.push(known);
            }
            if recipients.is_empty() {
                known_per.push(Vec::new());
            }
            // Our latest sealed bundle tells recipients what we have. Hand it to each
            // target once; it is small, and a lost copy only makes the peer send us more.
            if let Some((digest, _)) = view.sealed(&name)?
                && !view.announced(&target_key(target), &digest)?
            {
                scope.latest_own.insert(name.clone(), digest);
            }
            let mut lacking_changes: HashSet<ChangeHash> = HashSet::new();
            let state = self.load_doc(view, id)?;
            for known in known_per {
                let have: Vec<ChangeHash> =
                    known.into_iter().map(ChangeHash).filter(|h| state.doc.get_change_by_hash(h).is_some()).collect();
                lacking_changes.extend(state.doc.get_changes(&have).iter().map(|c| c.hash()));
            }
            let mut bundles = HashSet::new();
            for h in lacking_changes {
                if let Some(d) = view.change_bundle(&h.0)? {
                    bundles.insert(d);
                }
            }
            scope.lacking.insert(name, bundles);
        }
        Ok(scope)
    }

    /// Who a document's bundles are for, ourselves excluded: a community's members, or
    /// the contacts in a profile audience (every contact for the public profile).
    fn destinations(&mut self, r: &impl Reads, id: DocId) -> Result<Vec<NodeId>, Error> {
        let me = self.node_id();
        let mut out: Vec<NodeId> = match id {
            DocId::Community { id: cid, .. } => {
                let roster = self.load_doc(r, DocId::Community { id: cid, part: Part::Roster })?;
                doc::read_roster(&roster.doc).into_iter().filter_map(|(n, _, _)| NodeId::parse(&n)).collect()
            }
            DocId::Profile { audience, .. } => r
                .contacts()?
                .into_iter()
                .filter(|(_, bits, _)| audience == Audience::Public || bits & audience.bit() != 0)
                .filter_map(|(n, _, _)| NodeId::parse(&n))
                .collect(),
        };
        out.retain(|n| *n != me);
        Ok(out)
    }

    /// Turns queued custody answers into one signed signal bundle per custodian.
    fn seal_signals(&mut self, t: &mut Txn) -> Result<(), Error> {
        let outbox = t.custody_outbox()?;
        if outbox.is_empty() {
            return Ok(());
        }
        let mut by: std::collections::BTreeMap<[u8; 20], Vec<(Disposition, BundleId)>> = Default::default();
        for (custodian, code, seq) in outbox {
            let Some(d) = Disposition::from_code(code) else { continue };
            by.entry(custodian).or_default().push((d, BundleId { source: NodeId(custodian), seq }));
        }
        let signer = self.identity.signing_public();
        for (custodian, answers) in by {
            let signal = Signal::aggregate(answers);
            // Bounded records: split a very long answer list over several signals.
            for part in signal.entries.chunks(crate::limits::SIGNAL_ENTRIES_MAX / 2) {
                let part = Signal { entries: part.to_vec() };
                let inner = envelope::encode_signal(&signer, &part);
                let signature = self.identity.sign(CONTEXT_CUSTODY_SIGNAL, &[&inner]);
                let record = envelope::encode_signal_record(&inner, &signature);
                let now = (self.clock)();
                let seq = self.next_sequence(t)?;
                let destination = NodeId(custodian).endpoint();
                let bytes = bundle::build_admin_record(
                    &self.node_id().endpoint(),
                    &destination,
                    now,
                    seq,
                    self.lifetime,
                    &record,
                )
                .map_err(|e| Error::Invalid(e.to_string()))?;
                let digest = crypto::derive(CONTEXT_BUNDLE_DIGEST, &[&bytes]);
                let meta = BundleMeta {
                    state: BundleState::Signal,
                    doc: "custody".into(),
                    destination,
                    expires_unix_ms: now.saturating_add(self.lifetime.as_millis() as u64),
                    changes: 0,
                    bytes: bytes.len() as u32,
                };
                t.put_bundle(&digest, &bytes, &meta)?;
            }
        }
        t.clear_custody_outbox()?;
        Ok(())
    }

    /// Takes in a custody signal: applies it to our custody records if it is for us,
    /// otherwise carries it (within the relay quota) toward its custodian.
    fn take_signal(
        &mut self,
        t: &mut Txn,
        bytes: &[u8],
        digest: [u8; 32],
        info: &BundleInfo,
    ) -> Result<Outcome, Error> {
        let Some(source) = source_node(&info.source) else {
            return Ok(Outcome::Rejected(Rejection::Source(info.source.clone())));
        };
        let rec = match envelope::decode_signal_record(&bytes[info.payload.clone()]) {
            Ok(r) => r,
            Err(e) => return Ok(Outcome::Rejected(e.into())),
        };
        if NodeId::from_signing_public(&rec.signer) != source {
            return Ok(Outcome::Rejected(Rejection::AuthorNotSource(source.to_string())));
        }
        if crypto::verify(&rec.signer, CONTEXT_CUSTODY_SIGNAL, &[rec.inner], &rec.signature).is_err() {
            return Ok(Outcome::Rejected(Rejection::Signature));
        }
        let me = self.node_id();
        // Addressed to its own source: a `Delivered` notice about the source's own bundles,
        // for everyone who carries them.
        if info.destination == info.source {
            let own = |e: &crate::custody::SignalEntry| e.disposition == Disposition::Delivered && e.source == source;
            if !rec.signal.entries.iter().all(own) {
                return Ok(Outcome::Rejected(Rejection::Signal("a notice may only declare its own bundles delivered")));
            }
            self.drop_delivered(t, source, &rec.signal)?;
            self.forget_delivered(t, source, &rec.signal)?;
            if source != me {
                if let Err(o) = self.carry(t, digest, info, bytes.len())? {
                    return Ok(o);
                }
                let meta = meta_for(info, BundleState::Signal, "custody".into(), 0, bytes.len());
                t.put_bundle(&digest, bytes, &meta)?;
            }
            return Ok(Outcome::Waiting(WaitReason::ForOthers));
        }
        if info.destination != me.endpoint() {
            if source_node(&info.destination).is_none() {
                return Ok(Outcome::Rejected(Rejection::Signal("it must be addressed to a node")));
            }
            if let Err(o) = self.carry(t, digest, info, bytes.len())? {
                return Ok(o);
            }
            let meta = meta_for(info, BundleState::Signal, "custody".into(), 0, bytes.len());
            t.put_bundle(&digest, bytes, &meta)?;
            return Ok(Outcome::Waiting(WaitReason::ForOthers));
        }
        // Ours: applied, and kept only so that it is known (never sent on).
        let meta = meta_for(info, BundleState::Consumed, "custody".into(), 0, bytes.len());
        t.put_bundle(&digest, bytes, &meta)?;
        let records: std::collections::BTreeMap<u64, Vec<u8>> = t.custody_records()?.into_iter().collect();
        let mut released = 0;
        for entry in rec.signal.entries.iter().filter(|e| e.source == me) {
            for &(lo, hi) in &entry.ranges {
                for (&seq, stored) in records.range(lo..=hi) {
                    let Some((digest, mut record)) = split_custody(me, stored) else { continue };
                    let effect = record.on_answer(source, entry.disposition);
                    if matches!(effect, SignalEffect::Released | SignalEffect::Progress) {
                        self.learn_from_snapshot(t, &digest, &source)?;
                    }
                    match effect {
                        SignalEffect::Released => {
                            t.remove_custody(seq)?;
                            // Every destination stored it: tell carriers, and forget it.
                            t.put_custody_answer(&me.0, Disposition::Delivered.code(), seq)?;
                            self.forget_own(t, &digest)?;
                            released += 1;
                        }
                        SignalEffect::Progress | SignalEffect::Noted => {
                            t.put_custody(seq, &[&digest[..], &record.to_bytes()].concat())?
                        }
                        SignalEffect::Ignored => {}
                    }
                }
            }
        }
        Ok(Outcome::Custody { released })
    }

    /// Whether bundles of `doc` are carried for others (not a community of ours, not a
    /// profile of a contact or ours).
    fn relayed_doc(&self, r: &impl Reads, doc: &str) -> Result<bool, Error> {
        Ok(match DocId::parse(doc) {
            Some(DocId::Community { id, .. }) => self.membership(r, &id).is_err(),
            Some(DocId::Profile { owner, .. }) => owner != self.node_id() && self.contact_card(r, &owner)?.is_none(),
            None => true,
        })
    }

    /// Makes room for a relayed bundle within the relay quota, evicting other relayed
    /// bundles (expired first, then the heaviest source's largest), or refuses it: not
    /// carried (no room), or a duplicate (its source declared it delivered).
    fn carry(
        &mut self,
        t: &mut Txn,
        digest: [u8; 32],
        info: &BundleInfo,
        len: usize,
    ) -> Result<Result<(), Outcome>, Error> {
        let source = source_node(&info.source).unwrap_or(NodeId([0; 20]));
        if t.delivered(&source.0)?.iter().any(|&(lo, hi)| (lo..=hi).contains(&info.sequence)) {
            t.set_forgotten(&digest)?;
            return Ok(Err(Outcome::Duplicate));
        }
        self.ensure_ledger(t)?;
        Ok(self.admit(t, digest, source, info, len).map_err(Outcome::NotCarried))
    }

    /// A write transaction for anything but an import: it may remove carried bundles
    /// behind the relay ledger's back, so the ledger is reloaded at the next import.
    fn write_txn(&mut self) -> Result<Txn, Error> {
        self.ledger = None;
        Ok(self.store.write()?)
    }

    /// Loads the relay ledger once per import (a store failure is an error, not an empty
    /// ledger: the quota must hold).
    fn ensure_ledger(&mut self, t: &Txn) -> Result<(), Error> {
        if self.ledger.is_none() {
            let now = (self.clock)();
            self.ledger = Some(self.load_ledger(t, now)?);
        }
        Ok(())
    }

    fn admit(
        &mut self,
        t: &mut Txn,
        digest: [u8; 32],
        source: NodeId,
        info: &BundleInfo,
        len: usize,
    ) -> Result<(), QuotaRefusal> {
        let now = (self.clock)();
        let Some(ledger) = self.ledger.as_mut() else { return Err(QuotaRefusal::Full) };
        let incoming = Held { key: digest, source, bytes: len as u64, expires_ms: info.expires_unix_ms() };
        // The common case, room to spare, without walking the ledger.
        let evict = if ledger.used + incoming.bytes <= self.relay_quota {
            Vec::new()
        } else {
            relay::admit(&ledger.held, &incoming, self.relay_quota, now)?
        };
        if evict.is_empty() {
            ledger.used += incoming.bytes;
        } else {
            for key in &evict {
                // A failed removal only leaves the bundle stored: never loses anything.
                let _ = t.remove_bundle(key);
            }
            ledger.held.retain(|h| !evict.contains(&h.key));
            ledger.ids.retain(|_, d| !evict.contains(d));
            ledger.used = ledger.held.iter().map(|h| h.bytes).sum::<u64>() + incoming.bytes;
        }
        ledger.held.push(incoming);
        ledger.ids.insert(BundleId { source, seq: info.sequence }, digest);
        Ok(())
    }

    /// Applies a source's `Delivered` notice: every destination has these bundles, so the
    /// copies we carry for others go. Returns how many were dropped.
    fn drop_delivered(&mut self, t: &mut Txn, source: NodeId, signal: &Signal) -> Result<usize, Error> {
        self.ensure_ledger(t)?;
        let Some(ledger) = self.ledger.as_mut() else { return Ok(0) };
        let gone: Vec<(BundleId, [u8; 32])> = ledger
            .ids
            .iter()
            .filter(|(id, _)| id.source == source && signal.disposition_of(id) == Some(Disposition::Delivered))
            .map(|(id, d)| (*id, *d))
            .collect();
        for (id, digest) in &gone {
            t.remove_bundle(digest)?;
            t.set_forgotten(digest)?;
            ledger.ids.remove(id);
            ledger.held.retain(|h| h.key != *digest);
        }
        ledger.used = ledger.held.iter().map(|h| h.bytes).sum();
        // Remember, so the same bundles read again from a stick are not carried again.
        let mut ranges = t.delivered(&source.0)?;
        for e in signal.entries.iter().filter(|e| e.source == source) {
            ranges.extend(e.ranges.iter().copied());
        }
        t.set_delivered(&source.0, &merge_ranges(ranges))?;
        Ok(gone.len())
    }

    fn load_ledger(&self, t: &Txn, now: u64) -> Result<Ledger, Error> {
        let mut out = Ledger::default();
        for (digest, meta) in t.all_bundle_meta()? {
            let relayed = match meta.state {
                BundleState::Carried | BundleState::Signal => true,
                BundleState::WaitingKey => self.relayed_doc(t, &meta.doc)?,
                _ => false,
            };
            if !relayed {
                continue;
            }
            // Expired or unreadable: source unknown, evicted first (expiry 0).
            let info = t.bundle(&digest)?.and_then(|b| bundle::parse(&b, now).ok());
            let source = info.as_ref().and_then(|i| source_node(&i.source)).unwrap_or(NodeId([0; 20]));
            let expires_ms = if info.is_some() { meta.expires_unix_ms } else { 0 };
            if let Some(i) = &info {
                out.ids.insert(BundleId { source, seq: i.sequence }, digest);
            }
            out.held.push(Held { key: digest, source, bytes: meta.bytes as u64, expires_ms });
            out.used += meta.bytes as u64;
        }
        Ok(out)
    }

    /// Custody of our bundles: records still open, and for each destination, how many
    /// bundles still wait for it.
    pub fn custody(&self) -> Result<CustodyStatus, Error> {
        let view = self.store.read()?;
        let me = self.node_id();
        let mut status = CustodyStatus::default();
        let mut waiting: HashMap<NodeId, usize> = HashMap::new();
        for (_, bytes) in view.custody_records()? {
            let Some((_, r)) = split_custody(me, &bytes) else { continue };
            status.open += 1;
            for n in r.pending {
                *waiting.entry(n).or_default() += 1;
            }
        }
        status.waiting_for = waiting.into_iter().collect();
        status.waiting_for.sort();
        status.answers_queued = view.custody_outbox()?.len();
        Ok(status)
    }

    /// Notes that an exchange with `peer` just completed (shown by `caravan status`).
    pub fn record_contact(&mut self, peer: &NodeId) -> Result<(), Error> {
        let now = (self.clock)();
        let mut t = self.write_txn()?;
        t.set_meta(&format!("seen|{peer}"), &now.to_le_bytes())?;
        t.commit()?;
        Ok(())
    }

    /// Nodes this node has exchanged with over live links, with when it last did (ms).
    pub fn contacts_seen(&self) -> Result<Vec<(NodeId, u64)>, Error> {
        let rows = self.store.read()?.meta_prefix("seen|")?;
        Ok(rows
            .into_iter()
            .filter_map(|(k, v)| {
                let node = NodeId::parse(k.strip_prefix("seen|")?)?;
                Some((node, u64::from_le_bytes(v.as_slice().try_into().ok()?)))
            })
            .collect())
    }

    /// Digests of every bundle stored, and of those forgotten as delivered: what a peer
    /// on a live link need not send.
    pub fn held_digests(&self) -> Result<Vec<[u8; 32]>, Error> {
        let view = self.store.read()?;
        let mut out: Vec<[u8; 32]> = view.all_bundle_meta()?.into_iter().map(|(d, _)| d).collect();
        // Forgotten as delivered: a peer must not send them back either.
        out.extend(view.all_forgotten()?);
        Ok(out)
    }

    /// Bundles stored (ours, our communities', and carried for others): count and bytes.
    pub fn stored(&self) -> Result<(usize, u64), Error> {
        let view = self.store.read()?;
        let all = view.all_bundle_meta()?;
        Ok((all.len(), all.iter().map(|(_, m)| m.bytes as u64).sum()))
    }

    /// Relay usage: bytes carried for others, and the quota.
    pub fn relay_usage(&self) -> Result<(u64, u64), Error> {
        let view = self.store.read()?;
        let mut used = 0u64;
        for (_, meta) in view.all_bundle_meta()? {
            let relayed = match meta.state {
                BundleState::Carried | BundleState::Signal => true,
                BundleState::WaitingKey => self.relayed_doc(&view, &meta.doc)?,
                _ => false,
            };
            if relayed {
                used += meta.bytes as u64;
            }
        }
        Ok((used, self.relay_quota))
    }

    /// Renews our bundles still waiting for destinations that are about to expire: the
    /// same signed payload in a new primary block (new creation time, sequence number and
    /// lifetime). Readers take identity from the signature, so the renewed bundle is as
    /// good as the old; a destination that had the old one answers for the new one too.
    fn renew_custody(&mut self, t: &mut Txn) -> Result<(), Error> {
        let now = (self.clock)();
        let me = self.node_id();
        for (seq, stored) in t.custody_records()? {
            let Some((digest, record)) = split_custody(me, &stored) else { continue };
            if !record.needs_renewal(now) {
                continue;
            }
            t.remove_custody(seq)?;
            let (Some(bytes), Some(meta)) = (t.bundle(&digest)?, t.bundle_meta(&digest)?) else { continue };
            // Parsed as of just before its expiry: it may already have expired.
            let Ok(info) = bundle::parse(&bytes, meta.expires_unix_ms.saturating_sub(1)) else { continue };
            if info.admin_record {
                continue;
            }
            let payload = &bytes[info.payload.clone()];
            let new_seq = self.next_sequence(t)?;
            let renewed = bundle::build(&info.source, &info.destination, now, new_seq, self.lifetime, payload)
                .map_err(|e| Error::Invalid(e.to_string()))?;
            let new_digest = crypto::derive(CONTEXT_BUNDLE_DIGEST, &[&renewed]);
            let expires = now.saturating_add(self.lifetime.as_millis() as u64);
            let new_meta = BundleMeta { expires_unix_ms: expires, bytes: renewed.len() as u32, ..meta.clone() };
            t.put_bundle(&new_digest, &renewed, &new_meta)?;
            t.put_bundle_id(&me.0, new_seq, &new_digest)?;
            // The change index points at the renewed bundle from now on.
            if let Ok(env) = envelope::decode_envelope(payload)
                && matches!(env.header.kind, Kind::Batch | Kind::Snapshot)
                && let Some(doc) = DocId::parse(&env.header.doc)
            {
                let key = match doc.key_scope() {
                    Some(scope) => self.grant_of(t, &scope, env.header.epoch)?.map(|g| g.key),
                    None => None,
                };
                if let Ok((_, changes)) = open_and_decode(&env, key.as_ref()) {
                    let hashes: Vec<[u8; 32]> = changes.iter().map(|c| c.hash().0).collect();
                    t.index_changes(&new_digest, &hashes)?;
                }
            }
            if let Some((latest, heads)) = t.sealed(&meta.doc)?
                && latest == digest
            {
                t.set_sealed(&meta.doc, &new_digest, &heads)?;
            }
            t.remove_bundle(&digest)?;
            let id = BundleId { source: me, seq: new_seq };
            let fresh = Record { id, expires_ms: expires, last_spray_ms: now, ..record };
            t.put_custody(new_seq, &[&new_digest[..], &fresh.to_bytes()].concat())?;
        }
        Ok(())
    }

    /// Drops expired bundles that hold nothing a document needs: signals, notices,
    /// carried and unreadable bundles, heads announcements. (An expired bundle can no
    /// longer be imported anywhere, nor opened here.)
    fn purge_expired(&mut self, t: &mut Txn) -> Result<(), Error> {
        let now = (self.clock)();
        for (digest, m) in t.all_bundle_meta()? {
            let dead = match m.state {
                BundleState::Signal | BundleState::Consumed | BundleState::Carried | BundleState::WaitingKey => true,
                BundleState::Applied => m.changes == 0,
                BundleState::Grant | BundleState::Invite => false,
            };
            if dead && m.expires_unix_ms <= now {
                t.remove_bundle(&digest)?;
            }
        }
        Ok(())
    }

    /// Forgets one of our community bundles once every destination stored it. (The
    /// `sealed` entry keeps its heads: peers learned them from the bundle itself.)
    fn forget_own(&mut self, t: &mut Txn, digest: &[u8; 32]) -> Result<(), Error> {
        let Some(meta) = t.bundle_meta(digest)? else { return Ok(()) };
        // Profile bundles stay: a new contact gets them as they are (profiles are small,
        // and only communities have owners to vouch for a snapshot).
        if !matches!(DocId::parse(&meta.doc), Some(DocId::Community { .. })) {
            return Ok(());
        }
        t.remove_bundle(digest)?;
        // Copies still travelling (on sticks, at members) are known when they come back.
        t.set_forgotten(digest)?;
        Ok(())
    }

    /// A member's side of a `Delivered` notice: every destination has stored these
    /// bundles of `source`, so our copies go (the document keeps their changes; a late
    /// joiner gets them from an owner's snapshot).
    fn forget_delivered(&mut self, t: &mut Txn, source: NodeId, signal: &Signal) -> Result<(), Error> {
        for e in signal.entries.iter().filter(|e| e.source == source && e.disposition == Disposition::Delivered) {
            for &(lo, hi) in &e.ranges {
                for (_, digest) in t.bundle_ids(&source.0, lo, hi)? {
                    if t.bundle_meta(&digest)?.is_some_and(|m| m.state == BundleState::Applied) {
                        t.remove_bundle(&digest)?;
                        t.set_forgotten(&digest)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// When a destination takes one of our bundles, remember what it now has: a
    /// snapshot's heads; for a batch, those of its heads whose changes the batch itself
    /// carries. (So an owner does not seal a snapshot for a member that took everything
    /// before it was forgotten.)
    fn learn_from_snapshot(&mut self, t: &mut Txn, digest: &[u8; 32], node: &NodeId) -> Result<(), Error> {
        let now = (self.clock)();
        let Some(bytes) = t.bundle(digest)? else { return Ok(()) };
        let Ok(info) = bundle::parse(&bytes, now) else { return Ok(()) };
        let Ok(env) = envelope::decode_envelope(&bytes[info.payload.clone()]) else { return Ok(()) };
        match env.header.kind {
            Kind::Snapshot => self.learn_heads(t, node, &env.header.doc, &env.header.heads)?,
            Kind::Batch => {
                let mut own = Vec::new();
                for h in &env.header.heads {
                    if t.change_bundle(h)? == Some(*digest) {
                        own.push(*h);
                    }
                }
                if !own.is_empty() {
                    self.learn_heads(t, node, &env.header.doc, &own)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Seals a snapshot of each part of each community we own when a member lacks
    /// changes (by the heads it announced) whose bundles are no longer stored: forgotten
    /// once delivered, so it joined later. Its custody is for those members only.
    fn seal_snapshots(&mut self, t: &mut Txn) -> Result<(), Error> {
        let mut docs: Vec<DocId> = Vec::new();
        for c in self.communities()? {
            if c.role == Role::Owner {
                docs.extend(Part::ALL.map(|part| DocId::Community { id: c.id, part }));
            }
        }
        for id in docs {
            let name = id.to_string();
            if self.load_doc(t, id)?.doc.get_heads().is_empty() {
                continue;
            }
            let destinations = self.destinations(t, id)?;
            let mut needy = Vec::new();
            let mut uncovered: Vec<[u8; 32]> = Vec::new();
            for d in destinations {
                let known = t.peer_heads(&d.to_string(), &name)?;
                let state = self.load_doc(t, id)?;
                let have: Vec<ChangeHash> =
                    known.into_iter().map(ChangeHash).filter(|h| state.doc.get_change_by_hash(h).is_some()).collect();
                let lacking: Vec<[u8; 32]> = state.doc.get_changes(&have).iter().map(|c| c.hash().0).collect();
                let mut missing = false;
                for h in lacking {
                    let stored = match t.change_bundle(&h)? {
                        Some(b) => t.bundle_meta(&b)?.is_some(),
                        None => false,
                    };
                    if !stored {
                        missing = true;
                        if !uncovered.contains(&h) {
                            uncovered.push(h);
                        }
                    }
                }
                if missing {
                    needy.push(d);
                }
            }
            if needy.is_empty() {
                continue;
            }
            let state = self.load_doc(t, id)?;
            let heads: Vec<[u8; 32]> = state.doc.get_heads().iter().map(hash_bytes).collect();
            let all: Vec<Change> = state.doc.get_changes(&[]).into_iter().collect();
            let (encoding, changes) = crate::batch::encode_changes(&mut state.doc, &all);
            let (genesis, chain) = match id {
                DocId::Community { id: cid, .. } => {
                    let (_, inv, _) = self.membership(t, &cid)?;
                    (Some(inv.genesis), inv.chain)
                }
                DocId::Profile { .. } => (None, vec![]),
            };
            let batch = Batch { author: self.identity.signing_public(), genesis, chain, encoding, changes };
            let key = match id.key_scope() {
                None => None,
                Some(scope) => Some(self.latest_grant(t, &scope)?.ok_or_else(|| Error::Document {
                    doc: name.clone(),
                    reason: "no key held for this document".into(),
                })?),
            };
            let header = Header {
                kind: Kind::Snapshot,
                doc: name.clone(),
                epoch: key.as_ref().map_or(0, |g| g.epoch),
                heads,
                encrypted: !id.is_public(),
            };
            let (header_bytes, body) =
                crate::batch::seal(&self.identity, &header, &batch, key.as_ref().map(|g| &g.key));
            self.store_own_bundle(
                t,
                &id.endpoint(),
                &header_bytes,
                &body,
                name,
                BundleState::Applied,
                &uncovered,
                needy,
            )?;
        }
        Ok(())
    }

    /// Seals, per document we may write, our changes not yet in a bundle; and, where our
    /// heads moved without changes of ours, an empty batch announcing what we now have;
    /// then snapshots where needed, and our queued custody answers.
    fn seal_all(&mut self) -> Result<(), Error> {
        let view = self.store.read()?;
        let me = self.node_id();
        let mut candidates: Vec<DocId> =
            Audience::ALL.iter().map(|a| DocId::Profile { owner: me, audience: *a }).collect();
        for c in self.communities()? {
            candidates.extend(Part::ALL.map(|part| DocId::Community { id: c.id, part }));
        }
        let stored: HashSet<String> = view.doc_ids()?.into_iter().collect();
        drop(view);
        let mut t = self.write_txn()?;
        let result = (|| {
            for id in candidates {
                if stored.contains(&id.to_string()) {
                    self.seal_doc(&mut t, id)?;
                }
            }
            self.seal_snapshots(&mut t)?;
            self.renew_custody(&mut t)?;
            self.purge_expired(&mut t)?;
            self.seal_signals(&mut t)
        })();
        match result {
            Ok(()) => Ok(t.commit()?),
            Err(e) => Err(e),
        }
    }

    fn seal_doc(&mut self, t: &mut Txn, id: DocId) -> Result<(), Error> {
        let name = id.to_string();
        let sealed = t.sealed(&name)?;
        let actor = self.actor();
        let state = self.load_doc(t, id)?;
        let heads = state.doc.get_heads();
        let heads_bytes: Vec<[u8; 32]> = heads.iter().map(hash_bytes).collect();
        let previous: Vec<ChangeHash> =
            sealed.as_ref().map(|s| s.1.iter().copied().map(ChangeHash).collect()).unwrap_or_default();
        if sealed.as_ref().is_some_and(|s| s.1 == heads_bytes) {
            return Ok(());
        }
        let have: Vec<ChangeHash> =
            previous.into_iter().filter(|h| state.doc.get_change_by_hash(h).is_some()).collect();
        let own: Vec<Change> = state.doc.get_changes(&have).into_iter().filter(|c| *c.actor_id() == actor).collect();
        let (encoding, changes) = crate::batch::encode_changes(&mut state.doc, &own);
        let (genesis, chain) = match id {
            DocId::Community { id: cid, part } => {
                let (_, inv, role) = self.membership(t, &cid)?;
                if !own.is_empty() && !part.writable_by(role) {
                    return Err(Error::NotPermitted { role, action: "write this document" });
                }
                (Some(inv.genesis), inv.chain)
            }
            DocId::Profile { .. } => (None, vec![]),
        };
        let batch = Batch { author: self.identity.signing_public(), genesis, chain, encoding, changes };
        let header = Header {
            kind: Kind::Batch,
            doc: name.clone(),
            epoch: 0,
            heads: heads_bytes.clone(),
            encrypted: !id.is_public(),
        };
        let key = match id.key_scope() {
            None => None,
            Some(scope) => {
                let g = self.latest_grant(t, &scope)?.ok_or_else(|| Error::Document {
                    doc: name.clone(),
                    reason: "no key held for this document".into(),
                })?;
                Some(g)
            }
        };
        let header = Header { epoch: key.as_ref().map_or(0, |g| g.epoch), ..header };
        let (header_bytes, body) = crate::batch::seal(&self.identity, &header, &batch, key.as_ref().map(|g| &g.key));
        let hashes: Vec<[u8; 32]> = own.iter().map(|c| c.hash().0).collect();
        // Bundles with changes stay in our custody until every destination took them.
        let custody_for = if hashes.is_empty() { Vec::new() } else { self.destinations(t, id)? };
        let digest = self.store_own_bundle(
            t,
            &id.endpoint(),
            &header_bytes,
            &body,
            name.clone(),
            BundleState::Applied,
            &hashes,
            custody_for,
        )?;
        // A superseded announcement carries nothing anyone needs.
        if let Some((old, _)) = sealed
            && t.bundle_meta(&old)?.is_some_and(|m| m.changes == 0)
        {
            t.remove_bundle(&old)?;
        }
        t.set_sealed(&name, &digest, &heads_bytes)?;
        Ok(())
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

fn meta_for(info: &BundleInfo, state: BundleState, doc: String, changes: usize, bytes: usize) -> BundleMeta {
    BundleMeta {
        state,
        doc,
        destination: info.destination.clone(),
        expires_unix_ms: info.expires_unix_ms(),
        changes: changes as u32,
        bytes: bytes as u32,
    }
}

/// The node id in a `dtn://<node-id>/caravan` endpoint.
fn source_node(eid: &str) -> Option<NodeId> {
    let rest = eid.strip_prefix("dtn://")?;
    let (node, service) = rest.split_once('/')?;
    (service == "caravan").then(|| NodeId::parse(node)).flatten()
}

/// A bundle as far as it can be checked without the store.
struct Preopened<'a> {
    digest: [u8; 32],
    info: Result<BundleInfo, bundle::BundleFormatError>,
    envelope: Option<Result<Envelope<'a>, envelope::EnvelopeError>>,
    /// Present when the key was at hand: the opened, signature-checked batch.
    batch: Option<Result<OpenBatch, Rejection>>,
}

/// A batch whose signature verified, with its changes decoded.
type OpenBatch = (Batch, Vec<Change>);

fn preopen<'a>(bytes: &'a [u8], now: u64, keys: &HashMap<String, [u8; 32]>) -> Preopened<'a> {
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

fn preopen_all<'a>(chunk: &[&'a [u8]], now: u64, keys: &HashMap<String, [u8; 32]>) -> Vec<Preopened<'a>> {
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

fn open_and_decode(env: &Envelope, key: Option<&[u8; 32]>) -> Result<OpenBatch, Rejection> {
    let batch = crate::batch::open(env.header_bytes, env.body, key)?;
    let changes = crate::batch::decode_changes(&batch)?;
    Ok((batch, changes))
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
