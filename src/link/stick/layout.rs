//! The stick's layout: file names, headers, records and index entries (`spec/stick.md`).

use crate::identity::{NODE_ID_BYTES, NodeId};

pub use crate::limits::SEGMENT_BYTES_MAX;

/// Folder on the stick that holds everything Caravan writes.
pub const FOLDER: &str = "caravan";
/// Marker file inside the folder; its first line names the layout version.
pub const MARKER: &str = "CARAVAN.TXT";
/// First line of the marker file.
pub const MARKER_LINE: &str = "caravan stick v1";

pub(super) const SEGMENT_MAGIC: &[u8; 8] = b"CVNSEG\x00\x01";
pub(super) const INDEX_MAGIC: &[u8; 8] = b"CVNIDX\x00\x01";
/// Both files start with one 512-byte sector: the magic, the writer's node id, the segment
/// number and a MAC over those, then zeros. A file is then never shorter than a sector,
/// which some FAT drivers (fusefat) cannot extend once reopened.
pub(super) const HEADER_BYTES: u64 = 512;
/// Header bytes that carry meaning: magic 8, node id 20, number 4, MAC 32.
const HEADER_USED_BYTES: usize = 8 + NODE_ID_BYTES + 4 + 32;
/// Record header: length (u32 LE) then the first 16 bytes of BLAKE3(payload).
pub(super) const RECORD_HEADER_BYTES: u64 = 20;
/// Index entry: offset u64, length u32, expiry u64, digest 32, CRC-32 of the previous 52.
pub(super) const INDEX_ENTRY_BYTES: usize = 56;
/// Highest segment number a six-digit name can carry.
pub(super) const SEGMENT_NUMBER_MAX: u32 = 999_999;

/// The header a writer puts at the start of its segment `number`'s data (`SEGMENT_MAGIC`)
/// or index (`INDEX_MAGIC`) file. The MAC, keyed with a key only that writer holds, lets
/// it recognise its own files later: it never appends behind a header it did not write.
pub(super) fn header(magic: &[u8; 8], writer: &NodeId, number: u32, key: &[u8; 32]) -> [u8; HEADER_BYTES as usize] {
    let mut h = [0u8; HEADER_BYTES as usize];
    h[..8].copy_from_slice(magic);
    h[8..8 + NODE_ID_BYTES].copy_from_slice(&writer.0);
    h[8 + NODE_ID_BYTES..12 + NODE_ID_BYTES].copy_from_slice(&number.to_le_bytes());
    let mac = blake3::keyed_hash(key, &h[..12 + NODE_ID_BYTES]);
    h[12 + NODE_ID_BYTES..HEADER_USED_BYTES].copy_from_slice(mac.as_bytes());
    h
}

/// Whether `bytes` (a file's first sector) is the header this writer would write for this
/// file. Compares the MAC in constant time. The zeros after the MAC are not checked.
pub(super) fn header_is_ours(bytes: &[u8], magic: &[u8; 8], writer: &NodeId, number: u32, key: &[u8; 32]) -> bool {
    if bytes.len() < HEADER_USED_BYTES {
        return false;
    }
    let expected = header(magic, writer, number, key);
    let mac = 12 + NODE_ID_BYTES..HEADER_USED_BYTES;
    let got: [u8; 32] = bytes[mac.clone()].try_into().expect("32 bytes");
    let want: [u8; 32] = expected[mac].try_into().expect("32 bytes");
    // `blake3::Hash` compares in constant time.
    bytes[..12 + NODE_ID_BYTES] == expected[..12 + NODE_ID_BYTES] && blake3::Hash::from(got) == want
}

/// One committed index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Offset of the record header in the segment.
    pub offset: u64,
    /// Payload (bundle) length.
    pub len: u32,
    /// Bundle expiry, milliseconds since the Unix epoch.
    pub expires_unix_ms: u64,
    /// Bundle digest.
    pub digest: [u8; 32],
}

impl Entry {
    pub(super) fn encode(&self) -> [u8; INDEX_ENTRY_BYTES] {
        let mut b = [0u8; INDEX_ENTRY_BYTES];
        b[..8].copy_from_slice(&self.offset.to_le_bytes());
        b[8..12].copy_from_slice(&self.len.to_le_bytes());
        b[12..20].copy_from_slice(&self.expires_unix_ms.to_le_bytes());
        b[20..52].copy_from_slice(&self.digest);
        let crc = crc32fast::hash(&b[..52]);
        b[52..].copy_from_slice(&crc.to_le_bytes());
        b
    }

    pub(super) fn decode(b: &[u8]) -> Option<Self> {
        if b.len() != INDEX_ENTRY_BYTES || crc32fast::hash(&b[..52]).to_le_bytes() != b[52..] {
            return None;
        }
        Some(Entry {
            offset: u64::from_le_bytes(b[..8].try_into().ok()?),
            len: u32::from_le_bytes(b[8..12].try_into().ok()?),
            expires_unix_ms: u64::from_le_bytes(b[12..20].try_into().ok()?),
            digest: b[20..52].try_into().ok()?,
        })
    }

    /// End of the record in the segment.
    pub fn end(&self) -> u64 {
        self.offset + RECORD_HEADER_BYTES + self.len as u64
    }
}

pub(super) fn record_checksum(payload: &[u8]) -> [u8; 16] {
    let mut out = [0u8; 16];
    out.copy_from_slice(&blake3::hash(payload).as_bytes()[..16]);
    out
}

/// The name a node's stick files go by: derived from its secret header key (so only it
/// knows which files are its own), shaped like a node id, and no node id.
pub(super) fn pseudonym(header_key: &[u8; 32]) -> NodeId {
    let d = crate::crypto::derive(crate::crypto::CONTEXT_STICK_HEADER_KEY, &[b"file names", header_key]);
    let mut id = [0u8; crate::identity::NODE_ID_BYTES];
    id.copy_from_slice(&d[..crate::identity::NODE_ID_BYTES]);
    NodeId(id)
}

/// `<writer>-<nnnnnn>`: a segment's name without its extension.
pub(super) fn segment_base(writer: &str, number: u32) -> String {
    format!("{writer}-{number:06}")
}

/// Which of a segment's two files a name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FileKind {
    Data,
    Index,
}

/// Parses `<32 base32 chars>-<6 digits>.seg` or `.idx` (any case): the writer (lowercase),
/// the number and which file.
pub(super) fn parse_name(name: &str) -> Option<(String, u32, FileKind)> {
    let lower = name.to_ascii_lowercase();
    let (stem, kind) = match (lower.strip_suffix(".seg"), lower.strip_suffix(".idx")) {
        (Some(s), _) => (s, FileKind::Data),
        (_, Some(s)) => (s, FileKind::Index),
        _ => return None,
    };
    let (writer, number) = stem.split_once('-')?;
    NodeId::parse(writer)?;
    if number.len() != 6 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((writer.to_string(), number.parse().ok()?, kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_verify_only_for_their_writer_file_and_number() {
        let (me, other) = (NodeId([7; NODE_ID_BYTES]), NodeId([8; NODE_ID_BYTES]));
        let key = [1u8; 32];
        let h = header(SEGMENT_MAGIC, &me, 3, &key);
        assert_eq!(&h[..8], SEGMENT_MAGIC, "readers still find the magic first");
        assert!(h[HEADER_USED_BYTES..].iter().all(|&b| b == 0));
        assert!(header_is_ours(&h, SEGMENT_MAGIC, &me, 3, &key));
        assert!(!header_is_ours(&h, INDEX_MAGIC, &me, 3, &key));
        assert!(!header_is_ours(&h, SEGMENT_MAGIC, &me, 4, &key));
        assert!(!header_is_ours(&h, SEGMENT_MAGIC, &other, 3, &key));
        assert!(!header_is_ours(&h, SEGMENT_MAGIC, &me, 3, &[2u8; 32]));
        assert!(!header_is_ours(&[0u8; 512], SEGMENT_MAGIC, &me, 3, &key));
        assert!(!header_is_ours(&h[..40], SEGMENT_MAGIC, &me, 3, &key));
        let mut bad = h;
        bad[50] ^= 1;
        assert!(!header_is_ours(&bad, SEGMENT_MAGIC, &me, 3, &key));
    }

    #[test]
    fn names_parse_in_any_case() {
        let id = NodeId([9; NODE_ID_BYTES]).to_string();
        let base = segment_base(&id, 12);
        assert_eq!(parse_name(&format!("{base}.seg")), Some((id.clone(), 12, FileKind::Data)));
        assert_eq!(parse_name(&format!("{}.IDX", base.to_uppercase())), Some((id.clone(), 12, FileKind::Index)));
        assert_eq!(parse_name(&format!("{id}-12.seg")), None);
        assert_eq!(parse_name(&format!("{base}.txt")), None);
        assert_eq!(parse_name("holiday.jpg"), None);
    }
}
