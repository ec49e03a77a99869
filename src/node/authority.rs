//! Each community's authority log (`membership.md`): resolving it (cached by the log
//! document's heads), writing our operations (invitations, roles, removals, leaving,
//! rekeys), and taking the community keys its rekeys hold for us.

use super::*;
use crate::authority::{self, Action, Signed, State};
use crate::plugin::authority as log;

/// A community's log as resolved, for the log document's heads.
pub(super) struct Resolved {
    heads: Vec<[u8; 32]>,
    pub(super) state: Arc<State>,
    pub(super) ops: Arc<Vec<Signed>>,
}

/// What a removal did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Removal {
    /// The new key epoch's number.
    pub epoch: u32,
    /// Members who get the new key.
    pub rekeyed: usize,
    /// Members whose key this node does not know: they get the new key from another
    /// owner's rekey, or from an invitation again.
    pub unreachable: Vec<NodeId>,
}

impl Node {
    /// A community's membership as its authority log resolves it: members and roles,
    /// who was removed, key epochs, and every operation with what became of it.
    pub fn authority(&mut self, cid: &CommunityId) -> Result<Arc<State>, Error> {
        let view = self.store.read()?;
        Ok(self.resolved(&view, cid)?.state.clone())
    }

    /// Called for every seal and role check: a cache hit costs one heads lookup (the
    /// loaded document's, else the store's), never loading or decoding the log.
    pub(super) fn resolved(&mut self, r: &impl Reads, cid: &CommunityId) -> Result<Arc<Resolved>, Error> {
        let id = DocId::Community { id: *cid, part: Part::AUTHORITY };
        let heads: Vec<[u8; 32]> = match self.docs.get_mut(&id) {
            Some(d) => d.doc.get_heads().iter().map(|h| h.0).collect(),
            None => r.doc_heads(&id.to_string())?.unwrap_or_default(),
        };
        if let Some(c) = self.authority.get(cid)
            && c.heads == heads
        {
            return Ok(c.clone());
        }
        let (_, inv) = self.joined(r, cid)?;
        let ops = log::ops_in(&mut self.load_doc(r, id)?.doc, cid);
        let state = authority::resolve(inv.genesis.root, &ops);
        let resolved = Arc::new(Resolved { heads, state: Arc::new(state), ops: Arc::new(ops) });
        self.authority.insert(*cid, resolved.clone());
        Ok(resolved)
    }

    /// Resolves the log of every community we belong to (a cache hit when unchanged).
    pub(super) fn refresh_logs(&mut self, r: &impl Reads) -> Result<(), Error> {
        for cid in joined_communities(r)? {
            self.resolved(r, &cid)?;
        }
        Ok(())
    }

    /// The grant that made us a member (it holds the invitation) and the invitation.
    pub(super) fn joined(&self, r: &impl Reads, cid: &CommunityId) -> Result<(Grant, Invitation), Error> {
        let prefix = format!("c/{cid}#");
        // The strongest proof held: an owner chain (a promotion's certificate) over a
        // member's, then the shortest.
        r.grants()?
            .into_iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .filter_map(|(_, g)| Grant::decode(&g).ok())
            .filter_map(|g| g.invitation.clone().map(|i| (g, i)))
            .min_by_key(|(_, i)| {
                let owner = i.chain.last().is_none_or(|c| Role::from_code(c.role) == Some(Role::Owner));
                (!owner, i.chain.len())
            })
            .ok_or(Error::NotMember(*cid))
    }

    /// Our role as the log says (as our certificate says while the log does not know
    /// us yet); `Error::Removed` once it removed us.
    pub(super) fn my_role(&mut self, r: &impl Reads, cid: &CommunityId) -> Result<Role, Error> {
        let (_, inv) = self.joined(r, cid)?;
        let state = self.resolved(r, cid)?.state.clone();
        let me = self.identity.signing_public();
        if state.is_gone(&me) {
            return Err(Error::Removed(*cid));
        }
        Ok(match state.role(&me) {
            Some(role) => role,
            None => inv.chain.last().and_then(|c| Role::from_code(c.role)).unwrap_or(Role::Owner),
        })
    }

    /// The community key we seal under: the current epoch's. If someone who holds it is
    /// no longer a member, a rekey comes first (in `t`).
    pub(super) fn sealing_key(&mut self, t: &mut Txn, cid: &CommunityId, part: Part) -> Result<Grant, Error> {
        let resolved = self.resolved(&*t, cid)?;
        // The log itself goes under the first key, which every member ever had: a
        // removed member learns it was removed (and nothing sealed later).
        let tag = if part == Part::AUTHORITY {
            0
        } else {
            if resolved.state.needs_rekey() && !resolved.state.is_gone(&self.identity.signing_public()) {
                self.append_op(t, cid, Action::Rekey, true)?;
            }
            self.resolved(&*t, cid)?.state.current_epoch().tag
        };
        self.epoch_grant(&*t, cid, tag)?.ok_or_else(|| Error::Document {
            doc: DocId::Community { id: *cid, part }.to_string(),
            reason: "this node holds no key for the community's current epoch (it may have been removed)".into(),
        })
    }

    pub(super) fn epoch_grant(&self, r: &impl Reads, cid: &CommunityId, tag: u32) -> Result<Option<Grant>, Error> {
        let key = format!("c/{cid}#{tag}");
        Ok(r.grant(&key)?.and_then(|g| Grant::decode(&g).ok()))
    }

    /// Every community key we hold, by epoch tag.
    pub(super) fn epoch_keys(&self, r: &impl Reads, cid: &CommunityId) -> Result<Vec<(u32, [u8; 32])>, Error> {
        let prefix = format!("c/{cid}#");
        Ok(r.grants()?
            .into_iter()
            .filter_map(|(k, g)| {
                let tag = k.strip_prefix(&prefix)?.parse().ok()?;
                Some((tag, Grant::decode(&g).ok()?.key))
            })
            .collect())
    }

    /// Appends an operation of ours to the log (in `t`). With `rekey`, it starts a key
    /// epoch: a fresh key wrapped for every member the operation leaves, whose key we
    /// know. Returns the event, and the members we could not wrap the key for.
    pub(super) fn append_op(
        &mut self,
        t: &mut Txn,
        cid: &CommunityId,
        action: Action,
        rekey: bool,
    ) -> Result<(Event, Vec<NodeId>), Error> {
        let state = self.resolved(&*t, cid)?.state.clone();
        let me = self.identity.signing_public();
        let mut op = authority::Op { community: *cid, author: me, follows: state.heads.clone(), action, rekey: None };
        let key = crypto::random_32();
        let mut unreachable = Vec::new();
        if rekey {
            let leaving = match &op.action {
                Action::Remove { member } => Some(*member),
                Action::Leave => Some(me),
                _ => None,
            };
            let mut wrap_for = Vec::new();
            for (pk, m) in state.members.iter().filter(|(pk, _)| Some(**pk) != leaving) {
                let node = NodeId::from_signing_public(pk);
                let agreement = match m.agreement {
                    Some(a) => Some(a),
                    None if *pk == me => Some(self.identity.agreement_public()),
                    None => self.contact_card(&*t, &node)?.map(|c| c.agreement_public),
                };
                match agreement {
                    Some(a) => wrap_for.push(a),
                    None => unreachable.push(node),
                }
            }
            let number = state.epochs.iter().map(|e| e.number).max().unwrap_or(0) + 1;
            op.rekey = Some(authority::rekey(cid, number, &key, &wrap_for));
        }
        let signed = Signed::sign(&self.identity, op);
        if rekey {
            let tag = authority::epoch_tag(&signed.id);
            let grant =
                Grant { granter: me, recipient: me, scope: format!("c/{cid}"), epoch: tag, key, invitation: None };
            t.put_grant(&format!("c/{cid}#{tag}"), &grant.encode())?;
        }
        let id = DocId::Community { id: *cid, part: Part::AUTHORITY };
        let event = self.edit_in(t, id, |d, _, _| log::put_op(d, &signed))?;
        // Our own operation must hold in the log as every node resolves it.
        let after = self.resolved(&*t, cid)?;
        if let Some(e) = after.state.log.iter().find(|e| e.id == signed.id)
            && let authority::Outcome::Void(reason) = e.outcome
        {
            self.docs.remove(&id);
            self.authority.remove(cid);
            return Err(Error::Invalid(format!("not done: {reason}")));
        }
        Ok((event, unreachable))
    }

    /// The keys the log's rekeys hold for us that we do not have yet: taken, and what
    /// waited for them read again (in the import's transaction).
    ///
    /// Only the keys that serve: the current epoch's, and those of epochs some stored
    /// bundle waits for (a rekey the log voided included: what its author sealed under it
    /// is still for the members it wrapped the key for). Opening a rekey's slots costs an
    /// X25519 agreement per slot, so nobody can make us open every rekey ever logged.
    pub(super) fn take_epoch_keys(&mut self, imp: &mut super::import::Import, cid: &CommunityId) -> Result<(), Error> {
        let resolved = self.resolved(&imp.t, cid)?;
        let held: HashSet<u32> = self.epoch_keys(&imp.t, cid)?.into_iter().map(|(t, _)| t).collect();
        let current = resolved.state.current_epoch().tag;
        for op in resolved.ops.iter() {
            let Some(rekey) = &op.op.rekey else { continue };
            let tag = authority::epoch_tag(&op.id);
            if held.contains(&tag) {
                continue;
            }
            if tag != current && imp.t.waiting_for_key(&format!("c/{cid}#{tag}"))?.is_empty() {
                continue;
            }
            let Some(key) = authority::open_slot(cid, rekey, &self.identity) else { continue };
            let me = self.identity.signing_public();
            let grant = Grant {
                granter: op.op.author,
                recipient: me,
                scope: format!("c/{cid}"),
                epoch: tag,
                key,
                invitation: None,
            };
            self.accept_grant(imp, &grant)?;
        }
        Ok(())
    }

    pub(super) fn member_key(&mut self, r: &impl Reads, cid: &CommunityId, who: &NodeId) -> Result<[u8; 32], Error> {
        let state = self.resolved(r, cid)?.state.clone();
        state
            .members
            .keys()
            .chain(state.gone.iter())
            .find(|pk| NodeId::from_signing_public(pk) == *who)
            .copied()
            .ok_or_else(|| Error::Invalid(format!("{who} is not a member of this community")))
    }

    pub(super) fn require_owner(
        &mut self,
        r: &impl Reads,
        cid: &CommunityId,
        action: &'static str,
    ) -> Result<(), Error> {
        match self.my_role(r, cid)? {
            Role::Owner => Ok(()),
            role => Err(Error::NotPermitted { role, action }),
        }
    }

    /// Removes a member: a signed removal in the log, and in the same operation a new
    /// community key for everyone else. Nothing sealed from now on (by us, or by any
    /// member once it has seen the removal) is readable by the removed member; what was
    /// shared before stays readable to it. Owners only.
    pub fn remove_member(&mut self, cid: &CommunityId, who: &NodeId) -> Result<Removal, Error> {
        let mut t = self.write_txn()?;
        let result = (|| {
            self.require_owner(&t, cid, "remove members")?;
            let member = self.member_key(&t, cid, who)?;
            if member == self.identity.signing_public() {
                return Err(Error::Invalid("to take yourself out, leave the community".into()));
            }
            let state = self.resolved(&t, cid)?.state.clone();
            if state.is_gone(&member) {
                return Err(Error::Invalid(format!("{who} is already out of this community")));
            }
            // The roster keeps its name: the log says it is out, and people still read
            // who it was.
            let (log_event, unreachable) = self.append_op(&mut t, cid, Action::Remove { member }, true)?;
            let state = self.resolved(&t, cid)?.state.clone();
            let removal = Removal {
                epoch: state.current_epoch().number,
                rekeyed: state.members.len() - unreachable.len(),
                unreachable,
            };
            Ok((vec![log_event], removal))
        })();
        self.finish_membership_edit(t, cid, result)
    }

    /// Gives a member another role (owners only). A demoted owner's log operations that
    /// its demotion had not seen are void; a demoted editor's wiki edits made after it
    /// are refused by every node.
    pub fn set_member_role(&mut self, cid: &CommunityId, who: &NodeId, role: Role) -> Result<(), Error> {
        let mut t = self.write_txn()?;
        let result = (|| {
            self.require_owner(&t, cid, "change roles")?;
            let member = self.member_key(&t, cid, who)?;
            let state = self.resolved(&t, cid)?.state.clone();
            match state.role(&member) {
                None => return Err(Error::Invalid(format!("{who} is no longer a member of this community"))),
                Some(r) if r == role => {
                    return Err(Error::Invalid(format!("{who} is already {}", role.with_article())));
                }
                Some(_) => {}
            }
            let (log_event, _) = self.append_op(&mut t, cid, Action::SetRole { member, role }, false)?;
            // A new owner gets an owner certificate with it: the proof its own invitations
            // carry, which newcomers check before any log reaches them.
            if role == Role::Owner {
                let agreement = match state.members.get(&member).and_then(|m| m.agreement) {
                    Some(a) => a,
                    None => self.contact_card(&t, who)?.map(|c| c.agreement_public).ok_or_else(|| {
                        Error::Invalid(format!("no contact card of {who} to send its certificate to"))
                    })?,
                };
                let (_, inv) = self.joined(&t, cid)?;
                match super::communities::invitation_chain(&self.identity, cid, &inv, &member, Role::Owner) {
                    Ok(chain) => self.mint_invitation(&mut t, cid, inv, chain, (&member, &agreement))?,
                    // Our own owner certificate is still on its way: the role changes
                    // anyway (members judge by the log); only the new owner's invitations
                    // lack a proof newcomers accept until it holds an owner certificate.
                    Err(e) => tracing::warn!("{who} is made an owner without a certificate from us: {e}"),
                }
            }
            let name = self.roster_name(&t, cid, who)?;
            let roster = DocId::Community { id: *cid, part: Part::ROSTER };
            let node = *who;
            let roster_event = self.edit_in(&mut t, roster, |d, _, _| builtin::put_member(d, &node, role, &name))?;
            Ok((vec![log_event, roster_event], ()))
        })();
        self.finish_membership_edit(t, cid, result)
    }

    /// Leaves a community: a signed leave in the log (the remaining members rekey before
    /// they seal anything new). The last owner cannot leave.
    pub fn leave_community(&mut self, cid: &CommunityId) -> Result<(), Error> {
        let mut t = self.write_txn()?;
        let result = (|| {
            self.my_role(&t, cid)?;
            let (event, _) = self.append_op(&mut t, cid, Action::Leave, false)?;
            Ok((vec![event], ()))
        })();
        self.finish_membership_edit(t, cid, result)
    }

    /// Quarantines a member (owners): its content is hidden for everyone, and what it
    /// sends from now on is kept for audit, not merged, until the quarantine is lifted.
    pub fn quarantine(&mut self, cid: &CommunityId, who: &NodeId) -> Result<(), Error> {
        self.quarantine_op(cid, who, true)
    }

    /// Lifts a quarantine (owners): what was kept for audit is read.
    pub fn release(&mut self, cid: &CommunityId, who: &NodeId) -> Result<(), Error> {
        self.quarantine_op(cid, who, false)
    }

    fn quarantine_op(&mut self, cid: &CommunityId, who: &NodeId, on: bool) -> Result<(), Error> {
        let mut imp = super::import::Import::new(self.write_txn()?, (self.clock)());
        let result = (|| {
            self.require_owner(&imp.t, cid, "quarantine members")?;
            let member = self.member_key(&imp.t, cid, who)?;
            let state = self.resolved(&imp.t, cid)?.state.clone();
            if state.quarantined.contains(&member) == on {
                return Err(Error::Invalid(format!("{who} is {} quarantined", if on { "already" } else { "not" })));
            }
            let action = if on { Action::Quarantine { member } } else { Action::Release { member } };
            let (event, _) = self.append_op(&mut imp.t, cid, action, false)?;
            self.queued.push(event);
            self.after_log_change(&mut imp, cid)
        })();
        let super::import::Import { t, touched, .. } = imp;
        if result.is_err() {
            self.authority.remove(cid);
            self.queued.clear();
        }
        self.finish(t, result, touched)
    }

    /// After the log moved: what was kept of members no longer quarantined is read, and
    /// what waited for log operations is judged again.
    pub(super) fn after_log_change(&mut self, imp: &mut super::import::Import, cid: &CommunityId) -> Result<(), Error> {
        let state = self.resolved(&imp.t, cid)?.state.clone();
        let mut again = Vec::new();
        // What waited for the operations this log change may have brought.
        let scope = log_wait_scope(cid);
        for digest in imp.t.waiting_for_key(&scope)? {
            imp.t.remove_waiting_key(&scope, &digest)?;
            again.push(digest);
        }
        for pk in state.members.keys().filter(|pk| !state.quarantined.contains(*pk)) {
            let scope = quarantine_scope(cid, &NodeId::from_signing_public(pk));
            for digest in imp.t.waiting_for_key(&scope)? {
                imp.t.remove_waiting_key(&scope, &digest)?;
                again.push(digest);
            }
        }
        self.reread(imp, again)
    }

    /// The members of a community an owner quarantined: their posts and listings are
    /// hidden (kept in the documents, for audit).
    pub fn quarantined(&mut self, cid: &CommunityId) -> Result<HashSet<NodeId>, Error> {
        let view = self.store.read()?;
        match self.resolved(&view, cid) {
            Ok(r) => Ok(r.state.quarantined.iter().map(NodeId::from_signing_public).collect()),
            Err(Error::NotMember(_)) => Ok(HashSet::new()),
            Err(e) => Err(e),
        }
    }

    /// What the log voided of each author and this node keeps for audit (changes made
    /// concurrently with their author's removal or demotion): author and how many bundles.
    pub fn set_aside(&mut self, cid: &CommunityId) -> Result<Vec<(NodeId, usize)>, Error> {
        let view = self.store.read()?;
        let state = self.resolved(&view, cid)?.state.clone();
        let mut out = Vec::new();
        for pk in state.changed_by.keys() {
            let node = NodeId::from_signing_public(pk);
            let n = view.waiting_for_key(&set_aside_scope(cid, &node))?.len();
            if n > 0 {
                out.push((node, n));
            }
        }
        Ok(out)
    }

    fn roster_name(&mut self, r: &impl Reads, cid: &CommunityId, who: &NodeId) -> Result<String, Error> {
        let roster = self.load_doc(r, DocId::Community { id: *cid, part: Part::ROSTER })?;
        let id = who.to_string();
        Ok(builtin::read_roster(&roster.doc)
            .into_iter()
            .find(|(n, _, _)| *n == id)
            .map(|(_, _, name)| name)
            .unwrap_or_default())
    }

    fn finish_membership_edit<T>(
        &mut self,
        t: Txn,
        cid: &CommunityId,
        result: Result<(Vec<Event>, T), Error>,
    ) -> Result<T, Error> {
        let docs =
            [DocId::Community { id: *cid, part: Part::AUTHORITY }, DocId::Community { id: *cid, part: Part::ROSTER }];
        match result {
            Ok((events, out)) => {
                self.commit_edits(t, &docs, events)?;
                Ok(out)
            }
            Err(e) => {
                for d in docs {
                    self.docs.remove(&d);
                }
                self.authority.remove(cid);
                Err(e)
            }
        }
    }
}

/// The key under which a quarantined member's held bundles wait (in the key-wait table).
pub(super) fn quarantine_scope(cid: &CommunityId, author: &NodeId) -> String {
    format!("quarantine/{cid}/{author}")
}

/// The key under which what the log voids of an author (made concurrently with its
/// removal or demotion) is kept for audit.
/// The scope bundles wait under for authority operations their author had seen and this
/// node lacks (no key ever opens it: the log's arrival reads them again).
pub(super) fn log_wait_scope(cid: &CommunityId) -> String {
    format!("log-wait/{cid}")
}

/// The community a `log_wait_scope` names.
pub(super) fn log_wait_community(scope: &str) -> Option<CommunityId> {
    CommunityId::parse(scope.strip_prefix("log-wait/")?)
}

pub(super) fn set_aside_scope(cid: &CommunityId, author: &NodeId) -> String {
    format!("void/{cid}/{author}")
}

/// Every community we were ever admitted to (whose invitation grant we hold).
pub(super) fn joined_communities(r: &impl Reads) -> Result<Vec<CommunityId>, Error> {
    let mut ids = Vec::new();
    for (_, g) in r.grants()? {
        if let Ok(Grant { invitation: Some(inv), .. }) = Grant::decode(&g) {
            ids.push(membership::community_id(&inv.genesis));
        }
    }
    ids.sort();
    ids.dedup();
    Ok(ids)
}
