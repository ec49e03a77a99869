//! Caravan: a delay-tolerant, store-and-forward sync engine.
//!
//! Profiles and communities are Automerge documents. Their changes travel in signed,
//! encrypted Bundle Protocol v7 bundles that any node imports in any order, any number
//! of times, with no round trip, and every replica converges.
//!
//! ```
//! use caravan::{Audience, Node, Role, Target};
//! # fn main() -> Result<(), caravan::Error> {
//! let (a_home, b_home) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
//! let mut a = Node::open(a_home.path(), "Village A")?;
//! let mut b = Node::open(b_home.path(), "Village B")?;
//! b.add_contact(&a.card(), &[Audience::Friends])?;
//!
//! let wells = a.create_community("Wells", "Where the water is")?;
//! a.invite(&wells, &b.card(), Role::Editor)?;
//! a.put_wiki_page(&wells, "North well", "Pump fixed in May.\n")?;
//!
//! // Bundles are bytes: carry them on a stick, a socket, anything.
//! for bundle in a.export(Target::Peer(b.node_id()))? {
//!     b.import(&bundle)?;
//! }
//! assert_eq!(b.wiki_page(&wells, "North well")?.as_deref(), Some("Pump fixed in May.\n"));
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

pub mod authority;
pub mod batch;
pub mod bundle;
pub mod change_scan;
pub mod cloak;
pub mod config;
pub mod crypto;
pub mod custody;
pub mod daemon;
pub mod dashboard;
pub mod doc;
pub mod envelope;
pub mod error;
pub mod handle;
pub mod identity;
pub mod keystore;
pub mod limits;
pub mod link;
pub mod membership;
pub mod node;
pub mod plugin;
pub mod relay;
pub mod report;
pub mod routing;
pub mod schedule;
pub mod status;
pub mod store;
pub mod sync;
pub mod words;

/// The Automerge version documents are made with: a plug-in reads and edits them with it.
pub use automerge;
pub use doc::{Audience, CommunityId, DocId, Part, Post, Role};
pub use error::{Error, Rejection};
pub use handle::{Change, Handle, What};
pub use identity::{ContactCard, Identity, NodeId};
pub use node::{
    CertView, Certify, Circle, CommunityInfo, Contact, ContactChange, CustodyStatus, Event, Followed, ImportReport,
    InviteInfo, LinkPlan, LinkStatus, LinkSummary, LinkView, Node, Outcome, Outgoing, PageAt, PageVersion, PollView,
    ProfileField, Removal, Reputation, Standing, Tie, WaitReason, bundle_digest,
};
pub use sync::Target;
