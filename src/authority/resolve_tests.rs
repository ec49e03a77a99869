//! The resolution's rules, one worked example each (as in `spec/membership.md`), and
//! its properties over random concurrent logs in every delivery order.

use proptest::prelude::*;

use super::*;
use crate::doc::{CommunityId, Role};

const CID: CommunityId = CommunityId([3; 20]);

/// Named people and the log they write.
struct World {
    people: Vec<Identity>,
}

impl World {
    fn new(n: usize) -> Self {
        World { people: (0..n).map(|i| Identity::from_secret_bytes(&[i as u8 + 1; 64])).collect() }
    }
    fn pk(&self, i: usize) -> [u8; 32] {
        self.people[i].signing_public()
    }
    fn op(&self, by: usize, follows: &[&Signed], action: Action) -> Signed {
        let op = Op {
            community: CID,
            author: self.pk(by),
            follows: follows.iter().map(|s| s.id).collect(),
            action,
            rekey: None,
        };
        Signed::sign(&self.people[by], op)
    }
    fn add(&self, by: usize, follows: &[&Signed], who: usize, role: Role) -> Signed {
        let p = &self.people[who];
        self.op(by, follows, Action::Add { member: p.signing_public(), agreement: p.agreement_public(), role })
    }
    fn remove(&self, by: usize, follows: &[&Signed], who: usize) -> Signed {
        self.op(by, follows, Action::Remove { member: self.pk(who) })
    }
    fn role(&self, by: usize, follows: &[&Signed], who: usize, role: Role) -> Signed {
        self.op(by, follows, Action::SetRole { member: self.pk(who), role })
    }
    /// Resolves `ops` in every order of a few shuffles, checks they agree, returns one.
    fn resolve(&self, ops: &[Signed]) -> State {
        let first = resolve(self.pk(0), ops);
        let mut rev: Vec<Signed> = ops.to_vec();
        rev.reverse();
        assert_eq!(resolve(self.pk(0), &rev), first, "order of arrival changed the result");
        first
    }
    fn outcome(&self, s: &State, op: &Signed) -> Outcome {
        s.log.iter().find(|e| e.id == op.id).expect("logged").outcome.clone()
    }
}

const F: usize = 0; // the founder
const A: usize = 1;
const B: usize = 2;
const M: usize = 3;
const N: usize = 4;

#[test]
fn the_founder_alone_is_owner_and_invitations_add_members() {
    let w = World::new(5);
    let s = w.resolve(&[]);
    assert_eq!(s.role(&w.pk(F)), Some(Role::Owner));
    let a = w.add(F, &[], A, Role::Owner);
    let m = w.add(A, &[&a], M, Role::Member);
    let s = w.resolve(&[a.clone(), m.clone()]);
    assert_eq!(s.role(&w.pk(A)), Some(Role::Owner));
    assert_eq!(s.role(&w.pk(M)), Some(Role::Member));
    assert_eq!(s.heads, vec![m.id]);
    // A member cannot invite: void, logged, and the log goes on.
    let bad = w.add(M, &[&m], N, Role::Owner);
    let after = w.role(A, &[&bad], M, Role::Editor);
    let s = w.resolve(&[a, m, bad.clone(), after]);
    assert_eq!(w.outcome(&s, &bad), Outcome::Void("only an owner may do this"));
    assert_eq!(s.role(&w.pk(N)), None);
    assert_eq!(s.role(&w.pk(M)), Some(Role::Editor));
}

#[test]
fn owners_name_certifiers_and_the_threshold_the_senior_owner_decides_concurrently() {
    let w = World::new(6);
    let a = w.add(F, &[], A, Role::Owner);
    let m = w.add(F, &[&a], M, Role::Member);
    let n = w.add(F, &[&m], N, Role::Member);
    let cert_m = w.op(F, &[&n], Action::Certifier { member: w.pk(M), on: true });
    let cert_n = w.op(A, &[&n], Action::Certifier { member: w.pk(N), on: true });
    // A member names no certifier and sets no threshold.
    let by_member = w.op(M, &[&cert_m], Action::Certifier { member: w.pk(M), on: true });
    let k_member = w.op(M, &[&cert_m], Action::Threshold { k: 1 });
    // Two owners set the threshold concurrently: the founder's stands.
    let k_f = w.op(F, &[&cert_m, &cert_n], Action::Threshold { k: 2 });
    let k_a = w.op(A, &[&cert_m, &cert_n], Action::Threshold { k: 3 });
    let ops = vec![a, m, n.clone(), cert_m, cert_n, by_member.clone(), k_member.clone(), k_f, k_a.clone()];
    let s = w.resolve(&ops);
    assert_eq!(s.certifiers, [w.pk(M), w.pk(N)].into_iter().collect());
    assert_eq!(s.threshold, 2);
    assert!(matches!(w.outcome(&s, &by_member), Outcome::Void(_)));
    assert!(matches!(w.outcome(&s, &k_member), Outcome::Void(_)));
    assert!(matches!(w.outcome(&s, &k_a), Outcome::Void(_)));
    // A removed certifier certifies no more; one unmade neither.
    let gone = w.remove(F, &[&k_a], N);
    let unmade = w.op(F, &[&gone], Action::Certifier { member: w.pk(M), on: false });
    let mut more = ops.clone();
    more.extend([gone, unmade]);
    let s = w.resolve(&more);
    assert!(s.certifiers.is_empty());
    // No certifier of a non-member.
    let stranger = w.op(F, &[&n], Action::Certifier { member: w.pk(5), on: true });
    let s = w.resolve(&[ops[0].clone(), ops[1].clone(), n, stranger.clone()]);
    assert_eq!(w.outcome(&s, &stranger), Outcome::Void("not a member"));
}

#[test]
fn mutual_concurrent_removal_the_senior_owner_stays() {
    let w = World::new(5);
    let a = w.add(F, &[], A, Role::Owner);
    let b = w.add(F, &[&a], B, Role::Owner);
    // A became owner before B: A is senior.
    let a_removes_b = w.remove(A, &[&b], B);
    let b_removes_a = w.remove(B, &[&b], A);
    let s = w.resolve(&[a, b, a_removes_b.clone(), b_removes_a.clone()]);
    assert_eq!(s.role(&w.pk(A)), Some(Role::Owner));
    assert!(s.is_gone(&w.pk(B)));
    assert_eq!(w.outcome(&s, &a_removes_b), Outcome::Applied);
    assert!(matches!(w.outcome(&s, &b_removes_a), Outcome::Void(_)));
}

#[test]
fn the_junior_wins_nothing_even_when_its_removal_is_ready_first() {
    // B's removal of A follows less than A's removal of B does: in a plain causal
    // replay B's would apply first and A's would find A gone.
    let w = World::new(6);
    let a = w.add(F, &[], A, Role::Owner);
    let b = w.add(F, &[&a], B, Role::Owner);
    let b_removes_a = w.remove(B, &[&b], A);
    let m = w.add(A, &[&b], M, Role::Member);
    let n = w.add(A, &[&m], N, Role::Member);
    let a_removes_b = w.remove(A, &[&n], B);
    let s = w.resolve(&[a, b, b_removes_a.clone(), m, n, a_removes_b]);
    assert_eq!(s.role(&w.pk(A)), Some(Role::Owner), "{:#?}", s.log);
    assert!(s.is_gone(&w.pk(B)));
    assert_eq!(s.role(&w.pk(M)), Some(Role::Member));
    assert!(matches!(w.outcome(&s, &b_removes_a), Outcome::Void(_)));
}

#[test]
fn strong_removal_voids_what_the_removed_did_unseen_and_keeps_what_came_before() {
    let w = World::new(6);
    let a = w.add(F, &[], A, Role::Owner);
    let before = w.add(A, &[&a], M, Role::Member); // seen by the removal
    let removal = w.remove(F, &[&before], A);
    let concurrent = w.add(A, &[&before], N, Role::Editor); // not seen by it
    let after = w.role(A, &[&removal, &concurrent], M, Role::Owner); // after it
    let s = w.resolve(&[a, before.clone(), removal, concurrent.clone(), after.clone()]);
    assert!(s.is_gone(&w.pk(A)));
    assert_eq!(s.role(&w.pk(M)), Some(Role::Member), "what came before stands");
    assert_eq!(s.role(&w.pk(N)), None, "what was unseen is void");
    assert!(matches!(w.outcome(&s, &concurrent), Outcome::Void(_)));
    assert!(matches!(w.outcome(&s, &after), Outcome::Void(_)));
}

#[test]
fn a_concurrent_re_add_of_a_removed_member_is_void_a_later_one_stands() {
    let w = World::new(6);
    let a = w.add(F, &[], A, Role::Owner);
    let m = w.add(F, &[&a], M, Role::Member);
    let removal = w.remove(F, &[&m], M);
    let re_add = w.add(A, &[&m], M, Role::Member); // A colludes, not having seen it
    let s = w.resolve(&[a.clone(), m.clone(), removal.clone(), re_add.clone()]);
    assert!(s.is_gone(&w.pk(M)));
    assert!(matches!(w.outcome(&s, &re_add), Outcome::Void(_)));
    // Having seen the removal, an owner may invite again.
    let later = w.add(A, &[&removal, &re_add], M, Role::Member);
    let s = w.resolve(&[a, m, removal, re_add, later]);
    assert_eq!(s.role(&w.pk(M)), Some(Role::Member));
}

#[test]
fn two_concurrent_removals_of_one_member_do_not_wedge_the_log() {
    let w = World::new(6);
    let a = w.add(F, &[], A, Role::Owner);
    let m = w.add(F, &[&a], M, Role::Member);
    let r1 = w.remove(F, &[&m], M);
    let r2 = w.remove(A, &[&m], M);
    let next = w.add(A, &[&r1, &r2], N, Role::Member);
    let s = w.resolve(&[a, m, r1.clone(), r2.clone(), next]);
    assert!(s.is_gone(&w.pk(M)));
    assert_eq!(s.role(&w.pk(N)), Some(Role::Member), "the log goes on");
    assert_eq!(w.outcome(&s, &r1), Outcome::Applied);
}

#[test]
fn the_last_owner_cannot_be_removed_demoted_or_leave() {
    let w = World::new(6);
    let leave = w.op(F, &[], Action::Leave);
    let s = w.resolve(std::slice::from_ref(&leave));
    assert_eq!(s.owners(), 1);
    assert!(matches!(w.outcome(&s, &leave), Outcome::Void(_)));
    // Two owners leave at once: one stays.
    let a = w.add(F, &[], A, Role::Owner);
    let f_leaves = w.op(F, &[&a], Action::Leave);
    let a_leaves = w.op(A, &[&a], Action::Leave);
    let s = w.resolve(&[a.clone(), f_leaves, a_leaves]);
    assert_eq!(s.owners(), 1);
    // Demoting each other at once: the senior stays owner.
    let f_demotes = w.role(F, &[&a], A, Role::Member);
    let a_demotes = w.role(A, &[&a], F, Role::Member);
    let s = w.resolve(&[a, f_demotes, a_demotes.clone()]);
    assert_eq!(s.role(&w.pk(F)), Some(Role::Owner));
    assert_eq!(s.role(&w.pk(A)), Some(Role::Member));
    assert!(matches!(w.outcome(&s, &a_demotes), Outcome::Void(_)));
}

#[test]
fn concurrent_role_changes_the_senior_owner_decides() {
    let w = World::new(6);
    let a = w.add(F, &[], A, Role::Owner);
    let m = w.add(A, &[&a], M, Role::Member);
    let by_founder = w.role(F, &[&m], M, Role::Editor);
    let by_a = w.role(A, &[&m], M, Role::Member);
    let s = w.resolve(&[a, m, by_founder, by_a.clone()]);
    assert_eq!(s.role(&w.pk(M)), Some(Role::Editor));
    assert!(matches!(w.outcome(&s, &by_a), Outcome::Void(_)));
}

#[test]
fn a_demoted_owner_cannot_act_concurrently_with_its_demotion() {
    let w = World::new(6);
    let a = w.add(F, &[], A, Role::Owner);
    let demote = w.role(F, &[&a], A, Role::Editor);
    let sneaky = w.add(A, &[&a], N, Role::Owner);
    let s = w.resolve(&[a, demote, sneaky.clone()]);
    assert_eq!(s.role(&w.pk(A)), Some(Role::Editor));
    assert_eq!(s.role(&w.pk(N)), None);
    assert!(matches!(w.outcome(&s, &sneaky), Outcome::Void(_)));
}

#[test]
fn operations_whose_past_is_missing_wait() {
    let w = World::new(6);
    let a = w.add(F, &[], A, Role::Owner);
    let m = w.add(A, &[&a], M, Role::Member);
    let s = w.resolve(std::slice::from_ref(&m));
    assert_eq!(w.outcome(&s, &m), Outcome::Waiting);
    assert_eq!(s.role(&w.pk(M)), None);
}

#[test]
fn removals_start_epochs_and_say_when_a_rekey_is_due() {
    let w = World::new(6);
    let a = w.add(F, &[], A, Role::Owner);
    let m = w.add(A, &[&a], M, Role::Member);
    let s = w.resolve(&[a.clone(), m.clone()]);
    assert!(!s.needs_rekey());
    assert_eq!(s.current_epoch().holders.len(), 3);
    let bare = w.remove(F, &[&m], M);
    let s = w.resolve(&[a.clone(), m.clone(), bare]);
    assert!(s.needs_rekey(), "M still holds the current key");
    let members = [w.people[F].agreement_public(), w.people[A].agreement_public()];
    let key = [9; 32];
    let op = Op {
        community: CID,
        author: w.pk(F),
        follows: vec![m.id],
        action: Action::Remove { member: w.pk(M) },
        rekey: Some(rekey(&CID, 1, &key, &members)),
    };
    let with_key = Signed::sign(&w.people[F], op);
    let s = w.resolve(&[a, m, with_key.clone()]);
    assert!(!s.needs_rekey());
    assert_eq!(s.current_epoch().tag, epoch_tag(&with_key.id));
    assert!(!s.current_epoch().holders.contains(&w.pk(M)));
    let Some(k) = &with_key.op.rekey else { unreachable!() };
    assert_eq!(open_slot(&CID, k, &w.people[A]), Some(key));
    assert_eq!(open_slot(&CID, k, &w.people[M]), None);
}

#[test]
fn a_bare_rekey_is_void_unless_someone_holding_the_key_is_gone() {
    let w = World::new(6);
    let m = w.add(F, &[], M, Role::Member);
    let needless = w.op(M, &[&m], Action::Rekey);
    let s = w.resolve(&[m.clone(), needless.clone()]);
    assert_eq!(w.outcome(&s, &needless), Outcome::Void("nobody to rekey out"));
    // After a leave, the first rekey applies and the next is needless again.
    let leave = w.add(F, &[&m], N, Role::Member);
    let n_leaves = w.op(N, &[&leave], Action::Leave);
    let rekey = |by: usize, follows: &[&Signed]| {
        let op = Op {
            community: CID,
            author: w.pk(by),
            follows: follows.iter().map(|s| s.id).collect(),
            action: Action::Rekey,
            rekey: Some(rekey(&CID, 1, &[5; 32], &[])),
        };
        Signed::sign(&w.people[by], op)
    };
    let first = rekey(M, &[&n_leaves]);
    let second = rekey(F, &[&first]);
    let s = w.resolve(&[m, leave, n_leaves, first.clone(), second.clone()]);
    assert_eq!(w.outcome(&s, &first), Outcome::Applied);
    assert_eq!(w.outcome(&s, &second), Outcome::Void("nobody to rekey out"));
    assert!(!s.needs_rekey());
}

// --- Properties over random concurrent logs ---

/// A step of a random history: someone writes an operation on what they have seen, or
/// two people exchange what they have.
#[derive(Debug, Clone)]
enum Step {
    Write { by: usize, action: u8, subject: usize, role: u8 },
    Sync { from: usize, to: usize },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..5usize, 0..6u8, 0..5usize, 0..3u8).prop_map(|(by, action, subject, role)| Step::Write { by, action, subject, role }),
        2 => (0..5usize, 0..5usize).prop_map(|(from, to)| Step::Sync { from, to }),
    ]
}

/// Plays a history: every person keeps the operations it has seen and writes on their
/// heads. Returns all operations written.
fn play(w: &World, steps: &[Step]) -> Vec<Signed> {
    let mut seen: Vec<Vec<Signed>> = vec![Vec::new(); w.people.len()];
    let mut all = Vec::new();
    for s in steps {
        match s {
            Step::Write { by, action, subject, role } => {
                let heads = resolve(w.pk(0), &seen[*by]).heads;
                let role = Role::from_code(*role).unwrap();
                let p = &w.people[*subject];
                let action = match action {
                    0 | 1 => Action::Add { member: p.signing_public(), agreement: p.agreement_public(), role },
                    2 => Action::SetRole { member: p.signing_public(), role },
                    3 => Action::Remove { member: p.signing_public() },
                    4 => Action::Leave,
                    _ => Action::Quarantine { member: p.signing_public() },
                };
                let op = Op { community: CID, author: w.pk(*by), follows: heads, action, rekey: None };
                let signed = Signed::sign(&w.people[*by], op);
                seen[*by].push(signed.clone());
                all.push(signed);
            }
            Step::Sync { from, to } => {
                let theirs = seen[*from].clone();
                for o in theirs {
                    if !seen[*to].iter().any(|x| x.id == o.id) {
                        seen[*to].push(o);
                    }
                }
            }
        }
    }
    all
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    /// Every delivery order gives every node the same state; there is always an owner;
    /// nothing a removed member did unseen by its removal stands.
    #[test]
    fn every_delivery_order_resolves_alike(steps in prop::collection::vec(step(), 1..40), seed in any::<u64>()) {
        let w = World::new(5);
        let ops = play(&w, &steps);
        let base = resolve(w.pk(0), &ops);
        // Deliveries in shuffled orders, with duplicates, and causal prefixes grown one
        // operation at a time (what a node resolves as bundles arrive).
        let mut rng = seed;
        let mut shuffled = ops.clone();
        for i in (1..shuffled.len()).rev() {
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (rng >> 33) as usize % (i + 1));
        }
        let mut arrived: Vec<Signed> = Vec::new();
        for o in &shuffled {
            arrived.push(o.clone());
            let partial = resolve(w.pk(0), &arrived);
            prop_assert!(partial.owners() >= 1, "no owner left: {:#?}", partial.log);
        }
        arrived.extend(shuffled.iter().take(3).cloned());
        prop_assert_eq!(&resolve(w.pk(0), &arrived), &base);
        prop_assert!(base.owners() >= 1);
        // Strong removal: for every applied removal, none of the removed member's
        // operations that it had not seen applied.
        let applied: Vec<&Entry> = base.log.iter().filter(|e| e.outcome == Outcome::Applied).collect();
        let past = |id: &OpId| -> std::collections::BTreeSet<OpId> {
            let mut out = std::collections::BTreeSet::new();
            let mut todo = vec![*id];
            while let Some(x) = todo.pop() {
                if let Some(o) = ops.iter().find(|o| o.id == x) {
                    for f in &o.op.follows {
                        if out.insert(*f) { todo.push(*f); }
                    }
                }
            }
            out
        };
        for r in &applied {
            let gone = match &r.action {
                Action::Remove { member } => *member,
                Action::Leave => r.author,
                _ => continue,
            };
            let seen = past(&r.id);
            for e in &applied {
                if e.author == gone && e.id != r.id && !seen.contains(&e.id) {
                    prop_assert!(false, "{:?} by a removed member stands: {:#?}", e.action, base.log);
                }
            }
        }
    }
}
