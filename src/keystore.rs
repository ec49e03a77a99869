//! Keys at rest under a passphrase (optional, `caravan init --passphrase`): the identity
//! file and every community and audience key in the store are sealed under keys derived
//! from the passphrase with Argon2id (as age seals a file key under a scrypt-derived key).
//! Documents and bundles stay as they are: see `spec/security.md` for what a stolen
//! laptop reveals with and without a passphrase.
//!
//! Sealed identity file (`spec/store.md`):
//!
//! ```text
//! magic "CVNKEY" 0x00 0x01 | m_cost KiB (le32) | t_cost (le32) | p_cost (le32) | salt (16)
//! | nonce (24) | XChaCha20-Poly1305(identity secret, 64 bytes) + tag (16)
//! ```
//!
//! The header (everything before the nonce) is the associated data. From the Argon2id
//! output `M`: the identity file key is `derive_key("caravan 2026-11 key file v1", M)`, the
//! store key `derive_key("caravan 2026-11 key store v1", M)`. A sealed store value is
//! `0xff | nonce (24) | ciphertext`, with the table key as associated data.

use std::io::Read;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::crypto;

/// First bytes of a sealed identity file.
pub const MAGIC: &[u8; 8] = b"CVNKEY\x00\x01";

/// Context for the identity file key.
pub const CONTEXT_KEY_FILE: &str = "caravan 2026-11 key file v1";
/// Context for the store key (community and audience keys).
pub const CONTEXT_KEY_STORE: &str = "caravan 2026-11 key store v1";

/// Marks a sealed value in the store (no plain value starts with it: plain grants are CBOR
/// maps).
const SEALED_VALUE: u8 = 0xff;

const HEADER_BYTES: usize = 8 + 12 + 16;
const SECRET_BYTES: usize = 64;
const FILE_BYTES: usize = HEADER_BYTES + 24 + SECRET_BYTES + 16;

/// Argon2id cost: memory in KiB, passes, lanes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    /// Memory, KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

/// The default cost: 64 MiB and 3 passes, about a quarter of a second on an old laptop.
pub const COST_DEFAULT: Cost = Cost { m_kib: 64 * 1024, t: 3, p: 1 };

/// The most a sealed file may ask for: reading a damaged or planted file must not take
/// the machine's memory.
pub const COST_MAX: Cost = Cost {
    m_kib: crate::limits::KEY_FILE_MEMORY_KIB_MAX,
    t: crate::limits::KEY_FILE_PASSES_MAX,
    p: crate::limits::KEY_FILE_LANES_MAX,
};

/// Why sealed keys could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeystoreError {
    /// The passphrase does not open the file (or the file was changed).
    #[error("the passphrase does not open {0}")]
    WrongPassphrase(String),
    /// The file is not a sealed identity this code reads.
    #[error("{path} is damaged: {reason}")]
    Malformed {
        /// The file.
        path: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A store value is sealed and no passphrase was given.
    #[error("this node's keys are sealed under a passphrase")]
    Locked,
    /// The passphrase could not be read.
    #[error("passphrase: {0}")]
    Passphrase(String),
}

/// Whether identity file bytes are sealed under a passphrase.
pub fn is_sealed(file: &[u8]) -> bool {
    file.starts_with(MAGIC)
}

fn master(passphrase: &str, salt: &[u8; 16], cost: Cost) -> Result<Zeroizing<[u8; 32]>, KeystoreError> {
    let params = argon2::Params::new(cost.m_kib, cost.t, cost.p, Some(32))
        .map_err(|e| KeystoreError::Passphrase(format!("key derivation: {e}")))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(passphrase.as_bytes(), salt, out.as_mut())
        .map_err(|e| KeystoreError::Passphrase(format!("key derivation: {e}")))?;
    Ok(out)
}

/// Seals a 64-byte identity secret under `passphrase`: the bytes of a sealed identity
/// file, and the store key that goes with it.
pub fn seal_identity(
    secret: &[u8; 64],
    passphrase: &str,
    cost: Cost,
) -> Result<(Vec<u8>, Zeroizing<[u8; 32]>), KeystoreError> {
    let mut salt = [0u8; 16];
    crypto::fill_random(&mut salt);
    let mut header = Vec::with_capacity(FILE_BYTES);
    header.extend_from_slice(MAGIC);
    for v in [cost.m_kib, cost.t, cost.p] {
        header.extend_from_slice(&v.to_le_bytes());
    }
    header.extend_from_slice(&salt);
    let m = master(passphrase, &salt, cost)?;
    let file_key = Zeroizing::new(crypto::derive(CONTEXT_KEY_FILE, &[m.as_ref()]));
    let store_key = Zeroizing::new(crypto::derive(CONTEXT_KEY_STORE, &[m.as_ref()]));
    let sealed = crypto::seal(&file_key, &header, secret);
    let mut file = header;
    file.extend_from_slice(&sealed);
    Ok((file, store_key))
}

/// An identity secret and its store key, wiped from memory when dropped.
pub type Opened = (Zeroizing<[u8; 64]>, Zeroizing<[u8; 32]>);

/// Opens a sealed identity file: the identity secret and the store key.
pub fn open_identity(file: &[u8], passphrase: &str, path: &Path) -> Result<Opened, KeystoreError> {
    let bad = |reason| KeystoreError::Malformed { path: path.display().to_string(), reason };
    if !is_sealed(file) {
        return Err(bad("not a sealed identity"));
    }
    if file.len() != FILE_BYTES {
        return Err(bad("wrong length"));
    }
    let word = |i: usize| u32::from_le_bytes(file[8 + 4 * i..12 + 4 * i].try_into().expect("4 bytes"));
    let cost = Cost { m_kib: word(0), t: word(1), p: word(2) };
    if cost.m_kib > COST_MAX.m_kib || cost.t > COST_MAX.t || cost.p > COST_MAX.p || cost.t == 0 || cost.p == 0 {
        return Err(bad("key derivation cost out of range"));
    }
    let salt: [u8; 16] = file[20..36].try_into().expect("16 bytes");
    let m = master(passphrase, &salt, cost)?;
    let file_key = Zeroizing::new(crypto::derive(CONTEXT_KEY_FILE, &[m.as_ref()]));
    let plain = Zeroizing::new(
        crypto::open(&file_key, &file[..HEADER_BYTES], &file[HEADER_BYTES..])
            .map_err(|_| KeystoreError::WrongPassphrase(path.display().to_string()))?,
    );
    let secret: [u8; 64] = plain.as_slice().try_into().map_err(|_| bad("wrong secret length"))?;
    Ok((Zeroizing::new(secret), Zeroizing::new(crypto::derive(CONTEXT_KEY_STORE, &[m.as_ref()]))))
}

/// Seals a store value (a grant: it holds a key) under the store key, bound to its table
/// key.
pub fn seal_value(store_key: &[u8; 32], table_key: &[u8], value: &[u8]) -> Vec<u8> {
    let mut out = vec![SEALED_VALUE];
    out.extend(crypto::seal(store_key, table_key, value));
    out
}

/// Opens a store value: sealed ones with the store key, plain ones as they are.
pub fn open_value(store_key: Option<&[u8; 32]>, table_key: &[u8], value: &[u8]) -> Result<Vec<u8>, KeystoreError> {
    match value.split_first() {
        Some((&SEALED_VALUE, sealed)) => {
            let key = store_key.ok_or(KeystoreError::Locked)?;
            crypto::open(key, table_key, sealed).map_err(|_| KeystoreError::WrongPassphrase("the store".into()))
        }
        _ => Ok(value.to_vec()),
    }
}

/// The passphrase given to a process without a terminal: the file named by
/// `CARAVAN_PASSPHRASE_FILE`, or the systemd credential `caravan-passphrase`
/// (`$CREDENTIALS_DIRECTORY/caravan-passphrase`, `LoadCredential=` in a unit). `None` if
/// neither is set. One trailing newline is not part of it.
pub fn passphrase_from_environment() -> Result<Option<Zeroizing<String>>, KeystoreError> {
    let path = match std::env::var_os("CARAVAN_PASSPHRASE_FILE") {
        Some(p) => PathBuf::from(p),
        None => match std::env::var_os("CREDENTIALS_DIRECTORY") {
            Some(dir) if Path::new(&dir).join("caravan-passphrase").exists() => {
                Path::new(&dir).join("caravan-passphrase")
            }
            _ => return Ok(None),
        },
    };
    read_passphrase_file(&path).map(Some)
}

/// Reads a passphrase file (at most 4 KiB; one trailing newline dropped).
pub fn read_passphrase_file(path: &Path) -> Result<Zeroizing<String>, KeystoreError> {
    let fail = |e: String| KeystoreError::Passphrase(format!("{}: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    let mut bytes = Zeroizing::new(Vec::new());
    file.take(4097).read_to_end(&mut bytes).map_err(|e| fail(e.to_string()))?;
    if bytes.len() > 4096 {
        return Err(fail("longer than 4 KiB".into()));
    }
    let mut text = Zeroizing::new(String::from_utf8(bytes.to_vec()).map_err(|_| fail("not UTF-8".into()))?);
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    if text.is_empty() {
        return Err(fail("empty".into()));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: Cost = Cost { m_kib: 64, t: 1, p: 1 };

    #[test]
    fn an_identity_opens_with_its_passphrase_only() {
        let secret = [7u8; 64];
        let (file, store) = seal_identity(&secret, "correct horse", CHEAP).unwrap();
        assert!(is_sealed(&file));
        assert!(!file.windows(64).any(|w| w == secret), "the secret is in the clear");
        let p = Path::new("identity.key");
        let (back, store2) = open_identity(&file, "correct horse", p).unwrap();
        assert_eq!(*back, secret);
        assert_eq!(*store, *store2);
        assert!(matches!(open_identity(&file, "wrong", p), Err(KeystoreError::WrongPassphrase(_))));
        // Every byte is covered: a changed cost, salt or ciphertext is refused.
        for i in 0..file.len() {
            let mut bad = file.clone();
            bad[i] ^= 1;
            assert!(open_identity(&bad, "correct horse", p).is_err(), "byte {i}");
        }
        // A planted file asking for absurd memory is refused before any work.
        let mut greedy = file.clone();
        greedy[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(open_identity(&greedy, "correct horse", p), Err(KeystoreError::Malformed { .. })));
    }

    #[test]
    fn store_values_are_sealed_to_their_key_and_table_key() {
        let key = [3u8; 32];
        let v = seal_value(&key, b"c/x#0", b"grant bytes");
        assert!(!v.windows(5).any(|w| w == b"grant"));
        assert_eq!(open_value(Some(&key), b"c/x#0", &v).unwrap(), b"grant bytes");
        assert!(open_value(Some(&key), b"c/y#0", &v).is_err(), "moved to another row");
        assert!(matches!(open_value(None, b"c/x#0", &v), Err(KeystoreError::Locked)));
        assert_eq!(open_value(None, b"k", b"\xa6plain").unwrap(), b"\xa6plain");
    }
}
