//! Export planning: which stored bundles go to a target (a stick, a file, a peer).

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
        let mut catalog = view.all_bundle_meta()?;
        // Nothing of a blocked node is passed on, even what was carried before it was.
        let blocked = super::block::blocked_in(&view)?;
        catalog.retain(|(_, m)| !blocked.contains(&m.author));
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
                    copies: 0,
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
                if t.announced(&target_key(target), doc)?.as_ref() != Some(digest) {
                    t.set_announced(&target_key(target), doc, digest)?;
                }
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

    pub(super) fn scope_for(
        &mut self,
        view: &crate::store::View,
        target: Target,
        catalog: &[([u8; 32], BundleMeta)],
    ) -> Result<sync::Scope, Error> {
        let mut scope = sync::Scope::default();
        let me = self.node_id();
        // Every document of a community we hold bundles of, whatever its kind.
        let community_docs = |cid: CommunityId| -> Vec<DocId> {
            let mut docs: Vec<DocId> = catalog
                .iter()
                .filter_map(|(_, m)| DocId::parse(&m.doc))
                .filter(|d| matches!(d, DocId::Community { id, .. } if *id == cid))
                .collect();
            docs.sort();
            docs.dedup();
            docs
        };
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
                        let of_community = community_docs(c.id);
                        scope.opaque_docs.extend(of_community.iter().map(ToString::to_string));
                        docs.extend(of_community);
                    }
                }
                (docs, vec![peer])
            }
            Target::Community(cid) => {
                let roster = self.members(&cid)?;
                let members: Vec<NodeId> =
                    roster.iter().filter_map(|(n, _, _)| NodeId::parse(n)).filter(|n| *n != me).collect();
                scope.grant_destinations.extend(members.iter().map(NodeId::endpoint));
                let docs = community_docs(cid);
                scope.opaque_docs.extend(docs.iter().map(ToString::to_string));
                (docs, members)
            }
        };
        let held: HashSet<&str> = catalog.iter().map(|(_, m)| m.doc.as_str()).collect();
        let announcements = view.announcements()?;
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
            // Others' latest heads, passed on (not the recipient's own: it knows them).
            for (key, _, digest) in &announcements {
                if let Some((author, doc)) = key.split_once('|')
                    && doc == name
                    && !recipients.iter().any(|r| r.to_string() == author)
                {
                    scope.relayed_heads.insert(*digest);
                }
            }
            let mut lacking_changes: HashSet<ChangeHash> = HashSet::new();
            // Recipients known to hold our heads lack nothing: no need to load the document.
            if let Some(heads) = view.doc_heads(&name)?
                && known_per.iter().all(|known| heads.iter().all(|h| known.contains(h)))
            {
                scope.lacking.insert(name, HashSet::new());
                continue;
            }
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
                let roster = self.load_doc(r, DocId::Community { id: cid, part: Part::ROSTER })?;
                let mut out: Vec<NodeId> =
                    builtin::read_roster(&roster.doc).into_iter().filter_map(|(n, _, _)| NodeId::parse(&n)).collect();
                // A new member may write before the roster reaches it: its changes are then
                // at least for the owners who vouched for it (its invitation's chain), so
                // they have a custodian and carriers to take them.
                if !out.contains(&me)
                    && let Ok((_, inv, _)) = self.membership(r, &cid)
                {
                    out.push(NodeId::from_signing_public(&inv.genesis.root));
                    out.extend(inv.chain.iter().map(|c| NodeId::from_signing_public(&c.issuer)));
                    out.sort();
                    out.dedup();
                }
                // The authority log decides: its members, and never someone it removed.
                if let Ok(log) = self.resolved(r, &cid) {
                    let gone: HashSet<NodeId> = log.state.gone.iter().map(NodeId::from_signing_public).collect();
                    out.retain(|n| !gone.contains(n));
                    out.extend(log.state.members.keys().map(NodeId::from_signing_public));
                    out.sort();
                    out.dedup();
                }
                out
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

#[cfg(test)]
mod tests {
    use super::super::testkit::{Kit, community};
    use super::*;

    fn planned(n: &mut Node, peer: NodeId) -> HashSet<[u8; 32]> {
        n.plan_export(Target::Peer(peer)).unwrap().into_iter().map(|o| o.digest).collect()
    }

    /// A peer is offered what it may have: a member its community's bundles; a stranger
    /// none of them (its public profile, at most).
    #[test]
    fn a_peer_is_offered_only_what_it_is_entitled_to() {
        let kit = Kit::new();
        let (mut a, mut b, s) = (kit.node("A"), kit.node("B"), kit.node("S"));
        let cid = community(&mut a, &mut b, Role::Member);
        let setup: HashSet<[u8; 32]> = a.held_digests().unwrap().into_iter().collect();
        a.post(&cid, "members only").unwrap();
        a.export(Target::Everyone).unwrap();
        // What B has not got yet: the post.
        let community_bundles: HashSet<[u8; 32]> = a
            .store
            .read()
            .unwrap()
            .all_bundle_meta()
            .unwrap()
            .into_iter()
            .filter(|(d, m)| m.destination == cid.endpoint() && !setup.contains(d))
            .map(|(d, _)| d)
            .collect();
        assert!(!community_bundles.is_empty());
        let to_b = planned(&mut a, b.node_id());
        assert!(community_bundles.iter().all(|d| to_b.contains(d)), "a member is not offered the post");
        let to_s = planned(&mut a, s.node_id());
        assert!(to_s.is_disjoint(&community_bundles), "a stranger was offered community bundles");
    }

    /// Custody destinations of a community edit are the other members, never the author.
    #[test]
    fn destinations_are_the_other_members() {
        let kit = Kit::new();
        let (mut a, mut b) = (kit.node("A"), kit.node("B"));
        let cid = community(&mut a, &mut b, Role::Member);
        let view = a.store.read().unwrap();
        let d = a.destinations(&view, DocId::Community { id: cid, part: Part::FEED }).unwrap();
        assert_eq!(d, vec![b.node_id()]);
    }
}
