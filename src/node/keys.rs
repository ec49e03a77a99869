//! Contacts, keys and grants, and minting: the one place that makes our bundles.

use super::*;

impl Node {
    /// Adds a contact, or updates one already known (its card, for a new name), placing
    /// it in `audiences` of our profile besides those it is in already. Members of an
    /// audience receive its key in a grant bundle with the next export. Says what changed.
    pub fn add_contact(&mut self, card: &ContactCard, audiences: &[Audience]) -> Result<ContactChange, Error> {
        let owner = card.node_id();
        if owner == self.node_id() {
            return Err(Error::Invalid("that is this node's own card; a contact is someone else".into()));
        }
        if audiences.contains(&Audience::FriendsOfFriends) {
            return Err(Error::Invalid(
                "friends-of-friends is not a list you fill: it is your friends and their friends; \
                 put people in friends"
                    .into(),
            ));
        }
        let known = self.contacts()?.into_iter().find(|c| c.card.node_id() == owner);
        let had = known.as_ref().map_or(0, |c| c.audiences.iter().fold(0u8, |b, a| b | a.bit()));
        let bits = audiences.iter().filter(|a| **a != Audience::Public).fold(had, |b, a| b | a.bit());
        let change = ContactChange {
            new: known.is_none(),
            renamed: known.as_ref().filter(|c| c.card.name != card.name).map(|c| c.card.name.clone()),
            audiences_added: Audience::ALL.into_iter().filter(|a| bits & !had & a.bit() != 0).collect(),
        };
        if !change.new && change.renamed.is_none() && change.audiences_added.is_empty() {
            return Ok(change);
        }
        let mut imp = Import::new(self.write_txn()?, (self.clock)());
        let result = (|| {
            imp.t.put_contact(&owner.to_string(), bits, &card.to_bytes())?;
            for audience in audiences.iter().filter(|a| **a != Audience::Public) {
                self.ensure_audience_grants(&mut imp.t, *audience)?;
            }
            if audiences.contains(&Audience::Friends) {
                self.publish_passes(&mut imp.t)?;
            }
            // Its profile bundles we carried unread: we read them now (and are a
            // destination of them, so they are answered for).
            let carried: Vec<[u8; 32]> = imp
                .t
                .all_bundle_meta()?
                .into_iter()
                .filter(|(_, m)| {
                    // Its profile content carried unread, and the keys it granted us.
                    let theirs = matches!(DocId::parse(&m.doc), Some(DocId::Profile { owner: o, .. }) if o == owner)
                        || matches!(doc::parse_scope(&m.doc), Some(ScopeOwner::Profile(o, _)) if o == owner);
                    theirs && matches!(m.state, BundleState::Carried | BundleState::Invite)
                })
                .map(|(d, _)| d)
                .collect();
            let mut carried = carried;
            carried.extend(self.newly_recognised(&imp)?);
            carried.sort();
            carried.dedup();
            self.reread(&mut imp, carried)
        })();
        let Import { t, touched, .. } = imp;
        self.finish(t, result, touched)?;
        Ok(change)
    }

    /// Takes a contact out of `audiences` of our profile, or, with no audiences, forgets
    /// it as a contact. Returns the audiences it left (`Error::Invalid` if it is not a
    /// contact). Each audience it left gets a new key epoch in the same operation, granted
    /// to everyone still in it: nothing written for that audience from now on is readable
    /// by the contact; what it could read before stays readable to it.
    pub fn remove_contact(&mut self, node: &NodeId, audiences: &[Audience]) -> Result<Vec<Audience>, Error> {
        let Some(known) = self.contacts()?.into_iter().find(|c| c.card.node_id() == *node) else {
            return Err(Error::Invalid(format!("{node} is not a contact")));
        };
        let mut t = self.write_txn()?;
        let left: Vec<Audience> = if audiences.is_empty() {
            t.remove_contact(&node.to_string())?;
            known.audiences.clone()
        } else {
            let drop = audiences.iter().fold(0u8, |b, a| b | a.bit());
            let had = known.audiences.iter().fold(0u8, |b, a| b | a.bit());
            t.put_contact(&node.to_string(), had & !drop, &known.card.to_bytes())?;
            known.audiences.iter().copied().filter(|a| drop & a.bit() != 0).collect()
        };
        for audience in left.iter().filter(|a| **a != Audience::Public) {
            self.rekey_audience(&mut t, *audience)?;
        }
        t.commit()?;
        Ok(left)
    }

    /// Starts a new epoch of our `audience` circle: a fresh key, granted to everyone in
    /// it now. Returns the epoch.
    fn rekey_audience(&mut self, t: &mut Txn, audience: Audience) -> Result<u32, Error> {
        let me = self.identity.signing_public();
        let scope = format!("p/{}/{audience}", self.node_id());
        let Some(current) = self.latest_grant(t, &scope)? else { return Ok(0) };
        let epoch = current.epoch + 1;
        let grant = Grant {
            granter: me,
            recipient: me,
            scope: scope.clone(),
            epoch,
            key: crypto::random_32(),
            invitation: None,
        };
        t.put_grant(&format!("{scope}#{epoch}"), &grant.encode())?;
        self.ensure_audience_grants(t, audience)?;
        if audience == Audience::Friends {
            self.publish_passes(t)?;
        }
        Ok(epoch)
    }

    /// Our profile's circles: each audience but the public one, who is in it, and its key
    /// epoch.
    pub fn circles(&self) -> Result<Vec<Circle>, Error> {
        let view = self.store.read()?;
        let contacts = self.contacts()?;
        let me = self.node_id();
        let mut out = Vec::new();
        for audience in Audience::ALL.into_iter().filter(|a| *a != Audience::Public) {
            let scope = format!("p/{me}/{audience}");
            out.push(Circle {
                audience,
                members: contacts
                    .iter()
                    .filter(|c| c.audiences.contains(&audience))
                    .map(|c| c.card.node_id())
                    .collect(),
                epoch: self.latest_grant(&view, &scope)?.map(|g| g.epoch),
            });
        }
        Ok(out)
    }

    /// The key epoch a grant bundle we stored carries (its inner header says it).
    fn grant_bundle_epoch(r: &impl Reads, digest: &[u8; 32]) -> Result<Option<u32>, Error> {
        let (Some(bytes), Some(meta)) = (r.bundle(digest)?, r.bundle_meta(digest)?) else { return Ok(None) };
        let Some(inner) = meta.inner_of(&bytes) else { return Ok(None) };
        Ok(meta.payload_of(&inner).and_then(|p| envelope::decode_envelope(p).ok()).map(|e| e.header.epoch))
    }

    /// All contacts.
    pub fn contacts(&self) -> Result<Vec<Contact>, Error> {
        Ok(self
            .store
            .read()?
            .contacts()?
            .into_iter()
            .filter_map(|(_, bits, card)| {
                let card = ContactCard::from_bytes(&card).ok()?;
                let audiences = Audience::ALL.into_iter().filter(|a| bits & a.bit() != 0).collect();
                Some(Contact { card, audiences })
            })
            .collect())
    }

    pub(super) fn contact_card(&self, r: &impl Reads, node: &NodeId) -> Result<Option<ContactCard>, Error> {
        let id = node.to_string();
        Ok(r.contacts()?.into_iter().find(|(n, _, _)| *n == id).and_then(|(_, _, c)| ContactCard::from_bytes(&c).ok()))
    }

    // ----- keys and grants ------------------------------------------------------------

    pub(super) fn latest_grant(&self, r: &impl Reads, scope: &str) -> Result<Option<Grant>, Error> {
        let prefix = format!("{scope}#");
        Ok(r.grants()?
            .into_iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .filter_map(|(_, g)| Grant::decode(&g).ok())
            .max_by_key(|g| g.epoch))
    }

    /// Ensures our key for `audience` exists and every contact in it has a grant bundle.
    pub(super) fn ensure_audience_grants(&mut self, t: &mut Txn, audience: Audience) -> Result<(), Error> {
        let me = self.node_id();
        let scope = format!("p/{me}/{audience}");
        let own = match self.latest_grant(t, &scope)? {
            Some(g) => g,
            None => {
                let g = Grant {
                    granter: self.identity.signing_public(),
                    recipient: self.identity.signing_public(),
                    scope: scope.clone(),
                    epoch: 0,
                    key: crypto::random_32(),
                    invitation: None,
                };
                t.put_grant(&format!("{scope}#0"), &g.encode())?;
                g
            }
        };
        // Who holds a grant of this epoch already (older epochs' grants do not count).
        let mut already: HashSet<String> = HashSet::new();
        for (digest, m) in t.all_bundle_meta()? {
            if m.state == BundleState::Grant
                && m.doc == scope
                && Self::grant_bundle_epoch(t, &digest)? == Some(own.epoch)
            {
                already.insert(m.destination);
            }
        }
        for (_, bits, card) in t.contacts()? {
            if bits & audience.bit() == 0 {
                continue;
            }
            let Ok(card) = ContactCard::from_bytes(&card) else { continue };
            if already.contains(&card.node_id().endpoint()) {
                continue;
            }
            let grant = Grant { recipient: card.signing_public, invitation: None, ..own.clone() };
            self.store_grant_bundle(t, (&card.signing_public, &card.agreement_public), &grant)?;
        }
        Ok(())
    }

    pub(super) fn next_sequence(&mut self, t: &mut Txn) -> Result<u64, Error> {
        self.sequence += 1;
        t.set_meta("sequence", &self.sequence.to_le_bytes())?;
        Ok(self.sequence)
    }

    /// Mints a grant for the node whose signing and agreement keys are `to`.
    pub(super) fn store_grant_bundle(
        &mut self,
        t: &mut Txn,
        to: (&[u8; 32], &[u8; 32]),
        grant: &Grant,
    ) -> Result<(), Error> {
        let (signing_public, agreement_public) = to;
        let to_node = NodeId::from_signing_public(signing_public);
        let me = self.node_id();
        let identity = self.identity.clone();
        let destination = to_node.endpoint();
        let seal = |seq| {
            let header = Header {
                kind: Kind::Grant,
                author: me,
                seq,
                doc: grant.scope.clone(),
                epoch: grant.epoch,
                heads: vec![],
                encrypted: true,
            };
            let header_bytes = header.encode();
            let inner = grant.encode();
            let signature = identity.sign(CONTEXT_GRANT_SIGNATURE, &[&header_bytes, &inner]);
            let wrapped = crypto::wrap(agreement_public, &header_bytes, &envelope::encode_signed(&inner, &signature))
                .map_err(|e| Error::Invalid(format!("cannot wrap a key for {to_node}: {e}")))?;
            Ok((header_bytes, wrapped))
        };
        let mint = Mint {
            destination: &destination,
            to: crate::cloak::To::Node(signing_public),
            doc: grant.scope.clone(),
            state: BundleState::Grant,
            kind: PayloadKind::Grant,
            heads: &[],
        };
        self.mint(t, mint, seal, &[], vec![to_node])?;
        Ok(())
    }

    /// The one place that makes a bundle of ours: takes the next sequence number (the
    /// custody id, signed into the header by `seal`), builds the BPv7 bundle around the
    /// sealed envelope, stores it, and opens its custody record when it has destinations.
    pub(super) fn mint(
        &mut self,
        t: &mut Txn,
        what: Mint<'_>,
        seal: impl FnOnce(u64) -> Result<(Vec<u8>, Vec<u8>), Error>,
        changes: &[[u8; 32]],
        custody_for: Vec<NodeId>,
    ) -> Result<([u8; 32], BundleId), Error> {
        let seq = self.next_sequence(t)?;
        let (header_bytes, body) = seal(seq)?;
        let payload = envelope::encode_envelope(&header_bytes, &body);
        let now = (self.clock)();
        let me = self.node_id();
        let inner = bundle::build(&me.endpoint(), what.destination, now, seq, self.lifetime, &payload)
            .map_err(|e| Error::Invalid(e.to_string()))?;
        let info = bundle::parse_untimed(&inner).map_err(|e| Error::Invalid(e.to_string()))?;
        let release = self.release_of(&payload_digest(&payload));
        let cloaked = crate::cloak::cloak(&inner, what.to, now, self.lifetime, &release)
            .map_err(|e| Error::Invalid(format!("cannot cloak a bundle for {}: {e}", what.destination)))?;
        let bytes = cloaked.bytes;
        let digest = crypto::derive(CONTEXT_BUNDLE_DIGEST, &[&bytes]);
        let meta = BundleMeta {
            state: what.state,
            author: me,
            seq,
            verified: true,
            payload: payload_digest(&payload),
            doc: what.doc,
            destination: what.destination.to_string(),
            expires_unix_ms: now.saturating_add(self.lifetime.as_millis() as u64),
            changes: changes.len() as u32,
            bytes: bytes.len() as u32,
            kind: what.kind,
            payload_at: info.payload_at(),
            opener: Some(cloaked.route),
            release,
        };
        let id = BundleId { source: me, seq };
        t.put_bundle(&digest, &bytes, &meta)?;
        t.put_bundle_id(&me.0, seq, &digest)?;
        t.index_changes(&id, changes)?;
        if !custody_for.is_empty() {
            let carries = super::custody::Carries { changes, heads: what.heads };
            super::custody::open_custody(t, id, digest, meta.expires_unix_ms, custody_for, carries, now)?;
        }
        Ok((digest, id))
    }

    /// Removes a stored bundle and what hangs on it (its invitation or key wait), and
    /// keeps the relay ledger in step.
    pub(super) fn drop_stored(&mut self, t: &mut Txn, digest: &[u8; 32]) -> Result<(), Error> {
        drop_rows(t, digest)?;
        if let Some(ledger) = self.ledger.as_mut() {
            ledger.remove(digest);
        }
        Ok(())
    }

    /// Drops a stored bundle and remembers it (and its payload) as known until it expires:
    /// every destination has it, or it was superseded. A copy that comes back, however
    /// re-wrapped, is a duplicate.
    pub(super) fn forget(&mut self, t: &mut Txn, digest: &[u8; 32]) -> Result<(), Error> {
        let Some(meta) = t.bundle_meta(digest)? else { return Ok(()) };
        let until = meta.expires_unix_ms.min((self.clock)().saturating_add(self.lifetime_cap_ms));
        self.drop_stored(t, digest)?;
        t.set_forgotten(digest, until)?;
        t.set_forgotten(&meta.payload, until)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{Kit, community};
    use super::*;

    /// Every bundle we mint takes the next custody sequence number, signed in its header:
    /// no two of our stored bundles share one.
    #[test]
    fn minted_bundles_take_distinct_increasing_custody_ids() {
        let kit = Kit::new();
        let (mut a, mut b) = (kit.node("A"), kit.node("B"));
        let cid = community(&mut a, &mut b, Role::Member);
        for i in 0..3 {
            a.post(&cid, &format!("post {i}")).unwrap();
            a.export(Target::Everyone).unwrap();
        }
        let me = a.node_id();
        let mut seqs: Vec<u64> = a
            .store
            .read()
            .unwrap()
            .all_bundle_meta()
            .unwrap()
            .into_iter()
            .filter(|(_, m)| m.author == me && m.kind != PayloadKind::Record)
            .map(|(_, m)| m.seq)
            .collect();
        let n = seqs.len();
        seqs.sort();
        seqs.dedup();
        assert_eq!(seqs.len(), n, "two bundles share a custody id");
        assert!(seqs.iter().all(|&s| s >= 1));
    }

    #[test]
    fn our_own_card_is_not_a_contact() {
        let kit = Kit::new();
        let mut a = kit.node("A");
        let card = a.card();
        assert!(a.add_contact(&card, &[]).is_err());
        assert!(a.contacts().unwrap().is_empty());
    }
}
