//! Three villages with real nodes (real redb stores, real stick folders): A and C share
//! a community and never meet; B is not a member and only carries. Two sticks, A-B and
//! B-C. Everything converges, B never reads the community, and A's custody of each of
//! its bundles is released only once C's custody signal has come back through B.

use std::path::Path;

use caravan::link::stick::{self, SyncOptions, SyncReport};
use caravan::{Audience, DocId, Node, Part, Role};

fn sync(node: &mut Node, stick: &Path) -> SyncReport {
    stick::sync(node, stick, SyncOptions::default()).expect("stick sync")
}

struct World {
    _dirs: Vec<tempfile::TempDir>,
    a: Node,
    b: Node,
    c: Node,
    ab: std::path::PathBuf,
    bc: std::path::PathBuf,
}

fn world() -> World {
    let dirs: Vec<tempfile::TempDir> = (0..5).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut a = Node::open(dirs[0].path(), "Village A").unwrap();
    let b = Node::open(dirs[1].path(), "Village B").unwrap();
    let mut c = Node::open(dirs[2].path(), "Village C").unwrap();
    // A and C exchanged cards once (a letter, a phone call): invitations between them
    // are accepted on arrival.
    a.add_contact(&c.card(), &[Audience::Friends]).unwrap();
    c.add_contact(&a.card(), &[Audience::Friends]).unwrap();
    let (ab, bc) = (dirs[3].path().to_path_buf(), dirs[4].path().to_path_buf());
    World { _dirs: dirs, a, b, c, ab, bc }
}

/// Incompressible text of `words` 8-character words.
fn noise(seed: u64, words: usize) -> String {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ seed;
    (0..words)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            format!("{:08x}", x as u32)
        })
        .collect()
}

/// A's stick goes to B, B's other stick to C, and back.
/// What B carries of A's content: A's bundles that are not custody signals or notices.
/// (Members' latest heads announcements, one per document, stay: they are how authors
/// learn what a member holds.)
fn content_of_a_at_b(w: &World) -> Vec<String> {
    let a = w.a.node_id();
    let mut out = Vec::new();
    for d in w.b.held_digests().unwrap() {
        // (Digests it forgot as delivered are listed too, without bytes.)
        let Some(cloaked) = w.b.bundle_bytes(&d).unwrap() else { continue };
        // B cannot open it; A (a member, the author) can, or it is not A's content.
        let Some(bytes) = w.a.open_cloak(&cloaked).unwrap().map(|o| o.inner) else { continue };
        let info = caravan::bundle::parse_untimed(&bytes).unwrap();
        if info.admin_record {
            continue;
        }
        let env = caravan::envelope::decode_envelope(&bytes[info.payload.clone()]).unwrap();
        if env.header.author != a {
            continue;
        }
        // Public content (the community's name) stays until it expires: followers its
        // author does not know read it too (`custody.md`).
        if DocId::parse(&env.header.doc).is_some_and(|d| d.is_public()) {
            continue;
        }
        // A's heads announcements (its heads moved when it took C's changes) are not
        // content: no custody, superseded by the next one.
        let announcement = match DocId::parse(&env.header.doc) {
            Some(DocId::Community { id, .. }) => w.a.community_key(&id).ok().is_some_and(|(key, _)| {
                caravan::batch::open(env.header_bytes, env.body, Some(&key)).is_ok_and(|b| b.is_announcement())
            }),
            _ => false,
        };
        if !announcement {
            out.push(format!("{} ({} bytes)", env.header.doc, bytes.len()));
        }
    }
    out
}

fn trip(w: &mut World) -> (SyncReport, SyncReport) {
    sync(&mut w.a, &w.ab);
    sync(&mut w.b, &w.ab);
    sync(&mut w.b, &w.bc);
    let at_c = sync(&mut w.c, &w.bc);
    sync(&mut w.b, &w.bc);
    sync(&mut w.b, &w.ab);
    let at_a = sync(&mut w.a, &w.ab);
    (at_c, at_a)
}

#[test]
fn three_villages_converge_through_a_pure_relay_and_custody_comes_back() {
    let mut w = world();
    let cid = w.a.create_community("Wells", "Where the water is").unwrap();
    w.a.invite(&cid, &w.c.card(), Role::Editor).unwrap();
    w.a.put_wiki_page(&cid, "North well", "Pump fixed in May.\n").unwrap();
    w.a.set_profile_field("about", "Millers by the river", Audience::Friends).unwrap();

    // Before any trip, A holds custody of what it wrote for C.
    w.a.export(caravan::Target::Everyone).unwrap();
    let before = w.a.custody().unwrap();
    assert!(before.open >= 3, "grant, roster, wiki and profile bundles should be in custody: {before:?}");
    assert_eq!(before.waiting_for, vec![(w.c.node_id(), before.open)]);

    // First leg: A -> B -> C. C reads everything; B carries what it cannot read.
    sync(&mut w.a, &w.ab);
    sync(&mut w.b, &w.ab);
    sync(&mut w.b, &w.bc);
    let at_c = sync(&mut w.c, &w.bc);
    assert!(at_c.rejected.is_empty(), "{:?}", at_c.rejected);
    assert_eq!(w.c.wiki_page(&cid, "North well").unwrap().as_deref(), Some("Pump fixed in May.\n"));
    assert_eq!(
        w.c.profile(&w.a.node_id()).unwrap().iter().find(|f| f.name == "about").unwrap().value,
        "Millers by the river"
    );
    // A still holds custody: C's signal is on its way, not yet back.
    assert_eq!(w.a.custody().unwrap().open, before.open);

    // B, the relay, never reads the community or the friends-only profile field.
    assert!(w.b.communities().unwrap().is_empty());
    assert!(w.b.community_key(&cid).is_err());
    assert_eq!(w.b.wiki_page(&cid, "North well").unwrap(), None);
    assert!(w.b.profile(&w.a.node_id()).unwrap().iter().all(|f| f.name != "about"));
    let (carried, quota) = w.b.relay_usage().unwrap();
    assert!(carried > 0 && carried <= quota, "B carries {carried} of {quota}");

    // C edits the same page concurrently; the stick goes back C -> B -> A.
    w.c.put_wiki_page(&cid, "North well", "Pump fixed in May.\nRope replaced in June.\n").unwrap();
    sync(&mut w.c, &w.bc);
    sync(&mut w.b, &w.bc);
    sync(&mut w.b, &w.ab);
    let at_a = sync(&mut w.a, &w.ab);
    assert!(at_a.rejected.is_empty(), "{:?}", at_a.rejected);
    assert_eq!(at_a.custody_released, before.open, "C's signal releases every bundle A wrote for C");
    let after = w.a.custody().unwrap();
    assert_eq!(after.open, 0, "{after:?}");
    assert_eq!(
        w.a.wiki_page(&cid, "North well").unwrap().as_deref(),
        Some("Pump fixed in May.\nRope replaced in June.\n")
    );

    // One more trip carries A's answers to C: C's custody is released too, and the two
    // members hold the same heads for every community document.
    let (at_c, _) = trip(&mut w);
    assert!(at_c.custody_released > 0);
    assert_eq!(w.c.custody().unwrap().open, 0);
    for part in Part::BUILT_IN {
        let id = DocId::Community { id: cid, part };
        assert_eq!(w.a.heads(id).unwrap(), w.c.heads(id).unwrap(), "{part:?}");
    }
}

#[test]
fn a_full_relay_carries_what_fits_and_nothing_is_lost() {
    let mut w = world();
    // Room for about three pages (and the small signals and heads announcements).
    w.b.set_relay_quota(40 * 1024).unwrap();
    let cid = w.a.create_community("Wells", "").unwrap();
    w.a.invite(&cid, &w.c.card(), Role::Member).unwrap();
    for i in 0..6 {
        // Random-looking text: it does not compress, so each page is its own ~12 KiB bundle.
        let text = noise(i, 1500);
        w.a.put_wiki_page(&cid, &format!("page {i}"), &text).unwrap();
        w.a.export(caravan::Target::Everyone).unwrap();
    }
    sync(&mut w.a, &w.ab);
    let at_b = sync(&mut w.b, &w.ab);
    assert!(at_b.not_carried > 0, "the relay should have run out of room: {at_b:?}");
    // What B left behind stays on the stick and in A's custody; trips continue until C has
    // everything, B never over its quota, and delivered copies leave B.
    let mut trips = 0;
    while w.c.wiki_pages(&cid).unwrap().len() < 6 || w.a.custody().unwrap().open > 0 {
        trips += 1;
        assert!(trips <= 12, "not converged after 12 trips: C has {:?}", w.c.wiki_pages(&cid).unwrap());
        trip(&mut w);
        let (carried, q) = w.b.relay_usage().unwrap();
        assert!(carried <= q, "B carries {carried} bytes, over its quota of {q}");
    }
    assert!(trips >= 2, "everything fit at once: the quota was not exercised");
    for i in 0..6 {
        assert!(w.c.wiki_page(&cid, &format!("page {i}")).unwrap().is_some());
    }
    // A's notices reach B: the delivered pages are no longer carried, only small signals
    // and heads announcements (the latest per member and document).
    trip(&mut w);
    let left = content_of_a_at_b(&w);
    assert!(left.is_empty(), "B still carries A's delivered content: {left:?}");
    let mut kept = Vec::new();
    for d in w.b.held_digests().unwrap() {
        let Some(cloaked) = w.b.bundle_bytes(&d).unwrap() else { continue };
        let Some(bytes) = w.a.open_cloak(&cloaked).unwrap().map(|o| o.inner) else {
            // What A cannot open: another node's answer to C, or a release list A did not write.
            kept.push(format!("for someone else ({} bytes)", cloaked.len()));
            continue;
        };
        let info = caravan::bundle::parse_untimed(&bytes).unwrap();
        if info.admin_record {
            kept.push(format!("signal ({} bytes)", cloaked.len()));
            continue;
        }
        let env = caravan::envelope::decode_envelope(&bytes[info.payload.clone()]).unwrap();
        if DocId::parse(&env.header.doc).is_some_and(|d| d.is_public()) {
            kept.push(format!("public {} ({} bytes)", env.header.doc, cloaked.len()));
            continue;
        }
        let (key, _) = w.a.community_key(&cid).unwrap();
        let key = env.header.encrypted.then_some(&key);
        let batch = caravan::batch::open(env.header_bytes, env.body, key)
            .unwrap_or_else(|e| panic!("{} ({:?}): {e}", env.header.doc, env.header.kind));
        assert!(batch.is_announcement(), "B carries content: {}", env.header.doc);
        let latest = format!("announcement of {} by {}", env.header.doc, env.header.author);
        assert!(!kept.contains(&latest), "a superseded announcement is still carried: {latest}");
        kept.push(latest);
    }
    // Small control bundles, and the community's public part (kept for followers).
    let (carried, _) = w.b.relay_usage().unwrap();
    assert!(carried < 1024 * 20, "B still carries {carried} bytes: {kept:?}");
}

#[test]
fn delivered_bundles_are_forgotten_and_a_late_joiner_gets_a_snapshot() {
    let mut w = world();
    let cid = w.a.create_community("Wells", "Where the water is").unwrap();
    w.a.invite(&cid, &w.c.card(), Role::Editor).unwrap();
    for i in 0..5 {
        w.a.put_wiki_page(&cid, &format!("log {i}"), &noise(i, 1600)).unwrap();
        w.a.put_wiki_page(&cid, "North well", &format!("Pump checked {i} times.\n")).unwrap();
        w.a.export(caravan::Target::Everyone).unwrap();
    }
    let (_, peak) = w.a.stored().unwrap();
    assert!(peak > 30_000, "{peak}");
    // Two round trips: C takes everything and says so; A forgets what every member has,
    // and its notice makes B (carrier) and C (member) drop their copies too.
    trip(&mut w);
    trip(&mut w);
    trip(&mut w);
    assert_eq!(w.a.custody().unwrap().open, 0);
    let (_, after) = w.a.stored().unwrap();
    assert!(after * 3 < peak, "A still stores {after} bytes of {peak}");
    let left = content_of_a_at_b(&w);
    assert!(left.is_empty(), "B still carries A's delivered content: {left:?}");
    assert_eq!(w.c.wiki_page(&cid, "North well").unwrap().as_deref(), Some("Pump checked 4 times.\n"));

    // D joins late, by its own stick from A: the history it missed is no longer stored as
    // bundles anywhere, so A (an owner) sends a snapshot.
    let d_home = tempfile::tempdir().unwrap();
    let ad = tempfile::tempdir().unwrap();
    let mut d = Node::open(d_home.path(), "Village D").unwrap();
    d.add_contact(&w.a.card(), &[]).unwrap();
    w.a.invite(&cid, &d.card(), Role::Member).unwrap();
    sync(&mut w.a, ad.path());
    let at_d = sync(&mut d, ad.path());
    assert!(at_d.rejected.is_empty(), "{:?}", at_d.rejected);
    assert_eq!(d.wiki_page(&cid, "North well").unwrap().as_deref(), Some("Pump checked 4 times.\n"));
    for part in Part::BUILT_IN {
        let id = DocId::Community { id: cid, part };
        assert_eq!(d.heads(id).unwrap(), w.a.heads(id).unwrap(), "{part:?}");
    }
    // D's answer comes back: the snapshot is delivered and forgotten in turn.
    sync(&mut d, ad.path());
    let at_a = sync(&mut w.a, ad.path());
    assert!(at_a.custody_released > 0);
    // What is still open waits only for C (the roster change that added D).
    let open = w.a.custody().unwrap();
    assert!(open.waiting_for.iter().all(|(n, _)| *n == w.c.node_id()), "{open:?}");
}

#[test]
fn a_bundle_still_waiting_for_a_destination_is_renewed_before_it_expires() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let day = 24 * 3600 * 1000;
    let clock = Arc::new(AtomicU64::new(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64,
    ));
    let mut w = world();
    for n in [&mut w.a, &mut w.b, &mut w.c] {
        let c = clock.clone();
        n.set_clock(Arc::new(move || c.load(Ordering::SeqCst)));
    }
    let cid = w.a.create_community("Wells", "").unwrap();
    w.a.invite(&cid, &w.c.card(), Role::Member).unwrap();
    w.a.put_wiki_page(&cid, "North well", "Pump fixed in May.\n").unwrap();
    sync(&mut w.a, &w.ab);
    // The stick sits in a drawer for four weeks; A syncs again just before the bundles
    // would expire, and its custody renews them.
    clock.fetch_add(28 * day, Ordering::SeqCst);
    let again = sync(&mut w.a, &w.ab);
    assert!(again.exported > 0, "nothing renewed: {again:?}");
    // The stick reaches C through B after the first copies have expired.
    clock.fetch_add(4 * day, Ordering::SeqCst);
    let at_b = sync(&mut w.b, &w.ab);
    assert!(at_b.expired > 0, "the old copies should have expired: {at_b:?}");
    sync(&mut w.b, &w.bc);
    let at_c = sync(&mut w.c, &w.bc);
    assert!(at_c.rejected.is_empty(), "{:?}", at_c.rejected);
    assert_eq!(w.c.wiki_page(&cid, "North well").unwrap().as_deref(), Some("Pump fixed in May.\n"));
    // And custody still comes back for the renewed bundles.
    sync(&mut w.b, &w.bc);
    sync(&mut w.b, &w.ab);
    sync(&mut w.a, &w.ab);
    assert_eq!(w.a.custody().unwrap().open, 0);
}
