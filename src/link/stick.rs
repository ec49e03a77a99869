//! A USB stick (or any directory) as a link: append-only segment files of checksummed
//! records, one writer per segment, with an index that lets a reader skip what it has.
//! `spec/stick.md` is the normative description of the layout and the write protocol.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::identity::NodeId;
use crate::limits::BUNDLE_BYTES_MAX;
use crate::node::{Node, bundle_digest};
use crate::sync::Target;

/// Folder on the stick that holds everything Caravan writes.
pub const FOLDER: &str = "caravan";
/// Marker file inside the folder; its first line names the layout version.
pub const MARKER: &str = "CARAVAN.TXT";
/// First line of the marker file.
pub const MARKER_LINE: &str = "caravan stick v1";
/// Segment files are closed at this size (FAT32 caps files at 4 GiB).
pub const SEGMENT_BYTES_MAX: u64 = 1 << 30;

const SEGMENT_MAGIC: &[u8; 8] = b"CVNSEG\x00\x01";
const INDEX_MAGIC: &[u8; 8] = b"CVNIDX\x00\x01";
/// Both files start with one 512-byte sector: the magic, then zeros. A file is then never
/// shorter than a sector, which some FAT drivers (fusefat) cannot extend once reopened.
const HEADER_BYTES: u64 = 512;

fn header(magic: &[u8; 8]) -> [u8; HEADER_BYTES as usize] {
    let mut h = [0u8; HEADER_BYTES as usize];
    h[..8].copy_from_slice(magic);
    h
}
/// Record header: length (u32 LE) then the first 16 bytes of BLAKE3(payload).
const RECORD_HEADER_BYTES: u64 = 20;
/// Index entry: offset u64, length u32, expiry u64, digest 32, CRC-32 of the previous 52.
const INDEX_ENTRY_BYTES: usize = 56;
/// Bundles imported per node transaction while reading a stick (each transaction ends in
/// one fsync), bounded in bytes too.
const IMPORT_BATCH_COUNT: usize = 4096;
const IMPORT_BATCH_BYTES: usize = 64 << 20;
/// Bundle bytes fetched from the store at a time while writing.
const FETCH_BYTES_MAX: u64 = 16 << 20;
/// Records are handed to the file in writes of about this size.
const WRITE_BUFFER_BYTES: usize = 1 << 20;
/// Bytes appended between data syncs while writing.
const SYNC_EVERY_BYTES: u64 = 64 << 20;

/// What went wrong with a stick. Each names the stick path and the problem.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StickError {
    /// The directory does not exist.
    #[error("{0}: no such directory (is the stick mounted?)")]
    Missing(PathBuf),
    /// A `caravan/` folder exists but was not written by Caravan (or by a newer version).
    #[error("{0}: this `caravan` folder was not written by Caravan (or by a newer version); not touching it")]
    Foreign(PathBuf),
    /// The stick cannot be written.
    #[error("{path}: stick is read-only ({source})")]
    ReadOnly {
        /// Path that could not be written.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Another I/O failure on the stick.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The node failed (its store); nothing of this sync's import was kept.
    #[error(transparent)]
    Node(#[from] crate::Error),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StickError + '_ {
    move |source| match source.kind() {
        ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem => {
            StickError::ReadOnly { path: path.to_path_buf(), source }
        }
        _ => StickError::Io { path: path.to_path_buf(), source },
    }
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
    fn encode(&self) -> [u8; INDEX_ENTRY_BYTES] {
        let mut b = [0u8; INDEX_ENTRY_BYTES];
        b[..8].copy_from_slice(&self.offset.to_le_bytes());
        b[8..12].copy_from_slice(&self.len.to_le_bytes());
        b[12..20].copy_from_slice(&self.expires_unix_ms.to_le_bytes());
        b[20..52].copy_from_slice(&self.digest);
        let crc = crc32fast::hash(&b[..52]);
        b[52..].copy_from_slice(&crc.to_le_bytes());
        b
    }

    fn decode(b: &[u8]) -> Option<Self> {
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

fn record_checksum(payload: &[u8]) -> [u8; 16] {
    let mut out = [0u8; 16];
    out.copy_from_slice(&blake3::hash(payload).as_bytes()[..16]);
    out
}

/// A segment: its data file and index file, and who wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// The writer's node id (text).
    pub writer: String,
    /// Sequence number among the writer's segments.
    pub number: u32,
    /// Data file.
    pub data: PathBuf,
    /// Index file.
    pub index: PathBuf,
}

fn segment_name(writer: &str, number: u32) -> String {
    format!("{writer}-{number:06}")
}

/// Parses `<32 base32 chars>-<6 digits>.seg`.
fn parse_segment_name(name: &str) -> Option<(String, u32)> {
    let stem = name.strip_suffix(".seg")?;
    let (writer, number) = stem.split_once('-')?;
    NodeId::parse(writer)?;
    if number.len() != 6 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((writer.to_ascii_lowercase(), number.parse().ok()?))
}

/// An opened stick folder.
pub struct Stick {
    folder: PathBuf,
}

impl Stick {
    /// Opens `<root>/caravan`, creating it (and its marker) if `create` and absent.
    pub fn open(root: &Path, create: bool) -> Result<Self, StickError> {
        if !root.is_dir() {
            return Err(StickError::Missing(root.to_path_buf()));
        }
        let folder = root.join(FOLDER);
        let marker = folder.join(MARKER);
        if folder.is_dir() {
            let text = std::fs::read_to_string(&marker).map_err(|_| StickError::Foreign(folder.clone()))?;
            if text.lines().next() != Some(MARKER_LINE) {
                return Err(StickError::Foreign(folder.clone()));
            }
            if create {
                // Find out now, before anything is imported, whether we can write here.
                OpenOptions::new().append(true).open(&marker).map_err(io(&marker))?;
            }
        } else if create {
            std::fs::create_dir_all(&folder).map_err(io(&folder))?;
            let mut f = File::create(&marker).map_err(io(&marker))?;
            f.write_all(
                format!("{MARKER_LINE}\nBundles carried by Caravan. Do not edit; safe to delete.\n").as_bytes(),
            )
            .and_then(|_| f.sync_all())
            .map_err(io(&marker))?;
        }
        Ok(Stick { folder })
    }

    /// All segments on the stick, by writer and number.
    pub fn segments(&self) -> Result<Vec<Segment>, StickError> {
        if !self.folder.is_dir() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for e in std::fs::read_dir(&self.folder).map_err(io(&self.folder))? {
            let e = e.map_err(io(&self.folder))?;
            let name = e.file_name().to_string_lossy().to_ascii_lowercase();
            if let Some((writer, number)) = parse_segment_name(&name) {
                let base = segment_name(&writer, number);
                out.push(Segment {
                    data: self.folder.join(e.file_name()),
                    index: self.folder.join(format!("{base}.idx")),
                    writer,
                    number,
                });
            }
        }
        out.sort_by(|a, b| (&a.writer, a.number).cmp(&(&b.writer, b.number)));
        Ok(out)
    }

    /// The committed entries of a segment's index: every valid entry up to the first
    /// torn or damaged one.
    pub fn entries(&self, seg: &Segment) -> Result<Vec<Entry>, StickError> {
        let bytes = match std::fs::read(&seg.index) {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&seg.index)(e)),
        };
        if bytes.len() < HEADER_BYTES as usize || &bytes[..8] != INDEX_MAGIC {
            return Ok(Vec::new());
        }
        // A stick cut short may hold less data than its index names: only entries whose
        // records are whole count.
        let data_len = std::fs::metadata(&seg.data).map(|m| m.len()).unwrap_or(0);
        let mut out = Vec::new();
        let mut end = HEADER_BYTES;
        for chunk in bytes[HEADER_BYTES as usize..].chunks(INDEX_ENTRY_BYTES) {
            match Entry::decode(chunk) {
                // Entries are contiguous; one out of place is damage, and so is the rest.
                Some(e) if e.offset == end && (e.len as usize) <= BUNDLE_BYTES_MAX && e.end() <= data_len => {
                    end = e.end();
                    out.push(e);
                }
                _ => break,
            }
        }
        Ok(out)
    }

    /// Reads one committed record, checking its header and checksum.
    fn read_record(file: &mut File, entry: &Entry) -> std::io::Result<Option<Vec<u8>>> {
        file.seek(SeekFrom::Start(entry.offset))?;
        let mut header = [0u8; RECORD_HEADER_BYTES as usize];
        if file.read_exact(&mut header).is_err() {
            return Ok(None);
        }
        if u32::from_le_bytes(header[..4].try_into().expect("4 bytes")) != entry.len {
            return Ok(None);
        }
        let mut payload = vec![0u8; entry.len as usize];
        if file.read_exact(&mut payload).is_err() {
            return Ok(None);
        }
        Ok((record_checksum(&payload) == header[4..20] && bundle_digest(&payload) == entry.digest).then_some(payload))
    }

    /// Digests of every committed bundle on the stick.
    pub fn digests(&self) -> Result<HashSet<[u8; 32]>, StickError> {
        let mut out = HashSet::new();
        for seg in self.segments()? {
            out.extend(self.entries(&seg)?.into_iter().map(|e| e.digest));
        }
        Ok(out)
    }
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Committed records found on the stick.
    pub records: usize,
    /// Records skipped because this node already held them (known from the index).
    pub known: usize,
    /// Records whose bytes were damaged (checksum), skipped.
    pub damaged: usize,
    /// Records not read because their bundles had expired.
    pub expired: usize,
    /// Bundles taken in.
    pub new_bundles: usize,
    /// Changes new to this node.
    pub new_changes: usize,
    /// Bundles stored but waiting (for a key, for consent, or carried for others).
    pub waiting: usize,
    /// Refused bundles, with reasons.
    pub rejected: Vec<String>,
    /// Our bundles released from custody by signals read from the stick.
    pub custody_released: usize,
    /// Bundles for others left on the stick because the relay quota was full.
    pub not_carried: usize,
    /// Bundles written to the stick.
    pub exported: usize,
    /// Of those, carried for others.
    pub carried: usize,
    /// Bytes written to the stick.
    pub bytes_written: u64,
    /// Bytes read from the stick.
    pub bytes_read: u64,
    /// Segments removed because every bundle in them had expired.
    pub expired_segments: usize,
    /// Whether the stick filled up (or `max_bytes` was reached) before all was written.
    pub full: bool,
    /// Wall time, milliseconds.
    pub millis: u128,
}

/// Options for [`sync`].
#[derive(Default)]
pub struct SyncOptions<'a> {
    /// Write at most this many bytes (records and index) to the stick.
    pub max_bytes: Option<u64>,
    /// Called as work advances, for progress displays.
    pub progress: Option<&'a mut dyn FnMut(Progress)>,
}

/// How far a sync has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Reading: records examined so far, of all committed records on the stick.
    Reading {
        /// Records examined.
        done: usize,
        /// Committed records on the stick.
        total: usize,
    },
    /// Writing: bytes written so far, of the bytes planned.
    Writing {
        /// Bytes written.
        done: u64,
        /// Bytes planned.
        total: u64,
    },
}

/// Takes everything new from the stick into `node`, then leaves on it what `node` holds
/// that is not there yet, own and community bundles first, then what it carries.
pub fn sync(node: &mut Node, root: &Path, mut options: SyncOptions) -> Result<SyncReport, StickError> {
    let start = Instant::now();
    let mut report = SyncReport::default();
    let stick = Stick::open(root, true)?;
    let now = node.now();
    let mut quiet = |_: Progress| {};
    let progress: &mut dyn FnMut(Progress) = match options.progress.take() {
        Some(p) => p,
        None => &mut quiet,
    };
    read_into(node, &stick, now, &mut report, progress)?;
    report.expired_segments = drop_expired(&stick, now)?;
    write_from(node, &stick, options.max_bytes, &mut report, progress)?;
    report.millis = start.elapsed().as_millis();
    Ok(report)
}

fn read_into(
    node: &mut Node,
    stick: &Stick,
    now: u64,
    report: &mut SyncReport,
    progress: &mut dyn FnMut(Progress),
) -> Result<(), StickError> {
    let mut batch: Vec<Vec<u8>> = Vec::new();
    let mut batch_bytes = 0usize;
    let flush = |node: &mut Node, batch: &mut Vec<Vec<u8>>, report: &mut SyncReport| -> Result<(), StickError> {
        if batch.is_empty() {
            return Ok(());
        }
        let r = node.import_many(batch.iter().map(Vec::as_slice))?;
        report.new_bundles += r.new_bundles();
        report.new_changes += r.new_changes();
        report.waiting += r.waiting();
        report.rejected.extend(r.rejected().into_iter().map(|e| e.to_string()));
        report.custody_released += r.custody_released();
        report.not_carried += r.not_carried();
        batch.clear();
        Ok(())
    };
    let segments: Vec<(Segment, Vec<Entry>)> =
        stick.segments()?.into_iter().map(|s| stick.entries(&s).map(|e| (s, e))).collect::<Result<_, _>>()?;
    let total: usize = segments.iter().map(|(_, e)| e.len()).sum();
    let mut done = 0;
    for (seg, entries) in segments {
        report.records += entries.len();
        let digests: Vec<[u8; 32]> = entries.iter().map(|e| e.digest).collect();
        let held = node.holds_each(&digests)?;
        let mut file = None;
        for (e, held) in entries.into_iter().zip(held) {
            done += 1;
            if done % 64 == 0 || done == total {
                progress(Progress::Reading { done, total });
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
            if file.is_none() {
                file = Some(File::open(&seg.data).map_err(io(&seg.data))?);
            }
            let f = file.as_mut().expect("opened above");
            match Stick::read_record(f, &e).map_err(io(&seg.data))? {
                Some(payload) => {
                    report.bytes_read += payload.len() as u64;
                    batch_bytes += payload.len();
                    batch.push(payload);
                }
                None => report.damaged += 1,
            }
            if batch.len() >= IMPORT_BATCH_COUNT || batch_bytes >= IMPORT_BATCH_BYTES {
                flush(node, &mut batch, report)?;
                batch_bytes = 0;
            }
        }
    }
    flush(node, &mut batch, report)
}

/// Removes segments (any writer's) whose every committed bundle has expired.
fn drop_expired(stick: &Stick, now: u64) -> Result<usize, StickError> {
    let mut dropped = 0;
    for seg in stick.segments()? {
        let entries = stick.entries(&seg)?;
        if !entries.is_empty() && entries.iter().all(|e| e.expires_unix_ms < now) {
            std::fs::remove_file(&seg.index).map_err(io(&seg.index))?;
            std::fs::remove_file(&seg.data).map_err(io(&seg.data))?;
            dropped += 1;
        }
    }
    Ok(dropped)
}

/// Our open segment, repaired: data cut back to the end of its last indexed record (an
/// unindexed or torn tail never counted), index cut back to its last valid entry.
struct Writer {
    data: File,
    index: File,
    data_path: PathBuf,
    index_path: PathBuf,
    /// End of written data (committed or not).
    end: u64,
    /// End of committed data: data synced and indexed.
    committed_end: u64,
    /// Records appended but not yet handed to the file.
    buffer: Vec<u8>,
    /// Length of the committed index.
    index_len: u64,
}

fn open_writer(stick: &Stick, me: &str, number: u32) -> Result<Writer, StickError> {
    let base = segment_name(me, number);
    let data_path = stick.folder.join(format!("{base}.seg"));
    let index_path = stick.folder.join(format!("{base}.idx"));
    let seg = Segment { writer: me.to_string(), number, data: data_path.clone(), index: index_path.clone() };
    let entries = stick.entries(&seg)?;
    let end = entries.last().map_or(HEADER_BYTES, Entry::end);
    let index_len = HEADER_BYTES + (entries.len() * INDEX_ENTRY_BYTES) as u64;
    let open = |p: &Path| OpenOptions::new().read(true).write(true).create(true).truncate(false).open(p);
    let mut data = open(&data_path).map_err(io(&data_path))?;
    let mut index = open(&index_path).map_err(io(&index_path))?;
    let mut data_on_disk = data.metadata().map_err(io(&data_path))?.len();
    if data_on_disk < HEADER_BYTES {
        data.set_len(0).map_err(io(&data_path))?;
        data.write_all(&header(SEGMENT_MAGIC)).and_then(|_| data.sync_all()).map_err(io(&data_path))?;
        data_on_disk = HEADER_BYTES;
    }
    if data_on_disk != end {
        // A torn or unindexed tail never counted: cut it off.
        data.set_len(end).and_then(|_| data.sync_all()).map_err(io(&data_path))?;
    }
    let index_on_disk = index.metadata().map_err(io(&index_path))?.len();
    if index_on_disk < HEADER_BYTES {
        index.set_len(0).map_err(io(&index_path))?;
        index.write_all(&header(INDEX_MAGIC)).and_then(|_| index.sync_all()).map_err(io(&index_path))?;
    } else if index_on_disk != index_len {
        index.set_len(index_len).and_then(|_| index.sync_all()).map_err(io(&index_path))?;
    }
    data.seek(SeekFrom::Start(end)).map_err(io(&data_path))?;
    index.seek(SeekFrom::Start(index_len)).map_err(io(&index_path))?;
    Ok(Writer { data, index, data_path, index_path, end, committed_end: end, index_len, buffer: Vec::new() })
}

impl Writer {
    /// Hands buffered records to the file (not yet synced). If the stick fills up, places
    /// as many whole buffered records as fit, forgets the others, and returns `true`.
    fn drain(&mut self, pending: &mut Vec<(Entry, bool)>) -> std::io::Result<bool> {
        let result = self.data.write_all(&self.buffer);
        let err = match result {
            Ok(()) => {
                self.buffer.clear();
                return Ok(false);
            }
            Err(e) if is_full(&e) => e,
            Err(e) => return Err(e),
        };
        drop(err);
        let start = self.end - self.buffer.len() as u64;
        self.data.set_len(start)?;
        self.data.seek(SeekFrom::Start(start))?;
        let first = pending.iter().position(|(e, _)| e.offset >= start).unwrap_or(pending.len());
        let (mut pos, mut end, mut keep) = (0usize, start, first);
        for (e, _) in &pending[first..] {
            let len = (RECORD_HEADER_BYTES + e.len as u64) as usize;
            match self.data.write_all(&self.buffer[pos..pos + len]) {
                Ok(()) => {
                    pos += len;
                    end += len as u64;
                    keep += 1;
                }
                Err(e) if is_full(&e) => {
                    self.data.set_len(end)?;
                    self.data.seek(SeekFrom::Start(end))?;
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        pending.truncate(keep);
        self.end = end;
        self.buffer.clear();
        Ok(true)
    }

    /// Forgets everything since the last commit and cuts the file back to it.
    fn abandon_uncommitted(&mut self, pending: &mut Vec<(Entry, bool)>) {
        pending.clear();
        self.buffer.clear();
        self.end = self.committed_end;
        let _ = self
            .data
            .set_len(self.committed_end)
            .and_then(|_| self.data.seek(SeekFrom::Start(self.committed_end)).map(|_| ()))
            .and_then(|_| self.data.sync_all());
    }
}

impl StickError {
    /// Whether this is the stick running out of space.
    pub fn is_full(&self) -> bool {
        matches!(self, StickError::Io { source, .. } if is_full(source))
    }
}

/// Opens our segment `number`, or notes that the stick is full (`None`): then there was
/// not even room for a new segment's header, and nothing of ours was committed there.
fn open_or_full(stick: &Stick, me: &str, number: u32, report: &mut SyncReport) -> Result<Option<Writer>, StickError> {
    match open_writer(stick, me, number) {
        Ok(w) => Ok(Some(w)),
        Err(e) if e.is_full() => {
            report.full = true;
            remove_if_empty(stick, me, number);
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Deletes a segment of ours that holds no committed record (a header at most).
fn remove_if_empty(stick: &Stick, me: &str, number: u32) {
    let base = segment_name(me, number);
    let seg = Segment {
        writer: me.to_string(),
        number,
        data: stick.folder.join(format!("{base}.seg")),
        index: stick.folder.join(format!("{base}.idx")),
    };
    if stick.entries(&seg).is_ok_and(|e| e.is_empty()) {
        let _ = std::fs::remove_file(&seg.index);
        let _ = std::fs::remove_file(&seg.data);
    }
}

fn is_full(e: &std::io::Error) -> bool {
    e.kind() == ErrorKind::StorageFull || e.raw_os_error() == Some(28) || e.kind() == ErrorKind::FileTooLarge
}

fn write_from(
    node: &mut Node,
    stick: &Stick,
    max_bytes: Option<u64>,
    report: &mut SyncReport,
    progress: &mut dyn FnMut(Progress),
) -> Result<(), StickError> {
    let me = node.node_id().to_string();
    let on_stick = stick.digests()?;
    let plan: Vec<_> =
        node.plan_export(Target::Everyone)?.into_iter().filter(|o| !on_stick.contains(&o.digest)).collect();
    if plan.is_empty() {
        return Ok(());
    }
    let mut number = stick.segments()?.iter().filter(|s| s.writer == me).map(|s| s.number).max().unwrap_or(0);
    let Some(mut w) = open_or_full(stick, &me, number, report)? else { return Ok(()) };
    let mut budget = max_bytes.unwrap_or(u64::MAX);
    let planned: u64 = plan.iter().map(|o| RECORD_HEADER_BYTES + o.bytes as u64 + INDEX_ENTRY_BYTES as u64).sum();
    let total = planned.min(budget);
    let mut done = 0u64;
    let mut pending: Vec<(Entry, bool)> = Vec::new();
    let mut unsynced = 0u64;
    // Fetch in groups: one store read per group, and bounded memory for big bundles.
    let mut queue: std::collections::VecDeque<(crate::node::Outgoing, Option<Vec<u8>>)> = Default::default();
    let mut rest = plan.into_iter().peekable();
    loop {
        if queue.is_empty() {
            let mut group = Vec::new();
            let mut group_bytes = 0u64;
            while let Some(o) = rest.next_if(|o| group.is_empty() || group_bytes + o.bytes as u64 <= FETCH_BYTES_MAX) {
                group_bytes += o.bytes as u64;
                group.push(o);
            }
            if group.is_empty() {
                break;
            }
            let digests: Vec<[u8; 32]> = group.iter().map(|o| o.digest).collect();
            queue.extend(group.into_iter().zip(node.bundles_bytes(&digests)?));
        }
        let Some((o, bytes)) = queue.pop_front() else { break };
        let Some(bytes) = bytes else { continue };
        let cost = RECORD_HEADER_BYTES + bytes.len() as u64 + INDEX_ENTRY_BYTES as u64;
        if cost > budget {
            report.full = true;
            break;
        }
        if w.end + cost > SEGMENT_BYTES_MAX && w.end > HEADER_BYTES {
            commit(&mut w, &mut pending, report)?;
            number += 1;
            let Some(next) = open_or_full(stick, &me, number, report)? else { return Ok(()) };
            w = next;
        }
        let entry =
            Entry { offset: w.end, len: bytes.len() as u32, expires_unix_ms: o.expires_unix_ms, digest: o.digest };
        w.buffer.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        w.buffer.extend_from_slice(&record_checksum(&bytes));
        w.buffer.extend_from_slice(&bytes);
        if w.buffer.len() >= WRITE_BUFFER_BYTES && w.drain(&mut pending).map_err(io(&w.data_path))? {
            report.full = true;
            break;
        }
        w.end += RECORD_HEADER_BYTES + bytes.len() as u64;
        budget -= cost;
        unsynced += cost;
        done += cost;
        progress(Progress::Writing { done, total });
        pending.push((entry, o.carried));
        if unsynced >= SYNC_EVERY_BYTES {
            commit(&mut w, &mut pending, report)?;
            unsynced = 0;
        }
    }
    commit(&mut w, &mut pending, report)
}

/// Syncs the data, then appends and syncs the index entries: only then do the records count.
/// If the stick is full, the uncommitted tail is cut off and what fit is committed.
fn commit(w: &mut Writer, pending: &mut Vec<(Entry, bool)>, report: &mut SyncReport) -> Result<(), StickError> {
    if pending.is_empty() {
        return Ok(());
    }
    match w.drain(pending) {
        Ok(full) => report.full |= full,
        Err(e) => return Err(io(&w.data_path)(e)),
    }
    if pending.is_empty() {
        return Ok(());
    }
    if let Err(e) = w.data.sync_data() {
        if !is_full(&e) {
            return Err(io(&w.data_path)(e));
        }
        // The data did not all reach the stick: none of it counts.
        report.full = true;
        w.abandon_uncommitted(pending);
        return Ok(());
    }
    let mut buf = Vec::with_capacity(pending.len() * INDEX_ENTRY_BYTES);
    for (e, _) in pending.iter() {
        buf.extend_from_slice(&e.encode());
    }
    let result = w.index.write_all(&buf).and_then(|_| w.index.sync_data());
    match result {
        Ok(()) => {
            w.index_len += buf.len() as u64;
            w.committed_end = w.end;
            for (e, carried) in pending.drain(..) {
                report.exported += 1;
                report.carried += carried as usize;
                report.bytes_written += RECORD_HEADER_BYTES + e.len as u64 + INDEX_ENTRY_BYTES as u64;
            }
            Ok(())
        }
        Err(e) if is_full(&e) => {
            // No room for the index: these records never counted. Cut both files back.
            report.full = true;
            let _ = w.index.set_len(w.index_len).and_then(|_| w.index.sync_all());
            w.abandon_uncommitted(pending);
            Ok(())
        }
        Err(e) => Err(io(&w.index_path)(e)),
    }
}
