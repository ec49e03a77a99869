use super::super::testkit::{Kit, carry, community};
use super::*;

/// The next chunk is opened before this one is merged, with the keys held then: a key
/// that arrives in one chunk still opens content in the chunks after it.
#[test]
fn content_after_its_key_in_a_later_chunk_is_read() {
    let (ha, hb) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = Node::open(ha.path(), "A").unwrap();
    let mut b = Node::open(hb.path(), "B").unwrap();
    b.add_contact(&a.card(), &[Audience::Friends]).unwrap();
    let cid = a.create_community("Chunks", "").unwrap();
    a.invite(&cid, &b.card(), Role::Member).unwrap();
    let mut bundles = a.export(Target::Everyone).unwrap();
    for i in 0..6 {
        a.post(&cid, &format!("post {i}")).unwrap();
        bundles.extend(a.export(Target::Everyone).unwrap());
    }
    // Chunks of two: the invitation (with the key) comes in the first, posts after.
    let report = b.import_in_chunks(bundles.iter().map(Vec::as_slice).collect(), 2).unwrap();
    assert!(report.rejected().is_empty(), "{:?}", report.rejected());
    assert_eq!(report.waiting(), 0, "{report:?}");
    let feed = b.feed(&cid).unwrap();
    assert_eq!(feed.len(), 6, "{feed:?}");
}

/// A carrier that puts a held bundle under a new primary block (new sequence number,
/// new times: no keys needed) gets a duplicate: nothing kept changes, and no custody
/// answer is owed for a bundle that was never sent.
#[test]
fn a_rewrapped_copy_of_a_held_bundle_is_a_duplicate_and_changes_nothing() {
    let kit = Kit::new();
    let (mut a, mut b) = (kit.node("A"), kit.node("B"));
    let cid = community(&mut a, &mut b, Role::Member);
    a.post(&cid, "market day").unwrap();
    let post = a.export(Target::Everyone).unwrap();
    carry(&mut a, &mut b);
    let before = b.fingerprint().unwrap();
    let now = b.now();
    for bytes in &post {
        let info = bundle::parse(bytes, now).unwrap();
        let build = if info.admin_record { bundle::build_admin_record } else { bundle::build };
        let rewrapped = build(
            &info.source,
            &info.destination,
            now,
            info.sequence + 1000,
            Duration::from_secs(86_400),
            &bytes[info.payload.clone()],
        )
        .unwrap();
        let r = b.import(&rewrapped).unwrap();
        assert_eq!(r.duplicates(), 1, "{r:?}");
    }
    assert_eq!(b.fingerprint().unwrap(), before, "a re-wrapped copy changed what B keeps");
}

/// A damaged bundle among good ones is refused with a reason; the good ones are taken.
#[test]
fn a_damaged_bundle_is_refused_alone() {
    let kit = Kit::new();
    let (mut a, mut b) = (kit.node("A"), kit.node("B"));
    let cid = community(&mut a, &mut b, Role::Member);
    a.post(&cid, "one").unwrap();
    let mut bundles = a.export(Target::Everyone).unwrap();
    let mut bad = bundles[0].clone();
    let last = bad.len() - 10;
    bad[last] ^= 0x55;
    bundles.push(bad);
    let r = b.import_many(bundles.iter().map(Vec::as_slice)).unwrap();
    assert_eq!(r.rejected().len(), 1, "{r:?}");
    assert_eq!(b.feed(&cid).unwrap().len(), 1);
}
