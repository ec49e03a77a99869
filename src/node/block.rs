//! Blocking: a node this node wants nothing from. Its bundles (its own, signed by it, and
//! custody signals it signs) are refused at the first look and never carried; live links
//! refuse it (`daemon`). Kept in the store's settings as a list of node ids, at most
//! `BLOCKED_MAX`; a refusal for being blocked is not remembered, so unblocking takes the
//! node's bundles in again the next time they come.

use super::*;
use crate::limits::BLOCKED_MAX;

const KEY: &str = "blocked";

impl Node {
    /// The nodes blocked here.
    pub fn blocked(&self) -> Result<Vec<NodeId>, Error> {
        blocked_in(&self.store.read()?)
    }

    /// Blocks `node` (`Ok(false)` if it was blocked already).
    pub fn block(&mut self, node: &NodeId) -> Result<bool, Error> {
        if *node == self.node_id() {
            return Err(Error::Invalid("a node cannot block itself".into()));
        }
        let mut all = self.blocked()?;
        if all.contains(node) {
            return Ok(false);
        }
        if all.len() >= BLOCKED_MAX {
            return Err(Error::Invalid(format!("at most {BLOCKED_MAX} nodes can be blocked")));
        }
        all.push(*node);
        self.save_blocked(&all)?;
        Ok(true)
    }

    /// Unblocks `node` (`Ok(false)` if it was not blocked).
    pub fn unblock(&mut self, node: &NodeId) -> Result<bool, Error> {
        let mut all = self.blocked()?;
        let before = all.len();
        all.retain(|n| n != node);
        if all.len() == before {
            return Ok(false);
        }
        self.save_blocked(&all)?;
        Ok(true)
    }

    /// Whether `node` is blocked.
    pub fn is_blocked(&self, node: &NodeId) -> Result<bool, Error> {
        Ok(self.blocked()?.contains(node))
    }

    fn save_blocked(&mut self, all: &[NodeId]) -> Result<(), Error> {
        let bytes: Vec<u8> = all.iter().flat_map(|n| n.0).collect();
        let mut t = self.write_txn()?;
        t.set_meta(KEY, &bytes)?;
        t.commit()?;
        Ok(())
    }
}

/// The blocked nodes as the store holds them (a damaged entry reads as none blocked
/// beyond the whole ids in it).
pub(super) fn blocked_in(r: &impl Reads) -> Result<Vec<NodeId>, Error> {
    let Some(bytes) = r.meta(KEY)? else { return Ok(Vec::new()) };
    Ok(bytes
        .chunks_exact(crate::identity::NODE_ID_BYTES)
        .take(BLOCKED_MAX)
        .filter_map(|c| c.try_into().ok().map(NodeId))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{Kit, community, import, is_release_list};
    use super::*;
    use crate::doc::Role;

    #[test]
    fn a_blocked_node_gets_nothing_in_and_unblocking_takes_it_again() {
        let kit = Kit::new();
        let (mut a, mut b) = (kit.node("A"), kit.node("B"));
        let cid = community(&mut a, &mut b, Role::Editor);
        assert!(b.block(&a.node_id()).unwrap());
        assert!(!b.block(&a.node_id()).unwrap());
        assert!(b.block(&b.node_id()).is_err());
        a.post(&cid, "from a blocked node").unwrap();
        // (A's release lists name no one: nobody can tell them from anyone else's.)
        let bundles: Vec<Vec<u8>> =
            a.export(Target::Everyone).unwrap().into_iter().filter(|b| !is_release_list(b)).collect();
        let before = b.fingerprint().unwrap();
        let r = b.import_many(bundles.iter().map(Vec::as_slice)).unwrap();
        assert!(
            r.outcomes.iter().all(|o| matches!(o, Outcome::Rejected(Rejection::Blocked(_)) | Outcome::Duplicate)),
            "{r:?}"
        );
        assert!(r.outcomes.iter().any(|o| matches!(o, Outcome::Rejected(Rejection::Blocked(_)))), "{r:?}");
        assert_eq!(b.fingerprint().unwrap(), before, "nothing of a blocked node is kept");
        assert!(b.feed(&cid).unwrap().is_empty());
        // Unblocked, the same bundles come in.
        assert!(b.unblock(&a.node_id()).unwrap());
        import(&mut b, &bundles);
        assert_eq!(b.feed(&cid).unwrap().len(), 1);
        assert_eq!(b.blocked().unwrap(), Vec::<NodeId>::new());
    }

    /// What this node holds of a node it then blocks (here: a co-member's posts, opened,
    /// so their author is known) is not passed on. (A pure carrier cannot tell whose a
    /// cloaked bundle is: it never learns, so it cannot block by it.)
    #[test]
    fn what_was_carried_for_a_node_later_blocked_is_not_passed_on() {
        let kit = Kit::new();
        let (mut a, mut b, c) = (kit.node("A"), kit.node("B"), kit.node("C"));
        let cid = community(&mut a, &mut b, Role::Member);
        a.post(&cid, "carried by a member").unwrap();
        let from_a = a.export(Target::Everyone).unwrap();
        // A's own bundles (its export also holds what it keeps of B's).
        let of_b: std::collections::HashSet<[u8; 32]> =
            b.export(Target::Everyone).unwrap().iter().map(|x| bundle_digest(x)).collect();
        let digests: std::collections::HashSet<[u8; 32]> = from_a
            .iter()
            .filter(|x| !is_release_list(x))
            .map(|x| bundle_digest(x))
            .filter(|d| !of_b.contains(d))
            .collect();
        import(&mut b, &from_a);
        let passed = |n: &mut Node| {
            n.export(Target::Everyone).unwrap().iter().filter(|x| digests.contains(&bundle_digest(x))).count()
        };
        assert!(passed(&mut b) > 0, "B carries A's bundles on");
        b.block(&a.node_id()).unwrap();
        assert_eq!(passed(&mut b), 0, "nothing of a blocked node goes on");
        let endpoints = vec![cid.endpoint()];
        let plan = b.plan_link(c.node_id(), &endpoints, &Default::default(), true).unwrap();
        assert!(plan.outgoing.iter().all(|o| !digests.contains(&o.digest)), "nor over a live link");
    }
}
