//! The example plug-in (`examples/calendar.rs`), built only on the public API, works like
//! a built-in kind: two villages exchange it over a stick, each member changes only its
//! own events, and a node that has not registered the kind carries it unread.

#[path = "../examples/calendar.rs"]
mod calendar;

use caravan::link::stick;
use caravan::{Node, Role};

fn sync(n: &mut Node, s: &std::path::Path) {
    let r = stick::sync(n, s, Default::default()).unwrap();
    assert!(r.rejected.is_empty(), "{:?}", r.rejected);
}

#[test]
fn two_villages_share_a_calendar_over_a_stick() {
    caravan::plugin::register(&calendar::CALENDAR).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path().join("stick");
    std::fs::create_dir(&s).unwrap();
    let mut a = Node::open(&dir.path().join("a"), "Hill").unwrap();
    let mut b = Node::open(&dir.path().join("b"), "River").unwrap();
    a.add_contact(&b.card(), &[]).unwrap();
    b.add_contact(&a.card(), &[]).unwrap();
    let cid = a.create_community("Growers", "").unwrap();
    a.invite(&cid, &b.card(), Role::Member).unwrap();
    let swap = calendar::add_event(&mut a, &cid, "Seed swap", 1_900_000_000_000, "the old school").unwrap();
    sync(&mut a, &s);
    sync(&mut b, &s);
    let seen = calendar::events(&mut b, &cid).unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!((seen[0].title.as_str(), seen[0].place.as_str()), ("Seed swap", "the old school"));
    assert_eq!(seen[0].author, a.node_id());
    // B adds its own event; it may not cancel A's (refused locally: every node would).
    calendar::add_event(&mut b, &cid, "Harvest supper", 1_800_000_000_000, "the mill").unwrap();
    let err = calendar::cancel_event(&mut b, &cid, &swap).unwrap_err();
    assert!(matches!(err, caravan::Error::Rule { .. }), "{err}");
    sync(&mut b, &s);
    sync(&mut a, &s);
    let titles: Vec<String> = calendar::events(&mut a, &cid).unwrap().into_iter().map(|e| e.title).collect();
    assert_eq!(titles, ["Harvest supper", "Seed swap"]);
    // A cancels its own; the cancellation travels.
    calendar::cancel_event(&mut a, &cid, &swap).unwrap();
    sync(&mut a, &s);
    sync(&mut b, &s);
    let titles: Vec<String> = calendar::events(&mut b, &cid).unwrap().into_iter().map(|e| e.title).collect();
    assert_eq!(titles, ["Harvest supper"]);
}

/// A node whose program does not know the kind (the `caravan` binary) carries its
/// documents unread, and they reach a member that knows it through that node alone.
#[test]
fn a_node_without_the_kind_carries_it_unread() {
    caravan::plugin::register(&calendar::CALENDAR).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (s1, s2) = (dir.path().join("s1"), dir.path().join("s2"));
    std::fs::create_dir(&s1).unwrap();
    std::fs::create_dir(&s2).unwrap();
    let b_home = dir.path().join("b");
    let mut a = Node::open(&dir.path().join("a"), "Hill").unwrap();
    let mut c = Node::open(&dir.path().join("c"), "Lake").unwrap();
    let b_card = {
        let mut b = Node::open(&b_home, "River").unwrap();
        b.add_contact(&a.card(), &[]).unwrap();
        b.card()
    };
    c.add_contact(&a.card(), &[]).unwrap();
    let cid = a.create_community("Growers", "").unwrap();
    a.invite(&cid, &b_card, Role::Member).unwrap();
    a.invite(&cid, &c.card(), Role::Member).unwrap();
    calendar::add_event(&mut a, &cid, "Seed swap", 1_900_000_000_000, "the old school").unwrap();
    sync(&mut a, &s1);
    // B, the binary, takes the first stick and leaves everything on the second.
    for s in [&s1, &s2] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_caravan"))
            .arg("--home")
            .arg(&b_home)
            .args(["sync", "--json", "--stick"])
            .arg(s)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["rejected"], 0, "{report}");
    }
    sync(&mut c, &s2);
    let seen = calendar::events(&mut c, &cid).unwrap();
    assert_eq!(seen.len(), 1, "the event did not cross the node that cannot read it");
}

/// A home an app with the kind writes to can still be synced by the `caravan` binary,
/// which does not know the kind: the binary leaves that document to the app, and syncs
/// everything else.
#[test]
fn the_binary_syncs_a_home_holding_a_kind_it_does_not_know() {
    caravan::plugin::register(&calendar::CALENDAR).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (home, s) = (dir.path().join("a"), dir.path().join("s"));
    std::fs::create_dir(&s).unwrap();
    let cid = {
        let mut a = Node::open(&home, "Hill").unwrap();
        let cid = a.create_community("Growers", "").unwrap();
        calendar::add_event(&mut a, &cid, "Seed swap", 1_900_000_000_000, "the old school").unwrap();
        a.post(&cid, "see the calendar").unwrap();
        cid
    };
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_caravan"))
        .arg("--home")
        .arg(&home)
        .args(["sync", "--stick"])
        .arg(&s)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The app, opened again, still seals its event.
    let mut a = Node::open(&home, "Hill").unwrap();
    sync(&mut a, &s);
    assert_eq!(calendar::events(&mut a, &cid).unwrap().len(), 1);
}
