//! Communities: founding, inviting, roles, the roster, wiki and feed, invitations.

use super::*;
use crate::authority::Action;
use crate::doc::PageId;
use crate::plugin::wiki;

impl Node {
    /// Founds a community with us as root owner. Returns its id.
    pub fn create_community(&mut self, name: &str, description: &str) -> Result<CommunityId, Error> {
        if name.is_empty() || name.len() > crate::limits::NAME_BYTES_MAX {
            return Err(Error::Invalid(format!(
                "a community name must be 1 to {} bytes",
                crate::limits::NAME_BYTES_MAX
            )));
        }
        let mut nonce = [0u8; 16];
        crypto::fill_random(&mut nonce);
        let genesis = Genesis { root: self.identity.signing_public(), nonce };
        let cid = membership::community_id(&genesis);
        let me_pk = self.identity.signing_public();
        let grant = Grant {
            granter: me_pk,
            recipient: me_pk,
            scope: format!("c/{cid}"),
            epoch: 0,
            key: crypto::random_32(),
            invitation: Some(Invitation { genesis, chain: vec![], name: name.to_string(), earlier_keys: vec![] }),
        };
        // One transaction: the key, the public part and the roster, or nothing.
        let me = self.node_id();
        let my_name = self.name.clone();
        let (public, roster) =
            (DocId::Community { id: cid, part: Part::PUBLIC }, DocId::Community { id: cid, part: Part::ROSTER });
        let log_doc = DocId::Community { id: cid, part: Part::AUTHORITY };
        let mut t = self.write_txn()?;
        t.put_grant(&format!("c/{cid}#0"), &grant.encode())?;
        let edits = self
            .edit_in(&mut t, public, |d, _, _| {
                builtin::put_str(d, "name", name)?;
                builtin::put_str(d, "description", description)
            })
            .and_then(|a| {
                let me_in_log =
                    Action::Add { member: me_pk, agreement: self.identity.agreement_public(), role: Role::Owner };
                let (log, _) = self.append_op(&mut t, &cid, me_in_log, false)?;
                self.ensure_passes(&mut t, &[cid])?;
                Ok(vec![
                    a,
                    log,
                    self.edit_in(&mut t, roster, |d, _, _| builtin::put_member(d, &me, Role::Owner, &my_name))?,
                ])
            });
        match edits {
            Ok(events) => self.commit_edits(t, &[public, roster, log_doc], events)?,
            Err(e) => {
                self.docs.remove(&public);
                self.docs.remove(&roster);
                self.docs.remove(&log_doc);
                self.docs.remove(&DocId::Community { id: cid, part: Part::PASSES });
                return Err(e);
            }
        }
        Ok(cid)
    }

    /// Our membership in a community: the grant holding its key and our chain.
    /// The role is the authority log's as last resolved (callers that act on it resolve
    /// first, through `my_role`), else our certificate's.
    pub(super) fn membership(&self, r: &impl Reads, cid: &CommunityId) -> Result<(Grant, Invitation, Role), Error> {
        let (grant, inv) = self.joined(r, cid)?;
        let me = self.identity.signing_public();
        let logged = self.authority.get(cid).map(|c| c.state.clone());
        let role = match logged {
            Some(s) if s.is_gone(&me) => return Err(Error::Removed(*cid)),
            Some(s) if let Some(role) = s.role(&me) => role,
            _ => match inv.chain.last() {
                None => Role::Owner,
                Some(c) => Role::from_code(c.role).ok_or(Error::NotMember(*cid))?,
            },
        };
        Ok((grant, inv, role))
    }

    /// The community's current content key and its epoch. For backups, and for tools
    /// that seal bundles by hand (interoperability and adversarial tests).
    /// The epoch is the current one as this node last resolved the community's log.
    pub fn community_key(&self, cid: &CommunityId) -> Result<([u8; 32], u32), Error> {
        let view = self.store.read()?;
        self.membership(&view, cid)?;
        let tag = self.authority.get(cid).map_or(0, |r| r.state.current_epoch().tag);
        let grant = self.epoch_grant(&view, cid, tag)?.ok_or(Error::Removed(*cid))?;
        Ok((grant.key, grant.epoch))
    }

    /// The community's genesis and our certificate chain: the proof of membership this
    /// node attaches to every batch it writes for the community.
    pub fn membership_proof(&self, cid: &CommunityId) -> Result<(Genesis, Vec<envelope::Cert>), Error> {
        let (_, inv, _) = self.membership(&self.store.read()?, cid)?;
        Ok((inv.genesis, inv.chain))
    }

    /// Our role in a community.
    pub fn role(&mut self, cid: &CommunityId) -> Result<Role, Error> {
        let view = self.store.read()?;
        self.my_role(&view, cid)
    }

    /// Invites the holder of `card` into a community with `role`. The invitation bundle
    /// (the community key wrapped for them, and their membership certificate) goes out
    /// with the next export. Only owners invite.
    pub fn invite(&mut self, cid: &CommunityId, card: &ContactCard, role: Role) -> Result<(), Error> {
        let view = self.store.read()?;
        let my_role = self.my_role(&view, cid)?;
        let (_, inv, _) = self.membership(&view, cid)?;
        drop(view);
        if my_role != Role::Owner {
            return Err(Error::NotPermitted { role: my_role, action: "invite members" });
        }
        let chain = invitation_chain(&self.identity, cid, &inv, &card.signing_public, role)?;
        let mut t = self.write_txn()?;
        // The log says it first: every member learns the newcomer and its key.
        let add = Action::Add { member: card.signing_public, agreement: card.agreement_public, role };
        let (log_event, _) = match self.append_op(&mut t, cid, add, false) {
            Ok(x) => x,
            Err(e) => {
                self.docs.remove(&DocId::Community { id: *cid, part: Part::AUTHORITY });
                return Err(e);
            }
        };
        let id = card.node_id().to_string();
        if !t.contacts()?.iter().any(|(n, _, _)| *n == id) {
            t.put_contact(&id, 0, &card.to_bytes())?;
        }
        self.mint_invitation(&mut t, cid, inv, chain, (&card.signing_public, &card.agreement_public))?;
        // The invitation and the roster entry in one transaction.
        let (node, name) = (card.node_id(), card.name.clone());
        let roster = DocId::Community { id: *cid, part: Part::ROSTER };
        let event = self.edit_in(&mut t, roster, |d, _, _| builtin::put_member(d, &node, role, &name))?;
        let log = DocId::Community { id: *cid, part: Part::AUTHORITY };
        self.commit_edits(t, &[roster, log], vec![log_event, event])
    }

    /// Mints an invitation with `chain` for the node whose keys are `to`: the current
    /// key in the grant, and every earlier one in the invitation.
    pub(super) fn mint_invitation(
        &mut self,
        t: &mut Txn,
        cid: &CommunityId,
        inv: Invitation,
        chain: Vec<envelope::Cert>,
        to: (&[u8; 32], &[u8; 32]),
    ) -> Result<(), Error> {
        let grant = self.sealing_key(t, cid, Part::FEED)?;
        let mut earlier_keys: Vec<(u32, [u8; 32])> =
            self.epoch_keys(&*t, cid)?.into_iter().filter(|(tag, _)| *tag != grant.epoch).collect();
        earlier_keys.truncate(crate::limits::EPOCH_KEYS_MAX);
        let invitation = Grant {
            granter: self.identity.signing_public(),
            recipient: *to.0,
            invitation: Some(Invitation { chain, earlier_keys, ..inv }),
            ..grant
        };
        self.store_grant_bundle(t, to, &invitation)
    }

    /// Communities we belong to.
    pub fn communities(&mut self) -> Result<Vec<CommunityInfo>, Error> {
        let view = self.store.read()?;
        let mut out = Vec::new();
        for (key, g) in view.grants()? {
            if !key.starts_with("c/") {
                continue;
            }
            let Ok(g) = Grant::decode(&g) else { continue };
            let Some(inv) = g.invitation else { continue };
            let cid = membership::community_id(&inv.genesis);
            if out.iter().any(|c: &CommunityInfo| c.id == cid) {
                continue;
            }
            let cert_role = inv.chain.last().map_or(Some(Role::Owner), |c| Role::from_code(c.role));
            let Some(cert_role) = cert_role else { continue };
            let (role, removed) = match self.my_role(&view, &cid) {
                Ok(role) => (role, false),
                Err(Error::Removed(_)) => (cert_role, true),
                Err(e) => return Err(e),
            };
            let public = self.load_doc(&view, DocId::Community { id: cid, part: Part::PUBLIC })?;
            let name = builtin::read_str(&public.doc, "name").unwrap_or(inv.name);
            out.push(CommunityInfo { id: cid, name, role, removed });
        }
        Ok(out)
    }

    /// A community's members: (node id, role, name). Who is in and with which role is
    /// the authority log's to say; names come from the roster.
    pub fn members(&mut self, cid: &CommunityId) -> Result<Vec<(String, Role, String)>, Error> {
        let view = self.store.read()?;
        let roster =
            builtin::read_roster(&self.load_doc(&view, DocId::Community { id: *cid, part: Part::ROSTER })?.doc);
        // A community we are not in: what its roster says, if we hold it.
        let state = match self.resolved(&view, cid) {
            Ok(r) => r.state.clone(),
            Err(Error::NotMember(_)) => return Ok(roster),
            Err(e) => return Err(e),
        };
        let gone: HashSet<String> = state.gone.iter().map(|pk| NodeId::from_signing_public(pk).to_string()).collect();
        let mut out: Vec<(String, Role, String)> = state
            .members
            .iter()
            .map(|(pk, m)| {
                let id = NodeId::from_signing_public(pk).to_string();
                let name =
                    roster.iter().find(|(n, _, _)| *n == id).map(|(_, _, name)| name.clone()).unwrap_or_default();
                (id, m.role, name)
            })
            .collect();
        // Invited by certificate, not yet in the log as this node has it.
        for (n, r, name) in roster {
            if !gone.contains(&n) && !out.iter().any(|(o, _, _)| *o == n) {
                out.push((n, r, name));
            }
        }
        out.sort_by(|a, b| (a.1, &a.2).cmp(&(b.1, &b.2)));
        Ok(out)
    }

    /// A community's public name and description, readable by anyone holding them.
    pub fn community_about(&mut self, cid: &CommunityId) -> Result<(Option<String>, Option<String>), Error> {
        let view = self.store.read()?;
        let id = DocId::Community { id: *cid, part: Part::PUBLIC };
        let carried = self.carried_doc(&view, id)?;
        let d = match &carried {
            Some(d) => d,
            None => &self.load_doc(&view, id)?.doc,
        };
        Ok((builtin::read_str(d, "name"), builtin::read_str(d, "description")))
    }

    pub(super) fn require_role(&mut self, cid: &CommunityId, part: Part, action: &'static str) -> Result<(), Error> {
        let role = self.role(cid)?;
        if part.writable_by(role) { Ok(()) } else { Err(Error::NotPermitted { role, action }) }
    }

    /// Writes a wiki page: creates it, or applies `text` as a diff of lines against the
    /// current page so concurrent edits of other lines survive. Owners and editors only.
    /// Each page is a document of its own (listed in the wiki's index), so writing,
    /// reading or syncing one never loads another.
    pub fn put_wiki_page(&mut self, cid: &CommunityId, page: &str, text: &str) -> Result<(), Error> {
        self.require_role(cid, Part::WIKI, "edit the wiki")?;
        let index = DocId::Community { id: *cid, part: Part::WIKI };
        let page_id = PageId::of(cid, page);
        let body = DocId::Community { id: *cid, part: Part::Page(page_id) };
        let mut t = self.write_txn()?;
        let mut edited = Vec::new();
        let result = (|| {
            let mut events = Vec::new();
            if !wiki::indexed(&self.load_doc(&t, index)?.doc, page) {
                edited.push(index);
                events.push(self.edit_in(&mut t, index, |d, _, _| wiki::index_put(d, page, &page_id))?);
            }
            edited.push(body);
            events.push(self.edit_in(&mut t, body, |d, _, now| wiki::put_body(d, page, text, (now / 1000) as i64))?);
            Ok(events)
        })();
        match result {
            Ok(events) => self.commit_edits(t, &edited, events),
            Err(e) => {
                // Nothing was committed: what the cache holds of these edits goes too.
                for id in edited {
                    self.docs.remove(&id);
                }
                Err(e)
            }
        }
    }

    /// A wiki page's text, if it exists and we can read it.
    pub fn wiki_page(&mut self, cid: &CommunityId, page: &str) -> Result<Option<String>, Error> {
        let view = self.store.read()?;
        let body = DocId::Community { id: *cid, part: Part::Page(PageId::of(cid, page)) };
        if let Some(text) = wiki::read_body(&self.load_doc(&view, body)?.doc) {
            return Ok(Some(text));
        }
        self.docs.remove(&body);
        // A page written before pages were documents of their own.
        Ok(builtin::read_page(&self.load_doc(&view, DocId::Community { id: *cid, part: Part::WIKI })?.doc, page))
    }

    /// The names this node knows for nodes: members of its communities (as their rosters
    /// say), then its contacts (their cards, which win), then itself. Best effort: a
    /// community it cannot read is skipped.
    pub fn names(&mut self) -> Result<std::collections::BTreeMap<NodeId, String>, Error> {
        let mut names = std::collections::BTreeMap::new();
        // Followed nodes first: a contact's or a member's name wins.
        names.extend(self.followed_names()?);
        let view = self.store.read()?;
        for c in self.communities()? {
            // The roster, who is out included: people still read who it was.
            let roster = self.load_doc(&view, DocId::Community { id: c.id, part: Part::ROSTER })?;
            for (id, _, name) in builtin::read_roster(&roster.doc) {
                if let Some(id) = NodeId::parse(&id) {
                    names.insert(id, name);
                }
            }
        }
        for c in self.contacts()? {
            names.insert(c.card.node_id(), c.card.name.clone());
        }
        names.insert(self.node_id(), self.name().to_string());
        Ok(names)
    }

    /// The posts of community `cid`'s feed added or edited since its heads were `before`
    /// (as an event's `before` says), oldest first.
    pub fn posts_since(&mut self, cid: &CommunityId, before: &[[u8; 32]]) -> Result<Vec<Post>, Error> {
        let view = self.store.read()?;
        let doc = &mut self.load_doc(&view, DocId::Community { id: *cid, part: Part::FEED })?.doc;
        let before: Vec<automerge::ChangeHash> = before.iter().map(|h| automerge::ChangeHash(*h)).collect();
        if before.iter().any(|h| doc.get_change_by_hash(h).is_none()) {
            return Ok(Vec::new());
        }
        let after = doc.get_heads();
        let mut keys = std::collections::BTreeSet::new();
        for patch in doc.diff(&before, &after) {
            if patch.path.is_empty()
                && let automerge::PatchAction::PutMap { key, .. } = patch.action
            {
                keys.insert(key);
            }
        }
        Ok(builtin::read_posts_keyed(doc).into_iter().filter(|(k, _)| keys.contains(k)).map(|(_, p)| p).collect())
    }

    /// The name of the wiki page whose id is `page` (`None` if its document is not here
    /// or not readable).
    pub fn wiki_page_name(&mut self, cid: &CommunityId, page: PageId) -> Result<Option<String>, Error> {
        let view = self.store.read()?;
        let doc = &self.load_doc(&view, DocId::Community { id: *cid, part: Part::Page(page) })?.doc;
        Ok(builtin::read_str(doc, "name"))
    }

    /// Names of a community's wiki pages.
    pub fn wiki_pages(&mut self, cid: &CommunityId) -> Result<Vec<String>, Error> {
        let view = self.store.read()?;
        let index = &self.load_doc(&view, DocId::Community { id: *cid, part: Part::WIKI })?.doc;
        let mut pages = wiki::index_names(index);
        pages.extend(builtin::list_pages(index));
        pages.sort();
        pages.dedup();
        Ok(pages)
    }

    /// Posts to a community's feed. Any member.
    pub fn post(&mut self, cid: &CommunityId, text: &str) -> Result<(), Error> {
        self.require_role(cid, Part::FEED, "post")?;
        self.edit(DocId::Community { id: *cid, part: Part::FEED }, |d, me, now| builtin::add_post(d, me, now, text))
    }

    /// A community's feed, oldest first.
    pub fn feed(&mut self, cid: &CommunityId) -> Result<Vec<Post>, Error> {
        let view = self.store.read()?;
        let mut posts =
            builtin::read_posts(&self.load_doc(&view, DocId::Community { id: *cid, part: Part::FEED })?.doc);
        let hidden: HashSet<String> = self.quarantined(cid)?.iter().map(NodeId::to_string).collect();
        posts.retain(|p| !hidden.contains(&p.author));
        Ok(posts)
    }

    /// Invitations waiting for our consent.
    pub fn invites(&self) -> Result<Vec<InviteInfo>, Error> {
        Ok(self
            .store
            .read()?
            .invites()?
            .into_iter()
            .filter_map(|(id, g)| {
                let g = Grant::decode(&g).ok()?;
                let inv = g.invitation?;
                let role = Role::from_code(inv.chain.last()?.role)?;
                Some(InviteInfo {
                    id,
                    community: membership::community_id(&inv.genesis),
                    name: inv.name,
                    from: NodeId::from_signing_public(&g.granter),
                    role,
                })
            })
            .collect())
    }

    /// Accepts a pending invitation: we hold the community key from now on, and any of
    /// its content we already carry is opened.
    pub fn accept_invite(&mut self, id: &str) -> Result<CommunityId, Error> {
        let mut t = self.write_txn()?;
        let grant = t
            .invites()?
            .into_iter()
            .find(|(k, _)| k == id)
            .and_then(|(_, g)| Grant::decode(&g).ok())
            .ok_or_else(|| Error::UnknownInvite(id.to_string()))?;
        let cid = match &grant.invitation {
            Some(inv) => membership::community_id(&inv.genesis),
            None => return Err(Error::UnknownInvite(id.to_string())),
        };
        t.remove_invite(id)?;
        let mut imp = Import::new(t, (self.clock)());
        let result = (|| {
            // The invitation's bundle is ours now, and its inviter learns we took it.
            let stored = imp
                .t
                .all_bundle_meta()?
                .into_iter()
                .find(|(d, m)| m.state == BundleState::Invite && hex(&d[..8]) == id);
            if let Some((digest, meta)) = stored {
                imp.t.set_bundle_meta(&digest, &BundleMeta { state: BundleState::Grant, ..meta.clone() })?;
                imp.t.put_custody_answer(&grant.granter, Disposition::Accepted.code(), meta.seq)?;
            }
            self.accept_grant(&mut imp, &grant)
        })();
        let Import { t, touched, .. } = imp;
        self.finish(t, result, touched)?;
        self.emit(vec![Event::Joined(cid)]);
        Ok(cid)
    }
}

/// Our chain with a certificate for `member` in `role` at its end. Only an owner chain
/// may issue one, so an owner the log made without its certificate (still on its way)
/// is told so rather than sending an invitation nobody would accept.
pub(super) fn invitation_chain(
    identity: &Identity,
    cid: &CommunityId,
    ours: &Invitation,
    member: &[u8; 32],
    role: Role,
) -> Result<Vec<envelope::Cert>, Error> {
    if ours.chain.last().is_some_and(|c| Role::from_code(c.role) != Some(Role::Owner)) {
        return Err(Error::Invalid(
            "the certificate that makes you an owner has not reached you yet: sync with the owner who \
             made you one, then try again"
                .into(),
        ));
    }
    let mut chain = ours.chain.clone();
    chain.push(membership::issue(identity, cid, member, role));
    if chain.len() > crate::limits::CERT_CHAIN_LEN_MAX {
        return Err(Error::Invalid("delegation chain too long: ask an owner closer to the founder".into()));
    }
    Ok(chain)
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{Kit, carry, community};
    use super::*;

    /// One durable commit per user operation: a crash leaves all of it or none.
    #[test]
    fn each_user_operation_commits_once() {
        let kit = Kit::new();
        let (mut a, b) = (kit.node("A"), kit.node("B"));
        a.add_contact(&b.card(), &[]).unwrap();
        let commits = |n: &Node| n.store_commits();
        let c0 = commits(&a);
        let cid = a.create_community("Wells", "Our wells").unwrap();
        assert_eq!(commits(&a) - c0, 1, "create_community");
        let c1 = commits(&a);
        a.invite(&cid, &b.card(), Role::Editor).unwrap();
        assert_eq!(commits(&a) - c1, 1, "invite");
        let c2 = commits(&a);
        a.post(&cid, "hello").unwrap();
        assert_eq!(commits(&a) - c2, 1, "post");
        let c3 = commits(&a);
        a.put_wiki_page(&cid, "wells", "three").unwrap();
        assert_eq!(commits(&a) - c3, 1, "wiki put");
        // Reads write nothing.
        let c4 = commits(&a);
        a.feed(&cid).unwrap();
        a.members(&cid).unwrap();
        a.wiki_page(&cid, "wells").unwrap();
        assert_eq!(commits(&a), c4, "reads committed");
    }

    /// Roles decide who writes what: a member cannot edit the wiki nor invite.
    #[test]
    fn a_member_writes_the_feed_but_not_the_wiki_or_the_roster() {
        let kit = Kit::new();
        let (mut a, mut b, c) = (kit.node("A"), kit.node("B"), kit.node("C"));
        let cid = community(&mut a, &mut b, Role::Member);
        b.post(&cid, "a member posts").unwrap();
        assert!(matches!(b.put_wiki_page(&cid, "p", "x"), Err(Error::NotPermitted { .. })));
        assert!(matches!(b.invite(&cid, &c.card(), Role::Member), Err(Error::NotPermitted { .. })));
        carry(&mut b, &mut a);
        assert_eq!(a.feed(&cid).unwrap().len(), 1);
        let members = a.members(&cid).unwrap();
        assert_eq!(members.len(), 2, "{members:?}");
        assert_eq!(b.role(&cid).unwrap(), Role::Member);
    }
}
