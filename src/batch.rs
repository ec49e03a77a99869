//! Change batches: how their changes are encoded, and how they are sealed (signed inside,
//! then encrypted unless public) and opened. The node and the benchmarks use exactly
//! these functions.

use std::io::{Read, Write};

use automerge::{AutoCommit, Change};

use crate::change_scan;
use crate::crypto::{self, CONTEXT_BATCH_SIGNATURE, SymmetricKey};
use crate::envelope::{self, Batch, ChangeEncoding, Header};
use crate::error::Rejection;
use crate::identity::Identity;
use crate::limits::{AUTOMERGE_BUNDLE_BYTES_MAX, BATCH_BYTES_MAX, BATCH_CHANGES_MAX, BATCH_OPS_MAX, BATCH_SPLIT_BYTES};

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

/// Encodes changes as compactly as possible: Automerge's `bundle()` (its columns
/// written uncompressed, since readers refuse compressed columns, then DEFLATE over the
/// whole) when the bundle round-trips to exactly these changes and passes the same scan
/// readers run, else raw changes. The caller keeps batches within the caps
/// ([`split_for_batches`]).
pub fn encode_changes(doc: &mut AutoCommit, changes: &[Change]) -> (ChangeEncoding, Vec<u8>) {
    let raw_list: Vec<&[u8]> = changes.iter().map(|c| c.raw_bytes()).collect();
    let raw = envelope::encode_raw_changes(&raw_list);
    if changes.len() < 2 {
        return (ChangeEncoding::Raw, raw);
    }
    let compact = doc
        .bundle(changes.iter().map(|c| c.hash()))
        .ok()
        .and_then(|b| change_scan::inflate_bundle(b.bytes(), AUTOMERGE_BUNDLE_BYTES_MAX).ok());
    if let Some(bytes) = compact {
        let round_trips = change_scan::scan_bundle(&bytes).is_ok()
            && unbundle(&bytes).is_ok_and(|back| {
                back.len() == changes.len() && back.iter().zip(changes).all(|(a, b)| a.hash() == b.hash())
            });
        if round_trips && bytes.len() <= AUTOMERGE_BUNDLE_BYTES_MAX {
            let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
            let deflated = z.write_all(&bytes).and_then(|_| z.finish()).expect("deflate into memory");
            if deflated.len() < raw.len().min(bytes.len()) {
                return (ChangeEncoding::DeflatedAutomergeBundle, deflated);
            }
            if bytes.len() < raw.len() {
                return (ChangeEncoding::AutomergeBundle, bytes);
            }
        }
    }
    (ChangeEncoding::Raw, raw)
}

/// Splits changes (in causal order) into runs that each fit one batch: at most
/// [`BATCH_OPS_MAX`] ops, half of [`BATCH_CHANGES_MAX`] changes and [`BATCH_SPLIT_BYTES`]
/// bytes, so that no reader refuses a batch for its size or spends more than about a
/// second on it. (A single change over the cap cannot be split; local edits never make
/// one.)
pub fn split_for_batches(changes: &[Change]) -> Vec<&[Change]> {
    let mut out = Vec::new();
    let (mut start, mut ops, mut bytes) = (0usize, 0u64, 0usize);
    for (i, c) in changes.iter().enumerate() {
        let (o, b) = (c.len() as u64, c.raw_bytes().len());
        let full = ops + o > BATCH_OPS_MAX || i - start >= BATCH_CHANGES_MAX / 2 || bytes + b > BATCH_SPLIT_BYTES;
        if i > start && full {
            out.push(&changes[start..i]);
            (start, ops, bytes) = (i, 0, 0);
        }
        ops += o;
        bytes += b;
    }
    if start < changes.len() || out.is_empty() {
        out.push(&changes[start..]);
    }
    out
}

/// Decodes a batch's changes, bounding every size on the way: every Automerge byte is
/// scanned ([`change_scan`]) before Automerge sees it, so compressed data, and more ops
/// or changes than the caps, are refused first.
pub fn decode_changes(batch: &Batch) -> Result<Vec<Change>, Rejection> {
    let changes = match batch.encoding {
        ChangeEncoding::Raw => {
            let list = envelope::raw_changes(&batch.changes)?;
            let total: usize = list.iter().map(|c| c.len()).sum();
            if total > BATCH_BYTES_MAX {
                return Err(Rejection::Changes("batch too large".into()));
            }
            change_scan::scan_changes(list.iter().copied())?;
            list.into_iter()
                .map(|b| Change::try_from(b).map_err(|e| Rejection::Changes(e.to_string())))
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

/// Decodes an (uncompressed-column) Automerge bundle after scanning it. Automerge can
/// still panic on a bundle whose op ids disagree with its changes: that refuses it.
fn unbundle(bytes: &[u8]) -> Result<Vec<Change>, Rejection> {
    if bytes.len() > AUTOMERGE_BUNDLE_BYTES_MAX {
        return Err(Rejection::Changes("compact batch too large".into()));
    }
    change_scan::scan_bundle(bytes)?;
    let decoded = std::panic::catch_unwind(|| {
        automerge::Bundle::try_from(bytes)
            .map_err(|e| Rejection::Changes(e.to_string()))?
            .to_changes()
            .map_err(|e| Rejection::Changes(e.to_string()))
    });
    decoded.unwrap_or(Err(Rejection::DecoderFailed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch_with(encoding: ChangeEncoding, changes: Vec<u8>) -> Batch {
        Batch { authority: vec![], author: [0; 32], genesis: None, chain: vec![], encoding, changes }
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
