//! What the kernel reports to links and callers: what importing bundles did, and what
//! a live link sends (summaries and plans). Links use these types, never the node
//! facade's; `caravan::node` re-exports them.

use crate::doc::DocId;
use crate::error::Rejection;
use crate::relay::QuotaRefusal;

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
    /// Stored, but some of its changes wait for changes they depend on that have not
    /// arrived yet; they are applied when those come.
    Dependencies {
        /// How many of its changes wait.
        changes: usize,
    },
    /// By a member an owner quarantined: kept for audit, hidden, read if the quarantine
    /// is lifted.
    Quarantined {
        /// The community.
        community: crate::doc::CommunityId,
    },
    /// Void by the community's authority log (its author wrote it concurrently with its
    /// own removal or demotion), kept for audit, not merged.
    SetAside {
        /// The community.
        community: crate::doc::CommunityId,
        /// Why, in words.
        reason: &'static str,
    },
    /// Its author wrote it under changes to the community's authority log that have not
    /// arrived here yet (a role it was given, say): kept, and judged when they come.
    Log {
        /// The community.
        community: crate::doc::CommunityId,
    },
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
    /// Carrier copies handed over with it on a live link ([`Node::plan_link`]; 0 for
    /// anything else).
    pub copies: u32,
}

/// What a live link tells a peer first (`Node::summary_for`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkSummary {
    /// Digests of bundles the peer need not send.
    pub digests: Vec<[u8; 32]>,
    /// Endpoints this node receives for, as far as the peer may know them.
    pub endpoints: Vec<String>,
}

/// What to send over a live link (`Node::plan_link`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkPlan {
    /// The bundles, in sending order.
    pub outgoing: Vec<Outgoing>,
    /// Bundles the peer is entitled to but already holds (by its summary): not sent.
    pub skipped: usize,
    /// Carrier copies for bundles the peer already holds as a carrier (it got them
    /// without copies, say from a stick): handed over without sending the bundle again.
    pub copies_for_held: Vec<([u8; 32], u32)>,
}

impl LinkPlan {
    /// The hand-over list: every carrier copy this plan gives, with the bundles it sends
    /// and for bundles the peer already holds.
    pub fn handover(&self) -> Vec<([u8; 32], u32)> {
        let mut out: Vec<([u8; 32], u32)> =
            self.outgoing.iter().filter(|o| o.copies > 0).map(|o| (o.digest, o.copies)).collect();
        out.extend(self.copies_for_held.iter().copied());
        out
    }
}
