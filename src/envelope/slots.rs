//! Slot grants (`crypto.md`, "Friends of friends"): one key sealed once per pass, in
//! slots that do not name whose they are. Signed by the granter.

use super::*;
use crate::limits::{SLOT_GRANT_BYTES_MAX, SLOTS_MAX};

#[derive(Serialize, Deserialize)]
struct SlotGrantWire {
    f: ByteBuf,
    s: String,
    e: u32,
    n: ByteBuf,
    l: Vec<ByteBuf>,
}

/// A key for a scope and epoch, sealed in slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotGrant {
    /// Ed25519 key of the granter (the scope's owner).
    pub granter: [u8; 32],
    /// Key scope (`p/<node>/friends-of-friends`, `c/<community>/fom`).
    pub scope: String,
    /// Key epoch.
    pub epoch: u32,
    /// The nonce the slots' hints and keys are derived with.
    pub nonce: [u8; 16],
    /// The slots (`crypto::slot_seal`), in random order.
    pub slots: Vec<Vec<u8>>,
}

impl SlotGrant {
    /// Encodes the slot grant (the bytes that get signed).
    pub fn encode(&self) -> Vec<u8> {
        encode(&SlotGrantWire {
            f: ByteBuf::from(self.granter.to_vec()),
            s: self.scope.clone(),
            e: self.epoch,
            n: ByteBuf::from(self.nonce.to_vec()),
            l: self.slots.iter().map(|s| ByteBuf::from(s.clone())).collect(),
        })
    }

    /// Decodes a slot grant, in its one canonical spelling.
    pub fn decode(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        let w: SlotGrantWire = decode_canonical("slot grant", bytes, SLOT_GRANT_BYTES_MAX)?;
        if w.s.len() > DOC_ID_BYTES_MAX {
            return Err(EnvelopeError::Field("slot grant scope"));
        }
        if w.l.len() > SLOTS_MAX {
            return Err(EnvelopeError::Field("slot count"));
        }
        Ok(SlotGrant {
            granter: fixed(&w.f, "slot grant granter")?,
            scope: w.s,
            epoch: w.e,
            nonce: fixed(&w.n, "slot grant nonce")?,
            slots: w.l.into_iter().map(ByteBuf::into_vec).collect(),
        })
    }
}
