//! A community's authority log (`spec/membership.md`): role grants, role changes,
//! removals, leaves, quarantines and rekeys as signed operations in a causal graph, and
//! the one deterministic resolution every node computes from the same set of operations,
//! whatever the order they arrived in.
//!
//! Each operation is signed by its author on its own (so it proves itself wherever it
//! travels, inside whatever bundle or snapshot) and names the operations it follows (the
//! authority heads its author had seen). The log travels as a community document of the
//! `authority` kind; this module knows nothing of documents: [`resolve`] is a pure
//! function of the operations.

use crate::crypto::{self, CONTEXT_AUTHORITY_ID, CONTEXT_AUTHORITY_SIGNATURE, CONTEXT_REKEY_SLOT};
use crate::doc::{CommunityId, Role};
use crate::envelope::{self, EnvelopeError};
use crate::identity::Identity;

mod resolve;

pub use resolve::{Entry, Epoch, Member, Outcome, State, resolve};

/// An operation's id: a hash of its signed bytes.
pub type OpId = [u8; 32];

/// What an operation does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Makes `member` a member with `role` (an invitation), and tells the other members
    /// its X25519 key, so any of them can wrap a future community key for it.
    Add {
        /// Ed25519 key of the new member.
        member: [u8; 32],
        /// Its X25519 key (from its contact card).
        agreement: [u8; 32],
        /// Its role.
        role: Role,
    },
    /// Changes a member's role.
    SetRole {
        /// Ed25519 key of the member.
        member: [u8; 32],
        /// The new role.
        role: Role,
    },
    /// Removes a member.
    Remove {
        /// Ed25519 key of the member.
        member: [u8; 32],
    },
    /// The author leaves the community.
    Leave,
    /// Hides a member's content from everyone (kept for audit).
    Quarantine {
        /// Ed25519 key of the member.
        member: [u8; 32],
    },
    /// Lifts a quarantine.
    Release {
        /// Ed25519 key of the member.
        member: [u8; 32],
    },
    /// Only a new community key (see [`Rekey`]).
    Rekey,
    /// Makes a member one of the community's certifiers (`on`), or no longer (`plugins.md`,
    /// "certificates").
    Certifier {
        /// Ed25519 key of the member.
        member: [u8; 32],
        /// Whether it certifies from now on.
        on: bool,
    },
    /// Sets how many certifiers must sign the same statement for a certificate to hold
    /// (1 to [`crate::limits::CERT_THRESHOLD_MAX`]; 1 until an owner sets it).
    Threshold {
        /// The number.
        k: u8,
    },
}

impl Action {
    /// The member the action is about, if another than its author.
    pub fn subject(&self) -> Option<&[u8; 32]> {
        match self {
            Action::Add { member, .. }
            | Action::SetRole { member, .. }
            | Action::Remove { member }
            | Action::Quarantine { member }
            | Action::Release { member }
            | Action::Certifier { member, .. } => Some(member),
            Action::Leave | Action::Rekey | Action::Threshold { .. } => None,
        }
    }

    /// A short name for logs and errors.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Add { .. } => "add",
            Action::SetRole { .. } => "role",
            Action::Remove { .. } => "remove",
            Action::Leave => "leave",
            Action::Quarantine { .. } => "quarantine",
            Action::Release { .. } => "release",
            Action::Rekey => "rekey",
            Action::Certifier { .. } => "certifier",
            Action::Threshold { .. } => "threshold",
        }
    }
}

/// A new community key, wrapped once per member it is for, in anonymous slots: a
/// member finds its own by trying them, and learns nothing of who the others are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rekey {
    /// The key's epoch number as its author counts (one past the highest it had seen):
    /// for people; two concurrent rekeys may share a number.
    pub number: u32,
    /// One [`crypto::wrap`] of the key per member, in random order.
    pub slots: Vec<Vec<u8>>,
}

/// An operation, before it is signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    /// The community.
    pub community: CommunityId,
    /// Ed25519 key of its author.
    pub author: [u8; 32],
    /// The operations it follows: the authority heads its author had seen.
    pub follows: Vec<OpId>,
    /// What it does.
    pub action: Action,
    /// A new community key, if the operation starts a key epoch.
    pub rekey: Option<Rekey>,
}

/// A signed operation and its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// The operation.
    pub op: Op,
    /// Its id.
    pub id: OpId,
    /// Its signed bytes, as they travel.
    pub bytes: Vec<u8>,
}

/// Why bytes are not an operation of a community.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpError {
    /// Not a well-formed operation.
    #[error("not an authority operation: {0}")]
    Decode(#[from] EnvelopeError),
    /// The signature does not verify.
    #[error("the authority operation's signature does not verify")]
    Signature,
    /// An operation of another community.
    #[error("an authority operation of another community")]
    Community,
}

impl Signed {
    /// Signs `op` (whose author must be `by`).
    pub fn sign(by: &Identity, op: Op) -> Self {
        debug_assert_eq!(op.author, by.signing_public());
        let inner = envelope::encode_auth_op(&op);
        let signature = by.sign(CONTEXT_AUTHORITY_SIGNATURE, &[&inner]);
        let bytes = envelope::encode_signed(&inner, &signature);
        Signed { id: op_id(&bytes), op, bytes }
    }

    /// Reads and checks a signed operation of `community`.
    pub fn open(bytes: &[u8], community: &CommunityId) -> Result<Self, OpError> {
        let (inner, signature) = envelope::decode_signed(bytes)?;
        let op = envelope::decode_auth_op(inner)?;
        if op.community != *community {
            return Err(OpError::Community);
        }
        crypto::verify(&op.author, CONTEXT_AUTHORITY_SIGNATURE, &[inner], &signature)
            .map_err(|_| OpError::Signature)?;
        Ok(Signed { id: op_id(bytes), op, bytes: bytes.to_vec() })
    }
}

fn op_id(bytes: &[u8]) -> OpId {
    crypto::derive(CONTEXT_AUTHORITY_ID, &[bytes])
}

/// The tag an epoch's key travels under (the envelope's `epoch` field): from the rekey
/// operation's id, never 0 (the community's first key).
pub fn epoch_tag(id: &OpId) -> u32 {
    match u32::from_le_bytes([id[0], id[1], id[2], id[3]]) {
        0 => 1,
        t => t,
    }
}

fn slot_aad(community: &CommunityId, number: u32) -> Vec<u8> {
    [CONTEXT_REKEY_SLOT.as_bytes(), &community.0, &number.to_le_bytes()].concat()
}

/// A rekey: `key` wrapped for each X25519 key of `members`, in slots in random order.
pub fn rekey(community: &CommunityId, number: u32, key: &[u8; 32], members: &[[u8; 32]]) -> Rekey {
    let aad = slot_aad(community, number);
    let mut slots: Vec<Vec<u8>> = members.iter().filter_map(|x| crypto::wrap(x, &aad, key).ok()).collect();
    // Random order: a slot's place says nothing of whose it is.
    slots.sort_by_cached_key(|_| crypto::random_32());
    Rekey { number, slots }
}

/// Our key in a rekey, if one of its slots is for us.
pub fn open_slot(community: &CommunityId, rekey: &Rekey, me: &Identity) -> Option<[u8; 32]> {
    let aad = slot_aad(community, rekey.number);
    rekey
        .slots
        .iter()
        .find_map(|s| crypto::unwrap(me.agreement_secret(), &aad, s).ok())
        .and_then(|k| <[u8; 32]>::try_from(k.as_slice()).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_round_trip_signed_and_refuse_tampering() {
        let a = Identity::generate();
        let b = Identity::generate();
        let cid = CommunityId([7; 20]);
        let actions = [
            Action::Add { member: b.signing_public(), agreement: b.agreement_public(), role: Role::Editor },
            Action::SetRole { member: b.signing_public(), role: Role::Owner },
            Action::Remove { member: b.signing_public() },
            Action::Leave,
            Action::Quarantine { member: b.signing_public() },
            Action::Release { member: b.signing_public() },
            Action::Rekey,
            Action::Certifier { member: b.signing_public(), on: true },
            Action::Certifier { member: b.signing_public(), on: false },
            Action::Threshold { k: 3 },
        ];
        for action in actions {
            let op = Op { community: cid, author: a.signing_public(), follows: vec![[1; 32]], action, rekey: None };
            let s = Signed::sign(&a, op.clone());
            let back = Signed::open(&s.bytes, &cid).unwrap();
            assert_eq!(back, s);
            assert_eq!(Signed::open(&s.bytes, &CommunityId([8; 20])), Err(OpError::Community));
            let mut bad = s.bytes.clone();
            let n = bad.len();
            bad[n - 70] ^= 1;
            assert!(Signed::open(&bad, &cid).is_err());
        }
    }

    #[test]
    fn a_rekey_opens_only_for_the_members_it_was_made_for() {
        let cid = CommunityId([7; 20]);
        let (a, b, c) = (Identity::generate(), Identity::generate(), Identity::generate());
        let key = crypto::random_32();
        let r = rekey(&cid, 2, &key, &[a.agreement_public(), b.agreement_public()]);
        assert_eq!(r.slots.len(), 2);
        assert_eq!(open_slot(&cid, &r, &a), Some(key));
        assert_eq!(open_slot(&cid, &r, &b), Some(key));
        assert_eq!(open_slot(&cid, &r, &c), None);
        // Slots are bound to their community and number.
        assert_eq!(open_slot(&CommunityId([9; 20]), &r, &a), None);
        assert_eq!(open_slot(&cid, &Rekey { number: 3, ..r }, &a), None);
    }
}

#[cfg(test)]
mod resolve_tests;
