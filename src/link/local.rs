//! A live link between two nodes in one process: the QUIC exchange's steps
//! (`link::quic::exchange_shared`, `spec/sync.md`) without the network. Simulations of
//! real nodes (`testnets/`) use it, so they run the node's own link policy: summaries,
//! plans, carrier copies handed over and spent by receipt, and the second round.

use std::collections::HashSet;

use crate::error::Error;
use crate::link::LinkNode;
use crate::report::{ImportReport, LinkPlan};

/// What one side did in a local exchange.
#[derive(Debug, Default)]
pub struct LocalExchange {
    /// Bundles sent, both rounds.
    pub sent: usize,
    /// Bundles handed over with carrier copies that the peer took.
    pub copies_handed: usize,
    /// Bundles handed over with carrier copies that the peer did not take.
    pub refused_copies: usize,
    /// What importing the peer's bundles did, both rounds.
    pub received: ImportReport,
}

fn bytes_of(node: &impl LinkNode, plan: &LinkPlan) -> Result<Vec<Vec<u8>>, Error> {
    let digests: Vec<[u8; 32]> = plan.outgoing.iter().map(|o| o.digest).collect();
    Ok(node.bundles_bytes(&digests)?.into_iter().flatten().collect())
}

fn import(node: &mut impl LinkNode, bundles: &[Vec<u8>], report: &mut ImportReport) -> Result<(), Error> {
    let r = node.import_bundles(&bundles.iter().map(Vec::as_slice).collect::<Vec<_>>())?;
    report.outcomes.extend(r.outcomes);
    report.unlocked += r.unlocked;
    Ok(())
}

/// One exchange between `a` and `b`, as over QUIC: `a_relay` says whether `a`'s operator
/// configured `b` as a peer to relay through (and `b_relay` the other way).
pub fn exchange(
    a: &mut impl LinkNode,
    b: &mut impl LinkNode,
    a_relay: bool,
    b_relay: bool,
) -> Result<(LocalExchange, LocalExchange), Error> {
    let (ia, ib) = (a.node_id(), b.node_id());
    let (mut xa, mut xb) = (LocalExchange::default(), LocalExchange::default());
    // First round: summaries and endpoints, plans, hand-over lists, bundles.
    let (sa, sb) = (a.summary_for(ib, a_relay)?, b.summary_for(ia, b_relay)?);
    let (held_by_a, held_by_b): (HashSet<[u8; 32]>, HashSet<[u8; 32]>) =
        (sa.digests.iter().copied().collect(), sb.digests.iter().copied().collect());
    let pa = a.plan_link(ib, &sb.endpoints, &held_by_b, a_relay)?;
    let pb = b.plan_link(ia, &sa.endpoints, &held_by_a, b_relay)?;
    let (from_a, from_b) = (bytes_of(a, &pa)?, bytes_of(b, &pb)?);
    let (handed_a, handed_b) = (pa.handover(), pb.handover());
    import(b, &from_a, &mut xb.received)?;
    import(a, &from_b, &mut xa.received)?;
    xa.sent += from_a.len();
    xb.sent += from_b.len();
    // Second round: receipts (copies spent by them), then what became due, no copies.
    let receipt_b: HashSet<[u8; 32]> = b.take_handover(&handed_a)?.into_iter().collect();
    let receipt_a: HashSet<[u8; 32]> = a.take_handover(&handed_b)?.into_iter().collect();
    xa.refused_copies = a.handed_over(&handed_a, &receipt_b)?;
    xb.refused_copies = b.handed_over(&handed_b, &receipt_a)?;
    xa.copies_handed = handed_a.len() - xa.refused_copies;
    xb.copies_handed = handed_b.len() - xb.refused_copies;
    let digests = |b: &[Vec<u8>]| b.iter().map(|b| crate::bundle::bundle_digest(b)).collect::<Vec<_>>();
    let mut known_b = held_by_b;
    known_b.extend(pa.outgoing.iter().map(|o| o.digest));
    known_b.extend(digests(&from_b));
    let mut known_a = held_by_a;
    known_a.extend(pb.outgoing.iter().map(|o| o.digest));
    known_a.extend(digests(&from_a));
    let pa = a.plan_link_with(ib, &sb.endpoints, &known_b, a_relay, false)?;
    let pb = b.plan_link_with(ia, &sa.endpoints, &known_a, b_relay, false)?;
    let (from_a, from_b) = (bytes_of(a, &pa)?, bytes_of(b, &pb)?);
    import(b, &from_a, &mut xb.received)?;
    import(a, &from_b, &mut xa.received)?;
    xa.sent += from_a.len();
    xb.sent += from_b.len();
    Ok((xa, xb))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Node;
    use crate::Role;

    #[test]
    fn two_in_memory_nodes_converge_over_a_local_link() {
        let mut a = Node::in_memory("Village A").unwrap();
        let mut b = Node::in_memory("Village B").unwrap();
        b.add_contact(&a.card(), &[]).unwrap();
        let wells = a.create_community("Wells", "").unwrap();
        a.invite(&wells, &b.card(), Role::Editor).unwrap();
        a.put_wiki_page(&wells, "North", "Pump fixed.\n").unwrap();
        exchange(&mut a, &mut b, true, true).unwrap();
        // b joined during that exchange; the next one brings what needs the key.
        exchange(&mut a, &mut b, true, true).unwrap();
        assert_eq!(b.wiki_page(&wells, "North").unwrap().as_deref(), Some("Pump fixed.\n"));
        exchange(&mut a, &mut b, true, true).unwrap();
        assert_eq!(a.custody().unwrap().open, 0, "b's answers came back: {:?}", a.custody().unwrap());
    }

    #[test]
    fn a_member_carries_another_members_bundle_past_a_relay_to_one_its_author_never_meets() {
        // A and C never meet: A meets B (a member), B meets R (a pure relay, configured as
        // one by B and C, so their custody answers may go through it), R meets C.
        let mut a = Node::in_memory("Village A").unwrap();
        let mut b = Node::in_memory("Village B").unwrap();
        let mut r = Node::in_memory("Relay").unwrap();
        let mut c = Node::in_memory("Village C").unwrap();
        b.add_contact(&a.card(), &[]).unwrap();
        c.add_contact(&a.card(), &[]).unwrap();
        let wells = a.create_community("Wells", "").unwrap();
        a.invite(&wells, &b.card(), Role::Editor).unwrap();
        a.invite(&wells, &c.card(), Role::Editor).unwrap();
        a.put_wiki_page(&wells, "North", "Pump fixed.\n").unwrap();
        for _ in 0..4 {
            exchange(&mut a, &mut b, false, false).unwrap();
            exchange(&mut b, &mut r, true, false).unwrap();
            exchange(&mut r, &mut c, false, true).unwrap();
        }
        assert_eq!(c.wiki_page(&wells, "North").unwrap().as_deref(), Some("Pump fixed.\n"));
        assert!(r.communities().unwrap().is_empty(), "the relay cannot read the community");
        for _ in 0..3 {
            exchange(&mut r, &mut c, false, true).unwrap();
            exchange(&mut b, &mut r, true, false).unwrap();
            exchange(&mut a, &mut b, false, false).unwrap();
        }
        assert_eq!(a.custody().unwrap().open, 0, "C's answers came back: {:?}", a.custody().unwrap());
    }

    #[test]
    fn copies_a_peer_claims_are_capped_and_taken_only_once() {
        let mut a = Node::in_memory("Village A").unwrap();
        let c = Node::in_memory("Village C").unwrap();
        let mut r = Node::in_memory("Relay").unwrap();
        let wells = a.create_community("Wells", "").unwrap();
        a.invite(&wells, &c.card(), Role::Editor).unwrap();
        // A page too big to flood: it travels by carrier copies.
        a.put_wiki_page(&wells, "North", &"Pump fixed.\n".repeat(400)).unwrap();
        // The relay gets A's bundles on a stick: carried, without copies.
        let bundles = a.export(crate::Target::Everyone).unwrap();
        r.import_many(bundles.iter().map(Vec::as_slice)).unwrap();
        let big = bundles.iter().max_by_key(|b| b.len()).unwrap();
        assert!(big.len() > crate::limits::FLOOD_BYTES_MAX);
        let digest = crate::bundle::bundle_digest(big);
        // A peer claims u32::MAX copies: the relay takes at most CARRIER_COPIES_MAX ...
        assert_eq!(r.take_handover(&[(digest, u32::MAX)]).unwrap(), vec![digest]);
        // ... and does not take (or receipt) the same claim again.
        assert!(r.take_handover(&[(digest, u32::MAX)]).unwrap().is_empty());
        let s = Node::in_memory("Stranger").unwrap();
        let plan = r.plan_link(s.node_id(), &[], &HashSet::new(), true).unwrap();
        let handed: Vec<u32> = plan.handover().iter().filter(|(d, _)| *d == digest).map(|(_, c)| *c).collect();
        assert_eq!(handed, vec![crate::limits::CARRIER_COPIES_MAX / 2], "{plan:?}");
    }
}
