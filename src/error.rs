//! Error types, by whose fault it is: a peer's or a stick's bad data ([`Rejection`],
//! reported per bundle, never fatal), our local storage ([`Error::Store`]), or a request
//! the caller made that cannot be honoured ([`Error`]'s other variants).

use crate::bundle::BundleFormatError;
use crate::crypto::CryptoError;
use crate::doc::{CommunityId, Part, Role};
use crate::envelope::EnvelopeError;
use crate::identity::IdentityError;
use crate::store::StoreError;

/// Why an incoming bundle was refused. Nothing stored changes when a bundle is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// Not a valid, unexpired BPv7 bundle (CRC, structure, lifetime).
    #[error(transparent)]
    Format(#[from] BundleFormatError),
    /// The payload is not a valid Caravan envelope.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// The bundle's cloak (its outer layer) is not valid, or does not open with the route
    /// its tag names.
    #[error(transparent)]
    Cloak(crate::cloak::CloakError),
    /// The source endpoint is not a Caravan node endpoint.
    #[error("source endpoint {0} is not a Caravan node")]
    Source(String),
    /// The document id in the envelope is unknown or malformed.
    #[error("unknown document id {0:?}")]
    Document(String),
    /// The destination endpoint does not match the document or grant.
    #[error("destination {found} does not match {expected}")]
    Destination {
        /// What the primary block says.
        found: String,
        /// What the envelope implies.
        expected: String,
    },
    /// Public content arrived encrypted, or private content in the clear.
    #[error("document {0} arrived with the wrong protection (public must be signed only, private must be encrypted)")]
    Protection(String),
    /// Decryption failed with the key we hold for this scope and epoch.
    #[error("decryption failed: {0}")]
    Decrypt(CryptoError),
    /// The author's signature does not verify.
    #[error("signature of the author does not verify")]
    Signature,
    /// The primary block names another source than the author in the signed header: a
    /// copy re-wrapped by someone without the author's key.
    #[error("the bundle's source {claimed} is not its signed author {author} (re-wrapped by a carrier)")]
    SourceNotAuthor {
        /// What the primary block says.
        claimed: String,
        /// Who signed.
        author: String,
    },
    /// These exact bytes were refused before for a reason that does not change; known by
    /// digest, so not checked again.
    #[error("refused before (the same bytes were refused for good)")]
    RefusedBefore,
    /// Its source is a node blocked here (`Node::block`). Not remembered: unblocked, the
    /// node's bundles are taken again.
    #[error("from {0}, a node blocked here")]
    Blocked(String),
    /// A decoder failed on this bundle (a fault in a library it uses); refused alone.
    #[error("a decoder failed on this bundle")]
    DecoderFailed,
    /// The signing key does not belong to the bundle's source node.
    #[error("signing key does not belong to source node {0}")]
    AuthorNotSource(String),
    /// A change was made by an Automerge actor other than the signer.
    #[error("a change's actor {actor} is not the signer")]
    WrongActor {
        /// The offending actor id (hex).
        actor: String,
    },
    /// The author is not a member of the community (bad or missing certificate chain).
    #[error("author is not a member of community {community}: {reason}")]
    NotMember {
        /// The community.
        community: CommunityId,
        /// What is wrong with the membership proof.
        reason: &'static str,
    },
    /// The community's authority log removed the author (or it left, or whoever vouched
    /// for it is no longer an owner). Not remembered: a log that later re-adds it
    /// admits its bundles when they come again.
    #[error("the author is no longer a member of community {community}: {reason}")]
    Removed {
        /// The community.
        community: CommunityId,
        /// What the log says.
        reason: &'static str,
    },
    /// The author already made this node store its daily share for the community. Not
    /// remembered: the bundle is taken when it comes again on a later day.
    #[error("{author} reached its daily limit in community {community} ({limit}); taken again tomorrow")]
    MemberLimit {
        /// The community.
        community: CommunityId,
        /// The author (node id).
        author: String,
        /// Which limit, in words.
        limit: String,
    },
    /// The author's role may not write this document.
    #[error("{} may not write the community's {} document", role.with_article(), part.name())]
    Permission {
        /// The author's role.
        role: Role,
        /// The document part.
        part: Part,
    },
    /// A change breaks its document kind's write rule (per item: whose post, whose listing).
    #[error("the {kind} refuses this change: {rule}")]
    Rule {
        /// The document kind.
        kind: String,
        /// The rule, in words.
        rule: String,
    },
    /// Someone other than the owner changed a profile.
    #[error("only the owner may change profile {0}")]
    NotProfileOwner(String),
    /// The Automerge data was refused before Automerge decoded it: compressed, or more
    /// ops or changes than a receiver decodes for one bundle.
    #[error("changes refused before decoding: {0}")]
    Unbounded(#[from] crate::change_scan::ScanError),
    /// The Automerge changes could not be decoded.
    #[error("changes could not be decoded: {0}")]
    Changes(String),
    /// A key grant or invitation is malformed or not properly authorised.
    #[error("invalid key grant: {0}")]
    Grant(&'static str),
    /// A community snapshot signed by someone who is not an owner.
    #[error("only an owner may send a community snapshot, not a {0}")]
    SnapshotNotOwner(Role),
    /// A custody signal or notice that breaks the rules.
    #[error("invalid custody signal: {0}")]
    Signal(&'static str),
}

impl Rejection {
    /// Whether the same bytes would be refused again whatever happens meanwhile, so the
    /// refusal can be remembered by digest. Only a bundle from the future may become
    /// acceptable (its time comes).
    pub fn is_permanent(&self) -> bool {
        !matches!(
            self,
            Rejection::Format(BundleFormatError::FromTheFuture(_))
                | Rejection::Blocked(_)
                | Rejection::Removed { .. }
                | Rejection::MemberLimit { .. }
        )
    }
}

impl From<crate::cloak::CloakError> for Rejection {
    fn from(e: crate::cloak::CloakError) -> Self {
        match e {
            crate::cloak::CloakError::Bundle(b) => Rejection::Format(b),
            other => Rejection::Cloak(other),
        }
    }
}

/// A failed library operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The node's database failed (disk full, permissions, damaged file).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The identity file or a contact card is bad.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// A file in the node's home could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// Path involved.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// This node is not a member of the community (or does not know it).
    #[error("not a member of community {0}")]
    NotMember(CommunityId),
    /// The community's authority log removed this node (or it left): what was shared
    /// before stays readable here; nothing sealed since is.
    #[error(
        "this node is no longer a member of community {0} (removed, or it left); what was shared before stays readable here"
    )]
    Removed(CommunityId),
    /// This node's role does not allow the operation.
    #[error("{} may not {action}", role.with_article())]
    NotPermitted {
        /// This node's role.
        role: Role,
        /// What was attempted.
        action: &'static str,
    },
    /// No pending invitation with this id.
    #[error("no pending invitation {0}")]
    UnknownInvite(String),
    /// A local edit breaks its document kind's rule: every other node would refuse it,
    /// so it is not made.
    #[error("this edit breaks the {kind}'s rule: {rule}")]
    Rule {
        /// The document kind.
        kind: String,
        /// The rule, in words.
        rule: String,
    },
    /// No document kind of this name is registered in this process.
    #[error("no document kind named {0:?} is registered (see caravan::plugin::register)")]
    UnknownKind(String),
    /// A stored document could not be loaded or changed.
    #[error("document {doc}: {reason}")]
    Document {
        /// Document id.
        doc: String,
        /// What went wrong.
        reason: String,
    },
    /// A request argument is invalid.
    #[error("{0}")]
    Invalid(String),
}
