//! The exchange plug-in's library API: proposing an exchange about a market listing,
//! taking its steps, reading where each stands (`plugin::exchange`).

use super::*;
use crate::plugin::exchange::{self, Exchange, State, StepKind};

const EXCHANGE: &str = "exchange";

impl Node {
    /// Proposes an exchange about someone else's market listing `listing` (its id, as
    /// `caravan market list` shows it), in the community that holds it. Returns the
    /// exchange's id. It travels like any change: the listing's author answers when it
    /// gets it.
    ///
    /// ```
    /// use caravan::plugin::market::{ListingKind, NewListing};
    /// # fn main() -> Result<(), caravan::Error> {
    /// let home = tempfile::tempdir().unwrap();
    /// let mut node = caravan::Node::open(home.path(), "Hill farm")?;
    /// let co_op = node.create_community("Growers", "")?;
    /// let eggs = NewListing {
    ///     kind: ListingKind::Offer,
    ///     title: "Eggs".into(),
    ///     description: String::new(),
    ///     terms: String::new(),
    ///     price: None,
    ///     quantity: Some(12),
    ///     place: "Hill farm".into(),
    ///     expires_unix_ms: node.now() + 7 * 24 * 3600 * 1000,
    /// };
    /// let id = node.add_listing(&co_op, false, &eggs)?;
    /// // One's own listing is not something to exchange with oneself.
    /// assert!(node.propose_exchange(&id, "two dozen?").is_err());
    /// # Ok(()) }
    /// ```
    pub fn propose_exchange(&mut self, listing: &str, note: &str) -> Result<(String, CommunityId), Error> {
        let Some((cid, listing)) = self.find_listing(None, listing)? else {
            return Err(Error::Invalid(format!(
                "no listing {listing} in the markets of your communities (`caravan market list COMMUNITY`)"
            )));
        };
        if listing.starts_with(&format!("{}/", self.node_id())) {
            return Err(Error::Invalid(format!("{listing} is your own listing")));
        }
        let id = self.edit_kind(&cid, EXCHANGE, |d, me, now| exchange::propose(d, me, now, &listing, note))?;
        Ok((id, cid))
    }

    /// The exchange whose id is `id` (or starts with it), with its community, if this
    /// node is a party of it.
    pub(super) fn own_exchange(&mut self, id: &str) -> Result<(CommunityId, Exchange), Error> {
        let id = id.trim();
        let found: Vec<(CommunityId, Exchange)> =
            self.exchanges()?.into_iter().filter(|(_, x)| crate::plugin::names_item(&x.id, id)).collect();
        let (cid, x) = match found.as_slice() {
            [one] => one.clone(),
            [] => return Err(Error::Invalid(format!("no exchange {id} (`caravan exchange list`)"))),
            _ => return Err(Error::Invalid(format!("{id} names several exchanges: give more of the id"))),
        };
        if !x.has_party(&self.node_id()) {
            return Err(Error::Invalid(format!("you are not a party of exchange {}", x.id)));
        }
        Ok((cid, x))
    }

    /// Every exchange in our communities, oldest first, with its community.
    pub fn exchanges(&mut self) -> Result<Vec<(CommunityId, Exchange)>, Error> {
        let mut out = Vec::new();
        for c in self.communities()?.into_iter().filter(|c| !c.removed) {
            let hidden = self.quarantined(&c.id)?;
            for x in self.read_kind(&c.id, EXCHANGE, exchange::exchanges)? {
                if !hidden.contains(&x.proposer) && !hidden.contains(&x.seller) {
                    out.push((c.id, x));
                }
            }
        }
        out.sort_by(|a, b| (a.1.proposed_unix_ms, &a.1.id).cmp(&(b.1.proposed_unix_ms, &b.1.id)));
        Ok(out)
    }

    /// Takes a step in exchange `id` (or the one exchange whose id starts with it): as
    /// the listing's author, accept; as either party, mark it completed (the seller once
    /// it accepted, or in the same step), or cancel it before both completed. Returns
    /// where it stands now, as far as this node knows.
    pub fn exchange_step(&mut self, id: &str, step: StepKind) -> Result<(Exchange, CommunityId), Error> {
        let me = self.node_id();
        let (cid, x) = self.own_exchange(id)?;
        let refuse = |why: &str| Err(Error::Invalid(format!("exchange {} is {}: {why}", x.id, x.state.as_str())));
        match (step, x.state) {
            (_, State::Completed) => return refuse("nothing more to do"),
            (_, State::Cancelled) => return refuse("it was called off"),
            (StepKind::Accepted, _) if x.seller != me => {
                return refuse("only the listing's author accepts");
            }
            (StepKind::Completed, State::Proposed) if x.seller != me => {
                return refuse("the listing's author has not accepted yet");
            }
            _ => {}
        }
        let steps: &[StepKind] = match (step, x.state) {
            // The seller completing a proposal accepts it in the same change.
            (StepKind::Completed, State::Proposed) => &[StepKind::Accepted, StepKind::Completed],
            _ => std::slice::from_ref(&step),
        };
        let identity = self.identity.clone();
        self.edit_kind(&cid, EXCHANGE, |d, _, now| {
            for s in steps {
                exchange::step(d, &identity, &x, *s, now)?;
            }
            Ok(())
        })?;
        let now = self
            .read_kind(&cid, EXCHANGE, exchange::exchanges)?
            .into_iter()
            .find(|e| e.id == x.id)
            .ok_or_else(|| Error::Invalid(format!("exchange {} is gone", x.id)))?;
        Ok((now, cid))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{Kit, carry, community};
    use super::*;
    use crate::plugin::market::{ListingKind, NewListing};

    /// Buyer and seller, one step each way over a stick, until both completed; a third
    /// member sees it but can take no step in it.
    #[test]
    fn an_exchange_goes_one_step_at_a_time_between_its_parties() {
        let kit = Kit::new();
        let (mut s, mut b) = (kit.node("Seller"), kit.node("Buyer"));
        let cid = community(&mut s, &mut b, Role::Member);
        let eggs = NewListing {
            kind: ListingKind::Offer,
            title: "Eggs".into(),
            description: String::new(),
            terms: String::new(),
            price: None,
            quantity: Some(12),
            place: "Hill farm".into(),
            expires_unix_ms: s.now() + 86_400_000,
        };
        let listing = s.add_listing(&cid, false, &eggs).unwrap();
        carry(&mut s, &mut b);
        let (id, at) = b.propose_exchange(&listing, "two dozen?").unwrap();
        assert_eq!(at, cid);
        assert!(b.exchange_step(&id, StepKind::Accepted).is_err(), "the buyer cannot accept");
        carry(&mut b, &mut s);
        assert_eq!(s.exchange_step(&id, StepKind::Accepted).unwrap().0.state, State::Accepted);
        carry(&mut s, &mut b);
        assert_eq!(b.exchange_step(&id, StepKind::Completed).unwrap().0.state, State::Accepted);
        carry(&mut b, &mut s);
        assert_eq!(s.exchange_step(&id, StepKind::Completed).unwrap().0.state, State::Completed);
        carry(&mut s, &mut b);
        let seen = b.exchanges().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].1.state, State::Completed);
        assert!(b.exchange_step(&id, StepKind::Cancelled).is_err(), "completed: nothing more to do");
    }
}
