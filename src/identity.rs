//! Who a node is: its keys, its node id, its endpoint ids and its contact card.
//!
//! A node has one Ed25519 key (signs everything it authors; its public key is also the
//! node's Automerge actor id) and one X25519 key (receives wrapped keys). The node id is
//! derived from the Ed25519 public key, so a forged id is impossible without the key.

use std::fmt;
use std::io::Write;
use std::path::Path;

use data_encoding::BASE32_NOPAD;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use x25519_dalek::{PublicKey as AgreementPublic, StaticSecret};

use crate::crypto::{self, CONTEXT_CARD_CHECKSUM, CONTEXT_CARD_SIGNATURE, CONTEXT_NODE_ID};
use crate::limits::NAME_BYTES_MAX;

/// Bytes of a node id: 160 bits of BLAKE3 over the Ed25519 public key.
pub const NODE_ID_BYTES: usize = 20;

/// A node's id: derived from its Ed25519 public key, printed as 32 lowercase base32 chars.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub [u8; NODE_ID_BYTES]);

impl NodeId {
    /// The node id belonging to an Ed25519 public key.
    pub fn from_signing_public(public: &[u8; 32]) -> Self {
        let full = crypto::derive(CONTEXT_NODE_ID, &[public]);
        let mut id = [0u8; NODE_ID_BYTES];
        id.copy_from_slice(&full[..NODE_ID_BYTES]);
        NodeId(id)
    }

    /// Parses the 32-character text form.
    pub fn parse(text: &str) -> Option<Self> {
        let bytes = BASE32_NOPAD.decode(text.to_ascii_uppercase().as_bytes()).ok()?;
        let id: [u8; NODE_ID_BYTES] = bytes.try_into().ok()?;
        Some(NodeId(id))
    }

    /// The node's own endpoint id, `dtn://<node-id>/caravan`, where bundles for it go.
    pub fn endpoint(&self) -> String {
        format!("dtn://{self}/caravan")
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&BASE32_NOPAD.encode(&self.0).to_ascii_lowercase())
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({self})")
    }
}

/// The key that seals community and audience keys in a store whose identity is sealed
/// under a passphrase.
pub type StoreKey = zeroize::Zeroizing<[u8; 32]>;

/// Reads at most `max` bytes of a regular file (an identity file is 64 or 112 bytes).
fn read_small(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut out = Vec::new();
    file.take(max).read_to_end(&mut out)?;
    Ok(out)
}

/// A node's private keys. Never leaves the node's home directory.
pub struct Identity {
    signing: SigningKey,
    agreement: StaticSecret,
}

/// Why a contact card or identity file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// The card does not start with the `caravan1_` prefix.
    #[error("not a Caravan contact card (it must start with `{CARD_PREFIX}`)")]
    NotACard,
    /// The card's base32 text is damaged.
    #[error("contact card is not valid base32 (was it cut or retyped?)")]
    Base32,
    /// The checksum does not match: a typo or truncation.
    #[error("contact card checksum does not match (was it cut or retyped?)")]
    Checksum,
    /// The card's layout is wrong.
    #[error("contact card is malformed: {0}")]
    Malformed(&'static str),
    /// The card's signature does not verify with its own key.
    #[error("contact card signature is invalid")]
    Signature,
    /// The identity file is damaged.
    #[error("identity file {path} is damaged: {reason}")]
    File {
        /// Path of the file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The identity file is sealed under a passphrase and none was given.
    #[error(
        "the keys in {path} are sealed under a passphrase: give it (a terminal asks; else CARAVAN_PASSPHRASE_FILE)"
    )]
    Sealed {
        /// Path of the file.
        path: String,
    },
    /// The passphrase does not open the keys, or they could not be sealed.
    #[error("{0}")]
    Keystore(String),
    /// The identity file could not be read or written.
    #[error("identity file {path}: {source}")]
    Io {
        /// Path of the file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl Identity {
    /// Creates a fresh identity from the operating system's random source.
    pub fn generate() -> Self {
        let signing = SigningKey::from_bytes(&crypto::random_32());
        let agreement = StaticSecret::from(crypto::random_32());
        Identity { signing, agreement }
    }

    /// Rebuilds an identity from its 64-byte secret form (signing || agreement).
    pub fn from_secret_bytes(bytes: &[u8; 64]) -> Self {
        let mut s = [0u8; 32];
        let mut a = [0u8; 32];
        s.copy_from_slice(&bytes[..32]);
        a.copy_from_slice(&bytes[32..]);
        Identity { signing: SigningKey::from_bytes(&s), agreement: StaticSecret::from(a) }
    }

    /// Loads the identity file, or creates it (mode 0600) if it does not exist. A file
    /// sealed under a passphrase needs [`Identity::open`].
    pub fn load_or_create(path: &Path) -> Result<Self, IdentityError> {
        Ok(Self::open(path, None)?.0)
    }

    /// Loads the identity file, or creates it if it does not exist: sealed under
    /// `passphrase` if one is given (see [`crate::keystore`]). Returns the identity and,
    /// for a sealed one, the key that seals community and audience keys in the store.
    /// The file must be no longer than a sealed one (anything bigger is not ours).
    pub fn open(path: &Path, passphrase: Option<&str>) -> Result<(Self, Option<StoreKey>), IdentityError> {
        let io = |source| IdentityError::Io { path: path.display().to_string(), source };
        let file_err = |reason: String| IdentityError::File { path: path.display().to_string(), reason };
        match read_small(path, 256) {
            Ok(bytes) if crate::keystore::is_sealed(&bytes) => {
                let Some(passphrase) = passphrase else {
                    return Err(IdentityError::Sealed { path: path.display().to_string() });
                };
                let (secret, store) = crate::keystore::open_identity(&bytes, passphrase, path)
                    .map_err(|e| IdentityError::Keystore(e.to_string()))?;
                Ok((Self::from_secret_bytes(&secret), Some(store)))
            }
            Ok(bytes) => {
                let secret: [u8; 64] =
                    bytes.try_into().map_err(|b: Vec<u8>| file_err(format!("expected 64 bytes, found {}", b.len())))?;
                Ok((Self::from_secret_bytes(&secret), None))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let id = Self::generate();
                let (bytes, store) = match passphrase {
                    None => (id.secret_bytes().to_vec(), None),
                    Some(p) => {
                        let (file, store) =
                            crate::keystore::seal_identity(&id.secret_bytes(), p, crate::keystore::COST_DEFAULT)
                                .map_err(|e| IdentityError::Keystore(e.to_string()))?;
                        (file, Some(store))
                    }
                };
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    options.mode(0o600);
                }
                let mut file = options.open(path).map_err(io)?;
                file.write_all(&bytes).map_err(io)?;
                file.sync_all().map_err(io)?;
                Ok((id, store))
            }
            Err(e) => Err(io(e)),
        }
    }

    fn secret_bytes(&self) -> [u8; 64] {
        let mut out = [0u8; 64];
        out[..32].copy_from_slice(&self.signing.to_bytes());
        out[32..].copy_from_slice(self.agreement.as_bytes());
        out
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        NodeId::from_signing_public(&self.signing_public())
    }

    /// The Ed25519 public key; also this node's Automerge actor id.
    pub fn signing_public(&self) -> [u8; 32] {
        self.signing.verifying_key().to_bytes()
    }

    /// The key that authenticates this node's own stick file headers (`spec/stick.md`):
    /// derived from the signing secret, so only this node can write a header it will
    /// later append behind. Never written anywhere.
    pub fn stick_header_key(&self) -> [u8; 32] {
        crypto::derive(crypto::CONTEXT_STICK_HEADER_KEY, &[self.signing.as_bytes()])
    }

    /// The key this node's release secrets come from (`crate::cloak::release_hash`):
    /// derived from the signing secret, so only this node can release its bundles.
    pub(crate) fn release_key(&self) -> [u8; 32] {
        crypto::derive(crypto::CONTEXT_RELEASE_KEY, &[self.signing.as_bytes()])
    }

    /// The X25519 public key other nodes wrap keys for.
    pub fn agreement_public(&self) -> [u8; 32] {
        AgreementPublic::from(&self.agreement).to_bytes()
    }

    /// Signs the parts of a message under a context string (domain separation), as
    /// [`crate::crypto::to_be_signed`] lays them out.
    pub fn sign(&self, context: &str, message: &[&[u8]]) -> [u8; 64] {
        self.signing.sign(&crypto::to_be_signed(context, message)).to_bytes()
    }

    /// The Ed25519 signing key as PKCS#8 DER, for the TLS stack of QUIC links (which
    /// proves this key in every handshake). Never written anywhere.
    pub(crate) fn signing_pkcs8(&self) -> Option<Vec<u8>> {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        self.signing.to_pkcs8_der().ok().map(|d| d.as_bytes().to_vec())
    }

    /// The X25519 secret that opens bundles cloaked for this node alone
    /// ([`crate::cloak::To::Node`]).
    pub(crate) fn direct_secret(&self) -> StaticSecret {
        crate::cloak::direct_secret(&self.signing)
    }

    pub(crate) fn agreement_secret(&self) -> &StaticSecret {
        &self.agreement
    }

    /// This node's signed contact card with the given display name.
    pub fn card(&self, name: &str) -> ContactCard {
        let mut name = name.to_string();
        truncate_utf8(&mut name, NAME_BYTES_MAX);
        let signing_public = self.signing_public();
        let agreement_public = self.agreement_public();
        let signature = self.sign(CONTEXT_CARD_SIGNATURE, &[name.as_bytes(), &signing_public, &agreement_public]);
        ContactCard { name, signing_public, agreement_public, signature }
    }
}

fn truncate_utf8(s: &mut String, max: usize) {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
}

/// Text prefix of every contact card; the digit is the card format version.
pub const CARD_PREFIX: &str = "caravan1_";

/// A node's public introduction: display name and both public keys, signed by the node.
///
/// Its text form is one line: `caravan1_` then base32 of
/// `version(1) | name_len(1) | name | ed25519_pk(32) | x25519_pk(32) | sig(64) | checksum(4)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContactCard {
    /// Display name chosen by the node (not unique, not trusted).
    pub name: String,
    /// Ed25519 public key.
    pub signing_public: [u8; 32],
    /// X25519 public key.
    pub agreement_public: [u8; 32],
    /// Ed25519 signature over name and both keys.
    pub signature: [u8; 64],
}

const CARD_VERSION: u8 = 1;

impl ContactCard {
    /// The node id this card belongs to.
    pub fn node_id(&self) -> NodeId {
        NodeId::from_signing_public(&self.signing_public)
    }

    /// Binary form (without the text prefix).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(2 + self.name.len() + 132);
        out.push(CARD_VERSION);
        out.push(self.name.len() as u8);
        out.extend_from_slice(self.name.as_bytes());
        out.extend_from_slice(&self.signing_public);
        out.extend_from_slice(&self.agreement_public);
        out.extend_from_slice(&self.signature);
        let sum = crypto::derive(CONTEXT_CARD_CHECKSUM, &[&out]);
        out.extend_from_slice(&sum[..4]);
        out
    }

    /// Parses and verifies the binary form.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, IdentityError> {
        if bytes.len() < 2 + 32 + 32 + 64 + 4 {
            return Err(IdentityError::Malformed("too short"));
        }
        let (body, sum) = bytes.split_at(bytes.len() - 4);
        if crypto::derive(CONTEXT_CARD_CHECKSUM, &[body])[..4] != *sum {
            return Err(IdentityError::Checksum);
        }
        if body[0] != CARD_VERSION {
            return Err(IdentityError::Malformed("unknown card version"));
        }
        let name_len = body[1] as usize;
        if body.len() != 2 + name_len + 128 {
            return Err(IdentityError::Malformed("length does not match its name"));
        }
        let name = std::str::from_utf8(&body[2..2 + name_len])
            .map_err(|_| IdentityError::Malformed("name is not UTF-8"))?
            .to_string();
        let rest = &body[2 + name_len..];
        let card = ContactCard {
            name,
            signing_public: rest[..32].try_into().expect("sliced 32"),
            agreement_public: rest[32..64].try_into().expect("sliced 32"),
            signature: rest[64..128].try_into().expect("sliced 64"),
        };
        crypto::verify(
            &card.signing_public,
            CONTEXT_CARD_SIGNATURE,
            &[card.name.as_bytes(), &card.signing_public, &card.agreement_public],
            &card.signature,
        )
        .map_err(|_| IdentityError::Signature)?;
        Ok(card)
    }

    /// Parses the text form, ignoring whitespace anywhere in it (a card pasted from an
    /// email that wrapped it over lines, or with spaces around it).
    pub fn parse(text: &str) -> Result<Self, IdentityError> {
        // A card is a few hundred characters: anything far longer is not one.
        if text.len() > crate::limits::CARD_TEXT_BYTES_MAX {
            return Err(IdentityError::NotACard);
        }
        let text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let body = text.strip_prefix(CARD_PREFIX).ok_or(IdentityError::NotACard)?;
        let bytes = BASE32_NOPAD.decode(body.to_ascii_uppercase().as_bytes()).map_err(|_| IdentityError::Base32)?;
        Self::from_bytes(&bytes)
    }
}

impl fmt::Display for ContactCard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{CARD_PREFIX}{}", BASE32_NOPAD.encode(&self.to_bytes()).to_ascii_lowercase())
    }
}

/// Verifying key for an Ed25519 public key, if it is a valid curve point.
pub(crate) fn verifying_key(public: &[u8; 32]) -> Option<VerifyingKey> {
    VerifyingKey::from_bytes(public).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_round_trips_and_detects_damage() {
        let id = Identity::generate();
        let card = id.card("Amina of Kisumu");
        let text = card.to_string();
        assert!(!text.contains(char::is_whitespace));
        let back = ContactCard::parse(&text).unwrap();
        assert_eq!(back, card);
        assert_eq!(back.node_id(), id.node_id());

        // One changed character anywhere after the prefix is caught.
        let mut chars: Vec<char> = text.chars().collect();
        let i = CARD_PREFIX.len() + 10;
        chars[i] = if chars[i] == 'a' { 'b' } else { 'a' };
        let damaged: String = chars.into_iter().collect();
        assert!(ContactCard::parse(&damaged).is_err());
        assert!(matches!(
            ContactCard::parse(&text[..text.len() - 3]),
            Err(IdentityError::Checksum | IdentityError::Base32 | IdentityError::Malformed(_))
        ));
        assert!(matches!(ContactCard::parse("hello"), Err(IdentityError::NotACard)));
    }

    #[test]
    fn node_id_text_round_trips() {
        let id = Identity::generate().node_id();
        let text = id.to_string();
        assert_eq!(text.len(), 32);
        assert_eq!(NodeId::parse(&text), Some(id));
        assert!(id.endpoint().starts_with("dtn://"));
    }
}
