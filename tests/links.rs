//! Links between communities through the binary over one stick carried between two
//! villages: the farmers' cooperative proposes a link sharing the market, the consumers'
//! group accepts, each side's members see the other's public listings without joining;
//! the consumers end it and nothing new flows. A link record signed by one side only is
//! refused on import at every node.

mod common;

use caravan::plugin::link::{Link, Side, Statement};
use caravan::{DocId, Outcome, Rejection};
use common::{bytes_change_by, card, forge_batch, identity_of, init, ok, sync_stick};

fn community_id(home: &std::path::Path, name: &str) -> String {
    let all: serde_json::Value = serde_json::from_str(&ok(home, &["community", "list", "--json"])).unwrap();
    all.as_array().unwrap().iter().find(|c| c["name"] == name).unwrap()["id"].as_str().unwrap().to_string()
}

#[test]
fn farmers_and_consumers_share_their_markets_through_a_link() {
    let people: Vec<tempfile::TempDir> =
        ["Farm owner", "Farmer", "Shop owner", "Shopper"].iter().map(|n| init(n)).collect();
    let [fo, fm, co, cm] = [0, 1, 2, 3].map(|i| people[i].path());
    let stick = tempfile::tempdir().unwrap();
    let stick = stick.path();
    ok(fo, &["contact", "add", &card(fm)]);
    ok(fm, &["contact", "add", &card(fo)]);
    ok(co, &["contact", "add", &card(cm)]);
    ok(cm, &["contact", "add", &card(co)]);
    ok(fo, &["community", "create", "Farmers"]);
    ok(fo, &["community", "invite", "Farmers", &card(fm)]);
    ok(co, &["community", "create", "Consumers"]);
    ok(co, &["community", "invite", "Consumers", &card(cm)]);
    let round = || {
        for n in [fo, fm, co, cm, fo, fm, co, cm] {
            sync_stick(n, stick);
        }
    };
    round();
    let (farmers, consumers) = (community_id(fo, "Farmers"), community_id(co, "Consumers"));
    // A member cannot link; the farm owner proposes.
    assert!(!common::caravan(fm, &["community", "link", "Farmers", &consumers, "--share", "market"]).status.success());
    let proposed = ok(fo, &["community", "link", "Farmers", &consumers, "--share", "market"]);
    assert!(proposed.contains("Proposed a link"), "{proposed}");
    round();
    // The shop owner got the farmers' id from them, as they got the consumers'. The
    // farmers' proposal may have left the stick already (delivered to their members):
    // the shop owner's command then proposes the same, and the farm owner's node, which
    // follows the consumers since proposing, completes the link when it hears of it.
    let accepted = ok(co, &["community", "link", "Consumers", &farmers, "--share", "market"]);
    assert!(accepted.contains("sharing market"), "{accepted}");
    ok(fm, &["market", "offer", "Farmers", "Carrots", "--quantity", "40", "--public"]);
    ok(fm, &["market", "offer", "Farmers", "Seed potatoes, members only", "--quantity", "3"]);
    ok(cm, &["market", "request", "Consumers", "Apples", "--quantity", "10", "--public"]);
    round();
    round();
    let shop_links = ok(cm, &["community", "links", "Consumers"]);
    assert!(shop_links.contains("Farmers: linked, sharing market"), "{shop_links}");
    for n in [fo, fm] {
        let links = ok(n, &["community", "links", "Farmers"]);
        assert!(links.contains("Consumers: linked, sharing market"), "{links}");
    }
    let shop = ok(cm, &["market", "list", "Consumers"]);
    assert!(shop.contains("From Farmers (linked):") && shop.contains("Carrots"), "{shop}");
    assert!(!shop.contains("Seed potatoes"), "members-only listings stay in: {shop}");
    let farm = ok(fm, &["market", "list", "Farmers"]);
    assert!(farm.contains("From Consumers (linked):") && farm.contains("Apples"), "{farm}");
    // Neither joined the other.
    let mine: serde_json::Value = serde_json::from_str(&ok(cm, &["community", "list", "--json"])).unwrap();
    assert_eq!(mine.as_array().unwrap().len(), 1);

    // The consumers end it: what the farmers list next does not reach them.
    assert!(ok(co, &["community", "unlink", "Consumers", &farmers]).contains("Unlinked"));
    round();
    ok(fm, &["market", "offer", "Farmers", "Leeks", "--quantity", "5", "--public"]);
    round();
    round();
    let shop = ok(cm, &["market", "list", "Consumers"]);
    assert!(!shop.contains("Leeks") && !shop.contains("Carrots"), "{shop}");
    // Not only hidden: the shopper's node no longer reads the farmers' public market.
    let held = ok(cm, &["show", &farmers, "market-public"]);
    assert!(held.contains("Carrots") && !held.contains("Leeks"), "{held}");
    let farm = ok(fo, &["community", "links", "Farmers"]);
    assert!(farm.contains("Consumers: ended by them"), "{farm}");
}

/// A farm owner writes a link record with its own signature and a made-up one for the
/// consumers: every node refuses it with the rule, its store unchanged.
#[test]
fn a_link_signed_by_one_side_is_refused_on_import() {
    let people: Vec<tempfile::TempDir> = ["Farm owner", "Farmer", "Shop owner"].iter().map(|n| init(n)).collect();
    let [fo, fm, co] = [0, 1, 2].map(|i| people[i].path());
    let stick = tempfile::tempdir().unwrap();
    let stick = stick.path();
    ok(fo, &["contact", "add", &card(fm)]);
    ok(fm, &["contact", "add", &card(fo)]);
    ok(fo, &["community", "create", "Farmers"]);
    ok(fo, &["community", "invite", "Farmers", &card(fm)]);
    ok(co, &["community", "create", "Consumers"]);
    for n in [fo, fm, co, fo] {
        sync_stick(n, stick);
    }
    let (farmers, consumers) = (community_id(fo, "Farmers"), community_id(co, "Consumers"));
    let (f, c) = (caravan::CommunityId::parse(&farmers).unwrap(), caravan::CommunityId::parse(&consumers).unwrap());
    let foi = identity_of(fo);
    let node = caravan::Node::open(fo, "").unwrap();
    let (fg, fchain) = node.membership_proof(&f).unwrap();
    drop(node);
    let node = caravan::Node::open(co, "").unwrap();
    let (cg, _) = node.membership_proof(&c).unwrap();
    drop(node);
    let s = Statement { a: f, b: c, shares: 1, n: 1 };
    let mine = Side::sign(&foi, fg, fchain.clone(), &s.encode());
    // The consumers' side, "signed" by the farm owner: not an owner there.
    let fake = Side::sign(&foi, cg, vec![], &s.encode());
    let record = Link { statement: s.clone(), sides: [mine, fake] }.encode();
    let doc = DocId::parse(&format!("c/{farmers}/links")).unwrap();
    let forged = forge_batch(
        &foi,
        &foi.node_id().endpoint(),
        &doc.to_string(),
        &f.endpoint(),
        None,
        Some(fg),
        fchain,
        &bytes_change_by(&foi.signing_public(), &format!("l/{}", s.hash_hex()), &record),
    );
    for home in [fo, fm, co] {
        let mut n = caravan::Node::open(home, "").unwrap();
        let before = n.fingerprint().unwrap();
        let r = n.import(&forged).unwrap();
        match r.outcomes.as_slice() {
            [Outcome::Rejected(Rejection::Rule { kind, rule })] => {
                assert_eq!(kind, "links");
                assert!(rule.contains("an owner of each community"), "{rule}");
            }
            // The consumers' owner does not read the farmers' public part: it carries it
            // unopened, and whoever reads it refuses it.
            [Outcome::Waiting(_) | Outcome::NotCarried(_)] if home == co => {}
            other => panic!("{other:?}"),
        }
        if home != co {
            assert_eq!(n.fingerprint().unwrap(), before);
        }
    }
}
