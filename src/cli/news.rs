//! What a sync or an import brought, in words: "Lake Villages: 3 new posts, wiki page
//! "Water"; Mbita's profile", and the announcements that matter (a community joined, an
//! invitation waiting). Built from the node's events during the run: each names its
//! document and its heads before, so only what changed is read.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc::Receiver;

use caravan::{CommunityId, DocId, Event, Node, Part};

use crate::cli::words::{Names, count};

/// Watches a node's events from its creation on.
pub(crate) struct News {
    events: Receiver<Event>,
}

impl News {
    pub(crate) fn watch(node: &mut Node) -> Self {
        News { events: node.subscribe() }
    }

    /// The lines to show, most important first (empty if nothing arrived).
    pub(crate) fn lines(self, node: &mut Node) -> Vec<String> {
        let mut parts: BTreeMap<CommunityId, BTreeSet<Part>> = BTreeMap::new();
        // A feed's heads before its first change in this run.
        let mut feeds_before: BTreeMap<CommunityId, Vec<[u8; 32]>> = BTreeMap::new();
        let mut profiles: BTreeSet<caravan::NodeId> = BTreeSet::new();
        let mut joined = Vec::new();
        let mut invited = Vec::new();
        let me = node.node_id();
        for e in self.events.try_iter() {
            match e {
                Event::DocChanged { doc: DocId::Community { id, part }, before, .. } => {
                    if part == Part::FEED {
                        feeds_before.entry(id).or_insert(before);
                    }
                    parts.entry(id).or_default().insert(part);
                }
                Event::DocChanged { doc: DocId::Profile { owner, .. }, .. } if owner != me => {
                    profiles.insert(owner);
                }
                Event::Joined(cid) => joined.push(cid),
                Event::Invitation { name, .. } => invited.push(name),
                _ => {}
            }
        }
        let names = Names::load(node);
        let communities: BTreeMap<CommunityId, String> =
            node.communities().unwrap_or_default().into_iter().map(|c| (c.id, c.name)).collect();
        let community_name = |cid: &CommunityId| communities.get(cid).cloned().unwrap_or_else(|| "a community".into());
        let mut out = Vec::new();
        for cid in &joined {
            out.push(format!("You are now a member of {}.", community_name(cid)));
        }
        for name in &invited {
            out.push(format!("An invitation to {name:?} waits for you: `caravan community invites`."));
        }
        for (cid, changed) in &parts {
            let mut what = Vec::new();
            let mut pages = Vec::new();
            for part in changed {
                match part {
                    Part::Page(p) => pages.push(node.wiki_page_name(cid, *p).ok().flatten().unwrap_or_default()),
                    &Part::FEED => {
                        let before = feeds_before.get(cid).map(Vec::as_slice).unwrap_or_default();
                        let n = node.posts_since(cid, before).map(|p| p.len()).unwrap_or(0);
                        what.push(if n > 0 { count(n, "new post", "new posts") } else { "post edits".into() });
                    }
                    &Part::ROSTER => what.push("members".into()),
                    &Part::PUBLIC => what.push("name or description".into()),
                    &Part::WIKI => {}
                    Part::Kind(k) => what.push(format!("the {k}")),
                }
            }
            pages.retain(|p| !p.is_empty());
            match pages.as_slice() {
                [] => {}
                [one] => what.insert(0, format!("wiki page {one:?}")),
                many => what.insert(
                    0,
                    format!("wiki pages {}", many.iter().map(|p| format!("{p:?}")).collect::<Vec<_>>().join(", ")),
                ),
            }
            if !what.is_empty() {
                out.push(format!("{}: {}.", community_name(cid), what.join(", ")));
            }
        }
        if !profiles.is_empty() {
            let who: Vec<String> = profiles.iter().map(|n| names.of(n)).collect();
            out.push(format!("Profiles of {}.", who.join(", ")));
        }
        out
    }
}
