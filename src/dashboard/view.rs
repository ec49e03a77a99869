//! What the dashboard's pages show, gathered from the node and the daemon's report, in
//! words people read (names, local times, sizes).

use std::collections::BTreeMap;

use askama::Template;

use crate::doc::CommunityId;
use crate::error::Error;
use crate::node::Node;
use crate::status::{self, Status};
use crate::words::{human_bytes, local_time, unknown, when};

/// Posts shown per community.
const POSTS_SHOWN: usize = 20;

/// The whole page.
#[derive(Template)]
#[template(path = "dashboard.html")]
pub(super) struct Home {
    name: String,
    node: String,
    card: String,
    qr_svg: String,
    token: String,
    communities: Vec<CommunityView>,
    custody: Vec<(String, usize)>,
    custody_open: usize,
    relay_used: String,
    relay_quota: String,
    sticks: Vec<StickView>,
    /// The live part, rendered (it is also served alone, at `/live`).
    live_html: String,
}

struct CommunityView {
    id: String,
    name: String,
    role: String,
    pages: Vec<String>,
    posts: Vec<PostView>,
}

struct PostView {
    who: String,
    when: String,
    text: String,
}

struct StickView {
    when: String,
    stick: String,
    took: usize,
    left: usize,
    news: Vec<String>,
}

/// The part that changes by itself (refreshed in place every few seconds).
#[derive(Template)]
#[template(path = "live.html")]
pub(super) struct Live {
    running: bool,
    connected: Vec<String>,
    peers: Vec<PeerView>,
    syncs: Vec<SyncView>,
    window: String,
}

struct PeerView {
    name: String,
    address: String,
    last: String,
    connected: bool,
}

struct SyncView {
    who: String,
    when: String,
    what: String,
}

/// One wiki page.
#[derive(Template)]
#[template(path = "page.html")]
pub(super) struct Page {
    community: String,
    name: String,
    text: String,
}

/// The names the node knows, by node id text; this node is "NAME (you)".
fn names(node: &mut Node) -> BTreeMap<String, String> {
    let mut names: BTreeMap<String, String> =
        node.names().unwrap_or_default().into_iter().map(|(id, n)| (id.to_string(), n)).collect();
    names.insert(node.node_id().to_string(), format!("{} (you)", node.name()));
    names
}

fn name_of(names: &BTreeMap<String, String>, id: &str) -> String {
    names.get(id).cloned().unwrap_or_else(|| unknown(id))
}

impl Home {
    pub(super) fn gather(node: &mut Node, report: Option<Status>, token: String) -> Result<Home, Error> {
        let now = node.now();
        let names = names(node);
        let card = node.card().to_string();
        let qr_svg = qrcode::QrCode::new(card.as_bytes())
            .map(|q| q.render::<qrcode::render::svg::Color>().min_dimensions(180, 180).quiet_zone(true).build())
            .unwrap_or_default();
        let mut communities = Vec::new();
        for c in node.communities()? {
            let mut posts = node.feed(&c.id).unwrap_or_default();
            posts.sort_by_key(|p| std::cmp::Reverse(p.at_unix_ms));
            let posts = posts
                .into_iter()
                .take(POSTS_SHOWN)
                .map(|p| PostView { who: name_of(&names, &p.author), when: when(p.at_unix_ms, now), text: p.text })
                .collect();
            communities.push(CommunityView {
                id: c.id.to_string(),
                name: c.name,
                role: c.role.to_string(),
                pages: node.wiki_pages(&c.id).unwrap_or_default(),
                posts,
            });
        }
        let custody_status = node.custody()?;
        let mut custody: Vec<(String, usize)> =
            custody_status.waiting_for.iter().map(|(n, k)| (name_of(&names, &n.to_string()), *k)).collect();
        custody.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let (used, quota) = node.relay_usage()?;
        let sticks = status::stick_syncs(node.home())
            .into_iter()
            .rev()
            .take(5)
            .map(|s| StickView {
                when: when(s.at_unix_ms, now),
                stick: s.stick,
                took: s.took,
                left: s.left,
                news: s.news,
            })
            .collect();
        Ok(Home {
            name: node.name().to_string(),
            node: node.node_id().to_string(),
            card,
            qr_svg,
            token,
            communities,
            custody,
            custody_open: custody_status.open,
            relay_used: human_bytes(used),
            relay_quota: human_bytes(quota),
            sticks,
            live_html: Live::from_report(now, &names, report).render().unwrap_or_default(),
        })
    }
}

impl Live {
    pub(super) fn gather(node: &mut Node, report: Option<Status>) -> Result<Live, Error> {
        let now = node.now();
        let names = names(node);
        Ok(Live::from_report(now, &names, report))
    }

    fn from_report(now: u64, names: &BTreeMap<String, String>, report: Option<Status>) -> Live {
        let Some(r) = report else {
            return Live {
                running: false,
                connected: Vec::new(),
                peers: Vec::new(),
                syncs: Vec::new(),
                window: String::new(),
            };
        };
        let window = match r.next_window_unix_ms {
            Some(t) if t <= now => "open now".to_string(),
            Some(t) => format!("opens {}", local_time(t)),
            None if r.windows == 0 => "always open (no windows set)".to_string(),
            None => "none ahead".to_string(),
        };
        let d = r.daemon.clone().unwrap_or_default();
        Live {
            running: true,
            connected: d.connected.iter().map(|n| name_of(names, n)).collect(),
            peers: r
                .peers
                .iter()
                .map(|p| PeerView {
                    name: p.name.clone(),
                    address: p.address.clone(),
                    last: p.last_seen_unix_ms.map_or("never".into(), |t| when(t, now)),
                    connected: p.connected,
                })
                .collect(),
            syncs: d
                .syncs
                .iter()
                .rev()
                .take(10)
                .map(|x| SyncView {
                    who: name_of(names, &x.peer),
                    when: when(x.at_unix_ms, now),
                    what: if x.error.is_empty() {
                        format!("sent {}, received {} new", x.sent, x.received_new)
                    } else {
                        format!("failed: {}", x.error)
                    },
                })
                .collect(),
            window,
        }
    }
}

impl Page {
    pub(super) fn gather(node: &mut Node, cid: CommunityId, name: String) -> Result<Option<Page>, Error> {
        let Some(text) = node.wiki_page(&cid, &name)? else { return Ok(None) };
        let community = node.communities()?.into_iter().find(|c| c.id == cid).map(|c| c.name).unwrap_or_default();
        Ok(Some(Page { community, name, text }))
    }
}
