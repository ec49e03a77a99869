//! The custody, beacon and document-kinds corpora.

use super::*;

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
