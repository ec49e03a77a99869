//! Reviews and reputation (`plugin::review`): writing a review of a completed exchange,
//! and a node's standing as this node sees it.
//!
//! Standing is the viewer's own reading, TrustNet-style: reviews are gathered from every
//! reviews document this node reads (its communities', and those of communities it
//! follows or that are linked to its own), each re-checked, one per reviewer and
//! exchange. A reviewer
//! counts in the standing only through a tie the viewer has with it (itself, a contact,
//! a fellow member of one of its communities); reviews by nodes without a tie are shown
//! apart and move nothing. So a swarm of fresh keys trading with each other, whom the
//! viewer knows none of, cannot raise anyone's standing for it.

use std::collections::BTreeMap;

use super::*;
use crate::plugin::exchange::{Proof, State};
use crate::plugin::review::{self, Review};

const REVIEWS: &str = "reviews";

/// How the viewer is tied to a reviewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tie {
    /// The viewer itself, or one of its contacts: counts twice.
    Contact,
    /// A current member of one of the viewer's communities: counts once.
    Community,
    /// None: shown apart, counts nothing.
    None,
}

impl Tie {
    fn weight(self) -> f64 {
        match self {
            Tie::Contact => 2.0,
            Tie::Community => 1.0,
            Tie::None => 0.0,
        }
    }
}

/// What a group of reviews says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Standing {
    /// Distinct reviewers (each a counterparty of the node in a completed exchange).
    pub counterparties: usize,
    /// Reviews counted.
    pub reviews: usize,
    /// Reviews per rating, 1 to 5.
    pub distribution: [usize; 5],
    /// Mean rating: each counterparty's own mean, weighted by its tie (`None` without
    /// reviews, or for the untied, plain).
    pub average: Option<f64>,
}

/// A node's reputation as this node sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Reputation {
    /// Whose.
    pub node: NodeId,
    /// From reviewers the viewer is tied to: the standing.
    pub tied: Standing,
    /// From reviewers without a tie: shown apart, counted in nothing above.
    pub untied: Standing,
    /// Every review of the node, with the reviewer's tie, newest first.
    pub reviews: Vec<(Review, Tie)>,
}

fn standing(reviews: &[(Review, Tie)], weighted: bool) -> Standing {
    let mut by: BTreeMap<NodeId, (Tie, Vec<u8>)> = BTreeMap::new();
    let mut out = Standing::default();
    for (r, tie) in reviews {
        out.reviews += 1;
        out.distribution[usize::from(r.rating.clamp(1, 5)) - 1] += 1;
        by.entry(r.reviewer).or_insert((*tie, Vec::new())).1.push(r.rating);
    }
    out.counterparties = by.len();
    let (mut sum, mut weights) = (0.0, 0.0);
    for (tie, ratings) in by.values() {
        let mean = ratings.iter().map(|&x| f64::from(x)).sum::<f64>() / ratings.len() as f64;
        let w = if weighted { tie.weight() } else { 1.0 };
        sum += mean * w;
        weights += w;
    }
    out.average = (weights > 0.0).then(|| sum / weights);
    out
}

impl Node {
    /// Reviews exchange `id` (or the one whose id starts with it), which both parties
    /// completed, as a party of it: `rating` 1 to 5 and a text. Once per exchange. The
    /// review goes to the community's public reviews, carrying both parties' proofs.
    pub fn review(&mut self, id: &str, rating: u8, text: &str) -> Result<(Review, CommunityId), Error> {
        let me = self.node_id();
        let (cid, x) = self.own_exchange(id)?;
        if x.state != State::Completed {
            return Err(Error::Invalid(format!(
                "exchange {} is {}: a review follows an exchange both parties completed",
                x.id,
                x.state.as_str()
            )));
        }
        let proof_of = |n: &NodeId| x.completed_by.iter().find(|(p, _)| p == n).map(|(_, p)| *p);
        let (Some(p), Some(s)) = (proof_of(&x.proposer), proof_of(&x.seller)) else {
            return Err(Error::Invalid(format!("exchange {} lacks a party's proof", x.id)));
        };
        let reference = x.reference();
        let key = review::key(&me, &reference);
        let written = self.read_kind(&cid, REVIEWS, |d| {
            use automerge::ReadDoc;
            d.get(automerge::ROOT, key.as_str()).ok().flatten().is_some()
        })?;
        if written {
            return Err(Error::Invalid(format!("you reviewed exchange {} already (once per exchange)", x.id)));
        }
        let proofs: [Proof; 2] = [p, s];
        let bytes = review::write(&self.identity, &reference, proofs, rating, text, (self.clock)())
            .map_err(|e| Error::Invalid(e.to_string()))?;
        self.edit_kind(&cid, REVIEWS, |d, _, _| {
            use automerge::transaction::Transactable;
            d.put(automerge::ROOT, key.as_str(), bytes)
        })?;
        let mine = self
            .read_kind(&cid, REVIEWS, review::reviews)?
            .into_iter()
            .find(|r| r.reviewer == me && r.exchange == reference)
            .ok_or_else(|| Error::Invalid(format!("review of {} not stored", x.id)))?;
        Ok((mine, cid))
    }

    /// The exchanges this node reviewed, in its communities.
    pub fn reviewed(&mut self) -> Result<HashSet<crate::plugin::exchange::ExchangeRef>, Error> {
        let me = self.node_id();
        let mut out = HashSet::new();
        for c in self.communities()? {
            for r in self.read_kind(&c.id, REVIEWS, review::reviews)? {
                if r.reviewer == me {
                    out.insert(r.exchange);
                }
            }
        }
        Ok(out)
    }

    /// `node`'s reputation as this node sees it (see the module's documentation).
    pub fn reputation(&mut self, node: &NodeId) -> Result<Reputation, Error> {
        let ties = self.ties()?;
        let mut sources: Vec<CommunityId> = self.communities()?.into_iter().map(|c| c.id).collect();
        for f in self.following()? {
            if let Followed::Community(c) = f {
                sources.push(c);
            }
        }
        // Communities linked to ours (whatever they share: their reviews are public).
        sources.extend(super::link::linked_in(&self.store.read()?)?);
        sources.sort();
        sources.dedup();
        let mut seen = HashSet::new();
        let mut reviews = Vec::new();
        for cid in sources {
            for r in self.read_kind(&cid, REVIEWS, review::reviews)? {
                if r.subject() == *node && seen.insert((r.reviewer, r.exchange)) {
                    let tie = ties.get(&r.reviewer).copied().unwrap_or(Tie::None);
                    reviews.push((r, tie));
                }
            }
        }
        reviews.sort_by_key(|r| std::cmp::Reverse(r.0.at_unix_ms));
        let (tied, untied): (Vec<_>, Vec<_>) = reviews.iter().cloned().partition(|(_, t)| *t != Tie::None);
        Ok(Reputation { node: *node, tied: standing(&tied, true), untied: standing(&untied, false), reviews })
    }

    /// Every node this node is tied to, and how.
    fn ties(&mut self) -> Result<HashMap<NodeId, Tie>, Error> {
        let mut out = HashMap::new();
        for c in self.communities()?.into_iter().filter(|c| !c.removed) {
            let hidden = self.quarantined(&c.id)?;
            for (id, _, _) in self.members(&c.id)? {
                if let Some(n) = NodeId::parse(&id).filter(|n| !hidden.contains(n)) {
                    out.insert(n, Tie::Community);
                }
            }
        }
        for c in self.contacts()? {
            out.insert(c.card.node_id(), Tie::Contact);
        }
        out.insert(self.node_id(), Tie::Contact);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use crate::plugin::exchange::ExchangeRef;
    use automerge::transaction::Transactable;

    /// `reviewer` rates `subject` `rating` for exchange number `n` between them.
    fn rated(reviewer: &Identity, subject: &Identity, n: u64, rating: u8) -> Review {
        let x = ExchangeRef { proposer: reviewer.node_id(), n, seller: subject.node_id() };
        let proofs = [Proof::sign(reviewer, &x), Proof::sign(subject, &x)];
        let bytes = review::write(reviewer, &x, proofs, rating, "", n).unwrap();
        let mut doc = automerge::AutoCommit::new();
        doc.put(automerge::ROOT, review::key(&reviewer.node_id(), &x), bytes).unwrap();
        review::reviews(&doc).remove(0)
    }

    #[test]
    fn each_counterparty_counts_once_weighted_by_its_tie() {
        let (s, friend, member) = (Identity::generate(), Identity::generate(), Identity::generate());
        // The friend traded three times (5, 5, 2: its mean 4), the member once (1).
        let reviews = vec![
            (rated(&friend, &s, 1, 5), Tie::Contact),
            (rated(&friend, &s, 2, 5), Tie::Contact),
            (rated(&friend, &s, 3, 2), Tie::Contact),
            (rated(&member, &s, 4, 1), Tie::Community),
        ];
        let st = standing(&reviews, true);
        assert_eq!((st.counterparties, st.reviews, st.distribution), (2, 4, [1, 1, 0, 0, 2]));
        // (4 * 2 + 1 * 1) / 3
        assert!((st.average.unwrap() - 3.0).abs() < 1e-9);
        let plain = standing(&reviews, false);
        assert!((plain.average.unwrap() - 2.5).abs() < 1e-9);
        assert_eq!(standing(&[], true), Standing::default());
        // Reviewers without a tie weigh nothing in a weighted standing.
        let untied = vec![(rated(&member, &s, 5, 5), Tie::None)];
        assert_eq!(standing(&untied, true).average, None);
    }

    use super::super::testkit::{Kit, carry, community, import};
    use crate::plugin::exchange::StepKind;
    use crate::plugin::market::{ListingKind, NewListing};
    use crate::sync::Target;

    fn listing(n: &mut Node, cid: &CommunityId) -> String {
        let l = NewListing {
            kind: ListingKind::Offer,
            title: "Eggs".into(),
            description: String::new(),
            terms: String::new(),
            price: None,
            quantity: Some(12),
            place: String::new(),
            expires_unix_ms: n.now() + 30 * 86_400_000,
        };
        n.add_listing(cid, false, &l).unwrap()
    }

    /// `buyer` proposes on `seller`'s listing and both complete it, one stick trip per
    /// step; returns the exchange id.
    fn trade(buyer: &mut Node, seller: &mut Node, listing: &str) -> String {
        let (id, _) = buyer.propose_exchange(listing, "").unwrap();
        carry(buyer, seller);
        seller.exchange_step(&id, StepKind::Completed).unwrap();
        carry(seller, buyer);
        buyer.exchange_step(&id, StepKind::Completed).unwrap();
        carry(buyer, seller);
        id
    }

    /// A viewer knows an honest trader and the subject; fifty fresh keys in a community
    /// of the subject's trade with it and with each other, all rating five: the viewer's
    /// standing of the subject does not move, the ring's reviews are shown apart, and no
    /// ring member gains any standing with the viewer.
    #[test]
    fn a_sybil_ring_of_fifty_moves_nothing_for_a_viewer_who_knows_none_of_them() {
        let kit = Kit::new();
        let (mut v, mut h, mut t) = (kit.node("Viewer"), kit.node("Honest"), kit.node("Subject"));
        let c = community(&mut v, &mut h, Role::Member);
        v.add_contact(&t.card(), &[]).unwrap();
        t.add_contact(&v.card(), &[]).unwrap();
        v.invite(&c, &t.card(), Role::Member).unwrap();
        carry(&mut v, &mut t);
        carry(&mut t, &mut v);
        carry(&mut v, &mut h);
        let eggs = listing(&mut t, &c);
        carry(&mut t, &mut h);
        let honest = trade(&mut h, &mut t, &eggs);
        h.review(&honest, 4, "fair dealing").unwrap();
        assert!(h.review(&honest, 5, "again").is_err(), "once per exchange");
        carry(&mut h, &mut v);
        let before = v.reputation(&t.node_id()).unwrap();
        assert_eq!((before.tied.counterparties, before.tied.average), (1, Some(4.0)));
        assert_eq!(before.untied.counterparties, 0);

        // The ring: the subject's own community of fifty fresh nodes. The subject is
        // their hub: each round, all they wrote goes to it, then all it holds to them.
        let ring_id = t.create_community("Ring", "").unwrap();
        let mut ring: Vec<Node> = (0..50).map(|i| kit.node(&format!("Sybil {i}"))).collect();
        for s in ring.iter_mut() {
            t.add_contact(&s.card(), &[]).unwrap();
            s.add_contact(&t.card(), &[]).unwrap();
            t.invite(&ring_id, &s.card(), Role::Member).unwrap();
        }
        // Each round, what each wrote goes to the hub, then what each is owed comes back.
        let round = |t: &mut Node, ring: &mut [Node]| {
            let hub = t.node_id();
            for s in ring.iter_mut() {
                let out = s.export(Target::Peer(hub)).unwrap();
                import(t, &out);
            }
            for s in ring.iter_mut() {
                let out = t.export(Target::Peer(s.node_id())).unwrap();
                import(s, &out);
            }
        };
        round(&mut t, &mut ring);
        let bait = listing(&mut t, &ring_id);
        let own: Vec<String> = ring.iter_mut().map(|s| listing(s, &ring_id)).collect();
        round(&mut t, &mut ring);
        // Each buys from the subject and from its neighbour; everyone rates everyone 5.
        let n = ring.len();
        let mut deals = Vec::new();
        for (i, s) in ring.iter_mut().enumerate() {
            deals.push((i, None, s.propose_exchange(&bait, "").unwrap().0));
            deals.push((i, Some((i + 1) % n), s.propose_exchange(&own[(i + 1) % n], "").unwrap().0));
        }
        round(&mut t, &mut ring);
        for (_, seller, id) in &deals {
            let seller = match seller {
                None => &mut t,
                Some(j) => &mut ring[*j],
            };
            seller.exchange_step(id, StepKind::Completed).unwrap();
        }
        round(&mut t, &mut ring);
        for (i, _, id) in &deals {
            ring[*i].exchange_step(id, StepKind::Completed).unwrap();
        }
        round(&mut t, &mut ring);
        for (i, seller, id) in &deals {
            ring[*i].review(id, 5, "superb").unwrap();
            match seller {
                None => t.review(id, 5, "superb").map(|_| ()).unwrap(),
                Some(j) => ring[*j].review(id, 5, "superb").map(|_| ()).unwrap(),
            }
        }
        round(&mut t, &mut ring);
        // The ring thinks well of itself.
        let inside = ring[0].reputation(&t.node_id()).unwrap();
        assert!(inside.tied.counterparties >= 50, "{:?}", inside.tied);

        // The viewer gets it all, carried by the subject, and follows the ring's public
        // part (where reviews are), so it reads every one of them.
        carry(&mut t, &mut v);
        assert_eq!(v.reputation(&t.node_id()).unwrap(), before, "unknown to the viewer: not even read");
        v.follow(Followed::Community(ring_id)).unwrap();
        let after = v.reputation(&t.node_id()).unwrap();
        assert_eq!(after.tied, before.tied, "the ring moved the viewer's standing");
        assert_eq!(after.untied.counterparties, 50, "the ring's reviews are shown apart");
        assert_eq!(after.untied.distribution, [0, 0, 0, 0, 50]);
        assert_eq!(after.reviews.len(), 51);
        for s in &ring[..3] {
            let r = v.reputation(&s.node_id()).unwrap();
            // Only the subject, whom the viewer knows, counts; its neighbour does not.
            assert!(r.reviews.iter().all(|(x, tie)| (*tie == Tie::None) != (x.reviewer == t.node_id())));
            assert_eq!((r.tied.counterparties, r.untied.counterparties), (1, 2), "a sybil gained standing");
        }
    }
}
