//! Polls through the binary over a stick: an owner asks, members vote (one changes its
//! mind), the owner closes, and a member's own recount matches the commitment; a vote
//! by a node outside the community and a close by a member who is no owner are refused
//! on import at every node, and an owner's close that misstates the count is shown as
//! failing the recount.

mod common;

use std::path::Path;

use caravan::{DocId, Outcome, Rejection};
use common::{bytes_change_by, caravan, card, forge_batch, identity_of, init, ok, sync_stick};

fn show(home: &Path, poll: &str) -> serde_json::Value {
    serde_json::from_str(&ok(home, &["poll", "show", poll, "--json"])).unwrap()
}

#[test]
fn a_poll_is_asked_voted_closed_and_recounted_over_a_stick() {
    let people: Vec<tempfile::TempDir> = ["Owner", "Ana", "Ben", "Outsider"].iter().map(|n| init(n)).collect();
    let [o, a, b, x] = [0, 1, 2, 3].map(|i| people[i].path());
    let stick = tempfile::tempdir().unwrap();
    let stick = stick.path();
    for m in [a, b] {
        ok(o, &["contact", "add", &card(m)]);
        ok(m, &["contact", "add", &card(o)]);
    }
    ok(o, &["community", "create", "Well"]);
    ok(o, &["community", "invite", "Well", &card(a)]);
    ok(o, &["community", "invite", "Well", &card(b)]);
    let round = || {
        for n in [o, a, b, o] {
            sync_stick(n, stick);
        }
    };
    round();
    let asked = ok(o, &["poll", "create", "Well", "Where to dig?", "--option", "North", "--option", "South"]);
    let id = asked.split("poll ").nth(1).unwrap().split(';').next().unwrap().to_string();
    let one = caravan(o, &["poll", "create", "Well", "Only one?", "--option", "Yes"]);
    assert!(String::from_utf8_lossy(&one.stderr).contains("2 to 32 options"), "{one:?}");
    round();
    ok(o, &["vote", &id, "north"]);
    ok(a, &["vote", &id, "North"]);
    ok(b, &["vote", &id, "1"]);
    assert!(ok(b, &["vote", &id, "South"]).contains("You voted \"South\""), "the latest counts");
    let bad = caravan(a, &["vote", &id, "East"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no option \"East\""), "{bad:?}");
    let member_close = caravan(a, &["poll", "close", &id]);
    assert!(String::from_utf8_lossy(&member_close.stderr).contains("close a poll"), "{member_close:?}");
    round();
    round();
    let open = ok(a, &["poll", "show", &id]);
    let north = open.lines().find(|l| l.contains("1. North: 2 votes (")).unwrap_or_else(|| panic!("{open}"));
    assert!(north.contains("Owner") && north.contains("Ana (you)"), "{open}");
    assert!(open.contains("2. South: 1 vote (Ben)"), "{open}");
    assert!(ok(o, &["poll", "close", &id]).contains("Closed poll"));
    // Ana changes her vote before the close reaches her: the close counted what the
    // owner held, and the recount, made at the close's heads, agrees.
    ok(a, &["vote", &id, "South"]);
    round();
    let refused = caravan(a, &["vote", &id, "North"]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("closed"), "{refused:?}");
    for m in [o, a, b] {
        let v = show(m, &id);
        assert_eq!(v["close"]["counts"], serde_json::json!([2, 1]));
        assert_eq!(v["recount"]["matches"], true, "{v}");
        assert_eq!(v["recount"]["root"], v["close"]["root"]);
        assert_eq!(v["tally"]["counts"], serde_json::json!([1, 2]), "now, after the close");
    }
    assert!(ok(b, &["poll", "show", &id]).contains("Your recount of the 3 votes counted matches"));
    assert!(ok(b, &["poll", "list"]).contains("closed"));

    // The outsider cannot even read it, and its forged vote is refused everywhere.
    let cid = show(o, &id)["community"].as_str().unwrap().to_string();
    let doc = DocId::parse(&format!("c/{cid}/polls")).unwrap();
    let xi = identity_of(x);
    let owner_node = caravan::Node::open(o, "").unwrap();
    let cid_typed = caravan::CommunityId::parse(&cid).unwrap();
    let key = owner_node.community_key(&cid_typed).unwrap();
    let (genesis, _) = owner_node.membership_proof(&cid_typed).unwrap();
    drop(owner_node);
    let forged_vote = forge_batch(
        &xi,
        &xi.node_id().endpoint(),
        &doc.to_string(),
        &cid_typed.endpoint(),
        Some(key),
        Some(genesis),
        Vec::new(),
        &bytes_change_by(&xi.signing_public(), &format!("v/{id}/{}", xi.node_id()), &[0]),
    );
    let ai = identity_of(a);
    let a_node = caravan::Node::open(a, "").unwrap();
    let (a_genesis, a_chain) = a_node.membership_proof(&cid_typed).unwrap();
    drop(a_node);
    let close = caravan::plugin::poll::Close { heads: vec![], counts: vec![0, 3], root: [0; 32] }.encode();
    let forged_close = forge_batch(
        &ai,
        &ai.node_id().endpoint(),
        &doc.to_string(),
        &cid_typed.endpoint(),
        Some(key),
        Some(a_genesis),
        a_chain,
        &bytes_change_by(&ai.signing_public(), &format!("close/{id}"), &close),
    );
    for (bundle, what) in [(forged_vote, "vote by an outsider"), (forged_close, "close by a member")] {
        for m in [o, a, b] {
            let mut n = caravan::Node::open(m, "").unwrap();
            let before = n.fingerprint().unwrap();
            let r = n.import(&bundle).unwrap();
            match (what, r.outcomes.as_slice()) {
                ("vote by an outsider", [Outcome::Rejected(Rejection::NotMember { .. })]) => {}
                ("close by a member", [Outcome::Rejected(Rejection::Rule { kind, rule })]) => {
                    assert_eq!(kind, "polls");
                    assert!(rule.contains("only an owner closes"), "{rule}");
                }
                other => panic!("{what}: {other:?}"),
            }
            assert_eq!(n.fingerprint().unwrap(), before, "{what}");
        }
    }
}

/// An owner closes a second poll with a count that misstates the votes: the close is
/// well-formed, so it is stored, but every member's recount says it does not match.
#[test]
fn a_close_that_misstates_the_count_fails_the_recount() {
    let people: Vec<tempfile::TempDir> = ["Owner", "Ana"].iter().map(|n| init(n)).collect();
    let [o, a] = [0, 1].map(|i| people[i].path());
    let stick = tempfile::tempdir().unwrap();
    let stick = stick.path();
    ok(o, &["contact", "add", &card(a)]);
    ok(a, &["contact", "add", &card(o)]);
    ok(o, &["community", "create", "Well"]);
    ok(o, &["community", "invite", "Well", &card(a)]);
    for n in [o, a, o] {
        sync_stick(n, stick);
    }
    let asked = ok(o, &["poll", "create", "Well", "Rebuild the mill?", "--option", "Yes", "--option", "No"]);
    let id = asked.split("poll ").nth(1).unwrap().split(';').next().unwrap().to_string();
    for n in [o, a] {
        sync_stick(n, stick);
    }
    ok(a, &["vote", &id, "No"]);
    for n in [a, o] {
        sync_stick(n, stick);
    }
    // The owner's node writes a close claiming "Yes" won, with a root of nothing.
    let mut owner = caravan::Node::open(o, "").unwrap();
    let v = owner.poll(&id).unwrap();
    let cid = v.community;
    owner
        .edit_kind(&cid, "polls", |d, _, _| {
            let heads: Vec<[u8; 32]> = d.get_heads().iter().map(|h| h.0).collect();
            let lie = caravan::plugin::poll::Close {
                heads,
                counts: vec![1, 0],
                root: caravan::plugin::poll::merkle_root(&[(v.poll.id.author, 0)]),
            };
            caravan::plugin::poll::close(d, &v.poll.id, &lie)
        })
        .unwrap();
    drop(owner);
    for n in [o, a] {
        sync_stick(n, stick);
    }
    let seen = show(a, &id);
    assert_eq!(seen["recount"]["matches"], false, "{seen}");
    assert_eq!(seen["recount"]["counts"], serde_json::json!([0, 1]));
    assert!(ok(a, &["poll", "show", &id]).contains("does NOT match"));
}
