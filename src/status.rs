//! What `caravan status` shows: the node, its custody queue, relay usage, configured
//! peers with their last sync and the next window, and, while a daemon runs, who is
//! connected now and the last syncs. A running daemon holds the store, so it writes this
//! same report to `daemon-status.json` in the node's home (atomically, after each sync
//! and every few seconds) and the CLI reads it from there.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::node::Node;

pub use crate::limits::SYNCS_KEPT;
pub use crate::words::human_bytes;
use crate::words::{count, local_time, unknown, when};

/// The file a running daemon keeps its status in, inside the node's home.
pub const STATUS_FILE: &str = "daemon-status.json";

/// A node's status.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Status {
    /// This node's id.
    pub node: String,
    /// Its display name.
    pub name: String,
    /// Contacts known.
    pub contacts: usize,
    /// Communities joined, with our role.
    pub communities: Vec<CommunityLine>,
    /// Invitations waiting for consent.
    pub invites: usize,
    /// The custody queue.
    pub custody: CustodyLine,
    /// What this node carries for others.
    pub relay: RelayLine,
    /// Configured peers.
    pub peers: Vec<PeerLine>,
    /// Every node synced with, and when (ms since the epoch).
    pub seen: Vec<Seen>,
    /// When the next window opens (now if one is open); `None` with no windows.
    pub next_window_unix_ms: Option<u64>,
    /// Whether windows are configured at all.
    pub windows: usize,
    /// The running daemon, if this report comes from one.
    pub daemon: Option<DaemonLine>,
    /// Names of the nodes this report mentions, by node id (this node, contacts,
    /// members of its communities, configured peers).
    #[serde(default)]
    pub names: std::collections::BTreeMap<String, String>,
}

/// One community.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CommunityLine {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Our role.
    pub role: String,
}

/// The custody queue.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct CustodyLine {
    /// Our bundles not yet taken by every destination.
    pub open: usize,
    /// Destinations still missing some of our bundles, with how many, most first.
    pub waiting_for: Vec<Waiting>,
    /// Custody answers to send.
    pub answers_queued: usize,
}

/// Relay usage.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RelayLine {
    /// Bytes carried for others.
    pub used_bytes: u64,
    /// The quota.
    pub quota_bytes: u64,
}

/// A destination in the custody queue.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Waiting {
    /// The destination node.
    pub node: String,
    /// Bundles it has not taken yet.
    pub bundles: usize,
}

/// A configured peer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PeerLine {
    /// Its node id.
    pub node: String,
    /// Its name, from its card.
    pub name: String,
    /// Where it is dialled.
    pub address: String,
    /// Last sync with it (ms since the epoch).
    pub last_seen_unix_ms: Option<u64>,
    /// Connected right now (only known while a daemon runs).
    pub connected: bool,
}

/// A node synced with.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Seen {
    /// Its node id.
    pub node: String,
    /// When (ms since the epoch).
    pub last_seen_unix_ms: u64,
}

/// The running daemon's part.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DaemonLine {
    /// Its process id.
    pub pid: u32,
    /// Its QUIC address.
    pub listen: String,
    /// When it started (ms since the epoch).
    pub started_unix_ms: u64,
    /// When this report was written (ms since the epoch).
    pub updated_unix_ms: u64,
    /// Nodes connected now.
    pub connected: Vec<String>,
    /// Nodes found by LAN discovery (node id, address).
    pub discovered: Vec<(String, String)>,
    /// The last syncs, newest last.
    pub syncs: Vec<SyncLine>,
}

/// One finished (or failed) exchange.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SyncLine {
    /// The other node.
    pub peer: String,
    /// When it ended (ms since the epoch).
    pub at_unix_ms: u64,
    /// `dialled` or `accepted`.
    pub direction: String,
    /// Bundles sent.
    pub sent: usize,
    /// Bundles received that were new.
    pub received_new: usize,
    /// Empty on success, else why it failed.
    pub error: String,
}

/// Collects the status of `node` with the daemon settings `config` at `now_ms`.
pub fn collect(node: &mut Node, config: &Config, now_ms: u64) -> Result<Status, crate::Error> {
    let custody = node.custody()?;
    let (relay_used_bytes, relay_quota_bytes) = node.relay_usage()?;
    let seen = node.contacts_seen()?;
    let last_seen = |n: &crate::NodeId| seen.iter().find(|(m, _)| m == n).map(|(_, t)| *t);
    let next_window_unix_ms = if config.windows.is_empty() {
        None
    } else if crate::schedule::open(&config.windows, now_ms) {
        Some(now_ms)
    } else {
        config.windows.iter().filter_map(|w| w.next_open(now_ms)).min()
    };
    let mut waiting: Vec<Waiting> =
        custody.waiting_for.iter().map(|(n, k)| Waiting { node: n.to_string(), bundles: *k }).collect();
    waiting.sort_by(|a, b| b.bundles.cmp(&a.bundles).then(a.node.cmp(&b.node)));
    let communities = node.communities()?;
    let mut names: std::collections::BTreeMap<String, String> =
        node.names()?.into_iter().map(|(id, n)| (id.to_string(), n)).collect();
    for p in &config.peers {
        names.entry(p.card.node_id().to_string()).or_insert_with(|| p.card.name.clone());
    }
    Ok(Status {
        node: node.node_id().to_string(),
        name: node.name().to_string(),
        contacts: node.contacts()?.len(),
        communities: communities
            .into_iter()
            .map(|c| CommunityLine { id: c.id.to_string(), name: c.name, role: c.role.to_string() })
            .collect(),
        invites: node.invites()?.len(),
        custody: CustodyLine { open: custody.open, waiting_for: waiting, answers_queued: custody.answers_queued },
        relay: RelayLine { used_bytes: relay_used_bytes, quota_bytes: relay_quota_bytes },
        peers: config
            .peers
            .iter()
            .map(|p| PeerLine {
                node: p.card.node_id().to_string(),
                name: p.card.name.clone(),
                address: p.address.clone(),
                last_seen_unix_ms: last_seen(&p.card.node_id()),
                connected: false,
            })
            .collect(),
        seen: seen.iter().map(|(n, t)| Seen { node: n.to_string(), last_seen_unix_ms: *t }).collect(),
        next_window_unix_ms,
        windows: config.windows.len(),
        daemon: None,
        names,
    })
}

/// The status as text for a person: names where they are known (ids in `--json`),
/// times as "5 minutes ago", sizes in KiB and MiB.
pub fn render(s: &Status, now_ms: u64) -> String {
    use std::fmt::Write;
    let name = |id: &str| match s.names.get(id) {
        Some(n) => n.clone(),
        None => unknown(id),
    };
    let mut o = String::new();
    let _ = writeln!(o, "{}", if s.name.is_empty() { name(&s.node) } else { s.name.clone() });
    let _ = writeln!(
        o,
        "{}, {}, {}",
        count(s.contacts, "contact", "contacts"),
        count(s.communities.len(), "community", "communities"),
        match s.invites {
            0 => "no invitations waiting".to_string(),
            1 => "1 invitation waiting (`caravan community invites`)".to_string(),
            n => format!("{n} invitations waiting (`caravan community invites`)"),
        }
    );
    for c in &s.communities {
        let _ = writeln!(o, "  {} ({})", c.name, c.role);
    }
    if s.custody.open == 0 {
        o.push_str("custody: everything of ours has reached every destination\n");
    } else {
        let who: Vec<String> =
            s.custody.waiting_for.iter().take(5).map(|w| format!("{} ({})", name(&w.node), w.bundles)).collect();
        let more = s.custody.waiting_for.len().saturating_sub(5);
        let _ = writeln!(
            o,
            "custody: {} of ours still to reach {}{}",
            count(s.custody.open, "bundle", "bundles"),
            who.join(", "),
            if more > 0 { format!(" and {more} more") } else { String::new() }
        );
    }
    if s.custody.answers_queued > 0 {
        let _ = writeln!(
            o,
            "  {} to others' bundles leave with the next sync",
            count(s.custody.answers_queued, "answer", "answers")
        );
    }
    let _ = writeln!(
        o,
        "relay: keeping {} for others, of a quota of {}",
        human_bytes(s.relay.used_bytes),
        human_bytes(s.relay.quota_bytes)
    );
    for p in &s.peers {
        let when =
            p.last_seen_unix_ms.map_or("never synced".to_string(), |t| format!("last synced {}", when(t, now_ms)));
        let now = if p.connected { ", connected now" } else { "" };
        let _ = writeln!(o, "peer {} at {}: {when}{now}", p.name, p.address);
    }
    match s.next_window_unix_ms {
        Some(t) if t <= now_ms => o.push_str("window: open now\n"),
        Some(t) => {
            let mins = (t - now_ms) / 60_000;
            let _ = match mins {
                0..60 => writeln!(o, "next window opens in {}", count(mins as usize, "minute", "minutes")),
                60..2880 => writeln!(o, "next window opens in {} h {} min", mins / 60, mins % 60),
                _ => writeln!(o, "next window opens on {}", local_time(t)),
            };
        }
        None if s.windows == 0 => {}
        None => o.push_str("no window ahead\n"),
    }
    match &s.daemon {
        None => o.push_str("daemon: not running\n"),
        Some(d) => {
            let _ = writeln!(
                o,
                "daemon: running on {} since {} (process {})",
                d.listen,
                when(d.started_unix_ms, now_ms),
                d.pid
            );
            let connected: Vec<String> = d.connected.iter().map(|n| name(n)).collect();
            let _ = writeln!(
                o,
                "  connected now: {}",
                if connected.is_empty() { "nobody".into() } else { connected.join(", ") }
            );
            for (n, a) in &d.discovered {
                let _ = writeln!(o, "  found on the LAN: {} at {a}", name(n));
            }
            for x in d.syncs.iter().rev().take(5) {
                let how = if x.direction == "dialled" { "we called" } else { "they called" };
                if x.error.is_empty() {
                    let _ = writeln!(
                        o,
                        "  synced with {} {} ({how}): sent {}, received {} new",
                        name(&x.peer),
                        when(x.at_unix_ms, now_ms),
                        count(x.sent, "bundle", "bundles"),
                        x.received_new
                    );
                } else {
                    let _ = writeln!(
                        o,
                        "  sync with {} failed {} ({how}): {}",
                        name(&x.peer),
                        when(x.at_unix_ms, now_ms),
                        x.error
                    );
                }
            }
        }
    }
    o
}

/// Where a daemon for `home` keeps its status.
pub fn file(home: &Path) -> PathBuf {
    home.join(STATUS_FILE)
}

/// Writes `status` to `home`'s status file atomically (write aside, then rename).
pub fn write(home: &Path, status: &Status) -> std::io::Result<()> {
    let tmp = home.join(format!("{STATUS_FILE}.tmp"));
    let bytes = serde_json::to_vec_pretty(status).map_err(std::io::Error::other)?;
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, file(home))
}

/// The report of the daemon running for `home`, if there is one: its file is there and
/// its process is alive.
pub fn running(home: &Path) -> Option<Status> {
    let s = read(home)?;
    let pid = s.daemon.as_ref()?.pid;
    // A daemon that was killed leaves its file behind: trust it only while the process lives.
    if cfg!(target_os = "linux") && !Path::new(&format!("/proc/{pid}")).exists() {
        return None;
    }
    Some(s)
}

/// Reads the status a running daemon wrote, if the file is there and parses.
pub fn read(home: &Path) -> Option<Status> {
    let bytes = std::fs::read(file(home)).ok()?;
    if bytes.len() > 16 << 20 {
        return None;
    }
    serde_json::from_slice(&bytes).ok()
}

/// The file the last stick syncs are noted in, inside the node's home.
pub const STICK_SYNCS_FILE: &str = "stick-syncs.json";

/// One stick sync, as `caravan sync` notes it for the dashboard.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StickSync {
    /// When it ended (ms since the epoch).
    pub at_unix_ms: u64,
    /// The stick's path.
    pub stick: String,
    /// Bundles taken in that were new.
    pub took: usize,
    /// Bundles left on the stick.
    pub left: usize,
    /// What arrived, in words (one line per community).
    pub news: Vec<String>,
}

/// Notes a stick sync in `home` (the last `SYNCS_KEPT` are kept; written aside, then
/// renamed).
pub fn note_stick_sync(home: &Path, sync: StickSync) -> std::io::Result<()> {
    let mut all = stick_syncs(home);
    all.push(sync);
    let drop = all.len().saturating_sub(SYNCS_KEPT);
    all.drain(..drop);
    let tmp = home.join(format!("{STICK_SYNCS_FILE}.tmp"));
    std::fs::write(&tmp, serde_json::to_vec(&all).map_err(std::io::Error::other)?)?;
    std::fs::rename(&tmp, home.join(STICK_SYNCS_FILE))
}

/// The last stick syncs noted in `home`, oldest first.
pub fn stick_syncs(home: &Path) -> Vec<StickSync> {
    let Ok(bytes) = std::fs::read(home.join(STICK_SYNCS_FILE)) else { return Vec::new() };
    if bytes.len() > 1 << 20 {
        return Vec::new();
    }
    serde_json::from_slice(&bytes).unwrap_or_default()
}
