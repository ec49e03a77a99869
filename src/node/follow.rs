//! Subscriptions (`spec/plugins.md`, "follow"): reading the public content of a node or a
//! community one is not tied to, like an RSS feed. Following adds the source's public
//! route to those this node reads (`cloaking.rs`), so its public bundles are opened,
//! checked and merged from any link, whoever carried them; and re-reads what was carried
//! here unopened or unread before.

use super::*;

const PUBLIC_FEED: &str = "public-feed";

/// The per-source budget, bytes (little-endian u64).
const FOLLOW_BUDGET: &str = "follow_budget";

fn budget_in(r: &impl Reads) -> Result<u64, Error> {
    Ok(r.meta(FOLLOW_BUDGET)?
        .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
        .map_or(crate::limits::FOLLOW_BUDGET_DEFAULT, u64::from_le_bytes))
}

/// The list of followed sources, in the order they were followed: `p/<node>` or
/// `c/<community>` per line, then, for a node followed by its card, a space and the name
/// the card gives.
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
        let line = line.split_once(' ').map_or(line, |(s, _)| s);
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

/// A bundle kept of a followed source: digest, its author's sequence number, bytes.
type KeptBundle = ([u8; 32], u64, u64);

/// What this node follows: nodes and communities.
#[derive(Debug, Clone, Default)]
pub(super) struct FollowSet {
    pub(super) nodes: HashSet<NodeId>,
    pub(super) communities: HashSet<CommunityId>,
}

pub(super) fn following_in(r: &impl Reads) -> Result<Vec<Followed>, Error> {
    Ok(entries(r)?.into_iter().map(|(f, _)| f).collect())
}

/// The followed sources with the names their cards gave.
fn entries(r: &impl Reads) -> Result<Vec<(Followed, Option<String>)>, Error> {
    Ok(r.meta(FOLLOWING)?
        .map(|v| {
            String::from_utf8_lossy(&v)
                .lines()
                .filter_map(|l| {
                    let name = l.split_once(' ').map(|(_, n)| n.to_string());
                    Followed::parse(l).map(|f| (f, name))
                })
                .collect()
        })
        .unwrap_or_default())
}

fn write_entries(t: &mut Txn, list: &[(Followed, Option<String>)]) -> Result<(), Error> {
    let text: Vec<String> = list
        .iter()
        .map(|(f, name)| match name {
            Some(n) => format!("{} {}", f.owner(), n.replace(['\n', '\r'], " ")),
            None => f.owner(),
        })
        .collect();
    t.set_meta(FOLLOWING, text.join("\n").as_bytes())?;
    Ok(())
}

pub(super) fn follow_set(r: &impl Reads) -> Result<FollowSet, Error> {
    let mut set = FollowSet::default();
    // Communities linked to ours are read like followed ones (`link.rs`).
    set.communities.extend(super::link::linked_in(r)?);
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
        self.follow_named(source, None)
    }

    /// Follows the node a contact card names, remembering the card's name for it.
    pub fn follow_card(&mut self, card: &ContactCard) -> Result<bool, Error> {
        self.follow_named(Followed::Node(card.node_id()), Some(card.name.clone()))
    }

    fn follow_named(&mut self, source: Followed, name: Option<String>) -> Result<bool, Error> {
        if source == Followed::Node(self.node_id()) {
            return Err(Error::Invalid("that is this node: its own content is always read".into()));
        }
        let mut imp = Import::new(self.write_txn()?, (self.clock)());
        let result = (|| {
            let mut list = entries(&imp.t)?;
            if list.iter().any(|(f, _)| *f == source) {
                return Ok(false);
            }
            if list.len() >= crate::limits::FOLLOWING_MAX {
                return Err(Error::Invalid(format!(
                    "already following {} sources, the most a node follows: unfollow one first",
                    list.len()
                )));
            }
            list.push((source, name));
            write_entries(&mut imp.t, &list)?;
            let again = self.to_read_again(&imp, source)?;
            self.reread(&mut imp, again)?;
            Ok(true)
        })();
        let Import { t, touched, .. } = imp;
        match result {
            Ok(v) => self.finish(t, Ok(()), touched).map(|_| v),
            Err(e) => self.finish(t, Err(e), touched).map(|_| false),
        }
    }

    /// What to read again once `source` is followed: bundles carried unopened (its
    /// route was not ours), or opened but not read (a community member's profile).
    pub(super) fn to_read_again(&self, imp: &Import, source: Followed) -> Result<Vec<[u8; 32]>, Error> {
        let mut again = self.newly_recognised(imp)?;
        for (d, m) in imp.t.all_bundle_meta()? {
            if m.state == BundleState::Carried && m.opener.is_some() && source.owns(&m.doc) {
                again.push(d);
            }
        }
        again.sort();
        again.dedup();
        Ok(again)
    }

    /// Stops following a source: nothing more of it is read (what was read stays, as the
    /// documents of a community one leaves). Returns `false` if it was not followed.
    pub fn unfollow(&mut self, source: Followed) -> Result<bool, Error> {
        let mut t = self.write_txn()?;
        let mut list = entries(&t)?;
        let before = list.len();
        list.retain(|(f, _)| *f != source);
        if list.len() == before {
            return Ok(false);
        }
        write_entries(&mut t, &list)?;
        t.commit()?;
        Ok(true)
    }

    /// A community's name as its public part says, if this node holds any of it (its
    /// own communities, those it follows or carries).
    pub fn community_name(&mut self, cid: &CommunityId) -> Result<Option<String>, Error> {
        self.read_kind(cid, "public", |d| crate::plugin::builtin::read_str(d, "name"))
    }

    /// Posts to community `cid`'s public feed: anyone who follows the community reads it.
    pub fn post_public(&mut self, cid: &CommunityId, text: &str) -> Result<(), Error> {
        self.edit_kind(cid, PUBLIC_FEED, |d, me, now| builtin::add_post(d, me, now, text))
    }

    /// Community `cid`'s public posts this node holds (its own community's, or one it
    /// follows or carries), oldest first.
    pub fn public_posts(&mut self, cid: &CommunityId) -> Result<Vec<Post>, Error> {
        let mut posts = self.read_kind(cid, PUBLIC_FEED, builtin::read_posts)?;
        let hidden: HashSet<String> = self.quarantined(cid)?.iter().map(NodeId::to_string).collect();
        posts.retain(|p| !hidden.contains(&p.author));
        Ok(posts)
    }

    /// Everything public of what this node follows, newest first: each followed node's
    /// public posts and each followed community's public feed, with their source.
    pub fn following_feed(&mut self) -> Result<Vec<(Followed, Post)>, Error> {
        let mut out = Vec::new();
        for f in self.following()? {
            let posts = match f {
                Followed::Node(n) => self.profile_posts(&n, crate::doc::Audience::Public)?,
                Followed::Community(c) => self.public_posts(&c)?,
            };
            out.extend(posts.into_iter().map(|p| (f, p)));
        }
        out.sort_by(|a, b| b.1.at_unix_ms.cmp(&a.1.at_unix_ms).then_with(|| a.1.text.cmp(&b.1.text)));
        Ok(out)
    }

    /// Sets how many bytes of each followed source's public content this node keeps and
    /// passes on to other followers (default 16 MiB); past it, the source's oldest
    /// bundles go first. What was read from them stays readable here.
    pub fn set_follow_budget(&mut self, bytes: u64) -> Result<(), Error> {
        let mut t = self.write_txn()?;
        t.set_meta(FOLLOW_BUDGET, &bytes.to_le_bytes())?;
        let r = self.trim_followed(&mut t);
        match r {
            Ok(()) => Ok(t.commit()?),
            Err(e) => Err(e),
        }
    }

    /// The per-source budget now.
    pub fn follow_budget(&self) -> Result<u64, Error> {
        budget_in(&self.store.read()?)
    }

    /// Keeps each followed source within the budget: past it, the bundles of its public
    /// documents go, oldest first by their author's signed sequence numbers (never by a
    /// time or a field a carrier could change).
    pub(super) fn trim_followed(&mut self, t: &mut Txn) -> Result<(), Error> {
        let budget = budget_in(&*t)?;
        for (_, mut bundles) in self.followed_bundles(&*t)? {
            let total: u64 = bundles.iter().map(|b| b.2).sum();
            if total <= budget {
                continue;
            }
            bundles.sort_by_key(|b| std::cmp::Reverse(b.1));
            let mut kept = 0u64;
            for (d, _, bytes) in bundles {
                kept += bytes;
                if kept > budget {
                    self.forget(t, &d)?;
                }
            }
        }
        Ok(())
    }

    /// The bundles kept of each followed source (digest, author's sequence, bytes); our
    /// communities and contacts, kept by other rules (custody, membership), left out.
    fn followed_bundles(&self, r: &impl Reads) -> Result<Vec<(Followed, Vec<KeptBundle>)>, Error> {
        let list = following_in(r)?;
        if list.is_empty() {
            return Ok(Vec::new());
        }
        let me = self.node_id();
        let joined: HashSet<CommunityId> = super::authority::joined_communities(r)?.into_iter().collect();
        let contacts: HashSet<String> = r.contacts()?.into_iter().map(|(id, _, _)| id).collect();
        let list: Vec<Followed> = list
            .into_iter()
            .filter(|f| match f {
                Followed::Node(n) => !contacts.contains(&n.to_string()),
                Followed::Community(c) => !joined.contains(c),
            })
            .collect();
        let mut per: Vec<(Followed, Vec<KeptBundle>)> = list.iter().map(|f| (*f, Vec::new())).collect();
        for (d, m) in r.all_bundle_meta()? {
            if m.author == me || m.state != BundleState::Applied {
                continue;
            }
            if let Some(i) = list.iter().position(|f| f.owns(&m.doc)) {
                per[i].1.push((d, m.seq, u64::from(m.bytes)));
            }
        }
        Ok(per)
    }

    /// What this node keeps of each followed source (not of its own communities or its
    /// contacts, kept as theirs): bytes and bundles.
    pub fn followed_usage(&self) -> Result<Vec<(Followed, u64, usize)>, Error> {
        let view = self.store.read()?;
        Ok(self.followed_bundles(&view)?.into_iter().map(|(f, b)| (f, b.iter().map(|x| x.2).sum(), b.len())).collect())
    }

    /// The names of followed nodes: the card's they were followed by, else the `name`
    /// field of their public profile.
    pub(super) fn followed_names(&mut self) -> Result<Vec<(NodeId, String)>, Error> {
        let list = entries(&self.store.read()?)?;
        let mut out = Vec::new();
        for (f, name) in list {
            let Followed::Node(n) = f else { continue };
            let name = match name {
                Some(n) => Some(n),
                None => self.profile(&n)?.into_iter().find(|p| p.name == "name").map(|p| p.value),
            };
            if let Some(name) = name {
                out.push((n, name));
            }
        }
        Ok(out)
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
