//! Custody signals: the BPv7 administrative record that carries them, and its checks.

use super::*;

/// BPv7 administrative record type code of a Caravan custody signal (a private-use code;
/// see `spec/custody.md` for the mapping to the custody transfer drafts).
pub const CUSTODY_SIGNAL_RECORD_TYPE: u64 = 202;

/// Custody signal format version written by this code.
pub const SIGNAL_VERSION: u8 = 1;

/// RFC 9171 section 6.1: an administrative record is `[type code, content]`.
#[derive(Serialize, Deserialize)]
pub(super) struct AdminRecordWire<'a>(pub(super) u64, #[serde(borrow)] pub(super) &'a Bytes);

/// One entry: `[disposition, source node id, [lo, hi, lo, hi, ...]]`.
#[derive(Serialize, Deserialize)]
pub(super) struct EntryWire(u8, ByteBuf, Vec<u64>);

#[derive(Serialize, Deserialize)]
pub(super) struct SignalWire {
    v: u8,
    k: ByteBuf,
    e: Vec<EntryWire>,
}

/// A decoded custody signal record, not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalRecord<'a> {
    /// The signed bytes.
    pub inner: &'a [u8],
    /// Ed25519 signature over `inner`.
    pub signature: [u8; 64],
    /// Ed25519 key of the signer (the node that answers).
    pub signer: [u8; 32],
    /// The answers.
    pub signal: Signal,
}

/// Encodes the signed inside of a custody signal.
pub fn encode_signal(signer: &[u8; 32], signal: &Signal) -> Vec<u8> {
    encode(&SignalWire {
        v: SIGNAL_VERSION,
        k: ByteBuf::from(signer.to_vec()),
        e: signal
            .entries
            .iter()
            .map(|e| {
                EntryWire(
                    e.disposition.code(),
                    ByteBuf::from(e.source.0.to_vec()),
                    e.ranges.iter().flat_map(|&(lo, hi)| [lo, hi]).collect(),
                )
            })
            .collect(),
    })
}

/// Wraps a signed custody signal as an administrative record (the bundle payload).
pub fn encode_signal_record(inner: &[u8], signature: &[u8; 64]) -> Vec<u8> {
    let content = encode_signed(inner, signature);
    encode(&AdminRecordWire(CUSTODY_SIGNAL_RECORD_TYPE, Bytes::new(&content)))
}

/// Decodes an administrative-record payload holding a custody signal: size-capped,
/// counts checked, ranges sorted and disjoint, canonical form only. The signature is
/// checked by the caller.
pub fn decode_signal_record(payload: &[u8]) -> Result<SignalRecord<'_>, EnvelopeError> {
    let w: AdminRecordWire = decode_borrowed("administrative record", payload, SIGNAL_BYTES_MAX)?;
    if w.0 != CUSTODY_SIGNAL_RECORD_TYPE {
        return Err(EnvelopeError::Field("administrative record type"));
    }
    if encode(&w) != payload {
        return Err(EnvelopeError::NonCanonical);
    }
    let (inner, signature) = decode_signed(w.1)?;
    let sw: SignalWire = decode_canonical("custody signal", inner, SIGNAL_BYTES_MAX)?;
    if sw.v != SIGNAL_VERSION {
        return Err(EnvelopeError::Version(sw.v));
    }
    if sw.e.len() > SIGNAL_ENTRIES_MAX {
        return Err(EnvelopeError::Field("custody signal entry count"));
    }
    let mut ranges_total = 0usize;
    let mut entries = Vec::with_capacity(sw.e.len());
    for EntryWire(code, source, flat) in &sw.e {
        let disposition = Disposition::from_code(*code).ok_or(EnvelopeError::Field("custody disposition"))?;
        let source = NodeId(fixed(source, "custody signal source")?);
        if flat.len() % 2 != 0 {
            return Err(EnvelopeError::Field("custody signal ranges"));
        }
        ranges_total += flat.len() / 2;
        if ranges_total > SIGNAL_RANGES_MAX {
            return Err(EnvelopeError::Field("custody signal range count"));
        }
        let ranges: Vec<(u64, u64)> = flat.chunks_exact(2).map(|p| (p[0], p[1])).collect();
        // Sorted, each well-formed, disjoint and not adjacent: the one way to write a set.
        let ordered = ranges.iter().all(|(lo, hi)| lo <= hi)
            && ranges.windows(2).all(|w| w[0].1.checked_add(1).is_some_and(|next| next < w[1].0));
        if ranges.is_empty() || !ordered {
            return Err(EnvelopeError::Field("custody signal ranges"));
        }
        entries.push(SignalEntry { disposition, source, ranges });
    }
    if encode_signal(&fixed(&sw.k, "custody signal signer")?, &Signal { entries: entries.clone() }) != inner {
        return Err(EnvelopeError::NonCanonical);
    }
    Ok(SignalRecord { inner, signature, signer: fixed(&sw.k, "custody signal signer")?, signal: Signal { entries } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custody_signal_round_trip_and_checks() {
        use crate::custody::BundleId;
        let src = NodeId([7; 20]);
        let signal = Signal::aggregate([
            (Disposition::Accepted, BundleId { source: src, seq: 1 }),
            (Disposition::Accepted, BundleId { source: src, seq: 2 }),
            (Disposition::NoSpace, BundleId { source: src, seq: 9 }),
        ]);
        let inner = encode_signal(&[3; 32], &signal);
        let payload = encode_signal_record(&inner, &[5; 64]);
        let rec = decode_signal_record(&payload).unwrap();
        assert_eq!((rec.signal, rec.signer, rec.signature, rec.inner), (signal, [3; 32], [5; 64], &inner[..]));
        // Overlapping or unsorted ranges are not a canonical set.
        let bad = encode(&SignalWire {
            v: SIGNAL_VERSION,
            k: ByteBuf::from(vec![3; 32]),
            e: vec![EntryWire(0, ByteBuf::from(vec![7; 20]), vec![5, 9, 9, 12])],
        });
        let payload = encode_signal_record(&bad, &[5; 64]);
        assert_eq!(decode_signal_record(&payload), Err(EnvelopeError::Field("custody signal ranges")));
        let other = encode(&AdminRecordWire(1, Bytes::new(b"x")));
        assert_eq!(decode_signal_record(&other), Err(EnvelopeError::Field("administrative record type")));
        assert!(matches!(decode_signal_record(&vec![0u8; SIGNAL_BYTES_MAX + 1]), Err(EnvelopeError::TooLarge { .. })));
    }
}
