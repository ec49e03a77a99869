//! The library's async handle: one node, many users at once.
//!
//! A [`Handle`] owns a [`Node`] and is cheap to clone (as quinn's `Endpoint`): every
//! clone reads and edits the same node, store work runs on tokio's blocking threads
//! (never on the async ones), reads take `&self`, live sync runs beside edits
//! ([`Handle::serve`]: listen, dial, windows, discovery, as `caravan daemon` does),
//! and [`Handle::events`] is an async stream saying what changed, where, and by whom.
//! An edit made through a handle reaches the peers live sync can dial at once, not at
//! the next resync.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use tokio_stream::StreamExt;
//! let handle = caravan::Handle::open("/tmp/village".as_ref(), "Kisumu").await?;
//! let mut events = handle.events();
//! let live = handle.serve(caravan::config::Config::default()).await?;
//! let lake = handle.run(|n| n.create_community("Lake Villages", "")).await?;
//! handle.run(move |n| n.put_wiki_page(&lake, "Water", "North well: pump works.\n")).await?;
//! if let Some(change) = events.next().await {
//!     println!("{change}");
//! }
//! live.stop().await;
//! # Ok(()) }
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::{Mutex, Notify, broadcast};
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::{Stream, StreamExt};

use crate::doc::{Audience, CommunityId, DocId, Part};
use crate::error::Error;
use crate::identity::NodeId;
use crate::limits::EVENTS_BUFFERED;
use crate::node::{Event, Node};

/// A shared, async handle on one node. Clones are cheap and see the same node.
#[derive(Clone)]
pub struct Handle {
    inner: Arc<Inner>,
}

struct Inner {
    node: Arc<Mutex<Node>>,
    home: PathBuf,
    events: broadcast::Sender<Change>,
    /// Woken after a local edit: live sync pushes it to the peers it can reach.
    edited: Notify,
}

/// What changed, for an app: which community and which part of it, and who made it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// A document took new changes (from an edit here or from bundles that arrived).
    Doc {
        /// Its community (`None` for a profile).
        community: Option<CommunityId>,
        /// Which part, by name.
        what: What,
        /// Who made the new changes.
        by: Vec<NodeId>,
        /// For a feed: the posts added or edited, oldest first (empty for other parts).
        posts: Vec<crate::doc::Post>,
        /// The document's id.
        doc: DocId,
    },
    /// This node became a member of a community.
    Joined(CommunityId),
    /// An invitation needs consent (`Node::accept_invite`).
    Invitation {
        /// Id to accept it by.
        id: String,
        /// The community.
        community: CommunityId,
        /// Its name.
        name: String,
    },
}

/// The part of a community or profile a change touched.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum What {
    /// A wiki page, by name (empty if its name is not readable here).
    WikiPage(String),
    /// The list of wiki pages.
    WikiIndex,
    /// The feed.
    Feed,
    /// Who is in, with which role.
    Roster,
    /// The community's name and description.
    About,
    /// A document of another kind (market, a plug-in's), by kind name.
    Kind(String),
    /// One audience of a node's profile.
    Profile {
        /// Whose.
        owner: NodeId,
        /// Which audience.
        audience: Audience,
    },
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Doc { what, by, posts, .. } => {
                let by = match by.len() {
                    0 => String::new(),
                    1 => " by 1 node".to_string(),
                    n => format!(" by {n} nodes"),
                };
                if let (What::Feed, [one]) = (what, posts.as_slice()) {
                    return write!(f, "a post{by}: {:?}", one.text);
                }
                if let (What::Feed, [_, _, ..]) = (what, posts.as_slice()) {
                    return write!(f, "{} posts{by}", posts.len());
                }
                match what {
                    What::WikiPage(p) => write!(f, "wiki page {p:?} changed{by}"),
                    What::WikiIndex => write!(f, "the wiki's pages changed{by}"),
                    What::Feed => write!(f, "the feed changed{by}"),
                    What::Roster => write!(f, "the members changed{by}"),
                    What::About => write!(f, "the community's name or description changed{by}"),
                    What::Kind(k) => write!(f, "the {k} changed{by}"),
                    What::Profile { audience, .. } => write!(f, "a profile ({audience}) changed{by}"),
                }
            }
            Change::Joined(_) => f.write_str("joined a community"),
            Change::Invitation { name, .. } => write!(f, "an invitation to {name:?}"),
        }
    }
}

impl Handle {
    /// Opens (or creates) the node in `home` named `name`, as [`Node::open`].
    pub async fn open(home: &Path, name: &str) -> Result<Handle, Error> {
        let (home, name) = (home.to_path_buf(), name.to_string());
        let node = blocking(move || Node::open(&home, &name)).await?;
        Ok(Handle::new(node))
    }

    /// Opens the node in `home` with a cache of `cache_bytes` and, if its keys are
    /// sealed, their passphrase (as [`Node::open_with`]). If another process holds the
    /// store for a moment, waits up to `wait` for it.
    pub async fn open_with(
        home: &Path,
        cache_bytes: usize,
        passphrase: Option<zeroize::Zeroizing<String>>,
        wait: std::time::Duration,
    ) -> Result<Handle, Error> {
        let until = tokio::time::Instant::now() + wait;
        loop {
            let (h, p) = (home.to_path_buf(), passphrase.clone());
            match blocking(move || Node::open_with(&h, "", cache_bytes, p.as_ref().map(|p| p.as_str()))).await {
                Ok(node) => return Ok(Handle::new(node)),
                Err(Error::Store(crate::store::StoreError::InUse(_))) if tokio::time::Instant::now() < until => {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Wraps a node already open. Events are forwarded from here on.
    pub fn new(mut node: Node) -> Handle {
        let home = node.home().to_path_buf();
        let from_node = node.subscribe();
        let (events, _) = broadcast::channel(EVENTS_BUFFERED);
        let inner = Arc::new(Inner { node: Arc::new(Mutex::new(node)), home, events, edited: Notify::new() });
        // The node's events carry ids; a thread of its own names what they touched (it
        // ends with the node, when the node's sender goes).
        let weak = Arc::downgrade(&inner);
        std::thread::spawn(move || {
            for event in from_node {
                let Some(inner) = weak.upgrade() else { return };
                if inner.events.receiver_count() == 0 {
                    continue;
                }
                let change = describe(&inner.node, event);
                let _ = inner.events.send(change);
            }
        });
        Handle { inner }
    }

    /// Runs `f` on the node, on a blocking thread, and returns what it returns. If `f`
    /// changed the store, live sync pushes the change to the peers it can reach now.
    pub async fn run<T, F>(&self, f: F) -> T
    where
        F: FnOnce(&mut Node) -> T + Send + 'static,
        T: Send + 'static,
    {
        let node = self.inner.node.clone();
        let (out, changed) = blocking(move || {
            let mut n = node.blocking_lock();
            let before = n.store_commits();
            let out = f(&mut n);
            (out, n.store_commits() != before)
        })
        .await;
        if changed {
            self.inner.edited.notify_one();
        }
        out
    }

    /// A wiki page's text (`None` if there is no such page here).
    pub async fn wiki_page(&self, cid: &CommunityId, page: &str) -> Result<Option<String>, Error> {
        let (cid, page) = (*cid, page.to_string());
        self.run(move |n| n.wiki_page(&cid, &page)).await
    }

    /// Writes a wiki page (as [`Node::put_wiki_page`]).
    pub async fn put_wiki_page(&self, cid: &CommunityId, page: &str, text: &str) -> Result<(), Error> {
        let (cid, page, text) = (*cid, page.to_string(), text.to_string());
        self.run(move |n| n.put_wiki_page(&cid, &page, &text)).await
    }

    /// Posts to a community's feed.
    pub async fn post(&self, cid: &CommunityId, text: &str) -> Result<(), Error> {
        let (cid, text) = (*cid, text.to_string());
        self.run(move |n| n.post(&cid, &text)).await
    }

    /// A community's posts.
    pub async fn feed(&self, cid: &CommunityId) -> Result<Vec<crate::doc::Post>, Error> {
        let cid = *cid;
        self.run(move |n| n.feed(&cid)).await
    }

    /// Syncs with the stick mounted at `stick` (as `caravan sync --stick`).
    pub async fn sync_stick(
        &self,
        stick: &Path,
    ) -> Result<crate::link::stick::SyncReport, crate::link::stick::StickError> {
        let stick = stick.to_path_buf();
        self.run(move |n| crate::link::stick::sync(n, &stick, Default::default())).await
    }

    /// What changes from now on, as an async stream. A subscriber that falls more than
    /// `limits::EVENTS_BUFFERED` events behind skips the oldest.
    pub fn events(&self) -> impl Stream<Item = Change> + Send + Unpin + 'static {
        BroadcastStream::new(self.inner.events.subscribe()).filter_map(Result::ok)
    }

    /// The node's home directory.
    pub fn home(&self) -> &Path {
        &self.inner.home
    }

    /// The node itself, for store work the handle does not wrap (lock it only briefly,
    /// and never across a network wait: live sync waits for it).
    pub fn node(&self) -> &Arc<Mutex<Node>> {
        &self.inner.node
    }

    /// Starts live sync on this node (as `caravan daemon`): see [`crate::daemon::serve`].
    pub async fn serve(
        &self,
        config: crate::config::Config,
    ) -> Result<crate::daemon::Live, crate::daemon::DaemonError> {
        crate::daemon::serve(self, config).await
    }

    /// Tells live sync that the node changed through [`Handle::node`] rather than
    /// [`Handle::run`]: the change goes out to the peers it can reach now.
    pub fn edited_elsewhere(&self) {
        self.inner.edited.notify_one();
    }

    /// Resolves when an edit was made through this handle since the last call (live
    /// sync waits on it to push edits at once).
    pub(crate) async fn edited(&self) {
        self.inner.edited.notified().await
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// Names what a node event touched (a page's name is read from its document).
fn describe(node: &Mutex<Node>, event: Event) -> Change {
    match event {
        Event::DocChanged { doc, by, before, .. } => {
            let mut posts = Vec::new();
            let (community, what) = match doc {
                DocId::Profile { owner, audience } => (None, What::Profile { owner, audience }),
                DocId::Community { id, part } => {
                    let what = match part {
                        Part::Page(p) => What::WikiPage(
                            node.blocking_lock().wiki_page_name(&id, p).ok().flatten().unwrap_or_default(),
                        ),
                        Part::WIKI => What::WikiIndex,
                        Part::FEED => {
                            posts = node.blocking_lock().posts_since(&id, &before).unwrap_or_default();
                            What::Feed
                        }
                        Part::ROSTER => What::Roster,
                        Part::PUBLIC => What::About,
                        Part::Kind(k) => What::Kind(k.to_string()),
                    };
                    (Some(id), what)
                }
            };
            Change::Doc { community, what, by, posts, doc }
        }
        Event::Joined(cid) => Change::Joined(cid),
        Event::Invitation { id, community, name } => Change::Invitation { id, community, name },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::Role;
    use crate::sync::Target;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn events_name_the_community_the_part_the_post_and_its_author() {
        let mut a = Node::in_memory("Kisumu").unwrap();
        let mut b = Node::in_memory("Homa Bay").unwrap();
        a.add_contact(&b.card(), &[]).unwrap();
        b.add_contact(&a.card(), &[]).unwrap();
        let lake = a.create_community("Lake Villages", "").unwrap();
        a.invite(&lake, &b.card(), Role::Editor).unwrap();
        for bundle in a.export(Target::Everyone).unwrap() {
            b.import(&bundle).unwrap();
        }
        let author = a.node_id();
        let handle = Handle::new(b);
        let mut events = handle.events();
        a.post(&lake, "Market day moved to Thursday").unwrap();
        a.put_wiki_page(&lake, "Water", "North well: pump works.\n").unwrap();
        let bundles = a.export(Target::Everyone).unwrap();
        handle
            .run(move |b| {
                for bundle in bundles {
                    b.import(&bundle).unwrap();
                }
            })
            .await;
        let mut seen = Vec::new();
        while seen.len() < 2 {
            match tokio::time::timeout(std::time::Duration::from_secs(10), events.next()).await {
                Ok(Some(Change::Doc { community: Some(c), what, by, posts, .. })) if c == lake => {
                    assert_eq!(by, vec![author]);
                    match what {
                        What::Feed => {
                            assert_eq!(posts.len(), 1, "{posts:?}");
                            assert_eq!(posts[0].text, "Market day moved to Thursday");
                            seen.push("feed");
                        }
                        What::WikiPage(p) => {
                            assert_eq!(p, "Water");
                            seen.push("page");
                        }
                        _ => {}
                    }
                }
                Ok(Some(_)) => {}
                other => panic!("no event: {other:?}, saw {seen:?}"),
            }
        }
        assert_eq!(handle.wiki_page(&lake, "Water").await.unwrap().as_deref(), Some("North well: pump works.\n"));
    }
}
