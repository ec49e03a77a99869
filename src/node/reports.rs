//! What the node reports to its callers: events, custody status, and the rows the
//! query methods return. (Import outcomes and link plans are the kernel's:
//! `crate::report`.)

use crate::doc::{Audience, CommunityId, DocId, Role};
use crate::identity::{ContactCard, NodeId};

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
        /// Its heads before (what changed is the difference: `Node::posts_since`).
        before: Vec<[u8; 32]>,
        /// Who made the new changes: the authors of the bundles that brought them, or
        /// this node for its own edits.
        by: Vec<NodeId>,
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

/// What `Node::add_contact` changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactChange {
    /// The contact was not known before.
    pub new: bool,
    /// Its card names it differently now: the name it had.
    pub renamed: Option<String>,
    /// Audiences it was not in before.
    pub audiences_added: Vec<Audience>,
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
    /// Whether the community's authority log removed us (or we left): what was shared
    /// before stays readable; nothing new reaches us.
    pub removed: bool,
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

/// One circle of our profile: an audience, who is in it, and its key epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Circle {
    /// The audience.
    pub audience: Audience,
    /// Contacts in it.
    pub members: Vec<NodeId>,
    /// Its key's epoch (`None` until something was written for it or someone was put in
    /// it); every removal starts a new one.
    pub epoch: Option<u32>,
}
