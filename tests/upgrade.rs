//! A store written by an earlier store format (2, and wire version 2 before the cloak)
//! opens with this version and loses nothing: documents, membership, contacts, custody,
//! and the payload of a bundle still in custody (cloaked again from what the upgrade
//! recorded, and delivered).
//! The stores are in `tests/data/store-format-2` (see its README).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use caravan::link::stick;
use caravan::{CommunityId, Node};

/// When the format 2 stores were written (ms since the Unix epoch).
const WRITTEN: u64 = 1_796_077_153_269;
const HOUR: u64 = 3_600_000;
const DAY: u64 = 24 * HOUR;
const RIVERSIDE: &str = "bkllnwlwezkiazdp3zm5kdp5vlfc3wv6";

fn golden(part: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/store-format-2").join(part)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// Copies of the two homes and the stick, so the golden files stay as they are.
fn world() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for part in ["a", "b", "stick"] {
        copy_dir(&golden(part), &dir.path().join(part));
    }
    dir
}

fn open(home: &Path, name: &str, at: u64) -> Node {
    let mut n = Node::open(home, name).unwrap();
    n.set_clock(Arc::new(move || at));
    n
}

fn texts(n: &mut Node, cid: &CommunityId) -> Vec<String> {
    let mut t: Vec<String> = n.feed(cid).unwrap().into_iter().map(|p| p.text).collect();
    t.sort();
    t
}

fn sync(n: &mut Node, stick: &Path) {
    let r = stick::sync(n, stick, Default::default()).unwrap();
    assert!(r.skipped.is_empty(), "{:?}", r.skipped);
}

#[test]
fn a_format_2_store_opens_with_everything_it_held() {
    let w = world();
    let cid = CommunityId::parse(RIVERSIDE).unwrap();
    let mut a = open(&w.path().join("a"), "Asha", WRITTEN + HOUR);
    let mut b = open(&w.path().join("b"), "Bako", WRITTEN + HOUR);
    assert_eq!(a.wiki_page(&cid, "market").unwrap().as_deref().map(str::trim), Some("Market on friday"));
    assert_eq!(texts(&mut a, &cid), ["Bako here", "hello all", "second post"]);
    assert_eq!(texts(&mut b, &cid), ["Bako here", "hello all"]);
    assert_eq!(a.members(&cid).unwrap().len(), 2);
    let phone = b.profile(&a.node_id()).unwrap().into_iter().find(|f| f.name == "phone").map(|f| f.value);
    assert_eq!(phone.as_deref(), Some("555"), "Bako reads Asha's friends-only field");
    let custody = a.custody().unwrap();
    assert_eq!(custody.open, 1);
    assert_eq!(custody.waiting_for, vec![(b.node_id(), 1)]);

    // The stick Asha left carries "second post" in wire version 2 (before the cloak):
    // Bako refuses those bundles, each with its reason, and keeps what it has.
    let stick = w.path().join("stick");
    let r = stick::sync(&mut b, &stick, Default::default()).unwrap();
    assert!(!r.rejected.is_empty(), "{r:?}");
    assert!(r.rejected.iter().all(|why| why.contains("wire version")), "{:?}", r.rejected);
    assert_eq!(texts(&mut b, &cid), ["Bako here", "hello all"]);
    // Asha's next sync cloaks her bundle again (its custody goes on); Bako takes it, and
    // its answer releases Asha's custody.
    sync(&mut a, &stick);
    assert_eq!(a.custody().unwrap().open, 1);
    sync(&mut b, &stick);
    assert_eq!(texts(&mut b, &cid), ["Bako here", "hello all", "second post"]);
    sync(&mut b, &stick);
    sync(&mut a, &stick);
    assert_eq!(a.custody().unwrap().open, 0, "Bako's answer released the last bundle");

    // Upgraded once: opening again changes nothing.
    drop(a);
    let a = open(&w.path().join("a"), "Asha", WRITTEN + HOUR);
    let before = a.fingerprint().unwrap();
    drop(a);
    let a = open(&w.path().join("a"), "Asha", WRITTEN + HOUR);
    assert_eq!(a.fingerprint().unwrap(), before);
}

#[test]
fn a_bundle_in_custody_from_format_2_is_renewed_from_its_recorded_payload_and_delivered() {
    let w = world();
    let cid = CommunityId::parse(RIVERSIDE).unwrap();
    // Four weeks on: "second post" expires within the renewal margin, and the stick Asha
    // left is useless (its copy expires before it could travel). Asha renews it from
    // the payload place the upgrade recorded.
    let at = WRITTEN + 28 * DAY;
    let mut a = open(&w.path().join("a"), "Asha", at);
    let fresh = w.path().join("fresh");
    std::fs::create_dir(&fresh).unwrap();
    sync(&mut a, &fresh);
    drop(a);
    // Bako reads it days after the first copy expired: only the renewal can carry it.
    let mut b = open(&w.path().join("b"), "Bako", WRITTEN + 31 * DAY);
    sync(&mut b, &fresh);
    assert_eq!(texts(&mut b, &cid), ["Bako here", "hello all", "second post"]);
    sync(&mut b, &fresh);
    drop(b);
    let mut a = open(&w.path().join("a"), "Asha", WRITTEN + 31 * DAY);
    sync(&mut a, &fresh);
    assert_eq!(a.custody().unwrap().open, 0);
}
