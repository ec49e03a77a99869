//! The golden corpus in `bundles/`: real bundles this code produced, each beside what it
//! must decode to. Today's code must still read every one of them, and a second BPv7
//! implementation (dtn7-rs's `bp7`) must parse each as valid BPv7.
//!
//! Regenerate (only when a format changes on purpose, with `spec/` updated in the same
//! commit): `cargo test --test golden -- --ignored regenerate`.

#[path = "../common/mod.rs"]
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

mod later;
mod membership;
mod social;
