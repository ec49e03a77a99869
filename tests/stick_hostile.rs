//! A stick is a foreign filesystem. Each case takes a stick that real syncs have written,
//! plants a hostile entry where Caravan expects a segment, an index, its marker or its
//! folder (symbolic links to the node's own keys and store or to /dev/zero, a directory,
//! FIFOs, a 10 GB sparse index, planted headers, a hard link to a file outside the
//! stick), syncs, and checks: the sync succeeds and names the entry (or refuses the whole
//! stick where the rule says so), nothing outside the stick changed, and the rest of the
//! stick was still read and written. `caravan import` and `export` meet the same files.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use caravan::link::stick::{self, SyncReport};
use caravan::{CommunityId, Node, Role};
use common::file_digest;

/// Three villages in one community, each with its own segment on one stick: A founded
/// it; B and C each left a page that no one else has read yet.
struct World {
    homes: [tempfile::TempDir; 3],
    stick: tempfile::TempDir,
    cid: CommunityId,
}

const A: usize = 0;
const B: usize = 1;
const C: usize = 2;

impl World {
    fn new() -> World {
        let homes = [(); 3].map(|_| tempfile::tempdir().unwrap());
        let stick = tempfile::tempdir().unwrap();
        let mut a = Node::open(homes[A].path(), "A").unwrap();
        let mut b = Node::open(homes[B].path(), "B").unwrap();
        let mut c = Node::open(homes[C].path(), "C").unwrap();
        b.add_contact(&a.card(), &[]).unwrap();
        c.add_contact(&a.card(), &[]).unwrap();
        let cid = a.create_community("Wells", "").unwrap();
        a.invite(&cid, &b.card(), Role::Editor).unwrap();
        a.invite(&cid, &c.card(), Role::Editor).unwrap();
        a.put_wiki_page(&cid, "Water", "from A\n").unwrap();
        for n in [&mut a, &mut b, &mut c] {
            clean(stick::sync(n, stick.path(), Default::default()).unwrap());
        }
        clean(stick::sync(&mut a, stick.path(), Default::default()).unwrap());
        b.put_wiki_page(&cid, "B", "from B\n").unwrap();
        clean(stick::sync(&mut b, stick.path(), Default::default()).unwrap());
        c.put_wiki_page(&cid, "C", "from C\n").unwrap();
        clean(stick::sync(&mut c, stick.path(), Default::default()).unwrap());
        World { homes, stick, cid }
    }

    fn home(&self, i: usize) -> &Path {
        self.homes[i].path()
    }

    fn open(&self, i: usize) -> Node {
        Node::open(self.home(i), "").unwrap()
    }

    fn folder(&self) -> PathBuf {
        self.stick.path().join("caravan")
    }

    /// The file name of node `i`'s segment `number`, `ext` "seg" or "idx".
    fn name(&self, i: usize, number: u32, ext: &str) -> String {
        format!("{}-{number:06}.{ext}", caravan::link::stick::writer_name(&self.open(i).stick_header_key()))
    }

    fn file(&self, i: usize, number: u32, ext: &str) -> PathBuf {
        self.folder().join(self.name(i, number, ext))
    }

    /// A writes a new page, then syncs in this process.
    fn a_writes_and_syncs(&self) -> SyncReport {
        let mut a = self.open(A);
        a.put_wiki_page(&self.cid, "A", "new from A\n").unwrap();
        stick::sync(&mut a, self.stick.path(), Default::default()).unwrap()
    }

    /// A writes a new page, then syncs through the binary (which must finish in time).
    fn a_writes_and_syncs_binary(&self) -> (serde_json::Value, String) {
        let mut a = self.open(A);
        a.put_wiki_page(&self.cid, "A", "new from A\n").unwrap();
        drop(a);
        let out = run(self.home(A), &["sync", "--stick", self.stick.path().to_str().unwrap(), "--json"]);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "sync failed: {err}");
        (serde_json::from_slice(&out.stdout).unwrap(), err)
    }

    fn page(&self, i: usize, page: &str) -> Option<String> {
        self.open(i).wiki_page(&self.cid, page).unwrap()
    }

    /// What A wrote reaches B: A's new segment is whole and readable.
    fn b_reads_what_a_wrote(&self) {
        let mut b = self.open(B);
        let r = stick::sync(&mut b, self.stick.path(), Default::default()).unwrap();
        assert_eq!((r.damaged, r.rejected.len()), (0, 0), "{r:?}");
        assert_eq!(b.wiki_page(&self.cid, "A").unwrap().as_deref(), Some("new from A\n"), "{r:?}");
    }

    /// Every file in the stick's folder and its digest (links by their target).
    fn snapshot(&self) -> Vec<(String, String)> {
        snapshot(&self.folder())
    }
}

fn clean(r: SyncReport) {
    assert!(r.skipped.is_empty() && r.rejected.is_empty() && r.damaged == 0, "{r:?}");
}

fn snapshot(dir: &Path) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let meta = std::fs::symlink_metadata(e.path()).unwrap();
            let what = if meta.file_type().is_symlink() {
                format!("-> {}", std::fs::read_link(e.path()).unwrap().display())
            } else if meta.is_file() {
                file_digest(&e.path()).to_hex().to_string()
            } else {
                format!("{:?}", meta.file_type())
            };
            (e.file_name().to_string_lossy().into_owned(), what)
        })
        .collect();
    out.sort();
    out
}

/// Runs the binary; fails the test if it has not finished within 60 s (a FIFO or an
/// endless file must never hang it).
fn run(home: &Path, args: &[&str]) -> std::process::Output {
    let out = tempfile::tempdir().unwrap();
    let (so, se) = (out.path().join("out"), out.path().join("err"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_caravan"))
        .arg("--home")
        .arg(home)
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&so).unwrap())
        .stderr(std::fs::File::create(&se).unwrap())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("caravan {args:?} hung: killed after 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    std::process::Output { status, stdout: std::fs::read(so).unwrap(), stderr: std::fs::read(se).unwrap() }
}

fn skipped_names(r: &SyncReport, name: &str, what: &str) -> bool {
    r.skipped.iter().any(|l| l.contains(&format!("caravan/{name}: {what}")))
}

fn json_skipped(v: &serde_json::Value) -> Vec<String> {
    v["skipped"].as_array().unwrap().iter().map(|l| l.as_str().unwrap().to_string()).collect()
}

fn mkfifo(path: &Path) {
    rustix::fs::mkfifoat(rustix::fs::CWD, path, rustix::fs::Mode::from_raw_mode(0o600)).unwrap();
}

#[test]
fn links_named_like_our_next_segment_never_touch_the_home() {
    let w = World::new();
    let (a_home, b_home) = (w.home(A).to_path_buf(), w.home(B).to_path_buf());
    // Our next segment and its index lead to our own identity and store.
    let (seg, idx) = (w.name(A, 1, "seg"), w.name(A, 1, "idx"));
    std::os::unix::fs::symlink(a_home.join("identity.key"), w.folder().join(&seg)).unwrap();
    std::os::unix::fs::symlink(a_home.join("caravan.redb"), w.folder().join(&idx)).unwrap();
    let identity = file_digest(&a_home.join("identity.key"));

    let r = w.a_writes_and_syncs();
    assert!(skipped_names(&r, &seg, "a symbolic link"), "{r:?}");
    assert!(skipped_names(&r, &idx, "a symbolic link"), "{r:?}");
    assert_eq!(file_digest(&a_home.join("identity.key")), identity);
    let store = std::fs::read(a_home.join("caravan.redb")).unwrap();
    // Still a redb file (redb may shrink its file, so its length proves nothing), never
    // an index, and it still reads (below).
    assert!(
        store.starts_with(b"redb\x1a\x0a\xa9\x0d") && !store.starts_with(b"CVN"),
        "the store was written as an index"
    );
    // The rest of the stick was read (B's and C's pages) and written (in a new segment).
    assert_eq!(w.page(A, "B").as_deref(), Some("from B\n"));
    assert_eq!(w.page(A, "C").as_deref(), Some("from C\n"));
    assert_eq!(w.page(A, "Water").as_deref(), Some("from A\n"), "A's store still reads");
    assert!(r.exported >= 1, "{r:?}");
    assert!(w.file(A, 2, "seg").is_file() && w.file(A, 2, "idx").is_file());
    assert_eq!(std::fs::read_link(w.folder().join(&seg)).unwrap(), a_home.join("identity.key"));
    assert_eq!(std::fs::read_link(w.folder().join(&idx)).unwrap(), a_home.join("caravan.redb"));
    w.b_reads_what_a_wrote();

    // Again through the binary, with links to another node's home (closed, so every byte
    // must stay): B's store as our next segment, B's identity as its index.
    let (seg, idx) = (w.name(A, 3, "seg"), w.name(A, 3, "idx"));
    std::os::unix::fs::symlink(b_home.join("caravan.redb"), w.folder().join(&seg)).unwrap();
    std::os::unix::fs::symlink(b_home.join("identity.key"), w.folder().join(&idx)).unwrap();
    let before = [file_digest(&b_home.join("caravan.redb")), file_digest(&b_home.join("identity.key"))];
    let mut a = w.open(A);
    a.put_wiki_page(&w.cid, "A2", "again\n").unwrap();
    drop(a);
    let out = run(&a_home, &["sync", "--stick", w.stick.path().to_str().unwrap(), "--json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let lines = json_skipped(&v);
    assert!(lines.iter().any(|l| l == &format!("caravan/{seg}: a symbolic link, skipped")), "{v}");
    assert!(lines.iter().any(|l| l == &format!("caravan/{idx}: a symbolic link, skipped")), "{v}");
    assert!(err.contains(&format!("caravan/{seg}: a symbolic link")), "{err}");
    assert!(v["exported"].as_u64().unwrap() >= 1, "{v}");
    assert_eq!([file_digest(&b_home.join("caravan.redb")), file_digest(&b_home.join("identity.key"))], before);
    assert!(w.file(A, 4, "seg").is_file(), "a new segment above every name of ours");
}

#[test]
fn an_index_that_is_a_directory_is_skipped_and_the_rest_read() {
    let w = World::new();
    let idx = w.name(B, 0, "idx");
    std::fs::remove_file(w.folder().join(&idx)).unwrap();
    std::fs::create_dir(w.folder().join(&idx)).unwrap();
    let r = w.a_writes_and_syncs();
    assert!(skipped_names(&r, &idx, "a directory"), "{r:?}");
    assert_eq!(w.page(A, "C").as_deref(), Some("from C\n"), "C's segment was still read");
    assert_eq!(w.page(A, "B"), None, "B's records have no index to count them");
    assert!(r.exported >= 1, "{r:?}");
    assert!(w.folder().join(&idx).is_dir());
    w.b_reads_what_a_wrote();
}

#[test]
fn an_index_linked_to_dev_zero_is_skipped_by_the_binary() {
    let w = World::new();
    let idx = w.name(B, 0, "idx");
    std::fs::remove_file(w.folder().join(&idx)).unwrap();
    std::os::unix::fs::symlink("/dev/zero", w.folder().join(&idx)).unwrap();
    let (v, err) = w.a_writes_and_syncs_binary();
    assert!(json_skipped(&v).contains(&format!("caravan/{idx}: a symbolic link, skipped")), "{v}");
    assert!(err.contains(&format!("caravan/{idx}: a symbolic link, skipped")), "{err}");
    assert!(v["exported"].as_u64().unwrap() >= 1, "{v}");
    assert_eq!(w.page(A, "C").as_deref(), Some("from C\n"));
    w.b_reads_what_a_wrote();
}

#[test]
fn fifos_as_index_and_as_segments_never_hang_a_sync() {
    let w = World::new();
    // B's index, and our own next segment, are FIFOs: opening one to read would wait for
    // a writer forever.
    let idx = w.name(B, 0, "idx");
    std::fs::remove_file(w.folder().join(&idx)).unwrap();
    mkfifo(&w.folder().join(&idx));
    let (own_seg, own_idx) = (w.name(A, 1, "seg"), w.name(A, 1, "idx"));
    mkfifo(&w.folder().join(&own_seg));
    mkfifo(&w.folder().join(&own_idx));
    let (v, err) = w.a_writes_and_syncs_binary();
    let lines = json_skipped(&v);
    for name in [&idx, &own_seg] {
        assert!(lines.contains(&format!("caravan/{name}: a FIFO, skipped")), "{v}");
        assert!(err.contains(&format!("caravan/{name}: a FIFO")), "{err}");
    }
    assert!(v["exported"].as_u64().unwrap() >= 1, "{v}");
    assert_eq!(w.page(A, "C").as_deref(), Some("from C\n"));
    assert!(w.file(A, 2, "seg").is_file());
    w.b_reads_what_a_wrote();

    // A FIFO as segment data, met by a new reader: C's segment skipped, A's still read.
    let seg = w.name(C, 0, "seg");
    std::fs::remove_file(w.folder().join(&seg)).unwrap();
    mkfifo(&w.folder().join(&seg));
    let d = tempfile::tempdir().unwrap();
    common::ok(d.path(), &["init", "--name", "D"]);
    let out = run(d.path(), &["sync", "--stick", w.stick.path().to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(json_skipped(&v).contains(&format!("caravan/{seg}: a FIFO, skipped")), "{v}");
    assert!(v["records"].as_u64().unwrap() > 0, "A's segments were still read: {v}");
}

/// Peak resident memory of this test process, in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

#[test]
fn a_ten_gigabyte_sparse_index_costs_bounded_memory_and_time() {
    let w = World::new();
    // B's real index, followed by 10 GB of holes.
    let idx = w.file(B, 0, "idx");
    std::fs::OpenOptions::new().write(true).open(&idx).unwrap().set_len(10 << 30).unwrap();
    let start = Instant::now();
    let r = w.a_writes_and_syncs();
    let took = start.elapsed();
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(peak_rss() < 1 << 30, "peak resident memory {} MiB", peak_rss() >> 20);
    assert!(r.skipped.is_empty(), "{r:?}");
    // The entries before the holes still count.
    assert_eq!(w.page(A, "B").as_deref(), Some("from B\n"));
    assert_eq!(w.page(A, "C").as_deref(), Some("from C\n"));
    assert!(r.exported >= 1, "{r:?}");
    w.b_reads_what_a_wrote();
}

#[test]
fn files_named_like_ours_with_headers_we_did_not_write_are_left_alone() {
    let w = World::new();
    // Zeros where our next segment's header should be.
    let (seg, idx) = (w.file(A, 1, "seg"), w.file(A, 1, "idx"));
    std::fs::write(&seg, [0u8; 512]).unwrap();
    std::fs::write(&idx, [0u8; 512]).unwrap();
    let r = w.a_writes_and_syncs();
    let name = w.name(A, 1, "seg");
    assert!(r.skipped.iter().any(|l| l.contains(&name) && l.contains("header not written by this node")), "{r:?}");
    assert_eq!((std::fs::read(&seg).unwrap(), std::fs::read(&idx).unwrap()), (vec![0u8; 512], vec![0u8; 512]));
    assert!(w.file(A, 2, "seg").is_file(), "a new segment was started");
    w.b_reads_what_a_wrote();

    // Another node's real segment copied under our next name: a valid magic, a foreign
    // writer. Readers may still read it; we never append to it.
    let (seg, idx) = (w.file(A, 3, "seg"), w.file(A, 3, "idx"));
    std::fs::copy(w.file(B, 0, "seg"), &seg).unwrap();
    std::fs::copy(w.file(B, 0, "idx"), &idx).unwrap();
    let before = (file_digest(&seg), file_digest(&idx));
    let mut a = w.open(A);
    a.put_wiki_page(&w.cid, "A3", "third\n").unwrap();
    let r = stick::sync(&mut a, w.stick.path(), Default::default()).unwrap();
    drop(a);
    let name = w.name(A, 3, "seg");
    assert!(r.skipped.iter().any(|l| l.contains(&name) && l.contains("header not written by this node")), "{r:?}");
    assert_eq!((file_digest(&seg), file_digest(&idx)), before);
    assert!(r.exported >= 1, "{r:?}");
    assert!(w.file(A, 4, "seg").is_file());
    let mut b = w.open(B);
    stick::sync(&mut b, w.stick.path(), Default::default()).unwrap();
    assert_eq!(b.wiki_page(&w.cid, "A3").unwrap().as_deref(), Some("third\n"));
}

#[test]
fn a_hard_link_to_a_file_outside_the_stick_is_never_written() {
    let w = World::new();
    // Our own current segment, moved out of the stick and linked back in: its header is
    // ours, but it has two names.
    let outside = tempfile::tempdir_in(w.stick.path().parent().unwrap()).unwrap();
    let seg = w.file(A, 0, "seg");
    let away = outside.path().join("elsewhere.bin");
    std::fs::rename(&seg, &away).unwrap();
    std::fs::hard_link(&away, &seg).unwrap();
    let before = file_digest(&away);
    let r = w.a_writes_and_syncs();
    assert!(skipped_names(&r, &w.name(A, 0, "seg"), "a file with 2 names (hard links)"), "{r:?}");
    assert_eq!(file_digest(&away), before);
    assert!(r.exported >= 1, "{r:?}");
    assert!(w.file(A, 1, "seg").is_file(), "a new segment was started");
    assert_eq!(w.page(A, "C").as_deref(), Some("from C\n"));
    w.b_reads_what_a_wrote();
}

#[test]
fn a_folder_that_is_a_link_refuses_the_stick_and_changes_nothing() {
    let w = World::new();
    // The real folder moves elsewhere; the stick holds only a link to it.
    let elsewhere = tempfile::tempdir().unwrap();
    let target = elsewhere.path().join("caravan");
    std::fs::rename(w.folder(), &target).unwrap();
    std::os::unix::fs::symlink(&target, w.folder()).unwrap();
    let before = snapshot(&target);
    let mut a = w.open(A);
    a.put_wiki_page(&w.cid, "A", "new from A\n").unwrap();
    let err = stick::sync(&mut a, w.stick.path(), Default::default()).unwrap_err();
    assert!(err.to_string().contains("a symbolic link, not a folder"), "{err}");
    drop(a);
    let status = common::ok(w.home(A), &["status", "--json"]);

    let out = run(w.home(A), &["sync", "--stick", w.stick.path().to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("caravan: a symbolic link, not a folder; not touching this stick"), "{err}");
    assert_eq!(snapshot(&target), before, "nothing written through the link");
    assert_eq!(std::fs::read_dir(w.stick.path()).unwrap().count(), 1, "nothing written beside it");
    assert_eq!(common::ok(w.home(A), &["status", "--json"]), status, "the refused sync stored nothing");
    assert_eq!(w.page(A, "B"), None, "nothing was read through the link");
}

#[test]
fn a_marker_linked_to_dev_zero_refuses_the_stick_in_bounded_time() {
    let w = World::new();
    let marker = w.folder().join("CARAVAN.TXT");
    std::fs::remove_file(&marker).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &marker).unwrap();
    let before = w.snapshot();
    let status = common::ok(w.home(A), &["status", "--json"]);
    let out = run(w.home(A), &["sync", "--stick", w.stick.path().to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("CARAVAN.TXT: a symbolic link, not a Caravan marker"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!(w.snapshot(), before);
    assert_eq!(common::ok(w.home(A), &["status", "--json"]), status);
    assert_eq!(w.page(A, "B"), None, "nothing was read");

    // A marker that is a huge regular file is read only as far as its first 4 KiB.
    std::fs::remove_file(&marker).unwrap();
    let f = std::fs::File::create(&marker).unwrap();
    f.set_len(10 << 30).unwrap();
    let out = run(w.home(A), &["sync", "--stick", w.stick.path().to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not written by Caravan"));
}

#[test]
fn import_refuses_links_fifos_and_oversized_files_by_name_and_takes_the_rest() {
    let w = World::new();
    let dir = tempfile::tempdir().unwrap();
    common::ok(w.home(A), &["export", "--out", dir.path().to_str().unwrap()]);
    let good = std::fs::read_dir(dir.path()).unwrap().count();
    assert!(good >= 3);
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero.bundle")).unwrap();
    mkfifo(&dir.path().join("fifo.bundle"));
    let big = std::fs::File::create(dir.path().join("big.bundle")).unwrap();
    big.set_len(caravan::limits::BUNDLE_BYTES_MAX as u64 + 1).unwrap();
    drop(big);

    let d = tempfile::tempdir().unwrap();
    common::ok(d.path(), &["init", "--name", "D"]);
    let out = run(d.path(), &["import", dir.path().to_str().unwrap(), "--json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["read"].as_u64().unwrap() as usize, good, "{v}");
    assert_eq!(v["refused"], 3, "{v}");
    assert_eq!(v["rejected"], 0, "{v}");
    let line = |name: &str| err.lines().find(|l| l.contains(name)).map(str::to_string);
    assert!(line("zero.bundle").is_some_and(|l| l.contains("a symbolic link")), "{err}");
    assert!(line("fifo.bundle").is_some_and(|l| l.contains("a FIFO")), "{err}");
    assert!(line("big.bundle").is_some_and(|l| l.contains("larger than")), "{err}");
    let taken = ["new", "waiting", "duplicate"].map(|k| v[k].as_u64().unwrap());
    assert_eq!(taken.iter().sum::<u64>() as usize, good, "{v}");

    // A file named on the command line may be a link (the user typed it), but must
    // still lead to a regular file; importing nothing at all is a failure.
    let out = run(d.path(), &["import", dir.path().join("zero.bundle").to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("a character device") && err.contains("nothing could be imported"), "{err}");
}

#[test]
fn export_never_writes_through_a_planted_temporary_file() {
    let w = World::new();
    let dir = tempfile::tempdir().unwrap();
    common::ok(w.home(A), &["export", "--out", dir.path().to_str().unwrap()]);
    let victim = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(victim.path(), b"precious").unwrap();
    // Take one bundle away and put a link where its temporary file will be made.
    let first = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().path()).min().unwrap();
    let name = first.file_name().unwrap().to_str().unwrap().to_string();
    let bytes = std::fs::read(&first).unwrap();
    std::fs::remove_file(&first).unwrap();
    std::os::unix::fs::symlink(victim.path(), dir.path().join(format!(".{name}.tmp"))).unwrap();
    let out = common::ok(w.home(A), &["export", "--out", dir.path().to_str().unwrap()]);
    assert!(out.contains("new files"), "{out}");
    assert_eq!(std::fs::read(victim.path()).unwrap(), b"precious");
    assert!(std::fs::symlink_metadata(&first).unwrap().is_file());
    assert_eq!(std::fs::read(&first).unwrap(), bytes);
}
