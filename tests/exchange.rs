//! Exchanges and reviews through the binary over a stick: a buyer proposes, the seller
//! accepts, both complete, one sync at a time, then each reviews the other once and a
//! third member reads their reputations; and steps and reviews crafted by someone who
//! may not make them are refused on import, leaving the store unchanged.

mod common;

use std::path::Path;

use caravan::{Audience, DocId, Outcome, Rejection, Role};
use common::{caravan, card, changes_by, forge_batch, init, node, ok, sync_stick};

fn state(home: &Path, id: &str) -> String {
    let all: serde_json::Value = serde_json::from_str(&ok(home, &["exchange", "list", "--json"])).unwrap();
    // `id` as the text output shows it (the handle), or the whole id.
    all.as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == id || x["handle"] == id)
        .map(|x| x["state"].as_str().unwrap().to_string())
        .unwrap()
}

#[test]
fn an_exchange_goes_one_step_at_a_time_over_a_stick() {
    let people: Vec<tempfile::TempDir> = ["Seller", "Buyer", "Third"].iter().map(|n| init(n)).collect();
    let [s, b, t] = [0, 1, 2].map(|i| people[i].path());
    let stick = tempfile::tempdir().unwrap();
    let stick = stick.path();
    for x in [b, t] {
        ok(s, &["contact", "add", &card(x)]);
        ok(x, &["contact", "add", &card(s)]);
    }
    ok(s, &["community", "create", "Growers"]);
    ok(s, &["community", "invite", "Growers", &card(b)]);
    ok(s, &["community", "invite", "Growers", &card(t)]);
    let listed = ok(s, &["market", "offer", "Growers", "Eggs", "--quantity", "12"]);
    let listing = listed.split("(id ").nth(1).unwrap().split(')').next().unwrap().to_string();
    let round = || {
        for n in [s, b, t, s] {
            sync_stick(n, stick);
        }
    };
    round();
    let proposed = ok(b, &["exchange", "propose", &listing, "--note", "two dozen?"]);
    let id = proposed.split("exchange ").nth(1).unwrap().split(';').next().unwrap().to_string();
    // The buyer cannot accept its own proposal; nobody else can step in.
    let out = caravan(b, &["exchange", "accept", &id]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("only the listing's author"));
    round();
    assert_eq!(state(s, &id), "proposed");
    let out = caravan(t, &["exchange", "complete", &id]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a party"), "{out:?}");
    assert!(ok(s, &["exchange", "accept", &id]).contains("now accepted"));
    round();
    assert_eq!(state(b, &id), "accepted");
    assert!(ok(b, &["exchange", "complete", &id]).contains("now accepted"));
    round();
    assert!(ok(s, &["exchange", "complete", &id]).contains("now completed"));
    round();
    for n in [s, b, t] {
        assert_eq!(state(n, &id), "completed");
    }
    let list = ok(b, &["exchange", "list"]);
    assert!(list.contains("completed between Buyer (you) and Seller"), "{list}");

    assert!(list.contains("not reviewed by you yet"), "{list}");
    // Reviews: each party once; nobody else.
    assert!(ok(b, &["review", &id, "--rating", "4", "--text", "fresh eggs"]).contains("You rated Seller ★★★★☆"));
    let again = caravan(b, &["review", &id, "--rating", "5"]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("already"), "{again:?}");
    let outsider = caravan(t, &["review", &id, "--rating", "1"]);
    assert!(String::from_utf8_lossy(&outsider.stderr).contains("not a party"), "{outsider:?}");
    let bad = caravan(s, &["review", &id, "--rating", "6"]);
    assert!(!bad.status.success());
    ok(s, &["review", &id, "--rating", "5", "--text", "paid on the day"]);
    assert!(!ok(s, &["exchange", "list"]).contains("not reviewed by you yet"));
    round();
    let seller = ok(t, &["reputation", "Seller"]);
    assert!(seller.starts_with("Seller: 4.0 of 5 from 1 counterparty you are tied to"), "{seller}");
    assert!(seller.contains("\"fresh eggs\""), "{seller}");
    let buyer: serde_json::Value = serde_json::from_str(&ok(t, &["reputation", "Buyer", "--json"])).unwrap();
    assert_eq!(buyer["tied"]["counterparties"], 1);
    assert_eq!(buyer["tied"]["distribution"], serde_json::json!([0, 0, 0, 0, 1]));
    assert_eq!(buyer["reviews"][0]["tie"], "contact", "the seller is the third's contact");
    let nobody = ok(t, &["reputation", &common::node_id(t)]);
    assert!(nobody.contains("no reviews"), "{nobody}");
}

/// Reviews a normal client never writes, signed by a member: of an exchange the other
/// party never completed, by someone who is not a party, a second one, one whose text
/// was changed after signing. Every member refuses each with the rule it breaks, and
/// its store is unchanged.
#[test]
fn a_review_without_a_completed_exchange_is_refused_on_import() {
    use caravan::plugin::exchange::{ExchangeRef, Proof};
    use caravan::plugin::review;
    let (mut s, mut b, mut t) = (node("Seller"), node("Buyer"), node("Third"));
    for x in [&mut b, &mut t] {
        s.node.add_contact(&x.node.card(), &[Audience::Friends]).unwrap();
        x.node.add_contact(&s.node.card(), &[]).unwrap();
    }
    let cid = s.node.create_community("Growers", "").unwrap();
    s.node.invite(&cid, &b.node.card(), Role::Member).unwrap();
    s.node.invite(&cid, &t.node.card(), Role::Member).unwrap();
    let all = s.node.export(caravan::Target::Everyone).unwrap();
    for x in [&mut b, &mut t] {
        x.node.import_many(all.iter().map(Vec::as_slice)).unwrap();
    }
    let (si, bi, ti) =
        (common::identity_of(s.home.path()), common::identity_of(b.home.path()), common::identity_of(t.home.path()));
    let x = ExchangeRef { proposer: bi.node_id(), n: 1, seller: si.node_id() };
    let doc = DocId::parse(&format!("c/{cid}/reviews")).unwrap();
    let good = review::write(&bi, &x, [Proof::sign(&bi, &x), Proof::sign(&si, &x)], 5, "fine", 1).unwrap();
    // The seller never completed: its proof is a copy of the buyer's.
    let one_sided = {
        let mut r = good.clone();
        let p = Proof::sign(&bi, &x).encode();
        r[10 + 96..10 + 192].copy_from_slice(&p);
        r
    };
    let mut edited = good.clone();
    *edited.last_mut().unwrap() = b'!';
    // (who signs, key, value, the rule's words)
    let cases: Vec<(&caravan::Identity, String, Vec<u8>, &str)> = vec![
        (&bi, review::key(&bi.node_id(), &x), one_sided, "both parties signed"),
        (&bi, review::key(&bi.node_id(), &x), edited, "both parties signed"),
        (&ti, review::key(&bi.node_id(), &x), good.clone(), "its own reviews"),
        (&ti, review::key(&ti.node_id(), &x), good.clone(), "both parties signed"),
    ];
    let (genesis_b, chain_b) = b.node.membership_proof(&cid).unwrap();
    let (genesis_t, chain_t) = t.node.membership_proof(&cid).unwrap();
    for (who, key, value, rule_words) in cases {
        let (genesis, chain) =
            if who.node_id() == bi.node_id() { (genesis_b, chain_b.clone()) } else { (genesis_t, chain_t.clone()) };
        let forged = forge_batch(
            who,
            &who.node_id().endpoint(),
            &doc.to_string(),
            &cid.endpoint(),
            None,
            Some(genesis),
            chain,
            &common::bytes_change_by(&who.signing_public(), &key, &value),
        );
        for n in [&mut s, &mut b, &mut t] {
            let before = n.node.fingerprint().unwrap();
            let r = n.node.import(&forged).unwrap();
            match r.outcomes.as_slice() {
                [Outcome::Rejected(Rejection::Rule { kind, rule })] => {
                    assert_eq!(kind, "reviews");
                    assert!(rule.contains(rule_words), "{rule}");
                }
                other => panic!("{key}: {other:?}"),
            }
            assert_eq!(n.node.fingerprint().unwrap(), before);
        }
    }
}

/// A third member signs a step in someone else's exchange (a change a normal client
/// never makes): every member refuses it with the rule it breaks.
#[test]
fn a_step_by_someone_who_is_not_a_party_is_refused_on_import() {
    let (mut s, mut b, mut t) = (node("Seller"), node("Buyer"), node("Third"));
    for x in [&mut b, &mut t] {
        s.node.add_contact(&x.node.card(), &[Audience::Friends]).unwrap();
        x.node.add_contact(&s.node.card(), &[]).unwrap();
    }
    let cid = s.node.create_community("Growers", "").unwrap();
    s.node.invite(&cid, &b.node.card(), Role::Member).unwrap();
    s.node.invite(&cid, &t.node.card(), Role::Member).unwrap();
    let all = s.node.export(caravan::Target::Everyone).unwrap();
    for x in [&mut b, &mut t] {
        x.node.import_many(all.iter().map(Vec::as_slice)).unwrap();
    }
    let t_identity = {
        let secret: [u8; 64] = std::fs::read(t.home.path().join("identity.key")).unwrap().try_into().unwrap();
        caravan::Identity::from_secret_bytes(&secret)
    };
    let (seller, buyer, third) = (s.node.node_id(), b.node.node_id(), t.node.node_id());
    let doc = DocId::parse(&format!("c/{cid}/exchange")).unwrap();
    let key = t.node.community_key(&cid).unwrap();
    let (genesis, chain) = t.node.membership_proof(&cid).unwrap();
    for step in [format!("s/{third}/{buyer}/1/{seller}/completed"), format!("s/{third}/{buyer}/1/{seller}/accepted")] {
        let forged = forge_batch(
            &t_identity,
            &third.endpoint(),
            &doc.to_string(),
            &cid.endpoint(),
            Some(key),
            Some(genesis),
            chain.clone(),
            &changes_by(&t_identity.signing_public(), &step, "1"),
        );
        for n in [&mut s, &mut b] {
            let before = n.node.fingerprint().unwrap();
            let r = n.node.import(&forged).unwrap();
            match r.outcomes.as_slice() {
                [Outcome::Rejected(Rejection::Rule { kind, rule })] => {
                    assert_eq!(kind, "exchange");
                    assert!(rule.contains("only a party"), "{rule}");
                }
                other => panic!("{step}: {other:?}"),
            }
            assert_eq!(n.node.fingerprint().unwrap(), before);
        }
    }
}
