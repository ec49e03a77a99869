//! Writing to a stick: appending to this node's own segment, and only behind headers this
//! node wrote and checked; anything else named like ours is left alone and a new segment
//! is started.

use std::collections::{HashSet, VecDeque};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use super::dir::{Dir, Problem};
use super::layout::{
    Entry, FOLDER, HEADER_BYTES, INDEX_ENTRY_BYTES, INDEX_MAGIC, RECORD_HEADER_BYTES, SEGMENT_BYTES_MAX, SEGMENT_MAGIC,
    SEGMENT_NUMBER_MAX, header, header_is_ours, record_checksum, segment_base,
};
use super::read::{IndexStream, Scan, for_each_entry};
use super::{Progress, StickError, SyncReport, io, is_full};
use crate::identity::NodeId;
use crate::limits::{
    FETCH_BYTES_MAX, STICK_CREATE_TRIES_MAX, STICK_SEGMENT_RECORDS_MAX, SYNC_EVERY_BYTES, WRITE_BUFFER_BYTES,
};
use crate::link::LinkNode;
use crate::report::Outgoing;
use crate::sync::Target;

/// Who writes: this node's stick pseudonym and the key of its headers.
struct Me {
    id: NodeId,
    text: String,
    key: [u8; 32],
}

/// Our open segment, repaired: data cut back to the end of its last indexed record (an
/// unindexed or torn tail never counted), index cut back to its last valid entry.
struct Writer {
    number: u32,
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
    /// Records in the segment, committed or pending.
    records: u64,
}

/// Why our segment `number` cannot be appended to: the file and what is wrong with it.
struct NotOurs {
    name: String,
    why: String,
}

/// Opens our segment `number` for appending if both its files are regular files with one
/// name each, holding headers this node wrote for them. A verified data file whose index
/// is missing (a writer stopped between the two) gets a new index. `Ok(None)`: there is
/// no data file by that name.
fn open_existing(dir: &Dir, me: &Me, number: u32) -> Result<Result<Option<Writer>, NotOurs>, StickError> {
    let base = segment_base(&me.text, number);
    let (data_name, index_name) = (format!("{base}.seg"), format!("{base}.idx"));
    let (data_path, index_path) = (dir.path_of(&data_name), dir.path_of(&index_name));
    let not_ours = |name: &str, why: String| Ok(Err(NotOurs { name: name.to_string(), why }));
    let mut data = match dir.open_write(&data_name) {
        Ok(f) => f,
        Err(Problem::Absent) => return Ok(Ok(None)),
        Err(p) => return not_ours(&data_name, p.describe()),
    };
    if !header_ok(&mut data, SEGMENT_MAGIC, me, number) {
        return not_ours(&data_name, "header not written by this node".into());
    }
    let index = match dir.open_write(&index_name) {
        Ok(mut f) => {
            if !header_ok(&mut f, INDEX_MAGIC, me, number) {
                return not_ours(&index_name, "header not written by this node".into());
            }
            f
        }
        Err(Problem::Absent) => create_with_header(dir, &index_name, &header(INDEX_MAGIC, &me.id, number, &me.key))
            .map_err(io(&index_path))?,
        Err(p) => return not_ours(&index_name, p.describe()),
    };
    let data_len = data.metadata().map_err(io(&data_path))?.len();
    // The entries that count tell where the committed data ends.
    let mut stream =
        IndexStream::open(index.try_clone().map_err(io(&index_path))?, data_len).map_err(io(&index_path))?;
    while stream.next().map_err(io(&index_path))?.is_some() {}
    let (end, records) = (stream.end(), stream.count);
    let index_len = HEADER_BYTES + records * INDEX_ENTRY_BYTES as u64;
    let mut index = index;
    if data_len != end {
        // A torn or unindexed tail never counted: cut it off.
        data.set_len(end).and_then(|_| data.sync_all()).map_err(io(&data_path))?;
    }
    if index.metadata().map_err(io(&index_path))?.len() != index_len {
        index.set_len(index_len).and_then(|_| index.sync_all()).map_err(io(&index_path))?;
    }
    data.seek(SeekFrom::Start(end)).map_err(io(&data_path))?;
    index.seek(SeekFrom::Start(index_len)).map_err(io(&index_path))?;
    Ok(Ok(Some(Writer {
        number,
        data,
        index,
        data_path,
        index_path,
        end,
        committed_end: end,
        index_len,
        buffer: Vec::new(),
        records,
    })))
}

/// Whether a file starts with the header this node writes for it (at most one sector read).
fn header_ok(file: &mut File, magic: &[u8; 8], me: &Me, number: u32) -> bool {
    let mut h = Vec::new();
    let read = (&mut *file).take(HEADER_BYTES).read_to_end(&mut h);
    read.is_ok() && header_is_ours(&h, magic, &me.id, number, &me.key)
}

/// Creates a new file (never an existing name, never through a link) holding `header`.
fn create_with_header(dir: &Dir, name: &str, header: &[u8]) -> std::io::Result<File> {
    let mut f = dir.create_new(name)?;
    if let Err(e) = f.write_all(header).and_then(|_| f.sync_all()) {
        dir.remove_created(name, &f);
        return Err(e);
    }
    Ok(f)
}

/// Creates our segment `number`, or the next free number if that name is taken. A
/// writer that cannot even create its segment's headers leaves nothing behind.
fn create_segment(dir: &Dir, me: &Me, mut number: u32, report: &mut SyncReport) -> Result<Writer, StickError> {
    for _ in 0..STICK_CREATE_TRIES_MAX {
        if number > SEGMENT_NUMBER_MAX {
            break;
        }
        let base = segment_base(&me.text, number);
        let (data_name, index_name) = (format!("{base}.seg"), format!("{base}.idx"));
        let (data_path, index_path) = (dir.path_of(&data_name), dir.path_of(&index_name));
        let data = match create_with_header(dir, &data_name, &header(SEGMENT_MAGIC, &me.id, number, &me.key)) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                report.skip(format!("{FOLDER}/{data_name}: already there, not written by this sync; left alone"));
                number += 1;
                continue;
            }
            Err(e) => return Err(io(&data_path)(e)),
        };
        let index = match create_with_header(dir, &index_name, &header(INDEX_MAGIC, &me.id, number, &me.key)) {
            Ok(f) => f,
            Err(e) => {
                dir.remove_created(&data_name, &data);
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    report.skip(format!("{FOLDER}/{index_name}: already there, not written by this sync; left alone"));
                    number += 1;
                    continue;
                }
                return Err(io(&index_path)(e));
            }
        };
        return Ok(Writer {
            number,
            data,
            index,
            data_path,
            index_path,
            end: HEADER_BYTES,
            committed_end: HEADER_BYTES,
            index_len: HEADER_BYTES,
            buffer: Vec::new(),
            records: 0,
        });
    }
    Err(StickError::Io {
        path: dir.path().to_path_buf(),
        source: std::io::Error::other("no free segment name left for this node"),
    })
}

/// The segment to append to: our highest-numbered one if it is ours to write, else a new
/// one numbered above every name of ours on the stick. `None` if the stick is full.
fn open_current(
    dir: &Dir,
    me: &Me,
    highest: Option<u32>,
    report: &mut SyncReport,
) -> Result<Option<Writer>, StickError> {
    let next = match highest {
        None => 0,
        Some(n) => match open_existing(dir, me, n) {
            Ok(Ok(Some(w))) => return Ok(Some(w)),
            Ok(Ok(None)) => n + 1,
            Ok(Err(NotOurs { name, why })) => {
                report.skip(format!("{FOLDER}/{name}: {why}; left alone, a new segment started"));
                n + 1
            }
            Err(e) if e.is_full() => {
                report.full = true;
                return Ok(None);
            }
            Err(e) => return Err(e),
        },
    };
    full_is_none(create_segment(dir, me, next, report), report)
}

fn full_is_none(r: Result<Writer, StickError>, report: &mut SyncReport) -> Result<Option<Writer>, StickError> {
    match r {
        Ok(w) => Ok(Some(w)),
        Err(e) if e.is_full() => {
            report.full = true;
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

impl Writer {
    /// Hands buffered records to the file (not yet synced). If the stick fills up, places
    /// as many whole buffered records as fit, forgets the others, and returns `true`.
    fn drain(&mut self, pending: &mut Vec<(Entry, bool)>) -> std::io::Result<bool> {
        match self.data.write_all(&self.buffer) {
            Ok(()) => {
                self.buffer.clear();
                return Ok(false);
            }
            Err(e) if is_full(&e) => {}
            Err(e) => return Err(e),
        }
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
        self.records -= (pending.len() - keep) as u64;
        pending.truncate(keep);
        self.end = end;
        self.buffer.clear();
        Ok(true)
    }

    /// Forgets everything since the last commit and cuts the file back to it.
    fn abandon_uncommitted(&mut self, pending: &mut Vec<(Entry, bool)>) {
        self.records -= pending.len() as u64;
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

/// Plans an export to everyone, strikes out what the stick's indexes already hold (read
/// as a stream: only the plan, bounded by our own store, is held in memory), and appends
/// the rest to our own segment.
pub(super) fn write_from<N: LinkNode>(
    node: &mut N,
    dir: &Dir,
    scan: &Scan,
    max_bytes: Option<u64>,
    report: &mut SyncReport,
    progress: &mut dyn FnMut(Progress),
) -> Result<(), StickError> {
    // Our files go by a pseudonym, not our node id: a stick's holder links our segments
    // to each other, never to us.
    let key = node.stick_header_key();
    let id = super::layout::pseudonym(&key);
    let me = Me { id, text: id.to_string(), key };
    progress(Progress::Planning);
    let mut plan = node.plan_export(Target::Everyone)?;
    if plan.is_empty() {
        return Ok(());
    }
    let mut wanted: HashSet<[u8; 32]> = plan.iter().map(|o| o.digest).collect();
    for_each_entry(dir, &scan.segments, report, |e| {
        wanted.remove(&e.digest);
        !wanted.is_empty()
    });
    plan.retain(|o| wanted.contains(&o.digest));
    drop(wanted);
    if plan.is_empty() {
        return Ok(());
    }
    let Some(mut w) = open_current(dir, &me, scan.highest.get(&me.text).copied(), report)? else { return Ok(()) };
    let mut budget = max_bytes.unwrap_or(u64::MAX);
    let planned: u64 = plan.iter().map(|o| RECORD_HEADER_BYTES + o.bytes as u64 + INDEX_ENTRY_BYTES as u64).sum();
    let total = planned.min(budget);
    let mut done = 0u64;
    let mut pending: Vec<(Entry, bool)> = Vec::new();
    let mut unsynced = 0u64;
    // Fetch in groups: one store read per group, and bounded memory for big bundles.
    let mut queue: VecDeque<(Outgoing, Option<Vec<u8>>)> = Default::default();
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
        let too_big = w.end + cost > SEGMENT_BYTES_MAX && w.end > HEADER_BYTES;
        if too_big || w.records >= STICK_SEGMENT_RECORDS_MAX {
            commit(&mut w, &mut pending, report)?;
            let next = w.number + 1;
            let Some(n) = full_is_none(create_segment(dir, &me, next, report), report)? else { return Ok(()) };
            w = n;
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
        w.records += 1;
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
