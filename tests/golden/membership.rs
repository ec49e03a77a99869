//! The membership corpus.

use super::*;

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
