//! File access on a stick: every entry is reached through a handle on the `caravan/`
//! directory, by its bare name, never following a link, and only regular files are
//! opened. A stick is a foreign filesystem: a symbolic link, a hard link, a device, a
//! FIFO or a directory may sit where a segment, an index or the marker is expected, and
//! none of them may lead Caravan outside the stick or hang it.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

/// Flags on every open of a stick entry: never follow a link, never keep the descriptor
/// across an exec, never take a terminal, and never wait (a FIFO must not hang the open).
const ENTRY_FLAGS: OFlags = OFlags::NOFOLLOW.union(OFlags::CLOEXEC).union(OFlags::NOCTTY).union(OFlags::NONBLOCK);

/// Why an entry is not used.
#[derive(Debug)]
pub(super) enum Problem {
    /// There is no such entry.
    Absent,
    /// The entry is not a regular file.
    Kind(FileType),
    /// A regular file with other names (hard links): never written.
    Linked(u64),
    /// The entry could not be examined, opened or read.
    Io(io::Error),
}

impl Problem {
    /// What the entry is, for a report line: "a symbolic link", "a FIFO", ...
    pub(super) fn describe(&self) -> String {
        match self {
            Problem::Absent => "missing".into(),
            Problem::Kind(FileType::Symlink) => "a symbolic link".into(),
            Problem::Kind(FileType::Directory) => "a directory".into(),
            Problem::Kind(FileType::Fifo) => "a FIFO".into(),
            Problem::Kind(FileType::Socket) => "a socket".into(),
            Problem::Kind(FileType::CharacterDevice) => "a character device".into(),
            Problem::Kind(FileType::BlockDevice) => "a block device".into(),
            Problem::Kind(_) => "not a regular file".into(),
            Problem::Linked(n) => format!("a file with {n} names (hard links)"),
            Problem::Io(e) => e.to_string(),
        }
    }
}

impl From<Errno> for Problem {
    fn from(e: Errno) -> Self {
        if e == Errno::NOENT { Problem::Absent } else { Problem::Io(e.into()) }
    }
}

fn kind(st: &Stat) -> FileType {
    FileType::from_raw_mode(st.st_mode)
}

/// What `st` is, if it is not a regular file with at most `links_max` names.
fn check(st: &Stat, links_max: Option<u64>) -> Result<(), Problem> {
    match kind(st) {
        FileType::RegularFile => {}
        other => return Err(Problem::Kind(other)),
    }
    // `st_nlink` is 32 bits on some targets.
    #[allow(clippy::unnecessary_cast)]
    let links = st.st_nlink as u64;
    match links_max {
        Some(max) if links > max => Err(Problem::Linked(links)),
        _ => Ok(()),
    }
}

/// Clears `O_NONBLOCK` on a descriptor known to be a regular file (where it means
/// nothing to Linux, but a FUSE driver might take it literally).
fn blocking(fd: OwnedFd) -> io::Result<File> {
    let flags = rfs::fcntl_getfl(&fd)?;
    rfs::fcntl_setfl(&fd, flags - OFlags::NONBLOCK)?;
    Ok(File::from(fd))
}

/// An open handle on the stick's `caravan/` folder.
pub(super) struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

/// How a folder could not be opened.
#[derive(Debug)]
pub(super) enum OpenDir {
    /// The root is missing or not a directory.
    NoRoot,
    /// `caravan/` does not exist.
    Absent,
    /// `caravan/` is not a real directory (a link, a file, ...).
    NotADirectory(Problem),
    /// Another failure.
    Io(io::Error),
}

impl Dir {
    /// Opens `<root>/caravan`. The root may be a link (the user typed it); `caravan/`
    /// itself must be a real directory.
    pub(super) fn open(root: &Path, folder: &str) -> Result<Dir, OpenDir> {
        let root_fd = Self::open_root(root)?;
        Self::open_in(&root_fd, root, folder)
    }

    fn open_root(root: &Path) -> Result<OwnedFd, OpenDir> {
        rfs::open(root, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).map_err(|e| match e {
            Errno::NOENT | Errno::NOTDIR => OpenDir::NoRoot,
            e => OpenDir::Io(e.into()),
        })
    }

    fn open_in(root_fd: &OwnedFd, root: &Path, folder: &str) -> Result<Dir, OpenDir> {
        let st = rfs::statat(root_fd, folder, AtFlags::SYMLINK_NOFOLLOW).map_err(|e| match e {
            Errno::NOENT => OpenDir::Absent,
            e => OpenDir::Io(e.into()),
        })?;
        if kind(&st) != FileType::Directory {
            return Err(OpenDir::NotADirectory(Problem::Kind(kind(&st))));
        }
        let fd = rfs::openat(
            root_fd,
            folder,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| match e {
            // Swapped for a link or a file since the check.
            Errno::LOOP | Errno::NOTDIR => OpenDir::NotADirectory(Problem::Kind(FileType::Symlink)),
            Errno::NOENT => OpenDir::Absent,
            e => OpenDir::Io(e.into()),
        })?;
        Ok(Dir { fd, path: root.join(folder) })
    }

    /// Opens `<root>/caravan`, creating it if absent; `true` if it was created.
    pub(super) fn create(root: &Path, folder: &str) -> Result<(Dir, bool), OpenDir> {
        let root_fd = Self::open_root(root)?;
        let created = match rfs::mkdirat(&root_fd, folder, Mode::from_raw_mode(0o755)) {
            Ok(()) => true,
            Err(Errno::EXIST) => false,
            Err(e) => return Err(OpenDir::Io(e.into())),
        };
        Ok((Self::open_in(&root_fd, root, folder)?, created))
    }

    /// The folder's path, for messages.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// A name's path, for messages.
    pub(super) fn path_of(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// The entry's status, without following a link.
    pub(super) fn stat(&self, name: &str) -> Result<Stat, Problem> {
        Ok(rfs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW)?)
    }

    /// Checks the entry is a regular file (with at most `links_max` names), opens it
    /// without following, and checks the open file again (it may have been swapped).
    fn open_file(&self, name: &str, access: OFlags, links_max: Option<u64>) -> Result<File, Problem> {
        check(&self.stat(name)?, links_max)?;
        let fd = rfs::openat(&self.fd, name, access | ENTRY_FLAGS, Mode::empty())?;
        check(&rfs::fstat(&fd).map_err(|e| Problem::Io(e.into()))?, links_max)?;
        blocking(fd).map_err(Problem::Io)
    }

    /// Opens a regular file for reading.
    pub(super) fn open_read(&self, name: &str) -> Result<File, Problem> {
        self.open_file(name, OFlags::RDONLY, None)
    }

    /// Opens a regular file with exactly one name for reading and writing.
    pub(super) fn open_write(&self, name: &str) -> Result<File, Problem> {
        self.open_file(name, OFlags::RDWR, Some(1))
    }

    /// Opens a regular file for appending, without writing: whether the stick is writable.
    pub(super) fn probe_append(&self, name: &str) -> Result<File, Problem> {
        self.open_file(name, OFlags::WRONLY | OFlags::APPEND, None)
    }

    /// Creates a new regular file; fails if the name exists in any form (`EEXIST`).
    pub(super) fn create_new(&self, name: &str) -> io::Result<File> {
        let access = OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | ENTRY_FLAGS;
        let fd = rfs::openat(&self.fd, name, access, Mode::from_raw_mode(0o644))?;
        blocking(fd)
    }

    /// Removes a regular file. Anything else is left alone and named in the error.
    pub(super) fn remove_regular(&self, name: &str) -> Result<(), Problem> {
        check(&self.stat(name)?, None)?;
        rfs::unlinkat(&self.fd, name, AtFlags::empty())?;
        Ok(())
    }

    /// Removes a file this process created and still holds open, if the name still
    /// leads to it.
    pub(super) fn remove_created(&self, name: &str, file: &File) {
        let (Ok(named), Ok(held)) = (self.stat(name), rfs::fstat(file.as_fd())) else { return };
        if named.st_dev == held.st_dev && named.st_ino == held.st_ino {
            let _ = rfs::unlinkat(&self.fd, name, AtFlags::empty());
        }
    }

    /// The folder's entry names (without `.` and `..`), at most `max` entries looked at;
    /// `true` if there were more.
    pub(super) fn list(&self, max: usize) -> io::Result<(Vec<String>, bool)> {
        let mut names = Vec::new();
        for (seen, entry) in rfs::Dir::read_from(&self.fd)?.enumerate() {
            if seen == max {
                return Ok((names, true));
            }
            let entry = entry?;
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            // Caravan's own names are ASCII; any other name is not one of ours.
            if let Ok(name) = std::str::from_utf8(name) {
                names.push(name.to_string());
            }
        }
        Ok((names, false))
    }
}

/// Reads at most `max` bytes from `file`; `Ok(None)` if it holds more. Grows the buffer
/// as bytes arrive: a size claimed by the filesystem is never trusted for allocation.
pub(super) fn read_capped(file: &mut File, max: usize) -> io::Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    let read = file.take(max as u64 + 1).read_to_end(&mut out)?;
    Ok((read <= max).then_some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn only_regular_files_are_opened_and_only_single_links_written() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let secret = outside.path().join("secret");
        std::fs::write(&secret, b"keep").unwrap();
        let (dir, created) = Dir::create(root.path(), "caravan").unwrap();
        assert!(created);
        let folder = root.path().join("caravan");
        std::os::unix::fs::symlink(&secret, folder.join("link")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", folder.join("zero")).unwrap();
        std::fs::create_dir(folder.join("sub")).unwrap();
        std::fs::hard_link(&secret, folder.join("hard")).unwrap();
        rfs::mkfifoat(&dir.fd, "fifo", Mode::from_raw_mode(0o600)).unwrap();
        std::fs::write(folder.join("plain"), b"x").unwrap();

        let what = |r: Result<File, Problem>| r.err().map(|p| p.describe());
        assert_eq!(what(dir.open_read("link")).as_deref(), Some("a symbolic link"));
        assert_eq!(what(dir.open_write("zero")).as_deref(), Some("a symbolic link"));
        assert_eq!(what(dir.open_read("sub")).as_deref(), Some("a directory"));
        assert_eq!(what(dir.open_read("fifo")).as_deref(), Some("a FIFO"));
        assert!(matches!(dir.open_read("none"), Err(Problem::Absent)));
        assert!(dir.open_read("hard").is_ok(), "a hard link may be read");
        assert!(matches!(dir.open_write("hard"), Err(Problem::Linked(2))));
        dir.open_write("plain").unwrap().write_all(b"y").unwrap();
        assert_eq!(dir.create_new("link").unwrap_err().kind(), io::ErrorKind::AlreadyExists);
        assert!(matches!(dir.remove_regular("link"), Err(Problem::Kind(FileType::Symlink))));
        dir.remove_regular("hard").unwrap();
        assert_eq!(std::fs::read(&secret).unwrap(), b"keep");

        // The folder itself as a link is refused.
        let other = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(root.path().join("caravan"), other.path().join("caravan")).unwrap();
        assert!(matches!(Dir::open(other.path(), "caravan"), Err(OpenDir::NotADirectory(_))));
        assert!(matches!(Dir::create(other.path(), "caravan"), Err(OpenDir::NotADirectory(_))));
        let (names, more) = dir.list(3).unwrap();
        assert!(more && names.len() <= 3, "{names:?}");
    }

    #[test]
    fn reads_are_capped() {
        let mut zero = File::open("/dev/zero").unwrap();
        assert!(read_capped(&mut zero, 4096).unwrap().is_none());
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), b"abc").unwrap();
        assert_eq!(read_capped(&mut File::open(f.path()).unwrap(), 3).unwrap().as_deref(), Some(&b"abc"[..]));
        assert!(read_capped(&mut File::open(f.path()).unwrap(), 2).unwrap().is_none());
    }
}
