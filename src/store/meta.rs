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
    /// What the payload is (from the envelope header, or the primary block's flag).
    pub kind: PayloadKind,
    /// Where the payload sits in the inner bundle's bytes (offset, length), so a renewal
    /// or a reader of a carried batch takes it without parsing the primary block again.
    pub payload_at: (u32, u32),
    /// The route that opens the bundle's cloak (`crate::cloak`), when this node could
    /// open it; `None` for a bundle carried unopened.
    pub opener: Option<crate::cloak::Route>,
    /// The release hash its cloak shows (zeros when unknown): the bundle goes when a
    /// release list shows its secret (`crate::cloak::release_hash`).
    pub release: [u8; 32],
}

/// What a stored bundle's payload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadKind {
    /// A signed batch of changes (an empty one is a heads announcement).
    Batch,
    /// A key grant or invitation.
    Grant,
    /// A snapshot of a document.
    Snapshot,
    /// A BPv7 administrative record: a custody signal or notice.
    Record,
}

impl From<crate::envelope::Kind> for PayloadKind {
    fn from(k: crate::envelope::Kind) -> Self {
        match k {
            crate::envelope::Kind::Batch => PayloadKind::Batch,
            crate::envelope::Kind::Grant | crate::envelope::Kind::Slots => PayloadKind::Grant,
            crate::envelope::Kind::Snapshot => PayloadKind::Snapshot,
        }
    }
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
    /// The inner bundle of a stored bundle: its cloak opened with the recorded route
    /// (`None` for a bundle carried unopened, or damage).
    pub fn inner_of(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        let route = self.opener?;
        crate::cloak::read_untimed(bytes).ok()?.open(&route).ok()
    }

    /// The payload within an inner bundle's bytes (`None` if the bytes are shorter than
    /// the metadata says: damage).
    pub fn payload_of<'a>(&self, inner: &'a [u8]) -> Option<&'a [u8]> {
        let (at, len) = (self.payload_at.0 as usize, self.payload_at.1 as usize);
        inner.get(at..at.checked_add(len)?)
    }

    /// Format 4: the format 3 layout, then the opener (0 ‖ 32 zero bytes, or 1 ‖
    /// route(32)), then the release hash (32).
    pub(super) fn encode(&self) -> Vec<u8> {
        let mut out = self.encode_v3();
        out.push(self.opener.is_some() as u8);
        out.extend_from_slice(&self.opener.map_or([0; 32], |r| r.0));
        out.extend_from_slice(&self.release);
        out
    }

    /// Reads a format 4 value.
    pub(super) fn decode(b: &[u8]) -> Option<Self> {
        let (v3, tail) = b.split_at_checked(b.len().checked_sub(65)?)?;
        let opener = match tail[0] {
            0 => None,
            1 => Some(crate::cloak::Route(tail[1..33].try_into().ok()?)),
            _ => return None,
        };
        let release = tail[33..].try_into().ok()?;
        Some(BundleMeta { opener, release, ..Self::decode_v3(v3)? })
    }

    /// Format 3: the format 2 layout, then kind(1) ‖ payload offset (le32) ‖ payload
    /// length (le32) after the destination's length-prefixed text.
    pub(super) fn encode_v3(&self) -> Vec<u8> {
        let mut out = self.encode_v2_fields();
        out.push(match self.kind {
            PayloadKind::Batch => 0,
            PayloadKind::Grant => 1,
            PayloadKind::Snapshot => 2,
            PayloadKind::Record => 3,
        });
        out.extend_from_slice(&self.payload_at.0.to_le_bytes());
        out.extend_from_slice(&self.payload_at.1.to_le_bytes());
        out
    }

    fn encode_v2_fields(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(90 + self.doc.len() + self.destination.len());
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

    /// Reads a format 3 value.
    pub(crate) fn decode_v3(b: &[u8]) -> Option<Self> {
        let (v2, tail) = b.split_at_checked(b.len().checked_sub(9)?)?;
        let kind = match tail[0] {
            0 => PayloadKind::Batch,
            1 => PayloadKind::Grant,
            2 => PayloadKind::Snapshot,
            3 => PayloadKind::Record,
            _ => return None,
        };
        let at = u32::from_le_bytes(tail[1..5].try_into().ok()?);
        let len = u32::from_le_bytes(tail[5..9].try_into().ok()?);
        let meta = Self::decode_v2(v2)?;
        (at.checked_add(len)? <= meta.bytes).then_some(BundleMeta { kind, payload_at: (at, len), ..meta })
    }

    /// Reads a format 2 value (no kind, no payload place: an upgrade fills them in from
    /// the bundle, once).
    pub(super) fn decode_v2(b: &[u8]) -> Option<Self> {
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
        let kind = if state == BundleState::Signal || state == BundleState::Consumed {
            PayloadKind::Record
        } else {
            PayloadKind::Batch
        };
        Some(BundleMeta {
            state,
            author,
            seq,
            verified,
            payload,
            doc,
            destination,
            expires_unix_ms,
            changes,
            bytes,
            kind,
            payload_at: (0, 0),
            opener: None,
            release: [0; 32],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(destination: &str, kind: PayloadKind) -> BundleMeta {
        BundleMeta {
            state: BundleState::Carried,
            author: NodeId([7; 20]),
            seq: 42,
            verified: true,
            payload: [9; 32],
            doc: "c/abc/wiki".into(),
            destination: destination.into(),
            expires_unix_ms: 1_800_000_000_000,
            changes: 3,
            bytes: 900,
            kind,
            payload_at: (40, 850),
            opener: None,
            release: [3; 32],
        }
    }

    #[test]
    fn every_field_survives_a_round_trip() {
        for kind in [PayloadKind::Batch, PayloadKind::Grant, PayloadKind::Snapshot, PayloadKind::Record] {
            for dest in ["", "dtn://x/", "dtn://abcdefghijklmnopqrstuvwxyz234567/~profile/friends"] {
                let m = sample(dest, kind);
                assert_eq!(BundleMeta::decode(&m.encode()), Some(m.clone()));
                let m = BundleMeta { opener: Some(crate::cloak::Route([0; 32])), ..m };
                assert_eq!(BundleMeta::decode(&m.encode()), Some(m));
            }
        }
    }

    #[test]
    fn a_payload_place_outside_the_bundle_is_damage() {
        let mut m = sample("dtn://x/", PayloadKind::Batch);
        m.payload_at = (100, 801);
        assert_eq!(BundleMeta::decode(&m.encode()), None);
        m.payload_at = (u32::MAX, 2);
        assert_eq!(BundleMeta::decode(&m.encode()), None);
        // A value cut before its fixed fields end, or with an unknown kind, is refused.
        let good = sample("", PayloadKind::Batch).encode();
        for n in 0..good.len() {
            assert_eq!(BundleMeta::decode(&good[..n]), None, "cut at {n}");
        }
        let mut bad = good.clone();
        let k = bad.len() - 74;
        bad[k] = 4;
        assert_eq!(BundleMeta::decode(&bad), None);
    }

    #[test]
    fn payload_of_takes_the_recorded_range() {
        let m = sample("dtn://x/", PayloadKind::Batch);
        let bytes: Vec<u8> = (0..900u32).map(|i| i as u8).collect();
        assert_eq!(m.payload_of(&bytes), Some(&bytes[40..890]));
        assert_eq!(m.payload_of(&bytes[..889]), None);
    }
}
