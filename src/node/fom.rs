//! Friends of members (`crypto.md`): a community's `fom-feed` is read by its members and
//! by their friends. Each member publishes, in the community's `passes` document, a pass
//! derived from its friends circle key for this community; its friends derive the same
//! pass. A member who writes for friends of members seals its key once per published pass
//! of a current member, and once for the members themselves, in one slot grant; a new
//! epoch whenever that set changes.

use super::*;

impl Node {
    /// Publishes our friends-of-members pass in each of `communities`, if it is not there
    /// yet for our current friends circle key (in `t`). Done when we found or join a
    /// community and when our friends circle changes, never by an idle sync.
    pub(super) fn ensure_passes(&mut self, t: &mut Txn, communities: &[CommunityId]) -> Result<(), Error> {
        if communities.is_empty() {
            return Ok(());
        }
        self.ensure_audience_grants(t, Audience::Friends)?;
        let me = self.node_id();
        let Some(friends) = self.latest_grant(&*t, &format!("p/{me}/friends"))? else { return Ok(()) };
        for cid in communities {
            let pass = crypto::members_friends_pass(&friends.key, &cid.0);
            let id = DocId::Community { id: *cid, part: Part::PASSES };
            let key = format!("pass/{me}");
            let published = {
                let doc = &self.load_doc(&*t, id)?.doc;
                match automerge::ReadDoc::get(doc, automerge::ROOT, key.as_str()) {
                    Ok(Some((automerge::Value::Scalar(s), _))) => {
                        matches!(s.as_ref(), automerge::ScalarValue::Bytes(b) if b.as_slice() == pass.as_slice())
                    }
                    _ => false,
                }
            };
            if !published {
                use automerge::transaction::Transactable;
                self.edit_in(t, id, |d, _, _| d.put(automerge::ROOT, key.as_str(), pass.to_vec()))?;
            }
        }
        Ok(())
    }

    /// Publishes our pass again in every community we are still in (our friends circle
    /// changed).
    pub(super) fn publish_passes(&mut self, t: &mut Txn) -> Result<(), Error> {
        let mut ours = Vec::new();
        for cid in super::authority::joined_communities(&*t)? {
            if !matches!(self.my_role(&*t, &cid), Err(Error::Removed(_))) {
                ours.push(cid);
            }
        }
        self.ensure_passes(t, &ours)
    }

    /// The passes our friends-of-members key is sealed for in `cid`: each current
    /// member's published one, and the members' own (from the current community key).
    fn fom_passes(&mut self, r: &impl Reads, cid: &CommunityId) -> Result<Vec<super::fof::Pass>, Error> {
        let state = self.resolved(r, cid)?.state.clone();
        let current: HashSet<String> =
            state.members.keys().map(|pk| NodeId::from_signing_public(pk).to_string()).collect();
        let doc = &self.load_doc(r, DocId::Community { id: *cid, part: Part::PASSES })?.doc;
        let mut out = Vec::new();
        for k in automerge::ReadDoc::keys(doc, automerge::ROOT) {
            let Some(node) = builtin::pass_owner(&k) else { continue };
            if !current.contains(node) {
                continue;
            }
            if let Ok(Some((automerge::Value::Scalar(s), _))) =
                automerge::ReadDoc::get(doc, automerge::ROOT, k.as_str())
                && let automerge::ScalarValue::Bytes(b) = s.as_ref()
                && let Ok(p) = <[u8; 32]>::try_from(b.as_slice())
                && let Some(n) = NodeId::parse(node)
            {
                out.push((p, vec![n]));
            }
        }
        let tag = state.current_epoch().tag;
        if let Some(g) = self.epoch_grant(r, cid, tag)? {
            let members = self.destinations(r, DocId::Community { id: *cid, part: Part::FOM_FEED })?;
            out.push((crypto::members_friends_pass(&g.key, &cid.0), members));
        }
        out.sort();
        out.dedup_by(|a, b| a.0 == b.0);
        Ok(out)
    }

    /// Our friends-of-members key in `cid`, sealed for the passes of now: a new epoch and
    /// slot grant if they changed (in `t`). Returns the grant to seal under.
    pub(super) fn fom_key(&mut self, t: &mut Txn, cid: &CommunityId) -> Result<Grant, Error> {
        let passes = self.fom_passes(&*t, cid)?;
        let fingerprint = blake3::hash(&passes.iter().map(|(p, _)| *p).collect::<Vec<_>>().concat());
        let meta_key = format!("fom/{cid}");
        let scope = format!("c/{cid}/fom");
        let recorded = t.meta(&meta_key)?;
        if let Some((tag, sealed_for)) = recorded.as_deref().and_then(|v| v.split_first_chunk::<4>())
            && sealed_for == fingerprint.as_bytes()
            && let Some(g) = t.grant(&format!("{scope}#{}", u32::from_le_bytes(*tag)))?
        {
            return Grant::decode(&g).map_err(|e| Error::Invalid(e.to_string()));
        }
        let signer = self.identity.signing_public();
        let mut nonce = [0u8; 16];
        crypto::fill_random(&mut nonce);
        let tag = fom_tag(&signer, &nonce);
        let key = crypto::random_32();
        let own = Grant { granter: signer, recipient: signer, scope: scope.clone(), epoch: tag, key, invitation: None };
        t.put_grant(&format!("{scope}#{tag}"), &own.encode())?;
        let mut v = tag.to_le_bytes().to_vec();
        v.extend_from_slice(fingerprint.as_bytes());
        t.set_meta(&meta_key, &v)?;
        let destination = cid.endpoint();
        let slots = super::fof::Slots { scope: &scope, epoch: tag, nonce, key, passes: &passes };
        self.mint_slots(t, slots, &destination)?;
        Ok(own)
    }

    /// Posts to community `cid`'s feed for its members' friends: members and the friends
    /// of any member read it.
    pub fn post_for_friends_of_members(&mut self, cid: &CommunityId, text: &str) -> Result<(), Error> {
        self.require_role(cid, Part::FOM_FEED, "post")?;
        self.edit(DocId::Community { id: *cid, part: Part::FOM_FEED }, |d, me, now| builtin::add_post(d, me, now, text))
    }

    /// The posts of community `cid`'s feed for its members' friends that this node can
    /// read (as a member, or as a member's friend), oldest first.
    /// A reader that is not a member follows the feed from then on
    /// ([`Node::follow_friends_of_members`]).
    pub fn friends_of_members_posts(&mut self, cid: &CommunityId) -> Result<Vec<Post>, Error> {
        if self.membership(&self.store.read()?, cid).is_err() {
            self.follow_friends_of_members(cid)?;
        }
        let view = self.store.read()?;
        let mut posts =
            builtin::read_posts(&self.load_doc(&view, DocId::Community { id: *cid, part: Part::FOM_FEED })?.doc);
        let hidden: HashSet<String> = self.quarantined(cid)?.iter().map(NodeId::to_string).collect();
        posts.retain(|p| !hidden.contains(&p.author));
        Ok(posts)
    }
}

/// The epoch tag of a member's friends-of-members key: from its key and the slot grant's
/// nonce, so a slot grant cannot claim another member's tag without finding a collision.
pub(super) fn fom_tag(granter: &[u8; 32], nonce: &[u8; 16]) -> u32 {
    let d = crypto::derive(crypto::CONTEXT_SLOT_HINT, &[b"fom tag", granter, nonce]);
    u32::from_le_bytes([d[0], d[1], d[2], d[3]])
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{Kit, carry, community};
    use super::*;

    fn befriend(a: &mut Node, b: &mut Node) {
        a.add_contact(&b.card(), &[Audience::Friends]).unwrap();
        b.add_contact(&a.card(), &[Audience::Friends]).unwrap();
    }

    /// Exactly a community's members and their friends read its posts for friends of
    /// members: not a friend of a friend, not a stranger who carries the bundles.
    #[test]
    fn friends_of_members_reach_exactly_their_readers() {
        let kit = Kit::new();
        let (mut a, mut b) = (kit.node("A"), kit.node("B"));
        let (mut fa, mut fb, mut ffa, mut s) = (kit.node("FA"), kit.node("FB"), kit.node("FFA"), kit.node("S"));
        let cid = community(&mut a, &mut b, Role::Member);
        befriend(&mut a, &mut fa);
        befriend(&mut b, &mut fb);
        befriend(&mut fa, &mut ffa);
        // Passes published and exchanged.
        carry(&mut a, &mut b);
        carry(&mut b, &mut a);
        carry(&mut a, &mut b);
        b.post_for_friends_of_members(&cid, "open day on Saturday").unwrap();
        let mut everything = Vec::new();
        for n in [&mut a, &mut b, &mut fa, &mut fb, &mut ffa] {
            everything.extend(n.export(Target::Everyone).unwrap());
        }
        let mut readers = Vec::new();
        for (name, n) in [("A", &mut a), ("FA", &mut fa), ("FB", &mut fb), ("FFA", &mut ffa), ("S", &mut s)] {
            n.import_many(everything.iter().map(Vec::as_slice)).unwrap();
            if n.friends_of_members_posts(&cid).unwrap().iter().any(|p| p.text == "open day on Saturday") {
                readers.push(name);
            }
        }
        assert_eq!(readers, ["A", "FA", "FB"]);
        assert_eq!(b.friends_of_members_posts(&cid).unwrap().len(), 1);
        // A friend of a member cannot write there.
        assert!(fa.post_for_friends_of_members(&cid, "me too").is_err());
    }
}
