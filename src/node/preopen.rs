//! The pre-pass of an import: everything that can be checked about a bundle without the
//! store, cheapest first, on all cores. Nothing here decodes a change before the author's
//! signature and right to write are proven, or content this node will not use.

use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use automerge::{ActorId, Change};

use crate::bundle::{self, BundleFormatError, BundleInfo};
use crate::cloak::Route;
use crate::crypto::{self, CONTEXT_GRANT_SIGNATURE};
use crate::doc::{CommunityId, DocId, Part, Role};
use crate::envelope::{self, Batch, Envelope, Grant, Header, Kind};
use crate::error::Rejection;
use crate::identity::{Identity, NodeId};
use crate::membership;
use crate::plugin::Writer;

use super::{payload_digest, source_node};

/// What the pre-pass knows about this node: a snapshot taken before a chunk of bundles.
#[derive(Clone)]
pub(super) struct Ctx {
    pub(super) identity: Arc<Identity>,
    pub(super) me: NodeId,
    /// Keys held, by `scope#epoch`.
    pub(super) keys: HashMap<String, [u8; 32]>,
    /// Contacts, and nodes that granted us a key to their profile: we read their
    /// profiles (and are destinations of them).
    pub(super) contacts: HashSet<NodeId>,
    /// Communities we are a member of: we read their public part too.
    pub(super) communities: HashSet<CommunityId>,
    /// Nodes and communities whose public content we follow (`follow.rs`).
    pub(super) followed: Arc<super::follow::FollowSet>,
    /// Certificates whose signatures already verified.
    pub(super) certs: Arc<HashSet<[u8; 32]>>,
    pub(super) now: u64,
    pub(super) lifetime_cap_ms: u64,
    /// Nodes blocked here: their bundles are refused at the first look.
    pub(super) blocked: HashSet<NodeId>,
    /// Our communities' authority logs, as last resolved.
    pub(super) authority: HashMap<CommunityId, Arc<crate::authority::State>>,
    /// The routes we read, by every tag they have had while a bundle could live
    /// (`cloaking.rs`).
    pub(super) routes: Arc<HashMap<[u8; crate::cloak::TAG_LEN], Route>>,
    /// What opens bundles cloaked for this node alone.
    pub(super) direct: x25519_dalek::StaticSecret,
}

/// A verified change batch: only the pre-pass makes one, and only merging consumes it.
pub(super) struct Verified {
    pub(super) doc: DocId,
    /// The signer, who is the author named in the signed header.
    pub(super) author: NodeId,
    /// Its signing key (custody answers go to it alone).
    pub(super) signer: [u8; 32],
    /// The author's custody sequence number (signed).
    pub(super) seq: u64,
    pub(super) heads: Vec<[u8; 32]>,
    pub(super) changes: Vec<Change>,
    /// A batch or a snapshot.
    pub(super) kind: Kind,
    /// For community documents, what the authority log is checked against again when
    /// the batch is taken in (the log may have moved since the pre-pass).
    pub(super) member: Option<Membership>,
    /// Its kind's rule failed against the log as the pre-pass saw it, but holds without
    /// the log: judged again against the log when merged (this import may move the log,
    /// as when a certifier is named and signs in one stick load).
    pub(super) recheck: bool,
}

/// A community batch author's proof, as the log judges it.
#[derive(Clone)]
pub(super) struct Membership {
    pub(super) signer: [u8; 32],
    pub(super) cert_role: Role,
    /// The owners whose certificates vouch for it.
    pub(super) vouchers: Vec<[u8; 32]>,
    pub(super) announcement: bool,
    /// The authority heads it was written under (signed, in the batch).
    pub(super) authority: Vec<[u8; 32]>,
}

/// The author's role as the community's authority log says, or why it may not write
/// `part`. The log itself takes every operation of anyone ever admitted (its resolution
/// voids what breaks a rule, the same at every node). An author the log does not know
/// yet (its invitation's entry is on its way) holds its certificate's role while every
/// owner who vouched for it still is one.
///
/// Content carries the authority heads its author wrote under. What a removed (or
/// demoted) author wrote having seen its removal is refused; what it wrote concurrently
/// (not having seen it) is void but not dropped: set aside, kept for audit
/// (`Verdict::SetAside`).
pub(super) fn log_role(
    state: &crate::authority::State,
    community: CommunityId,
    m: &Membership,
    part: Part,
    kind: Kind,
) -> Result<Verdict, Rejection> {
    if part == Part::AUTHORITY {
        return Ok(Verdict::Admit(m.cert_role));
    }
    let unseen = !m.announcement && state.unseen_change(&m.signer, &m.authority).is_some();
    if state.is_gone(&m.signer) {
        if unseen {
            return Ok(Verdict::SetAside("made concurrently with its author's removal"));
        }
        return Err(Rejection::Removed { community, reason: "removed from it, or left" });
    }
    let role = match state.role(&m.signer) {
        Some(role) => role,
        None => {
            if m.vouchers.iter().any(|v| state.role(v) != Some(Role::Owner)) {
                return Err(Rejection::Removed { community, reason: "invited by someone no longer an owner" });
            }
            m.cert_role
        }
    };
    if !m.announcement && !part.writable_by(role) {
        if unseen {
            return Ok(Verdict::SetAside("made concurrently with its author's demotion"));
        }
        return Err(Rejection::Permission { role, part });
    }
    if kind == Kind::Snapshot && role != Role::Owner {
        return Err(Rejection::SnapshotNotOwner(role));
    }
    Ok(Verdict::Admit(role))
}

/// What the authority log makes of a community batch's author.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// It writes with this role.
    Admit(Role),
    /// Void (why), but kept for audit, not merged.
    SetAside(&'static str),
}

/// What the pre-pass concluded about one bundle.
pub(super) enum Pre {
    /// Refused: the reason says whether for good.
    Refused(Rejection),
    /// A release list: whatever we hold whose cloak shows the hash of one of its secrets
    /// is delivered everywhere it had to go.
    Release { info: BundleInfo, payload: [u8; 32], secrets: Vec<[u8; 32]> },
    /// A custody signal or delivered notice, its signature checked.
    Signal { info: BundleInfo, payload: [u8; 32], signer: NodeId, signal: crate::custody::Signal },
    /// Kept for others without being read: grants for other nodes, content of groups
    /// this node is not in (`verified`: its author's signature was checked, as for public
    /// content), content under a key not held (`waiting`: `scope#epoch`).
    Carry { info: BundleInfo, payload: [u8; 32], header: Header, verified: bool, waiting: Option<String> },
    /// A key grant or invitation for this node, opened and its signature checked.
    Grant { info: BundleInfo, payload: [u8; 32], header: Header, grant: Grant },
    /// A change batch this node reads, verified and decoded.
    Batch { info: BundleInfo, payload: [u8; 32], verified: Verified },
}

/// Certificates verified while checking one bundle, to add to the node's cache.
pub(super) type NewCerts = Vec<[u8; 32]>;

/// Checks one bundle as far as possible without the store. A panic inside a decoder
/// refuses this bundle and nothing else.
pub(super) fn preopen(bytes: &[u8], ctx: &Ctx) -> (Pre, NewCerts) {
    let mut certs = Vec::new();
    match std::panic::catch_unwind(AssertUnwindSafe(|| check(bytes, ctx, &mut certs))) {
        Ok(Ok(pre)) => (pre, certs),
        Ok(Err(r)) => (Pre::Refused(r), certs),
        Err(_) => (Pre::Refused(Rejection::DecoderFailed), Vec::new()),
    }
}

/// [`preopen`] over a chunk, on all cores when it is worth it.
pub(super) fn preopen_all(chunk: &[&[u8]], skip: &[bool], ctx: &Ctx) -> Vec<Option<(Pre, NewCerts)>> {
    let run = |(b, s): (&&[u8], &bool)| if *s { None } else { Some(preopen(b, ctx)) };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    if threads < 2 || chunk.len() < 64 {
        return chunk.iter().zip(skip).map(run).collect();
    }
    let per = chunk.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = chunk
            .chunks(per)
            .zip(skip.chunks(per))
            .map(|(part, skip)| s.spawn(move || part.iter().zip(skip).map(run).collect::<Vec<_>>()))
            .collect();
        // `preopen` catches panics, so a worker never ends in one.
        handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    })
}

/// Reads the cloak: a bundle whose tag is one of our routes' (or that is for us alone)
/// is opened and its inner bundle checked; anything else is carried unopened.
fn check(bytes: &[u8], ctx: &Ctx, certs: &mut NewCerts) -> Result<Pre, Rejection> {
    let outer = crate::cloak::read(bytes, ctx.now)?;
    if outer.info.lifetime_ms > ctx.lifetime_cap_ms {
        return Err(BundleFormatError::LifetimeOverCap {
            lifetime_s: outer.info.lifetime_ms / 1000,
            cap_s: ctx.lifetime_cap_ms / 1000,
        }
        .into());
    }
    let route = match ctx.routes.get(&outer.tag) {
        Some(r) => Some(*r),
        None => outer.direct_route(&ctx.direct),
    };
    let Some(route) = route else {
        let payload = payload_digest(&bytes[outer.info.payload.clone()]);
        let info = BundleInfo { release: outer.release, ..outer.info };
        return Ok(Pre::Carry { info, payload, header: Header::unknown(), verified: false, waiting: None });
    };
    let inner = outer.open(&route)?;
    let mut pre = check_inner(&inner, ctx, certs)?;
    match &mut pre {
        Pre::Refused(_) => {}
        Pre::Signal { info, .. }
        | Pre::Carry { info, .. }
        | Pre::Grant { info, .. }
        | Pre::Batch { info, .. }
        | Pre::Release { info, .. } => {
            info.opener = Some(route);
            info.release = outer.release;
        }
    }
    Ok(pre)
}

/// Checks an inner bundle (what a cloak holds: the bundle as its author signed it).
pub(super) fn check_inner(bytes: &[u8], ctx: &Ctx, certs: &mut NewCerts) -> Result<Pre, Rejection> {
    let info = bundle::parse(bytes, ctx.now)?;
    if info.lifetime_ms > ctx.lifetime_cap_ms {
        return Err(BundleFormatError::LifetimeOverCap {
            lifetime_s: info.lifetime_ms / 1000,
            cap_s: ctx.lifetime_cap_ms / 1000,
        }
        .into());
    }
    // A release list names no one (its secrets are their own proof).
    if info.admin_record
        && envelope::admin_record_type(&bytes[info.payload.clone()]) == Some(envelope::RELEASE_LIST_RECORD_TYPE)
    {
        let payload_bytes = &bytes[info.payload.clone()];
        let secrets = envelope::decode_release_record(payload_bytes)?;
        return Ok(Pre::Release { payload: payload_digest(payload_bytes), info, secrets });
    }
    let source = source_node(&info.source).ok_or_else(|| Rejection::Source(info.source.clone()))?;
    // The source must be the signed author (checked below), so a bundle naming a blocked
    // source is the blocked node's or a forgery: refused either way, before any work.
    if ctx.blocked.contains(&source) {
        return Err(Rejection::Blocked(source.to_string()));
    }
    let payload_bytes = &bytes[info.payload.clone()];
    let payload = payload_digest(payload_bytes);
    if info.admin_record {
        let rec = envelope::decode_signal_record(payload_bytes)?;
        if NodeId::from_signing_public(&rec.signer) != source {
            return Err(Rejection::AuthorNotSource(source.to_string()));
        }
        crypto::verify(&rec.signer, crypto::CONTEXT_CUSTODY_SIGNAL, &[rec.inner], &rec.signature)
            .map_err(|_| Rejection::Signature)?;
        return Ok(Pre::Signal { info, payload, signer: source, signal: rec.signal });
    }
    let env = envelope::decode_envelope(payload_bytes)?;
    let header = env.header.clone();
    // Custody ids come from the signed header; a primary block that names another source
    // is a re-wrapped copy, and refused.
    if header.author != source {
        return Err(Rejection::SourceNotAuthor { claimed: source.to_string(), author: header.author.to_string() });
    }
    match header.kind {
        Kind::Grant => {
            if info.destination != ctx.me.endpoint() {
                if source_node(&info.destination).is_none() {
                    return Err(Rejection::Grant("a grant must be addressed to a node"));
                }
                return Ok(Pre::Carry { info, payload, header, verified: false, waiting: None });
            }
            let grant = open_grant(&env, source, &ctx.identity)?;
            Ok(Pre::Grant { info, payload, header, grant })
        }
        Kind::Slots => open_slots(&env, info, payload, header, source, ctx),
        Kind::Batch | Kind::Snapshot => {
            let doc = DocId::parse(&header.doc).ok_or_else(|| Rejection::Document(header.doc.clone()))?;
            if info.destination != doc.endpoint() {
                return Err(Rejection::Destination { found: info.destination.clone(), expected: doc.endpoint() });
            }
            // A kind this process does not know: its rules cannot be judged here, so it
            // is carried unread, like content this node cannot read.
            if doc.kind().is_none() {
                return Ok(Pre::Carry { info, payload, header, verified: false, waiting: None });
            }
            if header.encrypted == doc.is_public() {
                return Err(Rejection::Protection(header.doc.clone()));
            }
            let key = match doc.key_scope() {
                None => None,
                Some(scope) => {
                    let scope_epoch = format!("{scope}#{}", header.epoch);
                    match ctx.keys.get(&scope_epoch) {
                        Some(k) => Some(*k),
                        None => {
                            return Ok(Pre::Carry {
                                info,
                                payload,
                                header,
                                verified: false,
                                waiting: Some(scope_epoch),
                            });
                        }
                    }
                }
            };
            // Signature (and decryption) first: they cost one pass over the bytes.
            let batch = crate::batch::open(env.header_bytes, env.body, key.as_ref())?;
            // Its author saw log operations this node lacks (a role it was given, say):
            // what the log decides waits for them rather than being refused for good.
            let ahead = match doc {
                DocId::Community { id, part } if part != Part::AUTHORITY => {
                    ctx.authority.get(&id).is_some_and(|s| s.lacks(&batch.authority)).then_some(id)
                }
                _ => None,
            };
            let wait = |r: Rejection| match (ahead, &r) {
                (
                    Some(cid),
                    Rejection::Permission { .. } | Rejection::SnapshotNotOwner(_) | Rejection::Removed { .. },
                ) => Ok(Pre::Carry {
                    info: info.clone(),
                    payload,
                    header: header.clone(),
                    verified: true,
                    waiting: Some(super::authority::log_wait_scope(&cid)),
                }),
                _ => Err(r),
            };
            let (role, member) = match rules(doc, source, &header, &batch, ctx, certs) {
                Ok(v) => v,
                Err(r) => return wait(r),
            };
            if !reads(doc, ctx) {
                return Ok(Pre::Carry { info, payload, header, verified: true, waiting: None });
            }
            // Only now, for content this node reads from an author who may write it.
            let changes = crate::batch::decode_changes(&batch)?;
            let log = match doc {
                DocId::Community { id, .. } => ctx.authority.get(&id).map(|s| &**s),
                DocId::Profile { .. } => None,
            };
            let recheck = match actors(doc, &header, &batch, role, &changes, log) {
                Ok(v) => v,
                // A kind's rule waits only if a role the log may yet give would keep it
                // (an owner's, with no log): what no role keeps is refused now.
                Err(r @ Rejection::Rule { .. }) if ahead.is_some() && holds_for_an_owner(doc, &header, &changes) => {
                    let Some(cid) = ahead else { return Err(r) };
                    return Ok(Pre::Carry {
                        info,
                        payload,
                        header,
                        verified: true,
                        waiting: Some(super::authority::log_wait_scope(&cid)),
                    });
                }
                Err(r @ Rejection::Rule { .. }) => return Err(r),
                Err(r) => return wait(r),
            };
            let verified = Verified {
                doc,
                author: source,
                signer: batch.author,
                seq: header.seq,
                heads: header.heads.clone(),
                changes,
                kind: header.kind,
                member,
                recheck,
            };
            Ok(Pre::Batch { info, payload, verified })
        }
    }
}

/// Whether every change of a batch keeps its kind's rule when written by an owner, with
/// no log to judge against: whether the log's arrival could admit it.
fn holds_for_an_owner(doc: DocId, header: &Header, changes: &[Change]) -> bool {
    let Some(kind) = doc.kind() else { return false };
    let by = Writer { node: header.author, role: Some(Role::Owner) };
    changes
        .iter()
        .all(|c| crate::plugin::ops::ops_of(c).is_some_and(|ops| kind.check_with_log(&by, &ops, None).is_ok()))
}

/// Whether this node reads (merges) a document: its own profile, its contacts' (and
/// those of nodes that granted it a key), its communities', what it follows, and
/// anything it holds the key of. Everything else it carries unread, within the relay quota.
fn reads(doc: DocId, ctx: &Ctx) -> bool {
    if !doc.is_public() {
        return true; // opened with a key we were given
    }
    match doc {
        DocId::Profile { owner, .. } => {
            owner == ctx.me || ctx.contacts.contains(&owner) || ctx.followed.nodes.contains(&owner)
        }
        DocId::Community { id, .. } => ctx.communities.contains(&id) || ctx.followed.communities.contains(&id),
    }
}

/// Checks what a valid signature does not prove, before any change is decoded: the signer
/// is the author named in the header, and may write this document (profile owner;
/// community role proven by a certificate chain). Returns the author's community role.
fn rules(
    doc: DocId,
    source: NodeId,
    header: &Header,
    batch: &Batch,
    ctx: &Ctx,
    certs: &mut NewCerts,
) -> Result<(Option<Role>, Option<Membership>), Rejection> {
    if NodeId::from_signing_public(&batch.author) != source {
        return Err(Rejection::AuthorNotSource(source.to_string()));
    }
    let announcement = batch.is_announcement();
    match doc {
        DocId::Profile { owner, .. } => {
            if !announcement && owner != source {
                return Err(Rejection::NotProfileOwner(owner.to_string()));
            }
            Ok((None, None))
        }
        DocId::Community { id, part } => {
            let genesis = batch.genesis.ok_or(Rejection::NotMember { community: id, reason: "no genesis" })?;
            let role = membership::check_chain(&id, &genesis, &batch.chain, &batch.author, &|d| {
                ctx.certs.contains(d) || certs.contains(d)
            })
            .map(|(role, fresh)| {
                certs.extend(fresh);
                role
            })
            .map_err(|reason| Rejection::NotMember { community: id, reason })?;
            let member = Membership {
                signer: batch.author,
                cert_role: role,
                vouchers: batch.chain.iter().map(|c| c.issuer).collect(),
                announcement,
                authority: batch.authority.clone(),
            };
            let role = match ctx.authority.get(&id) {
                // Set aside or not is decided when it is taken in; its changes are
                // still judged by the role its certificate gives.
                Some(state) => match log_role(state, id, &member, part, header.kind)? {
                    Verdict::Admit(role) => role,
                    Verdict::SetAside(_) => role,
                },
                None => {
                    if !announcement && !part.writable_by(role) {
                        return Err(Rejection::Permission { role, part });
                    }
                    if header.kind == Kind::Snapshot && role != Role::Owner {
                        return Err(Rejection::SnapshotNotOwner(role));
                    }
                    role
                }
            };
            Ok((Some(role), Some(member)))
        }
    }
}

/// Every change is the signer's own and keeps its kind's write rule, except in an owner's
/// community snapshot (which vouches for every member's changes).
fn actors(
    doc: DocId,
    header: &Header,
    batch: &Batch,
    role: Option<Role>,
    changes: &[Change],
    log: Option<&crate::authority::State>,
) -> Result<bool, Rejection> {
    // Every node reads the whole authority log each time it moves: no change in it may
    // be bigger than one operation needs (snapshots included).
    if matches!(doc, DocId::Community { part: Part::AUTHORITY, .. })
        && changes.iter().any(|c| c.raw_bytes().len() > crate::limits::AUTHORITY_CHANGE_BYTES_MAX)
    {
        return Err(Rejection::Rule {
            kind: "authority".into(),
            rule: "a change to the authority log holds one operation, at most its size".into(),
        });
    }
    let snapshot = header.kind == Kind::Snapshot && matches!(doc, DocId::Community { .. }) && role == Some(Role::Owner);
    if snapshot {
        return Ok(false);
    }
    let actor = ActorId::from(batch.author.to_vec());
    if let Some(c) = changes.iter().find(|c| *c.actor_id() != actor) {
        return Err(Rejection::WrongActor { actor: c.actor_id().to_hex_string() });
    }
    // The kind's per-item rule, one change at a time (a change's ops are capped).
    let Some(kind) = doc.kind() else { return Err(Rejection::Document(doc.to_string())) };
    let mut recheck = false;
    if kind.inspects_ops() {
        let by = Writer { node: header.author, role };
        for c in changes {
            let ops = crate::plugin::ops::ops_of(c).ok_or(Rejection::DecoderFailed)?;
            if let Err(broken) = kind.check_with_log(&by, &ops, log) {
                // What holds without the log may hold with the log this import brings.
                if log.is_some() && kind.check_with_log(&by, &ops, None).is_ok() {
                    recheck = true;
                    continue;
                }
                return Err(Rejection::Rule { kind: kind.name().to_string(), rule: broken.rule.to_string() });
            }
        }
    }
    Ok(recheck)
}

/// A slot grant: checked (signed by its scope's owner, addressed to the scope), then
/// opened with any friends pass this node can derive (a friend of one of the granter's
/// friends can), or carried for others.
fn open_slots(
    env: &Envelope,
    info: BundleInfo,
    payload: [u8; 32],
    header: Header,
    source: NodeId,
    ctx: &Ctx,
) -> Result<Pre, Rejection> {
    let (inner, signature) = envelope::decode_signed(env.body)?;
    let sg = envelope::SlotGrant::decode(inner)?;
    if NodeId::from_signing_public(&sg.granter) != source {
        return Err(Rejection::AuthorNotSource(source.to_string()));
    }
    crypto::verify(&sg.granter, crypto::CONTEXT_SLOTS_SIGNATURE, &[env.header_bytes, inner], &signature)
        .map_err(|_| Rejection::Signature)?;
    if sg.scope != header.doc || sg.epoch != header.epoch {
        return Err(Rejection::Grant("slot grant does not match its header"));
    }
    use crate::doc::{Audience, ScopeOwner, parse_scope};
    // Friends of friends: the granter's own audience. Friends of members: a community's,
    // under a tag bound to the granter (its content must still prove membership).
    let (expected, community) = match parse_scope(&sg.scope) {
        Some(ScopeOwner::Profile(o, Audience::FriendsOfFriends)) if o == source => {
            (DocId::Profile { owner: source, audience: Audience::FriendsOfFriends }.endpoint(), None)
        }
        Some(ScopeOwner::FriendsOfMembers(cid)) if sg.epoch == super::fom::fom_tag(&sg.granter, &sg.nonce) => {
            (cid.endpoint(), Some(cid))
        }
        _ => return Err(Rejection::Grant("a slot grant for a scope that is not its granter's")),
    };
    if info.destination != expected {
        return Err(Rejection::Destination { found: info.destination.clone(), expected });
    }
    // Every friends circle key we hold (ours, and those our friends gave us) yields a
    // pass; for a community's, so does every key of that community we hold.
    for (scope_epoch, key) in &ctx.keys {
        let circle = scope_epoch.split('#').next().unwrap_or_default();
        let pass = match (parse_scope(circle), community) {
            (Some(ScopeOwner::Profile(_, Audience::Friends)), None) => crypto::friends_pass(key),
            (Some(ScopeOwner::Profile(_, Audience::Friends)), Some(cid)) => crypto::members_friends_pass(key, &cid.0),
            (Some(ScopeOwner::Community(c)), Some(cid)) if c == cid => crypto::members_friends_pass(key, &cid.0),
            _ => continue,
        };
        if let Some(k) = crypto::slot_open(&pass, &sg.nonce, env.header_bytes, &sg.slots) {
            let grant = Grant {
                granter: sg.granter,
                recipient: ctx.identity.signing_public(),
                scope: sg.scope,
                epoch: sg.epoch,
                key: k,
                invitation: None,
            };
            return Ok(Pre::Grant { info, payload, header, grant });
        }
    }
    Ok(Pre::Carry { info, payload, header, verified: true, waiting: None })
}

/// Unwraps a grant addressed to this node and checks it.
pub(super) fn open_grant(env: &Envelope, source: NodeId, me: &Identity) -> Result<Grant, Rejection> {
    let signed = crypto::unwrap(me.agreement_secret(), env.header_bytes, env.body).map_err(Rejection::Decrypt)?;
    let (inner, signature) = envelope::decode_signed(&signed)?;
    let grant = Grant::decode(inner)?;
    crypto::verify(&grant.granter, CONTEXT_GRANT_SIGNATURE, &[env.header_bytes, inner], &signature)
        .map_err(|_| Rejection::Signature)?;
    if NodeId::from_signing_public(&grant.granter) != source {
        return Err(Rejection::AuthorNotSource(source.to_string()));
    }
    if grant.recipient != me.signing_public() {
        return Err(Rejection::Grant("grant names another recipient"));
    }
    if grant.scope != env.header.doc || grant.epoch != env.header.epoch {
        return Err(Rejection::Grant("grant does not match its header"));
    }
    Ok(grant)
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{Kit, community};
    use super::*;
    use crate::sync::Target;
    use std::time::Duration;

    /// Cheap refusals of what the primary block says (expired, from the future, a
    /// lifetime over the cap, a source that is not the signer) come before any signature
    /// check, and store nothing.
    #[test]
    fn what_the_primary_block_gets_wrong_is_refused_and_nothing_kept() {
        let kit = Kit::new();
        let (mut a, mut b) = (kit.node("A"), kit.node("B"));
        let cid = community(&mut a, &mut b, Role::Member);
        a.post(&cid, "one").unwrap();
        let post = a.export(Target::Everyone).unwrap().remove(0);
        let info = bundle::parse(&post, a.now()).unwrap();
        let payload = &post[info.payload.clone()];
        let now = b.now();
        let day = Duration::from_secs(86_400);
        let stranger = NodeId([9; 20]).endpoint();
        let wraps = [
            ("expired", bundle::build(&info.source, &info.destination, now - 3 * 86_400_000, 1, day, payload)),
            ("future", bundle::build(&info.source, &info.destination, now + 86_400_000 * 30, 1, day, payload)),
            (
                "over the cap",
                bundle::build(
                    &info.source,
                    &info.destination,
                    now,
                    1,
                    Duration::from_secs(100 * 365 * 86_400),
                    payload,
                ),
            ),
            ("another source", bundle::build(&stranger, &info.destination, now, 1, day, payload)),
        ];
        let before = b.fingerprint().unwrap();
        for (what, bytes) in wraps {
            let r = b.import(&bytes.unwrap()).unwrap();
            assert_eq!(r.rejected().len(), 1, "{what}: {r:?}");
        }
        assert_eq!(b.fingerprint().unwrap(), before);
        assert!(b.feed(&cid).unwrap().is_empty());
    }
}
