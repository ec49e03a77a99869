//! A live link between two nodes in one process: the QUIC exchange's steps
//! (`link::quic::exchange_shared`, `spec/sync.md`) without the network. Simulations of
//! real nodes (`testnets/`) use it, so they run the node's own link policy: summaries,
//! plans, carrier copies handed over and spent by receipt, and the second round.

use std::collections::HashSet;

use crate::error::Error;
use crate::node::{ImportReport, LinkPlan, Node};

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

fn bytes_of(node: &Node, plan: &LinkPlan) -> Result<Vec<Vec<u8>>, Error> {
    let digests: Vec<[u8; 32]> = plan.outgoing.iter().map(|o| o.digest).collect();
    Ok(node.bundles_bytes(&digests)?.into_iter().flatten().collect())
}

fn import(node: &mut Node, bundles: &[Vec<u8>], report: &mut ImportReport) -> Result<(), Error> {
    let r = node.import_many(bundles.iter().map(Vec::as_slice))?;
    report.outcomes.extend(r.outcomes);
    report.unlocked += r.unlocked;
    Ok(())
}

/// One exchange between `a` and `b`, as over QUIC: `a_relay` says whether `a`'s operator
/// configured `b` as a peer to relay through (and `b_relay` the other way).
pub fn exchange(
    a: &mut Node,
    b: &mut Node,
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
    let digests = |b: &[Vec<u8>]| b.iter().map(|b| crate::node::bundle_digest(b)).collect::<Vec<_>>();
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
}
