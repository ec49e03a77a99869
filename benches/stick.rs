//! Stick export and import, next to raw sequential I/O of the same bytes in the same run:
//! 10,000 bundles of 1 KiB and 4 bundles of 64 MiB, to a directory on the local disk
//! (goal: >= 70% of raw), and the 10,000 small ones to a FAT32 image through fusefat
//! (goal: <= 2x the time of writing the same bytes as one file). Stick bytes <= 1.1x payload.
//!
//! The node is a relay holding no keys, so the bundles are carried, not merged: this
//! measures the link, not the CRDT.

#![allow(missing_docs)]

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use caravan::link::stick;
use caravan::{CommunityId, Node};

fn bundles(count: usize, size: usize) -> Vec<Vec<u8>> {
    common::feed_bundles(CommunityId([9; 20]), 0, count, size)
}

fn relay_with(bundles: &[Vec<u8>]) -> (Node, tempfile::TempDir) {
    let home = tempfile::tempdir().unwrap();
    let mut node = Node::open(home.path(), "relay").unwrap();
    for chunk in bundles.chunks(1024) {
        let r = node.import_many(chunk.iter().map(Vec::as_slice)).unwrap();
        assert_eq!(r.waiting(), chunk.len());
    }
    (node, home)
}

fn raw_write(dir: &Path, bundles: &[Vec<u8>]) -> Duration {
    let path = dir.join("raw.bin");
    let start = Instant::now();
    let mut f = std::fs::File::create(&path).unwrap();
    for b in bundles {
        f.write_all(b).unwrap();
    }
    f.sync_all().unwrap();
    let t = start.elapsed();
    std::fs::remove_file(&path).ok();
    t
}

fn raw_read(dir: &Path, bundles: &[Vec<u8>]) -> Duration {
    let path = dir.join("raw.bin");
    let mut f = std::fs::File::create(&path).unwrap();
    for b in bundles {
        f.write_all(b).unwrap();
    }
    f.sync_all().unwrap();
    drop(f);
    let start = Instant::now();
    let mut buf = Vec::new();
    std::fs::File::open(&path).unwrap().read_to_end(&mut buf).unwrap();
    let t = start.elapsed();
    std::fs::remove_file(&path).ok();
    t
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn local(label: &str, set: &[Vec<u8>], rounds: usize) {
    let payload: u64 = set.iter().map(|b| b.len() as u64).sum();
    let (mut relay, _h) = relay_with(set);
    let (mut exports, mut imports, mut raws_w, mut raws_r) = (vec![], vec![], vec![], vec![]);
    let (mut floors, mut floors_one) = (vec![], vec![]);
    let mut stick_bytes = 0;
    for _ in 0..rounds {
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        raws_w.push(raw_write(dir.path(), set));
        let start = Instant::now();
        let r = stick::sync(&mut relay, dir.path(), Default::default()).unwrap();
        exports.push(start.elapsed());
        assert_eq!(r.exported, set.len());
        stick_bytes = dir_bytes(&dir.path().join("caravan"));
        raws_r.push(raw_read(dir.path(), set));
        floors.push(common::redb_store_only(dir.path(), set, 4096, 64 << 20));
        floors_one.push(common::redb_store_only(dir.path(), set, usize::MAX, usize::MAX));
        let (mut fresh, _fh) = relay_with(&[]);
        let start = Instant::now();
        let r = stick::sync(&mut fresh, dir.path(), Default::default()).unwrap();
        imports.push(start.elapsed());
        assert_eq!(r.waiting, set.len());
    }
    let (e, i, w, rd) = (median(exports), median(imports), median(raws_w), median(raws_r));
    let (fl, fl1) = (median(floors), median(floors_one));
    let mbs = |d: Duration| payload as f64 / d.as_secs_f64() / 1e6;
    println!("{label}: {} bundles, {:.1} MB", set.len(), payload as f64 / 1e6);
    println!(
        "  export  {:>8.1} MB/s  raw write+fsync {:>8.1} MB/s  ratio {:>4.0}%",
        mbs(e),
        mbs(w),
        w.as_secs_f64() / e.as_secs_f64() * 100.0
    );
    println!(
        "  import  {:>8.1} MB/s  raw read        {:>8.1} MB/s  ratio {:>4.0}%",
        mbs(i),
        mbs(rd),
        rd.as_secs_f64() / i.as_secs_f64() * 100.0
    );
    println!(
        "  redb store alone {:>8.1} MB/s (same bundles, same transactions, no checks); import / store alone {:>4.0}%",
        mbs(fl),
        fl.as_secs_f64() / i.as_secs_f64() * 100.0
    );
    println!(
        "  redb store alone, one commit {:>8.1} MB/s: ceiling for any import into redb, overlapping reads perfectly: {:>4.0}% of raw read",
        mbs(fl1),
        rd.as_secs_f64() / rd.max(fl.min(fl1)).as_secs_f64() * 100.0
    );
    println!("  stick bytes / payload bytes: {:.3}", stick_bytes as f64 / payload as f64);
}

struct Fat {
    mount: std::path::PathBuf,
    child: Child,
}

impl Fat {
    fn mount(image: &Path, mount: &Path) -> Option<Fat> {
        let child = Command::new("fusefat")
            .args(["-f", "-o", "rw+"])
            .arg(image)
            .arg(mount)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let m = mount.canonicalize().ok()?;
        let start = Instant::now();
        while !std::fs::read_to_string("/proc/mounts").ok()?.contains(m.to_str()?) {
            if start.elapsed() > Duration::from_secs(10) {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Fat { mount: mount.to_path_buf(), child })
    }
}

impl Drop for Fat {
    fn drop(&mut self) {
        let _ = Command::new("fusermount").arg("-u").arg(&self.mount).output();
        let _ = self.child.wait();
    }
}

fn fat(set: &[Vec<u8>]) {
    if !Path::new("/dev/fuse").exists() || Command::new("mkfs.vfat").arg("--help").output().is_err() {
        println!("FAT32 image: skipped (needs /dev/fuse, dosfstools and fusefat)");
        return;
    }
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let (image, mnt) = (dir.path().join("stick.img"), dir.path().join("mnt"));
    std::fs::create_dir(&mnt).unwrap();
    let out = Command::new("mkfs.vfat").args(["-F", "32", "-C"]).arg(&image).arg("262144").output().unwrap();
    assert!(out.status.success());
    let (mut relay, _h) = relay_with(set);
    let raw = {
        let _m = Fat::mount(&image, &mnt).expect("mount");
        raw_write(&mnt, set)
    };
    let ours = {
        let _m = Fat::mount(&image, &mnt).expect("mount");
        let start = Instant::now();
        let r = stick::sync(&mut relay, &mnt, Default::default()).unwrap();
        assert_eq!(r.exported, set.len());
        start.elapsed()
    };
    println!(
        "FAT32 image via fusefat, {} bundles: stick export {:.2} s, one raw file {:.2} s: {:.2}x (goal <= 2x)",
        set.len(),
        ours.as_secs_f64(),
        raw.as_secs_f64(),
        ours.as_secs_f64() / raw.as_secs_f64()
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let small = bundles(10_000, 1024);
    local("10,000 x 1 KiB to a local directory", &small, 3);
    fat(&small);
    drop(small);
    let large = bundles(4, 64 * 1024 * 1024 - 64 * 1024);
    local("4 x 64 MiB to a local directory", &large, 2);
}
