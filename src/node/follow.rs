//! Subscriptions (`spec/plugins.md`, "follow"): reading the public content of a node or a
//! community one is not tied to, like an RSS feed. Following adds the source's public
//! route to those this node reads (`cloaking.rs`), so its public bundles are opened,
//! checked and merged from any link, whoever carried them; and re-reads what was carried
//! here unopened or unread before.

use super::*;

/// The list of followed sources, in the order they were followed: `p/<node>` or
/// `c/<community>` per line.
const FOLLOWING: &str = "following";

/// A source of public content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Followed {
    /// A node's public profile.
    Node(NodeId),
    /// A community's public part (its name, public market, public posts, reviews).
    Community(CommunityId),
}

impl Followed {
    fn owner(&self) -> String {
        match self {
            Followed::Node(n) => format!("p/{n}"),
            Followed::Community(c) => format!("c/{c}"),
        }
    }

    fn parse(line: &str) -> Option<Self> {
        match line.split_once('/')? {
            ("p", n) => NodeId::parse(n).map(Followed::Node),
            ("c", c) => CommunityId::parse(c).map(Followed::Community),
            _ => None,
        }
    }

    /// Whether a stored bundle's document is this source's public content.
    fn owns(&self, doc: &str) -> bool {
        match (DocId::parse(doc), self) {
            (Some(d @ DocId::Profile { owner, .. }), Followed::Node(n)) => d.is_public() && owner == *n,
            (Some(d @ DocId::Community { id, .. }), Followed::Community(c)) => d.is_public() && id == *c,
            _ => false,
        }
    }
}

/// What this node follows: nodes and communities.
#[derive(Debug, Clone, Default)]
pub(super) struct FollowSet {
    pub(super) nodes: HashSet<NodeId>,
    pub(super) communities: HashSet<CommunityId>,
}

pub(super) fn following_in(r: &impl Reads) -> Result<Vec<Followed>, Error> {
    Ok(r.meta(FOLLOWING)?
        .map(|v| String::from_utf8_lossy(&v).lines().filter_map(Followed::parse).collect())
        .unwrap_or_default())
}

pub(super) fn follow_set(r: &impl Reads) -> Result<FollowSet, Error> {
    let mut set = FollowSet::default();
    for f in following_in(r)? {
        match f {
            Followed::Node(n) => set.nodes.insert(n),
            Followed::Community(c) => set.communities.insert(c),
        };
    }
    Ok(set)
}

impl Node {
    /// Follows a node's or a community's public content from now on: what any link
    /// brings of it is read, and what was carried here before is read now. Returns
    /// `false` if it was followed already. Following one's own node is refused.
    pub fn follow(&mut self, source: Followed) -> Result<bool, Error> {
        if source == Followed::Node(self.node_id()) {
            return Err(Error::Invalid("that is this node: its own content is always read".into()));
        }
        let mut imp = Import::new(self.write_txn()?, (self.clock)());
        let result = (|| {
            let mut list = following_in(&imp.t)?;
            if list.contains(&source) {
                return Ok(false);
            }
            if list.len() >= crate::limits::FOLLOWING_MAX {
                return Err(Error::Invalid(format!(
                    "already following {} sources, the most a node follows: unfollow one first",
                    list.len()
                )));
            }
            list.push(source);
            let text: Vec<String> = list.iter().map(Followed::owner).collect();
            imp.t.set_meta(FOLLOWING, text.join("\n").as_bytes())?;
            // Carried unopened (its route was not ours), or opened but not read (a
            // community member's profile): read now.
            let mut again = self.newly_recognised(&imp)?;
            for (d, m) in imp.t.all_bundle_meta()? {
                if m.state == BundleState::Carried && m.opener.is_some() && source.owns(&m.doc) {
                    again.push(d);
                }
            }
            again.sort();
            again.dedup();
            self.reread(&mut imp, again)?;
            Ok(true)
        })();
        let Import { t, touched, .. } = imp;
        match result {
            Ok(v) => self.finish(t, Ok(()), touched).map(|_| v),
            Err(e) => self.finish(t, Err(e), touched).map(|_| false),
        }
    }

    /// Stops following a source: nothing more of it is read (what was read stays, as the
    /// documents of a community one leaves). Returns `false` if it was not followed.
    pub fn unfollow(&mut self, source: Followed) -> Result<bool, Error> {
        let mut t = self.write_txn()?;
        let mut list = following_in(&t)?;
        let before = list.len();
        list.retain(|f| *f != source);
        if list.len() == before {
            return Ok(false);
        }
        let text: Vec<String> = list.iter().map(Followed::owner).collect();
        t.set_meta(FOLLOWING, text.join("\n").as_bytes())?;
        t.commit()?;
        Ok(true)
    }

    /// A community's name as its public part says, if this node holds any of it (its
    /// own communities, those it follows or carries).
    pub fn community_name(&mut self, cid: &CommunityId) -> Result<Option<String>, Error> {
        self.read_kind(cid, "public", |d| crate::plugin::builtin::read_str(d, "name"))
    }

    /// What this node follows, in the order it followed them.
    pub fn following(&self) -> Result<Vec<Followed>, Error> {
        following_in(&self.store.read()?)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{Kit, carry};
    use super::*;

    /// A follower that carries nothing for others (relay quota 0) keeps and reads what
    /// it follows, from a carrier that follows nobody; before following, nothing of it
    /// was kept.
    #[test]
    fn a_follower_keeps_what_it_follows_and_nothing_else() {
        let kit = Kit::new();
        let (mut a, mut carrier, mut f) = (kit.node("Author"), kit.node("Carrier"), kit.node("Follower"));
        f.set_relay_quota(0).unwrap();
        a.set_profile_field("about", "Honey from the hill", crate::doc::Audience::Public).unwrap();
        carry(&mut a, &mut carrier);
        let about = |n: &mut Node, who: NodeId| {
            n.profile(&who).unwrap().into_iter().find(|p| p.name == "about").map(|p| p.value)
        };
        carry(&mut carrier, &mut f);
        assert_eq!(about(&mut f, a.node_id()), None, "not followed, no room for others: not kept");
        assert!(f.follow(Followed::Node(a.node_id())).unwrap());
        assert!(!f.follow(Followed::Node(a.node_id())).unwrap(), "already followed");
        carry(&mut carrier, &mut f);
        assert_eq!(about(&mut f, a.node_id()).as_deref(), Some("Honey from the hill"));
        // Kept as its own: the carrier's copies may go, the follower still reads it.
        let held = f.held_digests().unwrap().len();
        assert!(held > 0);
        assert_eq!(f.following().unwrap(), vec![Followed::Node(a.node_id())]);
        assert!(f.follow(Followed::Node(f.node_id())).is_err());
        assert!(f.unfollow(Followed::Node(a.node_id())).unwrap());
        assert!(!f.unfollow(Followed::Node(a.node_id())).unwrap());
        assert!(f.following().unwrap().is_empty());
    }
}
