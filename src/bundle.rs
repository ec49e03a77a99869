//! BPv7 (RFC 9171) bundles: the only module that touches `hardy-bpv7`.
//!
//! Builds bundles with a CRC-32C on the primary block, a creation time and a lifetime; parses
//! them with all CRC and structure checks, refusing anything not canonical, expired, or
//! not carrying exactly one plain payload block.

use std::borrow::Cow;
use std::time::Duration;

use hardy_bpv7::block;
use hardy_bpv7::bpsec::key::KeySet;
use hardy_bpv7::builder::Builder;
use hardy_bpv7::bundle::ParsedBundle;
use hardy_bpv7::crc::CrcType;
use hardy_bpv7::creation_timestamp::CreationTimestamp;
use hardy_bpv7::dtn_time::DtnTime;
use hardy_bpv7::eid::Eid;

use crate::limits::{BUNDLE_BYTES_MAX, CLOCK_SKEW_MAX_SECS};

/// Milliseconds between the Unix epoch and the DTN epoch (2000-01-01T00:00:00Z).
pub const DTN_EPOCH_UNIX_MS: u64 = 946_684_800_000;

/// Why bytes are not an acceptable BPv7 bundle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BundleFormatError {
    /// Larger than `BUNDLE_BYTES_MAX`.
    #[error("bundle is {0} bytes, over the limit of {BUNDLE_BYTES_MAX}")]
    TooLarge(usize),
    /// Not BPv7, or a CRC failed, or a block is malformed.
    #[error("not a valid BPv7 bundle: {0}")]
    Invalid(String),
    /// Valid BPv7 but not in canonical form (we only ever write canonical bundles).
    #[error("bundle is not in canonical BPv7 form")]
    NonCanonical,
    /// Missing creation time; Caravan bundles always carry one.
    #[error("bundle has no creation time")]
    NoCreationTime,
    /// The bundle's lifetime has passed.
    #[error("bundle expired {0} s ago")]
    Expired(u64),
    /// Created implausibly far in the future.
    #[error("bundle was created {0} s in the future")]
    FromTheFuture(u64),
    /// An endpoint id given to `build` is not a valid BPv7 endpoint id.
    #[error("invalid endpoint id {0:?}")]
    Endpoint(String),
    /// The lifetime is longer than this node keeps anything (its lifetime cap).
    #[error("bundle lifetime of {lifetime_s} s is over this node's cap of {cap_s} s")]
    LifetimeOverCap {
        /// The bundle's lifetime.
        lifetime_s: u64,
        /// The cap.
        cap_s: u64,
    },
    /// The payload is protected by BPSec, which Caravan does not use.
    #[error("bundle payload uses BPSec confidentiality, which Caravan does not use")]
    BpsecPayload,
}

/// What Caravan needs from a parsed bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleInfo {
    /// Source endpoint id, as text.
    pub source: String,
    /// Destination endpoint id, as text.
    pub destination: String,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_unix_ms: u64,
    /// Lifetime in milliseconds.
    pub lifetime_ms: u64,
    /// Creation sequence number: Caravan sources number their bundles 1, 2, 3, ...
    pub sequence: u64,
    /// The payload is a BPv7 administrative record (a custody signal), not an envelope.
    pub admin_record: bool,
    /// Byte range of the payload within the bundle.
    pub payload: std::ops::Range<usize>,
    /// For an inner bundle: the route that opened the cloak it came in
    /// (`crate::cloak`); `None` for a bundle as it was parsed.
    pub opener: Option<crate::cloak::Route>,
    /// For an inner bundle: the release hash its cloak showed (zeros otherwise).
    pub release: [u8; 32],
}

impl BundleInfo {
    /// Where the payload sits, as (offset, length): what the store keeps so a stored
    /// bundle's payload is found without parsing it again. (Bundles are capped far below
    /// 4 GiB before they are parsed.)
    pub fn payload_at(&self) -> (u32, u32) {
        (self.payload.start as u32, self.payload.len() as u32)
    }

    /// Expiry time, milliseconds since the Unix epoch.
    pub fn expires_unix_ms(&self) -> u64 {
        self.created_unix_ms.saturating_add(self.lifetime_ms)
    }
}

/// Builds a canonical BPv7 bundle (CRC-32C on the primary block).
///
/// `sequence` disambiguates bundles created in the same millisecond by the same source.
pub fn build(
    source: &str,
    destination: &str,
    created_unix_ms: u64,
    sequence: u64,
    lifetime: Duration,
    payload: &[u8],
) -> Result<Vec<u8>, BundleFormatError> {
    build_with(source, destination, created_unix_ms, sequence, lifetime, payload, false)
}

/// Builds a bundle whose payload is a BPv7 administrative record (RFC 9171 6.1).
pub fn build_admin_record(
    source: &str,
    destination: &str,
    created_unix_ms: u64,
    sequence: u64,
    lifetime: Duration,
    record: &[u8],
) -> Result<Vec<u8>, BundleFormatError> {
    build_with(source, destination, created_unix_ms, sequence, lifetime, record, true)
}

fn build_with(
    source: &str,
    destination: &str,
    created_unix_ms: u64,
    sequence: u64,
    lifetime: Duration,
    payload: &[u8],
    admin_record: bool,
) -> Result<Vec<u8>, BundleFormatError> {
    let source: Eid = source.parse().map_err(|_| BundleFormatError::Endpoint(source.to_string()))?;
    let destination: Eid = destination.parse().map_err(|_| BundleFormatError::Endpoint(destination.to_string()))?;
    let time = DtnTime::new(created_unix_ms.saturating_sub(DTN_EPOCH_UNIX_MS));
    let from_nobody = source.is_null();
    // CRC-32C on the primary block only: the payload is protected end to end by its
    // signature (and AEAD tag), and a CRC over megabytes would cost more than both.
    let (_, data) = Builder::new(source, destination)
        // A bundle from nobody (`dtn:none`, every cloak) must not be fragmented (RFC 9171
        // 4.2.3): its pieces could not be told apart from another's.
        .with_flags(hardy_bpv7::bundle::Flags {
            is_admin_record: admin_record,
            do_not_fragment: from_nobody,
            ..Default::default()
        })
        .with_crc_type(CrcType::CRC32_CASTAGNOLI)
        .with_lifetime(lifetime)
        .add_extension_block(block::Type::Payload)
        .expect("a payload block is not a primary block")
        .with_flags(payload_flags())
        .with_crc_type(CrcType::None)
        .build(Cow::Borrowed(payload))
        .build(CreationTimestamp::from_parts(Some(time), sequence))
        .map_err(|e| BundleFormatError::Invalid(e.to_string()))?;
    Ok(data.into_vec())
}

/// Payload block flags on every Caravan bundle: delete the bundle if the block cannot
/// be processed.
fn payload_flags() -> block::Flags {
    block::Flags { delete_bundle_on_failure: true, ..Default::default() }
}

/// Parses and checks a bundle at time `now_unix_ms`: [`parse_untimed`], then its
/// lifetime and creation time against the clock.
pub fn parse(data: &[u8], now_unix_ms: u64) -> Result<BundleInfo, BundleFormatError> {
    let info = parse_untimed(data)?;
    if now_unix_ms > info.expires_unix_ms() {
        return Err(BundleFormatError::Expired((now_unix_ms - info.expires_unix_ms()) / 1000));
    }
    if info.created_unix_ms > now_unix_ms.saturating_add(CLOCK_SKEW_MAX_SECS * 1000) {
        return Err(BundleFormatError::FromTheFuture((info.created_unix_ms - now_unix_ms) / 1000));
    }
    Ok(info)
}

/// Parses and checks a bundle's structure (size, CRC, canonical form, one plain payload
/// block, a creation time), whatever the time.
pub fn parse_untimed(data: &[u8]) -> Result<BundleInfo, BundleFormatError> {
    if data.len() > BUNDLE_BYTES_MAX {
        return Err(BundleFormatError::TooLarge(data.len()));
    }
    let parsed =
        ParsedBundle::parse_with_keys(data, &KeySet::EMPTY).map_err(|e| BundleFormatError::Invalid(e.to_string()))?;
    if parsed.non_canonical {
        return Err(BundleFormatError::NonCanonical);
    }
    let bundle = parsed.bundle;
    let payload_block = bundle.blocks.get(&1).ok_or_else(|| BundleFormatError::Invalid("no payload block".into()))?;
    if payload_block.bcb.is_some() {
        return Err(BundleFormatError::BpsecPayload);
    }
    // The payload block header is not covered by a CRC, so its flags must be exactly
    // what Caravan writes: a damaged flag byte is caught here instead.
    if payload_block.flags != payload_flags() {
        return Err(BundleFormatError::Invalid("unexpected payload block flags".into()));
    }
    let payload = payload_block.payload_range();
    if payload.end > data.len() || payload.start > payload.end {
        return Err(BundleFormatError::Invalid("payload outside the bundle".into()));
    }
    let created = bundle
        .id
        .timestamp
        .creation_time()
        .ok_or(BundleFormatError::NoCreationTime)?
        .millisecs()
        .saturating_add(DTN_EPOCH_UNIX_MS);
    let lifetime_ms = u64::try_from(bundle.lifetime.as_millis()).unwrap_or(u64::MAX);
    let info = BundleInfo {
        source: bundle.id.source.to_string(),
        destination: bundle.destination.to_string(),
        created_unix_ms: created,
        lifetime_ms,
        sequence: bundle.id.timestamp.sequence_number(),
        admin_record: bundle.flags.is_admin_record,
        payload,
        opener: None,
        release: [0; 32],
    };
    Ok(info)
}

/// The digest that names a bundle in stores and on sticks: BLAKE3 `derive_key` with
/// context `caravan 2026-11 bundle digest v1` over its bytes.
pub fn bundle_digest(bytes: &[u8]) -> [u8; 32] {
    crate::crypto::derive(crate::crypto::CONTEXT_BUNDLE_DIGEST, &[bytes])
}

/// The digest of a bundle's payload (what its author signed, without the primary block
/// that any carrier can rewrite): BLAKE3 `derive_key` with context
/// `caravan 2026-11 payload digest v1`. Two bundles with one payload are one content.
pub fn payload_digest(payload: &[u8]) -> [u8; 32] {
    crate::crypto::derive(crate::crypto::CONTEXT_PAYLOAD_DIGEST, &[payload])
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_795_000_000_000;

    #[test]
    fn build_parse_round_trip() {
        let data =
            build("dtn://aaaa/caravan", "dtn://bbbb/~community", NOW, 1, Duration::from_secs(60), b"hi").unwrap();
        assert!(matches!(
            build("not an eid", "dtn://bbbb/caravan", NOW, 1, Duration::from_secs(60), b"hi"),
            Err(BundleFormatError::Endpoint(_))
        ));
        let info = parse(&data, NOW).unwrap();
        assert_eq!(info.source, "dtn://aaaa/caravan");
        assert_eq!(info.destination, "dtn://bbbb/~community");
        assert_eq!(&data[info.payload.clone()], b"hi");
        assert_eq!(info.created_unix_ms, NOW);
        assert!(matches!(parse(&data, NOW + 61_000), Err(BundleFormatError::Expired(1))));
    }

    #[test]
    fn every_flipped_byte_outside_the_payload_is_caught() {
        let data = build("dtn://aaaa/caravan", "dtn://bbbb/caravan", NOW, 1, Duration::from_secs(60), b"payload bytes")
            .unwrap();
        let payload = parse(&data, NOW).unwrap().payload;
        for i in (0..data.len()).filter(|i| !payload.contains(i)) {
            for bit in [0x01u8, 0x80] {
                let mut bad = data.clone();
                bad[i] ^= bit;
                assert!(parse(&bad, NOW).is_err(), "flip of bit {bit:#x} at byte {i} was accepted");
            }
        }
        assert!(parse(&data[..data.len() - 1], NOW).is_err());
    }
}
