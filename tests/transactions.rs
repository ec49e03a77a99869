//! One durable commit per user operation: an operation is stored whole or not at all,
//! and a crash between two of its commits cannot leave half of it (a community without
//! its roster, a key without its page).

use caravan::{Audience, Node, Role, Target};

/// Runs `op` and returns how many commits it made.
fn commits<T>(node: &mut Node, op: impl FnOnce(&mut Node) -> T) -> u64 {
    let before = node.store_commits();
    op(node);
    node.store_commits() - before
}

#[test]
fn each_user_operation_commits_once() {
    let (ha, hb) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = Node::open(ha.path(), "Village A").unwrap();
    let mut b = Node::open(hb.path(), "Village B").unwrap();
    let b_card = b.card();
    let mut cid = None;
    let ops: Vec<(&str, u64)> = vec![
        ("create a community", commits(&mut a, |a| cid = Some(a.create_community("Wells", "Our wells").unwrap()))),
        ("add a contact", commits(&mut a, |a| a.add_contact(&b_card, &[Audience::Friends]).unwrap())),
        ("invite", commits(&mut a, |a| a.invite(&cid.unwrap(), &b_card, Role::Editor).unwrap())),
        ("put a wiki page", commits(&mut a, |a| a.put_wiki_page(&cid.unwrap(), "North", "Pump fixed.\n").unwrap())),
        ("post", commits(&mut a, |a| a.post(&cid.unwrap(), "Market on Thursday").unwrap())),
        (
            "set a profile field",
            commits(&mut a, |a| a.set_profile_field("village", "North", Audience::Public).unwrap()),
        ),
        ("export", commits(&mut a, |a| a.export(Target::Everyone).unwrap())),
    ];
    for (what, n) in &ops {
        assert_eq!(*n, 1, "{what} made {n} commits");
    }
    let bundles = a.export(Target::Everyone).unwrap();
    assert_eq!(
        commits(&mut a, |a| a.export(Target::Everyone).unwrap()),
        0,
        "an export with nothing new writes nothing"
    );
    let a_card = a.card();
    assert_eq!(commits(&mut b, |b| b.add_contact(&a_card, &[]).unwrap()), 1);
    assert_eq!(commits(&mut b, |b| b.import_many(bundles.iter().map(Vec::as_slice)).unwrap()), 1, "an import");
    assert_eq!(b.wiki_page(&cid.unwrap(), "North").unwrap().as_deref(), Some("Pump fixed.\n"));
    assert_eq!(commits(&mut b, |b| b.import_many(bundles.iter().map(Vec::as_slice)).unwrap()), 0, "the same again");
    assert_eq!(commits(&mut b, |b| b.add_profile_post("Hello", Audience::Friends).unwrap()), 1, "a profile post");
}
