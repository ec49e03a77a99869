//! Every cryptographic construction Caravan uses, and every context string, in one place.
//! `spec/crypto.md` describes the same constructions byte by byte.

use chacha20poly1305::aead::{Aead, AeadInOut, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use ed25519_dalek::Signature;
use x25519_dalek::{EphemeralSecret, PublicKey as AgreementPublic, StaticSecret};

/// BLAKE3 `derive_key` context for node ids.
pub const CONTEXT_NODE_ID: &str = "caravan 2026-11 node id v1";
/// BLAKE3 `derive_key` context for contact card checksums.
pub const CONTEXT_CARD_CHECKSUM: &str = "caravan 2026-11 contact card checksum v1";
/// Signature context for contact cards.
pub const CONTEXT_CARD_SIGNATURE: &str = "caravan 2026-11 contact card signature v1";
/// Signature context for change batches.
pub const CONTEXT_BATCH_SIGNATURE: &str = "caravan 2026-11 change batch signature v1";
/// Signature context for key grants and invitations.
pub const CONTEXT_GRANT_SIGNATURE: &str = "caravan 2026-11 key grant signature v1";
/// Signature context for membership certificates.
pub const CONTEXT_CERT_SIGNATURE: &str = "caravan 2026-11 membership certificate v1";
/// BLAKE3 `derive_key` context for the key that wraps a grant for one recipient.
pub const CONTEXT_WRAP_KEY: &str = "caravan 2026-11 x25519 key wrap v1";
/// BLAKE3 `derive_key` context for community ids.
pub const CONTEXT_COMMUNITY_ID: &str = "caravan 2026-11 community id v1";
/// BLAKE3 `derive_key` context for bundle digests (store keys, duplicate detection).
pub const CONTEXT_BUNDLE_DIGEST: &str = "caravan 2026-11 bundle digest v1";
/// BLAKE3 `derive_key` context for payload digests: a bundle's signed content without its
/// primary block, so a re-wrapped copy is known for what it is.
pub const CONTEXT_PAYLOAD_DIGEST: &str = "caravan 2026-11 payload digest v1";
/// Signature over a custody signal.
pub const CONTEXT_CUSTODY_SIGNAL: &str = "caravan 2026-11 custody signal v1";
/// BLAKE3 `derive_key` context for the key that authenticates a node's own stick file
/// headers (derived from its signing secret; never leaves the node).
pub const CONTEXT_STICK_HEADER_KEY: &str = "caravan 2026-11 stick header key v1";
/// Derives a wiki page's document id from its community and name.
pub const CONTEXT_WIKI_PAGE: &str = "caravan 2026-11 wiki page id v1";
/// Signature of an authority operation (`membership.md`).
pub const CONTEXT_AUTHORITY_SIGNATURE: &str = "caravan 2026-12 authority operation v1";
/// An authority operation's id: the hash of its signed bytes.
pub const CONTEXT_AUTHORITY_ID: &str = "caravan 2026-12 authority operation id v1";
/// Associated data of a rekey's key slots.
pub const CONTEXT_REKEY_SLOT: &str = "caravan 2026-12 rekey slot v1";
/// A friends pass: what a circle key's holders can derive and its owner may hand to
/// others as a slot key, without handing over the circle key itself.
pub const CONTEXT_FRIENDS_PASS: &str = "caravan 2026-12 friends pass v1";
/// A friends-of-members pass: a member's circle key made into a pass for one community
/// (publishing it there gives away nothing usable elsewhere).
pub const CONTEXT_FOM_PASS: &str = "caravan 2026-12 friends of members pass v1";
/// A key slot's hint (which slot a pass opens) and its sealing key.
pub const CONTEXT_SLOT_HINT: &str = "caravan 2026-12 slot hint v1";
/// See `CONTEXT_SLOT_HINT`.
pub const CONTEXT_SLOT_KEY: &str = "caravan 2026-12 slot key v1";
/// The key a node's release secrets are derived from (never leaves the node).
pub const CONTEXT_RELEASE_KEY: &str = "caravan 2026-12 release key v1";
/// A bundle's release secret: from its author's release key and its payload digest.
pub const CONTEXT_RELEASE_SECRET: &str = "caravan 2026-12 release secret v1";
/// Signature of a slot grant.
pub const CONTEXT_SLOTS_SIGNATURE: &str = "caravan 2026-12 slot grant signature v1";
/// A party's signature that it completed an exchange (`plugins.md`, "exchange").
pub const CONTEXT_EXCHANGE_COMPLETED: &str = "caravan 2026-12 exchange completed v1";
/// A party's signature over its review of an exchange (`plugins.md`, "reviews").
pub const CONTEXT_REVIEW_SIGNATURE: &str = "caravan 2026-12 exchange review v1";
/// A leaf of a poll's Merkle tree of counted positions (`plugins.md`, "polls").
pub const CONTEXT_POLL_LEAF: &str = "caravan 2026-12 poll position v1";
/// An inner node of a poll's Merkle tree.
pub const CONTEXT_POLL_NODE: &str = "caravan 2026-12 poll tree node v1";
/// A certificate statement's hash, and the hashes inside one (`plugins.md`, "certificates").
pub const CONTEXT_CERT_STATEMENT: &str = "caravan 2026-12 certificate statement v1";
/// A certifier's signature over a certificate statement.
pub const CONTEXT_CERTIFICATE: &str = "caravan 2026-12 certificate signature v1";
/// A link between communities: its statement's hash, and each owner's signature.
pub const CONTEXT_LINK: &str = "caravan 2026-12 community link v1";

/// Bytes of an XChaCha20 nonce.
pub const NONCE_BYTES: usize = 24;
/// Bytes of a Poly1305 tag.
pub const TAG_BYTES: usize = 16;

/// A symmetric content key (community or audience key).
pub type SymmetricKey = [u8; 32];

/// Why a cryptographic check failed. Deliberately vague: says which check, not why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// AEAD authentication failed: wrong key or altered ciphertext.
    #[error("decryption failed (wrong key or altered ciphertext)")]
    Decrypt,
    /// Ciphertext shorter than nonce plus tag.
    #[error("ciphertext too short")]
    Short,
    /// The Ed25519 signature or public key is invalid.
    #[error("signature does not verify")]
    Signature,
    /// The X25519 agreement produced a non-contributory (all-zero) secret.
    #[error("key agreement with a low-order public key")]
    LowOrder,
}

/// 32 bytes from the operating system's random source.
pub fn random_32() -> [u8; 32] {
    let mut out = [0u8; 32];
    fill_random(&mut out);
    out
}

/// Fills `buf` from the operating system's random source.
pub fn fill_random(buf: &mut [u8]) {
    // The OS random source failing leaves no safe way to continue creating keys.
    getrandom::fill(buf).expect("operating system random source failed");
}

/// BLAKE3 `derive_key(context, part_0 || part_1 || ...)`.
pub fn derive(context: &str, parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new_derive_key(context);
    for part in parts {
        hasher.update(part);
    }
    *hasher.finalize().as_bytes()
}

/// BLAKE3 `derive_key` context for the digest a signature covers.
pub const CONTEXT_SIGNED_DIGEST: &str = "caravan 2026-11 signed message digest v1";

/// The exact bytes an Ed25519 signature covers: the signature context, then a BLAKE3
/// digest of the parts, each prefixed by its length as a u64 little-endian (so no two
/// part lists share an encoding). Hashing first with BLAKE3 keeps signing and verifying
/// a 64 KiB batch near BLAKE3 speed instead of Ed25519's internal SHA-512.
pub fn to_be_signed(context: &str, parts: &[&[u8]]) -> Vec<u8> {
    let mut hasher = blake3::Hasher::new_derive_key(CONTEXT_SIGNED_DIGEST);
    for part in parts {
        hasher.update(&(part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    let mut out = Vec::with_capacity(8 + context.len() + 32);
    out.extend_from_slice(&(context.len() as u64).to_le_bytes());
    out.extend_from_slice(context.as_bytes());
    out.extend_from_slice(hasher.finalize().as_bytes());
    out
}

/// Verifies an Ed25519 signature made with `Identity::sign` (strict verification).
pub fn verify(public: &[u8; 32], context: &str, parts: &[&[u8]], signature: &[u8; 64]) -> Result<(), CryptoError> {
    let key = cached_verifying_key(public).ok_or(CryptoError::Signature)?;
    key.verify_strict(&to_be_signed(context, parts), &Signature::from_bytes(signature))
        .map_err(|_| CryptoError::Signature)
}

/// Decompressing an Ed25519 public key costs about a fifth of a verification, and a
/// stick or a sync brings thousands of bundles from a handful of authors: keep the
/// decompressed keys per thread (bounded; cleared when full).
fn cached_verifying_key(public: &[u8; 32]) -> Option<ed25519_dalek::VerifyingKey> {
    const ENTRIES_MAX: usize = 1024;
    thread_local! {
        static KEYS: std::cell::RefCell<std::collections::HashMap<[u8; 32], ed25519_dalek::VerifyingKey>> =
            std::cell::RefCell::new(std::collections::HashMap::new());
    }
    KEYS.with(|keys| {
        let mut keys = keys.borrow_mut();
        if let Some(k) = keys.get(public) {
            return Some(*k);
        }
        let k = crate::identity::verifying_key(public)?;
        if keys.len() >= ENTRIES_MAX {
            keys.clear();
        }
        keys.insert(*public, k);
        Some(k)
    })
}

/// XChaCha20-Poly1305 with a fresh random 192-bit nonce: `nonce || ciphertext || tag`.
pub fn seal(key: &SymmetricKey, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_BYTES];
    fill_random(&mut nonce);
    // One buffer, encrypted in place: nonce, then ciphertext, then tag.
    let mut out = Vec::with_capacity(NONCE_BYTES + plaintext.len() + TAG_BYTES);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let tag = XChaCha20Poly1305::new(key.into())
        .encrypt_inout_detached(&XNonce::from(nonce), aad, (&mut out[NONCE_BYTES..]).into())
        .expect("plaintext within XChaCha20-Poly1305 limits");
    out.extend_from_slice(&tag);
    out
}

/// Opens what `seal` produced.
pub fn open(key: &SymmetricKey, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if sealed.len() < NONCE_BYTES + TAG_BYTES {
        return Err(CryptoError::Short);
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_BYTES);
    let nonce: [u8; NONCE_BYTES] = nonce.try_into().expect("split at NONCE_BYTES");
    XChaCha20Poly1305::new(key.into())
        .decrypt(&XNonce::from(nonce), Payload { msg: ciphertext, aad })
        .map_err(|_| CryptoError::Decrypt)
}

/// Wraps `plaintext` for one recipient's X25519 key (ephemeral-static agreement):
/// `eph_pk(32) || seal(derive(CONTEXT_WRAP_KEY, shared || eph_pk || recipient_pk), aad, plaintext)`.
pub fn wrap(recipient: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let ephemeral = EphemeralSecret::random();
    let eph_public = AgreementPublic::from(&ephemeral).to_bytes();
    let shared = ephemeral.diffie_hellman(&AgreementPublic::from(*recipient));
    if !shared.was_contributory() {
        return Err(CryptoError::LowOrder);
    }
    let key = derive(CONTEXT_WRAP_KEY, &[shared.as_bytes(), &eph_public, recipient]);
    let mut out = eph_public.to_vec();
    out.extend_from_slice(&seal(&key, aad, plaintext));
    Ok(out)
}

/// The friends pass of a circle key (`CONTEXT_FRIENDS_PASS`).
pub fn friends_pass(circle_key: &[u8; 32]) -> [u8; 32] {
    derive(CONTEXT_FRIENDS_PASS, &[circle_key])
}

/// The friends-of-members pass of a circle (or community) key for community `community`.
pub fn members_friends_pass(key: &[u8; 32], community: &[u8; 20]) -> [u8; 32] {
    derive(CONTEXT_FOM_PASS, &[key, community])
}

/// A key slot: `hint8 ‖ seal(derive(slot key, pass ‖ nonce), aad, key)`. Whoever holds the
/// pass finds its slot by the hint and opens it; the others learn nothing of whose it is.
pub fn slot_seal(pass: &[u8; 32], nonce: &[u8; 16], aad: &[u8], key: &[u8; 32]) -> Vec<u8> {
    let mut out = slot_hint(pass, nonce).to_vec();
    out.extend_from_slice(&seal(&derive(CONTEXT_SLOT_KEY, &[pass, nonce]), aad, key));
    out
}

/// The hint that marks `pass`'s slot.
pub fn slot_hint(pass: &[u8; 32], nonce: &[u8; 16]) -> [u8; 8] {
    let d = derive(CONTEXT_SLOT_HINT, &[pass, nonce]);
    let mut h = [0u8; 8];
    h.copy_from_slice(&d[..8]);
    h
}

/// Opens the slot `pass` finds among `slots`, if any.
pub fn slot_open(pass: &[u8; 32], nonce: &[u8; 16], aad: &[u8], slots: &[Vec<u8>]) -> Option<[u8; 32]> {
    let hint = slot_hint(pass, nonce);
    let key = derive(CONTEXT_SLOT_KEY, &[pass, nonce]);
    slots
        .iter()
        .filter(|s| s.len() > 8 && s[..8] == hint)
        .find_map(|s| open(&key, aad, &s[8..]).ok())
        .and_then(|k| <[u8; 32]>::try_from(k.as_slice()).ok())
}

/// Opens what `wrap` produced, with the recipient's static secret.
pub fn unwrap(secret: &StaticSecret, aad: &[u8], wrapped: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if wrapped.len() < 32 + NONCE_BYTES + TAG_BYTES {
        return Err(CryptoError::Short);
    }
    let eph_public: [u8; 32] = wrapped[..32].try_into().expect("sliced 32");
    let shared = secret.diffie_hellman(&AgreementPublic::from(eph_public));
    if !shared.was_contributory() {
        return Err(CryptoError::LowOrder);
    }
    let recipient = AgreementPublic::from(secret).to_bytes();
    let key = derive(CONTEXT_WRAP_KEY, &[shared.as_bytes(), &eph_public, &recipient]);
    open(&key, aad, &wrapped[32..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_tamper() {
        let key = random_32();
        let sealed = seal(&key, b"hdr", b"hello");
        assert_eq!(open(&key, b"hdr", &sealed).unwrap(), b"hello");
        assert_eq!(open(&key, b"other", &sealed), Err(CryptoError::Decrypt));
        assert_eq!(open(&random_32(), b"hdr", &sealed), Err(CryptoError::Decrypt));
        let mut bad = sealed.clone();
        bad[30] ^= 1;
        assert_eq!(open(&key, b"hdr", &bad), Err(CryptoError::Decrypt));
        assert_eq!(open(&key, b"hdr", &sealed[..10]), Err(CryptoError::Short));
    }

    #[test]
    fn wrap_reaches_only_its_recipient() {
        let alice = StaticSecret::from(random_32());
        let bob = StaticSecret::from(random_32());
        let alice_pk = AgreementPublic::from(&alice).to_bytes();
        let wrapped = wrap(&alice_pk, b"aad", b"community key").unwrap();
        assert_eq!(unwrap(&alice, b"aad", &wrapped).unwrap(), b"community key");
        assert_eq!(unwrap(&bob, b"aad", &wrapped), Err(CryptoError::Decrypt));
        // A low-order point is refused rather than yielding a predictable key.
        assert_eq!(wrap(&[0u8; 32], b"", b"x"), Err(CryptoError::LowOrder));
    }
}
