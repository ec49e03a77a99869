//! Sticks that are full or read-only, on real filesystems (small tmpfs mounts). Needs
//! root for `mount`; skips loudly otherwise.

mod common;

use common::{caravan, ok};
use std::path::PathBuf;
use std::process::Command;

struct Mount {
    dir: tempfile::TempDir,
}

impl Mount {
    fn tmpfs(size: &str) -> Option<Mount> {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            eprintln!("\n*** SKIPPING full/read-only stick tests: cannot mount tmpfs here (needs root) ***\n");
            return None;
        }
        Some(Mount { dir })
    }
    fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
    fn read_only(&self) {
        let out = Command::new("mount").args(["-o", "remount,ro"]).arg(self.dir.path()).output().unwrap();
        assert!(out.status.success());
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).output();
    }
}

use common::sync_json as sync;

/// A founder with a community, 60 posts of ~1 KB, and a member who knows the founder.
fn busy_pair() -> (tempfile::TempDir, tempfile::TempDir, String) {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    ok(a.path(), &["init", "--name", "A"]);
    ok(b.path(), &["init", "--name", "B"]);
    let card_a = ok(a.path(), &["id"]).trim().to_string();
    let card_b = ok(b.path(), &["id"]).trim().to_string();
    ok(b.path(), &["contact", "add", &card_a]);
    let cid = ok(a.path(), &["community", "create", "Wells"]).lines().last().unwrap().trim().to_string();
    ok(a.path(), &["community", "invite", &cid, &card_b, "--role", "member"]);
    // Separate exports make separate bundles.
    let scratch = tempfile::tempdir().unwrap();
    for i in 0..60 {
        ok(a.path(), &["post", &cid, &format!("{i} {}", "x".repeat(1000 + i))]);
        ok(a.path(), &["export", "--out", scratch.path().to_str().unwrap()]);
    }
    (a, b, cid)
}

#[test]
fn a_full_stick_keeps_what_fit_and_the_rest_follows_on_the_next_trip() {
    let Some(small) = Mount::tmpfs("48k") else { return };
    let (a, b, cid) = busy_pair();
    let r = sync(a.path(), &small.path());
    assert_eq!(r["full"], true, "{r}");
    let fit = r["exported"].as_u64().unwrap();
    assert!(fit > 5, "{r}");
    let out = caravan(a.path(), &["sync", "--stick", small.path().to_str().unwrap()]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("The stick is full: the rest waits for the next trip."), "{said}");

    // What fit is whole and readable.
    let at_b = sync(b.path(), &small.path());
    assert_eq!(at_b["damaged"], 0, "{at_b}");
    assert_eq!(at_b["records"].as_u64().unwrap(), fit, "{at_b}");

    // A bigger stick on the next trip carries the rest.
    let big = tempfile::tempdir().unwrap();
    sync(a.path(), big.path());
    sync(b.path(), big.path());
    let feed: serde_json::Value = serde_json::from_str(&ok(b.path(), &["feed", &cid, "--json"])).unwrap();
    assert_eq!(feed.as_array().unwrap().len(), 60);
}

#[test]
fn a_read_only_stick_is_named_and_the_store_is_untouched() {
    let Some(stick) = Mount::tmpfs("1m") else { return };
    let (a, b, _cid) = busy_pair();
    sync(a.path(), &stick.path());
    stick.read_only();
    let before = ok(b.path(), &["status", "--json"]);
    let out = caravan(b.path(), &["sync", "--stick", stick.path().to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("read-only"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!(ok(b.path(), &["status", "--json"]), before);
}
