//! The daemon: a QUIC listener that syncs with whoever connects, and a dialler that
//! syncs with the configured peers while a window is open (`spec/config.md`). I/O lives
//! here; what to send is still `Node::plan_export`, and when to dial is
//! `schedule::open`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;

use crate::config::Config;
use crate::identity::Identity;
use crate::link::quic::{self, QuicError};
use crate::node::Node;
use crate::schedule;

/// How long in-flight exchanges may take to finish after a shutdown request.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Dial backoff: first retry after this, doubling up to `BACKOFF_MAX`.
pub const BACKOFF_MIN: Duration = Duration::from_secs(1);
/// Longest wait between dial attempts to one peer.
pub const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// After a successful exchange, the next one with that peer (while the window lasts).
pub const RESYNC_AFTER: Duration = Duration::from_secs(30);

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
}

/// Runs the daemon for the node in `home` until `shutdown` completes, then lets
/// in-flight exchanges finish for up to `SHUTDOWN_GRACE` and closes the endpoint.
pub async fn run(
    home: &Path,
    config: Config,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<DaemonStats, DaemonError> {
    let identity = Identity::load_or_create(&home.join("identity.key"))?;
    let mut node = Node::open(home, "")?;
    if let Some(q) = config.relay_quota {
        node.set_relay_quota(q)?;
    }
    let node = Arc::new(Mutex::new(node));
    let endpoint = quinn::Endpoint::server(quic::server_config(&identity)?, config.listen)
        .map_err(|source| DaemonError::Listen { addr: config.listen, source })?;
    let stats = Arc::new(std::sync::Mutex::new(DaemonStats::default()));
    let origin = now_ms();

    let accept = {
        let (endpoint, node, stats) = (endpoint.clone(), node.clone(), stats.clone());
        async move {
            while let Some(incoming) = endpoint.accept().await {
                let (node, stats) = (node.clone(), stats.clone());
                tokio::spawn(async move {
                    let Ok(conn) = incoming.await else { return };
                    let mut guard = node.lock().await;
                    let result = quic::exchange(&mut guard, &conn).await;
                    match result {
                        Ok(x) => {
                            tracing::info!(peer = ?x.peer, sent = x.sent, "exchange (accepted)");
                            if let Some(p) = x.peer
                                && let Err(e) = guard.record_contact(&p)
                            {
                                tracing::warn!("recording the contact: {e}");
                            }
                            if let Ok(mut s) = stats.lock() {
                                s.accepted += 1;
                            }
                        }
                        Err(e) => tracing::warn!("exchange (accepted) failed: {e}"),
                    }
                    conn.close(0u32.into(), b"done");
                });
            }
        }
    };

    let dial = {
        let (endpoint, node, stats) = (endpoint.clone(), node.clone(), stats.clone());
        let config = config.clone();
        async move {
            let mut next_at: Vec<tokio::time::Instant> = vec![tokio::time::Instant::now(); config.peers.len()];
            let mut backoff: Vec<Duration> = vec![BACKOFF_MIN; config.peers.len()];
            loop {
                let now = schedule::scaled(origin, now_ms(), config.time_scale);
                if schedule::open(&config.windows, now) {
                    for (i, peer) in config.peers.iter().enumerate() {
                        if tokio::time::Instant::now() < next_at[i] {
                            continue;
                        }
                        match dial_once(&endpoint, &identity, peer, &node).await {
                            Ok(()) => {
                                backoff[i] = BACKOFF_MIN;
                                next_at[i] = tokio::time::Instant::now() + RESYNC_AFTER;
                                if let Ok(mut s) = stats.lock() {
                                    s.dialled += 1;
                                }
                            }
                            Err(e) => {
                                tracing::warn!("dialling {}: {e}", peer.address);
                                next_at[i] = tokio::time::Instant::now() + backoff[i];
                                backoff[i] = (backoff[i] * 2).min(BACKOFF_MAX);
                                if let Ok(mut s) = stats.lock() {
                                    s.dial_failures += 1;
                                }
                            }
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };

    tokio::select! {
        _ = shutdown => {}
        _ = accept => {}
        _ = dial => {}
    }
    // No new connections; let in-flight exchanges finish (they hold the node's lock).
    endpoint.set_server_config(None);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, node.lock()).await;
    endpoint.close(0u32.into(), b"shutting down");
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, endpoint.wait_idle()).await;
    let out = stats.lock().map(|s| s.clone()).unwrap_or_default();
    Ok(out)
}

async fn dial_once(
    endpoint: &quinn::Endpoint,
    identity: &Identity,
    peer: &crate::config::Peer,
    node: &Mutex<Node>,
) -> Result<(), QuicError> {
    let addr = tokio::net::lookup_host(&peer.address)
        .await
        .map_err(|e| QuicError::Link(format!("{}: {e}", peer.address)))?
        .next()
        .ok_or_else(|| QuicError::Link(format!("{}: no address", peer.address)))?;
    let config = quic::client_config(identity, &peer.card.signing_public)?;
    let conn = endpoint
        .connect_with(config, addr, "caravan")
        .map_err(|e| QuicError::Link(e.to_string()))?
        .await
        .map_err(|e| QuicError::Link(e.to_string()))?;
    let mut guard = node.lock().await;
    let result = quic::exchange(&mut guard, &conn).await;
    conn.close(0u32.into(), b"done");
    let x = result?;
    tracing::info!(peer = ?x.peer, sent = x.sent, "exchange (dialled)");
    if let Some(p) = x.peer {
        guard.record_contact(&p)?;
    }
    Ok(())
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
