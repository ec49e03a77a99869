//! Removal, rekey, demotion, leaving and concurrent owners, between real nodes.

use super::testkit::{Kit, carry, community, import, new_since};
use super::*;

fn join(owner: &mut Node, member: &mut Node, cid: &CommunityId, role: Role) {
    owner.add_contact(&member.card(), &[]).unwrap();
    member.add_contact(&owner.card(), &[]).unwrap();
    owner.invite(cid, &member.card(), role).unwrap();
    carry(owner, member);
    carry(member, owner);
}

fn import_all(to: &mut Node, bundles: &[Vec<u8>]) -> ImportReport {
    to.import_many(bundles.iter().map(Vec::as_slice)).unwrap()
}

fn posts(n: &mut Node, cid: &CommunityId) -> Vec<String> {
    n.feed(cid).unwrap().into_iter().map(|p| p.text).collect()
}

#[test]
fn a_removed_member_reads_nothing_sealed_after_the_removal_and_keeps_what_came_before() {
    let kit = Kit::new();
    let (mut a, mut b, mut c) = (kit.node("A"), kit.node("B"), kit.node("C"));
    let cid = community(&mut a, &mut b, Role::Member);
    join(&mut a, &mut c, &cid, Role::Editor);
    carry(&mut a, &mut b);
    a.post(&cid, "before").unwrap();
    carry(&mut a, &mut b);
    carry(&mut a, &mut c);
    assert_eq!(posts(&mut b, &cid), ["before"]);

    let removal = a.remove_member(&cid, &b.node_id()).unwrap();
    assert_eq!(removal.epoch, 1);
    assert_eq!(removal.rekeyed, 2, "A and C get the new key");
    a.post(&cid, "after").unwrap();
    a.put_wiki_page(&cid, "Plan", "secret plan\n").unwrap();
    let bundles = a.export(Target::Everyone).unwrap();
    import(&mut b, &bundles);
    import(&mut c, &bundles);
    assert_eq!(posts(&mut c, &cid), ["before", "after"]);
    assert_eq!(c.wiki_page(&cid, "Plan").unwrap().as_deref(), Some("secret plan\n"));
    // B learns it was removed; what it had stays; nothing new opens.
    assert_eq!(posts(&mut b, &cid), ["before"]);
    assert_eq!(b.wiki_page(&cid, "Plan").unwrap(), None);
    assert!(matches!(b.role(&cid), Err(Error::Removed(_))));
    assert!(b.communities().unwrap().iter().any(|c| c.id == cid && c.removed));
    assert!(matches!(b.post(&cid, "still here?"), Err(Error::Removed(_))));

    // C, having seen the removal, seals under the new key too.
    c.post(&cid, "from C").unwrap();
    let from_c = c.export(Target::Everyone).unwrap();
    import(&mut b, &from_c);
    import(&mut a, &from_c);
    assert!(!posts(&mut b, &cid).contains(&"from C".to_string()));
    assert!(posts(&mut a, &cid).contains(&"from C".to_string()));
}

#[test]
fn what_a_removed_member_wrote_unaware_of_its_removal_is_set_aside_not_merged_not_lost() {
    let kit = Kit::new();
    let (mut a, mut b, mut c) = (kit.node("A"), kit.node("B"), kit.node("C"));
    let cid = community(&mut a, &mut b, Role::Member);
    join(&mut a, &mut c, &cid, Role::Member);
    carry(&mut a, &mut b);
    a.remove_member(&cid, &b.node_id()).unwrap();
    let log = a.export(Target::Everyone).unwrap();
    import(&mut c, &log);
    // B has not heard yet, and posts: concurrent with its removal.
    b.post(&cid, "unseen").unwrap();
    let from_b = b.export(Target::Everyone).unwrap();
    for n in [&mut a, &mut c] {
        let r = import_all(n, &from_b);
        assert!(r.outcomes.iter().any(|o| matches!(o, Outcome::Waiting(WaitReason::SetAside { .. }))), "{r:?}");
        assert!(posts(n, &cid).is_empty(), "void: not merged");
        assert_eq!(n.set_aside(&cid).unwrap(), vec![(b.node_id(), 1)], "kept for audit");
    }
    // Once B has heard, its own node writes nothing more there.
    import(&mut b, &log);
    assert!(matches!(b.post(&cid, "and now?"), Err(Error::Removed(_))));
}

#[test]
fn a_demoted_editor_s_wiki_edits_are_refused_locally_and_at_every_node() {
    let kit = Kit::new();
    let (mut a, mut b, mut c) = (kit.node("A"), kit.node("B"), kit.node("C"));
    let cid = community(&mut a, &mut b, Role::Editor);
    join(&mut a, &mut c, &cid, Role::Member);
    carry(&mut a, &mut b);
    b.put_wiki_page(&cid, "Wells", "north\n").unwrap();
    carry(&mut b, &mut a);
    a.set_member_role(&cid, &b.node_id(), Role::Member).unwrap();
    let log = a.export(Target::Everyone).unwrap();
    import(&mut c, &log);
    // An edit B makes before it hears of the demotion: void at everyone who has heard
    // (set aside, kept for audit), never merged.
    b.put_wiki_page(&cid, "Wells", "north\nsouth\n").unwrap();
    let late = b.export(Target::Everyone).unwrap();
    for n in [&mut a, &mut c] {
        let r = import_all(n, &late);
        assert!(r.outcomes.iter().any(|o| matches!(o, Outcome::Waiting(WaitReason::SetAside { .. }))), "{r:?}");
        assert_eq!(n.wiki_page(&cid, "Wells").unwrap().as_deref(), Some("north\n"));
    }
    // Once B has heard, its own node refuses the edit.
    import(&mut b, &log);
    assert_eq!(b.role(&cid).unwrap(), Role::Member);
    assert!(matches!(b.put_wiki_page(&cid, "Wells", "x\n"), Err(Error::NotPermitted { .. })));
    assert!(b.post(&cid, "members still post").is_ok());
}

#[test]
fn a_member_who_leaves_is_rekeyed_out_by_the_next_one_to_seal() {
    let kit = Kit::new();
    let (mut a, mut b, mut c) = (kit.node("A"), kit.node("B"), kit.node("C"));
    let cid = community(&mut a, &mut b, Role::Member);
    join(&mut a, &mut c, &cid, Role::Member);
    carry(&mut a, &mut b);
    b.leave_community(&cid).unwrap();
    carry(&mut b, &mut a);
    carry(&mut b, &mut c);
    assert!(a.authority(&cid).unwrap().needs_rekey());
    // C seals first: it rekeys for A and itself.
    c.post(&cid, "after B left").unwrap();
    let from_c = c.export(Target::Everyone).unwrap();
    import(&mut a, &from_c);
    import(&mut b, &from_c);
    assert!(!a.authority(&cid).unwrap().needs_rekey());
    assert_eq!(posts(&mut a, &cid), ["after B left"]);
    assert!(posts(&mut b, &cid).is_empty());
    // The last owner cannot leave.
    assert!(a.leave_community(&cid).is_err());
}

#[test]
fn concurrent_owners_removing_each_other_resolve_alike_in_every_delivery_order() {
    let kit = Kit::new();
    let (mut f, mut o1, mut o2, mut m) = (kit.node("F"), kit.node("O1"), kit.node("O2"), kit.node("M"));
    let cid = community(&mut f, &mut o1, Role::Owner);
    join(&mut f, &mut o2, &cid, Role::Owner);
    join(&mut f, &mut m, &cid, Role::Member);
    for n in [&mut o1, &mut o2, &mut m] {
        carry(&mut f, n);
    }
    // O1 (owner first) and O2 remove each other without having heard of the other.
    o1.remove_member(&cid, &o2.node_id()).unwrap();
    o2.remove_member(&cid, &o1.node_id()).unwrap();
    let x = o1.export(Target::Everyone).unwrap();
    let y = o2.export(Target::Everyone).unwrap();
    let mut states = Vec::new();
    for (first, second) in [(&x, &y), (&y, &x)] {
        let n = &mut kit.node("late");
        // A fresh member who receives everything in this order.
        join(&mut f, n, &cid, Role::Member);
        carry(&mut f, n);
        import(n, first);
        import(n, second);
        states.push(n.authority(&cid).unwrap());
    }
    import(&mut m, &y);
    import(&mut m, &x);
    import(&mut f, &x);
    import(&mut f, &y);
    let (sm, sf) = (m.authority(&cid).unwrap(), f.authority(&cid).unwrap());
    let o1_pk = o1.identity.signing_public();
    let o2_pk = o2.identity.signing_public();
    let m_pk = m.identity.signing_public();
    for s in states.iter().chain([&sm, &sf]) {
        assert_eq!(s.role(&o1_pk), Some(Role::Owner));
        assert!(s.is_gone(&o2_pk));
        assert_eq!(s.role(&m_pk), Some(Role::Member));
        assert_eq!(s.current_epoch().tag, sf.current_epoch().tag);
    }
}

#[test]
fn a_quarantined_member_s_content_is_hidden_for_everyone_kept_and_back_when_released() {
    let kit = Kit::new();
    let (mut a, mut b, mut c) = (kit.node("A"), kit.node("B"), kit.node("C"));
    let cid = community(&mut a, &mut b, Role::Member);
    join(&mut a, &mut c, &cid, Role::Member);
    carry(&mut a, &mut b);
    b.post(&cid, "spam 1").unwrap();
    let first = b.export(Target::Everyone).unwrap();
    import(&mut a, &first);
    import(&mut c, &first);
    assert_eq!(posts(&mut c, &cid), ["spam 1"]);
    // Only owners quarantine.
    assert!(matches!(c.quarantine(&cid, &b.node_id()), Err(Error::NotPermitted { .. })));
    a.quarantine(&cid, &b.node_id()).unwrap();
    assert!(posts(&mut a, &cid).is_empty());
    carry(&mut a, &mut c);
    assert!(posts(&mut c, &cid).is_empty(), "hidden for everyone");
    // What it sends now is kept for audit, not merged.
    b.post(&cid, "spam 2").unwrap();
    let second: Vec<Vec<u8>> = b.export(Target::Everyone).unwrap().into_iter().filter(|x| !first.contains(x)).collect();
    let r = import_all(&mut c, &second);
    assert!(r.outcomes.iter().any(|o| matches!(o, Outcome::Waiting(WaitReason::Quarantined { .. }))), "{r:?}");
    assert!(posts(&mut c, &cid).is_empty());
    // Lifted: everything shows, what was kept is read.
    a.release(&cid, &b.node_id()).unwrap();
    carry(&mut a, &mut c);
    assert_eq!(posts(&mut c, &cid), ["spam 1", "spam 2"]);
    let log = c.authority(&cid).unwrap();
    assert!(log.quarantined.is_empty());
}

/// A removed member whose own node has seen its removal, writing anyway (a modified
/// client, signing with the removal among its authority heads): refused everywhere.
#[test]
fn what_a_removed_member_writes_after_seeing_its_removal_is_refused() {
    use automerge::transaction::Transactable;
    let kit = Kit::new();
    let (mut a, mut b) = (kit.node("A"), kit.node("B"));
    let cid = community(&mut a, &mut b, Role::Member);
    a.remove_member(&cid, &b.node_id()).unwrap();
    carry(&mut a, &mut b);
    let heads = b.authority(&cid).unwrap().heads.clone();
    assert!(b.authority(&cid).unwrap().is_gone(&b.identity.signing_public()));
    // B forges a post by hand, under the key it still holds.
    let view = b.store.read().unwrap();
    let (_, inv) = b.joined(&view, &cid).unwrap();
    let old = b.epoch_grant(&view, &cid, 0).unwrap().unwrap();
    drop(view);
    let feed = DocId::Community { id: cid, part: Part::FEED };
    let mut doc = AutoCommit::new().with_actor(ActorId::from(b.identity.signing_public().to_vec()));
    doc.put(automerge::ROOT, format!("post/0000000000001/{}", b.node_id()), "after I saw it").unwrap();
    doc.commit();
    let change = doc.get_last_local_change().unwrap().clone();
    let batch = Batch {
        author: b.identity.signing_public(),
        genesis: Some(inv.genesis),
        chain: inv.chain.clone(),
        encoding: envelope::ChangeEncoding::Raw,
        changes: envelope::encode_raw_changes(&[change.raw_bytes()]),
        authority: heads,
    };
    let header = Header {
        kind: Kind::Batch,
        author: b.node_id(),
        seq: 9_999,
        doc: feed.to_string(),
        epoch: 0,
        heads: vec![change.hash().0],
        encrypted: true,
    };
    let (h, body) = crate::batch::seal(&b.identity, &header, &batch, Some(&old.key));
    let now = b.now();
    let inner = bundle::build(
        &b.node_id().endpoint(),
        &feed.endpoint(),
        now,
        9_999,
        Duration::from_secs(86_400),
        &envelope::encode_envelope(&h, &body),
    )
    .unwrap();
    let route = crate::cloak::Route::of_key(&old.scope, old.epoch, &old.key);
    let bytes = crate::cloak::cloak(&inner, crate::cloak::To::Group(route), now, Duration::from_secs(86_400), &[1; 32])
        .unwrap()
        .bytes;
    let r = a.import(&bytes).unwrap();
    assert!(r.rejected().iter().any(|x| matches!(x, Rejection::Removed { .. })), "{r:?}");
    assert!(posts(&mut a, &cid).is_empty());
    assert!(a.set_aside(&cid).unwrap().is_empty());
}

/// Keys are opened when they serve: content sealed under an earlier epoch that arrives
/// after the log moved on is still read (its key opened then).
#[test]
fn content_of_an_earlier_epoch_arriving_late_is_read() {
    let kit = Kit::new();
    let (mut a, mut b, mut c, mut d) = (kit.node("A"), kit.node("B"), kit.node("C"), kit.node("D"));
    let cid = community(&mut a, &mut b, Role::Member);
    join(&mut a, &mut c, &cid, Role::Member);
    join(&mut a, &mut d, &cid, Role::Member);
    carry(&mut a, &mut b);
    a.remove_member(&cid, &c.node_id()).unwrap();
    a.post(&cid, "epoch one").unwrap();
    let first = a.export(Target::Everyone).unwrap();
    a.remove_member(&cid, &d.node_id()).unwrap();
    let second = a.export(Target::Everyone).unwrap();
    let feed = DocId::Community { id: cid, part: Part::FEED }.to_string();
    let is_feed = |x: &Vec<u8>| {
        // What A carries unopened for others is not its post.
        let Some(x) = a.inner(x) else { return false };
        let info = bundle::parse_untimed(&x).unwrap();
        envelope::decode_envelope(&x[info.payload.clone()]).is_ok_and(|e| e.header.doc == feed)
    };
    // B gets the whole log first, then the post.
    let (posts_first, log_first): (Vec<Vec<u8>>, Vec<Vec<u8>>) = first.into_iter().partition(is_feed);
    assert_eq!(posts_first.len(), 1);
    import(&mut b, &log_first);
    import(&mut b, &second);
    assert_eq!(b.authority(&cid).unwrap().current_epoch().number, 2);
    import_all(&mut b, &posts_first);
    assert_eq!(posts(&mut b, &cid), ["epoch one"]);
}

/// A member made editor edits the wiki; another member gets the edit before the
/// promotion (another stick), or in the same import: the edit waits for the log, is
/// never refused for good, and is read once the promotion arrives.
#[test]
fn an_edit_by_a_new_editor_arriving_before_its_promotion_is_read_once_the_promotion_comes() {
    for same_import in [false, true] {
        let kit = Kit::new();
        let (mut a, mut b, mut c) = (kit.node("A"), kit.node("B"), kit.node("C"));
        let cid = community(&mut a, &mut b, Role::Member);
        join(&mut a, &mut c, &cid, Role::Member);
        carry(&mut a, &mut b);
        carry(&mut a, &mut c);
        carry(&mut b, &mut c);
        a.set_member_role(&cid, &b.node_id(), Role::Editor).unwrap();
        let promotion = a.export(Target::Everyone).unwrap();
        import(&mut b, &promotion);
        assert_eq!(b.role(&cid).unwrap(), Role::Editor);
        b.put_wiki_page(&cid, "Wells", "north\n").unwrap();
        let mut seen: HashSet<[u8; 32]> = promotion.iter().map(|b| bundle_digest(b)).collect();
        let all = b.export(Target::Everyone).unwrap();
        let edit: Vec<Vec<u8>> = all.iter().filter(|x| seen.insert(bundle_digest(x))).cloned().collect();
        assert!(!edit.is_empty());
        if same_import {
            let r = import_all(&mut c, &all);
            assert!(!r.outcomes.iter().any(|o| matches!(o, Outcome::Rejected(_))), "{r:?}");
        } else {
            let r = import_all(&mut c, &edit);
            assert!(!r.outcomes.iter().any(|o| matches!(o, Outcome::Rejected(_))), "{r:?}");
            assert!(r.outcomes.iter().any(|o| matches!(o, Outcome::Waiting(WaitReason::Log { .. }))), "{r:?}");
            assert_eq!(c.wiki_page(&cid, "Wells").unwrap(), None);
            import_all(&mut c, &promotion);
        }
        assert_eq!(c.wiki_page(&cid, "Wells").unwrap().as_deref(), Some("north\n"), "same import: {same_import}");
    }
}

/// A member made owner invites a newcomer, whose first post reaches another member
/// with (or before) the operation that made its inviter an owner: read, not refused.
#[test]
fn a_post_by_someone_a_new_owner_invited_is_read_whatever_arrives_first() {
    for same_import in [false, true] {
        let kit = Kit::new();
        let (mut a, mut b, mut c, mut d) = (kit.node("A"), kit.node("B"), kit.node("C"), kit.node("D"));
        let cid = community(&mut a, &mut b, Role::Member);
        join(&mut a, &mut c, &cid, Role::Member);
        carry(&mut a, &mut b);
        carry(&mut a, &mut c);
        a.set_member_role(&cid, &b.node_id(), Role::Owner).unwrap();
        let promotion = a.export(Target::Everyone).unwrap();
        import(&mut b, &promotion);
        join(&mut b, &mut d, &cid, Role::Member);
        d.post(&cid, "hello from D").unwrap();
        let mut seen: HashSet<[u8; 32]> = promotion.iter().map(|x| bundle_digest(x)).collect();
        let all = d.export(Target::Everyone).unwrap();
        let rest: Vec<Vec<u8>> = all.iter().filter(|x| seen.insert(bundle_digest(x))).cloned().collect();
        let r = import_all(&mut c, if same_import { &all } else { &rest });
        assert!(!r.outcomes.iter().any(|o| matches!(o, Outcome::Rejected(_))), "{r:?}");
        if !same_import {
            import_all(&mut c, &promotion);
        }
        assert!(posts(&mut c, &cid).contains(&"hello from D".to_string()), "same import: {same_import}");
    }
}

/// Promotions and what they allow, met in every order: an owner makes one member an
/// editor and another an owner; the editor edits the wiki, the new owner invites a
/// newcomer, who posts. Observers that get the four nodes' packets in each of the 24
/// orders end up alike, with every edit read and nothing refused.
#[test]
fn promotions_and_what_they_allow_converge_in_every_delivery_order() {
    let kit = Kit::new();
    let (mut a, mut b, mut c, mut d) = (kit.node("A"), kit.node("B"), kit.node("C"), kit.node("D"));
    let cid = community(&mut a, &mut b, Role::Member);
    join(&mut a, &mut c, &cid, Role::Member);
    let mut observers: Vec<Node> = (0..24).map(|i| kit.node(&format!("E{i}"))).collect();
    for e in &mut observers {
        join(&mut a, e, &cid, Role::Member);
    }
    let mut seen: HashSet<[u8; 32]> = HashSet::new();
    for e in observers.iter_mut().chain([&mut b, &mut c]) {
        let all = a.export(Target::Everyone).unwrap();
        seen.extend(all.iter().map(|x| bundle_digest(x)));
        import_all(e, &all);
    }
    a.set_member_role(&cid, &b.node_id(), Role::Editor).unwrap();
    a.set_member_role(&cid, &c.node_id(), Role::Owner).unwrap();
    let pa = new_since(&mut a, &mut seen);
    import(&mut b, &pa);
    import(&mut c, &pa);
    b.put_wiki_page(&cid, "Wells", "north\n").unwrap();
    let pb = new_since(&mut b, &mut seen);
    join(&mut c, &mut d, &cid, Role::Member);
    let pc = new_since(&mut c, &mut seen);
    d.post(&cid, "hello from D").unwrap();
    let pd = new_since(&mut d, &mut seen);
    let packets = [pa, pb, pc, pd];
    let mut orders: Vec<Vec<usize>> = Vec::new();
    fn permute(prefix: Vec<usize>, rest: Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if rest.is_empty() {
            out.push(prefix);
            return;
        }
        for (i, x) in rest.iter().enumerate() {
            let mut p = prefix.clone();
            p.push(*x);
            let mut r = rest.clone();
            r.remove(i);
            permute(p, r, out);
        }
    }
    permute(vec![], vec![0, 1, 2, 3], &mut orders);
    let mut heads = None;
    for (e, order) in observers.iter_mut().zip(&orders) {
        for &i in order {
            let r = import_all(e, &packets[i]);
            assert!(!r.outcomes.iter().any(|o| matches!(o, Outcome::Rejected(_))), "order {order:?}: {r:?}");
        }
        assert_eq!(e.wiki_page(&cid, "Wells").unwrap().as_deref(), Some("north\n"), "order {order:?}");
        assert!(posts(e, &cid).contains(&"hello from D".to_string()), "order {order:?}");
        let h = e.heads_of(DocId::Community { id: cid, part: Part::FEED }).unwrap();
        assert_eq!(*heads.get_or_insert(h.clone()), h, "order {order:?}");
    }
}
