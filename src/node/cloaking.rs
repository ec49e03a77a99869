//! Which cloaks this node opens (`crate::cloak`, `spec/bundle.md`): the route of every
//! key it holds, of the public content of everyone it knows (contacts, co-members) and
//! of its communities, of its friends' passes, and of release lists; each by every tag it
//! has had while a bundle could live. And the route each of our documents is sealed for.

use super::*;
use crate::cloak::{self, Route};

/// Settings key: the communities whose friends-of-members feed we read as a member's
/// friend (not a member), one id per line.
const FOM_FOLLOWED: &str = "fom-followed";

/// The route a document of ours is cloaked for: its key's, or for public content, its
/// owner's public route.
pub(super) fn doc_route(id: DocId, key: Option<&Grant>) -> Route {
    match key {
        Some(g) => Route::of_key(&g.scope, g.epoch, &g.key),
        None => Route::public(&public_owner(id)),
    }
}

/// Whose public content a document is: `p/<node>` or `c/<community>`.
pub(super) fn public_owner(id: DocId) -> String {
    match id {
        DocId::Profile { owner, .. } => format!("p/{owner}"),
        DocId::Community { id, .. } => format!("c/{id}"),
    }
}

impl Node {
    /// The release secret of our bundle with payload digest `payload`: shown in a release
    /// list once every destination holds it, so every holder of a copy drops it.
    pub(super) fn release_secret(&self, payload: &[u8; 32]) -> [u8; 32] {
        crypto::derive(crypto::CONTEXT_RELEASE_SECRET, &[&self.identity.release_key(), payload])
    }

    /// The release hash our bundle with payload digest `payload` shows in its cloak.
    pub(super) fn release_of(&self, payload: &[u8; 32]) -> [u8; 32] {
        cloak::release_hash(&self.release_secret(payload))
    }

    /// Every route this node reads, by tag, for each day from the lifetime cap before
    /// `now` to the day after it.
    pub(super) fn routes(
        &self,
        r: &impl Reads,
        now: u64,
        keys: &HashMap<String, [u8; 32]>,
        contacts: &HashSet<NodeId>,
        communities: &HashSet<CommunityId>,
        followed: &super::follow::FollowSet,
    ) -> Result<HashMap<[u8; cloak::TAG_LEN], Route>, Error> {
        let mut routes = self.route_set(r, keys, contacts, communities)?;
        routes.extend(followed.nodes.iter().map(|n| Route::public(&format!("p/{n}"))));
        routes.extend(followed.communities.iter().map(|c| Route::public(&format!("c/{c}"))));
        let today = cloak::day_of(now);
        let back = self.lifetime_cap_ms.div_ceil(cloak::DAY_MS) as u32 + 1;
        let mut out = HashMap::with_capacity(routes.len() * (back as usize + 2));
        for route in routes {
            for day in today.saturating_sub(back)..=today.saturating_add(1) {
                out.insert(route.tag(day), route);
            }
        }
        Ok(out)
    }

    fn route_set(
        &self,
        r: &impl Reads,
        keys: &HashMap<String, [u8; 32]>,
        contacts: &HashSet<NodeId>,
        communities: &HashSet<CommunityId>,
    ) -> Result<HashSet<Route>, Error> {
        let me = self.node_id();
        let mut fom: HashSet<CommunityId> = communities.clone();
        fom.extend(followed(r)?);
        let mut out = HashSet::new();
        out.insert(Route::releases());
        for (scope_epoch, key) in keys {
            let Some((scope, epoch)) = scope_epoch.rsplit_once('#') else { continue };
            let Ok(epoch) = epoch.parse::<u32>() else { continue };
            out.insert(Route::of_key(scope, epoch, key));
            match doc::parse_scope(scope) {
                // A friends circle key: the friends-of-friends slots sealed for its pass,
                // and the friends-of-members slots for it in each community we know of.
                Some(ScopeOwner::Profile(_, Audience::Friends)) => {
                    out.insert(Route::pass(&crypto::friends_pass(key)));
                    for cid in &fom {
                        out.insert(Route::pass(&crypto::members_friends_pass(key, &cid.0)));
                    }
                }
                Some(ScopeOwner::Community(cid)) => {
                    out.insert(Route::pass(&crypto::members_friends_pass(key, &cid.0)));
                }
                _ => {}
            }
        }
        let mut known: HashSet<NodeId> = contacts.clone();
        known.insert(me);
        for cid in communities {
            out.insert(Route::public(&format!("c/{cid}")));
            if let Some(state) = self.authority.get(cid) {
                known.extend(state.state.members.keys().map(NodeId::from_signing_public));
                known.extend(state.state.gone.iter().map(NodeId::from_signing_public));
            }
        }
        for n in known {
            out.insert(Route::public(&format!("p/{n}")));
        }
        Ok(out)
    }

    /// Stored bundles carried unopened whose tag this node now reads (it took a key,
    /// a contact, a community): to be read again.
    pub(super) fn newly_recognised(&self, imp: &Import) -> Result<Vec<[u8; 32]>, Error> {
        let ctx = self.ctx(&imp.t, imp.now)?;
        Ok(imp
            .t
            .all_bundle_meta()?
            .into_iter()
            .filter(|(_, m)| m.opener.is_none() && matches!(m.state, BundleState::Carried | BundleState::WaitingKey))
            .filter(|(_, m)| cloak::tag_of(&m.destination).is_some_and(|t| ctx.routes.contains_key(&t)))
            .map(|(d, _)| d)
            .collect())
    }

    /// Reads community `cid`'s friends-of-members feed from now on as a member's friend:
    /// its slot grants are recognised, and those carried unopened are read now.
    pub fn follow_friends_of_members(&mut self, cid: &CommunityId) -> Result<(), Error> {
        let mut imp = Import::new(self.write_txn()?, (self.clock)());
        let result = (|| {
            let mut list = followed(&imp.t)?;
            if list.contains(cid) {
                return Ok(());
            }
            list.push(*cid);
            if list.len() > crate::limits::FOM_FOLLOWED_MAX {
                list.remove(0);
            }
            let text: Vec<String> = list.iter().map(CommunityId::to_string).collect();
            imp.t.set_meta(FOM_FOLLOWED, text.join("\n").as_bytes())?;
            let again = self.newly_recognised(&imp)?;
            self.reread(&mut imp, again)
        })();
        let Import { t, touched, .. } = imp;
        self.finish(t, result, touched)
    }

    /// The tags (as endpoint ids) this node reads on `day`, for a relay to route by
    /// (`spec/sync.md`); at most `ENDPOINTS_MAX`.
    pub(super) fn own_tags(&self, r: &impl Reads, days: std::ops::RangeInclusive<u32>) -> Result<Vec<String>, Error> {
        let ctx = self.ctx(r, (self.clock)())?;
        let mut set = HashSet::new();
        for route in ctx.routes.values() {
            set.insert(*route);
        }
        let mut out = Vec::new();
        for route in set {
            for day in days.clone() {
                out.push(cloak::endpoint(&route.tag(day)));
            }
        }
        out.sort();
        out.truncate(crate::limits::ENDPOINTS_MAX / 2);
        Ok(out)
    }
}

impl Node {
    /// A bundle opened as this node would open it: its inner bundle (as its author signed
    /// it) and what cloaks a changed copy for the same readers; `None` when its cloak is
    /// not for this node (or not ours to read again). For tools and tests that look
    /// inside what travels.
    pub fn open_cloak(&self, bytes: &[u8]) -> Result<Option<cloak::Opened>, Error> {
        let view = self.store.read()?;
        let Ok(outer) = cloak::read_untimed(bytes) else { return Ok(None) };
        let stored = view.bundle_meta(&bundle_digest(bytes))?.and_then(|m| m.opener);
        let route = match stored {
            Some(r) => Some(r),
            None => {
                let ctx = self.ctx(&view, (self.clock)())?;
                ctx.routes.get(&outer.tag).copied().or_else(|| outer.direct_route(&ctx.direct))
            }
        };
        let Some(route) = route else { return Ok(None) };
        Ok(outer.open(&route).ok().map(|inner| cloak::Opened {
            inner,
            route,
            e: outer.e,
            direct: outer.is_direct(&route),
            release: outer.release,
        }))
    }

    /// [`Node::open_cloak`]'s inner bundle.
    #[cfg(test)]
    pub(super) fn inner(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        self.open_cloak(bytes).ok().flatten().map(|o| o.inner)
    }
}

/// The communities followed as a member's friend.
fn followed(r: &impl Reads) -> Result<Vec<CommunityId>, Error> {
    Ok(r.meta(FOM_FOLLOWED)?
        .map(|v| String::from_utf8_lossy(&v).lines().filter_map(CommunityId::parse).collect())
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{Kit, carry, community, is_release_list};
    use super::*;

    /// What a member seals is opened by members and carried unopened by everyone else;
    /// the carrier's copy names nobody.
    #[test]
    fn members_open_what_carriers_only_carry() {
        let kit = Kit::new();
        let (mut a, mut b, mut relay) = (kit.node("A"), kit.node("B"), kit.node("R"));
        let cid = community(&mut a, &mut b, Role::Member);
        a.put_wiki_page(&cid, "Well", "The well is fixed.").unwrap();
        let from_a = a.export(Target::Everyone).unwrap();
        let r = relay.import_many(from_a.iter().map(Vec::as_slice)).unwrap();
        // (A copy its own release list already showed delivered is a duplicate.)
        assert!(
            r.outcomes.iter().all(|o| matches!(o, Outcome::Waiting(WaitReason::ForOthers) | Outcome::Duplicate)),
            "{r:?}"
        );
        assert!(r.outcomes.iter().any(|o| matches!(o, Outcome::Waiting(WaitReason::ForOthers))), "{r:?}");
        assert!(from_a.iter().any(|b| !is_release_list(b)));
        let view = relay.store.read().unwrap();
        for (_, m) in view.all_bundle_meta().unwrap() {
            if m.doc == super::super::release::RELEASES_DOC {
                continue; // release lists name no one: everyone reads them
            }
            assert!(m.opener.is_none() && m.doc.is_empty(), "{m:?}");
            assert!(cloak::tag_of(&m.destination).is_some(), "{}", m.destination);
        }
        drop(view);
        carry(&mut relay, &mut b);
        assert_eq!(b.wiki_page(&cid, "Well").unwrap().as_deref(), Some("The well is fixed."));
    }
}
