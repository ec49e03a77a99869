//! Sealing and opening change batches: sign inside, then encrypt (or not, for public
//! documents). The node and the benchmarks use exactly these two functions.

use crate::crypto::{self, SymmetricKey, CONTEXT_BATCH_SIGNATURE};
use crate::envelope::{self, Batch, Header};
use crate::error::Rejection;
use crate::identity::Identity;

/// Signs `batch` as `author` and, with a key, encrypts it. Returns the header bytes and
/// the body, ready for [`envelope::encode_envelope`].
pub fn seal(author: &Identity, header: &Header, batch: &Batch, key: Option<&SymmetricKey>) -> (Vec<u8>, Vec<u8>) {
    let header_bytes = header.encode();
    let inner = batch.encode();
    let signature = author.sign(CONTEXT_BATCH_SIGNATURE, &[&header_bytes, &inner]);
    let signed = envelope::encode_signed(&inner, &signature);
    let body = match key {
        None => signed,
        Some(k) => crypto::seal(k, &header_bytes, &signed),
    };
    (header_bytes, body)
}

/// Decrypts (with a key) and decodes a batch body, and verifies its author's signature
/// over the header and the batch. Does not check membership or actors.
pub fn open(header_bytes: &[u8], body: &[u8], key: Option<&SymmetricKey>) -> Result<Batch, Rejection> {
    let plain;
    let signed = match key {
        None => body,
        Some(k) => {
            plain = crypto::open(k, header_bytes, body).map_err(Rejection::Decrypt)?;
            &plain[..]
        }
    };
    let (inner, signature) = envelope::decode_signed(signed)?;
    let batch = Batch::decode(&inner)?;
    crypto::verify(&batch.author, CONTEXT_BATCH_SIGNATURE, &[header_bytes, &inner], &signature)
        .map_err(|_| Rejection::Signature)?;
    Ok(batch)
}
