//! The golden corpus in `bundles/`: real bundles this code produced, each beside what it
//! must decode to. Today's code must still read every one of them, and a second BPv7
//! implementation (dtn7-rs's `bp7`) must parse each as valid BPv7.
//!
//! Regenerate (only when a format changes on purpose, with `spec/` updated in the same
//! commit): `cargo test --test golden -- --ignored regenerate`.

mod common;

use std::path::{Path, PathBuf};

use caravan::envelope::{self, Kind};
use caravan::{Audience, CommunityId, Node, NodeId, Outcome, Role, Target};
use serde_json::{Value, json};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The route recorded beside a corpus bundle (so the test opens its cloak as its readers
/// do, without their keys).
fn route(v: &Value) -> caravan::cloak::Route {
    let s = v.as_str().expect("a recorded route");
    let mut r = [0u8; 32];
    for (i, b) in r.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
    }
    caravan::cloak::Route(r)
}

/// The cloak of a corpus bundle read at `now` (source nobody, destination a tag, padded),
/// the second decoder agreeing, and its inner bundle opened with `route`.
fn unwrap_cloak(name: &str, bytes: &[u8], now: u64, route: caravan::cloak::Route) -> Vec<u8> {
    let outer = caravan::cloak::read(bytes, now).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(outer.info.source, "dtn:none", "{name}");
    let other = bp7::Bundle::try_from(bytes).unwrap_or_else(|e| panic!("{name}: bp7: {e:?}"));
    other.validate().unwrap_or_else(|e| panic!("{name}: bp7 validate: {e:?}"));
    assert_eq!(other.primary.destination.to_string(), outer.info.destination, "{name}");
    let inner = outer.open(&route).unwrap_or_else(|e| panic!("{name}: {e}"));
    let other = bp7::Bundle::try_from(inner.as_slice()).unwrap_or_else(|e| panic!("{name}: inner bp7: {e:?}"));
    other.validate().unwrap_or_else(|e| panic!("{name}: inner bp7 validate: {e:?}"));
    inner
}

/// A bundle of `node`'s (or one it reads) opened, for the corpus.
fn opened(node: &Node, bytes: &[u8]) -> caravan::cloak::Opened {
    node.open_cloak(bytes).unwrap().expect("a bundle its writer opens")
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("bundles")
}

/// Opens a node in a fresh home with a corpus identity, at a fixed time.
fn reader(who: &str, now: u64) -> (Node, tempfile::TempDir) {
    let home = tempfile::tempdir().unwrap();
    std::fs::copy(corpus().join("keys").join(format!("{who}.key")), home.path().join("identity.key")).unwrap();
    let mut node = Node::open(home.path(), who).unwrap();
    node.set_clock(std::sync::Arc::new(move || now));
    // Readers know the corpus's other nodes (so invitations from them are accepted).
    for entry in std::fs::read_dir(corpus().join("keys")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "card") {
            let card = caravan::ContactCard::parse(&std::fs::read_to_string(&p).unwrap()).unwrap();
            if card.node_id() != node.node_id() {
                node.add_contact(&card, &[]).unwrap();
            }
        }
    }
    (node, home)
}

fn read(node: &mut Node, what: &str, arg: &str, community: &CommunityId, a: &NodeId) -> Option<String> {
    match what {
        "wiki" => node.wiki_page(community, arg).unwrap(),
        "community" => {
            let (name, description) = node.community_about(community).unwrap();
            if arg == "name" { name } else { description }
        }
        "members" => Some(node.members(community).unwrap().len().to_string()),
        "profile" => node.profile(a).unwrap().into_iter().find(|f| f.name == arg).map(|f| f.value),
        "role" => node.role(community).ok().map(|r| r.to_string()),
        other => panic!("unknown read {other}"),
    }
}

#[test]
fn golden_corpus_still_decodes() {
    let dir = corpus();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            (p.extension()? == "bundle").then(|| p.file_stem().unwrap().to_string_lossy().into_owned())
        })
        .collect();
    names.sort();
    assert!(names.len() >= 8, "corpus is missing bundles: {names:?}");
    for name in &names {
        let bytes = std::fs::read(dir.join(format!("{name}.bundle"))).unwrap();
        let expect: Value = serde_json::from_slice(&std::fs::read(dir.join(format!("{name}.json"))).unwrap()).unwrap();
        let created = expect["created_unix_ms"].as_u64().unwrap();
        let now = created + 1000;

        // The cloak, then the inner bundle's primary block, through our decoder.
        let outer = caravan::cloak::read(&bytes, now).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(outer.info.destination, expect["tag"], "{name}");
        let bytes = unwrap_cloak(name, &bytes, now, route(&expect["route"]));
        let info = caravan::bundle::parse(&bytes, now).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(info.source, expect["source"], "{name}");
        assert_eq!(info.destination, expect["destination"], "{name}");
        assert_eq!(info.created_unix_ms, created, "{name}");
        assert_eq!(info.lifetime_ms, expect["lifetime_ms"].as_u64().unwrap(), "{name}");

        // The second decoder agrees on the addressing.
        let other = bp7::Bundle::try_from(bytes.as_slice()).unwrap_or_else(|e| panic!("{name}: bp7: {e:?}"));
        assert_eq!(other.primary.destination.to_string(), info.destination, "{name}");
        assert_eq!(other.primary.source.to_string(), info.source, "{name}");
        assert_eq!(other.payload().unwrap().as_slice(), &bytes[info.payload.clone()], "{name}");

        // Envelope header.
        let env = envelope::decode_envelope(&bytes[info.payload.clone()]).unwrap();
        let kind = match env.header.kind {
            Kind::Batch => "batch",
            Kind::Grant => "grant",
            Kind::Snapshot => "snapshot",
            Kind::Slots => "slots",
        };
        assert_eq!(kind, expect["kind"], "{name}");
        assert_eq!(env.header.doc, expect["doc"], "{name}");
        // The custody id is in the signed header.
        assert_eq!(env.header.author.to_string(), expect["author"], "{name}");
        assert_eq!(env.header.seq, expect["seq"].as_u64().unwrap(), "{name}");
        assert_eq!(format!("dtn://{}/caravan", expect["author"].as_str().unwrap()), info.source, "{name}");
        assert_eq!(env.header.encrypted, expect["encrypted"], "{name}");
        assert_eq!(env.header.heads.len() as u64, expect["heads"].as_u64().unwrap(), "{name}");

        // Opened by its reader (after its prerequisites), it yields the recorded content.
        let community = CommunityId::parse(expect["community"].as_str().unwrap()).unwrap();
        let a = NodeId::parse(expect["founder"].as_str().unwrap()).unwrap();
        let (mut node, _home) = reader(expect["reader"].as_str().unwrap(), now);
        for pre in expect["prerequisites"].as_array().unwrap() {
            let pre = std::fs::read(dir.join(format!("{}.bundle", pre.as_str().unwrap()))).unwrap();
            let r = node.import(&pre).unwrap();
            assert!(r.rejected().is_empty(), "{name}: prerequisite rejected: {:?}", r.rejected());
        }
        let cloaked = std::fs::read(dir.join(format!("{name}.bundle"))).unwrap();
        let report = node.import(&cloaked).unwrap();
        match (&report.outcomes[0], expect["changes"].as_u64()) {
            (Outcome::New { changes, .. }, Some(n)) => assert_eq!(*changes as u64, n, "{name}"),
            (other, _) => panic!("{name}: expected a new bundle, got {other:?}"),
        }
        for r in expect["reads"].as_array().unwrap() {
            let r = r.as_array().unwrap();
            let got = read(&mut node, r[0].as_str().unwrap(), r[1].as_str().unwrap(), &community, &a);
            assert_eq!(got.as_deref(), r[2].as_str(), "{name}: read {r:?}");
        }
    }
}

#[test]
#[ignore = "rewrites bundles/; run only when a format changes on purpose"]
fn regenerate() {
    let dir = corpus();
    std::fs::create_dir_all(dir.join("keys")).unwrap();
    let home = |who: &str| {
        let h = tempfile::tempdir().unwrap();
        let key = dir.join("keys").join(format!("{who}.key"));
        if !key.exists() {
            caravan::Identity::load_or_create(&key).unwrap();
        }
        std::fs::copy(&key, h.path().join("identity.key")).unwrap();
        h
    };
    let (ha, hb) = (home("a"), home("b"));
    let mut a = Node::open(ha.path(), "Founder A").unwrap();
    let mut b = Node::open(hb.path(), "Editor B").unwrap();
    a.add_contact(&b.card(), &[Audience::Friends]).unwrap();
    b.add_contact(&a.card(), &[]).unwrap();
    a.set_profile_field("name", "Amina", Audience::Public).unwrap();
    a.set_profile_field("phone", "+254 700 111 222", Audience::Friends).unwrap();
    std::fs::write(dir.join("keys/a.card"), a.card().to_string() + "\n").unwrap();
    std::fs::write(dir.join("keys/b.card"), b.card().to_string() + "\n").unwrap();
    let wells = a.create_community("Wells", "Where the water is").unwrap();
    a.invite(&wells, &b.card(), Role::Editor).unwrap();
    a.put_wiki_page(&wells, "Water", "North well: pump works.\n").unwrap();
    let from_a = a.export(Target::Everyone).unwrap();
    b.import_many(from_a.iter().map(Vec::as_slice)).unwrap();
    let from_b = b.export(Target::Peer(a.node_id())).unwrap();
    let b_node = &b;

    for old in std::fs::read_dir(&dir).unwrap() {
        let p = old.unwrap().path();
        if p.is_file() && matches!(p.extension().and_then(|e| e.to_str()), Some("bundle" | "json")) {
            std::fs::remove_file(p).unwrap();
        }
    }
    let cid = wells.to_string();
    let aid = a.node_id().to_string();
    let write = |name: &str, bytes: &[u8], reader: &str, pre: &[&str], changes: u64, reads: Value| {
        let o = opened(&a, bytes);
        let tag = caravan::cloak::read_untimed(bytes).unwrap().info.destination;
        let info = caravan::bundle::parse(&o.inner, caravan_now()).unwrap();
        let env = envelope::decode_envelope(&o.inner[info.payload.clone()]).unwrap();
        let expect = json!({
            "tag": tag,
            "route": hex(&o.route.0),
            "source": info.source,
            "destination": info.destination,
            "created_unix_ms": info.created_unix_ms,
            "lifetime_ms": info.lifetime_ms,
            "kind": if env.header.kind == Kind::Batch { "batch" } else { "grant" },
            "author": env.header.author.to_string(),
            "seq": env.header.seq,
            "doc": env.header.doc,
            "encrypted": env.header.encrypted,
            "heads": env.header.heads.len(),
            "community": cid,
            "founder": aid,
            "reader": reader,
            "prerequisites": pre,
            "changes": changes,
            "reads": reads,
        });
        std::fs::write(dir.join(format!("{name}.bundle")), bytes).unwrap();
        std::fs::write(dir.join(format!("{name}.json")), serde_json::to_string_pretty(&expect).unwrap() + "\n")
            .unwrap();
    };
    let inner_info = |b: &[u8]| {
        let inner = a.open_cloak(b).unwrap().or_else(|| b_node.open_cloak(b).unwrap())?.inner;
        Some((caravan::bundle::parse(&inner, caravan_now()).unwrap(), inner))
    };
    let doc_of = |b: &[u8]| {
        let Some((info, inner)) = inner_info(b) else { return String::new() };
        // Custody signals (administrative records) have no envelope.
        envelope::decode_envelope(&inner[info.payload.clone()]).map(|e| e.header.doc).unwrap_or_default()
    };
    let find = |set: &[Vec<u8>], suffix: &str| -> Vec<u8> {
        set.iter().find(|b| doc_of(b).ends_with(suffix)).unwrap_or_else(|| panic!("no bundle for {suffix}")).clone()
    };
    // A wiki page is a document of its own (`c/<community>/wiki/<page id>`).
    let find_page = |set: &[Vec<u8>]| -> Vec<u8> {
        set.iter().find(|b| doc_of(b).contains("/wiki/")).expect("a wiki page's bundle").clone()
    };
    let p = |s: &str| format!("p/{aid}/{s}");
    write("invitation", &find(&from_a, &format!("c/{cid}")), "b", &[], 0, json!([["role", "", "editor"]]));
    // A node reads a community's public part once it is a member (before, it carries it).
    write(
        "community-public",
        &find(&from_a, &format!("c/{cid}/public")),
        "b",
        &["invitation"],
        1,
        json!([["community", "name", "Wells"], ["community", "description", "Where the water is"]]),
    );
    let public_profile = from_a.iter().find(|x| doc_of(x) == p("public")).unwrap().clone();
    write("profile-public", &public_profile, "b", &[], 1, json!([["profile", "name", "Amina"]]));
    let friends_grant = from_a
        .iter()
        .find(|x| doc_of(x) == p("friends") && inner_info(x).unwrap().0.destination.ends_with("/caravan"))
        .unwrap()
        .clone();
    write("profile-friends-grant", &friends_grant, "b", &[], 0, json!([]));
    let friends = from_a
        .iter()
        .find(|x| doc_of(x) == p("friends") && inner_info(x).unwrap().0.destination.contains("~profile"))
        .unwrap()
        .clone();
    write(
        "profile-friends",
        &friends,
        "b",
        &["profile-friends-grant"],
        1,
        json!([["profile", "phone", "+254 700 111 222"]]),
    );
    write("community-roster", &find(&from_a, "/roster"), "b", &["invitation"], 2, json!([["members", "", "2"]]));
    write(
        "community-wiki",
        &find_page(&from_a),
        "b",
        &["invitation"],
        1,
        json!([["wiki", "Water", "North well: pump works.\n"]]),
    );
    write(
        "announcement",
        &find_page(&from_b),
        "b",
        &["invitation", "community-wiki"],
        0,
        json!([["wiki", "Water", "North well: pump works.\n"]]),
    );
}

fn caravan_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

fn corpus_time() -> u64 {
    let expect: Value = serde_json::from_slice(&std::fs::read(corpus().join("invitation.json")).unwrap()).unwrap();
    expect["created_unix_ms"].as_u64().unwrap()
}

/// A stick written by this code (`bundles/stick-v1/`): today's code must still read it.
#[test]
fn golden_stick_still_reads() {
    let now = corpus_time() + 2000;
    let stick = tempfile::tempdir().unwrap();
    let golden = corpus().join("stick-v1/caravan");
    std::fs::create_dir(stick.path().join("caravan")).unwrap();
    for e in std::fs::read_dir(&golden).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), stick.path().join("caravan").join(e.file_name())).unwrap();
    }
    let (mut b, _home) = reader("b", now);
    let r = caravan::link::stick::sync(&mut b, stick.path(), Default::default()).unwrap();
    assert_eq!(r.records, common::corpus_bundles().len(), "{r:?}");
    assert_eq!((r.damaged, r.expired, r.rejected.len()), (0, 0, 0), "{r:?}");
    let expect: Value = serde_json::from_slice(&std::fs::read(corpus().join("community-wiki.json")).unwrap()).unwrap();
    let cid = CommunityId::parse(expect["community"].as_str().unwrap()).unwrap();
    assert_eq!(b.wiki_page(&cid, "Water").unwrap().as_deref(), Some("North well: pump works.\n"));
}

#[test]
#[ignore = "rewrites bundles/stick-v1; run only when the stick layout changes on purpose"]
fn regenerate_stick() {
    let now = corpus_time() + 1000;
    let out = corpus().join("stick-v1");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    let home = tempfile::tempdir().unwrap();
    let mut relay = Node::open(home.path(), "relay").unwrap();
    relay.set_clock(std::sync::Arc::new(move || now));
    let all = common::corpus_bundles();
    let r = relay.import_many(all.iter().map(Vec::as_slice)).unwrap();
    assert!(r.rejected().is_empty(), "{:?}", r.rejected());
    let s = caravan::link::stick::sync(&mut relay, &out, Default::default()).unwrap();
    assert_eq!(s.exported, all.len());
}

/// A signal's entries as JSON: `[disposition, source, ranges]`.
fn signal_entries(rec: &envelope::SignalRecord) -> Value {
    let entries: Vec<Value> = rec
        .signal
        .entries
        .iter()
        .map(|e| json!([format!("{:?}", e.disposition), e.source.to_string(), e.ranges]))
        .collect();
    Value::from(entries)
}

/// The custody corpus, `bundles/custody-v1/`: a custody signal from B to A (a BPv7
/// administrative record), A's release list (what every destination holds), and the
/// snapshots A sealed for a late joiner D (the wiki's index and A's page), with the
/// invitation D must see first.
#[test]
fn golden_custody_corpus_still_reads() {
    let dir = corpus().join("custody-v1");
    let expect: Value = serde_json::from_slice(&std::fs::read(dir.join("custody.json")).unwrap()).unwrap();
    let now = expect["created_unix_ms"].as_u64().unwrap() + 1000;
    {
        let (file, disposition) = ("signal", "Accepted");
        let bytes = std::fs::read(dir.join(format!("{file}.bundle"))).unwrap();
        let bytes = unwrap_cloak(file, &bytes, now, route(&expect[file]["route"]));
        let info = caravan::bundle::parse(&bytes, now).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(info.admin_record, "{file}");
        assert_eq!(info.source, expect[file]["source"], "{file}");
        assert_eq!(info.destination, expect[file]["destination"], "{file}");
        let rec = envelope::decode_signal_record(&bytes[info.payload.clone()]).unwrap();
        caravan::crypto::verify(&rec.signer, caravan::crypto::CONTEXT_CUSTODY_SIGNAL, &[rec.inner], &rec.signature)
            .unwrap_or_else(|e| panic!("{file}: signature: {e}"));
        assert_eq!(signal_entries(&rec), expect[file]["entries"], "{file}");
        assert!(rec.signal.entries.iter().all(|e| format!("{:?}", e.disposition) == disposition));
    }
    // A's release list: from nobody, anyone opens it, and it shows the secrets of what
    // every destination holds.
    let bytes = std::fs::read(dir.join("release.bundle")).unwrap();
    let inner = unwrap_cloak("release", &bytes, now, caravan::cloak::Route::releases());
    let info = caravan::bundle::parse(&inner, now).unwrap();
    assert!(info.admin_record);
    assert_eq!((info.source.as_str(), info.destination.as_str()), ("dtn:none", "dtn:none"));
    let secrets = envelope::decode_release_record(&inner[info.payload.clone()]).unwrap();
    assert_eq!(json!(secrets.len()), expect["release"]["secrets"]);
    // D opens the snapshot after its invitation and holds the whole wiki, written by two
    // authors, without any of the bundles that first carried it.
    let (mut d, _home) = reader("d", now);
    for file in ["invitation-d", "snapshot-0", "snapshot-1"] {
        let bytes = std::fs::read(dir.join(format!("{file}.bundle"))).unwrap();
        let report = d.import(&bytes).unwrap();
        assert!(matches!(report.outcomes[0], Outcome::New { .. }), "{file}: {:?}", report.outcomes);
    }
    let cid = CommunityId::parse(expect["community"].as_str().unwrap()).unwrap();
    for page in expect["pages"].as_array().unwrap() {
        let page = page.as_array().unwrap();
        assert_eq!(d.wiki_page(&cid, page[0].as_str().unwrap()).unwrap().as_deref(), page[1].as_str());
    }
    assert_eq!(json!(d.wiki_pages(&cid).unwrap()), expect["names"]);
}

#[test]
#[ignore = "rewrites bundles/custody-v1; run only when a custody format changes on purpose"]
fn regenerate_custody() {
    let dir = corpus().join("custody-v1");
    std::fs::create_dir_all(&dir).unwrap();
    let home = |who: &str| {
        let h = tempfile::tempdir().unwrap();
        let key = corpus().join("keys").join(format!("{who}.key"));
        if !key.exists() {
            caravan::Identity::load_or_create(&key).unwrap();
        }
        std::fs::copy(&key, h.path().join("identity.key")).unwrap();
        h
    };
    let (ha, hb, hd) = (home("a"), home("b"), home("d"));
    let mut a = Node::open(ha.path(), "Founder A").unwrap();
    let mut b = Node::open(hb.path(), "Editor B").unwrap();
    let mut d = Node::open(hd.path(), "Late D").unwrap();
    std::fs::write(corpus().join("keys/d.card"), d.card().to_string() + "\n").unwrap();
    b.add_contact(&a.card(), &[]).unwrap();
    d.add_contact(&a.card(), &[]).unwrap();
    let wells = a.create_community("Wells", "Where the water is").unwrap();
    a.invite(&wells, &b.card(), Role::Editor).unwrap();
    a.put_wiki_page(&wells, "Water", "North well: pump works.\n").unwrap();
    let from_a = a.export(Target::Everyone).unwrap();
    b.import_many(from_a.iter().map(Vec::as_slice)).unwrap();
    b.put_wiki_page(&wells, "Roads", "The ford is passable.\n").unwrap();
    let from_b = b.export(Target::Everyone).unwrap();
    a.import_many(from_b.iter().map(Vec::as_slice)).unwrap();
    let inner = |n: &Node, x: &[u8]| n.open_cloak(x).unwrap().map(|o| o.inner);
    let is_admin = |n: &Node, x: &Vec<u8>| {
        inner(n, x).is_some_and(|i| caravan::bundle::parse(&i, caravan_now()).unwrap().admin_record)
    };
    let signal = from_b.iter().find(|x| is_admin(&b, x)).expect("B's custody signal").clone();
    a.invite(&wells, &d.card(), Role::Member).unwrap();
    let to_d = a.export(Target::Everyone).unwrap();
    let release = to_d
        .iter()
        .find(|x| {
            is_admin(&a, x) && a.open_cloak(x).unwrap().is_some_and(|o| o.route == caravan::cloak::Route::releases())
        })
        .expect("A's release list")
        .clone();
    let secrets = {
        let inner = inner(&a, &release).unwrap();
        let info = caravan::bundle::parse(&inner, caravan_now()).unwrap();
        envelope::decode_release_record(&inner[info.payload.clone()]).unwrap().len()
    };
    let kind_of = |x: &[u8]| {
        let x = inner(&a, x)?;
        let info = caravan::bundle::parse(&x, caravan_now()).unwrap();
        envelope::decode_envelope(&x[info.payload.clone()])
            .ok()
            .map(|e| (e.header.kind, info.destination, e.header.doc))
    };
    // The wiki's index and each page are documents of their own: a snapshot each.
    let snapshots: Vec<Vec<u8>> = to_d
        .iter()
        .filter(|x| kind_of(x).is_some_and(|(k, _, doc)| k == Kind::Snapshot && doc.contains("/wiki")))
        .cloned()
        .collect();
    // (B's page is still in B's own bundle, stored at A: no snapshot needed for it.)
    assert_eq!(snapshots.len(), 2, "the index and A's page");
    let snapshot = snapshots[0].clone();
    let invitation = to_d
        .iter()
        .find(|x| kind_of(x).is_some_and(|(k, dest, _)| k == Kind::Grant && dest == d.node_id().endpoint()))
        .expect("D's invitation")
        .clone();
    let describe = |n: &Node, x: &[u8]| {
        let o = opened(n, x);
        let info = caravan::bundle::parse(&o.inner, caravan_now()).unwrap();
        let rec = envelope::decode_signal_record(&o.inner[info.payload.clone()]).unwrap();
        json!({
            "route": hex(&o.route.0),
            "source": info.source,
            "destination": info.destination,
            "entries": signal_entries(&rec),
        })
    };
    let created = caravan::cloak::read_untimed(&snapshot).unwrap().info.created_unix_ms;
    let expect = json!({
        "created_unix_ms": created,
        "community": wells.to_string(),
        "signal": describe(&b, &signal),
        "release": { "secrets": secrets },
        "pages": [["Water", "North well: pump works.\n"]],
        "names": ["Roads", "Water"],
    });
    let _ = std::fs::remove_file(dir.join("snapshot.bundle"));
    let _ = std::fs::remove_file(dir.join("notice.bundle"));
    for (name, bytes) in [("signal", &signal), ("release", &release), ("invitation-d", &invitation)] {
        std::fs::write(dir.join(format!("{name}.bundle")), bytes).unwrap();
    }
    for (i, bytes) in snapshots.iter().enumerate() {
        std::fs::write(dir.join(format!("snapshot-{i}.bundle")), bytes).unwrap();
    }
    std::fs::write(dir.join("custody.json"), serde_json::to_string_pretty(&expect).unwrap() + "\n").unwrap();
}

/// A LAN beacon written by this code (`bundles/lan-v1/`, `spec/sync.md`): today's code
/// must still read it, and any changed byte must be refused.
#[test]
fn golden_beacon_still_reads() {
    use caravan::link::lan;
    let dir = corpus().join("lan-v1");
    let bytes = std::fs::read(dir.join("beacon.bin")).unwrap();
    let want: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("beacon.json")).unwrap()).unwrap();
    let beacon = lan::open(&bytes).unwrap();
    let card = caravan::ContactCard::parse(&std::fs::read_to_string(corpus().join("keys/a.card")).unwrap()).unwrap();
    assert_eq!(beacon.card, card);
    assert_eq!(json!(beacon.port), want["port"]);
    assert_eq!(json!(beacon.sent_ms), want["sent_ms"]);
    assert_eq!(json!(beacon.card.node_id().to_string()), want["node"]);
    for i in 0..bytes.len() {
        let mut damaged = bytes.clone();
        damaged[i] ^= 1;
        assert!(lan::open(&damaged).is_err(), "byte {i} changed and still accepted");
    }
}

#[test]
#[ignore = "rewrites bundles/lan-v1; run only when the beacon format changes on purpose"]
fn regenerate_beacon() {
    use caravan::link::lan;
    let dir = corpus().join("lan-v1");
    std::fs::create_dir_all(&dir).unwrap();
    let id = caravan::Identity::load_or_create(&corpus().join("keys/a.key")).unwrap();
    let card = caravan::ContactCard::parse(&std::fs::read_to_string(corpus().join("keys/a.card")).unwrap()).unwrap();
    let sent_ms = 1_795_000_000_000u64;
    std::fs::write(dir.join("beacon.bin"), lan::seal(&id, &card, 4433, sent_ms)).unwrap();
    let want = json!({"node": card.node_id().to_string(), "port": 4433, "sent_ms": sent_ms});
    std::fs::write(dir.join("beacon.json"), serde_json::to_string_pretty(&want).unwrap() + "\n").unwrap();
}

/// The document-kinds corpus, `bundles/kinds-v1/`: a wiki index, a wiki page (a list of
/// lines, its own document) and a members' market listing, with the invitation the
/// reader must see first. The reader `b` then reads the page and the listing.
#[test]
fn golden_kinds_corpus_still_reads() {
    let dir = corpus().join("kinds-v1");
    let expect: Value = serde_json::from_slice(&std::fs::read(dir.join("kinds.json")).unwrap()).unwrap();
    let now = expect["created_unix_ms"].as_u64().unwrap() + 1000;
    let cid = CommunityId::parse(expect["community"].as_str().unwrap()).unwrap();
    let (mut b, _home) = reader("b", now);
    for (file, doc_suffix) in
        [("invitation", ""), ("wiki-index", "/wiki"), ("wiki-page", "/wiki/"), ("market", "/market")]
    {
        let bytes = std::fs::read(dir.join(format!("{file}.bundle"))).unwrap();
        let inner = unwrap_cloak(file, &bytes, now, route(&expect[file]["route"]));
        let info = caravan::bundle::parse(&inner, now).unwrap_or_else(|e| panic!("{file}: {e}"));
        let env = envelope::decode_envelope(&inner[info.payload.clone()]).unwrap();
        assert!(env.header.doc.contains(doc_suffix), "{file}: {}", env.header.doc);
        assert_eq!(env.header.doc, expect[file]["doc"].as_str().unwrap(), "{file}");
        let r = b.import(&bytes).unwrap();
        assert!(matches!(r.outcomes[0], Outcome::New { .. }), "{file}: {r:?}");
    }
    assert_eq!(b.wiki_page(&cid, "Water").unwrap().as_deref(), expect["page"].as_str());
    assert_eq!(b.wiki_pages(&cid).unwrap(), vec!["Water".to_string()]);
    let listings = b.listings(&cid).unwrap();
    assert_eq!(listings.len(), 1);
    assert_eq!(listings[0].1.listing.title, expect["listing"].as_str().unwrap());
}

#[test]
#[ignore = "rewrites bundles/kinds-v1; run only when a document kind's layout changes on purpose"]
fn regenerate_kinds() {
    use caravan::plugin::market::{ListingKind, NewListing, Price};
    let dir = corpus().join("kinds-v1");
    std::fs::create_dir_all(&dir).unwrap();
    let home = |who: &str| {
        let h = tempfile::tempdir().unwrap();
        std::fs::copy(corpus().join("keys").join(format!("{who}.key")), h.path().join("identity.key")).unwrap();
        h
    };
    let (ha, hb) = (home("a"), home("b"));
    let now = caravan_now();
    let mut a = Node::open(ha.path(), "Founder A").unwrap();
    a.set_clock(std::sync::Arc::new(move || now));
    let b = Node::open(hb.path(), "Editor B").unwrap();
    a.add_contact(&b.card(), &[]).unwrap();
    let wells = a.create_community("Wells", "Where the water is").unwrap();
    a.invite(&wells, &b.card(), Role::Member).unwrap();
    let page = "North well: pump works.\nSouth well: dry since May.\n";
    a.put_wiki_page(&wells, "Water", page).unwrap();
    let listing = NewListing {
        kind: ListingKind::Offer,
        title: "Eggs".into(),
        description: "a dozen".into(),
        terms: String::new(),
        price: Some(Price { amount: "2.50".into(), unit: "EUR".into() }),
        quantity: Some(12),
        place: "Hill farm".into(),
        expires_unix_ms: now + 365 * 86_400_000,
    };
    a.add_listing(&wells, false, &listing).unwrap();
    let all = a.export(Target::Everyone).unwrap();
    let cid = wells.to_string();
    let doc_of = |x: &[u8]| {
        let Some(o) = a.open_cloak(x).unwrap() else { return String::new() };
        let info = caravan::bundle::parse(&o.inner, now).unwrap();
        envelope::decode_envelope(&o.inner[info.payload.clone()]).map(|e| e.header.doc).unwrap_or_default()
    };
    let mut docs = serde_json::Map::new();
    for (file, pick) in [
        ("invitation", format!("c/{cid}")),
        ("wiki-index", format!("c/{cid}/wiki")),
        ("wiki-page", format!("c/{cid}/wiki/")),
        ("market", format!("c/{cid}/market")),
    ] {
        let bytes = all
            .iter()
            .find(|x| if file == "wiki-page" { doc_of(x).starts_with(&pick) } else { doc_of(x) == pick })
            .unwrap_or_else(|| panic!("no bundle for {file}"));
        std::fs::write(dir.join(format!("{file}.bundle")), bytes).unwrap();
        docs.insert(file.into(), json!({ "doc": doc_of(bytes), "route": hex(&opened(&a, bytes).route.0) }));
    }
    docs.insert("created_unix_ms".into(), json!(now));
    docs.insert("community".into(), json!(cid));
    docs.insert("page".into(), json!(page));
    docs.insert("listing".into(), json!(listing.title));
    std::fs::write(dir.join("kinds.json"), serde_json::to_string_pretty(&Value::Object(docs)).unwrap() + "\n").unwrap();
}

/// The membership corpus, `bundles/membership-v1/`: a community whose founder `a`
/// invited `b` (member) and `d` (editor), posted, removed `d` (a new key in the same
/// operation) and posted again, then invited `e` (its invitation carries the earlier
/// key); and `a`'s friends-of-friends slot grant with a field for
/// it (`b` is `a`'s friend, and holds `a`'s friends key). The authority log travels as
/// two bundles (before and with the removal).
#[test]
fn golden_membership_corpus_still_reads() {
    let dir = corpus().join("membership-v1");
    let expect: Value = serde_json::from_slice(&std::fs::read(dir.join("membership.json")).unwrap()).unwrap();
    let now = expect["created_unix_ms"].as_u64().unwrap() + 1000;
    let cid = CommunityId::parse(expect["community"].as_str().unwrap()).unwrap();
    let files = [
        "invitation-b",
        "invitation-d",
        "invitation-e",
        "friends-grant-b",
        "authority-1",
        "authority-2",
        "feed-before",
        "feed-after",
        "fof-slots",
        "fof-profile",
    ];
    let bundles: Vec<(&str, Vec<u8>)> =
        files.iter().map(|f| (*f, std::fs::read(dir.join(format!("{f}.bundle"))).unwrap())).collect();
    for (file, bytes) in &bundles {
        let inner = unwrap_cloak(file, bytes, now, route(&expect[*file]["route"]));
        let info = caravan::bundle::parse(&inner, now).unwrap_or_else(|e| panic!("{file}: {e}"));
        let env = envelope::decode_envelope(&inner[info.payload.clone()]).unwrap();
        assert_eq!(env.header.doc, expect[*file]["doc"].as_str().unwrap(), "{file}");
    }
    let texts = |n: &mut Node| n.feed(&cid).unwrap().into_iter().map(|p| p.text).collect::<Vec<_>>();
    let a_id = NodeId::parse(expect["founder"].as_str().unwrap()).unwrap();
    // b, a remaining member and a's friend: everything.
    let (mut b, _hb) = reader("b", now);
    let all: Vec<&[u8]> = bundles
        .iter()
        .filter(|(f, _)| !matches!(*f, "invitation-d" | "invitation-e"))
        .map(|(_, b)| b.as_slice())
        .collect();
    b.import_many(all).unwrap();
    assert_eq!(texts(&mut b), ["before the removal", "after the removal"]);
    let log = b.authority(&cid).unwrap();
    assert_eq!(log.log.len(), 5, "{:?}", log.log); // founded, b, d, d removed, e
    assert!(log.log.iter().all(|e| e.outcome == caravan::authority::Outcome::Applied));
    assert_eq!(log.current_epoch().number, 1);
    let fof = b.profile(&a_id).unwrap().into_iter().find(|f| f.name == "party").map(|f| f.value);
    assert_eq!(fof.as_deref(), expect["fof"].as_str());
    // d, removed: what came before, nothing after, and it knows.
    let (mut d, _hd) = reader("d", now);
    let all: Vec<&[u8]> = bundles
        .iter()
        .filter(|(f, _)| !matches!(*f, "invitation-b" | "invitation-e" | "friends-grant-b"))
        .map(|(_, b)| b.as_slice())
        .collect();
    d.import_many(all).unwrap();
    assert_eq!(texts(&mut d), ["before the removal"]);
    assert!(matches!(d.role(&cid), Err(caravan::Error::Removed(_))));
    // e, invited after the removal: its invitation holds the first key, so it reads what
    // was written before it joined too.
    let (mut e, _he) = reader("e", now);
    let all: Vec<&[u8]> = bundles
        .iter()
        .filter(|(f, _)| matches!(*f, "invitation-e" | "authority-1" | "authority-2" | "feed-before" | "feed-after"))
        .map(|(_, b)| b.as_slice())
        .collect();
    e.import_many(all).unwrap();
    assert_eq!(texts(&mut e), ["before the removal", "after the removal"]);
}

#[test]
#[ignore = "rewrites bundles/membership-v1; run only when the authority log or slot formats change on purpose"]
fn regenerate_membership() {
    let dir = corpus().join("membership-v1");
    std::fs::create_dir_all(&dir).unwrap();
    let home = |who: &str| {
        let h = tempfile::tempdir().unwrap();
        std::fs::copy(corpus().join("keys").join(format!("{who}.key")), h.path().join("identity.key")).unwrap();
        h
    };
    let e_key = corpus().join("keys").join("e.key");
    if !e_key.exists() {
        caravan::Identity::load_or_create(&e_key).unwrap();
    }
    let (ha, hb, hd, he) = (home("a"), home("b"), home("d"), home("e"));
    let now = caravan_now();
    let mut a = Node::open(ha.path(), "Founder A").unwrap();
    a.set_clock(std::sync::Arc::new(move || now));
    let mut b = Node::open(hb.path(), "Member B").unwrap();
    b.set_clock(std::sync::Arc::new(move || now));
    let d = Node::open(hd.path(), "Editor D").unwrap();
    a.add_contact(&b.card(), &[Audience::Friends]).unwrap();
    b.add_contact(&a.card(), &[Audience::Friends]).unwrap();
    a.add_contact(&d.card(), &[]).unwrap();
    let wells = a.create_community("Wells", "Where the water is").unwrap();
    a.invite(&wells, &b.card(), Role::Member).unwrap();
    a.invite(&wells, &d.card(), Role::Editor).unwrap();
    a.post(&wells, "before the removal").unwrap();
    let first = a.export(Target::Everyone).unwrap();
    a.remove_member(&wells, &d.node_id()).unwrap();
    a.post(&wells, "after the removal").unwrap();
    // b's friends key reaches a, so a's friends-of-friends key is sealed for b's pass too.
    let from_b = b.export(Target::Everyone).unwrap();
    a.import_many(from_b.iter().map(Vec::as_slice)).unwrap();
    a.set_profile_field("party", "Saturday at the well", Audience::FriendsOfFriends).unwrap();
    // A newcomer after the removal: its invitation carries the first key too.
    let e = Node::open(he.path(), "Newcomer E").unwrap();
    a.add_contact(&e.card(), &[]).unwrap();
    a.invite(&wells, &e.card(), Role::Member).unwrap();
    let second = a.export(Target::Everyone).unwrap();
    let cid = wells.to_string();
    // Custody signals are administrative records, not envelopes: named by nothing here.
    let look = |x: &[u8]| {
        let Some(o) = a.open_cloak(x).unwrap() else { return (String::new(), String::new(), None) };
        let x = o.inner.as_slice();
        let info = caravan::bundle::parse(x, now).unwrap();
        match envelope::decode_envelope(&x[info.payload.clone()]) {
            Ok(env) => (env.header.doc, info.destination, Some(env.header.kind)),
            Err(_) => (String::new(), info.destination, None),
        }
    };
    let fresh: Vec<&Vec<u8>> = second.iter().filter(|x| !first.contains(x)).collect();
    let pick = |from: &[&Vec<u8>], doc: &str, to: Option<String>, kind: Kind| -> Vec<u8> {
        let found: Vec<&&Vec<u8>> = from
            .iter()
            .filter(|x| {
                let (d, dest, k) = look(x);
                d == doc && k == Some(kind) && to.as_ref().is_none_or(|t| *t == dest)
            })
            .collect();
        // A slot grant goes as one bundle per pass (each cloaked for its pass): b, a's
        // friend, opens either.
        assert!(found.len() == 1 || (kind == Kind::Slots && found.len() > 1), "{doc}: {} bundles", found.len());
        found[0].to_vec()
    };
    let first: Vec<&Vec<u8>> = first.iter().collect();
    let all: Vec<&Vec<u8>> = second.iter().collect();
    let fof_scope = format!("p/{}/friends-of-friends", a.node_id());
    let picks = [
        ("invitation-b", pick(&first, &format!("c/{cid}"), Some(b.node_id().endpoint()), Kind::Grant)),
        ("invitation-d", pick(&first, &format!("c/{cid}"), Some(d.node_id().endpoint()), Kind::Grant)),
        ("invitation-e", pick(&fresh, &format!("c/{cid}"), Some(e.node_id().endpoint()), Kind::Grant)),
        (
            "friends-grant-b",
            pick(&first, &format!("p/{}/friends", a.node_id()), Some(b.node_id().endpoint()), Kind::Grant),
        ),
        ("authority-1", pick(&first, &format!("c/{cid}/authority"), None, Kind::Batch)),
        ("authority-2", pick(&fresh, &format!("c/{cid}/authority"), None, Kind::Batch)),
        ("feed-before", pick(&first, &format!("c/{cid}/feed"), None, Kind::Batch)),
        ("feed-after", pick(&fresh, &format!("c/{cid}/feed"), None, Kind::Batch)),
        ("fof-slots", {
            // The copy cloaked for a's own friends circle: b opens it with the key a
            // granted it (a reader made from b's key alone holds no circle of its own).
            let (mut reader_b, _h) = reader("b", now);
            let grant = pick(&first, &format!("p/{}/friends", a.node_id()), Some(b.node_id().endpoint()), Kind::Grant);
            reader_b.import(&grant).unwrap();
            let copies: Vec<&&Vec<u8>> =
                all.iter().filter(|x| look(x).0 == fof_scope && look(x).2 == Some(Kind::Slots)).collect();
            copies.into_iter().find(|x| reader_b.open_cloak(x).unwrap().is_some()).expect("a's circle's copy").to_vec()
        }),
        ("fof-profile", pick(&all, &fof_scope, None, Kind::Batch)),
    ];
    let mut docs = serde_json::Map::new();
    for (file, bytes) in &picks {
        std::fs::write(dir.join(format!("{file}.bundle")), bytes).unwrap();
        docs.insert((*file).into(), json!({ "doc": look(bytes).0, "route": hex(&opened(&a, bytes).route.0) }));
    }
    docs.insert("created_unix_ms".into(), json!(now));
    docs.insert("community".into(), json!(cid));
    docs.insert("founder".into(), json!(a.node_id().to_string()));
    docs.insert("fof".into(), json!("Saturday at the well"));
    std::fs::write(dir.join("membership.json"), serde_json::to_string_pretty(&Value::Object(docs)).unwrap() + "\n")
        .unwrap();
}

/// The documents every social corpus holds a bundle of (files named `<kind>` or
/// `<kind>-<n>`; Buyers' `buyers-<kind>`).
const SOCIAL_KINDS: [&str; 11] = [
    "invitation",
    "authority",
    "exchange",
    "reviews",
    "polls",
    "certs",
    "links",
    "public-feed",
    "market-public",
    "buyers-links",
    "buyers-public",
];

/// The social corpus, `bundles/social-v1/`: in community "Growers" founded by `a` (with
/// `b` a member), an exchange `b` proposed on `a`'s listing, accepted and completed by
/// both; each party's review of it; a poll `a` asked, both voted in and `a` closed; a
/// skill certificate `a` (named a certifier) signed for `b`, and a threshold operation
/// (k = 1); a public post and a public listing; and a link sharing the market with a
/// second community, "Buyers" (founded by `d`), proposed by `a` and countersigned by
/// `d`. Every bundle of Growers travels (its invitation for `b`, its authority log, each
/// kind's document), and Buyers' public ones; the reader `b` then reads the exchange
/// completed, `a`'s standing, the poll's recount, the certificate holding, the public
/// post and listing, and the link.
#[test]
fn golden_social_corpus_still_reads() {
    use caravan::plugin::certificate::Subject;
    use caravan::plugin::exchange::State;
    let dir = corpus().join("social-v1");
    let expect: Value = serde_json::from_slice(&std::fs::read(dir.join("social.json")).unwrap()).unwrap();
    let now = expect["created_unix_ms"].as_u64().unwrap() + 1000;
    let cid = CommunityId::parse(expect["community"].as_str().unwrap()).unwrap();
    let buyers = CommunityId::parse(expect["buyers"].as_str().unwrap()).unwrap();
    let files = expect["files"].as_array().unwrap();
    let mut bundles = Vec::new();
    for want in files {
        let file = want["file"].as_str().unwrap();
        let bytes = std::fs::read(dir.join(format!("{file}.bundle"))).unwrap();
        let inner = unwrap_cloak(file, &bytes, now, route(&want["route"]));
        let info = caravan::bundle::parse(&inner, now).unwrap_or_else(|e| panic!("{file}: {e}"));
        let env = envelope::decode_envelope(&inner[info.payload.clone()]).unwrap();
        assert_eq!(env.header.doc, want["doc"].as_str().unwrap(), "{file}");
        let doc = &env.header.doc;
        let kind = match (doc.strip_prefix(&format!("c/{cid}/")), doc.strip_prefix(&format!("c/{buyers}/"))) {
            (Some(part), _) => part.replace('/', "-"),
            (None, Some(part)) => {
                let d = caravan::DocId::parse(doc).unwrap();
                assert!(d.is_public(), "{file}: only Buyers' public part travels here");
                format!("buyers-{}", part.replace('/', "-"))
            }
            (None, None) => {
                assert_eq!(*doc, format!("c/{cid}"), "{file}");
                "invitation".to_string()
            }
        };
        let numbered = file.strip_prefix(&kind).and_then(|n| n.strip_prefix('-'));
        assert!(file == kind || numbered.is_some_and(|n| n.parse::<usize>().is_ok()), "{file}: {doc}");
        bundles.push(bytes);
    }
    // Each social kind's document travels, with the invitation, the authority log, the
    // public part and both sides of the link.
    for kind in SOCIAL_KINDS {
        assert!(files.iter().any(|f| f["file"].as_str().unwrap().starts_with(kind)), "no bundle of {kind}");
    }
    let a_id = NodeId::parse(expect["founder"].as_str().unwrap()).unwrap();
    let (mut b, _home) = reader("b", now);
    let b_id = b.node_id();
    // The invitation and the authority log first, in an import of their own: a
    // certificate is judged against the log as it stood when its import began, so one
    // whose certifier is named in the same import is refused. Then the rest of Growers;
    // then Buyers' public part, which `b` reads once Growers' links document made it
    // follow Buyers (in the same import it would be carried first, read at the end).
    let phase = |f: &Value| {
        let file = f["file"].as_str().unwrap();
        match file.split('-').next() {
            Some("invitation" | "authority") => 0,
            Some("buyers") => 2,
            _ => 1,
        }
    };
    for p in 0..3 {
        let some: Vec<(&Value, &Vec<u8>)> = files.iter().zip(&bundles).filter(|(f, _)| phase(f) == p).collect();
        assert!(!some.is_empty(), "phase {p}");
        let r = b.import_many(some.iter().map(|(_, x)| x.as_slice())).unwrap();
        for ((f, _), o) in some.iter().zip(&r.outcomes) {
            assert!(matches!(o, Outcome::New { .. }), "{}: {o:?}", f["file"]);
        }
    }

    let exchanges = b.exchanges().unwrap();
    assert_eq!(exchanges.len(), 1, "{exchanges:?}");
    let (at, x) = &exchanges[0];
    assert_eq!((*at, x.id.as_str()), (cid, expect["exchange"].as_str().unwrap()));
    assert_eq!((x.proposer, x.seller), (b_id, a_id));
    assert_eq!(x.state, State::Completed);

    // b's review of a: b is tied to itself.
    let rep = b.reputation(&a_id).unwrap();
    assert_eq!((rep.tied.reviews, rep.untied.reviews), (1, 0), "{rep:?}");
    let rating = expect["ratings"]["of_a"].as_u64().unwrap();
    assert_eq!(rep.reviews[0].0.rating as u64, rating);
    assert_eq!((rep.reviews[0].0.reviewer, rep.reviews[0].1), (b_id, caravan::Tie::Contact));
    assert_eq!(rep.tied.average, Some(rating as f64));
    // a's review of b: a is b's contact (its card is among the corpus keys).
    let rep = b.reputation(&b_id).unwrap();
    assert_eq!((rep.tied.reviews, rep.untied.reviews), (1, 0), "{rep:?}");
    assert_eq!((rep.reviews[0].0.reviewer, rep.reviews[0].1), (a_id, caravan::Tie::Contact));
    assert_eq!(rep.reviews[0].0.rating as u64, expect["ratings"]["of_b"].as_u64().unwrap());

    let poll = b.poll(expect["poll"].as_str().unwrap()).unwrap();
    assert_eq!(poll.community, cid);
    assert!(poll.closed());
    assert!(poll.authority_complete);
    assert_eq!(json!(poll.poll.options), expect["options"]);
    assert_eq!(poll.eligible.len(), 2, "a and b");
    let counts = json!(poll.poll.close.as_ref().unwrap().counts);
    assert_eq!(counts, expect["counts"]);
    let recount = poll.recount.as_ref().expect("a recount of the closed poll");
    assert!(recount.matches, "{recount:?}");
    assert_eq!(json!(recount.tally.counts), expect["counts"]);
    assert_eq!(json!(poll.tally.counts), expect["counts"]);

    let certs = b.certificates(&caravan::Certify::Skill(b_id, String::new())).unwrap();
    assert_eq!(certs.len(), 1, "{certs:?}");
    assert_eq!(certs[0].community, cid);
    assert_eq!(certs[0].holds, Ok(()));
    assert_eq!(certs[0].certifiers, vec![a_id]);
    match &certs[0].entry.statement.subject {
        Subject::Skill { node, skill } => {
            assert_eq!(*node, b_id);
            assert_eq!(skill, expect["skill"].as_str().unwrap());
        }
        other => panic!("a skill certificate, not {other:?}"),
    }
    assert_eq!(certs[0].entry.statement.expires_unix_ms, 0, "never expires");

    // The threshold operation: applied, k = 1 (so the certificate above holds).
    let log = b.authority(&cid).unwrap();
    let k = expect["threshold"].as_u64().unwrap() as u8;
    let set: Vec<_> = log
        .log
        .iter()
        .filter(|e| matches!(e.action, caravan::authority::Action::Threshold { .. }))
        .map(|e| (e.action.clone(), e.outcome.clone(), NodeId::from_signing_public(&e.author)))
        .collect();
    assert_eq!(
        set,
        [(caravan::authority::Action::Threshold { k }, caravan::authority::Outcome::Applied, a_id)],
        "{:?}",
        log.log
    );
    assert_eq!(log.threshold, k);

    // The public part: a's public post and public listing.
    let posts = b.public_posts(&cid).unwrap();
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(
        (posts[0].text.as_str(), posts[0].author.clone()),
        (expect["public_post"].as_str().unwrap(), a_id.to_string())
    );
    let listings = b.listings(&cid).unwrap();
    let public: Vec<_> = listings.iter().filter(|(public, _)| *public).map(|(_, l)| l).collect();
    assert_eq!(public.len(), 1, "{listings:?}");
    assert_eq!(public[0].id, expect["public_listing"]["id"].as_str().unwrap());
    assert_eq!(public[0].listing.title, expect["public_listing"]["title"].as_str().unwrap());

    // The link: signed by an owner of each, sharing the market, with Buyers.
    let links = b.community_links(&cid).unwrap();
    assert_eq!(links.len(), 1, "{links:?}");
    assert_eq!(links[0].state, caravan::LinkStatus::Linked);
    assert_eq!(links[0].other, buyers);
    assert_eq!(links[0].other_name.as_deref(), Some("Buyers"));
    assert_eq!(json!(links[0].shares), expect["link"]["shares"]);
    assert_eq!(links[0].id, expect["link"]["id"].as_str().unwrap());
}

#[test]
#[ignore = "rewrites bundles/social-v1; run only when a social kind's layout changes on purpose"]
fn regenerate_social() {
    use caravan::plugin::exchange::StepKind;
    use caravan::plugin::market::{ListingKind, NewListing, Price};
    let dir = corpus().join("social-v1");
    let home = |who: &str| {
        let h = tempfile::tempdir().unwrap();
        std::fs::copy(corpus().join("keys").join(format!("{who}.key")), h.path().join("identity.key")).unwrap();
        h
    };
    let (ha, hb) = (home("a"), home("b"));
    let now = caravan_now();
    let mut a = Node::open(ha.path(), "Founder A").unwrap();
    a.set_clock(std::sync::Arc::new(move || now));
    let mut b = Node::open(hb.path(), "Member B").unwrap();
    b.set_clock(std::sync::Arc::new(move || now));
    a.add_contact(&b.card(), &[]).unwrap();
    b.add_contact(&a.card(), &[]).unwrap();
    let (a_id, b_id) = (a.node_id(), b.node_id());
    // Everything one has, carried to the other (as a stick would); nothing refused. Every
    // bundle either node sent is kept, in the order sent: the corpus is taken from them
    // (an export leaves out what custody shows delivered already).
    let sent = std::cell::RefCell::new(Vec::<Vec<u8>>::new());
    let carry = |from: &mut Node, to: &mut Node| {
        let out = from.export(Target::Everyone).unwrap();
        sent.borrow_mut().extend(out.iter().cloned());
        let r = to.import_many(out.iter().map(Vec::as_slice)).unwrap();
        assert!(r.rejected().is_empty(), "{:?}", r.rejected());
    };
    let growers = a.create_community("Growers", "Seed and tool swaps").unwrap();
    a.invite(&growers, &b.card(), Role::Member).unwrap();
    let listing = NewListing {
        kind: ListingKind::Offer,
        title: "Bean seed".into(),
        description: "runner beans, last year's".into(),
        terms: String::new(),
        price: Some(Price { amount: "3".into(), unit: "EUR".into() }),
        quantity: Some(5),
        place: "Hill farm".into(),
        expires_unix_ms: now + 365 * 86_400_000,
    };
    let listing = a.add_listing(&growers, false, &listing).unwrap();
    carry(&mut a, &mut b);
    carry(&mut b, &mut a);

    // The exchange, one step each way.
    let (exchange, at) = b.propose_exchange(&listing, "two packets?").unwrap();
    assert_eq!(at, growers);
    carry(&mut b, &mut a);
    a.exchange_step(&exchange, StepKind::Accepted).unwrap();
    carry(&mut a, &mut b);
    b.exchange_step(&exchange, StepKind::Completed).unwrap();
    carry(&mut b, &mut a);
    let (done, _) = a.exchange_step(&exchange, StepKind::Completed).unwrap();
    assert_eq!(done.state, caravan::plugin::exchange::State::Completed);
    carry(&mut a, &mut b);
    // Reviews: each party rates the other.
    let (of_a, of_b) = (4u8, 5u8);
    b.review(&exchange, of_a, "good seed, well packed").unwrap();
    a.review(&exchange, of_b, "paid on the spot").unwrap();

    // A poll: both vote, a closes it.
    let options = ["beans".to_string(), "maize".to_string(), "squash".to_string()];
    let poll = a.create_poll(&growers, "What do we sow first?", &options, None).unwrap().id();
    carry(&mut a, &mut b);
    a.vote(&poll, "beans").unwrap();
    b.vote(&poll, "maize").unwrap();
    carry(&mut b, &mut a);
    let closed = a.close_poll(&poll).unwrap();
    let counts = closed.poll.close.as_ref().unwrap().counts.clone();
    assert_eq!(counts, vec![1, 1, 0]);
    assert!(closed.recount.unwrap().matches);

    // A certifier and a skill certificate (the threshold is 1; no expiry).
    let skill = "masonry";
    a.set_certifier(&growers, &a_id, true).unwrap();
    // (b takes in the naming before the statement: a certs bundle judged against a log
    // that does not name its signer yet is refused.)
    carry(&mut a, &mut b);
    let cert = a.certify(&growers, &caravan::Certify::Skill(b_id, skill.into()), 0).unwrap();
    assert_eq!(cert.holds, Ok(()));
    // A threshold operation in the authority log (owners; k in 1..=16): k stays 1, so the
    // certificate still holds.
    a.set_certification_threshold(&growers, 1).unwrap();
    let certs = a.certificates(&caravan::Certify::Skill(b_id, String::new())).unwrap();
    assert_eq!((certs.len(), &certs[0].holds), (1, &Ok(())), "{certs:?}");
    // The community's public part: a public post (`public-feed`) and a public listing
    // (`market-public`).
    let public_post = "Open market on Saturday";
    a.post_public(&growers, public_post).unwrap();
    let public_listing = NewListing {
        kind: ListingKind::Offer,
        title: "Seed potatoes".into(),
        description: "a sack, Saturday only".into(),
        terms: String::new(),
        price: None,
        quantity: Some(1),
        place: "Market square".into(),
        expires_unix_ms: now + 365 * 86_400_000,
    };
    let public_listing_title = public_listing.title.clone();
    let public_listing = a.add_listing(&growers, true, &public_listing).unwrap();
    carry(&mut a, &mut b);
    carry(&mut b, &mut a);

    // A link to a second community, "Buyers", founded by d: a proposes, d (holding the
    // proposal) countersigns, a copies the link into Growers' own links document.
    let hd = home("d");
    let mut d = Node::open(hd.path(), "Founder D").unwrap();
    d.set_clock(std::sync::Arc::new(move || now));
    let buyers = d.create_community("Buyers", "Who buys at the market").unwrap();
    let shares = ["market".to_string()];
    let proposed = a.link_communities(&growers, &buyers, &shares).unwrap();
    assert_eq!(proposed.state, caravan::LinkStatus::ProposedByUs);
    carry(&mut a, &mut d);
    let linked = d.link_communities(&buyers, &growers, &["market".into()]).unwrap();
    assert_eq!(linked.state, caravan::LinkStatus::Linked);
    assert_eq!(linked.id, proposed.id);
    carry(&mut d, &mut a);
    let links = a.community_links(&growers).unwrap();
    assert_eq!(links.len(), 1, "{links:?}");
    assert_eq!((links[0].other, links[0].state), (buyers, caravan::LinkStatus::Linked));
    carry(&mut a, &mut b);
    carry(&mut b, &mut a);
    let links = b.community_links(&growers).unwrap();
    assert_eq!(links.iter().map(|l| l.state).collect::<Vec<_>>(), [caravan::LinkStatus::Linked], "{links:?}");

    // Every bundle of the community any node sent, once each (by its signed custody
    // id, author and sequence number), in the order sent: the invitation, the authority
    // log, each kind's document (heads announcements included); and every public bundle
    // of Buyers (those `a` opens: it follows Buyers' public part). Named by document:
    // `<kind>.bundle`, or `<kind>-<n>.bundle` when the document has several; Buyers'
    // `buyers-<kind>`.
    let cid = growers.to_string();
    let bid = buyers.to_string();
    let all = sent.take();
    let look = |x: &[u8]| {
        let o = a.open_cloak(x).unwrap()?;
        let info = caravan::bundle::parse(&o.inner, now).unwrap();
        // Custody signals and release lists are administrative records: no envelope.
        let env = envelope::decode_envelope(&o.inner[info.payload.clone()]).ok()?;
        Some((env.header.doc, (env.header.author, env.header.seq), o.route))
    };
    let mut seen = std::collections::HashSet::new();
    let mut picked: Vec<(String, Vec<u8>, caravan::cloak::Route)> = Vec::new();
    for x in &all {
        let Some((doc, id, route)) = look(x) else { continue };
        // Not b's own friends-of-members pass: the reader, opened from b's key in a
        // fresh home, publishes its own pass on joining (its friends circle key is new),
        // as the same Automerge actor at the same sequence number, and would refuse the
        // original's ("duplicate seq"). Nothing here reads it.
        if doc == format!("c/{cid}/passes") && id.0 == b_id {
            continue;
        }
        let ours = doc == format!("c/{cid}") || doc.starts_with(&format!("c/{cid}/"));
        let theirs =
            caravan::DocId::parse(&doc).is_some_and(|d| d.is_public()) && doc.starts_with(&format!("c/{bid}/"));
        if (ours || theirs) && seen.insert(id) {
            picked.push((doc, x.clone(), route));
        }
    }
    let kind_of = |doc: &str| match (doc.strip_prefix(&format!("c/{cid}/")), doc.strip_prefix(&format!("c/{bid}/"))) {
        (Some(part), _) => part.replace('/', "-"),
        (None, Some(part)) => format!("buyers-{}", part.replace('/', "-")),
        (None, None) => "invitation".to_string(),
    };
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = Vec::new();
    let mut numbered: std::collections::HashMap<String, usize> = Default::default();
    for (doc, bytes, route) in &picked {
        let kind = kind_of(doc);
        let several = picked.iter().filter(|(d, _, _)| d == doc).count() > 1;
        let n = numbered.entry(kind.clone()).or_default();
        *n += 1;
        let file = if several { format!("{kind}-{n}") } else { kind };
        std::fs::write(dir.join(format!("{file}.bundle")), bytes).unwrap();
        files.push(json!({ "file": file, "doc": doc, "route": hex(&route.0) }));
    }
    for kind in SOCIAL_KINDS {
        assert!(files.iter().any(|f| f["file"].as_str().unwrap().starts_with(kind)), "no bundle of {kind}");
    }
    let expect = json!({
        "created_unix_ms": now,
        "community": cid,
        "founder": a_id.to_string(),
        "member": b_id.to_string(),
        "exchange": exchange,
        "ratings": { "of_a": of_a, "of_b": of_b },
        "poll": poll,
        "options": options,
        "counts": counts,
        "skill": skill,
        "threshold": 1,
        "public_post": public_post,
        "public_listing": { "id": public_listing, "title": public_listing_title },
        "buyers": bid,
        "link": { "id": proposed.id, "shares": shares },
        "files": files,
    });
    std::fs::write(dir.join("social.json"), serde_json::to_string_pretty(&expect).unwrap() + "\n").unwrap();
}
