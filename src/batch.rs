//! Change batches: how their changes are encoded, and how they are sealed (signed inside,
//! then encrypted unless public) and opened. The node and the benchmarks use exactly
//! these functions.

use std::io::{Read, Write};

use automerge::{AutoCommit, Change};

use crate::crypto::{self, CONTEXT_BATCH_SIGNATURE, SymmetricKey};
use crate::envelope::{self, Batch, ChangeEncoding, Header};
use crate::error::Rejection;
use crate::identity::Identity;
use crate::limits::{AUTOMERGE_BUNDLE_BYTES_MAX, BATCH_BYTES_MAX, BATCH_CHANGES_MAX};

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
    let batch = Batch::decode(inner)?;
    crypto::verify(&batch.author, CONTEXT_BATCH_SIGNATURE, &[header_bytes, inner], &signature)
        .map_err(|_| Rejection::Signature)?;
    Ok(batch)
}

/// Encodes changes as compactly as possible: Automerge's `bundle()` (then DEFLATE over
/// it) when the bundle round-trips to exactly these changes, else raw changes.
pub fn encode_changes(doc: &mut AutoCommit, changes: &[Change]) -> (ChangeEncoding, Vec<u8>) {
    let raw_list: Vec<&[u8]> = changes.iter().map(|c| c.raw_bytes()).collect();
    let raw = envelope::encode_raw_changes(&raw_list);
    if changes.len() < 2 {
        return (ChangeEncoding::Raw, raw);
    }
    let compact = doc.bundle(changes.iter().map(|c| c.hash())).ok().map(|b| b.bytes().to_vec());
    if let Some(bytes) = compact {
        let round_trips =
            automerge::Bundle::try_from(bytes.as_slice()).ok().and_then(|b| b.to_changes().ok()).is_some_and(|back| {
                back.len() == changes.len() && back.iter().zip(changes).all(|(a, b)| a.hash() == b.hash())
            });
        if round_trips && bytes.len() < raw.len() && bytes.len() <= AUTOMERGE_BUNDLE_BYTES_MAX {
            let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
            let deflated = z.write_all(&bytes).and_then(|_| z.finish()).expect("deflate into memory");
            if deflated.len() < bytes.len() {
                return (ChangeEncoding::DeflatedAutomergeBundle, deflated);
            }
            return (ChangeEncoding::AutomergeBundle, bytes);
        }
    }
    (ChangeEncoding::Raw, raw)
}

/// Decodes a batch's changes, bounding every size on the way.
pub fn decode_changes(batch: &Batch) -> Result<Vec<Change>, Rejection> {
    let changes = match batch.encoding {
        ChangeEncoding::Raw => {
            let list = envelope::decode_raw_changes(&batch.changes)?;
            let total: usize = list.iter().map(Vec::len).sum();
            if total > BATCH_BYTES_MAX {
                return Err(Rejection::Changes("batch too large".into()));
            }
            list.into_iter()
                .map(|b| {
                    check_chunk(&b)?;
                    Change::from_bytes(b).map_err(|e| Rejection::Changes(e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?
        }
        ChangeEncoding::AutomergeBundle => unbundle(&batch.changes)?,
        ChangeEncoding::DeflatedAutomergeBundle => {
            // Inflate at most one byte past the cap, so a bomb is refused, not expanded.
            let mut bytes = Vec::new();
            flate2::read::DeflateDecoder::new(batch.changes.as_slice())
                .take(AUTOMERGE_BUNDLE_BYTES_MAX as u64 + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| Rejection::Changes(format!("deflate: {e}")))?;
            unbundle(&bytes)?
        }
    };
    if changes.len() > BATCH_CHANGES_MAX {
        return Err(Rejection::Changes(format!("more than {BATCH_CHANGES_MAX} changes")));
    }
    Ok(changes)
}

/// Automerge's magic bytes at the start of every chunk.
const CHUNK_MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];

/// A raw change must be a plain change chunk (type 1): Automerge inflates a compressed
/// one (type 2) with no bound, so it is refused before Automerge sees it.
fn check_chunk(bytes: &[u8]) -> Result<(), Rejection> {
    match (bytes.get(..4), bytes.get(8)) {
        (Some(m), Some(1)) if m == CHUNK_MAGIC => Ok(()),
        (Some(m), Some(2)) if m == CHUNK_MAGIC => {
            Err(Rejection::Changes("a compressed change chunk (refused: it would be inflated without a bound)".into()))
        }
        _ => Err(Rejection::Changes("not an Automerge change chunk".into())),
    }
}

fn unbundle(bytes: &[u8]) -> Result<Vec<Change>, Rejection> {
    if bytes.len() > AUTOMERGE_BUNDLE_BYTES_MAX {
        return Err(Rejection::Changes("compact batch too large".into()));
    }
    automerge::Bundle::try_from(bytes)
        .map_err(|e| Rejection::Changes(e.to_string()))?
        .to_changes()
        .map_err(|e| Rejection::Changes(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch_with(encoding: ChangeEncoding, changes: Vec<u8>) -> Batch {
        Batch { author: [0; 32], genesis: None, chain: vec![], encoding, changes }
    }

    #[test]
    fn compact_encodings_round_trip_and_bombs_are_refused() {
        use automerge::transaction::Transactable;
        let mut doc = AutoCommit::new();
        for i in 0..200 {
            doc.put(automerge::ROOT, format!("k{i}"), i as i64).unwrap();
            doc.commit();
        }
        let changes = doc.get_changes(&[]);
        let (encoding, bytes) = encode_changes(&mut doc, &changes);
        assert_eq!(encoding, ChangeEncoding::DeflatedAutomergeBundle);
        let raw: usize = changes.iter().map(|c| c.raw_bytes().len()).sum();
        assert!(bytes.len() * 5 < raw, "{} vs {raw}", bytes.len());
        let back = decode_changes(&batch_with(encoding, bytes)).unwrap();
        assert_eq!(
            back.iter().map(|c| c.hash()).collect::<Vec<_>>(),
            changes.iter().map(|c| c.hash()).collect::<Vec<_>>()
        );

        // 8 MiB of zeros deflates to a few KiB; inflating stops at the 1 MiB cap.
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        for _ in 0..8 {
            z.write_all(&vec![0u8; 1 << 20]).unwrap();
        }
        let bomb = z.finish().unwrap();
        assert!(bomb.len() < 128 * 1024);
        let err = decode_changes(&batch_with(ChangeEncoding::DeflatedAutomergeBundle, bomb)).unwrap_err();
        assert!(matches!(err, Rejection::Changes(_)), "{err:?}");
        // Garbage in each encoding is an error, not a panic.
        for enc in [ChangeEncoding::Raw, ChangeEncoding::AutomergeBundle, ChangeEncoding::DeflatedAutomergeBundle] {
            assert!(decode_changes(&batch_with(enc, vec![0x85, 0x6f, 0x4a, 0x83, 1, 2, 3])).is_err());
        }
    }
}
