//! Live-link planning: what a peer learns first (its summary), what goes to it, and the
//! carrier copies handed over with what it accepted (`spec/sync.md`, `spec/routing.md`).

use super::*;
use crate::limits::{CARRIER_COPIES_MAX, HANDOVER_ENTRIES_MAX};

impl Node {
    /// What a live link tells `peer` before anything else (`spec/sync.md`): the endpoints
    /// this node receives for and the digests it holds, so the peer neither withholds
    /// what is for us nor sends what we have. A peer learns only what concerns it: the
    /// endpoint of a community only if it is a member too (or `relay`: the operator
    /// configured it as a peer to relay through), digests only of public content, of
    /// bundles for endpoints it may know, of its own bundles and of custody signals, and
    /// what we forgot as delivered only if it is a contact, a co-member or a relay. An
    /// unknown node learns no private community, audience or member.
    pub fn summary_for(&mut self, peer: NodeId, relay: bool) -> Result<LinkSummary, Error> {
        let me = self.node_id();
        let view = self.store.read()?;
        let mut endpoints = vec![me.endpoint()];
        let mut known = relay || self.contact_card(&view, &peer)?.is_some();
        for c in self.communities()? {
            let member = self.members(&c.id)?.iter().any(|(n, _, _)| NodeId::parse(n) == Some(peer));
            known |= member;
            if relay || member {
                endpoints.push(c.id.endpoint());
            }
        }
        let mut disclosed: HashSet<String> = endpoints.iter().cloned().collect();
        disclosed.insert(peer.endpoint());
        if let Some((_, bits, _)) = view.contacts()?.into_iter().find(|(n, _, _)| NodeId::parse(n) == Some(peer)) {
            for audience in Audience::ALL.into_iter().filter(|a| bits & a.bit() != 0) {
                disclosed.insert(DocId::Profile { owner: me, audience }.endpoint());
            }
        }
        let mut digests = Vec::new();
        for (d, m) in view.all_bundle_meta()? {
            let public = DocId::parse(&m.doc).is_some_and(|doc| doc.is_public());
            // What we carry unopened says nothing of us (its cloak is someone else's):
            // its digest saves the peer sending it again.
            let unopened = m.opener.is_none() && m.state == BundleState::Carried;
            if public
                || unopened
                || disclosed.contains(&m.destination)
                || m.author == peer
                || m.state == BundleState::Signal
            {
                digests.push(d);
            }
        }
        if known {
            digests.extend(view.all_forgotten()?);
            // The tags we read today and the two days before: a carrier hands us what it
            // holds under them (relays route by tag; nobody learns what a tag stands for).
            let today = crate::cloak::day_of((self.clock)());
            endpoints.extend(self.own_tags(&view, today.saturating_sub(2)..=today)?);
        }
        Ok(LinkSummary { digests, endpoints })
    }

    /// Sets the contact plan used to choose carriers on live links.
    pub fn set_contact_plan(&mut self, plan: ContactPlan) {
        self.contact_plan = plan;
    }

    /// What to send over a live link to `peer`, which holds `peer_holds` and receives for
    /// `peer_endpoints` (both from its summary): first what it is entitled to (as
    /// [`Node::plan_export`] for it), then relay traffic: custody signals and notices
    /// (small; they flood), bundles we carry for its endpoints, and carrier copies (of our
    /// own bundles in custody, and of bundles we carry with copies to hand on) as the
    /// routing strategy decides with the contact plan. Each [`Outgoing::copies`] says how
    /// many copies go with a bundle; nothing is spent until the peer says it holds the
    /// bundle ([`Node::handed_over`]). Our own custody signals (which say whose bundles we
    /// take: our memberships) go to a stranger only if it is a `relay` the operator
    /// configured.
    pub fn plan_link(
        &mut self,
        peer: NodeId,
        peer_endpoints: &[String],
        peer_holds: &HashSet<[u8; 32]>,
        relay: bool,
    ) -> Result<LinkPlan, Error> {
        self.plan_link_with(peer, peer_endpoints, peer_holds, relay, true)
    }

    /// [`Node::plan_link`]; with `carrier_copies` false, no carrier copies go to a peer
    /// that is not a destination (it refused some this contact, or the round cannot
    /// hand copies over).
    pub fn plan_link_with(
        &mut self,
        peer: NodeId,
        peer_endpoints: &[String],
        peer_holds: &HashSet<[u8; 32]>,
        relay: bool,
        carrier_copies: bool,
    ) -> Result<LinkPlan, Error> {
        let entitled = self.plan_export(Target::Peer(peer))?;
        let known = {
            let view = self.store.read()?;
            relay || self.knows(&view, peer)?
        };
        let entitled_all: HashSet<[u8; 32]> = entitled.iter().map(|o| o.digest).collect();
        let held_entitled: Vec<[u8; 32]> =
            entitled.iter().map(|o| o.digest).filter(|d| peer_holds.contains(d)).collect();
        let before = entitled.len();
        let mut out: Vec<Outgoing> = entitled.into_iter().filter(|o| !peer_holds.contains(&o.digest)).collect();
        let skipped = before - out.len();
        let chosen: HashSet<[u8; 32]> = out.iter().map(|o| o.digest).collect();
        let now = (self.clock)();
        let me = self.node_id();
        let strategy = Caravan::default();
        let view = self.store.read()?;
        let records = super::custody::budgets(&view, me, now)?;
        let carried: HashMap<[u8; 32], u32> =
            if carrier_copies { view.carrier_copies()?.into_iter().collect() } else { HashMap::new() };
        let trusted = view.contacts()?.iter().any(|(n, _, _)| *n == peer.to_string());
        let endpoints: HashSet<&str> = peer_endpoints.iter().map(String::as_str).collect();
        let mut candidates: Vec<([u8; 32], &BundleMeta)> = Vec::new();
        let mut offers: Vec<Offer> = Vec::new();
        let mut catalog = view.all_bundle_meta()?;
        let blocked = super::block::blocked_in(&view)?;
        catalog.retain(|(_, m)| !blocked.contains(&m.author));
        for (digest, m) in &catalog {
            // What the peer holds goes again only as carrier copies (below).
            let held = peer_holds.contains(digest);
            if chosen.contains(digest)
                || (held && (!carrier_copies || entitled_all.contains(digest)))
                || m.expires_unix_ms < now
                || matches!(m.state, BundleState::Invite | BundleState::Consumed)
            {
                continue;
            }
            let mut offer = offer_of(m);
            // What we keep for others goes to a peer that receives for its endpoint (a claim
            // anyone can make: only what is already carried for others rides on it), and
            // control that releases storage everywhere floods. Our own and our communities'
            // bundles reach a stranger only as the routing strategy's carrier copies.
            let kept = super::ledger::kept_for_others(m, me);
            // (Release lists name no one: they go to anyone.)
            if m.state == BundleState::Signal && !kept && !known && m.doc != super::release::RELEASES_DOC {
                continue;
            }
            // Our signals go with carrier copies when they have some: a relay cannot tell
            // them from anything else it carries, so they cross relays as copies do.
            let signal_floods = (m.state == BundleState::Signal && !carried.contains_key(digest)) || floods(m);
            // Public content we read (a source we follow) goes to a peer that reads its
            // route too (one of the route's recent tags is among the peer's): followers
            // pass on what they follow.
            let public = m.state == BundleState::Applied
                && DocId::parse(&m.doc).is_some_and(|d| d.is_public())
                && m.opener.is_some_and(|route| {
                    let today = crate::cloak::day_of(now);
                    (today.saturating_sub(2)..=today)
                        .any(|day| endpoints.contains(crate::cloak::endpoint(&route.tag(day)).as_str()))
                });
            if (kept && endpoints.contains(m.destination.as_str())) || public || signal_floods {
            } else if let Some(CustodyRow { record: r, .. }) = records.get(digest) {
                offer.relation = if trusted { Relation::Trusted } else { Relation::Stranger };
                offer.copies = if carrier_copies { r.copies } else { 0 };
                offer.holder_next_ms = self.contact_plan.next_contact(me, &r.pending, now);
                offer.peer_next_ms = self.contact_plan.next_contact(peer, &r.pending, now);
            } else if let Some(&copies) = carried.get(digest) {
                // Copies to hand on: for what we carry, for another member's bundle we took
                // as a destination, or for a heads announcement (ours or another's). Another
                // carrier may get some, as the strategy decides (binary spray among carriers
                // too).
                offer.relation = Relation::Stranger;
                offer.copies = copies;
                if let Some(to) = node_of_endpoint(&m.destination) {
                    offer.holder_next_ms = self.contact_plan.next_contact(me, &[to], now);
                    offer.peer_next_ms = self.contact_plan.next_contact(peer, &[to], now);
                }
            } else {
                continue; // carried for others without copies: wait for a destination
            }
            if held && (offer.relation != Relation::Stranger || offer.copies == 0) {
                continue;
            }
            candidates.push((*digest, m));
            offers.push(offer);
        }
        let mut handing = 0usize;
        // A destination carries too: a member that takes a bundle for its community gets
        // copies as the strategy decides, so it can pass the bundle on past relays to
        // members its author never meets (not a bundle for the peer alone). One that
        // already holds the bundle (from a stick) gets the copies alone.
        let mut copies_for_held = Vec::new();
        if carrier_copies {
            let by_digest: HashMap<&[u8; 32], &BundleMeta> = catalog.iter().map(|(d, m)| (d, m)).collect();
            let mut destination_copies = |digest: &[u8; 32]| -> u32 {
                let Some(m) = by_digest.get(digest) else { return 0 };
                if m.destination == peer.endpoint() || m.state == BundleState::Signal || handing >= HANDOVER_ENTRIES_MAX
                {
                    return 0;
                }
                let budget = records.get(digest).map(|r| r.record.copies).or_else(|| carried.get(digest).copied());
                let offer = Offer { copies: budget.unwrap_or(0), ..offer_of(m) };
                let copies = strategy.choose(&[offer]).first().map_or(0, |p| p.copies);
                handing += usize::from(copies > 0);
                copies
            };
            for o in out.iter_mut() {
                o.copies = destination_copies(&o.digest);
            }
            for digest in held_entitled {
                let copies = destination_copies(&digest);
                if copies > 0 {
                    copies_for_held.push((digest, copies));
                }
            }
        }
        for p in strategy.choose(&offers) {
            let (digest, m) = candidates[p.index];
            if peer_holds.contains(&digest) {
                if p.copies > 0 && handing < HANDOVER_ENTRIES_MAX {
                    handing += 1;
                    copies_for_held.push((digest, p.copies));
                }
                continue;
            }
            // The hand-over frame holds at most HANDOVER_ENTRIES_MAX copies; beyond it a
            // bundle goes without copies (as a plain carried bundle) or waits.
            let copies = if p.copies > 0 && handing < HANDOVER_ENTRIES_MAX {
                handing += 1;
                p.copies
            } else {
                0
            };
            if p.copies > 0 && copies == 0 {
                continue;
            }
            out.push(Outgoing {
                digest,
                expires_unix_ms: m.expires_unix_ms,
                bytes: m.bytes,
                carried: !records.contains_key(&digest),
                copies,
            });
        }
        Ok(LinkPlan { outgoing: out, skipped, copies_for_held })
    }

    /// Takes the carrier copies `peer` handed over (its hand-over list: digest and
    /// copies), for bundles it sent on this link or that we already hold. For each bundle
    /// we hold that is neither ours nor for us alone (carried for others, or another
    /// member's bundle for our community), we may hand on up to the copies given (capped:
    /// the count is the peer's word). Returns the digests whose copies we took: the
    /// receipt the peer spends its copies by. What we did not store (no room, refused),
    /// our own bundles, bundles for us alone, and bundles we already hold with as many
    /// copies are not in it: those copies stay with the peer for another carrier.
    pub fn take_handover(&mut self, handed: &[([u8; 32], u32)]) -> Result<Vec<[u8; 32]>, Error> {
        let me = self.node_id();
        let mut t = self.write_txn()?;
        let mut held = Vec::new();
        for (digest, copies) in handed.iter().take(HANDOVER_ENTRIES_MAX) {
            let Some(m) = t.bundle_meta(digest)? else { continue };
            let carrier = m.state != BundleState::Signal && m.author != me && m.destination != me.endpoint();
            if carrier {
                let have = t.carrier_copies_of(digest)?;
                let copies = (*copies).min(CARRIER_COPIES_MAX);
                if copies > have {
                    t.set_carrier_copies(digest, copies)?;
                    held.push(*digest);
                }
            }
        }
        t.commit()?;
        Ok(held)
    }

    /// Spends the carrier copies we handed over (`handed`, from [`Node::plan_link`]) for
    /// the bundles the peer says it now holds (`receipt`): from our custody records'
    /// budgets, or from what we carry. A copy the peer did not take is not spent: it goes
    /// to another carrier. Returns how many handed bundles the peer did not take.
    pub fn handed_over(&mut self, handed: &[([u8; 32], u32)], receipt: &HashSet<[u8; 32]>) -> Result<usize, Error> {
        let now = (self.clock)();
        let me = self.node_id();
        let records = super::custody::budgets(&self.store.read()?, me, now)?;
        let mut t = self.write_txn()?;
        let mut refused = 0;
        for (digest, copies) in handed.iter().filter(|(_, c)| *c > 0) {
            if !receipt.contains(digest) {
                refused += 1;
                continue;
            }
            if let Some(row) = records.get(digest) {
                super::custody::spend(&mut t, row, *copies, now)?;
            } else {
                let have = t.carrier_copies_of(digest)?;
                t.set_carrier_copies(digest, have.saturating_sub(*copies))?;
            }
        }
        t.commit()?;
        Ok(refused)
    }
}

/// The strategy's view of a stored bundle, as offered to a destination (callers set
/// the relation and copies).
fn offer_of(m: &BundleMeta) -> Offer {
    let content = match m.state {
        BundleState::Applied | BundleState::WaitingKey => {
            DocId::parse(&m.doc).and_then(|d| d.kind()).map_or(Class::Content, |k| k.class())
        }
        _ => Class::Control,
    };
    Offer {
        class: Class::of(content, m.bytes as u64),
        bytes: m.bytes as u64,
        expires_ms: m.expires_unix_ms,
        relation: Relation::Destination,
        copies: 0,
        holder_next_ms: None,
        peer_next_ms: None,
    }
}

/// The node an endpoint names (`dtn://<node-id>/caravan`), if it names one.
fn node_of_endpoint(endpoint: &str) -> Option<NodeId> {
    NodeId::parse(endpoint.strip_prefix("dtn://")?.strip_suffix("/caravan")?)
}

/// The node as links see it: each method is the node's own (`live.rs`, `export.rs`,
/// `query.rs`, `import.rs`).
impl crate::link::LinkNode for Node {
    fn node_id(&self) -> NodeId {
        Node::node_id(self)
    }
    fn now(&self) -> u64 {
        Node::now(self)
    }
    fn stick_header_key(&self) -> [u8; 32] {
        Node::stick_header_key(self)
    }
    fn summary_for(&mut self, peer: NodeId, relay: bool) -> Result<LinkSummary, Error> {
        Node::summary_for(self, peer, relay)
    }
    fn plan_link(
        &mut self,
        peer: NodeId,
        peer_endpoints: &[String],
        peer_holds: &HashSet<[u8; 32]>,
        relay: bool,
    ) -> Result<LinkPlan, Error> {
        Node::plan_link(self, peer, peer_endpoints, peer_holds, relay)
    }
    fn plan_link_with(
        &mut self,
        peer: NodeId,
        peer_endpoints: &[String],
        peer_holds: &HashSet<[u8; 32]>,
        relay: bool,
        carrier_copies: bool,
    ) -> Result<LinkPlan, Error> {
        Node::plan_link_with(self, peer, peer_endpoints, peer_holds, relay, carrier_copies)
    }
    fn plan_export(&mut self, target: Target) -> Result<Vec<Outgoing>, Error> {
        Node::plan_export(self, target)
    }
    fn take_handover(&mut self, handed: &[([u8; 32], u32)]) -> Result<Vec<[u8; 32]>, Error> {
        Node::take_handover(self, handed)
    }
    fn handed_over(&mut self, handed: &[([u8; 32], u32)], receipt: &HashSet<[u8; 32]>) -> Result<usize, Error> {
        Node::handed_over(self, handed, receipt)
    }
    fn bundles_bytes(&self, digests: &[[u8; 32]]) -> Result<Vec<Option<Vec<u8>>>, Error> {
        Node::bundles_bytes(self, digests)
    }
    fn holds_each(&self, digests: &[[u8; 32]]) -> Result<Vec<bool>, Error> {
        Node::holds_each(self, digests)
    }
    fn import_bundles(&mut self, bundles: &[&[u8]]) -> Result<ImportReport, Error> {
        Node::import_many(self, bundles.iter().copied())
    }
}

/// Whether a bundle we carry unopened floods (goes to every peer): the smallest cloaks,
/// where answers, notices, grants and announcements travel. A carrier cannot tell them
/// apart, nor from a short post, so size is the only sign it goes by; larger cloaks
/// travel as carrier copies.
fn floods(m: &BundleMeta) -> bool {
    m.opener.is_none() && m.state == BundleState::Carried && (m.bytes as usize) <= crate::limits::FLOOD_BYTES_MAX
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{Kit, carry, community, import};
    use super::*;

    fn copies_of(plan: &LinkPlan, digest: &[u8; 32]) -> u32 {
        plan.handover().iter().filter(|(d, _)| d == digest).map(|(_, c)| *c).sum()
    }

    /// Carrier copies go with a plan but are spent only for what the peer says it took;
    /// the peer takes at most the cap, and only copies it did not already have.
    #[test]
    fn copies_are_spent_by_receipt_and_taken_within_the_cap() {
        let kit = Kit::new();
        let (mut a, mut b, mut r) = (kit.node("A"), kit.node("B"), kit.node("R"));
        let cid = community(&mut a, &mut b, Role::Member);
        a.post(&cid, "for B, through R").unwrap();
        a.export(Target::Everyone).unwrap();
        let me = a.node_id();
        let rows = a.store.read().unwrap().custody_records(me).unwrap();
        let post = rows.iter().max_by_key(|row| row.seq).unwrap().digest;

        let none = HashSet::new();
        let plan = a.plan_link(r.node_id(), &[], &none, true).unwrap();
        let offered = copies_of(&plan, &post);
        assert!(offered > 0, "a relay gets carrier copies of a bundle in custody: {plan:?}");
        // Refused (nothing in the receipt): nothing spent.
        assert!(a.handed_over(&plan.handover(), &HashSet::new()).unwrap() > 0);
        let again = a.plan_link(r.node_id(), &[], &none, true).unwrap();
        assert_eq!(copies_of(&again, &post), offered, "copies were spent without a receipt");

        // R stores the bundles, then takes the copies; a claim over the cap is capped.
        let digests: Vec<[u8; 32]> = plan.outgoing.iter().map(|o| o.digest).collect();
        let bytes: Vec<Vec<u8>> = a.bundles_bytes(&digests).unwrap().into_iter().flatten().collect();
        import(&mut r, &bytes);
        let inflated: Vec<([u8; 32], u32)> = plan.handover().iter().map(|(d, c)| (*d, c + 1000)).collect();
        let receipt: HashSet<[u8; 32]> = r.take_handover(&inflated).unwrap().into_iter().collect();
        assert!(receipt.contains(&post));
        assert_eq!(r.store.read().unwrap().carrier_copies_of(&post).unwrap(), CARRIER_COPIES_MAX);
        // The same copies again: R already has as many, so no receipt (A keeps them).
        assert!(r.take_handover(&inflated).unwrap().is_empty());
        // A bundle R does not hold: no receipt.
        assert!(r.take_handover(&[([7; 32], 3)]).unwrap().is_empty());

        // With the receipt, A spends what it handed over.
        assert_eq!(a.handed_over(&plan.handover(), &receipt).unwrap(), 0);
        let holds: HashSet<[u8; 32]> = digests.into_iter().collect();
        let after = a.plan_link(r.node_id(), &[], &holds, true).unwrap();
        assert!(copies_of(&after, &post) < offered, "{after:?}");
    }

    /// What the peer already holds is not sent again; what it is entitled to and lacks is.
    #[test]
    fn a_peer_gets_what_it_lacks_and_not_what_it_holds() {
        let kit = Kit::new();
        let (mut a, mut b) = (kit.node("A"), kit.node("B"));
        let cid = community(&mut a, &mut b, Role::Member);
        a.post(&cid, "one").unwrap();
        let summary = b.summary_for(a.node_id(), false).unwrap();
        let holds: HashSet<[u8; 32]> = summary.digests.iter().copied().collect();
        assert!(!holds.is_empty());
        let plan = a.plan_link(b.node_id(), &summary.endpoints, &holds, false).unwrap();
        assert!(plan.outgoing.iter().all(|o| !holds.contains(&o.digest)), "{plan:?}");
        let digests: Vec<[u8; 32]> = plan.outgoing.iter().map(|o| o.digest).collect();
        let bytes: Vec<Vec<u8>> = a.bundles_bytes(&digests).unwrap().into_iter().flatten().collect();
        import(&mut b, &bytes);
        assert_eq!(b.feed(&cid).unwrap().len(), 1, "the post went over the link");
    }

    /// A follower gets a source's public posts over a live link from a peer that follows
    /// it too (and carries nothing for others), never meeting the author.
    #[test]
    fn followers_pass_on_what_they_follow_over_a_live_link() {
        use super::super::follow::Followed;
        let kit = Kit::new();
        let (mut author, mut r, mut f) = (kit.node("Author"), kit.node("Relay"), kit.node("Reader"));
        r.set_relay_quota(0).unwrap();
        r.add_contact(&f.card(), &[]).unwrap();
        f.add_contact(&r.card(), &[]).unwrap();
        for n in [&mut r, &mut f] {
            n.follow(Followed::Node(author.node_id())).unwrap();
        }
        author.add_profile_post("Swarm season starts Monday", Audience::Public).unwrap();
        carry(&mut author, &mut r);
        let summary = f.summary_for(r.node_id(), false).unwrap();
        let holds: HashSet<[u8; 32]> = summary.digests.iter().copied().collect();
        let plan = r.plan_link(f.node_id(), &summary.endpoints, &holds, false).unwrap();
        let digests: Vec<[u8; 32]> = plan.outgoing.iter().map(|o| o.digest).collect();
        let bytes: Vec<Vec<u8>> = r.bundles_bytes(&digests).unwrap().into_iter().flatten().collect();
        import(&mut f, &bytes);
        let posts = f.profile_posts(&author.node_id(), Audience::Public).unwrap();
        assert_eq!(posts.len(), 1, "the post went over the link: {plan:?}");
        // A peer that does not follow the author gets none of it.
        let mut other = kit.node("Other");
        other.add_contact(&r.card(), &[]).unwrap();
        r.add_contact(&other.card(), &[]).unwrap();
        let summary = other.summary_for(r.node_id(), false).unwrap();
        let holds: HashSet<[u8; 32]> = summary.digests.iter().copied().collect();
        let plan = r.plan_link(other.node_id(), &summary.endpoints, &holds, false).unwrap();
        let to_other: HashSet<[u8; 32]> = plan.outgoing.iter().map(|o| o.digest).collect();
        let post: Vec<&[u8; 32]> = digests.iter().filter(|d| !to_other.contains(*d)).collect();
        assert_eq!(post.len(), 1, "the post's bundle goes to the follower alone: {plan:?}");
    }
}
