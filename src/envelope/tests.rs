use super::*;

#[test]
fn envelope_round_trip_and_caps() {
    let header = Header {
        kind: Kind::Batch,
        author: NodeId([9; 20]),
        seq: 7,
        doc: "c/abc/wiki".into(),
        epoch: 3,
        heads: vec![[7u8; 32]],
        encrypted: true,
    };
    let hb = header.encode();
    let encoded = encode_envelope(&hb, b"body");
    let env = decode_envelope(&encoded).unwrap();
    assert_eq!(env.header, header);
    assert_eq!(env.header_bytes, hb);
    assert_eq!(env.body, b"body");

    let too_many = Header { heads: vec![[1u8; 32]; HEADS_COUNT_MAX + 1], ..header };
    let bytes = encode_envelope(&too_many.encode(), b"");
    assert_eq!(decode_envelope(&bytes).unwrap_err(), EnvelopeError::Field("header heads count"));
    assert!(matches!(decode_envelope(b"\xff\x00garbage"), Err(EnvelopeError::Cbor { .. })));
}

#[test]
fn another_spelling_of_the_same_envelope_is_refused() {
    let header = Header {
        kind: Kind::Batch,
        author: NodeId([9; 20]),
        seq: 1,
        doc: "c/abc/wiki".into(),
        epoch: 0,
        heads: vec![],
        encrypted: false,
    };
    let encoded = encode_envelope(&header.encode(), b"body");
    // "v": 2 as a one-byte integer, respelled with a long-form length (0x18 0x02):
    // the same value, the checksum still matches, the bytes differ.
    let at = encoded.windows(3).position(|w| w == [0x61, b'v', ENVELOPE_VERSION]).unwrap();
    let mut respelled = encoded.clone();
    respelled.splice(at + 2..at + 3, [0x18, ENVELOPE_VERSION]);
    assert_eq!(decode_envelope(&respelled).unwrap_err(), EnvelopeError::NonCanonical);
    // Trailing bytes are not part of the envelope either.
    let mut longer = encoded.clone();
    longer.push(0);
    assert!(decode_envelope(&longer).is_err());
    assert!(decode_envelope(&encoded).is_ok());
}

/// Signed structures have one spelling: an unknown field, padding, or another
/// encoding of the same value is refused before anything is verified.
#[test]
fn signed_structures_with_unknown_fields_or_padding_are_refused() {
    #[derive(Serialize)]
    struct Padded<'a> {
        k: u8,
        a: ByteBuf,
        q: u64,
        d: &'a str,
        e: u32,
        s: Vec<ByteBuf>,
        x: bool,
        z: ByteBuf,
    }
    let padded = encode(&Padded {
        k: 0,
        a: ByteBuf::from(vec![9; 20]),
        q: 1,
        d: "c/abc/wiki",
        e: 0,
        s: vec![],
        x: false,
        z: ByteBuf::from(vec![0; 1000]),
    });
    assert!(Header::decode(&padded).is_err());
    let header = Header {
        kind: Kind::Batch,
        author: NodeId([9; 20]),
        seq: 1,
        doc: "d".into(),
        epoch: 0,
        heads: vec![],
        encrypted: false,
    };
    let good = header.encode();
    assert_eq!(Header::decode(&good).unwrap(), header);
    // The same header with its fields in another order.
    #[derive(Serialize)]
    struct Reordered<'a> {
        a: ByteBuf,
        k: u8,
        q: u64,
        d: &'a str,
        e: u32,
        s: Vec<ByteBuf>,
        x: bool,
    }
    let reordered = encode(&Reordered { a: ByteBuf::from(vec![9; 20]), k: 0, q: 1, d: "d", e: 0, s: vec![], x: false });
    assert_eq!(Header::decode(&reordered), Err(EnvelopeError::NonCanonical));
    // A batch with an extra field, and a signed wrapper with one.
    let batch = Batch {
        authority: vec![],
        author: [1; 32],
        genesis: None,
        chain: vec![],
        encoding: ChangeEncoding::Raw,
        changes: vec![0x80],
    };
    assert!(batch.is_announcement());
    let mut bytes = batch.encode();
    assert!(Batch::decode(&bytes).is_ok());
    bytes[0] += 1; // one more map entry claimed...
    bytes.extend_from_slice(&[0x61, b'z', 0x00]); // ...and given
    assert!(Batch::decode(&bytes).is_err());
    let signed = encode_signed(b"inner", &[3; 64]);
    assert!(decode_signed(&signed).is_ok());
    let mut longer = signed.clone();
    longer[0] += 1;
    longer.extend_from_slice(&[0x61, b'z', 0x00]);
    assert!(decode_signed(&longer).is_err());
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    // 10,000 nested arrays: the decoder's depth limit must refuse it.
    let mut bytes = vec![0x81u8; 10_000];
    bytes.push(0x00);
    assert!(decode_envelope(&bytes).is_err());
    assert!(decode_raw_changes(&bytes).is_err());
}
