//! `caravan sync --stick` through the real binary, on a plain directory: the village
//! story, a stick cut short, a damaged record, a size limit, a foreign folder, and two
//! writers taking turns.

mod common;

use common::{caravan, ok};
use std::path::Path;

use common::sync_json as sync;

struct Village {
    home: tempfile::TempDir,
}

impl Village {
    fn new(name: &str) -> Self {
        let home = tempfile::tempdir().unwrap();
        ok(home.path(), &["init", "--name", name]);
        Village { home }
    }
    fn p(&self) -> &Path {
        self.home.path()
    }
    fn card(&self) -> String {
        ok(self.p(), &["id"]).trim().to_string()
    }
    fn put(&self, cid: &str, text: &str) {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        ok(self.p(), &["wiki", "put", cid, "Water", "--file", f.path().to_str().unwrap()]);
    }
    fn page(&self, cid: &str) -> String {
        ok(self.p(), &["wiki", "get", cid, "Water"])
    }
}

const BASE: &str = "line 1\nline 2\nline 3\n";

/// A founds a community with B (editor) and C (member), all knowing A's card.
fn three_villages() -> (Village, Village, Village, String) {
    let (a, b, c) = (Village::new("A"), Village::new("B"), Village::new("C"));
    for v in [&b, &c] {
        ok(v.p(), &["contact", "add", &a.card()]);
    }
    let cid = ok(a.p(), &["community", "create", "Wells"]).lines().last().unwrap().trim().to_string();
    ok(a.p(), &["community", "invite", &cid, &b.card(), "--role", "editor"]);
    ok(a.p(), &["community", "invite", &cid, &c.card(), "--role", "member"]);
    a.put(&cid, BASE);
    (a, b, c, cid)
}

#[test]
fn villages_swap_one_stick_and_a_third_converges_from_it() {
    let (a, b, c, cid) = three_villages();
    let stick = tempfile::tempdir().unwrap();
    let first = sync(a.p(), stick.path());
    assert!(first["exported"].as_u64().unwrap() >= 5, "{first}");
    let at_b = sync(b.p(), stick.path());
    assert_eq!(at_b["rejected"], 0);
    assert_eq!(b.page(&cid), BASE);

    // Both edit different lines of the same page, then swap the stick back and forth.
    a.put(&cid, &BASE.replace("line 1", "line 1 (A)"));
    b.put(&cid, &BASE.replace("line 3", "line 3 (B)"));
    sync(b.p(), stick.path());
    sync(a.p(), stick.path());
    sync(b.p(), stick.path());
    let both = "line 1 (A)\nline 2\nline 3 (B)\n";
    assert_eq!(a.page(&cid), both);
    assert_eq!(b.page(&cid), both);

    // C only ever sees the stick after B.
    let at_c = sync(c.p(), stick.path());
    assert_eq!(at_c["rejected"], 0, "{at_c}");
    assert_eq!(c.page(&cid), both);

    // A second visit reads nothing new and writes nothing twice. (A copy whose release
    // list came first is known by its release hash, not its digest: it is opened again,
    // and is a duplicate again.)
    let again = sync(c.p(), stick.path());
    assert_eq!(again["new"], 0, "{again}");
    assert_eq!((again["rejected"].as_u64(), again["waiting"].as_u64()), (Some(0), Some(0)), "{again}");
    assert!(again["known"].as_u64().unwrap() + 2 >= again["records"].as_u64().unwrap(), "{again}");
    assert_eq!(again["exported"], 0, "{again}");
}

fn segments(stick: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(stick.join("caravan"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    v.sort();
    v
}

#[test]
fn a_stick_cut_short_or_damaged_loses_only_the_damaged_records() {
    let (a, b, _c, cid) = three_villages();
    let stick = tempfile::tempdir().unwrap();
    let written = sync(a.p(), stick.path())["exported"].as_u64().unwrap();
    let seg = segments(stick.path()).pop().unwrap();

    // Pulled out mid-write: the last record is cut in half.
    let len = std::fs::metadata(&seg).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&seg).unwrap().set_len(len - 40).unwrap();
    let r = sync(b.p(), stick.path());
    assert_eq!(r["records"].as_u64().unwrap(), written - 1, "{r}");
    assert_eq!(r["new"].as_u64().unwrap() + r["waiting"].as_u64().unwrap(), written - 1, "{r}");

    // The writer repairs its segment on the next visit and writes the lost bundle again.
    let again = sync(a.p(), stick.path());
    assert!(again["exported"].as_u64().unwrap() >= 1, "{again}");
    let r = sync(b.p(), stick.path());
    assert_eq!(r["damaged"], 0, "{r}");
    assert_eq!(b.page(&cid), BASE);

    // A flipped byte inside a record: that record is skipped, the ones after it are read.
    let d = Village::new("D");
    let mut bytes = std::fs::read(&seg).unwrap();
    let mid = bytes.len() / 3;
    bytes[mid] ^= 0x55;
    std::fs::write(&seg, &bytes).unwrap();
    let r = sync(d.p(), stick.path());
    assert_eq!(r["damaged"], 1, "{r}");
    assert!(r["new"].as_u64().unwrap() + r["waiting"].as_u64().unwrap() >= written - 1, "{r}");
}

#[test]
fn a_size_limit_stops_cleanly_and_the_rest_goes_next_time() {
    let (a, b, _c, cid) = three_villages();
    let stick = tempfile::tempdir().unwrap();
    let s = stick.path().to_str().unwrap();
    let out: serde_json::Value =
        serde_json::from_str(ok(a.p(), &["sync", "--stick", s, "--max-bytes", "1500", "--json"]).trim()).unwrap();
    assert_eq!(out["full"], true, "{out}");
    assert!(out["bytes_written"].as_u64().unwrap() <= 1500, "{out}");
    let first = out["exported"].as_u64().unwrap();
    let rest = sync(a.p(), stick.path());
    assert!(rest["exported"].as_u64().unwrap() >= 1, "{rest}");
    assert_eq!(rest["full"], false);
    sync(b.p(), stick.path());
    assert_eq!(b.page(&cid), BASE, "after {first} + {} bundles", rest["exported"]);
}

#[test]
fn a_foreign_folder_is_left_alone_with_a_clear_message() {
    let a = Village::new("A");
    let stick = tempfile::tempdir().unwrap();
    std::fs::create_dir(stick.path().join("caravan")).unwrap();
    std::fs::write(stick.path().join("caravan/holiday.jpg"), b"not ours").unwrap();
    let before = ok(a.p(), &["status", "--json"]);
    let out = caravan(a.p(), &["sync", "--stick", stick.path().to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not written by Caravan"), "{err}");
    assert_eq!(err.trim().lines().count(), 1);
    assert_eq!(std::fs::read(stick.path().join("caravan/holiday.jpg")).unwrap(), b"not ours");
    assert_eq!(ok(a.p(), &["status", "--json"]), before);
    let missing = caravan(a.p(), &["sync", "--stick", "/no/such/stick"]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("is the stick mounted"));
}

#[test]
fn two_writers_taking_turns_for_twenty_trips() {
    let (a, b, _c, cid) = three_villages();
    let stick = tempfile::tempdir().unwrap();
    for trip in 0..20 {
        let writer = if trip % 2 == 0 { &a } else { &b };
        // Arrive: take what is on the stick; edit; leave the edit on the stick.
        for step in 0..2 {
            let r = sync(writer.p(), stick.path());
            assert_eq!(r["rejected"], 0, "trip {trip}: {r}");
            assert_eq!(r["damaged"], 0, "trip {trip}: {r}");
            if step == 0 {
                let current = writer.page(&cid);
                writer.put(&cid, &format!("{current}trip {trip}\n"));
            }
        }
    }
    sync(a.p(), stick.path());
    assert_eq!(a.page(&cid), b.page(&cid));
    assert!(a.page(&cid).contains("trip 19"));
    // One segment per writer, however many trips.
    assert_eq!(segments(stick.path()).len(), 2);
}
