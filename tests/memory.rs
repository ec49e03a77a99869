//! What one bundle costs its reader: peak heap memory while importing it, as a multiple
//! of its size, for the biggest honest bundles and for hostile ones (bombs, floods of
//! ops). A counting allocator measures the heap of this test process only.
//!
//! `cargo test --release --test memory -- --nocapture` prints the figures recorded in
//! `benches/README.md`.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use caravan::{Audience, CommunityId, DocId, Identity, Node, Outcome, Part, Role, Target};
use common::{changes_by, forge_batch};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// Counts live heap bytes and their peak; the memory itself comes from the system allocator.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged to the system allocator.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged to the system allocator.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let now = CURRENT.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size - layout.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                CURRENT.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// One measurement at a time (the counters are process-wide).
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Imports `bundle` and returns (its outcome, peak heap above what was live before, time).
fn measure(node: &mut Node, bundle: &[u8]) -> (Outcome, usize, Duration) {
    let before = CURRENT.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let started = Instant::now();
    let report = node.import(bundle).unwrap();
    let took = started.elapsed();
    (report.outcomes[0].clone(), PEAK.load(Ordering::Relaxed).saturating_sub(before), took)
}

/// A node with a small store cache, so the cache does not hide what an import costs.
fn small(name: &str) -> (Node, tempfile::TempDir) {
    let home = tempfile::tempdir().unwrap();
    let node = Node::open_with(home.path(), name, 4 << 20, None).unwrap();
    (node, home)
}

fn identity_of(home: &std::path::Path) -> Identity {
    let secret: [u8; 64] = std::fs::read(home.join("identity.key")).unwrap().try_into().unwrap();
    Identity::from_secret_bytes(&secret)
}

/// Peak heap of an import, as a multiple of the bundle's size, must stay small.
fn check(what: &str, n: usize, outcome: &Outcome, peak: usize, took: Duration, max_multiple: f64) {
    let multiple = peak as f64 / n as f64;
    println!("{what}: {n} bytes -> peak heap {peak} bytes ({multiple:.2}x), {took:?}, {outcome:?}");
    assert!(
        peak as f64 <= max_multiple * n as f64 + 4.0 * 1024.0 * 1024.0,
        "{what}: peak heap {peak} for {n} bytes ({multiple:.1}x)"
    );
}

#[test]
fn a_bundle_costs_its_reader_a_small_multiple_of_its_size() {
    let _serial = SERIAL.lock().unwrap();
    // 1. Carried unread: 16 MiB of a community this node is not in.
    let (mut relay, _h) = small("Relay");
    relay.set_relay_quota(1 << 30).unwrap();
    let s = Identity::generate();
    let cid = CommunityId([9; 20]);
    let wiki = DocId::Community { id: cid, part: Part::WIKI };
    let big = "y".repeat(16 << 20);
    let carried = forge_batch(
        &s,
        &s.node_id().endpoint(),
        &wiki.to_string(),
        &cid.endpoint(),
        Some(([1; 32], 0)),
        None,
        vec![],
        &changes_by(&s.signing_public(), "page/x", &big),
    );
    let (o, peak, took) = measure(&mut relay, &carried);
    assert!(matches!(o, Outcome::Waiting(_)));
    check("carried, 16 MiB", carried.len(), &o, peak, took, 4.0);

    // 2. Read and merged: a contact's public profile with a 16 MiB field.
    let (mut reader, _h2) = small("Reader");
    let owner_home = tempfile::tempdir().unwrap();
    let mut owner = Node::open(owner_home.path(), "Owner").unwrap();
    reader.add_contact(&owner.card(), &[]).unwrap();
    owner.set_profile_field("about", &big, Audience::Public).unwrap();
    let profile = owner.export(Target::Everyone).unwrap().into_iter().max_by_key(Vec::len).unwrap();
    let (o, peak, took) = measure(&mut reader, &profile);
    assert!(matches!(o, Outcome::New { .. }), "{o:?}");
    // Merged content is held by Automerge (the value, and the change in its history),
    // saved as a document chunk and stored as a bundle in the same transaction: about nine
    // times its size at the peak (benches/README.md).
    check("read and merged, 16 MiB profile field", profile.len(), &o, peak, took, 10.0);

    // 3. A member's batch holding a compressed change chunk: 64 MiB of zeros in ~64 KiB.
    let (mut m, hm) = small("Member");
    let founder_home = tempfile::tempdir().unwrap();
    let mut founder = Node::open(founder_home.path(), "Founder").unwrap();
    m.add_contact(&founder.card(), &[]).unwrap();
    let wells = founder.create_community("Wells", "").unwrap();
    founder.invite(&wells, &m.card(), Role::Member).unwrap();
    let all = founder.export(Target::Everyone).unwrap();
    m.import_many(all.iter().map(Vec::as_slice)).unwrap();
    let fi = identity_of(founder_home.path());
    let key = m.community_key(&wells).unwrap();
    let (genesis, _) = m.membership_proof(&wells).unwrap();
    let feed = DocId::Community { id: wells, part: Part::FEED };
    let bomb = forge_batch(
        &fi,
        &fi.node_id().endpoint(),
        &feed.to_string(),
        &wells.endpoint(),
        Some(key),
        Some(genesis),
        vec![],
        &[common::compressed_change_bomb(&fi.signing_public(), 64 << 20)],
    );
    let (o, peak, took) = measure(&mut m, &bomb);
    assert!(matches!(o, Outcome::Rejected(_)), "{o:?}");
    check("compressed change bomb (64 MiB inflated)", bomb.len(), &o, peak, took, 8.0);

    // 4. A change declaring a huge run of ops in a few bytes: refused before decoding.
    let mut doc = automerge::AutoCommit::new().with_actor(automerge::ActorId::from(fi.signing_public().to_vec()));
    use automerge::transaction::Transactable;
    let text = doc.put_object(automerge::ROOT, "t", automerge::ObjType::Text).unwrap();
    doc.splice_text(&text, 0, 0, &"z".repeat(150_000)).unwrap();
    doc.commit();
    let change = doc.get_changes(&[]).last().unwrap().raw_bytes().to_vec();
    let ops_flood = forge_batch(
        &fi,
        &fi.node_id().endpoint(),
        &feed.to_string(),
        &wells.endpoint(),
        Some(key),
        Some(genesis),
        vec![],
        &[change],
    );
    let (o, peak, took) = measure(&mut m, &ops_flood);
    assert!(matches!(o, Outcome::Rejected(caravan::Rejection::Unbounded(_))), "{o:?}");
    check("150,000 ops in one change", ops_flood.len(), &o, peak, took, 8.0);
    drop(hm);
}
