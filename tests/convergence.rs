//! One-way convergence: nodes exchange bundles only as byte vectors, in shuffled orders
//! with duplicates, content before the keys that open it, and all end identical.

mod common;

use caravan::{Audience, DocId, Outcome, Part, Role, Target, WaitReason};
use common::{Rng, node};

const PAGE: &str = "Water";
const BASE: &str = "North well: pump works.\nSouth well: dry since June.\nEast well: unknown.\n";

#[test]
fn three_villages_converge_in_any_order_with_duplicates() {
    for seed in [1u64, 7, 42, 1234, 98765] {
        let mut rng = Rng(seed);
        let mut a = node("Village A");
        let mut b = node("Village B");
        let mut c = node("Village C");
        // B knows A (auto-accepts its invitation); C does not (must consent).
        b.node.add_contact(&a.node.card(), &[]).unwrap();

        let wells = a.node.create_community("Wells", "Where the water is").unwrap();
        a.node.invite(&wells, &b.node.card(), Role::Editor).unwrap();
        a.node.invite(&wells, &c.node.card(), Role::Member).unwrap();
        a.node.put_wiki_page(&wells, PAGE, BASE).unwrap();

        // First delivery: everything A has, shuffled, duplicated; content may precede keys.
        let first = a.node.export(Target::Everyone).unwrap();
        b.node.import_many(rng.shuffle_with_duplicates(&first).iter().map(Vec::as_slice)).unwrap();
        let report = c.node.import_many(rng.shuffle_with_duplicates(&first).iter().map(Vec::as_slice)).unwrap();
        assert!(
            report.outcomes.iter().any(|o| matches!(o, Outcome::Waiting(WaitReason::Consent { .. }))),
            "seed {seed}: C must be asked to consent: {report:?}"
        );
        assert_eq!(c.node.wiki_page(&wells, PAGE).unwrap(), None, "seed {seed}: C cannot read before consenting");
        let invite = c.node.invites().unwrap().pop().expect("pending invitation");
        assert_eq!((invite.community, invite.role, invite.name.as_str()), (wells, Role::Member, "Wells"));
        c.node.accept_invite(&invite.id).unwrap();
        assert_eq!(c.node.wiki_page(&wells, PAGE).unwrap().as_deref(), Some(BASE), "seed {seed}");
        assert_eq!(b.node.role(&wells).unwrap(), Role::Editor);

        // Concurrent edits of the same page, on different lines, plus feed posts.
        a.node.put_wiki_page(&wells, PAGE, &BASE.replace("pump works", "pump works, new handle")).unwrap();
        b.node.put_wiki_page(&wells, PAGE, &BASE.replace("East well: unknown", "East well: clean, tested")).unwrap();
        c.node.post(&wells, "Can someone bring a rope to the south well?").unwrap();
        b.node.post(&wells, "Rope is on its way.").unwrap();

        // Everyone sends everything to everyone else, shuffled with duplicates.
        let from: Vec<Vec<Vec<u8>>> =
            [&mut a, &mut b, &mut c].into_iter().map(|n| n.node.export(Target::Everyone).unwrap()).collect();
        for (i, n) in [&mut a, &mut b, &mut c].into_iter().enumerate() {
            let mut incoming: Vec<Vec<u8>> =
                from.iter().enumerate().filter(|(j, _)| *j != i).flat_map(|(_, v)| v.clone()).collect();
            incoming = rng.shuffle_with_duplicates(&incoming);
            let report = n.node.import_many(incoming.iter().map(Vec::as_slice)).unwrap();
            assert!(report.rejected().is_empty(), "seed {seed}: {:?}", report.rejected());
        }

        let expected = "North well: pump works, new handle.\nSouth well: dry since June.\nEast well: clean, tested.\n";
        for n in [&mut a, &mut b, &mut c] {
            assert_eq!(n.node.wiki_page(&wells, PAGE).unwrap().as_deref(), Some(expected), "seed {seed}");
            assert_eq!(n.node.feed(&wells).unwrap().len(), 2, "seed {seed}");
            assert_eq!(n.node.members(&wells).unwrap().len(), 3, "seed {seed}");
        }
        for part in Part::BUILT_IN {
            let id = DocId::Community { id: wells, part };
            let ha = a.node.heads(id).unwrap();
            assert!(!ha.is_empty() || part == Part::FEED);
            assert_eq!(ha, b.node.heads(id).unwrap(), "seed {seed} part {part:?}");
            assert_eq!(ha, c.node.heads(id).unwrap(), "seed {seed} part {part:?}");
        }
    }
}

#[test]
fn everything_waiting_survives_a_restart() {
    let mut a = node("A");
    let mut b = node("B");
    b.node.add_contact(&a.node.card(), &[]).unwrap();
    let wells = a.node.create_community("Wells", "").unwrap();
    a.node.invite(&wells, &b.node.card(), Role::Member).unwrap();
    a.node.put_wiki_page(&wells, PAGE, "v1\n").unwrap();
    let first = a.node.export(Target::Everyone).unwrap();
    a.node.put_wiki_page(&wells, PAGE, "v1\nv2\n").unwrap();
    let second: Vec<Vec<u8>> =
        a.node.export(Target::Everyone).unwrap().into_iter().filter(|b| !first.contains(b)).collect();
    assert!(!second.is_empty());

    // Changes before their dependencies, content before the invitation.
    let b_endpoint = b.node.node_id().endpoint();
    let (invitations, content): (Vec<_>, Vec<_>) = first.iter().partition(|bundle| {
        // What B opens as its own: the invitation (a cloak for B alone).
        b.node
            .open_cloak(bundle)
            .unwrap()
            .is_some_and(|o| caravan::bundle::parse(&o.inner, common::now_ms()).unwrap().destination == b_endpoint)
    });
    for bundle in &second {
        b.node.import(bundle).unwrap();
    }
    for bundle in &content {
        b.node.import(bundle).unwrap();
    }
    assert_eq!(b.node.wiki_page(&wells, PAGE).unwrap(), None);

    // Restart: everything that waited is still there, and the key opens it all.
    let home = b.home;
    drop(b.node);
    let mut reopened = caravan::Node::open(home.path(), "B").unwrap();
    for bundle in &invitations {
        let report = reopened.import(bundle).unwrap();
        assert!(report.unlocked > 0, "{report:?}");
    }
    assert_eq!(reopened.wiki_page(&wells, PAGE).unwrap().as_deref(), Some("v1\nv2\n"));

    // And after another restart, the merged state is durable.
    drop(reopened);
    let mut again = caravan::Node::open(home.path(), "B").unwrap();
    assert_eq!(again.wiki_page(&wells, PAGE).unwrap().as_deref(), Some("v1\nv2\n"));
    let id = DocId::Community { id: wells, part: Part::WIKI };
    assert_eq!(again.heads(id).unwrap(), a.node.heads(id).unwrap());
}

#[test]
fn one_way_export_sends_only_what_the_peer_lacks() {
    let mut a = node("A");
    let mut b = node("B");
    b.node.add_contact(&a.node.card(), &[]).unwrap();
    let wells = a.node.create_community("Wells", "").unwrap();
    a.node.invite(&wells, &b.node.card(), Role::Editor).unwrap();
    a.node.put_wiki_page(&wells, PAGE, BASE).unwrap();
    for bundle in a.node.export(Target::Peer(b.node.node_id())).unwrap() {
        b.node.import(&bundle).unwrap();
    }
    // B tells A what it has (its export carries its heads); A learns it one-way.
    for bundle in b.node.export(Target::Peer(a.node.node_id())).unwrap() {
        a.node.import(&bundle).unwrap();
    }
    a.node.put_wiki_page(&wells, PAGE, &format!("{BASE}West well: new.\n")).unwrap();
    let next = a.node.export(Target::Peer(b.node.node_id())).unwrap();
    let report = b.node.import_many(next.iter().map(Vec::as_slice)).unwrap();
    assert_eq!(report.duplicates(), 0, "A resent what B already had: {report:?}");
    assert_eq!(report.new_changes(), 1, "{report:?}");
    assert!(b.node.wiki_page(&wells, PAGE).unwrap().unwrap().ends_with("West well: new.\n"));
}

#[test]
fn profile_audiences_reach_only_their_audience() {
    let mut a = node("A");
    let mut friend = node("Friend");
    let mut stranger = node("Stranger");
    // Reading each other takes mutual agreement: both add the other.
    a.node.add_contact(&friend.node.card(), &[Audience::Friends]).unwrap();
    friend.node.add_contact(&a.node.card(), &[]).unwrap();
    a.node.set_profile_field("name", "Amina", Audience::Public).unwrap();
    a.node.set_profile_field("phone", "+254 700 000 000", Audience::Friends).unwrap();
    a.node.add_profile_post("Back from the market.", Audience::Friends).unwrap();
    let all = a.node.export(Target::Everyone).unwrap();
    for n in [&mut friend, &mut stranger] {
        n.node.import_many(all.iter().map(Vec::as_slice)).unwrap();
    }
    let a_id = a.node.node_id();
    let seen = |fields: Vec<caravan::ProfileField>| -> Vec<(String, String)> {
        let mut v: Vec<_> = fields.into_iter().map(|f| (f.name, f.value)).collect();
        v.sort();
        v
    };
    assert_eq!(
        seen(friend.node.profile(&a_id).unwrap()),
        vec![("name".into(), "Amina".into()), ("phone".into(), "+254 700 000 000".into())]
    );
    assert_eq!(friend.node.profile_posts(&a_id, Audience::Friends).unwrap().len(), 1);
    assert_eq!(seen(stranger.node.profile(&a_id).unwrap()), vec![("name".into(), "Amina".into())]);
    assert!(stranger.node.profile_posts(&a_id, Audience::Friends).unwrap().is_empty());
    // The phone number appears in no bundle in the clear.
    assert!(all.iter().all(|b| !b.windows(7).any(|w| w == b"254 700")));
}

#[test]
fn events_tell_the_app_what_changed_after_it_is_stored() {
    let mut a = node("A");
    let mut b = node("B");
    let events = b.node.subscribe();
    let wells = a.node.create_community("Wells", "").unwrap();
    a.node.invite(&wells, &b.node.card(), Role::Member).unwrap();
    a.node.put_wiki_page(&wells, PAGE, BASE).unwrap();
    let all = a.node.export(Target::Everyone).unwrap();
    b.node.import_many(all.iter().map(Vec::as_slice)).unwrap();
    let got: Vec<caravan::Event> = events.try_iter().collect();
    let invite = got.iter().find_map(|e| match e {
        caravan::Event::Invitation { id, community, .. } if *community == wells => Some(id.clone()),
        _ => None,
    });
    let invite = invite.unwrap_or_else(|| panic!("no invitation event in {got:?}"));
    // Before consent nothing of the community is kept as B's own (it is carried, within
    // the relay quota), though its public name can be read from what B carries.
    assert!(!got.iter().any(|e| matches!(e, caravan::Event::DocChanged { doc: DocId::Community { .. }, .. })));
    assert_eq!(b.node.community_about(&wells).unwrap().0.as_deref(), Some("Wells"));
    b.node.accept_invite(&invite).unwrap();
    let got: Vec<caravan::Event> = events.try_iter().collect();
    assert!(got.contains(&caravan::Event::Joined(wells)), "{got:?}");
    for part in [Part::PUBLIC, Part::WIKI] {
        assert!(
            got.iter().any(
                |e| matches!(e, caravan::Event::DocChanged { doc: DocId::Community { part: p, .. }, .. } if *p == part)
            ),
            "no change event for the {part:?} part after joining: {got:?}"
        );
    }
}

#[test]
fn custody_is_answered_for_what_was_stored_before_becoming_a_destination() {
    let mut a = node("Village A");
    let mut b = node("Village B");
    b.node.add_contact(&a.node.card(), &[]).unwrap();
    let wells = a.node.create_community("Wells", "Where the water is").unwrap();
    a.node.invite(&wells, &b.node.card(), Role::Editor).unwrap();
    a.node.set_profile_field("name", "Village A", Audience::Public).unwrap();
    let mut c = node("Village C");
    a.node.add_contact(&c.node.card(), &[]).unwrap(); // C is a destination of A's profile

    // The invitation comes last: the community's public part is stored before B joins.
    let mut bundles = a.node.export(Target::Everyone).unwrap();
    bundles.reverse();
    for bundle in &bundles {
        b.node.import(bundle).unwrap();
    }
    assert_eq!(b.node.communities().unwrap().len(), 1);
    // C stores A's public profile before it adds A as a contact.
    c.node.import_many(bundles.iter().map(Vec::as_slice)).unwrap();
    c.node.add_contact(&a.node.card(), &[]).unwrap();

    for answers in
        [b.node.export(Target::Peer(a.node.node_id())).unwrap(), c.node.export(Target::Peer(a.node.node_id())).unwrap()]
    {
        a.node.import_many(answers.iter().map(Vec::as_slice)).unwrap();
    }
    let custody = a.node.custody().unwrap();
    assert_eq!(custody.open, 0, "every destination stored every bundle and said so: {custody:?}");
}

/// A page bigger than one change may hold (others refuse a change of more than
/// `CHANGE_OPS_MAX` operations) is written as several changes in several bundles, each
/// within what a reader accepts, and arrives whole; so does replacing most of it.
#[test]
fn a_page_bigger_than_one_change_arrives_in_parts() {
    let mut a = node("A");
    let mut b = node("B");
    b.node.add_contact(&a.node.card(), &[]).unwrap();
    let wells = a.node.create_community("Wells", "").unwrap();
    a.node.invite(&wells, &b.node.card(), Role::Editor).unwrap();
    let cap = caravan::limits::CHANGE_OPS_MAX as usize;
    let big: String = (0..cap * 5 / 2).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    a.node.put_wiki_page(&wells, "Big", &big).unwrap();
    let sent = a.node.export(Target::Everyone).unwrap();
    let report = b.node.import_many(sent.iter().map(Vec::as_slice)).unwrap();
    assert!(report.rejected().is_empty(), "{:?}", report.rejected());
    assert_eq!(b.node.wiki_page(&wells, "Big").unwrap().as_deref(), Some(big.as_str()));
    // Keep the first and last thousand characters, replace the rest.
    let replaced = format!("{}{}{}", &big[..1000], "x".repeat(cap * 2), &big[big.len() - 1000..]);
    a.node.put_wiki_page(&wells, "Big", &replaced).unwrap();
    let sent = a.node.export(Target::Everyone).unwrap();
    let report = b.node.import_many(sent.iter().map(Vec::as_slice)).unwrap();
    assert!(report.rejected().is_empty(), "{:?}", report.rejected());
    assert_eq!(b.node.wiki_page(&wells, "Big").unwrap().as_deref(), Some(replaced.as_str()));
}
