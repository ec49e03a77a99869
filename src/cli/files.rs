//! Bundle files in a directory: one `<digest>.bundle` per bundle, written atomically.
//!
//! Files come from anywhere (a stick, a download): only regular files are read, a file
//! found inside a directory is never reached through a link, no open can hang on a FIFO,
//! and no file is read past one bundle's largest size.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use caravan::limits::BUNDLE_BYTES_MAX;
use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags};

/// A file to import.
pub struct BundleFile {
    pub path: PathBuf,
    /// Named on the command line (a link there is followed: the user typed it), rather
    /// than found in a directory.
    pub typed: bool,
}

fn describe(t: FileType) -> &'static str {
    match t {
        FileType::Symlink => "a symbolic link",
        FileType::Directory => "a directory",
        FileType::Fifo => "a FIFO",
        FileType::Socket => "a socket",
        FileType::CharacterDevice => "a character device",
        FileType::BlockDevice => "a block device",
        _ => "not a regular file",
    }
}

/// Writes each bundle as `<digest>.bundle`: to a new temporary name (created, never
/// opened through a link or over an existing file), synced, then renamed.
pub fn write_bundles(dir: &Path, bundles: &[Vec<u8>]) -> Result<usize, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut written = 0;
    for b in bundles {
        let name = format!("{}.bundle", &blake3::hash(b).to_hex()[..32]);
        let path = dir.join(&name);
        if path.exists() {
            continue;
        }
        // Write to a temporary name, sync, then rename: a reader never sees half a bundle.
        let tmp = dir.join(format!(".{name}.tmp"));
        let mut f = create_new(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
        f.write_all(b).and_then(|_| f.sync_all()).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))?;
        written += 1;
    }
    Ok(written)
}

/// `O_CREAT | O_EXCL | O_NOFOLLOW`; a leftover of an interrupted export (whatever it
/// is: removing a name never touches what a link points at) is removed first.
fn create_new(path: &Path) -> std::io::Result<File> {
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mode = Mode::from_raw_mode(0o644);
    match rfs::open(path, flags, mode) {
        Err(rustix::io::Errno::EXIST) => {
            std::fs::remove_file(path)?;
            Ok(File::from(rfs::open(path, flags, mode)?))
        }
        r => Ok(File::from(r?)),
    }
}

/// The files to import: files named, and every `*.bundle` in directories named.
pub fn list_bundle_files(paths: &[PathBuf]) -> Result<Vec<BundleFile>, String> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| format!("{}: {e}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "bundle"))
                .collect();
            files.sort();
            out.extend(files.into_iter().map(|path| BundleFile { path, typed: false }));
        } else if p.symlink_metadata().is_ok() {
            out.push(BundleFile { path: p.clone(), typed: true });
        } else {
            return Err(format!("{}: no such file or directory", p.display()));
        }
    }
    Ok(out)
}

/// Reads one bundle file: a regular file of at most `BUNDLE_BYTES_MAX` bytes.
pub fn read_bundle(f: &BundleFile) -> Result<Vec<u8>, String> {
    let mut flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK;
    if !f.typed {
        flags |= OFlags::NOFOLLOW;
        if let Ok(st) = rfs::statat(rfs::CWD, &f.path, AtFlags::SYMLINK_NOFOLLOW) {
            let t = FileType::from_raw_mode(st.st_mode);
            if t != FileType::RegularFile {
                return Err(describe(t).into());
            }
        }
    }
    let fd = rfs::open(&f.path, flags, Mode::empty()).map_err(|e| std::io::Error::from(e).to_string())?;
    let st = rfs::fstat(&fd).map_err(|e| std::io::Error::from(e).to_string())?;
    let t = FileType::from_raw_mode(st.st_mode);
    if t != FileType::RegularFile {
        return Err(describe(t).into());
    }
    let mut data = Vec::new();
    File::from(fd).take(BUNDLE_BYTES_MAX as u64 + 1).read_to_end(&mut data).map_err(|e| e.to_string())?;
    if data.len() > BUNDLE_BYTES_MAX {
        return Err(format!("larger than {BUNDLE_BYTES_MAX} bytes, the largest bundle Caravan reads"));
    }
    // Every bundle is a CBOR indefinite-length array (RFC 9171): a photo or a text file
    // is told apart before any decoding.
    if data.first() != Some(&0x9f) {
        return Err("not a Caravan bundle".into());
    }
    Ok(data)
}
