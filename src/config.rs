//! The daemon's configuration file (`config.toml` in the node's home; `spec/config.md`).
//! Every key is known: an unknown or misspelled one is an error that names it, so a typo
//! never silently leaves a default in place.

use std::net::SocketAddr;
use std::path::Path;

use serde::Deserialize;

use crate::identity::{ContactCard, NodeId};
use crate::routing::ContactPlan;
use crate::schedule::Window;

pub use crate::limits::{CONFIG_BYTES_MAX, EXCHANGE_TIMEOUT_DEFAULT};

/// Default QUIC listen address (UDP).
pub const LISTEN_DEFAULT: &str = "0.0.0.0:4433";

/// A configuration that cannot be used, with where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ConfigError {
    /// The file (or `<text>`).
    pub path: String,
    /// What is wrong, naming the key.
    pub message: String,
}

/// A peer to dial: who it must be (its card) and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// Its contact card: the connection is refused unless the other end proves this key.
    pub card: ContactCard,
    /// `host:port` to dial.
    pub address: String,
}

/// The daemon's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// QUIC listen address.
    pub listen: SocketAddr,
    /// Bytes carried for others; `None` keeps the node's own setting (`caravan relay`,
    /// default 1 GiB).
    pub relay_quota: Option<u64>,
    /// Bytes kept and passed on per followed source (`follow_budget`); `None` keeps the
    /// node's own setting (default `limits::FOLLOW_BUDGET_DEFAULT`).
    pub follow_budget: Option<u64>,
    /// LAN sync parties: signed UDP multicast beacons.
    pub discovery: bool,
    /// Where beacons go and are heard: an IPv4 multicast group and port.
    pub discovery_group: std::net::SocketAddrV4,
    /// How much faster than real time the daemon's clock runs (testnets compress days
    /// into minutes); 1 in real use.
    pub time_scale: f64,
    /// Peers to dial inside windows. They may relay for this node.
    pub peers: Vec<Peer>,
    /// Nodes trusted to relay for this node that it does not dial (`[[relay]]`: a hub
    /// that dials the village): they learn every endpoint it receives for.
    pub relays: Vec<ContactCard>,
    /// When outbound connections are allowed; none means always.
    pub windows: Vec<Window>,
    /// Known contacts between other nodes (`[[contact]]`), for the contact plan.
    pub contacts: Vec<Contact>,
    /// The longest lifetime of a bundle taken in (`max_lifetime_days`); `None` keeps the
    /// node's own setting (default 60 days).
    pub max_lifetime: Option<std::time::Duration>,
    /// How long one live exchange may last in all (`exchange_timeout_secs`), so a peer
    /// that trickles keeps nothing open for ever.
    pub exchange_timeout: std::time::Duration,
    /// Where the local dashboard is served (`dashboard = "127.0.0.1:4480"`); `None`: no
    /// dashboard (the default). Only a loopback address is accepted unless
    /// `dashboard_beyond_this_machine = true`.
    pub dashboard: Option<SocketAddr>,
    /// What one member of a community can make this node store per day
    /// (`member_bytes_per_day`, `member_bundles_per_day`); `None` keeps the node's own
    /// setting (`caravan relay`, default 256 MiB and 20,000 bundles).
    pub member_bytes_per_day: Option<u64>,
    /// See `member_bytes_per_day`.
    pub member_bundles_per_day: Option<u32>,
}

/// A known recurring contact between two nodes.
#[derive(Debug, Clone, PartialEq)]
pub struct Contact {
    /// The two nodes.
    pub between: [NodeId; 2],
    /// When they meet; empty means at any time.
    pub windows: Vec<Window>,
}

impl Config {
    /// The contact plan: this node meets each configured peer inside its windows, plus
    /// the `[[contact]]` entries.
    pub fn contact_plan(&self, me: NodeId) -> ContactPlan {
        let mut plan = ContactPlan::default();
        for p in &self.peers {
            plan.add(me, p.card.node_id(), self.windows.clone());
        }
        for c in &self.contacts {
            plan.add(c.between[0], c.between[1], c.windows.clone());
        }
        plan
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: LISTEN_DEFAULT.parse().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 4433))),
            relay_quota: None,
            follow_budget: None,
            discovery: false,
            discovery_group: crate::link::lan::GROUP_DEFAULT,
            time_scale: 1.0,
            peers: Vec::new(),
            relays: Vec::new(),
            windows: Vec::new(),
            contacts: Vec::new(),
            max_lifetime: None,
            exchange_timeout: EXCHANGE_TIMEOUT_DEFAULT,
            dashboard: None,
            member_bytes_per_day: None,
            member_bundles_per_day: None,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    listen: Option<String>,
    relay_quota: Option<Size>,
    follow_budget: Option<Size>,
    member_bytes_per_day: Option<Size>,
    member_bundles_per_day: Option<u32>,
    discovery: Option<bool>,
    discovery_group: Option<String>,
    time_scale: Option<f64>,
    max_lifetime_days: Option<u64>,
    exchange_timeout_secs: Option<u64>,
    dashboard: Option<String>,
    dashboard_beyond_this_machine: Option<bool>,
    #[serde(default)]
    peer: Vec<PeerFile>,
    #[serde(default)]
    relay: Vec<RelayFile>,
    #[serde(default)]
    window: Vec<WindowFile>,
    #[serde(default)]
    contact: Vec<ContactFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ContactFile {
    between: Vec<String>,
    daily: Option<String>,
    weekly: Option<String>,
    once: Option<String>,
    zone: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Size {
    Bytes(u64),
    Text(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PeerFile {
    card: String,
    address: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RelayFile {
    card: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WindowFile {
    daily: Option<String>,
    weekly: Option<String>,
    once: Option<String>,
    zone: Option<String>,
}

/// Parses a size: plain bytes, or a number with K/M/G/T (powers of 1000) or
/// KiB/MiB/GiB/TiB.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("{s:?} is not a size (try 500MB or 2GiB)"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "t" | "tb" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        other => return Err(format!("unknown size unit {other:?} in {s:?} (try MB, GB, MiB, GiB)")),
    };
    n.checked_mul(mult).ok_or_else(|| format!("{s:?} is too large"))
}

/// The window given by at most one of `daily`, `weekly`, `once` (in `zone`, default UTC);
/// `None` if none is given.
fn window_of(
    daily: Option<String>,
    weekly: Option<String>,
    once: Option<String>,
    zone: Option<String>,
) -> Result<Option<Window>, String> {
    let zone = zone.as_deref().unwrap_or("UTC");
    let window = match (daily, weekly, once) {
        (None, None, None) => return Ok(None),
        (Some(d), None, None) => Window::daily(&d, zone),
        (None, Some(d), None) => Window::weekly(&d, zone),
        (None, None, Some(d)) => Window::once(&d, zone),
        _ => return Err("give only one of daily, weekly or once".into()),
    };
    window.map(Some).map_err(|e| e.to_string())
}

impl Config {
    /// Reads `path`; a missing file gives the defaults.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        use std::io::Read;
        let fail = |message: String| ConfigError { path: path.display().to_string(), message };
        let mut options = std::fs::OpenOptions::new();
        options.read(true);
        // Non-blocking, so a FIFO in its place cannot hang the daemon at start.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, rustix::fs::OFlags::NONBLOCK.bits() as i32);
        let file = match options.open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => return Err(fail(e.to_string())),
        };
        if !file.metadata().map_err(|e| fail(e.to_string()))?.is_file() {
            return Err(fail("not a regular file".into()));
        }
        // Read at most the cap (plus one byte to tell a longer file): a link to a device
        // or a huge file is refused, not read.
        let mut bytes = Vec::new();
        file.take(CONFIG_BYTES_MAX + 1).read_to_end(&mut bytes).map_err(|e| fail(e.to_string()))?;
        if bytes.len() as u64 > CONFIG_BYTES_MAX {
            return Err(fail(format!("larger than {CONFIG_BYTES_MAX} bytes")));
        }
        let text = String::from_utf8(bytes).map_err(|_| fail("not UTF-8 text".into()))?;
        Config::parse(&text, &path.display().to_string())
    }

    /// Parses configuration text; `path` names it in errors.
    pub fn parse(text: &str, path: &str) -> Result<Config, ConfigError> {
        let fail = |message: String| ConfigError { path: path.to_string(), message };
        let f: File = toml::from_str(text).map_err(|e| fail(e.to_string().trim().replace('\n', " ")))?;
        let mut c = Config::default();
        if let Some(l) = f.listen {
            c.listen = l.parse().map_err(|_| fail(format!("listen: {l:?} is not an address like 0.0.0.0:4433")))?;
        }
        if let Some(q) = f.member_bytes_per_day {
            c.member_bytes_per_day = Some(match q {
                Size::Bytes(n) => n,
                Size::Text(t) => parse_size(&t).map_err(|e| fail(format!("member_bytes_per_day: {e}")))?,
            });
        }
        c.member_bundles_per_day = f.member_bundles_per_day;
        if let Some(q) = f.relay_quota {
            c.relay_quota = Some(match q {
                Size::Bytes(b) => b,
                Size::Text(t) => parse_size(&t).map_err(|e| fail(format!("relay_quota: {e}")))?,
            });
        }
        if let Some(q) = f.follow_budget {
            c.follow_budget = Some(match q {
                Size::Bytes(b) => b,
                Size::Text(t) => parse_size(&t).map_err(|e| fail(format!("follow_budget: {e}")))?,
            });
        }
        c.discovery = f.discovery.unwrap_or(false);
        if let Some(d) = f.max_lifetime_days {
            if d == 0 || d > 3650 {
                return Err(fail(format!("max_lifetime_days: {d} must be 1 to 3650")));
            }
            c.max_lifetime = Some(std::time::Duration::from_secs(d * 86_400));
        }
        if let Some(d) = f.dashboard {
            let addr: SocketAddr =
                d.parse().map_err(|_| fail(format!("dashboard: {d:?} is not an address like 127.0.0.1:4480")))?;
            if !addr.ip().is_loopback() && f.dashboard_beyond_this_machine != Some(true) {
                return Err(fail(format!(
                    "dashboard: {addr} is reachable from other machines; use 127.0.0.1, or set \
                     dashboard_beyond_this_machine = true if you mean it"
                )));
            }
            c.dashboard = Some(addr);
        }
        if let Some(t) = f.exchange_timeout_secs {
            if t == 0 {
                return Err(fail("exchange_timeout_secs: must be at least 1".into()));
            }
            c.exchange_timeout = std::time::Duration::from_secs(t);
        }
        if let Some(g) = f.discovery_group {
            let addr: std::net::SocketAddrV4 = g
                .parse()
                .map_err(|_| fail(format!("discovery_group: {g:?} is not an address like 239.255.67.86:4434")))?;
            if !addr.ip().is_multicast() {
                return Err(fail(format!("discovery_group: {} is not a multicast address (224.0.0.0/4)", addr.ip())));
            }
            c.discovery_group = addr;
        }
        if let Some(s) = f.time_scale {
            if !(s.is_finite() && s > 0.0) {
                return Err(fail(format!("time_scale: {s} must be a positive number")));
            }
            c.time_scale = s;
        }
        for (i, p) in f.peer.into_iter().enumerate() {
            let card = ContactCard::parse(&p.card).map_err(|e| fail(format!("peer {}: card: {e}", i + 1)))?;
            if !p.address.contains(':') {
                return Err(fail(format!("peer {}: address {:?} needs a port (host:4433)", i + 1, p.address)));
            }
            c.peers.push(Peer { card, address: p.address });
        }
        for (i, r) in f.relay.into_iter().enumerate() {
            let card = ContactCard::parse(&r.card).map_err(|e| fail(format!("relay {}: card: {e}", i + 1)))?;
            c.relays.push(card);
        }
        for (i, w) in f.window.into_iter().enumerate() {
            let window =
                window_of(w.daily, w.weekly, w.once, w.zone).map_err(|e| fail(format!("window {}: {e}", i + 1)))?;
            c.windows.push(window.ok_or_else(|| fail(format!("window {}: give one of daily, weekly or once", i + 1)))?);
        }
        for (i, k) in f.contact.into_iter().enumerate() {
            let node = |s: &str| {
                NodeId::parse(s.trim())
                    .or_else(|| ContactCard::parse(s).ok().map(|c| c.node_id()))
                    .ok_or_else(|| fail(format!("contact {}: {s:?} is neither a node id nor a contact card", i + 1)))
            };
            let [x, y] = k.between.as_slice() else {
                return Err(fail(format!("contact {}: between needs exactly two nodes", i + 1)));
            };
            // No window: they meet at any time.
            let windows = window_of(k.daily, k.weekly, k.once, k.zone)
                .map_err(|e| fail(format!("contact {}: {e}", i + 1)))?
                .into_iter()
                .collect();
            c.contacts.push(Contact { between: [node(x)?, node(y)?], windows });
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_a_full_file() {
        assert_eq!(Config::parse("", "c").unwrap(), Config::default());
        let card = crate::identity::Identity::generate().card("Hub").to_string();
        let text = format!(
            "listen = \"127.0.0.1:5000\"\nrelay_quota = \"2GiB\"\ndiscovery = true\ntime_scale = 60.0\n\
             [[peer]]\ncard = \"{card}\"\naddress = \"hub.example.org:4433\"\n\
             [[window]]\ndaily = \"18:00-19:00\"\nzone = \"Africa/Nairobi\"\n\
             [[window]]\nweekly = \"sat 09:00-12:00\"\n"
        );
        let c = Config::parse(&text, "c").unwrap();
        assert_eq!(c.listen, "127.0.0.1:5000".parse().unwrap());
        assert_eq!(c.relay_quota, Some(2 << 30));
        let m = Config::parse("member_bytes_per_day = \"10MiB\"\nmember_bundles_per_day = 50\n", "c").unwrap();
        assert_eq!((m.member_bytes_per_day, m.member_bundles_per_day), (Some(10 << 20), Some(50)));
        assert!(c.discovery);
        assert_eq!(c.time_scale, 60.0);
        assert_eq!(c.peers.len(), 1);
        assert_eq!(c.windows.len(), 2);
        let (x, y) = (crate::identity::Identity::generate().node_id(), crate::identity::Identity::generate().node_id());
        let text = format!(
            "[[contact]]\nbetween = [\"{x}\", \"{y}\"]\ndaily = \"09:00-10:00\"\n[[contact]]\nbetween = [\"{x}\", \"{card}\"]\n"
        );
        let c = Config::parse(&text, "c").unwrap();
        assert_eq!(c.contacts.len(), 2);
        assert_eq!(c.contacts[0].between, [x, y]);
        assert!(c.contacts[1].windows.is_empty());
        assert!(!c.contact_plan(y).is_empty());
        let e = Config::parse(&format!("[[contact]]\nbetween = [\"{x}\"]\n"), "c").unwrap_err();
        assert!(e.to_string().contains("contact 1: between needs exactly two"), "{e}");
        let e = Config::parse("[[contact]]\nbetween = [\"x\", \"y\"]\n", "c").unwrap_err();
        assert!(e.to_string().contains("neither a node id"), "{e}");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let e = Config::parse("relay_qouta = 5\n", "home/config.toml").unwrap_err();
        assert!(e.to_string().contains("relay_qouta") && e.to_string().starts_with("home/config.toml"), "{e}");
        let e = Config::parse("[[window]]\ndaily = \"18:00-19:00\"\ntimezone = \"UTC\"\n", "c").unwrap_err();
        assert!(e.to_string().contains("timezone"), "{e}");
        let e = Config::parse("[[window]]\ndaily = \"18:00-19:00\"\nweekly = \"sat 09:00-10:00\"\n", "c").unwrap_err();
        assert!(e.to_string().contains("window 1: give only one"), "{e}");
        let e = Config::parse("[[window]]\nzone = \"UTC\"\n", "c").unwrap_err();
        assert!(e.to_string().contains("window 1: give one of daily"), "{e}");
        let e = Config::parse("relay_quota = \"lots\"\n", "c").unwrap_err();
        assert!(e.to_string().contains("relay_quota"), "{e}");
        let e = Config::parse("[[peer]]\ncard = \"caravan1_nope\"\naddress = \"x:1\"\n", "c").unwrap_err();
        assert!(e.to_string().contains("peer 1: card"), "{e}");
        let e = Config::parse("time_scale = 0.0\n", "c").unwrap_err();
        assert!(e.to_string().contains("time_scale"), "{e}");
        let e = Config::parse("discovery_group = \"10.0.0.1:4434\"\n", "c").unwrap_err();
        assert!(e.to_string().contains("not a multicast address"), "{e}");
        let e = Config::parse("listen = \"everywhere\"\n", "c").unwrap_err();
        assert!(e.to_string().contains("listen"), "{e}");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("2MiB"), Ok(2 << 20));
        assert_eq!(parse_size("500 MB"), Ok(500_000_000));
        assert!(parse_size("5 parsecs").unwrap_err().contains("parsecs"));
        assert!(parse_size("99999999999TiB").is_err());
    }
}
