//! A USB stick (or any directory) as a link: append-only segment files of checksummed
//! records, one writer per segment, with an index that lets a reader skip what it has.
//! `spec/stick.md` is the normative description of the layout and the write protocol.
//!
//! The stick is a foreign filesystem. Every file on it is reached through a handle on the
//! `caravan/` folder without following links (`dir`); only regular files are opened,
//! every read is capped, and a writer appends only behind headers it wrote itself. An
//! entry that breaks these rules is skipped, named in [`SyncReport::skipped`], and the
//! rest of the stick is still read and written.
//!
//! The parts: `layout` (names, headers, entries), `read` (listing and reading
//! segments), `write` (appending to this node's own segment).

mod dir;
mod layout;
mod read;
mod write;

use std::collections::HashSet;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::limits::{STICK_MARKER_BYTES_MAX, STICK_SKIPPED_LINES_MAX};
use crate::link::LinkNode;

pub use layout::{Entry, FOLDER, MARKER, MARKER_LINE, SEGMENT_BYTES_MAX};

/// The name a node's stick files go by (`<name>-<nnnnnn>.seg`), from its stick header
/// key (`Node::stick_header_key`): a pseudonym, not its node id.
pub fn writer_name(header_key: &[u8; 32]) -> String {
    layout::pseudonym(header_key).to_string()
}

use dir::{Dir, OpenDir, Problem};

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
    /// The `caravan/` folder or its marker is not what it must be (a symbolic link, a
    /// device, ...): the whole stick is refused and nothing is changed.
    #[error("{path}: {what}; not touching this stick")]
    Refused {
        /// The entry.
        path: PathBuf,
        /// What it is instead.
        what: String,
    },
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

impl StickError {
    /// Whether this is the stick running out of space.
    pub fn is_full(&self) -> bool {
        matches!(self, StickError::Io { source, .. } if is_full(source))
    }
}

fn is_full(e: &std::io::Error) -> bool {
    e.kind() == ErrorKind::StorageFull || e.raw_os_error() == Some(28) || e.kind() == ErrorKind::FileTooLarge
}

/// A segment: its data file and index file (names inside `caravan/`), and who wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// The writer's stick pseudonym (text; not its node id).
    pub writer: String,
    /// Sequence number among the writer's segments.
    pub number: u32,
    /// Data file name.
    pub data: String,
    /// Index file name (it may not exist).
    pub index: String,
    /// Size of the index file when listed (an estimate for progress only).
    index_bytes: u64,
}

/// An opened stick folder.
pub struct Stick {
    folder: PathBuf,
    /// `None` when the folder does not exist (opened without `create`).
    dir: Option<Dir>,
}

impl Stick {
    /// Opens `<root>/caravan`, creating it (and its marker) if `create` and absent. The
    /// root may be a link; `caravan/` must be a real folder holding a regular marker file
    /// whose first line is [`MARKER_LINE`].
    pub fn open(root: &Path, create: bool) -> Result<Self, StickError> {
        let folder = root.join(FOLDER);
        let opened = if create { Dir::create(root, FOLDER) } else { Dir::open(root, FOLDER).map(|d| (d, false)) };
        let (dir, created) = match opened {
            Ok(opened) => opened,
            Err(OpenDir::NoRoot) => return Err(StickError::Missing(root.to_path_buf())),
            Err(OpenDir::Absent) if !create => return Ok(Stick { folder, dir: None }),
            Err(OpenDir::Absent) => {
                return Err(io(&folder)(std::io::Error::new(ErrorKind::NotFound, "folder vanished while opened")));
            }
            Err(OpenDir::NotADirectory(p)) => {
                return Err(StickError::Refused { path: folder, what: format!("{}, not a folder", p.describe()) });
            }
            Err(OpenDir::Io(e)) => return Err(io(&folder)(e)),
        };
        let marker = dir.path_of(MARKER);
        match dir.open_read(MARKER) {
            Ok(mut f) => {
                let text = dir::read_capped(&mut f, STICK_MARKER_BYTES_MAX).ok().flatten();
                let first = text.as_deref().map(|t| t.split(|&b| b == b'\n').next().unwrap_or_default());
                let first = first.map(|l| l.strip_suffix(b"\r").unwrap_or(l));
                if first != Some(MARKER_LINE.as_bytes()) {
                    return Err(StickError::Foreign(folder));
                }
                if create {
                    // Find out now, before anything is imported, whether we can write here.
                    dir.probe_append(MARKER).map_err(|p| problem(&marker, p))?;
                }
            }
            Err(Problem::Absent) if created => write_marker(&dir)?,
            Err(Problem::Absent) | Err(Problem::Io(_)) => return Err(StickError::Foreign(folder)),
            Err(p) => {
                return Err(StickError::Refused {
                    path: marker,
                    what: format!("{}, not a Caravan marker", p.describe()),
                });
            }
        }
        Ok(Stick { folder, dir: Some(dir) })
    }

    /// All segments on the stick whose data file is a regular file (and whose index is a
    /// regular file or absent), by writer and number.
    pub fn segments(&self) -> Result<Vec<Segment>, StickError> {
        let Some(dir) = &self.dir else { return Ok(Vec::new()) };
        Ok(read::scan(dir, &mut SyncReport::default())?.segments)
    }

    /// The committed entries of a segment's index: every valid entry up to the first
    /// torn or damaged one (at most `limits::STICK_SEGMENT_RECORDS_MAX`).
    pub fn entries(&self, seg: &Segment) -> Result<Vec<Entry>, StickError> {
        let Some(dir) = &self.dir else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        if let Some(mut r) = read::SegmentReader::open(dir, seg).map_err(|(name, p)| problem(&dir.path_of(&name), p))? {
            while let Some(e) = r.next().map_err(io(&dir.path_of(&seg.index)))? {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// Digests of every committed bundle on the stick (for inspection; a sync streams
    /// the indexes instead of collecting them).
    pub fn digests(&self) -> Result<HashSet<[u8; 32]>, StickError> {
        let mut out = HashSet::new();
        for seg in self.segments()? {
            out.extend(self.entries(&seg)?.into_iter().map(|e| e.digest));
        }
        Ok(out)
    }

    /// The folder's path.
    pub fn folder(&self) -> &Path {
        &self.folder
    }
}

/// An entry's problem as an error (for the public inspection calls and the marker).
fn problem(path: &Path, p: Problem) -> StickError {
    match p {
        Problem::Io(e) => io(path)(e),
        p => StickError::Io { path: path.to_path_buf(), source: std::io::Error::other(p.describe()) },
    }
}

/// Creates the marker in a new (empty) folder.
fn write_marker(dir: &Dir) -> Result<(), StickError> {
    use std::io::Write;
    let path = dir.path_of(MARKER);
    let mut f = dir.create_new(MARKER).map_err(io(&path))?;
    f.write_all(format!("{MARKER_LINE}\nBundles carried by Caravan. Do not edit; safe to delete.\n").as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(io(&path))
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
    /// Stick entries not used, one line each naming the entry and why: links, devices,
    /// FIFOs and folders where a file was expected, files of ours this node did not
    /// write (`caravan/<name>.idx: a symbolic link, skipped`). At most
    /// `limits::STICK_SKIPPED_LINES_MAX` lines, then one saying more were skipped.
    pub skipped: Vec<String>,
    /// Wall time, milliseconds.
    pub millis: u128,
}

impl SyncReport {
    /// Notes a skipped entry: one line per entry (`caravan/<name>: why`), the first said.
    fn skip(&mut self, line: String) {
        let entry = |l: &str| l.split_once(": ").map(|(e, _)| e.to_string());
        if self.skipped.iter().any(|l| entry(l) == entry(&line)) {
            return;
        }
        if self.skipped.len() < STICK_SKIPPED_LINES_MAX {
            self.skipped.push(line);
        } else if self.skipped.len() == STICK_SKIPPED_LINES_MAX {
            self.skipped.push(format!("{FOLDER}/: more entries skipped than listed here"));
        }
    }
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
#[non_exhaustive]
pub enum Progress {
    /// Reading: records examined so far, of all committed records on the stick.
    Reading {
        /// Records examined.
        done: usize,
        /// Committed records on the stick (an estimate until the end).
        total: usize,
    },
    /// Checking and storing a batch of bundles just read (signatures, rules, merge),
    /// which can take longer than reading them.
    Storing {
        /// Bundles in this batch.
        bundles: usize,
        /// Bundles checked and stored before it.
        before: usize,
    },
    /// Choosing and sealing what to leave on the stick.
    Planning,
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
pub fn sync<N: LinkNode>(node: &mut N, root: &Path, mut options: SyncOptions) -> Result<SyncReport, StickError> {
    let start = Instant::now();
    let mut report = SyncReport::default();
    let stick = Stick::open(root, true)?;
    let dir = stick.dir.as_ref().expect("created by open");
    let now = node.now();
    let mut quiet = |_: Progress| {};
    let progress: &mut dyn FnMut(Progress) = match options.progress.take() {
        Some(p) => p,
        None => &mut quiet,
    };
    let mut scan = read::scan(dir, &mut report)?;
    let dead = read::read_into(node, dir, &scan, now, &mut report, progress)?;
    report.expired_segments = read::drop_expired(dir, &mut scan, &dead, &mut report)?;
    write::write_from(node, dir, &scan, options.max_bytes, &mut report, progress)?;
    report.millis = start.elapsed().as_millis();
    Ok(report)
}
