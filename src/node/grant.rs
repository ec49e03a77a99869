//! The import's grant stage: a key grant or community invitation for us, kept (an
//! invitation waits for consent, within a cap), and a key accepted: every bundle that
//! waited for it, and what we carried unread of its scope, read again.

use super::import::Import;
use super::*;

impl Node {
    /// A key grant or invitation for us.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn take_grant(
        &mut self,
        imp: &mut Import,
        bytes: &[u8],
        digest: [u8; 32],
        info: &BundleInfo,
        payload: [u8; 32],
        header: &Header,
        grant: Grant,
    ) -> Result<Outcome, Error> {
        let source = header.author;
        let meta = |state| BundleMeta {
            state,
            author: header.author,
            seq: header.seq,
            verified: true,
            payload,
            doc: grant.scope.clone(),
            destination: info.destination.clone(),
            expires_unix_ms: info.expires_unix_ms(),
            changes: 0,
            bytes: bytes.len() as u32,
            kind: PayloadKind::Grant,
            payload_at: info.payload_at(),
            opener: info.opener,
            release: info.release,
        };
        match (doc::parse_scope(&grant.scope), &grant.invitation) {
            (Some(ScopeOwner::Profile(owner, audience)), None) if owner == source => {
                // Friends of friends read without knowing the author: that is the point
                // of the audience (its slots open only for friends of its friends).
                if self.contact_card(&imp.t, &owner)?.is_none() && audience != Audience::FriendsOfFriends {
                    // From someone who is not our contact: reading them takes mutual
                    // agreement. Kept (counted against the relay quota, like an invitation)
                    // and read once we add them as a contact.
                    let m = meta(BundleState::Invite);
                    if let Err(o) = self.keep(&mut imp.t, digest, bytes, &m)? {
                        return Ok(o);
                    }
                    let id = hex(&digest[..8]);
                    imp.t.put_invite(&id, &grant.encode())?;
                    self.cap_invites(&mut imp.t)?;
                    return Ok(Outcome::Waiting(WaitReason::Consent { invite: id }));
                }
                imp.t.put_bundle(&digest, bytes, &meta(BundleState::Grant))?;
                imp.t.put_custody_answer(&grant.granter, Disposition::Accepted.code(), header.seq)?;
                self.accept_grant(imp, &grant)?;
                Ok(Outcome::New { doc: None, changes: 0 })
            }
            (Some(ScopeOwner::Community(cid)), Some(inv)) => {
                let Some(last) = inv.chain.last() else {
                    return Ok(Outcome::Rejected(Rejection::Grant("invitation without a certificate")));
                };
                if last.issuer != grant.granter {
                    return Ok(Outcome::Rejected(Rejection::Grant("invitation not from the certificate's issuer")));
                }
                if let Err(reason) = self.certs.verify(&cid, &inv.genesis, &inv.chain, &grant.recipient) {
                    return Ok(Outcome::Rejected(Rejection::NotMember { community: cid, reason }));
                }
                let member = self.membership(&imp.t, &cid).is_ok();
                if member || self.contact_card(&imp.t, &source)?.is_some() {
                    imp.t.put_bundle(&digest, bytes, &meta(BundleState::Grant))?;
                    imp.t.put_custody_answer(&grant.granter, Disposition::Accepted.code(), header.seq)?;
                    self.accept_grant(imp, &grant)?;
                    // (A member's new certificate, as a promotion to owner brings, is no news.)
                    if !member {
                        self.queued.push(Event::Joined(cid));
                    }
                    Ok(Outcome::New { doc: None, changes: 0 })
                } else {
                    // From someone we do not know: it waits for consent, counted against
                    // the relay quota, and custody stays with the inviter until we accept.
                    let m = meta(BundleState::Invite);
                    if let Err(o) = self.keep(&mut imp.t, digest, bytes, &m)? {
                        return Ok(o);
                    }
                    let id = hex(&digest[..8]);
                    imp.t.put_invite(&id, &grant.encode())?;
                    self.cap_invites(&mut imp.t)?;
                    self.queued.push(Event::Invitation { id: id.clone(), community: cid, name: inv.name.clone() });
                    Ok(Outcome::Waiting(WaitReason::Consent { invite: id }))
                }
            }
            (Some(ScopeOwner::FriendsOfMembers(_)), None) => {
                // Offered to members' friends: no consent step. A tag already held keeps
                // its first key.
                imp.t.put_bundle(&digest, bytes, &meta(BundleState::Grant))?;
                imp.t.put_custody_answer(&grant.granter, Disposition::Accepted.code(), header.seq)?;
                let held = format!("{}#{}", grant.scope, grant.epoch);
                if imp.t.grant(&held)?.is_none() {
                    self.accept_grant(imp, &grant)?;
                }
                Ok(Outcome::New { doc: None, changes: 0 })
            }
            _ => Ok(Outcome::Rejected(Rejection::Grant("scope and granter do not match"))),
        }
    }

    /// Keeps at most `INVITES_PENDING_MAX` invitations waiting: the ones closest to
    /// expiry go first.
    fn cap_invites(&mut self, t: &mut Txn) -> Result<(), Error> {
        let invites = t.invites()?;
        if invites.len() <= INVITES_PENDING_MAX {
            return Ok(());
        }
        let stored: HashMap<String, (u64, [u8; 32])> = t
            .all_bundle_meta()?
            .into_iter()
            .filter(|(_, m)| m.state == BundleState::Invite)
            .map(|(d, m)| (hex(&d[..8]), (m.expires_unix_ms, d)))
            .collect();
        // (expiry and digest of the stored invitation, if any; its id)
        let mut by_expiry: Vec<_> = invites.iter().map(|(id, _)| (stored.get(id).copied(), id.clone())).collect();
        by_expiry.sort();
        for (found, id) in by_expiry.into_iter().take(invites.len() - INVITES_PENDING_MAX) {
            t.remove_invite(&id)?;
            if let Some((_, d)) = found {
                self.drop_stored(t, &d)?;
            }
        }
        Ok(())
    }

    /// Stores a key and reads every bundle that waited for it (and, for a community
    /// invitation, the community's public part carried so far).
    pub(super) fn accept_grant(&mut self, imp: &mut Import, grant: &Grant) -> Result<(), Error> {
        let scope_epoch = format!("{}#{}", grant.scope, grant.epoch);
        imp.t.put_grant(&scope_epoch, &grant.encode())?;
        let mut epochs = vec![scope_epoch];
        // An invitation's earlier community keys, each kept as a grant of its own (never
        // over a key already held for that epoch).
        for (tag, key) in grant.invitation.iter().flat_map(|i| i.earlier_keys.iter()) {
            let scope_epoch = format!("{}#{tag}", grant.scope);
            if imp.t.grant(&scope_epoch)?.is_some() {
                continue;
            }
            let g = Grant { epoch: *tag, key: *key, invitation: None, ..grant.clone() };
            imp.t.put_grant(&scope_epoch, &g.encode())?;
            epochs.push(scope_epoch);
        }
        imp.keys_changed = true;
        imp.fresh_ctx = None;
        // Joining: our friends-of-members pass goes into the community.
        if let (Some(inv), Some(ScopeOwner::Community(cid))) = (&grant.invitation, doc::parse_scope(&grant.scope))
            && grant.recipient == self.identity.signing_public()
            && inv.genesis.root != grant.recipient
        {
            self.ensure_passes(&mut imp.t, &[cid])?;
        }
        let mut again = Vec::new();
        for scope_epoch in &epochs {
            for digest in imp.t.waiting_for_key(scope_epoch)? {
                imp.t.remove_waiting_key(scope_epoch, &digest)?;
                again.push(digest);
            }
        }
        // What we carried unread of this community, or of this profile's owner, we read now.
        let now_read = |d: Option<DocId>| match (doc::parse_scope(&grant.scope), d) {
            (Some(ScopeOwner::Community(cid)), Some(DocId::Community { id, .. })) => {
                grant.invitation.is_some() && id == cid
            }
            (Some(ScopeOwner::Profile(owner, _)), Some(DocId::Profile { owner: o, .. })) => o == owner,
            _ => false,
        };
        // A friends circle key may open slot grants carried unread.
        let friends_key = matches!(doc::parse_scope(&grant.scope), Some(ScopeOwner::Profile(_, Audience::Friends)));
        let slots = |m: &BundleMeta| {
            friends_key
                && m.kind == PayloadKind::Grant
                && matches!(
                    doc::parse_scope(&m.doc),
                    Some(ScopeOwner::Profile(_, Audience::FriendsOfFriends) | ScopeOwner::FriendsOfMembers(_))
                )
        };
        for (digest, m) in imp.t.all_bundle_meta()? {
            if m.state == BundleState::Carried && (now_read(DocId::parse(&m.doc)) || slots(&m)) {
                again.push(digest);
            }
        }
        // And what we carried unopened whose cloak this key (or this community) opens.
        again.extend(self.newly_recognised(imp)?);
        again.sort();
        again.dedup();
        self.reread(imp, again)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{Kit, import};
    use super::*;

    fn phone(reader: &mut Node, owner: &Node) -> Option<String> {
        reader.profile(&owner.node_id()).unwrap().into_iter().find(|f| f.name == "phone").map(|f| f.value)
    }

    /// Reading someone takes mutual agreement: a key from a node that is not our contact
    /// waits (counted against the relay quota) and opens its audience only once we add
    /// them; from a contact it opens it at once.
    #[test]
    fn a_profile_key_from_a_stranger_waits_for_consent() {
        let kit = Kit::new();
        let (mut a, mut b, mut c) = (kit.node("A"), kit.node("B"), kit.node("C"));
        a.add_contact(&b.card(), &[Audience::Friends]).unwrap();
        a.set_profile_field("phone", "555", Audience::Friends).unwrap();
        let bundles = a.export(Target::Everyone).unwrap();
        let r = import(&mut b, &bundles);
        assert!(r.waiting() >= 1, "{r:?}");
        assert_eq!(phone(&mut b, &a), None, "read without consent");
        assert!(b.relay_usage().unwrap().0 > 0, "a waiting key counts against the quota");
        b.add_contact(&a.card(), &[]).unwrap();
        assert_eq!(phone(&mut b, &a).as_deref(), Some("555"));
        // C, A's contact but not in the audience, gets no key for it.
        a.add_contact(&c.card(), &[]).unwrap();
        c.add_contact(&a.card(), &[]).unwrap();
        import(&mut c, &a.export(Target::Everyone).unwrap());
        assert_eq!(phone(&mut c, &a), None);
    }
}
