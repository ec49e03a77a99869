//! Per-item authorship: each kind's write rules hold at every receiving node, whatever a
//! member's node is made to sign. Every case is a change a normal client never makes,
//! signed with the member's own key and membership chain, so only the kind's rule can
//! refuse it; each refusal names the rule and leaves the store unchanged.

mod common;

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ROOT};
use caravan::{Audience, DocId, Identity, Outcome, Part, Rejection, Role, Target};
use common::{TestNode, forge_batch, forge_batch_under, node};

/// A founds Wells and posts; B (editor) and C (member) posted too; everyone has
/// everything.
struct World {
    a: TestNode,
    b: TestNode,
    c: TestNode,
    wells: caravan::CommunityId,
}

fn world() -> World {
    let (mut a, mut b, mut c) = (node("A"), node("B"), node("C"));
    for n in [&mut b, &mut c] {
        n.node.add_contact(&a.node.card(), &[]).unwrap();
    }
    a.node.add_contact(&b.node.card(), &[Audience::Friends]).unwrap();
    let wells = a.node.create_community("Wells", "").unwrap();
    a.node.invite(&wells, &b.node.card(), Role::Editor).unwrap();
    a.node.invite(&wells, &c.node.card(), Role::Member).unwrap();
    a.node.post(&wells, "A: the north well is dry").unwrap();
    let mut w = World { a, b, c, wells };
    spread(&mut w);
    w.b.node.post(&wells, "B: fixed the pump").unwrap();
    w.c.node.post(&wells, "C: thanks").unwrap();
    spread(&mut w);
    spread(&mut w);
    for n in [&mut w.a, &mut w.b, &mut w.c] {
        assert_eq!(n.node.feed(&wells).unwrap().len(), 3);
    }
    w
}

/// Everyone's export to everyone.
fn spread(w: &mut World) {
    let all: Vec<Vec<u8>> =
        [&mut w.a, &mut w.b, &mut w.c].into_iter().flat_map(|n| n.node.export(Target::Everyone).unwrap()).collect();
    for n in [&mut w.a, &mut w.b, &mut w.c] {
        let r = n.node.import_many(all.iter().map(Vec::as_slice)).unwrap();
        assert!(r.rejected().is_empty(), "{:?}", r.rejected());
    }
}

fn identity_of(n: &TestNode) -> Identity {
    let secret: [u8; 64] = std::fs::read(n.home.path().join("identity.key")).unwrap().try_into().unwrap();
    Identity::from_secret_bytes(&secret)
}

/// The feed as `n` holds it, with `n`'s actor, for crafting a change on top of it.
fn feed_as(n: &mut TestNode, cid: &caravan::CommunityId) -> AutoCommit {
    let id = DocId::Community { id: *cid, part: Part::FEED };
    let bytes = n.node.document_bytes(id).unwrap();
    let actor = ActorId::from(identity_of(n).signing_public().to_vec());
    AutoCommit::load(&bytes).unwrap().with_actor(actor)
}

/// The key of the post whose text starts with `prefix`.
fn post_key(doc: &AutoCommit, prefix: &str) -> String {
    use automerge::ReadDoc;
    doc.keys(ROOT)
        .find(|k| {
            k.starts_with("post/")
                && doc
                    .get(ROOT, k.as_str())
                    .unwrap()
                    .is_some_and(|(v, _)| v.as_str().is_some_and(|s| s.starts_with(prefix)))
        })
        .unwrap_or_else(|| panic!("no post starting {prefix:?}"))
}

/// C signs `doc`'s latest local change as a feed batch, with its real chain and key.
fn signed_by(w: &World, signer: &TestNode, doc: AutoCommit) -> Vec<u8> {
    signed_under(w, signer, doc, vec![])
}

/// [`signed_by`], claiming to have been written under authority heads `heads`.
fn signed_under(w: &World, signer: &TestNode, mut doc: AutoCommit, heads: Vec<[u8; 32]>) -> Vec<u8> {
    doc.commit();
    let change = doc.get_last_local_change().expect("a change").raw_bytes().to_vec();
    let feed = DocId::Community { id: w.wells, part: Part::FEED };
    let (genesis, chain) = signer.node.membership_proof(&w.wells).unwrap();
    forge_batch_under(
        heads,
        &identity_of(signer),
        &signer.node.node_id().endpoint(),
        &feed.to_string(),
        &w.wells.endpoint(),
        Some(signer.node.community_key(&w.wells).unwrap()),
        Some(genesis),
        chain,
        &[change],
    )
}

fn refused_by_rule(report: &caravan::ImportReport) -> (String, String) {
    match report.outcomes.as_slice() {
        [Outcome::Rejected(Rejection::Rule { kind, rule })] => (kind.clone(), rule.clone()),
        other => panic!("expected a refusal by a write rule, got {other:?}"),
    }
}

/// An edit a normal client never makes, applied to a copy of the feed.
type Attack = Box<dyn Fn(&mut AutoCommit)>;

#[test]
fn a_member_cannot_edit_delete_or_forge_another_members_post() {
    let mut w = world();
    let a_id = w.a.node.node_id();
    let attacks: Vec<(&str, Attack)> = vec![
        (
            "edit A's post",
            Box::new(|d: &mut AutoCommit| {
                let k = post_key(d, "A:");
                d.put(ROOT, k, "A: the north well is poisoned").unwrap();
            }),
        ),
        (
            "delete A's post",
            Box::new(|d: &mut AutoCommit| {
                let k = post_key(d, "A:");
                d.delete(ROOT, k).unwrap();
            }),
        ),
        (
            "post in A's name",
            Box::new(move |d: &mut AutoCommit| {
                d.put(ROOT, format!("post/1796000000000/{a_id}"), "A: give C your key").unwrap();
            }),
        ),
        (
            "write outside the posts",
            Box::new(|d: &mut AutoCommit| {
                d.put(ROOT, "title", "C's feed").unwrap();
            }),
        ),
        (
            "edit A's post and its own in one change",
            Box::new(|d: &mut AutoCommit| {
                let mine = post_key(d, "C:");
                d.put(ROOT, mine, "C: thanks!").unwrap();
                let k = post_key(d, "A:");
                d.delete(ROOT, k).unwrap();
            }),
        ),
    ];
    // Also claiming log operations nobody here has seen (no role the log could give
    // makes these right: refused now, not kept waiting for the log).
    for ((what, attack), heads) in attacks.iter().flat_map(|a| [(a, vec![]), (a, vec![[7u8; 32]])]) {
        let mut doc = feed_as(&mut w.c, &w.wells);
        attack(&mut doc);
        let forged = signed_under(&w, &w.c, doc, heads);
        // Every other node refuses it, and keeps what it had.
        for n in [&mut w.a, &mut w.b] {
            let before = n.node.fingerprint().unwrap();
            let (kind, rule) = refused_by_rule(&n.node.import(&forged).unwrap());
            assert_eq!(kind, "feed", "{what}");
            assert!(rule.contains("only its own posts"), "{what}: {rule}");
            assert_eq!(n.node.fingerprint().unwrap(), before, "{what}: the store changed");
        }
    }
    // Not even the owner may change a member's post.
    let mut doc = feed_as(&mut w.a, &w.wells);
    let k = post_key(&doc, "C:");
    doc.put(ROOT, k, "C: I resign").unwrap();
    let forged = signed_by(&w, &w.a, doc);
    refused_by_rule(&w.b.node.import(&forged).unwrap());
    // The feed still says what its authors wrote.
    let texts: Vec<String> = w.b.node.feed(&w.wells).unwrap().into_iter().map(|p| p.text).collect();
    assert!(texts.contains(&"A: the north well is dry".to_string()), "{texts:?}");
    assert!(texts.contains(&"C: thanks".to_string()), "{texts:?}");
}

#[test]
fn a_member_may_edit_and_delete_its_own_post() {
    let mut w = world();
    let mut doc = feed_as(&mut w.c, &w.wells);
    let k = post_key(&doc, "C:");
    doc.put(ROOT, k, "C: thanks, all of you").unwrap();
    let edit = signed_by(&w, &w.c, doc);
    let r = w.a.node.import(&edit).unwrap();
    assert!(matches!(r.outcomes.as_slice(), [Outcome::New { .. }]), "{r:?}");
    let texts: Vec<String> = w.a.node.feed(&w.wells).unwrap().into_iter().map(|p| p.text).collect();
    assert!(texts.contains(&"C: thanks, all of you".to_string()), "{texts:?}");
    // And delete it (its change builds on the edit, which C's node does not hold: it
    // is made on A's copy with C's actor).
    let mut doc = feed_as(&mut w.a, &w.wells);
    let actor = ActorId::from(identity_of(&w.c).signing_public().to_vec());
    doc.set_actor(actor);
    let k = post_key(&doc, "C:");
    doc.delete(ROOT, k).unwrap();
    let delete = signed_by(&w, &w.c, doc);
    let r = w.b.node.import_many([edit.as_slice(), delete.as_slice()]).unwrap();
    assert!(r.rejected().is_empty(), "{r:?}");
    let texts: Vec<String> = w.b.node.feed(&w.wells).unwrap().into_iter().map(|p| p.text).collect();
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(!texts.iter().any(|t| t.starts_with("C:")), "{texts:?}");
}

#[test]
fn a_member_cannot_change_or_withdraw_another_members_listing() {
    use caravan::plugin::market::{ListingKind, NewListing};
    let mut w = world();
    let eggs = NewListing {
        kind: ListingKind::Offer,
        title: "Eggs".into(),
        description: String::new(),
        terms: String::new(),
        price: None,
        quantity: Some(12),
        place: String::new(),
        expires_unix_ms: common::now_ms() + 86_400_000,
    };
    let id = w.a.node.add_listing(&w.wells, false, &eggs).unwrap();
    spread(&mut w);
    let market =
        DocId::Community { id: w.wells, part: caravan::Part::Kind(caravan::plugin::KindName::new("market").unwrap()) };
    let c_actor = ActorId::from(identity_of(&w.c).signing_public().to_vec());
    let load = |n: &mut TestNode| {
        AutoCommit::load(&n.node.document_bytes(market).unwrap()).unwrap().with_actor(c_actor.clone())
    };
    let key = format!("listing/{id}");
    let mut retitle = load(&mut w.c);
    let (_, obj) = automerge::ReadDoc::get(&retitle, ROOT, key.as_str()).unwrap().unwrap();
    retitle.put(&obj, "title", "Rotten eggs").unwrap();
    let mut withdraw = load(&mut w.c);
    withdraw.delete(ROOT, key.as_str()).unwrap();
    for (what, mut doc) in [("retitle", retitle), ("withdraw", withdraw)] {
        doc.commit();
        let change = doc.get_last_local_change().unwrap().raw_bytes().to_vec();
        let (genesis, chain) = w.c.node.membership_proof(&w.wells).unwrap();
        let forged = forge_batch(
            &identity_of(&w.c),
            &w.c.node.node_id().endpoint(),
            &market.to_string(),
            &w.wells.endpoint(),
            Some(w.c.node.community_key(&w.wells).unwrap()),
            Some(genesis),
            chain,
            &[change],
        );
        for n in [&mut w.a, &mut w.b] {
            let before = n.node.fingerprint().unwrap();
            let (kind, rule) = refused_by_rule(&n.node.import(&forged).unwrap());
            assert_eq!(kind, "market", "{what}");
            assert!(rule.contains("only its own listings"), "{what}: {rule}");
            assert_eq!(n.node.fingerprint().unwrap(), before, "{what}");
        }
    }
    let listed = w.b.node.listings(&w.wells).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].1.listing.title, "Eggs");
}
