//! Helpers for the rooms' unit tests: in-memory nodes on one clock the test moves, and
//! bundles carried between them as a stick would.

use std::sync::atomic::{AtomicU64, Ordering};

use super::*;

/// A clock the test sets; every node made by [`Kit::node`] reads it.
pub(super) struct Kit {
    pub(super) now: Arc<AtomicU64>,
}

/// 2026-11-30, so bundles are neither expired nor from the future.
const START: u64 = 1_796_000_000_000;

impl Kit {
    pub(super) fn new() -> Self {
        Kit { now: Arc::new(AtomicU64::new(START)) }
    }

    pub(super) fn node(&self, name: &str) -> Node {
        let mut n = Node::in_memory(name).unwrap();
        let now = self.now.clone();
        n.set_clock(Arc::new(move || now.load(Ordering::Relaxed)));
        n
    }

    pub(super) fn advance(&self, ms: u64) {
        self.now.fetch_add(ms, Ordering::Relaxed);
    }
}

/// Everything `from` exports for everyone, imported by `to`; nothing may be rejected.
pub(super) fn carry(from: &mut Node, to: &mut Node) -> ImportReport {
    let bundles = from.export(Target::Everyone).unwrap();
    import(to, &bundles)
}

pub(super) fn import(to: &mut Node, bundles: &[Vec<u8>]) -> ImportReport {
    let r = to.import_many(bundles.iter().map(Vec::as_slice)).unwrap();
    assert!(r.rejected().is_empty(), "{:?}", r.rejected());
    r
}

/// A community founded by `owner` with `member` in it as `role` (contacts both ways),
/// after one round trip.
pub(super) fn community(owner: &mut Node, member: &mut Node, role: Role) -> CommunityId {
    owner.add_contact(&member.card(), &[]).unwrap();
    member.add_contact(&owner.card(), &[]).unwrap();
    let cid = owner.create_community("Wells", "").unwrap();
    owner.invite(&cid, &member.card(), role).unwrap();
    carry(owner, member);
    carry(member, owner);
    cid
}

/// Bundles of `node`'s export that `seen` does not hold yet.
pub(super) fn new_since(node: &mut Node, seen: &mut HashSet<[u8; 32]>) -> Vec<Vec<u8>> {
    let all = node.export(Target::Everyone).unwrap();
    all.into_iter().filter(|b| seen.insert(bundle_digest(b))).collect()
}

/// Whether `bytes` is a release list (`seal_releases`): anonymous, read by everyone.
pub(super) fn is_release_list(bytes: &[u8]) -> bool {
    let Ok(outer) = crate::cloak::read_untimed(bytes) else { return false };
    let Ok(inner) = outer.open(&crate::cloak::Route::releases()) else { return false };
    crate::bundle::parse_untimed(&inner).is_ok_and(|i| {
        crate::envelope::admin_record_type(&inner[i.payload]) == Some(crate::envelope::RELEASE_LIST_RECORD_TYPE)
    })
}
