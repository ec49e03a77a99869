//! The market plug-in's library API: listing, reading and withdrawing offers and
//! requests in a community, and forgetting our expired listings.

use super::*;
use crate::plugin::market::{self, Listing, NewListing};

const MARKET: &str = "market";
const PUBLIC_MARKET: &str = "market-public";

impl Node {
    /// Lists an offer or request in community `cid`: for its members, or, with `public`,
    /// for anyone. Returns the listing's id.
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
    ///     description: "a dozen, free range".into(),
    ///     terms: "pick up on Saturday".into(),
    ///     price: None,
    ///     quantity: Some(12),
    ///     place: "Hill farm".into(),
    ///     expires_unix_ms: node.now() + 7 * 24 * 3600 * 1000,
    /// };
    /// let id = node.add_listing(&co_op, false, &eggs)?;
    /// assert_eq!(node.listings(&co_op)?[0].1.id, id);
    /// # Ok(()) }
    /// ```
    pub fn add_listing(&mut self, cid: &CommunityId, public: bool, listing: &NewListing) -> Result<String, Error> {
        let kind = if public { PUBLIC_MARKET } else { MARKET };
        // Ids count from the time, above every one of ours in either market.
        let me = self.node_id();
        let mut first = (self.clock)();
        for k in [MARKET, PUBLIC_MARKET] {
            let used = self.read_kind(cid, k, |d| {
                market::all_listings(d)
                    .iter()
                    .filter(|l| l.author == me)
                    .filter_map(|l| l.id.rsplit('/').next()?.parse::<u64>().ok())
                    .max()
            })?;
            if let Some(n) = used {
                first = first.max(n + 1);
            }
        }
        self.edit_kind(cid, kind, |d, me, now| market::put_listing(d, me, now, first, listing))
    }

    /// The listings standing now in community `cid` (expired ones hidden), oldest first,
    /// each with whether it is public.
    pub fn listings(&mut self, cid: &CommunityId) -> Result<Vec<(bool, Listing)>, Error> {
        let now = (self.clock)();
        let mut out: Vec<(bool, Listing)> = Vec::new();
        for (public, kind) in [(false, MARKET), (true, PUBLIC_MARKET)] {
            out.extend(self.read_kind(cid, kind, |d| market::listings(d, now))?.into_iter().map(|l| (public, l)));
        }
        out.sort_by(|a, b| (a.1.created_unix_ms, &a.1.id).cmp(&(b.1.created_unix_ms, &b.1.id)));
        let hidden = self.quarantined(cid)?;
        out.retain(|(_, l)| !hidden.contains(&l.author));
        Ok(out)
    }

    /// The listing `given` names (its id, the start of it, or its handle, see
    /// [`crate::plugin::handle`]) in community `cid`, or in any of our communities: its
    /// community and id. `None` if nothing matches; an error if several do.
    pub fn find_listing(
        &mut self,
        cid: Option<&CommunityId>,
        given: &str,
    ) -> Result<Option<(CommunityId, String)>, Error> {
        let given = given.trim();
        let cids: Vec<CommunityId> = match cid {
            Some(c) => vec![*c],
            None => self.communities()?.into_iter().filter(|c| !c.removed).map(|c| c.id).collect(),
        };
        let mut found: Vec<(CommunityId, String)> = Vec::new();
        for c in cids {
            for kind in [MARKET, PUBLIC_MARKET] {
                let ids: Vec<String> = self.read_kind(&c, kind, |d| {
                    market::all_listings(d)
                        .into_iter()
                        .map(|l| l.id)
                        .filter(|id| crate::plugin::names_item(id, given))
                        .collect()
                })?;
                found.extend(ids.into_iter().map(|id| (c, id)));
            }
        }
        // The whole id wins over a handle that happens to start the same.
        if let Some(exact) = found.iter().find(|(_, id)| id == given) {
            return Ok(Some(exact.clone()));
        }
        found.dedup();
        match found.len() {
            0 => Ok(None),
            1 => Ok(found.pop()),
            _ => Err(Error::Invalid(format!("{given} names several listings: give more of it"))),
        }
    }

    /// Withdraws one of our listings in community `cid` (`id` as [`Node::find_listing`]
    /// takes it). Returns whether there was one of ours with this id.
    pub fn withdraw_listing(&mut self, cid: &CommunityId, id: &str) -> Result<bool, Error> {
        let Some((_, id)) = self.find_listing(Some(cid), id)? else { return Ok(false) };
        let id = id.as_str();
        if !id.starts_with(&format!("{}/", self.node_id())) {
            return Ok(false);
        }
        for kind in [MARKET, PUBLIC_MARKET] {
            if self.read_kind(cid, kind, |d| market::all_listings(d).iter().any(|l| l.id == id))? {
                return self.edit_kind(cid, kind, |d, _, _| market::withdraw(d, id));
            }
        }
        Ok(false)
    }

    /// Deletes our listings that expired (only we may): they are forgotten everywhere as
    /// the deletion spreads. Part of sealing, in its transaction; loads only market
    /// documents this node holds.
    pub(super) fn forget_expired_listings(
        &mut self,
        t: &mut Txn,
        stored: &HashSet<String>,
    ) -> Result<Vec<DocId>, Error> {
        let now = (self.clock)();
        let me = self.node_id();
        let mut edited = Vec::new();
        for c in self.communities()? {
            for kind in [MARKET, PUBLIC_MARKET] {
                let Some(name) = crate::plugin::KindName::new(kind) else { continue };
                let id = DocId::Community { id: c.id, part: Part::Kind(name) };
                if !stored.contains(&id.to_string()) {
                    continue;
                }
                let expired = market::expired_of(&self.load_doc(&*t, id)?.doc, &me, now);
                if expired.is_empty() {
                    continue;
                }
                self.edit_in(t, id, |d, _, _| {
                    for l in &expired {
                        market::withdraw(d, l)?;
                    }
                    Ok(())
                })?;
                edited.push(id);
            }
        }
        Ok(edited)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{Kit, carry, community};
    use super::*;
    use crate::plugin::market::ListingKind;

    fn eggs(expires: u64) -> NewListing {
        NewListing {
            kind: ListingKind::Offer,
            title: "Eggs".into(),
            description: String::new(),
            terms: String::new(),
            price: None,
            quantity: Some(12),
            place: String::new(),
            expires_unix_ms: expires,
        }
    }

    #[test]
    fn listings_travel_expire_and_are_forgotten_by_their_author() {
        let kit = Kit::new();
        let (mut a, mut b) = (kit.node("A"), kit.node("B"));
        let cid = community(&mut a, &mut b, Role::Member);
        let day = 24 * 3600 * 1000;
        let id = b.add_listing(&cid, false, &eggs(b.now() + day)).unwrap();
        b.add_listing(&cid, true, &eggs(b.now() + 3 * day)).unwrap();
        carry(&mut b, &mut a);
        assert_eq!(a.listings(&cid).unwrap().len(), 2);
        // A may not withdraw B's listing.
        assert!(!a.withdraw_listing(&cid, &id).unwrap());
        kit.advance(2 * day);
        assert_eq!(a.listings(&cid).unwrap().len(), 1, "the expired listing is hidden");
        // B's next export deletes its expired listing; A then holds it no more.
        carry(&mut b, &mut a);
        let all = a.read_kind(&cid, "market", market::all_listings).unwrap();
        assert!(all.is_empty(), "{all:?}");
        let public = b.listings(&cid).unwrap()[0].1.id.clone();
        assert!(b.withdraw_listing(&cid, &public).unwrap());
        carry(&mut b, &mut a);
        assert!(a.listings(&cid).unwrap().is_empty());
    }
}
