//! The market through the binary: villages list, search and withdraw offers and requests,
//! and the listings travel on a stick.

mod common;

use std::path::Path;

use common::{caravan, ok, sync_json};

fn init(home: &Path, name: &str) -> String {
    ok(home, &["init", "--name", name]);
    ok(home, &["id"]).trim().to_string()
}

#[test]
fn three_villages_trade_over_a_stick() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c, stick) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("c"), dir.path().join("stick"));
    std::fs::create_dir(&stick).unwrap();
    let (a_card, b_card, c_card) = (init(&a, "Asha"), init(&b, "Bako"), init(&c, "Chidi"));
    for (home, card) in [(&a, &b_card), (&a, &c_card), (&b, &a_card), (&c, &a_card)] {
        ok(home, &["contact", "add", card]);
    }
    let cid = ok(&a, &["community", "create", "Growers"]).lines().last().unwrap().trim().to_string();
    ok(&a, &["community", "invite", &cid, &b_card]);
    ok(&a, &["community", "invite", &cid, &c_card]);
    let out = ok(
        &a,
        &["market", "offer", &cid, "Eggs", "--description", "free range", "--price", "2.50", "EUR", "--quantity", "12"],
    );
    assert!(out.contains("listed for the community's members"), "{out}");
    let round = |homes: &[&Path]| {
        for h in homes {
            sync_json(h, &stick);
        }
    };
    round(&[&a, &b, &c]);
    ok(&b, &["market", "request", &cid, "Ride to town", "--place", "the crossroads", "--public"]);
    round(&[&b, &a, &c]);

    let list = ok(&c, &["market", "list", &cid]);
    assert!(list.contains("offer \"Eggs\" by Asha, 2.50 EUR, 12 available"), "{list}");
    assert!(list.contains("request \"Ride to town\" by Bako"), "{list}");
    assert!(list.contains("public"), "{list}");
    let found: serde_json::Value =
        serde_json::from_str(ok(&c, &["market", "list", &cid, "--search", "ride", "--json"]).trim()).unwrap();
    let found = found.as_array().unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["title"], "Ride to town");
    assert_eq!(found[0]["public"], true);
    let requests: serde_json::Value =
        serde_json::from_str(ok(&c, &["market", "list", &cid, "--kind", "request", "--json"]).trim()).unwrap();
    assert_eq!(requests.as_array().unwrap().len(), 1);

    // Any document shows as its kind reads it.
    let shown = ok(&c, &["show", &cid, "market"]);
    assert!(shown.contains("offer \"Eggs\""), "{shown}");
    assert!(ok(&c, &["kinds"]).contains("market-public"));
    let out = caravan(&c, &["show", &cid, "no-such-kind"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("knows no document kind"));

    // C cannot withdraw A's offer; A can, and the withdrawal travels.
    let all: serde_json::Value = serde_json::from_str(ok(&c, &["market", "list", &cid, "--json"]).trim()).unwrap();
    let eggs =
        all.as_array().unwrap().iter().find(|l| l["title"] == "Eggs").unwrap()["id"].as_str().unwrap().to_string();
    let out = caravan(&c, &["market", "withdraw", &cid, &eggs]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no listing"), "{}", String::from_utf8_lossy(&out.stderr));
    ok(&a, &["market", "withdraw", &cid, &eggs]);
    round(&[&a, &c]);
    let list = ok(&c, &["market", "list", &cid]);
    assert!(!list.contains("Eggs"), "{list}");
    assert!(list.contains("Ride to town"), "{list}");

    // Bad input gets one clear line.
    let out = caravan(&a, &["market", "offer", &cid, "Honey", "--price", "lots", "EUR"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("must be a number"));
    let out = caravan(&a, &["market", "list", "not-a-community"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a community id"));
}
