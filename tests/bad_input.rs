//! The bad-input matrix: what a carrier, a stick or a stranger can send, through the
//! public entry points. Each row gets one clear refusal (or is known for the duplicate it
//! is), and the receiving node keeps exactly the same documents, bundles and custody
//! records before and after (`Node::fingerprint`).
//!
//! Rows about stick files (links, devices, huge indexes, foreign headers) are in
//! `tests/stick_hostile.rs`; decoder fuzzing in `fuzz/`; the simulator's malicious
//! carrier in `testnets/`.

mod common;

use std::time::Duration;

use caravan::bundle::{self, BundleFormatError};
use caravan::change_scan::ScanError;
use caravan::envelope::{self, EnvelopeError};
use caravan::{Audience, DocId, Identity, Node, Outcome, Part, Rejection, Role, Target};
use common::{TestNode, changes_by, forge_batch, node};

/// A founds Wells, B is an editor and M a member; A is everyone's contact.
struct World {
    a: TestNode,
    b: TestNode,
    m: TestNode,
    wells: caravan::CommunityId,
}

fn world() -> World {
    let mut a = node("A");
    let mut b = node("B");
    let mut m = node("M");
    for n in [&mut b, &mut m] {
        n.node.add_contact(&a.node.card(), &[]).unwrap();
        a.node.add_contact(&n.node.card(), &[Audience::Friends]).unwrap();
    }
    let wells = a.node.create_community("Wells", "public description").unwrap();
    a.node.invite(&wells, &b.node.card(), Role::Editor).unwrap();
    a.node.invite(&wells, &m.node.card(), Role::Member).unwrap();
    a.node.set_profile_field("name", "Amina", Audience::Public).unwrap();
    let all = a.node.export(Target::Everyone).unwrap();
    for n in [&mut b, &mut m] {
        let r = n.node.import_many(all.iter().map(Vec::as_slice)).unwrap();
        assert!(r.rejected().is_empty(), "{:?}", r.rejected());
    }
    World { a, b, m, wells }
}

/// The fields of a primary block that can be rewritten: the cloak's by any carrier, the
/// inner bundle's by whoever can open the cloak (a member of the group).
#[derive(Clone)]
struct Wrapper {
    source: String,
    destination: String,
    created: u64,
    seq: u64,
    lifetime: Duration,
    admin: bool,
}

/// `bytes` (a bundle's primary block and payload) rebuilt with a primary block changed by `f`.
fn rebuild(bytes: &[u8], f: impl FnOnce(&mut Wrapper)) -> Vec<u8> {
    let info = bundle::parse_untimed(bytes).unwrap();
    let mut w = Wrapper {
        source: info.source.clone(),
        destination: info.destination.clone(),
        created: info.created_unix_ms,
        seq: info.sequence,
        lifetime: Duration::from_millis(info.lifetime_ms),
        admin: info.admin_record,
    };
    f(&mut w);
    let payload = &bytes[info.payload.clone()];
    if w.admin {
        bundle::build_admin_record(&w.source, &w.destination, w.created, w.seq, w.lifetime, payload).unwrap()
    } else {
        bundle::build(&w.source, &w.destination, w.created, w.seq, w.lifetime, payload).unwrap()
    }
}

/// A carrier's rewrite: the cloak's primary block changed, its sealed payload as it was.
fn rewrap_outer(bytes: &[u8], f: impl FnOnce(&mut Wrapper)) -> Vec<u8> {
    rebuild(bytes, f)
}

/// A group member's rewrite (`reader` opens the cloak): the inner bundle's primary block
/// changed around the same signed payload, cloaked again for the same readers.
fn rewrap(reader: &Node, bytes: &[u8], f: impl FnOnce(&mut Wrapper)) -> Vec<u8> {
    let opened = reader.open_cloak(bytes).unwrap().expect("a bundle the reader opens");
    let inner = rebuild(&opened.inner, f);
    opened.cloak_again(&inner, common::now_ms(), Duration::from_secs(3600)).unwrap()
}

fn inner_info(reader: &Node, bytes: &[u8]) -> Option<(bundle::BundleInfo, Vec<u8>)> {
    let inner = reader.open_cloak(bytes).ok()??.inner;
    Some((bundle::parse_untimed(&inner).ok()?, inner))
}

fn doc_of(reader: &Node, bytes: &[u8]) -> Option<String> {
    let (info, inner) = inner_info(reader, bytes)?;
    envelope::decode_envelope(&inner[info.payload.clone()]).ok().map(|e| e.header.doc)
}

fn only(report: &caravan::ImportReport) -> &Outcome {
    assert_eq!(report.outcomes.len(), 1, "{report:?}");
    &report.outcomes[0]
}

/// Imports `bytes` into `n` and checks nothing kept changed; returns the outcome.
fn import_unchanged(n: &mut Node, bytes: &[u8]) -> Outcome {
    let before = n.fingerprint().unwrap();
    let report = n.import(bytes).unwrap();
    assert_eq!(n.fingerprint().unwrap(), before, "{report:?} changed what the node keeps");
    only(&report).clone()
}

/// The attack that lost data: an authentic bundle of A's re-numbered so that its BPv7 id
/// is that of another bundle of A's that the member never received. (A carrier cannot
/// even see the inner sequence number now; a member of the group can still try.)
#[test]
fn a_renumbered_copy_cannot_make_the_author_release_a_bundle_the_member_lacks() {
    let mut w = world();
    let wells = w.wells;
    // Everything so far reaches A back, so only the two new bundles below are in custody.
    for n in [&mut w.b, &mut w.m] {
        let back = n.node.export(Target::Peer(w.a.node.node_id())).unwrap();
        w.a.node.import_many(back.iter().map(Vec::as_slice)).unwrap();
    }
    w.a.node.put_wiki_page(&wells, "Water", "first\n").unwrap();
    let x = w.a.node.export(Target::Everyone).unwrap();
    w.a.node.post(&wells, "second").unwrap();
    let y = w.a.node.export(Target::Everyone).unwrap();
    let a = &w.a.node;
    let x_wiki = x.iter().find(|b| doc_of(a, b).is_some_and(|d| d.ends_with("/wiki"))).unwrap().clone();
    let y_feed = y.iter().find(|b| doc_of(a, b).is_some_and(|d| d.ends_with("/feed"))).unwrap().clone();
    let y_seq = inner_info(a, &y_feed).unwrap().0.sequence;
    let open_before = w.a.node.custody().unwrap();
    // M gets the wiki bundle under the feed bundle's BPv7 sequence number.
    let forged = rewrap(&w.a.node, &x_wiki, |p| p.seq = y_seq);
    let report = w.m.node.import(&forged).unwrap();
    assert!(matches!(only(&report), Outcome::New { .. }), "the wiki change itself is authentic: {report:?}");
    // M's answer goes back to A.
    let answers = w.m.node.export(Target::Peer(w.a.node.node_id())).unwrap();
    w.a.node.import_many(answers.iter().map(Vec::as_slice)).unwrap();
    // A still keeps custody of the feed bundle for M, and M gets it on the next contact.
    let open_after = w.a.node.custody().unwrap();
    let waiting_m = |c: &caravan::CustodyStatus| {
        c.waiting_for.iter().find(|(n, _)| *n == w.m.node.node_id()).map_or(0, |(_, k)| *k)
    };
    assert_eq!(waiting_m(&open_after), waiting_m(&open_before) - 1, "{open_before:?} -> {open_after:?}");
    let next = w.a.node.export(Target::Peer(w.m.node.node_id())).unwrap();
    assert!(next.contains(&y_feed), "A stopped offering the bundle M lacks");
    w.m.node.import_many(next.iter().map(Vec::as_slice)).unwrap();
    let feed: Vec<String> = w.m.node.feed(&wells).unwrap().into_iter().map(|p| p.text).collect();
    assert_eq!(feed, vec!["second".to_string()]);
}

/// Every rewrite of the primary blocks of an authentic bundle already held is a duplicate
/// (or refused), and changes nothing: no answer, no custody state, no stored bundle. The
/// cloak's by a carrier; the inner bundle's by a member who can open the cloak.
#[test]
fn rewrapped_renumbered_retimed_readdressed_copies_change_nothing() {
    let mut w = world();
    let wells = w.wells;
    w.a.node.put_wiki_page(&wells, "Water", "text\n").unwrap();
    let sent = w.a.node.export(Target::Everyone).unwrap();
    w.b.node.import_many(sent.iter().map(Vec::as_slice)).unwrap();
    let wiki = sent.iter().find(|b| doc_of(&w.a.node, b).is_some_and(|d| d.ends_with("/wiki"))).unwrap().clone();
    let signal = {
        let back = w.b.node.export(Target::Peer(w.a.node.node_id())).unwrap();
        back.into_iter()
            .find(|b| inner_info(&w.a.node, b).is_some_and(|(i, _)| i.admin_record))
            .expect("B's custody signal")
    };
    let now = common::now_ms();
    let other = w.m.node.node_id();
    let a = &w.a.node;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("replayed", wiki.clone()),
        ("cloak re-numbered", rewrap_outer(&wiki, |p| p.seq += 1000)),
        ("cloak re-timed", rewrap_outer(&wiki, |p| p.created = now - 3 * 86_400_000)),
        ("cloak with a longer lifetime", rewrap_outer(&wiki, |p| p.lifetime = Duration::from_secs(40 * 86_400))),
        ("re-numbered", rewrap(a, &wiki, |p| p.seq += 1000)),
        ("re-timed", rewrap(a, &wiki, |p| p.created = now - 3_600_000)),
        ("longer lifetime", rewrap(a, &wiki, |p| p.lifetime = Duration::from_secs(40 * 86_400))),
    ];
    for (what, bytes) in cases {
        let outcome = import_unchanged(&mut w.b.node, &bytes);
        assert_eq!(outcome, Outcome::Duplicate, "{what}");
    }
    type Expected = fn(&Rejection) -> bool;
    let refused: Vec<(&str, Vec<u8>, Expected)> = vec![
        ("cloak from a named source", rewrap_outer(&wiki, |p| p.source = other.endpoint()), |r| {
            matches!(r, Rejection::Cloak(caravan::cloak::CloakError::Version))
        }),
        ("cloak to a node", rewrap_outer(&wiki, |p| p.destination = other.endpoint()), |r| {
            matches!(r, Rejection::Cloak(caravan::cloak::CloakError::Destination))
        }),
        (
            "cloak lifetime over the cap",
            rewrap_outer(&wiki, |p| p.lifetime = Duration::from_secs(100 * 365 * 86_400)),
            |r| matches!(r, Rejection::Format(BundleFormatError::LifetimeOverCap { .. })),
        ),
        ("re-sourced", rewrap(a, &wiki, |p| p.source = other.endpoint()), |r| {
            matches!(r, Rejection::SourceNotAuthor { .. })
        }),
        ("re-addressed", rewrap(a, &wiki, |p| p.destination = other.endpoint()), |r| {
            matches!(r, Rejection::Destination { .. })
        }),
        ("lifetime over the cap", rewrap(a, &wiki, |p| p.lifetime = Duration::from_secs(100 * 365 * 86_400)), |r| {
            matches!(r, Rejection::Format(BundleFormatError::LifetimeOverCap { .. }))
        }),
    ];
    for (what, bytes, expected) in refused {
        match import_unchanged(&mut w.b.node, &bytes) {
            Outcome::Rejected(r) => {
                assert!(expected(&r), "{what}: {r:?}");
                assert!(!r.to_string().is_empty());
            }
            other => panic!("{what}: {other:?}"),
        }
    }
    // A cloak moved to another tag opens for nobody: to B it is someone else's bundle,
    // kept for others within its relay quota (as anything a carrier brings), never read.
    let (used, _) = w.b.node.relay_usage().unwrap();
    let custody = w.b.node.custody().unwrap();
    let moved = rewrap_outer(&wiki, |p| p.destination = "dtn://aaaaaaaaaaaaaaaaaaaaaaaaaa/t".into());
    let report = w.b.node.import(&moved).unwrap();
    assert_eq!(only(&report), &Outcome::Waiting(caravan::WaitReason::ForOthers));
    assert_eq!(w.b.node.relay_usage().unwrap().0, used + moved.len() as u64);
    assert_eq!(w.b.node.custody().unwrap(), custody);
    // B's signal, re-sourced by someone who opened it (only A can), is refused by A; one
    // re-addressed to someone else still answers for what B holds (its entries are
    // signed): A applies it once, and the re-wrapped copy is then a duplicate.
    let resourced = rewrap(&w.a.node, &signal, |p| p.source = other.endpoint());
    assert!(matches!(import_unchanged(&mut w.a.node, &resourced), Outcome::Rejected(Rejection::AuthorNotSource(_))));
    let readdressed = rewrap(&w.a.node, &signal, |p| p.destination = other.endpoint());
    let released = w.a.node.import(&signal).unwrap().custody_released();
    let before = w.a.node.custody().unwrap();
    assert_eq!(only(&w.a.node.import(&readdressed).unwrap()), &Outcome::Duplicate);
    assert_eq!(w.a.node.custody().unwrap(), before);
    let _ = released;
}

/// Damage and forgery, each refused with its reason, nothing kept changing.
#[test]
fn tampered_truncated_forged_and_wrong_key_bundles_are_refused_with_their_reason() {
    let mut w = world();
    let wells = w.wells;
    w.a.node.put_wiki_page(&wells, "Water", "text\n").unwrap();
    let sent = w.a.node.export(Target::Everyone).unwrap();
    let wiki = sent.iter().find(|b| doc_of(&w.a.node, b).is_some_and(|d| d.ends_with("/wiki"))).unwrap().clone();
    let info = bundle::parse_untimed(&wiki).unwrap();

    let mut tampered = wiki.clone();
    tampered[info.payload.start + info.payload.len() / 2] ^= 0x40;
    assert!(matches!(
        import_unchanged(&mut w.b.node, &tampered),
        Outcome::Rejected(Rejection::Cloak(caravan::cloak::CloakError::Open))
    ));
    let truncated = &wiki[..wiki.len() - 10];
    assert!(matches!(import_unchanged(&mut w.b.node, truncated), Outcome::Rejected(Rejection::Format(_))));
    // Offered again, the same bytes cost a lookup.
    assert_eq!(import_unchanged(&mut w.b.node, truncated), Outcome::Rejected(Rejection::RefusedBefore));
    // Damage inside the cloak, by someone who can open it: the envelope's checksum.
    let opened = w.a.node.open_cloak(&wiki).unwrap().unwrap();
    let mut inner = opened.inner.clone();
    let at = bundle::parse_untimed(&inner).unwrap().payload;
    inner[at.start + at.len() / 2] ^= 0x40;
    let damaged = opened.cloak_again(&inner, common::now_ms(), Duration::from_secs(3600)).unwrap();
    assert!(matches!(import_unchanged(&mut w.b.node, &damaged), Outcome::Rejected(Rejection::Envelope(_))));

    // An outsider claiming to be A (A in the header and the primary block, its own key).
    let outsider = Identity::generate();
    let feed = DocId::Community { id: wells, part: Part::FEED };
    let key = w.b.node.community_key(&wells).unwrap();
    let (genesis, chain) = w.b.node.membership_proof(&wells).unwrap();
    let forged = forge_batch(
        &outsider,
        &w.a.node.node_id().endpoint(),
        &feed.to_string(),
        &wells.endpoint(),
        Some(key),
        Some(genesis),
        chain.clone(),
        &changes_by(&outsider.signing_public(), "post/1/x", "forged"),
    );
    assert!(matches!(import_unchanged(&mut w.b.node, &forged), Outcome::Rejected(Rejection::AuthorNotSource(_))));
    // Under a key that is not the community's, in a cloak members open.
    let b_identity = {
        let secret: [u8; 64] = std::fs::read(w.b.home.path().join("identity.key")).unwrap().try_into().unwrap();
        Identity::from_secret_bytes(&secret)
    };
    let wrong_key = common::cloak_for(
        &common::forge_inner(
            &b_identity,
            &w.b.node.node_id().endpoint(),
            &feed.to_string(),
            &wells.endpoint(),
            Some(([9; 32], key.1)),
            Some(genesis),
            chain.clone(),
            &changes_by(&b_identity.signing_public(), "post/2/x", "hidden"),
        ),
        &feed.to_string(),
        Some((&key.0, key.1)),
    );
    assert!(matches!(import_unchanged(&mut w.m.node, &wrong_key), Outcome::Rejected(Rejection::Decrypt(_))));
    // Under an epoch nobody here holds: its cloak opens for nobody here, so it is kept for
    // others (in the relay pool, counted), never read, and the node's documents and
    // custody do not change.
    let wrong_epoch = forge_batch(
        &b_identity,
        &w.b.node.node_id().endpoint(),
        &feed.to_string(),
        &wells.endpoint(),
        Some((key.0, key.1 + 7)),
        Some(genesis),
        chain,
        &changes_by(&b_identity.signing_public(), "post/3/x", "later epoch"),
    );
    let (used_before, _) = w.m.node.relay_usage().unwrap();
    let custody_before = w.m.node.custody().unwrap();
    let report = w.m.node.import(&wrong_epoch).unwrap();
    assert!(matches!(only(&report), Outcome::Waiting(caravan::WaitReason::ForOthers)), "{report:?}");
    assert_eq!(w.m.node.relay_usage().unwrap().0, used_before + wrong_epoch.len() as u64);
    assert_eq!(w.m.node.custody().unwrap(), custody_before);
    assert!(w.m.node.feed(&wells).unwrap().is_empty());
}

/// Oversized, deeply nested, padded and bomb-carrying input is refused before it costs
/// more than its size.
#[test]
fn oversized_nested_padded_and_bomb_input_is_refused() {
    let mut w = world();
    let huge = vec![0u8; caravan::limits::BUNDLE_BYTES_MAX + 1];
    assert!(matches!(
        import_unchanged(&mut w.b.node, &huge),
        Outcome::Rejected(Rejection::Format(BundleFormatError::TooLarge(_)))
    ));
    // A valid primary block around 10,000 nested CBOR arrays.
    let mut nested = vec![0x81u8; 10_000];
    nested.push(0);
    let me = w.b.node.node_id();
    let deep =
        bundle::build(&me.endpoint(), &me.endpoint(), common::now_ms(), 1, Duration::from_secs(60), &nested).unwrap();
    // Not cloaked: refused at the first look.
    assert!(matches!(
        import_unchanged(&mut w.b.node, &deep),
        Outcome::Rejected(Rejection::Cloak(caravan::cloak::CloakError::Version))
    ));
    // Cloaked for B's own public route, so B opens it.
    let deep = common::cloak_for(&deep, &format!("p/{me}/public"), None);
    assert!(matches!(
        import_unchanged(&mut w.b.node, &deep),
        Outcome::Rejected(Rejection::Envelope(EnvelopeError::Cbor { .. }))
    ));

    // A contact's own public-profile announcement, padded with an unknown header field
    // and validly signed: another spelling of a signed structure is refused.
    let a_identity = {
        let secret: [u8; 64] = std::fs::read(w.a.home.path().join("identity.key")).unwrap().try_into().unwrap();
        Identity::from_secret_bytes(&secret)
    };
    let doc = DocId::Profile { owner: a_identity.node_id(), audience: Audience::Public };
    let padded = common::forge_padded_announcement(&a_identity, &doc.to_string(), &doc.endpoint(), 4096);
    assert!(matches!(
        import_unchanged(&mut w.b.node, &padded),
        Outcome::Rejected(Rejection::Envelope(EnvelopeError::NonCanonical))
    ));

    // A member's batch of raw changes holding a compressed change chunk (a DEFLATE bomb:
    // 64 MiB of zeros in about 64 KiB) is refused without inflating it.
    let b_identity = {
        let secret: [u8; 64] = std::fs::read(w.b.home.path().join("identity.key")).unwrap().try_into().unwrap();
        Identity::from_secret_bytes(&secret)
    };
    let feed = DocId::Community { id: w.wells, part: Part::FEED };
    let key = w.b.node.community_key(&w.wells).unwrap();
    let (genesis, chain) = w.b.node.membership_proof(&w.wells).unwrap();
    let bomb = common::compressed_change_bomb(&b_identity.signing_public(), 64 << 20);
    assert!(bomb.len() < 256 * 1024, "{}", bomb.len());
    let bundle = forge_batch(
        &b_identity,
        &w.b.node.node_id().endpoint(),
        &feed.to_string(),
        &w.wells.endpoint(),
        Some(key),
        Some(genesis),
        chain,
        &[bomb],
    );
    let started = std::time::Instant::now();
    match import_unchanged(&mut w.m.node, &bundle) {
        Outcome::Rejected(Rejection::Unbounded(ScanError::CompressedChange)) => {}
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
}

/// A daemon's configuration that cannot be used is refused with one line naming the file
/// and why, before anything starts: a directory, a device, a FIFO (which must not hang
/// the start), a file given by name that does not exist, a misspelled key.
#[cfg(unix)]
#[test]
fn an_unusable_config_is_refused_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    drop(Node::open(&home, "Hub").unwrap());
    let fifo = dir.path().join("fifo.toml");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let zero = dir.path().join("zero.toml");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    let typo = dir.path().join("typo.toml");
    std::fs::write(&typo, "relay_qouta = \"1GiB\"\n").unwrap();
    let cases: [(&std::path::Path, &str); 5] = [
        (dir.path(), "not a regular file"),
        (&fifo, "not a regular file"),
        (&zero, "not a regular file"),
        (&dir.path().join("missing.toml"), "no such file"),
        (&typo, "relay_qouta"),
    ];
    for (path, reason) in cases {
        let started = std::time::Instant::now();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_caravan"))
            .arg("--home")
            .arg(&home)
            .arg("daemon")
            .arg("--config")
            .arg(path)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{path:?} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(reason) && err.contains(&*path.to_string_lossy()), "{path:?}: {err}");
        assert!(started.elapsed() < Duration::from_secs(5), "{path:?} took {:?}", started.elapsed());
    }
}

/// Hostile stick entries and a foreign stick, through the binary: each hostile entry is
/// skipped with a line naming it, the sync still succeeds, and the node keeps exactly
/// what it kept (the stick brought nothing new); a foreign `caravan/` folder is refused.
#[cfg(unix)]
#[test]
fn hostile_stick_entries_are_named_and_change_nothing_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (hv, hw) = (dir.path().join("v"), dir.path().join("w"));
    let stick = dir.path().join("stick");
    std::fs::create_dir(&stick).unwrap();
    {
        let mut v = Node::open(&hv, "V").unwrap();
        let mut w = Node::open(&hw, "W").unwrap();
        v.add_contact(&w.card(), &[]).unwrap();
        w.set_profile_field("name", "W", Audience::Public).unwrap();
        caravan::link::stick::sync(&mut w, &stick, Default::default()).unwrap();
        for _ in 0..2 {
            caravan::link::stick::sync(&mut v, &stick, Default::default()).unwrap();
        }
    }
    let fingerprint = || Node::open(&hv, "").unwrap().fingerprint().unwrap();
    let before = fingerprint();
    let key_before = std::fs::read(hv.join("identity.key")).unwrap();
    let folder = stick.join("caravan");
    let stranger = Identity::generate().node_id();
    let name = |n: u32, ext: &str| format!("{stranger}-{n:06}.{ext}");
    // A link to the node's own key, a directory, a FIFO, a 2 GB sparse index, a foreign
    // header under a segment name.
    std::os::unix::fs::symlink(hv.join("identity.key"), folder.join(name(1, "seg"))).unwrap();
    std::fs::create_dir(folder.join(name(2, "idx"))).unwrap();
    std::fs::write(folder.join(name(2, "seg")), vec![0u8; 512]).unwrap();
    assert!(std::process::Command::new("mkfifo").arg(folder.join(name(3, "seg"))).status().unwrap().success());
    let sparse = std::fs::File::create(folder.join(name(4, "idx"))).unwrap();
    sparse.set_len(2 << 30).unwrap();
    std::fs::write(folder.join(name(4, "seg")), vec![0u8; 512]).unwrap();
    std::fs::write(folder.join(name(5, "seg")), b"PLANTED!".repeat(64)).unwrap();
    std::fs::write(folder.join(name(5, "idx")), b"PLANTED!".repeat(64)).unwrap();
    let started = std::time::Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_caravan"))
        .arg("--home")
        .arg(&hv)
        .args(["sync", "--stick"])
        .arg(&stick)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(started.elapsed() < Duration::from_secs(30), "{:?}", started.elapsed());
    let err = String::from_utf8_lossy(&out.stderr);
    // The link, the directory and the FIFO are named; the sparse index holds no entry that
    // counts (it was read in bounded time and memory), and the planted pair no record.
    for n in 1..=3 {
        assert!(err.contains(&format!("{stranger}-{n:06}")), "entry {n} not named: {err}");
    }
    assert_eq!(std::fs::read(hv.join("identity.key")).unwrap(), key_before);
    assert_eq!(fingerprint(), before, "the hostile stick changed what the node keeps");

    // A folder not written by Caravan: refused, nothing kept changes.
    let foreign = dir.path().join("foreign");
    std::fs::create_dir_all(foreign.join("caravan")).unwrap();
    std::fs::write(foreign.join("caravan/notes.txt"), "mine").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_caravan"))
        .arg("--home")
        .arg(&hv)
        .args(["sync", "--stick"])
        .arg(&foreign)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not written by Caravan"), "{out:?}");
    assert_eq!(std::fs::read_dir(foreign.join("caravan")).unwrap().count(), 1);
    assert_eq!(fingerprint(), before);
}
