//! Exchanges through the binary over a stick: a buyer proposes, the seller accepts, both
//! complete, one sync at a time; and a step crafted by someone who is not a party is
//! refused on import, leaving the store unchanged.

mod common;

use std::path::Path;

use caravan::{Audience, DocId, Outcome, Rejection, Role};
use common::{caravan, card, changes_by, forge_batch, init, node, ok, sync_stick};

fn state(home: &Path, id: &str) -> String {
    let all: serde_json::Value = serde_json::from_str(&ok(home, &["exchange", "list", "--json"])).unwrap();
    all.as_array().unwrap().iter().find(|x| x["id"] == id).map(|x| x["state"].as_str().unwrap().to_string()).unwrap()
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
