//! The payload envelope: the only module that touches `serde_cbor`.
//!
//! Every decode is size-capped before it starts and every count is checked after, so a
//! crafted payload can neither exhaust memory nor smuggle oversized fields inward.
//! Structures that are signed or used as AEAD associated data travel as byte strings, so
//! verification covers the exact bytes received, independent of CBOR canonical form.

use serde::{Deserialize, Serialize};
use serde_bytes::{ByteBuf, Bytes};

use crate::custody::{Disposition, Signal, SignalEntry};
use crate::identity::NodeId;
use crate::limits::{
    BATCH_CHANGES_MAX, CERT_CHAIN_LEN_MAX, DOC_ID_BYTES_MAX, ENVELOPE_BYTES_MAX, HEADER_BYTES_MAX, HEADS_COUNT_MAX,
    NAME_BYTES_MAX, SIGNAL_BYTES_MAX, SIGNAL_ENTRIES_MAX, SIGNAL_RANGES_MAX,
};

mod authority;
mod grant;
mod release;
mod signal;
mod slots;

pub use authority::{decode_auth_op, encode_auth_op};
pub use grant::{Grant, Invitation};
pub use release::{RELEASE_LIST_RECORD_TYPE, admin_record_type, decode_release_record, encode_release_record};
pub use signal::{
    CUSTODY_SIGNAL_RECORD_TYPE, SIGNAL_VERSION, SignalRecord, decode_signal_record, encode_signal, encode_signal_record,
};
pub use slots::SlotGrant;
/// Envelope format version written by this code. Version 2 put the author and its custody
/// sequence number into the signed header (custody rests only on signed content).
pub const ENVELOPE_VERSION: u8 = 2;

/// Why a payload could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// Larger than the limit for this structure.
    #[error("{what} is {bytes} bytes, over the limit of {max}")]
    TooLarge {
        /// Which structure.
        what: &'static str,
        /// Its size.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// Not valid CBOR for this structure.
    #[error("{what} is not valid CBOR: {reason}")]
    Cbor {
        /// Which structure.
        what: &'static str,
        /// The decoder's message.
        reason: String,
    },
    /// A version this code does not know.
    #[error("envelope version {0} is not supported (this node reads version {ENVELOPE_VERSION})")]
    Version(u8),
    /// A field is out of range.
    #[error("invalid field {0}")]
    Field(&'static str),
    /// Not in the one encoding Caravan writes.
    #[error("envelope is not in canonical form")]
    NonCanonical,
    /// The envelope checksum does not match: the bundle was damaged on the way.
    #[error("envelope checksum does not match (damaged in transit or storage)")]
    Checksum,
}

/// Decodes at most `max` bytes; byte strings borrow from `bytes` instead of being copied.
fn decode_borrowed<'a, T: Deserialize<'a>>(
    what: &'static str,
    bytes: &'a [u8],
    max: usize,
) -> Result<T, EnvelopeError> {
    if bytes.len() > max {
        return Err(EnvelopeError::TooLarge { what, bytes: bytes.len(), max });
    }
    serde_cbor::from_slice(bytes).map_err(|e| EnvelopeError::Cbor { what, reason: e.to_string() })
}

/// Decodes `bytes` and refuses any spelling other than the one this code writes: unknown
/// fields, padding, long-form lengths, another key order or type. Signed structures are
/// decoded this way only, so one signed content has exactly one encoding.
fn decode_canonical<'a, T: Deserialize<'a> + Serialize>(
    what: &'static str,
    bytes: &'a [u8],
    max: usize,
) -> Result<T, EnvelopeError> {
    let value: T = decode_borrowed(what, bytes, max)?;
    if !encodes_to(&value, bytes) {
        return Err(EnvelopeError::NonCanonical);
    }
    Ok(value)
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing our own in-memory structures to a Vec cannot fail.
    serde_cbor::to_vec(value).expect("CBOR encoding of an in-memory structure")
}

/// Whether `value` encodes to exactly `expected`, compared as it is written: checking a
/// 64 MiB envelope must not build a second copy of it.
fn encodes_to<T: Serialize>(value: &T, expected: &[u8]) -> bool {
    struct Compare<'a> {
        rest: &'a [u8],
        same: bool,
    }
    impl std::io::Write for Compare<'_> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            match self.rest.strip_prefix(buf) {
                Some(rest) if self.same => self.rest = rest,
                _ => self.same = false,
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Compare { rest: expected, same: true };
    serde_cbor::to_writer(&mut c, value).is_ok() && c.same && c.rest.is_empty()
}

fn fixed<const N: usize>(b: &ByteBuf, field: &'static str) -> Result<[u8; N], EnvelopeError> {
    b.as_slice().try_into().map_err(|_| EnvelopeError::Field(field))
}

/// What a bundle carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A signed batch of Automerge changes (possibly empty: a heads announcement).
    Batch,
    /// A key grant or community invitation, wrapped for one recipient.
    Grant,
    /// A snapshot: a signed batch holding every change of the document, from an owner,
    /// for readers whose missing changes are no longer stored as bundles.
    Snapshot,
    /// A key sealed in anonymous slots, one per pass (`SlotGrant`).
    Slots,
}

/// The outer envelope: a header and a body, each as exact bytes.
#[derive(Serialize, Deserialize)]
struct EnvelopeWire<'a> {
    v: u8,
    #[serde(borrow)]
    h: &'a Bytes,
    #[serde(borrow)]
    b: &'a Bytes,
    c: u32,
}

/// CRC-32 (IEEE) over header bytes then body: lets a relay that holds no key detect a
/// damaged bundle. Not a defence against tampering; signatures and AEAD tags are.
fn checksum(header: &[u8], body: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(header);
    h.update(body);
    h.finalize()
}

#[derive(Serialize, Deserialize)]
struct HeaderWire {
    k: u8,
    a: ByteBuf,
    q: u64,
    d: String,
    e: u32,
    s: Vec<ByteBuf>,
    x: bool,
}

/// The cleartext header: what a relay without keys can see besides the primary block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// What the body is.
    pub kind: Kind,
    /// The author: the node that signed the body. With `seq`, the bundle's custody id.
    pub author: NodeId,
    /// The author's custody sequence number for this bundle (1, 2, 3, ... per author).
    /// Signed, so a carrier that re-wraps the bundle cannot change which bundle a
    /// custody answer, release or delivered notice refers to.
    pub seq: u64,
    /// Document id (batches) or key scope (grants).
    pub doc: String,
    /// Key epoch the body is encrypted under (0 for public content).
    pub epoch: u32,
    /// The sender's heads of the document when it sealed this bundle.
    pub heads: Vec<[u8; 32]>,
    /// Whether the body is encrypted.
    pub encrypted: bool,
}

/// A decoded envelope, borrowing the exact header bytes (for AAD and signatures) and the
/// body from the bundle.
#[derive(Debug, Clone)]
pub struct Envelope<'a> {
    /// The parsed header.
    pub header: Header,
    /// The header's exact bytes.
    pub header_bytes: &'a [u8],
    /// The body: signed batch, sealed signed batch, or wrapped grant.
    pub body: &'a [u8],
}

impl Header {
    /// What is known of a bundle carried unopened (its cloak is for others): nothing.
    pub fn unknown() -> Self {
        Header {
            kind: Kind::Batch,
            author: NodeId([0; 20]),
            seq: 0,
            doc: String::new(),
            epoch: 0,
            heads: Vec::new(),
            encrypted: true,
        }
    }

    /// Encodes the header.
    pub fn encode(&self) -> Vec<u8> {
        encode(&HeaderWire {
            k: match self.kind {
                Kind::Batch => 0,
                Kind::Grant => 1,
                Kind::Snapshot => 2,
                Kind::Slots => 3,
            },
            a: ByteBuf::from(self.author.0.to_vec()),
            q: self.seq,
            d: self.doc.clone(),
            e: self.epoch,
            s: self.heads.iter().map(|h| ByteBuf::from(h.to_vec())).collect(),
            x: self.encrypted,
        })
    }

    fn decode(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        let w: HeaderWire = decode_canonical("envelope header", bytes, HEADER_BYTES_MAX)?;
        let kind = match w.k {
            0 => Kind::Batch,
            1 => Kind::Grant,
            2 => Kind::Snapshot,
            3 => Kind::Slots,
            _ => return Err(EnvelopeError::Field("header kind")),
        };
        if w.d.len() > DOC_ID_BYTES_MAX {
            return Err(EnvelopeError::Field("header document id"));
        }
        if w.s.len() > HEADS_COUNT_MAX {
            return Err(EnvelopeError::Field("header heads count"));
        }
        let heads = w.s.iter().map(|h| fixed(h, "header head")).collect::<Result<_, _>>()?;
        let author = NodeId(fixed(&w.a, "header author")?);
        Ok(Header { kind, author, seq: w.q, doc: w.d, epoch: w.e, heads, encrypted: w.x })
    }
}

/// Encodes an envelope from a header and body.
pub fn encode_envelope(header_bytes: &[u8], body: &[u8]) -> Vec<u8> {
    encode(&EnvelopeWire {
        v: ENVELOPE_VERSION,
        h: Bytes::new(header_bytes),
        b: Bytes::new(body),
        c: checksum(header_bytes, body),
    })
}

/// Decodes a bundle payload into an envelope.
pub fn decode_envelope(payload: &[u8]) -> Result<Envelope<'_>, EnvelopeError> {
    let w: EnvelopeWire = decode_borrowed("envelope", payload, ENVELOPE_BYTES_MAX)?;
    if w.v != ENVELOPE_VERSION {
        return Err(EnvelopeError::Version(w.v));
    }
    if checksum(w.h, w.b) != w.c {
        return Err(EnvelopeError::Checksum);
    }
    // Only the exact encoding we write is accepted: CBOR has several spellings of the
    // same structure (a key as text or bytes, long-form lengths), and a damaged byte must
    // not turn into an equivalent spelling that the checksum does not cover.
    if !encodes_to(&w, payload) {
        return Err(EnvelopeError::NonCanonical);
    }
    let header = Header::decode(w.h)?;
    Ok(Envelope { header, header_bytes: w.h, body: w.b })
}

/// A signed structure: exact inner bytes plus an Ed25519 signature over them.
#[derive(Serialize, Deserialize)]
struct SignedWire<'a> {
    #[serde(borrow)]
    i: &'a Bytes,
    #[serde(borrow)]
    g: &'a Bytes,
}

/// Encodes `inner` bytes with their signature.
pub fn encode_signed(inner: &[u8], signature: &[u8; 64]) -> Vec<u8> {
    encode(&SignedWire { i: Bytes::new(inner), g: Bytes::new(signature) })
}

/// Splits a signed structure into inner bytes (borrowed) and signature.
pub fn decode_signed(bytes: &[u8]) -> Result<(&[u8], [u8; 64]), EnvelopeError> {
    let w: SignedWire = decode_canonical("signed body", bytes, ENVELOPE_BYTES_MAX)?;
    let signature = w.g.as_ref().try_into().map_err(|_| EnvelopeError::Field("signature"))?;
    Ok((w.i, signature))
}

/// How the changes of a batch are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeEncoding {
    /// A CBOR array of raw Automerge change byte strings (stable format).
    Raw,
    /// One Automerge `bundle()` (compact; Automerge marks the format experimental).
    AutomergeBundle,
    /// DEFLATE (RFC 1951) over one Automerge `bundle()`.
    DeflatedAutomergeBundle,
}

/// A community's genesis: the root owner's key and a nonce; hashes to the community id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Genesis {
    /// Ed25519 public key of the community's creator, its root owner.
    pub root: [u8; 32],
    /// Random nonce so one creator can found many communities.
    pub nonce: [u8; 16],
}

/// A membership certificate: `issuer` says `member` holds `role` in `community`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cert {
    /// Community id bytes.
    pub community: [u8; 20],
    /// Ed25519 key of the member.
    pub member: [u8; 32],
    /// Role code: 0 owner, 1 editor, 2 member.
    pub role: u8,
    /// Ed25519 key of the issuing owner.
    pub issuer: [u8; 32],
    /// Issuer's signature.
    pub signature: [u8; 64],
}

#[derive(Serialize, Deserialize)]
struct GenesisWire {
    r: ByteBuf,
    n: ByteBuf,
}

#[derive(Serialize, Deserialize)]
struct CertWire {
    c: ByteBuf,
    m: ByteBuf,
    r: u8,
    i: ByteBuf,
    g: ByteBuf,
}

impl GenesisWire {
    fn from(g: &Genesis) -> Self {
        GenesisWire { r: ByteBuf::from(g.root.to_vec()), n: ByteBuf::from(g.nonce.to_vec()) }
    }
    fn to(&self) -> Result<Genesis, EnvelopeError> {
        Ok(Genesis { root: fixed(&self.r, "genesis root")?, nonce: fixed(&self.n, "genesis nonce")? })
    }
}

impl CertWire {
    fn from(c: &Cert) -> Self {
        CertWire {
            c: ByteBuf::from(c.community.to_vec()),
            m: ByteBuf::from(c.member.to_vec()),
            r: c.role,
            i: ByteBuf::from(c.issuer.to_vec()),
            g: ByteBuf::from(c.signature.to_vec()),
        }
    }
    fn to(&self) -> Result<Cert, EnvelopeError> {
        Ok(Cert {
            community: fixed(&self.c, "cert community")?,
            member: fixed(&self.m, "cert member")?,
            role: self.r,
            issuer: fixed(&self.i, "cert issuer")?,
            signature: fixed(&self.g, "cert signature")?,
        })
    }
}

fn chain_from(wire: &[CertWire]) -> Result<Vec<Cert>, EnvelopeError> {
    if wire.len() > CERT_CHAIN_LEN_MAX {
        return Err(EnvelopeError::Field("certificate chain length"));
    }
    wire.iter().map(CertWire::to).collect()
}

#[derive(Serialize, Deserialize)]
struct BatchWire<'a> {
    a: ByteBuf,
    g: Option<GenesisWire>,
    p: Vec<CertWire>,
    n: u8,
    #[serde(borrow)]
    c: &'a Bytes,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    w: Vec<ByteBuf>,
}

/// The signed inside of a batch bundle.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Ed25519 key of the author; must equal the Automerge actor of every change.
    pub author: [u8; 32],
    /// For community documents: the community's genesis.
    pub genesis: Option<Genesis>,
    /// For community documents: the author's membership chain (empty for the root owner).
    pub chain: Vec<Cert>,
    /// How `changes` is encoded.
    pub encoding: ChangeEncoding,
    /// The encoded changes.
    pub changes: Vec<u8>,
    /// For community documents: the authority heads (`membership.md`) its author had
    /// when it sealed the batch, so every node tells what the author had seen of removals
    /// and role changes. Empty for profiles and for the authority log itself.
    pub authority: Vec<[u8; 32]>,
}

impl Batch {
    /// Whether the batch carries no change: a heads announcement (raw encoding of an empty
    /// list, the one spelling the writer uses). Known without decoding any change.
    pub fn is_announcement(&self) -> bool {
        self.encoding == ChangeEncoding::Raw && self.changes == [0x80]
    }

    /// Encodes the batch (the bytes that get signed).
    pub fn encode(&self) -> Vec<u8> {
        encode(&BatchWire {
            a: ByteBuf::from(self.author.to_vec()),
            g: self.genesis.as_ref().map(GenesisWire::from),
            p: self.chain.iter().map(CertWire::from).collect(),
            n: match self.encoding {
                ChangeEncoding::Raw => 0,
                ChangeEncoding::AutomergeBundle => 1,
                ChangeEncoding::DeflatedAutomergeBundle => 2,
            },
            c: Bytes::new(&self.changes),
            w: self.authority.iter().map(|h| ByteBuf::from(h.to_vec())).collect(),
        })
    }

    /// Decodes a batch.
    pub fn decode(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        let w: BatchWire = decode_canonical("change batch", bytes, ENVELOPE_BYTES_MAX)?;
        Ok(Batch {
            author: fixed(&w.a, "batch author")?,
            genesis: w.g.as_ref().map(GenesisWire::to).transpose()?,
            chain: chain_from(&w.p)?,
            encoding: match w.n {
                0 => ChangeEncoding::Raw,
                1 => ChangeEncoding::AutomergeBundle,
                2 => ChangeEncoding::DeflatedAutomergeBundle,
                _ => return Err(EnvelopeError::Field("batch change encoding")),
            },
            changes: w.c.to_vec(),
            authority: {
                if w.w.len() > crate::limits::AUTHORITY_FOLLOWS_MAX {
                    return Err(EnvelopeError::Field("batch authority heads"));
                }
                w.w.iter().map(|h| fixed(h, "batch authority head")).collect::<Result<_, _>>()?
            },
        })
    }
}

/// Encodes raw changes as a CBOR array of byte strings.
pub fn encode_raw_changes(changes: &[&[u8]]) -> Vec<u8> {
    let list: Vec<&serde_bytes::Bytes> = changes.iter().map(|c| serde_bytes::Bytes::new(c)).collect();
    encode(&list)
}

/// Decodes a CBOR array of raw changes.
pub fn decode_raw_changes(bytes: &[u8]) -> Result<Vec<Vec<u8>>, EnvelopeError> {
    Ok(raw_changes(bytes)?.into_iter().map(<[u8]>::to_vec).collect())
}

/// Decodes a CBOR array of raw changes without copying them.
pub fn raw_changes(bytes: &[u8]) -> Result<Vec<&[u8]>, EnvelopeError> {
    let list: Vec<&Bytes> = decode_canonical("raw changes", bytes, ENVELOPE_BYTES_MAX)?;
    if list.len() > BATCH_CHANGES_MAX {
        return Err(EnvelopeError::Field("raw change count"));
    }
    Ok(list.into_iter().map(|b| &b[..]).collect())
}

#[cfg(test)]
mod tests;
