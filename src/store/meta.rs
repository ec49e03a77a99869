//! What the store remembers about a bundle besides its bytes.

use super::*;

/// What the store remembers about a bundle besides its bytes: what was learned when it
/// was parsed, so nothing parses a stored bundle again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleMeta {
    /// Where the bundle stands.
    pub state: BundleState,
    /// Custody id: the author named in the signed header (for a signal: its signer).
    pub author: NodeId,
    /// Custody id: the author's sequence number in the signed header (0 for signals).
    pub seq: u64,
    /// Whether this node checked the author's signature (for relayed bundles: whether the
    /// relay quota may count it against the author's fair share, or the shared pool).
    pub verified: bool,
    /// Digest of the payload: what the author signed, without the primary block.
    pub payload: [u8; 32],
    /// Document id (batches) or key scope (grants).
    pub doc: String,
    /// Destination endpoint id.
    pub destination: String,
    /// Expiry, milliseconds since the Unix epoch.
    pub expires_unix_ms: u64,
    /// Number of Automerge changes it carries (0 for grants and announcements).
    pub changes: u32,
    /// Size in bytes.
    pub bytes: u32,
}

/// Where a stored bundle stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleState {
    /// Read and merged (or our own).
    Applied,
    /// Encrypted under a key we do not hold (yet): kept and carried.
    WaitingKey,
    /// A grant for another node: carried only.
    Carried,
    /// A grant for us, accepted (or our own grant to someone).
    Grant,
    /// A community invitation for us, waiting for consent.
    Invite,
    /// A custody signal (ours, or carried for its custodian).
    Signal,
    /// A custody signal for us, already applied: kept so a stick visit knows it, never sent.
    Consumed,
}

impl BundleMeta {
    pub(super) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(80 + self.doc.len() + self.destination.len());
        out.push(match self.state {
            BundleState::Applied => 0,
            BundleState::WaitingKey => 1,
            BundleState::Carried => 2,
            BundleState::Grant => 3,
            BundleState::Invite => 4,
            BundleState::Signal => 5,
            BundleState::Consumed => 6,
        });
        out.push(self.verified as u8);
        out.extend_from_slice(&self.author.0);
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.extend_from_slice(&self.payload);
        out.extend_from_slice(&self.expires_unix_ms.to_le_bytes());
        out.extend_from_slice(&self.changes.to_le_bytes());
        out.extend_from_slice(&self.bytes.to_le_bytes());
        out.push(self.doc.len() as u8);
        out.extend_from_slice(self.doc.as_bytes());
        out.extend_from_slice(self.destination.as_bytes());
        out
    }

    pub(super) fn decode(b: &[u8]) -> Option<Self> {
        let state = match *b.first()? {
            0 => BundleState::Applied,
            1 => BundleState::WaitingKey,
            2 => BundleState::Carried,
            3 => BundleState::Grant,
            4 => BundleState::Invite,
            5 => BundleState::Signal,
            6 => BundleState::Consumed,
            _ => return None,
        };
        let verified = match *b.get(1)? {
            0 => false,
            1 => true,
            _ => return None,
        };
        let author = NodeId(b.get(2..22)?.try_into().ok()?);
        let seq = u64::from_le_bytes(b.get(22..30)?.try_into().ok()?);
        let payload: [u8; 32] = b.get(30..62)?.try_into().ok()?;
        let expires_unix_ms = u64::from_le_bytes(b.get(62..70)?.try_into().ok()?);
        let changes = u32::from_le_bytes(b.get(70..74)?.try_into().ok()?);
        let bytes = u32::from_le_bytes(b.get(74..78)?.try_into().ok()?);
        let doc_len = *b.get(78)? as usize;
        let doc = std::str::from_utf8(b.get(79..79 + doc_len)?).ok()?.to_string();
        let destination = std::str::from_utf8(b.get(79 + doc_len..)?).ok()?.to_string();
        Some(BundleMeta { state, author, seq, verified, payload, doc, destination, expires_unix_ms, changes, bytes })
    }
}
