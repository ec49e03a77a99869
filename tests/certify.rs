//! Certificates through the binary over a stick: owners name two certifiers and ask for
//! both; a listing and a member's skill are certified once both signed, shown in the
//! market, revoked by an owner; a certificate crafted with fewer than k signatures, or a
//! signature by a member who does not certify, is refused on import at every node.

mod common;

use caravan::plugin::certificate::{Certificate, Signature, Statement, Subject};
use caravan::{DocId, Outcome, Rejection};
use common::{bytes_change_by, caravan, card, forge_batch, identity_of, init, ok, sync_stick};

#[test]
fn certifiers_vouch_for_a_listing_and_a_skill_over_a_stick() {
    let people: Vec<tempfile::TempDir> = ["Owner", "Ana", "Ben", "Sam"].iter().map(|n| init(n)).collect();
    let [o, a, b, s] = [0, 1, 2, 3].map(|i| people[i].path());
    let stick = tempfile::tempdir().unwrap();
    let stick = stick.path();
    for m in [a, b, s] {
        ok(o, &["contact", "add", &card(m)]);
        ok(m, &["contact", "add", &card(o)]);
    }
    ok(o, &["community", "create", "Co-op"]);
    for m in [a, b, s] {
        ok(o, &["community", "invite", "Co-op", &card(m)]);
    }
    let round = || {
        for n in [o, a, b, s, o] {
            sync_stick(n, stick);
        }
    };
    round();
    assert!(ok(o, &["community", "certifier", "Co-op", "Ana"]).contains("Ana now certifies for Co-op"));
    ok(o, &["community", "certifier", "Co-op", "Ben"]);
    assert!(ok(o, &["community", "threshold", "Co-op", "2"]).contains("need 2 certifiers' signatures"));
    let not_owner = caravan(a, &["community", "threshold", "Co-op", "1"]);
    assert!(!not_owner.status.success());
    let listed = ok(s, &["market", "offer", "Co-op", "Honey", "--quantity", "6"]);
    let listing = listed.split("(id ").nth(1).unwrap().split(')').next().unwrap().to_string();
    round();
    round();
    let sam = caravan(s, &["certify", "Co-op", &listing]);
    assert!(String::from_utf8_lossy(&sam.stderr).contains("not a certifier"), "{sam:?}");
    let first = ok(a, &["certify", "Co-op", &listing]);
    assert!(first.contains("still gathering signatures (1 of 2)"), "{first}");
    round();
    let second = ok(b, &["certify", "Co-op", &listing]);
    assert!(second.contains("Certified:") && second.contains("holds"), "{second}");
    round();
    let market = ok(s, &["market", "list", "Co-op"]);
    let line = market.lines().find(|l| l.contains("certified by the community")).unwrap_or_else(|| panic!("{market}"));
    assert!(line.contains("Ana") && line.contains("Ben"), "{market}");
    let json: serde_json::Value = serde_json::from_str(&ok(s, &["certificates", &listing, "--json"])).unwrap();
    assert_eq!(json[0]["holds"], true);
    assert_eq!(json[0]["needed"], 2);

    // A skill, for 30 days; then revoked by an owner.
    ok(a, &["certify", "Co-op", "Sam", "--skill", "beekeeping", "--expires", "30"]);
    round();
    ok(b, &["certify", "Co-op", "Sam", "--skill", "beekeeping", "--expires", "30"]);
    round();
    let skills = ok(s, &["certificates", "Sam"]);
    assert!(skills.contains("Sam (you) for \"beekeeping\" certified by Co-op, until"), "{skills}");
    assert!(skills.contains("holds"), "{skills}");
    assert!(!caravan(a, &["certify", "Co-op", "Sam", "--skill", "beekeeping", "--revoke"]).status.success());
    ok(o, &["certify", "Co-op", "Sam", "--skill", "beekeeping", "--revoke"]);
    round();
    let skills = ok(s, &["certificates", "Sam"]);
    assert!(skills.contains("does not hold: revoked by the community"), "{skills}");
    // The listing withdrawn: its certificate no longer holds.
    ok(s, &["market", "withdraw", "Co-op", &listing]);
    round();
    round();
    let gone = ok(a, &["certificates", &listing]);
    assert!(gone.contains("does not hold: the listing is gone"), "{gone}");
}

/// Crafted by members whose nodes would never write them: a certificate with one
/// certifier's signature where two are asked, and a signature by a member who does not
/// certify. Every member refuses both with the rule, and its store is unchanged.
#[test]
fn a_certificate_with_fewer_than_k_signatures_is_refused_on_import() {
    let people: Vec<tempfile::TempDir> = ["Owner", "Ana", "Sam"].iter().map(|n| init(n)).collect();
    let [o, a, s] = [0, 1, 2].map(|i| people[i].path());
    let stick = tempfile::tempdir().unwrap();
    let stick = stick.path();
    for m in [a, s] {
        ok(o, &["contact", "add", &card(m)]);
        ok(m, &["contact", "add", &card(o)]);
    }
    ok(o, &["community", "create", "Co-op"]);
    for m in [a, s] {
        ok(o, &["community", "invite", "Co-op", &card(m)]);
    }
    for n in [o, a, s, o] {
        sync_stick(n, stick);
    }
    ok(o, &["community", "certifier", "Co-op", "Ana"]);
    ok(o, &["community", "certifier", "Co-op", "Owner"]);
    ok(o, &["community", "threshold", "Co-op", "2"]);
    for n in [o, a, s] {
        sync_stick(n, stick);
    }
    let (ai, si) = (identity_of(a), identity_of(s));
    let cid = caravan::Node::open(o, "").unwrap().communities().unwrap()[0].id;
    let statement = Statement {
        community: cid,
        subject: Subject::Skill { node: si.node_id(), skill: "masonry".into() },
        expires_unix_ms: 0,
    };
    let h = statement.hash_hex();
    let doc = DocId::parse(&format!("c/{cid}/certs")).unwrap();
    let one = Certificate { statement: statement.clone(), signatures: vec![Signature::sign(&ai, &statement)] };
    let forge = |who: &caravan::Identity, home: &std::path::Path, key: String, value: Vec<u8>| {
        let n = caravan::Node::open(home, "").unwrap();
        let k = n.community_key(&cid).unwrap();
        let (genesis, chain) = n.membership_proof(&cid).unwrap();
        forge_batch(
            who,
            &who.node_id().endpoint(),
            &doc.to_string(),
            &cid.endpoint(),
            Some(k),
            Some(genesis),
            chain,
            &bytes_change_by(&who.signing_public(), &key, &value),
        )
    };
    let cases = [
        (forge(&ai, a, format!("c/{h}"), one.encode()), "at least k"),
        (
            forge(
                &si,
                s,
                format!("s/{h}/{}", si.node_id()),
                Signature::sign(&si, &statement).encode_with_statement(&statement),
            ),
            "only the community's certifiers",
        ),
    ];
    for (bundle, words) in cases {
        for home in [o, a, s] {
            let mut n = caravan::Node::open(home, "").unwrap();
            let before = n.fingerprint().unwrap();
            let r = n.import(&bundle).unwrap();
            match r.outcomes.as_slice() {
                [Outcome::Rejected(Rejection::Rule { kind, rule })] => {
                    assert_eq!(kind, "certs");
                    assert!(rule.contains(words), "{rule}");
                }
                other => panic!("{words}: {other:?}"),
            }
            assert_eq!(n.fingerprint().unwrap(), before);
        }
    }
}
