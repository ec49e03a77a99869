//! The exchange's frames (`spec/sync.md`): a big-endian u32 length, then that many bytes;
//! a zero length ends a stream. Decoders are pure and bounded (fuzzed: `fuzz/`).

use super::QuicError;
use crate::limits::{ENDPOINTS_BYTES_MAX, ENDPOINTS_MAX, HANDOVER_ENTRIES_MAX, SUMMARY_DIGESTS_MAX};

pub use crate::limits::{HANDOVER_FRAME_MAX, RECEIPT_FRAME_MAX};

pub(super) fn link_err(e: impl std::fmt::Display) -> QuicError {
    QuicError::Link(e.to_string())
}

pub(super) async fn write_frame(send: &mut quinn::SendStream, bytes: &[u8]) -> Result<(), QuicError> {
    let len = u32::try_from(bytes.len()).map_err(link_err)?;
    send.write_all(&len.to_be_bytes()).await.map_err(link_err)?;
    send.write_all(bytes).await.map_err(link_err)
}

/// Reads one frame of at most `max` bytes; `None` at the end marker (a zero length).
pub(super) async fn read_frame(recv: &mut quinn::RecvStream, max: usize) -> Result<Option<Vec<u8>>, QuicError> {
    let mut len = [0u8; 4];
    recv.read_exact(&mut len).await.map_err(link_err)?;
    let len = u32::from_be_bytes(len) as usize;
    if len == 0 {
        return Ok(None);
    }
    if len > max {
        return Err(QuicError::Link(format!("frame of {len} bytes, over the limit of {max}")));
    }
    let mut buf = vec![0u8; len];
    recv.read_exact(&mut buf).await.map_err(link_err)?;
    Ok(Some(buf))
}

/// A summary frame: the digests, 32 bytes each, at most [`SUMMARY_DIGESTS_MAX`].
pub fn encode_summary(digests: &[[u8; 32]]) -> Vec<u8> {
    digests.iter().take(SUMMARY_DIGESTS_MAX).flatten().copied().collect()
}

/// Reads a peer's summary frame: a whole number of 32-byte digests.
pub fn parse_summary(bytes: &[u8]) -> Result<std::collections::HashSet<[u8; 32]>, QuicError> {
    if !bytes.len().is_multiple_of(32) || bytes.len() > SUMMARY_DIGESTS_MAX * 32 {
        return Err(QuicError::Link("summary is not a list of 32-byte digests".into()));
    }
    Ok(bytes.chunks_exact(32).filter_map(|c| <[u8; 32]>::try_from(c).ok()).collect())
}

/// Version byte that starts a hand-over and a receipt frame (so neither is ever empty,
/// which would read as an end marker).
const FRAME_V1: u8 = 1;

/// A hand-over frame: the version byte, then per bundle sent with carrier copies its
/// digest and the copies (u32 BE); at most [`HANDOVER_ENTRIES_MAX`] entries.
pub fn encode_handover(handed: &[([u8; 32], u32)]) -> Vec<u8> {
    let mut out = vec![FRAME_V1];
    for (d, c) in handed.iter().take(HANDOVER_ENTRIES_MAX) {
        out.extend_from_slice(d);
        out.extend_from_slice(&c.to_be_bytes());
    }
    out
}

/// Reads a peer's hand-over frame.
pub fn parse_handover(bytes: &[u8]) -> Result<Vec<([u8; 32], u32)>, QuicError> {
    let bad = || QuicError::Link("hand-over frame is not a version byte then 36-byte entries".into());
    let Some((&FRAME_V1, rest)) = bytes.split_first() else { return Err(bad()) };
    if !rest.len().is_multiple_of(36) || rest.len() / 36 > HANDOVER_ENTRIES_MAX {
        return Err(bad());
    }
    Ok(rest
        .chunks_exact(36)
        .filter_map(|c| Some((c[..32].try_into().ok()?, u32::from_be_bytes(c[32..].try_into().ok()?))))
        .collect())
}

/// A receipt frame: the version byte, then the digests of the bundles handed over with
/// copies that this side now holds.
pub fn encode_receipt(held: &[[u8; 32]]) -> Vec<u8> {
    let mut out = vec![FRAME_V1];
    out.extend(held.iter().take(HANDOVER_ENTRIES_MAX).flatten());
    out
}

/// Reads a peer's receipt frame.
pub fn parse_receipt(bytes: &[u8]) -> Result<std::collections::HashSet<[u8; 32]>, QuicError> {
    let bad = || QuicError::Link("receipt frame is not a version byte then 32-byte digests".into());
    let Some((&FRAME_V1, rest)) = bytes.split_first() else { return Err(bad()) };
    if !rest.len().is_multiple_of(32) || rest.len() / 32 > HANDOVER_ENTRIES_MAX {
        return Err(bad());
    }
    Ok(rest.chunks_exact(32).filter_map(|c| <[u8; 32]>::try_from(c).ok()).collect())
}

/// An endpoint list frame: endpoints separated by newlines, at most [`ENDPOINTS_MAX`].
pub fn encode_endpoints(endpoints: &[String]) -> Vec<u8> {
    endpoints.iter().take(ENDPOINTS_MAX).map(String::as_str).collect::<Vec<_>>().join("\n").into_bytes()
}

/// Reads a peer's endpoint list frame: UTF-8, newline-separated, at most
/// [`ENDPOINTS_MAX`] endpoints kept.
pub fn parse_endpoints(bytes: &[u8]) -> Result<Vec<String>, QuicError> {
    if bytes.len() > ENDPOINTS_BYTES_MAX {
        return Err(QuicError::Link("endpoint list too long".into()));
    }
    Ok(std::str::from_utf8(bytes)
        .map_err(|_| QuicError::Link("endpoint list is not UTF-8".into()))?
        .split('\n')
        .filter(|e| !e.is_empty())
        .take(ENDPOINTS_MAX)
        .map(str::to_string)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_and_endpoint_frames() {
        let mut frame = vec![1u8; 32];
        frame.extend_from_slice(&[2u8; 32]);
        frame.extend_from_slice(&[1u8; 32]);
        let held = parse_summary(&frame).unwrap();
        assert_eq!(held.len(), 2);
        assert!(held.contains(&[1u8; 32]) && held.contains(&[2u8; 32]));
        assert!(parse_summary(&[]).unwrap().is_empty());
        assert!(parse_summary(&frame[..33]).is_err());
        assert_eq!(parse_endpoints(b"dtn://a/\n\ndtn://b/\n").unwrap(), ["dtn://a/", "dtn://b/"]);
        assert!(parse_endpoints(b"").unwrap().is_empty());
        assert!(parse_endpoints(b"dtn://a/\xff").is_err());
        let many = "e\n".repeat(ENDPOINTS_MAX + 10);
        assert_eq!(parse_endpoints(many.as_bytes()).unwrap().len(), ENDPOINTS_MAX);
        let digests = [[7u8; 32], [8u8; 32]];
        assert_eq!(parse_summary(&encode_summary(&digests)).unwrap().len(), 2);
        let endpoints = vec!["dtn://x/caravan".to_string(), "dtn://y/~community".to_string()];
        assert_eq!(parse_endpoints(&encode_endpoints(&endpoints)).unwrap(), endpoints);
    }

    #[test]
    fn hand_over_and_receipt_frames() {
        let handed = [([3u8; 32], 4u32), ([5u8; 32], 1)];
        assert_eq!(parse_handover(&encode_handover(&handed)).unwrap(), handed);
        assert_eq!(parse_handover(&[1]).unwrap(), []);
        assert!(parse_handover(&[]).is_err(), "no version byte");
        assert!(parse_handover(&[2]).is_err(), "unknown version");
        assert!(parse_handover(&encode_handover(&handed)[..40]).is_err(), "a torn entry");
        let too_many = [&[1u8][..], &vec![0u8; 36 * (HANDOVER_ENTRIES_MAX + 1)]].concat();
        assert!(parse_handover(&too_many).is_err());
        let held = [[3u8; 32], [5u8; 32]];
        assert_eq!(parse_receipt(&encode_receipt(&held)).unwrap(), held.into_iter().collect());
        assert!(parse_receipt(&[1]).unwrap().is_empty());
        assert!(parse_receipt(&[]).is_err() && parse_receipt(&[1, 0]).is_err());
    }
}
