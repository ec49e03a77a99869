//! Release lists: the BPv7 administrative record in which an author shows the release
//! secrets of its bundles every destination now holds (`spec/custody.md`, "Forgetting"),
//! so that every holder of a copy (a member, a carrier that cannot open it) drops it.
//! Unsigned: a secret is its own proof (its hash is in the cloak, `crate::cloak`).

use super::signal::AdminRecordWire;
use super::*;
use crate::limits::RELEASES_MAX;

/// BPv7 administrative record type code of a release list (private use).
pub const RELEASE_LIST_RECORD_TYPE: u64 = 203;

/// Encodes a release list: `[203, bstr(secret ‖ secret ‖ ...)]`, secrets sorted.
pub fn encode_release_record(secrets: &[[u8; 32]]) -> Vec<u8> {
    let mut sorted = secrets.to_vec();
    sorted.sort();
    sorted.dedup();
    let content = sorted.concat();
    encode(&AdminRecordWire(RELEASE_LIST_RECORD_TYPE, Bytes::new(&content)))
}

/// Decodes a release list: size-capped, at most `RELEASES_MAX` secrets, sorted and
/// distinct, canonical form only.
pub fn decode_release_record(payload: &[u8]) -> Result<Vec<[u8; 32]>, EnvelopeError> {
    let max = 16 + RELEASES_MAX * 32;
    let w: AdminRecordWire = decode_borrowed("release list", payload, max)?;
    if w.0 != RELEASE_LIST_RECORD_TYPE {
        return Err(EnvelopeError::Field("administrative record type"));
    }
    if encode(&w) != payload {
        return Err(EnvelopeError::NonCanonical);
    }
    let content: &[u8] = w.1;
    if content.is_empty() || !content.len().is_multiple_of(32) || content.len() / 32 > RELEASES_MAX {
        return Err(EnvelopeError::Field("release list length"));
    }
    let secrets: Vec<[u8; 32]> = content.chunks_exact(32).filter_map(|c| c.try_into().ok()).collect();
    if !secrets.windows(2).all(|w| w[0] < w[1]) {
        return Err(EnvelopeError::NonCanonical);
    }
    Ok(secrets)
}

/// The type code of an administrative record, if the payload is one (cheap: the first
/// bytes only).
pub fn admin_record_type(payload: &[u8]) -> Option<u64> {
    // `[type, bstr]`: an array of two (0x82), then the type as a CBOR unsigned integer.
    match payload {
        [0x82, t @ 0..=0x17, ..] => Some(u64::from(*t)),
        [0x82, 0x18, t, ..] => Some(u64::from(*t)),
        [0x82, 0x19, a, b, ..] => Some(u64::from(u16::from_be_bytes([*a, *b]))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_lists_round_trip_in_one_spelling() {
        let payload = encode_release_record(&[[9; 32], [1; 32], [9; 32]]);
        assert_eq!(admin_record_type(&payload), Some(RELEASE_LIST_RECORD_TYPE));
        assert_eq!(decode_release_record(&payload).unwrap(), vec![[1; 32], [9; 32]]);
        // Unsorted, empty, ragged or of another type: refused.
        let unsorted = encode(&AdminRecordWire(RELEASE_LIST_RECORD_TYPE, Bytes::new(&[[9u8; 32], [1; 32]].concat())));
        assert_eq!(decode_release_record(&unsorted), Err(EnvelopeError::NonCanonical));
        let empty = encode(&AdminRecordWire(RELEASE_LIST_RECORD_TYPE, Bytes::new(&[])));
        assert!(decode_release_record(&empty).is_err());
        let ragged = encode(&AdminRecordWire(RELEASE_LIST_RECORD_TYPE, Bytes::new(&[1; 33])));
        assert!(decode_release_record(&ragged).is_err());
        let signal = encode(&AdminRecordWire(202, Bytes::new(&[1; 32])));
        assert_eq!(decode_release_record(&signal), Err(EnvelopeError::Field("administrative record type")));
        let huge = encode(&AdminRecordWire(RELEASE_LIST_RECORD_TYPE, Bytes::new(&vec![0; 32 * (RELEASES_MAX + 1)])));
        assert!(decode_release_record(&huge).is_err());
    }
}
