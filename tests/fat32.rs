//! The village story on a real FAT32 filesystem: an image made by `mkfs.vfat -F 32`,
//! mounted through FUSE (`fusefat`), unmounted between villages like a stick pulled out
//! and carried. Needs dosfstools, fusefat and /dev/fuse; `.ci/run` installs the tools.

mod common;

use common::ok;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn have(tool: &str) -> bool {
    Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().is_ok_and(|o| o.status.success())
}

/// Whether this test can run here; says loudly why not. In CI the tools must be there.
fn fat_available() -> bool {
    if !Path::new("/dev/fuse").exists() {
        eprintln!("\n*** SKIPPING the FAT32 stick test: /dev/fuse is absent on this machine ***\n");
        return false;
    }
    let missing: Vec<&str> = ["mkfs.vfat", "fusefat", "fusermount"].into_iter().filter(|t| !have(t)).collect();
    if !missing.is_empty() {
        assert!(std::env::var_os("CI").is_none(), "CI must install dosfstools and fusefat (missing: {missing:?})");
        eprintln!(
            "\n*** SKIPPING the FAT32 stick test: {missing:?} not installed (apt-get install dosfstools fusefat) ***\n"
        );
        return false;
    }
    true
}

struct FatStick {
    image: PathBuf,
    mount: PathBuf,
    fuse: Option<Child>,
    _dir: tempfile::TempDir,
}

impl FatStick {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("stick.img");
        let mount = dir.path().join("mnt");
        std::fs::create_dir(&mount).unwrap();
        let out = Command::new("mkfs.vfat").args(["-F", "32", "-C"]).arg(&image).arg("65536").output().unwrap();
        assert!(out.status.success(), "mkfs.vfat: {}", String::from_utf8_lossy(&out.stderr));
        FatStick { image, mount, fuse: None, _dir: dir }
    }

    /// Plugs the stick in.
    fn plug(&mut self) -> &Path {
        let child = Command::new("fusefat")
            .args(["-f", "-o", "rw+"])
            .arg(&self.image)
            .arg(&self.mount)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.fuse = Some(child);
        let mount = self.mount.canonicalize().unwrap();
        let start = Instant::now();
        while !std::fs::read_to_string("/proc/mounts").unwrap().contains(mount.to_str().unwrap()) {
            assert!(start.elapsed() < Duration::from_secs(10), "fusefat did not mount");
            std::thread::sleep(Duration::from_millis(20));
        }
        &self.mount
    }

    /// Pulls it out, waiting until the image is fully written.
    fn unplug(&mut self) {
        let out = Command::new("fusermount").arg("-u").arg(&self.mount).output().unwrap();
        assert!(out.status.success(), "fusermount: {}", String::from_utf8_lossy(&out.stderr));
        if let Some(mut c) = self.fuse.take() {
            c.wait().unwrap();
        }
    }
}

impl Drop for FatStick {
    fn drop(&mut self) {
        if self.fuse.is_some() {
            let _ = Command::new("fusermount").arg("-u").arg(&self.mount).output();
            if let Some(mut c) = self.fuse.take() {
                let _ = c.wait();
            }
        }
    }
}

fn visit(home: &Path, stick: &mut FatStick) -> serde_json::Value {
    let mnt = stick.plug().to_path_buf();
    let r: serde_json::Value =
        serde_json::from_str(ok(home, &["sync", "--stick", mnt.to_str().unwrap(), "--json"]).trim()).unwrap();
    stick.unplug();
    assert_eq!(r["rejected"], 0, "{r}");
    assert_eq!(r["damaged"], 0, "{r}");
    r
}

fn put(home: &Path, cid: &str, text: &str) {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), text).unwrap();
    ok(home, &["wiki", "put", cid, "Water", "--file", f.path().to_str().unwrap()]);
}

#[test]
fn villages_converge_over_a_fat32_stick() {
    if !fat_available() {
        return;
    }
    let homes: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (a, b, c) = (homes[0].path(), homes[1].path(), homes[2].path());
    for (h, name) in [(a, "A"), (b, "B"), (c, "C")] {
        ok(h, &["init", "--name", name]);
    }
    let card = |h: &Path| ok(h, &["id"]).trim().to_string();
    ok(b, &["contact", "add", &card(a)]);
    ok(c, &["contact", "add", &card(a)]);
    ok(a, &["contact", "add", &card(b), "--audience", "friends"]);
    ok(a, &["profile", "set", "phone", "555-0100", "--audience", "friends"]);
    let cid = ok(a, &["community", "create", "Wells"]).lines().last().unwrap().trim().to_string();
    ok(a, &["community", "invite", &cid, &card(b), "--role", "editor"]);
    ok(a, &["community", "invite", &cid, &card(c), "--role", "member"]);
    let base = "line 1\nline 2\nline 3\n";
    put(a, &cid, base);

    let mut stick = FatStick::new();
    visit(a, &mut stick);
    visit(b, &mut stick);
    put(a, &cid, &base.replace("line 1", "line 1 (A)"));
    put(b, &cid, &base.replace("line 3", "line 3 (B)"));
    visit(b, &mut stick);
    visit(c, &mut stick);
    visit(a, &mut stick);
    visit(b, &mut stick);
    visit(c, &mut stick);
    let both = "line 1 (A)\nline 2\nline 3 (B)\n";
    for h in [a, b, c] {
        assert_eq!(ok(h, &["wiki", "get", &cid, "Water"]), both);
    }
    let a_node = serde_json::from_str::<serde_json::Value>(&ok(a, &["status", "--json"])).unwrap()["node"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(ok(b, &["profile", "show", &a_node]).contains("555-0100"));
    assert!(!ok(c, &["profile", "show", &a_node]).contains("555-0100"));

    // The image itself holds a few segment files, not one file per bundle.
    let mnt = stick.plug().to_path_buf();
    let files = std::fs::read_dir(mnt.join("caravan")).unwrap().count();
    stick.unplug();
    assert!(files <= 7, "{files} files in caravan/");
}
