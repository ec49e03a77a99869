//! Export planning: which stored bundles go to a target, and what a live link sends.

use super::*;

impl Node {
    /// Seals our unsent changes, then returns the bundles `target` needs, as bytes, in
    /// priority order (key grants first). Decided only from what we know the target has.
    pub fn export(&mut self, target: Target) -> Result<Vec<Vec<u8>>, Error> {
        let plan = self.plan_export(target)?;
        let view = self.store.read()?;
        let mut out = Vec::with_capacity(plan.len());
        for o in plan {
            if let Some(b) = view.bundle(&o.digest)? {
                out.push(b);
            }
        }
        Ok(out)
    }

    /// Like [`Node::export`], but returns what to send without loading it, so a link can
    /// stream large exports: our own and our communities' bundles first, then those we
    /// carry for others. Fetch each with [`Node::bundle_bytes`].
    pub fn plan_export(&mut self, target: Target) -> Result<Vec<Outgoing>, Error> {
        self.seal_all()?;
        let now = (self.clock)();
        let view = self.store.read()?;
        let catalog = view.all_bundle_meta()?;
        let scope = self.scope_for(&view, target, &catalog)?;
        let by_digest: HashMap<[u8; 32], &BundleMeta> = catalog.iter().map(|(d, m)| (*d, m)).collect();
        let mut out: Vec<Outgoing> = sync::plan(&catalog, &scope, now)
            .into_iter()
            .filter_map(|digest| {
                let m = by_digest.get(&digest)?;
                Some(Outgoing {
                    digest,
                    expires_unix_ms: m.expires_unix_ms,
                    bytes: m.bytes,
                    carried: matches!(m.state, BundleState::WaitingKey | BundleState::Carried),
                })
            })
            .collect();
        out.sort_by_key(|o| o.carried);
        // Remembered per target and document (one row each), and only for targets we
        // know: anyone can connect, and a stranger just gets the small announcements again.
        let known = match target {
            Target::Peer(peer) => self.knows(&view, peer)?,
            Target::Community(_) | Target::Everyone => true,
        };
        drop(view);
        if known && !scope.latest_own.is_empty() {
            let mut t = self.write_txn()?;
            for (doc, digest) in &scope.latest_own {
                t.set_announced(&target_key(target), doc, digest)?;
            }
            t.commit()?;
        }
        Ok(out)
    }

    /// The endpoints this node receives for: its own, and its communities' group
    /// endpoints.
    pub fn endpoints(&mut self) -> Result<Vec<String>, Error> {
        let mut out = vec![self.node_id().endpoint()];
        out.extend(self.communities()?.into_iter().map(|c| c.id.endpoint()));
        Ok(out)
    }

    /// Whether `peer` is someone this node knows: a contact, or a member of one of its
    /// communities.
    pub(super) fn knows(&mut self, r: &impl Reads, peer: NodeId) -> Result<bool, Error> {
        if self.contact_card(r, &peer)?.is_some() {
            return Ok(true);
        }
        for c in self.communities()? {
            if self.members(&c.id)?.iter().any(|(n, _, _)| NodeId::parse(n) == Some(peer)) {
                return Ok(true);
            }
        }
        Ok(false)
    }

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
            if public || disclosed.contains(&m.destination) || m.author == peer || m.state == BundleState::Signal {
                digests.push(d);
            }
        }
        if known {
            digests.extend(view.all_forgotten()?);
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
    /// (small; they flood), bundles we carry for its endpoints, and carrier copies of
    /// our own bundles in custody as the routing strategy decides with the contact plan
    /// (copies handed over are taken from the custody record's budget). Our own custody
    /// signals (which say whose bundles we take: our memberships) go to a stranger only
    /// if it is a `relay` the operator configured.
    pub fn plan_link(
        &mut self,
        peer: NodeId,
        peer_endpoints: &[String],
        peer_holds: &HashSet<[u8; 32]>,
        relay: bool,
    ) -> Result<LinkPlan, Error> {
        let entitled = self.plan_export(Target::Peer(peer))?;
        let known = {
            let view = self.store.read()?;
            relay || self.knows(&view, peer)?
        };
        let before = entitled.len();
        let mut out: Vec<Outgoing> = entitled.into_iter().filter(|o| !peer_holds.contains(&o.digest)).collect();
        let skipped = before - out.len();
        let chosen: HashSet<[u8; 32]> = out.iter().map(|o| o.digest).collect();
        let now = (self.clock)();
        let me = self.node_id();
        let view = self.store.read()?;
        let records: HashMap<[u8; 32], (u64, Record)> = view
            .custody_records()?
            .into_iter()
            .filter_map(|(seq, b)| split_custody(me, &b).map(|(d, r)| (d, (seq, r))))
            .collect();
        let trusted = view.contacts()?.iter().any(|(n, _, _)| *n == peer.to_string());
        let endpoints: HashSet<&str> = peer_endpoints.iter().map(String::as_str).collect();
        let mut candidates: Vec<([u8; 32], &BundleMeta)> = Vec::new();
        let mut offers: Vec<Offer> = Vec::new();
        let catalog = view.all_bundle_meta()?;
        for (digest, m) in &catalog {
            if chosen.contains(digest)
                || peer_holds.contains(digest)
                || m.expires_unix_ms < now
                || matches!(m.state, BundleState::Invite | BundleState::Consumed)
            {
                continue;
            }
            let content = match m.state {
                BundleState::Applied | BundleState::WaitingKey => match DocId::parse(&m.doc) {
                    Some(DocId::Community { part: Part::Roster, .. }) => Class::Membership,
                    Some(DocId::Profile { .. } | DocId::Community { part: Part::Public, .. }) => Class::Profile,
                    _ => Class::Content,
                },
                _ => Class::Control,
            };
            let mut offer = Offer {
                class: Class::of(content, m.bytes as u64),
                bytes: m.bytes as u64,
                expires_ms: m.expires_unix_ms,
                relation: Relation::Destination,
                copies: 0,
                holder_next_ms: None,
                peer_next_ms: None,
            };
            // What we keep for others goes to a peer that receives for its endpoint (a claim
            // anyone can make: only what is already carried for others rides on it), and
            // control that releases storage everywhere floods. Our own and our communities'
            // bundles reach a stranger only as the routing strategy's carrier copies.
            let kept = super::ledger::kept_for_others(m, me);
            if m.state == BundleState::Signal && !kept && !known {
                continue;
            }
            if (kept && endpoints.contains(m.destination.as_str())) || m.state == BundleState::Signal {
            } else if let Some((_, r)) = records.get(digest) {
                offer.relation = if trusted { Relation::Trusted } else { Relation::Stranger };
                offer.copies = r.copies;
                offer.holder_next_ms = self.contact_plan.next_contact(me, &r.pending, now);
                offer.peer_next_ms = self.contact_plan.next_contact(peer, &r.pending, now);
            } else {
                continue; // carried for others: wait for a destination
            }
            candidates.push((*digest, m));
            offers.push(offer);
        }
        let picks = Caravan::default().choose(&offers);
        let mut spent: Vec<(u64, [u8; 32], Record)> = Vec::new();
        for p in picks {
            let (digest, m) = candidates[p.index];
            if p.copies > 0
                && let Some((seq, r)) = records.get(&digest)
            {
                let mut r = r.clone();
                r.copies = r.copies.saturating_sub(p.copies);
                r.last_spray_ms = now;
                spent.push((*seq, digest, r));
            }
            out.push(Outgoing {
                digest,
                expires_unix_ms: m.expires_unix_ms,
                bytes: m.bytes,
                carried: !records.contains_key(&digest),
            });
        }
        drop(view);
        if !spent.is_empty() {
            let mut t = self.write_txn()?;
            for (seq, digest, r) in spent {
                t.put_custody(seq, &[&digest[..], &r.to_bytes()].concat())?;
            }
            t.commit()?;
        }
        Ok(LinkPlan { outgoing: out, skipped })
    }

    pub(super) fn scope_for(
        &mut self,
        view: &crate::store::View,
        target: Target,
        catalog: &[([u8; 32], BundleMeta)],
    ) -> Result<sync::Scope, Error> {
        let mut scope = sync::Scope::default();
        let me = self.node_id();
        let (docs, recipients): (Vec<DocId>, Vec<NodeId>) = match target {
            Target::Everyone => {
                scope.everything = true;
                return Ok(scope);
            }
            Target::Peer(peer) => {
                scope.grant_destinations.insert(peer.endpoint());
                let mut docs = vec![DocId::Profile { owner: me, audience: Audience::Public }];
                if let Some(c) = view.contacts()?.into_iter().find(|(n, _, _)| *n == peer.to_string()) {
                    docs.extend(
                        Audience::ALL
                            .into_iter()
                            .filter(|a| c.1 & a.bit() != 0)
                            .map(|audience| DocId::Profile { owner: me, audience }),
                    );
                }
                for c in self.communities()? {
                    let roster = self.members(&c.id)?;
                    if roster.iter().any(|(n, _, _)| *n == peer.to_string()) {
                        docs.extend(Part::ALL.map(|part| DocId::Community { id: c.id, part }));
                        scope.opaque_docs.extend(Part::ALL.map(|part| DocId::Community { id: c.id, part }.to_string()));
                    }
                }
                (docs, vec![peer])
            }
            Target::Community(cid) => {
                let roster = self.members(&cid)?;
                let members: Vec<NodeId> =
                    roster.iter().filter_map(|(n, _, _)| NodeId::parse(n)).filter(|n| *n != me).collect();
                scope.grant_destinations.extend(members.iter().map(NodeId::endpoint));
                let docs: Vec<DocId> = Part::ALL.iter().map(|part| DocId::Community { id: cid, part: *part }).collect();
                scope.opaque_docs.extend(docs.iter().map(ToString::to_string));
                (docs, members)
            }
        };
        let held: HashSet<&str> = catalog.iter().map(|(_, m)| m.doc.as_str()).collect();
        for id in docs {
            let name = id.to_string();
            if !held.contains(name.as_str()) {
                continue;
            }
            let mut known_per = Vec::new();
            for r in &recipients {
                let known = view.peer_heads(&r.to_string(), &name)?;
                if !known.is_empty()
                    && let Some(key_scope) = id.key_scope()
                {
                    scope.grants_delivered.insert((r.endpoint(), key_scope));
                }
                known_per.push(known);
            }
            if recipients.is_empty() {
                known_per.push(Vec::new());
            }
            // Our latest sealed bundle tells recipients what we have. Hand it to each
            // target once; it is small, and a lost copy only makes the peer send us more.
            if let Some((digest, _)) = view.sealed(&name)?
                && view.announced(&target_key(target), &name)? != Some(digest)
            {
                scope.latest_own.insert(name.clone(), digest);
            }
            let mut lacking_changes: HashSet<ChangeHash> = HashSet::new();
            let state = self.load_doc(view, id)?;
            for known in known_per {
                let have: Vec<ChangeHash> =
                    known.into_iter().map(ChangeHash).filter(|h| state.doc.get_change_by_hash(h).is_some()).collect();
                lacking_changes.extend(state.doc.get_changes(&have).iter().map(|c| c.hash()));
            }
            let mut bundles = HashSet::new();
            for h in lacking_changes {
                if let Some(id) = view.change_bundle(&h.0)?
                    && let Some(d) = view.bundle_by_id(&id)?
                {
                    bundles.insert(d);
                }
            }
            scope.lacking.insert(name, bundles);
        }
        Ok(scope)
    }

    /// Who a document's bundles are for, ourselves excluded: a community's members, or
    /// the contacts in a profile audience (every contact for the public profile).
    pub(super) fn destinations(&mut self, r: &impl Reads, id: DocId) -> Result<Vec<NodeId>, Error> {
        let me = self.node_id();
        let mut out: Vec<NodeId> = match id {
            DocId::Community { id: cid, .. } => {
                let roster = self.load_doc(r, DocId::Community { id: cid, part: Part::Roster })?;
                doc::read_roster(&roster.doc).into_iter().filter_map(|(n, _, _)| NodeId::parse(&n)).collect()
            }
            DocId::Profile { audience, .. } => r
                .contacts()?
                .into_iter()
                .filter(|(_, bits, _)| audience == Audience::Public || bits & audience.bit() != 0)
                .filter_map(|(n, _, _)| NodeId::parse(&n))
                .collect(),
        };
        out.retain(|n| *n != me);
        Ok(out)
    }
}
