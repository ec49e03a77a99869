//! Reading a stick: listing its segments, streaming their indexes in bounded chunks, and
//! reading the records this node does not hold.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};

use super::dir::{Dir, Problem};
use super::layout::{
    Entry, FOLDER, FileKind, HEADER_BYTES, INDEX_ENTRY_BYTES, INDEX_MAGIC, RECORD_HEADER_BYTES, parse_name,
    record_checksum, segment_base,
};
use super::{Progress, Segment, StickError, SyncReport, io};
use crate::bundle::bundle_digest;
use crate::limits::{
    BUNDLE_BYTES_MAX, IMPORT_BATCH_BYTES, IMPORT_BATCH_COUNT, LOOKUP_COUNT, STICK_DIR_ENTRIES_MAX,
    STICK_INDEX_READ_BYTES, STICK_SEGMENT_RECORDS_MAX,
};
use crate::link::LinkNode;

/// What a listing of the folder found.
pub(super) struct Scan {
    /// Segments whose data file is a regular file, by writer and number.
    pub segments: Vec<Segment>,
    /// Per writer, the highest segment number any entry is named with (whatever it is):
    /// a new segment is numbered above it.
    pub highest: HashMap<String, u32>,
}

/// The line reporting a skipped entry.
pub(super) fn skipped(name: &str, why: &str) -> String {
    format!("{FOLDER}/{name}: {why}, skipped")
}

/// Lists the folder (at most `STICK_DIR_ENTRIES_MAX` entries) and checks the type of every
/// segment and index file without following links. Entries that are not regular files
/// are reported and left out.
pub(super) fn scan(dir: &Dir, report: &mut SyncReport) -> Result<Scan, StickError> {
    let (names, truncated) = dir.list(STICK_DIR_ENTRIES_MAX).map_err(io(dir.path()))?;
    if truncated {
        report.skip(format!(
            "{FOLDER}/: more than {STICK_DIR_ENTRIES_MAX} entries; only the first {STICK_DIR_ENTRIES_MAX} were looked at"
        ));
    }
    let mut highest: HashMap<String, u32> = HashMap::new();
    let mut indexes: HashMap<String, String> = HashMap::new();
    let mut data = Vec::new();
    for name in names {
        let Some((writer, number, kind)) = parse_name(&name) else { continue };
        let top = highest.entry(writer.clone()).or_insert(number);
        *top = (*top).max(number);
        let base = segment_base(&writer, number);
        match kind {
            FileKind::Index => {
                indexes.insert(base, name);
            }
            FileKind::Data => data.push((writer, number, base, name)),
        }
    }
    let mut segments = Vec::new();
    for (writer, number, base, name) in data {
        let data_ok = match dir.stat(&name).and_then(|st| regular(&st)) {
            Ok(()) => true,
            Err(Problem::Absent) => continue,
            Err(p) => {
                report.skip(skipped(&name, &p.describe()));
                false
            }
        };
        let index = indexes.remove(&base).unwrap_or_else(|| format!("{base}.idx"));
        let index_bytes = match dir.stat(&index).and_then(|st| regular(&st).map(|_| st.st_size as u64)) {
            Ok(bytes) => bytes,
            Err(Problem::Absent) => 0,
            Err(p) => {
                report.skip(skipped(&index, &p.describe()));
                continue;
            }
        };
        if data_ok {
            segments.push(Segment { writer, number, data: name, index, index_bytes });
        }
    }
    // An index without its data file is never read; name it if it is not a regular file.
    for index in indexes.into_values() {
        if let Err(p @ Problem::Kind(_)) = dir.stat(&index).and_then(|st| regular(&st)) {
            report.skip(skipped(&index, &p.describe()));
        }
    }
    segments.sort_by(|a, b| (&a.writer, a.number, &a.data).cmp(&(&b.writer, b.number, &b.data)));
    Ok(Scan { segments, highest })
}

fn regular(st: &rustix::fs::Stat) -> Result<(), Problem> {
    match rustix::fs::FileType::from_raw_mode(st.st_mode) {
        rustix::fs::FileType::RegularFile => Ok(()),
        other => Err(Problem::Kind(other)),
    }
}

/// A segment opened for reading: its data file, and its index streamed in chunks of
/// `STICK_INDEX_READ_BYTES`, yielding the entries that count.
pub(super) struct SegmentReader {
    data: File,
    data_len: u64,
    stream: IndexStream,
}

impl SegmentReader {
    /// Opens a segment's files; `Ok(None)` if it has no index yet (nothing in it counts).
    /// The error names the file that was refused.
    pub(super) fn open(dir: &Dir, seg: &Segment) -> Result<Option<SegmentReader>, (String, Problem)> {
        let data = dir.open_read(&seg.data).map_err(|p| (seg.data.clone(), p))?;
        let index = match dir.open_read(&seg.index) {
            Ok(f) => f,
            Err(Problem::Absent) => return Ok(None),
            Err(p) => return Err((seg.index.clone(), p)),
        };
        let data_len = data.metadata().map_err(|e| (seg.data.clone(), Problem::Io(e)))?.len();
        let stream = IndexStream::open(index, data_len).map_err(|e| (seg.index.clone(), Problem::Io(e)))?;
        Ok(Some(SegmentReader { data, data_len, stream }))
    }

    /// The next entry that counts, or `None` at the first one that does not.
    pub(super) fn next(&mut self) -> io::Result<Option<Entry>> {
        self.stream.next()
    }

    /// Reads one committed record, checking its header, checksum and digest.
    pub(super) fn read_record(&mut self, entry: &Entry) -> io::Result<Option<Vec<u8>>> {
        if entry.end() > self.data_len || entry.len as usize > BUNDLE_BYTES_MAX {
            return Ok(None);
        }
        self.data.seek(SeekFrom::Start(entry.offset))?;
        let mut header = [0u8; RECORD_HEADER_BYTES as usize];
        if self.data.read_exact(&mut header).is_err() {
            return Ok(None);
        }
        if u32::from_le_bytes(header[..4].try_into().expect("4 bytes")) != entry.len {
            return Ok(None);
        }
        let mut payload = vec![0u8; entry.len as usize];
        if self.data.read_exact(&mut payload).is_err() {
            return Ok(None);
        }
        Ok((record_checksum(&payload) == header[4..20] && bundle_digest(&payload) == entry.digest).then_some(payload))
    }
}

/// An index read a chunk at a time. An entry counts only if its CRC is right, it starts
/// where the previous record ended, its record lies wholly inside the data file, and
/// fewer than `STICK_SEGMENT_RECORDS_MAX` entries came before it; the stream ends at the
/// first entry that does not count.
pub(super) struct IndexStream {
    file: File,
    data_len: u64,
    buf: Vec<u8>,
    pos: usize,
    filled: usize,
    /// Where the next entry's record must start.
    next_offset: u64,
    /// Entries yielded so far.
    pub(super) count: u64,
    done: bool,
}

impl IndexStream {
    /// Reads the header (from the start, wherever the file stood); an index without the
    /// magic has no entries.
    pub(super) fn open(mut file: File, data_len: u64) -> io::Result<IndexStream> {
        file.seek(SeekFrom::Start(0))?;
        let mut header = [0u8; HEADER_BYTES as usize];
        let got = read_full(&mut file, &mut header)?;
        let done = got < header.len() || &header[..8] != INDEX_MAGIC;
        Ok(IndexStream {
            file,
            data_len,
            buf: vec![0u8; STICK_INDEX_READ_BYTES],
            pos: 0,
            filled: 0,
            next_offset: HEADER_BYTES,
            count: 0,
            done,
        })
    }

    /// End of the last counting record (the header's end if none).
    pub(super) fn end(&self) -> u64 {
        self.next_offset
    }

    pub(super) fn next(&mut self) -> io::Result<Option<Entry>> {
        if self.done || self.count >= STICK_SEGMENT_RECORDS_MAX {
            return Ok(None);
        }
        if self.filled - self.pos < INDEX_ENTRY_BYTES {
            self.buf.copy_within(self.pos..self.filled, 0);
            self.filled -= self.pos;
            self.pos = 0;
            self.filled += read_full(&mut self.file, &mut self.buf[self.filled..])?;
            if self.filled < INDEX_ENTRY_BYTES {
                self.done = true;
                return Ok(None);
            }
        }
        let raw = &self.buf[self.pos..self.pos + INDEX_ENTRY_BYTES];
        match Entry::decode(raw) {
            // Entries are contiguous; one out of place is damage, and so is the rest.
            Some(e)
                if e.offset == self.next_offset && (e.len as usize) <= BUNDLE_BYTES_MAX && e.end() <= self.data_len =>
            {
                self.pos += INDEX_ENTRY_BYTES;
                self.next_offset = e.end();
                self.count += 1;
                Ok(Some(e))
            }
            _ => {
                self.done = true;
                Ok(None)
            }
        }
    }
}

/// Fills `buf` as far as the file goes; returns the bytes read.
fn read_full(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Streams every readable segment's counting entries to `each`, reporting segments that
/// cannot be read. `each` returns `false` to stop.
pub(super) fn for_each_entry(
    dir: &Dir,
    segments: &[Segment],
    report: &mut SyncReport,
    mut each: impl FnMut(&Entry) -> bool,
) {
    for seg in segments {
        let mut reader = match SegmentReader::open(dir, seg) {
            Ok(Some(r)) => r,
            Ok(None) => continue,
            Err((name, p)) => {
                report.skip(skipped(&name, &p.describe()));
                continue;
            }
        };
        loop {
            match reader.next() {
                Ok(Some(e)) => {
                    if !each(&e) {
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    report.skip(skipped(&seg.index, &format!("read failed ({e})")));
                    break;
                }
            }
        }
    }
}

/// Takes in every counting record the node does not hold. Returns the positions (in
/// `scan.segments`) of segments whose every entry had expired.
pub(super) fn read_into<N: LinkNode>(
    node: &mut N,
    dir: &Dir,
    scan: &Scan,
    now: u64,
    report: &mut SyncReport,
    progress: &mut dyn FnMut(Progress),
) -> Result<Vec<usize>, StickError> {
    let mut batch: Vec<Vec<u8>> = Vec::new();
    let mut batch_bytes = 0usize;
    let mut stored = 0usize;
    let mut flush = |node: &mut N,
                     batch: &mut Vec<Vec<u8>>,
                     report: &mut SyncReport,
                     progress: &mut dyn FnMut(Progress)|
     -> Result<(), StickError> {
        if batch.is_empty() {
            return Ok(());
        }
        progress(Progress::Storing { bundles: batch.len(), before: stored });
        stored += batch.len();
        let r = node.import_bundles(&batch.iter().map(Vec::as_slice).collect::<Vec<_>>())?;
        report.new_bundles += r.new_bundles();
        report.new_changes += r.new_changes();
        report.waiting += r.waiting();
        report.rejected.extend(r.rejected().into_iter().map(|e| e.to_string()));
        report.custody_released += r.custody_released();
        report.not_carried += r.not_carried();
        batch.clear();
        Ok(())
    };
    // For progress only: what the index sizes suggest, capped per segment.
    let estimate: usize = scan
        .segments
        .iter()
        .map(|s| {
            let entries = s.index_bytes.saturating_sub(HEADER_BYTES) / INDEX_ENTRY_BYTES as u64;
            entries.min(STICK_SEGMENT_RECORDS_MAX) as usize
        })
        .sum();
    let mut done = 0usize;
    let mut dead = Vec::new();
    let mut chunk: Vec<Entry> = Vec::with_capacity(LOOKUP_COUNT);
    for (position, seg) in scan.segments.iter().enumerate() {
        let mut reader = match SegmentReader::open(dir, seg) {
            Ok(Some(r)) => r,
            Ok(None) => continue,
            Err((name, p)) => {
                report.skip(skipped(&name, &p.describe()));
                continue;
            }
        };
        let (mut any, mut all_expired, mut failed) = (false, true, false);
        while !failed {
            chunk.clear();
            while chunk.len() < LOOKUP_COUNT {
                match reader.next() {
                    Ok(Some(e)) => chunk.push(e),
                    Ok(None) => break,
                    Err(e) => {
                        report.skip(skipped(&seg.index, &format!("read failed ({e})")));
                        failed = true;
                        break;
                    }
                }
            }
            if chunk.is_empty() {
                break;
            }
            any = true;
            report.records += chunk.len();
            let digests: Vec<[u8; 32]> = chunk.iter().map(|e| e.digest).collect();
            let held = node.holds_each(&digests)?;
            for (e, held) in chunk.iter().zip(held) {
                all_expired &= e.expires_unix_ms < now;
                done += 1;
                if done.is_multiple_of(64) {
                    progress(Progress::Reading { done, total: estimate.max(done) });
                }
                if held {
                    report.known += 1;
                    continue;
                }
                if e.expires_unix_ms < now {
                    // Dead on arrival: not worth reading, and the index already says so.
                    report.expired += 1;
                    continue;
                }
                if failed {
                    continue;
                }
                match reader.read_record(e) {
                    Ok(Some(payload)) => {
                        report.bytes_read += payload.len() as u64;
                        batch_bytes += payload.len();
                        batch.push(payload);
                    }
                    Ok(None) => report.damaged += 1,
                    Err(err) => {
                        report.skip(skipped(&seg.data, &format!("read failed ({err})")));
                        failed = true;
                    }
                }
                if batch.len() >= IMPORT_BATCH_COUNT || batch_bytes >= IMPORT_BATCH_BYTES {
                    flush(node, &mut batch, report, progress)?;
                    batch_bytes = 0;
                }
            }
        }
        if any && all_expired && !failed {
            dead.push(position);
        }
    }
    if done > 0 {
        progress(Progress::Reading { done, total: done });
    }
    flush(node, &mut batch, report, progress)?;
    Ok(dead)
}

/// Removes segments (any writer's) whose every committed bundle has expired: regular
/// files only, by name in the folder. Returns how many were removed.
pub(super) fn drop_expired(
    dir: &Dir,
    scan: &mut Scan,
    dead: &[usize],
    report: &mut SyncReport,
) -> Result<usize, StickError> {
    let mut dropped = 0;
    for &position in dead.iter().rev() {
        let seg = scan.segments.remove(position);
        let mut whole = true;
        for name in [&seg.index, &seg.data] {
            match dir.remove_regular(name) {
                Ok(()) | Err(Problem::Absent) => {}
                Err(Problem::Io(e)) => return Err(io(&dir.path_of(name))(e)),
                Err(p) => {
                    report.skip(skipped(name, &p.describe()));
                    whole = false;
                }
            }
        }
        dropped += whole as usize;
    }
    Ok(dropped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn entry(offset: u64, len: u32, seed: u8) -> Entry {
        Entry { offset, len, expires_unix_ms: 1, digest: [seed; 32] }
    }

    /// An index file holding `entries` after a header with the magic, and a data file of
    /// `data_len` bytes (sparse).
    fn files(entries: &[Entry], data_len: u64) -> (tempfile::TempDir, File, u64) {
        let dir = tempfile::tempdir().unwrap();
        let mut index = File::options().read(true).write(true).create_new(true).open(dir.path().join("i")).unwrap();
        let mut header = [0u8; HEADER_BYTES as usize];
        header[..8].copy_from_slice(INDEX_MAGIC);
        index.write_all(&header).unwrap();
        let mut buf = Vec::new();
        for e in entries {
            buf.extend_from_slice(&e.encode());
        }
        index.write_all(&buf).unwrap();
        (dir, index, data_len)
    }

    fn all(index: File, data_len: u64) -> Vec<Entry> {
        let mut s = IndexStream::open(index, data_len).unwrap();
        let mut out = Vec::new();
        while let Some(e) = s.next().unwrap() {
            out.push(e);
        }
        out
    }

    #[test]
    fn entries_count_until_the_first_that_does_not() {
        let good: Vec<Entry> = (0..3000u64).map(|i| entry(HEADER_BYTES + i * 30, 10, i as u8)).collect();
        let end = good.last().unwrap().end();
        // Across several read chunks, all count.
        let (_d, index, len) = files(&good, end);
        assert_eq!(all(index, len), good);
        // A data file cut short: only whole records count.
        let (_d, index, _) = files(&good, end);
        assert_eq!(all(index, end - 1).len(), good.len() - 1);
        // A gap, then valid entries: the rest never counts.
        let mut gap = good[..5].to_vec();
        gap.push(entry(good[5].offset + 1, 10, 9));
        gap.extend_from_slice(&good[6..]);
        let (_d, index, len) = files(&gap, end + 1);
        assert_eq!(all(index, len), good[..5]);
        // A record longer than any bundle never counts.
        let (_d, index, _) = files(&[entry(HEADER_BYTES, (BUNDLE_BYTES_MAX + 1) as u32, 1)], u64::MAX);
        assert!(all(index, u64::MAX).is_empty());
        // No magic, no entries.
        let (_d, mut index, len) = files(&good, end);
        index.seek(SeekFrom::Start(0)).unwrap();
        index.write_all(b"CVNXXX").unwrap();
        assert!(all(index, len).is_empty());
    }

    #[test]
    fn a_sparse_index_of_ten_gigabytes_costs_one_chunk() {
        let good: Vec<Entry> = (0..10u64).map(|i| entry(HEADER_BYTES + i * 30, 10, i as u8)).collect();
        let (_d, index, _) = files(&good, u64::MAX);
        index.set_len(10 << 30).unwrap();
        let start = std::time::Instant::now();
        assert_eq!(all(index, u64::MAX), good);
        assert!(start.elapsed() < std::time::Duration::from_secs(2), "{:?}", start.elapsed());
    }

    #[test]
    fn an_index_counts_at_most_the_records_a_segment_may_hold() {
        let cap = STICK_SEGMENT_RECORDS_MAX;
        // Empty bundles: 20 bytes of data per record, so the data file allows more.
        let many: Vec<Entry> = (0..cap + 5).map(|i| entry(HEADER_BYTES + i * 20, 0, 0)).collect();
        let (_d, index, _) = files(&many, u64::MAX);
        let mut s = IndexStream::open(index, u64::MAX).unwrap();
        let mut n = 0u64;
        while s.next().unwrap().is_some() {
            n += 1;
        }
        assert_eq!(n, cap);
    }
}
