//! The daemon: a QUIC listener that syncs with whoever connects, a dialler that syncs
//! with the configured peers (and, with discovery on, with nodes heard on the LAN) while
//! a window is open (`spec/config.md`), and a status file for `caravan status`. I/O lives
//! here; what to send is still `Node::plan_export`, when to dial is `schedule::open`, and
//! what a beacon proves is `link::lan`.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::config::Config;
use crate::handle::Handle;
use crate::identity::{ContactCard, Identity, NodeId};
use crate::link::lan;
use crate::link::quic::{self, QuicError};
use crate::node::Node;
use crate::schedule;
use crate::status::{self, DaemonLine, Status, SyncLine};

mod discovery;
mod report;

use discovery::{beacon_loop, listen_loop};
use report::{record_sync, refresh_status, report};

pub use crate::limits::{
    BACKOFF_MAX, BACKOFF_MIN, EXCHANGES_MAX, HANDSHAKE_TIMEOUT, OPEN_WAIT, RESYNC_AFTER, SHUTDOWN_GRACE, STATUS_EVERY,
};

/// Why the daemon stopped or could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DaemonError {
    /// The node could not be opened or its store failed.
    #[error(transparent)]
    Node(#[from] crate::Error),
    /// The identity file could not be read.
    #[error(transparent)]
    Identity(#[from] crate::identity::IdentityError),
    /// TLS or QUIC setup failed.
    #[error(transparent)]
    Quic(#[from] QuicError),
    /// The dashboard could not start.
    #[error(transparent)]
    Dashboard(#[from] crate::dashboard::DashboardError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// What the daemon did, for logs and tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DaemonStats {
    /// Connections accepted and exchanged with.
    pub accepted: usize,
    /// Outbound connections made (successful handshakes).
    pub dialled: usize,
    /// Outbound attempts that failed.
    pub dial_failures: usize,
    /// Distinct nodes heard on the LAN.
    pub discovered: usize,
}

/// A node heard on the LAN.
struct Heard {
    card: ContactCard,
    addr: SocketAddr,
    sent_ms: u64,
    at: Instant,
}

/// What the daemon's tasks share (never held across an await).
#[derive(Default)]
struct Shared {
    stats: DaemonStats,
    connected: HashMap<NodeId, usize>,
    syncs: VecDeque<SyncLine>,
    discovered: HashMap<NodeId, Heard>,
    /// The node's part of the status, refreshed whenever the node is free.
    node_status: Option<Status>,
}

type SharedRef = Arc<std::sync::Mutex<Shared>>;

fn with<T>(shared: &SharedRef, f: impl FnOnce(&mut Shared) -> T) -> T {
    let mut guard = match shared.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    f(&mut guard)
}

/// The status file goes when the daemon does, however it stops.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Marks a peer connected for as long as it lives.
struct Connected(SharedRef, NodeId);

impl Connected {
    fn new(shared: &SharedRef, peer: NodeId) -> Self {
        with(shared, |s| *s.connected.entry(peer).or_default() += 1);
        Connected(shared.clone(), peer)
    }
}

impl Drop for Connected {
    fn drop(&mut self) {
        with(&self.0, |s| {
            if let Some(n) = s.connected.get_mut(&self.1) {
                *n -= 1;
                if *n == 0 {
                    s.connected.remove(&self.1);
                }
            }
        });
    }
}

/// Everything the tasks need.
struct Ctx {
    home: PathBuf,
    config: Config,
    identity: Arc<Identity>,
    /// Locked only for store work, never across a network wait: several exchanges run
    /// at once and a slow peer keeps no other out.
    node: Arc<Mutex<Node>>,
    /// The handle the node belongs to (its edits wake the dialler).
    handle: Handle,
    /// Nodes the operator configured as peers: they may relay for us.
    relays: std::collections::HashSet<NodeId>,
    /// Contacts and configured peers, whose LAN beacons are not held to the strangers'
    /// budget.
    known: std::collections::HashSet<NodeId>,
    shared: SharedRef,
    started_ms: u64,
    listen: SocketAddr,
}

/// Runs the daemon for the node in `home` until `shutdown` completes, then lets
/// in-flight exchanges finish for up to `SHUTDOWN_GRACE` and closes the endpoint.
pub async fn run(
    home: &Path,
    config: Config,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<DaemonStats, DaemonError> {
    run_with(home, config, None, shutdown).await
}

/// [`run`] for a node whose keys are sealed under `passphrase` (`Node::open_sealed`).
pub async fn run_with(
    home: &Path,
    config: Config,
    passphrase: Option<zeroize::Zeroizing<String>>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<DaemonStats, DaemonError> {
    let pass = passphrase.as_ref().map(|p| p.as_str());
    let identity = Identity::open(&home.join("identity.key"), pass)?.0;
    let started_ms = now_ms();
    // Announce this process first: from now on `caravan status` reads the report instead
    // of opening the store, so a command polling status cannot keep the daemon out.
    let early = Status {
        node: identity.node_id().to_string(),
        daemon: Some(DaemonLine {
            pid: std::process::id(),
            listen: config.listen.to_string(),
            started_unix_ms: started_ms,
            updated_unix_ms: started_ms,
            ..DaemonLine::default()
        }),
        ..Status::default()
    };
    let _ = status::write(home, &early);
    let _report = RemoveOnDrop(status::file(home));
    // A short command that started before may hold the store for a moment.
    let handle = Handle::open_with(home, crate::store::DAEMON_CACHE_BYTES, passphrase, OPEN_WAIT).await?;
    let live = serve(&handle, config).await?;
    shutdown.await;
    Ok(live.stop().await)
}

/// Live sync running on a [`Handle`]'s node ([`Handle::serve`]).
pub struct Live {
    listen: SocketAddr,
    dashboard: Option<(SocketAddr, tokio::task::AbortHandle)>,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<DaemonStats>,
}

impl Live {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listen
    }

    /// Where the dashboard is served, if it is.
    pub fn dashboard_addr(&self) -> Option<SocketAddr> {
        self.dashboard.as_ref().map(|d| d.0)
    }

    /// Stops: no new connections, in-flight exchanges finish for up to
    /// `SHUTDOWN_GRACE`, the endpoint closes. Returns what it did.
    pub async fn stop(self) -> DaemonStats {
        if let Some((_, task)) = &self.dashboard {
            task.abort();
        }
        let _ = self.stop.send(());
        self.task.await.unwrap_or_default()
    }
}

/// Starts live sync for `handle`'s node with `config`: binds the listen address (an
/// error here, before anything runs, names the address), then listens, dials and
/// discovers in the background, and keeps `status.json` in the node's home.
pub async fn serve(handle: &Handle, config: Config) -> Result<Live, DaemonError> {
    let started_ms = now_ms();
    let plan_config = config.clone();
    let (identity, relays, known) = handle
        .run(move |node| -> Result<_, crate::Error> {
            if let Some(q) = plan_config.relay_quota {
                node.set_relay_quota(q)?;
            }
            if let Some(b) = plan_config.follow_budget {
                node.set_follow_budget(b)?;
            }
            if let Some(cap) = plan_config.max_lifetime {
                node.set_lifetime_cap(cap)?;
            }
            if plan_config.member_bytes_per_day.is_some() || plan_config.member_bundles_per_day.is_some() {
                let mut limits = node.member_limits()?;
                limits.bytes_per_day = plan_config.member_bytes_per_day.unwrap_or(limits.bytes_per_day);
                limits.bundles_per_day = plan_config.member_bundles_per_day.unwrap_or(limits.bundles_per_day);
                node.set_member_limits(limits)?;
            }
            let relays: std::collections::HashSet<NodeId> = plan_config
                .peers
                .iter()
                .map(|p| p.card.node_id())
                .chain(plan_config.relays.iter().map(|c| c.node_id()))
                .collect();
            let mut known = relays.clone();
            known.extend(node.contacts()?.into_iter().map(|c| c.card.node_id()));
            let identity = node.identity();
            node.set_contact_plan(plan_config.contact_plan(identity.node_id()));
            Ok((identity, relays, known))
        })
        .await?;
    let endpoint = quinn::Endpoint::server(quic::server_config(&identity)?, config.listen)
        .map_err(|source| DaemonError::Listen { addr: config.listen, source })?;
    let listen = endpoint.local_addr().unwrap_or(config.listen);
    let ctx = Arc::new(Ctx {
        home: handle.home().to_path_buf(),
        config,
        identity,
        node: handle.node().clone(),
        handle: handle.clone(),
        relays,
        known,
        shared: SharedRef::default(),
        started_ms,
        listen,
    });
    let dashboard = match ctx.config.dashboard {
        None => None,
        Some(addr) => {
            let from = ctx.clone();
            let report: crate::dashboard::Report = Arc::new(move || report(&from));
            Some(crate::dashboard::serve(handle.clone(), addr, report).await?)
        }
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(drive(ctx, endpoint, async move {
        let _ = stopped.await;
    }));
    Ok(Live { listen, dashboard, stop, task })
}

/// The daemon's tasks, until `shutdown`.
async fn drive(
    ctx: Arc<Ctx>,
    endpoint: quinn::Endpoint,
    shutdown: impl std::future::Future<Output = ()>,
) -> DaemonStats {
    let _report = RemoveOnDrop(status::file(&ctx.home));
    refresh_status(&ctx).await;

    let accept = {
        let (endpoint, ctx) = (endpoint.clone(), ctx.clone());
        async move {
            let slots = Arc::new(tokio::sync::Semaphore::new(EXCHANGES_MAX));
            while let Some(incoming) = endpoint.accept().await {
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    tracing::debug!(
                        "refusing a connection from {}: {EXCHANGES_MAX} exchanges running",
                        incoming.remote_address()
                    );
                    incoming.refuse();
                    continue;
                };
                let ctx = ctx.clone();
                tokio::spawn(async move {
                    let _slot = slot;
                    let Ok(Ok(conn)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, incoming).await else { return };
                    let Some(peer) = quic::peer_node(&conn) else { return };
                    if ctx.handle.run(move |n| n.is_blocked(&peer)).await.unwrap_or(false) {
                        conn.close(2u32.into(), b"blocked");
                        return;
                    }
                    // One exchange per peer at a time: a second connection gets nothing.
                    if with(&ctx.shared, |s| s.connected.contains_key(&peer)) {
                        conn.close(1u32.into(), b"already syncing");
                        return;
                    }
                    let _live = Connected::new(&ctx.shared, peer);
                    let result = exchange_and_record(&ctx, &conn, peer).await;
                    conn.close(0u32.into(), b"done");
                    record_sync(&ctx, peer, "accepted", &result);
                    if result.is_ok() {
                        with(&ctx.shared, |s| s.stats.accepted += 1);
                    }
                    refresh_status(&ctx).await;
                });
            }
        }
    };

    let dial = {
        let (endpoint, ctx) = (endpoint.clone(), ctx.clone());
        async move {
            // Periods run on the daemon's clock too: a testnet at time_scale 60 resyncs
            // every half second.
            let scale = |d: Duration| d.div_f64(ctx.config.time_scale).max(Duration::from_millis(100));
            let (resync, backoff_min, backoff_max) = (scale(RESYNC_AFTER), scale(BACKOFF_MIN), scale(BACKOFF_MAX));
            let mut next_at: HashMap<NodeId, Instant> = HashMap::new();
            let mut backoff: HashMap<NodeId, Duration> = HashMap::new();
            // Each dial runs on its own task: one slow peer delays no other.
            let mut dialling: std::collections::HashSet<NodeId> = std::collections::HashSet::new();
            let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<(NodeId, bool)>();
            // The last edit made here, and when each peer's last dial began: a peer whose
            // last exchange began before the edit is dialled again now (an exchange under
            // way when the edit was made may not carry it).
            let mut edit_at: Option<Instant> = None;
            let mut started: HashMap<NodeId, Instant> = HashMap::new();
            loop {
                while let Ok((id, ok)) = done_rx.try_recv() {
                    dialling.remove(&id);
                    let b = backoff.entry(id).or_insert(backoff_min);
                    if ok {
                        *b = backoff_min;
                        next_at.insert(id, Instant::now() + resync);
                    } else {
                        next_at.insert(id, Instant::now() + *b);
                        *b = (*b * 2).min(backoff_max);
                    }
                    with(&ctx.shared, |s| if ok { s.stats.dialled += 1 } else { s.stats.dial_failures += 1 });
                }
                let now = schedule::scaled(ctx.started_ms, now_ms(), ctx.config.time_scale);
                if schedule::open(&ctx.config.windows, now) {
                    for (card, address) in dial_targets(&ctx) {
                        let id = card.node_id();
                        let edit_waits = edit_at.is_some_and(|e| started.get(&id).is_none_or(|s| *s < e));
                        if dialling.contains(&id)
                            || (next_at.get(&id).is_some_and(|t| Instant::now() < *t) && !edit_waits)
                            || with(&ctx.shared, |s| s.connected.contains_key(&id))
                        {
                            continue;
                        }
                        dialling.insert(id);
                        started.insert(id, Instant::now());
                        let (endpoint, ctx, done) = (endpoint.clone(), ctx.clone(), done_tx.clone());
                        tokio::spawn(async move {
                            let result = dial_once(&endpoint, &ctx, &card, &address).await;
                            if let Err(e) = &result {
                                tracing::warn!("dialling {} at {address}: {e}", card.name);
                            }
                            let _ = done.send((id, result.is_ok()));
                        });
                    }
                }
                // An edit made here goes out at once to whoever can be dialled now.
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                    _ = ctx.handle.edited() => edit_at = Some(Instant::now()),
                }
            }
        }
    };

    let status_loop = {
        let ctx = ctx.clone();
        async move {
            loop {
                tokio::time::sleep(STATUS_EVERY).await;
                refresh_status(&ctx).await;
            }
        }
    };

    let discovery = {
        let ctx = ctx.clone();
        async move {
            if !ctx.config.discovery {
                return std::future::pending::<()>().await;
            }
            let interface = match ctx.listen.ip() {
                IpAddr::V4(ip) if !ip.is_unspecified() => Some(ip),
                _ => None,
            };
            match lan::socket(ctx.config.discovery_group, interface) {
                Ok(socket) => {
                    tracing::info!("discovery: beacons on {}", ctx.config.discovery_group);
                    tokio::join!(beacon_loop(&ctx, &socket), listen_loop(&ctx, &socket));
                }
                Err(e) => {
                    tracing::warn!(
                        "discovery unavailable on {}: {e}; only configured peers are dialled",
                        ctx.config.discovery_group
                    );
                }
            }
            std::future::pending::<()>().await
        }
    };

    tokio::select! {
        _ = shutdown => {}
        _ = accept => {}
        _ = dial => {}
        _ = status_loop => {}
        _ = discovery => {}
    }
    // No new connections; let in-flight exchanges finish (they hold the node's lock).
    endpoint.set_server_config(None);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, ctx.node.lock()).await;
    endpoint.close(0u32.into(), b"shutting down");
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, endpoint.wait_idle()).await;
    with(&ctx.shared, |s| s.stats.clone())
}

/// Configured peers, then nodes heard on the LAN (each pair dialled from one side only:
/// the smaller node id dials).
fn dial_targets(ctx: &Ctx) -> Vec<(ContactCard, String)> {
    let mut out: Vec<(ContactCard, String)> =
        ctx.config.peers.iter().map(|p| (p.card.clone(), p.address.clone())).collect();
    let me = ctx.identity.node_id();
    with(&ctx.shared, |s| {
        s.discovered.retain(|_, h| h.at.elapsed() < lan::HEARD_TTL);
        for (id, h) in &s.discovered {
            if me < *id && !out.iter().any(|(c, _)| c.node_id() == *id) {
                out.push((h.card.clone(), h.addr.to_string()));
            }
        }
    });
    out
}

/// One exchange with a connected peer, within the whole-exchange deadline, then noted
/// for `caravan status`. A configured peer may relay for us; anyone else learns only
/// what concerns it.
async fn exchange_and_record(ctx: &Ctx, conn: &quinn::Connection, peer: NodeId) -> Result<quic::Exchange, QuicError> {
    let options = quic::LinkOptions { relay: ctx.relays.contains(&peer), ..quic::LinkOptions::default() };
    let deadline = ctx.config.exchange_timeout;
    let x = tokio::time::timeout(deadline, quic::exchange_shared(&ctx.node, conn, options))
        .await
        .map_err(|_| QuicError::Link(format!("the exchange took longer than {} s; stopped", deadline.as_secs())))??;
    ctx.node.lock().await.record_contact(&peer)?;
    Ok(x)
}

async fn dial_once(endpoint: &quinn::Endpoint, ctx: &Ctx, card: &ContactCard, address: &str) -> Result<(), QuicError> {
    let id = card.node_id();
    if ctx.handle.run(move |n| n.is_blocked(&id)).await.unwrap_or(false) {
        return Ok(()); // never dialled
    }
    let addr = tokio::net::lookup_host(address)
        .await
        .map_err(|e| QuicError::Link(format!("{address}: {e}")))?
        .next()
        .ok_or_else(|| QuicError::Link(format!("{address}: no address")))?;
    let config = quic::client_config(&ctx.identity, &card.signing_public)?;
    let conn = endpoint
        .connect_with(config, addr, "caravan")
        .map_err(|e| QuicError::Link(e.to_string()))?
        .await
        .map_err(|e| QuicError::Link(e.to_string()))?;
    let peer = card.node_id();
    if with(&ctx.shared, |s| s.connected.contains_key(&peer)) {
        conn.close(1u32.into(), b"already syncing");
        return Ok(());
    }
    let _live = Connected::new(&ctx.shared, peer);
    let result = exchange_and_record(ctx, &conn, peer).await;
    conn.close(0u32.into(), b"done");
    record_sync(ctx, peer, "dialled", &result);
    refresh_status(ctx).await;
    result.map(|_| ())
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
